/*
 * alerts.c - /api/alerts: the alerts firing now and the recent alert_history
 * rows with each one's delivery state per channel (the alert_deliveries
 * view), read on the server's read-only connections like /api/query, with
 * its deadline and byte budget. A pipeline without alert rules has neither
 * table: the answer is then two empty lists, not an error.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/internal.h"

static int alerts_error(srv_buf *out, int status, const char *msg) {
    out->n = 0;
    srv_buf_puts(out, "{\"error\":");
    srv_buf_json_str(out, msg, strlen(msg));
    srv_buf_puts(out, "}");
    return status;
}

static bool has_object(srv_conn *c, const char *type, const char *name) {
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(c->db, "SELECT 1 FROM sqlite_schema WHERE type = ?1 AND name = ?2", -1,
                           &st, NULL) != SQLITE_OK)
        return false;
    sqlite3_bind_text(st, 1, type, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
    bool found = sqlite3_step(st) == SQLITE_ROW;
    sqlite3_finalize(st);
    return found;
}

/* "labels" holds the key columns as a JSON object written by the alert
 * module (column col, and col + 1 says whether SQLite finds it a valid JSON
 * object); anything else (a hand-edited row) goes out as a string. */
static void put_labels(srv_buf *b, sqlite3_stmt *st, int col) {
    if (sqlite3_column_type(st, col) == SQLITE_NULL)
        srv_buf_puts(b, "{}");
    else if (sqlite3_column_int(st, col + 1))
        srv_buf_puts(b, (const char *)sqlite3_column_text(st, col));
    else
        srv_json_value(b, st, col);
}

static void put_field(srv_buf *b, const char *name, sqlite3_stmt *st, int col) {
    srv_buf_printf(b, ",\"%s\":", name);
    srv_json_value(b, st, col);
}

/* One alert_history row's deliveries; false when the query failed. */
static bool put_deliveries(sqlite3_stmt *dv, const char *alert_id, srv_buf *b) {
    srv_buf_puts(b, ",\"deliveries\":[");
    if (dv) {
        sqlite3_reset(dv);
        sqlite3_bind_text(dv, 1, alert_id, -1, SQLITE_TRANSIENT);
        int n = 0, rc;
        while ((rc = sqlite3_step(dv)) == SQLITE_ROW) {
            srv_buf_puts(b, n++ ? ",{\"channel\":" : "{\"channel\":");
            srv_json_value(b, dv, 0);
            put_field(b, "kind", dv, 1);
            put_field(b, "state", dv, 2);
            put_field(b, "attempts", dv, 3);
            put_field(b, "sent_at", dv, 4);
            put_field(b, "last_status", dv, 5);
            put_field(b, "last_error", dv, 6);
            srv_buf_puts(b, "}");
        }
        if (rc != SQLITE_DONE) return false;
    }
    srv_buf_puts(b, "]");
    return true;
}

int srv_alerts(sl_server *s, const char *state, const char *limit_arg, srv_buf *out) {
    if (state && *state && strcmp(state, "firing") && strcmp(state, "resolved"))
        return alerts_error(out, 400, "state must be firing or resolved");
    long limit = 50;
    if (limit_arg) {
        char *end;
        limit = strtol(limit_arg, &end, 10);
        if (end == limit_arg || *end || limit <= 0)
            return alerts_error(out, 400, "limit must be a positive integer");
    }
    if (limit > s->row_limit) limit = s->row_limit;
    char msg[256];
    srv_conn *c = srv_conn_get(s, msg, sizeof msg);
    if (!c) return alerts_error(out, 503, msg);
    srv_conn_deadline(c, s->timeout_ms);
    int status = 200;
    sqlite3_stmt *fq = NULL, *hq = NULL, *dv = NULL;
    bool truncated = false;
    srv_buf_puts(out, "{\"firing\":[");
    if (!has_object(c, "table", "alert_history")) {
        srv_buf_puts(out, "],\"recent\":[]");
        goto end;
    }
    /* firing: the state of the alert, not of a notification (a rate-limited
     * firing is still firing) */
    if (sqlite3_prepare_v2(
            c->db,
            "SELECT alert_id, rule, alert_key, severity, message, created_at, "
            "labels, CASE WHEN json_valid(labels) THEN json_type(labels) = 'object' END "
            "FROM alert_history WHERE state = 'firing' "
            "ORDER BY created_at DESC, rowid DESC LIMIT ?1",
            -1, &fq, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(c->db,
                           "SELECT alert_id, rule, alert_key, severity, message, state, "
                           "created_at, resolved_at, channels_sent, notified_by, labels, "
                           "CASE WHEN json_valid(labels) THEN json_type(labels) = 'object' END "
                           "FROM alert_history WHERE ?1 IS NULL OR state = ?1 "
                           "ORDER BY created_at DESC, rowid DESC LIMIT ?2",
                           -1, &hq, NULL) != SQLITE_OK ||
        (has_object(c, "view", "alert_deliveries") &&
         sqlite3_prepare_v2(c->db,
                            "SELECT channel, kind, delivery_state, attempts, sent_at, "
                            "last_status, last_error FROM alert_deliveries "
                            "WHERE alert_id = ?1 ORDER BY channel, kind",
                            -1, &dv, NULL) != SQLITE_OK)) {
        status = alerts_error(out, 500, sqlite3_errmsg(c->db));
        goto done;
    }
    sqlite3_bind_int64(fq, 1, limit);
    int n = 0, rc;
    while ((rc = sqlite3_step(fq)) == SQLITE_ROW) {
        if (out->n > s->max_bytes) {
            truncated = true;
            break;
        }
        srv_buf_puts(out, n++ ? ",{\"alert_id\":" : "{\"alert_id\":");
        srv_json_value(out, fq, 0);
        put_field(out, "rule", fq, 1);
        put_field(out, "key", fq, 2);
        put_field(out, "severity", fq, 3);
        put_field(out, "message", fq, 4);
        put_field(out, "started_at", fq, 5);
        srv_buf_puts(out, ",\"labels\":");
        put_labels(out, fq, 6);
        srv_buf_puts(out, "}");
    }
    if (rc != SQLITE_DONE && rc != SQLITE_ROW) goto failed;
    srv_buf_puts(out, "],\"recent\":[");
    if (state && *state)
        sqlite3_bind_text(hq, 1, state, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(hq, 1);
    sqlite3_bind_int64(hq, 2, limit);
    n = 0;
    while (!truncated && (rc = sqlite3_step(hq)) == SQLITE_ROW) {
        if (out->n > s->max_bytes) {
            truncated = true;
            break;
        }
        srv_buf_puts(out, n++ ? ",{\"alert_id\":" : "{\"alert_id\":");
        srv_json_value(out, hq, 0);
        put_field(out, "rule", hq, 1);
        put_field(out, "key", hq, 2);
        put_field(out, "severity", hq, 3);
        put_field(out, "message", hq, 4);
        put_field(out, "state", hq, 5);
        put_field(out, "created_at", hq, 6);
        put_field(out, "resolved_at", hq, 7);
        put_field(out, "channels_sent", hq, 8);
        put_field(out, "notified_by", hq, 9);
        srv_buf_puts(out, ",\"labels\":");
        put_labels(out, hq, 10);
        if (!put_deliveries(dv, (const char *)sqlite3_column_text(hq, 0), out)) goto failed;
        srv_buf_puts(out, "}");
    }
    if (!truncated && rc != SQLITE_DONE) goto failed;
    srv_buf_puts(out, "]");
end:
    srv_buf_printf(out, ",\"limit\":%ld,\"truncated\":%s}", limit, truncated ? "true" : "false");
    if (out->oom) status = alerts_error(out, 500, "out of memory");
    goto done;
failed:
    if (c->timed_out) {
        snprintf(msg, sizeof msg, "alerts query timed out after %d ms", s->timeout_ms);
        status = alerts_error(out, 503, msg);
    } else {
        status = alerts_error(out, 500, sqlite3_errmsg(c->db));
    }
done:
    sqlite3_finalize(fq);
    sqlite3_finalize(hq);
    sqlite3_finalize(dv);
    srv_conn_put(s, c);
    return status;
}
