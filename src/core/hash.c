/* hash.c - XXH3 hashing and a linear-probing map with backward-shift delete
 * (no tombstones, so a long-running dedupe never degrades). */
#include "core/hash.h"

#include <assert.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "core/mem.h"

uint64_t sl_hash_bytes(const void *p, size_t n, uint64_t seed) {
    return XXH3_64bits_withSeed(p, n, seed);
}
uint64_t sl_hash_int(int64_t v, uint64_t seed) { return XXH3_64bits_withSeed(&v, sizeof v, seed); }

typedef struct {
    uint64_t k;
    int64_t v;
} slot_t;

struct sl_hmap {
    slot_t *s;
    size_t cap, n; /* cap is a power of two */
};

static inline uint64_t fix(uint64_t k) { return k ? k : 0x9e3779b97f4a7c15ULL; }

sl_hmap *sl_hmap_new(size_t initial) {
    sl_hmap *m = sl_xcalloc(1, sizeof *m);
    size_t cap = 16;
    while (cap < initial * 2)
        cap <<= 1;
    m->s = sl_xcalloc(cap, sizeof(slot_t));
    m->cap = cap;
    assert((cap & (cap - 1)) == 0); /* a power of two: probes use cap - 1 as a mask */
    return m;
}

void sl_hmap_free(sl_hmap *m) {
    if (!m) return;
    free(m->s);
    free(m);
}

size_t sl_hmap_count(const sl_hmap *m) { return m->n; }
size_t sl_hmap_bytes(const sl_hmap *m) { return m->cap * sizeof(slot_t) + sizeof *m; }

static void grow(sl_hmap *m) {
    slot_t *old = m->s;
    size_t oc = m->cap;
    m->cap = oc * 2;
    assert(m->cap > oc && (m->cap & (m->cap - 1)) == 0);
    m->s = sl_xcalloc(m->cap, sizeof(slot_t));
    size_t mask = m->cap - 1;
    for (size_t i = 0; i < oc; i++) {
        if (!old[i].k) continue;
        size_t j = old[i].k & mask;
        while (m->s[j].k)
            j = (j + 1) & mask;
        m->s[j] = old[i];
    }
    free(old);
}

int64_t *sl_hmap_get(sl_hmap *m, uint64_t key) {
    key = fix(key);
    size_t mask = m->cap - 1, j = key & mask;
    while (m->s[j].k) {
        if (m->s[j].k == key) return &m->s[j].v;
        j = (j + 1) & mask;
    }
    return NULL;
}

int sl_hmap_put(sl_hmap *m, uint64_t key, int64_t val, int64_t **slot) {
    key = fix(key);
    if ((m->n + 1) * 10 > m->cap * 7) grow(m);
    size_t mask = m->cap - 1, j = key & mask;
    while (m->s[j].k) {
        if (m->s[j].k == key) {
            if (slot) *slot = &m->s[j].v;
            return 0;
        }
        j = (j + 1) & mask;
    }
    m->s[j].k = key;
    m->s[j].v = val;
    m->n++;
    assert(m->n < m->cap); /* an empty slot is left, so every probe ends */
    if (slot) *slot = &m->s[j].v;
    return 1;
}

int sl_hmap_del(sl_hmap *m, uint64_t key) {
    key = fix(key);
    size_t mask = m->cap - 1, j = key & mask;
    while (m->s[j].k && m->s[j].k != key)
        j = (j + 1) & mask;
    if (!m->s[j].k) return 0;
    /* backward-shift deletion */
    size_t i = j;
    for (;;) {
        m->s[i].k = 0;
        size_t k = i;
        for (;;) {
            k = (k + 1) & mask;
            if (!m->s[k].k) goto done;
            size_t home = m->s[k].k & mask;
            /* can the entry at k move to i? only if home is not cyclically in (i, k] */
            if (i <= k ? (home <= i || home > k) : (home <= i && home > k)) break;
        }
        m->s[i] = m->s[k];
        i = k;
    }
done:
    assert(m->n > 0);
    m->n--;
    return 1;
}

int sl_hmap_next(const sl_hmap *m, size_t *it, uint64_t *key, int64_t *val) {
    while (*it < m->cap) {
        size_t i = (*it)++;
        if (m->s[i].k) {
            if (key) *key = m->s[i].k;
            if (val) *val = m->s[i].v;
            return 1;
        }
    }
    return 0;
}

void sl_hmap_clear(sl_hmap *m) {
    memset(m->s, 0, m->cap * sizeof(slot_t));
    m->n = 0;
}

struct sl_hset {
    uint64_t *s;
    size_t cap, n; /* cap is a power of two; n counts the table's values, not 0 */
    int shift;     /* 64 - log2(cap) */
    bool has_zero;
};

/* Fibonacci hashing: the top bits of v * 2^64/phi, well spread even for
 * consecutive integers. */
static inline size_t hset_home(const sl_hset *s, uint64_t v) {
    return (size_t)((v * 0x9e3779b97f4a7c15ULL) >> s->shift);
}

static void hset_alloc(sl_hset *s, size_t cap) {
    s->cap = cap;
    s->shift = 64 - __builtin_ctzll(cap);
    s->s = sl_xcalloc(cap, sizeof *s->s);
}

sl_hset *sl_hset_new(size_t initial) {
    sl_hset *s = sl_xcalloc(1, sizeof *s);
    size_t cap = 8;
    while (cap * 3 < initial * 4)
        cap <<= 1;
    hset_alloc(s, cap);
    return s;
}

void sl_hset_free(sl_hset *s) {
    if (!s) return;
    free(s->s);
    free(s);
}

size_t sl_hset_count(const sl_hset *s) { return s->n + s->has_zero; }
size_t sl_hset_bytes(const sl_hset *s) { return s->cap * sizeof *s->s + sizeof *s; }

static void hset_grow(sl_hset *s) {
    uint64_t *old = s->s;
    size_t oc = s->cap;
    hset_alloc(s, oc * 2);
    size_t mask = s->cap - 1;
    for (size_t i = 0; i < oc; i++) {
        if (!old[i]) continue;
        size_t j = hset_home(s, old[i]);
        while (s->s[j])
            j = (j + 1) & mask;
        s->s[j] = old[i];
    }
    free(old);
}

int sl_hset_add(sl_hset *s, uint64_t v) {
    if (!v) {
        if (s->has_zero) return 0;
        s->has_zero = true;
        return 1;
    }
    size_t mask = s->cap - 1, j = hset_home(s, v);
    while (s->s[j]) {
        if (s->s[j] == v) return 0;
        j = (j + 1) & mask;
    }
    if ((s->n + 1) * 4 > s->cap * 3) {
        hset_grow(s);
        mask = s->cap - 1;
        j = hset_home(s, v);
        while (s->s[j])
            j = (j + 1) & mask;
    }
    s->s[j] = v;
    s->n++;
    return 1;
}

int sl_hset_next(const sl_hset *s, size_t *it, uint64_t *v) {
    if (*it == 0) {
        (*it)++;
        if (s->has_zero) {
            *v = 0;
            return 1;
        }
    }
    while (*it <= s->cap) {
        uint64_t x = s->s[(*it)++ - 1];
        if (x) {
            *v = x;
            return 1;
        }
    }
    return 0;
}

void sl_hset_clear(sl_hset *s) {
    memset(s->s, 0, s->cap * sizeof *s->s);
    s->n = 0;
    s->has_zero = false;
}
