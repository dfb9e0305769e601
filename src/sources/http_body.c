/*
 * http_body.c - decoding and splitting of the `http` source's bodies (see
 * http_body.h).
 *
 * Splitting needs to know where one JSON value ends, not what it holds: the
 * format's parser reads each record afterwards and quarantines what is not
 * valid. So the scanner below only tracks strings (with their escapes) and
 * the nesting depth of brackets, iteratively (no recursion a hostile body
 * could exhaust), and a value it cannot end is a broken body. The OTLP
 * mapping walks the few objects of the export request with the same scanner
 * and copies string tokens through raw: the output is JSON again, so no
 * string is ever unescaped.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <zlib.h>
#include <zstd.h>

#include "core/mem.h"
#include "core/timeutil.h"
#include "sources/http_body.h"

int sl_http_encoding(const char *h) {
    if (!h || !*h || !strcasecmp(h, "identity")) return SL_HTTP_IDENTITY;
    if (!strcasecmp(h, "gzip") || !strcasecmp(h, "x-gzip")) return SL_HTTP_GZIP;
    if (!strcasecmp(h, "zstd")) return SL_HTTP_ZSTD;
    return -1;
}

/* ---- decoding ---- */

static int grow_out(char **out, size_t *cap, size_t need, size_t max) {
    if (need <= *cap) return 0;
    if (need > max) return 413;
    size_t c = *cap ? *cap : 65536;
    while (c < need)
        c *= 2;
    if (c > max) c = max;
    *out = sl_xrealloc(*out, c + SL_HTTP_PADDING + 1);
    *cap = c;
    return 0;
}

int sl_http_decode(int coding, const char *in, size_t len, size_t max, char **out, size_t *outlen,
                   char *why, size_t cap) {
    char *o = NULL;
    size_t ocap = 0, n = 0;
    int rc = 0;
    if (coding == SL_HTTP_IDENTITY) {
        if ((rc = grow_out(&o, &ocap, len ? len : 1, max ? max : 1))) goto fail;
        memcpy(o, in, len);
        n = len;
    } else if (coding == SL_HTTP_GZIP) {
        z_stream z = {0};
        if (inflateInit2(&z, 15 + 32) != Z_OK) { /* 32: gzip or zlib header, detected */
            snprintf(why, cap, "gzip: cannot start the decoder");
            rc = 400;
            goto fail;
        }
        z.next_in = (Bytef *)in;
        z.avail_in = (uInt)len;
        for (;;) {
            if (n == ocap && (rc = grow_out(&o, &ocap, n + 1, max))) break;
            z.next_out = (Bytef *)o + n;
            z.avail_out = (uInt)(ocap - n);
            int zr = inflate(&z, Z_NO_FLUSH);
            n = ocap - z.avail_out;
            if (zr == Z_STREAM_END) {
                if (!z.avail_in) break;
                inflateReset(&z); /* concatenated gzip members */
                continue;
            }
            if (zr == Z_BUF_ERROR && !z.avail_in) {
                snprintf(why, cap, "gzip: the data ends before the stream does");
                rc = 400;
                break;
            }
            if (zr != Z_OK && zr != Z_BUF_ERROR) {
                snprintf(why, cap, "gzip: %s", z.msg ? z.msg : "invalid data");
                rc = 400;
                break;
            }
        }
        inflateEnd(&z);
        if (rc) goto fail;
    } else if (coding == SL_HTTP_ZSTD) {
        ZSTD_DStream *d = ZSTD_createDStream();
        ZSTD_inBuffer ib = {in, len, 0};
        size_t zr = 0;
        while (ib.pos < ib.size || zr != 0) {
            if (n == ocap && (rc = grow_out(&o, &ocap, n + 1, max))) break;
            ZSTD_outBuffer ob = {o, ocap, n};
            size_t before = ib.pos;
            zr = ZSTD_decompressStream(d, &ob, &ib);
            n = ob.pos;
            if (ZSTD_isError(zr)) {
                snprintf(why, cap, "zstd: %s", ZSTD_getErrorName(zr));
                rc = 400;
                break;
            }
            if (ib.pos == ib.size && zr != 0 && ob.pos < ob.size && ib.pos == before) {
                snprintf(why, cap, "zstd: the data ends before the frame does");
                rc = 400;
                break;
            }
        }
        ZSTD_freeDStream(d);
        if (rc) goto fail;
    } else {
        snprintf(why, cap, "unsupported Content-Encoding");
        rc = 415;
        goto fail;
    }
    if (!o) o = sl_xmalloc(SL_HTTP_PADDING + 1);
    memset(o + n, 0, SL_HTTP_PADDING + 1);
    *out = o;
    *outlen = n;
    return 0;
fail:
    if (rc == 413) snprintf(why, cap, "the decoded body exceeds max_body_bytes (%zu)", max);
    free(o);
    return rc;
}

/* ---- records ---- */

void sl_http_records_reset(sl_http_records *r) {
    r->len = 0;
    r->n = 0;
}

void sl_http_records_free(sl_http_records *r) {
    free(r->buf);
    free(r->msg);
    *r = (sl_http_records){0};
}

void sl_http_records_add(sl_http_records *r, const char *p, size_t n) {
    if (n > UINT32_MAX / 2) n = UINT32_MAX / 2;
    size_t need = r->len + n + 1 + SL_HTTP_PADDING;
    if (need > r->cap) {
        size_t c = r->cap ? r->cap : 4096;
        while (c < need)
            c *= 2;
        r->buf = sl_xrealloc(r->buf, c);
        r->cap = c;
    }
    if (r->n == r->ncap) {
        r->ncap = r->ncap ? r->ncap * 2 : 256;
        r->msg = sl_xrealloc(r->msg, (size_t)r->ncap * sizeof *r->msg);
    }
    char *d = r->buf + r->len;
    memcpy(d, p, n);
    /* a pretty-printed value's line breaks (lines have none) */
    for (char *q = memchr(d, '\n', n); q; q = memchr(q + 1, '\n', (size_t)(d + n - q - 1)))
        *q = ' ';
    for (char *q = memchr(d, '\r', n); q; q = memchr(q + 1, '\r', (size_t)(d + n - q - 1)))
        *q = ' ';
    d[n] = '\n';
    r->msg[r->n] = (sl_poll_msg){(uint32_t)r->len, (uint32_t)n, 0, r->n};
    r->n++;
    r->len += n + 1;
    memset(r->buf + r->len, 0, SL_HTTP_PADDING);
}

/* ---- the JSON scanner ---- */

static const char *ws(const char *p, const char *e) {
    while (p < e && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
        p++;
    return p;
}

/* p at '"': the byte after the closing quote, or NULL. */
static const char *scan_string(const char *p, const char *e) {
    for (p++; p < e; p++) {
        if (*p == '\\') {
            p++;
            continue;
        }
        if (*p == '"') return p + 1;
    }
    return NULL;
}

/* p at a value: the byte after it, or NULL when it does not end. */
static const char *scan_value(const char *p, const char *e) {
    if (p >= e) return NULL;
    if (*p == '"') return scan_string(p, e);
    if (*p == '{' || *p == '[') {
        long depth = 0;
        while (p < e) {
            char c = *p;
            if (c == '"') {
                if (!(p = scan_string(p, e))) return NULL;
                continue;
            }
            if (c == '{' || c == '[') depth++;
            if (c == '}' || c == ']') {
                if (--depth == 0) return p + 1;
            }
            p++;
        }
        return NULL;
    }
    const char *s = p;
    while (p < e && !strchr(" \t\r\n,:]}[{\"", *p))
        p++;
    return p > s ? p : NULL;
}

static int split_lines(const char *b, size_t len, sl_http_records *out) {
    const char *p = b, *e = b + len;
    while (p < e) {
        const char *nl = memchr(p, '\n', (size_t)(e - p));
        const char *le = nl ? nl : e;
        size_t n = (size_t)(le - p);
        if (n && p[n - 1] == '\r') n--;
        if (n) sl_http_records_add(out, p, n);
        p = nl ? nl + 1 : e;
    }
    return 0;
}

/* Whether [p, le) holds exactly one JSON value (and whitespace). */
static bool line_complete(const char *p, const char *le) {
    p = ws(p, le);
    const char *v = p < le ? scan_value(p, le) : NULL;
    return v && ws(v, le) == le;
}

/* NDJSON when the first non-empty line is a value by itself, or when two
 * lines are objects by themselves: a pretty-printed value starts with a
 * line holding only its opening bracket, and its inner lines end in ',' or
 * ':' (its last element alone may stand by itself, never two of them). */
static bool looks_ndjson(const char *p, const char *e) {
    int objects = 0;
    bool first = true;
    while (p < e) {
        const char *nl = memchr(p, '\n', (size_t)(e - p));
        const char *le = nl ? nl : e;
        const char *q = ws(p, le);
        if (q < le) {
            bool whole = line_complete(q, le);
            if (first && whole) return true;
            first = false;
            if (whole && *q == '{' && ++objects >= 2) return true;
        }
        p = nl ? nl + 1 : e;
    }
    return false;
}

int sl_http_split(const char *body, size_t len, bool json, sl_http_records *out, char *why,
                  size_t cap) {
    const char *p = body, *e = body + len;
    /* records never hold more bytes than the body, plus one '\n' each: one
     * allocation instead of a doubling series */
    size_t need = out->len + len + 2 + SL_HTTP_PADDING;
    if (need > out->cap) {
        out->buf = sl_xrealloc(out->buf, need);
        out->cap = need;
    }
    if (len >= 3 && !memcmp(p, "\xEF\xBB\xBF", 3)) p += 3; /* a UTF-8 byte order mark */
    if (!json) return split_lines(p, (size_t)(e - p), out);
    p = ws(p, e);
    int first = out->n;
    if (p < e && *p == '[') {
        p = ws(p + 1, e);
        int i = 0;
        if (p < e && *p == ']') {
            p++;
        } else {
            for (;; i++) {
                const char *v = scan_value(p, e);
                if (!v) {
                    snprintf(why, cap, "JSON array: element %d does not end (byte %zu)", i + 1,
                             (size_t)(p - body));
                    goto broken;
                }
                sl_http_records_add(out, p, (size_t)(v - p));
                p = ws(v, e);
                if (p < e && *p == ',') {
                    p = ws(p + 1, e);
                    continue;
                }
                if (p < e && *p == ']') {
                    p++;
                    break;
                }
                snprintf(why, cap, "JSON array: expected ',' or ']' after element %d (byte %zu)",
                         i + 1, (size_t)(p - body));
                goto broken;
            }
        }
        p = ws(p, e);
        if (p < e) {
            snprintf(why, cap, "JSON array: bytes after its end (byte %zu)", (size_t)(p - body));
            goto broken;
        }
        return 0;
    }
    /* NDJSON: taken line by line, so a bad line is one quarantined record
     * and can never swallow the lines after it (an unclosed '{' would) */
    if (looks_ndjson(p, e)) return split_lines(p, (size_t)(e - p), out);
    /* one value (pretty-printed) or values separated by whitespace; when a
     * value does not end, line by line after all */
    while (p < e) {
        const char *v = scan_value(p, e);
        if (!v) {
            out->n = first;
            out->len = first ? out->msg[first - 1].off + out->msg[first - 1].len + 1 : 0;
            return split_lines(body, len, out);
        }
        sl_http_records_add(out, p, (size_t)(v - p));
        p = ws(v, e);
    }
    return 0;
broken:
    out->n = first;
    out->len = first ? out->msg[first - 1].off + out->msg[first - 1].len + 1 : 0;
    return 400;
}

/* ---- OTLP/HTTP JSON logs ---- */

typedef struct {
    const char *p, *e;
    bool bad;
} jcur;

static bool key_is(const char *k, size_t kl, const char *name) {
    return strlen(name) == kl && !memcmp(k, name, kl);
}

/* Next member of the object c is in (c->p after '{' or after a member):
 * false at '}' or on a syntax error (c->bad). */
static bool obj_next(jcur *c, const char **k, size_t *kl, const char **v, const char **ve) {
    const char *p = ws(c->p, c->e);
    if (p < c->e && *p == ',') p = ws(p + 1, c->e);
    if (p < c->e && *p == '}') {
        c->p = p + 1;
        return false;
    }
    const char *ke;
    if (p >= c->e || *p != '"' || !(ke = scan_string(p, c->e))) goto bad;
    *k = p + 1;
    *kl = (size_t)(ke - p - 2);
    p = ws(ke, c->e);
    if (p >= c->e || *p != ':') goto bad;
    p = ws(p + 1, c->e);
    *v = p;
    if (!(*ve = scan_value(p, c->e))) goto bad;
    c->p = *ve;
    return true;
bad:
    c->bad = true;
    return false;
}

static bool arr_next(jcur *c, const char **v, const char **ve) {
    const char *p = ws(c->p, c->e);
    if (p < c->e && *p == ',') p = ws(p + 1, c->e);
    if (p < c->e && *p == ']') {
        c->p = p + 1;
        return false;
    }
    *v = p;
    if (!(*ve = scan_value(p, c->e))) {
        c->bad = true;
        return false;
    }
    c->p = *ve;
    return true;
}

/* A cursor inside [v, ve) when it is an object (open '{') or array ('['). */
static bool open_in(jcur *c, const char *v, const char *ve, char open) {
    if (!v || v >= ve || *v != open) return false;
    *c = (jcur){v + 1, ve, false};
    return true;
}

typedef struct {
    char *p;
    size_t n, cap;
    size_t names[128]; /* offsets of the names written (after the quote) */
    size_t nlen[128];
    int nnames;
} obuf;

static void ob_put(obuf *b, const char *s, size_t n) {
    if (b->n + n + 1 > b->cap) {
        size_t c = b->cap ? b->cap * 2 : 1024;
        while (c < b->n + n + 1)
            c *= 2;
        b->p = sl_xrealloc(b->p, c);
        b->cap = c;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
}

static void ob_puts(obuf *b, const char *s) { ob_put(b, s, strlen(s)); }

/* A JSON string of raw text (escaping quotes, backslashes and controls). */
static void ob_json_text(obuf *b, const char *s, size_t n) {
    ob_put(b, "\"", 1);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') {
            char esc[2] = {'\\', (char)c};
            ob_put(b, esc, 2);
        } else if (c < 0x20) {
            char esc[8];
            snprintf(esc, sizeof esc, "\\u%04x", c);
            ob_put(b, esc, 6);
        } else {
            ob_put(b, s + i, 1);
        }
    }
    ob_put(b, "\"", 1);
}

/* Starts member `name` (sanitized): false when a member of that name was
 * already written to this object. */
static bool ob_key(obuf *b, const char *name, size_t n) {
    char clean[128];
    if (n >= sizeof clean) n = sizeof clean - 1;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        clean[i] =
            (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ? c : '_';
    }
    if (!n) return false;
    for (int i = 0; i < b->nnames; i++)
        if (b->nlen[i] == n && !memcmp(b->p + b->names[i], clean, n)) return false;
    ob_puts(b, b->n > 1 ? ",\"" : "\"");
    if (b->nnames < 128) {
        b->names[b->nnames] = b->n;
        b->nlen[b->nnames++] = n;
    }
    ob_put(b, clean, n);
    ob_put(b, "\":", 2);
    return true;
}

/* An AnyValue object ({"stringValue":"x"}, ...) as a JSON value. */
static void ob_anyvalue(obuf *b, const char *v, const char *ve) {
    jcur c;
    const char *k, *x, *xe;
    size_t kl;
    if (open_in(&c, v, ve, '{') && obj_next(&c, &k, &kl, &x, &xe)) {
        if (key_is(k, kl, "stringValue") || key_is(k, kl, "boolValue") ||
            key_is(k, kl, "doubleValue")) {
            ob_put(b, x, (size_t)(xe - x));
            return;
        }
        if (key_is(k, kl, "intValue")) { /* int64 is a JSON string in OTLP */
            const char *d = x, *de = xe;
            if (*d == '"') d++, de--;
            size_t dn = de > d ? (size_t)(de - d) : 0;
            if (dn && dn < 21 && strspn(d, "-0123456789") >= dn) {
                ob_put(b, d, dn);
                return;
            }
        }
        ob_json_text(b, x, (size_t)(xe - x));
        return;
    }
    ob_puts(b, "null");
}

static void ob_attributes(obuf *b, const char *v, const char *ve) {
    jcur a;
    const char *kv, *kve;
    if (!open_in(&a, v, ve, '[')) return;
    while (arr_next(&a, &kv, &kve)) {
        jcur o;
        const char *k, *x, *xe, *name = NULL, *name_e = NULL, *val = NULL, *val_e = NULL;
        size_t kl;
        if (!open_in(&o, kv, kve, '{')) continue;
        while (obj_next(&o, &k, &kl, &x, &xe)) {
            if (key_is(k, kl, "key") && *x == '"') name = x + 1, name_e = xe - 1;
            if (key_is(k, kl, "value")) val = x, val_e = xe;
        }
        if (!name || !ob_key(b, name, (size_t)(name_e - name))) continue;
        if (val)
            ob_anyvalue(b, val, val_e);
        else
            ob_puts(b, "null");
    }
}

static int64_t nanos(const char *x, const char *xe) {
    if (*x == '"') x++, xe--;
    int64_t ns = 0;
    for (; x < xe; x++) {
        if (*x < '0' || *x > '9' || ns > INT64_MAX / 10) return 0;
        ns = ns * 10 + (*x - '0');
    }
    return ns;
}

static void log_record(obuf *b, const char *lr, const char *lre, const char *rattr,
                       const char *rattr_e, const char *scope, size_t scope_len,
                       sl_http_records *out) {
    jcur c;
    if (!open_in(&c, lr, lre, '{')) return;
    const char *f[8] = {0}, *fe[8] = {0};
    static const char *const names[8] = {
        "timeUnixNano", "observedTimeUnixNano", "severityNumber", "severityText",
        "body",         "attributes",           "traceId",        "spanId"};
    const char *k, *x, *xe;
    size_t kl;
    while (obj_next(&c, &k, &kl, &x, &xe))
        for (int i = 0; i < 8; i++)
            if (key_is(k, kl, names[i])) f[i] = x, fe[i] = xe;
    b->n = 0;
    b->nnames = 0;
    ob_put(b, "{", 1);
    int64_t ns = f[0] ? nanos(f[0], fe[0]) : 0;
    if (!ns && f[1]) ns = nanos(f[1], fe[1]);
    char ts[40];
    ob_key(b, "time", 4);
    if (ns && sl_time_format_iso_us(ns / 1000, ts, sizeof ts) > 0)
        ob_json_text(b, ts, strlen(ts));
    else
        ob_puts(b, "null");
    ob_key(b, "severity_number", 15);
    if (f[2] && *f[2] >= '0' && *f[2] <= '9')
        ob_put(b, f[2], (size_t)(fe[2] - f[2]));
    else
        ob_puts(b, "null");
    ob_key(b, "severity_text", 13);
    if (f[3] && *f[3] == '"')
        ob_put(b, f[3], (size_t)(fe[3] - f[3]));
    else
        ob_puts(b, "null");
    ob_key(b, "body", 4);
    if (f[4])
        ob_anyvalue(b, f[4], fe[4]);
    else
        ob_puts(b, "null");
    static const char *const idk[2] = {"trace_id", "span_id"};
    for (int i = 0; i < 2; i++) {
        ob_key(b, idk[i], strlen(idk[i]));
        if (f[6 + i] && *f[6 + i] == '"' && fe[6 + i] - f[6 + i] > 2)
            ob_put(b, f[6 + i], (size_t)(fe[6 + i] - f[6 + i]));
        else
            ob_puts(b, "null");
    }
    ob_key(b, "scope_name", 10);
    if (scope)
        ob_put(b, scope, scope_len);
    else
        ob_puts(b, "null");
    if (f[5]) ob_attributes(b, f[5], fe[5]);
    if (rattr) ob_attributes(b, rattr, rattr_e);
    ob_put(b, "}", 1);
    sl_http_records_add(out, b->p, b->n);
}

int sl_http_otlp_logs(const char *body, size_t len, sl_http_records *out, char *why, size_t cap) {
    const char *e = body + len, *p = ws(body, e), *k, *x, *xe;
    size_t kl;
    jcur root;
    const char *rl = NULL, *rle = NULL;
    if (!open_in(&root, p, scan_value(p, e), '{')) {
        snprintf(why, cap, "OTLP logs: the body is not a JSON object");
        return 400;
    }
    while (obj_next(&root, &k, &kl, &x, &xe))
        if (key_is(k, kl, "resourceLogs")) rl = x, rle = xe;
    jcur rls;
    if (root.bad || !open_in(&rls, rl, rle, '[')) {
        snprintf(why, cap, "OTLP logs: expected an object with a \"resourceLogs\" array");
        return 400;
    }
    obuf b = {0};
    const char *r, *re;
    while (arr_next(&rls, &r, &re)) {
        jcur ro;
        if (!open_in(&ro, r, re, '{')) continue;
        const char *rattr = NULL, *rattr_e = NULL, *sl = NULL, *sle = NULL;
        while (obj_next(&ro, &k, &kl, &x, &xe)) {
            jcur res;
            if (key_is(k, kl, "resource") && open_in(&res, x, xe, '{')) {
                const char *k2, *x2, *xe2;
                size_t kl2;
                while (obj_next(&res, &k2, &kl2, &x2, &xe2))
                    if (key_is(k2, kl2, "attributes")) rattr = x2, rattr_e = xe2;
            }
            if (key_is(k, kl, "scopeLogs") || key_is(k, kl, "instrumentationLibraryLogs"))
                sl = x, sle = xe;
        }
        jcur sls;
        if (!open_in(&sls, sl, sle, '[')) continue;
        const char *s, *se;
        while (arr_next(&sls, &s, &se)) {
            jcur so;
            if (!open_in(&so, s, se, '{')) continue;
            const char *scope = NULL, *lrs = NULL, *lrse = NULL;
            size_t scope_len = 0;
            while (obj_next(&so, &k, &kl, &x, &xe)) {
                jcur sc;
                if ((key_is(k, kl, "scope") || key_is(k, kl, "instrumentationLibrary")) &&
                    open_in(&sc, x, xe, '{')) {
                    const char *k2, *x2, *xe2;
                    size_t kl2;
                    while (obj_next(&sc, &k2, &kl2, &x2, &xe2))
                        if (key_is(k2, kl2, "name") && *x2 == '"')
                            scope = x2, scope_len = (size_t)(xe2 - x2);
                }
                if (key_is(k, kl, "logRecords")) lrs = x, lrse = xe;
            }
            jcur lra;
            if (!open_in(&lra, lrs, lrse, '[')) continue;
            const char *lr, *lre;
            while (arr_next(&lra, &lr, &lre))
                log_record(&b, lr, lre, rattr, rattr_e, scope, scope_len, out);
        }
    }
    free(b.p);
    return 0;
}
