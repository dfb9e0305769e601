/*
 * json.c - NDJSON lines into column batches; see json.h for the type rules.
 *
 * The idea: compile the schema's paths into a tree once (json_simd.h), then
 * per line let the simdjson shim walk that tree and hand back one small
 * tagged value (sl_jval) per leaf; this file turns those into column values.
 * The shim knows JSON, this file knows Sluice types, and neither allocates
 * per line: the vals[] array, the reason buffer and the simdjson parser are
 * reused, strings are views into the read buffer, and only strings with
 * escapes are copied (into the batch's arena).
 *
 * Invariant: a row is appended only after the line parsed; if a value then
 * fails its type rule the row is taken back (b->n--, its columns re-nulled)
 * and the line goes to bad() instead. So every row in b came from a line
 * that passed every rule, and each line is either a row or a bad record.
 */
#include "formats/json.h"

#include <limits.h>
#include <stddef.h>
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/hash.h"
#include "core/timeutil.h"
#include "formats/json_simd.h"

/* After a stream breaks (bad line, stage 1 error in its window), this many
 * lines are parsed alone before a new stream is started, so garbage-heavy
 * input does not pay for a window that keeps failing. */
#define STREAM_COOLDOWN 16
/* Stage 1 window of stream mode: 64 KiB amortises simdjson's per-call cost
 * over hundreds of lines while the work wasted past a full batch stays
 * small. A stream that breaks early (dirty input) wasted most of its window,
 * so the next one gets twice the bytes the broken one covered (>= 4 KiB);
 * windows grow back as streams survive. */
#define STREAM_WINDOW_MAX (64 * 1024)
#define STREAM_WINDOW_MIN (4 * 1024)

struct sl_json_parser {
    sl_schema schema;
    sl_jnode *nodes;
    int nnodes;
    char *names; /* storage for node names */
    int leaf_of_col[SL_MAX_COLUMNS];
    int nleaves;
    sl_jval *vals; /* one per leaf, refilled per line */
    sl_jsimd *simd;
    bool lenient;
    bool flat;     /* every path is one top-level key: flat_parse may be tried */
    bool stream;   /* use stream mode (json_simd.h); off by default */
    size_t window; /* stage 1 window of the next stream */
    char reason[SL_ERROR_MAX];
    /* schema evolution (json.h) */
    bool discover, widen, stop;
    sl_hmap *ignored;        /* hashes of root keys that cannot be columns */
    sl_schema_change change; /* what stopped the last parse */
};

static int parse_index(const char *s, size_t n) {
    if (n == 0 || n > 9) return -1;
    if (n > 1 && s[0] == '0') return -1;
    int v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

/* Finds or adds the child of `parent` named name[0..n). */
static int node_child(sl_json_parser *p, int parent, const char *name, size_t n) {
    int last = -1;
    for (int c = p->nodes[parent].child; c >= 0; c = p->nodes[c].next) {
        if (p->nodes[c].len == n && memcmp(p->nodes[c].name, name, n) == 0) return c;
        last = c;
    }
    int id = p->nnodes++;
    sl_jnode *nd = &p->nodes[id];
    nd->name = name;
    nd->len = (uint32_t)n;
    nd->index = parse_index(name, n);
    nd->child = -1;
    nd->next = -1;
    nd->leaf = -1;
    nd->want_raw = 0;
    if (last < 0)
        p->nodes[parent].child = id;
    else
        p->nodes[last].next = id;
    return id;
}

static void update_want_raw(sl_json_parser *p) {
    for (int i = 0; i < p->nnodes; i++)
        p->nodes[i].want_raw = 0;
    if (!p->lenient) return;
    for (int c = 0; c < p->schema.n; c++) {
        if (p->schema.f[c].type != SL_T_STRING) continue;
        for (int i = 0; i < p->nnodes; i++)
            if (p->nodes[i].leaf == p->leaf_of_col[c]) p->nodes[i].want_raw = 1;
    }
}

sl_json_parser *sl_json_parser_new(const sl_schema *schema, const char *const *paths,
                                   sl_error *err) {
    size_t names_len = 0, max_nodes = 1;
    for (int c = 0; c < schema->n; c++) {
        const char *path = paths && paths[c] ? paths[c] : schema->f[c].name;
        names_len += strlen(path) + 1;
        max_nodes += paths && paths[c] ? strlen(path) / 2 + 1 : 1;
    }
    sl_json_parser *p = calloc(1, sizeof *p);
    if (!p) {
        sl_error_set(err, SL_ENOMEM, "out of memory");
        return NULL;
    }
    p->schema = *schema;
    p->nodes = calloc(max_nodes, sizeof *p->nodes);
    p->names = calloc(1, names_len + 8); /* 8 spare bytes: json_simd.cc compares 8 at a time */
    p->vals = calloc(schema->n ? (size_t)schema->n : 1, sizeof *p->vals);
    p->simd = sl_jsimd_new();
    if (!p->nodes || !p->names || !p->vals || !p->simd) {
        sl_json_parser_free(p);
        sl_error_set(err, SL_ENOMEM, "out of memory");
        return NULL;
    }
    p->stream = false;
    p->window = STREAM_WINDOW_MAX;
    p->nnodes = 1; /* the root */
    p->nodes[0].child = p->nodes[0].next = p->nodes[0].leaf = p->nodes[0].index = -1;
    p->nodes[0].name = "";
    char *nm = p->names;
    for (int c = 0; c < schema->n; c++) {
        bool dotted = paths && paths[c];
        const char *path = dotted ? paths[c] : schema->f[c].name;
        size_t plen = strlen(path);
        memcpy(nm, path, plen + 1);
        const char *s = nm;
        nm += plen + 1;
        int node = 0;
        size_t i = 0;
        do {
            size_t j = i;
            if (dotted)
                while (j < plen && s[j] != '.')
                    j++;
            else
                j = plen;
            if (j == i && dotted) {
                sl_error_set(err, SL_EINVAL, "field '%s': path '%s' has an empty step",
                             schema->f[c].name, path);
                sl_json_parser_free(p);
                return NULL;
            }
            node = node_child(p, node, s + i, j - i);
            i = j + 1;
        } while (i <= plen);
        if (p->nodes[node].leaf < 0) p->nodes[node].leaf = p->nleaves++;
        p->leaf_of_col[c] = p->nodes[node].leaf;
    }
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    p->flat = true; /* flat_parse reads words little-endian */
#endif
    for (int i = 1; i < p->nnodes; i++)
        if (p->nodes[i].child >= 0 || p->nodes[i].leaf < 0) p->flat = false;
    return p;
}

void sl_json_parser_free(sl_json_parser *p) {
    if (!p) return;
    sl_hmap_free(p->ignored);
    sl_jsimd_free(p->simd);
    free(p->nodes);
    free(p->names);
    free(p->vals);
    free(p);
}

void sl_json_parser_set_lenient_strings(sl_json_parser *p, bool on) {
    p->lenient = on;
    update_want_raw(p);
}

void sl_json_parser_set_stream(sl_json_parser *p, bool on) { p->stream = on; }

static bool ident(const char *s, size_t n) {
    if (n == 0 || n >= SL_NAME_MAX) return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
        if (!alpha && !(i > 0 && c >= '0' && c <= '9')) return false;
    }
    return true;
}

/* A root key off the path tree (json_simd.cc calls this only on a miss). */
static void on_unknown(void *ud, const char *k, size_t kl, int kind, const char *s, size_t slen) {
    sl_json_parser *p = ud;
    uint64_t h = sl_hash_bytes(k, kl, 3);
    if (sl_hmap_get(p->ignored, h)) return;
    char name[SL_NAME_MAX];
    if (ident(k, kl)) {
        memcpy(name, k, kl);
        name[kl] = 0;
    }
    if (!ident(k, kl) || sl_schema_find(&p->schema, name) >= 0 ||
        p->schema.n + p->change.nadded >= SL_MAX_COLUMNS) {
        sl_hmap_put(p->ignored, h, 1, NULL);
        return;
    }
    for (int i = 0; i < p->change.nadded; i++)
        if (!strcmp(p->change.added[i].name, name)) return;
    sl_field *f = &p->change.added[p->change.nadded++];
    memcpy(f->name, name, kl + 1);
    int64_t us;
    f->type = kind == SL_JV_BOOL     ? SL_T_BOOL
              : kind == SL_JV_INT    ? SL_T_INT
              : kind == SL_JV_DOUBLE ? SL_T_DOUBLE
              : kind == SL_JV_STRING && slen >= 10 && sl_time_parse_iso(s, slen, &us) == 0
                  ? SL_T_TS
                  : SL_T_STRING;
    p->stop = true;
}

void sl_json_parser_set_discover(sl_json_parser *p, bool on) {
    p->discover = on;
    if (on && !p->ignored) p->ignored = sl_hmap_new(16);
    sl_jsimd_set_unknown(p->simd, on ? on_unknown : NULL, p);
}

void sl_json_parser_set_widen(sl_json_parser *p, bool on) { p->widen = on; }

const sl_schema_change *sl_json_parser_change(const sl_json_parser *p) {
    return p->change.nadded || p->change.nwidened ? &p->change : NULL;
}

static const char *kind_name(int kind) {
    switch (kind) {
    case SL_JV_BOOL:
        return "bool";
    case SL_JV_INT:
    case SL_JV_UINT:
    case SL_JV_BIGINT:
        return "int";
    case SL_JV_DOUBLE:
        return "double";
    case SL_JV_STRING:
        return "string";
    case SL_JV_OBJECT:
        return "object";
    case SL_JV_ARRAY:
        return "array";
    default:
        return "null";
    }
}

static int type_error(sl_json_parser *p, int c, const sl_jval *v) {
    snprintf(p->reason, sizeof p->reason, "field '%s': expected %s, got %s", p->schema.f[c].name,
             sl_type_name(p->schema.f[c].type), kind_name(v->kind));
    return -1;
}

/* Stores v into column c of row r; returns 0 or -1 with p->reason set. */
static int convert(sl_json_parser *p, int c, const sl_jval *v, sl_batch *b, uint32_t r) {
    sl_column *col = &b->col[c];
    if (v->kind == SL_JV_ABSENT || v->kind == SL_JV_NULL) return 0; /* already NULL */
    switch (p->schema.f[c].type) {
    case SL_T_INT:
        if (v->kind == SL_JV_INT) {
            sl_col_set_int(col, r, v->v.i);
            return 0;
        }
        if (p->widen &&
            (v->kind == SL_JV_DOUBLE || v->kind == SL_JV_UINT || v->kind == SL_JV_BIGINT)) {
            p->change.widened[p->change.nwidened] = c;
            p->change.widened_to[p->change.nwidened++] = SL_T_DOUBLE;
            p->stop = true;
            return -1;
        }
        if (v->kind == SL_JV_UINT || v->kind == SL_JV_BIGINT) {
            snprintf(p->reason, sizeof p->reason, "field '%s': integer %.*s out of range",
                     p->schema.f[c].name, (int)(v->rawlen > 40 ? 40 : v->rawlen), v->raw);
            return -1;
        }
        return type_error(p, c, v);
    case SL_T_DOUBLE:
        switch (v->kind) {
        case SL_JV_DOUBLE:
            sl_col_set_double(col, r, v->v.d);
            return 0;
        case SL_JV_INT:
            sl_col_set_double(col, r, (double)v->v.i);
            return 0;
        case SL_JV_UINT:
            sl_col_set_double(col, r, (double)v->v.u);
            return 0;
        case SL_JV_BIGINT: {
            char tmp[512];
            size_t n = v->rawlen < sizeof tmp - 1 ? v->rawlen : sizeof tmp - 1;
            memcpy(tmp, v->raw, n);
            tmp[n] = 0;
            sl_col_set_double(col, r, strtod(tmp, NULL));
            return 0;
        }
        default:
            return type_error(p, c, v);
        }
    case SL_T_BOOL:
        if (v->kind != SL_JV_BOOL) return type_error(p, c, v);
        sl_col_set_bool(col, r, v->v.b != 0);
        return 0;
    case SL_T_STRING:
        if (v->kind == SL_JV_STRING) {
            const char *s = v->escaped ? sl_arena_strdup(b->arena, v->s, v->slen) : v->s;
            sl_col_set_str(col, r, s, v->slen);
            return 0;
        }
        if (!p->lenient) return type_error(p, c, v);
        sl_col_set_str(col, r, v->raw, v->rawlen); /* raw JSON text, a view into the line */
        return 0;
    case SL_T_TS:
        if (v->kind == SL_JV_STRING) {
            int64_t us;
            if (sl_time_parse_iso(v->s, v->slen, &us) != 0) {
                snprintf(p->reason, sizeof p->reason, "field '%s': invalid timestamp '%.*s'",
                         p->schema.f[c].name, (int)(v->slen > 40 ? 40 : v->slen), v->s);
                return -1;
            }
            sl_col_set_int(col, r, us);
            return 0;
        }
        if (v->kind == SL_JV_INT) {
            if (v->v.i > INT64_MAX / SL_US_PER_MS || v->v.i < INT64_MIN / SL_US_PER_MS) {
                snprintf(p->reason, sizeof p->reason, "field '%s': timestamp %lld ms out of range",
                         p->schema.f[c].name, (long long)v->v.i);
                return -1;
            }
            sl_col_set_int(col, r, v->v.i * SL_US_PER_MS);
            return 0;
        }
        if (v->kind == SL_JV_UINT || v->kind == SL_JV_BIGINT) {
            snprintf(p->reason, sizeof p->reason, "field '%s': timestamp %.*s ms out of range",
                     p->schema.f[c].name, (int)(v->rawlen > 40 ? 40 : v->rawlen), v->raw);
            return -1;
        }
        return type_error(p, c, v);
    default:
        return type_error(p, c, v);
    }
}

/* ---- the flat fast path -------------------------------------------------
 * Most lines of most feeds are one flat object of short ASCII keys and
 * scalar values, and with a flat schema (every path one top-level key)
 * simdjson's per-line setup and On-Demand walk cost more than the values
 * they find (about 2,500 instructions for a 140-byte, 5-field line). This
 * is a strict one-pass reader of exactly that shape, with no setup. It
 * accepts a line only if the line is well-formed JSON in full (every value,
 * read or not, is checked: stricter than On-Demand) made of nothing but
 * ASCII outside control bytes, strings without backslashes, integers of up
 * to 18 digits, numbers with a fraction and up to 15 digits and no exponent,
 * true, false and null; and it then fills vals[] exactly as the shim would
 * (kind, value, string view, raw token; the last duplicate key wins). Any
 * other line -- nesting, escapes, exponents, long numbers, UTF-8, any error
 * -- is left to the shim (json_simd.cc), whose verdict and messages stay the
 * reference, so results never depend on this path. Integers of at most 18
 * digits always fit int64, and m / 10^f with m < 2^53 and f <= 22 is one
 * correctly rounded IEEE division, the same double simdjson computes. */

static inline bool js_ws(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

static inline const char *skip_ws(const char *s, const char *end) {
    while (s < end && (unsigned char)*s <= ' ' && js_ws(*s))
        s++;
    return s;
}

static inline uint64_t ld8(const char *p) {
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

/* The closing quote of the string whose body starts at s, or NULL if a
 * backslash, control byte or non-ASCII byte comes first, or the string does
 * not close before end. Reads up to 7 bytes past end (the line is followed
 * by SL_JSON_PADDING readable bytes). */
static inline const char *string_end(const char *s, const char *end) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    const uint64_t ones = 0x0101010101010101ULL, high = 0x8080808080808080ULL;
    for (; s < end; s += 8) {
        uint64_t v = ld8(s);
        uint64_t q = v ^ (ones * '"'), b = v ^ (ones * '\\');
        /* a byte of q or b is zero, or a byte is < 0x20, or >= 0x80; exact
         * for the lowest flagged byte, which is all that is looked at */
        uint64_t hit = ((q - ones) & ~q) | ((b - ones) & ~b) | ((v - ones * 0x20) & ~v) | v;
        hit &= high;
        if (hit) {
            const char *at = s + (__builtin_ctzll(hit) >> 3);
            return at < end && *at == '"' ? at : NULL;
        }
    }
    return NULL;
#else
    for (; s < end; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"') return s;
        if (c < 0x20 || c >= 0x80 || c == '\\') return NULL;
    }
    return NULL;
#endif
}

/* Eight ASCII digits at once (little-endian loads; the classic SWAR
 * test and the three-multiply conversion). */
static inline bool eight_digits(uint64_t v) {
    return ((v & 0xF0F0F0F0F0F0F0F0ULL) |
            (((v + 0x0606060606060606ULL) & 0xF0F0F0F0F0F0F0F0ULL) >> 4)) == 0x3333333333333333ULL;
}

static inline uint64_t eight_value(uint64_t v) {
    v -= 0x3030303030303030ULL;
    v = v * 10 + (v >> 8); /* pairs */
    v = (((v & 0x000000FF000000FFULL) * 0x000F424000000064ULL) +
         (((v >> 16) & 0x000000FF000000FFULL) * 0x0000271000000001ULL)) >>
        32;
    return v;
}

/* Key bytes equal to a node name, 8 at a time: the name may be read up to
 * 7 bytes past its end (json.c stores names with 8 spare bytes), the key
 * too (it lies in the line, followed by SL_JSON_PADDING bytes). */
static inline bool key_is(const sl_jnode *n, const char *k, size_t kl) {
    if (n->len != kl) return false;
    size_t i = 0;
    for (; i + 8 <= kl; i += 8)
        if (ld8(n->name + i) != ld8(k + i)) return false;
    if (i == kl) return true;
    uint64_t mask = ~0ULL >> (64 - 8 * (kl - i));
    return ((ld8(n->name + i) ^ ld8(k + i)) & mask) == 0;
}

static const double pow10_exact[16] = {1e0, 1e1, 1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                       1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15};

/* A number at s (JSON grammar); fills v and returns its end, or NULL when
 * it is not one the fast path reads exactly (see above). */
static inline const char *read_number(const char *s, const char *end, sl_jval *v) {
    const char *p = s;
    bool neg = false;
    if (p < end && *p == '-') neg = true, p++;
    if (p >= end || (unsigned char)(*p - '0') > 9) return NULL;
    uint64_t m = 0;
    int nd = 0;
    if (*p == '0') {
        p++;
    } else {
        while (end - p >= 8 && nd <= 10 && eight_digits(ld8(p)))
            m = m * 100000000 + eight_value(ld8(p)), p += 8, nd += 8;
        while (p < end && (unsigned char)(*p - '0') <= 9)
            m = m * 10 + (uint64_t)(*p++ - '0'), nd++;
        if (nd > 18) return NULL;
    }
    if (p < end && (*p == 'e' || *p == 'E')) return NULL;
    if (p < end && *p == '.') {
        p++;
        int nf = 0;
        while (end - p >= 8 && nd <= 7 && eight_digits(ld8(p)))
            m = m * 100000000 + eight_value(ld8(p)), p += 8, nf += 8, nd += 8;
        while (p < end && (unsigned char)(*p - '0') <= 9)
            m = m * 10 + (uint64_t)(*p++ - '0'), nf++, nd++;
        if (nf == 0 || nd > 15 || (p < end && (*p == 'e' || *p == 'E'))) return NULL;
        double d = (double)m / pow10_exact[nf];
        v->kind = SL_JV_DOUBLE;
        v->v.d = neg ? -d : d;
        return p;
    }
    v->kind = SL_JV_INT;
    v->v.i = neg ? -(int64_t)m : (int64_t)m;
    return p;
}

/* Reads line s[0..n) into p->vals (already SL_JV_ABSENT) when it has the
 * shape above; false: not read here (vals may be partly filled). */
static bool flat_parse(sl_json_parser *p, const char *s, size_t n) {
    const char *end = s + n;
    const sl_jnode *nodes = p->nodes;
    const char *c = skip_ws(s, end);
    if (c >= end || *c != '{') return false;
    c = skip_ws(c + 1, end);
    if (c < end && *c == '}') return skip_ws(c + 1, end) == end;
    int32_t hint = nodes[0].child;
    for (;;) {
        if (c >= end || *c != '"') return false;
        const char *k = c + 1, *ke = string_end(k, end);
        if (!ke) return false;
        size_t kl = (size_t)(ke - k);
        c = skip_ws(ke + 1, end);
        if (c >= end || *c != ':') return false;
        c = skip_ws(c + 1, end);
        if (c >= end) return false;
        /* keys usually come in the schema's order: try the one after the last match */
        const sl_jnode *nd = NULL;
        if (hint >= 0 && key_is(&nodes[hint], k, kl)) {
            nd = &nodes[hint];
        } else {
            for (int32_t x = nodes[0].child; x >= 0; x = nodes[x].next)
                if (key_is(&nodes[x], k, kl)) {
                    nd = &nodes[x];
                    break;
                }
        }
        if (nd) hint = nd->next;
        sl_jval tmp, *v = nd ? &p->vals[nd->leaf] : &tmp;
        const char *vs = c;
        switch (*c) {
        case '"': {
            const char *se = string_end(c + 1, end);
            if (!se) return false;
            v->kind = SL_JV_STRING;
            v->s = c + 1;
            v->slen = (uint32_t)(se - c - 1);
            c = se + 1;
            break;
        }
        case 't':
            if (end - c < 4 || memcmp(c, "true", 4) != 0) return false;
            v->kind = SL_JV_BOOL;
            v->v.b = 1;
            c += 4;
            break;
        case 'f':
            if (end - c < 5 || memcmp(c, "false", 5) != 0) return false;
            v->kind = SL_JV_BOOL;
            v->v.b = 0;
            c += 5;
            break;
        case 'n':
            if (end - c < 4 || memcmp(c, "null", 4) != 0) return false;
            v->kind = SL_JV_NULL;
            c += 4;
            break;
        default:
            c = read_number(c, end, v);
            if (!c) return false;
            break;
        }
        v->escaped = 0;
        v->raw = vs;
        v->rawlen = (uint32_t)(c - vs);
        c = skip_ws(c, end);
        if (c >= end) return false;
        if (*c == '}') return skip_ws(c + 1, end) == end;
        if (*c != ',') return false;
        c = skip_ws(c + 1, end);
    }
}

size_t sl_json_parse_lines(sl_json_parser *p, const char *buf, size_t len, int32_t part,
                           int64_t base_pos, int64_t ingest_us, sl_batch *b, sl_bad_record_fn bad,
                           void *ud) {
    const int ncol = p->schema.n;
    size_t off = 0;
    bool streaming = false;          /* a stream is open from some line on */
    int cooldown = 0;                /* lines to parse alone before trying a stream again */
    const char *complete_end = NULL; /* just after the last '\n' in buf */
    const char *stream_from = NULL;  /* first line of the current stream */
    p->change.nadded = p->change.nwidened = 0;
    p->stop = false;
#ifndef NDEBUG
    {
        int bad_schema = b->schema.n < ncol;
        for (int c = 0; !bad_schema && c < ncol; c++)
            bad_schema = b->col[c].type != p->schema.f[c].type;
        if (bad_schema) {
            fprintf(stderr, "sl_json_parse_lines: batch schema does not match the parser's\n");
            abort();
        }
    }
#endif
    const char *line;
    size_t ll;
    int64_t pos;
    while (b->n < b->cap && sl_next_line(buf, len, &off, base_pos, &line, &ll, &pos)) {
        const size_t line_off = (size_t)(pos - base_pos); /* where a schema change resumes */
        const char *nl = buf + off - 1;                   /* the line's '\n' */
        if (ll == 0 || (line[0] != '{' && sl_line_is_blank(line, ll))) continue;
        if (ll > UINT32_MAX) {
            if (bad) bad(ud, line, ll, part, pos, "line longer than 4 GiB");
            continue;
        }
        for (int i = 0; i < p->nleaves; i++)
            p->vals[i].kind = SL_JV_ABSENT;
        size_t avail = (size_t)(buf + len - line) + SL_JSON_PADDING;
        int from_stream = 1;
        if (p->flat && !p->stream && !p->discover) {
            if (flat_parse(p, line, ll))
                from_stream = 0; /* read: skip the shim */
            else
                for (int i = 0; i < p->nleaves; i++)
                    p->vals[i].kind = SL_JV_ABSENT;
        } else if (p->stream) {
            if (!streaming && cooldown == 0) {
                if (!complete_end) complete_end = (const char *)memrchr(buf, '\n', len) + 1;
                streaming = sl_jsimd_stream_start(p->simd, line, (size_t)(complete_end - line),
                                                  avail, p->window) == 0;
                if (!streaming) cooldown = STREAM_COOLDOWN;
                stream_from = line;
            }
            if (streaming) {
                from_stream = sl_jsimd_stream_line(p->simd, line, ll, nl, p->nodes, p->vals);
                if (from_stream == 2) {
                    streaming = false;
                    cooldown = STREAM_COOLDOWN;
                    size_t covered = (size_t)(nl - stream_from) * 2;
                    p->window = covered < STREAM_WINDOW_MIN   ? STREAM_WINDOW_MIN
                                : covered > STREAM_WINDOW_MAX ? STREAM_WINDOW_MAX
                                                              : covered;
                } else if (p->window < STREAM_WINDOW_MAX &&
                           nl - stream_from > (ptrdiff_t)p->window) {
                    p->window *= 2; /* this stream outlived its window */
                }
                if (from_stream != 0)
                    for (int i = 0; i < p->nleaves; i++)
                        p->vals[i].kind = SL_JV_ABSENT;
            } else {
                cooldown--;
            }
        }
        if (from_stream != 0 && sl_jsimd_parse(p->simd, line, ll, avail, p->nodes, p->vals,
                                               p->reason, sizeof p->reason) != 0) {
            p->stop = false; /* keys seen before the syntax error do not count */
            p->change.nadded = 0;
            if (bad) bad(ud, line, ll, part, pos, p->reason);
            continue;
        }
        if (p->stop) { /* a new field: the caller changes the schema and resumes here */
            off = line_off;
            break;
        }
        uint32_t r = sl_batch_append_null_row(b);
        int c = 0;
        for (; c < ncol; c++) {
            const sl_jval *v = &p->vals[p->leaf_of_col[c]];
            const sl_type t = p->schema.f[c].type;
            /* the two common cases inline; convert() has every rule */
            if (v->kind == SL_JV_INT && t == SL_T_INT) {
                sl_col_set_int(&b->col[c], r, v->v.i);
            } else if (v->kind == SL_JV_STRING && !v->escaped && t == SL_T_STRING) {
                sl_col_set_str(&b->col[c], r, v->s, v->slen);
            } else if (convert(p, c, v, b, r) != 0) {
                break;
            }
        }
        if (c < ncol) {
            for (int k = 0; k < ncol; k++)
                b->col[k].null[r] = 1;
            b->n--;
            if (p->stop) { /* a column to widen: resume here after the change */
                off = line_off;
                break;
            }
            if (bad) bad(ud, line, ll, part, pos, p->reason);
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
