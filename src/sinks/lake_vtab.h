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

/* Registers module "sluice_lake" on db. Returns an SQLITE_* code. */
int sl_lake_vtab_register(sqlite3 *db);

#endif
