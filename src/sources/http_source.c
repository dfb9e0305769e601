/*
 * http_source.c - the `http` source kind (source.h): clients POST records,
 * and are answered once those records are durably committed.
 *
 * Threads. The listener is httpd.h's hardened libmicrohttpd daemon, one
 * thread per connection. A connection's thread receives the body (bounded
 * by max_body_bytes), decodes it (gzip, zstd) and splits it into records
 * (http_body.h), queues the request and then *waits*: the engine's thread
 * takes queued requests in read(), hands their records to parse_msgs, and
 * the request's answer is released only by committed(), after the commit
 * holding its records is durable. So a 200 means stored, and a client that
 * retries whatever was not answered 200 loses nothing.
 *
 * Exactly once with Idempotency-Key. A request's key, with how many of its
 * records are stored and its answer, is written to _sluice_http_keys in
 * each_position, that is inside the engine's open transaction with the
 * records and positions: after a crash either all three are there or none.
 * A retry whose key is known within idempotency_horizon gets the first
 * answer and stores nothing. A request bigger than a batch is parsed in
 * several reads and may straddle a commit: its key is then stored with the
 * records done so far and no answer, and a retry after a crash skips those
 * records (the client resends the same body) and stores the rest. The keys
 * of the horizon are kept in memory (loaded at open), so the handler
 * threads never touch the engine's SQLite connection.
 *
 * Backpressure. Bytes being received or queued and not yet parsed are
 * bounded by max_pending_bytes and queued requests by max_pending_requests;
 * beyond, 429 with Retry-After (503 while shutting down). Memory is bounded
 * by those plus the requests parsed and waiting for their commit (one
 * commit interval's worth).
 *
 * Partitions. Every client address is a partition "http:ADDR" whose
 * position is the number of records received from it (stored or
 * quarantined), saved with each commit; part ids belong to the engine's
 * thread (handlers pass the address text).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"
#include "core/mem.h"
#include "core/timeutil.h"
#include "httpd/httpd.h"
#include "sources/check.h"
#include "sources/http_body.h"
#include "sources/source.h"

typedef struct {
    const char *listen, *path, *token;
    int auth; /* 0 token, 1 server */
    const sl_node *tls;
    bool otlp;
    int64_t max_body_bytes, max_pending_requests, max_pending_bytes, max_connections,
        max_connections_per_address, header_timeout, idempotency_horizon, answer_timeout;
} http_conf;

#define B(field) SL_OPT_BIND(http_conf, field)
static const sl_opt http_opts[] = {
    {"listen", SL_OPT_STRING, true, NULL, NULL,
     "TCP address:port to listen on (\"127.0.0.1:8090\", \"[::1]:8090\", \":8090\")", B(listen)},
    {"path", SL_OPT_STRING, false, NULL, "/ingest", "URL path that takes POSTed records", B(path)},
    {"tls", SL_OPT_MAP, false, NULL, NULL, "HTTPS: {cert, key, client_ca} PEM files", B(tls),
     SL_OPT_SUB(sl_httpd_tls_opts)},
    {"token", SL_OPT_STRING, false, NULL, NULL,
     "bearer token clients must send (Authorization: Bearer ...); give it as ${VAR}, never "
     "literally: 401 without it",
     B(token)},
    {"auth", SL_OPT_ENUM, false, "token|server", "token",
     "token: the source's own `token:` (none without it); server: the server's tokens "
     "(server.token, server.tokens) with the scope ingest or admin (a token without it: 403), "
     "rotated by a reload, each request audited per token",
     B(auth)},
    {"otlp", SL_OPT_BOOL, false, NULL, "false",
     "also take OpenTelemetry logs (OTLP/HTTP, JSON encoding) on POST /v1/logs", B(otlp)},
    {"max_body_bytes", SL_OPT_INT, false, NULL, "16777216",
     "largest request body, before and after decoding (larger: 413)", B(max_body_bytes),
     SL_OPT_RANGE(1024, 1073741824)},
    {"max_pending_requests", SL_OPT_INT, false, NULL, "64",
     "requests received and not yet parsed; more are answered 429 with Retry-After",
     B(max_pending_requests), SL_OPT_RANGE(1, 1000000)},
    {"max_pending_bytes", SL_OPT_INT, false, NULL, "67108864",
     "body bytes being received or waiting to be parsed; more are answered 429 with Retry-After",
     B(max_pending_bytes), SL_OPT_RANGE(65536, 17179869184.0)},
    {"max_connections", SL_OPT_INT, false, NULL, "512",
     "open connections in all (at most half the descriptor limit)", B(max_connections),
     SL_OPT_RANGE(1, 1000000)},
    {"max_connections_per_address", SL_OPT_INT, false, NULL, "32",
     "open connections from one client address; more are refused", B(max_connections_per_address),
     SL_OPT_RANGE(1, 1000000)},
    {"header_timeout", SL_OPT_DURATION, false, NULL, "10s",
     "a connection that has not sent a request's headers this long after connecting or after "
     "its last answer is closed (slow clients)",
     B(header_timeout), SL_OPT_RANGE(1000, 3600e6)},
    {"idempotency_horizon", SL_OPT_DURATION, false, NULL, "24h",
     "how long an Idempotency-Key is remembered: a retry within it gets the first answer and "
     "stores nothing",
     B(idempotency_horizon), SL_OPT_MIN(1000000)},
    {"answer_timeout", SL_OPT_DURATION, false, NULL, "60s",
     "longest a request waits for the commit holding its records; then 503 (a retry with the "
     "same Idempotency-Key stays exact)",
     B(answer_timeout), SL_OPT_MIN(100000)},
    {0},
};
#undef B

/* ---- remembered Idempotency-Keys ---- */

typedef struct ikey {
    struct ikey *next;
    char *key;
    int64_t at_us;
    int64_t records, accepted, quarantined; /* stored so far by earlier attempts */
    int status;                             /* 0 until answered */
    char *answer;
    bool inflight; /* a request with this key is being handled */
} ikey;

#define NBUCKETS 4096

enum { RQ_QUEUED, RQ_PARSED, RQ_COMMITTING, RQ_DONE };

typedef struct req {
    struct req *next;
    sl_http_records rec;
    size_t bytes; /* counted in pending_bytes until parsed */
    char addr[64];
    char token[64]; /* auth: server: the id of the token it came with */
    bool otlp;
    ikey *key; /* NULL without Idempotency-Key */
    int cursor, skip;
    int64_t accepted, quarantined;                /* with the earlier attempts' */
    int64_t c_records, c_accepted, c_quarantined; /* as of the last each_position */
    char first[120];                              /* the first record, for a 400 */
    int state, status, refs;
    char answer[512];
} req;

typedef struct {
    char *name;
    int64_t pos;
    bool dirty;
} part;

typedef struct {
    char *listen, *path, *token, name[64], format[16];
    size_t token_len;
    bool server_auth; /* auth: server: the pipeline's tokens (env.access) */
    bool otlp, json;
    http_conf c;
    sl_source_env env;
    sl_httpd *httpd;
    int efd;
    sl_httpd_tls *tls; /* NULL: plain HTTP */

    pthread_mutex_t mu; /* guards everything below until the engine-only part */
    pthread_cond_t cv;  /* broadcast when requests are answered */
    req *qhead, *qtail; /* queued, in arrival order */
    req *parsed;        /* parsed, waiting for the next each_position */
    req *committing;    /* in the commit being written */
    int64_t pending_requests, pending_bytes;
    int active; /* requests begun and not yet completed (answer sent or failed) */
    ikey *keys[NBUCKETS];
    int64_t nkeys;
    bool stopping;
    int64_t refused, requests, bad_requests;

    /* the engine's thread only */
    part *parts;
    int nparts, cparts;
    const char **names;
    sl_http_records held; /* records of the last finished request: the batch's rows point
                             into them until the next read */
    int64_t idle_since, last_purge_us;
    bool exhausted;
} http_src;

static unsigned key_hash(const char *k) {
    unsigned h = 2166136261u;
    for (; *k; k++)
        h = (h ^ (unsigned char)*k) * 16777619u;
    return h % NBUCKETS;
}

static ikey *key_find(http_src *s, const char *k) {
    for (ikey *e = s->keys[key_hash(k)]; e; e = e->next)
        if (!strcmp(e->key, k)) return e;
    return NULL;
}

static ikey *key_add(http_src *s, const char *k, int64_t at_us) {
    ikey *e = sl_xcalloc(1, sizeof *e);
    e->key = sl_xstrdup(k);
    e->at_us = at_us;
    unsigned h = key_hash(k);
    e->next = s->keys[h];
    s->keys[h] = e;
    s->nkeys++;
    return e;
}

static void keys_free(http_src *s) {
    for (int i = 0; i < NBUCKETS; i++)
        for (ikey *e = s->keys[i], *n; e; e = n) {
            n = e->next;
            free(e->key);
            free(e->answer);
            free(e);
        }
    memset(s->keys, 0, sizeof s->keys);
    s->nkeys = 0;
}

/* ---- create / destroy ---- */

static int http_create(const sl_node *n, const sl_source_env *env, void **self,
                       sl_source_info *info, sl_error *err) {
    (void)info;
    char what[128];
    snprintf(what, sizeof what, "source '%s'", env->name);
    http_conf c;
    if (sl_spec_bind(n, http_opts, what, &c, err)) return SL_EINVAL;
    const char *colon = strrchr(c.listen, ':');
    if (!colon || !colon[1] || strlen(colon + 1) > 5 ||
        strspn(colon + 1, "0123456789") != strlen(colon + 1) || atol(colon + 1) > 65535)
        return sl_node_error(err, sl_node_get(n, "listen"),
                             "%s: listen must be host:port (the port a number 0..65535)", what);
    if (!c.path || c.path[0] != '/')
        return sl_node_error(err, sl_node_get(n, "path"), "%s: path must start with '/'", what);
    sl_httpd_tls *tls = NULL;
    if (c.tls) {
        tls = sl_xcalloc(1, sizeof *tls);
        if (sl_httpd_tls_bind(c.tls, what, tls, err)) {
            free(tls);
            return SL_EINVAL;
        }
    }
    http_src *s = sl_xcalloc(1, sizeof *s);
    s->c = c;
    s->tls = tls;
    s->listen = sl_xstrdup(c.listen);
    s->path = sl_xstrdup(c.path);
    if (c.auth == 1) {
        if (c.token && *c.token) {
            free(s->listen);
            free(s->path);
            free(s);
            free(tls);
            return sl_node_error(err, sl_node_get(n, "token"),
                                 "%s: auth: server takes the server's tokens; give no token: here",
                                 what);
        }
        s->server_auth = true;
    }
    if (c.token && *c.token) {
        s->token = sl_xstrdup(c.token);
        s->token_len = strlen(c.token);
    }
    s->otlp = c.otlp;
    s->efd = -1;
    snprintf(s->name, sizeof s->name, "%s", env->name);
    pthread_mutex_init(&s->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&s->cv, &ca);
    pthread_condattr_destroy(&ca);
    *self = s;
    return 0;
}

static void http_close_(void *self);

static void http_destroy(void *self) {
    http_src *s = self;
    http_close_(s);
    pthread_cond_destroy(&s->cv);
    pthread_mutex_destroy(&s->mu);
    if (s->token) explicit_bzero(s->token, s->token_len);
    free(s->token);
    free(s->listen);
    free(s->path);
    free(s->tls);
    free(s);
}

/* ---- the connection threads ---- */

typedef struct {
    char *body;
    size_t len, cap;
    size_t counted; /* bytes of this request in pending_bytes */
    size_t expect;  /* Content-Length, 0 when not given */
    bool too_big, over_budget, otlp;
    char token[64]; /* auth: server: the token's id */
} upload;

static void req_unref(http_src *s, req *r) { /* under s->mu */
    (void)s;
    if (--r->refs) return;
    sl_http_records_free(&r->rec);
    free(r);
}

static enum MHD_Result respond(struct MHD_Connection *conn, int status, const char *body,
                               const char *retry_after, bool replayed) {
    struct MHD_Response *r =
        MHD_create_response_from_buffer(strlen(body), (void *)body, MHD_RESPMEM_MUST_COPY);
    if (!r) return MHD_NO;
    MHD_add_response_header(r, "Content-Type", "application/json");
    MHD_add_response_header(r, "Cache-Control", "no-store");
    MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
    if (retry_after) MHD_add_response_header(r, "Retry-After", retry_after);
    if (replayed) MHD_add_response_header(r, "Idempotent-Replayed", "true");
    if (status == 401) MHD_add_response_header(r, "WWW-Authenticate", "Bearer realm=\"sluice\"");
    if (status == 413 || status == 429 || status == 503)
        MHD_add_response_header(r, "Connection", "close");
    enum MHD_Result ret = MHD_queue_response(conn, (unsigned)status, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result respond_error(struct MHD_Connection *conn, int status, const char *msg) {
    char body[600], esc[400];
    int e = sl_json_escape(esc, (int)sizeof esc, msg, (int)strlen(msg));
    if (e < 0 || e >= (int)sizeof esc) e = 0;
    esc[e] = 0;
    snprintf(body, sizeof body, "{\"error\":\"%s\"}", esc);
    const char *retry = status == 429 ? "1" : status == 503 ? "5" : NULL;
    return respond(conn, status, body, retry, false);
}

static void client_addr(struct MHD_Connection *conn, char *out, size_t cap) {
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    snprintf(out, cap, "http:unknown");
    if (!ci || !ci->client_addr) return;
    char a[INET6_ADDRSTRLEN] = "";
    const struct sockaddr *sa = ci->client_addr;
    if (sa->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, a, sizeof a);
    else if (sa->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, a, sizeof a);
    snprintf(out, cap, "http:%s", a);
}

/* Queues r and waits for its answer; returns with s->mu held. */
static void wait_answer(http_src *s, req *r) {
    struct timespec dl;
    clock_gettime(CLOCK_MONOTONIC, &dl);
    int64_t ns = dl.tv_nsec + (s->c.answer_timeout % 1000000) * 1000;
    dl.tv_sec += s->c.answer_timeout / 1000000 + ns / 1000000000;
    dl.tv_nsec = ns % 1000000000;
    while (r->state != RQ_DONE && !s->stopping)
        if (pthread_cond_timedwait(&s->cv, &s->mu, &dl) == ETIMEDOUT) break;
}

static enum MHD_Result finish(http_src *s, struct MHD_Connection *conn, upload *u) {
    if (u->too_big) {
        char m[96];
        snprintf(m, sizeof m, "the body exceeds max_body_bytes (%lld)",
                 (long long)s->c.max_body_bytes);
        return respond_error(conn, 413, m);
    }
    if (u->over_budget) {
        pthread_mutex_lock(&s->mu);
        s->refused++;
        pthread_mutex_unlock(&s->mu);
        return respond_error(conn, 429, "too many pending requests: retry later");
    }
    int coding = sl_http_encoding(
        MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_ENCODING));
    if (coding < 0)
        return respond_error(conn, 415, "Content-Encoding must be gzip, zstd or identity");
    char why[200] = "";
    char *body = NULL;
    size_t blen = 0;
    int rc = 0;
    if (coding == SL_HTTP_IDENTITY && u->body) { /* no copy: the upload has room for padding */
        memset(u->body + u->len, 0, SL_HTTP_PADDING + 1);
        body = u->body;
        blen = u->len;
    } else {
        rc = sl_http_decode(coding, u->body ? u->body : "", u->len, (size_t)s->c.max_body_bytes,
                            &body, &blen, why, sizeof why);
        if (rc) return respond_error(conn, rc, why);
    }
    req *r = sl_xcalloc(1, sizeof *r);
    r->otlp = u->otlp;
    rc = u->otlp ? sl_http_otlp_logs(body, blen, &r->rec, why, sizeof why)
                 : sl_http_split(body, blen, s->json, &r->rec, why, sizeof why);
    if (body != u->body) free(body);
    if (!rc && r->rec.n == 0) {
        rc = 400;
        snprintf(why, sizeof why, "the body holds no records");
    }
    if (rc) {
        sl_http_records_free(&r->rec);
        free(r);
        pthread_mutex_lock(&s->mu);
        s->bad_requests++;
        pthread_mutex_unlock(&s->mu);
        return respond_error(conn, rc, why);
    }
    snprintf(r->first, sizeof r->first, "%.*s", (int)r->rec.msg[0].len, r->rec.buf);
    client_addr(conn, r->addr, sizeof r->addr);
    snprintf(r->token, sizeof r->token, "%s", u->token);
    const char *k = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Idempotency-Key");
    if (k && (!*k || strlen(k) > 255)) {
        sl_http_records_free(&r->rec);
        free(r);
        return respond_error(conn, 400, "Idempotency-Key must be 1 to 255 bytes");
    }
    pthread_mutex_lock(&s->mu);
    if (s->stopping) {
        pthread_mutex_unlock(&s->mu);
        sl_http_records_free(&r->rec);
        free(r);
        return respond_error(conn, 503, "shutting down: retry later");
    }
    if (k) {
        ikey *e = key_find(s, k);
        if (e && e->status) { /* answered before: the first answer, nothing stored */
            char ans[512];
            int st = e->status;
            snprintf(ans, sizeof ans, "%s", e->answer ? e->answer : "{}");
            pthread_mutex_unlock(&s->mu);
            sl_http_records_free(&r->rec);
            free(r);
            return respond(conn, st, ans, NULL, true);
        }
        if (e && e->inflight) {
            pthread_mutex_unlock(&s->mu);
            sl_http_records_free(&r->rec);
            free(r);
            return respond_error(conn, 409, "a request with this Idempotency-Key is in progress");
        }
        if (!e) e = key_add(s, k, sl_now_us());
        e->inflight = true;
        r->key = e;
        /* a crash stored the first records of an earlier attempt */
        r->skip = e->records < r->rec.n ? (int)e->records : r->rec.n;
        r->accepted = e->accepted;
        r->quarantined = e->quarantined;
        r->c_records = e->records, r->c_accepted = e->accepted, r->c_quarantined = e->quarantined;
    }
    s->requests++;
    r->bytes = u->counted; /* stays counted until parsed */
    u->counted = 0;
    r->refs = 2; /* this thread and the engine's */
    if (s->qtail)
        s->qtail->next = r;
    else
        s->qhead = r;
    s->qtail = r;
    s->pending_requests++;
    uint64_t one = 1;
    if (write(s->efd, &one, sizeof one) < 0) { /* the counter is full: already readable */
    }
    wait_answer(s, r);
    int status = 503;
    char ans[512];
    snprintf(ans, sizeof ans,
             "{\"error\":\"the records were not committed in time: retry (with the same "
             "Idempotency-Key)\"}");
    if (r->state == RQ_DONE && r->status) {
        status = r->status;
        snprintf(ans, sizeof ans, "%s", r->answer);
    }
    req_unref(s, r);
    pthread_mutex_unlock(&s->mu);
    return respond(conn, status, ans, status == 503 ? "5" : NULL, false);
}

/* auth: server: the request's bearer token among the pipeline's current
 * set (taken and let go here: a reload swapping the set changes what the
 * next request is checked against). 0 with its id in id, 401 (no valid
 * token) or 403 (a token without the ingest or admin scope: audited). */
static int server_token(http_src *s, struct MHD_Connection *conn, char *id, size_t cap) {
    sl_token_set *set = sl_access_tokens(s->env.access);
    const sl_token *t = sl_token_set_bearer(set, conn);
    int st = !t ? 401 : !(t->scopes & (SL_SCOPE_INGEST | SL_SCOPE_ADMIN)) ? 403 : 0;
    if (t) snprintf(id, cap, "%s", t->id);
    sl_token_set_release(set);
    if (st == 403) {
        char addr[64];
        client_addr(conn, addr, sizeof addr);
        sl_access_audit(s->env.access, id, addr + 5, "POST", s->name, "refused: no ingest scope",
                        403);
    }
    return st;
}

/* auth: server: the records of this commit per token and client address,
 * audited (a log line and a _sluice_audit row in this very commit, which
 * drains the ring after the positions). Under s->mu. */
typedef struct ingest_count {
    const char *token, *addr;
    int64_t accepted, refused;
} ingest_count;

static void audit_ingest(http_src *s, ingest_count *c, int n) {
    for (int i = 0; i < n; i++) {
        char d[96];
        snprintf(d, sizeof d, "records accepted %lld, refused %lld", (long long)c[i].accepted,
                 (long long)c[i].refused);
        sl_access_audit(s->env.access, c[i].token, c[i].addr + 5, "INGEST", s->name, d, 200);
    }
}

static int count_ingest(ingest_count *c, int n, int cap, const req *r, int64_t acc, int64_t ref) {
    if (acc <= 0 && ref <= 0) return n;
    for (int i = 0; i < n; i++)
        if (!strcmp(c[i].token, r->token) && !strcmp(c[i].addr, r->addr)) {
            c[i].accepted += acc, c[i].refused += ref;
            return n;
        }
    if (n == cap) return n; /* the caller flushes before this happens */
    c[n] = (ingest_count){r->token, r->addr, acc, ref};
    return n + 1;
}

static enum MHD_Result handle(void *ud, struct MHD_Connection *conn, const char *url,
                              const char *method, const char *upload_data, size_t *upload_data_size,
                              void **req_cls) {
    http_src *s = ud;
    upload *u = *req_cls;
    if (!u) {
        bool otlp = s->otlp && !strcmp(url, "/v1/logs");
        if (!otlp && strcmp(url, s->path)) return respond_error(conn, 404, "not found");
        if (strcmp(method, "POST")) return respond_error(conn, 405, "only POST is served");
        if (s->token && !sl_httpd_bearer_ok(conn, s->token, s->token_len))
            return respond_error(conn, 401, "unauthorized");
        char tid[64] = "";
        if (s->server_auth) {
            int st = server_token(s, conn, tid, sizeof tid);
            if (st == 401) return respond_error(conn, 401, "unauthorized");
            if (st == 403) return respond_error(conn, 403, "this token may not ingest");
        }
        const char *ct =
            MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
        if (otlp && ct && !strncmp(ct, "application/x-protobuf", 22))
            return respond_error(conn, 415, "OTLP/HTTP: only the JSON encoding is taken");
        const char *cl =
            MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
        long long want = cl ? atoll(cl) : 0;
        if (want > s->c.max_body_bytes) {
            char m[96];
            snprintf(m, sizeof m, "the body exceeds max_body_bytes (%lld)",
                     (long long)s->c.max_body_bytes);
            return respond_error(conn, 413, m);
        }
        pthread_mutex_lock(&s->mu);
        bool stopping = s->stopping, full = s->pending_requests >= s->c.max_pending_requests ||
                                            s->pending_bytes + want > s->c.max_pending_bytes;
        if (full && !stopping) s->refused++;
        pthread_mutex_unlock(&s->mu);
        if (stopping) return respond_error(conn, 503, "shutting down: retry later");
        if (full) return respond_error(conn, 429, "too many pending requests: retry later");
        u = sl_xcalloc(1, sizeof *u);
        u->otlp = otlp;
        snprintf(u->token, sizeof u->token, "%s", tid);
        u->expect = want > 0 ? (size_t)want : 0;
        *req_cls = u;
        pthread_mutex_lock(&s->mu);
        s->active++;
        pthread_mutex_unlock(&s->mu);
        return MHD_YES;
    }
    if (*upload_data_size) {
        size_t n = *upload_data_size;
        *upload_data_size = 0;
        if (u->too_big || u->over_budget) return MHD_YES; /* drain, answer at the end */
        if (u->len + n > (size_t)s->c.max_body_bytes) {
            u->too_big = true;
            return MHD_YES;
        }
        pthread_mutex_lock(&s->mu);
        bool ok = s->pending_bytes + (int64_t)n <= s->c.max_pending_bytes;
        if (ok) s->pending_bytes += (int64_t)n;
        pthread_mutex_unlock(&s->mu);
        if (!ok) {
            u->over_budget = true;
            return MHD_YES;
        }
        u->counted += n;
        /* room for the padding the splitter reads past the body; sized from
         * Content-Length when it came, so the body is allocated once */
        size_t need = u->len + n + SL_HTTP_PADDING + 1;
        if (need > u->cap) {
            size_t c = u->cap ? u->cap : u->expect ? u->expect + SL_HTTP_PADDING + 1 : 65536;
            while (c < need)
                c *= 2;
            u->body = sl_xrealloc(u->body, c);
            u->cap = c;
        }
        memcpy(u->body + u->len, upload_data, n);
        u->len += n;
        return MHD_YES;
    }
    return finish(s, conn, u);
}

static void completed(void *ud, struct MHD_Connection *conn, void **req_cls,
                      enum MHD_RequestTerminationCode toe) {
    (void)conn, (void)toe;
    http_src *s = ud;
    upload *u = *req_cls;
    if (!u) return;
    pthread_mutex_lock(&s->mu);
    s->pending_bytes -= (int64_t)u->counted;
    s->active--;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
    free(u->body);
    free(u);
    *req_cls = NULL;
}

/* ---- the engine's thread ---- */

static int part_of(http_src *s, const char *name) {
    for (int i = 0; i < s->nparts; i++)
        if (!strcmp(s->parts[i].name, name)) return i;
    if (s->nparts == s->cparts) {
        s->cparts = s->cparts ? s->cparts * 2 : 16;
        s->parts = sl_xrealloc(s->parts, (size_t)s->cparts * sizeof *s->parts);
        s->names = sl_xrealloc(s->names, ((size_t)s->cparts + 1) * sizeof *s->names);
    }
    s->parts[s->nparts] = (part){sl_xstrdup(name), 0, false};
    s->names[s->nparts] = s->parts[s->nparts].name;
    s->names[++s->nparts] = NULL;
    return s->nparts - 1;
}

static void restore_pos(void *ud, const char *partition, int64_t pos) {
    http_src *s = ud;
    int i = part_of(s, partition); /* may move s->parts */
    s->parts[i].pos = pos;
}

static const char keys_table[] =
    "CREATE TABLE IF NOT EXISTS _sluice_http_keys (source TEXT NOT NULL, key TEXT NOT NULL, "
    "at_us INTEGER NOT NULL, records INTEGER NOT NULL, accepted INTEGER NOT NULL, "
    "quarantined INTEGER NOT NULL, status INTEGER NOT NULL, answer TEXT, "
    "PRIMARY KEY (source, key))";

static int load_keys(http_src *s, sl_error *err) {
    sqlite3 *db = sl_store_db(s->env.store);
    if (sl_store_exec(s->env.store, keys_table, err)) return err->code;
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db,
                           "SELECT key, at_us, records, accepted, quarantined, status, answer "
                           "FROM _sluice_http_keys WHERE source = ?1 AND at_us >= ?2",
                           -1, &st, NULL) != SQLITE_OK)
        return sl_error_set(err, SL_EIO, "source '%s': reading the idempotency keys: %s", s->name,
                            sqlite3_errmsg(db));
    sqlite3_bind_text(st, 1, s->name, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, sl_now_us() - s->c.idempotency_horizon);
    while (sqlite3_step(st) == SQLITE_ROW) {
        ikey *e = key_add(s, (const char *)sqlite3_column_text(st, 0), sqlite3_column_int64(st, 1));
        e->records = sqlite3_column_int64(st, 2);
        e->accepted = sqlite3_column_int64(st, 3);
        e->quarantined = sqlite3_column_int64(st, 4);
        e->status = sqlite3_column_int(st, 5);
        const unsigned char *a = sqlite3_column_text(st, 6);
        if (a && e->status) e->answer = sl_xstrdup((const char *)a);
    }
    sqlite3_finalize(st);
    return 0;
}

static int http_open_(void *self, const sl_source_env *env, sl_error *err) {
    http_src *s = self;
    s->env = *env;
    s->json = !env->format || !strcmp(env->format, "json");
    if (s->otlp && !s->json)
        return sl_error_set(err, SL_EINVAL, "source '%s': otlp: true needs format json", s->name);
    snprintf(s->format, sizeof s->format, "%s", env->format ? env->format : "json");
    s->exhausted = false;
    s->idle_since = 0;
    s->stopping = false;
    s->pending_bytes = s->pending_requests = 0;
    s->active = 0;
    int rc = sl_store_positions(env->store, env->name, restore_pos, s, err);
    if (rc) return rc;
    if ((rc = load_keys(s, err))) return rc;
    s->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (s->efd < 0)
        return sl_error_set(err, SL_EIO, "source '%s': eventfd: %s", s->name, strerror(errno));
    char what[96];
    snprintf(what, sizeof what, "source '%s'", s->name);
    sl_httpd_config hc = {.listen = s->listen,
                          .what = what,
                          .max_connections = (int)s->c.max_connections,
                          .max_connections_per_ip = (int)s->c.max_connections_per_address,
                          .header_timeout_ms = (int)(s->c.header_timeout / 1000),
                          .tls = s->tls,
                          .handler = handle,
                          .completed = completed,
                          .ud = s};
    s->httpd = sl_httpd_start(&hc, err);
    if (!s->httpd) return err->code;
    sl_log_info("http source listening", "\"source\":\"%s\",\"port\":%d,\"auth\":%s,\"tls\":%s",
                s->name, sl_httpd_port(s->httpd),
                s->server_auth ? "\"server\""
                : s->token     ? "true"
                               : "false",
                s->tls ? "true" : "false");
    return 0;
}

/* Answers every request not answered yet with 503 (under s->mu). */
static void fail_list(http_src *s, req **head) {
    for (req *r = *head, *n; r; r = n) {
        n = r->next;
        r->state = RQ_DONE;
        r->status = 0; /* 503 */
        if (r->key) r->key->inflight = false;
        req_unref(s, r);
    }
    *head = NULL;
}

static void http_close_(void *self) {
    http_src *s = self;
    if (s->httpd) {
        pthread_mutex_lock(&s->mu);
        s->stopping = true;
        fail_list(s, &s->qhead);
        s->qtail = NULL;
        fail_list(s, &s->parsed);
        fail_list(s, &s->committing);
        pthread_cond_broadcast(&s->cv);
        /* let the waiting clients get their 503 before the connections are
         * closed (at most a second: a client stalled mid-body holds one) */
        struct timespec dl;
        clock_gettime(CLOCK_MONOTONIC, &dl);
        dl.tv_sec += 1;
        while (s->active > 0)
            if (pthread_cond_timedwait(&s->cv, &s->mu, &dl) == ETIMEDOUT) break;
        pthread_mutex_unlock(&s->mu);
        sl_httpd_stop(s->httpd); /* joins the connection threads */
        s->httpd = NULL;
    }
    if (s->efd >= 0) close(s->efd);
    s->efd = -1;
    keys_free(s);
    sl_http_records_free(&s->held);
    for (int i = 0; i < s->nparts; i++)
        free(s->parts[i].name);
    free(s->parts);
    free(s->names);
    s->parts = NULL;
    s->names = NULL;
    s->nparts = s->cparts = 0;
}

/* The answer of a request whose records are all parsed. */
static void make_answer(http_src *s, req *r) {
    if (r->accepted == 0 && r->quarantined > 0) {
        char esc[300];
        int e = sl_json_escape(esc, (int)sizeof esc, r->first, (int)strlen(r->first));
        if (e < 0 || e >= (int)sizeof esc) e = 0;
        esc[e] = 0;
        r->status = 400;
        snprintf(r->answer, sizeof r->answer,
                 "{\"error\":\"no record is valid %s; the first: %s\",\"accepted\":0,"
                 "\"quarantined\":%lld}",
                 r->otlp ? "OTLP logs" : s->format, esc, (long long)r->quarantined);
        return;
    }
    r->status = 200;
    if (r->otlp)
        snprintf(r->answer, sizeof r->answer,
                 "{\"partialSuccess\":{\"rejectedLogRecords\":\"%lld\"},\"accepted\":%lld,"
                 "\"quarantined\":%lld}",
                 (long long)r->quarantined, (long long)r->accepted, (long long)r->quarantined);
    else
        snprintf(r->answer, sizeof r->answer, "{\"accepted\":%lld,\"quarantined\":%lld}",
                 (long long)r->accepted, (long long)r->quarantined);
}

static int http_read(void *self, bool final, sl_error *err) {
    (void)err;
    http_src *s = self;
    uint64_t v;
    if (read(s->efd, &v, sizeof v) < 0) { /* EAGAIN: nothing signalled */
    }
    sl_http_records_free(&s->held);
    pthread_mutex_lock(&s->mu);
    req *r = s->qhead;
    pthread_mutex_unlock(&s->mu);
    if (!r) {
        int64_t now = sl_monotonic_us();
        if (!s->idle_since) s->idle_since = now;
        if (final && now - s->idle_since > 1000000) s->exhausted = true;
        return 0;
    }
    s->idle_since = 0;
    /* only this thread dequeues, so r stays the head; its records are ours */
    if (r->cursor < r->skip) r->cursor = r->skip;
    int p = part_of(s, r->addr);
    int n = r->rec.n - r->cursor;
    if (n > (int)s->env.batch_size) n = (int)s->env.batch_size;
    if (n > 0) {
        sl_poll_msg *m = r->rec.msg + r->cursor;
        for (int i = 0; i < n; i++) {
            m[i].part = p;
            m[i].pos = s->parts[p].pos + i;
        }
        int bad = s->env.parse_msgs(s->env.ud, r->rec.buf, m, n);
        s->parts[p].pos += n;
        s->parts[p].dirty = true;
        r->cursor += n;
        r->accepted += n - bad;
        r->quarantined += bad;
    }
    if (r->cursor < r->rec.n) return 1;
    make_answer(s, r);
    pthread_mutex_lock(&s->mu);
    s->qhead = r->next;
    if (!s->qhead) s->qtail = NULL;
    s->pending_requests--;
    s->pending_bytes -= (int64_t)r->bytes;
    r->bytes = 0;
    r->state = RQ_PARSED;
    r->next = s->parsed;
    s->parsed = r;
    pthread_mutex_unlock(&s->mu);
    s->held = r->rec; /* freed at the next read: the batch's rows point into it */
    r->rec = (sl_http_records){0};
    return 1;
}

static void put_key(http_src *s, sqlite3_stmt *st, req *r, bool done) {
    sqlite3_reset(st);
    sqlite3_bind_text(st, 1, s->name, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, r->key->key, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, r->key->at_us);
    sqlite3_bind_int64(st, 4, r->cursor);
    sqlite3_bind_int64(st, 5, r->accepted);
    sqlite3_bind_int64(st, 6, r->quarantined);
    sqlite3_bind_int(st, 7, done ? r->status : 0);
    if (done)
        sqlite3_bind_text(st, 8, r->answer, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(st, 8);
    if (sqlite3_step(st) != SQLITE_DONE)
        sl_log_error("saving an idempotency key failed", "\"source\":\"%s\",\"error\":\"%s\"",
                     s->name, sqlite3_errmsg(sl_store_db(s->env.store)));
}

/* Inside the commit's transaction: positions, and the keys of the requests
 * whose records it holds. */
static void http_each_position(void *self, sl_source_pos_fn fn, void *ud) {
    http_src *s = self;
    for (int i = 0; i < s->nparts; i++)
        if (s->parts[i].dirty) {
            fn(ud, s->parts[i].name, s->parts[i].pos);
            s->parts[i].dirty = false;
        }
    sqlite3 *db = sl_store_db(s->env.store);
    sqlite3_stmt *st = NULL;
    pthread_mutex_lock(&s->mu);
    req *head = s->qhead;
    bool partial = head && head->key && head->cursor > head->skip;
    bool any = partial;
    for (req *r = s->parsed; r && !any; r = r->next)
        any = r->key != NULL;
    if (any && sqlite3_prepare_v2(db,
                                  "INSERT OR REPLACE INTO _sluice_http_keys (source, key, at_us, "
                                  "records, accepted, quarantined, status, answer) VALUES "
                                  "(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                                  -1, &st, NULL) != SQLITE_OK) {
        sl_log_error("saving idempotency keys failed", "\"source\":\"%s\",\"error\":\"%s\"",
                     s->name, sqlite3_errmsg(db));
        st = NULL;
    }
    ingest_count cnt[32];
    int ncnt = 0;
    for (req *r = s->parsed; r; r = r->next) {
        if (r->key && st) put_key(s, st, r, true);
        r->state = RQ_COMMITTING;
        if (!s->server_auth) continue;
        if (ncnt == 32) {
            audit_ingest(s, cnt, ncnt);
            ncnt = 0;
        }
        ncnt = count_ingest(cnt, ncnt, 32, r, r->accepted - r->c_accepted,
                            r->quarantined - r->c_quarantined);
    }
    if (partial && s->server_auth) {
        if (ncnt == 32) {
            audit_ingest(s, cnt, ncnt);
            ncnt = 0;
        }
        ncnt = count_ingest(cnt, ncnt, 32, head, head->accepted - head->c_accepted,
                            head->quarantined - head->c_quarantined);
    }
    audit_ingest(s, cnt, ncnt);
    if (partial && st) put_key(s, st, head, false);
    if (partial) /* what committed() will know is stored of it */
        head->c_records = head->cursor, head->c_accepted = head->accepted,
        head->c_quarantined = head->quarantined;
    /* the committing list gets the parsed ones (committed() answers them) */
    req **tail = &s->committing;
    while (*tail)
        tail = &(*tail)->next;
    *tail = s->parsed;
    s->parsed = NULL;
    pthread_mutex_unlock(&s->mu);
    sqlite3_finalize(st);
    int64_t now = sl_monotonic_us();
    if (now - s->last_purge_us > 60 * SL_US_PER_SEC) { /* keys past the horizon */
        s->last_purge_us = now;
        int64_t cut = sl_now_us() - s->c.idempotency_horizon;
        sqlite3_stmt *d;
        if (sqlite3_prepare_v2(db, "DELETE FROM _sluice_http_keys WHERE source = ?1 AND at_us < ?2",
                               -1, &d, NULL) == SQLITE_OK) {
            sqlite3_bind_text(d, 1, s->name, -1, SQLITE_STATIC);
            sqlite3_bind_int64(d, 2, cut);
            sqlite3_step(d);
            sqlite3_finalize(d);
        }
        pthread_mutex_lock(&s->mu);
        for (int i = 0; i < NBUCKETS; i++)
            for (ikey **pe = &s->keys[i]; *pe;) {
                ikey *e = *pe;
                if (e->at_us < cut && !e->inflight) {
                    *pe = e->next;
                    free(e->key);
                    free(e->answer);
                    free(e);
                    s->nkeys--;
                } else {
                    pe = &e->next;
                }
            }
        pthread_mutex_unlock(&s->mu);
    }
}

/* The commit is durable: answer its requests. */
static void http_committed(void *self) {
    http_src *s = self;
    pthread_mutex_lock(&s->mu);
    if (s->qhead && s->qhead->key && s->qhead->c_records > s->qhead->key->records) {
        ikey *e = s->qhead->key;
        e->records = s->qhead->c_records;
        e->accepted = s->qhead->c_accepted;
        e->quarantined = s->qhead->c_quarantined;
    }
    for (req *r = s->committing, *n; r; r = n) {
        n = r->next;
        if (r->key) {
            ikey *e = r->key;
            e->records = r->cursor;
            e->accepted = r->accepted;
            e->quarantined = r->quarantined;
            e->status = r->status;
            free(e->answer);
            e->answer = sl_xstrdup(r->answer);
            e->inflight = false;
        }
        r->state = RQ_DONE;
        req_unref(s, r);
    }
    s->committing = NULL;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
}

static const char *const *http_part_names(void *self) {
    http_src *s = self;
    static const char *const none[] = {NULL};
    return s->names ? s->names : none;
}

static bool http_done(void *self) { return ((http_src *)self)->exhausted; }

static int http_fd(void *self) { return ((http_src *)self)->efd; }

static void http_stats(void *self, sl_source_stats *out) {
    http_src *s = self;
    out->refused = out->idle_closed = out->framing_errors = 0;
    if (!s->httpd) return;
    sl_httpd_stats hs;
    sl_httpd_stats_get(s->httpd, &hs);
    pthread_mutex_lock(&s->mu);
    out->refused = s->refused;
    out->framing_errors = s->bad_requests;
    out->bytes_waiting = s->pending_bytes;
    pthread_mutex_unlock(&s->mu);
    out->idle_closed = (int64_t)hs.slow_closed;
}

static void http_each_partition(void *self, sl_source_pos_fn fn, void *ud) {
    http_src *s = self;
    for (int i = 0; i < s->nparts; i++)
        fn(ud, s->parts[i].name, s->parts[i].pos);
}

static void http_describe(void *self, char *out, size_t cap) {
    http_src *s = self;
    snprintf(out, cap, "http POST %s%s on %s", s->path, s->otlp ? " and /v1/logs" : "", s->listen);
}

/* `sluice check`: the listen address can be bound. */
static int http_check(void *self, char *detail, size_t cap) {
    return sl__sources_check_listen(((http_src *)self)->listen, SOCK_STREAM, detail, cap);
}

const sl_source_def sl_source_http = {
    .name = "http",
    .opts = http_opts,
    .help = "records POSTed over HTTP (NDJSON, JSON arrays, lines; gzip, zstd), answered once "
            "committed; Idempotency-Key for exactly once; OTLP/HTTP JSON logs",
    .format = "json",
    .create = http_create,
    .destroy = http_destroy,
    .open = http_open_,
    .close = http_close_,
    .read = http_read,
    .part_names = http_part_names,
    .each_position = http_each_position,
    .committed = http_committed,
    .done = http_done,
    .fd = http_fd,
    .stats = http_stats,
    .each_partition = http_each_partition,
    .describe = http_describe,
    .check = http_check,
};
