/*
 * server.h - the in-process HTTP server: dashboard page, read-only SQL API,
 * live rows over Server-Sent Events, /metrics, /healthz and /readyz.
 *
 * The server lives beside the engine, never on its data path. It runs on
 * libmicrohttpd's own threads (one per connection) and reads the pipeline's
 * SQLite file through its own read-only connections, so a slow dashboard
 * query can only slow the dashboard. The engine talks to it with two calls
 * that never block on HTTP work: sl_server_publish() after each commit (which
 * wakes the SSE streams) and sl_server_set_ready() once recovery is done.
 *
 * Endpoints:
 *   GET /                         dashboard page (panels from dashboard_json)
 *   GET /pipeline                 pipeline page (lineage, throughput, quality)
 *   GET /sql                      read-only SQL page (editor, results, quick chart)
 *   GET /static/<file>            bundled assets (uPlot, page scripts, css)
 *   GET /api/tables               tables and views: columns, row counts
 *   GET /api/query?sql=&limit=    read-only SQL -> {"columns","rows","truncated","ms"};
 *                                 named parameters p_NAME=text or params={"NAME":json}
 *   GET /api/tables/NAME/stream   SSE: last 100 rows, then new/updated rows per commit
 *   GET /api/dashboard            dashboard_json;  /api/lineage: lineage_json
 *   GET /api/status               pipeline name, last commit id, readiness
 *   GET /metrics                  published engine metrics + server metrics
 *   GET /healthz                  200 always;  /readyz: 200 once ready, else 503
 *
 * Auth: with a token (server.token, or scoped tokens: see sl_server_token;
 * a token without the route's scope gets 403), every endpoint but /healthz needs `Authorization:
 * Bearer <token>`, or `?token=<token>`, or the `sluice_token` cookie that the
 * server sets when a page is opened with ?token= (the browser is then
 * redirected to the same URL without the token). Tokens are compared in
 * constant time and never logged.
 */
#ifndef SL_SERVER_SERVER_H
#define SL_SERVER_SERVER_H

#include <sqlite3.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/error.h"
#include "httpd/httpd.h"

typedef struct sl_server sl_server;

/* Scopes (SL_SCOPE_*), token confs and audit records are httpd.h's: the
 * http ingest source accepts the same tokens. read: the pages, /api/query,
 * /api/tables, table streams, /api/alerts, /api/dashboard, /api/lineage,
 * /api/status; metrics: /metrics; admin: everything, every table. /healthz
 * and /readyz need none. */
#define SL_SERVER_TOKENS_MAX SL_TOKENS_MAX
#define SL_SERVER_TOKEN_TABLES_MAX SL_TOKEN_TABLES_MAX
typedef sl_token_conf sl_server_token;
typedef sl_audit sl_server_audit;

typedef struct sl_server_config {
    const char *listen; /* "127.0.0.1:8080", "[::1]:8080", ":8080"; port 0 = pick a free one */
    const char *token;  /* NULL or "" = no auth; else an admin token with the id "admin" */
    const sl_server_token *tokens; /* more tokens, each with its scopes (auth on if any) */
    int ntokens;
    /* The tokens and the audit ring to use instead of token/tokens (the
     * engine's, shared with the http sources and swapped by a reload: auth is
     * on while its set has a token). NULL: the server builds its own. */
    sl_access *access;
    const sl_httpd_tls *tls; /* NULL = plain HTTP; else HTTPS (copied) */
    const char
        *db_path; /* the pipeline's sluice.db; the server opens its own read-only connections */
    const char *pipeline_name;
    const char *dashboard_json; /* {"title":..., "variables":[{"name","sql","default"}],
                                   "panels":[{"title","type":"timeseries|bar|table|stat|histogram|
                                   heatmap","sql","refresh_ms","x","y":[...],...}]} ; may be NULL */
    const char *
        lineage_json; /* {"nodes":[{"name","kind":"source|table|view","layer"}],"edges":[["a","b"]]}
                         ; may be NULL */
    const char *pg_url;   /* a PostgreSQL store: /api/query runs there (NULL: db_path) */
    int query_timeout_ms; /* 0 = default 2000 */
    int query_row_limit;  /* 0 = default 10000 */
    long query_max_bytes; /* /api/query answer bound; 0 = default 32 MiB */
    /* Connection bounds; 0 = defaults. A client address holds at most
     * max_connections_per_ip connections (32) and the SSE streams at most
     * max_sse_streams (64, more get 503 + Retry-After), so neither can fill
     * max_connections (512, at most half the descriptor limit) and /healthz, /readyz, /metrics
     * always get in. A connection that has not sent a request's headers header_timeout_ms (10 s)
     * after connecting or after its last answer is closed; after 1 s when three quarters of
     * max_connections are open, 200 ms at seven eighths. */
    int max_connections, max_connections_per_ip, max_sse_streams, header_timeout_ms;
    /* Optional hook run on each new read-only connection, before the
     * authorizer is installed (the engine registers the lake vtab and creates
     * temp views for lake tables with it). Returns SQLITE_OK or an error. */
    int (*on_connection)(void *ud, sqlite3 *db);
    void *ud;
} sl_server_config;

/* Starts listening and serving. The config strings are copied. Returns NULL
 * and fills err: SL_EINVAL (bad listen address), SL_EIO (port busy, cannot
 * bind), SL_ENOMEM. */
sl_server *sl_server_start(const sl_server_config *cfg, sl_error *err);
/* The port actually bound (useful with port 0). */
int sl_server_port(const sl_server *s);
/* Called by the engine's thread after each commit, with the commit id and the
 * Prometheus text of the pipeline's metrics (may be NULL to keep the last).
 * Thread-safe; copies the text, wakes SSE streams, returns at once. */
void sl_server_publish(sl_server *s, int64_t commit_id, const char *metrics_text);
void sl_server_set_ready(sl_server *s, bool ready);
/* Not ready, and /readyz says why (e.g. the store is unreachable). */
void sl_server_set_not_ready(sl_server *s, const char *reason);
/* The database at db_path was replaced (`sluice refresh` swapped the state
 * directory): pooled connections are closed, connections in use are closed
 * when returned, SSE streams end (clients reconnect); new requests open the
 * new file. Thread-safe. */
void sl_server_reopen(sl_server *s);
/* A reloaded pipeline file (SIGHUP): the dashboard and lineage JSON are
 * replaced (copied; NULL: none) for the next requests. Thread-safe. */
void sl_server_set_pages(sl_server *s, const char *dashboard_json, const char *lineage_json);
/* Audit records queued since the last drain (sl_access_audit_drain of the
 * server's access: a bounded ring, beyond 4096 records the oldest are
 * dropped and counted), oldest first,
 * given to fn on the caller's thread; a non-zero return of fn stops the
 * drain and is returned (the records not yet given are kept). *dropped (may
 * be NULL) gets the records dropped since the last drain. Thread-safe; the
 * engine calls it inside its commit so the records land in its store. */
int sl_server_audit_drain(sl_server *s, int (*fn)(void *ud, const sl_server_audit *a), void *ud,
                          uint64_t *dropped);
/* Ends SSE streams, stops the threads, closes connections, frees s. NULL is fine. */
void sl_server_stop(sl_server *s);

#endif
