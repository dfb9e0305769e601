/*
 * error.h - error codes and the user-facing error message.
 *
 * Functions return 0 or a negative SL_E* code. The message a user needs
 * ("file:line:col: unknown key 'foo'") is written once into an sl_error by
 * the code that knows the context; callers above only propagate the code.
 */
#ifndef SL_CORE_ERROR_H
#define SL_CORE_ERROR_H

#include <stdarg.h>

enum {
    SL_OK = 0,
    SL_EINVAL = -1, /* bad argument, bad spec, bad expression */
    SL_ENOMEM = -2,
    SL_EIO = -3,    /* file system or database failure */
    SL_EPARSE = -4, /* malformed input record */
    SL_ETYPE = -5,  /* type error in an expression or record */
    SL_ENOTFOUND = -6,
    SL_ECORRUPT = -7, /* checkpoint or segment fails its integrity check */
    SL_EFULL = -8,    /* disk full or a bound was reached */
    SL_EAGAIN = -9,   /* nothing available now, try later */
    SL_EFAIL = -10    /* a `fail` expectation was violated */
};

#define SL_ERROR_MAX 512

typedef struct sl_error {
    int code;
    char msg[SL_ERROR_MAX];
} sl_error;

/* Sets err (if non-NULL) and returns code, so callers can `return sl_error_set(...)`. */
int sl_error_set(sl_error *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
int sl_error_setv(sl_error *err, int code, const char *fmt, va_list ap);
/* Same, with a "file:line:col: " prefix (line and col are 1-based). */
int sl_error_at(sl_error *err, int code, const char *file, int line, int col, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));
const char *sl_strerror(int code);

#endif
