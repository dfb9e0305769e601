/*
 * rng.c - xoshiro256** (Blackman & Vigna, 2018) seeded by splitmix64.
 *
 * The algorithms are the published reference ones, so a stream can be
 * reproduced by anyone from the seed alone. sl_rng_below uses Lemire's
 * multiply-and-reject method: unbiased, and a division only on rejection.
 */
#include "gen/rng.h"

static uint64_t splitmix64(uint64_t *x) {
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static inline uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

void sl_rng_init(sl_rng *r, uint64_t seed) {
    uint64_t x = seed;
    for (int i = 0; i < 4; i++)
        r->s[i] = splitmix64(&x);
}

uint64_t sl_rng_next(sl_rng *r) {
    uint64_t *s = r->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

uint64_t sl_rng_below(sl_rng *r, uint64_t n) {
    /* Lemire: the high 64 bits of x * n are uniform in [0, n) once the
     * low part is outside the biased zone. */
    unsigned __int128 m = (unsigned __int128)sl_rng_next(r) * n;
    uint64_t lo = (uint64_t)m;
    if (lo < n) {
        uint64_t thresh = -n % n;
        while (lo < thresh) {
            m = (unsigned __int128)sl_rng_next(r) * n;
            lo = (uint64_t)m;
        }
    }
    return (uint64_t)(m >> 64);
}

int64_t sl_rng_range(sl_rng *r, int64_t lo, int64_t hi) {
    uint64_t span = (uint64_t)hi - (uint64_t)lo + 1;
    if (span == 0) return (int64_t)sl_rng_next(r); /* the whole int64 range */
    return (int64_t)((uint64_t)lo + sl_rng_below(r, span));
}

double sl_rng_unit(sl_rng *r) { return (double)(sl_rng_next(r) >> 11) * 0x1.0p-53; }

int sl_rng_chance(sl_rng *r, double p) {
    if (p <= 0) return 0;
    if (p >= 1) return 1;
    return sl_rng_unit(r) < p;
}
