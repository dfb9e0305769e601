/*
 * test_watermark.c - the watermark operator (src/ops/watermark.c): per-
 * record event time and watermark, late and NULL-time rows, and restore from
 * a snapshot; far-future and out-of-range event times.
 *
 * Helpers shared with the other operator tests are in ops_test.h.
 */
#include "ops_test.h"

/* schema (id int, ts_ms int) + the watermark's event_ts */
static void wm_make(op_t *o, sl_schema *s, const char *late) {
    sl_schema_init(s);
    sl_schema_add(s, "id", SL_T_INT);
    sl_schema_add(s, "ts_ms", SL_T_INT);
    char arg[256];
    snprintf(arg, sizeof arg, "{time: \"from_unixtime_ms(ts_ms)\", delay: 10s%s%s}",
             late ? ", late: " : "", late ? late : "");
    op_ok(o, "watermark", arg, s, NULL);
}

static void wm_row(sl_batch *b, int64_t id, int64_t t_sec) {
    uint32_t r = add_row(b, id);
    sl_col_set_int(&b->col[0], r, id);
    sl_col_set_int(&b->col[1], r, (T0 + t_sec * SEC) / SL_US_PER_MS);
    b->ingest[r] = T0 + t_sec * SEC + 500000;
}

static void test_watermark_per_record(void **state) {
    (void)state;
    op_t o;
    sl_schema s;
    wm_make(&o, &s, NULL); /* default: quarantine */
    int ev = sl_schema_find(&s, "event_ts");
    assert_true(ev >= 0);
    assert_int_equal(s.f[ev].type, SL_T_TS);
    sl_batch *b = sl_batch_new(&s, 16);
    /* in input order: 100 (max 100, wm 90), 95 ok, 200 (wm 190), 185 late, 91 late,
     * 190 ok (exactly at the watermark), 150 late */
    int64_t ts[] = {100, 95, 200, 185, 91, 190, 150};
    for (int i = 0; i < 7; i++)
        wm_row(b, i, ts[i]);
    sl_op_ctx ctx;
    ctx_init(&ctx);
    sl_error err = {0};
    assert_int_equal(o.def->process(o.self, b, &ctx, &err), 0);
    assert_int_equal(b->n, 4);
    assert_true(has_pos(b, 0) && has_pos(b, 1) && has_pos(b, 2) && has_pos(b, 5));
    assert_int_equal(b->col[ev].v.i[0], T0 + 100 * SEC);
    assert_int_equal(Q.n, 3);
    assert_int_equal(Q.pos[0], 3);
    assert_int_equal(Q.pos[1], 4);
    assert_int_equal(Q.pos[2], 6);
    assert_non_null(strstr(Q.reason[0], "late"));
    assert_int_equal(ctx.late, 3);
    assert_int_equal(ctx.quarantined, 3);
    assert_int_equal(ctx.dropped, 0);
    assert_int_equal(ctx.max_event_time, T0 + 200 * SEC);
    assert_int_equal(ctx.watermark, T0 + 190 * SEC);
    assert_int_equal(ctx.lag_n, 4);
    assert_int_equal(ctx.lag_max_us, 500000);
    assert_int_equal(stat_num(&o, "late"), 3);

    /* the same records one per batch make the same decisions */
    op_t o2;
    sl_schema s2;
    wm_make(&o2, &s2, NULL);
    sl_op_ctx c2;
    ctx_init(&c2);
    int kept = 0;
    for (int i = 0; i < 7; i++) {
        sl_batch_clear(b);
        wm_row(b, i, ts[i]);
        assert_int_equal(o2.def->process(o2.self, b, &c2, &err), 0);
        kept += (int)b->n;
    }
    assert_int_equal(kept, 4);
    assert_int_equal(c2.late, 3);
    sl_batch_free(b);
    op_free(&o);
    op_free(&o2);
}

static void test_watermark_drop_and_null_time(void **state) {
    (void)state;
    op_t o;
    sl_schema s;
    wm_make(&o, &s, "drop");
    sl_batch *b = sl_batch_new(&s, 16);
    wm_row(b, 0, 100);
    wm_row(b, 1, 80); /* late */
    add_row(b, 2);    /* NULL time */
    wm_row(b, 3, 101);
    sl_op_ctx ctx;
    ctx_init(&ctx);
    sl_error err = {0};
    assert_int_equal(o.def->process(o.self, b, &ctx, &err), 0);
    assert_int_equal(b->n, 2);
    assert_true(has_pos(b, 0) && has_pos(b, 3));
    assert_int_equal(Q.n, 0);
    assert_int_equal(ctx.dropped, 2);
    assert_int_equal(ctx.quarantined, 0);
    assert_int_equal(ctx.watermark, T0 + 91 * SEC);
    sl_batch_free(b);
    op_free(&o);

    /* quarantine mode sends the NULL-time row with its reason */
    wm_make(&o, &s, "quarantine");
    b = sl_batch_new(&s, 4);
    add_row(b, 7);
    ctx_init(&ctx);
    assert_int_equal(o.def->process(o.self, b, &ctx, &err), 0);
    assert_int_equal(b->n, 0);
    assert_int_equal(Q.n, 1);
    assert_int_equal(Q.pos[0], 7);
    assert_string_equal(Q.reason[0], "no event time: the time expression gave NULL (a NULL "
                                     "input, or an epoch number out of range)");
    assert_int_equal(ctx.watermark, INT64_MIN); /* no event time seen: no watermark */
    sl_batch_free(b);
    op_free(&o);

    sl_error e2 = {0};
    sl_schema_init(&s);
    sl_schema_add(&s, "ts_ms", SL_T_INT);
    assert_int_not_equal(op_make(&o, "watermark", "{time: ts_ms, delay: 10s}", &s, NULL, &e2), 0);
    assert_non_null(strstr(e2.msg, "timestamp"));
    memset(&e2, 0, sizeof e2);
    assert_int_not_equal(
        op_make(&o, "watermark", "{time: \"from_unixtime_ms(ts_ms)\"}", &s, NULL, &e2), 0);
    assert_non_null(strstr(e2.msg, "delay"));
}

static void test_watermark_restore(void **state) {
    (void)state;
    op_t o;
    sl_schema s;
    wm_make(&o, &s, "quarantine");
    sl_batch *b = sl_batch_new(&s, 16);
    wm_row(b, 0, 100);
    wm_row(b, 1, 300);
    sl_op_ctx ctx;
    ctx_init(&ctx);
    sl_error err = {0};
    assert_int_equal(o.def->process(o.self, b, &ctx, &err), 0);
    sl_buf buf = {0};
    assert_int_equal(o.def->snapshot(o.self, &buf, false), 0);

    op_t o2;
    sl_schema s2;
    wm_make(&o2, &s2, "quarantine");
    assert_int_equal(o2.def->restore(o2.self, buf.p, buf.n, false, &err), 0);
    assert_int_equal(stat_num(&o2, "late"), 0);
    /* the engine publishes the restored watermark with an empty batch */
    sl_op_ctx c2;
    ctx_init(&c2);
    sl_batch_clear(b);
    assert_int_equal(o2.def->process(o2.self, b, &c2, &err), 0);
    assert_int_equal(c2.watermark, T0 + 290 * SEC);
    assert_int_equal(c2.max_event_time, T0 + 300 * SEC);
    /* the first record after the restart is judged against the restored watermark */
    wm_row(b, 2, 289);
    wm_row(b, 3, 290);
    assert_int_equal(o2.def->process(o2.self, b, &c2, &err), 0);
    assert_int_equal(b->n, 1);
    assert_int_equal(b->pos[0], 3);
    assert_int_equal(Q.n, 1);
    assert_int_equal(Q.pos[0], 2);
    assert_int_equal(o2.def->restore(o2.self, buf.p, 3, false, &err), SL_ECORRUPT);
    sl_buf_free(&buf);
    sl_batch_free(b);
    op_free(&o);
    op_free(&o2);
}

/* A record dated 2100 is quarantined as future and never moves the watermark;
 * epoch numbers out of range get a reason that says so. */
static void test_watermark_future_and_out_of_range(void **state) {
    (void)state;
    op_t o;
    sl_schema s;
    wm_make(&o, &s, "drop"); /* future records are quarantined whatever `late` says */
    sl_batch *b = sl_batch_new(&s, 16);
    wm_row(b, 0, 100);
    uint32_t r = add_row(b, 1); /* 2100-01-01T00:00:00Z */
    sl_col_set_int(&b->col[0], r, 1);
    sl_col_set_int(&b->col[1], r, INT64_C(4102444800000));
    b->ingest[r] = T0;
    wm_row(b, 2, 101);             /* not late: the 2100 record did not move the watermark */
    wm_row(b, 3, 86400 + 200);     /* within 1d of the processing time T0 + 300 */
    wm_row(b, 4, 86400 + 300 + 1); /* 1d + 1s after: future */
    r = add_row(b, 5);             /* from_unixtime_ms(INT64_MAX): overflow, NULL */
    sl_col_set_int(&b->col[0], r, 5);
    sl_col_set_int(&b->col[1], r, INT64_MAX);
    sl_op_ctx ctx;
    ctx_init(&ctx);
    ctx.now_us = T0 + 300 * SEC;
    sl_error err = {0};
    assert_int_equal(o.def->process(o.self, b, &ctx, &err), 0);
    assert_int_equal(b->n, 3);
    assert_true(has_pos(b, 0) && has_pos(b, 2) && has_pos(b, 3));
    assert_int_equal(Q.n, 2);
    assert_int_equal(Q.pos[0], 1);
    assert_string_equal(Q.reason[0], "future: event time 2100-01-01T00:00:00.000Z is more than 1d "
                                     "after the processing time 2026-03-01T10:05:00.000Z");
    assert_int_equal(Q.pos[1], 4);
    assert_non_null(strstr(Q.reason[1], "future: "));
    assert_int_equal(ctx.quarantined, 2);
    assert_int_equal(ctx.late, 1); /* the NULL one, dropped by late: drop */
    assert_int_equal(ctx.dropped, 1);
    assert_int_equal(ctx.max_event_time, T0 + (86400 + 200) * SEC);
    assert_int_equal(stat_num(&o, "future"), 2);
    sl_batch_free(b);
    op_free(&o);

    /* max_future is an option; negative epochs before the year 1 have their reason */
    sl_schema_init(&s);
    sl_schema_add(&s, "id", SL_T_INT);
    sl_schema_add(&s, "ts_ms", SL_T_INT);
    op_ok(&o, "watermark", "{time: \"from_unixtime_ms(ts_ms)\", delay: 10s, max_future: 1h}", &s,
          NULL);
    b = sl_batch_new(&s, 16);
    wm_row(b, 0, 3600 + 301); /* 1h + 1s after now */
    r = add_row(b, 1);
    sl_col_set_int(&b->col[0], r, 1);
    sl_col_set_int(&b->col[1], r, INT64_C(-1000000000000000)); /* year -29719 */
    wm_row(b, 2, 3600 + 300);
    ctx_init(&ctx);
    ctx.now_us = T0 + 300 * SEC;
    assert_int_equal(o.def->process(o.self, b, &ctx, &err), 0);
    assert_int_equal(b->n, 1);
    assert_true(has_pos(b, 2));
    assert_int_equal(Q.n, 2);
    assert_non_null(strstr(Q.reason[0], "is more than 1h after the processing time"));
    assert_non_null(strstr(Q.reason[1], "no event time: the time expression gave "
                                        "-1000000000000000000 us since 1970, before the year 1"));
    assert_int_equal(ctx.quarantined, 2);
    assert_int_equal(ctx.late, 1);
    sl_batch_free(b);
    op_free(&o);

    sl_error e2 = {0};
    assert_int_not_equal(op_make(&o, "watermark",
                                 "{time: \"from_unixtime_ms(ts_ms)\", delay: 1s, max_future: 0s}",
                                 &s, NULL, &e2),
                         0);
    assert_non_null(strstr(e2.msg, "max_future"));
}

int main(void) {
    sl_log_set_level(SL_LOG_WARN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_watermark_per_record),
        cmocka_unit_test(test_watermark_drop_and_null_time),
        cmocka_unit_test(test_watermark_restore),
        cmocka_unit_test(test_watermark_future_and_out_of_range),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
