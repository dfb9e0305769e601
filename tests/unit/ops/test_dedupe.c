/*
 * test_dedupe.c - the dedupe operator (src/ops/dedupe.c): the rule on small
 * sequences, then brute force on 100k random records (keys redelivered with
 * jittered, out-of-order event times, some late) fed in random batch sizes,
 * with full and delta snapshots taken the way the engine takes them and a
 * crash + restore in the middle.
 *
 * Helpers shared with the other operator tests are in ops_test.h.
 */
#include "ops_test.h"

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
    {2, -10, 1}, {2, 21, 0},  {3, 100, 0}, {1, 200, 0},
};

static void test_dedupe_rule_drop(void **state) {
    (void)state;
    op_t o;
    sl_schema s;
    dd_make(&o, &s, "drop");
    assert_int_equal(s.n, 2); /* drop mode adds no column */
    sl_batch *b = sl_batch_new(&s, 32);
    int n = (int)(sizeof dd_seq / sizeof *dd_seq), ndup = 0;
    for (int i = 0; i < n; i++)
        dd_row(b, i, dd_seq[i].k, dd_seq[i].t), ndup += dd_seq[i].dup;
    sl_op_ctx ctx;
    ctx_init(&ctx);
    sl_error err = {0};
    assert_int_equal(o.def->process(o.self, b, &ctx, &err), 0);
    assert_int_equal(b->n, n - ndup);
    for (int i = 0; i < n; i++)
        assert_int_equal(has_pos(b, i), !dd_seq[i].dup);
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
        if (b->col[fc].v.b[0] != dd_seq[i].dup)
            fail_msg("record %d: flag %d, want %d", i, b->col[fc].v.b[0], dd_seq[i].dup);
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
        {"x", 0, 1, 0},  {"x", 0, 2, 0}, {"y", 0, 1, 0}, {"x", 0, 1, 1}, {NULL, 0, 1, 0},
        {NULL, 0, 1, 1}, {"", 0, 1, 0},  {"x", 1, 0, 0}, {"x", 1, 0, 1}, {"xy", 0, 1, 0},
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
        if (bt->col[fc].v.b[i] != rows[i].dup)
            fail_msg("row %d: flag %d, want %d", i, bt->col[fc].v.b[i], rows[i].dup);
    sl_batch_free(bt);
    op_free(&o);

    sl_error e2 = {0};
    assert_int_not_equal(
        op_make(&o, "dedupe", "{key: nosuch, horizon: 1m, time: ts}", &s, NULL, &e2), 0);
    memset(&e2, 0, sizeof e2);
    assert_int_not_equal(op_make(&o, "dedupe", "{key: a, horizon: 1m}", &s, NULL, &e2),
                         0); /* no event_ts */
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
    op_ok(&p->wm, "watermark", "{time: \"from_unixtime_ms(ts_ms)\", delay: 2s, late: drop}", &p->s,
          NULL);
    op_ok(&p->dd, "dedupe", flag ? "{key: k, horizon: 2s, mode: flag}" : "{key: k, horizon: 2s}",
          &p->s, NULL);
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
static void dd_pipe_run(dd_pipe *p, const dd_rec *r, int from, int to, uint8_t *d,
                        int commit_every_batches, int full_every) {
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
        for (int j = i; j < i + n; j++)
            d[j] = D_LATE;
        for (uint32_t k = 0; k < p->b->n; k++)
            d[p->b->pos[k]] = D_DUP;
        if (p->b->n) assert_int_equal(p->dd.def->process(p->dd.self, p->b, &p->ctx, &err), 0);
        for (uint32_t k = 0; k < p->b->n; k++) {
            if (p->flag)
                d[p->b->pos[k]] = p->b->col[p->flag_col].v.b[k] ? D_DUP : D_KEPT;
            else
                d[p->b->pos[k]] = D_KEPT;
        }
        i += n;
        if (commit_every_batches && ++batches % commit_every_batches == 0) {
            /* commit: snapshot each op the way run.c does (deltas, every Nth full) */
            p->commits++;
            bool full = p->commits % full_every == 0;
            op_t *ops[2] = {&p->wm, &p->dd};
            for (int o = 0; o < 2; o++) {
                if (full) {
                    for (int q = 0; q < p->nsnap[o]; q++)
                        sl_buf_free(&p->snaps[o][q]);
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
            if (ops[o]->def->restore(ops[o]->self, p->snaps[o][q].p, p->snaps[o][q].n,
                                     p->full[o][q], &err))
                fail_msg("restore failed: %s", err.msg);
    sl_batch_clear(p->b);
    assert_int_equal(p->wm.def->process(p->wm.self, p->b, &p->ctx, &err), 0);
}

static void dd_pipe_free(dd_pipe *p) {
    dd_pipe_close_ops(p);
    for (int o = 0; o < 2; o++)
        for (int q = 0; q < p->nsnap[o]; q++)
            sl_buf_free(&p->snaps[o][q]);
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
        fail_msg(
            "%s: %d of %d decisions differ from brute force; first at record %d: got %s, want %s",
            what, bad, DD_N, first, nm[got[first]], nm[want[first]]);
}

static void test_dedupe_bruteforce_no_restore(void **state) {
    (void)state;
    rng_s = 12345;
    dd_rec *r = dd_gen();
    uint8_t *want = dd_brute(r);
    int nd = 0, nl = 0;
    for (int i = 0; i < DD_N; i++)
        nd += want[i] == D_DUP, nl += want[i] == D_LATE;
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
    for (int q = 0; q < p->nsnap[1]; q++)
        had_full |= p->full[1][q];
    assert_true(had_full);
    assert_true(p->nsnap[1] > 1); /* the full and some deltas after it */
    dd_pipe_restart(p);
    /* second process re-reads from the committed position */
    dd_pipe_run(p, r, (int)resume, DD_N, got, 3, 7);
    dd_compare(got, want, flag ? "flag mode, restore mid-stream" : "drop mode, restore mid-stream");
    int nd = 0;
    for (int i = 0; i < DD_N; i++)
        nd += want[i] == D_DUP;
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
    for (int q = 0; q < p->nsnap[1]; q++)
        assert_false(p->full[1][q]);
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
    for (int i = 0; i < 1000; i++)
        dd_row(b, i, i, i);
    assert_int_equal(o.def->process(o.self, b, &ctx, &err), 0);
    double keys = stat_num(&o, "keys"), bpk = stat_num(&o, "bytes_per_key"),
           sb = stat_num(&o, "state_bytes");
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

/* ---------------------------------------------------------------- the key table
 *
 * The table under load: keys that all share one home slot (one probe cluster,
 * with expired slots reused inside it), growth through many rebuilds, string
 * keys (fingerprints), NULL keys beside raw int keys, and restarts from full
 * and delta snapshots, every decision checked against the rule by brute force.
 */

/* The inverse of dedupe.c's key mixer (murmur3's finaliser): mix(unmix(x)) == x,
 * so unmix(1..n) are n keys whose home slot is 0 whatever the table's size. */
static uint64_t inv_odd(uint64_t c) {
    uint64_t x = c; /* Newton's iteration: correct bits double each step */
    for (int i = 0; i < 6; i++)
        x *= 2 - c * x;
    return x;
}
static uint64_t unxorshift33(uint64_t x) { return x ^ (x >> 33); }
static uint64_t unmix(uint64_t x) {
    x = unxorshift33(x);
    x *= inv_odd(0xc4ceb9fe1a85ec53ULL);
    x = unxorshift33(x);
    x *= inv_odd(0xff51afd7ed558ccdULL);
    return unxorshift33(x);
}

enum { KT_RAW, KT_COLLIDE, KT_STRING };

typedef struct {
    int kind;
    int nkeys;       /* key universe */
    int n;           /* records */
    int64_t step_us; /* event time between records (increasing: none is late) */
    int64_t horizon_s;
    int null_every;    /* KT_RAW: every Nth record has a NULL key (0: none) */
    int restart_every; /* batches between restarts from the snapshots (0: never) */
} kt_case;

static void kt_make(op_t *o, sl_schema *s, const kt_case *c) {
    sl_schema_init(s);
    sl_schema_add(s, "k", c->kind == KT_STRING ? SL_T_STRING : SL_T_INT);
    sl_schema_add(s, "event_ts", SL_T_TS);
    char arg[128];
    snprintf(arg, sizeof arg, "{key: k, horizon: %llds, mode: flag}", (long long)c->horizon_s);
    op_ok(o, "dedupe", arg, s, NULL);
}

static void kt_run(const kt_case *c) {
    int64_t *t_kept = malloc((size_t)(c->nkeys + 1) * sizeof *t_kept); /* [nkeys]: NULL */
    for (int k = 0; k <= c->nkeys; k++)
        t_kept[k] = INT64_MIN;
    op_t o;
    sl_schema s;
    kt_make(&o, &s, c);
    sl_batch *b = sl_batch_new(&s, 512);
    sl_op_ctx ctx;
    ctx_init(&ctx);
    sl_error err = {0};
    sl_buf snaps[64];
    bool full[64];
    int nsnap = 0, batches = 0, restarts = 0;
    int64_t h = c->horizon_s * SEC, dups = 0;
    for (int i = 0; i < c->n;) {
        int n = (int)rnd_range(1, 512);
        if (n > c->n - i) n = c->n - i;
        sl_batch_clear(b);
        int keyix[512];
        for (int j = 0; j < n; j++) {
            int k = (int)(rnd() % (uint64_t)c->nkeys);
            if (c->null_every && (i + j) % c->null_every == 0) k = c->nkeys;
            keyix[j] = k;
            uint32_t r = add_row(b, i + j);
            if (k < c->nkeys) {
                if (c->kind == KT_STRING) {
                    char ks[32];
                    int len = snprintf(ks, sizeof ks, "key-%d", k);
                    sl_col_set_str(&b->col[0], r, sl_arena_strdup(b->arena, ks, (size_t)len),
                                   (uint32_t)len);
                } else {
                    sl_col_set_int(&b->col[0], r,
                                   c->kind == KT_COLLIDE ? (int64_t)unmix((uint64_t)k + 1) : k);
                }
            }
            sl_col_set_int(&b->col[1], r, T0 + (int64_t)(i + j) * c->step_us);
        }
        assert_int_equal(o.def->process(o.self, b, &ctx, &err), 0);
        for (int j = 0; j < n; j++) {
            int64_t t = T0 + (int64_t)(i + j) * c->step_us, *tk = &t_kept[keyix[j]];
            int want = *tk != INT64_MIN && t - *tk <= h;
            if (!want) *tk = t;
            dups += want;
            if (b->col[2].v.b[j] != want)
                fail_msg("record %d (key %d): dup %d, want %d", i + j, keyix[j], b->col[2].v.b[j],
                         want);
        }
        i += n;
        /* the next batch's times are all after this watermark, as a watermark step ensures */
        ctx.watermark = T0 + (int64_t)(i - 1) * c->step_us - 2 * SEC;
        sl_batch_clear(b);
        assert_int_equal(o.def->process(o.self, b, &ctx, &err), 0);
        /* keys held: exactly the live ones */
        size_t live = 0;
        for (int k = 0; k <= c->nkeys; k++)
            live += t_kept[k] != INT64_MIN && t_kept[k] >= ctx.watermark - h;
        assert_int_equal((size_t)stat_num(&o, "keys"), live);
        /* commit: a full snapshot, then deltas */
        bool f = nsnap == 0 || nsnap == 63;
        if (f) {
            for (int q = 0; q < nsnap; q++)
                sl_buf_free(&snaps[q]);
            nsnap = 0;
        }
        memset(&snaps[nsnap], 0, sizeof snaps[nsnap]);
        assert_int_equal(o.def->snapshot(o.self, &snaps[nsnap], f), 0);
        full[nsnap++] = f;
        if (c->restart_every && ++batches % c->restart_every == 0) {
            /* a restart right after this commit: a fresh operator from the chain */
            op_free(&o);
            kt_make(&o, &s, c);
            for (int q = 0; q < nsnap; q++)
                if (o.def->restore(o.self, snaps[q].p, snaps[q].n, full[q], &err))
                    fail_msg("restore: %s", err.msg);
            sl_batch_clear(b);
            assert_int_equal(o.def->process(o.self, b, &ctx, &err), 0); /* the watermark */
            assert_int_equal((size_t)stat_num(&o, "keys"), live);
            restarts++;
        }
    }
    assert_true(!c->restart_every || restarts > 2);
    assert_true(dups > c->n / 20); /* the data has duplicates to find */
    if (!c->restart_every) assert_int_equal((int64_t)stat_num(&o, "duplicates"), dups);
    for (int q = 0; q < nsnap; q++)
        sl_buf_free(&snaps[q]);
    sl_batch_free(b);
    op_free(&o);
    free(t_kept);
}

static void test_table_colliding_keys(void **state) {
    (void)state;
    rng_s = 31;
    /* 1500 keys in one probe cluster; ~1200 live at a time, the rest expiring
     * and their slots reused in the middle of the cluster */
    kt_case c = {KT_COLLIDE, 1500, 40000, 10 * 1000, 10, 0, 0};
    kt_run(&c);
    c.restart_every = 7;
    kt_run(&c);
}

static void test_table_growth(void **state) {
    (void)state;
    rng_s = 32;
    /* a 1 h horizon: nothing expires, the table is rebuilt bigger again and again */
    kt_case c = {KT_RAW, 120000, 200000, 1000, 3600, 0, 0};
    kt_run(&c);
    c.restart_every = 50;
    kt_run(&c);
}

static void test_table_expiry_nulls_restarts(void **state) {
    (void)state;
    rng_s = 33;
    kt_case c = {KT_RAW, 20000, 150000, 500, 10, 97, 13};
    kt_run(&c);
}

static void test_table_string_keys(void **state) {
    (void)state;
    rng_s = 34;
    kt_case c = {KT_STRING, 20000, 100000, 500, 10, 0, 11};
    kt_run(&c);
}

/* A snapshot written before keys were stored as values holds fingerprints
 * (the key's XXH3 hash): the operator takes it as such and goes on hashing. */
static void test_restore_fingerprint_snapshot(void **state) {
    (void)state;
    op_t o;
    sl_schema s;
    dd_make(&o, &s, "flag");
    sl_batch *b = sl_batch_new(&s, 8);
    uint32_t r = add_row(b, 0);
    sl_col_set_int(&b->col[0], r, 42);
    int key[1] = {0};
    uint64_t fp = sl_key_hash(b, key, 1, r, 0x51c3);
    sl_buf buf = {0};
    sl_buf_put_i64(&buf, 0); /* duplicates */
    sl_buf_put_i64(&buf, 1); /* kept */
    sl_buf_put_i64(&buf, 1); /* one entry, no flags */
    sl_buf_put(&buf, &fp, 8);
    int64_t t = T0;
    sl_buf_put(&buf, &t, 8);
    sl_error err = {0};
    assert_int_equal(o.def->restore(o.self, buf.p, buf.n, true, &err), 0);
    sl_batch_clear(b);
    dd_row(b, 0, 42, 5); /* 5 s after the restored key: a duplicate */
    dd_row(b, 1, 43, 5);
    sl_op_ctx ctx;
    ctx_init(&ctx);
    assert_int_equal(o.def->process(o.self, b, &ctx, &err), 0);
    assert_true(b->col[2].v.b[0]);
    assert_false(b->col[2].v.b[1]);
    /* and its snapshots stay fingerprints: a fresh operator restores them */
    sl_buf again = {0};
    assert_int_equal(o.def->snapshot(o.self, &again, true), 0);
    op_t o2;
    sl_schema s2;
    dd_make(&o2, &s2, "flag");
    assert_int_equal(o2.def->restore(o2.self, again.p, again.n, true, &err), 0);
    assert_int_equal((int)stat_num(&o2, "keys"), 2);
    sl_batch_clear(b);
    dd_row(b, 2, 43, 8);
    assert_int_equal(o2.def->process(o2.self, b, &ctx, &err), 0);
    assert_true(b->col[2].v.b[0]);
    sl_buf_free(&buf);
    sl_buf_free(&again);
    sl_batch_free(b);
    op_free(&o);
    op_free(&o2);
}

/* A full snapshot's entries are sorted by key (PACKED: each key is a varint
 * step up from the one before), whatever the radix sort's shape: few keys
 * (qsort), a range needing an odd or even number of digit passes, keys over
 * all 64 bits, and keys that only differ in their high bits. */
static uint64_t snap_uvar(const uint8_t *p, size_t n, size_t *at) {
    uint64_t x = 0;
    for (int sh = 0; sh < 70 && *at < n; sh += 7) {
        uint8_t b = p[(*at)++];
        x |= (uint64_t)(b & 0x7f) << sh;
        if (!(b & 0x80)) return x;
    }
    fail_msg("bad varint");
    return 0;
}
static int cmp_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}
static void test_snapshot_sorted_keys(void **state) {
    (void)state;
    struct {
        int n;
        uint64_t mul, add;
    } cases[] = {
        {100, 7, 0},                                  /* qsort */
        {3000, 1000, 5},                              /* 22 bits, 8-bit digits: 3 passes */
        {9000, 1, 1u << 20},                          /* 14 bits, 11-bit digits: 2 passes */
        {5000, 0x9E3779B97F4A7C15ull, 0},             /* all 64 bits */
        {2000, (uint64_t)1 << 40, (uint64_t)1 << 62}, /* only high bits differ */
    };
    for (size_t ci = 0; ci < sizeof cases / sizeof cases[0]; ci++) {
        rng_s = 77 + ci;
        int n = cases[ci].n;
        uint64_t *keys = malloc((size_t)n * sizeof *keys);
        for (int i = 0; i < n; i++)
            keys[i] = (uint64_t)i * cases[ci].mul + cases[ci].add;
        for (int i = n - 1; i > 0; i--) { /* inserted in a random order */
            int j = (int)(rnd() % (uint64_t)(i + 1));
            uint64_t t = keys[i];
            keys[i] = keys[j], keys[j] = t;
        }
        op_t o;
        sl_schema s;
        kt_case kc = {KT_RAW, 0, 0, 0, 3600, 0, 0};
        kt_make(&o, &s, &kc);
        sl_batch *b = sl_batch_new(&s, 512);
        sl_op_ctx ctx;
        ctx_init(&ctx);
        sl_error err = {0};
        for (int i = 0; i < n;) {
            sl_batch_clear(b);
            for (int j = 0; j < 512 && i < n; j++, i++) {
                uint32_t r = add_row(b, i);
                sl_col_set_int(&b->col[0], r, (int64_t)keys[i]);
                sl_col_set_int(&b->col[1], r, T0 + i);
            }
            assert_int_equal(o.def->process(o.self, b, &ctx, &err), 0);
        }
        sl_buf sb = {0};
        assert_int_equal(o.def->snapshot(o.self, &sb, true), 0);
        /* duplicates, kept, the count with its flags, the NULL key's t_kept */
        assert_true(sb.n >= 32);
        int64_t cnt;
        memcpy(&cnt, sb.p + 16, 8);
        assert_true(cnt & ((int64_t)1 << 60)); /* PACKED */
        assert_int_equal(cnt & (((int64_t)1 << 60) - 1), n);
        qsort(keys, (size_t)n, sizeof *keys, cmp_u64); /* the order wanted */
        size_t at = 32;
        uint64_t k = 0;
        for (int i = 0; i < n; i++) {
            k += snap_uvar(sb.p, sb.n, &at);
            (void)snap_uvar(sb.p, sb.n, &at);
            uint64_t want = keys[i];
            if (k != want)
                fail_msg("case %zu: entry %d has key %llu, want %llu", ci, i, (unsigned long long)k,
                         (unsigned long long)want);
        }
        assert_int_equal(at, sb.n);
        sl_buf_free(&sb);
        sl_batch_free(b);
        op_free(&o);
        free(keys);
    }
}

int main(void) {
    sl_log_set_level(SL_LOG_WARN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dedupe_rule_drop),
        cmocka_unit_test(test_dedupe_rule_flag_one_per_batch),
        cmocka_unit_test(test_dedupe_string_multi_null_keys),
        cmocka_unit_test(test_dedupe_bruteforce_batch_of_one),
        cmocka_unit_test(test_dedupe_bruteforce_no_restore),
        cmocka_unit_test(test_dedupe_bruteforce_restore_flag),
        cmocka_unit_test(test_dedupe_bruteforce_restore_drop),
        cmocka_unit_test(test_dedupe_restore_deltas_only),
        cmocka_unit_test(test_dedupe_stats_bytes_per_key),
        cmocka_unit_test(test_table_colliding_keys),
        cmocka_unit_test(test_table_growth),
        cmocka_unit_test(test_table_expiry_nulls_restarts),
        cmocka_unit_test(test_table_string_keys),
        cmocka_unit_test(test_restore_fingerprint_snapshot),
        cmocka_unit_test(test_snapshot_sorted_keys),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
