/*
 * codec.h - internal to src/sketch: the little byte writer and checked
 * reader the sketch serialisers share. Not part of the public API.
 *
 * The idea: a checkpoint of sketch state must be portable (fixed
 * little-endian layout, no struct dumps) and must not trust its input.
 * The writer is a growable malloc'd buffer; it cannot fail (out of memory
 * aborts, see core/mem.h), so encoders stay linear.
 * The reader never reads past its end: every get_* returns 0 on success and
 * -1 when the input is short or a varint is longer than 10 bytes, and the
 * decoders turn that into SL_ECORRUPT.
 *
 * Integers are LEB128 varints (small counts take one byte); signed keys are
 * zigzag-encoded first; doubles are their IEEE-754 bits, little-endian.
 */
#ifndef SL_SKETCH_CODEC_H
#define SL_SKETCH_CODEC_H

#include <assert.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/mem.h"

typedef struct {
    uint8_t *p;
    size_t n, cap;
} sk_wbuf;

static inline void sk_w_reserve(sk_wbuf *w, size_t more) {
    if (w->n + more <= w->cap) return;
    size_t cap = w->cap ? w->cap : 64;
    while (cap < w->n + more)
        cap *= 2;
    w->p = sl_xrealloc(w->p, cap);
    w->cap = cap;
}

static inline void sk_w_bytes(sk_wbuf *w, const void *src, size_t n) {
    sk_w_reserve(w, n);
    assert(w->cap - w->n >= n);
    memcpy(w->p + w->n, src, n);
    w->n += n;
}

static inline void sk_w_u8(sk_wbuf *w, uint8_t v) { sk_w_bytes(w, &v, 1); }

static inline void sk_w_varint(sk_wbuf *w, uint64_t v) {
    uint8_t tmp[10];
    size_t k = 0;
    while (v >= 0x80) {
        tmp[k++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    tmp[k++] = (uint8_t)v;
    sk_w_bytes(w, tmp, k);
}

static inline uint64_t sk_zigzag(int64_t v) { return ((uint64_t)v << 1) ^ (uint64_t)(v >> 63); }
static inline int64_t sk_unzigzag(uint64_t v) { return (int64_t)(v >> 1) ^ -(int64_t)(v & 1); }

static inline void sk_w_f64(sk_wbuf *w, double d) {
    uint64_t b;
    memcpy(&b, &d, 8);
    uint8_t t[8];
    for (int i = 0; i < 8; i++)
        t[i] = (uint8_t)(b >> (8 * i));
    sk_w_bytes(w, t, 8);
}

typedef struct {
    const uint8_t *p;
    size_t n, off;
} sk_rbuf;

static inline int sk_r_bytes(sk_rbuf *r, void *dst, size_t n) {
    assert(r->off <= r->n); /* else the bounds check below wraps */
    if (r->n - r->off < n) return -1;
    memcpy(dst, r->p + r->off, n);
    r->off += n;
    return 0;
}

static inline int sk_r_u8(sk_rbuf *r, uint8_t *v) { return sk_r_bytes(r, v, 1); }

static inline int sk_r_varint(sk_rbuf *r, uint64_t *v) {
    uint64_t x = 0;
    for (int shift = 0; shift < 70; shift += 7) {
        if (r->off >= r->n) return -1;
        uint8_t b = r->p[r->off++];
        if (shift == 63 && b > 1) return -1; /* would overflow 64 bits */
        x |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            *v = x;
            return 0;
        }
    }
    return -1;
}

static inline int sk_r_f64(sk_rbuf *r, double *d) {
    uint8_t t[8];
    if (sk_r_bytes(r, t, 8)) return -1;
    uint64_t b = 0;
    for (int i = 0; i < 8; i++)
        b |= (uint64_t)t[i] << (8 * i);
    memcpy(d, &b, 8);
    return 0;
}

#endif
