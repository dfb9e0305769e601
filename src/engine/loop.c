/*
 * loop.c - the event loop of a running pipeline.
 *
 * One thread. Each turn reads one batch from each source that has input,
 * pushes it through the table graph (graph.c), and every commit_interval
 * commits (commit.c). When every source is idle the loop commits at once
 * (freshness is the time to read and commit, not the interval) and waits.
 */
#include <errno.h>
#include <sys/statvfs.h>
#include <signal.h>
#include <unistd.h>
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/mem.h"
#include "core/evloop.h"
#include "core/log.h"
#include "core/sdnotify.h"
#include "core/timeutil.h"
#include "engine/runtime.h"

/* Reads one batch from source s; returns rows read (0: nothing ready), <0 on error. */
static int read_source(run *R, source *s, bool final) {
    sl_batch *b = s->batch;
    sl__engine_bad_ud u = {R, s};
    int64_t errs_before = R->c_parse;
    int got = sl_input_read(s, final, R->ctx.now_us, sl__engine_bad_record, &u, R->err);
    R->part_names = s->part_names; /* for the steps' quarantine of this batch */
    if (got <= 0) return got;
    int64_t n = (int64_t)b->n + (R->c_parse - errs_before);
    R->c_in += n;
    s->records_in += n;
    R->c_ingest_sum += (int64_t)b->n * (R->ctx.now_us - R->ingest_base);
    if (b->n) {
        if (R->npending && R->pending[R->npending - 1].ingest == R->ctx.now_us) {
            R->pending[R->npending - 1].n += b->n;
        } else {
            if (R->npending == R->cap_pending) {
                R->cap_pending = R->cap_pending ? R->cap_pending * 2 : 256;
                R->pending = sl_xrealloc(R->pending, R->cap_pending * sizeof *R->pending);
            }
            R->pending[R->npending].ingest = R->ctx.now_us;
            R->pending[R->npending++].n = b->n;
        }
    }
    R->c_ingest_n += b->n;
    return 1;
}

static int server_connection_hook(void *ud, sqlite3 *db) {
    run *R = ud;
    sl_error e = {0};
    int rc = sl_pipeline_prepare_connection(R->p, R->dir, db, &e);
    if (rc || !R->opts->instance) return rc;
    /* scale-out: this instance's dashboard shows every instance's rows (the
     * server forbids ATTACH to queries; the hook runs before its authorizer) */
    char self[PATH_MAX + 16];
    snprintf(self, sizeof self, "%s/sluice.db", R->dir);
    sqlite3_limit(db, SQLITE_LIMIT_ATTACHED, 10);
    rc = sl_pipeline_attach_instances(R->p, R->base, self, db, &e);
    sqlite3_limit(db, SQLITE_LIMIT_ATTACHED, 0);
    if (rc) {
        char m[6 * SL_ERROR_MAX];
        sl_json_escape(m, sizeof m, e.msg, (int)strlen(e.msg));
        sl_log_warn("dashboard: cannot see the other instances", "\"error\":\"%s\"", m);
    }
    return SQLITE_OK;
}

int sl__engine_tokens(const sl_pipeline *p, sl_token_set **out, sl_error *err) {
    *out = NULL;
    const char *token = p->token;
    const char *envtok = getenv("SLUICE_TOKEN");
    if (!token && envtok && *envtok) token = envtok;
    if (!token && !p->ntokens) return 0;
    if (!(*out = sl_token_set_build(token, p->tokens, p->ntokens, err))) {
        char m[SL_ERROR_MAX];
        snprintf(m, sizeof m, "%s", err->msg);
        return sl_error_set(err, err->code, "server %s", m);
    }
    return 0;
}

static int start_server(run *R) {
    const char *listen = R->opts->listen ? R->opts->listen : R->p->listen;
    if (!listen || R->opts->refresh) return 0; /* a refresh: the live process serves */
    char db[PATH_MAX + 16];
    snprintf(db, sizeof db, "%s/sluice.db", R->dir);
    sl_token_set *ts = sl_access_tokens(R->access);
    bool auth = sl_token_set_count(ts) > 0;
    sl_token_set_release(ts);
    sl_server_config cfg = {
        .listen = listen,
        .access = R->access,
        .tls = R->p->has_tls ? &R->p->tls : NULL,
        .db_path = db,
        .pg_url = sl_pipeline_store_url(R->p),
        .pipeline_name = R->p->name,
        .dashboard_json = R->p->dashboard_json,
        .lineage_json = R->p->lineage_json,
        .on_connection = server_connection_hook,
        .ud = R,
    };
    R->server = sl_server_start(&cfg, R->err);
    if (!R->server) return R->err->code;
    int port = sl_server_port(R->server);
    char host[256];
    snprintf(host, sizeof host, "%s", listen);
    char *colon = strrchr(host, ':');
    if (colon) *colon = 0;
    if (!host[0]) snprintf(host, sizeof host, "127.0.0.1");
    const char *scheme = R->p->has_tls ? "https" : "http";
    sl_log_info("server listening", "\"url\":\"%s://%s:%d/\",\"auth\":%s", scheme, host, port,
                auth ? "true" : "false");
    if (R->opts->status_every_s > 0)
        fprintf(
            stderr,
            "sluice %s: dashboard at %s://%s:%d/ (pipeline page: /pipeline, metrics: /metrics)\n",
            R->p->name, scheme, host, port);
    if (R->opts->on_listen) R->opts->on_listen(R->opts->ud, port);
    return 0;
}

/* The last read of src stopped at a schema change: commit what came before
 * it with the new schema, then rebuild everything exactly as a restart would
 * (evolve.c explains why this keeps results exact). */
static int evolve_schema(run *R, source *src) {
    sl_pipeline *p = R->p;
    int rc;
    const char *pn = src->part_names ? src->part_names[src->change_part] : "";
    if (src->evolve == EVOLVE_FAIL && src->change.nadded) {
        if (R->dirty && (rc = sl__engine_commit_wait(R, false))) return rc;
        return sl_error_set(R->err, SL_EFAIL,
                            "source '%s': new field '%s' in %s at byte %lld (evolve: fail)",
                            src->name, src->change.added[0].name, pn, (long long)src->change_pos);
    }
    if (src->evolve == EVOLVE_NONE) src->change.nadded = 0; /* only widening was asked for */
    char here[sizeof R->last_change];
    snprintf(here, sizeof here, "%s/%s/%lld/%s", src->name, pn, (long long)src->change_pos,
             src->change.nadded ? src->change.added[0].name
                                : src->schema.f[src->change.widened[0]].name);
    if (!strcmp(here,
                R->last_change)) /* the rebuilt parser stopped at the same record: never loop */
        return sl_error_set(R->err, SL_EFAIL,
                            "source '%s': the schema change at %s byte %lld did not take effect",
                            src->name, pn, (long long)src->change_pos);
    snprintf(R->last_change, sizeof R->last_change, "%s", here);
    sl_evolve_prepare(p, src, pn);
    /* tests: SLUICE_TEST_KILL_AT_SCHEMA=before:N|after:N kills the process
     * (SIGKILL) around the N-th schema change it makes */
    const char *kill_at = getenv("SLUICE_TEST_KILL_AT_SCHEMA");
    static int nchanges;
    bool kill_now =
        kill_at && atoi(strchr(kill_at, ':') ? strchr(kill_at, ':') + 1 : "1") == ++nchanges;
    if (kill_now && !strncmp(kill_at, "before", 6)) raise(SIGKILL);
    if ((rc = sl__engine_commit_wait(R, false))) return rc;
    if (kill_now && !strncmp(kill_at, "after", 5)) raise(SIGKILL);
    return sl__engine_reopen(R, NULL);
}

int sl__engine_reopen(run *R, sl_pipeline *next) {
    sl_pipeline *p = R->p;
    int rc = 0;
    R->closing = true;
    for (int s = 0; s < p->nsrc; s++)
        sl_input_close(&p->src[s]);
    sl__engine_stop_delivery(R); /* it holds the channels the reload frees */
    sl_store_close(R->store);
    R->store = NULL;
    if (next) { /* the same struct (R->p) gets the new contents; the old ones are freed */
        sl_pipeline tmp;
        memcpy(&tmp, p, sizeof tmp);
        memcpy(p, next, sizeof *p);
        memcpy(next, &tmp, sizeof *next);
        sl_pipeline_free(next);
    } else {
        rc = sl_pipeline_reload(p, R->err);
    }
    sl_batch_free(R->win_out); /* its schema may be an old window's: made again on demand */
    R->win_out = NULL;
    if (rc) return rc;
    R->closing = false;
    R->ctx.watermark = R->ctx.max_event_time = INT64_MIN;
    if ((rc = sl__engine_setup(R))) return rc;
    if ((rc = sl__engine_start_delivery(R))) return rc;
    for (int s = 0; s < p->nsrc; s++)
        if ((rc = sl_input_scan(&p->src[s], R->err))) return rc;
    return 0;
}

/* The disk watermark: below the pipeline's min_free (`disk:`), reading
 * pauses - nothing new is read, commits of what was read go on - so a full
 * disk stops the input with a reason on /readyz and in the metrics instead
 * of failing a commit halfway. Reading resumes once the free space is back
 * above min_free by a tenth of it, at most 256 MiB (no flapping at the
 * edge). Checked once a second (one statvfs). */
static void disk_check(run *R, int64_t mono) {
    const sl_pipeline *p = R->p;
    if (!p->disk_min_free && p->disk_min_free_pct <= 0) {
        R->disk_paused = false;
        return;
    }
    if (R->disk_checked_us && mono - R->disk_checked_us < 1000000) return;
    R->disk_checked_us = mono;
    struct statvfs v;
    if (statvfs(R->dir, &v)) return;
    int64_t free_b = (int64_t)v.f_bavail * (int64_t)v.f_frsize;
    int64_t min =
        p->disk_min_free_pct > 0
            ? (int64_t)((double)v.f_blocks * (double)v.f_frsize * p->disk_min_free_pct / 100)
            : p->disk_min_free;
    R->disk_free = free_b;
    if (!R->disk_paused && free_b < min) {
        R->disk_paused = true;
        char why[256];
        snprintf(why, sizeof why, "disk: %lld MiB free, below min_free %lld MiB: reading paused",
                 (long long)(free_b >> 20), (long long)(min >> 20));
        sl_log_warn("disk watermark: reading paused",
                    "\"pipeline\":\"%s\",\"free_bytes\":%lld,\"min_free_bytes\":%lld", p->name,
                    (long long)free_b, (long long)min);
        if (R->server) sl_server_set_not_ready(R->server, why);
    } else if (R->disk_paused && free_b >= min + (min / 10 < (256 << 20) ? min / 10 : 256 << 20)) {
        R->disk_paused = false;
        sl_log_info("disk watermark: reading resumed",
                    "\"pipeline\":\"%s\",\"free_bytes\":%lld,\"min_free_bytes\":%lld", p->name,
                    (long long)free_b, (long long)min);
        if (R->server) sl_server_set_ready(R->server, true);
    }
}

/* Alerts with channels: the outbox's delivery thread reads the store file
 * with its own connection; the engine applies its results in each commit. */
int sl__engine_start_delivery(run *R) {
    const sl_channels *ch = sl_alerts_channels(R->p->alerts);
    if (!ch || R->deliverer || R->opts->refresh) return 0;
    char path[PATH_MAX + 16];
    snprintf(path, sizeof path, "%s/sluice.db", R->dir);
    R->deliverer = sl_deliverer_start(path, ch, R->p->name, R->err);
    return R->deliverer ? 0 : (R->err->code ? R->err->code : SL_EIO);
}

void sl__engine_stop_delivery(run *R) {
    if (R->deliverer) sl_deliverer_stop(R->deliverer);
    R->deliverer = NULL;
}

/* Rules over _sluice_checkpoint: once a second, the age of the last commit
 * that carried input (a stalled pipeline makes no rows to alert on). A
 * transition is written into the open transaction and committed. */
static int alert_tick(run *R) {
    if (!sl_alerts_has_ticks(R->p->alerts)) return 0;
    int64_t now = sl_now_us();
    if (now - R->last_alert_tick_us < 1000000) return 0;
    R->last_alert_tick_us = now;
    bool wrote = false;
    int rc = sl_alerts_tick(R->p->alerts, now, (double)(now - R->last_input_commit_wall_us) / 1e6,
                            R->commit_id, &wrote, R->err);
    if (wrote) R->dirty = true;
    return rc;
}

/* Idle (no rows since the last commit): delivery results still have to
 * reach the store, or an outbox row sent while the input is quiet would
 * read 'pending' until the next input (and be resent after a restart).
 * Nothing else is in the open transaction, so it commits on its own. */
static int apply_delivery_idle(run *R) {
    if (!R->deliverer) return 0;
    sqlite3 *db = sl_store_db(R->store);
    sqlite3_int64 before = sqlite3_total_changes64(db);
    int rc = sl_deliverer_apply(R->deliverer, R->store, R->err);
    if (rc || sqlite3_total_changes64(db) == before) return rc;
    if (!(rc = sl_store_commit(R->store, R->err))) rc = sl_store_begin(R->store, R->err);
    return rc;
}

/* --once: the last commit's notifications get up to SLUICE_DRAIN_S seconds
 * (default 10) to go out, and their results one more commit; what is still
 * pending then waits in the outbox for the next run. */
static int drain_delivery(run *R) {
    if (!R->deliverer) return 0;
    const char *env = getenv("SLUICE_DRAIN_S");
    int64_t until = sl_monotonic_us() + (int64_t)((env ? atof(env) : 10.0) * 1e6);
    sqlite3 *db = sl_store_db(R->store);
    int rc = 0;
    for (;;) {
        /* results into the open transaction, which then sees what is left */
        if ((rc = sl_deliverer_apply(R->deliverer, R->store, R->err))) return rc;
        sqlite3_stmt *q;
        int64_t pending = 0;
        if (sqlite3_prepare_v2(db, "SELECT count(*) FROM _sluice_outbox WHERE state = 'pending'",
                               -1, &q, NULL) == SQLITE_OK &&
            sqlite3_step(q) == SQLITE_ROW)
            pending = sqlite3_column_int64(q, 0);
        sqlite3_finalize(q);
        if (!pending || sl_monotonic_us() >= until || (R->opts->stop && *R->opts->stop)) break;
        usleep(50000);
    }
    if (!rc) rc = sl_store_commit(R->store, R->err);
    if (!rc) rc = sl_store_begin(R->store, R->err);
    return rc;
}

/* A refresh's notifications are history the live state already sent:
 * marked 'refreshed' (the delivery thread sends only 'pending' rows). */
static int mark_refreshed(run *R) {
    sqlite3 *db = sl_store_db(R->store);
    sqlite3_stmt *q;
    bool has = false;
    if (sqlite3_prepare_v2(db,
                           "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = "
                           "'_sluice_outbox'",
                           -1, &q, NULL) == SQLITE_OK)
        has = sqlite3_step(q) == SQLITE_ROW;
    sqlite3_finalize(q);
    if (!has) return 0;
    int rc = sl_store_exec(
        R->store, "UPDATE _sluice_outbox SET state = 'refreshed' WHERE state = 'pending'", R->err);
    if (!rc) rc = sl_store_commit(R->store, R->err);
    if (!rc) rc = sl_store_begin(R->store, R->err);
    return rc;
}

/* ---- waiting ---------------------------------------------------------------
 * When a turn read nothing, the loop sleeps in epoll_wait on every source's
 * descriptor (inotify, the Kafka queue's wake-up fd, the listeners' eventfd),
 * a timerfd ticking at the commit interval (commits, /metrics, status) and
 * the signalfd (SIGINT, SIGTERM: stop; SIGHUP: logged). A source without a descriptor is polled:
 * the wait is then at most POLL_MS. No wait is longer than MAX_WAIT_MS, so a stop flag set by
 * another thread (tests, an embedding program) is seen within it. */
#define POLL_MS 50
#define ONCE_POLL_MS 5 /* --once: how often "done" is asked while sources find nothing */
#define MAX_WAIT_MS 200
enum { TAG_SIGNAL = 1u << 30, TAG_TICK, TAG_CONFIG };

typedef struct waiting {
    sl_evloop *ev;
    int sig, tick;
    int fd[SL_MAX_SOURCES]; /* registered per source, -1: none */
} waiting;

static int open_waiting(run *R, waiting *W) {
    sl_error *err = R->err;
    if (!(W->ev = sl_evloop_new(err))) return err->code;
    for (int s = 0; s < SL_MAX_SOURCES; s++)
        W->fd[s] = -1;
    int64_t tick = R->p->commit_interval_us < 10000 ? 10000 : R->p->commit_interval_us;
    if ((W->tick = sl_timerfd_open(tick, err)) < 0) return err->code;
    if (sl_evloop_add(W->ev, W->tick, TAG_TICK, err)) return err->code;
    if (W->sig >= 0 && sl_evloop_add(W->ev, W->sig, TAG_SIGNAL, err)) return err->code;
    /* sources wait in epoll, never in their own reads */
    for (int s = 0; s < R->p->nsrc; s++)
        sl_input_wait(&R->p->src[s], 0);
    return 0;
}

static void close_waiting(waiting *W) {
    if (W->tick >= 0) close(W->tick);
    sl_signalfd_close(W->sig);
    sl_evloop_free(W->ev);
}

/* Signals waiting on the signalfd (it never blocks). Called when the
 * signalfd is reported, and every turn while the input keeps the loop
 * busy, so a stop is seen under load too. */
static void read_signals(run *R, waiting *W) {
    if (W->sig < 0) return;
    for (int sig; (sig = sl_signalfd_read(W->sig));) {
        if (sig == SIGHUP) { /* `systemctl reload`: never a reason to stop (reload.c) */
            sl_log_info("SIGHUP: reloading the pipeline file", "\"signal\":%d", sig);
            R->reload_requested = true;
            continue;
        }
        sl_log_info("signal: stopping", "\"signal\":%d", sig);
        if (R->opts->stop) *R->opts->stop = 1;
        R->stop = true;
    }
}

/* Also from inside a commit that waits for an output (commit.c): the
 * watchdog keeps being fed while the loop is alive and only waiting. */
static void poll_signals(run *R) {
    sl_sd_watchdog_tick(sl_monotonic_us());
    read_signals(R, R->waiting);
}

static int wait_for_input(run *R, waiting *W) {
    sl_pipeline *p = R->p;
    bool poll = R->opts->once; /* --once: a source is done after reads that find nothing */
    for (int s = 0; s < p->nsrc; s++) {
        int fd = sl_input_fd(&p->src[s]); /* may change after a scan (a lost inotify watch) */
        if (fd != W->fd[s]) {
            if (W->fd[s] >= 0) sl_evloop_del(W->ev, W->fd[s]);
            W->fd[s] = -1;
            if (fd >= 0 && sl_evloop_add(W->ev, fd, (uint64_t)s, R->err) == 0) W->fd[s] = fd;
        }
        if (W->fd[s] < 0) poll = true;
    }
    int timeout = R->opts->once ? ONCE_POLL_MS : poll ? POLL_MS : MAX_WAIT_MS;
    if (R->dirty) { /* caught up, but the last commit was too recent: commit when the gap has passed
                     */
        int64_t due_ms = (R->last_commit_us + SL_MIN_COMMIT_GAP_US - sl_monotonic_us()) / 1000 + 1;
        if (due_ms < timeout) timeout = due_ms < 0 ? 0 : (int)due_ms;
    }
    uint64_t tags[16];
    int n = sl_evloop_wait(W->ev, timeout, tags, 16);
    if (n < 0) return sl_error_set(R->err, SL_EIO, "epoll_wait: %s", strerror(errno));
    for (int i = 0; i < n; i++) {
        if (tags[i] == TAG_TICK)
            sl_timerfd_drain(W->tick);
        else if (tags[i] == TAG_CONFIG)
            sl__engine_config_event(R);
        else if (tags[i] == TAG_SIGNAL)
            read_signals(R, W);
    }
    /* new files and growth: inotify events are read by the scan itself */
    for (int s = 0; s < p->nsrc; s++) {
        int rc = sl_input_scan(&p->src[s], R->err);
        if (rc) return rc;
    }
    return 0;
}

/* A Kafka rebalance is taking partitions away: commit what was read from
 * them first, so the next owner starts exactly where this process stopped;
 * with partitioned state the commit also hands their state over. */
void sl__engine_revoke_commit(void *ud, source *s, const char *const *partitions, int n) {
    run *R = ud;
    if (R->closing || R->failed) return;
    if (!R->dirty && !R->parted) return;
    sl_log_info("partitions revoked: committing", "\"pipeline\":\"%s\"", R->p->name);
    if (R->parted) {
        R->handoff = partitions;
        R->nhandoff = n;
        R->handoff_src = s;
    }
    int rc = sl__engine_commit_wait(R, false);
    R->nhandoff = 0;
    R->handoff = NULL;
    if (rc)
        R->failed = rc;
    else if (R->parted)
        sl__engine_drop_parts(R, partitions, n);
}

/* ---- bootstrap order --------------------------------------------------------
 * Like Kafka Streams' global tables: the sources that feed a table some step
 * reads as a side input (a join's table), following `from:` upward (and the
 * side inputs of those tables), are read to their current end before any
 * other source at start-up, and first in every read cycle. So master data
 * that exists before the events is always seen by them, and --once over
 * landing files gives the same result however the reads interleave. */
static void mark_feeds(const sl_pipeline *p, int ti, bool *first, bool *seen) {
    if (seen[ti]) return;
    seen[ti] = true;
    const table *t = &p->t[ti];
    for (int j = 0; j < t->ninputs; j++) {
        if (t->inputs[j].source >= 0)
            first[t->inputs[j].source] = true;
        else
            mark_feeds(p, t->inputs[j].table, first, seen);
    }
    for (int s = 0; s < SL_MAX_STEPS; s++)
        if (t->step_side[s] >= 0) mark_feeds(p, t->step_side[s], first, seen);
}

/* order[]: the sources feeding side inputs first (first[s] set), then the
 * others, each group in file order. Returns how many come first. */
static int read_order(const sl_pipeline *p, int *order, bool *first) {
    bool seen[SL_MAX_TABLES] = {0};
    memset(first, 0, SL_MAX_SOURCES * sizeof *first);
    for (int i = 0; i < p->nt; i++)
        if (p->t[i].nside_out) mark_feeds(p, i, first, seen);
    int n = 0, nfirst = 0;
    for (int s = 0; s < p->nsrc; s++)
        if (first[s]) order[n++] = s, nfirst++;
    for (int s = 0; s < p->nsrc; s++)
        if (!first[s]) order[n++] = s;
    return nfirst;
}

int sl_pipeline_run(sl_pipeline *p, const sl_run_opts *opts, sl_error *err) {
    run R = {0};
    R.p = p;
    R.opts = opts;
    R.err = err;
    R.ctx.engine = &R;
    R.ctx.quarantine = sl__engine_quarantine;
    R.ctx.max_event_time = INT64_MIN;
    R.ctx.watermark = INT64_MIN;
    waiting W = {.sig = -1, .tick = -1};
    R.config_fd = -1;
    R.waiting = &W;
    R.poll_signals = poll_signals;
    int rc = 0;
    /* before any thread starts (Kafka, listeners, the server): they inherit
     * the blocked signals, so SIGINT/SIGTERM only ever reach the signalfd */
    R.lock_fd = -1;
    if (opts->signals && (W.sig = sl_signalfd_open(err)) < 0) return err->code;
    if (!opts->refresh && (rc = sl__engine_lock_run(&R))) goto out;
    if (!(R.access = sl_access_new())) {
        rc = sl_error_set(err, SL_ENOMEM, "out of memory");
        goto out;
    }
    if (!opts->refresh) {
        sl_token_set *ts = NULL;
        if ((rc = sl__engine_tokens(p, &ts, err))) goto out;
        sl_access_swap(R.access, ts);
    }
    if ((rc = sl__engine_setup(&R))) goto out;
    if ((rc = sl__engine_start_delivery(&R))) goto out;
    R.last_input_commit_wall_us = R.last_alert_tick_us = sl_now_us();
    if ((rc = start_server(&R))) goto out;
    sl__engine_build_metrics(&R);
    if (R.server) {
        sl_server_publish(R.server, R.commit_id, R.metrics);
        sl_server_set_ready(R.server, true);
    }
    sl_log_info("pipeline started",
                "\"pipeline\":\"%s\",\"data\":\"%s\",\"commit_id\":%lld,\"records_in\":%lld",
                p->name, R.dir, (long long)R.commit_id, (long long)R.t_in);
    sl_sd_notify("READY=1\nSTATUS=running");
    R.last_commit_us = R.last_status_us = R.started_us = sl_monotonic_us();
    R.ingest_base = sl_now_us();
    R.last_status_in = R.t_in;
    R.s0_in = R.t_in, R.s0_quar = R.t_quar, R.s0_late = R.t_late, R.s0_dup = R.t_dup;
    /* --once over a backlog, watched on a terminal: a progress line */
    R.progress = opts->once && opts->status_every_s > 0 && isatty(STDERR_FILENO);
    for (int s = 0; s < p->nsrc; s++)
        if ((rc = sl_input_scan(&p->src[s], err))) goto out;
    if (R.progress) sl__engine_progress(&R, false); /* the totals before any read */
    if ((rc = open_waiting(&R, &W))) goto out;
    if (opts->watch_config && !opts->once && (R.config_fd = sl__engine_watch_config(&R)) >= 0 &&
        sl_evloop_add(W.ev, R.config_fd, TAG_CONFIG, err)) {
        rc = err->code;
        goto out;
    }
    int order[SL_MAX_SOURCES];
    bool first[SL_MAX_SOURCES];
    /* start-up: only the sources feeding side inputs, until they have nothing more */
    bool bootstrap = read_order(p, order, first) > 0;
    while (!R.stop && !(opts->stop && *opts->stop)) {
        R.ctx.now_us = sl_now_us();
        R.mono_us = sl_monotonic_us();
        sl_sd_watchdog_tick(R.mono_us);
        disk_check(&R, R.mono_us);
        int any = 0;
        for (int oi = 0; oi < p->nsrc && !R.disk_paused; oi++) {
            int s = order[oi];
            if (bootstrap && !first[s]) continue;
            source *src = &p->src[s];
            int got = read_source(&R, src, opts->once);
            if (got < 0) {
                rc = got;
                goto out;
            }
            if (R.failed) { /* a commit inside a rebalance has already said why */
                rc = err->msg[0] ? R.failed
                                 : sl_error_set(err, R.failed, "writing quarantine failed: %s",
                                                sqlite3_errmsg(sl_store_db(R.store)));
                goto out;
            }
            if (got == 0 && !src->change_pending) continue;
            any = 1;
            if (got > 0) {
                R.dirty = true;
                for (int i = 0; i < p->nt; i++)
                    for (int j = 0; j < p->t[i].ninputs; j++) {
                        if (p->t[i].inputs[j].source != s) continue;
                        if ((rc = sl__engine_run_table(&R, i, src->batch, j))) goto out;
                    }
                R.c_quar += R.ctx.quarantined, R.c_late += R.ctx.late, R.c_dup += R.ctx.duplicates;
                R.c_filt += R.ctx.filtered, R.c_drop += R.ctx.dropped;
                R.ctx.quarantined = R.ctx.late = R.ctx.duplicates = R.ctx.filtered = R.ctx.dropped =
                    0;
            }
            if (src->change_pending) {
                if ((rc = evolve_schema(&R, src))) goto out;
                break; /* the sources were rebuilt */
            }
        }
        if ((rc = alert_tick(&R))) goto out;
        int64_t now = sl_monotonic_us();
        if (now - R.last_commit_us >= p->commit_interval_us) {
            if (R.dirty) {
                if ((rc = sl__engine_commit_wait(&R, false))) goto out;
            } else { /* nothing to commit: keep /metrics (lag, CPU) current */
                R.last_commit_us = now;
                if ((rc = apply_delivery_idle(&R))) goto out;
                if ((rc = sl__engine_audit_idle(&R))) goto out;
                sl__engine_build_metrics(&R);
                if (R.server) sl_server_publish(R.server, R.commit_id, R.metrics);
            }
        }
        if (!opts->once && (rc = sl__engine_maybe_swap(&R))) goto out;
        if (!opts->refresh) sl__engine_audit_spool_take(&R);
        /* a changed file is applied once it has been quiet for 200 ms (an
         * editor may write it in steps) */
        if (R.config_changed_us && R.mono_us - R.config_changed_us >= 200000)
            R.config_changed_us = 0, R.reload_requested = true;
        if (R.reload_requested && !opts->once) {
            if ((rc = sl__engine_reload(&R))) goto out;
            read_order(p, order, first); /* the sources may have changed */
        }
        if (R.progress)
            sl__engine_progress(&R, false);
        else if (opts->status_every_s > 0 &&
                 now - R.last_status_us >= (int64_t)(opts->status_every_s * 1e6))
            sl__engine_status_line(&R, false);
        if (any) {
            read_signals(&R, &W);
            /* tests: SLUICE_TEST_REFRESH_SLOW_MS=N makes each turn of a
             * refresh that read something N ms longer (to kill it halfway) */
            if (opts->refresh && getenv("SLUICE_TEST_REFRESH_SLOW_MS"))
                usleep((useconds_t)atoi(getenv("SLUICE_TEST_REFRESH_SLOW_MS")) * 1000);
            continue;
        }
        if (bootstrap) { /* the side inputs' sources are at their current end */
            bootstrap = false;
            /* a commit now emits the windows of joined window tables, so
             * their rows too reach the joins before the other sources' rows */
            if (R.dirty && (rc = sl__engine_commit_wait(&R, false))) goto out;
            continue;
        }
        if (opts->once) {
            bool done = true;
            for (int s = 0; s < p->nsrc; s++)
                done &= sl_input_done(&p->src[s]);
            if (done) break;
        }
        /* Caught up with the input: commit now rather than at the end of the
         * interval, so freshness is the time to read and commit, not up to
         * commit_interval (under load, commits stay one interval apart). */
        if (R.dirty && now - R.last_commit_us >= SL_MIN_COMMIT_GAP_US &&
            (rc = sl__engine_commit_wait(&R, false)))
            goto out;
        /* idle: wait for a source's descriptor, the tick or a signal */
        if ((rc = wait_for_input(&R, &W))) goto out;
    }
    rc = sl__engine_commit_wait(&R, opts->once && !opts->keep_open);
    if (!rc && opts->refresh) rc = mark_refreshed(&R);
    if (!rc && opts->once) rc = drain_delivery(&R);
    if (!rc && R.progress) sl__engine_progress(&R, true);
    if (!rc && opts->status_every_s > 0) sl__engine_status_line(&R, true);
    if (!rc)
        sl_log_info("pipeline stopped", "\"pipeline\":\"%s\",\"records_in\":%lld,\"commits\":%lld",
                    p->name, (long long)R.t_in, (long long)R.commit_id);
out:
    if (rc && err->msg[0] == 0) sl_error_set(err, rc, "%s", sl_strerror(rc));
    sl_sd_notify("STOPPING=1");
    R.closing = true;
    for (int s = 0; s < p->nsrc; s++)
        sl_input_close(&p->src[s]);
    if (R.server) sl_server_stop(R.server);
    sl_access_free(R.access); /* after every listener that uses it stopped */
    sl__engine_stop_delivery(&R);
    sl_batch_free(R.win_out);
    free(R.pending);
    free(R.metrics);
    if (R.store) sl_store_close(R.store);
    close_waiting(&W);
    if (R.config_fd >= 0) close(R.config_fd);
    sl__engine_unlock_run(&R);
    return rc;
}
