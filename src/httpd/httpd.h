/*
 * httpd.h - a libmicrohttpd daemon hardened against hostile clients, shared
 * by everything in Sluice that listens for HTTP: the dashboard server
 * (server/) and the `http` push source (sources/http_source.c).
 *
 * The rules live here once, so both listeners refuse the same abuse the
 * same way:
 *   - one thread per connection (a handler may block: the http source waits
 *     for the commit before answering), so connections are the scarce
 *     resource: at most max_connections in all (default 512, at most half
 *     the descriptor limit) and max_connections_per_ip from one address;
 *   - a reaper thread closes a connection that has not sent a request's
 *     headers header_timeout_ms after connecting or after its last answer
 *     (slowloris: libmicrohttpd's own timeout counts any byte as activity,
 *     so a client trickling one header byte a second would never time
 *     out); 1 s when three quarters of max_connections are open, 200 ms at
 *     seven eighths, so health checks keep getting in;
 *   - no byte either way for 60 s ends a connection (a client that stopped
 *     reading its answer, or stopped sending its body);
 *   - libmicrohttpd's warnings are logged at most once a second, with the
 *     number suppressed, so a client sending garbage cannot fill the log;
 *   - bearer tokens are compared in constant time and never logged;
 *   - with TLS, every handshake takes the key pair as it is on disk now:
 *     the files are looked at (mtime, size) at most once a second and
 *     re-read when they changed, so a renewed certificate is served without
 *     a restart (a pair that does not load is logged and the last good one
 *     kept); with a client CA, a request from a client without a
 *     certificate signed by it is answered 403 and nothing else.
 * The reaper ends connections with shutdown(2): libmicrohttpd's thread sees
 * the end of the stream and closes the socket itself.
 */
#ifndef SL_HTTPD_HTTPD_H
#define SL_HTTPD_HTTPD_H

#include <microhttpd.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/error.h"
#include "spec/spec.h"

typedef struct sl_httpd sl_httpd;

/* libmicrohttpd's access handler, called on the connection's thread. */
typedef enum MHD_Result (*sl_httpd_handler)(void *ud, struct MHD_Connection *conn, const char *url,
                                            const char *method, const char *upload_data,
                                            size_t *upload_data_size, void **req_cls);
/* Optional: a request ended (answered, or the connection failed). */
typedef void (*sl_httpd_completed)(void *ud, struct MHD_Connection *conn, void **req_cls,
                                   enum MHD_RequestTerminationCode toe);

/* `tls: {cert, key, client_ca}` of a listener: PEM files, paths resolved
 * against the pipeline file (sl_spec_path). */
typedef struct sl_httpd_tls {
    char cert[SL_PATH_MAX];      /* the certificate chain, the server's first */
    char key[SL_PATH_MAX];       /* its private key (unencrypted) */
    char client_ca[SL_PATH_MAX]; /* "" = no client certificates asked for */
    const sl_node *cert_at, *key_at, *client_ca_at;
} sl_httpd_tls;

/* The option table of a `tls:` map (for SL_OPT_SUB rows and the docs). */
extern const sl_opt sl_httpd_tls_opts[];

/* Binds a `tls:` map into out and loads what it names, so that a missing
 * file, a certificate or key that does not parse, a key that is not the
 * certificate's, or a CA file without a certificate is refused when the
 * pipeline is loaded: SL_EINVAL with "file:line:col: <what> tls: ..." at the
 * option. */
int sl_httpd_tls_bind(const sl_node *map, const char *what, sl_httpd_tls *out, sl_error *err);

typedef struct sl_httpd_config {
    /* "host:port", "[v6]:port" or ":port"; port 0 picks a free one */
    const char *listen;
    const char *what; /* who listens, for errors and logs ("server", "source 'x'") */
    /* 0 = defaults: 512, 32, 10000 ms; max_connections is lowered to half the
     * descriptor limit (at least 64) when it is above */
    int max_connections, max_connections_per_ip, header_timeout_ms;
    size_t connection_memory; /* libmicrohttpd's per-connection buffer; 0 = 256 KiB */
    const sl_httpd_tls *tls;  /* NULL = plain HTTP; copied */
    sl_httpd_handler handler;
    sl_httpd_completed completed;
    void *ud;
} sl_httpd_config;

/* Binds, listens and starts serving. NULL with err: SL_EINVAL (bad
 * address, TLS files that do not load), SL_EIO (cannot bind: the errno's
 * text), SL_ENOMEM. */
sl_httpd *sl_httpd_start(const sl_httpd_config *c, sl_error *err);
int sl_httpd_port(const sl_httpd *h);
int sl_httpd_max_connections(const sl_httpd *h);

typedef struct sl_httpd_stats {
    int connections;         /* open now */
    uint64_t slow_closed;    /* closed by the reaper */
    uint64_t log_suppressed; /* warnings not logged */
} sl_httpd_stats;
void sl_httpd_stats_get(sl_httpd *h, sl_httpd_stats *out);

/* Stops the reaper and the daemon (joins every connection thread: wake
 * handlers that wait before calling it) and frees h. NULL is fine. */
void sl_httpd_stop(sl_httpd *h);

/* Constant time in the length of the expected token: the time taken tells
 * nothing about how much of a guess was right. */
bool sl_httpd_token_equal(const char *token, size_t token_len, const char *given, size_t glen);
/* Whether the request has `Authorization: Bearer <token>`. */
bool sl_httpd_bearer_ok(struct MHD_Connection *conn, const char *token, size_t token_len);

#endif
