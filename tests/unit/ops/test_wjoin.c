/*
 * test_wjoin.c - the window-window join (wjoin.h):
 *   - a pair is emitted once both sides' final rows came, in either order;
 *     rows of open windows (is_final false) are ignored;
 *   - a missing side is given up when ITS watermark reaches window end:
 *     how: left emits the left row with NULL right columns, how: inner emits
 *     nothing, a right-only pair is never emitted; before that nothing comes;
 *   - emission is in (window_start, _group) order across calls limited by
 *     out->cap, with strings that outlive the input batches;
 *   - a full snapshot plus deltas restores the same pending pairs (the same
 *     rows come out); damaged snapshots and snapshots of other input
 *     columns are refused;
 *   - load errors: a name collision names both columns, key types differ,
 *     an input without is_final.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/batch.h"
#include "ops/op.h"
#include "ops/wjoin.h"
#include "spec/spec.h"

#define T0 1767225600000000LL /* 2026-01-01T00:00:00Z */
#define MIN (60 * 1000000LL)
#define SIZE (5 * MIN)

static sl_schema left_schema(void) {
    sl_schema s;
    sl_schema_init(&s);
    sl_schema_add(&s, "window_start", SL_T_TS);
    sl_schema_add(&s, "entity_id", SL_T_STRING);
    sl_schema_add(&s, "samples", SL_T_INT);
    sl_schema_add(&s, "score", SL_T_DOUBLE);
    sl_schema_add(&s, "is_final", SL_T_BOOL);
    sl_schema_add(&s, "_group", SL_T_INT);
    return s;
}

static sl_schema right_schema(void) {
    sl_schema s;
    sl_schema_init(&s);
    sl_schema_add(&s, "window_start", SL_T_TS);
    sl_schema_add(&s, "entity_id", SL_T_STRING);
    sl_schema_add(&s, "critical_events", SL_T_INT);
    sl_schema_add(&s, "note", SL_T_STRING);
    sl_schema_add(&s, "is_final", SL_T_BOOL);
    sl_schema_add(&s, "_version", SL_T_INT);
    sl_schema_add(&s, "_group", SL_T_INT);
    return s;
}

typedef struct {
    sl_spec *spec;
    sl_wjoin *j;
    sl_schema l, r;
    sl_batch *lb, *rb, *out;
} fx;

static sl_wjoin *make(fx *f, const char *yaml, sl_error *e) {
    char doc[1024];
    snprintf(doc, sizeof doc, "join: %s\n", yaml);
    f->spec = sl_spec_load_mem("t.yaml", doc, strlen(doc), NULL, e);
    assert_non_null(f->spec);
    return sl_wjoin_create(sl_node_get(sl_spec_root(f->spec), "join"), &f->l, &f->r, SIZE, e);
}

static fx *fx_new(const char *yaml) {
    fx *f = calloc(1, sizeof *f);
    f->l = left_schema(), f->r = right_schema();
    sl_error e = {0};
    f->j = make(f, yaml, &e);
    if (!f->j) fail_msg("create: %s", e.msg);
    f->lb = sl_batch_new(&f->l, 64);
    f->rb = sl_batch_new(&f->r, 64);
    f->out = sl_batch_new(sl_wjoin_schema(f->j), 64);
    return f;
}

static void fx_free(fx *f) {
    sl_wjoin_free(f->j);
    sl_spec_free(f->spec);
    sl_batch_free(f->lb);
    sl_batch_free(f->rb);
    sl_batch_free(f->out);
    free(f);
}

/* Strings are copied into the batch's arena, so the test's buffers can be reused. */
static void left_row(fx *f, int64_t ws, const char *id, int64_t samples, double score, bool final) {
    sl_batch *b = f->lb;
    uint32_t r = sl_batch_append_null_row(b);
    sl_col_set_int(&b->col[0], r, ws);
    sl_col_set_str(&b->col[1], r, sl_arena_strdup(b->arena, id, strlen(id)), (uint32_t)strlen(id));
    sl_col_set_int(&b->col[2], r, samples);
    sl_col_set_double(&b->col[3], r, score);
    sl_col_set_bool(&b->col[4], r, final);
    sl_col_set_int(&b->col[5], r, 12345);
}

static void right_row(fx *f, int64_t ws, const char *id, int64_t crit, const char *note,
                      bool final) {
    sl_batch *b = f->rb;
    uint32_t r = sl_batch_append_null_row(b);
    sl_col_set_int(&b->col[0], r, ws);
    sl_col_set_str(&b->col[1], r, sl_arena_strdup(b->arena, id, strlen(id)), (uint32_t)strlen(id));
    sl_col_set_int(&b->col[2], r, crit);
    if (note)
        sl_col_set_str(&b->col[3], r, sl_arena_strdup(b->arena, note, strlen(note)),
                       (uint32_t)strlen(note));
    sl_col_set_bool(&b->col[4], r, final);
    sl_col_set_int(&b->col[5], r, 1);
    sl_col_set_int(&b->col[6], r, 777);
}

static void feed(fx *f) {
    sl_wjoin_process(f->j, SL_WJOIN_LEFT, f->lb);
    sl_wjoin_process(f->j, SL_WJOIN_RIGHT, f->rb);
    sl_batch_clear(f->lb); /* the join must not keep views into them */
    sl_batch_clear(f->rb);
    memset(f->lb->col[1].v.s, 0, 64 * sizeof(sl_str));
    memset(f->rb->col[1].v.s, 0, 64 * sizeof(sl_str));
}

static int col(const fx *f, const char *name) {
    int c = sl_schema_find(sl_wjoin_schema(f->j), name);
    assert_true(c >= 0);
    return c;
}

static int64_t pending(const fx *f) {
    sl_wjoin_stats st;
    sl_wjoin_get_stats(f->j, &st);
    return st.pending;
}

static void test_schema(void **state) {
    (void)state;
    fx *f = fx_new("{left: l, right: r, on: entity_id}");
    const sl_schema *s = sl_wjoin_schema(f->j);
    const char *want[] = {"window_start",    "entity_id", "samples",  "score",
                          "critical_events", "note",      "is_final", "_group"};
    assert_int_equal(s->n, 8);
    for (int i = 0; i < 8; i++)
        assert_string_equal(s->f[i].name, want[i]);
    fx_free(f);
    f = fx_new("{left: l, right: r, on: [entity_id], right_columns: {crit: critical_events}}");
    s = sl_wjoin_schema(f->j);
    assert_int_equal(s->n, 7); /* window_start, entity_id, samples, score, crit, is_final, _group */
    assert_string_equal(s->f[4].name, "crit");
    fx_free(f);
}

static void check_joined(fx *f, uint32_t r, int64_t ws, const char *id, int64_t samples,
                         int64_t crit) {
    sl_batch *o = f->out;
    assert_int_equal(o->col[col(f, "window_start")].v.i[r], ws);
    sl_str s = o->col[col(f, "entity_id")].v.s[r];
    assert_int_equal(s.len, strlen(id));
    assert_memory_equal(s.ptr, id, s.len);
    assert_int_equal(o->col[col(f, "samples")].v.i[r], samples);
    if (crit < 0) {
        assert_true(o->col[col(f, "critical_events")].null[r]);
        assert_true(o->col[col(f, "note")].null[r]);
    } else {
        assert_false(o->col[col(f, "critical_events")].null[r]);
        assert_int_equal(o->col[col(f, "critical_events")].v.i[r], crit);
    }
    assert_true(o->col[col(f, "is_final")].v.b[r]);
    assert_false(o->col[col(f, "_group")].null[r]);
}

static void test_both_orders(void **state) {
    (void)state;
    fx *f = fx_new("{left: l, right: r, on: entity_id}");
    /* left first for a, right first for b; open rows are ignored */
    left_row(f, T0, "a", 10, 0.5, true);
    left_row(f, T0, "b", 99, 0.5, false);
    right_row(f, T0, "b", 3, "x", true);
    right_row(f, T0, "a", 99, "y", false);
    feed(f);
    assert_int_equal(sl_wjoin_emit(f->j, f->out, INT64_MIN, INT64_MIN, false), 0);
    assert_int_equal(pending(f), 2);
    right_row(f, T0, "a", 7, "note-a", true);
    left_row(f, T0, "b", 20, 1.5, true);
    feed(f);
    /* both sides came: emitted although no watermark passed the end */
    assert_int_equal(sl_wjoin_emit(f->j, f->out, INT64_MIN, INT64_MIN, false), 2);
    int ra = f->out->col[col(f, "entity_id")].v.s[0].ptr[0] == 'a' ? 0 : 1;
    check_joined(f, (uint32_t)ra, T0, "a", 10, 7);
    check_joined(f, (uint32_t)!ra, T0, "b", 20, 3);
    sl_str note = f->out->col[col(f, "note")].v.s[ra];
    assert_int_equal(note.len, 6);
    assert_memory_equal(note.ptr, "note-a", 6);
    assert_int_equal(pending(f), 0);
    assert_int_equal(sl_wjoin_emit(f->j, f->out, INT64_MAX, INT64_MAX, false), 0);
    sl_wjoin_stats st;
    sl_wjoin_get_stats(f->j, &st);
    assert_int_equal(st.matched, 2);
    assert_int_equal(st.ignored_open, 2);
    /* the same key in another window is another pair; _group differs */
    fx_free(f);
}

static void test_missing_side_by_watermark(void **state) {
    (void)state;
    fx *f = fx_new("{left: l, right: r, on: entity_id, how: left}");
    left_row(f, T0, "a", 10, 0.5, true);
    right_row(f, T0, "z", 4, "only-right", true);
    feed(f);
    /* the left's watermark passing the end does not release the left row */
    assert_int_equal(sl_wjoin_emit(f->j, f->out, T0 + 10 * SIZE, T0 + SIZE - 1, false), 0);
    assert_int_equal(pending(f), 1); /* the right-only pair was released without a row */
    /* the right's watermark reaches window end: the left row comes with NULLs */
    assert_int_equal(sl_wjoin_emit(f->j, f->out, T0 + SIZE - 1, T0 + SIZE, false), 1);
    check_joined(f, 0, T0, "a", 10, -1);
    assert_int_equal(pending(f), 0);
    sl_wjoin_stats st;
    sl_wjoin_get_stats(f->j, &st);
    assert_int_equal(st.unmatched, 2);
    assert_int_equal(st.matched, 0);
    fx_free(f);
}

static void test_inner(void **state) {
    (void)state;
    fx *f = fx_new("{left: l, right: r, on: entity_id, how: inner}");
    left_row(f, T0, "a", 10, 0.5, true);
    left_row(f, T0, "b", 11, 0.5, true);
    right_row(f, T0, "b", 2, NULL, true);
    feed(f);
    assert_int_equal(sl_wjoin_emit(f->j, f->out, T0 + SIZE, T0 + SIZE, false), 1);
    check_joined(f, 0, T0, "b", 11, 2);
    assert_true(f->out->col[col(f, "note")].null[0]);
    assert_int_equal(pending(f), 0);
    fx_free(f);
    /* left join, the end of input: every pending left row comes out */
    f = fx_new("{left: l, right: r, on: entity_id}");
    left_row(f, T0, "a", 10, 0.5, true);
    feed(f);
    assert_int_equal(sl_wjoin_emit(f->j, f->out, INT64_MIN, INT64_MIN, true), 1);
    check_joined(f, 0, T0, "a", 10, -1);
    fx_free(f);
}

static void test_order_and_cap(void **state) {
    (void)state;
    fx *f = fx_new("{left: l, right: r, on: entity_id}");
    sl_batch_free(f->out);
    f->out = sl_batch_new(sl_wjoin_schema(f->j), 3);
    char id[16];
    for (int w = 4; w >= 0; w--)
        for (int k = 0; k < 4; k++) {
            snprintf(id, sizeof id, "e%d", k);
            left_row(f, T0 + w * SIZE, id, w * 10 + k, 0, true);
        }
    feed(f);
    int64_t last_ws = INT64_MIN;
    uint64_t last_g = 0;
    int total = 0;
    uint32_t n;
    /* windows 0..2 are given up by the right's watermark; 3 and 4 stay */
    while ((n = sl_wjoin_emit(f->j, f->out, INT64_MIN, T0 + 3 * SIZE, false)) > 0) {
        assert_true(n <= 3);
        for (uint32_t r = 0; r < n; r++) {
            int64_t ws = f->out->col[col(f, "window_start")].v.i[r];
            uint64_t g = (uint64_t)f->out->col[col(f, "_group")].v.i[r];
            assert_true(ws > last_ws || (ws == last_ws && g > last_g));
            assert_true(ws < T0 + 3 * SIZE);
            last_ws = ws, last_g = g;
            total++;
        }
    }
    assert_int_equal(total, 12);
    assert_int_equal(pending(f), 8);
    fx_free(f);
}

/* Emits everything (all_final) and returns a sorted text dump of the rows. */
static void dump_all(fx *f, char *buf, size_t cap) {
    size_t len = 0;
    buf[0] = 0;
    while (sl_wjoin_emit(f->j, f->out, INT64_MIN, INT64_MIN, true) > 0) {
        sl_batch *o = f->out;
        for (uint32_t r = 0; r < o->n; r++) {
            sl_str id = o->col[col(f, "entity_id")].v.s[r];
            int ce = col(f, "critical_events");
            len += (size_t)snprintf(buf + len, cap - len, "%lld/%.*s/%lld/%s|",
                                    (long long)o->col[0].v.i[r], (int)id.len, id.ptr,
                                    (long long)o->col[col(f, "samples")].v.i[r],
                                    o->col[ce].null[r] ? "-" : "c");
        }
    }
}

static void test_snapshot_roundtrip(void **state) {
    (void)state;
    const char *spec = "{left: l, right: r, on: entity_id}";
    fx *f = fx_new(spec);
    sl_buf full = {0}, d1 = {0}, d2 = {0};
    left_row(f, T0, "a", 1, 0, true);
    left_row(f, T0, "b", 2, 0, true);
    right_row(f, T0 + SIZE, "c", 5, "n", true);
    feed(f);
    sl_wjoin_snapshot(f->j, &full, true);
    /* a delta: b joined and released, d added, a's left row replaced */
    right_row(f, T0, "b", 9, "m", true);
    left_row(f, T0 + SIZE, "d", 4, 0, true);
    left_row(f, T0, "a", 11, 0, true);
    feed(f);
    assert_int_equal(sl_wjoin_emit(f->j, f->out, INT64_MIN, INT64_MIN, false), 1);
    sl_wjoin_snapshot(f->j, &d1, false);
    /* another delta: c gets its left row, e is added */
    left_row(f, T0 + SIZE, "c", 3, 0, true);
    right_row(f, T0 + 2 * SIZE, "e", 1, NULL, true);
    feed(f);
    sl_wjoin_snapshot(f->j, &d2, false);
    assert_true(d1.n < full.n + 200);

    fx *g = fx_new(spec);
    sl_error e = {0};
    assert_int_equal(sl_wjoin_restore(g->j, full.p, full.n, true, &e), 0);
    assert_int_equal(sl_wjoin_restore(g->j, d1.p, d1.n, false, &e), 0);
    assert_int_equal(sl_wjoin_restore(g->j, d2.p, d2.n, false, &e), 0);
    assert_int_equal(pending(g), pending(f));
    char a[4096], b[4096];
    dump_all(f, a, sizeof a);
    dump_all(g, b, sizeof b);
    assert_string_equal(a, b);
    /* a, c (both sides) and d (left only); the right-only e is not emitted */
    assert_non_null(strstr(a, "/a/11/-"));
    assert_non_null(strstr(a, "/c/3/c"));
    assert_non_null(strstr(a, "/d/4/-"));
    assert_null(strstr(a, "/e/"));

    /* a full snapshot of a restored join is the same state again */
    fx *h = fx_new(spec);
    assert_int_equal(sl_wjoin_restore(h->j, full.p, full.n, true, &e), 0);
    sl_buf again = {0};
    sl_wjoin_snapshot(h->j, &again, true);
    assert_int_equal(again.n, full.n);

    /* damaged, and of other input columns */
    assert_int_equal(sl_wjoin_restore(h->j, full.p, full.n - 3, true, &e), SL_ECORRUPT);
    fx *other = fx_new("{left: l, right: r, on: entity_id, right_columns: [critical_events]}");
    e = (sl_error){0};
    assert_int_equal(sl_wjoin_restore(other->j, full.p, full.n, true, &e), SL_ECORRUPT);
    assert_non_null(strstr(e.msg, "other input columns"));
    sl_buf_free(&full);
    sl_buf_free(&d1);
    sl_buf_free(&d2);
    sl_buf_free(&again);
    fx_free(f);
    fx_free(g);
    fx_free(h);
    fx_free(other);
}

static void expect_error(const char *yaml, sl_schema *r, const char *want) {
    fx f = {0};
    f.l = left_schema(), f.r = r ? *r : right_schema();
    sl_error e = {0};
    sl_wjoin *j = make(&f, yaml, &e);
    assert_null(j);
    if (!strstr(e.msg, want)) fail_msg("'%s' not in '%s'", want, e.msg);
    sl_spec_free(f.spec);
}

static void test_errors(void **state) {
    (void)state;
    expect_error("{left: l, right: r, on: entity_id, right_columns: {samples: critical_events}}",
                 NULL, "right's column 'samples' collides with the left's column 'samples'");
    expect_error("{left: l, right: r, on: nope}", NULL, "'nope' is not a key column");
    expect_error("{left: l, right: r, on: entity_id, right_columns: [nope]}", NULL,
                 "'nope' is not a column of the right input");
    expect_error("{left: l, right: r, on: entity_id, how: outer}", NULL, "how");
    sl_schema r = right_schema();
    r.f[1].type = SL_T_INT;
    expect_error("{left: l, right: r, on: entity_id}", &r, "string on the left and int");
    sl_schema_init(&r);
    sl_schema_add(&r, "window_start", SL_T_TS);
    sl_schema_add(&r, "entity_id", SL_T_STRING);
    expect_error("{left: l, right: r, on: entity_id}", &r, "right input has no bool column");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_schema),
        cmocka_unit_test(test_both_orders),
        cmocka_unit_test(test_missing_side_by_watermark),
        cmocka_unit_test(test_inner),
        cmocka_unit_test(test_order_and_cap),
        cmocka_unit_test(test_snapshot_roundtrip),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
