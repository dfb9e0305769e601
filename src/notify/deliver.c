/*
 * deliver.c - the delivery thread, and `sluice alert test`.
 *
 * The thread owns everything it touches except the job table, which the
 * engine reads in sl_deliverer_apply: that table is under a mutex held only
 * for bookkeeping, never across a network wait. It reads pending rows with
 * its own read-only connection (WAL: it never blocks the engine's writer),
 * tracks at most MAX_TRACKED of them in memory (rows beyond stay durable in
 * the store and are read once earlier ones are done), and waits in
 * curl_multi_poll, which kick and stop interrupt (curl_multi_wakeup).
 */
#include <curl/curl.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/mem.h"
#include "core/timeutil.h"
#include "notify/internal.h"

#define MAX_TRACKED 1024
#define MAX_INFLIGHT 8    /* all channels together */
#define MAX_INFLIGHT_CH 4 /* one healthy channel; a failing one gets a single probe */
#define SCAN_EVERY_US 1000000

enum { J_WAIT, J_FLIGHT, J_DONE };
enum { R_PENDING, R_SENT, R_FAILED };
static const char *const row_state[] = {"pending", "sent", "failed"};

typedef struct job {
    int64_t id;
    char *idem, *kind, *payload, *alert_id;
    int ch;
    int st;       /* J_* */
    int result;   /* R_*: what the row should say */
    bool dirty;   /* result not yet applied */
    int attempts; /* total, as stored */
    int64_t created_us, next_us, sent_us;
    int last_status;
    char *last_error;
    sl__xfer *x;
} job;

typedef struct ch_state {
    int64_t blocked_until;
    int fails, inflight;
    int64_t sent, failed, retries, pending_rows;
    bool warned_off;
} ch_state;

struct sl_deliverer {
    pthread_t th;
    pthread_mutex_t mu;
    const sl_channels *ch;
    char *path, *pipeline;
    sqlite3 *db;
    sqlite3_stmt *rows, *counts;
    CURLM *m;
    job *jobs;
    int njobs;
    int64_t max_id;
    ch_state *cs;
    atomic_bool stop, kicked;
    bool warned_unknown;
    uint64_t rng;
    int inflight;
};

static double rnd(sl_deliverer *d) {
    d->rng ^= d->rng << 13;
    d->rng ^= d->rng >> 7;
    d->rng ^= d->rng << 17;
    return (double)(d->rng >> 11) / 9007199254740992.0;
}

static void free_job(job *j) {
    free(j->idem);
    free(j->kind);
    free(j->payload);
    free(j->alert_id);
    free(j->last_error);
    sl__xfer_free(j->x);
}

static void log_event(const sl_deliverer *d, sl_log_level lvl, const char *msg,
                      const sl__notify_channel *c, const job *j, const char *reason) {
    if (!sl_log_enabled(lvl)) return;
    char er[600], idem[200], name[200], host[260], pipe[200];
    sl_json_escape(er, sizeof er, reason, (int)strlen(reason));
    sl_json_escape(idem, sizeof idem, j->idem, (int)strlen(j->idem));
    sl_json_escape(name, sizeof name, c->name, (int)strlen(c->name));
    sl_json_escape(host, sizeof host, c->host, (int)strlen(c->host));
    sl_json_escape(pipe, sizeof pipe, d->pipeline, (int)strlen(d->pipeline));
    /* the channel's name and host only: URLs and keys may hold secrets */
    sl_log(lvl, msg,
           "\"pipeline\":\"%s\",\"channel\":\"%s\",\"type\":\"%s\",\"host\":\"%s\","
           "\"idem_key\":\"%s\",\"attempts\":%d,\"reason\":\"%s\"",
           pipe, name, sl__notify_type_name(c->type), host, idem, j->attempts, er);
}

/* ---- reading the outbox ---- */
static bool open_db(sl_deliverer *d) {
    if (d->rows) return true;
    if (!d->db) {
        char ro[4200];
        const char *name = sl_store_ro_name(d->path, ro, sizeof ro);
        if (sqlite3_open_v2(name, &d->db, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI, NULL) !=
            SQLITE_OK) {
            sqlite3_close(d->db);
            d->db = NULL;
            return false;
        }
        sqlite3_busy_timeout(d->db, 200);
    }
    /* the table may not exist yet: prepared again on the next scan */
    if (sqlite3_prepare_v2(
            d->db,
            "SELECT id, idem_key, channel, kind, payload, attempts, created_at, alert_id "
            "FROM _sluice_outbox WHERE state = 'pending' AND id > ? ORDER BY id "
            "LIMIT ?",
            -1, &d->rows, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(d->db,
                           "SELECT channel, count(*) FROM _sluice_outbox WHERE state = 'pending' "
                           "GROUP BY channel",
                           -1, &d->counts, NULL) != SQLITE_OK) {
        sqlite3_finalize(d->rows);
        d->rows = NULL;
        return false;
    }
    return true;
}

/* Reads new pending rows and the pending counts. The SQLite reads run
 * without the mutex (apply must never wait for them): only this thread
 * appends jobs, so slots past njobs are filled first and published after. */
static void scan(sl_deliverer *d, int64_t now) {
    if (!open_db(d)) return;
    int room = MAX_TRACKED - d->njobs, added = 0;
    if (room > 0) {
        sqlite3_bind_int64(d->rows, 1, d->max_id);
        sqlite3_bind_int(d->rows, 2, room);
        while (sqlite3_step(d->rows) == SQLITE_ROW) {
            int64_t id = sqlite3_column_int64(d->rows, 0);
            d->max_id = id;
            const char *chn = (const char *)sqlite3_column_text(d->rows, 2);
            int ci = sl_channels_find(d->ch, chn);
            if (ci < 0 || !d->ch->ch[ci].enabled) {
                /* left pending: it goes out once a run has the channel again */
                if (ci >= 0 && !d->cs[ci].warned_off) {
                    d->cs[ci].warned_off = true;
                    char e[200];
                    const char *nm = d->ch->ch[ci].name;
                    sl_json_escape(e, sizeof e, nm, (int)strlen(nm));
                    sl_log_warn("notifications for a channel that is off stay pending",
                                "\"channel\":\"%s\"", e);
                } else if (ci < 0 && !d->warned_unknown) {
                    d->warned_unknown = true;
                    char e[200];
                    sl_json_escape(e, sizeof e, chn ? chn : "", chn ? (int)strlen(chn) : 0);
                    sl_log_warn("notifications for a channel not configured stay pending",
                                "\"channel\":\"%s\"", e);
                }
                continue;
            }
            job *j = &d->jobs[d->njobs + added++];
            memset(j, 0, sizeof *j);
            j->id = id;
            j->idem = sl_xstrdup((const char *)sqlite3_column_text(d->rows, 1));
            j->ch = ci;
            j->kind = sl_xstrdup((const char *)sqlite3_column_text(d->rows, 3));
            j->payload = sl_xstrdup((const char *)sqlite3_column_text(d->rows, 4));
            j->attempts = sqlite3_column_int(d->rows, 5);
            const char *cr = (const char *)sqlite3_column_text(d->rows, 6);
            if (!cr || sl_time_parse_iso(cr, strlen(cr), &j->created_us)) j->created_us = now;
            const char *aid = (const char *)sqlite3_column_text(d->rows, 7);
            j->alert_id = sl_xstrdup(aid ? aid : "");
            j->next_us = now;
            j->st = J_WAIT;
        }
        sqlite3_reset(d->rows);
    }
    int64_t counts[d->ch->n + 1];
    memset(counts, 0, sizeof counts);
    while (sqlite3_step(d->counts) == SQLITE_ROW) {
        int ci = sl_channels_find(d->ch, (const char *)sqlite3_column_text(d->counts, 0));
        if (ci >= 0) counts[ci] = sqlite3_column_int64(d->counts, 1);
    }
    sqlite3_reset(d->counts);
    pthread_mutex_lock(&d->mu);
    d->njobs += added;
    for (int i = 0; i < d->ch->n; i++)
        d->cs[i].pending_rows = counts[i];
    pthread_mutex_unlock(&d->mu);
}

/* Drops the jobs whose final result the engine has applied. */
static void compact(sl_deliverer *d) {
    pthread_mutex_lock(&d->mu);
    int k = 0;
    for (int i = 0; i < d->njobs; i++) {
        if (d->jobs[i].st == J_DONE && !d->jobs[i].dirty) {
            free_job(&d->jobs[i]);
            continue;
        }
        d->jobs[k++] = d->jobs[i];
    }
    d->njobs = k;
    pthread_mutex_unlock(&d->mu);
}

static void finish(job *j, int result, int status, const char *reason, int64_t now) {
    j->st = J_DONE;
    j->result = result;
    j->last_status = status;
    free(j->last_error);
    j->last_error = result == R_SENT ? NULL : sl_xstrdup(reason);
    if (result == R_SENT) j->sent_us = now;
    j->dirty = true;
}

/* How many transfers a channel may have at once: a failing one gets a
 * single probe, so a service that is down is not flooded. */
static int ch_cap(const ch_state *cs) { return cs->fails ? 1 : MAX_INFLIGHT_CH; }

/* Whether an earlier notification of the same alert on the same channel is
 * not done yet: they go out in order, so a resolve never overtakes its
 * trigger (PagerDuty would keep the incident open). */
static bool earlier_open(const sl_deliverer *d, int i) {
    const job *j = &d->jobs[i];
    if (!j->alert_id[0]) return false;
    for (int k = i - 1; k >= 0; k--) {
        const job *e = &d->jobs[k];
        if (e->ch == j->ch && e->st != J_DONE && !strcmp(e->alert_id, j->alert_id)) return true;
    }
    return false;
}

static void dispatch(sl_deliverer *d, int64_t now) {
    for (int i = 0; i < d->njobs && d->inflight < MAX_INFLIGHT; i++) {
        job *j = &d->jobs[i];
        if (j->st != J_WAIT || j->next_us > now) continue;
        ch_state *cs = &d->cs[j->ch];
        if (cs->blocked_until > now) continue;
        if (cs->inflight >= ch_cap(cs)) continue;
        if (earlier_open(d, i)) continue;
        const sl__notify_channel *c = &d->ch->ch[j->ch];
        sl__notify_msg msg;
        sl_error err = {0};
        if (sl__notify_build(c, j->kind, j->idem, j->payload, sl_now_us(), &msg, &err)) {
            pthread_mutex_lock(&d->mu);
            finish(j, R_FAILED, 0, err.msg, now);
            cs->failed++;
            pthread_mutex_unlock(&d->mu);
            log_event(d, SL_LOG_WARN, "notification failed", c, j, err.msg);
            continue;
        }
        j->x = sl__xfer_new(c, j->idem, j->kind, &msg, false);
        sl__notify_msg_free(&msg);
        curl_multi_add_handle(d->m, sl__xfer_easy(j->x));
        pthread_mutex_lock(&d->mu);
        j->st = J_FLIGHT;
        pthread_mutex_unlock(&d->mu);
        cs->inflight++;
        d->inflight++;
    }
}

static job *job_of(sl_deliverer *d, CURL *e) {
    for (int i = 0; i < d->njobs; i++)
        if (d->jobs[i].x && sl__xfer_easy(d->jobs[i].x) == e) return &d->jobs[i];
    return NULL;
}

static void harvest(sl_deliverer *d) {
    CURLMsg *msg;
    int left;
    while ((msg = curl_multi_info_read(d->m, &left))) {
        if (msg->msg != CURLMSG_DONE) continue;
        job *j = job_of(d, msg->easy_handle);
        if (!j) continue;
        int status;
        int64_t retry_after;
        char reason[700];
        sl__xresult r =
            sl__xfer_result(j->x, msg->data.result, &status, reason, sizeof reason, &retry_after);
        curl_multi_remove_handle(d->m, msg->easy_handle);
        sl__xfer_free(j->x);
        j->x = NULL;
        ch_state *cs = &d->cs[j->ch];
        const sl__notify_channel *c = &d->ch->ch[j->ch];
        cs->inflight--;
        d->inflight--;
        int64_t now = sl_now_us();
        pthread_mutex_lock(&d->mu);
        j->attempts++;
        if (r == SL__X_OK) {
            finish(j, R_SENT, status, reason, now);
            cs->sent++;
            if (cs->fails) {
                char e[200];
                sl_json_escape(e, sizeof e, c->name, (int)strlen(c->name));
                sl_log_info("channel delivers again", "\"channel\":\"%s\"", e);
            }
            cs->fails = 0;
            cs->blocked_until = 0;
        } else if (r == SL__X_FAIL || now >= j->created_us + c->give_up_us) {
            char why[800];
            if (r == SL__X_FAIL)
                snprintf(why, sizeof why, "%s", reason);
            else
                snprintf(why, sizeof why, "gave up after %d attempt%s: %s", j->attempts,
                         j->attempts == 1 ? "" : "s", reason);
            finish(j, R_FAILED, status, why, now);
            cs->failed++;
            pthread_mutex_unlock(&d->mu);
            log_event(d, SL_LOG_WARN, "notification failed", c, j, why);
            continue;
        } else {
            cs->retries++;
            cs->fails++;
            int64_t delay = retry_after > 0
                                ? retry_after
                                : sl__notify_backoff_us(j->attempts, c->max_backoff_us, rnd(d));
            int64_t deadline = j->created_us + c->give_up_us;
            j->next_us = now + delay < deadline ? now + delay : deadline;
            j->st = J_WAIT;
            j->result = R_PENDING;
            j->last_status = status;
            free(j->last_error);
            j->last_error = sl_xstrdup(reason);
            j->dirty = true;
            /* the whole channel waits: hammering a service that said no helps nobody */
            if (j->next_us > cs->blocked_until) cs->blocked_until = j->next_us;
            pthread_mutex_unlock(&d->mu);
            log_event(d, cs->fails == 1 ? SL_LOG_WARN : SL_LOG_DEBUG,
                      "notification will be retried", c, j, reason);
            continue;
        }
        pthread_mutex_unlock(&d->mu);
        log_event(d, SL_LOG_DEBUG, "notification sent", c, j, reason);
    }
}

/* When the loop must look again: the next scan, or the first job that
 * could be dispatched then. Jobs held back by a concurrency limit are not
 * counted: the end of a transfer wakes the poll anyway (and counting them
 * would spin the loop while transfers run). */
static int64_t next_wake(sl_deliverer *d, int64_t now, int64_t next_scan) {
    int64_t t = next_scan;
    for (int i = 0; i < d->njobs && d->inflight < MAX_INFLIGHT; i++) {
        const job *j = &d->jobs[i];
        if (j->st != J_WAIT) continue;
        if (d->cs[j->ch].inflight >= ch_cap(&d->cs[j->ch])) continue;
        int64_t w = j->next_us;
        if (d->cs[j->ch].blocked_until > w) w = d->cs[j->ch].blocked_until;
        if (w < t && !earlier_open(d, i)) t = w;
    }
    return t < now ? now : t;
}

static void *run(void *arg) {
    sl_deliverer *d = arg;
    int64_t next_scan = 0;
    while (!atomic_load(&d->stop)) {
        int64_t now = sl_now_us();
        if (atomic_exchange(&d->kicked, false) || now >= next_scan) {
            compact(d);
            scan(d, now);
            next_scan = now + SCAN_EVERY_US;
        }
        dispatch(d, now);
        int running = 0;
        curl_multi_perform(d->m, &running);
        harvest(d);
        if (atomic_load(&d->stop)) break;
        dispatch(d, sl_now_us());
        now = sl_now_us();
        int64_t wait = next_wake(d, now, next_scan) - now;
        int ms = (int)(wait / 1000);
        if (ms > 1000) ms = 1000;
        if (d->inflight && ms > 100) ms = 100; /* timeouts of transfers are checked by perform */
        if (ms > 0 || running) curl_multi_poll(d->m, NULL, 0, ms, NULL);
    }
    return NULL;
}

sl_deliverer *sl_deliverer_start(const char *store_path, const sl_channels *ch,
                                 const char *pipeline, sl_error *err) {
    if (!store_path || !ch) {
        sl_error_set(err, SL_EINVAL, "deliverer: a store path and channels are needed");
        return NULL;
    }
    sl__notify_curl_init();
    sl_deliverer *d = sl_xcalloc(1, sizeof *d);
    d->ch = ch;
    d->path = sl_xstrdup(store_path);
    d->pipeline = sl_xstrdup(pipeline ? pipeline : "");
    d->jobs = sl_xcalloc(MAX_TRACKED, sizeof *d->jobs);
    d->cs = sl_xcalloc((size_t)ch->n + 1, sizeof *d->cs);
    d->rng = (uint64_t)sl_now_us() ^ (uint64_t)(uintptr_t)d ^ 0x9E3779B97F4A7C15ull;
    if (!d->rng) d->rng = 1;
    d->m = curl_multi_init();
    pthread_mutex_init(&d->mu, NULL);
    atomic_init(&d->stop, false);
    atomic_init(&d->kicked, true);
    if (!d->m || pthread_create(&d->th, NULL, run, d)) {
        sl_error_set(err, SL_EIO, "deliverer: cannot start its thread");
        if (d->m) curl_multi_cleanup(d->m);
        pthread_mutex_destroy(&d->mu);
        free(d->jobs);
        free(d->cs);
        free(d->path);
        free(d->pipeline);
        free(d);
        return NULL;
    }
    return d;
}

void sl_deliverer_kick(sl_deliverer *d) {
    if (!d) return;
    atomic_store(&d->kicked, true);
    curl_multi_wakeup(d->m);
}

int sl_deliverer_apply(sl_deliverer *d, sl_store *s, sl_error *err) {
    if (!d) return 0;
    sqlite3 *db = sl_store_db(s);
    sqlite3_stmt *st = NULL;
    int rc = 0;
    pthread_mutex_lock(&d->mu);
    bool any = false;
    for (int i = 0; i < d->njobs && !any; i++)
        any = d->jobs[i].dirty;
    if (!any) goto out;
    if (sqlite3_prepare_v2(db,
                           "UPDATE _sluice_outbox SET state = ?, attempts = ?, sent_at = ?, "
                           "last_status = ?, last_error = ? WHERE id = ?",
                           -1, &st, NULL) != SQLITE_OK) {
        rc = sl_error_set(err, SL_EIO, "outbox: %s", sqlite3_errmsg(db));
        goto out;
    }
    for (int i = 0; i < d->njobs; i++) {
        job *j = &d->jobs[i];
        if (!j->dirty) continue;
        char ts[40];
        sqlite3_bind_text(st, 1, row_state[j->result], -1, SQLITE_STATIC);
        sqlite3_bind_int(st, 2, j->attempts);
        if (j->result == R_SENT) {
            sl_store_format_ts(j->sent_us, ts, sizeof ts);
            sqlite3_bind_text(st, 3, ts, -1, SQLITE_TRANSIENT);
        } else {
            sqlite3_bind_null(st, 3);
        }
        if (j->last_status)
            sqlite3_bind_int(st, 4, j->last_status);
        else
            sqlite3_bind_null(st, 4);
        if (j->last_error)
            sqlite3_bind_text(st, 5, j->last_error, -1, SQLITE_TRANSIENT);
        else
            sqlite3_bind_null(st, 5);
        sqlite3_bind_int64(st, 6, j->id);
        if (sqlite3_step(st) != SQLITE_DONE) {
            rc = sl_error_set(err, SL_EIO, "outbox: update failed: %s", sqlite3_errmsg(db));
            goto out;
        }
        sqlite3_reset(st);
    }
    /* cleared only once every update is in the transaction: a failed apply
     * is retried whole on the next commit */
    for (int i = 0; i < d->njobs; i++)
        d->jobs[i].dirty = false;
out:
    sqlite3_finalize(st);
    pthread_mutex_unlock(&d->mu);
    return rc;
}

void sl_deliverer_stop(sl_deliverer *d) {
    if (!d) return;
    atomic_store(&d->stop, true);
    curl_multi_wakeup(d->m);
    pthread_join(d->th, NULL);
    for (int i = 0; i < d->njobs; i++) {
        if (d->jobs[i].x) curl_multi_remove_handle(d->m, sl__xfer_easy(d->jobs[i].x));
        free_job(&d->jobs[i]);
    }
    curl_multi_cleanup(d->m);
    sqlite3_finalize(d->rows);
    sqlite3_finalize(d->counts);
    sqlite3_close(d->db);
    pthread_mutex_destroy(&d->mu);
    free(d->jobs);
    free(d->cs);
    free(d->path);
    free(d->pipeline);
    free(d);
}

int sl_deliverer_stats(sl_deliverer *d, sl_channel_stats *out, int cap) {
    if (!d) return 0;
    pthread_mutex_lock(&d->mu);
    for (int i = 0; i < d->ch->n && i < cap; i++) {
        const ch_state *cs = &d->cs[i];
        /* pending_rows is the store's count at the last scan; every job
         * done since (applied or not) was still pending then */
        int64_t done = 0;
        for (int k = 0; k < d->njobs; k++)
            if (d->jobs[k].ch == i && d->jobs[k].st == J_DONE) done++;
        int64_t p = cs->pending_rows - done;
        out[i] =
            (sl_channel_stats){d->ch->ch[i].name, cs->sent, cs->failed, cs->retries, p > 0 ? p : 0};
    }
    pthread_mutex_unlock(&d->mu);
    return d->ch->n;
}

/* ---- `sluice alert test` ---- */
static int test_one(const sl__notify_channel *c, const char *pipeline, FILE *out) {
    int64_t now = sl_now_us();
    char ts[40], idem[160];
    sl_store_format_ts(now, ts, sizeof ts);
    snprintf(idem, sizeof idem, "test-%s-%lld", c->name, (long long)now);
    sl_strbuf p = {0};
    sl_strbuf_puts(&p, "{\"pipeline\":");
    sl_strbuf_json(&p, pipeline, 0);
    sl_strbuf_puts(&p, ",\"rule\":\"sluice-test\",\"alert_id\":\"\",\"key\":\"\","
                       "\"severity\":\"info\",\"state\":\"firing\","
                       "\"title\":\"Sluice test notification\",\"message\":");
    sl_strbuf msg = {0};
    sl_strbuf_printf(&msg, "Channel '%s' of pipeline '%s' works (sent by sluice alert test).",
                     c->name, pipeline);
    sl_strbuf_json(&p, msg.p, 0);
    sl_strbuf_free(&msg);
    sl_strbuf_printf(&p, ",\"started_at\":\"%s\",\"resolved_at\":null,\"dedup_key\":", ts);
    sl_strbuf_json(&p, idem, 0);
    sl_strbuf_puts(&p, ",\"table\":\"\",\"labels\":{}}");
    sl__notify_msg m;
    sl_error err = {0};
    int rc = sl__notify_build(c, "test", idem, p.p, now, &m, &err);
    sl_strbuf_free(&p);
    if (rc) {
        fprintf(out, "%s (%s): FAILED %s\n", c->name, sl__notify_type_name(c->type), err.msg);
        return rc;
    }
    int ok = 1;
    for (int pass = 0; pass < (m.body2 ? 2 : 1) && ok; pass++) {
        sl__xfer *x = sl__xfer_new(c, idem, "test", &m, pass == 1);
        int cc = curl_easy_perform(sl__xfer_easy(x));
        int status;
        int64_t ra;
        char reason[700];
        sl__xresult r = sl__xfer_result(x, cc, &status, reason, sizeof reason, &ra);
        sl__xfer_free(x);
        if (m.body2 && r == SL__X_OK && pass == 0) continue; /* the resolve answers last */
        fprintf(out, "%s (%s, %s): %s %s\n", c->name, sl__notify_type_name(c->type), c->host,
                r == SL__X_OK ? "ok" : "FAILED", reason);
        ok = r == SL__X_OK;
    }
    sl__notify_msg_free(&m);
    return ok ? 0 : SL_EIO;
}

int sl_channels_test(const sl_channels *c, const char *only, const char *pipeline, FILE *out) {
    sl__notify_curl_init();
    int failed = 0, tried = 0;
    for (int i = 0; c && i < c->n; i++) {
        const sl__notify_channel *ch = &c->ch[i];
        if (only && strcmp(only, ch->name)) continue;
        if (!ch->enabled) {
            fprintf(out, "%s (%s): off (its %s is empty)\n", ch->name,
                    sl__notify_type_name(ch->type),
                    ch->type == SL__CH_EMAIL       ? "server"
                    : ch->type == SL__CH_PAGERDUTY ? "url or routing_key"
                                                   : "url");
            continue;
        }
        tried++;
        if (test_one(ch, pipeline ? pipeline : "", out)) failed++;
    }
    if (only && sl_channels_find(c, only) < 0) {
        fprintf(out, "%s: no such channel\n", only);
        return SL_ENOTFOUND;
    }
    (void)tried;
    return failed ? SL_EIO : 0;
}
