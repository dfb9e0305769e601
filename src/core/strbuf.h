/*
 * strbuf.h - a growable NUL-terminated string, for text built off the hot
 * path (notification payloads, alert messages, JSON answers). Allocation
 * failure aborts (mem.h), as everywhere outside the server's answers, which
 * keep their own buffer that turns running out of memory into a 503.
 */
#ifndef SL_CORE_STRBUF_H
#define SL_CORE_STRBUF_H

#include <stddef.h>

typedef struct sl_strbuf {
    char *p; /* NULL until something is added; then always NUL-terminated */
    size_t len, cap;
} sl_strbuf;

void sl_strbuf_add(sl_strbuf *b, const char *s, size_t n);
void sl_strbuf_puts(sl_strbuf *b, const char *s);
void sl_strbuf_printf(sl_strbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* s as a JSON string with its quotes; at most max bytes of s (cut at a UTF-8
 * boundary, "..." appended) when max > 0. */
void sl_strbuf_json(sl_strbuf *b, const char *s, size_t max);
void sl_strbuf_free(sl_strbuf *b);

#endif
