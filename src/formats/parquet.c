/*
 * parquet.c - an Apache Parquet writer for appendable segments and a bounded
 * reader, written from the format specification (parquet.thrift and
 * Encodings.md).
 *
 * The footer and page headers are Thrift structs in the compact protocol:
 * fields carry a 4-bit delta from the previous field id and a 4-bit type,
 * integers are zigzag varints, booleans live in the field header. The encoder
 * here writes only what the writer needs; the decoder reads any struct,
 * skipping unknown fields, and never trusts a length: every count is checked
 * against the bytes left, nesting is bounded, errors are sticky.
 *
 * Writer. Values are buffered per column in growing arrays that are reused
 * across flushes (strings in one byte pool per column). A flush encodes each
 * column chunk: it builds a dictionary with an open-addressing table (no
 * allocation per value) and picks, by estimated size, RLE_DICTIONARY, or
 * DELTA_BINARY_PACKED (integers and timestamps), or PLAIN (RLE for booleans
 * when smaller). Pages are data page v1 (definition levels with bit width 1,
 * length-prefixed) compressed with zstd. The serialized RowGroup structs are
 * kept, so every footer lists every row group written so far, and a reopen
 * recovers them byte for byte from the footer at the committed length.
 *
 * Reader. The file (or its committed prefix) is mapped; the footer is parsed
 * into per-chunk records; a column chunk is decoded page by page into a
 * per-slot buffer: definition levels first, then the dense values, which are
 * spread over the non-NULL rows in place (backwards, so no second buffer).
 */
#include "formats/parquet.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zstd.h>

#include "core/check.h"
#include "core/hash.h"
#include "core/mem.h"

/* ---- format constants (parquet.thrift) ---- */

enum { PT_BOOLEAN, PT_INT32, PT_INT64, PT_INT96, PT_FLOAT, PT_DOUBLE, PT_BYTE_ARRAY, PT_FLBA };
enum {
    ENC_PLAIN = 0,
    ENC_PLAIN_DICTIONARY = 2,
    ENC_RLE = 3,
    ENC_BIT_PACKED = 4,
    ENC_DELTA_BINARY_PACKED = 5,
    ENC_DELTA_LENGTH_BYTE_ARRAY = 6,
    ENC_DELTA_BYTE_ARRAY = 7,
    ENC_RLE_DICTIONARY = 8,
    ENC_BYTE_STREAM_SPLIT = 9
};
enum { CODEC_UNCOMPRESSED = 0, CODEC_SNAPPY = 1, CODEC_ZSTD = 6 };
enum { PAGE_DATA = 0, PAGE_INDEX = 1, PAGE_DICTIONARY = 2, PAGE_DATA_V2 = 3 };
enum { CT_UTF8 = 0, CT_TIMESTAMP_MILLIS = 9, CT_TIMESTAMP_MICROS = 10 };
enum { REP_REQUIRED = 0, REP_OPTIONAL = 1, REP_REPEATED = 2 };
/* compact protocol types */
enum {
    TT_STOP = 0,
    TT_TRUE = 1,
    TT_FALSE = 2,
    TT_BYTE = 3,
    TT_I16 = 4,
    TT_I32 = 5,
    TT_I64 = 6,
    TT_DOUBLE = 7,
    TT_BINARY = 8,
    TT_LIST = 9,
    TT_SET = 10,
    TT_MAP = 11,
    TT_STRUCT = 12
};
enum { TS_NONE, TS_MILLIS, TS_MICROS, TS_NANOS };

#define PQ_DELTA_BLOCK 128
#define PQ_DELTA_MINIBLOCKS 4
#define PQ_MAX_DEPTH 32
#define PQ_MAX_PAGE (1u << 30) /* bound on one page's uncompressed size */

/* ---- growing byte buffer ---- */

typedef struct pbuf {
    uint8_t *p;
    size_t n, cap;
} pbuf;

static void pb_reserve(pbuf *b, size_t add) {
    if (b->cap - b->n >= add) return;
    size_t cap = b->cap ? b->cap : 256;
    while (cap - b->n < add)
        cap *= 2;
    b->p = sl_xrealloc(b->p, cap);
    b->cap = cap;
}
static void pb_put(pbuf *b, const void *d, size_t n) {
    pb_reserve(b, n);
    if (n) memcpy(b->p + b->n, d, n);
    b->n += n;
}
static void pb_u8(pbuf *b, uint8_t v) {
    pb_reserve(b, 1);
    b->p[b->n++] = v;
}
static void pb_varint(pbuf *b, uint64_t v) {
    pb_reserve(b, 10);
    while (v >= 0x80) {
        b->p[b->n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    b->p[b->n++] = (uint8_t)v;
}
static void pb_le32(pbuf *b, uint32_t v) {
    uint8_t t[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
    pb_put(b, t, 4);
}
static void put_le32(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)v, p[1] = (uint8_t)(v >> 8), p[2] = (uint8_t)(v >> 16),
    p[3] = (uint8_t)(v >> 24);
}
static uint32_t get_le32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static uint64_t get_le64(const uint8_t *p) {
    return (uint64_t)get_le32(p) | (uint64_t)get_le32(p + 4) << 32;
}
static void pb_free(pbuf *b) {
    free(b->p);
    b->p = NULL;
    b->n = b->cap = 0;
}
static uint64_t zz64(int64_t v) { return ((uint64_t)v << 1) ^ (uint64_t)(v >> 63); }
static int64_t unzz64(uint64_t v) { return (int64_t)(v >> 1) ^ -(int64_t)(v & 1); }
static int varint_len(uint64_t v) {
    int n = 1;
    while (v >= 0x80)
        v >>= 7, n++;
    return n;
}
/* Bits needed for v (0 for 0). */
static int bit_width(uint64_t v) { return v ? 64 - __builtin_clzll(v) : 0; }

/* ---- Thrift compact protocol: encoder ---- */

typedef struct tenc {
    pbuf *b;
    int16_t last[PQ_MAX_DEPTH];
    int depth;
} tenc;

static void te_init(tenc *e, pbuf *b) {
    e->b = b;
    e->depth = 0;
    e->last[0] = 0;
}
static void te_field(tenc *e, int type, int16_t id) {
    int delta = id - e->last[e->depth];
    if (delta > 0 && delta <= 15) {
        pb_u8(e->b, (uint8_t)(delta << 4 | type));
    } else {
        pb_u8(e->b, (uint8_t)type);
        pb_varint(e->b, zz64(id));
    }
    e->last[e->depth] = id;
}
static void te_i32(tenc *e, int16_t id, int32_t v) {
    te_field(e, TT_I32, id);
    pb_varint(e->b, zz64(v));
}
static void te_i64(tenc *e, int16_t id, int64_t v) {
    te_field(e, TT_I64, id);
    pb_varint(e->b, zz64(v));
}
static void te_bool(tenc *e, int16_t id, bool v) { te_field(e, v ? TT_TRUE : TT_FALSE, id); }
static void te_bin(tenc *e, int16_t id, const void *p, size_t n) {
    te_field(e, TT_BINARY, id);
    pb_varint(e->b, n);
    pb_put(e->b, p, n);
}
static void te_push(tenc *e) {
    SL_DASSERT(e->depth + 1 < PQ_MAX_DEPTH);
    e->last[++e->depth] = 0;
}
static void te_struct(tenc *e, int16_t id) {
    te_field(e, TT_STRUCT, id);
    te_push(e);
}
static void te_end(tenc *e) {
    pb_u8(e->b, TT_STOP);
    e->depth--;
}
static void te_list(tenc *e, int16_t id, int etype, uint32_t n) {
    te_field(e, TT_LIST, id);
    if (n < 15) {
        pb_u8(e->b, (uint8_t)(n << 4 | (uint32_t)etype));
    } else {
        pb_u8(e->b, (uint8_t)(0xf0 | etype));
        pb_varint(e->b, n);
    }
}

/* ---- Thrift compact protocol: bounded decoder ---- */

typedef struct tdec {
    const uint8_t *p, *end;
    int depth;
    bool bad;
} tdec;

static void td_fail(tdec *d) {
    d->bad = true;
    d->p = d->end;
}
static uint64_t td_varint(tdec *d) {
    uint64_t v = 0;
    for (int s = 0; s < 64; s += 7) {
        if (d->p >= d->end) break;
        uint8_t b = *d->p++;
        v |= (uint64_t)(b & 0x7f) << s;
        if (!(b & 0x80)) return v;
    }
    td_fail(d);
    return 0;
}
static size_t td_left(const tdec *d) { return (size_t)(d->end - d->p); }
/* Reads a field header: false at the struct's end (or on error). */
static bool td_field(tdec *d, int16_t *last, int *type, int16_t *id) {
    if (d->p >= d->end) {
        td_fail(d);
        return false;
    }
    uint8_t b = *d->p++;
    if (b == TT_STOP) return false;
    *type = b & 0x0f;
    if (b >> 4) {
        *id = (int16_t)(*last + (b >> 4));
    } else {
        int64_t v = unzz64(td_varint(d));
        if (v < INT16_MIN || v > INT16_MAX) td_fail(d);
        *id = (int16_t)v;
    }
    *last = *id;
    return !d->bad;
}
static void td_skip(tdec *d, int type, bool elem);
/* A list or set header; the element count is bounded by the bytes left (every
 * element takes at least one byte). */
static uint32_t td_list(tdec *d, int *etype) {
    if (d->p >= d->end) {
        td_fail(d);
        return 0;
    }
    uint8_t b = *d->p++;
    *etype = b & 0x0f;
    uint64_t n = b >> 4;
    if (n == 15) n = td_varint(d);
    if (n > td_left(d)) {
        td_fail(d);
        return 0;
    }
    return (uint32_t)n;
}
static void td_skip(tdec *d, int type, bool elem) {
    if (d->bad) return;
    switch (type) {
    case TT_TRUE:
    case TT_FALSE:
        if (elem) { /* in a list a bool is a byte */
            if (d->p >= d->end) return td_fail(d);
            d->p++;
        }
        return;
    case TT_BYTE:
        if (d->p >= d->end) return td_fail(d);
        d->p++;
        return;
    case TT_I16:
    case TT_I32:
    case TT_I64:
        td_varint(d);
        return;
    case TT_DOUBLE:
        if (td_left(d) < 8) return td_fail(d);
        d->p += 8;
        return;
    case TT_BINARY: {
        uint64_t n = td_varint(d);
        if (n > td_left(d)) return td_fail(d);
        d->p += n;
        return;
    }
    case TT_LIST:
    case TT_SET: {
        int et;
        uint32_t n = td_list(d, &et);
        if (++d->depth > PQ_MAX_DEPTH) return td_fail(d);
        for (uint32_t i = 0; i < n && !d->bad; i++)
            td_skip(d, et, true);
        d->depth--;
        return;
    }
    case TT_MAP: {
        uint64_t n = td_varint(d);
        if (n > td_left(d)) return td_fail(d);
        if (n == 0) return;
        if (d->p >= d->end) return td_fail(d);
        uint8_t kv = *d->p++;
        if (++d->depth > PQ_MAX_DEPTH) return td_fail(d);
        for (uint64_t i = 0; i < n && !d->bad; i++) {
            td_skip(d, kv >> 4, true);
            td_skip(d, kv & 0x0f, true);
        }
        d->depth--;
        return;
    }
    case TT_STRUCT: {
        if (++d->depth > PQ_MAX_DEPTH) return td_fail(d);
        int16_t last = 0, id;
        int t;
        while (td_field(d, &last, &t, &id))
            td_skip(d, t, false);
        d->depth--;
        return;
    }
    default:
        td_fail(d);
    }
}
/* An integer field of any width; other types are skipped (false). */
static bool td_int(tdec *d, int type, int64_t *v) {
    if (type == TT_I16 || type == TT_I32 || type == TT_I64) {
        *v = unzz64(td_varint(d));
        return !d->bad;
    }
    if (type == TT_BYTE && d->p < d->end) {
        *v = (int8_t)*d->p++;
        return true;
    }
    td_skip(d, type, false);
    return false;
}
static int32_t td_i32v(tdec *d, int type, int32_t dflt) {
    int64_t v;
    if (!td_int(d, type, &v)) return dflt;
    if (v < INT32_MIN || v > INT32_MAX) {
        td_fail(d);
        return dflt;
    }
    return (int32_t)v;
}
static bool td_bin(tdec *d, int type, const uint8_t **p, uint32_t *n) {
    if (type != TT_BINARY) {
        td_skip(d, type, false);
        return false;
    }
    uint64_t len = td_varint(d);
    if (d->bad || len > td_left(d)) {
        td_fail(d);
        return false;
    }
    *p = d->p;
    *n = (uint32_t)len;
    d->p += len;
    return true;
}
static bool td_enter(tdec *d, int type) {
    if (type != TT_STRUCT) {
        td_skip(d, type, false);
        return false;
    }
    if (++d->depth > PQ_MAX_DEPTH) {
        td_fail(d);
        return false;
    }
    return true;
}
static void td_leave(tdec *d) { d->depth--; }

/* ---- bit packing (LSB first) ---- */

typedef struct bitw {
    pbuf *b;
    uint64_t acc;
    int nbits;
} bitw;

/* Appends the low `width` bits of v; the caller reserved the bytes. */
static inline void bw_put(bitw *w, uint64_t v, int width) {
    if (width > 32) { /* the accumulator holds < 8 pending bits + 32 */
        bw_put(w, v & 0xffffffffu, 32);
        v >>= 32;
        width -= 32;
    }
    v &= ((uint64_t)1 << width) - 1;
    w->acc |= v << w->nbits;
    w->nbits += width;
    uint8_t *o = w->b->p + w->b->n;
    while (w->nbits >= 8) {
        *o++ = (uint8_t)w->acc;
        w->acc >>= 8;
        w->nbits -= 8;
    }
    w->b->n = (size_t)(o - w->b->p);
}
static void bw_flush(bitw *w) {
    if (w->nbits > 0) w->b->p[w->b->n++] = (uint8_t)w->acc;
    w->acc = 0;
    w->nbits = 0;
}
/* `width` bits at bit offset `bit` of p; the caller has checked that the
 * bytes [p, p + (bit + width + 7) / 8) exist (end bounds the fast path). */
static inline uint64_t unpack1(const uint8_t *p, const uint8_t *end, uint64_t bit, int width) {
    if (width == 0) return 0;
    const uint8_t *q = p + (bit >> 3);
    int s = (int)(bit & 7);
    uint64_t v;
    if (end - q >= 8) {
        memcpy(&v, q, 8); /* little-endian hosts only (x86-64, arm64) */
    } else {
        v = 0;
        int nb = (s + width + 7) >> 3;
        for (int k = 0; k < nb && k < 8; k++)
            v |= (uint64_t)q[k] << (8 * k);
    }
    v >>= s;
    if (s + width > 64) v |= (uint64_t)q[8] << (64 - s);
    return width == 64 ? v : v & (((uint64_t)1 << width) - 1);
}

/* Width-specialised packing: n values (a multiple of 8) of `w` bits each
 * (the caller guarantees v < 2^w) into exactly n * w / 8 bytes at o, LSB
 * first, through a 64-bit accumulator stored 8 bytes at a time. pack_vals
 * switches on the width, so each copy of this loop has w as a constant and
 * its shifts are fixed (a generic per-value packer was a tenth of the
 * writer's time). */
static inline __attribute__((always_inline)) void pack_wide(uint8_t *o, const uint64_t *v64,
                                                            const uint32_t *v32, size_t n, int w) {
    for (size_t g = 0; g < n; g += 8, o += w) { /* 8 values make w bytes */
        uint8_t *q = o;
        uint64_t acc = 0;
        int bits = 0;
#pragma GCC unroll 8
        for (int k = 0; k < 8; k++) { /* unrolled: every shift below is a constant */
            uint64_t x = v64 ? v64[g + k] : v32[g + k];
            acc |= x << bits;
            bits += w;
            if (bits >= 64) {
                memcpy(q, &acc, 8); /* little-endian hosts only, as unpack1 */
                q += 8;
                bits -= 64;
                acc = bits ? x >> (w - bits) : 0;
            }
        }
        for (; bits > 0; bits -= 8) {
            *q++ = (uint8_t)acc;
            acc >>= 8;
        }
    }
}
#define PK_8(X, b) X(b + 1) X(b + 2) X(b + 3) X(b + 4) X(b + 5) X(b + 6) X(b + 7) X(b + 8)
#define PK_64(W)                                                                                   \
    case W:                                                                                        \
        pack_wide(o, v64, NULL, n, W);                                                             \
        return;
#define PK_32(W)                                                                                   \
    case W:                                                                                        \
        pack_wide(o, NULL, v32, n, W);                                                             \
        return;
/* Packs v64[0..n) (w <= 64) or v32[0..n) (w <= 32); n a multiple of 8. */
static void pack_vals(uint8_t *o, const uint64_t *v64, const uint32_t *v32, size_t n, int w) {
    if (v64) {
        switch (w) {
            PK_8(PK_64, 0)
            PK_8(PK_64, 8)
            PK_8(PK_64, 16)
            PK_8(PK_64, 24)
            PK_8(PK_64, 32)
            PK_8(PK_64, 40)
            PK_8(PK_64, 48)
            PK_8(PK_64, 56)
        default:
            return; /* w == 0: no bytes */
        }
    }
    switch (w) {
        PK_8(PK_32, 0)
        PK_8(PK_32, 8)
        PK_8(PK_32, 16)
        PK_8(PK_32, 24)
    default:
        return;
    }
}
#undef PK_8
#undef PK_64
#undef PK_32
/* Eight 0/1 bytes to one byte, the first in bit 0: the multiply moves bit
 * 8j of the masked word to bit 56 + j, with no carries between them. */
static inline uint8_t pack_bits8(const uint8_t *p) {
    uint64_t x;
    memcpy(&x, p, 8);
    return (uint8_t)(((x & 0x0101010101010101ull) * 0x0102040810204080ull) >> 56);
}

/* ---- RLE / bit-packed hybrid ---- */

/* Length of the run of equal values starting at i (at most `cap`). */
static size_t run_len8(const uint8_t *v, size_t i, size_t n, size_t cap) {
    size_t j = i + 1;
    while (j < n && j - i < cap && v[j] == v[i])
        j++;
    return j - i;
}
static size_t run_len32(const uint32_t *v, size_t i, size_t n, size_t cap) {
    size_t j = i + 1;
    while (j < n && j - i < cap && v[j] == v[i])
        j++;
    return j - i;
}

/* Encodes n values of `width` bits (u8 or u32 gives them): runs of 8 or more
 * equal values as RLE runs, the rest as bit-packed groups of 8 (the last
 * group padded with zeros). */
static void hybrid_encode(pbuf *b, const uint8_t *u8, const uint32_t *u32, size_t n, int width) {
#define HV(k) (u8 ? (uint32_t)u8[k] : u32[k])
#define RUN(k, cap) (u8 ? run_len8(u8, k, n, cap) : run_len32(u32, k, n, cap))
    size_t i = 0;
    int vbytes = (width + 7) / 8;
    while (i < n) {
        size_t run = RUN(i, SIZE_MAX);
        if (run >= 8) {
            pb_varint(b, (uint64_t)run << 1);
            uint32_t v = HV(i);
            pb_reserve(b, 4);
            for (int k = 0; k < vbytes; k++)
                b->p[b->n++] = (uint8_t)(v >> (8 * k));
            i += run;
            continue;
        }
        size_t start = i, groups = 0;
        while (i < n) {
            if (groups && RUN(i, 8) >= 8) break;
            i = i + 8 < n ? i + 8 : n;
            groups++;
        }
        pb_varint(b, (uint64_t)groups << 1 | 1);
        size_t bytes = groups * (size_t)width;
        pb_reserve(b, bytes);
        uint8_t *o = b->p + b->n;
        size_t end = start + groups * 8 < n ? start + groups * 8 : n;
        size_t full = (end - start) & ~(size_t)7, tail = end - start - full;
        if (u8) { /* definition levels and booleans: width 1 */
            for (size_t g = 0; g < full; g += 8)
                *o++ = pack_bits8(u8 + start + g);
            if (tail) { /* the last group, padded with zeros */
                uint8_t t[8] = {0};
                memcpy(t, u8 + start + full, tail);
                *o = pack_bits8(t);
            }
        } else {
            pack_vals(o, NULL, u32 + start, full, width);
            if (tail) {
                uint32_t t[8] = {0};
                memcpy(t, u32 + start + full, tail * sizeof *t);
                pack_vals(o + full / 8 * (size_t)width, NULL, t, 8, width);
            }
        }
        b->n += bytes;
    }
#undef HV
#undef RUN
}

/* Decodes exactly n values of `width` (<= 32) bits from [p, e). Returns the
 * bytes consumed or -1. */
static int64_t hybrid_decode(const uint8_t *p, const uint8_t *e, int width, uint32_t *out,
                             size_t n) {
    const uint8_t *s = p;
    size_t got = 0;
    int vbytes = (width + 7) / 8;
    while (got < n) {
        tdec d = {p, e, 0, false};
        uint64_t h = td_varint(&d);
        if (d.bad) return -1;
        p = d.p;
        if (h & 1) {
            uint64_t groups = h >> 1;
            if (groups == 0 || groups > (uint64_t)(e - p)) return -1;
            uint64_t bytes = groups * (uint64_t)width;
            if (bytes > (uint64_t)(e - p)) return -1;
            size_t take = groups * 8 < n - got ? (size_t)groups * 8 : n - got;
            for (size_t k = 0; k < take; k++)
                out[got + k] = (uint32_t)unpack1(p, e, (uint64_t)k * (uint64_t)width, width);
            got += take;
            p += bytes;
        } else {
            uint64_t count = h >> 1;
            if (count == 0 || (size_t)(e - p) < (size_t)vbytes) return -1;
            uint32_t v = 0;
            for (int k = 0; k < vbytes; k++)
                v |= (uint32_t)p[k] << (8 * k);
            p += vbytes;
            size_t take = count < n - got ? (size_t)count : n - got;
            for (size_t k = 0; k < take; k++)
                out[got + k] = v;
            got += take;
        }
    }
    return p - s;
}

/* ---- DELTA_BINARY_PACKED ---- */

/* Encodes v[0..n) (block 128, 4 miniblocks of 32) into out, or only counts
 * the bytes when out is NULL. Deltas are taken modulo 2^64, so INT64_MIN
 * next to INT64_MAX round-trips. */
static size_t delta_encode(pbuf *out, const int64_t *v, size_t n) {
    size_t size = 0;
    uint64_t first = n ? zz64(v[0]) : 0;
    size += (size_t)varint_len(PQ_DELTA_BLOCK) + (size_t)varint_len(PQ_DELTA_MINIBLOCKS) +
            (size_t)varint_len(n) + (size_t)varint_len(first);
    if (out) {
        pb_varint(out, PQ_DELTA_BLOCK);
        pb_varint(out, PQ_DELTA_MINIBLOCKS);
        pb_varint(out, n);
        pb_varint(out, first);
    }
    uint64_t d[PQ_DELTA_BLOCK];
    for (size_t i = 1; i < n; i += PQ_DELTA_BLOCK) {
        size_t m = n - i < PQ_DELTA_BLOCK ? n - i : PQ_DELTA_BLOCK;
        int64_t mn = INT64_MAX;
        for (size_t k = 0; k < m; k++) {
            d[k] = (uint64_t)v[i + k] - (uint64_t)v[i + k - 1];
            mn = (int64_t)d[k] < mn ? (int64_t)d[k] : mn;
        }
        /* the padding past m is mn, so it packs as 0 */
        for (size_t k = m; k < PQ_DELTA_BLOCK; k++)
            d[k] = (uint64_t)mn;
        int widths[PQ_DELTA_MINIBLOCKS];
        size_t per = PQ_DELTA_BLOCK / PQ_DELTA_MINIBLOCKS;
        size += (size_t)varint_len(zz64(mn)) + PQ_DELTA_MINIBLOCKS;
        for (int mb = 0; mb < PQ_DELTA_MINIBLOCKS; mb++) {
            uint64_t or = 0, *dm = d + mb * per;
            for (size_t k = 0; k < PQ_DELTA_BLOCK / PQ_DELTA_MINIBLOCKS; k++) { /* relative to mn */
                dm[k] -= (uint64_t)mn;
                or |= dm[k];
            }
            widths[mb] = mb * per < m ? bit_width(or) : 0;
            if (mb * per < m) size += per * (size_t)widths[mb] / 8;
        }
        if (!out) continue;
        pb_varint(out, zz64(mn));
        pb_reserve(out, PQ_DELTA_MINIBLOCKS + per * 8 * PQ_DELTA_MINIBLOCKS);
        for (int mb = 0; mb < PQ_DELTA_MINIBLOCKS; mb++)
            out->p[out->n++] = (uint8_t)widths[mb];
        for (int mb = 0; mb < PQ_DELTA_MINIBLOCKS && mb * per < m; mb++) {
            pack_vals(out->p + out->n, d + mb * per, NULL, per, widths[mb]);
            out->n += per * (size_t)widths[mb] / 8;
        }
    }
    return size;
}

/* Decodes exactly `need` values into out. Returns the bytes consumed or -1. */
static int64_t delta_decode(const uint8_t *p, const uint8_t *e, int64_t *out, size_t need) {
    tdec d = {p, e, 0, false};
    uint64_t block = td_varint(&d), mbs = td_varint(&d), total = td_varint(&d);
    int64_t cur = unzz64(td_varint(&d));
    if (d.bad || block == 0 || block % 128 || block > 65536 || mbs == 0 || block % mbs ||
        (block / mbs) % 32 || total != need)
        return -1;
    size_t per = block / mbs, got = 0;
    if (total == 0) return d.p - p;
    out[got++] = cur;
    while (got < total) {
        int64_t mn = unzz64(td_varint(&d));
        if (d.bad || td_left(&d) < mbs) return -1;
        const uint8_t *widths = d.p;
        d.p += mbs;
        for (size_t mb = 0; mb < mbs && got < total; mb++) {
            int w = widths[mb];
            if (w > 64) return -1;
            size_t bytes = per * (size_t)w / 8;
            if (td_left(&d) < bytes) return -1;
            size_t take = total - got < per ? total - got : per;
            for (size_t k = 0; k < take; k++) {
                uint64_t x = unpack1(d.p, e, (uint64_t)k * (uint64_t)w, w);
                cur = (int64_t)((uint64_t)cur + (uint64_t)mn + x);
                out[got++] = cur;
            }
            d.p += bytes;
        }
    }
    return d.p - p;
}

/* ---- writer ---- */

typedef struct pq_wcol {
    sl_type type;
    uint8_t *def;   /* per pending row: 1 value, 0 NULL */
    int64_t *iv;    /* dense values: INT, TS, DOUBLE (bits) */
    uint8_t *bv;    /* dense values: BOOL */
    uint32_t *soff; /* dense values: STRING offset in pool */
    uint32_t *slen; /* and length */
    size_t nvals, vcap;
    pbuf pool;
    /* dictionary build (reused across flushes) */
    uint32_t *idx; /* per dense value: dictionary index */
    uint32_t *ent; /* dictionary entry -> dense value index of its first occurrence */
    uint32_t *ht;  /* open addressing: entry + 1, 0 empty */
    size_t ht_cap, ent_cap;
    uint32_t ndict;
    uint32_t prev_ndict; /* entries the last build reached (sizes the next table) */
    /* compression: chunks still to write uncompressed (see write_chunk) */
    int z_skip;
} pq_wcol;

struct sl_pq_writer {
    char *path, *created_by;
    int fd;
    sl_schema schema;
    sl_pq_options opt;
    pq_wcol col[SL_MAX_COLUMNS];
    uint32_t pending;
    size_t rows_cap;
    int64_t length, rows;
    int64_t valid_length; /* the end of the last footer: what sl_pq_length gives */
    bool footer_due;      /* row groups written since that footer */
    int nrg;
    pbuf rgs; /* serialized RowGroup structs, back to back */
    pbuf out, page, z, rg;
    pbuf delta; /* a one-page chunk's delta encoding, made while estimating */
    ZSTD_CCtx *cctx;
    bool failed;
};

static int ptype_of(sl_type t) {
    switch (t) {
    case SL_T_BOOL:
        return PT_BOOLEAN;
    case SL_T_DOUBLE:
        return PT_DOUBLE;
    case SL_T_STRING:
        return PT_BYTE_ARRAY;
    default:
        return PT_INT64;
    }
}

static int check_schema(const sl_schema *s, sl_error *err) {
    if (!s || s->n <= 0 || s->n > SL_MAX_COLUMNS)
        return sl_error_set(err, SL_EINVAL, "parquet: a schema needs 1..%d columns",
                            SL_MAX_COLUMNS);
    for (int i = 0; i < s->n; i++)
        if (s->f[i].type < SL_T_BOOL || s->f[i].type > SL_T_TS)
            return sl_error_set(err, SL_EINVAL, "parquet: column '%s' has no storable type",
                                s->f[i].name);
    return 0;
}

static sl_pq_writer *writer_new(const char *path, const sl_schema *schema,
                                const sl_pq_options *opts) {
    sl_pq_writer *w = sl_xcalloc(1, sizeof *w);
    w->path = sl_xstrdup(path);
    w->fd = -1;
    w->schema = *schema;
    if (opts) w->opt = *opts;
    if (w->opt.zstd_level == 0) w->opt.zstd_level = 3;
    if (w->opt.page_rows == 0) w->opt.page_rows = 65536;
    if (w->opt.dictionary_max == 0) w->opt.dictionary_max = 65536;
    /* the caller's string need not outlive this call */
    w->created_by = sl_xstrdup(opts && opts->created_by ? opts->created_by : "sluice");
    w->opt.created_by = w->created_by;
    for (int i = 0; i < schema->n; i++)
        w->col[i].type = schema->f[i].type;
    w->cctx = ZSTD_createCCtx();
    if (!w->cctx) sl_oom("zstd context", 0);
    return w;
}

static int write_all(sl_pq_writer *w, const uint8_t *p, size_t n, int64_t off, sl_error *err) {
    while (n) {
        ssize_t k = pwrite(w->fd, p, n, (off_t)off);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) {
            int e = k < 0 ? errno : ENOSPC;
            return sl_error_set(err, e == ENOSPC || e == EDQUOT ? SL_EFULL : SL_EIO,
                                "%s: write: %s", w->path, strerror(e));
        }
        p += k, n -= (size_t)k, off += k;
    }
    return 0;
}

sl_pq_writer *sl_pq_create(const char *path, const sl_schema *schema, const sl_pq_options *opts,
                           sl_error *err) {
    if (check_schema(schema, err)) return NULL;
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0) {
        sl_error_set(err, errno == EEXIST ? SL_EINVAL : SL_EIO, "%s: create: %s", path,
                     strerror(errno));
        return NULL;
    }
    sl_pq_writer *w = writer_new(path, schema, opts);
    w->fd = fd;
    if (write_all(w, (const uint8_t *)"PAR1", 4, 0, err)) {
        sl_pq_close(w);
        return NULL;
    }
    w->length = w->valid_length = 4;
    return w;
}

static void wcol_reserve_rows(sl_pq_writer *w, size_t need) {
    if (need <= w->rows_cap) return;
    size_t cap = w->rows_cap ? w->rows_cap : 1024;
    while (cap < need)
        cap *= 2;
    for (int i = 0; i < w->schema.n; i++)
        w->col[i].def = sl_xrealloc(w->col[i].def, cap);
    w->rows_cap = cap;
}
static void wcol_reserve_vals(pq_wcol *c, size_t need) {
    if (need <= c->vcap) return;
    size_t cap = c->vcap ? c->vcap : 1024;
    while (cap < need)
        cap *= 2;
    if (c->type == SL_T_BOOL) {
        c->bv = sl_xrealloc(c->bv, cap);
    } else if (c->type == SL_T_STRING) {
        c->soff = sl_xreallocarray(c->soff, cap, sizeof *c->soff);
        c->slen = sl_xreallocarray(c->slen, cap, sizeof *c->slen);
    } else {
        c->iv = sl_xreallocarray(c->iv, cap, sizeof *c->iv);
    }
    c->vcap = cap;
}

/* Whether any of p[0..n) is nonzero (a NULL flag is any nonzero byte): eight
 * bytes a step, and it stops at the first word with one. */
static bool any_byte(const uint8_t *p, size_t n) {
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t x;
        memcpy(&x, p + i, 8);
        if (x) return true;
    }
    for (; i < n; i++)
        if (p[i]) return true;
    return false;
}

int sl_pq_append(sl_pq_writer *w, const sl_column *const *cols, uint32_t from, uint32_t n,
                 sl_error *err) {
    if (w->failed) return sl_error_set(err, SL_EIO, "%s: writer failed earlier", w->path);
    if (n == 0) return 0;
    if ((uint64_t)w->pending + n > INT32_MAX)
        return sl_error_set(err, SL_EFULL, "%s: row group too large (flush more often)", w->path);
    for (int i = 0; i < w->schema.n; i++)
        if (cols[i]->type != w->col[i].type)
            return sl_error_set(err, SL_EINVAL, "%s: column '%s' is %s, not %s", w->path,
                                w->schema.f[i].name, sl_type_name(cols[i]->type),
                                sl_type_name(w->col[i].type));
    /* strings: check the pool bound before changing anything */
    for (int i = 0; i < w->schema.n; i++) {
        if (w->col[i].type != SL_T_STRING) continue;
        uint64_t add = 0;
        for (uint32_t r = from; r < from + n; r++)
            if (!(cols[i]->null && cols[i]->null[r])) add += cols[i]->v.s[r].len;
        if (w->col[i].pool.n + add > UINT32_MAX)
            return sl_error_set(err, SL_EFULL, "%s: column '%s': row group over 4 GiB", w->path,
                                w->schema.f[i].name);
        /* so the copies below need no checks (and the pool is never NULL) */
        pb_reserve(&w->col[i].pool, add + 1);
    }
    wcol_reserve_rows(w, (size_t)w->pending + n);
    for (int i = 0; i < w->schema.n; i++) {
        pq_wcol *c = &w->col[i];
        const sl_column *s = cols[i];
        uint8_t *def = c->def + w->pending;
        wcol_reserve_vals(c, c->nvals + n);
        size_t nv = c->nvals;
        /* a column with a NULL array but no NULL in [from, from + n) takes the dense copy */
        if (!s->null || !any_byte(s->null + from, n)) {
            memset(def, 1, n);
            switch (c->type) {
            case SL_T_BOOL:
                for (uint32_t r = 0; r < n; r++)
                    c->bv[nv + r] = s->v.b[from + r] != 0;
                break;
            case SL_T_STRING:
                for (uint32_t r = 0; r < n; r++) {
                    const sl_str *v = &s->v.s[from + r];
                    c->soff[nv + r] = (uint32_t)c->pool.n;
                    c->slen[nv + r] = v->len;
                    if (v->len) memcpy(c->pool.p + c->pool.n, v->ptr, v->len);
                    c->pool.n += v->len;
                }
                break;
            default: /* int64, timestamps and doubles are all 8 bytes */
                memcpy(c->iv + nv, (const int64_t *)s->v.p + from, (size_t)n * 8);
            }
            c->nvals = nv + n;
            continue;
        }
        for (uint32_t r = 0; r < n; r++)
            def[r] = !s->null[from + r];
        switch (c->type) { /* one loop per type: the switch is not per row */
        case SL_T_BOOL:
            for (uint32_t r = 0; r < n; r++)
                if (def[r]) c->bv[nv++] = s->v.b[from + r] != 0;
            break;
        case SL_T_STRING:
            for (uint32_t r = 0; r < n; r++) {
                if (!def[r]) continue;
                const sl_str *v = &s->v.s[from + r];
                c->soff[nv] = (uint32_t)c->pool.n;
                c->slen[nv++] = v->len;
                if (v->len) memcpy(c->pool.p + c->pool.n, v->ptr, v->len);
                c->pool.n += v->len;
            }
            break;
        default: { /* every row's value is written, a NULL's overwritten by the next */
            const int64_t *src = (const int64_t *)s->v.p + from;
            for (uint32_t r = 0; r < n; r++) {
                c->iv[nv] = src[r];
                nv += def[r];
            }
        }
        }
        c->nvals = nv;
    }
    w->pending += n;
    return 0;
}

uint32_t sl_pq_pending_rows(const sl_pq_writer *w) { return w->pending; }
int64_t sl_pq_length(const sl_pq_writer *w) { return w->valid_length; }
int sl_pq_row_groups(const sl_pq_writer *w) { return w->nrg; }
int64_t sl_pq_rows(const sl_pq_writer *w) { return w->rows; }

static inline uint64_t hash_i64(uint64_t x) { return x * 0x9E3779B97F4A7C15ull; }
/* Dictionary keys are compared byte for byte after the hash matches, so the
 * hash only has to spread: short strings (the common case: codes, names,
 * file names) take two or four loads and a multiply instead of a call. */
static inline uint64_t hash_str(const uint8_t *p, uint32_t n) {
    uint64_t a = 0, b = 0;
    if (n > 32) return sl_hash_bytes(p, n, 0);
    if (n > 16) { /* file names, ids with a prefix: four loads */
        uint64_t c, d;
        memcpy(&a, p, 8), memcpy(&b, p + n - 8, 8);
        memcpy(&c, p + 8, 8), memcpy(&d, p + n - 16, 8);
        a ^= c * 0x94D049BB133111EBull;
        b ^= d * 0xBF58476D1CE4E5B9ull;
    } else if (n >= 8) {
        memcpy(&a, p, 8), memcpy(&b, p + n - 8, 8);
    } else if (n >= 4) {
        uint32_t x, y;
        memcpy(&x, p, 4), memcpy(&y, p + n - 4, 4);
        a = x, b = y;
    } else if (n > 0) {
        a = (uint64_t)p[0] | (uint64_t)p[n / 2] << 8 | (uint64_t)p[n - 1] << 16;
    }
    uint64_t h = (a ^ 0x9E3779B97F4A7C15ull) * 0xBF58476D1CE4E5B9ull;
    h ^= (b + n) * 0x94D049BB133111EBull;
    return h ^ (h >> 31);
}

/* a[0..n) == b[0..n) without a call: dictionary values are mostly short
 * (names, codes, file names), where memcmp's call was a tenth of the build. */
static inline bool bytes_eq(const uint8_t *a, const uint8_t *b, uint32_t n) {
    if (n >= 8) {
        uint64_t x, y;
        for (uint32_t i = 0; i + 8 < n; i += 8) {
            memcpy(&x, a + i, 8), memcpy(&y, b + i, 8);
            if (x != y) return false;
        }
        memcpy(&x, a + n - 8, 8), memcpy(&y, b + n - 8, 8);
        return x == y;
    }
    if (n >= 4) {
        uint32_t x, y, u, v;
        memcpy(&x, a, 4), memcpy(&y, b, 4), memcpy(&u, a + n - 4, 4), memcpy(&v, b + n - 4, 4);
        return x == y && u == v;
    }
    return n == 0 || (a[0] == b[0] && a[n / 2] == b[n / 2] && a[n - 1] == b[n - 1]);
}

/* Builds the chunk's dictionary: c->idx[k] for every value, c->ndict
 * entries. Returns false when there are more than `max` distinct values, or
 * as soon as the dictionary cannot beat `best` bytes: at every power of two
 * entries, the entries so far plus indices of that width are a lower bound. */
static size_t dict_slot(const pq_wcol *c, size_t k, size_t mask, int shift) {
    if (c->type == SL_T_STRING) return (size_t)hash_str(c->pool.p + c->soff[k], c->slen[k]) & mask;
    return (size_t)(hash_i64((uint64_t)c->iv[k]) >> shift) & mask;
}

/* The hash table starts at four times the column's previous dictionary (a
 * few hundred slots for a camera or location column, not twice the chunk's
 * rows: clearing 256 KiB per chunk was a fifth of the writer's time) and
 * doubles, reinserting the entries, whenever it becomes half full. */
static bool build_dict(pq_wcol *c, uint32_t max, size_t best) {
    size_t want = c->nvals < max ? c->nvals : max;
    size_t limit = 16;
    while (limit < want * 2)
        limit *= 2;
    size_t cap = 256;
    while (cap < (size_t)c->prev_ndict * 4 && cap < limit)
        cap *= 2;
    if (cap > limit) cap = limit;
    if (cap > c->ht_cap) {
        c->ht = sl_xreallocarray(c->ht, cap, sizeof *c->ht);
        c->ht_cap = cap;
    }
    if (c->nvals > c->ent_cap || c->ent_cap == 0) {
        size_t n = c->nvals > 16 ? c->nvals : 16;
        c->idx = sl_xreallocarray(c->idx, n, sizeof *c->idx);
        c->ent = sl_xreallocarray(c->ent, n, sizeof *c->ent);
        c->ent_cap = n;
    }
    memset(c->ht, 0, cap * sizeof *c->ht);
    size_t mask = cap - 1;
    int shift = 64 - bit_width(mask);
    uint32_t nd = 0;
    size_t dbytes = 0;
    bool ok = true;
    for (size_t k = 0; k < c->nvals && ok; k++) {
        size_t h = dict_slot(c, k, mask, shift);
        for (;;) {
            uint32_t e = c->ht[h];
            if (e == 0) {
                if (nd == max) {
                    ok = false;
                    break;
                }
                dbytes += c->type == SL_T_STRING ? 4 + (size_t)c->slen[k] : 8;
                if (nd >= 64 && (nd & (nd - 1)) == 0 &&
                    dbytes + c->nvals * (size_t)bit_width(nd - 1) / 8 >= best) {
                    ok = false;
                    break;
                }
                c->ent[nd] = (uint32_t)k;
                c->ht[h] = ++nd;
                c->idx[k] = nd - 1;
                if ((size_t)nd * 2 > cap && cap < limit) { /* grow: reinsert the entries */
                    cap *= 2;
                    if (cap > c->ht_cap) {
                        c->ht = sl_xreallocarray(c->ht, cap, sizeof *c->ht);
                        c->ht_cap = cap;
                    }
                    memset(c->ht, 0, cap * sizeof *c->ht);
                    mask = cap - 1;
                    shift = 64 - bit_width(mask);
                    for (uint32_t d = 0; d < nd; d++) {
                        size_t g = dict_slot(c, c->ent[d], mask, shift);
                        while (c->ht[g])
                            g = (g + 1) & mask;
                        c->ht[g] = d + 1;
                    }
                }
                break;
            }
            uint32_t f = c->ent[e - 1];
            if (c->type == SL_T_STRING
                    ? c->slen[f] == c->slen[k] &&
                          bytes_eq(c->pool.p + c->soff[f], c->pool.p + c->soff[k], c->slen[k])
                    : c->iv[f] == c->iv[k]) {
                c->idx[k] = e - 1;
                break;
            }
            h = (h + 1) & mask;
        }
    }
    c->prev_ndict = nd;
    if (!ok) return false;
    c->ndict = nd;
    return true;
}

/* PLAIN encoding of dense values [a, b). */
static void plain_encode(pbuf *o, const pq_wcol *c, size_t a, size_t b) {
    switch (c->type) {
    case SL_T_BOOL: {
        pb_reserve(o, (b - a + 7) / 8 + 8);
        bitw bw = {o, 0, 0};
        for (size_t k = a; k < b; k++)
            bw_put(&bw, c->bv[k], 1);
        bw_flush(&bw);
        break;
    }
    case SL_T_STRING:
        for (size_t k = a; k < b; k++) {
            pb_le32(o, c->slen[k]);
            pb_put(o, c->pool.p + c->soff[k], c->slen[k]);
        }
        break;
    default:
        pb_put(o, c->iv + a, (b - a) * 8); /* little-endian host */
    }
}

/* Compresses w->page and appends its PageHeader and the compressed bytes to
 * w->out; adds both to the chunk's sizes (the sizes include headers). */
static int emit_page(sl_pq_writer *w, int ptype, uint32_t nvals, int enc, bool zstd, int64_t *usize,
                     int64_t *csize, sl_error *err) {
    if (w->page.n > INT32_MAX) return sl_error_set(err, SL_EFULL, "%s: page over 2 GiB", w->path);
    size_t zn = w->page.n;
    const pbuf *body = &w->page;
    if (zstd) {
        size_t bound = ZSTD_compressBound(w->page.n);
        w->z.n = 0;
        pb_reserve(&w->z, bound);
        zn = ZSTD_compressCCtx(w->cctx, w->z.p, bound, w->page.p, w->page.n, w->opt.zstd_level);
        if (ZSTD_isError(zn))
            return sl_error_set(err, SL_EIO, "%s: zstd: %s", w->path, ZSTD_getErrorName(zn));
        body = &w->z;
    }
    size_t h0 = w->out.n;
    tenc e;
    te_init(&e, &w->out);
    te_i32(&e, 1, ptype);
    te_i32(&e, 2, (int32_t)w->page.n);
    te_i32(&e, 3, (int32_t)zn);
    if (ptype == PAGE_DICTIONARY) {
        te_struct(&e, 7);
        te_i32(&e, 1, (int32_t)nvals);
        te_i32(&e, 2, ENC_PLAIN);
        te_end(&e);
    } else {
        te_struct(&e, 5);
        te_i32(&e, 1, (int32_t)nvals);
        te_i32(&e, 2, enc);
        te_i32(&e, 3, ENC_RLE);
        te_i32(&e, 4, ENC_RLE);
        te_end(&e);
    }
    pb_u8(&w->out, TT_STOP);
    size_t hlen = w->out.n - h0;
    pb_put(&w->out, body->p, zn);
    *usize += (int64_t)(hlen + w->page.n);
    *csize += (int64_t)(hlen + zn);
    return 0;
}

typedef struct wstats {
    bool has;
    uint8_t min[8], max[8];
    const uint8_t *smin, *smax;
    uint32_t sminl, smaxl;
} wstats;

static int cmp_str(const uint8_t *a, uint32_t al, const uint8_t *b, uint32_t bl) {
    int c = memcmp(a, b, al < bl ? al : bl);
    return c ? c : (al > bl) - (al < bl);
}

static void chunk_stats(const pq_wcol *c, bool dict, wstats *st) {
    memset(st, 0, sizeof *st);
    if (c->nvals == 0) return;
    switch (c->type) {
    case SL_T_BOOL: {
        uint8_t mn = 1, mx = 0;
        for (size_t k = 0; k < c->nvals; k++)
            mn &= c->bv[k], mx |= c->bv[k];
        st->min[0] = mn, st->max[0] = mx;
        st->has = true;
        break;
    }
    case SL_T_DOUBLE: {
        double mn = INFINITY, mx = -INFINITY;
        bool any = false;
        for (size_t k = 0; k < c->nvals; k++) {
            double v;
            memcpy(&v, &c->iv[k], 8);
            if (isnan(v)) continue; /* NaN is left out of min/max (spec) */
            any = true;
            if (v < mn) mn = v;
            if (v > mx) mx = v;
        }
        if (!any) return;
        if (mn == 0) mn = -0.0; /* a zero bound is written as -0.0 / +0.0 */
        if (mx == 0) mx = 0.0;
        memcpy(st->min, &mn, 8), memcpy(st->max, &mx, 8);
        st->has = true;
        break;
    }
    case SL_T_STRING: {
        /* with a dictionary, its entries are the distinct values: scan those */
        size_t n = dict ? c->ndict : c->nvals, a = dict ? c->ent[0] : 0, b = a;
        for (size_t i = 1; i < n; i++) {
            size_t k = dict ? c->ent[i] : i;
            if (cmp_str(c->pool.p + c->soff[k], c->slen[k], c->pool.p + c->soff[a], c->slen[a]) < 0)
                a = k;
            if (cmp_str(c->pool.p + c->soff[k], c->slen[k], c->pool.p + c->soff[b], c->slen[b]) > 0)
                b = k;
        }
        /* long bounds would bloat every footer; the spec allows leaving them out */
        if (c->slen[a] > 64 || c->slen[b] > 64) return;
        st->smin = c->pool.p + c->soff[a], st->sminl = c->slen[a];
        st->smax = c->pool.p + c->soff[b], st->smaxl = c->slen[b];
        st->has = true;
        break;
    }
    default: {
        int64_t mn = INT64_MAX, mx = INT64_MIN;
        for (size_t k = 0; k < c->nvals; k++) {
            int64_t v = c->iv[k];
            mn = v < mn ? v : mn;
            mx = v > mx ? v : mx;
        }
        memcpy(st->min, &mn, 8), memcpy(st->max, &mx, 8);
        st->has = true;
    }
    }
}

/* Encodes column i's pending values as one column chunk into w->out and its
 * ColumnChunk struct into e. */
#define Z_MIN_GAIN_PCT 10
#define Z_SKIP 16

static int write_chunk(sl_pq_writer *w, int i, tenc *e, int64_t *rg_bytes, sl_error *err) {
    pq_wcol *c = &w->col[i];
    uint32_t rows = w->pending;
    int64_t start = w->length + (int64_t)w->out.n;
    /* encoding choice, by estimated size */
    size_t plain = 0;
    if (c->type == SL_T_BOOL) {
        plain = (c->nvals + 7) / 8;
    } else if (c->type == SL_T_STRING) {
        plain = c->pool.n + 4 * c->nvals;
    } else {
        plain = 8 * c->nvals;
    }
    int enc = ENC_PLAIN;
    size_t best = plain;
    /* a chunk of one page (rows <= page_rows, the lake's case) has its delta
     * encoding made for real while estimating, and kept if chosen */
    bool one_page = rows <= w->opt.page_rows;
    w->delta.n = 0;
    if (c->type == SL_T_INT || c->type == SL_T_TS) {
        size_t d = delta_encode(one_page ? &w->delta : NULL, c->iv, c->nvals);
        if (d < best) enc = ENC_DELTA_BINARY_PACKED, best = d;
    }
    if (c->type == SL_T_BOOL && c->nvals) {
        w->page.n = 0;
        hybrid_encode(&w->page, c->bv, NULL, c->nvals, 1);
        if (w->page.n + 4 < best) enc = ENC_RLE, best = w->page.n + 4;
    }
    int dict_bw = 0;
    if (c->type != SL_T_BOOL && c->nvals && build_dict(c, w->opt.dictionary_max, best)) {
        dict_bw = bit_width(c->ndict - 1);
        if (dict_bw == 0) dict_bw = 1;
        size_t dsize = 0;
        if (c->type == SL_T_STRING) {
            for (uint32_t k = 0; k < c->ndict; k++)
                dsize += 4 + c->slen[c->ent[k]];
        } else {
            dsize = 8 * (size_t)c->ndict;
        }
        dsize += (c->nvals * (size_t)dict_bw + 7) / 8 + 8 * (rows / w->opt.page_rows + 1);
        if (dsize < best) enc = ENC_RLE_DICTIONARY, best = dsize;
    }
    /* zstd, unless it did not pay on this column: dictionary indexes and
     * delta-packed integers are often at their entropy already (camera ids,
     * jittered timestamps: under 2% smaller), and compressing them is a third
     * of the writer's time. A chunk that shrank by less than Z_MIN_GAIN makes
     * the next Z_SKIP chunks of the column go uncompressed (the codec is per
     * chunk), then zstd is tried again. */
    bool zstd = c->z_skip == 0;
    if (!zstd) c->z_skip--;
    int64_t usize = 0, csize = 0, dict_off = -1;
    if (enc == ENC_RLE_DICTIONARY) {
        dict_off = start;
        w->page.n = 0;
        for (uint32_t k = 0; k < c->ndict; k++)
            plain_encode(&w->page, c, c->ent[k], c->ent[k] + 1);
        if (emit_page(w, PAGE_DICTIONARY, c->ndict, ENC_PLAIN, zstd, &usize, &csize, err))
            return -1;
    }
    int64_t data_off = w->length + (int64_t)w->out.n;
    size_t v0 = 0;
    for (uint32_t r0 = 0; r0 < rows; r0 += w->opt.page_rows) {
        uint32_t r1 = rows - r0 < w->opt.page_rows ? rows : r0 + w->opt.page_rows;
        size_t nv = 0;
        if (c->nvals == rows) { /* no NULL in the chunk */
            nv = r1 - r0;
        } else {
            for (uint32_t r = r0; r < r1; r++)
                nv += c->def[r];
        }
        w->page.n = 0;
        pb_le32(&w->page, 0);
        if (nv == r1 - r0 && nv >= 8) { /* all defined: one RLE run of 1, as hybrid_encode makes */
            pb_varint(&w->page, (uint64_t)nv << 1);
            pb_u8(&w->page, 1);
        } else {
            hybrid_encode(&w->page, c->def + r0, NULL, r1 - r0, 1);
        }
        put_le32(w->page.p, (uint32_t)(w->page.n - 4));
        switch (enc) {
        case ENC_RLE_DICTIONARY:
            pb_u8(&w->page, (uint8_t)dict_bw);
            hybrid_encode(&w->page, NULL, c->idx + v0, nv, dict_bw);
            break;
        case ENC_DELTA_BINARY_PACKED:
            if (one_page)
                pb_put(&w->page, w->delta.p, w->delta.n);
            else
                delta_encode(&w->page, c->iv + v0, nv);
            break;
        case ENC_RLE: {
            size_t at = w->page.n;
            pb_le32(&w->page, 0);
            hybrid_encode(&w->page, c->bv + v0, NULL, nv, 1);
            put_le32(w->page.p + at, (uint32_t)(w->page.n - at - 4));
            break;
        }
        default:
            plain_encode(&w->page, c, v0, v0 + nv);
        }
        if (emit_page(w, PAGE_DATA, r1 - r0, enc, zstd, &usize, &csize, err)) return -1;
        v0 += nv;
    }
    *rg_bytes += usize;
    if (zstd && csize * 100 > usize * (100 - Z_MIN_GAIN_PCT)) c->z_skip = Z_SKIP;
    wstats st;
    chunk_stats(c, enc == ENC_RLE_DICTIONARY, &st);
    /* ColumnChunk */
    te_push(e);
    te_i64(e, 2, start);
    te_struct(e, 3);
    te_i32(e, 1, ptype_of(c->type));
    bool dict = enc == ENC_RLE_DICTIONARY;
    /* the definition levels are RLE; the dictionary page is PLAIN */
    te_list(e, 2, TT_I32, 1u + (enc != ENC_RLE) + dict);
    if (dict) pb_varint(e->b, zz64(ENC_PLAIN));
    pb_varint(e->b, zz64(ENC_RLE));
    if (enc != ENC_RLE) pb_varint(e->b, zz64(enc));
    te_list(e, 3, TT_BINARY, 1);
    size_t nl = strlen(w->schema.f[i].name);
    pb_varint(e->b, nl);
    pb_put(e->b, w->schema.f[i].name, nl);
    te_i32(e, 4, zstd ? CODEC_ZSTD : CODEC_UNCOMPRESSED);
    te_i64(e, 5, rows);
    te_i64(e, 6, usize);
    te_i64(e, 7, csize);
    te_i64(e, 9, data_off);
    if (dict) te_i64(e, 11, dict_off);
    te_struct(e, 12);
    te_i64(e, 3, (int64_t)(rows - c->nvals));
    if (st.has) {
        if (c->type == SL_T_STRING) {
            te_bin(e, 5, st.smax, st.smaxl);
            te_bin(e, 6, st.smin, st.sminl);
        } else {
            size_t sz = c->type == SL_T_BOOL ? 1 : 8;
            te_bin(e, 5, st.max, sz);
            te_bin(e, 6, st.min, sz);
        }
    }
    te_end(e); /* Statistics */
    te_end(e); /* ColumnMetaData */
    te_end(e); /* ColumnChunk */
    return 0;
}

static void write_schema_elem(tenc *e, const sl_field *f) {
    te_push(e);
    te_i32(e, 1, ptype_of(f->type));
    te_i32(e, 3, REP_OPTIONAL);
    te_bin(e, 4, f->name, strlen(f->name));
    if (f->type == SL_T_STRING) te_i32(e, 6, CT_UTF8);
    if (f->type == SL_T_TS) te_i32(e, 6, CT_TIMESTAMP_MICROS);
    if (f->type == SL_T_STRING) { /* LogicalType.STRING */
        te_struct(e, 10);
        te_struct(e, 1);
        te_end(e);
        te_end(e);
    } else if (f->type == SL_T_TS) { /* LogicalType.TIMESTAMP(true, MICROS) */
        te_struct(e, 10);
        te_struct(e, 8);
        te_bool(e, 1, true);
        te_struct(e, 2);
        te_struct(e, 2);
        te_end(e);
        te_end(e);
        te_end(e);
        te_end(e);
    }
    te_end(e);
}

static void write_footer(sl_pq_writer *w, int64_t num_rows) {
    size_t f0 = w->out.n;
    tenc e;
    te_init(&e, &w->out);
    te_i32(&e, 1, 1);
    te_list(&e, 2, TT_STRUCT, (uint32_t)w->schema.n + 1);
    te_push(&e);
    te_bin(&e, 4, "schema", 6);
    te_i32(&e, 5, w->schema.n);
    te_end(&e);
    for (int i = 0; i < w->schema.n; i++)
        write_schema_elem(&e, &w->schema.f[i]);
    te_i64(&e, 3, num_rows);
    te_list(&e, 4, TT_STRUCT, (uint32_t)w->nrg);
    pb_put(&w->out, w->rgs.p, w->rgs.n);
    te_bin(&e, 6, w->created_by, strlen(w->created_by));
    te_list(&e, 7, TT_STRUCT, (uint32_t)w->schema.n); /* ColumnOrder: TYPE_ORDER */
    for (int i = 0; i < w->schema.n; i++) {
        te_push(&e);
        te_struct(&e, 1);
        te_end(&e);
        te_end(&e);
    }
    pb_u8(&w->out, TT_STOP);
    pb_le32(&w->out, (uint32_t)(w->out.n - f0));
    pb_put(&w->out, "PAR1", 4);
}

/* Writes the pending rows as a row group: its column chunks go to the file
 * after the last thing written, its metadata to w->rgs for the next footer.
 * No footer, no fsync: until sl_pq_flush writes one, the new bytes are past
 * the valid length and a reader or a recovery never sees them. */
int sl_pq_write_row_group(sl_pq_writer *w, sl_error *err) {
    if (w->failed) return sl_error_set(err, SL_EIO, "%s: writer failed earlier", w->path);
    if (w->pending == 0) return 0;
    w->out.n = 0;
    w->rg.n = 0;
    tenc e;
    te_init(&e, &w->rg);
    te_list(&e, 1, TT_STRUCT, (uint32_t)w->schema.n);
    int64_t rg_bytes = 0, rg_start = w->length;
    for (int i = 0; i < w->schema.n; i++)
        if (write_chunk(w, i, &e, &rg_bytes, err)) {
            w->failed = true;
            return err ? err->code : SL_EIO;
        }
    te_i64(&e, 2, rg_bytes);
    te_i64(&e, 3, w->pending);
    te_i64(&e, 5, rg_start);
    te_i64(&e, 6, (int64_t)w->out.n);
    pb_u8(&w->rg, TT_STOP);
    int rc = write_all(w, w->out.p, w->out.n, w->length, err);
    if (rc) {
        w->failed = true;
        return rc;
    }
    pb_put(&w->rgs, w->rg.p, w->rg.n);
    w->nrg++;
    w->length += (int64_t)w->out.n;
    w->rows += w->pending;
    w->pending = 0;
    w->footer_due = true;
    for (int i = 0; i < w->schema.n; i++) {
        w->col[i].nvals = 0;
        w->col[i].pool.n = 0;
    }
    return 0;
}

int sl_pq_flush(sl_pq_writer *w, sl_error *err) {
    if (w->failed) return sl_error_set(err, SL_EIO, "%s: writer failed earlier", w->path);
    int rc = sl_pq_write_row_group(w, err);
    if (rc) return rc;
    if (!w->footer_due) return 0;
    w->out.n = 0;
    write_footer(w, w->rows);
    rc = write_all(w, w->out.p, w->out.n, w->length, err);
    if (rc == 0 && fsync(w->fd) != 0)
        rc = sl_error_set(err, errno == ENOSPC ? SL_EFULL : SL_EIO, "%s: fsync: %s", w->path,
                          strerror(errno));
    if (rc) {
        w->failed = true;
        return rc;
    }
    w->length += (int64_t)w->out.n;
    w->valid_length = w->length;
    w->footer_due = false;
    return 0;
}

void sl_pq_close(sl_pq_writer *w) {
    if (!w) return;
    if (w->fd >= 0) close(w->fd);
    for (int i = 0; i < w->schema.n; i++) {
        pq_wcol *c = &w->col[i];
        free(c->def), free(c->iv), free(c->bv), free(c->soff), free(c->slen);
        free(c->idx), free(c->ent), free(c->ht);
        pb_free(&c->pool);
    }
    pb_free(&w->rgs), pb_free(&w->out), pb_free(&w->page), pb_free(&w->z), pb_free(&w->rg);
    pb_free(&w->delta);
    ZSTD_freeCCtx(w->cctx);
    free(w->path);
    free(w->created_by);
    free(w);
}

/* ---- reader ---- */

typedef struct pq_leaf {
    int ptype, type_len, rep, ts; /* ts: TS_* unit of an INT64 timestamp */
} pq_leaf;

typedef struct pq_chunk {
    int ptype, codec;
    int64_t num_values, data_off, dict_off, csize;
    bool has_stats;
    int64_t null_count;
    const uint8_t *min, *max; /* min_value/max_value (or the deprecated min/max) */
    uint32_t minl, maxl;
    bool has_min, has_max;
    uint32_t encodings; /* 1 << Encoding, from ColumnMetaData.encodings */
} pq_chunk;

typedef struct pq_slot {
    uint8_t *null;
    void *vals;     /* int64 / double / uint8 / sl_str per row */
    uint64_t *soff; /* strings: offset into pool, per row */
    uint32_t *slen;
    size_t cap;
    pbuf pool;
} pq_slot;

struct sl_pq_reader {
    char name[256];
    const uint8_t *data;
    size_t len;
    void *map;
    size_t maplen;
    sl_schema schema;
    pq_leaf leaf[SL_MAX_COLUMNS];
    int nrg;
    int64_t *rg_rows;
    size_t *rg_raw_off, *rg_raw_len; /* each RowGroup struct's bytes (for sl_pq_reopen) */
    pq_chunk *chunk;                 /* nrg * schema.n */
    int64_t max_rows;
    pq_slot *slot; /* SL_MAX_COLUMNS, allocated on first read */
    ZSTD_DCtx *dctx;
    pbuf zbuf;
    uint32_t *u32;
    int64_t *i64;
    size_t scap;
    /* the dictionary of the chunk being read */
    int64_t *dict_i;
    uint64_t *dict_soff;
    uint32_t *dict_slen;
    size_t dict_cap;
    uint32_t ndict;
};

static int corrupt(const sl_pq_reader *r, sl_error *err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int corrupt(const sl_pq_reader *r, sl_error *err, const char *fmt, ...) {
    char what[SL_ERROR_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    return sl_error_set(err, SL_ECORRUPT, "%s: bad parquet file: %s", r->name, what);
}

typedef struct pq_elem {
    int ptype, type_len, rep, conv, nchild, ts;
    const uint8_t *name;
    uint32_t namelen;
} pq_elem;

static void parse_logical(tdec *d, pq_elem *el) {
    int16_t last = 0, id;
    int t;
    while (td_field(d, &last, &t, &id)) {
        if (id != 8 || !td_enter(d, t)) { /* TIMESTAMP */
            if (id != 8) td_skip(d, t, false);
            continue;
        }
        int16_t l2 = 0, id2;
        int t2;
        while (td_field(d, &l2, &t2, &id2)) {
            if (id2 == 2 && td_enter(d, t2)) { /* TimeUnit union */
                int16_t l3 = 0, id3;
                int t3;
                while (td_field(d, &l3, &t3, &id3)) {
                    if (id3 >= 1 && id3 <= 3)
                        el->ts = id3 == 1 ? TS_MILLIS : id3 == 2 ? TS_MICROS : TS_NANOS;
                    td_skip(d, t3, false);
                }
                td_leave(d);
            } else if (id2 != 2) {
                td_skip(d, t2, false);
            }
        }
        td_leave(d);
    }
}

static void parse_elem(tdec *d, pq_elem *el) {
    memset(el, 0, sizeof *el);
    el->ptype = el->rep = el->conv = el->nchild = -1;
    int16_t last = 0, id;
    int t;
    while (td_field(d, &last, &t, &id)) {
        switch (id) {
        case 1:
            el->ptype = td_i32v(d, t, -1);
            break;
        case 2:
            el->type_len = td_i32v(d, t, 0);
            break;
        case 3:
            el->rep = td_i32v(d, t, -1);
            break;
        case 4:
            td_bin(d, t, &el->name, &el->namelen);
            break;
        case 5:
            el->nchild = td_i32v(d, t, -1);
            break;
        case 6:
            el->conv = td_i32v(d, t, -1);
            break;
        case 10:
            if (td_enter(d, t)) {
                parse_logical(d, el);
                td_leave(d);
            }
            break;
        default:
            td_skip(d, t, false);
        }
    }
}

static int parse_schema(sl_pq_reader *r, tdec *d, sl_error *err) {
    int et;
    uint32_t n = td_list(d, &et);
    if (d->bad || et != TT_STRUCT || n < 2) return corrupt(r, err, "schema has no columns");
    if (n > SL_MAX_COLUMNS + 1)
        return corrupt(r, err, "%u columns (at most %d are supported)", n - 1, SL_MAX_COLUMNS);
    sl_schema_init(&r->schema);
    for (uint32_t i = 0; i < n; i++) {
        pq_elem el;
        if (++d->depth > PQ_MAX_DEPTH) td_fail(d);
        parse_elem(d, &el);
        d->depth--;
        if (d->bad) return corrupt(r, err, "schema element %u is not valid", i);
        if (i == 0) {
            if (el.nchild != (int)n - 1)
                return corrupt(r, err,
                               "nested schemas are not supported (root has %d children of %u)",
                               el.nchild, n - 1);
            continue;
        }
        if (el.nchild > 0 || el.ptype < 0)
            return corrupt(r, err, "nested schemas are not supported (element %u is a group)", i);
        if (el.rep == REP_REPEATED)
            return corrupt(r, err, "repeated column %u is not supported", i);
        if (el.namelen == 0 || el.namelen >= SL_NAME_MAX || memchr(el.name, 0, el.namelen))
            return corrupt(r, err, "column %u has no usable name", i);
        char name[SL_NAME_MAX];
        memcpy(name, el.name, el.namelen);
        name[el.namelen] = 0;
        sl_type st;
        int ts = TS_NONE;
        switch (el.ptype) {
        case PT_BOOLEAN:
            st = SL_T_BOOL;
            break;
        case PT_INT32:
            st = SL_T_INT;
            break;
        case PT_INT64:
            ts = el.ts                            ? el.ts
                 : el.conv == CT_TIMESTAMP_MILLIS ? TS_MILLIS
                 : el.conv == CT_TIMESTAMP_MICROS ? TS_MICROS
                                                  : TS_NONE;
            st = ts ? SL_T_TS : SL_T_INT;
            break;
        case PT_INT96:
            st = SL_T_TS;
            break;
        case PT_FLOAT:
        case PT_DOUBLE:
            st = SL_T_DOUBLE;
            break;
        case PT_BYTE_ARRAY:
            st = SL_T_STRING;
            break;
        case PT_FLBA:
            if (el.type_len < 0) return corrupt(r, err, "column '%s' has a negative length", name);
            st = SL_T_STRING;
            break;
        default:
            return corrupt(r, err, "column '%s' has unknown type %d", name, el.ptype);
        }
        if (sl_schema_add(&r->schema, name, st) < 0)
            return corrupt(r, err, "column name '%s' appears twice", name);
        pq_leaf *lf = &r->leaf[i - 1];
        lf->ptype = el.ptype;
        lf->type_len = el.type_len;
        lf->rep = el.rep < 0 ? REP_REQUIRED : el.rep;
        lf->ts = ts;
    }
    return 0;
}

static void parse_stats(tdec *d, pq_chunk *c) {
    c->has_stats = true;
    int16_t last = 0, id;
    int t;
    const uint8_t *p;
    uint32_t n;
    bool newmin = false, newmax = false;
    while (td_field(d, &last, &t, &id)) {
        switch (id) {
        case 1: /* deprecated max: kept unless max_value is present */
            if (td_bin(d, t, &p, &n) && !newmax) c->max = p, c->maxl = n, c->has_max = true;
            break;
        case 2:
            if (td_bin(d, t, &p, &n) && !newmin) c->min = p, c->minl = n, c->has_min = true;
            break;
        case 3: {
            int64_t v;
            if (td_int(d, t, &v) && v >= 0) c->null_count = v;
            break;
        }
        case 5:
            if (td_bin(d, t, &p, &n)) c->max = p, c->maxl = n, c->has_max = newmax = true;
            break;
        case 6:
            if (td_bin(d, t, &p, &n)) c->min = p, c->minl = n, c->has_min = newmin = true;
            break;
        default:
            td_skip(d, t, false);
        }
    }
    /* the deprecated fields used signed byte order for strings: trust only new ones */
    if (c->ptype == PT_BYTE_ARRAY || c->ptype == PT_FLBA) {
        if (!newmin) c->has_min = false;
        if (!newmax) c->has_max = false;
    }
}

static int parse_colmeta(sl_pq_reader *r, tdec *d, pq_chunk *c, sl_error *err) {
    int16_t last = 0, id;
    int t;
    c->ptype = c->codec = -1;
    c->num_values = c->data_off = c->csize = -1;
    c->dict_off = 0;
    c->null_count = -1;
    while (td_field(d, &last, &t, &id)) {
        int64_t v = 0;
        switch (id) {
        case 1:
            c->ptype = td_i32v(d, t, -1);
            break;
        case 2: {
            int et;
            if (t != TT_LIST) {
                td_skip(d, t, false);
                break;
            }
            uint32_t n = td_list(d, &et);
            for (uint32_t k = 0; k < n && !d->bad; k++) {
                if (et != TT_I32) {
                    td_skip(d, et, true);
                    continue;
                }
                int64_t e = unzz64(td_varint(d));
                if (e >= 0 && e < 32) c->encodings |= 1u << e;
            }
            break;
        }
        case 4:
            c->codec = td_i32v(d, t, -1);
            break;
        case 5:
            if (td_int(d, t, &v)) c->num_values = v;
            break;
        case 7:
            if (td_int(d, t, &v)) c->csize = v;
            break;
        case 9:
            if (td_int(d, t, &v)) c->data_off = v;
            break;
        case 11:
            if (td_int(d, t, &v)) c->dict_off = v;
            break;
        case 12:
            if (td_enter(d, t)) {
                parse_stats(d, c);
                td_leave(d);
            }
            break;
        default:
            td_skip(d, t, false);
        }
    }
    if (d->bad) return corrupt(r, err, "column metadata is not valid");
    if (c->ptype < 0 || c->codec < 0 || c->num_values < 0 || c->data_off < 0 || c->csize < 0)
        return corrupt(r, err, "column metadata lacks a required field");
    return 0;
}

static int parse_rowgroup(sl_pq_reader *r, tdec *d, int rg, sl_error *err) {
    int16_t last = 0, id;
    int t, ncol = r->schema.n;
    bool have_cols = false;
    r->rg_rows[rg] = -1;
    while (td_field(d, &last, &t, &id)) {
        if (id == 3) {
            int64_t v;
            if (td_int(d, t, &v)) r->rg_rows[rg] = v;
            continue;
        }
        if (id != 1 || t != TT_LIST) {
            td_skip(d, t, false);
            continue;
        }
        int et;
        uint32_t n = td_list(d, &et);
        if (d->bad || et != TT_STRUCT || (int)n != ncol)
            return corrupt(r, err, "row group %d has %u column chunks for %d columns", rg, n, ncol);
        for (int c = 0; c < ncol; c++) {
            pq_chunk *ch = &r->chunk[(size_t)rg * (size_t)ncol + (size_t)c];
            memset(ch, 0, sizeof *ch);
            bool meta = false;
            if (++d->depth > PQ_MAX_DEPTH) td_fail(d);
            int16_t l2 = 0, id2;
            int t2;
            while (td_field(d, &l2, &t2, &id2)) {
                if (id2 == 1)
                    return corrupt(r, err, "column chunks in other files are not supported");
                if (id2 == 3 && td_enter(d, t2)) {
                    if (parse_colmeta(r, d, ch, err)) return -1;
                    td_leave(d);
                    meta = true;
                } else if (id2 != 3) {
                    td_skip(d, t2, false);
                }
            }
            d->depth--;
            if (d->bad || !meta)
                return corrupt(r, err, "row group %d column %d has no metadata", rg, c);
            if (ch->ptype != r->leaf[c].ptype)
                return corrupt(r, err, "row group %d column '%s': chunk type %d, schema type %d",
                               rg, r->schema.f[c].name, ch->ptype, r->leaf[c].ptype);
        }
        have_cols = true;
    }
    if (d->bad || !have_cols || r->rg_rows[rg] < 0)
        return corrupt(r, err, "row group %d is not valid", rg);
    return 0;
}

static int parse_footer(sl_pq_reader *r, sl_error *err) {
    if (r->len < 12) return corrupt(r, err, "%zu bytes is too short", r->len);
    if (memcmp(r->data, "PAR1", 4) || memcmp(r->data + r->len - 4, "PAR1", 4))
        return corrupt(r, err, "no PAR1 magic at %s", memcmp(r->data, "PAR1", 4) ? "start" : "end");
    uint32_t flen = get_le32(r->data + r->len - 8);
    if (flen > r->len - 12) return corrupt(r, err, "footer length %u exceeds the file", flen);
    const uint8_t *f = r->data + r->len - 8 - flen;
    tdec d = {f, f + flen, 0, false};
    int16_t last = 0, id;
    int t;
    bool have_schema = false;
    const uint8_t *rgs = NULL;
    while (td_field(&d, &last, &t, &id)) {
        if (id == 2 && t == TT_LIST) {
            if (parse_schema(r, &d, err)) return -1;
            have_schema = true;
        } else if (id == 4 && t == TT_LIST) {
            rgs = d.p; /* parsed once the schema is known */
            td_skip(&d, t, false);
        } else {
            td_skip(&d, t, false);
        }
    }
    if (d.bad) return corrupt(r, err, "footer is not valid Thrift");
    if (!have_schema || !rgs) return corrupt(r, err, "footer lacks the schema or the row groups");
    d.p = rgs;
    int et;
    uint32_t n = td_list(&d, &et);
    if (d.bad || (n && et != TT_STRUCT)) return corrupt(r, err, "row group list is not valid");
    if (n > INT32_MAX / 2) return corrupt(r, err, "too many row groups");
    size_t cap = 0;
    for (uint32_t g = 0; g < n; g++) {
        if (g == cap) { /* grows with what is parsed, not with the claimed count */
            cap = cap ? cap * 2 : 4;
            r->rg_rows = sl_xreallocarray(r->rg_rows, cap, sizeof *r->rg_rows);
            r->rg_raw_off = sl_xreallocarray(r->rg_raw_off, cap, sizeof *r->rg_raw_off);
            r->rg_raw_len = sl_xreallocarray(r->rg_raw_len, cap, sizeof *r->rg_raw_len);
            r->chunk = sl_xreallocarray(r->chunk, cap * (size_t)r->schema.n, sizeof *r->chunk);
        }
        const uint8_t *s = d.p;
        if (++d.depth > PQ_MAX_DEPTH) td_fail(&d);
        if (parse_rowgroup(r, &d, (int)g, err)) return -1;
        d.depth--;
        r->rg_raw_off[g] = (size_t)(s - r->data);
        r->rg_raw_len[g] = (size_t)(d.p - s);
        r->nrg = (int)g + 1;
    }
    return 0;
}

static sl_pq_reader *reader_new(const char *name) {
    sl_pq_reader *r = sl_xcalloc(1, sizeof *r);
    snprintf(r->name, sizeof r->name, "%s", name);
    r->max_rows = INT32_MAX;
    return r;
}

sl_pq_reader *sl_pq_open_mem(const uint8_t *data, size_t len, sl_error *err) {
    sl_pq_reader *r = reader_new("<memory>");
    r->data = data;
    r->len = len;
    if (parse_footer(r, err)) {
        sl_pq_close_reader(r);
        return NULL;
    }
    return r;
}

sl_pq_reader *sl_pq_open(const char *path, int64_t length, sl_error *err) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        sl_error_set(err, errno == ENOENT ? SL_ENOTFOUND : SL_EIO, "%s: open: %s", path,
                     strerror(errno));
        return NULL;
    }
    struct stat st;
    if (fstat(fd, &st) != 0) {
        sl_error_set(err, SL_EIO, "%s: stat: %s", path, strerror(errno));
        close(fd);
        return NULL;
    }
    sl_pq_reader *r = reader_new(path);
    if (length < 0) length = st.st_size;
    if (length > st.st_size) {
        corrupt(r, err, "file has %lld bytes, fewer than the committed %lld", (long long)st.st_size,
                (long long)length);
        close(fd);
        sl_pq_close_reader(r);
        return NULL;
    }
    if (length >= 12) {
        void *m = mmap(NULL, (size_t)length, PROT_READ, MAP_PRIVATE, fd, 0);
        if (m == MAP_FAILED) {
            sl_error_set(err, SL_EIO, "%s: mmap: %s", path, strerror(errno));
            close(fd);
            sl_pq_close_reader(r);
            return NULL;
        }
        r->map = m;
        r->maplen = (size_t)length;
        r->data = m;
    }
    close(fd);
    r->len = (size_t)length;
    if (parse_footer(r, err)) {
        sl_pq_close_reader(r);
        return NULL;
    }
    return r;
}

void sl_pq_close_reader(sl_pq_reader *r) {
    if (!r) return;
    if (r->map) munmap(r->map, r->maplen);
    if (r->slot)
        for (int i = 0; i < SL_MAX_COLUMNS; i++) {
            pq_slot *s = &r->slot[i];
            free(s->null), free(s->vals), free(s->soff), free(s->slen);
            pb_free(&s->pool);
        }
    free(r->slot);
    free(r->rg_rows), free(r->rg_raw_off), free(r->rg_raw_len), free(r->chunk);
    if (r->dctx) ZSTD_freeDCtx(r->dctx);
    pb_free(&r->zbuf);
    free(r->u32), free(r->i64);
    free(r->dict_i), free(r->dict_soff), free(r->dict_slen);
    free(r);
}

void sl_pq_set_max_rows(sl_pq_reader *r, int64_t max_rows) {
    r->max_rows = max_rows > 0 && max_rows < INT32_MAX ? max_rows : INT32_MAX;
}
const sl_schema *sl_pq_schema(const sl_pq_reader *r) { return &r->schema; }
int sl_pq_num_row_groups(const sl_pq_reader *r) { return r->nrg; }
int64_t sl_pq_row_group_rows(const sl_pq_reader *r, int rg) {
    return rg >= 0 && rg < r->nrg ? r->rg_rows[rg] : -1;
}

static int64_t ts_to_micros(int64_t v, int unit) {
    if (unit == TS_MILLIS) return (int64_t)((uint64_t)v * 1000u); /* wraps, never traps */
    if (unit == TS_NANOS) return v / 1000 - (v % 1000 < 0);
    return v;
}
static int64_t int96_to_micros(const uint8_t *p) {
    uint64_t nanos = get_le64(p);
    int64_t days = (int64_t)get_le32(p + 8) - 2440588; /* Julian day of 1970-01-01 */
    return (int64_t)((uint64_t)days * 86400000000ull + (uint64_t)((int64_t)nanos / 1000));
}

/* A number from statistics bytes in the column's representation. */
static bool stat_num(const pq_leaf *lf, const uint8_t *p, uint32_t n, int64_t *i, double *d) {
    switch (lf->ptype) {
    case PT_INT32:
        if (n != 4) return false;
        *i = (int32_t)get_le32(p);
        return true;
    case PT_INT64:
        if (n != 8) return false;
        *i = ts_to_micros((int64_t)get_le64(p), lf->ts);
        return true;
    case PT_FLOAT: {
        if (n != 4) return false;
        uint32_t b = get_le32(p);
        float f;
        memcpy(&f, &b, 4);
        *d = f;
        return true;
    }
    case PT_DOUBLE: {
        if (n != 8) return false;
        uint64_t b = get_le64(p);
        memcpy(d, &b, 8);
        return true;
    }
    case PT_BOOLEAN:
        if (n != 1) return false;
        *i = p[0] != 0;
        return true;
    default:
        return false;
    }
}

int sl_pq_chunk_stats(const sl_pq_reader *r, int rg, int col, sl_pq_stats *st) {
    if (rg < 0 || rg >= r->nrg || col < 0 || col >= r->schema.n) return -1;
    const pq_chunk *c = &r->chunk[(size_t)rg * (size_t)r->schema.n + (size_t)col];
    const pq_leaf *lf = &r->leaf[col];
    if (!c->has_stats) return -1;
    memset(st, 0, sizeof *st);
    st->null_count = c->null_count;
    if (!c->has_min || !c->has_max) return 0;
    sl_type t = r->schema.f[col].type;
    if (t == SL_T_STRING) {
        st->min.s = (sl_str){(const char *)c->min, c->minl};
        st->max.s = (sl_str){(const char *)c->max, c->maxl};
        st->has_min_max = true;
        return 0;
    }
    int64_t imin = 0, imax = 0;
    double dmin = 0, dmax = 0;
    if (!stat_num(lf, c->min, c->minl, &imin, &dmin) ||
        !stat_num(lf, c->max, c->maxl, &imax, &dmax))
        return 0;
    if (t == SL_T_DOUBLE) {
        if (isnan(dmin) || isnan(dmax)) return 0;
        st->min.d = dmin, st->max.d = dmax;
    } else if (t == SL_T_BOOL) {
        st->min.b = imin != 0, st->max.b = imax != 0;
    } else {
        st->min.i = imin, st->max.i = imax;
    }
    st->has_min_max = true;
    return 0;
}

uint32_t sl_pq_chunk_encodings(const sl_pq_reader *r, int rg, int col) {
    if (rg < 0 || rg >= r->nrg || col < 0 || col >= r->schema.n) return 0;
    return r->chunk[(size_t)rg * (size_t)r->schema.n + (size_t)col].encodings;
}

/* Where decoded values go: dense, starting at index `at`. */
typedef struct vtarget {
    int64_t *iv; /* INT/TS as int64, DOUBLE as its bits */
    uint8_t *bv;
    uint64_t *soff;
    uint32_t *slen;
    pbuf *pool;
} vtarget;

static void to_double_bits(double v, int64_t *out) { memcpy(out, &v, 8); }

/* PLAIN values. Returns the bytes consumed or -1. */
static int64_t decode_plain(const pq_leaf *lf, const uint8_t *p, const uint8_t *e, size_t n,
                            const vtarget *t, size_t at) {
    size_t avail = (size_t)(e - p);
    switch (lf->ptype) {
    case PT_BOOLEAN:
        if ((n + 7) / 8 > avail) return -1;
        for (size_t k = 0; k < n; k++)
            t->bv[at + k] = (p[k >> 3] >> (k & 7)) & 1;
        return (int64_t)((n + 7) / 8);
    case PT_INT32:
        if (n * 4 > avail) return -1;
        for (size_t k = 0; k < n; k++)
            t->iv[at + k] = (int32_t)get_le32(p + 4 * k);
        return (int64_t)(n * 4);
    case PT_INT64:
        if (n * 8 > avail) return -1;
        memcpy(t->iv + at, p, n * 8);
        if (lf->ts != TS_NONE && lf->ts != TS_MICROS)
            for (size_t k = 0; k < n; k++)
                t->iv[at + k] = ts_to_micros(t->iv[at + k], lf->ts);
        return (int64_t)(n * 8);
    case PT_INT96:
        if (n * 12 > avail) return -1;
        for (size_t k = 0; k < n; k++)
            t->iv[at + k] = int96_to_micros(p + 12 * k);
        return (int64_t)(n * 12);
    case PT_FLOAT:
        if (n * 4 > avail) return -1;
        for (size_t k = 0; k < n; k++) {
            uint32_t b = get_le32(p + 4 * k);
            float f;
            memcpy(&f, &b, 4);
            to_double_bits(f, &t->iv[at + k]);
        }
        return (int64_t)(n * 4);
    case PT_DOUBLE:
        if (n * 8 > avail) return -1;
        memcpy(t->iv + at, p, n * 8);
        return (int64_t)(n * 8);
    case PT_BYTE_ARRAY: {
        const uint8_t *s = p;
        for (size_t k = 0; k < n; k++) {
            if (e - p < 4) return -1;
            uint32_t len = get_le32(p);
            p += 4;
            if (len > (size_t)(e - p)) return -1;
            t->soff[at + k] = t->pool->n;
            t->slen[at + k] = len;
            pb_put(t->pool, p, len);
            p += len;
        }
        return p - s;
    }
    case PT_FLBA: {
        size_t w = (size_t)lf->type_len;
        if (w && n > avail / w) return -1;
        for (size_t k = 0; k < n; k++) {
            t->soff[at + k] = t->pool->n;
            t->slen[at + k] = (uint32_t)w;
            pb_put(t->pool, p + k * w, w);
        }
        return (int64_t)(n * w);
    }
    }
    return -1;
}

static void reader_scratch(sl_pq_reader *r, size_t n) {
    if (n <= r->scap) return;
    size_t cap = r->scap ? r->scap : 1024;
    while (cap < n)
        cap *= 2;
    r->u32 = sl_xreallocarray(r->u32, cap, sizeof *r->u32);
    r->i64 = sl_xreallocarray(r->i64, cap, 2 * sizeof *r->i64);
    r->scap = cap;
}

/* Decodes nn dense values of encoding `enc` from [p, e) into t at `at`. */
static int decode_values(sl_pq_reader *r, const pq_leaf *lf, int enc, const uint8_t *p,
                         const uint8_t *e, size_t nn, const vtarget *t, size_t at, sl_error *err,
                         const char *col) {
    bool str = lf->ptype == PT_BYTE_ARRAY || lf->ptype == PT_FLBA;
    switch (enc) {
    case ENC_PLAIN:
        if (decode_plain(lf, p, e, nn, t, at) < 0)
            return corrupt(r, err, "column '%s': PLAIN values overrun the page", col);
        return 0;
    case ENC_PLAIN_DICTIONARY:
    case ENC_RLE_DICTIONARY: {
        if (lf->ptype == PT_BOOLEAN)
            return corrupt(r, err, "column '%s': dictionary-encoded BOOLEAN", col);
        if (nn == 0) return 0;
        if (p >= e || *p > 32) return corrupt(r, err, "column '%s': bad index bit width", col);
        int width = *p++;
        reader_scratch(r, nn);
        if (hybrid_decode(p, e, width, r->u32, nn) < 0)
            return corrupt(r, err, "column '%s': dictionary indices overrun the page", col);
        for (size_t k = 0; k < nn; k++) {
            uint32_t x = r->u32[k];
            if (x >= r->ndict)
                return corrupt(r, err, "column '%s': index %u outside a dictionary of %u", col, x,
                               r->ndict);
            if (str) {
                t->soff[at + k] = r->dict_soff[x];
                t->slen[at + k] = r->dict_slen[x];
            } else {
                t->iv[at + k] = r->dict_i[x];
            }
        }
        return 0;
    }
    case ENC_RLE: {
        if (lf->ptype != PT_BOOLEAN)
            return corrupt(r, err, "column '%s': RLE values of a non-BOOLEAN column", col);
        if (e - p < 4 || get_le32(p) > (size_t)(e - p - 4))
            return corrupt(r, err, "column '%s': RLE length overruns the page", col);
        const uint8_t *q = p + 4;
        reader_scratch(r, nn);
        if (hybrid_decode(q, q + get_le32(p), 1, r->u32, nn) < 0)
            return corrupt(r, err, "column '%s': RLE values overrun the page", col);
        for (size_t k = 0; k < nn; k++)
            t->bv[at + k] = (uint8_t)r->u32[k];
        return 0;
    }
    case ENC_DELTA_BINARY_PACKED:
        if (lf->ptype != PT_INT32 && lf->ptype != PT_INT64)
            return corrupt(r, err, "column '%s': DELTA_BINARY_PACKED on a non-integer", col);
        if (delta_decode(p, e, t->iv + at, nn) < 0)
            return corrupt(r, err, "column '%s': bad DELTA_BINARY_PACKED data", col);
        for (size_t k = 0; k < nn; k++) {
            if (lf->ptype == PT_INT32)
                t->iv[at + k] = (int32_t)(uint32_t)t->iv[at + k];
            else
                t->iv[at + k] = ts_to_micros(t->iv[at + k], lf->ts);
        }
        return 0;
    case ENC_DELTA_LENGTH_BYTE_ARRAY:
    case ENC_DELTA_BYTE_ARRAY: {
        if (lf->ptype != PT_BYTE_ARRAY)
            return corrupt(r, err, "column '%s': delta string encoding on a non-string", col);
        reader_scratch(r, nn);
        int64_t *pre = r->i64, *len = r->i64 + r->scap;
        if (enc == ENC_DELTA_BYTE_ARRAY) {
            int64_t k = delta_decode(p, e, pre, nn);
            if (k < 0) return corrupt(r, err, "column '%s': bad prefix lengths", col);
            p += k;
        }
        int64_t k = delta_decode(p, e, len, nn);
        if (k < 0) return corrupt(r, err, "column '%s': bad string lengths", col);
        p += k;
        for (size_t i = 0; i < nn; i++) {
            int64_t pl = enc == ENC_DELTA_BYTE_ARRAY ? pre[i] : 0;
            uint64_t prev = i ? t->soff[at + i - 1] : 0;
            uint32_t prevl = i ? t->slen[at + i - 1] : 0;
            if (pl < 0 || pl > prevl || len[i] < 0 || len[i] > e - p ||
                (uint64_t)pl + (uint64_t)len[i] > UINT32_MAX)
                return corrupt(r, err, "column '%s': bad string length", col);
            pb_reserve(t->pool, (size_t)(pl + len[i]));
            uint64_t off = t->pool->n;
            memmove(t->pool->p + off, t->pool->p + prev, (size_t)pl);
            memcpy(t->pool->p + off + pl, p, (size_t)len[i]);
            t->pool->n += (size_t)(pl + len[i]);
            p += len[i];
            t->soff[at + i] = off;
            t->slen[at + i] = (uint32_t)(pl + len[i]);
        }
        return 0;
    }
    case ENC_BYTE_STREAM_SPLIT: {
        int w = lf->ptype == PT_FLOAT || lf->ptype == PT_INT32    ? 4
                : lf->ptype == PT_DOUBLE || lf->ptype == PT_INT64 ? 8
                                                                  : 0;
        if (!w) return corrupt(r, err, "column '%s': BYTE_STREAM_SPLIT on this type", col);
        if (nn > (size_t)(e - p) / (size_t)w)
            return corrupt(r, err, "column '%s': BYTE_STREAM_SPLIT overruns the page", col);
        uint8_t tmp[8] = {0};
        for (size_t i = 0; i < nn; i++) {
            for (int b = 0; b < w; b++)
                tmp[b] = p[(size_t)b * nn + i];
            if (decode_plain(lf, tmp, tmp + w, 1, t, at + i) < 0)
                return corrupt(r, err, "column '%s': bad BYTE_STREAM_SPLIT value", col);
        }
        return 0;
    }
    default:
        return corrupt(r, err, "column '%s': unsupported encoding %d", col, enc);
    }
}

typedef struct pq_page {
    int32_t type, usize, csize;
    int32_t nvals, enc, def_enc, nnulls, def_len, rep_len;
    bool compressed, has_dp, has_dict, has_v2;
} pq_page;

static void parse_page(tdec *d, pq_page *pg) {
    memset(pg, 0, sizeof *pg);
    pg->type = pg->usize = pg->csize = -1;
    pg->compressed = true;
    int16_t last = 0, id;
    int t;
    while (td_field(d, &last, &t, &id)) {
        switch (id) {
        case 1:
            pg->type = td_i32v(d, t, -1);
            break;
        case 2:
            pg->usize = td_i32v(d, t, -1);
            break;
        case 3:
            pg->csize = td_i32v(d, t, -1);
            break;
        case 5:
        case 7:
        case 8: {
            if (!td_enter(d, t)) break;
            int16_t l2 = 0, id2;
            int t2;
            if (id == 5) pg->has_dp = true;
            if (id == 7) pg->has_dict = true;
            if (id == 8) pg->has_v2 = true;
            pg->nvals = -1;
            while (td_field(d, &l2, &t2, &id2)) {
                if (id2 == 1)
                    pg->nvals = td_i32v(d, t2, -1);
                else if (id == 5 && id2 == 2)
                    pg->enc = td_i32v(d, t2, -1);
                else if (id == 5 && id2 == 3)
                    pg->def_enc = td_i32v(d, t2, -1);
                else if (id == 7 && id2 == 2)
                    pg->enc = td_i32v(d, t2, -1);
                else if (id == 8 && id2 == 2)
                    pg->nnulls = td_i32v(d, t2, -1);
                else if (id == 8 && id2 == 4)
                    pg->enc = td_i32v(d, t2, -1);
                else if (id == 8 && id2 == 5)
                    pg->def_len = td_i32v(d, t2, -1);
                else if (id == 8 && id2 == 6)
                    pg->rep_len = td_i32v(d, t2, -1);
                else if (id == 8 && id2 == 7 && (t2 == TT_TRUE || t2 == TT_FALSE))
                    pg->compressed = t2 == TT_TRUE;
                else
                    td_skip(d, t2, false);
            }
            td_leave(d);
            break;
        }
        default:
            td_skip(d, t, false);
        }
    }
}

/* Snappy's raw format (the codec most other writers default to): the
 * uncompressed length as a varint, then literals and back-references. Every
 * length and offset is checked against the input and the output written so
 * far. Returns the bytes written, or -1. */
static int64_t snappy_decode(const uint8_t *p, const uint8_t *e, uint8_t *out, size_t cap) {
    tdec d = {p, e, 0, false};
    uint64_t want = td_varint(&d);
    if (d.bad || want != cap) return -1;
    p = d.p;
    size_t o = 0;
    while (p < e) {
        uint8_t tag = *p++;
        size_t len, off;
        if ((tag & 3) == 0) { /* literal */
            len = (size_t)(tag >> 2) + 1;
            if (len > 60) {
                size_t nb = len - 60; /* 1..4 bytes of length - 1 */
                if ((size_t)(e - p) < nb) return -1;
                len = 0;
                for (size_t k = 0; k < nb; k++)
                    len |= (size_t)p[k] << (8 * k);
                len += 1;
                p += nb;
            }
            if (len > (size_t)(e - p) || len > cap - o) return -1;
            memcpy(out + o, p, len);
            p += len, o += len;
            continue;
        }
        if ((tag & 3) == 1) {
            if (p >= e) return -1;
            len = (size_t)((tag >> 2) & 7) + 4;
            off = (size_t)(tag >> 5) << 8 | *p++;
        } else if ((tag & 3) == 2) {
            if (e - p < 2) return -1;
            len = (size_t)(tag >> 2) + 1;
            off = (size_t)p[0] | (size_t)p[1] << 8;
            p += 2;
        } else {
            if (e - p < 4) return -1;
            len = (size_t)(tag >> 2) + 1;
            off = get_le32(p);
            p += 4;
        }
        if (off == 0 || off > o || len > cap - o) return -1;
        for (size_t k = 0; k < len; k++, o++)
            out[o] = out[o - off]; /* may overlap */
    }
    return o == cap ? (int64_t)o : -1;
}

/* The page's bytes, decompressed if need be. */
static int page_bytes(sl_pq_reader *r, int codec, const uint8_t *src, size_t slen, size_t usize,
                      const uint8_t **out, size_t *olen, sl_error *err, const char *col) {
    if (codec == CODEC_UNCOMPRESSED) {
        *out = src, *olen = slen;
        return 0;
    }
    if (codec == CODEC_SNAPPY) {
        r->zbuf.n = 0;
        pb_reserve(&r->zbuf, usize + 1);
        if (snappy_decode(src, src + slen, r->zbuf.p, usize) < 0)
            return corrupt(r, err, "column '%s': snappy page does not decompress to its size", col);
        *out = r->zbuf.p, *olen = usize;
        return 0;
    }
    if (codec != CODEC_ZSTD)
        return corrupt(r, err,
                       "column '%s': compression codec %d is not supported (zstd, snappy or none)",
                       col, codec);
    unsigned long long fs = ZSTD_getFrameContentSize(src, slen);
    if (fs != ZSTD_CONTENTSIZE_UNKNOWN && fs != usize)
        return corrupt(r, err, "column '%s': page decompresses to %llu bytes, header says %zu", col,
                       fs, usize);
    if (!r->dctx && !(r->dctx = ZSTD_createDCtx())) sl_oom("zstd context", 0);
    r->zbuf.n = 0;
    pb_reserve(&r->zbuf, usize + 1);
    size_t n = ZSTD_decompressDCtx(r->dctx, r->zbuf.p, usize, src, slen);
    if (ZSTD_isError(n) || n != usize)
        return corrupt(r, err, "column '%s': zstd page does not decompress to its size", col);
    *out = r->zbuf.p, *olen = n;
    return 0;
}

static void slot_reserve(pq_slot *s, size_t rows) {
    if (rows <= s->cap && s->null) return;
    size_t cap = s->cap ? s->cap : 1024;
    while (cap < rows)
        cap *= 2;
    s->null = sl_xrealloc(s->null, cap);
    s->vals = sl_xreallocarray(s->vals, cap, sizeof(sl_str));
    s->soff = sl_xreallocarray(s->soff, cap, sizeof *s->soff);
    s->slen = sl_xreallocarray(s->slen, cap, sizeof *s->slen);
    s->cap = cap;
}

/* Spreads the nn dense values at [base, base + nn) over the rows [base,
 * base + n) that are not NULL, backwards so that nothing is overwritten
 * before it moves. */
static void scatter(pq_slot *s, const pq_leaf *lf, size_t base, size_t n, size_t nn) {
    if (nn == n) return;
    uint8_t *nul = s->null + base;
    size_t j = nn;
    if (lf->ptype == PT_BYTE_ARRAY || lf->ptype == PT_FLBA) {
        for (size_t i = n; i-- > 0;) {
            if (nul[i]) {
                s->soff[base + i] = 0, s->slen[base + i] = 0;
            } else {
                j--;
                s->soff[base + i] = s->soff[base + j], s->slen[base + i] = s->slen[base + j];
            }
        }
    } else if (lf->ptype == PT_BOOLEAN) {
        uint8_t *v = (uint8_t *)s->vals + base;
        for (size_t i = n; i-- > 0;)
            v[i] = nul[i] ? 0 : v[--j];
    } else {
        int64_t *v = (int64_t *)s->vals + base;
        for (size_t i = n; i-- > 0;)
            v[i] = nul[i] ? 0 : v[--j];
    }
}

int sl_pq_read_column(sl_pq_reader *r, int rg, int col, int slot, sl_column *out, sl_error *err) {
    if (rg < 0 || rg >= r->nrg || col < 0 || col >= r->schema.n || slot < 0 ||
        slot >= SL_MAX_COLUMNS)
        return sl_error_set(err, SL_EINVAL, "%s: no row group %d column %d (slot %d)", r->name, rg,
                            col, slot);
    const pq_chunk *c = &r->chunk[(size_t)rg * (size_t)r->schema.n + (size_t)col];
    const pq_leaf *lf = &r->leaf[col];
    const char *cname = r->schema.f[col].name;
    int64_t rows = r->rg_rows[rg];
    if (rows > r->max_rows)
        return corrupt(r, err, "row group %d has %lld rows (limit %lld)", rg, (long long)rows,
                       (long long)r->max_rows);
    if (c->num_values != rows)
        return corrupt(r, err, "column '%s' has %lld values in a row group of %lld rows", cname,
                       (long long)c->num_values, (long long)rows);
    if (!r->slot) r->slot = sl_xcalloc(SL_MAX_COLUMNS, sizeof *r->slot);
    pq_slot *s = &r->slot[slot];
    slot_reserve(s, (size_t)rows);
    s->pool.n = 0;
    r->ndict = 0;
    bool dict_seen = false;
    int64_t start = c->dict_off > 0 && c->dict_off < c->data_off ? c->dict_off : c->data_off;
    if (start < 4 || (uint64_t)start > r->len || (uint64_t)c->csize > r->len - (uint64_t)start)
        return corrupt(r, err, "column '%s' chunk [%lld, +%lld) lies outside the file", cname,
                       (long long)start, (long long)c->csize);
    const uint8_t *p = r->data + start, *end = p + c->csize;
    vtarget t = {(int64_t *)s->vals, (uint8_t *)s->vals, s->soff, s->slen, &s->pool};
    bool str = lf->ptype == PT_BYTE_ARRAY || lf->ptype == PT_FLBA;
    size_t got = 0;
    while (got < (size_t)rows) {
        if (p >= end)
            return corrupt(r, err, "column '%s' chunk ends after %zu of %lld values", cname, got,
                           (long long)rows);
        tdec d = {p, end, 0, false};
        pq_page pg;
        parse_page(&d, &pg);
        if (d.bad || pg.type < 0 || pg.usize < 0 || pg.csize < 0 || pg.csize > end - d.p)
            return corrupt(r, err, "column '%s': bad page header at offset %lld", cname,
                           (long long)(p - r->data));
        const uint8_t *pay = d.p;
        p = d.p + pg.csize;
        if (pg.usize > (int32_t)PQ_MAX_PAGE)
            return corrupt(r, err, "column '%s': page of %d bytes", cname, pg.usize);
        const uint8_t *b;
        size_t blen;
        if (pg.type == PAGE_DICTIONARY) {
            if (!pg.has_dict || pg.nvals < 0 || dict_seen || lf->ptype == PT_BOOLEAN ||
                (pg.enc != ENC_PLAIN && pg.enc != ENC_PLAIN_DICTIONARY))
                return corrupt(r, err, "column '%s': bad dictionary page", cname);
            dict_seen = true;
            if (page_bytes(r, c->codec, pay, (size_t)pg.csize, (size_t)pg.usize, &b, &blen, err,
                           cname))
                return SL_ECORRUPT;
            /* every entry takes at least one bit, which bounds the allocation */
            if ((size_t)pg.nvals > blen * 8 + 8)
                return corrupt(r, err, "column '%s': dictionary of %d entries in %zu bytes", cname,
                               pg.nvals, blen);
            if ((size_t)pg.nvals > r->dict_cap) {
                r->dict_cap = (size_t)pg.nvals;
                r->dict_i = sl_xreallocarray(r->dict_i, r->dict_cap, sizeof *r->dict_i);
                r->dict_soff = sl_xreallocarray(r->dict_soff, r->dict_cap, sizeof *r->dict_soff);
                r->dict_slen = sl_xreallocarray(r->dict_slen, r->dict_cap, sizeof *r->dict_slen);
            }
            vtarget dt = {r->dict_i, NULL, r->dict_soff, r->dict_slen, &s->pool};
            if (decode_plain(lf, b, b + blen, (size_t)pg.nvals, &dt, 0) < 0)
                return corrupt(r, err, "column '%s': dictionary values overrun the page", cname);
            r->ndict = (uint32_t)pg.nvals;
            continue;
        }
        if (pg.type != PAGE_DATA && pg.type != PAGE_DATA_V2) continue; /* index pages */
        bool v2 = pg.type == PAGE_DATA_V2;
        if ((v2 ? !pg.has_v2 : !pg.has_dp) || pg.nvals < 0 || (size_t)pg.nvals > (size_t)rows - got)
            return corrupt(r, err, "column '%s': data page with a bad value count", cname);
        size_t n = (size_t)pg.nvals;
        const uint8_t *lv = NULL, *lvend = NULL; /* definition levels */
        if (v2) {
            if (pg.def_len < 0 || pg.rep_len < 0 || (int64_t)pg.def_len + pg.rep_len > pg.csize ||
                (int64_t)pg.def_len + pg.rep_len > pg.usize)
                return corrupt(r, err, "column '%s': bad level lengths", cname);
            lv = pay + pg.rep_len;
            lvend = lv + pg.def_len;
            size_t skip = (size_t)pg.def_len + (size_t)pg.rep_len;
            if (pg.compressed) {
                if (page_bytes(r, c->codec, pay + skip, (size_t)pg.csize - skip,
                               (size_t)pg.usize - skip, &b, &blen, err, cname))
                    return SL_ECORRUPT;
            } else {
                b = pay + skip, blen = (size_t)pg.csize - skip;
            }
        } else {
            if (page_bytes(r, c->codec, pay, (size_t)pg.csize, (size_t)pg.usize, &b, &blen, err,
                           cname))
                return SL_ECORRUPT;
            if (lf->rep == REP_OPTIONAL) {
                if (pg.def_enc != ENC_RLE)
                    return corrupt(r, err, "column '%s': definition levels encoded %d", cname,
                                   pg.def_enc);
                if (blen < 4 || get_le32(b) > blen - 4)
                    return corrupt(r, err, "column '%s': definition levels overrun the page",
                                   cname);
                lv = b + 4;
                lvend = lv + get_le32(b);
                blen -= 4 + get_le32(b);
                b = lvend;
            }
        }
        size_t nn = n;
        if (lf->rep == REP_OPTIONAL) {
            reader_scratch(r, n);
            if (hybrid_decode(lv, lvend, 1, r->u32, n) < 0)
                return corrupt(r, err, "column '%s': bad definition levels", cname);
            nn = 0;
            for (size_t k = 0; k < n; k++) {
                s->null[got + k] = r->u32[k] == 0;
                nn += r->u32[k] != 0;
            }
        } else {
            memset(s->null + got, 0, n);
        }
        if (pg.enc == ENC_PLAIN_DICTIONARY || pg.enc == ENC_RLE_DICTIONARY) {
            if (!dict_seen) return corrupt(r, err, "column '%s': dictionary page missing", cname);
        }
        if (decode_values(r, lf, pg.enc, b, b + blen, nn, &t, got, err, cname)) return SL_ECORRUPT;
        scatter(s, lf, got, n, nn);
        got += n;
    }
    out->type = r->schema.f[col].type;
    out->null = s->null;
    if (str) {
        sl_str *v = s->vals;
        pb_reserve(&s->pool, 1); /* a valid pointer even when every string is empty */
        for (size_t i = 0; i < got; i++)
            v[i] = (sl_str){(const char *)s->pool.p + s->soff[i], s->slen[i]};
    }
    out->v.p = s->vals;
    return 0;
}

/* ---- reopen: continue a segment after a restart ---- */

sl_pq_writer *sl_pq_reopen(const char *path, int64_t length, const sl_schema *schema,
                           const sl_pq_options *opts, sl_error *err) {
    if (check_schema(schema, err)) return NULL;
    sl_pq_reader *r = sl_pq_open(path, length, err);
    if (!r) return NULL;
    bool same = r->schema.n == schema->n;
    for (int i = 0; same && i < schema->n; i++)
        same = strcmp(r->schema.f[i].name, schema->f[i].name) == 0 &&
               r->schema.f[i].type == schema->f[i].type &&
               r->leaf[i].ptype == ptype_of(schema->f[i].type) && r->leaf[i].rep == REP_OPTIONAL;
    if (!same) {
        sl_error_set(err, SL_EINVAL, "%s: the file's schema differs from the pipeline's", path);
        sl_pq_close_reader(r);
        return NULL;
    }
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0 || ftruncate(fd, (off_t)length) != 0 || fsync(fd) != 0) {
        sl_error_set(err, SL_EIO, "%s: truncate to %lld: %s", path, (long long)length,
                     strerror(errno));
        if (fd >= 0) close(fd);
        sl_pq_close_reader(r);
        return NULL;
    }
    sl_pq_writer *w = writer_new(path, schema, opts);
    w->fd = fd;
    w->length = w->valid_length = length;
    for (int g = 0; g < r->nrg; g++) {
        pb_put(&w->rgs, r->data + r->rg_raw_off[g], r->rg_raw_len[g]);
        w->rows += r->rg_rows[g];
    }
    w->nrg = r->nrg;
    sl_pq_close_reader(r);
    return w;
}
