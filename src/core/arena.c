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

/* Keeps one chunk: if the batch filled several, they are replaced by one
 * chunk as big as all of them, so the next batch of the same size allocates
 * nothing, and a steady pipeline reaches one malloc'd chunk per arena (the
 * old rule kept only the biggest chunk, and a batch that needed two chunks
 * got a fresh one, with fresh pages, every time). */
void sl_arena_reset(sl_arena *a) {
    size_t total = 0;
    int nchunks = 0;
    for (chunk *c = a->head; c; c = c->next)
        total += c->size, nchunks++;
    if (nchunks > 1) {
        for (chunk *c = a->head, *n; c; c = n) {
            n = c->next;
            free(c);
        }
        a->head = chunk_new(total);
    }
    if (a->head) a->head->used = 0;
    a->total_used = 0;
}

size_t sl_arena_used(const sl_arena *a) { return a->total_used; }
