/*
 * syslog_net.h - the `syslog` network source: RFC 5426 (UDP) and RFC 6587
 * (TCP) listeners that hand complete messages to the engine as lines.
 *
 * Threads. Each listener has one receiver thread (UDP: recvmmsg in a loop;
 * TCP: epoll over the listening socket and every connection). Receivers
 * frame messages and append them to an inbox guarded by one mutex; the
 * engine's thread calls sl_syslog_net_poll, which swaps the inbox with the
 * buffer it finished delivering (ping-pong, no copy and no allocation in the
 * steady state) and hands out up to `max` messages per call. Everything the
 * engine sees is owned by its thread; receivers never touch it.
 *
 * Bounded queue. The inbox holds at most max_queue_bytes of message bytes
 * (plus the one swapped-out buffer still being delivered, so at most twice
 * that in all). When it is full:
 *   TCP  the receiver stops reading every connection until poll frees room:
 *        the kernel's socket buffers fill and senders block (backpressure);
 *        nothing is lost.
 *   UDP  the datagram is dropped and counted (sl_syslog_net_stats.dropped);
 *        there is no way to push back on a UDP sender.
 *
 * Hostile peers (TCP). A connection that sends nothing for idle_timeout_ms is
 * closed (counted in idle_closed; a sender with data queued is never idle),
 * one address holds at most max_conns_per_addr connections and all at most
 * max_connections (more are accepted and closed at once, counted in
 * refused), so idle peers cannot lock out the others. When accept fails for
 * lack of descriptors (EMFILE, ENFILE, ENOBUFS, ENOMEM) the listener stops
 * accepting for a second (the pending connection stays in the backlog),
 * logs once a minute and counts accept_errors, instead of spinning on a
 * listening socket that stays readable.
 *
 * Framing (TCP, RFC 6587), detected per connection from its first byte:
 *   a digit      octet counting: "LEN SP MSG" repeated;
 *   anything else  non-transparent framing: messages end at LF (a CR before
 *                it is dropped); a last message without LF is delivered when
 *                the peer closes the connection.
 * A bad length (not digits, or no space after them) counts a framing error
 * and the connection continues LF-framed, as rsyslog does. A message longer
 * than max_msg_bytes is cut to that size (counted in `truncated`); the rest
 * of its frame is skipped. UDP: one datagram is one message. In every
 * framing, trailing LF/CR/NUL bytes of a message are removed (rsyslog's
 * forwarding templates end in LF even when octet-counted), and empty
 * messages are skipped.
 *
 * Lines. poll lays the messages end to end in one buffer, each followed by
 * '\n', with raw '\n' and '\r' inside a message turned into spaces, so the
 * line formats (syslog, json, logfmt, regex, csv) read a network message
 * exactly as they read a line of a file. The buffer has
 * SL_SYSLOG_NET_PADDING readable bytes after the last line.
 *
 * Partitions. Every peer is a partition: "udp:10.0.0.7" for all datagrams
 * from one address (port ignored: senders use ephemeral ports),
 * "tcp:10.0.0.7:40312" for one TCP connection (IPv6 as "tcp:[::1]:40312").
 * Part ids are small, stable for the source's life, and never reused, so a
 * source that sees many short connections keeps ~64 bytes per connection
 * ever seen. A message's `seq` is its number within its partition (0, 1,
 * ...), usable as a row position for provenance.
 *
 * TLS (RFC 5425). With tls_cert/tls_key the TCP listener speaks TLS 1.2 or
 * later only (UDP stays plain: RFC 5425 is TCP; DTLS is not built). The
 * handshake is non-blocking in the same epoll loop (SSL_accept/SSL_read with
 * WANT_READ/WANT_WRITE), so a slow or silent handshake holds one connection
 * slot and nothing else; the idle timeout covers it. With tls_client_ca a
 * client must present a certificate signed by that CA or the handshake
 * fails. Failed handshakes (plain TCP, wrong CA, no client certificate) are
 * closed and counted in tls_failed. The cert/key/CA files are looked at
 * again (mtime, size, inode) at most once a second when a connection arrives;
 * when they changed, a new SSL_CTX serves new connections while open ones
 * keep theirs (a renewal that does not load is logged and the old one kept).
 *
 * Delivery guarantee. Network input cannot be replayed: there is no position
 * to seek back to. A message is at-most-once across a crash: whatever sat in
 * the queue, or was read but not yet committed, is lost, unless the sender
 * retries (rsyslog with a disk-assisted queue resends what was not acked at
 * the TCP level, which can then duplicate). The engine commits as soon as it
 * is idle, so the window is typically tens of milliseconds. Within a running
 * process nothing read from TCP is lost or duplicated.
 */
#ifndef SL_SOURCES_SYSLOG_NET_H
#define SL_SOURCES_SYSLOG_NET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/error.h"
#include "sources/poll.h"

typedef struct sl_syslog_net sl_syslog_net;

typedef struct sl_syslog_net_config {
    /* "host:port", "[v6]:port" or ":port" (all interfaces); port 0 picks a
     * free port (see sl_syslog_net_udp_port/tcp_port). NULL: no listener.
     * At least one of the two must be given. */
    const char *udp;
    const char *tcp;
    size_t max_queue_bytes;  /* inbox bound; 0 = 8 MiB */
    size_t max_msg_bytes;    /* longer messages are cut; 0 = 64 KiB */
    int max_connections;     /* open TCP connections; more are refused; 0 = 1024 */
    int max_conns_per_addr;  /* open TCP connections from one address; 0 = 64 */
    int64_t idle_timeout_ms; /* a TCP connection silent this long is closed; 0 = 5 min */
    /* TLS on the TCP listener (PEM files): cert and key both, or neither;
     * client_ca optional (clients must present a certificate it signed). */
    const char *tls_cert, *tls_key, *tls_client_ca;
} sl_syslog_net_config;

/* Loads cert/key (and client_ca) as the listener would, to refuse a bad one
 * at load time. Returns 0, or SL_EINVAL with the reason in err. detail (may be
 * NULL) gets "TLS 1.2+, certificate SUBJECT, expires DATE[, client
 * certificates from CA]" for `sluice check`. */
int sl_syslog_net_tls_check(const char *cert, const char *key, const char *client_ca, char *detail,
                            size_t cap, sl_error *err);

/* Binds the sockets and starts the receiver threads. Returns NULL with err
 * set (address syntax, bind failure, ...). */
sl_syslog_net *sl_syslog_net_open(const sl_syslog_net_config *c, sl_error *err);
/* Bound ports (useful with port 0), or -1 when that listener is off. */
int sl_syslog_net_udp_port(const sl_syslog_net *s);
int sl_syslog_net_tcp_port(const sl_syslog_net *s);

/* One message (poll.h): part indexes sl_syslog_net_part_names; pos is the
 * message's number in its partition. */
typedef sl_poll_msg sl_syslog_net_msg;

#define SL_SYSLOG_NET_PADDING 64

/* Hands out up to max messages, waiting at most timeout_ms for the first
 * one (0: do not wait). Returns the number of messages (0 if none). *buf
 * and *msgs stay valid until the next poll or close; msgs[0].off == 0 and
 * the lines are contiguous, so buf[0 .. msgs[n-1].off + msgs[n-1].len + 1)
 * is n lines. Never fails once open (err is kept for symmetry, may be NULL). */
int sl_syslog_net_poll(sl_syslog_net *s, int max, int timeout_ms, const char **buf,
                       const sl_syslog_net_msg **msgs, sl_error *err);
/* An eventfd that becomes readable when the queue gets a message while it
 * was empty; sl_syslog_net_poll drains it when it takes the queue, so a poll
 * that handed out fewer messages than it holds must be followed by another
 * poll, not a wait. */
int sl_syslog_net_fd(const sl_syslog_net *s);
/* Partition names by part id, as of the last poll. */
const char *const *sl_syslog_net_part_names(const sl_syslog_net *s);
int sl_syslog_net_part_count(const sl_syslog_net *s);

typedef struct sl_syslog_net_stats {
    int64_t received;    /* messages queued (UDP + TCP) */
    int64_t dropped;     /* UDP datagrams dropped because the queue was full */
    int64_t bytes;       /* message bytes queued */
    int64_t connections; /* TCP connections accepted, in all */
    int64_t open_connections;
    int64_t refused;        /* TCP connections refused (max_connections, per address) */
    int64_t idle_closed;    /* TCP connections closed after idle_timeout_ms of silence */
    int64_t accept_errors;  /* accept failures (EMFILE: out of descriptors), each backed off */
    int64_t truncated;      /* messages cut to max_msg_bytes */
    int64_t framing_errors; /* bad octet counts */
    int64_t queue_bytes;    /* bytes waiting in the inbox now */
    int64_t backpressure;   /* times the TCP receiver waited for room */
    int64_t tls_failed;     /* TLS handshakes that failed (closed) */
    int64_t tls_reloads;    /* new certificates taken after a file changed */
} sl_syslog_net_stats;

void sl_syslog_net_stats_get(sl_syslog_net *s, sl_syslog_net_stats *out);

/* Stops the threads, closes every socket, frees everything. Messages still
 * queued are lost (see "Delivery guarantee"). */
void sl_syslog_net_close(sl_syslog_net *s);

#endif
