/* error.c - see error.h. */
#include "core/error.h"

#include "core/check.h"

#include <stdio.h>
#include <string.h>

/* The message is formatted into a local buffer and copied: callers wrap an
 * earlier message with `sl_error_set(err, c, "view '%s': %s", name, err->msg)`,
 * and vsnprintf into err->msg while reading err->msg is undefined (in
 * practice it overwrites the argument before it is read). */
int sl_error_setv(sl_error *err, int code, const char *fmt, va_list ap) {
    SL_DASSERT(code <= 0); /* error.h: 0 or a negative SL_E* code */
    if (err) {
        char tmp[SL_ERROR_MAX];
        vsnprintf(tmp, sizeof tmp, fmt, ap);
        memcpy(err->msg, tmp, strlen(tmp) + 1);
        err->code = code;
    }
    return code;
}

int sl_error_set(sl_error *err, int code, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    sl_error_setv(err, code, fmt, ap);
    va_end(ap);
    return code;
}

int sl_error_at(sl_error *err, int code, const char *file, int line, int col, const char *fmt,
                ...) {
    SL_DASSERT(code <= 0);
    if (!err) return code;
    char tmp[SL_ERROR_MAX];
    int n = snprintf(tmp, sizeof tmp, "%s:%d:%d: ", file ? file : "<input>", line, col);
    if (n < 0 || n >= (int)sizeof tmp) n = 0;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(tmp + n, sizeof tmp - (size_t)n, fmt, ap);
    va_end(ap);
    memcpy(err->msg, tmp, strlen(tmp) + 1);
    err->code = code;
    return code;
}
const char *sl_strerror(int code) {
    switch (code) {
    case SL_OK:
        return "ok";
    case SL_EINVAL:
        return "invalid argument";
    case SL_ENOMEM:
        return "out of memory";
    case SL_EIO:
        return "i/o error";
    case SL_EPARSE:
        return "parse error";
    case SL_ETYPE:
        return "type error";
    case SL_ENOTFOUND:
        return "not found";
    case SL_ECORRUPT:
        return "corrupt data";
    case SL_EFULL:
        return "full";
    case SL_EAGAIN:
        return "try again";
    case SL_EFAIL:
        return "expectation failed";
    default:
        return "unknown error";
    }
}
