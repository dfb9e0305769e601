/*
 * pg.c - /api/query against a PostgreSQL store (the pipeline's store: URL).
 *
 * The dashboard reads the tables where the pipeline writes them. Each query
 * opens its own connection (dashboard queries are seconds apart; a pool is
 * not worth its failure modes here) with default_transaction_read_only and
 * a statement timeout of the server's query timeout, and runs inside a
 * cursor: DECLARE accepts exactly one query (a write, a second statement or
 * a utility command is refused by PostgreSQL itself), and FETCH reads at
 * most the row limit + 1, so a huge result never comes to this process. The
 * answer has the SQLite path's shape: {"columns", "rows", "truncated", "ms"};
 * 403 for what the read-only transaction forbids, 400 for the rest.
 *
 * Named parameters: PostgreSQL numbers its parameters ($1), so each given
 * :NAME outside strings, quoted identifiers, comments and dollar quotes
 * becomes $k and its value goes with PQexecParams, as text that PostgreSQL
 * types from the context (never pasted into the SQL). `::` casts are left
 * alone, and so is a :NAME that was not given (an array slice a[1:n]).
 */
#include <libpq-fe.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

#include "core/timeutil.h"
#include "server/internal.h"

enum { OID_BOOL = 16, OID_INT8 = 20, OID_INT2 = 21, OID_INT4 = 23 };
enum { OID_FLOAT4 = 700, OID_FLOAT8 = 701, OID_NUMERIC = 1700 };

static int pg_error(srv_buf *out, int status, const char *msg) {
    out->n = 0;
    srv_buf_puts(out, "{\"error\":");
    srv_buf_json_str(out, msg, strlen(msg));
    srv_buf_puts(out, "}");
    return status;
}

static void quiet(void *ud, const char *msg) { (void)ud, (void)msg; }

/* One line of the server's message, no "ERROR:  " prefix. */
static void result_message(PGresult *r, PGconn *c, char *m, size_t cap) {
    const char *p = r ? PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY) : NULL;
    snprintf(m, cap, "%s", p ? p : PQerrorMessage(c));
    m[strcspn(m, "\n")] = 0;
}

#define PG_ARGS_MAX (2 * SRV_PARAMS_MAX)

/* The given parameters: name, value as text (NULL: SQL NULL), and the $k
 * each was given in the rewritten SQL (0: not used). */
typedef struct pg_args {
    int n, used;
    char *name[PG_ARGS_MAX], *val[PG_ARGS_MAX];
    int num[PG_ARGS_MAX];
    const char *ordered[PG_ARGS_MAX]; /* values by $k - 1 */
} pg_args;

static void args_free(pg_args *a) {
    for (int i = 0; i < a->n; i++)
        free(a->name[i]), free(a->val[i]);
}

static int args_add(pg_args *a, const char *name, const char *val, size_t vlen, char *m,
                    size_t cap) {
    if (!srv_param_name_ok(name)) {
        snprintf(m, cap, "bad parameter name \"%.64s\": letters, digits and _", name);
        return 400;
    }
    for (int i = 0; i < a->n; i++) /* params= overrides p_NAME= of the same name */
        if (!strcmp(a->name[i], name)) {
            free(a->val[i]);
            a->val[i] = val ? strndup(val, vlen) : NULL;
            return 0;
        }
    if (a->n == PG_ARGS_MAX) {
        snprintf(m, cap, "too many parameters (at most %d)", PG_ARGS_MAX);
        return 400;
    }
    a->name[a->n] = strdup(name);
    a->val[a->n] = val ? strndup(val, vlen) : NULL;
    a->num[a->n] = 0;
    a->n++;
    return 0;
}

/* p_NAME= as text, then params= taken apart by SQLite's JSON functions on a
 * memory database: numbers as their text, true/false, null as NULL, text as
 * is, arrays and objects as JSON text. Returns 0 or the HTTP status. */
static int args_collect(pg_args *a, const srv_params *ps, char *m, size_t cap) {
    if (!ps) return 0;
    int st = 0;
    for (int i = 0; i < ps->n && !st; i++)
        st = args_add(a, ps->name[i], ps->value[i], strlen(ps->value[i]), m, cap);
    if (st || !ps->json || !*ps->json) return st;
    sqlite3 *db = NULL;
    sqlite3_stmt *j = NULL;
    if (sqlite3_open_v2(":memory:", &db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db,
                           "SELECT key, type, value FROM json_each(?1) "
                           "WHERE (SELECT json_type(?1)) = 'object'",
                           -1, &j, NULL) != SQLITE_OK) {
        snprintf(m, cap, "params: %s", db ? sqlite3_errmsg(db) : "out of memory");
        st = 500;
        goto out;
    }
    sqlite3_bind_text(j, 1, ps->json, -1, SQLITE_STATIC);
    int rc, rows = 0;
    while (!st && (rc = sqlite3_step(j)) == SQLITE_ROW) {
        rows++;
        const char *name = (const char *)sqlite3_column_text(j, 0);
        const char *type = (const char *)sqlite3_column_text(j, 1);
        const char *v = (const char *)sqlite3_column_text(j, 2);
        if (!strcmp(type, "null")) v = NULL;
        st = args_add(a, name ? name : "", v, v ? strlen(v) : 0, m, cap);
    }
    if (!st && rc != SQLITE_DONE) {
        snprintf(m, cap, "params: %s", sqlite3_errmsg(db));
        st = 400;
    } else if (!st && !rows) { /* an empty object, or not an object at all */
        sqlite3_finalize(j);
        j = NULL;
        if (sqlite3_prepare_v2(db, "SELECT json_type(?1)", -1, &j, NULL) == SQLITE_OK) {
            sqlite3_bind_text(j, 1, ps->json, -1, SQLITE_STATIC);
            if (sqlite3_step(j) != SQLITE_ROW || sqlite3_column_type(j, 0) != SQLITE_TEXT ||
                strcmp((const char *)sqlite3_column_text(j, 0), "object")) {
                snprintf(m, cap, "params: expected a JSON object like {\"from\": \"...\"}");
                st = 400;
            }
        }
    }
out:
    sqlite3_finalize(j);
    sqlite3_close(db);
    return st;
}

static bool ident_char(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           (unsigned char)c >= 0x80;
}

/* Copies sql[0..len) to q with each given :NAME replaced by $k (see the top). */
static void rewrite(const char *sql, size_t len, pg_args *a, srv_buf *q) {
    size_t i = 0;
    while (i < len) {
        char c = sql[i];
        size_t start = i;
        if (c == '\'' || c == '"') { /* string or quoted identifier; E'' strings escape with \ */
            bool esc = c == '\'' && i > 0 && (sql[i - 1] == 'E' || sql[i - 1] == 'e') &&
                       (i < 2 || !ident_char(sql[i - 2]));
            for (i++; i < len; i++) {
                if (esc && sql[i] == '\\') {
                    i++;
                    continue;
                }
                if (sql[i] == c) {
                    if (i + 1 < len && sql[i + 1] == c) {
                        i++;
                        continue;
                    }
                    i++;
                    break;
                }
            }
        } else if (c == '-' && i + 1 < len && sql[i + 1] == '-') {
            while (i < len && sql[i] != '\n')
                i++;
        } else if (c == '/' && i + 1 < len && sql[i + 1] == '*') { /* comments nest */
            int depth = 0;
            do {
                if (sql[i] == '/' && i + 1 < len && sql[i + 1] == '*') {
                    depth++;
                    i += 2;
                } else if (sql[i] == '*' && i + 1 < len && sql[i + 1] == '/') {
                    depth--;
                    i += 2;
                } else {
                    i++;
                }
            } while (i < len && depth > 0);
        } else if (c == '$' && (i == 0 || !ident_char(sql[i - 1])) && i + 1 < len &&
                   !(sql[i + 1] >= '0' && sql[i + 1] <= '9')) { /* $tag$ ... $tag$ */
            size_t t = i + 1;
            while (t < len && ident_char(sql[t]) && sql[t] != '$')
                t++;
            if (t < len && sql[t] == '$') {
                size_t tl = t + 1 - i; /* the tag with both $ */
                const char *end = NULL;
                for (size_t k = t + 1; k + tl <= len; k++)
                    if (!memcmp(sql + k, sql + i, tl)) {
                        end = sql + k;
                        break;
                    }
                i = end ? (size_t)(end - sql) + tl : len;
            } else {
                i++;
            }
        } else if (c == ':' && i + 1 < len && sql[i + 1] == ':') {
            i += 2;
        } else if (c == ':' && i + 1 < len && !(sql[i + 1] >= '0' && sql[i + 1] <= '9') &&
                   ident_char(sql[i + 1])) {
            size_t e = i + 1;
            while (e < len && ident_char(sql[e]))
                e++;
            int hit = -1;
            for (int k = 0; k < a->n; k++)
                if (strlen(a->name[k]) == e - i - 1 && !memcmp(a->name[k], sql + i + 1, e - i - 1))
                    hit = k;
            if (hit >= 0) {
                if (!a->num[hit]) {
                    a->num[hit] = ++a->used;
                    a->ordered[a->used - 1] = a->val[hit];
                }
                srv_buf_printf(q, "$%d", a->num[hit]);
                i = e;
                continue;
            }
            i = e;
        } else {
            i++;
        }
        srv_buf_put(q, sql + start, i - start);
    }
}

int srv_pg_query(sl_server *s, const char *sql, long limit, const srv_params *params,
                 srv_buf *out) {
    if (!sql || !*sql) return pg_error(out, 400, "missing parameter: sql");
    pg_args args = {0};
    char am[300];
    int ast = args_collect(&args, params, am, sizeof am);
    if (ast) {
        args_free(&args);
        return pg_error(out, ast, am);
    }
    if (limit <= 0 || limit > s->row_limit) limit = s->row_limit;
    int64_t t0 = sl_monotonic_us();
    char opts[1200], m[400];
    const char *uopts = "";
    PQconninfoOption *ci = PQconninfoParse(s->pg_url, NULL);
    for (PQconninfoOption *o = ci; o && o->keyword; o++)
        if (!strcmp(o->keyword, "options") && o->val) uopts = o->val;
    snprintf(opts, sizeof opts, "%s%s-c statement_timeout=%d -c default_transaction_read_only=on",
             uopts, *uopts ? " " : "", s->timeout_ms);
    PQconninfoFree(ci);
    const char *keys[] = {"dbname", "connect_timeout", "options", "application_name", NULL};
    const char *vals[] = {s->pg_url, "5", opts, "sluice dashboard", NULL};
    PGconn *c = PQconnectdbParams(keys, vals, 1);
    if (PQstatus(c) != CONNECTION_OK) {
        snprintf(m, sizeof m, "the PostgreSQL store is unreachable");
        PQfinish(c);
        args_free(&args);
        return pg_error(out, 503, m);
    }
    PQsetNoticeProcessor(c, quiet, NULL);
    size_t len = strlen(sql);
    while (len && (sql[len - 1] == ';' || sql[len - 1] == ' ' || sql[len - 1] == '\n' ||
                   sql[len - 1] == '\t' || sql[len - 1] == '\r'))
        len--;
    srv_buf q = {0};
    srv_buf_puts(&q, "DECLARE _sluice_q NO SCROLL CURSOR FOR ");
    size_t body = q.n;
    rewrite(sql, len, &args, &q);
    char fetch[64];
    snprintf(fetch, sizeof fetch, "FETCH %ld FROM _sluice_q", limit + 1);
    PGresult *r = NULL;
    int status = 200;
    /* A parameter's type is inferred from its uses, but `$1 IS NULL OR
     * col = $1` (the "all" of a variable) leaves $1 undetermined, and DECLARE
     * would analyze it twice with different outcomes. So the query alone is
     * prepared first (parsed, never run): a parameter PostgreSQL cannot type
     * (42P18, 42P08) becomes text and it is prepared again; the cursor is then
     * declared with the types inferred there. */
    Oid types[PG_ARGS_MAX] = {0};
    r = NULL;
    for (int tries = 0; args.used && !q.oom && tries <= args.used; tries++) {
        r = PQprepare(c, "", q.p + body, args.used, types);
        const char *st = PQresultErrorField(r, PG_DIAG_SQLSTATE);
        const char *msg = PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY);
        const char *d = msg ? strstr(msg, "parameter $") : NULL;
        int k = d ? atoi(d + 11) : 0;
        if (!st || (strcmp(st, "42P18") && strcmp(st, "42P08")) || k < 1 || k > args.used ||
            types[k - 1])
            break;
        types[k - 1] = 25; /* text */
        PQclear(r);
        r = NULL;
    }
    if (r) {
        if (PQresultStatus(r) == PGRES_COMMAND_OK) {
            PQclear(r);
            r = PQdescribePrepared(c, "");
            for (int i = 0; PQresultStatus(r) == PGRES_COMMAND_OK && i < args.used; i++)
                types[i] = PQparamtype(r, i);
            PQclear(r);
            r = NULL;
        }
    }
    /* the prepares ran outside the transaction: a failed one must not abort it */
    if (!r) {
        PQclear(PQexec(c, "BEGIN READ ONLY"));
        r = q.oom ? NULL : PQexecParams(c, q.p, args.used, types, args.ordered, NULL, NULL, 0);
    }
    srv_buf_free(&q);
    if (r && PQresultStatus(r) == PGRES_COMMAND_OK) {
        PQclear(r);
        r = PQexecParams(c, fetch, 0, NULL, NULL, NULL, NULL, 0);
    }
    if (!r || PQresultStatus(r) != PGRES_TUPLES_OK) {
        const char *st = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
        result_message(r, c, m, sizeof m);
        if (st && (!strcmp(st, "25006") || !strcmp(st, "42501"))) {
            atomic_fetch_add(&s->query_denied, 1);
            char d[480];
            snprintf(d, sizeof d, "not allowed: %s", m);
            status = pg_error(out, 403, d);
        } else if (st && !strcmp(st, "57014")) {
            atomic_fetch_add(&s->query_timeouts, 1);
            snprintf(m, sizeof m, "query timed out after %d ms", s->timeout_ms);
            status = pg_error(out, 400, m);
        } else {
            atomic_fetch_add(&s->query_errors, 1);
            status = pg_error(out, 400, m);
        }
        goto done;
    }
    int nc = PQnfields(r), nr = PQntuples(r);
    srv_buf_puts(out, "{\"columns\":[");
    for (int i = 0; i < nc; i++) {
        if (i) srv_buf_puts(out, ",");
        srv_buf_json_str(out, PQfname(r, i), strlen(PQfname(r, i)));
    }
    srv_buf_puts(out, "],\"rows\":[");
    int shown = nr > limit ? (int)limit : nr;
    for (int j = 0; j < shown; j++) {
        srv_buf_puts(out, j ? ",[" : "[");
        for (int i = 0; i < nc; i++) {
            if (i) srv_buf_puts(out, ",");
            const char *v = PQgetvalue(r, j, i);
            Oid t = PQftype(r, i);
            if (PQgetisnull(r, j, i))
                srv_buf_puts(out, "null");
            else if (t == OID_BOOL)
                srv_buf_puts(out, *v == 't' ? "1" : "0"); /* as SQLite answers */
            else if ((t == OID_INT8 || t == OID_INT2 || t == OID_INT4 || t == OID_FLOAT4 ||
                      t == OID_FLOAT8 || t == OID_NUMERIC) &&
                     strspn(v, "0123456789.-+eE") == strlen(v))
                srv_buf_puts(out, v);
            else
                srv_buf_json_str(out, v, (size_t)PQgetlength(r, j, i));
        }
        srv_buf_puts(out, "]");
        if (out->n > s->max_bytes) {
            atomic_fetch_add(&s->query_too_big, 1);
            snprintf(m, sizeof m,
                     "query result larger than %zu bytes: select fewer rows or columns",
                     s->max_bytes);
            status = pg_error(out, 400, m);
            goto done;
        }
    }
    srv_buf_printf(out, "],\"truncated\":%s,\"ms\":%.3f}", nr > limit ? "true" : "false",
                   (double)(sl_monotonic_us() - t0) / 1000.0);
done:
    PQclear(r);
    PQclear(PQexec(c, "ROLLBACK"));
    PQfinish(c);
    args_free(&args);
    if (out->oom) status = 500;
    return status;
}
