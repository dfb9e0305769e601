/*
 * test_scd.c - the scd2 operator (src/ops/scd.c).
 *
 * Input rows: ent (key, string), fw and loc (tracked strings), rack (tracked
 * int, may be NULL), note (not tracked), event_ts. The output rows are applied
 * to an in-test table upserted by _group, the way the store does, and the
 * table is compared with a brute-force history built from the rule in the
 * file comment of scd.c (versions ordered by time, unchanged -> nothing, older
 * -> ignored, same time -> corrected in place). Checked: the small cases by
 * hand, a random stream over many keys in random batch sizes, snapshot/restore
 * (full + deltas) in the middle giving the identical table, a batch whose
 * output exceeds its capacity (grown, nothing lost), counters, and bad specs
 * with file:line:col.
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
#include "core/error.h"
#include "core/timeutil.h"
#include "ops/op.h"
#include "spec/spec.h"

#define T0 (INT64_C(1767225600) * SL_US_PER_SEC)
#define SEC SL_US_PER_SEC

static uint64_t rng_s = 0x9E3779B97F4A7C15ull;
static uint64_t rnd(void) {
    uint64_t x = rng_s;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return rng_s = x;
}

typedef struct {
    const sl_op_def *def;
    void *self;
    sl_spec *spec;
    sl_schema schema;
} op_t;

enum { C_ENT, C_FW, C_LOC, C_RACK, C_NOTE, C_TS };

static sl_schema in_schema(void) {
    sl_schema s;
    sl_schema_init(&s);
    sl_schema_add(&s, "ent", SL_T_STRING);
    sl_schema_add(&s, "fw", SL_T_STRING);
    sl_schema_add(&s, "loc", SL_T_STRING);
    sl_schema_add(&s, "rack", SL_T_INT);
    sl_schema_add(&s, "note", SL_T_STRING);
    sl_schema_add(&s, "event_ts", SL_T_TS);
    return s;
}

static int op_make(op_t *o, const char *arg, sl_error *err) {
    char doc[2048];
    snprintf(doc, sizeof doc, "arg: %s\n", arg);
    memset(o, 0, sizeof *o);
    o->schema = in_schema();
    sl_error e = {0};
    o->spec = sl_spec_load_mem("test.yaml", doc, strlen(doc), NULL, &e);
    if (!o->spec) fail_msg("spec did not load: %s", e.msg);
    o->def = sl_op_find("scd2");
    assert_non_null(o->def);
    sl_op_env env = {"dim", ".", NULL};
    int rc =
        o->def->create(sl_node_get(sl_spec_root(o->spec), "arg"), &o->schema, &env, &o->self, err);
    if (rc) {
        sl_spec_free(o->spec);
        o->spec = NULL;
        o->self = NULL;
    }
    return rc;
}

#define ARG "{key: ent, track: [fw, loc, rack]}"

static void op_ok(op_t *o) {
    sl_error err = {0};
    if (op_make(o, ARG, &err)) fail_msg("create failed: %s", err.msg);
}

static void op_free(op_t *o) {
    if (o->self) o->def->destroy(o->self);
    if (o->spec) sl_spec_free(o->spec);
    memset(o, 0, sizeof *o);
}

/* ---- input ---- */

typedef struct {
    int ent, fw, loc, rack; /* rack < 0: NULL */
    int64_t t;              /* INT64_MIN: NULL time */
} obs;

static const char *FW[] = {"1.0", "1.1", "2.0", "2.1"};
static const char *LOC[] = {"Lisbon", "Porto", "Faro"};
static char ENT[64][8];

static void fill(sl_batch *b, const obs *rows, uint32_t n) {
    sl_batch_clear(b);
    for (uint32_t i = 0; i < n; i++) {
        uint32_t r = sl_batch_append_null_row(b);
        const obs *x = &rows[i];
        sl_col_set_str(&b->col[C_ENT], r, ENT[x->ent], (uint32_t)strlen(ENT[x->ent]));
        sl_col_set_str(&b->col[C_FW], r, FW[x->fw], (uint32_t)strlen(FW[x->fw]));
        sl_col_set_str(&b->col[C_LOC], r, LOC[x->loc], (uint32_t)strlen(LOC[x->loc]));
        if (x->rack >= 0) sl_col_set_int(&b->col[C_RACK], r, x->rack);
        sl_col_set_str(&b->col[C_NOTE], r, "n", 1);
        if (x->t != INT64_MIN) sl_col_set_int(&b->col[C_TS], r, x->t);
        b->pos[r] = (int64_t)i;
    }
}

/* ---- the table the store would hold: rows upserted by _group ---- */

typedef struct {
    int64_t group, from, to, version; /* to: INT64_MIN = NULL */
    int ent, rack;
    char fw[8], loc[16];
    bool active;
} dim_row;

typedef struct {
    dim_row *r;
    size_t n, cap;
} dim_table;

static int find_idx(const char *const *names, int n, const sl_str *s) {
    for (int i = 0; i < n; i++)
        if (strlen(names[i]) == s->len && !memcmp(names[i], s->ptr, s->len)) return i;
    return -1;
}

static void apply(dim_table *d, const sl_batch *b) {
    int c_from = sl_schema_find(&b->schema, "effective_from");
    int c_to = sl_schema_find(&b->schema, "effective_to");
    int c_act = sl_schema_find(&b->schema, "is_active");
    int c_ver = sl_schema_find(&b->schema, "version");
    int c_grp = sl_schema_find(&b->schema, "_group");
    assert_true(c_from >= 0 && c_to >= 0 && c_act >= 0 && c_ver >= 0 && c_grp >= 0);
    for (uint32_t i = 0; i < b->n; i++) {
        assert_false(b->col[c_grp].null[i]);
        assert_false(b->col[c_from].null[i]);
        int64_t g = b->col[c_grp].v.i[i];
        assert_true(g >= 0);
        size_t k = 0;
        while (k < d->n && d->r[k].group != g)
            k++;
        if (k == d->n) {
            if (d->n == d->cap) {
                d->cap = d->cap ? d->cap * 2 : 64;
                d->r = realloc(d->r, d->cap * sizeof *d->r);
            }
            d->n++;
        }
        dim_row *r = &d->r[k];
        memset(r, 0, sizeof *r);
        r->group = g;
        r->from = b->col[c_from].v.i[i];
        r->to = b->col[c_to].null[i] ? INT64_MIN : b->col[c_to].v.i[i];
        r->active = b->col[c_act].v.b[i];
        r->version = b->col[c_ver].v.i[i];
        const char *en[64];
        for (int e = 0; e < 64; e++)
            en[e] = ENT[e];
        r->ent = find_idx(en, 64, &b->col[C_ENT].v.s[i]);
        snprintf(r->fw, sizeof r->fw, "%.*s", (int)b->col[C_FW].v.s[i].len,
                 b->col[C_FW].v.s[i].ptr);
        snprintf(r->loc, sizeof r->loc, "%.*s", (int)b->col[C_LOC].v.s[i].len,
                 b->col[C_LOC].v.s[i].ptr);
        r->rack = b->col[C_RACK].null[i] ? -1 : (int)b->col[C_RACK].v.i[i];
    }
}

/* ---- brute force: per key a list of versions ---- */

typedef struct {
    int64_t from, to;
    int fw, loc, rack;
} bf_ver;

typedef struct {
    bf_ver v[4096];
    int n;
} bf_key;

static void bf_apply(bf_key *keys, const obs *x) {
    if (x->t == INT64_MIN) return;
    bf_key *k = &keys[x->ent];
    if (k->n == 0) {
        k->v[k->n++] = (bf_ver){x->t, INT64_MIN, x->fw, x->loc, x->rack};
        return;
    }
    bf_ver *cur = &k->v[k->n - 1];
    if (cur->fw == x->fw && cur->loc == x->loc && cur->rack == x->rack) return;
    if (x->t < cur->from) return;
    if (x->t == cur->from) {
        cur->fw = x->fw, cur->loc = x->loc, cur->rack = x->rack;
        return;
    }
    cur->to = x->t;
    k->v[k->n++] = (bf_ver){x->t, INT64_MIN, x->fw, x->loc, x->rack};
}

static int cmp_row(const void *a, const void *b) {
    const dim_row *x = a, *y = b;
    if (x->ent != y->ent) return x->ent < y->ent ? -1 : 1;
    return x->from < y->from ? -1 : x->from > y->from;
}

static void check_table(dim_table *d, bf_key *keys, int nkeys) {
    qsort(d->r, d->n, sizeof *d->r, cmp_row);
    size_t k = 0;
    for (int e = 0; e < nkeys; e++) {
        for (int v = 0; v < keys[e].n; v++, k++) {
            assert_true(k < d->n);
            const dim_row *r = &d->r[k];
            const bf_ver *w = &keys[e].v[v];
            assert_int_equal(r->ent, e);
            assert_int_equal(r->from, w->from);
            assert_int_equal(r->to, w->to);
            assert_int_equal(r->version, v + 1);
            assert_int_equal(r->active, v == keys[e].n - 1);
            assert_string_equal(r->fw, FW[w->fw]);
            assert_string_equal(r->loc, LOC[w->loc]);
            assert_int_equal(r->rack, w->rack);
        }
    }
    assert_int_equal(k, d->n);
}

static void setup_names(void) {
    for (int i = 0; i < 64; i++)
        snprintf(ENT[i], sizeof ENT[i], "e%02d", i);
}

/* ---- tests ---- */

static void test_by_hand(void **state) {
    (void)state;
    setup_names();
    op_t o;
    op_ok(&o);
    sl_batch *b = sl_batch_new(&o.schema, 64);
    sl_op_ctx ctx = {0};
    sl_error err = {0};
    dim_table d = {0};
    obs rows[] = {
        {0, 0, 0, 1, T0},            /* e00 v1 */
        {1, 0, 1, -1, T0},           /* e01 v1, rack NULL */
        {0, 0, 0, 1, T0 + 10 * SEC}, /* unchanged */
        {0, 1, 0, 1, T0 + 20 * SEC}, /* e00 v1 closed, v2 */
        {1, 0, 1, -1, T0 + 5 * SEC}, /* unchanged (NULL = NULL) */
        {1, 0, 1, 3, T0 + 30 * SEC}, /* e01: rack NULL -> 3 */
    };
    fill(b, rows, 6);
    assert_int_equal(o.def->process(o.self, b, &ctx, &err), 0);
    assert_int_equal(b->n, 6); /* 1 + 1 + 2 + 2 */
    apply(&d, b);
    /* older change: ignored; same-time change: corrected */
    obs more[] = {
        {0, 2, 0, 1, T0 + 15 * SEC}, {1, 0, 2, 3, T0 + 30 * SEC}, {2, 0, 0, 0, INT64_MIN}};
    fill(b, more, 3);
    assert_int_equal(o.def->process(o.self, b, &ctx, &err), 0);
    assert_int_equal(b->n, 1);
    apply(&d, b);
    assert_int_equal(d.n, 4);
    bf_key *keys = calloc(3, sizeof *keys);
    for (int i = 0; i < 6; i++)
        bf_apply(keys, &rows[i]);
    for (int i = 0; i < 3; i++)
        bf_apply(keys, &more[i]);
    check_table(&d, keys, 3);
    assert_string_equal(d.r[3].loc, "Faro"); /* e01 v2 corrected */
    char st[512];
    sl_op_stats_json(o.def, o.self, st, sizeof st);
    assert_non_null(strstr(st, "\"out_of_order\":1"));
    assert_non_null(strstr(st, "\"corrected\":1"));
    assert_non_null(strstr(st, "\"no_time\":1"));
    assert_non_null(strstr(st, "\"versions_closed\":2"));
    assert_non_null(strstr(st, "\"unchanged\":2"));
    free(keys);
    free(d.r);
    sl_batch_free(b);
    op_free(&o);
}

/* Random observations over 40 keys: mostly unchanged, some changes, some
 * older (ignored), some at the same time (corrected). */
static obs random_obs(int64_t *clock) {
    obs x;
    *clock += (int64_t)(rnd() % 3) * SEC;
    x.ent = (int)(rnd() % 40);
    unsigned r = (unsigned)(rnd() % 100);
    x.fw = r < 70 ? 0 : (int)(rnd() % 4);
    x.loc = r < 85 ? 0 : (int)(rnd() % 3);
    x.rack = r % 7 == 0 ? -1 : 1;
    x.t = *clock - (rnd() % 10 == 0 ? (int64_t)(rnd() % 30) * SEC : 0);
    return x;
}

static void run_stream(bool restart, uint32_t cap) {
    setup_names();
    rng_s = 0x1234567ull + cap + restart;
    enum { N = 20000 };
    obs *all = malloc(N * sizeof *all);
    int64_t clock = T0;
    for (int i = 0; i < N; i++)
        all[i] = random_obs(&clock);
    op_t o;
    op_ok(&o);
    sl_batch *b = sl_batch_new(&o.schema, cap);
    sl_op_ctx ctx = {0};
    sl_error err = {0};
    dim_table d = {0};
    sl_buf snaps[64] = {{0}};
    bool full[64];
    int nsnap = 0;
    int i = 0, batches = 0;
    while (i < N) {
        uint32_t n = 1 + (uint32_t)(rnd() % cap);
        if (n > (uint32_t)(N - i)) n = (uint32_t)(N - i);
        /* the engine hands over batches of at most the pipeline's batch size */
        if (b->cap > cap) {
            sl_batch_free(b);
            b = sl_batch_new(&o.schema, cap);
        }
        fill(b, all + i, n);
        assert_int_equal(o.def->process(o.self, b, &ctx, &err), 0);
        apply(&d, b);
        i += (int)n;
        batches++;
        if (restart && batches % 7 == 0 && nsnap < 64) {
            full[nsnap] = nsnap % 4 == 0;
            o.def->snapshot(o.self, &snaps[nsnap], full[nsnap]);
            nsnap++;
        }
        if (restart && nsnap == 10) {
            /* restart from the last full snapshot and its deltas */
            int last_full = 8;
            op_t o2;
            op_ok(&o2);
            for (int s = last_full; s < nsnap; s++)
                assert_int_equal(o2.def->restore(o2.self, snaps[s].p, snaps[s].n, full[s], &err),
                                 0);
            op_free(&o);
            o = o2;
            for (int s = 0; s < nsnap; s++)
                sl_buf_free(&snaps[s]);
            nsnap = 11; /* no more restarts */
        }
    }
    bf_key *keys = calloc(40, sizeof *keys);
    for (int k = 0; k < N; k++)
        bf_apply(keys, &all[k]);
    check_table(&d, keys, 40);
    for (int s = 0; s < 64; s++)
        sl_buf_free(&snaps[s]);
    free(keys);
    free(d.r);
    free(all);
    sl_batch_free(b);
    op_free(&o);
}

static void test_random_stream(void **state) {
    (void)state;
    run_stream(false, 300);
}

static void test_restart(void **state) {
    (void)state;
    run_stream(true, 300);
}

/* Every row a change of a known key: 2 output rows per input row. */
static void test_grow(void **state) {
    (void)state;
    setup_names();
    op_t o;
    op_ok(&o);
    sl_op_ctx ctx = {0};
    sl_error err = {0};
    dim_table d = {0};
    sl_batch *b = sl_batch_new(&o.schema, 16);
    obs first[16], change[16];
    for (int i = 0; i < 16; i++) {
        first[i] = (obs){i, 0, 0, 1, T0};
        change[i] = (obs){i, 1, 0, 1, T0 + SEC};
    }
    fill(b, first, 16);
    assert_int_equal(o.def->process(o.self, b, &ctx, &err), 0);
    apply(&d, b);
    fill(b, change, 16);
    assert_int_equal(o.def->process(o.self, b, &ctx, &err), 0);
    assert_int_equal(b->n, 32);
    assert_true(b->cap >= 32);
    apply(&d, b);
    bf_key *keys = calloc(16, sizeof *keys);
    for (int i = 0; i < 16; i++)
        bf_apply(keys, &first[i]);
    for (int i = 0; i < 16; i++)
        bf_apply(keys, &change[i]);
    check_table(&d, keys, 16);
    /* the grown batch is still a valid batch */
    sl_batch_clear(b);
    free(keys);
    free(d.r);
    sl_batch_free(b);
    op_free(&o);
}

static void test_corrupt_snapshot(void **state) {
    (void)state;
    op_t o;
    op_ok(&o);
    sl_error err = {0};
    unsigned char junk[20] = {1, 2, 3};
    assert_int_equal(o.def->restore(o.self, junk, sizeof junk, true, &err), SL_ECORRUPT);
    op_free(&o);
}

static void bad(const char *arg, const char *want) {
    op_t o;
    sl_error err = {0};
    assert_int_not_equal(op_make(&o, arg, &err), 0);
    if (!strstr(err.msg, want)) fail_msg("message '%s' lacks '%s'", err.msg, want);
    op_free(&o);
}

static void test_bad_specs(void **state) {
    (void)state;
    bad("{key: nope, track: [fw]}", "test.yaml:1:12: scd2: unknown column 'nope'");
    bad("{key: ent, track: [fw, xx]}", "unknown column 'xx'");
    bad("{key: ent}", "missing key 'track'");
    bad("{key: ent, track: [ent]}", "both a key and tracked");
    bad("{key: ent, track: fw, time: note}", "needs a timestamp column 'note'");
    bad("{key: ent, track: fw, tme: event_ts}", "unknown key 'tme'");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_by_hand),          cmocka_unit_test(test_random_stream),
        cmocka_unit_test(test_restart),          cmocka_unit_test(test_grow),
        cmocka_unit_test(test_corrupt_snapshot), cmocka_unit_test(test_bad_specs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
