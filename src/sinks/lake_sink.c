/*
 * lake_sink.c - the `lake` sink: rows with audit fields (_ingest_ts,
 * _source, _offset) in segments under DATA/<layer>/<table>/dt=.../hr=.../
 * (lake.h): Parquet files (format: parquet, the default) or NDJSON lines in
 * zstd frames (format: ndjson).
 *
 * prepare ends the open zstd frame (sl_lake_flush) and records the
 * segment's committed length in the store under "lake:<table>", in the
 * commit transaction; open gives that length back to sl_lake_recover, which
 * truncates whatever a crash left after it. Retention runs at prepare too.
 *
 * The cold tier (cold_after:, cold_path:): at prepare, about COLD_BYTES of
 * hour folders older than cold_after move to cold_path/<layer>/<table>/
 * (sl_lake_cold_move), only folders whose segments are all older than a
 * position known to be committed: the one recovered at open, or one a later
 * prepare recorded once the event log shows a newer commit (phase 1 may run
 * again in the same transaction while an output is unavailable, so "the
 * previous prepare" alone proves nothing). A segment moved before its commit
 * would be in the cold tier when recovery cuts the lake back.
 */
#include <limits.h>
#include <stdbool.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/mem.h"
#include "core/timeutil.h"
#include "formats/json_write.h"
#include "sinks/lake.h"
#include "sinks/lake_ref.h"
#include "sinks/sink.h"

#define SEGMENT_BYTES (64 << 20)
/* Hot bytes moved to the cold tier per commit (at least one segment): zstd
 * level 19 recompresses a few MB of NDJSON a second, and this runs in the
 * commit, so each commit's share stays at a few seconds. */
#define COLD_BYTES (4LL << 20)
#define COLD_LEVEL 19

typedef struct {
    char table[SL_NAME_MAX];
    int64_t retention_us;
    int64_t cold_after_us;       /* 0: no cold tier */
    char cold_path[SL_PATH_MAX]; /* resolved cold_path:, "" for DATA/cold */
    int64_t safe_seq;            /* segments below it are committed (see top) */
    int64_t pending_seq;         /* the position's sequence at the last prepare */
    int64_t pending_commit;      /* the event log's last commit id then */
    int64_t cold_moved;          /* segments moved since open */
    sl_lake *lake;
    bool parquet;
    /* parquet: the table's columns then _ingest_ts, _source, _offset; with
     * references (env->ref_schema), only the columns not taken from the
     * input row, then _ref */
    sl_schema pq_schema;
    bool refs;
    /* references: the referenced table, its folder and retention, every
     * column (materialize) and the lowest sequence of its segments still
     * referenced (INT64_MAX: none; recorded as lakepin:<ref>:<table>) */
    char ref_table[SL_NAME_MAX], ref_layer[16];
    char ref_root[SL_PATH_MAX + 2 * SL_NAME_MAX];
    int64_t ref_retention_us;
    sl_schema full_schema;
    int64_t pin_seq;
    int64_t floor_from; /* this table's first segment that may hold _ref */
    int64_t materialized;
    char root[PATH_MAX + SL_NAME_MAX + 16]; /* this table's folder */
    /* tables that reference this one (their pins hold its retention) */
    char referrers[SL_SINK_MAX_REFERRERS][SL_NAME_MAX];
    int nreferrers;
    int64_t *ids; /* row id of each row of the last write (row_ids) */
    uint32_t ids_cap, nids;
    sl_str *sources; /* _source per row of a batch (batch_cap) */
    uint32_t sources_cap;
    sl_json_keys keys;
    char *line;
    size_t line_cap;
    int64_t rows;
} lake_sink;

/* out = the table's columns, then the audit columns every row carries. */
static int with_audit(sl_schema *out, const sl_sink_env *env, sl_error *err) {
    *out = *env->schema;
    if (sl_schema_add(out, "_ingest_ts", SL_T_TS) < 0 ||
        sl_schema_add(out, "_source", SL_T_STRING) < 0 ||
        sl_schema_add(out, "_offset", SL_T_INT) < 0)
        return sl_error_set(err, SL_EINVAL,
                            "table '%s': too many columns, or a column named _ingest_ts, "
                            "_source or _offset, for a parquet lake",
                            env->table);
    return 0;
}

static int ls_create(const sl_node *arg, const sl_sink_env *env, void **self, sl_error *err) {
    (void)arg;
    lake_sink *s = sl_xcalloc(1, sizeof *s);
    snprintf(s->table, sizeof s->table, "%s", env->table);
    s->retention_us = env->retention_us;
    s->parquet = !env->format || !env->format->str || strcmp(env->format->str, "ndjson") != 0;
    int rc = 0;
    s->refs = s->parquet && env->ref_schema;
    s->pin_seq = INT64_MAX;
    if (s->refs) {
        snprintf(s->ref_table, sizeof s->ref_table, "%s", env->ref_table);
        snprintf(s->ref_layer, sizeof s->ref_layer, "%s", env->ref_layer);
        s->ref_retention_us = env->ref_retention_us;
        rc = with_audit(&s->full_schema, env, err);
        sl_schema_init(&s->pq_schema);
        for (int c = 0; c < env->schema->n; c++) {
            const sl_field *f = &env->schema->f[c];
            int k = sl_schema_find(env->ref_schema, f->name);
            if (k < 0 || env->ref_schema->f[k].type != f->type)
                sl_schema_add(&s->pq_schema, f->name, f->type);
        }
        if (sl_schema_add(&s->pq_schema, "_ref", SL_T_INT) < 0)
            rc = sl_error_set(err, SL_EINVAL, "table '%s': a column named _ref", env->table);
    } else if (s->parquet) {
        rc = with_audit(&s->pq_schema, env, err);
    }
    if (env->cold_after &&
        sl_node_duration(env->cold_after, "cold_after", &s->cold_after_us, err) != 0)
        rc = err->code ? err->code : SL_EINVAL;
    if (!rc && env->cold_path && env->cold_path->str)
        sl_spec_path(env->cold_path, env->cold_path->str, s->cold_path, sizeof s->cold_path);
    if (!rc && env->cold_path && !env->cold_after)
        rc = sl_node_error(err, env->cold_path, "table '%s': cold_path needs cold_after",
                           env->table);
    if (rc) { /* the engine destroys only sinks that were created */
        free(s);
        return rc;
    }
    *self = s;
    return 0;
}

static int ls_open(void *self, const sl_sink_env *env, sl_error *err) {
    lake_sink *s = self;
    char *path = s->root;
    snprintf(s->root, sizeof s->root, "%s/%s/%s", env->data_dir, env->layer, env->table);
    s->lake = s->parquet ? sl_lake_open_parquet(path, &s->pq_schema, SEGMENT_BYTES, 0, err)
                         : sl_lake_open(path, SEGMENT_BYTES, 1, err);
    if (!s->lake) return err->code;
    if (sl_json_keys_init(&s->keys, env->schema))
        return sl_error_set(err, SL_ENOMEM, "out of memory");
    char key[SL_NAME_MAX + 8], kv[512];
    sl_lake_pos lp = {"", 0};
    snprintf(key, sizeof key, "lake:%s", env->table);
    if (sl_store_get_kv(env->store, key, kv, sizeof kv) == 0) {
        char *tab = strchr(kv, '\t');
        lp.length = atoll(kv);
        if (tab) snprintf(lp.segment, sizeof lp.segment, "%s", tab + 1);
    }
    int rc = sl_lake_recover(s->lake, &lp, err);
    if (rc) return rc;
    s->nreferrers = 0;
    for (int i = 0; i < env->nreferrers; i++)
        snprintf(s->referrers[s->nreferrers++], SL_NAME_MAX, "%s", env->referrers[i]);
    if (s->refs) {
        snprintf(s->ref_root, sizeof s->ref_root, "%s/%s/%s", env->data_dir, s->ref_layer,
                 s->ref_table);
        s->floor_from = 0;
        s->pin_seq = sl_lake_ref_floor(path, &s->floor_from);
        if (s->pin_seq < 0) s->pin_seq = 0; /* unknown: the other table keeps everything */
    }
    if (lp.segment[0] && sl_lake_segment_parse(lp.segment, &s->safe_seq, NULL) != 0)
        s->safe_seq = 0;
    if (s->cold_after_us > 0) {
        char cold[SL_PATH_MAX + PATH_MAX];
        if (s->cold_path[0])
            snprintf(cold, sizeof cold, "%s/%s/%s", s->cold_path, env->layer, env->table);
        else
            snprintf(cold, sizeof cold, "%s/cold/%s/%s", env->data_dir, env->layer, env->table);
        if ((rc = sl_lake_set_cold(s->lake, cold, err))) return rc;
    }
    return 0;
}

/* Rows of b in runs of one ingest hour (the segment's folder), recording
 * each row's id for row_ids when another table references this one. */
static int append_hour_runs(lake_sink *s, const sl_batch *b, const sl_column *const *cols,
                            sl_error *err) {
    uint32_t from = 0;
    while (from < b->n) {
        int64_t hour = sl_floor_div(b->ingest[from], 3600LL * SL_US_PER_SEC);
        uint32_t to = from + 1;
        while (to < b->n && sl_floor_div(b->ingest[to], 3600LL * SL_US_PER_SEC) == hour)
            to++;
        int64_t id;
        if (sl_lake_append_columns(s->lake, cols, from, to - from, b->ingest[from], &id, err))
            return err->code;
        for (uint32_t r = from; s->nreferrers && r < to; r++)
            s->ids[r] = id + (r - from);
        from = to;
    }
    s->rows += b->n;
    s->nids = b->n;
    return 0;
}

static int ls_row_ids(void *self, int64_t *out, uint32_t n) {
    lake_sink *s = self;
    if (!s->parquet || !s->nreferrers || n != s->nids) return -1;
    memcpy(out, s->ids, n * sizeof *out);
    return 0;
}

/* Parquet: the batch's columns go to the segment as they are (no per-row
 * formatting); the audit columns are views of the batch's provenance arrays.
 * Rows are handed over in runs of one ingest hour (the segment's folder). */
static int ls_write_columns(lake_sink *s, const sl_batch *b, const char *const *part_names,
                            sl_error *err) {
    const sl_column *cols[SL_MAX_COLUMNS];
    int nt = s->pq_schema.n - (s->refs ? 1 : 3);
    for (int c = 0; c < nt; c++) {
        int bc = sl_schema_find(&b->schema, s->pq_schema.f[c].name);
        if (bc < 0 || b->col[bc].type != s->pq_schema.f[c].type)
            return sl_error_set(err, SL_EINVAL, "lake %s: the batch has no column %s of type %s",
                                s->table, s->pq_schema.f[c].name,
                                sl_type_name(s->pq_schema.f[c].type));
        cols[c] = &b->col[bc];
    }
    if (s->nreferrers && s->ids_cap < b->n) {
        s->ids_cap = b->cap > b->n ? b->cap : b->n;
        s->ids = sl_xrealloc(s->ids, s->ids_cap * sizeof *s->ids);
    }
    if (s->refs) { /* the audit columns are the input row's too */
        for (uint32_t r = 0; s->pin_seq == INT64_MAX && r < b->n; r++)
            if ((b->ref[r] >> 32) < s->pin_seq) s->pin_seq = b->ref[r] >> 32;
        sl_column ref = {.type = SL_T_INT, .null = NULL, .v.i = b->ref};
        cols[nt] = &ref;
        return append_hour_runs(s, b, cols, err);
    }
    if (s->sources_cap < b->n) {
        s->sources_cap = b->cap > b->n ? b->cap : b->n;
        s->sources = sl_xrealloc(s->sources, s->sources_cap * sizeof *s->sources);
    }
    int32_t last_part = INT32_MIN;
    sl_str src = {"", 0};
    for (uint32_t r = 0; r < b->n; r++) {
        if (b->part[r] != last_part) {
            last_part = b->part[r];
            const char *nm = part_names && last_part >= 0 ? part_names[last_part] : "";
            src = (sl_str){nm, (uint32_t)strlen(nm)};
        }
        s->sources[r] = src;
    }
    sl_column ingest = {.type = SL_T_TS, .null = NULL, .v.i = b->ingest};
    sl_column source = {.type = SL_T_STRING, .null = NULL, .v.s = s->sources};
    sl_column offset = {.type = SL_T_INT, .null = NULL, .v.i = b->pos};
    cols[nt] = &ingest;
    cols[nt + 1] = &source;
    cols[nt + 2] = &offset;
    return append_hour_runs(s, b, cols, err);
}

static int ls_write(void *self, const sl_batch *b, const char *const *part_names, sl_error *err) {
    lake_sink *s = self;
    if (s->parquet) return ls_write_columns(s, b, part_names, err);
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
            const char *src = part_names ? part_names[last_part] : "";
            sl_json_escape(esc, sizeof esc, src, (int)strlen(src));
            prefix = snprintf(extra, sizeof extra,
                              ",\"_ingest_ts\":\"%s\",\"_source\":\"%s\",\"_offset\":", its, esc);
        }
        size_t extra_len = (size_t)prefix + (size_t)sl_fmt_i64(extra + prefix, b->pos[r]);
        for (;;) {
            size_t need =
                sl_json_write_row_keys(b, r, &s->keys, extra, extra_len, s->line, s->line_cap);
            if (need < s->line_cap) {
                if (sl_lake_append(s->lake, s->line, need, b->ingest[r], err)) return err->code;
                break;
            }
            s->line_cap = need + 1024;
            s->line = sl_xrealloc(s->line, s->line_cap);
        }
    }
    s->rows += b->n;
    return 0;
}

/* ---- references (lake_ref.h) ----
 * A table storing references records, at each commit, the lowest segment
 * sequence of the referenced table its segments still reference
 * (lakepin:<referenced>:<table>); the referenced table's retention keeps
 * every hour folder holding a segment from there on. Segments older than
 * the referenced table's retention (or this table's cold_after) less an
 * hour are rewritten with every column (sl_lake_materialize), which moves
 * the pin on, so the referenced rows can go as their retention says. */
#define MATERIALIZE_EARLY (3600LL * SL_US_PER_SEC)

static int put_pin(lake_sink *s, sl_store *store, sl_error *err) {
    char key[2 * SL_NAME_MAX + 16], val[32];
    snprintf(key, sizeof key, "lakepin:%s:%s", s->ref_table, s->table);
    if (s->pin_seq == INT64_MAX)
        snprintf(val, sizeof val, "none");
    else
        snprintf(val, sizeof val, "%lld", (long long)s->pin_seq);
    if (sl_store_put_kv(store, key, val))
        return sl_error_set(err, SL_EIO, "saving the references of '%s' failed", s->table);
    return 0;
}

/* The lowest own segment sequence a referencing table still reads:
 * INT64_MAX without referrers, 0 (keep everything) for one that recorded
 * nothing yet. */
static int64_t referenced_floor(const lake_sink *s, sl_store *store) {
    int64_t keep = INT64_MAX;
    for (int i = 0; i < s->nreferrers; i++) {
        char key[2 * SL_NAME_MAX + 16], val[32];
        snprintf(key, sizeof key, "lakepin:%s:%s", s->table, s->referrers[i]);
        if (sl_store_get_kv(store, key, val, sizeof val) != 0) return 0;
        if (strcmp(val, "none") == 0) continue;
        int64_t v = atoll(val);
        if (v < keep) keep = v;
    }
    return keep;
}

/* Age (µs past the hour's end) at which segments get every column; -1: never
 * (the referenced table keeps its rows and this table has no cold tier). */
static int64_t materialize_after(const lake_sink *s) {
    int64_t after = INT64_MAX;
    if (s->ref_retention_us > 0) after = s->ref_retention_us;
    if (s->cold_after_us > 0 && s->cold_after_us < after) after = s->cold_after_us;
    if (after == INT64_MAX) return -1;
    return after > MATERIALIZE_EARLY ? after - MATERIALIZE_EARLY : 0;
}

static int fill_from_ref(void *ud, const char *column, sl_type type, const int64_t *ids, uint32_t n,
                         int slot, sl_column *out, sl_error *err) {
    return sl_lake_ref_gather(ud, column, type, ids, n, slot, out, err);
}

static int materialize_old(lake_sink *s, sl_store *store, sl_error *err) {
    char *msg = NULL;
    char kv[SL_NAME_MAX + 8];
    snprintf(kv, sizeof kv, "lake:%s", s->ref_table);
    sl_lake_ref *ref = sl_lake_ref_open(sl_store_db(store), s->ref_root, kv, &msg);
    if (!ref) { /* the rows stay referenced (and kept): the next commit tries again */
        sl_log_warn("lake references", "\"table\":\"%s\",\"error\":\"%.400s\"", s->table,
                    msg ? msg : "out of memory");
        sqlite3_free(msg);
        return 0;
    }
    sl_error merr = {0, {0}};
    int n = sl_lake_materialize(s->lake, &s->full_schema, materialize_after(s), sl_now_us(),
                                s->safe_seq, COLD_BYTES, fill_from_ref, ref, &merr);
    sl_lake_ref_close(ref);
    if (n < 0) {
        sl_log_warn("lake references", "\"table\":\"%s\",\"error\":\"%.400s\"", s->table, merr.msg);
        return 0;
    }
    if (n == 0) return 0;
    s->materialized += n;
    int64_t f = sl_lake_ref_floor(s->root, &s->floor_from);
    if (f >= 0) s->pin_seq = f;
    return put_pin(s, store, err);
}

/* The newest commit in the event log as this transaction sees it, -1 if
 * unknown (then nothing recorded since open counts as committed). */
static int64_t last_commit_id(sl_store *store) {
    sqlite3_stmt *st;
    int64_t id = -1;
    if (sqlite3_prepare_v2(sl_store_db(store),
                           "SELECT coalesce(max(commit_id), 0) FROM _sluice_events", -1, &st,
                           NULL) != SQLITE_OK)
        return -1;
    if (sqlite3_step(st) == SQLITE_ROW) id = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return id;
}

static int ls_prepare(void *self, sl_store *store, sl_error *err) {
    lake_sink *s = self;
    int rc = sl_lake_flush(s->lake, err);
    if (rc) return rc;
    sl_lake_pos lp;
    sl_lake_position(s->lake, &lp);
    char key[SL_NAME_MAX + 8], kv[512];
    snprintf(key, sizeof key, "lake:%s", s->table);
    snprintf(kv, sizeof kv, "%lld\t%s", (long long)lp.length, lp.segment);
    if (sl_store_put_kv(store, key, kv))
        return sl_error_set(err, SL_EIO, "saving the lake position of '%s' failed", s->table);
    if (s->refs && (rc = put_pin(s, store, err))) return rc;
    if (s->retention_us > 0)
        sl_lake_retention(s->lake, s->retention_us, sl_now_us(), referenced_floor(s, store));
    int64_t cid = -1;
    bool materialize = s->refs && materialize_after(s) >= 0;
    if (s->cold_after_us > 0 || materialize) {
        cid = last_commit_id(store);
        if (s->pending_seq > s->safe_seq && cid > s->pending_commit && s->pending_commit >= 0)
            s->safe_seq = s->pending_seq; /* that prepare's transaction committed */
    }
    if (materialize && s->safe_seq > 0 && (rc = materialize_old(s, store, err))) return rc;
    if (s->cold_after_us > 0 && s->safe_seq > 0) {
        sl_error cerr = {0, {0}};
        int moved = sl_lake_cold_move(s->lake, s->cold_after_us, sl_now_us(), s->safe_seq,
                                      COLD_BYTES, COLD_LEVEL, &cerr);
        /* a failed move leaves every row where it was readable: the next
         * commit tries again; the writer itself is unaffected */
        if (moved < 0)
            sl_log_warn("lake cold tier", "\"table\":\"%s\",\"error\":\"%.400s\"", s->table,
                        cerr.msg);
        else
            s->cold_moved += moved;
    }
    if (lp.segment[0] && sl_lake_segment_parse(lp.segment, &s->pending_seq, NULL) == 0)
        s->pending_commit = cid;
    return 0;
}

static int64_t ls_rows(const void *self) { return ((const lake_sink *)self)->rows; }

static void ls_destroy(void *self) {
    lake_sink *s = self;
    if (s->lake) sl_lake_close(s->lake);
    sl_json_keys_fini(&s->keys);
    free(s->sources);
    free(s->ids);
    free(s->line);
    free(s);
}

const sl_sink_def sl_sink_lake = {
    .name = "lake",
    .help = "rows with audit fields (_ingest_ts, _source, _offset) in Parquet (or zstd NDJSON) "
            "segments under DATA/<layer>/<table>/dt=/hr=/",
    .create = ls_create,
    .open = ls_open,
    .write = ls_write,
    .prepare = ls_prepare,
    .rows_written = ls_rows,
    .row_ids = ls_row_ids,
    .destroy = ls_destroy,
};
