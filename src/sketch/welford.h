/*
 * welford.h - running count, mean and variance in one pass (Welford 1962),
 * mergeable with the pairwise formula of Chan, Golub and LeVeque (1979).
 *
 * The idea: keep n, the mean and m2 = sum of squared deviations from the
 * current mean, and update them per value with differences from the mean,
 * never with sum(x^2) - n*mean^2, which cancels catastrophically when the
 * values sit on a large offset (1e9 + noise). Two partial states (two
 * 5-minute windows) merge exactly as if their values had been added to one.
 *
 * A plain struct (small, lives inside window state; zero-initialised it is
 * empty). Non-finite input: NaN, +inf and -inf are ignored and counted in
 * `dropped`, the same rule as the DDSketch.
 * For checkpoints, sl_welford_encode writes a fixed portable 32-byte form.
 */
#ifndef SL_SKETCH_WELFORD_H
#define SL_SKETCH_WELFORD_H

#include <stddef.h>
#include <stdint.h>

#define SL_WELFORD_ENCODED_SIZE 40

typedef struct sl_welford {
    uint64_t n;       /* finite values added */
    double shift;     /* K: the first value added (0 while empty) */
    double dmean;     /* mean of x - K; use sl_welford_mean() for the mean */
    double m2;        /* sum of squared deviations from the mean */
    uint64_t dropped; /* NaN/inf ignored */
} sl_welford;

void sl_welford_init(sl_welford *w);
void sl_welford_add(sl_welford *w, double x);
/* dst += src (dst == src allowed). */
void sl_welford_merge(sl_welford *dst, const sl_welford *src);
double sl_welford_mean(const sl_welford *w);         /* NAN when n == 0 */
double sl_welford_variance(const sl_welford *w);     /* sample (n-1); NAN when n < 2 */
double sl_welford_variance_pop(const sl_welford *w); /* population (n); NAN when n == 0 */
double sl_welford_stddev(const sl_welford *w);       /* sqrt(sample variance); NAN when n < 2 */

/* Little-endian n, shift, dmean, m2, dropped. */
void sl_welford_encode(const sl_welford *w, uint8_t out[SL_WELFORD_ENCODED_SIZE]);
/* 0, or SL_ECORRUPT if len is wrong or the state is impossible (NaN shift or
 * dmean, NaN or negative m2, nonzero fields with n == 0). */
int sl_welford_decode(sl_welford *w, const void *p, size_t len);

#endif
