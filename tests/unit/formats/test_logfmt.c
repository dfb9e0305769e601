/* test_logfmt.c - unit tests for formats/logfmt.h: splitting lines into
 * pairs (bare and quoted values, escapes, bare keys, odd spacing), syntax
 * errors with their column, the casts of sl_logfmt_cast, and the batch
 * parser: key-to-column matching, casts per type, bad records, blank and
 * partial lines, BOM, resume. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "core/batch.h"
#include "core/timeutil.h"
#include "formats/logfmt.h"

/* Renders the pairs of a line as "k=v|k|k=v" ("!msg" on error). */
static const char *split(const char *line) {
    static char out[1024];
    sl_schema s;
    sl_schema_init(&s);
    sl_logfmt_parser *p = sl_logfmt_parser_new(&s, NULL);
    sl_logfmt_pair *pairs;
    int n;
    sl_error err = {0};
    if (sl_logfmt_parse(p, line, strlen(line), &pairs, &n, &err) != 0) {
        snprintf(out, sizeof out, "!%s", err.msg);
    } else {
        size_t o = 0;
        out[0] = 0;
        for (int k = 0; k < n; k++) {
            o += (size_t)snprintf(out + o, sizeof out - o, "%s%.*s", k ? "|" : "",
                                  (int)pairs[k].key.len, pairs[k].key.ptr);
            if (pairs[k].has_value)
                o += (size_t)snprintf(out + o, sizeof out - o, "=%.*s", (int)pairs[k].value.len,
                                      pairs[k].value.ptr);
        }
    }
    sl_logfmt_parser_free(p);
    return out;
}

static void test_split(void **state) {
    (void)state;
    assert_string_equal(split("a=1 b=two c"), "a=1|b=two|c");
    assert_string_equal(split("level=info msg=\"hello world\" dur=1.5ms"),
                        "level=info|msg=hello world|dur=1.5ms");
    assert_string_equal(split("  a=1\t\tb=2   "), "a=1|b=2");
    assert_string_equal(split(""), "");
    assert_string_equal(split("   "), "");
    assert_string_equal(split("a= b=\"\" c"), "a=|b=|c");
    assert_string_equal(split("q=a=b x=\"y\"z"),
                        "!column 12: expected a space after the closing quote");
    assert_string_equal(split("q=a=b u=x\"y"),
                        "q=a=b|u=x\"y"); /* bare values take any non-space byte */
    assert_string_equal(split("k=\"esc \\\" \\\\ \\n \\t \\r \\/ \\q\""),
                        "k=esc \" \\ \n \t \r / \\q");
    assert_string_equal(split("k=\"\\u00e9\\u20ac\\ud83d\\ude00\""),
                        "k=\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80");
    assert_string_equal(split("k=\"\\ud83d x\\u12\""), "k=\\ud83d x\\u12"); /* malformed \u kept */
    assert_string_equal(split("k=\"a\" k=\"b\""), "k=a|k=b");
    assert_string_equal(split("caf\xC3\xA9=na\xC3\xAFve"), "caf\xC3\xA9=na\xC3\xAFve");
    assert_string_equal(split("t=2024-01-02T03:04:05Z"), "t=2024-01-02T03:04:05Z");
    /* errors */
    assert_string_equal(split("a=\"open"),
                        "!column 8: unterminated quoted value (opened at column 3)");
    assert_string_equal(split("a=\"esc\\\""),
                        "!column 9: unterminated quoted value (opened at column 3)");
    assert_string_equal(split("a=1 =2"), "!column 5: expected a key before '='");
    assert_string_equal(split("\"k\"=1"), "!column 1: unexpected '\"' (keys are not quoted)");
    assert_string_equal(split("ke\"y=1"), "!column 3: unexpected '\"' in key");
    assert_string_equal(split("a=1 \x01"), "!column 5: unexpected byte 0x01");
    assert_string_equal(split("a=1\x01"), "!column 4: unexpected byte 0x01");
}

static void test_cast(void **state) {
    (void)state;
    sl_schema s;
    sl_schema_init(&s);
    sl_schema_add(&s, "i", SL_T_INT);
    sl_schema_add(&s, "d", SL_T_DOUBLE);
    sl_schema_add(&s, "b", SL_T_BOOL);
    sl_schema_add(&s, "t", SL_T_TS);
    sl_schema_add(&s, "s", SL_T_STRING);
    sl_batch *bt = sl_batch_new(&s, 4);
    sl_batch_append_null_row(bt);
    sl_column *ci = &bt->col[0], *cd = &bt->col[1], *cb = &bt->col[2], *ct = &bt->col[3],
              *cs = &bt->col[4];
#define CAST(c, txt) sl_logfmt_cast(c, 0, txt, strlen(txt))
    assert_int_equal(CAST(ci, "42"), 0);
    assert_int_equal(ci->v.i[0], 42);
    assert_int_equal(CAST(ci, "-9223372036854775808"), 0);
    assert_int_equal(ci->v.i[0], INT64_MIN);
    assert_int_equal(CAST(ci, "+9223372036854775807"), 0);
    assert_int_equal(ci->v.i[0], INT64_MAX);
    assert_int_equal(CAST(ci, "9223372036854775808"), SL_ETYPE);
    assert_int_equal(ci->null[0], 1);
    assert_int_equal(CAST(ci, "1.5"), SL_ETYPE);
    assert_int_equal(CAST(ci, "-"), SL_ETYPE);
    assert_int_equal(CAST(ci, "abc"), SL_ETYPE);
    assert_int_equal(CAST(ci, ""), 0);
    assert_int_equal(ci->null[0], 1);
    assert_int_equal(CAST(cd, "1.5e3"), 0);
    assert_true(cd->v.d[0] == 1500.0);
    assert_int_equal(CAST(cd, "-.5"), 0);
    assert_true(cd->v.d[0] == -0.5);
    assert_int_equal(CAST(cd, "7"), 0);
    assert_int_equal(CAST(cd, "NaN"), 0);
    assert_true(cd->v.d[0] != cd->v.d[0]);
    assert_int_equal(CAST(cd, "-Infinity"), 0);
    assert_true(cd->v.d[0] < -1e308);
    assert_int_equal(CAST(cd, "0x10"), SL_ETYPE);
    assert_int_equal(CAST(cd, "1e"), SL_ETYPE);
    assert_int_equal(CAST(cd, "."), SL_ETYPE);
    assert_int_equal(CAST(cd, "1.5ms"), SL_ETYPE);
    assert_int_equal(CAST(cb, "TRUE"), 0);
    assert_int_equal(cb->v.b[0], 1);
    assert_int_equal(CAST(cb, "n"), 0);
    assert_int_equal(cb->v.b[0], 0);
    assert_int_equal(CAST(cb, "maybe"), SL_ETYPE);
    assert_int_equal(CAST(ct, "2003-10-11T22:14:15.003Z"), 0);
    assert_int_equal(ct->v.i[0], 1065910455003000LL);
    assert_int_equal(CAST(ct, "1065910455003"), 0); /* epoch ms */
    assert_int_equal(ct->v.i[0], 1065910455003000LL);
    assert_int_equal(CAST(ct, "yesterday"), SL_ETYPE);
    assert_int_equal(CAST(ct, "9223372036854775807"), SL_ETYPE);
    assert_int_equal(CAST(cs, ""), 0);
    assert_int_equal(cs->null[0], 0);
    assert_int_equal(cs->v.s[0].len, 0);
#undef CAST
    sl_batch_free(bt);
}

typedef struct badlog {
    char text[4096];
    size_t n;
    int count;
} badlog;

static void on_bad(void *ud, const char *line, size_t len, int32_t part, int64_t pos,
                   const char *reason) {
    badlog *l = ud;
    l->count++;
    l->n += (size_t)snprintf(l->text + l->n, sizeof l->text - l->n, "%d@%lld [%.*s] %s\n", part,
                             (long long)pos, (int)len, line, reason);
}

static void test_batch(void **state) {
    (void)state;
    sl_schema s;
    sl_schema_init(&s);
    sl_schema_add(&s, "level", SL_T_STRING);
    sl_schema_add(&s, "msg", SL_T_STRING);
    sl_schema_add(&s, "status", SL_T_INT);
    sl_schema_add(&s, "dur", SL_T_DOUBLE);
    sl_schema_add(&s, "cached", SL_T_BOOL);
    sl_schema_add(&s, "ts", SL_T_TS);
    sl_schema_add(&s, "flag", SL_T_STRING);
    sl_error err = {0};
    sl_logfmt_parser *p = sl_logfmt_parser_new(&s, &err);
    assert_non_null(p);
    sl_batch *b = sl_batch_new(&s, 16);
    const char *in = "\xEF\xBB\xBFts=2024-01-02T03:04:05.5Z level=info msg=\"GET /x \\\"q\\\"\" "
                     "status=200 dur=0.25 "
                     "cached unknown=zzz flag\r\n"
                     "\n"
                     " \t \n"
                     "level=warn status=abc\n"
                     "level=error msg=\"unterminated\n"
                     "status=1 status=2 level=a level= dur=\n"
                     "cached=false ts=1704164645000\n"
                     "level=partial";
    badlog bl = {{0}, 0, 0};
    size_t used = sl_logfmt_parse_lines(p, in, strlen(in), 2, 0, 77, b, on_bad, &bl);
    assert_int_equal(used, strlen(in) - strlen("level=partial"));
    assert_int_equal(b->n, 3);
    /* row 0 */
    assert_int_equal(b->col[5].v.i[0], 1704164645500000LL);
    assert_int_equal(b->col[0].v.s[0].len, 4);
    assert_memory_equal(b->col[0].v.s[0].ptr, "info", 4);
    assert_int_equal(b->col[1].v.s[0].len, strlen("GET /x \"q\""));
    assert_memory_equal(b->col[1].v.s[0].ptr, "GET /x \"q\"", b->col[1].v.s[0].len);
    assert_false(b->col[1].v.s[0].ptr >= in &&
                 b->col[1].v.s[0].ptr < in + strlen(in)); /* unescaped copy */
    assert_true(b->col[0].v.s[0].ptr >= in && b->col[0].v.s[0].ptr < in + strlen(in)); /* view */
    assert_int_equal(b->col[2].v.i[0], 200);
    assert_true(b->col[3].v.d[0] == 0.25);
    assert_int_equal(b->col[4].v.b[0], 1);
    assert_int_equal(b->col[6].v.s[0].len, 4); /* bare key into a string column: "true" */
    assert_memory_equal(b->col[6].v.s[0].ptr, "true", 4);
    assert_ptr_equal(b->raw[0].ptr, in + 3);
    assert_int_equal(b->pos[0], 0);
    assert_int_equal(b->part[0], 2);
    assert_int_equal(b->ingest[0], 77);
    /* row 1: last one wins; empty values: "" for strings, NULL otherwise */
    assert_int_equal(b->col[2].v.i[1], 2);
    assert_int_equal(b->col[0].null[1], 0);
    assert_int_equal(b->col[0].v.s[1].len, 0);
    assert_int_equal(b->col[3].null[1], 1);
    assert_int_equal(b->col[1].null[1], 1);
    /* row 2 */
    assert_int_equal(b->col[4].v.b[2], 0);
    assert_int_equal(b->col[5].v.i[2], 1704164645000000LL);
    /* bad records */
    char want[1024];
    size_t p1 = (size_t)(strstr(in, "level=warn") - in),
           p2 = (size_t)(strstr(in, "level=error") - in);
    snprintf(want, sizeof want,
             "2@%zu [level=warn status=abc] field 'status': expected int, got 'abc'\n"
             "2@%zu [level=error msg=\"unterminated] logfmt: column 30: unterminated quoted value "
             "(opened at column 17)\n",
             p1, p2);
    assert_string_equal(bl.text, want);

    /* a bare key into an int column is a bad record */
    sl_batch_clear(b);
    bl.n = 0;
    bl.count = 0;
    const char *two = "status\nstatus=7\n";
    used = sl_logfmt_parse_lines(p, two, strlen(two), 0, 10, 0, b, on_bad, &bl);
    assert_int_equal(used, strlen(two));
    assert_int_equal(b->n, 1);
    assert_int_equal(b->col[2].v.i[0], 7);
    assert_int_equal(b->pos[0], 17);
    assert_string_equal(bl.text, "0@10 [status] field 'status': expected int, got 'true'\n");

    /* full batch: stop and resume */
    sl_batch_clear(b);
    b->cap = 1;
    const char *three = "status=1\nstatus=2\n";
    size_t u1 = sl_logfmt_parse_lines(p, three, strlen(three), 0, 0, 0, b, NULL, NULL);
    assert_int_equal(u1, 9);
    assert_int_equal(b->n, 1);
    b->cap = 16;
    sl_batch_free(b);
    sl_logfmt_parser_free(p);
}

/* Many columns: every key finds its own column through the hash table. */
static void test_many_columns(void **state) {
    (void)state;
    sl_schema s;
    sl_schema_init(&s);
    char name[32];
    for (int c = 0; c < SL_MAX_COLUMNS; c++) {
        snprintf(name, sizeof name, "k%d", c);
        assert_int_equal(sl_schema_add(&s, name, SL_T_INT), c);
    }
    sl_logfmt_parser *p = sl_logfmt_parser_new(&s, NULL);
    sl_batch *b = sl_batch_new(&s, 2);
    char line[4096];
    size_t n = 0;
    for (int c = SL_MAX_COLUMNS - 1; c >= 0; c--)
        n += (size_t)snprintf(line + n, sizeof line - n, "k%d=%d ", c, c * 3);
    n += (size_t)snprintf(line + n, sizeof line - n, "k128=5 k=1 kk=2\n");
    assert_int_equal(sl_logfmt_parse_lines(p, line, n, 0, 0, 0, b, NULL, NULL), n);
    assert_int_equal(b->n, 1);
    for (int c = 0; c < SL_MAX_COLUMNS; c++)
        assert_int_equal(b->col[c].v.i[0], c * 3);
    sl_batch_free(b);
    sl_logfmt_parser_free(p);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_split),
        cmocka_unit_test(test_cast),
        cmocka_unit_test(test_batch),
        cmocka_unit_test(test_many_columns),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
