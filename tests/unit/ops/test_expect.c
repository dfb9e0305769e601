/*
 * test_expect.c - the expect operator (src/ops/expect.c): warn, drop,
 * quarantine and fail actions, counts in its snapshot, and the specs it
 * refuses.
 *
 * Helpers shared with the other operator tests are in ops_test.h.
 */
#include "ops_test.h"

/* schema (id int, v int); rows v = 1, -1, NULL, 5, 0 with pos 0..4; failing ids 1, 2, 4 */
static sl_batch *expect_batch(const sl_schema *s) {
    sl_batch *b = sl_batch_new(s, 16);
    int vi = sl_schema_find(s, "v");
    int64_t vals[] = {1, -1, 0, 5, 0};
    for (int i = 0; i < 5; i++) {
        uint32_t r = add_row(b, i);
        sl_col_set_int(&b->col[0], r, i);
        if (i != 2) sl_col_set_int(&b->col[vi], r, vals[i]);
    }
    return b;
}

static void run_expect(const char *action, sl_op_ctx *ctx, op_t *o, sl_batch **bp, int *rc,
                       sl_error *err) {
    sl_schema s;
    sl_schema_init(&s);
    sl_schema_add(&s, "id", SL_T_INT);
    sl_schema_add(&s, "v", SL_T_INT);
    char arg[256];
    snprintf(arg, sizeof arg, "{name: pos_v, expr: \"v > 0\", action: %s}", action);
    op_ok(o, "expect", arg, &s, NULL);
    assert_int_equal(s.n, 2); /* expect adds no column */
    ctx_init(ctx);
    *bp = expect_batch(&s);
    *rc = o->def->process(o->self, *bp, ctx, err);
}

static void test_expect_warn(void **state) {
    (void)state;
    op_t o;
    sl_op_ctx ctx;
    sl_batch *b;
    int rc;
    sl_error err = {0};
    run_expect("warn", &ctx, &o, &b, &rc, &err);
    assert_int_equal(rc, 0);
    assert_int_equal(b->n, 5);
    assert_int_equal(ctx.dropped, 0);
    assert_int_equal(ctx.quarantined, 0);
    assert_int_equal(Q.n, 0);
    assert_int_equal(stat_num(&o, "passed"), 2);
    assert_int_equal(stat_num(&o, "failed"), 3);
    sl_batch_free(b);
    op_free(&o);
}

static void test_expect_default_action_is_warn(void **state) {
    (void)state;
    sl_schema s;
    sl_schema_init(&s);
    sl_schema_add(&s, "id", SL_T_INT);
    sl_schema_add(&s, "v", SL_T_INT);
    op_t o;
    op_ok(&o, "expect", "{name: pos_v, expr: \"v > 0\"}", &s, NULL);
    sl_op_ctx ctx;
    ctx_init(&ctx);
    sl_batch *b = expect_batch(&s);
    sl_error err = {0};
    assert_int_equal(o.def->process(o.self, b, &ctx, &err), 0);
    assert_int_equal(b->n, 5);
    sl_batch_free(b);
    op_free(&o);
}

static void test_expect_drop(void **state) {
    (void)state;
    op_t o;
    sl_op_ctx ctx;
    sl_batch *b;
    int rc;
    sl_error err = {0};
    run_expect("drop", &ctx, &o, &b, &rc, &err);
    assert_int_equal(rc, 0);
    assert_int_equal(b->n, 2);
    assert_int_equal(b->pos[0], 0);
    assert_int_equal(b->pos[1], 3);
    assert_int_equal(b->col[0].v.i[1], 3); /* columns compacted with the provenance */
    assert_int_equal(ctx.dropped, 3);
    assert_int_equal(ctx.quarantined, 0);
    assert_int_equal(Q.n, 0);
    assert_int_equal(stat_num(&o, "passed"), 2);
    assert_int_equal(stat_num(&o, "failed"), 3);
    sl_batch_free(b);
    op_free(&o);
}

static void test_expect_quarantine(void **state) {
    (void)state;
    op_t o;
    sl_op_ctx ctx;
    sl_batch *b;
    int rc;
    sl_error err = {0};
    run_expect("quarantine", &ctx, &o, &b, &rc, &err);
    assert_int_equal(rc, 0);
    assert_int_equal(b->n, 2);
    assert_true(has_pos(b, 0) && has_pos(b, 3));
    assert_int_equal(ctx.quarantined, 3);
    assert_int_equal(ctx.dropped, 0);
    assert_int_equal(Q.n, 3);
    assert_int_equal(Q.pos[0], 1);
    assert_int_equal(Q.pos[1], 2);
    assert_int_equal(Q.pos[2], 4);
    assert_false(q_has(0) || q_has(3));
    assert_non_null(strstr(Q.reason[0], "pos_v"));
    assert_non_null(strstr(Q.reason[0], "v > 0"));
    sl_batch_free(b);
    op_free(&o);
}

static void test_expect_fail(void **state) {
    (void)state;
    op_t o;
    sl_op_ctx ctx;
    sl_batch *b;
    int rc;
    sl_error err = {0};
    run_expect("fail", &ctx, &o, &b, &rc, &err);
    assert_int_equal(rc, SL_EFAIL);
    assert_int_equal(err.code, SL_EFAIL);
    assert_non_null(strstr(err.msg, "pos_v"));
    assert_int_equal(Q.n, 0);
    sl_batch_free(b);
    op_free(&o);

    /* a batch where every row passes does not fail */
    sl_schema s;
    sl_schema_init(&s);
    sl_schema_add(&s, "id", SL_T_INT);
    sl_schema_add(&s, "v", SL_T_INT);
    op_ok(&o, "expect", "{name: pos_v, expr: \"v > 0\", action: fail}", &s, NULL);
    b = sl_batch_new(&s, 4);
    sl_col_set_int(&b->col[1], add_row(b, 0), 7);
    ctx_init(&ctx);
    assert_int_equal(o.def->process(o.self, b, &ctx, &err), 0);
    assert_int_equal(b->n, 1);
    sl_batch_free(b);
    op_free(&o);
}

static void test_expect_snapshot_counts(void **state) {
    (void)state;
    op_t o, o2;
    sl_op_ctx ctx;
    sl_batch *b;
    int rc;
    sl_error err = {0};
    run_expect("drop", &ctx, &o, &b, &rc, &err);
    sl_buf buf = {0};
    assert_int_equal(o.def->snapshot(o.self, &buf, true), 0);
    sl_schema s;
    sl_schema_init(&s);
    sl_schema_add(&s, "id", SL_T_INT);
    sl_schema_add(&s, "v", SL_T_INT);
    op_ok(&o2, "expect", "{name: pos_v, expr: \"v > 0\", action: drop}", &s, NULL);
    assert_int_equal(o2.def->restore(o2.self, buf.p, buf.n, true, &err), 0);
    assert_int_equal(stat_num(&o2, "passed"), 2);
    assert_int_equal(stat_num(&o2, "failed"), 3);
    /* truncated snapshot is refused */
    assert_int_equal(o2.def->restore(o2.self, buf.p, buf.n - 1, true, &err), SL_ECORRUPT);
    sl_buf_free(&buf);
    sl_batch_free(b);
    op_free(&o);
    op_free(&o2);
}

static void test_expect_bad_specs(void **state) {
    (void)state;
    sl_schema s;
    sl_schema_init(&s);
    sl_schema_add(&s, "v", SL_T_INT);
    op_t o;
    sl_error err = {0};
    assert_int_not_equal(op_make(&o, "expect", "{name: x, expr: \"v + 1\"}", &s, NULL, &err), 0);
    assert_non_null(strstr(err.msg, "boolean"));
    memset(&err, 0, sizeof err);
    assert_int_not_equal(
        op_make(&o, "expect", "{name: x, expr: \"v > 0\", action: dorp}", &s, NULL, &err), 0);
    assert_non_null(strstr(err.msg, "test.yaml:1:"));
    memset(&err, 0, sizeof err);
    assert_int_not_equal(op_make(&o, "expect", "{name: x, expr: \"nosuch > 0\"}", &s, NULL, &err),
                         0);
    assert_non_null(strstr(err.msg, "nosuch"));
    memset(&err, 0, sizeof err);
    assert_int_not_equal(op_make(&o, "expect", "{expr: \"v > 0\"}", &s, NULL, &err), 0);
    assert_non_null(strstr(err.msg, "name"));
}

int main(void) {
    sl_log_set_level(SL_LOG_WARN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_expect_warn),
        cmocka_unit_test(test_expect_default_action_is_warn),
        cmocka_unit_test(test_expect_drop),
        cmocka_unit_test(test_expect_quarantine),
        cmocka_unit_test(test_expect_fail),
        cmocka_unit_test(test_expect_snapshot_counts),
        cmocka_unit_test(test_expect_bad_specs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
