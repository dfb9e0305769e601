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
 *
 * TLS: libmicrohttpd hands every handshake to our GnuTLS retrieve function
 * (MHD_OPTION_HTTPS_CERT_CALLBACK), which answers with the listener's
 * current key pair. That function gets no pointer of ours, only the
 * session: the session's socket (libmicrohttpd sets it as the transport)
 * tells the local address, and a process-wide list of TLS listeners maps it
 * to the listener. A replaced pair is kept until the listener stops, as a
 * handshake in flight may still hold it; renewals are rare, so this costs
 * little.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <gnutls/abstract.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
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
#include <sys/stat.h>
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
    bool client_checked, client_ok; /* client_ca: the peer's certificate, verified once */
} cx;

#define TLS_MAX_CHAIN 16
#define TLS_MAX_FILE (1 << 20)

/* A certificate chain and its private key, as one handshake uses them. */
typedef struct kpair {
    struct kpair *next; /* on the retired list */
    gnutls_pcert_st pcert[TLS_MAX_CHAIN];
    unsigned npcert;
    gnutls_privkey_t key;
} kpair;

/* What a file looked like when last read: a change of any means re-read. */
typedef struct fsig {
    int64_t mtime_ns, size;
    uint64_t ino;
} fsig;

typedef struct tls_state {
    char cert[SL_PATH_MAX], key[SL_PATH_MAX];
    char *ca_pem; /* NULL: no client certificates asked for */
    pthread_mutex_t mu;
    kpair *cur, *retired;
    fsig cert_sig, key_sig;         /* of the pair in cur */
    fsig bad_cert_sig, bad_key_sig; /* a pair that failed to load: not tried again */
    int64_t checked_us;
    /* client_ca: the CAs client certificates are verified against, re-read
     * like the key pair when the file changes (libmicrohttpd's own trust,
     * set once at start, only makes the handshake ask for a certificate) */
    char ca[SL_PATH_MAX];
    gnutls_x509_trust_list_t trust;
    fsig ca_sig, bad_ca_sig;
    int64_t ca_checked_us;
} tls_state;

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

    tls_state *tls; /* NULL: plain HTTP */
    struct sockaddr_storage bound;
    socklen_t bound_len;
    struct sl_httpd *tls_next; /* on the list of TLS listeners */
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

/* ---- TLS: files, key pairs, the retrieve function ---- */

const sl_opt sl_httpd_tls_opts[] = {
    {"cert", SL_OPT_PATH, true, NULL, NULL,
     "PEM certificate chain, the listener's own certificate first (re-read when it changes)",
     SL_OPT_BIND(sl_httpd_tls, cert), SL_OPT_AT(sl_httpd_tls, cert_at)},
    {"key", SL_OPT_PATH, true, NULL, NULL, "PEM private key of cert (not encrypted)",
     SL_OPT_BIND(sl_httpd_tls, key), SL_OPT_AT(sl_httpd_tls, key_at)},
    {"client_ca", SL_OPT_PATH, false, NULL, NULL,
     "PEM CA certificate(s): clients must present a certificate signed by one (else 403)",
     SL_OPT_BIND(sl_httpd_tls, client_ca), SL_OPT_AT(sl_httpd_tls, client_ca_at)},
    {0},
};

/* The whole file, NUL-terminated (d->size excludes the NUL), at most 1 MiB. */
static int read_all(const char *what, const char *path, gnutls_datum_t *d, char *msg, size_t cap) {
    d->data = NULL;
    d->size = 0;
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(msg, cap, "%s '%s': cannot read: %s", what, path, strerror(errno));
        return -1;
    }
    unsigned char *b = malloc(TLS_MAX_FILE + 1);
    size_t n = b ? fread(b, 1, TLS_MAX_FILE + 1, f) : 0;
    int bad = !b ? ENOMEM : ferror(f) ? EIO : 0;
    fclose(f);
    if (bad || n > TLS_MAX_FILE) {
        snprintf(msg, cap, "%s '%s': %s", what, path,
                 bad ? strerror(bad) : "larger than 1 MiB: not a PEM file");
        free(b);
        return -1;
    }
    b[n] = 0;
    d->data = b;
    d->size = (unsigned)n;
    return 0;
}

static void free_secret(gnutls_datum_t *d) {
    if (d->data) gnutls_memset(d->data, 0, d->size);
    free(d->data);
    d->data = NULL;
}

static void kpair_free(kpair *kp) {
    if (!kp) return;
    for (unsigned i = 0; i < kp->npcert; i++)
        gnutls_pcert_deinit(&kp->pcert[i]);
    if (kp->key) gnutls_privkey_deinit(kp->key);
    free(kp);
}

/* Whether the private key is the one of the chain's first certificate: the
 * public keys are compared. */
static bool same_key(const kpair *kp) {
    gnutls_pubkey_t pk;
    gnutls_datum_t a = {0}, b = {0};
    bool same = false;
    if (gnutls_pubkey_init(&pk) < 0) return false;
    if (gnutls_pubkey_import_privkey(pk, kp->key, 0, 0) == 0 &&
        gnutls_pubkey_export2(pk, GNUTLS_X509_FMT_DER, &a) == 0 &&
        gnutls_pubkey_export2(kp->pcert[0].pubkey, GNUTLS_X509_FMT_DER, &b) == 0)
        same = a.size == b.size && memcmp(a.data, b.data, a.size) == 0;
    gnutls_free(a.data);
    gnutls_free(b.data);
    gnutls_pubkey_deinit(pk);
    return same;
}

/* Loads a key pair. 0, or 1 (the certificate is at fault) / 2 (the key)
 * with the reason in msg. */
static int load_pair(const char *cert, const char *key, kpair **out, char *msg, size_t cap) {
    gnutls_datum_t cd = {0}, kd = {0};
    int which = 0, r;
    kpair *kp = calloc(1, sizeof *kp);
    if (!kp) {
        snprintf(msg, cap, "out of memory");
        return 1;
    }
    if (read_all("cert", cert, &cd, msg, cap)) {
        which = 1;
        goto done;
    }
    kp->npcert = TLS_MAX_CHAIN;
    r = gnutls_pcert_list_import_x509_raw(kp->pcert, &kp->npcert, &cd, GNUTLS_X509_FMT_PEM, 0);
    if (r < 0 || kp->npcert == 0) {
        kp->npcert = 0;
        snprintf(msg, cap, "cert '%s': no PEM certificate chain read (%s)", cert,
                 r < 0 ? gnutls_strerror(r) : "no certificate in it");
        which = 1;
        goto done;
    }
    if (read_all("key", key, &kd, msg, cap)) {
        which = 2;
        goto done;
    }
    if ((r = gnutls_privkey_init(&kp->key)) < 0 ||
        (r = gnutls_privkey_import_x509_raw(kp->key, &kd, GNUTLS_X509_FMT_PEM, NULL, 0)) < 0) {
        snprintf(msg, cap, "key '%s': not an unencrypted PEM private key (%s)", key,
                 gnutls_strerror(r));
        which = 2;
        goto done;
    }
    if (!same_key(kp)) {
        snprintf(msg, cap, "key '%s' is not the private key of cert '%s'", key, cert);
        which = 2;
    }
done:
    free(cd.data);
    free_secret(&kd);
    if (which) {
        kpair_free(kp);
        return which;
    }
    *out = kp;
    return 0;
}

/* The CA file's text, checked to hold at least one certificate. */
static int load_ca(const char *path, char **pem, char *msg, size_t cap) {
    gnutls_datum_t d;
    if (read_all("client_ca", path, &d, msg, cap)) return -1;
    gnutls_x509_crt_t *list = NULL;
    unsigned n = 0;
    int r = gnutls_x509_crt_list_import2(&list, &n, &d, GNUTLS_X509_FMT_PEM, 0);
    for (unsigned i = 0; r >= 0 && i < n; i++)
        gnutls_x509_crt_deinit(list[i]);
    gnutls_free(list);
    if (r < 0 || n == 0) {
        snprintf(msg, cap, "client_ca '%s': no PEM certificate read (%s)", path,
                 r < 0 ? gnutls_strerror(r) : "no certificate in it");
        free(d.data);
        return -1;
    }
    *pem = (char *)d.data;
    return 0;
}

/* A trust list holding the certificates of a CA file's text. */
static int trust_from_pem(const char *pem, gnutls_x509_trust_list_t *out, char *msg, size_t cap) {
    gnutls_x509_trust_list_t tl;
    int r = gnutls_x509_trust_list_init(&tl, 0);
    if (r < 0) {
        snprintf(msg, cap, "%s", gnutls_strerror(r));
        return -1;
    }
    gnutls_datum_t d = {(unsigned char *)pem, (unsigned)strlen(pem)};
    r = gnutls_x509_trust_list_add_trust_mem(tl, &d, NULL, GNUTLS_X509_FMT_PEM, 0, 0);
    if (r <= 0) {
        snprintf(msg, cap, "no CA certificate taken (%s)", r < 0 ? gnutls_strerror(r) : "none");
        gnutls_x509_trust_list_deinit(tl, 1);
        return -1;
    }
    *out = tl;
    return 0;
}

int sl_httpd_tls_bind(const sl_node *map, const char *what, sl_httpd_tls *out, sl_error *err) {
    char w[160], msg[2 * SL_PATH_MAX + 128];
    snprintf(w, sizeof w, "%s tls", what ? what : "listener");
    memset(out, 0, sizeof *out);
    if (sl_spec_bind(map, sl_httpd_tls_opts, w, out, err)) return SL_EINVAL;
    kpair *kp = NULL;
    int which = load_pair(out->cert, out->key, &kp, msg, sizeof msg);
    if (which) return sl_node_error(err, which == 1 ? out->cert_at : out->key_at, "%s: %s", w, msg);
    kpair_free(kp);
    char *pem = NULL;
    if (out->client_ca[0] && load_ca(out->client_ca, &pem, msg, sizeof msg))
        return sl_node_error(err, out->client_ca_at, "%s: %s", w, msg);
    free(pem);
    return 0;
}

static bool file_sig(const char *path, fsig *s) {
    struct stat st;
    if (stat(path, &st) != 0) return false;
    s->mtime_ns = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
    s->size = (int64_t)st.st_size;
    s->ino = (uint64_t)st.st_ino;
    return true;
}

static bool sig_eq(const fsig *a, const fsig *b) {
    return a->mtime_ns == b->mtime_ns && a->size == b->size && a->ino == b->ino;
}

static void log_tls(const sl_httpd *h, bool warn, const char *msg, const char *detail) {
    char what[160], esc[2 * SL_PATH_MAX * 2 + 256];
    int e = sl_json_escape(what, (int)sizeof what, h->what, (int)strlen(h->what));
    what[e < 0 ? 0 : e < (int)sizeof what ? e : (int)sizeof what - 1] = 0;
    e = sl_json_escape(esc, (int)sizeof esc, detail, (int)strlen(detail));
    esc[e < 0 ? 0 : e < (int)sizeof esc ? e : (int)sizeof esc - 1] = 0;
    if (warn)
        sl_log_warn(msg, "\"listener\":\"%s\",\"detail\":\"%s\"", what, esc);
    else
        sl_log_info(msg, "\"listener\":\"%s\",\"detail\":\"%s\"", what, esc);
}

/* The pair a handshake uses now: the files are looked at once a second at
 * most, and re-read when either changed since the pair was loaded (a pair
 * that fails is not tried again until a file changes once more). */
static kpair *tls_current(sl_httpd *h) {
    tls_state *t = h->tls;
    pthread_mutex_lock(&t->mu);
    int64_t now = sl_monotonic_us();
    if (now - t->checked_us >= SL_US_PER_SEC) {
        t->checked_us = now;
        fsig cs, ks;
        if (file_sig(t->cert, &cs) && file_sig(t->key, &ks) &&
            (!sig_eq(&cs, &t->cert_sig) || !sig_eq(&ks, &t->key_sig)) &&
            (!sig_eq(&cs, &t->bad_cert_sig) || !sig_eq(&ks, &t->bad_key_sig))) {
            kpair *kp = NULL;
            char msg[2 * SL_PATH_MAX + 128];
            if (load_pair(t->cert, t->key, &kp, msg, sizeof msg) == 0) {
                t->cur->next = t->retired;
                t->retired = t->cur;
                t->cur = kp;
                t->cert_sig = cs;
                t->key_sig = ks;
                log_tls(h, false, "tls certificate reloaded", t->cert);
            } else {
                t->bad_cert_sig = cs;
                t->bad_key_sig = ks;
                log_tls(h, true, "tls certificate not reloaded: keeping the last good one", msg);
            }
        }
    }
    kpair *kp = t->cur;
    pthread_mutex_unlock(&t->mu);
    return kp;
}

static pthread_mutex_t tls_mu = PTHREAD_MUTEX_INITIALIZER;
static sl_httpd *tls_head; /* TLS listeners, for the retrieve function */

static bool is_any(const struct sockaddr_storage *ss) {
    if (ss->ss_family == AF_INET)
        return ((const struct sockaddr_in *)ss)->sin_addr.s_addr == htonl(INADDR_ANY);
    if (ss->ss_family == AF_INET6)
        return IN6_IS_ADDR_UNSPECIFIED(&((const struct sockaddr_in6 *)ss)->sin6_addr);
    return false;
}

static int ss_port(const struct sockaddr_storage *ss) {
    return ntohs(ss->ss_family == AF_INET6 ? ((const struct sockaddr_in6 *)ss)->sin6_port
                                           : ((const struct sockaddr_in *)ss)->sin_port);
}

/* The listener that accepted the connection on fd: same port, and the same
 * address unless it listens on all of them. */
static sl_httpd *tls_listener_of(int fd) {
    struct sockaddr_storage local;
    socklen_t len = sizeof local;
    if (fd < 0 || getsockname(fd, (struct sockaddr *)&local, &len) != 0) return NULL;
    int port = ss_port(&local);
    sl_httpd *found = NULL;
    pthread_mutex_lock(&tls_mu);
    for (sl_httpd *h = tls_head; h && !found; h = h->tls_next)
        if (h->port == port &&
            (is_any(&h->bound) || (len == h->bound_len && !memcmp(&local, &h->bound, len))))
            found = h;
    pthread_mutex_unlock(&tls_mu);
    return found;
}

static int cert_retrieve(gnutls_session_t session, const gnutls_datum_t *req_ca_rdn, int nreqs,
                         const gnutls_pk_algorithm_t *pk_algos, int pk_algos_length,
                         gnutls_pcert_st **pcert, unsigned int *pcert_length,
                         gnutls_privkey_t *privkey) {
    (void)req_ca_rdn, (void)nreqs, (void)pk_algos, (void)pk_algos_length;
    sl_httpd *h = tls_listener_of(gnutls_transport_get_int(session));
    kpair *kp = h ? tls_current(h) : NULL;
    if (!kp) return -1; /* the handshake fails */
    *pcert = kp->pcert;
    *pcert_length = kp->npcert;
    *privkey = kp->key;
    return 0;
}

static void tls_unregister(sl_httpd *h) {
    pthread_mutex_lock(&tls_mu);
    for (sl_httpd **pp = &tls_head; *pp; pp = &(*pp)->tls_next)
        if (*pp == h) {
            *pp = h->tls_next;
            break;
        }
    pthread_mutex_unlock(&tls_mu);
}

static void tls_free(tls_state *t) {
    if (!t) return;
    if (t->trust) gnutls_x509_trust_list_deinit(t->trust, 1);
    kpair_free(t->cur);
    for (kpair *k = t->retired, *n; k; k = n) {
        n = k->next;
        kpair_free(k);
    }
    free(t->ca_pem);
    pthread_mutex_destroy(&t->mu);
    free(t);
}

/* Loads the listener's files (sl_httpd_tls_bind checked them at load time;
 * they may have changed since). */
static int tls_setup(sl_httpd *h, const sl_httpd_tls *c, sl_error *err) {
    tls_state *t = calloc(1, sizeof *t);
    if (!t) return sl_error_set(err, SL_ENOMEM, "%s tls: out of memory", h->what);
    pthread_mutex_init(&t->mu, NULL);
    h->tls = t;
    snprintf(t->cert, sizeof t->cert, "%s", c->cert);
    snprintf(t->key, sizeof t->key, "%s", c->key);
    char msg[2 * SL_PATH_MAX + 128];
    file_sig(t->cert, &t->cert_sig);
    file_sig(t->key, &t->key_sig);
    if (load_pair(t->cert, t->key, &t->cur, msg, sizeof msg))
        return sl_error_set(err, SL_EINVAL, "%s tls: %s", h->what, msg);
    if (c->client_ca[0] && load_ca(c->client_ca, &t->ca_pem, msg, sizeof msg))
        return sl_error_set(err, SL_EINVAL, "%s tls: %s", h->what, msg);
    if (c->client_ca[0]) {
        snprintf(t->ca, sizeof t->ca, "%s", c->client_ca);
        file_sig(t->ca, &t->ca_sig);
        if (trust_from_pem(t->ca_pem, &t->trust, msg, sizeof msg))
            return sl_error_set(err, SL_EINVAL, "%s tls: client_ca '%s': %s", h->what, t->ca, msg);
    }
    t->checked_us = t->ca_checked_us = sl_monotonic_us();
    return 0;
}

/* The current client CAs, re-read when the file changed (looked at once a
 * second at most; a file that does not load is logged, the last good CAs
 * stay and it is not tried again until it changes once more). Under t->mu. */
static void ca_refresh(sl_httpd *h) {
    tls_state *t = h->tls;
    int64_t now = sl_monotonic_us();
    if (now - t->ca_checked_us < SL_US_PER_SEC) return;
    t->ca_checked_us = now;
    fsig cs;
    if (!file_sig(t->ca, &cs) || sig_eq(&cs, &t->ca_sig) || sig_eq(&cs, &t->bad_ca_sig)) return;
    char msg[2 * SL_PATH_MAX + 128];
    char *pem = NULL;
    gnutls_x509_trust_list_t tl = NULL;
    if (load_ca(t->ca, &pem, msg, sizeof msg) == 0 &&
        trust_from_pem(pem, &tl, msg, sizeof msg) == 0) {
        gnutls_x509_trust_list_deinit(t->trust, 1);
        t->trust = tl;
        t->ca_sig = cs;
        log_tls(h, false, "tls client_ca reloaded", t->ca);
    } else {
        t->bad_ca_sig = cs;
        log_tls(h, true, "tls client_ca not reloaded: keeping the last good one", msg);
    }
    free(pem);
}

/* client_ca: whether the peer sent a certificate that verifies against the
 * client CAs as the file holds them now (chain, signature, validity dates),
 * checked once per connection. */
static bool client_ok(sl_httpd *h, struct MHD_Connection *conn, cx *x) {
    if (x && x->client_checked) return x->client_ok;
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_GNUTLS_SESSION);
    gnutls_session_t sess = ci ? (gnutls_session_t)ci->tls_session : NULL;
    unsigned n = 0, status = 1;
    const gnutls_datum_t *der = sess ? gnutls_certificate_get_peers(sess, &n) : NULL;
    gnutls_x509_crt_t chain[TLS_MAX_CHAIN];
    unsigned nc = 0;
    for (unsigned i = 0; der && i < n && i < TLS_MAX_CHAIN; i++) {
        if (gnutls_x509_crt_init(&chain[nc]) < 0) break;
        if (gnutls_x509_crt_import(chain[nc], &der[i], GNUTLS_X509_FMT_DER) < 0) {
            gnutls_x509_crt_deinit(chain[nc]);
            break;
        }
        nc++;
    }
    bool ok = false;
    if (nc && nc == n) {
        tls_state *t = h->tls;
        pthread_mutex_lock(&t->mu);
        ca_refresh(h);
        ok = t->trust &&
             gnutls_x509_trust_list_verify_crt(t->trust, chain, nc, 0, &status, NULL) == 0 &&
             status == 0;
        pthread_mutex_unlock(&t->mu);
    }
    for (unsigned i = 0; i < nc; i++)
        gnutls_x509_crt_deinit(chain[i]);
    if (x) {
        x->client_checked = true;
        x->client_ok = ok;
    }
    return ok;
}

static enum MHD_Result refuse_client(struct MHD_Connection *conn) {
    static const char body[] =
        "a client certificate signed by the listener's client_ca is needed\n";
    struct MHD_Response *r =
        MHD_create_response_from_buffer(sizeof body - 1, (void *)body, MHD_RESPMEM_PERSISTENT);
    if (!r) return MHD_NO;
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "text/plain; charset=utf-8");
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONNECTION, "close");
    enum MHD_Result q = MHD_queue_response(conn, MHD_HTTP_FORBIDDEN, r);
    MHD_destroy_response(r);
    return q;
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
    /* before the handler sees anything: a refused client learns nothing */
    if (h->tls && h->tls->ca_pem && !client_ok(h, conn, x)) return refuse_client(conn);
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
    if (h->tls) tls_unregister(h);
    tls_free(h->tls);
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
    h->bound_len = sizeof h->bound;
    if (getsockname(fd, (struct sockaddr *)&h->bound, &h->bound_len) == 0)
        h->port = ss_port(&h->bound);
    unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD |
                     MHD_USE_POLL | MHD_USE_ERROR_LOG;
    if (v6) flags |= MHD_USE_IPv6;
    /* TLS options come last: with an option slot set to MHD_OPTION_END the
     * list stops there, so one call serves plain and TLS listeners */
    enum MHD_OPTION o_cb = MHD_OPTION_END, o_trust = MHD_OPTION_END;
    if (c->tls) {
        if (tls_setup(h, c->tls, err)) {
            close(fd);
            httpd_free(h);
            return NULL;
        }
        pthread_mutex_lock(&tls_mu);
        h->tls_next = tls_head;
        tls_head = h;
        pthread_mutex_unlock(&tls_mu);
        flags |= MHD_USE_TLS;
        o_cb = MHD_OPTION_HTTPS_CERT_CALLBACK;
        if (h->tls->ca_pem) o_trust = MHD_OPTION_HTTPS_MEM_TRUST;
    }
    /* CONNECTION_TIMEOUT: no byte either way for 60 s */
    h->mhd = MHD_start_daemon(
        flags, 0, NULL, NULL, handle, h, MHD_OPTION_EXTERNAL_LOGGER, mhd_log, h,
        MHD_OPTION_LISTEN_SOCKET, fd, MHD_OPTION_CONNECTION_LIMIT, (unsigned)h->max_conns,
        MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)h->max_per_ip, MHD_OPTION_CONNECTION_TIMEOUT,
        (unsigned)60, MHD_OPTION_NOTIFY_CONNECTION, on_connection, h, MHD_OPTION_NOTIFY_COMPLETED,
        request_done, h, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
        c->connection_memory ? c->connection_memory : (size_t)(256 * 1024), o_cb, cert_retrieve,
        o_trust, h->tls ? h->tls->ca_pem : NULL, MHD_OPTION_END);
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
