/*
 * log.h - JSON log lines on stderr with levels.
 *
 * SLUICE_LOG=debug|info|warn|error picks the threshold (default info).
 * Each line is one JSON object: {"ts":"...","level":"info","msg":"...",...}.
 * Extra fields are given as a printf-style fragment of JSON members, e.g.
 * sl_log_info("committed", "\"rows\":%d", n). Never pass secrets.
 */
#ifndef SL_CORE_LOG_H
#define SL_CORE_LOG_H

typedef enum { SL_LOG_DEBUG = 0, SL_LOG_INFO, SL_LOG_WARN, SL_LOG_ERROR, SL_LOG_OFF } sl_log_level;

void sl_log_init(void); /* reads SLUICE_LOG */
void sl_log_set_level(sl_log_level lvl);
int sl_log_enabled(sl_log_level lvl);
void sl_log(sl_log_level lvl, const char *msg, const char *fields_fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define sl_log_debug(msg, ...) sl_log(SL_LOG_DEBUG, msg, __VA_ARGS__)
#define sl_log_info(msg, ...) sl_log(SL_LOG_INFO, msg, __VA_ARGS__)
#define sl_log_warn(msg, ...) sl_log(SL_LOG_WARN, msg, __VA_ARGS__)
#define sl_log_error(msg, ...) sl_log(SL_LOG_ERROR, msg, __VA_ARGS__)

/* Appends s as a JSON string body (no quotes) to out (size cap), returns bytes written. */
int sl_json_escape(char *out, int cap, const char *s, int len);

#endif
