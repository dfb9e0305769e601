/*
 * timeutil.h - time in Sluice: int64 microseconds since the Unix epoch, UTC.
 */
#ifndef SL_CORE_TIMEUTIL_H
#define SL_CORE_TIMEUTIL_H

#include <stddef.h>
#include <stdint.h>

#define SL_US_PER_SEC 1000000LL
#define SL_US_PER_MS 1000LL

int64_t sl_now_us(void);       /* wall clock */
int64_t sl_monotonic_us(void); /* for measuring durations */

/* "2026-01-01T00:05:00Z" (seconds precision). Returns length. */
int sl_time_format_iso(int64_t us, char *out, size_t cap);
/* "2026-01-01T00:05:00.123Z". */
int sl_time_format_iso_ms(int64_t us, char *out, size_t cap);
/* "2026-01-01T00:05:00.123456Z" (microseconds; what lake segments store). */
int sl_time_format_iso_us(int64_t us, char *out, size_t cap);
/* Parses RFC 3339 / ISO 8601: date, 'T' or ' ', time, optional fraction,
 * 'Z' or +hh:mm offset (none = UTC); a date alone is midnight UTC.
 * Returns 0 or SL_EPARSE. */
int sl_time_parse_iso(const char *s, size_t len, int64_t *us);
/* Durations: "250ms", "2s", "2m", "1h", "1d", "1h30m", bare number = seconds. */
int sl_duration_parse(const char *s, int64_t *us);
/* 90000000 µs -> "1m30s"; 250000 -> "250ms"; 0 -> "0s" (sl_duration_parse reads it back). */
void sl_duration_format(int64_t us, char *out, size_t cap);
/* Writes v in decimal (no snprintf); out needs 21 bytes. Returns length. */
int sl_fmt_i64(char *out, int64_t v);
/* Days since epoch for a civil date, and back (proleptic Gregorian). */
int64_t sl_days_from_civil(int64_t y, unsigned m, unsigned d);
void sl_civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d);
/* Floor division that is right for negative times. */
static inline int64_t sl_floor_div(int64_t a, int64_t b) {
    int64_t q = a / b;
    return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}

#endif
