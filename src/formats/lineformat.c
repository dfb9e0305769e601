/*
 * lineformat.c - dispatch by format name; see lineformat.h.
 *
 * Most formats are stateless between calls and map straight to their
 * parser. CSV is not: which column is which depends on the header of the
 * partition a buffer came from. One sl_csv_parser is kept and re-pointed at
 * the right header whenever the part id changes (a part switch costs one
 * parse of the stored header line, nothing per record). Headers are stored
 * once per distinct text (a landing folder of 100k files with one header
 * keeps one copy) and part id -> header id lives in a hash map.
 */
#include "formats/lineformat.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/hash.h"
#include "core/mem.h"
#include "formats/csv.h"
#include "formats/json.h"
#include "formats/logfmt.h"
#include "formats/nginx.h"
#include "formats/regex.h"
#include "formats/syslog.h"

enum { F_JSON, F_SYSLOG, F_LOGFMT, F_REGEX, F_CSV, F_NGINX };

#define HDR_NEXT (-2) /* part state: the next record is the header */
#define HEAD_MAX (1 << 20)

typedef struct {
    char *text;
    size_t len;
} hdr_t;

typedef struct {
    sl_csv_parser *p;
    bool header;
    char delim;
    sl_hmap *part_hdr; /* part + 1 -> header id, or HDR_NEXT */
    sl_hmap *by_text;  /* hash of header text -> header id */
    hdr_t *h;
    int nh, caph;
    int loaded; /* header id set in p, -1 none */
    long (*read_head)(void *ud, int32_t part, char *buf, size_t cap);
    void *read_head_ud;
    char reason[SL_ERROR_MAX + 64];
    sl_schema schema;
    bool discover;
    sl_schema_change change; /* new header columns (discover) */
} csvl;

struct sl_line_format {
    int kind;
    sl_json_parser *json;
    sl_syslog_parser *syslog;
    sl_logfmt_parser *logfmt;
    sl_regex_parser *regex;
    sl_nginx_parser *nginx;
    csvl *csv;
};

const char *sl_line_format_names(void) { return "json|syslog|logfmt|regex|csv|nginx|combined"; }

/* ---- csv ------------------------------------------------------------------ */

static void csvl_free(csvl *c) {
    if (!c) return;
    sl_csv_parser_free(c->p);
    sl_hmap_free(c->part_hdr);
    sl_hmap_free(c->by_text);
    for (int i = 0; i < c->nh; i++)
        free(c->h[i].text);
    free(c->h);
    free(c);
}

static csvl *csvl_new(const sl_schema *schema, const sl_line_format_opts *o, sl_error *err) {
    csvl *c = sl_xcalloc(1, sizeof *c);
    c->header = o ? o->header : true;
    c->delim = o && o->delim ? o->delim : ',';
    c->loaded = -1;
    c->schema = *schema;
    if (o) c->read_head = o->read_head, c->read_head_ud = o->read_head_ud;
    c->p = sl_csv_parser_new(schema, c->delim, err);
    if (!c->p) goto fail;
    if (!c->header) { /* fixed column order */
        sl_str names[SL_MAX_COLUMNS];
        int n = 0;
        if (o && o->columns && o->ncolumns > 0) {
            if (o->ncolumns > SL_MAX_COLUMNS) {
                sl_error_set(err, SL_EINVAL, "csv: more than %d columns", SL_MAX_COLUMNS);
                goto fail;
            }
            for (; n < o->ncolumns; n++)
                names[n] = (sl_str){o->columns[n], (uint32_t)strlen(o->columns[n])};
        } else {
            for (; n < schema->n; n++)
                names[n] = (sl_str){schema->f[n].name, (uint32_t)strlen(schema->f[n].name)};
        }
        if (sl_csv_parser_set_header(c->p, names, n, err) != 0) goto fail;
        return c;
    }
    c->part_hdr = sl_hmap_new(64);
    c->by_text = sl_hmap_new(16);
    return c;
fail:
    csvl_free(c);
    return NULL;
}

/* Stores header text (deduplicated) and returns its id. */
static int hdr_store(csvl *c, const char *t, size_t n) {
    uint64_t h = sl_hash_bytes(t, n, 7);
    int64_t *id = sl_hmap_get(c->by_text, h);
    if (id) return (int)*id;
    if (c->nh == c->caph) {
        c->caph = c->caph ? c->caph * 2 : 8;
        c->h = sl_xreallocarray(c->h, (size_t)c->caph, sizeof *c->h);
    }
    c->h[c->nh].text = sl_xstrndup(t, n);
    c->h[c->nh].len = n;
    sl_hmap_put(c->by_text, h, c->nh, NULL);
    return c->nh++;
}

/* Points the parser at stored header id. */
static int hdr_load(csvl *c, int id) {
    if (c->loaded == id) return 0;
    sl_csv *r = sl_csv_new(c->h[id].text, c->h[id].len, c->delim);
    sl_str *f;
    int n;
    int rc =
        sl_csv_next(r, &f, &n, NULL) == 1 ? sl_csv_parser_set_header(c->p, f, n, NULL) : SL_EPARSE;
    sl_csv_free(r);
    if (rc == 0) c->loaded = id;
    return rc;
}

static bool ident(const char *s, size_t n) {
    if (n == 0 || n >= SL_NAME_MAX) return false;
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        bool alpha = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || ch == '_';
        if (!alpha && !(i > 0 && ch >= '0' && ch <= '9')) return false;
    }
    return true;
}

/* discover: lists the columns of header text t[0..n) that match no schema
 * column (by the parser's rule: exactly, else ignoring case) and can be
 * column names. Returns true if there are any. */
static bool csvl_discover(csvl *c, const char *t, size_t n) {
    c->change.nadded = 0;
    if (!c->discover) return false;
    sl_csv *r = sl_csv_new(t, n, c->delim);
    sl_str *f;
    int nf;
    if (r && sl_csv_next(r, &f, &nf, NULL) == 1) {
        for (int k = 0; k < nf; k++) {
            sl_str h = f[k];
            while (h.len && (h.ptr[0] == ' ' || h.ptr[0] == '\t'))
                h.ptr++, h.len--;
            while (h.len && (h.ptr[h.len - 1] == ' ' || h.ptr[h.len - 1] == '\t'))
                h.len--;
            if (!ident(h.ptr, h.len)) continue;
            bool known = false;
            for (int s = 0; s < c->schema.n && !known; s++)
                known = strlen(c->schema.f[s].name) == h.len &&
                        strncasecmp(c->schema.f[s].name, h.ptr, h.len) == 0;
            for (int a = 0; a < c->change.nadded && !known; a++)
                known = strlen(c->change.added[a].name) == h.len &&
                        strncasecmp(c->change.added[a].name, h.ptr, h.len) == 0;
            if (known || c->schema.n + c->change.nadded >= SL_MAX_COLUMNS) continue;
            sl_field *nf2 = &c->change.added[c->change.nadded++];
            memcpy(nf2->name, h.ptr, h.len);
            nf2->name[h.len] = 0;
            nf2->type = SL_T_STRING; /* the caller infers it from the records */
        }
    }
    sl_csv_free(r);
    return c->change.nadded > 0;
}

static void part_set(csvl *c, int32_t part, int64_t v) {
    int64_t *slot;
    if (!sl_hmap_put(c->part_hdr, (uint64_t)part + 1, v, &slot)) *slot = v;
}

/* Reads a header record at buf[0..len). >0: bytes consumed (header set and
 * remembered for part), 0: incomplete, <0: bad header (reported, its first
 * line skipped: returns -(bytes skipped), or SL_EAGAIN-like 0 if none). */
static long take_header(csvl *c, const char *buf, size_t len, int32_t part, int64_t pos,
                        sl_bad_record_fn bad, void *ud) {
    sl_error e = {0};
    long r = sl_csv_parser_read_header(c->p, buf, len, &e);
    c->loaded = -1;
    if (r > 0 && csvl_discover(c, buf, (size_t)r)) return 0; /* stop before the header */
    if (r > 0) {
        int id = hdr_store(c, buf, (size_t)r);
        c->loaded = id;
        part_set(c, part, id);
        return r;
    }
    if (r == 0) return 0;
    const char *nl = memchr(buf, '\n', len);
    if (!nl) return 0;
    size_t ll = (size_t)(nl - buf);
    if (bad) bad(ud, buf, ll && buf[ll - 1] == '\r' ? ll - 1 : ll, part, pos, e.msg);
    part_set(c, part, HDR_NEXT);
    return -(long)(ll + 1);
}

/* Reports every complete line as bad (header unknown); returns bytes. */
static size_t reject_lines(csvl *c, const char *buf, size_t len, int32_t part, int64_t base_pos,
                           sl_bad_record_fn bad, void *ud) {
    snprintf(c->reason, sizeof c->reason,
             "csv: header of this partition is unknown (reading began at byte %lld)",
             (long long)base_pos);
    size_t off = 0;
    for (;;) {
        const char *nl = memchr(buf + off, '\n', len - off);
        if (!nl) break;
        size_t ll = (size_t)(nl - buf) - off;
        if (ll && buf[off + ll - 1] == '\r') ll--;
        if (ll && bad) bad(ud, buf + off, ll, part, base_pos + (int64_t)off, c->reason);
        off = (size_t)(nl - buf) + 1;
    }
    return off;
}

static size_t csvl_parse(csvl *c, const char *buf, size_t len, int32_t part, int64_t base_pos,
                         int64_t ingest_us, sl_batch *b, sl_bad_record_fn bad, void *ud) {
    c->change.nadded = 0;
    if (!c->header)
        return sl_csv_parse_lines(c->p, buf, len, part, base_pos, ingest_us, b, bad, ud);
    size_t off = 0;
    for (;;) {
        int64_t *st = sl_hmap_get(c->part_hdr, (uint64_t)part + 1);
        if (st && *st >= 0) {
            if (hdr_load(c, (int)*st) != 0)
                return reject_lines(c, buf, len, part, base_pos, bad, ud);
            break;
        }
        if (base_pos + (int64_t)off == 0 || (st && *st == HDR_NEXT)) {
            long r = take_header(c, buf + off, len - off, part, base_pos + (int64_t)off, bad, ud);
            if (r == 0) return off; /* incomplete, or a new column (c->change) */
            if (r < 0) {
                off += (size_t)-r;
                continue; /* the next record is the header */
            }
            off += (size_t)r;
            break;
        }
        /* resumed mid-partition: fetch the header from the partition's start */
        if (c->read_head) {
            size_t cap = 64 * 1024;
            char *h = NULL;
            long got = 0, r = 0;
            for (;;) {
                h = sl_xrealloc(h, cap + 1);
                got = c->read_head(c->read_head_ud, part, h, cap);
                if (got <= 0) break;
                r = sl_csv_parser_read_header(c->p, h, (size_t)got, NULL);
                c->loaded = -1;
                if (r != 0 || (size_t)got < cap || cap >= HEAD_MAX) break;
                cap *= 4;
            }
            if (got > 0 && r == 0 &&
                (size_t)got < cap) { /* a header without its line end: the whole file */
                h[got] = '\n';
                r = sl_csv_parser_read_header(c->p, h, (size_t)got + 1, NULL);
                c->loaded = -1;
            }
            if (r > 0 && csvl_discover(c, h, (size_t)r)) {
                free(h);
                return 0; /* stop: the schema changes first */
            }
            if (r > 0) {
                int id = hdr_store(c, h, (size_t)r);
                c->loaded = id;
                part_set(c, part, id);
                free(h);
                break;
            }
            free(h);
        }
        return reject_lines(c, buf, len, part, base_pos, bad, ud);
    }
    return off + sl_csv_parse_lines(c->p, buf + off, len - off, part, base_pos + (int64_t)off,
                                    ingest_us, b, bad, ud);
}

/* ---- dispatch -------------------------------------------------------------- */

sl_line_format *sl_line_format_new_opts(const char *name, const sl_schema *schema,
                                        const char *const *paths, const sl_line_format_opts *opts,
                                        sl_error *err) {
    sl_line_format *f = sl_xcalloc(1, sizeof *f);
    if (!strcmp(name, "json")) {
        f->kind = F_JSON;
        f->json = sl_json_parser_new(schema, paths, err);
        if (!f->json) goto fail;
    } else if (!strcmp(name, "syslog")) {
        f->kind = F_SYSLOG;
        f->syslog = sl_syslog_parser_new();
    } else if (!strcmp(name, "logfmt")) {
        f->kind = F_LOGFMT;
        f->logfmt = sl_logfmt_parser_new(schema, err);
        if (!f->logfmt) goto fail;
    } else if (!strcmp(name, "regex")) {
        f->kind = F_REGEX;
        f->regex = sl_regex_parser_new(schema, opts ? opts->pattern : NULL, err);
        if (!f->regex) goto fail;
    } else if (!strcmp(name, "nginx") || !strcmp(name, "combined")) {
        f->kind = F_NGINX;
        f->nginx = sl_nginx_parser_new(schema, err);
        if (!f->nginx) goto fail;
    } else if (!strcmp(name, "csv")) {
        f->kind = F_CSV;
        f->csv = csvl_new(schema, opts, err);
        if (!f->csv) goto fail;
    } else {
        sl_error_set(err, SL_EINVAL, "unknown format '%s' (%s)", name, sl_line_format_names());
        goto fail;
    }
    return f;
fail:
    free(f);
    return NULL;
}

sl_line_format *sl_line_format_new(const char *name, const sl_schema *schema,
                                   const char *const *paths, sl_error *err) {
    return sl_line_format_new_opts(name, schema, paths, NULL, err);
}

size_t sl_line_format_parse(sl_line_format *f, const char *buf, size_t len, int32_t part,
                            int64_t base_pos, int64_t ingest_us, sl_batch *b, sl_bad_record_fn bad,
                            void *ud) {
    switch (f->kind) {
    case F_SYSLOG:
        return sl_syslog_parse_lines(f->syslog, buf, len, part, base_pos, ingest_us, b, bad, ud);
    case F_LOGFMT:
        return sl_logfmt_parse_lines(f->logfmt, buf, len, part, base_pos, ingest_us, b, bad, ud);
    case F_REGEX:
        return sl_regex_parse_lines(f->regex, buf, len, part, base_pos, ingest_us, b, bad, ud);
    case F_NGINX:
        return sl_nginx_parse_lines(f->nginx, buf, len, part, base_pos, ingest_us, b, bad, ud);
    case F_CSV:
        return csvl_parse(f->csv, buf, len, part, base_pos, ingest_us, b, bad, ud);
    default:
        return sl_json_parse_lines(f->json, buf, len, part, base_pos, ingest_us, b, bad, ud);
    }
}

void sl_line_format_free(sl_line_format *f) {
    if (!f) return;
    if (f->json) sl_json_parser_free(f->json);
    if (f->syslog) sl_syslog_parser_free(f->syslog);
    if (f->logfmt) sl_logfmt_parser_free(f->logfmt);
    sl_regex_parser_free(f->regex);
    sl_nginx_parser_free(f->nginx);
    csvl_free(f->csv);
    free(f);
}

void sl_line_format_set_evolve(sl_line_format *f, bool discover, bool widen) {
    if (f->json) {
        sl_json_parser_set_discover(f->json, discover);
        sl_json_parser_set_widen(f->json, widen);
    }
    if (f->csv) {
        f->csv->discover = discover;
        sl_csv_parser_set_widen(f->csv->p, widen);
    }
}

const sl_schema_change *sl_line_format_change(const sl_line_format *f) {
    if (f->json) return sl_json_parser_change(f->json);
    if (f->csv) return f->csv->change.nadded ? &f->csv->change : sl_csv_parser_change(f->csv->p);
    return NULL;
}

void sl_line_format_set_lenient_strings(sl_line_format *f, bool on) {
    if (f->json) sl_json_parser_set_lenient_strings(f->json, on);
}

void sl_line_format_syslog_schema(sl_schema *s) {
    static const struct {
        const char *n;
        sl_type t;
    } cols[] = {
        {"pri", SL_T_INT},       {"facility", SL_T_INT},    {"severity", SL_T_INT},
        {"timestamp", SL_T_TS},  {"hostname", SL_T_STRING}, {"app_name", SL_T_STRING},
        {"procid", SL_T_STRING}, {"msgid", SL_T_STRING},    {"structured_data", SL_T_STRING},
        {"msg", SL_T_STRING},
    };
    sl_schema_init(s);
    for (size_t i = 0; i < sizeof cols / sizeof cols[0]; i++)
        sl_schema_add(s, cols[i].n, cols[i].t);
}

bool sl_line_format_default_schema(const char *name, sl_schema *s) {
    if (!strcmp(name, "syslog"))
        sl_line_format_syslog_schema(s);
    else if (!strcmp(name, "nginx") || !strcmp(name, "combined"))
        sl_nginx_schema(s);
    else
        return false;
    return true;
}
