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
#include <strings.h>

#include "core/mem.h"
#include "core/tabfmt.h"
#include "engine/pipeline.h"
#include "sinks/pg_sink.h"

/* type OIDs (pg_type.h is server-side): bool, int8, int2, int4, oid, float4, float8, numeric */
enum { OID_BOOL = 16, OID_INT8 = 20, OID_INT2 = 21, OID_INT4 = 23, OID_OID = 26 };
enum { OID_FLOAT4 = 700, OID_FLOAT8 = 701, OID_NUMERIC = 1700 };

static void print_result(PGresult *r, int format, FILE *out) {
    int nc = PQnfields(r), nr = PQntuples(r);
    if (format == SL_FMT_CSV) {
        for (int c = 0; c < nc; c++) {
            if (c) fputc(',', out);
            sl_fput_csv_field(out, PQfname(r, c));
        }
        fputc('\n', out);
        for (int i = 0; i < nr; i++) {
            for (int c = 0; c < nc; c++) {
                if (c) fputc(',', out);
                if (!PQgetisnull(r, i, c)) sl_fput_csv_field(out, PQgetvalue(r, i, c));
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
                sl_fput_json_string(out, PQfname(r, c));
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
                    sl_fput_json_string(out, v);
            }
            fputs("}\n", out);
        }
        return;
    }
    const char **row = sl_xcalloc((size_t)nc + 1, sizeof *row);
    for (int c = 0; c < nc; c++)
        row[c] = PQfname(r, c);
    sl_tab *tab = sl_tab_new(nc, row);
    for (int i = 0; i < nr; i++) {
        for (int c = 0; c < nc; c++)
            row[c] = PQgetisnull(r, i, c) ? NULL : PQgetvalue(r, i, c);
        sl_tab_add(tab, row);
    }
    sl_tab_print(tab, out);
    sl_tab_free(tab);
    free(row);
}

static void quiet(void *ud, const char *msg) { (void)ud, (void)msg; }

/* The URL's own options= (a search_path, say) followed by ours: a keyword
 * given after the URL would replace the URL's. */
static void merged_options(const char *url, const char *ours, char *out, size_t cap) {
    const char *uopts = "";
    PQconninfoOption *ci = PQconninfoParse(url, NULL);
    for (PQconninfoOption *o = ci; o && o->keyword; o++)
        if (!strcmp(o->keyword, "options") && o->val) uopts = o->val;
    snprintf(out, cap, "%s%s%s", uopts, *uopts ? " " : "", ours);
    PQconninfoFree(ci);
}

int sl_pg_query(const char *url, const char *sql, int format, FILE *out, sl_error *err) {
    char masked[2048];
    sl_pg_mask_url(url, masked, sizeof masked);
    const char *keys[] = {"dbname", "connect_timeout", "options", "application_name", NULL};
    char opts[1024];
    merged_options(url, "-c statement_timeout=30000 -c default_transaction_read_only=on", opts,
                   sizeof opts);
    const char *vals[] = {url, "10", opts, "sluice query", NULL};
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

/* ---- views ----------------------------------------------------------------- */

/* SQLite functions PostgreSQL lacks: a view using one is refused by name. */
static const char *const sqlite_only[] = {
    "strftime",     "julianday",  "datetime", "date",     "time",       "unixepoch",
    "group_concat", "printf",     "instr",    "glob",     "typeof",     "iif",
    "total",        "randomblob", "hex",      "zeroblob", "likelihood", NULL};

static bool ident_char(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

/* Top-level arguments of the call whose '(' is at p: 0 for "()". */
static int call_args(const char *p) {
    int depth = 0, args = 1;
    bool empty = true;
    for (; *p; p++) {
        if (*p == '\'') { /* a string literal: skip it */
            for (p++; *p && !(*p == '\'' && p[1] != '\''); p += *p == '\'' ? 2 : 1)
                ;
            if (!*p) break;
            empty = false;
            continue;
        }
        if (*p == '(') {
            depth++;
        } else if (*p == ')') {
            if (--depth == 0) return empty ? 0 : args;
        } else if (*p == ',' && depth == 1) {
            args++;
        } else if (depth == 1 && *p != ' ' && *p != '\n' && *p != '\t') {
            empty = false;
        }
    }
    return args;
}

int sl_pg_translate_view(const char *name, const char *sql, char *out, size_t cap, sl_error *err) {
    size_t o = 0;
    const char *p = sql;
    while (*p) {
        if (o + 16 >= cap) return sl_error_set(err, SL_EINVAL, "view '%s': too long", name);
        if (*p == '\'' || *p == '"') { /* literals and quoted names are copied as they are */
            char q = *p;
            out[o++] = *p++;
            while (*p && o + 2 < cap) {
                if (*p == q && p[1] == q) {
                    out[o++] = *p++;
                    out[o++] = *p++;
                    continue;
                }
                if (*p == q) break;
                out[o++] = *p++;
            }
            if (*p) out[o++] = *p++;
            continue;
        }
        if (!ident_char(*p) || (p > sql && ident_char(p[-1]))) {
            out[o++] = *p++;
            continue;
        }
        const char *e = p;
        while (ident_char(*e))
            e++;
        size_t len = (size_t)(e - p);
        const char *after = e;
        while (*after == ' ' || *after == '\t' || *after == '\n')
            after++;
        const char *repl = NULL;
        if (*after == '(') {
            for (const char *const *f = sqlite_only; *f; f++)
                if (strlen(*f) == len && !strncasecmp(p, *f, len))
                    return sl_error_set(err, SL_EINVAL,
                                        "view '%s' uses SQLite's %s(), which PostgreSQL does not "
                                        "have: write the view in SQL both accept",
                                        name, *f);
            if (len == 6 && !strncasecmp(p, "ifnull", 6)) repl = "coalesce";
            /* max(a, b) and min(a, b) are SQLite's scalar GREATEST and LEAST */
            if (len == 3 && !strncasecmp(p, "max", 3) && call_args(after) >= 2) repl = "greatest";
            if (len == 3 && !strncasecmp(p, "min", 3) && call_args(after) >= 2) repl = "least";
        }
        const char *src = repl ? repl : p;
        size_t n = repl ? strlen(repl) : len;
        if (o + n + 1 >= cap) return sl_error_set(err, SL_EINVAL, "view '%s': too long", name);
        memcpy(out + o, src, n);
        o += n;
        p = e;
    }
    out[o] = 0;
    return 0;
}

int sl_pg_create_views(const char *url, int n, const char *const *names, const char *const *sqls,
                       sl_error *err) {
    char masked[2048];
    sl_pg_mask_url(url, masked, sizeof masked);
    const char *keys[] = {"dbname", "connect_timeout", "options", "application_name", NULL};
    char opts[1024];
    merged_options(url, "-c statement_timeout=30000", opts, sizeof opts);
    const char *vals[] = {url, "10", opts, "sluice views", NULL};
    PGconn *conn = PQconnectdbParams(keys, vals, 1);
    if (PQstatus(conn) != CONNECTION_OK) {
        char m[SL_ERROR_MAX / 2];
        snprintf(m, sizeof m, "%s", PQerrorMessage(conn));
        m[strcspn(m, "\n")] = 0;
        PQfinish(conn);
        return sl_error_set(err, SL_EAGAIN, "postgresql store %s: %s", masked, m);
    }
    PQsetNoticeProcessor(conn, quiet, NULL);
    /* sum(boolean) and round(double, int), which SQLite views use freely (a
     * comparison is an integer there), as SQL functions in the store */
    static const char compat[] =
        "BEGIN;"
        "CREATE OR REPLACE FUNCTION _sluice_bool_add(bigint, boolean) RETURNS bigint LANGUAGE sql "
        "IMMUTABLE AS 'SELECT $1 + coalesce($2::int, 0)';"
        "CREATE OR REPLACE AGGREGATE sum(boolean) (sfunc = _sluice_bool_add, stype = bigint, "
        "initcond = '0');"
        "CREATE OR REPLACE FUNCTION round(double precision, integer) RETURNS numeric LANGUAGE sql "
        "IMMUTABLE AS 'SELECT round($1::numeric, $2)';";
    int rc = 0;
    PGresult *r = PQexec(conn, compat);
    if (PQresultStatus(r) != PGRES_COMMAND_OK) {
        char m[SL_ERROR_MAX / 2];
        snprintf(m, sizeof m, "%s", PQresultErrorMessage(r));
        m[strcspn(m, "\n")] = 0;
        rc = sl_error_set(err, SL_EIO, "postgresql: creating the views' helper functions: %s", m);
    }
    PQclear(r);
    size_t cap = 65536;
    char *sql = sl_xmalloc(cap), *tr = sl_xmalloc(cap);
    for (int i = 0; i < n && !rc; i++) {
        if ((rc = sl_pg_translate_view(names[i], sqls[i], tr, cap - 256, err))) break;
        snprintf(sql, cap, "DROP VIEW IF EXISTS \"%s\" CASCADE; CREATE VIEW \"%s\" AS %s", names[i],
                 names[i], tr);
        r = PQexec(conn, sql);
        if (PQresultStatus(r) != PGRES_COMMAND_OK) {
            char m[SL_ERROR_MAX / 2];
            snprintf(m, sizeof m, "%s", PQresultErrorMessage(r));
            m[strcspn(m, "\n")] = 0;
            rc = sl_error_set(err, SL_EINVAL,
                              "view '%s': PostgreSQL refused it (%s); write the view in SQL "
                              "both SQLite and PostgreSQL accept",
                              names[i], m);
        }
        PQclear(r);
    }
    PQclear(PQexec(conn, rc ? "ROLLBACK" : "COMMIT"));
    free(sql);
    free(tr);
    PQfinish(conn);
    return rc;
}
