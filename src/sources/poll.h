/*
 * poll.h - what a message source (kafka, syslog listener) hands out per poll:
 * many messages laid end to end in one buffer, one line each, so the line
 * formats parse a network message exactly as a line of a file. One type for
 * every such source lets the engine map parsed rows back to their message
 * without knowing which source polled it.
 */
#ifndef SL_SOURCES_POLL_H
#define SL_SOURCES_POLL_H

#include <stdint.h>

/* One message: its line is buf[off, off+len), followed by '\n'; part indexes
 * the source's partition names; pos is its position in that partition (Kafka
 * offset, or the message's number on a listener connection). */
typedef struct sl_poll_msg {
    uint32_t off, len;
    int32_t part;
    int64_t pos;
} sl_poll_msg;

#endif
