/*
 * rng.h - the generators' own pseudo-random numbers: xoshiro256** seeded
 * through splitmix64.
 *
 * Generated data must be byte-identical for a seed on every platform and C
 * library, so the generators never call rand(): xoshiro256** is small, fast,
 * passes BigCrush, and its output depends only on the seed. splitmix64 turns
 * any 64-bit seed (0 included) into a well-mixed, non-zero 256-bit state.
 * Internal to src/gen (not a public module header).
 */
#ifndef SL_GEN_RNG_H
#define SL_GEN_RNG_H

#include <stdint.h>

typedef struct sl_rng {
    uint64_t s[4];
} sl_rng;

void sl_rng_init(sl_rng *r, uint64_t seed);
uint64_t sl_rng_next(sl_rng *r);
/* Uniform in [0, n) without modulo bias; n > 0. */
uint64_t sl_rng_below(sl_rng *r, uint64_t n);
/* Uniform in [lo, hi] (inclusive); lo <= hi. */
int64_t sl_rng_range(sl_rng *r, int64_t lo, int64_t hi);
/* Uniform double in [0, 1) with 53 random bits. */
double sl_rng_unit(sl_rng *r);
/* 1 with probability p (p <= 0 never, p >= 1 always). */
int sl_rng_chance(sl_rng *r, double p);

#endif
