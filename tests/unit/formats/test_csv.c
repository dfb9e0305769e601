/* test_csv.c - unit tests for formats/csv.h: the RFC 4180 cases (quotes,
 * "" escapes, newlines in quotes, CRLF, BOM, last record without newline),
 * malformed input with line/column and recovery, and the batch parser:
 * header mapping, casts, NULL rules, bad records, partial records, resume. */
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
#include "formats/csv.h"

/* ---- reader ----------------------------------------------------------- */

/* Reads all of in; renders records as "a|b|c" lines and errors as "!msg". */
static void read_all(const char *in, size_t len, char delim, char *out, size_t cap) {
    sl_csv *c = sl_csv_new(in, len, delim);
    assert_non_null(c);
    size_t n = 0;
    out[0] = 0;
    for (;;) {
        sl_str *f;
        int nf;
        sl_error err = {0};
        int rc = sl_csv_next(c, &f, &nf, &err);
        if (rc == 0) break;
        if (rc < 0) {
            assert_int_equal(rc, SL_EPARSE);
            n += (size_t)snprintf(out + n, cap - n, "!%s\n", err.msg);
            continue;
        }
        for (int k = 0; k < nf; k++)
            n +=
                (size_t)snprintf(out + n, cap - n, "%s%.*s", k ? "|" : "", (int)f[k].len, f[k].ptr);
        n += (size_t)snprintf(out + n, cap - n, "\n");
    }
    sl_csv_free(c);
}

static void check(const char *in, const char *want) {
    char out[2048];
    read_all(in, strlen(in), ',', out, sizeof out);
    assert_string_equal(out, want);
}

static void test_rfc4180_basics(void **state) {
    (void)state;
    check("aaa,bbb,ccc\r\nzzz,yyy,xxx\r\n", "aaa|bbb|ccc\nzzz|yyy|xxx\n");
    check("aaa,bbb,ccc\nzzz,yyy,xxx", "aaa|bbb|ccc\nzzz|yyy|xxx\n"); /* last record, no newline */
    check("\"aaa\",\"bbb\",\"ccc\"\r\n", "aaa|bbb|ccc\n");
    check("\"aaa\",\"b\r\nbb\",\"ccc\"\r\nzzz,yyy,xxx", "aaa|b\r\nbb|ccc\nzzz|yyy|xxx\n");
    check("\"aaa\",\"b\"\"bb\",\"ccc\"", "aaa|b\"bb|ccc\n");
    check("\"a,b\",c\n", "a,b|c\n");
    check("a,,c,\n,\n", "a||c|\n|\n");
    check("\"\",\"\"\"\"\n", "|\"\n");
    check("\xEF\xBB\xBFh1,h2\nv1,v2\n", "h1|h2\nv1|v2\n"); /* BOM skipped */
    check("a\n\n\r\nb\n\n", "a\nb\n");                     /* empty lines skipped */
    check("a\r", "a\n");
    check("a b , c\rd\n", "a b | c\rd\n"); /* spaces kept; a lone CR is data */
    check("", "");
    check("x", "x\n");
    check("\"q\"", "q\n");
    check("\"q\"\r\n", "q\n");
    char out[256];
    read_all("a;\"b;c\";d\n", 10, ';', out, sizeof out);
    assert_string_equal(out, "a|b;c|d\n");
    read_all("a\tb\n", 4, '\t', out, sizeof out);
    assert_string_equal(out, "a|b\n");
    assert_null(sl_csv_new("a", 1, '"'));
    assert_null(sl_csv_new("a", 1, '\n'));
}

static void test_offsets_and_lines(void **state) {
    (void)state;
    const char *in = "\xEF\xBB\xBF"
                     "h\n\"multi\nline\",x\n\nlast\n";
    sl_csv *c = sl_csv_new(in, strlen(in), ',');
    sl_str *f;
    int n;
    assert_int_equal(sl_csv_next(c, &f, &n, NULL), 1);
    assert_int_equal(sl_csv_record_offset(c), 3);
    assert_int_equal(sl_csv_record_line(c), 1);
    assert_int_equal(sl_csv_next(c, &f, &n, NULL), 1);
    assert_int_equal(n, 2);
    assert_int_equal(f[0].len, 10);
    assert_memory_equal(f[0].ptr, "multi\nline", 10);
    assert_true(f[0].ptr >= in && f[0].ptr < in + strlen(in)); /* no "": a view */
    assert_int_equal(sl_csv_record_offset(c), 5);
    assert_int_equal(sl_csv_record_line(c), 2);
    assert_int_equal(sl_csv_next(c, &f, &n, NULL), 1);
    assert_memory_equal(f[0].ptr, "last", 4);
    assert_int_equal(sl_csv_record_line(c), 5);
    assert_int_equal(sl_csv_record_offset(c), 21);
    assert_int_equal(sl_csv_next(c, &f, &n, NULL), 0);
    assert_int_equal(sl_csv_next(c, &f, &n, NULL), 0);
    sl_csv_free(c);
}

static void test_malformed(void **state) {
    (void)state;
    check("a,b\"c,d\nok,1\n", "!line 1, column 4: quote inside an unquoted field\nok|1\n");
    check("h\n\"ab\"x,1\nok\n",
          "h\n!line 2, column 5: unexpected character after a closing quote\nok\n");
    check("h\n\"a\nb\"c\nok\n",
          "h\n!line 3, column 3: unexpected character after a closing quote\nok\n");
    /* unterminated: resume at the line after the record's first line */
    check("h\n\"open,1\nnext,2\nlast,3",
          "h\n!line 2, column 1: unterminated quoted field\nnext|2\nlast|3\n");
    check("x,\"", "!line 1, column 3: unterminated quoted field\n");
    /* the bad record's offset/line are reported */
    const char *in = "a\nb\"\nc\n";
    sl_csv *c = sl_csv_new(in, strlen(in), ',');
    sl_str *f;
    int n;
    sl_error err = {0};
    assert_int_equal(sl_csv_next(c, &f, &n, &err), 1);
    assert_int_equal(sl_csv_next(c, &f, &n, &err), SL_EPARSE);
    assert_int_equal(err.code, SL_EPARSE);
    assert_int_equal(sl_csv_record_offset(c), 2);
    assert_int_equal(sl_csv_record_line(c), 2);
    assert_int_equal(sl_csv_next(c, &f, &n, &err), 1);
    assert_int_equal(sl_csv_record_line(c), 3);
    assert_int_equal(sl_csv_next(c, &f, &n, &err), 0);
    sl_csv_free(c);
}

/* ---- batch parser ----------------------------------------------------- */

typedef struct bad_log {
    int n;
    int64_t pos[32];
    char line[32][256];
    char reason[32][SL_ERROR_MAX];
} bad_log;

static void on_bad(void *ud, const char *line, size_t len, int32_t part, int64_t pos,
                   const char *reason) {
    (void)part;
    bad_log *l = ud;
    if (l->n >= 32) return;
    l->pos[l->n] = pos;
    snprintf(l->line[l->n], sizeof l->line[0], "%.*s", (int)len, line);
    snprintf(l->reason[l->n], sizeof l->reason[0], "%s", reason);
    l->n++;
}

static sl_schema camera_schema(void) {
    sl_schema s;
    sl_schema_init(&s);
    sl_schema_add(&s, "id", SL_T_INT);
    sl_schema_add(&s, "name", SL_T_STRING);
    sl_schema_add(&s, "score", SL_T_DOUBLE);
    sl_schema_add(&s, "ok", SL_T_BOOL);
    sl_schema_add(&s, "ts", SL_T_TS);
    sl_schema_add(&s, "absent", SL_T_INT);
    return s;
}

static void assert_str(const sl_column *c, uint32_t i, const char *want) {
    assert_false(c->null[i]);
    assert_int_equal(c->v.s[i].len, strlen(want));
    assert_memory_equal(c->v.s[i].ptr, want, strlen(want));
}

static void test_parse_lines_casts(void **state) {
    (void)state;
    sl_schema s = camera_schema();
    sl_csv_parser *p = sl_csv_parser_new(&s, ',', NULL);
    sl_batch *b = sl_batch_new(&s, 32);
    const char *in = "\xEF\xBB\xBF"
                     "TS, id ,extra,name,score,OK\r\n" /* reordered, case, spaces */
                     "2026-01-01T00:00:01Z,1,zz,person,2.5,true\r\n"
                     "1767225600123, -7 ,,\"a \"\"q\"\", b\",-1e3,F\r\n"
                     ",,,,,\r\n"                         /* all NULL */
                     "\"\",\"\",\"\",\"\",\"\",\"\"\r\n" /* quoted empty */
                     "2026-01-01,9223372036854775807,x,\"multi\r\nline\",nan,yes\r\n"
                     "\r\n";
    bad_log bl = {0};
    size_t len = strlen(in);
    assert_false(sl_csv_parser_has_header(p));
    size_t used = sl_csv_parse_lines(p, in, len, 2, 0, 5, b, on_bad, &bl);
    assert_int_equal(used, len);
    assert_true(sl_csv_parser_has_header(p));
    assert_int_equal(bl.n, 0);
    assert_int_equal(b->n, 5);
    sl_column *c = b->col;
    int64_t t;
    assert_int_equal(c[0].v.i[0], 1);
    assert_str(&c[1], 0, "person");
    assert_true(c[1].v.s[0].ptr >= in && c[1].v.s[0].ptr < in + len);
    assert_true(c[2].v.d[0] == 2.5);
    assert_true(c[3].v.b[0]);
    assert_int_equal(sl_time_parse_iso("2026-01-01T00:00:01Z", 20, &t), 0);
    assert_int_equal(c[4].v.i[0], t);
    assert_true(c[5].null[0]);
    assert_int_equal(b->part[0], 2);
    assert_int_equal(b->ingest[0], 5);
    assert_int_equal(b->pos[0], 3 + 29);
    assert_int_equal(b->raw[0].len, 41);

    assert_int_equal(c[0].v.i[1], -7);
    assert_str(&c[1], 1, "a \"q\", b");
    assert_false(c[1].v.s[1].ptr >= in && c[1].v.s[1].ptr < in + len); /* unescaped copy */
    assert_true(c[2].v.d[1] == -1000.0);
    assert_false(c[3].v.b[1]);
    assert_int_equal(c[4].v.i[1], 1767225600123LL * 1000);

    for (int k = 0; k < 6; k++)
        assert_true(c[k].null[2]);
    for (int k = 0; k < 6; k++)
        if (k != 1) assert_true(c[k].null[3]);
    assert_str(&c[1], 3, ""); /* quoted "" is an empty string */

    assert_int_equal(c[0].v.i[4], INT64_MAX);
    assert_str(&c[1], 4, "multi\r\nline");
    assert_true(c[2].v.d[4] != c[2].v.d[4]); /* nan */
    assert_true(c[3].v.b[4]);
    sl_batch_free(b);
    sl_csv_parser_free(p);
}

static void test_parse_lines_bad_records(void **state) {
    (void)state;
    sl_schema s = camera_schema();
    sl_csv_parser *p = sl_csv_parser_new(&s, ',', NULL);
    sl_batch *b = sl_batch_new(&s, 32);
    static const char *lines[] = {
        "id,name,score,ok,ts",
        "abc,x,1,true,2026-01-01",      /* bad int */
        "1,x,1.5.2,true,2026-01-01",    /* bad double */
        "1,x,1,maybe,2026-01-01",       /* bad bool */
        "1,x,1,true,soon",              /* bad ts */
        "99999999999999999999,x,1,t,0", /* int overflow */
        "1,x,1,t",                      /* too few fields */
        "1,x,1,t,0,extra",              /* too many */
        "1,x\"y,1,t,0",                 /* quote in unquoted field */
        "1,\"x\"y,1,t,0",               /* after closing quote */
        "2,good,0x10,t,0",              /* hex is not a double */
        "3,good,1e5,n,-5",              /* fine */
    };
    enum { N = sizeof lines / sizeof lines[0] };
    char in[1024];
    int64_t off[N];
    size_t len = 0;
    for (int k = 0; k < N; k++) {
        off[k] = (int64_t)len;
        len += (size_t)sprintf(in + len, "%s\n", lines[k]);
    }
    bad_log bl = {0};
    assert_int_equal(sl_csv_parse_lines(p, in, len, 0, 100, 0, b, on_bad, &bl), len);
    assert_int_equal(b->n, 1);
    assert_int_equal(b->col[0].v.i[0], 3);
    assert_int_equal(b->pos[0], 100 + off[N - 1]);
    assert_int_equal(b->col[4].v.i[0], -5000);
    assert_int_equal(bl.n, N - 2);
    for (int k = 0; k < N - 2; k++) {
        assert_int_equal(bl.pos[k], 100 + off[k + 1]);
        assert_string_equal(bl.line[k], lines[k + 1]);
    }
    assert_string_equal(bl.reason[0], "field 'id': expected int, got 'abc'");
    assert_string_equal(bl.reason[1], "field 'score': expected double, got '1.5.2'");
    assert_string_equal(bl.reason[2], "field 'ok': expected bool, got 'maybe'");
    assert_string_equal(bl.reason[3], "field 'ts': expected timestamp, got 'soon'");
    assert_string_equal(bl.reason[4], "field 'id': expected int, got '99999999999999999999'");
    assert_string_equal(bl.reason[5], "expected 5 fields, got 4");
    assert_string_equal(bl.reason[6], "expected 5 fields, got 6");
    assert_string_equal(bl.reason[7], "quote inside an unquoted field at byte 3 of the record");
    assert_string_equal(bl.reason[8],
                        "unexpected character after a closing quote at byte 5 of the record");
    assert_string_equal(bl.reason[9], "field 'score': expected double, got '0x10'");
    sl_batch_free(b);
    sl_csv_parser_free(p);
}

static void test_parse_lines_streaming(void **state) {
    (void)state;
    sl_schema s;
    sl_schema_init(&s);
    sl_schema_add(&s, "k", SL_T_INT);
    sl_schema_add(&s, "v", SL_T_STRING);
    const char *all = "k,v\n1,\"a\nb\"\n2,\"x\"\"\"\n3,c\r\n4,d\n5,e";
    size_t total = strlen(all);
    /* Feed every prefix: what is consumed must always end after a line
     * ending, and the rows must come out the same whatever the split. */
    for (size_t cut = 0; cut <= total; cut++) {
        sl_csv_parser *p = sl_csv_parser_new(&s, ',', NULL);
        sl_batch *b = sl_batch_new(&s, 2);
        char buf[128];
        size_t have = 0, fed = 0, off_abs = 0;
        int64_t next_k = 1;
        int rounds = 0;
        while (rounds++ < 100) {
            size_t add = fed < cut ? cut - fed : total - fed;
            memcpy(buf + have, all + fed, add);
            have += add;
            fed += add;
            sl_batch_clear(b);
            size_t used = sl_csv_parse_lines(p, buf, have, 0, (int64_t)off_abs, 0, b, NULL, NULL);
            if (used) assert_int_equal(buf[used - 1], '\n');
            for (uint32_t i = 0; i < b->n; i++) {
                assert_int_equal(b->col[0].v.i[i], next_k);
                assert_int_equal(all[b->pos[i]], '0' + next_k);
                next_k++;
            }
            memmove(buf, buf + used, have - used);
            have -= used;
            off_abs += used;
            if (fed == total && used == 0 && b->n == 0) break;
        }
        assert_int_equal(next_k, 5); /* "5,e" has no newline: never consumed */
        assert_int_equal(have, 3);
        sl_batch_free(b);
        sl_csv_parser_free(p);
    }
}

static void test_parse_lines_values_across_split(void **state) {
    (void)state;
    sl_schema s;
    sl_schema_init(&s);
    sl_schema_add(&s, "v", SL_T_STRING);
    sl_csv_parser *p = sl_csv_parser_new(&s, ',', NULL);
    sl_str h = {"v", 1};
    assert_int_equal(sl_csv_parser_set_header(p, &h, 1, NULL), 0);
    sl_batch *b = sl_batch_new(&s, 8);
    /* a quote at the very end could be the first of "": need more input */
    assert_int_equal(sl_csv_parse_lines(p, "\"ab\"", 4, 0, 10, 0, b, NULL, NULL), 0);
    assert_int_equal(sl_csv_parse_lines(p, "\"ab\"\r", 5, 0, 10, 0, b, NULL, NULL), 0);
    assert_int_equal(sl_csv_parse_lines(p, "\"ab\"\r\n", 6, 0, 10, 0, b, NULL, NULL), 6);
    assert_int_equal(b->n, 1);
    assert_str(&b->col[0], 0, "ab");
    sl_batch_free(b);
    sl_csv_parser_free(p);
}

static void test_header_api_and_max_record(void **state) {
    (void)state;
    sl_schema s;
    sl_schema_init(&s);
    sl_schema_add(&s, "a", SL_T_INT);
    sl_schema_add(&s, "b", SL_T_STRING);
    sl_csv_parser *p = sl_csv_parser_new(&s, ';', NULL);
    sl_error err = {0};
    assert_int_equal(sl_csv_parser_read_header(p, "b;a", 3, &err), 0); /* incomplete */
    assert_int_equal(sl_csv_parser_read_header(p,
                                               "\xEF\xBB\xBF"
                                               "b;a\nrest",
                                               11, &err),
                     7);
    assert_true(sl_csv_parser_has_header(p));
    sl_batch *b = sl_batch_new(&s, 8);
    bad_log bl = {0};
    const char *in = "x;1\n";
    assert_int_equal(sl_csv_parse_lines(p, in, 4, 0, 7, 0, b, on_bad, &bl), 4);
    assert_int_equal(b->n, 1);
    assert_int_equal(b->col[0].v.i[0], 1);
    assert_str(&b->col[1], 0, "x");
    assert_int_equal(sl_csv_parser_read_header(p, "a\"b\n", 4, &err), SL_EPARSE);
    assert_non_null(strstr(err.msg, "quote inside an unquoted field"));

    /* an open quote that never closes is given up after max_record bytes */
    sl_csv_parser_set_max_record(p, 16);
    sl_batch_clear(b);
    const char *open = "\"never closed;1\n2;3\nfoo;4\nbar;5\n";
    size_t used = sl_csv_parse_lines(p, open, strlen(open), 0, 0, 0, b, on_bad, &bl);
    assert_int_equal(bl.n, 1);
    assert_string_equal(bl.line[0], "\"never closed;1");
    assert_non_null(strstr(bl.reason[0], "unterminated quoted field"));
    assert_int_equal(used, strlen(open));
    assert_int_equal(b->n, 3);
    assert_str(&b->col[1], 0, "2");
    assert_int_equal(b->col[0].v.i[2], 5);
    sl_batch_free(b);
    sl_csv_parser_free(p);
}

static void test_bad_header_then_good(void **state) {
    (void)state;
    sl_schema s;
    sl_schema_init(&s);
    sl_schema_add(&s, "a", SL_T_INT);
    sl_csv_parser *p = sl_csv_parser_new(&s, ',', NULL);
    sl_batch *b = sl_batch_new(&s, 8);
    bad_log bl = {0};
    const char *in = "a\"\na\n1\n";
    assert_int_equal(sl_csv_parse_lines(p, in, strlen(in), 0, 0, 0, b, on_bad, &bl), strlen(in));
    assert_int_equal(bl.n, 1);
    assert_non_null(strstr(bl.reason[0], "CSV header: "));
    assert_int_equal(b->n, 1);
    assert_int_equal(b->col[0].v.i[0], 1);
    sl_batch_free(b);
    sl_csv_parser_free(p);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rfc4180_basics),
        cmocka_unit_test(test_offsets_and_lines),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_parse_lines_casts),
        cmocka_unit_test(test_parse_lines_bad_records),
        cmocka_unit_test(test_parse_lines_streaming),
        cmocka_unit_test(test_parse_lines_values_across_split),
        cmocka_unit_test(test_header_api_and_max_record),
        cmocka_unit_test(test_bad_header_then_good),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
