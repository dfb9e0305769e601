/*
 * lake_vtab.h - SQLite virtual table `sluice_lake` over lake segments.
 *
 *   CREATE VIRTUAL TABLE temp.t USING sluice_lake('/abs/ROOT' [, 'segment', length]);
 *
 * Columns: line TEXT (one NDJSON line, without '\n'), _segment TEXT (path
 * relative to ROOT), _line_no INTEGER (1-based within the segment). Rows come
 * in segment sequence order, decompressed as a stream (memory bounded by the
 * longest line, not the segment size). With the optional committed position
 * the scan stops at `length` bytes of `segment` and ignores newer segments,
 * so a query never sees uncommitted rows; a position with segment '' means
 * nothing is committed (the table is empty). A corrupt or truncated zstd
 * frame fails the query with a message naming the segment.
 *
 * The table reads any path it is given: expose CREATE VIRTUAL TABLE to
 * untrusted SQL only behind an authorizer.
 */
#ifndef SL_SINKS_LAKE_VTAB_H
#define SL_SINKS_LAKE_VTAB_H

#include <sqlite3.h>

#include <limits.h>
#include <stdint.h>

#include "sinks/lake.h"

/* Registers module "sluice_lake" on db. Returns an SQLITE_* code. */
int sl_lake_vtab_register(sqlite3 *db);

/* The segments a scan of ROOT reads, in sequence order, hot and cold (shared
 * by the NDJSON and the Parquet tables). The committed position comes from
 * _sluice_kv[kv_key] of db as of now (kv_key != NULL; "@SCHEMA:KEY" reads
 * SCHEMA._sluice_kv[KEY]), or is pos_seg/pos_len
 * (pos_seg != NULL; "" means nothing committed), or there is none (both NULL:
 * every segment). Segments after the committed one are left out; the
 * committed one must be read only up to pos_len. out->segs is malloc'd (free
 * it). On error *errmsg (sqlite3_malloc'd, may be NULL on SQLITE_NOMEM). */
typedef struct sl_lake_scan {
    sl_lake_segment *segs;
    size_t n;
    char pos_seg[256];
    int64_t pos_len;
    char cold_root[PATH_MAX]; /* "" without a cold tier */
} sl_lake_scan;
int sl_lake_scan_segments(sqlite3 *db, const char *root, const char *kv_key, const char *pos_seg,
                          int64_t pos_len, sl_lake_scan *out, char **errmsg);

/* Parses a committed-position argument: 'kv:KEY' (KEY of the connection's
 * _sluice_kv) or 'kv@SCHEMA:KEY' (of SCHEMA._sluice_kv, an attached
 * database: a scale-out instance's own position). Writes the kv_key that
 * sl_lake_scan_segments takes ("KEY" or "@SCHEMA:KEY"). 0, or -1 when the
 * argument is malformed or does not fit cap. */
int sl_lake_vtab_kv_arg(const char *arg, char *key, size_t cap);

/* Copies a virtual table argument without its SQL quotes ('x', "x", `x`,
 * [x]; an unquoted one up to its first space). Shared by both modules. */
void sl_lake_vtab_dequote(const char *s, char *out, size_t cap);

/* Registers module "sluice_parquet" (parquet_vtab.c) on db:
 *
 *   CREATE VIRTUAL TABLE temp.t USING sluice_parquet('/abs/ROOT', 'kv:KEY',
 *                                                    'col type, col type, ...'
 *                                                    [, '/abs/REFROOT', 'kv:REFKEY'])
 *
 * typed columns (sluice type names) read from the lake's Parquet segments as
 * of the committed position, with row groups skipped by their min/max
 * statistics under =, <, <=, >, >= constraints. Timestamps are ISO 8601
 * text as in store tables, booleans 0/1.
 *
 * With a reference lake (REFROOT, its committed position under REFKEY: the
 * table's input B), a segment with an INT64 column `_ref` is a ref segment:
 * it stores only the table's own columns, and every declared column absent
 * from it is B's column of that name at row id `_ref` ((B segment sequence
 * << 32) | row in that segment, the row ids this table gives B's rows);
 * lake_ref.h. A segment without `_ref` is ordinary (absent columns NULL).
 * `_ref` is not a column of the table. Constraints on B's columns do not
 * skip row groups. A ref segment without a reference lake, or a `_ref` B's
 * committed view lacks, fails the query naming the segment. */
int sl_parquet_vtab_register(sqlite3 *db);

#endif
