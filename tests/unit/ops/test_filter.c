/*
 * test_filter.c - the filter operator (src/ops/derive.c): rows whose
 * predicate is NULL are dropped like false ones.
 *
 * Helpers shared with the other operator tests are in ops_test.h.
 */
#include "ops_test.h"

static void test_filter_null_predicate(void **state) {
    (void)state;
    sl_schema s;
    sl_schema_init(&s);
    sl_schema_add(&s, "v", SL_T_INT);
    op_t o;
    op_ok(&o, "filter", "\"v > 10\"", &s, NULL);
    sl_batch *b = sl_batch_new(&s, 8);
    int64_t vals[] = {5, 20, 0, 11, 10};
    for (int i = 0; i < 5; i++) {
        uint32_t r = add_row(b, i);
        if (i != 2) sl_col_set_int(&b->col[0], r, vals[i]); /* row 2: NULL -> predicate NULL */
    }
    sl_op_ctx ctx;
    ctx_init(&ctx);
    sl_error err = {0};
    assert_int_equal(o.def->process(o.self, b, &ctx, &err), 0);
    assert_int_equal(b->n, 2);
    assert_int_equal(b->pos[0], 1);
    assert_int_equal(b->pos[1], 3);
    assert_int_equal(ctx.filtered, 3);
    /* empty batch */
    sl_batch_clear(b);
    assert_int_equal(o.def->process(o.self, b, &ctx, &err), 0);
    assert_int_equal(ctx.filtered, 3);
    sl_batch_free(b);
    op_free(&o);

    /* "v IS NULL" keeps exactly the NULL row */
    op_ok(&o, "filter", "\"v IS NULL\"", &s, NULL);
    b = sl_batch_new(&s, 8);
    for (int i = 0; i < 3; i++) {
        uint32_t r = add_row(b, i);
        if (i != 1) sl_col_set_int(&b->col[0], r, i);
    }
    assert_int_equal(o.def->process(o.self, b, &ctx, &err), 0);
    assert_int_equal(b->n, 1);
    assert_int_equal(b->pos[0], 1);
    sl_batch_free(b);
    op_free(&o);

    sl_error e2 = {0};
    assert_int_not_equal(op_make(&o, "filter", "\"v + 1\"", &s, NULL, &e2), 0);
    assert_non_null(strstr(e2.msg, "boolean"));
}

int main(void) {
    sl_log_set_level(SL_LOG_WARN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_filter_null_predicate),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
