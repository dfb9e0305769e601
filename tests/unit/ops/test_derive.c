/*
 * test_derive.c - the derive operator (src/ops/derive.c): new and replaced
 * columns computed from expressions.
 *
 * Helpers shared with the other operator tests are in ops_test.h.
 */
#include "ops_test.h"

static void test_derive(void **state) {
    (void)state;
    sl_schema s;
    sl_schema_init(&s);
    sl_schema_add(&s, "v", SL_T_INT);
    sl_schema_add(&s, "name", SL_T_STRING);
    op_t o;
    /* each column sees the ones derived before it */
    op_ok(&o, "derive",
          "{w: \"v * 2\", x: \"w + 1\", up: \"upper(name)\", ts: \"from_unixtime_ms(v)\"}", &s,
          NULL);
    assert_int_equal(s.n, 6);
    int w = sl_schema_find(&s, "w"), x = sl_schema_find(&s, "x"), up = sl_schema_find(&s, "up"),
        ts = sl_schema_find(&s, "ts");
    assert_int_equal(s.f[w].type, SL_T_INT);
    assert_int_equal(s.f[x].type, SL_T_INT);
    assert_int_equal(s.f[up].type, SL_T_STRING);
    assert_int_equal(s.f[ts].type, SL_T_TS);
    sl_batch *b = sl_batch_new(&s, 8);
    uint32_t r0 = add_row(b, 0);
    sl_col_set_int(&b->col[0], r0, 21);
    sl_col_set_str(&b->col[1], r0, "abc", 3);
    add_row(b, 1); /* all NULL */
    sl_op_ctx ctx;
    ctx_init(&ctx);
    sl_error err = {0};
    assert_int_equal(o.def->process(o.self, b, &ctx, &err), 0);
    assert_int_equal(b->n, 2);
    assert_false(b->col[w].null[0]);
    assert_int_equal(b->col[w].v.i[0], 42);
    assert_int_equal(b->col[x].v.i[0], 43);
    assert_int_equal(b->col[up].v.s[0].len, 3);
    assert_memory_equal(b->col[up].v.s[0].ptr, "ABC", 3);
    assert_int_equal(b->col[ts].v.i[0], 21 * SL_US_PER_MS);
    assert_true(b->col[w].null[1]);
    assert_true(b->col[x].null[1]);
    assert_true(b->col[up].null[1]);
    assert_true(b->col[ts].null[1]);
    sl_batch_free(b);
    op_free(&o);

    /* re-deriving an existing column with the same type is allowed, another type is not */
    sl_schema_init(&s);
    sl_schema_add(&s, "v", SL_T_INT);
    op_ok(&o, "derive", "{v: \"v + 1\"}", &s, NULL);
    assert_int_equal(s.n, 1);
    op_free(&o);
    sl_error e2 = {0};
    assert_int_not_equal(op_make(&o, "derive", "{v: \"'a'\"}", &s, NULL, &e2), 0);
    assert_non_null(strstr(e2.msg, "cannot change"));
    memset(&e2, 0, sizeof e2);
    assert_int_not_equal(op_make(&o, "derive", "not_a_map", &s, NULL, &e2), 0);
    memset(&e2, 0, sizeof e2);
    assert_int_not_equal(op_make(&o, "derive", "{y: \"v +\"}", &s, NULL, &e2), 0);
    assert_non_null(strstr(e2.msg, "test.yaml:1:"));
}

int main(void) {
    sl_log_set_level(SL_LOG_WARN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_derive),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
