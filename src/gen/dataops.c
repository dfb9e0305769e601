/*
 * dataops.c - `sluice gen dataops`: a data platform's job runs and the compute
 * metrics of their clusters (seed 002, dataops flavor).
 *
 * Writes, under --out DIR:
 *   runs/runs-NNNNNN.ndjson        one job run per line: {"job_id","job_name","run_id",
 *                                  "attempt","status","start_time","end_time","duration_ms",
 *                                  "cluster_id","created_by","tags"}
 *   metrics/metrics-NNNNNN.ndjson  resource samples of the runs' clusters: {"job_id",
 *                                  "cluster_id","timestamp","cpu_utilization",
 *                                  "memory_utilization","disk_utilization","network_io"}
 *   jobs.csv                       job_id,job_name,schedule,owner (the job catalogue)
 *
 * The model: J jobs (--jobs). Job k runs on a schedule (every 30 min, hourly,
 * every 2 h, every 4 h or daily, by k % 5, with a phase of 7k minutes) on
 * cluster-(k % 8) for about base_k = 3 + (37k mod 60) minutes, with 8 %
 * log-normal noise. Behaviours by k % 10: 3 is flaky (35 % of runs fail),
 * 7 degrades slowly (3 % longer every day), 5 jumps (3x longer after
 * --jump-after days); the others fail 2 % of the time. A failed run
 * (FAILED, or TIMEDOUT for one failure in ten) ends early and is retried
 * 5 minutes after it ends, up to attempt 3; 0.5 % of runs are CANCELED.
 * Durations are capped at 4 hours. Clusters 0 and 5 run hot (CPU ~88 %).
 *
 * Lines come in start-time order: a run line, then one metric sample per 15
 * minutes of the run (at least one, timestamps within the run). --events
 * counts lines of both kinds. Defects, per run line: with p = --malformed a
 * bad run instead (a truncated JSON line, an end before the start, an unknown
 * status, no job_id, or a negative duration_ms); with p = --duplicates the
 * run is sent again 1-5 lines later (a redelivery: the same line); with
 * p = --late its times are moved back 3-6 hours and it lands in a late file
 * of its own (beyond the pipeline's one hour of allowed lateness). Per metric
 * sample, with p = --bad-values a utilisation out of [0, 100].
 * Randomness is xoshiro256** (rng.h): the bytes are a function of the arguments.
 *
 * --serve HOST:PORT: after writing, the runs (every whole record, late ones
 * at their moved start) are served as a job-run listing API (jobs_api.h)
 * until SIGINT/SIGTERM, for the http_poll source; JOBS_API_TOKEN in the
 * environment makes it require that bearer token.
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
#include "gen/jobs_api.h"
#include "gen/rng.h"

/* ---- options ------------------------------------------------------------ */

typedef struct {
    int64_t events;
    double rate, duration;
    uint64_t seed;
    const char *out;
    int64_t jobs, file_events;
    double files_per_minute, jump_after;
    int64_t start_ms;
    double malformed, duplicates, late, bad_values;
    const char *serve;
} dataops_opts;

#define OFF(f) offsetof(dataops_opts, f)
static const sl_gen_opt k_opts[] = {
    {"events", SL_GOPT_I64, OFF(events), 0, 1e15, "N",
     "write N lines, runs and metric samples (deterministic)"},
    {"rate", SL_GOPT_DBL, OFF(rate), 1e-3, 1e8, "R", "real-time mode: R lines per second"},
    {"duration", SL_GOPT_DBL, OFF(duration), 0, 1e9, "S",
     "real-time mode: run S seconds (0 = forever)"},
    {"seed", SL_GOPT_U64, OFF(seed), 0, 0, "N", "random seed (default 1)"},
    {"out", SL_GOPT_STR, OFF(out), 0, 0, "DIR", "output folder (required; created if missing)"},
    {"jobs", SL_GOPT_I64, OFF(jobs), 1, 100000, "N", "jobs on the platform (40)"},
    {"file-events", SL_GOPT_I64, OFF(file_events), 1, 1e9, "N",
     "count mode: publish files every N lines (500)"},
    {"files-per-minute", SL_GOPT_DBL, OFF(files_per_minute), 0.01, 60000, "F",
     "real-time mode: publish files F times a minute (60)"},
    {"start", SL_GOPT_TIME, OFF(start_ms), 0, 0, "TIME",
     "first scheduled run (ISO 8601 or epoch ms; default 2026-11-01T00:00:00Z)"},
    {"jump-after", SL_GOPT_DBL, OFF(jump_after), 0, 1e6, "D",
     "days after which the jumping jobs run 3x longer (7)"},
    {"malformed", SL_GOPT_DBL, OFF(malformed), 0, 1, "P", "share of bad run lines (0.01)"},
    {"duplicates", SL_GOPT_DBL, OFF(duplicates), 0, 1, "P", "share of runs sent twice (0.03)"},
    {"late", SL_GOPT_DBL, OFF(late), 0, 1, "P", "share of runs landing 3-6 hours late (0.005)"},
    {"bad-values", SL_GOPT_DBL, OFF(bad_values), 0, 1, "P",
     "share of metric samples out of range (0.002)"},
    {"serve", SL_GOPT_STR, OFF(serve), 0, 0, "HOST:PORT",
     "count mode: then serve the runs as a jobs API until SIGINT/SIGTERM (see below)"},
};
#define N_OPTS (sizeof k_opts / sizeof k_opts[0])

/* ---- the model ---------------------------------------------------------- */

#define MIN_MS 60000LL
#define HOUR_MS (60 * MIN_MS)
#define MAX_RUN_MS (4 * HOUR_MS)
#define SAMPLE_MS (15 * MIN_MS)
#define DUP_SLOTS 16

static const int64_t k_period_min[] = {30, 60, 120, 240, 1440};
static const char *const k_teams[] = {"sales", "finance", "ml", "platform", "marketing", "ops"};
static const char *const k_owners[] = {"ana@example.com",  "bo@example.com",  "chen@example.com",
                                       "dara@example.com", "eli@example.com", "fatima@example.com"};
static const char *const k_words[] = {"orders",   "customers", "events",   "features", "billing",
                                      "sessions", "inventory", "payments", "clicks",   "models"};

typedef struct {
    char id[16], name[48];
    int64_t period_ms, next_regular_ms, retry_at_ms; /* retry_at 0: none */
    int attempt;                                     /* of the next run */
    double base_min;
    int cluster;
} job;

typedef struct {
    char line[512];
    int n, countdown;
} held_dup;

typedef struct {
    dataops_opts o;
    sl_rng rng;
    job *jobs;
    int64_t t0_ms;
    int64_t line_no, run_seq;
    sl_landing runs, metrics;
    /* samples of the current run still to write */
    int samples_left;
    int64_t sample_t, sample_end;
    const job *sample_job;
    held_dup dup[DUP_SLOTS];
    sl_jobs_api *api; /* --serve: every run line written, for the jobs API */
    int64_t n_runs, n_failed, n_malformed, n_dups, n_late, n_bad, n_samples;
    int64_t began_us;
} dataops_gen;

static void ts_text(char *buf, size_t cap, int64_t ms) {
    time_t s = (time_t)sl_floor_div(ms, 1000);
    struct tm tm;
    gmtime_r(&s, &tm);
    snprintf(buf, cap, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(ms - (int64_t)s * 1000));
}

/* A standard normal draw (Box-Muller; one value per call keeps the draw order simple). */
static double normal(sl_rng *r) {
    double u = sl_rng_unit(r), v = sl_rng_unit(r);
    if (u < 1e-300) u = 1e-300;
    return sqrt(-2.0 * log(u)) * cos(2.0 * M_PI * v);
}

static job *next_job(dataops_gen *g, int64_t *start) {
    job *best = NULL;
    int64_t bt = 0;
    for (int64_t k = 0; k < g->o.jobs; k++) {
        job *j = &g->jobs[k];
        int64_t t = j->retry_at_ms ? j->retry_at_ms : j->next_regular_ms;
        if (!best || t < bt) best = j, bt = t;
    }
    *start = bt;
    return best;
}

static int write_line(dataops_gen *g, sl_landing *s, const char *line, int n) {
    g->line_no++;
    if (g->api && s == &g->runs) sl_jobs_api_add(g->api, line, (size_t)n);
    return sl_landing_write(s, line, (size_t)n);
}

static int emit_malformed(dataops_gen *g, const job *j, int64_t start) {
    char line[512], a[40], b[40];
    int kind = (int)sl_rng_below(&g->rng, 5);
    int64_t end = start + 10 * MIN_MS;
    ts_text(a, sizeof a, start);
    ts_text(b, sizeof b, end);
    int n;
    g->run_seq++;
    switch (kind) {
    case 0: /* truncated JSON */
        n = snprintf(line, sizeof line, "{\"job_id\":\"%s\",\"run_id\":\"r-%09" PRId64 "\",\"sta\n",
                     j->id, g->run_seq);
        break;
    case 1: /* end before start */
        ts_text(b, sizeof b, start - 7 * MIN_MS);
        n = snprintf(line, sizeof line,
                     "{\"job_id\":\"%s\",\"job_name\":\"%s\",\"run_id\":\"r-%09" PRId64
                     "\",\"attempt\":1,\"status\":\"SUCCESS\",\"start_time\":\"%s\",\"end_time\":"
                     "\"%s\",\"duration_ms\":420000,\"cluster_id\":\"cluster-%d\"}\n",
                     j->id, j->name, g->run_seq, a, b, j->cluster);
        break;
    case 2: /* unknown status */
        n = snprintf(line, sizeof line,
                     "{\"job_id\":\"%s\",\"job_name\":\"%s\",\"run_id\":\"r-%09" PRId64
                     "\",\"attempt\":1,\"status\":\"EXPLODED\",\"start_time\":\"%s\",\"end_time\":"
                     "\"%s\",\"duration_ms\":600000,\"cluster_id\":\"cluster-%d\"}\n",
                     j->id, j->name, g->run_seq, a, b, j->cluster);
        break;
    case 3: /* no job_id */
        n = snprintf(line, sizeof line,
                     "{\"job_name\":\"%s\",\"run_id\":\"r-%09" PRId64
                     "\",\"attempt\":1,\"status\":\"SUCCESS\",\"start_time\":\"%s\",\"end_time\":"
                     "\"%s\",\"duration_ms\":600000,\"cluster_id\":\"cluster-%d\"}\n",
                     j->name, g->run_seq, a, b, j->cluster);
        break;
    default: /* negative duration */
        n = snprintf(line, sizeof line,
                     "{\"job_id\":\"%s\",\"job_name\":\"%s\",\"run_id\":\"r-%09" PRId64
                     "\",\"attempt\":1,\"status\":\"SUCCESS\",\"start_time\":\"%s\",\"end_time\":"
                     "\"%s\",\"duration_ms\":-600000,\"cluster_id\":\"cluster-%d\"}\n",
                     j->id, j->name, g->run_seq, a, b, j->cluster);
        break;
    }
    g->n_malformed++;
    return write_line(g, &g->runs, line, n);
}

static int emit_run(dataops_gen *g) {
    int64_t start;
    job *j = next_job(g, &start);
    if (sl_rng_chance(&g->rng, g->o.malformed)) {
        /* a bad record takes the slot of a regular run of that job */
        j->next_regular_ms += j->period_ms;
        if (j->retry_at_ms) j->retry_at_ms = 0, j->attempt = 1;
        return emit_malformed(g, j, start);
    }
    int k = (int)(j - g->jobs);
    double days = (double)(start - g->t0_ms) / (24.0 * HOUR_MS);
    double mult = 1.0;
    if (k % 10 == 7) mult = 1.0 + 0.03 * days;
    if (k % 10 == 5 && days >= g->o.jump_after) mult = 3.0;
    double minutes = j->base_min * mult * exp(0.08 * normal(&g->rng));
    double p_fail = k % 10 == 3 ? 0.35 : 0.02;
    const char *status = "SUCCESS";
    double u = sl_rng_unit(&g->rng);
    if (u < p_fail) {
        bool timeout = sl_rng_below(&g->rng, 10) == 0;
        status = timeout ? "TIMEDOUT" : "FAILED";
        minutes = timeout ? minutes * 2.0 : minutes * (0.1 + 0.5 * sl_rng_unit(&g->rng));
    } else if (u < p_fail + 0.005) {
        status = "CANCELED";
        minutes *= sl_rng_unit(&g->rng);
    }
    int64_t dur = (int64_t)llround(minutes * 60000.0);
    if (dur > MAX_RUN_MS) dur = MAX_RUN_MS;
    if (dur < 1000) dur = 1000;
    int64_t end = start + dur;
    bool failed = status[0] == 'F' || status[0] == 'T';
    int attempt = j->attempt;
    /* the next run of this job */
    if (failed && j->attempt < 3) {
        j->retry_at_ms = end + 5 * MIN_MS;
        j->attempt++;
    } else {
        j->retry_at_ms = 0;
        j->attempt = 1;
    }
    while (j->next_regular_ms <= start)
        j->next_regular_ms += j->period_ms;
    if (j->retry_at_ms && j->retry_at_ms >= j->next_regular_ms) {
        j->retry_at_ms = 0; /* the next regular run comes first: no retry */
        j->attempt = 1;
    }

    int late = sl_rng_chance(&g->rng, g->o.late);
    int64_t shift = late ? sl_rng_range(&g->rng, 3 * HOUR_MS, 6 * HOUR_MS) : 0;
    char a[40], b[40], line[512];
    ts_text(a, sizeof a, start - shift);
    ts_text(b, sizeof b, end - shift);
    g->run_seq++;
    int n = snprintf(line, sizeof line,
                     "{\"job_id\":\"%s\",\"job_name\":\"%s\",\"run_id\":\"r-%09" PRId64
                     "\",\"attempt\":%d,\"status\":\"%s\",\"start_time\":\"%s\",\"end_time\":"
                     "\"%s\",\"duration_ms\":%" PRId64
                     ",\"cluster_id\":\"cluster-%d\",\"created_by\":\"%s\",\"tags\":\"team=%s,"
                     "env=prod\"}\n",
                     j->id, j->name, g->run_seq, attempt, status, a, b, dur, j->cluster,
                     k_owners[k % 6], k_teams[k % 6]);
    g->n_runs++;
    if (failed) g->n_failed++;
    if (late) {
        g->n_late++;
        g->line_no++;
        sl_landing_hold_late(&g->runs, line, (size_t)n);
        if (g->api) sl_jobs_api_add(g->api, line, (size_t)n);
    } else {
        if (sl_rng_chance(&g->rng, g->o.duplicates)) {
            for (int i = 0; i < DUP_SLOTS; i++)
                if (!g->dup[i].n) {
                    memcpy(g->dup[i].line, line, (size_t)n);
                    g->dup[i].n = n;
                    g->dup[i].countdown = 1 + (int)sl_rng_below(&g->rng, 5);
                    break;
                }
        }
        if (write_line(g, &g->runs, line, n)) return -1;
    }
    g->sample_job = j;
    g->sample_t = start;
    g->sample_end = end;
    g->samples_left = (int)(dur / SAMPLE_MS) + 1;
    return 0;
}

static double clamp(double v, double lo, double hi) { return v < lo ? lo : v > hi ? hi : v; }

static int emit_sample(dataops_gen *g) {
    const job *j = g->sample_job;
    bool hot = j->cluster == 0 || j->cluster == 5;
    double cpu = clamp((hot ? 88.0 : 45.0) + (hot ? 4.0 : 12.0) * normal(&g->rng), 0, 100);
    double mem = clamp(55.0 + 15.0 * normal(&g->rng), 0, 100);
    double disk = clamp(40.0 + 0.5 * (double)j->cluster + 10.0 * sl_rng_unit(&g->rng), 0, 100);
    double net = floor(1e6 + 9e6 * sl_rng_unit(&g->rng));
    if (sl_rng_chance(&g->rng, g->o.bad_values)) {
        cpu = sl_rng_below(&g->rng, 2) ? 140.0 : -5.0;
        g->n_bad++;
    }
    char ts[40], line[384];
    ts_text(ts, sizeof ts, g->sample_t);
    int n = snprintf(line, sizeof line,
                     "{\"job_id\":\"%s\",\"cluster_id\":\"cluster-%d\",\"timestamp\":\"%s\","
                     "\"cpu_utilization\":%.2f,\"memory_utilization\":%.2f,\"disk_utilization\":"
                     "%.2f,\"network_io\":%.0f}\n",
                     j->id, j->cluster, ts, cpu, mem, disk, net);
    g->samples_left--;
    g->sample_t += SAMPLE_MS;
    if (g->sample_t > g->sample_end) g->sample_t = g->sample_end;
    g->n_samples++;
    return write_line(g, &g->metrics, line, n);
}

static int emit_next(dataops_gen *g) {
    for (int i = 0; i < DUP_SLOTS; i++)
        if (g->dup[i].n && --g->dup[i].countdown <= 0) {
            int n = g->dup[i].n;
            g->dup[i].n = 0;
            g->n_dups++;
            return write_line(g, &g->runs, g->dup[i].line, n);
        }
    if (g->samples_left > 0) return emit_sample(g);
    return emit_run(g);
}

static int rotate_all(dataops_gen *g) {
    return sl_landing_rotate(&g->runs) || sl_landing_rotate(&g->metrics) ? -1 : 0;
}

static int setup(dataops_gen *g) {
    sl_rng_init(&g->rng, g->o.seed);
    int64_t J = g->o.jobs;
    g->jobs = sl_xcalloc((size_t)J, sizeof *g->jobs);
    char *csv = sl_xmalloc((size_t)J * 128 + 64);
    size_t cn = (size_t)sprintf(csv, "job_id,job_name,schedule,owner\n");
    for (int64_t k = 0; k < J; k++) {
        job *j = &g->jobs[k];
        snprintf(j->id, sizeof j->id, "job-%04d", (int)k);
        snprintf(j->name, sizeof j->name, "%s_%s_%d", k % 2 ? "etl" : "sync", k_words[k % 10],
                 (int)k);
        j->period_ms = k_period_min[k % 5] * MIN_MS;
        j->next_regular_ms = g->t0_ms + (7 * k % (k_period_min[k % 5])) * MIN_MS;
        j->attempt = 1;
        j->base_min = 3.0 + (double)(37 * k % 60);
        j->cluster = (int)(k % 8);
        cn += (size_t)sprintf(csv + cn, "%s,%s,%" PRId64 "m,%s\n", j->id, j->name,
                              k_period_min[k % 5], k_owners[k % 6]);
    }
    int rc = -1;
    if (sl_landing_open(&g->runs, g->o.out, "runs", "runs", "ndjson", "dataops") ||
        sl_landing_open(&g->metrics, g->o.out, "metrics", "metrics", "ndjson", "dataops"))
        goto out;
    if (sl_landing_write_file(g->o.out, "jobs.csv", csv, cn, "dataops")) goto out;
    rc = 0;
out:
    free(csv);
    return rc;
}

static void status(const dataops_gen *g) {
    fprintf(stderr,
            "gen dataops: lines=%" PRId64 " runs=%" PRId64 " failed=%" PRId64 " samples=%" PRId64
            " files=%" PRId64 " malformed=%" PRId64 " duplicates=%" PRId64 " late=%" PRId64
            " bad_values=%" PRId64 " seconds=%.2f\n",
            g->line_no, g->n_runs, g->n_failed, g->n_samples, g->runs.files + g->metrics.files,
            g->n_malformed, g->n_dups, g->n_late, g->n_bad,
            (double)(sl_monotonic_us() - g->began_us) / 1e6);
}

static int emit_cb(void *g) { return emit_next(g); }
static int rotate_cb(void *g) { return rotate_all(g); }

int sl_gen_dataops_main(int argc, char **argv) {
    dataops_gen g;
    memset(&g, 0, sizeof g);
    g.o = (dataops_opts){.events = -1,
                         .seed = 1,
                         .jobs = 40,
                         .file_events = 500,
                         .files_per_minute = 60,
                         .jump_after = 7,
                         .start_ms = 1793491200000LL, /* 2026-11-01T00:00:00Z */
                         .malformed = 0.01,
                         .duplicates = 0.03,
                         .late = 0.005,
                         .bad_values = 0.002};
    int rc =
        sl_gen_parse_opts(argc, argv, "dataops",
                          "usage: sluice gen dataops --out DIR (--events N | --rate R "
                          "[--duration S]) [options]\n\n"
                          "Writes DIR/runs/*.ndjson (job runs), DIR/metrics/*.ndjson "
                          "(cluster metrics) and DIR/jobs.csv.\n",
                          k_opts, N_OPTS, &g.o, &g.o.out, &g.o.events, &g.o.rate, &g.o.duration);
    if (rc) return rc == 1 ? 0 : 2;
    g.began_us = sl_monotonic_us();
    int rate_mode = g.o.events < 0;
    if (g.o.serve && rate_mode) {
        fprintf(stderr, "gen dataops: --serve goes with --events (count mode)\n");
        return 2;
    }
    if (g.o.serve) g.api = sl_jobs_api_new();
    /* rate mode: the schedule starts now and runs as fast as lines are written */
    g.t0_ms = rate_mode ? sl_floor_div(sl_now_us(), SL_US_PER_MS) : g.o.start_ms;
    rc = 1;
    if (sl_gen_mkdir_p(g.o.out)) {
        fprintf(stderr, "gen dataops: cannot create folder %s: %s\n", g.o.out, strerror(errno));
        goto done;
    }
    if (setup(&g)) goto done;
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
    status(&g);
done:
    if (sl_landing_close(&g.runs, rc) || sl_landing_close(&g.metrics, rc)) rc = 1;
    if (rc == 0 && g.api) rc = sl_jobs_api_serve(g.api, g.o.serve, getenv("JOBS_API_TOKEN"));
    sl_jobs_api_free(g.api);
    free(g.jobs);
    return rc;
}
