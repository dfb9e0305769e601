/*
 * top.c - `sluice top`: a live terminal view of a running instance, from
 * its /metrics.
 *
 * /metrics is rebuilt at every commit, so it always describes committed
 * state; counters only grow (a restart starts them again), so a rate is the
 * difference of two scrapes over the time between them, and a counter that
 * went back reads as 0 for one frame. The screen is the alternate screen
 * (the shell's contents come back on exit), redrawn whole each interval;
 * the terminal goes to non-canonical mode only to read `q` without Enter,
 * and is restored on every way out. --once prints one plain frame after two
 * scrapes, for scripts.
 */
#include <curl/curl.h>
#include <math.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "core/mem.h"
#include "core/timeutil.h"

#define TOP_MAX_ROWS 64

typedef struct scrape {
    sl_prom *m;
    int64_t mono_us, wall_us;
    char error[256]; /* why the scrape failed, "" if it did not */
} scrape;

typedef struct body {
    char *p;
    size_t n;
} body;

static size_t on_body(char *p, size_t size, size_t n, void *ud) {
    body *b = ud;
    size_t len = size * n;
    if (b->n + len > (16u << 20)) return 0; /* a /metrics page is a few kB */
    b->p = sl_xrealloc(b->p, b->n + len + 1);
    memcpy(b->p + b->n, p, len);
    b->n += len;
    b->p[b->n] = 0;
    return len;
}

static void do_scrape(CURL *c, const char *url, scrape *s) {
    body b = {0};
    s->error[0] = 0;
    s->m = NULL;
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
    CURLcode cc = curl_easy_perform(c);
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    s->mono_us = sl_monotonic_us();
    s->wall_us = sl_now_us();
    if (cc != CURLE_OK)
        snprintf(s->error, sizeof s->error, "%s", curl_easy_strerror(cc));
    else if (status != 200)
        snprintf(s->error, sizeof s->error, "HTTP %ld%s", status,
                 status == 401 ? " (set SLUICE_TOKEN or pass --token-file FILE)" : "");
    else
        s->m = sl_prom_parse(b.p ? b.p : "", b.n);
    free(b.p);
}

/* ---- formatting ---- */

static const char *fmt_rate(double v, char *buf, size_t cap) {
    if (isnan(v))
        snprintf(buf, cap, "-");
    else if (v >= 1e6)
        snprintf(buf, cap, "%.2fM/s", v / 1e6);
    else if (v >= 1e4)
        snprintf(buf, cap, "%.1fk/s", v / 1e3);
    else
        snprintf(buf, cap, "%.1f/s", v);
    return buf;
}

static const char *fmt_count(double v, char *buf, size_t cap) {
    if (isnan(v))
        snprintf(buf, cap, "-");
    else
        snprintf(buf, cap, "%.0f", v);
    return buf;
}

static const char *fmt_bytes(double v, char *buf, size_t cap) {
    if (isnan(v))
        snprintf(buf, cap, "-");
    else if (v >= 1 << 30)
        snprintf(buf, cap, "%.1f GB", v / (1 << 30));
    else if (v >= 1 << 20)
        snprintf(buf, cap, "%.1f MB", v / (1 << 20));
    else if (v >= 1 << 10)
        snprintf(buf, cap, "%.1f kB", v / (1 << 10));
    else
        snprintf(buf, cap, "%.0f B", v);
    return buf;
}

static const char *fmt_lag(double s, char *buf, size_t cap) {
    if (isnan(s)) {
        snprintf(buf, cap, "-");
        return buf;
    }
    if (s < 0) s = 0;
    if (s < 1)
        snprintf(buf, cap, "%.0fms", s * 1000);
    else if (s < 10)
        snprintf(buf, cap, "%.1fs", s);
    else /* whole seconds: 2m30s, 1h5m */
        sl_duration_format((int64_t)(s + 0.5) * SL_US_PER_SEC, buf, cap);
    return buf;
}

static double nz(double v) { return isnan(v) ? 0 : v; }

/* One frame from two scrapes into out (lines end in \n; the caller adds
 * the terminal control). */
static void render(const sl_top_opts *o, const scrape *a, const scrape *b, FILE *out) {
    char t[32], r1[32], r2[32], r3[32], r4[32], r5[32], r6[32];
    time_t now = (time_t)(b->wall_us / 1000000);
    struct tm tm;
    localtime_r(&now, &tm);
    strftime(t, sizeof t, "%H:%M:%S", &tm);
    fprintf(out, "sluice top - %s - %s - every %gs%s - %s\n", o->pipeline, o->url, o->interval_s,
            o->once ? "" : " - q quits", t);
    if (b->error[0] || !b->m) {
        fprintf(out, "\n  %s/metrics unreachable: %s\n", o->url, b->error);
        return;
    }
    if (!a->m) {
        fprintf(out, "\n  waiting for a second scrape...\n");
        return;
    }
    double dt = (double)(b->mono_us - a->mono_us) / 1e6;
    const sl_prom *x = a->m, *y = b->m;
    fprintf(out,
            "\nPIPELINE  in %s  quarantined %s  late %s  duplicates %s  dropped %s  commits %s\n",
            fmt_rate(sl_prom_rate(x, y, dt, "sluice_records_in_total", NULL, NULL), r1, sizeof r1),
            fmt_rate(sl_prom_rate(x, y, dt, "sluice_quarantined_total", NULL, NULL), r2, sizeof r2),
            fmt_rate(sl_prom_rate(x, y, dt, "sluice_late_total", NULL, NULL), r3, sizeof r3),
            fmt_rate(sl_prom_rate(x, y, dt, "sluice_duplicates_total", NULL, NULL), r4, sizeof r4),
            fmt_rate(sl_prom_rate(x, y, dt, "sluice_dropped_total", NULL, NULL), r5, sizeof r5),
            fmt_rate(sl_prom_rate(x, y, dt, "sluice_commits_total", NULL, NULL), r6, sizeof r6));
    double commit_s = sl_prom_get(y, "sluice_commit_duration_seconds", NULL, NULL);
    double last_commit = sl_prom_get(y, "sluice_last_commit_timestamp_seconds", NULL, NULL);
    double cpu = sl_prom_rate(x, y, dt, "sluice_process_cpu_seconds_total", NULL, NULL);
    snprintf(r6, sizeof r6, "%.0f%%", nz(cpu) * 100);
    fprintf(
        out,
        "          commit %.1f ms (%s ago)  watermark lag %s  files waiting %s (%s)  peak memory "
        "%s  cpu %s\n",
        nz(commit_s) * 1000,
        fmt_lag(last_commit > 0 ? (double)b->wall_us / 1e6 - last_commit : NAN, r1, sizeof r1),
        fmt_lag(sl_prom_get(y, "sluice_watermark_lag_seconds", NULL, NULL), r2, sizeof r2),
        fmt_count(sl_prom_get(y, "sluice_source_files_waiting", NULL, NULL), r3, sizeof r3),
        fmt_bytes(sl_prom_get(y, "sluice_source_bytes_waiting", NULL, NULL), r4, sizeof r4),
        fmt_bytes(sl_prom_get(y, "sluice_process_max_resident_memory_bytes", NULL, NULL), r5,
                  sizeof r5),
        r6);

    /* sources: every source any per-source series names */
    const char *src[TOP_MAX_ROWS];
    int ns = 0;
    static const char *const src_series[] = {
        "sluice_source_records_total", "sluice_source_partition_position",
        "sluice_kafka_consumer_lag", "sluice_source_files_waiting_by_source",
        "sluice_source_dropped_total"};
    for (size_t k = 0; k < sizeof src_series / sizeof *src_series; k++) {
        const char *got[TOP_MAX_ROWS];
        int n = sl_prom_labels(y, src_series[k], "source", got, TOP_MAX_ROWS);
        for (int i = 0; i < n && ns < TOP_MAX_ROWS; i++) {
            bool seen = false;
            for (int j = 0; j < ns && !seen; j++)
                seen = !strcmp(src[j], got[i]);
            if (!seen) src[ns++] = got[i];
        }
    }
    fprintf(out, "\n%-24s %12s %14s %14s %13s %14s %11s\n", "SOURCE", "RECORDS/S", "RECORDS",
            "POSITION/S", "CONSUMER LAG", "FILES WAITING", "DROPPED/S");
    for (int i = 0; i < ns; i++) {
        const char *sn = src[i];
        fmt_rate(sl_prom_rate(x, y, dt, "sluice_source_records_total", "source", sn), r1, 32);
        fmt_count(sl_prom_get(y, "sluice_source_records_total", "source", sn), r2, 32);
        fmt_rate(sl_prom_rate(x, y, dt, "sluice_source_partition_position", "source", sn), r3, 32);
        fmt_count(sl_prom_get(y, "sluice_kafka_consumer_lag", "source", sn), r4, 32);
        fmt_count(sl_prom_get(y, "sluice_source_files_waiting_by_source", "source", sn), r5, 32);
        fmt_rate(sl_prom_rate(x, y, dt, "sluice_source_dropped_total", "source", sn), r6, 32);
        fprintf(out, "%-24.24s %12s %14s %14s %13s %14s %11s\n", sn, r1, r2, r3, r4, r5, r6);
    }

    const char *tab[TOP_MAX_ROWS];
    int nt = sl_prom_labels(y, "sluice_table_rows_in_total", "table", tab, TOP_MAX_ROWS);
    fprintf(out, "\n%-24s %12s %12s %12s %12s %14s %14s %14s\n", "TABLE", "ROWS IN/S", "ROWS OUT/S",
            "QUARANT./S", "LATE/S", "ROWS IN", "ROWS OUT", "WATERMARK LAG");
    for (int i = 0; i < nt; i++) {
        double wm = sl_prom_get(y, "sluice_table_watermark_seconds", "table", tab[i]);
        char q[32], l[32];
        fmt_rate(sl_prom_rate(x, y, dt, "sluice_table_quarantined_total", "table", tab[i]), q,
                 sizeof q);
        fmt_rate(sl_prom_rate(x, y, dt, "sluice_table_late_total", "table", tab[i]), l, sizeof l);
        fprintf(
            out, "%-24.24s %12s %12s %12s %12s %14s %14s %14s\n", tab[i],
            fmt_rate(sl_prom_rate(x, y, dt, "sluice_table_rows_in_total", "table", tab[i]), r1,
                     sizeof r1),
            fmt_rate(sl_prom_rate(x, y, dt, "sluice_table_rows_out_total", "table", tab[i]), r2,
                     sizeof r2),
            q, l,
            fmt_count(sl_prom_get(y, "sluice_table_rows_in_total", "table", tab[i]), r3, sizeof r3),
            fmt_count(sl_prom_get(y, "sluice_table_rows_out_total", "table", tab[i]), r4,
                      sizeof r4),
            fmt_lag(isnan(wm) ? NAN : (double)b->wall_us / 1e6 - wm, r5, sizeof r5));
    }
}

/* ---- the terminal ---- */

static struct termios saved;
static bool raw_on;

static void term_restore(FILE *out) {
    if (raw_on) tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved);
    raw_on = false;
    fputs("\033[?25h\033[?1049l", out); /* cursor back, leave the alternate screen */
    fflush(out);
}

static void term_enter(FILE *out) {
    if (isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &saved) == 0) {
        struct termios t = saved;
        t.c_lflag &= ~(tcflag_t)(ICANON | ECHO);
        t.c_cc[VMIN] = 0;
        t.c_cc[VTIME] = 0;
        raw_on = tcsetattr(STDIN_FILENO, TCSANOW, &t) == 0;
    }
    fputs("\033[?1049h\033[?25l", out);
    fflush(out);
}

/* Waits up to ms for `q` (true) or the stop flag; other keys are ignored. */
static bool wait_key(int64_t ms, volatile sig_atomic_t *stop) {
    int64_t end = sl_monotonic_us() + ms * 1000;
    while (!(stop && *stop)) {
        int64_t left = (end - sl_monotonic_us()) / 1000;
        if (left <= 0) return false;
        struct pollfd p = {STDIN_FILENO, POLLIN, 0};
        int r = poll(&p, 1, (int)(left < 100 ? left : 100));
        if (r > 0 && (p.revents & POLLIN)) {
            char c;
            ssize_t k = read(STDIN_FILENO, &c, 1);
            if (k == 1 && (c == 'q' || c == 'Q')) return true;
            if (k == 0) { /* stdin closed: only the timer and signals remain */
                struct timespec ts = {0, 100000000L};
                nanosleep(&ts, NULL);
            }
        } else if (r > 0) {
            struct timespec ts = {0, 100000000L};
            nanosleep(&ts, NULL);
        }
    }
    return true;
}

static void sleep_stop(double s, volatile sig_atomic_t *stop) {
    int64_t end = sl_monotonic_us() + (int64_t)(s * 1e6);
    while (!(stop && *stop) && sl_monotonic_us() < end) {
        struct timespec ts = {0, 50000000L};
        nanosleep(&ts, NULL);
    }
}

int sl_top_run(const sl_top_opts *o, sl_error *err) {
    size_t ul = strlen(o->url);
    while (ul && o->url[ul - 1] == '/')
        ul--;
    char *url = sl_xmalloc(ul + 16);
    snprintf(url, ul + 16, "%.*s/metrics", (int)ul, o->url);
    CURL *c = curl_easy_init();
    if (!c) {
        free(url);
        return sl_error_set(err, SL_ENOMEM, "curl: cannot start");
    }
    struct curl_slist *hdr = NULL;
    if (o->token) {
        size_t tl = strlen(o->token) + 32;
        char *a = sl_xmalloc(tl);
        snprintf(a, tl, "Authorization: Bearer %s", o->token);
        hdr = curl_slist_append(hdr, a);
        explicit_bzero(a, tl);
        free(a);
    }
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdr);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, 3000L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 10000L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    int rc = 0;
    scrape a = {0}, b = {0};
    if (o->once) {
        do_scrape(c, url, &a);
        if (!a.error[0]) {
            sleep_stop(o->interval_s, o->stop);
            do_scrape(c, url, &b);
        }
        const char *e = a.error[0] ? a.error : b.error;
        if (e[0])
            rc = sl_error_set(err, SL_EIO, "%s: %s", url, e);
        else
            render(o, &a, &b, o->out);
        fflush(o->out);
    } else {
        term_enter(o->out);
        do_scrape(c, url, &a);
        scrape none = {0};
        /* the first frame at once: totals and "waiting"; rates from the next */
        fputs("\033[H\033[2J", o->out);
        render(o, &none, &a, o->out);
        fflush(o->out);
        while (!wait_key((int64_t)(o->interval_s * 1000), o->stop)) {
            do_scrape(c, url, &b);
            fputs("\033[H\033[2J", o->out);
            render(o, &a, &b, o->out);
            fflush(o->out);
            if (b.m) { /* an unreachable scrape keeps the last good one to rate against */
                sl_prom_free(a.m);
                a = b;
                b.m = NULL;
            }
        }
        term_restore(o->out);
    }
    sl_prom_free(a.m);
    sl_prom_free(b.m);
    curl_slist_free_all(hdr);
    curl_easy_cleanup(c);
    free(url);
    return rc;
}
