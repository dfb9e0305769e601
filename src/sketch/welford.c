/*
 * welford.c - Welford's running variance on shifted data, and Chan's
 * merge; see welford.h.
 *
 * With y = x - K (K = first value):
 * add:   n += 1; d = y - dmean; dmean += d / n; m2 += d * (y - dmean_new)
 * merge: bring src's mean onto dst's shift (dmean_b + (K_b - K_a)), then
 *        n = na + nb; d = mean_b - mean_a;
 *        mean = mean_a + d * nb / n;  m2 = m2_a + m2_b + d^2 * na * nb / n
 * Both only form differences of nearby numbers, so the relative error of
 * the variance stays near machine precision whatever the offset.
 */
#include "sketch/welford.h"

#include <math.h>
#include <string.h>

#include "core/error.h"

void sl_welford_init(sl_welford *w) { memset(w, 0, sizeof *w); }

void sl_welford_add(sl_welford *w, double x) {
    if (!isfinite(x)) {
        w->dropped++;
        return;
    }
    if (w->n == 0) w->shift = x;
    double y = x - w->shift;
    w->n++;
    double d = y - w->dmean;
    w->dmean += d / (double)w->n;
    w->m2 += d * (y - w->dmean);
}

void sl_welford_merge(sl_welford *dst, const sl_welford *src) {
    sl_welford b = *src; /* copy: dst may be src */
    dst->dropped += b.dropped;
    if (b.n == 0) return;
    if (dst->n == 0) {
        uint64_t dropped = dst->dropped;
        *dst = b;
        dst->dropped = dropped;
        return;
    }
    double na = (double)dst->n, nb = (double)b.n, n = na + nb;
    double d = (b.dmean + (b.shift - dst->shift)) - dst->dmean;
    dst->dmean += d * (nb / n);
    dst->m2 += b.m2 + d * d * (na * nb / n);
    dst->n += b.n;
}

double sl_welford_mean(const sl_welford *w) { return w->n ? w->shift + w->dmean : NAN; }
double sl_welford_variance(const sl_welford *w) {
    return w->n > 1 ? w->m2 / (double)(w->n - 1) : NAN;
}
double sl_welford_variance_pop(const sl_welford *w) { return w->n ? w->m2 / (double)w->n : NAN; }
double sl_welford_stddev(const sl_welford *w) {
    return w->n > 1 ? sqrt(w->m2 / (double)(w->n - 1)) : NAN;
}

void sl_welford_encode(const sl_welford *w, uint8_t out[SL_WELFORD_ENCODED_SIZE]) {
    uint64_t v[5];
    v[0] = w->n;
    memcpy(&v[1], &w->shift, 8);
    memcpy(&v[2], &w->dmean, 8);
    memcpy(&v[3], &w->m2, 8);
    v[4] = w->dropped;
    for (int i = 0; i < 5; i++)
        for (int b = 0; b < 8; b++)
            out[i * 8 + b] = (uint8_t)(v[i] >> (8 * b));
}

int sl_welford_decode(sl_welford *w, const void *p, size_t len) {
    if (!p || len != SL_WELFORD_ENCODED_SIZE) return SL_ECORRUPT;
    const uint8_t *in = p;
    uint64_t v[5] = {0};
    for (int i = 0; i < 5; i++)
        for (int b = 0; b < 8; b++)
            v[i] |= (uint64_t)in[i * 8 + b] << (8 * b);
    sl_welford t;
    t.n = v[0];
    memcpy(&t.shift, &v[1], 8);
    memcpy(&t.dmean, &v[2], 8);
    memcpy(&t.m2, &v[3], 8);
    t.dropped = v[4];
    /* inf is reachable (values near DBL_MAX overflow m2), NaN and m2 < 0 are not */
    if (isnan(t.shift) || isnan(t.dmean) || !(t.m2 >= 0)) return SL_ECORRUPT;
    if (t.n == 0 && (t.shift != 0 || t.dmean != 0 || t.m2 != 0)) return SL_ECORRUPT;
    *w = t;
    return 0;
}
