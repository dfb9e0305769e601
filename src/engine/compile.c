/*
 * compile.c - pipeline file -> compiled pipeline.
 *
 * Top level: pipeline, description, commit_interval, batch_size, sources,
 * tables, views. Every map is checked against an option table, so unknown
 * keys and wrong types are refused with file:line:col. Tables are compiled
 * in dependency order; a `from` that names nothing, or a cycle, is refused
 * at the `from` that closes it.
 */
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/timeutil.h"
#include "engine/internal.h"

static const sl_opt top_opts[] = {
    {"pipeline", SL_OPT_STRING, true, NULL, NULL, "pipeline name (names the data directory)"},
    {"description", SL_OPT_STRING, false, NULL, NULL, "free text"},
    {"commit_interval", SL_OPT_DURATION, false, NULL, "1s", "how often outputs and positions are committed"},
    {"batch_size", SL_OPT_INT, false, NULL, "4096", "rows per batch"},
    {"sources", SL_OPT_MAP, true, NULL, NULL, "name: source"},
    {"tables", SL_OPT_MAP, true, NULL, NULL, "name: table"},
    {"views", SL_OPT_MAP, false, NULL, NULL, "name: SQL SELECT over tables"},
    {"server", SL_OPT_MAP, false, NULL, NULL, "HTTP server: {listen: 127.0.0.1:8080, token: ...}"},
    {"dashboard", SL_OPT_MAP, false, NULL, NULL, "dashboard: {title, panels: [...]} served at / by the server"},
    {0},
};

static const sl_opt source_opts[] = {
    {"type", SL_OPT_ENUM, true, "dir|file", NULL, "dir: a landing directory; file: one file"},
    {"path", SL_OPT_STRING, true, NULL, NULL, "directory (dir) or file (file)"},
    {"pattern", SL_OPT_STRING, false, NULL, "*", "file name glob (dir)"},
    {"format", SL_OPT_ENUM, false, "json|syslog|logfmt", "json", "record format: NDJSON, syslog (RFC 5424 / 3164) or logfmt"},
    {"schema", SL_OPT_MAP, false, NULL, NULL, "field: type (int, double, string, bool, timestamp); syslog default: pri, facility, severity, timestamp, hostname, app_name, procid, msgid, structured_data, msg"},
    {"paths", SL_OPT_MAP, false, NULL, NULL, "field: dotted JSON path, when not a top-level key"},
    {0},
};

static const sl_opt table_opts[] = {
    {"from", SL_OPT_STRING, true, NULL, NULL, "a source or another table"},
    {"layer", SL_OPT_ENUM, false, "bronze|silver|gold", "silver", "medallion layer"},
    {"store", SL_OPT_ENUM, false, "lake|sqlite|none", "lake for bronze, else sqlite", "where rows are kept"},
    {"retention", SL_OPT_DURATION, false, NULL, NULL, "lake: delete hour folders older than this"},
    {"description", SL_OPT_STRING, false, NULL, NULL, "free text"},
    {"steps", SL_OPT_SEQ, false, NULL, NULL, "operators applied in order: - op: {...}"},
    {"window", SL_OPT_MAP, false, NULL, NULL, "window aggregation (gold)"},
    {"rollup", SL_OPT_MAP, false, NULL, NULL, "{size: 1h}: a coarser window made by merging the final groups of the window table it reads"},
    {0},
};

static const sl_opt server_opts[] = {
    {"listen", SL_OPT_STRING, false, NULL, "127.0.0.1:8080", "address:port to listen on (port 0: any free port)"},
    {"token", SL_OPT_STRING, false, NULL, NULL, "bearer token required by every endpoint but /healthz (empty: none)"},
    {0},
};

static const sl_opt dashboard_opts[] = {
    {"title", SL_OPT_STRING, false, NULL, NULL, "page title"},
    {"panels", SL_OPT_SEQ, true, NULL, NULL, "list of panels"},
    {0},
};

static const sl_opt panel_opts[] = {
    {"title", SL_OPT_STRING, true, NULL, NULL, "panel title"},
    {"type", SL_OPT_ENUM, true, "timeseries|bar|table|stat", NULL, "how the query result is drawn"},
    {"sql", SL_OPT_STRING, true, NULL, NULL, "read-only SQL over the pipeline's tables"},
    {"refresh_ms", SL_OPT_INT, false, NULL, "5000", "how often the panel re-runs its query (it also refreshes on commits)"},
    {"x", SL_OPT_STRING, false, NULL, NULL, "x column (timeseries, bar)"},
    {"y", SL_OPT_LIST, false, NULL, NULL, "value column(s)"},
    {"series", SL_OPT_STRING, false, NULL, NULL, "one line per value of this column (timeseries)"},
    {"unit", SL_OPT_STRING, false, NULL, NULL, "unit shown with values"},
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
            *buf = realloc(*buf, *cap);                                                            \
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
        if (!n->quoted && *s && (strtod(s, &end), *end == 0) && strspn(s, "0123456789.-+eE") == strlen(s)) {
            PUT(s, strlen(s));
        } else {
            size_t sl = strlen(s);
            char *big = malloc(sl * 6 + 8);
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
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '_'))
            return false;
    return true;
}

static int name_error(sl_error *err, const sl_node *map, int i, const char *what) {
    return sl_error_at(err, SL_EINVAL, map->file, map->map[i].line, map->map[i].col,
                       "%s name '%s' must be an identifier (letters, digits, _)", what, map->map[i].key);
}

static int compile_source(sl_pipeline *p, source *s, const sl_node *n, sl_error *err) {
    char what[128];
    snprintf(what, sizeof what, "source '%s'", s->name);
    if (sl_spec_check(n, source_opts, what, err)) return SL_EINVAL;
    s->node = n;
    s->type = SRC_DIR;
    const char *type = sl_node_get(n, "type")->str;
    const char *path = sl_node_get(n, "path")->str;
    const sl_node *pat = sl_node_get(n, "pattern");
    if (!strcmp(type, "file")) {
        char a[PATH_MAX], b[PATH_MAX];
        snprintf(a, sizeof a, "%s", path);
        snprintf(b, sizeof b, "%s", path);
        snprintf(s->path, sizeof s->path, "%s", dirname(a));
        snprintf(s->pattern, sizeof s->pattern, "%s", basename(b));
    } else {
        snprintf(s->path, sizeof s->path, "%s", path);
        snprintf(s->pattern, sizeof s->pattern, "%s", pat ? pat->str : "*");
    }
    const sl_node *fmt = sl_node_get(n, "format");
    snprintf(s->format, sizeof s->format, "%s", fmt ? fmt->str : "json");
    const sl_node *sc = sl_node_get(n, "schema");
    sl_schema_init(&s->schema);
    if (!sc && strcmp(s->format, "syslog") == 0) sl_line_format_syslog_schema(&s->schema);
    else if (!sc) return sl_node_error(err, n, "source '%s': missing key 'schema' (needed for format %s)", s->name, s->format);
    for (int i = 0; sc && i < sc->n; i++) {
        const sl_map_entry *me = &sc->map[i];
        if (!valid_ident(me->key)) return name_error(err, sc, i, "field");
        int t = me->val->kind == SL_NODE_SCALAR ? sl_type_parse(me->val->str) : -1;
        if (t < 0)
            return sl_node_error(err, me->val, "unknown type '%s' for field '%s' (int, double, string, bool, timestamp)",
                                 me->val->str ? me->val->str : "", me->key);
        if (sl_schema_add(&s->schema, me->key, (sl_type)t) < 0)
            return sl_error_at(err, SL_EINVAL, sc->file, me->line, me->col, "too many fields");
    }
    const sl_node *pn = sl_node_get(n, "paths");
    if (pn) {
        for (int i = 0; i < pn->n; i++) {
            int c = sl_schema_find(&s->schema, pn->map[i].key);
            if (c < 0)
                return sl_error_at(err, SL_EINVAL, pn->file, pn->map[i].line, pn->map[i].col,
                                   "paths: '%s' is not a field of the schema", pn->map[i].key);
            if (pn->map[i].val->kind != SL_NODE_SCALAR) return sl_node_error(err, pn->map[i].val, "expected a path");
            s->paths[c] = strdup(pn->map[i].val->str);
        }
    }
    (void)p;
    return 0;
}

static int compile_table(sl_pipeline *p, table *t, sl_error *err) {
    const sl_node *n = t->node;
    sl_op_env env = {.table = t->name, .base_dir = p->base_dir};
    t->out = t->in;
    const sl_node *win = sl_node_get(n, "window");
    const sl_node *steps = sl_node_get(n, "steps");
    const sl_node *roll = sl_node_get(n, "rollup");
    if (roll) {
        static const sl_opt rollup_opts[] = {{"size", SL_OPT_DURATION, true, NULL, NULL, "rollup window length"}, {0}};
        if (win || steps) return sl_node_error(err, roll, "table '%s': a rollup has no window or steps of its own", t->name);
        if (sl_spec_check(roll, rollup_opts, "rollup", err)) return SL_EINVAL;
        table *parent = t->from_table >= 0 ? &p->t[t->from_table] : NULL;
        if (!parent || !parent->win)
            return sl_node_error(err, roll, "table '%s': a rollup must read from a window table", t->name);
        int64_t size;
        if (sl_node_duration(sl_node_get(roll, "size"), "size", &size, err)) return SL_EINVAL;
        sl_error e = {0};
        t->win = sl_window_create_rollup(parent->win, size, &e);
        if (!t->win) return sl_node_error(err, roll, "%s", e.msg);
        t->is_rollup = true;
        t->out = *sl_window_schema(t->win);
        return 0;
    }
    if (win && steps)
        return sl_node_error(err, win, "table '%s': a window table has no steps (put them in the table it reads)", t->name);
    if (win) {
        t->win = sl_window_create(win, &t->in, err);
        if (!t->win) return SL_EINVAL;
        t->out = *sl_window_schema(t->win);
        return 0;
    }
    for (int i = 0; steps && i < steps->n; i++) {
        const sl_node *sn = steps->seq[i];
        if (sn->kind != SL_NODE_MAP || sn->n != 1)
            return sl_node_error(err, sn, "a step is a map with one operator, e.g. - filter: \"x > 0\"");
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
        if (def->create(sn->map[0].val, &t->out, &env, &st->self, err)) return SL_EINVAL;
        const sl_node *nm = sn->map[0].val->kind == SL_NODE_MAP ? sl_node_get(sn->map[0].val, "name") : NULL;
        char id[sizeof st->id];
        snprintf(id, sizeof id, "%s/%d/%s%s%s", t->name, i, def->name, nm ? ":" : "", nm && nm->str ? nm->str : "");
        memcpy(st->id, id, sizeof id);
        st->full_every = 60;
        t->nsteps++;
    }
    return 0;
}

/* Resolves `from` and orders the tables so that each comes after what it reads. */
static int build_graph(sl_pipeline *p, sl_error *err) {
    for (int i = 0; i < p->nt; i++) {
        table *t = &p->t[i];
        const sl_node *from = sl_node_get(t->node, "from");
        t->from_source = t->from_table = -1;
        for (int s = 0; s < p->nsrc; s++)
            if (!strcmp(p->src[s].name, from->str)) t->from_source = s;
        for (int k = 0; k < p->nt; k++)
            if (!strcmp(p->t[k].name, from->str)) t->from_table = k;
        if (t->from_source < 0 && t->from_table < 0)
            return sl_node_error(err, from, "table '%s' reads from '%s', which is neither a source nor a table", t->name, from->str);
        if (t->from_table == i) return sl_node_error(err, from, "table '%s' reads from itself (cycle)", t->name);
    }
    /* Kahn's algorithm; a table left over sits on a cycle. */
    int indeg[SL_MAX_TABLES] = {0}, done[SL_MAX_TABLES] = {0}, n = 0;
    for (int i = 0; i < p->nt; i++) indeg[i] = p->t[i].from_table >= 0;
    while (n < p->nt) {
        int progressed = 0;
        for (int i = 0; i < p->nt; i++) {
            if (done[i] || indeg[i]) continue;
            done[i] = 1;
            p->order[n++] = i;
            progressed = 1;
            for (int k = 0; k < p->nt; k++)
                if (p->t[k].from_table == i) indeg[k] = 0;
        }
        if (!progressed) {
            for (int i = 0; i < p->nt; i++)
                if (!done[i]) {
                    const sl_node *from = sl_node_get(p->t[i].node, "from");
                    return sl_node_error(err, from, "cycle in the table graph: '%s' reads from '%s', which depends on '%s'",
                                         p->t[i].name, from->str, p->t[i].name);
                }
        }
    }
    for (int i = 0; i < p->nt; i++) {
        table *t = &p->t[i];
        if (t->from_table >= 0) {
            table *parent = &p->t[t->from_table];
            if (parent->win && sl_node_get(t->node, "window"))
                return sl_node_error(err, sl_node_get(t->node, "window"),
                                     "table '%s' reads window rows from '%s': use rollup: {size: ...} to make a coarser window", t->name, parent->name);
            parent->children[parent->nchildren++] = i;
        } else if (p->src[t->from_source].first_table < 0) {
            p->src[t->from_source].first_table = i;
        }
    }
    return 0;
}

sl_pipeline *sl_pipeline_load(const char *path, const sl_vars *vars, sl_error *err) {
    sl_pipeline *p = calloc(1, sizeof *p);
    snprintf(p->file, sizeof p->file, "%s", path);
    char tmp[PATH_MAX];
    snprintf(tmp, sizeof tmp, "%s", path);
    snprintf(p->base_dir, sizeof p->base_dir, "%s", dirname(tmp));
    p->spec = sl_spec_load(path, vars, err);
    if (!p->spec) goto fail;
    const sl_node *root = sl_spec_root(p->spec);
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
            if (valid_ident(tn)) sl_error_at(err, SL_EINVAL, tabs->file, tabs->map[i].line, tabs->map[i].col, "table name '%s' is reserved", tn);
            else name_error(err, tabs, i, "table");
            goto fail;
        }
        for (int s = 0; s < p->nsrc; s++)
            if (!strcmp(p->src[s].name, tn)) {
                sl_error_at(err, SL_EINVAL, tabs->file, tabs->map[i].line, tabs->map[i].col, "'%s' is both a source and a table", tn);
                goto fail;
            }
        table *t = &p->t[p->nt++];
        snprintf(t->name, sizeof t->name, "%s", tn);
        t->node = tabs->map[i].val;
        char what[128];
        snprintf(what, sizeof what, "table '%s'", tn);
        if (sl_spec_check(t->node, table_opts, what, err)) goto fail;
        const sl_node *ly = sl_node_get(t->node, "layer");
        t->layer = !ly ? LAYER_SILVER : !strcmp(ly->str, "bronze") ? LAYER_BRONZE : !strcmp(ly->str, "gold") ? LAYER_GOLD : LAYER_SILVER;
        const sl_node *st = sl_node_get(t->node, "store");
        t->store = st ? (!strcmp(st->str, "lake") ? STORE_LAKE : !strcmp(st->str, "none") ? STORE_NONE : STORE_SQLITE)
                      : (t->layer == LAYER_BRONZE ? STORE_LAKE : STORE_SQLITE);
        const sl_node *rt = sl_node_get(t->node, "retention");
        if (rt && sl_node_duration(rt, "retention", &t->retention_us, err)) goto fail;
        if ((sl_node_get(t->node, "window") || sl_node_get(t->node, "rollup")) && t->store == STORE_LAKE) {
            sl_node_error(err, st ? st : t->node, "a window table is stored in sqlite (upserts), not the lake");
            goto fail;
        }
    }
    if (build_graph(p, err)) goto fail;
    for (int k = 0; k < p->nt; k++) {
        table *t = &p->t[p->order[k]];
        t->in = t->from_source >= 0 ? p->src[t->from_source].schema : p->t[t->from_table].out;
        if (compile_table(p, t, err)) goto fail;
    }
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
        const sl_node *tk = sl_node_get(srv, "token");
        p->listen = l ? (l->str && *l->str ? l->str : NULL) : "127.0.0.1:8080"; /* "" = no server */
        p->token = tk && tk->str && *tk->str ? tk->str : NULL;
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
    {
        size_t cap = 4096, len = 0;
        char *j = malloc(cap);
        len += (size_t)snprintf(j, cap, "{\"pipeline\":\"%s\",\"nodes\":[", p->name);
        int first = 1;
#define JAPP(...)                                                                                  \
    do {                                                                                           \
        int w_ = snprintf(j + len, cap - len, __VA_ARGS__);                                        \
        if ((size_t)w_ >= cap - len) {                                                             \
            cap = cap * 2 + (size_t)w_;                                                            \
            j = realloc(j, cap);                                                                   \
            w_ = snprintf(j + len, cap - len, __VA_ARGS__);                                        \
        }                                                                                          \
        len += (size_t)w_;                                                                         \
    } while (0)
        for (int s = 0; s < p->nsrc; s++, first = 0)
            JAPP("%s{\"name\":\"%s\",\"kind\":\"source\",\"layer\":\"source\"}", first ? "" : ",", p->src[s].name);
        for (int t = 0; t < p->nt; t++, first = 0)
            JAPP("%s{\"name\":\"%s\",\"kind\":\"table\",\"layer\":\"%s\",\"store\":\"%s\"}", first ? "" : ",", p->t[t].name,
                 p->t[t].layer == LAYER_BRONZE ? "bronze" : p->t[t].layer == LAYER_GOLD ? "gold" : "silver",
                 p->t[t].store == STORE_LAKE ? "lake" : p->t[t].store == STORE_NONE ? "none" : "sqlite");
        for (int v = 0; v < p->nviews; v++, first = 0)
            JAPP("%s{\"name\":\"%s\",\"kind\":\"view\",\"layer\":\"view\"}", first ? "" : ",", p->views[v].name);
        JAPP("%s{\"name\":\"quarantine\",\"kind\":\"table\",\"layer\":\"quarantine\"}],\"edges\":[", first ? "" : ",");
        first = 1;
        for (int t = 0; t < p->nt; t++, first = 0) {
            const char *from = p->t[t].from_source >= 0 ? p->src[p->t[t].from_source].name : p->t[p->t[t].from_table].name;
            JAPP("%s[\"%s\",\"%s\"]", first ? "" : ",", from, p->t[t].name);
        }
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
    return p;
fail:
    sl_pipeline_free(p);
    return NULL;
}

void sl_pipeline_free(sl_pipeline *p) {
    if (!p) return;
    for (int i = 0; i < p->nt; i++) {
        table *t = &p->t[i];
        for (int s = 0; s < t->nsteps; s++)
            if (t->steps[s].self) t->steps[s].def->destroy(t->steps[s].self);
        sl_window_free(t->win);
        sl_batch_free(t->work);
        sl_table_writer_free(t->writer);
        if (t->lake) sl_lake_close(t->lake);
        sl_json_keys_fini(&t->keys);
        free(t->line);
    }
    for (int i = 0; i < p->nsrc; i++) {
        source *s = &p->src[i];
        for (int c = 0; c < SL_MAX_COLUMNS; c++) free(s->paths[c]);
        sl_dir_free(s->dir);
        sl_line_format_free(s->fmt);
        sl_batch_free(s->batch);
    }
    sl_spec_free(p->spec);
    free(p->dashboard_json);
    free(p->lineage_json);
    free(p);
}

const char *sl_pipeline_name(const sl_pipeline *p) { return p->name; }

int sl_exit_code(int code) {
    switch (code) {
    case SL_OK: return SL_EXIT_OK;
    case SL_EINVAL: return SL_EXIT_USAGE;
    case SL_EFAIL: return SL_EXIT_DATA;
    case SL_ECORRUPT: return SL_EXIT_CORRUPT;
    default: return SL_EXIT_RUNTIME;
    }
}

static const char *layer_name(int l) { return l == LAYER_BRONZE ? "bronze" : l == LAYER_GOLD ? "gold" : "silver"; }
static const char *store_name(int s) { return s == STORE_LAKE ? "lake" : s == STORE_NONE ? "none" : "sqlite"; }

static void print_children(const sl_pipeline *p, int ti, int depth, FILE *out) {
    const table *t = &p->t[ti];
    fprintf(out, "%*s-> %s  [%s, %s%s]", depth * 4, "", t->name, layer_name(t->layer), store_name(t->store), t->win ? ", window" : "");
    if (t->nsteps) {
        fprintf(out, "  steps:");
        for (int s = 0; s < t->nsteps; s++) fprintf(out, " %s", t->steps[s].def->name);
    }
    fprintf(out, "\n");
    for (int c = 0; c < t->nchildren; c++) print_children(p, t->children[c], depth + 1, out);
}

void sl_pipeline_print_lineage(const sl_pipeline *p, FILE *out) {
    fprintf(out, "pipeline %s (%s)\n", p->name, p->file);
    for (int s = 0; s < p->nsrc; s++) {
        fprintf(out, "source %s  [dir %s/%s]\n", p->src[s].name, p->src[s].path, p->src[s].pattern);
        for (int i = 0; i < p->nt; i++)
            if (p->t[i].from_source == s) print_children(p, i, 1, out);
    }
    fprintf(out, "quarantine  [sqlite]  <- rejected records of every table\n");
    for (int v = 0; v < p->nviews; v++) fprintf(out, "view %s  = %s\n", p->views[v].name, p->views[v].sql);
}
