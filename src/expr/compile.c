/*
 * compile.c - parser, type checker and constant folder.
 *
 * A recursive-descent parser (one function per precedence level, lowest
 * first: OR, AND, NOT, comparison/IS/IN/BETWEEN/LIKE, ||, + -, * / %, unary,
 * primary) builds typed nodes directly: every mk_* constructor checks its
 * operands' types, inserts the implicit conversions the kernel needs (int ->
 * double, NULL -> typed NULL, string literal -> timestamp) and then calls
 * node_finish, which folds the node into a literal when all its children are
 * literals (by running the node's own kernel on a one-row batch, so folding
 * and evaluation can never disagree) and short-circuits strict operators
 * with a NULL literal operand. Sugar is expanded into shared sub-trees:
 * `x BETWEEN a AND b` is `x >= a AND x <= b` with one x node, `CASE x WHEN v`
 * compares the one x with each v, NULLIF(a, b) is CASE WHEN a = b THEN NULL
 * ELSE a END.
 *
 * The first error wins: it records the message and the byte offset of the
 * offending token or operand, and every constructor returns NULL from then
 * on. All nodes are registered in the expression, so an aborted compile
 * frees everything with sl_expr_free.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/mem.h"
#include "core/timeutil.h"
#include "expr/expr.h"
#include "expr/expr_internal.h"

#define NODE_MAX_DEPTH 2000
#define MAX_LIST 256

int comp_error(comp *c, int off, int code, const char *fmt, ...) {
    if (c->failed) return code;
    c->failed = true;
    c->err_off = off;
    va_list ap;
    va_start(ap, fmt);
    sl_error_setv(c->err, code, fmt, ap);
    va_end(ap);
    return code;
}

bool is_numeric(sl_type t) { return t == SL_T_INT || t == SL_T_DOUBLE; }
bool is_lit(const node *n) { return n->kind == K_LIT; }
bool is_null_lit(const node *n) { return n->kind == K_LIT && n->lit_null; }

node *node_new(comp *c, int kind, sl_type type, int off) {
    sl_expr *e = c->e;
    node *n = sl_arena_alloc(e->arena, sizeof *n);
    memset(n, 0, sizeof *n);
    n->kind = kind;
    n->type = type;
    n->off = off;
    n->depth = 1;
    n->iarg = -1;
    if (e->n_nodes == e->cap_nodes) {
        int cap = e->cap_nodes ? e->cap_nodes * 2 : 32;
        e->nodes = sl_xreallocarray(e->nodes, (size_t)cap, sizeof *e->nodes);
        e->cap_nodes = cap;
    }
    e->nodes[e->n_nodes++] = n;
    return n;
}

node *node_op(comp *c, node_eval ev, sl_type type, int off, int nk, node **kids) {
    for (int i = 0; i < nk; i++)
        if (!kids[i]) return NULL;
    if (c->failed) return NULL;
    node *n = node_new(c, K_OP, type, off);
    n->eval = ev;
    n->nk = nk;
    n->k = sl_arena_alloc(c->e->arena, (size_t)(nk ? nk : 1) * sizeof(node *));
    int d = 0;
    for (int i = 0; i < nk; i++) {
        n->k[i] = kids[i];
        if (kids[i]->depth > d) d = kids[i]->depth;
    }
    n->depth = d + 1;
    if (n->depth > NODE_MAX_DEPTH) {
        comp_error(c, off, SL_EINVAL, "expression is too deeply nested");
        return NULL;
    }
    return n;
}

node *node_lit_null(comp *c, sl_type type, int off) {
    if (c->failed) return NULL;
    node *n = node_new(c, K_LIT, type, off);
    n->lit_null = true;
    return n;
}

static node *lit_int(comp *c, sl_type t, int64_t v, int off) {
    node *n = node_new(c, K_LIT, t, off);
    n->lit.i = v;
    return n;
}

static node *lit_double(comp *c, double v, int off) {
    node *n = node_new(c, K_LIT, SL_T_DOUBLE, off);
    n->lit.d = v;
    return n;
}

static node *lit_bool(comp *c, bool v, int off) {
    node *n = node_new(c, K_LIT, SL_T_BOOL, off);
    n->lit.b = v;
    return n;
}

static node *lit_str(comp *c, sl_str s, int off) {
    node *n = node_new(c, K_LIT, SL_T_STRING, off);
    n->lit.s = s;
    return n;
}

static void free_scratch(node *n) {
    free(n->s_null);
    free(n->s_val);
    n->s_null = NULL;
    n->s_val = NULL;
    n->s_cap = 0;
}

/* Runs n's kernel on one row (its children are literals) and turns n into a literal. */
static void fold(comp *c, node *n) {
    for (int i = 0; i < n->nk; i++)
        scratch_ensure(n->k[i], 1);
    scratch_ensure(n, 1);
    n->eval(n, c->fold_batch, 1);
    n->lit_null = n->res.null[0] != 0;
    if (!n->lit_null) {
        switch (n->type) {
        case SL_T_BOOL:
            n->lit.b = n->res.v.b[0] != 0;
            break;
        case SL_T_DOUBLE:
            n->lit.d = n->res.v.d[0];
            break;
        case SL_T_STRING: {
            /* copy: the kernel may have pointed into the fold batch's arena,
             * which is the expression's arena anyway, or into a child */
            sl_str s = n->res.v.s[0];
            n->lit.s.ptr = sl_arena_strdup(c->e->arena, s.ptr ? s.ptr : "", s.len);
            n->lit.s.len = s.len;
            break;
        }
        case SL_T_NULL:
            n->lit_null = true;
            break;
        default:
            n->lit.i = n->res.v.i[0];
            break;
        }
    }
    free_scratch(n);
    n->kind = K_LIT;
    n->eval = NULL;
    n->nk = 0;
    n->k = NULL;
    n->depth = 1;
}

node *node_finish(comp *c, node *n, bool strict) {
    if (!n || c->failed) return NULL;
    bool all_lit = true;
    for (int i = 0; i < n->nk; i++) {
        if (strict && is_null_lit(n->k[i])) return node_lit_null(c, n->type, n->off);
        if (!is_lit(n->k[i])) all_lit = false;
    }
    if (all_lit) fold(c, n);
    return n;
}

node *make_cast(comp *c, node *x, sl_type to, int off) {
    if (!x || c->failed) return NULL;
    if (x->type == to) return x;
    sl_type from = x->type;
    if ((from == SL_T_BOOL && to == SL_T_TS) || (from == SL_T_TS && to == SL_T_BOOL) ||
        to == SL_T_NULL) {
        comp_error(c, x->off, SL_ETYPE, "cannot cast %s to %s", sl_type_name(from),
                   sl_type_name(to));
        return NULL;
    }
    node *n = node_op(c, kernel_cast(from, to), to, off, 1, &x);
    return node_finish(c, n, true);
}

node *coerce(comp *c, node *n, sl_type to) {
    if (!n || c->failed) return NULL;
    if (n->type == to || to == SL_T_NULL) return n;
    if (n->type == SL_T_NULL || (n->type == SL_T_INT && to == SL_T_DOUBLE))
        return make_cast(c, n, to, n->off);
    if (n->type == SL_T_STRING && to == SL_T_TS && is_lit(n)) {
        if (n->lit_null) return node_lit_null(c, SL_T_TS, n->off);
        int64_t us;
        if (sl_time_parse_iso(n->lit.s.ptr, n->lit.s.len, &us) != 0) {
            comp_error(c, n->off, SL_ETYPE, "cannot parse '%.*s' as a timestamp",
                       (int)(n->lit.s.len > 64 ? 64 : n->lit.s.len), n->lit.s.ptr);
            return NULL;
        }
        return lit_int(c, SL_T_TS, us, n->off);
    }
    comp_error(c, n->off, SL_ETYPE, "expected %s, got %s", sl_type_name(to), sl_type_name(n->type));
    return NULL;
}

node *make_concat_any(comp *c, node *x) {
    if (!x || c->failed) return NULL;
    if (x->type == SL_T_STRING) return x;
    return make_cast(c, x, SL_T_STRING, x->off);
}

int unify_values(comp *c, node **kids, int nk, const char *what, sl_type *out) {
    /* With a timestamp among the values, string literals are timestamps too. */
    bool has_ts = false;
    for (int i = 0; i < nk; i++) {
        if (!kids[i]) return SL_EINVAL;
        has_ts |= kids[i]->type == SL_T_TS;
    }
    sl_type t = SL_T_NULL;
    for (int i = 0; i < nk; i++) {
        sl_type kt = kids[i]->type;
        if (kt == SL_T_NULL || kt == t || (has_ts && kt == SL_T_STRING && is_lit(kids[i])))
            continue;
        if (t == SL_T_NULL)
            t = kt;
        else if (is_numeric(t) && is_numeric(kt))
            t = SL_T_DOUBLE;
        else
            return comp_error(c, kids[i]->off, SL_ETYPE, "%s mixes %s and %s", what,
                              sl_type_name(t), sl_type_name(kt));
    }
    for (int i = 0; i < nk; i++) {
        kids[i] = coerce(c, kids[i], t);
        if (!kids[i]) return SL_ETYPE;
    }
    *out = t;
    return 0;
}

/* ---- operators ---- */

static const char *op_name(int op) {
    switch (op) {
    case TK_PLUS:
        return "+";
    case TK_MINUS:
        return "-";
    case TK_STAR:
        return "*";
    case TK_SLASH:
        return "/";
    case TK_PERCENT:
        return "%";
    case TK_EQ:
        return "=";
    case TK_NE:
        return "<>";
    case TK_LT:
        return "<";
    case TK_LE:
        return "<=";
    case TK_GT:
        return ">";
    case TK_GE:
        return ">=";
    default:
        return "?";
    }
}

static node *mk_arith(comp *c, int op, node *l, node *r) {
    if (!l || !r || c->failed) return NULL;
    sl_type lt = l->type, rt = r->type, res;
    if ((lt == SL_T_TS || rt == SL_T_TS) && (op == TK_PLUS || op == TK_MINUS)) {
        /* timestamp +/- int microseconds -> timestamp; timestamp - timestamp -> int;
         * in ts - 'literal' the literal is a timestamp */
        if (op == TK_MINUS && lt == SL_T_TS && rt == SL_T_STRING && is_lit(r))
            r = coerce(c, r, SL_T_TS);
        if (op == TK_MINUS && rt == SL_T_TS && lt == SL_T_STRING && is_lit(l))
            l = coerce(c, l, SL_T_TS);
        if (!l || !r) return NULL;
        lt = l->type;
        rt = r->type;
        bool lint = lt == SL_T_INT || lt == SL_T_NULL, rint = rt == SL_T_INT || rt == SL_T_NULL;
        if (lt == SL_T_TS && rint)
            res = SL_T_TS;
        else if (op == TK_PLUS && lint && rt == SL_T_TS)
            res = SL_T_TS;
        else if (op == TK_MINUS && lt == SL_T_TS && rt == SL_T_TS)
            res = SL_T_INT;
        else {
            node *bad = (lt == SL_T_TS && !rint) ? r : l;
            comp_error(c, bad->off, SL_ETYPE,
                       "operator %s needs a timestamp and an int (microseconds), got %s and %s",
                       op_name(op), sl_type_name(lt), sl_type_name(rt));
            return NULL;
        }
        if (lt == SL_T_NULL) l = coerce(c, l, SL_T_INT);
        if (rt == SL_T_NULL) r = coerce(c, r, SL_T_INT);
        node *kids[2] = {l, r};
        return node_finish(c, node_op(c, kernel_arith(op, SL_T_INT), res, l->off, 2, kids), true);
    }
    if (!is_numeric(lt) && lt != SL_T_NULL) {
        comp_error(c, l->off, SL_ETYPE, "operator %s needs numbers, got %s", op_name(op),
                   sl_type_name(lt));
        return NULL;
    }
    if (!is_numeric(rt) && rt != SL_T_NULL) {
        comp_error(c, r->off, SL_ETYPE, "operator %s needs numbers, got %s", op_name(op),
                   sl_type_name(rt));
        return NULL;
    }
    res = (lt == SL_T_DOUBLE || rt == SL_T_DOUBLE) ? SL_T_DOUBLE : SL_T_INT;
    node *kids[2] = {coerce(c, l, res), coerce(c, r, res)};
    return node_finish(c, node_op(c, kernel_arith(op, res), res, l->off, 2, kids), true);
}

static node *mk_neg(comp *c, node *x, int off) {
    if (!x || c->failed) return NULL;
    if (!is_numeric(x->type) && x->type != SL_T_NULL) {
        comp_error(c, x->off, SL_ETYPE, "operator - needs a number, got %s", sl_type_name(x->type));
        return NULL;
    }
    sl_type t = x->type == SL_T_DOUBLE ? SL_T_DOUBLE : SL_T_INT;
    x = coerce(c, x, t);
    return node_finish(c, node_op(c, kernel_neg(t), t, off, 1, &x), true);
}

/* The type both sides of a comparison are converted to. */
static int cmp_common(comp *c, node *a, node *b, sl_type *t) {
    sl_type ta = a->type, tb = b->type;
    if (ta == SL_T_NULL)
        *t = tb;
    else if (tb == SL_T_NULL || ta == tb)
        *t = ta;
    else if (is_numeric(ta) && is_numeric(tb))
        *t = SL_T_DOUBLE;
    else if ((ta == SL_T_TS && tb == SL_T_STRING && is_lit(b)) ||
             (tb == SL_T_TS && ta == SL_T_STRING && is_lit(a)))
        *t = SL_T_TS;
    else if (ta == SL_T_TS || tb == SL_T_TS)
        return comp_error(
            c, b->off, SL_ETYPE,
            "cannot compare %s with %s (only a string literal converts to a timestamp; use CAST)",
            sl_type_name(ta), sl_type_name(tb));
    else
        return comp_error(c, b->off, SL_ETYPE, "cannot compare %s with %s", sl_type_name(ta),
                          sl_type_name(tb));
    return 0;
}

node *mk_cmp(comp *c, int op, node *l, node *r, int off) {
    (void)off;
    if (!l || !r || c->failed) return NULL;
    sl_type t;
    if (cmp_common(c, l, r, &t)) return NULL;
    if (t == SL_T_NULL) return node_lit_null(c, SL_T_BOOL, l->off);
    node *kids[2] = {coerce(c, l, t), coerce(c, r, t)};
    return node_finish(c, node_op(c, kernel_cmp(op, t), SL_T_BOOL, l->off, 2, kids), true);
}

static int need_bool(comp *c, node *x, const char *what) {
    if (x->type == SL_T_BOOL || x->type == SL_T_NULL) return 0;
    return comp_error(c, x->off, SL_ETYPE, "%s needs a bool, got %s", what, sl_type_name(x->type));
}

static node *mk_not(comp *c, node *x, int off) {
    if (!x || c->failed) return NULL;
    if (need_bool(c, x, "NOT")) return NULL;
    x = coerce(c, x, SL_T_BOOL);
    return node_finish(c, node_op(c, ev_not, SL_T_BOOL, off, 1, &x), true);
}

static node *mk_logic(comp *c, bool is_and, node *l, node *r) {
    if (!l || !r || c->failed) return NULL;
    const char *what = is_and ? "operator AND" : "operator OR";
    if (need_bool(c, l, what) || need_bool(c, r, what)) return NULL;
    l = coerce(c, l, SL_T_BOOL);
    r = coerce(c, r, SL_T_BOOL);
    if (!l || !r) return NULL;
    /* x AND FALSE = FALSE, x AND TRUE = x (also for NULL x); dually for OR */
    node *kids[2] = {l, r};
    for (int i = 0; i < 2; i++) {
        node *k = kids[i], *other = kids[1 - i];
        if (!is_lit(k) || k->lit_null || is_lit(other)) continue;
        if ((k->lit.b != 0) != is_and) return lit_bool(c, !is_and, l->off);
        return other;
    }
    return node_finish(c, node_op(c, is_and ? ev_and : ev_or, SL_T_BOOL, l->off, 2, kids), false);
}

static node *mk_isnull(comp *c, node *x, bool neg) {
    if (!x || c->failed) return NULL;
    return node_finish(c, node_op(c, neg ? ev_isnotnull : ev_isnull, SL_T_BOOL, x->off, 1, &x),
                       false);
}

static node *mk_in(comp *c, node *x, node **list, int nl, bool neg, int off) {
    if (!x || c->failed) return NULL;
    sl_type t = x->type;
    for (int i = 0; i < nl; i++) {
        sl_type te;
        if (cmp_common(c, x, list[i], &te)) return NULL;
        if (te == SL_T_NULL || te == t) continue;
        if (t == SL_T_NULL || (t == SL_T_STRING && te == SL_T_TS))
            t = te;
        else if (is_numeric(t) && is_numeric(te))
            t = SL_T_DOUBLE;
        else {
            comp_error(c, list[i]->off, SL_ETYPE, "IN list mixes %s and %s", sl_type_name(t),
                       sl_type_name(te));
            return NULL;
        }
    }
    if (t == SL_T_NULL || is_null_lit(x)) return node_lit_null(c, SL_T_BOOL, x->off);
    node *kids[MAX_LIST + 1];
    kids[0] = coerce(c, x, t);
    for (int i = 0; i < nl; i++)
        kids[i + 1] = coerce(c, list[i], t);
    node *n = node_finish(c, node_op(c, ev_in, SL_T_BOOL, x->off, nl + 1, kids), false);
    return neg ? mk_not(c, n, off) : n;
}

static node *mk_like(comp *c, node *x, node *pat, node *esc, bool neg, int off) {
    if (!x || !pat || c->failed) return NULL;
    if (x->type != SL_T_STRING && x->type != SL_T_NULL) {
        comp_error(c, x->off, SL_ETYPE, "LIKE needs a string, got %s", sl_type_name(x->type));
        return NULL;
    }
    if (pat->type != SL_T_STRING && pat->type != SL_T_NULL) {
        comp_error(c, pat->off, SL_ETYPE, "LIKE pattern must be a string, got %s",
                   sl_type_name(pat->type));
        return NULL;
    }
    int esc_ch = -1;
    if (esc) {
        if (!is_lit(esc) || esc->type != SL_T_STRING || esc->lit_null || esc->lit.s.len != 1) {
            comp_error(c, esc->off, SL_EINVAL, "ESCAPE needs a one-character string literal");
            return NULL;
        }
        esc_ch = (unsigned char)esc->lit.s.ptr[0];
    }
    x = coerce(c, x, SL_T_STRING);
    pat = coerce(c, pat, SL_T_STRING);
    node *kids[2] = {x, pat};
    node *n = node_op(c, ev_like, SL_T_BOOL, x ? x->off : off, 2, kids);
    if (!n) return NULL;
    n->iarg = esc_ch;
    if (is_lit(pat) && !pat->lit_null) {
        bool bad = false;
        n->aux = like_compile(c->e->arena, pat->lit.s.ptr, pat->lit.s.len, esc_ch, &bad);
        if (bad) {
            comp_error(c, pat->off, SL_EINVAL, "LIKE pattern ends with the escape character");
            return NULL;
        }
    }
    n = node_finish(c, n, true);
    return neg ? mk_not(c, n, off) : n;
}

static node *mk_concat(comp *c, node *l, node *r) {
    if (!l || !r || c->failed) return NULL;
    node *kids[2] = {make_concat_any(c, l), make_concat_any(c, r)};
    return node_finish(c, node_op(c, ev_concat, SL_T_STRING, l->off, 2, kids), true);
}

/* conds[i]/vals[i] pairs, optional els. */
node *mk_case(comp *c, node **conds, node **vals, int nb, node *els, int off) {
    if (c->failed) return NULL;
    node *v[MAX_LIST + 1];
    int nv = 0;
    for (int i = 0; i < nb; i++) {
        if (!conds[i] || !vals[i]) return NULL;
        if (need_bool(c, conds[i], "CASE WHEN")) return NULL;
        conds[i] = coerce(c, conds[i], SL_T_BOOL);
        v[nv++] = vals[i];
    }
    if (els) v[nv++] = els;
    sl_type t;
    if (unify_values(c, v, nv, "CASE", &t)) return NULL;
    for (int i = 0; i < nb; i++)
        vals[i] = v[i];
    if (els) els = v[nb];
    /* drop branches whose condition is constant false/NULL; a constant TRUE ends the list */
    node *kids[2 * MAX_LIST + 1];
    int nk = 0;
    for (int i = 0; i < nb; i++) {
        if (!conds[i]) return NULL;
        if (is_lit(conds[i])) {
            if (conds[i]->lit_null || !conds[i]->lit.b) continue;
            els = vals[i];
            break;
        }
        kids[nk++] = conds[i];
        kids[nk++] = vals[i];
    }
    if (nk == 0) return els ? els : node_lit_null(c, t, off);
    if (els && !is_null_lit(els))
        kids[nk++] = els;
    else
        els = NULL;
    node *n = node_op(c, ev_case, t, off, nk, kids);
    if (!n) return NULL;
    n->iarg = els != NULL;
    return node_finish(c, n, false);
}

/* ---- parser ---- */

static node *parse_expr(comp *c);

static bool is_kw(comp *c, int kw) { return c->tok.kind == TK_IDENT && c->tok.kw == kw; }

static bool accept_kw(comp *c, int kw) {
    if (!is_kw(c, kw)) return false;
    lex_next(c);
    return true;
}

static void syntax_error(comp *c, const char *expected) {
    if (c->tok.kind == TK_EOF)
        comp_error(c, c->tok.off, SL_EINVAL, "expected %s but found the end of the expression",
                   expected);
    else
        comp_error(c, c->tok.off, SL_EINVAL, "expected %s but found '%.*s'", expected,
                   c->tok.len > 32 ? 32 : c->tok.len, c->src + c->tok.off);
}

static bool expect(comp *c, int kind, const char *what) {
    if (c->tok.kind == kind) {
        lex_next(c);
        return true;
    }
    syntax_error(c, what);
    return false;
}

static bool expect_kw(comp *c, int kw, const char *what) {
    if (accept_kw(c, kw)) return true;
    syntax_error(c, what);
    return false;
}

static node *column_ref(comp *c, const char *name, bool quoted, int off) {
    int idx = sl_schema_find(c->schema, name);
    if (idx < 0 && !quoted) {
        /* bare identifiers are case-insensitive when that is unambiguous */
        for (int i = 0; i < c->schema->n; i++) {
            if (strcasecmp(c->schema->f[i].name, name) == 0) {
                if (idx >= 0) {
                    comp_error(c, off, SL_EINVAL, "column name '%s' is ambiguous; use \"quotes\"",
                               name);
                    return NULL;
                }
                idx = i;
            }
        }
    }
    if (idx < 0) {
        comp_error(c, off, SL_EINVAL, "unknown column '%s'", name);
        return NULL;
    }
    node *n = node_new(c, K_COL, c->schema->f[idx].type, off);
    n->col = idx;
    n->name = sl_arena_strdup(c->e->arena, c->schema->f[idx].name, strlen(c->schema->f[idx].name));
    return n;
}

static node *parse_call(comp *c, const char *name, int off) {
    lex_next(c); /* ( */
    node *args[MAX_LIST];
    int n = 0;
    if (c->tok.kind != TK_RP) {
        for (;;) {
            if (n == MAX_LIST) {
                comp_error(c, c->tok.off, SL_EINVAL, "too many arguments");
                return NULL;
            }
            args[n] = parse_expr(c);
            if (!args[n]) return NULL;
            n++;
            if (c->tok.kind != TK_COMMA) break;
            lex_next(c);
        }
    }
    if (!expect(c, TK_RP, "',' or ')'")) return NULL;
    return func_call(c, name, off, args, n);
}

static node *parse_case(comp *c, int off) {
    lex_next(c); /* CASE */
    node *x = NULL;
    if (!is_kw(c, KW_WHEN)) {
        x = parse_expr(c);
        if (!x) return NULL;
    }
    node *conds[MAX_LIST], *vals[MAX_LIST];
    int nb = 0;
    while (is_kw(c, KW_WHEN)) {
        int woff = c->tok.off;
        lex_next(c);
        if (nb == MAX_LIST) {
            comp_error(c, woff, SL_EINVAL, "too many WHEN branches");
            return NULL;
        }
        node *cond = parse_expr(c);
        if (!cond || !expect_kw(c, KW_THEN, "THEN")) return NULL;
        node *val = parse_expr(c);
        if (!val) return NULL;
        if (x) cond = mk_cmp(c, TK_EQ, x, cond, woff);
        if (!cond) return NULL;
        conds[nb] = cond;
        vals[nb] = val;
        nb++;
    }
    if (nb == 0) {
        syntax_error(c, "WHEN");
        return NULL;
    }
    node *els = NULL;
    if (accept_kw(c, KW_ELSE)) {
        els = parse_expr(c);
        if (!els) return NULL;
    }
    if (!expect_kw(c, KW_END, "END")) return NULL;
    return mk_case(c, conds, vals, nb, els, off);
}

static node *parse_cast(comp *c, int off) {
    lex_next(c); /* CAST */
    if (!expect(c, TK_LP, "'('")) return NULL;
    node *x = parse_expr(c);
    if (!x || !expect_kw(c, KW_AS, "AS")) return NULL;
    if (c->tok.kind != TK_IDENT) {
        syntax_error(c, "a type name");
        return NULL;
    }
    int t = sl_type_parse(c->tok.s.ptr);
    if (t < 0 || t == SL_T_NULL) {
        comp_error(c, c->tok.off, SL_EINVAL, "unknown type '%s'", c->tok.s.ptr);
        return NULL;
    }
    lex_next(c);
    if (!expect(c, TK_RP, "')'")) return NULL;
    return make_cast(c, x, (sl_type)t, off);
}

static node *parse_primary(comp *c) {
    token t = c->tok;
    switch (t.kind) {
    case TK_INT:
        lex_next(c);
        return lit_int(c, SL_T_INT, t.i, t.off);
    case TK_DOUBLE:
        lex_next(c);
        return lit_double(c, t.d, t.off);
    case TK_STRING:
        lex_next(c);
        return lit_str(c, t.s, t.off);
    case TK_LP: {
        lex_next(c);
        node *x = parse_expr(c);
        if (!x || !expect(c, TK_RP, "')'")) return NULL;
        return x;
    }
    case TK_QIDENT:
        lex_next(c);
        return column_ref(c, t.s.ptr, true, t.off);
    case TK_IDENT:
        switch (t.kw) {
        case KW_NULL:
            lex_next(c);
            return node_lit_null(c, SL_T_NULL, t.off);
        case KW_TRUE:
            lex_next(c);
            return lit_bool(c, true, t.off);
        case KW_FALSE:
            lex_next(c);
            return lit_bool(c, false, t.off);
        case KW_CASE:
            return parse_case(c, t.off);
        case KW_CAST:
            return parse_cast(c, t.off);
        case KW_NONE:
            lex_next(c);
            if (c->tok.kind == TK_LP) return parse_call(c, t.s.ptr, t.off);
            return column_ref(c, t.s.ptr, false, t.off);
        default:
            break; /* a keyword where a value should be */
        }
        syntax_error(c, "an expression");
        return NULL;
    default:
        syntax_error(c, "an expression");
        return NULL;
    }
}

static node *parse_unary(comp *c) {
    if (c->failed) return NULL;
    if (c->tok.kind != TK_MINUS && c->tok.kind != TK_PLUS) return parse_primary(c);
    int off = c->tok.off, kind = c->tok.kind;
    lex_next(c);
    if (++c->depth > EXPR_MAX_DEPTH) {
        comp_error(c, off, SL_EINVAL, "expression is too deeply nested");
        return NULL;
    }
    node *x;
    if (kind == TK_MINUS && c->tok.kind == TK_DOUBLE && c->tok.len == 19 &&
        memcmp(c->src + c->tok.off, "9223372036854775808", 19) == 0) {
        /* the one int64 literal whose magnitude does not fit before negation */
        x = lit_int(c, SL_T_INT, INT64_MIN, off);
        lex_next(c);
    } else {
        x = parse_unary(c);
        if (kind == TK_MINUS)
            x = mk_neg(c, x, off);
        else if (x && !is_numeric(x->type) && x->type != SL_T_NULL) {
            comp_error(c, x->off, SL_ETYPE, "unary + needs a number, got %s",
                       sl_type_name(x->type));
            x = NULL;
        }
    }
    c->depth--;
    return x;
}

static node *parse_mul(comp *c) {
    node *l = parse_unary(c);
    while (l && (c->tok.kind == TK_STAR || c->tok.kind == TK_SLASH || c->tok.kind == TK_PERCENT)) {
        int op = c->tok.kind;
        lex_next(c);
        l = mk_arith(c, op, l, parse_unary(c));
    }
    return l;
}

static node *parse_add(comp *c) {
    node *l = parse_mul(c);
    while (l && (c->tok.kind == TK_PLUS || c->tok.kind == TK_MINUS)) {
        int op = c->tok.kind;
        lex_next(c);
        l = mk_arith(c, op, l, parse_mul(c));
    }
    return l;
}

static node *parse_concat(comp *c) {
    node *l = parse_add(c);
    while (l && c->tok.kind == TK_CONCAT) {
        lex_next(c);
        l = mk_concat(c, l, parse_add(c));
    }
    return l;
}

static node *parse_cmp(comp *c) {
    node *l = parse_concat(c);
    while (l && !c->failed) {
        int k = c->tok.kind, off = c->tok.off;
        if (k >= TK_EQ && k <= TK_GE) {
            lex_next(c);
            l = mk_cmp(c, k, l, parse_concat(c), off);
            continue;
        }
        if (is_kw(c, KW_IS)) {
            lex_next(c);
            bool neg = accept_kw(c, KW_NOT);
            if (!expect_kw(c, KW_NULL, "NULL")) return NULL;
            l = mk_isnull(c, l, neg);
            continue;
        }
        bool neg = false;
        if (is_kw(c, KW_NOT)) {
            lex_next(c);
            neg = true;
            if (!is_kw(c, KW_IN) && !is_kw(c, KW_BETWEEN) && !is_kw(c, KW_LIKE)) {
                syntax_error(c, "IN, BETWEEN or LIKE after NOT");
                return NULL;
            }
        }
        if (accept_kw(c, KW_IN)) {
            if (!expect(c, TK_LP, "'(' after IN")) return NULL;
            node *list[MAX_LIST];
            int n = 0;
            for (;;) {
                if (n == MAX_LIST) {
                    comp_error(c, c->tok.off, SL_EINVAL, "IN list is too long (at most %d values)",
                               MAX_LIST);
                    return NULL;
                }
                list[n] = parse_expr(c);
                if (!list[n]) return NULL;
                n++;
                if (c->tok.kind != TK_COMMA) break;
                lex_next(c);
            }
            if (!expect(c, TK_RP, "',' or ')'")) return NULL;
            l = mk_in(c, l, list, n, neg, off);
        } else if (accept_kw(c, KW_BETWEEN)) {
            node *lo = parse_concat(c);
            if (!lo || !expect_kw(c, KW_AND, "AND")) return NULL;
            node *hi = parse_concat(c);
            node *r = mk_logic(c, true, mk_cmp(c, TK_GE, l, lo, off), mk_cmp(c, TK_LE, l, hi, off));
            l = neg ? mk_not(c, r, off) : r;
        } else if (accept_kw(c, KW_LIKE)) {
            node *pat = parse_concat(c), *esc = NULL;
            if (pat && accept_kw(c, KW_ESCAPE)) {
                esc = parse_concat(c);
                if (!esc) return NULL;
            }
            l = mk_like(c, l, pat, esc, neg, off);
        } else {
            break;
        }
    }
    return l;
}

static node *parse_not(comp *c) {
    if (!is_kw(c, KW_NOT)) return parse_cmp(c);
    int off = c->tok.off;
    lex_next(c);
    if (++c->depth > EXPR_MAX_DEPTH) {
        comp_error(c, off, SL_EINVAL, "expression is too deeply nested");
        return NULL;
    }
    node *x = mk_not(c, parse_not(c), off);
    c->depth--;
    return x;
}

static node *parse_and(comp *c) {
    node *l = parse_not(c);
    while (l && is_kw(c, KW_AND)) {
        lex_next(c);
        l = mk_logic(c, true, l, parse_not(c));
    }
    return l;
}

static node *parse_or(comp *c) {
    node *l = parse_and(c);
    while (l && is_kw(c, KW_OR)) {
        lex_next(c);
        l = mk_logic(c, false, l, parse_and(c));
    }
    return l;
}

static node *parse_expr(comp *c) {
    if (c->failed) return NULL;
    if (++c->depth > EXPR_MAX_DEPTH) {
        comp_error(c, c->tok.off, SL_EINVAL, "expression is too deeply nested");
        return NULL;
    }
    node *x = parse_or(c);
    c->depth--;
    return x;
}

/* ---- program ---- */

static void linearize(sl_expr *e, node *n, int mark) {
    if (n->mark == mark) return;
    n->mark = mark;
    for (int i = 0; i < n->nk; i++)
        linearize(e, n->k[i], mark);
    e->prog[e->n_prog++] = n;
    if (n->kind == K_COL) {
        for (int i = 0; i < e->n_cols; i++)
            if (strcmp(e->cols[i], n->name) == 0) return;
        e->cols[e->n_cols++] = n->name;
    }
}

sl_expr *sl_expr_compile(const char *src, const sl_schema *schema, sl_error *err, int *err_offset) {
    sl_schema empty;
    if (!schema) {
        sl_schema_init(&empty);
        schema = &empty;
    }
    if (err_offset) *err_offset = 0;
    if (!src) {
        sl_error_set(err, SL_EINVAL, "no expression");
        return NULL;
    }
    sl_expr *e = calloc(1, sizeof *e);
    if (!e) {
        sl_error_set(err, SL_ENOMEM, "out of memory");
        return NULL;
    }
    e->arena = sl_arena_new(4096);
    comp c;
    memset(&c, 0, sizeof c);
    c.e = e;
    c.src = src;
    c.len = strlen(src);
    c.schema = schema;
    c.err = err;
    c.fold_batch = sl_xcalloc(1, sizeof *c.fold_batch);
    c.fold_batch->n = c.fold_batch->cap = 1;
    c.fold_batch->arena = e->arena;

    lex_next(&c);
    node *root = NULL;
    if (c.tok.kind == TK_EOF && !c.failed)
        comp_error(&c, 0, SL_EINVAL, "empty expression");
    else
        root = parse_expr(&c);
    if (root && c.tok.kind != TK_EOF) syntax_error(&c, "an operator or the end of the expression");
    free(c.fold_batch);
    if (c.failed || !root) {
        if (!c.failed) sl_error_set(err, SL_EINVAL, "invalid expression");
        if (err_offset) *err_offset = c.err_off;
        sl_expr_free(e);
        return NULL;
    }
    e->root = root;
    e->prog = sl_arena_alloc(e->arena, (size_t)e->n_nodes * sizeof(node *));
    e->cols = sl_arena_alloc(e->arena, (size_t)e->n_nodes * sizeof(char *));
    linearize(e, root, 1);
    return e;
}
