/* core/tabfmt: aligned query tables, widths in characters, cut cells marked. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/tabfmt.h"

static char *render(sl_tab *t) {
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    sl_tab_print(t, f);
    fclose(f);
    return buf;
}

static void test_aligned(void **state) {
    (void)state;
    const char *names[] = {"id", "name"};
    sl_tab *t = sl_tab_new(2, names);
    sl_tab_add(t, (const char *[]){"1", "Zürich"});
    sl_tab_add(t, (const char *[]){"22", NULL});
    char *s = render(t);
    assert_string_equal(s, "id | name  \n"
                           "---+-------\n"
                           "1  | Zürich\n"
                           "22 | NULL  \n"
                           "(2 rows)\n");
    free(s);
    sl_tab_free(t);
}

static void test_cut_marked(void **state) {
    (void)state;
    const char *names[] = {"msg"};
    sl_tab *t = sl_tab_new(1, names);
    char long_cell[200];
    memset(long_cell, 'x', 100);
    long_cell[100] = 0;
    sl_tab_add(t, (const char *[]){long_cell});
    sl_tab_add(t, (const char *[]){"a\nb"});
    char *s = render(t);
    /* 59 characters and the ellipsis: the column is exactly 60 wide */
    char want[300];
    snprintf(want, sizeof want, "%.59s\xe2\x80\xa6\n", long_cell);
    assert_non_null(strstr(s, want));
    assert_non_null(strstr(s, "a b  ")); /* a newline does not break the row */
    assert_non_null(strstr(s, "(2 rows; 1 cell cut at 60 characters"));
    free(s);
    sl_tab_free(t);
}

static void test_exact_width_not_cut(void **state) {
    (void)state;
    const char *names[] = {"v"};
    sl_tab *t = sl_tab_new(1, names);
    char cell[61];
    memset(cell, 'y', 60);
    cell[60] = 0;
    sl_tab_add(t, (const char *[]){cell});
    char *s = render(t);
    assert_non_null(strstr(s, cell));
    assert_null(strstr(s, "\xe2\x80\xa6"));
    assert_non_null(strstr(s, "(1 row)\n"));
    free(s);
    sl_tab_free(t);
}

static void test_csv_json_writers(void **state) {
    (void)state;
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    sl_fput_csv_field(f, "plain");
    fputc('|', f);
    sl_fput_csv_field(f, "a,\"b\"\nc");
    fputc('|', f);
    sl_fput_csv_field(f, NULL);
    fputc('|', f);
    sl_fput_json_string(f, "q\"\\\n\t\x01é");
    fclose(f);
    assert_string_equal(buf, "plain|\"a,\"\"b\"\"\nc\"||\"q\\\"\\\\\\n\\t\\u0001é\"");
    free(buf);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_aligned),
        cmocka_unit_test(test_cut_marked),
        cmocka_unit_test(test_exact_width_not_cut),
        cmocka_unit_test(test_csv_json_writers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
