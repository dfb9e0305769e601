/*
 * regex.c - lines into rows with one PCRE2 pattern; see regex.h.
 *
 * The work per line is one pcre2_match into match data allocated once, then
 * a walk over a precomputed array group number -> column: no allocation, no
 * name lookup per line. Captures are views into the line.
 */
#define PCRE2_CODE_UNIT_WIDTH 8
#include "formats/regex.h"

#include <pcre2.h>
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/mem.h"
#include "formats/logfmt.h"

#define MATCH_LIMIT 1000000u

struct sl_regex_parser {
    sl_schema schema;
    pcre2_code *re;
    pcre2_match_data *md;
    pcre2_match_context *mc;
    pcre2_jit_stack *js;
    uint32_t ncap;
    int *gcol; /* group number (1..ncap) -> column, -1 */
    bool jit;
    char reason[SL_ERROR_MAX + 64];
};

static pcre2_code *compile(const char *pattern, sl_error *err) {
    int ec;
    PCRE2_SIZE eo;
    pcre2_code *re = pcre2_compile((PCRE2_SPTR)pattern, PCRE2_ZERO_TERMINATED, 0, &ec, &eo, NULL);
    if (!re) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(ec, msg, sizeof msg);
        sl_error_set(err, SL_EINVAL, "regex: %s at offset %zu of the pattern", (const char *)msg,
                     (size_t)eo);
    }
    return re;
}

/* Calls fn(ud, group, name) for each named group. */
static void each_name(const pcre2_code *re, void (*fn)(void *, int, const char *), void *ud) {
    uint32_t cnt = 0, esz = 0;
    PCRE2_SPTR tab = NULL;
    pcre2_pattern_info(re, PCRE2_INFO_NAMECOUNT, &cnt);
    pcre2_pattern_info(re, PCRE2_INFO_NAMEENTRYSIZE, &esz);
    pcre2_pattern_info(re, PCRE2_INFO_NAMETABLE, &tab);
    for (uint32_t i = 0; i < cnt; i++) {
        PCRE2_SPTR e = tab + (size_t)i * esz;
        fn(ud, (e[0] << 8) | e[1], (const char *)e + 2);
    }
}

static void map_name(void *ud, int g, const char *name) {
    sl_regex_parser *p = ud;
    int c = sl_schema_find(&p->schema, name);
    if (g >= 1 && (uint32_t)g <= p->ncap) p->gcol[g] = c;
}

sl_regex_parser *sl_regex_parser_new(const sl_schema *schema, const char *pattern, sl_error *err) {
    if (!pattern || !*pattern) {
        sl_error_set(err, SL_EINVAL, "regex: the format needs a pattern");
        return NULL;
    }
    pcre2_code *re = compile(pattern, err);
    if (!re) return NULL;
    sl_regex_parser *p = sl_xcalloc(1, sizeof *p);
    p->schema = *schema;
    p->re = re;
    pcre2_pattern_info(re, PCRE2_INFO_CAPTURECOUNT, &p->ncap);
    p->gcol = sl_xcalloc((size_t)p->ncap + 1, sizeof *p->gcol);
    for (uint32_t g = 0; g <= p->ncap; g++)
        p->gcol[g] = -1;
    each_name(re, map_name, p);
    int mapped = 0;
    for (uint32_t g = 1; g <= p->ncap; g++)
        mapped += p->gcol[g] >= 0;
    if (!mapped) {
        sl_error_set(err, SL_EINVAL,
                     "regex: no named group (?<name>...) of the pattern names a schema field");
        sl_regex_parser_free(p);
        return NULL;
    }
    p->jit = pcre2_jit_compile(re, PCRE2_JIT_COMPLETE) == 0;
    p->md = pcre2_match_data_create_from_pattern(re, NULL);
    p->mc = pcre2_match_context_create(NULL);
    if (!p->md || !p->mc) abort();
    pcre2_set_match_limit(p->mc, MATCH_LIMIT);
    if (p->jit) {
        p->js = pcre2_jit_stack_create(32 * 1024, 1024 * 1024, NULL);
        if (p->js) pcre2_jit_stack_assign(p->mc, NULL, p->js);
    }
    return p;
}

void sl_regex_parser_free(sl_regex_parser *p) {
    if (!p) return;
    pcre2_match_data_free(p->md);
    pcre2_match_context_free(p->mc);
    pcre2_jit_stack_free(p->js);
    pcre2_code_free(p->re);
    free(p->gcol);
    free(p);
}

bool sl_regex_parser_jit(const sl_regex_parser *p) { return p->jit; }

typedef struct {
    sl_schema *s;
    int nbad;
} schema_ud;

static void add_name(void *ud, int g, const char *name) {
    (void)g;
    schema_ud *u = ud;
    if (sl_schema_find(u->s, name) >= 0) return; /* (?J) duplicates */
    if (sl_schema_add(u->s, name, SL_T_STRING) < 0) u->nbad++;
}

int sl_regex_schema(const char *pattern, sl_schema *out, sl_error *err) {
    sl_schema_init(out);
    if (!pattern || !*pattern)
        return sl_error_set(err, SL_EINVAL, "regex: the format needs a pattern");
    pcre2_code *re = compile(pattern, err);
    if (!re) return SL_EINVAL;
    /* the name table is in name order; keep group order instead */
    uint32_t cnt = 0, esz = 0;
    PCRE2_SPTR tab = NULL;
    pcre2_pattern_info(re, PCRE2_INFO_NAMECOUNT, &cnt);
    pcre2_pattern_info(re, PCRE2_INFO_NAMEENTRYSIZE, &esz);
    pcre2_pattern_info(re, PCRE2_INFO_NAMETABLE, &tab);
    schema_ud u = {out, 0};
    uint32_t ncap = 0;
    pcre2_pattern_info(re, PCRE2_INFO_CAPTURECOUNT, &ncap);
    for (uint32_t g = 1; g <= ncap; g++)
        for (uint32_t i = 0; i < cnt; i++) {
            PCRE2_SPTR e = tab + (size_t)i * esz;
            if ((uint32_t)((e[0] << 8) | e[1]) == g) add_name(&u, (int)g, (const char *)e + 2);
        }
    pcre2_code_free(re);
    if (u.nbad)
        return sl_error_set(err, SL_EINVAL, "regex: group names too long or too many for a schema");
    if (out->n == 0)
        return sl_error_set(err, SL_EINVAL, "regex: the pattern has no named group (?<name>...)");
    return 0;
}

static bool is_blank(const char *s, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (s[i] != ' ' && s[i] != '\t') return false;
    return true;
}

size_t sl_regex_parse_lines(sl_regex_parser *p, const char *buf, size_t len, int32_t part,
                            int64_t base_pos, int64_t ingest_us, sl_batch *b, sl_bad_record_fn bad,
                            void *ud) {
    size_t off = 0;
    const PCRE2_SIZE *ov = pcre2_get_ovector_pointer(p->md);
    const char *line;
    size_t ll;
    int64_t pos;
    while (b->n < b->cap && sl_next_line(buf, len, &off, base_pos, &line, &ll, &pos)) {
        if (ll == 0 || is_blank(line, ll)) continue;
        int rc = pcre2_match(p->re, (PCRE2_SPTR)line, ll, 0, 0, p->md, p->mc);
        if (rc < 0) {
            if (bad) {
                if (rc == PCRE2_ERROR_NOMATCH) {
                    bad(ud, line, ll, part, pos, "regex: no match");
                } else {
                    PCRE2_UCHAR msg[200];
                    pcre2_get_error_message(rc, msg, sizeof msg);
                    snprintf(p->reason, sizeof p->reason, "regex: %s", (const char *)msg);
                    bad(ud, line, ll, part, pos, p->reason);
                }
            }
            continue;
        }
        uint32_t r = sl_batch_append_null_row(b);
        int failed = -1;
        PCRE2_SIZE fs = 0, fe = 0;
        for (uint32_t g = 1; g <= p->ncap && (int)g < rc; g++) {
            int c = p->gcol[g];
            if (c < 0 || ov[2 * g] == PCRE2_UNSET) continue;
            PCRE2_SIZE s = ov[2 * g], e = ov[2 * g + 1];
            if (e < s) continue; /* \K tricks can invert a capture */
            if (sl_logfmt_cast(&b->col[c], r, line + s, e - s) != 0) {
                failed = c;
                fs = s, fe = e;
                break;
            }
        }
        if (failed >= 0) {
            for (int k = 0; k < b->schema.n; k++)
                b->col[k].null[r] = 1;
            b->n--;
            if (bad) {
                size_t vl = fe - fs;
                snprintf(p->reason, sizeof p->reason, "field '%s': expected %s, got '%.*s'%s",
                         p->schema.f[failed].name, sl_type_name(p->schema.f[failed].type),
                         vl > 64 ? 64 : (int)vl, line + fs, vl > 64 ? "..." : "");
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
    /* the contract in json.h: whole lines only, and never past a full batch */
    assert(off <= len && (off == 0 || buf[off - 1] == '\n') && b->n <= b->cap);
    return off;
}
