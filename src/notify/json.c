/*
 * json.c - a growable string and a small JSON reader/writer for payloads.
 *
 * Payloads are a few kilobytes written by the engine, parsed once per
 * notification off the data path: a plain recursive reader is enough, and it
 * refuses malformed text (depth, escapes, trailing bytes) instead of trusting it.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/mem.h"
#include "notify/internal.h"

/* ---- reader ---- */
typedef struct jp {
    const char *s, *end;
    int depth;
} jp;

static void ws(jp *p) {
    while (p->s < p->end && (*p->s == ' ' || *p->s == '\t' || *p->s == '\n' || *p->s == '\r'))
        p->s++;
}

static void put_utf8(sl_strbuf *b, unsigned cp) {
    char u[4];
    if (cp < 0x80) {
        u[0] = (char)cp;
        sl_strbuf_add(b, u, 1);
    } else if (cp < 0x800) {
        u[0] = (char)(0xC0 | (cp >> 6));
        u[1] = (char)(0x80 | (cp & 0x3F));
        sl_strbuf_add(b, u, 2);
    } else if (cp < 0x10000) {
        u[0] = (char)(0xE0 | (cp >> 12));
        u[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        u[2] = (char)(0x80 | (cp & 0x3F));
        sl_strbuf_add(b, u, 3);
    } else {
        u[0] = (char)(0xF0 | (cp >> 18));
        u[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
        u[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
        u[3] = (char)(0x80 | (cp & 0x3F));
        sl_strbuf_add(b, u, 4);
    }
}

static int hex4(const char *s, unsigned *out) {
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        char c = s[i];
        v <<= 4;
        if (c >= '0' && c <= '9')
            v |= (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f')
            v |= (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            v |= (unsigned)(c - 'A' + 10);
        else
            return -1;
    }
    *out = v;
    return 0;
}

static char *read_string(jp *p) {
    if (p->s >= p->end || *p->s != '"') return NULL;
    p->s++;
    sl_strbuf b = {0};
    sl_strbuf_add(&b, "", 0);
    while (p->s < p->end && *p->s != '"') {
        unsigned char c = (unsigned char)*p->s;
        if (c < 0x20) goto bad;
        if (c != '\\') {
            sl_strbuf_add(&b, p->s++, 1);
            continue;
        }
        if (p->end - p->s < 2) goto bad;
        char e = p->s[1];
        p->s += 2;
        const char *simple = strchr("\"\\/bfnrt", e);
        if (e && simple) {
            static const char to[] = "\"\\/\b\f\n\r\t";
            sl_strbuf_add(&b, &to[simple - "\"\\/bfnrt"], 1);
        } else if (e == 'u') {
            unsigned cp, lo;
            if (p->end - p->s < 4 || hex4(p->s, &cp)) goto bad;
            p->s += 4;
            if (cp >= 0xD800 && cp < 0xDC00) {
                if (p->end - p->s < 6 || p->s[0] != '\\' || p->s[1] != 'u' || hex4(p->s + 2, &lo) ||
                    lo < 0xDC00 || lo > 0xDFFF)
                    goto bad;
                p->s += 6;
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            } else if (cp >= 0xDC00 && cp < 0xE000) {
                goto bad;
            }
            put_utf8(&b, cp);
        } else {
            goto bad;
        }
    }
    if (p->s >= p->end) goto bad;
    p->s++;
    return b.p;
bad:
    sl_strbuf_free(&b);
    return NULL;
}

static bool read_value(jp *p, sl__jv *v);

static bool read_container(jp *p, sl__jv *v, bool obj) {
    char close = obj ? '}' : ']';
    p->s++;
    if (++p->depth > 32) return false;
    int cap = 0;
    ws(p);
    if (p->s < p->end && *p->s == close) {
        p->s++;
        p->depth--;
        return true;
    }
    for (;;) {
        if (v->n == cap) {
            cap = cap ? cap * 2 : 8;
            v->kids = sl_xreallocarray(v->kids, (size_t)cap, sizeof *v->kids);
            if (obj) v->keys = sl_xreallocarray(v->keys, (size_t)cap, sizeof *v->keys);
        }
        ws(p);
        memset(&v->kids[v->n], 0, sizeof v->kids[0]);
        if (obj) {
            v->keys[v->n] = read_string(p);
            if (!v->keys[v->n]) return false;
            ws(p);
            if (p->s >= p->end || *p->s != ':') {
                v->n++;
                return false;
            }
            p->s++;
            ws(p);
        }
        bool ok = read_value(p, &v->kids[v->n]);
        v->n++;
        if (!ok) return false;
        ws(p);
        if (p->s < p->end && *p->s == ',') {
            p->s++;
            continue;
        }
        if (p->s < p->end && *p->s == close) {
            p->s++;
            p->depth--;
            return true;
        }
        return false;
    }
}

static bool read_value(jp *p, sl__jv *v) {
    ws(p);
    if (p->s >= p->end) return false;
    char c = *p->s;
    if (c == '{' || c == '[') {
        v->t = c == '{' ? SL__J_OBJ : SL__J_ARR;
        return read_container(p, v, c == '{');
    }
    if (c == '"') {
        v->t = SL__J_STR;
        v->s = read_string(p);
        return v->s != NULL;
    }
    static const char *const lits[] = {"null", "true", "false"};
    for (int i = 0; i < 3; i++) {
        size_t n = strlen(lits[i]);
        if ((size_t)(p->end - p->s) >= n && !memcmp(p->s, lits[i], n)) {
            v->t = i ? SL__J_BOOL : SL__J_NULL;
            v->s = i ? sl_xstrdup(lits[i]) : NULL;
            p->s += n;
            return true;
        }
    }
    const char *start = p->s;
    if (p->s < p->end && *p->s == '-') p->s++;
    if (p->s >= p->end || *p->s < '0' || *p->s > '9') return false;
    while (p->s < p->end && strchr("0123456789.eE+-", *p->s))
        p->s++;
    char *num = sl_xstrndup(start, (size_t)(p->s - start));
    char *endp;
    strtod(num, &endp);
    if (*endp) {
        free(num);
        return false;
    }
    v->t = SL__J_NUM;
    v->s = num;
    return true;
}

static void free_inner(sl__jv *v) {
    for (int i = 0; i < v->n; i++) {
        free_inner(&v->kids[i]);
        if (v->keys) free(v->keys[i]);
    }
    free(v->kids);
    free(v->keys);
    free(v->s);
}

sl__jv *sl__json_parse(const char *text, size_t len) {
    jp p = {text, text + len, 0};
    sl__jv *v = sl_xcalloc(1, sizeof *v);
    bool ok = read_value(&p, v);
    ws(&p);
    if (!ok || p.s != p.end) {
        sl__json_free(v);
        return NULL;
    }
    return v;
}

void sl__json_free(sl__jv *v) {
    if (!v) return;
    free_inner(v);
    free(v);
}

const sl__jv *sl__json_get(const sl__jv *obj, const char *key) {
    if (!obj || obj->t != SL__J_OBJ) return NULL;
    const sl__jv *found = NULL;
    for (int i = 0; i < obj->n; i++)
        if (!strcmp(obj->keys[i], key)) found = &obj->kids[i]; /* the last one wins */
    return found;
}

const char *sl__json_str(const sl__jv *obj, const char *key) {
    const sl__jv *v = sl__json_get(obj, key);
    return v && v->s && (v->t == SL__J_STR || v->t == SL__J_NUM || v->t == SL__J_BOOL) ? v->s : "";
}

void sl__json_write(sl_strbuf *b, const sl__jv *v) {
    switch (v->t) {
    case SL__J_NULL:
        sl_strbuf_puts(b, "null");
        break;
    case SL__J_BOOL:
    case SL__J_NUM:
        sl_strbuf_puts(b, v->s);
        break;
    case SL__J_STR:
        sl_strbuf_json(b, v->s, 0);
        break;
    case SL__J_ARR:
    case SL__J_OBJ:
        sl_strbuf_puts(b, v->t == SL__J_OBJ ? "{" : "[");
        for (int i = 0; i < v->n; i++) {
            if (i) sl_strbuf_puts(b, ",");
            if (v->t == SL__J_OBJ) {
                sl_strbuf_json(b, v->keys[i], 0);
                sl_strbuf_puts(b, ":");
            }
            sl__json_write(b, &v->kids[i]);
        }
        sl_strbuf_puts(b, v->t == SL__J_OBJ ? "}" : "]");
        break;
    }
}
