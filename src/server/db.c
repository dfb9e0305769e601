/*
 * db.c - read-only SQL for the HTTP API: connections, authorizer, deadline,
 * results as JSON, and the table catalog.
 *
 * Safety comes from SQLite itself, not from looking at the SQL text: each
 * connection is opened SQLITE_OPEN_READONLY, and user SQL runs under an
 * authorizer that allows only SELECT, reading columns, recursive CTEs and
 * functions that have no side effects; everything else (INSERT, UPDATE,
 * DELETE, DROP, CREATE, ATTACH, PRAGMA, transactions, load_extension...) is
 * refused while the statement is prepared. A progress handler stops a
 * statement at its deadline, and a row limit bounds the answer.
 *
 * Connections are pooled (a few, guarded by a mutex) because the engine's
 * on_connection hook (lake vtab, temp views) has a cost worth paying once.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/timeutil.h"
#include "server/internal.h"

/* ---- buffer ---- */

void srv_buf_put(srv_buf *b, const char *s, size_t n) {
    if (b->oom) return;
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 1024;
        while (cap < b->n + n + 1)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p) {
            b->oom = true;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = 0;
}

void srv_buf_puts(srv_buf *b, const char *s) { srv_buf_put(b, s, strlen(s)); }

void srv_buf_printf(srv_buf *b, const char *fmt, ...) {
    char tmp[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0) return;
    if ((size_t)n < sizeof tmp) {
        srv_buf_put(b, tmp, (size_t)n);
        return;
    }
    char *big = malloc((size_t)n + 1);
    if (!big) {
        b->oom = true;
        return;
    }
    va_start(ap, fmt);
    vsnprintf(big, (size_t)n + 1, fmt, ap);
    va_end(ap);
    srv_buf_put(b, big, (size_t)n);
    free(big);
}

void srv_buf_json_str(srv_buf *b, const char *s, size_t n) {
    static const char hex[] = "0123456789abcdef";
    srv_buf_put(b, "\"", 1);
    size_t run = 0; /* bytes copied as they are, flushed in one put */
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c != '"' && c != '\\') {
            run++;
            continue;
        }
        srv_buf_put(b, s + i - run, run);
        run = 0;
        char esc[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
        switch (c) {
        case '"':
            srv_buf_put(b, "\\\"", 2);
            break;
        case '\\':
            srv_buf_put(b, "\\\\", 2);
            break;
        case '\n':
            srv_buf_put(b, "\\n", 2);
            break;
        case '\r':
            srv_buf_put(b, "\\r", 2);
            break;
        case '\t':
            srv_buf_put(b, "\\t", 2);
            break;
        default:
            srv_buf_put(b, esc, 6);
        }
    }
    srv_buf_put(b, s + n - run, run);
    srv_buf_put(b, "\"", 1);
}

void srv_buf_free(srv_buf *b) {
    free(b->p);
    *b = (srv_buf){0};
}

void srv_json_value(srv_buf *b, sqlite3_stmt *st, int col) {
    switch (sqlite3_column_type(st, col)) {
    case SQLITE_INTEGER:
        srv_buf_printf(b, "%lld", (long long)sqlite3_column_int64(st, col));
        break;
    case SQLITE_FLOAT: {
        double d = sqlite3_column_double(st, col);
        if (!isfinite(d)) {
            srv_buf_puts(b, "null");
            break;
        }
        char tmp[40];
        snprintf(tmp, sizeof tmp, "%.15g", d);
        if (strtod(tmp, NULL) != d) snprintf(tmp, sizeof tmp, "%.17g", d);
        srv_buf_puts(b, tmp);
        break;
    }
    case SQLITE_TEXT:
        srv_buf_json_str(b, (const char *)sqlite3_column_text(st, col),
                         (size_t)sqlite3_column_bytes(st, col));
        break;
    case SQLITE_BLOB: {
        /* blobs as hex text: rare in a pipeline's tables, lossless, JSON-safe */
        static const char hex[] = "0123456789abcdef";
        const unsigned char *p = sqlite3_column_blob(st, col);
        int n = sqlite3_column_bytes(st, col);
        srv_buf_puts(b, "\"x'");
        char chunk[512];
        for (int i = 0; i < n;) {
            int k = 0;
            for (; i < n && k < (int)sizeof chunk; i++, k += 2) {
                chunk[k] = hex[p[i] >> 4];
                chunk[k + 1] = hex[p[i] & 15];
            }
            srv_buf_put(b, chunk, (size_t)k);
        }
        srv_buf_puts(b, "'\"");
        break;
    }
    default:
        srv_buf_puts(b, "null");
    }
}

/* ---- connections ---- */

static const char *action_name(int a) {
    switch (a) {
    case SQLITE_CREATE_INDEX:
        return "CREATE INDEX";
    case SQLITE_CREATE_TABLE:
        return "CREATE TABLE";
    case SQLITE_CREATE_TEMP_INDEX:
        return "CREATE TEMP INDEX";
    case SQLITE_CREATE_TEMP_TABLE:
        return "CREATE TEMP TABLE";
    case SQLITE_CREATE_TEMP_TRIGGER:
        return "CREATE TEMP TRIGGER";
    case SQLITE_CREATE_TEMP_VIEW:
        return "CREATE TEMP VIEW";
    case SQLITE_CREATE_TRIGGER:
        return "CREATE TRIGGER";
    case SQLITE_CREATE_VIEW:
        return "CREATE VIEW";
    case SQLITE_DELETE:
        return "DELETE";
    case SQLITE_DROP_INDEX:
        return "DROP INDEX";
    case SQLITE_DROP_TABLE:
        return "DROP TABLE";
    case SQLITE_DROP_TEMP_INDEX:
        return "DROP TEMP INDEX";
    case SQLITE_DROP_TEMP_TABLE:
        return "DROP TEMP TABLE";
    case SQLITE_DROP_TEMP_TRIGGER:
        return "DROP TEMP TRIGGER";
    case SQLITE_DROP_TEMP_VIEW:
        return "DROP TEMP VIEW";
    case SQLITE_DROP_TRIGGER:
        return "DROP TRIGGER";
    case SQLITE_DROP_VIEW:
        return "DROP VIEW";
    case SQLITE_INSERT:
        return "INSERT";
    case SQLITE_PRAGMA:
        return "PRAGMA";
    case SQLITE_TRANSACTION:
        return "TRANSACTION";
    case SQLITE_UPDATE:
        return "UPDATE";
    case SQLITE_ATTACH:
        return "ATTACH";
    case SQLITE_DETACH:
        return "DETACH";
    case SQLITE_ALTER_TABLE:
        return "ALTER TABLE";
    case SQLITE_REINDEX:
        return "REINDEX";
    case SQLITE_ANALYZE:
        return "ANALYZE";
    case SQLITE_CREATE_VTABLE:
        return "CREATE VIRTUAL TABLE";
    case SQLITE_DROP_VTABLE:
        return "DROP VIRTUAL TABLE";
    case SQLITE_SAVEPOINT:
        return "SAVEPOINT";
    case SQLITE_COPY:
        return "COPY";
    default:
        return "this statement";
    }
}

/* Functions with effects outside the statement, or that reach the file system. */
static bool function_denied(const char *f) {
    static const char *const deny[] = {"load_extension", "readfile",      "writefile", "edit",
                                       "fts3_tokenizer", "sqlite_offset", NULL};
    if (!f) return true;
    for (int i = 0; deny[i]; i++)
        if (!sqlite3_stricmp(f, deny[i])) return true;
    return false;
}

static int authorizer(void *ud, int action, const char *a1, const char *a2, const char *db,
                      const char *trig) {
    (void)db;
    srv_conn *c = ud;
    if (!c->restricted) return SQLITE_OK;
    switch (action) {
    case SQLITE_READ:
        /* a token limited to some tables: reading any other is refused
         * while the statement is prepared (trig: the view reading it) */
        if (srv_table_allowed(srv_request_token(), a1, NULL)) return SQLITE_OK;
        if (srv_table_allowed(srv_request_token(), a1, trig)) {
            if (c->nvia < 8 && strlen(a1) < sizeof c->via_view[0])
                snprintf(c->via_view[c->nvia++], sizeof c->via_view[0], "%s", a1);
            return SQLITE_OK;
        }
        if (!c->denied[0]) snprintf(c->denied, sizeof c->denied, "reading table %.60s", a1);
        return SQLITE_DENY;
    case SQLITE_SELECT:
    case SQLITE_RECURSIVE:
        return SQLITE_OK;
    case SQLITE_UPDATE:
        /* the first use of a table-valued function (json_each, json_tree)
         * on a connection registers it: SQLite reports that as an update of
         * sqlite_master's columns, though nothing is written. A user's
         * UPDATE of sqlite_master never gets here (SQLite refuses it first),
         * the connection is read-only and writing statements are refused
         * after prepare, so letting these through opens nothing. */
        if (a1 && a2 && (!strcmp(a1, "sqlite_master") || !strcmp(a1, "sqlite_temp_master")) &&
            (!strcmp(a2, "type") || !strcmp(a2, "name") || !strcmp(a2, "tbl_name") ||
             !strcmp(a2, "rootpage") || !strcmp(a2, "sql")))
            return SQLITE_OK;
        goto deny;
    case SQLITE_FUNCTION:
        if (!function_denied(a2)) return SQLITE_OK;
        if (!c->denied[0]) snprintf(c->denied, sizeof c->denied, "function %s", a2 ? a2 : "?");
        return SQLITE_DENY;
    default:
    deny:
        /* DROP TABLE first deletes from sqlite_schema: name the statement,
         * not that internal step, so a later action may replace it */
        if (!c->denied[0] || c->denied_internal) {
            c->denied_internal =
                (action == SQLITE_DELETE || action == SQLITE_INSERT || action == SQLITE_UPDATE) &&
                a1 && !sqlite3_strnicmp(a1, "sqlite_", 7);
            if (action == SQLITE_PRAGMA && a1)
                snprintf(c->denied, sizeof c->denied, "PRAGMA %.60s", a1);
            else if (c->denied_internal) /* SQLite stops at this first refusal */
                snprintf(c->denied, sizeof c->denied, "%s",
                         action == SQLITE_DELETE   ? "DROP"
                         : action == SQLITE_INSERT ? "CREATE"
                                                   : "ALTER");
            else
                snprintf(c->denied, sizeof c->denied, "%s", action_name(action));
        }
        return SQLITE_DENY;
    }
}

static int progress(void *ud) {
    srv_conn *c = ud;
    if (c->deadline_us && sl_monotonic_us() > c->deadline_us) {
        c->timed_out = true;
        return 1;
    }
    return 0;
}

void srv_conn_deadline(srv_conn *c, int timeout_ms) {
    c->timed_out = false;
    c->deadline_us = timeout_ms > 0 ? sl_monotonic_us() + (int64_t)timeout_ms * 1000 : 0;
}

srv_conn *srv_conn_open(sl_server *s, char *msg, size_t cap) {
    srv_conn *c = calloc(1, sizeof *c);
    if (!c) {
        snprintf(msg, cap, "out of memory");
        return NULL;
    }
    c->gen = atomic_load(&s->db_gen); /* before the open: a swap in between makes it stale */
    int rc = sqlite3_open_v2(s->db_path, &c->db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        snprintf(msg, cap, "cannot open database: %s",
                 c->db ? sqlite3_errmsg(c->db) : "out of memory");
        goto fail;
    }
    sqlite3_busy_timeout(c->db, 2000);
    sqlite3_extended_result_codes(c->db, 1);
    /* bounds for hostile SQL: no attached databases, strings up to 64 MB */
    sqlite3_limit(c->db, SQLITE_LIMIT_ATTACHED, 0);
    sqlite3_limit(c->db, SQLITE_LIMIT_LENGTH, 64 << 20);
    if (s->on_connection && (rc = s->on_connection(s->ud, c->db)) != SQLITE_OK) {
        snprintf(msg, cap, "connection hook failed: %s", sqlite3_errmsg(c->db));
        goto fail;
    }
    sqlite3_set_authorizer(c->db, authorizer, c);
    sqlite3_progress_handler(c->db, 1000, progress, c);
    return c;
fail:
    sqlite3_close(c->db);
    free(c);
    return NULL;
}

void srv_conn_close(srv_conn *c) {
    if (!c) return;
    sqlite3_close(c->db);
    free(c);
}

srv_conn *srv_conn_get(sl_server *s, char *msg, size_t cap) {
    srv_conn *c = NULL;
    pthread_mutex_lock(&s->pool_mu);
    if (s->npool) c = s->pool[--s->npool];
    pthread_mutex_unlock(&s->pool_mu);
    if (!c) c = srv_conn_open(s, msg, cap);
    if (c) {
        c->restricted = false;
        c->denied[0] = 0;
        c->denied_internal = false;
        c->deadline_us = 0;
        c->timed_out = false;
    }
    return c;
}

void srv_conn_put(sl_server *s, srv_conn *c) {
    if (!c) return;
    c->restricted = false;
    c->deadline_us = 0;
    pthread_mutex_lock(&s->pool_mu);
    if (s->npool < SRV_POOL_MAX && c->gen == atomic_load(&s->db_gen)) {
        s->pool[s->npool++] = c;
        c = NULL;
    }
    pthread_mutex_unlock(&s->pool_mu);
    srv_conn_close(c);
}

void sl_server_reopen(sl_server *s) {
    if (!s) return;
    atomic_fetch_add(&s->db_gen, 1);
    srv_pool_close(s);
    /* SSE streams see the new generation on their next wake-up and end (the
     * browser's EventSource reconnects to the new file) */
    pthread_mutex_lock(&s->mu);
    s->publish_seq++;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
}

void srv_pool_close(sl_server *s) {
    pthread_mutex_lock(&s->pool_mu);
    for (int i = 0; i < s->npool; i++)
        srv_conn_close(s->pool[i]);
    s->npool = 0;
    pthread_mutex_unlock(&s->pool_mu);
}

/* ---- /api/query ---- */

static int json_error(srv_buf *out, int status, const char *msg) {
    srv_buf_puts(out, "{\"error\":");
    srv_buf_json_str(out, msg, strlen(msg));
    srv_buf_puts(out, "}");
    return status;
}

static bool only_space_or_semicolons(const char *p) {
    for (; p && *p; p++)
        if (*p != ';' && *p != ' ' && *p != '\t' && *p != '\n' && *p != '\r') return false;
    return true;
}

bool srv_param_name_ok(const char *n) {
    if (!n || !*n || strlen(n) > 64) return false;
    for (const char *p = n; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || *p == '_' ||
              (p > n && *p >= '0' && *p <= '9')))
            return false;
    return true;
}

/* The statement's indexes of :name, @name and $name (SQLite keeps them apart;
 * a value goes to each the SQL uses). Returns how many. */
static int param_indexes(sqlite3_stmt *st, const char *name, int idx[3]) {
    char k[80];
    static const char prefix[] = ":@$";
    int n = 0;
    for (int i = 0; i < 3; i++) {
        snprintf(k, sizeof k, "%c%s", prefix[i], name);
        int x = sqlite3_bind_parameter_index(st, k);
        if (x) idx[n++] = x;
    }
    return n;
}

/* Binds ps into st (values only ever reach SQLite as bound values, never as
 * SQL text). The params= JSON object is taken apart by SQLite's own JSON
 * functions on this connection, outside the user-SQL authorizer. Returns 0,
 * or the HTTP status with msg filled. */
static int bind_params(srv_conn *c, sqlite3_stmt *st, const srv_params *ps, char *msg, size_t cap) {
    if (!ps) return 0;
    for (int i = 0; i < ps->n; i++) {
        if (!srv_param_name_ok(ps->name[i])) {
            snprintf(msg, cap, "bad parameter name p_%.64s: letters, digits and _", ps->name[i]);
            return 400;
        }
        int idx[3], n = param_indexes(st, ps->name[i], idx);
        for (int k = 0; k < n; k++)
            if (sqlite3_bind_text(st, idx[k], ps->value[i], -1, SQLITE_TRANSIENT) != SQLITE_OK) {
                snprintf(msg, cap, "binding p_%s: %s", ps->name[i], sqlite3_errmsg(c->db));
                return 500;
            }
    }
    if (!ps->json || !*ps->json) return 0;
    bool was = c->restricted;
    c->restricted = false;
    sqlite3_stmt *j = NULL;
    int status = 0;
    if (sqlite3_prepare_v2(c->db, "SELECT json_type(?1)", -1, &j, NULL) != SQLITE_OK) {
        snprintf(msg, cap, "params: %s", sqlite3_errmsg(c->db));
        status = 500;
        goto out;
    }
    sqlite3_bind_text(j, 1, ps->json, -1, SQLITE_STATIC);
    if (sqlite3_step(j) != SQLITE_ROW || sqlite3_column_type(j, 0) != SQLITE_TEXT ||
        strcmp((const char *)sqlite3_column_text(j, 0), "object")) {
        snprintf(msg, cap, "params: expected a JSON object like {\"from\": \"...\"}");
        status = 400;
        goto out;
    }
    sqlite3_finalize(j);
    j = NULL;
    if (sqlite3_prepare_v2(c->db, "SELECT key, type, value FROM json_each(?1)", -1, &j, NULL) !=
        SQLITE_OK) {
        snprintf(msg, cap, "params: %s", sqlite3_errmsg(c->db));
        status = 500;
        goto out;
    }
    sqlite3_bind_text(j, 1, ps->json, -1, SQLITE_STATIC);
    int rc;
    while ((rc = sqlite3_step(j)) == SQLITE_ROW) {
        const char *name = (const char *)sqlite3_column_text(j, 0);
        const char *type = (const char *)sqlite3_column_text(j, 1);
        if (!srv_param_name_ok(name)) {
            snprintf(msg, cap, "params: bad name \"%.64s\": letters, digits and _",
                     name ? name : "");
            status = 400;
            goto out;
        }
        int idx[3], n = param_indexes(st, name, idx);
        rc = SQLITE_OK;
        for (int k = 0; k < n && rc == SQLITE_OK; k++) {
            if (!strcmp(type, "integer"))
                rc = sqlite3_bind_int64(st, idx[k], sqlite3_column_int64(j, 2));
            else if (!strcmp(type, "real"))
                rc = sqlite3_bind_double(st, idx[k], sqlite3_column_double(j, 2));
            else if (!strcmp(type, "true") || !strcmp(type, "false"))
                rc = sqlite3_bind_int(st, idx[k], type[0] == 't');
            else if (!strcmp(type, "null"))
                rc = sqlite3_bind_null(st, idx[k]);
            else /* text; an array or object is bound as its JSON text */
                rc = sqlite3_bind_text(st, idx[k], (const char *)sqlite3_column_text(j, 2),
                                       sqlite3_column_bytes(j, 2), SQLITE_TRANSIENT);
        }
        if (rc != SQLITE_OK) {
            snprintf(msg, cap, "binding %s: %s", name, sqlite3_errmsg(c->db));
            status = 500;
            goto out;
        }
    }
    if (rc != SQLITE_DONE) {
        snprintf(msg, cap, "params: %s", sqlite3_errmsg(c->db));
        status = 400;
    }
out:
    sqlite3_finalize(j);
    c->restricted = was;
    return status;
}

/* The table whose b-tree is root page `root` of schema `db` (0 main, 1 temp). */
static bool root_table(sqlite3 *h, int db, int root, char *name, size_t cap) {
    sqlite3_stmt *st = NULL;
    bool ok = false;
    if (sqlite3_prepare_v2(h,
                           db == 1 ? "SELECT tbl_name FROM temp.sqlite_schema WHERE rootpage = ?"
                                   : "SELECT tbl_name FROM main.sqlite_schema WHERE rootpage = ?",
                           -1, &st, NULL) == SQLITE_OK) {
        sqlite3_bind_int(st, 1, root);
        if (sqlite3_step(st) == SQLITE_ROW) {
            snprintf(name, cap, "%s", (const char *)sqlite3_column_text(st, 0));
            ok = true;
        }
    }
    sqlite3_finalize(st);
    return ok;
}

int srv_check_reads(srv_conn *c, const char *sql, char *msg, size_t cap) {
    const srv_token *t = srv_request_token();
    if (!t || (t->scopes & SL_SCOPE_ADMIN)) return 0;
    char *q = sqlite3_mprintf("EXPLAIN %s", sql);
    sqlite3_stmt *st = NULL;
    bool was = c->restricted;
    c->restricted = false; /* the statement itself has passed the authorizer */
    int rc = q ? sqlite3_prepare_v2(c->db, q, -1, &st, NULL) : SQLITE_NOMEM;
    sqlite3_free(q);
    int status = 0;
    if (rc != SQLITE_OK) {
        snprintf(msg, cap, "not allowed: cannot check the tables read");
        status = 403;
    }
    /* EXPLAIN's columns: addr, opcode, p1, p2, p3, p4, p5, comment */
    while (!status && sqlite3_step(st) == SQLITE_ROW) {
        const char *op = (const char *)sqlite3_column_text(st, 1);
        if (!op || (strcmp(op, "OpenRead") && strcmp(op, "ReopenIdx"))) continue;
        int root = sqlite3_column_int(st, 3), db = sqlite3_column_int(st, 4);
        char name[128];
        if (!root_table(c->db, db, root, name, sizeof name)) continue; /* sqlite_schema itself */
        bool ok = srv_table_allowed(t, name, NULL);
        for (int i = 0; !ok && i < c->nvia; i++)
            ok = !strcmp(c->via_view[i], name);
        if (!ok) {
            snprintf(msg, cap, "not allowed: reading table %.60s", name);
            status = 403;
        }
    }
    sqlite3_finalize(st);
    c->restricted = was;
    return status;
}

int srv_query(sl_server *s, const char *sql, long limit, const srv_params *params, srv_buf *out) {
    const srv_token *t = srv_request_token();
    /* PostgreSQL has no statement authorizer to hook: a token limited to
     * some tables is refused there rather than trusted */
    if (s->pg_url && t && !(t->scopes & SL_SCOPE_ADMIN) && t->ntables)
        return json_error(out, 403,
                          "not allowed: a token limited to some tables cannot query a PostgreSQL "
                          "store");
    if (s->pg_url) return srv_pg_query(s, sql, limit, params, out);
    if (!sql || !*sql) return json_error(out, 400, "missing parameter: sql");
    if (limit <= 0 || limit > s->row_limit) limit = s->row_limit;
    char msg[256];
    srv_conn *c = srv_conn_get(s, msg, sizeof msg);
    if (!c) return json_error(out, 503, msg);
    int64_t t0 = sl_monotonic_us();
    srv_conn_deadline(c, s->timeout_ms);
    c->restricted = true;
    c->nvia = 0;
    sqlite3_stmt *st = NULL;
    const char *tail = NULL;
    int rc = sqlite3_prepare_v2(c->db, sql, -1, &st, &tail);
    int status = 200;
    if (rc != SQLITE_OK || !st) {
        if (c->denied[0]) {
            atomic_fetch_add(&s->query_denied, 1);
            snprintf(msg, sizeof msg, "not allowed: %s", c->denied);
            status = json_error(out, 403, msg);
        } else if (c->timed_out) {
            atomic_fetch_add(&s->query_timeouts, 1);
            snprintf(msg, sizeof msg, "query timed out after %d ms", s->timeout_ms);
            status = json_error(out, 400, msg);
        } else {
            atomic_fetch_add(&s->query_errors, 1);
            status =
                json_error(out, 400, rc == SQLITE_OK ? "empty statement" : sqlite3_errmsg(c->db));
        }
        goto done;
    }
    if (!only_space_or_semicolons(tail)) {
        status = json_error(out, 400, "only one statement is allowed");
        goto done;
    }
    if (!sqlite3_stmt_readonly(st)) { /* belt and braces: the authorizer already refused writes */
        atomic_fetch_add(&s->query_denied, 1);
        status = json_error(out, 403, "not allowed: statement writes");
        goto done;
    }
    if ((status = srv_check_reads(c, sql, msg, sizeof msg))) {
        atomic_fetch_add(&s->query_denied, 1);
        status = json_error(out, status, msg);
        goto done;
    }
    if ((status = bind_params(c, st, params, msg, sizeof msg))) {
        status = json_error(out, status, msg);
        goto done;
    }
    status = 200;
    int ncol = sqlite3_column_count(st);
    srv_buf_puts(out, "{\"columns\":[");
    for (int i = 0; i < ncol; i++) {
        const char *name = sqlite3_column_name(st, i);
        if (i) srv_buf_puts(out, ",");
        srv_buf_json_str(out, name ? name : "", name ? strlen(name) : 0);
    }
    srv_buf_puts(out, "],\"rows\":[");
    long nrows = 0;
    bool truncated = false, too_big = false;
    /* the deadline and the byte budget cover turning rows into JSON too: a
     * few large values can take longer and more memory than the query */
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (nrows == limit) {
            truncated = true;
            break;
        }
        srv_buf_puts(out, nrows ? ",[" : "[");
        for (int i = 0; i < ncol && !too_big; i++) {
            if (i) srv_buf_puts(out, ",");
            /* a value's JSON is at most 6x its bytes (\u00XX), blobs 2x */
            size_t need = (size_t)sqlite3_column_bytes(st, i);
            need *= sqlite3_column_type(st, i) == SQLITE_BLOB ? 2 : 1;
            if (out->n + need + 32 > s->max_bytes)
                too_big = true;
            else
                srv_json_value(out, st, i);
            if (out->n > s->max_bytes) too_big = true;
        }
        if (too_big || out->oom) break;
        if (c->deadline_us && sl_monotonic_us() > c->deadline_us) {
            c->timed_out = true;
            break;
        }
        srv_buf_puts(out, "]");
        nrows++;
    }
    if (too_big || (rc == SQLITE_ROW && c->timed_out)) {
        out->n = 0;
        out->oom = false;
        if (too_big) {
            atomic_fetch_add(&s->query_too_big, 1);
            snprintf(msg, sizeof msg,
                     "query result larger than %zu bytes: select fewer rows or columns",
                     s->max_bytes);
        } else {
            atomic_fetch_add(&s->query_timeouts, 1);
            snprintf(msg, sizeof msg, "query timed out after %d ms", s->timeout_ms);
        }
        status = json_error(out, 400, msg);
        goto done;
    }
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        out->n = 0;
        if (c->timed_out) {
            atomic_fetch_add(&s->query_timeouts, 1);
            snprintf(msg, sizeof msg, "query timed out after %d ms", s->timeout_ms);
            status = json_error(out, 400, msg);
        } else {
            atomic_fetch_add(&s->query_errors, 1);
            status = json_error(out, 400, sqlite3_errmsg(c->db));
        }
        goto done;
    }
    srv_buf_printf(out, "],\"truncated\":%s,\"ms\":%.3f}", truncated ? "true" : "false",
                   (double)(sl_monotonic_us() - t0) / 1000.0);
done:
    sqlite3_finalize(st);
    srv_conn_put(s, c);
    if (out->oom) status = 500;
    return status;
}

/* ---- /api/tables ---- */

bool srv_table_exists(srv_conn *c, const char *name) {
    sqlite3_stmt *st;
    bool found = false;
    if (sqlite3_prepare_v2(
            c->db,
            "SELECT 1 FROM sqlite_schema WHERE type='table' AND name=?1"
            " UNION ALL SELECT 1 FROM sqlite_temp_schema WHERE type='table' AND name=?1",
            -1, &st, NULL) != SQLITE_OK)
        return false;
    sqlite3_bind_text(st, 1, name, -1, SQLITE_TRANSIENT);
    found = sqlite3_step(st) == SQLITE_ROW;
    sqlite3_finalize(st);
    return found;
}

/* "name" with embedded quotes doubled: a safe SQL identifier for any name. */
static void quote_ident(srv_buf *b, const char *name) {
    srv_buf_put(b, "\"", 1);
    for (const char *p = name; *p; p++) {
        if (*p == '"')
            srv_buf_put(b, "\"\"", 2);
        else
            srv_buf_put(b, p, 1);
    }
    srv_buf_put(b, "\"", 1);
}

int srv_tables(sl_server *s, srv_buf *out) {
    char msg[256];
    srv_conn *c = srv_conn_get(s, msg, sizeof msg);
    if (!c) return json_error(out, 503, msg);
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(
        c->db,
        "SELECT name, type, 0 AS tmp FROM sqlite_schema WHERE type IN ('table','view')"
        " AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' AND (name NOT LIKE '\\_sluice\\_%' ESCAPE "
        "'\\' OR name = '_sluice_events')"
        " AND name NOT IN (SELECT name FROM sqlite_temp_schema)" /* shadowed by a temp view */
        /* temp objects: lake tables (a Parquet virtual table, or an NDJSON view over
         * its _lake_ virtual table; scaled out, a view over _lake_iK_ ones: tmp 1)
         * and the pipeline's views re-made as temp views to see them (tmp 2) */
        " UNION ALL SELECT name, type, CASE WHEN type = 'table' OR '_lake_' || name IN"
        " (SELECT name FROM sqlite_temp_schema) OR '_lake_i0_' || name IN"
        " (SELECT name FROM sqlite_temp_schema) THEN 1 ELSE 2 END FROM sqlite_temp_schema"
        " WHERE type IN ('table','view') AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\'"
        " AND name NOT LIKE '\\_sluice\\_%' ESCAPE '\\' AND name NOT LIKE '\\_lake\\_%' ESCAPE '\\'"
        " ORDER BY 1",
        -1, &st, NULL);
    if (rc != SQLITE_OK) {
        int status = json_error(out, 500, sqlite3_errmsg(c->db));
        srv_conn_put(s, c);
        return status;
    }
    srv_buf_puts(out, "{\"tables\":[");
    int n = 0;
    srv_buf q = {0};
    while (sqlite3_step(st) == SQLITE_ROW) {
        const char *name = (const char *)sqlite3_column_text(st, 0);
        const char *type = (const char *)sqlite3_column_text(st, 1);
        int where = sqlite3_column_int(st, 2);
        bool tmp = where != 0;
        const char *kind = !strcmp(name, "_sluice_events") ? "event_log"
                           : !strcmp(name, "quarantine")   ? "quarantine"
                           : where == 1                    ? "lake"
                           : !strcmp(type, "view")         ? "view"
                                                           : "table";
        /* a token limited to some tables sees only those in the catalog */
        if (!srv_table_allowed(srv_request_token(), name, NULL)) continue;
        if (n++) srv_buf_puts(out, ",");
        srv_buf_puts(out, "{\"name\":");
        srv_buf_json_str(out, name, strlen(name));
        srv_buf_printf(out, ",\"type\":\"%s\",\"kind\":\"%s\",\"columns\":[", type, kind);
        q.n = 0;
        srv_buf_puts(&q, "SELECT name, type FROM pragma_table_info(?1, ?2)");
        sqlite3_stmt *ci;
        if (!q.oom && sqlite3_prepare_v2(c->db, q.p, -1, &ci, NULL) == SQLITE_OK) {
            sqlite3_bind_text(ci, 1, name, -1, SQLITE_TRANSIENT);
            sqlite3_bind_text(ci, 2, tmp ? "temp" : "main", -1, SQLITE_STATIC);
            int k = 0;
            while (sqlite3_step(ci) == SQLITE_ROW) {
                const char *cn = (const char *)sqlite3_column_text(ci, 0);
                const char *ct = (const char *)sqlite3_column_text(ci, 1);
                srv_buf_puts(out, k++ ? ",{\"name\":" : "{\"name\":");
                srv_buf_json_str(out, cn ? cn : "", cn ? strlen(cn) : 0);
                srv_buf_puts(out, ",\"type\":");
                srv_buf_json_str(out, ct ? ct : "", ct ? strlen(ct) : 0);
                srv_buf_puts(out, "}");
            }
            sqlite3_finalize(ci);
        }
        srv_buf_puts(out, "],\"rows\":");
        /* count(*) can scan a large view (lake segments): bounded by the query deadline */
        q.n = 0;
        srv_buf_puts(&q, "SELECT count(*) FROM ");
        srv_buf_puts(&q, tmp ? "temp." : "main.");
        quote_ident(&q, name);
        sqlite3_stmt *cnt;
        bool counted = false;
        srv_conn_deadline(c, s->timeout_ms);
        if (!q.oom && sqlite3_prepare_v2(c->db, q.p, -1, &cnt, NULL) == SQLITE_OK) {
            if (sqlite3_step(cnt) == SQLITE_ROW) {
                srv_buf_printf(out, "%lld", (long long)sqlite3_column_int64(cnt, 0));
                counted = true;
            }
            sqlite3_finalize(cnt);
        }
        srv_conn_deadline(c, 0);
        if (!counted) srv_buf_puts(out, "null");
        srv_buf_puts(out, "}");
    }
    srv_buf_free(&q);
    sqlite3_finalize(st);
    srv_conn_put(s, c);
    srv_buf_puts(out, "]}");
    return out->oom ? 500 : 200;
}
