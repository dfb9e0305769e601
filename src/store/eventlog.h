/*
 * eventlog.h - the pipeline's event log: one row per commit in
 * _sluice_events (what was read, quarantined, late, deduplicated, the
 * watermark, lags and the commit's duration), and the pipeline_stats view
 * over it. Like Delta Live Tables' event log, it is a table like any other,
 * written in the commit it describes, so it never disagrees with the outputs.
 */
#ifndef SL_STORE_EVENTLOG_H
#define SL_STORE_EVENTLOG_H

#include <stdint.h>

#include "store/store.h"

typedef struct sl_event {
    int64_t commit_id;
    const char *kind; /* "commit", "final" (end of --once), "schema" */
    int64_t records_in, parse_errors, quarantined, late, duplicates, filtered, dropped;
    int64_t watermark_us;                   /* INT64_MIN: none */
    double lag_avg_ms, lag_max_ms, proc_ms; /* NAN: none */
    double commit_ms;                       /* NAN: none */
    /* Kafka messages not yet consumed, summed over the sources that report
     * it; -1: none does. Stored in details (consumer_lag), not a column. */
    int64_t consumer_lag;
    const char *details; /* JSON, may be NULL */
    /* The row's ts; 0: now. The engine passes the time its alert rules
     * see as the commit time, so an alert's created_at is the row's ts. */
    int64_t ts_us;
} sl_event;

/* An event with every counter 0 and every measurement absent. */
sl_event sl_event_empty(int64_t commit_id, const char *kind);
/* Creates the table and the view when missing. */
int sl_eventlog_init(sl_store *s, sl_error *err);
/* Appends e inside the open transaction (ts: e->ts_us, or now). */
int sl_eventlog_append(sl_store *s, const sl_event *e, sl_error *err);
/* The highest commit id and the sums of every counter (the totals a
 * restarted pipeline continues from). */
int sl_eventlog_totals(sl_store *s, sl_event *totals, sl_error *err);

#endif
