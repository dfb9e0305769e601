/*
 * evloop.h - the event loop's waiting: one epoll set over file descriptors.
 *
 * Sluice's data path is one thread (like Redis's ae.c): it reads whatever
 * is ready, and when nothing is, it sleeps in epoll_wait until a descriptor
 * becomes readable or the next deadline comes, never in a fixed sleep. The
 * descriptors are the sources' own (an inotify watch, the Kafka consumer
 * queue's wake-up fd, an eventfd the syslog listener threads signal), a
 * timerfd for commits and ticks, and a signalfd for SIGINT/SIGTERM/SIGHUP.
 *
 * Registration is level-triggered: whoever owns a descriptor drains it
 * (reads its events) when it is reported, or it is reported again at once.
 */
#ifndef SL_CORE_EVLOOP_H
#define SL_CORE_EVLOOP_H

#include <stdint.h>

#include "core/error.h"

typedef struct sl_evloop sl_evloop;

sl_evloop *sl_evloop_new(sl_error *err);
void sl_evloop_free(sl_evloop *l);
/* Watches fd for reading; `tag` comes back from sl_evloop_wait. */
int sl_evloop_add(sl_evloop *l, int fd, uint64_t tag, sl_error *err);
void sl_evloop_del(sl_evloop *l, int fd);
/* Waits up to timeout_ms (-1: no limit; 0: only polls) and stores the tags
 * of the ready descriptors in tags[0..cap). Returns how many (0: timeout),
 * or <0 on error. EINTR counts as a timeout. */
int sl_evloop_wait(sl_evloop *l, int timeout_ms, uint64_t *tags, int cap);

/* A periodic timer: readable every interval_us (first after interval_us). */
int sl_timerfd_open(int64_t interval_us, sl_error *err);
/* Reads the expirations since the last call (0 if none). */
uint64_t sl_timerfd_drain(int fd);

/* Blocks SIGINT, SIGTERM and SIGHUP in this thread (and the threads it
 * starts afterwards) and returns a signalfd that becomes readable when one
 * arrives; -1 with err on failure. sl_signalfd_read returns the signal
 * number (0: none pending). sl_signalfd_close restores the old mask (a
 * signal still pending then gets its disposition: the caller may want
 * SIGHUP ignored). */
int sl_signalfd_open(sl_error *err);
int sl_signalfd_read(int fd);
void sl_signalfd_close(int fd);

#endif
