/*
 * outbox.c - the _sluice_outbox table, written inside the engine's
 * transaction so that a notification commits with the rows that caused it.
 */
#include <sqlite3.h>
#include <string.h>

#include "notify/notify.h"

int sl_outbox_init(sl_store *s, sl_error *err) {
    /* The partial index keeps "what is still pending" cheap however many
     * sent rows accumulate: the deliverer and the stats read through it. */
    return sl_store_exec(s,
                         "CREATE TABLE IF NOT EXISTS _sluice_outbox("
                         "id INTEGER PRIMARY KEY, idem_key TEXT NOT NULL UNIQUE, "
                         "alert_id TEXT NOT NULL, channel TEXT NOT NULL, kind TEXT NOT NULL, "
                         "payload TEXT NOT NULL, state TEXT NOT NULL DEFAULT 'pending', "
                         "attempts INTEGER NOT NULL DEFAULT 0, created_at TEXT NOT NULL, "
                         "sent_at TEXT, last_status INTEGER, last_error TEXT);"
                         "CREATE INDEX IF NOT EXISTS _sluice_outbox_pending ON _sluice_outbox(id) "
                         "WHERE state = 'pending';",
                         err);
}

int sl_outbox_put(sl_store *s, const sl_notification *n, sl_error *err) {
    if (!n || !n->idem_key || !n->channel || !n->kind || !n->payload_json)
        return sl_error_set(err, SL_EINVAL,
                            "outbox: a notification needs idem_key, channel, "
                            "kind and payload");
    sqlite3 *db = sl_store_db(s);
    sqlite3_stmt *st = NULL;
    /* A replayed interval produces the same idem_key again: it is the same
     * notification, already queued, so it is ignored (OR IGNORE on UNIQUE). */
    int rc = sqlite3_prepare_v2(db,
                                "INSERT OR IGNORE INTO _sluice_outbox(idem_key, alert_id, channel, "
                                "kind, payload, created_at) VALUES (?,?,?,?,?,?)",
                                -1, &st, NULL);
    if (rc != SQLITE_OK)
        return sl_error_set(err, SL_EIO, "outbox: %s (was sl_outbox_init called?)",
                            sqlite3_errmsg(db));
    char ts[40];
    sl_store_format_ts(n->created_us, ts, sizeof ts);
    sqlite3_bind_text(st, 1, n->idem_key, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, n->alert_id ? n->alert_id : "", -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, n->channel, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, n->kind, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 5, n->payload_json, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 6, ts, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE)
        return sl_error_set(err, SL_EIO, "outbox: insert failed: %s", sqlite3_errmsg(db));
    return 0;
}
