/*
 * test_nginx.c - the combined access log format (src/formats/nginx.c)
 * through sl_line_format_new("nginx" / "combined").
 *
 * Covered: every column typed (time with its offset, "-" as NULL, the
 * request split into method, path and protocol, request_time present or
 * absent or "-"), a subset schema in another order, a request that does not
 * split (scanner junk, HTTP/0.9), extra trailing fields ignored, quarantine
 * reasons with exact positions (not a log line, bad status, impossible
 * date), CRLF, an unterminated last line left unconsumed, a column the
 * format does not know refused.
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
#include "core/timeutil.h"
#include "formats/lineformat.h"

typedef struct {
    int n;
    char reason[8][256];
    int64_t pos[8];
} bads;

static void on_bad(void *ud, const char *line, size_t len, int32_t part, int64_t pos,
                   const char *reason) {
    (void)part, (void)line, (void)len;
    bads *b = ud;
    if (b->n < 8) {
        snprintf(b->reason[b->n], 256, "%s", reason);
        b->pos[b->n] = pos;
    }
    b->n++;
}

static const char *str(const sl_batch *b, int c, uint32_t r, char *buf) {
    if (b->col[c].null[r]) return "NULL";
    snprintf(buf, 512, "%.*s", (int)b->col[c].v.s[r].len, b->col[c].v.s[r].ptr);
    return buf;
}

static int64_t ts(const char *iso) {
    int64_t us = 0;
    assert_int_equal(sl_time_parse_iso(iso, strlen(iso), &us), 0);
    return us;
}

static const char LOG[] =
    "192.168.1.10 - alice [07/Dec/2026:06:25:24 +0100] \"GET /api/items?id=7 HTTP/1.1\" 200 "
    "1534 \"https://example.com/\" \"Mozilla/5.0 (X11)\" 0.012\n"
    "10.0.0.1 - - [07/Dec/2026:06:25:25 -0030] \"POST /login HTTP/2.0\" 502 - \"-\" \"-\" -\r\n"
    "10.0.0.2 - - [07/Dec/2026:06:25:26 +0000] \"\\x16\\x03\\x01\" 400 157 \"-\" \"-\"\n"
    "garbage line\n"
    "10.0.0.3 - - [07/Dec/2026:06:25:27 +0000] \"GET / HTTP/1.1\" abc 1 \"-\" \"-\"\n"
    "\n"
    "10.0.0.3 - - [31/Nov/2026:06:25:27 +0000] \"GET / HTTP/1.1\" 200 1 \"-\" \"-\"\n"
    "10.0.0.4 - - [07/Dec/2026:06:25:28 +0000] \"GET /old\" 200 1 \"-\" \"ua\" 1.5 up=0.2 x\n"
    "10.0.0.5 - - [07/Dec/2026:06:25:29 +0000] \"GET /cut";

static void test_all_columns(void **state) {
    (void)state;
    sl_schema s;
    assert_true(sl_line_format_default_schema("nginx", &s));
    assert_int_equal(s.n, 11);
    sl_error err = {0};
    sl_line_format *f = sl_line_format_new("nginx", &s, NULL, &err);
    assert_non_null(f);
    sl_batch *b = sl_batch_new(&s, 16);
    bads bad = {0};
    size_t used = sl_line_format_parse(f, LOG, sizeof LOG - 1, 3, 1000, 42, b, on_bad, &bad);
    assert_int_equal(used, (size_t)(strrchr(LOG, '\n') - LOG + 1)); /* the cut line waits */
    assert_int_equal(b->n, 4);
    char buf[512];
    /* remote_addr remote_user time method path protocol status bytes referer user_agent rt */
    assert_string_equal(str(b, 0, 0, buf), "192.168.1.10");
    assert_string_equal(str(b, 1, 0, buf), "alice");
    assert_int_equal(b->col[2].v.i[0], ts("2026-12-07T05:25:24Z"));
    assert_string_equal(str(b, 3, 0, buf), "GET");
    assert_string_equal(str(b, 4, 0, buf), "/api/items?id=7");
    assert_string_equal(str(b, 5, 0, buf), "HTTP/1.1");
    assert_int_equal(b->col[6].v.i[0], 200);
    assert_int_equal(b->col[7].v.i[0], 1534);
    assert_string_equal(str(b, 8, 0, buf), "https://example.com/");
    assert_string_equal(str(b, 9, 0, buf), "Mozilla/5.0 (X11)");
    assert_true(b->col[10].v.d[0] == 0.012);
    assert_int_equal(b->pos[0], 1000);
    assert_int_equal(b->part[0], 3);
    /* "-" is NULL; -0030 offset; CRLF */
    assert_string_equal(str(b, 1, 1, buf), "NULL");
    assert_int_equal(b->col[2].v.i[1], ts("2026-12-07T06:55:25Z"));
    assert_true(b->col[7].null[1] && b->col[8].null[1] && b->col[9].null[1] && b->col[10].null[1]);
    assert_string_equal(str(b, 5, 1, buf), "HTTP/2.0");
    /* a request that does not split keeps its row */
    assert_string_equal(str(b, 3, 2, buf), "NULL");
    assert_string_equal(str(b, 4, 2, buf), "NULL");
    assert_int_equal(b->col[6].v.i[2], 400);
    assert_true(b->col[10].null[2]);
    /* HTTP/0.9, the request time before extra fields */
    assert_string_equal(str(b, 3, 3, buf), "GET");
    assert_string_equal(str(b, 4, 3, buf), "/old");
    assert_string_equal(str(b, 5, 3, buf), "NULL");
    assert_true(b->col[10].v.d[3] == 1.5);
    /* quarantined, with where and why */
    assert_int_equal(bad.n, 3);
    assert_string_equal(bad.reason[0],
                        "nginx: expected remote address, ident and user before the time");
    assert_int_equal(bad.pos[0], 1000 + (int64_t)(strstr(LOG, "garbage") - LOG));
    assert_string_equal(bad.reason[1], "nginx: field 'status': expected int, got 'abc'");
    assert_string_equal(
        bad.reason[2], "nginx: field 'time': expected timestamp, got '31/Nov/2026:06:25:27 +0000'");
    assert_int_equal(bad.pos[2], 1000 + (int64_t)(strstr(LOG, "10.0.0.3 - - [31") - LOG));
    sl_batch_free(b);
    sl_line_format_free(f);
}

static void test_subset_and_errors(void **state) {
    (void)state;
    sl_schema s;
    sl_schema_init(&s);
    sl_schema_add(&s, "status", SL_T_INT);
    sl_schema_add(&s, "time", SL_T_STRING);
    sl_schema_add(&s, "request", SL_T_STRING);
    sl_error err = {0};
    sl_line_format *f = sl_line_format_new("combined", &s, NULL, &err);
    assert_non_null(f);
    sl_batch *b = sl_batch_new(&s, 2);
    size_t used = sl_line_format_parse(f, LOG, sizeof LOG - 1, 0, 0, 0, b, NULL, NULL);
    assert_int_equal(b->n, 2); /* a full batch stops the parse */
    assert_true(used < sizeof LOG - 1 && LOG[used - 1] == '\n');
    char buf[512];
    assert_int_equal(b->col[0].v.i[1], 502);
    assert_string_equal(str(b, 1, 0, buf), "07/Dec/2026:06:25:24 +0100");
    assert_string_equal(str(b, 2, 0, buf), "GET /api/items?id=7 HTTP/1.1");
    sl_batch_free(b);
    sl_line_format_free(f);
    sl_schema_add(&s, "host", SL_T_STRING);
    assert_null(sl_line_format_new("nginx", &s, NULL, &err));
    assert_non_null(strstr(err.msg, "nginx: no field 'host'"));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_all_columns),
        cmocka_unit_test(test_subset_and_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
