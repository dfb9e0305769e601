/*
 * test_sketch_merge.c - the algebra rollups rely on, for each mergeable
 * sketch: merge is associative ((A+B)+C = A+(B+C)) and commutative, the
 * empty sketch is its identity on both sides, and merge commutes with a
 * serialise/deserialise round trip (a checkpointed 5-minute state merged
 * into an hour gives the same hour as the live one). test_sketch.c covers
 * accuracy, empty/single, NaN/inf and the codecs one sketch at a time; this
 * file adds what it does not: HyperLogLog associativity across the
 * exact/register switch, Welford associativity, identities with empty
 * operands, and merges of restored sketches.
 */
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
#include "sketch/hll.h"
#include "sketch/welford.h"

static uint64_t rs = 1234567;
static uint64_t rnext(void) {
    uint64_t z = (rs += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}
static double unif(void) { return ((double)(rnext() >> 11) + 0.5) * 0x1.0p-53; }
/* heavy-tailed, both signs, some zeros */
static double value(void) {
    double u = unif();
    if (u < 0.05) return 0;
    double v = 3.0 / pow(unif(), 1 / 1.2);
    return u < 0.2 ? -v : v;
}

/* ---- DDSketch ----------------------------------------------------------- */

static void same_dd(const sl_ddsketch *a, const sl_ddsketch *b) {
    assert_int_equal(sl_ddsketch_count(a), sl_ddsketch_count(b));
    if (!sl_ddsketch_count(a)) return;
    assert_true(sl_ddsketch_min(a) == sl_ddsketch_min(b));
    assert_true(sl_ddsketch_max(a) == sl_ddsketch_max(b));
    for (int i = 0; i <= 1000; i++) {
        double q = i / 1000.0;
        assert_true(sl_ddsketch_quantile(a, q) == sl_ddsketch_quantile(b, q));
    }
}

static sl_ddsketch *dd_roundtrip(const sl_ddsketch *s) {
    void *buf;
    size_t len;
    assert_int_equal(sl_ddsketch_serialize(s, &buf, &len), 0);
    sl_error e = {0};
    sl_ddsketch *t = sl_ddsketch_deserialize(buf, len, &e);
    assert_non_null(t);
    free(buf);
    return t;
}

static void test_dd_laws(void **state) {
    (void)state;
    const size_t sizes[] = {0, 1, 7, 5000, 40000};
    sl_ddsketch *p[3];
    for (int k = 0; k < 3; k++) {
        p[k] = sl_ddsketch_new(0.01);
        for (size_t i = 0; i < sizes[(k * 2 + 1) % 5] + (k == 2 ? 3000 : 0); i++)
            sl_ddsketch_add(p[k], value() * (k + 1));
    }
    sl_ddsketch *empty = sl_ddsketch_new(0.01);
    /* identity both sides, and empty + empty */
    for (int k = 0; k < 3; k++) {
        sl_ddsketch *l = sl_ddsketch_new(0.01);
        assert_int_equal(sl_ddsketch_merge(l, p[k]), 0);
        same_dd(l, p[k]);
        sl_ddsketch *r = dd_roundtrip(p[k]);
        assert_int_equal(sl_ddsketch_merge(r, empty), 0);
        same_dd(r, p[k]);
        sl_ddsketch_free(l);
        sl_ddsketch_free(r);
    }
    sl_ddsketch *ee = sl_ddsketch_new(0.01);
    assert_int_equal(sl_ddsketch_merge(ee, empty), 0);
    assert_int_equal(sl_ddsketch_count(ee), 0);
    assert_true(isnan(sl_ddsketch_quantile(ee, 0.5)));
    /* (A+B)+C = A+(B+C) = C+(B+A), also when B and C went through the codec */
    sl_ddsketch *ab_c = sl_ddsketch_new(0.01), *bc = sl_ddsketch_new(0.01),
                *a_bc = sl_ddsketch_new(0.01), *c_ba = sl_ddsketch_new(0.01);
    sl_ddsketch_merge(ab_c, p[0]);
    sl_ddsketch_merge(ab_c, p[1]);
    sl_ddsketch_merge(ab_c, p[2]);
    sl_ddsketch *b2 = dd_roundtrip(p[1]), *c2 = dd_roundtrip(p[2]);
    sl_ddsketch_merge(bc, b2);
    sl_ddsketch_merge(bc, c2);
    sl_ddsketch_merge(a_bc, p[0]);
    sl_ddsketch_merge(a_bc, bc);
    sl_ddsketch_merge(c_ba, c2);
    sl_ddsketch_merge(c_ba, b2);
    sl_ddsketch_merge(c_ba, p[0]);
    same_dd(ab_c, a_bc);
    same_dd(ab_c, c_ba);
    /* a merged sketch survives the codec unchanged */
    sl_ddsketch *rt = dd_roundtrip(ab_c);
    same_dd(rt, ab_c);
    sl_ddsketch *objs[] = {ab_c, bc, a_bc, c_ba, b2, c2, rt, ee, empty, p[0], p[1], p[2]};
    for (size_t i = 0; i < sizeof objs / sizeof objs[0]; i++)
        sl_ddsketch_free(objs[i]);
}

/* ---- HyperLogLog -------------------------------------------------------- */

static sl_hll *hll_of(uint64_t from, uint64_t to) {
    sl_hll *h = sl_hll_new(SL_HLL_DEFAULT_P);
    for (uint64_t i = from; i < to; i++)
        sl_hll_add_hash(h, sl_hash_int((int64_t)i, 7));
    return h;
}

static void same_hll(const sl_hll *a, const sl_hll *b) {
    assert_int_equal(sl_hll_estimate(a), sl_hll_estimate(b));
    assert_int_equal(sl_hll_is_exact(a), sl_hll_is_exact(b));
}

static sl_hll *hll_roundtrip(const sl_hll *h) {
    void *buf;
    size_t len;
    assert_int_equal(sl_hll_serialize(h, &buf, &len), 0);
    sl_error e = {0};
    sl_hll *t = sl_hll_deserialize(buf, len, &e);
    assert_non_null(t);
    free(buf);
    return t;
}

static void test_hll_laws(void **state) {
    (void)state;
    /* exact + exact staying exact, exact + exact crossing 1024, register + exact */
    const uint64_t cases[][6] = {
        {0, 300, 200, 500, 450, 900},      /* union 900: exact */
        {0, 600, 500, 1000, 900, 1500},    /* union 1500: crosses into registers */
        {0, 20000, 100, 400, 19990, 20500} /* a register sketch with small ones */
    };
    for (size_t c = 0; c < 3; c++) {
        const uint64_t *r = cases[c];
        sl_hll *a = hll_of(r[0], r[1]), *b = hll_of(r[2], r[3]), *cc = hll_of(r[4], r[5]);
        sl_hll *all = hll_of(r[0], r[5]); /* the ranges cover [r0, r5) */
        sl_hll *ab_c = sl_hll_new(SL_HLL_DEFAULT_P), *bc = sl_hll_new(SL_HLL_DEFAULT_P),
               *a_bc = sl_hll_new(SL_HLL_DEFAULT_P), *c_ba = sl_hll_new(SL_HLL_DEFAULT_P);
        sl_hll_merge(ab_c, a);
        sl_hll_merge(ab_c, b);
        sl_hll_merge(ab_c, cc);
        sl_hll *b2 = hll_roundtrip(b), *c2 = hll_roundtrip(cc);
        sl_hll_merge(bc, b2);
        sl_hll_merge(bc, c2);
        sl_hll_merge(a_bc, a);
        sl_hll_merge(a_bc, bc);
        sl_hll_merge(c_ba, c2);
        sl_hll_merge(c_ba, b2);
        sl_hll_merge(c_ba, a);
        same_hll(ab_c, a_bc);
        same_hll(ab_c, c_ba);
        same_hll(ab_c, all); /* union = the sketch of the union */
        if (r[5] - r[0] <= SL_HLL_EXACT_MAX) assert_int_equal(sl_hll_estimate(ab_c), r[5] - r[0]);
        /* identity with empty, both sides */
        sl_hll *e = sl_hll_new(SL_HLL_DEFAULT_P), *x = hll_roundtrip(ab_c);
        assert_int_equal(sl_hll_merge(x, e), 0);
        same_hll(x, ab_c);
        assert_int_equal(sl_hll_merge(e, ab_c), 0);
        same_hll(e, ab_c);
        sl_hll *objs[] = {a, b, cc, all, ab_c, bc, a_bc, c_ba, b2, c2, e, x};
        for (size_t i = 0; i < sizeof objs / sizeof objs[0]; i++)
            sl_hll_free(objs[i]);
    }
    /* single value and empty, through the codec */
    sl_hll *one = hll_of(41, 42), *none = sl_hll_new(SL_HLL_DEFAULT_P);
    sl_hll *o2 = hll_roundtrip(one), *n2 = hll_roundtrip(none);
    assert_int_equal(sl_hll_estimate(o2), 1);
    assert_int_equal(sl_hll_estimate(n2), 0);
    assert_int_equal(sl_hll_merge(n2, n2), 0);
    assert_int_equal(sl_hll_estimate(n2), 0);
    sl_hll_free(one), sl_hll_free(none), sl_hll_free(o2), sl_hll_free(n2);
}

/* ---- Welford ------------------------------------------------------------ */

static void close_w(const sl_welford *a, const sl_welford *b) {
    assert_int_equal(a->n, b->n);
    assert_int_equal(a->dropped, b->dropped);
    if (!a->n) return;
    double ma = sl_welford_mean(a), mb = sl_welford_mean(b);
    assert_true(fabs(ma - mb) <= 1e-12 * fmax(fabs(ma), 1));
    if (a->n < 2) return;
    double va = sl_welford_variance(a), vb = sl_welford_variance(b);
    assert_true(fabs(va - vb) <= 1e-10 * va);
}

static void test_welford_laws(void **state) {
    (void)state;
    const size_t sizes[] = {1, 2000, 37};
    sl_welford p[3], all;
    sl_welford_init(&all);
    for (int k = 0; k < 3; k++) {
        sl_welford_init(&p[k]);
        for (size_t i = 0; i < sizes[k]; i++) {
            double v = 1e6 * (k + 1) + value();
            sl_welford_add(&p[k], v);
            sl_welford_add(&all, v);
        }
        sl_welford_add(&p[k], NAN); /* dropped counts merge too */
        sl_welford_add(&all, NAN);
    }
    sl_welford ab_c, bc, a_bc, c_ba, e;
    sl_welford_init(&ab_c), sl_welford_init(&bc), sl_welford_init(&a_bc), sl_welford_init(&c_ba),
        sl_welford_init(&e);
    sl_welford_merge(&ab_c, &p[0]);
    sl_welford_merge(&ab_c, &p[1]);
    sl_welford_merge(&ab_c, &p[2]);
    sl_welford_merge(&bc, &p[1]);
    sl_welford_merge(&bc, &p[2]);
    sl_welford_merge(&a_bc, &p[0]);
    sl_welford_merge(&a_bc, &bc);
    sl_welford_merge(&c_ba, &p[2]);
    sl_welford_merge(&c_ba, &p[1]);
    sl_welford_merge(&c_ba, &p[0]);
    close_w(&ab_c, &a_bc);
    close_w(&ab_c, &c_ba);
    close_w(&ab_c, &all);
    /* identity, and a decoded state merges like the original */
    sl_welford x = ab_c;
    sl_welford_merge(&x, &e);
    assert_memory_equal(&x, &ab_c, sizeof x);
    sl_welford_merge(&e, &ab_c);
    close_w(&e, &ab_c);
    uint8_t buf[SL_WELFORD_ENCODED_SIZE];
    sl_welford_encode(&p[1], buf);
    sl_welford d, m1, m2;
    assert_int_equal(sl_welford_decode(&d, buf, sizeof buf), 0);
    m1 = p[0], m2 = p[0];
    sl_welford_merge(&m1, &p[1]);
    sl_welford_merge(&m2, &d);
    assert_memory_equal(&m1, &m2, sizeof m1);
    /* single values: variance needs two */
    sl_welford s1, s2;
    sl_welford_init(&s1), sl_welford_init(&s2);
    sl_welford_add(&s1, -5);
    sl_welford_add(&s2, 7);
    assert_true(isnan(sl_welford_variance(&s1)));
    sl_welford_merge(&s1, &s2);
    assert_true(sl_welford_mean(&s1) == 1);
    assert_true(sl_welford_variance(&s1) == 72);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dd_laws),
        cmocka_unit_test(test_hll_laws),
        cmocka_unit_test(test_welford_laws),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
