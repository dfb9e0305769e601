/*
 * umb.c - `sluice gen umb`: maas_notification-like monitoring messages
 * (seed 003), to Kafka or to files for kcat.
 *
 * Tenants come in three payload shapes, as on the real bus, where the
 * extractor was "built for one tenant and awkwardly extended" to the others:
 *   classic: {"tenantId", "timestamp" (epoch ms), "details": {"target":
 *            {"label", "environment"}, "check": {"label"}, "state",
 *            "alarm": {"id", "label", "severity"}}}
 *   entity:  {"event": {"occurred_at" (ISO 8601)}, "entity": {"tenant":
 *            {"id"}, "env", "node": {"name"}}, "check": {"name"},
 *            "alert": {"status", "id", "name"}}
 *   flat:    {"tenant", "environment", "node", "check", "status", "ts"
 *            (epoch seconds)}; no alarm fields
 * Every message carries Kafka headers `tenant` and `environment`, except a
 * declared fraction without headers (old producers), which a pipeline must
 * filter on the payload instead. Defects at declared rates: malformed JSON,
 * and well-formed messages whose tuple {tenant, environment, node, check}
 * cannot be extracted (the node is missing).
 *
 * With --out, messages are grouped into one file per header set
 * (h-TENANT-ENV.ndjson, noheader.ndjson) and DIR/manifest.tsv lists
 * "file<TAB>tenant<TAB>environment", so `kcat -P -H tenant=.. -H
 * environment=..` can produce each file: the test's producer is kcat.
 * With --brokers, messages go straight to the topic (key = node), headers
 * per message, through an idempotent producer.
 */
#include <errno.h>
#include <getopt.h>
#include <librdkafka/rdkafka.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/timeutil.h"
#include "gen/umb.h"

#define MAX_TENANTS 64
static const char *const envs[] = {"prod", "staging", "dev"};
static const char *const checks[] = {"cpu",  "memory", "disk", "ping",
                                     "http", "load",   "swap", "ntp"};
static const char *const states[] = {"OK", "WARNING", "CRITICAL"};

typedef struct {
    uint64_t s;
} rng;
static uint64_t next(rng *r) { /* splitmix64: small, good enough, deterministic */
    uint64_t z = (r->s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}
static double unif(rng *r) { return (double)(next(r) >> 11) / 9007199254740992.0; }

typedef struct {
    int64_t messages;
    double rate, duration, ack_timeout;
    uint64_t seed;
    int tenants, nodes;
    double malformed, noheader, unextractable;
    const char *out, *brokers, *topic;
} opts;

static void usage(FILE *f) {
    fprintf(
        f, "usage: sluice gen umb (--out DIR | --brokers HOST:PORT [--topic T]) [options]\n\n"
           "maas_notification-like JSON messages (three tenant payload shapes) with Kafka headers\n"
           "`tenant` and `environment`.\n\n"
           "  --messages N        messages in total (default 100000; with --rate: 0 = no limit)\n"
           "  --rate R            real-time mode (--brokers only): R messages per second\n"
           "  --duration S        real-time mode: stop after S seconds (0 = until killed)\n"
           "  --out DIR           files per header set + DIR/manifest.tsv, for kcat -P -H\n"
           "  --brokers B         produce to Kafka directly (idempotent producer)\n"
           "  --topic T           topic (default maas_notifications)\n"
           "  --ack-timeout S     fail when messages wait S seconds without a delivery report\n"
           "                      (broker down or unreachable; default 10)\n"
           "  --tenants N         tenants t001..tNNN (default 8)\n"
           "  --nodes N           nodes per tenant (default 50)\n"
           "  --noheader P        fraction of messages without headers (0.05)\n"
           "  --malformed P       fraction of malformed JSON (0.002)\n"
           "  --unextractable P   fraction of messages without a node (0.003)\n"
           "  --seed N            random seed (default 1)\n"
           "  --help              print this and exit\n");
}

/* One message into buf; returns its length; tenant and env name its headers. */
static int make_msg(rng *r, const opts *o, int64_t i, int64_t ts_ms, char *buf, size_t cap,
                    int *tenant, int *env) {
    int t = (int)(next(r) % (uint64_t)o->tenants);
    int e = (int)(next(r) % 3);
    int node = (int)(next(r) % (uint64_t)o->nodes);
    const char *check = checks[next(r) % 8];
    double u = unif(r);
    const char *st = states[u < 0.8 ? 0 : u < 0.95 ? 1 : 2];
    int alarm = (int)(next(r) % 40);
    *tenant = t;
    *env = e;
    double d = unif(r);
    if (d < o->malformed) /* cut mid-object */
        return snprintf(buf, cap, "{\"tenantId\":\"t%03d\",\"details\":{\"target\":{\"label\":\"n",
                        t + 1);
    char nodebuf[48];
    bool no_node = d < o->malformed + o->unextractable;
    snprintf(nodebuf, sizeof nodebuf, "t%03d-node-%03d", t + 1, node);
    char iso[40];
    switch (t % 3) {
    case 0:
        if (no_node)
            return snprintf(buf, cap,
                            "{\"id\":\"m%lld\",\"tenantId\":\"t%03d\",\"timestamp\":%lld,"
                            "\"details\":{\"target\":{\"environment\":\"%s\"},"
                            "\"check\":{\"label\":\"%s\"},\"state\":\"%s\"}}",
                            (long long)i, t + 1, (long long)ts_ms, envs[e], check, st);
        return snprintf(
            buf, cap,
            "{\"id\":\"m%lld\",\"tenantId\":\"t%03d\",\"timestamp\":%lld,\"details\":{\"target\":{"
            "\"label\":\"%s\","
            "\"environment\":\"%s\"},\"check\":{\"id\":\"ch%d\",\"label\":\"%s\"},\"state\":\"%s\","
            "\"alarm\":{\"id\":\"al%d\","
            "\"label\":\"%s "
            "%s\",\"severity\":\"%s\"}},\"metadata\":{\"region\":\"r%d\",\"agent\":\"2.%d\"}}",
            (long long)i, t + 1, (long long)ts_ms, nodebuf, envs[e], alarm, check, st, alarm, check,
            st[0] == 'O' ? "ok" : "high", st, node % 4, node % 9);
    case 1:
        sl_time_format_iso_ms(ts_ms * 1000, iso, sizeof iso);
        return snprintf(buf, cap,
                        "{\"event\":{\"uuid\":\"u%lld\",\"occurred_at\":\"%s\"},\"entity\":{"
                        "\"tenant\":{\"id\":\"t%03d\"},\"env\":\"%s\""
                        "%s%s%s},\"check\":{\"name\":\"%s\"},\"alert\":{\"status\":\"%s\",\"id\":"
                        "\"al%d\",\"name\":\"%s alarm\"}}",
                        (long long)i, iso, t + 1, envs[e], no_node ? "" : ",\"node\":{\"name\":\"",
                        no_node ? "" : nodebuf, no_node ? "" : "\"}", check, st, alarm, check);
    default:
        return snprintf(buf, cap,
                        "{\"tenant\":\"t%03d\",\"environment\":\"%s\"%s%s%s,\"check\":\"%s\","
                        "\"status\":\"%s\",\"ts\":%lld}",
                        t + 1, envs[e], no_node ? "" : ",\"node\":\"", no_node ? "" : nodebuf,
                        no_node ? "" : "\"", check, st, (long long)(ts_ms / 1000));
    }
}

static volatile sig_atomic_t g_stop; /* signals received */
static void on_signal(int sig) {
    (void)sig;
    g_stop++;
}

static int to_files(const opts *o) {
    if (mkdir(o->out, 0755) && errno != EEXIST) {
        fprintf(stderr, "sluice gen umb: cannot create %s: %s\n", o->out, strerror(errno));
        return 1;
    }
    FILE *files[MAX_TENANTS][3] = {{0}}, *nohdr = NULL;
    char path[4096], buf[2048];
    rng r = {o->seed};
    int64_t ts0 = 1767225600000LL; /* 2026-01-01T00:00:00Z */
    for (int64_t i = 0; i < o->messages; i++) {
        int t, e;
        int n = make_msg(&r, o, i, ts0 + i * 10, buf, sizeof buf, &t, &e);
        FILE **f = unif(&r) < o->noheader ? &nohdr : &files[t][e];
        if (!*f) {
            if (f == &nohdr)
                snprintf(path, sizeof path, "%s/noheader.ndjson", o->out);
            else
                snprintf(path, sizeof path, "%s/h-t%03d-%s.ndjson", o->out, t + 1, envs[e]);
            if (!(*f = fopen(path, "w"))) {
                fprintf(stderr, "sluice gen umb: %s: %s\n", path, strerror(errno));
                return 1;
            }
        }
        fwrite(buf, 1, (size_t)n, *f);
        fputc('\n', *f);
    }
    snprintf(path, sizeof path, "%s/manifest.tsv", o->out);
    FILE *m = fopen(path, "w");
    if (!m) return 1;
    int bad = 0;
    for (int t = 0; t < o->tenants; t++)
        for (int e = 0; e < 3; e++)
            if (files[t][e]) {
                fprintf(m, "h-t%03d-%s.ndjson\tt%03d\t%s\n", t + 1, envs[e], t + 1, envs[e]);
                bad |= fclose(files[t][e]) != 0;
            }
    if (nohdr) {
        fprintf(m, "noheader.ndjson\t\t\n");
        bad |= fclose(nohdr) != 0;
    }
    bad |= fclose(m) != 0;
    if (bad) fprintf(stderr, "sluice gen umb: writing %s failed\n", o->out);
    fprintf(stderr, "sluice gen umb: %lld messages in %s\n", (long long)o->messages, o->out);
    return bad;
}

typedef struct {
    int64_t failed, acked;
    int64_t last_report_us; /* last delivery report, ok or not */
} delivery;

static void dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *ud) {
    (void)rk;
    delivery *d = ud;
    if (m->err)
        d->failed++;
    else
        d->acked++;
    d->last_report_us = sl_monotonic_us();
}

/* Messages are waiting and no delivery report came for the ack timeout
 * (measured from the first message, or from the last report). */
static bool stalled(rd_kafka_t *rk, const opts *o, const delivery *d, int64_t since_us) {
    if (o->ack_timeout <= 0 || rd_kafka_outq_len(rk) == 0) return false;
    int64_t from = d->last_report_us > since_us ? d->last_report_us : since_us;
    return sl_monotonic_us() - from > (int64_t)(o->ack_timeout * 1e6);
}

static int to_kafka(const opts *o) {
    char errstr[512];
    delivery d = {0};
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (rd_kafka_conf_set(conf, "bootstrap.servers", o->brokers, errstr, sizeof errstr) ||
        rd_kafka_conf_set(conf, "enable.idempotence", "true", errstr, sizeof errstr) ||
        rd_kafka_conf_set(conf, "linger.ms", "5", errstr, sizeof errstr)) {
        fprintf(stderr, "sluice gen umb: %s\n", errstr);
        rd_kafka_conf_destroy(conf);
        return 2;
    }
    rd_kafka_conf_set_dr_msg_cb(conf, dr_cb);
    rd_kafka_conf_set_opaque(conf, &d);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
    if (!rk) {
        fprintf(stderr, "sluice gen umb: %s\n", errstr);
        return 1;
    }
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    rng r = {o->seed};
    char buf[2048], tn[8];
    int64_t start = sl_monotonic_us(), sent = 0, last_report = start;
    int64_t ts0 = 1767225600000LL;
    bool stall = false, over = false;
#define OVER(now) (over = over || (o->duration > 0 && (now)-start > (int64_t)(o->duration * 1e6)))
    for (int64_t i = 0; !g_stop && (o->messages <= 0 || i < o->messages); i++) {
        if ((stall = stalled(rk, o, &d, start))) break;
        if (o->rate > 0) {
            int64_t due = start + (int64_t)((double)i * 1e6 / o->rate);
            int64_t now = sl_monotonic_us();
            if (OVER(now)) break;
            if (due > now) usleep((useconds_t)(due - now));
        }
        int t, e;
        int64_t ts = o->rate > 0 ? sl_now_us() / 1000 : ts0 + i * 10;
        int n = make_msg(&r, o, i, ts, buf, sizeof buf, &t, &e);
        bool hdr = unif(&r) >= o->noheader;
        snprintf(tn, sizeof tn, "t%03d", t + 1);
        char key[48];
        int kl = snprintf(key, sizeof key, "t%03d-node-%03d", t + 1, (int)(i % o->nodes));
        for (;;) {
            rd_kafka_resp_err_t err;
            if (hdr)
                err = rd_kafka_producev(
                    rk, RD_KAFKA_V_TOPIC(o->topic), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                    RD_KAFKA_V_VALUE(buf, (size_t)n), RD_KAFKA_V_KEY(key, (size_t)kl),
                    RD_KAFKA_V_HEADER("tenant", tn, -1),
                    RD_KAFKA_V_HEADER("environment", envs[e], -1), RD_KAFKA_V_END);
            else
                err = rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(o->topic),
                                        RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                                        RD_KAFKA_V_VALUE(buf, (size_t)n),
                                        RD_KAFKA_V_KEY(key, (size_t)kl), RD_KAFKA_V_END);
            if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL) { /* the broker is slow, or away */
                rd_kafka_poll(rk, 10);
                if (g_stop || (o->rate > 0 && OVER(sl_monotonic_us())) ||
                    (stall = stalled(rk, o, &d, start)))
                    break;
                continue;
            }
            if (err) {
                fprintf(stderr, "sluice gen umb: produce: %s\n", rd_kafka_err2str(err));
                rd_kafka_destroy(rk);
                return 1;
            }
            sent++;
            break;
        }
        if (g_stop || stall || (o->rate > 0 && OVER(sl_monotonic_us()))) break;
        rd_kafka_poll(rk, 0);
        int64_t now = sl_monotonic_us();
        if (now - last_report > 5000000) {
            fprintf(stderr, "sluice gen umb: sent=%lld acknowledged=%lld rate=%.0f/s\n",
                    (long long)sent, (long long)d.acked,
                    (double)sent * 1e6 / (double)(now - start));
            last_report = now;
        }
    }
#undef OVER
    /* wait for the delivery reports; give up on a stall, a second signal, or
     * 5 s after a signal or the --duration stopped us */
    int stops = g_stop;
    int64_t flush_end = stops || over ? sl_monotonic_us() + 5000000 : INT64_MAX;
    while (!stall && rd_kafka_outq_len(rk) > 0 && g_stop <= stops &&
           sl_monotonic_us() < flush_end) {
        rd_kafka_flush(rk, 100);
        stall = stalled(rk, o, &d, start);
    }
    rd_kafka_purge(rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
    rd_kafka_poll(rk, 0); /* the purged messages' reports: failed */
    int64_t unsent = sent - d.acked - d.failed;
    rd_kafka_destroy(rk);
    if (stall)
        fprintf(stderr,
                "sluice gen umb: no delivery report from %s for %g s with %lld messages waiting "
                "(%lld acknowledged): is the broker up? (--ack-timeout)\n",
                o->brokers, o->ack_timeout, (long long)(sent - d.acked), (long long)d.acked);
    fprintf(stderr,
            "sluice gen umb: %lld messages produced to %s (%lld acknowledged, %lld failed, %lld "
            "unsent)\n",
            (long long)sent, o->topic, (long long)d.acked, (long long)d.failed, (long long)unsent);
    /* the count on stdout: what a test reconciles against */
    printf("%lld\n", (long long)d.acked);
    return stall || d.failed || unsent ? 1 : 0;
}

int sl_gen_umb_main(int argc, char **argv) {
    opts o = {.messages = 100000,
              .seed = 1,
              .tenants = 8,
              .nodes = 50,
              .malformed = 0.002,
              .noheader = 0.05,
              .unextractable = 0.003,
              .topic = "maas_notifications",
              .ack_timeout = 10};
    static const struct option lo[] = {
        {"messages", required_argument, 0, 'm'},
        {"rate", required_argument, 0, 'r'},
        {"duration", required_argument, 0, 'd'},
        {"out", required_argument, 0, 'o'},
        {"brokers", required_argument, 0, 'b'},
        {"topic", required_argument, 0, 't'},
        {"tenants", required_argument, 0, 'T'},
        {"nodes", required_argument, 0, 'n'},
        {"noheader", required_argument, 0, 'H'},
        {"malformed", required_argument, 0, 'M'},
        {"unextractable", required_argument, 0, 'U'},
        {"seed", required_argument, 0, 's'},
        {"ack-timeout", required_argument, 0, 'A'},
        {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0},
    };
    optind = 1;
    int c;
    bool messages_set = false;
    while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
        char *end = NULL;
        switch (c) {
        case 'm':
            o.messages = strtoll(optarg, &end, 10), messages_set = true;
            break;
        case 'r':
            o.rate = strtod(optarg, &end);
            break;
        case 'd':
            o.duration = strtod(optarg, &end);
            break;
        case 'o':
            o.out = optarg;
            break;
        case 'b':
            o.brokers = optarg;
            break;
        case 't':
            o.topic = optarg;
            break;
        case 'T':
            o.tenants = (int)strtol(optarg, &end, 10);
            break;
        case 'n':
            o.nodes = (int)strtol(optarg, &end, 10);
            break;
        case 'H':
            o.noheader = strtod(optarg, &end);
            break;
        case 'M':
            o.malformed = strtod(optarg, &end);
            break;
        case 'U':
            o.unextractable = strtod(optarg, &end);
            break;
        case 's':
            o.seed = strtoull(optarg, &end, 10);
            break;
        case 'A':
            o.ack_timeout = strtod(optarg, &end);
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
        if (end && *end) {
            fprintf(stderr, "sluice gen umb: bad number '%s'\n", optarg);
            usage(stderr);
            return 2;
        }
    }
    if (optind < argc || (!o.out == !o.brokers) || o.tenants < 1 || o.tenants > MAX_TENANTS ||
        o.nodes < 1 || o.rate < 0 || (o.rate > 0 && o.out) || o.messages < 0 ||
        !(o.ack_timeout >= 0)) {
        fprintf(stderr,
                "sluice gen umb: give one of --out or --brokers (and --rate only with --brokers); "
                "--tenants 1..%d\n",
                MAX_TENANTS);
        usage(stderr);
        return 2;
    }
    if (o.rate > 0 && !messages_set) o.messages = 0;
    return o.out ? to_files(&o) : to_kafka(&o);
}
