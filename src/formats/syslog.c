/*
 * syslog.c - RFC 5424 and RFC 3164 syslog messages into views and rows.
 *
 * The idea: a syslog message is a fixed sequence of space-separated header
 * fields followed by a free-form tail, so one left-to-right pass with a
 * cursor `i` parses it. Each step checks exactly the grammar of RFC 5424
 * section 6 and, on the first violation, reports the 1-based column of the
 * token (or byte) at fault; nothing is copied except SD-PARAM values that
 * hold escapes, which are unescaped into parser scratch sized to the message
 * (an unescaped value is never longer than its message), so views into the
 * scratch never move while one message is being parsed.
 *
 * RFC 3164 has no grammar worth the name; its parser tries the common shape
 * and falls back to "everything is MSG", never failing (see syslog.h).
 *
 * The batch adapter resolves column names once per call and then fills rows
 * from the parsed struct; only structured_data (JSON text) and unescaped SD
 * values are copied, into the batch arena.
 */
#include "formats/syslog.h"

#include <stdarg.h>
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/mem.h"
#include "core/timeutil.h"
#include "formats/logfmt.h"

struct sl_syslog_parser {
    sl_syslog_element *sd;
    int sd_cap;
    sl_syslog_param *params;
    int params_cap;
    char *scratch; /* unescaped SD values; capacity >= message length */
    size_t scratch_cap, scratch_used;
    char *json; /* structured_data JSON for the batch adapter */
    size_t json_cap;
};

sl_syslog_parser *sl_syslog_parser_new(void) { return sl_xcalloc(1, sizeof(sl_syslog_parser)); }

void sl_syslog_parser_free(sl_syslog_parser *p) {
    if (!p) return;
    free(p->sd);
    free(p->params);
    free(p->scratch);
    free(p->json);
    free(p);
}

/* ---- errors ------------------------------------------------------------ */

/* SL_EPARSE with "column <col0+1>: <fmt>". Formats only when err is given:
 * the 5424/3164 auto-detection and the fuzzer call with err = NULL. */
__attribute__((format(printf, 3, 4))) static int perr(sl_error *err, size_t col0, const char *fmt,
                                                      ...) {
    if (!err) return SL_EPARSE;
    char buf[SL_ERROR_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    return sl_error_set(err, SL_EPARSE, "column %zu: %s", col0 + 1, buf);
}

static inline bool is_digit(char c) { return c >= '0' && c <= '9'; }
static inline bool is_print(unsigned char c) { return c >= 33 && c <= 126; }

/* ---- PRI and VERSION -------------------------------------------------- */

/* "<" 1-3 digits ">" with the RFC 5424 rules; *i = just after '>'. */
static int parse_pri(const char *s, size_t len, size_t *i, int *pri, sl_error *err) {
    if (len == 0 || s[0] != '<') return perr(err, 0, "expected '<'");
    size_t j = 1;
    int v = 0;
    while (j < len && j < 4 && is_digit(s[j]))
        v = v * 10 + (s[j++] - '0');
    if (j == 1) return perr(err, 1, "expected PRI digits after '<'");
    if (j < len && is_digit(s[j])) return perr(err, 1, "PRI longer than 3 digits");
    if (j > 2 && s[1] == '0') return perr(err, 1, "PRI with a leading zero");
    if (j >= len || s[j] != '>') return perr(err, j, "expected '>' after PRI");
    if (v > 191) return perr(err, 1, "PRI %d out of range (0..191)", v);
    *pri = v;
    *i = j + 1;
    return 0;
}

/* ---- TIMESTAMP ---------------------------------------------------------- */

static const unsigned char mdays[13] = {0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};

static int days_in_month(int y, int m) {
    if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0)) return 29;
    return mdays[m];
}

/* Reads exactly n digits at s[*i]; returns the count read before a non-digit. */
static int read_digits(const char *s, size_t len, size_t i, int n, int *v) {
    int k = 0, x = 0;
    while (k < n && i + (size_t)k < len && is_digit(s[i + (size_t)k]))
        x = x * 10 + (s[i + (size_t)k++] - '0');
    *v = x;
    return k;
}

static int ts_expected(sl_error *err, const char *s, size_t len, size_t at, const char *what) {
    if (at >= len) return perr(err, at, "bad TIMESTAMP: expected %s, got end of message", what);
    (void)s;
    return perr(err, at, "bad TIMESTAMP: expected %s", what);
}

#define TS_DIGITS(n, var, what)                                                                    \
    do {                                                                                           \
        int k_ = read_digits(s, len, i, n, &var);                                                  \
        if (k_ != n) return ts_expected(err, s, len, i + (size_t)k_, what);                        \
        i += (size_t)n;                                                                            \
    } while (0)
#define TS_CHAR(ch, what)                                                                          \
    do {                                                                                           \
        if (i >= len || s[i] != (ch)) return ts_expected(err, s, len, i, what);                    \
        i++;                                                                                       \
    } while (0)

/* RFC 3339 as restricted by RFC 5424 6.2.3 (no NILVALUE here). */
static int parse_rfc3339(const char *s, size_t len, size_t *pi, sl_syslog_msg *m, sl_error *err) {
    size_t i = *pi, at;
    int y, mo, d, h, mi, sec, frac = 0, off = 0;
    TS_DIGITS(4, y, "4-digit year");
    TS_CHAR('-', "'-' after year");
    at = i;
    TS_DIGITS(2, mo, "2-digit month");
    if (mo < 1 || mo > 12) return perr(err, at, "bad TIMESTAMP: month %d", mo);
    TS_CHAR('-', "'-' after month");
    at = i;
    TS_DIGITS(2, d, "2-digit day");
    if (d < 1 || d > days_in_month(y, mo))
        return perr(err, at, "bad TIMESTAMP: day %d of %04d-%02d", d, y, mo);
    TS_CHAR('T', "'T' after date");
    at = i;
    TS_DIGITS(2, h, "2-digit hour");
    if (h > 23) return perr(err, at, "bad TIMESTAMP: hour %d", h);
    TS_CHAR(':', "':' after hour");
    at = i;
    TS_DIGITS(2, mi, "2-digit minute");
    if (mi > 59) return perr(err, at, "bad TIMESTAMP: minute %d", mi);
    TS_CHAR(':', "':' after minute");
    at = i;
    TS_DIGITS(2, sec, "2-digit second");
    if (sec > 60) return perr(err, at, "bad TIMESTAMP: second %d", sec);
    if (i < len && s[i] == '.') {
        i++;
        int nd = 0;
        while (i < len && is_digit(s[i])) {
            if (nd == 6) return perr(err, i, "bad TIMESTAMP: more than 6 fraction digits");
            frac = frac * 10 + (s[i++] - '0');
            nd++;
        }
        if (nd == 0) return ts_expected(err, s, len, i, "digit after '.'");
        for (; nd < 6; nd++)
            frac *= 10;
    }
    if (i < len && s[i] == 'Z') {
        i++;
    } else if (i < len && (s[i] == '+' || s[i] == '-')) {
        int sign = s[i++] == '-' ? -1 : 1, oh, om;
        at = i;
        TS_DIGITS(2, oh, "2-digit offset hour");
        if (oh > 23) return perr(err, at, "bad TIMESTAMP: offset hour %d", oh);
        TS_CHAR(':', "':' in offset");
        at = i;
        TS_DIGITS(2, om, "2-digit offset minute");
        if (om > 59) return perr(err, at, "bad TIMESTAMP: offset minute %d", om);
        off = sign * (oh * 60 + om);
    } else {
        return ts_expected(err, s, len, i, "'Z' or +hh:mm / -hh:mm offset");
    }
    if (sec == 60) { /* leap second: the last microsecond of the minute */
        sec = 59;
        frac = 999999;
    }
    int64_t days = sl_days_from_civil(y, (unsigned)mo, (unsigned)d);
    int64_t secs = days * 86400 + h * 3600 + mi * 60 + sec - (int64_t)off * 60;
    m->ts_us = secs * SL_US_PER_SEC + frac;
    m->has_ts = true;
    m->tz_offset_min = off;
    *pi = i;
    return 0;
}

/* ---- header fields -------------------------------------------------------- */

/* A PRINTUSASCII field of 1..max bytes (or "-") followed by SP. The scan
 * loop tests one condition per byte (SP is not PRINTUSASCII); the byte that
 * stopped it tells which rule, if any, was broken. */
static int parse_field(const char *s, size_t len, size_t *pi, size_t max, const char *name,
                       sl_str *out, sl_error *err) {
    size_t st = *pi, j = st;
    if (st >= len) return perr(err, st, "expected %s, got end of message", name);
    size_t lim = len - st > max ? st + max : len;
    while (j < lim && is_print((unsigned char)s[j]))
        j++;
    if (j < len && s[j] != ' ') {
        unsigned char c = (unsigned char)s[j];
        if (!is_print(c)) return perr(err, j, "invalid byte 0x%02x in %s", c, name);
        return perr(err, j, "%s longer than %zu characters", name, max);
    }
    if (j == st) return perr(err, st, "empty %s (NILVALUE is '-')", name);
    if (j >= len) return perr(err, j, "expected SP after %s, got end of message", name);
    if (j - st == 1 && s[st] == '-') {
        out->ptr = NULL;
        out->len = 0;
    } else {
        out->ptr = s + st;
        out->len = (uint32_t)(j - st);
    }
    *pi = j + 1;
    return 0;
}

/* ---- STRUCTURED-DATA ------------------------------------------------------- */

static int grow(void **arr, int *cap, size_t elem, int need) {
    if (need <= *cap) return 0;
    int nc = *cap ? *cap * 2 : 16;
    while (nc < need)
        nc *= 2;
    void *n = realloc(*arr, (size_t)nc * elem);
    if (!n) return SL_ENOMEM;
    *arr = n;
    *cap = nc;
    return 0;
}

/* Byte classes as 128-bit masks (bit c set: byte c is in the class), so a
 * scan loop tests one bit per byte. SD-NAME: PRINTUSASCII except '=', SP,
 * ']' and '"'. PARAM-VALUE stops: '"', '\\' and bytes >= 0x80 (not in the
 * mask, handled by the c >= 128 test). */
#define SDNAME_LO ((~0ULL << 33) & ~(1ULL << '"') & ~(1ULL << '='))
#define SDNAME_HI ((~0ULL >> 1) & ~(1ULL << (']' - 64)))
#define VSTOP_LO (1ULL << '"')
#define VSTOP_HI (1ULL << ('\\' - 64))

static inline bool in_class(unsigned char c, uint64_t lo, uint64_t hi) {
    return c < 64 ? (lo >> c) & 1 : c < 128 ? (hi >> (c - 64)) & 1 : 0;
}

/* SD-NAME: 1..32 PRINTUSASCII except '=', SP, ']', '"'. Stops before the
 * first of those four; the caller checks which one it is. */
static int parse_sdname(const char *s, size_t len, size_t *pi, const char *what, sl_str *out,
                        sl_error *err) {
    size_t st = *pi, j = st;
    size_t lim = len - st > 32 ? st + 32 : len;
    while (j < lim && in_class((unsigned char)s[j], SDNAME_LO, SDNAME_HI))
        j++;
    if (j < len) {
        unsigned char c = (unsigned char)s[j];
        if (c != '=' && c != ' ' && c != ']' && c != '"') {
            if (!is_print(c)) return perr(err, j, "invalid byte 0x%02x in %s", c, what);
            return perr(err, j, "%s longer than 32 characters", what);
        }
    }
    if (j >= len) return perr(err, j, "unterminated SD-ELEMENT (expected ']')");
    if (j == st) return perr(err, j, "expected %s", what);
    out->ptr = s + st;
    out->len = (uint32_t)(j - st);
    *pi = j;
    return 0;
}

/* Length of a valid UTF-8 sequence at s[0..n), or 0 if invalid. */
static size_t utf8_seq(const unsigned char *s, size_t n) {
    unsigned char c = s[0];
    if (c < 0x80) return 1;
    if (c >= 0xC2 && c <= 0xDF) return n >= 2 && (s[1] & 0xC0) == 0x80 ? 2 : 0;
    if (c >= 0xE0 && c <= 0xEF) {
        if (n < 3 || (s[1] & 0xC0) != 0x80 || (s[2] & 0xC0) != 0x80) return 0;
        if (c == 0xE0 && s[1] < 0xA0) return 0; /* overlong */
        if (c == 0xED && s[1] > 0x9F) return 0; /* surrogates */
        return 3;
    }
    if (c >= 0xF0 && c <= 0xF4) {
        if (n < 4 || (s[1] & 0xC0) != 0x80 || (s[2] & 0xC0) != 0x80 || (s[3] & 0xC0) != 0x80)
            return 0;
        if (c == 0xF0 && s[1] < 0x90) return 0;
        if (c == 0xF4 && s[1] > 0x8F) return 0;
        return 4;
    }
    return 0;
}

/* PARAM-VALUE after its opening quote at s[*pi - 1]; *pi ends after the
 * closing quote. */
static int parse_value(sl_syslog_parser *p, const char *s, size_t len, size_t *pi, sl_str *out,
                       sl_error *err) {
    size_t st = *pi, j = st;
    bool esc = false;
    for (;;) {
        while (j < len && !in_class((unsigned char)s[j], VSTOP_LO, VSTOP_HI) &&
               (unsigned char)s[j] < 0x80)
            j++;
        if (j >= len) return perr(err, j, "unterminated PARAM-VALUE (opened at column %zu)", st);
        unsigned char c = (unsigned char)s[j];
        if (c == '"') break;
        if (c == '\\') {
            if (j + 1 < len && (s[j + 1] == '"' || s[j + 1] == '\\' || s[j + 1] == ']')) {
                esc = true;
                j += 2;
            } else {
                j++; /* kept literally; the next byte is read normally */
            }
            continue;
        }
        if (c >= 0x80) {
            size_t k = utf8_seq((const unsigned char *)s + j, len - j);
            if (!k) return perr(err, j, "invalid UTF-8 in PARAM-VALUE");
            j += k;
            continue;
        }
        j++;
    }
    if (!esc) {
        out->ptr = s + st;
        out->len = (uint32_t)(j - st);
    } else {
        assert(p->scratch_used + (j - st) <= p->scratch_cap); /* scratch holds the whole message */
        char *o = p->scratch + p->scratch_used, *o0 = o;
        for (size_t k = st; k < j; k++) {
            if (s[k] == '\\' && k + 1 < j &&
                (s[k + 1] == '"' || s[k + 1] == '\\' || s[k + 1] == ']'))
                k++;
            *o++ = s[k];
        }
        out->ptr = o0;
        out->len = (uint32_t)(o - o0);
        p->scratch_used += (size_t)(o - o0);
    }
    *pi = j + 1;
    return 0;
}

static int parse_sd(sl_syslog_parser *p, const char *s, size_t len, size_t *pi, sl_syslog_msg *m,
                    sl_error *err) {
    size_t i = *pi;
    int nsd = 0, np = 0, rc;
    if (i >= len) return perr(err, i, "expected STRUCTURED-DATA, got end of message");
    if (s[i] == '-') {
        *pi = i + 1;
        m->nsd = m->nparams = 0;
        return 0;
    }
    if (s[i] != '[') return perr(err, i, "expected '[' or '-' for STRUCTURED-DATA");
    while (i < len && s[i] == '[') {
        i++;
        if (grow((void **)&p->sd, &p->sd_cap, sizeof *p->sd, nsd + 1)) return SL_ENOMEM;
        sl_syslog_element *e = &p->sd[nsd];
        if ((rc = parse_sdname(s, len, &i, "SD-ID", &e->id, err))) return rc;
        if (s[i] == '=' || s[i] == '"')
            return perr(err, i, "invalid character '%c' in SD-ID", s[i]);
        e->first_param = np;
        e->nparams = 0;
        while (i < len && s[i] == ' ') {
            i++;
            if (grow((void **)&p->params, &p->params_cap, sizeof *p->params, np + 1))
                return SL_ENOMEM;
            e = &p->sd[nsd];
            sl_syslog_param *q = &p->params[np];
            if ((rc = parse_sdname(s, len, &i, "PARAM-NAME", &q->name, err))) return rc;
            if (s[i] != '=') return perr(err, i, "expected '=' after PARAM-NAME");
            i++;
            if (i >= len || s[i] != '"') return perr(err, i, "expected '\"' to open PARAM-VALUE");
            i++;
            if ((rc = parse_value(p, s, len, &i, &q->value, err))) return rc;
            np++;
            e->nparams++;
        }
        if (i >= len) return perr(err, i, "unterminated SD-ELEMENT (expected ']')");
        if (s[i] != ']') return perr(err, i, "expected SP or ']' in SD-ELEMENT");
        i++;
        nsd++;
    }
    m->nsd = nsd;
    m->nparams = np;
    *pi = i;
    return 0;
}

/* ---- RFC 5424 ---------------------------------------------------------- */

static size_t trim_eol(const char *s, size_t len) {
    while (len && (s[len - 1] == '\n' || s[len - 1] == '\r'))
        len--;
    return len;
}

static void set_msg(sl_syslog_msg *m, const char *s, size_t len) {
    if (len >= 3 && (unsigned char)s[0] == 0xEF && (unsigned char)s[1] == 0xBB &&
        (unsigned char)s[2] == 0xBF) {
        m->msg_utf8_bom = true;
        s += 3;
        len -= 3;
    }
    m->msg.ptr = s;
    m->msg.len = (uint32_t)len;
}

int sl_syslog_parse_5424(sl_syslog_parser *p, const char *s, size_t len, sl_syslog_msg *m,
                         sl_error *err) {
    memset(m, 0, sizeof *m);
    len = trim_eol(s, len);
    if (len > UINT32_MAX) return sl_error_set(err, SL_EPARSE, "message longer than 4 GiB");
    if (len > p->scratch_cap) {
        size_t nc = len < 256 ? 256 : len;
        char *n = realloc(p->scratch, nc);
        if (!n) return sl_error_set(err, SL_ENOMEM, "out of memory");
        p->scratch = n;
        p->scratch_cap = nc;
    }
    p->scratch_used = 0;
    size_t i;
    int rc;
    if ((rc = parse_pri(s, len, &i, &m->pri, err))) return rc;
    m->facility = m->pri >> 3;
    m->severity = m->pri & 7;
    if (i >= len || s[i] < '1' || s[i] > '9')
        return perr(err, i, "expected VERSION (a nonzero digit)");
    int v = 0;
    for (int k = 0; k < 3 && i < len && is_digit(s[i]); k++)
        v = v * 10 + (s[i++] - '0');
    m->version = v;
    if (i >= len || s[i] != ' ') return perr(err, i, "expected SP after VERSION");
    i++;
    if (i < len && s[i] == '-') {
        i++;
    } else if ((rc = parse_rfc3339(s, len, &i, m, err))) {
        return rc;
    }
    if (i >= len || s[i] != ' ') return perr(err, i, "expected SP after TIMESTAMP");
    i++;
    if ((rc = parse_field(s, len, &i, 255, "HOSTNAME", &m->hostname, err)) ||
        (rc = parse_field(s, len, &i, 48, "APP-NAME", &m->app_name, err)) ||
        (rc = parse_field(s, len, &i, 128, "PROCID", &m->procid, err)) ||
        (rc = parse_field(s, len, &i, 32, "MSGID", &m->msgid, err)))
        return rc;
    if ((rc = parse_sd(p, s, len, &i, m, err)))
        return rc == SL_ENOMEM ? sl_error_set(err, rc, "out of memory") : rc;
    m->sd = m->nsd ? p->sd : NULL;
    m->params = m->nparams ? p->params : NULL;
    if (i < len) {
        if (s[i] != ' ')
            return perr(err, i,
                        m->nsd ? "expected SP or '[' after SD-ELEMENT"
                               : "expected SP after STRUCTURED-DATA");
        set_msg(m, s + i + 1, len - i - 1);
    }
    return 0;
}

/* ---- RFC 3164 --------------------------------------------------------- */

static const char months[12][3] = {{'j', 'a', 'n'}, {'f', 'e', 'b'}, {'m', 'a', 'r'},
                                   {'a', 'p', 'r'}, {'m', 'a', 'y'}, {'j', 'u', 'n'},
                                   {'j', 'u', 'l'}, {'a', 'u', 'g'}, {'s', 'e', 'p'},
                                   {'o', 'c', 't'}, {'n', 'o', 'v'}, {'d', 'e', 'c'}};

static inline char lower(char c) { return (c >= 'A' && c <= 'Z') ? (char)(c + 32) : c; }

/* "Mmm dd hh:mm:ss" (dd space- or zero-padded, or one digit), an optional
 * fraction, with the year picked from now_us. Returns 0 and moves *pi. */
static int parse_bsd_ts(const char *s, size_t len, size_t *pi, int64_t now_us, sl_syslog_msg *m) {
    size_t i = *pi;
    if (len - i < 14) return -1;
    int mo = -1;
    for (int k = 0; k < 12; k++)
        if (lower(s[i]) == months[k][0] && lower(s[i + 1]) == months[k][1] &&
            lower(s[i + 2]) == months[k][2])
            mo = k + 1;
    if (mo < 0 || s[i + 3] != ' ') return -1;
    i += 4;
    int d;
    if (s[i] == ' ' && is_digit(s[i + 1])) {
        d = s[i + 1] - '0';
        i += 2;
    } else if (is_digit(s[i]) && is_digit(s[i + 1])) {
        d = (s[i] - '0') * 10 + (s[i + 1] - '0');
        i += 2;
    } else if (is_digit(s[i]) && s[i + 1] == ' ') {
        d = s[i] - '0';
        i += 1;
    } else {
        return -1;
    }
    if (i >= len || s[i] != ' ') return -1;
    i++;
    int h, mi, sec, frac = 0;
    if (read_digits(s, len, i, 2, &h) != 2 || i + 2 >= len || s[i + 2] != ':') return -1;
    i += 3;
    if (read_digits(s, len, i, 2, &mi) != 2 || i + 2 >= len || s[i + 2] != ':') return -1;
    i += 3;
    if (read_digits(s, len, i, 2, &sec) != 2) return -1;
    i += 2;
    if (h > 23 || mi > 59 || sec > 60 || d < 1 || d > 31) return -1;
    if (i + 1 < len && s[i] == '.' && is_digit(s[i + 1])) {
        int nd = 0;
        for (i++; i < len && is_digit(s[i]); i++)
            if (nd < 6) frac = frac * 10 + (s[i] - '0'), nd++;
        for (; nd < 6; nd++)
            frac *= 10;
    }
    if (i < len && s[i] != ' ') return -1;
    if (sec == 60) sec = 59, frac = 999999;
    int64_t y;
    unsigned cm, cd;
    sl_civil_from_days(sl_floor_div(now_us, 86400 * SL_US_PER_SEC), &y, &cm, &cd);
    for (int tries = 0; tries < 2; tries++, y--) {
        if (d > days_in_month((int)y, mo)) continue;
        int64_t us =
            (sl_days_from_civil(y, (unsigned)mo, (unsigned)d) * 86400 + h * 3600 + mi * 60 + sec) *
                SL_US_PER_SEC +
            frac;
        if (tries == 0 && us > now_us + 86400 * SL_US_PER_SEC) continue;
        m->ts_us = us;
        m->has_ts = true;
        *pi = i;
        return 0;
    }
    return -1;
}

/* A TAG at s[i]: name then ':' (followed by SP or end) or "[pid]" with an
 * optional ':'. Sets app_name/procid and moves *pi past the ": " or "] ". */
static bool parse_tag(const char *s, size_t len, size_t *pi, sl_syslog_msg *m) {
    size_t i = *pi, st = i;
    while (i < len && is_print((unsigned char)s[i]) && s[i] != '[' && s[i] != ':')
        i++;
    if (i == st || i - st > 48 || i >= len) return false;
    size_t tag_end = i;
    sl_str pid = {NULL, 0};
    if (s[i] == '[') {
        size_t ps = ++i;
        while (i < len && is_print((unsigned char)s[i]) && s[i] != ']')
            i++;
        if (i >= len || s[i] != ']' || i == ps || i - ps > 128) return false;
        pid.ptr = s + ps;
        pid.len = (uint32_t)(i - ps);
        i++;
        if (i < len && s[i] == ':') i++;
    } else if (s[i] == ':') {
        i++;
    } else {
        return false;
    }
    if (i < len && s[i] != ' ') return false;
    if (i < len) i++; /* the one SP before the content */
    m->app_name.ptr = s + st;
    m->app_name.len = (uint32_t)(tag_end - st);
    m->procid = pid;
    *pi = i;
    return true;
}

int sl_syslog_parse_3164(sl_syslog_parser *p, const char *s, size_t len, int64_t now_us,
                         sl_syslog_msg *m, sl_error *err) {
    (void)p, (void)err;
    memset(m, 0, sizeof *m);
    len = trim_eol(s, len);
    size_t i = 0;
    m->pri = 13;
    if (len && s[0] == '<' && parse_pri(s, len, &i, &m->pri, NULL) != 0) {
        i = 0;
        m->pri = 13;
    }
    m->facility = m->pri >> 3;
    m->severity = m->pri & 7;
    size_t after_pri = i;
    bool ts = false;
    if (i + 4 < len && is_digit(s[i]) && s[i + 4] == '-') {
        ts = parse_rfc3339(s, len, &i, m, NULL) == 0 && (i == len || s[i] == ' ');
        if (!ts) {
            i = after_pri;
            m->has_ts = false;
            m->ts_us = 0;
            m->tz_offset_min = 0;
        }
    } else if (i < len) {
        ts = parse_bsd_ts(s, len, &i, now_us, m) == 0;
    }
    if (ts) {
        while (i < len && s[i] == ' ')
            i++;
        size_t w = i;
        if (!parse_tag(s, len, &i, m)) {
            while (i < len && s[i] != ' ')
                i++;
            if (i > w) {
                m->hostname.ptr = s + w;
                m->hostname.len = (uint32_t)(i - w);
            }
            while (i < len && s[i] == ' ')
                i++;
            parse_tag(s, len, &i, m);
        }
    } else {
        parse_tag(s, len, &i, m);
    }
    m->msg.ptr = s + i;
    m->msg.len = (uint32_t)(len - i);
    if (m->msg.len >= 3 && memcmp(m->msg.ptr, "\xEF\xBB\xBF", 3) == 0)
        set_msg(m, m->msg.ptr, m->msg.len);
    return 0;
}

/* "<" 1-3 digits ">" [1-9] 0-2 digits SP */
static bool looks_5424(const char *s, size_t len) {
    size_t i = 1;
    if (len < 5 || s[0] != '<') return false;
    while (i < len && i < 4 && is_digit(s[i]))
        i++;
    if (i == 1 || i >= len || s[i] != '>') return false;
    i++;
    if (i >= len || s[i] < '1' || s[i] > '9') return false;
    size_t v = i;
    while (i < len && i - v < 3 && is_digit(s[i]))
        i++;
    return i < len && s[i] == ' ';
}

int sl_syslog_parse(sl_syslog_parser *p, const char *line, size_t len, int64_t now_us,
                    sl_syslog_msg *out, sl_error *err) {
    if (looks_5424(line, len)) return sl_syslog_parse_5424(p, line, len, out, err);
    return sl_syslog_parse_3164(p, line, len, now_us, out, err);
}

/* ---- batch adapter --------------------------------------------------------- */

enum { F_PRI, F_FAC, F_SEV, F_TS, F_HOST, F_APP, F_PROCID, F_MSGID, F_MSG, F_SD, F_N };
static const char *const field_names[F_N] = {"pri",      "facility",       "severity", "timestamp",
                                             "hostname", "app_name",       "procid",   "msgid",
                                             "msg",      "structured_data"};

typedef struct sd_col {
    int col;
    const char *name; /* after "sd." */
    size_t len;
} sd_col;

/* Writes v as a quoted JSON string at out (room for 6 bytes per input byte
 * + 2 is ensured by the caller); returns the bytes written. Input is UTF-8
 * (SD-IDs and names are ASCII, values were validated), so only '"', '\\'
 * and control bytes need escapes. */
static size_t json_str(char *out, const sl_str *v) {
    static const char hex[] = "0123456789abcdef";
    size_t o = 0;
    out[o++] = '"';
    for (uint32_t i = 0; i < v->len; i++) {
        unsigned char c = (unsigned char)v->ptr[i];
        if (c >= 0x20 && c != '"' && c != '\\') {
            out[o++] = (char)c;
            continue;
        }
        out[o++] = '\\';
        switch (c) {
        case '"':
            out[o++] = '"';
            break;
        case '\\':
            out[o++] = '\\';
            break;
        case '\n':
            out[o++] = 'n';
            break;
        case '\t':
            out[o++] = 't';
            break;
        case '\r':
            out[o++] = 'r';
            break;
        default:
            out[o++] = 'u';
            out[o++] = '0';
            out[o++] = '0';
            out[o++] = hex[c >> 4];
            out[o++] = hex[c & 15];
        }
    }
    out[o++] = '"';
    return o;
}

/* The SD section as {"id":{"name":"value",...},...}, copied into arena. */
static int sd_json(sl_syslog_parser *p, const sl_syslog_msg *m, sl_arena *arena, sl_str *out) {
    size_t need = 2;
    for (int e = 0; e < m->nsd; e++)
        need += (size_t)m->sd[e].id.len * 6 + 24;
    for (int k = 0; k < m->nparams; k++)
        need += ((size_t)m->params[k].name.len + m->params[k].value.len) * 6 + 24;
    if (need > p->json_cap) {
        char *n = realloc(p->json, need);
        if (!n) return SL_ENOMEM;
        p->json = n;
        p->json_cap = need;
    }
    char *o = p->json;
    size_t n = 0;
    o[n++] = '{';
    for (int e = 0; e < m->nsd; e++) {
        const sl_syslog_element *el = &m->sd[e];
        if (e) o[n++] = ',';
        n += json_str(o + n, &el->id);
        o[n++] = ':';
        o[n++] = '{';
        for (int k = 0; k < el->nparams; k++) {
            const sl_syslog_param *q = &m->params[el->first_param + k];
            if (k) o[n++] = ',';
            n += json_str(o + n, &q->name);
            o[n++] = ':';
            n += json_str(o + n, &q->value);
        }
        o[n++] = '}';
    }
    o[n++] = '}';
    out->ptr = sl_arena_strdup(arena, o, n);
    out->len = (uint32_t)n;
    return 0;
}

/* The text of a value that did not cast, for the bad-record reason. */
typedef struct fail_text {
    char text[72];
} fail_text;

/* Stores a string field into column c of row r. Strings outside `keep`
 * (the line) are copied into the arena. Other types are cast; on failure
 * the text goes to *ft. */
static int put_str(sl_batch *b, int c, uint32_t r, sl_str v, const char *keep, size_t keep_len,
                   fail_text *ft) {
    sl_column *col = &b->col[c];
    if (!v.ptr) return 0; /* stays NULL */
    if (col->type == SL_T_STRING) {
        const char *ptr = v.ptr;
        if (!keep || !(v.ptr >= keep && v.ptr + v.len <= keep + keep_len))
            ptr = sl_arena_strdup(b->arena, v.ptr, v.len);
        sl_col_set_str(col, r, ptr, v.len);
        return 0;
    }
    if (sl_logfmt_cast(col, r, v.ptr, v.len) == 0) return 0;
    snprintf(ft->text, sizeof ft->text, "%.*s%s", v.len > 64 ? 64 : (int)v.len, v.ptr,
             v.len > 64 ? "..." : "");
    return SL_ETYPE;
}

static int put_int(sl_batch *b, int c, uint32_t r, int64_t v, fail_text *ft) {
    sl_column *col = &b->col[c];
    if (col->type == SL_T_INT) {
        sl_col_set_int(col, r, v);
        return 0;
    }
    if (col->type == SL_T_DOUBLE) {
        sl_col_set_double(col, r, (double)v);
        return 0;
    }
    char tmp[24];
    int n = sl_fmt_i64(tmp, v);
    sl_str s = {tmp, (uint32_t)n};
    return put_str(b, c, r, s, NULL, 0, ft);
}

static int put_ts(sl_batch *b, int c, uint32_t r, const sl_syslog_msg *m, fail_text *ft) {
    sl_column *col = &b->col[c];
    if (!m->has_ts) return 0;
    if (col->type == SL_T_TS) {
        sl_col_set_int(col, r, m->ts_us);
        return 0;
    }
    char tmp[48];
    int n = sl_time_format_iso_us(m->ts_us, tmp, sizeof tmp);
    sl_str s = {tmp, (uint32_t)n};
    return put_str(b, c, r, s, NULL, 0, ft);
}

size_t sl_syslog_parse_lines(sl_syslog_parser *p, const char *buf, size_t len, int32_t part,
                             int64_t base_pos, int64_t ingest_us, sl_batch *b, sl_bad_record_fn bad,
                             void *ud) {
    int fcol[F_N];
    for (int f = 0; f < F_N; f++)
        fcol[f] = sl_schema_find(&b->schema, field_names[f]);
    sd_col sdc[SL_MAX_COLUMNS];
    int nsdc = 0;
    for (int c = 0; c < b->schema.n; c++)
        if (strncmp(b->schema.f[c].name, "sd.", 3) == 0) {
            sdc[nsdc].col = c;
            sdc[nsdc].name = b->schema.f[c].name + 3;
            sdc[nsdc].len = strlen(sdc[nsdc].name);
            nsdc++;
        }
    size_t off = 0;
    sl_error err;
    char reason[SL_ERROR_MAX + 64];
    const char *line;
    size_t ll;
    int64_t pos;
    while (b->n < b->cap && sl_next_line(buf, len, &off, base_pos, &line, &ll, &pos)) {
        if (ll == 0 || (line[0] != '<' && sl_line_is_blank(line, ll))) continue;
        if (ll > UINT32_MAX) {
            if (bad) bad(ud, line, ll, part, pos, "syslog: line longer than 4 GiB");
            continue;
        }
        sl_syslog_msg m;
        err.code = 0;
        err.msg[0] = 0;
        if (sl_syslog_parse(p, line, ll, ingest_us, &m, &err) != 0) {
            if (bad) {
                snprintf(reason, sizeof reason, "syslog: %s", err.msg);
                bad(ud, line, ll, part, pos, reason);
            }
            continue;
        }
        uint32_t r = sl_batch_append_null_row(b);
        int failed = -1; /* column whose cast failed */
        fail_text ft = {{0}};
#define PUT(f, expr)                                                                               \
    if (failed < 0 && fcol[f] >= 0 && (expr) != 0) failed = fcol[f]
        PUT(F_PRI, put_int(b, fcol[F_PRI], r, m.pri, &ft));
        PUT(F_FAC, put_int(b, fcol[F_FAC], r, m.facility, &ft));
        PUT(F_SEV, put_int(b, fcol[F_SEV], r, m.severity, &ft));
        PUT(F_TS, put_ts(b, fcol[F_TS], r, &m, &ft));
        PUT(F_HOST, put_str(b, fcol[F_HOST], r, m.hostname, line, ll, &ft));
        PUT(F_APP, put_str(b, fcol[F_APP], r, m.app_name, line, ll, &ft));
        PUT(F_PROCID, put_str(b, fcol[F_PROCID], r, m.procid, line, ll, &ft));
        PUT(F_MSGID, put_str(b, fcol[F_MSGID], r, m.msgid, line, ll, &ft));
        PUT(F_MSG, put_str(b, fcol[F_MSG], r, m.msg, line, ll, &ft));
#undef PUT
        if (failed < 0 && fcol[F_SD] >= 0 && m.nsd > 0) {
            sl_str js;
            if (sd_json(p, &m, b->arena, &js) != 0) {
                for (int k = 0; k < b->schema.n; k++)
                    b->col[k].null[r] = 1;
                b->n--;
                if (bad) bad(ud, line, ll, part, pos, "syslog: out of memory");
                continue;
            }
            if (put_str(b, fcol[F_SD], r, js, js.ptr, js.len, &ft) != 0) failed = fcol[F_SD];
        }
        for (int k = 0; failed < 0 && k < nsdc; k++) {
            const sl_syslog_param *hit = NULL;
            for (int e = 0; e < m.nsd; e++) {
                const sl_syslog_element *el = &m.sd[e];
                if (el->id.len + 1 >= sdc[k].len ||
                    memcmp(el->id.ptr, sdc[k].name, el->id.len) != 0 ||
                    sdc[k].name[el->id.len] != '.')
                    continue;
                const char *pn = sdc[k].name + el->id.len + 1;
                size_t pl = sdc[k].len - el->id.len - 1;
                for (int q = 0; q < el->nparams; q++) {
                    const sl_syslog_param *pp = &m.params[el->first_param + q];
                    if (pp->name.len == pl && memcmp(pp->name.ptr, pn, pl) == 0) hit = pp;
                }
            }
            if (hit && put_str(b, sdc[k].col, r, hit->value, line, ll, &ft) != 0)
                failed = sdc[k].col;
        }
        if (failed >= 0) {
            for (int k = 0; k < b->schema.n; k++)
                b->col[k].null[r] = 1;
            b->n--;
            if (bad) {
                const sl_field *fd = &b->schema.f[failed];
                snprintf(reason, sizeof reason, "syslog: field '%s': expected %s, got '%s'",
                         fd->name, sl_type_name(fd->type), ft.text);
                bad(ud, line, ll, part, pos, reason);
            }
            continue;
        }
        b->part[r] = part;
        b->pos[r] = pos;
        b->ingest[r] = ingest_us;
        b->raw[r].ptr = line;
        b->raw[r].len = (uint32_t)ll;
    }
    /* the contract in json.h: whole lines only, and never past a full batch */
    assert(off <= len && (off == 0 || buf[off - 1] == '\n') && b->n <= b->cap);
    return off;
}
