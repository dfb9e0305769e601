/*
 * syslog_source.c - the `syslog` source kind (source.h) over UDP/TCP
 * listeners (syslog_net.h). Every peer is a partition; there are no
 * positions, since the network cannot replay (at-most-once across a crash).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "core/log.h"
#include "core/mem.h"
#include "core/timeutil.h"
#include "sources/check.h"
#include "sources/source.h"
#include "sources/syslog_net.h"

typedef struct {
    const char *listen_udp, *listen_tcp;
    int64_t max_queue_bytes, max_connections, max_connections_per_address, idle_timeout;
    const sl_node *tls;
} syslog_conf;

typedef struct {
    char cert[SL_PATH_MAX], key[SL_PATH_MAX], client_ca[SL_PATH_MAX]; /* "": none */
    const sl_node *cert_at, *key_at, *client_ca_at;
} tls_conf;

#define T(field) SL_OPT_BIND(tls_conf, field)
static const sl_opt tls_opts[] = {
    {"cert", SL_OPT_PATH, true, NULL, NULL,
     "server certificate (PEM, chain after it); renewed files are taken for new connections",
     T(cert), SL_OPT_AT(tls_conf, cert_at)},
    {"key", SL_OPT_PATH, true, NULL, NULL, "its private key (PEM, no passphrase)", T(key),
     SL_OPT_AT(tls_conf, key_at)},
    {"client_ca", SL_OPT_PATH, false, NULL, NULL,
     "CA (PEM): clients must present a certificate it signed", T(client_ca),
     SL_OPT_AT(tls_conf, client_ca_at)},
    {0},
};
#undef T

#define B(field) SL_OPT_BIND(syslog_conf, field)
static const sl_opt syslog_opts[] = {
    {"listen_udp", SL_OPT_STRING, false, NULL, NULL, "UDP address:port (RFC 5426)", B(listen_udp)},
    {"listen_tcp", SL_OPT_STRING, false, NULL, NULL,
     "TCP address:port (RFC 6587: octet counting or newline framing)", B(listen_tcp)},
    {"max_queue_bytes", SL_OPT_INT, false, NULL, "8388608",
     "bound of the receive queue (full: TCP pushes back, UDP drops and counts)", B(max_queue_bytes),
     SL_OPT_MIN(65536)},
    {"max_connections", SL_OPT_INT, false, NULL, "1024",
     "open TCP connections in all; more are refused (counted)", B(max_connections),
     SL_OPT_RANGE(1, 1000000)},
    {"max_connections_per_address", SL_OPT_INT, false, NULL, "64",
     "open TCP connections from one address; more are refused (counted)",
     B(max_connections_per_address), SL_OPT_RANGE(1, 1000000)},
    {"idle_timeout", SL_OPT_DURATION, false, NULL, "5m",
     "a TCP connection silent this long is closed (counted)", B(idle_timeout), SL_OPT_MIN(1000000)},
    {"tls", SL_OPT_MAP, false, NULL, NULL,
     "{cert, key, client_ca}: the TCP listener speaks TLS 1.2+ only (RFC 5425); UDP stays plain",
     B(tls), SL_OPT_SUB(tls_opts)},
    {0},
};
#undef B

typedef struct {
    char *udp, *tcp;
    int64_t max_queue_bytes, max_conns, max_per_addr, idle_us;
    char *tls_cert, *tls_key, *tls_ca; /* NULL: plain TCP */
    char name[64];                     /* the source's name, for logs */
    sl_source_env env;
    sl_syslog_net *net;
    int64_t idle_since; /* --once: the input ends after 1 s without messages */
    bool exhausted;
} syslog_src;

static int syslog_create(const sl_node *n, const sl_source_env *env, void **self,
                         sl_source_info *info, sl_error *err) {
    (void)info;
    char what[128];
    snprintf(what, sizeof what, "source '%s'", env->name);
    syslog_conf c;
    if (sl_spec_bind(n, syslog_opts, what, &c, err)) return SL_EINVAL;
    if (!c.listen_udp && !c.listen_tcp)
        return sl_node_error(err, n, "%s: syslog needs listen_udp and/or listen_tcp", what);
    tls_conf t;
    if (c.tls) {
        char twhat[160];
        snprintf(twhat, sizeof twhat, "%s: tls", what);
        if (sl_spec_bind(c.tls, tls_opts, twhat, &t, err)) return SL_EINVAL;
        if (!c.listen_tcp)
            return sl_node_error(err, c.tls, "%s: tls needs listen_tcp (UDP stays plain)", what);
        /* a bad file is refused now (sluice validate), at the option that names it */
        sl_error e = {0};
        if (sl_syslog_net_tls_check(t.cert, t.key, t.client_ca[0] ? t.client_ca : NULL, NULL, 0,
                                    &e)) {
            const sl_node *at = strstr(e.msg, "tls key") == e.msg         ? t.key_at
                                : strstr(e.msg, "tls client_ca") == e.msg ? t.client_ca_at
                                                                          : t.cert_at;
            return sl_node_error(err, at, "%s: %s", what, e.msg);
        }
    }
    syslog_src *s = sl_xcalloc(1, sizeof *s);
    if (c.tls) {
        s->tls_cert = sl_xstrdup(t.cert);
        s->tls_key = sl_xstrdup(t.key);
        s->tls_ca = t.client_ca[0] ? sl_xstrdup(t.client_ca) : NULL;
    }
    s->udp = c.listen_udp ? sl_xstrdup(c.listen_udp) : NULL;
    s->tcp = c.listen_tcp ? sl_xstrdup(c.listen_tcp) : NULL;
    s->max_queue_bytes = c.max_queue_bytes;
    s->max_conns = c.max_connections;
    s->max_per_addr = c.max_connections_per_address;
    s->idle_us = c.idle_timeout;
    snprintf(s->name, sizeof s->name, "%s", env->name);
    *self = s;
    return 0;
}

static void syslog_close_(void *self) {
    syslog_src *s = self;
    sl_syslog_net_close(s->net);
    s->net = NULL;
}

static void syslog_destroy(void *self) {
    syslog_src *s = self;
    syslog_close_(s);
    free(s->udp);
    free(s->tcp);
    free(s->tls_cert);
    free(s->tls_key);
    free(s->tls_ca);
    free(s);
}

static int syslog_open_(void *self, const sl_source_env *env, sl_error *err) {
    syslog_src *s = self;
    s->env = *env;
    s->exhausted = false;
    s->idle_since = 0;
    sl_syslog_net_config c = {.udp = s->udp,
                              .tcp = s->tcp,
                              .max_queue_bytes = (size_t)s->max_queue_bytes,
                              .max_connections = (int)s->max_conns,
                              .max_conns_per_addr = (int)s->max_per_addr,
                              .idle_timeout_ms = s->idle_us / 1000,
                              .tls_cert = s->tls_cert,
                              .tls_key = s->tls_key,
                              .tls_client_ca = s->tls_ca};
    s->net = sl_syslog_net_open(&c, err);
    if (!s->net) return err->code;
    sl_log_info("syslog listening", "\"source\":\"%s\",\"udp_port\":%d,\"tcp_port\":%d,\"tls\":%s",
                s->name, s->udp ? sl_syslog_net_udp_port(s->net) : 0,
                s->tcp ? sl_syslog_net_tcp_port(s->net) : 0, s->tls_cert ? "true" : "false");
    return 0;
}

static int syslog_read(void *self, bool final, sl_error *err) {
    syslog_src *s = self;
    const char *buf;
    const sl_syslog_net_msg *msgs;
    int n = sl_syslog_net_poll(s->net, (int)s->env.batch_size, 0, &buf, &msgs, err);
    if (n < 0) return n;
    if (n == 0) {
        /* --once over a listener: the input ends after a second of silence */
        int64_t now = sl_monotonic_us();
        if (!s->idle_since) s->idle_since = now;
        if (final && now - s->idle_since > 1000000) s->exhausted = true;
        return 0;
    }
    s->idle_since = 0;
    s->env.parse_msgs(s->env.ud, buf, msgs, n);
    return 1;
}

static const char *const *syslog_part_names(void *self) {
    syslog_src *s = self;
    return s->net ? sl_syslog_net_part_names(s->net) : NULL;
}

static bool syslog_done(void *self) { return ((syslog_src *)self)->exhausted; }

static int syslog_fd(void *self) {
    syslog_src *s = self;
    return s->net ? sl_syslog_net_fd(s->net) : -1;
}

static void syslog_stats(void *self, sl_source_stats *out) {
    syslog_src *s = self;
    out->dropped = out->framing_errors = out->truncated = out->refused = out->idle_closed =
        out->accept_errors = 0;
    if (!s->net) return;
    sl_syslog_net_stats st;
    sl_syslog_net_stats_get(s->net, &st);
    out->dropped = st.dropped;
    out->framing_errors = st.framing_errors;
    out->truncated = st.truncated;
    out->refused = st.refused;
    out->idle_closed = st.idle_closed;
    out->accept_errors = st.accept_errors;
}

static void syslog_describe(void *self, char *out, size_t cap) {
    syslog_src *s = self;
    snprintf(out, cap, "syslog%s%s%s%s", s->udp ? " udp " : "", s->udp ? s->udp : "",
             s->tcp ? (s->tls_cert ? " tls " : " tcp ") : "", s->tcp ? s->tcp : "");
}

/* `sluice check`: the listen addresses can be bound; the TLS listener's
 * certificate loads (subject, expiry, whether clients need one). */
static int syslog_check(void *self, char *detail, size_t cap) {
    syslog_src *s = self;
    int bad = 0;
    size_t n = 0;
    if (s->udp) {
        bad |= sl__sources_check_listen(s->udp, SOCK_DGRAM, detail, cap);
        n = strlen(detail);
    }
    if (s->tcp && n + 2 < cap) {
        if (n) n += (size_t)snprintf(detail + n, cap - n, "; ");
        bad |= sl__sources_check_listen(s->tcp, SOCK_STREAM, detail + n, cap - n);
        n = strlen(detail);
    }
    if (s->tls_cert && n + 2 < cap) {
        n += (size_t)snprintf(detail + n, cap - n, "; ");
        sl_error e = {0};
        if (sl_syslog_net_tls_check(s->tls_cert, s->tls_key, s->tls_ca, detail + n, cap - n, &e)) {
            snprintf(detail + n, cap - n, "%s", e.msg);
            bad = 1;
        }
    }
    return bad;
}

const sl_source_def sl_source_syslog = {
    .name = "syslog",
    .opts = syslog_opts,
    .help = "syslog over the network: UDP (RFC 5426) and TCP (RFC 6587) listeners",
    .format = "syslog",
    .create = syslog_create,
    .check = syslog_check,
    .destroy = syslog_destroy,
    .open = syslog_open_,
    .close = syslog_close_,
    .read = syslog_read,
    .part_names = syslog_part_names,
    .done = syslog_done,
    .fd = syslog_fd,
    .stats = syslog_stats,
    .describe = syslog_describe,
};
