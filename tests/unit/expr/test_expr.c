/* test_expr.c - unit tests for src/expr: every operator and function with
 * NULL handling, type errors and their offsets, LIKE edge cases, CASE forms,
 * constant folding, 4096-row batches checked against brute force, and a
 * timing of `a * 2 + b > 10 AND name LIKE 'x%'` over 1M rows. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* cmocka.h needs the headers above */
#include <cmocka.h>

#include "core/batch.h"
#include "core/error.h"
#include "core/timeutil.h"
#include "expr/expr.h"

#define BATCH_RANDOM 2000

/* ---- fixture: one schema, a 4-row batch ----
 * row 0: a=1   b=2  d=1.5   name='xray'  flag=true  ts=2026-01-01T00:05:00Z        s2='Hello World'
 * row 1: a=10  b=-3 d=-2.25 name='alpha' flag=false ts=2026-03-15T13:45:30.250Z    s2='  pad  '
 * row 2: all NULL except b=0
 * row 3: a=-7  b=7  d=0     name='x'     flag=true  ts=1969-12-31T23:59:59Z        s2='héllo'
 */
static sl_schema schema;
static sl_batch *batch;

static int64_t ts_of(const char *iso) {
    int64_t us = 0;
    assert_int_equal(sl_time_parse_iso(iso, strlen(iso), &us), 0);
    return us;
}

static void setup_fixture(void) {
    sl_schema_init(&schema);
    sl_schema_add(&schema, "a", SL_T_INT);
    sl_schema_add(&schema, "b", SL_T_INT);
    sl_schema_add(&schema, "d", SL_T_DOUBLE);
    sl_schema_add(&schema, "name", SL_T_STRING);
    sl_schema_add(&schema, "flag", SL_T_BOOL);
    sl_schema_add(&schema, "ts", SL_T_TS);
    sl_schema_add(&schema, "s2", SL_T_STRING);
    sl_schema_add(&schema, "Weird Col", SL_T_INT);
    batch = sl_batch_new(&schema, 16);
    const int64_t as[] = {1, 10, 0, -7}, bs[] = {2, -3, 0, 7};
    const double ds[] = {1.5, -2.25, 0, 0};
    const char *names[] = {"xray", "alpha", NULL, "x"};
    const char *s2[] = {"Hello World", "  pad  ", NULL, "h\xc3\xa9llo"};
    const int flags[] = {1, 0, -1, 1};
    const char *tss[] = {"2026-01-01T00:05:00Z", "2026-03-15T13:45:30.250Z", NULL,
                         "1969-12-31T23:59:59Z"};
    for (int r = 0; r < 4; r++) {
        uint32_t i = sl_batch_append_null_row(batch);
        sl_col_set_int(&batch->col[1], i, bs[r]);
        if (r == 2) continue;
        sl_col_set_int(&batch->col[0], i, as[r]);
        sl_col_set_double(&batch->col[2], i, ds[r]);
        sl_col_set_str(&batch->col[3], i, names[r], (uint32_t)strlen(names[r]));
        sl_col_set_bool(&batch->col[4], i, flags[r]);
        sl_col_set_int(&batch->col[5], i, ts_of(tss[r]));
        sl_col_set_str(&batch->col[6], i, s2[r], (uint32_t)strlen(s2[r]));
        sl_col_set_int(&batch->col[7], i, 100 + r);
    }
}

static int group_setup(void **state) {
    (void)state;
    setup_fixture();
    return 0;
}

static int group_teardown(void **state) {
    (void)state;
    sl_batch_free(batch);
    return 0;
}

static sl_expr *compile_ok(const char *src) {
    sl_error err = {0};
    int off = -1;
    sl_expr *e = sl_expr_compile(src, &schema, &err, &off);
    if (!e) fail_msg("compile of \"%s\" failed at %d: %s", src, off, err.msg);
    return e;
}

static void fmt_value(const sl_column *c, uint32_t i, sl_type t, char *out, size_t cap) {
    if (t == SL_T_NULL || c->null[i]) {
        snprintf(out, cap, "NULL");
        return;
    }
    switch (t) {
    case SL_T_INT:
        snprintf(out, cap, "%lld", (long long)c->v.i[i]);
        break;
    case SL_T_DOUBLE:
        snprintf(out, cap, "%.10g", c->v.d[i]);
        break;
    case SL_T_BOOL:
        snprintf(out, cap, "%s", c->v.b[i] ? "true" : "false");
        break;
    case SL_T_STRING:
        snprintf(out, cap, "'%.*s'", (int)c->v.s[i].len, c->v.s[i].ptr);
        break;
    case SL_T_TS:
        sl_time_format_iso_ms(c->v.i[i], out, cap);
        break;
    default:
        snprintf(out, cap, "?");
    }
}

/* Evaluates src on the fixture; returns the value of every row joined by '|'. */
static char result_buf[1024];
static const char *eval_rows(const char *src, sl_type *type_out, bool *constant) {
    sl_expr *e = compile_ok(src);
    sl_type t = sl_expr_type(e);
    if (type_out) *type_out = t;
    if (constant) *constant = sl_expr_is_constant(e);
    sl_schema os;
    sl_schema_init(&os);
    sl_schema_add(&os, "out", t == SL_T_NULL ? SL_T_INT : t);
    sl_batch *ob = sl_batch_new(&os, batch->cap);
    sl_column *out = &ob->col[0];
    if (t == SL_T_NULL) out->type = SL_T_NULL;
    assert_int_equal(sl_expr_eval(e, batch, out), 0);
    result_buf[0] = 0;
    for (uint32_t i = 0; i < batch->n; i++) {
        char v[256];
        fmt_value(out, i, t, v, sizeof v);
        if (i) strcat(result_buf, "|");
        strcat(result_buf, v);
    }
    if (t == SL_T_NULL) out->type = SL_T_INT;
    sl_batch_free(ob);
    sl_expr_free(e);
    return result_buf;
}

#define CHECK(src, expect) assert_string_equal(eval_rows(src, NULL, NULL), expect)
#define CHECK_T(src, type, expect)                                                                 \
    do {                                                                                           \
        sl_type t_;                                                                                \
        assert_string_equal(eval_rows(src, &t_, NULL), expect);                                    \
        assert_int_equal(t_, type);                                                                \
    } while (0)
/* A constant expression: folded at compile time, same value on every row. */
#define CONST(src, type, v)                                                                        \
    do {                                                                                           \
        sl_type t_;                                                                                \
        bool c_;                                                                                   \
        assert_string_equal(eval_rows(src, &t_, &c_), v "|" v "|" v "|" v);                        \
        assert_int_equal(t_, type);                                                                \
        assert_true(c_);                                                                           \
    } while (0)

static void check_error(const char *src, const char *msg, int offset) {
    sl_error err = {0};
    int off = -1;
    sl_expr *e = sl_expr_compile(src, &schema, &err, &off);
    if (e) fail_msg("\"%s\" compiled but should fail with: %s", src, msg);
    if (!strstr(err.msg, msg)) fail_msg("\"%s\": got error \"%s\", want \"%s\"", src, err.msg, msg);
    if (off != offset)
        fail_msg("\"%s\": error \"%s\" at offset %d, want %d", src, err.msg, off, offset);
    assert_true(err.code < 0);
}

/* ---- literals and columns ---- */

static void test_literals(void **state) {
    (void)state;
    CONST("42", SL_T_INT, "42");
    CONST("1.25", SL_T_DOUBLE, "1.25");
    CONST(".5", SL_T_DOUBLE, "0.5");
    CONST("1e3", SL_T_DOUBLE, "1000");
    CONST("2.5E-1", SL_T_DOUBLE, "0.25");
    CONST("'it''s'", SL_T_STRING, "'it's'");
    CONST("''", SL_T_STRING, "''");
    CONST("TRUE", SL_T_BOOL, "true");
    CONST("false", SL_T_BOOL, "false");
    CONST("NULL", SL_T_NULL, "NULL");
    CONST("9223372036854775807", SL_T_INT, "9223372036854775807");
    CONST("-9223372036854775808", SL_T_INT, "-9223372036854775808");
    CONST("9223372036854775808", SL_T_DOUBLE, "9.223372037e+18");
    CONST("  7 -- a comment\n", SL_T_INT, "7");
}

static void test_columns(void **state) {
    (void)state;
    CHECK_T("a", SL_T_INT, "1|10|NULL|-7");
    CHECK_T("A", SL_T_INT, "1|10|NULL|-7"); /* bare identifiers are case-insensitive */
    CHECK_T("\"name\"", SL_T_STRING, "'xray'|'alpha'|NULL|'x'");
    CHECK_T("\"Weird Col\"", SL_T_INT, "100|101|NULL|103");
    CHECK_T("ts", SL_T_TS,
            "2026-01-01T00:05:00.000Z|2026-03-15T13:45:30.250Z|NULL|1969-12-31T23:59:59.000Z");
    check_error("\"NAME\"", "unknown column 'NAME'", 0);
    check_error("a + foo", "unknown column 'foo'", 4);
}

/* ---- arithmetic ---- */

static void test_arithmetic(void **state) {
    (void)state;
    CHECK_T("a + b", SL_T_INT, "3|7|NULL|0");
    CHECK_T("a - b", SL_T_INT, "-1|13|NULL|-14");
    CHECK_T("a * b", SL_T_INT, "2|-30|NULL|-49");
    CHECK_T("a / 2", SL_T_INT, "0|5|NULL|-3"); /* truncates toward zero */
    CHECK_T("a % 3", SL_T_INT, "1|1|NULL|-1");
    CHECK_T("a / b", SL_T_INT, "0|-3|NULL|-1");
    CHECK_T("b / a", SL_T_INT, "2|0|NULL|-1");
    CHECK_T("a / (b - b)", SL_T_INT, "NULL|NULL|NULL|NULL"); /* division by zero */
    CHECK_T("a % (b - b)", SL_T_INT, "NULL|NULL|NULL|NULL");
    CHECK_T("10 / b", SL_T_INT, "5|-3|NULL|1");
    CHECK_T("a + d", SL_T_DOUBLE, "2.5|7.75|NULL|-7");
    CHECK_T("d * 2", SL_T_DOUBLE, "3|-4.5|NULL|0");
    CHECK_T("d / 0", SL_T_DOUBLE, "NULL|NULL|NULL|NULL");
    CHECK_T("a / 4.0", SL_T_DOUBLE, "0.25|2.5|NULL|-1.75");
    CHECK_T("d % 1", SL_T_DOUBLE, "0.5|-0.25|NULL|0");
    CHECK_T("-a", SL_T_INT, "-1|-10|NULL|7");
    CHECK_T("-d", SL_T_DOUBLE, "-1.5|2.25|NULL|-0");
    CHECK_T("+a", SL_T_INT, "1|10|NULL|-7");
    CHECK_T("a + NULL", SL_T_INT, "NULL|NULL|NULL|NULL");
    CHECK_T("2 + 3 * a", SL_T_INT, "5|32|NULL|-19");
    CHECK_T("(2 + 3) * a", SL_T_INT, "5|50|NULL|-35");
    CHECK_T("a - b - 1", SL_T_INT, "-2|12|NULL|-15"); /* left associative */
    CONST("7 / 2", SL_T_INT, "3");
    CONST("-7 / 2", SL_T_INT, "-3");
    CONST("-7 % 2", SL_T_INT, "-1");
    CONST("7.0 / 2", SL_T_DOUBLE, "3.5");
    /* overflow gives NULL rather than wrapping */
    CONST("9223372036854775807 + 1", SL_T_INT, "NULL");
    CONST("-9223372036854775808 - 1", SL_T_INT, "NULL");
    CONST("4611686018427387904 * 2", SL_T_INT, "NULL");
    CONST("-9223372036854775808 / -1", SL_T_INT, "NULL");
    CONST("-9223372036854775808 % -1", SL_T_INT, "0");
    CONST("-(-9223372036854775808)", SL_T_INT, "NULL");
    CHECK_T("a * 9223372036854775807", SL_T_INT, "9223372036854775807|NULL|NULL|NULL");
}

static void test_timestamp_arith(void **state) {
    (void)state;
    CHECK_T("ts + 1000000", SL_T_TS,
            "2026-01-01T00:05:01.000Z|2026-03-15T13:45:31.250Z|NULL|1970-01-01T00:00:00.000Z");
    CHECK_T("60000000 + ts", SL_T_TS,
            "2026-01-01T00:06:00.000Z|2026-03-15T13:46:30.250Z|NULL|1970-01-01T00:00:59.000Z");
    CHECK_T("ts - 250000", SL_T_TS,
            "2026-01-01T00:04:59.750Z|2026-03-15T13:45:30.000Z|NULL|1969-12-31T23:59:58.750Z");
    CHECK_T("ts - ts", SL_T_INT, "0|0|NULL|0");
    CHECK_T("ts - '2026-01-01T00:00:00Z'", SL_T_INT,
            "300000000|6356730250000|NULL|-1767225601000000");
}

static void test_timestamp_arith_errors(void **state) {
    (void)state;
    check_error("ts + ts", "operator + needs a timestamp and an int", 5);
    check_error("ts + '2026-01-01'", "operator + needs a timestamp and an int", 5);
    check_error("ts * 2", "operator * needs numbers, got timestamp", 0);
    check_error("ts + 1.5", "operator + needs a timestamp and an int", 5);
}

/* ---- strings ---- */

static void test_concat(void **state) {
    (void)state;
    CHECK_T("name || '-' || s2", SL_T_STRING,
            "'xray-Hello World'|'alpha-  pad  '|NULL|'x-h\xc3\xa9llo'");
    CHECK_T("name || a", SL_T_STRING, "'xray1'|'alpha10'|NULL|'x-7'");
    CHECK_T("'d=' || d", SL_T_STRING, "'d=1.5'|'d=-2.25'|NULL|'d=0.0'");
    CHECK_T("'f=' || flag", SL_T_STRING, "'f=true'|'f=false'|NULL|'f=true'");
    CHECK_T("name || NULL", SL_T_STRING, "NULL|NULL|NULL|NULL");
    CONST("'a' || 'b' || ''", SL_T_STRING, "'ab'");
    CONST("'x' || 1 + 2", SL_T_STRING, "'x3'"); /* || binds looser than + */
}

/* ---- comparisons ---- */

static void test_comparisons(void **state) {
    (void)state;
    CHECK_T("a = 1", SL_T_BOOL, "true|false|NULL|false");
    CHECK("a <> 1", "false|true|NULL|true");
    CHECK("a != 1", "false|true|NULL|true");
    CHECK("a < b", "true|false|NULL|true");
    CHECK("a <= 1", "true|false|NULL|true");
    CHECK("a > d", "false|true|NULL|false"); /* int vs double */
    CHECK("a >= 10", "false|true|NULL|false");
    CHECK("1 < a", "false|true|NULL|false");
    CHECK("d = 1.5", "true|false|NULL|false");
    CHECK("a = 1.0", "true|false|NULL|false");
    CHECK("name = 'x'", "false|false|NULL|true");
    CHECK("name < 'b'", "false|true|NULL|false");
    CHECK("name > 'x'", "true|false|NULL|false"); /* 'xray' > 'x': longer wins on a tie */
    CHECK("name >= s2", "true|true|NULL|true");
    CHECK("flag = TRUE", "true|false|NULL|true");
    CHECK("flag < TRUE", "false|true|NULL|false");
    CHECK("a = NULL", "NULL|NULL|NULL|NULL");
    CONST("'abc' < 'abd'", SL_T_BOOL, "true");
    CONST("'B' < 'a'", SL_T_BOOL, "true"); /* bytewise */
    CONST("NULL = NULL", SL_T_BOOL, "NULL");
    CONST("2 = 2.0", SL_T_BOOL, "true");
}

static void test_timestamp_compare(void **state) {
    (void)state;
    CHECK("ts > '2026-01-01'", "true|true|NULL|false");
    CHECK("ts = '2026-01-01T00:05:00Z'", "true|false|NULL|false");
    CHECK("'2026-01-01T00:05:00+00:00' = ts", "true|false|NULL|false");
    CHECK("ts < '1970-01-01 00:00:00'", "false|false|NULL|true");
    CHECK("ts BETWEEN '2026-01-01' AND '2026-02-01'", "true|false|NULL|false");
    CHECK("ts IN ('2026-01-01T00:05:00Z', '1969-12-31T23:59:59Z')", "true|false|NULL|true");
    check_error("ts > 'yesterday'", "cannot parse 'yesterday' as a timestamp", 5);
    check_error("ts = name", "cannot compare timestamp with string", 5);
    check_error("ts = 5", "cannot compare timestamp with int", 5);
}

/* ---- logic ---- */

static void test_three_valued_logic(void **state) {
    (void)state;
    /* all 9 combinations of (TRUE, FALSE, NULL) x (TRUE, FALSE, NULL), row-wise */
    sl_schema s;
    sl_schema_init(&s);
    sl_schema_add(&s, "p", SL_T_BOOL);
    sl_schema_add(&s, "q", SL_T_BOOL);
    sl_batch *b = sl_batch_new(&s, 9);
    for (int i = 0; i < 9; i++) {
        uint32_t r = sl_batch_append_null_row(b);
        int p = i / 3, q = i % 3; /* 0 true, 1 false, 2 null */
        if (p < 2) sl_col_set_bool(&b->col[0], r, p == 0);
        if (q < 2) sl_col_set_bool(&b->col[1], r, q == 0);
    }
    static const struct {
        const char *src;
        const char *want; /* per row: T F N */
    } cases[] = {
        {"p AND q", "TFNFFFNFN"},       {"p OR q", "TTTTFNTNN"},
        {"NOT p", "FFFTTTNNN"},         {"p IS NULL", "FFFFFFTTT"},
        {"p IS NOT NULL", "TTTTTTFFF"}, {"p AND TRUE", "TTTFFFNNN"},
        {"p AND FALSE", "FFFFFFFFF"},   {"p OR TRUE", "TTTTTTTTT"},
        {"p OR FALSE", "TTTFFFNNN"},    {"p AND NULL", "NNNFFFNNN"},
        {"p OR NULL", "TTTNNNNNN"},     {"(NOT (p AND q)) = (NOT p OR NOT q)", "TTNTTTNTN"},
        {"NOT p = q", "FTNTFNNNN"}, /* NOT binds looser than = */
        {"p = q", "TFNFTNNNN"},
    };
    uint8_t keep[9];
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        sl_error err = {0};
        sl_expr *e = sl_expr_compile(cases[c].src, &s, &err, NULL);
        if (!e) fail_msg("%s: %s", cases[c].src, err.msg);
        assert_int_equal(sl_expr_type(e), SL_T_BOOL);
        sl_column out = {SL_T_BOOL, calloc(9, 1), {.b = calloc(9, 1)}};
        assert_int_equal(sl_expr_eval(e, b, &out), 0);
        assert_int_equal(sl_expr_eval_bool(e, b, keep), 0);
        for (int i = 0; i < 9; i++) {
            char got = out.null[i] ? 'N' : out.v.b[i] ? 'T' : 'F';
            if (got != cases[c].want[i])
                fail_msg("%s row %d (p=%c q=%c): got %c want %c", cases[c].src, i, "TFN"[i / 3],
                         "TFN"[i % 3], got, cases[c].want[i]);
            assert_int_equal(keep[i], cases[c].want[i] == 'T');
        }
        free(out.null);
        free(out.v.b);
        sl_expr_free(e);
    }
    sl_batch_free(b);
    CONST("NULL AND FALSE", SL_T_BOOL, "false");
    CONST("NULL OR TRUE", SL_T_BOOL, "true");
    CONST("NULL AND TRUE", SL_T_BOOL, "NULL");
    CONST("NOT NULL", SL_T_BOOL, "NULL");
    CONST("NOT TRUE OR FALSE", SL_T_BOOL, "false");      /* NOT binds tighter than OR */
    CONST("TRUE OR FALSE AND FALSE", SL_T_BOOL, "true"); /* AND binds tighter than OR */
}

static void test_is_null(void **state) {
    (void)state;
    CHECK("a IS NULL", "false|false|true|false");
    CHECK("name IS NOT NULL", "true|true|false|true");
    CHECK("a + 1 IS NULL", "false|false|true|false");
    CHECK("a / (b - b) IS NULL", "true|true|true|true");
    CONST("NULL IS NULL", SL_T_BOOL, "true");
    CONST("1 IS NULL", SL_T_BOOL, "false");
    CONST("NULL IS NOT NULL", SL_T_BOOL, "false");
}

static void test_in(void **state) {
    (void)state;
    CHECK("a IN (1, 10)", "true|true|NULL|false");
    CHECK("a NOT IN (1, 10)", "false|false|NULL|true");
    CHECK("a IN (1, NULL)", "true|NULL|NULL|NULL"); /* no match + NULL in list -> NULL */
    CHECK("a NOT IN (1, NULL)", "false|NULL|NULL|NULL");
    CHECK("a IN (1.0, 2.5)", "true|false|NULL|false");
    CHECK("d IN (1, -2.25)", "false|true|NULL|false");
    CHECK("name IN ('x', 'alpha')", "false|true|NULL|true");
    CHECK("a IN (b, b + 8, 0)", "false|false|NULL|false");
    CHECK("b IN (a + 1, 0)", "true|false|true|false");
    CHECK("flag IN (FALSE)", "false|true|NULL|false");
    CHECK("a IN (1)", "true|false|NULL|false");
    CONST("NULL IN (1, 2)", SL_T_BOOL, "NULL");
    CONST("2 IN (1, 2)", SL_T_BOOL, "true");
    CONST("3 NOT IN (1, 2)", SL_T_BOOL, "true");
    check_error("a IN (1, 'x')", "cannot compare int with string", 9);
    check_error("a IN ()", "expected an expression", 6);
}

static void test_between(void **state) {
    (void)state;
    CHECK("a BETWEEN 1 AND 10", "true|true|NULL|false");
    CHECK("a NOT BETWEEN 1 AND 10", "false|false|NULL|true");
    CHECK("a BETWEEN b AND 10", "false|true|NULL|false");
    CHECK("d BETWEEN -3 AND 1.5", "true|true|NULL|true");
    CHECK("name BETWEEN 'a' AND 'y'", "true|true|NULL|true");
    CHECK("a BETWEEN 1 AND 10 AND b > 0", "true|false|false|false");
    CONST("5 BETWEEN NULL AND 1", SL_T_BOOL, "false"); /* 5 <= 1 is false */
    CONST("5 BETWEEN NULL AND 10", SL_T_BOOL, "NULL");
    /* x is shared, referenced once */
    sl_expr *e = compile_ok("a BETWEEN b AND 10");
    const char *names[4];
    assert_int_equal(sl_expr_columns(e, names, 4), 2);
    assert_string_equal(names[0], "a");
    assert_string_equal(names[1], "b");
    sl_expr_free(e);
}

/* ---- LIKE ---- */

static void like_case(const char *s, const char *p, const char *esc, const char *want) {
    /* constant form (compiled pattern) and column form (pattern per row) must agree */
    char src[512];
    if (esc)
        snprintf(src, sizeof src, "'%s' LIKE '%s' ESCAPE '%s'", s, p, esc);
    else
        snprintf(src, sizeof src, "'%s' LIKE '%s'", s, p);
    sl_type t;
    const char *got = eval_rows(src, &t, NULL);
    char w4[64];
    snprintf(w4, sizeof w4, "%s|%s|%s|%s", want, want, want, want);
    if (strcmp(got, w4) != 0) fail_msg("%s: got %s want %s", src, got, want);

    sl_schema ls;
    sl_schema_init(&ls);
    sl_schema_add(&ls, "s", SL_T_STRING);
    sl_schema_add(&ls, "p", SL_T_STRING);
    sl_batch *b = sl_batch_new(&ls, 4);
    uint32_t r = sl_batch_append_null_row(b);
    sl_col_set_str(&b->col[0], r, s, (uint32_t)strlen(s));
    sl_col_set_str(&b->col[1], r, p, (uint32_t)strlen(p));
    if (esc)
        snprintf(src, sizeof src, "s LIKE p ESCAPE '%s'", esc);
    else
        snprintf(src, sizeof src, "s LIKE p");
    sl_expr *e = sl_expr_compile(src, &ls, NULL, NULL);
    assert_non_null(e);
    sl_column out = {SL_T_BOOL, calloc(4, 1), {.b = calloc(4, 1)}};
    assert_int_equal(sl_expr_eval(e, b, &out), 0);
    const char *g = out.null[0] ? "NULL" : out.v.b[0] ? "true" : "false";
    if (strcmp(g, want) != 0) fail_msg("'%s' LIKE '%s' (per row): got %s want %s", s, p, g, want);
    free(out.null);
    free(out.v.b);
    sl_expr_free(e);
    sl_batch_free(b);
}

static void test_like(void **state) {
    (void)state;
    CHECK("name LIKE 'x%'", "true|false|NULL|true");
    CHECK("name NOT LIKE 'x%'", "false|true|NULL|false");
    CHECK("name LIKE '%a'", "false|true|NULL|false");
    CHECK("name LIKE '%ra%'", "true|false|NULL|false");
    CHECK("name LIKE 'x'", "false|false|NULL|true");
    CHECK("name LIKE '_'", "false|false|NULL|true");
    CHECK("name LIKE 'x_a_'", "true|false|NULL|false");
    CHECK("s2 LIKE 'h_llo'", "false|false|NULL|true"); /* _ is one UTF-8 character */
    CHECK("name LIKE NULL", "NULL|NULL|NULL|NULL");
    CHECK("name LIKE name", "true|true|NULL|true");
    CHECK("s2 LIKE name || '%'", "false|false|NULL|false");
    like_case("abc", "abc", NULL, "true");
    like_case("abc", "ABC", NULL, "false"); /* case-sensitive */
    like_case("", "", NULL, "true");
    like_case("", "%", NULL, "true");
    like_case("", "_", NULL, "false");
    like_case("abc", "%", NULL, "true");
    like_case("abc", "%%", NULL, "true");
    like_case("abc", "a%", NULL, "true");
    like_case("abc", "%c", NULL, "true");
    like_case("abc", "%b%", NULL, "true");
    like_case("abc", "%d%", NULL, "false");
    like_case("abc", "a%c", NULL, "true");
    like_case("ac", "a%c", NULL, "true");
    like_case("abcd", "a%c", NULL, "false");
    like_case("aXbYbZc", "a%b%c", NULL, "true");
    like_case("aXbYbZ", "a%b%c", NULL, "false");
    like_case("mississippi", "%iss%ppi", NULL, "true");
    like_case("mississippi", "m%s_s%i", NULL, "true");
    like_case("abc", "___", NULL, "true");
    like_case("abc", "__", NULL, "false");
    like_case("abc", "_%_", NULL, "true");
    like_case("ab", "a__", NULL, "false");
    like_case("100%", "100\\%", "\\", "true");
    like_case("1000", "100\\%", "\\", "false");
    like_case("a_b", "a!_b", "!", "true");
    like_case("axb", "a!_b", "!", "false");
    like_case("a!b", "a!!b", "!", "true");
    like_case("50% off", "%!%%", "!", "true");
    like_case("50 off", "%!%%", "!", "false");
    like_case("x%", "x%%", "%", "true"); /* escape may be a wildcard character itself */
    like_case("x%y", "x%%", "%", "false");
    like_case("h\xc3\xa9", "h_", NULL, "true");
    like_case("h\xc3\xa9", "h__", NULL, "false");
    check_error("name LIKE 'ab!' ESCAPE '!'", "LIKE pattern ends with the escape character", 10);
    check_error("name LIKE 'a' ESCAPE 'ab'", "ESCAPE needs a one-character string literal", 21);
    check_error("a LIKE 'x'", "LIKE needs a string, got int", 0);
    check_error("name LIKE 5", "LIKE pattern must be a string, got int", 10);
}

static void test_like_runtime_bad_escape(void **state) {
    (void)state;
    /* a per-row pattern that ends with the escape character is NULL, not an error */
    sl_schema ls;
    sl_schema_init(&ls);
    sl_schema_add(&ls, "s", SL_T_STRING);
    sl_schema_add(&ls, "p", SL_T_STRING);
    sl_batch *b = sl_batch_new(&ls, 2);
    uint32_t r = sl_batch_append_null_row(b);
    sl_col_set_str(&b->col[0], r, "ab", 2);
    sl_col_set_str(&b->col[1], r, "ab!", 3);
    sl_expr *e = sl_expr_compile("s LIKE p ESCAPE '!'", &ls, NULL, NULL);
    assert_non_null(e);
    uint8_t nul[2], val[2];
    sl_column out = {SL_T_BOOL, nul, {.b = val}};
    assert_int_equal(sl_expr_eval(e, b, &out), 0);
    assert_true(nul[0]);
    sl_expr_free(e);
    sl_batch_free(b);
}

/* Brute-force reference for LIKE over single-byte strings. */
static int ref_like(const char *p, const char *s, int esc) {
    if (!*p) return !*s;
    if (*p == esc) return *s == p[1] && ref_like(p + 2, s + 1, esc);
    if (*p == '%') {
        for (const char *t = s;; t++) {
            if (ref_like(p + 1, t, esc)) return 1;
            if (!*t) return 0;
        }
    }
    if (*p == '_') return *s && ref_like(p + 1, s + 1, esc);
    return *s == *p && ref_like(p + 1, s + 1, esc);
}

static void random_text(char *out, const char *alphabet, int maxlen, uint32_t *seed, int esc) {
    int n = (int)((*seed = *seed * 1103515245u + 12345u) >> 16) % (maxlen + 1), o = 0;
    size_t na = strlen(alphabet);
    for (int i = 0; i < n; i++) {
        char ch = alphabet[((*seed = *seed * 1103515245u + 12345u) >> 16) % na];
        out[o++] = ch;
        if (ch == esc) out[o++] = alphabet[((*seed = *seed * 1103515245u + 12345u) >> 16) % na];
    }
    out[o] = 0;
}

static void test_like_random(void **state) {
    (void)state;
    sl_schema ls;
    sl_schema_init(&ls);
    sl_schema_add(&ls, "s", SL_T_STRING);
    sl_schema_add(&ls, "p", SL_T_STRING);
    for (int variant = 0; variant < 2; variant++) {
        int esc = variant ? '!' : -1;
        const char *pal = variant ? "ab%_!" : "ab%_", *sal = variant ? "ab%_!" : "ab";
        sl_batch *b = sl_batch_new(&ls, BATCH_RANDOM);
        uint32_t seed = 12345 + (uint32_t)variant;
        char *sbuf = malloc(BATCH_RANDOM * 32), *pbuf = malloc(BATCH_RANDOM * 32);
        for (uint32_t i = 0; i < BATCH_RANDOM; i++) {
            random_text(sbuf + i * 32, sal, 7, &seed, -1);
            random_text(pbuf + i * 32, pal, 6, &seed, esc);
            uint32_t r = sl_batch_append_null_row(b);
            sl_col_set_str(&b->col[0], r, sbuf + i * 32, (uint32_t)strlen(sbuf + i * 32));
            sl_col_set_str(&b->col[1], r, pbuf + i * 32, (uint32_t)strlen(pbuf + i * 32));
        }
        uint8_t *keep = malloc(BATCH_RANDOM);
        /* per-row patterns: the general matcher */
        sl_expr *e = sl_expr_compile(variant ? "s LIKE p ESCAPE '!'" : "s LIKE p", &ls, NULL, NULL);
        assert_non_null(e);
        assert_int_equal(sl_expr_eval_bool(e, b, keep), 0);
        for (uint32_t i = 0; i < BATCH_RANDOM; i++)
            if (keep[i] != ref_like(pbuf + i * 32, sbuf + i * 32, esc))
                fail_msg("'%s' LIKE '%s': got %d", sbuf + i * 32, pbuf + i * 32, keep[i]);
        sl_expr_free(e);
        /* constant patterns: compiled, with the fast paths */
        for (uint32_t k = 0; k < 300; k++) {
            const char *pat = pbuf + k * 32;
            char src[128];
            snprintf(src, sizeof src, "s LIKE '%s'%s", pat, variant ? " ESCAPE '!'" : "");
            e = sl_expr_compile(src, &ls, NULL, NULL);
            assert_non_null(e);
            assert_int_equal(sl_expr_eval_bool(e, b, keep), 0);
            for (uint32_t i = 0; i < BATCH_RANDOM; i++)
                if (keep[i] != ref_like(pat, sbuf + i * 32, esc))
                    fail_msg("'%s' LIKE '%s' (constant): got %d", sbuf + i * 32, pat, keep[i]);
            sl_expr_free(e);
        }
        free(keep);
        free(sbuf);
        free(pbuf);
        sl_batch_free(b);
    }
}

/* ---- CASE ---- */

static void test_case(void **state) {
    (void)state;
    CHECK_T("CASE WHEN a > 5 THEN 'big' WHEN a > 0 THEN 'small' ELSE 'neg' END", SL_T_STRING,
            "'small'|'big'|'neg'|'neg'");
    CHECK_T("CASE WHEN a > 5 THEN 'big' END", SL_T_STRING, "NULL|'big'|NULL|NULL");
    CHECK_T("CASE a WHEN 1 THEN 'one' WHEN 10 THEN 'ten' ELSE 'other' END", SL_T_STRING,
            "'one'|'ten'|'other'|'other'");
    CHECK_T("CASE a WHEN 1 THEN 'one' END", SL_T_STRING, "'one'|NULL|NULL|NULL");
    CHECK_T("CASE name WHEN 'x' THEN 1 WHEN 'xray' THEN 2 END", SL_T_INT, "2|NULL|NULL|1");
    CHECK_T("CASE WHEN flag THEN a ELSE d END", SL_T_DOUBLE,
            "1|-2.25|NULL|-7"); /* int/double promote */
    CHECK_T("CASE WHEN flag THEN NULL ELSE a END", SL_T_INT, "NULL|10|NULL|NULL");
    CHECK_T("CASE WHEN a IS NULL THEN -1 ELSE a END", SL_T_INT, "1|10|-1|-7");
    CHECK_T("case when A > 1 then 'y' else 'n' end", SL_T_STRING, "'n'|'y'|'n'|'n'");
    CHECK_T("CASE WHEN flag THEN ts END", SL_T_TS,
            "2026-01-01T00:05:00.000Z|NULL|NULL|1969-12-31T23:59:59.000Z");
    /* constant conditions are pruned at compile time */
    CONST("CASE WHEN 1 > 2 THEN 'a' WHEN 2 > 1 THEN 'b' ELSE 'c' END", SL_T_STRING, "'b'");
    CONST("CASE 3 WHEN 1 THEN 'a' WHEN 3 THEN 'c' END", SL_T_STRING, "'c'");
    CONST("CASE WHEN NULL THEN 1 ELSE 2 END", SL_T_INT, "2");
    CONST("CASE WHEN FALSE THEN 1 END", SL_T_INT, "NULL");
    sl_expr *e = compile_ok("CASE WHEN FALSE THEN a WHEN TRUE THEN b ELSE d END");
    const char *names[4];
    assert_int_equal(sl_expr_columns(e, names, 4), 1);
    assert_string_equal(names[0], "b");
    assert_int_equal(sl_expr_type(e), SL_T_DOUBLE);
    sl_expr_free(e);
    check_error("CASE WHEN a > 1 THEN 'x' ELSE 5 END", "CASE mixes string and int", 30);
    check_error("CASE WHEN a THEN 1 END", "CASE WHEN needs a bool, got int", 10);
    check_error("CASE a WHEN 'x' THEN 1 END", "cannot compare int with string", 12);
    check_error("CASE a END", "expected WHEN", 7);
    check_error("CASE WHEN a > 1 THEN 1", "expected END but found the end of the expression", 22);
}

/* ---- CAST ---- */

static void test_cast(void **state) {
    (void)state;
    CONST("CAST('42' AS int)", SL_T_INT, "42");
    CONST("CAST(' -42 ' AS integer)", SL_T_INT, "-42");
    CONST("CAST('4.7' AS bigint)", SL_T_INT, "4");
    CONST("CAST('abc' AS int)", SL_T_INT, "NULL");
    CONST("CAST('' AS int)", SL_T_INT, "NULL");
    CONST("CAST('99999999999999999999' AS int)", SL_T_INT, "NULL");
    CONST("CAST(3.9 AS int)", SL_T_INT, "3");
    CONST("CAST(-3.9 AS int)", SL_T_INT, "-3");
    CONST("CAST(1e30 AS int)", SL_T_INT, "NULL");
    CONST("CAST(TRUE AS int)", SL_T_INT, "1");
    CONST("CAST(7 AS double)", SL_T_DOUBLE, "7");
    CONST("CAST('2.5' AS double)", SL_T_DOUBLE, "2.5");
    CONST("CAST('1e3' AS real)", SL_T_DOUBLE, "1000");
    CONST("CAST('nan' AS double)", SL_T_DOUBLE, "NULL");
    CONST("CAST('1.5x' AS double)", SL_T_DOUBLE, "NULL");
    CONST("CAST(42 AS string)", SL_T_STRING, "'42'");
    CONST("CAST(-1.5 AS text)", SL_T_STRING, "'-1.5'");
    CONST("CAST(2.0 AS string)", SL_T_STRING, "'2.0'");
    CONST("CAST(0.1 AS string)", SL_T_STRING, "'0.1'");
    CONST("CAST(FALSE AS varchar)", SL_T_STRING, "'false'");
    CONST("CAST('yes' AS bool)", SL_T_BOOL, "true");
    CONST("CAST('FALSE' AS boolean)", SL_T_BOOL, "false");
    CONST("CAST('maybe' AS bool)", SL_T_BOOL, "NULL");
    CONST("CAST(0 AS bool)", SL_T_BOOL, "false");
    CONST("CAST(2.5 AS bool)", SL_T_BOOL, "true");
    CONST("CAST('2026-01-01T00:05:00Z' AS timestamp)", SL_T_TS, "2026-01-01T00:05:00.000Z");
    CONST("CAST('not a date' AS timestamp)", SL_T_TS, "NULL");
    CONST("CAST('2026-02-30' AS timestamp)", SL_T_TS, "2026-03-02T00:00:00.000Z");
    CONST("CAST(1000000 AS timestamp)", SL_T_TS, "1970-01-01T00:00:01.000Z");
    CONST("CAST(NULL AS int)", SL_T_INT, "NULL");
    CHECK_T("CAST(ts AS string)", SL_T_STRING,
            "'2026-01-01T00:05:00Z'|'2026-03-15T13:45:30.250Z'|NULL|'1969-12-31T23:59:59Z'");
    CHECK_T("CAST(ts AS int)", SL_T_INT, "1767225900000000|1773582330250000|NULL|-1000000");
    CHECK_T("CAST(a AS string) || '!'", SL_T_STRING, "'1!'|'10!'|NULL|'-7!'");
    CHECK_T("CAST(d AS int)", SL_T_INT, "1|-2|NULL|0");
    CHECK_T("CAST(CAST(a AS string) AS int)", SL_T_INT, "1|10|NULL|-7");
    CONST("CAST(CAST(9223372036854775807 AS string) AS int)", SL_T_INT, "9223372036854775807");
    CONST("CAST(CAST(-9223372036854775808 AS string) AS int)", SL_T_INT, "-9223372036854775808");
    CONST("CAST(CAST(0.1 + 0.2 AS string) AS double) = 0.1 + 0.2", SL_T_BOOL, "true");
    check_error("CAST(flag AS timestamp)", "cannot cast bool to timestamp", 5);
    check_error("CAST(a AS blob)", "unknown type 'blob'", 10);
    check_error("CAST(a int)", "expected AS", 7);
}

/* ---- COALESCE / NULLIF ---- */

static void test_coalesce_nullif(void **state) {
    (void)state;
    CHECK_T("COALESCE(a, b)", SL_T_INT, "1|10|0|-7");
    CHECK_T("coalesce(name, 'none')", SL_T_STRING, "'xray'|'alpha'|'none'|'x'");
    CHECK_T("COALESCE(d, a, 99)", SL_T_DOUBLE, "1.5|-2.25|99|0");
    CHECK_T("COALESCE(NULL, a)", SL_T_INT, "1|10|NULL|-7");
    CONST("COALESCE(NULL, 5, a)", SL_T_INT, "5");
    CONST("COALESCE(NULL, NULL)", SL_T_NULL, "NULL");
    CHECK_T("NULLIF(a, 10)", SL_T_INT, "1|NULL|NULL|-7");
    CHECK_T("NULLIF(name, 'x')", SL_T_STRING, "'xray'|'alpha'|NULL|NULL");
    CHECK_T("NULLIF(a, 1.0)", SL_T_INT, "NULL|10|NULL|-7");
    CONST("NULLIF(1, 1)", SL_T_INT, "NULL");
    CONST("NULLIF(1, 2)", SL_T_INT, "1");
    check_error("COALESCE(a, 'x')", "coalesce() mixes int and string", 12);
    check_error("NULLIF(a, 'x')", "cannot compare int with string", 10);
}

/* ---- functions ---- */

static void test_string_functions(void **state) {
    (void)state;
    CHECK_T("lower(s2)", SL_T_STRING, "'hello world'|'  pad  '|NULL|'h\xc3\xa9llo'");
    CHECK_T("UPPER(name)", SL_T_STRING, "'XRAY'|'ALPHA'|NULL|'X'");
    CHECK_T("length(s2)", SL_T_INT, "11|7|NULL|5"); /* characters, not bytes */
    CHECK_T("length(name)", SL_T_INT, "4|5|NULL|1");
    CONST("length('')", SL_T_INT, "0");
    CHECK_T("substr(s2, 2, 3)", SL_T_STRING, "'ell'|' pa'|NULL|'\xc3\xa9ll'");
    CHECK_T("substr(name, 2)", SL_T_STRING, "'ray'|'lpha'|NULL|''");
    CONST("substr('hello', 1, 2)", SL_T_STRING, "'he'");
    CONST("substr('hello', 0, 2)", SL_T_STRING, "'h'");
    CONST("substr('hello', -3)", SL_T_STRING, "'llo'");
    CONST("substr('hello', -3, 2)", SL_T_STRING, "'ll'");
    CONST("substr('hello', -10, 7)", SL_T_STRING, "'he'");
    CONST("substr('hello', 4, -2)", SL_T_STRING, "'el'");
    CONST("substr('hello', 2, -5)", SL_T_STRING, "'h'");
    CONST("substr('hello', 10)", SL_T_STRING, "''");
    CONST("substr('hello', 2, 100)", SL_T_STRING, "'ello'");
    CONST("substr('hello', 2, NULL)", SL_T_STRING, "NULL");
    CONST("substr('hello', -9223372036854775808, 9223372036854775807)", SL_T_STRING,
          "'hell'"); /* as SQLite */
    CONST("substring('hello', 2, 2)", SL_T_STRING, "'el'");
    CHECK_T("trim(s2)", SL_T_STRING, "'Hello World'|'pad'|NULL|'h\xc3\xa9llo'");
    CHECK_T("ltrim(s2)", SL_T_STRING, "'Hello World'|'pad  '|NULL|'h\xc3\xa9llo'");
    CHECK_T("rtrim(s2)", SL_T_STRING, "'Hello World'|'  pad'|NULL|'h\xc3\xa9llo'");
    CONST("trim('xxhixx', 'x')", SL_T_STRING, "'hi'");
    CONST("ltrim('xyhi', 'yx')", SL_T_STRING, "'hi'");
    CONST("rtrim('hi!!?', '!?')", SL_T_STRING, "'hi'");
    CONST("trim('   ')", SL_T_STRING, "''");
    CONST("trim('\t x \n')", SL_T_STRING, "'x'");
    CHECK_T("replace(s2, 'l', 'L')", SL_T_STRING, "'HeLLo WorLd'|'  pad  '|NULL|'h\xc3\xa9LLo'");
    CONST("replace('aaa', 'a', 'bb')", SL_T_STRING, "'bbbbbb'");
    CONST("replace('abcabc', 'bc', '')", SL_T_STRING, "'aa'");
    CONST("replace('abc', '', 'x')", SL_T_STRING, "'abc'");
    CONST("replace('abc', 'abcd', 'x')", SL_T_STRING, "'abc'");
    CONST("replace('abc', NULL, 'x')", SL_T_STRING, "NULL");
    /* split_part as in PostgreSQL */
    CHECK_T("split_part(s2, 'o', 2)", SL_T_STRING, "' W'|''|NULL|''");
    CONST("split_part('a,b,,c', ',', 1)", SL_T_STRING, "'a'");
    CONST("split_part('a,b,,c', ',', 3)", SL_T_STRING, "''");
    CONST("split_part('a,b,,c', ',', 4)", SL_T_STRING, "'c'");
    CONST("split_part('a,b,,c', ',', 5)", SL_T_STRING, "''");
    CONST("split_part('a,b,,c', ',', -1)", SL_T_STRING, "'c'");
    CONST("split_part('a,b,,c', ',', -4)", SL_T_STRING, "'a'");
    CONST("split_part('a,b,,c', ',', -5)", SL_T_STRING, "''");
    CONST("split_part('a::b::c', '::', 2)", SL_T_STRING, "'b'");
    CONST("split_part('a::b::c', '::', -2)", SL_T_STRING, "'b'");
    CONST("split_part('abc', '', 1)", SL_T_STRING, "'abc'");
    CONST("split_part('abc', '', 2)", SL_T_STRING, "''");
    CONST("split_part('abc', ',', 0)", SL_T_STRING, "NULL");
    CONST("split_part('abc', NULL, 1)", SL_T_STRING, "NULL");
    /* URLs and request targets */
    CONST("url_path('https://example.com:8443/api/v1/items?id=7#top')", SL_T_STRING,
          "'/api/v1/items'");
    CONST("url_path('/index.html?x=1')", SL_T_STRING, "'/index.html'");
    CONST("url_path('http://example.com')", SL_T_STRING, "'/'");
    CONST("url_path('http://example.com?q=1')", SL_T_STRING, "'/'");
    CONST("url_path('/a/b#frag')", SL_T_STRING, "'/a/b'");
    CONST("url_param('/search?q=hello+world&lang=en', 'q')", SL_T_STRING, "'hello world'");
    CONST("url_param('/search?q=a%2Fb%zz&lang=en', 'q')", SL_T_STRING, "'a/b%zz'");
    CONST("url_param('/search?q=1&lang=en', 'lang')", SL_T_STRING, "'en'");
    CONST("url_param('/search?flag&q=1', 'flag')", SL_T_STRING, "''");
    CONST("url_param('/search?q=1', 'x')", SL_T_STRING, "NULL");
    CONST("url_param('/search#q=1', 'q')", SL_T_STRING, "NULL");
    CONST("url_param('/search?q=1#x=2', 'x')", SL_T_STRING, "NULL");
    CONST("url_param('/s?qq=1&q=2', 'q')", SL_T_STRING, "'2'");
    /* regular expressions: PCRE2, the pattern compiled once */
    CHECK_T("regexp_like(s2, '^H.*d$')", SL_T_BOOL, "true|false|NULL|false");
    CHECK("regexp_like(s2, 'l{2}')", "true|false|NULL|true");
    CHECK_T("regexp_extract(s2, '(\\w+) (\\w+)', 2)", SL_T_STRING, "'World'|NULL|NULL|NULL");
    CHECK("regexp_extract(s2, 'o(.)')", "' '|NULL|NULL|NULL");
    CHECK("regexp_extract(s2, 'l+')", "'ll'|NULL|NULL|'ll'");
    CONST("regexp_extract('GET /a/b HTTP/1.1', '^(\\S+) (\\S+)', 0)", SL_T_STRING, "'GET /a/b'");
    CONST("regexp_extract('abc', '(x)?b', 1)", SL_T_STRING, "NULL");
    CONST("regexp_extract('abc', 'b', 5)", SL_T_STRING, "NULL");
    CHECK_T("regexp_replace(s2, 'l+', '<$0>')", SL_T_STRING,
            "'He<ll>o Wor<l>d'|'  pad  '|NULL|'h\xc3\xa9<ll>o'");
    CONST("regexp_replace('2026-12-07', '(\\d+)-(\\d+)-(\\d+)', '$3/$2/$1')", SL_T_STRING,
          "'07/12/2026'");
    /* a result longer than the first guess: the length PCRE2 reports, then again */
    CONST("regexp_replace('aaaaaaaaaaaaaaaaaaaa', 'a', 'bbbbbbbb')", SL_T_STRING,
          "'bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
          "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb'");
    CONST("regexp_like('device@32473', '@\\d+$')", SL_T_BOOL, "true");
    CONST("regexp_like(NULL, 'a')", SL_T_BOOL, "NULL");
    CONST("regexp_like('a', NULL)", SL_T_BOOL, "NULL");
    CHECK_T("concat(name, '-', a, '-', flag)", SL_T_STRING,
            "'xray-1-true'|'alpha-10-false'|'--'|'x--7-true'");
    CONST("concat('a')", SL_T_STRING, "'a'");
    CONST("concat(NULL, 'b', NULL)", SL_T_STRING, "'b'");
    CONST("concat(1.5, TRUE)", SL_T_STRING, "'1.5true'");
    CHECK_T("starts_with(name, 'x')", SL_T_BOOL, "true|false|NULL|true");
    CHECK("ends_with(s2, 'ld')", "true|false|NULL|false");
    CHECK("contains(s2, 'a')", "false|true|NULL|false");
    CONST("starts_with('abc', '')", SL_T_BOOL, "true");
    CONST("ends_with('ab', 'abc')", SL_T_BOOL, "false");
    CONST("contains('abc', NULL)", SL_T_BOOL, "NULL");
}

static void test_math_functions(void **state) {
    (void)state;
    CHECK_T("abs(a)", SL_T_INT, "1|10|NULL|7");
    CHECK_T("abs(d)", SL_T_DOUBLE, "1.5|2.25|NULL|0");
    CONST("abs(-9223372036854775807 - 1)", SL_T_INT, "NULL");
    CHECK_T("round(d)", SL_T_DOUBLE, "2|-2|NULL|0");
    CONST("round(2.5)", SL_T_DOUBLE, "3");
    CONST("round(-2.5)", SL_T_DOUBLE, "-3");
    CONST("round(3.14159, 2)", SL_T_DOUBLE, "3.14");
    CONST("round(1234.5, -2)", SL_T_DOUBLE, "1200");
    CONST("round(17)", SL_T_INT, "17");
    CONST("round(1250, -2)", SL_T_INT, "1300");
    CONST("round(-1250, -2)", SL_T_INT, "-1300");
    CONST("round(1249, -2)", SL_T_INT, "1200");
    CONST("round(5, -30)", SL_T_INT, "0");
    CONST("round(9223372036854775807, -1)", SL_T_INT, "NULL");
    CONST("round(1.5, NULL)", SL_T_DOUBLE, "NULL");
    CHECK_T("floor(d)", SL_T_DOUBLE, "1|-3|NULL|0");
    CHECK_T("ceil(d)", SL_T_DOUBLE, "2|-2|NULL|0");
    CHECK_T("floor(a)", SL_T_INT, "1|10|NULL|-7");
    CONST("ceiling(1.2)", SL_T_DOUBLE, "2");
    CHECK_T("sqrt(a)", SL_T_DOUBLE, "1|3.16227766|NULL|NULL"); /* sqrt(-7): NULL */
    CONST("sqrt(16)", SL_T_DOUBLE, "4");
    CONST("ln(1)", SL_T_DOUBLE, "0");
    CONST("ln(0)", SL_T_DOUBLE, "NULL");
    CONST("log10(1000)", SL_T_DOUBLE, "3");
    CONST("log10(-1)", SL_T_DOUBLE, "NULL");
    CONST("exp(0)", SL_T_DOUBLE, "1");
    CONST("exp(1000)", SL_T_DOUBLE, "NULL");
    CONST("power(2, 10)", SL_T_DOUBLE, "1024");
    CONST("power(2.0, -1)", SL_T_DOUBLE, "0.5");
    CONST("power(-8, 0.5)", SL_T_DOUBLE, "NULL");
    CHECK_T("power(a, 2)", SL_T_DOUBLE, "1|100|NULL|49");
    CHECK_T("sign(a)", SL_T_INT, "1|1|NULL|-1");
    CHECK_T("sign(d)", SL_T_INT, "1|-1|NULL|0");
    CHECK_T("least(a, b)", SL_T_INT, "1|-3|0|-7"); /* NULLs are ignored */
    CHECK_T("greatest(a, b, 5)", SL_T_INT, "5|10|5|7");
    CHECK_T("greatest(a, d)", SL_T_DOUBLE, "1.5|10|NULL|0");
    CHECK_T("least(name, s2)", SL_T_STRING, "'Hello World'|'  pad  '|NULL|'h\xc3\xa9llo'");
    CHECK_T("greatest(ts, '2026-02-01')", SL_T_TS,
            "2026-02-01T00:00:00.000Z|2026-03-15T13:45:30.250Z|2026-02-01T00:00:00.000Z|2026-02-"
            "01T00:00:00.000Z");
    CONST("least(NULL, NULL)", SL_T_NULL, "NULL");
    CONST("greatest(3)", SL_T_INT, "3");
}

/* to_timestamp(s, format) and format_time(t, format): the format compiled once */
static void test_time_formats(void **state) {
    (void)state;
    /* nginx / Apache */
    CONST("to_timestamp('07/Dec/2026:06:25:24 +0100', '%d/%b/%Y:%H:%M:%S %z')", SL_T_TS,
          "2026-12-07T05:25:24.000Z");
    CONST("to_timestamp('07/Dec/2026:06:25:24 -0230', 'clf')", SL_T_TS, "2026-12-07T08:55:24.000Z");
    /* RFC 2822, with and without the day name, offsets with a colon, Z and GMT */
    CONST("to_timestamp('Mon, 07 Dec 2026 06:25:24 +0000', 'rfc2822')", SL_T_TS,
          "2026-12-07T06:25:24.000Z");
    CONST("to_timestamp('7 Dec 2026 06:25:24 GMT', 'rfc2822')", SL_T_TS,
          "2026-12-07T06:25:24.000Z");
    CONST("to_timestamp('2026-12-07 06:25:24.5+05:30', '%Y-%m-%d %H:%M:%S.%f%z')", SL_T_TS,
          "2026-12-07T00:55:24.500Z");
    CONST("to_timestamp('2026-12-07T06:25:24Z', '%FT%T%z')", SL_T_TS, "2026-12-07T06:25:24.000Z");
    CONST("to_timestamp('2026-12-07T06:25:24.123456789+01:00', 'iso8601')", SL_T_TS,
          "2026-12-07T05:25:24.123Z");
    /* 12-hour clock, day of year, two-digit years, month names in full, %% */
    CONST("to_timestamp('12/07/26 12:05:01 AM', '%m/%d/%y %I:%M:%S %p')", SL_T_TS,
          "2026-12-07T00:05:01.000Z");
    CONST("to_timestamp('12/07/69 1:05:01 pm', '%m/%d/%y %I:%M:%S %p')", SL_T_TS,
          "1969-12-07T13:05:01.000Z");
    CONST("to_timestamp('2024.366', '%Y.%j')", SL_T_TS, "2024-12-31T00:00:00.000Z");
    CONST("to_timestamp('2025.366', '%Y.%j')", SL_T_TS, "NULL");
    CONST("to_timestamp('Monday 7 December 2026 UTC', '%A %e %B %Y %Z')", SL_T_TS,
          "2026-12-07T00:00:00.000Z");
    CONST("to_timestamp('100% 2026', '100%% %Y')", SL_T_TS, "2026-01-01T00:00:00.000Z");
    /* epochs */
    CONST("to_timestamp('1765088724', 'epoch_s')", SL_T_TS, "2025-12-07T06:25:24.000Z");
    CONST("to_timestamp('1765088724.25', 'epoch_s')", SL_T_TS, "2025-12-07T06:25:24.250Z");
    CONST("to_timestamp('1765088724123', 'epoch_ms')", SL_T_TS, "2025-12-07T06:25:24.123Z");
    CONST("to_timestamp('1765088724123456', 'epoch_us')", SL_T_TS, "2025-12-07T06:25:24.123Z");
    CONST("to_timestamp('1765088724123456789', 'epoch_ns')", SL_T_TS, "2025-12-07T06:25:24.123Z");
    CONST("to_timestamp('-1', 'epoch_s')", SL_T_TS, "1969-12-31T23:59:59.000Z");
    CONST("to_timestamp('1765088724.5', '%s.%f')", SL_T_TS, "2025-12-07T06:25:24.500Z");
    CONST("to_timestamp('12x', 'epoch_s')", SL_T_TS, "NULL");
    /* no match, trailing text, impossible dates: NULL */
    CONST("to_timestamp('31/Nov/2026:00:00:00 +0000', 'clf')", SL_T_TS, "NULL");
    CONST("to_timestamp('29/Feb/2025:00:00:00 +0000', 'clf')", SL_T_TS, "NULL");
    CONST("to_timestamp('29/Feb/2024:00:00:00 +0000', 'clf')", SL_T_TS, "2024-02-29T00:00:00.000Z");
    CONST("to_timestamp('07/Dec/2026:06:25:24 +0000 x', 'clf')", SL_T_TS, "NULL");
    CONST("to_timestamp('07/Dex/2026:06:25:24 +0000', 'clf')", SL_T_TS, "NULL");
    CONST("to_timestamp('07/Dec/2026:24:00:00 +0000', 'clf')", SL_T_TS, "NULL");
    CONST("to_timestamp(NULL, 'clf')", SL_T_TS, "NULL");
    CONST("to_timestamp('x', NULL)", SL_T_TS, "NULL");
    CHECK_T("to_timestamp(s2, '%H')", SL_T_TS, "NULL|NULL|NULL|NULL");
    /* RFC 3164: no year; the latest year that is not after now + 1 day */
    {
        int64_t now = sl_now_us(), y;
        unsigned m, d;
        char src[160], want[64];
        /* yesterday's date at noon: this year (or last, on Jan 1) */
        int64_t yd = sl_floor_div(now, 86400 * SL_US_PER_SEC) - 1;
        sl_civil_from_days(yd, &y, &m, &d);
        static const char *mn[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                   "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
        snprintf(src, sizeof src, "to_timestamp('%s %2u 12:00:00', 'rfc3164')", mn[m - 1], d);
        snprintf(want, sizeof want, "%04lld-%02u-%02uT12:00:00.000Z", (long long)y, m, d);
        char four[300];
        snprintf(four, sizeof four, "%s|%s|%s|%s", want, want, want, want);
        assert_string_equal(eval_rows(src, NULL, NULL), four);
        /* three days ahead: last year's */
        int64_t ad = sl_floor_div(now, 86400 * SL_US_PER_SEC) + 3;
        sl_civil_from_days(ad, &y, &m, &d);
        if (!(m == 2 && d == 29)) {
            snprintf(src, sizeof src, "to_timestamp('%s %u 00:00:00', '%%b %%e %%T')", mn[m - 1],
                     d);
            snprintf(want, sizeof want, "%04lld-%02u-%02uT00:00:00.000Z", (long long)y - 1, m, d);
            snprintf(four, sizeof four, "%s|%s|%s|%s", want, want, want, want);
            assert_string_equal(eval_rows(src, NULL, NULL), four);
        }
    }
    /* the format is a constant, checked when the expression is compiled */
    check_error("to_timestamp(s2, name)", "the format of to_timestamp() must be a constant", 17);
    check_error("to_timestamp(s2, '%Y-%Q')", "unknown directive at offset 3", 17);
    check_error("to_timestamp(s2, '%Y%')", "a lone '%' at the end", 17);
    /* what one-argument to_timestamp reads (docs/pipeline-spec.md says the same) */
    CONST("to_timestamp('2026-02-31')", SL_T_TS, "2026-03-03T00:00:00.000Z");
    CONST("to_timestamp('2026-12-07 06:25:60,5+05')", SL_T_TS, "2026-12-07T01:26:00.500Z");
    CONST("to_timestamp('2026-12-07t06:25z')", SL_T_TS, "2026-12-07T06:25:00.000Z");
    CONST("to_timestamp('2026-12-07T06:25:24 ')", SL_T_TS, "NULL");
    CONST("to_timestamp('26-12-07')", SL_T_TS, "NULL");
    /* format_time: UTC */
    CHECK_T("format_time(ts, '%d/%b/%Y:%H:%M:%S %z')", SL_T_STRING,
            "'01/Jan/2026:00:05:00 +0000'|'15/Mar/2026:13:45:30 +0000'|NULL|"
            "'31/Dec/1969:23:59:59 +0000'");
    CHECK("format_time(ts, 'rfc2822')",
          "'Thu, 01 Jan 2026 00:05:00 +0000'|'Sun, 15 Mar 2026 13:45:30 +0000'|NULL|"
          "'Wed, 31 Dec 1969 23:59:59 +0000'");
    CHECK("format_time(ts, 'rfc3164')",
          "'Jan  1 00:05:00'|'Mar 15 13:45:30'|NULL|'Dec 31 23:59:59'");
    CHECK("format_time(ts, 'iso8601')",
          "'2026-01-01T00:05:00.000000Z'|'2026-03-15T13:45:30.250000Z'|NULL|"
          "'1969-12-31T23:59:59.000000Z'");
    CHECK("format_time(ts, 'epoch_ms')", "'1767225900000'|'1773582330250'|NULL|'-1000'");
    CHECK("format_time(ts, 'epoch_s')", "'1767225900'|'1773582330'|NULL|'-1'");
    CHECK("format_time(ts, 'epoch_ns')",
          "'1767225900000000000'|'1773582330250000000'|NULL|'-1000000000'");
    CHECK("format_time(ts, '%A %B %e %j %y %I%p %s %Z %%')",
          "'Thursday January  1 001 26 12AM 1767225900 UTC %'|"
          "'Sunday March 15 074 26 01PM 1773582330 UTC %'|NULL|"
          "'Wednesday December 31 365 69 11PM -1 UTC %'");
    /* a round trip through every named format that keeps seconds */
    CHECK("to_timestamp(format_time(ts, 'clf'), 'clf') = date_trunc('second', ts)",
          "true|true|NULL|true");
    CHECK("to_timestamp(format_time(ts, 'rfc2822'), 'rfc2822') = date_trunc('second', ts)",
          "true|true|NULL|true");
    CHECK("to_timestamp(format_time(ts, 'iso8601'), 'iso8601') = ts", "true|true|NULL|true");
    CHECK("to_timestamp(format_time(ts, 'epoch_us'), 'epoch_us') = ts", "true|true|NULL|true");
    CONST("format_time(from_unixtime(253402300800), 'clf')", SL_T_STRING, "NULL");
    check_error("format_time(ts, s2)", "the format of format_time() must be a constant", 16);
    /* time zones by name (tzdata): a wall-clock time without an offset is in the zone */
    CONST("to_timestamp('2024-07-01 12:00', '%Y-%m-%d %H:%M', 'America/New_York')", SL_T_TS,
          "2024-07-01T16:00:00.000Z");
    CONST("to_timestamp('2024-01-15 12:00', '%Y-%m-%d %H:%M', 'America/New_York')", SL_T_TS,
          "2024-01-15T17:00:00.000Z");
    /* Berlin skips 02:00-03:00 on 2024-03-31: a time in the gap is the instant of the change */
    CONST("to_timestamp('2024-03-31 02:30', '%Y-%m-%d %H:%M', 'Europe/Berlin')", SL_T_TS,
          "2024-03-31T01:00:00.000Z");
    /* 02:30 twice on 2024-10-27: the first one (still summer time) */
    CONST("to_timestamp('2024-10-27 02:30', '%Y-%m-%d %H:%M', 'Europe/Berlin')", SL_T_TS,
          "2024-10-27T00:30:00.000Z");
    /* an offset in the input wins over the zone; epochs are instants */
    CONST("to_timestamp('2024-07-01 12:00 +0000', '%Y-%m-%d %H:%M %z', 'America/New_York')",
          SL_T_TS, "2024-07-01T12:00:00.000Z");
    CONST("to_timestamp('1719835200', 'epoch_s', 'Asia/Kolkata')", SL_T_TS,
          "2024-07-01T12:00:00.000Z");
    CONST("to_timestamp('2024-07-01T12:00:00', 'iso8601', 'Asia/Kolkata')", SL_T_TS,
          "2024-07-01T06:30:00.000Z");
    CONST("to_timestamp('2024-07-01T12:00:00Z', 'iso8601', 'Asia/Kolkata')", SL_T_TS,
          "2024-07-01T12:00:00.000Z");
    CONST("format_time(to_timestamp('2024-01-15T12:00:00Z'), '%Y-%m-%d %H:%M %z %Z', "
          "'Asia/Kolkata')",
          SL_T_STRING, "'2024-01-15 17:30 +0530 Asia/Kolkata'");
    CONST("format_time(to_timestamp('2024-07-01T12:00:00Z'), '%Y-%m-%d %H:%M %z', "
          "'America/New_York')",
          SL_T_STRING, "'2024-07-01 08:00 -0400'");
    CONST("format_time(to_timestamp('2024-07-01T12:00:00Z'), 'rfc2822', 'UTC')", SL_T_STRING,
          "'Mon, 01 Jul 2024 12:00:00 +0000'");
    CHECK("to_timestamp(format_time(ts, '%Y-%m-%d %H:%M:%S.%f', 'Australia/Sydney'), "
          "'%Y-%m-%d %H:%M:%S.%f', 'Australia/Sydney') = ts",
          "true|true|NULL|true");
    check_error("format_time(ts, 'clf', 'Mars/Olympus')", "unknown time zone 'Mars/Olympus'", 23);
    check_error("format_time(ts, 'clf', s2)", "the time zone of format_time() must be a constant",
                23);
}

/* json_extract: the path compiled once, a walk per row */
static void test_json_extract(void **state) {
    (void)state;
    /* what the syslog format writes for [device@32473 entity_id="rtr-7" category="link"] */
    const char *sd = "'{\"device@32473\":{\"entity_id\":\"rtr-7\",\"category\":\"link\"},"
                     "\"meta\":{\"n\":\"3\"}}'";
    char src[512];
    snprintf(src, sizeof src, "json_extract(%s, '$.\"device@32473\".entity_id')", sd);
    CONST(src, SL_T_STRING, "'rtr-7'");
    snprintf(src, sizeof src, "json_extract(%s, '$[''device@32473''].category')", sd);
    CONST(src, SL_T_STRING, "'link'");
    snprintf(src, sizeof src, "json_extract(%s, '$[\"meta\"][\"n\"]')", sd);
    CONST(src, SL_T_STRING, "'3'");
    snprintf(src, sizeof src, "json_extract(%s, '$.device@32473.entity_id')", sd);
    CONST(src, SL_T_STRING, "'rtr-7'"); /* a bare key runs to the next '.' or '[' */
    snprintf(src, sizeof src, "json_extract(%s, '$.\"meta.n\"')", sd);
    CONST(src, SL_T_STRING, "NULL"); /* quoted: one key with a dot */
    snprintf(src, sizeof src, "json_extract(%s, '$.meta')", sd);
    CONST(src, SL_T_STRING, "'{\"n\":\"3\"}'");
    const char *j = "'{\"a\": {\"b\": [10, {\"c\": \"x\\\"y\\u00e9\"}, -2.5e1, true, null]},"
                    " \"big\": 9223372036854775808, \"s\": \"7\", \"a b\": 1}'";
    snprintf(src, sizeof src, "json_extract(%s, '$.a.b[0]')", j);
    CONST(src, SL_T_STRING, "'10'");
    snprintf(src, sizeof src, "json_extract(%s, '$.a.b[1].c')", j);
    CONST(src, SL_T_STRING, "'x\"y\xc3\xa9'");
    snprintf(src, sizeof src, "json_extract(%s, '$.a.b[4]')", j);
    CONST(src, SL_T_STRING, "NULL");
    snprintf(src, sizeof src, "json_extract(%s, '$.a.b[5]')", j);
    CONST(src, SL_T_STRING, "NULL");
    snprintf(src, sizeof src, "json_extract(%s, '$.a.b')", j);
    CONST(src, SL_T_STRING, "'[10, {\"c\": \"x\\\"y\\u00e9\"}, -2.5e1, true, null]'");
    snprintf(src, sizeof src, "json_extract(%s, '$.\"a b\"')", j);
    CONST(src, SL_T_STRING, "'1'");
    snprintf(src, sizeof src, "json_extract_int(%s, '$.a.b[0]')", j);
    CONST(src, SL_T_INT, "10");
    snprintf(src, sizeof src, "json_extract_int(%s, '$.a.b[2]')", j);
    CONST(src, SL_T_INT, "NULL"); /* not an integer */
    snprintf(src, sizeof src, "json_extract_int(%s, '$.big')", j);
    CONST(src, SL_T_INT, "NULL"); /* beyond int64 */
    snprintf(src, sizeof src, "json_extract_int(%s, '$.s')", j);
    CONST(src, SL_T_INT, "NULL"); /* a string is not a number */
    snprintf(src, sizeof src, "json_extract_double(%s, '$.a.b[2]')", j);
    CONST(src, SL_T_DOUBLE, "-25");
    snprintf(src, sizeof src, "json_extract_double(%s, '$.a.b[0]')", j);
    CONST(src, SL_T_DOUBLE, "10");
    snprintf(src, sizeof src, "json_extract_bool(%s, '$.a.b[3]')", j);
    CONST(src, SL_T_BOOL, "true");
    snprintf(src, sizeof src, "json_extract_bool(%s, '$.a.b[0]')", j);
    CONST(src, SL_T_BOOL, "NULL");
    CONST("json_extract_int('{\"n\":-9223372036854775808}', '$.n')", SL_T_INT,
          "-9223372036854775808");
    /* the root, malformed text, and a scalar where the path goes on */
    CONST("json_extract('[1,2]', '$')", SL_T_STRING, "'[1,2]'");
    CONST("json_extract('{\"a\":{\"b\":1}', '$.a.b')", SL_T_STRING, "'1'"); /* on the path */
    CONST("json_extract('{\"a\":[1,2', '$.b')", SL_T_STRING, "NULL");
    CONST("json_extract('{\"a\":5}', '$.a.b')", SL_T_STRING, "NULL");
    CONST("json_extract('{\"a\":tru}', '$.a')", SL_T_STRING, "NULL");
    CONST("json_extract('{\"a\":-1.5e3}', '$.a')", SL_T_STRING, "'-1.5e3'");
    CONST("json_extract('{\"a\":false}', '$.a')", SL_T_STRING, "'false'");
    CONST("json_extract('not json', '$.a')", SL_T_STRING, "NULL");
    CONST("json_extract('{\"a\":\"\\ud800\"}', '$.a')", SL_T_STRING, "NULL");
    CONST("json_extract(NULL, '$.a')", SL_T_STRING, "NULL");
    CHECK_T("json_extract(s2, '$.a')", SL_T_STRING, "NULL|NULL|NULL|NULL");
    check_error("json_extract(s2, name)", "the path of json_extract() must be a constant", 17);
    check_error("json_extract(s2, 'a.b')", "bad JSON path at offset 0", 17);
    check_error("json_extract(s2, '$.a[x]')", "bad JSON path at offset 3", 17);
    check_error("json_extract(s2, '$.\"a')", "bad JSON path at offset 1: an unclosed", 17);
}

static void test_time_functions(void **state) {
    (void)state;
    CONST("from_unixtime_ms(1767225900123)", SL_T_TS, "2026-01-01T00:05:00.123Z");
    CONST("from_unixtime(1767225900)", SL_T_TS, "2026-01-01T00:05:00.000Z");
    CONST("from_unixtime(1.5)", SL_T_TS, "1970-01-01T00:00:01.500Z");
    CONST("from_unixtime(9223372036854775807)", SL_T_TS, "NULL");
    CONST("from_unixtime_ms(NULL)", SL_T_TS, "NULL");
    CONST("to_timestamp('2026-01-01T00:05:00.5+01:00')", SL_T_TS, "2025-12-31T23:05:00.500Z");
    CONST("to_timestamp('garbage')", SL_T_TS, "NULL");
    CHECK_T("to_timestamp(name)", SL_T_TS, "NULL|NULL|NULL|NULL");
    CHECK_T("epoch_ms(ts)", SL_T_INT, "1767225900000|1773582330250|NULL|-1000");
    CHECK_T("epoch_seconds(ts)", SL_T_INT, "1767225900|1773582330|NULL|-1");
    CONST("epoch_seconds(from_unixtime_ms(-1))", SL_T_INT, "-1"); /* floor, not truncation */
    CHECK_T("date_trunc('minute', ts)", SL_T_TS,
            "2026-01-01T00:05:00.000Z|2026-03-15T13:45:00.000Z|NULL|1969-12-31T23:59:00.000Z");
    CHECK("date_trunc('second', ts)",
          "2026-01-01T00:05:00.000Z|2026-03-15T13:45:30.000Z|NULL|1969-12-31T23:59:59.000Z");
    CHECK("date_trunc('hour', ts)",
          "2026-01-01T00:00:00.000Z|2026-03-15T13:00:00.000Z|NULL|1969-12-31T23:00:00.000Z");
    CHECK("date_trunc('DAY', ts)",
          "2026-01-01T00:00:00.000Z|2026-03-15T00:00:00.000Z|NULL|1969-12-31T00:00:00.000Z");
    CHECK("date_trunc('week', ts)",
          "2025-12-29T00:00:00.000Z|2026-03-09T00:00:00.000Z|NULL|1969-12-29T00:00:00.000Z");
    CHECK("date_trunc('month', ts)",
          "2026-01-01T00:00:00.000Z|2026-03-01T00:00:00.000Z|NULL|1969-12-01T00:00:00.000Z");
    CHECK("date_trunc('year', ts)",
          "2026-01-01T00:00:00.000Z|2026-01-01T00:00:00.000Z|NULL|1969-01-01T00:00:00.000Z");
    CONST("date_trunc(NULL, from_unixtime(0))", SL_T_TS, "NULL");
    CHECK_T("iso8601(ts)", SL_T_STRING,
            "'2026-01-01T00:05:00Z'|'2026-03-15T13:45:30Z'|NULL|'1969-12-31T23:59:59Z'");
    CONST("iso8601('2026-01-01T00:05:00Z')", SL_T_STRING, "'2026-01-01T00:05:00Z'");
    CONST("iso8601(CAST(9223372036854775807 AS timestamp))", SL_T_STRING, "NULL");
    CHECK_T("year(ts)", SL_T_INT, "2026|2026|NULL|1969");
    CHECK("month(ts)", "1|3|NULL|12");
    CHECK("day(ts)", "1|15|NULL|31");
    CHECK("hour(ts)", "0|13|NULL|23");
    CHECK("minute(ts)", "5|45|NULL|59");
    CHECK("second(ts)", "0|30|NULL|59");
    CONST("year(CAST(-9223372036854775807 - 1 AS timestamp))", SL_T_INT, "-290308");
    CONST("hour(CAST(-9223372036854775807 - 1 AS timestamp))", SL_T_INT, "19");
    CONST("date_trunc('day', CAST(-9223372036854775807 - 1 AS timestamp))", SL_T_TS, "NULL");
    check_error("date_trunc('fortnight', ts)", "date_trunc() unit must be one of", 11);
    check_error("date_trunc(name, ts)", "date_trunc() unit must be a constant string", 11);
    check_error("year(a)", "year() argument 1 must be a timestamp, got int", 5);
    check_error("epoch_ms('soon')", "cannot parse 'soon' as a timestamp", 9);
}

/* ---- errors ---- */

static void test_type_errors(void **state) {
    (void)state;
    check_error("'a' + 1", "operator + needs numbers, got string", 0);
    check_error("1 + 'a'", "operator + needs numbers, got string", 4);
    check_error("a * name", "operator * needs numbers, got string", 4);
    check_error("-name", "operator - needs a number, got string", 1);
    check_error("+name", "unary + needs a number, got string", 1);
    check_error("lower(3)", "lower() argument 1 must be a string, got int", 6);
    check_error("upper(name, 1)", "upper() takes 1 argument, got 2", 0);
    check_error("substr('a')", "substr() takes 2 to 3 arguments, got 1", 0);
    check_error("concat()", "concat() takes at least 1 argument, got 0", 0);
    check_error("  frobnicate(1)", "unknown function 'frobnicate'", 2);
    check_error("regexp_like(s2, s2)", "the pattern of a regexp function must be a constant", 16);
    check_error("regexp_like(s2, 'a(b')", "bad regular expression at offset 3", 16);
    check_error("NOT 5", "NOT needs a bool, got int", 4);
    check_error("a AND flag", "operator AND needs a bool, got int", 0);
    check_error("flag OR 'x'", "operator OR needs a bool, got string", 8);
    check_error("a = 'x'", "cannot compare int with string", 4);
    check_error("flag = 1", "cannot compare bool with int", 7);
    check_error("sqrt(name)", "sqrt() argument 1 must be a number, got string", 5);
    check_error("round(d, 1.5)", "round() argument 2 must be an int, got double", 9);
    check_error("a IS 5", "expected NULL but found '5'", 5);
    check_error("a NOT 5", "expected IN, BETWEEN or LIKE after NOT", 6);
}

static void test_syntax_errors(void **state) {
    (void)state;
    check_error("", "empty expression", 0);
    check_error("   ", "empty expression", 0);
    check_error("a +", "expected an expression but found the end of the expression", 3);
    check_error("(a + 1", "expected ')' but found the end of the expression", 6);
    check_error("a + 1)", "expected an operator or the end of the expression but found ')'", 5);
    check_error("a b", "expected an operator or the end of the expression but found 'b'", 2);
    check_error("name = 'abc", "unterminated string literal", 7);
    check_error("\"abc", "unterminated quoted identifier", 0);
    check_error("a # 1", "unexpected character '#'", 2);
    check_error("1.5.2", "expected an operator or the end of the expression", 3);
    check_error("12abc", "malformed number", 0);
    check_error("a BETWEEN 1 OR 2", "expected AND but found 'OR'", 12);
    check_error("lower(name", "expected ',' or ')'", 10);
    check_error("AND", "expected an expression but found 'AND'", 0);
    check_error("a | b", "unexpected character '|'", 2);
    /* nesting is bounded: no stack overflow on hostile input */
    char deep[2100];
    memset(deep, '(', 1000);
    strcpy(deep + 1000, "1");
    memset(deep + 1001, ')', 1000);
    deep[2001] = 0;
    check_error(deep, "too deeply nested", 200);
    char chain[20100] = "a";
    for (int i = 0; i < 3000; i++)
        strcat(chain, "+a");
    sl_error err = {0};
    int off = 0;
    assert_null(sl_expr_compile(chain, &schema, &err, &off));
    assert_non_null(strstr(err.msg, "too deeply nested"));
    /* NULL err and offset pointers are fine */
    assert_null(sl_expr_compile("1 +", &schema, NULL, NULL));
    assert_null(sl_expr_compile(NULL, &schema, NULL, NULL));
}

/* ---- folding and metadata ---- */

static void test_constant_folding(void **state) {
    (void)state;
    CONST("1 + 2 * 3", SL_T_INT, "7");
    CONST("upper('ab') || 'c'", SL_T_STRING, "'ABc'");
    CONST("length(replace('aXbXc', 'X', '')) = 3", SL_T_BOOL, "true");
    CONST("CAST('2026-01-01' AS timestamp) + 1000000", SL_T_TS, "2026-01-01T00:00:01.000Z");
    CONST("a + NULL", SL_T_INT, "NULL"); /* strict operator with a NULL operand */
    CONST("lower(NULL) || name", SL_T_STRING, "NULL");
    CONST("FALSE AND a > 1", SL_T_BOOL, "false"); /* x AND FALSE is FALSE even for NULL x */
    CONST("a > 1 OR TRUE", SL_T_BOOL, "true");
    CONST("'x' LIKE 'x%'", SL_T_BOOL, "true");
    struct {
        const char *src;
        bool constant;
        int ncols;
    } cases[] = {
        {"a + 1", false, 1},
        {"42", true, 0},
        {"a > 1 AND TRUE", false, 1},
        {"FALSE AND a > 1", true, 0},
        {"a + b * a", false, 2},
        {"coalesce(NULL, 1)", true, 0},
        {"name LIKE s2 OR ts > '2020-01-01'", false, 3},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        sl_expr *e = compile_ok(cases[i].src);
        if (sl_expr_is_constant(e) != cases[i].constant) fail_msg("%s: is_constant", cases[i].src);
        const char *names[8];
        if (sl_expr_columns(e, names, 8) != cases[i].ncols)
            fail_msg("%s: column count", cases[i].src);
        sl_expr_free(e);
    }
    sl_expr *e = compile_ok("b + a * b - a");
    const char *names[1];
    assert_int_equal(sl_expr_columns(e, names, 1), 1); /* bounded by max */
    assert_string_equal(names[0], "b");
    sl_expr_free(e);
}

static void test_api_contract(void **state) {
    (void)state;
    sl_expr *e = compile_ok("a + 1");
    uint8_t nul[16], keep[16];
    double dv[16];
    sl_column wrong = {SL_T_DOUBLE, nul, {.d = dv}};
    assert_int_equal(sl_expr_eval(e, batch, &wrong), SL_ETYPE);
    assert_int_equal(sl_expr_eval_bool(e, batch, keep), SL_ETYPE);
    /* a batch whose column types differ from the compile schema is refused */
    sl_schema other;
    sl_schema_init(&other);
    sl_schema_add(&other, "a", SL_T_STRING);
    sl_batch *ob = sl_batch_new(&other, 4);
    sl_batch_append_null_row(ob);
    int64_t iv[16];
    sl_column out = {SL_T_INT, nul, {.i = iv}};
    assert_int_equal(sl_expr_eval(e, ob, &out), SL_EINVAL);
    sl_batch_free(ob);
    /* an empty batch is fine */
    sl_batch *empty = sl_batch_new(&schema, 4);
    assert_int_equal(sl_expr_eval(e, empty, &out), 0);
    sl_batch_free(empty);
    sl_expr_free(e);
    /* extra columns at the end of the batch are allowed */
    sl_schema small;
    sl_schema_init(&small);
    sl_schema_add(&small, "a", SL_T_INT);
    e = sl_expr_compile("a * 2", &small, NULL, NULL);
    assert_non_null(e);
    assert_int_equal(sl_expr_eval(e, batch, &out), 0);
    assert_int_equal(iv[1], 20);
    assert_true(nul[2]);
    sl_expr_free(e);
    /* eval into one of its own inputs */
    e = compile_ok("b * 10 + 1");
    sl_batch *cp = sl_batch_new(&schema, 16);
    sl_batch_copy(cp, batch);
    assert_int_equal(sl_expr_eval(e, cp, &cp->col[1]), 0);
    assert_int_equal(cp->col[1].v.i[0], 21);
    assert_int_equal(cp->col[1].v.i[1], -29);
    sl_expr_free(e);
    e = compile_ok("b"); /* a bare column evaluated into itself */
    assert_int_equal(sl_expr_eval(e, cp, &cp->col[1]), 0);
    assert_int_equal(cp->col[1].v.i[0], 21);
    sl_batch_free(cp);
    sl_expr_free(e);
    /* the NULL literal's result type is NULL; eval_bool keeps nothing */
    e = compile_ok("NULL");
    assert_int_equal(sl_expr_type(e), SL_T_NULL);
    memset(keep, 1, sizeof keep);
    assert_int_equal(sl_expr_eval_bool(e, batch, keep), 0);
    for (uint32_t i = 0; i < batch->n; i++)
        assert_int_equal(keep[i], 0);
    sl_expr_free(e);
    /* no schema: only constants */
    e = sl_expr_compile("1 + 1", NULL, NULL, NULL);
    assert_non_null(e);
    sl_expr_free(e);
    sl_expr_free(NULL);
}

/* ---- big batches, checked by brute force ---- */

#define BIG 4096

static sl_batch *make_big(uint32_t cap, uint32_t n, uint32_t seed) {
    sl_batch *b = sl_batch_new(&schema, cap);
    static const char *names[] = {"xenon", "alpha", "x", "bravo", "xx", ""};
    for (uint32_t i = 0; i < n; i++) {
        uint32_t r = sl_batch_append_null_row(b);
        uint32_t h = (i + seed) * 2654435761u;
        if (h % 11) sl_col_set_int(&b->col[0], r, (int64_t)(h % 1000) - 300);
        if (h % 13) sl_col_set_int(&b->col[1], r, (int64_t)((h >> 8) % 50) - 10);
        sl_col_set_double(&b->col[2], r, (double)(h % 777) / 7.0);
        if (h % 7)
            sl_col_set_str(&b->col[3], r, names[(h >> 4) % 6],
                           (uint32_t)strlen(names[(h >> 4) % 6]));
        sl_col_set_bool(&b->col[4], r, (h >> 3) & 1);
        sl_col_set_int(&b->col[5], r, 1767225600000000LL + (int64_t)(h % 100000) * 1000000);
    }
    return b;
}

static void test_big_batch(void **state) {
    (void)state;
    sl_expr *f = compile_ok("a * 2 + b > 10 AND name LIKE 'x%'");
    sl_expr *s = compile_ok("upper(name) || ':' || CAST(a AS string)");
    sl_expr *c = compile_ok("CASE WHEN a IS NULL THEN -1 WHEN a % 2 = 0 THEN a / 2 ELSE b END");
    sl_expr *t = compile_ok("date_trunc('minute', ts) + 1000000 * a");
    /* a small batch first, then a bigger one: scratch must grow */
    for (int round = 0; round < 2; round++) {
        uint32_t cap = round ? BIG : 100;
        sl_batch *b = make_big(cap, cap, (uint32_t)round * 7);
        uint8_t *keep = malloc(cap);
        sl_schema os;
        sl_schema_init(&os);
        sl_schema_add(&os, "s", SL_T_STRING);
        sl_schema_add(&os, "c", SL_T_INT);
        sl_schema_add(&os, "t", SL_T_TS);
        sl_batch *ob = sl_batch_new(&os, cap);
        assert_int_equal(sl_expr_eval_bool(f, b, keep), 0);
        assert_int_equal(sl_expr_eval(s, b, &ob->col[0]), 0);
        assert_int_equal(sl_expr_eval(c, b, &ob->col[1]), 0);
        assert_int_equal(sl_expr_eval(t, b, &ob->col[2]), 0);
        uint32_t kept = 0;
        for (uint32_t i = 0; i < b->n; i++) {
            bool an = b->col[0].null[i], bn = b->col[1].null[i], nn = b->col[3].null[i];
            int64_t a = b->col[0].v.i[i], bb = b->col[1].v.i[i];
            sl_str nm = b->col[3].v.s[i];
            /* filter: NULL counts as not kept */
            bool cmp_known = !an && !bn, cmp = cmp_known && a * 2 + bb > 10;
            bool like = !nn && nm.len >= 1 && nm.ptr[0] == 'x';
            bool want = cmp && like;
            assert_int_equal(keep[i], want);
            kept += want;
            /* string building */
            if (an || nn) {
                assert_true(ob->col[0].null[i]);
            } else {
                char buf[64];
                int len = snprintf(buf, sizeof buf, "%.*s:%lld", (int)nm.len, nm.ptr, (long long)a);
                for (int k = 0; k < len; k++)
                    if (buf[k] >= 'a' && buf[k] <= 'z') buf[k] -= 32;
                assert_false(ob->col[0].null[i]);
                assert_int_equal(ob->col[0].v.s[i].len, len);
                assert_memory_equal(ob->col[0].v.s[i].ptr, buf, (size_t)len);
            }
            /* CASE */
            if (an) {
                assert_false(ob->col[1].null[i]);
                assert_int_equal(ob->col[1].v.i[i], -1);
            } else if (a % 2 == 0) {
                assert_int_equal(ob->col[1].v.i[i], a / 2);
            } else if (bn) {
                assert_true(ob->col[1].null[i]);
            } else {
                assert_int_equal(ob->col[1].v.i[i], bb);
            }
            /* timestamps */
            if (an) {
                assert_true(ob->col[2].null[i]);
            } else {
                int64_t ts = b->col[5].v.i[i];
                assert_int_equal(ob->col[2].v.i[i], ts - ts % 60000000 + 1000000 * a);
            }
        }
        assert_true(kept > 0 && kept < b->n);
        sl_batch_free(ob);
        sl_batch_free(b);
        free(keep);
    }
    sl_expr_free(f);
    sl_expr_free(s);
    sl_expr_free(c);
    sl_expr_free(t);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_literals),
        cmocka_unit_test(test_columns),
        cmocka_unit_test(test_arithmetic),
        cmocka_unit_test(test_timestamp_arith),
        cmocka_unit_test(test_timestamp_arith_errors),
        cmocka_unit_test(test_concat),
        cmocka_unit_test(test_comparisons),
        cmocka_unit_test(test_timestamp_compare),
        cmocka_unit_test(test_three_valued_logic),
        cmocka_unit_test(test_is_null),
        cmocka_unit_test(test_in),
        cmocka_unit_test(test_between),
        cmocka_unit_test(test_like),
        cmocka_unit_test(test_like_runtime_bad_escape),
        cmocka_unit_test(test_like_random),
        cmocka_unit_test(test_case),
        cmocka_unit_test(test_cast),
        cmocka_unit_test(test_coalesce_nullif),
        cmocka_unit_test(test_string_functions),
        cmocka_unit_test(test_math_functions),
        cmocka_unit_test(test_time_functions),
        cmocka_unit_test(test_time_formats),
        cmocka_unit_test(test_json_extract),
        cmocka_unit_test(test_type_errors),
        cmocka_unit_test(test_syntax_errors),
        cmocka_unit_test(test_constant_folding),
        cmocka_unit_test(test_api_contract),
        cmocka_unit_test(test_big_batch),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
