/*
 * access.c - `sluice gen access`: web server access logs in the combined log
 * format with nginx's trailing $request_time, for pipelines/access-logs.yaml.
 *
 * Writes --out DIR/access-NNNNNN.log, --file-lines lines per file. The
 * model: requests arrive 0-199 ms apart (uniform) from --start on, each to
 * one of twelve routes (weights below); the request target carries a query
 * string on some routes (url_path() has to cut it). Status: 304 on 10 % of
 * GETs of static files, 404 at the route's rate, 5xx (500, 502, 503) at
 * the route's rate (checkout and search fail most), else 200 (201 for a
 * POST). Request time: log-normal around the route's median (0.2 %
 * outliers 20x slower), written with millisecond precision, "-" on 1 % of
 * lines, absent (no trailing field) on 1 %. The time zone of the time field
 * cycles through +0000, +0100, -0500 and +0530 by file, so readers must
 * apply the offset. With p = --malformed a line is garbage instead (a
 * truncated line, a non-numeric status, an impossible date): the pipeline
 * quarantines it. Deterministic: the bytes are a function of the arguments.
 */
#include <inttypes.h>
#include <math.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/timeutil.h"
#include "gen/gen.h"
#include "gen/landing.h"
#include "gen/opts.h"
#include "gen/rng.h"

typedef struct {
    int64_t lines;
    double rate_unused;
    uint64_t seed;
    const char *out;
    int64_t file_lines;
    int64_t start_ms;
    double malformed;
} access_opts;

#define OFF(f) offsetof(access_opts, f)
static const sl_gen_opt k_opts[] = {
    {"lines", SL_GOPT_I64, OFF(lines), 0, 1e12, "N", "write N lines (default 10000)"},
    {"seed", SL_GOPT_U64, OFF(seed), 0, 0, "N", "random seed (default 1)"},
    {"out", SL_GOPT_STR, OFF(out), 0, 0, "DIR", "output folder (required; created if missing)"},
    {"file-lines", SL_GOPT_I64, OFF(file_lines), 1, 1e9, "N", "lines per file (default 5000)"},
    {"start", SL_GOPT_TIME, OFF(start_ms), 0, 0, "ISO", "time of the first request"},
    {"malformed", SL_GOPT_DBL, OFF(malformed), 0, 1, "P",
     "probability of a malformed line (default 0.005)"},
};
#undef OFF

static const struct route {
    const char *method, *target;
    int weight;
    double median_s, p404, p5xx;
    bool is_static, query;
} routes[] = {
    {"GET", "/", 14, 0.004, 0.0, 0.001, false, false},
    {"GET", "/static/app.js", 12, 0.002, 0.0, 0.0, true, false},
    {"GET", "/static/style.css", 10, 0.002, 0.0, 0.0, true, false},
    {"GET", "/api/items", 16, 0.035, 0.0, 0.004, false, true},
    {"GET", "/api/items/detail", 10, 0.020, 0.05, 0.004, false, true},
    {"GET", "/search", 9, 0.120, 0.0, 0.03, false, true},
    {"POST", "/api/cart", 7, 0.045, 0.01, 0.006, false, false},
    {"POST", "/api/checkout", 4, 0.300, 0.0, 0.06, false, false},
    {"POST", "/login", 5, 0.080, 0.0, 0.002, false, false},
    {"GET", "/account", 5, 0.030, 0.02, 0.003, false, false},
    {"GET", "/favicon.ico", 6, 0.001, 0.3, 0.0, true, false},
    {"GET", "/healthz", 2, 0.0005, 0.0, 0.0, false, false},
};
#define NROUTES (sizeof routes / sizeof routes[0])

static const char *const agents[] = {
    "Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_1) AppleWebKit/605.1.15 Safari/605.1.15",
    "curl/8.4.0",
    "kube-probe/1.28",
    "Googlebot/2.1 (+http://www.google.com/bot.html)",
};
static const char *const words[] = {"shoes", "red+hat", "caf%C3%A9", "laptop", "gift"};
static const char *const mons[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                   "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
static const int zone_min[] = {0, 60, -300, 330};

/* Standard normal (Box-Muller, one of the pair). */
static double gauss(sl_rng *r) {
    double u = sl_rng_unit(r), v = sl_rng_unit(r);
    return sqrt(-2.0 * log(1.0 - u)) * cos(2.0 * M_PI * v);
}

static int clf_time(char *o, size_t cap, int64_t ms, int zmin) {
    int64_t secs = sl_floor_div(ms, 1000) + (int64_t)zmin * 60, y;
    int64_t days = sl_floor_div(secs, 86400), tod = secs - days * 86400;
    unsigned m, d;
    sl_civil_from_days(days, &y, &m, &d);
    int za = zmin < 0 ? -zmin : zmin;
    return snprintf(o, cap, "%02u/%s/%04" PRId64 ":%02d:%02d:%02d %c%02d%02d", d, mons[m - 1], y,
                    (int)(tod / 3600), (int)(tod / 60 % 60), (int)(tod % 60), zmin < 0 ? '-' : '+',
                    za / 60, za % 60);
}

int sl_gen_access_main(int argc, char **argv) {
    access_opts o = {.lines = 10000, .seed = 1, .file_lines = 5000, .malformed = 0.005};
    int64_t start_us;
    sl_time_parse_iso("2026-12-07T00:00:00Z", 20, &start_us);
    o.start_ms = start_us / 1000;
    int rc = sl_gen_parse_opts(argc, argv, "access",
                               "usage: sluice gen access --out DIR [--lines N] [options]\n"
                               "Combined-format access logs with a request time "
                               "(pipelines/access-logs.yaml).",
                               k_opts, sizeof k_opts / sizeof k_opts[0], &o, &o.out, &o.lines,
                               &o.rate_unused, &o.rate_unused);
    if (rc) return rc == 1 ? 0 : 2;
    sl_landing s;
    if (sl_landing_open(&s, o.out, ".", "access", "log", "gen access")) return 1;
    sl_rng r;
    sl_rng_init(&r, o.seed);
    int total_w = 0;
    for (size_t k = 0; k < NROUTES; k++)
        total_w += routes[k].weight;
    int64_t t = o.start_ms;
    char line[1024], ts[64];
    int64_t bad = 0;
    for (int64_t i = 0; i < o.lines; i++) {
        if (i > 0 && i % o.file_lines == 0 && sl_landing_rotate(&s)) goto fail;
        t += (int64_t)sl_rng_below(&r, 200);
        int zmin = zone_min[(i / o.file_lines) % 4];
        clf_time(ts, sizeof ts, t, zmin);
        int w = (int)sl_rng_below(&r, (uint64_t)total_w);
        size_t k = 0;
        while (w >= routes[k].weight)
            w -= routes[k++].weight;
        const struct route *rt = &routes[k];
        char target[128];
        if (rt->query && !strcmp(rt->target, "/search"))
            snprintf(target, sizeof target, "%s?q=%s&page=%d", rt->target,
                     words[sl_rng_below(&r, 5)], (int)sl_rng_below(&r, 4) + 1);
        else if (rt->query)
            snprintf(target, sizeof target, "%s?id=%d", rt->target, (int)sl_rng_below(&r, 5000));
        else
            snprintf(target, sizeof target, "%s", rt->target);
        int status;
        double u = sl_rng_unit(&r);
        if (u < rt->p5xx)
            status = 500 + 2 * (int)sl_rng_below(&r, 2) + (int)sl_rng_below(&r, 2);
        else if (u < rt->p5xx + rt->p404)
            status = 404;
        else if (rt->is_static && sl_rng_chance(&r, 0.10))
            status = 304;
        else
            status = strcmp(rt->method, "POST") ? 200 : 201;
        double rtime = rt->median_s * exp(0.5 * gauss(&r));
        if (sl_rng_chance(&r, 0.002)) rtime *= 20;
        int64_t rt_ms = (int64_t)llround(rtime * 1000);
        int64_t bytes = status == 304 ? 0 : 200 + (int64_t)sl_rng_below(&r, 20000);
        char ip[32];
        snprintf(ip, sizeof ip, "10.%d.%d.%d", (int)sl_rng_below(&r, 4), (int)sl_rng_below(&r, 256),
                 (int)sl_rng_below(&r, 254) + 1);
        const char *ua = agents[sl_rng_below(&r, 5)];
        double tail = sl_rng_unit(&r);
        char rts[32] = "";
        if (tail < 0.01)
            snprintf(rts, sizeof rts, " -");
        else if (tail >= 0.02)
            snprintf(rts, sizeof rts, " %" PRId64 ".%03" PRId64, rt_ms / 1000, rt_ms % 1000);
        const char *user = sl_rng_chance(&r, 0.05) ? "alice" : "-";
        const char *ref = sl_rng_chance(&r, 0.3) ? "https://shop.example.com/" : "-";
        int n = snprintf(line, sizeof line,
                         "%s - %s [%s] \"%s %s HTTP/1.1\" %d %" PRId64 " \"%s\" \"%s\"%s\n", ip,
                         user, ts, rt->method, target, status, bytes, ref, ua, rts);
        if (sl_rng_chance(&r, o.malformed)) {
            bad++;
            switch (sl_rng_below(&r, 3)) {
            case 0: /* cut short */
                n = n / 2;
                line[n++] = '\n';
                break;
            case 1: /* status is not a number */
                n = snprintf(line, sizeof line,
                             "%s - - [%s] \"GET / HTTP/1.1\" OK 12 \"-\" \"-\"\n", ip, ts);
                break;
            default: /* an impossible date */
                n = snprintf(line, sizeof line,
                             "%s - - [31/Feb/2026:00:00:00 +0000] \"GET / HTTP/1.1\" 200 12 \"-\" "
                             "\"-\" 0.001\n",
                             ip);
                break;
            }
        }
        if (sl_landing_write(&s, line, (size_t)n)) goto fail;
    }
    if (sl_landing_close(&s, 0)) return 1;
    fprintf(stderr,
            "gen access: %" PRId64 " lines (%" PRId64 " malformed) in %" PRId64 " files under %s\n",
            o.lines, bad, s.files, o.out);
    return 0;
fail:
    sl_landing_close(&s, 1);
    return 1;
}
