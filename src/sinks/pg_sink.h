/*
 * pg_sink.h - PostgreSQL as a serving store: helpers shared by the
 * `postgresql` sink (pg_sink.c) and `sluice query --store` (pg_query.c).
 *
 * The SQLite checkpoint in the data directory stays the coordinator
 * (positions, operator state, event log); PostgreSQL holds the tables people
 * read. docs/postgresql.md and docs/architecture.md explain the exactly-once
 * argument.
 */
#ifndef SL_SINKS_PG_SINK_H
#define SL_SINKS_PG_SINK_H

#include <stdbool.h>
#include <stdio.h>

#include "core/error.h"

/* s names a PostgreSQL store: starts with postgresql:// or postgres://. */
bool sl_pg_is_url(const char *s);
/* Copies url into out with any password (user:PASSWORD@, password=...) shown
 * as ***: the only form of a URL that may be logged or printed. */
void sl_pg_mask_url(const char *url, char *out, size_t cap);
/* Runs read-only SQL against the store at url (a read-only transaction with a
 * statement timeout) and prints each result like `sluice query` does on
 * SQLite; format is SL_FMT_TABLE, SL_FMT_CSV or SL_FMT_JSON (pipeline.h). */
int sl_pg_query(const char *url, const char *sql, int format, FILE *out, sl_error *err);

#endif
