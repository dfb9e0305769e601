/*
 * arena.h - bump allocator for per-batch memory.
 *
 * A batch's strings and scratch space come from one arena that is reset,
 * not freed, when the batch is reused: no malloc per record on the hot path.
 * Memory is kept in chunks; sl_arena_reset leaves one chunk as big as all
 * the batch used, so a steady-state pipeline allocates nothing.
 */
#ifndef SL_CORE_ARENA_H
#define SL_CORE_ARENA_H

#include <stddef.h>

typedef struct sl_arena sl_arena;

sl_arena *sl_arena_new(size_t chunk_size);
void sl_arena_free(sl_arena *a);
/* 8-byte aligned; aborts on out-of-memory (the process cannot continue). */
void *sl_arena_alloc(sl_arena *a, size_t n);
/* Copies n bytes and appends a NUL (not counted in n). */
char *sl_arena_strdup(sl_arena *a, const char *s, size_t n);
void sl_arena_reset(sl_arena *a);
size_t sl_arena_used(const sl_arena *a);

#endif
