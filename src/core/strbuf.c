/*
 * strbuf.c - a growable string; see strbuf.h.
 */
#include "core/strbuf.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/mem.h"

void sl_strbuf_add(sl_strbuf *b, const char *s, size_t n) {
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 256;
        while (cap < b->len + n + 1)
            cap *= 2;
        b->p = sl_xrealloc(b->p, cap);
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = 0;
}

void sl_strbuf_puts(sl_strbuf *b, const char *s) { sl_strbuf_add(b, s, strlen(s)); }

void sl_strbuf_printf(sl_strbuf *b, const char *fmt, ...) {
    char tmp[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0) return;
    if ((size_t)n < sizeof tmp) {
        sl_strbuf_add(b, tmp, (size_t)n);
        return;
    }
    char *big = sl_xmalloc((size_t)n + 1);
    va_start(ap, fmt);
    vsnprintf(big, (size_t)n + 1, fmt, ap);
    va_end(ap);
    sl_strbuf_add(b, big, (size_t)n);
    free(big);
}

void sl_strbuf_json(sl_strbuf *b, const char *s, size_t max) {
    size_t n = strlen(s);
    bool cut = max > 0 && n > max;
    if (cut) {
        n = max > 3 ? max - 3 : 0;
        while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
            n--; /* not inside a UTF-8 sequence */
    }
    sl_strbuf_add(b, "\"", 1);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        char esc[8];
        if (c == '"' || c == '\\') {
            esc[0] = '\\';
            esc[1] = (char)c;
            sl_strbuf_add(b, esc, 2);
        } else if (c == '\n') {
            sl_strbuf_add(b, "\\n", 2);
        } else if (c == '\r') {
            sl_strbuf_add(b, "\\r", 2);
        } else if (c == '\t') {
            sl_strbuf_add(b, "\\t", 2);
        } else if (c < 0x20) {
            snprintf(esc, sizeof esc, "\\u%04x", c);
            sl_strbuf_add(b, esc, 6);
        } else {
            sl_strbuf_add(b, (const char *)&s[i], 1);
        }
    }
    if (cut) sl_strbuf_add(b, "...", 3);
    sl_strbuf_add(b, "\"", 1);
}

void sl_strbuf_free(sl_strbuf *b) {
    free(b->p);
    memset(b, 0, sizeof *b);
}
