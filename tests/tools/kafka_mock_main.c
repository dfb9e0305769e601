/*
 * kafka_mock_main.c - `sluice kafka-mock`: a Kafka cluster for tests and demos.
 *
 *   kafka_mock_main [--brokers N] --topic NAME:PARTITIONS [--topic ...]
 *
 * Starts librdkafka's mock cluster (src/sources/kafka_mock.h), prints one line
 * "bootstrap=127.0.0.1:PORT,..." on stdout (flushed, so a script can read it),
 * and serves until SIGTERM/SIGINT or end of stdin. Any Kafka client works
 * against it: kcat -b 127.0.0.1:PORT -P -t NAME, a `kafka` source, ...
 * The data lives in memory only.
 */
#include "core/log.h"
#include "sources/kafka_mock.h"

int main(int argc, char **argv) {
    sl_log_init();
    return sl_kafka_mock_main(argc, argv);
}
