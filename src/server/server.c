/*
 * server.c - the HTTP server: libmicrohttpd daemon, routing, auth, pages,
 * /metrics, health; see server.h for the endpoints.
 *
 * libmicrohttpd runs one thread per connection (MHD_USE_THREAD_PER_CONNECTION),
 * which lets an SSE stream simply block on a condition variable until the
 * next commit, and lets a slow query hold up only its own client. We open the
 * listening socket ourselves so "port busy" is reported with the real errno,
 * and port 0 tells us the port the kernel chose.
 *
 * The only state shared with the engine's thread is behind s->mu: the last
 * commit id, the last metrics text and a publish counter that SSE streams
 * wait on. Everything else is read-only after start or atomic counters.
 *
 * Hostile clients. A thread per connection makes connections the scarce
 * resource, so they are bounded three ways and /healthz, /readyz and
 * /metrics keep room: a client address may hold max_connections_per_ip,
 * SSE streams are capped (503 + Retry-After beyond), and a reaper thread
 * closes connections that have not sent a request's headers in time
 * (slowloris: libmicrohttpd's own timeout counts any byte as activity, so a
 * client trickling one header byte a second would never time out). The
 * reaper knows the connections from libmicrohttpd's connection
 * notifications and ends them with shutdown(2): libmicrohttpd's thread sees
 * the end of the stream and closes the socket itself.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"
#include "core/mem.h"
#include "core/timeutil.h"
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
                                                     "other"};

const sl_web_asset *sl_web_asset_find(const char *path) {
    for (size_t i = 0; i < sl_web_assets_count; i++)
        if (!strcmp(sl_web_assets[i].path, path)) return &sl_web_assets[i];
    return NULL;
}

/* ---- responses ---- */

static enum MHD_Result send_response(struct MHD_Connection *conn, int status,
                                     struct MHD_Response *r) {
    if (!r) return MHD_NO;
    MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
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

/* Constant time in the length of the expected token: the time taken tells
 * nothing about how much of a guess was right. */
static bool token_equal(const sl_server *s, const char *given, size_t glen) {
    unsigned char diff = (unsigned char)(glen != s->token_len);
    for (size_t i = 0; i < s->token_len; i++)
        diff |= (unsigned char)(s->token[i] ^ (i < glen ? given[i] : 0));
    return diff == 0;
}

static int hexval(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* The cookie holds the token hex-encoded (any byte is then cookie-safe). */
static bool cookie_ok(const sl_server *s, const char *hex) {
    size_t n = strlen(hex);
    if (n % 2 || n / 2 > 1024) return false;
    char tok[1024];
    for (size_t i = 0; i < n / 2; i++) {
        int hi = hexval(hex[2 * i]), lo = hexval(hex[2 * i + 1]);
        if (hi < 0 || lo < 0) return false;
        tok[i] = (char)(hi << 4 | lo);
    }
    return token_equal(s, tok, n / 2);
}

static bool authorized(const sl_server *s, struct MHD_Connection *conn) {
    if (!s->token) return true;
    const char *h =
        MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    if (h && !strncasecmp(h, "Bearer ", 7)) {
        const char *t = h + 7;
        while (*t == ' ')
            t++;
        if (token_equal(s, t, strlen(t))) return true;
    }
    const char *q = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "token");
    if (q && token_equal(s, q, strlen(q))) return true;
    const char *c = MHD_lookup_connection_value(conn, MHD_COOKIE_KIND, COOKIE_NAME);
    return c && cookie_ok(s, c);
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

/* A page opened with a valid ?token=: remember it in a cookie and reload
 * without it, so the token does not stay in the address bar or history. */
static enum MHD_Result send_login_redirect(sl_server *s, struct MHD_Connection *conn,
                                           const char *url) {
    srv_buf cookie = {0};
    srv_buf_puts(&cookie, COOKIE_NAME "=");
    for (size_t i = 0; i < s->token_len; i++)
        srv_buf_printf(&cookie, "%02x", (unsigned char)s->token[i]);
    srv_buf_puts(&cookie, "; Path=/; HttpOnly; SameSite=Strict");
    struct MHD_Response *r = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
    if (!r || cookie.oom) {
        srv_buf_free(&cookie);
        if (r) MHD_destroy_response(r);
        return MHD_NO;
    }
    MHD_add_response_header(r, "Set-Cookie", cookie.p);
    MHD_add_response_header(r, "Location", url);
    MHD_add_response_header(r, "Cache-Control", "no-store");
    srv_buf_free(&cookie);
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
    pthread_mutex_lock(&s->cx_mu);
    int ncx = s->ncx;
    pthread_mutex_unlock(&s->cx_mu);
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
        (unsigned long long)atomic_load(&s->sse_refused), ncx,
        (unsigned long long)atomic_load(&s->slow_closed),
        (unsigned long long)atomic_load(&s->log_dropped), ready ? 1 : 0);
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

/* ---- connections: tracking, reaper, SSE cap ---- */

static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
                          enum MHD_ConnectionNotificationCode code) {
    sl_server *s = cls;
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
        srv_cx *x = calloc(1, sizeof *x);
        if (!x || !ci) {
            free(x);
            *socket_context = NULL;
            return;
        }
        x->fd = ci->connect_fd;
        x->peer_len = sizeof x->peer;
        if (getpeername(x->fd, (struct sockaddr *)&x->peer, &x->peer_len) != 0) x->peer_len = 0;
        x->since_us = sl_monotonic_us();
        pthread_mutex_lock(&s->cx_mu);
        x->next = s->cx_head;
        if (s->cx_head) s->cx_head->prev = x;
        s->cx_head = x;
        s->ncx++;
        pthread_mutex_unlock(&s->cx_mu);
        *socket_context = x;
    } else if (code == MHD_CONNECTION_NOTIFY_CLOSED) {
        /* called before libmicrohttpd closes the socket: once x is off the
         * list, the reaper can no longer shut down a reused descriptor */
        srv_cx *x = *socket_context;
        if (!x) return;
        pthread_mutex_lock(&s->cx_mu);
        if (x->prev)
            x->prev->next = x->next;
        else
            s->cx_head = x->next;
        if (x->next) x->next->prev = x->prev;
        s->ncx--;
        pthread_mutex_unlock(&s->cx_mu);
        free(x);
        *socket_context = NULL;
    }
}

static srv_cx *conn_cx(struct MHD_Connection *conn) {
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    return ci ? ci->socket_context : NULL;
}

/* A request's headers are in: the connection is no longer waiting for them. */
static void request_began(sl_server *s, struct MHD_Connection *conn) {
    srv_cx *x = conn_cx(conn);
    if (!x) return;
    pthread_mutex_lock(&s->cx_mu);
    x->in_request = true;
    pthread_mutex_unlock(&s->cx_mu);
}

/* Answer sent (or the request failed): a kept-alive connection waits for the
 * next request's headers from now on. */
static void request_done(void *cls, struct MHD_Connection *conn, void **req_cls,
                         enum MHD_RequestTerminationCode toe) {
    (void)req_cls, (void)toe;
    sl_server *s = cls;
    srv_cx *x = conn_cx(conn);
    if (!x) return;
    pthread_mutex_lock(&s->cx_mu);
    x->in_request = false;
    x->since_us = sl_monotonic_us();
    pthread_mutex_unlock(&s->cx_mu);
}

static void *reaper_main(void *arg) {
    sl_server *s = arg;
    pthread_mutex_lock(&s->cx_mu);
    while (!s->reaper_stop) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        ts.tv_nsec += 250 * 1000000L; /* four sweeps a second */
        if (ts.tv_nsec >= 1000000000L) ts.tv_sec++, ts.tv_nsec -= 1000000000L;
        pthread_cond_timedwait(&s->cx_cv, &s->cx_mu, &ts);
        if (s->reaper_stop) break;
        /* crowded: keep room for health checks by giving headers 1 s, and
         * 200 ms when the limit is near */
        int64_t limit_us = (int64_t)s->header_timeout_ms * 1000;
        if (s->ncx * 4 >= s->max_conns * 3 && limit_us > SL_US_PER_SEC) limit_us = SL_US_PER_SEC;
        if (s->ncx * 8 >= s->max_conns * 7 && limit_us > 200000) limit_us = 200000;
        int64_t now = sl_monotonic_us();
        for (srv_cx *x = s->cx_head; x; x = x->next) {
            if (x->in_request || x->reaped || now - x->since_us < limit_us) continue;
            x->reaped = true;
            /* still the same socket? (a descriptor closed and reused by a
             * new connection has another peer) */
            struct sockaddr_storage peer;
            socklen_t len = sizeof peer;
            if (!x->peer_len || getpeername(x->fd, (struct sockaddr *)&peer, &len) != 0 ||
                len != x->peer_len || memcmp(&peer, &x->peer, len))
                continue;
            shutdown(x->fd, SHUT_RDWR);
            atomic_fetch_add(&s->slow_closed, 1);
        }
    }
    pthread_mutex_unlock(&s->cx_mu);
    return NULL;
}

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

static enum MHD_Result handle(void *cls, struct MHD_Connection *conn, const char *url,
                              const char *method, const char *version, const char *upload_data,
                              size_t *upload_data_size, void **req_cls) {
    (void)version, (void)upload_data, (void)upload_data_size, (void)req_cls;
    sl_server *s = cls;
    request_began(s, conn);
    int route = route_of(url);
    atomic_fetch_add(&s->requests[route], 1);
    if (strcmp(method, "GET") && strcmp(method, "HEAD"))
        return send_json_error(conn, 405, "only GET is served");
    if (route == SRV_R_HEALTHZ) return send_text(conn, 200, "text/plain; charset=utf-8", "ok\n");
    if (!strcmp(url, "/favicon.ico")) { /* browsers ask on every page; no icon, no error */
        struct MHD_Response *r =
            MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
        return send_response(conn, 204, r);
    }
    bool page = route == SRV_R_INDEX || route == SRV_R_PIPELINE;
    if (!authorized(s, conn)) {
        if (page) return send_text(conn, 401, "text/html; charset=utf-8", login_page);
        struct MHD_Response *r = MHD_create_response_from_buffer(
            sizeof "{\"error\":\"unauthorized\"}" - 1, (void *)"{\"error\":\"unauthorized\"}",
            MHD_RESPMEM_PERSISTENT);
        if (!r) return MHD_NO;
        MHD_add_response_header(r, "Content-Type", "application/json");
        MHD_add_response_header(r, "WWW-Authenticate", "Bearer realm=\"sluice\"");
        return send_response(conn, 401, r);
    }
    if (page && s->token && MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "token"))
        return send_login_redirect(s, conn, route == SRV_R_PIPELINE ? "/pipeline" : "/");
    switch (route) {
    case SRV_R_INDEX:
        return send_asset(conn, "index.html");
    case SRV_R_PIPELINE:
        return send_asset(conn, "pipeline.html");
    case SRV_R_STATIC:
        return send_asset(conn, url + 8);
    case SRV_R_READYZ: {
        pthread_mutex_lock(&s->mu);
        bool ready = s->ready;
        pthread_mutex_unlock(&s->mu);
        return send_text(conn, ready ? 200 : 503, "text/plain; charset=utf-8",
                         ready ? "ready\n" : "not ready\n");
    }
    case SRV_R_METRICS:
        return send_metrics(s, conn);
    case SRV_R_STATUS:
        return send_status(s, conn);
    case SRV_R_DASHBOARD:
    case SRV_R_LINEAGE: {
        const char *j = route == SRV_R_DASHBOARD ? s->dashboard_json : s->lineage_json;
        srv_buf b = {0};
        if (j) {
            srv_buf_puts(&b, j);
        } else if (route == SRV_R_DASHBOARD) {
            const char *p = s->pipeline_name ? s->pipeline_name : "sluice";
            srv_buf_puts(&b, "{\"title\":");
            srv_buf_json_str(&b, p, strlen(p));
            srv_buf_puts(&b, ",\"panels\":[]}");
        } else {
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
        srv_buf b = {0};
        int st = srv_query(s, sql, limit, &b);
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
        /* the slot is taken here and given back by the stream's end (sse.c) */
        if (atomic_fetch_add(&s->sse_streams, 1) >= s->max_sse) {
            atomic_fetch_sub(&s->sse_streams, 1);
            atomic_fetch_add(&s->sse_refused, 1);
            return send_busy(conn, "too many live streams: retry later");
        }
        int st = 500;
        srv_buf err = {0};
        struct MHD_Response *r = srv_sse_response(s, name, &st, &err);
        if (!r) return send_buf(conn, st, "application/json", &err);
        return send_response(conn, st, r);
    }
    default:
        return send_json_error(conn, 404, "not found");
    }
}

/* libmicrohttpd's warnings (a malformed request, a refused connection) are
 * written at most once a second, with the number left out since the last
 * one: a client sending garbage must not fill the log. */
static void mhd_log(void *cls, const char *fmt, va_list ap) {
    sl_server *s = cls;
    uint64_t suppressed = 0;
    if (s) {
        int64_t now = sl_monotonic_us();
        pthread_mutex_lock(&s->cx_mu);
        bool quiet = s->log_last_us && now - s->log_last_us < SL_US_PER_SEC;
        if (quiet) {
            s->log_suppressed++;
        } else {
            suppressed = s->log_suppressed;
            s->log_suppressed = 0;
            s->log_last_us = now;
        }
        pthread_mutex_unlock(&s->cx_mu);
        if (quiet) {
            atomic_fetch_add(&s->log_dropped, 1);
            return;
        }
    }
    char msg[512], esc[1100];
    vsnprintf(msg, sizeof msg, fmt, ap);
    size_t n = strlen(msg);
    while (n && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
        msg[--n] = 0;
    int e = sl_json_escape(esc, (int)sizeof esc, msg, (int)n);
    if (e < 0) e = 0;
    esc[e < (int)sizeof esc ? e : (int)sizeof esc - 1] = 0;
    sl_log_warn("http server", "\"detail\":\"%s\",\"suppressed\":%llu", esc,
                (unsigned long long)suppressed);
}

/* ---- lifecycle ---- */

static char *dup_or_null(const char *p) { return p ? strdup(p) : NULL; }

static void server_free(sl_server *s) {
    if (!s) return;
    srv_pool_close(s);
    pthread_cond_destroy(&s->cx_cv);
    pthread_mutex_destroy(&s->cx_mu);
    pthread_mutex_destroy(&s->pool_mu);
    pthread_cond_destroy(&s->cv);
    pthread_mutex_destroy(&s->mu);
    if (s->token) explicit_bzero(s->token, s->token_len);
    free(s->token);
    free(s->db_path);
    free(s->pipeline_name);
    free(s->dashboard_json);
    free(s->lineage_json);
    free(s->metrics);
    free(s);
}

/* Parses "host:port", "[v6]:port" or ":port" and returns a bound, listening
 * socket, or -1 with err filled. */
static int listen_on(const char *listen_addr, int *is_v6, sl_error *err) {
    char host[256], port[16];
    const char *colon = strrchr(listen_addr, ':');
    if (!colon || !colon[1] || strlen(colon + 1) > 5 ||
        strspn(colon + 1, "0123456789") != strlen(colon + 1) || atol(colon + 1) > 65535) {
        sl_error_set(err, SL_EINVAL,
                     "server listen address '%s': expected host:port (port 0-65535)", listen_addr);
        return -1;
    }
    snprintf(port, sizeof port, "%s", colon + 1);
    size_t hl = (size_t)(colon - listen_addr);
    const char *h = listen_addr;
    if (hl >= 2 && h[0] == '[' && h[hl - 1] == ']') h++, hl -= 2;
    if (hl >= sizeof host) {
        sl_error_set(err, SL_EINVAL, "server listen address '%s': host too long", listen_addr);
        return -1;
    }
    memcpy(host, h, hl);
    host[hl] = 0;
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_NUMERICSERV | AI_PASSIVE},
                    *ai = NULL;
    int g = getaddrinfo(hl ? host : NULL, port, &hints, &ai);
    if (g) {
        sl_error_set(err, SL_EINVAL, "server listen address '%s': %s", listen_addr,
                     gai_strerror(g));
        return -1;
    }
    int fd = -1, saved = 0;
    for (struct addrinfo *a = ai; a; a = a->ai_next) {
        fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
        if (fd < 0) {
            saved = errno;
            continue;
        }
        int one = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (bind(fd, a->ai_addr, a->ai_addrlen) == 0 && listen(fd, 64) == 0) {
            *is_v6 = a->ai_family == AF_INET6;
            break;
        }
        saved = errno;
        close(fd);
        fd = -1;
    }
    freeaddrinfo(ai);
    if (fd < 0) sl_error_set(err, SL_EIO, "cannot listen on %s: %s", listen_addr, strerror(saved));
    return fd;
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
    pthread_cond_init(&s->cx_cv, &ca);
    pthread_condattr_destroy(&ca);
    pthread_mutex_init(&s->cx_mu, NULL);
    s->started_us = sl_monotonic_us();
    if (cfg->token && *cfg->token) {
        s->token = strdup(cfg->token);
        s->token_len = strlen(cfg->token);
        if (s->token_len > 1024) {
            sl_error_set(err, SL_EINVAL, "server token longer than 1024 bytes");
            server_free(s);
            return NULL;
        }
    }
    s->db_path = strdup(cfg->db_path);
    s->pipeline_name = dup_or_null(cfg->pipeline_name);
    s->dashboard_json = dup_or_null(cfg->dashboard_json);
    s->lineage_json = dup_or_null(cfg->lineage_json);
    if ((cfg->token && *cfg->token && !s->token) || !s->db_path ||
        (cfg->pipeline_name && !s->pipeline_name) || (cfg->dashboard_json && !s->dashboard_json) ||
        (cfg->lineage_json && !s->lineage_json)) {
        sl_error_set(err, SL_ENOMEM, "server: out of memory");
        server_free(s);
        return NULL;
    }
    s->timeout_ms = cfg->query_timeout_ms > 0 ? cfg->query_timeout_ms : 2000;
    s->row_limit = cfg->query_row_limit > 0 ? cfg->query_row_limit : 10000;
    s->max_bytes = cfg->query_max_bytes > 0 ? (size_t)cfg->query_max_bytes : (size_t)32 << 20;
    s->max_conns = cfg->max_connections > 0 ? cfg->max_connections : 512;
    struct rlimit nofile; /* a connection is a descriptor, SSE streams hold SQLite's too */
    if (cfg->max_connections <= 0 && getrlimit(RLIMIT_NOFILE, &nofile) == 0 &&
        nofile.rlim_cur != RLIM_INFINITY && (rlim_t)s->max_conns > nofile.rlim_cur / 2)
        s->max_conns = nofile.rlim_cur / 2 > 64 ? (int)(nofile.rlim_cur / 2) : 64;
    s->max_conns_per_ip = cfg->max_connections_per_ip > 0 ? cfg->max_connections_per_ip : 32;
    s->max_sse = cfg->max_sse_streams > 0 ? cfg->max_sse_streams : 64;
    s->header_timeout_ms = cfg->header_timeout_ms > 0 ? cfg->header_timeout_ms : 10000;
    s->on_connection = cfg->on_connection;
    s->ud = cfg->ud;

    int v6 = 0;
    int fd = listen_on(cfg->listen && *cfg->listen ? cfg->listen : "127.0.0.1:8080", &v6, err);
    if (fd < 0) {
        server_free(s);
        return NULL;
    }
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0)
        s->port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                                 : ((struct sockaddr_in *)&ss)->sin_port);
    unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD |
                     MHD_USE_POLL | MHD_USE_ERROR_LOG;
    if (v6) flags |= MHD_USE_IPv6;
    /* CONNECTION_TIMEOUT: no byte either way for 60 s (a client that stopped
     * reading its answer); SSE streams send a heartbeat every 15 s */
    s->mhd = MHD_start_daemon(
        flags, 0, NULL, NULL, handle, s, MHD_OPTION_EXTERNAL_LOGGER, mhd_log, s,
        MHD_OPTION_LISTEN_SOCKET, fd, MHD_OPTION_CONNECTION_LIMIT, (unsigned)s->max_conns,
        MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)s->max_conns_per_ip,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)60, MHD_OPTION_NOTIFY_CONNECTION, on_connection, s,
        MHD_OPTION_NOTIFY_COMPLETED, request_done, s, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
        (size_t)(256 * 1024), MHD_OPTION_END);
    if (!s->mhd) {
        close(fd);
        sl_error_set(err, SL_EIO, "cannot start the HTTP server on %s",
                     cfg->listen ? cfg->listen : "127.0.0.1:8080");
        server_free(s);
        return NULL;
    }
    if (pthread_create(&s->reaper, NULL, reaper_main, s) != 0) {
        MHD_stop_daemon(s->mhd);
        sl_error_set(err, SL_EIO, "cannot start the HTTP server's reaper thread");
        server_free(s);
        return NULL;
    }
    s->reaper_started = true;
    sl_log_info("http server listening", "\"port\":%d,\"auth\":%s", s->port,
                s->token ? "true" : "false");
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

void sl_server_set_ready(sl_server *s, bool ready) {
    if (!s) return;
    pthread_mutex_lock(&s->mu);
    s->ready = ready;
    pthread_mutex_unlock(&s->mu);
}

void sl_server_stop(sl_server *s) {
    if (!s) return;
    pthread_mutex_lock(&s->mu);
    s->stopping = true;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
    if (s->reaper_started) {
        pthread_mutex_lock(&s->cx_mu);
        s->reaper_stop = true;
        pthread_cond_broadcast(&s->cx_cv);
        pthread_mutex_unlock(&s->cx_mu);
        pthread_join(s->reaper, NULL);
    }
    MHD_stop_daemon(s->mhd); /* joins the connection threads; closes the listening socket */
    server_free(s);
}
