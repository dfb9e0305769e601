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
 *     certificate signed by it is answered 403 and nothing else (the CA
 *     file is watched like the pair: a renewed one verifies the next
 *     connections).
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

/* ---- tokens and audit shared by the listeners (access.c) ----
 * The dashboard server and the http ingest source accept the same scoped
 * tokens; the set lives here, below both (sources must not depend on the
 * server), and is swapped as a whole by a reload. */

/* Token scopes. read: the server's pages and read API; metrics: /metrics;
 * ingest: POST to an http source with `auth: server`; admin: everything. */
enum { SL_SCOPE_READ = 1, SL_SCOPE_METRICS = 2, SL_SCOPE_ADMIN = 4, SL_SCOPE_INGEST = 8 };
#define SL_TOKENS_MAX 32
#define SL_TOKEN_TABLES_MAX 32

/* One token as configured. Exactly one of token, sha256, file gives the secret. */
typedef struct sl_token_conf {
    const char *id;     /* named in the audit log, never the secret */
    const char *token;  /* the secret itself (from ${VAR} in the pipeline file) */
    const char *sha256; /* or the hex SHA-256 of the secret */
    const char *file;   /* or a file holding the secret (trailing newlines dropped) */
    unsigned scopes;    /* SL_SCOPE_* */
    /* globs (fnmatch) of the tables its SQL may read; 0: every table. The
     * quarantine and _sluice_audit tables only when named exactly. */
    int ntables;
    const char *tables[SL_TOKEN_TABLES_MAX];
} sl_token_conf;

/* A loaded token (read-only to users): the secret copied, or its SHA-256. */
typedef struct sl_token {
    char id[64];
    unsigned char secret[1024];
    size_t len;  /* of secret; 32 when hashed */
    bool hashed; /* secret is the SHA-256 of the token */
    unsigned scopes;
    int ntables;
    char *tables[SL_TOKEN_TABLES_MAX];
} sl_token;

/* An immutable, reference-counted set of tokens. */
typedef struct sl_token_set sl_token_set;
/* Loads admin (NULL or "": none; else the token "admin" with every scope)
 * and the n confs; a `file:` secret is read now. NULL with err (SL_EINVAL:
 * two tokens of one id, a bad sha256, an empty or unreadable file). */
sl_token_set *sl_token_set_build(const char *admin, const sl_token_conf *c, int n, sl_error *err);
void sl_token_set_release(sl_token_set *s); /* NULL is fine */
int sl_token_set_count(const sl_token_set *s);
/* The token equal to given, or NULL: compares with every token, each in
 * constant time. */
const sl_token *sl_token_set_match(const sl_token_set *s, const char *given, size_t glen);
/* The token of the request's `Authorization: Bearer`, or NULL. */
const sl_token *sl_token_set_bearer(const sl_token_set *s, struct MHD_Connection *conn);

/* The holder of the current set and of the audit ring; thread-safe. */
typedef struct sl_access sl_access;
sl_access *sl_access_new(void); /* NULL: out of memory */
void sl_access_free(sl_access *a);
/* Makes s (taken over; NULL: no tokens) the set new requests are checked
 * against; requests running keep theirs. */
void sl_access_swap(sl_access *a, sl_token_set *s);
/* The current set with a reference taken (release it when the request
 * ends), or NULL when there are no tokens. */
sl_token_set *sl_access_tokens(sl_access *a);

/* One audited action, as sl_access_audit_drain hands it over. HTTP
 * requests: method and route; other actions: method is what was done
 * (RELOAD, REFRESH, INGEST, ALERT-TEST) and route what it was done to. */
typedef struct sl_audit {
    int64_t ts_us;                                      /* wall clock */
    const char *token, *addr, *method, *route, *detail; /* "" when none */
    int status;
} sl_audit;
/* Queues a record (a bounded ring of 4096: beyond, the oldest are dropped
 * and counted). Never blocks on the store. NULL a is fine. */
void sl_access_audit_push(sl_access *a, const char *token, const char *addr, const char *method,
                          const char *route, const char *detail, int status);
/* The same, plus the JSON log line (`"msg":"audit"`). */
void sl_access_audit(sl_access *a, const char *token, const char *addr, const char *method,
                     const char *route, const char *detail, int status);
/* Records queued (plus one when some were dropped). */
size_t sl_access_audit_pending(sl_access *a);
/* The queued records, oldest first, given to fn on the caller's thread; a
 * non-zero return stops the drain and is returned (the records not yet
 * given are kept). *dropped (may be NULL): records dropped since the last
 * drain. The engine calls it inside its commit. */
int sl_access_audit_drain(sl_access *a, int (*fn)(void *ud, const sl_audit *r), void *ud,
                          uint64_t *dropped);

#endif
