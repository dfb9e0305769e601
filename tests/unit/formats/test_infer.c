/* test_infer.c - schema inference (formats/infer.h) and mid-stream schema
 * discovery in the JSON and CSV parsers: the type lattice, hints, column
 * order, unusable names, the stored-schema round trip, a parse that stops
 * just before the first record with a new field (stream mode too), keys
 * remembered as ignored, int -> double widening, CSV header discovery. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "core/batch.h"
#include "formats/infer.h"
#include "formats/json.h"
#include "formats/lineformat.h"

static char *padded(const char *s, size_t *len) {
    *len = strlen(s);
    char *b = calloc(1, *len + 128);
    memcpy(b, s, *len);
    return b;
}

static void test_json_lattice(void **st) {
    (void)st;
    size_t n;
    char *buf = padded("{\"i\":1,\"d\":1,\"b\":true,\"s\":\"x\",\"t\":\"2024-01-02T03:04:05Z\","
                       "\"o\":{\"a\":1},\"z\":null,\"m\":1}\n"
                       "{\"i\":2,\"d\":2.5,\"b\":false,\"s\":\"y\",\"t\":\"2024-01-02T03:04:06."
                       "5Z\",\"o\":[1],\"z\":null,\"m\":\"one\",\"late\":7}\n"
                       "not json\n\n"
                       "{\"i\":-3,\"d\":1e3,\"weird-key\":1,\"n\":null}\n",
                       &n);
    sl_infer *in = sl_infer_new();
    assert_int_equal(sl_infer_json(in, buf, n, 1000), n);
    assert_int_equal(sl_infer_records(in), 4); /* the bad line counts, the blank one not */
    assert_int_equal(sl_infer_type(in, "i"), SL_T_INT);
    assert_int_equal(sl_infer_type(in, "d"), SL_T_DOUBLE);
    assert_int_equal(sl_infer_type(in, "b"), SL_T_BOOL);
    assert_int_equal(sl_infer_type(in, "s"), SL_T_STRING);
    assert_int_equal(sl_infer_type(in, "t"), SL_T_TS);
    assert_int_equal(sl_infer_type(in, "o"), SL_T_STRING);
    assert_int_equal(sl_infer_type(in, "z"), SL_T_STRING); /* only nulls */
    assert_int_equal(sl_infer_type(in, "m"), SL_T_STRING); /* mixed */
    assert_int_equal(sl_infer_type(in, "late"), SL_T_INT);
    assert_int_equal(sl_infer_type(in, "nope"), -1);
    sl_schema hints, s;
    sl_schema_init(&hints);
    sl_schema_add(&hints, "i", SL_T_DOUBLE);
    sl_schema_add(&hints, "declared", SL_T_TS);
    sl_error err = {0};
    assert_int_equal(sl_infer_schema(in, &hints, &s, &err), 0);
    const char *order[] = {"i", "d", "b", "s", "t", "o", "z", "m", "late", "n", "declared"};
    assert_int_equal(s.n, 11); /* weird-key left out */
    for (int k = 0; k < s.n; k++)
        assert_string_equal(s.f[k].name, order[k]);
    assert_int_equal(s.f[0].type, SL_T_DOUBLE); /* the hint wins */
    assert_int_equal(s.f[10].type, SL_T_TS);
    /* a sample limit */
    sl_infer *in2 = sl_infer_new();
    size_t used = sl_infer_json(in2, buf, n, 1);
    assert_true(used < n);
    assert_int_equal(sl_infer_type(in2, "late"), -1);
    sl_infer_free(in2);
    sl_infer_free(in);
    free(buf);
}

static void test_schema_json_round_trip(void **st) {
    (void)st;
    sl_schema s, back;
    sl_schema_init(&s);
    sl_schema_add(&s, "a", SL_T_INT);
    sl_schema_add(&s, "when", SL_T_TS);
    sl_schema_add(&s, "ok", SL_T_BOOL);
    char j[256];
    sl_schema_to_json(&s, j, sizeof j);
    assert_string_equal(j, "{\"a\":\"int\",\"when\":\"timestamp\",\"ok\":\"bool\"}");
    sl_error err = {0};
    assert_int_equal(sl_schema_from_json(j, &back, &err), 0);
    assert_int_equal(back.n, 3);
    assert_int_equal(back.f[1].type, SL_T_TS);
    assert_int_equal(sl_schema_from_json("{}", &back, &err), 0);
    assert_int_equal(back.n, 0);
    assert_int_not_equal(sl_schema_from_json("{\"a\":\"blob\"}", &back, &err), 0);
    assert_int_not_equal(sl_schema_from_json("[1]", &back, &err), 0);
}

static void test_csv_infer(void **st) {
    (void)st;
    const char *f1 =
        "id,price,flag,when,name, spaced "
        "\n1,2,true,2024-01-01T00:00:00Z,a,\n2,2.5,FALSE,2024-01-01T00:00:01Z,\"b,c\",x\n";
    sl_infer *in = sl_infer_new();
    sl_infer_csv(in, f1, strlen(f1), ',', true, NULL, 0, 1000);
    const char *f2 = "id,extra\n3,9\n";
    sl_infer_csv(in, f2, strlen(f2), ',', true, NULL, 0, 1000);
    assert_int_equal(sl_infer_records(in), 3);
    assert_int_equal(sl_infer_type(in, "id"), SL_T_INT);
    assert_int_equal(sl_infer_type(in, "price"), SL_T_DOUBLE);
    assert_int_equal(sl_infer_type(in, "flag"), SL_T_BOOL);
    assert_int_equal(sl_infer_type(in, "when"), SL_T_TS);
    assert_int_equal(sl_infer_type(in, "name"), SL_T_STRING);
    assert_int_equal(sl_infer_type(in, "spaced"), SL_T_STRING);
    assert_int_equal(sl_infer_type(in, "extra"), SL_T_INT);
    sl_schema s;
    sl_error err = {0};
    assert_int_equal(sl_infer_schema(in, NULL, &s, &err), 0);
    assert_int_equal(s.n, 7);
    assert_string_equal(s.f[6].name, "extra");
    sl_infer_free(in);
    /* no header: names given */
    in = sl_infer_new();
    const char *names[] = {"x", "y"};
    const char *f3 = "1,a\n2,b\n";
    sl_infer_csv(in, f3, strlen(f3), ',', false, names, 2, 1000);
    assert_int_equal(sl_infer_type(in, "x"), SL_T_INT);
    assert_int_equal(sl_infer_type(in, "y"), SL_T_STRING);
    sl_infer_free(in);
}

static void test_json_discovery_stops_before_new_field(void **st) {
    (void)st;
    for (int stream = 0; stream < 2; stream++) {
        sl_schema s;
        sl_schema_init(&s);
        sl_schema_add(&s, "a", SL_T_INT);
        sl_error err = {0};
        sl_json_parser *p = sl_json_parser_new(&s, NULL, &err);
        sl_json_parser_set_stream(p, stream);
        sl_json_parser_set_discover(p, true);
        size_t n;
        char *buf = padded("{\"a\":1}\n{\"a\":2,\"bad-key\":1,\"nul\":null}\n{\"a\":3,\"b\":\"2024-"
                           "05-01T00:00:00Z\",\"c\":1.5}\n{\"a\":4}\n",
                           &n);
        sl_batch *b = sl_batch_new(&s, 16);
        size_t used = sl_json_parse_lines(p, buf, n, 0, 0, 0, b, NULL, NULL);
        assert_int_equal(b->n, 2);
        const char *third = strstr(buf, "{\"a\":3");
        assert_int_equal(used, (size_t)(third - buf));
        const sl_schema_change *ch = sl_json_parser_change(p);
        assert_non_null(ch);
        assert_int_equal(ch->nadded, 2);
        assert_string_equal(ch->added[0].name, "b");
        assert_int_equal(ch->added[0].type, SL_T_TS);
        assert_string_equal(ch->added[1].name, "c");
        assert_int_equal(ch->added[1].type, SL_T_DOUBLE);
        /* a parser with the new schema reads on from there */
        sl_schema_add(&s, "b", SL_T_TS);
        sl_schema_add(&s, "c", SL_T_DOUBLE);
        sl_json_parser *q = sl_json_parser_new(&s, NULL, &err);
        sl_json_parser_set_discover(q, true);
        sl_batch *b2 = sl_batch_new(&s, 16);
        size_t used2 =
            sl_json_parse_lines(q, buf + used, n - used, 0, (int64_t)used, 0, b2, NULL, NULL);
        assert_int_equal(used + used2, n);
        assert_null(sl_json_parser_change(q));
        assert_int_equal(b2->n, 2);
        assert_false(b2->col[2].null[0]);
        assert_true(b2->col[2].null[1]);
        sl_batch_free(b);
        sl_batch_free(b2);
        sl_json_parser_free(p);
        sl_json_parser_free(q);
        free(buf);
    }
}

static void test_json_widen(void **st) {
    (void)st;
    sl_schema s;
    sl_schema_init(&s);
    sl_schema_add(&s, "a", SL_T_INT);
    sl_error err = {0};
    sl_json_parser *p = sl_json_parser_new(&s, NULL, &err);
    size_t n;
    char *buf = padded("{\"a\":1}\n{\"a\":2.5}\n", &n);
    sl_batch *b = sl_batch_new(&s, 16);
    int bads = 0;
    /* without widen: a bad record */
    size_t used = sl_json_parse_lines(p, buf, n, 0, 0, 0, b, NULL, NULL);
    assert_int_equal(used, n);
    assert_int_equal(b->n, 1);
    (void)bads;
    sl_batch_clear(b);
    sl_json_parser_set_widen(p, true);
    used = sl_json_parse_lines(p, buf, n, 0, 0, 0, b, NULL, NULL);
    assert_int_equal(b->n, 1);
    assert_int_equal(used, strlen("{\"a\":1}\n"));
    const sl_schema_change *ch = sl_json_parser_change(p);
    assert_non_null(ch);
    assert_int_equal(ch->nwidened, 1);
    assert_int_equal(ch->widened[0], 0);
    assert_int_equal(ch->widened_to[0], SL_T_DOUBLE);
    sl_batch_free(b);
    sl_json_parser_free(p);
    free(buf);
}

static void test_csv_discovery_and_widen(void **st) {
    (void)st;
    sl_schema s;
    sl_schema_init(&s);
    sl_schema_add(&s, "id", SL_T_INT);
    sl_schema_add(&s, "Name", SL_T_STRING);
    sl_error err = {0};
    sl_line_format_opts o = {.header = true};
    sl_line_format *f = sl_line_format_new_opts("csv", &s, NULL, &o, &err);
    sl_line_format_set_evolve(f, true, true);
    sl_batch *b = sl_batch_new(&s, 16);
    const char *f1 = "id,name\n1,a\n2,b\n";
    assert_int_equal(sl_line_format_parse(f, f1, strlen(f1), 0, 0, 0, b, NULL, NULL), strlen(f1));
    assert_int_equal(b->n, 2);
    assert_null(sl_line_format_change(f));
    /* file 2 has a new column: nothing of it is consumed */
    const char *f2 = "id,name,zone,bad col\n3,c,z1,q\n";
    sl_batch_clear(b);
    assert_int_equal(sl_line_format_parse(f, f2, strlen(f2), 1, 0, 0, b, NULL, NULL), 0);
    assert_int_equal(b->n, 0);
    const sl_schema_change *ch = sl_line_format_change(f);
    assert_non_null(ch);
    assert_int_equal(ch->nadded, 1);
    assert_string_equal(ch->added[0].name, "zone");
    /* widen: an int column meets 4.5 */
    const char *f3 = "id,name\n4,d\n4.5,e\n";
    sl_batch_clear(b);
    size_t used = sl_line_format_parse(f, f3, strlen(f3), 2, 0, 0, b, NULL, NULL);
    assert_int_equal(used, strlen("id,name\n4,d\n"));
    assert_int_equal(b->n, 1);
    ch = sl_line_format_change(f);
    assert_non_null(ch);
    assert_int_equal(ch->nwidened, 1);
    assert_int_equal(ch->widened[0], 0);
    sl_batch_free(b);
    sl_line_format_free(f);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_json_lattice),
        cmocka_unit_test(test_schema_json_round_trip),
        cmocka_unit_test(test_csv_infer),
        cmocka_unit_test(test_json_discovery_stops_before_new_field),
        cmocka_unit_test(test_json_widen),
        cmocka_unit_test(test_csv_discovery_and_widen),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
