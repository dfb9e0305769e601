/*
 * anomaly.c - per-key anomaly detection over a numeric value: z-score, robust
 * (MAD) z-score, percentile and static rules against a bounded baseline.
 *
 *   - anomaly:
 *       value: "p99_latency"                 # numeric expression (int or double)
 *       key: [entity_id, metric_name]        # one baseline per key (omit: one baseline)
 *       time: window_start                   # ordering column (timestamp or int)
 *       baseline: {method: window, size: 20, min: 5}
 *       rules: {zscore: 3.0, mad: 3.5, percentile: {q: 0.99, factor: 1.5},
 *               static: {above: 500, below: 0}}
 *       severity: [{level: critical, zscore_at_least: 5}, {level: warning, zscore_at_least: 3}]
 *
 * Meant for the rows of a gold window table (one row per window and key, each
 * commit), and usable on silver rows as well.
 *
 * The idea: every key keeps the last `size` values in a ring buffer (method
 * window) or an exponentially weighted mean and variance (method ewma,
 * sketch/ewma.h). A row is scored against its key's baseline as it was
 * BEFORE the row's value, then the value is folded in, so a spike never
 * hides itself. Ring buffers of all keys live in one pooled array (key slot
 * i owns values [i*(size+1), (i+1)*(size+1)): one more than the baseline, so
 * that a row replacing the newest value still has `size` values before it);
 * keys are 64-bit XXH3 hashes of the key columns (core/hash.h) mapped to slot
 * indexes by an sl_hmap, so state is O(keys * size) doubles and nothing is
 * allocated per row.
 *
 * Definitions (n = values in the baseline, excluding the row's own value):
 *   baseline_mean   = mean of the ring (window) | EWMA value (ewma); NULL when n = 0
 *   baseline_stddev = sample standard deviation (divisor n-1) of the ring |
 *                     sqrt(EWMA variance); NULL when n < 2
 *   zscore          = (x - baseline_mean) / baseline_stddev; NULL when stddev = 0
 *                     (or NULL); fires when |zscore| > rules.zscore
 *   robust_z        = 0.6745 * (x - median) / MAD, MAD = median(|v - median|)
 *                     (sketch/robust.h); NULL when MAD = 0; fires when
 *                     |robust_z| > rules.mad. Method window only.
 *   pctl_threshold  = quantile_q(baseline) * factor, quantile_q = the value of
 *                     0-based rank floor(q*(n-1)) of the sorted ring; fires
 *                     when x > pctl_threshold. Method window only.
 *   static          = fires when x > above or x < below.
 * Warm-up: until the key's baseline holds `min` values (ring count, or values
 * folded into the EWMA), zscore/robust_z/pctl_threshold are NULL and no rule
 * fires, static included (baseline_mean/stddev are still shown).
 * is_anomaly = any rule fired; anomaly_reason lists the rules that fired
 * ("zscore 4.20 > 3; value 812 > p99*1.5=640"), NULL if none.
 * severity: the entries are tried in order and the first whose conditions all
 * hold gives the level; conditions are zscore_at_least (|zscore|),
 * robust_z_at_least (|robust_z|) and score_at_least (the max of the two
 * that are computed: zscore always, robust_z with the mad rule or a
 * robust_z_at_least condition); a NULL score never satisfies one. An entry
 * with no condition matches any row with is_anomaly. No match: NULL.
 *
 * Order: rows of a key should come in time order. A row with a time older
 * than the newest value of its key is scored but not added; a row with the
 * same time replaces the newest value (an open window re-emitted with new
 * aggregates) and is scored against the baseline without it. Rows with a
 * NULL time (or no time column) are added in arrival order.
 * A NULL or non-finite value scores nothing (scores NULL, is_anomaly false)
 * and is not added.
 *
 * only_final (default true): when the input has a bool is_final column (a
 * window table), rows where it is not true pass through with every added
 * column NULL and do not touch the baseline.
 *
 * Memory bound: max_keys (default 1000000) keys; rows of further keys are
 * scored against an empty baseline and counted as keys_refused.
 *
 * Snapshots: a full snapshot writes every key's state; a delta writes the keys
 * changed since the previous snapshot (each key's whole state, so restore
 * simply upserts). If the baseline size changed between runs, the newest
 * values are kept; if the method changed, the old state is dropped.
 *
 * Partitioned state (env->part_column, op.h): the partition column is one
 * more key column and every key remembers its partition's tag, written in
 * the snapshots (magic ANOM2), so one partition's baselines can be
 * snapshotted, added or dropped alone when the partition moves.
 */
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/mem.h"
#include "core/hash.h"
#include "core/log.h"
#include "expr/expr.h"
#include "ops/op.h"
#include "sketch/ewma.h"
#include "sketch/robust.h"

#define MAX_KEYS_COLS 16
#define MAX_SEVERITY 16
#define MAX_SIZE 100000
#define SNAP_MAGIC INT64_C(0x314d4f4e41) /* "ANOM1" */
#define SNAP_MAGIC_TAGGED                                                                          \
    INT64_C(0x324d4f4e41) /* "ANOM2": each key followed by its partition tag */

enum { M_WINDOW = 0, M_EWMA = 1 };
enum { C_Z = 1, C_RZ = 2, C_SCORE = 4 };

typedef struct {
    char level[SL_NAME_MAX];
    uint32_t level_len;
    int conds; /* C_* bits */
    double z, rz, score;
} severity_ent;

typedef struct {
    uint64_t h;
    uint64_t tag;    /* partitioned state: the key's partition tag */
    int64_t last_t;  /* time of the newest value added; INT64_MIN: none */
    uint32_t count;  /* values in the ring (window) */
    uint32_t head;   /* next ring position to write */
    uint8_t dirty;   /* changed since the last snapshot */
    sl_ewma ew;      /* ewma */
    sl_ewma ew_prev; /* ewma before the newest value (for same-time replacement) */
} key_state;
/* sl_part_compact (op.h) moves slots that start with the hash and the tag */
_Static_assert(offsetof(key_state, h) == 0 && offsetof(key_state, tag) == sizeof(uint64_t),
               "key_state layout");

typedef struct {
    /* configuration */
    sl_expr *value;
    int nkeys, key[MAX_KEYS_COLS + 1];
    int part_col;  /* partitioned state: the partition column, else -1 */
    int time_col;  /* -1: arrival order */
    int final_col; /* -1: no gating */
    int method;
    uint32_t size, min;
    double alpha;
    bool r_z, r_mad, r_pct, r_static_above, r_static_below;
    bool need_rz; /* robust_z is computed: mad rule or a robust_z_at_least severity */
    double z_thr, mad_thr, pct_q, pct_factor, st_above, st_below;
    char pct_name[32]; /* "p99" */
    int nsev;
    severity_ent sev[MAX_SEVERITY];
    size_t max_keys;
    /* output columns (-1 when absent) */
    int c_mean, c_sd, c_z, c_rz, c_pt, c_anom, c_reason, c_sev;
    /* state */
    sl_hmap *index; /* key hash -> slot */
    key_state *ks;
    double *vals; /* ks_cap * size (window) */
    size_t nks, ks_cap;
    uint32_t *dirty;
    size_t ndirty, dirty_cap;
    /* counters */
    int64_t rows, scored, anomalies, keys_refused, passed;
    /* scratch */
    sl_column vcol;
    uint32_t vcap;
    double *buf, *scr; /* size doubles each */
} anomaly_op;

/* The options, bound by sl_spec_bind: one struct per (nested) table. */
typedef struct {
    int method; /* M_WINDOW, M_EWMA: the order of `method`'s words */
    int64_t size, min;
    double alpha, halflife;
    const sl_node *size_at, *min_at, *alpha_at, *halflife_at;
} baseline_conf;

typedef struct {
    double zscore, mad;
    const sl_node *zscore_at, *mad_at;
    const sl_node *percentile, *stat;
} rules_conf;

typedef struct {
    double q, factor;
} pct_conf;

typedef struct {
    double above, below;
    const sl_node *above_at, *below_at;
} static_conf;

typedef struct {
    const char *level;
    const sl_node *level_at;
    double z, rz, score;
    const sl_node *z_at, *rz_at, *score_at;
} severity_conf;

typedef struct {
    const sl_node *value, *key;
    const char *time;
    const sl_node *time_at;
    const sl_node *baseline, *rules, *severity;
    const char *prefix;
    const sl_node *prefix_at;
    bool only_final;
    int64_t max_keys;
} anomaly_conf;

static const sl_opt baseline_opts[] = {
    {"method", SL_OPT_ENUM, false, "window|ewma", "window", "last N values, or an EWMA",
     SL_OPT_BIND(baseline_conf, method)},
    {"size", SL_OPT_INT, false, NULL, "20", "window: number of values kept per key",
     SL_OPT_BIND(baseline_conf, size), SL_OPT_RANGE(2, MAX_SIZE),
     SL_OPT_AT(baseline_conf, size_at)},
    {"min", SL_OPT_INT, false, NULL, "5", "values needed before any rule fires (window: <= size)",
     SL_OPT_BIND(baseline_conf, min), SL_OPT_MIN(1), SL_OPT_AT(baseline_conf, min_at)},
    {"alpha", SL_OPT_DOUBLE, false, NULL, "0.1", "ewma: weight of the newest value, (0, 1]",
     SL_OPT_BIND(baseline_conf, alpha), SL_OPT_AT(baseline_conf, alpha_at)},
    {"halflife", SL_OPT_DOUBLE, false, NULL, NULL, "ewma: half-life in values (instead of alpha)",
     SL_OPT_BIND(baseline_conf, halflife), SL_OPT_AT(baseline_conf, halflife_at)},
    {0},
};

static const sl_opt pct_opts[] = {
    {"q", SL_OPT_DOUBLE, false, NULL, "0.99", "quantile", SL_OPT_BIND(pct_conf, q),
     SL_OPT_RANGE(0, 1)},
    {"factor", SL_OPT_DOUBLE, false, NULL, "1.0", "multiplier of the quantile",
     SL_OPT_BIND(pct_conf, factor)},
    {0},
};

static const sl_opt static_opts[] = {
    {"above", SL_OPT_DOUBLE, false, NULL, NULL, "x > above fires", SL_OPT_BIND(static_conf, above),
     SL_OPT_AT(static_conf, above_at)},
    {"below", SL_OPT_DOUBLE, false, NULL, NULL, "x < below fires", SL_OPT_BIND(static_conf, below),
     SL_OPT_AT(static_conf, below_at)},
    {0},
};

static const sl_opt rules_opts[] = {
    {"zscore", SL_OPT_DOUBLE, false, NULL, NULL, "|x - mean| / stddev above this fires (> 0)",
     SL_OPT_BIND(rules_conf, zscore), SL_OPT_AT(rules_conf, zscore_at)},
    {"mad", SL_OPT_DOUBLE, false, NULL, NULL, "|0.6745 (x - median) / MAD| above this fires (> 0)",
     SL_OPT_BIND(rules_conf, mad), SL_OPT_AT(rules_conf, mad_at)},
    {"percentile", SL_OPT_MAP, false, NULL, NULL,
     "{q: 0.99, factor: 1.5}: x > quantile * factor fires", SL_OPT_BIND(rules_conf, percentile),
     SL_OPT_SUB(pct_opts)},
    {"static", SL_OPT_MAP, false, NULL, NULL, "{above: A, below: B}: fixed thresholds",
     SL_OPT_BIND(rules_conf, stat), SL_OPT_SUB(static_opts)},
    {0},
};

static const sl_opt severity_opts[] = {
    {"level", SL_OPT_STRING, true, NULL, NULL, "severity text, e.g. critical",
     SL_OPT_BIND(severity_conf, level), SL_OPT_AT(severity_conf, level_at)},
    {"zscore_at_least", SL_OPT_DOUBLE, false, NULL, NULL, "|zscore| >= this",
     SL_OPT_BIND(severity_conf, z), SL_OPT_AT(severity_conf, z_at)},
    {"robust_z_at_least", SL_OPT_DOUBLE, false, NULL, NULL, "|robust_z| >= this",
     SL_OPT_BIND(severity_conf, rz), SL_OPT_AT(severity_conf, rz_at)},
    {"score_at_least", SL_OPT_DOUBLE, false, NULL, NULL, "max(|zscore|, |robust_z|) >= this",
     SL_OPT_BIND(severity_conf, score), SL_OPT_AT(severity_conf, score_at)},
    {0},
};

static const sl_opt anomaly_opts[] = {
    {"value", SL_OPT_EXPR, true, NULL, NULL, "numeric expression to watch",
     SL_OPT_BIND(anomaly_conf, value)},
    {"key", SL_OPT_LIST, false, NULL, NULL, "column(s): one baseline per key (none: one baseline)",
     SL_OPT_BIND(anomaly_conf, key)},
    {"time", SL_OPT_STRING, false, NULL, "window_start",
     "ordering column (timestamp); older rows are scored but not added",
     SL_OPT_BIND(anomaly_conf, time), SL_OPT_AT(anomaly_conf, time_at)},
    {"baseline", SL_OPT_MAP, false, NULL, NULL,
     "{method: window, size, min} | {method: ewma, alpha | halflife, min}",
     SL_OPT_BIND(anomaly_conf, baseline), SL_OPT_SUB(baseline_opts)},
    {"rules", SL_OPT_MAP, true, NULL, NULL,
     "any of zscore: T, mad: T, percentile: {q, factor}, static: {above, below}",
     SL_OPT_BIND(anomaly_conf, rules), SL_OPT_SUB(rules_opts)},
    {"severity", SL_OPT_SEQ, false, NULL, NULL,
     "[{level, zscore_at_least | robust_z_at_least | score_at_least}], first match",
     SL_OPT_BIND(anomaly_conf, severity), SL_OPT_SUB(severity_opts)},
    {"prefix", SL_OPT_STRING, false, NULL, "", "prefix for the added column names",
     SL_OPT_BIND(anomaly_conf, prefix), SL_OPT_AT(anomaly_conf, prefix_at)},
    {"only_final", SL_OPT_BOOL, false, NULL, "true",
     "score only rows with is_final = true (when that column exists)",
     SL_OPT_BIND(anomaly_conf, only_final)},
    {"max_keys", SL_OPT_INT, false, NULL, "1000000", "bound on the number of keys with a baseline",
     SL_OPT_BIND(anomaly_conf, max_keys), SL_OPT_MIN(1)},
    {0},
};

/* ---------------------------------------------------------------- create */

static int add_col(anomaly_op *o, sl_schema *schema, const sl_node *at, const char *prefix,
                   const char *name, sl_type t, int *idx, sl_error *err) {
    char full[SL_NAME_MAX * 2];
    snprintf(full, sizeof full, "%s%s", prefix, name);
    (void)o;
    if (strlen(full) >= SL_NAME_MAX)
        return sl_node_error(err, at, "column name '%s' is too long", full);
    *idx = sl_schema_add(schema, full, t);
    if (*idx < 0)
        return sl_node_error(err, at,
                             sl_schema_find(schema, full) >= 0
                                 ? "anomaly: column '%s' already exists (use prefix)"
                                 : "anomaly: too many columns to add '%s'",
                             full);
    return 0;
}

static void anomaly_destroy(void *self);

/* An absent baseline map binds the table's defaults. */
static int parse_baseline(anomaly_op *o, const sl_node *bn, sl_error *err) {
    baseline_conf b;
    if (sl_spec_bind(bn, baseline_opts, "anomaly baseline", &b, err)) return SL_EINVAL;
    o->method = b.method;
    if (b.size_at && o->method == M_EWMA)
        return sl_node_error(err, b.size_at, "anomaly baseline: size is for method window");
    o->size = (uint32_t)b.size;
    if (b.min_at && o->method == M_WINDOW && b.min > b.size)
        return sl_node_error(err, b.min_at, "anomaly baseline: min must be in 1..%u, got %lld",
                             o->size, (long long)b.min);
    if (b.min > UINT32_MAX)
        return sl_node_error(err, b.min_at, "anomaly baseline: min is too large");
    o->min = (uint32_t)b.min;
    if (!b.min_at && o->min > o->size) o->min = o->size;
    const sl_node *an = b.alpha_at, *hn = b.halflife_at;
    if ((an || hn) && o->method != M_EWMA)
        return sl_node_error(err, an ? an : hn, "anomaly baseline: %s is for method ewma",
                             an ? "alpha" : "halflife");
    if (an && hn)
        return sl_node_error(err, hn, "anomaly baseline: give alpha or halflife, not both");
    o->alpha = b.alpha;
    if (an && !(o->alpha > 0 && o->alpha <= 1))
        return sl_node_error(err, an, "anomaly baseline: alpha must be in (0, 1], got %s", an->str);
    if (hn) {
        o->alpha = sl_ewma_alpha_halflife(b.halflife);
        if (!(o->alpha > 0 && o->alpha <= 1))
            return sl_node_error(err, hn, "anomaly baseline: halflife must be > 0, got %s",
                                 hn->str);
    }
    return 0;
}

static int parse_rules(anomaly_op *o, const sl_node *rn, sl_error *err) {
    rules_conf r;
    if (sl_spec_bind(rn, rules_opts, "anomaly rules", &r, err)) return SL_EINVAL;
    if (rn->n == 0) return sl_node_error(err, rn, "anomaly rules: give at least one rule");
    o->r_z = r.zscore_at != NULL;
    o->z_thr = r.zscore;
    if (o->r_z && !(o->z_thr > 0))
        return sl_node_error(err, r.zscore_at, "anomaly rules: zscore must be > 0");
    o->r_mad = r.mad_at != NULL;
    o->mad_thr = r.mad;
    if (o->r_mad && !(o->mad_thr > 0))
        return sl_node_error(err, r.mad_at, "anomaly rules: mad must be > 0");
    if (o->r_mad && o->method == M_EWMA)
        return sl_node_error(
            err, r.mad_at,
            "anomaly rules: mad needs baseline method window (an EWMA keeps no values)");
    if (r.percentile) {
        if (o->method == M_EWMA)
            return sl_node_error(
                err, r.percentile,
                "anomaly rules: percentile needs baseline method window (an EWMA keeps no values)");
        pct_conf p;
        if (sl_spec_bind(r.percentile, pct_opts, "anomaly rules percentile", &p, err))
            return SL_EINVAL;
        o->r_pct = true;
        o->pct_q = p.q;
        o->pct_factor = p.factor;
        snprintf(o->pct_name, sizeof o->pct_name, "p%g", o->pct_q * 100);
    }
    if (r.stat) {
        static_conf st;
        if (sl_spec_bind(r.stat, static_opts, "anomaly rules static", &st, err)) return SL_EINVAL;
        o->r_static_above = st.above_at != NULL;
        o->r_static_below = st.below_at != NULL;
        o->st_above = st.above;
        o->st_below = st.below;
        if (!o->r_static_above && !o->r_static_below)
            return sl_node_error(err, r.stat, "anomaly rules static: give above and/or below");
    }
    return 0;
}

static int parse_severity(anomaly_op *o, const sl_node *sn, sl_error *err) {
    if (!sn) return 0;
    if (sn->n > MAX_SEVERITY)
        return sl_node_error(err, sn, "anomaly severity: at most %d levels", MAX_SEVERITY);
    for (int i = 0; i < sn->n; i++) {
        severity_conf c;
        if (sl_spec_bind(sn->seq[i], severity_opts, "anomaly severity", &c, err)) return SL_EINVAL;
        severity_ent *s = &o->sev[o->nsev++];
        if (strlen(c.level) >= sizeof s->level)
            return sl_node_error(err, c.level_at, "anomaly severity: level is too long");
        snprintf(s->level, sizeof s->level, "%s", c.level);
        s->level_len = (uint32_t)strlen(s->level);
        s->z = c.z;
        s->rz = c.rz;
        s->score = c.score;
        if (c.z_at) s->conds |= C_Z;
        if (c.rz_at) {
            if (o->method == M_EWMA)
                return sl_node_error(err, c.rz_at,
                                     "anomaly severity: robust_z needs baseline method window");
            s->conds |= C_RZ;
            o->need_rz = true;
        }
        if (c.score_at) s->conds |= C_SCORE;
    }
    return 0;
}

static int anomaly_create(const sl_node *arg, sl_schema *schema, const sl_op_env *env, void **self,
                          sl_error *err) {
    anomaly_conf c;
    if (sl_spec_bind(arg, anomaly_opts, "anomaly", &c, err)) return SL_EINVAL;
    anomaly_op *o = sl_xcalloc(1, sizeof *o);
    if (!o) return sl_error_set(err, SL_ENOMEM, "out of memory");
    o->c_z = o->c_rz = o->c_pt = -1;
    o->part_col = -1;

    const sl_node *vn = c.value;
    o->value = sl_op_compile_expr(vn, schema, err);
    if (!o->value) goto fail;
    sl_type vt = sl_expr_type(o->value);
    if (vt != SL_T_INT && vt != SL_T_DOUBLE) {
        sl_node_error(err, vn, "anomaly: value must be a numeric expression, got %s",
                      sl_type_name(vt));
        goto fail;
    }

    const sl_node *kn = c.key;
    int nk = sl_node_list_len(kn);
    if (nk > MAX_KEYS_COLS) {
        sl_node_error(err, kn, "anomaly: at most %d key columns", MAX_KEYS_COLS);
        goto fail;
    }
    for (int i = 0; i < nk; i++) {
        const sl_node *k = sl_node_list_at(kn, i);
        int idx = sl_schema_find(schema, k->str);
        if (idx < 0) {
            sl_node_error(err, k, "anomaly: unknown key column '%s'", k->str);
            goto fail;
        }
        o->key[o->nkeys++] = idx;
    }
    if (env && env->part_column && (o->part_col = sl_schema_find(schema, env->part_column)) >= 0)
        o->key[o->nkeys++] = o->part_col;

    const sl_node *tn = c.time_at; /* NULL: the default, which may be absent */
    o->time_col = sl_schema_find(schema, c.time);
    if (tn && o->time_col < 0) {
        sl_node_error(err, tn, "anomaly: unknown time column '%s'", c.time);
        goto fail;
    }
    if (o->time_col >= 0 && schema->f[o->time_col].type != SL_T_TS &&
        schema->f[o->time_col].type != SL_T_INT) {
        if (tn) {
            sl_node_error(err, tn, "anomaly: time column '%s' must be a timestamp or int, is %s",
                          c.time, sl_type_name(schema->f[o->time_col].type));
            goto fail;
        }
        o->time_col = -1;
    }

    o->final_col = -1;
    if (c.only_final) {
        int fc = sl_schema_find(schema, "is_final");
        if (fc >= 0 && schema->f[fc].type == SL_T_BOOL) o->final_col = fc;
    }

    o->max_keys = (size_t)c.max_keys;

    if (parse_baseline(o, c.baseline, err)) goto fail;
    if (parse_rules(o, c.rules, err)) goto fail;
    o->need_rz = o->r_mad;
    if (parse_severity(o, c.severity, err)) goto fail;

    const char *prefix = c.prefix;
    const sl_node *at = c.prefix_at ? c.prefix_at : arg;
    if (add_col(o, schema, at, prefix, "baseline_mean", SL_T_DOUBLE, &o->c_mean, err) ||
        add_col(o, schema, at, prefix, "baseline_stddev", SL_T_DOUBLE, &o->c_sd, err) ||
        (o->r_z && add_col(o, schema, at, prefix, "zscore", SL_T_DOUBLE, &o->c_z, err)) ||
        (o->r_mad && add_col(o, schema, at, prefix, "robust_z", SL_T_DOUBLE, &o->c_rz, err)) ||
        (o->r_pct &&
         add_col(o, schema, at, prefix, "pctl_threshold", SL_T_DOUBLE, &o->c_pt, err)) ||
        add_col(o, schema, at, prefix, "is_anomaly", SL_T_BOOL, &o->c_anom, err) ||
        add_col(o, schema, at, prefix, "anomaly_reason", SL_T_STRING, &o->c_reason, err) ||
        add_col(o, schema, at, prefix, "severity", SL_T_STRING, &o->c_sev, err))
        goto fail;

    o->index = sl_hmap_new(64);
    if (o->method == M_WINDOW) {
        o->buf = sl_xmalloc((o->size + 1) * sizeof(double));
        o->scr = sl_xmalloc((o->size + 1) * sizeof(double));
        if (!o->buf || !o->scr) {
            sl_error_set(err, SL_ENOMEM, "out of memory");
            goto fail;
        }
    }
    o->vcol.type = vt;
    *self = o;
    return 0;
fail:
    anomaly_destroy(o);
    return SL_EINVAL;
}

/* ---------------------------------------------------------------- state */

static inline uint64_t row_key(const anomaly_op *o, const sl_batch *b, uint32_t i) {
    return sl_key_hash(b, o->key, o->nkeys, i, 0xa40a);
}

static void mark_dirty(anomaly_op *o, size_t s) {
    if (o->ks[s].dirty) return;
    o->ks[s].dirty = 1;
    if (o->ndirty == o->dirty_cap) {
        o->dirty_cap = o->dirty_cap ? o->dirty_cap * 2 : 64;
        o->dirty = sl_xrealloc(o->dirty, o->dirty_cap * sizeof *o->dirty);
        if (!o->dirty) abort();
    }
    o->dirty[o->ndirty++] = (uint32_t)s;
}

/* Slot of key h, creating it when `create` (and max_keys allows) with the
 * partition tag of row i of b (b may be NULL: tag 0); -1 if none. */
static int64_t slot_of(anomaly_op *o, uint64_t h, bool create, const sl_batch *b, uint32_t i) {
    int64_t *p = sl_hmap_get(o->index, h);
    if (p) return *p;
    if (!create) return -1;
    if (o->nks >= o->max_keys) {
        o->keys_refused++;
        return -1;
    }
    if (o->nks == o->ks_cap) {
        size_t cap = o->ks_cap ? o->ks_cap * 2 : 64;
        key_state *ks = sl_xrealloc(o->ks, cap * sizeof *ks);
        if (!ks) abort();
        o->ks = ks;
        if (o->method == M_WINDOW) {
            double *v = sl_xrealloc(o->vals, cap * (o->size + 1) * sizeof(double));
            if (!v) abort();
            o->vals = v;
        }
        o->ks_cap = cap;
    }
    size_t s = o->nks++;
    key_state *k = &o->ks[s];
    memset(k, 0, sizeof *k);
    k->h = h;
    if (b && o->part_col >= 0 && !b->col[o->part_col].null[i])
        k->tag = sl_part_tag(b->col[o->part_col].v.s[i].ptr, b->col[o->part_col].v.s[i].len);
    k->last_t = INT64_MIN;
    sl_ewma_init(&k->ew, o->alpha);
    k->ew_prev = k->ew;
    sl_hmap_put(o->index, h, (int64_t)s, NULL);
    return (int64_t)s;
}

/* Copies the baseline of slot s, oldest first, into o->buf: the newest `size`
 * values, or (skip_newest) the `size` values before the newest. The ring keeps
 * size + 1 values so that a same-time replacement still sees a full baseline. */
static uint32_t gather(const anomaly_op *o, const key_state *k, size_t s, bool skip_newest) {
    uint32_t cap = o->size + 1;
    uint32_t avail = k->count - (skip_newest && k->count ? 1 : 0);
    uint32_t n = avail < o->size ? avail : o->size;
    const double *ring = o->vals + s * cap;
    uint32_t end = (k->head + cap - (k->count - avail)) % cap; /* one past the last value used */
    uint32_t start = (end + cap - n) % cap;
    for (uint32_t i = 0; i < n; i++)
        o->buf[i] = ring[(start + i) % cap];
    return n;
}

static void ring_push(anomaly_op *o, key_state *k, size_t s, double x) {
    uint32_t cap = o->size + 1;
    double *ring = o->vals + s * cap;
    ring[k->head] = x;
    k->head = (k->head + 1) % cap;
    if (k->count < cap) k->count++;
}

/* ---------------------------------------------------------------- process */

typedef struct {
    double mean, sd, z, rz, pt; /* NAN = NULL */
} scores;

static bool sev_match(const severity_ent *s, const scores *sc, bool anomalous) {
    if (!s->conds) return anomalous;
    double az = fabs(sc->z), arz = fabs(sc->rz);
    if ((s->conds & C_Z) && !(az >= s->z)) return false;
    if ((s->conds & C_RZ) && !(arz >= s->rz)) return false;
    if (s->conds & C_SCORE) {
        double m = isnan(az) ? arz : isnan(arz) ? az : (az > arz ? az : arz);
        if (!(m >= s->score)) return false;
    }
    return true;
}

static inline void set_dbl(sl_column *c, uint32_t i, double v) {
    if (isnan(v))
        sl_col_set_null(c, i);
    else
        sl_col_set_double(c, i, v);
}

static void null_row(anomaly_op *o, sl_batch *b, uint32_t i) {
    int cols[] = {o->c_mean, o->c_sd, o->c_z, o->c_rz, o->c_pt, o->c_anom, o->c_reason, o->c_sev};
    for (size_t c = 0; c < sizeof cols / sizeof cols[0]; c++)
        if (cols[c] >= 0) sl_col_set_null(&b->col[cols[c]], i);
}

static int anomaly_process(void *self, sl_batch *b, sl_op_ctx *ctx, sl_error *err) {
    (void)ctx;
    anomaly_op *o = self;
    if (!b->n) return 0;
    if (o->vcap < b->cap) {
        free(o->vcol.null);
        free(o->vcol.v.p);
        o->vcol.null = sl_xmalloc(b->cap);
        o->vcol.v.p = sl_xmalloc((size_t)b->cap * 8);
        if (!o->vcol.null || !o->vcol.v.p) abort();
        o->vcap = b->cap;
    }
    int rc = sl_expr_eval(o->value, b, &o->vcol);
    if (rc) return sl_error_set(err, rc, "anomaly: evaluating value failed");
    const sl_column *tc = o->time_col >= 0 ? &b->col[o->time_col] : NULL;
    const sl_column *fc = o->final_col >= 0 ? &b->col[o->final_col] : NULL;
    for (uint32_t i = 0; i < b->n; i++) {
        o->rows++;
        if (fc && (fc->null[i] || !fc->v.b[i])) {
            null_row(o, b, i);
            o->passed++;
            continue;
        }
        double x = NAN;
        if (!o->vcol.null[i])
            x = o->vcol.type == SL_T_INT ? (double)o->vcol.v.i[i] : o->vcol.v.d[i];
        bool has_x = isfinite(x);
        int64_t s = slot_of(o, row_key(o, b, i), has_x, b, i);
        key_state *k = s >= 0 ? &o->ks[s] : NULL;
        /* add (1), replace the newest (2) or only score (0) */
        int mode = 1;
        int64_t t = INT64_MIN;
        if (k && tc && !tc->null[i]) {
            t = tc->v.i[i];
            if (k->last_t != INT64_MIN) mode = t > k->last_t ? 1 : t == k->last_t ? 2 : 0;
        }
        scores sc = {NAN, NAN, NAN, NAN, NAN};
        uint64_t n = 0;
        if (k && o->method == M_WINDOW) {
            n = gather(o, k, (size_t)s, mode == 2);
            if (n >= 1) {
                double sum = 0;
                for (uint32_t j = 0; j < n; j++)
                    sum += o->buf[j];
                sc.mean = sum / (double)n;
                if (n >= 2) {
                    double m2 = 0;
                    for (uint32_t j = 0; j < n; j++)
                        m2 += (o->buf[j] - sc.mean) * (o->buf[j] - sc.mean);
                    sc.sd = sqrt(m2 / (double)(n - 1));
                }
            }
            if (has_x && n >= o->min) {
                if (sc.sd > 0) sc.z = (x - sc.mean) / sc.sd;
                if (o->need_rz) {
                    double med, mad = sl_robust_mad(o->buf, n, o->scr, &med);
                    sc.rz = sl_robust_zscore(x, med, mad);
                }
                if (o->r_pct)
                    sc.pt = sl_robust_quantile(o->buf, n, o->scr, o->pct_q) * o->pct_factor;
            }
        } else if (k) {
            const sl_ewma *e = mode == 2 ? &k->ew_prev : &k->ew;
            n = e->n;
            if (n >= 1) sc.mean = e->value;
            if (n >= 2) sc.sd = sqrt(e->variance);
            if (has_x && n >= o->min) sc.z = sl_ewma_zscore(e, x);
        }
        if (has_x && n >= o->min && !(sc.sd > 0)) sc.z = NAN;
        /* rules */
        bool anom = false;
        char reason[512];
        int rl = 0;
#define REASON(...)                                                                                \
    do {                                                                                           \
        if (rl < (int)sizeof reason)                                                               \
            rl += snprintf(reason + rl, sizeof reason - (size_t)rl, "%s", rl ? "; " : "");         \
        if (rl < (int)sizeof reason)                                                               \
            rl += snprintf(reason + rl, sizeof reason - (size_t)rl, __VA_ARGS__);                  \
    } while (0)
        if (has_x && n >= o->min) {
            if (o->r_z && fabs(sc.z) > o->z_thr) {
                anom = true;
                if (sc.z > 0)
                    REASON("zscore %.2f > %g", sc.z, o->z_thr);
                else
                    REASON("zscore %.2f < -%g", sc.z, o->z_thr);
            }
            if (o->r_mad && fabs(sc.rz) > o->mad_thr) {
                anom = true;
                if (sc.rz > 0)
                    REASON("robust_z %.2f > %g", sc.rz, o->mad_thr);
                else
                    REASON("robust_z %.2f < -%g", sc.rz, o->mad_thr);
            }
            if (o->r_pct && x > sc.pt) {
                anom = true;
                REASON("value %g > %s*%g=%g", x, o->pct_name, o->pct_factor, sc.pt);
            }
            if (o->r_static_above && x > o->st_above) {
                anom = true;
                REASON("value %g > %g", x, o->st_above);
            }
            if (o->r_static_below && x < o->st_below) {
                anom = true;
                REASON("value %g < %g", x, o->st_below);
            }
        }
#undef REASON
        /* outputs */
        set_dbl(&b->col[o->c_mean], i, sc.mean);
        set_dbl(&b->col[o->c_sd], i, sc.sd);
        if (o->c_z >= 0) set_dbl(&b->col[o->c_z], i, sc.z);
        if (o->c_rz >= 0) set_dbl(&b->col[o->c_rz], i, sc.rz);
        if (o->c_pt >= 0) set_dbl(&b->col[o->c_pt], i, sc.pt);
        sl_col_set_bool(&b->col[o->c_anom], i, anom);
        if (anom) {
            if (rl >= (int)sizeof reason) rl = (int)sizeof reason - 1;
            char *r = sl_arena_strdup(b->arena, reason, (size_t)rl);
            sl_col_set_str(&b->col[o->c_reason], i, r, (uint32_t)rl);
        } else {
            sl_col_set_null(&b->col[o->c_reason], i);
        }
        sl_col_set_null(&b->col[o->c_sev], i);
        for (int j = 0; j < o->nsev; j++)
            if (sev_match(&o->sev[j], &sc, anom)) {
                sl_col_set_str(&b->col[o->c_sev], i, o->sev[j].level, o->sev[j].level_len);
                break;
            }
        o->scored++;
        o->anomalies += anom;
        /* fold the value in */
        if (!k || !has_x || mode == 0) continue;
        if (o->method == M_WINDOW) {
            if (mode == 2) { /* overwrite the newest */
                double *ring = o->vals + (size_t)s * (o->size + 1);
                ring[(k->head + o->size) % (o->size + 1)] = x;
            } else {
                ring_push(o, k, (size_t)s, x);
            }
        } else {
            if (mode == 2)
                k->ew = k->ew_prev;
            else
                k->ew_prev = k->ew;
            sl_ewma_update(&k->ew, x);
        }
        if (t != INT64_MIN) k->last_t = t;
        mark_dirty(o, (size_t)s);
    }
    return 0;
}

/* ---------------------------------------------------------------- snapshot */

static void put_slot(anomaly_op *o, sl_buf *out, size_t s) {
    key_state *k = &o->ks[s];
    sl_buf_put(out, &k->h, sizeof k->h);
    if (o->part_col >= 0) sl_buf_put(out, &k->tag, sizeof k->tag);
    sl_buf_put_i64(out, k->last_t);
    if (o->method == M_WINDOW) { /* every value held, the extra one included */
        uint32_t cap = o->size + 1, n = k->count;
        const double *ring = o->vals + s * cap;
        uint32_t start = (k->head + cap - n) % cap;
        sl_buf_put(out, &n, sizeof n);
        for (uint32_t i = 0; i < n; i++)
            sl_buf_put(out, &ring[(start + i) % cap], sizeof(double));
    } else {
        uint8_t e[2 * SL_EWMA_ENCODED_SIZE];
        sl_ewma_encode(&k->ew, e);
        sl_ewma_encode(&k->ew_prev, e + SL_EWMA_ENCODED_SIZE);
        sl_buf_put(out, e, sizeof e);
    }
}

static int anomaly_snapshot(void *self, sl_buf *out, bool full) {
    anomaly_op *o = self;
    sl_buf_put_i64(out, o->part_col >= 0 ? SNAP_MAGIC_TAGGED : SNAP_MAGIC);
    sl_buf_put_i64(out, o->method);
    sl_buf_put_i64(out, o->size);
    sl_buf_put_i64(out, o->rows);
    sl_buf_put_i64(out, o->scored);
    sl_buf_put_i64(out, o->anomalies);
    sl_buf_put_i64(out, o->keys_refused);
    sl_buf_put_i64(out, o->passed);
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

static int anomaly_snapshot_parts(void *self, sl_buf *out, const sl_part_set *only) {
    anomaly_op *o = self;
    sl_buf_put_i64(out, SNAP_MAGIC_TAGGED);
    sl_buf_put_i64(out, o->method);
    sl_buf_put_i64(out, o->size);
    for (int c = 0; c < 5; c++)
        sl_buf_put_i64(out, 0); /* counters stay with their instance */
    int64_t cnt = 0;
    for (size_t s = 0; s < o->nks; s++)
        cnt += sl_part_set_has(only, o->ks[s].tag);
    sl_buf_put_i64(out, cnt);
    for (size_t s = 0; s < o->nks; s++)
        if (sl_part_set_has(only, o->ks[s].tag)) put_slot(o, out, s);
    return 0;
}

/* Forgets the keys of `parts`, moving the last slots into the holes. The
 * dirty list is dropped: the engine writes a full snapshot next. */
static void anomaly_drop_parts(void *self, const sl_part_set *parts) {
    anomaly_op *o = self;
    if (o->part_col < 0) return;
    o->nks = sl_part_compact(o->ks, o->nks, sizeof *o->ks, o->method == M_WINDOW ? o->vals : NULL,
                             o->size + 1, o->index, parts);
    for (size_t s = 0; s < o->nks; s++)
        o->ks[s].dirty = 0;
    o->ndirty = 0;
}

/* One pass over a snapshot: with apply=false it only validates, so a corrupt
 * snapshot is refused before any state is touched. only != NULL: the keys of
 * those partitions are added to what is held (counters untouched). */
static int restore_pass(anomaly_op *o, const void *data, size_t len, bool full, bool apply,
                        const sl_part_set *only) {
    sl_rd r = {data, len, 0};
    int64_t magic, method, size, cnt, ctr[5];
    if (sl_rd_i64(&r, &magic) || (magic != SNAP_MAGIC && magic != SNAP_MAGIC_TAGGED) ||
        (magic == SNAP_MAGIC_TAGGED) != (o->part_col >= 0) || sl_rd_i64(&r, &method) ||
        sl_rd_i64(&r, &size) || sl_rd_i64(&r, &ctr[0]) || sl_rd_i64(&r, &ctr[1]) ||
        sl_rd_i64(&r, &ctr[2]) || sl_rd_i64(&r, &ctr[3]) || sl_rd_i64(&r, &ctr[4]) ||
        sl_rd_i64(&r, &cnt) || cnt < 0 || size < 0 || size > MAX_SIZE ||
        (method != M_WINDOW && method != M_EWMA))
        return SL_ECORRUPT;
    bool same_method = method == o->method;
    bool tagged = magic == SNAP_MAGIC_TAGGED;
    if (apply && !only) {
        if (full) {
            sl_hmap_clear(o->index);
            o->nks = 0;
            o->ndirty = 0;
        }
        o->rows = ctr[0];
        o->scored = ctr[1];
        o->anomalies = ctr[2];
        o->keys_refused = ctr[3];
        o->passed = ctr[4];
        if (!same_method)
            sl_log_warn(
                "anomaly: baseline method changed since the snapshot; baselines start empty", "%s",
                "");
    }
    for (int64_t c = 0; c < cnt; c++) {
        uint64_t h, tag = 0;
        int64_t last_t;
        if (sl_rd_bytes(&r, &h, sizeof h) || (tagged && sl_rd_bytes(&r, &tag, sizeof tag)) ||
            sl_rd_i64(&r, &last_t))
            return SL_ECORRUPT;
        bool keep = !only || sl_part_set_has(only, tag);
        if (method == M_WINDOW) {
            uint32_t n;
            if (sl_rd_bytes(&r, &n, sizeof n) || n > (uint64_t)size + 1 ||
                (len - r.off) / sizeof(double) < n)
                return SL_ECORRUPT;
            const unsigned char *vp = r.p + r.off;
            r.off += (size_t)n * sizeof(double);
            if (!apply || !same_method || !keep) continue;
            int64_t s = slot_of(o, h, true, NULL, 0);
            if (s < 0) continue;
            key_state *k = &o->ks[s];
            k->tag = tag;
            k->count = k->head = 0;
            k->last_t = last_t;
            uint32_t skip =
                n > o->size + 1 ? n - o->size - 1 : 0; /* size shrank: keep the newest */
            for (uint32_t j = skip; j < n; j++) {
                double x;
                memcpy(&x, vp + (size_t)j * sizeof(double), sizeof x);
                ring_push(o, k, (size_t)s, x);
            }
        } else {
            uint8_t e[2 * SL_EWMA_ENCODED_SIZE];
            sl_ewma a, b;
            if (sl_rd_bytes(&r, e, sizeof e) || sl_ewma_decode(&a, e, SL_EWMA_ENCODED_SIZE) ||
                sl_ewma_decode(&b, e + SL_EWMA_ENCODED_SIZE, SL_EWMA_ENCODED_SIZE))
                return SL_ECORRUPT;
            if (!apply || !same_method || !keep) continue;
            int64_t s = slot_of(o, h, true, NULL, 0);
            if (s < 0) continue;
            key_state *k = &o->ks[s];
            k->tag = tag;
            k->ew = a;
            k->ew_prev = b;
            k->ew.alpha = k->ew_prev.alpha = o->alpha; /* the current spec's alpha wins */
            k->last_t = last_t;
        }
    }
    return r.off == r.n ? 0 : SL_ECORRUPT;
}

static int restore_parts(anomaly_op *o, const void *data, size_t len, bool full,
                         const sl_part_set *only, sl_error *err) {
    if (sl_part_check_magic(data, len, SNAP_MAGIC, SNAP_MAGIC_TAGGED, o->part_col >= 0, "anomaly",
                            err))
        return SL_ECORRUPT;
    if (restore_pass(o, data, len, full, false, only))
        return sl_error_set(err, SL_ECORRUPT, "anomaly: corrupt snapshot");
    restore_pass(o, data, len, full, true, only);
    return 0;
}

static int anomaly_restore(void *self, const void *data, size_t len, bool full, sl_error *err) {
    return restore_parts(self, data, len, full, NULL, err);
}

static int anomaly_restore_parts(void *self, const void *data, size_t len, bool full,
                                 const sl_part_set *only, sl_error *err) {
    return restore_parts(self, data, len, full, only, err);
}

static int anomaly_stats(void *self, sl_op_stat *out, int cap) {
    anomaly_op *o = self;
    size_t bytes = sl_hmap_bytes(o->index) + o->ks_cap * sizeof(key_state) +
                   (o->method == M_WINDOW ? o->ks_cap * (o->size + 1) * sizeof(double) : 0);
    sl_op_stat s[] = {
        {"rows", (double)o->rows},
        {"scored", (double)o->scored},
        {"anomalies", (double)o->anomalies},
        {"passed_through", (double)o->passed},
        {"keys", (double)o->nks, true},
        {"keys_refused", (double)o->keys_refused},
        {"state_bytes", (double)bytes, true},
    };
    return sl_op_stats_copy(out, cap, s, (int)(sizeof s / sizeof s[0]));
}

static void anomaly_destroy(void *self) {
    anomaly_op *o = self;
    if (!o) return;
    if (o->value) sl_expr_free(o->value);
    if (o->index) sl_hmap_free(o->index);
    free(o->ks);
    free(o->vals);
    free(o->dirty);
    free(o->vcol.null);
    free(o->vcol.v.p);
    free(o->buf);
    free(o->scr);
    free(o);
}

const sl_op_def sl_op_anomaly = {
    .name = "anomaly",
    .keeps_values = sl_op_keeps_values_always,
    .opts = anomaly_opts,
    .help = "flag values far from their key's baseline: zscore, mad, percentile and static rules",
    .create = anomaly_create,
    .process = anomaly_process,
    .snapshot = anomaly_snapshot,
    .restore = anomaly_restore,
    .stats = anomaly_stats,
    .destroy = anomaly_destroy,
    .restore_parts = anomaly_restore_parts,
    .snapshot_parts = anomaly_snapshot_parts,
    .drop_parts = anomaly_drop_parts,
};
