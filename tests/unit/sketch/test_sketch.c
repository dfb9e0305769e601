/*
 * test_sketch.c - unit tests for src/sketch: DDSketch, HyperLogLog,
 * Welford, EWMA and the robust helpers.
 *
 * Every accuracy claim of the headers is checked against brute force:
 * quantiles against the sorted data at rank floor(q*(n-1)), distinct counts
 * against the known number of distinct hashes, variances against a two-pass
 * long-double computation. Data is generated with a fixed-seed splitmix64,
 * so the tests are deterministic.
 */
#include <float.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
/* clang-format off: cmocka.h needs the headers above first */
#include <cmocka.h>
/* clang-format on */

#include "core/error.h"
#include "core/hash.h"
#include "sketch/ddsketch.h"
#include "sketch/ewma.h"
#include "sketch/hll.h"
#include "sketch/robust.h"
#include "sketch/welford.h"

/* ---- data ------------------------------------------------------------ */

static uint64_t rng_state;
static uint64_t rng_next(void) {
    uint64_t z = (rng_state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}
static double unif(void) { return ((double)(rng_next() >> 11) + 0.5) * 0x1.0p-53; } /* (0,1) */
static double normal(void) { return sqrt(-2 * log(unif())) * cos(2 * M_PI * unif()); }
static double lognormal(double mu, double sigma) { return exp(mu + sigma * normal()); }
static double pareto(double xm, double a) { return xm / pow(unif(), 1.0 / a); }
static double expo(double rate) { return -log(unif()) / rate; }

static int cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static const double QS[] = {0, 0.01, 0.25, 0.5, 0.9, 0.95, 0.99, 0.999, 1};
#define NQS (sizeof QS / sizeof QS[0])

/* Checks every q of QS (and a finer grid) against the sorted data. */
static void check_quantiles(const sl_ddsketch *s, double *v, size_t n, double alpha,
                            const char *what) {
    double *sorted = malloc(n * sizeof *sorted);
    memcpy(sorted, v, n * sizeof *v);
    qsort(sorted, n, sizeof *sorted, cmp_d);
    assert_int_equal(sl_ddsketch_count(s), n);
    assert_true(sl_ddsketch_min(s) == sorted[0]);
    assert_true(sl_ddsketch_max(s) == sorted[n - 1]);
    for (size_t i = 0; i < NQS + 101; i++) {
        double q = i < NQS ? QS[i] : (double)(i - NQS) / 100.0;
        size_t r = (size_t)floor(q * (double)(n - 1));
        double exact = sorted[r], x = sl_ddsketch_quantile(s, q);
        if (!(fabs(x - exact) <= alpha * fabs(exact) * (1 + 1e-9)))
            fail_msg("%s: q=%g n=%zu: got %.17g, exact %.17g, rel err %g > alpha %g", what, q, n, x,
                     exact, fabs(x - exact) / fabs(exact), alpha);
    }
    free(sorted);
}

typedef double (*gen_fn)(void);
static double g_lognormal(void) { return lognormal(log(0.05), 1.0); }
static double g_pareto(void) { return pareto(1.0, 1.2); }
static double g_expo(void) { return expo(0.5); }
static double g_wide(void) { return pow(10, -3 + 12 * unif()); } /* 1e-3 .. 1e9, log-uniform */
static double g_mixed(void) { return normal() * 1e3; }           /* both signs around 0 */
static double g_negative(void) { return -lognormal(2, 2); }      /* all negative, skewed */
static double g_signs_wide(void) { return (unif() < 0.3 ? -1 : 1) * pow(10, -3 + 12 * unif()); }
static double g_zeros(void) { return unif() < 0.2 ? 0.0 : expo(1) - 0.5; }

/* ---- DDSketch ---------------------------------------------------------- */

static void test_dd_accuracy(void **state) {
    (void)state;
    struct {
        const char *name;
        gen_fn g;
    } dists[] = {
        {"lognormal", g_lognormal},        {"pareto", g_pareto},
        {"exponential", g_expo},           {"1e-3..1e9", g_wide},
        {"normal*1e3", g_mixed},           {"negative", g_negative},
        {"signs 1e-3..1e9", g_signs_wide}, {"zeros", g_zeros},
    };
    const double alphas[] = {0.01, 0.001, 0.05};
    size_t n = 200000;
    double *v = malloc(n * sizeof *v);
    for (size_t a = 0; a < 3; a++) {
        for (size_t d = 0; d < sizeof dists / sizeof dists[0]; d++) {
            rng_state = 1000 + d;
            /* 2048 buckets span 6e17 at 1% but only 6e1 at 0.1%: raise the limit */
            sl_ddsketch *s = sl_ddsketch_new_ex(
                alphas[a], alphas[a] < 0.01 ? 1u << 16 : SL_DDSKETCH_MAX_BUCKETS);
            for (size_t i = 0; i < n; i++)
                sl_ddsketch_add(s, v[i] = dists[d].g());
            check_quantiles(s, v, n, alphas[a], dists[d].name);
            sl_ddsketch_free(s);
        }
    }
    /* small n, including 2 and 3 values where ranks fall between */
    for (size_t m = 1; m < 60; m++) {
        rng_state = m;
        sl_ddsketch *s = sl_ddsketch_new(0.01);
        for (size_t i = 0; i < m; i++)
            sl_ddsketch_add(s, v[i] = g_signs_wide());
        check_quantiles(s, v, m, 0.01, "small n");
        sl_ddsketch_free(s);
    }
    free(v);
}

static void test_dd_all_equal_and_extremes(void **state) {
    (void)state;
    double vals[] = {42.5, -7.25, 0.0, 1e-300, DBL_MAX, -DBL_MAX, DBL_MIN, 1.0};
    for (size_t k = 0; k < sizeof vals / sizeof vals[0]; k++) {
        sl_ddsketch *s = sl_ddsketch_new(0.01);
        for (int i = 0; i < 1000; i++)
            sl_ddsketch_add(s, vals[k]);
        for (size_t i = 0; i < NQS; i++)
            assert_true(sl_ddsketch_quantile(s, QS[i]) == vals[k]);
        sl_ddsketch_free(s);
    }
    /* extremes together: every normal double magnitude in one sketch */
    sl_ddsketch *s = sl_ddsketch_new_ex(0.01, 1u << 17); /* 70850 buckets DBL_MIN..DBL_MAX */
    double v[] = {-DBL_MAX, -1e200, -1, -DBL_MIN, 0, DBL_MIN, 1e-100, 1, 1e100, DBL_MAX};
    size_t n = sizeof v / sizeof v[0];
    for (size_t i = 0; i < n; i++)
        sl_ddsketch_add(s, v[i]);
    check_quantiles(s, v, n, 0.01, "extremes");
    sl_ddsketch_free(s);
}

static void test_dd_empty_single(void **state) {
    (void)state;
    sl_ddsketch *s = sl_ddsketch_new(SL_DDSKETCH_DEFAULT_ALPHA);
    assert_non_null(s);
    assert_true(isnan(sl_ddsketch_quantile(s, 0.5)));
    assert_true(isnan(sl_ddsketch_min(s)));
    assert_true(isnan(sl_ddsketch_max(s)));
    assert_true(sl_ddsketch_sum(s) == 0);
    assert_int_equal(sl_ddsketch_count(s), 0);
    sl_ddsketch_add(s, 3.5);
    for (size_t i = 0; i < NQS; i++)
        assert_true(sl_ddsketch_quantile(s, QS[i]) == 3.5);
    assert_true(isnan(sl_ddsketch_quantile(s, -0.1)));
    assert_true(isnan(sl_ddsketch_quantile(s, 1.1)));
    assert_true(isnan(sl_ddsketch_quantile(s, NAN)));
    assert_true(sl_ddsketch_sum(s) == 3.5);
    sl_ddsketch_clear(s);
    assert_int_equal(sl_ddsketch_count(s), 0);
    assert_true(isnan(sl_ddsketch_quantile(s, 0.5)));
    sl_ddsketch_add(s, -2);
    assert_true(sl_ddsketch_quantile(s, 0.5) == -2);
    sl_ddsketch_free(s);
    assert_null(sl_ddsketch_new(0));
    assert_null(sl_ddsketch_new(NAN));
    assert_null(sl_ddsketch_new(0.9));
    assert_null(sl_ddsketch_new_ex(0.01, 4));
}

static void test_dd_quantiles_batch(void **state) {
    (void)state;
    sl_ddsketch *s = sl_ddsketch_new(0.01);
    double qs[101], out[101];
    for (int i = 0; i <= 100; i++)
        qs[i] = i / 100.0;
    assert_int_equal(sl_ddsketch_quantiles(s, qs, 101, out), 0);
    for (int i = 0; i <= 100; i++)
        assert_true(isnan(out[i]));
    rng_state = 31;
    for (int i = 0; i < 10000; i++)
        sl_ddsketch_add(s, g_zeros() * 10);
    assert_int_equal(sl_ddsketch_quantiles(s, qs, 101, out), 0);
    for (int i = 0; i <= 100; i++)
        assert_true(out[i] == sl_ddsketch_quantile(s, qs[i]));
    double odd[] = {-1, 0, 0.5, 0.5, 0.99, 1, 2};
    double o2[7];
    assert_int_equal(sl_ddsketch_quantiles(s, odd, 7, o2), 0);
    assert_true(isnan(o2[0]) && isnan(o2[6]));
    for (int i = 1; i < 6; i++)
        assert_true(o2[i] == sl_ddsketch_quantile(s, odd[i]));
    double desc[] = {0.9, 0.5};
    assert_int_equal(sl_ddsketch_quantiles(s, desc, 2, o2), SL_EINVAL);
    sl_ddsketch_free(s);
}

static void test_dd_nonfinite(void **state) {
    (void)state;
    sl_ddsketch *s = sl_ddsketch_new(0.01);
    sl_ddsketch_add(s, 1);
    sl_ddsketch_add(s, NAN);
    sl_ddsketch_add(s, INFINITY);
    sl_ddsketch_add(s, -INFINITY);
    sl_ddsketch_add_n(s, NAN, 5);
    sl_ddsketch_add(s, 2);
    assert_int_equal(sl_ddsketch_count(s), 2);
    assert_int_equal(sl_ddsketch_dropped(s), 8);
    assert_true(sl_ddsketch_max(s) == 2);
    assert_true(sl_ddsketch_min(s) == 1);
    assert_true(sl_ddsketch_sum(s) == 3);
    sl_ddsketch_free(s);
}

static void test_dd_add_n(void **state) {
    (void)state;
    sl_ddsketch *a = sl_ddsketch_new(0.01), *b = sl_ddsketch_new(0.01);
    rng_state = 7;
    for (int i = 0; i < 1000; i++) {
        double v = g_signs_wide();
        uint64_t k = rng_next() % 5;
        sl_ddsketch_add_n(a, v, k);
        for (uint64_t j = 0; j < k; j++)
            sl_ddsketch_add(b, v);
    }
    assert_int_equal(sl_ddsketch_count(a), sl_ddsketch_count(b));
    for (int i = 0; i <= 1000; i++)
        assert_true(sl_ddsketch_quantile(a, i / 1000.0) == sl_ddsketch_quantile(b, i / 1000.0));
    /* counts wider than 16 and 32 bits widen the store */
    sl_ddsketch_add_n(a, 5.0, 70000);
    sl_ddsketch_add_n(a, 5.0, 5000000000ull);
    assert_int_equal(sl_ddsketch_count(a), sl_ddsketch_count(b) + 5000070000ull);
    assert_true(fabs(sl_ddsketch_quantile(a, 0.5) - 5.0) <= 0.05);
    sl_ddsketch_free(a);
    sl_ddsketch_free(b);
}

static void assert_same_quantiles(const sl_ddsketch *a, const sl_ddsketch *b) {
    assert_int_equal(sl_ddsketch_count(a), sl_ddsketch_count(b));
    assert_true(sl_ddsketch_min(a) == sl_ddsketch_min(b));
    assert_true(sl_ddsketch_max(a) == sl_ddsketch_max(b));
    for (int i = 0; i <= 1000; i++) {
        double x = sl_ddsketch_quantile(a, i / 1000.0), y = sl_ddsketch_quantile(b, i / 1000.0);
        if (x != y) fail_msg("q=%g: %.17g != %.17g", i / 1000.0, x, y);
    }
}

static void test_dd_merge(void **state) {
    (void)state;
    size_t n = 300000;
    double *v = malloc(n * sizeof *v);
    rng_state = 42;
    for (size_t i = 0; i < n; i++)
        v[i] = i % 3 == 0 ? g_mixed() : i % 3 == 1 ? g_pareto() : g_zeros();
    sl_ddsketch *all = sl_ddsketch_new(0.01), *p[3];
    for (int k = 0; k < 3; k++)
        p[k] = sl_ddsketch_new(0.01);
    for (size_t i = 0; i < n; i++) {
        sl_ddsketch_add(all, v[i]);
        sl_ddsketch_add(p[i * 3 / n], v[i]);
    }
    /* (A+B)+C */
    sl_ddsketch *l = sl_ddsketch_new(0.01);
    assert_int_equal(sl_ddsketch_merge(l, p[0]), 0);
    assert_int_equal(sl_ddsketch_merge(l, p[1]), 0);
    assert_int_equal(sl_ddsketch_merge(l, p[2]), 0);
    /* A+(B+C) */
    sl_ddsketch *bc = sl_ddsketch_new(0.01), *r = sl_ddsketch_new(0.01);
    assert_int_equal(sl_ddsketch_merge(bc, p[1]), 0);
    assert_int_equal(sl_ddsketch_merge(bc, p[2]), 0);
    assert_int_equal(sl_ddsketch_merge(r, p[0]), 0);
    assert_int_equal(sl_ddsketch_merge(r, bc), 0);
    assert_same_quantiles(l, all);
    assert_same_quantiles(r, all);
    assert_true(fabs(sl_ddsketch_sum(l) - sl_ddsketch_sum(all)) <=
                1e-9 * fabs(sl_ddsketch_sum(all)) + 1e-6);
    check_quantiles(l, v, n, 0.01, "merged");

    /* an hour from twelve 5-minute sketches is the hour's quantiles */
    sl_ddsketch *hour = sl_ddsketch_new(0.01), *five[12];
    for (int k = 0; k < 12; k++)
        five[k] = sl_ddsketch_new(0.01);
    rng_state = 99;
    for (size_t i = 0; i < n; i++) {
        v[i] = lognormal(log(20.0 + 10 * (double)(i * 12 / n)), 0.8); /* drifting latency */
        sl_ddsketch_add(five[i * 12 / n], v[i]);
    }
    for (int k = 0; k < 12; k++)
        assert_int_equal(sl_ddsketch_merge(hour, five[k]), 0);
    check_quantiles(hour, v, n, 0.01, "hour from 5-minute sketches");

    /* self merge doubles counts */
    sl_ddsketch *twice = sl_ddsketch_new(0.01);
    sl_ddsketch_merge(twice, p[0]);
    sl_ddsketch_merge(twice, p[0]);
    assert_int_equal(sl_ddsketch_merge(p[0], p[0]), 0);
    assert_same_quantiles(p[0], twice);

    /* alphas must match */
    sl_ddsketch *other = sl_ddsketch_new(0.02);
    sl_ddsketch_add(other, 1);
    assert_int_equal(sl_ddsketch_merge(l, other), SL_EINVAL);
    assert_same_quantiles(l, all);

    sl_ddsketch_free(other);
    sl_ddsketch_free(twice);
    for (int k = 0; k < 12; k++)
        sl_ddsketch_free(five[k]);
    sl_ddsketch_free(hour);
    sl_ddsketch_free(bc);
    sl_ddsketch_free(r);
    sl_ddsketch_free(l);
    for (int k = 0; k < 3; k++)
        sl_ddsketch_free(p[k]);
    sl_ddsketch_free(all);
    free(v);
}

static void test_dd_collapse(void **state) {
    (void)state;
    /* 64 buckets at 1% span only a factor ~3.6: values over 1e-3..1e9 collapse */
    size_t n = 100000;
    double *v = malloc(n * sizeof *v);
    rng_state = 5;
    sl_ddsketch *s = sl_ddsketch_new_ex(0.01, 64);
    sl_ddsketch *neg = sl_ddsketch_new_ex(0.01, 64);
    for (size_t i = 0; i < n; i++) {
        v[i] = g_wide();
        sl_ddsketch_add(s, v[i]);
        sl_ddsketch_add(neg, -v[i]);
    }
    assert_int_equal(sl_ddsketch_count(s), n);
    assert_true(sl_ddsketch_bytes(s) <= 64 * 8 + 256);
    double *sorted = malloc(n * sizeof *sorted);
    memcpy(sorted, v, n * sizeof *v);
    qsort(sorted, n, sizeof *sorted, cmp_d);
    /* the top 64 buckets (a factor of gamma^63 ~ 3.5 below max) keep the guarantee */
    double floor_v = sorted[n - 1] / 3.4;
    for (int i = 0; i <= 1000; i++) {
        double q = i / 1000.0;
        size_t r = (size_t)floor(q * (double)(n - 1));
        double x = sl_ddsketch_quantile(s, q);
        if (sorted[r] >= floor_v)
            assert_true(fabs(x - sorted[r]) <= 0.01 * sorted[r] * (1 + 1e-9));
        else
            assert_true(x <= floor_v * 1.03); /* collapsed: reported in the lowest kept bucket */
        /* the negative store folds its most negative values, so near zero it is exact:
         * data -v sorted ascending is -sorted[n-1-i] */
        double nexact = -sorted[n - 1 - r], y = sl_ddsketch_quantile(neg, q);
        if (-nexact <= sorted[0] * 3.4)
            assert_true(fabs(y - nexact) <= 0.01 * -nexact * (1 + 1e-9));
    }
    /* merging collapsed sketches keeps the bound */
    sl_ddsketch *m = sl_ddsketch_new_ex(0.01, 64);
    sl_ddsketch_merge(m, s);
    sl_ddsketch_merge(m, s);
    assert_int_equal(sl_ddsketch_count(m), 2 * n);
    assert_true(sl_ddsketch_bytes(m) <= 64 * 8 + 256);
    assert_true(sl_ddsketch_quantile(m, 0.999) == sl_ddsketch_quantile(s, 0.999));
    sl_ddsketch_free(m);
    sl_ddsketch_free(neg);
    sl_ddsketch_free(s);
    free(sorted);
    free(v);
}

static void test_dd_memory(void **state) {
    (void)state;
    const double sigmas[] = {0.5, 1.0, 2.0};
    for (int k = 0; k < 3; k++) {
        rng_state = 11;
        sl_ddsketch *s = sl_ddsketch_new(0.01);
        for (int i = 0; i < 1000000; i++)
            sl_ddsketch_add(s, lognormal(log(0.05), sigmas[k]));
        void *buf;
        size_t len;
        assert_int_equal(sl_ddsketch_serialize(s, &buf, &len), 0);
        print_message(
            "ddsketch 1%%, 1M lognormal(sigma=%.1f): %zu bytes in memory, %zu serialised\n",
            sigmas[k], sl_ddsketch_bytes(s), len);
        if (sigmas[k] == 1.0) assert_true(sl_ddsketch_bytes(s) <= 2048);
        free(buf);
        sl_ddsketch_free(s);
    }
}

static void test_dd_serialize(void **state) {
    (void)state;
    sl_error err = {0};
    sl_ddsketch *s = sl_ddsketch_new(0.01);
    /* empty round trip */
    void *buf;
    size_t len;
    assert_int_equal(sl_ddsketch_serialize(s, &buf, &len), 0);
    sl_ddsketch *e = sl_ddsketch_deserialize(buf, len, &err);
    assert_non_null(e);
    assert_int_equal(sl_ddsketch_count(e), 0);
    assert_true(isnan(sl_ddsketch_quantile(e, 0.5)));
    sl_ddsketch_free(e);
    free(buf);

    rng_state = 3;
    for (int i = 0; i < 100000; i++)
        sl_ddsketch_add(s, g_zeros() * 100);
    sl_ddsketch_add_n(s, 1e6, 100000); /* a wide bucket */
    sl_ddsketch_add(s, NAN);
    assert_int_equal(sl_ddsketch_serialize(s, &buf, &len), 0);
    sl_ddsketch *t = sl_ddsketch_deserialize(buf, len, &err);
    assert_non_null(t);
    assert_same_quantiles(s, t);
    assert_true(sl_ddsketch_sum(s) == sl_ddsketch_sum(t));
    assert_int_equal(sl_ddsketch_dropped(t), 1);
    assert_true(sl_ddsketch_alpha(t) == 0.01);
    void *buf2;
    size_t len2;
    assert_int_equal(sl_ddsketch_serialize(t, &buf2, &len2), 0);
    assert_int_equal(len, len2);
    assert_memory_equal(buf, buf2, len);
    free(buf2);
    /* a restored sketch keeps working: add and merge */
    sl_ddsketch_add(t, 5);
    sl_ddsketch_add(s, 5);
    assert_int_equal(sl_ddsketch_merge(t, s), 0);
    assert_int_equal(sl_ddsketch_count(t), 2 * sl_ddsketch_count(s));
    sl_ddsketch_free(t);

    /* every truncation and a bad magic/version are refused */
    for (size_t cut = 0; cut < len; cut++) {
        err.code = 0;
        assert_null(sl_ddsketch_deserialize(buf, cut, &err));
        assert_int_equal(err.code, SL_ECORRUPT);
    }
    unsigned char *bad = malloc(len + 1);
    memcpy(bad, buf, len);
    bad[len] = 0;
    assert_null(sl_ddsketch_deserialize(bad, len + 1, &err)); /* trailing byte */
    bad[0] = 'X';
    assert_null(sl_ddsketch_deserialize(bad, len, &err));
    assert_int_equal(err.code, SL_ECORRUPT);
    /* single-byte flips never crash; what decodes is internally consistent */
    for (size_t i = 0; i < len; i++) {
        memcpy(bad, buf, len);
        bad[i] ^= (unsigned char)(1u << (i % 8));
        sl_ddsketch *f = sl_ddsketch_deserialize(bad, len, &err);
        if (f) {
            double prev = -INFINITY;
            for (int k = 0; k <= 100; k++) {
                double x = sl_ddsketch_quantile(f, k / 100.0);
                assert_true(x >= prev);
                prev = x;
            }
            sl_ddsketch_free(f);
        }
    }
    assert_null(sl_ddsketch_deserialize(NULL, 0, &err));
    free(bad);
    free(buf);
    sl_ddsketch_free(s);
}

/* ---- HyperLogLog ------------------------------------------------------- */

static sl_hll *hll_range(int p, uint64_t from, uint64_t to) {
    sl_hll *h = sl_hll_new(p);
    for (uint64_t i = from; i < to; i++)
        assert_int_equal(sl_hll_add_hash(h, sl_hash_int((int64_t)i, 7)), 0);
    return h;
}

static void test_hll_accuracy(void **state) {
    (void)state;
    const uint64_t ns[] = {2000, 5000, 10000, 20000, 40000, 60000, 100000, 1000000, 10000000};
    sl_hll *h = sl_hll_new(SL_HLL_DEFAULT_P);
    double se = sl_hll_std_error(h);
    assert_true(fabs(se - 1.04 / 128) < 1e-12);
    uint64_t added = 0;
    for (size_t k = 0; k < sizeof ns / sizeof ns[0]; k++) {
        for (; added < ns[k]; added++)
            sl_hll_add_hash(h, sl_hash_int((int64_t)added, 7));
        uint64_t est = sl_hll_estimate(h);
        double rel = ((double)est - (double)ns[k]) / (double)ns[k];
        print_message("hll p=14 n=%-9llu estimate=%-9llu rel.err=%+.4f (%.2f SE)\n",
                      (unsigned long long)ns[k], (unsigned long long)est, rel, rel / se);
        assert_true(fabs(rel) <= 3 * se);
    }
    print_message("hll p=14 register mode: %zu bytes\n", sl_hll_bytes(h));
    sl_hll_free(h);
    /* other precisions, 3 SE at a few sizes */
    for (int p = 10; p <= 16; p += 3) {
        for (uint64_t n = 3000; n <= 300000; n *= 10) {
            sl_hll *g = sl_hll_new_ex(p, 0);
            for (uint64_t i = 0; i < n; i++)
                sl_hll_add_hash(g, sl_hash_int((int64_t)i, (uint64_t)p));
            double rel = ((double)sl_hll_estimate(g) - (double)n) / (double)n;
            assert_true(fabs(rel) <= 3 * sl_hll_std_error(g));
            sl_hll_free(g);
        }
    }
    assert_null(sl_hll_new(3));
    assert_null(sl_hll_new(19));
}

static void assert_same_hll(const sl_hll *x, const sl_hll *y) {
    void *a, *b;
    size_t la, lb;
    assert_int_equal(sl_hll_serialize(x, &a, &la), 0);
    assert_int_equal(sl_hll_serialize(y, &b, &lb), 0);
    assert_int_equal(la, lb);
    assert_memory_equal(a, b, la);
    free(a);
    free(b);
}

/* The declared standard error, measured: over 200 independent sketches
 * (p = 10, SE 3.25%) the mean relative error (bias) is near 0 and the RMS
 * relative error near 1.04/sqrt(m), including around 2.5m where the
 * original estimator switches from linear counting. */
static void test_hll_bias_rms(void **state) {
    (void)state;
    const uint64_t ns[] = {300, 1500, 2560, 4000, 8000, 30000};
    const int trials = 200;
    for (size_t k = 0; k < sizeof ns / sizeof ns[0]; k++) {
        double sum = 0, sum2 = 0, se = 0;
        for (int t = 0; t < trials; t++) {
            sl_hll *h = sl_hll_new_ex(10, 0);
            se = sl_hll_std_error(h);
            for (uint64_t i = 0; i < ns[k]; i++)
                sl_hll_add_hash(h, sl_hash_int((int64_t)i, 1000 + (uint64_t)t));
            double rel = ((double)sl_hll_estimate(h) - (double)ns[k]) / (double)ns[k];
            sum += rel;
            sum2 += rel * rel;
            sl_hll_free(h);
        }
        double bias = sum / trials, rms = sqrt(sum2 / trials);
        print_message("hll p=10 n=%-6llu bias %+.4f rms %.4f (declared SE %.4f)\n",
                      (unsigned long long)ns[k], bias, rms, se);
        assert_true(fabs(bias) < 3 * se / sqrt(trials));
        assert_true(rms < 1.25 * se);
    }
}

static void test_hll_exact(void **state) {
    (void)state;
    sl_hll *h = sl_hll_new(14);
    assert_int_equal(sl_hll_estimate(h), 0);
    for (uint64_t i = 0; i < SL_HLL_EXACT_MAX; i++) {
        sl_hll_add_hash(h, i == 0 ? 0 : sl_hash_int((int64_t)i, 1)); /* the hash 0 too */
        sl_hll_add_hash(h, i == 0 ? 0 : sl_hash_int((int64_t)i, 1)); /* duplicate */
        assert_int_equal(sl_hll_estimate(h), i + 1);
    }
    assert_true(sl_hll_is_exact(h));
    print_message("hll exact mode, %d hashes: %zu bytes\n", SL_HLL_EXACT_MAX, sl_hll_bytes(h));
    sl_hll_add_hash(h, sl_hash_int(-1, 1));
    assert_false(sl_hll_is_exact(h));
    /* a converted sketch equals one that had registers all along */
    sl_hll *r = sl_hll_new_ex(14, 0);
    sl_hll_add_hash(r, 0);
    for (uint64_t i = 1; i < SL_HLL_EXACT_MAX; i++)
        sl_hll_add_hash(r, sl_hash_int((int64_t)i, 1));
    sl_hll_add_hash(r, sl_hash_int(-1, 1));
    sl_hll *h0 = sl_hll_new_ex(14, 0); /* same exact_max as r, so bytes compare */
    assert_int_equal(sl_hll_merge(h0, h), 0);
    assert_same_hll(h0, r);
    sl_hll_free(h0);
    sl_hll_clear(h);
    assert_true(sl_hll_is_exact(h));
    assert_int_equal(sl_hll_estimate(h), 0);
    sl_hll_add_hash(h, 5);
    assert_int_equal(sl_hll_estimate(h), 1);
    sl_hll_free(r);
    sl_hll_free(h);
}

static void test_hll_merge(void **state) {
    (void)state;
    const uint64_t sizes[] = {300, 800, 50000, 400000};
    for (size_t k = 0; k < 4; k++) {
        uint64_t n = sizes[k];
        /* disjoint */
        sl_hll *a = hll_range(14, 0, n), *b = hll_range(14, n, 2 * n), *u = hll_range(14, 0, 2 * n);
        assert_int_equal(sl_hll_merge(a, b), 0);
        assert_same_hll(a, u);
        double rel = ((double)sl_hll_estimate(a) - 2.0 * (double)n) / (2.0 * (double)n);
        assert_true(fabs(rel) <= 3 * sl_hll_std_error(a));
        if (2 * n <= SL_HLL_EXACT_MAX) assert_int_equal(sl_hll_estimate(a), 2 * n);
        sl_hll_free(a);
        sl_hll_free(b);
        /* overlapping: [0, 1.5n) + [0.5n, 2n) */
        a = hll_range(14, 0, n * 3 / 2);
        b = hll_range(14, n / 2, 2 * n);
        sl_hll *b2 = hll_range(14, n / 2, 2 * n);
        assert_int_equal(sl_hll_merge(b2, a), 0); /* other order */
        assert_int_equal(sl_hll_merge(a, b), 0);
        assert_same_hll(a, u);
        assert_same_hll(b2, u);
        assert_int_equal(sl_hll_merge(a, a), 0); /* idempotent */
        assert_same_hll(a, u);
        sl_hll_free(a);
        sl_hll_free(b);
        sl_hll_free(b2);
        sl_hll_free(u);
    }
    /* exact into registers and registers into exact */
    sl_hll *small = hll_range(14, 0, 100), *big = hll_range(14, 50, 100000),
           *u = hll_range(14, 0, 100000);
    sl_hll *s2 = hll_range(14, 0, 100);
    assert_int_equal(sl_hll_merge(small, big), 0);
    assert_same_hll(small, u);
    assert_int_equal(sl_hll_merge(big, s2), 0);
    assert_same_hll(big, u);
    sl_hll *p12 = sl_hll_new(12);
    assert_int_equal(sl_hll_merge(big, p12), SL_EINVAL);
    sl_hll_free(p12);
    sl_hll_free(small);
    sl_hll_free(s2);
    sl_hll_free(big);
    sl_hll_free(u);
}

static void test_hll_serialize(void **state) {
    (void)state;
    sl_error err = {0};
    const uint64_t sizes[] = {0, 1, 500, 100000};
    for (size_t k = 0; k < 4; k++) {
        sl_hll *h = hll_range(12, 0, sizes[k]);
        if (sizes[k] == 1) sl_hll_add_hash(h, 0);
        void *buf;
        size_t len;
        assert_int_equal(sl_hll_serialize(h, &buf, &len), 0);
        sl_hll *t = sl_hll_deserialize(buf, len, &err);
        assert_non_null(t);
        assert_int_equal(sl_hll_estimate(t), sl_hll_estimate(h));
        assert_int_equal(sl_hll_is_exact(t), sl_hll_is_exact(h));
        assert_same_hll(h, t);
        for (size_t cut = 0; cut < len; cut++) {
            err.code = 0;
            assert_null(sl_hll_deserialize(buf, cut, &err));
            assert_int_equal(err.code, SL_ECORRUPT);
        }
        unsigned char *bad = malloc(len);
        for (size_t i = 0; i < len; i++) {
            memcpy(bad, buf, len);
            bad[i] ^= 0x41;
            sl_hll *f = sl_hll_deserialize(bad, len, &err);
            if (f) {
                (void)sl_hll_estimate(f);
                sl_hll_free(f);
            }
        }
        free(bad);
        free(buf);
        sl_hll_free(t);
        sl_hll_free(h);
    }
}

/* ---- Welford ----------------------------------------------------------- */

static void test_welford(void **state) {
    (void)state;
    size_t n = 1000000;
    double *v = malloc(n * sizeof *v);
    rng_state = 17;
    for (size_t i = 0; i < n; i++)
        v[i] = 1e9 + normal();
    long double mean = 0, m2 = 0;
    for (size_t i = 0; i < n; i++)
        mean += v[i];
    mean /= (long double)n;
    for (size_t i = 0; i < n; i++)
        m2 += ((long double)v[i] - mean) * ((long double)v[i] - mean);
    double var = (double)(m2 / (long double)(n - 1));

    sl_welford w = {0}, part[4], merged;
    sl_welford_init(&merged);
    for (int k = 0; k < 4; k++)
        sl_welford_init(&part[k]);
    for (size_t i = 0; i < n; i++) {
        sl_welford_add(&w, v[i]);
        sl_welford_add(&part[i * 4 / n], v[i]);
    }
    double rel = fabs(sl_welford_variance(&w) - var) / var;
    print_message("welford 1e9+N(0,1), 1e6 values: variance rel.err %.3g, mean rel.err %.3g\n", rel,
                  fabs(sl_welford_mean(&w) - (double)mean) / (double)mean);
    assert_true(rel < 1e-9);
    assert_true(fabs(sl_welford_mean(&w) - (double)mean) <= 1e-15 * (double)mean);
    for (int k = 0; k < 4; k++)
        sl_welford_merge(&merged, &part[k]);
    assert_int_equal(merged.n, n);
    assert_true(fabs(sl_welford_mean(&merged) - sl_welford_mean(&w)) <= 1e-15 * 1e9);
    assert_true(fabs(sl_welford_variance(&merged) - var) / var < 1e-9);
    assert_true(fabs(sl_welford_stddev(&merged) - sqrt(var)) / sqrt(var) < 1e-9);
    /* self merge: same mean and variance_pop, doubled n */
    sl_welford d = part[0];
    sl_welford_merge(&d, &d);
    assert_int_equal(d.n, 2 * part[0].n);
    assert_true(fabs(sl_welford_variance_pop(&d) - sl_welford_variance_pop(&part[0])) <=
                1e-12 * sl_welford_variance_pop(&part[0]));

    /* edge cases and the NaN/inf rule */
    sl_welford e;
    sl_welford_init(&e);
    assert_true(isnan(sl_welford_mean(&e)));
    assert_true(isnan(sl_welford_variance(&e)));
    assert_true(isnan(sl_welford_variance_pop(&e)));
    sl_welford_add(&e, NAN);
    sl_welford_add(&e, INFINITY);
    sl_welford_add(&e, 4);
    assert_int_equal(e.n, 1);
    assert_int_equal(e.dropped, 2);
    assert_true(sl_welford_mean(&e) == 4);
    assert_true(isnan(sl_welford_variance(&e)));
    assert_true(isnan(sl_welford_stddev(&e)));
    assert_true(sl_welford_variance_pop(&e) == 0);
    sl_welford_add(&e, 6);
    assert_true(sl_welford_variance(&e) == 2);

    /* encode / decode */
    uint8_t buf[SL_WELFORD_ENCODED_SIZE];
    sl_welford_encode(&merged, buf);
    sl_welford back;
    assert_int_equal(sl_welford_decode(&back, buf, sizeof buf), 0);
    assert_memory_equal(&back, &merged, sizeof back);
    assert_int_equal(sl_welford_decode(&back, buf, sizeof buf - 1), SL_ECORRUPT);
    buf[31] = 0xff; /* m2's sign bit: negative (or NaN) */
    assert_int_equal(sl_welford_decode(&back, buf, sizeof buf), SL_ECORRUPT);
    free(v);
}

/* ---- EWMA -------------------------------------------------------------- */

static void test_ewma(void **state) {
    (void)state;
    sl_ewma e;
    assert_int_equal(sl_ewma_init(&e, 0), SL_EINVAL);
    assert_int_equal(sl_ewma_init(&e, 1.5), SL_EINVAL);
    assert_true(fabs(sl_ewma_alpha_halflife(1) - 0.5) < 1e-15);
    assert_true(isnan(sl_ewma_alpha_halflife(0)));
    double a = sl_ewma_alpha_halflife(10);
    assert_int_equal(sl_ewma_init(&e, a), 0);
    assert_true(isnan(sl_ewma_zscore(&e, 1)));
    for (int i = 0; i < 50; i++)
        sl_ewma_update(&e, 7);
    assert_true(e.value == 7);
    assert_true(isnan(sl_ewma_zscore(&e, 8))); /* constant: no scale */

    /* against brute force weights: w_1 = (1-a)^(n-1), w_i = a (1-a)^(n-i) */
    size_t n = 200;
    double x[200];
    rng_state = 23;
    sl_ewma_init(&e, a);
    for (size_t i = 0; i < n; i++) {
        x[i] = 100 + 10 * normal();
        sl_ewma_update(&e, x[i]);
        sl_ewma_update(&e, NAN);
    }
    assert_int_equal(e.n, n);
    assert_int_equal(e.dropped, n);
    long double mu = 0, var = 0, wsum = 0;
    for (size_t i = 0; i < n; i++) {
        long double w =
            (i == 0 ? 1.0L : (long double)a) * powl(1 - (long double)a, (long double)(n - 1 - i));
        mu += w * x[i];
        wsum += w;
    }
    for (size_t i = 0; i < n; i++) {
        long double w =
            (i == 0 ? 1.0L : (long double)a) * powl(1 - (long double)a, (long double)(n - 1 - i));
        var += w * (x[i] - mu) * (x[i] - mu);
    }
    assert_true(fabsl(wsum - 1) < 1e-12);
    assert_true(fabs(e.value - (double)mu) < 1e-9);
    assert_true(fabs(e.variance - (double)var) / (double)var < 1e-9);
    double z = sl_ewma_zscore(&e, e.value + 3 * sl_ewma_stddev(&e));
    assert_true(fabs(z - 3) < 1e-12);
    assert_true(isnan(sl_ewma_zscore(&e, NAN)));

    uint8_t buf[SL_EWMA_ENCODED_SIZE];
    sl_ewma_encode(&e, buf);
    sl_ewma back;
    assert_int_equal(sl_ewma_decode(&back, buf, sizeof buf), 0);
    assert_memory_equal(&back, &e, sizeof back);
    memset(buf, 0, 8); /* alpha 0 */
    assert_int_equal(sl_ewma_decode(&back, buf, sizeof buf), SL_ECORRUPT);
}

/* ---- robust -------------------------------------------------------------- */

static void test_robust(void **state) {
    (void)state;
    double v[301], s[301], sorted[301], dev[301];
    for (size_t n = 1; n <= 301; n += (n < 40 ? 1 : 37)) {
        for (int trial = 0; trial < 4; trial++) {
            rng_state = n * 10 + (uint64_t)trial;
            for (size_t i = 0; i < n; i++)
                v[i] = trial == 0   ? normal()
                       : trial == 1 ? (double)(rng_next() % 4) /* ties */
                       : trial == 2 ? (double)i                /* sorted */
                                    : pareto(1, 1);
            double orig[301];
            memcpy(orig, v, n * sizeof *v);
            memcpy(sorted, v, n * sizeof *v);
            qsort(sorted, n, sizeof *sorted, cmp_d);
            double med =
                n & 1 ? sorted[n / 2] : sorted[n / 2 - 1] + (sorted[n / 2] - sorted[n / 2 - 1]) / 2;
            assert_true(sl_robust_median(v, n, s) == med);
            assert_memory_equal(v, orig, n * sizeof *v); /* input untouched */
            for (size_t i = 0; i < n; i++)
                dev[i] = fabs(v[i] - med);
            qsort(dev, n, sizeof *dev, cmp_d);
            double mad = n & 1 ? dev[n / 2] : dev[n / 2 - 1] + (dev[n / 2] - dev[n / 2 - 1]) / 2;
            double m2;
            assert_true(sl_robust_mad(v, n, s, &m2) == mad);
            assert_true(m2 == med);
            for (size_t i = 0; i < NQS; i++)
                assert_true(sl_robust_quantile(v, n, s, QS[i]) ==
                            sorted[(size_t)floor(QS[i] * (double)(n - 1))]);
        }
    }
    /* NaN and inf are skipped; scratch may be the input */
    double w[] = {NAN, 5, INFINITY, 1, 3, -INFINITY, 100};
    double sc[7];
    double med;
    assert_true(sl_robust_median(w, 7, sc) == 4);
    assert_true(sl_robust_mad(w, 7, sc, &med) == 2); /* |1-4| |3-4| |5-4| |100-4| -> 1,1,3,96 */
    assert_true(med == 4);
    assert_true(sl_robust_median(w, 7, w) == 4);
    double none[] = {NAN, INFINITY};
    assert_true(isnan(sl_robust_median(none, 2, sc)));
    assert_true(isnan(sl_robust_mad(none, 2, sc, &med)));
    assert_true(isnan(med));
    assert_true(isnan(sl_robust_median(none, 0, sc)));
    assert_true(isnan(sl_robust_quantile(w, 3, sc, 2)));
    /* MAD == 0 gives NAN z; otherwise 0.6745 (x - med) / mad */
    double eq[] = {2, 2, 2, 2, 9};
    double mad = sl_robust_mad(eq, 5, sc, &med);
    assert_true(mad == 0);
    assert_true(isnan(sl_robust_zscore(9, med, mad)));
    assert_true(fabs(sl_robust_zscore(10, 4, 2) - 0.6745 * 3) < 1e-15);
    assert_true(isnan(sl_robust_zscore(NAN, 4, 2)));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dd_accuracy),
        cmocka_unit_test(test_dd_all_equal_and_extremes),
        cmocka_unit_test(test_dd_empty_single),
        cmocka_unit_test(test_dd_quantiles_batch),
        cmocka_unit_test(test_dd_nonfinite),
        cmocka_unit_test(test_dd_add_n),
        cmocka_unit_test(test_dd_merge),
        cmocka_unit_test(test_dd_collapse),
        cmocka_unit_test(test_dd_memory),
        cmocka_unit_test(test_dd_serialize),
        cmocka_unit_test(test_hll_accuracy),
        cmocka_unit_test(test_hll_bias_rms),
        cmocka_unit_test(test_hll_exact),
        cmocka_unit_test(test_hll_merge),
        cmocka_unit_test(test_hll_serialize),
        cmocka_unit_test(test_welford),
        cmocka_unit_test(test_ewma),
        cmocka_unit_test(test_robust),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
