/*
 * parquet.h - Apache Parquet files: a writer for append-only segments and a
 * reader with per-row-group statistics.
 *
 * Writer. A segment file grows by row groups: every sl_pq_flush writes the
 * rows appended since the previous flush as one row group, then a complete
 * footer (FileMetaData listing every row group so far), its length and
 * "PAR1", and fsyncs. So the file cut at the length sl_pq_length returned
 * after any flush is a complete, valid Parquet file: readers follow the
 * offsets in the last footer, and the footers of earlier flushes stay in the
 * file as bytes no offset points at. This is the lake's exactly-once trick
 * (the committed length goes into the commit transaction; recovery
 * truncates to it) carried over to a columnar format. The footer is
 * rewritten at each flush, so a segment should be closed after a bounded
 * number of row groups (sl_pq_row_groups).
 *
 * Column types: SL_T_INT -> INT64, SL_T_DOUBLE -> DOUBLE, SL_T_BOOL ->
 * BOOLEAN, SL_T_STRING -> BYTE_ARRAY (STRING), SL_T_TS -> INT64
 * TIMESTAMP(MICROS, UTC). Every column is OPTIONAL (definition levels,
 * RLE/bit-packed hybrid). Per column chunk the writer picks the smaller of
 * dictionary (RLE_DICTIONARY) and PLAIN or DELTA_BINARY_PACKED (integers and
 * timestamps) encoding (booleans: PLAIN or RLE), by estimated size before
 * compression; pages are zstd-compressed; every chunk carries
 * min/max/null_count statistics (strings: min/max only when both are at most
 * 64 bytes; doubles: NaN left out).
 *
 * Reader. Opens a file (optionally only its first `length` bytes: the
 * committed part of a segment being written), gives the schema, the row
 * groups with their statistics, and decodes one column chunk at a time into
 * an sl_column. It reads any file this writer writes and the common subset
 * other writers use (PLAIN, PLAIN_DICTIONARY/RLE_DICTIONARY, RLE,
 * DELTA_BINARY_PACKED, DELTA_LENGTH_BYTE_ARRAY, DELTA_BYTE_ARRAY,
 * BYTE_STREAM_SPLIT; uncompressed, zstd or snappy; data page v1 and v2; flat
 * schemas of BOOLEAN, INT32, INT64, INT96, FLOAT, DOUBLE, BYTE_ARRAY and
 * FIXED_LEN_BYTE_ARRAY columns). Anything else fails with SL_ECORRUPT naming
 * the file, never a crash: the reader is fuzzed.
 *
 * Not thread-safe per object; distinct objects are independent.
 */
#ifndef SL_FORMATS_PARQUET_H
#define SL_FORMATS_PARQUET_H

#include <stdbool.h>
#include <stdint.h>

#include "core/batch.h"
#include "core/error.h"

/* ---- writer ---- */

typedef struct sl_pq_writer sl_pq_writer;

typedef struct sl_pq_options {
    int zstd_level;          /* 0: 3 */
    uint32_t page_rows;      /* rows per data page, 0: 65536 */
    uint32_t dictionary_max; /* distinct values above which a chunk is not
                                dictionary-encoded, 0: 65536 */
    const char *created_by;  /* NULL: "sluice" */
} sl_pq_options;

/* Creates PATH (O_EXCL: an existing file is an error) for rows of `schema`
 * (names and types; every column nullable). opts may be NULL. */
sl_pq_writer *sl_pq_create(const char *path, const sl_schema *schema, const sl_pq_options *opts,
                           sl_error *err);
/* Reopens a segment written by this writer to continue appending after a
 * restart: reads the footer at `length` (a length sl_pq_length returned),
 * keeps its row groups, and truncates PATH to `length`. The schema must equal
 * the file's (SL_EINVAL otherwise). SL_ECORRUPT if the file is shorter than
 * length or has no valid footer at length. Both checks come before the
 * truncation: a refused reopen leaves the file as it was. No reader may have
 * the file open across the truncation (its mapping would lose pages). */
sl_pq_writer *sl_pq_reopen(const char *path, int64_t length, const sl_schema *schema,
                           const sl_pq_options *opts, sl_error *err);
/* Appends rows [from, from + n) of cols[0..schema.n) (cols[i] has the type of
 * schema column i; cols[i]->null may be NULL: no NULLs). Values are copied
 * (strings too): the columns may be reused once this returns. Nothing is
 * written to the file until sl_pq_flush. */
int sl_pq_append(sl_pq_writer *w, const sl_column *const *cols, uint32_t from, uint32_t n,
                 sl_error *err);
/* Rows appended since the last flush. */
uint32_t sl_pq_pending_rows(const sl_pq_writer *w);
/* Writes the pending rows as a row group (none: nothing is written and 0 is
 * returned) followed by the footer, then fsyncs. Disk full -> SL_EFULL,
 * other I/O errors -> SL_EIO; after an error the writer refuses further
 * appends and flushes. */
int sl_pq_flush(sl_pq_writer *w, sl_error *err);
/* Writes the pending rows as a row group now, without a footer or an fsync,
 * to bound the writer's memory when one flush would cover many rows: the
 * next sl_pq_flush writes the footer listing it (and fsyncs). Until then the
 * bytes lie past sl_pq_length, which a reader and a recovery never look at. */
int sl_pq_write_row_group(sl_pq_writer *w, sl_error *err);
/* The file's length after the last successful flush (or reopen); 4 for a
 * file that was created and never flushed (just "PAR1": not yet valid). */
int64_t sl_pq_length(const sl_pq_writer *w);
int sl_pq_row_groups(const sl_pq_writer *w);
int64_t sl_pq_rows(const sl_pq_writer *w); /* rows in flushed row groups */
/* Closes the file. Does not flush: pending rows are abandoned. */
void sl_pq_close(sl_pq_writer *w);

/* ---- reader ---- */

typedef struct sl_pq_reader sl_pq_reader;

/* A chunk's statistics, in the column's type (strings point into the
 * reader's footer copy, valid while the reader is open). */
typedef struct sl_pq_stats {
    bool has_min_max;
    int64_t null_count; /* -1: unknown */
    union {
        int64_t i;
        double d;
        bool b;
        sl_str s;
    } min, max;
} sl_pq_stats;

/* length < 0: the whole file. */
sl_pq_reader *sl_pq_open(const char *path, int64_t length, sl_error *err);
/* The same over bytes in memory (the fuzz target); data must outlive r. */
sl_pq_reader *sl_pq_open_mem(const uint8_t *data, size_t len, sl_error *err);
void sl_pq_close_reader(sl_pq_reader *r);
/* Row groups with more rows than max_rows are refused by sl_pq_read_column
 * (SL_ECORRUPT) instead of allocated: a run-length encoded page can claim
 * billions of rows in a few bytes. Default and upper bound: INT32_MAX. */
void sl_pq_set_max_rows(sl_pq_reader *r, int64_t max_rows);
/* The flat schema: names and sl_types (INT32 columns read as SL_T_INT,
 * FLOAT as SL_T_DOUBLE, TIMESTAMP MILLIS/NANOS converted to microseconds,
 * INT96 as SL_T_TS, BYTE_ARRAY and FIXED_LEN_BYTE_ARRAY as SL_T_STRING). */
const sl_schema *sl_pq_schema(const sl_pq_reader *r);
int sl_pq_num_row_groups(const sl_pq_reader *r);
int64_t sl_pq_row_group_rows(const sl_pq_reader *r, int rg);
/* 0 and *st filled, or -1 if the chunk has no statistics. */
int sl_pq_chunk_stats(const sl_pq_reader *r, int rg, int col, sl_pq_stats *st);
/* The encodings a chunk's metadata lists, as a mask of 1 << code (Parquet's
 * Encoding enum: SL_PQ_ENC_*); 0 for a bad index. */
enum {
    SL_PQ_ENC_PLAIN = 0,
    SL_PQ_ENC_PLAIN_DICTIONARY = 2,
    SL_PQ_ENC_RLE = 3,
    SL_PQ_ENC_DELTA_BINARY_PACKED = 5,
    SL_PQ_ENC_RLE_DICTIONARY = 8
};
uint32_t sl_pq_chunk_encodings(const sl_pq_reader *r, int rg, int col);
/* Decodes column `col` of row group `rg` into *out (type, null array, values;
 * strings point into the reader's buffers). The arrays stay valid until the
 * next sl_pq_read_column on the same reader with the same `slot` (0..
 * SL_MAX_COLUMNS-1; use the column index to keep several columns of one row
 * group at once) or until the reader is closed. */
int sl_pq_read_column(sl_pq_reader *r, int rg, int col, int slot, sl_column *out, sl_error *err);

#endif
