/*
 * store.h - the pipeline's SQLite database: silver and gold tables,
 * quarantine, the event log, source positions and operator state.
 *
 * One database file per pipeline in WAL mode. The engine keeps one write
 * transaction open between commits: every row written in an interval, the
 * source positions that produced them and the operator snapshots become
 * durable together at COMMIT, and readers (queries, the dashboard) only
 * ever see committed intervals. A crash loses the open transaction whole.
 */
#ifndef SL_STORE_STORE_H
#define SL_STORE_STORE_H

#include <sqlite3.h>
#include <stdbool.h>

#include "core/batch.h"
#include "core/error.h"

typedef struct sl_store sl_store;
typedef struct sl_table_writer sl_table_writer;

sl_store *sl_store_open(const char *path, bool readonly, sl_error *err);
/* The name to open path read-only under: path itself, or, when its directory
 * is not writable and there is no -wal file (no writer is running, and SQLite
 * could not create the -shm file a WAL database needs), the URI
 * file:PATH?immutable=1 in out. For ATTACH on a read-only connection too. */
const char *sl_store_ro_name(const char *path, char *out, size_t cap);
void sl_store_close(sl_store *s); /* rolls back an open transaction */
sqlite3 *sl_store_db(sl_store *s);
int sl_store_exec(sl_store *s, const char *sql, sl_error *err);
/* SL_EAGAIN when another process held the write lock for the whole busy
 * timeout (5 s). */
int sl_store_begin(sl_store *s, sl_error *err);
int sl_store_commit(sl_store *s, sl_error *err);

enum { SL_WRITE_APPEND = 0, SL_WRITE_UPSERT = 1 /* by the int column _group */ };
/* Creates the table if missing (adding missing columns if it exists: schema
 * evolution never fails a restart). audit=true adds _ingest_ts, _source, _offset. */
sl_table_writer *sl_store_table(sl_store *s, const char *name, const sl_schema *schema, int mode,
                                bool audit, sl_error *err);
/* Writes all rows of b (schema as given to sl_store_table, extra columns ignored).
 * part_names[b->part[i]] names the row's source partition for _source. */
int sl_table_write(sl_table_writer *w, const sl_batch *b, const char *const *part_names,
                   sl_error *err);
int64_t sl_table_rows_written(const sl_table_writer *w);
void sl_table_writer_free(sl_table_writer *w);

/* Quarantine: one row per rejected record. */
int sl_store_quarantine(sl_store *s, const char *table, const char *reason, const char *raw,
                        size_t raw_len, const char *source, int64_t offset, int64_t ingest_us);

/* Source positions. */
int sl_store_put_position(sl_store *s, const char *source, const char *partition, int64_t pos);
typedef void (*sl_position_fn)(void *ud, const char *partition, int64_t pos);
int sl_store_positions(sl_store *s, const char *source, sl_position_fn fn, void *ud, sl_error *err);
/* One partition's position: 0, or SL_ENOTFOUND when the checkpoint has none. */
int sl_store_get_position(sl_store *s, const char *source, const char *partition, int64_t *pos);

/* Operator state: a full snapshot replaces every earlier row for the op. */
int sl_store_put_state(sl_store *s, const char *op, bool full, const void *data, size_t n,
                       sl_error *err);
typedef int (*sl_state_fn)(void *ud, bool full, const void *data, size_t n, sl_error *err);
int sl_store_load_state(sl_store *s, const char *op, sl_state_fn fn, void *ud, sl_error *err);
/* Bytes of state stored for op since its last full snapshot. */
int64_t sl_store_state_bytes(sl_store *s, const char *op);

/* Small key/value settings (lake positions, counters). */
int sl_store_put_kv(sl_store *s, const char *key, const char *val);
int sl_store_get_kv(sl_store *s, const char *key, char *out, size_t cap); /* 0 or SL_ENOTFOUND */

/* Formats a timestamp the way tables store it: the shortest exact of
 * YYYY-MM-DDTHH:MM:SSZ, .mmmZ, .uuuuuuZ. */
int sl_store_format_ts(int64_t us, char *out, size_t cap);

#endif
