/* timeutil.c - see timeutil.h. Civil-date algorithms after H. Hinnant's
 * public-domain derivation (days_from_civil / civil_from_days). */
#include "core/timeutil.h"

#include <assert.h>
#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "core/error.h"

int64_t sl_now_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * SL_US_PER_SEC + ts.tv_nsec / 1000;
}

int64_t sl_monotonic_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * SL_US_PER_SEC + ts.tv_nsec / 1000;
}

int64_t sl_days_from_civil(int64_t y, unsigned m, unsigned d) {
    assert(m >= 1 && m <= 12 && d >= 1 && d <= 31); /* callers validate dates first */
    y -= m <= 2;
    const int64_t era = (y >= 0 ? y : y - 399) / 400;
    const unsigned yoe = (unsigned)(y - era * 400);
    const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

void sl_civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d) {
    z += 719468;
    const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    const unsigned doe = (unsigned)(z - era * 146097);
    const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    const unsigned mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = (int64_t)yoe + era * 400 + (*m <= 2);
}

static void split(int64_t us, int64_t *y, unsigned *mo, unsigned *d, int *h, int *mi, int *s,
                  int64_t *frac) {
    int64_t secs = sl_floor_div(us, SL_US_PER_SEC);
    /* the remainder, not us - secs*1e6: that product overflows near INT64_MIN */
    int64_t rem_us = us % SL_US_PER_SEC;
    *frac = rem_us < 0 ? rem_us + SL_US_PER_SEC : rem_us;
    int64_t days = sl_floor_div(secs, 86400);
    int64_t rem = secs - days * 86400;
    assert(rem >= 0 && rem < 86400 && *frac >= 0 && *frac < SL_US_PER_SEC); /* floor division */
    sl_civil_from_days(days, y, mo, d);
    *h = (int)(rem / 3600);
    *mi = (int)(rem / 60 % 60);
    *s = (int)(rem % 60);
}

/* Hand-rolled formatting: these run once per row in sinks, where snprintf
 * showed up as the top cost in profiles. */
static inline char *put2(char *p, unsigned v) {
    p[0] = (char)('0' + v / 10);
    p[1] = (char)('0' + v % 10);
    return p + 2;
}

static int format_iso(int64_t us, char *out, size_t cap, int frac_digits) {
    int64_t y, frac;
    unsigned mo, d;
    int h, mi, s;
    split(us, &y, &mo, &d, &h, &mi, &s, &frac);
    if (y < 0 || y > 9999 || cap < 32) {
        if (frac_digits == 0)
            return snprintf(out, cap, "%04lld-%02u-%02uT%02d:%02d:%02dZ", (long long)y, mo, d, h,
                            mi, s);
        return snprintf(out, cap, "%04lld-%02u-%02uT%02d:%02d:%02d.%0*lldZ", (long long)y, mo, d, h,
                        mi, s, frac_digits, (long long)(frac_digits == 3 ? frac / 1000 : frac));
    }
    char *p = out;
    p = put2(p, (unsigned)(y / 100));
    p = put2(p, (unsigned)(y % 100));
    *p++ = '-';
    p = put2(p, mo);
    *p++ = '-';
    p = put2(p, d);
    *p++ = 'T';
    p = put2(p, (unsigned)h);
    *p++ = ':';
    p = put2(p, (unsigned)mi);
    *p++ = ':';
    p = put2(p, (unsigned)s);
    if (frac_digits) {
        *p++ = '.';
        int64_t f = frac_digits == 3 ? frac / 1000 : frac;
        for (int k = frac_digits - 1; k >= 0; k--) {
            p[k] = (char)('0' + f % 10);
            f /= 10;
        }
        p += frac_digits;
    }
    *p++ = 'Z';
    *p = 0;
    assert((size_t)(p - out) < cap);
    return (int)(p - out);
}

int sl_time_format_iso(int64_t us, char *out, size_t cap) { return format_iso(us, out, cap, 0); }
int sl_time_format_iso_ms(int64_t us, char *out, size_t cap) { return format_iso(us, out, cap, 3); }
int sl_time_format_iso_us(int64_t us, char *out, size_t cap) { return format_iso(us, out, cap, 6); }

int sl_fmt_i64(char *out, int64_t v) {
    char tmp[24];
    int n = 0;
    uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    do {
        tmp[n++] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    int o = 0;
    if (v < 0) out[o++] = '-';
    while (n)
        out[o++] = tmp[--n];
    out[o] = 0;
    return o;
}

static int digits(const char *s, size_t len, size_t *i, int n, int *out) {
    int v = 0;
    for (int k = 0; k < n; k++) {
        if (*i >= len || !isdigit((unsigned char)s[*i])) return -1;
        v = v * 10 + (s[(*i)++] - '0');
    }
    *out = v;
    return 0;
}

int sl_time_parse_iso(const char *s, size_t len, int64_t *us) {
    size_t i = 0;
    int y, mo, d, h = 0, mi = 0, sec = 0;
    if (digits(s, len, &i, 4, &y) || i >= len || s[i++] != '-' || digits(s, len, &i, 2, &mo) ||
        i >= len || s[i++] != '-' || digits(s, len, &i, 2, &d))
        return SL_EPARSE;
    if (mo < 1 || mo > 12 || d < 1 || d > 31) return SL_EPARSE;
    int64_t frac = 0, offset = 0;
    if (i < len) {
        if (s[i] != 'T' && s[i] != 't' && s[i] != ' ') return SL_EPARSE;
        i++;
        if (digits(s, len, &i, 2, &h) || i >= len || s[i++] != ':' || digits(s, len, &i, 2, &mi))
            return SL_EPARSE;
        if (i < len && s[i] == ':') {
            i++;
            if (digits(s, len, &i, 2, &sec)) return SL_EPARSE;
        }
        if (h > 23 || mi > 59 || sec > 60) return SL_EPARSE;
        if (i < len && (s[i] == '.' || s[i] == ',')) {
            i++;
            int64_t scale = 100000;
            size_t start = i;
            while (i < len && isdigit((unsigned char)s[i])) {
                if (scale > 0) frac += (s[i] - '0') * scale;
                scale /= 10;
                i++;
            }
            if (i == start) return SL_EPARSE;
        }
        if (i < len) {
            if (s[i] == 'Z' || s[i] == 'z') {
                i++;
            } else if (s[i] == '+' || s[i] == '-') {
                int sign = s[i++] == '-' ? -1 : 1, oh, om = 0;
                if (digits(s, len, &i, 2, &oh)) return SL_EPARSE;
                if (i < len && s[i] == ':') i++;
                if (i < len && digits(s, len, &i, 2, &om)) return SL_EPARSE;
                if (oh > 23 || om > 59) return SL_EPARSE;
                offset = sign * ((int64_t)oh * 3600 + om * 60);
            } else {
                return SL_EPARSE;
            }
        }
        if (i != len) return SL_EPARSE;
    }
    int64_t days = sl_days_from_civil(y, (unsigned)mo, (unsigned)d);
    int64_t secs = days * 86400 + h * 3600 + mi * 60 + sec - offset;
    *us = secs * SL_US_PER_SEC + frac;
    return 0;
}

int sl_duration_parse(const char *s, int64_t *us) {
    if (!s || !*s) return SL_EPARSE;
    int64_t total = 0;
    const char *p = s;
    while (*p) {
        if (!isdigit((unsigned char)*p)) return SL_EPARSE;
        int64_t v = 0;
        while (isdigit((unsigned char)*p)) {
            if (v > 1000000000000LL) return SL_EPARSE;
            v = v * 10 + (*p++ - '0');
        }
        int64_t unit;
        if (!strncmp(p, "ms", 2))
            unit = SL_US_PER_MS, p += 2;
        else if (!strncmp(p, "us", 2))
            unit = 1, p += 2;
        else if (*p == 's')
            unit = SL_US_PER_SEC, p++;
        else if (*p == 'm')
            unit = 60 * SL_US_PER_SEC, p++;
        else if (*p == 'h')
            unit = 3600 * SL_US_PER_SEC, p++;
        else if (*p == 'd')
            unit = 86400 * SL_US_PER_SEC, p++;
        else if (*p == 0 && p != s)
            unit = SL_US_PER_SEC;
        else
            return SL_EPARSE;
        /* v <= 1e12 and unit <= 8.64e10 can still overflow int64: check */
        if (v > INT64_MAX / unit || total > INT64_MAX - v * unit) return SL_EPARSE;
        total += v * unit;
    }
    *us = total;
    return 0;
}

void sl_duration_format(int64_t us, char *out, size_t cap) {
    static const struct {
        const char *unit;
        int64_t us;
    } units[] = {{"d", 86400000000LL}, {"h", 3600000000LL}, {"m", 60000000LL},
                 {"s", 1000000LL},     {"ms", 1000LL},      {"us", 1}};
    size_t len = 0;
    out[0] = 0;
    uint64_t u = us < 0 ? (uint64_t)0 - (uint64_t)us : (uint64_t)us;
    if (us < 0) len += (size_t)snprintf(out, cap, "-");
    if (u == 0) {
        snprintf(out + len, cap - len, "0s");
        return;
    }
    for (size_t i = 0; i < sizeof units / sizeof units[0] && len < cap; i++) {
        if (u < (uint64_t)units[i].us) continue;
        len += (size_t)snprintf(out + len, cap - len, "%llu%s",
                                (unsigned long long)(u / (uint64_t)units[i].us), units[i].unit);
        u %= (uint64_t)units[i].us;
    }
}
