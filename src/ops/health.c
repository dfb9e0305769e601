/*
 * health.c - a 0..100 health score per row from threshold penalties, with a
 * status and a per-key trend (seed 000's entity health, seed 002's job health).
 *
 *   - health:
 *       key: [entity_id]
 *       time: window_start
 *       components:
 *         - {name: cpu, value: "avg_cpu",
 *            penalties: [{above: 90, penalty: 40}, {above: 75, penalty: 20}, {above: 60, penalty:
 * 5}]}
 *         - {name: errors, value: "critical_events",
 *            penalties: [{above: 10, penalty: 30}, {above: 0, penalty: 10}]}
 *         - {name: success, value: "success_rate",
 *            penalties: [{below: 0.9, penalty: 40}, {below: 0.99, penalty: 10}]}
 *       trend: {window: 3, tolerance: 2}
 *       status: {healthy: 80, degraded: 50}
 *
 * Seed 002's "performance stability" is a value expression like any other:
 *         - {name: stability, value: "100 - least(100, 100 * stddev_duration / avg_duration)",
 *            penalties: [{below: 50, penalty: 30}, {below: 80, penalty: 10}]}
 * (the coefficient of variation turned into 0..100). Mind that least() and
 * greatest() skip NULLs as in PostgreSQL, so a zero avg_duration (division
 * by zero -> NULL) gives least(100) = 100 and a stability of 0; to treat it
 * as unknown (no penalty) write
 *   "CASE WHEN avg_duration > 0 THEN 100 - least(100, 100 * stddev_duration / avg_duration) END".
 * A derive step before health can keep such values as columns of their own.
 *
 * Definitions:
 *   <name>_penalty = the penalty of the FIRST entry of the component's list
 *                    whose condition holds (above: x > A, below: x < B);
 *                    0 when none holds; NULL when the value is NULL (and then
 *                    it counts as 0: a missing input costs nothing).
 *   health_score   = 100 - sum of penalties, clamped to [0, 100].
 *   health_status  = "healthy" if score >= status.healthy (80), "degraded" if
 *                    >= status.degraded (50), else "critical".
 *   health_trend   = score - mean(previous scores of the key, at most
 *                    trend.window of them, newest first): > +tolerance
 *                    "improving", < -tolerance "degrading", else "stable";
 *                    NULL until the key has one previous score.
 * Previous scores are kept per key in a ring of trend.window + 1 doubles (one
 * more, so a row replacing the newest still has `window` before it); all
 * rings live in one pooled array indexed by key slot (64-bit XXH3 key hash
 * -> slot through an sl_hmap), so nothing is allocated per row.
 *
 * Order: rows of a key should come in time order. A row older than the
 * key's newest score is scored (trend against the current history) but not
 * added; a row with the same time replaces the newest score (an open window
 * re-emitted) and its trend is computed without it. NULL time or no time
 * column: arrival order.
 *
 * only_final (default true): when the input has a bool is_final column, rows
 * where it is not true pass through with every added column NULL.
 *
 * Snapshots: full = every key's ring; delta = the keys changed since the
 * previous snapshot (whole state per key, restore upserts).
 *
 * Partitioned state (env->part_column, op.h): as in anomaly.c, the partition
 * column is one more key column and each key keeps its partition's tag
 * (snapshot magic EHLT2), so a partition's keys move alone.
 */
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/mem.h"
#include "core/hash.h"
#include "expr/expr.h"
#include "ops/op.h"

#define MAX_COMPONENTS 32
#define MAX_PENALTIES 32
#define MAX_KEY_COLS 16
#define MAX_TREND 1000
#define SNAP_MAGIC INT64_C(0x31544c4845) /* "EHLT1" */
#define SNAP_MAGIC_TAGGED                                                                          \
    INT64_C(0x32544c4845) /* "EHLT2": each key followed by its partition tag */

typedef struct {
    bool above; /* else below */
    double limit, penalty;
} penalty_ent;

typedef struct {
    char name[SL_NAME_MAX];
    sl_expr *e;
    sl_column col; /* scratch for the value */
    int out;       /* <name>_penalty column */
    int np;
    penalty_ent p[MAX_PENALTIES];
} component;

typedef struct {
    uint64_t h;
    uint64_t tag;   /* partitioned state: the key's partition tag */
    int64_t last_t; /* time of the newest score added; INT64_MIN: none */
    uint32_t count, head;
    uint8_t dirty;
} key_state;
/* sl_part_compact (op.h) moves slots that start with the hash and the tag */
_Static_assert(offsetof(key_state, h) == 0 && offsetof(key_state, tag) == sizeof(uint64_t),
               "key_state layout");

typedef struct {
    int ncomp;
    component comp[MAX_COMPONENTS];
    int nkeys, key[MAX_KEY_COLS + 1];
    int part_col; /* partitioned state: the partition column, else -1 */
    int time_col, final_col;
    uint32_t window;
    double tolerance, healthy, degraded;
    size_t max_keys;
    int c_score, c_trend, c_status;
    uint32_t scratch_cap;
    /* state */
    sl_hmap *index;
    key_state *ks;
    double *scores; /* ks_cap * window */
    size_t nks, ks_cap;
    uint32_t *dirty;
    size_t ndirty, dirty_cap;
    int64_t rows, scored, passed, keys_refused;
} health_op;

/* The options, bound by sl_spec_bind: one struct per (nested) table. */
typedef struct {
    double above, below, penalty;
    const sl_node *above_at, *below_at;
} pen_conf;

typedef struct {
    const char *name;
    const sl_node *name_at;
    const sl_node *value, *penalties;
} comp_conf;

typedef struct {
    int64_t window;
    double tolerance;
} trend_conf;

typedef struct {
    double healthy, degraded;
} status_conf;

typedef struct {
    const sl_node *key;
    const char *time;
    const sl_node *time_at;
    const sl_node *components, *trend, *status;
    bool only_final;
    int64_t max_keys;
} health_conf;

static const sl_opt pen_opts[] = {
    {"above", SL_OPT_DOUBLE, false, NULL, NULL, "matches when value > above",
     SL_OPT_BIND(pen_conf, above), SL_OPT_AT(pen_conf, above_at)},
    {"below", SL_OPT_DOUBLE, false, NULL, NULL, "matches when value < below",
     SL_OPT_BIND(pen_conf, below), SL_OPT_AT(pen_conf, below_at)},
    {"penalty", SL_OPT_DOUBLE, true, NULL, NULL, "points taken from 100",
     SL_OPT_BIND(pen_conf, penalty)},
    {0},
};

static const sl_opt comp_opts[] = {
    {"name", SL_OPT_STRING, true, NULL, NULL, "component name; adds column <name>_penalty",
     SL_OPT_BIND(comp_conf, name), SL_OPT_AT(comp_conf, name_at)},
    {"value", SL_OPT_EXPR, true, NULL, NULL, "numeric (or boolean) expression",
     SL_OPT_BIND(comp_conf, value)},
    {"penalties", SL_OPT_SEQ, true, NULL, NULL,
     "[{above: A | below: B, penalty: P}], first match wins", SL_OPT_BIND(comp_conf, penalties),
     SL_OPT_SUB(pen_opts)},
    {0},
};

static const sl_opt trend_opts[] = {
    {"window", SL_OPT_INT, false, NULL, "3", "previous scores averaged",
     SL_OPT_BIND(trend_conf, window), SL_OPT_RANGE(1, MAX_TREND)},
    {"tolerance", SL_OPT_DOUBLE, false, NULL, "2", "difference counted as stable",
     SL_OPT_BIND(trend_conf, tolerance), SL_OPT_MIN(0)},
    {0},
};

static const sl_opt status_opts[] = {
    {"healthy", SL_OPT_DOUBLE, false, NULL, "80", "score >= this: healthy",
     SL_OPT_BIND(status_conf, healthy)},
    {"degraded", SL_OPT_DOUBLE, false, NULL, "50", "score >= this: degraded (below: critical)",
     SL_OPT_BIND(status_conf, degraded)},
    {0},
};

static const sl_opt health_opts[] = {
    {"key", SL_OPT_LIST, false, NULL, NULL, "column(s): trend is kept per key (none: one series)",
     SL_OPT_BIND(health_conf, key)},
    {"time", SL_OPT_STRING, false, NULL, "window_start",
     "ordering column (timestamp) for the trend", SL_OPT_BIND(health_conf, time),
     SL_OPT_AT(health_conf, time_at)},
    {"components", SL_OPT_SEQ, true, NULL, NULL,
     "[{name, value: EXPR, penalties: [{above|below, penalty}]}]",
     SL_OPT_BIND(health_conf, components), SL_OPT_SUB(comp_opts)},
    {"trend", SL_OPT_MAP, false, NULL, NULL,
     "compare with the mean of the previous `window` scores of the key",
     SL_OPT_BIND(health_conf, trend), SL_OPT_SUB(trend_opts)},
    {"status", SL_OPT_MAP, false, NULL, NULL, "score thresholds of health_status",
     SL_OPT_BIND(health_conf, status), SL_OPT_SUB(status_opts)},
    {"only_final", SL_OPT_BOOL, false, NULL, "true",
     "score only rows with is_final = true (when that column exists)",
     SL_OPT_BIND(health_conf, only_final)},
    {"max_keys", SL_OPT_INT, false, NULL, "1000000",
     "bound on the number of keys with a trend history", SL_OPT_BIND(health_conf, max_keys),
     SL_OPT_MIN(1)},
    {0},
};

static void health_destroy(void *self);

static int parse_component(health_op *o, const sl_node *cn, sl_schema *schema, sl_error *err) {
    comp_conf cc;
    if (sl_spec_bind(cn, comp_opts, "health component", &cc, err)) return SL_EINVAL;
    component *c = &o->comp[o->ncomp];
    memset(c, 0, sizeof *c);
    const sl_node *nn = cc.name_at;
    const char *name = cc.name;
    if (!*name || strlen(name) + strlen("_penalty") >= SL_NAME_MAX)
        return sl_node_error(err, nn, "health component: name must be 1..%d characters",
                             SL_NAME_MAX - 1 - (int)strlen("_penalty"));
    snprintf(c->name, sizeof c->name, "%s", name);
    const sl_node *vn = cc.value;
    c->e = sl_op_compile_expr(vn, schema, err);
    if (!c->e) return SL_EINVAL;
    o->ncomp++; /* owns c->e from here */
    sl_type t = sl_expr_type(c->e);
    if (t != SL_T_INT && t != SL_T_DOUBLE && t != SL_T_BOOL && t != SL_T_NULL)
        return sl_node_error(err, vn, "health component '%s': value must be numeric, got %s", name,
                             sl_type_name(t));
    c->col.type = t;
    const sl_node *pn = cc.penalties;
    if (pn->n == 0)
        return sl_node_error(err, pn, "health component '%s': penalties is empty", name);
    if (pn->n > MAX_PENALTIES)
        return sl_node_error(err, pn, "health component '%s': at most %d penalties", name,
                             MAX_PENALTIES);
    for (int i = 0; i < pn->n; i++) {
        const sl_node *e = pn->seq[i];
        pen_conf pc;
        if (sl_spec_bind(e, pen_opts, "health penalty", &pc, err)) return SL_EINVAL;
        if (!!pc.above_at == !!pc.below_at)
            return sl_node_error(err, e, "health penalty: give exactly one of above or below");
        penalty_ent *p = &c->p[c->np++];
        p->above = pc.above_at != NULL;
        p->limit = p->above ? pc.above : pc.below;
        p->penalty = pc.penalty;
    }
    char col[SL_NAME_MAX];
    snprintf(col, sizeof col, "%s_penalty", name);
    c->out = sl_schema_add(schema, col, SL_T_DOUBLE);
    if (c->out < 0)
        return sl_node_error(err, nn,
                             sl_schema_find(schema, col) >= 0
                                 ? "health: column '%s' already exists"
                                 : "health: too many columns to add '%s'",
                             col);
    return 0;
}

static int add_col(sl_schema *schema, const sl_node *at, const char *name, sl_type t, int *idx,
                   sl_error *err) {
    *idx = sl_schema_add(schema, name, t);
    if (*idx < 0)
        return sl_node_error(err, at,
                             sl_schema_find(schema, name) >= 0
                                 ? "health: column '%s' already exists"
                                 : "health: too many columns to add '%s'",
                             name);
    return 0;
}

static int health_create(const sl_node *arg, sl_schema *schema, const sl_op_env *env, void **self,
                         sl_error *err) {
    health_conf hc;
    if (sl_spec_bind(arg, health_opts, "health", &hc, err)) return SL_EINVAL;
    health_op *o = sl_xcalloc(1, sizeof *o);
    if (!o) return sl_error_set(err, SL_ENOMEM, "out of memory");
    o->part_col = -1;

    const sl_node *kn = hc.key;
    int nk = sl_node_list_len(kn);
    if (nk > MAX_KEY_COLS) {
        sl_node_error(err, kn, "health: at most %d key columns", MAX_KEY_COLS);
        goto fail;
    }
    for (int i = 0; i < nk; i++) {
        const sl_node *k = sl_node_list_at(kn, i);
        int idx = sl_schema_find(schema, k->str);
        if (idx < 0) {
            sl_node_error(err, k, "health: unknown key column '%s'", k->str);
            goto fail;
        }
        o->key[o->nkeys++] = idx;
    }
    if (env && env->part_column && (o->part_col = sl_schema_find(schema, env->part_column)) >= 0)
        o->key[o->nkeys++] = o->part_col;
    const sl_node *tn = hc.time_at; /* NULL: the default, which may be absent */
    o->time_col = sl_schema_find(schema, hc.time);
    if (tn && o->time_col < 0) {
        sl_node_error(err, tn, "health: unknown time column '%s'", hc.time);
        goto fail;
    }
    if (o->time_col >= 0 && schema->f[o->time_col].type != SL_T_TS &&
        schema->f[o->time_col].type != SL_T_INT) {
        if (tn) {
            sl_node_error(err, tn, "health: time column '%s' must be a timestamp or int, is %s",
                          hc.time, sl_type_name(schema->f[o->time_col].type));
            goto fail;
        }
        o->time_col = -1;
    }
    o->final_col = -1;
    if (hc.only_final) {
        int fc = sl_schema_find(schema, "is_final");
        if (fc >= 0 && schema->f[fc].type == SL_T_BOOL) o->final_col = fc;
    }
    o->max_keys = (size_t)hc.max_keys;

    /* absent trend / status maps bind their tables' defaults */
    trend_conf tc;
    if (sl_spec_bind(hc.trend, trend_opts, "health trend", &tc, err)) goto fail;
    o->window = (uint32_t)tc.window;
    o->tolerance = tc.tolerance;
    status_conf sc;
    if (sl_spec_bind(hc.status, status_opts, "health status", &sc, err)) goto fail;
    o->healthy = sc.healthy;
    o->degraded = sc.degraded;
    if (o->degraded > o->healthy) {
        sl_node_error(err, hc.status ? hc.status : arg,
                      "health status: degraded (%g) must not exceed healthy (%g)", o->degraded,
                      o->healthy);
        goto fail;
    }

    if (add_col(schema, arg, "health_score", SL_T_DOUBLE, &o->c_score, err)) goto fail;
    const sl_node *cs = hc.components;
    if (cs->n == 0) {
        sl_node_error(err, cs, "health: components is empty");
        goto fail;
    }
    if (cs->n > MAX_COMPONENTS) {
        sl_node_error(err, cs, "health: at most %d components", MAX_COMPONENTS);
        goto fail;
    }
    for (int i = 0; i < cs->n; i++)
        if (parse_component(o, cs->seq[i], schema, err)) goto fail;
    if (add_col(schema, arg, "health_trend", SL_T_STRING, &o->c_trend, err) ||
        add_col(schema, arg, "health_status", SL_T_STRING, &o->c_status, err))
        goto fail;
    o->index = sl_hmap_new(64);
    *self = o;
    return 0;
fail:
    health_destroy(o);
    return SL_EINVAL;
}

/* ---------------------------------------------------------------- state */

static inline uint64_t row_key(const health_op *o, const sl_batch *b, uint32_t i) {
    return sl_key_hash(b, o->key, o->nkeys, i, 0x4ea1);
}

static void mark_dirty(health_op *o, size_t s) {
    if (o->ks[s].dirty) return;
    o->ks[s].dirty = 1;
    if (o->ndirty == o->dirty_cap) {
        o->dirty_cap = o->dirty_cap ? o->dirty_cap * 2 : 64;
        o->dirty = sl_xrealloc(o->dirty, o->dirty_cap * sizeof *o->dirty);
        if (!o->dirty) abort();
    }
    o->dirty[o->ndirty++] = (uint32_t)s;
}

/* Slot of key h, created with the partition tag of row i of b (b may be
 * NULL: tag 0); -1 when max_keys refuses it. */
static int64_t slot_of(health_op *o, uint64_t h, const sl_batch *b, uint32_t i) {
    int64_t *p = sl_hmap_get(o->index, h);
    if (p) return *p;
    if (o->nks >= o->max_keys) {
        o->keys_refused++;
        return -1;
    }
    if (o->nks == o->ks_cap) {
        size_t cap = o->ks_cap ? o->ks_cap * 2 : 64;
        key_state *ks = sl_xrealloc(o->ks, cap * sizeof *ks);
        double *sc = sl_xrealloc(o->scores, cap * (o->window + 1) * sizeof(double));
        if (!ks || !sc) abort();
        o->ks = ks;
        o->scores = sc;
        o->ks_cap = cap;
    }
    size_t s = o->nks++;
    memset(&o->ks[s], 0, sizeof o->ks[s]);
    o->ks[s].h = h;
    if (b && o->part_col >= 0 && !b->col[o->part_col].null[i])
        o->ks[s].tag = sl_part_tag(b->col[o->part_col].v.s[i].ptr, b->col[o->part_col].v.s[i].len);
    o->ks[s].last_t = INT64_MIN;
    sl_hmap_put(o->index, h, (int64_t)s, NULL);
    return (int64_t)s;
}

static void ring_push(health_op *o, key_state *k, size_t s, double x) {
    uint32_t cap = o->window + 1;
    o->scores[s * cap + k->head] = x;
    k->head = (k->head + 1) % cap;
    if (k->count < cap) k->count++;
}

/* ---------------------------------------------------------------- process */

static void null_row(health_op *o, sl_batch *b, uint32_t i) {
    sl_col_set_null(&b->col[o->c_score], i);
    sl_col_set_null(&b->col[o->c_trend], i);
    sl_col_set_null(&b->col[o->c_status], i);
    for (int c = 0; c < o->ncomp; c++)
        sl_col_set_null(&b->col[o->comp[c].out], i);
}

static int health_process(void *self, sl_batch *b, sl_op_ctx *ctx, sl_error *err) {
    (void)ctx;
    health_op *o = self;
    if (!b->n) return 0;
    if (o->scratch_cap < b->cap) {
        for (int c = 0; c < o->ncomp; c++) {
            sl_column *col = &o->comp[c].col;
            free(col->null);
            free(col->v.p);
            col->null = sl_xmalloc(b->cap);
            col->v.p = sl_xmalloc((size_t)b->cap * 8);
            if (!col->null || !col->v.p) abort();
        }
        o->scratch_cap = b->cap;
    }
    for (int c = 0; c < o->ncomp; c++) {
        if (o->comp[c].col.type == SL_T_NULL) continue; /* the literal NULL: never a penalty */
        int rc = sl_expr_eval(o->comp[c].e, b, &o->comp[c].col);
        if (rc)
            return sl_error_set(err, rc, "health: evaluating component '%s' failed",
                                o->comp[c].name);
    }
    const sl_column *tc = o->time_col >= 0 ? &b->col[o->time_col] : NULL;
    const sl_column *fc = o->final_col >= 0 ? &b->col[o->final_col] : NULL;
    for (uint32_t i = 0; i < b->n; i++) {
        o->rows++;
        if (fc && (fc->null[i] || !fc->v.b[i])) {
            null_row(o, b, i);
            o->passed++;
            continue;
        }
        double total = 0;
        for (int c = 0; c < o->ncomp; c++) {
            component *cp = &o->comp[c];
            const sl_column *vc = &cp->col;
            double x;
            if (vc->type == SL_T_NULL || vc->null[i]) {
                sl_col_set_null(&b->col[cp->out], i);
                continue;
            }
            x = vc->type == SL_T_INT    ? (double)vc->v.i[i]
                : vc->type == SL_T_BOOL ? (double)vc->v.b[i]
                                        : vc->v.d[i];
            if (isnan(x)) {
                sl_col_set_null(&b->col[cp->out], i);
                continue;
            }
            double pen = 0;
            for (int p = 0; p < cp->np; p++)
                if (cp->p[p].above ? x > cp->p[p].limit : x < cp->p[p].limit) {
                    pen = cp->p[p].penalty;
                    break;
                }
            sl_col_set_double(&b->col[cp->out], i, pen);
            total += pen;
        }
        double score = 100 - total;
        if (score < 0) score = 0;
        if (score > 100) score = 100;
        sl_col_set_double(&b->col[o->c_score], i, score);
        const char *st = score >= o->healthy    ? "healthy"
                         : score >= o->degraded ? "degraded"
                                                : "critical";
        sl_col_set_str(&b->col[o->c_status], i, st, (uint32_t)strlen(st));

        int64_t s = slot_of(o, row_key(o, b, i), b, i);
        sl_col_set_null(&b->col[o->c_trend], i);
        o->scored++;
        if (s < 0) continue;
        key_state *k = &o->ks[s];
        int mode = 1; /* 1 add, 2 replace newest, 0 score only */
        int64_t t = INT64_MIN;
        if (tc && !tc->null[i]) {
            t = tc->v.i[i];
            if (k->last_t != INT64_MIN) mode = t > k->last_t ? 1 : t == k->last_t ? 2 : 0;
        }
        /* previous scores: the newest `window`, or the `window` before the newest when replacing */
        uint32_t cap = o->window + 1;
        uint32_t avail = k->count - (mode == 2 && k->count ? 1 : 0);
        uint32_t n = avail < o->window ? avail : o->window;
        if (n > 0) {
            const double *ring = o->scores + (size_t)s * cap;
            uint32_t end = (k->head + cap - (k->count - avail)) % cap;
            uint32_t start = (end + cap - n) % cap;
            double sum = 0;
            for (uint32_t j = 0; j < n; j++)
                sum += ring[(start + j) % cap];
            double d = score - sum / n;
            const char *tr = d > o->tolerance    ? "improving"
                             : d < -o->tolerance ? "degrading"
                                                 : "stable";
            sl_col_set_str(&b->col[o->c_trend], i, tr, (uint32_t)strlen(tr));
        }
        if (mode == 0) continue;
        if (mode == 2 && k->count)
            o->scores[(size_t)s * cap + (k->head + cap - 1) % cap] = score;
        else
            ring_push(o, k, (size_t)s, score);
        if (t != INT64_MIN) k->last_t = t;
        mark_dirty(o, (size_t)s);
    }
    return 0;
}

/* ---------------------------------------------------------------- snapshot */

static void put_slot(health_op *o, sl_buf *out, size_t s) {
    key_state *k = &o->ks[s];
    sl_buf_put(out, &k->h, sizeof k->h);
    if (o->part_col >= 0) sl_buf_put(out, &k->tag, sizeof k->tag);
    sl_buf_put_i64(out, k->last_t);
    sl_buf_put(out, &k->count, sizeof k->count);
    uint32_t cap = o->window + 1;
    const double *ring = o->scores + s * cap;
    uint32_t start = (k->head + cap - k->count) % cap;
    for (uint32_t j = 0; j < k->count; j++)
        sl_buf_put(out, &ring[(start + j) % cap], sizeof(double));
}

static int health_snapshot(void *self, sl_buf *out, bool full) {
    health_op *o = self;
    sl_buf_put_i64(out, o->part_col >= 0 ? SNAP_MAGIC_TAGGED : SNAP_MAGIC);
    sl_buf_put_i64(out, o->window);
    sl_buf_put_i64(out, o->rows);
    sl_buf_put_i64(out, o->scored);
    sl_buf_put_i64(out, o->passed);
    sl_buf_put_i64(out, o->keys_refused);
    if (full) {
        sl_buf_put_i64(out, (int64_t)o->nks);
        for (size_t s = 0; s < o->nks; s++)
            put_slot(o, out, s);
    } else {
        sl_buf_put_i64(out, (int64_t)o->ndirty);
        for (size_t d = 0; d < o->ndirty; d++)
            put_slot(o, out, o->dirty[d]);
    }
    for (size_t d = 0; d < o->ndirty; d++)
        o->ks[o->dirty[d]].dirty = 0;
    o->ndirty = 0;
    return 0;
}

static int health_snapshot_parts(void *self, sl_buf *out, const sl_part_set *only) {
    health_op *o = self;
    sl_buf_put_i64(out, SNAP_MAGIC_TAGGED);
    sl_buf_put_i64(out, o->window);
    for (int c = 0; c < 4; c++)
        sl_buf_put_i64(out, 0); /* counters stay with their instance */
    int64_t cnt = 0;
    for (size_t s = 0; s < o->nks; s++)
        cnt += sl_part_set_has(only, o->ks[s].tag);
    sl_buf_put_i64(out, cnt);
    for (size_t s = 0; s < o->nks; s++)
        if (sl_part_set_has(only, o->ks[s].tag)) put_slot(o, out, s);
    return 0;
}

/* Forgets the keys of `parts`, moving later slots into the holes. The dirty
 * list is dropped: the engine writes a full snapshot next. */
static void health_drop_parts(void *self, const sl_part_set *parts) {
    health_op *o = self;
    if (o->part_col < 0) return;
    o->nks =
        sl_part_compact(o->ks, o->nks, sizeof *o->ks, o->scores, o->window + 1, o->index, parts);
    for (size_t s = 0; s < o->nks; s++)
        o->ks[s].dirty = 0;
    o->ndirty = 0;
}

/* One pass over a snapshot: with apply=false it only validates, so a corrupt
 * snapshot is refused before any state is touched. only != NULL: the keys of
 * those partitions are added to what is held (counters untouched). */
static int restore_pass(health_op *o, const void *data, size_t len, bool full, bool apply,
                        const sl_part_set *only) {
    sl_rd r = {data, len, 0};
    int64_t magic, window, cnt, ctr[4];
    if (sl_rd_i64(&r, &magic) || (magic != SNAP_MAGIC && magic != SNAP_MAGIC_TAGGED) ||
        (magic == SNAP_MAGIC_TAGGED) != (o->part_col >= 0) || sl_rd_i64(&r, &window) ||
        window < 1 || window > MAX_TREND || sl_rd_i64(&r, &ctr[0]) || sl_rd_i64(&r, &ctr[1]) ||
        sl_rd_i64(&r, &ctr[2]) || sl_rd_i64(&r, &ctr[3]) || sl_rd_i64(&r, &cnt) || cnt < 0)
        return SL_ECORRUPT;
    bool tagged = magic == SNAP_MAGIC_TAGGED;
    if (apply && !only) {
        if (full) {
            sl_hmap_clear(o->index);
            o->nks = 0;
            o->ndirty = 0;
        }
        o->rows = ctr[0];
        o->scored = ctr[1];
        o->passed = ctr[2];
        o->keys_refused = ctr[3];
    }
    for (int64_t c = 0; c < cnt; c++) {
        uint64_t h, tag = 0;
        int64_t last_t;
        uint32_t n;
        if (sl_rd_bytes(&r, &h, sizeof h) || (tagged && sl_rd_bytes(&r, &tag, sizeof tag)) ||
            sl_rd_i64(&r, &last_t) || sl_rd_bytes(&r, &n, sizeof n) || n > (uint64_t)window + 1 ||
            (len - r.off) / sizeof(double) < n)
            return SL_ECORRUPT;
        const unsigned char *vp = r.p + r.off;
        r.off += (size_t)n * sizeof(double);
        if (!apply || (only && !sl_part_set_has(only, tag))) continue;
        int64_t s = slot_of(o, h, NULL, 0);
        if (s < 0) continue;
        key_state *k = &o->ks[s];
        k->tag = tag;
        k->count = k->head = 0;
        k->last_t = last_t;
        uint32_t skip =
            n > o->window + 1 ? n - o->window - 1 : 0; /* window shrank: keep the newest */
        for (uint32_t j = skip; j < n; j++) {
            double x;
            memcpy(&x, vp + (size_t)j * sizeof(double), sizeof x);
            ring_push(o, k, (size_t)s, x);
        }
    }
    return r.off == r.n ? 0 : SL_ECORRUPT;
}

static int restore_parts(health_op *o, const void *data, size_t len, bool full,
                         const sl_part_set *only, sl_error *err) {
    if (sl_part_check_magic(data, len, SNAP_MAGIC, SNAP_MAGIC_TAGGED, o->part_col >= 0, "health",
                            err))
        return SL_ECORRUPT;
    if (restore_pass(o, data, len, full, false, only))
        return sl_error_set(err, SL_ECORRUPT, "health: corrupt snapshot");
    restore_pass(o, data, len, full, true, only);
    return 0;
}

static int health_restore(void *self, const void *data, size_t len, bool full, sl_error *err) {
    return restore_parts(self, data, len, full, NULL, err);
}

static int health_restore_parts(void *self, const void *data, size_t len, bool full,
                                const sl_part_set *only, sl_error *err) {
    return restore_parts(self, data, len, full, only, err);
}

static int health_stats(void *self, sl_op_stat *out, int cap) {
    health_op *o = self;
    size_t bytes = sl_hmap_bytes(o->index) +
                   o->ks_cap * (sizeof(key_state) + (o->window + 1) * sizeof(double));
    sl_op_stat s[] = {
        {"rows", (double)o->rows},
        {"scored", (double)o->scored},
        {"passed_through", (double)o->passed},
        {"keys", (double)o->nks, true},
        {"keys_refused", (double)o->keys_refused},
        {"state_bytes", (double)bytes, true},
    };
    return sl_op_stats_copy(out, cap, s, (int)(sizeof s / sizeof s[0]));
}

static void health_destroy(void *self) {
    health_op *o = self;
    if (!o) return;
    for (int c = 0; c < o->ncomp; c++) {
        sl_expr_free(o->comp[c].e);
        free(o->comp[c].col.null);
        free(o->comp[c].col.v.p);
    }
    if (o->index) sl_hmap_free(o->index);
    free(o->ks);
    free(o->scores);
    free(o->dirty);
    free(o);
}

const sl_op_def sl_op_health = {
    .name = "health",
    .opts = health_opts,
    .help = "0..100 health score from threshold penalties, with status and per-key trend",
    .create = health_create,
    .process = health_process,
    .snapshot = health_snapshot,
    .restore = health_restore,
    .stats = health_stats,
    .destroy = health_destroy,
    .restore_parts = health_restore_parts,
    .snapshot_parts = health_snapshot_parts,
    .drop_parts = health_drop_parts,
};
