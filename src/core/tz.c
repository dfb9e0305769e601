/*
 * tz.c - TZif (RFC 8536) reader and UTC offset arithmetic; see tz.h.
 *
 * A loaded zone keeps the 64-bit section's transition times (seconds,
 * ascending) with the offset in effect from each, the offset before the
 * first one (time type 0, as RFC 8536 says), and the footer's POSIX TZ rule
 * parsed into a standard offset, an optional DST offset and the two dates on
 * which DST starts and ends. The footer governs every instant after the
 * last transition; it is evaluated for the year of the instant (both changes
 * of that year computed from the rule), so it costs the same in 2024 and in
 * 2400.
 *
 * local -> UTC: a local time L has a UTC instant L - o for every offset o
 * with offset(L - o) = o. The offsets that can qualify are the ones in
 * effect within two days of L (no zone changes offset by more than a day,
 * or twice within a few hours), so a handful of offset() calls decide it:
 * the smallest qualifying instant is the answer; when none qualifies L lies
 * in a gap and the answer is the change itself, found by bisection over
 * seconds (offset changes are at whole seconds).
 *
 * Zones are shared: a process-wide list keyed by name with reference counts,
 * under a mutex (pipelines compile on the main thread, but tests and the
 * refresh command may load in parallel); a zone is immutable once loaded.
 */
#include "core/tz.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/mem.h"
#include "core/timeutil.h"

#define DAY_S 86400LL
#define TZ_MAX_FILE (1 << 20) /* real zone files are a few KB */
#define TZ_MAX_NAME 255

/* A date of the POSIX rule: Jn (1..365, February 29 never counted), n
 * (0..365, counted), or Mm.w.d (weekday d of week w of month m, w = 5 the
 * last); `secs` is the local time of day of the change (may be negative or
 * beyond 24 h in TZif v3). */
typedef struct {
    char kind; /* 'J', 'N' or 'M' */
    int m, w, d, n;
    int64_t secs;
} rule_date;

typedef struct {
    bool has;        /* a footer rule exists */
    bool dst;        /* it has a DST part */
    int64_t std_off; /* seconds, local = utc + off */
    int64_t dst_off;
    rule_date start, end; /* DST starts (in standard time), ends (in DST) */
} posix_rule;

struct sl_tz {
    char name[TZ_MAX_NAME + 1];
    int refs;
    struct sl_tz *next; /* the cache list */
    int64_t fixed;      /* UTC: no transitions and no rule, this offset always */
    bool is_fixed;
    size_t n;      /* transitions */
    int64_t *at;   /* transition instants, seconds, ascending */
    int64_t *off;  /* offset from at[i] on */
    int64_t off0;  /* offset before at[0] */
    int64_t *offs; /* every offset of the file's time types */
    size_t noffs;
    posix_rule rule;
};

static pthread_mutex_t cache_mu = PTHREAD_MUTEX_INITIALIZER;
static sl_tz *cache;

/* ---- the POSIX TZ footer ---------------------------------------------------- */

static bool is_digit(char c) { return c >= '0' && c <= '9'; }

/* std / dst name: letters, or anything quoted in <...>. */
static const char *parse_name(const char *p) {
    if (*p == '<') {
        while (*p && *p != '>')
            p++;
        return *p == '>' ? p + 1 : NULL;
    }
    const char *s = p;
    while ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z'))
        p++;
    return p - s >= 3 ? p : NULL;
}

/* [+-]hh[:mm[:ss]] in seconds, hours up to 167 (TZif v3). */
static const char *parse_hms(const char *p, int64_t *out) {
    int sign = 1;
    if (*p == '+' || *p == '-') sign = *p++ == '-' ? -1 : 1;
    if (!is_digit(*p)) return NULL;
    int64_t h = 0, m = 0, s = 0;
    while (is_digit(*p))
        h = h * 10 + (*p++ - '0');
    if (*p == ':') {
        p++;
        if (!is_digit(*p)) return NULL;
        while (is_digit(*p))
            m = m * 10 + (*p++ - '0');
        if (*p == ':') {
            p++;
            if (!is_digit(*p)) return NULL;
            while (is_digit(*p))
                s = s * 10 + (*p++ - '0');
        }
    }
    if (h > 167 || m > 59 || s > 59) return NULL;
    *out = sign * (h * 3600 + m * 60 + s);
    return p;
}

static const char *parse_int(const char *p, int *out, int lo, int hi) {
    if (!is_digit(*p)) return NULL;
    int v = 0;
    while (is_digit(*p) && v <= hi)
        v = v * 10 + (*p++ - '0');
    if (v < lo || v > hi) return NULL;
    *out = v;
    return p;
}

static const char *parse_date(const char *p, rule_date *d) {
    if (*p == 'J') {
        d->kind = 'J';
        p = parse_int(p + 1, &d->n, 1, 365);
    } else if (*p == 'M') {
        d->kind = 'M';
        if (!(p = parse_int(p + 1, &d->m, 1, 12)) || *p++ != '.') return NULL;
        if (!(p = parse_int(p, &d->w, 1, 5)) || *p++ != '.') return NULL;
        p = parse_int(p, &d->d, 0, 6);
    } else {
        d->kind = 'N';
        p = parse_int(p, &d->n, 0, 365);
    }
    if (!p) return NULL;
    d->secs = 2 * 3600; /* POSIX default: 02:00 */
    if (*p == '/') p = parse_hms(p + 1, &d->secs);
    return p;
}

/* "CET-1CEST,M3.5.0,M10.5.0/3", "IST-5:30", "<+1030>-10:30<+11>-11,M10.1.0,M4.1.0". An empty
 * footer means no rule. Returns 0 or -1. */
static int parse_rule(const char *s, posix_rule *r) {
    memset(r, 0, sizeof *r);
    if (!*s) return 0;
    const char *p = parse_name(s);
    int64_t v;
    if (!p || !(p = parse_hms(p, &v))) return -1;
    r->has = true;
    r->std_off = -v; /* POSIX offsets are west of Greenwich */
    if (!*p) return 0;
    if (!(p = parse_name(p))) return -1;
    r->dst = true;
    r->dst_off = r->std_off + 3600;
    if (*p && *p != ',') {
        if (!(p = parse_hms(p, &v))) return -1;
        r->dst_off = -v;
    }
    if (!*p) { /* POSIX leaves the dates to the implementation: the US rules, as glibc */
        r->start = (rule_date){'M', 3, 2, 0, 0, 7200};
        r->end = (rule_date){'M', 11, 1, 0, 0, 7200};
        return 0;
    }
    if (*p++ != ',' || !(p = parse_date(p, &r->start)) || *p++ != ',' ||
        !(p = parse_date(p, &r->end)))
        return -1;
    return *p ? -1 : 0;
}

static bool is_leap(int64_t y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

/* Days since the epoch of rule date d in year y. */
static int64_t rule_day(const rule_date *d, int64_t y) {
    int64_t jan1 = sl_days_from_civil(y, 1, 1);
    switch (d->kind) {
    case 'J':
        return jan1 + d->n - 1 + (is_leap(y) && d->n >= 60 ? 1 : 0);
    case 'N':
        return jan1 + d->n;
    default: {
        int64_t first = sl_days_from_civil(y, (unsigned)d->m, 1);
        int64_t next = d->m == 12 ? sl_days_from_civil(y + 1, 1, 1)
                                  : sl_days_from_civil(y, (unsigned)d->m + 1, 1);
        int64_t wd = ((first + 4) % 7 + 7) % 7; /* 1970-01-01 was a Thursday (4) */
        int64_t day = first + (d->d - wd + 7) % 7 + 7 * (d->w - 1);
        while (day >= next)
            day -= 7;
        return day;
    }
    }
}

static int64_t rule_offset(const posix_rule *r, int64_t s) {
    if (!r->dst) return r->std_off;
    int64_t y;
    unsigned m, d;
    sl_civil_from_days(sl_floor_div(s + r->std_off, DAY_S), &y, &m, &d);
    int64_t start = rule_day(&r->start, y) * DAY_S + r->start.secs - r->std_off;
    int64_t end = rule_day(&r->end, y) * DAY_S + r->end.secs - r->dst_off;
    bool in_dst = start < end ? (s >= start && s < end) : !(s >= end && s < start);
    return in_dst ? r->dst_off : r->std_off;
}

/* ---- offsets ---------------------------------------------------------------- */

static int64_t offset_s(const sl_tz *tz, int64_t s) {
    if (tz->is_fixed) return tz->fixed;
    if (!tz->n) return tz->rule.has ? rule_offset(&tz->rule, s) : tz->off0;
    if (s < tz->at[0]) return tz->off0;
    if (s > tz->at[tz->n - 1] && tz->rule.has) return rule_offset(&tz->rule, s);
    size_t lo = 0, hi = tz->n; /* the last i with at[i] <= s */
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if (tz->at[mid] <= s)
            lo = mid;
        else
            hi = mid;
    }
    return tz->off[lo];
}

int64_t sl_tz_offset_us(const sl_tz *tz, int64_t utc_us) {
    if (tz->is_fixed) return tz->fixed * SL_US_PER_SEC;
    return offset_s(tz, sl_floor_div(utc_us, SL_US_PER_SEC)) * SL_US_PER_SEC;
}

int64_t sl_tz_local_to_utc(const sl_tz *tz, int64_t local_us) {
    if (tz->is_fixed) return local_us - tz->fixed * SL_US_PER_SEC;
    int64_t ls = sl_floor_div(local_us, SL_US_PER_SEC), frac = local_us - ls * SL_US_PER_SEC;
    int64_t c[4];
    c[0] = offset_s(tz, ls - 2 * DAY_S);
    c[1] = offset_s(tz, ls + 2 * DAY_S);
    c[2] = offset_s(tz, ls - c[0]);
    c[3] = offset_s(tz, ls - c[1]);
    int64_t best = INT64_MAX, lo_off = c[0], hi_off = c[0];
    for (int i = 0; i < 4; i++) {
        if (c[i] < lo_off) lo_off = c[i];
        if (c[i] > hi_off) hi_off = c[i];
        int64_t u = ls - c[i];
        if (offset_s(tz, u) == c[i] && u < best) best = u;
    }
    if (best != INT64_MAX) return best * SL_US_PER_SEC + frac;
    /* a gap: the first second u whose local time is past L; u + offset(u) > L holds from the
     * change on and not before it, within [L - hi_off, L - lo_off] */
    int64_t lo = ls - hi_off, hi = ls - lo_off + 1;
    while (lo < hi) {
        int64_t mid = lo + (hi - lo) / 2;
        if (mid + offset_s(tz, mid) > ls)
            hi = mid;
        else
            lo = mid + 1;
    }
    return lo * SL_US_PER_SEC;
}

bool sl_tz_steps_align(const sl_tz *tz, int64_t step_us, int64_t from_us) {
    if (step_us <= 0 || step_us % SL_US_PER_SEC) return false;
    int64_t step = step_us / SL_US_PER_SEC, from = sl_floor_div(from_us, SL_US_PER_SEC);
    if (tz->is_fixed) return tz->fixed % step == 0;
    if (offset_s(tz, from) % step) return false;
    for (size_t i = 0; i < tz->n; i++)
        if (tz->at[i] > from && (tz->at[i] % step || tz->off[i] % step)) return false;
    const posix_rule *r = &tz->rule;
    if (r->has && (r->std_off % step ||
                   (r->dst && (r->dst_off % step || r->start.secs % step || r->end.secs % step))))
        return false;
    return true;
}

/* ---- loading ------------------------------------------------------------------ */

static uint32_t be32(const unsigned char *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static int64_t be64(const unsigned char *p) {
    return (int64_t)((uint64_t)be32(p) << 32 | be32(p + 4));
}

/* Parses a TZif file held in buf into tz. Returns 0 or -1 with why set. */
static int parse_tzif(sl_tz *tz, const unsigned char *buf, size_t len, const char **why) {
    *why = "not a TZif file";
    if (len < 44 || memcmp(buf, "TZif", 4)) return -1;
    if (buf[4] < '2') {
        *why = "a TZif version 1 file (version 2 or later needed for 64-bit times)";
        return -1;
    }
    /* skip the version 1 block */
    uint32_t isut = be32(buf + 20), isstd = be32(buf + 24), leap = be32(buf + 28),
             tcnt = be32(buf + 32), typ = be32(buf + 36), chr = be32(buf + 40);
    uint64_t v1 = (uint64_t)tcnt * 5 + (uint64_t)typ * 6 + chr + (uint64_t)leap * 8 + isstd + isut;
    if (44 + v1 + 44 > len) return -1;
    const unsigned char *h = buf + 44 + v1;
    if (memcmp(h, "TZif", 4)) return -1;
    isut = be32(h + 20), isstd = be32(h + 24), leap = be32(h + 28), tcnt = be32(h + 32),
    typ = be32(h + 36), chr = be32(h + 40);
    uint64_t v2 = (uint64_t)tcnt * 9 + (uint64_t)typ * 6 + chr + (uint64_t)leap * 12 + isstd + isut;
    const unsigned char *d = h + 44, *end = buf + len;
    if (v2 > (uint64_t)(end - d) || typ == 0 || typ > 256) return -1;
    if (leap) {
        *why = "a zone with leap seconds (use the zone without the right/ prefix)";
        return -1;
    }
    const unsigned char *times = d, *idx = d + (size_t)tcnt * 8, *types = idx + tcnt;
    tz->noffs = typ;
    tz->offs = sl_xmalloc(typ * sizeof *tz->offs);
    for (uint32_t i = 0; i < typ; i++)
        tz->offs[i] = (int32_t)be32(types + (size_t)i * 6);
    tz->n = tcnt;
    tz->at = sl_xmalloc((tcnt ? tcnt : 1) * sizeof *tz->at);
    tz->off = sl_xmalloc((tcnt ? tcnt : 1) * sizeof *tz->off);
    for (uint32_t i = 0; i < tcnt; i++) {
        tz->at[i] = be64(times + (size_t)i * 8);
        if (idx[i] >= typ || (i && tz->at[i] <= tz->at[i - 1])) return -1;
        tz->off[i] = tz->offs[idx[i]];
    }
    tz->off0 = tz->offs[0];
    /* the footer: "\n" POSIX-TZ "\n" */
    const unsigned char *f = d + v2;
    char rule[256] = "";
    if (f < end) {
        if (*f != '\n') return -1;
        const unsigned char *nl = memchr(f + 1, '\n', (size_t)(end - f - 1));
        if (!nl || (size_t)(nl - f - 1) >= sizeof rule) return -1;
        memcpy(rule, f + 1, (size_t)(nl - f - 1));
        rule[nl - f - 1] = 0;
    }
    if (parse_rule(rule, &tz->rule)) {
        *why = "a TZif footer this reader does not understand";
        return -1;
    }
    return 0;
}

static void tz_destroy(sl_tz *tz) {
    free(tz->at);
    free(tz->off);
    free(tz->offs);
    free(tz);
}

static bool name_ok(const char *name) {
    size_t n = strlen(name);
    if (!n || n > TZ_MAX_NAME || name[0] == '/' || strstr(name, "..")) return false;
    for (const char *p = name; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || is_digit(*p) || *p == '/' ||
              *p == '_' || *p == '-' || *p == '+' || *p == '.'))
            return false;
    return true;
}

static sl_tz *tz_read(const char *name, sl_error *err) {
    sl_tz *tz = sl_xcalloc(1, sizeof *tz);
    snprintf(tz->name, sizeof tz->name, "%s", name);
    if (!strcmp(name, "UTC") || !strcmp(name, "Etc/UTC")) {
        tz->is_fixed = true;
        return tz;
    }
    const char *dir = getenv("TZDIR");
    if (!dir || !*dir) dir = "/usr/share/zoneinfo";
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "rb");
    if (!f) {
        sl_error_set(err, SL_ENOTFOUND,
                     "unknown time zone '%s' (%s: %s; the tzdata package has them)", name, path,
                     strerror(errno));
        tz_destroy(tz);
        return NULL;
    }
    unsigned char *buf = sl_xmalloc(TZ_MAX_FILE);
    size_t len = fread(buf, 1, TZ_MAX_FILE, f);
    fclose(f);
    const char *why = "too large";
    if (len == TZ_MAX_FILE || parse_tzif(tz, buf, len, &why)) {
        sl_error_set(err, SL_EINVAL, "time zone '%s': %s is %s", name, path, why);
        free(buf);
        tz_destroy(tz);
        return NULL;
    }
    free(buf);
    /* a zone that never changes (Etc/GMT-3 and the like) takes the fixed path */
    if (!tz->n && (!tz->rule.has || !tz->rule.dst)) {
        tz->is_fixed = true;
        tz->fixed = tz->rule.has ? tz->rule.std_off : tz->off0;
    }
    return tz;
}

sl_tz *sl_tz_load(const char *name, sl_error *err) {
    if (!name || !name_ok(name)) {
        sl_error_set(err, SL_EINVAL,
                     "bad time zone name '%s' (a tzdata name such as Europe/Berlin or UTC)",
                     name ? name : "");
        return NULL;
    }
    pthread_mutex_lock(&cache_mu);
    for (sl_tz *t = cache; t; t = t->next)
        if (!strcmp(t->name, name)) {
            t->refs++;
            pthread_mutex_unlock(&cache_mu);
            return t;
        }
    sl_tz *tz = tz_read(name, err);
    if (tz) {
        tz->refs = 1;
        tz->next = cache;
        cache = tz;
    }
    pthread_mutex_unlock(&cache_mu);
    return tz;
}

const char *sl_tz_name(const sl_tz *tz) { return tz->name; }

void sl_tz_free(sl_tz *tz) {
    if (!tz) return;
    pthread_mutex_lock(&cache_mu);
    if (--tz->refs == 0) {
        for (sl_tz **p = &cache; *p; p = &(*p)->next)
            if (*p == tz) {
                *p = tz->next;
                break;
            }
        tz_destroy(tz);
    }
    pthread_mutex_unlock(&cache_mu);
}
