/*
 * recover.c - start-up: the data directory, the store and its event log,
 * stored schemas, each table's writer or lake (truncated back to its
 * committed length), operator and window state restored from the last
 * commit, and the sources opened at the committed positions. Nothing is
 * replayed or suppressed: nothing uncommitted ever became visible.
 */
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/mem.h"
#include "core/log.h"
#include "core/timeutil.h"
#include "engine/runtime.h"
#include "sinks/pg_sink.h"
#include "store/eventlog.h"

typedef struct {
    run *R;
    step *st;
    table *t;
} restore_ud;

static int restore_step_cb(void *ud, bool full, const void *data, size_t n, sl_error *err) {
    restore_ud *u = ud;
    return u->st->def->restore(u->st->self, data, n, full, err);
}

static int restore_join_cb(void *ud, bool full, const void *data, size_t n, sl_error *err) {
    restore_ud *u = ud;
    int rc = sl_wjoin_restore(u->t->wjoin, data, n, full, err);
    if (rc) sl_error_set(err, rc, "table '%s': %s", u->t->name, err->msg);
    return rc;
}

static int restore_window_cb(void *ud, bool full, const void *data, size_t n, sl_error *err) {
    restore_ud *u = ud;
    int rc = sl_window_restore(u->t->win, data, n, full, err);
    if (rc)
        sl_error_set(err, rc, "table '%s': %s", u->t->name,
                     err->msg); /* sl_error_set may wrap err->msg */
    return rc;
}

int sl__engine_setup(run *R) {
    sl_pipeline *p = R->p;
    sl_error *err = R->err;
    char path[PATH_MAX + 64];
    char base[PATH_MAX];
    if (sl_pipeline_data_dir(p, R->opts->data_dir, base, sizeof base, true, err)) return err->code;
    R->parted = p->part_column && R->opts->instance;
    snprintf(R->base, sizeof R->base, "%s", base);
    if (R->opts->instance) {
        char inst[PATH_MAX];
        snprintf(inst, sizeof inst, "%.*s/instance-%s", (int)(sizeof inst - 80), base,
                 R->opts->instance);
        if (sl_pipeline_data_dir(p, inst, R->dir, sizeof R->dir, true, err)) return err->code;
    } else {
        snprintf(R->dir, sizeof R->dir, "%s", base);
    }
    snprintf(path, sizeof path, "%s/sluice.db", R->dir);
    R->store = sl_store_open(path, false, err);
    if (!R->store) return err->code;
    int rc = sl_eventlog_init(R->store, err);
    if (rc) return rc;
    if ((rc = sl_store_begin(R->store, err))) return rc;
    /* schemas of inferring/evolving sources: the stored ones win (this may
     * recompile the pipeline); new ones are stored with the next commit */
    if ((rc = sl_pipeline_resolve_schemas(p, R->store, true, err))) return rc;
    for (int s = 0; s < p->nsrc; s++)
        if (p->src[s].pending_kv) R->dirty = true;
    /* counters and commit id from the event log */
    sl_event tot;
    if ((rc = sl_eventlog_totals(R->store, &tot, err))) return rc;
    R->commit_id = tot.commit_id;
    R->t_in = tot.records_in, R->t_quar = tot.quarantined, R->t_late = tot.late,
    R->t_dup = tot.duplicates;
    R->t_filt = tot.filtered, R->t_drop = tot.dropped, R->t_parse = tot.parse_errors;
    for (int i = 0; i < p->nt; i++) {
        table *t = &p->t[i];
        t->work = sl_batch_new(&t->full, p->batch_size);
        for (int j = 0; j < t->ninputs; j++)
            if (t->win && !t->inputs[j].identity && !t->mapped)
                t->mapped = sl_batch_new(&t->in, p->batch_size);
        if (t->nproj) {
            t->view = sl_xcalloc(1, sizeof *t->view);
            t->view->schema = t->out;
            t->view->cap = t->work->cap;
        }
        sl_sink_env env;
        sl_pipeline_sink_env(p, t, &env);
        env.data_dir = R->dir;
        env.store = R->store;
        env.instance = R->opts->instance;
        for (int k = 0; k < t->nsinks; k++)
            if ((rc = t->sinks[k].def->open(t->sinks[k].self, &env, err))) return rc;
        restore_ud u = {R, NULL, t};
        for (int s = 0; s < t->nsteps; s++) {
            u.st = &t->steps[s];
            if (R->parted && sl__engine_step_parted(t, u.st))
                continue; /* restored per partition on assignment */
            if (u.st->def->restore &&
                (rc = sl_store_load_state(R->store, u.st->id, restore_step_cb, &u, err)))
                return rc;
        }
        if (t->win && !(R->parted && sl__engine_win_parted(t))) {
            char key[128];
            snprintf(key, sizeof key, "%s/window", t->name);
            if ((rc = sl_store_load_state(R->store, key, restore_window_cb, &u, err))) return rc;
        }
        if (t->wjoin) { /* a join's pending pairs (not partitioned: kept whole per instance) */
            char key[128];
            snprintf(key, sizeof key, "%s/join", t->name);
            if ((rc = sl_store_load_state(R->store, key, restore_join_cb, &u, err))) return rc;
        }
    }
    if ((rc = sl_alerts_open(p->alerts, R->store, err))) return rc;
    for (int v = 0; v < p->nviews; v++) {
        char *sql = sqlite3_mprintf("DROP VIEW IF EXISTS \"%w\"; CREATE VIEW \"%w\" AS %s",
                                    p->views[v].name, p->views[v].name, p->views[v].sql);
        rc = sl_store_exec(R->store, sql, err);
        sqlite3_free(sql);
        if (rc) return sl_error_set(err, SL_EINVAL, "view '%s': %s", p->views[v].name, err->msg);
    }
    if (p->nviews && sl_pipeline_store_url(p)) { /* the views over the tables people read */
        const char *names[SL_MAX_VIEWS], *sqls[SL_MAX_VIEWS];
        for (int v = 0; v < p->nviews; v++)
            names[v] = p->views[v].name, sqls[v] = p->views[v].sql;
        rc = sl_pg_create_views(sl_pipeline_store_url(p), p->nviews, names, sqls, err);
        if (rc == SL_EAGAIN) { /* unreachable: the next start creates them */
            char m[6 * SL_ERROR_MAX];
            sl_json_escape(m, sizeof m, err->msg, (int)strlen(err->msg));
            sl_log_warn("views not created in PostgreSQL (unreachable): the next start does it",
                        "\"error\":\"%s\"", m);
            err->code = 0, err->msg[0] = 0;
        } else if (rc) {
            return rc;
        }
    }
    for (int s = 0; s < p->nsrc; s++) {
        source *src = &p->src[s];
        src->on_revoke = sl__engine_revoke_commit;
        src->on_assign = sl__engine_assign_restore;
        src->revoke_ud = R;
        src->access = R->access;
        if (R->opts->instance) { /* for partitions assigned to this instance */
            snprintf(path, sizeof path, "%s/sluice.db", R->dir);
            src->siblings = sl_siblings_new(base, path);
        }
        if ((rc = sl_input_open(src, R->store, p->name, R->opts->instance, R->opts->once,
                                p->batch_size, err)))
            return rc;
    }
    /* the tables' watermarks from the restored watermark steps */
    R->mono_us = sl_monotonic_us();
    for (int i = 0; i < p->nt; i++) {
        table *t = &p->t[i];
        t->wm_in = t->wm_out = INT64_MIN;
        for (int j = 0; j < t->ninputs; j++)
            t->inputs[j].last_rows_us = R->mono_us;
    }
    sl__engine_refresh_watermarks(R);
    return 0;
}
