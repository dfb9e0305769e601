/*
 * compile.c - pipeline file -> compiled pipeline.
 *
 * Top level: pipeline, description, commit_interval, batch_size, sources,
 * tables, views. Every map is checked against an option table, so unknown
 * keys and wrong types are refused with file:line:col. Tables are compiled
 * in dependency order; a `from` that names nothing, or a cycle, is refused
 * at the `from` that closes it.
 */
#include <assert.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/mem.h"
#include "core/timeutil.h"
#include "engine/internal.h"
#include "formats/regex.h"
#include "store/eventlog.h"
#include "store/store.h"
#include "sinks/pg_sink.h"

static const sl_opt top_opts[] = {
    {"pipeline", SL_OPT_STRING, true, NULL, NULL, "pipeline name (names the data directory)"},
    {"extends", SL_OPT_STRING, false, NULL, NULL,
     "another pipeline file (relative to this one): its top-level sections apply unless this file "
     "sets them"},
    {"description", SL_OPT_STRING, false, NULL, NULL, "free text"},
    {"commit_interval", SL_OPT_DURATION, false, NULL, "1s",
     "how often outputs and positions are committed"},
    {"batch_size", SL_OPT_INT, false, NULL, "4096", "rows per batch"},
    {"disk", SL_OPT_MAP, false, NULL, NULL,
     "disk watermark: {min_free: 1GiB | 5%} - below it, reading pauses (/readyz says why) "
     "until free space is back above it by a tenth (at most 256 MiB)"},
    {"store", SL_OPT_STRING, false, NULL, "sqlite",
     "sqlite, or a postgresql:// URL: where every table stored in sqlite is kept instead (the "
     "postgresql sink; sluice run|query --store overrides it)"},
    {"sources", SL_OPT_MAP, true, NULL, NULL, "name: source"},
    {"tables", SL_OPT_MAP, true, NULL, NULL, "name: table"},
    {"views", SL_OPT_MAP, false, NULL, NULL, "name: SQL SELECT over tables"},
    {"server", SL_OPT_MAP, false, NULL, NULL, "HTTP server: {listen: 127.0.0.1:8080, token: ...}"},
    {"dashboard", SL_OPT_MAP, false, NULL, NULL,
     "dashboard: {title, panels: [...]} served at / by the server"},
    {"alerts", SL_OPT_MAP, false, NULL, NULL,
     "alert rules and channels: {channels: {...}, rules: [...]} (docs/alerting.md)"},
    {0},
};

static const sl_opt table_opts[] = {
    {"from", SL_OPT_LIST, false, NULL, NULL,
     "a source or another table, or a list of them (a union: the columns of the first, which every "
     "other input must have); a table has from or join"},
    {"join", SL_OPT_MAP, false, NULL, NULL,
     "instead of from: the final rows of two windows of the same size joined on window_start and "
     "keys: {left, right, on, how, right_columns}"},
    {"idle_timeout", SL_OPT_DURATION, false, NULL, "0 (never)",
     "a union: an input that sent no rows for this long stops holding the table's watermark back"},
    {"layer", SL_OPT_ENUM, false, "bronze|silver|gold", "silver", "medallion layer"},
    {"store", SL_OPT_ENUM, false, "lake|sqlite|none|auto", "lake for bronze, else sqlite",
     "where rows are kept; auto: the lake with the embedded store, the store's table with a "
     "PostgreSQL store (where Grafana and /api/query read it)"},
    {"retention", SL_OPT_DURATION, false, NULL, NULL,
     "delete rows older than this: lake hour folders, sqlite rows by event or ingest time "
     "(incrementally, counted in the event log)"},
    {"cold_after", SL_OPT_DURATION, false, NULL, NULL,
     "lake tables: hour folders older than this move to the cold tier, recompressed at zstd "
     "level 19 (a few MiB per commit), still read by queries; retention deletes from both tiers"},
    {"format", SL_OPT_ENUM, false, "parquet|ndjson", "parquet",
     "lake tables: segment format: parquet (columnar, zstd pages, min/max per row group; "
     "DuckDB, Spark and pandas read the files) or ndjson (zstd-compressed JSON lines)"},
    {"cold_path", SL_OPT_PATH, false, NULL, "DATA/cold",
     "lake tables: the cold tier's directory (another disk or mount), relative to the pipeline "
     "file; folders go to cold_path/<layer>/<table>/dt=/hr=/"},
    {"references", SL_OPT_BOOL, false, NULL, "true",
     "parquet lake tables reading one parquet lake table through steps that only drop rows "
     "and add columns (filter, expect, dedupe, watermark, lookup, anomaly, derive of new "
     "columns): store the input row's id (_ref) instead of copies of its columns; false: copy "
     "them"},
    {"retention_by", SL_OPT_ENUM, false, "event|ingest", "event",
     "sqlite tables: the time retention goes by: event (window_start or event_ts) or ingest "
     "(_ingest_ts)"},
    {"description", SL_OPT_STRING, false, NULL, NULL, "free text"},
    {"steps", SL_OPT_SEQ, false, NULL, NULL, "operators applied in order: - op: {...}"},
    {"window", SL_OPT_MAP, false, NULL, NULL, "window aggregation (gold)"},
    {"columns", SL_OPT_LIST, false, NULL, NULL,
     "keep only these columns (in this order) after the steps"},
    {"publish", SL_OPT_MAP, false, NULL, NULL,
     "also send every row to Kafka as JSON: {brokers, topic, key: EXPR, properties: {...}} (the "
     "kafka sink)"},
    {"sinks", SL_OPT_SEQ, false, NULL, NULL,
     "more outputs, each - kind: {options} (sluice help <sink>)"},
    {"rollup", SL_OPT_MAP, false, NULL, NULL,
     "{size: 1h}: a coarser window made by merging the final groups of the window table it reads"},
    {0},
};

static const sl_opt server_opts[] = {
    {"listen", SL_OPT_STRING, false, NULL, "127.0.0.1:8080",
     "address:port to listen on (port 0: any free port)"},
    {"token", SL_OPT_STRING, false, NULL, NULL,
     "bearer token required by every endpoint but /healthz (empty: none); an admin token, "
     "audited as id admin"},
    {"tokens", SL_OPT_SEQ, false, NULL, NULL,
     "scoped tokens: - {id, token: ${VAR} | sha256: HEX | file: PATH, scopes: [read, metrics, "
     "ingest, admin], tables: [glob, ...]}; read again at a reload"},
    {"audit_retention", SL_OPT_DURATION, false, NULL, NULL,
     "delete _sluice_audit rows older than this (incrementally, at commits; default: keep)"},
    {"tls", SL_OPT_MAP, false, NULL, NULL, "HTTPS: {cert, key, client_ca} PEM files",
     SL_OPT_SUB(sl_httpd_tls_opts)},
    {0},
};

static const sl_opt server_token_opts[] = {
    {"id", SL_OPT_STRING, true, NULL, NULL, "the token's name in the audit log"},
    {"token", SL_OPT_STRING, false, NULL, NULL, "the secret itself (give it as ${VAR})"},
    {"sha256", SL_OPT_STRING, false, NULL, NULL, "or the hex SHA-256 of the secret"},
    {"file", SL_OPT_PATH, false, NULL, NULL,
     "or a file holding the secret (trailing newlines dropped)"},
    {"scopes", SL_OPT_LIST, true, NULL, NULL,
     "read (pages, SQL, streams, alerts), metrics (/metrics), ingest (POST to http sources with "
     "auth: server), admin (everything)"},
    {"tables", SL_OPT_LIST, false, NULL, NULL,
     "globs of the tables its SQL may read (default all; quarantine and _sluice_audit only "
     "when named)"},
    {0},
};

/* server.tokens -> p->tokens (strings stay the spec's). */
static int compile_tokens(sl_pipeline *p, const sl_node *seq, sl_error *err) {
    if (seq->kind != SL_NODE_SEQ)
        return sl_node_error(err, seq,
                             "server.tokens is a list of {id, token|sha256|file, scopes}");
    if (seq->n > SL_SERVER_TOKENS_MAX)
        return sl_node_error(err, seq, "at most %d tokens", SL_SERVER_TOKENS_MAX);
    for (int i = 0; i < seq->n; i++) {
        const sl_node *m = seq->seq[i];
        if (sl_spec_check(m, server_token_opts, "server token", err)) return err->code;
        sl_server_token *t = &p->tokens[p->ntokens++];
        *t = (sl_server_token){0};
        t->id = sl_node_get(m, "id")->str;
        const sl_node *tk = sl_node_get(m, "token"), *h = sl_node_get(m, "sha256"),
                      *f = sl_node_get(m, "file");
        if (!!tk + !!h + !!f != 1)
            return sl_node_error(err, m, "token '%s': give exactly one of token, sha256, file",
                                 t->id);
        if (tk && (!tk->str || !*tk->str))
            return sl_node_error(err, tk, "token '%s' is empty (an unset ${VAR}?)", t->id);
        t->token = tk ? tk->str : NULL;
        t->sha256 = h ? h->str : NULL;
        if (f) { /* relative to the pipeline file */
            char path[PATH_MAX];
            sl_spec_path(f, f->str ? f->str : "", path, sizeof path);
            t->file = p->token_file[i] = sl_xstrdup(path);
        }
        const sl_node *sc = sl_node_get(m, "scopes");
        for (int k = 0; k < sl_node_list_len(sc); k++) {
            const sl_node *v = sl_node_list_at(sc, k);
            const char *s = v->str ? v->str : "";
            if (!strcmp(s, "read"))
                t->scopes |= SL_SCOPE_READ;
            else if (!strcmp(s, "metrics"))
                t->scopes |= SL_SCOPE_METRICS;
            else if (!strcmp(s, "admin"))
                t->scopes |= SL_SCOPE_ADMIN;
            else if (!strcmp(s, "ingest"))
                t->scopes |= SL_SCOPE_INGEST;
            else
                return sl_node_error(err, v,
                                     "scope must be read, metrics, ingest or admin, got '%s'", s);
        }
        const sl_node *tb = sl_node_get(m, "tables");
        if (sl_node_list_len(tb) > SL_SERVER_TOKEN_TABLES_MAX)
            return sl_node_error(err, tb, "at most %d table globs", SL_SERVER_TOKEN_TABLES_MAX);
        for (int k = 0; k < sl_node_list_len(tb); k++)
            t->tables[t->ntables++] = sl_node_list_at(tb, k)->str;
        for (int k = 0; k < i; k++)
            if (!strcmp(p->tokens[k].id, t->id))
                return sl_node_error(err, m, "two tokens named '%s'", t->id);
    }
    return 0;
}

static const sl_opt dashboard_opts[] = {
    {"title", SL_OPT_STRING, false, NULL, NULL, "page title"},
    {"panels", SL_OPT_SEQ, true, NULL, NULL, "list of panels"},
    {"variables", SL_OPT_SEQ, false, NULL, NULL,
     "template variables [{name, sql, default, label}]: a select in the page header, bound to "
     ":name in panel SQL (all: NULL)"},
    {0},
};

static const sl_opt panel_opts[] = {
    {"title", SL_OPT_STRING, true, NULL, NULL, "panel title"},
    {"type", SL_OPT_ENUM, true, "timeseries|bar|table|stat|histogram|heatmap", NULL,
     "how the query result is drawn"},
    {"sql", SL_OPT_STRING, true, NULL, NULL, "read-only SQL over the pipeline's tables"},
    {"refresh_ms", SL_OPT_INT, false, NULL, "5000",
     "how often the panel re-runs its query (it also refreshes on commits)"},
    {"x", SL_OPT_STRING, false, NULL, NULL, "x column (timeseries, bar)"},
    {"y", SL_OPT_LIST, false, NULL, NULL, "value column(s)"},
    {"series", SL_OPT_STRING, false, NULL, NULL, "one line per value of this column (timeseries)"},
    {"unit", SL_OPT_STRING, false, NULL, NULL, "unit shown with values"},
    {"bins", SL_OPT_INT, false, NULL, "20", "histogram: buckets when the page buckets x (1..200)"},
    {"bucket", SL_OPT_STRING, false, NULL, NULL, "heatmap: the bucket (y) column"},
    {"wide", SL_OPT_BOOL, false, NULL, NULL, "the panel takes the full width of the page"},
    {0},
};

/* Spec subtree -> JSON text: maps to objects, sequences to arrays, plain
 * scalars that are numbers to numbers, everything else to strings. */
static void node_json(const sl_node *n, char **buf, size_t *len, size_t *cap) {
#define PUT(str, l)                                                                                \
    do {                                                                                           \
        size_t l_ = (l);                                                                           \
        if (*len + l_ + 16 > *cap) {                                                               \
            *cap = (*cap + l_) * 2 + 256;                                                          \
            *buf = sl_xrealloc(*buf, *cap);                                                        \
        }                                                                                          \
        memcpy(*buf + *len, (str), l_);                                                            \
        *len += l_;                                                                                \
        (*buf)[*len] = 0;                                                                          \
    } while (0)
    char esc[4096];
    if (n->kind == SL_NODE_MAP) {
        PUT("{", 1);
        for (int i = 0; i < n->n; i++) {
            if (i) PUT(",", 1);
            int e = sl_json_escape(esc, sizeof esc, n->map[i].key, (int)strlen(n->map[i].key));
            PUT("\"", 1);
            PUT(esc, (size_t)e);
            PUT("\":", 2);
            node_json(n->map[i].val, buf, len, cap);
        }
        PUT("}", 1);
    } else if (n->kind == SL_NODE_SEQ) {
        PUT("[", 1);
        for (int i = 0; i < n->n; i++) {
            if (i) PUT(",", 1);
            node_json(n->seq[i], buf, len, cap);
        }
        PUT("]", 1);
    } else {
        const char *s = n->str ? n->str : "";
        char *end;
        if (!n->quoted && *s && (strtod(s, &end), *end == 0) &&
            strspn(s, "0123456789.-+eE") == strlen(s)) {
            PUT(s, strlen(s));
        } else {
            size_t sl = strlen(s);
            char *big = sl_xmalloc(sl * 6 + 8);
            int e = sl_json_escape(big, (int)(sl * 6 + 8), s, (int)sl);
            PUT("\"", 1);
            PUT(big, (size_t)e);
            PUT("\"", 1);
            free(big);
        }
    }
#undef PUT
}

static bool valid_ident(const char *s) {
    if (!s || !*s || strlen(s) >= SL_NAME_MAX) return false;
    if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || *s == '_')) return false;
    for (const char *p = s; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '_'))
            return false;
    return true;
}

static int name_error(sl_error *err, const sl_node *map, int i, const char *what) {
    return sl_error_at(err, SL_EINVAL, map->file, map->map[i].line, map->map[i].col,
                       "%s name '%s' must be an identifier (letters, digits, _)", what,
                       map->map[i].key);
}

static void free_list(char **v, int n) {
    for (int i = 0; v && i < n; i++)
        free(v[i]);
    free(v);
}

/* The entries of map n whose keys are rows of opts, as a map of its own at
 * n's position (a source's options go to the engine or to its kind).
 * free(out->map) after. */
static void map_subset(const sl_node *n, const sl_opt *opts, sl_node *out) {
    *out = *n;
    out->map = sl_xcalloc((size_t)n->n + 1, sizeof *out->map);
    out->n = 0;
    for (int i = 0; i < n->n; i++)
        if (sl_opt_find(opts, n->map[i].key)) out->map[out->n++] = n->map[i];
}

/* "dir or file": the source kinds that read files (read_head), or that can
 * be sampled for schema inference (sample). */
static const char *kinds_with(bool sample, char *out, size_t cap) {
    const sl_source_def *has[16];
    int n = 0;
    for (const sl_source_def *const *d = sl_source_all(); *d && n < 16; d++)
        if (sample ? (*d)->sample != NULL : (*d)->read_head != NULL) has[n++] = *d;
    size_t len = 0;
    out[0] = 0;
    for (int i = 0; i < n && len < cap; i++)
        len += (size_t)snprintf(out + len, cap - len, "%s%s",
                                !i           ? ""
                                : i == n - 1 ? " or "
                                             : ", ",
                                has[i]->name);
    return out;
}

/* file:line:col of byte `off` of scalar n's text, when it can be told: a
 * one-line scalar, plain, or quoted without quotes or backslashes inside
 * (which YAML may have unescaped); else n's start. A ${variable} in the
 * scalar shifts what follows it. */
static int sql_error_at(sl_error *err, const sl_node *n, int off, const char *fmt, const char *a,
                        const char *b) {
    const char *s = n->str ? n->str : "";
    int col = n->col;
    if (off >= 0 && (size_t)off <= strlen(s) && !strchr(s, '\n') &&
        (!n->quoted || !strpbrk(s, "'\"\\")))
        col += off + (n->quoted ? 1 : 0);
    return sl_error_at(err, SL_EINVAL, n->file, n->line, col, fmt, a, b);
}

/* pattern_regex, delimiter, header, columns. */
static int compile_format_opts(source *s, const sl_node *n, const sl_source_common *c,
                               sl_error *err) {
    const sl_node *pat = c->pattern_regex_at, *d = c->delimiter_at, *h = c->header_at,
                  *cols = c->columns;
    bool regex = !strcmp(s->format, "regex"), csv = !strcmp(s->format, "csv");
    bool files =
        s->def->read_head != NULL; /* a partition starts with its header; a message does not */
    char kinds[128];
    if (regex != !!pat)
        return sl_node_error(err, pat ? pat : n,
                             "source '%s': format regex and pattern_regex go together", s->name);
    if (!csv && (d || h || cols))
        return sl_node_error(err,
                             d   ? d
                             : h ? h
                                 : cols,
                             "source '%s': delimiter, header and columns are for format csv",
                             s->name);
    s->regex = pat ? sl_xstrdup(c->pattern_regex) : NULL;
    if (strlen(c->delimiter) != 1) return sl_node_error(err, d, "delimiter must be one character");
    s->delim = c->delimiter[0];
    s->max_line_bytes = c->max_line_bytes;
    s->header = h ? c->header : files;
    if (csv && s->header && !files)
        return sl_node_error(err, h ? h : n, "source '%s': header: true needs a %s source", s->name,
                             kinds_with(false, kinds, sizeof kinds));
    if (cols && sl_node_str_list(cols, "columns", &s->columns, &s->ncolumns, err)) return SL_EINVAL;
    return 0;
}

static int parse_schema_map(const sl_node *sc, sl_schema *out, sl_error *err) {
    for (int i = 0; i < sc->n; i++) {
        const sl_map_entry *me = &sc->map[i];
        if (!valid_ident(me->key)) return name_error(err, sc, i, "field");
        int t = me->val->kind == SL_NODE_SCALAR ? sl_type_parse(me->val->str) : -1;
        if (t < 0)
            return sl_node_error(
                err, me->val,
                "unknown type '%s' for field '%s' (int, double, string, bool, timestamp)",
                me->val->str ? me->val->str : "", me->key);
        if (sl_schema_add(out, me->key, (sl_type)t) < 0)
            return sl_error_at(err, SL_EINVAL, sc->file, me->line, me->col,
                               "too many fields, or '%s' twice", me->key);
    }
    return 0;
}

/* schema: infer, schema_hints, infer_sample, evolve, on_type_conflict. */
static int compile_evolve_opts(source *s, const sl_source_common *c, sl_error *err) {
    const sl_node *sc = c->schema, *h = c->schema_hints, *smp = c->infer_sample_at,
                  *ev = c->evolve_at, *tc = c->on_type_conflict_at;
    char kinds[128];
    s->infer = sc && sc->kind == SL_NODE_SCALAR && sc->str && !strcmp(sc->str, "infer");
    bool jc = !strcmp(s->format, "json") || !strcmp(s->format, "csv");
    bool files = s->def->read_head != NULL; /* evolution resumes at a record's byte position */
    if (s->infer && !jc)
        return sl_node_error(err, sc, "source '%s': schema: infer is for formats json and csv",
                             s->name);
    if (s->infer && !s->def->sample)
        return sl_node_error(
            err, sc, "source '%s': schema: infer needs a %s source (it samples the files present)",
            s->name, kinds_with(true, kinds, sizeof kinds));
    if ((h || smp) && !s->infer)
        return sl_node_error(err, h ? h : smp,
                             "source '%s': schema_hints and infer_sample go with schema: infer",
                             s->name);
    sl_schema_init(&s->declared);
    if (h && parse_schema_map(h, &s->declared, err)) return err->code;
    s->infer_sample = c->infer_sample;
    static const int evolve_of[] = {[SL_EVOLVE_ADD_COLUMNS] = EVOLVE_ADD,
                                    [SL_EVOLVE_FAIL] = EVOLVE_FAIL,
                                    [SL_EVOLVE_NONE] = EVOLVE_NONE};
    s->evolve = c->evolve >= 0 ? evolve_of[c->evolve] : s->infer ? EVOLVE_ADD : EVOLVE_NONE;
    s->widen = c->on_type_conflict == SL_CONFLICT_WIDEN;
    const sl_node *at = tc && s->widen ? tc : ev;
    if ((s->evolve != EVOLVE_NONE || s->widen) && (!jc || !files))
        return sl_node_error(err, at ? at : sc,
                             "source '%s': evolve and on_type_conflict: widen need format json or "
                             "csv and a %s source",
                             s->name, kinds_with(false, kinds, sizeof kinds));
    if (s->evolve != EVOLVE_NONE && !strcmp(s->format, "csv") && !s->header)
        return sl_node_error(err, at ? at : sc,
                             "source '%s': schema evolution of csv needs header: true (new columns "
                             "are found in headers)",
                             s->name);
    return 0;
}

/* A source: the options every source takes are the engine's (the common
 * table, sources/registry.c), the others go to its kind's create. */
static int compile_source(sl_pipeline *p, source *s, const sl_node *n, sl_error *err) {
    char what[128];
    snprintf(what, sizeof what, "source '%s'", s->name);
    if (sl_spec_check(n, sl_source_any_opts(), what, err)) return SL_EINVAL;
    s->node = n;
    s->part_col = -1;
    s->def = sl_source_find(sl_node_get(n, "type")->str);
    const sl_opt *common = sl_source_common_opts();
    for (int i = 0; i < n->n; i++) { /* a key of another kind */
        const char *k = n->map[i].key;
        if (sl_opt_find(common, k) || sl_opt_find(s->def->opts, k)) continue;
        char owners[128];
        sl_source_owners(k, owners, sizeof owners);
        return sl_node_error(err, n->map[i].val, "source '%s': '%s' is for %s sources", s->name, k,
                             owners);
    }
    sl_node mine, rest;
    map_subset(n, common, &rest);
    map_subset(n, s->def->opts, &mine);
    sl_source_common c;
    sl_source_env env = {.name = s->name, .base_dir = p->base_dir};
    sl_source_info info = {0};
    int rc = sl_spec_bind(&rest, common, what, &c, err);
    if (!rc) rc = s->def->create(&mine, &env, &s->self, &info, err);
    free(rest.map);
    free(mine.map);
    if (rc) return rc;
    snprintf(s->format, sizeof s->format, "%s",
             c.format_at ? sl_source_format_name(c.format) : s->def->format);
    if (compile_format_opts(s, n, &c, err)) return err->code;
    const sl_node *sc = c.schema;
    sl_schema_init(&s->schema);
    if (compile_evolve_opts(s, &c, err)) return err->code;
    if (sc && !s->infer && sc->kind != SL_NODE_MAP)
        return sl_node_error(err, sc, "schema: expected a map of field: type, or infer");
    if (!sc && sl_line_format_default_schema(s->format, &s->schema)) {
        /* syslog, nginx/combined: the columns the format provides */
    } else if (!sc && strcmp(s->format, "regex") == 0) {
        sl_error e = {0};
        if (sl_regex_schema(s->regex, &s->schema, &e))
            return sl_node_error(err, c.pattern_regex_at, "%s", e.msg);
    } else if (!sc)
        return sl_node_error(err, n, "source '%s': missing key 'schema' (needed for format %s)",
                             s->name, s->format);
    if (sc && !s->infer && parse_schema_map(sc, &s->schema, err)) return err->code;
    if (sc && !s->infer && s->regex) { /* the pattern compiles, and names a column */
        sl_error e = {0};
        sl_regex_parser *rp = sl_regex_parser_new(&s->schema, s->regex, &e);
        const char *at = strstr(e.msg, " at offset ");
        if (!rp)
            return sql_error_at(err, c.pattern_regex_at, at ? atoi(at + 11) : -1, "%s%s", e.msg,
                                "");
        sl_regex_parser_free(rp);
    }
    if (info.part_column) {
        if (sl_schema_find(&s->schema, SL_PART_COLUMN) >= 0)
            return sl_node_error(
                err, info.part_column,
                "source '%s': partitioned_state adds the column %s, which the schema has already",
                s->name, SL_PART_COLUMN);
        s->part_col = sl_schema_add(&s->schema, SL_PART_COLUMN, SL_T_STRING);
        p->part_column = SL_PART_COLUMN;
    }
    if (!s->infer) s->declared = s->schema;
    const sl_schema *res = sl_evolve_resolved(p, s->name);
    if (res) {
        s->schema = *res;
    } else if (s->infer) {
        sl_error e = {0};
        if (sl_evolve_infer_files(s, &s->schema, &e))
            return sl_node_error(err, sc, "source '%s': schema: infer: %s", s->name, e.msg);
    }
    const sl_node *pn = c.paths;
    if (pn) {
        for (int i = 0; i < pn->n; i++) {
            int col = sl_schema_find(&s->schema, pn->map[i].key);
            if (col < 0)
                return sl_error_at(err, SL_EINVAL, pn->file, pn->map[i].line, pn->map[i].col,
                                   "paths: '%s' is not a field of the schema", pn->map[i].key);
            if (pn->map[i].val->kind != SL_NODE_SCALAR)
                return sl_node_error(err, pn->map[i].val, "expected a path");
            s->paths[col] = sl_xstrdup(pn->map[i].val->str);
        }
    }
    return 0;
}

static int compile_table(sl_pipeline *p, table *t, sl_error *err) {
    const sl_node *n = t->node;
    sl_op_env env = {.table = t->name, .base_dir = p->base_dir, .part_column = p->part_column};
    t->out = t->in;
    const sl_node *win = sl_node_get(n, "window");
    const sl_node *steps = sl_node_get(n, "steps");
    const sl_node *roll = sl_node_get(n, "rollup");
    if (roll) {
        static const sl_opt rollup_opts[] = {
            {"size", SL_OPT_STRING, true, NULL, NULL,
             "rollup window length: a duration or a calendar unit 1d, 1w, 1mo"},
            {0}};
        if (win || steps || sl_node_get(n, "columns"))
            return sl_node_error(err, roll,
                                 "table '%s': a rollup has no window, steps or columns of its own",
                                 t->name);
        if (sl_spec_check(roll, rollup_opts, "rollup", err)) return SL_EINVAL;
        table *parent =
            t->ninputs == 1 && t->inputs[0].table >= 0 ? &p->t[t->inputs[0].table] : NULL;
        if (!parent || !parent->win)
            return sl_node_error(err, roll, "table '%s': a rollup must read from one window table",
                                 t->name);
        const sl_node *size = sl_node_get(roll, "size");
        sl_error e = {0};
        t->win = sl_window_create_rollup_size(parent->win, size->str, &e);
        if (!t->win) return sl_node_error(err, size, "%s", e.msg);
        t->is_rollup = true;
        t->full = t->out = *sl_window_schema(t->win);
        return 0;
    }
    if (win && steps)
        return sl_node_error(
            err, win, "table '%s': a window table has no steps (put them in the table it reads)",
            t->name);
    if (win && sl_node_get(n, "columns"))
        return sl_node_error(err, sl_node_get(n, "columns"),
                             "table '%s': a window table's columns are its keys and aggregates",
                             t->name);
    if (win) {
        t->win = sl_window_create_part(win, &t->in, p->part_column, err);
        if (!t->win) return SL_EINVAL;
        t->full = t->out = *sl_window_schema(t->win);
        return 0;
    }
    for (int i = 0; steps && i < steps->n; i++) {
        const sl_node *sn = steps->seq[i];
        if (sn->kind != SL_NODE_MAP || sn->n != 1)
            return sl_node_error(err, sn,
                                 "a step is a map with one operator, e.g. - filter: \"x > 0\"");
        const char *opname = sn->map[0].key;
        const sl_op_def *def = sl_op_find(opname);
        if (!def) {
            char known[256] = "";
            for (const sl_op_def *const *d = sl_op_all(); *d; d++) {
                strcat(known, known[0] ? ", " : "");
                strcat(known, (*d)->name);
            }
            return sl_error_at(err, SL_EINVAL, sn->file, sn->map[0].line, sn->map[0].col,
                               "unknown operator '%s' (known: %s)", opname, known);
        }
        if (t->nsteps == SL_MAX_STEPS) return sl_node_error(err, sn, "too many steps");
        step *st = &t->steps[t->nsteps];
        st->def = def;
        /* a side input: its table was compiled first (build_graph) */
        env.side_schema = def->side_opt && t->step_side[i] >= 0 ? &p->t[t->step_side[i]].out : NULL;
        if (def->create(sn->map[0].val, &t->out, &env, &st->self, err)) return SL_EINVAL;
        const sl_node *nm =
            sn->map[0].val->kind == SL_NODE_MAP ? sl_node_get(sn->map[0].val, "name") : NULL;
        char id[sizeof st->id];
        snprintf(id, sizeof id, "%s/%d/%s%s%s", t->name, i, def->name, nm ? ":" : "",
                 nm && nm->str ? nm->str : "");
        memcpy(st->id, id, sizeof id);
        st->full_every = 60;
        t->nsteps++;
    }
    t->full = t->out;
    const sl_node *cols = sl_node_get(n, "columns");
    if (cols) {
        /* the table keeps (and its readers see) only these columns; the
         * steps still work on every column they made */
        sl_schema_init(&t->out);
        for (int i = 0; i < sl_node_list_len(cols); i++) {
            const sl_node *c = sl_node_list_at(cols, i);
            int k = c->kind == SL_NODE_SCALAR ? sl_schema_find(&t->full, c->str) : -1;
            if (k < 0)
                return sl_node_error(err, c, "table '%s': columns: '%s' is not a column here",
                                     t->name, c->str ? c->str : "");
            if (sl_schema_add(&t->out, t->full.f[k].name, t->full.f[k].type) < 0)
                return sl_node_error(err, c, "table '%s': columns: '%s' listed twice", t->name,
                                     c->str);
            t->proj[t->nproj++] = k;
        }
    }
    return 0;
}

/* The source or table named by n, as an input; -1 for both if none. */
static void resolve_input(const sl_pipeline *p, const sl_node *n, table_input *in) {
    in->source = in->table = -1;
    for (int s = 0; s < p->nsrc; s++)
        if (!strcmp(p->src[s].name, n->str)) in->source = s;
    for (int k = 0; k < p->nt; k++)
        if (!strcmp(p->t[k].name, n->str)) in->table = k;
}

static const char *input_name(const sl_pipeline *p, const table_input *in) {
    return in->source >= 0 ? p->src[in->source].name : p->t[in->table].name;
}

/* `join: {left, right, ...}` instead of from: inputs[0] is the left table, inputs[1] the right
 * (both tables, not sources); the edges make the join table a child of both. */
static int build_join_inputs(sl_pipeline *p, int i, const sl_node *jn, const sl_node *from,
                             sl_error *err) {
    table *t = &p->t[i];
    if (!jn) return sl_node_error(err, t->node, "table '%s': missing key 'from'", t->name);
    if (from)
        return sl_node_error(err, from, "table '%s': a table has from or join, not both", t->name);
    const sl_node *side[2];
    if (sl_wjoin_inputs(jn, &side[0], &side[1], err)) return SL_EINVAL;
    t->ninputs = 0;
    for (int j = 0; j < 2; j++) {
        table_input *in = &t->inputs[t->ninputs++];
        resolve_input(p, side[j], in);
        if (in->table < 0)
            return sl_node_error(err, side[j], "table '%s': join: '%s' is not a table", t->name,
                                 side[j]->str);
        if (in->table == i)
            return sl_node_error(err, side[j], "table '%s' reads from itself (cycle)", t->name);
    }
    if (t->inputs[0].table == t->inputs[1].table)
        return sl_node_error(err, side[1], "table '%s': join: left and right are the same table",
                             t->name);
    return 0;
}

/* The window size (µs) of the nearest window ancestor of table ti: its own window or rollup,
 * else its first input's (a join's is its left's). 0 with the message in err when there is
 * none, or when the window's final rows may come again (late: update). */
static int64_t window_size_of(const sl_pipeline *p, int ti, const sl_node *at, sl_error *err) {
    for (int depth = 0; depth < SL_MAX_TABLES; depth++) {
        const table *t = &p->t[ti];
        const sl_node *w = sl_node_get(t->node, "window");
        const sl_node *r = sl_node_get(t->node, "rollup");
        const sl_node *sz = w ? sl_node_get(w, "size") : r ? sl_node_get(r, "size") : NULL;
        if (sz) {
            const sl_node *late = sl_node_get(w, "late");
            if (late && late->str && !strcmp(late->str, "update"))
                return sl_node_error(err, late,
                                     "window '%s' has late: update (final rows may come again), "
                                     "which a join cannot take",
                                     t->name),
                       0;
            int64_t us = 0;
            sl_error e = {0};
            if (sl_node_duration(sz, "size", &us, &e) || us <= 0)
                return sl_node_error(err, at, "join: the window size of '%s' is not a duration",
                                     t->name),
                       0;
            return us;
        }
        if (t->ninputs < 1 || t->inputs[0].table < 0) break;
        ti = t->inputs[0].table;
    }
    return sl_node_error(err, at, "join: '%s' does not read from a window table", p->t[ti].name), 0;
}

/* A join table: its two inputs' windows, the wjoin, and the rows it emits as the table's input. */
static int compile_join(sl_pipeline *p, table *t, sl_error *err) {
    const sl_node *jn = sl_node_get(t->node, "join");
    const char *own[] = {"window", "rollup"};
    for (int k = 0; k < 2; k++)
        if (sl_node_get(t->node, own[k]))
            return sl_node_error(err, sl_node_get(t->node, own[k]),
                                 "table '%s': a join table has no %s (put it in a table reading "
                                 "the join)",
                                 t->name, own[k]);
    const sl_node *side[2];
    if (sl_wjoin_inputs(jn, &side[0], &side[1], err)) return SL_EINVAL;
    int64_t size[2];
    for (int j = 0; j < 2; j++)
        if (!(size[j] = window_size_of(p, t->inputs[j].table, side[j], err))) return SL_EINVAL;
    if (size[0] != size[1])
        return sl_node_error(err, side[1],
                             "table '%s': join: '%s' comes from a window of %lld s, '%s' from one "
                             "of %lld s (both must be the same)",
                             t->name, side[0]->str, (long long)(size[0] / SL_US_PER_SEC),
                             side[1]->str, (long long)(size[1] / SL_US_PER_SEC));
    t->wjoin = sl_wjoin_create(jn, &p->t[t->inputs[0].table].out, &p->t[t->inputs[1].table].out,
                               size[0], err);
    if (!t->wjoin) return SL_EINVAL;
    t->in = *sl_wjoin_schema(t->wjoin);
    t->join_out.source = t->join_out.table = -1;
    t->join_out.identity = true;
    return 0;
}

/* Side inputs (op.h, sl_op_def.side_opt): for each step of table ti that
 * reads another table, step_side[step] = that table (else -1). The step's
 * own shape is checked later, when it is compiled. */
static int resolve_sides(sl_pipeline *p, int ti, sl_error *err) {
    table *t = &p->t[ti];
    for (int s = 0; s < SL_MAX_STEPS; s++)
        t->step_side[s] = -1;
    const sl_node *steps = sl_node_get(t->node, "steps");
    for (int i = 0; steps && i < steps->n && i < SL_MAX_STEPS; i++) {
        const sl_node *sn = steps->seq[i];
        if (sn->kind != SL_NODE_MAP || sn->n != 1) continue;
        const sl_op_def *def = sl_op_find(sn->map[0].key);
        if (!def || !def->side_opt) continue;
        const sl_node *tn = sl_node_get(sn->map[0].val, def->side_opt);
        if (!tn || tn->kind != SL_NODE_SCALAR || !tn->str) continue; /* create reports it */
        table_input in;
        resolve_input(p, tn, &in);
        if (in.table < 0)
            return sl_node_error(err, tn, "table '%s': %s: '%s' is not a table of this pipeline%s",
                                 t->name, def->name, tn->str,
                                 in.source >= 0 ? " (it is a source: read it into a table)" : "");
        if (in.table == ti)
            return sl_node_error(err, tn, "table '%s': %s: a table cannot read itself (cycle)",
                                 t->name, def->name);
        t->step_side[i] = in.table;
    }
    return 0;
}

/* Resolves `from` and orders the tables so that each comes after what it reads. */
static int build_graph(sl_pipeline *p, sl_error *err) {
    for (int i = 0; i < p->nt; i++) {
        table *t = &p->t[i];
        const sl_node *from = sl_node_get(t->node, "from");
        const sl_node *jn = sl_node_get(t->node, "join");
        if (jn || !from) { /* a window-window join reads its two tables (wjoin.h) */
            if (build_join_inputs(p, i, jn, from, err)) return SL_EINVAL;
            if (resolve_sides(p, i, err)) return SL_EINVAL; /* its steps may join too */
            continue;
        }
        int n = sl_node_list_len(from);
        if (n == 0) return sl_node_error(err, from, "table '%s': from names no input", t->name);
        if (n > SL_MAX_INPUTS)
            return sl_node_error(err, from, "table '%s': at most %d inputs", t->name,
                                 SL_MAX_INPUTS);
        t->ninputs = 0;
        for (int j = 0; j < n; j++) {
            const sl_node *f = sl_node_list_at(from, j);
            if (f->kind != SL_NODE_SCALAR || !f->str)
                return sl_node_error(err, f, "table '%s': from: expected a name", t->name);
            table_input *in = &t->inputs[t->ninputs];
            resolve_input(p, f, in);
            if (in->source < 0 && in->table < 0)
                return sl_node_error(
                    err, f, "table '%s' reads from '%s', which is neither a source nor a table",
                    t->name, f->str);
            if (in->table == i)
                return sl_node_error(err, f, "table '%s' reads from itself (cycle)", t->name);
            for (int k = 0; k < t->ninputs; k++)
                if (t->inputs[k].source == in->source && t->inputs[k].table == in->table)
                    return sl_node_error(err, f, "table '%s' reads from '%s' twice", t->name,
                                         f->str);
            t->ninputs++;
        }
        if (resolve_sides(p, i, err)) return SL_EINVAL;
    }
    /* Kahn's algorithm; a table left over sits on a cycle. Side inputs are
     * edges too: the table a step reads is compiled (and run) first. */
    int done[SL_MAX_TABLES] = {0}, n = 0;
    while (n < p->nt) {
        int progressed = 0;
        for (int i = 0; i < p->nt; i++) {
            if (done[i]) continue;
            bool ready = true;
            for (int j = 0; j < p->t[i].ninputs; j++)
                if (p->t[i].inputs[j].table >= 0 && !done[p->t[i].inputs[j].table]) ready = false;
            for (int s = 0; s < SL_MAX_STEPS; s++)
                if (p->t[i].step_side[s] >= 0 && !done[p->t[i].step_side[s]]) ready = false;
            if (!ready) continue;
            done[i] = 1;
            p->order[n++] = i;
            progressed = 1;
        }
        if (!progressed) {
            for (int i = 0; i < p->nt; i++)
                if (!done[i]) {
                    for (int s = 0; s < SL_MAX_STEPS; s++) { /* a cycle through a side input */
                        int o = p->t[i].step_side[s];
                        if (o < 0 || done[o]) continue;
                        const sl_node *sn = sl_node_get(p->t[i].node, "steps")->seq[s];
                        const sl_op_def *def = sl_op_find(sn->map[0].key);
                        return sl_node_error(
                            err, sl_node_get(sn->map[0].val, def->side_opt),
                            "cycle in the table graph: '%s' %ss '%s', which depends on '%s'",
                            p->t[i].name, def->name, p->t[o].name, p->t[i].name);
                    }
                    const sl_node *from = sl_node_get(p->t[i].node, "from");
                    if (!from) from = sl_node_get(p->t[i].node, "join");
                    return sl_node_error(
                        err, from,
                        "cycle in the table graph: '%s' reads from '%s', which depends on '%s'",
                        p->t[i].name, input_name(p, &p->t[i].inputs[0]), p->t[i].name);
                }
        }
    }
    for (int i = 0; i < p->nt; i++) {
        table *t = &p->t[i];
        for (int j = 0; j < t->ninputs; j++) {
            const table_input *in = &t->inputs[j];
            if (in->table >= 0) {
                table *parent = &p->t[in->table];
                if (parent->win && sl_node_get(t->node, "window"))
                    return sl_node_error(err, sl_node_get(t->node, "window"),
                                         "table '%s' reads window rows from '%s': use rollup: "
                                         "{size: ...} to make a coarser window",
                                         t->name, parent->name);
                assert(parent->nchildren < SL_MAX_TABLES);
                parent->child_input[parent->nchildren] = j;
                parent->children[parent->nchildren++] = i;
            } else if (p->src[in->source].first_table < 0) {
                p->src[in->source].first_table = i;
            }
        }
        for (int s = 0; s < SL_MAX_STEPS; s++) { /* side readers, delivered by graph.c */
            if (t->step_side[s] < 0) continue;
            table *o = &p->t[t->step_side[s]];
            if (o->nside_out == SL_MAX_TABLES)
                return sl_node_error(err, t->node, "table '%s' is read by too many steps", o->name);
            o->side_out[o->nside_out++] = (struct side_reader){i, s};
        }
    }
    return 0;
}

/* A union's inputs: every column of the first input must be in each other
 * input, by name and type; colmap[c] is where column c is in input j. */
static int map_inputs(sl_pipeline *p, table *t, sl_error *err) {
    const sl_node *from = sl_node_get(t->node, "from");
    for (int j = 0; j < t->ninputs; j++) {
        table_input *in = &t->inputs[j];
        const sl_schema *s = in->source >= 0 ? &p->src[in->source].schema : &p->t[in->table].out;
        in->identity = true;
        for (int c = 0; c < t->in.n; c++) {
            int k = sl_schema_find(s, t->in.f[c].name);
            if (k < 0 || s->f[k].type != t->in.f[c].type)
                return sl_node_error(err, sl_node_list_at(from, j),
                                     "table '%s': input '%s' has no column '%s' of type %s (every "
                                     "input of a union has the first input's columns)",
                                     t->name, input_name(p, in), t->in.f[c].name,
                                     sl_type_name(t->in.f[c].type));
            in->colmap[c] = k;
            if (k != c) in->identity = false;
        }
    }
    return 0;
}

/* `extends: base.yaml`: whole top-level sections are taken from the base
 * unless this file sets them (sources, tables, dashboard... are replaced,
 * never merged key by key, so what runs is easy to read off the two files).
 * One level only; positions in messages still name the file a node is in. */
static const sl_node *extend_root(sl_pipeline *p, const sl_node *root, const sl_vars *vars,
                                  sl_error *err) {
    const sl_node *ext = sl_node_get(root, "extends");
    if (ext->kind != SL_NODE_SCALAR || !ext->str || !*ext->str) {
        sl_node_error(err, ext, "extends must be a file name");
        return NULL;
    }
    char bpath[PATH_MAX * 2];
    if (ext->str[0] == '/')
        snprintf(bpath, sizeof bpath, "%s", ext->str);
    else
        snprintf(bpath, sizeof bpath, "%s/%s", p->base_dir, ext->str);
    p->base_spec = sl_spec_load(bpath, vars, err);
    if (!p->base_spec) return NULL;
    const sl_node *base = sl_spec_root(p->base_spec);
    if (base->kind != SL_NODE_MAP) {
        sl_node_error(err, base, "extends: %s is not a pipeline file", ext->str);
        return NULL;
    }
    if (sl_node_get(base, "extends")) {
        sl_node_error(err, sl_node_get(base, "extends"),
                      "extends: a base file cannot extend another (one level only)");
        return NULL;
    }
    p->merged = sl_xcalloc(1, sizeof *p->merged);
    *p->merged = *root;
    p->merged->map = sl_xcalloc((size_t)(root->n + base->n), sizeof *p->merged->map);
    int n = 0;
    for (int i = 0; i < root->n; i++)
        if (strcmp(root->map[i].key, "extends")) p->merged->map[n++] = root->map[i];
    for (int i = 0; i < base->n; i++)
        if (!sl_node_get(root, base->map[i].key)) p->merged->map[n++] = base->map[i];
    p->merged->n = n;
    return p->merged;
}

static const char *layer_name(int l);

/* The table's outputs: its store (store: sqlite -> the `table` sink, lake ->
 * `lake`, none -> nothing), publish: (the `kafka` sink), then every entry of
 * sinks: (- kind: {options}). */
static int add_sink(table *t, const sl_sink_def *def, const sl_node *arg, const sl_node *where,
                    const sl_sink_env *env, sl_error *err) {
    if (t->nsinks == SL_MAX_SINKS)
        return sl_node_error(err, where, "table '%s': at most %d outputs", t->name, SL_MAX_SINKS);
    struct table_sink *k = &t->sinks[t->nsinks];
    k->def = def;
    if (def->create(arg, env, &k->self, err)) return err->code ? err->code : SL_EINVAL;
    t->nsinks++;
    return 0;
}

void sl_pipeline_sink_env(const sl_pipeline *p, const table *t, sl_sink_env *env) {
    const table *ref = t->ref_input >= 0 ? &p->t[t->ref_input] : NULL;
    *env = (sl_sink_env){
        .table = t->name,
        .layer = layer_name(t->layer),
        .schema = &t->out,
        .upsert = t->win || sl_schema_find(&t->out, "_group") >= 0,
        .retention_us = t->retention_us,
        .retention_ingest = t->retention_ingest,
        .batch_cap = p->batch_size,
        .pipeline = p->name,
        .store_url = p->store_url[0] ? p->store_url : NULL,
        .ref_table = ref ? ref->name : NULL,
        .ref_layer = ref ? layer_name(ref->layer) : NULL,
        .ref_schema = ref ? &ref->out : NULL,
        .ref_retention_us = ref ? ref->retention_us : 0,
    };
    for (int k = 0; k < p->nt; k++)
        if (t->ref_parent && p->t[k].ref_input == t - p->t)
            env->referrers[env->nreferrers++] = p->t[k].name;
    const sl_node *d = t->node ? sl_node_get(t->node, "description") : NULL;
    if (d && d->kind == SL_NODE_SCALAR) env->description = d->str;
    const sl_node *w = t->node ? sl_node_get(t->node, "window") : NULL;
    if (w && w->kind == SL_NODE_MAP) env->keys = sl_node_get(w, "keys");
    if (t->node) {
        env->cold_after = sl_node_get(t->node, "cold_after");
        env->cold_path = sl_node_get(t->node, "cold_path");
        env->format = sl_node_get(t->node, "format");
    }
}

bool sl_table_lake_parquet(const table *t) {
    if (t->store != STORE_LAKE) return false;
    const sl_node *f = t->node ? sl_node_get(t->node, "format") : NULL;
    return !f || !f->str || strcmp(f->str, "ndjson") != 0;
}

/* The lake table whose rows t references (lake_ref.h), or -1: t is a
 * Parquet lake table with one input, a Parquet lake table that stores its
 * columns itself, and every step keeps values (op.h). */
static int ref_input_of(const sl_pipeline *p, const table *t) {
    if (!sl_table_lake_parquet(t) || t->ninputs != 1 || t->inputs[0].table < 0 || t->win ||
        t->wjoin || t->is_rollup)
        return -1;
    const sl_node *r = sl_node_get(t->node, "references");
    if (r && r->str && !strcmp(r->str, "false")) return -1;
    const table *in = &p->t[t->inputs[0].table];
    if (!sl_table_lake_parquet(in) || in->ref_input >= 0) return -1;
    int referrers = 0;
    for (int k = 0; k < p->nt; k++)
        referrers += p->t[k].ref_input == t->inputs[0].table;
    if (referrers == SL_SINK_MAX_REFERRERS) return -1;
    for (int s = 0; s < t->nsteps; s++)
        if (!t->steps[s].def->keeps_values || !t->steps[s].def->keeps_values(t->steps[s].self))
            return -1;
    return t->inputs[0].table;
}

static int compile_sinks(sl_pipeline *p, table *t, sl_error *err) {
    sl_sink_env env;
    sl_pipeline_sink_env(p, t, &env);
    const char *primary = t->store == STORE_LAKE     ? "lake"
                          : t->store == STORE_SQLITE ? "table"
                                                     : NULL;
    if (primary && t->store == STORE_SQLITE && p->store_url[0]) primary = "postgresql";
    if (primary && add_sink(t, sl_sink_find(primary), NULL, t->node, &env, err)) return SL_EINVAL;
    const sl_node *pub = sl_node_get(t->node, "publish");
    if (pub && add_sink(t, sl_sink_find("kafka"), pub, pub, &env, err)) return SL_EINVAL;
    const sl_node *more = sl_node_get(t->node, "sinks");
    for (int i = 0; more && i < more->n; i++) {
        const sl_node *sn = more->seq[i];
        if (sn->kind != SL_NODE_MAP || sn->n != 1)
            return sl_node_error(
                err, sn, "a sink is a map with one kind, e.g. - kafka: {brokers: ..., topic: ...}");
        const sl_sink_def *def = sl_sink_find(sn->map[0].key);
        if (!def) {
            char known[256] = "";
            for (const sl_sink_def *const *d = sl_sink_all(); *d; d++) {
                strcat(known, known[0] ? ", " : "");
                strcat(known, (*d)->name);
            }
            return sl_error_at(err, SL_EINVAL, sn->file, sn->map[0].line, sn->map[0].col,
                               "unknown sink '%s' (known: %s)", sn->map[0].key, known);
        }
        const sl_node *arg = sl_node_is_null(sn->map[0].val) ? NULL : sn->map[0].val;
        if (add_sink(t, def, arg, sn, &env, err)) return SL_EINVAL;
    }
    return 0;
}

/* What an alert rule watching table `name` sees: its columns and its clock
 * (a window's end; else the first timestamp column). */
static int64_t window_end_clock(void *ud, int64_t start) { return sl_window_end(ud, start); }

static int alert_lookup(void *ud, const char *name, sl_alert_target *out) {
    sl_pipeline *p = ud;
    for (int i = 0; i < p->nt; i++) {
        table *t = &p->t[i];
        if (strcmp(t->name, name)) continue;
        *out = (sl_alert_target){.schema = &t->out};
        if (sl_schema_find(&t->out, "window_start") >= 0 &&
            sl_schema_find(&t->out, "is_final") >= 0) {
            const sl_node *w = sl_node_get(t->node, "window");
            const sl_node *sz = w ? sl_node_get(w, "size") : NULL;
            if (!sz) sz = sl_node_get(sl_node_get(t->node, "rollup"), "size");
            sl_error e = {0};
            if (t->win) { /* the window says where a window ends (calendar windows too) */
                out->time_end = window_end_clock;
                out->time_end_ud = t->win;
            } else if (sz) {
                sl_node_duration(sz, "size", &out->time_offset_us, &e);
            }
            out->time_col = "window_start";
            out->final_only = true;
        }
        return 0;
    }
    return SL_ENOTFOUND;
}

/* alerts: rules over pipeline tables are attached to them as sinks. */
static int compile_alerts(sl_pipeline *p, const sl_node *root, sl_error *err) {
    const sl_node *an = sl_node_get(root, "alerts");
    if (!an) return 0;
    p->alerts = sl_alerts_compile(an, p->name, alert_lookup, p, err);
    if (!p->alerts) return err->code ? err->code : SL_EINVAL;
    for (int i = 0; i < sl_alerts_nrules(p->alerts); i++) {
        sl_alert_rule *r = sl_alerts_rule(p->alerts, i);
        for (int k = 0; k < p->nt; k++) {
            table *t = &p->t[k];
            if (strcmp(t->name, sl_alert_rule_table(r))) continue;
            if (t->nsinks == SL_MAX_SINKS)
                return sl_node_error(err, an, "table '%s': at most %d outputs and rules", t->name,
                                     SL_MAX_SINKS);
            t->sinks[t->nsinks++] = (struct table_sink){&sl_alert_rule_sink, r};
        }
    }
    return 0;
}

static int pipeline_compile(sl_pipeline *p, const sl_node *root, sl_error *err);

sl_pipeline *sl_pipeline_load(const char *path, const sl_vars *vars, sl_error *err) {
    return sl_pipeline_load_store(path, vars, NULL, err);
}

const char *sl_pipeline_store_url(const sl_pipeline *p) {
    return p->store_url[0] ? p->store_url : NULL;
}

sl_pipeline *sl_pipeline_load_store(const char *path, const sl_vars *vars, const char *store,
                                    sl_error *err) {
    return sl_pipeline_load_rewritten(path, vars, store, NULL, NULL, err);
}

sl_pipeline *sl_pipeline_load_rewritten(const char *path, const sl_vars *vars, const char *store,
                                        sl_pipeline_rewrite_fn rewrite, void *ud, sl_error *err) {
    sl_pipeline *p = sl_xcalloc(1, sizeof *p);
    if (store) snprintf(p->store_override, sizeof p->store_override, "%s", store);
    snprintf(p->file, sizeof p->file, "%s", path);
    char tmp[PATH_MAX];
    snprintf(tmp, sizeof tmp, "%s", path);
    snprintf(p->base_dir, sizeof p->base_dir, "%s", dirname(tmp));
    p->vars =
        vars; /* the caller keeps them for the pipeline's life: a reload reads the file again */
    p->spec = sl_spec_load(path, vars, err);
    if (!p->spec) goto fail;
    const sl_node *root = sl_spec_root(p->spec);
    if (root->kind == SL_NODE_MAP && sl_node_get(root, "extends")) {
        if (!(root = extend_root(p, root, vars, err))) goto fail;
    }
    if (rewrite && root->kind == SL_NODE_MAP && !(root = rewrite(ud, root, err))) goto fail;
    if (pipeline_compile(p, root, err)) goto fail;
    return p;
fail:
    sl_pipeline_free(p);
    return NULL;
}

char *sl_pipeline_node_json(const sl_node *n) {
    char *buf = NULL;
    size_t len = 0, cap = 0;
    if (n) node_json(n, &buf, &len, &cap);
    return buf ? buf : sl_xstrdup("null");
}

static void pipeline_free_contents(sl_pipeline *p);

int sl_pipeline_reload(sl_pipeline *p, sl_error *err) {
    sl_pipeline *q = sl_xcalloc(1, sizeof *q);
    if (!q) return sl_error_set(err, SL_ENOMEM, "out of memory");
    memcpy(q->file, p->file, sizeof q->file);
    memcpy(q->base_dir, p->base_dir, sizeof q->base_dir);
    q->spec = p->spec, q->base_spec = p->base_spec, q->merged = p->merged;
    memcpy(q->resolved, p->resolved, sizeof q->resolved);
    memcpy(q->store_override, p->store_override, sizeof q->store_override);
    q->vars = p->vars;
    q->nresolved = p->nresolved;
    const sl_node *root = q->merged ? q->merged : sl_spec_root(q->spec);
    if (pipeline_compile(q, root, err)) {
        q->spec = q->base_spec = NULL, q->merged = NULL;
        sl_pipeline_free(q);
        return err->code ? err->code : SL_EINVAL;
    }
    p->spec = p->base_spec = NULL, p->merged = NULL;
    pipeline_free_contents(p);
    memcpy(p, q, sizeof *p);
    free(q);
    return 0;
}

int sl_pipeline_resolve_schemas(sl_pipeline *p, sl_store *store, bool persist, sl_error *err) {
    bool reload;
    int rc = sl_evolve_stored(p, store, &reload, err);
    if (!rc && reload) rc = sl_pipeline_reload(p, err);
    if (!rc && persist) sl_evolve_persist(p, store);
    return rc;
}

const sl_schema *sl_evolve_resolved(const sl_pipeline *p, const char *source) {
    for (int i = 0; i < p->nresolved; i++)
        if (!strcmp(p->resolved[i].name, source)) return &p->resolved[i].schema;
    return NULL;
}

static int sqlite_offset(sqlite3 *db) {
#if SQLITE_VERSION_NUMBER >= 3038000
    return sqlite3_error_offset(db);
#else
    (void)db;
    return -1;
#endif
}

/* Prepares one statement of n's text on db: 0, or SL_EINVAL at n (at the
 * column SQLite names when it names one). *st is left prepared on success.
 * With `growing`, an unknown column returns 1 (not an error, nothing
 * prepared): schema evolution may add it. */
static int prepare_at(sqlite3 *db, const sl_node *n, const char *what, bool growing,
                      sqlite3_stmt **st, sl_error *err) {
    const char *tail = NULL;
    *st = NULL;
    if (sqlite3_prepare_v2(db, n->str ? n->str : "", -1, st, &tail) != SQLITE_OK) {
        if (growing && !strncmp(sqlite3_errmsg(db), "no such column", 14))
            return 1; /* maybe a column schema evolution adds later */
        return sql_error_at(err, n, sqlite_offset(db), "%s: %s", what, sqlite3_errmsg(db));
    }
    if (!*st) return sql_error_at(err, n, -1, "%s%s: no SQL statement", what, "");
    while (tail && (*tail == ' ' || *tail == '\t' || *tail == '\n' || *tail == ';'))
        tail++;
    if (tail && *tail) {
        sqlite3_finalize(*st);
        *st = NULL;
        return sql_error_at(err, n, (int)(tail - n->str), "%s: %s", what,
                            "one SQL statement only (text after the first)");
    }
    return 0;
}

static void sql_table(sqlite3 *db, const char *name, const sl_schema *sc, bool audit) {
    size_t cap = 256 + (size_t)sc->n * (SL_NAME_MAX + 16), len = 0;
    char *q = sl_xmalloc(cap);
    len += (size_t)snprintf(q, cap, "CREATE TABLE \"%s\"(", name);
    for (int i = 0; i < sc->n; i++)
        len += (size_t)snprintf(q + len, cap - len, "%s\"%s\"", i ? "," : "", sc->f[i].name);
    if (audit)
        len +=
            (size_t)snprintf(q + len, cap - len, "%s_ingest_ts,_source,_offset", sc->n ? "," : "");
    snprintf(q + len, cap - len, ")");
    sqlite3_exec(db, q, NULL, NULL, NULL);
    free(q);
}

/* Views and dashboard panels are prepared when the file is loaded, against an
 * in-memory database shaped like sluice.db: the quarantine and event log (and
 * alert_history, with alert rules) as the store makes them, an empty table per sqlite table with
 * the columns it declares (lake tables too: queries see them as views), views created in file order
 * (a view may read the ones before it). Panels must not write. */
static int check_sql(sl_pipeline *p, const sl_node *views, const sl_node *dash, sl_error *err) {
    sl_error e = {0};
    sl_store *st = sl_store_open(":memory:", false, &e);
    if (!st || sl_eventlog_init(st, &e) || (p->alerts && sl_alerts_create_tables(st, &e))) {
        sl_store_close(st);
        return sl_error_set(err, SL_EIO, "checking views: %s", e.msg);
    }
    sqlite3 *db = sl_store_db(st);
    int rc = 0;
    bool growing = false; /* a source's schema may gain columns after the load */
    for (int i = 0; i < p->nsrc; i++)
        growing |= p->src[i].infer || p->src[i].evolve != EVOLVE_NONE;
    for (int i = 0; i < p->nt; i++) { /* lake tables: the views `sluice query` gives them */
        const table *t = &p->t[i];
        if (t->store != STORE_NONE)
            sql_table(db, t->name, &t->out,
                      t->store == STORE_LAKE ||
                          !(t->win || sl_schema_find(&t->out, "_group") >= 0));
    }
    for (int i = 0; views && i < views->n && !rc; i++) {
        const sl_node *v = views->map[i].val;
        char what[SL_NAME_MAX + 16];
        snprintf(what, sizeof what, "view '%s'", views->map[i].key);
        sqlite3_stmt *q = NULL;
        if ((rc = prepare_at(db, v, what, growing, &q, err)) > 0) rc = 0;
        if (rc) break;
        sqlite3_finalize(q);
        char *sql = sqlite3_mprintf("CREATE VIEW \"%w\" AS %s", views->map[i].key, v->str);
        if (sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK)
            rc = sql_error_at(err, v, -1, "%s: %s", what, sqlite3_errmsg(db));
        sqlite3_free(sql);
    }
    const sl_node *panels = dash ? sl_node_get(dash, "panels") : NULL;
    for (int i = 0; panels && i < panels->n && !rc; i++) {
        const sl_node *n = sl_node_get(panels->seq[i], "sql");
        const sl_node *ti = sl_node_get(panels->seq[i], "title");
        char what[256];
        snprintf(what, sizeof what, "panel '%s'", ti && ti->str ? ti->str : "");
        sqlite3_stmt *q = NULL;
        if ((rc = prepare_at(db, n, what, growing, &q, err)) > 0) {
            rc = 0;
            continue;
        }
        if (rc) break;
        if (!sqlite3_stmt_readonly(q))
            rc = sql_error_at(err, n, -1, "%s: %s", what,
                              "a panel's SQL must only read (SELECT), it writes");
        sqlite3_finalize(q);
    }
    sl_store_close(st);
    return rc;
}

/* server.listen: host:port, [v6]:port or :port, port 0..65535 ("" = none). */
static int check_listen(const sl_node *n, sl_error *err) {
    const char *a = n->str ? n->str : "";
    if (!*a) return 0;
    const char *colon = strrchr(a, ':');
    if (!colon) return sl_node_error(err, n, "server listen address '%s': expected host:port", a);
    const char *d = colon + 1;
    long port = 0;
    if (!*d || strspn(d, "0123456789") != strlen(d) || strlen(d) > 5 ||
        (port = strtol(d, NULL, 10)) > 65535)
        return sl_node_error(err, n,
                             "server listen address '%s': the port must be a number 0..65535 "
                             "(0: any free port)",
                             a);
    if (a[0] == '[' && (colon == a || colon[-1] != ']'))
        return sl_node_error(err, n, "server listen address '%s': expected [v6-address]:port", a);
    return 0;
}

static int pipeline_compile(sl_pipeline *p, const sl_node *root, sl_error *err) {
    if (sl_spec_check(root, top_opts, "pipeline file", err)) goto fail;
    const sl_node *nm = sl_node_get(root, "pipeline");
    if (!valid_ident(nm->str)) {
        sl_node_error(err, nm, "pipeline name '%s' must be an identifier", nm->str);
        goto fail;
    }
    snprintf(p->name, sizeof p->name, "%s", nm->str);
    p->commit_interval_us = SL_US_PER_SEC;
    const sl_node *ci = sl_node_get(root, "commit_interval");
    if (ci && sl_node_duration(ci, "commit_interval", &p->commit_interval_us, err)) goto fail;
    p->batch_size = 4096;
    const sl_node *bs = sl_node_get(root, "batch_size");
    if (bs) {
        int64_t v;
        if (sl_node_int(bs, "batch_size", &v, err)) goto fail;
        if (v < 1 || v > 1000000) {
            sl_node_error(err, bs, "batch_size must be between 1 and 1000000");
            goto fail;
        }
        p->batch_size = (uint32_t)v;
    }
    /* disk: the free space below which reading pauses (default 100 MiB) */
    p->disk_min_free = 100 << 20, p->disk_min_free_pct = 0;
    const sl_node *dk = sl_node_get(root, "disk");
    if (dk) {
        static const sl_opt disk_opts[] = {
            {"min_free", SL_OPT_STRING, true, NULL, NULL, "bytes (1GiB, 500MB) or a percentage"},
            {0}};
        if (sl_spec_check(dk, disk_opts, "disk", err)) goto fail;
        const sl_node *mf = sl_node_get(dk, "min_free");
        char *end;
        double v = strtod(mf->str, &end);
        double mult = -1;
        static const struct {
            const char *unit;
            double mult;
        } units[] = {{"", 1},
                     {"B", 1},
                     {"KB", 1e3},
                     {"MB", 1e6},
                     {"GB", 1e9},
                     {"TB", 1e12},
                     {"KiB", 1024},
                     {"MiB", 1048576.0},
                     {"GiB", 1073741824.0},
                     {"TiB", 1099511627776.0},
                     {"%", 0}};
        for (size_t u = 0; end != mf->str && u < sizeof units / sizeof *units; u++)
            if (!strcmp(end, units[u].unit)) mult = units[u].mult;
        if (mult < 0 || v < 0 || (mult == 0 && v >= 100)) {
            sl_node_error(err, mf,
                          "min_free must be a size (1GiB, 500MB, 0 = off) or a percentage below "
                          "100 (5%%), got '%s'",
                          mf->str);
            goto fail;
        }
        if (mult == 0)
            p->disk_min_free = 0, p->disk_min_free_pct = v;
        else
            p->disk_min_free = (int64_t)(v * mult);
    }
    /* store: sqlite, or a PostgreSQL URL for every sqlite-stored table */
    const sl_node *stn = sl_node_get(root, "store");
    const char *su = p->store_override[0] ? p->store_override : stn ? stn->str : "sqlite";
    if (strcmp(su, "sqlite") && !sl_pg_is_url(su)) {
        char masked[256];
        sl_pg_mask_url(su, masked, sizeof masked);
        if (p->store_override[0] || !stn)
            sl_error_set(err, SL_EINVAL, "--store must be sqlite or a postgresql:// URL, got '%s'",
                         masked);
        else
            sl_node_error(err, stn, "store must be sqlite or a postgresql:// URL, got '%s'",
                          masked);
        goto fail;
    }
    snprintf(p->store_url, sizeof p->store_url, "%s", strcmp(su, "sqlite") ? su : "");
    const sl_node *srcs = sl_node_get(root, "sources");
    for (int i = 0; i < srcs->n; i++) {
        if (p->nsrc == SL_MAX_SOURCES) {
            sl_node_error(err, srcs, "too many sources");
            goto fail;
        }
        if (!valid_ident(srcs->map[i].key)) {
            name_error(err, srcs, i, "source");
            goto fail;
        }
        source *s = &p->src[p->nsrc++];
        snprintf(s->name, sizeof s->name, "%s", srcs->map[i].key);
        s->first_table = -1;
        if (compile_source(p, s, srcs->map[i].val, err)) goto fail;
    }
    const sl_node *tabs = sl_node_get(root, "tables");
    for (int i = 0; i < tabs->n; i++) {
        if (p->nt == SL_MAX_TABLES) {
            sl_node_error(err, tabs, "too many tables");
            goto fail;
        }
        const char *tn = tabs->map[i].key;
        if (!valid_ident(tn) || !strcmp(tn, "quarantine") || !strncmp(tn, "_sluice", 7)) {
            if (valid_ident(tn))
                sl_error_at(err, SL_EINVAL, tabs->file, tabs->map[i].line, tabs->map[i].col,
                            "table name '%s' is reserved", tn);
            else
                name_error(err, tabs, i, "table");
            goto fail;
        }
        for (int s = 0; s < p->nsrc; s++)
            if (!strcmp(p->src[s].name, tn)) {
                sl_error_at(err, SL_EINVAL, tabs->file, tabs->map[i].line, tabs->map[i].col,
                            "'%s' is both a source and a table", tn);
                goto fail;
            }
        table *t = &p->t[p->nt++];
        snprintf(t->name, sizeof t->name, "%s", tn);
        t->node = tabs->map[i].val;
        t->ref_input = -1;
        char what[128];
        snprintf(what, sizeof what, "table '%s'", tn);
        if (sl_spec_check(t->node, table_opts, what, err)) goto fail;
        const sl_node *ly = sl_node_get(t->node, "layer");
        t->layer = !ly                          ? LAYER_SILVER
                   : !strcmp(ly->str, "bronze") ? LAYER_BRONZE
                   : !strcmp(ly->str, "gold")   ? LAYER_GOLD
                                                : LAYER_SILVER;
        const sl_node *st = sl_node_get(t->node, "store");
        t->store = st ? (!strcmp(st->str, "lake")   ? STORE_LAKE
                         : !strcmp(st->str, "none") ? STORE_NONE
                         : !strcmp(st->str, "auto") ? (p->store_url[0] ? STORE_SQLITE : STORE_LAKE)
                                                    : STORE_SQLITE)
                      : (t->layer == LAYER_BRONZE ? STORE_LAKE : STORE_SQLITE);
        const sl_node *rt = sl_node_get(t->node, "retention");
        if (rt && sl_node_duration(rt, "retention", &t->retention_us, err)) goto fail;
        const sl_node *rb = sl_node_get(t->node, "retention_by");
        t->retention_ingest = rb && rb->str && !strcmp(rb->str, "ingest");
        const sl_node *it = sl_node_get(t->node, "idle_timeout");
        if (it && sl_node_duration(it, "idle_timeout", &t->idle_timeout_us, err)) goto fail;
        if ((sl_node_get(t->node, "window") || sl_node_get(t->node, "rollup") ||
             sl_node_get(t->node, "join")) &&
            t->store == STORE_LAKE) {
            sl_node_error(err, st ? st : t->node,
                          "a window or join table is stored in sqlite (upserts), not the lake");
            goto fail;
        }
    }
    if (build_graph(p, err)) goto fail;
    for (int k = 0; k < p->nt; k++) {
        table *t = &p->t[p->order[k]];
        t->in = t->inputs[0].source >= 0 ? p->src[t->inputs[0].source].schema
                                         : p->t[t->inputs[0].table].out;
        if (sl_node_get(t->node, "join") ? compile_join(p, t, err) : map_inputs(p, t, err))
            goto fail;
        if (compile_table(p, t, err)) goto fail;
        if (t->retention_us > 0 && t->store == STORE_SQLITE) { /* table_sink.c deletes by it */
            bool event = sl_schema_find(&t->out, "window_start") >= 0 ||
                         sl_schema_find(&t->out, "event_ts") >= 0;
            const sl_node *rt = sl_node_get(t->node, "retention");
            if (!t->retention_ingest && !event) {
                sl_node_error(err, rt,
                              "table '%s': retention by event time needs a window_start or "
                              "event_ts column (a watermark step adds event_ts); or "
                              "retention_by: ingest",
                              t->name);
                goto fail;
            }
            if (t->retention_ingest && (t->win || sl_schema_find(&t->out, "_group") >= 0)) {
                sl_node_error(err, rt,
                              "table '%s': window rows have no ingest time: retention_by: "
                              "event",
                              t->name);
                goto fail;
            }
        }
        t->ref_input = ref_input_of(p, t);
        if (t->ref_input >= 0) p->t[t->ref_input].ref_parent = true;
        if (compile_sinks(p, t, err)) goto fail;
    }
    if (compile_alerts(p, root, err)) goto fail;
    const sl_node *views = sl_node_get(root, "views");
    for (int i = 0; views && i < views->n; i++) {
        if (p->nviews == SL_MAX_VIEWS) break;
        if (!valid_ident(views->map[i].key)) {
            name_error(err, views, i, "view");
            goto fail;
        }
        if (views->map[i].val->kind != SL_NODE_SCALAR) {
            sl_node_error(err, views->map[i].val, "a view is one SQL SELECT statement");
            goto fail;
        }
        snprintf(p->views[p->nviews].name, SL_NAME_MAX, "%s", views->map[i].key);
        p->views[p->nviews++].sql = views->map[i].val->str;
    }
    const sl_node *srv = sl_node_get(root, "server");
    if (srv) {
        if (sl_spec_check(srv, server_opts, "server", err)) goto fail;
        const sl_node *l = sl_node_get(srv, "listen");
        if (l && check_listen(l, err)) goto fail;
        const sl_node *tk = sl_node_get(srv, "token");
        p->listen = l ? (l->str && *l->str ? l->str : NULL) : "127.0.0.1:8080"; /* "" = no server */
        p->token = tk && tk->str && *tk->str ? tk->str : NULL;
        const sl_node *tks = sl_node_get(srv, "tokens");
        if (tks && compile_tokens(p, tks, err)) goto fail;
        const sl_node *ar = sl_node_get(srv, "audit_retention");
        if (ar && sl_node_duration(ar, "server.audit_retention", &p->audit_retention_us, err))
            goto fail;
        const sl_node *tls = sl_node_get(srv, "tls");
        if (tls && sl_httpd_tls_bind(tls, "server", &p->tls, err)) goto fail;
        p->has_tls = tls != NULL;
    }
    const sl_node *dash = sl_node_get(root, "dashboard");
    if (dash) {
        if (sl_spec_check(dash, dashboard_opts, "dashboard", err)) goto fail;
        const sl_node *panels = sl_node_get(dash, "panels");
        for (int i = 0; i < panels->n; i++)
            if (sl_spec_check(panels->seq[i], panel_opts, "panel", err)) goto fail;
        size_t len = 0, cap = 0;
        node_json(dash, &p->dashboard_json, &len, &cap);
    }
    if ((views || dash) && check_sql(p, views, dash, err)) goto fail;
    {
        size_t cap = 4096, len = 0;
        char *j = sl_xmalloc(cap);
        len += (size_t)snprintf(j, cap, "{\"pipeline\":\"%s\",\"nodes\":[", p->name);
        int first = 1;
#define JAPP(...)                                                                                  \
    do {                                                                                           \
        int w_ = snprintf(j + len, cap - len, __VA_ARGS__);                                        \
        if ((size_t)w_ >= cap - len) {                                                             \
            cap = cap * 2 + (size_t)w_;                                                            \
            j = sl_xrealloc(j, cap);                                                               \
            w_ = snprintf(j + len, cap - len, __VA_ARGS__);                                        \
        }                                                                                          \
        len += (size_t)w_;                                                                         \
    } while (0)
        for (int s = 0; s < p->nsrc; s++, first = 0)
            JAPP("%s{\"name\":\"%s\",\"kind\":\"source\",\"layer\":\"source\"}", first ? "" : ",",
                 p->src[s].name);
        for (int t = 0; t < p->nt; t++, first = 0)
            JAPP("%s{\"name\":\"%s\",\"kind\":\"table\",\"layer\":\"%s\",\"store\":\"%s\"}",
                 first ? "" : ",", p->t[t].name,
                 p->t[t].layer == LAYER_BRONZE ? "bronze"
                 : p->t[t].layer == LAYER_GOLD ? "gold"
                                               : "silver",
                 p->t[t].store == STORE_LAKE   ? "lake"
                 : p->t[t].store == STORE_NONE ? "none"
                                               : "sqlite");
        for (int v = 0; v < p->nviews; v++, first = 0)
            JAPP("%s{\"name\":\"%s\",\"kind\":\"view\",\"layer\":\"view\"}", first ? "" : ",",
                 p->views[v].name);
        JAPP("%s{\"name\":\"quarantine\",\"kind\":\"table\",\"layer\":\"quarantine\"}],\"edges\":[",
             first ? "" : ",");
        first = 1;
        for (int t = 0; t < p->nt; t++)
            for (int in = 0; in < p->t[t].ninputs; in++, first = 0)
                JAPP("%s[\"%s\",\"%s\"]", first ? "" : ",", input_name(p, &p->t[t].inputs[in]),
                     p->t[t].name);
        /* a step's side input (join): the other table feeds this one */
        for (int t = 0; t < p->nt; t++)
            for (int k = 0; k < p->t[t].nside_out; k++, first = 0)
                JAPP("%s[\"%s\",\"%s\"]", first ? "" : ",", p->t[t].name,
                     p->t[p->t[t].side_out[k].table].name);
        /* a view depends on the tables its SQL names */
        for (int v = 0; v < p->nviews; v++)
            for (int t = 0; t < p->nt; t++)
                if (strstr(p->views[v].sql, p->t[t].name)) {
                    JAPP("%s[\"%s\",\"%s\"]", first ? "" : ",", p->t[t].name, p->views[v].name);
                    first = 0;
                }
        JAPP("]}");
#undef JAPP
        p->lineage_json = j;
    }
    return 0;
fail:
    return err->code ? err->code : SL_EINVAL;
}

void sl_pipeline_free(sl_pipeline *p) {
    if (!p) return;
    pipeline_free_contents(p);
    free(p);
}

/* Everything but the struct itself. */
static void pipeline_free_contents(sl_pipeline *p) {
    for (int i = 0; i < p->nt; i++) {
        table *t = &p->t[i];
        for (int s = 0; s < t->nsteps; s++)
            if (t->steps[s].self) t->steps[s].def->destroy(t->steps[s].self);
        sl_window_free(t->win);
        sl_wjoin_free(t->wjoin);
        sl_batch_free(t->work);
        sl_batch_free(t->mapped);
        free(t->view);
        for (int k = 0; k < t->nsinks; k++)
            t->sinks[k].def->destroy(t->sinks[k].self);
    }
    sl_alerts_free(p->alerts);
    p->alerts = NULL;
    for (int i = 0; i < p->nsrc; i++) {
        source *s = &p->src[i];
        for (int c = 0; c < SL_MAX_COLUMNS; c++)
            free(s->paths[c]);
        /* the engine closed the source's input before freeing the pipeline */
        assert(!s->opened);
        if (s->self) s->def->destroy(s->self);
        free_list(s->columns, s->ncolumns);
        free(s->regex);
        free(s->pending_kv);
        free(s->pending_event);
    }
    sl_spec_free(p->spec);
    sl_spec_free(p->base_spec);
    if (p->merged) free(p->merged->map);
    free(p->merged);
    free(p->dashboard_json);
    free(p->lineage_json);
    for (int i = 0; i < SL_SERVER_TOKENS_MAX; i++)
        free(p->token_file[i]);
}

const char *sl_pipeline_name(const sl_pipeline *p) { return p->name; }

int sl_exit_code(int code) {
    switch (code) {
    case SL_OK:
        return SL_EXIT_OK;
    case SL_EINVAL:
        return SL_EXIT_USAGE;
    case SL_EFAIL:
        return SL_EXIT_DATA;
    case SL_ECORRUPT:
        return SL_EXIT_CORRUPT;
    default:
        return SL_EXIT_RUNTIME;
    }
}

static const char *layer_name(int l) {
    return l == LAYER_BRONZE ? "bronze" : l == LAYER_GOLD ? "gold" : "silver";
}
static const char *store_name(int s) {
    return s == STORE_LAKE ? "lake" : s == STORE_NONE ? "none" : "sqlite";
}

static void print_children(const sl_pipeline *p, int ti, int depth, FILE *out) {
    const table *t = &p->t[ti];
    fprintf(out, "%*s-> %s  [%s, %s%s]", depth * 4, "", t->name, layer_name(t->layer),
            store_name(t->store),
            t->win     ? ", window"
            : t->wjoin ? ", join"
                       : "");
    if (t->nsteps) {
        fprintf(out, "  steps:");
        for (int s = 0; s < t->nsteps; s++) {
            fprintf(out, " %s", t->steps[s].def->name);
            if (t->step_side[s] >= 0) /* a side input: join(dim_items) */
                fprintf(out, "(%s)", p->t[t->step_side[s]].name);
        }
    }
    fprintf(out, "\n");
    for (int c = 0; c < t->nchildren; c++)
        print_children(p, t->children[c], depth + 1, out);
}

void sl_pipeline_print_lineage(const sl_pipeline *p, FILE *out) {
    fprintf(out, "pipeline %s (%s)\n", p->name, p->file);
    for (int s = 0; s < p->nsrc; s++) {
        char where[PATH_MAX + 64] = "";
        const source *src = &p->src[s];
        if (src->def->describe) src->def->describe(src->self, where, sizeof where);
        fprintf(out, "source %s  [%s]\n", src->name, where[0] ? where : src->def->name);
        for (int i = 0; i < p->nt; i++)
            for (int j = 0; j < p->t[i].ninputs; j++)
                if (p->t[i].inputs[j].source == s) print_children(p, i, 1, out);
    }
    fprintf(out, "quarantine  [sqlite]  <- rejected records of every table\n");
    for (int v = 0; v < p->nviews; v++)
        fprintf(out, "view %s  = %s\n", p->views[v].name, p->views[v].sql);
}
