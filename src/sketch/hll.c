/*
 * hll.c - HyperLogLog with an exact small-set mode. See hll.h for the
 * contract.
 *
 * Two states:
 *   exact:     regs == NULL; distinct hashes live in an open-addressing set
 *              (linear probing, load <= 1/2, slot value 0 = empty, the hash
 *              0 itself kept in a flag). set_n <= exact_max always.
 *   registers: regs != NULL (m bytes); the set is freed.
 * The switch happens once, when a new hash would make set_n exceed
 * exact_max: every kept hash is replayed into fresh registers, so a sketch
 * that converted is identical to one that had registers from the start.
 *
 * Register update: idx = top p bits of the hash; rho = 1 + number of leading
 * zeros of the remaining 64-p bits (64-p+1 when they are all zero), so a
 * register holds 0..64-p+1 and fits a byte.
 */
#include "sketch/hll.h"

#include <assert.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/check.h"
#include "core/mem.h"
#include "sketch/codec.h"

#define HLL_MAGIC "SLHL"
#define HLL_VERSION 1
#define HLL_MODE_EXACT 0
#define HLL_MODE_REGS 1

struct sl_hll {
    uint8_t p;
    uint32_t m;
    uint32_t exact_max;
    uint8_t *regs;           /* m registers, or NULL in exact mode */
    uint64_t *set;           /* set_cap slots (power of two), 0 = empty */
    uint32_t set_cap, set_n; /* set_n counts the hash 0 too */
    int has_zero;
};

static inline uint32_t slot_of(uint64_t h, uint32_t cap) {
    /* cap is a power of two; multiply so that structured "hashes" spread too */
    return (uint32_t)((h * 0x9E3779B97F4A7C15ull) >> 32) & (cap - 1);
}

static inline void regs_add(uint8_t *regs, int p, uint64_t h) {
    uint32_t idx = (uint32_t)(h >> (64 - p));
    uint64_t w = h << p;
    uint8_t rho = w ? (uint8_t)(__builtin_clzll(w) + 1) : (uint8_t)(64 - p + 1);
    SL_DASSERT(rho <= 64 - p + 1); /* the range the decoder accepts */
    if (rho > regs[idx]) regs[idx] = rho;
}

/* Inserts a nonzero h into a set with room; returns 1 if it was new. */
static int set_insert(uint64_t *set, uint32_t cap, uint64_t h) {
    uint32_t i = slot_of(h, cap);
    while (set[i]) {
        if (set[i] == h) return 0;
        i = (i + 1) & (cap - 1);
    }
    set[i] = h;
    return 1;
}

static int set_contains(const sl_hll *s, uint64_t h) {
    if (h == 0) return s->has_zero;
    if (!s->set_cap) return 0;
    uint32_t i = slot_of(h, s->set_cap);
    while (s->set[i]) {
        if (s->set[i] == h) return 1;
        i = (i + 1) & (s->set_cap - 1);
    }
    return 0;
}

static void set_grow(sl_hll *s) {
    uint32_t ncap = s->set_cap ? s->set_cap * 2 : 16;
    assert((ncap & (ncap - 1)) == 0); /* slot_of masks with cap - 1 */
    uint64_t *ns = sl_xcalloc(ncap, sizeof *ns);
    for (uint32_t i = 0; i < s->set_cap; i++)
        if (s->set[i]) set_insert(ns, ncap, s->set[i]);
    free(s->set);
    s->set = ns;
    s->set_cap = ncap;
}

static void to_registers(sl_hll *s) {
    uint8_t *regs = sl_xcalloc(s->m, 1);
    for (uint32_t i = 0; i < s->set_cap; i++)
        if (s->set[i]) regs_add(regs, s->p, s->set[i]);
    if (s->has_zero) regs_add(regs, s->p, 0);
    free(s->set);
    s->set = NULL;
    s->set_cap = s->set_n = 0;
    s->has_zero = 0;
    s->regs = regs;
}

sl_hll *sl_hll_new_ex(int p, uint32_t exact_max) {
    if (p < SL_HLL_MIN_P || p > SL_HLL_MAX_P || exact_max > SL_HLL_EXACT_LIMIT) return NULL;
    sl_hll *s = sl_xcalloc(1, sizeof *s);
    s->p = (uint8_t)p;
    s->m = 1u << p;
    s->exact_max = exact_max;
    if (exact_max == 0) to_registers(s);
    return s;
}

sl_hll *sl_hll_new(int p) { return sl_hll_new_ex(p, SL_HLL_EXACT_MAX); }

void sl_hll_free(sl_hll *s) {
    if (!s) return;
    free(s->regs);
    free(s->set);
    free(s);
}

void sl_hll_clear(sl_hll *s) {
    if (s->exact_max == 0) {
        memset(s->regs, 0, s->m);
        return;
    }
    free(s->regs);
    s->regs = NULL;
    if (s->set) memset(s->set, 0, (size_t)s->set_cap * sizeof *s->set);
    s->set_n = 0;
    s->has_zero = 0;
}

int sl_hll_add_hash(sl_hll *s, uint64_t h) {
    if (s->regs) {
        regs_add(s->regs, s->p, h);
        return 0;
    }
    if (set_contains(s, h)) return 0;
    if (s->set_n >= s->exact_max) {
        to_registers(s);
        regs_add(s->regs, s->p, h);
        return 0;
    }
    if (h == 0) {
        s->has_zero = 1;
    } else {
        if ((uint64_t)(s->set_n + 1) * 2 > s->set_cap) set_grow(s);
        set_insert(s->set, s->set_cap, h);
    }
    s->set_n++;
    assert(s->set_n <= s->exact_max); /* exact mode never holds more */
    return 0;
}

int sl_hll_merge(sl_hll *dst, const sl_hll *src) {
    if (dst->p != src->p) return SL_EINVAL;
    if (dst == src) return 0; /* idempotent */
    if (src->regs) {
        if (!dst->regs) to_registers(dst);
        for (uint32_t i = 0; i < dst->m; i++)
            if (src->regs[i] > dst->regs[i]) dst->regs[i] = src->regs[i];
        return 0;
    }
    if (src->has_zero) sl_hll_add_hash(dst, 0);
    for (uint32_t i = 0; i < src->set_cap; i++)
        if (src->set[i]) sl_hll_add_hash(dst, src->set[i]);
    return 0;
}

/* Ertl 2017, the improved raw estimator: sigma(x) and tau(x) are series
 * that fold in the registers at 0 (linear counting's information) and at
 * the top value q+1, which the classic harmonic mean treats wrongly. */
static double ertl_sigma(double x) {
    if (x == 1.0) return INFINITY;
    double y = 1.0, z = x, zp;
    do {
        x *= x;
        zp = z;
        z += x * y;
        y += y;
    } while (z != zp);
    return z;
}

static double ertl_tau(double x) {
    if (x == 0.0 || x == 1.0) return 0.0;
    double y = 1.0, z = 1.0 - x, zp;
    do {
        x = sqrt(x);
        zp = z;
        y *= 0.5;
        z -= (1.0 - x) * (1.0 - x) * y;
    } while (z != zp);
    return z / 3.0;
}

uint64_t sl_hll_estimate(const sl_hll *s) {
    if (!s->regs) return s->set_n;
    int q = 64 - s->p;
    uint32_t hist[64 + 2] = {0};
    for (uint32_t i = 0; i < s->m; i++)
        hist[s->regs[i]]++;
    double m = (double)s->m;
    double z = m * ertl_tau((m - hist[q + 1]) / m);
    for (int k = q; k >= 1; k--) {
        z += hist[k];
        z *= 0.5;
    }
    z += m * ertl_sigma(hist[0] / m);
    double e = 0.72134752044448170368 * m * m / z; /* 1 / (2 ln 2) */
    if (!(e >= 0)) return 0;
    if (e >= 1.8e19) return UINT64_MAX;
    return (uint64_t)llround(e);
}

int sl_hll_is_exact(const sl_hll *s) { return s->regs == NULL; }
int sl_hll_precision(const sl_hll *s) { return s->p; }
double sl_hll_std_error(const sl_hll *s) { return 1.04 / sqrt((double)s->m); }

size_t sl_hll_bytes(const sl_hll *s) {
    return sizeof *s + (s->regs ? s->m : 0) + (size_t)s->set_cap * sizeof(uint64_t);
}

/* ---- serialisation ----------------------------------------------------
 * "SLHL" u8:version u8:p u8:mode v:exact_max then
 *   exact:     v:n, n hashes ascending: first absolute, then gaps (> 0)
 *   registers: m bytes, each <= 64-p+1
 */

static int cmp_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

int sl_hll_serialize(const sl_hll *s, void **out, size_t *len) {
    sk_wbuf w = {0};
    sk_w_bytes(&w, HLL_MAGIC, 4);
    sk_w_u8(&w, HLL_VERSION);
    sk_w_u8(&w, s->p);
    sk_w_u8(&w, s->regs ? HLL_MODE_REGS : HLL_MODE_EXACT);
    sk_w_varint(&w, s->exact_max);
    if (s->regs) {
        sk_w_bytes(&w, s->regs, s->m);
    } else {
        uint64_t *v = sl_xcalloc((size_t)s->set_n + 1, sizeof *v);
        uint32_t k = 0;
        if (s->has_zero) v[k++] = 0;
        for (uint32_t i = 0; i < s->set_cap; i++)
            if (s->set[i]) v[k++] = s->set[i];
        qsort(v, k, sizeof *v, cmp_u64);
        sk_w_varint(&w, k);
        uint64_t prev = 0;
        for (uint32_t i = 0; i < k; i++) {
            sk_w_varint(&w, v[i] - prev);
            prev = v[i];
        }
        free(v);
    }
    *out = w.p;
    *len = w.n;
    return 0;
}

static sl_hll *corrupt(sl_hll *s, sl_error *err, const char *why) {
    sl_hll_free(s);
    sl_error_set(err, SL_ECORRUPT, "hll: %s", why);
    return NULL;
}

sl_hll *sl_hll_deserialize(const void *p, size_t n, sl_error *err) {
    sk_rbuf r = {.p = p, .n = p ? n : 0};
    char magic[4];
    uint8_t ver, prec, mode;
    uint64_t exact_max;
    if (sk_r_bytes(&r, magic, 4) || memcmp(magic, HLL_MAGIC, 4))
        return corrupt(NULL, err, "bad magic");
    if (sk_r_u8(&r, &ver) || ver != HLL_VERSION) return corrupt(NULL, err, "unsupported version");
    if (sk_r_u8(&r, &prec) || sk_r_u8(&r, &mode) || sk_r_varint(&r, &exact_max))
        return corrupt(NULL, err, "truncated header");
    if (prec < SL_HLL_MIN_P || prec > SL_HLL_MAX_P) return corrupt(NULL, err, "bad precision");
    if (exact_max > SL_HLL_EXACT_LIMIT) return corrupt(NULL, err, "bad exact threshold");
    if (mode != HLL_MODE_EXACT && mode != HLL_MODE_REGS) return corrupt(NULL, err, "bad mode");
    if (mode == HLL_MODE_EXACT && exact_max == 0) return corrupt(NULL, err, "exact mode disabled");
    sl_hll *s = sl_hll_new_ex(prec, (uint32_t)exact_max); /* arguments checked above: not NULL */
    if (mode == HLL_MODE_REGS) {
        if (!s->regs) to_registers(s);
        if (sk_r_bytes(&r, s->regs, s->m)) return corrupt(s, err, "truncated registers");
        for (uint32_t i = 0; i < s->m; i++)
            if (s->regs[i] > 64 - s->p + 1) return corrupt(s, err, "register out of range");
    } else {
        uint64_t k, prev = 0, d;
        if (sk_r_varint(&r, &k)) return corrupt(s, err, "truncated set");
        if (k > exact_max || k > r.n - r.off) return corrupt(s, err, "bad set size");
        for (uint64_t i = 0; i < k; i++) {
            if (sk_r_varint(&r, &d)) return corrupt(s, err, "truncated set");
            if (i > 0 && (d == 0 || prev + d < prev)) return corrupt(s, err, "set not ascending");
            prev += d;
            sl_hll_add_hash(s, prev);
        }
    }
    if (r.off != r.n) return corrupt(s, err, "trailing bytes");
    return s;
}
