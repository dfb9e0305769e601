/* test_http_body.c - the http source's body pieces (sources/http_body.h):
 * decoding, splitting into records, the OTLP logs mapping. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>
#include <zstd.h>

#include <cmocka.h>

#include "sources/http_body.h"

static char why[256];

/* Record i as a C string (static buffer). */
static const char *rec(const sl_http_records *r, int i) {
    static char out[4096];
    assert_true(i < r->n);
    snprintf(out, sizeof out, "%.*s", (int)r->msg[i].len, r->buf + r->msg[i].off);
    assert_int_equal(r->buf[r->msg[i].off + r->msg[i].len], '\n');
    return out;
}

static void test_encoding(void **state) {
    (void)state;
    assert_int_equal(sl_http_encoding(NULL), SL_HTTP_IDENTITY);
    assert_int_equal(sl_http_encoding("identity"), SL_HTTP_IDENTITY);
    assert_int_equal(sl_http_encoding("GZIP"), SL_HTTP_GZIP);
    assert_int_equal(sl_http_encoding("x-gzip"), SL_HTTP_GZIP);
    assert_int_equal(sl_http_encoding("zstd"), SL_HTTP_ZSTD);
    assert_int_equal(sl_http_encoding("br"), -1);
}

static size_t gzip(const char *in, size_t n, char *out, size_t cap) {
    z_stream z = {0};
    assert_int_equal(deflateInit2(&z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY), Z_OK);
    z.next_in = (Bytef *)in;
    z.avail_in = (uInt)n;
    z.next_out = (Bytef *)out;
    z.avail_out = (uInt)cap;
    assert_int_equal(deflate(&z, Z_FINISH), Z_STREAM_END);
    size_t len = cap - z.avail_out;
    deflateEnd(&z);
    return len;
}

static void test_decode(void **state) {
    (void)state;
    const char *text = "{\"a\":1}\n{\"a\":2}\n";
    char *out;
    size_t n;
    assert_int_equal(
        sl_http_decode(SL_HTTP_IDENTITY, text, strlen(text), 1000, &out, &n, why, sizeof why), 0);
    assert_int_equal(n, strlen(text));
    assert_memory_equal(out, text, n);
    assert_int_equal(out[n], 0);
    free(out);
    assert_int_equal(
        sl_http_decode(SL_HTTP_IDENTITY, text, strlen(text), 4, &out, &n, why, sizeof why), 413);

    /* gzip, two members concatenated (as `cat a.gz b.gz`) */
    char gz[512];
    size_t g1 = gzip(text, strlen(text), gz, sizeof gz);
    size_t g2 = gzip(text, strlen(text), gz + g1, sizeof gz - g1);
    assert_int_equal(sl_http_decode(SL_HTTP_GZIP, gz, g1 + g2, 1000, &out, &n, why, sizeof why), 0);
    assert_int_equal(n, 2 * strlen(text));
    assert_memory_equal(out + strlen(text), text, strlen(text));
    free(out);
    /* truncated, corrupt */
    assert_int_equal(sl_http_decode(SL_HTTP_GZIP, gz, g1 - 5, 1000, &out, &n, why, sizeof why),
                     400);
    assert_non_null(strstr(why, "gzip"));
    assert_int_equal(
        sl_http_decode(SL_HTTP_GZIP, "not gzip at all", 15, 1000, &out, &n, why, sizeof why), 400);

    /* a bomb: 1 MiB of zeros compresses to ~1 KiB; bounded to 64 KiB */
    size_t big = 1 << 20;
    char *zeros = calloc(1, big);
    size_t zcap = ZSTD_compressBound(big);
    char *z = malloc(zcap);
    size_t zn = ZSTD_compress(z, zcap, zeros, big, 3);
    assert_false(ZSTD_isError(zn));
    assert_int_equal(sl_http_decode(SL_HTTP_ZSTD, z, zn, 65536, &out, &n, why, sizeof why), 413);
    assert_non_null(strstr(why, "max_body_bytes"));
    assert_int_equal(sl_http_decode(SL_HTTP_ZSTD, z, zn, big, &out, &n, why, sizeof why), 0);
    assert_int_equal(n, big);
    free(out);
    assert_int_equal(sl_http_decode(SL_HTTP_ZSTD, z, zn / 2, big, &out, &n, why, sizeof why), 400);
    assert_int_equal(sl_http_decode(SL_HTTP_ZSTD, gz, g1, big, &out, &n, why, sizeof why), 400);
    free(z);
    free(zeros);
}

static void test_split_json(void **state) {
    (void)state;
    sl_http_records r = {0};
    /* NDJSON with a bad line: it is one record, the next lines are not swallowed */
    const char *nd = "{\"a\":1}\r\n{\"b\":\n\n{\"c\":3}\n";
    assert_int_equal(sl_http_split(nd, strlen(nd), true, &r, why, sizeof why), 0);
    assert_int_equal(r.n, 3);
    assert_string_equal(rec(&r, 0), "{\"a\":1}");
    assert_string_equal(rec(&r, 1), "{\"b\":");
    assert_string_equal(rec(&r, 2), "{\"c\":3}");
    assert_int_equal(r.msg[2].pos, 2);
    sl_http_records_reset(&r);
    /* one pretty-printed object, with a nested array whose last item stands alone */
    const char *pretty = "{\n  \"a\": 1,\n  \"t\": [\n    \"x\",\n    \"y\"\n  ]\n}\n";
    assert_int_equal(sl_http_split(pretty, strlen(pretty), true, &r, why, sizeof why), 0);
    assert_int_equal(r.n, 1);
    assert_null(strchr(rec(&r, 0), '\n'));
    assert_string_equal(rec(&r, 0), "{   \"a\": 1,   \"t\": [     \"x\",     \"y\"   ] }");
    sl_http_records_reset(&r);
    /* an array; strings holding brackets, commas and escaped quotes */
    const char *arr = " [ {\"s\":\"],\\\"}\"} , 5,\n{\"b\":[1,{}]} ] \n";
    assert_int_equal(sl_http_split(arr, strlen(arr), true, &r, why, sizeof why), 0);
    assert_int_equal(r.n, 3);
    assert_string_equal(rec(&r, 0), "{\"s\":\"],\\\"}\"}");
    assert_string_equal(rec(&r, 1), "5");
    assert_string_equal(rec(&r, 2), "{\"b\":[1,{}]}");
    sl_http_records_reset(&r);
    assert_int_equal(sl_http_split("[]", 2, true, &r, why, sizeof why), 0);
    assert_int_equal(r.n, 0);
    /* broken arrays: nothing taken, the place named */
    assert_int_equal(sl_http_split("[{\"a\":1},{\"a\":", 14, true, &r, why, sizeof why), 400);
    assert_int_equal(r.n, 0);
    assert_non_null(strstr(why, "element 2 does not end"));
    assert_int_equal(sl_http_split("[1 2]", 5, true, &r, why, sizeof why), 400);
    assert_non_null(strstr(why, "after element 1"));
    assert_int_equal(sl_http_split("[1] x", 5, true, &r, why, sizeof why), 400);
    assert_non_null(strstr(why, "bytes after its end"));
    assert_int_equal(r.n, 0);
    /* values separated by spaces; a value that never ends: line by line */
    assert_int_equal(sl_http_split("{\"a\":1} {\"a\":2}", 15, true, &r, why, sizeof why), 0);
    assert_int_equal(r.n, 2);
    sl_http_records_reset(&r);
    assert_int_equal(sl_http_split("\n{\"a\":\n\"b\"", 10, true, &r, why, sizeof why), 0);
    assert_int_equal(r.n, 2);
    assert_string_equal(rec(&r, 0), "{\"a\":");
    sl_http_records_free(&r);
}

static void test_split_lines(void **state) {
    (void)state;
    sl_http_records r = {0};
    const char *t = "\xEF\xBB\xBF"
                    "a=1 b=2\r\n\n[c=3\nd=4";
    assert_int_equal(sl_http_split(t, strlen(t), false, &r, why, sizeof why), 0);
    assert_int_equal(r.n, 3);
    assert_string_equal(rec(&r, 0), "a=1 b=2");
    assert_string_equal(rec(&r, 1), "[c=3");
    assert_string_equal(rec(&r, 2), "d=4");
    /* padding after the last record */
    for (int i = 1; i <= SL_HTTP_PADDING; i++)
        assert_int_equal(r.buf[r.len + i - 1], 0);
    sl_http_records_free(&r);
}

static const char otlp[] =
    "{\"resourceLogs\":[{\"resource\":{\"attributes\":["
    "{\"key\":\"service.name\",\"value\":{\"stringValue\":\"checkout\"}},"
    "{\"key\":\"host.cpu-count\",\"value\":{\"intValue\":\"8\"}},"
    "{\"key\":\"level\",\"value\":{\"stringValue\":\"resource loses\"}}]},"
    "\"scopeLogs\":[{\"scope\":{\"name\":\"app.logger\"},\"logRecords\":["
    "{\"timeUnixNano\":\"1700000000123456789\",\"severityNumber\":9,\"severityText\":\"INFO\","
    "\"body\":{\"stringValue\":\"paid \\\"42\\\"\"},"
    "\"attributes\":[{\"key\":\"level\",\"value\":{\"boolValue\":true}},"
    "{\"key\":\"ratio\",\"value\":{\"doubleValue\":0.5}},"
    "{\"key\":\"tags\",\"value\":{\"arrayValue\":{\"values\":[{\"stringValue\":\"a\"}]}}}],"
    "\"traceId\":\"5b8efff798038103d269b633813fc60c\",\"spanId\":\"eee19b7ec3c1b174\"},"
    "{\"observedTimeUnixNano\":\"1700000001000000000\",\"body\":{\"intValue\":\"7\"}}"
    "]}]}]}";

static void test_otlp(void **state) {
    (void)state;
    sl_http_records r = {0};
    assert_int_equal(sl_http_otlp_logs(otlp, strlen(otlp), &r, why, sizeof why), 0);
    assert_int_equal(r.n, 2);
    assert_string_equal(rec(&r, 0),
                        "{\"time\":\"2023-11-14T22:13:20.123456Z\",\"severity_number\":9,"
                        "\"severity_text\":\"INFO\",\"body\":\"paid \\\"42\\\"\","
                        "\"trace_id\":\"5b8efff798038103d269b633813fc60c\","
                        "\"span_id\":\"eee19b7ec3c1b174\",\"scope_name\":\"app.logger\","
                        "\"level\":true,\"ratio\":0.5,"
                        "\"tags\":\"{\\\"values\\\":[{\\\"stringValue\\\":\\\"a\\\"}]}\","
                        "\"service_name\":\"checkout\",\"host_cpu_count\":8}");
    assert_string_equal(rec(&r, 1),
                        "{\"time\":\"2023-11-14T22:13:21.000000Z\",\"severity_number\":null,"
                        "\"severity_text\":null,\"body\":7,\"trace_id\":null,\"span_id\":null,"
                        "\"scope_name\":\"app.logger\",\"service_name\":\"checkout\","
                        "\"host_cpu_count\":8,\"level\":\"resource loses\"}");
    sl_http_records_reset(&r);
    assert_int_equal(sl_http_otlp_logs("[1]", 3, &r, why, sizeof why), 400);
    assert_int_equal(sl_http_otlp_logs("{\"x\":1}", 7, &r, why, sizeof why), 400);
    assert_non_null(strstr(why, "resourceLogs"));
    assert_int_equal(sl_http_otlp_logs("{\"resourceLogs\":[]}", 19, &r, why, sizeof why), 0);
    assert_int_equal(r.n, 0);
    sl_http_records_free(&r);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_encoding),   cmocka_unit_test(test_decode),
        cmocka_unit_test(test_split_json), cmocka_unit_test(test_split_lines),
        cmocka_unit_test(test_otlp),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
