/*
 * funcs.c - the scalar functions: one table row per function, and their
 * batch kernels.
 *
 * A row gives the name, the argument count range, one letter per argument
 * saying what it accepts (and what it is converted to), one letter for the
 * result type, the kernel and a small parameter that lets one kernel serve a
 * family (lower/upper, sqrt/ln/log10/exp, year/month/...). Type checking is
 * generic over that table; the few functions with extra rules (date_trunc's
 * unit, COALESCE's folding, NULLIF's rewrite) add a hook. Adding a function
 * is adding a row and, if no kernel fits, one loop.
 *
 * Argument letters: s string, i int, n number (int or double, kept),
 * d number converted to double, t timestamp (a string literal is parsed at
 * compile time), a any (converted to string), v value (all v arguments are
 * unified to one type), x unchecked. The last letter repeats for variadic
 * functions. Result letters: s i d b t, N = type of the first argument,
 * V = the unified type.
 *
 * Strings a function builds come from b->arena, one allocation per batch
 * where the total size is known up front (lower, upper, concat); substr and
 * trim return views into their input and allocate nothing.
 */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <math.h>
#include <pcre2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/timeutil.h"
#include "expr/expr_internal.h"

static const char empty_str[1] = "";

typedef struct fdef fdef;
struct fdef {
    const char *name;
    int min, max; /* max -1: variadic */
    const char *args;
    char ret;
    node_eval ev;
    int64_t iarg;
    bool strict; /* NULL in any argument -> NULL */
    int (*check)(comp *c, node **a, int nk, int64_t *iarg);
    node *(*build)(comp *c, node **a, int nk, int off);
};

static inline void set_null_str(sl_column *o, uint32_t i) {
    o->null[i] = 1;
    o->v.s[i] = (sl_str){empty_str, 0};
}

static inline bool any_null(const node *n, uint32_t i) {
    for (int j = 0; j < n->nk; j++)
        if (n->k[j]->res.null[i]) return true;
    return false;
}

uint32_t utf8_len(const char *s, uint32_t n) {
    uint32_t c = 0;
    for (uint32_t i = 0; i < n; i++)
        c += ((unsigned char)s[i] & 0xC0) != 0x80;
    return c;
}

/* Byte offset of character `ch` (0-based) in s, or n when past the end. */
static uint32_t utf8_offset(const char *s, uint32_t n, int64_t ch) {
    uint32_t i = 0;
    while (i < n && ch > 0) {
        i++;
        while (i < n && ((unsigned char)s[i] & 0xC0) == 0x80)
            i++;
        ch--;
    }
    return i;
}

static inline int str_cmp(sl_str a, sl_str b) {
    uint32_t m = a.len < b.len ? a.len : b.len;
    int c = m ? memcmp(a.ptr, b.ptr, m) : 0;
    if (c) return c;
    return a.len < b.len ? -1 : a.len > b.len;
}

/* ---- string kernels ---- */

static void ev_casemap(node *n, sl_batch *b, uint32_t rows) {
    const sl_column *x = &n->k[0]->res;
    uint64_t total = 0;
    for (uint32_t i = 0; i < rows; i++)
        if (!x->null[i]) total += x->v.s[i].len;
    char *p = sl_arena_alloc(b->arena, total ? total : 1); /* never NULL */
    bool upper = n->iarg == 1;
    for (uint32_t i = 0; i < rows; i++) {
        if (x->null[i]) {
            set_null_str(&n->res, i);
            continue;
        }
        sl_str s = x->v.s[i];
        for (uint32_t j = 0; j < s.len; j++) {
            unsigned char ch = (unsigned char)s.ptr[j];
            if (upper)
                p[j] = (char)(ch >= 'a' && ch <= 'z' ? ch - 32 : ch);
            else
                p[j] = (char)(ch >= 'A' && ch <= 'Z' ? ch + 32 : ch);
        }
        n->res.null[i] = 0;
        n->res.v.s[i] = (sl_str){s.len ? p : empty_str, s.len};
        p += s.len;
    }
}

static void ev_length(node *n, sl_batch *b, uint32_t rows) {
    (void)b;
    const sl_column *x = &n->k[0]->res;
    for (uint32_t i = 0; i < rows; i++) {
        n->res.null[i] = x->null[i] != 0;
        n->res.v.i[i] = x->null[i] ? 0 : utf8_len(x->v.s[i].ptr, x->v.s[i].len);
    }
}

/* substr(s, start[, len]) with SQLite's rules for start <= 0 and negative len. */
static void ev_substr(node *n, sl_batch *b, uint32_t rows) {
    (void)b;
    const sl_column *x = &n->k[0]->res, *st = &n->k[1]->res, *ln = n->nk > 2 ? &n->k[2]->res : NULL;
    for (uint32_t i = 0; i < rows; i++) {
        if (any_null(n, i)) {
            set_null_str(&n->res, i);
            continue;
        }
        sl_str s = x->v.s[i];
        int64_t nch = utf8_len(s.ptr, s.len), p1 = st->v.i[i], p2 = nch;
        bool negp2 = false;
        if (ln) {
            p2 = ln->v.i[i];
            if (p2 < 0) {
                negp2 = true;
                p2 = p2 == INT64_MIN ? INT64_MAX : -p2;
            }
        }
        if (p1 < 0) {
            p1 += nch; /* p1 < 0 and 0 <= p2: neither sum can overflow */
            if (p1 < 0) {
                p2 = p2 + p1 < 0 ? 0 : p2 + p1;
                p1 = 0;
            }
        } else if (p1 > 0) {
            p1--;
        } else if (p2 > 0) {
            p2--;
        }
        if (negp2) {
            if (p2 > p1) {
                p2 = p1;
                p1 = 0;
            } else {
                p1 -= p2;
            }
        }
        if (p1 >= nch) {
            n->res.null[i] = 0;
            n->res.v.s[i] = (sl_str){empty_str, 0};
            continue;
        }
        if (p2 > nch - p1) p2 = nch - p1;
        uint32_t from = utf8_offset(s.ptr, s.len, p1);
        uint32_t to = from + utf8_offset(s.ptr + from, s.len - from, p2);
        n->res.null[i] = 0;
        n->res.v.s[i] = (sl_str){s.ptr + from, to - from};
    }
}

/* iarg bit 1: trim left, bit 2: trim right */
static void ev_trim(node *n, sl_batch *b, uint32_t rows) {
    (void)b;
    static const char ws[] = " \t\n\r\f\v";
    const sl_column *x = &n->k[0]->res, *cs = n->nk > 1 ? &n->k[1]->res : NULL;
    for (uint32_t i = 0; i < rows; i++) {
        if (any_null(n, i)) {
            set_null_str(&n->res, i);
            continue;
        }
        const char *set = cs ? cs->v.s[i].ptr : ws;
        size_t nset = cs ? cs->v.s[i].len : sizeof ws - 1;
        sl_str s = x->v.s[i];
        uint32_t lo = 0, hi = s.len;
        if (nset) {
            if (n->iarg & 1)
                while (lo < hi && memchr(set, s.ptr[lo], nset))
                    lo++;
            if (n->iarg & 2)
                while (hi > lo && memchr(set, s.ptr[hi - 1], nset))
                    hi--;
        }
        n->res.null[i] = 0;
        n->res.v.s[i] = (sl_str){hi > lo ? s.ptr + lo : empty_str, hi - lo};
    }
}

static void ev_replace(node *n, sl_batch *b, uint32_t rows) {
    const sl_column *x = &n->k[0]->res, *f = &n->k[1]->res, *t = &n->k[2]->res;
    for (uint32_t i = 0; i < rows; i++) {
        if (any_null(n, i)) {
            set_null_str(&n->res, i);
            continue;
        }
        sl_str s = x->v.s[i], from = f->v.s[i], to = t->v.s[i];
        n->res.null[i] = 0;
        n->res.v.s[i] = s;
        if (from.len == 0 || s.len < from.len) continue;
        uint64_t count = 0;
        for (const char *p = s.ptr, *end = s.ptr + s.len;
             (p = memmem(p, (size_t)(end - p), from.ptr, from.len)); p += from.len)
            count++;
        if (!count) continue;
        uint64_t len = s.len - count * from.len + count * to.len;
        if (len > UINT32_MAX) {
            set_null_str(&n->res, i);
            continue;
        }
        char *out = sl_arena_alloc(b->arena, len ? len : 1), *o = out;
        const char *p = s.ptr, *end = s.ptr + s.len, *m;
        while ((m = memmem(p, (size_t)(end - p), from.ptr, from.len))) {
            memcpy(o, p, (size_t)(m - p));
            o += m - p;
            if (to.len) memcpy(o, to.ptr, to.len);
            o += to.len;
            p = m + from.len;
        }
        memcpy(o, p, (size_t)(end - p));
        n->res.v.s[i] = (sl_str){out, (uint32_t)len};
    }
}

/* split_part(s, delim, n) as in PostgreSQL: the n-th field (1-based; n < 0
 * counts from the end); '' when there is no such field; an empty delimiter
 * makes s the only field; n = 0 gives NULL. A view into s. */
static void ev_split_part(node *n, sl_batch *b, uint32_t rows) {
    (void)b;
    const sl_column *x = &n->k[0]->res, *d = &n->k[1]->res, *k = &n->k[2]->res;
    for (uint32_t i = 0; i < rows; i++) {
        int64_t want = k->null[i] ? 0 : k->v.i[i];
        if (any_null(n, i) || want == 0) {
            set_null_str(&n->res, i);
            continue;
        }
        sl_str s = x->v.s[i], dl = d->v.s[i];
        /* the fields' bounds, walked from the front or the back */
        const char *end = s.ptr + s.len, *from = NULL, *to = NULL;
        if (dl.len == 0) {
            if (want == 1 || want == -1) from = s.ptr, to = end;
        } else if (want > 0) {
            const char *p = s.ptr;
            for (int64_t f = 1; p; f++) {
                const char *m = memmem(p, (size_t)(end - p), dl.ptr, dl.len);
                if (f == want) {
                    from = p, to = m ? m : end;
                    break;
                }
                p = m ? m + dl.len : NULL;
            }
        } else {
            const char *q = end; /* the current field ends at q */
            for (int64_t f = -1; q; f--) {
                const char *m = NULL; /* the last delimiter before q */
                for (const char *p = s.ptr;
                     (p = memmem(p, (size_t)(q - p), dl.ptr, dl.len)) && p + dl.len <= q; p++)
                    m = p;
                const char *start = m ? m + dl.len : s.ptr;
                if (f == want) {
                    from = start, to = q;
                    break;
                }
                q = m;
            }
        }
        n->res.null[i] = 0;
        n->res.v.s[i] = from ? (sl_str){from, (uint32_t)(to - from)} : (sl_str){empty_str, 0};
    }
}

/* The path of a URL or of an HTTP request target: what comes after the
 * scheme and authority, before '?' or '#' ("/" when a URL has none). A view. */
static sl_str url_path_of(sl_str u) {
    const char *p = u.ptr, *end = u.ptr + u.len;
    const char *sep = memmem(p, u.len, "://", 3);
    if (sep && memchr(p, '/', (size_t)(sep - p)) == NULL) { /* scheme://authority */
        p = sep + 3;
        while (p < end && *p != '/' && *p != '?' && *p != '#')
            p++;
        if (p == end || *p != '/') return (sl_str){"/", 1};
    }
    const char *q = p;
    while (q < end && *q != '?' && *q != '#')
        q++;
    return (sl_str){p, (uint32_t)(q - p)};
}

static void ev_url_path(node *n, sl_batch *b, uint32_t rows) {
    (void)b;
    const sl_column *x = &n->k[0]->res;
    for (uint32_t i = 0; i < rows; i++) {
        if (x->null[i]) {
            set_null_str(&n->res, i);
            continue;
        }
        n->res.null[i] = 0;
        n->res.v.s[i] = url_path_of(x->v.s[i]);
    }
}

static int hexval(char c) {
    return c >= '0' && c <= '9'   ? c - '0'
           : c >= 'a' && c <= 'f' ? c - 'a' + 10
           : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                  : -1;
}

/* url_param(url, name): the first value of query parameter name, decoded
 * (%XX and '+'); '' for a name without '='; NULL when it is absent. A view
 * unless it needs decoding (then the batch arena). */
static void ev_url_param(node *n, sl_batch *b, uint32_t rows) {
    const sl_column *x = &n->k[0]->res, *k = &n->k[1]->res;
    for (uint32_t i = 0; i < rows; i++) {
        set_null_str(&n->res, i);
        if (any_null(n, i)) continue;
        sl_str u = x->v.s[i], name = k->v.s[i];
        const char *end = u.ptr + u.len;
        const char *q = memchr(u.ptr, '?', u.len);
        const char *hash = memchr(u.ptr, '#', u.len);
        if (!q || (hash && hash < q)) continue;
        if (hash) end = hash;
        for (const char *p = q + 1; p < end;) {
            const char *amp = memchr(p, '&', (size_t)(end - p));
            const char *stop = amp ? amp : end;
            const char *eq = memchr(p, '=', (size_t)(stop - p));
            const char *kend = eq ? eq : stop;
            if ((size_t)(kend - p) == name.len && memcmp(p, name.ptr, name.len) == 0) {
                const char *v = eq ? eq + 1 : stop;
                uint32_t vlen = (uint32_t)(stop - v);
                n->res.null[i] = 0;
                if (!memchr(v, '%', vlen) && !memchr(v, '+', vlen)) {
                    n->res.v.s[i] = (sl_str){vlen ? v : empty_str, vlen};
                    break;
                }
                char *out = sl_arena_alloc(b->arena, vlen), *o = out;
                for (uint32_t j = 0; j < vlen; j++) {
                    int h1, h2;
                    if (v[j] == '+')
                        *o++ = ' ';
                    else if (v[j] == '%' && j + 2 < vlen && (h1 = hexval(v[j + 1])) >= 0 &&
                             (h2 = hexval(v[j + 2])) >= 0) {
                        *o++ = (char)(h1 * 16 + h2);
                        j += 2;
                    } else
                        *o++ = v[j];
                }
                n->res.v.s[i] = (sl_str){out, (uint32_t)(o - out)};
                break;
            }
            p = amp ? amp + 1 : end;
        }
    }
}

/* concat(...): NULL arguments are skipped (as in PostgreSQL), never NULL. */
static void ev_concat_fn(node *n, sl_batch *b, uint32_t rows) {
    uint64_t total = 0;
    for (int j = 0; j < n->nk; j++) {
        const sl_column *x = &n->k[j]->res;
        for (uint32_t i = 0; i < rows; i++)
            if (!x->null[i]) total += x->v.s[i].len;
    }
    char *p = sl_arena_alloc(b->arena, total ? total : 1); /* never NULL */
    for (uint32_t i = 0; i < rows; i++) {
        uint64_t len = 0;
        char *start = p;
        for (int j = 0; j < n->nk; j++) {
            const sl_column *x = &n->k[j]->res;
            if (x->null[i] || !x->v.s[i].len) continue;
            memcpy(p, x->v.s[i].ptr, x->v.s[i].len);
            p += x->v.s[i].len;
            len += x->v.s[i].len;
        }
        if (len > UINT32_MAX) {
            set_null_str(&n->res, i);
            continue;
        }
        n->res.null[i] = 0;
        n->res.v.s[i] = (sl_str){len ? start : empty_str, (uint32_t)len};
    }
}

/* iarg 0 starts_with, 1 ends_with, 2 contains */
static void ev_strpos(node *n, sl_batch *b, uint32_t rows) {
    (void)b;
    const sl_column *x = &n->k[0]->res, *y = &n->k[1]->res;
    for (uint32_t i = 0; i < rows; i++) {
        if (x->null[i] || y->null[i]) {
            n->res.null[i] = 1;
            n->res.v.b[i] = 0;
            continue;
        }
        sl_str s = x->v.s[i], t = y->v.s[i];
        bool r = false;
        if (t.len == 0)
            r = true;
        else if (s.len >= t.len) {
            if (n->iarg == 0)
                r = memcmp(s.ptr, t.ptr, t.len) == 0;
            else if (n->iarg == 1)
                r = memcmp(s.ptr + s.len - t.len, t.ptr, t.len) == 0;
            else
                r = memmem(s.ptr, s.len, t.ptr, t.len) != NULL;
        }
        n->res.null[i] = 0;
        n->res.v.b[i] = r;
    }
}

/* ---- math kernels ---- */

static void ev_abs(node *n, sl_batch *b, uint32_t rows) {
    (void)b;
    const sl_column *x = &n->k[0]->res;
    if (n->type == SL_T_DOUBLE) {
        for (uint32_t i = 0; i < rows; i++) {
            n->res.null[i] = x->null[i] != 0;
            n->res.v.d[i] = fabs(x->v.d[i]);
        }
        return;
    }
    for (uint32_t i = 0; i < rows; i++) {
        int64_t v = x->v.i[i];
        n->res.null[i] = (x->null[i] != 0) | (v == INT64_MIN);
        n->res.v.i[i] = v == INT64_MIN ? 0 : v < 0 ? -v : v;
    }
}

static void ev_round(node *n, sl_batch *b, uint32_t rows) {
    (void)b;
    const sl_column *x = &n->k[0]->res, *dg = n->nk > 1 ? &n->k[1]->res : NULL;
    for (uint32_t i = 0; i < rows; i++) {
        if (any_null(n, i)) {
            n->res.null[i] = 1;
            n->res.v.i[i] = 0;
            continue;
        }
        int64_t d = dg ? dg->v.i[i] : 0;
        n->res.null[i] = 0;
        if (n->type == SL_T_DOUBLE) {
            double v = x->v.d[i], r;
            if (d == 0)
                r = round(v);
            else if (d > 0) {
                double p = pow(10.0, (double)(d > 30 ? 30 : d)), t = v * p;
                r = (d > 15 || !isfinite(t)) ? v : round(t) / p;
            } else {
                double p = pow(10.0, (double)(d < -330 ? 330 : -d));
                r = round(v / p) * p;
            }
            n->res.v.d[i] = r;
        } else {
            int64_t v = x->v.i[i];
            if (d >= 0) {
                n->res.v.i[i] = v;
                continue;
            }
            if (d < -18) {
                n->res.v.i[i] = 0;
                continue;
            }
            int64_t p = 1;
            for (int64_t k = 0; k < -d; k++)
                p *= 10;
            int64_t q = v / p, rem = v % p, r;
            if (rem >= p - rem && rem > 0)
                q++;
            else if (rem < 0 && -rem >= p + rem)
                q--;
            n->res.null[i] = __builtin_mul_overflow(q, p, &r);
            n->res.v.i[i] = n->res.null[i] ? 0 : r;
        }
    }
}

static void ev_floorceil(node *n, sl_batch *b, uint32_t rows) {
    (void)b;
    const sl_column *x = &n->k[0]->res;
    for (uint32_t i = 0; i < rows; i++) {
        n->res.null[i] = x->null[i] != 0;
        n->res.v.d[i] = n->iarg ? ceil(x->v.d[i]) : floor(x->v.d[i]);
    }
}

/* iarg 0 sqrt, 1 ln, 2 log10, 3 exp; a domain error or overflow gives NULL */
static void ev_math1(node *n, sl_batch *b, uint32_t rows) {
    (void)b;
    const sl_column *x = &n->k[0]->res;
    for (uint32_t i = 0; i < rows; i++) {
        double v = x->v.d[i], r = 0;
        bool ok = !x->null[i];
        if (ok) {
            switch (n->iarg) {
            case 0:
                ok = v >= 0;
                r = ok ? sqrt(v) : 0;
                break;
            case 1:
                ok = v > 0;
                r = ok ? log(v) : 0;
                break;
            case 2:
                ok = v > 0;
                r = ok ? log10(v) : 0;
                break;
            default:
                r = exp(v);
                break;
            }
            ok = ok && isfinite(r);
        }
        n->res.null[i] = !ok;
        n->res.v.d[i] = ok ? r : 0;
    }
}

static void ev_power(node *n, sl_batch *b, uint32_t rows) {
    (void)b;
    const sl_column *x = &n->k[0]->res, *y = &n->k[1]->res;
    for (uint32_t i = 0; i < rows; i++) {
        double r = pow(x->v.d[i], y->v.d[i]);
        bool ok = !x->null[i] && !y->null[i] && isfinite(r);
        n->res.null[i] = !ok;
        n->res.v.d[i] = ok ? r : 0;
    }
}

static void ev_sign(node *n, sl_batch *b, uint32_t rows) {
    (void)b;
    const sl_column *x = &n->k[0]->res;
    bool dbl = n->k[0]->type == SL_T_DOUBLE;
    for (uint32_t i = 0; i < rows; i++) {
        n->res.null[i] = x->null[i] != 0;
        if (dbl)
            n->res.v.i[i] = (x->v.d[i] > 0) - (x->v.d[i] < 0);
        else
            n->res.v.i[i] = (x->v.i[i] > 0) - (x->v.i[i] < 0);
    }
}

/* least (iarg -1) / greatest (iarg 1): NULL arguments are ignored. */
static void ev_minmax(node *n, sl_batch *b, uint32_t rows) {
    (void)b;
    int dir = (int)n->iarg;
    for (uint32_t i = 0; i < rows; i++) {
        int best = -1;
        for (int j = 0; j < n->nk; j++) {
            const sl_column *x = &n->k[j]->res;
            if (x->null[i]) continue;
            if (best < 0) {
                best = j;
                continue;
            }
            const sl_column *y = &n->k[best]->res;
            int c;
            switch (n->type) {
            case SL_T_DOUBLE:
                c = (x->v.d[i] > y->v.d[i]) - (x->v.d[i] < y->v.d[i]);
                break;
            case SL_T_STRING:
                c = str_cmp(x->v.s[i], y->v.s[i]);
                break;
            case SL_T_BOOL:
                c = (x->v.b[i] != 0) - (y->v.b[i] != 0);
                break;
            default:
                c = (x->v.i[i] > y->v.i[i]) - (x->v.i[i] < y->v.i[i]);
                break;
            }
            if (c * dir > 0) best = j;
        }
        if (best < 0) {
            n->res.null[i] = 1;
            if (n->type == SL_T_STRING) n->res.v.s[i] = (sl_str){empty_str, 0};
            continue;
        }
        copy_val(&n->res, i, &n->k[best]->res, i, n->type);
    }
}

/* ---- time kernels ---- */

/* from_unixtime (iarg 1e6) / from_unixtime_ms (iarg 1000): number -> timestamp */
static void ev_from_unix(node *n, sl_batch *b, uint32_t rows) {
    (void)b;
    const sl_column *x = &n->k[0]->res;
    bool dbl = n->k[0]->type == SL_T_DOUBLE;
    for (uint32_t i = 0; i < rows; i++) {
        int64_t r = 0;
        bool bad = x->null[i] != 0;
        if (!bad && dbl) {
            double d = x->v.d[i] * (double)n->iarg;
            bad = !(d >= -9.2e18 && d <= 9.2e18);
            if (!bad) r = (int64_t)round(d);
        } else if (!bad) {
            bad = __builtin_mul_overflow(x->v.i[i], n->iarg, &r);
        }
        n->res.null[i] = bad;
        n->res.v.i[i] = bad ? 0 : r;
    }
}

static void ev_to_ts(node *n, sl_batch *b, uint32_t rows) {
    (void)b;
    const sl_column *x = &n->k[0]->res;
    for (uint32_t i = 0; i < rows; i++) {
        int64_t us = 0;
        bool ok = !x->null[i] && sl_time_parse_iso(x->v.s[i].ptr, x->v.s[i].len, &us) == 0;
        n->res.null[i] = !ok;
        n->res.v.i[i] = ok ? us : 0;
    }
}

/* epoch_ms (iarg 1000) / epoch_seconds (iarg 1e6): floor division */
static void ev_epoch(node *n, sl_batch *b, uint32_t rows) {
    (void)b;
    const sl_column *x = &n->k[0]->res;
    for (uint32_t i = 0; i < rows; i++) {
        n->res.null[i] = x->null[i] != 0;
        n->res.v.i[i] = sl_floor_div(x->v.i[i], n->iarg);
    }
}

enum { TU_MS, TU_SECOND, TU_MINUTE, TU_HOUR, TU_DAY, TU_WEEK, TU_MONTH, TU_YEAR };

static const struct {
    const char *name;
    int unit;
} time_units[] = {
    {"millisecond", TU_MS}, {"second", TU_SECOND}, {"minute", TU_MINUTE}, {"hour", TU_HOUR},
    {"day", TU_DAY},        {"week", TU_WEEK},     {"month", TU_MONTH},   {"year", TU_YEAR},
};

#define US_PER_DAY (86400 * SL_US_PER_SEC)

static bool trunc_ts(int64_t us, int unit, int64_t *out) {
    static const int64_t step[] = {SL_US_PER_MS, SL_US_PER_SEC, 60 * SL_US_PER_SEC,
                                   3600 * SL_US_PER_SEC, US_PER_DAY};
    if (unit <= TU_DAY)
        return !__builtin_mul_overflow(sl_floor_div(us, step[unit]), step[unit], out);
    int64_t days = sl_floor_div(us, US_PER_DAY);
    if (unit == TU_WEEK) { /* ISO weeks start on Monday; 1970-01-01 was a Thursday */
        days -= (days + 3) - sl_floor_div(days + 3, 7) * 7;
    } else {
        int64_t y;
        unsigned m, d;
        sl_civil_from_days(days, &y, &m, &d);
        days = sl_days_from_civil(y, unit == TU_YEAR ? 1 : m, 1);
    }
    return !__builtin_mul_overflow(days, US_PER_DAY, out);
}

static void ev_date_trunc(node *n, sl_batch *b, uint32_t rows) {
    (void)b;
    const sl_column *x = &n->k[1]->res;
    for (uint32_t i = 0; i < rows; i++) {
        int64_t r = 0;
        bool ok = !x->null[i] && !n->k[0]->res.null[i] && trunc_ts(x->v.i[i], (int)n->iarg, &r);
        n->res.null[i] = !ok;
        n->res.v.i[i] = ok ? r : 0;
    }
}

static void ev_iso(node *n, sl_batch *b, uint32_t rows) {
    const sl_column *x = &n->k[0]->res;
    char buf[64];
    for (uint32_t i = 0; i < rows; i++) {
        if (x->null[i]) {
            set_null_str(&n->res, i);
            continue;
        }
        int len = ts_formattable(x->v.i[i]) ? sl_time_format_iso(x->v.i[i], buf, sizeof buf) : -1;
        if (len < 0 || len >= (int)sizeof buf) {
            set_null_str(&n->res, i);
            continue;
        }
        n->res.null[i] = 0;
        n->res.v.s[i] = (sl_str){sl_arena_strdup(b->arena, buf, (size_t)len), (uint32_t)len};
    }
}

/* iarg 0 year, 1 month, 2 day, 3 hour, 4 minute, 5 second */
static void ev_part(node *n, sl_batch *b, uint32_t rows) {
    (void)b;
    const sl_column *x = &n->k[0]->res;
    int part = (int)n->iarg;
    for (uint32_t i = 0; i < rows; i++) {
        n->res.null[i] = x->null[i] != 0;
        int64_t us = x->v.i[i], days = sl_floor_div(us, US_PER_DAY), r;
        int64_t tod = us % US_PER_DAY; /* time of day, computed without overflow */
        if (tod < 0) tod += US_PER_DAY;
        if (part <= 2) {
            int64_t y;
            unsigned m, d;
            sl_civil_from_days(days, &y, &m, &d);
            r = part == 0 ? y : part == 1 ? (int64_t)m : (int64_t)d;
        } else {
            int64_t secs = tod / SL_US_PER_SEC;
            r = part == 3 ? secs / 3600 : part == 4 ? secs / 60 % 60 : secs % 60;
        }
        n->res.v.i[i] = r;
    }
}

/* ---- hooks ---- */

static int check_date_trunc(comp *c, node **a, int nk, int64_t *iarg) {
    (void)nk;
    if (is_null_lit(a[0])) return 0;
    if (!is_lit(a[0]))
        return comp_error(c, a[0]->off, SL_EINVAL, "date_trunc() unit must be a constant string");
    for (size_t i = 0; i < sizeof time_units / sizeof time_units[0]; i++)
        if (strlen(time_units[i].name) == a[0]->lit.s.len &&
            strncasecmp(time_units[i].name, a[0]->lit.s.ptr, a[0]->lit.s.len) == 0) {
            *iarg = time_units[i].unit;
            return 0;
        }
    return comp_error(
        c, a[0]->off, SL_EINVAL,
        "date_trunc() unit must be one of millisecond, second, minute, hour, day, week, month, "
        "year; got '%.*s'",
        (int)(a[0]->lit.s.len > 32 ? 32 : a[0]->lit.s.len), a[0]->lit.s.ptr);
}

static node *build_floorceil(comp *c, node **a, int nk, int off) {
    (void)c, (void)nk, (void)off;
    return a[0]->type == SL_T_INT ? a[0] : NULL; /* floor/ceil of an int is the int */
}

static node *build_coalesce(comp *c, node **a, int nk, int off) {
    node *kids[256];
    int m = 0;
    sl_type t = SL_T_NULL;
    for (int i = 0; i < nk; i++) {
        t = a[i]->type;
        if (is_null_lit(a[i])) continue;
        kids[m++] = a[i];
        if (is_lit(a[i])) break; /* a non-NULL constant ends the search */
    }
    if (m == 0) return node_lit_null(c, t, off);
    if (m == 1) return kids[0];
    return node_finish(c, node_op(c, ev_coalesce, kids[0]->type, off, m, kids), false);
}

static node *build_nullif(comp *c, node **a, int nk, int off) {
    (void)nk;
    node *cond = mk_cmp(c, TK_EQ, a[0], a[1], off);
    node *val = node_lit_null(c, SL_T_NULL, off);
    return mk_case(c, &cond, &val, 1, a[0], off);
}

/* ---- regular expressions (PCRE2, compiled once when the expression is) ---- */

typedef struct re_aux {
    pcre2_code *code;
    pcre2_match_data *md;
    uint32_t groups; /* capture groups in the pattern */
} re_aux;

static void re_free(void *p) {
    re_aux *r = p;
    pcre2_match_data_free(r->md);
    pcre2_code_free(r->code);
    free(r);
}

/* 1: s matches (md holds the groups), 0: no match, <0: a matching error. */
static int re_match(re_aux *r, sl_str s) {
    int rc = pcre2_match(r->code, (PCRE2_SPTR)s.ptr, s.len, 0, 0, r->md, NULL);
    return rc >= 0 ? 1 : rc == PCRE2_ERROR_NOMATCH ? 0 : rc;
}

static void ev_regexp_like(node *n, sl_batch *b, uint32_t rows) {
    (void)b;
    re_aux *r = n->aux;
    const sl_column *x = &n->k[0]->res;
    for (uint32_t i = 0; i < rows; i++) {
        int m = x->null[i] ? -1 : re_match(r, x->v.s[i]);
        n->res.null[i] = m < 0;
        n->res.v.b[i] = m > 0;
    }
}

/* regexp_extract(s, pattern [, group]): the group's text (default 1, or the
 * whole match for a pattern without groups); NULL without a match or when
 * the group did not take part. A view into s. */
static void ev_regexp_extract(node *n, sl_batch *b, uint32_t rows) {
    (void)b;
    re_aux *r = n->aux;
    const sl_column *x = &n->k[0]->res, *g = n->nk > 2 ? &n->k[2]->res : NULL;
    for (uint32_t i = 0; i < rows; i++) {
        set_null_str(&n->res, i);
        if (x->null[i] || (g && g->null[i])) continue;
        int64_t grp = g ? g->v.i[i] : (r->groups ? 1 : 0);
        if (grp < 0 || grp > (int64_t)r->groups || re_match(r, x->v.s[i]) <= 0) continue;
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(r->md);
        if (ov[2 * grp] == PCRE2_UNSET) continue;
        n->res.null[i] = 0;
        n->res.v.s[i] =
            (sl_str){x->v.s[i].ptr + ov[2 * grp], (uint32_t)(ov[2 * grp + 1] - ov[2 * grp])};
    }
}

/* regexp_replace(s, pattern, replacement): every match replaced ($1 ... in
 * the replacement name groups); the text from the batch arena. */
static void ev_regexp_replace(node *n, sl_batch *b, uint32_t rows) {
    re_aux *r = n->aux;
    const sl_column *x = &n->k[0]->res, *t = &n->k[2]->res;
    for (uint32_t i = 0; i < rows; i++) {
        set_null_str(&n->res, i);
        if (x->null[i] || t->null[i]) continue;
        sl_str s = x->v.s[i], to = t->v.s[i];
        PCRE2_SIZE cap = (PCRE2_SIZE)s.len * 2 + to.len + 64;
        for (int attempt = 0; attempt < 2; attempt++) {
            char *out = sl_arena_alloc(b->arena, cap);
            PCRE2_SIZE len = cap;
            int rc =
                pcre2_substitute(r->code, (PCRE2_SPTR)s.ptr, s.len, 0,
                                 PCRE2_SUBSTITUTE_GLOBAL | PCRE2_SUBSTITUTE_OVERFLOW_LENGTH, r->md,
                                 NULL, (PCRE2_SPTR)to.ptr, to.len, (PCRE2_UCHAR *)out, &len);
            if (rc == PCRE2_ERROR_NOMEMORY && attempt == 0 && len < UINT32_MAX) {
                cap = len + 1; /* the length it needs */
                continue;
            }
            if (rc >= 0 && len <= UINT32_MAX) {
                n->res.null[i] = 0;
                n->res.v.s[i] = (sl_str){len ? out : empty_str, (uint32_t)len};
            }
            break; /* a bad replacement ($9 without a group 9): NULL */
        }
    }
}

/* The pattern must be a constant: it is compiled (and JIT-compiled) here,
 * once, and a bad one is refused with its position when the file loads. */
static node *build_regexp(comp *c, node **a, int nk, int off, node_eval ev, sl_type rt) {
    if (is_null_lit(a[1])) return node_lit_null(c, rt, off);
    if (!is_lit(a[1])) {
        comp_error(c, a[1]->off, SL_EINVAL,
                   "the pattern of a regexp function must be a constant string");
        return NULL;
    }
    int code;
    PCRE2_SIZE at;
    pcre2_code *re =
        pcre2_compile((PCRE2_SPTR)a[1]->lit.s.ptr, a[1]->lit.s.len, PCRE2_UTF, &code, &at, NULL);
    if (!re) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(code, msg, sizeof msg);
        comp_error(c, a[1]->off, SL_EINVAL, "bad regular expression at offset %zu: %s", (size_t)at,
                   (const char *)msg);
        return NULL;
    }
    pcre2_jit_compile(re, PCRE2_JIT_COMPLETE); /* without JIT it is interpreted */
    re_aux *r = calloc(1, sizeof *r);
    if (!r) {
        pcre2_code_free(re);
        comp_error(c, off, SL_ENOMEM, "out of memory");
        return NULL;
    }
    r->code = re;
    r->md = pcre2_match_data_create_from_pattern(re, NULL);
    pcre2_pattern_info(re, PCRE2_INFO_CAPTURECOUNT, &r->groups);
    node *n = node_op(c, ev, rt, off, nk, a);
    if (!n) {
        re_free(r);
        return NULL;
    }
    n->aux = r;
    n->aux_free = re_free;
    return node_finish(c, n, false);
}

static node *build_regexp_like(comp *c, node **a, int nk, int off) {
    return build_regexp(c, a, nk, off, ev_regexp_like, SL_T_BOOL);
}
static node *build_regexp_extract(comp *c, node **a, int nk, int off) {
    return build_regexp(c, a, nk, off, ev_regexp_extract, SL_T_STRING);
}
static node *build_regexp_replace(comp *c, node **a, int nk, int off) {
    return build_regexp(c, a, nk, off, ev_regexp_replace, SL_T_STRING);
}

/* ---- the table ---- */

static const fdef funcs[] = {
    {"lower", 1, 1, "s", 's', ev_casemap, 0, true, NULL, NULL},
    {"upper", 1, 1, "s", 's', ev_casemap, 1, true, NULL, NULL},
    {"length", 1, 1, "s", 'i', ev_length, 0, true, NULL, NULL},
    {"substr", 2, 3, "sii", 's', ev_substr, 0, true, NULL, NULL},
    {"substring", 2, 3, "sii", 's', ev_substr, 0, true, NULL, NULL},
    {"trim", 1, 2, "ss", 's', ev_trim, 3, true, NULL, NULL},
    {"ltrim", 1, 2, "ss", 's', ev_trim, 1, true, NULL, NULL},
    {"rtrim", 1, 2, "ss", 's', ev_trim, 2, true, NULL, NULL},
    {"replace", 3, 3, "sss", 's', ev_replace, 0, true, NULL, NULL},
    {"concat", 1, -1, "a", 's', ev_concat_fn, 0, false, NULL, NULL},
    {"split_part", 3, 3, "ssi", 's', ev_split_part, 0, true, NULL, NULL},
    {"url_path", 1, 1, "s", 's', ev_url_path, 0, true, NULL, NULL},
    {"url_param", 2, 2, "ss", 's', ev_url_param, 0, true, NULL, NULL},
    {"regexp_like", 2, 2, "ss", 'b', NULL, 0, true, NULL, build_regexp_like},
    {"regexp_extract", 2, 3, "ssi", 's', NULL, 0, true, NULL, build_regexp_extract},
    {"regexp_replace", 3, 3, "sss", 's', NULL, 0, true, NULL, build_regexp_replace},
    {"json_extract", 2, 2, "ss", 's', NULL, 0, true, NULL, build_json_extract},
    {"json_extract_int", 2, 2, "ss", 'i', NULL, 0, true, NULL, build_json_extract_int},
    {"json_extract_double", 2, 2, "ss", 'd', NULL, 0, true, NULL, build_json_extract_double},
    {"json_extract_bool", 2, 2, "ss", 'b', NULL, 0, true, NULL, build_json_extract_bool},
    {"starts_with", 2, 2, "ss", 'b', ev_strpos, 0, true, NULL, NULL},
    {"ends_with", 2, 2, "ss", 'b', ev_strpos, 1, true, NULL, NULL},
    {"contains", 2, 2, "ss", 'b', ev_strpos, 2, true, NULL, NULL},
    {"abs", 1, 1, "n", 'N', ev_abs, 0, true, NULL, NULL},
    {"round", 1, 2, "ni", 'N', ev_round, 0, true, NULL, NULL},
    {"floor", 1, 1, "n", 'N', ev_floorceil, 0, true, NULL, build_floorceil},
    {"ceil", 1, 1, "n", 'N', ev_floorceil, 1, true, NULL, build_floorceil},
    {"ceiling", 1, 1, "n", 'N', ev_floorceil, 1, true, NULL, build_floorceil},
    {"sqrt", 1, 1, "d", 'd', ev_math1, 0, true, NULL, NULL},
    {"ln", 1, 1, "d", 'd', ev_math1, 1, true, NULL, NULL},
    {"log10", 1, 1, "d", 'd', ev_math1, 2, true, NULL, NULL},
    {"exp", 1, 1, "d", 'd', ev_math1, 3, true, NULL, NULL},
    {"power", 2, 2, "dd", 'd', ev_power, 0, true, NULL, NULL},
    {"pow", 2, 2, "dd", 'd', ev_power, 0, true, NULL, NULL},
    {"sign", 1, 1, "n", 'i', ev_sign, 0, true, NULL, NULL},
    {"least", 1, -1, "v", 'V', ev_minmax, -1, false, NULL, NULL},
    {"greatest", 1, -1, "v", 'V', ev_minmax, 1, false, NULL, NULL},
    {"coalesce", 1, -1, "v", 'V', ev_coalesce, 0, false, NULL, build_coalesce},
    {"nullif", 2, 2, "x", 'x', NULL, 0, false, NULL, build_nullif},
    {"from_unixtime_ms", 1, 1, "n", 't', ev_from_unix, SL_US_PER_MS, true, NULL, NULL},
    {"from_unixtime", 1, 1, "n", 't', ev_from_unix, SL_US_PER_SEC, true, NULL, NULL},
    {"to_timestamp", 1, 3, "sss", 't', ev_to_ts, 0, true, NULL, build_to_timestamp},
    {"format_time", 2, 3, "tss", 's', NULL, 0, true, NULL, build_format_time},
    {"epoch_ms", 1, 1, "t", 'i', ev_epoch, SL_US_PER_MS, true, NULL, NULL},
    {"epoch_seconds", 1, 1, "t", 'i', ev_epoch, SL_US_PER_SEC, true, NULL, NULL},
    {"date_trunc", 2, 2, "st", 't', ev_date_trunc, 0, true, check_date_trunc, NULL},
    {"iso8601", 1, 1, "t", 's', ev_iso, 0, true, NULL, NULL},
    {"year", 1, 1, "t", 'i', ev_part, 0, true, NULL, NULL},
    {"month", 1, 1, "t", 'i', ev_part, 1, true, NULL, NULL},
    {"day", 1, 1, "t", 'i', ev_part, 2, true, NULL, NULL},
    {"hour", 1, 1, "t", 'i', ev_part, 3, true, NULL, NULL},
    {"minute", 1, 1, "t", 'i', ev_part, 4, true, NULL, NULL},
    {"second", 1, 1, "t", 'i', ev_part, 5, true, NULL, NULL},
};

static const char *kind_name(char k) {
    switch (k) {
    case 's':
        return "a string";
    case 'i':
        return "an int";
    case 'n':
    case 'd':
        return "a number";
    case 't':
        return "a timestamp";
    default:
        return "a value";
    }
}

static node *check_arg(comp *c, const fdef *f, node *a, int i, char kind) {
    sl_type t = a->type;
    bool ok;
    switch (kind) {
    case 's':
        ok = t == SL_T_STRING || t == SL_T_NULL;
        break;
    case 'i':
        ok = t == SL_T_INT || t == SL_T_NULL;
        break;
    case 'n':
    case 'd':
        ok = is_numeric(t) || t == SL_T_NULL;
        break;
    case 't':
        ok = t == SL_T_TS || t == SL_T_NULL || (t == SL_T_STRING && is_lit(a));
        break;
    default:
        ok = true;
        break;
    }
    if (!ok) {
        comp_error(c, a->off, SL_ETYPE, "%s() argument %d must be %s, got %s", f->name, i + 1,
                   kind_name(kind), sl_type_name(t));
        return NULL;
    }
    switch (kind) {
    case 's':
        return coerce(c, a, SL_T_STRING);
    case 'i':
        return coerce(c, a, SL_T_INT);
    case 'n':
        return t == SL_T_NULL ? coerce(c, a, SL_T_INT) : a;
    case 'd':
        return coerce(c, a, SL_T_DOUBLE);
    case 't':
        return coerce(c, a, SL_T_TS);
    case 'a':
        return make_concat_any(c, a);
    default:
        return a;
    }
}

node *func_call(comp *c, const char *name, int off, node **args, int nk) {
    if (c->failed) return NULL;
    const fdef *f = NULL;
    for (size_t i = 0; i < sizeof funcs / sizeof funcs[0]; i++)
        if (strcasecmp(funcs[i].name, name) == 0) {
            f = &funcs[i];
            break;
        }
    if (!f) {
        comp_error(c, off, SL_EINVAL, "unknown function '%s'", name);
        return NULL;
    }
    if (nk < f->min || (f->max >= 0 && nk > f->max)) {
        if (f->min == f->max)
            comp_error(c, off, SL_EINVAL, "%s() takes %d argument%s, got %d", f->name, f->min,
                       f->min == 1 ? "" : "s", nk);
        else if (f->max < 0)
            comp_error(c, off, SL_EINVAL, "%s() takes at least %d argument%s, got %d", f->name,
                       f->min, f->min == 1 ? "" : "s", nk);
        else
            comp_error(c, off, SL_EINVAL, "%s() takes %d to %d arguments, got %d", f->name, f->min,
                       f->max, nk);
        return NULL;
    }
    size_t na = strlen(f->args);
    bool unify = false;
    for (int i = 0; i < nk; i++) {
        char kind = f->args[(size_t)i < na ? (size_t)i : na - 1];
        if (kind == 'v') unify = true;
        args[i] = check_arg(c, f, args[i], i, kind);
        if (!args[i]) return NULL;
    }
    sl_type vt = SL_T_NULL;
    if (unify) {
        char what[64];
        snprintf(what, sizeof what, "%s()", f->name);
        if (unify_values(c, args, nk, what, &vt)) return NULL;
    }
    int64_t iarg = f->iarg;
    if (f->check && f->check(c, args, nk, &iarg)) return NULL;
    if (f->build) {
        node *r = f->build(c, args, nk, off);
        if (r || c->failed) return r;
    }
    sl_type rt;
    switch (f->ret) {
    case 's':
        rt = SL_T_STRING;
        break;
    case 'i':
        rt = SL_T_INT;
        break;
    case 'd':
        rt = SL_T_DOUBLE;
        break;
    case 'b':
        rt = SL_T_BOOL;
        break;
    case 't':
        rt = SL_T_TS;
        break;
    case 'N':
        rt = args[0]->type;
        break;
    default:
        rt = vt;
        break;
    }
    node *n = node_op(c, f->ev, rt, off, nk, args);
    if (!n) return NULL;
    n->iarg = iarg;
    return node_finish(c, n, f->strict);
}
