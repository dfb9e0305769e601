/*
 * sdnotify.c - sd_notify(3)'s datagram protocol, without libsystemd.
 */
#include "core/sdnotify.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

int sl_sd_notify(const char *state) {
    const char *path = getenv("NOTIFY_SOCKET");
    if (!path || !*path) return 0;
    size_t plen = strlen(path);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    /* "@name" is an abstract socket: a leading NUL byte, not part of the file system */
    if ((path[0] != '/' && path[0] != '@') || plen >= sizeof sa.sun_path) return -1;
    memcpy(sa.sun_path, path, plen);
    if (path[0] == '@') sa.sun_path[0] = 0;
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    socklen_t salen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + plen);
    ssize_t n;
    do
        n = sendto(fd, state, strlen(state), MSG_NOSIGNAL, (struct sockaddr *)&sa, salen);
    while (n < 0 && errno == EINTR);
    close(fd);
    return n == (ssize_t)strlen(state) ? 1 : -1;
}

int64_t sl_sd_watchdog_us(void) {
    const char *us = getenv("WATCHDOG_USEC");
    if (!us || !*us) return 0;
    const char *pid = getenv("WATCHDOG_PID");
    if (pid && *pid && strtol(pid, NULL, 10) != (long)getpid()) return 0; /* meant for another */
    char *end;
    long long v = strtoll(us, &end, 10);
    return *end || v <= 0 ? 0 : (int64_t)v;
}

void sl_sd_watchdog_tick(int64_t now_us) {
    static int64_t interval = -1, last;
    if (interval < 0) interval = sl_sd_watchdog_us();
    if (interval == 0 || now_us - last < interval / 2) return;
    last = now_us;
    sl_sd_notify("WATCHDOG=1");
}
