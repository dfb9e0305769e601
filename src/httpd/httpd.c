/*
 * httpd.c - the hardened libmicrohttpd daemon (see httpd.h): listening
 * socket, connection tracking, the slow-header reaper, the log limiter and
 * token checks.
 *
 * We open the listening socket ourselves so "port busy" is reported with the
 * real errno, and port 0 tells us the port the kernel chose. Connections are
 * known from libmicrohttpd's connection notifications: each gets a tracker
 * holding when it began waiting for a request's headers; the access handler
 * wrapper marks it in a request, the completion callback starts the wait
 * again, and the reaper (four sweeps a second) shuts down those that waited
 * too long.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"
#include "core/timeutil.h"
#include "httpd/httpd.h"

/* One open connection: `since` is when it began waiting for a request's
 * headers (accepted, or its last response done); in_request once they are in. */
typedef struct cx {
    struct cx *prev, *next;
    int fd;
    struct sockaddr_storage peer; /* to tell a reused descriptor apart */
    socklen_t peer_len;
    int64_t since_us;
    bool in_request, reaped;
} cx;

struct sl_httpd {
    struct MHD_Daemon *mhd;
    int port, max_conns, max_per_ip, header_timeout_ms;
    char what[64];
    sl_httpd_handler handler;
    sl_httpd_completed completed;
    void *ud;

    pthread_mutex_t mu; /* guards the connection list and the log limiter */
    pthread_cond_t cv;  /* wakes the reaper to stop */
    cx *head;
    int ncx;
    bool reaper_started, reaper_stop;
    pthread_t reaper;
    int64_t log_last_us; /* warn lines: at most one a second */
    uint64_t log_suppressed_since;
    atomic_ullong slow_closed, log_suppressed;
};

bool sl_httpd_token_equal(const char *token, size_t token_len, const char *given, size_t glen) {
    unsigned char diff = (unsigned char)(glen != token_len);
    for (size_t i = 0; i < token_len; i++)
        diff |= (unsigned char)(token[i] ^ (i < glen ? given[i] : 0));
    return diff == 0;
}

bool sl_httpd_bearer_ok(struct MHD_Connection *conn, const char *token, size_t token_len) {
    const char *h =
        MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    if (!h || strncasecmp(h, "Bearer ", 7)) return false;
    const char *t = h + 7;
    while (*t == ' ')
        t++;
    return sl_httpd_token_equal(token, token_len, t, strlen(t));
}

/* ---- connections: tracking and reaper ---- */

static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
                          enum MHD_ConnectionNotificationCode code) {
    sl_httpd *h = cls;
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
        cx *x = calloc(1, sizeof *x);
        if (!x || !ci) {
            free(x);
            *socket_context = NULL;
            return;
        }
        x->fd = ci->connect_fd;
        x->peer_len = sizeof x->peer;
        if (getpeername(x->fd, (struct sockaddr *)&x->peer, &x->peer_len) != 0) x->peer_len = 0;
        x->since_us = sl_monotonic_us();
        pthread_mutex_lock(&h->mu);
        x->next = h->head;
        if (h->head) h->head->prev = x;
        h->head = x;
        h->ncx++;
        pthread_mutex_unlock(&h->mu);
        *socket_context = x;
    } else if (code == MHD_CONNECTION_NOTIFY_CLOSED) {
        /* called before libmicrohttpd closes the socket: once x is off the
         * list, the reaper can no longer shut down a reused descriptor */
        cx *x = *socket_context;
        if (!x) return;
        pthread_mutex_lock(&h->mu);
        if (x->prev)
            x->prev->next = x->next;
        else
            h->head = x->next;
        if (x->next) x->next->prev = x->prev;
        h->ncx--;
        pthread_mutex_unlock(&h->mu);
        free(x);
        *socket_context = NULL;
    }
}

static cx *conn_cx(struct MHD_Connection *conn) {
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    return ci ? ci->socket_context : NULL;
}

/* The headers are in: the connection is no longer waiting for them. */
static enum MHD_Result handle(void *cls, struct MHD_Connection *conn, const char *url,
                              const char *method, const char *version, const char *upload_data,
                              size_t *upload_data_size, void **req_cls) {
    (void)version;
    sl_httpd *h = cls;
    cx *x = conn_cx(conn);
    if (x) {
        pthread_mutex_lock(&h->mu);
        x->in_request = true;
        pthread_mutex_unlock(&h->mu);
    }
    return h->handler(h->ud, conn, url, method, upload_data, upload_data_size, req_cls);
}

/* Answer sent (or the request failed): a kept-alive connection waits for the
 * next request's headers from now on. */
static void request_done(void *cls, struct MHD_Connection *conn, void **req_cls,
                         enum MHD_RequestTerminationCode toe) {
    sl_httpd *h = cls;
    if (h->completed) h->completed(h->ud, conn, req_cls, toe);
    cx *x = conn_cx(conn);
    if (!x) return;
    pthread_mutex_lock(&h->mu);
    x->in_request = false;
    x->since_us = sl_monotonic_us();
    pthread_mutex_unlock(&h->mu);
}

static void *reaper_main(void *arg) {
    sl_httpd *h = arg;
    pthread_mutex_lock(&h->mu);
    while (!h->reaper_stop) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        ts.tv_nsec += 250 * 1000000L; /* four sweeps a second */
        if (ts.tv_nsec >= 1000000000L) ts.tv_sec++, ts.tv_nsec -= 1000000000L;
        pthread_cond_timedwait(&h->cv, &h->mu, &ts);
        if (h->reaper_stop) break;
        /* crowded: keep room for health checks by giving headers 1 s, and
         * 200 ms when the limit is near */
        int64_t limit_us = (int64_t)h->header_timeout_ms * 1000;
        if (h->ncx * 4 >= h->max_conns * 3 && limit_us > SL_US_PER_SEC) limit_us = SL_US_PER_SEC;
        if (h->ncx * 8 >= h->max_conns * 7 && limit_us > 200000) limit_us = 200000;
        int64_t now = sl_monotonic_us();
        for (cx *x = h->head; x; x = x->next) {
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
            atomic_fetch_add(&h->slow_closed, 1);
        }
    }
    pthread_mutex_unlock(&h->mu);
    return NULL;
}

/* libmicrohttpd's warnings (a malformed request, a refused connection) are
 * written at most once a second, with the number left out since the last
 * one: a client sending garbage must not fill the log. */
static void mhd_log(void *cls, const char *fmt, va_list ap) {
    sl_httpd *h = cls;
    uint64_t suppressed = 0;
    int64_t now = sl_monotonic_us();
    pthread_mutex_lock(&h->mu);
    bool quiet = h->log_last_us && now - h->log_last_us < SL_US_PER_SEC;
    if (quiet) {
        h->log_suppressed_since++;
    } else {
        suppressed = h->log_suppressed_since;
        h->log_suppressed_since = 0;
        h->log_last_us = now;
    }
    pthread_mutex_unlock(&h->mu);
    if (quiet) {
        atomic_fetch_add(&h->log_suppressed, 1);
        return;
    }
    char msg[512], esc[1100], what[160];
    vsnprintf(msg, sizeof msg, fmt, ap);
    size_t n = strlen(msg);
    while (n && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
        msg[--n] = 0;
    int e = sl_json_escape(esc, (int)sizeof esc, msg, (int)n);
    if (e < 0) e = 0;
    esc[e < (int)sizeof esc ? e : (int)sizeof esc - 1] = 0;
    e = sl_json_escape(what, (int)sizeof what, h->what, (int)strlen(h->what));
    if (e < 0) e = 0;
    what[e < (int)sizeof what ? e : (int)sizeof what - 1] = 0;
    sl_log_warn("http server", "\"listener\":\"%s\",\"detail\":\"%s\",\"suppressed\":%llu", what,
                esc, (unsigned long long)suppressed);
}

/* ---- lifecycle ---- */

/* Parses "host:port", "[v6]:port" or ":port" and returns a bound, listening
 * socket, or -1 with err filled. */
static int listen_on(const char *what, const char *listen_addr, int *is_v6, sl_error *err) {
    char host[256], port[16];
    const char *colon = strrchr(listen_addr, ':');
    if (!colon || !colon[1] || strlen(colon + 1) > 5 ||
        strspn(colon + 1, "0123456789") != strlen(colon + 1) || atol(colon + 1) > 65535) {
        sl_error_set(err, SL_EINVAL, "%s listen address '%s': expected host:port (port 0-65535)",
                     what, listen_addr);
        return -1;
    }
    snprintf(port, sizeof port, "%s", colon + 1);
    size_t hl = (size_t)(colon - listen_addr);
    const char *hs = listen_addr;
    if (hl >= 2 && hs[0] == '[' && hs[hl - 1] == ']') hs++, hl -= 2;
    if (hl >= sizeof host) {
        sl_error_set(err, SL_EINVAL, "%s listen address '%s': host too long", what, listen_addr);
        return -1;
    }
    memcpy(host, hs, hl);
    host[hl] = 0;
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_NUMERICSERV | AI_PASSIVE},
                    *ai = NULL;
    int g = getaddrinfo(hl ? host : NULL, port, &hints, &ai);
    if (g) {
        sl_error_set(err, SL_EINVAL, "%s listen address '%s': %s", what, listen_addr,
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

static void httpd_free(sl_httpd *h) {
    pthread_cond_destroy(&h->cv);
    pthread_mutex_destroy(&h->mu);
    free(h);
}

sl_httpd *sl_httpd_start(const sl_httpd_config *c, sl_error *err) {
    sl_httpd *h = calloc(1, sizeof *h);
    if (!h) {
        sl_error_set(err, SL_ENOMEM, "http listener: out of memory");
        return NULL;
    }
    snprintf(h->what, sizeof h->what, "%s", c->what ? c->what : "http listener");
    pthread_mutex_init(&h->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&h->cv, &ca);
    pthread_condattr_destroy(&ca);
    h->handler = c->handler;
    h->completed = c->completed;
    h->ud = c->ud;
    h->max_conns = c->max_connections > 0 ? c->max_connections : 512;
    struct rlimit nofile; /* a connection is a descriptor: keep half for the rest */
    if (getrlimit(RLIMIT_NOFILE, &nofile) == 0 && nofile.rlim_cur != RLIM_INFINITY &&
        (rlim_t)h->max_conns > nofile.rlim_cur / 2)
        h->max_conns = nofile.rlim_cur / 2 > 64 ? (int)(nofile.rlim_cur / 2) : 64;
    h->max_per_ip = c->max_connections_per_ip > 0 ? c->max_connections_per_ip : 32;
    h->header_timeout_ms = c->header_timeout_ms > 0 ? c->header_timeout_ms : 10000;

    const char *addr = c->listen && *c->listen ? c->listen : "127.0.0.1:8080";
    int v6 = 0;
    int fd = listen_on(h->what, addr, &v6, err);
    if (fd < 0) {
        httpd_free(h);
        return NULL;
    }
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0)
        h->port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                                 : ((struct sockaddr_in *)&ss)->sin_port);
    unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD |
                     MHD_USE_POLL | MHD_USE_ERROR_LOG;
    if (v6) flags |= MHD_USE_IPv6;
    /* CONNECTION_TIMEOUT: no byte either way for 60 s */
    h->mhd = MHD_start_daemon(
        flags, 0, NULL, NULL, handle, h, MHD_OPTION_EXTERNAL_LOGGER, mhd_log, h,
        MHD_OPTION_LISTEN_SOCKET, fd, MHD_OPTION_CONNECTION_LIMIT, (unsigned)h->max_conns,
        MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)h->max_per_ip, MHD_OPTION_CONNECTION_TIMEOUT,
        (unsigned)60, MHD_OPTION_NOTIFY_CONNECTION, on_connection, h, MHD_OPTION_NOTIFY_COMPLETED,
        request_done, h, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
        c->connection_memory ? c->connection_memory : (size_t)(256 * 1024), MHD_OPTION_END);
    if (!h->mhd) {
        close(fd);
        sl_error_set(err, SL_EIO, "cannot start the HTTP listener of %s on %s", h->what, addr);
        httpd_free(h);
        return NULL;
    }
    if (pthread_create(&h->reaper, NULL, reaper_main, h) != 0) {
        MHD_stop_daemon(h->mhd);
        sl_error_set(err, SL_EIO, "cannot start the reaper thread of %s", h->what);
        httpd_free(h);
        return NULL;
    }
    h->reaper_started = true;
    return h;
}

int sl_httpd_port(const sl_httpd *h) { return h ? h->port : 0; }
int sl_httpd_max_connections(const sl_httpd *h) { return h ? h->max_conns : 0; }

void sl_httpd_stats_get(sl_httpd *h, sl_httpd_stats *out) {
    pthread_mutex_lock(&h->mu);
    out->connections = h->ncx;
    pthread_mutex_unlock(&h->mu);
    out->slow_closed = atomic_load(&h->slow_closed);
    out->log_suppressed = atomic_load(&h->log_suppressed);
}

void sl_httpd_stop(sl_httpd *h) {
    if (!h) return;
    if (h->reaper_started) {
        pthread_mutex_lock(&h->mu);
        h->reaper_stop = true;
        pthread_cond_broadcast(&h->cv);
        pthread_mutex_unlock(&h->mu);
        pthread_join(h->reaper, NULL);
    }
    MHD_stop_daemon(h->mhd); /* joins the connection threads; closes the listening socket */
    httpd_free(h);
}
