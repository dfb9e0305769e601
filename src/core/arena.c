/* arena.c - chunked bump allocator; see arena.h. */
#include "core/arena.h"

#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/mem.h"

typedef struct chunk {
    struct chunk *next;
    size_t size, used;
    _Alignas(16) unsigned char data[];
} chunk;

struct sl_arena {
    chunk *head;
    size_t chunk_size;
    size_t total_used;
};

static chunk *chunk_new(size_t size) {
    if (size > SIZE_MAX - sizeof(chunk)) sl_oom("arena chunk", size);
    chunk *c = sl_xmalloc(sizeof(chunk) + size);
    c->next = NULL;
    c->size = size;
    c->used = 0;
    return c;
}

sl_arena *sl_arena_new(size_t chunk_size) {
    sl_arena *a = sl_xcalloc(1, sizeof *a);
    a->chunk_size = chunk_size ? chunk_size : 64 * 1024;
    return a;
}

void sl_arena_free(sl_arena *a) {
    if (!a) return;
    for (chunk *c = a->head, *n; c; c = n) {
        n = c->next;
        free(c);
    }
    free(a);
}

void *sl_arena_alloc(sl_arena *a, size_t n) {
    n = (n + 7) & ~(size_t)7;
    chunk *c = a->head;
    if (!c || c->size - c->used < n) {
        size_t size = n > a->chunk_size ? n : a->chunk_size;
        c = chunk_new(size);
        c->next = a->head;
        a->head = c;
    }
    void *p = c->data + c->used;
    c->used += n;
    a->total_used += n;
    assert(c->used <= c->size);
    assert(((uintptr_t)p & 7) == 0); /* 8-byte aligned, as arena.h promises */
    return p;
}

char *sl_arena_strdup(sl_arena *a, const char *s, size_t n) {
    char *p = sl_arena_alloc(a, n + 1);
    if (n) memcpy(p, s, n);
    p[n] = 0;
    return p;
}

void sl_arena_reset(sl_arena *a) {
    /* Keep the biggest chunk, free the rest. */
    chunk *keep = NULL;
    for (chunk *c = a->head, *n; c; c = n) {
        n = c->next;
        if (!keep || c->size > keep->size) {
            if (keep) free(keep);
            keep = c;
        } else {
            free(c);
        }
    }
    if (keep) {
        keep->used = 0;
        keep->next = NULL;
    }
    a->head = keep;
    a->total_used = 0;
}

size_t sl_arena_used(const sl_arena *a) { return a->total_used; }
