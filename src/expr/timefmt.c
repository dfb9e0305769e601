/*
 * timefmt.c - to_timestamp(s, format) and format_time(t, format): times in
 * the text forms logs write them in, read and written by strftime-style
 * formats.
 *
 * The format must be a constant. It is translated once, when the expression
 * is compiled, into a small program: one op per directive or literal byte
 * (a named format such as 'clf' is a ready-made program, 'rfc2822' two of
 * them, tried in order). Reading a row is then one pass over the program and
 * the input with no look-up of the format, no allocation, and no libc
 * strptime (whose result depends on the locale and the TZ variable). A string
 * that does not match the whole format gives NULL, never an error: a log
 * line with a broken time stays a row (and an expectation can catch it).
 *
 * Without a year in the format (RFC 3164's "%b %e %H:%M:%S") the year is the
 * one that puts the time at or before now + 1 day, the latest such: a line
 * from Dec 31 read on Jan 1 is last year's, a line a few hours ahead of the
 * reader's clock is this year's (rsyslog's rule). "Now" is read once per
 * batch, so a replay of old logs next year gives other years: give the year
 * when it matters.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/timeutil.h"
#include "core/tz.h"
#include "expr/expr_internal.h"

enum tf_op {
    OP_LIT = 1,   /* the byte in lit */
    OP_WS,        /* any run of blanks in the input (also none) */
    OP_YEAR,      /* %Y four digits */
    OP_YEAR2,     /* %y two digits: 69-99 -> 19xx, 00-68 -> 20xx */
    OP_MON,       /* %m */
    OP_MON_NAME,  /* %b %B %h */
    OP_DAY,       /* %d */
    OP_DAY_SP,    /* %e: space-padded day */
    OP_WDAY,      /* %a %A: read, not checked against the date */
    OP_YDAY,      /* %j */
    OP_HOUR,      /* %H */
    OP_HOUR12,    /* %I */
    OP_AMPM,      /* %p */
    OP_MIN,       /* %M */
    OP_SEC,       /* %S */
    OP_FRAC,      /* %f: 1-9 digits of a fraction of a second */
    OP_ZONE,      /* %z: Z, +hh, +hhmm, +hh:mm (and UTC, GMT, UT when parsing) */
    OP_ZONE_NAME, /* %Z: UTC or GMT */
    OP_EPOCH,     /* %s: seconds since the epoch */
};

#define TF_MAX_OPS 96

typedef struct tf_prog {
    int n;
    bool has_year; /* %Y %y or %s: no inference */
    bool has_zone; /* %z %Z or %s: the input says its offset (a time zone argument is not used) */
    uint8_t op[TF_MAX_OPS];
    char lit[TF_MAX_OPS];
} tf_prog;

enum tf_kind { TF_PROGS, TF_EPOCH, TF_ISO };

typedef struct tf_aux {
    int kind;
    int nprog;
    tf_prog prog[2];
    int64_t scale;  /* TF_EPOCH: units per second (1, 1e3, 1e6, 1e9) */
    size_t max_out; /* format_time: longest output of one row */
    sl_tz *tz;      /* the third argument: local times are in this zone (NULL: UTC) */
} tf_aux;

static const char *const mon_full[12] = {"January",   "February", "March",    "April",
                                         "May",       "June",     "July",     "August",
                                         "September", "October",  "November", "December"};
static const char *const day_full[7] = {"Sunday",   "Monday", "Tuesday", "Wednesday",
                                        "Thursday", "Friday", "Saturday"};

static const struct {
    const char *name;
    const char *fmt[2];
} named[] = {
    {"clf", {"%d/%b/%Y:%H:%M:%S %z", NULL}},
    {"rfc2822", {"%a, %d %b %Y %H:%M:%S %z", "%d %b %Y %H:%M:%S %z"}},
    {"rfc3164", {"%b %e %H:%M:%S", NULL}},
};

/* Translates fmt into p. Returns the offset of a bad directive, or -1. */
static int tf_compile(const char *fmt, size_t len, tf_prog *p, const char **why) {
    memset(p, 0, sizeof *p);
    for (size_t i = 0; i < len; i++) {
        const char *expand = NULL;
        uint8_t op = 0;
        char ch = fmt[i];
        if (ch == '%') {
            if (i + 1 >= len) {
                *why = "a lone '%' at the end";
                return (int)i;
            }
            switch (fmt[++i]) {
            case 'Y':
                op = OP_YEAR, p->has_year = true;
                break;
            case 'y':
                op = OP_YEAR2, p->has_year = true;
                break;
            case 'm':
                op = OP_MON;
                break;
            case 'b':
            case 'B':
            case 'h':
                op = OP_MON_NAME;
                break;
            case 'd':
                op = OP_DAY;
                break;
            case 'e':
                op = OP_DAY_SP;
                break;
            case 'a':
            case 'A':
                op = OP_WDAY;
                break;
            case 'j':
                op = OP_YDAY;
                break;
            case 'H':
                op = OP_HOUR;
                break;
            case 'I':
                op = OP_HOUR12;
                break;
            case 'p':
                op = OP_AMPM;
                break;
            case 'M':
                op = OP_MIN;
                break;
            case 'S':
                op = OP_SEC;
                break;
            case 'f':
                op = OP_FRAC;
                break;
            case 'z':
                op = OP_ZONE;
                break;
            case 'Z':
                op = OP_ZONE_NAME;
                break;
            case 's':
                op = OP_EPOCH, p->has_year = true;
                break;
            case 'T':
                expand = "%H:%M:%S";
                break;
            case 'F':
                expand = "%Y-%m-%d";
                break;
            case 'R':
                expand = "%H:%M";
                break;
            case '%':
                op = OP_LIT, ch = '%';
                break;
            default:
                *why = "unknown directive";
                return (int)i - 1;
            }
            if (op != OP_LIT) ch = fmt[i]; /* the letter: %b and %B write differently */
            if (expand) {
                tf_prog sub;
                tf_compile(expand, strlen(expand), &sub, why);
                if (p->n + sub.n > TF_MAX_OPS) goto too_long;
                memcpy(p->op + p->n, sub.op, (size_t)sub.n);
                memcpy(p->lit + p->n, sub.lit, (size_t)sub.n);
                p->n += sub.n;
                p->has_year |= sub.has_year;
                continue;
            }
        } else if (ch == ' ' || ch == '\t') {
            op = OP_WS;
        } else {
            op = OP_LIT;
        }
        if (p->n >= TF_MAX_OPS) goto too_long;
        p->op[p->n] = op;
        p->lit[p->n++] = ch;
    }
    return -1;
too_long:
    *why = "format too long";
    return 0;
}

/* ---- reading ---- */

typedef struct tf_in {
    const char *s;
    size_t n, i;
} tf_in;

/* 1..maxw digits (at least minw) into *v. */
static bool rd_num(tf_in *in, int minw, int maxw, int64_t *v) {
    int w = 0;
    int64_t r = 0;
    while (w < maxw && in->i < in->n && in->s[in->i] >= '0' && in->s[in->i] <= '9') {
        r = r * 10 + (in->s[in->i++] - '0');
        w++;
    }
    *v = r;
    return w >= minw;
}

/* A name of the table (full first, then its first three letters). Returns its index or -1. */
static int rd_name(tf_in *in, const char *const *tab, int ntab) {
    for (int k = 0; k < ntab; k++) {
        size_t fl = strlen(tab[k]);
        if (in->n - in->i >= fl && strncasecmp(in->s + in->i, tab[k], fl) == 0) {
            in->i += fl;
            return k;
        }
    }
    for (int k = 0; k < ntab; k++)
        if (in->n - in->i >= 3 && strncasecmp(in->s + in->i, tab[k], 3) == 0) {
            in->i += 3;
            return k;
        }
    return -1;
}

static bool rd_word(tf_in *in, const char *w) {
    size_t l = strlen(w);
    if (in->n - in->i < l || strncasecmp(in->s + in->i, w, l) != 0) return false;
    in->i += l;
    return true;
}

static bool is_leap(int64_t y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

static int mdays(int64_t y, int64_t m) {
    static const int d[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return m == 2 && is_leap(y) ? 29 : d[m - 1];
}

/* Runs p over s. now_us: for the year of a format without one. */
static bool tf_parse(const tf_prog *p, const char *s, size_t n, int64_t now_us, int64_t *out) {
    tf_in in = {s, n, 0};
    int64_t year = 0, mon = 1, day = 1, yday = 0, hour = 0, min = 0, sec = 0, frac = 0, off = 0,
            epoch = 0, v;
    int pm = -1;
    bool h12 = false, has_epoch = false;
    for (int k = 0; k < p->n; k++) {
        switch (p->op[k]) {
        case OP_LIT:
            if (in.i >= in.n || in.s[in.i] != p->lit[k]) return false;
            in.i++;
            break;
        case OP_WS:
            while (in.i < in.n && (in.s[in.i] == ' ' || in.s[in.i] == '\t'))
                in.i++;
            break;
        case OP_YEAR:
            if (!rd_num(&in, 4, 4, &year)) return false;
            break;
        case OP_YEAR2:
            if (!rd_num(&in, 2, 2, &v)) return false;
            year = v < 69 ? 2000 + v : 1900 + v;
            break;
        case OP_MON:
            if (!rd_num(&in, 1, 2, &mon) || mon < 1 || mon > 12) return false;
            break;
        case OP_MON_NAME:
            if ((v = rd_name(&in, mon_full, 12)) < 0) return false;
            mon = v + 1;
            break;
        case OP_DAY_SP:
            if (in.i < in.n && in.s[in.i] == ' ') in.i++;
            /* fall through */
        case OP_DAY:
            if (!rd_num(&in, 1, 2, &day) || day < 1 || day > 31) return false;
            break;
        case OP_WDAY:
            if (rd_name(&in, day_full, 7) < 0) return false;
            break;
        case OP_YDAY:
            if (!rd_num(&in, 1, 3, &yday) || yday < 1 || yday > 366) return false;
            break;
        case OP_HOUR:
            if (!rd_num(&in, 1, 2, &hour) || hour > 23) return false;
            break;
        case OP_HOUR12:
            if (!rd_num(&in, 1, 2, &hour) || hour < 1 || hour > 12) return false;
            h12 = true;
            break;
        case OP_AMPM:
            if (rd_word(&in, "AM"))
                pm = 0;
            else if (rd_word(&in, "PM"))
                pm = 1;
            else
                return false;
            break;
        case OP_MIN:
            if (!rd_num(&in, 1, 2, &min) || min > 59) return false;
            break;
        case OP_SEC:
            if (!rd_num(&in, 1, 2, &sec) || sec > 60) return false;
            break;
        case OP_FRAC: {
            int64_t scale = 100000;
            size_t start = in.i;
            frac = 0;
            while (in.i < in.n && in.i - start < 9 && in.s[in.i] >= '0' && in.s[in.i] <= '9') {
                frac += (in.s[in.i++] - '0') * scale;
                scale /= 10;
            }
            if (in.i == start) return false;
            break;
        }
        case OP_ZONE:
            if (in.i < in.n && (in.s[in.i] == 'Z' || in.s[in.i] == 'z')) {
                in.i++;
                off = 0;
            } else if (rd_word(&in, "UTC") || rd_word(&in, "GMT") || rd_word(&in, "UT")) {
                off = 0;
            } else if (in.i < in.n && (in.s[in.i] == '+' || in.s[in.i] == '-')) {
                int sign = in.s[in.i++] == '-' ? -1 : 1;
                int64_t oh, om = 0;
                if (!rd_num(&in, 2, 2, &oh) || oh > 23) return false;
                if (in.i < in.n && in.s[in.i] == ':') in.i++;
                if (in.i < in.n && in.s[in.i] >= '0' && in.s[in.i] <= '9' &&
                    (!rd_num(&in, 2, 2, &om) || om > 59))
                    return false;
                off = sign * (oh * 3600 + om * 60);
            } else {
                return false;
            }
            break;
        case OP_ZONE_NAME:
            if (!rd_word(&in, "UTC") && !rd_word(&in, "GMT")) return false;
            break;
        case OP_EPOCH: {
            bool neg = in.i < in.n && in.s[in.i] == '-';
            if (neg) in.i++;
            if (!rd_num(&in, 1, 12, &epoch)) return false; /* 12 digits: up to year ~33658 */
            if (neg) epoch = -epoch;
            has_epoch = true;
            break;
        }
        }
    }
    if (in.i != in.n) return false;
    if (has_epoch) {
        *out = epoch * SL_US_PER_SEC + frac;
        return true;
    }
    if (h12) {
        if (pm < 0) return false;
        hour = hour % 12 + (pm ? 12 : 0);
    } else if (pm >= 0) {
        return false; /* %p without %I */
    }
    int64_t tod = hour * 3600 + min * 60 + sec - off;
    if (!p->has_year) {
        /* the latest year that puts the time at or before now + 1 day */
        int64_t limit = now_us / SL_US_PER_SEC + 86400, y;
        unsigned cm, cd;
        sl_civil_from_days(sl_floor_div(limit, 86400), &y, &cm, &cd);
        for (int back = 0; back < 9; back++, y--) {
            if (yday ? yday > 365 + is_leap(y) : day > mdays(y, mon)) continue;
            int64_t days = yday ? sl_days_from_civil(y, 1, 1) + yday - 1
                                : sl_days_from_civil(y, (unsigned)mon, (unsigned)day);
            if (days * 86400 + tod <= limit) {
                *out = (days * 86400 + tod) * SL_US_PER_SEC + frac;
                return true;
            }
        }
        return false;
    }
    int64_t days;
    if (yday) {
        if (yday > 365 + is_leap(year)) return false;
        days = sl_days_from_civil(year, 1, 1) + yday - 1;
    } else {
        if (day > mdays(year, mon)) return false;
        days = sl_days_from_civil(year, (unsigned)mon, (unsigned)day);
    }
    *out = (days * 86400 + tod) * SL_US_PER_SEC + frac;
    return true;
}

/* '-'? digits ('.' digits)? in units of 1/scale s. */
static bool parse_epoch(const char *s, size_t n, int64_t scale, int64_t *out) {
    size_t i = 0;
    bool neg = n && s[0] == '-';
    i += neg;
    size_t start = i;
    int64_t v = 0;
    while (i < n && s[i] >= '0' && s[i] <= '9') {
        if (__builtin_mul_overflow(v, 10, &v) || __builtin_add_overflow(v, s[i] - '0', &v))
            return false;
        i++;
    }
    if (i == start) return false;
    int64_t us, per = SL_US_PER_SEC / (scale > SL_US_PER_SEC ? 1 : scale);
    if (scale > SL_US_PER_SEC)
        us = v / (scale / SL_US_PER_SEC); /* ns: truncated to µs */
    else if (__builtin_mul_overflow(v, per, &us))
        return false;
    if (i < n && s[i] == '.') { /* the fraction of one unit, down to µs */
        size_t fs = ++i;
        int64_t f = scale > SL_US_PER_SEC ? 0 : per / 10;
        while (i < n && s[i] >= '0' && s[i] <= '9') {
            us += (s[i] - '0') * f;
            f /= 10;
            i++;
        }
        if (i == fs) return false;
    }
    if (i != n) return false;
    *out = neg ? -us : us;
    return true;
}

/* An ISO 8601 time that ends with Z or an offset (after the date's own '-'s). */
static bool iso_has_offset(const char *s, size_t n) {
    if (n && (s[n - 1] == 'Z' || s[n - 1] == 'z')) return true;
    for (size_t i = 10; i < n; i++)
        if (s[i] == '+' || s[i] == '-') return true;
    return false;
}

static void ev_to_ts_fmt(node *n, sl_batch *b, uint32_t rows) {
    (void)b;
    const tf_aux *a = n->aux;
    const sl_column *x = &n->k[0]->res;
    int64_t now = sl_now_us();
    for (uint32_t i = 0; i < rows; i++) {
        int64_t us = 0;
        bool ok = false;
        if (!x->null[i]) {
            sl_str s = x->v.s[i];
            bool local = false; /* a wall-clock time without an offset: in a->tz */
            if (a->kind == TF_EPOCH) {
                ok = parse_epoch(s.ptr, s.len, a->scale, &us);
            } else if (a->kind == TF_ISO) {
                ok = sl_time_parse_iso(s.ptr, s.len, &us) == 0;
                local = ok && !iso_has_offset(s.ptr, s.len);
            } else {
                for (int p = 0; p < a->nprog && !ok; p++)
                    if ((ok = tf_parse(&a->prog[p], s.ptr, s.len, now, &us)))
                        local = !a->prog[p].has_zone;
            }
            if (ok && local && a->tz) us = sl_tz_local_to_utc(a->tz, us);
        }
        n->res.null[i] = !ok;
        n->res.v.i[i] = ok ? us : 0;
    }
}

/* ---- writing ---- */

static char *put2(char *o, int64_t v, char pad) {
    *o++ = v >= 10 ? (char)('0' + v / 10) : pad;
    *o++ = (char)('0' + v % 10);
    return o;
}

static char *put_str(char *o, const char *s) {
    size_t l = strlen(s);
    memcpy(o, s, l);
    return o + l;
}

/* us: the local time to write; off_us: its offset from UTC (for %z). zone:
 * the zone's name for %Z. */
static size_t tf_write(const tf_prog *p, int64_t us, int64_t off_us, const char *zone, char *out) {
    int64_t secs = sl_floor_div(us, SL_US_PER_SEC), frac = us - secs * SL_US_PER_SEC;
    int64_t days = sl_floor_div(secs, 86400), tod = secs - days * 86400, y;
    unsigned m, d;
    sl_civil_from_days(days, &y, &m, &d);
    int64_t hour = tod / 3600, min = tod / 60 % 60, sec = tod % 60;
    int wday = (int)((days % 7 + 11) % 7); /* 1970-01-01 was a Thursday */
    char *o = out;
    for (int k = 0; k < p->n; k++) {
        switch (p->op[k]) {
        case OP_LIT:
        case OP_WS:
            *o++ = p->lit[k];
            break;
        case OP_YEAR:
            o = put2(o, y / 100, '0');
            o = put2(o, y % 100, '0');
            break;
        case OP_YEAR2:
            o = put2(o, y % 100, '0');
            break;
        case OP_MON:
            o = put2(o, m, '0');
            break;
        case OP_MON_NAME:
            if (p->lit[k] == 'B')
                o = put_str(o, mon_full[m - 1]);
            else {
                memcpy(o, mon_full[m - 1], 3);
                o += 3;
            }
            break;
        case OP_DAY:
            o = put2(o, d, '0');
            break;
        case OP_DAY_SP:
            o = put2(o, d, ' ');
            break;
        case OP_WDAY:
            if (p->lit[k] == 'A')
                o = put_str(o, day_full[wday]);
            else {
                memcpy(o, day_full[wday], 3);
                o += 3;
            }
            break;
        case OP_YDAY: {
            int64_t yd = days - sl_days_from_civil(y, 1, 1) + 1;
            *o++ = (char)('0' + yd / 100);
            o = put2(o, yd % 100, '0');
            break;
        }
        case OP_HOUR:
            o = put2(o, hour, '0');
            break;
        case OP_HOUR12:
            o = put2(o, hour % 12 ? hour % 12 : 12, '0');
            break;
        case OP_AMPM:
            o = put_str(o, hour < 12 ? "AM" : "PM");
            break;
        case OP_MIN:
            o = put2(o, min, '0');
            break;
        case OP_SEC:
            o = put2(o, sec, '0');
            break;
        case OP_FRAC:
            for (int64_t f = 100000; f; f /= 10)
                *o++ = (char)('0' + frac / f % 10);
            break;
        case OP_ZONE: {
            int64_t m = (off_us < 0 ? -off_us : off_us) / (60 * SL_US_PER_SEC);
            *o++ = off_us < 0 ? '-' : '+';
            o = put2(o, m / 60 % 100, '0');
            o = put2(o, m % 60, '0');
            break;
        }
        case OP_ZONE_NAME:
            o = put_str(o, zone);
            break;
        case OP_EPOCH:
            o += sl_fmt_i64(o, secs);
            break;
        }
    }
    return (size_t)(o - out);
}

static size_t tf_max_out(const tf_prog *p) {
    size_t n = 0;
    for (int k = 0; k < p->n; k++)
        n += p->op[k] == OP_EPOCH       ? 21
             : p->op[k] == OP_ZONE_NAME ? 64 /* a zone's name, e.g. America/Argentina/... */
                                        : 9; /* "September", "Wednesday" are the longest */
    return n;
}

static void ev_format_time(node *n, sl_batch *b, uint32_t rows) {
    const tf_aux *a = n->aux;
    const sl_column *x = &n->k[0]->res;
    char *o = sl_arena_alloc(b->arena, (size_t)rows * a->max_out + 1);
    for (uint32_t i = 0; i < rows; i++) {
        int64_t us = x->v.i[i];
        if (x->null[i] || !ts_formattable(us)) {
            n->res.null[i] = 1;
            n->res.v.s[i] = (sl_str){"", 0};
            continue;
        }
        size_t len;
        if (a->kind == TF_EPOCH) {
            int64_t v = 0;
            if (a->scale <= SL_US_PER_SEC)
                v = sl_floor_div(us, SL_US_PER_SEC / a->scale);
            else if (__builtin_mul_overflow(us, a->scale / SL_US_PER_SEC, &v)) {
                n->res.null[i] = 1; /* nanoseconds beyond 2262 */
                n->res.v.s[i] = (sl_str){"", 0};
                continue;
            }
            len = (size_t)sl_fmt_i64(o, v);
        } else {
            int64_t off = a->tz ? sl_tz_offset_us(a->tz, us) : 0;
            if (!ts_formattable(us + off)) {
                n->res.null[i] = 1;
                n->res.v.s[i] = (sl_str){"", 0};
                continue;
            }
            len = tf_write(&a->prog[0], us + off, off, a->tz ? sl_tz_name(a->tz) : "UTC", o);
        }
        n->res.null[i] = 0;
        n->res.v.s[i] = (sl_str){o, (uint32_t)len};
        o += len;
    }
}

/* ---- building ---- */

/* The format argument (a[1]) into aux; NULL with the error set. */
static tf_aux *tf_aux_new(comp *c, node *f, const char *fn, bool writing) {
    if (!is_lit(f)) {
        comp_error(c, f->off, SL_EINVAL, "the format of %s() must be a constant string", fn);
        return NULL;
    }
    tf_aux *a = sl_arena_alloc(c->e->arena, sizeof *a);
    memset(a, 0, sizeof *a);
    sl_str s = f->lit.s;
    static const struct {
        const char *name;
        int64_t scale;
    } epochs[] = {
        {"epoch_s", 1}, {"epoch_ms", 1000}, {"epoch_us", 1000000}, {"epoch_ns", 1000000000}};
    for (size_t k = 0; k < sizeof epochs / sizeof epochs[0]; k++)
        if (s.len == strlen(epochs[k].name) && !strncasecmp(s.ptr, epochs[k].name, s.len)) {
            a->kind = TF_EPOCH;
            a->scale = epochs[k].scale;
            a->max_out = 24;
            return a;
        }
    const char *fmts[2] = {s.ptr, NULL};
    size_t lens[2] = {s.len, 0};
    if (s.len == 7 && !strncasecmp(s.ptr, "iso8601", 7)) {
        if (!writing) {
            a->kind = TF_ISO;
            return a;
        }
        fmts[0] = "%Y-%m-%dT%H:%M:%S.%fZ", lens[0] = strlen(fmts[0]);
    }
    for (size_t k = 0; k < sizeof named / sizeof named[0]; k++)
        if (s.len == strlen(named[k].name) && !strncasecmp(s.ptr, named[k].name, s.len))
            for (int j = 0; j < 2; j++) {
                fmts[j] = named[k].fmt[j];
                lens[j] = fmts[j] ? strlen(fmts[j]) : 0;
            }
    a->kind = TF_PROGS;
    for (int j = 0; j < 2 && fmts[j]; j++) {
        const char *why = "";
        int at = tf_compile(fmts[j], lens[j], &a->prog[j], &why);
        if (at >= 0) {
            comp_error(c, f->off, SL_EINVAL, "%s(): %s at offset %d of the format '%.*s'", fn, why,
                       at, (int)(lens[j] > 64 ? 64 : lens[j]), fmts[j]);
            return NULL;
        }
        a->nprog = j + 1;
        for (int k = 0; k < a->prog[j].n; k++)
            a->prog[j].has_zone |= a->prog[j].op[k] == OP_ZONE ||
                                   a->prog[j].op[k] == OP_ZONE_NAME || a->prog[j].op[k] == OP_EPOCH;
        if (writing) break; /* a named format writes its first form */
    }
    a->max_out = tf_max_out(&a->prog[0]);
    return a;
}

static void tf_aux_free(void *p) { sl_tz_free(((tf_aux *)p)->tz); }

/* The optional third argument: a constant time zone name, loaded once. */
static int tf_zone(comp *c, node **a, int nk, const char *fn, tf_aux *x) {
    if (nk < 3 || is_null_lit(a[2])) return 0;
    if (!is_lit(a[2]))
        return comp_error(c, a[2]->off, SL_EINVAL,
                          "the time zone of %s() must be a constant string, e.g. 'Europe/Berlin'",
                          fn);
    char name[128];
    sl_str s = a[2]->lit.s;
    snprintf(name, sizeof name, "%.*s", (int)(s.len < 127 ? s.len : 127), s.ptr);
    sl_error e = {0};
    if (!(x->tz = sl_tz_load(name, &e)))
        return comp_error(c, a[2]->off, SL_EINVAL, "%s(): %s", fn, e.msg);
    return 0;
}

node *build_to_timestamp(comp *c, node **a, int nk, int off) {
    if (nk == 1) return NULL; /* to_timestamp(s): the table's ISO 8601 kernel */
    if (is_null_lit(a[1])) return node_lit_null(c, SL_T_TS, off);
    tf_aux *x = tf_aux_new(c, a[1], "to_timestamp", false);
    if (!x || tf_zone(c, a, nk, "to_timestamp", x)) return NULL;
    node *n = node_op(c, ev_to_ts_fmt, SL_T_TS, off, nk, a);
    if (!n) {
        sl_tz_free(x->tz);
        return NULL;
    }
    n->aux = x;
    n->aux_free = tf_aux_free;
    return node_finish(c, n, true);
}

node *build_format_time(comp *c, node **a, int nk, int off) {
    if (is_null_lit(a[1])) return node_lit_null(c, SL_T_STRING, off);
    tf_aux *x = tf_aux_new(c, a[1], "format_time", true);
    if (!x || tf_zone(c, a, nk, "format_time", x)) return NULL;
    node *n = node_op(c, ev_format_time, SL_T_STRING, off, nk, a);
    if (!n) {
        sl_tz_free(x->tz);
        return NULL;
    }
    n->aux = x;
    n->aux_free = tf_aux_free;
    return node_finish(c, n, true);
}
