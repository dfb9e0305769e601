/*
 * kafka_mock.c - librdkafka's mock cluster behind a small start/stop API;
 * see kafka_mock.h.
 *
 * rd_kafka_mock_cluster_new needs a client handle to hang its threads and
 * logging on; a producer handle that never produces serves. Topics are
 * created explicitly with their partition counts (the mock would otherwise
 * auto-create them with its default of 4 partitions on first use).
 */
#include "sources/kafka_mock.h"

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/log.h"

struct sl_kafka_mock {
    rd_kafka_t *rk;
    rd_kafka_mock_cluster_t *mc;
    int brokers;
};

static void mock_log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf) {
    (void)rk;
    if (level > 4) /* syslog levels: only errors and warnings */
        return;
    char esc[512];
    sl_json_escape(esc, sizeof esc, buf, (int)strlen(buf));
    sl_log(level <= 3 ? SL_LOG_ERROR : SL_LOG_WARN, "kafka mock",
           "\"facility\":\"%s\",\"detail\":\"%s\"", fac, esc);
}

int sl_kafka_mock_topic(sl_kafka_mock *m, const char *spec, sl_error *err) {
    char name[256];
    const char *colon = strrchr(spec, ':');
    size_t n = colon ? (size_t)(colon - spec) : strlen(spec);
    if (n == 0 || n >= sizeof name)
        return sl_error_set(err, SL_EINVAL, "kafka mock: bad topic '%s' (want name:partitions)",
                            spec);
    memcpy(name, spec, n);
    name[n] = 0;
    long parts = 1;
    if (colon) {
        char *end;
        parts = strtol(colon + 1, &end, 10);
        if (*end || parts < 1 || parts > 10000)
            return sl_error_set(err, SL_EINVAL, "kafka mock: bad partition count in '%s'", spec);
    }
    rd_kafka_resp_err_t e = rd_kafka_mock_topic_create(m->mc, name, (int)parts, 1);
    if (e)
        return sl_error_set(err, SL_EIO, "kafka mock: create topic '%s': %s", name,
                            rd_kafka_err2str(e));
    return 0;
}

sl_kafka_mock *sl_kafka_mock_start(int brokers, const char *const *topics, int ntopics,
                                   sl_error *err) {
    if (brokers < 1 || brokers > 16) {
        sl_error_set(err, SL_EINVAL, "kafka mock: brokers must be 1..16, not %d", brokers);
        return NULL;
    }
    sl_kafka_mock *m = calloc(1, sizeof *m);
    if (!m) {
        sl_error_set(err, SL_ENOMEM, "kafka mock: out of memory");
        return NULL;
    }
    m->brokers = brokers;
    char errstr[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set_log_cb(conf, mock_log_cb);
    /* the handle itself never connects anywhere */
    rd_kafka_conf_set(conf, "client.id", "sluice-mock", errstr, sizeof errstr);
    m->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
    if (!m->rk) {
        rd_kafka_conf_destroy(conf);
        sl_error_set(err, SL_EIO, "kafka mock: %s", errstr);
        free(m);
        return NULL;
    }
    m->mc = rd_kafka_mock_cluster_new(m->rk, brokers);
    if (!m->mc) {
        sl_error_set(err, SL_EIO, "kafka mock: could not start the mock cluster");
        rd_kafka_destroy(m->rk);
        free(m);
        return NULL;
    }
    for (int i = 0; i < ntopics; i++) {
        if (sl_kafka_mock_topic(m, topics[i], err) < 0) {
            sl_kafka_mock_stop(m);
            return NULL;
        }
    }
    return m;
}

const char *sl_kafka_mock_bootstraps(const sl_kafka_mock *m) {
    return rd_kafka_mock_cluster_bootstraps(m->mc);
}

void sl_kafka_mock_stop(sl_kafka_mock *m) {
    if (!m) return;
    rd_kafka_mock_cluster_destroy(m->mc);
    rd_kafka_destroy(m->rk);
    free(m);
}

/* ---- the `sluice kafka-mock` command ----------------------------------- */

static volatile sig_atomic_t mock_stop_flag;

static void on_signal(int sig) {
    (void)sig;
    mock_stop_flag = 1;
}

static const char mock_help[] =
    "usage: kafka-mock [--brokers N] --topic NAME:PARTITIONS [--topic ...]\n"
    "  Runs librdkafka's mock cluster and prints bootstrap=HOST:PORT on stdout.\n"
    "  Stops on SIGINT or SIGTERM, or when stdin is a pipe or fifo and its writer\n"
    "  closes it; stdin closed, /dev/null or a terminal do not stop it (so\n"
    "  `sluice kafka-mock ... &` keeps running).\n";

static int mock_usage(FILE *out, int code) {
    fputs(mock_help, out);
    return code;
}

int sl_kafka_mock_main(int argc, char **argv) {
    int brokers = 1;
    const char **topics = calloc((size_t)argc, sizeof *topics);
    int ntopics = 0;
    if (!topics) return 1;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            free(topics);
            return mock_usage(stdout, 0);
        } else if (!strcmp(argv[i], "--topic") && i + 1 < argc)
            topics[ntopics++] = argv[++i];
        else if (!strncmp(argv[i], "--topic=", 8))
            topics[ntopics++] = argv[i] + 8;
        else if (!strcmp(argv[i], "--brokers") && i + 1 < argc)
            brokers = atoi(argv[++i]);
        else {
            fprintf(stderr, "kafka-mock: unknown or incomplete argument '%s'\n", argv[i]);
            free(topics);
            return mock_usage(stderr, 2);
        }
    }
    mock_stop_flag = 0;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    signal(SIGTTIN, SIG_IGN); /* background job on a terminal: read fails instead of stopping us */

    sl_error err = {0};
    sl_kafka_mock *m = sl_kafka_mock_start(brokers, topics, ntopics, &err);
    if (!m) {
        fprintf(stderr, "kafka-mock: %s\n", err.msg);
        free(topics);
        return 1;
    }
    printf("bootstrap=%s\n", sl_kafka_mock_bootstraps(m));
    fflush(stdout);
    /* Wait for a signal. A pipe or fifo on stdin is a parent's handle on us
     * (tests/integration/lib.sh start_mock): its EOF stops us too. Any other
     * stdin (closed, /dev/null, a terminal, a file) is not watched: a
     * background job's stdin is /dev/null, and its EOF means nothing. */
    struct stat st;
    bool stdin_open = fstat(0, &st) == 0 && S_ISFIFO(st.st_mode);
    while (!mock_stop_flag) {
        struct pollfd pfd = {.fd = 0, .events = POLLIN};
        int r = poll(&pfd, stdin_open ? 1 : 0, 500);
        if (r > 0) {
            char b[256];
            ssize_t n = read(0, b, sizeof b);
            if (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN))
                mock_stop_flag = 1; /* the writer closed it: whoever started us is done */
        } else if (r < 0 && errno != EINTR) {
            stdin_open = false;
        }
    }
    sl_kafka_mock_stop(m);
    free(topics);
    return 0;
}
