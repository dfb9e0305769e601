/*
 * notify.h - alert notifications: the outbox table, the channels (Slack,
 * Teams, email, PagerDuty, webhook) and their delivery off the data path.
 *
 * Why an outbox: a notification is written in the same SQLite transaction as
 * the rows that caused it, so it is never lost nor sent for rows that were
 * rolled back; a thread then delivers committed rows at least once, and the
 * receiver deduplicates by the idempotency key. Ingestion never waits for a
 * channel: the thread has its own read-only connection and only reports
 * results, which the engine writes in its next commit (sl_deliverer_apply).
 */
#ifndef SL_NOTIFY_NOTIFY_H
#define SL_NOTIFY_NOTIFY_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "core/error.h"
#include "spec/spec.h"
#include "store/store.h"

/* The block below is the interface contract shared with the engine, kept as written. */
// clang-format off
/* The outbox lives in the pipeline's store (SQLite), created by sl_outbox_init:
 * CREATE TABLE IF NOT EXISTS _sluice_outbox(
 *   id INTEGER PRIMARY KEY,          -- creation order
 *   idem_key TEXT NOT NULL UNIQUE,   -- idempotency key, stable across replays and restarts
 *   alert_id TEXT NOT NULL,          -- alert_history.alert_id this notification is about ('' for tests)
 *   channel TEXT NOT NULL,           -- channel name as configured
 *   kind TEXT NOT NULL,              -- 'firing' | 'resolved' | 'repeat' | 'digest' | 'test'
 *   payload TEXT NOT NULL,           -- JSON, below
 *   state TEXT NOT NULL DEFAULT 'pending',  -- 'pending' | 'sent' | 'failed'
 *   attempts INTEGER NOT NULL DEFAULT 0,
 *   created_at TEXT NOT NULL,        -- sl_store_format_ts
 *   sent_at TEXT, last_status INTEGER, last_error TEXT);
 * payload JSON: {"pipeline","rule","alert_id","key","severity","state":"firing"|"resolved",
 *   "title","message","started_at","resolved_at"(or null),"dedup_key","table",
 *   "labels":{column: value, ...}, "items":[{"key","message","severity"},...] (digest only),
 *   "count": number of items (digest) }
 */
typedef struct sl_notification {
    const char *idem_key, *alert_id, *channel, *kind, *payload_json;
    int64_t created_us;
} sl_notification;
int sl_outbox_init(sl_store *s, sl_error *err);
/* Inside the engine's open transaction; an idem_key already present is ignored (replays). */
int sl_outbox_put(sl_store *s, const sl_notification *n, sl_error *err);

/* Channels, bound from the pipeline file's `alerts: channels:` map (name -> {type: slack|teams|email|
 * pagerduty|webhook, url/..., }) with the option tables of notify (sl_notify_opt_tables for docs). */
typedef struct sl_channels sl_channels;
sl_channels *sl_channels_create(const sl_node *channels_map, sl_error *err); /* NULL map: none */
void sl_channels_free(sl_channels *c);
int sl_channels_count(const sl_channels *c);
const char *sl_channels_name(const sl_channels *c, int i);
bool sl_channels_enabled(const sl_channels *c, int i); /* false: its url/server is empty (off) */
int sl_channels_find(const sl_channels *c, const char *name); /* -1: none */

/* Delivery off the data path: a thread with its own read-only SQLite connection to the store file
 * reads pending outbox rows (committed ones only, by construction), sends them (libcurl multi),
 * retries with exponential backoff + jitter on errors/429/5xx/timeouts, gives up after a bounded
 * time (`give_up_after`, default 1h... configurable per channel) with the reason. It never writes the
 * store itself (the engine holds the write transaction): results are queued in memory and applied by
 * the engine in its next commit via sl_deliverer_apply (UPDATE _sluice_outbox SET state, attempts,
 * sent_at, last_status, last_error). A crash between a send and that commit means a resend with the
 * same idem_key (at least once). */
typedef struct sl_deliverer sl_deliverer;
sl_deliverer *sl_deliverer_start(const char *store_path, const sl_channels *ch, const char *pipeline,
                                 sl_error *err);
void sl_deliverer_kick(sl_deliverer *d);                 /* a commit just made new rows visible */
int sl_deliverer_apply(sl_deliverer *d, sl_store *s, sl_error *err); /* in the engine's transaction */
void sl_deliverer_stop(sl_deliverer *d);                 /* joins the thread; pending rows stay pending */
typedef struct sl_channel_stats { const char *name; int64_t sent, failed, retries, pending; } sl_channel_stats;
int sl_deliverer_stats(sl_deliverer *d, sl_channel_stats *out, int cap); /* for /metrics */
/* `sluice alert test [CHANNEL]`: sends one test notification per enabled channel synchronously,
 * writes one line per channel (name, HTTP/SMTP status, answer or error) to out; 0 if all succeeded. */
int sl_channels_test(const sl_channels *c, const char *only, const char *pipeline, FILE *out);
// clang-format on

/* The option table of each channel type (kind "channel", name = the type), for help and the docs
 * test; like sl_source_opt_tables: returns how many there are, fills up to cap. */
int sl_notify_opt_tables(sl_opt_table *out, int cap);

#endif
