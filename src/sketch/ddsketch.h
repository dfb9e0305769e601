/*
 * ddsketch.h - DDSketch: mergeable quantiles with a relative-error guarantee
 * (Masson, Rim, Lee, "DDSketch: a fast and fully-mergeable quantile sketch
 * with relative-error guarantees", VLDB 2019).
 *
 * The idea: cut the positive axis into buckets whose bounds grow
 * geometrically, (gamma^(i-1), gamma^i] with gamma = (1+alpha)/(1-alpha), and
 * only count how many values fall in each bucket. Any value in bucket i is
 * within relative error alpha of the bucket's representative
 * 2*gamma^i/(gamma+1), so the value at any rank is known to within alpha.
 * Negative values use a mirror store, exact zeros a plain counter. Merging
 * two sketches adds their counts bucket by bucket, so an hourly p99 built by
 * merging twelve 5-minute sketches is the p99 of the hour, not an average.
 *
 * Quantile definition (what the guarantee and the tests refer to): for
 * n values and q in [0,1], quantile(q) estimates the value of 0-based rank
 * floor(q*(n-1)) in sorted order. q = 0 and q = 1 return the exact min and
 * max. Guarantee: |x - exact| <= alpha * |exact| (up to a few ulps of
 * floating-point rounding at bucket bounds) for every finite input of
 * either sign with |v| >= DBL_MIN (subnormals are bucketed too, but their
 * representatives lose precision), as long as no bucket collapse (below)
 * reached the rank asked for. Results are clamped into
 * [min, max], which only moves them closer to the truth.
 *
 * Bounded memory: each store (negative, positive) keeps at most
 * max_buckets contiguous buckets (SL_DDSKETCH_MAX_BUCKETS by default). When
 * a new value would need more, the lowest buckets fold into the lowest kept
 * one: for the positive store that is the smallest positive values, for the
 * negative store the most negative values. High quantiles keep their
 * guarantee. At alpha = 1% 2048 buckets span a factor of 6e17 (e.g. 1e-6
 * to 6e11), so latency-like data never collapses. The span is gamma^2048,
 * so at alpha = 0.1% it is only a factor 60: use sl_ddsketch_new_ex with
 * about 2048 * 0.01 / alpha buckets to cover the same range at a finer
 * alpha. Counts are stored 2 bytes wide and widen to 4 and then 8 bytes
 * only when one bucket needs it: 1M lognormal (sigma 1) latencies at 1%
 * take 1312 bytes, 10M take 2460 bytes (measured, see test_dd_memory and
 * bench/sketch_bench.c).
 *
 * Merging is exact for counts, min and max (merged quantiles equal those of
 * one sketch fed all the values, when nothing collapsed); the sum is a
 * floating-point sum, so it may differ in the last bits with merge order.
 *
 * Non-finite input: NaN, +inf and -inf are ignored by add/add_n and counted
 * in sl_ddsketch_dropped(); they never reach count, sum, min, max or buckets.
 *
 * No allocation per added value: the stores grow (amortised, with slack)
 * only when a value lands outside the current bucket range.
 */
#ifndef SL_SKETCH_DDSKETCH_H
#define SL_SKETCH_DDSKETCH_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"

#define SL_DDSKETCH_DEFAULT_ALPHA 0.01
#define SL_DDSKETCH_MAX_BUCKETS 2048 /* per store (negative, positive) */
#define SL_DDSKETCH_MIN_ALPHA 1e-6
#define SL_DDSKETCH_MAX_ALPHA 0.5

typedef struct sl_ddsketch sl_ddsketch;

/* alpha in [SL_DDSKETCH_MIN_ALPHA, SL_DDSKETCH_MAX_ALPHA]; NULL if out of
 * range. Out of memory aborts here and in every function below (core/mem.h). */
sl_ddsketch *sl_ddsketch_new(double alpha);
/* Same, with a bucket limit per store (>= 16; mainly for tests). */
sl_ddsketch *sl_ddsketch_new_ex(double alpha, uint32_t max_buckets);
void sl_ddsketch_free(sl_ddsketch *s);
/* Empties the sketch and keeps its memory (reuse for the next window). */
void sl_ddsketch_clear(sl_ddsketch *s);

void sl_ddsketch_add(sl_ddsketch *s, double v);
/* Adds v with multiplicity n (n = 0 does nothing). */
void sl_ddsketch_add_n(sl_ddsketch *s, double v, uint64_t n);

/* dst += src. 0, or SL_EINVAL (dst unchanged) if the alphas differ.
 * dst keeps its own bucket limit. */
int sl_ddsketch_merge(sl_ddsketch *dst, const sl_ddsketch *src);

/* See the quantile definition above. NAN when empty or q not in [0,1]. */
double sl_ddsketch_quantile(const sl_ddsketch *s, double q);

/* Several quantiles in one pass over the buckets (p50, p95, p99 of a
 * window): out[i] = sl_ddsketch_quantile(s, qs[i]) exactly. qs must be
 * nondecreasing (SL_EINVAL otherwise, out untouched). */
int sl_ddsketch_quantiles(const sl_ddsketch *s, const double *qs, size_t k, double *out);

uint64_t sl_ddsketch_count(const sl_ddsketch *s);   /* finite values added */
uint64_t sl_ddsketch_dropped(const sl_ddsketch *s); /* NaN/inf ignored */
double sl_ddsketch_min(const sl_ddsketch *s);       /* NAN when empty */
double sl_ddsketch_max(const sl_ddsketch *s);       /* NAN when empty */
double sl_ddsketch_sum(const sl_ddsketch *s);       /* 0 when empty */
double sl_ddsketch_alpha(const sl_ddsketch *s);
/* Heap memory in use by the sketch, struct included. */
size_t sl_ddsketch_bytes(const sl_ddsketch *s);

/* Encodes the sketch into a malloc'd buffer (*out, *len); the caller frees
 * it with free(). Portable: little-endian, varint counts. Returns 0. */
int sl_ddsketch_serialize(const sl_ddsketch *s, void **out, size_t *len);
/* Decodes what sl_ddsketch_serialize wrote. Any malformed, truncated or
 * inconsistent input gives NULL and SL_ECORRUPT in err; it never reads
 * outside [p, p+n). */
sl_ddsketch *sl_ddsketch_deserialize(const void *p, size_t n, sl_error *err);

#endif
