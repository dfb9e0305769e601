/*
 * ewma.c - exponentially weighted mean and variance; see ewma.h for the
 * update rule and the z-score contract.
 */
#include "sketch/ewma.h"

#include <math.h>
#include <string.h>

#include "core/error.h"

int sl_ewma_init(sl_ewma *e, double alpha) {
    memset(e, 0, sizeof *e);
    if (!(alpha > 0 && alpha <= 1)) return SL_EINVAL;
    e->alpha = alpha;
    return 0;
}

double sl_ewma_alpha_halflife(double h) {
    if (!(h > 0) || isinf(h)) return NAN;
    return -expm1(log(0.5) / h); /* 1 - 0.5^(1/h) */
}

void sl_ewma_update(sl_ewma *e, double x) {
    if (!isfinite(x)) {
        e->dropped++;
        return;
    }
    if (e->n++ == 0) {
        e->value = x;
        e->variance = 0;
        return;
    }
    double d = x - e->value;
    double incr = e->alpha * d;
    e->value += incr;
    e->variance = (1 - e->alpha) * (e->variance + d * incr);
}

double sl_ewma_stddev(const sl_ewma *e) { return e->n ? sqrt(e->variance) : NAN; }

double sl_ewma_zscore(const sl_ewma *e, double x) {
    if (e->n < 2 || !(e->variance > 0) || !isfinite(x)) return NAN;
    return (x - e->value) / sqrt(e->variance);
}

void sl_ewma_encode(const sl_ewma *e, uint8_t out[SL_EWMA_ENCODED_SIZE]) {
    uint64_t v[5];
    memcpy(&v[0], &e->alpha, 8);
    memcpy(&v[1], &e->value, 8);
    memcpy(&v[2], &e->variance, 8);
    v[3] = e->n;
    v[4] = e->dropped;
    for (int i = 0; i < 5; i++)
        for (int b = 0; b < 8; b++)
            out[i * 8 + b] = (uint8_t)(v[i] >> (8 * b));
}

int sl_ewma_decode(sl_ewma *e, const void *p, size_t len) {
    if (!p || len != SL_EWMA_ENCODED_SIZE) return SL_ECORRUPT;
    const uint8_t *in = p;
    uint64_t v[5] = {0};
    for (int i = 0; i < 5; i++)
        for (int b = 0; b < 8; b++)
            v[i] |= (uint64_t)in[i * 8 + b] << (8 * b);
    sl_ewma t;
    memcpy(&t.alpha, &v[0], 8);
    memcpy(&t.value, &v[1], 8);
    memcpy(&t.variance, &v[2], 8);
    t.n = v[3];
    t.dropped = v[4];
    if (!(t.alpha > 0 && t.alpha <= 1) || isnan(t.value) || !(t.variance >= 0)) return SL_ECORRUPT;
    *e = t;
    return 0;
}
