/*
 * pg_sink.c - the `postgresql` sink: a table's rows into PostgreSQL, exactly
 * once, surviving the server's outages.
 *
 * The SQLite checkpoint stays the coordinator; PostgreSQL holds the rows.
 * `write` only appends the rows to a buffer in COPY text format (one growing
 * buffer, no allocation per row), each row carrying `_commit`: this table's
 * commit number. `prepare` (commit phase 1, before the positions) runs one
 * PostgreSQL transaction: COPY into the table (append tables), or COPY into
 * a temporary staging table and INSERT ... ON CONFLICT (_group) DO UPDATE
 * (window tables), then the commit number into _sluice_commits, COMMIT; and
 * records the number in the checkpoint as "pg:<table>", in the SQLite
 * transaction that also holds the positions.
 *
 * A crash between the two commits leaves PostgreSQL one commit ahead of
 * the checkpoint. On (re)connection the sink compares _sluice_commits with
 * the number it knows is committed and deletes rows with a greater _commit:
 * the replay from the checkpoint's positions writes them again, once.
 * Window rows deleted that way had an older version: the replay re-emits
 * the group, because the window state restored from the checkpoint does not
 * count the replayed input yet (docs/postgresql.md has the whole argument).
 *
 * Outages: an unreachable server, a cut connection or a statement timeout
 * make prepare return SL_EAGAIN, keeping the buffered rows; the engine keeps
 * its transaction open, stops reading and calls the commit again with
 * backoff (commit.c). A COMMIT whose answer was lost is resolved on
 * reconnection: _sluice_commits says whether it happened.
 */
#include <libpq-fe.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/mem.h"
#include "core/timeutil.h"
#include "sinks/pg_sink.h"
#include "sinks/sink.h"

typedef struct {
    const char *url;
    int64_t statement_timeout_us;
    int64_t connect_timeout_us;
} pg_conf;

static const sl_opt pg_opts[] = {
    {"url", SL_OPT_STRING, false, NULL, NULL,
     "postgresql://USER[:PASSWORD]@HOST[:PORT]/DB[?sslmode=...&sslrootcert=...] (default: the "
     "pipeline's store:; ${VAR} or ~/.pgpass for the password)",
     SL_OPT_BIND(pg_conf, url)},
    {"statement_timeout", SL_OPT_DURATION, false, NULL, "30s",
     "a statement running longer is cancelled and the commit retried",
     SL_OPT_BIND(pg_conf, statement_timeout_us), SL_OPT_RANGE(1000, 3600e6)},
    {"connect_timeout", SL_OPT_DURATION, false, NULL, "5s",
     "how long a connection attempt may take", SL_OPT_BIND(pg_conf, connect_timeout_us),
     SL_OPT_RANGE(1e6, 600e6)},
    {0},
};

typedef struct {
    pg_conf conf;
    char url[2048];
    char masked[2048];
    char options[1024]; /* the URL's own options= plus the statement timeout */
    char table[SL_NAME_MAX];
    char pipeline[SL_NAME_MAX];
    char qtable[2 * SL_NAME_MAX + 8]; /* the table's name quoted for SQL */
    char *description;
    char keys[512]; /* a window's keys, quoted, comma-separated: indexed with window_start */
    sl_schema schema;
    bool upsert, audit;
    PGconn *conn;
    bool ready; /* the table exists with the right columns on this connection */
    bool down;  /* the last attempt failed: logged once per change */
    char *buf;  /* the interval's rows, COPY text */
    size_t n, cap;
    int64_t nrows;  /* rows in buf */
    int64_t seq;    /* the commit number of the rows in buf */
    bool done;      /* seq is committed in PostgreSQL */
    bool attempted; /* COMMIT was sent for seq: its answer may have been lost */
    int64_t rows;
    /* retention (the table's retention:): in the interval's transaction, at
     * most once every 10 s, up to 10,000 rows older than it by time_col */
    int64_t retention_us, last_expire_us, expired, expiring; /* expiring: not committed yet */
    const char *time_col;
} pg_sink;

bool sl_pg_is_url(const char *s) {
    return s && (!strncmp(s, "postgresql://", 13) || !strncmp(s, "postgres://", 11));
}

void sl_pg_mask_url(const char *url, char *out, size_t cap) {
    snprintf(out, cap, "%s", url);
    char *scheme = strstr(out, "://");
    if (scheme) {
        /* user:password@ ends at the authority's last '@' (a password with
         * an unencoded '@' is masked whole) */
        char *auth = scheme + 3, *end = auth + strcspn(auth, "/?");
        char *at = NULL, *colon = NULL;
        for (char *q = auth; q < end; q++)
            if (*q == '@') at = q;
        for (char *q = auth; at && q < at && !colon; q++)
            if (*q == ':') colon = q;
        size_t grow = at && colon && at - colon < 4 ? (size_t)(4 - (at - colon)) : 0;
        if (at && colon && strlen(out) + grow < cap) {
            memmove(colon + 4, at, strlen(at) + 1);
            memcpy(colon, ":***", 4);
        }
    }
    for (char *pw = strstr(out, "password="); pw; pw = strstr(pw + 1, "password=")) {
        char *v = pw + 9, *end = v + strcspn(v, "& ");
        if (end - v >= 3) {
            memcpy(v, "***", 3);
            memmove(v + 3, end, strlen(end) + 1);
        }
    }
}

/* ---- buffer ---------------------------------------------------------------- */

static inline void reserve(pg_sink *s, size_t more) {
    if (s->n + more <= s->cap) return;
    while (s->cap < s->n + more)
        s->cap = s->cap ? s->cap * 2 : 1 << 20;
    s->buf = sl_xrealloc(s->buf, s->cap);
}

/* COPY text format: backslash, tab, newline and carriage return escaped. */
static void put_text(pg_sink *s, const char *p, size_t len) {
    reserve(s, 2 * len + 2);
    char *o = s->buf + s->n;
    for (size_t i = 0; i < len; i++) {
        char c = p[i];
        if (c == '\\' || c == '\t' || c == '\n' || c == '\r') {
            *o++ = '\\';
            c = c == '\t' ? 't' : c == '\n' ? 'n' : c == '\r' ? 'r' : '\\';
        }
        *o++ = c;
    }
    s->n = (size_t)(o - s->buf);
}

static void put_raw(pg_sink *s, const char *p, size_t len) {
    reserve(s, len + 1);
    memcpy(s->buf + s->n, p, len);
    s->n += len;
}

static void put_i64(pg_sink *s, int64_t v) {
    reserve(s, 24);
    s->n += (size_t)sl_fmt_i64(s->buf + s->n, v);
}

static void put_ts(pg_sink *s, int64_t us) {
    reserve(s, 40);
    s->n += (size_t)sl_store_format_ts(us, s->buf + s->n, 40);
}

static void put_double(pg_sink *s, double d) {
    reserve(s, 32);
    if (isnan(d))
        put_raw(s, "NaN", 3);
    else if (isinf(d))
        d > 0 ? put_raw(s, "Infinity", 8) : put_raw(s, "-Infinity", 9);
    else
        s->n += (size_t)snprintf(s->buf + s->n, 32, "%.17g", d);
}

/* ---- connection ---------------------------------------------------------------- */

/* A failure worth waiting out (the server is down, restarting, unreachable,
 * or a statement ran out of time) rather than a configuration to fix. */
static bool transient_sqlstate(const char *st) {
    return st && (!strncmp(st, "08", 2) || !strncmp(st, "57P0", 4) || !strcmp(st, "57014") ||
                  !strncmp(st, "53", 2) || !strcmp(st, "40001") || !strcmp(st, "40P01"));
}

static bool transient_connect_error(const char *msg) {
    if (strstr(msg, "the database system is")) return true; /* starting up, shutting down */
    if (strstr(msg, "FATAL") || strstr(msg, "could not translate host name") ||
        strstr(msg, "no password supplied") || strstr(msg, "invalid") || strstr(msg, "SSL") ||
        strstr(msg, "certificate"))
        return false;
    return true;
}

static void one_line(char *m) {
    for (char *p = m; *p; p++)
        if (*p == '\n' || *p == '\t') *p = ' ';
    for (size_t l = strlen(m); l && m[l - 1] == ' '; l--)
        m[l - 1] = 0;
}

static void set_down(pg_sink *s, const char *why) {
    if (s->conn) PQfinish(s->conn);
    s->conn = NULL;
    s->ready = false;
    if (!s->down) {
        char esc[1024];
        sl_json_escape(esc, sizeof esc, why, (int)strlen(why));
        sl_log_warn("postgresql unavailable: commits wait for it",
                    "\"table\":\"%s\",\"store\":\"%s\",\"error\":\"%s\"", s->table, s->masked, esc);
    }
    s->down = true;
}

/* Runs sql; 0, SL_EAGAIN (transient: the connection is dropped) or SL_EIO. */
static int exec_res(pg_sink *s, const char *sql, ExecStatusType want, PGresult **out,
                    sl_error *err) {
    PGresult *r = PQexec(s->conn, sql);
    if (r && PQresultStatus(r) == want) {
        if (out)
            *out = r;
        else
            PQclear(r);
        return 0;
    }
    const char *st = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
    char state[8] = "", msg[400];
    if (st) snprintf(state, sizeof state, "%s", st); /* r is cleared below */
    snprintf(msg, sizeof msg, "%s", r ? PQresultErrorMessage(r) : PQerrorMessage(s->conn));
    if (!msg[0]) snprintf(msg, sizeof msg, "%s", PQerrorMessage(s->conn));
    one_line(msg);
    bool transient = PQstatus(s->conn) == CONNECTION_BAD || transient_sqlstate(state);
    PQclear(r);
    if (transient) {
        set_down(s, msg);
        return sl_error_set(err, SL_EAGAIN, "postgresql (table '%s'): %s", s->table, msg);
    }
    /* privileges (42501), a name or type the server refuses (42...), a
     * role or database (28..., 3D...): the configuration, exit code 2 */
    bool config = !strncmp(state, "42", 2) || !strncmp(state, "28", 2) ||
                  !strncmp(state, "3D", 2) || !strncmp(state, "3F", 2);
    return sl_error_set(err, config ? SL_EINVAL : SL_EIO, "postgresql (table '%s'): %s", s->table,
                        msg);
}

static int exec0(pg_sink *s, const char *sql, sl_error *err) {
    return exec_res(s, sql, PGRES_COMMAND_OK, NULL, err);
}

static const char *pg_type(sl_type t) {
    switch (t) {
    case SL_T_INT:
        return "bigint";
    case SL_T_DOUBLE:
        return "double precision";
    case SL_T_BOOL:
        return "boolean";
    case SL_T_TS:
        return "timestamp with time zone";
    default:
        return "text";
    }
}

typedef struct {
    char name[SL_NAME_MAX];
    const char *type;
} pg_col;

/* Every column the table has: the schema's, the audit fields, _commit. */
static int columns(const pg_sink *s, pg_col *c) {
    int n = 0;
    for (int i = 0; i < s->schema.n; i++, n++) {
        snprintf(c[n].name, sizeof c[n].name, "%s", s->schema.f[i].name);
        c[n].type = pg_type(s->schema.f[i].type);
    }
    if (s->audit) {
        c[n++] = (pg_col){"_ingest_ts", "timestamp with time zone"};
        c[n++] = (pg_col){"_source", "text"};
        c[n++] = (pg_col){"_offset", "bigint"};
    }
    c[n++] = (pg_col){"_commit", "bigint"};
    return n;
}

static void sqlq(char *out, size_t cap, const char *s) { /* a string as an SQL literal */
    size_t o = 0;
    out[o++] = '\'';
    for (; *s && o + 3 < cap; s++) {
        if (*s == '\'') out[o++] = '\'';
        out[o++] = *s;
    }
    out[o++] = '\'';
    out[o] = 0;
}

/* Creates the table (or checks the one there: same columns and types; new
 * columns of an evolved schema are added), its indexes and comments. */
static int ensure_table(pg_sink *s, sl_error *err) {
    pg_col want[SL_MAX_COLUMNS + 4];
    int nw = columns(s, want);
    char lit[256], sql[16384];
    int rc;
    sqlq(lit, sizeof lit, s->table);
    if ((rc = exec0(s,
                    "CREATE TABLE IF NOT EXISTS _sluice_commits(pipeline text NOT NULL, instance "
                    "text NOT NULL, table_name text NOT NULL, commit_id bigint NOT NULL, rows "
                    "bigint NOT NULL, committed_at timestamptz NOT NULL DEFAULT now(), PRIMARY "
                    "KEY (pipeline, instance, table_name))",
                    err)))
        return rc;
    /* one writer per table: another pipeline's recovery would delete this
     * one's rows (commit numbers are per pipeline) */
    char plit[256];
    sqlq(plit, sizeof plit, s->pipeline);
    snprintf(sql, sizeof sql,
             "SELECT pipeline FROM _sluice_commits WHERE table_name = %s AND pipeline <> %s "
             "LIMIT 1",
             lit, plit);
    PGresult *other;
    if ((rc = exec_res(s, sql, PGRES_TUPLES_OK, &other, err))) return rc;
    if (PQntuples(other)) {
        char who[SL_NAME_MAX];
        snprintf(who, sizeof who, "%s", PQgetvalue(other, 0, 0));
        PQclear(other);
        return sl_error_set(err, SL_EINVAL,
                            "postgresql: table \"%s\" is written by pipeline '%s': give each "
                            "pipeline its own database or schema (?options=-csearch_path%%3DNAME)",
                            s->table, who);
    }
    PQclear(other);
    snprintf(sql, sizeof sql,
             "SELECT column_name, data_type FROM information_schema.columns WHERE table_schema = "
             "current_schema() AND table_name = %s",
             lit);
    PGresult *r;
    if ((rc = exec_res(s, sql, PGRES_TUPLES_OK, &r, err))) return rc;
    int have = PQntuples(r);
    if (have == 0) {
        PQclear(r);
        int n = snprintf(sql, sizeof sql, "CREATE TABLE %s (", s->qtable);
        for (int i = 0; i < nw; i++)
            n += snprintf(sql + n, sizeof sql - (size_t)n, "%s\"%s\" %s%s", i ? ", " : "",
                          want[i].name, want[i].type,
                          !strcmp(want[i].name, "_commit") ? " NOT NULL" : "");
        if (s->upsert) n += snprintf(sql + n, sizeof sql - (size_t)n, ", UNIQUE (_group)");
        snprintf(sql + n, sizeof sql - (size_t)n, ")");
        if ((rc = exec0(s, sql, err))) return rc;
    } else {
        /* a table of the same name: ours (it has _commit) with the same types */
        bool ours = false;
        for (int j = 0; j < have; j++)
            ours |= !strcmp(PQgetvalue(r, j, 0), "_commit");
        for (int i = 0; i < nw && ours; i++) {
            int j = 0;
            while (j < have && strcmp(PQgetvalue(r, j, 0), want[i].name))
                j++;
            if (j < have && strcmp(PQgetvalue(r, j, 1), want[i].type)) {
                sl_error_set(err, SL_EINVAL,
                             "postgresql: table \"%s\" exists with column \"%s\" of type %s, the "
                             "pipeline writes %s: rename or drop it, or choose another database",
                             s->table, want[i].name, PQgetvalue(r, j, 1), want[i].type);
                PQclear(r);
                return SL_EINVAL;
            }
            if (j == have) { /* schema evolution: a new column */
                snprintf(sql, sizeof sql, "ALTER TABLE %s ADD COLUMN \"%s\" %s", s->qtable,
                         want[i].name, want[i].type);
                if ((rc = exec0(s, sql, err))) {
                    PQclear(r);
                    return rc;
                }
            }
        }
        PQclear(r);
        if (!ours)
            return sl_error_set(err, SL_EINVAL,
                                "postgresql: table \"%s\" exists with other columns (it has no "
                                "_commit column: sluice did not create it); rename or drop it, or "
                                "choose another database",
                                s->table);
    }
    /* BRIN: _commit grows with the insertion order, so a block range index
     * finds the rows of the last commits (recovery's DELETE) for almost no
     * upkeep; a btree costs COPY about 40% */
    snprintf(sql, sizeof sql,
             "CREATE INDEX IF NOT EXISTS \"%.40s__commit\" ON %s USING brin (_commit)", s->table,
             s->qtable);
    if ((rc = exec0(s, sql, err))) return rc;
    if (sl_schema_find(&s->schema, "window_start") >= 0) {
        snprintf(sql, sizeof sql,
                 "CREATE INDEX IF NOT EXISTS \"%.40s_window_start\" ON %s (window_start)", s->table,
                 s->qtable);
        if ((rc = exec0(s, sql, err))) return rc;
    }
    if (s->keys[0]) {
        snprintf(sql, sizeof sql, "CREATE INDEX IF NOT EXISTS \"%.40s_keys\" ON %s (%s%s)",
                 s->table, s->qtable, s->keys,
                 sl_schema_find(&s->schema, "window_start") >= 0 ? ", window_start" : "");
        if ((rc = exec0(s, sql, err))) return rc;
    }
    if (s->description) {
        char d[4096];
        sqlq(d, sizeof d, s->description);
        snprintf(sql, sizeof sql, "COMMENT ON TABLE %s IS %s", s->qtable, d);
        if ((rc = exec0(s, sql, err))) return rc;
    }
    snprintf(sql, sizeof sql,
             "COMMENT ON COLUMN %s._commit IS 'the commit that wrote this row (sluice pipeline "
             "checkpoint pg:%s)'",
             s->qtable, s->table);
    return exec0(s, sql, err);
}

/* The commit number PostgreSQL has for this table; -1: none. */
static int stored_commit(pg_sink *s, int64_t *out, sl_error *err) {
    char p[256], t[256], sql[1024];
    sqlq(p, sizeof p, s->pipeline);
    sqlq(t, sizeof t, s->table);
    snprintf(sql, sizeof sql,
             "SELECT commit_id FROM _sluice_commits WHERE pipeline = %s AND instance = '' AND "
             "table_name = %s",
             p, t);
    PGresult *r;
    int rc = exec_res(s, sql, PGRES_TUPLES_OK, &r, err);
    if (rc) return rc;
    *out = PQntuples(r) ? atoll(PQgetvalue(r, 0, 0)) : -1;
    PQclear(r);
    return 0;
}

static void buffer_committed(pg_sink *s) {
    s->done = true;
    s->attempted = false;
    s->rows += s->nrows;
    s->n = 0;
    s->nrows = 0;
}

static void quiet(void *ud, const char *msg) { (void)ud, (void)msg; }

/* Connects if needed, creates or checks the table, and brings PostgreSQL
 * back to what the checkpoint knows (see the top of the file). */
static int ensure_conn(pg_sink *s, sl_error *err) {
    if (s->conn && s->ready) return 0;
    if (!s->conn) {
        char ct[32];
        snprintf(ct, sizeof ct, "%lld", (long long)(s->conf.connect_timeout_us / 1000000));
        /* keepalives: a cut connection is noticed within ~20 s even while idle */
        const char *keys[] = {
            "dbname",          "connect_timeout",     "options",          "application_name",
            "keepalives_idle", "keepalives_interval", "keepalives_count", NULL};
        const char *vals[] = {s->url, ct, s->options, "sluice", "10", "5", "2", NULL};
        s->conn = PQconnectdbParams(keys, vals, 1);
        if (PQstatus(s->conn) != CONNECTION_OK) {
            char msg[512];
            snprintf(msg, sizeof msg, "%s", PQerrorMessage(s->conn));
            one_line(msg);
            if (!transient_connect_error(msg)) {
                PQfinish(s->conn);
                s->conn = NULL;
                return sl_error_set(err, SL_EINVAL, "postgresql store %s refused: %s", s->masked,
                                    msg);
            }
            set_down(s, msg);
            return sl_error_set(err, SL_EAGAIN, "postgresql store %s unreachable: %s", s->masked,
                                msg);
        }
        PQsetNoticeProcessor(s->conn, quiet, NULL); /* IF NOT EXISTS notices: not ours to print */
    }
    int rc = ensure_table(s, err);
    if (rc) return rc;
    int64_t m, last = s->done ? s->seq : s->seq - 1;
    if ((rc = stored_commit(s, &m, err))) return rc;
    if (s->attempted && m >= s->seq) { /* the COMMIT whose answer was lost happened */
        buffer_committed(s);
    } else if (m > last) { /* a crash between the two commits: PostgreSQL is ahead */
        char sql[1024], p[256], t[256];
        sqlq(p, sizeof p, s->pipeline);
        sqlq(t, sizeof t, s->table);
        snprintf(sql, sizeof sql,
                 "BEGIN; DELETE FROM %s WHERE _commit > %lld; UPDATE _sluice_commits SET "
                 "commit_id = %lld WHERE pipeline = %s AND instance = '' AND table_name = %s; "
                 "COMMIT",
                 s->qtable, (long long)last, (long long)last, p, t);
        if ((rc = exec0(s, sql, err))) return rc;
        sl_log_info("postgresql: rows of an uncommitted interval deleted (they are replayed)",
                    "\"table\":\"%s\",\"from_commit\":%lld,\"to_commit\":%lld", s->table,
                    (long long)last + 1, (long long)m);
    } else if (m >= 0 && m < last) {
        sl_log_warn("postgresql is behind the checkpoint: rows of earlier commits are missing "
                    "(restored from a backup?)",
                    "\"table\":\"%s\",\"postgresql_commit\":%lld,\"checkpoint_commit\":%lld",
                    s->table, (long long)m, (long long)last);
    }
    if (s->down)
        sl_log_info("postgresql reachable again", "\"table\":\"%s\",\"store\":\"%s\"", s->table,
                    s->masked);
    s->down = false;
    s->ready = true;
    return 0;
}

/* ---- the sink ----------------------------------------------------------------- */

static void pg_destroy(void *self);
static int pg_create_in(pg_sink *s, const sl_node *arg, const sl_sink_env *env, sl_error *err);

/* The engine destroys only sinks that were created: a failed create frees
 * its own. */
static int pg_create(const sl_node *arg, const sl_sink_env *env, void **self, sl_error *err) {
    pg_sink *s = sl_xcalloc(1, sizeof *s);
    int rc = pg_create_in(s, arg, env, err);
    if (rc) {
        pg_destroy(s);
        s = NULL;
    }
    *self = s;
    return rc;
}

static int pg_create_in(pg_sink *s, const sl_node *arg, const sl_sink_env *env, sl_error *err) {
    if (sl_spec_bind(arg, pg_opts, "sink postgresql", &s->conf, err)) return SL_EINVAL;
    const char *url = s->conf.url ? s->conf.url : env->store_url;
    if (!url || !*url)
        return sl_error_set(err, SL_EINVAL,
                            "table '%s': sink postgresql needs a url (or a top-level store: "
                            "postgresql://...)",
                            env->table);
    snprintf(s->url, sizeof s->url, "%s", url);
    sl_pg_mask_url(url, s->masked, sizeof s->masked);
    char *perr = NULL;
    PQconninfoOption *ci = sl_pg_is_url(url) ? PQconninfoParse(url, &perr) : NULL;
    if (!ci) {
        char m[256];
        snprintf(m, sizeof m, "%s", perr ? perr : "not a postgresql:// URL");
        one_line(m);
        PQfreemem(perr);
        return sl_error_set(err, SL_EINVAL, "table '%s': bad postgresql store URL %s: %s",
                            env->table, s->masked, m);
    }
    /* connection keywords after the URL override the URL's: the URL's own
     * options (a search_path, say) are kept by putting ours after them */
    const char *uopts = "";
    for (PQconninfoOption *o = ci; o->keyword; o++)
        if (!strcmp(o->keyword, "options") && o->val) uopts = o->val;
    snprintf(s->options, sizeof s->options, "%s%s-c statement_timeout=%lld", uopts,
             *uopts ? " " : "", (long long)(s->conf.statement_timeout_us / 1000));
    PQconninfoFree(ci);
    snprintf(s->table, sizeof s->table, "%s", env->table);
    snprintf(s->qtable, sizeof s->qtable, "\"%s\"", env->table);
    snprintf(s->pipeline, sizeof s->pipeline, "%s", env->pipeline ? env->pipeline : "");
    if (env->description) s->description = sl_xstrdup(env->description);
    const sl_node *k = env->keys;
    for (int i = 0, n = 0; k && i < (k->kind == SL_NODE_SEQ ? k->n : 1); i++) {
        const sl_node *e = k->kind == SL_NODE_SEQ ? k->seq[i] : k;
        if (e->kind != SL_NODE_SCALAR || sl_schema_find(env->schema, e->str) < 0) continue;
        n += snprintf(s->keys + n, sizeof s->keys - (size_t)n, "%s\"%s\"", n ? ", " : "", e->str);
        if (n >= (int)sizeof s->keys) {
            s->keys[0] = 0; /* too many to index: none */
            break;
        }
    }
    s->schema = *env->schema;
    s->upsert = env->upsert;
    s->audit = !env->upsert;
    s->retention_us = env->retention_us;
    if (s->retention_us > 0) { /* the engine checked at load that the column is there */
        if (env->retention_ingest && s->audit)
            s->time_col = "_ingest_ts";
        else if (sl_schema_find(env->schema, "window_start") >= 0)
            s->time_col = "window_start";
        else if (sl_schema_find(env->schema, "event_ts") >= 0)
            s->time_col = "event_ts";
    }
    return 0;
}

/* Retention, inside the interval's transaction (so it commits with the
 * rows, or not at all): a bounded delete of rows older than the retention,
 * at most once every 10 s. An index on the time column (window tables have
 * one with their keys) keeps it cheap on a large table. */
static int expire(pg_sink *s, sl_error *err) {
    if (!s->time_col) return 0;
    int64_t mono = sl_monotonic_us();
    if (s->last_expire_us && mono - s->last_expire_us < 10 * SL_US_PER_SEC) return 0;
    char cutoff[48], sql[1024];
    sl_time_format_iso_us(sl_now_us() - s->retention_us, cutoff, sizeof cutoff);
    snprintf(sql, sizeof sql,
             "DELETE FROM %s WHERE ctid IN (SELECT ctid FROM %s WHERE \"%s\" < '%s'::timestamptz "
             "LIMIT 10000)",
             s->qtable, s->qtable, s->time_col, cutoff);
    PGresult *r = NULL;
    int rc = exec_res(s, sql, PGRES_COMMAND_OK, &r, err);
    if (rc) return rc;
    s->expiring = atoll(PQcmdTuples(r));
    PQclear(r);
    s->last_expire_us = mono;
    return 0;
}

static int pg_open(void *self, const sl_sink_env *env, sl_error *err) {
    pg_sink *s = self;
    if (env->instance)
        return sl_error_set(err, SL_EINVAL,
                            "table '%s': the postgresql store does not support --instance yet",
                            s->table);
    char key[SL_NAME_MAX + 8], kv[64];
    snprintf(key, sizeof key, "pg:%s", s->table);
    int64_t committed = 0;
    if (sl_store_get_kv(env->store, key, kv, sizeof kv) == 0) committed = atoll(kv);
    s->seq = committed + 1;
    s->done = s->attempted = false;
    int rc = ensure_conn(s, err);
    if (rc == SL_EAGAIN) { /* unreachable at start: the first commit waits for it */
        err->code = 0;
        err->msg[0] = 0;
        return 0;
    }
    return rc;
}

static int pg_write(void *self, const sl_batch *b, const char *const *part_names, sl_error *err) {
    (void)err;
    pg_sink *s = self;
    if (s->done) { /* the first rows after a commit: the next commit number */
        s->seq++;
        s->done = false;
    }
    char commit[24];
    int commit_len = sl_fmt_i64(commit, s->seq);
    int nc = s->schema.n;
    for (uint32_t r = 0; r < b->n; r++) {
        for (int c = 0; c < nc; c++) {
            const sl_column *col = &b->col[c];
            if (c) put_raw(s, "\t", 1);
            if (col->null[r]) {
                put_raw(s, "\\N", 2);
                continue;
            }
            switch (col->type) {
            case SL_T_INT:
                put_i64(s, col->v.i[r]);
                break;
            case SL_T_BOOL:
                put_raw(s, col->v.b[r] ? "t" : "f", 1);
                break;
            case SL_T_DOUBLE:
                put_double(s, col->v.d[r]);
                break;
            case SL_T_STRING:
                put_text(s, col->v.s[r].ptr, col->v.s[r].len);
                break;
            case SL_T_TS:
                put_ts(s, col->v.i[r]);
                break;
            default:
                put_raw(s, "\\N", 2);
            }
        }
        if (s->audit) {
            put_raw(s, nc ? "\t" : "", nc ? 1 : 0);
            put_ts(s, b->ingest[r]);
            put_raw(s, "\t", 1);
            if (part_names) {
                const char *src = part_names[b->part[r]];
                put_text(s, src, strlen(src));
            } else {
                put_raw(s, "\\N", 2);
            }
            put_raw(s, "\t", 1);
            put_i64(s, b->pos[r]);
        }
        put_raw(s, "\t", 1);
        put_raw(s, commit, (size_t)commit_len);
        put_raw(s, "\n", 1);
    }
    s->nrows += b->n;
    return 0;
}

static int copy_in(pg_sink *s, const char *target, const char *collist, sl_error *err) {
    char sql[8192];
    snprintf(sql, sizeof sql, "COPY %s (%s) FROM STDIN", target, collist);
    int rc = exec_res(s, sql, PGRES_COPY_IN, NULL, err);
    if (rc) return rc;
    const size_t chunk = 1 << 20;
    for (size_t off = 0; off < s->n; off += chunk) {
        size_t len = s->n - off < chunk ? s->n - off : chunk;
        if (PQputCopyData(s->conn, s->buf + off, (int)len) != 1) break;
    }
    PQputCopyEnd(s->conn, NULL);
    PGresult *r = PQgetResult(s->conn);
    bool ok = r && PQresultStatus(r) == PGRES_COMMAND_OK;
    if (!ok) { /* report it the way exec_res does */
        char msg[400];
        const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
        snprintf(msg, sizeof msg, "%s", r ? PQresultErrorMessage(r) : PQerrorMessage(s->conn));
        one_line(msg);
        bool transient = PQstatus(s->conn) == CONNECTION_BAD || transient_sqlstate(state);
        PQclear(r);
        while ((r = PQgetResult(s->conn)))
            PQclear(r);
        if (transient) {
            set_down(s, msg);
            return sl_error_set(err, SL_EAGAIN, "postgresql (table '%s'): COPY: %s", s->table, msg);
        }
        return sl_error_set(err, SL_EIO, "postgresql (table '%s'): COPY: %s", s->table, msg);
    }
    PQclear(r);
    while ((r = PQgetResult(s->conn)))
        PQclear(r);
    return 0;
}

/* One PostgreSQL transaction: the rows, then the commit number. */
static int flush(pg_sink *s, sl_error *err) {
    pg_col c[SL_MAX_COLUMNS + 4];
    int nc = columns(s, c);
    char cols[8192], sets[16384], sql[24576], p[256], t[256];
    int n = 0, m = 0;
    for (int i = 0; i < nc; i++) {
        n += snprintf(cols + n, sizeof cols - (size_t)n, "%s\"%s\"", i ? "," : "", c[i].name);
        if (strcmp(c[i].name, "_group"))
            m += snprintf(sets + m, sizeof sets - (size_t)m, "%s\"%s\" = EXCLUDED.\"%s\"",
                          m ? "," : "", c[i].name, c[i].name);
    }
    int rc = exec0(s, "BEGIN", err);
    if (rc) return rc;
    if (!s->upsert) {
        rc = copy_in(s, s->qtable, cols, err);
    } else {
        /* staging: the interval may carry several versions of a group; the
         * last one written wins (_row keeps the order) */
        snprintf(sql, sizeof sql,
                 "CREATE TEMP TABLE IF NOT EXISTS \"_stage_%.50s\" (LIKE %s, _row bigserial) ON "
                 "COMMIT DELETE ROWS",
                 s->table, s->qtable);
        rc = exec0(s, sql, err);
        char stage[SL_NAME_MAX + 16];
        snprintf(stage, sizeof stage, "\"_stage_%.50s\"", s->table);
        if (!rc) rc = copy_in(s, stage, cols, err);
        if (!rc) {
            snprintf(sql, sizeof sql,
                     "INSERT INTO %s (%s) SELECT DISTINCT ON (_group) %s FROM %s ORDER BY "
                     "_group, _row DESC ON CONFLICT (_group) DO UPDATE SET %s",
                     s->qtable, cols, cols, stage, sets);
            rc = exec0(s, sql, err);
        }
    }
    if (!rc) rc = expire(s, err);
    if (!rc) {
        sqlq(p, sizeof p, s->pipeline);
        sqlq(t, sizeof t, s->table);
        snprintf(sql, sizeof sql,
                 "INSERT INTO _sluice_commits (pipeline, instance, table_name, commit_id, rows) "
                 "VALUES (%s, '', %s, %lld, %lld) ON CONFLICT (pipeline, instance, table_name) DO "
                 "UPDATE SET commit_id = EXCLUDED.commit_id, rows = EXCLUDED.rows, committed_at = "
                 "now()",
                 p, t, (long long)s->seq, (long long)s->nrows);
        rc = exec0(s, sql, err);
    }
    if (rc) {
        if (rc != SL_EAGAIN && s->conn) PQclear(PQexec(s->conn, "ROLLBACK"));
        return rc;
    }
    s->attempted = true;
    if ((rc = exec0(s, "COMMIT", err))) return rc;
    s->expired += s->expiring;
    s->expiring = 0;
    buffer_committed(s);
    /* tests: SLUICE_TEST_KILL_AFTER_PG_COMMIT=N kills the process (SIGKILL)
     * after its N-th PostgreSQL commit, before the checkpoint's */
    static int ncommits;
    const char *kill_at = getenv("SLUICE_TEST_KILL_AFTER_PG_COMMIT");
    if (kill_at && atoi(kill_at) == ++ncommits) raise(SIGKILL);
    return 0;
}

static int pg_prepare(void *self, sl_store *store, sl_error *err) {
    pg_sink *s = self;
    int rc;
    if (!s->done && s->nrows > 0) {
        if ((rc = ensure_conn(s, err))) return rc;
        if (!s->done && (rc = flush(s, err))) return rc;
    }
    if (!s->done) return 0; /* nothing written in this interval */
    char key[SL_NAME_MAX + 8], kv[32];
    snprintf(key, sizeof key, "pg:%s", s->table);
    snprintf(kv, sizeof kv, "%lld", (long long)s->seq);
    if (sl_store_put_kv(store, key, kv))
        return sl_error_set(err, SL_EIO, "saving the postgresql commit of '%s' failed", s->table);
    return 0;
}

static int64_t pg_rows(const void *self) { return ((const pg_sink *)self)->rows; }

static int64_t pg_expired(const void *self) { return ((const pg_sink *)self)->expired; }

static void pg_destroy(void *self) {
    pg_sink *s = self;
    if (!s) return;
    if (s->conn) PQfinish(s->conn);
    free(s->buf);
    free(s->description);
    free(s);
}

const sl_sink_def sl_sink_postgresql = {
    .name = "postgresql",
    .external = true,
    .opts = pg_opts,
    .help = "rows into a PostgreSQL table of the same name: COPY (window rows: upserts by "
            "_group), exactly once with the checkpoint, waiting out the server's outages",
    .create = pg_create,
    .open = pg_open,
    .write = pg_write,
    .prepare = pg_prepare,
    .rows_written = pg_rows,
    .rows_expired = pg_expired,
    .destroy = pg_destroy,
};
