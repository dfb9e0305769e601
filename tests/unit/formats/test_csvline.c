/*
 * test_csvline.c - CSV as a line format (sl_line_format_new_opts("csv")).
 *
 * Covered: a header per partition remembered by part id while buffers of
 * two files with different column orders arrive interleaved; resuming
 * mid-file with and without a read_head callback (bad records with a clear
 * reason, not silently shifted columns); header: false with the schema's
 * order or explicit columns, and a ';' delimiter; a bad header line
 * reported and the next record taken as the header; an incomplete header
 * consumes nothing; a BOM before the header; default options (header on).
 */
#include <setjmp.h> /* cmocka.h needs these four first */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/batch.h"
#include "formats/lineformat.h"

typedef struct {
    int n;
    char reason[8][256];
    int64_t pos[8];
} bads;

static void on_bad(void *ud, const char *line, size_t len, int32_t part, int64_t pos,
                   const char *reason) {
    (void)line, (void)len, (void)part;
    bads *b = ud;
    if (b->n < 8) {
        snprintf(b->reason[b->n], 256, "%s", reason);
        b->pos[b->n] = pos;
    }
    b->n++;
}

static void schema(sl_schema *s) {
    sl_schema_init(s);
    sl_schema_add(s, "id", SL_T_INT);
    sl_schema_add(s, "name", SL_T_STRING);
}

static void check_row(sl_batch *b, uint32_t r, int64_t id, const char *name) {
    assert_int_equal(b->col[0].null[r], 0);
    assert_int_equal(b->col[0].v.i[r], id);
    assert_int_equal(b->col[1].v.s[r].len, strlen(name));
    assert_memory_equal(b->col[1].v.s[r].ptr, name, strlen(name));
}

static void test_header_per_part(void **state) {
    (void)state;
    sl_schema s;
    schema(&s);
    sl_line_format_opts o = {.header = true};
    sl_error err = {0};
    sl_line_format *f = sl_line_format_new_opts("csv", &s, NULL, &o, &err);
    assert_non_null(f);
    sl_batch *b = sl_batch_new(&s, 64);
    const char *a1 = "\xEF\xBB\xBFid,name\n1,alpha\n", *a2 = "2,beta\n";
    const char *b1 = "name,extra,id\nx,0,10\n", *b2 = "y,0,20\n";
    assert_int_equal(sl_line_format_parse(f, a1, strlen(a1), 0, 0, 0, b, NULL, NULL), strlen(a1));
    assert_int_equal(sl_line_format_parse(f, b1, strlen(b1), 1, 0, 0, b, NULL, NULL), strlen(b1));
    assert_int_equal(
        sl_line_format_parse(f, a2, strlen(a2), 0, (int64_t)strlen(a1), 0, b, NULL, NULL),
        strlen(a2));
    assert_int_equal(
        sl_line_format_parse(f, b2, strlen(b2), 1, (int64_t)strlen(b1), 0, b, NULL, NULL),
        strlen(b2));
    assert_int_equal(b->n, 4);
    check_row(b, 0, 1, "alpha");
    check_row(b, 1, 10, "x");
    check_row(b, 2, 2, "beta");
    check_row(b, 3, 20, "y");
    assert_int_equal(b->pos[2], strlen(a1));
    sl_batch_free(b);
    sl_line_format_free(f);
}

static const char *FILE7 = "name,id\nn0,0\nn1,1\n";
static long head7(void *ud, int32_t part, char *buf, size_t cap) {
    (void)ud;
    if (part != 7) return -1;
    size_t n = strlen(FILE7) < cap ? strlen(FILE7) : cap;
    memcpy(buf, FILE7, n);
    return (long)n;
}

static void test_resume_mid_file(void **state) {
    (void)state;
    sl_schema s;
    schema(&s);
    sl_error err = {0};
    const char *rest = FILE7 + 13; /* "n1,1\n" */
    /* without read_head: bad records, never guessed columns */
    sl_line_format *f =
        sl_line_format_new_opts("csv", &s, NULL, &(sl_line_format_opts){.header = true}, &err);
    sl_batch *b = sl_batch_new(&s, 8);
    bads bd = {0};
    assert_int_equal(sl_line_format_parse(f, rest, strlen(rest), 7, 13, 0, b, on_bad, &bd),
                     strlen(rest));
    assert_int_equal(b->n, 0);
    assert_int_equal(bd.n, 1);
    assert_string_equal(bd.reason[0],
                        "csv: header of this partition is unknown (reading began at byte 13)");
    assert_int_equal(bd.pos[0], 13);
    sl_line_format_free(f);
    /* with read_head: the header is fetched from the file's start */
    sl_line_format_opts o = {.header = true, .read_head = head7};
    f = sl_line_format_new_opts("csv", &s, NULL, &o, &err);
    assert_int_equal(sl_line_format_parse(f, rest, strlen(rest), 7, 13, 0, b, on_bad, &bd),
                     strlen(rest));
    assert_int_equal(b->n, 1);
    check_row(b, 0, 1, "n1");
    sl_batch_free(b);
    sl_line_format_free(f);
}

static void test_no_header(void **state) {
    (void)state;
    sl_schema s;
    schema(&s);
    sl_error err = {0};
    sl_line_format *f =
        sl_line_format_new_opts("csv", &s, NULL, &(sl_line_format_opts){.delim = ';'}, &err);
    assert_non_null(f);
    sl_batch *b = sl_batch_new(&s, 8);
    const char *in = "5;five\n6;\"si;x\"\n";
    assert_int_equal(sl_line_format_parse(f, in, strlen(in), 0, 0, 0, b, NULL, NULL), strlen(in));
    assert_int_equal(b->n, 2);
    check_row(b, 0, 5, "five");
    check_row(b, 1, 6, "si;x");
    sl_line_format_free(f);
    const char *cols[] = {"name", "skip", "id"};
    sl_line_format_opts o = {.columns = cols, .ncolumns = 3};
    f = sl_line_format_new_opts("csv", &s, NULL, &o, &err);
    sl_batch_clear(b);
    const char *in2 = "z,?,9\n";
    assert_int_equal(sl_line_format_parse(f, in2, strlen(in2), 0, 0, 0, b, NULL, NULL),
                     strlen(in2));
    check_row(b, 0, 9, "z");
    sl_batch_free(b);
    sl_line_format_free(f);
}

static void test_bad_and_incomplete_header(void **state) {
    (void)state;
    sl_schema s;
    schema(&s);
    sl_error err = {0};
    sl_line_format *f = sl_line_format_new("csv", &s, NULL, &err); /* default: header on */
    assert_non_null(f);
    sl_batch *b = sl_batch_new(&s, 8);
    assert_int_equal(sl_line_format_parse(f, "id,na", 5, 0, 0, 0, b, NULL, NULL), 0);
    const char *in = "i\"d,name\nid,name\n3,c\n";
    bads bd = {0};
    assert_int_equal(sl_line_format_parse(f, in, strlen(in), 0, 0, 0, b, on_bad, &bd), strlen(in));
    assert_int_equal(bd.n, 1);
    assert_non_null(strstr(bd.reason[0], "CSV header"));
    assert_int_equal(b->n, 1);
    check_row(b, 0, 3, "c");
    /* a wrong field count and a bad cast are bad records of their own */
    sl_batch_clear(b);
    bd.n = 0;
    const char *in2 = "id,name\n1\nx,y\n4,d\n";
    assert_int_equal(sl_line_format_parse(f, in2, strlen(in2), 1, 0, 0, b, on_bad, &bd),
                     strlen(in2));
    assert_int_equal(b->n, 1);
    assert_int_equal(bd.n, 2);
    assert_string_equal(bd.reason[0], "expected 2 fields, got 1");
    sl_batch_free(b);
    sl_line_format_free(f);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_header_per_part),
        cmocka_unit_test(test_resume_mid_file),
        cmocka_unit_test(test_no_header),
        cmocka_unit_test(test_bad_and_incomplete_header),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
