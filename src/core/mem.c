/* mem.c - checked allocation; see mem.h for the policy. */
#include "core/mem.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void sl_oom(const char *what, size_t n) {
    /* no allocation here: stderr is unbuffered and fprintf of a short line
     * needs no heap */
    fprintf(stderr, "sluice: out of memory (%s of %zu bytes); aborting\n", what, n);
    abort();
}

void *sl_xmalloc(size_t n) {
    void *p = malloc(n ? n : 1);
    if (!p) sl_oom("malloc", n);
    return p;
}

void *sl_xcalloc(size_t n, size_t size) {
    if (size && n > SIZE_MAX / size) sl_oom("calloc (size overflows)", SIZE_MAX);
    void *p = calloc(n && size ? n : 1, n && size ? size : 1);
    if (!p) sl_oom("calloc", n * size);
    return p;
}

void *sl_xrealloc(void *p, size_t n) {
    void *q = realloc(p, n ? n : 1);
    if (!q) sl_oom("realloc", n);
    return q;
}

void *sl_xreallocarray(void *p, size_t n, size_t size) {
    if (size && n > SIZE_MAX / size) sl_oom("realloc (size overflows)", SIZE_MAX);
    return sl_xrealloc(p, n * size);
}

char *sl_xstrdup(const char *s) { return sl_xstrndup(s, strlen(s)); }

char *sl_xstrndup(const char *s, size_t n) {
    if (n == SIZE_MAX) sl_oom("strdup", n);
    char *d = malloc(n + 1);
    if (!d) sl_oom("strdup", n + 1);
    memcpy(d, s, n);
    d[n] = 0;
    return d;
}
