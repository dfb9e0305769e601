/*
 * server.c - the HTTP server: libmicrohttpd daemon, routing, auth, pages,
 * /metrics, health; see server.h for the endpoints.
 *
 * The listener itself (socket, one thread per connection, connection caps,
 * the slow-header reaper, log limiting, token comparison) is httpd/httpd.h,
 * shared with the http push source so both refuse hostile clients alike.
 * One thread per connection lets an SSE stream simply block on a condition
 * variable until the next commit, and lets a slow query hold up only its own
 * client.
 *
 * The only state shared with the engine's thread is behind s->mu: the last
 * commit id, the last metrics text and a publish counter that SSE streams
 * wait on. Everything else is read-only after start or atomic counters.
 *
 * Hostile clients: the caps and the reaper are httpd.h's; SSE streams are
 * also capped here (503 + Retry-After beyond), so /healthz, /readyz and
 * /metrics keep room.
 */
#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <netdb.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "core/log.h"
#include "core/mem.h"
#include "core/timeutil.h"
#include "httpd/httpd.h"
#include "server/assets.h"
#include "server/internal.h"

#define COOKIE_NAME "sluice_token"

static const char *const route_label[SRV_R_COUNT] = {"/",
                                                     "/pipeline",
                                                     "/static",
                                                     "/api/tables",
                                                     "/api/query",
                                                     "/api/tables/stream",
                                                     "/api/dashboard",
                                                     "/api/lineage",
                                                     "/api/status",
                                                     "/metrics",
                                                     "/healthz",
                                                     "/readyz",
                                                     "/api/alerts",
                                                     "/sql",
                                                     "other"};

const sl_web_asset *sl_web_asset_find(const char *path) {
    for (size_t i = 0; i < sl_web_assets_count; i++)
        if (!strcmp(sl_web_assets[i].path, path)) return &sl_web_assets[i];
    return NULL;
}

/* The request this thread serves: its token (libmicrohttpd runs one thread
 * per connection, so the SQLite authorizer, called while this thread
 * prepares a statement, finds it here) and the status it was answered with. */
static _Thread_local const srv_token *req_token;
/* The token set the request is checked against, referenced for its whole
 * life: a reload swapping the set does not change it under the request. */
static _Thread_local const sl_token_set *req_set;
static _Thread_local int req_status;

/* ---- responses ---- */

static enum MHD_Result send_response(struct MHD_Connection *conn, int status,
                                     struct MHD_Response *r) {
    if (!r) return MHD_NO;
    MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
    req_status = status;
    enum MHD_Result ret = MHD_queue_response(conn, (unsigned)status, r);
    MHD_destroy_response(r);
    return ret;
}

/* Sends b's bytes (ownership moves to libmicrohttpd). */
static enum MHD_Result send_buf(struct MHD_Connection *conn, int status, const char *ctype,
                                srv_buf *b) {
    if (b->oom) {
        srv_buf_free(b);
        status = 500;
        srv_buf_puts(b, "{\"error\":\"out of memory\"}");
        if (b->oom) return MHD_NO;
    }
    struct MHD_Response *r = MHD_create_response_from_buffer(
        b->n, b->p ? b->p : (char *)"", b->p ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
    if (!r) {
        srv_buf_free(b);
        return MHD_NO;
    }
    *b = (srv_buf){0};
    MHD_add_response_header(r, "Content-Type", ctype);
    MHD_add_response_header(r, "Cache-Control", "no-store");
    return send_response(conn, status, r);
}

static enum MHD_Result send_text(struct MHD_Connection *conn, int status, const char *ctype,
                                 const char *text) {
    srv_buf b = {0};
    srv_buf_puts(&b, text);
    return send_buf(conn, status, ctype, &b);
}

static enum MHD_Result send_json_error(struct MHD_Connection *conn, int status, const char *msg) {
    srv_buf b = {0};
    srv_buf_puts(&b, "{\"error\":");
    srv_buf_json_str(&b, msg, strlen(msg));
    srv_buf_puts(&b, "}");
    return send_buf(conn, status, "application/json", &b);
}

static enum MHD_Result send_asset(struct MHD_Connection *conn, const char *name) {
    const sl_web_asset *a = sl_web_asset_find(name);
    if (!a) return send_json_error(conn, 404, "no such file");
    struct MHD_Response *r =
        MHD_create_response_from_buffer(a->len, (void *)a->data, MHD_RESPMEM_PERSISTENT);
    if (!r) return MHD_NO;
    MHD_add_response_header(r, "Content-Type", a->content_type);
    MHD_add_response_header(r, "Cache-Control", "no-cache");
    if (!strncmp(a->content_type, "text/html", 9)) {
        MHD_add_response_header(
            r, "Content-Security-Policy",
            "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:;"
            " frame-ancestors 'none'");
        MHD_add_response_header(r, "Referrer-Policy", "no-referrer");
    }
    return send_response(conn, 200, r);
}

/* ---- auth ---- */

const srv_token *srv_request_token(void) { return req_token; }

static int hexval(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* The cookie holds the token hex-encoded (any byte is then cookie-safe). */
static const srv_token *cookie_token(const sl_server *s, const char *hex) {
    size_t n = strlen(hex);
    if (n % 2 || n / 2 > 1024) return NULL;
    char tok[1024];
    for (size_t i = 0; i < n / 2; i++) {
        int hi = hexval(hex[2 * i]), lo = hexval(hex[2 * i + 1]);
        if (hi < 0 || lo < 0) return NULL;
        tok[i] = (char)(hi << 4 | lo);
    }
    (void)s;
    const srv_token *t = sl_token_set_match(req_set, tok, n / 2);
    explicit_bzero(tok, sizeof tok);
    return t;
}

/* The token the request presents (bearer, ?token=, cookie), or NULL. */
static const srv_token *authorized(const sl_server *s, struct MHD_Connection *conn) {
    const char *h = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Authorization");
    if (h && !strncasecmp(h, "Bearer ", 7)) {
        const srv_token *t = sl_token_set_match(req_set, h + 7, strlen(h + 7));
        if (t) return t;
    }
    const char *q = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "token");
    const srv_token *t = q ? sl_token_set_match(req_set, q, strlen(q)) : NULL;
    if (t) return t;
    const char *c = MHD_lookup_connection_value(conn, MHD_COOKIE_KIND, COOKIE_NAME);
    return c ? cookie_token(s, c) : NULL;
}

/* The scope a route needs (0: none). */
static unsigned route_scope(int route) {
    switch (route) {
    case SRV_R_HEALTHZ:
    case SRV_R_READYZ:
        return 0;
    case SRV_R_METRICS:
        return SL_SCOPE_METRICS;
    case SRV_R_OTHER: /* any valid token learns it is not there (404) */
        return 0;
    default:
        return SL_SCOPE_READ;
    }
}

static const char login_page[] =
    "<!doctype html><html><head><meta charset=utf-8><title>Sluice - sign in</title>"
    "<meta name=viewport content='width=device-width,initial-scale=1'></head>"
    "<body style='font-family:system-ui,sans-serif;background:#0f1419;color:#e6e6e6;display:flex;"
    "justify-content:center;align-items:center;height:100vh;margin:0'>"
    "<form method=get style='background:#1a2129;padding:2em;border-radius:8px'>"
    "<h2 style='margin-top:0'>Sluice</h2><p>This server needs its access token.</p>"
    "<input type=password name=token autofocus placeholder=token style='padding:.5em;width:18em'> "
    "<button type=submit style='padding:.5em 1em'>Open</button></form></body></html>";

static void put_urlenc(srv_buf *b, const char *v) {
    static const char hex[] = "0123456789ABCDEF";
    for (const unsigned char *p = (const unsigned char *)v; p && *p; p++) {
        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
            *p == '-' || *p == '_' || *p == '.' || *p == '~' || *p == ':') {
            char c = (char)*p;
            srv_buf_put(b, &c, 1);
        } else {
            char e[3] = {'%', hex[*p >> 4], hex[*p & 15]};
            srv_buf_put(b, e, 3);
        }
    }
}

/* Every query argument but the token, re-encoded, after the path. */
static enum MHD_Result keep_arg(void *cls, enum MHD_ValueKind kind, const char *key,
                                const char *value) {
    (void)kind;
    srv_buf *b = cls;
    if (!key || !strcmp(key, "token")) return MHD_YES;
    srv_buf_puts(b, b->p && memchr(b->p, '?', b->n) ? "&" : "?");
    put_urlenc(b, key);
    if (value) {
        srv_buf_puts(b, "=");
        put_urlenc(b, value);
    }
    return MHD_YES;
}

/* A page opened with a valid ?token=: remember it in a cookie and reload
 * without it, so the token does not stay in the address bar or history; the
 * other arguments (a dashboard's range and variables) stay. */
static enum MHD_Result send_login_redirect(struct MHD_Connection *conn, const char *token,
                                           const char *path) {
    srv_buf loc = {0};
    srv_buf_puts(&loc, path); /* srv_buf keeps its text NUL-terminated */
    MHD_get_connection_values(conn, MHD_GET_ARGUMENT_KIND, keep_arg, &loc);
    const char *url = loc.oom ? path : loc.p;
    srv_buf cookie = {0};
    srv_buf_puts(&cookie, COOKIE_NAME "=");
    for (const char *p = token; *p; p++)
        srv_buf_printf(&cookie, "%02x", (unsigned char)*p);
    srv_buf_puts(&cookie, "; Path=/; HttpOnly; SameSite=Strict");
    struct MHD_Response *r = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
    if (!r || cookie.oom) {
        srv_buf_free(&cookie);
        srv_buf_free(&loc);
        if (r) MHD_destroy_response(r);
        return MHD_NO;
    }
    MHD_add_response_header(r, "Set-Cookie", cookie.p);
    MHD_add_response_header(r, "Location", url);
    MHD_add_response_header(r, "Cache-Control", "no-store");
    srv_buf_free(&cookie);
    srv_buf_free(&loc);
    return send_response(conn, 303, r);
}

/* ---- endpoints ---- */

static enum MHD_Result send_metrics(sl_server *s, struct MHD_Connection *conn) {
    srv_buf b = {0};
    pthread_mutex_lock(&s->mu);
    bool ready = s->ready;
    if (s->metrics && *s->metrics) {
        srv_buf_puts(&b, s->metrics);
        if (b.n && b.p[b.n - 1] != '\n') srv_buf_puts(&b, "\n");
    }
    pthread_mutex_unlock(&s->mu);
    sl_httpd_stats hs;
    sl_httpd_stats_get(s->httpd, &hs);
    srv_buf_puts(
        &b,
        "# HELP sluice_http_requests_total HTTP requests served by the embedded server, by route.\n"
        "# TYPE sluice_http_requests_total counter\n");
    for (int i = 0; i < SRV_R_COUNT; i++)
        srv_buf_printf(&b, "sluice_http_requests_total{path=\"%s\"} %llu\n", route_label[i],
                       (unsigned long long)atomic_load(&s->requests[i]));
    srv_buf_printf(
        &b,
        "# HELP sluice_http_sse_streams Open Server-Sent Events streams.\n"
        "# TYPE sluice_http_sse_streams gauge\n"
        "sluice_http_sse_streams %d\n"
        "# HELP sluice_http_query_timeouts_total /api/query statements stopped at their time "
        "limit.\n"
        "# TYPE sluice_http_query_timeouts_total counter\n"
        "sluice_http_query_timeouts_total %llu\n"
        "# HELP sluice_http_query_denied_total /api/query statements refused by the authorizer.\n"
        "# TYPE sluice_http_query_denied_total counter\n"
        "sluice_http_query_denied_total %llu\n"
        "# HELP sluice_http_query_errors_total /api/query statements that failed (bad SQL, I/O).\n"
        "# TYPE sluice_http_query_errors_total counter\n"
        "sluice_http_query_errors_total %llu\n"
        "# HELP sluice_http_query_too_large_total /api/query answers refused for exceeding the "
        "byte budget.\n"
        "# TYPE sluice_http_query_too_large_total counter\n"
        "sluice_http_query_too_large_total %llu\n"
        "# HELP sluice_http_sse_refused_total SSE streams refused at the stream cap (503).\n"
        "# TYPE sluice_http_sse_refused_total counter\n"
        "sluice_http_sse_refused_total %llu\n"
        "# HELP sluice_http_connections Open HTTP connections.\n"
        "# TYPE sluice_http_connections gauge\n"
        "sluice_http_connections %d\n"
        "# HELP sluice_http_slow_closed_total Connections closed for not sending a request's "
        "headers in time.\n"
        "# TYPE sluice_http_slow_closed_total counter\n"
        "sluice_http_slow_closed_total %llu\n"
        "# HELP sluice_http_log_suppressed_total Server warnings not logged (at most one a "
        "second).\n"
        "# TYPE sluice_http_log_suppressed_total counter\n"
        "sluice_http_log_suppressed_total %llu\n"
        "# HELP sluice_http_ready 1 once the pipeline has recovered and serves fresh data.\n"
        "# TYPE sluice_http_ready gauge\n"
        "sluice_http_ready %d\n",
        atomic_load(&s->sse_streams), (unsigned long long)atomic_load(&s->query_timeouts),
        (unsigned long long)atomic_load(&s->query_denied),
        (unsigned long long)atomic_load(&s->query_errors),
        (unsigned long long)atomic_load(&s->query_too_big),
        (unsigned long long)atomic_load(&s->sse_refused), hs.connections,
        (unsigned long long)hs.slow_closed, (unsigned long long)hs.log_suppressed, ready ? 1 : 0);
    return send_buf(conn, 200, "text/plain; version=0.0.4; charset=utf-8", &b);
}

static enum MHD_Result send_status(sl_server *s, struct MHD_Connection *conn) {
    srv_buf b = {0};
    pthread_mutex_lock(&s->mu);
    int64_t commit = s->commit_id;
    bool ready = s->ready;
    pthread_mutex_unlock(&s->mu);
    srv_buf_puts(&b, "{\"pipeline\":");
    const char *p = s->pipeline_name ? s->pipeline_name : "";
    srv_buf_json_str(&b, p, strlen(p));
    srv_buf_printf(&b,
                   ",\"commit_id\":%lld,\"ready\":%s,\"uptime_s\":%.1f,\"query_timeout_ms\":%d,"
                   "\"query_row_limit\":%d,\"query_max_bytes\":%zu}",
                   (long long)commit, ready ? "true" : "false",
                   (double)(sl_monotonic_us() - s->started_us) / 1e6, s->timeout_ms, s->row_limit,
                   s->max_bytes);
    return send_buf(conn, 200, "application/json", &b);
}

/* "/api/tables/NAME/stream" -> NAME (libmicrohttpd has already %-decoded the path). */
static bool stream_table(const char *url, char *name, size_t cap) {
    static const char pre[] = "/api/tables/", suf[] = "/stream";
    size_t n = strlen(url);
    if (strncmp(url, pre, sizeof pre - 1) || n <= sizeof pre - 1 + sizeof suf - 1) return false;
    if (strcmp(url + n - (sizeof suf - 1), suf)) return false;
    size_t len = n - (sizeof pre - 1) - (sizeof suf - 1);
    if (len == 0 || len >= cap) return false;
    memcpy(name, url + sizeof pre - 1, len);
    name[len] = 0;
    return true;
}

static int route_of(const char *url) {
    static const struct {
        const char *path;
        int route;
    } exact[] = {{"/", SRV_R_INDEX},
                 {"/index.html", SRV_R_INDEX},
                 {"/pipeline", SRV_R_PIPELINE},
                 {"/sql", SRV_R_SQL},
                 {"/api/tables", SRV_R_TABLES},
                 {"/api/query", SRV_R_QUERY},
                 {"/api/dashboard", SRV_R_DASHBOARD},
                 {"/api/lineage", SRV_R_LINEAGE},
                 {"/api/status", SRV_R_STATUS},
                 {"/api/alerts", SRV_R_ALERTS},
                 {"/metrics", SRV_R_METRICS},
                 {"/healthz", SRV_R_HEALTHZ},
                 {"/readyz", SRV_R_READYZ}};
    for (size_t i = 0; i < sizeof exact / sizeof exact[0]; i++)
        if (!strcmp(url, exact[i].path)) return exact[i].route;
    if (!strncmp(url, "/static/", 8)) return SRV_R_STATIC;
    char name[300];
    if (stream_table(url, name, sizeof name)) return SRV_R_STREAM;
    return SRV_R_OTHER;
}

/* ---- /api/query parameters ---- */

/* p_NAME=VALUE arguments into srv_params; ps->n counts past the maximum so
 * the caller can refuse rather than silently drop one. The strings are
 * libmicrohttpd's, valid for the request. */
static enum MHD_Result collect_param(void *cls, enum MHD_ValueKind kind, const char *key,
                                     const char *value) {
    (void)kind;
    srv_params *ps = cls;
    if (!key || strncmp(key, "p_", 2) || !key[2]) return MHD_YES;
    if (ps->n < SRV_PARAMS_MAX) {
        ps->name[ps->n] = key + 2;
        ps->value[ps->n] = value ? value : "";
    }
    ps->n++;
    return MHD_YES;
}

/* ---- SSE cap ---- */

static enum MHD_Result send_busy(struct MHD_Connection *conn, const char *msg) {
    srv_buf b = {0};
    srv_buf_puts(&b, "{\"error\":");
    srv_buf_json_str(&b, msg, strlen(msg));
    srv_buf_puts(&b, "}");
    if (b.oom) {
        srv_buf_free(&b);
        return MHD_NO;
    }
    struct MHD_Response *r = MHD_create_response_from_buffer(b.n, b.p, MHD_RESPMEM_MUST_FREE);
    if (!r) {
        srv_buf_free(&b);
        return MHD_NO;
    }
    MHD_add_response_header(r, "Content-Type", "application/json");
    MHD_add_response_header(r, "Cache-Control", "no-store");
    MHD_add_response_header(r, "Retry-After", "10");
    MHD_add_response_header(r, "Connection", "close"); /* no idle keep-alive left behind */
    return send_response(conn, 503, r);
}

static enum MHD_Result serve(sl_server *s, int route, void *cls, struct MHD_Connection *conn,
                             const char *url, const char *method, const char *upload_data,
                             size_t *upload_data_size, void **req_cls) {
    (void)upload_data, (void)upload_data_size, (void)req_cls, (void)cls;
    if (strcmp(method, "GET") && strcmp(method, "HEAD"))
        return send_json_error(conn, 405, "only GET is served");
    if (route == SRV_R_HEALTHZ) return send_text(conn, 200, "text/plain; charset=utf-8", "ok\n");
    if (route == SRV_R_READYZ) { /* open, like /healthz: load balancers ask it */
        char why[sizeof s->not_ready + 16];
        pthread_mutex_lock(&s->mu);
        bool ready = s->ready;
        snprintf(why, sizeof why, "not ready%s%s\n", s->not_ready[0] ? ": " : "", s->not_ready);
        pthread_mutex_unlock(&s->mu);
        /* the reason (a store's error text) only for a valid token */
        if (!ready && sl_token_set_count(req_set) && !authorized(s, conn))
            snprintf(why, sizeof why, "not ready\n");
        return send_text(conn, ready ? 200 : 503, "text/plain; charset=utf-8",
                         ready ? "ready\n" : why);
    }
    if (!strcmp(url, "/favicon.ico")) { /* browsers ask on every page; no icon, no error */
        struct MHD_Response *r =
            MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
        return send_response(conn, 204, r);
    }
    bool page = route == SRV_R_INDEX || route == SRV_R_PIPELINE || route == SRV_R_SQL;
    bool auth = sl_token_set_count(req_set) > 0;
    const srv_token *tok = auth ? authorized(s, conn) : NULL;
    if (auth && !tok) {
        if (page) return send_text(conn, 401, "text/html; charset=utf-8", login_page);
        struct MHD_Response *r = MHD_create_response_from_buffer(
            sizeof "{\"error\":\"unauthorized\"}" - 1, (void *)"{\"error\":\"unauthorized\"}",
            MHD_RESPMEM_PERSISTENT);
        if (!r) return MHD_NO;
        MHD_add_response_header(r, "Content-Type", "application/json");
        MHD_add_response_header(r, "WWW-Authenticate", "Bearer realm=\"sluice\"");
        return send_response(conn, 401, r);
    }
    req_token = tok;
    unsigned need = route_scope(route);
    if (tok && need && !(tok->scopes & (need | SL_SCOPE_ADMIN)))
        return send_json_error(conn, 403, "this token may not use this endpoint");
    const char *qtok = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "token");
    if (page && tok && qtok)
        return send_login_redirect(conn, qtok,
                                   route == SRV_R_PIPELINE ? "/pipeline"
                                   : route == SRV_R_SQL    ? "/sql"
                                                           : "/");
    switch (route) {
    case SRV_R_INDEX:
        return send_asset(conn, "index.html");
    case SRV_R_PIPELINE:
        return send_asset(conn, "pipeline.html");
    case SRV_R_SQL:
        return send_asset(conn, "sql.html");
    case SRV_R_STATIC:
        return send_asset(conn, url + 8);
    case SRV_R_METRICS:
        return send_metrics(s, conn);
    case SRV_R_STATUS:
        return send_status(s, conn);
    case SRV_R_DASHBOARD:
    case SRV_R_LINEAGE: {
        srv_buf b = {0};
        pthread_mutex_lock(&s->mu); /* a reload may replace them (sl_server_set_pages) */
        const char *j = route == SRV_R_DASHBOARD ? s->dashboard_json : s->lineage_json;
        if (j) srv_buf_puts(&b, j);
        pthread_mutex_unlock(&s->mu);
        if (!j && route == SRV_R_DASHBOARD) {
            const char *p = s->pipeline_name ? s->pipeline_name : "sluice";
            srv_buf_puts(&b, "{\"title\":");
            srv_buf_json_str(&b, p, strlen(p));
            srv_buf_puts(&b, ",\"panels\":[]}");
        } else if (!j) {
            srv_buf_puts(&b, "{\"nodes\":[],\"edges\":[]}");
        }
        return send_buf(conn, 200, "application/json", &b);
    }
    case SRV_R_TABLES: {
        srv_buf b = {0};
        int st = srv_tables(s, &b);
        return send_buf(conn, st, "application/json", &b);
    }
    case SRV_R_QUERY: {
        const char *sql = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "sql");
        const char *lim = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "limit");
        long limit = lim ? strtol(lim, NULL, 10) : 0;
        srv_params ps = {.json =
                             MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "params")};
        MHD_get_connection_values(conn, MHD_GET_ARGUMENT_KIND, collect_param, &ps);
        if (ps.n > SRV_PARAMS_MAX)
            return send_json_error(conn, 400, "too many p_NAME parameters (at most 32)");
        srv_buf b = {0};
        int st = srv_query(s, sql, limit, &ps, &b);
        return send_buf(conn, st, "application/json", &b);
    }
    case SRV_R_ALERTS: {
        srv_buf b = {0};
        int st = srv_alerts(s, MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "state"),
                            MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "limit"), &b);
        return send_buf(conn, st, "application/json", &b);
    }
    case SRV_R_STREAM: {
        char name[300];
        stream_table(url, name, sizeof name);
        /* the stream reads the table with the server's own statements: the
         * token's tables are checked here */
        if (!srv_table_allowed(tok, name, NULL))
            return send_json_error(conn, 403, "not allowed: this token may not read the table");
        /* the slot is taken here and given back by the stream's end (sse.c) */
        if (atomic_fetch_add(&s->sse_streams, 1) >= s->max_sse) {
            atomic_fetch_sub(&s->sse_streams, 1);
            atomic_fetch_add(&s->sse_refused, 1);
            return send_busy(conn, "too many live streams: retry later");
        }
        int st = 500;
        srv_buf err = {0};
        struct MHD_Response *r = srv_sse_response(
            s, name, MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "from"),
            MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "where"), &st, &err);
        if (!r) return send_buf(conn, st, "application/json", &err);
        return send_response(conn, st, r);
    }
    default:
        return send_json_error(conn, 404, "not found");
    }
}

static void client_addr(struct MHD_Connection *conn, char *out, size_t cap) {
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    out[0] = 0;
    if (!ci || !ci->client_addr) return;
    socklen_t len = ci->client_addr->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
                                                           : sizeof(struct sockaddr_in);
    if (getnameinfo(ci->client_addr, len, out, (socklen_t)cap, NULL, 0, NI_NUMERICHOST)) out[0] = 0;
}

/* Every request that presented a valid token, but for static assets and
 * health checks: who (token id, address), what (route, SQL or table) and
 * how it ended, as a log line now and a _sluice_audit row at the engine's
 * next commit. The token's value is never part of it. */
static void audit(sl_server *s, struct MHD_Connection *conn, int route, const char *url,
                  const char *method) {
    const srv_token *t = req_token;
    if (!t || route == SRV_R_STATIC || route == SRV_R_HEALTHZ || route == SRV_R_READYZ) return;
    char addr[64];
    client_addr(conn, addr, sizeof addr);
    const char *detail = "";
    char name[300];
    if (route == SRV_R_QUERY) {
        const char *sql = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "sql");
        detail = sql ? sql : "";
    } else if (route == SRV_R_STREAM && stream_table(url, name, sizeof name)) {
        detail = name;
    }
    size_t dl = strlen(detail);
    char *esc = malloc(dl * 6 + 1);
    char id[6 * sizeof t->id];
    sl_json_escape(id, sizeof id, t->id, (int)strlen(t->id));
    if (esc) sl_json_escape(esc, (int)(dl * 6 + 1), detail, (int)dl);
    sl_log_info("audit",
                "\"token\":\"%s\",\"addr\":\"%s\",\"method\":\"%s\",\"route\":\"%s\","
                "\"status\":%d,\"sql\":\"%s\"",
                id, addr, !strcmp(method, "HEAD") ? "HEAD" : "GET", route_label[route], req_status,
                esc ? esc : "");
    free(esc);
    sl_access_audit_push(s->access, t->id, addr, !strcmp(method, "HEAD") ? "HEAD" : "GET",
                         route_label[route], detail, req_status);
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *conn, const char *url,
                              const char *method, const char *upload_data, size_t *upload_data_size,
                              void **req_cls) {
    sl_server *s = cls;
    int route = route_of(url);
    atomic_fetch_add(&s->requests[route], 1);
    req_token = NULL;
    req_status = 0;
    sl_token_set *set = sl_access_tokens(s->access);
    req_set = set;
    enum MHD_Result r =
        serve(s, route, cls, conn, url, method, upload_data, upload_data_size, req_cls);
    if (req_token && req_status) audit(s, conn, route, url, method);
    req_token = NULL;
    req_set = NULL;
    sl_token_set_release(set);
    return r;
}

/* ---- lifecycle ---- */

static char *dup_or_null(const char *p) { return p ? strdup(p) : NULL; }

static void server_free(sl_server *s) {
    if (!s) return;
    srv_pool_close(s);
    pthread_mutex_destroy(&s->pool_mu);
    pthread_cond_destroy(&s->cv);
    pthread_mutex_destroy(&s->mu);
    if (s->own_access) sl_access_free(s->access);
    free(s->db_path);
    free(s->pg_url);
    free(s->pipeline_name);
    free(s->dashboard_json);
    free(s->lineage_json);
    free(s->metrics);
    free(s);
}

sl_server *sl_server_start(const sl_server_config *cfg, sl_error *err) {
    if (!cfg || !cfg->db_path) {
        sl_error_set(err, SL_EINVAL, "server: db_path is required");
        return NULL;
    }
    sl_server *s = calloc(1, sizeof *s);
    if (!s) {
        sl_error_set(err, SL_ENOMEM, "server: out of memory");
        return NULL;
    }
    pthread_mutex_init(&s->mu, NULL);
    pthread_mutex_init(&s->pool_mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca,
                              CLOCK_MONOTONIC); /* SSE waits must not jump with the wall clock */
    pthread_cond_init(&s->cv, &ca);
    pthread_condattr_destroy(&ca);
    s->started_us = sl_monotonic_us();
    if (cfg->access) {
        s->access = cfg->access;
    } else {
        sl_token_set *ts = NULL;
        if (!(s->access = sl_access_new())) {
            sl_error_set(err, SL_ENOMEM, "server: out of memory");
            server_free(s);
            return NULL;
        }
        s->own_access = true;
        if ((cfg->token && *cfg->token) || cfg->ntokens > 0) {
            if (!(ts = sl_token_set_build(cfg->token, cfg->tokens, cfg->ntokens, err))) {
                char m[SL_ERROR_MAX];
                snprintf(m, sizeof m, "%s", err->msg);
                sl_error_set(err, err->code, "server %s", m);
                server_free(s);
                return NULL;
            }
        }
        sl_access_swap(s->access, ts);
    }
    s->db_path = strdup(cfg->db_path);
    if (cfg->pg_url) s->pg_url = strdup(cfg->pg_url);
    s->pipeline_name = dup_or_null(cfg->pipeline_name);
    s->dashboard_json = dup_or_null(cfg->dashboard_json);
    s->lineage_json = dup_or_null(cfg->lineage_json);
    if (!s->db_path || (cfg->pipeline_name && !s->pipeline_name) ||
        (cfg->dashboard_json && !s->dashboard_json) || (cfg->lineage_json && !s->lineage_json)) {
        sl_error_set(err, SL_ENOMEM, "server: out of memory");
        server_free(s);
        return NULL;
    }
    s->timeout_ms = cfg->query_timeout_ms > 0 ? cfg->query_timeout_ms : 2000;
    s->row_limit = cfg->query_row_limit > 0 ? cfg->query_row_limit : 10000;
    s->max_bytes = cfg->query_max_bytes > 0 ? (size_t)cfg->query_max_bytes : (size_t)32 << 20;
    s->max_sse = cfg->max_sse_streams > 0 ? cfg->max_sse_streams : 64;
    s->on_connection = cfg->on_connection;
    s->ud = cfg->ud;

    sl_httpd_config hc = {.listen = cfg->listen && *cfg->listen ? cfg->listen : "127.0.0.1:8080",
                          .what = "server",
                          .max_connections = cfg->max_connections,
                          .max_connections_per_ip = cfg->max_connections_per_ip,
                          .header_timeout_ms = cfg->header_timeout_ms,
                          .tls = cfg->tls,
                          .handler = handle,
                          .ud = s};
    s->httpd = sl_httpd_start(&hc, err);
    if (!s->httpd) {
        server_free(s);
        return NULL;
    }
    s->port = sl_httpd_port(s->httpd);
    sl_token_set *ts = sl_access_tokens(s->access);
    sl_log_info("http server listening", "\"port\":%d,\"auth\":%s,\"tls\":%s", s->port,
                sl_token_set_count(ts) ? "true" : "false", cfg->tls ? "true" : "false");
    sl_token_set_release(ts);
    return s;
}

int sl_server_port(const sl_server *s) { return s ? s->port : 0; }

void sl_server_publish(sl_server *s, int64_t commit_id, const char *metrics_text) {
    if (!s) return;
    char *copy = metrics_text ? sl_xstrdup(metrics_text) : NULL;
    pthread_mutex_lock(&s->mu);
    s->commit_id = commit_id;
    s->publish_seq++;
    if (copy) {
        free(s->metrics);
        s->metrics = copy;
    }
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
}

void sl_server_set_pages(sl_server *s, const char *dashboard_json, const char *lineage_json) {
    if (!s) return;
    char *d = dashboard_json ? strdup(dashboard_json) : NULL;
    char *l = lineage_json ? strdup(lineage_json) : NULL;
    pthread_mutex_lock(&s->mu);
    char *od = s->dashboard_json, *ol = s->lineage_json;
    s->dashboard_json = d;
    s->lineage_json = l;
    pthread_mutex_unlock(&s->mu);
    free(od);
    free(ol);
}

void sl_server_set_ready(sl_server *s, bool ready) {
    if (!s) return;
    pthread_mutex_lock(&s->mu);
    s->ready = ready;
    s->not_ready[0] = 0;
    pthread_mutex_unlock(&s->mu);
}

void sl_server_set_not_ready(sl_server *s, const char *reason) {
    if (!s) return;
    pthread_mutex_lock(&s->mu);
    s->ready = false;
    snprintf(s->not_ready, sizeof s->not_ready, "%s", reason);
    pthread_mutex_unlock(&s->mu);
}

void sl_server_stop(sl_server *s) {
    if (!s) return;
    pthread_mutex_lock(&s->mu);
    s->stopping = true;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
    sl_httpd_stop(s->httpd); /* joins the connection threads; closes the listening socket */
    server_free(s);
}
