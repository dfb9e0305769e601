/*
 * cloud.c - `sluice gen cloud`: a cloud provider's master data and usage
 * events (seed 004, cloud flavor).
 *
 * Writes, under --out DIR:
 *   master/customers_orgs.csv      org_id,org_name,industry,region,signup_date
 *   master/org_plan_changes.csv    org_id,plan_tier,changed_at (2-5 per org, by org then
 *                                  time; the first at signup, each a different tier)
 *   master/users.csv               user_id,org_id,email,role,created_at
 *   master/resources.csv           resource_id,org_id,service,region,created_at
 *   master/support_tickets.csv     ticket_id,org_id,created_at,resolved_at,severity,
 *                                  sla_hours,csat (by created_at; open tickets have no
 *                                  resolved_at, unrated ones no csat)
 *   master/billing_monthly.csv     org_id,month,invoice_usd
 *   master/nps_surveys.csv         survey_id,org_id,survey_date,nps_score
 *   master/marketing_touches.csv   touch_id,org_id,channel,campaign,touched_at
 *   usage/usage-NNNNNN.jsonl       usage events, one per line
 *
 * Usage events: {"event_id","timestamp","resource_id","region","metric",
 * "value" (v1) | "quantity" (v2), "unit","cost_usd_increment","schema_version"}
 * and, in schema version 2 only, "genai_tokens" and "carbon_kg". Versions are
 * interleaved; the share of v2 grows from 0 to 1 over the days. Timestamps
 * strictly increase over --days days from --start (default 2024-01-01, so the
 * span crosses two month ends and the leap day 2024-02-29). A resource's
 * quantity is its size (1, 2 or 4 units) with 10 % noise, priced per service;
 * with p = --spikes the cost is 20-50 times that. Defects, per event: with
 * p = --invalid one of a cost increment below -0.01, a resource_id that does
 * not exist, schema_version 3, or a truncated JSON line; with p = --late its
 * time is moved 20-120 minutes back (beyond the pipeline's 10-minute
 * watermark); with p = --duplicates a valid event is sent again
 * on the next line (the same line: a redelivery). The output is a function of the
 * arguments (xoshiro256**, rng.h).
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/mem.h"
#include "core/timeutil.h"
#include "gen/gen.h"
#include "gen/landing.h"
#include "gen/opts.h"
#include "gen/rng.h"

typedef struct {
    int64_t events;
    double rate;
    uint64_t seed;
    const char *out;
    int64_t orgs, days, file_events, start_ms;
    double invalid, late, duplicates, spikes;
} cloud_opts;

#define OFF(f) offsetof(cloud_opts, f)
static const sl_gen_opt k_opts[] = {
    {"events", SL_GOPT_I64, OFF(events), 0, 1e12, "N", "usage events to write (20000)"},
    {"seed", SL_GOPT_U64, OFF(seed), 0, 0, "N", "random seed (default 1)"},
    {"out", SL_GOPT_STR, OFF(out), 0, 0, "DIR", "output folder (required; created if missing)"},
    {"orgs", SL_GOPT_I64, OFF(orgs), 1, 1000000, "N", "customer organisations (150)"},
    {"days", SL_GOPT_I64, OFF(days), 1, 3650, "N", "days the usage spans (61)"},
    {"start", SL_GOPT_TIME, OFF(start_ms), 0, 0, "TIME",
     "first day (ISO 8601 or epoch ms; default 2024-01-01T00:00:00Z)"},
    {"file-events", SL_GOPT_I64, OFF(file_events), 1, 1e9, "N",
     "publish a usage file every N lines (1000)"},
    {"invalid", SL_GOPT_DBL, OFF(invalid), 0, 1, "P",
     "share of invalid events: negative cost, unknown resource, unknown schema_version, "
     "malformed JSON (0.01)"},
    {"late", SL_GOPT_DBL, OFF(late), 0, 1, "P", "share of events 20-120 minutes late (0.005)"},
    {"duplicates", SL_GOPT_DBL, OFF(duplicates), 0, 1, "P",
     "share of events delivered twice (0.02)"},
    {"spikes", SL_GOPT_DBL, OFF(spikes), 0, 1, "P", "share of events costing 20-50x (0.003)"},
};
#define N_OPTS (sizeof k_opts / sizeof k_opts[0])

#define MIN_MS 60000LL
#define HOUR_MS (60 * MIN_MS)
#define DAY_MS (24 * HOUR_MS)
#define DUP_SLOTS 16

static const char *const k_services[] = {"compute", "storage", "database",
                                         "network", "genai",   "analytics"};
static const char *const k_metrics[] = {"cpu_hours", "gb_hours",  "query_units",
                                        "gb_egress", "gpu_hours", "slot_hours"};
static const char *const k_units[] = {"hour", "gb", "unit", "gb", "hour", "hour"};
static const double k_price[] = {0.048, 0.0021, 0.11, 0.09, 1.35, 0.26};
static const char *const k_regions[] = {"us-east-1", "us-west-2", "eu-west-1", "eu-central-1",
                                        "ap-southeast-1"};
static const char *const k_industries[] = {"retail", "fintech",   "health",   "media",
                                           "gaming", "logistics", "education"};
static const char *const k_tiers[] = {"free", "starter", "pro", "enterprise"};
static const char *const k_sev[] = {"low", "medium", "high", "critical"};
static const int k_sla[] = {72, 24, 8, 4};
static const char *const k_roles[] = {"admin", "developer", "analyst", "billing"};
static const char *const k_channels[] = {"email", "webinar", "ads", "event", "partner"};

typedef struct {
    char *p;
    size_t n, cap;
} buf;

static void bprintf(buf *b, const char *fmt, ...) {
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int k = vsnprintf(b->p ? b->p + b->n : NULL, b->p ? b->cap - b->n : 0, fmt, ap);
        va_end(ap);
        if (b->p && (size_t)k < b->cap - b->n) {
            b->n += (size_t)k;
            return;
        }
        b->cap = b->cap ? b->cap * 2 + (size_t)k : 4096 + (size_t)k;
        b->p = sl_xrealloc(b->p, b->cap);
    }
}

typedef struct {
    int org, service, region;
    double size;
} resource;

typedef struct {
    char line[512];
    int n, countdown;
} held_dup;

typedef struct {
    cloud_opts o;
    sl_rng rng;
    resource *res;
    int64_t n_res;
    sl_landing usage;
    int64_t line_no, t_ms, step_ms;
    held_dup dup[DUP_SLOTS];
    int64_t n_valid, n_invalid, n_late, n_dups, n_spikes, n_v2;
} cloud_gen;

static void ts_text(char *b, size_t cap, int64_t ms) {
    time_t s = (time_t)sl_floor_div(ms, 1000);
    struct tm tm;
    gmtime_r(&s, &tm);
    snprintf(b, cap, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(ms - (int64_t)s * 1000));
}

static void date_text(char *b, size_t cap, int64_t ms) {
    time_t s = (time_t)sl_floor_div(ms, 1000);
    struct tm tm;
    gmtime_r(&s, &tm);
    snprintf(b, cap, "%04d-%02d-%02d", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday);
}

static double normal(sl_rng *r) {
    double u = sl_rng_unit(r), v = sl_rng_unit(r);
    if (u < 1e-300) u = 1e-300;
    return sqrt(-2.0 * log(u)) * cos(2.0 * M_PI * v);
}

#define PICK(r, a) (a[sl_rng_below(r, sizeof a / sizeof a[0])])

/* The master CSVs; resources are kept for the events. */
static int write_master(cloud_gen *g) {
    char dir[4096], a[40], b[40];
    snprintf(dir, sizeof dir, "%s/master", g->o.out);
    if (sl_gen_mkdir_p(dir)) {
        fprintf(stderr, "gen cloud: cannot create folder %s: %s\n", dir, strerror(errno));
        return -1;
    }
    sl_rng *r = &g->rng;
    int64_t O = g->o.orgs, t0 = g->o.start_ms, span = g->o.days * DAY_MS;
    buf orgs = {0}, plans = {0}, users = {0}, res = {0}, tick = {0}, bill = {0}, nps = {0},
        mkt = {0};
    bprintf(&orgs, "org_id,org_name,industry,region,signup_date\n");
    bprintf(&plans, "org_id,plan_tier,changed_at\n");
    bprintf(&users, "user_id,org_id,email,role,created_at\n");
    bprintf(&res, "resource_id,org_id,service,region,created_at\n");
    bprintf(&bill, "org_id,month,invoice_usd\n");
    bprintf(&nps, "survey_id,org_id,survey_date,nps_score\n");
    bprintf(&mkt, "touch_id,org_id,channel,campaign,touched_at\n");
    g->n_res = 0;
    g->res = NULL;
    int64_t cap = 0, nu = 0, nt = 0;
    for (int64_t k = 1; k <= O; k++) {
        int64_t signup = t0 - (int64_t)sl_rng_range(r, 30, 900) * DAY_MS +
                         (int64_t)sl_rng_below(r, (uint64_t)DAY_MS);
        int region = (int)sl_rng_below(r, 5);
        date_text(a, sizeof a, signup);
        bprintf(&orgs, "org_%" PRId64 ",%s %s %" PRId64 ",%s,%s,%s\n", k, PICK(r, k_industries),
                k % 3 ? "Labs" : "Corp", k, PICK(r, k_industries), k_regions[region], a);
        /* plan history: at signup, then 1-4 changes inside the usage span (a
         * different tier each time, so every row opens a version) */
        int tier = (int)sl_rng_below(r, 4), changes = 1 + (int)sl_rng_below(r, 4);
        ts_text(a, sizeof a, signup);
        bprintf(&plans, "org_%" PRId64 ",%s,%s\n", k, k_tiers[tier], a);
        int64_t tc = t0;
        for (int c = 0; c < changes; c++) {
            tc += (int64_t)sl_rng_below(r, (uint64_t)(span / changes)) + MIN_MS;
            if (tc >= t0 + span) break;
            tier = (tier + 1 + (int)sl_rng_below(r, 3)) % 4;
            ts_text(a, sizeof a, tc);
            bprintf(&plans, "org_%" PRId64 ",%s,%s\n", k, k_tiers[tier], a);
        }
        for (int u = 0, nus = 1 + (int)sl_rng_below(r, 4); u < nus; u++) {
            ts_text(a, sizeof a, signup + (int64_t)u * DAY_MS);
            nu++;
            bprintf(&users,
                    "u_%06" PRId64 ",org_%" PRId64 ",user%" PRId64 "@org%" PRId64
                    ".example.com,%s,%s\n",
                    nu, k, nu, k, PICK(r, k_roles), a);
        }
        for (int q = 0, nr = 4 + (int)sl_rng_below(r, 9); q < nr; q++) {
            if (g->n_res == cap) {
                cap = cap ? cap * 2 : 1024;
                g->res = sl_xrealloc(g->res, (size_t)cap * sizeof *g->res);
            }
            resource *x = &g->res[g->n_res++];
            x->org = (int)k;
            x->service = (int)sl_rng_below(r, 6);
            x->region = sl_rng_chance(r, 0.8) ? region : (int)sl_rng_below(r, 5);
            x->size = (double)(1 << sl_rng_below(r, 3));
            ts_text(a, sizeof a, signup + (int64_t)sl_rng_below(r, 20) * DAY_MS);
            bprintf(&res, "res_%06" PRId64 ",org_%" PRId64 ",%s,%s,%s\n", g->n_res, k,
                    k_services[x->service], k_regions[x->region], a);
        }
        for (int64_t m = 0; m < (span + 31 * DAY_MS - 1) / (31 * DAY_MS) + 1; m++) {
            time_t s = (time_t)(t0 / 1000);
            struct tm tm;
            gmtime_r(&s, &tm);
            int mon = tm.tm_mon + (int)m, yr = tm.tm_year + 1900 + mon / 12;
            bprintf(&bill, "org_%" PRId64 ",%04d-%02d,%.2f\n", k, yr, mon % 12 + 1,
                    50.0 + 400.0 * sl_rng_unit(r));
        }
        if (sl_rng_chance(r, 0.6)) {
            date_text(a, sizeof a, t0 + (int64_t)sl_rng_below(r, (uint64_t)span));
            bprintf(&nps, "nps_%06" PRId64 ",org_%" PRId64 ",%s,%d\n", k, k, a,
                    (int)sl_rng_below(r, 11));
        }
        for (int q = 0, nm = (int)sl_rng_below(r, 3); q < nm; q++) {
            ts_text(a, sizeof a, t0 + (int64_t)sl_rng_below(r, (uint64_t)span));
            bprintf(&mkt, "mt_%06" PRId64 "_%d,org_%" PRId64 ",%s,q%d-campaign,%s\n", k, q, k,
                    PICK(r, k_channels), 1 + (int)sl_rng_below(r, 4), a);
        }
    }
    /* tickets: in created_at order, spread evenly over the span */
    bprintf(&tick, "ticket_id,org_id,created_at,resolved_at,severity,sla_hours,csat\n");
    int64_t n_tickets = O * g->o.days / 4 + 1, tt = t0;
    for (int64_t i = 0; i < n_tickets; i++) {
        tt += 1 + (int64_t)sl_rng_below(r, (uint64_t)(2 * span / n_tickets));
        if (tt >= t0 + span) break;
        int sev = (int)sl_rng_below(r, 4);
        int64_t org = 1 + (int64_t)sl_rng_below(r, (uint64_t)O);
        ts_text(a, sizeof a, tt);
        b[0] = 0;
        bool open = sl_rng_chance(r, 0.08);
        if (!open) {
            /* resolution time around the SLA: about a fifth breach it */
            double h = k_sla[sev] * (0.2 + 1.0 * sl_rng_unit(r));
            ts_text(b, sizeof b, tt + (int64_t)(h * HOUR_MS));
        }
        char csat[8] = "";
        if (!open && sl_rng_chance(r, 0.7))
            snprintf(csat, sizeof csat, "%d", 1 + (int)sl_rng_below(r, 5));
        nt++;
        bprintf(&tick, "t_%07" PRId64 ",org_%" PRId64 ",%s,%s,%s,%d,%s\n", nt, org, a, b,
                k_sev[sev], k_sla[sev], csat);
    }
    int rc = 0;
    const struct {
        const char *name;
        buf *b;
    } files[] = {{"customers_orgs.csv", &orgs},  {"org_plan_changes.csv", &plans},
                 {"users.csv", &users},          {"resources.csv", &res},
                 {"support_tickets.csv", &tick}, {"billing_monthly.csv", &bill},
                 {"nps_surveys.csv", &nps},      {"marketing_touches.csv", &mkt}};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        if (!rc && sl_landing_write_file(dir, files[i].name, files[i].b->p, files[i].b->n, "cloud"))
            rc = -1;
        free(files[i].b->p);
    }
    return rc;
}

static int write_line(cloud_gen *g, const char *line, int n) {
    g->line_no++;
    return sl_landing_write(&g->usage, line, (size_t)n);
}

static int emit_event(cloud_gen *g) {
    for (int i = 0; i < DUP_SLOTS; i++)
        if (g->dup[i].n && --g->dup[i].countdown <= 0) {
            int n = g->dup[i].n;
            g->dup[i].n = 0;
            g->n_dups++;
            return write_line(g, g->dup[i].line, n);
        }
    sl_rng *r = &g->rng;
    /* strictly increasing times, on average step_ms apart */
    g->t_ms += 1 + (int64_t)sl_rng_below(r, (uint64_t)(2 * g->step_ms));
    int64_t seq = g->n_valid + g->n_invalid + g->n_late + 1;
    int64_t ri = (int64_t)sl_rng_below(r, (uint64_t)g->n_res);
    const resource *x = &g->res[ri];
    double progress = (double)(g->t_ms - g->o.start_ms) / (double)(g->o.days * DAY_MS);
    int v2 = sl_rng_chance(r, progress);
    double q = x->size * (1.0 + 0.1 * normal(r));
    if (q < 0.01) q = 0.01;
    double cost = q * k_price[x->service] * 10.0;
    if (sl_rng_chance(r, g->o.spikes)) {
        cost *= 20.0 + 30.0 * sl_rng_unit(r);
        g->n_spikes++;
    }
    int schema = v2 ? 2 : 1;
    char rid[32];
    snprintf(rid, sizeof rid, "res_%06" PRId64, ri + 1);
    int64_t t = g->t_ms;
    int kind = -1; /* invalid kind */
    if (sl_rng_chance(r, g->o.invalid)) {
        kind = (int)sl_rng_below(r, 4);
        if (kind == 0) cost = -(0.02 + 5.0 * sl_rng_unit(r));
        if (kind == 1)
            snprintf(rid, sizeof rid, "res_9%06" PRId64, (int64_t)sl_rng_below(r, 1000000));
        if (kind == 2) schema = 3;
    }
    bool late = kind < 0 && sl_rng_chance(r, g->o.late);
    if (late) t -= sl_rng_range(r, 20 * MIN_MS, 120 * MIN_MS);
    char ts[40], line[512];
    ts_text(ts, sizeof ts, t);
    int n;
    if (schema == 1)
        n = snprintf(line, sizeof line,
                     "{\"event_id\":\"evt_%09" PRId64
                     "\",\"timestamp\":\"%s\",\"resource_id\":\"%s\","
                     "\"region\":\"%s\",\"metric\":\"%s\",\"value\":%.4f,\"unit\":\"%s\","
                     "\"cost_usd_increment\":%.6f,\"schema_version\":1}\n",
                     seq, ts, rid, k_regions[x->region], k_metrics[x->service], q,
                     k_units[x->service], cost);
    else {
        int64_t tokens = x->service == 4 ? (int64_t)llround(q * 25000.0) : 0;
        n = snprintf(line, sizeof line,
                     "{\"event_id\":\"evt_%09" PRId64
                     "\",\"timestamp\":\"%s\",\"resource_id\":\"%s\","
                     "\"region\":\"%s\",\"metric\":\"%s\",\"quantity\":%.4f,\"unit\":\"%s\","
                     "\"cost_usd_increment\":%.6f,\"schema_version\":%d,\"genai_tokens\":%" PRId64
                     ",\"carbon_kg\":%.6f}\n",
                     seq, ts, rid, k_regions[x->region], k_metrics[x->service], q,
                     k_units[x->service], cost, schema, tokens, q * 0.0004 * (1 + x->service));
        g->n_v2++;
    }
    if (kind == 3) {
        n = n / 2; /* cut in the middle: not a JSON object */
        line[n++] = '\n';
    }
    if (kind >= 0)
        g->n_invalid++;
    else if (late)
        g->n_late++;
    else {
        g->n_valid++;
        if (sl_rng_chance(r, g->o.duplicates))
            for (int i = 0; i < DUP_SLOTS; i++)
                if (!g->dup[i].n) {
                    memcpy(g->dup[i].line, line, (size_t)n);
                    g->dup[i].n = n;
                    g->dup[i].countdown = 1; /* the next line: within the watermark */
                    break;
                }
    }
    return write_line(g, line, n);
}

static int emit_cb(void *g) { return emit_event(g); }
static int rotate_cb(void *g) { return sl_landing_rotate(&((cloud_gen *)g)->usage); }

int sl_gen_cloud_main(int argc, char **argv) {
    cloud_gen g;
    memset(&g, 0, sizeof g);
    g.o = (cloud_opts){.events = 20000,
                       .seed = 1,
                       .orgs = 150,
                       .days = 61,
                       .file_events = 1000,
                       .start_ms = 1704067200000LL, /* 2024-01-01T00:00:00Z */
                       .invalid = 0.01,
                       .late = 0.005,
                       .duplicates = 0.02,
                       .spikes = 0.003};
    int rc = sl_gen_parse_opts(argc, argv, "cloud",
                               "usage: sluice gen cloud --out DIR [--events N] [options]\n\n"
                               "Writes DIR/master/*.csv (organisations, plan changes, users, "
                               "resources, tickets, invoices,\nNPS, marketing) and "
                               "DIR/usage/*.jsonl (usage events, schema versions 1 and 2).\n",
                               k_opts, N_OPTS, &g.o, &g.o.out, &g.o.events, &g.o.rate, NULL);
    if (rc) return rc == 1 ? 0 : 2;
    int64_t began = sl_monotonic_us();
    rc = 1;
    sl_rng_init(&g.rng, g.o.seed);
    g.t_ms = g.o.start_ms;
    int64_t n = g.o.events > 0 ? g.o.events : 1;
    /* duplicate lines take no time: the last event lands near the end of the span */
    g.step_ms = (int64_t)((double)(g.o.days * DAY_MS) / (double)n * (1.0 + g.o.duplicates) * 0.99);
    if (g.step_ms < 1) g.step_ms = 1;
    if (sl_gen_mkdir_p(g.o.out)) {
        fprintf(stderr, "gen cloud: cannot create folder %s: %s\n", g.o.out, strerror(errno));
        goto done;
    }
    if (write_master(&g)) goto done;
    if (sl_landing_open(&g.usage, g.o.out, "usage", "usage", "jsonl", "cloud")) goto done;
    sl_gen_drive d = {.g = &g,
                      .emit = emit_cb,
                      .rotate = rotate_cb,
                      .line_no = &g.line_no,
                      .events = g.o.events,
                      .file_events = g.o.file_events};
    if (sl_gen_drive_run(&d)) goto done;
    rc = 0;
    fprintf(stderr,
            "gen cloud: lines=%" PRId64 " valid=%" PRId64 " v2=%" PRId64 " invalid=%" PRId64
            " late=%" PRId64 " duplicates=%" PRId64 " spikes=%" PRId64 " resources=%" PRId64
            " files=%" PRId64 " seconds=%.2f\n",
            g.line_no, g.n_valid, g.n_v2, g.n_invalid, g.n_late, g.n_dups, g.n_spikes, g.n_res,
            g.usage.files, (double)(sl_monotonic_us() - began) / 1e6);
done:
    if (g.usage.dir[0] && sl_landing_close(&g.usage, rc)) rc = 1;
    free(g.res);
    return rc;
}
