/*
 * ewma.h - exponentially weighted moving average and variance, the
 * baseline for z-score anomalies that should follow slow drift.
 *
 * The idea: each update moves the mean a fraction alpha of the way towards
 * the new value, so old values fade with weight (1-alpha)^age; the variance
 * is updated in the same weighted way (Finch, "Incremental calculation of
 * weighted mean and variance", 2009):
 *     d = x - value;  value += alpha * d;
 *     variance = (1 - alpha) * (variance + alpha * d * d)
 * The first value sets value (variance 0). alpha = 1 - 0.5^(1/h) gives a
 * half-life of h updates (sl_ewma_alpha_halflife).
 *
 * Use: score a new value against the baseline *before* folding it in:
 *     z = sl_ewma_zscore(&e, x); sl_ewma_update(&e, x);
 * z is NAN until at least two values were seen or while the variance is 0
 * (a constant series has no scale to measure deviations by).
 * Non-finite input is ignored and counted in `dropped`, as in welford.h.
 */
#ifndef SL_SKETCH_EWMA_H
#define SL_SKETCH_EWMA_H

#include <stddef.h>
#include <stdint.h>

#define SL_EWMA_ENCODED_SIZE 40

typedef struct sl_ewma {
    double alpha;     /* weight of the newest value, 0 < alpha <= 1 */
    double value;     /* weighted mean */
    double variance;  /* weighted variance */
    uint64_t n;       /* finite values seen */
    uint64_t dropped; /* NaN/inf ignored */
} sl_ewma;

/* SL_EINVAL unless 0 < alpha <= 1. */
int sl_ewma_init(sl_ewma *e, double alpha);
/* alpha for a half-life of h updates (h > 0); NAN otherwise. */
double sl_ewma_alpha_halflife(double h);
void sl_ewma_update(sl_ewma *e, double x);
double sl_ewma_stddev(const sl_ewma *e); /* NAN when n == 0 */
/* (x - value) / stddev; NAN when n < 2, variance == 0 or x not finite. */
double sl_ewma_zscore(const sl_ewma *e, double x);

/* Fixed little-endian form: alpha, value, variance, n, dropped. */
void sl_ewma_encode(const sl_ewma *e, uint8_t out[SL_EWMA_ENCODED_SIZE]);
/* 0 or SL_ECORRUPT (wrong length, alpha out of range, NaN or negative
 * variance, NaN value). */
int sl_ewma_decode(sl_ewma *e, const void *p, size_t len);

#endif
