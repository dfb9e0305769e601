/*
 * window_commit_bench.c - the cost of one commit's window work (emission and
 * snapshot) with many open groups of which few changed.
 *
 *   window_commit_bench [--groups N] [--changed K] [--commits C] [--reps R]
 *
 * A window {size: 1d, keys: [k], aggregates: count, sum, max, p99} holds N
 * open groups (default 100,000: N keys, 3 rows each, one window). Each
 * commit first adds one row to each of K random keys (default 100; not
 * timed: that is per-row work), then does what the engine's commit does
 * with a window (engine/run.c): sl_window_emit until it returns 0 into a
 * 4096-row batch, at a watermark that finalises nothing, and a snapshot into
 * a buffer. Timed: the emission and the snapshot, per commit; the figure is
 * the median over C commits (default 200), best of R runs (default 3).
 *
 * Built by CMake (target window_commit_bench) against whatever window.c the
 * tree has: with delta snapshots (window.h defines SL_WINDOW_SNAPSHOT_FORMAT)
 * a commit writes a delta, and a full snapshot every 60 commits, as the
 * engine does; the "amortised" column adds a 60th of the full snapshot.
 * Before delta snapshots every commit wrote a full one. The same source
 * builds against both, for before/after figures.
 *
 * Prints one Markdown table row (header with --header).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/batch.h"
#include "ops/op.h"
#include "ops/window.h"
#include "spec/spec.h"

#define T0 1767225600000000LL
#define BATCH 4096
#define FULL_EVERY 60 /* as engine/run.c */

static uint64_t rs = 0x9E3779B97F4A7C15ULL;
static uint64_t rnext(void) {
    uint64_t z = (rs += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void die(const char *what, const char *msg) {
    fprintf(stderr, "window_commit_bench: %s: %s\n", what, msg);
    exit(1);
}

static char (*keynames)[16];

static void add_row(sl_batch *b, int k, double v) {
    uint32_t r = sl_batch_append_null_row(b);
    sl_col_set_int(&b->col[0], r, T0 + (int64_t)(rnext() % 3600000000ULL));
    sl_col_set_str(&b->col[1], r, keynames[k], (uint32_t)strlen(keynames[k]));
    sl_col_set_double(&b->col[2], r, v);
}

static int snapshot(sl_window *w, sl_buf *buf, int commit) {
    buf->n = 0;
#ifdef SL_WINDOW_SNAPSHOT_FORMAT
    return sl_window_snapshot(w, buf, commit % FULL_EVERY == FULL_EVERY - 1);
#else
    (void)commit;
    return sl_window_snapshot(w, buf);
#endif
}

typedef struct {
    double emit_us, snap_us, commit_us; /* medians over the commits that wrote a delta (or all) */
    double full_us;                     /* a full snapshot */
    double bytes, full_bytes;           /* snapshot bytes per commit (median), of a full one */
    double rows;                        /* rows emitted per commit */
} result;

static result run(int groups, int changed, int commits) {
    sl_schema in;
    sl_schema_init(&in);
    sl_schema_add(&in, "ts", SL_T_TS);
    sl_schema_add(&in, "k", SL_T_STRING);
    sl_schema_add(&in, "v", SL_T_DOUBLE);
    const char *doc =
        "w: {time: ts, size: 1d, keys: [k], aggregates: {n: \"count(*)\", s: \"sum(v)\", "
        "mx: \"max(v)\", p99: \"p99(v)\"}}\n";
    sl_error e = {0};
    sl_spec *spec = sl_spec_load_mem("bench.yaml", doc, strlen(doc), NULL, &e);
    if (!spec) die("spec", e.msg);
    sl_window *w = sl_window_create(sl_node_get(sl_spec_root(spec), "w"), &in, &e);
    if (!w) die("window", e.msg);
    sl_op_ctx ctx = {0};
    sl_batch *b = sl_batch_new(&in, BATCH);
    for (int rep = 0; rep < 3; rep++)
        for (int k = 0; k < groups; k++) {
            if (b->n == BATCH) {
                if (sl_window_process(w, b, &ctx)) die("process", "failed");
                sl_batch_clear(b);
            }
            add_row(b, k, (double)(rnext() % 10000) / 10.0);
        }
    if (sl_window_process(w, b, &ctx)) die("process", "failed");
    if ((int)sl_window_groups(w) != groups) die("setup", "unexpected group count");
    sl_batch *out = sl_batch_new(sl_window_schema(w), BATCH);
    int64_t wm = T0 + 3600000000LL; /* the window ends a day later: nothing final */
    sl_buf buf = {0};
    while (sl_window_emit(w, out, wm, false) > 0) {
    }
#ifdef SL_WINDOW_SNAPSHOT_FORMAT
    sl_window_snapshot(w, &buf, true); /* the chain starts */
#endif
    /* the changed rows, built before timing */
    sl_batch **cb = malloc((size_t)commits * sizeof *cb);
    for (int c = 0; c < commits; c++) {
        cb[c] = sl_batch_new(&in, (uint32_t)changed);
        for (int i = 0; i < changed; i++)
            add_row(cb[c], (int)(rnext() % (uint64_t)groups), (double)(rnext() % 10000) / 10.0);
    }
    double *emit_t = malloc((size_t)commits * sizeof(double)),
           *snap_t = malloc((size_t)commits * sizeof(double));
    double *tot_t = malloc((size_t)commits * sizeof(double)),
           *bytes = malloc((size_t)commits * sizeof(double));
    int nd = 0;
    long rows = 0;
    result r = {0};
    for (int c = 0; c < commits; c++) {
        if (sl_window_process(w, cb[c], &ctx)) die("process", "failed");
        double t0 = now();
        uint32_t n;
        while ((n = sl_window_emit(w, out, wm, false)) > 0)
            rows += n;
        double t1 = now();
        snapshot(w, &buf, c);
        double t2 = now();
#ifdef SL_WINDOW_SNAPSHOT_FORMAT
        if (c % FULL_EVERY == FULL_EVERY - 1) { /* the full one: kept apart */
            r.full_us = (t2 - t1) * 1e6;
            r.full_bytes = (double)buf.n;
            continue;
        }
#endif
        emit_t[nd] = (t1 - t0) * 1e6;
        snap_t[nd] = (t2 - t1) * 1e6;
        tot_t[nd] = (t2 - t0) * 1e6;
        bytes[nd++] = (double)buf.n;
    }
    qsort(emit_t, (size_t)nd, sizeof(double), cmp_double);
    qsort(snap_t, (size_t)nd, sizeof(double), cmp_double);
    qsort(tot_t, (size_t)nd, sizeof(double), cmp_double);
    qsort(bytes, (size_t)nd, sizeof(double), cmp_double);
    r.emit_us = emit_t[nd / 2];
    r.snap_us = snap_t[nd / 2];
    r.commit_us = tot_t[nd / 2];
    r.bytes = bytes[nd / 2];
    r.rows = (double)rows / commits;
#ifndef SL_WINDOW_SNAPSHOT_FORMAT
    r.full_us = r.snap_us;
    r.full_bytes = r.bytes;
#endif
    for (int c = 0; c < commits; c++)
        sl_batch_free(cb[c]);
    free(cb), free(emit_t), free(snap_t), free(tot_t), free(bytes);
    sl_buf_free(&buf);
    sl_batch_free(out);
    sl_batch_free(b);
    sl_window_free(w);
    sl_spec_free(spec);
    return r;
}

int main(int argc, char **argv) {
    int groups = 100000, changed = 100, commits = 200, reps = 3, header = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--header"))
            header = 1;
        else if (i + 1 < argc && !strcmp(argv[i], "--groups"))
            groups = atoi(argv[++i]);
        else if (i + 1 < argc && !strcmp(argv[i], "--changed"))
            changed = atoi(argv[++i]);
        else if (i + 1 < argc && !strcmp(argv[i], "--commits"))
            commits = atoi(argv[++i]);
        else if (i + 1 < argc && !strcmp(argv[i], "--reps"))
            reps = atoi(argv[++i]);
        else {
            fprintf(stderr, "usage: window_commit_bench [--groups N] [--changed K] [--commits C] "
                            "[--reps R] [--header]\n");
            return 2;
        }
    }
    if (groups < 1 || changed < 1 || changed > groups || commits < FULL_EVERY || reps < 1) return 2;
    keynames = malloc((size_t)groups * sizeof *keynames);
    for (int k = 0; k < groups; k++)
        snprintf(keynames[k], sizeof keynames[k], "key-%d", k);
    result best = {0};
    for (int i = 0; i < reps; i++) {
        result r = run(groups, changed, commits);
        if (i == 0 || r.commit_us < best.commit_us) best = r;
    }
#ifdef SL_WINDOW_SNAPSHOT_FORMAT
    const char *build = "delta snapshots";
#else
    const char *build = "full snapshots";
#endif
    double amortised = best.commit_us + (best.full_us - best.snap_us) / FULL_EVERY;
    if (header) {
        printf("| window.c | open groups | changed/commit | rows emitted/commit | emit us | "
               "snapshot us | commit us "
               "(median) | commit us amortised | snapshot bytes/commit | full snapshot us | full "
               "snapshot bytes |\n");
        printf("|---|---|---|---|---|---|---|---|---|---|---|\n");
    }
    printf("| %s | %d | %d | %.0f | %.1f | %.1f | %.1f | %.1f | %.0f | %.0f | %.0f |\n", build,
           groups, changed, best.rows, best.emit_us, best.snap_us, best.commit_us, amortised,
           best.bytes, best.full_us, best.full_bytes);
    free(keynames);
    return 0;
}
