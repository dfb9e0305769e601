/*
 * watermark.c - event time, watermark and late data.
 *
 *   - watermark: {time: "from_unixtime_ms(timestamp_detected)", delay: 2m, late: quarantine}
 *
 * Adds the event-time column (default `event_ts`). The watermark is the
 * maximum event time seen so far minus `delay` (Spark's rule). It is
 * advanced record by record, in input order, so whether a record is late
 * depends only on the records before it, never on where batch or commit
 * boundaries fell: a restart after a crash makes exactly the same decisions.
 * A record is late when its event time is below the watermark computed from
 * the records before it; late records are dropped or quarantined.
 *
 * Two kinds of records never touch the watermark:
 *   - no event time: the time expression gave NULL (a NULL input, or an
 *     epoch number whose time does not fit: from_unixtime_ms(1e19)) or a
 *     time before year 1 (from_unixtime_ms(-1e15)). They follow `late`.
 *   - future: an event time more than `max_future` (default 1d) after the
 *     processing time ctx->now_us. One such record (a clock set to 2100)
 *     would otherwise move the watermark a century ahead and make every
 *     later record late. They are always quarantined, counted as
 *     quarantined, not late.
 * The future bound is the one decision that depends on processing time,
 * not only on the records before: a replay of input that was never
 * committed (a crash before the commit) may decide a record near the bound
 * differently, since time has passed. A committed decision never changes:
 * a record quarantined as future is in the commit and stays quarantined,
 * and the watermark in the checkpoint never saw it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/mem.h"
#include "core/timeutil.h"
#include "expr/expr.h"
#include "ops/op.h"

typedef struct {
    sl_expr *e;
    int col;
    int64_t delay;
    int64_t max_future;
    bool quarantine;
    int64_t max_t; /* INT64_MIN: none yet */
    int64_t late;
    int64_t future; /* quarantined as future (not in the snapshot: a counter since start) */
    uint8_t *keep;
    uint32_t cap;
} wm_op;

enum { LATE_DROP, LATE_QUARANTINE }; /* the order of `late`'s words */

typedef struct {
    const sl_node *time;
    int64_t delay;
    int64_t max_future;
    int late;
    const char *column;
    const sl_node *column_at;
} wm_conf;

static const sl_opt wm_opts[] = {
    {"time", SL_OPT_EXPR, true, NULL, NULL, "event time: a timestamp expression",
     SL_OPT_BIND(wm_conf, time)},
    {"delay", SL_OPT_DURATION, true, NULL, NULL,
     "allowed lateness: watermark = max event time - delay", SL_OPT_BIND(wm_conf, delay)},
    {"max_future", SL_OPT_DURATION, false, NULL, "1d",
     "records with an event time more than this after the processing time are quarantined "
     "(future:) and never move the watermark",
     SL_OPT_BIND(wm_conf, max_future),
     SL_OPT_RANGE(SL_US_PER_SEC, 36500.0 * 86400 * SL_US_PER_SEC)},
    {"late", SL_OPT_ENUM, false, "drop|quarantine", "quarantine", "what to do with late records",
     SL_OPT_BIND(wm_conf, late)},
    {"column", SL_OPT_STRING, false, NULL, "event_ts", "name of the event-time column added",
     SL_OPT_BIND(wm_conf, column), SL_OPT_AT(wm_conf, column_at)},
    {0},
};

static int wm_create(const sl_node *arg, sl_schema *schema, const sl_op_env *env, void **self,
                     sl_error *err) {
    (void)env;
    wm_conf c;
    if (sl_spec_bind(arg, wm_opts, "watermark", &c, err)) return SL_EINVAL;
    wm_op *o = sl_xcalloc(1, sizeof *o);
    o->max_t = INT64_MIN;
    const sl_node *tn = c.time;
    o->e = sl_op_compile_expr(tn, schema, err);
    if (!o->e) goto fail;
    if (sl_expr_type(o->e) != SL_T_TS) {
        sl_node_error(err, tn,
                      "watermark time must be a timestamp, got %s (use from_unixtime_ms(...) or "
                      "to_timestamp(...))",
                      sl_type_name(sl_expr_type(o->e)));
        goto fail;
    }
    o->delay = c.delay;
    o->max_future = c.max_future;
    o->quarantine = c.late == LATE_QUARANTINE;
    const char *cname = c.column;
    if (sl_schema_find(schema, cname) >= 0) {
        sl_node_error(err, c.column_at ? c.column_at : arg, "column '%s' already exists", cname);
        goto fail;
    }
    o->col = sl_schema_add(schema, cname, SL_T_TS);
    *self = o;
    return 0;
fail:
    if (o->e) sl_expr_free(o->e);
    free(o);
    return SL_EINVAL;
}

static int wm_process(void *self, sl_batch *b, sl_op_ctx *ctx, sl_error *err) {
    (void)err;
    wm_op *o = self;
    if (o->cap < b->cap) {
        free(o->keep);
        o->keep = sl_xmalloc(b->cap);
        o->cap = b->cap;
    }
    sl_column *c = &b->col[o->col];
    sl_expr_eval(o->e, b, c);
    uint32_t dropped = 0, future = 0;
    char reason[256];
    /* 0001-01-01T00:00:00Z: earlier times are epoch numbers gone wrong */
    const int64_t min_t = -62135596800LL * SL_US_PER_SEC;
    for (uint32_t i = 0; i < b->n; i++) {
        if (c->null[i] || c->v.i[i] < min_t) {
            o->keep[i] = 0;
            dropped++;
            if (o->quarantine) {
                if (c->null[i])
                    snprintf(reason, sizeof reason,
                             "no event time: the time expression gave NULL (a NULL input, or an "
                             "epoch number out of range)");
                else
                    snprintf(reason, sizeof reason,
                             "no event time: the time expression gave %lld us since 1970, before "
                             "the year 1 (an epoch number out of range)",
                             (long long)c->v.i[i]);
                ctx->quarantine(ctx->engine, b, i, reason);
            }
            continue;
        }
        if (ctx->now_us > 0 && c->v.i[i] > ctx->now_us && c->v.i[i] - ctx->now_us > o->max_future) {
            char ts[48], now[48], bound[32];
            o->keep[i] = 0;
            future++;
            sl_time_format_iso_ms(c->v.i[i], ts, sizeof ts);
            sl_time_format_iso_ms(ctx->now_us, now, sizeof now);
            sl_duration_format(o->max_future, bound, sizeof bound);
            snprintf(reason, sizeof reason,
                     "future: event time %s is more than %s after the processing time %s", ts,
                     bound, now);
            ctx->quarantine(ctx->engine, b, i, reason);
            continue;
        }
        int64_t t = c->v.i[i];
        if (o->max_t != INT64_MIN && t < o->max_t - o->delay) {
            o->keep[i] = 0;
            dropped++;
            if (o->quarantine) {
                char ts[40], wm[40];
                sl_time_format_iso_ms(t, ts, sizeof ts);
                sl_time_format_iso_ms(o->max_t - o->delay, wm, sizeof wm);
                snprintf(reason, sizeof reason, "late: event time %s is before the watermark %s",
                         ts, wm);
                ctx->quarantine(ctx->engine, b, i, reason);
            }
            continue;
        }
        o->keep[i] = 1;
        if (t > o->max_t) o->max_t = t;
        int64_t lag = b->ingest[i] - t;
        ctx->lag_sum_us += (double)lag;
        ctx->lag_n++;
        if (lag > ctx->lag_max_us) ctx->lag_max_us = lag;
    }
    if (future) {
        o->future += future;
        ctx->quarantined += future;
    }
    if (dropped || future) sl_batch_keep(b, o->keep);
    if (dropped) {
        o->late += dropped;
        ctx->late += dropped;
        if (o->quarantine)
            ctx->quarantined += dropped;
        else
            ctx->dropped += dropped;
    }
    if (o->max_t != INT64_MIN && o->max_t > ctx->max_event_time) ctx->max_event_time = o->max_t;
    /* the rows after this step have this step's event time and watermark */
    ctx->watermark = o->max_t == INT64_MIN ? INT64_MIN : o->max_t - o->delay;
    return 0;
}

static int64_t wm_watermark(void *self) {
    wm_op *o = self;
    return o->max_t == INT64_MIN ? INT64_MIN : o->max_t - o->delay;
}

static int wm_snapshot(void *self, sl_buf *out, bool full) {
    (void)full;
    wm_op *o = self;
    sl_buf_put_i64(out, o->max_t);
    sl_buf_put_i64(out, o->late);
    return 0;
}

static int wm_restore(void *self, const void *data, size_t n, bool full, sl_error *err) {
    (void)full;
    wm_op *o = self;
    sl_rd r = {data, n, 0};
    if (sl_rd_i64(&r, &o->max_t) || sl_rd_i64(&r, &o->late))
        return sl_error_set(err, SL_ECORRUPT, "watermark: corrupt snapshot");
    return 0;
}

static int wm_stats(void *self, sl_op_stat *out, int cap) {
    wm_op *o = self;
    if (cap < 2) return 0;
    out[0] = (sl_op_stat){"late", (double)o->late};
    out[1] = (sl_op_stat){"future", (double)o->future};
    return 2;
}

static void wm_destroy(void *self) {
    wm_op *o = self;
    sl_expr_free(o->e);
    free(o->keep);
    free(o);
}

const sl_op_def sl_op_watermark = {
    .name = "watermark",
    .keeps_values = sl_op_keeps_values_always,
    .opts = wm_opts,
    .help =
        "event time and watermark (max event time - delay); late records dropped or quarantined",
    .create = wm_create,
    .process = wm_process,
    .snapshot = wm_snapshot,
    .restore = wm_restore,
    .stats = wm_stats,
    .destroy = wm_destroy,
    .watermark = wm_watermark,
};
