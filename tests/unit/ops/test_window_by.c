/*
 * test_window_by.c - min_by / max_by window aggregates against brute force,
 * and the window's `accuracy` option for quantiles.
 *
 * The declared tie rule (window.c): the winner is the row with the smallest
 * (min_by) or largest (max_by) order value; on equal order the earliest
 * event time; on equal event time the smallest value (NULL first, doubles in
 * IEEE total order, strings bytewise). Rows with a NULL or NaN order are
 * ignored. The data here is built to tie a lot (order values from a small
 * range, event times on whole seconds, repeated values), and the same rows
 * are fed in three arrival orders, in batches of different sizes, with a
 * snapshot/restore in the middle, and through a 1h rollup of 5-minute
 * windows: every output must equal the brute-force winner.
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
#include "ops/op.h"
#include "ops/window.h"
#include "spec/spec.h"

#define N 20000
#define T0 1767225600000000LL /* 2026-01-01T00:00:00Z */
#define W5 300000000LL        /* 5 minutes in µs */
#define H1 3600000000LL

static uint64_t rng = 0x2545F4914F6CDD1DULL;
static uint64_t rnext(void) {
    rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
    return rng;
}
static double urand(void) { return (double)(rnext() >> 11) / 9007199254740992.0; }

static const char *names[] = {"alpha", "beta", "b", "", "gamma", "alp"};
#define NNAMES 6
static const char *keys[] = {"x", "y", "z"};

typedef struct {
    int64_t t;   /* event time, µs */
    int k;       /* key index */
    int o_null;  /* o is NULL */
    int64_t o;   /* int order */
    double od;   /* double order (NaN sometimes) */
    int id_null; /* id is NULL */
    int64_t id;
    int name; /* index into names */
    double dv;
} row;

static row R[N];

static void gen(void) {
    for (int i = 0; i < N; i++) {
        row *r = &R[i];
        r->t = T0 + (int64_t)(rnext() % 7200) * 1000000; /* two hours, whole seconds */
        r->k = (int)(rnext() % 3);
        r->o_null = urand() < 0.03;
        r->o = (int64_t)(rnext() % 20) - 5;
        double u = urand();
        r->od = u < 0.03 ? NAN : (double)(rnext() % 15) / 2.0 - 3;
        r->id_null = urand() < 0.05;
        r->id = (int64_t)(rnext() % 500) - 100;
        r->name = (int)(rnext() % NNAMES);
        double d = urand();
        r->dv = d < 0.1 ? -0.0 : d < 0.2 ? 0.0 : (double)(rnext() % 7) - 3.5;
    }
}

static sl_schema in_schema(void) {
    sl_schema in;
    sl_schema_init(&in);
    sl_schema_add(&in, "ts", SL_T_TS);
    sl_schema_add(&in, "k", SL_T_STRING);
    sl_schema_add(&in, "o", SL_T_INT);
    sl_schema_add(&in, "od", SL_T_DOUBLE);
    sl_schema_add(&in, "id", SL_T_INT);
    sl_schema_add(&in, "name", SL_T_STRING);
    sl_schema_add(&in, "dv", SL_T_DOUBLE);
    return in;
}

static const char *DOC = "w: {time: ts, size: 5m, keys: [k], aggregates: {"
                         "mi: \"min_by(id, o)\", ma: \"max_by(id, o)\", ms: \"max_by(name, od)\", "
                         "mn: \"min_by(name, o)\", md: \"min_by(dv, od)\", xd: \"max_by(dv, o)\", "
                         "mt: \"max_by(ts, o * 2)\", n: \"count(*)\"}}\n";

static sl_window *make(const sl_schema *in, sl_spec **spec) {
    sl_error e = {0};
    *spec = sl_spec_load_mem("w.yaml", DOC, strlen(DOC), NULL, &e);
    assert_non_null(*spec);
    sl_window *w = sl_window_create(sl_node_get(sl_spec_root(*spec), "w"), in, &e);
    if (!w) fail_msg("%s", e.msg);
    return w;
}

static void feed(sl_window *w, const sl_schema *in, const int *perm, int from, int to,
                 uint32_t bs) {
    sl_batch *b = sl_batch_new(in, bs);
    sl_op_ctx ctx = {0};
    for (int j = from; j < to;) {
        sl_batch_clear(b);
        for (; j < to && b->n < b->cap; j++) {
            const row *r = &R[perm[j]];
            uint32_t x = sl_batch_append_null_row(b);
            sl_col_set_int(&b->col[0], x, r->t);
            sl_col_set_str(&b->col[1], x, keys[r->k], 1);
            if (!r->o_null) sl_col_set_int(&b->col[2], x, r->o);
            sl_col_set_double(&b->col[3], x, r->od);
            if (!r->id_null) sl_col_set_int(&b->col[4], x, r->id);
            sl_col_set_str(&b->col[5], x, names[r->name], (uint32_t)strlen(names[r->name]));
            sl_col_set_double(&b->col[6], x, r->dv);
        }
        assert_int_equal(sl_window_process(w, b, &ctx), 0);
    }
    sl_batch_free(b);
}

/* ---- brute force -------------------------------------------------------- */

enum { V_ID, V_NAME, V_DV, V_TS };
enum { O_INT, O_DBL, O_INT2 };

static double ordv(const row *r, int ot) {
    return ot == O_DBL ? r->od : (double)r->o * (ot == O_INT2 ? 2 : 1);
}
static int ordnull(const row *r, int ot) { return ot == O_DBL ? isnan(r->od) : r->o_null; }

/* value comparison for the last tie-break: -1, 0, 1; NULL first */
static int vcmp(const row *a, const row *b, int vt) {
    switch (vt) {
    case V_ID:
        if (a->id_null || b->id_null) return b->id_null - a->id_null;
        return a->id < b->id ? -1 : a->id > b->id;
    case V_NAME:
        return strcmp(names[a->name], names[b->name]) < 0
                   ? -1
                   : strcmp(names[a->name], names[b->name]) > 0;
    case V_DV: {
        /* total order: -0 before +0 */
        if (a->dv != b->dv) return a->dv < b->dv ? -1 : 1;
        return signbit(a->dv) == signbit(b->dv) ? 0 : signbit(a->dv) ? -1 : 1;
    }
    default:
        return a->t < b->t ? -1 : a->t > b->t;
    }
}

/* index of the brute-force winner among rows of key k with ws <= t < ws+size; -1 if none */
static int winner(int k, int64_t ws, int64_t size, int max, int ot, int vt) {
    int best = -1;
    for (int i = 0; i < N; i++) {
        const row *r = &R[i];
        if (r->k != k || r->t < ws || r->t >= ws + size || ordnull(r, ot)) continue;
        if (best < 0) {
            best = i;
            continue;
        }
        const row *b = &R[best];
        double x = ordv(r, ot), y = ordv(b, ot);
        int better;
        if (x != y)
            better = max ? x > y : x < y;
        else if (r->t != b->t)
            better = r->t < b->t;
        else
            better = vcmp(r, b, vt) < 0;
        if (better) best = i;
    }
    return best;
}

static void check_rows(const sl_batch *out, const sl_schema *os, int64_t size, int *rows_seen) {
    struct {
        const char *col;
        int max, ot, vt;
    } aggs[] = {{"mi", 0, O_INT, V_ID},   {"ma", 1, O_INT, V_ID}, {"ms", 1, O_DBL, V_NAME},
                {"mn", 0, O_INT, V_NAME}, {"md", 0, O_DBL, V_DV}, {"xd", 1, O_INT, V_DV},
                {"mt", 1, O_INT2, V_TS}};
    int64_t prev = INT64_MIN;
    for (uint32_t r = 0; r < out->n; r++) {
        int64_t ws = out->col[0].v.i[r];
        assert_true(ws >= prev); /* emitted in window-start order */
        prev = ws;
        const char *kk = out->col[sl_schema_find(os, "k")].v.s[r].ptr;
        int k = kk[0] - 'x';
        for (size_t a = 0; a < sizeof aggs / sizeof aggs[0]; a++) {
            int c = sl_schema_find(os, aggs[a].col);
            int wi = winner(k, ws, size, aggs[a].max, aggs[a].ot, aggs[a].vt);
            const sl_column *col = &out->col[c];
            if (wi < 0 || (aggs[a].vt == V_ID && R[wi].id_null)) {
                if (!col->null[r])
                    fail_msg("%s at %lld/%s: expected NULL", aggs[a].col, (long long)ws, kk);
                continue;
            }
            if (col->null[r])
                fail_msg("%s at %lld/%s: unexpected NULL", aggs[a].col, (long long)ws, kk);
            const row *w = &R[wi];
            switch (aggs[a].vt) {
            case V_ID:
                if (col->v.i[r] != w->id)
                    fail_msg("%s at %lld/%s: got %lld, expected %lld", aggs[a].col, (long long)ws,
                             kk, (long long)col->v.i[r], (long long)w->id);
                break;
            case V_NAME:
                assert_int_equal(col->v.s[r].len, strlen(names[w->name]));
                assert_memory_equal(col->v.s[r].ptr, names[w->name], col->v.s[r].len);
                break;
            case V_DV:
                assert_memory_equal(&col->v.d[r], &w->dv, 8); /* -0.0 and 0.0 told apart */
                break;
            default:
                assert_int_equal(col->v.i[r], w->t);
            }
        }
        (*rows_seen)++;
    }
}

/* Emits everything final from w (and from its rollup, if any) and checks it. */
static void drain_and_check(sl_window *w, sl_window *roll) {
    int seen = 0, seen_roll = 0;
    sl_batch *out = sl_batch_new(sl_window_schema(w), 16); /* small: several emit calls */
    sl_batch *rout = roll ? sl_batch_new(sl_window_schema(roll), 16) : NULL;
    while (sl_window_emit(w, out, INT64_MIN, true) > 0)
        check_rows(out, sl_window_schema(w), W5, &seen);
    assert_int_equal(seen, 24 * 3); /* every 5-minute window of 2 h has rows of every key */
    if (roll) {
        while (sl_window_emit(roll, rout, INT64_MIN, true) > 0)
            check_rows(rout, sl_window_schema(roll), H1, &seen_roll);
        assert_int_equal(seen_roll, 2 * 3);
    }
    sl_batch_free(out);
    sl_batch_free(rout);
}

static void test_by_brute_force(void **state) {
    (void)state;
    gen();
    sl_schema in = in_schema();
    int *perm = malloc(N * sizeof *perm);
    for (int order = 0; order < 3; order++) {
        for (int i = 0; i < N; i++)
            perm[i] = order == 1 ? N - 1 - i : i;
        if (order == 2)
            for (int i = N - 1; i > 0; i--) {
                int j = (int)(rnext() % (uint64_t)(i + 1)), t = perm[i];
                perm[i] = perm[j], perm[j] = t;
            }
        sl_spec *spec;
        sl_window *w = make(&in, &spec);
        sl_error e = {0};
        sl_window *roll = sl_window_create_rollup(w, H1, &e);
        assert_non_null(roll);
        feed(w, &in, perm, 0, N, order == 2 ? 7 : 1024);
        drain_and_check(w, roll);
        sl_window_free(roll);
        sl_window_free(w);
        sl_spec_free(spec);
    }
    free(perm);
}

static void test_by_snapshot(void **state) {
    (void)state;
    gen();
    sl_schema in = in_schema();
    int *perm = malloc(N * sizeof *perm);
    for (int i = 0; i < N; i++)
        perm[i] = (int)(((int64_t)i * 7919) % N); /* 7919 is prime, coprime with N */
    sl_spec *spec, *spec2;
    sl_window *w = make(&in, &spec);
    feed(w, &in, perm, 0, N / 3, 500);
    sl_buf buf = {0};
    assert_int_equal(sl_window_snapshot(w, &buf, true), 0);
    sl_window_free(w);
    sl_spec_free(spec);
    w = make(&in, &spec2);
    sl_error e = {0};
    assert_int_equal(sl_window_restore(w, buf.p, buf.n, true, &e), 0);
    sl_window *roll = sl_window_create_rollup(w, H1, &e);
    feed(w, &in, perm, N / 3, N, 333);
    drain_and_check(w, roll);
    /* a truncated snapshot is refused, never read past its end */
    sl_window *w3 = make(&in, &spec);
    sl_spec_free(spec);
    for (size_t cut = buf.n - 40; cut < buf.n; cut += 3) {
        e.code = 0;
        assert_int_equal(sl_window_restore(w3, buf.p, cut, true, &e), SL_ECORRUPT);
    }
    sl_window_free(w3);
    sl_buf_free(&buf);
    sl_window_free(roll);
    sl_window_free(w);
    sl_spec_free(spec2);
    free(perm);
}

/* Hand-made cases: every rule on a few rows. */
static void test_by_rules(void **state) {
    (void)state;
    sl_schema in = in_schema();
    memset(R, 0, sizeof R);
    /* key x, window 0: o ties at 3 (max) between rows 1 and 2 at the same time; row 2 has the
     * smaller id */
    row rows[] = {
        {.t = T0 + 5, .k = 0, .o = 1, .od = 1, .id = 50, .name = 0, .dv = 1},
        {.t = T0 + 9, .k = 0, .o = 3, .od = 2, .id = 40, .name = 1, .dv = 2},
        {.t = T0 + 9, .k = 0, .o = 3, .od = 2, .id = 30, .name = 2, .dv = 3},
        {.t = T0 + 8, .k = 0, .o_null = 1, .od = NAN, .id = 99, .name = 4, .dv = 9}, /* ignored */
        {.t = T0 + 1, .k = 1, .o = 7, .od = NAN, .id_null = 1, .name = 3, .dv = -1}, /* y: NULL id
                                                                                        wins */
    };
    int nr = (int)(sizeof rows / sizeof rows[0]);
    for (int i = 0; i < nr; i++)
        R[i] = rows[i];
    int perm[5] = {4, 3, 2, 1, 0};
    sl_spec *spec;
    sl_window *w = make(&in, &spec);
    feed(w, &in, perm, 0, nr, 2);
    sl_batch *out = sl_batch_new(sl_window_schema(w), 16);
    const sl_schema *os = sl_window_schema(w);
    assert_int_equal(sl_window_emit(w, out, INT64_MIN, true), 2);
    int cx = out->col[1].v.s[0].ptr[0] == 'x' ? 0 : 1, cy = 1 - cx;
    assert_int_equal(out->col[sl_schema_find(os, "ma")].v.i[cx],
                     30); /* tie on o and t: smaller id */
    assert_int_equal(out->col[sl_schema_find(os, "mi")].v.i[cx], 50);
    const sl_column *ms = &out->col[sl_schema_find(os, "ms")];
    assert_int_equal(ms->v.s[cx].len, 1); /* od tie at 2, t tie: "b" < "beta" */
    assert_memory_equal(ms->v.s[cx].ptr, "b", 1);
    assert_true(out->col[sl_schema_find(os, "ma")].null[cy]); /* NULL value wins on its own */
    assert_true(ms->null[cy]);                                /* only NaN orders: no row, NULL */
    assert_int_equal(out->col[sl_schema_find(os, "n")].v.i[cx], 4);
    sl_batch_free(out);
    sl_window_free(w);
    sl_spec_free(spec);
}

static void test_by_errors(void **state) {
    (void)state;
    sl_schema in = in_schema();
    const char *bad[] = {"min_by(id)",  "max_by(id, name)",  "min_by(id, )",
                         "max_by(, o)", "min_by(nosuch, o)", "max_by(id, nosuch)"};
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
    const char *bad_acc[] = {"0", "0.5", "x", "-0.01", "0.0001"};
    for (size_t i = 0; i < sizeof bad_acc / sizeof bad_acc[0]; i++) {
        char doc[256];
        snprintf(doc, sizeof doc,
                 "w: {time: ts, size: 1m, accuracy: %s, aggregates: {x: \"p99(od)\"}}\n",
                 bad_acc[i]);
        sl_error e = {0};
        sl_spec *s = sl_spec_load_mem("w.yaml", doc, strlen(doc), NULL, &e);
        sl_window *w = sl_window_create(sl_node_get(sl_spec_root(s), "w"), &in, &e);
        if (w) fail_msg("accepted accuracy %s", bad_acc[i]);
        assert_non_null(strstr(e.msg, "w.yaml:1:"));
        sl_spec_free(s);
    }
}

static int cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* accuracy: 0.002 / 0.01 / 0.05 -> every quantile within that relative error of the exact one. */
static void test_accuracy_option(void **state) {
    (void)state;
    sl_schema in;
    sl_schema_init(&in);
    sl_schema_add(&in, "ts", SL_T_TS);
    sl_schema_add(&in, "v", SL_T_DOUBLE);
    const double accs[] = {0.002, 0.01, 0.05};
    const int n = 50000;
    double *v = malloc((size_t)n * sizeof *v), *s = malloc((size_t)n * sizeof *s);
    for (int i = 0; i < n; i++) {
        double z = sqrt(-2 * log(urand() + 1e-300)) * cos(6.283185307179586 * urand());
        v[i] = exp(2 + 2 * z) * (urand() < 0.02 ? 1e4 : 1); /* heavy tail, wide range */
        s[i] = v[i];
    }
    qsort(s, (size_t)n, sizeof *s, cmp_d);
    for (size_t k = 0; k < sizeof accs / sizeof accs[0]; k++) {
        char doc[256];
        snprintf(
            doc, sizeof doc,
            "w: {time: ts, size: 1h, accuracy: %g, aggregates: {a: \"p50(v)\", b: \"median(v)\", "
            "c: \"p99(v)\", d: \"p999(v)\"}}\n",
            accs[k]);
        sl_error e = {0};
        sl_spec *sp = sl_spec_load_mem("w.yaml", doc, strlen(doc), NULL, &e);
        sl_window *w = sl_window_create(sl_node_get(sl_spec_root(sp), "w"), &in, &e);
        if (!w) fail_msg("%s", e.msg);
        sl_batch *b = sl_batch_new(&in, 4096);
        sl_op_ctx ctx = {0};
        for (int i = 0; i < n;) {
            sl_batch_clear(b);
            for (; i < n && b->n < b->cap; i++) {
                uint32_t r = sl_batch_append_null_row(b);
                sl_col_set_int(&b->col[0], r, T0 + i);
                sl_col_set_double(&b->col[1], r, v[i]);
            }
            assert_int_equal(sl_window_process(w, b, &ctx), 0);
        }
        sl_batch *out = sl_batch_new(sl_window_schema(w), 4);
        assert_int_equal(sl_window_emit(w, out, INT64_MIN, true), 1);
        const double qs[] = {0.5, 0.5, 0.99, 0.999};
        for (int c = 0; c < 4; c++) {
            double exact = s[(size_t)floor(qs[c] * (n - 1))], got = out->col[1 + c].v.d[0];
            if (fabs(got - exact) > accs[k] * fabs(exact) * (1 + 1e-9))
                fail_msg("accuracy %g q=%g: got %.17g exact %.17g", accs[k], qs[c], got, exact);
        }
        sl_batch_free(out);
        sl_batch_free(b);
        sl_window_free(w);
        sl_spec_free(sp);
    }
    free(v);
    free(s);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_by_brute_force),  cmocka_unit_test(test_by_snapshot),
        cmocka_unit_test(test_by_rules),        cmocka_unit_test(test_by_errors),
        cmocka_unit_test(test_accuracy_option),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
