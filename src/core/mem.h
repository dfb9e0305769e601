/*
 * mem.h - checked allocation: the engine's out-of-memory policy.
 *
 * Allocation failure on the data path is not recoverable in a streaming
 * engine. A batch half-parsed, a window half-updated or a hash table half
 * grown cannot be rolled back to a state that is consistent with the
 * checkpoint, and "skip the record" would silently lose data. The durable
 * state lives in the checkpoint database, so the safe answer is to stop:
 * print one clear line with the size that failed and abort(). A restart
 * resumes from the last committed interval, exactly once.
 *
 * So every allocation whose failure the caller would otherwise have to
 * propagate (or, worse, ignore) goes through sl_x*: they never return NULL.
 * Code may still call malloc directly where failure is a normal, reported
 * outcome (e.g. a user-sized request that is refused with an sl_error).
 *
 * A request of 0 bytes allocates 1 byte, so the result is never NULL.
 * sl_xcalloc and sl_xreallocarray check n * size for overflow.
 */
#ifndef SL_CORE_MEM_H
#define SL_CORE_MEM_H

#include <stddef.h>

void *sl_xmalloc(size_t n) __attribute__((malloc, returns_nonnull));
void *sl_xcalloc(size_t n, size_t size) __attribute__((malloc, returns_nonnull));
/* Like realloc, but on failure aborts instead of returning NULL (and leaking p). */
void *sl_xrealloc(void *p, size_t n) __attribute__((returns_nonnull));
/* sl_xrealloc(p, n * size) with an overflow check. */
void *sl_xreallocarray(void *p, size_t n, size_t size) __attribute__((returns_nonnull));
char *sl_xstrdup(const char *s) __attribute__((malloc, returns_nonnull));
/* Copies n bytes of s and appends a NUL. */
char *sl_xstrndup(const char *s, size_t n) __attribute__((malloc, returns_nonnull));

/* Prints "sluice: out of memory (<what> of <n> bytes)" to stderr and aborts. */
void sl_oom(const char *what, size_t n) __attribute__((noreturn, cold));

#endif
