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
 */
#include <libpq-fe.h>
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

int srv_pg_query(sl_server *s, const char *sql, long limit, srv_buf *out) {
    if (!sql || !*sql) return pg_error(out, 400, "missing parameter: sql");
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
        return pg_error(out, 503, m);
    }
    PQsetNoticeProcessor(c, quiet, NULL);
    size_t len = strlen(sql);
    while (len && (sql[len - 1] == ';' || sql[len - 1] == ' ' || sql[len - 1] == '\n' ||
                   sql[len - 1] == '\t' || sql[len - 1] == '\r'))
        len--;
    srv_buf q = {0};
    srv_buf_printf(&q, "DECLARE _sluice_q NO SCROLL CURSOR FOR %.*s", (int)len, sql);
    char fetch[64];
    snprintf(fetch, sizeof fetch, "FETCH %ld FROM _sluice_q", limit + 1);
    PGresult *r = PQexec(c, "BEGIN READ ONLY");
    PQclear(r);
    int status = 200;
    r = q.oom ? NULL : PQexecParams(c, q.p, 0, NULL, NULL, NULL, NULL, 0);
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
    if (out->oom) status = 500;
    return status;
}
