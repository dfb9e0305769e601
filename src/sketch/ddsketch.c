/*
 * ddsketch.c - DDSketch with logarithmic bucket mapping, two dense
 * collapsing-lowest stores and a zero counter. See ddsketch.h for the
 * contract (quantile definition, accuracy guarantee, NaN/inf rule).
 *
 * Mapping: a value v > 0 goes to bucket key ceil(ln(v) / ln(gamma)), i.e.
 * gamma^(key-1) < v <= gamma^key; the bucket's representative is
 * gamma^key * (1 - alpha) (= 2 gamma^key / (gamma + 1)), within alpha of
 * every value of the bucket. A negative v goes to the negative store under
 * key -ceil(ln(-v) / ln(gamma)), so that in both stores a lower key means a
 * lower value, the quantile walk is one ascending pass (negative store,
 * zeros, positive store) and "collapse the lowest keys" means "lose
 * accuracy at the low end of the distribution" in both stores.
 *
 * Store invariants (dd_store):
 *   - counts cover keys [off, off + cap), cap <= max_buckets, so any key
 *     that lands inside the array keeps the nonempty span <= max_buckets
 *     and the add fast path is an index and an increment;
 *   - when total > 0, lo and hi are the lowest and highest nonempty keys;
 *   - counts are width (2, 4 or 8) bytes wide; width only grows, and only
 *     when one bucket's count no longer fits.
 * A key outside the array triggers store_relocate: the new nonempty span
 * is computed, its lowest keys are folded into the lowest kept bucket if
 * it would exceed max_buckets, and the array is reallocated with some slack
 * on the side that grew (so growth is amortised: O(log) relocations for a
 * stream whose range keeps widening).
 */
#include "sketch/ddsketch.h"

#include <assert.h>
#include <float.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "core/check.h"
#include "core/mem.h"
#include "sketch/codec.h"

#define DD_MAGIC "SLDD"
#define DD_VERSION 1
#define DD_MIN_BUCKETS 16u
#define DD_MAX_BUCKETS_LIMIT (1u << 20) /* decoder's bound on max_buckets */

typedef struct {
    void *c;     /* cap counts, width bytes each */
    int32_t off; /* key of c[0] */
    uint32_t cap;
    int32_t lo, hi; /* nonempty key range, valid when total > 0 */
    uint8_t width;  /* 2, 4 or 8 */
    uint64_t total;
} dd_store;

struct sl_ddsketch {
    double alpha;
    double lng;      /* ln(gamma) */
    double inv_lng;  /* 1 / ln(gamma) */
    double rep_bias; /* ln(1 - alpha): representative = exp(key*lng + rep_bias) */
    int32_t key_lim; /* |key| bound of any finite double, used by the decoder */
    uint32_t maxb;
    dd_store neg, pos;
    uint64_t zero, count, dropped;
    double min, max, sum;
};

/* ---- stores ---------------------------------------------------------- */

static inline uint64_t st_get(const dd_store *st, uint32_t i) {
    SL_DASSERT(i < st->cap);
    switch (st->width) {
    case 2:
        return ((const uint16_t *)st->c)[i];
    case 4:
        return ((const uint32_t *)st->c)[i];
    default:
        return ((const uint64_t *)st->c)[i];
    }
}

static inline void st_set(dd_store *st, uint32_t i, uint64_t v) {
    SL_DASSERT(i < st->cap);
    SL_DASSERT(st->width == 8 || v <= (st->width == 2 ? 0xffffu : 0xffffffffu)); /* widened first */
    switch (st->width) {
    case 2:
        ((uint16_t *)st->c)[i] = (uint16_t)v;
        break;
    case 4:
        ((uint32_t *)st->c)[i] = (uint32_t)v;
        break;
    default:
        ((uint64_t *)st->c)[i] = v;
        break;
    }
}

static inline uint8_t width_for(uint64_t v) { return v <= 0xffffu ? 2 : v <= 0xffffffffu ? 4 : 8; }

static inline uint64_t sat_add(uint64_t a, uint64_t b) { return a + b < a ? UINT64_MAX : a + b; }

#if SL_DEBUG_CHECKS_ON
/* The store invariants of the header comment. A walk over the kept span,
 * so only in debug builds (SL_DASSERT). */
static bool st_ok(const dd_store *st, uint32_t maxb) {
    if (st->width != 2 && st->width != 4 && st->width != 8) return false;
    if (st->cap > maxb) return false;
    if (st->total == 0) return true;
    if (st->lo > st->hi || st->lo < st->off || (int64_t)st->hi >= (int64_t)st->off + st->cap)
        return false;
    if (!st_get(st, (uint32_t)(st->lo - st->off)) || !st_get(st, (uint32_t)(st->hi - st->off)))
        return false;
    uint64_t sum = 0;
    for (int64_t k = st->lo; k <= st->hi; k++)
        sum = sat_add(sum, st_get(st, (uint32_t)(k - st->off)));
    return sum == st->total;
}
#endif

/* Reallocates the counts as width w (> st->width). */
static void st_widen(dd_store *st, uint8_t w) {
    assert(w > st->width);
    void *nc = sl_xcalloc(st->cap ? st->cap : 1, w);
    dd_store tmp = *st;
    tmp.c = nc;
    tmp.width = w;
    for (uint32_t i = 0; i < st->cap; i++)
        st_set(&tmp, i, st_get(st, i));
    free(st->c);
    st->c = nc;
    st->width = w;
}

/* Makes room for key; on return *key is the key to count into (folded up to
 * the lowest kept bucket when the span limit is hit). */
static void st_relocate(dd_store *st, int32_t *key, uint32_t maxb) {
    int64_t k = *key, nlo, nhi;
    if (st->total == 0) {
        nlo = nhi = k;
    } else {
        nlo = k < st->lo ? k : st->lo;
        nhi = k > st->hi ? k : st->hi;
    }
    if (nhi - nlo + 1 > (int64_t)maxb) nlo = nhi - maxb + 1;
    if (k < nlo) *key = (int32_t)nlo;
    /* The kept span may already fit the array (a low value folded away). */
    if (st->cap && nlo >= st->off && nhi < (int64_t)st->off + st->cap) return;

    int64_t span = nhi - nlo + 1;
    int64_t slack = span / 8 > 8 ? span / 8 : 8;
    int64_t ncap = span + slack < (int64_t)maxb ? span + slack : (int64_t)maxb;
    int64_t extra = ncap - span, noff;
    if (st->total == 0)
        noff = nlo - extra / 2;
    else if (k < st->lo)
        noff = nlo - extra; /* grew downwards: slack below */
    else
        noff = nlo; /* grew upwards: slack above */

    /* Counts of keys below nlo fold into nlo; kept counts already fit the
     * current width, so only the folded sum can force a wider one. */
    uint64_t fold = 0;
    if (st->total && st->lo < nlo) {
        int64_t end = nlo < st->hi ? nlo : st->hi;
        for (int64_t j = st->lo; j <= end; j++)
            fold = sat_add(fold, st_get(st, (uint32_t)(j - st->off)));
    }
    uint8_t w = width_for(fold);
    if (w < st->width) w = st->width;
    dd_store n = {.c = sl_xcalloc((size_t)ncap, w),
                  .off = (int32_t)noff,
                  .cap = (uint32_t)ncap,
                  .width = w,
                  .total = st->total};
    if (st->total) {
        int64_t from = st->lo > nlo ? st->lo : nlo;
        if (w == st->width) {
            if (from <= st->hi)
                memcpy((char *)n.c + (size_t)(from - noff) * w,
                       (char *)st->c + (size_t)(from - st->off) * w,
                       (size_t)(st->hi - from + 1) * w);
        } else {
            for (int64_t j = from; j <= st->hi; j++)
                st_set(&n, (uint32_t)(j - noff), st_get(st, (uint32_t)(j - st->off)));
        }
        if (st->lo < nlo) st_set(&n, (uint32_t)(nlo - noff), fold);
        n.lo = st->lo > nlo ? st->lo : (int32_t)nlo;
        n.hi = st->hi > n.lo ? st->hi : n.lo;
    }
    free(st->c);
    *st = n;
    assert(st->cap <= maxb); /* the bounded-memory promise */
    SL_DASSERT(st_ok(st, maxb));
}

static inline void st_add(dd_store *st, int32_t key, uint64_t n, uint32_t maxb) {
    if (key < st->off || (int64_t)key >= (int64_t)st->off + st->cap) st_relocate(st, &key, maxb);
    uint32_t i = (uint32_t)(key - st->off);
    assert(i < st->cap); /* relocated above if it was outside */
    uint64_t v = sat_add(st_get(st, i), n);
    if (v > 0xffffu && width_for(v) > st->width) st_widen(st, width_for(v));
    st_set(st, i, v);
    if (st->total == 0) {
        st->lo = st->hi = key;
    } else {
        if (key < st->lo) st->lo = key;
        if (key > st->hi) st->hi = key;
    }
    st->total = sat_add(st->total, n);
}

static void st_clear(dd_store *st) {
    if (st->c) memset(st->c, 0, (size_t)st->cap * st->width);
    st->total = 0;
    st->lo = st->hi = 0;
}

/* ---- sketch ---------------------------------------------------------- */

static int init_params(sl_ddsketch *s, double alpha, uint32_t maxb) {
    if (!(alpha >= SL_DDSKETCH_MIN_ALPHA && alpha <= SL_DDSKETCH_MAX_ALPHA)) return SL_EINVAL;
    if (maxb < DD_MIN_BUCKETS || maxb > DD_MAX_BUCKETS_LIMIT) return SL_EINVAL;
    s->alpha = alpha;
    s->lng = log1p(2 * alpha / (1 - alpha)); /* ln((1+a)/(1-a)) */
    s->inv_lng = 1.0 / s->lng;
    s->rep_bias = log1p(-alpha);
    /* ln of the smallest subnormal is about -744.4, of DBL_MAX 709.8 */
    s->key_lim = (int32_t)ceil(746.0 * s->inv_lng) + 2;
    s->maxb = maxb;
    return 0;
}

static void reset_scalars(sl_ddsketch *s) {
    s->zero = s->count = s->dropped = 0;
    s->min = INFINITY;
    s->max = -INFINITY;
    s->sum = 0;
}

sl_ddsketch *sl_ddsketch_new_ex(double alpha, uint32_t max_buckets) {
    sl_ddsketch *s = sl_xcalloc(1, sizeof *s);
    if (init_params(s, alpha, max_buckets)) {
        free(s);
        return NULL;
    }
    s->neg.width = s->pos.width = 2;
    reset_scalars(s);
    return s;
}

sl_ddsketch *sl_ddsketch_new(double alpha) {
    return sl_ddsketch_new_ex(alpha, SL_DDSKETCH_MAX_BUCKETS);
}

void sl_ddsketch_free(sl_ddsketch *s) {
    if (!s) return;
    free(s->neg.c);
    free(s->pos.c);
    free(s);
}

void sl_ddsketch_clear(sl_ddsketch *s) {
    st_clear(&s->neg);
    st_clear(&s->pos);
    reset_scalars(s);
}

static inline int32_t key_of(const sl_ddsketch *s, double a) { /* a > 0, finite */
    return (int32_t)ceil(log(a) * s->inv_lng);
}

static inline double value_of(const sl_ddsketch *s, int32_t key) {
    return exp((double)key * s->lng + s->rep_bias);
}

void sl_ddsketch_add_n(sl_ddsketch *s, double v, uint64_t n) {
    if (n == 0) return;
    if (!isfinite(v)) {
        s->dropped = sat_add(s->dropped, n);
        return;
    }
    if (v > 0)
        st_add(&s->pos, key_of(s, v), n, s->maxb);
    else if (v < 0)
        st_add(&s->neg, -key_of(s, -v), n, s->maxb);
    else
        s->zero = sat_add(s->zero, n);
    s->count = sat_add(s->count, n);
    s->sum += n == 1 ? v : v * (double)n;
    if (v < s->min) s->min = v;
    if (v > s->max) s->max = v;
}

void sl_ddsketch_add(sl_ddsketch *s, double v) { sl_ddsketch_add_n(s, v, 1); }

static void st_merge(dd_store *dst, const dd_store *src, uint32_t maxb) {
    if (src->total == 0) return;
    int32_t lo = src->lo, hi = src->hi, off = src->off;
    /* Highest first: the array grows at most once upwards, once downwards. */
    for (int64_t k = hi; k >= lo; k--) {
        uint64_t c = st_get(src, (uint32_t)(k - off));
        if (c) st_add(dst, (int32_t)k, c, maxb);
    }
}

int sl_ddsketch_merge(sl_ddsketch *dst, const sl_ddsketch *src) {
    if (dst->alpha != src->alpha) return SL_EINVAL;
    /* Snapshot src's scalars: dst == src (self-merge) must double counts. */
    uint64_t count = src->count, zero = src->zero, dropped = src->dropped;
    double sum = src->sum, mn = src->min, mx = src->max;
    st_merge(&dst->neg, &src->neg, dst->maxb);
    st_merge(&dst->pos, &src->pos, dst->maxb);
    dst->zero = sat_add(dst->zero, zero);
    dst->count = sat_add(dst->count, count);
    dst->dropped = sat_add(dst->dropped, dropped);
    if (count) {
        dst->sum += sum;
        if (mn < dst->min) dst->min = mn;
        if (mx > dst->max) dst->max = mx;
    }
    return 0;
}

static inline double clampv(const sl_ddsketch *s, double x) {
    return x < s->min ? s->min : x > s->max ? s->max : x;
}

/* Rank of q per the header's definition; 0 if q is invalid (caller checks). */
static uint64_t rank_of(const sl_ddsketch *s, double q) {
    assert(s->count > 0); /* callers answer NAN for an empty sketch first */
    double last = (double)(s->count - 1);
    double r = floor(q * last);
    return r >= last ? s->count - 1 : (uint64_t)r;
}

/* Index of the first bucket from i on at which the running sum *cum
 * exceeds rank, or cap if none; adds what it passes to *cum. One loop per
 * count width, so the scan is a plain array walk. */
#define DD_SCAN(T)                                                                                 \
    do {                                                                                           \
        const T *c = (const T *)st->c;                                                             \
        for (; i < end; i++) {                                                                     \
            acc += c[i];                                                                           \
            if (acc > rank || acc < c[i]) break; /* acc < c[i]: wrapped, saturate */               \
        }                                                                                          \
    } while (0)

static uint32_t st_scan(const dd_store *st, uint32_t i, uint32_t end, uint64_t *cum,
                        uint64_t rank) {
    uint64_t acc = *cum;
    switch (st->width) {
    case 2:
        DD_SCAN(uint16_t);
        break;
    case 4:
        DD_SCAN(uint32_t);
        break;
    default:
        DD_SCAN(uint64_t);
        break;
    }
    if (i < end && acc < *cum) acc = UINT64_MAX;
    *cum = acc;
    return i;
}

/* Walks the buckets once in ascending value order, answering the ranks
 * rk[0..k) (nondecreasing, each in [1, count-2]) into out[]. */
static void walk_ranks(const sl_ddsketch *s, const uint64_t *rk, size_t k, double *out) {
    size_t j = 0;
    uint64_t cum = 0;
    for (int sign = -1; sign <= 1 && j < k; sign += 2) {
        const dd_store *st = sign < 0 ? &s->neg : &s->pos;
        if (sign > 0) { /* zeros sit between the stores */
            cum = sat_add(cum, s->zero);
            while (j < k && cum > rk[j])
                out[j++] = clampv(s, 0.0);
        }
        if (!st->total) continue;
        uint32_t i = (uint32_t)(st->lo - st->off), end = (uint32_t)(st->hi - st->off) + 1;
        while (j < k && i < end) {
            i = st_scan(st, i, end, &cum, rk[j]);
            if (i == end) break;
            /* bucket i holds rank rk[j] (and maybe the next ones) */
            int32_t key = st->off + (int32_t)i;
            double x = sign < 0 ? -value_of(s, -key) : value_of(s, key);
            while (j < k && cum > rk[j])
                out[j++] = clampv(s, x);
            i++;
        }
    }
    while (j < k)
        out[j++] = s->max; /* only if counts were inconsistent */
}

double sl_ddsketch_quantile(const sl_ddsketch *s, double q) {
    double out;
    if (sl_ddsketch_quantiles(s, &q, 1, &out)) return NAN;
    return out;
}

int sl_ddsketch_quantiles(const sl_ddsketch *s, const double *qs, size_t k, double *out) {
    for (size_t i = 1; i < k; i++)
        if (!(qs[i] >= qs[i - 1])) return SL_EINVAL;
    /* ranks strictly inside (0, count-1) go to one bucket walk, in batches */
    uint64_t rk[32];
    size_t idx[32], m = 0;
    for (size_t i = 0; i < k; i++) {
        double q = qs[i];
        if (s->count == 0 || !(q >= 0 && q <= 1)) {
            out[i] = NAN;
            continue;
        }
        uint64_t r = rank_of(s, q);
        if (r == 0)
            out[i] = s->min;
        else if (r == s->count - 1)
            out[i] = s->max;
        else {
            rk[m] = r;
            idx[m++] = i;
        }
        if (m == 32) {
            double tmp[32];
            walk_ranks(s, rk, m, tmp);
            for (size_t t = 0; t < m; t++)
                out[idx[t]] = tmp[t];
            m = 0;
        }
    }
    if (m) {
        double tmp[32];
        walk_ranks(s, rk, m, tmp);
        for (size_t t = 0; t < m; t++)
            out[idx[t]] = tmp[t];
    }
    return 0;
}

uint64_t sl_ddsketch_count(const sl_ddsketch *s) { return s->count; }
uint64_t sl_ddsketch_dropped(const sl_ddsketch *s) { return s->dropped; }
double sl_ddsketch_min(const sl_ddsketch *s) { return s->count ? s->min : NAN; }
double sl_ddsketch_max(const sl_ddsketch *s) { return s->count ? s->max : NAN; }
double sl_ddsketch_sum(const sl_ddsketch *s) { return s->count ? s->sum : 0.0; }
double sl_ddsketch_alpha(const sl_ddsketch *s) { return s->alpha; }

size_t sl_ddsketch_bytes(const sl_ddsketch *s) {
    return sizeof *s + (size_t)s->neg.cap * s->neg.width + (size_t)s->pos.cap * s->pos.width;
}

/* ---- serialisation ----------------------------------------------------
 * "SLDD" u8:version f64:alpha v:max_buckets v:count v:zero v:dropped
 * f64:min f64:max f64:sum store:neg store:pos
 * store = v:nbuckets [zz:lo v:count * nbuckets]   (nbuckets = 0: empty)
 * The first and last bucket counts of a store are nonzero, and
 * count == neg total + zero + pos total: the decoder checks both.
 */

static void st_write(sk_wbuf *w, const dd_store *st) {
    if (st->total == 0) {
        sk_w_varint(w, 0);
        return;
    }
    sk_w_varint(w, (uint64_t)((int64_t)st->hi - st->lo + 1));
    sk_w_varint(w, sk_zigzag(st->lo));
    for (int64_t k = st->lo; k <= st->hi; k++)
        sk_w_varint(w, st_get(st, (uint32_t)(k - st->off)));
}

int sl_ddsketch_serialize(const sl_ddsketch *s, void **out, size_t *len) {
    sk_wbuf w = {0};
    sk_w_reserve(&w, 64 + 2 * ((size_t)(s->pos.total ? s->pos.hi - s->pos.lo + 1 : 0) +
                               (size_t)(s->neg.total ? s->neg.hi - s->neg.lo + 1 : 0)));
    sk_w_bytes(&w, DD_MAGIC, 4);
    sk_w_u8(&w, DD_VERSION);
    sk_w_f64(&w, s->alpha);
    sk_w_varint(&w, s->maxb);
    sk_w_varint(&w, s->count);
    sk_w_varint(&w, s->zero);
    sk_w_varint(&w, s->dropped);
    sk_w_f64(&w, s->min);
    sk_w_f64(&w, s->max);
    sk_w_f64(&w, s->sum);
    st_write(&w, &s->neg);
    st_write(&w, &s->pos);
    *out = w.p;
    *len = w.n;
    return 0;
}

/* 0, or -1 if corrupt */
static int st_read(sk_rbuf *r, dd_store *st, const sl_ddsketch *s) {
    uint64_t nb, zz;
    if (sk_r_varint(r, &nb)) return -1;
    if (nb == 0) return 0;
    if (nb > s->maxb || nb > r->n - r->off) return -1; /* each count takes >= 1 byte */
    if (sk_r_varint(r, &zz)) return -1;
    int64_t lo = sk_unzigzag(zz);
    if (lo < -(int64_t)s->key_lim || lo + (int64_t)nb - 1 > s->key_lim) return -1;
    uint64_t *tmp = sl_xcalloc(nb, sizeof *tmp);
    uint64_t total = 0, top = 0;
    for (uint64_t i = 0; i < nb; i++) {
        if (sk_r_varint(r, &tmp[i]) || total + tmp[i] < total) {
            free(tmp);
            return -1;
        }
        total += tmp[i];
        if (tmp[i] > top) top = tmp[i];
    }
    if (tmp[0] == 0 || tmp[nb - 1] == 0) {
        free(tmp);
        return -1;
    }
    st->width = width_for(top);
    st->c = sl_xcalloc(nb, st->width);
    st->off = (int32_t)lo;
    st->cap = (uint32_t)nb;
    st->lo = (int32_t)lo;
    st->hi = (int32_t)(lo + (int64_t)nb - 1);
    st->total = total;
    for (uint64_t i = 0; i < nb; i++)
        st_set(st, (uint32_t)i, tmp[i]);
    free(tmp);
    return 0;
}

sl_ddsketch *sl_ddsketch_deserialize(const void *p, size_t n, sl_error *err) {
    sk_rbuf r = {.p = p, .n = p ? n : 0};
    char magic[4];
    uint8_t ver;
    double alpha, mn, mx, sum;
    uint64_t maxb, count, zero, dropped;
    if (sk_r_bytes(&r, magic, 4) || memcmp(magic, DD_MAGIC, 4)) {
        sl_error_set(err, SL_ECORRUPT, "ddsketch: bad magic");
        return NULL;
    }
    if (sk_r_u8(&r, &ver) || ver != DD_VERSION) {
        sl_error_set(err, SL_ECORRUPT, "ddsketch: unsupported version");
        return NULL;
    }
    if (sk_r_f64(&r, &alpha) || sk_r_varint(&r, &maxb) || sk_r_varint(&r, &count) ||
        sk_r_varint(&r, &zero) || sk_r_varint(&r, &dropped) || sk_r_f64(&r, &mn) ||
        sk_r_f64(&r, &mx) || sk_r_f64(&r, &sum)) {
        sl_error_set(err, SL_ECORRUPT, "ddsketch: truncated header");
        return NULL;
    }
    if (maxb > DD_MAX_BUCKETS_LIMIT) {
        sl_error_set(err, SL_ECORRUPT, "ddsketch: bad bucket limit %llu", (unsigned long long)maxb);
        return NULL;
    }
    sl_ddsketch *s = sl_ddsketch_new_ex(alpha, (uint32_t)maxb);
    if (!s) {
        sl_error_set(err, SL_ECORRUPT, "ddsketch: bad alpha or bucket limit");
        return NULL;
    }
    int rc = st_read(&r, &s->neg, s);
    if (!rc) rc = st_read(&r, &s->pos, s);
    const char *why = "bad bucket data";
    if (!rc) {
        uint64_t t = s->neg.total + zero;
        if (t < zero || t + s->pos.total < t || t + s->pos.total != count)
            rc = -1, why = "counts do not add up";
        else if (count && !(isfinite(mn) && isfinite(mx) && mn <= mx))
            rc = -1, why = "bad min/max";
        else if (r.off != r.n)
            rc = -1, why = "trailing bytes";
    }
    if (rc) {
        sl_ddsketch_free(s);
        sl_error_set(err, SL_ECORRUPT, "ddsketch: %s", why);
        return NULL;
    }
    s->count = count;
    s->zero = zero;
    s->dropped = dropped;
    if (count) {
        s->min = mn;
        s->max = mx;
        s->sum = sum;
    }
    return s;
}
