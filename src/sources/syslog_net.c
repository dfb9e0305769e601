/*
 * syslog_net.c - UDP and TCP syslog listeners feeding one bounded inbox;
 * see syslog_net.h for the contract.
 *
 * The idea: receivers (one thread per listener) do all the per-byte work --
 * framing, the '\n' -> ' ' rewrite, copying into the inbox -- so the engine's
 * thread only swaps two buffers under a mutex and walks an array of message
 * descriptors. The two buffers ping-pong: the one the engine finished
 * delivering becomes the next inbox, so the steady state allocates nothing.
 *
 * Invariants (all under s->mu):
 *   inbox.len <= max_queue_bytes + max_msg_bytes + 1 (one message may
 *   overshoot only when the inbox was empty, so a single message always fits);
 *   every message in inbox/out is followed by '\n' and holds no '\n'/'\r';
 *   every part id referenced by a message is registered in pnames before the
 *   message is queued, so syncing names at the swap covers all of `out`.
 */
#include "sources/syslog_net.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/hash.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/timeutil.h"

#define PAD SL_SYSLOG_NET_PADDING
#define UDP_VLEN 32

typedef struct qbuf {
    char *bytes;
    size_t len, cap; /* cap excludes PAD */
    sl_syslog_net_msg *m;
    int n, mcap;
} qbuf;

struct sl_syslog_net {
    size_t max_queue, max_msg;
    int max_conns, max_per_addr;
    int64_t idle_us;
    int udp_fd, tcp_fd, wake_fd;
    int data_fd; /* eventfd: signalled when the inbox gets its first message */
    int udp_port, tcp_port;
    pthread_t udp_thr, tcp_thr;
    bool udp_started, tcp_started;
    atomic_int stop;

    pthread_mutex_t mu;
    pthread_cond_t data_cv, space_cv;
    qbuf inbox;    /* receivers append (under mu) */
    qbuf out;      /* engine delivers from it (engine thread only) */
    int out_k;     /* next message of out to deliver */
    char **pnames; /* part names, under mu */
    int64_t *pseq; /* next seq per part, under mu */
    int np, pcap;
    sl_hmap *pmap;       /* name hash -> part id, under mu */
    const char **cnames; /* engine-side copy of pnames' pointers */
    int ncnames, ccap;
    sl_syslog_net_stats st; /* under mu */

    /* TLS (tcp thread only once open): NULL paths = plain TCP */
    char *tls_cert, *tls_key, *tls_ca;
    SSL_CTX *tls_ctx;       /* for new connections; each SSL holds a reference */
    int64_t tls_stamp[9];   /* mtime (ns), size, inode of cert, key, ca as loaded */
    int64_t tls_checked_us; /* last look at the files */
    int64_t tls_log_us;     /* last handshake-failure log line */
};

/* ---- queue (caller holds mu) ------------------------------------------- */

static void qbuf_free(qbuf *q) {
    free(q->bytes);
    free(q->m);
}

/* Appends one message as a line. Returns false if the inbox is full. */
static bool q_push(sl_syslog_net *s, const char *p, size_t len, int part) {
    qbuf *q = &s->inbox;
    if (q->len && q->len + len + 1 > s->max_queue) return false;
    if (q->len + len + 1 > q->cap) {
        size_t nc = q->cap ? q->cap : 64 * 1024;
        while (nc < q->len + len + 1)
            nc *= 2;
        q->bytes = sl_xrealloc(q->bytes, nc + PAD);
        q->cap = nc;
    }
    if (q->n == q->mcap) {
        int nm = q->mcap ? q->mcap * 2 : 1024;
        q->m = sl_xreallocarray(q->m, (size_t)nm, sizeof *q->m);
        q->mcap = nm;
    }
    char *d = q->bytes + q->len;
    memcpy(d, p, len);
    for (char *c = d, *e = d + len; (c = memchr(c, '\n', (size_t)(e - c))); c++)
        *c = ' ';
    for (char *c = d, *e = d + len; (c = memchr(c, '\r', (size_t)(e - c))); c++)
        *c = ' ';
    d[len] = '\n';
    if (q->n == 0) { /* the engine may be waiting on data_fd */
        uint64_t one = 1;
        if (write(s->data_fd, &one, sizeof one) < 0) { /* cannot fail below the max count */
        }
    }
    q->m[q->n++] = (sl_syslog_net_msg){(uint32_t)q->len, (uint32_t)len, part, s->pseq[part]++};
    q->len += len + 1;
    s->st.received++;
    s->st.bytes += (int64_t)len;
    s->st.queue_bytes = (int64_t)q->len;
    return true;
}

/* Registers (or finds) a partition by name. */
static int part_id(sl_syslog_net *s, const char *name) {
    uint64_t h = sl_hash_bytes(name, strlen(name), 0);
    int64_t *v = sl_hmap_get(s->pmap, h);
    if (v) return (int)*v;
    if (s->np == s->pcap) {
        int nc = s->pcap ? s->pcap * 2 : 64;
        s->pnames = sl_xreallocarray(s->pnames, (size_t)nc, sizeof *s->pnames);
        s->pseq = sl_xreallocarray(s->pseq, (size_t)nc, sizeof *s->pseq);
        s->pcap = nc;
    }
    s->pnames[s->np] = sl_xstrdup(name);
    s->pseq[s->np] = 0;
    sl_hmap_put(s->pmap, h, s->np, NULL);
    return s->np++;
}

static void peer_name(const struct sockaddr_storage *a, const char *proto, bool with_port,
                      char *out, size_t cap) {
    char host[INET6_ADDRSTRLEN] = "?";
    int port = 0;
    bool v6 = a->ss_family == AF_INET6;
    if (v6) {
        const struct sockaddr_in6 *x = (const void *)a;
        inet_ntop(AF_INET6, &x->sin6_addr, host, sizeof host);
        port = ntohs(x->sin6_port);
    } else if (a->ss_family == AF_INET) {
        const struct sockaddr_in *x = (const void *)a;
        inet_ntop(AF_INET, &x->sin_addr, host, sizeof host);
        port = ntohs(x->sin_port);
    }
    if (!with_port)
        snprintf(out, cap, "%s:%s", proto, host);
    else if (v6)
        snprintf(out, cap, "%s:[%s]:%d", proto, host, port);
    else
        snprintf(out, cap, "%s:%s:%d", proto, host, port);
}

/* ---- UDP receiver ------------------------------------------------------- */

static bool same_addr(const struct sockaddr_storage *a, const struct sockaddr_storage *b) {
    if (a->ss_family != b->ss_family) return false;
    if (a->ss_family == AF_INET)
        return ((const struct sockaddr_in *)a)->sin_addr.s_addr ==
               ((const struct sockaddr_in *)b)->sin_addr.s_addr;
    if (a->ss_family == AF_INET6)
        return memcmp(&((const struct sockaddr_in6 *)a)->sin6_addr,
                      &((const struct sockaddr_in6 *)b)->sin6_addr, sizeof(struct in6_addr)) == 0;
    return false;
}

static void *udp_main(void *arg) {
    sl_syslog_net *s = arg;
    size_t bsz = s->max_msg;
    char *bufs = sl_xcalloc(UDP_VLEN, bsz);
    struct mmsghdr mm[UDP_VLEN];
    struct iovec iov[UDP_VLEN];
    struct sockaddr_storage addr[UDP_VLEN];
    struct sockaddr_storage last = {0};
    int last_part = -1;
    struct pollfd pf[2] = {{s->udp_fd, POLLIN, 0}, {s->wake_fd, POLLIN, 0}};
    while (!atomic_load(&s->stop)) {
        if (poll(pf, 2, -1) < 0) {
            if (errno == EINTR) continue;
            break;
        }
        if (pf[1].revents) break;
        for (int i = 0; i < UDP_VLEN; i++) {
            iov[i] = (struct iovec){bufs + (size_t)i * bsz, bsz};
            memset(&mm[i], 0, sizeof mm[i]);
            mm[i].msg_hdr.msg_iov = &iov[i];
            mm[i].msg_hdr.msg_iovlen = 1;
            mm[i].msg_hdr.msg_name = &addr[i];
            mm[i].msg_hdr.msg_namelen = sizeof addr[i];
        }
        int n = recvmmsg(s->udp_fd, mm, UDP_VLEN, MSG_DONTWAIT, NULL);
        if (n <= 0) continue;
        pthread_mutex_lock(&s->mu);
        bool any = false;
        for (int i = 0; i < n; i++) {
            const char *p = iov[i].iov_base;
            size_t len = mm[i].msg_len;
            if (mm[i].msg_hdr.msg_flags & MSG_TRUNC) s->st.truncated++;
            while (len && (p[len - 1] == '\n' || p[len - 1] == '\r' || p[len - 1] == '\0'))
                len--;
            if (!len) continue;
            if (last_part < 0 || !same_addr(&addr[i], &last)) {
                char name[96];
                peer_name(&addr[i], "udp", false, name, sizeof name);
                last_part = part_id(s, name);
                last = addr[i];
            }
            if (q_push(s, p, len, last_part))
                any = true;
            else
                s->st.dropped++;
        }
        if (any) pthread_cond_signal(&s->data_cv);
        pthread_mutex_unlock(&s->mu);
    }
    free(bufs);
    return NULL;
}

/* ---- TLS ------------------------------------------------------------------ */

/* A key with a passphrase must not make OpenSSL prompt on the terminal. */
static int no_passphrase(char *buf, int size, int rw, void *u) {
    (void)buf, (void)size, (void)rw, (void)u;
    return 0;
}

/* The reason of the last OpenSSL error (queue cleared). */
static const char *tls_reason(char *out, size_t cap) {
    unsigned long e = ERR_peek_last_error();
    if (e)
        ERR_error_string_n(e, out, cap);
    else
        snprintf(out, cap, "unknown error");
    ERR_clear_error();
    return out;
}

static int readable(const char *what, const char *path, sl_error *err) {
    FILE *f = fopen(path, "r");
    if (!f) return sl_error_set(err, SL_EINVAL, "tls %s '%s': %s", what, path, strerror(errno));
    fclose(f);
    return 0;
}

/* A server context for cert/key (and client certificates from ca). */
static SSL_CTX *tls_ctx_new(const char *cert, const char *key, const char *ca, sl_error *err) {
    char why[256];
    if (readable("cert", cert, err) || readable("key", key, err) ||
        (ca && readable("client_ca", ca, err)))
        return NULL;
    ERR_clear_error();
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (!ctx) {
        sl_error_set(err, SL_EIO, "tls: %s", tls_reason(why, sizeof why));
        return NULL;
    }
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    /* no session resumption: nothing to gain for long-lived log connections,
     * and a resumed session would skip the client-certificate check of a
     * renewed CA */
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET | SSL_OP_NO_RENEGOTIATION);
    SSL_CTX_set_default_passwd_cb(ctx, no_passphrase);
    if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1) {
        sl_error_set(err, SL_EINVAL, "tls cert '%s' is not a PEM certificate: %s", cert,
                     tls_reason(why, sizeof why));
        goto fail;
    }
    if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1) {
        if (ERR_GET_REASON(ERR_peek_last_error()) == X509_R_KEY_VALUES_MISMATCH) {
            sl_error_set(err, SL_EINVAL, "tls key '%s' does not match cert '%s'", key, cert);
            ERR_clear_error();
            goto fail;
        }
        sl_error_set(err, SL_EINVAL,
                     "tls key '%s' is not a PEM private key (without passphrase): %s", key,
                     tls_reason(why, sizeof why));
        goto fail;
    }
    if (SSL_CTX_check_private_key(ctx) != 1) {
        sl_error_set(err, SL_EINVAL, "tls key '%s' does not match cert '%s'", key, cert);
        ERR_clear_error();
        goto fail;
    }
    if (X509_cmp_current_time(X509_get0_notAfter(SSL_CTX_get0_certificate(ctx))) < 0) {
        sl_error_set(err, SL_EINVAL, "tls cert '%s' has expired", cert);
        goto fail;
    }
    if (ca) {
        STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(ca);
        if (!names || SSL_CTX_load_verify_locations(ctx, ca, NULL) != 1) {
            if (names) sk_X509_NAME_pop_free(names, X509_NAME_free);
            sl_error_set(err, SL_EINVAL, "tls client_ca '%s' holds no PEM certificate: %s", ca,
                         tls_reason(why, sizeof why));
            goto fail;
        }
        SSL_CTX_set_client_CA_list(ctx, names);
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
    }
    return ctx;
fail:
    SSL_CTX_free(ctx);
    return NULL;
}

int sl_syslog_net_tls_check(const char *cert, const char *key, const char *client_ca, char *detail,
                            size_t cap, sl_error *err) {
    SSL_CTX *ctx = tls_ctx_new(cert, key, client_ca, err);
    if (!ctx) return err ? err->code : SL_EINVAL;
    if (detail && cap) {
        X509 *x = SSL_CTX_get0_certificate(ctx);
        char subj[256] = "?", until[32] = "?";
        X509_NAME_oneline(X509_get_subject_name(x), subj, sizeof subj);
        struct tm tm;
        if (ASN1_TIME_to_tm(X509_get0_notAfter(x), &tm))
            strftime(until, sizeof until, "%Y-%m-%dT%H:%M:%SZ", &tm);
        snprintf(detail, cap, "TLS 1.2+, certificate %s, expires %s%s", subj, until,
                 client_ca ? ", client certificates required" : "");
    }
    SSL_CTX_free(ctx);
    return 0;
}

/* mtime, size and inode of the three files: what "changed" means for a
 * renewal (a rename over the old file changes the inode). */
static void tls_stamp(const sl_syslog_net *s, int64_t out[9]) {
    const char *f[3] = {s->tls_cert, s->tls_key, s->tls_ca};
    for (int i = 0; i < 3; i++) {
        struct stat st;
        out[3 * i] = out[3 * i + 1] = out[3 * i + 2] = -1;
        if (f[i] && stat(f[i], &st) == 0) {
            out[3 * i] = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
            out[3 * i + 1] = (int64_t)st.st_size;
            out[3 * i + 2] = (int64_t)st.st_ino;
        }
    }
}

/* Before accepting: at most once a second, take renewed files. A renewal
 * that does not load (say the cert is written and the key not yet) keeps the
 * old context; the next change of any file is tried again. */
static void tls_maybe_reload(sl_syslog_net *s, int64_t now) {
    if (!s->tls_ctx || now - s->tls_checked_us < SL_US_PER_SEC) return;
    s->tls_checked_us = now;
    int64_t st[9];
    tls_stamp(s, st);
    if (memcmp(st, s->tls_stamp, sizeof st) == 0) return;
    memcpy(s->tls_stamp, st, sizeof st);
    sl_error err = {0};
    SSL_CTX *ctx = tls_ctx_new(s->tls_cert, s->tls_key, s->tls_ca, &err);
    if (!ctx) {
        char esc[2 * SL_ERROR_MAX];
        sl_json_escape(esc, (int)sizeof esc, err.msg, (int)strlen(err.msg));
        sl_log_warn("syslog tls: changed certificate files do not load, keeping the previous ones",
                    "\"error\":\"%s\"", esc);
        return;
    }
    SSL_CTX_free(s->tls_ctx); /* open connections hold their own reference */
    s->tls_ctx = ctx;
    pthread_mutex_lock(&s->mu);
    int64_t n = ++s->st.tls_reloads;
    pthread_mutex_unlock(&s->mu);
    sl_log_info("syslog tls: certificate reloaded", "\"reloads\":%lld", (long long)n);
}

/* ---- TCP receiver ------------------------------------------------------- */

enum { FR_UNKNOWN, FR_OCTET, FR_LF };

typedef struct conn {
    int fd, part, mode;
    struct sockaddr_storage addr;
    int64_t last_us; /* last byte read (monotonic) */
    char *buf;
    size_t len, cap;
    uint64_t skip;     /* octet mode: bytes of an overlong frame still to discard */
    bool discard_line; /* LF mode: discarding the rest of an overlong line */
    SSL *ssl;          /* TLS: NULL on a plain listener */
    bool handshaken;   /* TLS: SSL_accept finished */
    bool want_out;     /* TLS: waiting for the socket to be writable (EPOLLOUT) */
} conn;

/* Queues a message, waiting for room (backpressure). Caller holds mu.
 * Returns false when the source is stopping. */
static bool push_wait(sl_syslog_net *s, const char *p, size_t len, int part) {
    if (!len) return true;
    while (!q_push(s, p, len, part)) {
        if (atomic_load(&s->stop)) return false;
        s->st.backpressure++;
        pthread_cond_signal(&s->data_cv);
        pthread_cond_wait(&s->space_cv, &s->mu);
    }
    return true;
}

/* Frames and queues every complete message in c->buf; keeps the rest.
 * eof: the peer closed, deliver an LF-framed tail. Returns false if stopping. */
static bool conn_frame(sl_syslog_net *s, conn *c, bool eof) {
    size_t off = 0;
    const size_t max = s->max_msg;
    bool ok = true, any = false;
    pthread_mutex_lock(&s->mu);
    while (ok) {
        if (c->skip) {
            size_t d = c->len - off < c->skip ? c->len - off : (size_t)c->skip;
            off += d;
            c->skip -= d;
            if (c->skip) break;
            continue;
        }
        if (off == c->len) break;
        if (c->mode == FR_UNKNOWN) c->mode = isdigit((unsigned char)c->buf[off]) ? FR_OCTET : FR_LF;
        if (c->mode == FR_OCTET) {
            size_t i = off;
            uint64_t v = 0;
            while (i < c->len && i - off < 10 && isdigit((unsigned char)c->buf[i]))
                v = v * 10 + (uint64_t)(c->buf[i++] - '0');
            if (i == c->len && i - off < 10) break; /* need more bytes */
            if (i == off || i == c->len || c->buf[i] != ' ') {
                s->st.framing_errors++;
                c->mode = FR_LF; /* resynchronise on line ends, as rsyslog does */
                continue;
            }
            size_t start = i + 1;
            size_t take = v > max ? max : (size_t)v;
            if (c->len - start < take) break; /* body incomplete */
            size_t l = take;
            while (l && (c->buf[start + l - 1] == '\n' || c->buf[start + l - 1] == '\r' ||
                         c->buf[start + l - 1] == '\0'))
                l--;
            ok = push_wait(s, c->buf + start, l, c->part); /* rsyslog's templates end in LF */
            any = true;
            if (v > max) {
                s->st.truncated++;
                c->skip = v - max;
            }
            off = start + take;
            continue;
        }
        /* FR_LF */
        const char *p = c->buf + off;
        size_t avail = c->len - off;
        const char *nl = memchr(p, '\n', avail);
        if (c->discard_line) {
            if (!nl) {
                off = c->len;
                break;
            }
            c->discard_line = false;
            off = (size_t)(nl - c->buf) + 1;
            continue;
        }
        if (!nl) {
            if (avail >= max) { /* overlong line: keep its first max bytes */
                s->st.truncated++;
                ok = push_wait(s, p, max, c->part);
                any = true;
                c->discard_line = true;
                off = c->len;
            } else if (eof) {
                size_t l = avail;
                while (l && (p[l - 1] == '\r' || p[l - 1] == '\0'))
                    l--;
                ok = push_wait(s, p, l, c->part);
                any = true;
                off = c->len;
            }
            break;
        }
        size_t l = (size_t)(nl - p);
        off += l + 1;
        while (l && (p[l - 1] == '\r' || p[l - 1] == '\0'))
            l--;
        if (l > max) {
            s->st.truncated++;
            l = max;
        }
        ok = push_wait(s, p, l, c->part);
        any = true;
    }
    if (eof && c->mode == FR_OCTET && off < c->len && !c->skip)
        s->st.framing_errors++; /* cut frame */
    if (any) pthread_cond_signal(&s->data_cv);
    pthread_mutex_unlock(&s->mu);
    if (off) {
        memmove(c->buf, c->buf + off, c->len - off);
        c->len -= off;
    }
    return ok;
}

static void conn_close(sl_syslog_net *s, int ep, conn *c) {
    epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
    SSL_free(c->ssl); /* no close_notify: the peer only sends, and may be gone */
    close(c->fd);
    free(c->buf);
    free(c);
    pthread_mutex_lock(&s->mu);
    s->st.open_connections--;
    pthread_mutex_unlock(&s->mu);
}

/* Asks epoll for writability while OpenSSL needs to write (handshake). */
static void want_out(int ep, conn *c, bool out) {
    if (c->want_out == out) return;
    c->want_out = out;
    struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP | (out ? EPOLLOUT : 0), .data.ptr = c};
    epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
}

static void tls_failed(sl_syslog_net *s, conn *c, int64_t now) {
    char why[256], peer[96];
    tls_reason(why, sizeof why);
    pthread_mutex_lock(&s->mu);
    int64_t n = ++s->st.tls_failed;
    pthread_mutex_unlock(&s->mu);
    if (s->tls_log_us && now - s->tls_log_us < 10 * SL_US_PER_SEC) return; /* no log flood */
    s->tls_log_us = now;
    peer_name(&c->addr, "tcp", true, peer, sizeof peer);
    sl_log_warn("syslog tls: handshake failed, connection closed",
                "\"peer\":\"%s\",\"error\":\"%s\",\"tls_failed\":%lld", peer, why, (long long)n);
}

/* One step of a TLS connection: the handshake until it is done, then one
 * SSL_read into c->buf. Sets *eof when the connection must close. Returns
 * true when decrypted bytes are still waiting inside the SSL object. */
static bool tls_read(sl_syslog_net *s, int ep, conn *c, int64_t now, bool *eof) {
    ERR_clear_error();
    if (!c->handshaken) {
        int r = SSL_accept(c->ssl);
        if (r != 1) {
            int e = SSL_get_error(c->ssl, r);
            if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
                want_out(ep, c, e == SSL_ERROR_WANT_WRITE);
            else {
                tls_failed(s, c, now);
                *eof = true;
            }
            return false;
        }
        c->handshaken = true;
        c->last_us = now;
        want_out(ep, c, false);
    }
    if (c->len == c->cap) return SSL_has_pending(c->ssl);
    int r = SSL_read(c->ssl, c->buf + c->len, (int)(c->cap - c->len));
    if (r > 0) {
        c->len += (size_t)r;
        c->last_us = now;
        want_out(ep, c, false); /* level-triggered EPOLLOUT left on would spin */
        return SSL_has_pending(c->ssl);
    }
    int e = SSL_get_error(c->ssl, r);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
        want_out(ep, c, e == SSL_ERROR_WANT_WRITE);
    else
        *eof = true; /* close_notify, reset, or a protocol error: the peer is done */
    ERR_clear_error();
    return false;
}

static char listen_tag, wake_tag;

/* Out of descriptors: the listening socket stays readable, so it leaves the
 * epoll set until the back-off ends (tcp_main puts it back). Returns true
 * when accepting must pause. */
static bool accept_failed(sl_syslog_net *s, int e, int64_t *last_log_us) {
    if (e != EMFILE && e != ENFILE && e != ENOBUFS && e != ENOMEM) return false;
    pthread_mutex_lock(&s->mu);
    int64_t n = ++s->st.accept_errors;
    int64_t open = s->st.open_connections;
    pthread_mutex_unlock(&s->mu);
    int64_t now = sl_monotonic_us();
    if (!*last_log_us || now - *last_log_us >= 60 * SL_US_PER_SEC) {
        *last_log_us = now;
        sl_log_warn("syslog tcp: cannot accept connections, pausing 1 s",
                    "\"error\":\"%s\",\"open_connections\":%lld,\"accept_errors\":%lld",
                    strerror(e), (long long)open, (long long)n);
    }
    return true;
}

/* Accepts what is pending. Returns false when accepting must pause (EMFILE). */
static bool tcp_accept(sl_syslog_net *s, int ep, conn ***all, int *nall, int *capall,
                       int64_t *last_log_us) {
    for (;;) {
        struct sockaddr_storage a;
        socklen_t al = sizeof a;
        int fd = accept4(s->tcp_fd, (struct sockaddr *)&a, &al, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED) continue;
            return !accept_failed(s, errno, last_log_us);
        }
        int same = 0;
        for (int k = 0; k < *nall && same < s->max_per_addr; k++)
            same += same_addr(&(*all)[k]->addr, &a);
        pthread_mutex_lock(&s->mu);
        bool full = s->st.open_connections >= s->max_conns || same >= s->max_per_addr;
        if (full) s->st.refused++;
        pthread_mutex_unlock(&s->mu);
        if (full) {
            close(fd);
            continue;
        }
        conn *c = calloc(1, sizeof *c);
        if (!c) {
            close(fd);
            continue;
        }
        c->fd = fd;
        c->addr = a;
        c->last_us = sl_monotonic_us();
        c->cap = s->max_msg + 64 > 65536 ? s->max_msg + 64 : 65536;
        c->buf = malloc(c->cap);
        if (s->tls_ctx && c->buf) {
            c->ssl = SSL_new(s->tls_ctx);
            if (c->ssl && SSL_set_fd(c->ssl, fd) != 1) {
                SSL_free(c->ssl);
                c->ssl = NULL;
            }
            if (!c->ssl) {
                ERR_clear_error();
                free(c->buf);
                c->buf = NULL;
            }
        }
        if (!c->buf) {
            free(c);
            close(fd);
            continue;
        }
        char name[96];
        peer_name(&a, "tcp", true, name, sizeof name);
        pthread_mutex_lock(&s->mu);
        c->part = part_id(s, name);
        s->st.connections++;
        s->st.open_connections++;
        pthread_mutex_unlock(&s->mu);
        struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP, .data.ptr = c};
        if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) != 0) {
            conn_close(s, ep, c);
            continue;
        }
        if (*nall == *capall) {
            *capall = *capall ? *capall * 2 : 64;
            *all = sl_xreallocarray(*all, (size_t)*capall, sizeof **all);
        }
        (*all)[(*nall)++] = c;
    }
}

static void conn_forget(conn **all, int *nall, conn *c) {
    for (int k = 0; k < *nall; k++)
        if (all[k] == c) {
            all[k] = all[--*nall];
            return;
        }
}

/* Closes connections silent for idle_us. A connection with unread bytes is
 * not idle (the receiver may have been waiting for queue room). */
static void close_idle(sl_syslog_net *s, int ep, conn **all, int *nall) {
    int64_t now = sl_monotonic_us();
    for (int k = 0; k < *nall;) {
        conn *c = all[k];
        if (now - c->last_us < s->idle_us) {
            k++;
            continue;
        }
        char b;
        if (recv(c->fd, &b, 1, MSG_PEEK | MSG_DONTWAIT) > 0) {
            c->last_us = now;
            k++;
            continue;
        }
        all[k] = all[--*nall];
        conn_close(s, ep, c);
        pthread_mutex_lock(&s->mu);
        s->st.idle_closed++;
        pthread_mutex_unlock(&s->mu);
    }
}

static void *tcp_main(void *arg) {
    sl_syslog_net *s = arg;
    int ep = epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0) return NULL;
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &listen_tag};
    epoll_ctl(ep, EPOLL_CTL_ADD, s->tcp_fd, &ev);
    ev.data.ptr = &wake_tag;
    epoll_ctl(ep, EPOLL_CTL_ADD, s->wake_fd, &ev);
    conn **all = NULL; /* to free what is open at shutdown */
    int nall = 0, capall = 0;
    struct epoll_event evs[64];
    int64_t paused_until = 0, last_log_us = 0, next_sweep = 0;
    while (!atomic_load(&s->stop)) {
        /* wake at least once a second for the idle sweep and the back-off */
        int n = epoll_wait(ep, evs, 64, nall || paused_until ? 1000 : -1);
        if (n < 0) {
            if (errno == EINTR) continue;
            break;
        }
        int64_t now = sl_monotonic_us();
        if (paused_until && now >= paused_until) {
            ev = (struct epoll_event){.events = EPOLLIN, .data.ptr = &listen_tag};
            epoll_ctl(ep, EPOLL_CTL_ADD, s->tcp_fd, &ev);
            paused_until = 0;
        }
        for (int i = 0; i < n && !atomic_load(&s->stop); i++) {
            void *tag = evs[i].data.ptr;
            if (tag == &wake_tag) break;
            if (tag == &listen_tag) {
                tls_maybe_reload(s, now);
                if (!paused_until && !tcp_accept(s, ep, &all, &nall, &capall, &last_log_us)) {
                    epoll_ctl(ep, EPOLL_CTL_DEL, s->tcp_fd, NULL);
                    paused_until = now + SL_US_PER_SEC;
                }
                continue;
            }
            conn *c = tag;
            bool eof = false, more = false;
            if (c->ssl)
                more = tls_read(s, ep, c, now, &eof);
            else if (c->len < c->cap) {
                ssize_t r = read(c->fd, c->buf + c->len, c->cap - c->len);
                if (r > 0) {
                    c->len += (size_t)r;
                    c->last_us = now;
                } else if (r == 0 || (errno != EAGAIN && errno != EINTR))
                    eof = true;
            }
            if (!conn_frame(s, c, eof)) break;
            /* TLS: a record bigger than the room left is still inside the SSL
             * object; epoll will not report it, so drain it now */
            while (more && !eof && c->len < c->cap) {
                more = tls_read(s, ep, c, now, &eof);
                if (!conn_frame(s, c, eof)) goto stop;
            }
            if (!eof && c->len == c->cap) { /* cannot happen with cap > max_msg + header; be safe */
                pthread_mutex_lock(&s->mu);
                s->st.framing_errors++;
                pthread_mutex_unlock(&s->mu);
                c->len = 0;
            }
            if (eof) {
                conn_forget(all, &nall, c);
                conn_close(s, ep, c);
            }
        }
        if (now >= next_sweep) {
            close_idle(s, ep, all, &nall);
            next_sweep = now + SL_US_PER_SEC / 4;
        }
    }
stop:
    for (int k = 0; k < nall; k++)
        conn_close(s, ep, all[k]);
    free(all);
    close(ep);
    return NULL;
}

/* ---- open / close -------------------------------------------------------- */

static int bind_addr(const char *spec, int type, int *port, sl_error *err) {
    char host[256] = "", portstr[16] = "";
    const char *colon;
    if (spec[0] == '[') {
        const char *rb = strchr(spec, ']');
        if (!rb || rb[1] != ':')
            return sl_error_set(err, SL_EINVAL, "syslog listen address '%s': expected [addr]:port",
                                spec);
        snprintf(host, sizeof host, "%.*s", (int)(rb - spec - 1), spec + 1);
        colon = rb + 1;
    } else {
        colon = strrchr(spec, ':');
        if (!colon)
            return sl_error_set(err, SL_EINVAL, "syslog listen address '%s': expected host:port",
                                spec);
        snprintf(host, sizeof host, "%.*s", (int)(colon - spec), spec);
    }
    snprintf(portstr, sizeof portstr, "%s", colon + 1);
    if (!portstr[0] || strspn(portstr, "0123456789") != strlen(portstr))
        return sl_error_set(err, SL_EINVAL, "syslog listen address '%s': bad port", spec);
    struct addrinfo hints = {
        .ai_family = AF_UNSPEC, .ai_socktype = type, .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    struct addrinfo *res = NULL;
    int g = getaddrinfo(host[0] ? host : NULL, portstr, &hints, &res);
    if (g != 0)
        return sl_error_set(err, SL_EINVAL, "syslog listen address '%s': %s", spec,
                            gai_strerror(g));
    int fd = socket(res->ai_family, res->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) {
        freeaddrinfo(res);
        return sl_error_set(err, SL_EIO, "syslog socket: %s", strerror(errno));
    }
    /* SO_REUSEADDR only for TCP (restart over TIME_WAIT). On UDP it would let
     * bind(port 0) hand out a port another SO_REUSEADDR socket already holds,
     * and Linux then delivers every datagram to just one of the two. */
    int one = 1;
    if (type == SOCK_STREAM) setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (type == SOCK_DGRAM) {
        int rcv = 8 << 20; /* capped by net.core.rmem_max */
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcv, sizeof rcv);
    }
    if (bind(fd, res->ai_addr, res->ai_addrlen) != 0 ||
        (type == SOCK_STREAM && listen(fd, 1024) != 0)) {
        int e = errno;
        freeaddrinfo(res);
        close(fd);
        return sl_error_set(err, SL_EIO, "syslog %s listener on %s: %s",
                            type == SOCK_STREAM ? "tcp" : "udp", spec, strerror(e));
    }
    freeaddrinfo(res);
    struct sockaddr_storage a;
    socklen_t al = sizeof a;
    getsockname(fd, (struct sockaddr *)&a, &al);
    *port = a.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&a)->sin6_port)
                                    : ntohs(((struct sockaddr_in *)&a)->sin_port);
    return fd;
}

sl_syslog_net *sl_syslog_net_open(const sl_syslog_net_config *c, sl_error *err) {
    if (!c || (!c->udp && !c->tcp)) {
        sl_error_set(err, SL_EINVAL, "syslog source: give a udp and/or tcp listen address");
        return NULL;
    }
    sl_syslog_net *s = calloc(1, sizeof *s);
    if (!s) {
        sl_error_set(err, SL_ENOMEM, "out of memory");
        return NULL;
    }
    s->max_queue = c->max_queue_bytes ? c->max_queue_bytes : 8u << 20;
    s->max_msg = c->max_msg_bytes ? c->max_msg_bytes : 64u << 10;
    if (s->max_msg > s->max_queue) s->max_msg = s->max_queue;
    s->max_conns = c->max_connections > 0 ? c->max_connections : 1024;
    s->max_per_addr = c->max_conns_per_addr > 0 ? c->max_conns_per_addr : 64;
    s->idle_us = (c->idle_timeout_ms > 0 ? c->idle_timeout_ms : 300000) * 1000;
    s->udp_fd = s->tcp_fd = -1;
    s->data_fd = -1;
    s->udp_port = s->tcp_port = -1;
    atomic_init(&s->stop, 0);
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->data_cv, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_destroy(&s->data_cv);
    pthread_cond_init(&s->data_cv, &ca);
    pthread_condattr_destroy(&ca);
    pthread_cond_init(&s->space_cv, NULL);
    s->pmap = sl_hmap_new(64);
    s->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    s->data_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (s->wake_fd < 0 || s->data_fd < 0) {
        sl_error_set(err, SL_EIO, "eventfd: %s", strerror(errno));
        goto fail;
    }
    if (c->udp) {
        int fd = bind_addr(c->udp, SOCK_DGRAM, &s->udp_port, err);
        if (fd < 0) goto fail;
        s->udp_fd = fd;
    }
    if (c->tcp && (c->tls_cert || c->tls_key)) {
        if (!c->tls_cert || !c->tls_key) {
            sl_error_set(err, SL_EINVAL, "syslog tls: cert and key go together");
            goto fail;
        }
        s->tls_cert = sl_xstrdup(c->tls_cert);
        s->tls_key = sl_xstrdup(c->tls_key);
        s->tls_ca = c->tls_client_ca ? sl_xstrdup(c->tls_client_ca) : NULL;
        tls_stamp(s, s->tls_stamp); /* before loading: a change meanwhile is seen */
        s->tls_ctx = tls_ctx_new(s->tls_cert, s->tls_key, s->tls_ca, err);
        if (!s->tls_ctx) goto fail;
        s->tls_checked_us = sl_monotonic_us();
    }
    if (c->tcp) {
        int fd = bind_addr(c->tcp, SOCK_STREAM, &s->tcp_port, err);
        if (fd < 0) goto fail;
        s->tcp_fd = fd;
    }
    if (s->udp_fd >= 0) {
        if (pthread_create(&s->udp_thr, NULL, udp_main, s) != 0) {
            sl_error_set(err, SL_EIO, "syslog: cannot start the udp receiver thread");
            goto fail;
        }
        s->udp_started = true;
    }
    if (s->tcp_fd >= 0) {
        if (pthread_create(&s->tcp_thr, NULL, tcp_main, s) != 0) {
            sl_error_set(err, SL_EIO, "syslog: cannot start the tcp receiver thread");
            goto fail;
        }
        s->tcp_started = true;
    }
    return s;
fail:
    sl_syslog_net_close(s);
    return NULL;
}

int sl_syslog_net_fd(const sl_syslog_net *s) { return s->data_fd; }
int sl_syslog_net_udp_port(const sl_syslog_net *s) { return s->udp_port; }
int sl_syslog_net_tcp_port(const sl_syslog_net *s) { return s->tcp_port; }

void sl_syslog_net_close(sl_syslog_net *s) {
    if (!s) return;
    pthread_mutex_lock(&s->mu);
    atomic_store(&s->stop, 1);
    pthread_cond_broadcast(&s->space_cv);
    pthread_mutex_unlock(&s->mu);
    if (s->wake_fd >= 0) {
        uint64_t one = 1;
        if (write(s->wake_fd, &one, sizeof one) <
            0) { /* cannot fail for an eventfd below its max */
        }
    }
    if (s->udp_started) pthread_join(s->udp_thr, NULL);
    if (s->tcp_started) pthread_join(s->tcp_thr, NULL);
    if (s->udp_fd >= 0) close(s->udp_fd);
    if (s->tcp_fd >= 0) close(s->tcp_fd);
    if (s->wake_fd >= 0) close(s->wake_fd);
    if (s->data_fd >= 0) close(s->data_fd);
    qbuf_free(&s->inbox);
    qbuf_free(&s->out);
    for (int i = 0; i < s->np; i++)
        free(s->pnames[i]);
    free(s->pnames);
    free(s->pseq);
    free(s->cnames);
    sl_hmap_free(s->pmap);
    SSL_CTX_free(s->tls_ctx);
    free(s->tls_cert);
    free(s->tls_key);
    free(s->tls_ca);
    pthread_cond_destroy(&s->data_cv);
    pthread_cond_destroy(&s->space_cv);
    pthread_mutex_destroy(&s->mu);
    free(s);
}

/* ---- engine side ----------------------------------------------------------- */

static void sync_names(sl_syslog_net *s) { /* caller holds mu */
    if (s->ncnames == s->np) return;
    if (s->ccap < s->np + 1) {
        int nc = s->pcap + 1;
        s->cnames = sl_xreallocarray(s->cnames, (size_t)nc, sizeof *s->cnames);
        s->ccap = nc;
    }
    for (int i = s->ncnames; i < s->np; i++)
        s->cnames[i] = s->pnames[i];
    s->cnames[s->np] = NULL;
    s->ncnames = s->np;
}

int sl_syslog_net_poll(sl_syslog_net *s, int max, int timeout_ms, const char **buf,
                       const sl_syslog_net_msg **msgs, sl_error *err) {
    (void)err;
    static const char empty[PAD + 1];
    if (max < 1) max = 1;
    if (s->out_k >= s->out.n) {
        pthread_mutex_lock(&s->mu);
        if (s->inbox.n == 0 && timeout_ms > 0) {
            struct timespec dl;
            clock_gettime(CLOCK_MONOTONIC, &dl);
            dl.tv_sec += timeout_ms / 1000;
            dl.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
            if (dl.tv_nsec >= 1000000000L) dl.tv_sec++, dl.tv_nsec -= 1000000000L;
            while (s->inbox.n == 0 && !atomic_load(&s->stop))
                if (pthread_cond_timedwait(&s->data_cv, &s->mu, &dl) == ETIMEDOUT) break;
        }
        if (s->inbox.n > 0) {
            uint64_t v; /* drained under mu: the next first message signals again */
            if (read(s->data_fd, &v, sizeof v) < 0) { /* EAGAIN: already drained */
            }
            qbuf t = s->out;
            s->out = s->inbox;
            s->inbox = t;
            s->inbox.len = 0;
            s->inbox.n = 0;
            s->st.queue_bytes = 0;
            s->out_k = 0;
            pthread_cond_broadcast(&s->space_cv);
        } else {
            s->out.n = s->out_k = 0;
        }
        sync_names(s);
        pthread_mutex_unlock(&s->mu);
        if (s->out.n) memset(s->out.bytes + s->out.len, 0, PAD);
    }
    int n = s->out.n - s->out_k;
    if (n > max) n = max;
    if (n <= 0) {
        *buf = empty;
        *msgs = NULL;
        return 0;
    }
    sl_syslog_net_msg *m = s->out.m + s->out_k;
    uint32_t base = m[0].off;
    for (int i = 0; i < n; i++)
        m[i].off -= base;
    *buf = s->out.bytes + base;
    *msgs = m;
    s->out_k += n;
    return n;
}

const char *const *sl_syslog_net_part_names(const sl_syslog_net *s) {
    static const char *const none[] = {NULL};
    return s->cnames ? s->cnames : none;
}

int sl_syslog_net_part_count(const sl_syslog_net *s) { return s->ncnames; }

void sl_syslog_net_stats_get(sl_syslog_net *s, sl_syslog_net_stats *out) {
    pthread_mutex_lock(&s->mu);
    *out = s->st;
    pthread_mutex_unlock(&s->mu);
}
