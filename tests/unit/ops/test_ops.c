/*
 * test_ops.c - the step operators of src/ops/ (expect, derive, filter,
 * watermark, dedupe, lookup), the registry, and window aggregation.
 *
 * Every operator is built the way the engine builds it: a YAML step argument
 * loaded with sl_spec_load_mem, sl_op_find(name)->create(...), batches of the
 * schema that create produced, and an sl_op_ctx whose quarantine callback
 * records the rows it receives (by their b->pos, used as a record id).
 *
 * The stateful operators are checked against brute force: dedupe on 100k
 * random records (keys redelivered with jittered, out-of-order event times,
 * some late) fed in random batch sizes, with full and delta snapshots taken
 * the way the engine takes them and a crash + restore in the middle; window
 * aggregates against a direct recomputation per (window, key).
 */
#include <setjmp.h> /* cmocka.h needs these four first */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <ftw.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/batch.h"
#include "core/error.h"
#include "core/log.h"
#include "core/timeutil.h"
#include "ops/op.h"
#include "ops/window.h"
#include "spec/spec.h"

#define SEC SL_US_PER_SEC
/* 2026-03-01T10:00:00Z */
#define T0 (INT64_C(1772359200) * SL_US_PER_SEC)

/* ------------------------------------------------------------------ helpers */

static uint64_t rng_s = 0x9E3779B97F4A7C15ull;
static uint64_t rnd(void) {
    uint64_t x = rng_s;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return rng_s = x;
}
static int64_t rnd_range(int64_t lo, int64_t hi) { /* inclusive */
    return lo + (int64_t)(rnd() % (uint64_t)(hi - lo + 1));
}

/* Quarantine recorder: the pos (record id) and reason of each row sent. */
#define QMAX 200000
typedef struct {
    int n;
    int64_t pos[QMAX];
    char reason[64][256];
} qrec;
static qrec Q;

static void q_cb(void *engine, const sl_batch *b, uint32_t r, const char *reason) {
    qrec *q = engine;
    if (q->n < 64) snprintf(q->reason[q->n], sizeof q->reason[0], "%s", reason);
    if (q->n < QMAX) q->pos[q->n] = b->pos[r];
    q->n++;
}

static void ctx_init(sl_op_ctx *c) {
    memset(c, 0, sizeof *c);
    Q.n = 0;
    c->engine = &Q;
    c->quarantine = q_cb;
    c->max_event_time = INT64_MIN;
    c->watermark = INT64_MIN;
    c->now_us = T0;
}

typedef struct {
    const sl_op_def *def;
    void *self;
    sl_spec *spec;
} op_t;

/* Creates operator `name` from the YAML text of its step argument. Returns create's rc. */
static int op_make(op_t *o, const char *name, const char *yaml_arg, sl_schema *schema, const char *base_dir,
                   sl_error *err) {
    char doc[8192];
    snprintf(doc, sizeof doc, "arg: %s\n", yaml_arg);
    memset(o, 0, sizeof *o);
    sl_error e = {0};
    o->spec = sl_spec_load_mem("test.yaml", doc, strlen(doc), NULL, &e);
    if (!o->spec) fail_msg("spec did not load: %s", e.msg);
    const sl_node *arg = sl_node_get(sl_spec_root(o->spec), "arg");
    assert_non_null(arg);
    o->def = sl_op_find(name);
    assert_non_null(o->def);
    sl_op_env env = {"t", base_dir, NULL};
    int rc = o->def->create(arg, schema, &env, &o->self, err);
    if (rc) {
        sl_spec_free(o->spec);
        o->spec = NULL;
        o->self = NULL;
    }
    return rc;
}

static void op_ok(op_t *o, const char *name, const char *yaml_arg, sl_schema *schema, const char *base_dir) {
    sl_error err = {0};
    int rc = op_make(o, name, yaml_arg, schema, base_dir, &err);
    if (rc) fail_msg("create %s failed: %s", name, err.msg);
}

static void op_free(op_t *o) {
    if (o->self) o->def->destroy(o->self);
    if (o->spec) sl_spec_free(o->spec);
    memset(o, 0, sizeof *o);
}

/* Value of "key": in a stats JSON object (as a double), or NAN. */
static double stat_num(op_t *o, const char *key) {
    char buf[1024], pat[128];
    assert_non_null(o->def->stats);
    o->def->stats(o->self, buf, sizeof buf);
    snprintf(pat, sizeof pat, "\"%s\":", key);
    const char *p = strstr(buf, pat);
    if (!p) return NAN;
    return strtod(p + strlen(pat), NULL);
}

static uint32_t add_row(sl_batch *b, int64_t id) {
    uint32_t r = sl_batch_append_null_row(b);
    b->pos[r] = id;
    b->ingest[r] = T0;
    return r;
}

static bool has_pos(const sl_batch *b, int64_t id) {
    for (uint32_t i = 0; i < b->n; i++)
        if (b->pos[i] == id) return true;
    return false;
}

static bool q_has(int64_t id) {
    for (int i = 0; i < Q.n && i < QMAX; i++)
        if (Q.pos[i] == id) return true;
    return false;
}

static int rm_cb(const char *p, const struct stat *st, int flag, struct FTW *f) {
    (void)st, (void)flag, (void)f;
    return remove(p);
}
static void rm_rf(const char *p) { nftw(p, rm_cb, 16, FTW_DEPTH | FTW_PHYS); }

static void write_file(const char *path, const char *text) {
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

/* ------------------------------------------------------------------ registry */

static void test_registry(void **state) {
    (void)state;
    const char *names[] = {"expect", "derive", "filter", "watermark", "dedupe", "lookup", "anomaly", "health", "scd2"};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        const sl_op_def *d = sl_op_find(names[i]);
        assert_non_null(d);
        assert_string_equal(d->name, names[i]);
    }
    assert_null(sl_op_find("nope"));
    assert_null(sl_op_find(""));
    const sl_op_def *const *all = sl_op_all();
    int n = 0;
    for (; all[n]; n++) {
        assert_non_null(all[n]->create);
        assert_non_null(all[n]->process);
        assert_non_null(all[n]->destroy);
        assert_non_null(all[n]->help);
        /* snapshot and restore come together */
        assert_int_equal(all[n]->snapshot != NULL, all[n]->restore != NULL);
        assert_ptr_equal(sl_op_find(all[n]->name), all[n]);
    }
    assert_int_equal(n, (int)(sizeof names / sizeof *names));
}

/* ------------------------------------------------------------------ expect */

/* schema (id int, v int); rows v = 1, -1, NULL, 5, 0 with pos 0..4; failing ids 1, 2, 4 */
static sl_batch *expect_batch(const sl_schema *s) {
    sl_batch *b = sl_batch_new(s, 16);
    int vi = sl_schema_find(s, "v");
    int64_t vals[] = {1, -1, 0, 5, 0};
    for (int i = 0; i < 5; i++) {
        uint32_t r = add_row(b, i);
        sl_col_set_int(&b->col[0], r, i);
        if (i != 2) sl_col_set_int(&b->col[vi], r, vals[i]);
    }
    return b;
}

static void run_expect(const char *action, sl_op_ctx *ctx, op_t *o, sl_batch **bp, int *rc, sl_error *err) {
    sl_schema s;
    sl_schema_init(&s);
    sl_schema_add(&s, "id", SL_T_INT);
    sl_schema_add(&s, "v", SL_T_INT);
    char arg[256];
    snprintf(arg, sizeof arg, "{name: pos_v, expr: \"v > 0\", action: %s}", action);
    op_ok(o, "expect", arg, &s, NULL);
    assert_int_equal(s.n, 2); /* expect adds no column */
    ctx_init(ctx);
    *bp = expect_batch(&s);
    *rc = o->def->process(o->self, *bp, ctx, err);
}

static void test_expect_warn(void **state) {
    (void)state;
    op_t o;
    sl_op_ctx ctx;
    sl_batch *b;
    int rc;
    sl_error err = {0};
    run_expect("warn", &ctx, &o, &b, &rc, &err);
    assert_int_equal(rc, 0);
    assert_int_equal(b->n, 5);
    assert_int_equal(ctx.dropped, 0);
    assert_int_equal(ctx.quarantined, 0);
    assert_int_equal(Q.n, 0);
    assert_int_equal(stat_num(&o, "passed"), 2);
    assert_int_equal(stat_num(&o, "failed"), 3);
    sl_batch_free(b);
    op_free(&o);
}

static void test_expect_default_action_is_warn(void **state) {
    (void)state;
    sl_schema s;
    sl_schema_init(&s);
    sl_schema_add(&s, "id", SL_T_INT);
    sl_schema_add(&s, "v", SL_T_INT);
    op_t o;
    op_ok(&o, "expect", "{name: pos_v, expr: \"v > 0\"}", &s, NULL);
    sl_op_ctx ctx;
    ctx_init(&ctx);
    sl_batch *b = expect_batch(&s);
    sl_error err = {0};
    assert_int_equal(o.def->process(o.self, b, &ctx, &err), 0);
    assert_int_equal(b->n, 5);
    sl_batch_free(b);
    op_free(&o);
}

static void test_expect_drop(void **state) {
    (void)state;
    op_t o;
    sl_op_ctx ctx;
    sl_batch *b;
    int rc;
    sl_error err = {0};
    run_expect("drop", &ctx, &o, &b, &rc, &err);
    assert_int_equal(rc, 0);
    assert_int_equal(b->n, 2);
    assert_int_equal(b->pos[0], 0);
    assert_int_equal(b->pos[1], 3);
    assert_int_equal(b->col[0].v.i[1], 3); /* columns compacted with the provenance */
    assert_int_equal(ctx.dropped, 3);
    assert_int_equal(ctx.quarantined, 0);
    assert_int_equal(Q.n, 0);
    assert_int_equal(stat_num(&o, "passed"), 2);
    assert_int_equal(stat_num(&o, "failed"), 3);
    sl_batch_free(b);
    op_free(&o);
}

static void test_expect_quarantine(void **state) {
    (void)state;
    op_t o;
    sl_op_ctx ctx;
    sl_batch *b;
    int rc;
    sl_error err = {0};
    run_expect("quarantine", &ctx, &o, &b, &rc, &err);
    assert_int_equal(rc, 0);
    assert_int_equal(b->n, 2);
    assert_true(has_pos(b, 0) && has_pos(b, 3));
    assert_int_equal(ctx.quarantined, 3);
    assert_int_equal(ctx.dropped, 0);
    assert_int_equal(Q.n, 3);
    assert_int_equal(Q.pos[0], 1);
    assert_int_equal(Q.pos[1], 2);
    assert_int_equal(Q.pos[2], 4);
    assert_false(q_has(0) || q_has(3));
    assert_non_null(strstr(Q.reason[0], "pos_v"));
    assert_non_null(strstr(Q.reason[0], "v > 0"));
    sl_batch_free(b);
    op_free(&o);
}

static void test_expect_fail(void **state) {
    (void)state;
    op_t o;
    sl_op_ctx ctx;
    sl_batch *b;
    int rc;
    sl_error err = {0};
    run_expect("fail", &ctx, &o, &b, &rc, &err);
    assert_int_equal(rc, SL_EFAIL);
    assert_int_equal(err.code, SL_EFAIL);
    assert_non_null(strstr(err.msg, "pos_v"));
    assert_int_equal(Q.n, 0);
    sl_batch_free(b);
    op_free(&o);

    /* a batch where every row passes does not fail */
    sl_schema s;
    sl_schema_init(&s);
    sl_schema_add(&s, "id", SL_T_INT);
    sl_schema_add(&s, "v", SL_T_INT);
    op_ok(&o, "expect", "{name: pos_v, expr: \"v > 0\", action: fail}", &s, NULL);
    b = sl_batch_new(&s, 4);
    sl_col_set_int(&b->col[1], add_row(b, 0), 7);
    ctx_init(&ctx);
    assert_int_equal(o.def->process(o.self, b, &ctx, &err), 0);
    assert_int_equal(b->n, 1);
    sl_batch_free(b);
    op_free(&o);
}

static void test_expect_snapshot_counts(void **state) {
    (void)state;
    op_t o, o2;
    sl_op_ctx ctx;
    sl_batch *b;
    int rc;
    sl_error err = {0};
    run_expect("drop", &ctx, &o, &b, &rc, &err);
    sl_buf buf = {0};
    assert_int_equal(o.def->snapshot(o.self, &buf, true), 0);
    sl_schema s;
    sl_schema_init(&s);
    sl_schema_add(&s, "id", SL_T_INT);
    sl_schema_add(&s, "v", SL_T_INT);
    op_ok(&o2, "expect", "{name: pos_v, expr: \"v > 0\", action: drop}", &s, NULL);
    assert_int_equal(o2.def->restore(o2.self, buf.p, buf.n, true, &err), 0);
    assert_int_equal(stat_num(&o2, "passed"), 2);
    assert_int_equal(stat_num(&o2, "failed"), 3);
    /* truncated snapshot is refused */
    assert_int_equal(o2.def->restore(o2.self, buf.p, buf.n - 1, true, &err), SL_ECORRUPT);
    sl_buf_free(&buf);
    sl_batch_free(b);
    op_free(&o);
    op_free(&o2);
}

static void test_expect_bad_specs(void **state) {
    (void)state;
    sl_schema s;
    sl_schema_init(&s);
    sl_schema_add(&s, "v", SL_T_INT);
    op_t o;
    sl_error err = {0};
    assert_int_not_equal(op_make(&o, "expect", "{name: x, expr: \"v + 1\"}", &s, NULL, &err), 0);
    assert_non_null(strstr(err.msg, "boolean"));
    memset(&err, 0, sizeof err);
    assert_int_not_equal(op_make(&o, "expect", "{name: x, expr: \"v > 0\", action: dorp}", &s, NULL, &err), 0);
    assert_non_null(strstr(err.msg, "test.yaml:1:"));
    memset(&err, 0, sizeof err);
    assert_int_not_equal(op_make(&o, "expect", "{name: x, expr: \"nosuch > 0\"}", &s, NULL, &err), 0);
    assert_non_null(strstr(err.msg, "nosuch"));
    memset(&err, 0, sizeof err);
    assert_int_not_equal(op_make(&o, "expect", "{expr: \"v > 0\"}", &s, NULL, &err), 0);
    assert_non_null(strstr(err.msg, "name"));
}

/* ------------------------------------------------------------------ derive / filter */

static void test_derive(void **state) {
    (void)state;
    sl_schema s;
    sl_schema_init(&s);
    sl_schema_add(&s, "v", SL_T_INT);
    sl_schema_add(&s, "name", SL_T_STRING);
    op_t o;
    /* each column sees the ones derived before it */
    op_ok(&o, "derive", "{w: \"v * 2\", x: \"w + 1\", up: \"upper(name)\", ts: \"from_unixtime_ms(v)\"}", &s, NULL);
    assert_int_equal(s.n, 6);
    int w = sl_schema_find(&s, "w"), x = sl_schema_find(&s, "x"), up = sl_schema_find(&s, "up"),
        ts = sl_schema_find(&s, "ts");
    assert_int_equal(s.f[w].type, SL_T_INT);
    assert_int_equal(s.f[x].type, SL_T_INT);
    assert_int_equal(s.f[up].type, SL_T_STRING);
    assert_int_equal(s.f[ts].type, SL_T_TS);
    sl_batch *b = sl_batch_new(&s, 8);
    uint32_t r0 = add_row(b, 0);
    sl_col_set_int(&b->col[0], r0, 21);
    sl_col_set_str(&b->col[1], r0, "abc", 3);
    add_row(b, 1); /* all NULL */
    sl_op_ctx ctx;
    ctx_init(&ctx);
    sl_error err = {0};
    assert_int_equal(o.def->process(o.self, b, &ctx, &err), 0);
    assert_int_equal(b->n, 2);
    assert_false(b->col[w].null[0]);
    assert_int_equal(b->col[w].v.i[0], 42);
    assert_int_equal(b->col[x].v.i[0], 43);
    assert_int_equal(b->col[up].v.s[0].len, 3);
    assert_memory_equal(b->col[up].v.s[0].ptr, "ABC", 3);
    assert_int_equal(b->col[ts].v.i[0], 21 * SL_US_PER_MS);
    assert_true(b->col[w].null[1]);
    assert_true(b->col[x].null[1]);
    assert_true(b->col[up].null[1]);
    assert_true(b->col[ts].null[1]);
    sl_batch_free(b);
    op_free(&o);

    /* re-deriving an existing column with the same type is allowed, another type is not */
    sl_schema_init(&s);
    sl_schema_add(&s, "v", SL_T_INT);
    op_ok(&o, "derive", "{v: \"v + 1\"}", &s, NULL);
    assert_int_equal(s.n, 1);
    op_free(&o);
    sl_error e2 = {0};
    assert_int_not_equal(op_make(&o, "derive", "{v: \"'a'\"}", &s, NULL, &e2), 0);
    assert_non_null(strstr(e2.msg, "cannot change"));
    memset(&e2, 0, sizeof e2);
    assert_int_not_equal(op_make(&o, "derive", "not_a_map", &s, NULL, &e2), 0);
    memset(&e2, 0, sizeof e2);
    assert_int_not_equal(op_make(&o, "derive", "{y: \"v +\"}", &s, NULL, &e2), 0);
    assert_non_null(strstr(e2.msg, "test.yaml:1:"));
}

static void test_filter_null_predicate(void **state) {
    (void)state;
    sl_schema s;
    sl_schema_init(&s);
    sl_schema_add(&s, "v", SL_T_INT);
    op_t o;
    op_ok(&o, "filter", "\"v > 10\"", &s, NULL);
    sl_batch *b = sl_batch_new(&s, 8);
    int64_t vals[] = {5, 20, 0, 11, 10};
    for (int i = 0; i < 5; i++) {
        uint32_t r = add_row(b, i);
        if (i != 2) sl_col_set_int(&b->col[0], r, vals[i]); /* row 2: NULL -> predicate NULL */
    }
    sl_op_ctx ctx;
    ctx_init(&ctx);
    sl_error err = {0};
    assert_int_equal(o.def->process(o.self, b, &ctx, &err), 0);
    assert_int_equal(b->n, 2);
    assert_int_equal(b->pos[0], 1);
    assert_int_equal(b->pos[1], 3);
    assert_int_equal(ctx.filtered, 3);
    /* empty batch */
    sl_batch_clear(b);
    assert_int_equal(o.def->process(o.self, b, &ctx, &err), 0);
    assert_int_equal(ctx.filtered, 3);
    sl_batch_free(b);
    op_free(&o);

    /* "v IS NULL" keeps exactly the NULL row */
    op_ok(&o, "filter", "\"v IS NULL\"", &s, NULL);
    b = sl_batch_new(&s, 8);
    for (int i = 0; i < 3; i++) {
        uint32_t r = add_row(b, i);
        if (i != 1) sl_col_set_int(&b->col[0], r, i);
    }
    assert_int_equal(o.def->process(o.self, b, &ctx, &err), 0);
    assert_int_equal(b->n, 1);
    assert_int_equal(b->pos[0], 1);
    sl_batch_free(b);
    op_free(&o);

    sl_error e2 = {0};
    assert_int_not_equal(op_make(&o, "filter", "\"v + 1\"", &s, NULL, &e2), 0);
    assert_non_null(strstr(e2.msg, "boolean"));
}

/* ------------------------------------------------------------------ watermark */

/* schema (id int, ts_ms int) + the watermark's event_ts */
static void wm_make(op_t *o, sl_schema *s, const char *late) {
    sl_schema_init(s);
    sl_schema_add(s, "id", SL_T_INT);
    sl_schema_add(s, "ts_ms", SL_T_INT);
    char arg[256];
    snprintf(arg, sizeof arg, "{time: \"from_unixtime_ms(ts_ms)\", delay: 10s%s%s}", late ? ", late: " : "",
             late ? late : "");
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
    for (int i = 0; i < 7; i++) wm_row(b, i, ts[i]);
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
    assert_non_null(strstr(Q.reason[0], "event time"));
    assert_int_equal(ctx.watermark, INT64_MIN); /* no event time seen: no watermark */
    sl_batch_free(b);
    op_free(&o);

    sl_error e2 = {0};
    sl_schema_init(&s);
    sl_schema_add(&s, "ts_ms", SL_T_INT);
    assert_int_not_equal(op_make(&o, "watermark", "{time: ts_ms, delay: 10s}", &s, NULL, &e2), 0);
    assert_non_null(strstr(e2.msg, "timestamp"));
    memset(&e2, 0, sizeof e2);
    assert_int_not_equal(op_make(&o, "watermark", "{time: \"from_unixtime_ms(ts_ms)\"}", &s, NULL, &e2), 0);
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

/* ------------------------------------------------------------------ dedupe: the rule */

/* schema (k int, event_ts ts) */
static void dd_make(op_t *o, sl_schema *s, const char *mode) {
    sl_schema_init(s);
    sl_schema_add(s, "k", SL_T_INT);
    sl_schema_add(s, "event_ts", SL_T_TS);
    char arg[256];
    snprintf(arg, sizeof arg, "{key: k, horizon: 10s, mode: %s}", mode);
    op_ok(o, "dedupe", arg, s, NULL);
}

static void dd_row(sl_batch *b, int64_t id, int64_t k, int64_t t_sec) {
    uint32_t r = add_row(b, id);
    sl_col_set_int(&b->col[0], r, k);
    sl_col_set_int(&b->col[1], r, T0 + t_sec * SEC);
}

/* (k, t) and whether it is a duplicate under the rule */
static const struct {
    int64_t k, t;
    int dup;
} dd_seq[] = {
    {1, 100, 0}, {1, 105, 1}, {1, 111, 0}, /* 11s from the kept 100: kept, t_kept = 111 */
    {1, 120, 1},                           /* 9s from the last kept (not from 105) */
    {1, 95, 0},                            /* 16s before 111: kept, t_kept = 95 */
    {1, 100, 1},                           /* 5s after 95 */
    {2, 0, 0},   {2, 10, 1},               /* exactly the horizon: duplicate */
    {2, -10, 1}, {2, 21, 0}, {3, 100, 0}, {1, 200, 0},
};

static void test_dedupe_rule_drop(void **state) {
    (void)state;
    op_t o;
    sl_schema s;
    dd_make(&o, &s, "drop");
    assert_int_equal(s.n, 2); /* drop mode adds no column */
    sl_batch *b = sl_batch_new(&s, 32);
    int n = (int)(sizeof dd_seq / sizeof *dd_seq), ndup = 0;
    for (int i = 0; i < n; i++) dd_row(b, i, dd_seq[i].k, dd_seq[i].t), ndup += dd_seq[i].dup;
    sl_op_ctx ctx;
    ctx_init(&ctx);
    sl_error err = {0};
    assert_int_equal(o.def->process(o.self, b, &ctx, &err), 0);
    assert_int_equal(b->n, n - ndup);
    for (int i = 0; i < n; i++) assert_int_equal(has_pos(b, i), !dd_seq[i].dup);
    assert_int_equal(ctx.duplicates, ndup);
    assert_int_equal(stat_num(&o, "duplicates"), ndup);
    assert_int_equal(stat_num(&o, "kept"), n - ndup);
    sl_batch_free(b);
    op_free(&o);
}

static void test_dedupe_rule_flag_one_per_batch(void **state) {
    (void)state;
    op_t o;
    sl_schema s;
    dd_make(&o, &s, "flag");
    int fc = sl_schema_find(&s, "is_duplicate");
    assert_int_equal(fc, 2);
    assert_int_equal(s.f[fc].type, SL_T_BOOL);
    sl_batch *b = sl_batch_new(&s, 4);
    sl_op_ctx ctx;
    ctx_init(&ctx);
    sl_error err = {0};
    int n = (int)(sizeof dd_seq / sizeof *dd_seq);
    for (int i = 0; i < n; i++) {
        sl_batch_clear(b);
        dd_row(b, i, dd_seq[i].k, dd_seq[i].t);
        assert_int_equal(o.def->process(o.self, b, &ctx, &err), 0);
        assert_int_equal(b->n, 1);
        assert_false(b->col[fc].null[0]);
        if (b->col[fc].v.b[0] != dd_seq[i].dup) fail_msg("record %d: flag %d, want %d", i, b->col[fc].v.b[0], dd_seq[i].dup);
    }
    sl_batch_free(b);
    op_free(&o);
}

static void test_dedupe_string_multi_null_keys(void **state) {
    (void)state;
    sl_schema s;
    sl_schema_init(&s);
    sl_schema_add(&s, "a", SL_T_STRING);
    sl_schema_add(&s, "b", SL_T_INT);
    sl_schema_add(&s, "ts", SL_T_TS);
    op_t o;
    op_ok(&o, "dedupe", "{key: [a, b], horizon: 1m, time: ts, mode: flag, column: dup}", &s, NULL);
    int fc = sl_schema_find(&s, "dup");
    assert_true(fc >= 0);
    sl_batch *bt = sl_batch_new(&s, 16);
    struct {
        const char *a;
        int bnull;
        int64_t b;
        int dup;
    } rows[] = {
        {"x", 0, 1, 0}, {"x", 0, 2, 0}, {"y", 0, 1, 0}, {"x", 0, 1, 1}, {NULL, 0, 1, 0}, {NULL, 0, 1, 1},
        {"", 0, 1, 0},  {"x", 1, 0, 0}, {"x", 1, 0, 1}, {"xy", 0, 1, 0},
    };
    int n = (int)(sizeof rows / sizeof *rows);
    for (int i = 0; i < n; i++) {
        uint32_t r = add_row(bt, i);
        if (rows[i].a) sl_col_set_str(&bt->col[0], r, rows[i].a, (uint32_t)strlen(rows[i].a));
        if (!rows[i].bnull) sl_col_set_int(&bt->col[1], r, rows[i].b);
        sl_col_set_int(&bt->col[2], r, T0 + i * SEC);
    }
    sl_op_ctx ctx;
    ctx_init(&ctx);
    sl_error err = {0};
    assert_int_equal(o.def->process(o.self, bt, &ctx, &err), 0);
    for (int i = 0; i < n; i++)
        if (bt->col[fc].v.b[i] != rows[i].dup) fail_msg("row %d: flag %d, want %d", i, bt->col[fc].v.b[i], rows[i].dup);
    sl_batch_free(bt);
    op_free(&o);

    sl_error e2 = {0};
    assert_int_not_equal(op_make(&o, "dedupe", "{key: nosuch, horizon: 1m, time: ts}", &s, NULL, &e2), 0);
    memset(&e2, 0, sizeof e2);
    assert_int_not_equal(op_make(&o, "dedupe", "{key: a, horizon: 1m}", &s, NULL, &e2), 0); /* no event_ts */
    assert_non_null(strstr(e2.msg, "event_ts"));
}

/* ------------------------------------------------------------------ dedupe: brute force */

#define DD_N 100000
#define DD_DELAY_MS 2000
#define DD_HORIZON_MS 2000
enum { D_KEPT = 1, D_DUP = 2, D_LATE = 3 };

typedef struct {
    int64_t k, t_ms;
} dd_rec;

static dd_rec *dd_gen(void) {
    dd_rec *r = malloc(DD_N * sizeof *r);
    for (int i = 0; i < DD_N; i++) {
        int64_t base = (int64_t)i * 10; /* 100 records per second of event time */
        int64_t jit = (rnd() % 10) ? rnd_range(0, 1200) : rnd_range(0, 4000); /* some late */
        if (i > 0 && rnd() % 4 == 0) {
            /* a redelivery of a recent record, its event time moved a little */
            int j = i - 1 - (int)rnd_range(0, i < 150 ? i - 1 : 149);
            r[i].k = r[j].k;
            r[i].t_ms = r[j].t_ms + rnd_range(-1500, 300);
        } else {
            r[i].k = (int64_t)(rnd() >> 20);
            r[i].t_ms = T0 / SL_US_PER_MS + base - jit;
        }
    }
    return r;
}

/* Open-addressing map int64 -> int64 for the brute force (no eviction). */
typedef struct {
    int64_t *k, *v;
    uint8_t *used;
    size_t cap;
} bmap;
static int64_t *bmap_get(bmap *m, int64_t k, bool add) {
    size_t j = (size_t)((uint64_t)k * 0x9E3779B97F4A7C15ull >> 11) & (m->cap - 1);
    while (m->used[j]) {
        if (m->k[j] == k) return &m->v[j];
        j = (j + 1) & (m->cap - 1);
    }
    if (!add) return NULL;
    m->used[j] = 1;
    m->k[j] = k;
    return &m->v[j];
}

static uint8_t *dd_brute(const dd_rec *r) {
    uint8_t *d = malloc(DD_N);
    bmap m = {calloc(1 << 18, 8), calloc(1 << 18, 8), calloc(1 << 18, 1), 1 << 18};
    int64_t maxt = INT64_MIN;
    for (int i = 0; i < DD_N; i++) {
        int64_t t = r[i].t_ms;
        if (maxt != INT64_MIN && t < maxt - DD_DELAY_MS) {
            d[i] = D_LATE;
            continue;
        }
        if (t > maxt) maxt = t;
        int64_t *tk = bmap_get(&m, r[i].k, false);
        if (tk && llabs(t - *tk) <= DD_HORIZON_MS) {
            d[i] = D_DUP;
            continue;
        }
        d[i] = D_KEPT;
        *bmap_get(&m, r[i].k, true) = t;
    }
    free(m.k), free(m.v), free(m.used);
    return d;
}

/* A pipeline of watermark -> dedupe as the engine runs it, with its snapshot store. */
typedef struct {
    sl_schema s;
    op_t wm, dd;
    sl_op_ctx ctx;
    sl_batch *b;
    bool flag;
    int flag_col;
    /* the store: per op, rows since the last full snapshot */
    sl_buf snaps[2][4096];
    bool full[2][4096];
    int nsnap[2];
    int commits;
    int64_t committed_pos; /* records before this index are covered by the snapshots */
} dd_pipe;

static void dd_pipe_open(dd_pipe *p, bool flag) {
    sl_schema_init(&p->s);
    sl_schema_add(&p->s, "id", SL_T_INT);
    sl_schema_add(&p->s, "k", SL_T_INT);
    sl_schema_add(&p->s, "ts_ms", SL_T_INT);
    op_ok(&p->wm, "watermark", "{time: \"from_unixtime_ms(ts_ms)\", delay: 2s, late: drop}", &p->s, NULL);
    op_ok(&p->dd, "dedupe", flag ? "{key: k, horizon: 2s, mode: flag}" : "{key: k, horizon: 2s}", &p->s, NULL);
    p->flag = flag;
    p->flag_col = sl_schema_find(&p->s, "is_duplicate");
    assert_true(flag ? p->flag_col >= 0 : p->flag_col < 0);
    ctx_init(&p->ctx);
    if (!p->b) p->b = sl_batch_new(&p->s, 1024);
}

static void dd_pipe_close_ops(dd_pipe *p) {
    op_free(&p->wm);
    op_free(&p->dd);
}

/* Runs records [from, to) in random batch sizes; writes decisions into d. */
static void dd_pipe_run(dd_pipe *p, const dd_rec *r, int from, int to, uint8_t *d, int commit_every_batches,
                        int full_every) {
    sl_error err = {0};
    int batches = 0;
    for (int i = from; i < to;) {
        int n = (int)rnd_range(1, 700);
        if (i + n > to) n = to - i;
        sl_batch_clear(p->b);
        for (int j = i; j < i + n; j++) {
            uint32_t row = add_row(p->b, j);
            sl_col_set_int(&p->b->col[0], row, j);
            sl_col_set_int(&p->b->col[1], row, r[j].k);
            sl_col_set_int(&p->b->col[2], row, r[j].t_ms);
        }
        assert_int_equal(p->wm.def->process(p->wm.self, p->b, &p->ctx, &err), 0);
        for (int j = i; j < i + n; j++) d[j] = D_LATE;
        for (uint32_t k = 0; k < p->b->n; k++) d[p->b->pos[k]] = D_DUP;
        if (p->b->n) assert_int_equal(p->dd.def->process(p->dd.self, p->b, &p->ctx, &err), 0);
        for (uint32_t k = 0; k < p->b->n; k++) {
            if (p->flag) d[p->b->pos[k]] = p->b->col[p->flag_col].v.b[k] ? D_DUP : D_KEPT;
            else d[p->b->pos[k]] = D_KEPT;
        }
        i += n;
        if (commit_every_batches && ++batches % commit_every_batches == 0) {
            /* commit: snapshot each op the way run.c does (deltas, every Nth full) */
            p->commits++;
            bool full = p->commits % full_every == 0;
            op_t *ops[2] = {&p->wm, &p->dd};
            for (int o = 0; o < 2; o++) {
                if (full) {
                    for (int q = 0; q < p->nsnap[o]; q++) sl_buf_free(&p->snaps[o][q]);
                    p->nsnap[o] = 0;
                }
                assert_true(p->nsnap[o] < 4096);
                sl_buf *sb = &p->snaps[o][p->nsnap[o]];
                memset(sb, 0, sizeof *sb);
                assert_int_equal(ops[o]->def->snapshot(ops[o]->self, sb, full), 0);
                p->full[o][p->nsnap[o]++] = full;
            }
            p->committed_pos = i;
        }
    }
}

/* Crash: a fresh process restores from the store and publishes its watermark. */
static void dd_pipe_restart(dd_pipe *p) {
    dd_pipe_close_ops(p);
    dd_pipe_open(p, p->flag);
    sl_error err = {0};
    op_t *ops[2] = {&p->wm, &p->dd};
    for (int o = 0; o < 2; o++)
        for (int q = 0; q < p->nsnap[o]; q++)
            if (ops[o]->def->restore(ops[o]->self, p->snaps[o][q].p, p->snaps[o][q].n, p->full[o][q], &err))
                fail_msg("restore failed: %s", err.msg);
    sl_batch_clear(p->b);
    assert_int_equal(p->wm.def->process(p->wm.self, p->b, &p->ctx, &err), 0);
}

static void dd_pipe_free(dd_pipe *p) {
    dd_pipe_close_ops(p);
    for (int o = 0; o < 2; o++)
        for (int q = 0; q < p->nsnap[o]; q++) sl_buf_free(&p->snaps[o][q]);
    sl_batch_free(p->b);
    free(p);
}

static void dd_compare(const uint8_t *got, const uint8_t *want, const char *what) {
    static const char *nm[] = {"?", "kept", "dup", "late"};
    int bad = 0, first = -1;
    for (int i = 0; i < DD_N; i++)
        if (got[i] != want[i]) {
            if (first < 0) first = i;
            bad++;
        }
    if (bad)
        fail_msg("%s: %d of %d decisions differ from brute force; first at record %d: got %s, want %s", what, bad, DD_N,
                 first, nm[got[first]], nm[want[first]]);
}

static void test_dedupe_bruteforce_no_restore(void **state) {
    (void)state;
    rng_s = 12345;
    dd_rec *r = dd_gen();
    uint8_t *want = dd_brute(r);
    int nd = 0, nl = 0;
    for (int i = 0; i < DD_N; i++) nd += want[i] == D_DUP, nl += want[i] == D_LATE;
    /* the data exercises all three outcomes */
    assert_true(nd > DD_N / 20);
    assert_true(nl > DD_N / 100);
    uint8_t *got = calloc(DD_N, 1);
    dd_pipe *p = calloc(1, sizeof *p);
    dd_pipe_open(p, false);
    dd_pipe_run(p, r, 0, DD_N, got, 0, 1);
    /* eviction happened: far fewer keys than kept records */
    double keys = stat_num(&p->dd, "keys");
    assert_true(keys < DD_N / 10);
    dd_compare(got, want, "drop mode, no restore");
    assert_int_equal((int64_t)stat_num(&p->dd, "duplicates"), nd);
    dd_pipe_free(p);
    free(got), free(want), free(r);
}

/* Same data, one record per batch: eviction always uses a watermark that every
 * later record respects, so this isolates batch-boundary effects. */
static void test_dedupe_bruteforce_batch_of_one(void **state) {
    (void)state;
    rng_s = 12345;
    dd_rec *r = dd_gen();
    uint8_t *want = dd_brute(r);
    uint8_t *got = calloc(DD_N, 1);
    dd_pipe *p = calloc(1, sizeof *p);
    dd_pipe_open(p, true);
    sl_error err = {0};
    for (int j = 0; j < DD_N; j++) {
        sl_batch_clear(p->b);
        uint32_t row = add_row(p->b, j);
        sl_col_set_int(&p->b->col[0], row, j);
        sl_col_set_int(&p->b->col[1], row, r[j].k);
        sl_col_set_int(&p->b->col[2], row, r[j].t_ms);
        assert_int_equal(p->wm.def->process(p->wm.self, p->b, &p->ctx, &err), 0);
        got[j] = D_LATE;
        if (!p->b->n) continue;
        assert_int_equal(p->dd.def->process(p->dd.self, p->b, &p->ctx, &err), 0);
        got[j] = p->b->col[p->flag_col].v.b[0] ? D_DUP : D_KEPT;
    }
    dd_compare(got, want, "one record per batch");
    dd_pipe_free(p);
    free(got), free(want), free(r);
}

static void dedupe_restore_case(bool flag, uint64_t seed) {
    rng_s = 12345;
    dd_rec *r = dd_gen();
    uint8_t *want = dd_brute(r);
    uint8_t *got = calloc(DD_N, 1);
    rng_s = seed;
    dd_pipe *p = calloc(1, sizeof *p);
    dd_pipe_open(p, flag);
    /* first process: commit every 3 batches, full every 7th commit; it dies
     * after record `crash`, some way past its last commit */
    int crash = DD_N / 2 + 1234;
    dd_pipe_run(p, r, 0, crash, got, 3, 7);
    int64_t resume = p->committed_pos;
    assert_true(resume > 0 && resume <= crash);
    bool had_full = false;
    for (int q = 0; q < p->nsnap[1]; q++) had_full |= p->full[1][q];
    assert_true(had_full);
    assert_true(p->nsnap[1] > 1); /* the full and some deltas after it */
    dd_pipe_restart(p);
    /* second process re-reads from the committed position */
    dd_pipe_run(p, r, (int)resume, DD_N, got, 3, 7);
    dd_compare(got, want, flag ? "flag mode, restore mid-stream" : "drop mode, restore mid-stream");
    int nd = 0;
    for (int i = 0; i < DD_N; i++) nd += want[i] == D_DUP;
    assert_int_equal((int64_t)stat_num(&p->dd, "duplicates"), nd);
    dd_pipe_free(p);
    free(got), free(want), free(r);
}

static void test_dedupe_bruteforce_restore_flag(void **state) {
    (void)state;
    dedupe_restore_case(true, 777);
}

static void test_dedupe_bruteforce_restore_drop(void **state) {
    (void)state;
    dedupe_restore_case(false, 4242);
}

/* A restart before any full snapshot (run.c's first full is its 60th commit):
 * the store holds only deltas, which must rebuild the whole state. */
static void test_dedupe_restore_deltas_only(void **state) {
    (void)state;
    rng_s = 12345;
    dd_rec *r = dd_gen();
    uint8_t *want = dd_brute(r);
    uint8_t *got = calloc(DD_N, 1);
    rng_s = 99;
    dd_pipe *p = calloc(1, sizeof *p);
    dd_pipe_open(p, true);
    dd_pipe_run(p, r, 0, 30000, got, 2, 1000000);
    for (int q = 0; q < p->nsnap[1]; q++) assert_false(p->full[1][q]);
    dd_pipe_restart(p);
    dd_pipe_run(p, r, (int)p->committed_pos, DD_N, got, 2, 1000000);
    dd_compare(got, want, "restore from deltas only");
    dd_pipe_free(p);
    free(got), free(want), free(r);
}

static void test_dedupe_stats_bytes_per_key(void **state) {
    (void)state;
    op_t o;
    sl_schema s;
    dd_make(&o, &s, "drop");
    sl_batch *b = sl_batch_new(&s, 1024);
    sl_op_ctx ctx;
    ctx_init(&ctx);
    sl_error err = {0};
    for (int i = 0; i < 1000; i++) dd_row(b, i, i, i);
    assert_int_equal(o.def->process(o.self, b, &ctx, &err), 0);
    double keys = stat_num(&o, "keys"), bpk = stat_num(&o, "bytes_per_key"), sb = stat_num(&o, "state_bytes");
    assert_int_equal((int)keys, 1000);
    assert_false(isnan(bpk));
    assert_true(bpk >= 16 && bpk <= 200);
    assert_true(fabs(bpk - sb / keys) < 0.1);
    /* watermark far ahead: the next batch evicts every key */
    ctx.watermark = T0 + 100000 * SEC;
    sl_batch_clear(b);
    assert_int_equal(o.def->process(o.self, b, &ctx, &err), 0);
    assert_int_equal((int)stat_num(&o, "keys"), 0);
    assert_true(stat_num(&o, "bytes_per_key") == 0);
    sl_batch_free(b);
    op_free(&o);
}

/* ------------------------------------------------------------------ lookup */

static char *lk_dir;

static int lk_setup(void **state) {
    (void)state;
    lk_dir = strdup("/tmp/sl_ops_test_XXXXXX");
    assert_non_null(mkdtemp(lk_dir));
    return 0;
}
static int lk_teardown(void **state) {
    (void)state;
    rm_rf(lk_dir);
    free(lk_dir);
    return 0;
}

static void lk_schema_int(sl_schema *s) {
    sl_schema_init(s);
    sl_schema_add(s, "id", SL_T_INT);
    sl_schema_add(s, "loc", SL_T_INT);
}

static const char *str_at(const sl_batch *b, int c, uint32_t r, char *out) {
    if (b->col[c].null[r]) return NULL;
    memcpy(out, b->col[c].v.s[r].ptr, b->col[c].v.s[r].len);
    out[b->col[c].v.s[r].len] = 0;
    return out;
}

static void test_lookup_left_int(void **state) {
    (void)state;
    char path[512];
    snprintf(path, sizeof path, "%s/loc.csv", lk_dir);
    write_file(path, "loc_id,name,score,extra\n1,alpha,1.5,x\n2,beta,2.5,y\n4,\"quoted, name\",,z\n");
    sl_schema s;
    lk_schema_int(&s);
    op_t o;
    char arg[1024];
    snprintf(arg, sizeof arg, "{file: %s, on: loc, key: loc_id, columns: {name: string, score: double}}", path);
    op_ok(&o, "lookup", arg, &s, NULL);
    int nc = sl_schema_find(&s, "name"), sc = sl_schema_find(&s, "score");
    assert_int_equal(nc, 2);
    assert_int_equal(sc, 3);
    assert_int_equal(s.f[sc].type, SL_T_DOUBLE);
    sl_batch *b = sl_batch_new(&s, 8);
    int64_t locs[] = {1, 2, 5, 0, 4};
    for (int i = 0; i < 5; i++) {
        uint32_t r = add_row(b, i);
        sl_col_set_int(&b->col[0], r, i);
        if (i != 3) sl_col_set_int(&b->col[1], r, locs[i]); /* row 3: NULL key */
    }
    sl_op_ctx ctx;
    ctx_init(&ctx);
    sl_error err = {0};
    assert_int_equal(o.def->process(o.self, b, &ctx, &err), 0);
    assert_int_equal(b->n, 5);
    char tmp[64];
    assert_string_equal(str_at(b, nc, 0, tmp), "alpha");
    assert_true(b->col[sc].v.d[0] == 1.5);
    assert_string_equal(str_at(b, nc, 1, tmp), "beta");
    assert_null(str_at(b, nc, 2, tmp));
    assert_true(b->col[sc].null[2]);
    assert_null(str_at(b, nc, 3, tmp));
    assert_string_equal(str_at(b, nc, 4, tmp), "quoted, name");
    assert_true(b->col[sc].null[4]); /* empty cell -> NULL */
    assert_int_equal(ctx.filtered, 0);
    assert_int_equal(stat_num(&o, "matched"), 3);
    assert_int_equal(stat_num(&o, "unmatched"), 2);
    assert_int_equal(stat_num(&o, "lookup_rows"), 3);
    sl_batch_free(b);
    op_free(&o);
}

static void test_lookup_inner_string_key(void **state) {
    (void)state;
    char path[512];
    snprintf(path, sizeof path, "%s/codes.csv", lk_dir);
    write_file(path, "code,label,n\nA1,first,10\nB2,second,20\n007,bond,7\n");
    sl_schema s;
    sl_schema_init(&s);
    sl_schema_add(&s, "code", SL_T_STRING);
    op_t o;
    char arg[1024];
    /* a list of columns: strings */
    snprintf(arg, sizeof arg, "{file: %s, on: code, columns: [label, n], how: inner}", path);
    op_ok(&o, "lookup", arg, &s, NULL);
    int lc = sl_schema_find(&s, "label"), ncol = sl_schema_find(&s, "n");
    assert_int_equal(s.f[ncol].type, SL_T_STRING);
    sl_batch *b = sl_batch_new(&s, 8);
    const char *codes[] = {"B2", "zz", "A1", NULL, "007", "7"};
    for (int i = 0; i < 6; i++) {
        uint32_t r = add_row(b, i);
        if (codes[i]) sl_col_set_str(&b->col[0], r, codes[i], (uint32_t)strlen(codes[i]));
    }
    sl_op_ctx ctx;
    ctx_init(&ctx);
    sl_error err = {0};
    assert_int_equal(o.def->process(o.self, b, &ctx, &err), 0);
    assert_int_equal(b->n, 3);
    char tmp[64];
    assert_int_equal(b->pos[0], 0);
    assert_string_equal(str_at(b, lc, 0, tmp), "second");
    assert_string_equal(str_at(b, ncol, 0, tmp), "20");
    assert_int_equal(b->pos[1], 2);
    assert_string_equal(str_at(b, lc, 1, tmp), "first");
    assert_int_equal(b->pos[2], 4); /* "007" is a string key, not 7 */
    assert_string_equal(str_at(b, lc, 2, tmp), "bond");
    assert_int_equal(ctx.filtered, 3);
    sl_batch_free(b);
    op_free(&o);
}

static void test_lookup_missing_file(void **state) {
    (void)state;
    char path[512];
    snprintf(path, sizeof path, "%s/later.csv", lk_dir);
    unlink(path);
    sl_schema s;
    lk_schema_int(&s);
    op_t o;
    char arg[1024];
    snprintf(arg, sizeof arg, "{file: %s, on: loc, columns: name}", path);
    op_ok(&o, "lookup", arg, &s, NULL); /* create does not need the file */
    sl_batch *b = sl_batch_new(&s, 4);
    sl_col_set_int(&b->col[1], add_row(b, 0), 1);
    sl_op_ctx ctx;
    ctx_init(&ctx);
    sl_error err = {0};
    int rc = o.def->process(o.self, b, &ctx, &err);
    assert_int_equal(rc, SL_EIO);
    assert_non_null(strstr(err.msg, "later.csv"));
    /* once the file exists the next batch works */
    write_file(path, "loc,name\n1,one\n");
    memset(&err, 0, sizeof err);
    assert_int_equal(o.def->process(o.self, b, &ctx, &err), 0);
    char tmp[64];
    assert_string_equal(str_at(b, 2, 0, tmp), "one");
    sl_batch_free(b);
    op_free(&o);

    /* a file without the key column is an error at first process */
    snprintf(path, sizeof path, "%s/nokey.csv", lk_dir);
    write_file(path, "other,name\n1,one\n");
    lk_schema_int(&s);
    snprintf(arg, sizeof arg, "{file: %s, on: loc, columns: name}", path);
    op_ok(&o, "lookup", arg, &s, NULL);
    b = sl_batch_new(&s, 4);
    sl_col_set_int(&b->col[1], add_row(b, 0), 1);
    memset(&err, 0, sizeof err);
    assert_int_not_equal(o.def->process(o.self, b, &ctx, &err), 0);
    assert_non_null(strstr(err.msg, "loc"));
    sl_batch_free(b);
    op_free(&o);
}

static void test_lookup_reload(void **state) {
    (void)state;
    char path[512], tmpp[512];
    snprintf(path, sizeof path, "%s/reload.csv", lk_dir);
    snprintf(tmpp, sizeof tmpp, "%s/.reload.tmp", lk_dir);
    write_file(path, "loc,name\n1,one\n2,two\n");
    sl_schema s;
    lk_schema_int(&s);
    op_t o;
    char arg[1024];
    snprintf(arg, sizeof arg, "{file: %s, on: loc, columns: name, check_every: 1ms}", path);
    op_ok(&o, "lookup", arg, &s, NULL);
    sl_batch *b = sl_batch_new(&s, 4);
    sl_op_ctx ctx;
    ctx_init(&ctx);
    sl_error err = {0};
    char tmp[64];
    sl_col_set_int(&b->col[1], add_row(b, 0), 1);
    sl_col_set_int(&b->col[1], add_row(b, 1), 3);
    assert_int_equal(o.def->process(o.self, b, &ctx, &err), 0);
    assert_string_equal(str_at(b, 2, 0, tmp), "one");
    assert_null(str_at(b, 2, 1, tmp));
    /* replaced atomically with new content */
    write_file(tmpp, "loc,name\n1,uno\n3,tres\n");
    assert_int_equal(rename(tmpp, path), 0);
    usleep(20000);
    assert_int_equal(o.def->process(o.self, b, &ctx, &err), 0);
    assert_string_equal(str_at(b, 2, 0, tmp), "uno");
    assert_string_equal(str_at(b, 2, 1, tmp), "tres");
    assert_int_equal(stat_num(&o, "reloads"), 1);
    /* a broken file keeps the previous table */
    sl_log_set_level(SL_LOG_OFF);
    write_file(tmpp, "wrong,header\n1,x\n");
    assert_int_equal(rename(tmpp, path), 0);
    usleep(20000);
    assert_int_equal(o.def->process(o.self, b, &ctx, &err), 0);
    assert_string_equal(str_at(b, 2, 0, tmp), "uno");
    assert_string_equal(str_at(b, 2, 1, tmp), "tres");
    /* rewritten in place (same inode) with a different size */
    write_file(path, "loc,name\n1,eins\n3,drei\n2,zwei\n");
    usleep(20000);
    assert_int_equal(o.def->process(o.self, b, &ctx, &err), 0);
    assert_string_equal(str_at(b, 2, 0, tmp), "eins");
    assert_string_equal(str_at(b, 2, 1, tmp), "drei");
    sl_log_set_level(SL_LOG_INFO);
    sl_batch_free(b);
    op_free(&o);
}

static void test_lookup_bad_rows_skipped(void **state) {
    (void)state;
    char path[512];
    snprintf(path, sizeof path, "%s/bad.csv", lk_dir);
    write_file(path,
               "loc,name,n\n"
               "1,one,1\n"
               "x,notanint,2\n"   /* key is not an int */
               "2,two\n"          /* missing column */
               "3,three,abc\n"    /* n is not an int */
               ",nokey,4\n"       /* empty key */
               "4,\"unterminated\n" /* bad quoting */
               "5,five,5\n");
    sl_schema s;
    lk_schema_int(&s);
    op_t o;
    char arg[1024];
    snprintf(arg, sizeof arg, "{file: %s, on: loc, columns: {name: string, n: int}}", path);
    op_ok(&o, "lookup", arg, &s, NULL);
    sl_batch *b = sl_batch_new(&s, 8);
    for (int i = 1; i <= 5; i++) sl_col_set_int(&b->col[1], add_row(b, i), i);
    sl_op_ctx ctx;
    ctx_init(&ctx);
    sl_error err = {0};
    sl_log_set_level(SL_LOG_OFF);
    assert_int_equal(o.def->process(o.self, b, &ctx, &err), 0);
    sl_log_set_level(SL_LOG_INFO);
    char tmp[64];
    assert_string_equal(str_at(b, 2, 0, tmp), "one");
    assert_int_equal(b->col[3].v.i[0], 1);
    for (uint32_t r = 1; r <= 3; r++)
        if (str_at(b, 2, r, tmp))
            fail_msg("stream loc %u matched a bad lookup row (name '%s'): the row ',nokey,4' has an empty int key "
                     "and was stored under the previous row's key",
                     r + 1, tmp);
    assert_string_equal(str_at(b, 2, 4, tmp), "five");
    /* only the two good rows are in the table: the empty-key row is not a key */
    assert_int_equal(stat_num(&o, "lookup_rows"), 2);
    sl_batch_free(b);
    op_free(&o);
}

static void test_lookup_bad_specs(void **state) {
    (void)state;
    sl_schema s;
    sl_schema_init(&s);
    sl_schema_add(&s, "d", SL_T_DOUBLE);
    sl_schema_add(&s, "name", SL_T_STRING);
    op_t o;
    sl_error err = {0};
    assert_int_not_equal(op_make(&o, "lookup", "{file: x.csv, on: d, columns: a}", &s, NULL, &err), 0);
    assert_non_null(strstr(err.msg, "int or string"));
    memset(&err, 0, sizeof err);
    assert_int_not_equal(op_make(&o, "lookup", "{file: x.csv, on: nosuch, columns: a}", &s, NULL, &err), 0);
    memset(&err, 0, sizeof err);
    assert_int_not_equal(op_make(&o, "lookup", "{file: x.csv, on: name, columns: name}", &s, NULL, &err), 0);
    assert_non_null(strstr(err.msg, "already exists"));
    memset(&err, 0, sizeof err);
    assert_int_not_equal(op_make(&o, "lookup", "{file: x.csv, on: name, columns: {a: nosuchtype}}", &s, NULL, &err), 0);
}

/* ------------------------------------------------------------------ window */

/* input schema: ts, k (string), v (int), d (double) */
static void win_in_schema(sl_schema *s) {
    sl_schema_init(s);
    sl_schema_add(s, "ts", SL_T_TS);
    sl_schema_add(s, "k", SL_T_STRING);
    sl_schema_add(s, "v", SL_T_INT);
    sl_schema_add(s, "d", SL_T_DOUBLE);
}

static sl_window *win_make(const char *yaml, const sl_schema *in, sl_spec **spec) {
    sl_error e = {0};
    char doc[4096];
    snprintf(doc, sizeof doc, "w: %s\n", yaml);
    *spec = sl_spec_load_mem("w.yaml", doc, strlen(doc), NULL, &e);
    if (!*spec) fail_msg("spec: %s", e.msg);
    sl_window *w = sl_window_create(sl_node_get(sl_spec_root(*spec), "w"), in, &e);
    if (!w) fail_msg("window: %s", e.msg);
    return w;
}

#define WIN_AGGS                                                                                            \
    "{n: \"count(*)\", nv: \"count(v)\", s: \"sum(v)\", a: \"avg(v)\", mn: \"min(d)\", mx: \"max(d)\", "     \
    "cd: \"count_distinct(v)\", sd: \"sum(d)\", mt: \"max(ts)\"}"

static const char *WKEYS[] = {"a", "b", "ccc", NULL};
typedef struct {
    int64_t t;
    int k;      /* index in WKEYS (3 = NULL) */
    int vnull;  /* v is NULL */
    int64_t v;
    int dnull;
    double d;
} win_rec;

static win_rec *win_gen(int n, int64_t step_us, int64_t jitter_us) {
    win_rec *r = calloc((size_t)n, sizeof *r);
    for (int i = 0; i < n; i++) {
        r[i].t = T0 + i * step_us + rnd_range(0, jitter_us);
        r[i].k = (int)rnd_range(0, 3);
        r[i].vnull = rnd() % 10 == 0;
        r[i].v = rnd_range(-50, 50);
        r[i].dnull = rnd() % 7 == 0;
        r[i].d = (double)rnd_range(-100000, 100000) / 8.0;
    }
    return r;
}

static void win_fill(sl_batch *b, const win_rec *r, int from, int to) {
    sl_batch_clear(b);
    for (int i = from; i < to; i++) {
        uint32_t row = add_row(b, i);
        sl_col_set_int(&b->col[0], row, r[i].t);
        if (WKEYS[r[i].k]) sl_col_set_str(&b->col[1], row, WKEYS[r[i].k], (uint32_t)strlen(WKEYS[r[i].k]));
        if (!r[i].vnull) sl_col_set_int(&b->col[2], row, r[i].v);
        if (!r[i].dnull) sl_col_set_double(&b->col[3], row, r[i].d);
    }
}

/* Expected and observed values per (window index, key). */
#define W_MAXWIN 512
typedef struct {
    int seen;     /* emitted at least once */
    int final;    /* last emission was final */
    int finals;   /* how many final emissions */
    int64_t n, nv, s, cd, mt;
    double a, mn, mx, sd;
    int a_null, mn_null, s_null;
    int64_t ws;
} wres;

typedef struct {
    int64_t base, size, slide;
    wres g[W_MAXWIN][4];
} wtab;

static void brute_window(wtab *T, const win_rec *r, int n) {
    for (int wi = 0; wi < W_MAXWIN; wi++) {
        for (int k = 0; k < 4; k++) {
            int64_t ws = T->base + wi * T->slide;
            wres *g = &T->g[wi][k];
            memset(g, 0, sizeof *g);
            g->ws = ws;
            uint8_t seenv[101] = {0};
            double sum = 0, mn = INFINITY, mx = -INFINITY;
            int64_t isum = 0, mt = INT64_MIN;
            int nd = 0;
            for (int i = 0; i < n; i++) {
                if (r[i].k != k || r[i].t < ws || r[i].t >= ws + T->size) continue;
                g->n++;
                if (r[i].t > mt) mt = r[i].t;
                if (!r[i].vnull) {
                    g->nv++;
                    isum += r[i].v;
                    if (!seenv[r[i].v + 50]) seenv[r[i].v + 50] = 1, g->cd++;
                }
                if (!r[i].dnull) {
                    nd++;
                    sum += r[i].d;
                    if (r[i].d < mn) mn = r[i].d;
                    if (r[i].d > mx) mx = r[i].d;
                }
            }
            if (!g->n) continue;
            g->seen = 1;
            g->s = isum;
            g->s_null = g->nv == 0;
            g->a_null = g->nv == 0;
            g->a = g->nv ? (double)isum / (double)g->nv : 0;
            g->mn_null = nd == 0;
            g->mn = mn;
            g->mx = mx;
            g->sd = sum;
            g->mt = mt;
        }
    }
}

typedef struct {
    int ws, k, n, nv, s, a, mn, mx, cd, sd, mt, fin, grp;
} wcols;

static wcols win_cols(const sl_window *w) {
    const sl_schema *o = sl_window_schema(w);
    wcols c = {sl_schema_find(o, "window_start"), sl_schema_find(o, "k"), sl_schema_find(o, "n"),
               sl_schema_find(o, "nv"), sl_schema_find(o, "s"), sl_schema_find(o, "a"),
               sl_schema_find(o, "mn"), sl_schema_find(o, "mx"), sl_schema_find(o, "cd"),
               sl_schema_find(o, "sd"), sl_schema_find(o, "mt"), sl_schema_find(o, "is_final"),
               sl_schema_find(o, "_group")};
    assert_true(c.ws == 0 && c.k == 1 && c.fin >= 0 && c.grp == o->n - 1 && c.fin == o->n - 2);
    return c;
}

/* Emits (repeatedly, until 0) and records the rows into T; returns rows emitted. */
static int win_emit(sl_window *w, sl_batch *out, wtab *T, int64_t wm, bool all_final) {
    wcols c = win_cols(w);
    int total = 0;
    uint32_t n;
    while ((n = sl_window_emit(w, out, wm, all_final)) > 0) {
        total += (int)n;
        for (uint32_t r = 0; r < n; r++) {
            int64_t ws = out->col[c.ws].v.i[r];
            assert_true((ws - T->base) % T->slide == 0);
            int64_t wi = (ws - T->base) / T->slide;
            assert_true(wi >= 0 && wi < W_MAXWIN);
            int k = 3;
            if (!out->col[c.k].null[r]) {
                for (k = 0; k < 3; k++)
                    if (out->col[c.k].v.s[r].len == strlen(WKEYS[k]) &&
                        !memcmp(out->col[c.k].v.s[r].ptr, WKEYS[k], out->col[c.k].v.s[r].len))
                        break;
                assert_true(k < 3);
            }
            wres *g = &T->g[wi][k];
            if (g->final) fail_msg("group (%lld, %d) emitted after it was final", (long long)wi, k);
            g->seen = 1;
            g->ws = ws;
            g->n = out->col[c.n].v.i[r];
            g->nv = out->col[c.nv].v.i[r];
            g->s_null = out->col[c.s].null[r];
            g->s = out->col[c.s].v.i[r];
            g->a_null = out->col[c.a].null[r];
            g->a = out->col[c.a].v.d[r];
            g->mn_null = out->col[c.mn].null[r];
            g->mn = out->col[c.mn].v.d[r];
            g->mx = out->col[c.mx].v.d[r];
            g->cd = out->col[c.cd].v.i[r];
            g->sd = out->col[c.sd].v.d[r];
            g->mt = out->col[c.mt].v.i[r];
            assert_false(out->col[c.fin].null[r]);
            g->final = out->col[c.fin].v.b[r];
            g->finals += g->final;
            assert_false(out->col[c.grp].null[r]);
            /* values under a NULL are unspecified: keep the table comparable */
            if (g->s_null) g->s = 0;
            if (g->a_null) g->a = 0;
            if (g->mn_null) g->mn = g->mx = g->sd = 0;
        }
    }
    return total;
}

static void wtab_compare(const wtab *got, const wtab *want, bool expect_final) {
    for (int wi = 0; wi < W_MAXWIN; wi++)
        for (int k = 0; k < 4; k++) {
            const wres *g = &got->g[wi][k], *e = &want->g[wi][k];
            if (g->seen != e->seen) fail_msg("window %d key %d: seen %d want %d", wi, k, g->seen, e->seen);
            if (!e->seen) continue;
            if (expect_final && (!g->final || g->finals != 1))
                fail_msg("window %d key %d: final %d (finals %d)", wi, k, g->final, g->finals);
            if (g->n != e->n || g->nv != e->nv || g->cd != e->cd || g->mt != e->mt)
                fail_msg("window %d key %d: n %lld/%lld nv %lld/%lld cd %lld/%lld", wi, k, (long long)g->n,
                         (long long)e->n, (long long)g->nv, (long long)e->nv, (long long)g->cd, (long long)e->cd);
            assert_int_equal(g->s_null, e->s_null);
            if (!e->s_null) assert_int_equal(g->s, e->s);
            assert_int_equal(g->a_null, e->a_null);
            if (!e->a_null) assert_true(fabs(g->a - e->a) < 1e-9);
            assert_int_equal(g->mn_null, e->mn_null);
            if (!e->mn_null) {
                assert_true(g->mn == e->mn);
                assert_true(g->mx == e->mx);
                assert_true(fabs(g->sd - e->sd) < 1e-6);
            }
        }
}

static void test_window_tumbling_bruteforce(void **state) {
    (void)state;
    rng_s = 2024;
    int n = 20000;
    win_rec *r = win_gen(n, 50000, 5 * SEC); /* 20 records/s over ~17 minutes */
    sl_schema in;
    win_in_schema(&in);
    sl_spec *spec;
    sl_window *w = win_make("{time: ts, size: 1m, keys: k, aggregates: " WIN_AGGS "}", &in, &spec);
    wtab *want = calloc(1, sizeof *want), *got = calloc(1, sizeof *got);
    want->base = got->base = T0; /* T0 is on a minute boundary */
    want->size = got->size = 60 * SEC;
    want->slide = got->slide = 60 * SEC;
    brute_window(want, r, n);
    sl_batch *b = sl_batch_new(&in, 1024);
    sl_batch *out = sl_batch_new(sl_window_schema(w), 7); /* small: emit is called repeatedly */
    sl_op_ctx ctx;
    ctx_init(&ctx);
    for (int i = 0; i < n;) {
        int m = (int)rnd_range(1, 1000);
        if (i + m > n) m = n - i;
        win_fill(b, r, i, i + m);
        assert_int_equal(sl_window_process(w, b, &ctx), 0);
        i += m;
    }
    win_emit(w, out, got, INT64_MIN, true);
    assert_int_equal(sl_window_groups(w), 0);
    wtab_compare(got, want, true);
    sl_batch_free(b);
    sl_batch_free(out);
    sl_window_free(w);
    sl_spec_free(spec);
    free(want), free(got), free(r);
}

static void test_window_hopping(void **state) {
    (void)state;
    rng_s = 31337;
    int n = 3000;
    win_rec *r = win_gen(n, 6 * SEC, 30 * SEC); /* 5 hours */
    sl_schema in;
    win_in_schema(&in);
    sl_spec *spec;
    sl_window *w = win_make("{time: ts, size: 1h, slide: 30m, keys: [k], aggregates: " WIN_AGGS "}", &in, &spec);
    wtab *want = calloc(1, sizeof *want), *got = calloc(1, sizeof *got);
    want->base = got->base = T0 - 1800 * SEC;
    want->size = got->size = 3600 * SEC;
    want->slide = got->slide = 1800 * SEC;
    brute_window(want, r, n);
    sl_batch *b = sl_batch_new(&in, 4096);
    sl_batch *out = sl_batch_new(sl_window_schema(w), 4096);
    sl_op_ctx ctx;
    ctx_init(&ctx);
    win_fill(b, r, 0, n);
    assert_int_equal(sl_window_process(w, b, &ctx), 0);
    win_emit(w, out, got, INT64_MIN, true);
    wtab_compare(got, want, true);
    /* each row is counted in exactly two windows */
    int64_t total = 0;
    for (int wi = 0; wi < W_MAXWIN; wi++)
        for (int k = 0; k < 4; k++) total += got->g[wi][k].n;
    assert_int_equal(total, 2 * n);
    sl_batch_free(b);
    sl_batch_free(out);
    sl_window_free(w);
    sl_spec_free(spec);
    free(want), free(got), free(r);
}

static void test_window_null_keys_and_no_keys(void **state) {
    (void)state;
    sl_schema in;
    win_in_schema(&in);
    sl_spec *spec;
    sl_window *w = win_make("{time: ts, size: 1m, keys: k, aggregates: {n: \"count(*)\"}}", &in, &spec);
    sl_batch *b = sl_batch_new(&in, 16);
    /* "" and NULL are different groups; two NULLs are one group */
    const char *ks[] = {NULL, "", NULL, "a", ""};
    for (int i = 0; i < 5; i++) {
        uint32_t r = add_row(b, i);
        sl_col_set_int(&b->col[0], r, T0 + i * SEC);
        if (ks[i]) sl_col_set_str(&b->col[1], r, ks[i], (uint32_t)strlen(ks[i]));
    }
    sl_op_ctx ctx;
    ctx_init(&ctx);
    assert_int_equal(sl_window_process(w, b, &ctx), 0);
    assert_int_equal(sl_window_groups(w), 3);
    sl_batch *out = sl_batch_new(sl_window_schema(w), 16);
    assert_int_equal(sl_window_emit(w, out, INT64_MIN, false), 3);
    int kc = sl_schema_find(sl_window_schema(w), "k"), nc = sl_schema_find(sl_window_schema(w), "n");
    int found = 0;
    for (uint32_t r = 0; r < 3; r++) {
        if (out->col[kc].null[r]) assert_int_equal(out->col[nc].v.i[r], 2), found |= 1;
        else if (out->col[kc].v.s[r].len == 0) assert_int_equal(out->col[nc].v.i[r], 2), found |= 2;
        else assert_int_equal(out->col[nc].v.i[r], 1), found |= 4;
    }
    assert_int_equal(found, 7);
    sl_batch_free(out);
    sl_window_free(w);
    sl_spec_free(spec);

    /* no keys: one group per window; rows with NULL time are ignored */
    w = win_make("{time: ts, size: 10s, aggregates: {n: \"count(*)\", s: \"sum(d)\"}}", &in, &spec);
    sl_batch_clear(b);
    for (int i = 0; i < 6; i++) {
        uint32_t r = add_row(b, i);
        if (i != 5) sl_col_set_int(&b->col[0], r, T0 + i * 4 * SEC); /* 0,4,8 | 12,16 */
        sl_col_set_double(&b->col[3], r, 1.0);
    }
    assert_int_equal(sl_window_process(w, b, &ctx), 0);
    assert_int_equal(sl_window_groups(w), 2);
    out = sl_batch_new(sl_window_schema(w), 16);
    assert_int_equal(sl_schema_find(sl_window_schema(w), "k"), -1);
    assert_int_equal(sl_window_emit(w, out, INT64_MIN, true), 2);
    int64_t sum = out->col[1].v.i[0] + out->col[1].v.i[1];
    assert_int_equal(sum, 5);
    sl_batch_free(out);
    sl_batch_free(b);
    sl_window_free(w);
    sl_spec_free(spec);
}

static void test_window_emit_final_and_dirty(void **state) {
    (void)state;
    sl_schema in;
    win_in_schema(&in);
    sl_spec *spec;
    sl_window *w = win_make("{time: ts, size: 1m, keys: k, aggregates: {n: \"count(*)\"}}", &in, &spec);
    const sl_schema *os = sl_window_schema(w);
    int nc = sl_schema_find(os, "n"), fc = sl_schema_find(os, "is_final"), wc = 0;
    sl_batch *b = sl_batch_new(&in, 16);
    sl_batch *out = sl_batch_new(os, 16);
    sl_op_ctx ctx;
    ctx_init(&ctx);
    /* window 0: keys a, b; window 1: key a */
    int64_t ts[] = {10, 20, 70};
    const char *ks[] = {"a", "b", "a"};
    for (int i = 0; i < 3; i++) {
        uint32_t r = add_row(b, i);
        sl_col_set_int(&b->col[0], r, T0 + ts[i] * SEC);
        sl_col_set_str(&b->col[1], r, ks[i], 1);
    }
    assert_int_equal(sl_window_process(w, b, &ctx), 0);
    assert_int_equal(sl_window_groups(w), 3);
    /* first emission: every group, none final */
    assert_int_equal(sl_window_emit(w, out, INT64_MIN, false), 3);
    for (uint32_t r = 0; r < 3; r++) assert_false(out->col[fc].v.b[r]);
    /* nothing changed: nothing to emit */
    assert_int_equal(sl_window_emit(w, out, INT64_MIN, false), 0);
    assert_int_equal(sl_window_emit(w, out, T0 + 59 * SEC, false), 0);
    /* one more row for (0, a): only that group */
    sl_batch_clear(b);
    uint32_t r = add_row(b, 9);
    sl_col_set_int(&b->col[0], r, T0 + 30 * SEC);
    sl_col_set_str(&b->col[1], r, "a", 1);
    assert_int_equal(sl_window_process(w, b, &ctx), 0);
    assert_int_equal(sl_window_emit(w, out, INT64_MIN, false), 1);
    assert_int_equal(out->col[wc].v.i[0], T0);
    assert_int_equal(out->col[nc].v.i[0], 2);
    assert_false(out->col[fc].v.b[0]);
    /* watermark reaches the end of window 0: its two groups final (even if not dirty) and dropped */
    assert_int_equal(sl_window_emit(w, out, T0 + 60 * SEC, false), 2);
    for (uint32_t i = 0; i < 2; i++) {
        assert_int_equal(out->col[wc].v.i[i], T0);
        assert_true(out->col[fc].v.b[i]);
    }
    assert_int_equal(sl_window_groups(w), 1);
    assert_int_equal(sl_window_emit(w, out, T0 + 60 * SEC, false), 0);
    /* end of input: the rest final */
    assert_int_equal(sl_window_emit(w, out, T0 + 60 * SEC, true), 1);
    assert_true(out->col[fc].v.b[0]);
    assert_int_equal(out->col[wc].v.i[0], T0 + 60 * SEC);
    assert_int_equal(sl_window_groups(w), 0);
    assert_int_equal(sl_window_emit(w, out, INT64_MAX, true), 0);
    sl_batch_free(b);
    sl_batch_free(out);
    sl_window_free(w);
    sl_spec_free(spec);
}

/* Runs the stream with periodic emits (watermark = max time - 10 s; the data is
 * never late for it); restores a fresh window from a snapshot at batch `restart_at`
 * (-1: never). Returns the table of last emitted values. */
static wtab *win_stream(const win_rec *r, int n, int restart_at, uint64_t seed, const char *yaml) {
    sl_schema in;
    win_in_schema(&in);
    sl_spec *spec;
    sl_window *w = win_make(yaml, &in, &spec);
    wtab *got = calloc(1, sizeof *got);
    got->base = T0;
    got->size = got->slide = 60 * SEC;
    sl_batch *b = sl_batch_new(&in, 512);
    sl_batch *out = sl_batch_new(sl_window_schema(w), 64);
    sl_op_ctx ctx;
    ctx_init(&ctx);
    rng_s = seed;
    int64_t maxt = INT64_MIN;
    int batch = 0;
    for (int i = 0; i < n; batch++) {
        int m = (int)rnd_range(1, 500);
        if (i + m > n) m = n - i;
        win_fill(b, r, i, i + m);
        for (int j = i; j < i + m; j++)
            if (r[j].t > maxt) maxt = r[j].t;
        assert_int_equal(sl_window_process(w, b, &ctx), 0);
        i += m;
        if (batch % 3 == 2) win_emit(w, out, got, maxt - 10 * SEC, false);
        if (batch == restart_at) {
            sl_buf buf = {0};
            assert_int_equal(sl_window_snapshot(w, &buf), 0);
            size_t groups = sl_window_groups(w);
            sl_window_free(w);
            sl_spec_free(spec);
            w = win_make(yaml, &in, &spec);
            sl_error err = {0};
            if (sl_window_restore(w, buf.p, buf.n, &err)) fail_msg("restore: %s", err.msg);
            assert_int_equal(sl_window_groups(w), groups);
            /* a truncated snapshot is refused */
            sl_spec *spec2;
            sl_window *w2 = win_make(yaml, &in, &spec2);
            assert_int_equal(sl_window_restore(w2, buf.p, buf.n - 3, &err), SL_ECORRUPT);
            sl_window_free(w2);
            sl_spec_free(spec2);
            sl_buf_free(&buf);
        }
    }
    win_emit(w, out, got, maxt - 10 * SEC, true);
    sl_batch_free(b);
    sl_batch_free(out);
    sl_window_free(w);
    sl_spec_free(spec);
    return got;
}

static void test_window_snapshot_roundtrip(void **state) {
    (void)state;
    rng_s = 555;
    int n = 20000;
    win_rec *r = win_gen(n, 50000, 5 * SEC);
    const char *yaml = "{time: ts, size: 1m, keys: k, aggregates: " WIN_AGGS "}";
    wtab *want = calloc(1, sizeof *want);
    want->base = T0;
    want->size = want->slide = 60 * SEC;
    brute_window(want, r, n);
    wtab *a = win_stream(r, n, -1, 1, yaml);
    wtab_compare(a, want, true);
    for (int restart = 5; restart < 60; restart += 17) {
        wtab *bt = win_stream(r, n, restart, 1, yaml);
        wtab_compare(bt, want, true);
        assert_memory_equal(a, bt, sizeof *a);
        free(bt);
    }
    free(a), free(want), free(r);
}

static void test_window_bad_specs(void **state) {
    (void)state;
    sl_schema in;
    win_in_schema(&in);
    const char *bad[] = {
        "{time: ts, size: 1m, aggregates: {n: \"mode(v)\"}}",
        "{time: ts, size: 1m, aggregates: {n: \"sum(k)\"}}",
        "{time: ts, size: 1m, aggregates: {n: \"sum(*)\"}}",
        "{time: ts, size: 1m, slide: 40s, aggregates: {n: \"count(*)\"}}",
        "{time: v, size: 1m, aggregates: {n: \"count(*)\"}}",
        "{time: ts, size: 1m, keys: nosuch, aggregates: {n: \"count(*)\"}}",
        "{time: ts, size: 1m, aggregates: {is_final: \"count(*)\"}}",
        "{time: ts, size: 1m, aggregates: {n: \"count(*) + 1\"}}", /* trailing text after the call */
        "{time: ts, size: 1m, aggregates: {n: \"sum(v) * 2\"}}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        char doc[512];
        snprintf(doc, sizeof doc, "w: %s\n", bad[i]);
        sl_error e = {0};
        sl_spec *spec = sl_spec_load_mem("w.yaml", doc, strlen(doc), NULL, &e);
        assert_non_null(spec);
        sl_window *w = sl_window_create(sl_node_get(sl_spec_root(spec), "w"), &in, &e);
        if (w) fail_msg("accepted a bad window spec: %s", bad[i]);
        assert_non_null(strstr(e.msg, "w.yaml:"));
        sl_spec_free(spec);
    }
}

int main(void) {
    sl_log_set_level(SL_LOG_WARN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_registry),
        cmocka_unit_test(test_expect_warn),
        cmocka_unit_test(test_expect_default_action_is_warn),
        cmocka_unit_test(test_expect_drop),
        cmocka_unit_test(test_expect_quarantine),
        cmocka_unit_test(test_expect_fail),
        cmocka_unit_test(test_expect_snapshot_counts),
        cmocka_unit_test(test_expect_bad_specs),
        cmocka_unit_test(test_derive),
        cmocka_unit_test(test_filter_null_predicate),
        cmocka_unit_test(test_watermark_per_record),
        cmocka_unit_test(test_watermark_drop_and_null_time),
        cmocka_unit_test(test_watermark_restore),
        cmocka_unit_test(test_dedupe_rule_drop),
        cmocka_unit_test(test_dedupe_rule_flag_one_per_batch),
        cmocka_unit_test(test_dedupe_string_multi_null_keys),
        cmocka_unit_test(test_dedupe_bruteforce_batch_of_one),
        cmocka_unit_test(test_dedupe_bruteforce_no_restore),
        cmocka_unit_test(test_dedupe_bruteforce_restore_flag),
        cmocka_unit_test(test_dedupe_bruteforce_restore_drop),
        cmocka_unit_test(test_dedupe_restore_deltas_only),
        cmocka_unit_test(test_dedupe_stats_bytes_per_key),
        cmocka_unit_test_setup_teardown(test_lookup_left_int, lk_setup, lk_teardown),
        cmocka_unit_test_setup_teardown(test_lookup_inner_string_key, lk_setup, lk_teardown),
        cmocka_unit_test_setup_teardown(test_lookup_missing_file, lk_setup, lk_teardown),
        cmocka_unit_test_setup_teardown(test_lookup_reload, lk_setup, lk_teardown),
        cmocka_unit_test_setup_teardown(test_lookup_bad_rows_skipped, lk_setup, lk_teardown),
        cmocka_unit_test(test_lookup_bad_specs),
        cmocka_unit_test(test_window_tumbling_bruteforce),
        cmocka_unit_test(test_window_hopping),
        cmocka_unit_test(test_window_null_keys_and_no_keys),
        cmocka_unit_test(test_window_emit_final_and_dirty),
        cmocka_unit_test(test_window_snapshot_roundtrip),
        cmocka_unit_test(test_window_bad_specs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
