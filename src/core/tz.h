/*
 * tz.h - time zones from the system's tzdata: /usr/share/zoneinfo/NAME as
 * TZif version 2 or later (RFC 8536), read once per name and shared.
 *
 * A zone is its list of UTC offset changes (the file's 64-bit section) plus
 * the file's footer: a POSIX TZ rule ("CET-1CEST,M3.5.0,M10.5.0/3") for the
 * instants after the last listed change. Debian's tzdata files are "slim":
 * they list changes only up to about 2037 or even stop at the last change of
 * the rule, so the footer carries every current year; it is evaluated for
 * the year in question, never expanded into a table.
 *
 * Times are int64 microseconds since the Unix epoch as everywhere in Sluice
 * (core/timeutil.h); "local" times are the same count read as wall-clock time
 * in the zone, so a local midnight is a multiple of a day.
 */
#ifndef SL_CORE_TZ_H
#define SL_CORE_TZ_H

#include <stdbool.h>
#include <stdint.h>

#include "core/error.h"

typedef struct sl_tz sl_tz;

/* "UTC", "Etc/UTC" (built in, no file needed), "Europe/Berlin", ... Names
 * with ".." or a leading "/" are refused. Zones are cached by name: loading
 * a name again returns the same zone with one more reference; every load is
 * paired with one sl_tz_free. The directory is $TZDIR when set, else
 * /usr/share/zoneinfo. NULL with err set when the name is bad, the file is
 * missing or it is not a TZif v2+ file. Thread-safe. */
sl_tz *sl_tz_load(const char *name, sl_error *err);
/* The name it was loaded by. */
const char *sl_tz_name(const sl_tz *tz);
/* UTC offset at an instant: local = utc + offset. */
int64_t sl_tz_offset_us(const sl_tz *tz, int64_t utc_us);
/* The earliest instant whose local time is local_us (in a repeated hour
 * after clocks go back: its first occurrence). A local time that does not
 * exist (skipped when clocks go forward) moves forward to the first instant
 * after the gap, i.e. the instant of the change. */
int64_t sl_tz_local_to_utc(const sl_tz *tz, int64_t local_us);
/* Whether, from from_us on, every UTC offset of the zone and every instant
 * at which it changes are multiples of step_us: then local day boundaries
 * fall on multiples of step_us whenever a day divides into steps (how a
 * rollup decides that 1h windows nest in the zone's days). */
bool sl_tz_steps_align(const sl_tz *tz, int64_t step_us, int64_t from_us);
/* Drops one reference; the zone is freed with the last. NULL is ignored. */
void sl_tz_free(sl_tz *tz);

#endif
