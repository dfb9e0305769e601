/*
 * test_window.c - window aggregation (src/ops/window.c) against a direct
 * recomputation per (window, key): tumbling and hopping windows, NULL and no
 * keys, final and dirty emits, snapshot round trips, and the specs it
 * refuses.
 *
 * Helpers shared with the other operator tests are in ops_test.h.
 */
#include "ops_test.h"
#include "ops/window.h"

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

#define WIN_AGGS                                                                                   \
    "{n: \"count(*)\", nv: \"count(v)\", s: \"sum(v)\", a: \"avg(v)\", mn: \"min(d)\", mx: "       \
    "\"max(d)\", "                                                                                 \
    "cd: \"count_distinct(v)\", sd: \"sum(d)\", mt: \"max(ts)\"}"

static const char *WKEYS[] = {"a", "b", "ccc", NULL};
typedef struct {
    int64_t t;
    int k;     /* index in WKEYS (3 = NULL) */
    int vnull; /* v is NULL */
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
        if (WKEYS[r[i].k])
            sl_col_set_str(&b->col[1], row, WKEYS[r[i].k], (uint32_t)strlen(WKEYS[r[i].k]));
        if (!r[i].vnull) sl_col_set_int(&b->col[2], row, r[i].v);
        if (!r[i].dnull) sl_col_set_double(&b->col[3], row, r[i].d);
    }
}

/* Expected and observed values per (window index, key). */
#define W_MAXWIN 512
typedef struct {
    int seen;   /* emitted at least once */
    int final;  /* last emission was final */
    int finals; /* how many final emissions */
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
    wcols c = {
        sl_schema_find(o, "window_start"), sl_schema_find(o, "k"),  sl_schema_find(o, "n"),
        sl_schema_find(o, "nv"),           sl_schema_find(o, "s"),  sl_schema_find(o, "a"),
        sl_schema_find(o, "mn"),           sl_schema_find(o, "mx"), sl_schema_find(o, "cd"),
        sl_schema_find(o, "sd"),           sl_schema_find(o, "mt"), sl_schema_find(o, "is_final"),
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
            if (g->seen != e->seen)
                fail_msg("window %d key %d: seen %d want %d", wi, k, g->seen, e->seen);
            if (!e->seen) continue;
            if (expect_final && (!g->final || g->finals != 1))
                fail_msg("window %d key %d: final %d (finals %d)", wi, k, g->final, g->finals);
            if (g->n != e->n || g->nv != e->nv || g->cd != e->cd || g->mt != e->mt)
                fail_msg("window %d key %d: n %lld/%lld nv %lld/%lld cd %lld/%lld", wi, k,
                         (long long)g->n, (long long)e->n, (long long)g->nv, (long long)e->nv,
                         (long long)g->cd, (long long)e->cd);
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

/* Many groups per window: (v, k) makes 404 keys (more than the group lookup
 * cache has slots, so rows of different groups share slots), rows in random
 * order, hopping windows, and groups released as windows close and their
 * slots reused by later ones, with a watermark after every batch. Every
 * group's final count must equal the brute-force count. */
static void test_window_many_groups_counts(void **state) {
    (void)state;
    rng_s = 4242;
    int n = 30000;
    win_rec *r = win_gen(n, 20000, 2 * SEC); /* 50 records/s over 10 minutes */
    sl_schema in;
    win_in_schema(&in);
    sl_spec *spec;
    sl_window *w = win_make("{time: ts, size: 2m, slide: 1m, keys: [v, k], aggregates: {n: "
                            "\"count(*)\"}}",
                            &in, &spec);
    enum { NW = 16, NV = 102 }; /* v: -50..50, or NULL (index 101) */
    static int64_t want[NW][NV][4], got[NW][NV][4];
    memset(want, 0, sizeof want), memset(got, 0, sizeof got);
    for (int i = 0; i < n; i++) {
        int vi = r[i].vnull ? NV - 1 : (int)(r[i].v + 50);
        /* in the windows starting a minute before its minute and at it (index + 1) */
        int64_t m = (r[i].t - T0) / (60 * SEC);
        assert_true(m >= 0 && m + 1 < NW);
        want[m][vi][r[i].k]++;
        want[m + 1][vi][r[i].k]++;
    }
    const sl_schema *os = sl_window_schema(w);
    int cws = sl_schema_find(os, "window_start"), cv = sl_schema_find(os, "v"),
        ck = sl_schema_find(os, "k"), cn = sl_schema_find(os, "n"),
        cf = sl_schema_find(os, "is_final");
    assert_true(cws >= 0 && cv >= 0 && ck >= 0 && cn >= 0 && cf >= 0);
    sl_batch *b = sl_batch_new(&in, 1024);
    sl_batch *out = sl_batch_new(os, 64);
    sl_op_ctx ctx;
    ctx_init(&ctx);
    int64_t finals = 0;
    for (int i = 0; i <= n;) {
        int m = (int)rnd_range(1, 1000);
        if (i + m > n) m = n - i;
        if (m) {
            win_fill(b, r, i, i + m);
            assert_int_equal(sl_window_process(w, b, &ctx), 0);
        }
        i += m;
        /* rows come at most 2 s late (the jitter): final up to 3 s behind the last */
        int64_t wm = i < n ? T0 + (int64_t)i * 20000 - 3 * SEC : INT64_MIN;
        uint32_t k;
        while ((k = sl_window_emit(w, out, wm, i == n)) > 0)
            for (uint32_t j = 0; j < k; j++) {
                if (!out->col[cf].v.b[j]) continue;
                int64_t wi = (out->col[cws].v.i[j] - T0) / (60 * SEC) + 1;
                int vi = out->col[cv].null[j] ? NV - 1 : (int)(out->col[cv].v.i[j] + 50);
                int ki = 3;
                for (int q = 0; q < 3 && !out->col[ck].null[j]; q++)
                    if (out->col[ck].v.s[j].len == strlen(WKEYS[q]) &&
                        !memcmp(out->col[ck].v.s[j].ptr, WKEYS[q], strlen(WKEYS[q])))
                        ki = q;
                assert_true(wi >= 0 && wi < NW && vi >= 0 && vi < NV);
                assert_int_equal(got[wi][vi][ki], 0); /* final once */
                got[wi][vi][ki] = out->col[cn].v.i[j];
                finals++;
            }
        if (i == n) break;
    }
    int64_t groups = 0;
    for (int a = 0; a < NW; a++)
        for (int v = 0; v < NV; v++)
            for (int k = 0; k < 4; k++) {
                groups += want[a][v][k] > 0;
                if (got[a][v][k] != want[a][v][k])
                    fail_msg("window %d v %d k %d: count %lld, want %lld", a, v - 50, k,
                             (long long)got[a][v][k], (long long)want[a][v][k]);
            }
    assert_int_equal(finals, groups);
    assert_true(groups > 3000);
    sl_batch_free(b);
    sl_batch_free(out);
    sl_window_free(w);
    sl_spec_free(spec);
    free(r);
}

static void test_window_hopping(void **state) {
    (void)state;
    rng_s = 31337;
    int n = 3000;
    win_rec *r = win_gen(n, 6 * SEC, 30 * SEC); /* 5 hours */
    sl_schema in;
    win_in_schema(&in);
    sl_spec *spec;
    sl_window *w = win_make("{time: ts, size: 1h, slide: 30m, keys: [k], aggregates: " WIN_AGGS "}",
                            &in, &spec);
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
        for (int k = 0; k < 4; k++)
            total += got->g[wi][k].n;
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
    sl_window *w =
        win_make("{time: ts, size: 1m, keys: k, aggregates: {n: \"count(*)\"}}", &in, &spec);
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
    int kc = sl_schema_find(sl_window_schema(w), "k"),
        nc = sl_schema_find(sl_window_schema(w), "n");
    int found = 0;
    for (uint32_t r = 0; r < 3; r++) {
        if (out->col[kc].null[r])
            assert_int_equal(out->col[nc].v.i[r], 2), found |= 1;
        else if (out->col[kc].v.s[r].len == 0)
            assert_int_equal(out->col[nc].v.i[r], 2), found |= 2;
        else
            assert_int_equal(out->col[nc].v.i[r], 1), found |= 4;
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
    sl_window *w =
        win_make("{time: ts, size: 1m, keys: k, aggregates: {n: \"count(*)\"}}", &in, &spec);
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
    for (uint32_t r = 0; r < 3; r++)
        assert_false(out->col[fc].v.b[r]);
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
    /* watermark reaches the end of window 0: its two groups final (even if not dirty) and dropped
     */
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
            assert_int_equal(sl_window_snapshot(w, &buf, true), 0);
            size_t groups = sl_window_groups(w);
            sl_window_free(w);
            sl_spec_free(spec);
            w = win_make(yaml, &in, &spec);
            sl_error err = {0};
            if (sl_window_restore(w, buf.p, buf.n, true, &err)) fail_msg("restore: %s", err.msg);
            assert_int_equal(sl_window_groups(w), groups);
            /* a truncated snapshot is refused */
            sl_spec *spec2;
            sl_window *w2 = win_make(yaml, &in, &spec2);
            assert_int_equal(sl_window_restore(w2, buf.p, buf.n - 3, true, &err), SL_ECORRUPT);
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
        "{time: ts, size: 1m, aggregates: {n: \"count(*) + 1\"}}", /* trailing text after the call
                                                                    */
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

static int cmp_i64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* count_distinct over an int column keeps the values themselves: exact for
 * any values, here 0, the extremes, negatives, values that all share one
 * home slot of the set (multiples of the inverse of its hashing constant),
 * and enough of them to grow the set many times; a rollup of the window
 * and a snapshot round trip count the same. */
static void test_window_count_distinct_int_exact(void **state) {
    (void)state;
    rng_s = 4711;
    enum { N = 60000 };
    uint64_t c = 0x9e3779b97f4a7c15ULL, inv = c;
    for (int i = 0; i < 6; i++)
        inv *= 2 - c * inv;
    int64_t *v = malloc(N * sizeof *v), *sorted = malloc(N * sizeof *v);
    for (int i = 0; i < N; i++) {
        switch (i % 4) {
        case 0:
            v[i] = (int64_t)(inv * (uint64_t)(1 + rnd() % 5000)); /* colliding */
            break;
        case 1:
            v[i] = rnd_range(-20000, 20000);
            break;
        case 2:
            v[i] = (int64_t)rnd();
            break;
        default:
            v[i] = (int64_t[]){0, INT64_MIN, INT64_MAX, -1}[rnd() % 4];
        }
        sorted[i] = v[i];
    }
    qsort(sorted, N, sizeof *sorted, cmp_i64);
    int64_t want = 0;
    for (int i = 0; i < N; i++)
        want += i == 0 || sorted[i] != sorted[i - 1];
    sl_schema in;
    sl_schema_init(&in);
    sl_schema_add(&in, "ts", SL_T_TS);
    sl_schema_add(&in, "v", SL_T_INT);
    sl_spec *spec;
    sl_window *w =
        win_make("{time: ts, size: 1h, aggregates: {cd: \"count_distinct(v)\"}}", &in, &spec);
    sl_error err = {0};
    sl_window *roll = sl_window_create_rollup_size(w, "1d", &err);
    assert_non_null(roll);
    sl_batch *b = sl_batch_new(&in, 4096);
    sl_op_ctx ctx;
    ctx_init(&ctx);
    for (int i = 0; i < N;) {
        sl_batch_clear(b);
        for (int j = 0; j < 4096 && i < N; j++, i++) {
            uint32_t r = add_row(b, i);
            sl_col_set_int(&b->col[0], r, T0 + i);
            sl_col_set_int(&b->col[1], r, v[i]);
        }
        assert_int_equal(sl_window_process(w, b, &ctx), 0);
    }
    /* a snapshot round trip, into a fresh window */
    sl_buf buf = {0};
    assert_int_equal(sl_window_snapshot(w, &buf, true), 0);
    sl_spec *spec2;
    sl_window *w2 =
        win_make("{time: ts, size: 1h, aggregates: {cd: \"count_distinct(v)\"}}", &in, &spec2);
    if (sl_window_restore(w2, buf.p, buf.n, true, &err)) fail_msg("restore: %s", err.msg);
    sl_window *ws[3] = {w, w2, roll};
    for (int k = 0; k < 3; k++) {
        sl_batch *out = sl_batch_new(sl_window_schema(ws[k]), 16);
        int cd = sl_schema_find(sl_window_schema(ws[k]), "cd");
        assert_true(cd >= 0);
        assert_int_equal(sl_window_emit(ws[k], out, INT64_MAX, true), 1);
        assert_int_equal(out->col[cd].v.i[0], want);
        sl_batch_free(out);
    }
    sl_buf_free(&buf);
    sl_batch_free(b);
    sl_window_free(w2);
    sl_window_free(roll);
    sl_window_free(w);
    sl_spec_free(spec);
    sl_spec_free(spec2);
    free(v), free(sorted);
}

int main(void) {
    sl_log_set_level(SL_LOG_WARN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_window_tumbling_bruteforce),
        cmocka_unit_test(test_window_many_groups_counts),
        cmocka_unit_test(test_window_hopping),
        cmocka_unit_test(test_window_null_keys_and_no_keys),
        cmocka_unit_test(test_window_emit_final_and_dirty),
        cmocka_unit_test(test_window_snapshot_roundtrip),
        cmocka_unit_test(test_window_bad_specs),
        cmocka_unit_test(test_window_count_distinct_int_exact),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
