/*
 * retail.c - `sluice gen retail`: stores' point-of-sale events and store metrics (seed 000).
 *
 * Writes, under --out DIR:
 *   pos/pos-NNNNNN.ndjson          POS events {"event_id","store_id","register_id",
 *                                  "event_type","amount","items","ts"(epoch ms)};
 *                                  event_type sale | refund | void | register_error |
 *                                  register_offline | register_online
 *   metrics/metrics-NNNNNN.ndjson  {"entity_id","metric_name","value","ts"}: registers report
 *                                  queue_length, scan_rate, payment_latency_ms; stores
 *                                  stock_level_pct, stockouts, footfall
 *   entities/entities-NNNNNN.ndjson attribute records {"entity_id","entity_type","store_id",
 *                                  "region","format","software","changed_at"}: every entity
 *                                  at the start, then one line per change (a store moves to
 *                                  another region, a register gets new POS software)
 *   entities.csv                   entity_id,entity_type,store_id,format (static attributes)
 * Files are published every --file-events lines (dot-name, then rename; landing.h).
 * Attribute changes are events for the reason given in telco.c; region, which
 * changes, is therefore not in entities.csv (the dimension has its history).
 *
 * The model: --entities N (default 200) = N/5 stores, each with 4 registers
 * (store-SSS, store-SSS-r1..r4). Line i (POS and metrics together; --events
 * counts them) has nominal event time start + i / event_rate minus 0-200 ms.
 * Per line, in this order of draws:
 *  - with p = --malformed: a broken line in pos or metrics;
 *  - else with p = --pos-share: a POS event at a random register (an offline
 *    register emits register_error events, critical);
 *  - else the next metric sample, round robin: entity (k / 3) % N, its
 *    type's metric k % 3. At an entity's first metric: with p = --flap a
 *    register goes offline for 60-300 s (register_offline now, long queues and
 *    slow payments while offline, register_online after); with p = --changes
 *    a store changes region or a register's software is upgraded; with
 *    p = --bad-values a value is negative (quarantined by the pipeline).
 * Lateness as in telco.c: half of the late lines 1-4 min back in place, half
 * 20-40 min back in a separate later file.
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
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
    double rate, duration;
    uint64_t seed;
    const char *out;
    int64_t entities, file_events;
    double event_rate, files_per_minute;
    int64_t start_ms;
    double malformed, late, flap, changes, bad_values, pos_share;
} retail_opts;

#define OFF(f) offsetof(retail_opts, f)
static const sl_gen_opt k_opts[] = {
    {"events", SL_GOPT_I64, OFF(events), 0, 1e15, "N", "write N POS+metric lines (deterministic)"},
    {"rate", SL_GOPT_DBL, OFF(rate), 1e-3, 1e8, "R", "real-time mode: R lines per second"},
    {"duration", SL_GOPT_DBL, OFF(duration), 0, 1e9, "S",
     "real-time mode: run S seconds (0 = forever)"},
    {"seed", SL_GOPT_U64, OFF(seed), 0, 0, "N", "random seed (default 1)"},
    {"out", SL_GOPT_STR, OFF(out), 0, 0, "DIR", "output folder (required; created if missing)"},
    {"entities", SL_GOPT_I64, OFF(entities), 5, 1e6, "N",
     "stores + registers, N/5 stores with 4 registers each (200)"},
    {"file-events", SL_GOPT_I64, OFF(file_events), 1, 1e12, "N",
     "--events mode: publish files every N lines (500)"},
    {"files-per-minute", SL_GOPT_DBL, OFF(files_per_minute), 1, 60000, "F",
     "--rate mode: publish files F times per minute (120)"},
    {"event-rate", SL_GOPT_DBL, OFF(event_rate), 1e-3, 1e9, "R",
     "--events mode: lines per second of event time (100)"},
    {"start", SL_GOPT_TIME, OFF(start_ms), 0, 0, "ISO8601",
     "--events mode: time of the first line (2026-01-01T00:00:00Z)"},
    {"malformed", SL_GOPT_DBL, OFF(malformed), 0, 1, "P",
     "probability of a malformed line (0.002)"},
    {"late", SL_GOPT_DBL, OFF(late), 0, 1, "P", "probability of a late line (0.004)"},
    {"flap", SL_GOPT_DBL, OFF(flap), 0, 1, "P",
     "per first metric: a register goes offline (0.004)"},
    {"changes", SL_GOPT_DBL, OFF(changes), 0, 1, "P", "per first metric: attribute change (0.004)"},
    {"bad-values", SL_GOPT_DBL, OFF(bad_values), 0, 1, "P", "negative metric value (0.002)"},
    {"pos-share", SL_GOPT_DBL, OFF(pos_share), 0, 0.95, "P", "share of POS event lines (0.5)"},
};
#undef OFF
enum { N_OPTS = sizeof k_opts / sizeof k_opts[0] };

static const char *const k_regions[] = {"north", "south", "east", "west", "central", "islands"};
enum { N_REGIONS = sizeof k_regions / sizeof k_regions[0] };
static const char *const k_formats[] = {"hypermarket", "supermarket", "express"};
static const char *const k_metrics[2][3] = {{"stock_level_pct", "stockouts", "footfall"},
                                            {"queue_length", "scan_rate", "payment_latency_ms"}};

typedef struct {
    char id[24], store[16];
    int is_register, region, format, software;
    double base[3];
    int64_t down_until;
} entity;

typedef struct {
    retail_opts o;
    sl_rng rng;
    entity *ent;
    int64_t nent, nstores;
    sl_landing pos, metrics, ents;
    int64_t line_no, metric_k, next_event_id;
    int64_t t0_ms;
    double ms_per_line;
    int64_t n_malformed, n_late_in, n_late_out, n_flaps, n_changes, n_bad;
    int64_t began_us;
} retail_gen;

static int put_entity(retail_gen *g, const entity *e, int64_t t) {
    char line[512];
    int n = snprintf(line, sizeof line,
                     "{\"entity_id\":\"%s\",\"entity_type\":\"%s\",\"store_id\":\"%s\","
                     "\"region\":\"%s\",\"format\":\"%s\",\"software\":\"pos-%d.%d\","
                     "\"changed_at\":%" PRId64 "}\n",
                     e->id, e->is_register ? "register" : "store", e->store, k_regions[e->region],
                     k_formats[e->format], 5 + e->software / 3, e->software % 3, t);
    return sl_landing_write(&g->ents, line, (size_t)n);
}

static int64_t nominal(retail_gen *g) {
    return g->t0_ms + (int64_t)floor((double)g->line_no * g->ms_per_line) -
           (int64_t)sl_rng_below(&g->rng, 201);
}

static int late_draw(retail_gen *g, int64_t *t) {
    if (!sl_rng_chance(&g->rng, g->o.late)) return 0;
    if (sl_rng_below(&g->rng, 2) == 0) {
        *t -= sl_rng_range(&g->rng, 60000, 240000);
        g->n_late_in++;
        return 1;
    }
    *t -= sl_rng_range(&g->rng, 1200000, 2400000);
    g->n_late_out++;
    return 2;
}

static int emit(sl_landing *s, const char *line, int n, int late) {
    if (late == 2) {
        sl_landing_hold_late(s, line, (size_t)n);
        return 0;
    }
    return sl_landing_write(s, line, (size_t)n);
}

static int emit_pos(retail_gen *g, const entity *r, const char *type, int64_t t, int late) {
    char line[384];
    double amount = 0;
    int items = 0;
    if (!strcmp(type, "sale")) {
        items = 1 + (int)sl_rng_below(&g->rng, 25);
        amount = items * (0.5 + 9.5 * sl_rng_unit(&g->rng));
    } else if (!strcmp(type, "refund")) {
        items = 1 + (int)sl_rng_below(&g->rng, 3);
        amount = -items * (1 + 20 * sl_rng_unit(&g->rng));
    } else if (!strcmp(type, "void")) {
        items = 1;
    }
    g->next_event_id += 1 + (int64_t)sl_rng_below(&g->rng, 3);
    int n = snprintf(line, sizeof line,
                     "{\"event_id\":%" PRId64 ",\"store_id\":\"%s\",\"register_id\":\"%s\","
                     "\"event_type\":\"%s\",\"amount\":%.2f,\"items\":%d,\"ts\":%" PRId64 "}\n",
                     g->next_event_id, r->store, r->id, type, amount, items, t);
    g->line_no++;
    return emit(&g->pos, line, n, late);
}

static int emit_metric(retail_gen *g) {
    entity *e = &g->ent[(g->metric_k / 3) % g->nent];
    int m = (int)(g->metric_k % 3);
    g->metric_k++;
    int64_t t = nominal(g);
    if (m == 0) {
        if (e->down_until && e->down_until <= t) {
            e->down_until = 0;
            if (emit_pos(g, e, "register_online", t, 0)) return -1;
        } else if (e->is_register && !e->down_until && sl_rng_chance(&g->rng, g->o.flap)) {
            e->down_until = t + sl_rng_range(&g->rng, 60000, 300000);
            g->n_flaps++;
            if (emit_pos(g, e, "register_offline", t, 0)) return -1;
        }
        if (sl_rng_chance(&g->rng, g->o.changes)) {
            if (e->is_register)
                e->software++;
            else
                e->region = (e->region + 1 + (int)sl_rng_below(&g->rng, N_REGIONS - 1)) % N_REGIONS;
            g->n_changes++;
            if (put_entity(g, e, t)) return -1;
        }
    }
    bool down = e->down_until > t;
    double u = sl_rng_unit(&g->rng), v, b = e->base[m];
    if (!e->is_register) {
        v = m == 0   ? fmin(100, fmax(0, b + 10 * (u - 0.5)))
            : m == 1 ? floor(b * 2 * u)
                     : floor(b * (0.5 + u));
    } else {
        v = m == 0   ? (down ? 8 + floor(8 * u) : floor(b * 2 * u))
            : m == 1 ? (down ? 0 : b * (0.7 + 0.6 * u))
                     : (down ? 2000 + 4000 * u : b * (0.6 + 0.8 * u));
    }
    if (sl_rng_chance(&g->rng, g->o.bad_values)) {
        v = -1 - floor(50 * sl_rng_unit(&g->rng));
        g->n_bad++;
    }
    int late = late_draw(g, &t);
    char line[384];
    int n = snprintf(line, sizeof line,
                     "{\"entity_id\":\"%s\",\"metric_name\":\"%s\",\"value\":%.2f,\"ts\":%" PRId64
                     "}\n",
                     e->id, k_metrics[e->is_register][m], v, t);
    g->line_no++;
    return emit(&g->metrics, line, n, late);
}

static int emit_malformed(retail_gen *g) {
    char line[512];
    int64_t t = nominal(g);
    const entity *e = &g->ent[sl_rng_below(&g->rng, (uint64_t)g->nent)];
    int kind = (int)sl_rng_below(&g->rng, 6), n = 0;
    g->n_malformed++;
    g->line_no++;
    switch (kind) {
    case 0:
        n = snprintf(line, sizeof line, "{\"event_id\":1,\"store_id\":\"%s\",\"register_\n",
                     e->store);
        return sl_landing_write(&g->pos, line, (size_t)n);
    case 1:
        n = snprintf(line, sizeof line,
                     "{\"event_id\":\"x1\",\"store_id\":\"%s\",\"register_id\":\"%s\","
                     "\"event_type\":\"sale\",\"amount\":1.00,\"items\":1,\"ts\":%" PRId64 "}\n",
                     e->store, e->id, t);
        return sl_landing_write(&g->pos, line, (size_t)n);
    case 2:
        n = snprintf(line, sizeof line,
                     "{\"event_id\":7,\"register_id\":\"%s\",\"event_type\":\"sale\","
                     "\"amount\":1.00,\"items\":1}\n",
                     e->id);
        return sl_landing_write(&g->pos, line, (size_t)n);
    case 3:
        n = snprintf(line, sizeof line, "POS DUMP %d\n", (int)sl_rng_below(&g->rng, 1000));
        return sl_landing_write(&g->metrics, line, (size_t)n);
    case 4:
        n = snprintf(line, sizeof line,
                     "{\"entity_id\":\"%s\",\"metric_name\":\"footfall\",\"value\":\"many\","
                     "\"ts\":%" PRId64 "}\n",
                     e->id, t);
        return sl_landing_write(&g->metrics, line, (size_t)n);
    default:
        n = snprintf(line, sizeof line,
                     "{\"metric_name\":\"footfall\",\"value\":3.00,\"ts\":%" PRId64 "}\n", t);
        return sl_landing_write(&g->metrics, line, (size_t)n);
    }
}

static int emit_next(retail_gen *g) {
    if (sl_rng_chance(&g->rng, g->o.malformed)) return emit_malformed(g);
    if (sl_rng_chance(&g->rng, g->o.pos_share)) {
        /* a random register: stores are every 5th entity */
        int64_t s = (int64_t)sl_rng_below(&g->rng, (uint64_t)g->nstores);
        const entity *r = &g->ent[s * 5 + 1 + (int64_t)sl_rng_below(&g->rng, 4)];
        int64_t t = nominal(g);
        const char *type;
        if (r->down_until > t) {
            type = "register_error";
        } else {
            unsigned w = (unsigned)sl_rng_below(&g->rng, 100);
            type = w < 90 ? "sale" : w < 96 ? "refund" : w < 99 ? "void" : "register_error";
        }
        int late = late_draw(g, &t);
        return emit_pos(g, r, type, t, late);
    }
    return emit_metric(g);
}

static int rotate_all(retail_gen *g) {
    return sl_landing_rotate(&g->pos) || sl_landing_rotate(&g->metrics) ||
                   sl_landing_rotate(&g->ents)
               ? -1
               : 0;
}

static int setup(retail_gen *g) {
    sl_rng_init(&g->rng, g->o.seed);
    g->nstores = g->o.entities / 5;
    g->nent = g->nstores * 5;
    g->ent = sl_xcalloc((size_t)g->nent, sizeof *g->ent);
    for (int64_t s = 0; s < g->nstores; s++) {
        int region = (int)sl_rng_below(&g->rng, N_REGIONS), format = (int)sl_rng_below(&g->rng, 3);
        for (int k = 0; k < 5; k++) {
            entity *e = &g->ent[s * 5 + k];
            snprintf(e->store, sizeof e->store, "store-%03d", (int)(s + 1));
            if (k == 0)
                snprintf(e->id, sizeof e->id, "%s", e->store);
            else
                snprintf(e->id, sizeof e->id, "%s-r%d", e->store, k);
            e->is_register = k > 0;
            e->region = region;
            e->format = format;
            e->software = (int)sl_rng_below(&g->rng, 3);
            if (e->is_register) {
                e->base[0] = 1 + 3 * sl_rng_unit(&g->rng);
                e->base[1] = 10 + 20 * sl_rng_unit(&g->rng);
                e->base[2] = 200 + 600 * sl_rng_unit(&g->rng);
            } else {
                e->base[0] = 70 + 25 * sl_rng_unit(&g->rng);
                e->base[1] = 1 + 6 * sl_rng_unit(&g->rng);
                e->base[2] = 20 + 80 * sl_rng_unit(&g->rng);
            }
        }
    }
    if (sl_landing_open(&g->pos, g->o.out, "pos", "pos", "ndjson", "retail") ||
        sl_landing_open(&g->metrics, g->o.out, "metrics", "metrics", "ndjson", "retail") ||
        sl_landing_open(&g->ents, g->o.out, "entities", "entities", "ndjson", "retail"))
        return -1;
    size_t cap = 128 + (size_t)g->nent * 96, n = 0;
    char *buf = sl_xmalloc(cap);
    n += (size_t)snprintf(buf, cap, "entity_id,entity_type,store_id,format\n");
    for (int64_t k = 0; k < g->nent; k++) {
        const entity *e = &g->ent[k];
        n +=
            (size_t)snprintf(buf + n, cap - n, "%s,%s,%s,%s\n", e->id,
                             e->is_register ? "register" : "store", e->store, k_formats[e->format]);
    }
    int rc = sl_landing_write_file(g->o.out, "entities.csv", buf, n, "retail");
    free(buf);
    if (rc) return -1;
    for (int64_t k = 0; k < g->nent; k++)
        if (put_entity(g, &g->ent[k], g->t0_ms)) return -1;
    return 0;
}

static int emit_cb(void *g) { return emit_next(g); }
static int rotate_cb(void *g) { return rotate_all(g); }

int sl_gen_retail_main(int argc, char **argv) {
    retail_gen g;
    memset(&g, 0, sizeof g);
    g.o = (retail_opts){.events = -1,
                        .seed = 1,
                        .entities = 200,
                        .file_events = 500,
                        .event_rate = 100,
                        .files_per_minute = 120,
                        .start_ms = 1767225600000LL,
                        .malformed = 0.002,
                        .late = 0.004,
                        .flap = 0.004,
                        .changes = 0.004,
                        .bad_values = 0.002,
                        .pos_share = 0.5};
    int rc =
        sl_gen_parse_opts(argc, argv, "retail",
                          "usage: sluice gen retail --out DIR (--events N | --rate R "
                          "[--duration S]) [options]\n\n"
                          "Writes DIR/pos/*.ndjson, DIR/metrics/*.ndjson, "
                          "DIR/entities/*.ndjson and DIR/entities.csv.\n",
                          k_opts, N_OPTS, &g.o, &g.o.out, &g.o.events, &g.o.rate, &g.o.duration);
    if (rc) return rc == 1 ? 0 : 2;
    g.began_us = sl_monotonic_us();
    int rate_mode = g.o.events < 0;
    g.t0_ms = rate_mode ? sl_floor_div(sl_now_us(), SL_US_PER_MS) : g.o.start_ms;
    g.ms_per_line = 1000.0 / (rate_mode ? g.o.rate : g.o.event_rate);
    g.next_event_id = 500000000;
    rc = 1;
    if (sl_gen_mkdir_p(g.o.out)) {
        fprintf(stderr, "gen retail: cannot create folder %s: %s\n", g.o.out, strerror(errno));
        goto done;
    }
    if (setup(&g)) goto done;
    /* rate mode: event time follows the wall clock (line_no / rate) */
    sl_gen_drive d = {.g = &g,
                      .emit = emit_cb,
                      .rotate = rotate_cb,
                      .line_no = &g.line_no,
                      .events = rate_mode ? -1 : g.o.events,
                      .file_events = g.o.file_events,
                      .rate = g.o.rate,
                      .duration = g.o.duration,
                      .files_per_minute = g.o.files_per_minute};
    if (sl_gen_drive_run(&d)) goto done;
    rc = 0;
    fprintf(stderr,
            "gen retail: lines=%" PRId64 " pos=%" PRId64 " metrics=%" PRId64 " files=%" PRId64
            " malformed=%" PRId64 " late=%" PRId64 " (within=%" PRId64 " beyond=%" PRId64
            ") flaps=%" PRId64 " changes=%" PRId64 " bad_values=%" PRId64 " seconds=%.2f\n",
            g.line_no, g.pos.lines, g.metrics.lines, g.pos.files + g.metrics.files + g.ents.files,
            g.n_malformed, g.n_late_in + g.n_late_out, g.n_late_in, g.n_late_out, g.n_flaps,
            g.n_changes, g.n_bad, (double)(sl_monotonic_us() - g.began_us) / 1e6);
done:
    if (sl_landing_close(&g.pos, rc) || sl_landing_close(&g.metrics, rc) ||
        sl_landing_close(&g.ents, rc))
        rc = 1;
    free(g.ent);
    return rc;
}
