/*
 * sse.c - /api/tables/NAME/stream: a table's new and updated rows as
 * Server-Sent Events, pushed at every commit.
 *
 * Each stream owns one read-only connection and blocks (on its own
 * libmicrohttpd thread) on the server's condition variable until the engine
 * publishes a commit, then asks SQLite what changed:
 *
 *  - Append tables: rows with rowid > the last rowid sent. At most
 *    SSE_MAX_ROWS per commit are sent (the newest); "truncated":true says
 *    older new rows were skipped - a live view wants the present, and
 *    /api/query serves the rest.
 *  - Upsert tables (gold windows: a `_group` column, rows updated in place,
 *    which keeps their rowid): besides new rowids, the stream keeps a hash of
 *    every row it watches and re-sends a row when its hash changes. The
 *    watched range starts at the smallest rowid that was still open
 *    (is_final = 0) at the previous commit, so every update of an open
 *    window, and its last update when it becomes final, is sent; the scan is
 *    a rowid range seek, no index needed. Not covered: a window reopened
 *    after it was final (late: update on an old window) - the next page
 *    refresh or /api/query shows it. A `_group` table without is_final
 *    watches its last SSE_WATCH_ROWS rowids.
 *
 * Tap mode (`?from=end|start|ROWID`, optional `&where=EXPR`; `sluice tap`):
 * every new row, none skipped, oldest first, instead of a live view's newest
 * ones. The stream starts after `from` and sends nothing at connection. At
 * each commit it first reads the table's max(rowid) - every row up to it is
 * committed - then pages through rowid > last AND rowid <= max AND (EXPR)
 * SSE_MAX_ROWS at a time, and moves last to max, so rows EXPR rejects are
 * never scanned again. EXPR is compiled once, by SQLite, under the same
 * authorizer as /api/query (read only, no file functions, one statement).
 * Upsert tables are followed by new rowids only in this mode.
 *
 * Events: `event: rows` / `id: <commit>` / `data: {"columns":[...],"rows":[[...]],
 * "commit":N,"truncated":false}`; a comment line every 15 s keeps proxies and
 * the browser from closing an idle stream. NAME must be a real table, checked
 * against sqlite_schema (views, lake tables included, have no rowid to follow).
 */
#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/hash.h"
#include "core/log.h"
#include "core/timeutil.h"
#include "server/internal.h"

#define SSE_INITIAL_ROWS 100
#define SSE_MAX_ROWS 1000
#define SSE_WATCH_ROWS 1000
#define SSE_WATCH_LIMIT 50000
#define SSE_HEARTBEAT_US (15 * SL_US_PER_SEC)
#define SSE_TAP_PAGES 10 /* tap mode: pages of SSE_MAX_ROWS per wake-up */

typedef struct sse {
    sl_server *s;
    srv_conn *c;
    char *qname;   /* quoted identifier */
    bool upsert;   /* has a _group column */
    int final_col; /* index of is_final among the table's columns, or -1 */
    int64_t last_rowid;
    int64_t watch_from;
    sl_hmap *seen, *next; /* rowid -> row hash, for upsert tables */
    uint64_t seq;
    int64_t next_beat_us;
    bool done;
    bool tap;      /* tap mode: every row after last_rowid */
    bool tap_more; /* tap mode: rows up to tap_hi (or newer) still to send */
    int64_t tap_hi;
    sqlite3_stmt *tap_st, *max_st; /* tap mode: the page and max(rowid) */
    srv_buf out;
    size_t off;
} sse;

static uint64_t row_hash(sqlite3_stmt *st, int from, int ncol) {
    uint64_t h = 0x51u;
    for (int i = from; i < ncol; i++) {
        int t = sqlite3_column_type(st, i);
        unsigned char tag = (unsigned char)t;
        h = sl_hash_bytes(&tag, 1, h);
        if (t == SQLITE_INTEGER) {
            int64_t v = sqlite3_column_int64(st, i);
            h = sl_hash_bytes(&v, sizeof v, h);
        } else if (t == SQLITE_FLOAT) {
            double v = sqlite3_column_double(st, i);
            h = sl_hash_bytes(&v, sizeof v, h);
        } else if (t != SQLITE_NULL) {
            const void *p = t == SQLITE_TEXT ? (const void *)sqlite3_column_text(st, i)
                                             : sqlite3_column_blob(st, i);
            h = sl_hash_bytes(p, (size_t)sqlite3_column_bytes(st, i), h);
        }
    }
    return h;
}

/* Begins an event in e->out with the column names of st (skipping column 0, the rowid). */
static size_t event_begin(sse *e, sqlite3_stmt *st, int64_t commit) {
    size_t start = e->out.n;
    srv_buf_printf(&e->out, "event: rows\nid: %lld\ndata: {\"columns\":[", (long long)commit);
    int ncol = sqlite3_column_count(st);
    for (int i = 1; i < ncol; i++) {
        const char *n = sqlite3_column_name(st, i);
        if (i > 1) srv_buf_puts(&e->out, ",");
        srv_buf_json_str(&e->out, n ? n : "", n ? strlen(n) : 0);
    }
    srv_buf_puts(&e->out, "],\"rows\":[");
    return start;
}

static void event_row(sse *e, sqlite3_stmt *st, int nrow) {
    int ncol = sqlite3_column_count(st);
    srv_buf_puts(&e->out, nrow ? ",[" : "[");
    for (int i = 1; i < ncol; i++) {
        if (i > 1) srv_buf_puts(&e->out, ",");
        srv_json_value(&e->out, st, i);
    }
    srv_buf_puts(&e->out, "]");
}

/* Closes the event; an event with no rows is taken back out of the buffer. */
static void event_end(sse *e, size_t start, int nrows, int64_t commit, bool truncated) {
    if (!nrows) {
        e->out.n = start;
        return;
    }
    srv_buf_printf(&e->out, "],\"commit\":%lld,\"truncated\":%s}\n\n", (long long)commit,
                   truncated ? "true" : "false");
}

static int prepare(sse *e, sqlite3_stmt **st, const char *fmt) {
    srv_buf q = {0};
    srv_buf_printf(&q, fmt, e->qname, e->qname);
    int rc = q.oom ? SQLITE_NOMEM : sqlite3_prepare_v2(e->c->db, q.p, -1, st, NULL);
    srv_buf_free(&q);
    return rc;
}

static void event_error(sse *e, const char *msg) {
    srv_buf_puts(&e->out, "event: error\ndata: {\"error\":");
    srv_buf_json_str(&e->out, msg, strlen(msg));
    srv_buf_puts(&e->out, "}\n\n");
    e->done = true;
}

/* The newest `limit` rows after `after`, oldest first; returns rows sent or -1. */
static int send_newest(sse *e, int64_t after, int limit, int64_t commit) {
    sqlite3_stmt *st;
    if (prepare(e, &st,
                "SELECT * FROM (SELECT rowid AS _sl_rowid, * FROM %s WHERE rowid > ?1 ORDER BY "
                "rowid DESC LIMIT ?2)"
                " ORDER BY _sl_rowid") != SQLITE_OK)
        return -1;
    sqlite3_bind_int64(st, 1, after);
    sqlite3_bind_int(st, 2, limit);
    srv_conn_deadline(e->c, e->s->timeout_ms * 5);
    size_t start = event_begin(e, st, commit);
    int n = 0, rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        int64_t rowid = sqlite3_column_int64(st, 0);
        if (rowid > e->last_rowid) e->last_rowid = rowid;
        event_row(e, st, n++);
    }
    event_end(e, start, n, commit, after > 0 && n == limit);
    sqlite3_finalize(st);
    srv_conn_deadline(e->c, 0);
    return rc == SQLITE_DONE ? n : -1;
}

/* Upsert tables: scan the watched rowid range, send new and changed rows,
 * and move the range to the oldest row still open. send=false only primes
 * the hashes (after the initial rows). */
static int scan_watched(sse *e, int64_t commit, bool send) {
    int64_t from = e->watch_from;
    if (from > e->last_rowid + 1) from = e->last_rowid + 1;
    if (from < 1) from = 1;
    sqlite3_stmt *st;
    if (prepare(e, &st,
                "SELECT rowid AS _sl_rowid, * FROM %s WHERE rowid >= ?1 ORDER BY rowid LIMIT ?2") !=
        SQLITE_OK)
        return -1;
    sqlite3_bind_int64(st, 1, from);
    sqlite3_bind_int(st, 2, SSE_WATCH_LIMIT);
    srv_conn_deadline(e->c, e->s->timeout_ms * 5);
    sl_hmap_clear(e->next);
    size_t start = event_begin(e, st, commit);
    int n = 0, rc, ncol = sqlite3_column_count(st);
    int64_t oldest_open = INT64_MAX, max_rowid = e->last_rowid;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        int64_t rowid = sqlite3_column_int64(st, 0);
        uint64_t h = row_hash(st, 1, ncol);
        int64_t *prev = sl_hmap_get(e->seen, (uint64_t)rowid);
        bool changed = rowid > e->last_rowid || !prev || *prev != (int64_t)h;
        if (send && changed && n < SSE_MAX_ROWS) event_row(e, st, n++);
        sl_hmap_put(e->next, (uint64_t)rowid, (int64_t)h, NULL);
        if (rowid > max_rowid) max_rowid = rowid;
        if (e->final_col >= 0 && !sqlite3_column_int(st, 1 + e->final_col) && rowid < oldest_open)
            oldest_open = rowid;
    }
    event_end(e, start, n, commit, n == SSE_MAX_ROWS);
    sqlite3_finalize(st);
    srv_conn_deadline(e->c, 0);
    sl_hmap *t = e->seen;
    e->seen = e->next;
    e->next = t;
    e->last_rowid = max_rowid;
    if (e->final_col >= 0)
        e->watch_from = oldest_open != INT64_MAX ? oldest_open : max_rowid + 1;
    else
        e->watch_from = max_rowid - SSE_WATCH_ROWS + 1;
    return rc == SQLITE_DONE ? n : -1;
}

/* max(rowid) of the table now, 0 when empty; -1 on error. */
static int64_t max_rowid(sse *e) {
    sqlite3_stmt *st = e->max_st;
    int64_t v = -1;
    if (sqlite3_step(st) == SQLITE_ROW) v = sqlite3_column_int64(st, 0);
    sqlite3_reset(st);
    return v;
}

/* Tap mode: the rows in (last_rowid, tap_hi] matching the filter, at most
 * SSE_TAP_PAGES pages per call, so a long backlog (from=start on a big
 * table) goes out a bounded buffer at a time; tap_more says to call again
 * without waiting for a commit. tap_hi is max(rowid) when a range starts:
 * every row up to it is committed. */
static int send_tap(sse *e, int64_t commit) {
    srv_conn_deadline(e->c, e->s->timeout_ms * 5);
    if (!e->tap_more) e->tap_hi = max_rowid(e);
    int64_t hi = e->tap_hi, from = e->last_rowid;
    int total = 0, pages = 0, rc = SQLITE_DONE;
    while (hi > from && pages < SSE_TAP_PAGES) {
        sqlite3_stmt *st = e->tap_st;
        sqlite3_bind_int64(st, 1, from);
        sqlite3_bind_int64(st, 2, hi);
        size_t start = event_begin(e, st, commit);
        int n = 0;
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
            from = sqlite3_column_int64(st, 0);
            event_row(e, st, n++);
        }
        sqlite3_reset(st);
        event_end(e, start, n, commit, false);
        total += n;
        pages++;
        if (rc != SQLITE_DONE || e->out.oom) break;
        if (n < SSE_MAX_ROWS) from = hi; /* the rest of the range does not match */
    }
    if (hi < 0 || rc != SQLITE_DONE) {
        srv_conn_deadline(e->c, 0);
        return -1;
    }
    if (from > e->last_rowid) e->last_rowid = from;
    /* range done: rows a commit added meanwhile start the next one now (that
     * commit's wake-up may already have been taken by this call) */
    e->tap_more = hi > from;
    if (!e->tap_more) {
        int64_t m = max_rowid(e);
        if (m > from) e->tap_hi = m, e->tap_more = true;
    }
    srv_conn_deadline(e->c, 0);
    return total;
}

static void poll_changes(sse *e, int64_t commit) {
    int rc = e->tap      ? send_tap(e, commit)
             : e->upsert ? scan_watched(e, commit, true)
                         : send_newest(e, e->last_rowid, SSE_MAX_ROWS, commit);
    if (rc < 0) {
        char msg[300];
        snprintf(msg, sizeof msg, "%s",
                 e->c->timed_out ? "stream query timed out" : sqlite3_errmsg(e->c->db));
        event_error(e, msg);
    }
}

static ssize_t sse_read(void *cls, uint64_t pos, char *buf, size_t max) {
    (void)pos;
    sse *e = cls;
    sl_server *s = e->s;
    for (;;) {
        if (e->off < e->out.n) {
            size_t n = e->out.n - e->off;
            if (n > max) n = max;
            memcpy(buf, e->out.p + e->off, n);
            e->off += n;
            return (ssize_t)n;
        }
        e->out.n = e->off = 0;
        if (e->done || e->out.oom) return MHD_CONTENT_READER_END_OF_STREAM;
        pthread_mutex_lock(&s->mu);
        while (!s->stopping && s->publish_seq == e->seq && !e->tap_more &&
               sl_monotonic_us() < e->next_beat_us) {
            struct timespec ts;
            clock_gettime(CLOCK_MONOTONIC, &ts);
            int64_t wait_us = e->next_beat_us - sl_monotonic_us();
            if (wait_us < 0) wait_us = 0;
            ts.tv_sec += wait_us / SL_US_PER_SEC;
            ts.tv_nsec += (wait_us % SL_US_PER_SEC) * 1000;
            if (ts.tv_nsec >= 1000000000L) ts.tv_sec++, ts.tv_nsec -= 1000000000L;
            pthread_cond_timedwait(&s->cv, &s->mu, &ts);
        }
        bool stopping = s->stopping;
        uint64_t seq = s->publish_seq;
        int64_t commit = s->commit_id;
        pthread_mutex_unlock(&s->mu);
        if (stopping) return MHD_CONTENT_READER_END_OF_STREAM;
        if (e->c->gen != atomic_load(&s->db_gen))
            return MHD_CONTENT_READER_END_OF_STREAM; /* the state was swapped (sluice refresh) */
        if (seq != e->seq || e->tap_more) {
            e->seq = seq;
            poll_changes(e, commit);
        }
        /* any event resets the heartbeat clock; a commit that changed nothing
         * in this table sends nothing */
        int64_t now = sl_monotonic_us();
        if (!e->out.n && now >= e->next_beat_us) srv_buf_puts(&e->out, ": heartbeat\n\n");
        if (e->out.n) e->next_beat_us = now + SSE_HEARTBEAT_US;
    }
}

static void sse_free(void *cls) {
    sse *e = cls;
    atomic_fetch_sub(&e->s->sse_streams, 1);
    sqlite3_finalize(e->tap_st);
    sqlite3_finalize(e->max_st);
    srv_conn_close(e->c);
    sl_hmap_free(e->seen);
    sl_hmap_free(e->next);
    srv_buf_free(&e->out);
    free(e->qname);
    free(e);
}

/* Live mode: the newest rows now; upsert tables also prime the watched range.
 * 0, 507 out of memory, or 500 with msg. */
static int live_prepare(sse *e, int64_t commit, char *msg, size_t cap) {
    sqlite3_stmt *st;
    if (send_newest(e, 0, SSE_INITIAL_ROWS, commit) < 0) {
        snprintf(msg, cap, "%s", sqlite3_errmsg(e->c->db));
        return 500;
    }
    if (!e->upsert) return 0;
    e->seen = sl_hmap_new(256);
    e->next = sl_hmap_new(256);
    if (!e->seen || !e->next) return 507;
    /* prime: watch from the oldest open window (or the last rows) without sending */
    e->watch_from = e->last_rowid + 1;
    if (e->final_col >= 0 &&
        prepare(e, &st, "SELECT min(rowid) FROM %s WHERE NOT is_final") == SQLITE_OK) {
        if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL)
            e->watch_from = sqlite3_column_int64(st, 0);
        sqlite3_finalize(st);
    } else if (e->final_col < 0) {
        e->watch_from = e->last_rowid - SSE_WATCH_ROWS + 1;
    }
    if (scan_watched(e, commit, false) < 0) {
        snprintf(msg, cap, "%s", sqlite3_errmsg(e->c->db));
        return 500;
    }
    return 0;
}

/* Tap mode: compiles the page query with the user's filter under the
 * authorizer and sets where the stream starts. 0, or an HTTP status with msg. */
static int tap_prepare(sse *e, const char *from, const char *where, char *msg, size_t cap) {
    if (where && strlen(where) > 4096) {
        snprintf(msg, cap, "where: longer than 4096 bytes");
        return 400;
    }
    char *q = sqlite3_mprintf("SELECT max(rowid) FROM %s", e->qname);
    int rc = q ? sqlite3_prepare_v2(e->c->db, q, -1, &e->max_st, NULL) : SQLITE_NOMEM;
    sqlite3_free(q);
    if (rc != SQLITE_OK) {
        snprintf(msg, cap, "%s", sqlite3_errmsg(e->c->db));
        return 500;
    }
    q = sqlite3_mprintf("SELECT rowid AS _sl_rowid, * FROM %s WHERE rowid > ?1 AND rowid <= ?2 "
                        "AND (%s) ORDER BY rowid LIMIT %d",
                        e->qname, where && *where ? where : "1", SSE_MAX_ROWS);
    if (!q) {
        snprintf(msg, cap, "out of memory");
        return 500;
    }
    const char *tail = NULL;
    e->c->restricted = true;
    e->c->denied[0] = 0;
    e->c->nvia = 0;
    rc = sqlite3_prepare_v2(e->c->db, q, -1, &e->tap_st, &tail);
    e->c->restricted = false;
    bool extra = false;
    for (const char *p = tail; rc == SQLITE_OK && p && *p; p++)
        extra |= *p != ' ' && *p != '\t' && *p != '\n' && *p != '\r';
    sqlite3_free(q);
    if (rc != SQLITE_OK || !e->tap_st) {
        if (e->c->denied[0]) {
            atomic_fetch_add(&e->s->query_denied, 1);
            snprintf(msg, cap, "where: not allowed: %s", e->c->denied);
            return 403;
        }
        snprintf(msg, cap, "where: %s", sqlite3_errmsg(e->c->db));
        return 400;
    }
    if (extra || !sqlite3_stmt_readonly(e->tap_st)) {
        snprintf(msg, cap, "where: one read-only expression is allowed");
        return 400;
    }
    int denied = srv_check_reads(e->c, sqlite3_sql(e->tap_st), msg, cap);
    if (denied) {
        atomic_fetch_add(&e->s->query_denied, 1);
        return denied;
    }
    e->tap = true;
    if (!strcmp(from, "start")) {
        e->last_rowid = 0;
    } else if (!strcmp(from, "end")) {
        if ((e->last_rowid = max_rowid(e)) < 0) {
            snprintf(msg, cap, "%s", sqlite3_errmsg(e->c->db));
            return 500;
        }
    } else {
        char *end;
        long long v = strtoll(from, &end, 10);
        if (end == from || *end || v < 0) {
            snprintf(msg, cap, "from: expected start, end or a rowid >= 0");
            return 400;
        }
        e->last_rowid = v;
    }
    return 0;
}

struct MHD_Response *srv_sse_response(sl_server *s, const char *table, const char *from,
                                      const char *where, int *status, srv_buf *errbody) {
    char msg[256];
    sse *e = calloc(1, sizeof *e); /* the caller took a slot in s->sse_streams: sse_free frees it */
    if (!e) {
        atomic_fetch_sub(&s->sse_streams, 1);
        goto oom;
    }
    e->s = s;
    e->final_col = -1;
    e->c = srv_conn_open(s, msg, sizeof msg);
    if (!e->c) {
        *status = 503;
        goto fail_msg;
    }
    if (strlen(table) > 256 || !srv_table_exists(e->c, table)) {
        *status = 404;
        snprintf(msg, sizeof msg, "no such table");
        goto fail_msg;
    }
    srv_buf q = {0};
    srv_buf_puts(&q, "\"");
    for (const char *p = table; *p; p++)
        srv_buf_put(&q, *p == '"' ? "\"\"" : p, *p == '"' ? 2 : 1);
    srv_buf_puts(&q, "\"");
    e->qname = q.p;
    if (q.oom) goto oom;
    /* columns: is it an upsert (window) table, where is is_final */
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(e->c->db, "SELECT name FROM pragma_table_info(?1)", -1, &st, NULL) ==
        SQLITE_OK) {
        sqlite3_bind_text(st, 1, table, -1, SQLITE_TRANSIENT);
        for (int i = 0; sqlite3_step(st) == SQLITE_ROW; i++) {
            const char *cn = (const char *)sqlite3_column_text(st, 0);
            if (!cn) continue;
            if (!strcmp(cn, "_group")) e->upsert = true;
            if (!strcmp(cn, "is_final")) e->final_col = i;
        }
        sqlite3_finalize(st);
    }
    pthread_mutex_lock(&s->mu);
    e->seq = s->publish_seq; /* taken before the first read: a commit after it wakes us */
    int64_t commit = s->commit_id;
    pthread_mutex_unlock(&s->mu);
    srv_buf_puts(&e->out, "retry: 2000\n: connected\n\n");
    if (from || where) {
        if ((*status = tap_prepare(e, from ? from : "end", where, msg, sizeof msg))) goto fail_msg;
        /* rows already stored after `from` go out now, not at the next commit */
        if (send_tap(e, commit) < 0) {
            *status = 500;
            snprintf(msg, sizeof msg, "%s", sqlite3_errmsg(e->c->db));
            goto fail_msg;
        }
    } else if ((*status = live_prepare(e, commit, msg, sizeof msg))) {
        if (*status == 507) goto oom;
        goto fail_msg;
    }
    e->next_beat_us = sl_monotonic_us() + SSE_HEARTBEAT_US;
    struct MHD_Response *r =
        MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16 * 1024, sse_read, e, sse_free);
    if (!r) goto oom;
    MHD_add_response_header(r, "Content-Type", "text/event-stream; charset=utf-8");
    MHD_add_response_header(r, "Cache-Control", "no-cache");
    MHD_add_response_header(r, "X-Accel-Buffering", "no");
    *status = 200;
    return r;
oom:
    *status = 500;
    snprintf(msg, sizeof msg, "out of memory");
fail_msg:
    srv_buf_puts(errbody, "{\"error\":");
    srv_buf_json_str(errbody, msg, strlen(msg));
    srv_buf_puts(errbody, "}");
    if (e) sse_free(e);
    return NULL;
}
