/*
 * runtime.h - a running pipeline, shared by the engine's phase files:
 *
 *   loop.c     the event loop: read a batch, run it through the graph, commit on time
 *   graph.c    a batch through the tables: steps, windows, watermarks, outputs
 *   commit.c   the commit in named phases (outputs, positions, state, event log)
 *   recover.c  start-up: open the store, restore state, recover the lake
 *   handoff.c  partitioned state moving between instances with Kafka partitions
 *   metrics.c  Prometheus text and status lines
 *
 * Internal to src/engine: names are sl__engine_*.
 */
#ifndef SL_ENGINE_RUNTIME_H
#define SL_ENGINE_RUNTIME_H

#include "engine/internal.h"
#include "server/server.h"

/* A window's state chain: a full snapshot every this many commits, deltas between. */
#define SL_WINDOW_FULL_EVERY 60

/* Commits are at least this far apart even when the input is idle. */
#define SL_MIN_COMMIT_GAP_US 20000

typedef struct run {
    sl_pipeline *p;
    const sl_run_opts *opts;
    char dir[PATH_MAX];
    char base[PATH_MAX]; /* the pipeline's data dir (--instance: dir is base/instance-NAME) */
    sl_store *store;
    sl_op_ctx ctx;
    int64_t mono_us; /* monotonic time at the start of this turn */
    const char *cur_table;
    const char *const *part_names;
    sl_error *err;
    int64_t commit_id;
    int64_t last_commit_us, started_us;
    /* per-commit counters */
    int64_t c_in, c_quar, c_late, c_dup, c_filt, c_drop, c_parse;
    int64_t c_ingest_sum,
        c_ingest_n; /* ingest times relative to ingest_base (µs), to stay in range */
    int64_t ingest_base;
    /* totals */
    int64_t t_in, t_quar, t_late, t_dup, t_filt, t_drop, t_parse;
    int64_t last_status_us, last_status_in;
    /* the totals when this process started: status lines say what this
     * session did and what the pipeline did in all */
    int64_t s0_in, s0_quar, s0_late, s0_dup;
    /* SIGHUP or a changed file with --watch-config: reload at the next turn
     * (reload.c); config_fd: the inotify descriptor of --watch-config */
    bool reload_requested;
    int config_fd;
    int64_t config_changed_us; /* debounce: an editor writes in several steps */
    /* disk watermark (loop.c): free bytes of the data directory's file
     * system, checked once a second; paused: below the pipeline's min_free */
    int64_t disk_free, disk_checked_us;
    bool disk_paused;
    /* --once on a terminal: a progress line (metrics.c) */
    bool progress;
    int64_t prog_files0, prog_bytes0, prog_last_us;
    sl_batch *win_out;
    int failed;
    /* freshness: per batch (ingest time, rows) since the last commit; at commit
     * each row's latency (commit time - ingest time) goes into the histogram */
    struct {
        int64_t ingest, n;
    } * pending;
    size_t npending, cap_pending;
    int64_t lat_bucket[16], lat_count;
    double lat_sum_s;
    double last_commit_ms;
    int64_t last_commit_wall_us;
    char *metrics;
    size_t metrics_cap;
    sl_server *server;
    /* the tokens of the server and of http sources with `auth: server`
     * (swapped by a reload), and the audit ring every audited action waits
     * in until the next commit (commit.c drains it into _sluice_audit) */
    sl_access *access;
    bool stop;    /* a signal asked the loop to stop */
    bool closing; /* sources closing after the final commit (or an error): no revoke commits */
    bool dirty;   /* input consumed since the last commit: an idle pipeline does not commit */
    bool parted;  /* --instance with partitioned state: keyed state moves with partitions */
    bool outputs_stalled; /* the last commit stopped in phase 1 with SL_EAGAIN (commit.c) */
    void (*poll_signals)(struct run *R); /* reads pending signals (loop.c), while a commit waits */
    void *waiting;
    /* partitions being revoked: their state is written for the next owner in
     * the revoke commit, then dropped */
    const char *const *handoff;
    int nhandoff;
    source *handoff_src;
    char last_change[PATH_MAX + 64]; /* source/partition/position of the last schema change */
    /* alerts: notifications are delivered off this thread; its results are
     * written in each commit */
    sl_deliverer *deliverer;
    int64_t last_input_commit_wall_us; /* checkpoint age: the last commit that carried input */
    int64_t last_alert_tick_us;
    /* refresh.c: the run lock beside the data directory, and the last look
     * for a switch request of `sluice refresh` */
    int lock_fd;
    int64_t last_swap_check_us;
    int64_t last_spool_check_us;
} run;

/* graph.c */
/* The engine's quarantine callback for steps (sl_op_ctx.quarantine). */
void sl__engine_quarantine(void *engine, const sl_batch *b, uint32_t r, const char *reason);
typedef struct {
    run *R;
    source *s;
} sl__engine_bad_ud;
/* The formats' callback for records that do not parse (ud: sl__engine_bad_ud). */
void sl__engine_bad_record(void *ud, const char *line, size_t len, int32_t part, int64_t pos,
                           const char *reason);
/* Runs batch `in`, which came from input number `input` of table ti, and
 * everything downstream of it. */
int sl__engine_run_table(run *R, int ti, const sl_batch *in, int input);
/* Recomputes every table's watermark from its inputs, in graph order. */
void sl__engine_refresh_watermarks(run *R);
/* The slowest table's watermark (event log, status), INT64_MIN if none. */
int64_t sl__engine_pipeline_wm(const run *R);
/* Emits window rows (final where the table's watermark passed their end;
 * all of them when all_final) to the store and to row-level children. */
int sl__engine_emit_windows(run *R, bool all_final);

/* loop.c: the token set of pipeline p (server.token or $SLUICE_TOKEN, and
 * server.tokens; `file:` secrets read now). *out is NULL when it has none. */
int sl__engine_tokens(const sl_pipeline *p, sl_token_set **out, sl_error *err);

/* commit.c */
int sl__engine_commit(run *R, bool all_final);
/* The commit, retried with backoff while an output is unavailable (SL_EAGAIN
 * from phase 1); the loop calls this one. */
int sl__engine_commit_wait(run *R, bool all_final);
/* An idle pipeline (nothing to commit): the server's audit records (and
 * audit retention) in a transaction of their own, so they do not wait for
 * input. */
int sl__engine_audit_idle(run *R);
int sl__engine_state_put(run *R, const char *id, bool full, sl_buf *buf);

/* recover.c */
int sl__engine_setup(run *R);

/* loop.c: the outbox's delivery thread (alerts with channels) */
int sl__engine_start_delivery(run *R);
void sl__engine_stop_delivery(run *R);

/* handoff.c */
bool sl__engine_step_parted(const table *t, const step *st);
bool sl__engine_win_parted(const table *t);
int sl__engine_write_handoffs(run *R, sl_buf *buf);
/* source callback: a partition was assigned */
void sl__engine_assign_restore(void *ud, source *s, const char *part, const char *from_db);
void sl__engine_drop_parts(run *R, const char *const *partitions, int n);

/* loop.c: source callback: partitions are being revoked */
void sl__engine_revoke_commit(void *ud, source *s, const char *const *partitions, int n);

/* refresh.c */
/* Takes the run lock (DIR.lock beside the data directory R->dir): one
 * process runs a pipeline on a directory; `sluice refresh` finds it by it. */
int sl__engine_lock_run(run *R);
void sl__engine_unlock_run(run *R);
/* Called between commits: when `sluice refresh` asked for a switch, commits,
 * closes everything, exchanges the directories, and resumes from the new
 * state. Returns 0 (also when the request was refused: the refresh is told
 * why), or an error that stops the run. */
int sl__engine_maybe_swap(run *R);
/* datadir.c: the records of DIR.audit/ (sl_audit_spool) into the audit ring,
 * looked for at most once a second. */
void sl__engine_audit_spool_take(run *R);
/* Closes the sources, the delivery thread and the store; replaces the
 * compiled pipeline (next: its new contents, taken and freed here - a
 * reload; NULL: compiled again from its spec - a schema change, a refresh)
 * and opens it all again on R->dir from the store (loop.c; as a restart
 * would). */
int sl__engine_reopen(run *R, sl_pipeline *next);

/* reload.c: SIGHUP / --watch-config. Loads the pipeline file again; when
 * every piece of state (windows, rollups, joins, stateful steps) keeps its id
 * and its options, commits and goes on with the new pipeline from the same
 * state (positions, windows, keys); otherwise logs what would invalidate
 * state and keeps the old pipeline. Returns nonzero only on a failure of the
 * running pipeline itself. */
int sl__engine_reload(run *R);
/* --watch-config: an inotify descriptor on the pipeline file's directory (and
 * its base file's), -1 on failure (logged); sl__engine_config_event reads it
 * and sets R->config_changed_us when one of the files changed. */
int sl__engine_watch_config(run *R);
void sl__engine_config_event(run *R);

/* metrics.c */
void sl__engine_build_metrics(run *R);
void sl__engine_status_line(run *R, bool final);
/* --once on a terminal: files and bytes done of the total, rate, ETA, on one
 * line rewritten in place (at most every 250 ms; final: the last one and a
 * newline). */
void sl__engine_progress(run *R, bool final);
int64_t sl__engine_rss_kb(void);
/* After a commit: each pending row's freshness into the histogram. */
void sl__engine_account_freshness(run *R);

#endif
