/*
 * hll.h - HyperLogLog distinct counting over 64-bit hashes, exact for
 * small sets (Flajolet et al. 2007; estimator of Ertl 2017).
 *
 * The idea: hash every item to 64 bits; the first p bits pick one of
 * m = 2^p registers, which keeps the longest run of leading zeros (+1) seen
 * in the remaining 64-p bits. The register histogram estimates the number
 * of distinct hashes with standard error 1.04/sqrt(m) (0.81% at p = 14,
 * 16 KB of registers, one byte each). Merging is a register-wise max, so the
 * distinct count of an hour is the merge of its 5-minute sketches, and
 * overlapping sets are not double counted.
 *
 * Small sets: a sketch starts in exact mode, a hash set of up to exact_max
 * distinct hashes (default SL_HLL_EXACT_MAX), whose estimate is the exact
 * number of distinct hashes; on the first hash beyond exact_max it converts
 * to registers. Above that, the estimate uses Ertl's "improved raw
 * estimator" ("New cardinality estimation algorithms for HyperLogLog
 * sketches", 2017), which is unbiased over the whole range without the
 * empirical bias tables of HLL++: at small cardinalities it reduces to
 * linear counting (the original paper's correction below 2.5m) and it
 * removes the bias of the raw estimate in the 2.5m..5m band where the
 * original switch-over is worst. No large-range correction is needed with
 * 64-bit hashes.
 *
 * Callers pass hashes, not items: use sl_hash_bytes / sl_hash_int
 * (core/hash.h) with one fixed seed for every sketch that will be merged.
 */
#ifndef SL_SKETCH_HLL_H
#define SL_SKETCH_HLL_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"

#define SL_HLL_DEFAULT_P 14
#define SL_HLL_MIN_P 4
#define SL_HLL_MAX_P 18
#define SL_HLL_EXACT_MAX 1024    /* distinct hashes kept exactly by default */
#define SL_HLL_EXACT_LIMIT 65536 /* largest exact_max accepted */

typedef struct sl_hll sl_hll;

/* p in [SL_HLL_MIN_P, SL_HLL_MAX_P]; NULL if out of range. Out of memory
 * aborts here and in every function below (core/mem.h). */
sl_hll *sl_hll_new(int p);
/* Same with an exact-mode threshold in [0, SL_HLL_EXACT_LIMIT]
 * (0: registers from the start). */
sl_hll *sl_hll_new_ex(int p, uint32_t exact_max);
void sl_hll_free(sl_hll *h);
/* Empties the sketch (back to exact mode), keeping what memory it can. */
void sl_hll_clear(sl_hll *h);

/* Adds one 64-bit hash. Returns 0. */
int sl_hll_add_hash(sl_hll *h, uint64_t hash);

/* dst |= src. 0, or SL_EINVAL (dst unchanged) if the precisions differ. */
int sl_hll_merge(sl_hll *dst, const sl_hll *src);

/* Estimated number of distinct hashes added (exact in exact mode). */
uint64_t sl_hll_estimate(const sl_hll *h);
/* 1 while the sketch is still in exact mode. */
int sl_hll_is_exact(const sl_hll *h);
int sl_hll_precision(const sl_hll *h);
/* Relative standard error of the register estimate: 1.04 / sqrt(2^p). */
double sl_hll_std_error(const sl_hll *h);
/* Heap memory in use, struct included. */
size_t sl_hll_bytes(const sl_hll *h);

/* Encodes into a malloc'd buffer (*out, *len), freed by the caller with
 * free(). Exact mode: sorted, delta-varint hashes; register mode: the m
 * register bytes. Returns 0. */
int sl_hll_serialize(const sl_hll *h, void **out, size_t *len);
/* NULL and SL_ECORRUPT in err on malformed input; never reads outside
 * [p, p+n). */
sl_hll *sl_hll_deserialize(const void *p, size_t n, sl_error *err);

#endif
