/* registry.c - the list of source kinds, in one place (see source.h), and
 * the options every source takes whatever its kind. */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "formats/lineformat.h"
#include "sources/source.h"

extern const sl_source_def sl_source_dir, sl_source_file, sl_source_kafka, sl_source_syslog,
    sl_source_http, sl_source_http_poll, sl_source_mqtt;

static const sl_source_def *const registry[] = {
    &sl_source_dir,  &sl_source_file,      &sl_source_kafka, &sl_source_syslog,
    &sl_source_http, &sl_source_http_poll, &sl_source_mqtt,  NULL,
};

const sl_source_def *sl_source_find(const char *name) {
    for (int i = 0; name && registry[i]; i++)
        if (!strcmp(registry[i]->name, name)) return registry[i];
    return NULL;
}

const sl_source_def *const *sl_source_all(void) { return registry; }

/* The common options. `type` and `format` take their words from the
 * registry and the formats module when the table is first asked for. */
#define C(field) SL_OPT_BIND(sl_source_common, field)
#define AT(field) SL_OPT_AT(sl_source_common, field)
static const sl_opt common_rows[] = {
    {"type", SL_OPT_ENUM, true, NULL /* the kinds */, NULL, "the source kind (sluice help KIND)",
     C(type)},
    {"format", SL_OPT_ENUM, false, NULL /* the formats */, NULL,
     "record format: NDJSON, syslog (RFC 5424 / 3164), logfmt, regex (named groups), CSV (RFC "
     "4180) or nginx (alias combined: the combined access log); default json, syslog for syslog "
     "sources",
     C(format), AT(format_at)},
    {"schema", SL_OPT_ANY, false, NULL, NULL,
     "field: type (int, double, string, bool, timestamp), or `infer` (json, csv: types from a "
     "sample of the files); syslog default: pri, facility, severity, timestamp, hostname, "
     "app_name, procid, msgid, structured_data, msg",
     C(schema)},
    {"schema_hints", SL_OPT_MAP, false, NULL, NULL,
     "schema: infer: field: type that overrides the inferred type (or declares a field the sample "
     "lacks)",
     C(schema_hints)},
    {"infer_sample", SL_OPT_INT, false, NULL, "1000",
     "schema: infer: records sampled from the files present at the first run", C(infer_sample),
     SL_OPT_MIN(1), AT(infer_sample_at)},
    {"evolve", SL_OPT_ENUM, false, "add_columns|fail|none", NULL,
     "a field the schema lacks (json: root key; csv: header column): becomes a new column, stops "
     "the pipeline, or is ignored; default add_columns with schema: infer, else none",
     C(evolve), AT(evolve_at)},
    {"on_type_conflict", SL_OPT_ENUM, false, "quarantine|widen", "quarantine",
     "a value that does not fit its column: quarantined, or (widen) an int column becomes double",
     C(on_type_conflict), AT(on_type_conflict_at)},
    {"paths", SL_OPT_MAP, false, NULL, NULL, "field: dotted JSON path, when not a top-level key",
     C(paths)},
    {"max_line_bytes", SL_OPT_INT, false, NULL, "1048576",
     "longest line (record) parsed; a longer one is quarantined as one record with its first "
     "bytes",
     C(max_line_bytes), SL_OPT_RANGE(64, 268435456)},
    {"pattern_regex", SL_OPT_STRING, false, NULL, NULL,
     "format regex: PCRE2 pattern whose named groups are the fields", C(pattern_regex),
     AT(pattern_regex_at)},
    {"delimiter", SL_OPT_STRING, false, NULL, ",", "format csv: field delimiter (one character)",
     C(delimiter), AT(delimiter_at)},
    {"header", SL_OPT_BOOL, false, NULL, NULL,
     "format csv: every partition starts with a header row; default true for sources of files "
     "(dir, file), else false",
     C(header), AT(header_at)},
    {"columns", SL_OPT_LIST, false, NULL, NULL,
     "format csv without header: the column names in file order", C(columns)},
    {0},
};
#undef C
#undef AT

#define NCOMMON (sizeof common_rows / sizeof common_rows[0] - 1)
#define MAX_ANY 128

static char kinds[256];
static sl_opt common[NCOMMON + 1];
static sl_opt any[MAX_ANY + 1];
static char formats[8][16];
static int nformats;
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void build(void) {
    size_t n = 0;
    for (int i = 0; registry[i]; i++)
        n += (size_t)snprintf(kinds + n, sizeof kinds - n, "%s%s", i ? "|" : "", registry[i]->name);
    for (const char *p = sl_line_format_names(); *p && nformats < 8;) {
        size_t l = strcspn(p, "|");
        snprintf(formats[nformats++], sizeof formats[0], "%.*s", (int)l, p);
        p += l + (p[l] == '|');
    }
    memcpy(common, common_rows, sizeof common_rows);
    for (size_t i = 0; i < NCOMMON; i++) {
        if (!strcmp(common[i].name, "type")) common[i].values = kinds;
        if (!strcmp(common[i].name, "format")) common[i].values = sl_line_format_names();
    }
    /* the union: common rows, then each kind's rows not seen yet */
    int k = 0;
    for (size_t i = 0; i < NCOMMON; i++)
        any[k++] = common[i];
    for (int r = 0; registry[r]; r++)
        for (const sl_opt *o = registry[r]->opts; o && o->name && k < MAX_ANY; o++)
            if (!sl_opt_find(any, o->name)) {
                any[k] = *o;
                any[k++].required = false;
            }
    any[k] = (sl_opt){0};
}

const sl_opt *sl_source_common_opts(void) {
    pthread_once(&once, build);
    return common;
}

const sl_opt *sl_source_any_opts(void) {
    pthread_once(&once, build);
    return any;
}

const char *sl_source_format_name(int i) {
    pthread_once(&once, build);
    return i >= 0 && i < nformats ? formats[i] : "";
}

void sl_source_owners(const char *option, char *out, size_t cap) {
    const sl_source_def *has[16];
    int n = 0;
    for (int i = 0; registry[i] && n < 16; i++)
        if (sl_opt_find(registry[i]->opts, option)) has[n++] = registry[i];
    size_t len = 0;
    out[0] = 0;
    for (int i = 0; i < n && len < cap; i++)
        len += (size_t)snprintf(out + len, cap - len, "%s%s",
                                !i           ? ""
                                : i == n - 1 ? " and "
                                             : ", ",
                                has[i]->name);
}

int sl_source_opt_tables(sl_opt_table *out, int cap) {
    int n = 0;
    if (n < cap) out[n] = (sl_opt_table){"source", "sources", sl_source_common_opts()};
    n++;
    for (int i = 0; registry[i]; i++) {
        if (n < cap) out[n] = (sl_opt_table){"source", registry[i]->name, registry[i]->opts};
        n++;
    }
    return n;
}
