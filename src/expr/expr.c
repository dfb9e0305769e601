/*
 * expr.c - the public face of src/expr/: evaluation of a compiled program
 * on a batch, and the small accessors.
 *
 * sl_expr_eval runs the flat program (nodes in post order, see
 * expr_internal.h): a column node just points its result at the batch's
 * column (no copy), every other node makes sure its scratch holds the batch
 * (allocated once, grown only for a bigger batch; a literal refills its
 * constant then) and runs its kernel. The root's result is finally copied
 * into the caller's column: one memcpy per batch, which keeps the contract
 * simple when `out` is also one of the inputs (x = x + 1).
 */
#include <stdlib.h>
#include <string.h>

#include "expr/expr.h"
#include "expr/expr_internal.h"

/* GCC 12 at -O2 only vectorises loops whose trip count is a multiple of the
 * vector width ("very cheap" cost model); our loops run over b->n rows, so
 * let it weigh the cost of an epilogue. Clang vectorises them at -O2. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("vect-cost-model=dynamic")
#endif

static int run(sl_expr *e, sl_batch *b) {
    uint32_t rows = b->n, want = b->cap > rows ? b->cap : rows;
    for (int i = 0; i < e->n_prog; i++) {
        node *n = e->prog[i];
        if (n->kind == K_COL) {
            if (n->col >= b->schema.n || b->col[n->col].type != n->type || !b->col[n->col].null)
                return SL_EINVAL;
            n->res = b->col[n->col];
            continue;
        }
        scratch_ensure(n, want);
        if (n->kind == K_OP) n->eval(n, b, rows);
    }
    return 0;
}

int sl_expr_eval(sl_expr *e, sl_batch *b, sl_column *out) {
    if (!e || !b || !out) return SL_EINVAL;
    if (e->root->type != SL_T_NULL && out->type != e->root->type) return SL_ETYPE;
    if (b->n == 0) return 0;
    int rc = run(e, b);
    if (rc) return rc;
    const sl_column *r = &e->root->res;
    if (e->root->type == SL_T_NULL) {
        memset(out->null, 1, b->n);
        return 0;
    }
    memmove(out->null, r->null, b->n); /* out may be the very column read */
    memmove(out->v.p, r->v.p, (size_t)b->n * type_size(e->root->type));
    return 0;
}

int sl_expr_eval_bool(sl_expr *e, sl_batch *b, uint8_t *keep) {
    if (!e || !b || !keep) return SL_EINVAL;
    sl_type t = e->root->type;
    if (t != SL_T_BOOL && t != SL_T_NULL) return SL_ETYPE;
    if (b->n == 0) return 0;
    if (t == SL_T_NULL) {
        memset(keep, 0, b->n);
        return 0;
    }
    int rc = run(e, b);
    if (rc) return rc;
    const uint8_t *restrict rn = e->root->res.null, *restrict rv = e->root->res.v.b;
    uint8_t *restrict k = keep;
    for (uint32_t i = 0; i < b->n; i++)
        k[i] = (rn[i] == 0) & (rv[i] != 0);
    return 0;
}

sl_type sl_expr_type(const sl_expr *e) { return e ? e->root->type : SL_T_NULL; }

int sl_expr_columns(const sl_expr *e, const char **names, int max) {
    if (!e) return 0;
    int n = e->n_cols < max ? e->n_cols : max;
    for (int i = 0; i < n; i++)
        names[i] = e->cols[i];
    return n < 0 ? 0 : n;
}

bool sl_expr_is_constant(const sl_expr *e) { return e && e->root->kind == K_LIT; }

void sl_expr_free(sl_expr *e) {
    if (!e) return;
    for (int i = 0; i < e->n_nodes; i++) {
        free(e->nodes[i]->s_null);
        free(e->nodes[i]->s_val);
        if (e->nodes[i]->aux_free) e->nodes[i]->aux_free(e->nodes[i]->aux);
    }
    free(e->nodes);
    sl_arena_free(e->arena);
    free(e);
}

sl_expr *sl_expr_compile_at(const char *text, const sl_schema *schema, const char *file, int line,
                            int col, bool quoted, sl_error *err) {
    int off = 0;
    sl_error e = {0};
    sl_expr *x = sl_expr_compile(text, schema, &e, &off);
    if (!x) sl_error_at(err, SL_EINVAL, file, line, col + off + (quoted ? 1 : 0), "%s", e.msg);
    return x;
}
