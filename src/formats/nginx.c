/*
 * nginx.c - the combined access log (see nginx.h).
 *
 * One left-to-right scan per line splits it into at most NF field views;
 * then each column the schema asked for is filled from its field, cast by
 * its type (sl_logfmt_cast, the time by clf_time). Which field feeds which
 * column is settled once, in sl_nginx_parser_new, so a row costs no name
 * look-up. A row that fails half-way is rolled back whole (no partial rows).
 */
#include "formats/nginx.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/mem.h"
#include "core/timeutil.h"
#include "formats/logfmt.h"

enum {
    NF_ADDR,
    NF_USER,
    NF_TIME,
    NF_METHOD,
    NF_PATH,
    NF_PROTO,
    NF_REQUEST,
    NF_STATUS,
    NF_BYTES,
    NF_REFERER,
    NF_UA,
    NF_RTIME,
    NF
};

static const struct {
    const char *name;
    sl_type type;
    bool dash_null; /* "-" is NULL */
} fields[NF] = {
    {"remote_addr", SL_T_STRING, false},
    {"remote_user", SL_T_STRING, true},
    {"time", SL_T_TS, false},
    {"method", SL_T_STRING, false},
    {"path", SL_T_STRING, false},
    {"protocol", SL_T_STRING, false},
    {"request", SL_T_STRING, false},
    {"status", SL_T_INT, false},
    {"bytes", SL_T_INT, true},
    {"referer", SL_T_STRING, true},
    {"user_agent", SL_T_STRING, true},
    {"request_time", SL_T_DOUBLE, true},
};

struct sl_nginx_parser {
    int ncol;
    int field[SL_MAX_COLUMNS]; /* column -> NF_* */
    sl_schema schema;
    char reason[256];
};

void sl_nginx_schema(sl_schema *s) {
    sl_schema_init(s);
    for (int k = 0; k < NF; k++)
        if (k != NF_REQUEST) sl_schema_add(s, fields[k].name, fields[k].type);
}

sl_nginx_parser *sl_nginx_parser_new(const sl_schema *schema, sl_error *err) {
    sl_nginx_parser *p = sl_xcalloc(1, sizeof *p);
    p->schema = *schema;
    p->ncol = schema->n;
    for (int c = 0; c < schema->n; c++) {
        int k = 0;
        while (k < NF && strcmp(fields[k].name, schema->f[c].name) != 0)
            k++;
        if (k == NF) {
            sl_error_set(err, SL_EINVAL,
                         "nginx: no field '%s' (fields: remote_addr, remote_user, time, method, "
                         "path, protocol, request, status, bytes, referer, user_agent, "
                         "request_time)",
                         schema->f[c].name);
            free(p);
            return NULL;
        }
        p->field[c] = k;
    }
    return p;
}

void sl_nginx_parser_free(sl_nginx_parser *p) { free(p); }

static int num2(const char *s) {
    return s[0] >= '0' && s[0] <= '9' && s[1] >= '0' && s[1] <= '9' ? (s[0] - '0') * 10 + s[1] - '0'
                                                                    : -1;
}

/* "07/Dec/2026:06:25:24 +0100" (exactly this layout) -> µs. */
static bool clf_time(const char *s, size_t n, int64_t *us) {
    static const char mons[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
    if (n != 26 || s[2] != '/' || s[6] != '/' || s[11] != ':' || s[14] != ':' || s[17] != ':' ||
        s[20] != ' ' || (s[21] != '+' && s[21] != '-'))
        return false;
    int d = num2(s), y1 = num2(s + 7), y2 = num2(s + 9), h = num2(s + 12), mi = num2(s + 15),
        sec = num2(s + 18), oh = num2(s + 22), om = num2(s + 24), m = -1;
    for (int k = 0; k < 12; k++)
        if (!memcmp(s + 3, mons + 3 * k, 3)) m = k + 1;
    if (d < 1 || y1 < 0 || y2 < 0 || h < 0 || h > 23 || mi < 0 || mi > 59 || sec < 0 || sec > 60 ||
        oh < 0 || oh > 23 || om < 0 || om > 59 || m < 0)
        return false;
    int y = y1 * 100 + y2;
    static const int md[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    if (d > md[m - 1] + (m == 2 && leap)) return false;
    int64_t off = (s[21] == '-' ? -1 : 1) * (oh * 3600 + om * 60);
    int64_t secs =
        sl_days_from_civil(y, (unsigned)m, (unsigned)d) * 86400 + h * 3600 + mi * 60 + sec - off;
    *us = secs * SL_US_PER_SEC;
    return true;
}

typedef struct {
    const char *p;
    uint32_t n;
} fv;

/* A quoted field at *i (on its '"'): its body. Backslash escapes (Apache's \")
 * are kept as written. */
static bool quoted(const char *l, size_t ll, size_t *i, fv *out) {
    if (*i >= ll || l[*i] != '"') return false;
    size_t b = ++*i;
    while (*i < ll && l[*i] != '"') {
        if (l[*i] == '\\' && *i + 1 < ll) ++*i;
        ++*i;
    }
    if (*i >= ll) return false;
    *out = (fv){l + b, (uint32_t)(*i - b)};
    ++*i;
    return true;
}

static bool token(const char *l, size_t ll, size_t *i, fv *out) {
    size_t b = *i;
    while (*i < ll && l[*i] != ' ' && l[*i] != '\t')
        ++*i;
    *out = (fv){l + b, (uint32_t)(*i - b)};
    return *i > b;
}

static bool space(const char *l, size_t ll, size_t *i) {
    if (*i >= ll || (l[*i] != ' ' && l[*i] != '\t')) return false;
    while (*i < ll && (l[*i] == ' ' || l[*i] == '\t'))
        ++*i;
    return true;
}

/* Splits a line into f. NULL, or the reason it is not a combined log line. */
static const char *split(const char *l, size_t ll, fv *f) {
    size_t i = 0;
    fv ident;
    memset(f, 0, NF * sizeof *f);
    if (!token(l, ll, &i, &f[NF_ADDR]) || !space(l, ll, &i) || !token(l, ll, &i, &ident) ||
        !space(l, ll, &i) || !token(l, ll, &i, &f[NF_USER]) || !space(l, ll, &i))
        return "nginx: expected remote address, ident and user before the time";
    if (i >= ll || l[i] != '[') return "nginx: expected '[' before the time";
    const char *close = memchr(l + i, ']', ll - i);
    if (!close) return "nginx: the time has no closing ']'";
    f[NF_TIME] = (fv){l + i + 1, (uint32_t)(close - l - i - 1)};
    i = (size_t)(close - l) + 1;
    if (!space(l, ll, &i) || !quoted(l, ll, &i, &f[NF_REQUEST]))
        return "nginx: expected the quoted request after the time";
    if (!space(l, ll, &i) || !token(l, ll, &i, &f[NF_STATUS]))
        return "nginx: expected the status after the request";
    if (!space(l, ll, &i) || !token(l, ll, &i, &f[NF_BYTES]))
        return "nginx: expected the bytes sent after the status";
    if (!space(l, ll, &i) || !quoted(l, ll, &i, &f[NF_REFERER]))
        return "nginx: expected the quoted referer after the bytes sent";
    if (!space(l, ll, &i) || !quoted(l, ll, &i, &f[NF_UA]))
        return "nginx: expected the quoted user agent after the referer";
    fv rt;
    if (space(l, ll, &i) && token(l, ll, &i, &rt)) {
        bool num = rt.n == 1 && rt.p[0] == '-';
        for (uint32_t k = 0; k < rt.n && !num; k++)
            num = (rt.p[k] >= '0' && rt.p[k] <= '9') || rt.p[k] == '.';
        if (num) f[NF_RTIME] = rt;
    }
    /* the request line: METHOD TARGET PROTOCOL, or less */
    fv r = f[NF_REQUEST];
    const char *sp1 = memchr(r.p, ' ', r.n);
    if (sp1) {
        const char *rest = sp1 + 1, *end = r.p + r.n;
        const char *sp2 = memchr(rest, ' ', (size_t)(end - rest));
        f[NF_METHOD] = (fv){r.p, (uint32_t)(sp1 - r.p)};
        if (sp2) {
            f[NF_PATH] = (fv){rest, (uint32_t)(sp2 - rest)};
            f[NF_PROTO] = (fv){sp2 + 1, (uint32_t)(end - sp2 - 1)};
            if (memchr(f[NF_PROTO].p, ' ', f[NF_PROTO].n) || !f[NF_METHOD].n || !f[NF_PATH].n)
                f[NF_METHOD] = f[NF_PATH] = f[NF_PROTO] = (fv){NULL, 0};
        } else {
            f[NF_PATH] = (fv){rest, (uint32_t)(end - rest)};
        }
    }
    return NULL;
}

size_t sl_nginx_parse_lines(sl_nginx_parser *p, const char *buf, size_t len, int32_t part,
                            int64_t base_pos, int64_t ingest_us, sl_batch *b, sl_bad_record_fn bad,
                            void *ud) {
    size_t off = 0;
    const char *line;
    size_t ll;
    int64_t pos;
    fv f[NF];
    while (b->n < b->cap && sl_next_line(buf, len, &off, base_pos, &line, &ll, &pos)) {
        if (ll == 0 || sl_line_is_blank(line, ll)) continue;
        const char *why = split(line, ll, f);
        if (why) {
            if (bad) bad(ud, line, ll, part, pos, why);
            continue;
        }
        uint32_t r = sl_batch_append_null_row(b);
        int failed = -1;
        for (int c = 0; c < p->ncol && failed < 0; c++) {
            int k = p->field[c];
            fv v = f[k];
            if (!v.p || (fields[k].dash_null && v.n == 1 && v.p[0] == '-')) continue;
            sl_column *col = &b->col[c];
            if (k == NF_TIME && col->type == SL_T_TS) {
                int64_t us;
                if (!clf_time(v.p, v.n, &us)) {
                    failed = c;
                    break;
                }
                sl_col_set_int(col, r, us);
            } else if (sl_logfmt_cast(col, r, v.p, v.n) != 0) {
                failed = c;
            }
        }
        if (failed >= 0) {
            for (int k = 0; k < b->schema.n; k++)
                b->col[k].null[r] = 1;
            b->n--;
            if (bad) {
                fv v = f[p->field[failed]];
                snprintf(p->reason, sizeof p->reason, "nginx: field '%s': expected %s, got '%.*s'",
                         p->schema.f[failed].name, sl_type_name(p->schema.f[failed].type),
                         v.n > 64 ? 64 : (int)v.n, v.p);
                bad(ud, line, ll, part, pos, p->reason);
            }
            continue;
        }
        b->part[r] = part;
        b->pos[r] = pos;
        b->ingest[r] = ingest_us;
        b->raw[r].ptr = line;
        b->raw[r].len = (uint32_t)ll;
    }
    return off;
}
