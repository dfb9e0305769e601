/*
 * test_syslog_net.c - the UDP/TCP syslog listeners (src/sources/syslog_net.c).
 *
 * Every test opens listeners on 127.0.0.1:0 and talks to them over real
 * sockets. The collector (drain) checks the poll contract on every call:
 * msgs[0].off == 0, lines contiguous, each followed by '\n', no '\n'/'\r'
 * inside, at most `max` messages, and per-partition seq numbers 0, 1, 2...
 * Covered: UDP datagrams, TCP LF framing (CRLF, tail delivered at close),
 * octet counting fed one byte at a time, a bad octet count (framing error,
 * then LF), truncation of overlong messages in both framings, TCP
 * backpressure with a tiny queue (every message arrives once, in order),
 * UDP drops counted when the queue is full, peers as partitions, bad
 * addresses. TLS (certificates made here with the OpenSSL API, in a
 * temporary directory): the load-time check (subject and expiry, a key
 * that does not match, an expired or garbage certificate), messages over
 * TLS in big writes (every one once, in order), plain TCP to the TLS port
 * (closed, nothing queued, counted), client certificates required, and a
 * renewed certificate served to the next connection.
 */
#include <setjmp.h> /* cmocka.h needs these four first */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "core/timeutil.h"
#include "sources/syslog_net.h"

typedef struct {
    char **msg;
    char **part;
    int n, cap;
} got_t;

static void got_free(got_t *g) {
    for (int i = 0; i < g->n; i++)
        free(g->msg[i]), free(g->part[i]);
    free(g->msg);
    free(g->part);
    memset(g, 0, sizeof *g);
}

/* Polls until want messages arrived (or timeout_ms passed), checking the contract. */
static void drain(sl_syslog_net *s, got_t *g, int want, int max, int timeout_ms) {
    int64_t end = sl_monotonic_us() + (int64_t)timeout_ms * 1000;
    static int64_t seqs[4096];
    if (g->n == 0) memset(seqs, 0, sizeof seqs);
    while (g->n < want && sl_monotonic_us() < end) {
        const char *buf;
        const sl_syslog_net_msg *m;
        int n = sl_syslog_net_poll(s, max, 20, &buf, &m, NULL);
        assert_true(n >= 0 && n <= max);
        if (!n) continue;
        assert_int_equal(m[0].off, 0);
        const char *const *names = sl_syslog_net_part_names(s);
        for (int i = 0; i < n; i++) {
            if (i) assert_int_equal(m[i].off, m[i - 1].off + m[i - 1].len + 1);
            assert_int_equal(buf[m[i].off + m[i].len], '\n');
            assert_null(memchr(buf + m[i].off, '\n', m[i].len));
            assert_null(memchr(buf + m[i].off, '\r', m[i].len));
            assert_true(m[i].part >= 0 && m[i].part < sl_syslog_net_part_count(s) &&
                        m[i].part < 4096);
            assert_int_equal(m[i].pos, seqs[m[i].part]++);
            if (g->n == g->cap) {
                g->cap = g->cap ? g->cap * 2 : 64;
                g->msg = realloc(g->msg, (size_t)g->cap * sizeof *g->msg);
                g->part = realloc(g->part, (size_t)g->cap * sizeof *g->part);
            }
            g->msg[g->n] = strndup(buf + m[i].off, m[i].len);
            g->part[g->n] = strdup(names[m[i].part]);
            g->n++;
        }
    }
}

static sl_syslog_net *open_both(size_t maxq, size_t maxmsg) {
    sl_syslog_net_config c = {.udp = "127.0.0.1:0",
                              .tcp = "127.0.0.1:0",
                              .max_queue_bytes = maxq,
                              .max_msg_bytes = maxmsg};
    sl_error err = {0};
    sl_syslog_net *s = sl_syslog_net_open(&c, &err);
    if (!s) fprintf(stderr, "%s\n", err.msg);
    assert_non_null(s);
    assert_true(sl_syslog_net_udp_port(s) > 0);
    assert_true(sl_syslog_net_tcp_port(s) > 0);
    return s;
}

static struct sockaddr_in addr_of(int port) {
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return a;
}

static int tcp_connect(int port, int *local_port) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = addr_of(port);
    assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
    struct sockaddr_in l;
    socklen_t ll = sizeof l;
    getsockname(fd, (struct sockaddr *)&l, &ll);
    if (local_port) *local_port = ntohs(l.sin_port);
    return fd;
}

static void send_all(int fd, const char *p, size_t n) {
    while (n) {
        ssize_t w = write(fd, p, n);
        assert_true(w > 0);
        p += w;
        n -= (size_t)w;
    }
}

static void test_udp(void **state) {
    (void)state;
    sl_syslog_net *s = open_both(0, 0);
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in a = addr_of(sl_syslog_net_udp_port(s));
    const char *d[] = {"<13>1 2026-01-01T00:00:00Z h app - - - one", "two\nlines\r\n", "\n",
                       "three\0"};
    size_t dl[] = {strlen(d[0]), strlen(d[1]), 1, 6};
    for (int i = 0; i < 4; i++)
        sendto(fd, d[i], dl[i], 0, (struct sockaddr *)&a, sizeof a);
    got_t g = {0};
    drain(s, &g, 3, 64, 2000);
    assert_int_equal(g.n, 3);
    assert_string_equal(g.msg[0], d[0]);
    assert_string_equal(g.msg[1], "two lines");
    assert_string_equal(g.msg[2], "three");
    for (int i = 0; i < 3; i++)
        assert_string_equal(g.part[i], "udp:127.0.0.1");
    sl_syslog_net_stats st;
    sl_syslog_net_stats_get(s, &st);
    assert_int_equal(st.received, 3);
    assert_int_equal(st.dropped, 0);
    close(fd);
    got_free(&g);
    sl_syslog_net_close(s);
}

static void test_tcp_lf(void **state) {
    (void)state;
    sl_syslog_net *s = open_both(0, 0);
    int lp;
    int fd = tcp_connect(sl_syslog_net_tcp_port(s), &lp);
    send_all(fd, "alpha\nbeta\r\n\n", 13);
    send_all(fd, "gam", 3);
    usleep(20000);
    send_all(fd, "ma\ntail-without-lf", 18);
    got_t g = {0};
    drain(s, &g, 3, 64, 2000);
    assert_int_equal(g.n, 3);
    close(fd); /* the tail is delivered on close */
    drain(s, &g, 4, 64, 2000);
    assert_int_equal(g.n, 4);
    assert_string_equal(g.msg[0], "alpha");
    assert_string_equal(g.msg[1], "beta");
    assert_string_equal(g.msg[2], "gamma");
    assert_string_equal(g.msg[3], "tail-without-lf");
    char want[64];
    snprintf(want, sizeof want, "tcp:127.0.0.1:%d", lp);
    for (int i = 0; i < 4; i++)
        assert_string_equal(g.part[i], want);
    sl_syslog_net_stats st;
    sl_syslog_net_stats_get(s, &st);
    assert_int_equal(st.connections, 1);
    for (int i = 0; i < 100 && st.open_connections; i++)
        usleep(10000), sl_syslog_net_stats_get(s, &st);
    assert_int_equal(st.open_connections, 0);
    got_free(&g);
    sl_syslog_net_close(s);
}

static void test_tcp_octet_bytewise(void **state) {
    (void)state;
    sl_syslog_net *s = open_both(0, 0);
    int fd = tcp_connect(sl_syslog_net_tcp_port(s), NULL);
    const char *in = "5 hello11 hello\nworld3 a\rb13 <13>1 - - - x";
    for (const char *p = in; *p; p++)
        send_all(fd, p, 1);
    got_t g = {0};
    drain(s, &g, 4, 64, 3000);
    assert_int_equal(g.n, 4);
    assert_string_equal(g.msg[0], "hello");
    assert_string_equal(g.msg[1], "hello world");
    assert_string_equal(g.msg[2], "a b");
    assert_string_equal(g.msg[3], "<13>1 - - - x");
    close(fd);
    got_free(&g);
    sl_syslog_net_close(s);
}

static void test_tcp_bad_count(void **state) {
    (void)state;
    sl_syslog_net *s = open_both(0, 0);
    int fd = tcp_connect(sl_syslog_net_tcp_port(s), NULL);
    send_all(fd, "3 abc12x bad frame\nnext\n", 24);
    got_t g = {0};
    drain(s, &g, 3, 64, 2000);
    assert_int_equal(g.n, 3);
    assert_string_equal(g.msg[0], "abc");
    assert_string_equal(g.msg[1], "12x bad frame");
    assert_string_equal(g.msg[2], "next");
    sl_syslog_net_stats st;
    sl_syslog_net_stats_get(s, &st);
    assert_int_equal(st.framing_errors, 1);
    close(fd);
    got_free(&g);
    sl_syslog_net_close(s);
}

static void test_truncate(void **state) {
    (void)state;
    sl_syslog_net *s = open_both(0, 16);
    int fd = tcp_connect(sl_syslog_net_tcp_port(s), NULL);
    send_all(fd, "0123456789abcdefOVERLONG-REST\nshort\n", 36);
    int fd2 = tcp_connect(sl_syslog_net_tcp_port(s), NULL);
    send_all(fd2, "20 0123456789abcdefXXXX2 ok", 27);
    got_t g = {0};
    drain(s, &g, 4, 64, 2000);
    assert_int_equal(g.n, 4);
    int cut = 0, shorts = 0, oks = 0;
    for (int i = 0; i < 4; i++) {
        cut += !strcmp(g.msg[i], "0123456789abcdef");
        shorts += !strcmp(g.msg[i], "short");
        oks += !strcmp(g.msg[i], "ok");
    }
    assert_int_equal(cut, 2);
    assert_int_equal(shorts, 1);
    assert_int_equal(oks, 1);
    sl_syslog_net_stats st;
    sl_syslog_net_stats_get(s, &st);
    assert_int_equal(st.truncated, 2);
    close(fd);
    close(fd2);
    got_free(&g);
    sl_syslog_net_close(s);
}

typedef struct {
    int port, n;
} sender_arg;

static void *tcp_sender(void *p) {
    sender_arg *a = p;
    int fd = tcp_connect(a->port, NULL);
    char line[128];
    for (int i = 0; i < a->n; i++) {
        int l = snprintf(line, sizeof line,
                         "<14>1 2026-01-01T00:00:00Z host app - - - message number %08d\n", i);
        send_all(fd, line, (size_t)l);
    }
    close(fd);
    return NULL;
}

static void test_backpressure(void **state) {
    (void)state;
    sl_syslog_net *s = open_both(4096, 1024); /* room for ~60 messages */
    sender_arg a = {sl_syslog_net_tcp_port(s), 20000};
    pthread_t t;
    pthread_create(&t, NULL, tcp_sender, &a);
    usleep(200000); /* let the queue fill: the receiver must wait, not drop */
    sl_syslog_net_stats st;
    sl_syslog_net_stats_get(s, &st);
    assert_true(st.backpressure > 0);
    assert_true(st.queue_bytes <= 4096);
    got_t g = {0};
    drain(s, &g, a.n, 100, 20000);
    pthread_join(t, NULL);
    assert_int_equal(g.n, a.n);
    for (int i = 0; i < a.n; i++) {
        char want[128];
        snprintf(want, sizeof want, "<14>1 2026-01-01T00:00:00Z host app - - - message number %08d",
                 i);
        assert_string_equal(g.msg[i], want);
    }
    sl_syslog_net_stats_get(s, &st);
    assert_int_equal(st.dropped, 0);
    assert_int_equal(st.received, a.n);
    got_free(&g);
    sl_syslog_net_close(s);
}

static void test_udp_drops(void **state) {
    (void)state;
    sl_syslog_net *s = open_both(2048, 512);
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in a = addr_of(sl_syslog_net_udp_port(s));
    char line[100];
    memset(line, 'x', sizeof line);
    for (int i = 0; i < 500; i++)
        sendto(fd, line, sizeof line, 0, (struct sockaddr *)&a, sizeof a);
    sl_syslog_net_stats st;
    for (int i = 0; i < 200; i++) {
        sl_syslog_net_stats_get(s, &st);
        if (st.received + st.dropped >= 500) break;
        usleep(10000);
    }
    assert_int_equal(st.received + st.dropped,
                     500); /* loopback with an 8 MiB buffer loses nothing */
    assert_true(st.dropped > 0);
    assert_true(st.received <= 2048 / 101 + 1);
    got_t g = {0};
    drain(s, &g, (int)st.received, 64, 2000);
    assert_int_equal(g.n, st.received);
    /* room again: new datagrams get through */
    sendto(fd, "after", 5, 0, (struct sockaddr *)&a, sizeof a);
    drain(s, &g, (int)st.received + 1, 64, 2000);
    assert_string_equal(g.msg[g.n - 1], "after");
    close(fd);
    got_free(&g);
    sl_syslog_net_close(s);
}

static void test_peers_and_max(void **state) {
    (void)state;
    sl_syslog_net *s = open_both(0, 0);
    int p1, p2;
    int f1 = tcp_connect(sl_syslog_net_tcp_port(s), &p1);
    int f2 = tcp_connect(sl_syslog_net_tcp_port(s), &p2);
    for (int i = 0; i < 50; i++) {
        send_all(f1, "from-one\n", 9);
        send_all(f2, "from-two\n", 9);
    }
    close(f1);
    close(f2);
    got_t g = {0};
    drain(s, &g, 100, 7, 3000); /* max 7 per poll: the rest stays for later polls */
    assert_int_equal(g.n, 100);
    char n1[64], n2[64];
    snprintf(n1, sizeof n1, "tcp:127.0.0.1:%d", p1);
    snprintf(n2, sizeof n2, "tcp:127.0.0.1:%d", p2);
    for (int i = 0; i < g.n; i++) {
        if (!strcmp(g.msg[i], "from-one"))
            assert_string_equal(g.part[i], n1);
        else
            assert_string_equal(g.part[i], n2);
    }
    assert_int_equal(sl_syslog_net_part_count(s), 2);
    const char *buf;
    const sl_syslog_net_msg *m;
    assert_int_equal(sl_syslog_net_poll(s, 10, 0, &buf, &m, NULL), 0);
    got_free(&g);
    sl_syslog_net_close(s);
}

static void test_bad_address(void **state) {
    (void)state;
    sl_error err = {0};
    sl_syslog_net_config c = {.tcp = "127.0.0.1"};
    assert_null(sl_syslog_net_open(&c, &err));
    assert_int_equal(err.code, SL_EINVAL);
    c.tcp = "127.0.0.1:http";
    assert_null(sl_syslog_net_open(&c, &err));
    c.tcp = NULL;
    assert_null(sl_syslog_net_open(&c, &err));
    /* port in use */
    sl_syslog_net *s = open_both(0, 0);
    char addr[64];
    snprintf(addr, sizeof addr, "127.0.0.1:%d", sl_syslog_net_tcp_port(s));
    c.tcp = addr;
    assert_null(sl_syslog_net_open(&c, &err));
    assert_int_equal(err.code, SL_EIO);
    sl_syslog_net_close(s);
    /* tcp only */
    c.tcp = "[::1]:0";
    sl_syslog_net *s6 = sl_syslog_net_open(&c, &err);
    if (s6) { /* IPv6 may be off in containers */
        assert_int_equal(sl_syslog_net_udp_port(s6), -1);
        sl_syslog_net_close(s6);
    }
}

/* ---- TLS ----------------------------------------------------------------- */

static char tdir[64];

static void tpath(char *out, size_t cap, const char *name) {
    snprintf(out, cap, "%s/%s", tdir, name);
}

/* Writes NAME.crt and NAME.key: a certificate for CN valid from now for
 * `days` (negative: expired), signed by issuer (NULL: self-signed, a CA). */
static void make_cert(const char *name, const char *cn, int days, const char *issuer) {
    EVP_PKEY *k = EVP_RSA_gen(2048);
    assert_non_null(k);
    X509 *x = X509_new();
    X509_set_version(x, 2);
    static long serial = 1;
    ASN1_INTEGER_set(X509_get_serialNumber(x), serial++);
    X509_gmtime_adj(X509_getm_notBefore(x), days < 0 ? (long)days * 2 * 86400 : -60);
    X509_gmtime_adj(X509_getm_notAfter(x), (long)days * 86400);
    X509_set_pubkey(x, k);
    X509_NAME *n = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
    EVP_PKEY *sk = k;
    X509 *ix = x;
    char p[160];
    if (issuer) {
        tpath(p, sizeof p, issuer);
        strcat(p, ".crt");
        FILE *f = fopen(p, "r");
        ix = PEM_read_X509(f, NULL, NULL, NULL);
        fclose(f);
        tpath(p, sizeof p, issuer);
        strcat(p, ".key");
        f = fopen(p, "r");
        sk = PEM_read_PrivateKey(f, NULL, NULL, NULL);
        fclose(f);
        assert_non_null(ix);
        assert_non_null(sk);
    } else {
        X509V3_CTX v;
        X509V3_set_ctx(&v, x, x, NULL, NULL, 0);
        X509_EXTENSION *e =
            X509V3_EXT_conf_nid(NULL, &v, NID_basic_constraints, "critical,CA:TRUE");
        X509_add_ext(x, e, -1);
        X509_EXTENSION_free(e);
    }
    X509_set_issuer_name(x, X509_get_subject_name(ix));
    assert_true(X509_sign(x, sk, EVP_sha256()) > 0);
    tpath(p, sizeof p, name);
    strcat(p, ".crt");
    FILE *f = fopen(p, "w");
    PEM_write_X509(f, x);
    fclose(f);
    tpath(p, sizeof p, name);
    strcat(p, ".key");
    f = fopen(p, "w");
    PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL);
    fclose(f);
    if (issuer) {
        X509_free(ix);
        EVP_PKEY_free(sk);
    }
    X509_free(x);
    EVP_PKEY_free(k);
}

static int tls_setup(void **state) {
    (void)state;
    snprintf(tdir, sizeof tdir, "/tmp/sl-tls-XXXXXX");
    assert_non_null(mkdtemp(tdir));
    make_cert("ca", "test-ca", 2, NULL);
    make_cert("srv", "srv-one", 2, "ca");
    make_cert("srv2", "srv-two", 2, "ca");
    make_cert("cli", "client-one", 2, "ca");
    make_cert("old", "old-one", -1, "ca");
    return 0;
}

static int tls_teardown(void **state) {
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tdir);
    return system(cmd) == 0 ? 0 : -1;
}

static sl_syslog_net *open_tls(bool client_ca) {
    static char crt[160], key[160], ca[160];
    tpath(crt, sizeof crt, "srv.crt");
    tpath(key, sizeof key, "srv.key");
    tpath(ca, sizeof ca, "ca.crt");
    sl_syslog_net_config c = {.tcp = "127.0.0.1:0",
                              .tls_cert = crt,
                              .tls_key = key,
                              .tls_client_ca = client_ca ? ca : NULL};
    sl_error err = {0};
    sl_syslog_net *s = sl_syslog_net_open(&c, &err);
    if (!s) fprintf(stderr, "%s\n", err.msg);
    assert_non_null(s);
    return s;
}

/* A blocking TLS client trusting the CA; cert: a client certificate name or
 * NULL. Returns NULL when the handshake fails; *peer_cn gets the server's CN. */
static SSL *tls_connect(int port, const char *cert, int *fd, char *peer_cn, size_t cap) {
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    char p[160];
    tpath(p, sizeof p, "ca.crt");
    assert_int_equal(SSL_CTX_load_verify_locations(ctx, p, NULL), 1);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    if (cert) {
        char k[160];
        tpath(p, sizeof p, cert);
        strcat(p, ".crt");
        tpath(k, sizeof k, cert);
        strcat(k, ".key");
        assert_int_equal(SSL_CTX_use_certificate_file(ctx, p, SSL_FILETYPE_PEM), 1);
        assert_int_equal(SSL_CTX_use_PrivateKey_file(ctx, k, SSL_FILETYPE_PEM), 1);
    }
    *fd = tcp_connect(port, NULL);
    SSL *ssl = SSL_new(ctx);
    SSL_CTX_free(ctx); /* the SSL keeps a reference */
    SSL_set_fd(ssl, *fd);
    if (SSL_connect(ssl) != 1) {
        ERR_clear_error();
        SSL_free(ssl);
        close(*fd);
        return NULL;
    }
    if (peer_cn) {
        X509 *x = SSL_get1_peer_certificate(ssl);
        assert_non_null(x);
        X509_NAME_get_text_by_NID(X509_get_subject_name(x), NID_commonName, peer_cn, (int)cap);
        X509_free(x);
    }
    return ssl;
}

static void tls_close(SSL *ssl, int fd) {
    SSL_shutdown(ssl);
    SSL_free(ssl);
    close(fd);
}

static void test_tls_check(void **state) {
    (void)state;
    char crt[160], key[160], ca[160], other[160], old[160], oldk[160], detail[256];
    tpath(crt, sizeof crt, "srv.crt");
    tpath(key, sizeof key, "srv.key");
    tpath(ca, sizeof ca, "ca.crt");
    tpath(other, sizeof other, "cli.key");
    tpath(old, sizeof old, "old.crt");
    tpath(oldk, sizeof oldk, "old.key");
    sl_error err = {0};
    assert_int_equal(sl_syslog_net_tls_check(crt, key, ca, detail, sizeof detail, &err), 0);
    assert_non_null(strstr(detail, "TLS 1.2+, certificate /CN=srv-one, expires 20"));
    assert_non_null(strstr(detail, ", client certificates required"));
    assert_int_equal(sl_syslog_net_tls_check(crt, other, NULL, NULL, 0, &err), SL_EINVAL);
    assert_non_null(strstr(err.msg, "does not match cert"));
    assert_int_equal(sl_syslog_net_tls_check(old, oldk, NULL, NULL, 0, &err), SL_EINVAL);
    assert_non_null(strstr(err.msg, "has expired"));
    assert_int_equal(sl_syslog_net_tls_check(key, key, NULL, NULL, 0, &err), SL_EINVAL);
    assert_non_null(strstr(err.msg, "is not a PEM certificate"));
    assert_int_equal(sl_syslog_net_tls_check(crt, key, key, NULL, 0, &err), SL_EINVAL);
    assert_non_null(strstr(err.msg, "client_ca"));
    sl_syslog_net_config c = {.tcp = "127.0.0.1:0", .tls_cert = crt};
    assert_null(sl_syslog_net_open(&c, &err));
    assert_non_null(strstr(err.msg, "cert and key go together"));
}

static void test_tls_messages(void **state) {
    (void)state;
    sl_syslog_net *s = open_tls(false);
    int port = sl_syslog_net_tcp_port(s), fd;
    char cn[64] = "";
    SSL *ssl = tls_connect(port, NULL, &fd, cn, sizeof cn);
    assert_non_null(ssl);
    assert_string_equal(cn, "srv-one");
    /* 3000 octet-counted messages in writes of ~48 KiB: records of 16 KiB,
     * frames cut across them */
    enum { N = 3000 };
    char *big = malloc(64 * 1024);
    size_t len = 0;
    for (int i = 0; i < N; i++) {
        char m[64];
        int ml = snprintf(m, sizeof m, "<13>1 - h app - - - msg-%d", i);
        len += (size_t)snprintf(big + len, 64, "%d %s", ml, m);
        if (len > 48 * 1024 || i == N - 1) {
            assert_int_equal(SSL_write(ssl, big, (int)len), (int)len);
            len = 0;
        }
    }
    free(big);
    got_t g = {0};
    drain(s, &g, N, 4096, 5000);
    assert_int_equal(g.n, N);
    for (int i = 0; i < N; i++) {
        char want[64];
        snprintf(want, sizeof want, "<13>1 - h app - - - msg-%d", i);
        assert_string_equal(g.msg[i], want);
    }
    tls_close(ssl, fd);
    /* plain TCP to the TLS port: closed by the server, nothing queued */
    int pfd = tcp_connect(port, NULL);
    send_all(pfd, "<13>1 - h app - - - plain\n", 26);
    char b[256];
    struct timeval tv = {5, 0};
    setsockopt(pfd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ssize_t r;
    while ((r = read(pfd, b, sizeof b)) > 0) { /* an alert, then EOF */
    }
    assert_true(r == 0 || errno == ECONNRESET);
    close(pfd);
    sl_syslog_net_stats st;
    sl_syslog_net_stats_get(s, &st);
    assert_int_equal(st.received, N);
    assert_int_equal(st.tls_failed, 1);
    got_free(&g);
    sl_syslog_net_close(s);
}

static void test_tls_client_cert_and_renewal(void **state) {
    (void)state;
    sl_syslog_net *s = open_tls(true);
    int port = sl_syslog_net_tcp_port(s), fd;
    /* without a client certificate: refused (TLS 1.3: the client learns it
     * at its first read; the server queues nothing either way) */
    SSL *ssl = tls_connect(port, NULL, &fd, NULL, 0);
    if (ssl) {
        SSL_write(ssl, "3 abc", 5);
        char b[16];
        assert_true(SSL_read(ssl, b, sizeof b) <= 0);
        ERR_clear_error();
        SSL_free(ssl);
        close(fd);
    }
    char cn[64] = "";
    ssl = tls_connect(port, "cli", &fd, cn, sizeof cn);
    assert_non_null(ssl);
    assert_string_equal(cn, "srv-one");
    assert_int_equal(SSL_write(ssl, "5 one-1", 7), 7);
    got_t g = {0};
    drain(s, &g, 1, 64, 3000);
    assert_int_equal(g.n, 1);
    assert_string_equal(g.msg[0], "one-1");
    /* renewal: rename the new files over the old (the listener looks at
     * most once a second, at the next connection) */
    char a[160], b2[160];
    tpath(a, sizeof a, "srv2.key");
    tpath(b2, sizeof b2, "srv.key");
    assert_int_equal(rename(a, b2), 0);
    tpath(a, sizeof a, "srv2.crt");
    tpath(b2, sizeof b2, "srv.crt");
    assert_int_equal(rename(a, b2), 0);
    usleep(1100 * 1000);
    int fd2;
    char cn2[64] = "";
    SSL *ssl2 = tls_connect(port, "cli", &fd2, cn2, sizeof cn2);
    assert_non_null(ssl2);
    assert_string_equal(cn2, "srv-two");
    assert_int_equal(SSL_write(ssl2, "5 two-1", 7), 7);
    assert_int_equal(SSL_write(ssl, "5 one-2", 7), 7); /* the old connection goes on */
    drain(s, &g, 3, 64, 3000);
    assert_int_equal(g.n, 3);
    int seen = 0;
    for (int i = 1; i < 3; i++)
        seen |= !strcmp(g.msg[i], "two-1") ? 1 : !strcmp(g.msg[i], "one-2") ? 2 : 4;
    assert_int_equal(seen, 3);
    sl_syslog_net_stats st;
    sl_syslog_net_stats_get(s, &st);
    assert_int_equal(st.tls_reloads, 1);
    assert_int_equal(st.tls_failed, 1);
    tls_close(ssl, fd);
    tls_close(ssl2, fd2);
    got_free(&g);
    sl_syslog_net_close(s);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_udp),
        cmocka_unit_test(test_tcp_lf),
        cmocka_unit_test(test_tcp_octet_bytewise),
        cmocka_unit_test(test_tcp_bad_count),
        cmocka_unit_test(test_truncate),
        cmocka_unit_test(test_backpressure),
        cmocka_unit_test(test_udp_drops),
        cmocka_unit_test(test_peers_and_max),
        cmocka_unit_test(test_bad_address),
    };
    const struct CMUnitTest tls_tests[] = {
        cmocka_unit_test(test_tls_check),
        cmocka_unit_test(test_tls_messages),
        cmocka_unit_test(test_tls_client_cert_and_renewal),
    };
    return cmocka_run_group_tests(tests, NULL, NULL) |
           cmocka_run_group_tests(tls_tests, tls_setup, tls_teardown);
}
