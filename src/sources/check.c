/*
 * check.c - helpers for the sources' `check` callbacks; see check.h.
 */
#include "sources/check.h"

#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int sl__sources_check_listen(const char *addr, int socktype, char *detail, size_t cap) {
    const char *kind = socktype == SOCK_DGRAM ? "udp" : "tcp";
    char host[256];
    const char *colon = addr ? strrchr(addr, ':') : NULL;
    size_t hl = colon ? (size_t)(colon - addr) : 0;
    if (!colon || hl >= sizeof host || !colon[1]) {
        snprintf(detail, cap, "%s %s: not host:port", kind, addr ? addr : "(none)");
        return 1;
    }
    memcpy(host, addr, hl);
    host[hl] = 0;
    if (hl >= 2 && host[0] == '[' && host[hl - 1] == ']') { /* [v6] */
        memmove(host, host + 1, hl - 2);
        host[hl - 2] = 0;
    }
    struct addrinfo hints = {
        .ai_family = AF_UNSPEC, .ai_socktype = socktype, .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    struct addrinfo *res = NULL;
    int rc = getaddrinfo(host[0] ? host : NULL, colon + 1, &hints, &res);
    if (rc) {
        snprintf(detail, cap, "%s %s: %s", kind, addr, gai_strerror(rc));
        return 1;
    }
    int err = 0;
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
        if (fd < 0) {
            err = errno;
            continue;
        }
        int one = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0) {
            close(fd);
            freeaddrinfo(res);
            snprintf(detail, cap, "can listen on %s %s", kind, addr);
            return 0;
        }
        err = errno;
        close(fd);
    }
    freeaddrinfo(res);
    if (err == EADDRINUSE)
        snprintf(detail, cap,
                 "%s %s is in use (by another program, or by this pipeline if it is running)", kind,
                 addr);
    else
        snprintf(detail, cap, "cannot listen on %s %s: %s", kind, addr, strerror(err));
    return 1;
}
