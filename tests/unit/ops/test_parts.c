/*
 * test_parts.c - partitioned state (op.h): dedupe and window keep their state
 * per partition (the _part column), and a partition's state can be written
 * alone, added to another operator's state, or dropped. This is what moves a
 * partition between instances (engine/run.c, "partitioned state"). Checked:
 *   - the same key in two partitions is two keys (dedupe) / two groups (window);
 *   - restore_parts of a full snapshot adds exactly one partition's state and
 *     keeps what the operator held; the added window groups are dirty;
 *   - snapshot_parts writes one partition alone, and a delta chain restores
 *     filtered too;
 *   - drop_parts forgets one partition and nothing else;
 *   - a snapshot with tags is refused by an operator without partitions;
 *   - the same for anomaly baselines, health trends and scd2 versions (keyed_parts).
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
#include "ops/op.h"
#include "ops/window.h"
#include "spec/spec.h"

#define T0 1767225600000000LL /* 2026-01-01T00:00:00Z */
#define SEC 1000000LL

extern const sl_op_def sl_op_dedupe, sl_op_anomaly, sl_op_health, sl_op_scd2;

static sl_schema in_schema(void) {
    sl_schema in;
    sl_schema_init(&in);
    sl_schema_add(&in, "ts", SL_T_TS);
    sl_schema_add(&in, "id", SL_T_INT);
    sl_schema_add(&in, "_part", SL_T_STRING);
    return in;
}

/* rows (id, partition name) at T0 + i seconds */
static sl_batch *rows(const sl_schema *s, const int64_t *ids, const char *const *parts, int n) {
    sl_batch *b = sl_batch_new(s, 64);
    for (int i = 0; i < n; i++) {
        uint32_t r = sl_batch_append_null_row(b);
        sl_col_set_int(&b->col[0], r, T0 + i * SEC);
        sl_col_set_int(&b->col[1], r, ids[i]);
        sl_col_set_str(&b->col[2], r, parts[i], (uint32_t)strlen(parts[i]));
    }
    return b;
}

static sl_spec *spec_of(const char *doc) {
    sl_error e = {0};
    sl_spec *sp = sl_spec_load_mem("t.yaml", doc, strlen(doc), NULL, &e);
    if (!sp) fail_msg("%s", e.msg);
    return sp;
}

static void *dedupe_new(sl_spec *sp, sl_schema *s, const char *part_column) {
    sl_op_env env = {"t", ".", part_column};
    void *self = NULL;
    sl_error e = {0};
    if (sl_op_dedupe.create(sl_node_get(sl_spec_root(sp), "d"), s, &env, &self, &e))
        fail_msg("%s", e.msg);
    return self;
}

/* kept rows of a batch of (id, part) through dedupe */
static uint32_t run_dedupe(void *self, const sl_schema *s, const int64_t *ids,
                           const char *const *parts, int n) {
    sl_batch *b = rows(s, ids, parts, n);
    sl_op_ctx ctx = {0};
    ctx.watermark = INT64_MIN;
    sl_error e = {0};
    assert_int_equal(sl_op_dedupe.process(self, b, &ctx, &e), 0);
    uint32_t kept = b->n;
    sl_batch_free(b);
    return kept;
}

static uint64_t tag(const char *p) { return sl_part_tag(p, strlen(p)); }

static void test_dedupe_parts(void **state) {
    (void)state;
    sl_spec *sp = spec_of("d: {key: id, horizon: 1h, time: ts}\n");
    sl_schema s = in_schema();
    void *a = dedupe_new(sp, &s, "_part");
    const int64_t ids[] = {1, 2, 1, 2, 3};
    const char *const parts[] = {"t/0", "t/0", "t/1", "t/1", "t/1"};
    /* the same id in two partitions: two keys, nothing dropped */
    assert_int_equal(run_dedupe(a, &s, ids, parts, 5), 5);
    sl_buf full = {0};
    sl_op_dedupe.snapshot(a, &full, true);
    /* t/0 alone into a fresh operator that already holds id 9 of t/2 */
    void *b = dedupe_new(sp, &s, "_part");
    const int64_t nine[] = {9};
    const char *const t2[] = {"t/2"};
    assert_int_equal(run_dedupe(b, &s, nine, t2, 1), 1);
    uint64_t t0 = tag("t/0");
    sl_part_set only0 = {&t0, 1};
    sl_error e = {0};
    assert_int_equal(sl_op_dedupe.restore_parts(b, full.p, full.n, true, &only0, &e), 0);
    const char *const p0[] = {"t/0", "t/0", "t/2"};
    const char *const p1[] = {"t/1", "t/1", "t/1"};
    const int64_t again[] = {1, 2, 9};
    assert_int_equal(run_dedupe(b, &s, again, p0, 2), 0);         /* t/0's ids: duplicates now */
    assert_int_equal(run_dedupe(b, &s, again + 2, p0 + 2, 1), 0); /* t/2's id 9 still held */
    assert_int_equal(run_dedupe(b, &s, again, p1, 2), 2);         /* t/1 was not restored */
    /* drop t/0 from a: t/0's ids are new again, t/1's are still duplicates */
    sl_op_dedupe.drop_parts(a, &only0);
    assert_int_equal(run_dedupe(a, &s, ids, parts, 2), 2);
    assert_int_equal(run_dedupe(a, &s, ids + 2, parts + 2, 3), 0);
    /* snapshot_parts: t/1 alone, restored into a fresh operator */
    uint64_t t1 = tag("t/1");
    sl_part_set only1 = {&t1, 1};
    sl_buf one = {0};
    sl_op_dedupe.snapshot_parts(a, &one, &only1);
    void *c = dedupe_new(sp, &s, "_part");
    assert_int_equal(sl_op_dedupe.restore_parts(c, one.p, one.n, true, &only1, &e), 0);
    assert_int_equal(run_dedupe(c, &s, ids + 2, parts + 2, 3), 0);
    assert_int_equal(run_dedupe(c, &s, ids, parts, 2), 2);
    /* a delta chain restores filtered: full (before) + delta (id 7 of t/1) */
    sl_buf f2 = {0}, d2 = {0};
    sl_op_dedupe.snapshot(c, &f2, true);
    const int64_t seven[] = {7, 8};
    const char *const p10[] = {"t/1", "t/0"};
    assert_int_equal(run_dedupe(c, &s, seven, p10, 2), 2);
    sl_op_dedupe.snapshot(c, &d2, false);
    void *d = dedupe_new(sp, &s, "_part");
    assert_int_equal(sl_op_dedupe.restore_parts(d, f2.p, f2.n, true, &only1, &e), 0);
    assert_int_equal(sl_op_dedupe.restore_parts(d, d2.p, d2.n, false, &only1, &e), 0);
    assert_int_equal(run_dedupe(d, &s, seven, p10, 2), 1); /* 7 of t/1 held; 8 of t/0 not */
    /* an operator without partitions refuses a tagged snapshot */
    sl_schema s2 = in_schema();
    void *plain = dedupe_new(sp, &s2, NULL);
    assert_int_not_equal(sl_op_dedupe.restore(plain, full.p, full.n, true, &e), 0);
    assert_non_null(strstr(e.msg, "partitioned_state"));
    sl_buf_free(&full);
    sl_buf_free(&one);
    sl_buf_free(&f2);
    sl_buf_free(&d2);
    sl_op_dedupe.destroy(a);
    sl_op_dedupe.destroy(b);
    sl_op_dedupe.destroy(c);
    sl_op_dedupe.destroy(d);
    sl_op_dedupe.destroy(plain);
    sl_spec_free(sp);
}

/* count of the emitted group of partition p (-1: none) and whether any row was emitted */
static int64_t emitted_count(sl_window *w, const char *p, uint32_t *nrows) {
    sl_batch *out = sl_batch_new(sl_window_schema(w), 64);
    const sl_schema *os = sl_window_schema(w);
    int pc = sl_schema_find(os, "_part"), nc = sl_schema_find(os, "n");
    int64_t got = -1;
    *nrows = 0;
    uint32_t k;
    while ((k = sl_window_emit(w, out, INT64_MIN, false)) > 0) {
        *nrows += k;
        for (uint32_t r = 0; r < out->n; r++)
            if (out->col[pc].v.s[r].len == strlen(p) &&
                !memcmp(out->col[pc].v.s[r].ptr, p, strlen(p)))
                got = out->col[nc].v.i[r];
    }
    sl_batch_free(out);
    return got;
}

static void test_window_parts(void **state) {
    (void)state;
    sl_spec *sp = spec_of(
        "w: {time: ts, size: 1h, aggregates: {n: \"count(*)\", ids: \"count_distinct(id)\"}}\n");
    sl_schema s = in_schema();
    sl_error e = {0};
    sl_window *a = sl_window_create_part(sl_node_get(sl_spec_root(sp), "w"), &s, "_part", &e);
    assert_non_null(a);
    assert_true(sl_schema_find(sl_window_schema(a), "_part") >= 0);
    const int64_t ids[] = {1, 2, 1, 2, 3};
    const char *const parts[] = {"t/0", "t/0", "t/1", "t/1", "t/1"};
    sl_batch *b = rows(&s, ids, parts, 5);
    sl_op_ctx ctx = {0};
    ctx.watermark = INT64_MIN;
    assert_int_equal(sl_window_process(a, b, &ctx), 0);
    assert_int_equal(sl_window_groups(a), 2); /* one window, one group per partition */
    uint32_t nrows;
    assert_int_equal(emitted_count(a, "t/1", &nrows), 3);
    assert_int_equal(nrows, 2);
    sl_buf full = {0};
    sl_window_snapshot(a, &full, true);
    /* add t/1's group to a window holding a t/2 group */
    sl_window *c = sl_window_create_part(sl_node_get(sl_spec_root(sp), "w"), &s, "_part", &e);
    const int64_t nine[] = {9};
    const char *const t2[] = {"t/2"};
    sl_batch *b2 = rows(&s, nine, t2, 1);
    assert_int_equal(sl_window_process(c, b2, &ctx), 0);
    assert_int_equal(emitted_count(c, "t/2", &nrows), 1);
    uint64_t t1 = tag("t/1");
    sl_part_set only1 = {&t1, 1};
    assert_int_equal(sl_window_restore_parts(c, full.p, full.n, true, &only1, &e), 0);
    assert_int_equal(sl_window_groups(c), 2);
    assert_int_equal(emitted_count(c, "t/1", &nrows), 3); /* restored groups are dirty */
    assert_int_equal(nrows, 1);                           /* t/2's was emitted already */
    /* restoring the same partition again adds nothing */
    assert_int_equal(sl_window_restore_parts(c, full.p, full.n, true, &only1, &e), 0);
    assert_int_equal(sl_window_groups(c), 2);
    /* snapshot_parts + drop_parts */
    sl_buf one = {0};
    sl_window_snapshot_parts(c, &one, &only1);
    sl_window_drop_parts(c, &only1);
    assert_int_equal(sl_window_groups(c), 1);
    sl_window *d = sl_window_create_part(sl_node_get(sl_spec_root(sp), "w"), &s, "_part", &e);
    assert_int_equal(sl_window_restore_parts(d, one.p, one.n, true, &only1, &e), 0);
    assert_int_equal(sl_window_groups(d), 1);
    assert_int_equal(emitted_count(d, "t/1", &nrows), 3);
    /* an unfiltered restore replaces everything */
    assert_int_equal(sl_window_restore(c, full.p, full.n, true, &e), 0);
    assert_int_equal(sl_window_groups(c), 2);
    sl_buf_free(&full);
    sl_buf_free(&one);
    sl_batch_free(b);
    sl_batch_free(b2);
    sl_window_free(a);
    sl_window_free(c);
    sl_window_free(d);
    sl_spec_free(sp);
}

/* ---- anomaly and health: per-key baselines --------------------------------- */

static sl_schema keyed_schema(void) {
    sl_schema in;
    sl_schema_init(&in);
    sl_schema_add(&in, "ts", SL_T_TS);
    sl_schema_add(&in, "k", SL_T_STRING);
    sl_schema_add(&in, "_part", SL_T_STRING);
    sl_schema_add(&in, "x", SL_T_DOUBLE);
    return in;
}

typedef struct {
    const sl_op_def *def;
    sl_spec *sp;
    const char *out;   /* the column that shows the key's history */
    const char *fresh; /* its value for a key without history */
} keyed_case;

static void *keyed_new(const keyed_case *kc, sl_schema *s, const char *part_column) {
    sl_op_env env = {"t", ".", part_column};
    void *self = NULL;
    sl_error e = {0};
    *s = keyed_schema();
    if (kc->def->create(sl_node_get(sl_spec_root(kc->sp), "op"), s, &env, &self, &e))
        fail_msg("%s", e.msg);
    return self;
}

/* one row (key k) of partition p at T0 + t seconds with value x; returns the
 * output column of that row as text ("NULL" when null) */
static const char *keyed_row(const keyed_case *kc, void *self, const sl_schema *s, const char *p,
                             int t, double x, char *buf, size_t cap) {
    sl_batch *b = sl_batch_new(s, 4);
    uint32_t r = sl_batch_append_null_row(b);
    sl_col_set_int(&b->col[0], r, T0 + t * SEC);
    sl_col_set_str(&b->col[1], r, "k", 1);
    sl_col_set_str(&b->col[2], r, p, (uint32_t)strlen(p));
    sl_col_set_double(&b->col[3], r, x);
    sl_op_ctx ctx = {0};
    ctx.watermark = INT64_MIN;
    sl_error e = {0};
    assert_int_equal(kc->def->process(self, b, &ctx, &e), 0);
    const sl_column *c = &b->col[sl_schema_find(s, kc->out)];
    if (c->null[0])
        snprintf(buf, cap, "NULL");
    else if (c->type == SL_T_STRING)
        snprintf(buf, cap, "%.*s", (int)c->v.s[0].len, c->v.s[0].ptr);
    else if (c->type == SL_T_INT)
        snprintf(buf, cap, "%lld", (long long)c->v.i[0]);
    else
        snprintf(buf, cap, "%.6f", c->v.d[0]);
    sl_batch_free(b);
    return buf;
}

static size_t keyed_keys(const keyed_case *kc, void *self) {
    char st[600];
    sl_op_stats_json(kc->def, self, st, sizeof st);
    const char *k = strstr(st, "\"keys\":");
    assert_non_null(k);
    return (size_t)strtoull(k + 7, NULL, 10);
}

static void keyed_parts(const keyed_case *kc) {
    sl_schema sa, sc, sd, sp2;
    char b1[64], b2[64];
    void *a = keyed_new(kc, &sa, "_part");
    for (int t = 0; t < 6; t++) {
        keyed_row(kc, a, &sa, "t/0", t, 10 + t, b1, sizeof b1);
        keyed_row(kc, a, &sa, "t/1", t, 100 + 3 * t, b1, sizeof b1);
    }
    assert_int_equal(keyed_keys(kc, a), 2); /* key k in two partitions: two baselines */
    sl_buf full = {0};
    kc->def->snapshot(a, &full, true);
    /* t/0 alone into a fresh operator: its history is there, t/1's is not */
    void *c = keyed_new(kc, &sc, "_part");
    uint64_t t0 = tag("t/0"), t1 = tag("t/1");
    sl_part_set only0 = {&t0, 1}, only1 = {&t1, 1};
    sl_error e = {0};
    assert_int_equal(kc->def->restore_parts(c, full.p, full.n, true, &only0, &e), 0);
    assert_int_equal(keyed_keys(kc, c), 1);
    keyed_row(kc, a, &sa, "t/0", 10, 16, b1, sizeof b1);
    keyed_row(kc, c, &sc, "t/0", 10, 16, b2, sizeof b2);
    assert_string_not_equal(b1, kc->fresh);
    assert_string_equal(b1, b2);
    assert_string_equal(keyed_row(kc, c, &sc, "t/1", 10, 200, b2, sizeof b2), kc->fresh);
    /* drop t/0 from a: its history is gone, t/1's stays */
    kc->def->drop_parts(a, &only0);
    assert_int_equal(keyed_keys(kc, a), 1);
    /* snapshot_parts of t/1 into a third operator: the same history as a's */
    sl_buf one = {0};
    kc->def->snapshot_parts(a, &one, &only1);
    void *d = keyed_new(kc, &sd, "_part");
    assert_int_equal(kc->def->restore_parts(d, one.p, one.n, true, &only1, &e), 0);
    keyed_row(kc, a, &sa, "t/1", 10, 150, b1, sizeof b1);
    keyed_row(kc, d, &sd, "t/1", 10, 150, b2, sizeof b2);
    assert_string_not_equal(b1, kc->fresh);
    assert_string_equal(b1, b2);
    assert_string_equal(keyed_row(kc, a, &sa, "t/0", 11, 16, b1, sizeof b1), kc->fresh);
    /* the full snapshot after a drop holds only what is left */
    sl_buf after = {0};
    kc->def->snapshot(a, &after, true);
    void *f = keyed_new(kc, &sp2, "_part");
    assert_int_equal(kc->def->restore(f, after.p, after.n, true, &e), 0);
    assert_int_equal(keyed_keys(kc, f), 2); /* t/1, and t/0 re-created by the last probe */
    /* an operator without partitions refuses the tagged snapshot, and the reverse */
    sl_schema sn;
    void *plain = keyed_new(kc, &sn, NULL);
    assert_int_not_equal(kc->def->restore(plain, full.p, full.n, true, &e), 0);
    assert_non_null(strstr(e.msg, "partitioned_state"));
    sl_buf pl = {0};
    kc->def->snapshot(plain, &pl, true);
    assert_int_not_equal(kc->def->restore(f, pl.p, pl.n, true, &e), 0);
    sl_buf_free(&full);
    sl_buf_free(&one);
    sl_buf_free(&after);
    sl_buf_free(&pl);
    kc->def->destroy(a);
    kc->def->destroy(c);
    kc->def->destroy(d);
    kc->def->destroy(f);
    kc->def->destroy(plain);
}

static void test_anomaly_parts(void **state) {
    (void)state;
    keyed_case kc = {&sl_op_anomaly,
                     spec_of("op: {value: x, key: [k], time: ts, baseline: {method: window, size: "
                             "4, min: 2}, rules: {zscore: 3}}\n"),
                     "baseline_mean", "NULL"};
    keyed_parts(&kc);
    sl_spec_free(kc.sp);
    keyed_case ew = {&sl_op_anomaly,
                     spec_of("op: {value: x, key: [k], time: ts, baseline: {method: ewma, alpha: "
                             "0.3, min: 2}, rules: {zscore: 3}}\n"),
                     "baseline_mean", "NULL"};
    keyed_parts(&ew);
    sl_spec_free(ew.sp);
}

static void test_health_parts(void **state) {
    (void)state;
    keyed_case kc = {&sl_op_health,
                     spec_of("op: {key: [k], time: ts, components: [{name: v, value: x, penalties: "
                             "[{above: 12, penalty: 7}, {above: 100, penalty: 30}]}],"
                             " trend: {window: 3, tolerance: 0.5}}\n"),
                     "health_trend", "NULL"};
    keyed_parts(&kc);
    sl_spec_free(kc.sp);
}

static void test_scd2_parts(void **state) {
    (void)state;
    /* a changed row's first output row is the version it closes (n for a key
     * with n versions), or version 1 when the key has no history */
    keyed_case kc = {&sl_op_scd2, spec_of("op: {key: [k], track: [x], time: ts}\n"), "version",
                     "1"};
    keyed_parts(&kc);
    sl_spec_free(kc.sp);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dedupe_parts),  cmocka_unit_test(test_window_parts),
        cmocka_unit_test(test_anomaly_parts), cmocka_unit_test(test_health_parts),
        cmocka_unit_test(test_scd2_parts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
