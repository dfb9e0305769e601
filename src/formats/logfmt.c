/*
 * logfmt.c - logfmt lines into pairs and batch rows, and the text-to-type
 * casts shared with the syslog adapter.
 *
 * The idea: a logfmt line is a flat list of key[=value] tokens, so one pass
 * splits it into (key, value) views with no copy unless a quoted value holds
 * escapes; those are unescaped into parser scratch whose capacity is at
 * least the line length (unescaping never lengthens text), so earlier views
 * stay put while the line is scanned. Keys find their column through a
 * 256-slot open-addressing table built once from the schema (at most 128
 * columns, so it is never more than half full and a probe sequence is short).
 */
#include "formats/logfmt.h"

#include <stdarg.h>
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/timeutil.h"

/* ---- casts ---------------------------------------------------------------- */

static inline char lower(char c) { return (c >= 'A' && c <= 'Z') ? (char)(c + 32) : c; }

static bool ieq(const char *s, size_t n, const char *lit) {
    size_t k = 0;
    for (; k < n && lit[k]; k++)
        if (lower(s[k]) != lit[k]) return false;
    return k == n && lit[k] == 0;
}

static int parse_i64(const char *s, size_t n, int64_t *out) {
    size_t i = 0;
    bool neg = false;
    if (n && (s[0] == '+' || s[0] == '-')) neg = s[i++] == '-';
    if (i == n) return -1;
    uint64_t v = 0, lim = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
    for (; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') return -1;
        unsigned d = (unsigned)(s[i] - '0');
        if (v > (lim - d) / 10) return -1;
        v = v * 10 + d;
    }
    *out = neg ? (int64_t)(0 - v) : (int64_t)v;
    return 0;
}

static int parse_double(const char *s, size_t n, double *out) {
    size_t i = 0;
    if (n && (s[0] == '+' || s[0] == '-')) i++;
    const char *w = s + i;
    size_t wn = n - i;
    if (ieq(w, wn, "nan") || ieq(w, wn, "inf") || ieq(w, wn, "infinity")) {
        /* fall through to strtod */
    } else {
        size_t dig = 0;
        while (i < n && s[i] >= '0' && s[i] <= '9')
            i++, dig++;
        if (i < n && s[i] == '.')
            for (i++; i < n && s[i] >= '0' && s[i] <= '9'; i++)
                dig++;
        if (!dig) return -1;
        if (i < n && (s[i] == 'e' || s[i] == 'E')) {
            i++;
            if (i < n && (s[i] == '+' || s[i] == '-')) i++;
            size_t e = i;
            while (i < n && s[i] >= '0' && s[i] <= '9')
                i++;
            if (i == e) return -1;
        }
        if (i != n) return -1;
    }
    char tmp[128];
    if (n >= sizeof tmp) return -1;
    memcpy(tmp, s, n);
    tmp[n] = 0;
    *out = strtod(tmp, NULL);
    return 0;
}

static int parse_bool(const char *s, size_t n, bool *out) {
    static const char *const t[] = {"true", "t", "yes", "y", "1"}, *const f[] = {"false", "f", "no",
                                                                                 "n", "0"};
    for (int k = 0; k < 5; k++) {
        if (ieq(s, n, t[k])) return *out = true, 0;
        if (ieq(s, n, f[k])) return *out = false, 0;
    }
    return -1;
}

int sl_logfmt_cast(sl_column *c, uint32_t r, const char *s, size_t len) {
    c->null[r] = 1;
    if (c->type == SL_T_STRING) {
        if (len > UINT32_MAX) return SL_ETYPE;
        sl_col_set_str(c, r, s, (uint32_t)len);
        return 0;
    }
    if (len == 0) return 0;
    switch (c->type) {
    case SL_T_INT: {
        int64_t v;
        if (parse_i64(s, len, &v)) return SL_ETYPE;
        sl_col_set_int(c, r, v);
        return 0;
    }
    case SL_T_DOUBLE: {
        double v;
        if (parse_double(s, len, &v)) return SL_ETYPE;
        sl_col_set_double(c, r, v);
        return 0;
    }
    case SL_T_BOOL: {
        bool v;
        if (parse_bool(s, len, &v)) return SL_ETYPE;
        sl_col_set_bool(c, r, v);
        return 0;
    }
    case SL_T_TS: {
        int64_t v;
        if (parse_i64(s, len, &v) == 0) {
            if (v > INT64_MAX / 1000 || v < INT64_MIN / 1000) return SL_ETYPE;
            sl_col_set_int(c, r, v * 1000);
            return 0;
        }
        if (sl_time_parse_iso(s, len, &v) != 0) return SL_ETYPE;
        sl_col_set_int(c, r, v);
        return 0;
    }
    default:
        return SL_ETYPE;
    }
}

/* ---- parser ----------------------------------------------------------------- */

#define NSLOTS 256 /* >= 2 * SL_MAX_COLUMNS: at most half full, so every probe ends */
_Static_assert(NSLOTS >= 2 * SL_MAX_COLUMNS && (NSLOTS & (NSLOTS - 1)) == 0,
               "the key table must stay at most half full and be a power of two");

struct sl_logfmt_parser {
    sl_schema schema;
    int16_t slot[NSLOTS]; /* column index + 1; 0 = empty */
    sl_logfmt_pair *pairs;
    int pairs_cap;
    char *scratch; /* unescaped values; capacity >= line length */
    size_t scratch_cap, scratch_used;
};

static uint32_t key_hash(const char *s, size_t n) {
    uint32_t h = 2166136261u; /* FNV-1a */
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)s[i]) * 16777619u;
    return h ^ (h >> 15);
}

static int find_col(const sl_logfmt_parser *p, const char *k, size_t n) {
    uint32_t h = key_hash(k, n) & (NSLOTS - 1);
    for (;;) {
        int c = p->slot[h] - 1;
        if (c < 0) return -1;
        const char *name = p->schema.f[c].name;
        if (strncmp(name, k, n) == 0 && name[n] == 0) return c;
        h = (h + 1) & (NSLOTS - 1);
    }
}

sl_logfmt_parser *sl_logfmt_parser_new(const sl_schema *schema, sl_error *err) {
    sl_logfmt_parser *p = calloc(1, sizeof *p);
    if (!p) {
        sl_error_set(err, SL_ENOMEM, "out of memory");
        return NULL;
    }
    p->schema = *schema;
    for (int c = 0; c < schema->n; c++) {
        const char *name = schema->f[c].name;
        size_t n = strlen(name);
        if (find_col(p, name, n) >= 0) continue; /* duplicate name: the first column wins */
        uint32_t h = key_hash(name, n) & (NSLOTS - 1);
        while (p->slot[h])
            h = (h + 1) & (NSLOTS - 1);
        p->slot[h] = (int16_t)(c + 1);
    }
    return p;
}

void sl_logfmt_parser_free(sl_logfmt_parser *p) {
    if (!p) return;
    free(p->pairs);
    free(p->scratch);
    free(p);
}

__attribute__((format(printf, 3, 4))) static int perr(sl_error *err, size_t col0, const char *fmt,
                                                      ...) {
    if (!err) return SL_EPARSE;
    char buf[SL_ERROR_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    return sl_error_set(err, SL_EPARSE, "column %zu: %s", col0 + 1, buf);
}

static int hexval(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    c = lower(c);
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

static int hex4(const char *s, size_t n, size_t i) {
    if (i + 4 > n) return -1;
    int v = 0;
    for (int k = 0; k < 4; k++) {
        int h = hexval(s[i + (size_t)k]);
        if (h < 0) return -1;
        v = v * 16 + h;
    }
    return v;
}

static char *put_utf8(char *o, uint32_t cp) {
    if (cp < 0x80) {
        *o++ = (char)cp;
    } else if (cp < 0x800) {
        *o++ = (char)(0xC0 | (cp >> 6));
        *o++ = (char)(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
        *o++ = (char)(0xE0 | (cp >> 12));
        *o++ = (char)(0x80 | ((cp >> 6) & 0x3F));
        *o++ = (char)(0x80 | (cp & 0x3F));
    } else {
        *o++ = (char)(0xF0 | (cp >> 18));
        *o++ = (char)(0x80 | ((cp >> 12) & 0x3F));
        *o++ = (char)(0x80 | ((cp >> 6) & 0x3F));
        *o++ = (char)(0x80 | (cp & 0x3F));
    }
    return o;
}

/* Unescapes s[st..end) into o; returns the end of the output. Never writes
 * more than end - st bytes. */
static char *unescape(const char *s, size_t st, size_t end, char *o) {
    for (size_t k = st; k < end; k++) {
        if (s[k] != '\\' || k + 1 >= end) {
            *o++ = s[k];
            continue;
        }
        char e = s[k + 1];
        char simple = e == '"'    ? '"'
                      : e == '\\' ? '\\'
                      : e == '/'  ? '/'
                      : e == 'n'  ? '\n'
                      : e == 't'  ? '\t'
                      : e == 'r'  ? '\r'
                      : e == 'b'  ? '\b'
                      : e == 'f'  ? '\f'
                                  : 0;
        if (simple) {
            *o++ = simple;
            k++;
            continue;
        }
        if (e == 'u') {
            int u = hex4(s, end, k + 2);
            if (u >= 0 && (u < 0xD800 || u > 0xDFFF)) {
                o = put_utf8(o, (uint32_t)u);
                k += 5;
                continue;
            }
            if (u >= 0xD800 && u <= 0xDBFF && k + 7 < end && s[k + 6] == '\\' && s[k + 7] == 'u') {
                int lo = hex4(s, end, k + 8);
                if (lo >= 0xDC00 && lo <= 0xDFFF) {
                    o = put_utf8(o, 0x10000 + (((uint32_t)u - 0xD800) << 10) +
                                        ((uint32_t)lo - 0xDC00));
                    k += 11;
                    continue;
                }
            }
        }
        *o++ = '\\'; /* unknown or malformed escape: kept literally */
    }
    return o;
}

int sl_logfmt_parse(sl_logfmt_parser *p, const char *s, size_t len, sl_logfmt_pair **pairs,
                    int *npairs, sl_error *err) {
    *pairs = NULL;
    *npairs = 0;
    if (len > UINT32_MAX) return sl_error_set(err, SL_EPARSE, "line longer than 4 GiB");
    if (len > p->scratch_cap) {
        size_t nc = len < 256 ? 256 : len;
        char *n = realloc(p->scratch, nc);
        if (!n) return sl_error_set(err, SL_ENOMEM, "out of memory");
        p->scratch = n;
        p->scratch_cap = nc;
    }
    p->scratch_used = 0;
    size_t i = 0;
    int np = 0;
    for (;;) {
        while (i < len && (s[i] == ' ' || s[i] == '\t'))
            i++;
        if (i >= len) break;
        unsigned char c0 = (unsigned char)s[i];
        if (c0 == '=') return perr(err, i, "expected a key before '='");
        if (c0 == '"') return perr(err, i, "unexpected '\"' (keys are not quoted)");
        if (c0 < ' ') return perr(err, i, "unexpected byte 0x%02x", c0);
        size_t ks = i;
        while (i < len && (unsigned char)s[i] > ' ' && s[i] != '=' && s[i] != '"')
            i++;
        if (i < len && s[i] == '"') return perr(err, i, "unexpected '\"' in key");
        if (np == p->pairs_cap) {
            int nc = p->pairs_cap ? p->pairs_cap * 2 : 32;
            sl_logfmt_pair *n = realloc(p->pairs, (size_t)nc * sizeof *n);
            if (!n) return sl_error_set(err, SL_ENOMEM, "out of memory");
            p->pairs = n;
            p->pairs_cap = nc;
        }
        sl_logfmt_pair *q = &p->pairs[np++];
        q->key.ptr = s + ks;
        q->key.len = (uint32_t)(i - ks);
        q->value.ptr = s + i;
        q->value.len = 0;
        q->has_value = false;
        if (i >= len || s[i] != '=') continue; /* bare key */
        i++;
        q->has_value = true;
        if (i < len && s[i] == '"') {
            size_t open = i++, vs = i;
            bool esc = false;
            while (i < len && s[i] != '"') {
                if (s[i] == '\\' && i + 1 < len) {
                    esc = true;
                    i++;
                }
                i++;
            }
            if (i >= len)
                return perr(err, len, "unterminated quoted value (opened at column %zu)", open + 1);
            if (esc) {
                /* unescaping never lengthens, and scratch holds the whole line */
                assert(p->scratch_used + (i - vs) <= p->scratch_cap);
                char *o0 = p->scratch + p->scratch_used;
                char *o = unescape(s, vs, i, o0);
                q->value.ptr = o0;
                q->value.len = (uint32_t)(o - o0);
                p->scratch_used += (size_t)(o - o0);
            } else {
                q->value.ptr = s + vs;
                q->value.len = (uint32_t)(i - vs);
            }
            i++;
            if (i < len && s[i] != ' ' && s[i] != '\t')
                return perr(err, i, "expected a space after the closing quote");
        } else {
            size_t vs = i;
            while (i < len && (unsigned char)s[i] > ' ')
                i++;
            q->value.ptr = s + vs;
            q->value.len = (uint32_t)(i - vs);
        }
    }
    *pairs = p->pairs;
    *npairs = np;
    return 0;
}

size_t sl_logfmt_parse_lines(sl_logfmt_parser *p, const char *buf, size_t len, int32_t part,
                             int64_t base_pos, int64_t ingest_us, sl_batch *b, sl_bad_record_fn bad,
                             void *ud) {
    const int ncol = p->schema.n;
#ifndef NDEBUG
    {
        int bad_schema = b->schema.n < ncol;
        for (int c = 0; !bad_schema && c < ncol; c++)
            bad_schema = b->col[c].type != p->schema.f[c].type;
        if (bad_schema) {
            fprintf(stderr, "sl_logfmt_parse_lines: batch schema does not match the parser's\n");
            abort();
        }
    }
#endif
    size_t off = 0;
    sl_error err;
    char reason[SL_ERROR_MAX + 64];
    const char *line;
    size_t ll;
    int64_t pos;
    while (b->n < b->cap && sl_next_line(buf, len, &off, base_pos, &line, &ll, &pos)) {
        if (ll == 0 || sl_line_is_blank(line, ll)) continue;
        sl_logfmt_pair *pairs;
        int np;
        err.msg[0] = 0;
        if (sl_logfmt_parse(p, line, ll, &pairs, &np, &err) != 0) {
            if (bad) {
                snprintf(reason, sizeof reason, "logfmt: %s", err.msg);
                bad(ud, line, ll, part, pos, reason);
            }
            continue;
        }
        uint32_t r = sl_batch_append_null_row(b);
        int failed = -1;
        const sl_logfmt_pair *fp = NULL;
        for (int k = 0; k < np; k++) {
            const sl_logfmt_pair *q = &pairs[k];
            int c = find_col(p, q->key.ptr, q->key.len);
            if (c < 0) continue;
            sl_column *col = &b->col[c];
            if (!q->has_value) {
                if (col->type == SL_T_BOOL) {
                    sl_col_set_bool(col, r, true);
                    continue;
                }
                if (sl_logfmt_cast(col, r, "true", 4) != 0) {
                    failed = c;
                    fp = q;
                    break;
                }
                continue;
            }
            const char *v = q->value.ptr;
            if (col->type == SL_T_STRING && !(v >= line && v <= line + ll))
                v = sl_arena_strdup(b->arena, v, q->value.len); /* unescaped: lives in scratch */
            if (sl_logfmt_cast(col, r, v, q->value.len) != 0) {
                failed = c;
                fp = q;
                break;
            }
        }
        if (failed >= 0) {
            for (int k = 0; k < b->schema.n; k++)
                b->col[k].null[r] = 1;
            b->n--;
            if (bad) {
                sl_str t = fp->has_value ? fp->value : (sl_str){"true", 4};
                snprintf(reason, sizeof reason, "field '%s': expected %s, got '%.*s'%s",
                         p->schema.f[failed].name, sl_type_name(p->schema.f[failed].type),
                         t.len > 64 ? 64 : (int)t.len, t.ptr, t.len > 64 ? "..." : "");
                bad(ud, line, ll, part, pos, reason);
            }
            continue;
        }
        b->part[r] = part;
        b->pos[r] = pos;
        b->ingest[r] = ingest_us;
        b->raw[r].ptr = line;
        b->raw[r].len = (uint32_t)ll;
    }
    /* the contract in json.h: whole lines only, and never past a full batch */
    assert(off <= len && (off == 0 || buf[off - 1] == '\n') && b->n <= b->cap);
    return off;
}
