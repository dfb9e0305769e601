/* test_core.c - unit tests for src/core: arena, batch, hash map, time, errors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "core/arena.h"
#include "core/batch.h"
#include "core/error.h"
#include "core/hash.h"
#include "core/timeutil.h"

static void test_arena(void **state) {
    (void)state;
    sl_arena *a = sl_arena_new(64);
    char *s = sl_arena_strdup(a, "hello", 5);
    assert_string_equal(s, "hello");
    void *big = sl_arena_alloc(a, 1000);
    assert_non_null(big);
    assert_true(sl_arena_used(a) >= 1000);
    sl_arena_reset(a);
    assert_int_equal(sl_arena_used(a), 0);
    sl_arena_free(a);
}

static void test_batch_keep_and_copy(void **state) {
    (void)state;
    sl_schema s;
    sl_schema_init(&s);
    assert_int_equal(sl_schema_add(&s, "id", SL_T_INT), 0);
    assert_int_equal(sl_schema_add(&s, "name", SL_T_STRING), 1);
    assert_int_equal(sl_schema_add(&s, "id", SL_T_INT), -1);
    sl_batch *b = sl_batch_new(&s, 8);
    for (int i = 0; i < 5; i++) {
        uint32_t r = sl_batch_append_null_row(b);
        sl_col_set_int(&b->col[0], r, i);
        if (i != 2) sl_col_set_str(&b->col[1], r, "abc", 3);
        b->pos[r] = 100 + i;
    }
    uint8_t keep[5] = {1, 0, 1, 0, 1};
    assert_int_equal(sl_batch_keep(b, keep), 3);
    assert_int_equal(b->col[0].v.i[1], 2);
    assert_true(b->col[1].null[1]);
    assert_int_equal(b->pos[2], 104);
    int c = sl_batch_add_column(b, "flag", SL_T_BOOL);
    assert_int_equal(c, 2);
    assert_true(b->col[2].null[0]);
    sl_batch *d = sl_batch_new(&b->schema, 8);
    sl_batch_copy(d, b);
    assert_int_equal(d->n, 3);
    assert_int_equal(d->col[0].v.i[2], 4);
    sl_batch_free(d);
    sl_batch_free(b);
}

static void test_hmap(void **state) {
    (void)state;
    sl_hmap *m = sl_hmap_new(4);
    for (int64_t i = 0; i < 10000; i++) assert_int_equal(sl_hmap_put(m, sl_hash_int(i, 0), i, NULL), 1);
    assert_int_equal(sl_hmap_put(m, sl_hash_int(5, 0), 99, NULL), 0);
    assert_int_equal(*sl_hmap_get(m, sl_hash_int(5, 0)), 5);
    for (int64_t i = 0; i < 10000; i += 2) assert_int_equal(sl_hmap_del(m, sl_hash_int(i, 0)), 1);
    assert_int_equal(sl_hmap_count(m), 5000);
    for (int64_t i = 0; i < 10000; i++) {
        int64_t *v = sl_hmap_get(m, sl_hash_int(i, 0));
        if (i % 2) {
            assert_non_null(v);
            assert_int_equal(*v, i);
        } else {
            assert_null(v);
        }
    }
    size_t it = 0, seen = 0;
    uint64_t k;
    int64_t v;
    while (sl_hmap_next(m, &it, &k, &v)) seen++;
    assert_int_equal(seen, 5000);
    assert_int_equal(sl_hmap_put(m, 0, 7, NULL), 1);
    assert_int_equal(*sl_hmap_get(m, 0), 7);
    sl_hmap_free(m);
}

static void test_time(void **state) {
    (void)state;
    int64_t us;
    assert_int_equal(sl_time_parse_iso("2026-01-01T00:05:00Z", 20, &us), 0);
    char buf[64];
    sl_time_format_iso(us, buf, sizeof buf);
    assert_string_equal(buf, "2026-01-01T00:05:00Z");
    assert_int_equal(sl_time_parse_iso("2003-10-11T22:14:15.003+02:00", 29, &us), 0);
    sl_time_format_iso_ms(us, buf, sizeof buf);
    assert_string_equal(buf, "2003-10-11T20:14:15.003Z");
    assert_int_equal(sl_time_parse_iso("1969-12-31T23:59:59.5Z", 22, &us), 0);
    assert_int_equal(us, -500000);
    sl_time_format_iso_ms(us, buf, sizeof buf);
    assert_string_equal(buf, "1969-12-31T23:59:59.500Z");
    assert_int_not_equal(sl_time_parse_iso("2026-13-01", 10, &us), 0);
    assert_int_not_equal(sl_time_parse_iso("2026-01-01T00:00:00Q", 20, &us), 0);
    assert_int_equal(sl_duration_parse("2m", &us), 0);
    assert_int_equal(us, 120 * SL_US_PER_SEC);
    assert_int_equal(sl_duration_parse("1h30m", &us), 0);
    assert_int_equal(us, 5400 * SL_US_PER_SEC);
    assert_int_equal(sl_duration_parse("250ms", &us), 0);
    assert_int_equal(us, 250000);
    assert_int_not_equal(sl_duration_parse("2x", &us), 0);
    assert_int_equal(sl_floor_div(-1, 60), -1);
}

static void test_error(void **state) {
    (void)state;
    sl_error e;
    assert_int_equal(sl_error_at(&e, SL_EINVAL, "p.yaml", 3, 7, "unknown key '%s'", "foo"), SL_EINVAL);
    assert_string_equal(e.msg, "p.yaml:3:7: unknown key 'foo'");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_arena), cmocka_unit_test(test_batch_keep_and_copy),
        cmocka_unit_test(test_hmap),  cmocka_unit_test(test_time),
        cmocka_unit_test(test_error),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
