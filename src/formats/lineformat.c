/* lineformat.c - dispatch by format name; see lineformat.h. */
#include "formats/lineformat.h"

#include <stdlib.h>
#include <string.h>

#include "formats/json.h"
#include "formats/logfmt.h"
#include "formats/syslog.h"

enum { F_JSON, F_SYSLOG, F_LOGFMT };

struct sl_line_format {
    int kind;
    sl_json_parser *json;
    sl_syslog_parser *syslog;
    sl_logfmt_parser *logfmt;
};

const char *sl_line_format_names(void) { return "json|syslog|logfmt"; }

sl_line_format *sl_line_format_new(const char *name, const sl_schema *schema, const char *const *paths,
                                   sl_error *err) {
    sl_line_format *f = calloc(1, sizeof *f);
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
    } else {
        sl_error_set(err, SL_EINVAL, "unknown format '%s' (%s)", name, sl_line_format_names());
        goto fail;
    }
    return f;
fail:
    free(f);
    return NULL;
}

size_t sl_line_format_parse(sl_line_format *f, const char *buf, size_t len, int32_t part, int64_t base_pos,
                            int64_t ingest_us, sl_batch *b, sl_bad_record_fn bad, void *ud) {
    switch (f->kind) {
    case F_SYSLOG: return sl_syslog_parse_lines(f->syslog, buf, len, part, base_pos, ingest_us, b, bad, ud);
    case F_LOGFMT: return sl_logfmt_parse_lines(f->logfmt, buf, len, part, base_pos, ingest_us, b, bad, ud);
    default: return sl_json_parse_lines(f->json, buf, len, part, base_pos, ingest_us, b, bad, ud);
    }
}

void sl_line_format_free(sl_line_format *f) {
    if (!f) return;
    if (f->json) sl_json_parser_free(f->json);
    if (f->syslog) sl_syslog_parser_free(f->syslog);
    if (f->logfmt) sl_logfmt_parser_free(f->logfmt);
    free(f);
}

void sl_line_format_syslog_schema(sl_schema *s) {
    static const struct { const char *n; sl_type t; } cols[] = {
        {"pri", SL_T_INT},        {"facility", SL_T_INT},  {"severity", SL_T_INT},
        {"timestamp", SL_T_TS},   {"hostname", SL_T_STRING}, {"app_name", SL_T_STRING},
        {"procid", SL_T_STRING},  {"msgid", SL_T_STRING},  {"structured_data", SL_T_STRING},
        {"msg", SL_T_STRING},
    };
    sl_schema_init(s);
    for (size_t i = 0; i < sizeof cols / sizeof cols[0]; i++) sl_schema_add(s, cols[i].n, cols[i].t);
}
