/*
 * test_window_incr.c - incremental window maintenance (window.h):
 *   - sl_window_emit hands out the dirty groups and the groups of due
 *     windows only, in (window start, _group) order, across calls limited
 *     by out->cap, also when rows arrive between those calls;
 *   - a chain of delta snapshots (after the last full one) restores the same
 *     state as a full snapshot, on random streams with tumbling and hopping
 *     windows and every late policy, and partitioned restores take deltas;
 *   - a snapshot of format 1 (no tag, written before deltas) is migrated;
 *     an unknown format version and a full/delta mix-up are refused;
 *   - late records: drop, quarantine (counters, reason), update (_version,
 *     allowed_lateness), the any-window rule of hopping windows, option
 *     errors, and the final watermark surviving snapshot/restore.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/arena.h"
#include "core/batch.h"
#include "ops/op.h"
#include "ops/window.h"
#include "spec/spec.h"

#define T0 1767225600000000LL /* 2026-01-01T00:00:00Z */
#define SEC 1000000LL
#define MIN (60 * SEC)

/* ---- helpers --------------------------------------------------------------- */

static sl_schema in_schema(void) {
    sl_schema in;
    sl_schema_init(&in);
    sl_schema_add(&in, "ts", SL_T_TS);
    sl_schema_add(&in, "k", SL_T_STRING);
    sl_schema_add(&in, "v", SL_T_INT);
    sl_schema_add(&in, "_part", SL_T_STRING);
    return in;
}

typedef struct {
    sl_spec *spec;
    sl_window *w;
} win;

static win win_new(const char *yaml, const sl_schema *in, const char *part_column) {
    char doc[2048];
    snprintf(doc, sizeof doc, "w: %s\n", yaml);
    sl_error e = {0};
    win x;
    x.spec = sl_spec_load_mem("w.yaml", doc, strlen(doc), NULL, &e);
    if (!x.spec) fail_msg("spec: %s", e.msg);
    x.w = sl_window_create_part(sl_node_get(sl_spec_root(x.spec), "w"), in, part_column, &e);
    if (!x.w) fail_msg("window: %s", e.msg);
    return x;
}

static void win_free(win *x) {
    sl_window_free(x->w);
    sl_spec_free(x->spec);
}

/* The error creating a window from yaml. */
static void win_error(const char *yaml, const char *want) {
    sl_schema in = in_schema();
    char doc[2048];
    snprintf(doc, sizeof doc, "w: %s\n", yaml);
    sl_error e = {0};
    sl_spec *sp = sl_spec_load_mem("w.yaml", doc, strlen(doc), NULL, &e);
    assert_non_null(sp);
    sl_window *w = sl_window_create(sl_node_get(sl_spec_root(sp), "w"), &in, &e);
    assert_null(w);
    if (!strstr(e.msg, want)) fail_msg("error '%s' does not say '%s'", e.msg, want);
    sl_spec_free(sp);
}

static void add(sl_batch *b, int64_t t, const char *k, int64_t v) {
    uint32_t r = sl_batch_append_null_row(b);
    sl_col_set_int(&b->col[0], r, t);
    if (k)
        sl_col_set_str(&b->col[1], r, sl_arena_strdup(b->arena, k, strlen(k)), (uint32_t)strlen(k));
    sl_col_set_int(&b->col[2], r, v);
    sl_col_set_str(&b->col[3], r, k && k[0] == 'q' ? "p2" : "p1", 2);
}

/* Quarantine calls, for the ctx. */
static int q_calls;
static char q_reason[256];
static void q_cb(void *engine, const sl_batch *b, uint32_t r, const char *reason) {
    (void)engine, (void)b, (void)r;
    q_calls++;
    snprintf(q_reason, sizeof q_reason, "%s", reason);
}

static sl_op_ctx ctx_new(void) {
    sl_op_ctx c;
    memset(&c, 0, sizeof c);
    c.quarantine = q_cb;
    c.watermark = c.max_event_time = INT64_MIN;
    q_calls = 0;
    q_reason[0] = 0;
    return c;
}

static void process(sl_window *w, const sl_batch *b, sl_op_ctx *c) {
    assert_int_equal(sl_window_process(w, b, c), 0);
}

/* Appends row r of src to dst (same schema), strings copied. */
static void copy_row(sl_batch *dst, const sl_batch *src, uint32_t r) {
    uint32_t o = sl_batch_append_null_row(dst);
    for (int c = 0; c < src->schema.n; c++) {
        const sl_column *s = &src->col[c];
        sl_column *d = &dst->col[c];
        if (s->null[r]) continue;
        switch (s->type) {
        case SL_T_STRING:
            sl_col_set_str(d, o, sl_arena_strdup(dst->arena, s->v.s[r].ptr, s->v.s[r].len),
                           s->v.s[r].len);
            break;
        case SL_T_DOUBLE:
            sl_col_set_double(d, o, s->v.d[r]);
            break;
        case SL_T_BOOL:
            sl_col_set_bool(d, o, s->v.b[r]);
            break;
        default:
            sl_col_set_int(d, o, s->v.i[r]);
            break;
        }
    }
}

/* Emits until 0 with batches of `cap` rows; every row, in order, in one batch. */
static sl_batch *emit_all(sl_window *w, int64_t wm, bool all_final, uint32_t cap) {
    const sl_schema *os = sl_window_schema(w);
    sl_batch *all = sl_batch_new(os, 65536);
    sl_batch *out = sl_batch_new(os, cap);
    uint32_t n;
    while ((n = sl_window_emit(w, out, wm, all_final)) > 0) {
        assert_true(n <= cap);
        for (uint32_t r = 0; r < n; r++)
            copy_row(all, out, r);
    }
    sl_batch_free(out);
    return all;
}

static void assert_batches_equal(const sl_batch *a, const sl_batch *b) {
    assert_int_equal(a->schema.n, b->schema.n);
    assert_int_equal(a->n, b->n);
    for (int c = 0; c < a->schema.n; c++) {
        const sl_column *x = &a->col[c], *y = &b->col[c];
        for (uint32_t r = 0; r < a->n; r++) {
            assert_int_equal(x->null[r], y->null[r]);
            if (x->null[r]) continue;
            switch (x->type) {
            case SL_T_STRING:
                assert_int_equal(x->v.s[r].len, y->v.s[r].len);
                assert_memory_equal(x->v.s[r].ptr, y->v.s[r].ptr, x->v.s[r].len);
                break;
            case SL_T_DOUBLE:
                assert_memory_equal(&x->v.d[r], &y->v.d[r], sizeof(double));
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

/* Rows are in window-start order, ties by _group. */
static void assert_emit_order(const sl_batch *b) {
    int g = b->schema.n - 1;
    for (uint32_t r = 1; r < b->n; r++) {
        int64_t w0 = b->col[0].v.i[r - 1], w1 = b->col[0].v.i[r];
        assert_true(w0 <= w1);
        if (w0 == w1) assert_true((uint64_t)b->col[g].v.i[r - 1] < (uint64_t)b->col[g].v.i[r]);
    }
}

static int64_t col_i(const sl_batch *b, const char *name, uint32_t r) {
    int c = sl_schema_find(&b->schema, name);
    assert_true(c >= 0);
    assert_false(b->col[c].null[r]);
    return b->col[c].type == SL_T_BOOL ? b->col[c].v.b[r] : b->col[c].v.i[r];
}

/* The row of window start ws and key k in b, -1 if none. */
static int find_row(const sl_batch *b, int64_t ws, const char *k) {
    int kc = sl_schema_find(&b->schema, "k");
    for (uint32_t r = 0; r < b->n; r++) {
        if (b->col[0].v.i[r] != ws) continue;
        if (kc < 0 || (!k && b->col[kc].null[r])) return (int)r;
        if (k && !b->col[kc].null[r] && b->col[kc].v.s[r].len == strlen(k) &&
            !memcmp(b->col[kc].v.s[r].ptr, k, strlen(k)))
            return (int)r;
    }
    return -1;
}

/* ---- emission: dirty and due groups only ------------------------------------ */

#define AGGS_NS "aggregates: {n: \"count(*)\", s: \"sum(v)\"}"

static void test_emit_dirty_and_due(void **state) {
    (void)state;
    sl_schema in = in_schema();
    win x = win_new("{time: ts, size: 1m, keys: [k], " AGGS_NS "}", &in, NULL);
    sl_window *w = x.w;
    sl_op_ctx c = ctx_new();
    sl_batch *b = sl_batch_new(&in, 1024);
    char k[16];
    /* windows 0, 1, 2 with 300 keys each */
    for (int wi = 0; wi < 3; wi++) {
        sl_batch_clear(b);
        for (int i = 0; i < 300; i++) {
            snprintf(k, sizeof k, "k%d", i);
            add(b, T0 + wi * MIN + i * 100000, k, 1);
        }
        process(w, b, &c);
    }
    assert_int_equal(sl_window_groups(w), 900);
    sl_batch *e = emit_all(w, INT64_MIN, false, 64);
    assert_int_equal(e->n, 900);
    assert_emit_order(e);
    for (uint32_t r = 0; r < e->n; r++)
        assert_false(col_i(e, "is_final", r));
    sl_batch_free(e);
    /* nothing changed: nothing emitted, also below the first window's end */
    e = emit_all(w, T0 + MIN - 1, false, 64);
    assert_int_equal(e->n, 0);
    sl_batch_free(e);
    /* three groups changed: only those, in window order */
    sl_batch_clear(b);
    add(b, T0 + 2 * MIN + 5 * SEC, "k7", 4);
    add(b, T0 + 5 * SEC, "k5", 4);
    add(b, T0 + MIN + 5 * SEC, "k9", 4);
    add(b, T0 + 6 * SEC, "k5", 4);
    process(w, b, &c);
    e = emit_all(w, INT64_MIN, false, 2);
    assert_int_equal(e->n, 3);
    assert_int_equal(e->col[0].v.i[0], T0);
    assert_int_equal(col_i(e, "n", 0), 3);
    assert_int_equal(col_i(e, "s", 0), 9);
    assert_int_equal(e->col[0].v.i[1], T0 + MIN);
    assert_int_equal(e->col[0].v.i[2], T0 + 2 * MIN);
    sl_batch_free(e);
    /* window 0 due: its 300 groups final (dirty or not), nothing else; then gone */
    e = emit_all(w, T0 + MIN, false, 64);
    assert_int_equal(e->n, 300);
    assert_emit_order(e);
    for (uint32_t r = 0; r < e->n; r++) {
        assert_int_equal(e->col[0].v.i[r], T0);
        assert_true(col_i(e, "is_final", r));
    }
    sl_batch_free(e);
    assert_int_equal(sl_window_groups(w), 600);
    /* window 1 due, emitted 16 rows at a time; rows arrive between two calls */
    const sl_schema *os = sl_window_schema(w);
    sl_batch *out = sl_batch_new(os, 16);
    assert_int_equal(sl_window_emit(w, out, T0 + 2 * MIN, false), 16);
    uint64_t last_grp = (uint64_t)out->col[os->n - 1].v.i[15];
    sl_batch_clear(b);
    add(b, T0 + 2 * MIN + 7 * SEC, "k3", 1); /* window 2: open */
    add(b, T0 + MIN + 7 * SEC, "k4", 1);     /* window 1: final now, so late */
    process(w, b, &c);
    assert_int_equal(c.late, 1);
    assert_int_equal(c.quarantined, 1);
    int final1 = 16, open2 = 0;
    uint32_t n;
    while ((n = sl_window_emit(w, out, T0 + 2 * MIN, false)) > 0) {
        for (uint32_t r = 0; r < n; r++) {
            if (out->col[0].v.i[r] == T0 + MIN) {
                assert_true(out->col[os->n - 2].v.b[r]);
                assert_true((uint64_t)out->col[os->n - 1].v.i[r] > last_grp);
                last_grp = (uint64_t)out->col[os->n - 1].v.i[r];
                final1++;
            } else {
                assert_int_equal(out->col[0].v.i[r], T0 + 2 * MIN);
                assert_false(out->col[os->n - 2].v.b[r]);
                open2++;
            }
        }
    }
    assert_int_equal(final1, 300);
    assert_int_equal(open2, 1);
    assert_int_equal(sl_window_groups(w), 300);
    /* a lower watermark later does not reopen anything */
    e = emit_all(w, T0, false, 64);
    assert_int_equal(e->n, 0);
    sl_batch_free(e);
    /* end of input: the rest final */
    e = emit_all(w, INT64_MIN, true, 64);
    assert_int_equal(e->n, 300);
    assert_int_equal(sl_window_groups(w), 0);
    sl_batch_free(e);
    sl_batch_free(out);
    sl_batch_free(b);
    win_free(&x);
}

/* ---- delta snapshot chains -------------------------------------------------- */

static uint64_t rng = 88172645463325252ULL;
static uint64_t rnext(void) {
    rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
    return rng;
}

#define AGGS_ALL                                                                                   \
    "aggregates: {n: \"count(*)\", s: \"sum(v)\", cd: \"count_distinct(v)\", p: \"p99(v)\", mb: "  \
    "\"max_by(k, v)\", "                                                                           \
    "f: \"first(v)\"}"

typedef struct {
    sl_buf rec[128];
    bool full[128];
    int n;
} chain;

static void chain_clear(chain *ch) {
    for (int i = 0; i < ch->n; i++)
        sl_buf_free(&ch->rec[i]);
    ch->n = 0;
}

/* A snapshot of w appended to the chain; a full one starts the chain again, as the store does. */
static void chain_snapshot(chain *ch, sl_window *w, bool full) {
    if (full) chain_clear(ch);
    assert_true(ch->n < 128);
    memset(&ch->rec[ch->n], 0, sizeof ch->rec[ch->n]);
    assert_int_equal(sl_window_snapshot(w, &ch->rec[ch->n], full), 0);
    ch->full[ch->n++] = full;
}

/* A new window restored from the chain (only: restore_parts of those partitions). */
static win chain_restore(const char *yaml, const chain *ch, const char *part_column,
                         const sl_part_set *only) {
    sl_schema in = in_schema();
    win x = win_new(yaml, &in, part_column);
    sl_error e = {0};
    for (int i = 0; i < ch->n; i++) {
        int rc =
            only ? sl_window_restore_parts(x.w, ch->rec[i].p, ch->rec[i].n, ch->full[i], only, &e)
                 : sl_window_restore(x.w, ch->rec[i].p, ch->rec[i].n, ch->full[i], &e);
        if (rc) fail_msg("restore %d of %d: %s", i, ch->n, e.msg);
    }
    return x;
}

static void random_rows(sl_batch *b, int64_t clock, int n) {
    char k[16];
    sl_batch_clear(b);
    for (int i = 0; i < n; i++) {
        snprintf(k, sizeof k, "%c%d", rnext() % 4 ? 'k' : 'q', (int)(rnext() % 40));
        add(b, clock - (int64_t)(rnext() % (3 * MIN)), k, (int64_t)(rnext() % 1000));
    }
}

/* a and b hold the same state: the same groups, dirty groups, final
 * watermark (late rows) and aggregate states. Destroys both states. */
static void assert_same_state(sl_window *a, sl_window *b, int64_t clock) {
    assert_int_equal(sl_window_groups(a), sl_window_groups(b));
    sl_batch *ea = emit_all(a, INT64_MIN, false, 37), *eb = emit_all(b, INT64_MIN, false, 41);
    assert_batches_equal(ea, eb);
    assert_emit_order(ea);
    sl_batch_free(ea), sl_batch_free(eb);
    sl_schema in = in_schema();
    sl_batch *probe = sl_batch_new(&in, 256);
    uint64_t saved = rng;
    random_rows(probe, clock, 200);
    rng = saved;
    sl_op_ctx ca = ctx_new(), cb = ctx_new();
    process(a, probe, &ca);
    process(b, probe, &cb);
    assert_int_equal(ca.late, cb.late);
    assert_int_equal(ca.quarantined, cb.quarantined);
    assert_int_equal(ca.dropped, cb.dropped);
    ea = emit_all(a, clock - MIN, false, 64), eb = emit_all(b, clock - MIN, false, 64);
    assert_batches_equal(ea, eb);
    sl_batch_free(ea), sl_batch_free(eb);
    ea = emit_all(a, INT64_MIN, true, 64), eb = emit_all(b, INT64_MIN, true, 64);
    assert_batches_equal(ea, eb);
    sl_batch_free(ea), sl_batch_free(eb);
    assert_int_equal(sl_window_groups(a), 0);
    assert_int_equal(sl_window_groups(b), 0);
    sl_batch_free(probe);
}

static void delta_chain_run(const char *yaml, const char *part_column) {
    sl_schema in = in_schema();
    win x = win_new(yaml, &in, part_column);
    sl_batch *b = sl_batch_new(&in, 256);
    sl_op_ctx c = ctx_new();
    chain ch = {0};
    int64_t clock = T0 + 10 * MIN;
    uint64_t p1 = sl_part_tag("p1", 2);
    sl_part_set only1 = {&p1, 1};
    int checks = 0;
    for (int step = 0; step < 90; step++) {
        random_rows(b, clock, 1 + (int)(rnext() % 60));
        process(x.w, b, &c);
        clock += (int64_t)(rnext() % (40 * SEC));
        if (rnext() % 3) {
            sl_batch *e = emit_all(x.w, clock - MIN, false, 1 + (uint32_t)(rnext() % 50));
            assert_emit_order(e);
            sl_batch_free(e);
        }
        chain_snapshot(&ch, x.w, step % 11 == 0);
        if (step % 10 == 5) {
            /* the chain against a full snapshot of the same moment (snapshot_parts leaves the
             * tracking alone) */
            sl_buf full = {0};
            assert_int_equal(sl_window_snapshot_parts(x.w, &full, NULL), 0);
            win a = chain_restore(yaml, &ch, part_column, NULL);
            chain one = {0};
            one.rec[0] = full;
            one.full[0] = true;
            one.n = 1;
            win f = chain_restore(yaml, &one, part_column, NULL);
            assert_same_state(a.w, f.w, clock);
            win_free(&a), win_free(&f);
            chain_clear(&one);
            if (part_column) { /* one partition's part, from the chain and from a handoff snapshot
                                */
                sl_buf part = {0};
                assert_int_equal(sl_window_snapshot_parts(x.w, &part, &only1), 0);
                win pa = chain_restore(yaml, &ch, part_column, &only1);
                one.rec[0] = part;
                one.full[0] = true;
                one.n = 1;
                win pf = chain_restore(yaml, &one, part_column, &only1);
                assert_same_state(pa.w, pf.w, clock);
                win_free(&pa), win_free(&pf);
                chain_clear(&one);
            }
            checks++;
        }
    }
    assert_true(checks >= 8);
    assert_true(c.late > 0); /* the stream had late rows */
    /* the end: the chain against the window itself */
    win a = chain_restore(yaml, &ch, part_column, NULL);
    assert_same_state(a.w, x.w, clock);
    win_free(&a);
    chain_clear(&ch);
    sl_batch_free(b);
    win_free(&x);
}

static void test_delta_chain_tumbling(void **state) {
    (void)state;
    delta_chain_run("{time: ts, size: 1m, keys: [k], " AGGS_ALL "}", NULL);
}

static void test_delta_chain_hopping_drop(void **state) {
    (void)state;
    delta_chain_run("{time: ts, size: 3m, slide: 1m, keys: [k], late: drop, " AGGS_ALL "}", NULL);
}

static void test_delta_chain_update(void **state) {
    (void)state;
    delta_chain_run(
        "{time: ts, size: 1m, keys: [k], late: update, allowed_lateness: 2m, " AGGS_ALL "}", NULL);
}

static void test_delta_chain_parts(void **state) {
    (void)state;
    delta_chain_run("{time: ts, size: 2m, slide: 1m, keys: [k], late: update, " AGGS_ALL "}",
                    "_part");
}

/* A delta holds what changed, not what is held; releases are keys. */
static void test_delta_size(void **state) {
    (void)state;
    sl_schema in = in_schema();
    win x = win_new("{time: ts, size: 1m, keys: [k], " AGGS_NS "}", &in, NULL);
    sl_batch *b = sl_batch_new(&in, 4096);
    sl_op_ctx c = ctx_new();
    char k[16];
    for (int i = 0; i < 2000; i++) {
        snprintf(k, sizeof k, "k%d", i);
        add(b, T0 + (i % 2) * MIN, k, i); /* 1000 groups in each of two windows */
    }
    process(x.w, b, &c);
    sl_batch_free(emit_all(x.w, INT64_MIN, false, 512));
    sl_buf full = {0}, d1 = {0}, d2 = {0}, d3 = {0};
    sl_window_snapshot(x.w, &full, true);
    sl_batch_clear(b);
    add(b, T0 + MIN + 1, "k1", 1); /* one group changed */
    process(x.w, b, &c);
    sl_batch_free(emit_all(x.w, INT64_MIN, false, 512));
    sl_window_snapshot(x.w, &d1, false);
    assert_true(d1.n * 500 < full.n);
    sl_window_snapshot(x.w, &d2, false);                /* nothing changed */
    assert_int_equal(d2.n, 6 * 8);                      /* header, no releases, no groups */
    sl_batch_free(emit_all(x.w, T0 + MIN, false, 512)); /* 1000 groups final and released */
    sl_window_snapshot(x.w, &d3, false);
    assert_int_equal(d3.n, 6 * 8 + 1000 * 8);
    chain ch = {.n = 4};
    ch.rec[0] = full, ch.rec[1] = d1, ch.rec[2] = d2, ch.rec[3] = d3;
    ch.full[0] = true;
    win r = chain_restore("{time: ts, size: 1m, keys: [k], " AGGS_NS "}", &ch, NULL, NULL);
    assert_same_state(r.w, x.w, T0 + 2 * MIN);
    win_free(&r);
    chain_clear(&ch);
    sl_batch_free(b);
    win_free(&x);
}

/* ---- format 1 (before deltas) ------------------------------------------------ */

/* sl_window_snapshot of the released version (commit 0831bc8, format 1: no
 * tag) of the window
 *   {time: ts, size: 1m, keys: [k], aggregates: {n: "count(*)", s: "sum(v)",
 *    mx: "max(v)", cd: "count_distinct(v)"}}
 * after rows (T0+1s, a, 1), (T0+2s, a, 2), (T0+3s, b, 5), (T0+61s, a, 7), an
 * emission (nothing dirty), then the row (T0+4s, b, 3): groups (T0, a) n=2
 * s=3, (T0, b) n=2 s=8 dirty, (T0+1m, a) n=1 s=7. */
static const unsigned char FORMAT1[] = {
    0x03, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x6a, 0x99, 0x74, 0x14, 0xd9, 0x87, 0xf4, 0x06,
    0x00, 0x40, 0x20, 0x46, 0x48, 0x47, 0x06, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x01, 0x00, 0x00, 0x00, 0x61, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0xf0, 0x7f, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xf0, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff, 0xff, 0x7f, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x80, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x80, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x08, 0x40, 0x03, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xf0, 0x7f, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0xf0, 0xff, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 0x7f, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x80, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x08, 0x40, 0x03, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xf0, 0x7f, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0xf0, 0xff, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff, 0xff, 0x7f, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x80, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0xf0, 0x7f, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xf0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 0x7f, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x80, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0xc4, 0xac, 0x10, 0xef, 0x3e, 0xaa, 0xb5, 0xa6, 0x51, 0x79, 0xeb, 0x60, 0x25, 0xd6,
    0x48, 0x55, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 0x7f, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x80, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x12, 0x4a,
    0x1a, 0x0c, 0x2e, 0xc8, 0x22, 0xef, 0x00, 0x40, 0x20, 0x46, 0x48, 0x47, 0x06, 0x00, 0x01, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x62, 0x02, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xf0, 0x7f, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0xf0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x80, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0x7f, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x80, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x20, 0x40,
    0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xf0, 0x7f,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xf0, 0xff, 0x03, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x05, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x80,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x20, 0x40, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0xf0, 0x7f, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xf0, 0xff, 0x03, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x05, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x80, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xf0, 0x7f, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xf0, 0xff,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x80,
    0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x70, 0x8c, 0xe1, 0x6d, 0xb1, 0x38, 0xfa, 0x1d,
    0x5b, 0x1c, 0x59, 0xf2, 0x3e, 0x28, 0x98, 0x1a, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x80,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0xf9, 0x80, 0x8a, 0x35, 0xb5, 0xb9, 0xef, 0xa6, 0x00, 0xc7, 0xb3, 0x49,
    0x48, 0x47, 0x06, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00,
    0x00, 0x61, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0xf0, 0x7f, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xf0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 0x7f, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x80, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x80, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x1c, 0x40, 0x07, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0xf0, 0x7f, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xf0, 0xff, 0x07, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x07, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x80, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x1c, 0x40, 0x07, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xf0, 0x7f, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0xf0, 0xff, 0x07, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x07, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 0x7f, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x80, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xf0, 0x7f, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0xf0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x80, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x1a, 0x0c,
    0x01, 0x07, 0xb5, 0x59, 0x3a, 0xd7, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff, 0xff, 0x7f, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x80, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00,
};
#define FORMAT1_YAML                                                                               \
    "{time: ts, size: 1m, keys: [k], aggregates: {n: \"count(*)\", s: \"sum(v)\", mx: "            \
    "\"max(v)\", cd: \"count_distinct(v)\"}}"

static void test_format1_migrated(void **state) {
    (void)state;
    sl_schema in = in_schema();
    win x = win_new(FORMAT1_YAML, &in, NULL);
    sl_error e = {0};
    /* a format-1 snapshot is full: stored as a delta it is refused */
    assert_int_equal(sl_window_restore(x.w, FORMAT1, sizeof FORMAT1, false, &e), SL_ECORRUPT);
    assert_int_equal(sl_window_restore(x.w, FORMAT1, sizeof FORMAT1 - 1, true, &e), SL_ECORRUPT);
    if (sl_window_restore(x.w, FORMAT1, sizeof FORMAT1, true, &e)) fail_msg("%s", e.msg);
    assert_int_equal(sl_window_groups(x.w), 3);
    /* the dirty flag came along: only (T0, b) is emitted */
    sl_batch *out = emit_all(x.w, INT64_MIN, false, 16);
    assert_int_equal(out->n, 1);
    assert_int_equal(col_i(out, "n", 0), 2);
    assert_int_equal(col_i(out, "s", 0), 8);
    assert_int_equal(col_i(out, "mx", 0), 5);
    assert_int_equal(col_i(out, "cd", 0), 2);
    sl_batch_free(out);
    /* group keys are kept: a new row joins (T0, a) */
    sl_batch *b = sl_batch_new(&in, 16);
    sl_op_ctx c = ctx_new();
    add(b, T0 + 5 * SEC, "a", 10);
    process(x.w, b, &c);
    assert_int_equal(sl_window_groups(x.w), 3);
    /* a snapshot now is format 2, and round-trips */
    sl_buf buf = {0};
    sl_window_snapshot(x.w, &buf, true);
    int64_t head[2];
    memcpy(head, buf.p, sizeof head);
    assert_true(head[0] < 0);
    assert_int_equal(head[1], SL_WINDOW_SNAPSHOT_FORMAT);
    win y = win_new(FORMAT1_YAML, &in, NULL);
    if (sl_window_restore(y.w, buf.p, buf.n, true, &e)) fail_msg("%s", e.msg);
    sl_buf_free(&buf);
    out = emit_all(y.w, INT64_MIN, true, 16);
    assert_int_equal(out->n, 3);
    int r = find_row(out, T0, "a");
    assert_true(r >= 0);
    assert_int_equal(col_i(out, "n", (uint32_t)r), 3);
    assert_int_equal(col_i(out, "s", (uint32_t)r), 13);
    assert_int_equal(col_i(out, "mx", (uint32_t)r), 10);
    assert_int_equal(col_i(out, "cd", (uint32_t)r), 3);
    r = find_row(out, T0 + MIN, "a");
    assert_true(r >= 0);
    assert_int_equal(col_i(out, "n", (uint32_t)r), 1);
    assert_int_equal(col_i(out, "s", (uint32_t)r), 7);
    for (uint32_t i = 0; i < out->n; i++)
        assert_true(col_i(out, "is_final", i));
    sl_batch_free(out);
    sl_batch_free(b);
    win_free(&y);
    win_free(&x);
}

static void test_format_unknown_refused(void **state) {
    (void)state;
    sl_schema in = in_schema();
    win x = win_new(FORMAT1_YAML, &in, NULL);
    sl_buf buf = {0};
    sl_window_snapshot(x.w, &buf, true);
    int64_t v = SL_WINDOW_SNAPSHOT_FORMAT + 1;
    memcpy(buf.p + 8, &v, 8);
    sl_error e = {0};
    assert_int_equal(sl_window_restore(x.w, buf.p, buf.n, true, &e), SL_ECORRUPT);
    assert_non_null(strstr(e.msg, "snapshot format 3"));
    assert_non_null(strstr(e.msg, "fresh data directory"));
    sl_buf_free(&buf);
    win_free(&x);
}

/* ---- late records ---------------------------------------------------------- */

static void test_late_drop_and_quarantine(void **state) {
    (void)state;
    sl_schema in = in_schema();
    const char *yamls[] = {"{time: ts, size: 1m, keys: [k], late: drop, " AGGS_NS "}",
                           "{time: ts, size: 1m, keys: [k], late: quarantine, " AGGS_NS "}",
                           "{time: ts, size: 1m, keys: [k], " AGGS_NS "}"};
    for (int m = 0; m < 3; m++) {
        win x = win_new(yamls[m], &in, NULL);
        const sl_schema *os = sl_window_schema(x.w);
        assert_int_equal(sl_schema_find(os, "_version"), -1); /* output unchanged */
        assert_int_equal(sl_schema_find(os, "is_final"), os->n - 2);
        sl_batch *b = sl_batch_new(&in, 16);
        sl_op_ctx c = ctx_new();
        add(b, T0 + 10 * SEC, "a", 1);
        process(x.w, b, &c);
        /* a row behind the watermark, before any emission: not late (nothing final yet) */
        sl_batch *e = emit_all(x.w, T0 + MIN, false, 16);
        assert_int_equal(e->n, 1);
        assert_true(col_i(e, "is_final", 0));
        sl_batch_free(e);
        assert_int_equal(sl_window_groups(x.w), 0);
        sl_batch_clear(b);
        add(b, T0 + 59 * SEC, "a", 5); /* window [T0, T0+1m): final */
        add(b, T0 + 60 * SEC, "a", 2); /* window [T0+1m, T0+2m): open */
        process(x.w, b, &c);
        assert_int_equal(c.late, 1);
        assert_int_equal(c.dropped, m == 0 ? 1 : 0);
        assert_int_equal(c.quarantined, m == 0 ? 0 : 1);
        assert_int_equal(q_calls, m == 0 ? 0 : 1);
        if (m)
            assert_string_equal(q_reason,
                                "late: window 2026-01-01T00:00:00.000Z already final at watermark "
                                "2026-01-01T00:01:00.000Z");
        e = emit_all(x.w, INT64_MIN, false, 16);
        assert_int_equal(e->n, 1); /* only the open window; the final row is not reopened */
        assert_int_equal(e->col[0].v.i[0], T0 + MIN);
        assert_int_equal(col_i(e, "s", 0), 2);
        sl_batch_free(e);
        /* the final watermark survives a snapshot: still late after restore */
        sl_buf buf = {0};
        sl_window_snapshot(x.w, &buf, false);
        win y = win_new(yamls[m], &in, NULL);
        sl_error err = {0};
        if (sl_window_restore(y.w, buf.p, buf.n, false, &err)) fail_msg("%s", err.msg);
        sl_buf_free(&buf);
        c = ctx_new();
        sl_batch_clear(b);
        add(b, T0 + 30 * SEC, "z", 1);
        process(y.w, b, &c);
        assert_int_equal(c.late, 1);
        assert_int_equal(sl_window_groups(y.w), 1);
        sl_batch_free(b);
        win_free(&y);
        win_free(&x);
    }
}

static void test_late_update(void **state) {
    (void)state;
    sl_schema in = in_schema();
    const char *yaml =
        "{time: ts, size: 1m, keys: [k], late: update, allowed_lateness: 2m, " AGGS_NS "}";
    win x = win_new(yaml, &in, NULL);
    const sl_schema *os = sl_window_schema(x.w);
    assert_int_equal(sl_schema_find(os, "is_final"), os->n - 3);
    assert_int_equal(sl_schema_find(os, "_version"), os->n - 2);
    assert_int_equal(sl_schema_find(os, "_group"), os->n - 1);
    sl_batch *b = sl_batch_new(&in, 16);
    sl_op_ctx c = ctx_new();
    add(b, T0 + 10 * SEC, "a", 1);
    add(b, T0 + 20 * SEC, "b", 2);
    process(x.w, b, &c);
    sl_batch *e = emit_all(x.w, INT64_MIN, false, 16);
    assert_int_equal(e->n, 2);
    assert_int_equal(col_i(e, "_version", 0), 0); /* open */
    sl_batch_free(e);
    e = emit_all(x.w, T0 + MIN, false, 16);
    assert_int_equal(e->n, 2);
    for (uint32_t r = 0; r < 2; r++) {
        assert_true(col_i(e, "is_final", r));
        assert_int_equal(col_i(e, "_version", r), 1);
    }
    sl_batch_free(e);
    assert_int_equal(sl_window_groups(x.w), 2); /* kept for late rows */
    e = emit_all(x.w, T0 + MIN, false, 16);
    assert_int_equal(e->n, 0);
    sl_batch_free(e);
    /* a late row updates a's final row: version 2 */
    sl_batch_clear(b);
    add(b, T0 + 30 * SEC, "a", 4);
    process(x.w, b, &c);
    assert_int_equal(c.late, 1);
    assert_int_equal(c.quarantined + c.dropped, 0);
    e = emit_all(x.w, T0 + MIN, false, 16);
    assert_int_equal(e->n, 1);
    assert_int_equal(find_row(e, T0, "a"), 0);
    assert_int_equal(col_i(e, "n", 0), 2);
    assert_int_equal(col_i(e, "s", 0), 5);
    assert_true(col_i(e, "is_final", 0));
    assert_int_equal(col_i(e, "_version", 0), 2);
    sl_batch_free(e);
    /* a new key in the final window: final at once, version 1 */
    sl_batch_clear(b);
    add(b, T0 + 40 * SEC, "c", 1);
    process(x.w, b, &c);
    e = emit_all(x.w, INT64_MIN, false, 16); /* the final watermark is remembered */
    assert_int_equal(e->n, 1);
    assert_true(col_i(e, "is_final", 0));
    assert_int_equal(col_i(e, "_version", 0), 1);
    sl_batch_free(e);
    /* versions survive a snapshot and restore */
    sl_buf buf = {0};
    sl_window_snapshot(x.w, &buf, true);
    win y = win_new(yaml, &in, NULL);
    sl_error err = {0};
    if (sl_window_restore(y.w, buf.p, buf.n, true, &err)) fail_msg("%s", err.msg);
    sl_buf_free(&buf);
    sl_batch_clear(b);
    add(b, T0 + 5 * SEC, "a", 1);
    process(y.w, b, &c);
    e = emit_all(y.w, T0 + 2 * MIN, false, 16);
    assert_int_equal(e->n, 1);
    assert_int_equal(col_i(e, "_version", 0), 3);
    assert_int_equal(col_i(e, "n", 0), 3);
    sl_batch_free(e);
    assert_int_equal(sl_window_groups(y.w), 3);
    /* the watermark passes end + allowed_lateness: released without a row */
    e = emit_all(y.w, T0 + 3 * MIN, false, 16);
    assert_int_equal(e->n, 0);
    sl_batch_free(e);
    assert_int_equal(sl_window_groups(y.w), 0);
    /* now too late: quarantined */
    c = ctx_new();
    sl_batch_clear(b);
    add(b, T0 + 50 * SEC, "a", 1);
    add(b, T0 + 2 * MIN + 1, "a", 1); /* window [T0+2m, T0+3m) is final, held until T0+5m */
    process(y.w, b, &c);
    assert_int_equal(c.late, 2);
    assert_int_equal(c.quarantined, 1);
    assert_int_equal(q_calls, 1);
    assert_string_equal(q_reason,
                        "late: window 2026-01-01T00:00:00.000Z already final at watermark "
                        "2026-01-01T00:03:00.000Z and past allowed_lateness 120s");
    e = emit_all(y.w, INT64_MIN, false, 16);
    assert_int_equal(e->n, 1);
    assert_int_equal(e->col[0].v.i[0], T0 + 2 * MIN);
    assert_int_equal(col_i(e, "_version", 0), 1);
    sl_batch_free(e);
    /* end of input: everything final and released */
    e = emit_all(y.w, INT64_MIN, true, 16);
    assert_int_equal(e->n, 0);
    sl_batch_free(e);
    assert_int_equal(sl_window_groups(y.w), 0);
    sl_batch_free(b);
    win_free(&y);
    win_free(&x);
}

/* Hopping: a row is late when any of its windows is final (the earliest). */
static void test_late_hopping(void **state) {
    (void)state;
    sl_schema in = in_schema();
    for (int upd = 0; upd < 2; upd++) {
        win x = win_new(
            upd ? "{time: ts, size: 2m, slide: 1m, late: update, aggregates: {n: \"count(*)\"}}"
                : "{time: ts, size: 2m, slide: 1m, aggregates: {n: \"count(*)\"}}",
            &in, NULL);
        sl_batch *b = sl_batch_new(&in, 16);
        sl_op_ctx c = ctx_new();
        add(b, T0 + 90 * SEC, NULL, 0); /* windows [T0, T0+2m) and [T0+1m, T0+3m) */
        process(x.w, b, &c);
        sl_batch *e = emit_all(x.w, T0 + 2 * MIN, false, 16);
        assert_int_equal(e->n, 2);
        assert_true(col_i(e, "is_final", 0));  /* T0 */
        assert_false(col_i(e, "is_final", 1)); /* T0+1m */
        sl_batch_free(e);
        sl_batch_clear(b);
        add(b, T0 + 100 * SEC, NULL, 0); /* late: [T0, T0+2m) is final, [T0+1m, T0+3m) open */
        add(b, T0 + 130 * SEC, NULL, 0); /* [T0+1m, T0+3m), [T0+2m, T0+4m): both open */
        process(x.w, b, &c);
        assert_int_equal(c.late, 1);
        assert_int_equal(c.quarantined, upd ? 0 : 1);
        e = emit_all(x.w, INT64_MIN, false, 16);
        if (!upd) { /* the whole row refused, also for its open window */
            assert_int_equal(e->n, 2);
            assert_int_equal(e->col[0].v.i[0], T0 + MIN);
            assert_int_equal(col_i(e, "n", 0), 2);
            assert_int_equal(e->col[0].v.i[1], T0 + 2 * MIN);
            assert_int_equal(col_i(e, "n", 1), 1);
        } else { /* added to both: the final one re-emitted, version 2 */
            assert_int_equal(e->n, 3);
            assert_int_equal(e->col[0].v.i[0], T0);
            assert_int_equal(col_i(e, "n", 0), 2);
            assert_true(col_i(e, "is_final", 0));
            assert_int_equal(col_i(e, "_version", 0), 2);
            assert_int_equal(col_i(e, "n", 1), 3);
            assert_false(col_i(e, "is_final", 1));
            assert_int_equal(col_i(e, "_version", 1), 0);
        }
        sl_batch_free(e);
        sl_batch_free(b);
        win_free(&x);
    }
}

static void test_late_options(void **state) {
    (void)state;
    win_error("{time: ts, size: 1m, allowed_lateness: 5m, " AGGS_NS "}",
              "allowed_lateness needs late: update");
    win_error("{time: ts, size: 1m, late: update, allowed_lateness: -5m, " AGGS_NS "}",
              "allowed_lateness");
    win_error("{time: ts, size: 1m, late: later, " AGGS_NS "}", "late");
    win_error("{time: ts, size: 1m, late: update, " AGGS_NS ", _version: 1}", "");
    sl_schema in = in_schema();
    win x = win_new("{time: ts, size: 1m, late: update, " AGGS_NS "}", &in, NULL);
    sl_error e = {0};
    assert_null(sl_window_create_rollup(x.w, 60 * MIN, &e));
    assert_non_null(strstr(e.msg, "late: update"));
    win_free(&x);
    /* a key or aggregate named _version clashes only with late: update */
    win y = win_new("{time: ts, size: 1m, aggregates: {_version: \"count(*)\"}}", &in, NULL);
    win_free(&y);
    win_error("{time: ts, size: 1m, late: update, aggregates: {_version: \"count(*)\"}}", "clash");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_emit_dirty_and_due),
        cmocka_unit_test(test_delta_chain_tumbling),
        cmocka_unit_test(test_delta_chain_hopping_drop),
        cmocka_unit_test(test_delta_chain_update),
        cmocka_unit_test(test_delta_chain_parts),
        cmocka_unit_test(test_delta_size),
        cmocka_unit_test(test_format1_migrated),
        cmocka_unit_test(test_format_unknown_refused),
        cmocka_unit_test(test_late_drop_and_quarantine),
        cmocka_unit_test(test_late_update),
        cmocka_unit_test(test_late_hopping),
        cmocka_unit_test(test_late_options),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
