/*
 * kafka_sink.h - the `kafka` sink: records as JSON values to one topic.
 *
 * The producer is idempotent (enable.idempotence=true: acks=all, ordered,
 * no duplicates from its own retries). sl_kafka_sink_send only enqueues;
 * delivery is confirmed by sl_kafka_sink_flush, which the engine calls at
 * its commit, so a commit is only made durable once Kafka acknowledged every
 * record it covers. A crash between send and flush means those records are
 * sent again after recovery: across restarts the sink is at-least-once.
 */
#ifndef SL_SINKS_KAFKA_SINK_H
#define SL_SINKS_KAFKA_SINK_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"

typedef struct sl_kafka_sink sl_kafka_sink;

/* props are "key=value" librdkafka settings (TLS, SASL, linger.ms, ...). */
sl_kafka_sink *sl_kafka_sink_open(const char *brokers, const char *topic, const char *const *props,
                                  int nprops, sl_error *err);
/* Enqueues one record (key may be NULL). Blocks while the local queue is
 * full. Returns 0 or <0 if the producer failed fatally. */
int sl_kafka_sink_send(sl_kafka_sink *k, const char *key, size_t klen, const char *value,
                       size_t vlen, sl_error *err);
/* Waits until every record sent so far is acknowledged. Returns 0, SL_EAGAIN
 * on timeout (records still in flight), SL_EIO if any record failed since
 * the last flush. */
int sl_kafka_sink_flush(sl_kafka_sink *k, int timeout_ms, sl_error *err);
/* Records acknowledged / failed since open. */
int64_t sl_kafka_sink_acked(const sl_kafka_sink *k);
int64_t sl_kafka_sink_failed(const sl_kafka_sink *k);
void sl_kafka_sink_close(sl_kafka_sink *k);

#endif
