/*
 * run.c - running a pipeline: recovery, the event loop, commits.
 *
 * One thread. Each turn reads one batch from a source, pushes it through
 * the table graph (steps in place, sinks written inside the open SQLite
 * transaction, lake rows streamed into zstd frames), and every
 * commit_interval commits: lake frames fsynced, window rows upserted,
 * source positions, operator snapshots and an event-log row written, then
 * COMMIT. Recovery is the mirror image: positions and snapshots are read
 * back, lake segments are truncated to their committed length, and reading
 * resumes at the committed positions. Nothing is suppressed or replayed,
 * because nothing uncommitted ever became visible.
 */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/log.h"
#include "core/timeutil.h"
#include "engine/internal.h"
#include "formats/json_write.h"
#include "server/server.h"
#include "sinks/lake.h"

/* Commits are at least this far apart even when the input is idle. */
#define SL_MIN_COMMIT_GAP_US 20000

typedef struct run {
    sl_pipeline *p;
    const sl_run_opts *opts;
    char dir[PATH_MAX];
    char base[PATH_MAX]; /* the pipeline's data dir (--instance: dir is base/instance-NAME) */
    sl_store *store;
    sl_op_ctx ctx;
    const char *cur_table;
    const char *const *part_names;
    sl_error *err;
    int64_t commit_id;
    int64_t last_commit_us, started_us;
    /* per-commit counters */
    int64_t c_in, c_quar, c_late, c_dup, c_filt, c_drop, c_parse;
    int64_t c_ingest_sum, c_ingest_n; /* ingest times relative to ingest_base (µs), to stay in range */
    int64_t ingest_base;
    /* totals */
    int64_t t_in, t_quar, t_late, t_dup, t_filt, t_drop, t_parse;
    int64_t last_status_us, last_status_in;
    sl_batch *win_out;
    int failed;
    /* freshness: per batch (ingest time, rows) since the last commit; at commit
     * each row's latency (commit time - ingest time) goes into the histogram */
    struct { int64_t ingest, n; } *pending;
    size_t npending, cap_pending;
    int64_t lat_bucket[16], lat_count;
    double lat_sum_s;
    double last_commit_ms;
    int64_t last_commit_wall_us;
    char *metrics;
    size_t metrics_cap;
    sl_server *server;
    bool closing; /* sources closing after the final commit (or an error): no revoke commits */
    bool dirty;   /* input consumed since the last commit: an idle pipeline does not commit */
    bool parted;  /* --instance with partitioned state: keyed state moves with partitions */
    /* partitions being revoked: their state is written for the next owner in
     * the revoke commit, then dropped */
    const char *const *handoff;
    int nhandoff;
    source *handoff_src;
    char last_change[PATH_MAX + 64]; /* source/partition/position of the last schema change */
} run;

static const double lat_bounds[] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60};
#define NLAT (sizeof lat_bounds / sizeof lat_bounds[0])

static void quarantine_cb(void *engine, const sl_batch *b, uint32_t r, const char *reason) {
    run *R = engine;
    const char *src = R->part_names ? R->part_names[b->part[r]] : "";
    if (sl_store_quarantine(R->store, R->cur_table, reason, b->raw[r].ptr, b->raw[r].len, src, b->pos[r], b->ingest[r]))
        R->failed = SL_EIO;
}

typedef struct { run *R; source *s; } bad_ud;

static void bad_record_cb(void *ud, const char *line, size_t len, int32_t part, int64_t pos, const char *reason) {
    bad_ud *u = ud;
    run *R = u->R;
    const char *tname = u->s->first_table >= 0 ? R->p->t[u->s->first_table].name : u->s->name;
    const char *src = sl_input_part_name(u->s, part);
    if (sl_store_quarantine(R->store, tname, reason, line, len, src, pos, R->ctx.now_us)) R->failed = SL_EIO;
    R->c_parse++;
    R->c_quar++;
}

static int write_lake(run *R, table *t, const sl_batch *b) {
    /* The audit prefix changes only with the partition or ingest time, which
     * are constant over long runs of rows: build it once per run. */
    char extra[PATH_MAX + 160], its[40], esc[PATH_MAX];
    int prefix = 0;
    int64_t last_ingest = INT64_MIN;
    int32_t last_part = -1;
    for (uint32_t r = 0; r < b->n; r++) {
        if (b->ingest[r] != last_ingest || b->part[r] != last_part) {
            last_ingest = b->ingest[r];
            last_part = b->part[r];
            sl_store_format_ts(last_ingest, its, sizeof its);
            const char *src = R->part_names ? R->part_names[last_part] : "";
            sl_json_escape(esc, sizeof esc, src, (int)strlen(src));
            prefix = snprintf(extra, sizeof extra, ",\"_ingest_ts\":\"%s\",\"_source\":\"%s\",\"_offset\":", its, esc);
        }
        size_t extra_len = (size_t)prefix + (size_t)sl_fmt_i64(extra + prefix, b->pos[r]);
        for (;;) {
            size_t need = sl_json_write_row_keys(b, r, &t->keys, extra, extra_len, t->line, t->line_cap);
            if (need < t->line_cap) {
                if (sl_lake_append(t->lake, t->line, need, b->ingest[r], R->err)) return R->err->code;
                break;
            }
            t->line_cap = need + 1024;
            t->line = realloc(t->line, t->line_cap);
        }
    }
    return 0;
}

/* publish: each row as a JSON value (key from the key expression). */
static int publish(run *R, table *t, sl_batch *b) {
    sl_column *key = NULL;
    if (t->pub_key) {
        key = &t->pub_keycol->col[0];
        if (sl_expr_eval(t->pub_key, b, key)) return sl_error_set(R->err, SL_EINVAL, "publish key of %s failed", t->name);
    }
    char kbuf[24];
    for (uint32_t r = 0; r < b->n; r++) {
        const char *kp = NULL;
        size_t kl = 0;
        if (key && !key->null[r]) {
            if (key->type == SL_T_STRING) kp = key->v.s[r].ptr, kl = key->v.s[r].len;
            else kp = kbuf, kl = (size_t)sl_fmt_i64(kbuf, key->v.i[r]);
        }
        for (;;) {
            size_t need = sl_json_write_row_keys(b, r, &t->keys, NULL, 0, t->line, t->line_cap);
            if (need < t->line_cap) {
                if (sl_kafka_sink_send(t->sink, kp, kl, t->line, need, R->err)) return R->err->code;
                break;
            }
            t->line_cap = need + 1024;
            t->line = realloc(t->line, t->line_cap);
        }
    }
    return 0;
}

/* Copies the first in->schema.n columns and the provenance of in into t->work. */
static void load_work(table *t, const sl_batch *in) {
    sl_batch *w = t->work;
    sl_batch_clear(w);
    uint32_t n = in->n;
    for (int c = 0; c < in->schema.n; c++) {
        memcpy(w->col[c].null, in->col[c].null, n);
        size_t sz = in->col[c].type == SL_T_BOOL ? 1 : in->col[c].type == SL_T_STRING ? sizeof(sl_str) : 8;
        memcpy(w->col[c].v.p, in->col[c].v.p, n * sz);
    }
    memcpy(w->part, in->part, n * sizeof *in->part);
    memcpy(w->pos, in->pos, n * sizeof *in->pos);
    memcpy(w->ingest, in->ingest, n * sizeof *in->ingest);
    memcpy(w->raw, in->raw, n * sizeof *in->raw);
    w->n = n;
}

static int run_table(run *R, int ti, const sl_batch *in) {
    table *t = &R->p->t[ti];
    if (t->is_rollup) return 0; /* fed by merges in emit_windows */
    t->rows_in += in->n;
    if (t->win) {
        R->cur_table = t->name; /* late records are quarantined under the window table */
        return sl_window_process(t->win, in, &R->ctx);
    }
    load_work(t, in);
    sl_batch *b = t->work;
    R->cur_table = t->name;
    for (int s = 0; s < t->nsteps && b->n; s++) {
        int rc = t->steps[s].def->process(t->steps[s].self, b, &R->ctx, R->err);
        if (rc) return rc;
        R->cur_table = t->name;
    }
    if (R->failed) return sl_error_set(R->err, R->failed, "writing quarantine failed: %s", sqlite3_errmsg(sl_store_db(R->store)));
    if (t->nproj) { /* a view of the kept columns: column structs point at work's data */
        sl_batch *v = t->view;
        v->n = b->n;
        for (int c = 0; c < t->nproj; c++) v->col[c] = b->col[t->proj[c]];
        v->part = b->part, v->pos = b->pos, v->ingest = b->ingest, v->raw = b->raw, v->arena = b->arena;
        b = v;
    }
    t->rows_out += b->n;
    if (b->n) {
        if (t->store == STORE_LAKE) {
            int rc = write_lake(R, t, b);
            if (rc) return rc;
        } else if (t->store == STORE_SQLITE) {
            int rc = sl_table_write(t->writer, b, R->part_names, R->err);
            if (rc) return rc;
        }
        if (t->sink) {
            int rc = publish(R, t, b);
            if (rc) return rc;
        }
    }
    for (int c = 0; c < t->nchildren; c++) {
        int rc = run_table(R, t->children[c], b);
        if (rc) return rc;
    }
    return 0;
}

static void pos_cb(void *ud, const char *name, int64_t pos) {
    run *R = ((void **)ud)[0];
    source *s = ((void **)ud)[1];
    if (R->failed) return;
    if (sl_input_fence(s, name, pos, R->err)) R->failed = SL_EFAIL;
    else if (sl_store_put_position(R->store, s->name, name, pos)) R->failed = SL_EIO;
}

/* A window's state chain: a full snapshot every this many commits, deltas between. */
#define WINDOW_FULL_EVERY 60

static int state_put(run *R, const char *id, bool full, sl_buf *buf) {
    return sl_store_put_state(R->store, id, full, buf->p, buf->n, R->err);
}

/* ---- partitioned state: handoff between instances ------------------------
 * With --instance and a Kafka source's partitioned_state, the state of the
 * keyed steps (dedupe, anomaly, health, scd2) and of windows is split by
 * partition (the _part column, op.h). A partition's state
 * moves with it: on revocation the owner commits and writes the partition's
 * state as a handoff record, stamped with the partition's position, in the
 * same transaction, then forgets it; on assignment the new owner loads the
 * state from the checkpoint that holds the partition's furthest position
 * (instances.c): its handoff record when stamped with that position, else
 * the partition's part of its last snapshots (the owner died without a
 * handoff, and its snapshots, positions and rows are from one commit). */
static bool step_parted(const table *t, const step *st) {
    return st->def->restore_parts && sl_schema_find(&t->in, SL_PART_COLUMN) >= 0;
}
static bool win_parted(const table *t) { return t->win && sl_schema_find(sl_window_schema(t->win), SL_PART_COLUMN) >= 0; }

static void handoff_key(char *out, size_t cap, const char *part, const char *id) { snprintf(out, cap, "handoff/%s/%s", part, id); }

static int write_handoffs(run *R, sl_buf *buf) {
    char key[512], wid[SL_NAME_MAX + 16];
    for (int h = 0; h < R->nhandoff; h++) {
        const char *part = R->handoff[h];
        int64_t pos = -1;
        sl_store_get_position(R->store, R->handoff_src->name, part, &pos);
        uint64_t tag = sl_part_tag(part, strlen(part));
        sl_part_set only = {&tag, 1};
        for (int i = 0; i < R->p->nt; i++) {
            table *t = &R->p->t[i];
            for (int k = 0; k < t->nsteps; k++) {
                step *st = &t->steps[k];
                if (!step_parted(t, st)) continue;
                buf->n = 0;
                sl_buf_put_i64(buf, pos);
                st->def->snapshot_parts(st->self, buf, &only);
                handoff_key(key, sizeof key, part, st->id);
                if (state_put(R, key, true, buf)) return R->err->code;
            }
            if (win_parted(t)) {
                buf->n = 0;
                sl_buf_put_i64(buf, pos);
                sl_window_snapshot_parts(t->win, buf, &only);
                snprintf(wid, sizeof wid, "%s/window", t->name);
                handoff_key(key, sizeof key, part, wid);
                if (state_put(R, key, true, buf)) return R->err->code;
            }
        }
    }
    return 0;
}

typedef struct {
    step *st;
    table *t;
    const sl_part_set *only;
    int64_t pos;  /* handoff: the position it must be stamped with */
    bool found;
} part_restore;

static int part_restore_cb(void *ud, bool full, const void *data, size_t n, sl_error *err) {
    part_restore *u = ud;
    return u->st ? u->st->def->restore_parts(u->st->self, data, n, full, u->only, err)
                 : sl_window_restore_parts(u->t->win, data, n, full, u->only, err);
}

static int handoff_cb(void *ud, bool full, const void *data, size_t n, sl_error *err) {
    (void)full;
    part_restore *u = ud;
    int64_t stamp;
    if (n < sizeof stamp) return sl_error_set(err, SL_ECORRUPT, "corrupt handoff record");
    memcpy(&stamp, data, sizeof stamp);
    if (stamp != u->pos) return 0; /* an older handoff: the partition moved on since */
    u->found = true;
    return part_restore_cb(ud, true, (const char *)data + sizeof stamp, n - sizeof stamp, err);
}

static int restore_part_state(run *R, sl_store *from, part_restore *u, const char *part, const char *id) {
    char key[512];
    handoff_key(key, sizeof key, part, id);
    int rc = sl_store_load_state(from, key, handoff_cb, u, R->err);
    if (rc || u->found) return rc;
    return sl_store_load_state(from, id, part_restore_cb, u, R->err);
}

/* on_assign: load a newly assigned partition's keyed state (see above). */
static void assign_restore(void *ud, source *s, const char *part, const char *from_db) {
    run *R = ud;
    if (!R->parted || R->failed) return;
    sl_store *from = R->store;
    if (from_db && !(from = sl_store_open(from_db, true, R->err))) {
        R->failed = R->err->code;
        return;
    }
    /* one read transaction: positions and state of the same commit */
    if (from != R->store) sqlite3_exec(sl_store_db(from), "BEGIN", NULL, NULL, NULL);
    int64_t pos = -1;
    sl_store_get_position(from, s->name, part, &pos);
    uint64_t tag = sl_part_tag(part, strlen(part));
    sl_part_set only = {&tag, 1};
    int rc = 0;
    char wid[SL_NAME_MAX + 16];
    for (int i = 0; i < R->p->nt && !rc; i++) {
        table *t = &R->p->t[i];
        for (int k = 0; k < t->nsteps && !rc; k++) {
            part_restore u = {&t->steps[k], t, &only, pos, false};
            if (!step_parted(t, &t->steps[k])) continue;
            rc = restore_part_state(R, from, &u, part, t->steps[k].id);
            /* the restored keys are in no delta: the next snapshot is full */
            t->steps[k].since_full = t->steps[k].full_every;
        }
        if (!rc && win_parted(t)) {
            part_restore u = {NULL, t, &only, pos, false};
            snprintf(wid, sizeof wid, "%s/window", t->name);
            rc = restore_part_state(R, from, &u, part, wid);
            /* the chain stored so far was never restored here: start it again */
            t->win_since_full = WINDOW_FULL_EVERY;
        }
    }
    if (from != R->store) {
        sqlite3_exec(sl_store_db(from), "COMMIT", NULL, NULL, NULL);
        sl_store_close(from);
    }
    if (rc) {
        R->failed = rc;
        return;
    }
    sl_log_info("partition state restored", "\"partition\":\"%s\",\"from\":\"%s\",\"position\":%lld", part,
                from_db ? from_db : "this instance", (long long)pos);
    R->dirty = true; /* restored groups are written to this instance's tables */
}

/* Window tables in graph order (a rollup after the window it merges from),
 * each emission written and handed to the table's row-level children. */
static int emit_windows(run *R, bool all_final) {
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
        while ((n = sl_window_emit(t->win, R->win_out, R->ctx.watermark, all_final)) > 0) {
            t->rows_out += n;
            if (t->store == STORE_SQLITE && sl_table_write(t->writer, R->win_out, NULL, R->err)) return R->err->code;
            if (t->sink && publish(R, t, R->win_out)) return R->err->code;
            for (int c = 0; c < t->nchildren; c++) {
                if (R->p->t[t->children[c]].is_rollup) continue;
                int rc = run_table(R, t->children[c], R->win_out);
                if (rc) return rc;
            }
        }
    }
    return 0;
}

static int64_t rss_kb(void) {
    FILE *f = fopen("/proc/self/status", "r");
    if (!f) return 0;
    char line[256];
    int64_t kb = 0;
    while (fgets(line, sizeof line, f))
        if (!strncmp(line, "VmHWM:", 6)) kb = atoll(line + 6);
    fclose(f);
    return kb;
}

static void mput(run *R, size_t *n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void mput(run *R, size_t *n, const char *fmt, ...) {
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int w = vsnprintf(R->metrics + *n, R->metrics_cap - *n, fmt, ap);
        va_end(ap);
        if (w >= 0 && *n + (size_t)w < R->metrics_cap) {
            *n += (size_t)w;
            return;
        }
        R->metrics_cap = R->metrics_cap * 2 + (size_t)(w > 0 ? w : 0) + 4096;
        R->metrics = realloc(R->metrics, R->metrics_cap);
    }
}

/* Prometheus text exposition of the pipeline's counters, rebuilt at every
 * commit (so it always describes committed state) and served by /metrics. */
static void build_metrics(run *R) {
    size_t n = 0;
    if (!R->metrics) {
        R->metrics_cap = 16384;
        R->metrics = malloc(R->metrics_cap);
    }
    const char *pl = R->p->name;
#define COUNTER(name, help, val)                                                              \
    mput(R, &n, "# HELP sluice_" name " " help "\n# TYPE sluice_" name " counter\nsluice_" name \
                "{pipeline=\"%s\"} %lld\n", pl, (long long)(val))
    COUNTER("records_in_total", "Records read from sources.", R->t_in);
    COUNTER("parse_errors_total", "Records that could not be parsed (quarantined).", R->t_parse);
    COUNTER("quarantined_total", "Records sent to the quarantine table.", R->t_quar);
    COUNTER("late_total", "Records behind the watermark.", R->t_late);
    COUNTER("duplicates_total", "Duplicate records found by dedupe steps.", R->t_dup);
    COUNTER("filtered_total", "Rows removed by filters and inner lookups.", R->t_filt);
    COUNTER("dropped_total", "Rows dropped by expectations or late policy.", R->t_drop);
    COUNTER("commits_total", "Commits made.", R->commit_id);
#undef COUNTER
    mput(R, &n, "# HELP sluice_table_rows_in_total Rows entering a table.\n# TYPE sluice_table_rows_in_total counter\n");
    for (int i = 0; i < R->p->nt; i++)
        mput(R, &n, "sluice_table_rows_in_total{pipeline=\"%s\",table=\"%s\"} %lld\n", pl, R->p->t[i].name, (long long)R->p->t[i].rows_total_in);
    mput(R, &n, "# HELP sluice_table_rows_out_total Rows a table wrote (window tables: row upserts).\n# TYPE sluice_table_rows_out_total counter\n");
    for (int i = 0; i < R->p->nt; i++)
        mput(R, &n, "sluice_table_rows_out_total{pipeline=\"%s\",table=\"%s\"} %lld\n", pl, R->p->t[i].name, (long long)R->p->t[i].rows_total_out);
    mput(R, &n, "# HELP sluice_expectation_rows_total Rows checked by an expectation, by result.\n# TYPE sluice_expectation_rows_total counter\n");
    char st[512];
    for (int i = 0; i < R->p->nt; i++)
        for (int s = 0; s < R->p->t[i].nsteps; s++) {
            step *sp = &R->p->t[i].steps[s];
            if (strcmp(sp->def->name, "expect") || !sp->def->stats) continue;
            sp->def->stats(sp->self, st, sizeof st);
            char name[SL_NAME_MAX] = "";
            long long passed = 0, failedn = 0;
            sscanf(st, "{\"expectation\":\"%63[^\"]\",\"passed\":%lld,\"failed\":%lld", name, &passed, &failedn);
            mput(R, &n, "sluice_expectation_rows_total{pipeline=\"%s\",table=\"%s\",expectation=\"%s\",result=\"passed\"} %lld\n", pl, R->p->t[i].name, name, passed);
            mput(R, &n, "sluice_expectation_rows_total{pipeline=\"%s\",table=\"%s\",expectation=\"%s\",result=\"failed\"} %lld\n", pl, R->p->t[i].name, name, failedn);
        }
    int64_t now = sl_now_us();
    mput(R, &n, "# HELP sluice_watermark_lag_seconds Wall clock minus the event-time watermark.\n# TYPE sluice_watermark_lag_seconds gauge\n");
    mput(R, &n, "sluice_watermark_lag_seconds{pipeline=\"%s\"} %.3f\n", pl, R->ctx.watermark == INT64_MIN ? 0.0 : (double)(now - R->ctx.watermark) / 1e6);
    mput(R, &n, "# HELP sluice_commit_duration_seconds Duration of the last commit.\n# TYPE sluice_commit_duration_seconds gauge\n");
    mput(R, &n, "sluice_commit_duration_seconds{pipeline=\"%s\"} %.6f\n", pl, R->last_commit_ms / 1000.0);
    mput(R, &n, "# HELP sluice_last_commit_timestamp_seconds Wall-clock time of the last commit (checkpoint age = now - this).\n# TYPE sluice_last_commit_timestamp_seconds gauge\n");
    mput(R, &n, "sluice_last_commit_timestamp_seconds{pipeline=\"%s\"} %.3f\n", pl, (double)R->last_commit_wall_us / 1e6);
    int64_t files = 0, bytes = 0;
    for (int s = 0; s < R->p->nsrc; s++) {
        files += sl_input_pending_files(&R->p->src[s]);
        bytes += sl_input_pending_bytes(&R->p->src[s]);
    }
    mput(R, &n, "# HELP sluice_source_files_waiting Landing files with unread bytes.\n# TYPE sluice_source_files_waiting gauge\n");
    mput(R, &n, "sluice_source_files_waiting{pipeline=\"%s\"} %lld\n", pl, (long long)files);
    mput(R, &n, "# HELP sluice_source_bytes_waiting Unread bytes in landing files.\n# TYPE sluice_source_bytes_waiting gauge\n");
    mput(R, &n, "sluice_source_bytes_waiting{pipeline=\"%s\"} %lld\n", pl, (long long)bytes);
    bool kafka = false;
    for (int s = 0; s < R->p->nsrc; s++) kafka |= R->p->src[s].type == SRC_KAFKA;
    if (kafka) {
        mput(R, &n, "# HELP sluice_kafka_consumer_lag Messages between the consumer's position and the partitions' high watermarks.\n# TYPE sluice_kafka_consumer_lag gauge\n");
        for (int s = 0; s < R->p->nsrc; s++)
            if (R->p->src[s].type == SRC_KAFKA)
                mput(R, &n, "sluice_kafka_consumer_lag{pipeline=\"%s\",source=\"%s\"} %lld\n", pl, R->p->src[s].name, (long long)sl_input_lag(&R->p->src[s]));
        mput(R, &n, "# HELP sluice_kafka_filtered_total Messages rejected by the header/key filter before parsing.\n# TYPE sluice_kafka_filtered_total counter\n");
        for (int s = 0; s < R->p->nsrc; s++)
            if (R->p->src[s].type == SRC_KAFKA)
                mput(R, &n, "sluice_kafka_filtered_total{pipeline=\"%s\",source=\"%s\"} %lld\n", pl, R->p->src[s].name, (long long)sl_input_filtered(&R->p->src[s]));
    }
    mput(R, &n, "# HELP sluice_source_dropped_total Messages a syslog UDP listener dropped on a full queue.\n# TYPE sluice_source_dropped_total counter\n");
    for (int s = 0; s < R->p->nsrc; s++)
        if (R->p->src[s].type == SRC_SYSLOG)
            mput(R, &n, "sluice_source_dropped_total{pipeline=\"%s\",source=\"%s\"} %lld\n", pl, R->p->src[s].name, (long long)sl_input_dropped(&R->p->src[s]));
    mput(R, &n, "# HELP sluice_freshness_seconds Time from a record being read to its commit (visible in every table).\n# TYPE sluice_freshness_seconds histogram\n");
    int64_t cum = 0;
    for (size_t k = 0; k < NLAT; k++) {
        cum += R->lat_bucket[k];
        mput(R, &n, "sluice_freshness_seconds_bucket{pipeline=\"%s\",le=\"%g\"} %lld\n", pl, lat_bounds[k], (long long)cum);
    }
    mput(R, &n, "sluice_freshness_seconds_bucket{pipeline=\"%s\",le=\"+Inf\"} %lld\n", pl, (long long)R->lat_count);
    mput(R, &n, "sluice_freshness_seconds_sum{pipeline=\"%s\"} %.6f\nsluice_freshness_seconds_count{pipeline=\"%s\"} %lld\n", pl, R->lat_sum_s, pl, (long long)R->lat_count);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    double cpu = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
    mput(R, &n, "# HELP sluice_process_cpu_seconds_total CPU time used by the process.\n# TYPE sluice_process_cpu_seconds_total counter\n");
    mput(R, &n, "sluice_process_cpu_seconds_total{pipeline=\"%s\"} %.3f\n", pl, cpu);
    mput(R, &n, "# HELP sluice_process_max_resident_memory_bytes Peak resident memory.\n# TYPE sluice_process_max_resident_memory_bytes gauge\n");
    mput(R, &n, "sluice_process_max_resident_memory_bytes{pipeline=\"%s\"} %lld\n", pl, (long long)ru.ru_maxrss * 1024);
}

static int commit(run *R, bool all_final) {
    int64_t t0 = sl_monotonic_us();
    sl_error *err = R->err;
    int rc = emit_windows(R, all_final);
    if (rc) return rc;
    char kv[512], key[128];
    for (int i = 0; i < R->p->nt; i++) {
        table *t = &R->p->t[i];
        if (!t->lake) continue;
        if ((rc = sl_lake_flush(t->lake, err))) return rc;
        sl_lake_pos lp;
        sl_lake_position(t->lake, &lp);
        snprintf(key, sizeof key, "lake:%s", t->name);
        snprintf(kv, sizeof kv, "%lld\t%s", (long long)lp.length, lp.segment);
        if (sl_store_put_kv(R->store, key, kv)) return sl_error_set(err, SL_EIO, "saving lake position failed");
        if (t->retention_us > 0) sl_lake_retention(t->lake, t->retention_us, sl_now_us());
    }
    /* published rows must be acknowledged before the commit covering them */
    for (int i = 0; i < R->p->nt; i++) {
        table *t = &R->p->t[i];
        if (t->sink && (rc = sl_kafka_sink_flush(t->sink, 30000, err))) return rc;
    }
    for (int s = 0; s < R->p->nsrc; s++) {
        source *src = &R->p->src[s];
        void *ud[2] = {R, src};
        sl_input_each_position(src, pos_cb, ud);
        if (R->failed == SL_EFAIL) return SL_EFAIL; /* fenced: the message is in err */
        if (R->failed) return sl_error_set(err, SL_EIO, "saving positions failed: %s", sqlite3_errmsg(sl_store_db(R->store)));
    }
    sl_buf buf = {0};
    for (int i = 0; i < R->p->nt; i++) {
        table *t = &R->p->t[i];
        for (int s = 0; s < t->nsteps; s++) {
            step *st = &t->steps[s];
            if (!st->def->snapshot) continue;
            bool full = ++st->since_full >= st->full_every;
            buf.n = 0;
            st->def->snapshot(st->self, &buf, full);
            if (full) st->since_full = 0;
            if ((rc = state_put(R, st->id, full, &buf))) goto out;
        }
        if (t->win) { /* deltas, a full snapshot every WINDOW_FULL_EVERY commits, as steps */
            bool full = ++t->win_since_full >= WINDOW_FULL_EVERY;
            buf.n = 0;
            sl_window_snapshot(t->win, &buf, full);
            if (full) t->win_since_full = 0;
            snprintf(key, sizeof key, "%s/window", t->name);
            if ((rc = state_put(R, key, full, &buf))) goto out;
        }
    }
    if (R->nhandoff && (rc = write_handoffs(R, &buf))) goto out;
    /* schema changes: the stored schema and a 'schema' event, in this commit */
    for (int i = 0; i < R->p->nsrc; i++) {
        source *src = &R->p->src[i];
        if (!src->pending_kv) continue;
        snprintf(key, sizeof key, "schema:%s", src->name);
        if (sl_store_put_kv(R->store, key, src->pending_kv)) {
            rc = sl_error_set(err, SL_EIO, "saving the schema of '%s' failed", src->name);
            goto out;
        }
        if (src->pending_event) {
            char ts[40];
            sl_store_format_ts(sl_now_us(), ts, sizeof ts);
            sqlite3 *db = sl_store_db(R->store);
            char *q = sqlite3_mprintf("INSERT INTO _sluice_events(commit_id, ts, kind, records_in, parse_errors, quarantined, late, duplicates,"
                                      " filtered, dropped, details) VALUES(%lld, %Q, 'schema', 0, 0, 0, 0, 0, 0, 0, %Q)",
                                      (long long)++R->commit_id, ts, src->pending_event);
            char *msg = NULL;
            int e = sqlite3_exec(db, q, NULL, NULL, &msg);
            sqlite3_free(q);
            if (e != SQLITE_OK) {
                rc = sl_error_set(err, SL_EIO, "event log: %s", msg ? msg : "error");
                sqlite3_free(msg);
                goto out;
            }
        }
    }
    /* event log */
    {
        int64_t now = sl_now_us();
        char ts[40], wm[40] = "";
        sl_store_format_ts(now, ts, sizeof ts);
        if (R->ctx.watermark != INT64_MIN) sl_store_format_ts(R->ctx.watermark, wm, sizeof wm);
        double lag_avg = R->ctx.lag_n ? (double)R->ctx.lag_sum_us / (double)R->ctx.lag_n / 1000.0 : NAN;
        double lag_max = R->ctx.lag_n ? (double)R->ctx.lag_max_us / 1000.0 : NAN;
        double proc = R->c_ingest_n ? ((double)(now - R->ingest_base) - (double)R->c_ingest_sum / (double)R->c_ingest_n) / 1000.0 : NAN;
        char details[8192];
        int dn = snprintf(details, sizeof details, "{\"tables\":{");
        for (int i = 0; i < R->p->nt; i++) {
            table *t = &R->p->t[i];
            t->rows_total_in += t->rows_in;
            t->rows_total_out += t->rows_out;
            dn += snprintf(details + dn, sizeof details - (size_t)dn, "%s\"%s\":{\"in\":%lld,\"out\":%lld}", i ? "," : "", t->name,
                           (long long)t->rows_in, (long long)t->rows_out);
            t->rows_in = t->rows_out = 0;
        }
        dn += snprintf(details + dn, sizeof details - (size_t)dn, "},\"ops\":[");
        int first = 1;
        for (int i = 0; i < R->p->nt; i++)
            for (int s = 0; s < R->p->t[i].nsteps; s++) {
                step *st = &R->p->t[i].steps[s];
                if (!st->def->stats || dn > (int)sizeof details - 600) continue;
                dn += snprintf(details + dn, sizeof details - (size_t)dn, "%s{\"op\":\"%s\",\"stats\":", first ? "" : ",", st->id);
                dn += st->def->stats(st->self, details + dn, sizeof details - (size_t)dn);
                dn += snprintf(details + dn, sizeof details - (size_t)dn, "}");
                first = 0;
            }
        snprintf(details + dn, sizeof details - (size_t)dn, "],\"rss_kb\":%lld}", (long long)rss_kb());
        sqlite3 *db = sl_store_db(R->store);
        sqlite3_stmt *st;
        const char *sql = "INSERT INTO _sluice_events(commit_id, ts, kind, records_in, parse_errors, quarantined, late, duplicates, filtered, dropped,"
                          " watermark, event_lag_avg_ms, event_lag_max_ms, processing_latency_ms, commit_ms, details) VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)";
        if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
            rc = sl_error_set(err, SL_EIO, "event log: %s", sqlite3_errmsg(db));
            goto out;
        }
        R->commit_id++;
        sqlite3_bind_int64(st, 1, R->commit_id);
        sqlite3_bind_text(st, 2, ts, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 3, all_final ? "final" : "commit", -1, SQLITE_STATIC);
        int64_t vals[] = {R->c_in, R->c_parse, R->c_quar, R->c_late, R->c_dup, R->c_filt, R->c_drop};
        for (int k = 0; k < 7; k++) sqlite3_bind_int64(st, 4 + k, vals[k]);
        if (wm[0]) sqlite3_bind_text(st, 11, wm, -1, SQLITE_TRANSIENT);
        else sqlite3_bind_null(st, 11);
        if (!isnan(lag_avg)) sqlite3_bind_double(st, 12, lag_avg);
        else sqlite3_bind_null(st, 12);
        if (!isnan(lag_max)) sqlite3_bind_double(st, 13, lag_max);
        else sqlite3_bind_null(st, 13);
        if (!isnan(proc)) sqlite3_bind_double(st, 14, proc);
        else sqlite3_bind_null(st, 14);
        sqlite3_bind_double(st, 15, (double)(sl_monotonic_us() - t0) / 1000.0);
        sqlite3_bind_text(st, 16, details, -1, SQLITE_TRANSIENT);
        int src = sqlite3_step(st);
        sqlite3_finalize(st);
        if (src != SQLITE_DONE) {
            rc = sl_error_set(err, src == SQLITE_FULL ? SL_EFULL : SL_EIO, "event log: %s", sqlite3_errmsg(db));
            goto out;
        }
    }
    if ((rc = sl_store_commit(R->store, err))) goto out;
    for (int s = 0; s < R->p->nsrc; s++) {
        source *src = &R->p->src[s];
        sl_input_committed(src);
        free(src->pending_kv);
        free(src->pending_event);
        src->pending_kv = src->pending_event = NULL;
    }
    R->t_in += R->c_in, R->t_quar += R->c_quar, R->t_late += R->c_late, R->t_dup += R->c_dup;
    R->t_filt += R->c_filt, R->t_drop += R->c_drop, R->t_parse += R->c_parse;
    R->c_in = R->c_quar = R->c_late = R->c_dup = R->c_filt = R->c_drop = R->c_parse = 0;
    R->c_ingest_sum = R->c_ingest_n = 0;
    R->ingest_base = sl_now_us();
    R->ctx.lag_sum_us = R->ctx.lag_max_us = R->ctx.lag_n = 0;
    R->last_commit_us = sl_monotonic_us();
    R->last_commit_wall_us = sl_now_us();
    R->last_commit_ms = (double)(R->last_commit_us - t0) / 1000.0;
    for (size_t i = 0; i < R->npending; i++) {
        double lat = (double)(R->last_commit_wall_us - R->pending[i].ingest) / 1e6;
        size_t k = 0;
        while (k < NLAT && lat > lat_bounds[k]) k++;
        R->lat_bucket[k] += R->pending[i].n;
        R->lat_count += R->pending[i].n;
        R->lat_sum_s += lat * (double)R->pending[i].n;
    }
    R->npending = 0;
    R->dirty = false;
    build_metrics(R);
    if (R->server) sl_server_publish(R->server, R->commit_id, R->metrics);
    sl_log_debug("committed", "\"commit\":%lld,\"ms\":%.1f", (long long)R->commit_id, (double)(R->last_commit_us - t0) / 1000.0);
    /* Another process holding the database's write lock stalls the
     * pipeline, it does not end it: input waits on disk or in Kafka (the
     * source is not read meanwhile), /healthz keeps answering, and the
     * checkpoint age on /metrics shows the stall. At start-up the same lock
     * is an error instead (setup): most likely a second `sluice run` on
     * the same data directory. */
    for (int waited = 0; (rc = sl_store_begin(R->store, err)) == SL_EAGAIN && !(R->opts->stop && *R->opts->stop);) {
        waited += 5;
        sl_log_warn("database locked by another process: waiting", "\"pipeline\":\"%s\",\"waited_s\":%d", R->p->name, waited);
        err->msg[0] = 0;
        err->code = 0;
    }
out:
    sl_buf_free(&buf);
    return rc;
}

typedef struct { run *R; step *st; table *t; } restore_ud;

static int restore_step_cb(void *ud, bool full, const void *data, size_t n, sl_error *err) {
    restore_ud *u = ud;
    return u->st->def->restore(u->st->self, data, n, full, err);
}

static int restore_window_cb(void *ud, bool full, const void *data, size_t n, sl_error *err) {
    restore_ud *u = ud;
    int rc = sl_window_restore(u->t->win, data, n, full, err);
    if (rc) {
        char msg[sizeof err->msg];
        snprintf(msg, sizeof msg, "%s", err->msg);
        sl_error_set(err, rc, "table '%s': %s", u->t->name, msg);
    }
    return rc;
}

/* A Kafka rebalance is taking partitions away: commit what was read from
 * them first, so the next owner starts exactly where this process stopped. */
static void revoke_commit(void *ud, source *s, const char *const *partitions, int n) {
    run *R = ud;
    if (R->closing || R->failed) return;
    if (!R->dirty && !R->parted) return;
    sl_log_info("partitions revoked: committing", "\"pipeline\":\"%s\"", R->p->name);
    if (R->parted) {
        R->handoff = partitions;
        R->nhandoff = n;
        R->handoff_src = s;
    }
    int rc = commit(R, false);
    R->nhandoff = 0;
    R->handoff = NULL;
    if (rc) {
        R->failed = rc;
        return;
    }
    if (!R->parted) return;
    /* the partitions' state now belongs to their next owner */
    uint64_t *tags = calloc((size_t)n + 1, sizeof *tags);
    if (!tags) return;
    for (int i = 0; i < n; i++) tags[i] = sl_part_tag(partitions[i], strlen(partitions[i]));
    sl_part_set set = {tags, n};
    for (int i = 0; i < R->p->nt; i++) {
        table *t = &R->p->t[i];
        for (int k = 0; k < t->nsteps; k++)
            if (step_parted(t, &t->steps[k])) {
                t->steps[k].def->drop_parts(t->steps[k].self, &set);
                t->steps[k].since_full = t->steps[k].full_every; /* a delta cannot express the drop */
            }
        if (win_parted(t)) sl_window_drop_parts(t->win, &set);
    }
    free(tags);
}

static int setup(run *R) {
    sl_pipeline *p = R->p;
    sl_error *err = R->err;
    char path[PATH_MAX + 64];
    char base[PATH_MAX];
    if (sl_pipeline_data_dir(p, R->opts->data_dir, base, sizeof base, true, err)) return err->code;
    R->parted = p->part_column && R->opts->instance;
    snprintf(R->base, sizeof R->base, "%s", base);
    if (R->opts->instance) {
        char inst[PATH_MAX];
        snprintf(inst, sizeof inst, "%.*s/instance-%s", (int)(sizeof inst - 80), base, R->opts->instance);
        if (sl_pipeline_data_dir(p, inst, R->dir, sizeof R->dir, true, err)) return err->code;
    } else {
        snprintf(R->dir, sizeof R->dir, "%s", base);
    }
    snprintf(path, sizeof path, "%s/sluice.db", R->dir);
    R->store = sl_store_open(path, false, err);
    if (!R->store) return err->code;
    int rc = sl_store_exec(R->store,
                           "CREATE TABLE IF NOT EXISTS _sluice_events(commit_id INTEGER PRIMARY KEY, ts TEXT, kind TEXT, records_in INTEGER,"
                           " parse_errors INTEGER, quarantined INTEGER, late INTEGER, duplicates INTEGER, filtered INTEGER, dropped INTEGER,"
                           " watermark TEXT, event_lag_avg_ms REAL, event_lag_max_ms REAL, processing_latency_ms REAL, commit_ms REAL, details TEXT);"
                           "CREATE VIEW IF NOT EXISTS pipeline_stats AS SELECT count(*) AS commits, sum(records_in) AS records_in,"
                           " sum(quarantined) AS quarantined, sum(late) AS late, sum(duplicates) AS duplicates,"
                           " round(100.0*sum(duplicates)/max(sum(records_in),1),3) AS duplicate_rate_pct,"
                           " round(avg(event_lag_avg_ms),1) AS event_lag_avg_ms, max(event_lag_max_ms) AS event_lag_max_ms,"
                           " round(avg(processing_latency_ms),1) AS processing_latency_avg_ms, max(processing_latency_ms) AS processing_latency_max_ms,"
                           " max(watermark) AS watermark, max(ts) AS last_commit FROM _sluice_events;",
                           err);
    if (rc) return rc;
    if ((rc = sl_store_begin(R->store, err))) return rc;
    /* schemas of inferring/evolving sources: the stored ones win (this may
     * recompile the pipeline); new ones are stored with the next commit */
    if ((rc = sl_evolve_resolve(p, R->store, true, err))) return rc;
    for (int s = 0; s < p->nsrc; s++)
        if (p->src[s].pending_kv) R->dirty = true;
    /* counters and commit id from the event log */
    {
        sqlite3_stmt *st;
        sqlite3 *db = sl_store_db(R->store);
        if (sqlite3_prepare_v2(db, "SELECT coalesce(max(commit_id),0), coalesce(sum(records_in),0), coalesce(sum(quarantined),0), coalesce(sum(late),0),"
                                   " coalesce(sum(duplicates),0), coalesce(sum(filtered),0), coalesce(sum(dropped),0), coalesce(sum(parse_errors),0) FROM _sluice_events",
                               -1, &st, NULL) == SQLITE_OK &&
            sqlite3_step(st) == SQLITE_ROW) {
            R->commit_id = sqlite3_column_int64(st, 0);
            R->t_in = sqlite3_column_int64(st, 1);
            R->t_quar = sqlite3_column_int64(st, 2);
            R->t_late = sqlite3_column_int64(st, 3);
            R->t_dup = sqlite3_column_int64(st, 4);
            R->t_filt = sqlite3_column_int64(st, 5);
            R->t_drop = sqlite3_column_int64(st, 6);
            R->t_parse = sqlite3_column_int64(st, 7);
            sqlite3_finalize(st);
        }
    }
    for (int i = 0; i < p->nt; i++) {
        table *t = &p->t[i];
        t->work = sl_batch_new(&t->full, p->batch_size);
        if (t->nproj) {
            t->view = calloc(1, sizeof *t->view);
            t->view->schema = t->out;
            t->view->cap = t->work->cap;
        }
        if (t->store == STORE_SQLITE) {
            /* window tables, and tables reading window rows, upsert by _group */
            bool upsert = t->win || sl_schema_find(&t->out, "_group") >= 0;
            t->writer = sl_store_table(R->store, t->name, &t->out, upsert ? SL_WRITE_UPSERT : SL_WRITE_APPEND, !upsert, err);
            if (!t->writer) return err->code;
        } else if (t->store == STORE_LAKE) {
            snprintf(path, sizeof path, "%s/%s/%s", R->dir, t->layer == LAYER_BRONZE ? "bronze" : t->layer == LAYER_GOLD ? "gold" : "silver", t->name);
            t->lake = sl_lake_open(path, 64 << 20, 1, err);
            if (!t->lake) return err->code;
            if (sl_json_keys_init(&t->keys, &t->out)) return sl_error_set(err, SL_ENOMEM, "out of memory");
            char key[128], kv[512];
            sl_lake_pos lp = {"", 0};
            snprintf(key, sizeof key, "lake:%s", t->name);
            if (sl_store_get_kv(R->store, key, kv, sizeof kv) == 0) {
                char *tab = strchr(kv, '\t');
                lp.length = atoll(kv);
                if (tab) snprintf(lp.segment, sizeof lp.segment, "%s", tab + 1);
            }
            if ((rc = sl_lake_recover(t->lake, &lp, err))) return rc;
        }
        if (t->pub_topic) {
            t->sink = sl_kafka_sink_open(t->pub_brokers, t->pub_topic, (const char *const *)t->pub_props, t->npub_props, err);
            if (!t->sink) return err->code;
            if (!t->keys.n && sl_json_keys_init(&t->keys, &t->out)) return sl_error_set(err, SL_ENOMEM, "out of memory");
            if (t->pub_key) {
                sl_schema ks;
                sl_schema_init(&ks);
                sl_schema_add(&ks, "key", sl_expr_type(t->pub_key));
                t->pub_keycol = sl_batch_new(&ks, t->work->cap > 4096 ? t->work->cap : 4096);
            }
        }
        restore_ud u = {R, NULL, t};
        for (int s = 0; s < t->nsteps; s++) {
            u.st = &t->steps[s];
            if (R->parted && step_parted(t, u.st)) continue; /* restored per partition on assignment */
            if (u.st->def->restore && (rc = sl_store_load_state(R->store, u.st->id, restore_step_cb, &u, err))) return rc;
        }
        if (t->win && !(R->parted && win_parted(t))) {
            char key[128];
            snprintf(key, sizeof key, "%s/window", t->name);
            if ((rc = sl_store_load_state(R->store, key, restore_window_cb, &u, err))) return rc;
        }
    }
    for (int v = 0; v < p->nviews; v++) {
        char *sql = sqlite3_mprintf("DROP VIEW IF EXISTS \"%w\"; CREATE VIEW \"%w\" AS %s", p->views[v].name, p->views[v].name, p->views[v].sql);
        rc = sl_store_exec(R->store, sql, err);
        sqlite3_free(sql);
        if (rc) return sl_error_set(err, SL_EINVAL, "view '%s': %s", p->views[v].name, err->msg);
    }
    for (int s = 0; s < p->nsrc; s++) {
        source *src = &p->src[s];
        src->on_revoke = revoke_commit;
        src->on_assign = assign_restore;
        src->revoke_ud = R;
        if (R->opts->instance && src->type == SRC_KAFKA) {
            snprintf(path, sizeof path, "%s/sluice.db", R->dir);
            src->siblings = sl_siblings_new(base, path);
        }
        if ((rc = sl_input_open(src, R->store, R->opts->once, p->batch_size, err))) return rc;
    }
    /* let watermark steps publish their restored watermark */
    R->ctx.now_us = sl_now_us();
    for (int i = 0; i < p->nt; i++) {
        table *t = &p->t[i];
        sl_batch_clear(t->work);
        for (int s = 0; s < t->nsteps; s++)
            if (!strcmp(t->steps[s].def->name, "watermark")) t->steps[s].def->process(t->steps[s].self, t->work, &R->ctx, err);
    }
    R->ctx.lag_sum_us = R->ctx.lag_max_us = R->ctx.lag_n = 0;
    return 0;
}

static void status_line(run *R, bool final) {
    int64_t now = sl_monotonic_us();
    double dt = (double)(now - R->last_status_us) / 1e6;
    int64_t in = R->t_in + R->c_in;
    double rate = dt > 0 ? (double)(in - R->last_status_in) / dt : 0;
    int64_t silver = 0, gold = 0;
    for (int i = 0; i < R->p->nt; i++) {
        table *t = &R->p->t[i];
        if (t->layer == LAYER_SILVER) silver += t->rows_total_out + t->rows_out;
        if (t->layer == LAYER_GOLD) gold += t->rows_total_out + t->rows_out;
    }
    int64_t pending = 0, lag = 0, filtered = 0;
    bool kafka = false;
    for (int s = 0; s < R->p->nsrc; s++) {
        pending += sl_input_pending_files(&R->p->src[s]);
        lag += sl_input_lag(&R->p->src[s]);
        filtered += sl_input_filtered(&R->p->src[s]);
        kafka |= R->p->src[s].type == SRC_KAFKA;
    }
    double wm_lag = R->ctx.watermark != INT64_MIN ? (double)(sl_now_us() - R->ctx.watermark) / 1e6 : 0;
    char kinfo[128] = "";
    if (kafka) snprintf(kinfo, sizeof kinfo, " consumed=%lld filtered=%lld consumer_lag=%lld", (long long)(in + filtered), (long long)filtered, (long long)lag);
    fprintf(stderr,
            "sluice %s: %s in=%lld silver=%lld gold_rows=%lld duplicates=%lld quarantined=%lld late=%lld files_waiting=%lld%s "
            "watermark_lag=%.1fs rate=%.0f/s\n",
            R->p->name, final ? "done" : "status", (long long)in, (long long)silver, (long long)gold, (long long)(R->t_dup + R->c_dup),
            (long long)(R->t_quar + R->c_quar), (long long)(R->t_late + R->c_late), (long long)pending, kinfo, wm_lag, rate);
    R->last_status_us = now;
    R->last_status_in = in;
}

/* Reads one batch from source s; returns rows read (0: nothing ready), <0 on error. */
static int read_source(run *R, source *s, bool final) {
    sl_batch *b = s->batch;
    bad_ud u = {R, s};
    int64_t errs_before = R->c_parse;
    int got = sl_input_read(s, final, R->ctx.now_us, bad_record_cb, &u, R->err);
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
                R->pending = realloc(R->pending, R->cap_pending * sizeof *R->pending);
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
    if (rc) sl_log_warn("dashboard: cannot see the other instances", "\"error\":\"%s\"", e.msg);
    return SQLITE_OK;
}

static int start_server(run *R) {
    const char *listen = R->opts->listen ? R->opts->listen : R->p->listen;
    if (!listen) return 0;
    char db[PATH_MAX + 16];
    snprintf(db, sizeof db, "%s/sluice.db", R->dir);
    const char *token = R->p->token;
    const char *envtok = getenv("SLUICE_TOKEN");
    if (!token && envtok && *envtok) token = envtok;
    sl_server_config cfg = {
        .listen = listen,
        .token = token,
        .db_path = db,
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
    sl_log_info("server listening", "\"url\":\"http://%s:%d/\",\"auth\":%s", host, port, token ? "true" : "false");
    if (R->opts->status_every_s > 0) fprintf(stderr, "sluice %s: dashboard at http://%s:%d/ (pipeline page: /pipeline, metrics: /metrics)\n", R->p->name, host, port);
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
        if (R->dirty && (rc = commit(R, false))) return rc;
        return sl_error_set(R->err, SL_EFAIL, "source '%s': new field '%s' in %s at byte %lld (evolve: fail)", src->name,
                            src->change.added[0].name, pn, (long long)src->change_pos);
    }
    if (src->evolve == EVOLVE_NONE) src->change.nadded = 0; /* only widening was asked for */
    char here[sizeof R->last_change];
    snprintf(here, sizeof here, "%s/%s/%lld/%s", src->name, pn, (long long)src->change_pos,
             src->change.nadded ? src->change.added[0].name : src->schema.f[src->change.widened[0]].name);
    if (!strcmp(here, R->last_change)) /* the rebuilt parser stopped at the same record: never loop */
        return sl_error_set(R->err, SL_EFAIL, "source '%s': the schema change at %s byte %lld did not take effect", src->name, pn,
                            (long long)src->change_pos);
    snprintf(R->last_change, sizeof R->last_change, "%s", here);
    sl_evolve_prepare(p, src, pn);
    /* tests: SLUICE_TEST_KILL_AT_SCHEMA=before:N|after:N kills the process
     * (SIGKILL) around the N-th schema change it makes */
    const char *kill_at = getenv("SLUICE_TEST_KILL_AT_SCHEMA");
    static int nchanges;
    bool kill_now = kill_at && atoi(strchr(kill_at, ':') ? strchr(kill_at, ':') + 1 : "1") == ++nchanges;
    if (kill_now && !strncmp(kill_at, "before", 6)) raise(SIGKILL);
    if ((rc = commit(R, false))) return rc;
    if (kill_now && !strncmp(kill_at, "after", 5)) raise(SIGKILL);
    R->closing = true;
    for (int s = 0; s < p->nsrc; s++) sl_input_close(&p->src[s]);
    sl_store_close(R->store);
    R->store = NULL;
    if ((rc = sl_pipeline_reload(p, R->err))) return rc;
    R->closing = false;
    R->ctx.watermark = R->ctx.max_event_time = INT64_MIN;
    if ((rc = setup(R))) return rc;
    for (int s = 0; s < p->nsrc; s++)
        if ((rc = sl_input_scan(&p->src[s], R->err))) return rc;
    return 0;
}

int sl_pipeline_run(sl_pipeline *p, const sl_run_opts *opts, sl_error *err) {
    run R = {0};
    R.p = p;
    R.opts = opts;
    R.err = err;
    R.ctx.engine = &R;
    R.ctx.quarantine = quarantine_cb;
    R.ctx.max_event_time = INT64_MIN;
    R.ctx.watermark = INT64_MIN;
    int rc = setup(&R);
    if (rc) goto out;
    if ((rc = start_server(&R))) goto out;
    build_metrics(&R);
    if (R.server) {
        sl_server_publish(R.server, R.commit_id, R.metrics);
        sl_server_set_ready(R.server, true);
    }
    sl_log_info("pipeline started", "\"pipeline\":\"%s\",\"data\":\"%s\",\"commit_id\":%lld,\"records_in\":%lld", p->name, R.dir,
                (long long)R.commit_id, (long long)R.t_in);
    R.last_commit_us = R.last_status_us = R.started_us = sl_monotonic_us();
    R.ingest_base = sl_now_us();
    R.last_status_in = R.t_in;
    for (int s = 0; s < p->nsrc; s++)
        if ((rc = sl_input_scan(&p->src[s], err))) goto out;
    int64_t last_scan = sl_monotonic_us();
    int idle_turns = 0;
    while (!(opts->stop && *opts->stop)) {
        R.ctx.now_us = sl_now_us();
        int any = 0;
        for (int s = 0; s < p->nsrc; s++) {
            source *src = &p->src[s];
            int got = read_source(&R, src, opts->once);
            if (got < 0) {
                rc = got;
                goto out;
            }
            if (R.failed) { /* a commit inside a rebalance has already said why */
                rc = err->msg[0] ? R.failed : sl_error_set(err, R.failed, "writing quarantine failed: %s", sqlite3_errmsg(sl_store_db(R.store)));
                goto out;
            }
            if (got == 0 && !src->change_pending) continue;
            any = 1;
            if (got > 0) {
                R.dirty = true;
                for (int i = 0; i < p->nt; i++) {
                    if (p->t[i].from_source != s) continue;
                    if ((rc = run_table(&R, i, src->batch))) goto out;
                }
                R.c_quar += R.ctx.quarantined, R.c_late += R.ctx.late, R.c_dup += R.ctx.duplicates;
                R.c_filt += R.ctx.filtered, R.c_drop += R.ctx.dropped;
                R.ctx.quarantined = R.ctx.late = R.ctx.duplicates = R.ctx.filtered = R.ctx.dropped = 0;
            }
            if (src->change_pending) {
                if ((rc = evolve_schema(&R, src))) goto out;
                break; /* the sources were rebuilt */
            }
        }
        int64_t now = sl_monotonic_us();
        if (now - R.last_commit_us >= p->commit_interval_us) {
            if (R.dirty) {
                if ((rc = commit(&R, false))) goto out;
            } else { /* nothing to commit: keep /metrics (lag, CPU) current */
                R.last_commit_us = now;
                build_metrics(&R);
                if (R.server) sl_server_publish(R.server, R.commit_id, R.metrics);
            }
        }
        if (opts->status_every_s > 0 && now - R.last_status_us >= (int64_t)(opts->status_every_s * 1e6)) status_line(&R, false);
        if (any) {
            idle_turns = 0;
            for (int s = 0; s < p->nsrc; s++) p->src[s].wait_ms = 0;
            continue;
        }
        if (opts->once) {
            bool done = true;
            for (int s = 0; s < p->nsrc; s++) done &= sl_input_done(&p->src[s]);
            if (done) break;
        }
        /* Caught up with the input: commit now rather than at the end of the
         * interval, so freshness is the time to read and commit, not up to
         * commit_interval (under load, commits stay one interval apart). */
        if (R.dirty && now - R.last_commit_us >= SL_MIN_COMMIT_GAP_US && (rc = commit(&R, false))) goto out;
        /* idle: look for new files, then sleep a little */
        if (now - last_scan >= 50000 || idle_turns > 0) {
            for (int s = 0; s < p->nsrc; s++)
                if ((rc = sl_input_scan(&p->src[s], err))) goto out;
            last_scan = now;
        }
        idle_turns++;
        /* A Kafka source waits in its poll instead, so a message arriving
         * is read at once rather than after the sleep. */
        bool kafka_waits = false;
        for (int s = 0; s < p->nsrc; s++)
            if (p->src[s].type == SRC_KAFKA) {
                p->src[s].wait_ms = idle_turns > 20 ? 50 : 5;
                kafka_waits = true;
            }
        if (!kafka_waits) usleep(idle_turns > 20 ? 50000 : 5000);
    }
    rc = commit(&R, opts->once);
    if (!rc && opts->status_every_s > 0) status_line(&R, true);
    if (!rc) sl_log_info("pipeline stopped", "\"pipeline\":\"%s\",\"records_in\":%lld,\"commits\":%lld", p->name, (long long)R.t_in, (long long)R.commit_id);
out:
    if (rc && err->msg[0] == 0) sl_error_set(err, rc, "%s", sl_strerror(rc));
    R.closing = true;
    for (int s = 0; s < p->nsrc; s++) sl_input_close(&p->src[s]);
    if (R.server) sl_server_stop(R.server);
    sl_batch_free(R.win_out);
    free(R.pending);
    free(R.metrics);
    if (R.store) sl_store_close(R.store);
    return rc;
}

int sl_pipeline_data_dir(const sl_pipeline *p, const char *data_dir, char *out, size_t cap, bool create, sl_error *err) {
    if (data_dir && *data_dir) snprintf(out, cap, "%s", data_dir);
    else snprintf(out, cap, "data/%s", p->name);
    if (!create) return 0;
    char tmp[PATH_MAX];
    snprintf(tmp, sizeof tmp, "%s", out);
    for (char *q = tmp + 1; *q; q++) {
        if (*q != '/') continue;
        *q = 0;
        mkdir(tmp, 0755);
        *q = '/';
    }
    if (mkdir(tmp, 0755) && errno != EEXIST) return sl_error_set(err, SL_EIO, "cannot create data directory %s: %s", out, strerror(errno));
    return 0;
}
