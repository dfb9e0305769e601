/*
 * eventlog.c - the _sluice_events table (eventlog.h). Statements are
 * prepared per call: a commit writes one row, so caching them would save
 * nothing measurable and would tie statement lifetimes to the store's.
 */
#include <math.h>
#include <stdio.h>

#include "core/timeutil.h"
#include "store/eventlog.h"

sl_event sl_event_empty(int64_t commit_id, const char *kind) {
    sl_event e = {
        .commit_id = commit_id, .kind = kind, .watermark_us = INT64_MIN, .consumer_lag = -1};
    e.lag_avg_ms = e.lag_max_ms = e.proc_ms = e.commit_ms = NAN;
    return e;
}

int sl_eventlog_init(sl_store *s, sl_error *err) {
    return sl_store_exec(
        s,
        "CREATE TABLE IF NOT EXISTS _sluice_events(commit_id INTEGER PRIMARY KEY, ts TEXT, kind "
        "TEXT, records_in INTEGER,"
        " parse_errors INTEGER, quarantined INTEGER, late INTEGER, duplicates INTEGER, filtered "
        "INTEGER, dropped INTEGER,"
        " watermark TEXT, event_lag_avg_ms REAL, event_lag_max_ms REAL, processing_latency_ms "
        "REAL, commit_ms REAL, details TEXT);"
        "CREATE VIEW IF NOT EXISTS pipeline_stats AS SELECT count(*) AS commits, sum(records_in) "
        "AS records_in,"
        " sum(quarantined) AS quarantined, sum(late) AS late, sum(duplicates) AS duplicates,"
        " round(100.0*sum(duplicates)/max(sum(records_in),1),3) AS duplicate_rate_pct,"
        " round(avg(event_lag_avg_ms),1) AS event_lag_avg_ms, max(event_lag_max_ms) AS "
        "event_lag_max_ms,"
        " round(avg(processing_latency_ms),1) AS processing_latency_avg_ms, "
        "max(processing_latency_ms) AS processing_latency_max_ms,"
        " max(watermark) AS watermark, max(ts) AS last_commit FROM _sluice_events;",
        err);
}

static void bind_real(sqlite3_stmt *st, int i, double v) {
    if (isnan(v))
        sqlite3_bind_null(st, i);
    else
        sqlite3_bind_double(st, i, v);
}

int sl_eventlog_append(sl_store *s, const sl_event *e, sl_error *err) {
    sqlite3 *db = sl_store_db(s);
    sqlite3_stmt *st;
    const char *sql = "INSERT INTO _sluice_events(commit_id, ts, kind, records_in, parse_errors, "
                      "quarantined, late, duplicates, filtered, dropped,"
                      " watermark, event_lag_avg_ms, event_lag_max_ms, processing_latency_ms, "
                      "commit_ms, details) VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)";
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        return sl_error_set(err, SL_EIO, "event log in %s: %s", sqlite3_db_filename(db, "main"),
                            sqlite3_errmsg(db));
    char ts[40], wm[40];
    sl_store_format_ts(e->ts_us ? e->ts_us : sl_now_us(), ts, sizeof ts);
    sqlite3_bind_int64(st, 1, e->commit_id);
    sqlite3_bind_text(st, 2, ts, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 3, e->kind, -1, SQLITE_STATIC);
    int64_t vals[] = {e->records_in, e->parse_errors, e->quarantined, e->late,
                      e->duplicates, e->filtered,     e->dropped};
    for (int k = 0; k < 7; k++)
        sqlite3_bind_int64(st, 4 + k, vals[k]);
    if (e->watermark_us != INT64_MIN) {
        sl_store_format_ts(e->watermark_us, wm, sizeof wm);
        sqlite3_bind_text(st, 11, wm, -1, SQLITE_TRANSIENT);
    }
    bind_real(st, 12, e->lag_avg_ms);
    bind_real(st, 13, e->lag_max_ms);
    bind_real(st, 14, e->proc_ms);
    bind_real(st, 15, e->commit_ms);
    if (e->details) sqlite3_bind_text(st, 16, e->details, -1, SQLITE_TRANSIENT);
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE)
        return sl_error_set(err, rc == SQLITE_FULL ? SL_EFULL : SL_EIO, "event log in %s: %s",
                            sqlite3_db_filename(db, "main"), sqlite3_errmsg(db));
    return 0;
}

int sl_eventlog_totals(sl_store *s, sl_event *t, sl_error *err) {
    *t = sl_event_empty(0, "total");
    sqlite3 *db = sl_store_db(s);
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db,
                           "SELECT coalesce(max(commit_id),0), coalesce(sum(records_in),0), "
                           "coalesce(sum(quarantined),0), coalesce(sum(late),0),"
                           " coalesce(sum(duplicates),0), coalesce(sum(filtered),0), "
                           "coalesce(sum(dropped),0), coalesce(sum(parse_errors),0)"
                           " FROM _sluice_events",
                           -1, &st, NULL) != SQLITE_OK)
        return sl_error_set(err, SL_EIO, "event log in %s: %s", sqlite3_db_filename(db, "main"),
                            sqlite3_errmsg(db));
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        t->commit_id = sqlite3_column_int64(st, 0);
        t->records_in = sqlite3_column_int64(st, 1);
        t->quarantined = sqlite3_column_int64(st, 2);
        t->late = sqlite3_column_int64(st, 3);
        t->duplicates = sqlite3_column_int64(st, 4);
        t->filtered = sqlite3_column_int64(st, 5);
        t->dropped = sqlite3_column_int64(st, 6);
        t->parse_errors = sqlite3_column_int64(st, 7);
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_ROW)
        return sl_error_set(err, SL_EIO, "event log in %s: %s", sqlite3_db_filename(db, "main"),
                            sqlite3_errmsg(db));
    return 0;
}
