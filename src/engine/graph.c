/*
 * graph.c - a batch through the table graph.
 *
 * A batch read from a source goes to every table that reads the source;
 * each table copies the columns it reads into its work batch (a union maps
 * them by name), runs its steps in place, writes what is left to its
 * outputs (store table, lake, Kafka) inside the open commit, and passes the
 * rows on to the tables that read it. Window tables fold rows into groups;
 * their rows come out at commit (emit_windows), final once the table's own
 * watermark passed the window's end.
 */
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/timeutil.h"
#include "engine/runtime.h"
#include "formats/json_write.h"

void sl__engine_quarantine(void *engine, const sl_batch *b, uint32_t r, const char *reason) {
    run *R = engine;
    const char *src = R->part_names ? R->part_names[b->part[r]] : "";
    if (sl_store_quarantine(R->store, R->cur_table, reason, b->raw[r].ptr, b->raw[r].len, src,
                            b->pos[r], b->ingest[r]))
        R->failed = SL_EIO;
}

void sl__engine_bad_record(void *ud, const char *line, size_t len, int32_t part, int64_t pos,
                           const char *reason) {
    sl__engine_bad_ud *u = ud;
    run *R = u->R;
    const char *tname = u->s->first_table >= 0 ? R->p->t[u->s->first_table].name : u->s->name;
    const char *src = sl_input_part_name(u->s, part);
    if (sl_store_quarantine(R->store, tname, reason, line, len, src, pos, R->ctx.now_us))
        R->failed = SL_EIO;
    R->c_parse++;
    R->c_quar++;
}

/* Every output of the table, in order. */
static int write_sinks(run *R, table *t, const sl_batch *b, const char *const *part_names) {
    for (int k = 0; k < t->nsinks; k++) {
        int rc = t->sinks[k].def->write(t->sinks[k].self, b, part_names, R->err);
        if (rc) return rc;
    }
    return 0;
}

/* Side inputs (op.h): the rows table t output go to every step of another
 * table that reads t (a join's table). They arrive before any row read
 * later, so a table joined with t sees t's rows in the order they were made. */
static void deliver_side(run *R, const table *t, const sl_batch *b) {
    for (int k = 0; k < t->nside_out; k++) {
        const step *st = &R->p->t[t->side_out[k].table].steps[t->side_out[k].step];
        st->def->side(st->self, b, &R->ctx);
    }
}

/* Copies the table's input columns (ncols of them, in the table's order:
 * column c is column colmap[c] of `in`, or c itself when identity) and the
 * provenance of in into w. */
static void load_work(sl_batch *w, const sl_batch *in, const table_input *from, int ncols) {
    sl_batch_clear(w);
    uint32_t n = in->n;
    assert(n <= w->cap);
    for (int c = 0; c < ncols; c++) {
        const sl_column *src = &in->col[from->identity ? c : from->colmap[c]];
        assert(src->type == w->col[c].type);
        memcpy(w->col[c].null, src->null, n);
        size_t sz = src->type == SL_T_BOOL ? 1 : src->type == SL_T_STRING ? sizeof(sl_str) : 8;
        memcpy(w->col[c].v.p, src->v.p, n * sz);
    }
    memcpy(w->part, in->part, n * sizeof *in->part);
    memcpy(w->pos, in->pos, n * sizeof *in->pos);
    memcpy(w->ingest, in->ingest, n * sizeof *in->ingest);
    memcpy(w->raw, in->raw, n * sizeof *in->raw);
    memcpy(w->ref, in->ref, n * sizeof *in->ref);
    w->n = n;
}

/* ---- watermarks per input ---------------------------------------------
 * A table's watermark is the minimum over its inputs (a source has none of
 * its own: its rows get event time from a watermark step), leaving out an
 * input of a union that sent nothing for idle_timeout. It never moves back:
 * an idle input that wakes up behind it sends late rows, which the window's
 * late policy handles. The watermark of the rows a table passes on is its
 * last watermark step's, else its input's. So a window is finalised by the
 * event time of its own inputs only: a source that runs ahead never closes
 * the windows of a slower one. */
static int64_t table_wm_in(const run *R, const table *t) {
    int64_t lo = INT64_MAX, hi = INT64_MIN;
    bool any = false;
    for (int j = 0; j < t->ninputs; j++) {
        const table_input *in = &t->inputs[j];
        int64_t w = in->source >= 0 ? INT64_MIN : R->p->t[in->table].wm_out;
        if (w > hi) hi = w;
        if (t->ninputs > 1 && t->idle_timeout_us > 0 &&
            R->mono_us - in->last_rows_us >= t->idle_timeout_us)
            continue;
        if (w < lo) lo = w;
        any = true;
    }
    int64_t wm = any ? lo : hi; /* every input idle: none holds the others back */
    return wm > t->wm_in ? wm : t->wm_in;
}

static int64_t table_wm_out(const table *t) {
    if (t->win) return t->wm_in;
    int64_t wm = t->wm_in;
    for (int s = 0; s < t->nsteps; s++)
        if (t->steps[s].def->watermark) wm = t->steps[s].def->watermark(t->steps[s].self);
    return wm;
}

/* In graph order, so that each table sees its inputs' current watermarks. */
void sl__engine_refresh_watermarks(run *R) {
    for (int k = 0; k < R->p->nt; k++) {
        table *t = &R->p->t[R->p->order[k]];
        t->wm_in = table_wm_in(R, t);
        t->wm_out = table_wm_out(t);
    }
}

/* The pipeline's watermark, for the event log and status: the slowest table's. */
int64_t sl__engine_pipeline_wm(const run *R) {
    int64_t wm = INT64_MAX;
    for (int i = 0; i < R->p->nt; i++)
        if (R->p->t[i].wm_out != INT64_MIN && R->p->t[i].wm_out < wm) wm = R->p->t[i].wm_out;
    return wm == INT64_MAX ? INT64_MIN : wm;
}

/* Runs batch `in`, which came from the table's input number `input`. */
int sl__engine_run_table(run *R, int ti, const sl_batch *in, int input) {
    table *t = &R->p->t[ti];
    if (t->is_rollup) return 0;   /* fed by merges in sl__engine_emit_windows */
    if (t->wjoin && input >= 0) { /* a join holds final rows; they come out at commit */
        sl_wjoin_process(t->wjoin, input, in);
        if (in->n) t->inputs[input].last_rows_us = R->mono_us;
        t->wm_in = table_wm_in(R, t);
        t->wm_out = table_wm_out(t);
        return 0;
    }
    /* input -1: a join's emitted rows (sl__engine_emit_windows), already in t->in's order */
    assert(input >= (t->wjoin ? -1 : 0) && input < t->ninputs);
    table_input *from = input < 0 ? &t->join_out : &t->inputs[input];
    t->rows_in += in->n;
    if (in->n) from->last_rows_us = R->mono_us;
    t->wm_in = table_wm_in(R, t);
    R->ctx.watermark = t->wm_in;
    R->cur_table = t->name;
    /* what this table's steps quarantine or find late (the counters are the
     * batch's, over every table) */
    int64_t quar0 = R->ctx.quarantined, late0 = R->ctx.late;
    if (t->win) {
        if (!from->identity) {
            load_work(t->mapped, in, from, t->in.n);
            in = t->mapped;
        }
        int rc = sl_window_process(t->win, in, &R->ctx);
        t->wm_out = t->wm_in;
        t->quarantined_total += R->ctx.quarantined - quar0;
        t->late_total += R->ctx.late - late0;
        return rc;
    }
    load_work(t->work, in, from, t->in.n);
    sl_batch *b = t->work;
    for (int s = 0; s < t->nsteps && b->n; s++) {
        int rc = t->steps[s].def->process(t->steps[s].self, b, &R->ctx, R->err);
        if (rc) return rc;
        R->cur_table = t->name;
    }
    t->wm_out = table_wm_out(t);
    t->quarantined_total += R->ctx.quarantined - quar0;
    t->late_total += R->ctx.late - late0;
    if (R->failed)
        return sl_error_set(R->err, R->failed, "writing quarantine failed: %s",
                            sqlite3_errmsg(sl_store_db(R->store)));
    if (t->nproj) { /* a view of the kept columns: column structs point at work's data */
        sl_batch *v = t->view;
        v->n = b->n;
        for (int c = 0; c < t->nproj; c++)
            v->col[c] = b->col[t->proj[c]];
        v->part = b->part, v->pos = b->pos, v->ingest = b->ingest, v->raw = b->raw, v->ref = b->ref,
        v->arena = b->arena;
        b = v;
    }
    t->rows_out += b->n;
    if (b->n) {
        int rc = write_sinks(R, t, b, R->part_names);
        if (rc) return rc;
        /* the lake (the primary sink) numbered the rows: children that store
         * references take the ids with the rows (lake_ref.h) */
        if (t->ref_parent && t->sinks[0].def->row_ids(t->sinks[0].self, b->ref, b->n))
            return sl_error_set(R->err, SL_EINVAL, "table %s: its lake gave no row ids", t->name);
        deliver_side(R, t, b);
    }
    for (int c = 0; c < t->nchildren; c++) {
        int rc = sl__engine_run_table(R, t->children[c], b, t->child_input[c]);
        if (rc) return rc;
    }
    return 0;
}

/* Window tables in graph order (a rollup after the window it merges from),
 * each emission written and handed to the table's row-level children. */
int sl__engine_emit_windows(run *R, bool all_final) {
    sl__engine_refresh_watermarks(R);
    for (int k = 0; k < R->p->nt; k++) {
        table *t = &R->p->t[R->p->order[k]];
        if (!t->win) continue;
        if (!R->win_out || R->win_out->schema.n != sl_window_schema(t->win)->n) {
            sl_batch_free(R->win_out);
            /* no bigger than the children's work batches (batch_size), which load_work fills */
            R->win_out = sl_batch_new(sl_window_schema(t->win), R->p->batch_size);
        } else {
            sl_batch_reset_schema(R->win_out, sl_window_schema(t->win));
        }
        uint32_t n;
        while ((n = sl_window_emit(t->win, R->win_out, t->wm_in, all_final)) > 0) {
            t->rows_out += n;
            int rc = write_sinks(R, t, R->win_out, NULL);
            if (rc) return rc;
            deliver_side(R, t, R->win_out);
            for (int c = 0; c < t->nchildren; c++) {
                if (R->p->t[t->children[c]].is_rollup) continue;
                int rc = sl__engine_run_table(R, t->children[c], R->win_out, t->child_input[c]);
                if (rc) return rc;
            }
        }
    }
    /* Window-window joins (wjoin.h), after every window emitted this commit: a side's final
     * rows up to its watermark have reached the join, so a pair whose missing side's watermark
     * passed window end is complete. The rows go through the join table like input rows. */
    for (int k = 0; k < R->p->nt; k++) {
        int ti = R->p->order[k];
        table *t = &R->p->t[ti];
        if (!t->wjoin) continue;
        if (!R->win_out || R->win_out->schema.n != sl_wjoin_schema(t->wjoin)->n) {
            sl_batch_free(R->win_out);
            R->win_out = sl_batch_new(sl_wjoin_schema(t->wjoin), R->p->batch_size);
        } else {
            sl_batch_reset_schema(R->win_out, sl_wjoin_schema(t->wjoin));
        }
        int64_t wm_left = R->p->t[t->inputs[0].table].wm_out;
        int64_t wm_right = R->p->t[t->inputs[1].table].wm_out;
        while (sl_wjoin_emit(t->wjoin, R->win_out, wm_left, wm_right, all_final) > 0) {
            int rc = sl__engine_run_table(R, ti, R->win_out, -1);
            if (rc) return rc;
        }
    }
    return 0;
}
