/*
 * test_health.c - the health operator (src/ops/health.c).
 *
 * Input rows look like a gold window table: window_start, ent (the key),
 * avg_cpu, critical_events (int), ok and runs (ints: success_rate = ok / runs),
 * stddev_duration and avg_duration (seed 002's performance stability),
 * is_final. Checked: penalty ranges (first match, strict above/below),
 * clamping to 0..100, NULL inputs (no penalty, NULL penalty column), status
 * thresholds (defaults and options), the stability expression, the trend
 * against a brute-force recomputation on three interleaved keys, only_final,
 * same-time replacement and older rows, snapshot/restore (full + deltas) in
 * the middle giving identical output, and bad specs with file:line:col.
 */
#include <setjmp.h> /* cmocka.h needs these four first */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/batch.h"
#include "core/error.h"
#include "core/timeutil.h"
#include "ops/op.h"
#include "spec/spec.h"

#define T0 (INT64_C(1772359200) * SL_US_PER_SEC)
#define MIN_US (60 * SL_US_PER_SEC)

static uint64_t rng_s = 0x2545F4914F6CDD1Dull;
static uint64_t rnd(void) {
    uint64_t x = rng_s;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return rng_s = x;
}
static double urand(void) { return (double)(rnd() >> 11) / 9007199254740992.0; }

typedef struct {
    const sl_op_def *def;
    void *self;
    sl_spec *spec;
    sl_schema schema;
} op_t;

enum { C_TS, C_ENT, C_CPU, C_CRIT, C_OK, C_RUNS, C_SD, C_AVG, C_FINAL };

static sl_schema in_schema(void) {
    sl_schema s;
    sl_schema_init(&s);
    sl_schema_add(&s, "window_start", SL_T_TS);
    sl_schema_add(&s, "ent", SL_T_STRING);
    sl_schema_add(&s, "avg_cpu", SL_T_DOUBLE);
    sl_schema_add(&s, "critical_events", SL_T_INT);
    sl_schema_add(&s, "ok", SL_T_INT);
    sl_schema_add(&s, "runs", SL_T_INT);
    sl_schema_add(&s, "stddev_duration", SL_T_DOUBLE);
    sl_schema_add(&s, "avg_duration", SL_T_DOUBLE);
    sl_schema_add(&s, "is_final", SL_T_BOOL);
    return s;
}

static int op_make_doc(op_t *o, const char *doc, sl_error *err) {
    memset(o, 0, sizeof *o);
    o->schema = in_schema();
    sl_error e = {0};
    o->spec = sl_spec_load_mem("test.yaml", doc, strlen(doc), NULL, &e);
    if (!o->spec) fail_msg("spec did not load: %s", e.msg);
    o->def = sl_op_find("health");
    assert_non_null(o->def);
    sl_op_env env = {"t", ".", NULL};
    int rc =
        o->def->create(sl_node_get(sl_spec_root(o->spec), "arg"), &o->schema, &env, &o->self, err);
    if (rc) {
        sl_spec_free(o->spec);
        o->spec = NULL;
        o->self = NULL;
    }
    return rc;
}

static void op_ok(op_t *o, const char *arg) {
    char doc[4096];
    snprintf(doc, sizeof doc, "arg: %s\n", arg);
    sl_error err = {0};
    if (op_make_doc(o, doc, &err)) fail_msg("create failed: %s", err.msg);
}

static void op_free(op_t *o) {
    if (o->self) o->def->destroy(o->self);
    if (o->spec) sl_spec_free(o->spec);
    memset(o, 0, sizeof *o);
}

/* NAN / -1 = NULL */
typedef struct {
    int key;
    int64_t t;
    double cpu, sd, avg;
    int64_t crit, ok, runs;
    bool final;
} in_row;

typedef struct {
    double score, pen[4];
    char trend[16], status[16];
} out_row;

static const char *KEYS[] = {"e1", "e2", "e3"};
static const char *PEN_COLS[4] = {"cpu_penalty", "errors_penalty", "success_penalty",
                                  "stability_penalty"};

static double get_d(const sl_batch *b, const char *name, uint32_t i) {
    int c = sl_schema_find(&b->schema, name);
    if (c < 0) return NAN;
    return b->col[c].null[i] ? NAN : b->col[c].v.d[i];
}
static void get_s(const sl_batch *b, const char *name, uint32_t i, char *out, size_t cap) {
    int c = sl_schema_find(&b->schema, name);
    assert_true(c >= 0);
    out[0] = 0;
    if (b->col[c].null[i]) return;
    snprintf(out, cap, "%.*s", (int)b->col[c].v.s[i].len, b->col[c].v.s[i].ptr);
}

static void feed(op_t *o, const in_row *rows, int from, int to, out_row *out, int max_batch) {
    sl_batch *b = sl_batch_new(&o->schema, 128);
    sl_op_ctx ctx;
    memset(&ctx, 0, sizeof ctx);
    ctx.max_event_time = ctx.watermark = INT64_MIN;
    sl_error err = {0};
    for (int i = from; i < to;) {
        sl_batch_clear(b);
        int nb = 1 + (int)(rnd() % (uint64_t)max_batch), first = i;
        for (; i < to && (int)b->n < nb; i++) {
            const in_row *x = &rows[i];
            uint32_t r = sl_batch_append_null_row(b);
            sl_col_set_int(&b->col[C_TS], r, x->t);
            sl_col_set_str(&b->col[C_ENT], r, KEYS[x->key], (uint32_t)strlen(KEYS[x->key]));
            if (!isnan(x->cpu)) sl_col_set_double(&b->col[C_CPU], r, x->cpu);
            if (x->crit >= 0) sl_col_set_int(&b->col[C_CRIT], r, x->crit);
            if (x->ok >= 0) sl_col_set_int(&b->col[C_OK], r, x->ok);
            if (x->runs >= 0) sl_col_set_int(&b->col[C_RUNS], r, x->runs);
            if (!isnan(x->sd)) sl_col_set_double(&b->col[C_SD], r, x->sd);
            if (!isnan(x->avg)) sl_col_set_double(&b->col[C_AVG], r, x->avg);
            sl_col_set_bool(&b->col[C_FINAL], r, x->final);
        }
        if (o->def->process(o->self, b, &ctx, &err)) fail_msg("process: %s", err.msg);
        assert_int_equal(b->n, i - first);
        for (uint32_t r = 0; r < b->n; r++) {
            out_row *w = &out[first + (int)r];
            w->score = get_d(b, "health_score", r);
            for (int p = 0; p < 4; p++)
                w->pen[p] = get_d(b, PEN_COLS[p], r);
            get_s(b, "health_trend", r, w->trend, sizeof w->trend);
            get_s(b, "health_status", r, w->status, sizeof w->status);
        }
    }
    sl_batch_free(b);
}

#define SPEC                                                                                       \
    "{key: [ent], time: window_start, components: ["                                               \
    "{name: cpu, value: avg_cpu, penalties: [{above: 90, penalty: 40}, {above: 75, penalty: 20},"  \
    " {above: 60, penalty: 5}]},"                                                                  \
    "{name: errors, value: critical_events, penalties: [{above: 10, penalty: 30}, {above: 0, "     \
    "penalty: 10}]},"                                                                              \
    "{name: success, value: \"1.0 * ok / runs\", penalties: [{below: 0.9, penalty: 40},"           \
    " {below: 0.99, penalty: 10}]},"                                                               \
    "{name: stability, value: \"100 - least(100, 100 * stddev_duration / avg_duration)\","         \
    " penalties: [{below: 50, penalty: 30}, {below: 80, penalty: 10}]}]"

static in_row row(double cpu, int64_t crit, int64_t ok, int64_t runs, double sd, double avg) {
    return (in_row){0, T0, cpu, sd, avg, crit, ok, runs, true};
}

static void one(op_t *o, in_row r, out_row *out) {
    static int64_t t = T0;
    r.t = t += MIN_US;
    feed(o, &r, 0, 1, out, 1);
}

static void test_penalties(void **state) {
    (void)state;
    op_t o;
    op_ok(&o, SPEC ", trend: {window: 3, tolerance: 2}}");
    out_row w;
    /* cpu: first match, strictly above */
    double cpu[] = {95, 90, 80, 75, 61, 60, 10};
    double want_cpu[] = {40, 20, 20, 5, 5, 0, 0};
    for (int i = 0; i < 7; i++) {
        one(&o, row(cpu[i], 0, 100, 100, 0, 10), &w);
        assert_true(w.pen[0] == want_cpu[i]);
        assert_true(w.pen[1] == 0 && w.pen[2] == 0 && w.pen[3] == 0);
        assert_true(w.score == 100 - want_cpu[i]);
    }
    /* errors (an int column) */
    int64_t crit[] = {0, 1, 10, 11};
    double want_crit[] = {0, 10, 10, 30};
    for (int i = 0; i < 4; i++) {
        one(&o, row(0, crit[i], 1, 1, 0, 10), &w);
        assert_true(w.pen[1] == want_crit[i]);
    }
    /* success: below thresholds, first match */
    int64_t ok[] = {85, 90, 95, 99, 100};
    double want_ok[] = {40, 10, 10, 0, 0};
    for (int i = 0; i < 5; i++) {
        one(&o, row(0, 0, ok[i], 100, 0, 10), &w);
        assert_true(w.pen[2] == want_ok[i]);
    }
    /* stability = 100 - least(100, 100 * sd / avg) */
    one(&o, row(0, 0, 1, 1, 1, 10), &w); /* 90 */
    assert_true(w.pen[3] == 0);
    one(&o, row(0, 0, 1, 1, 3, 10), &w); /* 70 */
    assert_true(w.pen[3] == 10);
    one(&o, row(0, 0, 1, 1, 6, 10), &w); /* 40 */
    assert_true(w.pen[3] == 30);
    one(&o, row(0, 0, 1, 1, 50, 10), &w); /* 100 - least(100, 500) = 0 */
    assert_true(w.pen[3] == 30);
    /* everything at once: 40 + 30 + 40 + 30 = 140 -> clamped to 0 */
    one(&o, row(99, 50, 1, 10, 9, 10), &w);
    assert_true(w.score == 0);
    assert_string_equal(w.status, "critical");
    /* NULL inputs: no penalty, NULL penalty column */
    one(&o, row(NAN, -1, 5, -1, 1, 10), &w);
    assert_true(isnan(w.pen[0]) && isnan(w.pen[1]) && isnan(w.pen[2]) && w.pen[3] == 0);
    assert_true(w.score == 100);
    assert_string_equal(w.status, "healthy");
    /* avg 0: the division is NULL, but least() skips NULLs (PostgreSQL): stability 0 */
    one(&o, row(NAN, -1, -1, -1, 1, 0), &w);
    assert_true(w.pen[3] == 30 && w.score == 70);
    one(&o, row(NAN, 20, -1, 10, NAN, 10), &w);
    assert_true(isnan(w.pen[0]) && w.pen[1] == 30 && isnan(w.pen[2]) && w.pen[3] == 30);
    assert_true(w.score == 40);
    op_free(&o);

    /* a negative penalty (a bonus) cannot lift the score above 100 */
    op_ok(&o, "{components: [{name: cpu, value: avg_cpu, penalties: [{below: 10, penalty: -20}, "
              "{above: 50, penalty: 10}]}]}");
    one(&o, row(5, 0, 0, 0, 0, 0), &w);
    assert_true(w.score == 100);
    one(&o, row(60, 0, 0, 0, 0, 0), &w);
    assert_true(w.score == 90);
    op_free(&o);
}

static void test_status(void **state) {
    (void)state;
    op_t o;
    /* scores 80, 79.9, 50, 49 against the defaults healthy 80 / degraded 50 */
    op_ok(&o, "{components: [{name: cpu, value: avg_cpu, penalties: [{above: 50.5, penalty: 51},"
              " {above: 49.5, penalty: 50}, {above: 20.05, penalty: 20.1}, {above: 19.5, penalty: "
              "20}, {above: 0, penalty: 0}]}]}");
    out_row w;
    struct {
        double cpu;
        const char *st;
    } cases[] = {{20, "healthy"}, {20.1, "degraded"}, {50, "degraded"}, {51, "critical"}};
    for (int i = 0; i < 4; i++) {
        one(&o, row(cases[i].cpu, 0, 0, 0, 0, 0), &w);
        assert_string_equal(w.status, cases[i].st);
    }
    op_free(&o);
    op_ok(&o, "{status: {healthy: 90, degraded: 60}, components: [{name: cpu, value: avg_cpu,"
              " penalties: [{above: 30, penalty: 41}, {above: 20, penalty: 40}, {above: 10, "
              "penalty: 10}, {above: 5, penalty: 1}]}]}");
    double cpu[] = {1, 6, 11, 21, 31};
    const char *st[] = {"healthy", "healthy", "healthy", "degraded", "critical"};
    for (int i = 0; i < 5; i++) {
        one(&o, row(cpu[i], 0, 0, 0, 0, 0), &w);
        assert_string_equal(w.status, st[i]);
    }
    op_free(&o);
}

/* --------------------------------------------------------------- trend, brute force */

#define NROWS 3000
static in_row ROWS[NROWS];
static out_row GOT[NROWS], GOT2[NROWS];

static void make_series(in_row *rows, int n) {
    int64_t next_t[3] = {T0, T0, T0};
    for (int i = 0; i < n; i++) {
        int k = (int)(rnd() % 3);
        in_row *r = &rows[i];
        r->key = k;
        r->t = next_t[k];
        next_t[k] += MIN_US;
        r->cpu = urand() < 0.02 ? NAN : 100 * urand();
        r->crit = (int64_t)(rnd() % 15) - (urand() < 0.02 ? 100 : 0);
        if (r->crit < 0) r->crit = -1;
        r->runs = 1 + (int64_t)(rnd() % 100);
        r->ok = r->runs - (int64_t)(rnd() % 8 == 0 ? rnd() % (uint64_t)r->runs : 0);
        r->avg = 10 + 50 * urand();
        r->sd = r->avg * urand() * 0.8;
        r->final = true;
    }
}

static double pen_of(double x, const double *lim, const double *pen, const bool *above, int n) {
    for (int i = 0; i < n; i++)
        if (above[i] ? x > lim[i] : x < lim[i]) return pen[i];
    return 0;
}

/* Score and trend recomputed directly. */
static void brute(const in_row *rows, int n, int window, double tol, out_row *exp) {
    static double hist[3][NROWS];
    int hn[3] = {0};
    for (int i = 0; i < n; i++) {
        const in_row *r = &rows[i];
        out_row *e = &exp[i];
        memset(e, 0, sizeof *e);
        double total = 0;
        e->pen[0] = isnan(r->cpu) ? NAN
                                  : pen_of(r->cpu, (double[]){90, 75, 60}, (double[]){40, 20, 5},
                                           (bool[]){1, 1, 1}, 3);
        e->pen[1] = r->crit < 0 ? NAN
                                : pen_of((double)r->crit, (double[]){10, 0}, (double[]){30, 10},
                                         (bool[]){1, 1}, 2);
        e->pen[2] = pen_of((double)r->ok / (double)r->runs, (double[]){0.9, 0.99},
                           (double[]){40, 10}, (bool[]){0, 0}, 2);
        double stab = 100 - fmin(100, 100 * r->sd / r->avg);
        e->pen[3] = pen_of(stab, (double[]){50, 80}, (double[]){30, 10}, (bool[]){0, 0}, 2);
        for (int p = 0; p < 4; p++)
            if (!isnan(e->pen[p])) total += e->pen[p];
        e->score = fmax(0, fmin(100, 100 - total));
        snprintf(e->status, sizeof e->status, "%s",
                 e->score >= 80   ? "healthy"
                 : e->score >= 50 ? "degraded"
                                  : "critical");
        int k = r->key, m = hn[k] < window ? hn[k] : window;
        if (m > 0) {
            double s = 0;
            for (int j = hn[k] - m; j < hn[k]; j++)
                s += hist[k][j];
            double d = e->score - s / m;
            snprintf(e->trend, sizeof e->trend, "%s",
                     d > tol    ? "improving"
                     : d < -tol ? "degrading"
                                : "stable");
        }
        hist[k][hn[k]++] = e->score;
    }
}

static void compare(const out_row *got, const out_row *want, int from, int n) {
    int counts[3] = {0};
    for (int i = from; i < n; i++) {
        if (fabs(got[i].score - want[i].score) > 1e-9)
            fail_msg("row %d score %g want %g", i, got[i].score, want[i].score);
        for (int p = 0; p < 4; p++)
            if (!(isnan(got[i].pen[p]) && isnan(want[i].pen[p])) && got[i].pen[p] != want[i].pen[p])
                fail_msg("row %d %s %g want %g", i, PEN_COLS[p], got[i].pen[p], want[i].pen[p]);
        if (strcmp(got[i].trend, want[i].trend))
            fail_msg("row %d trend '%s' want '%s'", i, got[i].trend, want[i].trend);
        assert_string_equal(got[i].status, want[i].status);
        counts[0] += !strcmp(got[i].trend, "improving");
        counts[1] += !strcmp(got[i].trend, "degrading");
        counts[2] += !strcmp(got[i].trend, "stable");
    }
    if (n - from > 300) assert_true(counts[0] > 10 && counts[1] > 10 && counts[2] > 10);
}

static out_row WANT[NROWS];

static void test_trend_brute_force(void **state) {
    (void)state;
    make_series(ROWS, NROWS);
    op_t o;
    op_ok(&o, SPEC ", trend: {window: 3, tolerance: 2}}");
    feed(&o, ROWS, 0, NROWS, GOT, 40);
    brute(ROWS, NROWS, 3, 2, WANT);
    compare(GOT, WANT, 0, NROWS);
    /* the first row of each key has no trend */
    bool seen[3] = {0};
    for (int i = 0; i < NROWS; i++)
        if (!seen[ROWS[i].key]) {
            seen[ROWS[i].key] = true;
            assert_string_equal(GOT[i].trend, "");
        }
    op_free(&o);

    op_ok(&o, SPEC ", trend: {window: 7, tolerance: 10}}");
    feed(&o, ROWS, 0, NROWS, GOT, 13);
    brute(ROWS, NROWS, 7, 10, WANT);
    compare(GOT, WANT, 0, NROWS);
    op_free(&o);
}

static void test_only_final_and_order(void **state) {
    (void)state;
    make_series(ROWS, NROWS);
    static in_row mixed[2 * NROWS];
    static out_row mout[2 * NROWS];
    int m = 0;
    for (int i = 0; i < NROWS; i++) {
        if (rnd() % 2) {
            mixed[m] = ROWS[i];
            mixed[m].cpu = 100 * urand();
            mixed[m++].final = false;
        }
        mixed[m++] = ROWS[i];
    }
    op_t o;
    op_ok(&o, SPEC "}");
    feed(&o, mixed, 0, m, mout, 50);
    brute(ROWS, NROWS, 3, 2, WANT);
    int j = 0;
    for (int i = 0; i < m; i++) {
        if (!mixed[i].final) {
            assert_true(isnan(mout[i].score) && isnan(mout[i].pen[0]));
            assert_string_equal(mout[i].trend, "");
            assert_string_equal(mout[i].status, "");
        } else {
            GOT[j++] = mout[i];
        }
    }
    compare(GOT, WANT, 0, NROWS);
    op_free(&o);

    /* only_final: false: the non-final row is scored, then replaced by the final one */
    op_ok(&o, SPEC ", only_final: false}");
    feed(&o, mixed, 0, m, mout, 50);
    j = 0;
    for (int i = 0; i < m; i++) {
        assert_false(isnan(mout[i].score));
        if (mixed[i].final) GOT[j++] = mout[i];
    }
    compare(GOT, WANT, 0, NROWS);
    op_free(&o);

    /* an older row is scored against the current history but not added */
    op_ok(&o, "{components: [{name: cpu, value: avg_cpu, penalties: [{above: 0, penalty: 1}, "
              "{below: 0, penalty: 100}]}],"
              " trend: {window: 2, tolerance: 0}}");
    in_row r[5];
    out_row w[5];
    double cpu[] = {1, 1, -1, 1, 1}; /* scores 99 99 0 99 99 */
    for (int i = 0; i < 5; i++)
        r[i] = (in_row){0, T0 + i * MIN_US, cpu[i], 0, 0, 0, 0, 0, true};
    r[2].t = T0 - MIN_US; /* older: trend vs {99,99} -> degrading; not added */
    feed(&o, r, 0, 5, w, 1);
    assert_string_equal(w[1].trend, "stable");
    assert_string_equal(w[2].trend, "degrading");
    assert_true(w[2].score == 0);
    assert_string_equal(w[3].trend, "stable"); /* 0 never entered the history */
    op_free(&o);
}

static void test_snapshot_restore(void **state) {
    (void)state;
    make_series(ROWS, NROWS);
    const char *spec = SPEC ", trend: {window: 4, tolerance: 3}}";
    op_t a;
    op_ok(&a, spec);
    feed(&a, ROWS, 0, NROWS, GOT, 30);
    op_free(&a);

    op_t b;
    op_ok(&b, spec);
    sl_buf full = {0}, d1 = {0}, d2 = {0};
    int c1 = NROWS / 3, c2 = c1 + 1, c3 = 2 * NROWS / 3;
    feed(&b, ROWS, 0, c1, GOT2, 30);
    assert_int_equal(b.def->snapshot(b.self, &full, true), 0);
    feed(&b, ROWS, c1, c2, GOT2, 30);
    assert_int_equal(b.def->snapshot(b.self, &d1, false), 0);
    assert_true(d1.n < full.n); /* one changed key of three */
    feed(&b, ROWS, c2, c3, GOT2, 30);
    assert_int_equal(b.def->snapshot(b.self, &d2, false), 0);
    op_free(&b);

    op_t c;
    op_ok(&c, spec);
    sl_error err = {0};
    assert_int_equal(c.def->restore(c.self, full.p, full.n, true, &err), 0);
    assert_int_equal(c.def->restore(c.self, d1.p, d1.n, false, &err), 0);
    assert_int_equal(c.def->restore(c.self, d2.p, d2.n, false, &err), 0);
    feed(&c, ROWS, c3, NROWS, GOT2, 30);
    compare(GOT2, GOT, c3, NROWS);
    /* corrupt snapshots are refused and leave the state alone */
    char st[512], st2[512];
    sl_op_stats_json(c.def, c.self, st, sizeof st);
    assert_non_null(strstr(st, "\"keys\":3"));
    assert_int_equal(c.def->restore(c.self, full.p, full.n - 1, true, &err), SL_ECORRUPT);
    assert_int_equal(c.def->restore(c.self, d1.p, 7, false, &err), SL_ECORRUPT);
    sl_op_stats_json(c.def, c.self, st2, sizeof st2);
    assert_string_equal(st, st2);
    op_free(&c);
    sl_buf_free(&full);
    sl_buf_free(&d1);
    sl_buf_free(&d2);
}

static void expect_error(const char *doc, const char *want) {
    op_t o;
    sl_error err = {0};
    if (op_make_doc(&o, doc, &err) == 0) {
        op_free(&o);
        fail_msg("spec accepted, wanted: %s", want);
    }
    if (!strstr(err.msg, want)) fail_msg("error '%s' lacks '%s'", err.msg, want);
}

static void test_bad_specs(void **state) {
    (void)state;
    expect_error("arg:\n  key: ent\n", "test.yaml:2:3: health: missing key 'components'");
    expect_error("arg:\n  components: []\n", "test.yaml:2:15: health: components is empty");
    expect_error("arg:\n  components:\n    - {name: cpu, value: avg_cpu, penalties: [{abov: 3, "
                 "penalty: 1}]}\n",
                 "test.yaml:3:48: health penalty: unknown key 'abov' (did you mean 'above'?)");
    expect_error("arg:\n  components:\n    - {name: cpu, value: avg_cpu, penalties: [{above: 3, "
                 "below: 1, penalty: 1}]}\n",
                 "test.yaml:3:47: health penalty: give exactly one of above or below");
    expect_error(
        "arg:\n  components:\n    - {name: cpu, value: avg_cpu, penalties: [{above: 3}]}\n",
        "test.yaml:3:47: health penalty: missing key 'penalty'");
    expect_error(
        "arg:\n  components:\n    - {name: cpu, value: ent, penalties: [{above: 3, penalty: 1}]}\n",
        "test.yaml:3:26: health component 'cpu': value must be numeric, got string");
    expect_error("arg:\n  components:\n    - {name: cpu, value: \"avg_cpu + nope\", penalties: "
                 "[{above: 3, penalty: 1}]}\n",
                 "test.yaml:3:37: unknown column 'nope'");
    expect_error("arg:\n  components:\n    - {name: cpu, value: avg_cpu, penalties: [{above: 3, "
                 "penalty: 1}]}\n"
                 "    - {name: cpu, value: avg_cpu, penalties: [{above: 3, penalty: 1}]}\n",
                 "test.yaml:4:14: health: column 'cpu_penalty' already exists");
    expect_error("arg:\n  trend: {window: 0}\n  components:\n    - {name: cpu, value: avg_cpu, "
                 "penalties: [{above: 3, penalty: 1}]}\n",
                 "test.yaml:2:19: health trend: window must be in 1..1000, got 0");
    expect_error("arg:\n  status: {healthy: 40, degraded: 60}\n  components:\n    - {name: cpu, "
                 "value: avg_cpu, penalties: [{above: 3, penalty: 1}]}\n",
                 "test.yaml:2:11: health status: degraded (60) must not exceed healthy (40)");
    expect_error("arg:\n  status: {healthy: 40, degrade: 60}\n  components: []\n",
                 "test.yaml:2:25: health status: unknown key 'degrade' (did you mean 'degraded'?)");
    expect_error("arg:\n  key: [ent, nope]\n  components:\n    - {name: cpu, value: avg_cpu, "
                 "penalties: [{above: 3, penalty: 1}]}\n",
                 "test.yaml:2:14: health: unknown key column 'nope'");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_penalties),         cmocka_unit_test(test_status),
        cmocka_unit_test(test_trend_brute_force), cmocka_unit_test(test_only_final_and_order),
        cmocka_unit_test(test_snapshot_restore),  cmocka_unit_test(test_bad_specs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
