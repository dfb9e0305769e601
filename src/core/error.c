/* error.c - see error.h. */
#include "core/error.h"

#include <stdio.h>

int sl_error_setv(sl_error *err, int code, const char *fmt, va_list ap) {
    if (err) {
        err->code = code;
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
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

int sl_error_at(sl_error *err, int code, const char *file, int line, int col,
                const char *fmt, ...) {
    if (!err) return code;
    int n = snprintf(err->msg, sizeof err->msg, "%s:%d:%d: ", file ? file : "<input>", line, col);
    if (n < 0 || n >= (int)sizeof err->msg) n = 0;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->msg + n, sizeof err->msg - (size_t)n, fmt, ap);
    va_end(ap);
    err->code = code;
    return code;
}

const char *sl_strerror(int code) {
    switch (code) {
    case SL_OK: return "ok";
    case SL_EINVAL: return "invalid argument";
    case SL_ENOMEM: return "out of memory";
    case SL_EIO: return "i/o error";
    case SL_EPARSE: return "parse error";
    case SL_ETYPE: return "type error";
    case SL_ENOTFOUND: return "not found";
    case SL_ECORRUPT: return "corrupt data";
    case SL_EFULL: return "full";
    case SL_EAGAIN: return "try again";
    case SL_EFAIL: return "expectation failed";
    default: return "unknown error";
    }
}
