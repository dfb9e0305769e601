/*
 * infer.c - schema inference from a sample; see infer.h for the rules.
 *
 * Per field we only count kinds (no values are kept), so a sample of any
 * size costs a few counters per distinct field. Fields are found by a hash
 * of their name (core/hash.h) and kept in first-seen order. JSON records are
 * enumerated by the simdjson shim (sl_jsimd_each_root, json_simd.h); CSV
 * records by the sl_csv reader.
 */
#include "formats/infer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/hash.h"
#include "core/mem.h"
#include "core/timeutil.h"
#include "formats/csv.h"
#include "formats/json_simd.h"

#define INFER_MAX_FIELDS 1024

typedef struct {
    char name[SL_NAME_MAX];
    bool usable; /* an identifier that fits SL_NAME_MAX */
    int64_t n[SL_IK_NESTED + 1];
    int64_t ts; /* strings that parse as ISO 8601 */
} ifield;

struct sl_infer {
    ifield *f;
    int nf;
    sl_hmap *by_name;
    sl_jsimd *simd;
    int64_t records;
};

sl_infer *sl_infer_new(void) {
    sl_infer *in = sl_xcalloc(1, sizeof *in);
    in->f = sl_xcalloc(INFER_MAX_FIELDS, sizeof *in->f);
    in->by_name = sl_hmap_new(64);
    return in;
}

void sl_infer_free(sl_infer *in) {
    if (!in) return;
    free(in->f);
    sl_hmap_free(in->by_name);
    sl_jsimd_free(in->simd);
    free(in);
}

static bool ident(const char *s, size_t n) {
    if (n == 0 || n >= SL_NAME_MAX) return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
        if (!alpha && !(i > 0 && c >= '0' && c <= '9')) return false;
    }
    return true;
}

static ifield *field(sl_infer *in, const char *name, size_t nlen) {
    uint64_t h = sl_hash_bytes(name, nlen, 11);
    int64_t *id = sl_hmap_get(in->by_name, h);
    if (id) return &in->f[*id];
    if (in->nf == INFER_MAX_FIELDS) return NULL;
    ifield *f = &in->f[in->nf];
    f->usable = ident(name, nlen);
    size_t cp = nlen < SL_NAME_MAX - 1 ? nlen : SL_NAME_MAX - 1;
    memcpy(f->name, name, cp);
    f->name[cp] = 0;
    sl_hmap_put(in->by_name, h, in->nf++, NULL);
    return f;
}

void sl_infer_observe(sl_infer *in, const char *name, size_t nlen, sl_infer_kind kind,
                      const char *s, size_t slen) {
    ifield *f = field(in, name, nlen);
    if (!f) return;
    f->n[kind]++;
    int64_t us;
    if (kind == SL_IK_STRING && s && slen >= 10 && sl_time_parse_iso(s, slen, &us) == 0) f->ts++;
}

static bool word_eq(const char *s, size_t n, const char *w) {
    return strlen(w) == n && strncasecmp(s, w, n) == 0;
}

static bool is_int(const char *s, size_t n) {
    size_t i = (n && (s[0] == '+' || s[0] == '-')) ? 1 : 0;
    if (i == n || n - i > 18) return false; /* longer: may not fit int64 -> double */
    for (; i < n; i++)
        if (s[i] < '0' || s[i] > '9') return false;
    return true;
}

void sl_infer_observe_text(sl_infer *in, const char *name, size_t nlen, const char *s,
                           size_t slen) {
    while (slen && (*s == ' ' || *s == '\t'))
        s++, slen--;
    while (slen && (s[slen - 1] == ' ' || s[slen - 1] == '\t'))
        slen--;
    sl_infer_kind k = slen == 0                                               ? SL_IK_NULL
                      : word_eq(s, slen, "true") || word_eq(s, slen, "false") ? SL_IK_BOOL
                      : is_int(s, slen)                                       ? SL_IK_INT
                      : sl_decimal_syntax(s, slen)                            ? SL_IK_DOUBLE
                                                                              : SL_IK_STRING;
    sl_infer_observe(in, name, nlen, k, s, slen);
}

static void json_key(void *ud, const char *key, size_t klen, int kind, const char *s, size_t slen) {
    sl_infer_kind k;
    switch (kind) {
    case SL_JV_BOOL:
        k = SL_IK_BOOL;
        break;
    case SL_JV_INT:
        k = SL_IK_INT;
        break;
    case SL_JV_DOUBLE:
        k = SL_IK_DOUBLE;
        break;
    case SL_JV_STRING:
        k = SL_IK_STRING;
        break;
    case SL_JV_OBJECT:
    case SL_JV_ARRAY:
        k = SL_IK_NESTED;
        break;
    default:
        k = SL_IK_NULL;
        break;
    }
    sl_infer_observe(ud, key, klen, k, s, slen);
}

size_t sl_infer_json(sl_infer *in, const char *buf, size_t len, int64_t max_records) {
    if (!in->simd && !(in->simd = sl_jsimd_new())) abort();
    size_t off = 0;
    char msg[256];
    while (off < len && max_records > 0) {
        const char *line = buf + off;
        const char *nl = memchr(line, '\n', len - off);
        if (!nl) break;
        size_t ll = (size_t)(nl - line);
        off = (size_t)(nl - buf) + 1;
        if (ll && line[ll - 1] == '\r') ll--;
        if (ll >= 3 && memcmp(line, "\xEF\xBB\xBF", 3) == 0) line += 3, ll -= 3;
        size_t i = 0;
        while (i < ll && (line[i] == ' ' || line[i] == '\t'))
            i++;
        if (i == ll) continue;
        in->records++;
        max_records--;
        sl_jsimd_each_root(in->simd, line, ll, (size_t)(buf + len - line) + 64, json_key, in, msg,
                           sizeof msg);
    }
    return off;
}

size_t sl_infer_csv(sl_infer *in, const char *buf, size_t len, char delim, bool header,
                    const char *const *names, int nnames, int64_t max_records) {
    sl_csv *c = sl_csv_new(buf, len, delim);
    if (!c) return 0;
    char(*hn)[SL_NAME_MAX] = sl_xcalloc(SL_MAX_COLUMNS, sizeof *hn);
    bool skip[SL_MAX_COLUMNS] = {false};
    int nh = 0;
    if (!header) {
        for (; nh < SL_MAX_COLUMNS && (names ? nh < nnames : true); nh++) {
            if (names)
                snprintf(hn[nh], SL_NAME_MAX, "%s", names[nh]);
            else
                snprintf(hn[nh], SL_NAME_MAX, "col%d", nh + 1);
        }
    }
    sl_str *f;
    int n;
    bool have_header = !header;
    while (!have_header || max_records > 0) {
        sl_error e = {0};
        int rc = sl_csv_next(c, &f, &n, &e);
        if (rc == 0) break;
        if (rc < 0) { /* a bad record: counted, not looked at */
            if (have_header) in->records++, max_records--;
            continue;
        }
        if (!have_header) {
            for (nh = 0; nh < n && nh < SL_MAX_COLUMNS; nh++) {
                sl_str h = f[nh];
                while (h.len && (h.ptr[0] == ' ' || h.ptr[0] == '\t'))
                    h.ptr++, h.len--;
                while (h.len && (h.ptr[h.len - 1] == ' ' || h.ptr[h.len - 1] == '\t'))
                    h.len--;
                skip[nh] = h.len >= SL_NAME_MAX;
                if (!skip[nh]) {
                    memcpy(hn[nh], h.ptr, h.len);
                    hn[nh][h.len] = 0;
                }
                field(in, h.ptr, h.len); /* columns appear in header order, even if all null */
            }
            have_header = true;
            continue;
        }
        in->records++;
        max_records--;
        for (int k = 0; k < n && k < nh; k++)
            if (!skip[k]) sl_infer_observe_text(in, hn[k], strlen(hn[k]), f[k].ptr, f[k].len);
    }
    free(hn);
    sl_csv_free(c);
    return len;
}

int64_t sl_infer_records(const sl_infer *in) { return in->records; }

static sl_type resolve(const ifield *f) {
    int64_t total = 0;
    for (int k = SL_IK_BOOL; k <= SL_IK_NESTED; k++)
        total += f->n[k];
    if (total == 0) return SL_T_STRING;
    if (f->n[SL_IK_BOOL] == total) return SL_T_BOOL;
    if (f->n[SL_IK_INT] == total) return SL_T_INT;
    if (f->n[SL_IK_INT] + f->n[SL_IK_DOUBLE] == total) return SL_T_DOUBLE;
    if (f->n[SL_IK_STRING] == total && f->ts == total) return SL_T_TS;
    return SL_T_STRING;
}

int sl_infer_type(const sl_infer *in, const char *name) {
    int64_t *id = sl_hmap_get(in->by_name, sl_hash_bytes(name, strlen(name), 11));
    return id ? (int)resolve(&in->f[*id]) : -1;
}

int sl_infer_schema(const sl_infer *in, const sl_schema *hints, sl_schema *out, sl_error *err) {
    sl_schema_init(out);
    for (int i = 0; i < in->nf; i++) {
        const ifield *f = &in->f[i];
        if (!f->usable) continue;
        int h = hints ? sl_schema_find(hints, f->name) : -1;
        sl_type t = h >= 0 ? hints->f[h].type : resolve(f);
        if (sl_schema_add(out, f->name, t) < 0)
            return sl_error_set(err, SL_EINVAL, "schema inference: more than %d fields",
                                SL_MAX_COLUMNS);
    }
    for (int h = 0; hints && h < hints->n; h++) {
        if (sl_schema_find(out, hints->f[h].name) >= 0) continue;
        if (sl_schema_add(out, hints->f[h].name, hints->f[h].type) < 0)
            return sl_error_set(err, SL_EINVAL, "schema inference: more than %d fields",
                                SL_MAX_COLUMNS);
    }
    return 0;
}

int sl_schema_to_json(const sl_schema *s, char *out, size_t cap) {
    size_t n = 0;
    int w = snprintf(out, cap, "{");
    n += (size_t)(w > 0 ? w : 0);
    for (int i = 0; i < s->n && n < cap; i++) {
        w = snprintf(out + n, cap - n, "%s\"%s\":\"%s\"", i ? "," : "", s->f[i].name,
                     sl_type_name(s->f[i].type));
        n += (size_t)(w > 0 ? w : 0);
    }
    if (n < cap) {
        w = snprintf(out + n, cap - n, "}");
        n += (size_t)(w > 0 ? w : 0);
    }
    return (int)(n < cap ? n : cap - 1);
}

/* Reads "..." (no escapes: names are identifiers, types are words). */
static const char *quoted(const char *p, char *out, size_t cap) {
    while (*p == ' ')
        p++;
    if (*p != '"') return NULL;
    const char *e = strchr(p + 1, '"');
    if (!e || (size_t)(e - p - 1) >= cap) return NULL;
    memcpy(out, p + 1, (size_t)(e - p - 1));
    out[e - p - 1] = 0;
    return e + 1;
}

int sl_schema_from_json(const char *json, sl_schema *out, sl_error *err) {
    sl_schema_init(out);
    const char *p = json;
    while (*p == ' ')
        p++;
    if (*p++ != '{') goto bad;
    while (*p == ' ')
        p++;
    if (*p == '}') return 0;
    for (;;) {
        char name[SL_NAME_MAX], type[32];
        if (!(p = quoted(p, name, sizeof name))) goto bad;
        while (*p == ' ')
            p++;
        if (*p++ != ':') goto bad;
        if (!(p = quoted(p, type, sizeof type))) goto bad;
        int t = sl_type_parse(type);
        if (t < 0 || !ident(name, strlen(name)) || sl_schema_add(out, name, (sl_type)t) < 0)
            goto bad;
        while (*p == ' ')
            p++;
        if (*p == '}') return 0;
        if (*p++ != ',') goto bad;
    }
bad:
    return sl_error_set(err, SL_EPARSE, "stored schema is not valid: %.80s", json);
}
