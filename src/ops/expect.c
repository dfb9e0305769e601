/*
 * expect.c - data-quality expectations (Delta Live Tables semantics).
 *
 *   - expect: {name: valid_id, expr: "id IS NOT NULL", action: quarantine}
 *
 * A row passes when the expression is TRUE; FALSE and NULL fail (as DLT).
 * Actions: warn (keep the row, count), drop (remove, count), quarantine
 * (remove, send to the quarantine table with the reason), fail (stop the
 * pipeline). Pass/fail counts are kept per expectation, survive restarts
 * (they are part of the snapshot) and appear in the event log.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/mem.h"
#include "expr/expr.h"
#include "ops/op.h"

enum { ACT_WARN, ACT_DROP, ACT_QUARANTINE, ACT_FAIL }; /* the order of `action`'s words */

typedef struct {
    char name[SL_NAME_MAX];
    char reason[SL_ERROR_MAX];
    sl_expr *e;
    int action;
    int64_t passed, failed;
    char labels_passed[2 * SL_NAME_MAX + 40],
        labels_failed[2 * SL_NAME_MAX + 40]; /* for /metrics */
    uint8_t *keep;
    uint32_t keep_cap;
} expect_op;

typedef struct {
    const char *name;
    const sl_node *expr;
    int action;
} expect_conf;

static const sl_opt expect_opts[] = {
    {"name", SL_OPT_STRING, true, NULL, NULL,
     "name of the expectation (reported in counts and reasons)", SL_OPT_BIND(expect_conf, name)},
    {"expr", SL_OPT_EXPR, true, NULL, NULL, "boolean SQL expression every row should satisfy",
     SL_OPT_BIND(expect_conf, expr)},
    {"action", SL_OPT_ENUM, false, "warn|drop|quarantine|fail", "warn",
     "what to do with a failing row", SL_OPT_BIND(expect_conf, action)},
    {0},
};

static int expect_create(const sl_node *arg, sl_schema *schema, const sl_op_env *env, void **self,
                         sl_error *err) {
    (void)env;
    expect_conf c;
    if (sl_spec_bind(arg, expect_opts, "expect", &c, err)) return SL_EINVAL;
    expect_op *o = sl_xcalloc(1, sizeof *o);
    snprintf(o->name, sizeof o->name, "%s", c.name);
    char esc[2 * SL_NAME_MAX], *q = esc; /* a Prometheus label value escapes \ and " */
    for (const char *p = o->name; *p; p++) {
        if (*p == '\\' || *p == '"') *q++ = '\\';
        *q++ = *p == '\n' ? ' ' : *p;
    }
    *q = 0;
    snprintf(o->labels_passed, sizeof o->labels_passed, "expectation=\"%s\",result=\"passed\"",
             esc);
    snprintf(o->labels_failed, sizeof o->labels_failed, "expectation=\"%s\",result=\"failed\"",
             esc);
    const sl_node *en = c.expr;
    o->e = sl_op_compile_expr(en, schema, err);
    if (!o->e) goto fail;
    if (sl_expr_type(o->e) != SL_T_BOOL) {
        sl_node_error(err, en, "expectation '%s' must be a boolean expression, got %s", o->name,
                      sl_type_name(sl_expr_type(o->e)));
        goto fail;
    }
    o->action = c.action;
    snprintf(o->reason, sizeof o->reason, "expectation '%s' failed: %s", o->name, en->str);
    *self = o;
    return 0;
fail:
    if (o->e) sl_expr_free(o->e);
    free(o);
    return SL_EINVAL;
}

static int expect_process(void *self, sl_batch *b, sl_op_ctx *ctx, sl_error *err) {
    expect_op *o = self;
    if (b->n == 0) return 0;
    if (o->keep_cap < b->cap) {
        free(o->keep);
        o->keep = sl_xmalloc(b->cap);
        o->keep_cap = b->cap;
    }
    sl_expr_eval_bool(o->e, b, o->keep);
    uint32_t failed = 0;
    for (uint32_t i = 0; i < b->n; i++)
        failed += !o->keep[i];
    o->passed += b->n - failed;
    o->failed += failed;
    if (!failed) return 0;
    switch (o->action) {
    case ACT_WARN:
        return 0;
    case ACT_FAIL: {
        uint32_t i = 0;
        while (o->keep[i])
            i++;
        return sl_error_set(
            err, SL_EFAIL,
            "expectation '%s' failed (action fail) on the record at offset %lld: %.*s", o->name,
            (long long)b->pos[i], b->raw[i].len > 200 ? 200 : (int)b->raw[i].len,
            b->raw[i].ptr ? b->raw[i].ptr : "");
    }
    case ACT_QUARANTINE:
        for (uint32_t i = 0; i < b->n; i++)
            if (!o->keep[i]) ctx->quarantine(ctx->engine, b, i, o->reason);
        ctx->quarantined += failed;
        break;
    case ACT_DROP:
        ctx->dropped += failed;
        break;
    }
    sl_batch_keep(b, o->keep);
    return 0;
}

static int expect_snapshot(void *self, sl_buf *out, bool full) {
    (void)full;
    expect_op *o = self;
    sl_buf_put_i64(out, o->passed);
    sl_buf_put_i64(out, o->failed);
    return 0;
}

static int expect_restore(void *self, const void *data, size_t n, bool full, sl_error *err) {
    (void)full;
    expect_op *o = self;
    sl_rd r = {data, n, 0};
    if (sl_rd_i64(&r, &o->passed) || sl_rd_i64(&r, &o->failed))
        return sl_error_set(err, SL_ECORRUPT, "expectation '%s': corrupt snapshot", o->name);
    return 0;
}

static int expect_stats(void *self, sl_op_stat *out, int cap) {
    expect_op *o = self;
    static const char help[] = "Rows checked by an expectation, by result.";
    if (cap < 2) return 0;
    out[0] = (sl_op_stat){"passed", (double)o->passed, false, "expectation_rows_total",
                          help,     o->labels_passed};
    out[1] = (sl_op_stat){"failed", (double)o->failed, false, "expectation_rows_total",
                          help,     o->labels_failed};
    return 2;
}

static void expect_destroy(void *self) {
    expect_op *o = self;
    sl_expr_free(o->e);
    free(o->keep);
    free(o);
}

const sl_op_def sl_op_expect = {
    .name = "expect",
    .keeps_values = sl_op_keeps_values_always,
    .opts = expect_opts,
    .help = "data-quality expectation: warn, drop, quarantine or fail rows where expr is not true",
    .create = expect_create,
    .process = expect_process,
    .snapshot = expect_snapshot,
    .restore = expect_restore,
    .stats = expect_stats,
    .destroy = expect_destroy,
};
