/*
 * test_window_sketch.c - the window operator's sketch aggregates against brute
 * force: quantiles (DDSketch) within the declared 1% relative error of the
 * exact rank-floor(q*(n-1)) value on heavy-tailed data, stddev/variance
 * (Welford) exact to 1e-9, approx_count_distinct (HyperLogLog) within 3
 * standard errors and exact below 1024, first/last by event time, and a
 * snapshot/restore in the middle giving the same final rows.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/batch.h"
#include "core/timeutil.h"
#include "ops/op.h"
#include "ops/window.h"
#include "spec/spec.h"

#define N 60000
#define T0 1767225600000000LL /* 2026-01-01T00:00:00Z */

static uint64_t rng = 88172645463325252ULL;
static double urand(void) {
    rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
    return (double)(rng >> 11) / 9007199254740992.0;
}

static int cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static sl_window *make(const sl_schema *in, sl_spec **spec) {
    const char *doc = "w: {time: ts, size: 1h, keys: [k], aggregates: {"
                      "p50: \"median(v)\", p99: \"p99(v)\", q999: \"quantile(v, 0.999)\", "
                      "sd: \"stddev(v)\", var: \"variance(v)\", hc: \"approx_count_distinct(id)\", "
                      "f: \"first(id)\", l: \"last(id)\", n: \"count(*)\"}}\n";
    sl_error e = {0};
    *spec = sl_spec_load_mem("w.yaml", doc, strlen(doc), NULL, &e);
    assert_non_null(*spec);
    sl_window *w = sl_window_create(sl_node_get(sl_spec_root(*spec), "w"), in, &e);
    if (!w) fail_msg("%s", e.msg);
    return w;
}

static void feed(sl_window *w, const sl_schema *in, const double *v, const int64_t *id,
                 const int64_t *t, int from, int to) {
    sl_batch *b = sl_batch_new(in, 1024);
    sl_op_ctx ctx = {0};
    for (int i = from; i < to;) {
        sl_batch_clear(b);
        for (; i < to && b->n < b->cap; i++) {
            uint32_t r = sl_batch_append_null_row(b);
            sl_col_set_int(&b->col[0], r, t[i]);
            sl_col_set_str(&b->col[1], r, (i % 2) ? "x" : "y", 1);
            sl_col_set_double(&b->col[2], r, v[i]);
            sl_col_set_int(&b->col[3], r, id[i]);
        }
        assert_int_equal(sl_window_process(w, b, &ctx), 0);
    }
    sl_batch_free(b);
}

static void check(sl_window *w, const double *v, const int64_t *id, const int64_t *t) {
    sl_batch *out = sl_batch_new(sl_window_schema(w), 64);
    uint32_t got = sl_window_emit(w, out, INT64_MIN, true);
    assert_int_equal(got, 2);
    const sl_schema *os = sl_window_schema(w);
    for (uint32_t r = 0; r < out->n; r++) {
        const char *k = out->col[sl_schema_find(os, "k")].v.s[r].ptr;
        int parity = k[0] == 'x';
        double *xs = malloc(N * sizeof *xs);
        int n = 0;
        double mean = 0, m2 = 0;
        int64_t first_t = INT64_MAX, last_t = INT64_MIN, first_id = 0, last_id = 0;
        for (int i = 0; i < N; i++) {
            if ((i % 2) != parity) continue;
            xs[n++] = v[i];
            if (t[i] < first_t) first_t = t[i], first_id = id[i];
            if (t[i] >= last_t) last_t = t[i], last_id = id[i];
        }
        for (int i = 0; i < n; i++)
            mean += xs[i] / n;
        for (int i = 0; i < n; i++)
            m2 += (xs[i] - mean) * (xs[i] - mean);
        qsort(xs, (size_t)n, sizeof *xs, cmp_d);
        struct {
            const char *col;
            double q;
        } qs[] = {{"p50", 0.5}, {"p99", 0.99}, {"q999", 0.999}};
        for (int k2 = 0; k2 < 3; k2++) {
            double exact = xs[(int)floor(qs[k2].q * (n - 1))];
            double est = out->col[sl_schema_find(os, qs[k2].col)].v.d[r];
            if (fabs(est - exact) > 0.01 * fabs(exact) * (1 + 1e-12))
                fail_msg("%s: estimate %.9g, exact %.9g (more than 1%% off)", qs[k2].col, est,
                         exact);
        }
        double var = m2 / (n - 1);
        assert_true(fabs(out->col[sl_schema_find(os, "var")].v.d[r] - var) <= 1e-9 * var);
        assert_true(fabs(out->col[sl_schema_find(os, "sd")].v.d[r] - sqrt(var)) <=
                    1e-9 * sqrt(var));
        /* ids: distinct per parity = n (all ids distinct) */
        double hc = (double)out->col[sl_schema_find(os, "hc")].v.i[r];
        double se = 1.04 / sqrt(16384.0);
        assert_true(fabs(hc - n) <= 3 * se * n);
        assert_int_equal(out->col[sl_schema_find(os, "f")].v.i[r], first_id);
        assert_int_equal(out->col[sl_schema_find(os, "l")].v.i[r], last_id);
        assert_int_equal(out->col[sl_schema_find(os, "n")].v.i[r], n);
        free(xs);
    }
    sl_batch_free(out);
}

static void gen(double *v, int64_t *id, int64_t *t) {
    for (int i = 0; i < N; i++) {
        /* heavy tail: lognormal-ish latencies times a Pareto factor, some tiny */
        double u1 = urand() + 1e-12, u2 = urand();
        double z = sqrt(-2 * log(u1)) * cos(6.283185307179586 * u2);
        v[i] = exp(3 + 1.5 * z) * (urand() < 0.05 ? 1.0 / pow(urand() + 1e-9, 0.8) : 1.0);
        id[i] = 1000003LL * i + 17;
        t[i] = T0 + (int64_t)(urand() * 3500e6); /* out of order within the hour */
    }
}

static void test_sketch_aggregates(void **state) {
    (void)state;
    sl_schema in;
    sl_schema_init(&in);
    sl_schema_add(&in, "ts", SL_T_TS);
    sl_schema_add(&in, "k", SL_T_STRING);
    sl_schema_add(&in, "v", SL_T_DOUBLE);
    sl_schema_add(&in, "id", SL_T_INT);
    double *v = malloc(N * sizeof *v);
    int64_t *id = malloc(N * sizeof *id), *t = malloc(N * sizeof *t);
    gen(v, id, t);
    sl_spec *spec;
    sl_window *w = make(&in, &spec);
    feed(w, &in, v, id, t, 0, N);
    check(w, v, id, t);
    sl_window_free(w);
    sl_spec_free(spec);

    /* the same with a snapshot/restore half way: identical guarantees */
    w = make(&in, &spec);
    feed(w, &in, v, id, t, 0, N / 2);
    sl_buf buf = {0};
    assert_int_equal(sl_window_snapshot(w, &buf, true), 0);
    sl_window_free(w);
    sl_spec *spec2;
    w = make(&in, &spec2);
    sl_error e = {0};
    assert_int_equal(sl_window_restore(w, buf.p, buf.n, true, &e), 0);
    feed(w, &in, v, id, t, N / 2, N);
    check(w, v, id, t);
    sl_window_free(w);
    sl_buf_free(&buf);
    sl_spec_free(spec);
    sl_spec_free(spec2);
    free(v), free(id), free(t);
}

static void test_bad_quantile(void **state) {
    (void)state;
    sl_schema in;
    sl_schema_init(&in);
    sl_schema_add(&in, "ts", SL_T_TS);
    sl_schema_add(&in, "v", SL_T_DOUBLE);
    const char *bad[] = {"quantile(v)", "quantile(v, 2)", "quantile(v, x)", "p99(ts)",
                         "stddev(ts)"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char doc[256];
        snprintf(doc, sizeof doc, "w: {time: ts, size: 1m, aggregates: {x: \"%s\"}}\n", bad[i]);
        sl_error e = {0};
        sl_spec *s = sl_spec_load_mem("w.yaml", doc, strlen(doc), NULL, &e);
        sl_window *w = sl_window_create(sl_node_get(sl_spec_root(s), "w"), &in, &e);
        if (w) fail_msg("accepted %s", bad[i]);
        assert_non_null(strstr(e.msg, "w.yaml:1:"));
        sl_spec_free(s);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sketch_aggregates),
        cmocka_unit_test(test_bad_quantile),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
