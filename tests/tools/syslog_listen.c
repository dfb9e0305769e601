/*
 * syslog_listen.c - the syslog network listener (sources/syslog_net.h) on
 * its own, for integration tests and benchmarks until the engine wires it.
 *
 * Opens UDP and TCP listeners (default 127.0.0.1:0 each), prints
 *   udp_port=N
 *   tcp_port=M
 * on stdout, then one JSON line {"part":"tcp:127.0.0.1:40312","msg":"..."}
 * per message, until SIGTERM/SIGINT or -n messages. At the end a JSON line
 * with the counters goes to stderr. With -q nothing is printed per message
 * (benchmarks): the summary then also gives messages/s between the first
 * and the last message.
 *
 * Usage: syslog_listen [--udp ADDR|off] [--tcp ADDR|off] [-n N] [-q]
 *                      [--max-queue BYTES] [--max-msg BYTES]
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/timeutil.h"
#include "sources/syslog_net.h"

static volatile sig_atomic_t stop_flag;
static void on_sig(int sig) {
    (void)sig;
    stop_flag = 1;
}

int main(int argc, char **argv) {
    const char *udp = "127.0.0.1:0", *tcp = "127.0.0.1:0";
    long long limit = -1;
    int quiet = 0;
    size_t maxq = 0, maxmsg = 0;
    int max_conns = 0, per_addr = 0;
    long long idle_ms = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--udp") && v)
            udp = strcmp(v, "off") ? v : NULL, i++;
        else if (!strcmp(a, "--tcp") && v)
            tcp = strcmp(v, "off") ? v : NULL, i++;
        else if (!strcmp(a, "-n") && v)
            limit = atoll(v), i++;
        else if (!strcmp(a, "--max-queue") && v)
            maxq = (size_t)atoll(v), i++;
        else if (!strcmp(a, "--max-msg") && v)
            maxmsg = (size_t)atoll(v), i++;
        else if (!strcmp(a, "--max-conns") && v)
            max_conns = atoi(v), i++;
        else if (!strcmp(a, "--per-addr") && v)
            per_addr = atoi(v), i++;
        else if (!strcmp(a, "--idle-ms") && v)
            idle_ms = atoll(v), i++;
        else if (!strcmp(a, "-q"))
            quiet = 1;
        else {
            fprintf(stderr, "usage: syslog_listen [--udp ADDR|off] [--tcp ADDR|off] [-n N] [-q] "
                            "[--max-queue B] [--max-msg B] [--max-conns N] [--per-addr N] "
                            "[--idle-ms MS]\n");
            return 2;
        }
    }
    struct sigaction sa = {0};
    sa.sa_handler = on_sig;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sl_syslog_net_config c = {.udp = udp,
                              .tcp = tcp,
                              .max_queue_bytes = maxq,
                              .max_msg_bytes = maxmsg,
                              .max_connections = max_conns,
                              .max_conns_per_addr = per_addr,
                              .idle_timeout_ms = idle_ms};
    sl_error err = {0};
    sl_syslog_net *s = sl_syslog_net_open(&c, &err);
    if (!s) {
        fprintf(stderr, "syslog_listen: %s\n", err.msg);
        return 1;
    }
    printf("udp_port=%d\ntcp_port=%d\n", sl_syslog_net_udp_port(s), sl_syslog_net_tcp_port(s));
    fflush(stdout);
    long long n = 0;
    int64_t t_first = 0, t_last = 0;
    size_t ecap = 1 << 16;
    char *esc = malloc(ecap);
    while (!stop_flag && (limit < 0 || n < limit)) {
        const char *buf;
        const sl_syslog_net_msg *m;
        int got = sl_syslog_net_poll(s, 4096, 100, &buf, &m, NULL);
        if (got <= 0) continue;
        if (!t_first) t_first = sl_monotonic_us();
        t_last = sl_monotonic_us();
        n += got;
        if (quiet) continue;
        const char *const *names = sl_syslog_net_part_names(s);
        for (int i = 0; i < got; i++) {
            size_t need = (size_t)m[i].len * 6 + 16;
            if (need > ecap) {
                ecap = need;
                esc = realloc(esc, ecap);
            }
            int el = sl_json_escape(esc, (int)ecap, buf + m[i].off, (int)m[i].len);
            printf("{\"part\":\"%s\",\"msg\":\"%.*s\"}\n", names[m[i].part], el, esc);
        }
        fflush(stdout);
    }
    sl_syslog_net_stats st;
    sl_syslog_net_stats_get(s, &st);
    double secs = t_last > t_first ? (double)(t_last - t_first) / 1e6 : 0;
    fprintf(
        stderr,
        "{\"messages\":%lld,\"received\":%lld,\"dropped\":%lld,\"bytes\":%lld,\"connections\":%lld,"
        "\"truncated\":%lld,\"framing_errors\":%lld,\"refused\":%lld,\"idle_closed\":%lld,"
        "\"accept_errors\":%lld,\"backpressure\":%lld,\"seconds\":%.3f,\"msgs_"
        "per_s\":%.0f}\n",
        n, (long long)st.received, (long long)st.dropped, (long long)st.bytes,
        (long long)st.connections, (long long)st.truncated, (long long)st.framing_errors,
        (long long)st.refused, (long long)st.idle_closed, (long long)st.accept_errors,
        (long long)st.backpressure, secs, secs > 0 ? (double)n / secs : 0.0);
    free(esc);
    sl_syslog_net_close(s);
    return 0;
}
