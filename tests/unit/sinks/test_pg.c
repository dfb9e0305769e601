/*
 * test_pg.c - the PostgreSQL store's pure parts (src/sinks/pg_sink.c,
 * pg_query.c): password masking of store URLs and the translation of
 * SQLite view SQL for PostgreSQL. Everything that needs a server is in
 * tests/integration/postgresql/.
 */
#include <setjmp.h> /* cmocka.h needs these four first */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>

#include "sinks/pg_sink.h"

static void mask(const char *url, const char *want) {
    char out[256];
    sl_pg_mask_url(url, out, sizeof out);
    assert_string_equal(out, want);
}

static void test_mask_url(void **st) {
    (void)st;
    mask("postgresql://sluice:s3cret@db:5432/serving", "postgresql://sluice:***@db:5432/serving");
    mask("postgres://u:p@h/d", "postgres://u:***@h/d");
    mask("postgresql://sluice@db/serving", "postgresql://sluice@db/serving");
    mask("postgresql://db/serving?user=u&password=topsecret&sslmode=require",
         "postgresql://db/serving?user=u&password=***&sslmode=require");
    mask("postgresql://u:a@b@h/d", "postgresql://u:***@h/d"); /* the last @ ends the secret */
    assert_true(sl_pg_is_url("postgresql://h/d"));
    assert_true(sl_pg_is_url("postgres://h/d"));
    assert_false(sl_pg_is_url("sqlite"));
    assert_false(sl_pg_is_url("mysql://h/d"));
}

static void translate(const char *in, const char *want) {
    char out[1024];
    sl_error err = {0};
    assert_int_equal(sl_pg_translate_view("v", in, out, sizeof out, &err), 0);
    assert_string_equal(out, want);
}

static void test_translate_view(void **st) {
    (void)st;
    translate("SELECT max(0, 100 - x) AS s FROM t", "SELECT greatest(0, 100 - x) AS s FROM t");
    translate("SELECT max(x), MIN(a, f(b, c)) FROM t", "SELECT max(x), least(a, f(b, c)) FROM t");
    translate("SELECT ifnull(a, 'max(1, 2)') FROM \"max\"",
              "SELECT coalesce(a, 'max(1, 2)') FROM \"max\"");
    translate("SELECT a_max(1, 2), max('a,b') FROM t", "SELECT a_max(1, 2), max('a,b') FROM t");
    char out[256];
    sl_error err = {0};
    assert_int_equal(
        sl_pg_translate_view("daily", "SELECT strftime('%H', ts) FROM t", out, sizeof out, &err),
        SL_EINVAL);
    assert_non_null(strstr(err.msg, "view 'daily' uses SQLite's strftime()"));
    assert_int_equal(
        sl_pg_translate_view("g", "SELECT group_concat (x) FROM t", out, sizeof out, &err),
        SL_EINVAL);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mask_url),
        cmocka_unit_test(test_translate_view),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
