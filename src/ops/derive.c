/*
 * derive.c - `derive` (new columns from expressions) and `filter` (keep rows
 * where a predicate is true).
 *
 *   - derive: {event_ts: "from_unixtime_ms(timestamp_detected)", day: "date_trunc('day',
 * event_ts)"}
 *   - filter: "NOT is_duplicate"
 *
 * Each derived column is compiled against the schema including the columns
 * derived before it, and evaluated straight into the batch's column.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/mem.h"
#include "expr/expr.h"
#include "ops/op.h"

typedef struct {
    int n;
    int col[SL_MAX_COLUMNS];
    sl_expr *e[SL_MAX_COLUMNS];
    bool overwrites; /* a column it computes was there before */
} derive_op;

/* New columns only: the columns it was given keep their values (op.h). */
static bool derive_keeps_values(void *self) { return !((derive_op *)self)->overwrites; }

static int derive_create(const sl_node *arg, sl_schema *schema, const sl_op_env *env, void **self,
                         sl_error *err) {
    (void)env;
    if (!arg || arg->kind != SL_NODE_MAP || arg->n == 0)
        return sl_node_error(err, arg, "derive needs a map of column: expression");
    derive_op *o = sl_xcalloc(1, sizeof *o);
    for (int i = 0; i < arg->n; i++) {
        const sl_map_entry *me = &arg->map[i];
        sl_expr *e = sl_op_compile_expr(me->val, schema, err);
        if (!e) goto fail;
        sl_type t = sl_expr_type(e);
        if (t == SL_T_NULL) t = SL_T_STRING;
        int idx = sl_schema_find(schema, me->key);
        if (idx >= 0 && schema->f[idx].type != t) {
            sl_error_at(err, SL_EINVAL, arg->file, me->line, me->col,
                        "column '%s' is %s; derive cannot change it to %s", me->key,
                        sl_type_name(schema->f[idx].type), sl_type_name(t));
            sl_expr_free(e);
            goto fail;
        }
        if (idx >= 0) o->overwrites = true;
        if (idx < 0) idx = sl_schema_add(schema, me->key, t);
        if (idx < 0) {
            sl_error_at(err, SL_EINVAL, arg->file, me->line, me->col, "too many columns");
            sl_expr_free(e);
            goto fail;
        }
        o->col[o->n] = idx;
        o->e[o->n++] = e;
    }
    *self = o;
    return 0;
fail:
    for (int i = 0; i < o->n; i++)
        sl_expr_free(o->e[i]);
    free(o);
    return SL_EINVAL;
}

static int derive_process(void *self, sl_batch *b, sl_op_ctx *ctx, sl_error *err) {
    (void)ctx;
    derive_op *o = self;
    for (int i = 0; i < o->n; i++) {
        int rc = sl_expr_eval(o->e[i], b, &b->col[o->col[i]]);
        if (rc) return sl_error_set(err, rc, "derive: evaluation failed");
    }
    return 0;
}

static void derive_destroy(void *self) {
    derive_op *o = self;
    for (int i = 0; i < o->n; i++)
        sl_expr_free(o->e[i]);
    free(o);
}

const sl_op_def sl_op_derive = {
    .name = "derive",
    .keeps_values = derive_keeps_values,
    .help = "add columns computed by SQL expressions: {name: expr, ...}",
    .create = derive_create,
    .process = derive_process,
    .destroy = derive_destroy,
};

typedef struct {
    sl_expr *e;
    uint8_t *keep;
    uint32_t cap;
} filter_op;

static int filter_create(const sl_node *arg, sl_schema *schema, const sl_op_env *env, void **self,
                         sl_error *err) {
    (void)env;
    filter_op *o = sl_xcalloc(1, sizeof *o);
    o->e = sl_op_compile_expr(arg, schema, err);
    if (!o->e) {
        free(o);
        return SL_EINVAL;
    }
    if (sl_expr_type(o->e) != SL_T_BOOL) {
        sl_node_error(err, arg, "filter must be a boolean expression, got %s",
                      sl_type_name(sl_expr_type(o->e)));
        sl_expr_free(o->e);
        free(o);
        return SL_EINVAL;
    }
    *self = o;
    return 0;
}

static int filter_process(void *self, sl_batch *b, sl_op_ctx *ctx, sl_error *err) {
    (void)err;
    filter_op *o = self;
    if (!b->n) return 0;
    if (o->cap < b->cap) {
        free(o->keep);
        o->keep = sl_xmalloc(b->cap);
        o->cap = b->cap;
    }
    sl_expr_eval_bool(o->e, b, o->keep);
    uint32_t before = b->n;
    ctx->filtered += before - sl_batch_keep(b, o->keep);
    return 0;
}

static void filter_destroy(void *self) {
    filter_op *o = self;
    sl_expr_free(o->e);
    free(o->keep);
    free(o);
}

const sl_op_def sl_op_filter = {
    .name = "filter",
    .keeps_values = sl_op_keeps_values_always,
    .help = "keep rows where the boolean SQL expression is true: filter: EXPR",
    .create = filter_create,
    .process = filter_process,
    .destroy = filter_destroy,
};
