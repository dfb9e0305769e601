/*
 * kafka_mock.h - a Kafka cluster inside this process, for tests and demos.
 *
 * librdkafka ships a mock cluster (rdkafka_mock.h) that speaks the real
 * Kafka protocol on 127.0.0.1 sockets: produce, fetch, consumer groups,
 * offset commits, idempotent producers. Any Kafka client (kcat, another
 * process, this process) can connect to the bootstrap list it returns. The
 * log lives in memory and dies with the cluster; its broker threads run on
 * their own, so the owner only has to keep the process alive.
 *
 * Limits of the mock (librdkafka 2.0): each partition keeps only its last
 * ~5 MB of messages (older ones are dropped, the low watermark moves up), and
 * a consumer group's first join waits ~3 s, a rebalance a few seconds more.
 */
#ifndef SL_SOURCES_KAFKA_MOCK_H
#define SL_SOURCES_KAFKA_MOCK_H

#include "core/error.h"

typedef struct sl_kafka_mock sl_kafka_mock;

/* Starts `brokers` mock brokers (1..16) and creates the topics, each given as
 * "name:partitions" (":partitions" may be left out: 1). Returns NULL and
 * sets err on failure. */
sl_kafka_mock *sl_kafka_mock_start(int brokers, const char *const *topics, int ntopics,
                                   sl_error *err);
/* "127.0.0.1:port,..." - valid until sl_kafka_mock_stop. */
const char *sl_kafka_mock_bootstraps(const sl_kafka_mock *m);
/* Adds a topic to a running cluster ("name:partitions"). */
int sl_kafka_mock_topic(sl_kafka_mock *m, const char *topic, sl_error *err);
void sl_kafka_mock_stop(sl_kafka_mock *m);

/* The `sluice kafka-mock` command: argv = {"kafka-mock", "--topic", "t:2", ...}
 * ([--brokers N] --topic NAME:PARTITIONS ...). Prints "bootstrap=..." on
 * stdout, serves until SIGTERM/SIGINT or stdin EOF. Returns the exit code. */
int sl_kafka_mock_main(int argc, char **argv);

#endif
