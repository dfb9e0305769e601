/*
 * test_anomaly.c - the anomaly operator (src/ops/anomaly.c) against brute force.
 *
 * Input rows look like a gold window table: window_start (timestamp), ent (the
 * key), v (double), is_final (bool). Three keys are interleaved at random,
 * each in time order, with noise, injected spikes, NULL values and one key
 * quantised to integers (so MAD = 0 and stddev ties happen), fed in random
 * batch sizes. Every output column is compared with a direct recomputation
 * from the same sequence: the baseline is the previous values of the key
 * (last 20 in a plain array, or an EWMA), sorted copies give the median, MAD
 * and rank-floor(q*(n-1)) quantile. Also: percentile threshold by hand, the
 * min warm-up, severity ranges, only_final, same-time replacement and older
 * rows, snapshot/restore (full + deltas) in the middle giving identical
 * output, and bad specs refused with file:line:col.
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

static uint64_t rng_s = 0x9E3779B97F4A7C15ull;
static uint64_t rnd(void) {
    uint64_t x = rng_s;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return rng_s = x;
}
static double urand(void) { return (double)(rnd() >> 11) / 9007199254740992.0; }
static double nrand(void) { /* Box-Muller */
    double u = urand(), v = urand();
    if (u < 1e-300) u = 1e-300;
    return sqrt(-2 * log(u)) * cos(2 * M_PI * v);
}

/* ------------------------------------------------------------ operator harness */

typedef struct {
    const sl_op_def *def;
    void *self;
    sl_spec *spec;
    sl_schema schema;
} op_t;

static sl_schema in_schema(void) {
    sl_schema s;
    sl_schema_init(&s);
    sl_schema_add(&s, "window_start", SL_T_TS);
    sl_schema_add(&s, "ent", SL_T_STRING);
    sl_schema_add(&s, "v", SL_T_DOUBLE);
    sl_schema_add(&s, "is_final", SL_T_BOOL);
    return s;
}

/* Creates `anomaly` from a YAML document whose key `arg` is the step argument. */
static int op_make_doc(op_t *o, const char *doc, sl_error *err) {
    memset(o, 0, sizeof *o);
    o->schema = in_schema();
    sl_error e = {0};
    o->spec = sl_spec_load_mem("test.yaml", doc, strlen(doc), NULL, &e);
    if (!o->spec) fail_msg("spec did not load: %s", e.msg);
    o->def = sl_op_find("anomaly");
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

/* One input row. */
typedef struct {
    int key;
    int64_t t;
    double v; /* NAN = NULL */
    bool final;
} in_row;

/* One output row, NAN / -1 / "" for NULL. */
typedef struct {
    double mean, sd, z, rz, pt;
    int anom;
    char reason[200];
    char sev[32];
} out_row;

static const char *KEYS[] = {"alpha", "beta", "gamma"};

static const char *PREFIX = ""; /* of the output columns */

static int col_of(const sl_batch *b, const char *name) {
    char full[128];
    snprintf(full, sizeof full, "%s%s", PREFIX, name);
    return sl_schema_find(&b->schema, full);
}

static double get_d(const sl_batch *b, const char *name, uint32_t i) {
    int c = col_of(b, name);
    if (c < 0) return NAN;
    return b->col[c].null[i] ? NAN : b->col[c].v.d[i];
}
static void get_s(const sl_batch *b, const char *name, uint32_t i, char *out, size_t cap) {
    int c = col_of(b, name);
    out[0] = 0;
    if (c < 0 || b->col[c].null[i]) return;
    snprintf(out, cap, "%.*s", (int)b->col[c].v.s[i].len, b->col[c].v.s[i].ptr);
}

/* Feeds rows [from, to) in random batch sizes (1..max_batch) and records outputs. */
static void feed(op_t *o, const in_row *rows, int from, int to, out_row *out, int max_batch) {
    sl_batch *b = sl_batch_new(&o->schema, 256);
    sl_op_ctx ctx;
    memset(&ctx, 0, sizeof ctx);
    ctx.max_event_time = ctx.watermark = INT64_MIN;
    sl_error err = {0};
    for (int i = from; i < to;) {
        sl_batch_clear(b);
        int nb = 1 + (int)(rnd() % (uint64_t)max_batch);
        int first = i;
        for (; i < to && (int)b->n < nb; i++) {
            uint32_t r = sl_batch_append_null_row(b);
            b->pos[r] = i;
            sl_col_set_int(&b->col[0], r, rows[i].t);
            sl_col_set_str(&b->col[1], r, KEYS[rows[i].key], (uint32_t)strlen(KEYS[rows[i].key]));
            if (!isnan(rows[i].v)) sl_col_set_double(&b->col[2], r, rows[i].v);
            sl_col_set_bool(&b->col[3], r, rows[i].final);
        }
        if (o->def->process(o->self, b, &ctx, &err)) fail_msg("process: %s", err.msg);
        assert_int_equal(b->n, i - first);
        for (uint32_t r = 0; r < b->n; r++) {
            out_row *w = &out[first + (int)r];
            w->mean = get_d(b, "baseline_mean", r);
            w->sd = get_d(b, "baseline_stddev", r);
            w->z = get_d(b, "zscore", r);
            w->rz = get_d(b, "robust_z", r);
            w->pt = get_d(b, "pctl_threshold", r);
            int c = col_of(b, "is_anomaly");
            assert_true(c >= 0);
            w->anom = b->col[c].null[r] ? -1 : b->col[c].v.b[r];
            get_s(b, "anomaly_reason", r, w->reason, sizeof w->reason);
            get_s(b, "severity", r, w->sev, sizeof w->sev);
        }
    }
    sl_batch_free(b);
}

/* ------------------------------------------------------------ data and brute force */

#define NROWS 3000
#define SPIKE_P 0.03

/* Three keys interleaved, each in time order; spikes, NULLs, key 2 quantised. */
static void make_series(in_row *rows, int n) {
    int64_t next_t[3] = {T0, T0, T0};
    for (int i = 0; i < n; i++) {
        int k = (int)(rnd() % 3);
        rows[i].key = k;
        rows[i].t = next_t[k];
        next_t[k] += MIN_US;
        rows[i].final = true;
        double base = k == 0 ? 100 : k == 1 ? 5000 : 20;
        double sd = k == 0 ? 5 : k == 1 ? 300 : 0.6;
        double x = base + sd * nrand();
        if (urand() < SPIKE_P) x += (urand() < 0.5 ? -1 : 1) * sd * (4 + 8 * urand());
        if (k == 2) x = round(x);
        if (urand() < 0.01) x = NAN;
        rows[i].v = x;
    }
}

static int cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}
static double median_sorted(const double *s, int n) {
    return n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
}

typedef struct {
    double zt, madt, q, factor;
    int size, min;
} bf_cfg;

/* Window baseline, recomputed from scratch per row. */
static void brute_window(const in_row *rows, int n, const bf_cfg *c, out_row *exp) {
    static double hist[3][NROWS];
    int hn[3] = {0, 0, 0};
    for (int i = 0; i < n; i++) {
        int k = rows[i].key;
        double x = rows[i].v;
        int lo = hn[k] > c->size ? hn[k] - c->size : 0, m = hn[k] - lo;
        const double *bl = hist[k] + lo;
        out_row *e = &exp[i];
        memset(e, 0, sizeof *e);
        e->mean = e->sd = e->z = e->rz = e->pt = NAN;
        if (m >= 1) {
            double s = 0;
            for (int j = 0; j < m; j++)
                s += bl[j];
            e->mean = s / m;
        }
        if (m >= 2) {
            double ss = 0;
            for (int j = 0; j < m; j++)
                ss += (bl[j] - e->mean) * (bl[j] - e->mean);
            e->sd = sqrt(ss / (m - 1));
        }
        e->anom = 0;
        if (!isnan(x) && m >= c->min) {
            if (e->sd > 0) e->z = (x - e->mean) / e->sd;
            double srt[64], dev[64];
            memcpy(srt, bl, (size_t)m * sizeof(double));
            qsort(srt, (size_t)m, sizeof(double), cmp_d);
            double med = median_sorted(srt, m);
            for (int j = 0; j < m; j++)
                dev[j] = fabs(srt[j] - med);
            qsort(dev, (size_t)m, sizeof(double), cmp_d);
            double mad = median_sorted(dev, m);
            if (mad > 0) e->rz = 0.6745 * (x - med) / mad;
            e->pt = srt[(int)floor(c->q * (m - 1))] * c->factor;
            e->anom = fabs(e->z) > c->zt || fabs(e->rz) > c->madt || x > e->pt;
        }
        if (!isnan(x)) hist[k][hn[k]++] = x;
    }
}

static void brute_ewma(const in_row *rows, int n, double alpha, double zt, int min, out_row *exp) {
    double mean[3] = {0}, var[3] = {0};
    int cnt[3] = {0};
    for (int i = 0; i < n; i++) {
        int k = rows[i].key;
        double x = rows[i].v;
        out_row *e = &exp[i];
        memset(e, 0, sizeof *e);
        e->mean = e->sd = e->z = e->rz = e->pt = NAN;
        if (cnt[k] >= 1) e->mean = mean[k];
        if (cnt[k] >= 2) e->sd = sqrt(var[k]);
        if (!isnan(x) && cnt[k] >= min && e->sd > 0) e->z = (x - mean[k]) / e->sd;
        e->anom = fabs(e->z) > zt;
        if (isnan(x)) continue;
        if (cnt[k]++ == 0) {
            mean[k] = x;
            var[k] = 0;
        } else {
            double d = x - mean[k];
            mean[k] += alpha * d;
            var[k] = (1 - alpha) * (var[k] + alpha * d * d);
        }
    }
}

static void assert_close(double got, double want, int row, const char *what) {
    if (isnan(want) && isnan(got)) return;
    if (isnan(want) != isnan(got) || fabs(got - want) > 1e-9 * fmax(1, fabs(want)))
        fail_msg("row %d %s: got %.17g want %.17g", row, what, got, want);
}

static void compare(const out_row *got, const out_row *want, int n, bool rz, bool pt) {
    int anomalies = 0;
    for (int i = 0; i < n; i++) {
        assert_close(got[i].mean, want[i].mean, i, "baseline_mean");
        assert_close(got[i].sd, want[i].sd, i, "baseline_stddev");
        assert_close(got[i].z, want[i].z, i, "zscore");
        if (rz) assert_close(got[i].rz, want[i].rz, i, "robust_z");
        if (pt) assert_close(got[i].pt, want[i].pt, i, "pctl_threshold");
        if (got[i].anom != want[i].anom)
            fail_msg("row %d is_anomaly: got %d want %d (z %g rz %g pt %g)", i, got[i].anom,
                     want[i].anom, want[i].z, want[i].rz, want[i].pt);
        assert_int_equal(got[i].reason[0] != 0, got[i].anom);
        anomalies += got[i].anom;
    }
    /* the spikes are found, but not everything is an anomaly */
    assert_true(anomalies > n * SPIKE_P / 3);
    assert_true(anomalies < n / 5);
}

static in_row ROWS[NROWS];
static out_row GOT[NROWS], WANT[NROWS], GOT2[NROWS];

static void test_window_brute_force(void **state) {
    (void)state;
    make_series(ROWS, NROWS);
    op_t o;
    op_ok(&o,
          "{value: v, key: [ent], time: window_start, baseline: {method: window, size: 20, min: 5},"
          " rules: {zscore: 3.0, mad: 3.5, percentile: {q: 0.99, factor: 1.5}}}");
    feed(&o, ROWS, 0, NROWS, GOT, 40);
    bf_cfg c = {3.0, 3.5, 0.99, 1.5, 20, 5};
    brute_window(ROWS, NROWS, &c, WANT);
    compare(GOT, WANT, NROWS, true, true);
    /* reasons name the rules that fired */
    int zr = 0, mr = 0, pr = 0;
    for (int i = 0; i < NROWS; i++) {
        if (fabs(WANT[i].z) > 3) zr += strstr(GOT[i].reason, "zscore ") != NULL;
        if (fabs(WANT[i].rz) > 3.5) mr += strstr(GOT[i].reason, "robust_z ") != NULL;
        if (ROWS[i].v > WANT[i].pt) pr += strstr(GOT[i].reason, "> p99*1.5=") != NULL;
    }
    assert_true(zr > 0 && mr > 0 && pr > 0);
    /* MAD = 0 happens on the quantised key and gives NULL robust_z */
    int madzero = 0;
    for (int i = 0; i < NROWS; i++)
        madzero +=
            ROWS[i].key == 2 && !isnan(ROWS[i].v) && isnan(WANT[i].rz) && !isnan(WANT[i].mean);
    assert_true(madzero > 0);
    op_free(&o);
}

static void test_ewma_brute_force(void **state) {
    (void)state;
    make_series(ROWS, NROWS);
    op_t o;
    op_ok(&o,
          "{value: v, key: ent, baseline: {method: ewma, alpha: 0.1, min: 5}, rules: {zscore: 3}}");
    feed(&o, ROWS, 0, NROWS, GOT, 17);
    brute_ewma(ROWS, NROWS, 0.1, 3, 5, WANT);
    compare(GOT, WANT, NROWS, false, false);
    op_free(&o);

    op_ok(&o,
          "{value: v * 1, key: ent, baseline: {method: ewma, halflife: 10}, rules: {zscore: 2.5}}");
    feed(&o, ROWS, 0, NROWS, GOT, 64);
    brute_ewma(ROWS, NROWS, 1 - pow(0.5, 1.0 / 10), 2.5, 5, WANT);
    compare(GOT, WANT, NROWS, false, false);
    op_free(&o);
}

/* A deterministic series for one key: times one minute apart. */
static int series(in_row *rows, const double *v, int n) {
    for (int i = 0; i < n; i++)
        rows[i] = (in_row){0, T0 + i * MIN_US, v[i], true};
    return n;
}

static void test_percentile_threshold(void **state) {
    (void)state;
    op_t o;
    op_ok(&o, "{value: v, key: ent, baseline: {size: 10, min: 10}, rules: {percentile: {q: 0.9, "
              "factor: 1.5}}}");
    /* baseline 1..10: rank floor(0.9 * 9) = 8 -> 9; threshold 13.5 */
    double v[] = {3, 1, 2, 10, 4, 5, 6, 7, 9, 8, 13.5, 14, 100};
    in_row rows[13];
    out_row out[13];
    series(rows, v, 13);
    feed(&o, rows, 0, 13, out, 1);
    for (int i = 0; i < 10; i++) {
        assert_true(isnan(out[i].pt));
        assert_int_equal(out[i].anom, 0);
    }
    assert_true(out[10].pt == 13.5);
    assert_int_equal(out[10].anom, 0); /* not strictly above */
    /* after 13.5 entered and 3 left: {1,2,4..10,13.5}: rank 8 -> 10 -> 15 */
    assert_true(out[11].pt == 15);
    assert_int_equal(out[11].anom, 0);
    /* {1,2,4..10,13.5,14} minus 1: rank 8 -> 13.5 -> 20.25 */
    assert_true(out[12].pt == 20.25);
    assert_int_equal(out[12].anom, 1);
    assert_string_equal(out[12].reason, "value 100 > p90*1.5=20.25");
    assert_true(isnan(out[12].z)); /* no zscore rule: no column */
    op_free(&o);
}

static void test_min_warmup(void **state) {
    (void)state;
    op_t o;
    op_ok(&o, "{value: v, key: ent, baseline: {size: 20, min: 5},"
              " rules: {zscore: 3, mad: 3, static: {above: 500, below: 0}}}");
    double v[] = {10, 11, 9, 10, 1000, 10, 11, 9, 10, 1000, -5};
    in_row rows[11];
    out_row out[11];
    series(rows, v, 11);
    feed(&o, rows, 0, 11, out, 3);
    for (int i = 0; i < 5; i++) { /* fewer than 5 values before: nothing fires, static included */
        assert_true(isnan(out[i].z) && isnan(out[i].rz));
        assert_int_equal(out[i].anom, 0);
        assert_string_equal(out[i].reason, "");
    }
    assert_true(out[1].mean == 10 && isnan(out[1].sd)); /* the baseline itself is shown */
    assert_true(out[2].mean == 10.5);
    /* row 5: baseline {10,11,9,10,1000} */
    assert_int_equal(out[5].anom, 0);
    assert_int_equal(out[9].anom, 1);
    assert_non_null(strstr(out[9].reason, "value 1000 > 500"));
    assert_non_null(strstr(out[9].reason, "robust_z "));
    assert_int_equal(out[10].anom, 1);
    assert_non_null(strstr(out[10].reason, "value -5 < 0"));
    op_free(&o);

    /* a constant baseline: stddev 0 -> zscore NULL, MAD 0 -> robust_z NULL */
    op_ok(&o, "{value: v, baseline: {size: 5, min: 3}, rules: {zscore: 3, mad: 3}}");
    double c[] = {7, 7, 7, 7, 8};
    series(rows, c, 5);
    feed(&o, rows, 0, 5, out, 5);
    assert_true(out[4].sd == 0 && out[4].mean == 7);
    assert_true(isnan(out[4].z) && isnan(out[4].rz));
    assert_int_equal(out[4].anom, 0);
    op_free(&o);
}

static void test_severity(void **state) {
    (void)state;
    op_t o;
    op_ok(&o,
          "{value: v, baseline: {size: 10, min: 4}, rules: {zscore: 3, static: {above: 1000}},"
          " severity: [{level: critical, zscore_at_least: 5}, {level: warning, zscore_at_least: 3},"
          " {level: notice}]}");
    /* baseline {8, 12, 8, 12}: mean 10, sample sd = sqrt(16/3) = 2.3094 */
    double sd = sqrt(16.0 / 3);
    double v[] = {8, 12, 8, 12, 10 + 6 * sd, 0, 0, 0};
    in_row rows[8];
    out_row out[8];
    series(rows, v, 8);
    /* rows 5-7 reuse baseline position via older times: scored against the same baseline */
    rows[5].t = rows[6].t = rows[7].t = T0 - MIN_US;
    rows[5].v = 10 + 4 * sd;
    rows[6].v = 10 + 2 * sd;
    rows[7].v = 2000;
    feed(&o, rows, 0, 8, out, 8);
    assert_string_equal(out[4].sev, "critical");
    assert_int_equal(out[4].anom, 1);
    /* baseline now {8,12,8,12,10+6sd}; rows 5.. are older: scored, not added */
    assert_true(fabs(out[5].mean - (40 + 10 + 6 * sd) / 5) < 1e-12);
    assert_true(out[5].mean == out[6].mean && out[6].mean == out[7].mean);
    op_free(&o);

    /* same baseline each time: the older rows do not enter it */
    op_ok(&o,
          "{value: v, baseline: {size: 10, min: 4}, rules: {zscore: 3, static: {above: 1000}},"
          " severity: [{level: critical, zscore_at_least: 5}, {level: warning, zscore_at_least: 3},"
          " {level: notice}]}");
    double w[] = {8, 12, 8, 12, 10 + 4 * sd, 10 + 6 * sd, 10 + 2 * sd, 2000};
    series(rows, w, 8);
    for (int i = 5; i < 8; i++)
        rows[i].t = rows[4].t; /* same time: each replaces the newest */
    feed(&o, rows, 0, 8, out, 2);
    assert_string_equal(out[4].sev, "warning");  /* 4 sd */
    assert_string_equal(out[5].sev, "critical"); /* 6 sd, against {8,12,8,12} again */
    assert_true(out[5].mean == 10 && fabs(out[5].z - 6) < 1e-12);
    assert_string_equal(out[6].sev, ""); /* 2 sd: no anomaly, no level */
    assert_int_equal(out[6].anom, 0);
    /* static only (z = 861): critical by zscore; the catch-all needs is_anomaly */
    assert_string_equal(out[7].sev, "critical");
    assert_non_null(strstr(out[7].reason, "zscore "));
    assert_non_null(strstr(out[7].reason, "; value 2000 > 1000"));
    op_free(&o);

    /* catch-all entry: an anomaly that no range covers */
    op_ok(&o, "{value: v, baseline: {size: 10, min: 4}, rules: {static: {below: 0}},"
              " severity: [{level: critical, score_at_least: 5}, {level: notice}]}");
    double u[] = {8, 12, 8, 12, -1, 10};
    series(rows, u, 6);
    feed(&o, rows, 0, 6, out, 6);
    assert_string_equal(out[4].sev, "notice");
    assert_string_equal(out[4].reason, "value -1 < 0");
    assert_string_equal(out[5].sev, "");
    op_free(&o);
}

static void test_only_final(void **state) {
    (void)state;
    make_series(ROWS, NROWS);
    /* interleave non-final updates (random values) before each final row */
    static in_row mixed[2 * NROWS];
    static out_row mout[2 * NROWS];
    int m = 0;
    for (int i = 0; i < NROWS; i++) {
        if (!isnan(ROWS[i].v) && rnd() % 2)
            mixed[m++] = (in_row){ROWS[i].key, ROWS[i].t, 1e6 * urand(), false};
        mixed[m++] = ROWS[i];
    }
    const char *spec =
        "{value: v, key: ent, baseline: {size: 20, min: 5}, rules: {zscore: 3, mad: 3.5}}";
    op_t o;
    op_ok(&o, spec);
    feed(&o, mixed, 0, m, mout, 50);
    int j = 0;
    for (int i = 0; i < m; i++) {
        if (!mixed[i].final) {
            assert_true(isnan(mout[i].mean) && isnan(mout[i].sd) && isnan(mout[i].z) &&
                        isnan(mout[i].rz));
            assert_int_equal(mout[i].anom, -1);
            assert_string_equal(mout[i].sev, "");
        } else {
            GOT[j++] = mout[i];
        }
    }
    assert_int_equal(j, NROWS);
    bf_cfg c = {3, 3.5, 0.99, 1.0, 20, 5};
    brute_window(ROWS, NROWS, &c, WANT);
    for (int i = 0; i < NROWS; i++)
        WANT[i].anom = fabs(WANT[i].z) > 3 || fabs(WANT[i].rz) > 3.5;
    compare(GOT, WANT, NROWS, true, false);
    op_free(&o);

    /* only_final: false scores every row (non-final values replace at the same time) */
    op_ok(&o, "{value: v, key: ent, only_final: false, baseline: {size: 20, min: 5}, rules: "
              "{zscore: 3}}");
    feed(&o, mixed, 0, m, mout, 50);
    for (int i = 0; i < m; i++)
        assert_true(mout[i].anom >= 0);
    /* the final row replaced its non-final predecessor: scores equal the final-only run */
    j = 0;
    for (int i = 0; i < m; i++)
        if (mixed[i].final) {
            assert_close(mout[i].mean, WANT[j].mean, i, "baseline_mean (only_final false)");
            assert_close(mout[i].z, WANT[j].z, i, "zscore (only_final false)");
            j++;
        }
    op_free(&o);

    /* the same with an EWMA: a same-time row folds into the state before the replaced value */
    op_ok(&o, "{value: v, key: ent, only_final: false, baseline: {method: ewma, alpha: 0.2}, "
              "rules: {zscore: 3}}");
    feed(&o, mixed, 0, m, mout, 50);
    brute_ewma(ROWS, NROWS, 0.2, 3, 5, WANT);
    j = 0;
    for (int i = 0; i < m; i++)
        if (mixed[i].final) GOT[j++] = mout[i];
    compare(GOT, WANT, NROWS, false, false);
    op_free(&o);
}

static void snapshot_case(const char *spec, int max_batch) {
    make_series(ROWS, NROWS);
    op_t a;
    op_ok(&a, spec);
    feed(&a, ROWS, 0, NROWS, GOT, max_batch);
    op_free(&a);

    /* b: first part, full snapshot, two deltas, then "crash" */
    op_t b;
    op_ok(&b, spec);
    sl_buf full = {0}, d1 = {0}, d2 = {0};
    int c1 = NROWS / 3, c2 = c1 + 1, c3 = 2 * NROWS / 3;
    feed(&b, ROWS, 0, c1, GOT2, max_batch);
    assert_int_equal(b.def->snapshot(b.self, &full, true), 0);
    feed(&b, ROWS, c1, c2, GOT2, max_batch);
    assert_int_equal(b.def->snapshot(b.self, &d1, false), 0);
    feed(&b, ROWS, c2, c3, GOT2, max_batch);
    assert_int_equal(b.def->snapshot(b.self, &d2, false), 0);
    assert_true(d1.n < full.n / 2); /* a delta holds only the keys changed (one row: one key) */
    op_free(&b);

    op_t c;
    op_ok(&c, spec);
    sl_error err = {0};
    assert_int_equal(c.def->restore(c.self, full.p, full.n, true, &err), 0);
    assert_int_equal(c.def->restore(c.self, d1.p, d1.n, false, &err), 0);
    assert_int_equal(c.def->restore(c.self, d2.p, d2.n, false, &err), 0);
    feed(&c, ROWS, c3, NROWS, GOT2, max_batch);
    for (int i = 0; i < c3; i++)
        GOT2[i] = GOT[i]; /* only the part after restore is new */
    for (int i = c3; i < NROWS; i++) {
        assert_close(GOT2[i].mean, GOT[i].mean, i, "mean after restore");
        assert_close(GOT2[i].sd, GOT[i].sd, i, "sd after restore");
        assert_close(GOT2[i].z, GOT[i].z, i, "z after restore");
        assert_close(GOT2[i].rz, GOT[i].rz, i, "rz after restore");
        assert_close(GOT2[i].pt, GOT[i].pt, i, "pt after restore");
        assert_int_equal(GOT2[i].anom, GOT[i].anom);
        assert_string_equal(GOT2[i].reason, GOT[i].reason);
        assert_string_equal(GOT2[i].sev, GOT[i].sev);
    }
    /* a full snapshot of the restored operator equals one of the restored state + nothing:
     * restoring it again into a fresh operator gives the same stats */
    char s1[512], s2[512];
    sl_op_stats_json(c.def, c.self, s1, sizeof s1);
    sl_buf again = {0};
    c.def->snapshot(c.self, &again, true);
    op_t d;
    op_ok(&d, spec);
    assert_int_equal(d.def->restore(d.self, again.p, again.n, true, &err), 0);
    sl_op_stats_json(d.def, d.self, s2, sizeof s2);
    assert_string_equal(s1, s2);
    /* truncated snapshots are refused */
    assert_int_equal(d.def->restore(d.self, again.p, again.n - 3, true, &err), SL_ECORRUPT);
    assert_int_equal(d.def->restore(d.self, again.p, 5, true, &err), SL_ECORRUPT);
    sl_op_stats_json(d.def, d.self, s2, sizeof s2); /* a refused snapshot leaves the state alone */
    assert_string_equal(s1, s2);
    op_free(&d);
    op_free(&c);
    sl_buf_free(&full);
    sl_buf_free(&d1);
    sl_buf_free(&d2);
    sl_buf_free(&again);
}

static void test_snapshot_restore(void **state) {
    (void)state;
    snapshot_case("{value: v, key: [ent], baseline: {size: 20, min: 5},"
                  " rules: {zscore: 3, mad: 3.5, percentile: {q: 0.99, factor: 1.5}},"
                  " severity: [{level: critical, score_at_least: 5}, {level: warning}]}",
                  30);
    snapshot_case(
        "{value: v, key: [ent], baseline: {method: ewma, halflife: 8}, rules: {zscore: 3}}", 7);
}

static void test_stats_and_prefix(void **state) {
    (void)state;
    op_t o;
    op_ok(&o, "{value: v, key: ent, prefix: lat_, rules: {zscore: 3}, max_keys: 2}");
    assert_true(sl_schema_find(&o.schema, "lat_zscore") >= 0);
    assert_true(sl_schema_find(&o.schema, "lat_is_anomaly") >= 0);
    assert_true(sl_schema_find(&o.schema, "lat_severity") >= 0);
    assert_true(sl_schema_find(&o.schema, "zscore") < 0);
    make_series(ROWS, 300);
    static out_row out[300];
    PREFIX = "lat_";
    feed(&o, ROWS, 0, 300, out, 20);
    PREFIX = "";
    int flagged = 0;
    for (int i = 0; i < 300; i++)
        flagged += out[i].anom == 1;
    assert_true(flagged > 0);
    char buf[512];
    sl_op_stats_json(o.def, o.self, buf, sizeof buf);
    assert_non_null(strstr(buf, "\"keys\":2,"));
    assert_null(strstr(buf, "\"keys_refused\":0,"));
    op_free(&o);
}

/* ------------------------------------------------------------ bad specs */

static void expect_error(const char *doc, const char *want) {
    op_t o;
    sl_error err = {0};
    int rc = op_make_doc(&o, doc, &err);
    if (rc == 0) {
        op_free(&o);
        fail_msg("spec accepted, wanted: %s", want);
    }
    if (!strstr(err.msg, want)) fail_msg("error '%s' lacks '%s'", err.msg, want);
}

static void test_bad_specs(void **state) {
    (void)state;
    expect_error("arg:\n  value: v\n  rules: {zscor: 3}\n",
                 "test.yaml:3:11: anomaly rules: unknown key 'zscor' (did you mean 'zscore'?)");
    expect_error("arg:\n  value: v\n  baseline: {method: ewma, alpha: 0.1}\n  rules: {mad: 3.5}\n",
                 "test.yaml:4:16: anomaly rules: mad needs baseline method window");
    expect_error(
        "arg:\n  value: v\n  baseline: {method: ewma}\n  rules:\n    percentile: {q: 0.9}\n",
        "test.yaml:5:17: anomaly rules: percentile needs baseline method window");
    expect_error("arg:\n  value: v\n  baseline: {size: 10, min: 11}\n  rules: {zscore: 3}\n",
                 "test.yaml:3:29: anomaly baseline: min must be in 1..10, got 11");
    expect_error("arg:\n  value: v\n  baseline: {method: ewmaa}\n  rules: {zscore: 3}\n",
                 "test.yaml:3:22: anomaly baseline: method must be one of window|ewma");
    expect_error("arg:\n  value: v\n  baseline: {method: ewma, alpha: 0.1, halflife: 3}\n  rules: "
                 "{zscore: 3}\n",
                 "test.yaml:3:50: anomaly baseline: give alpha or halflife, not both");
    expect_error("arg:\n  value: v\n  baseline: {method: ewma, alpha: 1.5}\n  rules: {zscore: 3}\n",
                 "test.yaml:3:35: anomaly baseline: alpha must be in (0, 1]");
    expect_error("arg:\n  value: v\n  key: [ent, nope]\n  rules: {zscore: 3}\n",
                 "test.yaml:3:14: anomaly: unknown key column 'nope'");
    expect_error("arg:\n  value: \"ent || 'x'\"\n  rules: {zscore: 3}\n",
                 "test.yaml:2:10: anomaly: value must be a numeric expression, got string");
    expect_error("arg:\n  value: \"v + nope\"\n  rules: {zscore: 3}\n",
                 "test.yaml:2:15: unknown column 'nope'");
    expect_error("arg:\n  value: v\n", "test.yaml:2:3: anomaly: missing key 'rules'");
    expect_error("arg:\n  value: v\n  rules: {}\n",
                 "test.yaml:3:10: anomaly rules: give at least one rule");
    expect_error("arg:\n  value: v\n  rules: {percentile: {q: 1.5}}\n",
                 "test.yaml:3:27: anomaly rules percentile: q must be in [0, 1], got 1.5");
    expect_error("arg:\n  value: v\n  rules: {static: {}}\n",
                 "test.yaml:3:19: anomaly rules static: give above and/or below");
    expect_error("arg:\n  value: v\n  rules: {zscore: 3}\n  severity:\n    - {levl: x}\n",
                 "test.yaml:5:8: anomaly severity: unknown key 'levl' (did you mean 'level'?)");
    expect_error(
        "arg:\n  value: v\n  rules: {zscore: 3}\n  severity:\n    - {zscore_at_least: 3}\n",
        "test.yaml:5:7: anomaly severity: missing key 'level'");
    expect_error("arg:\n  value: v\n  time: ent\n  rules: {zscore: three}\n",
                 "test.yaml:3:9: anomaly: time column 'ent' must be a timestamp or int, is string");
    expect_error("arg:\n  value: v\n  rules: {zscore: three}\n",
                 "test.yaml:3:19: anomaly rules: zscore must be a number, got 'three'");
    expect_error("arg:\n  value: v\n  prefix: v\n  rules: {zscore: 3}\n  only_final: maybe\n",
                 "test.yaml:5:15: anomaly: only_final must be");
}

static void test_clash(void **state) {
    (void)state;
    /* adding the same columns twice needs a prefix */
    op_t o;
    op_ok(&o, "{value: v, rules: {zscore: 3}}");
    sl_schema s = o.schema;
    const char *doc = "arg: {value: v, rules: {zscore: 3}}\n";
    sl_error e = {0};
    sl_spec *sp = sl_spec_load_mem("test.yaml", doc, strlen(doc), NULL, &e);
    void *self = NULL;
    sl_op_env env = {"t", ".", NULL};
    assert_int_equal(o.def->create(sl_node_get(sl_spec_root(sp), "arg"), &s, &env, &self, &e),
                     SL_EINVAL);
    assert_non_null(strstr(
        e.msg, "test.yaml:1:6: anomaly: column 'baseline_mean' already exists (use prefix)"));
    sl_spec_free(sp);
    op_free(&o);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_window_brute_force),
        cmocka_unit_test(test_ewma_brute_force),
        cmocka_unit_test(test_percentile_threshold),
        cmocka_unit_test(test_min_warmup),
        cmocka_unit_test(test_severity),
        cmocka_unit_test(test_only_final),
        cmocka_unit_test(test_snapshot_restore),
        cmocka_unit_test(test_stats_and_prefix),
        cmocka_unit_test(test_bad_specs),
        cmocka_unit_test(test_clash),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
