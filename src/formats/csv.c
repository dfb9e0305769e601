/*
 * csv.c - RFC 4180 CSV: a record reader and a batch parser over one scanner.
 *
 * The idea: one function, scan(), recognises one record starting at a byte
 * offset and reports either the record (fields as views, or offsets into a
 * reused unescape store for quoted fields with ""), "need more input" (the
 * record is not complete in a streaming buffer), or an error with its
 * position and a resume point. The whole-buffer reader (sl_csv) calls it with
 * final = true, so a last record without a line ending counts; the streaming
 * batch parser (sl_csv_parser) calls it with final = false, so it consumes
 * only records whose line ending it has seen, and can be resumed at the
 * offset it returned.
 *
 * Error recovery skips to the next line, except for an unterminated quoted
 * field, which swallowed everything after it: there we resume at the line
 * after the one where the record began, so the records that the stray quote
 * hid are read again.
 *
 * Nothing is allocated per record: the field array and the unescape store
 * grow to the largest record seen and are reused.
 */
#include "formats/csv.h"

#include <assert.h>
#include <ctype.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/mem.h"
#include "core/timeutil.h"

#define NO_OFF ((size_t)-1)

typedef struct csv_tok {
    char delim;
    sl_str *f;       /* fields of the current record */
    size_t *soff;    /* offset in store, or NO_OFF if f[k] is a view into the input */
    uint8_t *quoted; /* field k was quoted */
    int nf, fcap;
    char *store; /* unescaped quoted fields */
    size_t sn, scap;
} csv_tok;

/* SCAN_NOMEM: a field longer than 4 GiB (a failed allocation aborts, see core/mem.h) */
enum { SCAN_END = 0, SCAN_REC = 1, SCAN_MORE = 2, SCAN_ERR = -1, SCAN_NOMEM = -2 };

typedef struct scan_out {
    size_t start;    /* where the record begins (after skipped empty lines) */
    size_t body_end; /* end of the record without its line ending */
    size_t next;     /* where the next record may begin */
    int blank_lines; /* empty lines skipped before the record */
    int nl;          /* line endings in [start, next) */
    const char *why; /* SCAN_ERR: what is wrong */
    size_t err_at;   /* SCAN_ERR: byte offset of the problem */
    int err_line;    /* SCAN_ERR: line of the problem, relative to the record's first (0) */
    int err_col;     /* SCAN_ERR: 1-based byte column of the problem */
} scan_out;

static void tok_fini(csv_tok *t) {
    free(t->f);
    free(t->soff);
    free(t->quoted);
    free(t->store);
    memset(t, 0, sizeof *t);
}

static inline int tok_push(csv_tok *t, const char *p, size_t len, size_t soff, uint8_t quoted) {
    if (t->nf == t->fcap) {
        int ncap = t->fcap ? t->fcap * 2 : 16;
        t->f = sl_xreallocarray(t->f, (size_t)ncap, sizeof *t->f);
        t->soff = sl_xreallocarray(t->soff, (size_t)ncap, sizeof *t->soff);
        t->quoted = sl_xrealloc(t->quoted, (size_t)ncap);
        t->fcap = ncap;
    }
    assert(t->nf < t->fcap);
    if (len > UINT32_MAX) return -1;
    t->f[t->nf].ptr = p;
    t->f[t->nf].len = (uint32_t)len;
    t->soff[t->nf] = soff;
    t->quoted[t->nf] = quoted;
    t->nf++;
    return 0;
}

static void store_add(csv_tok *t, const char *p, size_t n) {
    if (t->scap - t->sn < n) {
        size_t ncap = t->scap ? t->scap : 256;
        while (ncap - t->sn < n)
            ncap *= 2;
        t->store = sl_xrealloc(t->store, ncap);
        t->scap = ncap;
    }
    assert(t->scap - t->sn >= n);
    memcpy(t->store + t->sn, p, n);
    t->sn += n;
}

static int count_nl(const char *buf, size_t a, size_t b) {
    int n = 0;
    while (a < b) {
        const char *p = memchr(buf + a, '\n', b - a);
        if (!p) break;
        n++;
        a = (size_t)(p - buf) + 1;
    }
    return n;
}

/* Fills o for an error at `at` (inside the record that began at o->start). */
static int scan_error(const char *buf, size_t len, bool final, scan_out *o, const char *why,
                      size_t at, bool unterminated) {
    size_t line_start = o->start;
    int line = 0;
    for (size_t k = o->start; k < at; k++)
        if (buf[k] == '\n') {
            line++;
            line_start = k + 1;
        }
    o->why = why;
    o->err_at = at;
    o->err_line = line;
    o->err_col = (int)(at - line_start + 1);
    size_t from = unterminated ? o->start : at;
    const char *nl = memchr(buf + from, '\n', len - from);
    if (!nl && !final) return SCAN_MORE; /* wait for the whole bad line */
    o->next = nl ? (size_t)(nl - buf) + 1 : len;
    o->body_end = nl ? (size_t)(nl - buf) : len;
    if (o->body_end > o->start && buf[o->body_end - 1] == '\r') o->body_end--;
    o->nl = count_nl(buf, o->start, o->next);
    return SCAN_ERR;
}

/* Scans one record at buf[i..len); see the file comment. */
static int scan(csv_tok *t, const char *buf, size_t len, size_t i, bool final, scan_out *o) {
    const char delim = t->delim;
    memset(o, 0, sizeof *o);
    for (;;) { /* empty lines */
        if (i < len && buf[i] == '\n') {
            i++;
        } else if (i + 1 < len && buf[i] == '\r' && buf[i + 1] == '\n') {
            i += 2;
        } else if (i + 1 == len && buf[i] == '\r' && final) {
            i++;
        } else {
            break;
        }
        o->blank_lines++;
    }
    o->start = i;
    if (i >= len) {
        o->next = len;
        return SCAN_END;
    }
    if (i + 1 == len && buf[i] == '\r') return SCAN_MORE; /* "\r" then maybe "\n" */
    t->nf = 0;
    t->sn = 0;
    int nl = 0;
    for (;;) {
        if (i < len && buf[i] == '"') {
            size_t q0 = i++, seg = i, sbeg = t->sn;
            bool copied = false;
            for (;;) {
                while (i < len && buf[i] != '"') {
                    if (buf[i] == '\n') nl++;
                    i++;
                }
                if (i == len) {
                    if (!final) return SCAN_MORE;
                    return scan_error(buf, len, final, o, "unterminated quoted field", q0, true);
                }
                if (i + 1 < len && buf[i + 1] == '"') { /* "" is one quote */
                    store_add(t, buf + seg, i + 1 - seg);
                    copied = true;
                    i += 2;
                    seg = i;
                    continue;
                }
                if (i + 1 == len && !final) return SCAN_MORE;
                break;
            }
            int rc;
            if (copied) {
                store_add(t, buf + seg, i - seg);
                rc = tok_push(t, NULL, t->sn - sbeg, sbeg, 1);
            } else {
                rc = tok_push(t, buf + q0 + 1, i - q0 - 1, NO_OFF, 1);
            }
            if (rc) return SCAN_NOMEM;
            i++; /* the closing quote */
            if (i == len) {
                o->body_end = o->next = len;
                break;
            }
            char c = buf[i];
            if (c == delim) {
                i++;
                continue;
            }
            if (c == '\n') {
                o->body_end = i;
                o->next = i + 1;
                nl++;
                break;
            }
            if (c == '\r' && i + 1 < len && buf[i + 1] == '\n') {
                o->body_end = i;
                o->next = i + 2;
                nl++;
                break;
            }
            if (c == '\r' && i + 1 == len) {
                if (!final) return SCAN_MORE;
                o->body_end = i;
                o->next = len;
                break;
            }
            return scan_error(buf, len, final, o, "unexpected character after a closing quote", i,
                              false);
        } else {
            size_t j = i;
            while (j < len && buf[j] != delim && buf[j] != '\n' && buf[j] != '"')
                j++;
            if (j < len && buf[j] == '"')
                return scan_error(buf, len, final, o, "quote inside an unquoted field", j, false);
            if (j < len && buf[j] == delim) {
                if (tok_push(t, buf + i, j - i, NO_OFF, 0)) return SCAN_NOMEM;
                i = j + 1;
                continue;
            }
            if (j == len && !final) return SCAN_MORE;
            size_t fe = j;
            if (fe > i && buf[fe - 1] == '\r') fe--;
            if (tok_push(t, buf + i, fe - i, NO_OFF, 0)) return SCAN_NOMEM;
            o->body_end = fe;
            o->next = j < len ? j + 1 : len;
            if (j < len) nl++;
            break;
        }
    }
    for (int k = 0; k < t->nf; k++)
        if (t->soff[k] != NO_OFF) t->f[k].ptr = t->store + t->soff[k];
    o->nl = nl;
    return SCAN_REC;
}

static bool valid_delim(char d) { return d != '"' && d != '\n' && d != '\r' && d != 0; }

static size_t bom_len(const char *buf, size_t len) {
    return len >= 3 && memcmp(buf, "\xEF\xBB\xBF", 3) == 0 ? 3 : 0;
}

/* ---- record reader ---------------------------------------------------- */

struct sl_csv {
    csv_tok t;
    const char *buf;
    size_t len, pos;
    int line; /* line number at pos */
    int64_t rec_off;
    int rec_line;
};

sl_csv *sl_csv_new(const char *buf, size_t len, char delim) {
    if (!valid_delim(delim)) return NULL;
    sl_csv *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    c->t.delim = delim;
    c->buf = buf;
    c->len = len;
    c->pos = bom_len(buf, len);
    c->line = 1;
    return c;
}

void sl_csv_free(sl_csv *c) {
    if (!c) return;
    tok_fini(&c->t);
    free(c);
}

int sl_csv_next(sl_csv *c, sl_str **fields, int *n, sl_error *err) {
    if (c->pos >= c->len) return 0;
    scan_out o;
    int rc = scan(&c->t, c->buf, c->len, c->pos, true, &o);
    c->line += o.blank_lines;
    if (rc == SCAN_END) {
        c->pos = c->len;
        return 0;
    }
    if (rc == SCAN_NOMEM) return sl_error_set(err, SL_ENOMEM, "out of memory reading CSV");
    c->rec_off = (int64_t)o.start;
    c->rec_line = c->line;
    c->line += o.nl;
    c->pos = o.next;
    if (rc == SCAN_ERR)
        return sl_error_set(err, SL_EPARSE, "line %d, column %d: %s", c->rec_line + o.err_line,
                            o.err_col, o.why);
    *fields = c->t.f;
    *n = c->t.nf;
    return 1;
}

int64_t sl_csv_record_offset(const sl_csv *c) { return c->rec_off; }
int sl_csv_record_line(const sl_csv *c) { return c->rec_line; }

/* ---- batch parser ----------------------------------------------------- */

struct sl_csv_parser {
    sl_schema schema;
    csv_tok t;
    int *hmap; /* header position -> schema column, or -1 */
    int nhdr;
    bool has_header;
    size_t max_record;
    char reason[SL_ERROR_MAX];
    bool widen, stop;
    sl_schema_change change;
};

void sl_csv_parser_set_widen(sl_csv_parser *p, bool on) { p->widen = on; }
const sl_schema_change *sl_csv_parser_change(const sl_csv_parser *p) {
    return p->change.nwidened ? &p->change : NULL;
}

sl_csv_parser *sl_csv_parser_new(const sl_schema *schema, char delim, sl_error *err) {
    if (!valid_delim(delim)) {
        sl_error_set(err, SL_EINVAL, "invalid CSV delimiter");
        return NULL;
    }
    sl_csv_parser *p = calloc(1, sizeof *p);
    if (!p) {
        sl_error_set(err, SL_ENOMEM, "out of memory");
        return NULL;
    }
    p->schema = *schema;
    p->t.delim = delim;
    p->max_record = 1 << 20;
    return p;
}

void sl_csv_parser_free(sl_csv_parser *p) {
    if (!p) return;
    tok_fini(&p->t);
    free(p->hmap);
    free(p);
}

void sl_csv_parser_set_max_record(sl_csv_parser *p, size_t bytes) { p->max_record = bytes; }
bool sl_csv_parser_has_header(const sl_csv_parser *p) { return p->has_header; }

static sl_str trim(sl_str s) {
    while (s.len && (s.ptr[0] == ' ' || s.ptr[0] == '\t'))
        s.ptr++, s.len--;
    while (s.len && (s.ptr[s.len - 1] == ' ' || s.ptr[s.len - 1] == '\t'))
        s.len--;
    return s;
}

int sl_csv_parser_set_header(sl_csv_parser *p, const sl_str *names, int n, sl_error *err) {
    int *m = malloc((size_t)(n ? n : 1) * sizeof *m);
    if (!m) return sl_error_set(err, SL_ENOMEM, "out of memory");
    bool used[SL_MAX_COLUMNS] = {false};
    for (int k = 0; k < n; k++) {
        sl_str h = trim(names[k]);
        m[k] = -1;
        for (int pass = 0; pass < 2 && m[k] < 0; pass++) {
            for (int c = 0; c < p->schema.n; c++) {
                const char *cn = p->schema.f[c].name;
                if (used[c] || strlen(cn) != h.len) continue;
                if (pass == 0 ? memcmp(cn, h.ptr, h.len) == 0
                              : strncasecmp(cn, h.ptr, h.len) == 0) {
                    m[k] = c;
                    used[c] = true;
                    break;
                }
            }
        }
    }
    free(p->hmap);
    p->hmap = m;
    p->nhdr = n;
    p->has_header = true;
    return 0;
}

long sl_csv_parser_read_header(sl_csv_parser *p, const char *buf, size_t len, sl_error *err) {
    scan_out o;
    int rc = scan(&p->t, buf, len, bom_len(buf, len), false, &o);
    if (rc == SCAN_NOMEM) return sl_error_set(err, SL_ENOMEM, "out of memory");
    if (rc == SCAN_ERR)
        return sl_error_set(err, SL_EPARSE, "CSV header: line %d, column %d: %s",
                            o.blank_lines + o.err_line + 1, o.err_col, o.why);
    if (rc != SCAN_REC) return 0;
    int e = sl_csv_parser_set_header(p, p->t.f, p->t.nf, err);
    return e ? e : (long)o.next;
}

static bool parse_i64(const char *s, size_t n, int64_t *out) {
    size_t i = 0;
    bool neg = false;
    if (i < n && (s[i] == '+' || s[i] == '-')) neg = s[i++] == '-';
    if (i == n) return false;
    uint64_t v = 0;
    for (; i < n; i++) {
        unsigned d = (unsigned)(s[i] - '0');
        if (d > 9) return false;
        if (v >= 1000000000000000000ULL) { /* 19+ digits: check for overflow */
            if (__builtin_mul_overflow(v, 10, &v) || __builtin_add_overflow(v, d, &v)) return false;
        } else {
            v = v * 10 + d;
        }
    }
    if (neg) {
        if (v > (uint64_t)INT64_MAX + 1) return false;
        *out = v == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)v;
    } else {
        if (v > (uint64_t)INT64_MAX) return false;
        *out = (int64_t)v;
    }
    return true;
}

static bool word_eq(const char *s, size_t n, const char *w) {
    return strlen(w) == n && strncasecmp(s, w, n) == 0;
}

bool sl_decimal_syntax(const char *s, size_t n) {
    size_t i = (n && (s[0] == '+' || s[0] == '-')) ? 1 : 0, digits = 0;
    while (i < n && s[i] >= '0' && s[i] <= '9')
        i++, digits++;
    if (i < n && s[i] == '.') {
        i++;
        while (i < n && s[i] >= '0' && s[i] <= '9')
            i++, digits++;
    }
    if (!digits) return false;
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        if (i < n && (s[i] == '+' || s[i] == '-')) i++;
        size_t ed = 0;
        while (i < n && s[i] >= '0' && s[i] <= '9')
            i++, ed++;
        if (!ed) return false;
    }
    return i == n;
}

static bool parse_double(const char *s, size_t n, double *out) {
    size_t i = (n && (s[0] == '+' || s[0] == '-')) ? 1 : 0;
    const char *w = s + i;
    size_t wn = n - i;
    bool word = word_eq(w, wn, "nan") || word_eq(w, wn, "inf") ||
                word_eq(w, wn, "infinity"); /* strtod reads these */
    if (!word && !sl_decimal_syntax(s, n)) return false;
    char tmp[128];
    if (n >= sizeof tmp) return false;
    memcpy(tmp, s, n);
    tmp[n] = 0;
    *out = strtod(tmp, NULL);
    return true;
}

static bool parse_bool(const char *s, size_t n, bool *out) {
    static const char *const yes[] = {"true", "t", "yes", "y", "1"};
    static const char *const no[] = {"false", "f", "no", "n", "0"};
    for (size_t k = 0; k < sizeof yes / sizeof yes[0]; k++) {
        if (word_eq(s, n, yes[k])) return *out = true, true;
        if (word_eq(s, n, no[k])) return *out = false, true;
    }
    return false;
}

/* Stores field k of the record into column c of row r; 0 or -1 with p->reason. */
static int cast(sl_csv_parser *p, int c, int k, sl_batch *b, uint32_t r) {
    sl_str f = p->t.f[k];
    sl_column *col = &b->col[c];
    sl_type ty = p->schema.f[c].type;
    if (f.len == 0 && !p->t.quoted[k]) return 0; /* NULL */
    if (ty == SL_T_STRING) {
        const char *s = p->t.soff[k] != NO_OFF ? sl_arena_strdup(b->arena, f.ptr, f.len) : f.ptr;
        sl_col_set_str(col, r, s, f.len);
        return 0;
    }
    sl_str v = trim(f);
    if (v.len == 0) return 0; /* NULL */
    bool ok = false;
    switch (ty) {
    case SL_T_INT: {
        int64_t x;
        double d;
        if ((ok = parse_i64(v.ptr, v.len, &x)))
            sl_col_set_int(col, r, x);
        else if (p->widen && parse_double(v.ptr, v.len, &d)) {
            p->change.widened[p->change.nwidened] = c;
            p->change.widened_to[p->change.nwidened++] = SL_T_DOUBLE;
            p->stop = true;
            return -1;
        }
        break;
    }
    case SL_T_DOUBLE: {
        double x;
        if ((ok = parse_double(v.ptr, v.len, &x))) sl_col_set_double(col, r, x);
        break;
    }
    case SL_T_BOOL: {
        bool x;
        if ((ok = parse_bool(v.ptr, v.len, &x))) sl_col_set_bool(col, r, x);
        break;
    }
    case SL_T_TS: {
        int64_t x;
        if (parse_i64(v.ptr, v.len, &x)) {
            ok = x <= INT64_MAX / SL_US_PER_MS && x >= INT64_MIN / SL_US_PER_MS;
            if (ok) sl_col_set_int(col, r, x * SL_US_PER_MS);
        } else if (sl_time_parse_iso(v.ptr, v.len, &x) == 0) {
            ok = true;
            sl_col_set_int(col, r, x);
        }
        break;
    }
    default:
        break;
    }
    if (ok) return 0;
    snprintf(p->reason, sizeof p->reason, "field '%s': expected %s, got '%.*s%s'",
             p->schema.f[c].name, sl_type_name(ty), (int)(v.len > 40 ? 40 : v.len), v.ptr,
             v.len > 40 ? "..." : "");
    return -1;
}

size_t sl_csv_parse_lines(sl_csv_parser *p, const char *buf, size_t len, int32_t part,
                          int64_t base_pos, int64_t ingest_us, sl_batch *b, sl_bad_record_fn bad,
                          void *ud) {
    size_t off = base_pos == 0 ? bom_len(buf, len) : 0;
    size_t consumed = 0;
    p->stop = false;
    p->change.nwidened = 0;
    while (off < len && b->n < b->cap) {
        scan_out o;
        int rc = scan(&p->t, buf, len, off, false, &o);
        if (rc == SCAN_END) {
            consumed = off = len;
            break;
        }
        if (rc == SCAN_MORE) {
            const char *nl = memchr(buf + o.start, '\n', len - o.start);
            if (len - o.start > p->max_record && nl) {
                /* Open quote over max_record bytes: give up on its first line. */
                size_t end = (size_t)(nl - buf);
                size_t be = end > o.start && buf[end - 1] == '\r' ? end - 1 : end;
                snprintf(p->reason, sizeof p->reason,
                         "unterminated quoted field (record longer than %zu bytes)", p->max_record);
                if (bad)
                    bad(ud, buf + o.start, be - o.start, part, base_pos + (int64_t)o.start,
                        p->reason);
                consumed = off = end + 1;
                continue;
            }
            if (o.blank_lines) consumed = o.start;
            break;
        }
        if (rc == SCAN_NOMEM) break; /* retried by the next call */
        const char *rec = buf + o.start;
        size_t rlen = o.body_end - o.start;
        int64_t pos = base_pos + (int64_t)o.start;
        consumed = off = o.next;
        if (rc == SCAN_ERR) {
            snprintf(p->reason, sizeof p->reason, "%s%s at byte %zu of the record",
                     p->has_header ? "" : "CSV header: ", o.why, o.err_at - o.start);
            if (bad) bad(ud, rec, rlen, part, pos, p->reason);
            continue;
        }
        if (!p->has_header) {
            if (sl_csv_parser_set_header(p, p->t.f, p->t.nf, NULL) != 0) {
                consumed = off = o.start;
                break;
            }
            continue;
        }
        if (p->t.nf != p->nhdr) {
            snprintf(p->reason, sizeof p->reason, "expected %d fields, got %d", p->nhdr, p->t.nf);
            if (bad) bad(ud, rec, rlen, part, pos, p->reason);
            continue;
        }
        uint32_t r = sl_batch_append_null_row(b);
        int k = 0;
        for (; k < p->nhdr; k++)
            if (p->hmap[k] >= 0 && cast(p, p->hmap[k], k, b, r) != 0) break;
        if (k < p->nhdr) {
            for (int c = 0; c < p->schema.n; c++)
                b->col[c].null[r] = 1;
            b->n--;
            if (p->stop) { /* widen the column, then resume at this record */
                consumed = o.start;
                break;
            }
            if (bad) bad(ud, rec, rlen, part, pos, p->reason);
            continue;
        }
        b->part[r] = part;
        b->pos[r] = pos;
        b->ingest[r] = ingest_us;
        b->raw[r].ptr = rec;
        b->raw[r].len = rlen > UINT32_MAX ? UINT32_MAX : (uint32_t)rlen;
    }
    assert(consumed <= len && b->n <= b->cap);
    return consumed;
}
