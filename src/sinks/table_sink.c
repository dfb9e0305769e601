/*
 * table_sink.c - the `table` sink: rows into the table of the same name in
 * the pipeline's store (SQLite), inside the open commit transaction. Window
 * rows (and rows read from them) are upserts by _group, so a window row
 * written while open is replaced by its later versions; everything else is
 * appended. The store's COMMIT makes the rows durable together with the
 * positions.
 *
 * Retention (the table's `retention:`): in phase 1 of a commit, at most once
 * every 10 s, the oldest rows - the first RETENTION_ROWS in rowid order,
 * which is the order they were written in - are deleted when their time
 * (event time: window_start or event_ts; ingest time: _ingest_ts) is older
 * than the retention. So the cost per commit is bounded whatever the table's
 * size, never a delete of everything old at once, and the deletions commit
 * with the rows and positions. A row written out of time order waits until
 * the rows before it are gone.
 */
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>

#include "core/mem.h"
#include "core/timeutil.h"
#include "sinks/sink.h"

#define RETENTION_ROWS 10000
#define RETENTION_EVERY_US (10 * SL_US_PER_SEC)

typedef struct {
    sl_table_writer *w;
    char table[SL_NAME_MAX];
    int64_t retention_us;
    const char *time_col; /* NULL: no retention */
    sqlite3_stmt *expire;
    sqlite3 *db;
    int64_t last_expire_us, expired;
} table_sink;

static int ts_create(const sl_node *arg, const sl_sink_env *env, void **self, sl_error *err) {
    (void)arg;
    table_sink *s = sl_xcalloc(1, sizeof(table_sink));
    snprintf(s->table, sizeof s->table, "%s", env->table);
    s->retention_us = env->retention_us;
    if (s->retention_us > 0) {
        static const char *const event_cols[] = {"window_start", "event_ts"};
        for (int i = 0; !env->retention_ingest && i < 2 && !s->time_col; i++) {
            int c = sl_schema_find(env->schema, event_cols[i]);
            if (c >= 0 && env->schema->f[c].type == SL_T_TS) s->time_col = event_cols[i];
        }
        if (!s->time_col && !env->retention_ingest) {
            free(s);
            return sl_error_set(err, SL_EINVAL,
                                "table '%s': retention by event time needs a window_start or "
                                "event_ts column (a watermark step adds event_ts); or set "
                                "retention_by: ingest",
                                env->table);
        }
        if (!s->time_col && env->upsert) {
            free(s);
            return sl_error_set(err, SL_EINVAL,
                                "table '%s': window rows have no ingest time: retention_by: event",
                                env->table);
        }
        if (!s->time_col) s->time_col = "_ingest_ts";
    }
    *self = s;
    return 0;
}

/* Phase 1: the bounded, incremental delete of expired rows. */
static int ts_prepare(void *self, sl_store *store, sl_error *err) {
    table_sink *s = self;
    if (!s->time_col) return 0;
    int64_t mono = sl_monotonic_us();
    if (s->last_expire_us && mono - s->last_expire_us < RETENTION_EVERY_US) return 0;
    s->last_expire_us = mono;
    sqlite3 *db = sl_store_db(store);
    if (s->db != db) { /* the store was opened again (a reload): a new statement */
        sqlite3_finalize(s->expire);
        s->expire = NULL;
        s->db = db;
    }
    if (!s->expire) {
        char *q = sqlite3_mprintf(
            "DELETE FROM \"%w\" WHERE rowid IN (SELECT rowid FROM \"%w\" ORDER BY rowid LIMIT "
            "%d) AND julianday(\"%w\") < julianday(?1)",
            s->table, s->table, RETENTION_ROWS, s->time_col);
        int rc = sqlite3_prepare_v2(db, q, -1, &s->expire, NULL);
        sqlite3_free(q);
        if (rc != SQLITE_OK)
            return sl_error_set(err, SL_EIO, "retention of '%s': %s", s->table, sqlite3_errmsg(db));
    }
    char cutoff[48];
    sl_time_format_iso_us(sl_now_us() - s->retention_us, cutoff, sizeof cutoff);
    sqlite3_bind_text(s->expire, 1, cutoff, -1, SQLITE_TRANSIENT);
    int rc = sqlite3_step(s->expire);
    sqlite3_reset(s->expire);
    if (rc != SQLITE_DONE)
        return sl_error_set(err, SL_EIO, "retention of '%s': %s", s->table, sqlite3_errmsg(db));
    s->expired += sqlite3_changes(db);
    return 0;
}

static int64_t ts_expired(const void *self) { return ((const table_sink *)self)->expired; }

static int ts_open(void *self, const sl_sink_env *env, sl_error *err) {
    table_sink *s = self;
    s->w = sl_store_table(env->store, env->table, env->schema,
                          env->upsert ? SL_WRITE_UPSERT : SL_WRITE_APPEND, !env->upsert, err);
    return s->w ? 0 : err->code;
}

static int ts_write(void *self, const sl_batch *b, const char *const *part_names, sl_error *err) {
    return sl_table_write(((table_sink *)self)->w, b, part_names, err);
}

static int64_t ts_rows(const void *self) {
    const table_sink *s = self;
    return s->w ? sl_table_rows_written(s->w) : 0;
}

static void ts_destroy(void *self) {
    table_sink *s = self;
    if (s->w) sl_table_writer_free(s->w);
    sqlite3_finalize(s->expire);
    free(s);
}

const sl_sink_def sl_sink_table = {
    .name = "table",
    .help = "rows into the store table of the same name (window rows: upserts by _group), "
            "committed with the positions",
    .create = ts_create,
    .open = ts_open,
    .write = ts_write,
    .prepare = ts_prepare,
    .rows_written = ts_rows,
    .rows_expired = ts_expired,
    .destroy = ts_destroy,
};
