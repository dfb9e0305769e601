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
 * addresses.
 */
#include <setjmp.h> /* cmocka.h needs these four first */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
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
    return cmocka_run_group_tests(tests, NULL, NULL);
}
