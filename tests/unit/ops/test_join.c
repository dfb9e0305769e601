/*
 * test_join.c - the join step (src/ops/join.c).
 *
 * The step is created the way the engine creates it: its YAML argument, the
 * schema of the rows it enriches, and the other table's output schema in
 * env->side_schema; the other table's rows arrive through def->side. Checked:
 * matching and the last row per key winning, NULL keys, left/inner/quarantine
 * (with the quarantine reason), the temporal version at its boundaries
 * (as_of == effective_from, == effective_to, before the first version, a
 * closed version re-emitted as an upsert, a version arriving out of order),
 * a random history against a brute force, max_keys, stats, snapshot round
 * trips (full + deltas) giving the same answers, and load errors with
 * file:line:col.
 */
#include "ops_test.h"

/* the other table: id, name, score (+ effective_from, effective_to when temporal) */
enum { D_ID, D_NAME, D_SCORE, D_FROM, D_TO };
/* the rows enriched: k, ts (then the added columns) */
enum { P_K, P_TS };

static sl_schema dim_schema(bool temporal) {
    sl_schema s;
    sl_schema_init(&s);
    sl_schema_add(&s, "id", SL_T_STRING);
    sl_schema_add(&s, "name", SL_T_STRING);
    sl_schema_add(&s, "score", SL_T_INT);
    if (temporal) {
        sl_schema_add(&s, "effective_from", SL_T_TS);
        sl_schema_add(&s, "effective_to", SL_T_TS);
        sl_schema_add(&s, "_group", SL_T_INT);
    }
    return s;
}

static sl_schema probe_schema(void) {
    sl_schema s;
    sl_schema_init(&s);
    sl_schema_add(&s, "k", SL_T_STRING);
    sl_schema_add(&s, "ts", SL_T_TS);
    return s;
}

static int make(op_t *o, const char *yaml, sl_schema *schema, const sl_schema *side,
                sl_error *err) {
    char doc[4096];
    snprintf(doc, sizeof doc, "arg: %s\n", yaml);
    memset(o, 0, sizeof *o);
    sl_error e = {0};
    o->spec = sl_spec_load_mem("test.yaml", doc, strlen(doc), NULL, &e);
    if (!o->spec) fail_msg("spec did not load: %s", e.msg);
    o->def = sl_op_find("join");
    assert_non_null(o->def);
    sl_op_env env = {.table = "t", .base_dir = ".", .side_schema = side};
    int rc = o->def->create(sl_node_get(sl_spec_root(o->spec), "arg"), schema, &env, &o->self, err);
    if (rc) {
        sl_spec_free(o->spec);
        o->spec = NULL;
        o->self = NULL;
    }
    return rc;
}

static void make_ok(op_t *o, const char *yaml, sl_schema *schema, const sl_schema *side) {
    sl_error err = {0};
    if (make(o, yaml, schema, side, &err)) fail_msg("create failed: %s", err.msg);
}

/* One row of the other table; name NULL or score < 0: NULL; to < 0: open. */
static void dim_row(sl_batch *b, const char *id, const char *name, int64_t score, int64_t from,
                    int64_t to) {
    uint32_t r = add_row(b, 0);
    if (id) sl_col_set_str(&b->col[D_ID], r, id, (uint32_t)strlen(id));
    if (name) sl_col_set_str(&b->col[D_NAME], r, name, (uint32_t)strlen(name));
    if (score >= 0) sl_col_set_int(&b->col[D_SCORE], r, score);
    if (b->schema.n > D_FROM) {
        sl_col_set_int(&b->col[D_FROM], r, from);
        if (to >= 0) sl_col_set_int(&b->col[D_TO], r, to);
    }
}

static void side(op_t *o, sl_batch *b) {
    sl_op_ctx ctx;
    ctx_init(&ctx);
    o->def->side(o->self, b, &ctx);
    sl_batch_clear(b);
}

/* One probe row with record id `id`; k NULL: NULL; ts < 0: NULL. */
static void probe_row(sl_batch *b, int64_t id, const char *k, int64_t ts) {
    uint32_t r = add_row(b, id);
    if (k) sl_col_set_str(&b->col[P_K], r, k, (uint32_t)strlen(k));
    if (ts >= 0) sl_col_set_int(&b->col[P_TS], r, ts);
}

/* The name (col 2) of the row with record id `id` ("NULL", or "-" if the row is gone). */
static const char *name_of(const sl_batch *b, int64_t id, char *buf) {
    for (uint32_t i = 0; i < b->n; i++) {
        if (b->pos[i] != id) continue;
        if (b->col[2].null[i]) return "NULL";
        snprintf(buf, 64, "%.*s", (int)b->col[2].v.s[i].len, b->col[2].v.s[i].ptr);
        return buf;
    }
    return "-";
}

static void test_match_left(void **state) {
    (void)state;
    sl_schema d = dim_schema(false), p = probe_schema();
    op_t o;
    make_ok(&o, "{table: dim, on: k, key: id, columns: [name, score]}", &p, &d);
    assert_int_equal(p.n, 4);
    assert_string_equal(p.f[2].name, "name");
    assert_int_equal(p.f[3].type, SL_T_INT);
    sl_batch *db = sl_batch_new(&d, 64), *pb = sl_batch_new(&p, 64);
    dim_row(db, "a", "A", 1, 0, -1);
    dim_row(db, "b", "B", 2, 0, -1);
    dim_row(db, NULL, "nokey", 3, 0, -1); /* a NULL key matches nothing */
    side(&o, db);
    probe_row(pb, 1, "a", 0);
    probe_row(pb, 2, "b", 0);
    probe_row(pb, 3, "c", 0);
    probe_row(pb, 4, NULL, 0);
    sl_op_ctx ctx;
    ctx_init(&ctx);
    assert_int_equal(o.def->process(o.self, pb, &ctx, NULL), 0);
    char buf[64];
    assert_int_equal(pb->n, 4);
    assert_string_equal(name_of(pb, 1, buf), "A");
    assert_int_equal(pb->col[3].v.i[0], 1);
    assert_string_equal(name_of(pb, 2, buf), "B");
    assert_string_equal(name_of(pb, 3, buf), "NULL");
    assert_true(pb->col[3].null[2]);
    assert_string_equal(name_of(pb, 4, buf), "NULL");
    assert_int_equal(Q.n, 0);
    assert_true(stat_num(&o, "matched") == 2 && stat_num(&o, "unmatched") == 2);
    assert_true(stat_num(&o, "keys") == 2);
    /* the last row of a key wins, NULL values included */
    dim_row(db, "a", "A2", -1, 0, -1);
    side(&o, db);
    sl_batch_clear(pb);
    probe_row(pb, 5, "a", 0);
    o.def->process(o.self, pb, &ctx, NULL);
    assert_string_equal(name_of(pb, 5, buf), "A2");
    assert_true(pb->col[3].null[0]);
    assert_true(stat_num(&o, "keys") == 2 && stat_num(&o, "versions") == 2);
    assert_true(stat_num(&o, "bytes_per_key") > 0);
    sl_batch_free(db);
    sl_batch_free(pb);
    op_free(&o);
}

static void test_inner_quarantine(void **state) {
    (void)state;
    sl_schema d = dim_schema(false);
    for (int how = 0; how < 2; how++) {
        sl_schema p = probe_schema();
        op_t o;
        make_ok(&o,
                how ? "{table: dim, on: k, key: id, columns: {n: name}, how: quarantine}"
                    : "{table: dim, on: k, key: id, columns: {n: name}, how: inner}",
                &p, &d);
        sl_batch *db = sl_batch_new(&d, 8), *pb = sl_batch_new(&p, 8);
        dim_row(db, "a", "A", 1, 0, -1);
        side(&o, db);
        probe_row(pb, 1, "a", 0);
        probe_row(pb, 2, "zz", 0);
        probe_row(pb, 3, NULL, 0);
        probe_row(pb, 4, "a", 0);
        sl_op_ctx ctx;
        ctx_init(&ctx);
        o.def->process(o.self, pb, &ctx, NULL);
        assert_int_equal(pb->n, 2);
        assert_true(has_pos(pb, 1) && has_pos(pb, 4));
        char buf[64];
        assert_string_equal(name_of(pb, 4, buf), "A");
        if (how) {
            assert_int_equal(Q.n, 2);
            assert_int_equal(ctx.quarantined, 2);
            assert_true(q_has(2) && q_has(3));
            assert_string_equal(Q.reason[0], "join: no dim row for k=zz");
            assert_string_equal(Q.reason[1], "join: no dim row for k=NULL");
        } else {
            assert_int_equal(Q.n, 0);
            assert_int_equal(ctx.dropped, 2);
        }
        sl_batch_free(db);
        sl_batch_free(pb);
        op_free(&o);
    }
}

static void test_temporal_boundaries(void **state) {
    (void)state;
    sl_schema d = dim_schema(true), p = probe_schema();
    op_t o;
    make_ok(&o, "{table: dim, on: k, key: id, as_of: ts, columns: [name]}", &p, &d);
    sl_batch *db = sl_batch_new(&d, 16), *pb = sl_batch_new(&p, 32);
    dim_row(db, "a", "v1", 1, 10 * SEC, 20 * SEC);
    dim_row(db, "a", "v3", 3, 30 * SEC, -1); /* open */
    dim_row(db, "a", "v2", 2, 20 * SEC, 30 * SEC);
    side(&o, db);
    struct {
        int64_t ts;
        const char *want;
    } cases[] = {
        {9 * SEC, "NULL"},     /* before the first version */
        {10 * SEC, "v1"},      /* as_of == effective_from */
        {20 * SEC - 1, "v1"},  /* just before effective_to */
        {20 * SEC, "v2"},      /* as_of == effective_to of v1: the next version */
        {30 * SEC, "v3"},      /* == effective_from of the open version */
        {1000000 * SEC, "v3"}, /* open: valid for ever */
        {-1, "NULL"},          /* a NULL as_of matches nothing */
    };
    int nc = (int)(sizeof cases / sizeof cases[0]);
    for (int i = 0; i < nc; i++)
        probe_row(pb, i, "a", cases[i].ts);
    sl_op_ctx ctx;
    ctx_init(&ctx);
    o.def->process(o.self, pb, &ctx, NULL);
    char buf[64];
    for (int i = 0; i < nc; i++) {
        const char *got = name_of(pb, i, buf);
        if (strcmp(got, cases[i].want))
            fail_msg("as_of case %d: got %s, want %s", i, got, cases[i].want);
    }
    /* scd2 closes v3 at 40 s: an upsert of the version with the same effective_from */
    dim_row(db, "a", "v3", 3, 30 * SEC, 40 * SEC);
    dim_row(db, "a", "v4", 4, 40 * SEC, -1);
    dim_row(db, "a", "v0", 0, 5 * SEC, 10 * SEC); /* an older version, arriving late */
    side(&o, db);
    assert_true(stat_num(&o, "keys") == 1 && stat_num(&o, "versions") == 5);
    sl_batch_clear(pb);
    probe_row(pb, 1, "a", 40 * SEC - 1);
    probe_row(pb, 2, "a", 40 * SEC);
    probe_row(pb, 3, "a", 5 * SEC);
    probe_row(pb, 4, "a", 4 * SEC);
    probe_row(pb, 5, "b", 40 * SEC);
    o.def->process(o.self, pb, &ctx, NULL);
    assert_string_equal(name_of(pb, 1, buf), "v3");
    assert_string_equal(name_of(pb, 2, buf), "v4");
    assert_string_equal(name_of(pb, 3, buf), "v0");
    assert_string_equal(name_of(pb, 4, buf), "NULL");
    assert_string_equal(name_of(pb, 5, buf), "NULL");
    sl_batch_free(db);
    sl_batch_free(pb);
    op_free(&o);
}

/* ---- a random history against a brute force, with snapshots ------------- */

#define NK 40
#define NV 6
typedef struct {
    int64_t from[NV], to[NV]; /* to -1: open */
    char name[NV][16];
    int n;
} hist;

static const char *brute(const hist *h, int64_t t) {
    for (int v = 0; v < h->n; v++)
        if (h->from[v] <= t && (h->to[v] < 0 || t < h->to[v])) return h->name[v];
    return "NULL";
}

/* Probes every key at random times on both operators and against the brute force. */
static void compare(op_t *a, op_t *b, const hist *H, sl_batch *pa, sl_batch *pb) {
    static const char *keys[NK];
    static char kbuf[NK][8];
    for (int k = 0; k < NK; k++) {
        snprintf(kbuf[k], sizeof kbuf[k], "k%d", k);
        keys[k] = kbuf[k];
    }
    sl_batch_clear(pa);
    sl_batch_clear(pb);
    int64_t want_id = 0;
    const char *want[512];
    for (int i = 0; i < 400; i++) {
        int k = (int)rnd_range(0, NK - 1);
        int64_t t = rnd_range(0, 200) * SEC;
        if (H[k].n && rnd() % 3 == 0) t = H[k].from[rnd() % (uint64_t)H[k].n]; /* a boundary */
        probe_row(pa, want_id, keys[k], t);
        probe_row(pb, want_id, keys[k], t);
        want[want_id++] = brute(&H[k], t);
    }
    sl_op_ctx ctx;
    ctx_init(&ctx);
    a->def->process(a->self, pa, &ctx, NULL);
    if (b) b->def->process(b->self, pb, &ctx, NULL);
    char x[64], y[64];
    for (int64_t id = 0; id < want_id; id++) {
        const char *ga = name_of(pa, id, x);
        if (strcmp(ga, want[id]))
            fail_msg("probe %lld: got %s, want %s", (long long)id, ga, want[id]);
        if (b && strcmp(name_of(pb, id, y), ga))
            fail_msg("probe %lld: restored %s, original %s", (long long)id, y, ga);
    }
}

static void test_random_snapshot_roundtrip(void **state) {
    (void)state;
    sl_schema d = dim_schema(true), p = probe_schema(), p2 = probe_schema();
    const char *yaml = "{table: dim, on: k, key: id, as_of: ts, columns: [name, score]}";
    op_t o, r;
    make_ok(&o, yaml, &p, &d);
    sl_batch *db = sl_batch_new(&d, 64), *pa = sl_batch_new(&p, 512), *pb = sl_batch_new(&p, 512);
    static hist H[NK];
    memset(H, 0, sizeof H);
    char names[NK * NV][16];
    int nn = 0;
    sl_buf snaps[8];
    bool full[8];
    int nsnap = 0;
    /* each round adds a version to some keys (closing the previous one, as
     * scd2 does: the closed version again, then the new one), in random
     * batches, and snapshots: full first, then deltas */
    for (int round = 0; round < NV; round++) {
        for (int k = 0; k < NK; k++) {
            if (rnd() % 4 == 0) continue;
            hist *h = &H[k];
            static char ids[NK][8]; /* the batch holds views until side() */
            char *id = ids[k];
            snprintf(id, sizeof ids[k], "k%d", k);
            int64_t from =
                h->n ? h->from[h->n - 1] + rnd_range(1, 30) * SEC : rnd_range(0, 50) * SEC;
            if (h->n) {
                h->to[h->n - 1] = from;
                dim_row(db, id, h->name[h->n - 1], h->n, h->from[h->n - 1], from);
            }
            snprintf(names[nn], 16, "%s.v%d", id, h->n);
            h->from[h->n] = from;
            h->to[h->n] = -1;
            snprintf(h->name[h->n], 16, "%s", names[nn]);
            dim_row(db, id, names[nn], h->n + 1, from, -1);
            nn++;
            h->n++;
            if (db->n > 50) side(&o, db);
        }
        side(&o, db);
        compare(&o, NULL, H, pa, pb);
        if (round >= 1) {
            full[nsnap] = nsnap == 0;
            memset(&snaps[nsnap], 0, sizeof snaps[nsnap]);
            assert_int_equal(o.def->snapshot(o.self, &snaps[nsnap], full[nsnap]), 0);
            nsnap++;
        }
    }
    /* restore the chain into a fresh step: the same answers and counters */
    make_ok(&r, yaml, &p2, &d);
    for (int i = 0; i < nsnap; i++) {
        sl_error err = {0};
        if (r.def->restore(r.self, snaps[i].p, snaps[i].n, full[i], &err))
            fail_msg("restore %d: %s", i, err.msg);
        sl_buf_free(&snaps[i]);
    }
    assert_true(stat_num(&r, "matched") == stat_num(&o, "matched"));
    assert_true(stat_num(&r, "versions") == stat_num(&o, "versions"));
    assert_true(stat_num(&r, "keys") == stat_num(&o, "keys"));
    compare(&o, &r, H, pa, pb);
    /* a full snapshot of the restored step restores to the same again */
    sl_buf fb = {0};
    r.def->snapshot(r.self, &fb, true);
    op_t r2;
    sl_schema p3 = probe_schema();
    make_ok(&r2, yaml, &p3, &d);
    sl_error err = {0};
    assert_int_equal(r2.def->restore(r2.self, fb.p, fb.n, true, &err), 0);
    compare(&r, &r2, H, pa, pb);
    /* a corrupt or foreign snapshot is refused */
    assert_int_not_equal(r2.def->restore(r2.self, fb.p, fb.n / 2, true, &err), 0);
    op_t other;
    sl_schema p4 = probe_schema();
    make_ok(&other, "{table: dim, on: k, key: id, columns: [name]}", &p4, &d);
    assert_int_equal(other.def->restore(other.self, fb.p, fb.n, true, &err), SL_ECORRUPT);
    sl_buf_free(&fb);
    op_free(&other);
    op_free(&r2);
    op_free(&r);
    op_free(&o);
    sl_batch_free(db);
    sl_batch_free(pa);
    sl_batch_free(pb);
}

static void test_max_keys(void **state) {
    (void)state;
    sl_schema d = dim_schema(false), p = probe_schema();
    op_t o;
    make_ok(&o, "{table: dim, on: k, key: id, columns: [name], max_keys: 2}", &p, &d);
    sl_batch *db = sl_batch_new(&d, 8), *pb = sl_batch_new(&p, 8);
    dim_row(db, "a", "A", 1, 0, -1);
    dim_row(db, "b", "B", 1, 0, -1);
    dim_row(db, "c", "C", 1, 0, -1);  /* refused */
    dim_row(db, "a", "A2", 1, 0, -1); /* a held key is still updated */
    side(&o, db);
    assert_true(stat_num(&o, "keys") == 2 && stat_num(&o, "refused") == 1);
    probe_row(pb, 1, "a", 0);
    probe_row(pb, 2, "c", 0);
    sl_op_ctx ctx;
    ctx_init(&ctx);
    o.def->process(o.self, pb, &ctx, NULL);
    char buf[64];
    assert_string_equal(name_of(pb, 1, buf), "A2");
    assert_string_equal(name_of(pb, 2, buf), "NULL");
    sl_batch_free(db);
    sl_batch_free(pb);
    op_free(&o);
}

/* A restart whose columns changed (the other table gained a column by schema
 * evolution, or the step lists other columns) keeps the values of the columns
 * it still has, matched by their name in the other table; the others are NULL. */
static void test_restore_columns_changed(void **state) {
    (void)state;
    sl_schema d = dim_schema(false), p = probe_schema(), p2 = probe_schema();
    op_t a, b;
    make_ok(&a, "{table: dim, on: k, key: id, columns: [name, score]}", &p, &d);
    sl_batch *db = sl_batch_new(&d, 8);
    dim_row(db, "a", "A", 7, 0, -1);
    dim_row(db, "b", NULL, 8, 0, -1);
    side(&a, db);
    sl_buf snap = {0};
    a.def->snapshot(a.self, &snap, true);
    make_ok(&b, "{table: dim, on: k, key: id, columns: {s: score, n2: name, i: id}}", &p2, &d);
    sl_error err = {0};
    if (b.def->restore(b.self, snap.p, snap.n, true, &err)) fail_msg("%s", err.msg);
    sl_batch *pb = sl_batch_new(&p2, 8);
    probe_row(pb, 1, "a", 0);
    probe_row(pb, 2, "b", 0);
    sl_op_ctx ctx;
    ctx_init(&ctx);
    b.def->process(b.self, pb, &ctx, NULL);
    assert_int_equal(pb->col[2].v.i[0], 7); /* s */
    assert_int_equal(pb->col[2].v.i[1], 8);
    assert_int_equal(pb->col[3].v.s[0].len, 1); /* n2 */
    assert_memory_equal(pb->col[3].v.s[0].ptr, "A", 1);
    assert_true(pb->col[3].null[1]);
    assert_true(pb->col[4].null[0] && pb->col[4].null[1]); /* i: not in the snapshot */
    assert_true(stat_num(&b, "matched") == 2);
    sl_buf_free(&snap);
    sl_batch_free(db);
    sl_batch_free(pb);
    op_free(&a);
    op_free(&b);
}

static void test_errors(void **state) {
    (void)state;
    sl_schema d = dim_schema(false), dt = dim_schema(true);
    struct {
        const char *yaml;
        const sl_schema *side;
        const char *msg;
    } cases[] = {
        {"{table: dim, on: nope, key: id, columns: [name]}", &d, "unknown column 'nope'"},
        {"{table: dim, on: k, columns: [name]}", &d, "table 'dim' has no column 'k'"},
        {"{table: dim, on: k, key: id, columns: [nope]}", &d, "table 'dim' has no column 'nope'"},
        {"{table: dim, on: k, key: score, columns: [name]}", &d,
         "is string here but dim.score is int"},
        {"{table: dim, on: k, key: id, columns: {ts: name}}", &d, "column 'ts' already exists"},
        {"{table: dim, on: k, key: id, as_of: ts, columns: [name]}", &d, "needs an scd2 table"},
        {"{table: dim, on: k, key: id, as_of: k, columns: [name]}", &dt, "not a timestamp"},
        {"{table: dim, on: k, key: id, how: outer}", &d, "how"},
        {"{table: dim, on: k, key: id, columns: [name]}", NULL, "not a table of this pipeline"},
        {"{table: dim, on: k, key: [id, name], columns: [name]}", &d, "key names 2 column(s)"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        sl_schema p = probe_schema();
        op_t o;
        sl_error err = {0};
        if (!make(&o, cases[i].yaml, &p, cases[i].side, &err))
            fail_msg("case %zu was accepted: %s", i, cases[i].yaml);
        if (!strstr(err.msg, cases[i].msg) || !strstr(err.msg, "test.yaml:1:"))
            fail_msg("case %zu: '%s' lacks '%s' or a position", i, err.msg, cases[i].msg);
    }
    /* the default columns: all but the key, _group and those the rows have */
    sl_schema p = probe_schema();
    op_t o;
    make_ok(&o, "{table: dim, on: k, key: id, as_of: ts}", &p, &dt);
    assert_int_equal(p.n, 2 + 4);
    assert_true(sl_schema_find(&p, "name") >= 0 && sl_schema_find(&p, "effective_to") >= 0);
    assert_true(sl_schema_find(&p, "_group") < 0 && sl_schema_find(&p, "id") < 0);
    op_free(&o);
}

int main(void) {
    sl_log_set_level(SL_LOG_WARN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_match_left),
        cmocka_unit_test(test_inner_quarantine),
        cmocka_unit_test(test_temporal_boundaries),
        cmocka_unit_test(test_random_snapshot_roundtrip),
        cmocka_unit_test(test_max_keys),
        cmocka_unit_test(test_restore_columns_changed),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
