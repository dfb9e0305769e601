/*
 * kafka.h - the `kafka` source: a consumer-group member on librdkafka.
 *
 * Exactly-once rests on one rule: the position of every partition that the
 * engine reads is saved in Sluice's own checkpoint, in the same SQLite commit
 * as the outputs it produced. Kafka's committed offsets are written too, but
 * only after that commit and only for lag tools and for handing a partition
 * to another process; they are never trusted over the checkpoint.
 *
 * So the consumer never lets librdkafka pick positions: auto commit and auto
 * offset store are off, and on every assignment the position callback is
 * asked where each partition resumes (the checkpoint), falling back to Kafka's
 * committed offset and then auto.offset.reset when the checkpoint knows
 * nothing. On revocation the revoke callback runs BEFORE the partitions are
 * given up, so the engine can commit what it has read; those positions are
 * then committed to Kafka synchronously so the next owner starts where this
 * one stopped. Messages of a revoked partition that were fetched but not yet
 * handed to the engine are dropped, never half-counted.
 *
 * sl_kafka_poll copies payloads as lines into one padded buffer (a record per
 * line, raw '\n'/'\r' turned into spaces), so the line formats (JSON, CSV,
 * syslog) read Kafka exactly as they read files. A filter on one header value
 * and/or on the key is applied before any copying or parsing: rejected
 * messages are counted and advance the position, nothing more.
 *
 * Not thread-safe: one source belongs to the engine's data-path thread. The
 * callbacks run inside sl_kafka_poll and sl_kafka_close, on that thread.
 */
#ifndef SL_SOURCES_KAFKA_H
#define SL_SOURCES_KAFKA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/error.h"
#include "sources/poll.h"

typedef struct sl_kafka_source sl_kafka_source;

typedef struct sl_kafka_config {
    const char *brokers, *group;
    const char *const *topics;
    int ntopics;
    const char *const *props; /* "key=value" passed to rd_kafka_conf_set (TLS, SASL, ...) */
    int nprops;
    const char *filter_header;        /* header name, or NULL */
    const char *const *filter_values; /* allow-list of that header's values */
    int nfilter;
    bool filter_missing_pass;       /* a message without the header passes (else: filtered) */
    const char *const *filter_keys; /* allow-list of message keys, or NULL */
    int nfilter_keys;
    bool once; /* stop at the end offsets seen when the partition was first assigned */
    /* group.instance.id (static membership: a restarted member gets its
     * partitions back at once instead of after the session timeout), or NULL;
     * a group.instance.id in props wins */
    const char *instance_id;
} sl_kafka_config;

/* Called on assignment for each partition: return the next offset to read
 * from the checkpoint, or -1 for "none" (then Kafka's committed offset for
 * the group, then auto.offset.reset, default earliest). */
typedef int64_t (*sl_kafka_position_fn)(void *ud, const char *topic, int32_t partition);
/* Called on revocation BEFORE the partitions are given up, so the engine can
 * commit (sl_kafka_each_dirty, its transaction, sl_kafka_committed). */
typedef void (*sl_kafka_revoke_fn)(void *ud, const char *const *partitions, int n);

/* Creates the consumer and subscribes; the first assignment happens inside a
 * later sl_kafka_poll. pos and revoke may be NULL. */
sl_kafka_source *sl_kafka_open(const sl_kafka_config *c, sl_kafka_position_fn pos,
                               sl_kafka_revoke_fn revoke, void *ud, sl_error *err);

/* One accepted message (poll.h): part indexes sl_kafka_partition_names,
 * pos is its Kafka offset. */
typedef sl_poll_msg sl_kafka_msg;

#define SL_KAFKA_PADDING 64

/* Polls up to max messages, waiting at most timeout_ms for the first one.
 * Returns the number of messages (0 if none) or <0 on a fatal consumer error.
 * *buf has >= SL_KAFKA_PADDING readable bytes after the last line; buf and
 * msgs stay valid until the next poll or close. Filtered messages are counted
 * (sl_kafka_filtered), not returned, and still advance the position. */
int sl_kafka_poll(sl_kafka_source *s, int max, int timeout_ms, const char **buf,
                  const sl_kafka_msg **msgs, sl_error *err);
/* "topic/partition" by part id; ids are small, stable for the source's life. */
const char *const *sl_kafka_partition_names(const sl_kafka_source *s);
int sl_kafka_partition_count(const sl_kafka_source *s);

/* Positions to checkpoint: next offset of every partition whose position
 * changed since the last call (only messages already returned by poll). */
typedef void (*sl_kafka_each_fn)(void *ud, const char *partition_name, int64_t next_offset);
void sl_kafka_each_dirty(sl_kafka_source *s, sl_kafka_each_fn fn, void *ud);
/* After the engine's commit: commits the positions last given by
 * sl_kafka_each_dirty to Kafka (async), for lag tools and the next owner. */
void sl_kafka_committed(sl_kafka_source *s);

int64_t sl_kafka_filtered(const sl_kafka_source *s);
/* Sum over assigned partitions of high watermark - position (as last seen by
 * fetches; no network round trip). */
int64_t sl_kafka_lag(const sl_kafka_source *s);
/* A descriptor that becomes readable when the consumer queue gets an element
 * while it was empty (a message, a rebalance): librdkafka's
 * rd_kafka_queue_io_event_enable. sl_kafka_poll drains it, so a poll that
 * left messages in the queue must be followed by another poll, not a wait.
 * -1 if it could not be made. */
int sl_kafka_fd(const sl_kafka_source *s);
/* once mode: partitions are assigned and every one reached its end offset. */
bool sl_kafka_done(const sl_kafka_source *s);
/* Leaves the group (the revoke callback runs first) and frees everything. */
void sl_kafka_close(sl_kafka_source *s);

#endif
