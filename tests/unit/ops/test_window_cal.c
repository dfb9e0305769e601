/*
 * test_window_cal.c - calendar windows (1d, 1w, 1mo in a timezone; window.h):
 * a day of Europe/Berlin is final exactly when the watermark reaches the next
 * local midnight (23 hours after the start on 2024-03-31), a row is late by
 * that end, and late: update keeps a final week for a week; weeks start on Monday; a 1d window in
 * UTC gives the same rows as 24h; snapshots restore calendar groups and rollups; and the rollups it
 * creates and refuses (nesting in the zone's days).
 */
#include "ops_test.h"
#include "ops/window.h"

#include <unistd.h>

#define HOUR (3600 * SEC)

static int64_t iso(const char *s) {
    int64_t us = 0;
    assert_int_equal(sl_time_parse_iso(s, strlen(s), &us), 0);
    return us;
}

static void in_schema(sl_schema *s) {
    sl_schema_init(s);
    sl_schema_add(s, "ts", SL_T_TS);
    sl_schema_add(s, "k", SL_T_STRING);
}

static sl_window *make(const char *yaml, const sl_schema *in, sl_spec **spec, sl_error *e) {
    char doc[1024];
    snprintf(doc, sizeof doc, "w: %s\n", yaml);
    *spec = sl_spec_load_mem("w.yaml", doc, strlen(doc), NULL, e);
    if (!*spec) fail_msg("spec: %s", e->msg);
    return sl_window_create(sl_node_get(sl_spec_root(*spec), "w"), in, e);
}

static sl_window *make_ok(const char *yaml, const sl_schema *in, sl_spec **spec) {
    sl_error e = {0};
    sl_window *w = make(yaml, in, spec, &e);
    if (!w) fail_msg("window: %s", e.msg);
    return w;
}

static void feed(sl_window *w, const sl_schema *in, const int64_t *ts, int n, sl_op_ctx *ctx) {
    sl_batch *b = sl_batch_new(in, 64);
    for (int i = 0; i < n; i++) {
        uint32_t r = add_row(b, i);
        sl_col_set_int(&b->col[0], r, ts[i]);
        sl_col_set_str(&b->col[1], r, "a", 1);
    }
    assert_int_equal(sl_window_process(w, b, ctx), 0);
    sl_batch_free(b);
}

/* Emits at watermark wm; writes "start:n:final " per row into out. Returns the final rows. */
static int emit(sl_window *w, int64_t wm, bool all, char *out, size_t cap) {
    sl_batch *o = sl_batch_new(sl_window_schema(w), 8);
    int finals = 0;
    size_t len = 0;
    out[0] = 0;
    const sl_schema *s = sl_window_schema(w);
    int cn = sl_schema_find(s, "n"), cf = sl_schema_find(s, "is_final");
    while (sl_window_emit(w, o, wm, all) > 0)
        for (uint32_t r = 0; r < o->n; r++) {
            char ts[40];
            sl_time_format_iso(o->col[0].v.i[r], ts, sizeof ts);
            len += (size_t)snprintf(out + len, cap - len, "%s:%lld:%d ", ts,
                                    (long long)o->col[cn].v.i[r], o->col[cf].v.b[r] ? 1 : 0);
            finals += o->col[cf].v.b[r];
        }
    sl_batch_free(o);
    return finals;
}

#define AGG "aggregates: {n: \"count(*)\"}"

static void test_berlin_day_final_at_local_midnight(void **state) {
    (void)state;
    if (access("/usr/share/zoneinfo/Europe/Berlin", R_OK)) skip();
    sl_schema in;
    in_schema(&in);
    sl_spec *spec;
    sl_window *w =
        make_ok("{time: ts, size: 1d, timezone: Europe/Berlin, keys: [k], " AGG "}", &in, &spec);
    sl_op_ctx ctx;
    ctx_init(&ctx);
    /* 03-30 local noon, 03-31 local 00:00 and 23:59:59 (22:59:59 is a day of 23 h) */
    int64_t ts[] = {iso("2024-03-30T11:00:00Z"), iso("2024-03-30T23:00:00Z"),
                    iso("2024-03-31T21:59:59Z"), iso("2024-03-31T22:00:00Z")};
    feed(w, &in, ts, 4, &ctx);
    char buf[1024];
    assert_int_equal(emit(w, iso("2024-03-30T22:59:59Z"), false, buf, sizeof buf), 0);
    assert_string_equal(buf, "2024-03-29T23:00:00Z:1:0 2024-03-30T23:00:00Z:2:0 "
                             "2024-03-31T22:00:00Z:1:0 ");
    assert_int_equal(emit(w, iso("2024-03-30T23:00:00Z"), false, buf, sizeof buf), 1);
    assert_string_equal(buf, "2024-03-29T23:00:00Z:1:1 ");
    assert_int_equal(emit(w, iso("2024-03-31T21:59:59Z"), false, buf, sizeof buf), 0);
    assert_int_equal(emit(w, iso("2024-03-31T22:00:00Z"), false, buf, sizeof buf), 1);
    assert_string_equal(buf, "2024-03-30T23:00:00Z:2:1 ");
    /* late by the calendar end: 03-31 is final, 04-01 is not */
    int64_t late[] = {iso("2024-03-31T21:30:00Z"), iso("2024-03-31T22:30:00Z")};
    feed(w, &in, late, 2, &ctx);
    assert_int_equal(ctx.late, 1);
    assert_int_equal(ctx.quarantined, 1);
    assert_string_equal(Q.reason[0], "late: window 2024-03-30T23:00:00.000Z already final at "
                                     "watermark 2024-03-31T22:00:00.000Z");
    assert_int_equal(emit(w, INT64_MIN, true, buf, sizeof buf), 1);
    assert_string_equal(buf, "2024-03-31T22:00:00Z:2:1 ");
    sl_window_free(w);
    sl_spec_free(spec);
}

/* late: update keeps a final week for its own length (the default allowed_lateness) past its
 * end: a late row then updates it; a week later the group is gone and the row is quarantined. */
static void test_late_update_own_length(void **state) {
    (void)state;
    sl_schema in;
    in_schema(&in);
    sl_spec *spec;
    sl_window *w = make_ok("{time: ts, size: 1w, late: update, keys: [k], " AGG "}", &in, &spec);
    sl_op_ctx ctx;
    ctx_init(&ctx);
    int64_t ts[] = {iso("2024-01-03T12:00:00Z")};
    feed(w, &in, ts, 1, &ctx);
    char buf[1024];
    assert_int_equal(emit(w, iso("2024-01-08T00:00:00Z"), false, buf, sizeof buf), 1);
    int64_t late1[] = {iso("2024-01-02T00:00:00Z")};
    feed(w, &in, late1, 1, &ctx); /* watermark 01-08: kept until 01-15 */
    assert_int_equal(ctx.late, 1);
    assert_int_equal(ctx.quarantined, 0);
    assert_int_equal(emit(w, iso("2024-01-14T23:59:59Z"), false, buf, sizeof buf), 1);
    assert_string_equal(buf, "2024-01-01T00:00:00Z:2:1 ");
    assert_int_equal(sl_window_groups(w), 1);
    emit(w, iso("2024-01-15T00:00:00Z"), false, buf, sizeof buf);
    assert_int_equal(sl_window_groups(w), 0);
    feed(w, &in, late1, 1, &ctx);
    assert_int_equal(ctx.late, 2);
    assert_int_equal(ctx.quarantined, 1);
    assert_non_null(strstr(Q.reason[0], "past allowed_lateness 604800s"));
    sl_window_free(w);
    sl_spec_free(spec);
}

static void test_week_starts_monday_and_month(void **state) {
    (void)state;
    sl_schema in;
    in_schema(&in);
    sl_spec *s1, *s2;
    sl_window *wk = make_ok("{time: ts, size: 1w, keys: [k], " AGG "}", &in, &s1);
    sl_window *mo = make_ok("{time: ts, size: 1mo, keys: [k], " AGG "}", &in, &s2);
    sl_op_ctx ctx;
    ctx_init(&ctx);
    /* Wed 2024-01-03, Sun 2024-01-07 23:59:59, Mon 2024-01-08; Feb 29 and Mar 1 */
    int64_t ts[] = {iso("2024-01-03T12:00:00Z"), iso("2024-01-07T23:59:59Z"),
                    iso("2024-01-08T00:00:00Z"), iso("2024-02-29T23:59:59Z"),
                    iso("2024-03-01T00:00:00Z")};
    feed(wk, &in, ts, 5, &ctx);
    feed(mo, &in, ts, 5, &ctx);
    char buf[1024];
    emit(wk, INT64_MIN, true, buf, sizeof buf);
    assert_string_equal(buf, "2024-01-01T00:00:00Z:2:1 2024-01-08T00:00:00Z:1:1 "
                             "2024-02-26T00:00:00Z:2:1 ");
    emit(mo, INT64_MIN, true, buf, sizeof buf);
    assert_string_equal(buf, "2024-01-01T00:00:00Z:3:1 2024-02-01T00:00:00Z:1:1 "
                             "2024-03-01T00:00:00Z:1:1 ");
    /* sl_window_end (alert rules' clock): the next boundary, not start + a size */
    assert_int_equal(sl_window_end(mo, iso("2024-02-01T00:00:00Z")), iso("2024-03-01T00:00:00Z"));
    assert_int_equal(sl_window_end(mo, iso("2024-12-01T00:00:00Z")), iso("2025-01-01T00:00:00Z"));
    assert_int_equal(sl_window_end(wk, iso("2024-02-26T00:00:00Z")), iso("2024-03-04T00:00:00Z"));
    sl_spec *s3;
    sl_window *bd =
        make_ok("{time: ts, size: 1d, timezone: Europe/Berlin, keys: [k], " AGG "}", &in, &s3);
    /* Berlin's spring day: from 2024-03-30T23:00Z, 23 hours */
    assert_int_equal(sl_window_end(bd, iso("2024-03-30T23:00:00Z")), iso("2024-03-31T22:00:00Z"));
    sl_window_free(bd);
    sl_spec_free(s3);
    sl_window_free(wk);
    sl_window_free(mo);
    sl_spec_free(s1);
    sl_spec_free(s2);
}

/* 1d in UTC is the fixed 24h window: the same rows, _group included. */
static void test_utc_day_is_24h(void **state) {
    (void)state;
    sl_schema in;
    in_schema(&in);
    sl_spec *s1, *s2;
    sl_window *a = make_ok("{time: ts, size: 1d, keys: [k], " AGG "}", &in, &s1);
    sl_window *b = make_ok("{time: ts, size: 24h, keys: [k], " AGG "}", &in, &s2);
    sl_op_ctx ctx;
    ctx_init(&ctx);
    int64_t ts[50];
    for (int i = 0; i < 50; i++)
        ts[i] = T0 + rnd_range(-40 * 24 * HOUR, 40 * 24 * HOUR);
    feed(a, &in, ts, 50, &ctx);
    feed(b, &in, ts, 50, &ctx);
    sl_batch *oa = sl_batch_new(sl_window_schema(a), 128),
             *ob = sl_batch_new(sl_window_schema(b), 128);
    assert_true(sl_window_emit(a, oa, INT64_MIN, true) > 0);
    assert_int_equal(sl_window_emit(b, ob, INT64_MIN, true), oa->n);
    int cg = sl_schema_find(sl_window_schema(a), "_group");
    for (uint32_t r = 0; r < oa->n; r++) {
        assert_int_equal(oa->col[0].v.i[r], ob->col[0].v.i[r]);
        assert_int_equal(oa->col[cg].v.i[r], ob->col[cg].v.i[r]);
    }
    sl_batch_free(oa);
    sl_batch_free(ob);
    sl_window_free(a);
    sl_window_free(b);
    sl_spec_free(s1);
    sl_spec_free(s2);
}

/* A snapshot mid-way restores the calendar groups and the month rollup's groups. */
static void test_snapshot_restore_with_rollup(void **state) {
    (void)state;
    if (access("/usr/share/zoneinfo/America/New_York", R_OK)) skip();
    sl_schema in;
    in_schema(&in);
    const char *y = "{time: ts, size: 1d, timezone: America/New_York, keys: [k], " AGG "}";
    sl_spec *s1, *s2;
    sl_window *w = make_ok(y, &in, &s1), *w2 = make_ok(y, &in, &s2);
    sl_error e = {0};
    sl_window *r = sl_window_create_rollup_size(w, "1mo", &e);
    sl_window *r2 = sl_window_create_rollup_size(w2, "1mo", &e);
    assert_non_null(r);
    assert_non_null(r2);
    sl_op_ctx ctx;
    ctx_init(&ctx);
    int64_t ts[40];
    for (int i = 0; i < 40; i++) /* every 26 h from 2024-02-20 */
        ts[i] = iso("2024-02-20T00:00:00Z") + i * 26 * HOUR;
    char buf[4096], buf2[4096];
    feed(w, &in, ts, 20, &ctx);
    emit(w, ts[19] - 30 * HOUR, false, buf, sizeof buf); /* days final, some merged */
    sl_buf sw = {0}, sr = {0};
    assert_int_equal(sl_window_snapshot(w, &sw, true), 0);
    assert_int_equal(sl_window_snapshot(r, &sr, true), 0);
    assert_int_equal(sl_window_restore(w2, sw.p, sw.n, true, &e), 0);
    assert_int_equal(sl_window_restore(r2, sr.p, sr.n, true, &e), 0);
    feed(w, &in, ts + 20, 20, &ctx);
    feed(w2, &in, ts + 20, 20, &ctx);
    emit(w, INT64_MIN, true, buf, sizeof buf);
    emit(w2, INT64_MIN, true, buf2, sizeof buf2);
    assert_string_equal(buf, buf2);
    emit(r, INT64_MIN, true, buf, sizeof buf);
    emit(r2, INT64_MIN, true, buf2, sizeof buf2);
    /* months start at New York midnight: 05:00Z in winter, 04:00Z in summer time */
    assert_string_equal(buf, "2024-02-01T05:00:00Z:10:1 2024-03-01T05:00:00Z:28:1 "
                             "2024-04-01T04:00:00Z:2:1 ");
    assert_string_equal(buf, buf2);
    sl_buf_free(&sw);
    sl_buf_free(&sr);
    sl_window_free(r);
    sl_window_free(r2);
    sl_window_free(w);
    sl_window_free(w2);
    sl_spec_free(s1);
    sl_spec_free(s2);
}

static void rollup_case(const char *win, const char *size, const char *err_part) {
    sl_schema in;
    in_schema(&in);
    sl_spec *spec;
    char y[512];
    snprintf(y, sizeof y, "{time: ts, keys: [k], " AGG ", %s}", win);
    sl_window *w = make_ok(y, &in, &spec);
    sl_error e = {0};
    sl_window *r = sl_window_create_rollup_size(w, size, &e);
    if (err_part) {
        if (r) fail_msg("%s -> %s accepted", win, size);
        if (!strstr(e.msg, err_part))
            fail_msg("%s -> %s: '%s' lacks '%s'", win, size, e.msg, err_part);
    } else if (!r) {
        fail_msg("%s -> %s refused: %s", win, size, e.msg);
    }
    sl_window_free(r);
    sl_window_free(w);
    sl_spec_free(spec);
}

static void test_rollups_made_and_refused(void **state) {
    (void)state;
    if (access("/usr/share/zoneinfo/Asia/Kolkata", R_OK)) skip();
    rollup_case("size: 1d, timezone: Europe/Berlin", "1mo", NULL);
    rollup_case("size: 1d, timezone: Europe/Berlin", "1w", NULL);
    rollup_case("size: 1h, timezone: Europe/Berlin", "1d", NULL);
    rollup_case("size: 5m, timezone: America/New_York", "1mo", NULL);
    rollup_case("size: 30m, timezone: Asia/Kolkata", "1d", NULL);
    rollup_case("size: 1h", "1d", NULL);
    rollup_case("size: 1d", "168h", NULL); /* 1d in UTC is 24h: a fixed rollup as before */
    rollup_case("size: 1h, timezone: Asia/Kolkata", "1d",
                "do not nest in the days of Asia/Kolkata");
    rollup_case("size: 7h", "1d", "whose size divides a day");
    rollup_case("size: 1h, slide: 30m", "1d", "hopping");
    rollup_case("size: 1w", "1mo", "only 1d windows roll up");
    rollup_case("size: 1d, timezone: Europe/Berlin", "1d", "only 1d windows roll up");
    rollup_case("size: 1d, timezone: Europe/Berlin", "48h", "a rollup of a 1d window is 1w");
    rollup_case("size: 1d", "2mo", "calendar windows are 1d, 1w or 1mo");
}

static void test_specs_refused(void **state) {
    (void)state;
    sl_schema in;
    in_schema(&in);
    static const struct {
        const char *yaml, *msg;
    } bad[] = {
        {"{time: ts, size: 1mo, slide: 1d, " AGG "}", "w.yaml:1:33: calendar windows (size 1mo)"},
        {"{time: ts, size: 3w, " AGG "}", "w.yaml:1:21: size '3w': calendar windows are"},
        {"{time: ts, size: 1fortnight, " AGG "}", "w.yaml:1:21: size '1fortnight': expected"},
        {"{time: ts, size: 1d, timezone: /etc/localtime, " AGG "}", "bad time zone name"},
        {"{time: ts, size: 1d, timezone: Europe/Atlantis, " AGG "}", "unknown time zone"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        sl_spec *spec;
        sl_error e = {0};
        sl_window *w = make(bad[i].yaml, &in, &spec, &e);
        if (w) fail_msg("accepted: %s", bad[i].yaml);
        if (!strstr(e.msg, bad[i].msg))
            fail_msg("%s: '%s' lacks '%s'", bad[i].yaml, e.msg, bad[i].msg);
        sl_spec_free(spec);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_berlin_day_final_at_local_midnight),
        cmocka_unit_test(test_late_update_own_length),
        cmocka_unit_test(test_week_starts_monday_and_month),
        cmocka_unit_test(test_utc_day_is_24h),
        cmocka_unit_test(test_snapshot_restore_with_rollup),
        cmocka_unit_test(test_rollups_made_and_refused),
        cmocka_unit_test(test_specs_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
