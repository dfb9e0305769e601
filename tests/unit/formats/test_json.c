/* test_json.c - unit tests for the NDJSON parser (formats/json.h) and the row
 * writer (formats/json_write.h): every type rule, nested paths, escapes and
 * unicode, blank lines, CRLF, partial lines, batch-full resume, bad-record
 * reporting, and writer -> parser round trips. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "core/batch.h"
#include "core/timeutil.h"
#include "formats/json.h"
#include "formats/json_write.h"

/* ---- helpers ---------------------------------------------------------- */

typedef struct bad_log {
    int n;
    int64_t pos[32];
    int32_t part[32];
    char line[32][256];
    char reason[32][SL_ERROR_MAX];
} bad_log;

static void on_bad(void *ud, const char *line, size_t len, int32_t part, int64_t pos,
                   const char *reason) {
    bad_log *l = ud;
    if (l->n >= 32) return;
    l->pos[l->n] = pos;
    l->part[l->n] = part;
    snprintf(l->line[l->n], sizeof l->line[0], "%.*s", (int)len, line);
    snprintf(l->reason[l->n], sizeof l->reason[0], "%s", reason);
    l->n++;
}

/* A heap copy of s with SL_JSON_PADDING bytes after it (filled with junk, to
 * show the parser does not depend on their content). */
static char *padded(const char *s, size_t *len) {
    *len = strlen(s);
    char *b = malloc(*len + SL_JSON_PADDING);
    memcpy(b, s, *len);
    memset(b + *len, 'x', SL_JSON_PADDING);
    return b;
}

static sl_schema schema_of(const char *spec) {
    /* "name:type,name:type" */
    sl_schema s;
    sl_schema_init(&s);
    char tmp[512];
    snprintf(tmp, sizeof tmp, "%s", spec);
    for (char *save = NULL, *tok = strtok_r(tmp, ",", &save); tok;
         tok = strtok_r(NULL, ",", &save)) {
        char *colon = strchr(tok, ':');
        *colon = 0;
        int t = sl_type_parse(colon + 1);
        assert_true(t >= 0);
        assert_true(sl_schema_add(&s, tok, (sl_type)t) >= 0);
    }
    return s;
}

static void assert_batches_equal(const sl_batch *a, const sl_batch *z) {
    assert_int_equal(a->n, z->n);
    for (uint32_t r = 0; r < a->n; r++) {
        assert_int_equal(a->pos[r], z->pos[r]);
        assert_int_equal(a->raw[r].len, z->raw[r].len);
        assert_ptr_equal(a->raw[r].ptr, z->raw[r].ptr);
        for (int c = 0; c < a->schema.n; c++) {
            const sl_column *x = &a->col[c], *y = &z->col[c];
            assert_int_equal(x->null[r], y->null[r]);
            if (x->null[r]) continue;
            switch (x->type) {
            case SL_T_DOUBLE:
                assert_memory_equal(&x->v.d[r], &y->v.d[r], sizeof(double));
                break;
            case SL_T_STRING:
                assert_int_equal(x->v.s[r].len, y->v.s[r].len);
                assert_memory_equal(x->v.s[r].ptr, y->v.s[r].ptr, x->v.s[r].len);
                break;
            case SL_T_BOOL:
                assert_int_equal(x->v.b[r], y->v.b[r]);
                break;
            default:
                assert_int_equal(x->v.i[r], y->v.i[r]);
                break;
            }
        }
    }
}

typedef struct run {
    sl_json_parser *p;
    sl_batch *b;
    char *buf;
    size_t len, used;
    bad_log bad;
} run;

static void run_parse(run *r, const char *spec, const char *const *paths, const char *input,
                      bool lenient) {
    memset(r, 0, sizeof *r);
    sl_schema s = schema_of(spec);
    sl_error err = {0};
    r->p = sl_json_parser_new(&s, paths, &err);
    assert_non_null(r->p);
    sl_json_parser_set_lenient_strings(r->p, lenient);
    r->b = sl_batch_new(&s, 64);
    r->buf = padded(input, &r->len);
    r->used = sl_json_parse_lines(r->p, r->buf, r->len, 3, 1000, 42, r->b, on_bad, &r->bad);
    /* stream mode is an accelerator only: it must agree exactly */
    sl_json_parser_set_stream(r->p, true);
    sl_batch *b2 = sl_batch_new(&s, 64);
    bad_log *bad2 = calloc(1, sizeof *bad2);
    assert_int_equal(sl_json_parse_lines(r->p, r->buf, r->len, 3, 1000, 42, b2, on_bad, bad2),
                     r->used);
    sl_json_parser_set_stream(r->p, false);
    assert_batches_equal(r->b, b2);
    assert_int_equal(bad2->n, r->bad.n);
    for (int k = 0; k < r->bad.n; k++) {
        assert_int_equal(bad2->pos[k], r->bad.pos[k]);
        assert_string_equal(bad2->reason[k], r->bad.reason[k]);
        assert_string_equal(bad2->line[k], r->bad.line[k]);
    }
    sl_batch_free(b2);
    free(bad2);
}

static void run_free(run *r) {
    sl_batch_free(r->b);
    sl_json_parser_free(r->p);
    free(r->buf);
}

static void assert_str(const sl_column *c, uint32_t i, const char *want) {
    assert_false(c->null[i]);
    assert_int_equal(c->v.s[i].len, strlen(want));
    assert_memory_equal(c->v.s[i].ptr, want, strlen(want));
}

static bool in_buf(const run *r, const char *p) { return p >= r->buf && p < r->buf + r->len; }

/* ---- type rules ------------------------------------------------------- */

static void test_types_ok(void **state) {
    (void)state;
    run r;
    run_parse(&r, "i:int,d:double,s:string,b:bool,t:timestamp", NULL,
              "{\"i\":-42,\"d\":2.5,\"s\":\"hi\",\"b\":true,\"t\":\"2026-01-01T00:05:00.123Z\"}\n"
              "{\"i\":9223372036854775807,\"d\":7,\"s\":\"\",\"b\":false,\"t\":1767225600123}\n"
              "{\"i\":-9223372036854775808,\"d\":-1e300,\"t\":\"2026-01-01\"}\n"
              "{\"i\":null,\"d\":null,\"s\":null,\"b\":null,\"t\":null}\n"
              "{}\n",
              false);
    assert_int_equal(r.bad.n, 0);
    assert_int_equal(r.b->n, 5);
    assert_int_equal(r.used, r.len);
    sl_column *c = r.b->col;
    assert_int_equal(c[0].v.i[0], -42);
    assert_true(c[1].v.d[0] == 2.5);
    assert_str(&c[2], 0, "hi");
    assert_true(in_buf(&r, c[2].v.s[0].ptr)); /* a view, no copy */
    assert_true(c[3].v.b[0]);
    int64_t want;
    assert_int_equal(sl_time_parse_iso("2026-01-01T00:05:00.123Z", 24, &want), 0);
    assert_int_equal(c[4].v.i[0], want);

    assert_int_equal(c[0].v.i[1], INT64_MAX);
    assert_true(c[1].v.d[1] == 7.0); /* an integer is a fine double */
    assert_str(&c[2], 1, "");
    assert_false(c[3].null[1]);
    assert_false(c[3].v.b[1]);
    assert_int_equal(c[4].v.i[1], 1767225600123LL * 1000); /* epoch ms -> us */

    assert_int_equal(c[0].v.i[2], INT64_MIN);
    assert_true(c[1].v.d[2] == -1e300);
    assert_true(c[2].null[2]); /* missing key */
    assert_true(c[3].null[2]);
    assert_int_equal(c[4].v.i[2], 1767225600LL * 1000000);

    for (int k = 0; k < 5; k++) {
        assert_true(c[k].null[3]); /* JSON null */
        assert_true(c[k].null[4]); /* all missing */
    }
    run_free(&r);
}

static void test_type_errors(void **state) {
    (void)state;
    static const struct {
        const char *spec, *line, *reason;
    } cases[] = {
        {"detection_oid:int", "{\"detection_oid\":\"42\"}",
         "field 'detection_oid': expected int, got string"},
        {"a:int", "{\"a\":1.5}", "field 'a': expected int, got double"},
        {"a:int", "{\"a\":1e3}", "field 'a': expected int, got double"},
        {"a:int", "{\"a\":true}", "field 'a': expected int, got bool"},
        {"a:int", "{\"a\":[1]}", "field 'a': expected int, got array"},
        {"a:int", "{\"a\":9223372036854775808}",
         "field 'a': integer 9223372036854775808 out of range"},
        {"a:int", "{\"a\":-9223372036854775809}",
         "field 'a': integer -9223372036854775809 out of range"},
        {"a:int", "{\"a\":123456789012345678901234567890}",
         "field 'a': integer 123456789012345678901234567890 out of range"},
        {"a:double", "{\"a\":\"1.5\"}", "field 'a': expected double, got string"},
        {"a:bool", "{\"a\":1}", "field 'a': expected bool, got int"},
        {"a:bool", "{\"a\":\"true\"}", "field 'a': expected bool, got string"},
        {"a:string", "{\"a\":12}", "field 'a': expected string, got int"},
        {"a:string", "{\"a\":{\"x\":1}}", "field 'a': expected string, got object"},
        {"a:string", "{\"a\":false}", "field 'a': expected string, got bool"},
        {"a:timestamp", "{\"a\":\"yesterday\"}", "field 'a': invalid timestamp 'yesterday'"},
        {"a:timestamp", "{\"a\":1.5}", "field 'a': expected timestamp, got double"},
        {"a:timestamp", "{\"a\":true}", "field 'a': expected timestamp, got bool"},
        {"a:timestamp", "{\"a\":9223372036854776}",
         "field 'a': timestamp 9223372036854776 ms out of range"},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        char in[256];
        snprintf(in, sizeof in, "%s\n", cases[k].line);
        run r;
        run_parse(&r, cases[k].spec, NULL, in, false);
        assert_int_equal(r.b->n, 0);
        assert_int_equal(r.bad.n, 1);
        assert_string_equal(r.bad.reason[0], cases[k].reason);
        assert_string_equal(r.bad.line[0], cases[k].line);
        assert_int_equal(r.bad.pos[0], 1000);
        assert_int_equal(r.bad.part[0], 3);
        assert_int_equal(r.used, r.len);
        run_free(&r);
    }
}

static void test_double_accepts_numbers(void **state) {
    (void)state;
    run r;
    run_parse(&r, "a:double", NULL,
              "{\"a\":-0.0}\n{\"a\":5e-324}\n{\"a\":18446744073709551615}\n"
              "{\"a\":123456789012345678901234567890}\n{\"a\":0.1}\n",
              false);
    assert_int_equal(r.bad.n, 0);
    assert_int_equal(r.b->n, 5);
    assert_true(r.b->col[0].v.d[0] == 0.0);
    assert_true(r.b->col[0].v.d[1] == 5e-324);
    assert_true(r.b->col[0].v.d[2] == 18446744073709551615.0);
    assert_true(r.b->col[0].v.d[3] == 1.2345678901234568e29);
    assert_true(r.b->col[0].v.d[4] == 0.1);
    run_free(&r);
}

static void test_lenient_strings(void **state) {
    (void)state;
    run r;
    run_parse(&r, "a:string,b:int", NULL,
              "{\"a\":12.50,\"b\":1}\n"
              "{\"a\":true}\n"
              "{\"a\":{\"x\": [1, 2]} }\n"
              "{\"a\":[1,\"y\"]}\n"
              "{\"a\":null}\n"
              "{\"a\":\"plain\"}\n"
              "{\"a\":-3 , \"b\":2}\n",
              true);
    assert_int_equal(r.bad.n, 0);
    assert_int_equal(r.b->n, 7);
    assert_str(&r.b->col[0], 0, "12.50");
    assert_str(&r.b->col[0], 1, "true");
    assert_str(&r.b->col[0], 2, "{\"x\": [1, 2]}");
    assert_str(&r.b->col[0], 3, "[1,\"y\"]");
    assert_true(r.b->col[0].null[4]);
    assert_str(&r.b->col[0], 5, "plain");
    assert_str(&r.b->col[0], 6, "-3");
    assert_int_equal(r.b->col[1].v.i[6], 2);
    run_free(&r);
    /* lenient does not loosen other types */
    run_parse(&r, "a:string,b:int", NULL, "{\"a\":1,\"b\":\"2\"}\n", true);
    assert_int_equal(r.bad.n, 1);
    assert_string_equal(r.bad.reason[0], "field 'b': expected int, got string");
    run_free(&r);
}

/* ---- paths ------------------------------------------------------------ */

static void test_nested_paths(void **state) {
    (void)state;
    const char *paths[] = {"a.b.c", "arr.1", "arr.2.k", "deep.0.0", NULL, "a.b.c", "x.y"};
    run r;
    run_parse(
        &r, "abc:int,second:string,k:bool,d:double,top:int,again:int,missing:int", paths,
        "{\"top\":1,\"a\":{\"z\":0,\"b\":{\"c\":7,\"d\":[1,2]}},\"arr\":[0,\"one\",{\"k\":true}],"
        "\"deep\":[[2.5,3]]}\n"
        "{\"a\":5,\"arr\":{\"1\":\"key-not-index\"},\"x\":{\"y\":null}}\n"
        "{\"a\":{\"b\":[]},\"arr\":[]}\n",
        false);
    assert_int_equal(r.bad.n, 0);
    assert_int_equal(r.b->n, 3);
    sl_column *c = r.b->col;
    assert_int_equal(c[0].v.i[0], 7);
    assert_str(&c[1], 0, "one");
    assert_true(c[2].v.b[0]);
    assert_true(c[3].v.d[0] == 2.5);
    assert_int_equal(c[4].v.i[0], 1);
    assert_int_equal(c[5].v.i[0], 7); /* two columns, one path */
    assert_true(c[6].null[0]);
    /* a path through a scalar is absent; a numeric step also names an object key */
    assert_true(c[0].null[1]);
    assert_str(&c[1], 1, "key-not-index");
    assert_true(c[6].null[1]);
    for (int k = 0; k < 7; k++)
        assert_true(c[k].null[2]);
    run_free(&r);
}

static void test_top_level_name_with_dot(void **state) {
    (void)state;
    run r; /* NULL path: the column name is the key, dots and all */
    run_parse(&r, "a.b:int", NULL, "{\"a.b\":3,\"a\":{\"b\":4}}\n", false);
    assert_int_equal(r.b->n, 1);
    assert_int_equal(r.b->col[0].v.i[0], 3);
    run_free(&r);
}

/* Payload shapes differ: "x" is a value in one record and an object in
 * another. An object there feeds the deeper path, a scalar the value. */
static void test_value_and_prefix(void **state) {
    (void)state;
    run r;
    const char *paths[] = {"x", "x.y"};
    run_parse(&r, "a:int,b:int", paths, "{\"x\":5}\n{\"x\":{\"y\":7}}\n{\"x\":[1]}\n", false);
    assert_int_equal(r.b->n, 3);
    assert_false(r.b->col[0].null[0]);
    assert_int_equal(r.b->col[0].v.i[0], 5);
    assert_true(r.b->col[1].null[0]);
    assert_true(r.b->col[0].null[1]);
    assert_int_equal(r.b->col[1].v.i[1], 7);
    assert_true(r.b->col[0].null[2]);
    assert_true(r.b->col[1].null[2]);
    run_free(&r);
}

static void test_bad_paths(void **state) {
    (void)state;
    sl_schema s = schema_of("a:int,b:int");
    sl_error err = {0};
    const char *empty[] = {"x..y", NULL};
    assert_null(sl_json_parser_new(&s, empty, &err));
    assert_non_null(strstr(err.msg, "empty step"));
    const char *trailing[] = {"x.", NULL};
    assert_null(sl_json_parser_new(&s, trailing, &err));
    const char *leading[] = {".x", NULL};
    assert_null(sl_json_parser_new(&s, leading, &err));
}

/* ---- strings ---------------------------------------------------------- */

static void test_escapes_and_unicode(void **state) {
    (void)state;
    run r;
    run_parse(&r, "s:string", NULL,
              "{\"s\":\"caf\\u00e9\"}\n"
              "{\"s\":\"\\ud83d\\ude00!\"}\n"
              "{\"s\":\"q\\\"b\\\\s\\/n\\nt\\tr\\r\\b\\f\"}\n"
              "{\"s\":\"déjà vu ✓\"}\n"
              "{\"\\u0073\":\"escaped key\"}\n"
              "{\"s\":\"a\\u0000b\"}\n",
              false);
    assert_int_equal(r.bad.n, 0);
    assert_int_equal(r.b->n, 6);
    sl_column *c = &r.b->col[0];
    assert_str(c, 0, "caf\xc3\xa9");
    assert_false(in_buf(&r, c->v.s[0].ptr)); /* unescaped copy in the arena */
    assert_str(c, 1, "\xf0\x9f\x98\x80!");
    assert_str(c, 2, "q\"b\\s/n\nt\tr\r\b\f");
    assert_str(c, 3, "déjà vu ✓");
    assert_true(in_buf(&r, c->v.s[3].ptr));
    assert_str(c, 4, "escaped key");
    assert_int_equal(c->v.s[5].len, 3);
    assert_memory_equal(c->v.s[5].ptr, "a\0b", 3);
    run_free(&r);
}

static void test_bad_strings(void **state) {
    (void)state;
    run r;
    run_parse(&r, "s:string", NULL,
              "{\"s\":\"\\x\"}\n"
              "{\"s\":\"\\ud800\"}\n"
              "{\"s\":\"tab\there\"}\n"
              "{\"s\":\"\xff\"}\n"
              "{\"s\":\"open}\n",
              false);
    assert_int_equal(r.b->n, 0);
    assert_int_equal(r.bad.n, 5);
    for (int k = 0; k < 5; k++)
        assert_non_null(strstr(r.bad.reason[k], "malformed JSON: "));
    assert_non_null(strstr(r.bad.reason[0], "STRING_ERROR"));
    assert_non_null(strstr(r.bad.reason[3], "UTF8_ERROR"));
    assert_non_null(strstr(r.bad.reason[4], "UNCLOSED_STRING"));
    run_free(&r);
}

/* ---- lines ------------------------------------------------------------ */

static void test_malformed_lines(void **state) {
    (void)state;
    static const char *lines[] = {
        "{\"a\":1}",   "[1,2]",      "5",          "\"str\"",           "null",
        "{\"a\":1} x", "{\"a\":1}}", "{\"a\":1,}", "{\"a\":1 \"b\":2}", "{\"a\":tru}",
        "{\"a\":1",    "{\"a\":01}", "{a:1}",      "{\"a\":2}",
    };
    enum { N = sizeof lines / sizeof lines[0] };
    char in[512];
    int64_t off[N];
    size_t len = 0;
    for (int k = 0; k < N; k++) {
        off[k] = (int64_t)len;
        len += (size_t)sprintf(in + len, "%s\n", lines[k]);
    }
    run r;
    run_parse(&r, "a:int", NULL, in, false);
    assert_int_equal(r.b->n, 2);
    assert_int_equal(r.b->pos[0], 1000);
    assert_int_equal(r.b->pos[1], 1000 + off[N - 1]);
    assert_int_equal(r.b->col[0].v.i[1], 2);
    assert_int_equal(r.bad.n, N - 2);
    for (int k = 0; k < N - 2; k++) {
        assert_int_equal(r.bad.pos[k], 1000 + off[k + 1]);
        assert_string_equal(r.bad.line[k], lines[k + 1]);
    }
    for (int k = 0; k < 4; k++)
        assert_string_equal(r.bad.reason[k], "expected a JSON object");
    for (int k = 4; k < N - 2; k++)
        assert_non_null(strstr(r.bad.reason[k], "malformed JSON: "));
    assert_non_null(strstr(r.bad.reason[5], "TRAILING_CONTENT"));
    assert_non_null(strstr(r.bad.reason[6], "TAPE_ERROR"));
    assert_non_null(strstr(r.bad.reason[8], "T_ATOM_ERROR"));
    assert_non_null(strstr(r.bad.reason[10], "NUMBER_ERROR"));
    run_free(&r);
}

static void test_stream_edge_cases(void **state) {
    (void)state;
    /* Documents that span lines, several per line, scalars between objects,
     * broken windows: each line is judged on its own in both modes (run_parse
     * compares stream mode with line-by-line mode). */
    run r;
    run_parse(&r, "a:int,s:string", NULL,
              "{\"a\":1}\n"
              "{\"a\":\n"
              "2}\n"
              "{\"a\":3}{\"a\":4}\n"
              "{\"a\":5} 6\n"
              "7\n"
              "{\"a\":8}\n"
              "  {\"a\":9}  \n"
              "{\"s\":\"unclosed}\n"
              "{\"a\":10}\n"
              "{\"s\":\"\xc3\"}\n"
              "{\"a\":11}\n"
              "{\"a\":[1,\n"
              "{\"a\":12}\n"
              "]}\n"
              "{\"a\":13}\n",
              false);
    int64_t want[] = {1, 8, 9, 10, 11, 12, 13};
    assert_int_equal(r.b->n, 7);
    for (int k = 0; k < 7; k++)
        assert_int_equal(r.b->col[0].v.i[k], want[k]);
    assert_int_equal(r.bad.n, 9);
    run_free(&r);
    /* an incomplete document after the last object of the stream (found by
     * fuzz_json: the stream drops it as truncated) */
    run_parse(&r, "a:int", NULL, "{\"a\":1}\n{\"a\":2}[\n{\"a\":3", false);
    assert_int_equal(r.b->n, 1);
    assert_int_equal(r.bad.n, 1);
    assert_int_equal(r.bad.pos[0], 1008);
    run_free(&r);
    /* invalid UTF-8 after the object, and inside a value, on a fresh stream */
    static const char *utf8_cases[] = {
        "{\"a\":1}\xff\x07\n",
        "{\"s\":\"\xff\"}\n{\"a\":2}\n",
        "{\"a\":1}\n{\"s\":\"x\xc3\"}\n{\"a\":3}\n",
        "{\"a\":1} \"open\n{\"a\":2}\n",
        "{\"s\":\"caf\\u00e9\"}\n{\"s\":\"\\n\"}\n",
    };
    for (size_t k = 0; k < sizeof utf8_cases / sizeof utf8_cases[0]; k++) {
        run_parse(&r, "a:int,s:string", NULL, utf8_cases[k], false); /* compares both modes */
        run_free(&r);
    }
}

static void test_stream_matches_lines_on_big_mixed_input(void **state) {
    (void)state;
    /* ~600 KB: several 64 KiB stream windows, batch boundaries, lines longer
     * than a window, and a mix of good and bad lines. Both modes must agree
     * on every row and every bad record. */
    static const char *bad_lines[] = {
        "{\"a\":1,}",  "[1]",     "{\"a\":1} x", "{\"a\":\"s\"}",    "{\"s\":\"\xff\"}",
        "{\"a\":1}}",  "{\"a\":", "\"str\"",     "{\"a\":1} \"open", "{\"s\":\"\\q\"}",
        "{\"a\":tru}",
    };
    size_t cap = 900000, len = 0;
    char *buf = malloc(cap + SL_JSON_PADDING);
    uint64_t x = 12345;
    int line_no = 0;
    while (len < cap - 140000) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        int kind = (int)(x % 100);
        if (kind < 3) {
            len += (size_t)sprintf(buf + len, "%s\n",
                                   bad_lines[(x >> 8) % (sizeof bad_lines / sizeof bad_lines[0])]);
        } else if (kind == 3 && line_no % 7 == 0) {
            len += (size_t)sprintf(buf + len, "{\"a\":%d,\"s\":\"",
                                   line_no); /* a line longer than a window */
            memset(buf + len, 'z', 70000);
            len += 70000;
            len += (size_t)sprintf(buf + len, "\"}\n");
        } else if (kind == 4) {
            len += (size_t)sprintf(buf + len, "\n  \r\n");
        } else if (kind < 10) {
            len += (size_t)sprintf(buf + len, "{\"s\":\"e\\u00e9\\n%d\",\"a\":%d}\r\n", line_no,
                                   line_no);
        } else {
            len +=
                (size_t)sprintf(buf + len, "{\"a\":%d,\"junk\":[1,{\"k\":null}],\"s\":\"v%d\"}\n",
                                line_no, line_no);
        }
        line_no++;
    }
    memset(buf + len, '{', SL_JSON_PADDING);
    sl_schema s = schema_of("a:int,s:string");
    sl_json_parser *ps = sl_json_parser_new(&s, NULL, NULL);
    sl_json_parser *pl = sl_json_parser_new(&s, NULL, NULL);
    sl_json_parser_set_stream(ps, true);
    sl_json_parser_set_stream(pl, false);
    sl_batch *bs = sl_batch_new(&s, 500), *bl = sl_batch_new(&s, 500);
    bad_log *gs = calloc(1, sizeof *gs), *gl = calloc(1, sizeof *gl);
    size_t off = 0;
    int rows = 0, bads = 0;
    while (off < len) {
        sl_batch_clear(bs);
        sl_batch_clear(bl);
        gs->n = gl->n = 0;
        size_t us =
            sl_json_parse_lines(ps, buf + off, len - off, 0, (int64_t)off, 0, bs, on_bad, gs);
        size_t ul =
            sl_json_parse_lines(pl, buf + off, len - off, 0, (int64_t)off, 0, bl, on_bad, gl);
        assert_int_equal(us, ul);
        assert_batches_equal(bs, bl);
        assert_int_equal(gs->n, gl->n);
        for (int k = 0; k < gs->n; k++) {
            assert_int_equal(gs->pos[k], gl->pos[k]);
            assert_string_equal(gs->reason[k], gl->reason[k]);
        }
        rows += (int)bs->n;
        bads += gs->n;
        assert_true(us > 0);
        off += us;
    }
    assert_true(rows > 3000);
    assert_true(bads > 50);
    free(gs);
    free(gl);
    sl_batch_free(bs);
    sl_batch_free(bl);
    sl_json_parser_free(ps);
    sl_json_parser_free(pl);
    free(buf);
}

/* Flat lines under a flat schema are read without simdjson (json.c, the flat
 * fast path) unless something is outside its shape; run_parse compares every
 * line with stream mode, which always goes through simdjson. These lines sit
 * on the edges of that shape: digit counts, fractions, signs, whitespace,
 * literals, duplicates, unknown keys, escapes, control and non-ASCII bytes. */
static void test_flat_fast_path_edges(void **state) {
    (void)state;
    run r;
    run_parse(&r, "i:int,d:double,s:string,b:bool", NULL,
              "{\"i\":123456789012345678,\"d\":0.123456789012345,\"s\":\"a\",\"b\":true}\n"
              "{\"i\":-1234567890123456789,\"d\":1234567890.1234567,\"s\":\"\",\"b\":false}\n"
              "{\"i\":9223372036854775807,\"d\":-0.0,\"b\":null}\n"
              "{\"i\":-0,\"d\":1e3,\"s\":\"x\"}\n"
              "{\"i\":12345678,\"d\":12345678.5,\"s\":\"\\u00e9\"}\n"
              " \t{ \"i\" : 7 , \"d\" : 2 , \"x\" : [1] , \"s\" : \"q\" } \t\n"
              "{\"i\":1,\"i\":2,\"zz\":\"u\",\"yy\":false,\"ww\":null,\"vv\":-3.5}\n"
              "{}\n"
              "{\"i\":1.0}\n"
              "{\"i\":01}\n"
              "{\"i\":1.}\n"
              "{\"i\":-}\n"
              "{\"b\":truex}\n"
              "{\"b\":nul}\n"
              "{\"s\":\"tab\there\"}\n"
              "{\"s\":\"caf\xc3\xa9\"}\n"
              "{\"s\":\"bad\xff\"}\n"
              "{\"\\u0069\":5}\n"
              "{\"i\":5}x\n"
              "{\"i\":5,}\n"
              "{\"i\":5\n"
              "{\"i\" 5}\n"
              "{\"i\":123456789012345678901}\n"
              "{\"d\":123456789012345678901}\n",
              false);
    /* spot checks of what the fast path read (stream mode agrees on all) */
    assert_int_equal(r.b->col[0].v.i[0], 123456789012345678LL);
    assert_true(r.b->col[1].v.d[0] == 0.123456789012345);
    assert_int_equal(r.b->col[0].v.i[1], -1234567890123456789LL);
    assert_true(r.b->col[1].v.d[1] == 1234567890.1234567);
    assert_true(r.b->col[1].v.d[2] == 0.0 && signbit(r.b->col[1].v.d[2]));
    assert_true(r.b->col[2].null[2] && r.b->col[3].null[2]);
    assert_int_equal(r.b->col[0].v.i[3], 0);
    assert_true(r.b->col[1].v.d[3] == 1000.0);
    assert_true(r.b->col[1].v.d[4] == 12345678.5);
    assert_int_equal(r.b->col[0].v.i[5], 7);
    assert_str(&r.b->col[2], 5, "q");
    assert_int_equal(r.b->col[0].v.i[6], 2); /* the last duplicate wins */
    assert_true(r.b->col[0].null[7] && r.b->col[1].null[7]);
    run_free(&r);
}

static void test_blank_crlf_bom(void **state) {
    (void)state;
    run r;
    run_parse(&r, "a:int,s:string", NULL,
              "\xEF\xBB\xBF{\"a\":1,\"s\":\"x\"}\r\n"
              "\r\n"
              "   \t \n"
              "\n"
              "{\"a\":2,\"s\":\"y\"}\r\n"
              "  {\"a\":3}  \n",
              false);
    /* base_pos 1000: the BOM is not at partition position 0, so line 1 is bad */
    assert_int_equal(r.bad.n, 1);
    assert_int_equal(r.b->n, 2);
    assert_int_equal(r.b->pos[0], 1000 + 20 + 2 + 6 + 1);
    run_free(&r);

    sl_schema s = schema_of("a:int,s:string");
    sl_json_parser *p = sl_json_parser_new(&s, NULL, NULL);
    sl_batch *b = sl_batch_new(&s, 16);
    size_t len;
    char *buf = padded("\xEF\xBB\xBF{\"a\":1,\"s\":\"x\"}\r\n"
                       "\r\n"
                       "   \t \n"
                       "\n"
                       "{\"a\":2,\"s\":\"y\"}\r\n"
                       "  {\"a\":3}  \n",
                       &len);
    bad_log bl = {0};
    size_t used = sl_json_parse_lines(p, buf, len, 0, 0, 7, b, on_bad, &bl);
    assert_int_equal(used, len);
    assert_int_equal(bl.n, 0);
    assert_int_equal(b->n, 3);
    assert_int_equal(b->pos[0], 0);
    assert_int_equal(b->raw[0].len, 15); /* no BOM, no \r\n */
    assert_memory_equal(b->raw[0].ptr, "{\"a\":1,\"s\":\"x\"}", 15);
    assert_str(&b->col[1], 0, "x");
    assert_int_equal(b->pos[1], 3 + 17 + 2 + 6 + 1);
    assert_int_equal(b->raw[1].len, 15);
    assert_int_equal(b->col[0].v.i[2], 3);
    assert_int_equal(b->raw[2].len, 11);
    assert_int_equal(b->ingest[2], 7);
    assert_int_equal(b->part[2], 0);
    sl_batch_free(b);
    sl_json_parser_free(p);
    free(buf);
}

static void test_partial_line_and_resume(void **state) {
    (void)state;
    sl_schema s = schema_of("a:int");
    sl_json_parser *p = sl_json_parser_new(&s, NULL, NULL);
    sl_batch *b = sl_batch_new(&s, 16);
    /* a stream delivered in two reads; the first ends mid-line */
    const char *all = "{\"a\":1}\n{\"a\":2}\n{\"a\":3}\n";
    char *buf = calloc(1, 256);
    memcpy(buf, all, 20); /* "{"a":1}\n{"a":2}\n{"a" */
    size_t used = sl_json_parse_lines(p, buf, 20, 0, 0, 0, b, NULL, NULL);
    assert_int_equal(used, 16);
    assert_int_equal(b->n, 2);
    /* the caller moves the rest to the front and reads more */
    size_t rest = 20 - used;
    memmove(buf, buf + used, rest);
    memcpy(buf + rest, all + 20, strlen(all) - 20);
    size_t len2 = rest + strlen(all) - 20;
    used = sl_json_parse_lines(p, buf, len2, 0, 16, 0, b, NULL, NULL);
    assert_int_equal(used, len2);
    assert_int_equal(b->n, 3);
    assert_int_equal(b->col[0].v.i[2], 3);
    assert_int_equal(b->pos[2], 16);
    /* no newline at all: nothing consumed */
    sl_batch_clear(b);
    memcpy(buf, "{\"a\":9}", 7);
    assert_int_equal(sl_json_parse_lines(p, buf, 7, 0, 0, 0, b, NULL, NULL), 0);
    assert_int_equal(b->n, 0);
    assert_int_equal(sl_json_parse_lines(p, buf, 0, 0, 0, 0, b, NULL, NULL), 0);
    sl_batch_free(b);
    sl_json_parser_free(p);
    free(buf);
}

static void test_batch_full_and_resume(void **state) {
    (void)state;
    sl_schema s = schema_of("a:int");
    sl_json_parser *p = sl_json_parser_new(&s, NULL, NULL);
    sl_batch *b = sl_batch_new(&s, 2);
    size_t len;
    char *buf =
        padded("{\"a\":0}\n{\"a\":\"x\"}\n{\"a\":1}\n\n{\"a\":2}\n{\"a\":3}\n{\"a\":4}\n", &len);
    bad_log bl = {0};
    size_t off = 0;
    int64_t next = 0;
    int rounds = 0;
    while (off < len) {
        sl_batch_clear(b);
        size_t used =
            sl_json_parse_lines(p, buf + off, len - off, 0, (int64_t)off, 0, b, on_bad, &bl);
        assert_true(used > 0);
        assert_int_equal(buf[off + used - 1], '\n');
        assert_true(b->n <= 2);
        for (uint32_t i = 0; i < b->n; i++) {
            assert_int_equal(b->col[0].v.i[i], next++);
            assert_int_equal(buf[b->pos[i]], '{');
        }
        off += used;
        rounds++;
    }
    assert_int_equal(next, 5);
    assert_int_equal(rounds, 3);
    assert_int_equal(bl.n, 1);
    assert_int_equal(bl.pos[0], 8);
    sl_batch_free(b);
    sl_json_parser_free(p);
    free(buf);
}

static void test_batch_with_extra_columns(void **state) {
    (void)state;
    sl_schema s = schema_of("a:int");
    sl_json_parser *p = sl_json_parser_new(&s, NULL, NULL);
    sl_schema wide = schema_of("a:int,later:string");
    sl_batch *b = sl_batch_new(&wide, 4);
    size_t len;
    char *buf = padded("{\"a\":5,\"later\":\"ignored\"}\n", &len);
    assert_int_equal(sl_json_parse_lines(p, buf, len, 0, 0, 0, b, NULL, NULL), len);
    assert_int_equal(b->n, 1);
    assert_int_equal(b->col[0].v.i[0], 5);
    assert_true(b->col[1].null[0]);
    sl_batch_free(b);
    sl_json_parser_free(p);
    free(buf);
}

static void test_many_lines_reuse(void **state) {
    (void)state;
    /* 20k lines through a 256-row batch: steady state, row values and positions */
    sl_schema s = schema_of(
        "detection_oid:int,video_camera_oid:int,item_name:string,timestamp_detected:timestamp");
    sl_json_parser *p = sl_json_parser_new(&s, NULL, NULL);
    sl_batch *b = sl_batch_new(&s, 256);
    size_t cap = 20000 * 160 + SL_JSON_PADDING, len = 0;
    char *buf = malloc(cap);
    for (int i = 0; i < 20000; i++)
        len += (size_t)sprintf(
            buf + len,
            "{\"detection_oid\":%d,\"video_camera_oid\":%d,\"geographical_location_oid\":17,"
            "\"item_name\":\"%s\",\"timestamp_detected\":%lld}\n",
            i, i % 100, i % 3 ? "person" : "car\\u00e9", 1767225600000LL + i);
    size_t off = 0;
    int n = 0;
    while (off < len) {
        sl_batch_clear(b);
        off += sl_json_parse_lines(p, buf + off, len - off, 1, (int64_t)off, 0, b, NULL, NULL);
        for (uint32_t i = 0; i < b->n; i++, n++) {
            assert_int_equal(b->col[0].v.i[i], n);
            assert_int_equal(b->col[3].v.i[i], (1767225600000LL + n) * 1000);
            assert_int_equal(b->col[2].v.s[i].len, n % 3 ? 6 : 5);
        }
    }
    assert_int_equal(n, 20000);
    sl_batch_free(b);
    sl_json_parser_free(p);
    free(buf);
}

/* ---- writer ----------------------------------------------------------- */

static void test_write_row(void **state) {
    (void)state;
    sl_schema s = schema_of("i:int,d:double,s:string,b:bool,t:timestamp,n:int,inf:double");
    sl_batch *b = sl_batch_new(&s, 2);
    uint32_t r = sl_batch_append_null_row(b);
    sl_col_set_int(&b->col[0], r, -12);
    sl_col_set_double(&b->col[1], r, 0.5);
    sl_col_set_str(&b->col[2], r, "a\"b\\c\n\x01", 7);
    sl_col_set_bool(&b->col[3], r, true);
    sl_col_set_int(&b->col[4], r, 1767226500123456LL);
    sl_col_set_double(&b->col[6], r, INFINITY);
    char out[512];
    size_t n = sl_json_write_row(b, r, ",\"_source\":\"f.ndjson\"", out, sizeof out);
    const char *want = "{\"i\":-12,\"d\":0.5,\"s\":\"a\\\"b\\\\c\\n\\u0001\",\"b\":true,"
                       "\"t\":\"2026-01-01T00:15:00.123456Z\",\"n\":null,\"inf\":null,"
                       "\"_source\":\"f.ndjson\"}";
    assert_string_equal(out, want);
    assert_int_equal(n, strlen(want));
    /* snprintf contract: too small -> needed size, nothing past cap */
    for (size_t cap = 0; cap <= n + 1; cap++) {
        char small[600];
        memset(small, '#', sizeof small);
        size_t m = sl_json_write_row(b, r, ",\"_source\":\"f.ndjson\"", small, cap);
        assert_int_equal(m, n);
        for (size_t k = cap; k < sizeof small; k++)
            assert_int_equal(small[k], '#');
        if (cap > 0) {
            size_t wrote = cap - 1 < n ? cap - 1 : n;
            assert_memory_equal(small, want, wrote);
            assert_int_equal(small[wrote], 0);
        }
    }
    sl_batch_free(b);
}

static void test_write_timestamps_match_core(void **state) {
    (void)state;
    /* the writer formats timestamps itself; it must equal sl_time_format_iso_us */
    sl_schema s = schema_of("t:timestamp");
    sl_batch *b = sl_batch_new(&s, 1);
    uint32_t r = sl_batch_append_null_row(b);
    int64_t vals[] = {0,
                      -1,
                      1,
                      999999,
                      -1000000,
                      1767225600123456LL,
                      951782400000000LL /* 2000-02-29 */,
                      -62135596800000000LL,
                      -62135596800000001LL,
                      253402300799999999LL,
                      253402300800000000LL,
                      INT64_MAX,
                      -86400000000LL * 365 * 1970};
    /* (INT64_MIN itself is left out: sl_time_format_iso_us overflows on it) */
    uint64_t x = 88172645463325252ULL;
    for (int k = 0; k < 20000; k++) {
        int64_t us;
        if (k < (int)(sizeof vals / sizeof vals[0])) {
            us = vals[k];
        } else {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            us = (int64_t)(x % 600000000000000000ULL) - 300000000000000000LL;
        }
        sl_col_set_int(&b->col[0], r, us);
        char out[96], want[96], core[64];
        sl_json_write_row(b, r, NULL, out, sizeof out);
        sl_time_format_iso_us(us, core, sizeof core);
        snprintf(want, sizeof want, "{\"t\":\"%s\"}", core);
        assert_string_equal(out, want);
    }
    sl_batch_free(b);
}

static void test_write_invalid_utf8(void **state) {
    (void)state;
    char out[64];
    /* stray continuation, truncated sequence, overlong, surrogate; valid é kept */
    size_t n = sl_json_write_string("\x80"
                                    "a\xc3"
                                    "b\xc0\xaf"
                                    "\xed\xa0\x80"
                                    "\xc3\xa9",
                                    11, out, sizeof out);
    out[n] = 0;
    assert_string_equal(out, "\"\\ufffda\\ufffdb\\ufffd\\ufffd\\ufffd\\ufffd\\ufffd\xc3\xa9\"");
}

static void test_round_trip(void **state) {
    (void)state;
    sl_schema s = schema_of("i:int,d:double,s:string,b:bool,t:timestamp");
    sl_batch *src = sl_batch_new(&s, 16);
    const double ds[] = {0.1, -1e300, 5e-324, 123456789.123456789, 1.0, NAN, -2.5e-7, 3.0e20};
    const int64_t is[] = {0, -1, INT64_MAX, INT64_MIN, 42, 7, 1000000000000LL, -99};
    const int64_t ts[] = {0,
                          -1,
                          1767225600123456LL,
                          -62135596800000000LL,
                          253402300799999999LL,
                          1,
                          86400000000LL,
                          1767225600000000LL};
    const char *ss[] = {"",         "plain",   "quote\" back\\ slash", "ctl \x01\x1f\t\r\n",
                        "déjà ✓ 😀", "\\u0041", "{\"json\":1}",         "x"};
    for (int k = 0; k < 8; k++) {
        uint32_t r = sl_batch_append_null_row(src);
        if (k != 5) sl_col_set_int(&src->col[0], r, is[k]);
        sl_col_set_double(&src->col[1], r, ds[k]);
        sl_col_set_str(&src->col[2], r, ss[k], (uint32_t)strlen(ss[k]));
        if (k != 3) sl_col_set_bool(&src->col[3], r, k & 1);
        sl_col_set_int(&src->col[4], r, ts[k]);
    }
    char *buf = malloc(8192);
    size_t len = 0;
    for (uint32_t r = 0; r < src->n; r++) {
        len += sl_json_write_row(src, r, NULL, buf + len, 8192 - len);
        buf[len++] = '\n';
    }
    sl_json_parser *p = sl_json_parser_new(&s, NULL, NULL);
    sl_batch *dst = sl_batch_new(&s, 16);
    bad_log bl = {0};
    assert_int_equal(sl_json_parse_lines(p, buf, len, 0, 0, 0, dst, on_bad, &bl), len);
    assert_int_equal(bl.n, 0);
    assert_int_equal(dst->n, src->n);
    for (uint32_t r = 0; r < src->n; r++) {
        for (int c = 0; c < s.n; c++) {
            const sl_column *a = &src->col[c], *z = &dst->col[c];
            bool a_null = a->null[r] || (c == 1 && !isfinite(a->v.d[r]));
            assert_int_equal(a_null, z->null[r]);
            if (a_null) continue;
            switch (s.f[c].type) {
            case SL_T_DOUBLE:
                assert_true(a->v.d[r] == z->v.d[r]);
                break;
            case SL_T_STRING:
                assert_int_equal(a->v.s[r].len, z->v.s[r].len);
                assert_memory_equal(a->v.s[r].ptr, z->v.s[r].ptr, a->v.s[r].len);
                break;
            case SL_T_BOOL:
                assert_int_equal(a->v.b[r], z->v.b[r]);
                break;
            default:
                assert_int_equal(a->v.i[r], z->v.i[r]);
                break;
            }
        }
    }
    sl_batch_free(src);
    sl_batch_free(dst);
    sl_json_parser_free(p);
    free(buf);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_types_ok),
        cmocka_unit_test(test_type_errors),
        cmocka_unit_test(test_double_accepts_numbers),
        cmocka_unit_test(test_lenient_strings),
        cmocka_unit_test(test_nested_paths),
        cmocka_unit_test(test_top_level_name_with_dot),
        cmocka_unit_test(test_bad_paths),
        cmocka_unit_test(test_value_and_prefix),
        cmocka_unit_test(test_escapes_and_unicode),
        cmocka_unit_test(test_bad_strings),
        cmocka_unit_test(test_malformed_lines),
        cmocka_unit_test(test_stream_edge_cases),
        cmocka_unit_test(test_stream_matches_lines_on_big_mixed_input),
        cmocka_unit_test(test_flat_fast_path_edges),
        cmocka_unit_test(test_blank_crlf_bom),
        cmocka_unit_test(test_partial_line_and_resume),
        cmocka_unit_test(test_batch_full_and_resume),
        cmocka_unit_test(test_batch_with_extra_columns),
        cmocka_unit_test(test_many_lines_reuse),
        cmocka_unit_test(test_write_row),
        cmocka_unit_test(test_write_timestamps_match_core),
        cmocka_unit_test(test_write_invalid_utf8),
        cmocka_unit_test(test_round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
