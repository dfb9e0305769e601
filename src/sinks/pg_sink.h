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

/* Creates (or replaces) the pipeline's views in the store at url, in one
 * transaction, after translating SQLite-only SQL (sl_pg_translate_view);
 * SL_EAGAIN when the server cannot be reached, SL_EINVAL when it refuses a
 * view (the message names it). */
int sl_pg_create_views(const char *url, int n, const char *const *names, const char *const *sqls,
                       sl_error *err);
/* A view's SQLite SQL for PostgreSQL: max(a, b)/min(a, b) -> greatest/least,
 * ifnull -> coalesce; a SQLite-only function (strftime, group_concat, ...) is
 * refused by name. Literals and quoted names are left alone. */
int sl_pg_translate_view(const char *name, const char *sql, char *out, size_t cap, sl_error *err);

#endif
