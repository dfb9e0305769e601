/*
 * kafka_floor.c - what librdkafka alone costs per consumed message, the floor
 * under the kafka source's figures in bench/kafka.sh (issue 20).
 *
 * Reads every partition of TOPIC from the beginning with the settings and the
 * calls of src/sources/kafka.c (queued.min.messages 1000000, one
 * rd_kafka_consume_batch_queue of 512 per call, rd_kafka_message_destroy per
 * message) and, with HEADER, looks that header up in every message as the
 * source's filter does (rd_kafka_message_headers parses a consumer message's
 * headers on first use). No copy, no parse, no store: whatever sluice adds
 * on top of these figures is its own work. Partitions are assigned directly
 * (no group join), so the timing starts at the first fetch.
 *
 *   kafka_floor BROKERS TOPIC PARTITIONS MESSAGES [HEADER]
 *
 * Prints: messages, payload bytes, process CPU s and us/message, the calling
 * thread's CPU s and us/message (the rest is librdkafka's broker threads).
 */
#include <librdkafka/rdkafka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

static double cpu_s(int who) {
    struct rusage r;
    getrusage(who, &r);
    return (double)(r.ru_utime.tv_sec + r.ru_stime.tv_sec) +
           (double)(r.ru_utime.tv_usec + r.ru_stime.tv_usec) / 1e6;
}

static int set(rd_kafka_conf_t *c, const char *k, const char *v) {
    char e[512];
    if (rd_kafka_conf_set(c, k, v, e, sizeof e) == RD_KAFKA_CONF_OK) return 0;
    fprintf(stderr, "kafka_floor: %s: %s\n", k, e);
    return 1;
}

int main(int argc, char **argv) {
    if (argc < 5) {
        fprintf(stderr, "usage: kafka_floor BROKERS TOPIC PARTITIONS MESSAGES [HEADER]\n");
        return 2;
    }
    const char *topic = argv[2], *header = argc > 5 ? argv[5] : NULL;
    int nparts = atoi(argv[3]);
    long want = atol(argv[4]);
    rd_kafka_conf_t *c = rd_kafka_conf_new();
    if (set(c, "bootstrap.servers", argv[1]) || set(c, "group.id", "kafka_floor") ||
        set(c, "enable.auto.commit", "false") || set(c, "queued.min.messages", "1000000") ||
        set(c, "log_level", "3"))
        return 1;
    char e[512];
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, c, e, sizeof e);
    if (!rk) {
        fprintf(stderr, "kafka_floor: %s\n", e);
        return 1;
    }
    rd_kafka_poll_set_consumer(rk);
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(nparts);
    for (int i = 0; i < nparts; i++)
        rd_kafka_topic_partition_list_add(l, topic, i)->offset = RD_KAFKA_OFFSET_BEGINNING;
    rd_kafka_assign(rk, l);
    rd_kafka_topic_partition_list_destroy(l);
    rd_kafka_queue_t *q = rd_kafka_queue_get_consumer(rk);
    rd_kafka_message_t *batch[512];
    long got = 0, with_header = 0, idle = 0;
    size_t bytes = 0;
    double p0 = cpu_s(RUSAGE_SELF), t0 = cpu_s(RUSAGE_THREAD);
    while (got < want && idle < 10) {
        ssize_t n = rd_kafka_consume_batch_queue(q, 1000, batch, sizeof batch / sizeof *batch);
        idle = n > 0 ? 0 : idle + 1; /* 10 s without a message: the topic holds fewer */
        for (ssize_t i = 0; i < n; i++) {
            rd_kafka_message_t *m = batch[i];
            if (!m->err) {
                got++;
                bytes += m->len;
                rd_kafka_headers_t *h;
                const void *v;
                size_t vl;
                if (header && !rd_kafka_message_headers(m, &h) &&
                    !rd_kafka_header_get_last(h, header, &v, &vl))
                    with_header++;
            }
            rd_kafka_message_destroy(m);
        }
    }
    double p1 = cpu_s(RUSAGE_SELF), t1 = cpu_s(RUSAGE_THREAD);
    double per = got ? 1e6 / (double)got : 0;
    printf("messages %ld, bytes %zu, header %s (%ld had it), process CPU %.3f s (%.2f us/msg), "
           "consuming thread %.3f s (%.2f us/msg)\n",
           got, bytes, header ? header : "-", with_header, p1 - p0, (p1 - p0) * per, t1 - t0,
           (t1 - t0) * per);
    rd_kafka_queue_destroy(q);
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    return got == want ? 0 : 1;
}
