/*
 * check.h - helpers for the sources' `check` callbacks (`sluice check`),
 * internal to src/sources.
 */
#ifndef SL_SOURCES_CHECK_H
#define SL_SOURCES_CHECK_H

#include <stddef.h>

/* Can addr ("host:port", "[v6]:port", ":port") be bound for socktype
 * (SOCK_STREAM or SOCK_DGRAM)? Binds a socket and closes it at once.
 * Returns 0 (detail: "can listen on ADDR") or 1 (detail: why not; in use
 * also when a running pipeline holds it, which the detail says). */
int sl__sources_check_listen(const char *addr, int socktype, char *detail, size_t cap);

#endif
