/*
 * commit.c - the commit: one atomic step that makes durable everything read
 * since the last one.
 *
 * The store keeps one write transaction open between commits. A commit runs
 * four named phases inside it, then COMMIT:
 *   1. outputs:   window rows emitted and upserted, lake frames flushed and
 *                 their committed length recorded, published rows acknowledged
 *                 by Kafka (an output that is not durable yet must not be
 *                 covered by the positions written next);
 *   2. positions: every source partition's position after the rows above;
 *   3. state:     operator and window snapshots (full or delta), partition
 *                 handoffs, stored schemas;
 *   4. event log: one row describing this commit, and the server's audit
 *                 records since the last one (_sluice_audit).
 * After COMMIT the sources learn their positions are durable, the per-commit
 * counters roll into the totals and the next transaction begins. A crash
 * anywhere before COMMIT loses the open transaction whole, and recovery
 * (recover.c) resumes from the previous commit: outputs, positions and state
 * always belong to the same commit.
 */
#include <assert.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/log.h"
#include "core/timeutil.h"
#include "engine/runtime.h"
#include "store/eventlog.h"

int sl__engine_state_put(run *R, const char *id, bool full, sl_buf *buf) {
    return sl_store_put_state(R->store, id, full, buf->p, buf->n, R->err);
}

/* Phase 1: outputs. */
static int commit_outputs(run *R, bool all_final) {
    sl_error *err = R->err;
    int rc = sl__engine_emit_windows(R, all_final);
    if (rc) return rc;
    /* the end of --once input ends the digests still collecting */
    if (all_final && (rc = sl_alerts_finish(R->p->alerts, err))) return rc;
    /* delivery results since the last commit (the deliverer never writes) */
    if (R->deliverer && (rc = sl_deliverer_apply(R->deliverer, R->store, err))) return rc;
    for (int i = 0; i < R->p->nt; i++) {
        table *t = &R->p->t[i];
        for (int k = 0; k < t->nsinks; k++)
            if (t->sinks[k].def->prepare &&
                (rc = t->sinks[k].def->prepare(t->sinks[k].self, R->store, err)))
                return rc;
    }
    return 0;
}

/* Phase 2: positions. */
static void pos_cb(void *ud, const char *name, int64_t pos) {
    run *R = ((void **)ud)[0];
    source *s = ((void **)ud)[1];
    if (R->failed) return;
    if (sl_input_fence(s, name, pos, R->err))
        R->failed = SL_EFAIL;
    else if (sl_store_put_position(R->store, s->name, name, pos))
        R->failed = SL_EIO;
}

static int commit_positions(run *R) {
    for (int s = 0; s < R->p->nsrc; s++) {
        source *src = &R->p->src[s];
        void *ud[2] = {R, src};
        sl_input_each_position(src, pos_cb, ud);
        if (R->failed == SL_EFAIL) return SL_EFAIL; /* fenced: the message is in err */
        if (R->failed)
            return sl_error_set(R->err, SL_EIO, "saving the positions of source '%s' failed: %s",
                                src->name, sqlite3_errmsg(sl_store_db(R->store)));
    }
    return 0;
}

/* Phase 3: state.
 *
 * A full snapshot replaces the key's earlier rows; a delta adds one. A full
 * is written every `every` commits, and also as soon as the deltas written
 * since the last full weigh more than that full (and SNAP_DELTA_FLOOR): a
 * state that churns (a dedupe whose keys expire within minutes) would
 * otherwise pile up deltas of keys long gone, for a `--once` run or a slow
 * full_every - 15 MB for 1M camera events, against a live state of a few
 * hundred kB. So the bytes kept per key stay below twice the live state plus
 * the floor, while a large, slowly changing state still gets cheap deltas. */
#define SNAP_DELTA_FLOOR (1 << 20)

static bool want_full(int *since, int every, const sl_snap_sizes *z) {
    if (++*since >= every) return true;
    int64_t bound = z->full > SNAP_DELTA_FLOOR ? z->full : SNAP_DELTA_FLOOR;
    return z->deltas > bound;
}

static void count_snap(sl_snap_sizes *z, bool full, int *since, size_t bytes) {
    if (full) {
        z->full = (int64_t)bytes;
        z->deltas = 0;
        *since = 0;
    } else {
        z->deltas += (int64_t)bytes;
    }
}

static int commit_state(run *R, sl_buf *buf) {
    int rc;
    char key[SL_NAME_MAX + 16];
    for (int i = 0; i < R->p->nt; i++) {
        table *t = &R->p->t[i];
        for (int s = 0; s < t->nsteps; s++) {
            step *st = &t->steps[s];
            if (!st->def->snapshot) continue;
            bool full = want_full(&st->since_full, st->full_every, &st->snap);
            buf->n = 0;
            st->def->snapshot(st->self, buf, full);
            count_snap(&st->snap, full, &st->since_full, buf->n);
            if ((rc = sl__engine_state_put(R, st->id, full, buf))) return rc;
        }
        if (t->win) { /* deltas, a full snapshot every SL_WINDOW_FULL_EVERY commits, as steps */
            bool full = want_full(&t->win_since_full, SL_WINDOW_FULL_EVERY, &t->win_snap);
            buf->n = 0;
            sl_window_snapshot(t->win, buf, full);
            count_snap(&t->win_snap, full, &t->win_since_full, buf->n);
            snprintf(key, sizeof key, "%s/window", t->name);
            if ((rc = sl__engine_state_put(R, key, full, buf))) return rc;
        }
        if (t->wjoin) { /* a join's pending pairs: deltas and full snapshots as windows */
            bool full = want_full(&t->join_since_full, SL_WINDOW_FULL_EVERY, &t->join_snap);
            buf->n = 0;
            sl_wjoin_snapshot(t->wjoin, buf, full);
            count_snap(&t->join_snap, full, &t->join_since_full, buf->n);
            snprintf(key, sizeof key, "%s/join", t->name);
            if ((rc = sl__engine_state_put(R, key, full, buf))) return rc;
        }
    }
    if (R->nhandoff && (rc = sl__engine_write_handoffs(R, buf))) return rc;
    /* schema changes: the stored schema and a 'schema' event, in this commit */
    for (int i = 0; i < R->p->nsrc; i++) {
        source *src = &R->p->src[i];
        if (!src->pending_kv) continue;
        snprintf(key, sizeof key, "schema:%s", src->name);
        if (sl_store_put_kv(R->store, key, src->pending_kv))
            return sl_error_set(R->err, SL_EIO, "saving the schema of '%s' failed", src->name);
        if (src->pending_event) {
            sl_event e = sl_event_empty(++R->commit_id, "schema");
            e.details = src->pending_event;
            if ((rc = sl_eventlog_append(R->store, &e, R->err))) return rc;
        }
    }
    return 0;
}

/* The audit records since the last commit (the server's requests, ingest
 * counts of http sources, reloads, refresh switches), as _sluice_audit rows
 * in this commit's transaction (listeners never write to the store). One
 * prepared statement per commit; the records are few (one per request). A
 * record that cannot be written stays queued and the commit fails as any
 * store error does. */
typedef struct audit_ctx {
    sqlite3_stmt *st;
    sqlite3 *db;
    int64_t written;
} audit_ctx;

static int audit_row(void *ud, const sl_audit *a) {
    audit_ctx *c = ud;
    char ts[40];
    sl_store_format_ts(a->ts_us, ts, sizeof ts);
    sqlite3_reset(c->st);
    sqlite3_bind_text(c->st, 1, ts, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(c->st, 2, a->token, -1, SQLITE_STATIC);
    sqlite3_bind_text(c->st, 3, a->addr, -1, SQLITE_STATIC);
    sqlite3_bind_text(c->st, 4, a->method, -1, SQLITE_STATIC);
    sqlite3_bind_text(c->st, 5, a->route, -1, SQLITE_STATIC);
    sqlite3_bind_int(c->st, 6, a->status);
    sqlite3_bind_text(c->st, 7, a->detail, -1, SQLITE_STATIC);
    int rc = sqlite3_step(c->st) == SQLITE_DONE ? 0 : SL_EIO;
    sqlite3_clear_bindings(c->st);
    if (!rc) c->written++;
    return rc;
}

/* server.audit_retention: at most 1000 of the oldest expired rows per
 * commit (rows arrive in time order, so rowid order is time order): never a
 * long delete inside the commit. Returns the rows deleted or -1. */
static int64_t audit_expire(run *R, sqlite3 *db) {
    if (R->p->audit_retention_us <= 0) return 0;
    char ts[40];
    sl_store_format_ts(sl_now_us() - R->p->audit_retention_us, ts, sizeof ts);
    sqlite3_stmt *st = NULL;
    int64_t n = -1;
    if (sqlite3_prepare_v2(db,
                           "DELETE FROM _sluice_audit WHERE rowid IN (SELECT rowid FROM "
                           "_sluice_audit WHERE ts < ? ORDER BY rowid LIMIT 1000)",
                           -1, &st, NULL) == SQLITE_OK) {
        sqlite3_bind_text(st, 1, ts, -1, SQLITE_TRANSIENT);
        if (sqlite3_step(st) == SQLITE_DONE) n = sqlite3_changes(db);
    }
    sqlite3_finalize(st);
    return n;
}

static int commit_audit(run *R, int64_t *written) {
    if (written) *written = 0;
    /* the table is made once something was audited, or a server (whose
     * audit retention runs here) listens: a pipeline without either keeps
     * no _sluice_audit */
    if (!R->server && !sl_access_audit_pending(R->access)) return 0;
    sqlite3 *db = sl_store_db(R->store);
    audit_ctx c = {.db = db};
    if (sqlite3_exec(db,
                     "CREATE TABLE IF NOT EXISTS _sluice_audit(ts TEXT, token TEXT, addr TEXT, "
                     "method TEXT, route TEXT, status INTEGER, detail TEXT)",
                     NULL, NULL, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db,
                           "INSERT INTO _sluice_audit(ts, token, addr, method, route, status, "
                           "detail) VALUES(?,?,?,?,?,?,?)",
                           -1, &c.st, NULL) != SQLITE_OK)
        return sl_error_set(R->err, SL_EIO, "audit log in %s: %s", sqlite3_db_filename(db, "main"),
                            sqlite3_errmsg(db));
    uint64_t dropped = 0;
    int rc = sl_access_audit_drain(R->access, audit_row, &c, &dropped);
    if (rc) sl_error_set(R->err, SL_EIO, "audit log: %s", sqlite3_errmsg(db));
    sqlite3_finalize(c.st);
    int64_t expired = rc ? 0 : audit_expire(R, db);
    if (expired < 0)
        rc = sl_error_set(R->err, SL_EIO, "audit retention: %s", sqlite3_errmsg(db));
    else if (expired)
        sl_log_info("audit rows expired", "\"rows\":%lld", (long long)expired);
    if (written) *written = c.written + (expired > 0 ? expired : 0);
    if (dropped)
        sl_log_warn("audit records dropped (more requests than a commit interval holds)",
                    "\"dropped\":%llu", (unsigned long long)dropped);
    return rc;
}

/* Phase 4: the event log row of this commit. */
static int commit_event_log(run *R, bool all_final, int64_t t0) {
    int64_t now = sl_now_us();
    sl_event e = sl_event_empty(R->commit_id + 1, all_final ? "final" : "commit");
    e.records_in = R->c_in, e.parse_errors = R->c_parse, e.quarantined = R->c_quar,
    e.late = R->c_late;
    e.duplicates = R->c_dup, e.filtered = R->c_filt, e.dropped = R->c_drop;
    e.watermark_us = sl__engine_pipeline_wm(R);
    if (R->ctx.lag_n) {
        e.lag_avg_ms = R->ctx.lag_sum_us / (double)R->ctx.lag_n / 1000.0;
        e.lag_max_ms = (double)R->ctx.lag_max_us / 1000.0;
    }
    if (R->c_ingest_n)
        e.proc_ms =
            ((double)(now - R->ingest_base) - (double)R->c_ingest_sum / (double)R->c_ingest_n) /
            1000.0;
    char details[8192];
    int dn = snprintf(details, sizeof details, "{\"tables\":{");
    for (int i = 0; i < R->p->nt; i++) {
        table *t = &R->p->t[i];
        t->rows_total_in += t->rows_in;
        t->rows_total_out += t->rows_out;
        /* retention's deletes of this commit (the sinks count since open) */
        int64_t expired = 0;
        for (int k = 0; k < t->nsinks; k++)
            if (t->sinks[k].def->rows_expired)
                expired += t->sinks[k].def->rows_expired(t->sinks[k].self);
        t->rows_expired = expired - t->rows_total_expired;
        t->rows_total_expired = expired;
        if (dn < (int)sizeof details - 200) {
            dn += snprintf(details + dn, sizeof details - (size_t)dn,
                           "%s\"%s\":{\"in\":%lld,\"out\":%lld", i ? "," : "", t->name,
                           (long long)t->rows_in, (long long)t->rows_out);
            if (t->rows_expired)
                dn += snprintf(details + dn, sizeof details - (size_t)dn, ",\"expired\":%lld",
                               (long long)t->rows_expired);
            dn += snprintf(details + dn, sizeof details - (size_t)dn, "}");
        }
        t->rows_in = t->rows_out = 0;
    }
    dn += snprintf(details + dn, sizeof details - (size_t)dn, "},\"ops\":[");
    int first = 1;
    for (int i = 0; i < R->p->nt; i++)
        for (int s = 0; s < R->p->t[i].nsteps; s++) {
            step *st = &R->p->t[i].steps[s];
            if (!st->def->stats || dn > (int)sizeof details - 1200) continue;
            dn += snprintf(details + dn, sizeof details - (size_t)dn,
                           "%s{\"op\":\"%s\",\"stats\":", first ? "" : ",", st->id);
            dn += sl_op_stats_json(st->def, st->self, details + dn, sizeof details - (size_t)dn);
            dn += snprintf(details + dn, sizeof details - (size_t)dn, "}");
            first = 0;
        }
    for (int i = 0; i < R->p->nt; i++) { /* window-window joins: {"op": "table/join", ...} */
        const table *t = &R->p->t[i];
        if (!t->wjoin || dn > (int)sizeof details - 400) continue;
        sl_wjoin_stats js;
        sl_wjoin_get_stats(t->wjoin, &js);
        dn += snprintf(details + dn, sizeof details - (size_t)dn,
                       "%s{\"op\":\"%s/join\",\"stats\":{\"pending\":%lld,\"bytes\":%lld,"
                       "\"matched\":%lld,\"unmatched\":%lld,\"ignored_open\":%lld}}",
                       first ? "" : ",", t->name, (long long)js.pending, (long long)js.bytes,
                       (long long)js.matched, (long long)js.unmatched, (long long)js.ignored_open);
        first = 0;
    }
    /* consumer lag in the event log: what a Kafka lag alert rule reads */
    for (int s = 0; s < R->p->nsrc; s++) {
        sl_source_stats st;
        sl_input_stats(&R->p->src[s], &st);
        if (st.consumer_lag >= 0)
            e.consumer_lag = (e.consumer_lag > 0 ? e.consumer_lag : 0) + st.consumer_lag;
    }
    if (e.consumer_lag >= 0 && dn < (int)sizeof details - 64)
        dn += snprintf(details + dn, sizeof details - (size_t)dn, "],\"consumer_lag\":%lld",
                       (long long)e.consumer_lag);
    else
        dn += snprintf(details + dn, sizeof details - (size_t)dn, "]");
    snprintf(details + dn, sizeof details - (size_t)dn, ",\"rss_kb\":%lld}",
             (long long)sl__engine_rss_kb());
    e.details = details;
    e.commit_ms = (double)(sl_monotonic_us() - t0) / 1000.0;
    e.ts_us = now; /* the row's ts is the clock of the rules that see it */
    int rc = sl_eventlog_append(R->store, &e, R->err);
    if (!rc) R->commit_id = e.commit_id;
    /* rules over _sluice_events see this row in the commit it describes */
    if (!rc) rc = sl_alerts_on_event(R->p->alerts, &e, now, R->err);
    return rc;
}

/* After COMMIT: sources learn what is durable; counters roll over. */
static void committed(run *R, int64_t t0) {
    for (int s = 0; s < R->p->nsrc; s++) {
        source *src = &R->p->src[s];
        sl_input_committed(src);
        free(src->pending_kv);
        free(src->pending_event);
        src->pending_kv = src->pending_event = NULL;
    }
    if (R->c_in) R->last_input_commit_wall_us = sl_now_us();
    R->t_in += R->c_in, R->t_quar += R->c_quar, R->t_late += R->c_late, R->t_dup += R->c_dup;
    R->t_filt += R->c_filt, R->t_drop += R->c_drop, R->t_parse += R->c_parse;
    R->c_in = R->c_quar = R->c_late = R->c_dup = R->c_filt = R->c_drop = R->c_parse = 0;
    R->c_ingest_sum = R->c_ingest_n = 0;
    R->ingest_base = sl_now_us();
    R->ctx.lag_sum_us = R->ctx.lag_max_us = R->ctx.lag_n = 0;
    R->last_commit_us = sl_monotonic_us();
    R->last_commit_wall_us = sl_now_us();
    R->last_commit_ms = (double)(R->last_commit_us - t0) / 1000.0;
    sl__engine_account_freshness(R);
    R->dirty = false;
    sl__engine_build_metrics(R);
    if (R->server) sl_server_publish(R->server, R->commit_id, R->metrics);
    if (R->deliverer) sl_deliverer_kick(R->deliverer); /* new outbox rows are visible */
    sl_log_debug("committed", "\"commit\":%lld,\"ms\":%.1f", (long long)R->commit_id,
                 R->last_commit_ms);
}

int sl__engine_commit(run *R, bool all_final) {
    int64_t t0 = sl_monotonic_us();
    sl_error *err = R->err;
    sl_buf buf = {0};
    int rc = commit_outputs(R, all_final);
    /* an output that cannot be made durable now (SL_EAGAIN: a PostgreSQL
     * store is unreachable): nothing after phase 1 has run, the store's
     * transaction stays open, and sl__engine_commit_wait tries again */
    R->outputs_stalled = rc == SL_EAGAIN;
    if (rc == SL_EAGAIN) return rc;
    if (!rc) rc = commit_positions(R);
    if (!rc) rc = commit_state(R, &buf);
    sl_buf_free(&buf);
    if (!rc) rc = commit_audit(R, NULL);
    if (!rc) rc = commit_event_log(R, all_final, t0);
    if (!rc) rc = sl_store_commit(R->store, err);
    if (rc) return rc;
    committed(R, t0);
    /* Another process holding the database's write lock stalls the
     * pipeline, it does not end it: input waits on disk or in Kafka (the
     * source is not read meanwhile), /healthz keeps answering, and the
     * checkpoint age on /metrics shows the stall. At start-up the same lock
     * is an error instead (recover.c): most likely a second `sluice run` on
     * the same data directory. */
    for (int waited = 0;
         (rc = sl_store_begin(R->store, err)) == SL_EAGAIN && !(R->opts->stop && *R->opts->stop);) {
        waited += 5;
        sl_log_warn("database locked by another process: waiting",
                    "\"pipeline\":\"%s\",\"waited_s\":%d", R->p->name, waited);
        err->msg[0] = 0;
        err->code = 0;
    }
    return rc;
}

int sl__engine_audit_idle(run *R) {
    int64_t changed = 0;
    int rc = commit_audit(R, &changed);
    if (rc || !changed) return rc;
    if (!(rc = sl_store_commit(R->store, R->err))) rc = sl_store_begin(R->store, R->err);
    return rc;
}

/* The commit, waiting out outputs that are unavailable for a while (a
 * PostgreSQL store stopped, restarting or cut off). Phase 1 is the only
 * place that may say "not now", and it says so before the positions are
 * written: the open SQLite transaction then holds outputs only (rows of
 * sqlite tables, lake lengths), and running phase 1 again on it is safe:
 * windows emit only what changed since, each sink makes durable what it has
 * not yet (the postgresql sink keeps its rows until its server has them).
 * Meanwhile nothing is read (the input waits on disk or in Kafka), /readyz
 * answers 503 with the reason, and the state changes are logged once each.
 * Backoff from 250 ms doubling to 5 s; a stop (signal) while waiting ends
 * the run without committing: the interval is replayed at the next start. */
int sl__engine_commit_wait(run *R, bool all_final) {
    int rc = sl__engine_commit(R, all_final);
    if (rc != SL_EAGAIN || !R->outputs_stalled) return rc;
    char esc[6 * SL_ERROR_MAX];
    sl_json_escape(esc, sizeof esc, R->err->msg, (int)strlen(R->err->msg));
    sl_log_warn("commit waiting for an output: input paused",
                "\"pipeline\":\"%s\",\"error\":\"%s\"", R->p->name, esc);
    if (R->server) sl_server_set_not_ready(R->server, R->err->msg);
    int64_t backoff_ms = 250, since = sl_monotonic_us();
    while (rc == SL_EAGAIN && R->outputs_stalled) {
        for (int64_t slept = 0; slept < backoff_ms; slept += 50) {
            if (R->poll_signals) R->poll_signals(R);
            if (R->stop || (R->opts->stop && *R->opts->stop))
                return sl_error_set(R->err, SL_EIO,
                                    "stopped while a commit waited for an output (%s): the "
                                    "interval is not committed and is read again at the next start",
                                    R->err->msg);
            nanosleep(&(struct timespec){0, 50000000}, NULL);
        }
        R->err->code = 0;
        R->err->msg[0] = 0;
        rc = sl__engine_commit(R, all_final);
        backoff_ms = backoff_ms * 2 > 5000 ? 5000 : backoff_ms * 2;
    }
    if (rc) return rc;
    sl_log_info("commit resumed", "\"pipeline\":\"%s\",\"waited_s\":%.1f", R->p->name,
                (double)(sl_monotonic_us() - since) / 1e6);
    if (R->server) sl_server_set_ready(R->server, true);
    return 0;
}
