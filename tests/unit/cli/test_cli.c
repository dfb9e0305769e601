/* test_cli.c - unit tests for src/cli: the Server-Sent Events reader, the tap
 * stream's JSON rows and the Prometheus text reader. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "cli/cli.h"

typedef struct {
    char ev[8][32];
    char data[8][256];
    int n;
    int stop_at; /* return 1 from this event (1-based), 0: never */
} events;

static int collect(void *ud, const char *event, const char *data, size_t len) {
    events *e = ud;
    assert_true(e->n < 8);
    snprintf(e->ev[e->n], sizeof e->ev[0], "%s", event);
    snprintf(e->data[e->n], sizeof e->data[0], "%.*s", (int)len, data);
    e->n++;
    return e->stop_at && e->n == e->stop_at;
}

static void test_sse_events(void **state) {
    (void)state;
    static const char in[] = "retry: 2000\n: connected\n\n"
                             "event: rows\nid: 3\ndata: {\"a\":1}\n\n"
                             ": heartbeat\n\n"
                             "data: one\r\ndata:two\r\n\r\n"
                             "event: error\ndata: {\"error\":\"x\"}\n\n";
    /* byte by byte and whole: events do not depend on how the bytes arrive */
    for (int mode = 0; mode < 2; mode++) {
        events e = {0};
        sl_sse *s = sl_sse_new(collect, &e);
        if (mode == 0) {
            for (size_t i = 0; i < sizeof in - 1; i++)
                assert_int_equal(sl_sse_feed(s, in + i, 1), 0);
        } else {
            assert_int_equal(sl_sse_feed(s, in, sizeof in - 1), 0);
        }
        assert_int_equal(e.n, 3);
        assert_string_equal(e.ev[0], "rows");
        assert_string_equal(e.data[0], "{\"a\":1}");
        assert_string_equal(e.ev[1], "message");
        assert_string_equal(e.data[1], "one\ntwo");
        assert_string_equal(e.ev[2], "error");
        sl_sse_free(s);
    }
    /* a nonzero return stops the feed and is returned */
    events e = {.stop_at = 1};
    sl_sse *s = sl_sse_new(collect, &e);
    assert_int_equal(sl_sse_feed(s, in, sizeof in - 1), 1);
    assert_int_equal(e.n, 1);
    sl_sse_free(s);
}

static void test_rows_event(void **state) {
    (void)state;
    static const char js[] =
        "{\"columns\":[\"id\",\"name\",\"v\",\"ok\"],\"rows\":[[1,\"a\\\"b\\\\c\\n\",-1.5e3,true],"
        "[2,\"\\u00e9\\ud83d\\ude00\",null,false]],\"commit\":7,\"truncated\":false}";
    sl_rows_event ev;
    assert_int_equal(sl_rows_event_parse(js, strlen(js), &ev), 0);
    assert_int_equal(ev.ncols, 4);
    assert_int_equal(ev.nrows, 2);
    assert_string_equal(ev.cols[1], "name");
    assert_string_equal(ev.cells[0], "1");
    assert_int_equal(ev.kinds[0], SL_JV_NUM);
    assert_string_equal(ev.cells[1], "a\"b\\c\n");
    assert_int_equal(ev.kinds[1], SL_JV_STR);
    assert_string_equal(ev.cells[2], "-1.5e3");
    assert_int_equal(ev.kinds[3], SL_JV_BOOL);
    assert_string_equal(ev.cells[5], "\xc3\xa9\xf0\x9f\x98\x80"); /* é and U+1F600 */
    assert_null(ev.cells[6]);
    assert_int_equal(ev.kinds[6], SL_JV_NULL);
    sl_rows_event_fini(&ev);

    /* malformed: a short row, an unterminated string, a nested value, junk */
    static const char *const bad[] = {
        "{\"columns\":[\"a\",\"b\"],\"rows\":[[1]]}",
        "{\"columns\":[\"a\"],\"rows\":[[\"x]]}",
        "{\"columns\":[\"a\"],\"rows\":[[{\"x\":1}]]}",
        "{\"columns\":[\"a\"],\"rows\":[[1]]",
        "not json",
        "{\"columns\":[\"a\"],\"rows\":[[1,2]]}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        assert_int_equal(sl_rows_event_parse(bad[i], strlen(bad[i]), &ev), SL_EPARSE);
}

static void test_prom(void **state) {
    (void)state;
    static const char a_txt[] =
        "# HELP sluice_records_in_total Records.\n# TYPE sluice_records_in_total counter\n"
        "sluice_records_in_total{pipeline=\"p\"} 100\n"
        "sluice_source_partition_position{pipeline=\"p\",source=\"k\",partition=\"0\"} 10\n"
        "sluice_source_partition_position{pipeline=\"p\",source=\"k\",partition=\"1\"} 20\n"
        "sluice_table_rows_in_total{pipeline=\"p\",table=\"a\"} 5\n"
        "sluice_table_rows_in_total{pipeline=\"p\",table=\"we\\\"ird}\"} 7\n"
        "sluice_commits_total{pipeline=\"p\"} 50\n";
    static const char b_txt[] =
        "sluice_records_in_total{pipeline=\"p\"} 300\n"
        "sluice_source_partition_position{pipeline=\"p\",source=\"k\",partition=\"0\"} 30\n"
        "sluice_source_partition_position{pipeline=\"p\",source=\"k\",partition=\"1\"} 40\n"
        "sluice_table_rows_in_total{pipeline=\"p\",table=\"a\"} 9\n"
        "sluice_table_rows_in_total{pipeline=\"p\",table=\"we\\\"ird}\"} 7\n"
        "sluice_commits_total{pipeline=\"p\"} 3\n"
        "sluice_watermark_lag_seconds{pipeline=\"p\"} 1.5e+02\n";
    sl_prom *a = sl_prom_parse(a_txt, strlen(a_txt)), *b = sl_prom_parse(b_txt, strlen(b_txt));
    assert_true(sl_prom_get(a, "sluice_records_in_total", NULL, NULL) == 100);
    /* a source's partitions add up */
    assert_true(sl_prom_get(a, "sluice_source_partition_position", "source", "k") == 30);
    assert_true(sl_prom_rate(a, b, 2, "sluice_source_partition_position", "source", "k") == 20);
    assert_true(sl_prom_rate(a, b, 2, "sluice_records_in_total", NULL, NULL) == 100);
    /* a label value with a quote and a brace */
    assert_true(sl_prom_get(b, "sluice_table_rows_in_total", "table", "we\"ird}") == 7);
    /* a counter that went back (restart) reads 0, a missing one NAN */
    assert_true(sl_prom_rate(a, b, 2, "sluice_commits_total", NULL, NULL) == 0);
    assert_true(isnan(sl_prom_rate(a, b, 2, "sluice_watermark_lag_seconds", NULL, NULL)));
    assert_true(isnan(sl_prom_get(b, "sluice_table_rows_in_total", "table", "zz")));
    assert_true(sl_prom_get(b, "sluice_watermark_lag_seconds", NULL, NULL) == 150);
    const char *names[8];
    int n = sl_prom_labels(b, "sluice_table_rows_in_total", "table", names, 8);
    assert_int_equal(n, 2);
    assert_string_equal(names[0], "a");
    assert_string_equal(names[1], "we\"ird}");
    assert_int_equal(sl_prom_labels(b, "sluice_nothing", "table", names, 8), 0);
    sl_prom_free(a);
    sl_prom_free(b);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sse_events),
        cmocka_unit_test(test_rows_event),
        cmocka_unit_test(test_prom),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
