/*
 * lake_ref.h - values of another Parquet lake table's rows, by row id.
 *
 * A lake table T whose single input is a Parquet lake table B, and whose
 * steps only drop rows and add columns, stores "ref segments": Parquet files
 * with only the columns T adds plus `_ref` INT64, B's row id of the row.
 * Every other column of T is B's column of the same name at that row. B's
 * row id is (segment sequence << 32) | row within the segment (0-based,
 * counting the rows of every row group in file order), as sluice_parquet
 * gives it (lake_vtab.h).
 *
 * An sl_lake_ref reads B's committed view (sl_lake_scan_segments: hot and
 * cold tiers, the committed segment bounded by its committed length) and
 * gathers one column of B for an array of row ids. Row ids of one T row
 * group are increasing and dense in a few B row groups, so it keeps a few B
 * readers open (by segment) and each decoded B column chunk in the reader
 * (one per slot), decoding a chunk once while the ids stay in it, across
 * gathers too.
 *
 * Not thread-safe; one object per scan (a cursor, a rewrite).
 */
#ifndef SL_SINKS_LAKE_REF_H
#define SL_SINKS_LAKE_REF_H

#include <sqlite3.h>

#include <stdint.h>

#include "core/batch.h"
#include "core/error.h"
#include "formats/parquet.h"

typedef struct sl_lake_ref sl_lake_ref;

/* B's lake at ROOT with its committed position in _sluice_kv[kv_key] of db
 * (e.g. "lake:B"). Lists the segments now (sl_lake_ref_refresh). NULL with
 * *errmsg (sqlite3_malloc'd; NULL on out of memory) on error. */
sl_lake_ref *sl_lake_ref_open(sqlite3 *db, const char *root, const char *kv_key, char **errmsg);
/* Lists B's segments again as of B's committed position now, closing the
 * cached readers (the committed segment may have grown). Call it after
 * reading T's committed position, never before: T only references rows
 * committed with or before its own rows. */
int sl_lake_ref_refresh(sl_lake_ref *r, char **errmsg);
/* out = B's column `column` at rowids[0..n) as `type` (SL_T_INT and SL_T_TS
 * are both int64 and read as each other; another type mismatch is
 * SL_EINVAL). A B segment without the column gives NULLs (schema evolution,
 * as sluice_parquet does). out's arrays (and the bytes of its strings) are
 * owned by r and stay valid until the next gather with the same slot
 * (0..SL_MAX_COLUMNS-1) or sl_lake_ref_close. A row id that is in no
 * segment of B's committed view is SL_ENOTFOUND naming the row id. */
int sl_lake_ref_gather(sl_lake_ref *r, const char *column, sl_type type, const int64_t *rowids,
                       uint32_t n, int slot, sl_column *out, sl_error *err);
/* The statistics of B's column over B's rows with ids lo..hi (a T row
 * group's _ref range): min and max over every B row group overlapping it
 * (so every referenced value lies between them), null_count unknown (-1).
 * Strings point into r, valid until the next call. 0, or -1 when a row
 * group in the range has no statistics for the column (or lacks it) or a
 * segment cannot be opened: nothing can be concluded then. */
int sl_lake_ref_range_stats(sl_lake_ref *r, const char *column, sl_type type, int64_t lo,
                            int64_t hi, sl_pq_stats *out);
void sl_lake_ref_close(sl_lake_ref *r);

#endif
