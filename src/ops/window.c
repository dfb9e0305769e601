/*
 * window.c - event-time window aggregation; see window.h for the model.
 *
 * Each group (window start, key values) keeps one agg_state per aggregate:
 * plain counters for the exact aggregates, a DDSketch for quantiles (relative
 * error `accuracy`, default 1%), a HyperLogLog for approx_count_distinct and a
 * Welford state for stddev/variance. Every state is mergeable, which is what
 * rollups use: a coarser window's group is the merge of the finer window's
 * final groups.
 *
 * min_by(v, o) / max_by(v, o) keep the candidate row that is best under one
 * total order: the smallest (min_by) or largest (max_by) o; on equal o the
 * earliest event time; on equal event time too, the smallest v (NULL first,
 * doubles by their IEEE total order, strings bytewise). Because the winner is
 * the extremum of a total order it does not depend on arrival order, batch
 * boundaries, snapshot/restore or rollup merge order: the same rows always
 * give the same value. Rows with a NULL or NaN o are ignored; a NULL v can
 * win (the result is then NULL).
 *
 * Emission order: groups are emitted in window-start order (ties: the
 * group key, _group), so a table reading the window rows (anomaly, health)
 * sees each key's windows in time order even when several become final at
 * once, and the order does not depend on slot reuse or restores.
 *
 * Incremental maintenance. Groups are indexed by window start: a sorted
 * array of buckets, one per window start, each listing its groups and its
 * dirty groups (every group knows its bucket and its positions in both
 * lists, so linking and unlinking are O(1)). sl_window_emit walks the
 * buckets in start order and looks at a bucket's dirty list while the window
 * is open and at all its groups once it is due; an emission of k rows costs
 * O(k log k + buckets). The window also keeps the groups changed since the
 * last snapshot (dirtied, emitted or restored for a new partition) and the
 * keys of groups released since then that the snapshot chain holds
 * ("snapped"): that is a delta snapshot, O(changed) to write.
 *
 * Snapshot format 2: i64 tag SNAP_TAG, i64 version 2, i64 kind (1 full, 0
 * delta), i64 final watermark, i64 count + the released group keys (0 in a
 * full snapshot), i64 count + the groups (key, window start, flags dirty|
 * final<<1, version, key values, aggregate states). Format 1 (no tag) is
 * the count and the groups with a dirty word instead of flags and version.
 */
#include "core/mem.h"
#include "ops/window.h"

#include <assert.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/hash.h"
#include "core/timeutil.h"
#include "core/tz.h"
#include "expr/expr.h"
#include "sketch/ddsketch.h"
#include "sketch/hll.h"
#include "sketch/welford.h"

#define SL_WINDOW_QUANTILE_ALPHA 0.01 /* default `accuracy` */
#define SL_WINDOW_MIN_ACCURACY 0.0005
#define SL_WINDOW_MAX_ACCURACY 0.1

enum {
    AGG_COUNT,
    AGG_COUNT_DISTINCT,
    AGG_SUM,
    AGG_AVG,
    AGG_MIN,
    AGG_MAX,
    AGG_STDDEV,
    AGG_VARIANCE,
    AGG_QUANTILE,
    AGG_APPROX_DISTINCT,
    AGG_FIRST,
    AGG_LAST,
    AGG_MIN_BY,
    AGG_MAX_BY,
    AGG_KINDS
};
static const char *agg_names[] = {
    "count",    "count_distinct",        "sum",   "avg",  "min",    "max",   "stddev", "variance",
    "quantile", "approx_count_distinct", "first", "last", "min_by", "max_by"};
/* Shorthands for quantile(x, q). */
static const struct {
    const char *name;
    double q;
} quantile_alias[] = {
    {"median", 0.5}, {"p50", 0.5},  {"p75", 0.75},   {"p90", 0.9},
    {"p95", 0.95},   {"p99", 0.99}, {"p999", 0.999},
};
#define AGG_HELP                                                                                   \
    "count, count_distinct, sum, avg, min, max, stddev, variance, quantile(x, q), median, p50, "   \
    "p90, p95, p99, approx_count_distinct, first, last, min_by(x, order), max_by(x, order)"

#define MAX_KEYS 8
#define MAX_AGGS 32

typedef struct {
    int kind;
    sl_expr *arg; /* NULL for count(*) */
    sl_type arg_type;
    sl_type out_type;
    sl_column tmp; /* evaluated argument, batch-sized */
    uint32_t tmp_cap;
    double q;     /* quantile */
    sl_expr *ord; /* min_by/max_by: the ordering expression */
    sl_type ord_type;
    sl_column tmp2; /* evaluated ordering expression */
} agg_def;

typedef struct {
    int64_t n;  /* non-null inputs (count(*): rows) */
    double sum; /* double sums and avg */
    int64_t isum;
    double dmin, dmax;
    int64_t imin, imax;
    sl_hset *distinct; /* count_distinct: int/ts values themselves (exact), else 64-bit hashes */
    /* sketch aggregates: fields after `distinct` are snapshotted one by one */
    sl_ddsketch *dd;         /* quantile: relative error SL_WINDOW_QUANTILE_ALPHA, mergeable */
    sl_hll *hll;             /* approx_count_distinct: HyperLogLog, exact below 1024 values */
    sl_welford wf;           /* stddev, variance */
    int64_t t_first, t_last; /* first/last: event time of the value kept */
    int64_t fi, li;
    double fd, ld;
    /* min_by/max_by: the best row so far under the tie rule (see the top) */
    bool has_by, by_vnull;
    int64_t by_t;  /* its event time */
    int64_t by_oi; /* its order value (int, timestamp, bool) */
    double by_od;  /* its order value (double) */
    int64_t by_vi; /* its value (int, timestamp, bool) */
    double by_vd;  /* its value (double) */
    char *by_vs;   /* its value (string), malloc'd, grown only when needed */
    uint32_t by_vslen, by_vscap;
    /* count_distinct over int/ts restored from a snapshot of before values
     * were stored: the set holds their hashes, and so it goes on */
    bool dhashed;
} agg_state;

/* Snapshot: the distinct count's flag for a set of values, not hashes. */
#define DISTINCT_VALUES ((int64_t)1 << 62)

static inline bool distinct_by_value(sl_type t) { return t == SL_T_INT || t == SL_T_TS; }

/* The groups of one window start (see the top of the file). */
typedef struct wbucket {
    int64_t wstart, wend;        /* [wstart, wend): computed once, calendar windows vary */
    size_t *gi, n, cap;          /* its live groups */
    size_t *dirty, ndirty, dcap; /* those of them that are dirty */
    bool done;                   /* late: update: every group emitted final (kept for late rows) */
} wbucket;

#define NOPOS ((size_t)-1)

/* Group lookup cache entries (see sl_window.gcache): rows of a few dozen
 * locations per window hit it; a miss costs the key hash it saves. */
#define GCACHE_BITS 8
#define GCACHE (1u << GCACHE_BITS)

typedef struct {
    uint64_t gkey;
    int64_t wstart;
    uint8_t knull[MAX_KEYS];
    int64_t ki[MAX_KEYS];
    double kd[MAX_KEYS];
    char *ks[MAX_KEYS];
    uint32_t kslen[MAX_KEYS];
    bool dirty, alive;
    bool final;      /* emitted as final (late: update keeps such groups a while) */
    bool snapped;    /* written by a snapshot since it was made: a release must be recorded */
    int64_t version; /* final emissions so far (_version) */
    wbucket *bk;     /* NULL until linked */
    size_t bpos, dpos, cpos; /* in bk->gi, bk->dirty (dirty only), w->changed (NOPOS: not in it) */
    agg_state *aggs;
} group;

enum { LATE_DROP, LATE_QUARANTINE, LATE_UPDATE };

/* Snapshot format tag: negative, so never the group count of format 1. */
#define SNAP_TAG (-0x57696E646F77LL)

/* Calendar units of `size` (see the top of the file). */
enum { UNIT_NONE, UNIT_DAY, UNIT_WEEK, UNIT_MONTH };
static const char *unit_names[] = {"", "1d", "1w", "1mo"};
#define DAY_US (86400 * SL_US_PER_SEC)

struct sl_window {
    int time_col;
    int64_t size, slide; /* fixed windows; a calendar window's size is its unit's nominal length */
    int unit;            /* UNIT_*: what `size` was written as */
    bool cal;            /* rows take the calendar path (every calendar unit but 1d in UTC) */
    bool own_lateness;   /* calendar, allowed_lateness unset: each window's own length */
    sl_tz *tz;           /* `timezone` (UTC by default) */
    int64_t cal_lo, cal_hi; /* calendar: the window [lo, hi) found last (rows come in runs) */
    int nkeys;
    int part_key; /* partitioned state: the key that is the partition column, else -1 */
    int key_col[MAX_KEYS];
    sl_type key_type[MAX_KEYS];
    int naggs;
    agg_def aggs[MAX_AGGS];
    sl_schema out;
    group *g;
    size_t ng, gcap;
    size_t *free_list;
    size_t nfree;
    sl_hmap *index; /* gkey -> group index */
    size_t alive;
    /* rollups: coarser windows fed by merging this window's final groups */
    struct sl_window *rollup[4];
    int nrollup;
    bool is_rollup;
    double alpha;        /* DDSketch relative error of the quantile aggregates */
    uint32_t dd_buckets; /* DDSketch bucket limit per store for that alpha */
    int late;            /* LATE_* */
    int64_t lateness;    /* late: update: allowed_lateness */
    int64_t final_wm;    /* highest watermark emitted at, INT64_MIN: none */
    int64_t late_merges; /* rollup: source groups not merged (their window was final) */
    wbucket **bk;        /* by window start, ascending */
    size_t nbk, bkcap;
    wbucket *last_bk; /* the last one looked up (rows come roughly in time order) */
    size_t *changed;  /* groups changed since the last snapshot */
    size_t nchanged, chcap;
    uint64_t *released; /* keys of snapped groups released since the last snapshot */
    size_t nreleased, relcap;
    /* emission scratch: the candidates of bucket order_bk by group key, emitted up to order_pos */
    struct emit_ent {
        uint64_t gkey;
        size_t gi;
    } * order;
    size_t order_n, order_pos, order_cap;
    wbucket *order_bk;
    /* group lookup cache, direct-mapped by a cheap hash of a row's window
     * start and key values: index + 1 of a group that had them (0: none).
     * A hit is checked against the group's own keys, so a released or
     * reused group is simply a miss. */
    size_t gcache[GCACHE];
};

const sl_opt sl_window_opts[] = {
    {"time", SL_OPT_STRING, false, NULL, "event_ts", "event-time column"},
    {"size", SL_OPT_STRING, true, NULL, NULL,
     "window length: a duration (5m, 1h, 24h) or a calendar unit 1d, 1w (Monday) or 1mo in "
     "`timezone`"},
    {"slide", SL_OPT_DURATION, false, NULL, "size", "hop between window starts (hopping windows)"},
    {"keys", SL_OPT_LIST, false, NULL, NULL, "group-by columns"},
    {"aggregates", SL_OPT_MAP, true, NULL, NULL, "name: func(expr) with func " AGG_HELP},
    {"accuracy", SL_OPT_DOUBLE, false, NULL, "0.01",
     "relative error of the quantile aggregates (DDSketch alpha), 0.0005..0.1"},
    {"late", SL_OPT_ENUM, false, "drop|quarantine|update", "quarantine",
     "records for a window already final: dropped, quarantined, or added and the final row "
     "re-emitted (_version)"},
    {"allowed_lateness", SL_OPT_DURATION, false, NULL, "size",
     "late: update: how long past its end (in watermark time) a final window's groups are kept"},
    {"timezone", SL_OPT_STRING, false, NULL, "UTC",
     "tzdata zone (Europe/Berlin) of calendar windows and of rollups of this window into days, "
     "weeks or months"},
    {0},
};

static int parse_agg(sl_window *w, const sl_map_entry *me, const sl_node *val, const sl_schema *in,
                     sl_error *err) {
    agg_def *a = &w->aggs[w->naggs];
    const char *s = val->str;
    const char *lp = strchr(s, '(');
    const char *rp = strrchr(s, ')');
    if (!lp || !rp || rp < lp)
        return sl_node_error(err, val, "aggregate must look like func(expr), got '%s'", s);
    for (const char *q = rp + 1; *q; q++)
        if (*q != ' ')
            return sl_node_error(err, val, "aggregate must look like func(expr), got '%s'", s);
    size_t fl = (size_t)(lp - s);
    while (fl && s[fl - 1] == ' ')
        fl--;
    a->kind = -1;
    a->q = -1;
    for (int k = 0; k < AGG_KINDS; k++)
        if (strlen(agg_names[k]) == fl && !strncasecmp(s, agg_names[k], fl)) a->kind = k;
    for (size_t k = 0; k < sizeof quantile_alias / sizeof quantile_alias[0]; k++)
        if (strlen(quantile_alias[k].name) == fl && !strncasecmp(s, quantile_alias[k].name, fl)) {
            a->kind = AGG_QUANTILE;
            a->q = quantile_alias[k].q;
        }
    if (a->kind < 0)
        return sl_node_error(err, val, "unknown aggregate '%.*s' (" AGG_HELP ")", (int)fl, s);
    char inner[1024];
    size_t il = (size_t)(rp - lp - 1);
    if (il >= sizeof inner) return sl_node_error(err, val, "aggregate argument too long");
    memcpy(inner, lp + 1, il);
    inner[il] = 0;
    char *p = inner;
    while (*p == ' ')
        p++;
    if (a->kind == AGG_QUANTILE && a->q < 0) {
        /* quantile(expr, q): q after the last comma outside parentheses and quotes */
        int depth = 0, inq = 0;
        char *comma = NULL;
        for (char *c = p; *c; c++) {
            if (*c == '\'')
                inq = !inq;
            else if (!inq && *c == '(')
                depth++;
            else if (!inq && *c == ')')
                depth--;
            else if (!inq && !depth && *c == ',')
                comma = c;
        }
        char *end = NULL;
        if (comma) a->q = strtod(comma + 1, &end);
        if (!comma || end == comma + 1 || a->q < 0 || a->q > 1)
            return sl_node_error(err, val,
                                 "quantile needs (expr, q) with q between 0 and 1, got '%s'", s);
        while (end && *end == ' ')
            end++;
        if (end && *end)
            return sl_node_error(err, val,
                                 "quantile needs (expr, q) with q between 0 and 1, got '%s'", s);
        *comma = 0;
    }
    char *ord_src = NULL;
    if (a->kind == AGG_MIN_BY || a->kind == AGG_MAX_BY) {
        /* min_by(value, order): split at the last top-level comma */
        int depth = 0, inq = 0;
        char *comma = NULL;
        for (char *c = p; *c; c++) {
            if (*c == '\'')
                inq = !inq;
            else if (!inq && *c == '(')
                depth++;
            else if (!inq && *c == ')')
                depth--;
            else if (!inq && !depth && *c == ',')
                comma = c;
        }
        if (!comma)
            return sl_node_error(err, val, "%s needs (value, order), got '%s'", agg_names[a->kind],
                                 s);
        *comma = 0;
        ord_src = comma + 1;
    }
    if (!strcmp(p, "*") || (!*p && a->kind == AGG_COUNT)) {
        if (a->kind != AGG_COUNT) return sl_node_error(err, val, "only count takes *");
        a->arg = NULL;
        a->out_type = SL_T_INT;
    } else {
        int off = 0;
        sl_error e = {0};
        a->arg = sl_expr_compile(inner, in, &e, &off);
        if (a->arg && ord_src) {
            int off2 = 0;
            a->ord = sl_expr_compile(ord_src, in, &e, &off2);
            if (!a->ord) {
                sl_expr_free(a->arg);
                a->arg = NULL;
                return sl_error_at(err, SL_EINVAL, val->file, val->line,
                                   val->col + (val->quoted ? 1 : 0) + (int)(lp - s) + 1 +
                                       (int)(ord_src - inner) + off2,
                                   "%s", e.msg);
            }
            a->ord_type = sl_expr_type(a->ord);
        }
        if (!a->arg)
            return sl_error_at(err, SL_EINVAL, val->file, val->line,
                               val->col + (val->quoted ? 1 : 0) + (int)(lp - s) + 1 + off, "%s",
                               e.msg);
        a->arg_type = sl_expr_type(a->arg);
        int bad = 0;
        switch (a->kind) {
        case AGG_COUNT:
        case AGG_COUNT_DISTINCT:
        case AGG_APPROX_DISTINCT:
            a->out_type = SL_T_INT;
            break;
        case AGG_STDDEV:
        case AGG_VARIANCE:
        case AGG_QUANTILE:
            if (a->arg_type != SL_T_INT && a->arg_type != SL_T_DOUBLE) {
                bad = 1;
                sl_node_error(err, val, "%s needs a number, got %s", agg_names[a->kind],
                              sl_type_name(a->arg_type));
                break;
            }
            a->out_type = SL_T_DOUBLE;
            break;
        case AGG_FIRST:
        case AGG_LAST:
            if (a->arg_type == SL_T_STRING || a->arg_type == SL_T_NULL) {
                bad = 1;
                sl_node_error(err, val, "%s needs a number, timestamp or bool, got %s",
                              agg_names[a->kind], sl_type_name(a->arg_type));
                break;
            }
            a->out_type = a->arg_type;
            break;
        case AGG_MIN_BY:
        case AGG_MAX_BY:
            if (a->arg_type == SL_T_NULL) {
                bad = 1;
                sl_node_error(err, val, "%s: the value has no type (NULL)", agg_names[a->kind]);
                break;
            }
            if (a->ord_type != SL_T_INT && a->ord_type != SL_T_DOUBLE && a->ord_type != SL_T_TS &&
                a->ord_type != SL_T_BOOL) {
                bad = 1;
                sl_node_error(err, val, "%s: the order must be a number, timestamp or bool, got %s",
                              agg_names[a->kind], sl_type_name(a->ord_type));
                break;
            }
            a->out_type = a->arg_type;
            break;
        case AGG_AVG:
            if (a->arg_type != SL_T_INT && a->arg_type != SL_T_DOUBLE) {
                bad = 1;
                sl_node_error(err, val, "avg needs a number, got %s", sl_type_name(a->arg_type));
                break;
            }
            a->out_type = SL_T_DOUBLE;
            break;
        case AGG_SUM:
            if (a->arg_type != SL_T_INT && a->arg_type != SL_T_DOUBLE) {
                bad = 1;
                sl_node_error(err, val, "sum needs a number, got %s", sl_type_name(a->arg_type));
                break;
            }
            a->out_type = a->arg_type;
            break;
        default:
            if (a->arg_type != SL_T_INT && a->arg_type != SL_T_DOUBLE && a->arg_type != SL_T_TS) {
                bad = 1;
                sl_node_error(err, val, "%s needs a number or timestamp, got %s",
                              agg_names[a->kind], sl_type_name(a->arg_type));
                break;
            }
            a->out_type = a->arg_type;
        }
        if (bad) {
            sl_expr_free(a->arg);
            a->arg = NULL;
            if (a->ord) sl_expr_free(a->ord);
            a->ord = NULL;
            return SL_EINVAL;
        }
    }
    if (sl_schema_add(&w->out, me->key, a->out_type) < 0) {
        if (a->arg) sl_expr_free(a->arg);
        a->arg = NULL;
        if (a->ord) sl_expr_free(a->ord);
        a->ord = NULL;
        return sl_error_at(err, SL_EINVAL, val->file, me->line, me->col,
                           "duplicate output column '%s'", me->key);
    }
    w->naggs++;
    return 0;
}

sl_window *sl_window_create(const sl_node *spec, const sl_schema *in, sl_error *err) {
    return sl_window_create_part(spec, in, NULL, err);
}

/* A size as written: "1d", "1w", "1mo" are calendar units (*unit, *us their nominal
 * length: a day, a week, 31 days); anything else is a duration (UNIT_NONE). A multiple
 * of a calendar unit ("2d", "3mo") is refused: its windows would need an anchor. Returns
 * 0 or SL_EINVAL with msg set (without a location). */
static int size_parse(const char *s, int *unit, int64_t *us, sl_error *err) {
    size_t n = strspn(s, "0123456789");
    const char *u = s + n;
    int un = !strcmp(u, "d")    ? UNIT_DAY
             : !strcmp(u, "w")  ? UNIT_WEEK
             : !strcmp(u, "mo") ? UNIT_MONTH
                                : 0;
    if (n && un) {
        if (n != 1 || s[0] != '1')
            return sl_error_set(err, SL_EINVAL,
                                "size '%s': calendar windows are 1d, 1w or 1mo (for a fixed length "
                                "write hours, e.g. 48h)",
                                s);
        static const int64_t nominal[] = {0, DAY_US, 7 * DAY_US, 31 * DAY_US};
        *unit = un;
        *us = nominal[un];
        return 0;
    }
    *unit = UNIT_NONE;
    if (sl_duration_parse(s, us) || *us <= 0)
        return sl_error_set(
            err, SL_EINVAL,
            "size '%s': expected a duration (5m, 1h) or a calendar unit 1d, 1w, 1mo", s);
    return 0;
}

/* Sets w's calendar unit and time zone; a 1d window in a zone that is UTC at every instant is
 * the fixed 86400 s window and keeps the fixed path. */
static void set_unit(sl_window *w, int unit) {
    w->unit = unit;
    w->cal =
        unit != UNIT_NONE && !(unit == UNIT_DAY && sl_tz_steps_align(w->tz, DAY_US, INT64_MIN) &&
                               sl_tz_offset_us(w->tz, 0) == 0);
    w->cal_lo = w->cal_hi = 0; /* empty: the first row looks its window up */
}

sl_window *sl_window_create_part(const sl_node *spec, const sl_schema *in, const char *part_column,
                                 sl_error *err) {
    if (sl_spec_check(spec, sl_window_opts, "window", err)) return NULL;
    sl_window *w = sl_xcalloc(1, sizeof *w);
    w->part_key = -1;
    const sl_node *tn = sl_node_get(spec, "time");
    const char *tname = tn ? tn->str : "event_ts";
    w->time_col = sl_schema_find(in, tname);
    if (w->time_col < 0 || in->f[w->time_col].type != SL_T_TS) {
        sl_node_error(err, tn ? tn : spec, "window needs a timestamp column '%s'", tname);
        goto fail;
    }
    const sl_node *zn = sl_node_get(spec, "timezone");
    sl_error ze = {0};
    w->tz = sl_tz_load(zn ? zn->str : "UTC", &ze);
    if (!w->tz) {
        sl_node_error(err, zn, "%s", ze.msg);
        goto fail;
    }
    const sl_node *szn = sl_node_get(spec, "size");
    int unit;
    if (size_parse(szn->str, &unit, &w->size, &ze)) {
        sl_node_error(err, szn, "%s", ze.msg);
        goto fail;
    }
    set_unit(w, unit);
    w->slide = w->size;
    const sl_node *sn = sl_node_get(spec, "slide");
    if (sn && unit != UNIT_NONE) {
        sl_node_error(err, sn,
                      "calendar windows (size %s) are tumbling: no slide (for hopping windows "
                      "write the size in hours, e.g. 24h)",
                      szn->str);
        goto fail;
    }
    if (sn && sl_node_duration(sn, "slide", &w->slide, err)) goto fail;
    if (w->size <= 0 || w->slide <= 0 || w->size % w->slide != 0) {
        sl_node_error(err, sn ? sn : spec, "window size must be a positive multiple of slide");
        goto fail;
    }
    w->alpha = SL_WINDOW_QUANTILE_ALPHA;
    const sl_node *acc = sl_node_get(spec, "accuracy");
    if (acc) {
        if (sl_node_double(acc, "accuracy", &w->alpha, err)) goto fail;
        if (!(w->alpha >= SL_WINDOW_MIN_ACCURACY && w->alpha <= SL_WINDOW_MAX_ACCURACY)) {
            sl_node_error(err, acc,
                          "window accuracy must be in %g..%g (relative error of quantiles), got %s",
                          SL_WINDOW_MIN_ACCURACY, SL_WINDOW_MAX_ACCURACY, acc->str);
            goto fail;
        }
    }
    w->final_wm = INT64_MIN;
    w->late = LATE_QUARANTINE;
    const sl_node *ln = sl_node_get(spec, "late");
    if (ln && !strcmp(ln->str, "drop")) w->late = LATE_DROP;
    if (ln && !strcmp(ln->str, "update")) w->late = LATE_UPDATE;
    w->lateness = w->size;
    const sl_node *aln = sl_node_get(spec, "allowed_lateness");
    w->own_lateness = w->cal && !aln;
    if (aln) {
        if (w->late != LATE_UPDATE) {
            sl_node_error(err, aln,
                          "allowed_lateness needs late: update (final groups are kept only then)");
            goto fail;
        }
        if (sl_node_duration(aln, "allowed_lateness", &w->lateness, err)) goto fail;
        if (w->lateness < 0) {
            sl_node_error(err, aln, "allowed_lateness must not be negative");
            goto fail;
        }
    }
    /* keep the span of SL_DDSKETCH_MAX_BUCKETS buckets at 1% (a factor of 6e17) at any accuracy */
    w->dd_buckets =
        w->alpha >= SL_WINDOW_QUANTILE_ALPHA
            ? SL_DDSKETCH_MAX_BUCKETS
            : (uint32_t)ceil(SL_DDSKETCH_MAX_BUCKETS * SL_WINDOW_QUANTILE_ALPHA / w->alpha);
    sl_schema_init(&w->out);
    sl_schema_add(&w->out, "window_start", SL_T_TS);
    const sl_node *kn = sl_node_get(spec, "keys");
    if (kn) {
        int n = kn->kind == SL_NODE_SEQ ? kn->n : 1;
        if (n > MAX_KEYS) {
            sl_node_error(err, kn, "at most %d keys", MAX_KEYS);
            goto fail;
        }
        for (int i = 0; i < n; i++) {
            const sl_node *k = kn->kind == SL_NODE_SEQ ? kn->seq[i] : kn;
            int c = k->kind == SL_NODE_SCALAR ? sl_schema_find(in, k->str) : -1;
            if (c < 0) {
                sl_node_error(err, k, "unknown column '%s'", k->str ? k->str : "");
                goto fail;
            }
            w->key_col[w->nkeys] = c;
            w->key_type[w->nkeys++] = in->f[c].type;
            sl_schema_add(&w->out, k->str, in->f[c].type);
        }
    }
    int pc = part_column ? sl_schema_find(in, part_column) : -1;
    if (pc >= 0) {
        if (w->nkeys == MAX_KEYS) {
            sl_node_error(err, kn, "at most %d keys with partitioned state", MAX_KEYS - 1);
            goto fail;
        }
        w->part_key = w->nkeys;
        w->key_col[w->nkeys] = pc;
        w->key_type[w->nkeys++] = in->f[pc].type;
        sl_schema_add(&w->out, part_column, in->f[pc].type);
    }
    const sl_node *an = sl_node_get(spec, "aggregates");
    if (an->n == 0 || an->n > MAX_AGGS) {
        sl_node_error(err, an, "aggregates: 1 to %d entries", MAX_AGGS);
        goto fail;
    }
    for (int i = 0; i < an->n; i++) {
        const sl_node *v = an->map[i].val;
        if (v->kind != SL_NODE_SCALAR) {
            sl_node_error(err, v, "aggregate must be a string like count(*)");
            goto fail;
        }
        if (parse_agg(w, &an->map[i], v, in, err)) goto fail;
    }
    if (sl_schema_add(&w->out, "is_final", SL_T_BOOL) < 0 ||
        (w->late == LATE_UPDATE && sl_schema_add(&w->out, "_version", SL_T_INT) < 0) ||
        sl_schema_add(&w->out, "_group", SL_T_INT) < 0) {
        sl_node_error(err, spec,
                      "output columns is_final/_version/_group clash with a key or aggregate name");
        goto fail;
    }
    w->index = sl_hmap_new(256);
    return w;
fail:
    sl_window_free(w);
    return NULL;
}

const sl_schema *sl_window_schema(const sl_window *w) { return &w->out; }
size_t sl_window_groups(const sl_window *w) { return w->alive; }

static void group_init(sl_window *w, group *g) {
    memset(g, 0, sizeof *g);
    g->aggs = sl_xcalloc((size_t)w->naggs, sizeof(agg_state));
    for (int a = 0; a < w->naggs; a++) {
        g->aggs[a].dmin = INFINITY;
        g->aggs[a].dmax = -INFINITY;
        g->aggs[a].imin = INT64_MAX;
        g->aggs[a].imax = INT64_MIN;
        if (w->aggs[a].kind == AGG_COUNT_DISTINCT) g->aggs[a].distinct = sl_hset_new(0);
        if (w->aggs[a].kind == AGG_QUANTILE)
            g->aggs[a].dd = sl_ddsketch_new_ex(w->alpha, w->dd_buckets);
        if (w->aggs[a].kind == AGG_APPROX_DISTINCT) g->aggs[a].hll = sl_hll_new(SL_HLL_DEFAULT_P);
        sl_welford_init(&g->aggs[a].wf);
        g->aggs[a].t_first = INT64_MAX;
        g->aggs[a].t_last = INT64_MIN;
    }
    g->alive = true;
    g->bpos = g->dpos = g->cpos = NOPOS;
}

/* ---- calendar windows --------------------------------------------------------- */

/* The local boundary (a local midnight, as µs) of the calendar unit at or before local time lt:
 * the day, the ISO week's Monday, the month's 1st. */
static int64_t cal_floor_local(int unit, int64_t lt) {
    int64_t days = sl_floor_div(lt, DAY_US);
    if (unit == UNIT_WEEK) days -= ((days + 3) % 7 + 7) % 7; /* 1970-01-01 was a Thursday */
    if (unit == UNIT_MONTH) {
        int64_t y;
        unsigned m, d;
        sl_civil_from_days(days, &y, &m, &d);
        days = sl_days_from_civil(y, m, 1);
    }
    return days * DAY_US;
}

/* The local boundary after boundary lb. */
static int64_t cal_next_local(int unit, int64_t lb) {
    if (unit == UNIT_DAY) return lb + DAY_US;
    if (unit == UNIT_WEEK) return lb + 7 * DAY_US;
    int64_t y;
    unsigned m, d;
    sl_civil_from_days(sl_floor_div(lb, DAY_US), &y, &m, &d);
    return (m == 12 ? sl_days_from_civil(y + 1, 1, 1) : sl_days_from_civil(y, m + 1, 1)) * DAY_US;
}

/* Sets w->cal_lo, cal_hi to the calendar window holding instant t: from the earliest instant of
 * its first local day to that of the next window's (time zone gaps move a boundary to the end
 * of the gap). Where clocks go back across a boundary an instant's local date can be the earlier
 * one again; it belongs to the window that had begun, so windows never overlap. */
static void cal_locate(sl_window *w, int64_t t) {
    int64_t lb = cal_floor_local(w->unit, t + sl_tz_offset_us(w->tz, t));
    int64_t lo = sl_tz_local_to_utc(w->tz, lb);
    while (t < lo) { /* defensive: not reachable with real zones (see tz.h) */
        lb = cal_floor_local(w->unit, lb - 1);
        lo = sl_tz_local_to_utc(w->tz, lb);
    }
    int64_t nb = cal_next_local(w->unit, lb), hi = sl_tz_local_to_utc(w->tz, nb);
    while (t >= hi) {
        lo = hi;
        nb = cal_next_local(w->unit, nb);
        hi = sl_tz_local_to_utc(w->tz, nb);
    }
    assert(lo <= t && t < hi);
    w->cal_lo = lo;
    w->cal_hi = hi;
}

/* The end of the window starting at ws. */
static int64_t win_end(sl_window *w, int64_t ws) {
    if (!w->cal) return ws + w->size;
    if (ws < w->cal_lo || ws >= w->cal_hi) cal_locate(w, ws);
    return w->cal_hi;
}

int64_t sl_window_end(sl_window *w, int64_t start) { return win_end(w, start); }

/* ---- the index by window start, the dirty and changed lists ---------------- */

/* Doubles a vector's capacity (at least 16 elements); out of memory aborts, as the core's maps do.
 */
static void *grow(void *p, size_t *cap, size_t elem) {
    size_t c = *cap ? *cap * 2 : 16;
    void *q = sl_xrealloc(p, c * elem);
    if (!q) abort();
    *cap = c;
    return q;
}
#define PUSH(vec, n, cap, x)                                                                       \
    do {                                                                                           \
        if ((n) == (cap)) (vec) = grow((vec), &(cap), sizeof *(vec));                              \
        (vec)[(n)++] = (x);                                                                        \
    } while (0)

/* Index of the first bucket with wstart >= ws. */
static size_t bucket_lower(const sl_window *w, int64_t ws) {
    size_t lo = 0, hi = w->nbk;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (w->bk[mid]->wstart < ws)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* The bucket of window start ws, made when there is none. */
static wbucket *bucket_get(sl_window *w, int64_t ws) {
    if (w->last_bk && w->last_bk->wstart == ws) return w->last_bk;
    size_t i = bucket_lower(w, ws);
    if (i < w->nbk && w->bk[i]->wstart == ws) return w->last_bk = w->bk[i];
    wbucket *b = sl_xcalloc(1, sizeof *b);
    if (!b) abort();
    b->wstart = ws;
    b->wend = win_end(w, ws);
    if (w->nbk == w->bkcap) w->bk = grow(w->bk, &w->bkcap, sizeof *w->bk);
    memmove(&w->bk[i + 1], &w->bk[i], (w->nbk - i) * sizeof *w->bk);
    w->bk[i] = b;
    w->nbk++;
    return w->last_bk = b;
}

/* Frees bucket i, which must be empty. */
static void bucket_remove(sl_window *w, size_t i) {
    wbucket *b = w->bk[i];
    assert(b->n == 0 && b->ndirty == 0);
    if (w->last_bk == b) w->last_bk = NULL;
    if (w->order_bk == b) w->order_bk = NULL, w->order_n = w->order_pos = 0;
    free(b->gi);
    free(b->dirty);
    free(b);
    memmove(&w->bk[i], &w->bk[i + 1], (w->nbk - i - 1) * sizeof *w->bk);
    w->nbk--;
}

/* Puts group gi (wstart set) into the bucket of its window start. */
static void group_link(sl_window *w, size_t gi) {
    group *g = &w->g[gi];
    assert(!g->bk && !g->dirty);
    wbucket *b = bucket_get(w, g->wstart);
    g->bk = b;
    g->bpos = b->n;
    PUSH(b->gi, b->n, b->cap, gi);
}

static void mark_dirty(sl_window *w, size_t gi) {
    group *g = &w->g[gi];
    if (g->dirty) return;
    assert(g->bk);
    g->dirty = true;
    g->dpos = g->bk->ndirty;
    PUSH(g->bk->dirty, g->bk->ndirty, g->bk->dcap, gi);
}

static void clear_dirty(sl_window *w, size_t gi) {
    group *g = &w->g[gi];
    if (!g->dirty) return;
    wbucket *b = g->bk;
    assert(b && g->dpos < b->ndirty && b->dirty[g->dpos] == gi);
    size_t last = b->dirty[--b->ndirty];
    b->dirty[g->dpos] = last;
    w->g[last].dpos = g->dpos;
    g->dirty = false;
    g->dpos = NOPOS;
}

static void mark_changed(sl_window *w, size_t gi) {
    group *g = &w->g[gi];
    if (g->cpos != NOPOS) return;
    g->cpos = w->nchanged;
    PUSH(w->changed, w->nchanged, w->chcap, gi);
}

/* Rows were added (or merged) into group gi. */
static void touch(sl_window *w, size_t gi) {
    mark_dirty(w, gi);
    mark_changed(w, gi);
}

/* Forgets the changes since the last snapshot: the snapshot (or restore) covered them. */
static void tracking_reset(sl_window *w) {
    for (size_t j = 0; j < w->nchanged; j++) {
        group *g = &w->g[w->changed[j]];
        g->cpos = NOPOS;
        g->snapped = true;
    }
    w->nchanged = 0;
    w->nreleased = 0;
}

static void group_release(sl_window *w, size_t gi) {
    group *g = &w->g[gi];
    if (g->bk) {
        clear_dirty(w, gi);
        wbucket *b = g->bk;
        assert(g->bpos < b->n && b->gi[g->bpos] == gi);
        size_t last = b->gi[--b->n];
        b->gi[g->bpos] = last;
        w->g[last].bpos = g->bpos;
    }
    if (g->cpos != NOPOS) {
        size_t last = w->changed[--w->nchanged];
        w->changed[g->cpos] = last;
        w->g[last].cpos = g->cpos;
    }
    if (g->snapped) PUSH(w->released, w->nreleased, w->relcap, g->gkey);
    for (int k = 0; k < w->nkeys; k++)
        free(g->ks[k]);
    for (int a = 0; a < w->naggs; a++) {
        if (g->aggs[a].distinct) sl_hset_free(g->aggs[a].distinct);
        if (g->aggs[a].dd) sl_ddsketch_free(g->aggs[a].dd);
        if (g->aggs[a].hll) sl_hll_free(g->aggs[a].hll);
        free(g->aggs[a].by_vs);
    }
    free(g->aggs);
    int64_t *slot = sl_hmap_get(w->index, g->gkey);
    if (slot && *slot == (int64_t)gi) sl_hmap_del(w->index, g->gkey);
    memset(g, 0, sizeof *g);
    w->free_list[w->nfree++] = gi;
    w->alive--;
}

static size_t group_alloc(sl_window *w) {
    if (w->nfree) return w->free_list[--w->nfree];
    if (w->ng == w->gcap) {
        w->gcap = w->gcap ? w->gcap * 2 : 64;
        w->g = sl_xrealloc(w->g, w->gcap * sizeof *w->g);
        w->free_list = sl_xrealloc(w->free_list, w->gcap * sizeof *w->free_list);
        if (!w->g || !w->free_list) abort();
    }
    return w->ng++;
}

/* Per-row work (key_of, find_or_add, agg_add), called from the fixed and the calendar row loops:
 * always inlined, so the fixed loop compiles as it did when it was the only caller (a second
 * caller made gcc call them). */
#define SL_HOT static inline __attribute__((always_inline))

SL_HOT uint64_t key_of(const sl_window *w, const sl_batch *b, uint32_t i, int64_t ws) {
    uint64_t h = sl_hash_int(ws, 0x3a11);
    for (int k = 0; k < w->nkeys; k++) {
        const sl_column *c = &b->col[w->key_col[k]];
        if (c->null[i])
            h = sl_hash_int(0x5eed5eed, h ^ 0x9e3779b97f4a7c15ULL);
        else if (c->type == SL_T_STRING)
            h = sl_hash_bytes(c->v.s[i].ptr, c->v.s[i].len, h + 1);
        else if (c->type == SL_T_DOUBLE)
            h = sl_hash_bytes(&c->v.d[i], 8, h + 2);
        else if (c->type == SL_T_BOOL)
            h = sl_hash_int(c->v.b[i], h + 3);
        else
            h = sl_hash_int(c->v.i[i], h + 4);
    }
    return h;
}

/* The cache slot of row i's group: a multiplicative hash of the window start
 * and the key values (a string's length and first and last bytes), cheap
 * next to key_of's XXH3 calls; only a hint, so collisions are harmless. */
SL_HOT size_t gcache_slot(const sl_window *w, const sl_batch *b, uint32_t i, int64_t ws) {
    uint64_t h = (uint64_t)ws * 0x9E3779B97F4A7C15ull;
    for (int k = 0; k < w->nkeys; k++) {
        const sl_column *c = &b->col[w->key_col[k]];
        uint64_t v;
        if (c->null[i]) {
            v = 0x5eed5eed;
        } else if (c->type == SL_T_STRING) {
            const sl_str *sv = &c->v.s[i];
            v = sv->len;
            if (sv->len)
                v ^= (uint64_t)(uint8_t)sv->ptr[0] << 8 ^
                     (uint64_t)(uint8_t)sv->ptr[sv->len - 1] << 16 ^
                     (uint64_t)(uint8_t)sv->ptr[sv->len / 2] << 24;
        } else if (c->type == SL_T_DOUBLE) {
            memcpy(&v, &c->v.d[i], 8);
        } else if (c->type == SL_T_BOOL) {
            v = c->v.b[i];
        } else {
            v = (uint64_t)c->v.i[i];
        }
        h = (h ^ v) * 0xBF58476D1CE4E5B9ull;
    }
    return (size_t)(h >> (64 - GCACHE_BITS));
}

/* Whether group g is row i's group in window ws: the same keys as key_of
 * hashes them (doubles bit for bit). */
SL_HOT bool group_has_row(const sl_window *w, const group *g, const sl_batch *b, uint32_t i,
                          int64_t ws) {
    if (!g->alive || g->wstart != ws) return false;
    for (int k = 0; k < w->nkeys; k++) {
        const sl_column *c = &b->col[w->key_col[k]];
        if (g->knull[k] != (c->null[i] != 0)) return false;
        if (c->null[i]) continue;
        if (c->type == SL_T_STRING) {
            const sl_str *sv = &c->v.s[i];
            if (g->kslen[k] != sv->len || memcmp(g->ks[k], sv->ptr, sv->len)) return false;
        } else if (c->type == SL_T_DOUBLE) {
            if (memcmp(&g->kd[k], &c->v.d[i], 8)) return false;
        } else if (c->type == SL_T_BOOL) {
            if (g->ki[k] != c->v.b[i]) return false;
        } else if (g->ki[k] != c->v.i[i]) {
            return false;
        }
    }
    return true;
}

SL_HOT size_t find_or_add(sl_window *w, const sl_batch *b, uint32_t i, int64_t ws) {
    size_t cs = gcache_slot(w, b, i, ws), cg = w->gcache[cs];
    if (cg && cg - 1 < w->ng && group_has_row(w, &w->g[cg - 1], b, i, ws)) return cg - 1;
    uint64_t gk = key_of(w, b, i, ws);
    int64_t *slot = sl_hmap_get(w->index, gk);
    if (slot) {
        w->gcache[cs] = (size_t)*slot + 1;
        return (size_t)*slot;
    }
    size_t gi = group_alloc(w);
    group *g = &w->g[gi];
    group_init(w, g);
    g->gkey = gk;
    g->wstart = ws;
    for (int k = 0; k < w->nkeys; k++) {
        const sl_column *c = &b->col[w->key_col[k]];
        g->knull[k] = c->null[i];
        if (c->null[i]) continue;
        if (c->type == SL_T_STRING) {
            g->ks[k] = sl_xmalloc(c->v.s[i].len + 1);
            memcpy(g->ks[k], c->v.s[i].ptr, c->v.s[i].len);
            g->ks[k][c->v.s[i].len] = 0;
            g->kslen[k] = c->v.s[i].len;
        } else if (c->type == SL_T_DOUBLE)
            g->kd[k] = c->v.d[i];
        else if (c->type == SL_T_BOOL)
            g->ki[k] = c->v.b[i];
        else
            g->ki[k] = c->v.i[i];
    }
    sl_hmap_put(w->index, gk, (int64_t)gi, NULL);
    w->alive++;
    group_link(w, gi);
    w->gcache[cs] = gi + 1;
    return gi;
}

/* ---- min_by / max_by ------------------------------------------------------ */

/* A candidate row for min_by/max_by: its order value, event time and value. */
typedef struct {
    int64_t t, oi, vi;
    double od, vd;
    bool vnull;
    const char *vs;
    uint32_t vslen;
} by_cand;

/* The IEEE 754 total order as an unsigned key: -inf < ... < -0 < +0 < ... < +inf < NaN. */
static uint64_t dkey(double d) {
    uint64_t u;
    memcpy(&u, &d, 8);
    return u >> 63 ? ~u : u | (1ULL << 63);
}

/* 1 when candidate k beats the row kept in s (s->has_by) under the tie rule:
 * better order value, then earlier event time, then smaller value. */
static int by_better(const agg_def *a, const by_cand *k, const agg_state *s) {
    int c;
    if (a->ord_type == SL_T_DOUBLE)
        c = k->od < s->by_od ? -1 : k->od > s->by_od;
    else
        c = k->oi < s->by_oi ? -1 : k->oi > s->by_oi;
    if (a->kind == AGG_MAX_BY) c = -c;
    if (c) return c < 0;
    if (k->t != s->by_t) return k->t < s->by_t;
    if (k->vnull || s->by_vnull) return k->vnull && !s->by_vnull;
    switch (a->out_type) {
    case SL_T_STRING: {
        uint32_t m = k->vslen < s->by_vslen ? k->vslen : s->by_vslen;
        int r = m ? memcmp(k->vs, s->by_vs, m) : 0;
        return r ? r < 0 : k->vslen < s->by_vslen;
    }
    case SL_T_DOUBLE:
        return dkey(k->vd) < dkey(s->by_vd);
    default:
        return k->vi < s->by_vi;
    }
}

static void by_take(agg_state *s, const by_cand *k) {
    s->has_by = true;
    s->by_t = k->t;
    s->by_oi = k->oi;
    s->by_od = k->od;
    s->by_vi = k->vi;
    s->by_vd = k->vd;
    s->by_vnull = k->vnull;
    s->by_vslen = 0;
    if (k->vs && !k->vnull) {
        if (k->vslen + 1 > s->by_vscap) {
            uint32_t cap = k->vslen + 1 < 32 ? 32 : k->vslen + 1;
            char *p = sl_xrealloc(s->by_vs, cap);
            if (!p) return; /* keeps the old buffer; the value reads as "" */
            s->by_vs = p;
            s->by_vscap = cap;
        }
        memcpy(s->by_vs, k->vs, k->vslen);
        s->by_vs[k->vslen] = 0;
        s->by_vslen = k->vslen;
    }
}

static void by_of_state(const agg_state *s, by_cand *k) {
    k->t = s->by_t;
    k->oi = s->by_oi;
    k->od = s->by_od;
    k->vi = s->by_vi;
    k->vd = s->by_vd;
    k->vnull = s->by_vnull;
    k->vs = s->by_vs;
    k->vslen = s->by_vslen;
}

static void by_add(const agg_def *a, agg_state *s, uint32_t i, int64_t t) {
    const sl_column *oc = &a->tmp2, *c = &a->tmp;
    if (oc->null[i]) return;
    by_cand k = {.t = t};
    if (a->ord_type == SL_T_DOUBLE) {
        k.od = oc->v.d[i];
        if (isnan(k.od)) return;
    } else if (a->ord_type == SL_T_BOOL) {
        k.oi = oc->v.b[i];
    } else {
        k.oi = oc->v.i[i];
    }
    k.vnull = c->null[i];
    if (!k.vnull) {
        if (c->type == SL_T_STRING)
            k.vs = c->v.s[i].ptr, k.vslen = c->v.s[i].len;
        else if (c->type == SL_T_DOUBLE)
            k.vd = c->v.d[i];
        else if (c->type == SL_T_BOOL)
            k.vi = c->v.b[i];
        else
            k.vi = c->v.i[i];
    }
    s->n++;
    if (!s->has_by || by_better(a, &k, s)) by_take(s, &k);
}

/* Distinct counts over doubles: -0.0 and 0.0 are one value (they compare equal). */
static uint64_t hash_double(double d) {
    if (d == 0) d = 0.0;
    return sl_hash_bytes(&d, 8, 7);
}

SL_HOT void agg_add(const agg_def *a, agg_state *s, uint32_t i, int64_t t) {
    if (!a->arg) {
        s->n++;
        return;
    }
    if (a->ord) {
        by_add(a, s, i, t);
        return;
    }
    const sl_column *c = &a->tmp;
    if (c->null[i]) return;
    s->n++;
    switch (a->kind) {
    case AGG_COUNT:
        break;
    case AGG_STDDEV:
    case AGG_VARIANCE:
        sl_welford_add(&s->wf, c->type == SL_T_DOUBLE ? c->v.d[i] : (double)c->v.i[i]);
        break;
    case AGG_QUANTILE:
        sl_ddsketch_add(s->dd, c->type == SL_T_DOUBLE ? c->v.d[i] : (double)c->v.i[i]);
        break;
    case AGG_APPROX_DISTINCT: {
        uint64_t h;
        if (c->type == SL_T_STRING)
            h = sl_hash_bytes(c->v.s[i].ptr, c->v.s[i].len, 7);
        else if (c->type == SL_T_DOUBLE)
            h = hash_double(c->v.d[i]);
        else if (c->type == SL_T_BOOL)
            h = sl_hash_int(c->v.b[i], 7);
        else
            h = sl_hash_int(c->v.i[i], 7);
        sl_hll_add_hash(s->hll, h);
        break;
    }
    case AGG_FIRST:
    case AGG_LAST: {
        /* by event time; ties keep the earlier row for first, the later for last */
        int64_t iv = c->type == SL_T_BOOL ? c->v.b[i] : c->type == SL_T_DOUBLE ? 0 : c->v.i[i];
        double dv = c->type == SL_T_DOUBLE ? c->v.d[i] : 0;
        if (a->kind == AGG_FIRST && t < s->t_first) s->t_first = t, s->fi = iv, s->fd = dv;
        if (a->kind == AGG_LAST && t >= s->t_last) s->t_last = t, s->li = iv, s->ld = dv;
        break;
    }
    case AGG_COUNT_DISTINCT: {
        uint64_t h;
        if (c->type == SL_T_STRING)
            h = sl_hash_bytes(c->v.s[i].ptr, c->v.s[i].len, 7);
        else if (c->type == SL_T_DOUBLE)
            h = hash_double(c->v.d[i]);
        else if (c->type == SL_T_BOOL)
            h = sl_hash_int(c->v.b[i], 7);
        else if (distinct_by_value(c->type) && !s->dhashed)
            h = (uint64_t)c->v.i[i];
        else
            h = sl_hash_int(c->v.i[i], 7);
        sl_hset_add(s->distinct, h);
        break;
    }
    default:
        if (c->type == SL_T_DOUBLE) {
            double v = c->v.d[i];
            s->sum += v;
            if (v < s->dmin) s->dmin = v;
            if (v > s->dmax) s->dmax = v;
        } else {
            int64_t v = c->v.i[i];
            s->isum += v;
            s->sum += (double)v;
            if (v < s->imin) s->imin = v;
            if (v > s->imax) s->imax = v;
        }
    }
}

/* Row i's earliest window [ws, we) (hopping: the first of its size/slide
 * windows to end) ended at or before the final watermark: the row is late
 * (see window.h). Counts it; returns true when it is not added. */
static bool late_refused(sl_window *w, const sl_batch *b, uint32_t i, int64_t ws, int64_t we,
                         sl_op_ctx *ctx) {
    assert(we <= w->final_wm);
    int64_t lateness = w->own_lateness ? we - ws : w->lateness;
    bool gone = w->late != LATE_UPDATE || we + lateness <= w->final_wm;
    if (ctx) ctx->late++;
    if (!gone) return false; /* late: update, the final group is still held */
    if (w->late == LATE_DROP) {
        if (ctx) ctx->dropped++;
        return true;
    }
    if (!ctx) return true;
    char wsb[40], wmb[40], reason[200];
    sl_time_format_iso_ms(ws, wsb, sizeof wsb);
    sl_time_format_iso_ms(w->final_wm, wmb, sizeof wmb);
    if (w->late == LATE_UPDATE)
        snprintf(reason, sizeof reason,
                 "late: window %s already final at watermark %s and past allowed_lateness %llds",
                 wsb, wmb, (long long)(lateness / 1000000));
    else
        snprintf(reason, sizeof reason, "late: window %s already final at watermark %s", wsb, wmb);
    ctx->quarantined++;
    if (ctx->quarantine) ctx->quarantine(ctx->engine, b, i, reason);
    return true;
}

/* The rows of b into calendar windows (tumbling): one window per row, the one cal_locate
 * found last unless the row is outside it, so a run of rows of one day costs no zone lookup. */
static int process_cal(sl_window *w, const sl_batch *b, const sl_column *tc, sl_op_ctx *ctx) {
    for (uint32_t i = 0; i < b->n; i++) {
        if (tc->null[i]) continue;
        int64_t t = tc->v.i[i];
        if (t < w->cal_lo || t >= w->cal_hi) cal_locate(w, t);
        int64_t ws = w->cal_lo, we = w->cal_hi;
        if (w->final_wm != INT64_MIN && we <= w->final_wm && late_refused(w, b, i, ws, we, ctx))
            continue;
        size_t gi = find_or_add(w, b, i, ws);
        touch(w, gi);
        group *g = &w->g[gi];
        for (int a = 0; a < w->naggs; a++)
            agg_add(&w->aggs[a], &g->aggs[a], i, t);
    }
    return 0;
}

int sl_window_process(sl_window *w, const sl_batch *b, sl_op_ctx *ctx) {
    if (!b->n) return 0;
    for (int a = 0; a < w->naggs; a++) {
        agg_def *ad = &w->aggs[a];
        if (!ad->arg) continue;
        if (ad->tmp_cap < b->cap) {
            free(ad->tmp.null);
            free(ad->tmp.v.p);
            ad->tmp.type = ad->arg_type;
            ad->tmp.null = sl_xmalloc(b->cap);
            ad->tmp.v.p = sl_xmalloc((size_t)b->cap * 16);
            if (ad->ord) {
                free(ad->tmp2.null);
                free(ad->tmp2.v.p);
                ad->tmp2.type = ad->ord_type;
                ad->tmp2.null = sl_xmalloc(b->cap);
                ad->tmp2.v.p = sl_xmalloc((size_t)b->cap * 16);
            }
            ad->tmp_cap = b->cap;
        }
        sl_expr_eval(ad->arg, (sl_batch *)b, &ad->tmp);
        if (ad->ord) sl_expr_eval(ad->ord, (sl_batch *)b, &ad->tmp2);
    }
    const sl_column *tc = &b->col[w->time_col];
    if (w->cal) return process_cal(w, b, tc, ctx);
    for (uint32_t i = 0; i < b->n; i++) {
        if (tc->null[i]) continue;
        int64_t t = tc->v.i[i];
        /* every window [s, s+size) with s = k*slide and s <= t < s+size */
        int64_t last = sl_floor_div(t, w->slide) * w->slide;
        if (w->final_wm != INT64_MIN && last + w->slide <= w->final_wm &&
            late_refused(w, b, i, last + w->slide - w->size, last + w->slide, ctx))
            continue;
        for (int64_t ws = last; ws > t - w->size; ws -= w->slide) {
            size_t gi = find_or_add(w, b, i, ws);
            touch(w, gi);
            group *g = &w->g[gi];
            for (int a = 0; a < w->naggs; a++)
                agg_add(&w->aggs[a], &g->aggs[a], i, t);
        }
    }
    return 0;
}

static void emit_group(const sl_window *w, const group *g, sl_batch *out, bool final) {
    uint32_t r = sl_batch_append_null_row(out);
    int c = 0;
    sl_col_set_int(&out->col[c++], r, g->wstart);
    for (int k = 0; k < w->nkeys; k++, c++) {
        sl_column *col = &out->col[c];
        if (g->knull[k]) continue;
        /* copy: a final group is released before the engine writes the batch */
        if (w->key_type[k] == SL_T_STRING)
            sl_col_set_str(col, r, sl_arena_strdup(out->arena, g->ks[k], g->kslen[k]), g->kslen[k]);
        else if (w->key_type[k] == SL_T_DOUBLE)
            sl_col_set_double(col, r, g->kd[k]);
        else if (w->key_type[k] == SL_T_BOOL)
            sl_col_set_bool(col, r, g->ki[k] != 0);
        else
            sl_col_set_int(col, r, g->ki[k]);
    }
    for (int a = 0; a < w->naggs; a++, c++) {
        const agg_def *ad = &w->aggs[a];
        const agg_state *s = &g->aggs[a];
        sl_column *col = &out->col[c];
        switch (ad->kind) {
        case AGG_COUNT:
            sl_col_set_int(col, r, s->n);
            break;
        case AGG_COUNT_DISTINCT:
            sl_col_set_int(col, r, (int64_t)sl_hset_count(s->distinct));
            break;
        case AGG_AVG:
            if (s->n) sl_col_set_double(col, r, s->sum / (double)s->n);
            break;
        case AGG_SUM:
            if (!s->n) break;
            if (ad->out_type == SL_T_DOUBLE)
                sl_col_set_double(col, r, s->sum);
            else
                sl_col_set_int(col, r, s->isum);
            break;
        case AGG_MIN:
        case AGG_MAX:
            if (!s->n) break;
            if (ad->out_type == SL_T_DOUBLE)
                sl_col_set_double(col, r, ad->kind == AGG_MIN ? s->dmin : s->dmax);
            else
                sl_col_set_int(col, r, ad->kind == AGG_MIN ? s->imin : s->imax);
            break;
        case AGG_STDDEV:
        case AGG_VARIANCE: {
            double v =
                ad->kind == AGG_STDDEV ? sl_welford_stddev(&s->wf) : sl_welford_variance(&s->wf);
            if (!isnan(v)) sl_col_set_double(col, r, v);
            break;
        }
        case AGG_QUANTILE: {
            double v = sl_ddsketch_quantile(s->dd, ad->q);
            if (!isnan(v)) sl_col_set_double(col, r, v);
            break;
        }
        case AGG_APPROX_DISTINCT:
            sl_col_set_int(col, r, (int64_t)sl_hll_estimate(s->hll));
            break;
        case AGG_FIRST:
        case AGG_LAST: {
            bool first = ad->kind == AGG_FIRST;
            if (!s->n) break;
            if (ad->out_type == SL_T_DOUBLE)
                sl_col_set_double(col, r, first ? s->fd : s->ld);
            else if (ad->out_type == SL_T_BOOL)
                sl_col_set_bool(col, r, (first ? s->fi : s->li) != 0);
            else
                sl_col_set_int(col, r, first ? s->fi : s->li);
            break;
        }
        case AGG_MIN_BY:
        case AGG_MAX_BY:
            if (!s->has_by || s->by_vnull) break;
            if (ad->out_type == SL_T_STRING)
                sl_col_set_str(col, r,
                               sl_arena_strdup(out->arena, s->by_vs ? s->by_vs : "", s->by_vslen),
                               s->by_vslen);
            else if (ad->out_type == SL_T_DOUBLE)
                sl_col_set_double(col, r, s->by_vd);
            else if (ad->out_type == SL_T_BOOL)
                sl_col_set_bool(col, r, s->by_vi != 0);
            else
                sl_col_set_int(col, r, s->by_vi);
            break;
        }
    }
    sl_col_set_bool(&out->col[c++], r, final);
    if (w->late == LATE_UPDATE) sl_col_set_int(&out->col[c++], r, final ? g->version : 0);
    sl_col_set_int(&out->col[c], r, (int64_t)g->gkey);
}

/* Group-based key: a rollup's groups are only ever made by merges, so this
 * hash need not equal the row-based one, only be consistent with itself. */
static uint64_t key_of_group(const sl_window *w, const group *src, int64_t ws) {
    uint64_t h = sl_hash_int(ws, 0x3a11);
    for (int k = 0; k < w->nkeys; k++) {
        if (src->knull[k])
            h = sl_hash_int(0x5eed5eed, h ^ 0x9e3779b97f4a7c15ULL);
        else if (w->key_type[k] == SL_T_STRING)
            h = sl_hash_bytes(src->ks[k], src->kslen[k], h + 1);
        else if (w->key_type[k] == SL_T_DOUBLE)
            h = sl_hash_bytes(&src->kd[k], 8, h + 2);
        else
            h = sl_hash_int(src->ki[k], h + 4);
    }
    return h;
}

/* Unites s2's distinct set into d's. Both hold values, or both hashes, but
 * for state restored from before values were stored: then the values are
 * hashed (the result is what a hash set would have counted). */
static void distinct_merge(agg_state *d, const agg_state *s2) {
    if (!d->dhashed && s2->dhashed) {
        sl_hset *h = sl_hset_new(sl_hset_count(d->distinct));
        size_t it = 0;
        uint64_t v;
        while (sl_hset_next(d->distinct, &it, &v))
            sl_hset_add(h, sl_hash_int((int64_t)v, 7));
        sl_hset_free(d->distinct);
        d->distinct = h;
        d->dhashed = true;
    }
    size_t it = 0;
    uint64_t v;
    while (sl_hset_next(s2->distinct, &it, &v))
        sl_hset_add(d->distinct, d->dhashed && !s2->dhashed ? sl_hash_int((int64_t)v, 7) : v);
}

/* Merges a final group of the finer window into the rollup window dst:
 * counts and sums add, min/max compare, distinct sets unite, sketches merge
 * (DDSketch keeps its relative error, HLL its bound), Welford merges exactly. */
static void merge_into(sl_window *dst, const group *src) {
    int64_t ws, we;
    if (dst->cal) {
        if (src->wstart < dst->cal_lo || src->wstart >= dst->cal_hi) cal_locate(dst, src->wstart);
        ws = dst->cal_lo, we = dst->cal_hi;
    } else {
        ws = sl_floor_div(src->wstart, dst->slide) * dst->slide;
        we = ws + dst->size;
    }
    if (dst->final_wm != INT64_MIN && we <= dst->final_wm) {
        /* the rollup's window was finalised (the end of a --once run): its
         * final row is never rewritten by part of a window */
        if (dst->late_merges++ == 0)
            sl_log_warn("rollup window already final: a later window's rows are not merged",
                        "\"window_start_us\":%lld", (long long)ws);
        return;
    }
    uint64_t gk = key_of_group(dst, src, ws);
    int64_t *slot = sl_hmap_get(dst->index, gk);
    size_t gi;
    if (slot) {
        gi = (size_t)*slot;
    } else {
        gi = group_alloc(dst);
        group *g = &dst->g[gi];
        group_init(dst, g);
        g->gkey = gk;
        g->wstart = ws;
        for (int k = 0; k < dst->nkeys; k++) {
            g->knull[k] = src->knull[k];
            g->ki[k] = src->ki[k];
            g->kd[k] = src->kd[k];
            if (src->ks[k]) {
                g->ks[k] = sl_xmalloc(src->kslen[k] + 1);
                memcpy(g->ks[k], src->ks[k], src->kslen[k] + 1);
                g->kslen[k] = src->kslen[k];
            }
        }
        sl_hmap_put(dst->index, gk, (int64_t)gi, NULL);
        dst->alive++;
        group_link(dst, gi);
    }
    touch(dst, gi);
    group *g = &dst->g[gi];
    for (int a = 0; a < dst->naggs; a++) {
        agg_state *d = &g->aggs[a];
        const agg_state *s2 = &src->aggs[a];
        d->n += s2->n;
        d->sum += s2->sum;
        d->isum += s2->isum;
        if (s2->dmin < d->dmin) d->dmin = s2->dmin;
        if (s2->dmax > d->dmax) d->dmax = s2->dmax;
        if (s2->imin < d->imin) d->imin = s2->imin;
        if (s2->imax > d->imax) d->imax = s2->imax;
        if (d->distinct && s2->distinct) distinct_merge(d, s2);
        if (d->dd && s2->dd) sl_ddsketch_merge(d->dd, s2->dd);
        if (d->hll && s2->hll) sl_hll_merge(d->hll, s2->hll);
        sl_welford_merge(&d->wf, &s2->wf);
        if (s2->t_first < d->t_first) d->t_first = s2->t_first, d->fi = s2->fi, d->fd = s2->fd;
        if (s2->t_last >= d->t_last && s2->t_last != INT64_MIN)
            d->t_last = s2->t_last, d->li = s2->li, d->ld = s2->ld;
        if (s2->has_by) {
            by_cand k;
            by_of_state(s2, &k);
            if (!d->has_by || by_better(&dst->aggs[a], &k, d)) by_take(d, &k);
        }
    }
}

/* The rollup window of src with `size` (a calendar unit's nominal length) and `unit`; the
 * nesting was checked by the caller. */
static sl_window *rollup_new(sl_window *src, int64_t size, int unit, sl_error *err);

sl_window *sl_window_create_rollup(sl_window *src, int64_t size, sl_error *err) {
    if (src->cal || size <= src->size || size % src->size != 0 || src->slide != src->size)
        return sl_error_set(err, SL_EINVAL,
                            "a rollup needs a tumbling source window and a size that is a multiple "
                            "of %lld s",
                            (long long)(src->size / 1000000)),
               NULL;
    return rollup_new(src, size, UNIT_NONE, err);
}

sl_window *sl_window_create_rollup_size(sl_window *src, const char *size, sl_error *err) {
    int unit;
    int64_t us;
    if (size_parse(size, &unit, &us, err)) return NULL;
    if (unit == UNIT_NONE) {
        if (src->cal)
            return sl_error_set(err, SL_EINVAL,
                                "a rollup of a %s window is 1w (from 1d) or 1mo (from 1d)",
                                unit_names[src->unit]),
                   NULL;
        return sl_window_create_rollup(src, us, err);
    }
    if (src->unit != UNIT_NONE) {
        /* days nest in weeks and months; weeks straddle months */
        if (src->unit != UNIT_DAY || unit == UNIT_DAY)
            return sl_error_set(err, SL_EINVAL,
                                "a rollup of a %s window cannot be %s: only 1d windows roll up, "
                                "into 1w or 1mo",
                                unit_names[src->unit], size),
                   NULL;
    } else {
        /* fixed windows nest in the days of the zone when a day is a whole number of them and
         * every local midnight (since 1970) falls on a multiple of their size */
        char sz[48];
        sl_duration_format(src->size, sz, sizeof sz);
        if (src->slide != src->size || DAY_US % src->size != 0)
            return sl_error_set(err, SL_EINVAL,
                                "a %s rollup needs a tumbling source window whose size divides a "
                                "day (this one is %s%s)",
                                size, sz, src->slide != src->size ? ", hopping" : ""),
                   NULL;
        if (!sl_tz_steps_align(src->tz, src->size, 0))
            return sl_error_set(err, SL_EINVAL,
                                "%s windows do not nest in the days of %s (its UTC offsets or "
                                "changes are not multiples of %s), so a %s rollup cannot merge "
                                "them; use smaller windows",
                                sz, sl_tz_name(src->tz), sz, size),
                   NULL;
    }
    return rollup_new(src, us, unit, err);
}

static sl_window *rollup_new(sl_window *src, int64_t size, int unit, sl_error *err) {
    if (src->nrollup == 4)
        return sl_error_set(err, SL_EINVAL, "at most 4 rollups per window"), NULL;
    if (src->late == LATE_UPDATE)
        return sl_error_set(err, SL_EINVAL,
                            "a rollup cannot read a window with late: update (a final group "
                            "re-emitted after a late record would be merged twice); use late: "
                            "drop or quarantine"),
               NULL;
    sl_window *w = sl_xcalloc(1, sizeof *w);
    w->time_col = -1;
    w->size = w->slide = size;
    w->tz = sl_tz_load(sl_tz_name(src->tz), err); /* one more reference: never fails */
    assert(w->tz);
    set_unit(w, unit);
    w->nkeys = src->nkeys;
    w->part_key = src->part_key;
    memcpy(w->key_col, src->key_col, sizeof w->key_col);
    memcpy(w->key_type, src->key_type, sizeof w->key_type);
    w->naggs = src->naggs;
    for (int a = 0; a < src->naggs; a++) {
        w->aggs[a].kind = src->aggs[a].kind;
        w->aggs[a].q = src->aggs[a].q;
        w->aggs[a].arg_type = src->aggs[a].arg_type;
        w->aggs[a].out_type = src->aggs[a].out_type;
        w->aggs[a].ord_type = src->aggs[a].ord_type;
        w->aggs[a].arg = NULL; /* fed by merges only */
        w->aggs[a].ord = NULL;
    }
    w->alpha = src->alpha;
    w->dd_buckets = src->dd_buckets;
    w->out = src->out;
    w->index = sl_hmap_new(256);
    w->is_rollup = true;
    w->late = LATE_QUARANTINE; /* fed by merges only: never late */
    w->final_wm = INT64_MIN;
    src->rollup[src->nrollup++] = w;
    return w;
}

static int emit_cmp(const void *x, const void *y) {
    const struct emit_ent *a = x, *b = y;
    return a->gkey < b->gkey ? -1 : a->gkey > b->gkey;
}

/* Whether group g is to be emitted: dirty, or due and not yet emitted final. */
static bool emit_candidate(const group *g, bool due) { return g->dirty || (due && !g->final); }

/* Fills the emission scratch with bucket b's candidates, by group key: while
 * the window is open its dirty groups; once due, every group not yet final
 * (and the dirty ones), or only the dirty ones when b is done. */
static void collect(sl_window *w, wbucket *b, bool due) {
    bool all = due && !b->done;
    const size_t *src = all ? b->gi : b->dirty;
    size_t n = all ? b->n : b->ndirty;
    w->order_bk = b;
    w->order_n = w->order_pos = 0;
    for (size_t j = 0; j < n; j++) {
        const group *g = &w->g[src[j]];
        if (!emit_candidate(g, due)) continue;
        if (w->order_n == w->order_cap) w->order = grow(w->order, &w->order_cap, sizeof *w->order);
        w->order[w->order_n].gkey = g->gkey;
        w->order[w->order_n++].gi = src[j];
    }
    if (w->order_n > 1) qsort(w->order, w->order_n, sizeof *w->order, emit_cmp);
}

uint32_t sl_window_emit(sl_window *w, sl_batch *out, int64_t watermark, bool all_final) {
    sl_batch_clear(out);
    if (watermark > w->final_wm) w->final_wm = watermark;
    int64_t wm = w->final_wm; /* never back: a window final once stays final */
    size_t bi = 0;
    while (bi < w->nbk && out->n < out->cap) {
        wbucket *b = w->bk[bi];
        if (!b->n) {
            bucket_remove(w, bi);
            continue;
        }
        int64_t end = b->wend;
        bool due = all_final || (wm != INT64_MIN && end <= wm);
        /* the end of --once input is the end of time for what it finalises: a
         * later run's record for this window is late, never a reopening */
        if (all_final && end > w->final_wm) w->final_wm = end;
        /* groups released once emitted final: always but with late: update before end +
         * allowed_lateness */
        bool expire = due && (w->late != LATE_UPDATE || all_final ||
                              end + (w->own_lateness ? end - b->wstart : w->lateness) <= wm);
        if (!b->ndirty && (!due || (b->done && !expire))) {
            bi++;
            continue;
        }
        if (w->order_bk != b || w->order_pos == w->order_n) {
            collect(w, b, due);
            if (!w->order_n) { /* b emitted through */
                w->order_bk = NULL;
                if (!due) {
                    bi++;
                } else if (expire) {
                    while (b->n)
                        group_release(w, b->gi[b->n - 1]);
                    bucket_remove(w, bi);
                } else {
                    b->done = true;
                    bi++;
                }
                continue;
            }
        }
        while (w->order_pos < w->order_n && out->n < out->cap) {
            size_t gi = w->order[w->order_pos++].gi;
            group *g = &w->g[gi];
            /* the scratch may be older than a change between calls: check again */
            if (!g->alive || g->bk != b || !emit_candidate(g, due)) continue;
            if (due) g->version++;
            emit_group(w, g, out, due);
            clear_dirty(w, gi);
            if (due && !g->final) {
                g->final = true;
                for (int r = 0; r < w->nrollup; r++)
                    merge_into(w->rollup[r], g);
            }
            if (expire)
                group_release(w, gi);
            else
                mark_changed(w, gi); /* its flags are in the snapshot */
        }
    }
    return out->n;
}

/* The partition tag of a group (partitioned state), 0 otherwise. */
static uint64_t group_tag(const sl_window *w, const group *g) {
    if (w->part_key < 0 || g->knull[w->part_key] || !g->ks[w->part_key]) return 0;
    return sl_part_tag(g->ks[w->part_key], g->kslen[w->part_key]);
}

/* ---- snapshots (format: see the top of the file) ---------------------------- */

static void put_group(const sl_window *w, sl_buf *out, const group *g) {
    sl_buf_put_i64(out, (int64_t)g->gkey);
    sl_buf_put_i64(out, g->wstart);
    sl_buf_put_i64(out, (g->dirty ? 1 : 0) | (g->final ? 2 : 0));
    sl_buf_put_i64(out, g->version);
    for (int k = 0; k < w->nkeys; k++) {
        sl_buf_put(out, &g->knull[k], 1);
        sl_buf_put_i64(out, g->ki[k]);
        sl_buf_put(out, &g->kd[k], 8);
        sl_buf_put_str(out, g->ks[k] ? g->ks[k] : "", g->ks[k] ? g->kslen[k] : 0);
    }
    for (int a = 0; a < w->naggs; a++) {
        agg_state *s = &g->aggs[a];
        sl_buf_put(out, s, offsetof(agg_state, distinct));
        if (s->distinct) {
            bool values = distinct_by_value(w->aggs[a].arg_type) && !s->dhashed;
            sl_buf_put_i64(out,
                           (int64_t)sl_hset_count(s->distinct) | (values ? DISTINCT_VALUES : 0));
            size_t it = 0;
            uint64_t k;
            while (sl_hset_next(s->distinct, &it, &k))
                sl_buf_put_i64(out, (int64_t)k);
        }
        uint8_t wf[40];
        sl_welford_encode(&s->wf, wf);
        sl_buf_put(out, wf, sizeof wf);
        sl_buf_put_i64(out, s->t_first);
        sl_buf_put_i64(out, s->t_last);
        sl_buf_put_i64(out, s->fi);
        sl_buf_put_i64(out, s->li);
        sl_buf_put(out, &s->fd, 8);
        sl_buf_put(out, &s->ld, 8);
        void *blob = NULL;
        size_t blen = 0;
        if (s->dd)
            sl_ddsketch_serialize(s->dd, &blob, &blen);
        else if (s->hll)
            sl_hll_serialize(s->hll, &blob, &blen);
        sl_buf_put_str(out, blob ? blob : "", (uint32_t)blen);
        free(blob);
        if (w->aggs[a].kind == AGG_MIN_BY || w->aggs[a].kind == AGG_MAX_BY) {
            sl_buf_put_i64(out, (s->has_by ? 1 : 0) | (s->by_vnull ? 2 : 0));
            sl_buf_put_i64(out, s->by_t);
            sl_buf_put_i64(out, s->by_oi);
            sl_buf_put(out, &s->by_od, 8);
            sl_buf_put_i64(out, s->by_vi);
            sl_buf_put(out, &s->by_vd, 8);
            sl_buf_put_str(out, s->by_vs ? s->by_vs : "", s->by_vslen);
        }
    }
}

static void put_header(const sl_window *w, sl_buf *out, bool full) {
    sl_buf_put_i64(out, SNAP_TAG);
    sl_buf_put_i64(out, SL_WINDOW_SNAPSHOT_FORMAT);
    sl_buf_put_i64(out, full ? 1 : 0);
    sl_buf_put_i64(out, w->final_wm);
}

int(sl_window_snapshot)(sl_window *w, sl_buf *out, bool full) {
    if (full) {
        sl_window_snapshot_parts(w, out, NULL);
        for (size_t gi = 0; gi < w->ng; gi++)
            w->g[gi].snapped = w->g[gi].alive;
    } else {
        put_header(w, out, false);
        sl_buf_put_i64(out, (int64_t)w->nreleased);
        for (size_t j = 0; j < w->nreleased; j++)
            sl_buf_put_i64(out, (int64_t)w->released[j]);
        sl_buf_put_i64(out, (int64_t)w->nchanged);
        for (size_t j = 0; j < w->nchanged; j++) {
            assert(w->g[w->changed[j]].alive);
            put_group(w, out, &w->g[w->changed[j]]);
        }
    }
    tracking_reset(w);
    return 0;
}

int sl_window_snapshot_parts(sl_window *w, sl_buf *out, const sl_part_set *only) {
    put_header(w, out, true);
    sl_buf_put_i64(out, 0); /* nothing released: a full snapshot */
    size_t cnt = 0;
    for (size_t gi = 0; gi < w->ng; gi++)
        if (w->g[gi].alive && (!only || sl_part_set_has(only, group_tag(w, &w->g[gi])))) cnt++;
    sl_buf_put_i64(out, (int64_t)cnt);
    for (size_t gi = 0; gi < w->ng; gi++) {
        group *g = &w->g[gi];
        if (!g->alive || (only && !sl_part_set_has(only, group_tag(w, g)))) continue;
        put_group(w, out, g);
    }
    return 0;
}

void sl_window_drop_parts(sl_window *w, const sl_part_set *parts) {
    for (size_t gi = 0; gi < w->ng; gi++)
        if (w->g[gi].alive && sl_part_set_has(parts, group_tag(w, &w->g[gi]))) group_release(w, gi);
}

/* Reads one group of format `ver` into g (group_init'ed, not linked); dirty is
 * returned in *dirty, not set. SL_ECORRUPT with err set on failure. */
static int read_group(sl_window *w, sl_rd *r, int ver, group *g, bool *dirty, sl_error *err) {
    int64_t gk, flags;
    if (sl_rd_i64(r, &gk) || sl_rd_i64(r, &g->wstart) || sl_rd_i64(r, &flags)) goto corrupt;
    if (ver >= 2 && ((flags & ~3) || sl_rd_i64(r, &g->version) || g->version < 0)) goto corrupt;
    g->gkey = (uint64_t)gk;
    *dirty = (flags & 1) != 0;
    g->final = ver >= 2 && (flags & 2);
    for (int k = 0; k < w->nkeys; k++) {
        const char *s;
        uint32_t len;
        if (sl_rd_bytes(r, &g->knull[k], 1) || sl_rd_i64(r, &g->ki[k]) ||
            sl_rd_bytes(r, &g->kd[k], 8) || sl_rd_str(r, &s, &len))
            goto corrupt;
        if (w->key_type[k] == SL_T_STRING && !g->knull[k]) {
            g->ks[k] = sl_xmalloc(len + 1);
            memcpy(g->ks[k], s, len);
            g->ks[k][len] = 0;
            g->kslen[k] = len;
        }
    }
    for (int a = 0; a < w->naggs; a++) {
        agg_state *s = &g->aggs[a];
        sl_hset *d = s->distinct;
        if (sl_rd_bytes(r, s, offsetof(agg_state, distinct))) goto corrupt;
        s->distinct = d;
        if (d) {
            int64_t nd, k;
            if (sl_rd_i64(r, &nd) || nd < 0) goto corrupt;
            bool values = nd & DISTINCT_VALUES;
            nd &= ~DISTINCT_VALUES;
            if (values && !distinct_by_value(w->aggs[a].arg_type)) goto corrupt;
            /* a set saved before values were stored holds hashes: keep hashing */
            sl_hset_clear(d);
            s->dhashed = distinct_by_value(w->aggs[a].arg_type) && !values;
            if ((uint64_t)nd > (r->n - r->off) / 8) goto corrupt;
            for (int64_t j = 0; j < nd; j++) {
                if (sl_rd_i64(r, &k)) goto corrupt;
                sl_hset_add(d, (uint64_t)k);
            }
        }
        uint8_t wf[40];
        const char *blob;
        uint32_t blen;
        if (sl_rd_bytes(r, wf, sizeof wf) || sl_welford_decode(&s->wf, wf, sizeof wf) ||
            sl_rd_i64(r, &s->t_first) || sl_rd_i64(r, &s->t_last) || sl_rd_i64(r, &s->fi) ||
            sl_rd_i64(r, &s->li) || sl_rd_bytes(r, &s->fd, 8) || sl_rd_bytes(r, &s->ld, 8) ||
            sl_rd_str(r, &blob, &blen))
            goto corrupt;
        if (s->dd || s->hll) {
            sl_error e2 = {0};
            if (s->dd) {
                sl_ddsketch *dd = sl_ddsketch_deserialize(blob, blen, &e2);
                if (!dd) goto corrupt;
                sl_ddsketch_free(s->dd);
                s->dd = dd;
            } else {
                sl_hll *h = sl_hll_deserialize(blob, blen, &e2);
                if (!h) goto corrupt;
                sl_hll_free(s->hll);
                s->hll = h;
            }
        }
        if (s->dd && (sl_ddsketch_alpha(s->dd) != w->alpha))
            return sl_error_set(
                err, SL_ECORRUPT,
                "window: the snapshot's quantile sketches have accuracy %g, the pipeline says %g "
                "(changing accuracy needs a fresh data directory)",
                sl_ddsketch_alpha(s->dd), w->alpha);
        if (w->aggs[a].kind == AGG_MIN_BY || w->aggs[a].kind == AGG_MAX_BY) {
            int64_t bflags;
            by_cand k = {0};
            const char *vs;
            uint32_t vslen;
            if (sl_rd_i64(r, &bflags) || sl_rd_i64(r, &k.t) || sl_rd_i64(r, &k.oi) ||
                sl_rd_bytes(r, &k.od, 8) || sl_rd_i64(r, &k.vi) || sl_rd_bytes(r, &k.vd, 8) ||
                sl_rd_str(r, &vs, &vslen) || (bflags & ~3))
                goto corrupt;
            k.vnull = (bflags & 2) != 0;
            k.vs = vslen ? vs : NULL;
            k.vslen = vslen;
            if (w->aggs[a].out_type == SL_T_STRING && !k.vnull && !k.vs) k.vs = "";
            if (bflags & 1) by_take(s, &k);
        }
    }
    return 0;
corrupt:
    return sl_error_set(err, SL_ECORRUPT, "window: corrupt snapshot");
}

int(sl_window_restore)(sl_window *w, const void *data, size_t n, bool full, sl_error *err) {
    return sl_window_restore_parts(w, data, n, full, NULL, err);
}

int sl_window_restore_parts(sl_window *w, const void *data, size_t n, bool full,
                            const sl_part_set *only, sl_error *err) {
    sl_rd r = {data, n, 0};
    int64_t first, count, nrel = 0, fwm = INT64_MIN;
    int ver = 1;
    bool is_full = true;
    if (sl_rd_i64(&r, &first)) goto corrupt;
    if (first == SNAP_TAG) {
        int64_t v, kind;
        if (sl_rd_i64(&r, &v)) goto corrupt;
        if (v != SL_WINDOW_SNAPSHOT_FORMAT)
            return sl_error_set(err, SL_ECORRUPT,
                                "window: snapshot format %lld, this sluice reads formats 1 and %d "
                                "(run the sluice that "
                                "wrote it, or start from a fresh data directory)",
                                (long long)v, SL_WINDOW_SNAPSHOT_FORMAT);
        if (sl_rd_i64(&r, &kind) || (kind & ~1) || sl_rd_i64(&r, &fwm)) goto corrupt;
        is_full = kind == 1;
        ver = 2;
    } else {
        r.off = 0; /* format 1 (written before deltas): a full snapshot of that layout */
    }
    if (is_full != full)
        return sl_error_set(err, SL_ECORRUPT, "window: a %s snapshot stored as %s",
                            is_full ? "full" : "delta", full ? "full" : "delta");
    if (is_full && !only) {
        for (size_t gi = 0; gi < w->ng; gi++)
            if (w->g[gi].alive) group_release(w, gi);
        w->final_wm = INT64_MIN;
    }
    if (fwm > w->final_wm) w->final_wm = fwm;
    if (ver >= 2 && (sl_rd_i64(&r, &nrel) || nrel < 0 || (is_full && nrel))) goto corrupt;
    for (int64_t i = 0; i < nrel; i++) {
        int64_t gk;
        if (sl_rd_i64(&r, &gk)) goto corrupt;
        int64_t *slot = sl_hmap_get(w->index, (uint64_t)gk);
        if (slot && (!only || sl_part_set_has(only, group_tag(w, &w->g[*slot]))))
            group_release(w, (size_t)*slot);
    }
    if (sl_rd_i64(&r, &count) || count < 0) goto corrupt;
    for (int64_t i = 0; i < count; i++) {
        size_t gi = group_alloc(w);
        group *g = &w->g[gi];
        group_init(w, g);
        w->alive++;
        bool dirty = false;
        int rc = read_group(w, &r, ver, g, &dirty, err);
        if (rc) {
            group_release(w, gi);
            return rc;
        }
        int64_t *slot = sl_hmap_get(w->index, g->gkey);
        if (only && !sl_part_set_has(only, group_tag(w, g))) {
            group_release(w, gi); /* another partition's group */
            continue;
        }
        if (slot) {
            if (only && is_full) { /* restore_parts keeps what it holds */
                group_release(w, gi);
                continue;
            }
            group_release(w, (size_t)*slot); /* a delta's group replaces the one held */
        }
        sl_hmap_put(w->index, g->gkey, (int64_t)gi, NULL);
        group_link(w, gi);
        if (!g->final) g->bk->done = false;
        if (only) { /* taken over from another instance: written to this instance's table, and in no
                       delta yet */
            touch(w, gi);
        } else {
            if (dirty) mark_dirty(w, gi);
            g->snapped = true; /* in the chain being restored */
        }
    }
    if (r.off != r.n) goto corrupt;
    if (!only) tracking_reset(w);
    return 0;
corrupt:
    return sl_error_set(err, SL_ECORRUPT, "window: corrupt snapshot");
}

void sl_window_free(sl_window *w) {
    if (!w) return;
    for (size_t gi = 0; gi < w->ng; gi++)
        if (w->g[gi].alive) group_release(w, gi);
    for (int a = 0; a < w->naggs; a++) {
        if (w->aggs[a].arg) sl_expr_free(w->aggs[a].arg);
        if (w->aggs[a].ord) sl_expr_free(w->aggs[a].ord);
        free(w->aggs[a].tmp.null);
        free(w->aggs[a].tmp.v.p);
        free(w->aggs[a].tmp2.null);
        free(w->aggs[a].tmp2.v.p);
    }
    for (size_t i = 0; i < w->nbk; i++) {
        free(w->bk[i]->gi);
        free(w->bk[i]->dirty);
        free(w->bk[i]);
    }
    free(w->bk);
    free(w->changed);
    free(w->released);
    free(w->order);
    if (w->index) sl_hmap_free(w->index);
    free(w->g);
    free(w->free_list);
    sl_tz_free(w->tz);
    free(w);
}

size_t sl_window_state_bytes(const sl_window *w) {
    size_t n = sizeof *w + w->gcap * (sizeof(group) + sizeof(size_t)) +
               w->order_cap * sizeof *w->order + w->bkcap * sizeof *w->bk +
               w->chcap * sizeof *w->changed + w->relcap * sizeof *w->released;
    for (size_t i = 0; i < w->nbk; i++)
        n += sizeof *w->bk[i] + (w->bk[i]->cap + w->bk[i]->dcap) * sizeof(size_t);
    if (w->index) n += sl_hmap_bytes(w->index);
    for (size_t gi = 0; gi < w->ng; gi++) {
        const group *g = &w->g[gi];
        if (!g->alive) continue;
        n += (size_t)w->naggs * sizeof(agg_state);
        for (int k = 0; k < w->nkeys; k++)
            if (g->ks[k]) n += g->kslen[k] + 1;
        for (int a = 0; a < w->naggs; a++) {
            const agg_state *s = &g->aggs[a];
            if (s->distinct) n += sl_hset_bytes(s->distinct);
            if (s->dd) n += sl_ddsketch_bytes(s->dd);
            if (s->hll) n += sl_hll_bytes(s->hll);
            n += s->by_vscap;
        }
    }
    return n;
}
