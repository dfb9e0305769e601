/*
 * query.c - `sluice query`: read-only SQL over every table of a pipeline.
 *
 * SQLite tables are queried directly. Parquet lake tables are the
 * sluice_parquet virtual table (typed columns, row groups pruned by their
 * statistics); NDJSON lake tables the sluice_lake virtual table wrapped in a
 * temp view that extracts the columns with json_extract. Both are bounded by
 * the committed lake position, so a query never sees rows of an open commit.
 */
#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/mem.h"
#include "core/tabfmt.h"
#include "engine/internal.h"
#include "sinks/lake_vtab.h"

/* DIR/<layer>/<table>: the folder of a lake table's segments. */
static void lake_root(char *out, size_t cap, const char *dir, const table *t) {
    snprintf(out, cap, "%s/%s/%s", dir,
             t->layer == LAYER_BRONZE ? "bronze"
             : t->layer == LAYER_GOLD ? "gold"
                                      : "silver",
             t->name);
}

/* Registers the lake virtual table on db and creates a temp view per lake
 * table, bounded by the committed position. Used by `sluice query` and by the
 * HTTP server for each of its read-only connections. */
int sl_pipeline_prepare_connection(const sl_pipeline *p, const char *dir, sqlite3 *db,
                                   sl_error *err) {
    int rc = 0;
    sl_lake_vtab_register(db);
    sl_parquet_vtab_register(db);
    char *abs = realpath(dir, NULL);
    for (int i = 0; i < p->nt; i++) {
        const table *t = &p->t[i];
        if (t->store != STORE_LAKE) continue;
        char root[PATH_MAX + 128];
        lake_root(root, sizeof root, abs ? abs : dir, t);
        if (sl_table_lake_parquet(t)) {
            /* typed columns straight from the segments (parquet_vtab.c) */
            sqlite3_str *decl = sqlite3_str_new(db);
            for (int c = 0; c < t->out.n; c++)
                sqlite3_str_appendf(decl, "%s%s %s", c ? ", " : "", t->out.f[c].name,
                                    sl_type_name(t->out.f[c].type));
            sqlite3_str_appendall(decl, ", _ingest_ts timestamp, _source string, _offset int");
            char *d = sqlite3_str_finish(decl);
            char *q;
            if (t->ref_input >= 0) { /* columns not stored are the input row's (lake_ref.h) */
                const table *in = &p->t[t->ref_input];
                char in_root[PATH_MAX + 128];
                lake_root(in_root, sizeof in_root, abs ? abs : dir, in);
                q = sqlite3_mprintf("CREATE VIRTUAL TABLE temp.\"%w\" USING sluice_parquet(%Q, "
                                    "'kv:lake:%q', %Q, %Q, 'kv:lake:%q')",
                                    t->name, root, t->name, d ? d : "", in_root, in->name);
            } else {
                q = sqlite3_mprintf("CREATE VIRTUAL TABLE temp.\"%w\" USING sluice_parquet(%Q, "
                                    "'kv:lake:%q', %Q)",
                                    t->name, root, t->name, d ? d : "");
            }
            sqlite3_free(d);
            char *msg = NULL;
            if (!q || sqlite3_exec(db, q, NULL, NULL, &msg) != SQLITE_OK) {
                rc = sl_error_set(err, SL_EIO, "lake table %s: %s", t->name, msg ? msg : "error");
                sqlite3_free(msg);
                sqlite3_free(q);
                goto done;
            }
            sqlite3_free(q);
            continue;
        }
        /* the committed position is looked up at every scan (see lake_vtab.c) */
        char *q = sqlite3_mprintf(
            "CREATE VIRTUAL TABLE temp.\"_lake_%w\" USING sluice_lake(%Q, 'kv:lake:%q')", t->name,
            root, t->name);
        char *msg = NULL;
        if (sqlite3_exec(db, q, NULL, NULL, &msg) != SQLITE_OK) {
            rc = sl_error_set(err, SL_EIO, "lake table %s: %s", t->name, msg ? msg : "error");
            sqlite3_free(msg);
            sqlite3_free(q);
            goto done;
        }
        sqlite3_free(q);
        size_t cap = 65536;
        char *v = sl_xmalloc(cap);
        int n = snprintf(v, cap, "CREATE TEMP VIEW \"%s\" AS SELECT ", t->name);
        for (int c = 0; c < t->out.n; c++) {
            const char *cn = t->out.f[c].name;
            n += snprintf(v + n, cap - (size_t)n, "json_extract(line, '$.\"%s\"') AS \"%s\", ", cn,
                          cn);
        }
        snprintf(v + n, cap - (size_t)n,
                 "json_extract(line, '$._ingest_ts') AS _ingest_ts, json_extract(line, "
                 "'$._source') AS _source, "
                 "json_extract(line, '$._offset') AS _offset FROM temp.\"_lake_%s\"",
                 t->name);
        if (sqlite3_exec(db, v, NULL, NULL, &msg) != SQLITE_OK) {
            rc = sl_error_set(err, SL_EIO, "lake view %s: %s", t->name, msg ? msg : "error");
            sqlite3_free(msg);
            free(v);
            goto done;
        }
        free(v);
    }
    /* The pipeline's views live in the store's main schema, and SQLite binds
     * a main view's table names to main only: a view over a lake table (a
     * temp table here) would fail with "no such table". The same views as
     * temp views shadow them on this connection and see the lake tables. */
    bool lake = false;
    for (int i = 0; i < p->nt; i++)
        lake |= p->t[i].store == STORE_LAKE;
    for (int i = 0; lake && i < p->nviews; i++) {
        char *v = sqlite3_mprintf("CREATE TEMP VIEW IF NOT EXISTS \"%w\" AS %s", p->views[i].name,
                                  p->views[i].sql);
        char *msg = NULL;
        if (!v || sqlite3_exec(db, v, NULL, NULL, &msg) != SQLITE_OK) {
            rc = sl_error_set(err, SL_EIO, "view %s: %s", p->views[i].name, msg ? msg : "error");
            sqlite3_free(msg);
            sqlite3_free(v);
            goto done;
        }
        sqlite3_free(v);
    }
done:
    free(abs);
    return rc;
}

/* Scale-out (run --instance): DATA holds instance-NAME/sluice.db, one per
 * process. The first is opened as main, the others attached, and every
 * SQLite table (plus quarantine and the event log) is shadowed by a temp
 * view over all of them, so queries see the pipeline's whole output. Row
 * tables union exactly (each record was stored by one instance); window
 * tables hold one partial row per instance and group, to be summed. The
 * pipeline's views are re-created as temp views so they read the unions. */
static int attach_instances(const sl_pipeline *p, sqlite3 *db, char **paths, size_t n,
                            sl_error *err) {
    for (size_t k = 1; k < n; k++) {
        char uri[PATH_MAX + 128];
        char *q = sqlite3_mprintf("ATTACH %Q AS i%d", sl_store_ro_name(paths[k], uri, sizeof uri),
                                  (int)k);
        int e = sqlite3_exec(db, q, NULL, NULL, NULL);
        sqlite3_free(q);
        if (e != SQLITE_OK)
            return sl_error_set(err, SL_EIO, "attach %s: %s", paths[k], sqlite3_errmsg(db));
    }
    const char *extra[] = {"quarantine", "_sluice_events", "_sluice_positions"};
    for (int i = 0; i < p->nt + 3; i++) {
        const char *name = i < p->nt ? p->t[i].name : extra[i - p->nt];
        if (i < p->nt && p->t[i].store != STORE_SQLITE) continue;
        char *v;
        const table *t = i < p->nt ? &p->t[i] : NULL;
        if (t && sl_schema_find(&t->out, "_group") >= 0 &&
            sl_schema_find(&t->out, SL_PART_COLUMN) >= 0) {
            /* partitioned state, tables upserted by _group (windows, scd2
             * versions, rows read from windows): a row may be in a previous
             * owner's database too, stale or (when it handed over) identical.
             * A final window row or a closed version is never rewritten, so
             * it wins; among open rows, the one of the instance holding the
             * partition's furthest position (the owner, which re-emits the
             * open groups it restores) */
            const char *closed_first = sl_schema_find(&t->out, "is_final") >= 0 ? "is_final DESC, "
                                       : sl_schema_find(&t->out, "is_active") >= 0
                                           ? "is_active ASC, "
                                           : "";
            char *cols = sqlite3_mprintf("%s", "");
            for (int c = 0; c < t->out.n; c++)
                cols = sqlite3_mprintf("%z%s\"%w\"", cols, c ? ", " : "", t->out.f[c].name);
            char *u = NULL;
            for (size_t k = 0; k < n; k++) {
                char db[16];
                snprintf(db, sizeof db, k ? "i%d" : "main", (int)k);
                u = sqlite3_mprintf(
                    "%z%sSELECT x.*, coalesce((SELECT max(position) FROM %s._sluice_positions q "
                    "WHERE q.partition = x.\"%w\"), -1) AS _pos"
                    " FROM %s.\"%w\" x",
                    u, k ? " UNION ALL " : "", db, SL_PART_COLUMN, db, name);
            }
            v = sqlite3_mprintf("CREATE TEMP VIEW \"%w\" AS SELECT %s FROM (SELECT *, row_number() "
                                "OVER (PARTITION BY _group"
                                " ORDER BY %s_pos DESC) AS _rn FROM (%s)) WHERE _rn = 1",
                                name, cols, closed_first, u);
            sqlite3_free(cols);
            sqlite3_free(u);
        } else {
            v = sqlite3_mprintf("CREATE TEMP VIEW \"%w\" AS SELECT * FROM main.\"%w\"", name, name);
            for (size_t k = 1; k < n; k++) {
                char *w = sqlite3_mprintf("%z UNION ALL SELECT * FROM i%d.\"%w\"", v, (int)k, name);
                v = w;
            }
        }
        int e = sqlite3_exec(db, v, NULL, NULL, NULL);
        sqlite3_free(v);
        if (e != SQLITE_OK)
            return sl_error_set(err, SL_EIO, "instances: table %s: %s", name, sqlite3_errmsg(db));
    }
    for (int i = 0; i < p->nviews; i++) {
        char *v =
            sqlite3_mprintf("CREATE TEMP VIEW \"%w\" AS %s", p->views[i].name, p->views[i].sql);
        int e = sqlite3_exec(db, v, NULL, NULL, NULL);
        sqlite3_free(v);
        if (e != SQLITE_OK)
            return sl_error_set(err, SL_EIO, "instances: view %s: %s", p->views[i].name,
                                sqlite3_errmsg(db));
    }
    return 0;
}

int sl_pipeline_attach_instances(const sl_pipeline *p, const char *base_dir, const char *self_db,
                                 sqlite3 *db, sl_error *err) {
    char pattern[PATH_MAX + 32], self[PATH_MAX], other[PATH_MAX];
    snprintf(pattern, sizeof pattern, "%s/instance-*/sluice.db", base_dir);
    if (!realpath(self_db, self)) snprintf(self, sizeof self, "%s", self_db);
    glob_t g = {0};
    if (glob(pattern, 0, NULL, &g)) {
        globfree(&g);
        return 0; /* none yet */
    }
    char **paths = sl_xcalloc(g.gl_pathc + 1, sizeof *paths);
    size_t n = 0;
    if (!paths) {
        globfree(&g);
        return sl_error_set(err, SL_ENOMEM, "out of memory");
    }
    paths[n++] = self;
    for (size_t i = 0; i < g.gl_pathc && n < 10; i++) /* SQLite attaches at most 10 */
        if (!(realpath(g.gl_pathv[i], other) && !strcmp(other, self))) paths[n++] = g.gl_pathv[i];
    int rc = n > 1 ? attach_instances(p, db, paths, n, err) : 0;
    free(paths);
    globfree(&g);
    return rc;
}

int sl_pipeline_query(const sl_pipeline *p, const char *data_dir, const char *sql, int format,
                      FILE *out, sl_error *err) {
    char dir[PATH_MAX], path[PATH_MAX + 64];
    if (sl_pipeline_data_dir(p, data_dir, dir, sizeof dir, false, err)) return err->code;
    snprintf(path, sizeof path, "%s/sluice.db", dir);
    bool instances = false;
    if (access(path, R_OK) != 0) {
        glob_t g = {0};
        snprintf(path, sizeof path, "%s/instance-*/sluice.db", dir);
        if (glob(path, 0, NULL, &g) || g.gl_pathc == 0) {
            globfree(&g);
            return sl_error_set(
                err, SL_ENOTFOUND,
                "no data for pipeline '%s' in %s (run it first, or pass --data DIR)", p->name, dir);
        }
        instances = true;
        snprintf(path, sizeof path, "%s", g.gl_pathv[0]);
        globfree(&g);
    }
    sl_store *s = sl_store_open(path, true, err);
    if (!s) return err->code;
    sqlite3 *db = sl_store_db(s);
    int rc = 0;
    /* lake views need the columns of the stored (possibly evolved) schemas */
    if ((rc = sl_pipeline_resolve_schemas((sl_pipeline *)p, s, false, err))) goto out;
    if (instances && (rc = sl_pipeline_attach_instances(p, dir, path, db, err))) goto out;
    if (!instances && (rc = sl_pipeline_prepare_connection(p, dir, db, err))) goto out;
    sqlite3_stmt *st;
    const char *tail = sql;
    while (tail && *tail) {
        if (sqlite3_prepare_v2(db, tail, -1, &st, &tail) != SQLITE_OK) {
            rc = sl_error_set(err, SL_EINVAL, "query: %s", sqlite3_errmsg(db));
            goto out;
        }
        if (!st) break;
        if (!sqlite3_stmt_readonly(st)) {
            sqlite3_finalize(st);
            rc = sl_error_set(err, SL_EINVAL, "query: only read-only statements are allowed");
            goto out;
        }
        int nc = sqlite3_column_count(st);
        /* table format: buffered to size the columns (core/tabfmt.h) */
        sl_tab *tab = NULL;
        const char **row = sl_xcalloc((size_t)nc + 1, sizeof *row);
        if (format == SL_FMT_CSV) {
            for (int c = 0; c < nc; c++) {
                if (c) fputc(',', out);
                sl_fput_csv_field(out, sqlite3_column_name(st, c));
            }
            fputc('\n', out);
        } else if (format == SL_FMT_TABLE) {
            for (int c = 0; c < nc; c++)
                row[c] = sqlite3_column_name(st, c);
            tab = sl_tab_new(nc, row);
        }
        int step;
        while ((step = sqlite3_step(st)) == SQLITE_ROW) {
            if (format == SL_FMT_CSV) {
                for (int c = 0; c < nc; c++) {
                    if (c) fputc(',', out);
                    sl_fput_csv_field(out, (const char *)sqlite3_column_text(st, c));
                }
                fputc('\n', out);
            } else if (format == SL_FMT_JSON) {
                fputc('{', out);
                for (int c = 0; c < nc; c++) {
                    if (c) fputc(',', out);
                    sl_fput_json_string(out, sqlite3_column_name(st, c));
                    fputc(':', out);
                    switch (sqlite3_column_type(st, c)) {
                    case SQLITE_NULL:
                        fputs("null", out);
                        break;
                    case SQLITE_INTEGER:
                        fprintf(out, "%lld", (long long)sqlite3_column_int64(st, c));
                        break;
                    case SQLITE_FLOAT:
                        fprintf(out, "%.17g", sqlite3_column_double(st, c));
                        break;
                    default:
                        sl_fput_json_string(out, (const char *)sqlite3_column_text(st, c));
                    }
                }
                fputs("}\n", out);
            } else {
                for (int c = 0; c < nc; c++)
                    row[c] = (const char *)sqlite3_column_text(st, c);
                sl_tab_add(tab, row);
            }
        }
        if (step != SQLITE_DONE) rc = sl_error_set(err, SL_EIO, "query: %s", sqlite3_errmsg(db));
        if (tab && nc) sl_tab_print(tab, out);
        sl_tab_free(tab);
        free(row);
        sqlite3_finalize(st);
        if (rc) goto out;
        while (tail && (*tail == ' ' || *tail == '\n' || *tail == ';' || *tail == '\t'))
            tail++;
    }
out:
    sl_store_close(s);
    return rc;
}
