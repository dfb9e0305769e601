/*
 * syslog_net_bench.c - messages per second through the syslog TCP and UDP
 * listeners (sources/syslog_net.h), receiver threads to the engine-side poll.
 *
 * Sender threads in the same process write RFC 5424 lines of ~150 bytes
 * (64 KiB per write) over loopback; the main thread polls (max 4096 per
 * poll, like the engine's batch) and touches every message, as a parser
 * would. Runs: TCP with LF framing, TCP octet-counted, 4 TCP connections at
 * once, and UDP (one datagram per message; drops are reported: UDP has no
 * backpressure). Queue bound: the default 8 MiB.
 *
 * Usage: syslog_net_bench [messages-per-run]   (default 2000000)
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/timeutil.h"
#include "sources/syslog_net.h"

typedef struct {
    int port, n, octet, udp;
} sender;

static int senders_done;

static int make_line(char *out, int i, int octet) {
    char body[256];
    int l = snprintf(body, sizeof body,
                     "<14>1 2026-01-01T00:00:00.000Z router-%03d snmpd 42 IF [m@1 "
                     "if=\"ge-0/0/%d\"] link state change seq=%08d",
                     i % 500, i % 48, i);
    if (octet) return sprintf(out, "%d %s", l, body);
    memcpy(out, body, (size_t)l);
    out[l] = '\n';
    return l + 1;
}

static void *send_main(void *arg) {
    sender *s = arg;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)s->port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int fd = socket(AF_INET, s->udp ? SOCK_DGRAM : SOCK_STREAM, 0);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        perror("connect");
        exit(1);
    }
    static __thread char buf[1 << 16];
    size_t bl = 0;
    for (int i = 0; i < s->n; i++) {
        char line[300];
        int l = make_line(line, i, s->octet);
        if (s->udp) {
            if (send(fd, line, (size_t)l, 0) < 0) { /* ECONNREFUSED etc.: keep going */
            }
            continue;
        }
        if (bl + (size_t)l > sizeof buf) {
            for (size_t w = 0; w < bl;) {
                ssize_t k = write(fd, buf + w, bl - w);
                if (k <= 0) exit(1);
                w += (size_t)k;
            }
            bl = 0;
        }
        memcpy(buf + bl, line, (size_t)l);
        bl += (size_t)l;
    }
    for (size_t w = 0; w < bl;) {
        ssize_t k = write(fd, buf + w, bl - w);
        if (k <= 0) exit(1);
        w += (size_t)k;
    }
    close(fd);
    __atomic_add_fetch(&senders_done, 1, __ATOMIC_SEQ_CST);
    return NULL;
}

static void bench(const char *name, int total, int conns, int octet, int udp) {
    sl_syslog_net_config c = {.udp = udp ? "127.0.0.1:0" : NULL, .tcp = udp ? NULL : "127.0.0.1:0"};
    sl_error err = {0};
    sl_syslog_net *s = sl_syslog_net_open(&c, &err);
    if (!s) {
        fprintf(stderr, "%s\n", err.msg);
        exit(1);
    }
    pthread_t t[16];
    sender sd[16];
    senders_done = 0;
    int64_t t0 = sl_monotonic_us();
    for (int k = 0; k < conns; k++) {
        sd[k] = (sender){udp ? sl_syslog_net_udp_port(s) : sl_syslog_net_tcp_port(s), total / conns,
                         octet, udp};
        pthread_create(&t[k], NULL, send_main, &sd[k]);
    }
    int64_t got = 0, bytes = 0, idle_since = 0;
    unsigned sink = 0;
    while (got < total) {
        const char *buf;
        const sl_syslog_net_msg *m;
        int n = sl_syslog_net_poll(s, 4096, 10, &buf, &m, NULL);
        if (n > 0) {
            for (int i = 0; i < n; i++)
                sink += (unsigned char)buf[m[i].off + m[i].len - 1], bytes += m[i].len;
            got += n;
            idle_since = 0;
            continue;
        }
        /* UDP: stop once the senders are done and the queue stays empty */
        if (udp && __atomic_load_n(&senders_done, __ATOMIC_SEQ_CST) == conns) {
            if (!idle_since)
                idle_since = sl_monotonic_us();
            else if (sl_monotonic_us() - idle_since > 300000)
                break;
        }
    }
    double secs = (double)(sl_monotonic_us() - t0) / 1e6 - (udp && idle_since ? 0.3 : 0);
    for (int k = 0; k < conns; k++)
        pthread_join(t[k], NULL);
    sl_syslog_net_stats st;
    sl_syslog_net_stats_get(s, &st);
    printf("%-22s %9lld %8.2f %12.0f %8.1f %9lld %9lld%s\n", name, (long long)got, secs, got / secs,
           bytes / secs / 1e6, (long long)st.dropped, (long long)st.backpressure,
           sink == 1 ? " " : "");
    sl_syslog_net_close(s);
}

int main(int argc, char **argv) {
    int n = argc > 1 ? atoi(argv[1]) : 2000000;
    printf("%-22s %9s %8s %12s %8s %9s %9s\n", "run", "messages", "seconds", "msgs/s", "MB/s",
           "dropped", "waits");
    bench("tcp lf, 1 conn", n, 1, 0, 0);
    bench("tcp octet, 1 conn", n, 1, 1, 0);
    bench("tcp lf, 4 conns", n, 4, 0, 0);
    bench("udp, 1 sender", n / 4, 1, 0, 1);
    return 0;
}
