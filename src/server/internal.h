/*
 * internal.h - shared pieces of the server module: the server struct, the
 * growable text buffer responses are built in, and the read-only SQLite
 * connections (pool, authorizer, deadline) used by the query API and SSE.
 */
#ifndef SL_SERVER_INTERNAL_H
#define SL_SERVER_INTERNAL_H

#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "server/server.h"

/* Routes, also the `path` label of sluice_http_requests_total (a fixed set:
 * labels never come from user input). */
enum {
    SRV_R_INDEX,
    SRV_R_PIPELINE,
    SRV_R_STATIC,
    SRV_R_TABLES,
    SRV_R_QUERY,
    SRV_R_STREAM,
    SRV_R_DASHBOARD,
    SRV_R_LINEAGE,
    SRV_R_STATUS,
    SRV_R_METRICS,
    SRV_R_HEALTHZ,
    SRV_R_READYZ,
    SRV_R_ALERTS,
    SRV_R_SQL,
    SRV_R_OTHER,
    SRV_R_COUNT
};

/* Growable buffer; on allocation failure it sets oom and ignores appends. */
typedef struct srv_buf {
    char *p;
    size_t n, cap;
    bool oom;
} srv_buf;

void srv_buf_put(srv_buf *b, const char *s, size_t n);
void srv_buf_puts(srv_buf *b, const char *s);
void srv_buf_printf(srv_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void srv_buf_json_str(srv_buf *b, const char *s, size_t n); /* with quotes */
void srv_buf_free(srv_buf *b);

/* One read-only connection. `restricted` switches the authorizer on for
 * user SQL and off for the server's own catalog queries. */
typedef struct srv_conn {
    sqlite3 *db;
    bool restricted;
    int64_t deadline_us; /* monotonic; 0 = none */
    bool timed_out;
    char denied[96];      /* first action the authorizer refused */
    bool denied_internal; /* ...and it was a write to sqlite_schema */
    unsigned gen;         /* the server's db_gen when opened (sl_server_reopen) */
    /* tables the authorizer let the request's token read only because a
     * view it may read reads them (srv_check_reads accepts these) */
    char via_view[8][64];
    int nvia;
} srv_conn;

typedef sl_token srv_token;

/* The token of the request this thread is serving (libmicrohttpd runs one
 * thread per connection, and the SQLite authorizer runs on it while a
 * statement is prepared); NULL without auth. */
const srv_token *srv_request_token(void);
/* Whether the token may read table (an inner-most view through which it
 * is read may grant it instead; NULL if none). */
bool srv_table_allowed(const srv_token *t, const char *table, const char *view);

#define SRV_POOL_MAX 4
#define SRV_PARAMS_MAX 32 /* p_NAME= arguments of one /api/query */

struct sl_server {
    struct sl_httpd *httpd; /* the hardened listener (httpd/httpd.h) */
    int port;
    sl_access *access; /* the tokens (swapped by a reload) and the audit ring */
    bool own_access;   /* made from the config's tokens: freed with the server */
    char *db_path, *pipeline_name, *dashboard_json, *lineage_json;
    char *pg_url; /* /api/query runs on this PostgreSQL store (pg.c); NULL: SQLite */
    int timeout_ms, row_limit;
    size_t max_bytes; /* /api/query answer budget */
    int max_sse;
    int (*on_connection)(void *ud, sqlite3 *db);
    void *ud;
    int64_t started_us;

    pthread_mutex_t mu; /* guards the fields below */
    pthread_cond_t cv;  /* broadcast on publish and on stop */
    int64_t commit_id;
    uint64_t publish_seq;
    char *metrics;
    bool ready, stopping;
    char not_ready[512]; /* why /readyz answers 503 ("" : starting) */

    pthread_mutex_t pool_mu;
    srv_conn *pool[SRV_POOL_MAX];
    int npool;
    /* bumped by sl_server_reopen: connections of an older generation read a
     * database file that was replaced, and are closed instead of reused */
    atomic_uint db_gen;

    atomic_ullong requests[SRV_R_COUNT];
    atomic_int sse_streams;
    atomic_ullong query_timeouts, query_denied, query_errors, query_too_big;
    atomic_ullong sse_refused;
};

/* Connections (db.c). srv_conn_get returns NULL with msg filled on failure. */
srv_conn *srv_conn_open(sl_server *s, char *msg, size_t cap);
void srv_conn_close(srv_conn *c);
srv_conn *srv_conn_get(sl_server *s, char *msg, size_t cap);
void srv_conn_put(sl_server *s, srv_conn *c);
void srv_pool_close(sl_server *s);
void srv_conn_deadline(srv_conn *c, int timeout_ms);

/* The authorizer is not told of every table a statement reads (a table
 * joined with USING or NATURAL whose columns are not otherwise named):
 * for a token limited to some tables, this checks the b-trees the statement
 * sql opens (from EXPLAIN) instead. 0, or 403 with msg filled. */
int srv_check_reads(srv_conn *c, const char *sql, char *msg, size_t cap);

/* Appends one result value as JSON. */
void srv_json_value(srv_buf *b, sqlite3_stmt *st, int col);

/* Named parameters of /api/query: `p_NAME=VALUE` arguments (bound as text)
 * and `params={"NAME": value, ...}` (bound by JSON type: integer, real, text,
 * true/false as 1/0, null as NULL). Values are bound with sqlite3_bind_*, to
 * each of :NAME, @NAME and $NAME the statement uses; a name it does not use
 * is ignored (a client may send one set to every query), an unbound one is
 * NULL. */
typedef struct srv_params {
    const char *json; /* the params= argument or NULL */
    int n;
    const char *name[SRV_PARAMS_MAX], *value[SRV_PARAMS_MAX];
} srv_params;

/* /api/query: fills out with the JSON body and returns the HTTP status.
 * params may be NULL. */
int srv_query(sl_server *s, const char *sql, long limit, const srv_params *params, srv_buf *out);
/* pg.c: the same against s->pg_url; parameters are :NAME only there (see pg.c). */
int srv_pg_query(sl_server *s, const char *sql, long limit, const srv_params *params, srv_buf *out);
/* A parameter name: a letter or _, then letters, digits, _; at most 64. */
bool srv_param_name_ok(const char *n);
/* /api/alerts?state=firing|resolved&limit=N (alerts.c): the body and the status. */
int srv_alerts(sl_server *s, const char *state, const char *limit, srv_buf *out);
/* /api/tables */
int srv_tables(sl_server *s, srv_buf *out);
/* Whether name is a real table (not a view) in main or temp. */
bool srv_table_exists(srv_conn *c, const char *name);

/* SSE (sse.c): builds the response for /api/tables/NAME/stream or returns
 * NULL and sets *status (404 unknown table, 400 bad from/where, 403 where
 * refused by the authorizer, 500). from/where (both NULL: the live view)
 * select tap mode: every row after from ("start", "end" or a rowid). */
struct MHD_Response *srv_sse_response(sl_server *s, const char *table, const char *from,
                                      const char *where, int *status, srv_buf *errbody);

#endif
