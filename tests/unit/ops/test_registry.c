/*
 * test_registry.c - the operator registry (src/ops/registry.c): every step
 * operator is found by name, has the callbacks the engine calls, and
 * snapshot comes with restore.
 *
 * Helpers shared with the other operator tests are in ops_test.h.
 */
#include "ops_test.h"

static void test_registry(void **state) {
    (void)state;
    const char *names[] = {"expect", "derive",  "filter", "watermark", "dedupe",
                           "lookup", "anomaly", "health", "scd2",      "join"};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        const sl_op_def *d = sl_op_find(names[i]);
        assert_non_null(d);
        assert_string_equal(d->name, names[i]);
    }
    assert_null(sl_op_find("nope"));
    assert_null(sl_op_find(""));
    const sl_op_def *const *all = sl_op_all();
    int n = 0;
    for (; all[n]; n++) {
        assert_non_null(all[n]->create);
        assert_non_null(all[n]->process);
        assert_non_null(all[n]->destroy);
        assert_non_null(all[n]->help);
        /* snapshot and restore come together */
        assert_int_equal(all[n]->snapshot != NULL, all[n]->restore != NULL);
        assert_ptr_equal(sl_op_find(all[n]->name), all[n]);
        /* a side input names its table's option and takes the rows */
        assert_int_equal(all[n]->side_opt != NULL, all[n]->side != NULL);
    }
    assert_int_equal(n, (int)(sizeof names / sizeof *names));
}

int main(void) {
    sl_log_set_level(SL_LOG_WARN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_registry),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
