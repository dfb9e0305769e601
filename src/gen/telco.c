/*
 * telco.c - `sluice gen telco`: network devices' syslog and SNMP-like metrics (seed 000).
 *
 * Writes, under --out DIR:
 *   logs/syslog-NNNNNN.log         RFC 5424 lines: <PRI>1 TIMESTAMP HOST APP PROCID MSGID
 *                                  [device@32473 entity_id=".." category=".."] MSG
 *   metrics/metrics-NNNNNN.ndjson  {"entity_id","metric_name","value","unit","ts"(epoch ms)}
 *   entities/entities-NNNNNN.ndjson attribute records {"entity_id","entity_type","location",
 *                                  "vendor","firmware","changed_at"(epoch ms)}: every entity
 *                                  once at the start, then one line per change
 *   entities.csv                   entity_id,entity_type,location,vendor (the static
 *                                  attributes, for a lookup join)
 * Many small files: every --file-events lines all open files are published
 * (dot-name, then rename; see landing.h).
 *
 * Why attribute change events and not a rewritten CSV: the type-2 dimension
 * needs the time of each change (effective_from), which a rewritten snapshot
 * does not carry, and a landing folder reader takes new files, not files
 * rewritten in place. The static attributes (type, location, vendor never
 * change here) are in entities.csv for the lookup that enriches metrics.
 *
 * The model: E entities (--entities, >= 100 by default 120), entity k is a
 * cell_tower, router or switch (k % 3) with a fixed location and vendor and a
 * firmware that is upgraded now and then. Line i of the stream (logs and
 * metrics together; --events counts them) has nominal event time
 * start + i / event_rate minus 0-200 ms jitter. Per line, in this order of draws:
 *  - with p = --malformed: a broken line, in logs or metrics (kinds below);
 *  - else with p = --log-share: a syslog line for a random entity (a down
 *    entity logs critical LINK_DOWN/BGP events);
 *  - else the next metric sample, round robin: entity (k / 5) % E, metric k % 5
 *    (cpu_util, mem_util, latency_ms, packet_loss, throughput_mbps). At an
 *    entity's cpu sample: with p = --flap it goes down for 60-300 s (a critical
 *    syslog line now, bad metrics while down, a LINK_UP notice after), with
 *    p = --changes its firmware is upgraded (an attribute record and a notice);
 *    with p = --bad-values the value is out of range (negative, or > 100 %).
 * A good log or metric line becomes late with p = --late: half of them are
 * moved back 1-4 min (within a 10-minute allowed lateness) and stay in place,
 * half are moved back 20-40 min and land in a separate, later file.
 * Randomness is xoshiro256** (rng.h): the bytes are a function of the arguments.
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
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

/* ---- options ------------------------------------------------------------ */

typedef struct {
    int64_t events;
    double rate, duration;
    uint64_t seed;
    const char *out;
    int64_t entities, file_events;
    double event_rate, files_per_minute;
    int64_t start_ms;
    double malformed, late, flap, changes, bad_values, log_share;
} telco_opts;

#define OFF(f) offsetof(telco_opts, f)
static const sl_gen_opt k_opts[] = {
    {"events", SL_GOPT_I64, OFF(events), 0, 1e15, "N", "write N log+metric lines (deterministic)"},
    {"rate", SL_GOPT_DBL, OFF(rate), 1e-3, 1e8, "R", "real-time mode: R lines per second"},
    {"duration", SL_GOPT_DBL, OFF(duration), 0, 1e9, "S",
     "real-time mode: run S seconds (0 = forever)"},
    {"seed", SL_GOPT_U64, OFF(seed), 0, 0, "N", "random seed (default 1)"},
    {"out", SL_GOPT_STR, OFF(out), 0, 0, "DIR", "output folder (required; created if missing)"},
    {"entities", SL_GOPT_I64, OFF(entities), 3, 1e6, "N",
     "devices: towers, routers, switches (120)"},
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
    {"flap", SL_GOPT_DBL, OFF(flap), 0, 1, "P", "per cpu sample: the device goes down (0.003)"},
    {"changes", SL_GOPT_DBL, OFF(changes), 0, 1, "P", "per cpu sample: firmware upgrade (0.004)"},
    {"bad-values", SL_GOPT_DBL, OFF(bad_values), 0, 1, "P", "out-of-range metric value (0.002)"},
    {"log-share", SL_GOPT_DBL, OFF(log_share), 0, 0.9, "P", "share of syslog lines (0.2)"},
};
#undef OFF
enum { N_OPTS = sizeof k_opts / sizeof k_opts[0] };

/* ---- the model ---------------------------------------------------------- */

static const char *const k_types[] = {"cell_tower", "router", "switch"};
static const char *const k_prefix[] = {"cell", "rtr", "sw"};
static const char *const k_vendors[3][3] = {
    {"Ericsson", "Nokia", "Huawei"}, {"Cisco", "Juniper", "Nokia"}, {"Arista", "Cisco", "Juniper"}};
static const char *const k_sites[] = {"Lisbon-DC1", "Lisbon-DC2",  "Porto-Core", "Madrid-Edge",
                                      "Paris-POP",  "Berlin-POP",  "Milan-Edge", "Dublin-DC",
                                      "Warsaw-POP", "Vienna-Core", "Oslo-Edge",  "Athens-POP"};
enum { N_SITES = sizeof k_sites / sizeof k_sites[0] };

enum { M_CPU, M_MEM, M_LAT, M_LOSS, M_THRU, N_METRICS };
static const char *const k_metric[] = {"cpu_util", "mem_util", "latency_ms", "packet_loss",
                                       "throughput_mbps"};
static const char *const k_unit[] = {"%", "%", "ms", "%", "Mbps"};

/* Syslog message kinds: msgid, category, severity, app, text. */
typedef struct {
    const char *msgid, *category;
    int sev;
    const char *app, *text;
} msg_kind;
static const msg_kind k_normal[] = {
    {"LINK_FLAP_CLEARED", "link", 6, "ifmgr", "Interface ge-0/0/%d link quality normal"},
    {"AUTH_OK", "security", 6, "sshd", "Accepted publickey for noc from 10.20.%d.5"},
    {"CONFIG_SAVE", "config", 5, "cfgd", "Configuration saved by operator (%d lines)"},
    {"NTP_SYNC", "system", 6, "ntpd", "Clock synchronised, offset %d us"},
    {"AUTH_FAIL", "security", 4, "sshd", "Failed password for admin from 198.51.100.%d"},
    {"HIGH_TEMP", "hardware", 4, "envmon", "Temperature sensor %d above warning level"},
    {"BGP_HOLD", "routing", 3, "bgpd", "BGP neighbor 10.0.%d.1 hold timer expired"},
    {"FAN_FAIL", "hardware", 3, "envmon", "Fan tray %d failure"},
    {"PSU_FAIL", "hardware", 2, "envmon", "Power supply %d failed"},
};
static const unsigned k_normal_w[] = {30, 20, 10, 15, 8, 6, 5, 4, 2};
enum { N_NORMAL = sizeof k_normal / sizeof k_normal[0] };
static const msg_kind k_down[] = {
    {"LINK_DOWN", "link", 2, "ifmgr", "Interface ge-0/0/%d changed state to down"},
    {"BGP_DOWN", "routing", 2, "bgpd", "BGP neighbor 10.0.%d.1 session down"},
    {"NODE_UNREACH", "system", 1, "monitor", "Node unreachable, %d probes lost"},
};
static const msg_kind k_up = {"LINK_UP", "link", 5, "ifmgr",
                              "Interface ge-0/0/%d changed state to up"};
static const msg_kind k_fw = {"FW_UPGRADE", "config", 5, "swmgr", "Firmware upgraded, reboot %d"};

typedef struct {
    char id[16];
    int type, site, vendor, fw;
    double base[N_METRICS];
    int64_t down_until; /* ms; 0: up */
} entity;

typedef struct {
    telco_opts o;
    sl_rng rng;
    entity *ent;
    sl_landing logs, metrics, ents;
    int64_t line_no, metric_k;
    int64_t t0_ms;
    double ms_per_line;
    int64_t n_malformed, n_late_in, n_late_out, n_flaps, n_changes, n_bad;
    int64_t began_us;
} telco_gen;

static void fw_name(char *buf, size_t cap, const entity *e) {
    snprintf(buf, cap, "%d.%d.%d", 15 + e->type + e->fw / 4, e->fw % 4, (e->vendor + 1) * 3);
}

static int put_entity(telco_gen *g, const entity *e, int64_t t) {
    char line[512], fw[32];
    fw_name(fw, sizeof fw, e);
    int n =
        snprintf(line, sizeof line,
                 "{\"entity_id\":\"%s\",\"entity_type\":\"%s\",\"location\":\"%s\","
                 "\"vendor\":\"%s\",\"firmware\":\"%s\",\"changed_at\":%" PRId64 "}\n",
                 e->id, k_types[e->type], k_sites[e->site], k_vendors[e->type][e->vendor], fw, t);
    return sl_landing_write(&g->ents, line, (size_t)n);
}

static int write_entities_csv(telco_gen *g) {
    size_t cap = 128 + (size_t)g->o.entities * 96, n = 0;
    char *buf = sl_xmalloc(cap);
    n += (size_t)snprintf(buf, cap, "entity_id,entity_type,location,vendor\n");
    for (int64_t k = 0; k < g->o.entities; k++) {
        const entity *e = &g->ent[k];
        n += (size_t)snprintf(buf + n, cap - n, "%s,%s,%s,%s\n", e->id, k_types[e->type],
                              k_sites[e->site], k_vendors[e->type][e->vendor]);
    }
    int rc = sl_landing_write_file(g->o.out, "entities.csv", buf, n, "telco");
    free(buf);
    return rc;
}

static void ts_text(char *buf, size_t cap, int64_t ms) {
    time_t s = (time_t)sl_floor_div(ms, 1000);
    struct tm tm;
    gmtime_r(&s, &tm);
    snprintf(buf, cap, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(ms - (int64_t)s * 1000));
}

static int64_t nominal(telco_gen *g) {
    return g->t0_ms + (int64_t)floor((double)g->line_no * g->ms_per_line) -
           (int64_t)sl_rng_below(&g->rng, 201);
}

/* Applies the --late draw to t: 0 on time, 1 within lateness, 2 beyond. */
static int late_draw(telco_gen *g, int64_t *t) {
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

static int emit_log(telco_gen *g, const entity *e, const msg_kind *k, int64_t t, int late) {
    char line[768], ts[40];
    ts_text(ts, sizeof ts, t);
    int facility = 23; /* local7, the usual network-device facility */
    char text[160];
    snprintf(text, sizeof text, k->text, 1 + (int)sl_rng_below(&g->rng, 48));
    int n = snprintf(line, sizeof line,
                     "<%d>1 %s %s %s %d %s [device@32473 entity_id=\"%s\" category=\"%s\"] %s\n",
                     facility * 8 + k->sev, ts, e->id, k->app,
                     1000 + (int)sl_rng_below(&g->rng, 9000), k->msgid, e->id, k->category, text);
    g->line_no++;
    return emit(&g->logs, line, n, late);
}

static double metric_value(telco_gen *g, entity *e, int m, int64_t t) {
    double b = e->base[m], u = sl_rng_unit(&g->rng);
    bool down = e->down_until > t;
    switch (m) {
    case M_CPU:
        return down ? 92 + 8 * u : fmin(99, fmax(1, b + 20 * (u - 0.5)));
    case M_MEM:
        return fmin(99, fmax(5, b + 6 * (u - 0.5)));
    case M_LAT:
        return down ? 400 + 1600 * u : b * (0.7 + 0.6 * u);
    case M_LOSS:
        return down ? 20 + 40 * u : (u < 0.9 ? 0.3 * u : 0.5 + 2.5 * u);
    default:
        return down ? 5 * u : b * (0.6 + 0.8 * u);
    }
}

static int emit_metric(telco_gen *g) {
    int64_t E = g->o.entities;
    entity *e = &g->ent[(g->metric_k / N_METRICS) % E];
    int m = (int)(g->metric_k % N_METRICS);
    g->metric_k++;
    int64_t t = nominal(g);
    if (m == M_CPU) {
        if (e->down_until && e->down_until <= t) { /* back up */
            e->down_until = 0;
            if (emit_log(g, e, &k_up, t, 0)) return -1;
        } else if (!e->down_until && sl_rng_chance(&g->rng, g->o.flap)) {
            e->down_until = t + sl_rng_range(&g->rng, 60000, 300000);
            g->n_flaps++;
            if (emit_log(g, e, &k_down[0], t, 0)) return -1;
        }
        if (sl_rng_chance(&g->rng, g->o.changes)) {
            e->fw++;
            g->n_changes++;
            if (put_entity(g, e, t)) return -1;
            if (emit_log(g, e, &k_fw, t, 0)) return -1;
        }
    }
    double v = metric_value(g, e, m, t);
    if (sl_rng_chance(&g->rng, g->o.bad_values)) {
        v = sl_rng_below(&g->rng, 2) ? -1 - 10 * sl_rng_unit(&g->rng)
                                     : 150 + 100 * sl_rng_unit(&g->rng);
        if (m == M_LAT || m == M_THRU) v = -1 - 10 * sl_rng_unit(&g->rng);
        g->n_bad++;
    }
    int late = late_draw(g, &t);
    char line[384];
    int n = snprintf(line, sizeof line,
                     "{\"entity_id\":\"%s\",\"metric_name\":\"%s\",\"value\":%.2f,\"unit\":\"%s\","
                     "\"ts\":%" PRId64 "}\n",
                     e->id, k_metric[m], v, k_unit[m], t);
    g->line_no++;
    return emit(&g->metrics, line, n, late);
}

/* Malformed kinds: syslog lines the RFC 5424 parser refuses or that carry
 * no entity and no timestamp; metric lines that are not JSON, have a wrong
 * type or lack a required field. */
static int emit_malformed(telco_gen *g) {
    char line[512], ts[40];
    int64_t t = nominal(g);
    entity *e = &g->ent[sl_rng_below(&g->rng, (uint64_t)g->o.entities)];
    ts_text(ts, sizeof ts, t);
    int kind = (int)sl_rng_below(&g->rng, 8), n = 0;
    g->n_malformed++;
    g->line_no++;
    switch (kind) {
    case 0:
        n = snprintf(line, sizeof line, "<999>1 %s %s ifmgr 1 X - bad pri\n", ts, e->id);
        return sl_landing_write(&g->logs, line, (size_t)n);
    case 1:
        n = snprintf(line, sizeof line, "<187>1 2026-13-01T00:00:00Z %s ifmgr 1 X - bad month\n",
                     e->id);
        return sl_landing_write(&g->logs, line, (size_t)n);
    case 2:
        n = snprintf(line, sizeof line, "<187>1 %s %s ifmgr 1 X [device@32473 entity_id=\"%s\n", ts,
                     e->id, e->id);
        return sl_landing_write(&g->logs, line, (size_t)n);
    case 3:
        n = snprintf(line, sizeof line, "kernel: garbage without a header %d\n",
                     (int)sl_rng_below(&g->rng, 1000));
        return sl_landing_write(&g->logs, line, (size_t)n);
    case 4:
        n = snprintf(line, sizeof line, "{\"entity_id\":\"%s\",\"metric_name\":\"cpu_u\n", e->id);
        return sl_landing_write(&g->metrics, line, (size_t)n);
    case 5:
        n = snprintf(line, sizeof line,
                     "{\"entity_id\":\"%s\",\"metric_name\":\"cpu_util\",\"value\":\"n/a\","
                     "\"unit\":\"%%\",\"ts\":%" PRId64 "}\n",
                     e->id, t);
        return sl_landing_write(&g->metrics, line, (size_t)n);
    case 6:
        n = snprintf(line, sizeof line,
                     "{\"metric_name\":\"mem_util\",\"value\":50.00,\"unit\":\"%%\",\"ts\":%" PRId64
                     "}\n",
                     t);
        return sl_landing_write(&g->metrics, line, (size_t)n);
    default:
        n = snprintf(line, sizeof line,
                     "{\"entity_id\":\"%s\",\"metric_name\":\"latency_ms\",\"value\":12.50,"
                     "\"unit\":\"ms\"}\n",
                     e->id);
        return sl_landing_write(&g->metrics, line, (size_t)n);
    }
}

static int emit_next(telco_gen *g) {
    if (sl_rng_chance(&g->rng, g->o.malformed)) return emit_malformed(g);
    if (sl_rng_chance(&g->rng, g->o.log_share)) {
        entity *e = &g->ent[sl_rng_below(&g->rng, (uint64_t)g->o.entities)];
        int64_t t = nominal(g);
        const msg_kind *k;
        if (e->down_until > t) {
            k = &k_down[sl_rng_below(&g->rng, 3)];
        } else {
            unsigned w = (unsigned)sl_rng_below(&g->rng, 100);
            int i = 0;
            while (w >= k_normal_w[i])
                w -= k_normal_w[i++];
            k = &k_normal[i];
        }
        int late = late_draw(g, &t);
        return emit_log(g, e, k, t, late);
    }
    return emit_metric(g);
}

static int rotate_all(telco_gen *g) {
    return sl_landing_rotate(&g->logs) || sl_landing_rotate(&g->metrics) ||
                   sl_landing_rotate(&g->ents)
               ? -1
               : 0;
}

static int setup(telco_gen *g) {
    sl_rng_init(&g->rng, g->o.seed);
    int64_t E = g->o.entities;
    g->ent = sl_xcalloc((size_t)E, sizeof *g->ent);
    for (int64_t k = 0; k < E; k++) {
        entity *e = &g->ent[k];
        e->type = (int)(k % 3);
        snprintf(e->id, sizeof e->id, "%s-%04d", k_prefix[e->type], (int)(k + 1));
        e->site = (int)sl_rng_below(&g->rng, N_SITES);
        e->vendor = (int)sl_rng_below(&g->rng, 3);
        e->fw = (int)sl_rng_below(&g->rng, 4);
        e->base[M_CPU] = 20 + 40 * sl_rng_unit(&g->rng);
        e->base[M_MEM] = 30 + 40 * sl_rng_unit(&g->rng);
        e->base[M_LAT] = 2 + 30 * sl_rng_unit(&g->rng);
        e->base[M_LOSS] = 0;
        e->base[M_THRU] = 100 + 900 * sl_rng_unit(&g->rng);
    }
    if (sl_landing_open(&g->logs, g->o.out, "logs", "syslog", "log", "telco") ||
        sl_landing_open(&g->metrics, g->o.out, "metrics", "metrics", "ndjson", "telco") ||
        sl_landing_open(&g->ents, g->o.out, "entities", "entities", "ndjson", "telco"))
        return -1;
    if (write_entities_csv(g)) return -1;
    for (int64_t k = 0; k < E; k++)
        if (put_entity(g, &g->ent[k], g->t0_ms)) return -1;
    return 0;
}

static void status(const telco_gen *g, const char *what) {
    fprintf(stderr,
            "gen telco%s: lines=%" PRId64 " logs=%" PRId64 " metrics=%" PRId64 " files=%" PRId64
            " malformed=%" PRId64 " late=%" PRId64 " (within=%" PRId64 " beyond=%" PRId64
            ") flaps=%" PRId64 " changes=%" PRId64 " bad_values=%" PRId64 " seconds=%.2f\n",
            what, g->line_no, g->logs.lines, g->metrics.lines,
            g->logs.files + g->metrics.files + g->ents.files, g->n_malformed,
            g->n_late_in + g->n_late_out, g->n_late_in, g->n_late_out, g->n_flaps, g->n_changes,
            g->n_bad, (double)(sl_monotonic_us() - g->began_us) / 1e6);
}

static int emit_cb(void *g) { return emit_next(g); }
static int rotate_cb(void *g) { return rotate_all(g); }

int sl_gen_telco_main(int argc, char **argv) {
    telco_gen g;
    memset(&g, 0, sizeof g);
    g.o = (telco_opts){.events = -1,
                       .seed = 1,
                       .entities = 120,
                       .file_events = 500,
                       .event_rate = 100,
                       .files_per_minute = 120,
                       .start_ms = 1767225600000LL,
                       .malformed = 0.002,
                       .late = 0.004,
                       .flap = 0.003,
                       .changes = 0.004,
                       .bad_values = 0.002,
                       .log_share = 0.2};
    int rc =
        sl_gen_parse_opts(argc, argv, "telco",
                          "usage: sluice gen telco --out DIR (--events N | --rate R "
                          "[--duration S]) [options]\n\n"
                          "Writes DIR/logs/*.log (RFC 5424), DIR/metrics/*.ndjson, "
                          "DIR/entities/*.ndjson and DIR/entities.csv.\n",
                          k_opts, N_OPTS, &g.o, &g.o.out, &g.o.events, &g.o.rate, &g.o.duration);
    if (rc) return rc == 1 ? 0 : 2;
    g.began_us = sl_monotonic_us();
    int rate_mode = g.o.events < 0;
    if (rate_mode) {
        g.t0_ms = sl_floor_div(sl_now_us(), SL_US_PER_MS);
        g.ms_per_line = 1000.0 / g.o.rate;
    } else {
        g.t0_ms = g.o.start_ms;
        g.ms_per_line = 1000.0 / g.o.event_rate;
    }
    rc = 1;
    if (sl_gen_mkdir_p(g.o.out)) {
        fprintf(stderr, "gen telco: cannot create folder %s: %s\n", g.o.out, strerror(errno));
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
    status(&g, "");
done:
    if (sl_landing_close(&g.logs, rc) || sl_landing_close(&g.metrics, rc) ||
        sl_landing_close(&g.ents, rc))
        rc = 1;
    free(g.ent);
    return rc;
}
