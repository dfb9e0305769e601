/*
 * like.c - SQL LIKE: % matches any run of characters, _ exactly one
 * character (a whole UTF-8 sequence), an optional ESCAPE character makes
 * the next pattern character literal. Matching is case-sensitive, bytewise.
 *
 * A constant pattern is classified at compile time: most real patterns are
 * 'abc' (equality), 'abc%' (prefix), '%abc' (suffix) or '%abc%' (substring)
 * and run as one memcmp/memmem per row; anything else runs the general
 * matcher. The general matcher is the classic greedy wildcard walk that
 * remembers only the last %: on a mismatch it lets that % swallow one more
 * character and retries. That is correct for % and _ (no backtracking into
 * earlier %s is ever needed) and costs O(len(s) * len(p)) in the worst case,
 * with no allocation: it reads the pattern, escapes included, in place.
 */
#include <string.h>

#include "expr/expr_internal.h"

enum like_kind { LIKE_EXACT, LIKE_PREFIX, LIKE_SUFFIX, LIKE_CONTAINS, LIKE_GENERAL };

typedef struct like_pat {
    int kind;
    const char *lit; /* literal bytes for the fast kinds, escapes removed */
    uint32_t lit_len;
    const char *pat; /* the pattern, for LIKE_GENERAL */
    uint32_t pat_len;
} like_pat;

static inline uint32_t utf8_step(const char *s, uint32_t i, uint32_t n) {
    uint32_t j = i + 1;
    if ((unsigned char)s[i] >= 0xC0)
        while (j < n && j < i + 4 && ((unsigned char)s[j] & 0xC0) == 0x80)
            j++;
    return j - i;
}

bool like_match_str(const char *p, uint32_t plen, int esc, const char *s, uint32_t slen,
                    bool *bad) {
    uint32_t pi = 0, si = 0, star_p = UINT32_MAX, star_s = 0;
    while (si < slen) {
        if (pi < plen) {
            unsigned char pc = (unsigned char)p[pi];
            if ((int)pc == esc) {
                if (pi + 1 >= plen) {
                    *bad = true;
                    return false;
                }
                if (p[pi + 1] == s[si]) {
                    pi += 2;
                    si++;
                    continue;
                }
            } else if (pc == '%') {
                star_p = ++pi;
                star_s = si;
                continue;
            } else if (pc == '_') {
                pi++;
                si += utf8_step(s, si, slen);
                continue;
            } else if (pc == (unsigned char)s[si]) {
                pi++;
                si++;
                continue;
            }
        }
        if (star_p == UINT32_MAX) return false;
        pi = star_p;
        star_s += utf8_step(s, star_s, slen);
        si = star_s;
    }
    while (pi < plen && p[pi] == '%' && (int)'%' != esc)
        pi++;
    if (pi < plen && (int)(unsigned char)p[pi] == esc && pi + 1 >= plen) *bad = true;
    return pi == plen;
}

void *like_compile(sl_arena *a, const char *p, uint32_t len, int esc, bool *bad_escape) {
    /* Split into literal bytes and wildcards; note where % appears. */
    char *lit = sl_arena_alloc(a, len + 1);
    uint32_t nlit = 0, lead = 0, trail = 0;
    bool has_under = false, inner_pct = false, seen_lit = false;
    for (uint32_t i = 0; i < len; i++) {
        int ch = (unsigned char)p[i];
        if (ch == esc) {
            if (i + 1 >= len) {
                *bad_escape = true;
                return NULL;
            }
            if (trail) inner_pct = true;
            lit[nlit++] = p[++i];
            seen_lit = true;
        } else if (ch == '%') {
            if (seen_lit)
                trail++;
            else
                lead++;
        } else if (ch == '_') {
            has_under = true;
        } else {
            if (trail) inner_pct = true;
            lit[nlit++] = (char)ch;
            seen_lit = true;
        }
    }
    like_pat *lp = sl_arena_alloc(a, sizeof *lp);
    lp->lit = lit;
    lp->lit_len = nlit;
    lp->pat = p;
    lp->pat_len = len;
    if (has_under || inner_pct)
        lp->kind = LIKE_GENERAL;
    else if (!lead && !trail)
        lp->kind = LIKE_EXACT;
    else if (!lead)
        lp->kind = LIKE_PREFIX;
    else if (!trail && seen_lit)
        lp->kind = LIKE_SUFFIX;
    else if (!seen_lit)
        lp->kind = LIKE_PREFIX; /* only %s: any string, even '' */
    else
        lp->kind = LIKE_CONTAINS;
    return lp;
}

#define LIKE_LOOP(EXPR)                                                                            \
    for (uint32_t i = 0; i < rows; i++) {                                                          \
        if (x->null[i]) {                                                                          \
            o->null[i] = 1;                                                                        \
            o->v.b[i] = 0;                                                                         \
            continue;                                                                              \
        }                                                                                          \
        sl_str s = x->v.s[i];                                                                      \
        o->null[i] = 0;                                                                            \
        o->v.b[i] = (uint8_t)(EXPR);                                                               \
    }

void ev_like(node *n, sl_batch *b, uint32_t rows) {
    (void)b;
    const sl_column *x = &n->k[0]->res, *y = &n->k[1]->res;
    sl_column *o = &n->res;
    int esc = (int)n->iarg;
    const like_pat *lp = n->aux;
    if (lp) {
        const char *l = lp->lit;
        uint32_t L = lp->lit_len;
        bool bad = false;
        switch (lp->kind) {
        case LIKE_EXACT:
            LIKE_LOOP(s.len == L && (L == 0 || (s.ptr[0] == l[0] && memcmp(s.ptr, l, L) == 0)))
            break;
        case LIKE_PREFIX:
            /* the first byte settles most rows without a call */
            if (L == 0)
                LIKE_LOOP(((void)s, 1))
            else
                LIKE_LOOP(s.len >= L && s.ptr[0] == l[0] &&
                          (L == 1 || memcmp(s.ptr + 1, l + 1, L - 1) == 0))
            break;
        case LIKE_SUFFIX:
            LIKE_LOOP(s.len >= L && memcmp(s.ptr + s.len - L, l, L) == 0) break;
        case LIKE_CONTAINS:
            LIKE_LOOP(s.len >= L && memmem(s.ptr, s.len, l, L) != NULL) break;
        default:
            LIKE_LOOP(like_match_str(lp->pat, lp->pat_len, esc, s.ptr, s.len, &bad)) break;
        }
        return;
    }
    for (uint32_t i = 0; i < rows; i++) {
        if (x->null[i] || y->null[i]) {
            o->null[i] = 1;
            o->v.b[i] = 0;
            continue;
        }
        bool bad = false;
        sl_str s = x->v.s[i], p = y->v.s[i];
        bool m = like_match_str(p.ptr, p.len, esc, s.ptr, s.len, &bad);
        o->null[i] = bad; /* a pattern ending in the escape character is an error: NULL */
        o->v.b[i] = m && !bad;
    }
}
