/*
 * fuzz_sketch.c - libFuzzer target for the sketch decoders and the
 * DDSketch add/collapse paths.
 *
 * Each input is used three ways:
 *   1. decoded as a serialised DDSketch and as a serialised HLL: a decoder
 *      either refuses with SL_ECORRUPT or returns a sketch whose queries are
 *      sane (quantiles monotone in q and inside [min, max]), which re-encodes
 *      to bytes that decode to the same encoding, and which survives merging
 *      with itself and with a fresh sketch, and adding more values;
 *   2. read as raw doubles (any bits: NaN, inf, subnormals) added to a DDSketch
 *      with a bucket limit large enough to never collapse: every quantile
 *      must honour the relative-error guarantee against brute force;
 *   3. the same doubles into a DDSketch limited to 16 buckets (collapse on
 *      nearly every add): counts, min, max and monotonicity must hold.
 * Any violation aborts.
 */
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "sketch/ddsketch.h"
#include "sketch/hll.h"

static void check_dd_sane(const sl_ddsketch *s) {
    double qs[65], out[65], prev = -INFINITY;
    double mn = sl_ddsketch_min(s), mx = sl_ddsketch_max(s);
    for (int k = 0; k <= 64; k++)
        qs[k] = k / 64.0;
    if (sl_ddsketch_quantiles(s, qs, 65, out)) abort();
    for (int k = 0; k <= 64; k++) {
        double x = out[k];
        if (sl_ddsketch_count(s) == 0) {
            if (!isnan(x)) abort();
            continue;
        }
        if (!(x >= prev) || x < mn || x > mx) abort();
        prev = x;
    }
    /* the one-at-a-time path agrees with the batched walk */
    for (int k = 0; k <= 64; k += 21) {
        double x = sl_ddsketch_quantile(s, qs[k]);
        if (!(x == out[k] || (isnan(x) && isnan(out[k])))) abort();
    }
    (void)sl_ddsketch_sum(s);
    (void)sl_ddsketch_bytes(s);
}

static void exercise_dd(sl_ddsketch *s) {
    check_dd_sane(s);
    void *a, *b;
    size_t la, lb;
    if (sl_ddsketch_serialize(s, &a, &la)) abort();
    sl_error err = {0};
    sl_ddsketch *t = sl_ddsketch_deserialize(a, la, &err);
    if (!t) abort(); /* our own encoding must decode */
    if (sl_ddsketch_serialize(t, &b, &lb)) abort();
    if (la != lb || memcmp(a, b, la)) abort();
    free(a);
    free(b);
    uint64_t n = sl_ddsketch_count(s);
    if (sl_ddsketch_merge(t, s)) abort();
    if (n < UINT64_MAX / 2 && sl_ddsketch_count(t) != 2 * n) abort();
    check_dd_sane(t);
    if (sl_ddsketch_merge(t, t)) abort();
    check_dd_sane(t);
    sl_ddsketch *f = sl_ddsketch_new(sl_ddsketch_alpha(s));
    if (!f) abort();
    sl_ddsketch_add(f, 1.5);
    sl_ddsketch_add(f, -1e300);
    sl_ddsketch_add(f, NAN);
    if (sl_ddsketch_merge(t, f) || sl_ddsketch_merge(f, s)) abort();
    check_dd_sane(t);
    check_dd_sane(f);
    sl_ddsketch_add(t, 0);
    sl_ddsketch_add(t, 1e-310);
    check_dd_sane(t);
    sl_ddsketch_free(f);
    sl_ddsketch_free(t);
}

static void exercise_hll(sl_hll *h) {
    uint64_t e = sl_hll_estimate(h);
    void *a, *b;
    size_t la, lb;
    if (sl_hll_serialize(h, &a, &la)) abort();
    sl_error err = {0};
    sl_hll *t = sl_hll_deserialize(a, la, &err);
    if (!t) abort();
    if (sl_hll_estimate(t) != e) abort();
    if (sl_hll_serialize(t, &b, &lb)) abort();
    if (la != lb || memcmp(a, b, la)) abort();
    free(a);
    free(b);
    sl_hll *f = sl_hll_new(sl_hll_precision(h));
    if (!f) abort();
    for (uint64_t i = 0; i < 50; i++)
        sl_hll_add_hash(f, i * 0x9E3779B97F4A7C15ull);
    if (sl_hll_merge(t, f) || sl_hll_merge(f, h) || sl_hll_merge(t, t)) abort();
    if (sl_hll_is_exact(h) && sl_hll_is_exact(f) && sl_hll_estimate(f) < e)
        abort(); /* exact union */
    (void)sl_hll_estimate(t);
    (void)sl_hll_bytes(t);
    sl_hll_free(f);
    sl_hll_free(t);
}

static int cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void values(const uint8_t *data, size_t size) {
    size_t n = size / 8;
    if (n == 0) return;
    double *v = malloc(n * sizeof *v);
    size_t k = 0;
    sl_ddsketch *big = sl_ddsketch_new_ex(0.05, 1u << 15); /* DBL_MIN..DBL_MAX: 14200 keys */
    sl_ddsketch *tiny = sl_ddsketch_new_ex(0.05, 16);
    for (size_t i = 0; i < n; i++) {
        double x;
        memcpy(&x, data + 8 * i, 8);
        sl_ddsketch_add(big, x);
        sl_ddsketch_add(tiny, x);
        if (isfinite(x)) v[k++] = x;
    }
    if (sl_ddsketch_count(big) != k || sl_ddsketch_count(tiny) != k) abort();
    if (sl_ddsketch_dropped(big) != n - k) abort();
    check_dd_sane(big);
    check_dd_sane(tiny);
    if (k) {
        qsort(v, k, sizeof *v, cmp_d);
        if (sl_ddsketch_min(tiny) != v[0] || sl_ddsketch_max(tiny) != v[k - 1]) abort();
        double qs[21], out[21];
        for (int j = 0; j <= 20; j++)
            qs[j] = j / 20.0;
        if (sl_ddsketch_quantiles(big, qs, 21, out)) abort();
        for (int j = 0; j <= 20; j++) {
            double exact = v[(size_t)floor(qs[j] * (double)(k - 1))];
            double x = out[j];
            if (fabs(exact) < DBL_MIN) { /* subnormal or zero: only zero is exact */
                if (exact == 0 && x != 0) abort();
                continue;
            }
            if (!(fabs(x - exact) <= 0.05 * fabs(exact) * (1 + 1e-9))) abort();
        }
    }
    sl_ddsketch_free(big);
    sl_ddsketch_free(tiny);
    free(v);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    sl_error err = {0};
    sl_ddsketch *s = sl_ddsketch_deserialize(data, size, &err);
    if (s) {
        exercise_dd(s);
        sl_ddsketch_free(s);
    } else if (err.code != SL_ECORRUPT && err.code != SL_ENOMEM) {
        abort();
    }
    err.code = 0;
    sl_hll *h = sl_hll_deserialize(data, size, &err);
    if (h) {
        exercise_hll(h);
        sl_hll_free(h);
    } else if (err.code != SL_ECORRUPT && err.code != SL_ENOMEM) {
        abort();
    }
    values(data, size);
    return 0;
}
