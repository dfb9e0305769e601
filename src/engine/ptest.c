/*
 * ptest.c - `sluice test PIPELINE`: test cases beside a pipeline, run without
 * a store on disk (Vector's unit tests, dbt's tests).
 *
 *   # cameras.tests.yaml, beside cameras.yaml
 *   set: {raw_retention: 30d}             # variables for every case (optional)
 *   files: {locations.csv: "...csv text..."}  # written into each case's directory,
 *                                         # ${test_dir} in `set` values points there
 *   cases:
 *     - name: duplicates are dropped
 *       set: {locations: "${test_dir}/locations.csv"}
 *       input:
 *         detections:                     # a source of the pipeline
 *           - {detection_oid: 1, ...}     # a JSON object (sources reading JSON)
 *           - 'a raw line'                # a line as the source's format reads it
 *       expect:
 *         detection_events:               # a table (or view)
 *           count: 2                      # how many rows
 *           rows: [{detection_oid: 1}]    # exactly these rows, in any order; only the
 *                                         # columns given are compared
 *           contains: [{...}]             # at least these rows
 *       quarantine:                       # exactly these quarantined records
 *         - {table: raw_detection_events, reason: has_timestamp}   # reason: a substring
 *
 * How a case runs: every source of the pipeline becomes a `dir` source over
 * the case's input for it (same format, schema and format options, so the
 * records are read as in production, whatever the source kind: Kafka,
 * syslog, HTTP...); outputs to other systems (publish:, sinks:), alert
 * channels, the server and the dashboard are left out (alert rules stay, so
 * alert_history can be checked), and the store is the embedded one. The run is
 * `--once` (every window final), in a directory in memory (/dev/shm when
 * there is one), removed afterwards.
 *
 * Comparing: a number equals a number within 1e-9 relative (`~x`: within 1%
 * of x, for quantiles, which sketches give within 1%); true/false
 * equal 1/0; null equals SQL NULL; text is compared exactly, and two texts
 * that both read as ISO 8601 times are compared as instants.
 */
#include <dirent.h>
#include <errno.h>
#include <libgen.h>
#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/log.h"
#include "core/mem.h"
#include "core/timeutil.h"
#include "engine/internal.h"
#include "formats/json_write.h"

/* ---- nodes we make (freed together) ---- */
typedef struct {
    void **blocks;
    int n, cap;
} pool;

static void *pool_alloc(pool *P, size_t n) {
    if (P->n == P->cap) {
        P->cap = P->cap ? P->cap * 2 : 64;
        P->blocks = sl_xrealloc(P->blocks, (size_t)P->cap * sizeof *P->blocks);
    }
    return P->blocks[P->n++] = sl_xcalloc(1, n);
}

static char *pool_str(pool *P, const char *s) {
    char *d = pool_alloc(P, strlen(s) + 1);
    memcpy(d, s, strlen(s) + 1);
    return d;
}

static void pool_free(pool *P) {
    for (int i = 0; i < P->n; i++)
        free(P->blocks[i]);
    free(P->blocks);
    memset(P, 0, sizeof *P);
}

static sl_node *scalar(pool *P, const sl_node *at, const char *s) {
    sl_node *n = pool_alloc(P, sizeof *n);
    n->kind = SL_NODE_SCALAR;
    n->file = at->file, n->line = at->line, n->col = at->col;
    n->str = pool_str(P, s);
    n->quoted = true;
    return n;
}

/* A copy of map m with room for `extra` more entries (entries share values). */
static sl_node *map_copy(pool *P, const sl_node *m, int extra) {
    sl_node *n = pool_alloc(P, sizeof *n);
    *n = *m;
    n->map = pool_alloc(P, (size_t)(m->n + extra + 1) * sizeof *n->map);
    n->n = 0;
    return n;
}

static void map_add(sl_node *m, const char *key, sl_node *val) {
    m->map[m->n] = (sl_map_entry){.key = key, .line = val->line, .col = val->col, .val = val};
    m->n++;
}

/* ---- the rewrite: sources over the case's input, no external outputs ---- */
typedef struct {
    pool *P;
    const char *in_dir; /* sources read in_dir/<source name>/ */
} rewrite_ctx;

static bool common_key(const char *k) {
    for (const sl_opt *o = sl_source_common_opts(); o->name; o++)
        if (!strcmp(o->name, k)) return strcmp(k, "type") != 0;
    return false;
}

static const sl_node *rewrite(void *ud, const sl_node *root, sl_error *err) {
    rewrite_ctx *X = ud;
    pool *P = X->P;
    sl_node *r = map_copy(P, root, 0);
    for (int i = 0; i < root->n; i++) {
        const char *k = root->map[i].key;
        const sl_node *v = root->map[i].val;
        if (!strcmp(k, "server") || !strcmp(k, "dashboard") || !strcmp(k, "store")) continue;
        if (!strcmp(k, "alerts") && v->kind == SL_NODE_MAP) { /* rules stay; no channels */
            sl_node *a = map_copy(P, v, 0);
            for (int j = 0; j < v->n; j++) {
                const sl_node *rules = v->map[j].val;
                if (!strcmp(v->map[j].key, "channels")) continue;
                if (strcmp(v->map[j].key, "rules") || rules->kind != SL_NODE_SEQ) {
                    map_add(a, v->map[j].key, v->map[j].val);
                    continue;
                }
                sl_node *nr = pool_alloc(P, sizeof *nr);
                *nr = *rules;
                nr->seq = pool_alloc(P, (size_t)(rules->n + 1) * sizeof *nr->seq);
                for (int q = 0; q < rules->n; q++) {
                    const sl_node *rule = rules->seq[q];
                    if (rule->kind != SL_NODE_MAP) {
                        nr->seq[q] = (sl_node *)rule;
                        continue;
                    }
                    sl_node *r2 = map_copy(P, rule, 0);
                    for (int e = 0; e < rule->n; e++)
                        if (strcmp(rule->map[e].key, "channels"))
                            map_add(r2, rule->map[e].key, rule->map[e].val);
                    nr->seq[q] = r2;
                }
                map_add(a, "rules", nr);
            }
            map_add(r, k, a);
            continue;
        }
        if (!strcmp(k, "sources") && v->kind == SL_NODE_MAP) {
            sl_node *srcs = map_copy(P, v, 0);
            for (int s = 0; s < v->n; s++) {
                const sl_node *sv = v->map[s].val;
                if (sv->kind != SL_NODE_MAP) {
                    sl_node_error(err, sv, "source '%s' must be a map", v->map[s].key);
                    return NULL;
                }
                sl_node *ns = map_copy(P, sv, 4);
                bool has_format = false;
                for (int j = 0; j < sv->n; j++) {
                    if (!common_key(sv->map[j].key)) continue;
                    has_format |= !strcmp(sv->map[j].key, "format");
                    map_add(ns, sv->map[j].key, sv->map[j].val);
                }
                const sl_node *type = sl_node_get(sv, "type");
                const sl_source_def *def = type && type->str ? sl_source_find(type->str) : NULL;
                if (!has_format && def && def->format)
                    map_add(ns, "format", scalar(P, sv, def->format));
                map_add(ns, "type", scalar(P, sv, "dir"));
                char path[PATH_MAX];
                snprintf(path, sizeof path, "%s/%s", X->in_dir, v->map[s].key);
                map_add(ns, "path", scalar(P, sv, path));
                map_add(srcs, v->map[s].key, ns);
            }
            map_add(r, k, srcs);
            continue;
        }
        if (!strcmp(k, "tables") && v->kind == SL_NODE_MAP) {
            sl_node *tabs = map_copy(P, v, 0);
            for (int t = 0; t < v->n; t++) {
                const sl_node *tv = v->map[t].val;
                if (tv->kind != SL_NODE_MAP) {
                    map_add(tabs, v->map[t].key, (sl_node *)tv);
                    continue;
                }
                sl_node *nt = map_copy(P, tv, 0);
                for (int j = 0; j < tv->n; j++)
                    if (strcmp(tv->map[j].key, "publish") && strcmp(tv->map[j].key, "sinks"))
                        map_add(nt, tv->map[j].key, tv->map[j].val);
                map_add(tabs, v->map[t].key, nt);
            }
            map_add(r, k, tabs);
            continue;
        }
        map_add(r, k, (sl_node *)v);
    }
    return r;
}

/* ---- files ---- */
static int mkdirs(const char *path) {
    char tmp[PATH_MAX];
    snprintf(tmp, sizeof tmp, "%s", path);
    for (char *q = tmp + 1; *q; q++) {
        if (*q != '/') continue;
        *q = 0;
        mkdir(tmp, 0700);
        *q = '/';
    }
    return mkdir(tmp, 0700) == 0 || errno == EEXIST ? 0 : -1;
}

static void rm_rf(const char *path) {
    struct stat st;
    if (lstat(path, &st)) return;
    if (S_ISDIR(st.st_mode)) {
        DIR *d = opendir(path);
        struct dirent *e;
        while (d && (e = readdir(d))) {
            if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
            char sub[PATH_MAX];
            snprintf(sub, sizeof sub, "%s/%s", path, e->d_name);
            rm_rf(sub);
        }
        if (d) closedir(d);
        rmdir(path);
    } else {
        unlink(path);
    }
}

/* A record of the input: a map as one JSON object (nested maps and lists as
 * JSON; unquoted numbers, booleans and null as themselves), a scalar as its
 * text. */
static void json_value(FILE *f, const sl_node *n) {
    if (n->kind == SL_NODE_MAP) {
        fputc('{', f);
        for (int i = 0; i < n->n; i++) {
            char esc[1024];
            sl_json_escape(esc, sizeof esc, n->map[i].key, (int)strlen(n->map[i].key));
            fprintf(f, "%s\"%s\":", i ? "," : "", esc);
            json_value(f, n->map[i].val);
        }
        fputc('}', f);
    } else if (n->kind == SL_NODE_SEQ) {
        fputc('[', f);
        for (int i = 0; i < n->n; i++) {
            if (i) fputc(',', f);
            json_value(f, n->seq[i]);
        }
        fputc(']', f);
    } else {
        const char *s = n->str ? n->str : "";
        char *end;
        bool num = *s && (strtod(s, &end), *end == 0) && strspn(s, "0123456789.-+eE") == strlen(s);
        if (!n->quoted && (num || !strcmp(s, "true") || !strcmp(s, "false"))) {
            fputs(s, f);
        } else if (!n->quoted && sl_node_is_null(n)) {
            fputs("null", f);
        } else {
            size_t l = strlen(s);
            char *esc = sl_xmalloc(l * 6 + 8);
            sl_json_escape(esc, (int)(l * 6 + 8), s, (int)l);
            fprintf(f, "\"%s\"", esc);
            free(esc);
        }
    }
}

/* ---- comparing ---- */
static bool value_equal(sqlite3_stmt *st, int c, const sl_node *want) {
    int type = sqlite3_column_type(st, c);
    if (want->kind != SL_NODE_SCALAR) return false;
    const char *w = want->str ? want->str : "";
    if (!want->quoted && sl_node_is_null(want)) return type == SQLITE_NULL;
    if (type == SQLITE_NULL) return false;
    if (type == SQLITE_INTEGER || type == SQLITE_FLOAT) {
        double a = sqlite3_column_double(st, c), b;
        if (!want->quoted && !strcmp(w, "true")) return a == 1;
        if (!want->quoted && !strcmp(w, "false")) return a == 0;
        char *end;
        double tol = 1e-9; /* "~x": within 1%, for quantiles (sketches) */
        if (*w == '~') w++, tol = 0.01;
        b = strtod(w, &end);
        if (!*w || *end) return false;
        return a == b || fabs(a - b) <= tol * fmax(tol == 0.01 ? 0.0 : 1.0, fmax(fabs(a), fabs(b)));
    }
    const char *a = (const char *)sqlite3_column_text(st, c);
    if (!strcmp(a, w)) return true;
    int64_t ta, tb; /* two renderings of one instant */
    return sl_time_parse_iso(a, strlen(a), &ta) == 0 && sl_time_parse_iso(w, strlen(w), &tb) == 0 &&
           ta == tb;
}

/* The row the statement is on matches want (a map column: value). */
static bool row_matches(sqlite3_stmt *st, const sl_node *want, const int *colof) {
    for (int i = 0; i < want->n; i++)
        if (colof[i] < 0 || !value_equal(st, colof[i], want->map[i].val)) return false;
    return true;
}

static void row_text(sqlite3_stmt *st, char *out, size_t cap) {
    size_t n = 0;
    out[0] = 0;
    for (int c = 0; c < sqlite3_column_count(st) && n + 8 < cap; c++) {
        const char *v = (const char *)sqlite3_column_text(st, c);
        n += (size_t)snprintf(out + n, cap - n, "%s%s: %s", c ? ", " : "{",
                              sqlite3_column_name(st, c), v ? v : "null");
    }
    if (n + 2 < cap) snprintf(out + n, cap - n, "}");
}

typedef struct {
    FILE *out;
    int failures; /* of this case */
    const char *name;
} report;

static void failf(report *R, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void failf(report *R, const char *fmt, ...) {
    if (!R->failures++) fprintf(R->out, "FAIL %s\n", R->name);
    va_list ap;
    va_start(ap, fmt);
    fputs("    ", R->out);
    vfprintf(R->out, fmt, ap);
    fputc('\n', R->out);
    va_end(ap);
}

/* Checks rows (exact: every row matched once and nothing else; else at
 * least these) of table against the statement's result. */
static int check_rows(sqlite3 *db, const char *sql, const char *what, const sl_node *rows,
                      bool exact, report *R, sl_error *err) {
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
        failf(R, "%s: %s", what, sqlite3_errmsg(db));
        return 0;
    }
    int nw = rows->n, nc = sqlite3_column_count(st);
    bool *used = sl_xcalloc((size_t)nw + 1, sizeof *used);
    int **colof = sl_xcalloc((size_t)nw + 1, sizeof *colof);
    for (int i = 0; i < nw; i++) {
        const sl_node *w = rows->seq[i];
        if (w->kind != SL_NODE_MAP) {
            free(used);
            for (int k = 0; k < i; k++)
                free(colof[k]);
            free(colof);
            sqlite3_finalize(st);
            return sl_node_error(err, w, "%s: a row is a map of column: value", what);
        }
        colof[i] = sl_xcalloc((size_t)w->n + 1, sizeof(int));
        for (int k = 0; k < w->n; k++) {
            colof[i][k] = -1;
            for (int c = 0; c < nc; c++)
                if (!strcmp(sqlite3_column_name(st, c), w->map[k].key)) colof[i][k] = c;
            if (colof[i][k] < 0) failf(R, "%s: no column '%s'", what, w->map[k].key);
        }
    }
    int extra = 0;
    char first_extra[1024] = "";
    while (sqlite3_step(st) == SQLITE_ROW) {
        bool hit = false;
        for (int i = 0; i < nw && !hit; i++)
            if (!used[i] && row_matches(st, rows->seq[i], colof[i])) used[i] = hit = true;
        if (!hit && exact && !extra++) row_text(st, first_extra, sizeof first_extra);
    }
    sqlite3_finalize(st);
    for (int i = 0; i < nw; i++) {
        if (used[i]) continue;
        char *j = sl_pipeline_node_json(rows->seq[i]);
        failf(R, "%s: no row matches %s (line %d)", what, j, rows->seq[i]->line);
        free(j);
    }
    if (exact && extra)
        failf(R, "%s: %d row%s not expected, e.g. %s", what, extra, extra == 1 ? "" : "s",
              first_extra);
    for (int i = 0; i < nw; i++)
        free(colof[i]);
    free(colof);
    free(used);
    return 0;
}

static int64_t count_rows(sqlite3 *db, const char *sql, report *R, const char *what) {
    sqlite3_stmt *st;
    int64_t n = -1;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
        n = sqlite3_column_int64(st, 0);
    else
        failf(R, "%s: %s", what, sqlite3_errmsg(db));
    sqlite3_finalize(st);
    return n;
}

static const sl_opt expect_opts[] = {
    {"count", SL_OPT_INT, false, NULL, NULL, "how many rows"},
    {"rows", SL_OPT_SEQ, false, NULL, NULL, "exactly these rows (any order)"},
    {"contains", SL_OPT_SEQ, false, NULL, NULL, "at least these rows"},
    {0},
};
static const sl_opt quar_opts[] = {
    {"table", SL_OPT_STRING, false, NULL, NULL, "the table that quarantined it"},
    {"reason", SL_OPT_STRING, false, NULL, NULL, "a substring of the reason"},
    {"raw", SL_OPT_STRING, false, NULL, NULL, "a substring of the record"},
    {"count", SL_OPT_INT, false, NULL, "1", "how many such records"},
    {0},
};

static int check_case(sqlite3 *db, const sl_node *c, report *R, sl_error *err) {
    const sl_node *expect = sl_node_get(c, "expect");
    for (int i = 0; expect && i < expect->n; i++) {
        const char *table = expect->map[i].key;
        const sl_node *e = expect->map[i].val;
        if (sl_spec_check(e, expect_opts, table, err)) return SL_EINVAL;
        char *sql = sqlite3_mprintf("SELECT * FROM \"%w\"", table);
        char what[256];
        snprintf(what, sizeof what, "table %s", table);
        const sl_node *cnt = sl_node_get(e, "count");
        if (cnt) {
            int64_t want;
            if (sl_node_int(cnt, "count", &want, err)) {
                sqlite3_free(sql);
                return SL_EINVAL;
            }
            char *q = sqlite3_mprintf("SELECT count(*) FROM \"%w\"", table);
            int64_t got = count_rows(db, q, R, what);
            sqlite3_free(q);
            if (got >= 0 && got != want)
                failf(R, "%s: %lld rows, expected %lld", what, (long long)got, (long long)want);
        }
        const sl_node *rows = sl_node_get(e, "rows"), *has = sl_node_get(e, "contains");
        int rc = 0;
        if (rows) rc = check_rows(db, sql, what, rows, true, R, err);
        if (!rc && has) rc = check_rows(db, sql, what, has, false, R, err);
        sqlite3_free(sql);
        if (rc) return rc;
    }
    const sl_node *quar = sl_node_get(c, "quarantine");
    if (quar) {
        if (quar->kind != SL_NODE_SEQ)
            return sl_node_error(err, quar, "quarantine is a list of {table, reason, raw, count}");
        int64_t want_total = 0;
        for (int i = 0; i < quar->n; i++) {
            const sl_node *q = quar->seq[i];
            if (sl_spec_check(q, quar_opts, "quarantine item", err)) return SL_EINVAL;
            int64_t want = 1;
            const sl_node *cn = sl_node_get(q, "count");
            if (cn && sl_node_int(cn, "count", &want, err)) return SL_EINVAL;
            want_total += want;
            const sl_node *t = sl_node_get(q, "table"), *r = sl_node_get(q, "reason"),
                          *raw = sl_node_get(q, "raw");
            char *sql = sqlite3_mprintf(
                "SELECT count(*) FROM quarantine WHERE (%Q IS NULL OR table_name = %Q) AND "
                "(%Q IS NULL OR instr(reason, %Q) > 0) AND (%Q IS NULL OR instr(raw, %Q) > 0)",
                t ? t->str : NULL, t ? t->str : NULL, r ? r->str : NULL, r ? r->str : NULL,
                raw ? raw->str : NULL, raw ? raw->str : NULL);
            int64_t got = count_rows(db, sql, R, "quarantine");
            sqlite3_free(sql);
            char *j = sl_pipeline_node_json(q);
            if (got >= 0 && got != want)
                failf(R, "quarantine: %lld records match %s, expected %lld", (long long)got, j,
                      (long long)want);
            free(j);
        }
        int64_t got = count_rows(db, "SELECT count(*) FROM quarantine", R, "quarantine");
        if (got >= 0 && got != want_total)
            failf(R, "quarantine: %lld records in all, expected %lld", (long long)got,
                  (long long)want_total);
    }
    return 0;
}

/* ${test_dir} in a value: the case's directory. */
static void subst_test_dir(const char *v, const char *dir, char *out, size_t cap) {
    size_t n = 0;
    out[0] = 0;
    for (const char *p = v; *p && n + 1 < cap;) {
        if (!strncmp(p, "${test_dir}", 11)) {
            n += (size_t)snprintf(out + n, cap - n, "%s", dir);
            p += 11;
        } else {
            out[n++] = *p++;
            out[n] = 0;
        }
    }
}

static int add_sets(sl_vars *vars, const sl_node *set, const char *dir, sl_error *err) {
    for (int i = 0; set && i < set->n; i++) {
        const sl_node *v = set->map[i].val;
        if (v->kind != SL_NODE_SCALAR)
            return sl_node_error(err, v, "set: '%s' must be a value", set->map[i].key);
        char val[PATH_MAX * 2], kv[PATH_MAX * 3];
        subst_test_dir(v->str ? v->str : "", dir, val, sizeof val);
        snprintf(kv, sizeof kv, "%s=%s", set->map[i].key, val);
        if (sl_vars_set(vars, kv))
            return sl_node_error(err, v, "set: bad variable name '%s'", set->map[i].key);
    }
    return 0;
}

static int write_files(const sl_node *files, const char *dir, sl_error *err) {
    for (int i = 0; files && i < files->n; i++) {
        const sl_node *v = files->map[i].val;
        const char *name = files->map[i].key;
        if (v->kind != SL_NODE_SCALAR || strstr(name, "..") || name[0] == '/')
            return sl_node_error(err, v, "files: '%s' must be a relative name and a text", name);
        char path[PATH_MAX * 2];
        snprintf(path, sizeof path, "%s/%s", dir, name);
        char tmp[PATH_MAX * 2];
        snprintf(tmp, sizeof tmp, "%s", path);
        mkdirs(dirname(tmp));
        FILE *f = fopen(path, "w");
        if (!f) return sl_error_set(err, SL_EIO, "%s: %s", path, strerror(errno));
        fputs(v->str ? v->str : "", f);
        fclose(f);
    }
    return 0;
}

static int write_inputs(const sl_node *input, const char *dir, sl_error *err) {
    for (int i = 0; input && i < input->n; i++) {
        const sl_node *recs = input->map[i].val;
        if (recs->kind != SL_NODE_SEQ)
            return sl_node_error(err, recs, "input: '%s' must be a list of records",
                                 input->map[i].key);
        char path[PATH_MAX * 2];
        snprintf(path, sizeof path, "%s/in/%s", dir, input->map[i].key);
        if (mkdirs(path)) return sl_error_set(err, SL_EIO, "%s: %s", path, strerror(errno));
        snprintf(path, sizeof path, "%s/in/%s/input-000001", dir, input->map[i].key);
        FILE *f = fopen(path, "w");
        if (!f) return sl_error_set(err, SL_EIO, "%s: %s", path, strerror(errno));
        for (int r = 0; r < recs->n; r++) {
            const sl_node *rec = recs->seq[r];
            if (rec->kind == SL_NODE_SCALAR)
                fputs(rec->str ? rec->str : "", f);
            else
                json_value(f, rec);
            fputc('\n', f);
        }
        fclose(f);
    }
    return 0;
}

static const sl_opt case_opts[] = {
    {"name", SL_OPT_STRING, true, NULL, NULL, "what the case shows"},
    {"set", SL_OPT_MAP, false, NULL, NULL, "variables of this case"},
    {"files", SL_OPT_MAP, false, NULL, NULL, "files of this case"},
    {"input", SL_OPT_MAP, true, NULL, NULL, "source: [records]"},
    {"expect", SL_OPT_MAP, false, NULL, NULL, "table: {count, rows, contains}"},
    {"quarantine", SL_OPT_SEQ, false, NULL, NULL, "[{table, reason, raw, count}]"},
    {0},
};
static const sl_opt file_opts[] = {
    {"set", SL_OPT_MAP, false, NULL, NULL, "variables of every case"},
    {"files", SL_OPT_MAP, false, NULL, NULL, "files of every case"},
    {"cases", SL_OPT_SEQ, true, NULL, NULL, "the cases"},
    {0},
};

/* Runs one case; returns 0 (passed or failed: R->failures) or an error of
 * the tests file / the machine. */
static int run_case(const char *pipeline_path, const sl_vars *base, const sl_node *top,
                    const sl_node *c, const char *root_dir, int index, report *R, bool verbose,
                    sl_error *err) {
    int rc;
    if ((rc = sl_spec_check(c, case_opts, "case", err))) return rc;
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s/case-%d", root_dir, index);
    if (mkdirs(dir)) return sl_error_set(err, SL_EIO, "%s: %s", dir, strerror(errno));
    if ((rc = write_files(sl_node_get(top, "files"), dir, err)) ||
        (rc = write_files(sl_node_get(c, "files"), dir, err)) ||
        (rc = write_inputs(sl_node_get(c, "input"), dir, err)))
        return rc;
    /* every source gets a directory, with input or not */
    sl_vars *vars = sl_vars_new();
    sl_vars_copy(vars, base);
    if ((rc = add_sets(vars, sl_node_get(top, "set"), dir, err)) ||
        (rc = add_sets(vars, sl_node_get(c, "set"), dir, err))) {
        sl_vars_free(vars);
        return rc;
    }
    pool P = {0};
    char in_dir[PATH_MAX + 8];
    snprintf(in_dir, sizeof in_dir, "%s/in", dir);
    rewrite_ctx X = {&P, in_dir};
    sl_error e = {0};
    sl_pipeline *p = sl_pipeline_load_rewritten(pipeline_path, vars, "sqlite", rewrite, &X, &e);
    if (!p) {
        failf(R, "the pipeline does not load: %s", e.msg);
        goto done;
    }
    const sl_node *input = sl_node_get(c, "input");
    for (int i = 0; i < input->n; i++) {
        bool found = false;
        for (int s = 0; s < p->nsrc; s++)
            found |= !strcmp(p->src[s].name, input->map[i].key);
        if (!found) {
            rc = sl_error_at(err, SL_EINVAL, input->file, input->map[i].line, input->map[i].col,
                             "input: the pipeline has no source '%s'", input->map[i].key);
            goto done;
        }
    }
    for (int s = 0; s < p->nsrc; s++) {
        char path[PATH_MAX * 2];
        snprintf(path, sizeof path, "%s/%s", in_dir, p->src[s].name);
        mkdirs(path);
    }
    char data[PATH_MAX + 8];
    snprintf(data, sizeof data, "%s/data", dir);
    volatile sig_atomic_t stop = 0;
    sl_run_opts o = {.data_dir = data, .once = true, .stop = &stop};
    if (sl_pipeline_run(p, &o, &e)) {
        failf(R, "the run failed: %s", e.msg);
        goto done;
    }
    sqlite3 *db = NULL;
    char dbp[PATH_MAX + 16];
    snprintf(dbp, sizeof dbp, "%s/sluice.db", data);
    if (sqlite3_open_v2(dbp, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK ||
        sl_pipeline_prepare_connection(p, data, db, &e)) {
        failf(R, "cannot read the results: %s", e.msg[0] ? e.msg : sqlite3_errmsg(db));
        sqlite3_close(db);
        goto done;
    }
    for (int v = 0; v < p->nviews; v++) { /* views, as `sluice query` has them */
        char *q =
            sqlite3_mprintf("CREATE TEMP VIEW \"%w\" AS %s", p->views[v].name, p->views[v].sql);
        sqlite3_exec(db, q, NULL, NULL, NULL);
        sqlite3_free(q);
    }
    rc = check_case(db, c, R, err);
    if (verbose && R->failures) {
        sqlite3_stmt *st;
        if (sqlite3_prepare_v2(db, "SELECT table_name, reason, raw FROM quarantine LIMIT 20", -1,
                               &st, NULL) == SQLITE_OK) {
            while (sqlite3_step(st) == SQLITE_ROW)
                fprintf(R->out, "    quarantined in %s: %s: %s\n", sqlite3_column_text(st, 0),
                        sqlite3_column_text(st, 1), sqlite3_column_text(st, 2));
            sqlite3_finalize(st);
        }
    }
    sqlite3_close(db);
done:
    sl_pipeline_free(p);
    pool_free(&P);
    sl_vars_free(vars);
    return rc;
}

int sl_pipeline_test(const char *pipeline_path, const char *tests_path, const sl_vars *vars,
                     const char *only, bool verbose, FILE *out, sl_error *err) {
    char tpath[PATH_MAX];
    if (tests_path) {
        snprintf(tpath, sizeof tpath, "%s", tests_path);
    } else {
        size_t n = strlen(pipeline_path);
        const char *ext = n > 5 && !strcmp(pipeline_path + n - 5, ".yaml")  ? ".yaml"
                          : n > 4 && !strcmp(pipeline_path + n - 4, ".yml") ? ".yml"
                                                                            : "";
        snprintf(tpath, sizeof tpath, "%.*s.tests%s", (int)(n - strlen(ext)), pipeline_path,
                 ext[0] ? ext : ".yaml");
    }
    /* ${test_dir} stays as it is in the file (each case has its own) */
    sl_vars *tv = sl_vars_new();
    sl_vars_set(tv, "test_dir=${test_dir}");
    sl_spec *spec = sl_spec_load(tpath, tv, err);
    sl_vars_free(tv);
    if (!spec) return 2;
    const sl_node *top = sl_spec_root(spec);
    int rc = sl_spec_check(top, file_opts, "tests file", err) ? 2 : 0;
    char root[PATH_MAX];
    struct stat st;
    const char *base =
        stat("/dev/shm", &st) == 0 && S_ISDIR(st.st_mode) && !access("/dev/shm", W_OK) ? "/dev/shm"
        : getenv("TMPDIR") ? getenv("TMPDIR")
                           : "/tmp";
    snprintf(root, sizeof root, "%s/sluice-test-XXXXXX", base);
    if (!rc && !mkdtemp(root)) {
        sl_error_set(err, SL_EIO, "%s: %s", root, strerror(errno));
        rc = 1;
    }
    int passed = 0, failed = 0, ran = 0;
    const sl_node *cases = rc ? NULL : sl_node_get(top, "cases");
    for (int i = 0; cases && i < cases->n; i++) {
        const sl_node *c = cases->seq[i];
        const sl_node *nm = c->kind == SL_NODE_MAP ? sl_node_get(c, "name") : NULL;
        if (only && (!nm || !nm->str || strcmp(nm->str, only))) continue;
        ran++;
        report R = {out, 0, nm && nm->str ? nm->str : "?"};
        int64_t t0 = sl_monotonic_us();
        if (run_case(pipeline_path, vars, top, c, root, i, &R, verbose, err)) {
            rc = 2;
            break;
        }
        if (R.failures) {
            failed++;
        } else {
            passed++;
            fprintf(out, "ok   %s (%.0f ms)\n", R.name, (double)(sl_monotonic_us() - t0) / 1e3);
        }
        fflush(out);
    }
    if (rc == 0 && only && !ran) {
        sl_error_set(err, SL_EINVAL, "%s: no case named '%s'", tpath, only);
        rc = 2;
    }
    if (rc == 0) {
        fprintf(out, "%s: %d passed, %d failed\n", tpath, passed, failed);
        rc = failed ? 1 : 0;
    }
    if (root[0] && strcmp(root + strlen(root) - 6, "XXXXXX")) rm_rf(root);
    sl_spec_free(spec);
    return rc;
}
