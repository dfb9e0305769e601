/*
 * json_write.c - row -> JSON object; see json_write.h.
 *
 * The idea: write straight into the caller's buffer through a tiny cursor
 * that counts every byte it would write but copies only those that fit, so
 * one pass gives both the output and (when it did not fit) the size to retry
 * with, like snprintf. Strings are copied in runs: the scan stops only at
 * bytes that need escaping or at the start of a multi-byte UTF-8 sequence,
 * which is validated so the output is always valid JSON.
 */
#include "formats/json_write.h"

#include <math.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/timeutil.h"

typedef struct wcur {
    char *out;
    size_t cap, n;
} wcur;

static inline void put(wcur *w, const char *s, size_t k) {
    if (w->n < w->cap) {
        size_t room = w->cap - w->n;
        memcpy(w->out + w->n, s, k < room ? k : room);
    }
    w->n += k;
}

static inline void putc1(wcur *w, char c) {
    if (w->n < w->cap) w->out[w->n] = c;
    w->n++;
}

/* Length of the valid UTF-8 sequence at s (lead byte >= 0x80), or 0. */
static size_t utf8_len(const unsigned char *s, size_t n) {
    unsigned c = s[0];
    if (c >= 0xC2 && c <= 0xDF) return n >= 2 && (s[1] & 0xC0) == 0x80 ? 2 : 0;
    if (c >= 0xE0 && c <= 0xEF) {
        if (n < 3 || (s[1] & 0xC0) != 0x80 || (s[2] & 0xC0) != 0x80) return 0;
        if (c == 0xE0 && s[1] < 0xA0) return 0; /* overlong */
        if (c == 0xED && s[1] > 0x9F) return 0; /* UTF-16 surrogate */
        return 3;
    }
    if (c >= 0xF0 && c <= 0xF4) {
        if (n < 4 || (s[1] & 0xC0) != 0x80 || (s[2] & 0xC0) != 0x80 || (s[3] & 0xC0) != 0x80)
            return 0;
        if (c == 0xF0 && s[1] < 0x90) return 0; /* overlong */
        if (c == 0xF4 && s[1] > 0x8F) return 0; /* > U+10FFFF */
        return 4;
    }
    return 0;
}

static void put_string(wcur *w, const char *str, size_t len) {
    static const char hex[] = "0123456789abcdef";
    const unsigned char *s = (const unsigned char *)str;
    putc1(w, '"');
    size_t run = 0, i = 0;
    while (i < len) {
        /* fast path: skip 8 plain ASCII bytes at a time (no control byte,
         * quote, backslash or non-ASCII byte among them) */
        while (i + 8 <= len) {
            uint64_t v;
            memcpy(&v, s + i, 8);
            const uint64_t ones = 0x0101010101010101ULL, highs = 0x8080808080808080ULL;
            uint64_t q = v ^ (ones * '"'), bs = v ^ (ones * '\\');
            uint64_t special =
                (v | ((v - ones * 0x20) & ~v) | ((q - ones) & ~q) | ((bs - ones) & ~bs)) & highs;
            if (special) break;
            i += 8;
        }
        if (i >= len) break;
        unsigned c = s[i];
        if (c >= 0x20 && c < 0x80 && c != '"' && c != '\\') {
            i++;
            continue;
        }
        if (c >= 0x80) {
            size_t k = utf8_len(s + i, len - i);
            if (k) {
                i += k;
                continue;
            }
        }
        put(w, str + run, i - run);
        switch (c) {
        case '"':
            put(w, "\\\"", 2);
            break;
        case '\\':
            put(w, "\\\\", 2);
            break;
        case '\n':
            put(w, "\\n", 2);
            break;
        case '\r':
            put(w, "\\r", 2);
            break;
        case '\t':
            put(w, "\\t", 2);
            break;
        case '\b':
            put(w, "\\b", 2);
            break;
        case '\f':
            put(w, "\\f", 2);
            break;
        default:
            if (c < 0x20) {
                char u[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
                put(w, u, 6);
            } else {
                put(w, "\\ufffd", 6); /* not UTF-8 */
            }
        }
        i++;
        run = i;
    }
    put(w, str + run, len - run);
    putc1(w, '"');
}

static void put_int(wcur *w, int64_t v) {
    char tmp[24];
    char *e = tmp + sizeof tmp, *p = e;
    uint64_t u = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
    do {
        *--p = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0) *--p = '-';
    put(w, p, (size_t)(e - p));
}

static inline void digits(char *p, unsigned v, int n) {
    while (n-- > 0) {
        p[n] = (char)('0' + v % 10);
        v /= 10;
    }
}

/* "2026-01-01T00:05:00.123456Z": the same text as sl_time_format_iso_us,
 * without snprintf on the writer's hot path (and without overflow for
 * times near INT64_MIN: the fraction is taken with %, not by multiplying
 * the seconds back). */
static void put_ts(wcur *w, int64_t us) {
    char t[48];
    int64_t frac = us % SL_US_PER_SEC;
    if (frac < 0) frac += SL_US_PER_SEC;
    int64_t secs = sl_floor_div(us, SL_US_PER_SEC);
    int64_t days = sl_floor_div(secs, 86400);
    int64_t rem = secs - days * 86400;
    int64_t y;
    unsigned mo, d;
    sl_civil_from_days(days, &y, &mo, &d);
    t[0] = '"';
    int n = 1;
    if (y >= 0 && y <= 9999) {
        digits(t + 1, (unsigned)y, 4);
        n += 4;
    } else {
        n += snprintf(t + 1, 24, "%04lld", (long long)y);
    }
    char *p = t + n;
    p[0] = '-';
    digits(p + 1, mo, 2);
    p[3] = '-';
    digits(p + 4, d, 2);
    p[6] = 'T';
    digits(p + 7, (unsigned)(rem / 3600), 2);
    p[9] = ':';
    digits(p + 10, (unsigned)(rem / 60 % 60), 2);
    p[12] = ':';
    digits(p + 13, (unsigned)(rem % 60), 2);
    p[15] = '.';
    digits(p + 16, (unsigned)frac, 6);
    p[22] = 'Z';
    p[23] = '"';
    put(w, t, (size_t)n + 24);
}

size_t sl_json_write_string(const char *s, size_t len, char *out, size_t cap) {
    wcur w = {out, cap, 0};
    put_string(&w, s, len);
    return w.n;
}

/* keys: precomputed `"name":` prefixes (NULL: escape each name per row). */
static size_t write_row(const sl_batch *b, uint32_t r, const sl_json_keys *keys, const char *extra,
                        size_t extra_len, char *out, size_t cap) {
    wcur w = {out, cap, 0};
    char tmp[64];
    putc1(&w, '{');
    for (int c = 0; c < b->schema.n; c++) {
        const sl_column *col = &b->col[c];
        if (keys) {
            put(&w, keys->buf + keys->off[c] + (c == 0),
                keys->off[c + 1] - keys->off[c] - (c == 0));
        } else {
            if (c) putc1(&w, ',');
            put_string(&w, b->schema.f[c].name, strlen(b->schema.f[c].name));
            putc1(&w, ':');
        }
        if (col->null[r]) {
            put(&w, "null", 4);
            continue;
        }
        switch (col->type) {
        case SL_T_BOOL:
            if (col->v.b[r])
                put(&w, "true", 4);
            else
                put(&w, "false", 5);
            break;
        case SL_T_INT:
            put_int(&w, col->v.i[r]);
            break;
        case SL_T_DOUBLE: {
            double d = col->v.d[r];
            if (!isfinite(d)) {
                put(&w, "null", 4);
                break;
            }
            int k = snprintf(tmp, sizeof tmp, "%.17g", d);
            put(&w, tmp, (size_t)k);
            break;
        }
        case SL_T_STRING:
            put_string(&w, col->v.s[r].ptr, col->v.s[r].len);
            break;
        case SL_T_TS:
            put_ts(&w, col->v.i[r]);
            break;
        default:
            put(&w, "null", 4);
            break;
        }
    }
    if (extra) put(&w, extra, extra_len);
    putc1(&w, '}');
    if (cap > 0) out[w.n < cap ? w.n : cap - 1] = 0;
    return w.n;
}

size_t sl_json_write_row(const sl_batch *b, uint32_t r, const char *extra, char *out, size_t cap) {
    return write_row(b, r, NULL, extra, extra ? strlen(extra) : 0, out, cap);
}

int sl_json_keys_init(sl_json_keys *k, const sl_schema *s) {
    size_t cap = 16;
    for (int c = 0; c < s->n; c++)
        cap += strlen(s->f[c].name) * 6 + 4;
    k->buf = malloc(cap);
    if (!k->buf) return -1;
    k->n = s->n;
    size_t n = 0;
    for (int c = 0; c < s->n; c++) {
        k->off[c] = (uint32_t)n;
        k->buf[n++] = ',';
        n += sl_json_write_string(s->f[c].name, strlen(s->f[c].name), k->buf + n, cap - n);
        k->buf[n++] = ':';
    }
    k->off[s->n] = (uint32_t)n;
    return 0;
}

void sl_json_keys_fini(sl_json_keys *k) {
    free(k->buf);
    k->buf = NULL;
}

size_t sl_json_write_row_keys(const sl_batch *b, uint32_t r, const sl_json_keys *keys,
                              const char *extra, size_t extra_len, char *out, size_t cap) {
    return write_row(b, r, keys, extra, extra_len, out, cap);
}
