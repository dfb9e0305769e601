/*
 * hash.h - key hashing (xxHash XXH3) and an open-addressing hash set of
 * 64-bit key hashes with a payload, used by dedupe and count-distinct.
 *
 * Keys are stored as their 64-bit XXH3 hash: two distinct keys collide with
 * probability ~ n^2 / 2^65 (4e-8 for 1.2 million live keys), a documented
 * trade for 16 bytes per key and no per-key allocation.
 */
#ifndef SL_CORE_HASH_H
#define SL_CORE_HASH_H

#include <stddef.h>
#include <stdint.h>

uint64_t sl_hash_bytes(const void *p, size_t n, uint64_t seed);
uint64_t sl_hash_int(int64_t v, uint64_t seed);

/* Hash map from a 64-bit key hash to an int64 payload. Hash value 0 is
 * remapped internally, so every uint64 key is allowed. */
typedef struct sl_hmap sl_hmap;

sl_hmap *sl_hmap_new(size_t initial);
void sl_hmap_free(sl_hmap *m);
size_t sl_hmap_count(const sl_hmap *m);
size_t sl_hmap_bytes(const sl_hmap *m);
/* Returns pointer to the payload of key, or NULL. */
int64_t *sl_hmap_get(sl_hmap *m, uint64_t key);
/* Inserts key if absent (payload = val) and returns 1; if present returns 0
 * and leaves the payload. *slot (optional) receives a pointer to the payload. */
int sl_hmap_put(sl_hmap *m, uint64_t key, int64_t val, int64_t **slot);
int sl_hmap_del(sl_hmap *m, uint64_t key);
/* Iteration: for (size_t it = 0; sl_hmap_next(m, &it, &k, &v);) */
int sl_hmap_next(const sl_hmap *m, size_t *it, uint64_t *key, int64_t *val);
void sl_hmap_clear(sl_hmap *m);

/* Set of 64-bit values (count_distinct): 8-byte slots, linear probing at load
 * <= 0.75, Fibonacci hashing of the value (so it may be a raw integer, not
 * only a hash). Value 0 lives outside the table, so every uint64 is allowed.
 * About 11 to 21 bytes per value; no deletion. */
typedef struct sl_hset sl_hset;

sl_hset *sl_hset_new(size_t initial);
void sl_hset_free(sl_hset *s);
/* 1 if v was added, 0 if it was there. */
int sl_hset_add(sl_hset *s, uint64_t v);
size_t sl_hset_count(const sl_hset *s);
size_t sl_hset_bytes(const sl_hset *s);
/* Iteration: for (size_t it = 0; sl_hset_next(s, &it, &v);) */
int sl_hset_next(const sl_hset *s, size_t *it, uint64_t *v);
void sl_hset_clear(sl_hset *s);

#endif
