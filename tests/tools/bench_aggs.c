/*
 * bench_aggs.c - cost per record and memory per window-key of each window
 * aggregate, one aggregate at a time (for `make bench`, bench/run.sh).
 *
 *   bench_aggs [--rows N] [--keys K] [--only NAME] [--reps R]
 *
 * For every aggregate the window operator offers, builds a window with that
 * aggregate alone (size 1 day, keys: [k], so every key is one group of one
 * window) and feeds it the same fixed input through sl_window_process:
 * N rows (default 1,000,000) in batches of 4096, K keys (default 1000) drawn
 * uniformly, value = heavy-tailed (lognormal sigma 1.5, 5% Pareto tail),
 * user = uniform in 1..1e6, score = 0..19, event times rising. The batches
 * are built before timing, so the figure is the operator's: the argument
 * expressions (column reads), the group lookup and the aggregate update.
 * Best of R runs (default 3). Memory is sl_window_state_bytes() divided by
 * the number of groups, i.e. everything a window-key costs (group slot,
 * index entry, key string, aggregate state); the "state" column subtracts
 * the same figure for count(*), leaving the aggregate's own share.
 *
 * Prints a Markdown table. A last line measures the DDSketch alone at its
 * worst: one key receiving all N values (the bytes of one p99 state). With
 * --only NAME one aggregate runs once (for callgrind: bench/run.sh divides
 * its instruction count by N).
 */
#include <math.h>
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

static const struct {
    const char *name, *expr;
} AGGS[] = {
    {"count(*)", "count(*)"},
    {"count(x)", "count(v)"},
    {"sum", "sum(v)"},
    {"avg", "avg(v)"},
    {"min", "min(v)"},
    {"max", "max(v)"},
    {"stddev", "stddev(v)"},
    {"variance", "variance(v)"},
    {"p99 (quantile, 1%)", "p99(v)"},
    {"p99 (quantile, 0.1%)", "p99(v)"},
    {"count_distinct", "count_distinct(user)"},
    {"approx_count_distinct", "approx_count_distinct(user)"},
    {"first", "first(v)"},
    {"last", "last(v)"},
    {"min_by", "min_by(user, score)"},
    {"max_by", "max_by(user, v)"},
};
#define NAGGS (sizeof AGGS / sizeof AGGS[0])

static uint64_t rs = 0x853c49e6748fea9bULL;
static uint64_t rnext(void) {
    uint64_t z = (rs += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}
static double unif(void) { return ((double)(rnext() >> 11) + 0.5) * 0x1.0p-53; }

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static sl_schema schema(void) {
    sl_schema s;
    sl_schema_init(&s);
    sl_schema_add(&s, "ts", SL_T_TS);
    sl_schema_add(&s, "k", SL_T_STRING);
    sl_schema_add(&s, "v", SL_T_DOUBLE);
    sl_schema_add(&s, "user", SL_T_INT);
    sl_schema_add(&s, "score", SL_T_INT);
    return s;
}

static char keynames[100000][8];

static sl_batch **make_input(const sl_schema *in, long rows, int keys, int *nb) {
    *nb = (int)((rows + BATCH - 1) / BATCH);
    sl_batch **b = malloc((size_t)*nb * sizeof *b);
    for (int k = 0; k < keys; k++)
        snprintf(keynames[k], sizeof keynames[k], "k%d", k);
    long r = 0;
    for (int i = 0; i < *nb; i++) {
        b[i] = sl_batch_new(in, BATCH);
        for (; r < rows && b[i]->n < BATCH; r++) {
            uint32_t x = sl_batch_append_null_row(b[i]);
            int k = (int)(rnext() % (uint64_t)keys);
            double z = sqrt(-2 * log(unif())) * cos(6.283185307179586 * unif());
            double v = exp(3 + 1.5 * z);
            if (unif() < 0.05) v = 100 / pow(unif(), 1 / 1.2);
            sl_col_set_int(&b[i]->col[0], x, T0 + r * 1000);
            sl_col_set_str(&b[i]->col[1], x, keynames[k], (uint32_t)strlen(keynames[k]));
            sl_col_set_double(&b[i]->col[2], x, v);
            sl_col_set_int(&b[i]->col[3], x, 1 + (int64_t)(rnext() % 1000000));
            sl_col_set_int(&b[i]->col[4], x, (int64_t)(rnext() % 20));
        }
    }
    return b;
}

/* Runs aggregate a over the input; returns seconds, *bytes = state bytes, *groups. */
static double run(size_t a, const sl_schema *in, sl_batch **b, int nb, size_t *bytes,
                  size_t *groups) {
    char doc[512];
    snprintf(doc, sizeof doc,
             "w: {time: ts, size: 1d, keys: [k], accuracy: %s, aggregates: {x: \"%s\"}}\n",
             strstr(AGGS[a].name, "0.1%") ? "0.001" : "0.01", AGGS[a].expr);
    sl_error e = {0};
    sl_spec *spec = sl_spec_load_mem("bench.yaml", doc, strlen(doc), NULL, &e);
    if (!spec) {
        fprintf(stderr, "bench_aggs: %s\n", e.msg);
        exit(1);
    }
    sl_window *w = sl_window_create(sl_node_get(sl_spec_root(spec), "w"), in, &e);
    if (!w) {
        fprintf(stderr, "bench_aggs: %s\n", e.msg);
        exit(1);
    }
    sl_op_ctx ctx = {0};
    double t0 = now();
    for (int i = 0; i < nb; i++)
        if (sl_window_process(w, b[i], &ctx)) exit(1);
    double dt = now() - t0;
    *bytes = sl_window_state_bytes(w);
    *groups = sl_window_groups(w);
    sl_window_free(w);
    sl_spec_free(spec);
    return dt;
}

int main(int argc, char **argv) {
    long rows = 1000000;
    int keys = 1000, reps = 3;
    const char *only = NULL;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--rows"))
            rows = atol(argv[i + 1]);
        else if (!strcmp(argv[i], "--keys"))
            keys = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--reps"))
            reps = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--only"))
            only = argv[i + 1];
        else {
            fprintf(stderr, "usage: bench_aggs [--rows N] [--keys K] [--reps R] [--only NAME]\n");
            return 2;
        }
    }
    if (rows < 1 || keys < 1 || keys > 100000 || reps < 1) return 2;
    sl_schema in = schema();
    int nb;
    sl_batch **b = make_input(&in, rows, keys, &nb);
    size_t bytes, groups;
    if (only) {
        for (size_t a = 0; a < NAGGS; a++)
            if (!strcmp(AGGS[a].name, only)) {
                run(a, &in, b, nb, &bytes, &groups);
                return 0;
            }
        fprintf(stderr, "bench_aggs: no aggregate '%s'\n", only);
        return 2;
    }
    printf("| aggregate | ns/record | ns/record over count(*) | bytes/window-key | "
           "bytes/window-key over count(*) |\n");
    printf("|---|---|---|---|---|\n");
    double base_ns = 0;
    size_t base_bytes = 0;
    for (size_t a = 0; a < NAGGS; a++) {
        double best = 1e30;
        for (int r = 0; r < reps; r++) {
            double dt = run(a, &in, b, nb, &bytes, &groups);
            if (dt < best) best = dt;
        }
        double ns = best * 1e9 / (double)rows;
        double per = (double)bytes / (double)groups;
        if (a == 0) base_ns = ns, base_bytes = bytes;
        printf("| %s | %.1f | %.1f | %.0f | %.0f |\n", AGGS[a].name, ns, ns - base_ns, per,
               ((double)bytes - (double)base_bytes) / (double)groups);
    }
    /* the DDSketch's worst case in this data: one key with every value */
    for (int i = 0; i < nb; i++)
        for (uint32_t r = 0; r < b[i]->n; r++)
            sl_col_set_str(&b[i]->col[1], r, "k0", 2);
    size_t b1, g1, b0, g0;
    run(0, &in, b, nb, &b0, &g0);
    run(8, &in, b, nb, &b1, &g1);
    printf("\nDDSketch at 1%%, one key with all %ld values: %zu bytes of state (target <= 2048).\n",
           rows, b1 - b0);
    for (int i = 0; i < nb; i++)
        sl_batch_free(b[i]);
    free(b);
    return 0;
}
