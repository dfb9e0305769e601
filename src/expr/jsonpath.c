/*
 * jsonpath.c - json_extract(s, path) and its typed forms: one value out of a
 * JSON text column (syslog's structured_data, a JSON field kept as text).
 *
 * The path must be a constant. It is parsed once, when the expression is
 * compiled, into a list of steps (a key or an array index). A row is then
 * one forward walk over its text: objects and arrays off the path are
 * skipped by bracket counting (their strings must close), so the cost is a
 * scan of the bytes before the value, with no tree and no allocation; a
 * string value without escapes is a view into the input. What the walk
 * cannot read (malformed JSON on the way, a missing key, an index past the
 * end, a scalar where the path goes on) gives NULL, never an error.
 *
 * Path syntax (a subset of JSONPath shared by MySQL, SQLite and PostgreSQL):
 * `$` then steps `.key`, `."any key"`, `['any key']`, `["any key"]`, `[N]`.
 * A bare key is any run of bytes up to the next '.' or '['; quoted keys may
 * hold those and '@' (`$."device@32473".entity_id`). When an object repeats
 * a key, the first occurrence is taken.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "expr/expr_internal.h"

typedef struct jstep {
    bool index;
    int64_t idx;
    const char *key; /* unescaped, in the expression's arena */
    uint32_t klen;
} jstep;

typedef struct jpath {
    int n;
    jstep *s;
} jpath;

/* ---- the path ---- */

/* Parses path into p (steps in arena). Returns -1, or the offset of the error. */
static int path_parse(sl_arena *arena, const char *s, size_t n, jpath *p, const char **why) {
    size_t i = 0, cap = 8;
    p->n = 0;
    p->s = sl_arena_alloc(arena, cap * sizeof *p->s);
    if (n == 0 || s[0] != '$') {
        *why = "a path starts with '$'";
        return 0;
    }
    i = 1;
    while (i < n) {
        jstep st = {0};
        size_t at = i;
        if (s[i] == '.' && i + 1 < n && (s[i + 1] == '"' || s[i + 1] == '\'')) {
            i++;
            goto quoted;
        } else if (s[i] == '.') {
            size_t b = ++i;
            while (i < n && s[i] != '.' && s[i] != '[')
                i++;
            if (i == b) {
                *why = "an empty key";
                return (int)at;
            }
            st.key = sl_arena_strdup(arena, s + b, i - b);
            st.klen = (uint32_t)(i - b);
        } else if (s[i] == '[' && i + 1 < n && (s[i + 1] == '"' || s[i + 1] == '\'')) {
            i++;
        quoted:;
            char q = s[i++];
            char *k = sl_arena_alloc(arena, n - i + 1);
            uint32_t kl = 0;
            while (i < n && s[i] != q) {
                if (s[i] == '\\' && i + 1 < n) i++;
                k[kl++] = s[i++];
            }
            if (i >= n) {
                *why = "an unclosed quoted key";
                return (int)at;
            }
            i++;
            if (s[at] == '[') {
                if (i >= n || s[i] != ']') {
                    *why = "expected ']' after a quoted key";
                    return (int)i;
                }
                i++;
            }
            k[kl] = 0;
            st.key = k;
            st.klen = kl;
        } else if (s[i] == '[') {
            size_t b = ++i;
            int64_t v = 0;
            while (i < n && s[i] >= '0' && s[i] <= '9' && v < 1000000000)
                v = v * 10 + (s[i++] - '0');
            if (i == b || i >= n || s[i] != ']') {
                *why = "expected an index [N] or a quoted key";
                return (int)at;
            }
            i++;
            st.index = true;
            st.idx = v;
        } else {
            *why = "expected '.' or '['";
            return (int)i;
        }
        if ((size_t)p->n == cap) {
            jstep *m = sl_arena_alloc(arena, cap * 2 * sizeof *m);
            memcpy(m, p->s, cap * sizeof *m);
            p->s = m;
            cap *= 2;
        }
        p->s[p->n++] = st;
    }
    return -1;
}

/* ---- the walk ---- */

static const char *ws(const char *p, const char *e) {
    while (p < e && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
        p++;
    return p;
}

/* Past the string starting at p (on its '"'), or NULL. *esc: it has escapes. */
static const char *skip_str(const char *p, const char *e, bool *esc) {
    for (p++; p < e; p++) {
        if (*p == '"') return p + 1;
        if (*p == '\\') {
            if (esc) *esc = true;
            p++;
        }
    }
    return NULL;
}

/* Past the value at p, or NULL when it does not end (or is not a value). */
static const char *skip_val(const char *p, const char *e) {
    if (p >= e) return NULL;
    if (*p == '"') return skip_str(p, e, NULL);
    if (*p == '{' || *p == '[') {
        int depth = 0;
        for (; p < e; p++) {
            if (*p == '"') {
                p = skip_str(p, e, NULL);
                if (!p) return NULL;
                p--;
            } else if (*p == '{' || *p == '[') {
                depth++;
            } else if (*p == '}' || *p == ']') {
                if (--depth == 0) return p + 1;
            }
        }
        return NULL;
    }
    const char *b = p;
    while (p < e && *p != ',' && *p != '}' && *p != ']' && *p != ' ' && *p != '\t' && *p != '\n' &&
           *p != '\r')
        p++;
    return p > b ? p : NULL;
}

static int hexv(char c) {
    return c >= '0' && c <= '9'   ? c - '0'
           : c >= 'a' && c <= 'f' ? c - 'a' + 10
           : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                  : -1;
}

static bool hex4(const char *p, const char *e, unsigned *v) {
    if (e - p < 4) return false;
    *v = 0;
    for (int k = 0; k < 4; k++) {
        int h = hexv(p[k]);
        if (h < 0) return false;
        *v = *v * 16 + (unsigned)h;
    }
    return true;
}

/* Unescapes the body of a JSON string (between its quotes) into out, which
 * has room for len bytes (an escape never grows). Returns the length or -1. */
static long unescape(const char *s, size_t len, char *out) {
    const char *e = s + len;
    char *o = out;
    while (s < e) {
        if (*s != '\\') {
            *o++ = *s++;
            continue;
        }
        if (++s >= e) return -1;
        char c = *s++;
        switch (c) {
        case '"':
        case '\\':
        case '/':
            *o++ = c;
            break;
        case 'b':
            *o++ = '\b';
            break;
        case 'f':
            *o++ = '\f';
            break;
        case 'n':
            *o++ = '\n';
            break;
        case 'r':
            *o++ = '\r';
            break;
        case 't':
            *o++ = '\t';
            break;
        case 'u': {
            unsigned cp, lo;
            if (!hex4(s, e, &cp)) return -1;
            s += 4;
            if (cp >= 0xD800 && cp <= 0xDBFF) {
                if (e - s < 6 || s[0] != '\\' || s[1] != 'u' || !hex4(s + 2, e, &lo) ||
                    lo < 0xDC00 || lo > 0xDFFF)
                    return -1;
                s += 6;
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
                return -1;
            }
            if (cp < 0x80) {
                *o++ = (char)cp;
            } else if (cp < 0x800) {
                *o++ = (char)(0xC0 | cp >> 6);
                *o++ = (char)(0x80 | (cp & 63));
            } else if (cp < 0x10000) {
                *o++ = (char)(0xE0 | cp >> 12);
                *o++ = (char)(0x80 | (cp >> 6 & 63));
                *o++ = (char)(0x80 | (cp & 63));
            } else {
                *o++ = (char)(0xF0 | cp >> 18);
                *o++ = (char)(0x80 | (cp >> 12 & 63));
                *o++ = (char)(0x80 | (cp >> 6 & 63));
                *o++ = (char)(0x80 | (cp & 63));
            }
            break;
        }
        default:
            return -1;
        }
    }
    return o - out;
}

/* Does the raw key text (between quotes) equal want? */
static bool key_eq(const char *k, size_t kl, bool esc, const jstep *st) {
    if (!esc) return kl == st->klen && memcmp(k, st->key, kl) == 0;
    if (kl > 1024) return false;
    char buf[1024];
    long n = unescape(k, kl, buf);
    return n == (long)st->klen && memcmp(buf, st->key, (size_t)n) == 0;
}

/* The value at the end of the path: [*vb, *ve). False when absent or malformed. */
static bool walk(const jpath *path, const char *p, const char *e, const char **vb,
                 const char **ve) {
    p = ws(p, e);
    for (int k = 0; k < path->n; k++) {
        const jstep *st = &path->s[k];
        if (p >= e) return false;
        if (st->index) {
            if (*p != '[') return false;
            p = ws(p + 1, e);
            if (p < e && *p == ']') return false;
            for (int64_t i = 0;; i++) {
                if (i == st->idx) break;
                if (!(p = skip_val(p, e))) return false;
                p = ws(p, e);
                if (p >= e || *p != ',') return false; /* ']' here: past the end */
                p = ws(p + 1, e);
            }
        } else {
            if (*p != '{') return false;
            p = ws(p + 1, e);
            if (p < e && *p == '}') return false;
            for (;;) {
                if (p >= e || *p != '"') return false;
                bool esc = false;
                const char *kb = p + 1, *kend = skip_str(p, e, &esc);
                if (!kend) return false;
                p = ws(kend, e);
                if (p >= e || *p != ':') return false;
                p = ws(p + 1, e);
                if (key_eq(kb, (size_t)(kend - 1 - kb), esc, st)) break;
                if (!(p = skip_val(p, e))) return false;
                p = ws(p, e);
                if (p >= e || *p != ',') return false;
                p = ws(p + 1, e);
            }
        }
    }
    const char *end = skip_val(p, e);
    if (!end) return false;
    *vb = p;
    *ve = end;
    return true;
}

/* ---- kernels ---- */

/* A JSON number's text: '-'? digits ('.' digits)? ([eE] [+-]? digits)?. *integral: no '.' or
 * exponent. */
static bool is_number(const char *p, size_t n, bool *integral) {
    size_t i = p[0] == '-';
    size_t d = i;
    while (i < n && p[i] >= '0' && p[i] <= '9')
        i++;
    if (i == d) return false;
    *integral = true;
    if (i < n && p[i] == '.') {
        *integral = false;
        size_t f = ++i;
        while (i < n && p[i] >= '0' && p[i] <= '9')
            i++;
        if (i == f) return false;
    }
    if (i < n && (p[i] == 'e' || p[i] == 'E')) {
        *integral = false;
        i++;
        if (i < n && (p[i] == '+' || p[i] == '-')) i++;
        size_t x = i;
        while (i < n && p[i] >= '0' && p[i] <= '9')
            i++;
        if (i == x) return false;
    }
    return i == n;
}

static void ev_json_extract(node *n, sl_batch *b, uint32_t rows) {
    const jpath *path = n->aux;
    const sl_column *x = &n->k[0]->res;
    for (uint32_t i = 0; i < rows; i++) {
        n->res.null[i] = 1;
        n->res.v.s[i] = (sl_str){"", 0};
        if (x->null[i]) continue;
        const char *vb, *ve;
        sl_str s = x->v.s[i];
        if (!walk(path, s.ptr, s.ptr + s.len, &vb, &ve)) continue;
        size_t len = (size_t)(ve - vb);
        bool integral;
        if (*vb == '"') {
            bool esc = false;
            skip_str(vb, ve, &esc);
            if (!esc) {
                n->res.v.s[i] = (sl_str){vb + 1, (uint32_t)(len - 2)};
            } else {
                char *o = sl_arena_alloc(b->arena, len);
                long ol = unescape(vb + 1, len - 2, o);
                if (ol < 0) continue;
                n->res.v.s[i] = (sl_str){o, (uint32_t)ol};
            }
        } else if (*vb == '{' || *vb == '[') {
            n->res.v.s[i] = (sl_str){vb, (uint32_t)len}; /* its JSON text */
        } else if ((len == 4 && !memcmp(vb, "true", 4)) || (len == 5 && !memcmp(vb, "false", 5)) ||
                   is_number(vb, len, &integral)) {
            n->res.v.s[i] = (sl_str){vb, (uint32_t)len}; /* as written */
        } else {
            continue; /* null, or not a JSON value (`tru`) */
        }
        n->res.null[i] = 0;
    }
}

/* iarg: SL_T_INT, SL_T_DOUBLE or SL_T_BOOL: the JSON value of that type, else NULL. */
static void ev_json_typed(node *n, sl_batch *b, uint32_t rows) {
    (void)b;
    const jpath *path = n->aux;
    const sl_column *x = &n->k[0]->res;
    for (uint32_t i = 0; i < rows; i++) {
        n->res.null[i] = 1;
        if (n->iarg == SL_T_BOOL) /* a bool column holds one byte per row */
            n->res.v.b[i] = 0;
        else
            n->res.v.i[i] = 0;
        if (x->null[i]) continue;
        const char *vb, *ve;
        sl_str s = x->v.s[i];
        if (!walk(path, s.ptr, s.ptr + s.len, &vb, &ve)) continue;
        size_t len = (size_t)(ve - vb);
        bool integral;
        if (n->iarg == SL_T_BOOL) {
            if (len == 4 && !memcmp(vb, "true", 4))
                n->res.v.b[i] = 1;
            else if (len == 5 && !memcmp(vb, "false", 5))
                n->res.v.b[i] = 0;
            else
                continue;
        } else if (len < 64 && is_number(vb, len, &integral)) {
            char buf[64];
            memcpy(buf, vb, len);
            buf[len] = 0;
            if (n->iarg == SL_T_INT) {
                if (!integral) continue;
                int64_t v = 0;
                bool ovf = false, neg = buf[0] == '-';
                for (size_t k = neg; k < len; k++)
                    ovf |= __builtin_mul_overflow(v, 10, &v) ||
                           __builtin_add_overflow(v, neg ? -(buf[k] - '0') : buf[k] - '0', &v);
                if (ovf) continue;
                n->res.v.i[i] = v;
            } else {
                n->res.v.d[i] = strtod(buf, NULL);
            }
        } else {
            continue;
        }
        n->res.null[i] = 0;
    }
}

/* ---- building ---- */

static node *build_json(comp *c, node **a, int nk, int off, sl_type rt, node_eval ev) {
    if (is_null_lit(a[1])) return node_lit_null(c, rt, off);
    if (!is_lit(a[1])) {
        comp_error(c, a[1]->off, SL_EINVAL, "the path of json_extract() must be a constant string");
        return NULL;
    }
    jpath *p = sl_arena_alloc(c->e->arena, sizeof *p);
    const char *why = "";
    int at = path_parse(c->e->arena, a[1]->lit.s.ptr, a[1]->lit.s.len, p, &why);
    if (at >= 0) {
        comp_error(c, a[1]->off, SL_EINVAL, "bad JSON path at offset %d: %s", at, why);
        return NULL;
    }
    node *n = node_op(c, ev, rt, off, nk, a);
    if (!n) return NULL;
    n->aux = p;
    n->iarg = rt;
    return node_finish(c, n, true);
}

node *build_json_extract(comp *c, node **a, int nk, int off) {
    return build_json(c, a, nk, off, SL_T_STRING, ev_json_extract);
}
node *build_json_extract_int(comp *c, node **a, int nk, int off) {
    return build_json(c, a, nk, off, SL_T_INT, ev_json_typed);
}
node *build_json_extract_double(comp *c, node **a, int nk, int off) {
    return build_json(c, a, nk, off, SL_T_DOUBLE, ev_json_typed);
}
node *build_json_extract_bool(comp *c, node **a, int nk, int off) {
    return build_json(c, a, nk, off, SL_T_BOOL, ev_json_typed);
}
