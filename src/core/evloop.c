/*
 * evloop.c - epoll, timerfd and signalfd behind the small API of evloop.h.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "core/evloop.h"
#include "core/mem.h"

struct sl_evloop {
    int ep;
};

sl_evloop *sl_evloop_new(sl_error *err) {
    int ep = epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0) {
        sl_error_set(err, SL_EIO, "epoll_create1: %s", strerror(errno));
        return NULL;
    }
    sl_evloop *l = sl_xcalloc(1, sizeof *l);
    l->ep = ep;
    return l;
}

void sl_evloop_free(sl_evloop *l) {
    if (!l) return;
    close(l->ep);
    free(l);
}

int sl_evloop_add(sl_evloop *l, int fd, uint64_t tag, sl_error *err) {
    struct epoll_event ev = {.events = EPOLLIN, .data.u64 = tag};
    if (epoll_ctl(l->ep, EPOLL_CTL_ADD, fd, &ev) == 0) return 0;
    if (errno == EEXIST && epoll_ctl(l->ep, EPOLL_CTL_MOD, fd, &ev) == 0) return 0;
    return sl_error_set(err, SL_EIO, "epoll_ctl(add fd %d): %s", fd, strerror(errno));
}

void sl_evloop_del(sl_evloop *l, int fd) { epoll_ctl(l->ep, EPOLL_CTL_DEL, fd, NULL); }

int sl_evloop_wait(sl_evloop *l, int timeout_ms, uint64_t *tags, int cap) {
    struct epoll_event ev[32];
    if (cap > 32) cap = 32;
    int n = epoll_wait(l->ep, ev, cap, timeout_ms);
    if (n < 0) return errno == EINTR ? 0 : -1;
    for (int i = 0; i < n; i++)
        tags[i] = ev[i].data.u64;
    return n;
}

int sl_timerfd_open(int64_t interval_us, sl_error *err) {
    int fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    if (fd < 0) return sl_error_set(err, SL_EIO, "timerfd_create: %s", strerror(errno));
    if (interval_us < 1) interval_us = 1;
    struct itimerspec it = {
        .it_interval = {interval_us / 1000000, (interval_us % 1000000) * 1000},
        .it_value = {interval_us / 1000000, (interval_us % 1000000) * 1000},
    };
    if (timerfd_settime(fd, 0, &it, NULL)) {
        int e = errno;
        close(fd);
        return sl_error_set(err, SL_EIO, "timerfd_settime: %s", strerror(e));
    }
    return fd;
}

uint64_t sl_timerfd_drain(int fd) {
    uint64_t n = 0;
    if (read(fd, &n, sizeof n) != (ssize_t)sizeof n) return 0;
    return n;
}

static sigset_t saved_mask;

int sl_signalfd_open(sl_error *err) {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGHUP);
    if (pthread_sigmask(SIG_BLOCK, &set, &saved_mask))
        return sl_error_set(err, SL_EIO, "blocking SIGINT/SIGTERM/SIGHUP failed");
    int fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        pthread_sigmask(SIG_SETMASK, &saved_mask, NULL);
        return sl_error_set(err, SL_EIO, "signalfd: %s", strerror(e));
    }
    return fd;
}

int sl_signalfd_read(int fd) {
    struct signalfd_siginfo si;
    if (read(fd, &si, sizeof si) != (ssize_t)sizeof si) return 0;
    return (int)si.ssi_signo;
}

void sl_signalfd_close(int fd) {
    if (fd < 0) return;
    close(fd);
    pthread_sigmask(SIG_SETMASK, &saved_mask, NULL);
}
