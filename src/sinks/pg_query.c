/*
 * pg_query.c - `sluice query` against a PostgreSQL store: the SQL runs in a
 * READ ONLY transaction with a statement timeout (the server refuses writes
 * whatever role the URL names; a reader role is still the better practice,
 * docs/postgresql.md), and results print as the SQLite query prints them:
 * an aligned table, CSV with a header, or one JSON object per row. Numbers
 * (int, float, numeric) are JSON numbers, booleans true/false, NULL null.
 */
#include <libpq-fe.h>
#include <stdlib.h>
#include <string.h>

#include "core/mem.h"
#include "engine/pipeline.h"
#include "sinks/pg_sink.h"

/* type OIDs (pg_type.h is server-side): bool, int8, int2, int4, oid, float4, float8, numeric */
enum { OID_BOOL = 16, OID_INT8 = 20, OID_INT2 = 21, OID_INT4 = 23, OID_OID = 26 };
enum { OID_FLOAT4 = 700, OID_FLOAT8 = 701, OID_NUMERIC = 1700 };

static void csv_field(FILE *out, const char *s) {
    if (!strpbrk(s, ",\"\r\n")) {
        fputs(s, out);
        return;
    }
    fputc('"', out);
    for (; *s; s++) {
        if (*s == '"') fputc('"', out);
        fputc(*s, out);
    }
    fputc('"', out);
}

static void json_string(FILE *out, const char *s) {
    fputc('"', out);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\')
            fprintf(out, "\\%c", *p);
        else if (*p == '\n')
            fputs("\\n", out);
        else if (*p == '\r')
            fputs("\\r", out);
        else if (*p == '\t')
            fputs("\\t", out);
        else if (*p < 0x20)
            fprintf(out, "\\u%04x", *p);
        else
            fputc(*p, out);
    }
    fputc('"', out);
}

static void print_result(PGresult *r, int format, FILE *out) {
    int nc = PQnfields(r), nr = PQntuples(r);
    if (format == SL_FMT_CSV) {
        for (int c = 0; c < nc; c++) {
            if (c) fputc(',', out);
            csv_field(out, PQfname(r, c));
        }
        fputc('\n', out);
        for (int i = 0; i < nr; i++) {
            for (int c = 0; c < nc; c++) {
                if (c) fputc(',', out);
                if (!PQgetisnull(r, i, c)) csv_field(out, PQgetvalue(r, i, c));
            }
            fputc('\n', out);
        }
        return;
    }
    if (format == SL_FMT_JSON) {
        for (int i = 0; i < nr; i++) {
            fputc('{', out);
            for (int c = 0; c < nc; c++) {
                if (c) fputc(',', out);
                json_string(out, PQfname(r, c));
                fputc(':', out);
                Oid t = PQftype(r, c);
                const char *v = PQgetvalue(r, i, c);
                if (PQgetisnull(r, i, c))
                    fputs("null", out);
                else if (t == OID_BOOL)
                    fputs(*v == 't' ? "true" : "false", out);
                else if ((t == OID_INT8 || t == OID_INT2 || t == OID_INT4 || t == OID_OID ||
                          t == OID_FLOAT4 || t == OID_FLOAT8 || t == OID_NUMERIC) &&
                         strspn(v, "0123456789.-+eE") == strlen(v))
                    fputs(v, out); /* NaN and Infinity are not JSON numbers: strings */
                else
                    json_string(out, v);
            }
            fputs("}\n", out);
        }
        return;
    }
    int *w = sl_xcalloc((size_t)nc + 1, sizeof *w);
    for (int c = 0; c < nc; c++) {
        w[c] = (int)strlen(PQfname(r, c));
        for (int i = 0; i < nr; i++) {
            int l = PQgetisnull(r, i, c) ? 4 : PQgetlength(r, i, c);
            if (l > w[c]) w[c] = l > 60 ? 60 : l;
        }
    }
    for (int c = 0; c < nc; c++)
        fprintf(out, "%s%-*s", c ? " | " : "", w[c], PQfname(r, c));
    fputc('\n', out);
    for (int c = 0; c < nc; c++) {
        fprintf(out, "%s", c ? "-+-" : "");
        for (int k = 0; k < w[c]; k++)
            fputc('-', out);
    }
    fputc('\n', out);
    for (int i = 0; i < nr; i++) {
        for (int c = 0; c < nc; c++)
            fprintf(out, "%s%-*.*s", c ? " | " : "", w[c], w[c],
                    PQgetisnull(r, i, c) ? "NULL" : PQgetvalue(r, i, c));
        fputc('\n', out);
    }
    fprintf(out, "(%d row%s)\n", nr, nr == 1 ? "" : "s");
    free(w);
}

static void quiet(void *ud, const char *msg) { (void)ud, (void)msg; }

int sl_pg_query(const char *url, const char *sql, int format, FILE *out, sl_error *err) {
    char masked[2048];
    sl_pg_mask_url(url, masked, sizeof masked);
    const char *keys[] = {"dbname", "connect_timeout", "options", "application_name", NULL};
    const char *vals[] = {url, "10",
                          "-c statement_timeout=30000 -c default_transaction_read_only=on",
                          "sluice query", NULL};
    PGconn *conn = PQconnectdbParams(keys, vals, 1);
    if (PQstatus(conn) != CONNECTION_OK) {
        char m[SL_ERROR_MAX / 2];
        snprintf(m, sizeof m, "%s", PQerrorMessage(conn));
        m[strcspn(m, "\n")] = 0;
        PQfinish(conn);
        return sl_error_set(err, SL_EIO, "postgresql store %s: %s", masked, m);
    }
    PQsetNoticeProcessor(conn, quiet, NULL);
    int rc = 0;
    PGresult *r = PQexec(conn, "BEGIN READ ONLY");
    PQclear(r);
    /* one query string may hold several statements: each result prints */
    if (!PQsendQuery(conn, sql)) {
        rc = sl_error_set(err, SL_EIO, "query: %s", PQerrorMessage(conn));
    } else {
        while ((r = PQgetResult(conn))) {
            ExecStatusType st = PQresultStatus(r);
            if (st == PGRES_TUPLES_OK) {
                print_result(r, format, out);
            } else if (st != PGRES_COMMAND_OK && st != PGRES_EMPTY_QUERY && !rc) {
                char m[SL_ERROR_MAX / 2];
                snprintf(m, sizeof m, "%s", PQresultErrorMessage(r));
                m[strcspn(m, "\n")] = 0;
                const char *state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
                /* 25006: a write in a read-only transaction; 42xxx: the SQL itself */
                rc = sl_error_set(err,
                                  state && (!strcmp(state, "25006") || !strncmp(state, "42", 2))
                                      ? SL_EINVAL
                                      : SL_EIO,
                                  "query: %s", m);
            }
            PQclear(r);
        }
    }
    PQclear(PQexec(conn, "ROLLBACK"));
    PQfinish(conn);
    return rc;
}
