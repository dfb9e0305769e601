/*
 * test_regex.c - the regex line format (src/formats/regex.c) directly and
 * through sl_line_format_new_opts("regex").
 *
 * Covered: named groups to typed columns (int, double, bool, ts, string
 * views into the buffer), unset optional groups and columns without a group
 * are NULL, groups without a column ignored, (?J) duplicate names, "regex:
 * no match" and cast errors as bad records with exact positions, CRLF, BOM,
 * blank lines, a full batch stops the parse, incomplete last line left
 * unconsumed, compile errors with the offset, a pattern with no named group
 * naming a column, catastrophic backtracking ends as a bad record, the
 * default all-string schema from group names, JIT on this platform.
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
#include "formats/regex.h"

typedef struct {
    int n;
    char line[8][256];
    char reason[8][256];
    int64_t pos[8];
} bads;

static void on_bad(void *ud, const char *line, size_t len, int32_t part, int64_t pos,
                   const char *reason) {
    (void)part;
    bads *b = ud;
    if (b->n < 8) {
        snprintf(b->line[b->n], 256, "%.*s", (int)len, line);
        snprintf(b->reason[b->n], 256, "%s", reason);
        b->pos[b->n] = pos;
    }
    b->n++;
}

#define PAT                                                                                        \
    "^(?<ts>\\S+) (?<host>\\S+) (?<level>[A-Z]+) code=(?<code>-?\\d+)(?: "                         \
    "took=(?<took>[\\d.]+)ms)?(?: ok=(?<ok>\\w+))? (?<msg>.*)$"

static void schema(sl_schema *s) {
    sl_schema_init(s);
    sl_schema_add(s, "ts", SL_T_TS);
    sl_schema_add(s, "host", SL_T_STRING);
    sl_schema_add(s, "code", SL_T_INT);
    sl_schema_add(s, "took", SL_T_DOUBLE);
    sl_schema_add(s, "ok", SL_T_BOOL);
    sl_schema_add(s, "msg", SL_T_STRING);
    sl_schema_add(s, "absent", SL_T_STRING);
}

static void test_typed_groups(void **state) {
    (void)state;
    sl_schema s;
    schema(&s);
    sl_error err = {0};
    sl_regex_parser *p = sl_regex_parser_new(&s, PAT, &err);
    assert_non_null(p);
    assert_true(sl_regex_parser_jit(p));
    sl_batch *b = sl_batch_new(&s, 16);
    const char *in = "\xEF\xBB\xBF"
                     "2026-01-01T00:00:01Z r1 INFO code=200 took=12.5ms ok=yes all good\r\n"
                     "\n   \n"
                     "2026-01-01T00:00:02Z r2 WARN code=-3 disk nearly full\n"
                     "garbage line\n"
                     "2026-01-01T00:00:03Z r3 INFO code=99999999999999999999 overflow\n"
                     "2026-01-01T00:00:04Z r4 INFO code=1 incomplete";
    bads bd = {0};
    size_t used = sl_regex_parse_lines(p, in, strlen(in), 3, 0, 77, b, on_bad, &bd);
    assert_int_equal(used, strlen(in) - strlen("2026-01-01T00:00:04Z r4 INFO code=1 incomplete"));
    assert_int_equal(b->n, 2);
    assert_int_equal(b->col[0].v.i[0], 1767225601000000LL);
    assert_int_equal(b->col[1].v.s[0].len, 2);
    assert_memory_equal(b->col[1].v.s[0].ptr, "r1", 2);
    assert_true(b->col[1].v.s[0].ptr > in && b->col[1].v.s[0].ptr < in + used); /* a view */
    assert_int_equal(b->col[2].v.i[0], 200);
    assert_true(b->col[3].v.d[0] == 12.5);
    assert_int_equal(b->col[4].v.b[0], 1);
    assert_memory_equal(b->col[5].v.s[0].ptr, "all good", 8);
    assert_int_equal(b->col[5].v.s[0].len, 8);
    assert_int_equal(b->col[6].null[0], 1);
    assert_int_equal(b->pos[0], 0);
    assert_int_equal(b->part[0], 3);
    assert_int_equal(b->ingest[0], 77);
    assert_int_equal(b->raw[0].len,
                     strlen("2026-01-01T00:00:01Z r1 INFO code=200 took=12.5ms ok=yes all good"));
    /* row 2: optional groups unset -> NULL */
    assert_int_equal(b->col[2].v.i[1], -3);
    assert_int_equal(b->col[3].null[1], 1);
    assert_int_equal(b->col[4].null[1], 1);
    assert_int_equal(bd.n, 2);
    assert_string_equal(bd.line[0], "garbage line");
    assert_string_equal(bd.reason[0], "regex: no match");
    assert_int_equal(bd.pos[0], strstr(in, "garbage") - in);
    assert_string_equal(bd.reason[1], "field 'code': expected int, got '99999999999999999999'");
    sl_batch_free(b);
    sl_regex_parser_free(p);
}

static void test_batch_full_and_lineformat(void **state) {
    (void)state;
    sl_schema s;
    sl_schema_init(&s);
    sl_schema_add(&s, "k", SL_T_STRING);
    sl_schema_add(&s, "v", SL_T_INT);
    sl_line_format_opts o = {.pattern = "(?<k>\\w+)=(?<v>\\d+)"};
    sl_error err = {0};
    assert_null(sl_line_format_new("regex", &s, NULL, &err)); /* needs a pattern */
    sl_line_format *f = sl_line_format_new_opts("regex", &s, NULL, &o, &err);
    assert_non_null(f);
    sl_batch *b = sl_batch_new(&s, 2);
    const char *in = "a=1\nxx b=2 yy\nc=3\n";
    size_t used = sl_line_format_parse(f, in, strlen(in), 0, 100, 0, b, NULL, NULL);
    assert_int_equal(used, 4 + 10);
    assert_int_equal(b->n, 2);
    assert_int_equal(b->col[1].v.i[1], 2); /* unanchored search */
    assert_int_equal(b->pos[1], 104);
    sl_batch_clear(b);
    assert_int_equal(sl_line_format_parse(f, in + used, strlen(in) - used, 0, 100 + (int64_t)used,
                                          0, b, NULL, NULL),
                     4);
    assert_int_equal(b->n, 1);
    sl_batch_free(b);
    sl_line_format_free(f);
}

static void test_errors_and_schema(void **state) {
    (void)state;
    sl_schema s;
    sl_schema_init(&s);
    sl_schema_add(&s, "a", SL_T_STRING);
    sl_error err = {0};
    assert_null(sl_regex_parser_new(&s, "(?<a>x", &err));
    assert_int_equal(err.code, SL_EINVAL);
    assert_non_null(strstr(err.msg, "at offset 6"));
    assert_null(sl_regex_parser_new(&s, "(?<b>x)", &err));
    assert_non_null(strstr(err.msg, "no named group"));
    assert_null(sl_regex_parser_new(&s, "", &err));
    sl_schema d;
    assert_int_equal(sl_regex_schema("(?<z>a)(b)(?<y>c)", &d, &err), 0);
    assert_int_equal(d.n, 2);
    assert_string_equal(d.f[0].name, "z");
    assert_string_equal(d.f[1].name, "y");
    assert_int_equal(d.f[0].type, SL_T_STRING);
    assert_int_equal(sl_regex_schema("(a)", &d, &err), SL_EINVAL);
    /* (?J): two alternatives fill one column */
    sl_regex_parser *p = sl_regex_parser_new(&s, "(?J)^(?:x(?<a>\\d+)|y(?<a>[a-z]+))$", &err);
    assert_non_null(p);
    sl_batch *b = sl_batch_new(&s, 4);
    const char *in = "x12\nyab\n";
    assert_int_equal(sl_regex_parse_lines(p, in, strlen(in), 0, 0, 0, b, NULL, NULL), strlen(in));
    assert_int_equal(b->n, 2);
    assert_memory_equal(b->col[0].v.s[0].ptr, "12", 2);
    assert_memory_equal(b->col[0].v.s[1].ptr, "ab", 2);
    sl_batch_free(b);
    sl_regex_parser_free(p);
}

static void test_backtracking_bounded(void **state) {
    (void)state;
    sl_schema s;
    sl_schema_init(&s);
    sl_schema_add(&s, "a", SL_T_STRING);
    sl_error err = {0};
    sl_regex_parser *p = sl_regex_parser_new(&s, "^(?<a>(a+)+)b$", &err);
    assert_non_null(p);
    char line[64];
    memset(line, 'a', 40);
    line[40] = '\n';
    sl_batch *b = sl_batch_new(&s, 4);
    bads bd = {0};
    assert_int_equal(sl_regex_parse_lines(p, line, 41, 0, 0, 0, b, on_bad, &bd), 41);
    assert_int_equal(b->n, 0);
    assert_int_equal(bd.n, 1);
    assert_non_null(strstr(bd.reason[0], "regex: "));
    sl_batch_free(b);
    sl_regex_parser_free(p);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_typed_groups),
        cmocka_unit_test(test_batch_full_and_lineformat),
        cmocka_unit_test(test_errors_and_schema),
        cmocka_unit_test(test_backtracking_bounded),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
