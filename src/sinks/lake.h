/*
 * lake.h - bronze lake segments: append-only NDJSON, zstd-compressed, with
 * exactly-once recovery.
 *
 * Layout: ROOT/dt=YYYY-MM-DD/hr=HH/part-NNNNNNNN.ndjson.zst, dt/hr from the
 * row's ingest time in UTC, NNNNNNNN a per-table sequence number that only
 * grows (across all folders). Any tool reads the files: `zstd -dc` gives the
 * NDJSON lines.
 *
 * The exactly-once trick: every sl_lake_flush ends a zstd frame, so a file cut
 * at a flush boundary is itself a valid zstd stream. The engine records the
 * position after a flush (segment + length) in its commit transaction; on
 * restart sl_lake_recover truncates that segment back to the recorded length
 * and deletes every newer segment, so rows written after the last commit
 * vanish. Segments older than the committed one are always complete: the lake
 * never writes to a segment once it has opened a newer one.
 *
 * One process writes a lake: sl_lake_open takes an exclusive flock on
 * ROOT/.lock (readers such as the SQLite virtual table take no lock).
 * Not thread-safe: one sl_lake is used by one thread.
 */
#ifndef SL_SINKS_LAKE_H
#define SL_SINKS_LAKE_H

#include <stddef.h>
#include <stdint.h>

#include "core/batch.h"
#include "core/error.h"

typedef struct sl_lake sl_lake;

typedef struct sl_lake_pos {
    char segment[256]; /* relative to ROOT, "" if none */
    int64_t length;    /* committed bytes of that segment */
} sl_lake_pos;

#define SL_LAKE_DEFAULT_SEGMENT_BYTES (128LL << 20)

/* Opens (creates) ROOT. max_segment_bytes: compressed size after which a
 * flush closes the segment so the next row opens a new one (<= 0: 128 MiB).
 * zstd_level: 0 means the default, 1; negative levels are zstd's fast levels. */
sl_lake *sl_lake_open(const char *root, int64_t max_segment_bytes, int zstd_level, sl_error *err);
/* Parquet segments instead (part-NNNNNNNN.parquet, formats/parquet.h): rows
 * of `schema` are given as columns (sl_lake_append_columns); each flush adds
 * a row group (or several: SL_LAKE_ROW_GROUP_ROWS) and a footer, so a segment
 * cut at a committed length is a
 * valid Parquet file and recovery works as for NDJSON. zstd_level 0: 3. A
 * segment is closed after SL_LAKE_MAX_ROW_GROUPS flushes (each footer lists
 * every row group) or max_segment_bytes. The cold tier rewrites a segment's
 * row groups merged, at the cold level. */
#define SL_LAKE_MAX_ROW_GROUPS 64
/* Rows buffered before they are written as a row group (within a commit:
 * the footer comes with the commit), so a writer's memory does not grow with
 * the rows of one commit. */
#define SL_LAKE_ROW_GROUP_ROWS 32768
sl_lake *sl_lake_open_parquet(const char *root, const sl_schema *schema, int64_t max_segment_bytes,
                              int zstd_level, sl_error *err);
/* Does NOT flush: uncommitted data is abandoned (recovery removes it). */
void sl_lake_close(sl_lake *l);
/* Brings ROOT back to the committed state `pos` (from the checkpoint;
 * pos == NULL or pos->segment "" means nothing was ever committed): truncates
 * pos->segment to pos->length, deletes every segment with a higher sequence
 * number and any *.tmp file, removes hr=/dt= folders left empty. Must be
 * called once after open, before appending. SL_ECORRUPT if the committed
 * segment is missing or shorter than pos->length (committed data was lost). */
int sl_lake_recover(sl_lake *l, const sl_lake_pos *pos, sl_error *err);
/* Appends one line (no '\n' in line; the lake adds it) for a row ingested at
 * ingest_us. Data is streamed through ZSTD_compressStream2 and written as it
 * goes (memory is bounded, independent of rows per commit). A row whose ingest
 * hour differs from the open segment's closes it (ending its frame) and opens
 * a new segment in the right dt=/hr= folder. After any I/O error the lake
 * refuses further appends/flushes: restart and recover. */
int sl_lake_append(sl_lake *l, const char *line, size_t len, int64_t ingest_us, sl_error *err);
/* Parquet lakes: appends rows [from, from + n) of cols (the schema's columns
 * in order), all ingested in the hour of ingest_us (the caller splits runs
 * at hour boundaries). Buffered until sl_lake_flush. first_id (may be NULL)
 * gets the row id of the first of them, the others following it: segment
 * sequence << 32 | row within the segment, which a reader of the committed
 * segments gives the row too (parquet_vtab.c, lake_ref.h). */
#define SL_LAKE_ROW_ID(seq, row) ((int64_t)((uint64_t)(seq) << 32 | (uint64_t)(row)))
int sl_lake_append_columns(sl_lake *l, const sl_column *const *cols, uint32_t from, uint32_t n,
                           int64_t ingest_us, int64_t *first_id, sl_error *err);
/* Ends the current frame, writes and fsyncs the file (and the directories
 * when a file was created), closes the segment if it is over max size. After
 * it returns 0, sl_lake_position gives the position to record in the commit.
 * Disk full -> SL_EFULL, other I/O errors -> SL_EIO, message names the file. */
int sl_lake_flush(sl_lake *l, sl_error *err);
/* The position as of the last successful flush (or recovery). */
void sl_lake_position(const sl_lake *l, sl_lake_pos *pos);
/* Deletes whole hr= folders (and dt= folders left empty) whose hour ended
 * more than max_age_us before now_us; never the folder of the current
 * (open or last committed) segment, nor a folder holding a segment numbered
 * keep_seq or higher (INT64_MAX: no such limit; a table referencing this
 * one's rows holds them, lake_ref.h). Returns number of files deleted, or a
 * negative SL_E* code if ROOT cannot be read. */
int sl_lake_retention(sl_lake *l, int64_t max_age_us, int64_t now_us, int64_t keep_seq);
/* Cold tier (see lake.c). Sets COLD (created if missing) as the cold tier of
 * the lake: records it in ROOT/.cold for readers, deletes temp files a crash
 * left there. Retention then also deletes COLD's old hour folders. */
int sl_lake_set_cold(sl_lake *l, const char *cold_root, sl_error *err);
/* Moves segments of hour folders whose hour ended more than cold_after_us
 * before now_us and whose segments all have a sequence number below
 * safe_seq (committed) to the cold tier, recompressed at zstd `level`, oldest
 * first, until max_bytes of hot segments have moved (at least one segment).
 * Returns the number of segments moved or a negative SL_E* code. */
int sl_lake_cold_move(sl_lake *l, int64_t cold_after_us, int64_t now_us, int64_t safe_seq,
                      int64_t max_bytes, int level, sl_error *err);
/* Reads ROOT/.cold into out: 0, or -1 (out "") when ROOT has no cold tier. */
int sl_lake_cold_root(const char *root, char *out, size_t cap);
/* Compressed bytes written by this handle, for metrics. */
int64_t sl_lake_bytes_written(const sl_lake *l);

/* ---- References (lake_ref.h) ----
 * A Parquet lake table whose rows reference another lake table's rows keeps
 * a `_ref` column (the other table's row id) instead of the columns it takes
 * from there. Before the other table's retention deletes those rows, the
 * referencing segments are rewritten with every column ("materialized"). */

/* Fills *out with column `column` (of `type`) of the referenced rows ids[0..n)
 * (slot as in sl_pq_read_column: the values stay valid until the next call
 * with the same slot). 0 or an SL_E* code with err set. */
typedef int (*sl_lake_fill_fn)(void *ud, const char *column, sl_type type, const int64_t *ids,
                               uint32_t n, int slot, sl_column *out, sl_error *err);
/* Rewrites in place the committed (sequence below safe_seq) hot segments
 * that hold a `_ref` column, of hour folders that ended more than after_us
 * before now_us, oldest first, until max_bytes were rewritten (at least one
 * segment): each row keeps its place (and row id) and gets the columns of
 * `full`, those the file lacks from fill(). Written to a temp file, fsynced,
 * renamed over the segment: a reader sees the old or the new file, with the
 * same rows. Returns the number rewritten or a negative SL_E* code. */
int sl_lake_materialize(sl_lake *l, const sl_schema *full, int64_t after_us, int64_t now_us,
                        int64_t safe_seq, int64_t max_bytes, sl_lake_fill_fn fill, void *ud,
                        sl_error *err);
/* The lowest segment sequence number of the referenced table that segments
 * of ROOT (hot and cold tiers) still reference: from the `_ref` statistics
 * of ROOT's lowest-numbered segment that has a `_ref` column (references
 * grow with the segments). INT64_MAX when no segment has one; -1 when a
 * segment cannot be read (then nothing may be deleted). Segments numbered
 * below *from are skipped (known to hold no _ref: rewritten, or older);
 * *from is set to the number of the segment the floor came from (left as
 * it was when none), so the next call starts there. */
int64_t sl_lake_ref_floor(const char *root, int64_t *from);

/* ---- Segment listing, shared with readers (lake_vtab.c, tools). ---- */

typedef struct sl_lake_segment {
    char path[256];  /* relative to ROOT */
    int64_t seq;     /* sequence number from part-NNNNNNNN */
    int64_t hour_us; /* start of the dt=/hr= hour, µs UTC */
    int cold;        /* relative to the cold tier's root instead (lake_vtab.c) */
} sl_lake_segment;

/* Parses "dt=YYYY-MM-DD/hr=HH/part-N.ndjson.zst" (or part-N.parquet). 0 or
 * SL_EINVAL. */
int sl_lake_segment_parse(const char *rel, int64_t *seq, int64_t *hour_us);
/* Lists every segment under root, sorted by sequence number. *out is
 * malloc'd (free() it); a missing root gives 0 segments. */
int sl_lake_segments_list(const char *root, sl_lake_segment **out, size_t *n, sl_error *err);

#endif
