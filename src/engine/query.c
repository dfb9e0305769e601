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

/* 'kv:lake:T' (the connection's main database) or 'kv@SCHEMA:lake:T' (an
 * attached instance's database: its own committed position). */
static char *kv_arg(const char *schema, const char *table) {
    return schema ? sqlite3_mprintf("'kv@%q:lake:%q'", schema, table)
                  : sqlite3_mprintf("'kv:lake:%q'", table);
}

/* The CREATE VIRTUAL TABLE temp.VNAME statement of lake table t whose
 * segments are under data dir `dir` (absolute) and whose committed position
 * is in SCHEMA._sluice_kv (schema NULL: main). A ref table's input lake is
 * the same data dir's. sqlite3_malloc'd. */
static char *lake_vtab_sql(const sl_pipeline *p, const table *t, const char *vname, const char *dir,
                           const char *schema) {
    char root[PATH_MAX + 128];
    lake_root(root, sizeof root, dir, t);
    char *kv = kv_arg(schema, t->name), *q = NULL;
    if (!sl_table_lake_parquet(t)) {
        /* the committed position is looked up at every scan (see lake_vtab.c) */
        q = sqlite3_mprintf("CREATE VIRTUAL TABLE temp.\"%w\" USING sluice_lake(%Q, %s)", vname,
                            root, kv);
        sqlite3_free(kv);
        return q;
    }
    /* typed columns straight from the segments (parquet_vtab.c) */
    sqlite3_str *decl = sqlite3_str_new(NULL);
    for (int c = 0; c < t->out.n; c++)
        sqlite3_str_appendf(decl, "%s%s %s", c ? ", " : "", t->out.f[c].name,
                            sl_type_name(t->out.f[c].type));
    sqlite3_str_appendall(decl, ", _ingest_ts timestamp, _source string, _offset int");
    char *d = sqlite3_str_finish(decl);
    if (t->ref_input >= 0) { /* columns not stored are the input row's (lake_ref.h) */
        const table *in = &p->t[t->ref_input];
        char in_root[PATH_MAX + 128];
        lake_root(in_root, sizeof in_root, dir, in);
        char *in_kv = kv_arg(schema, in->name);
        q = sqlite3_mprintf("CREATE VIRTUAL TABLE temp.\"%w\" USING sluice_parquet(%Q, %s, %Q, "
                            "%Q, %s)",
                            vname, root, kv, d ? d : "", in_root, in_kv);
        sqlite3_free(in_kv);
    } else {
        q = sqlite3_mprintf("CREATE VIRTUAL TABLE temp.\"%w\" USING sluice_parquet(%Q, %s, %Q)",
                            vname, root, kv, d ? d : "");
    }
    sqlite3_free(d);
    sqlite3_free(kv);
    return q;
}

/* The columns of an NDJSON lake table read from its sluice_lake table VNAME. */
static char *ndjson_select(const table *t, const char *vname) {
    sqlite3_str *v = sqlite3_str_new(NULL);
    sqlite3_str_appendall(v, "SELECT ");
    for (int c = 0; c < t->out.n; c++) {
        const char *cn = t->out.f[c].name;
        sqlite3_str_appendf(v, "json_extract(line, '$.\"%s\"') AS \"%w\", ", cn, cn);
    }
    sqlite3_str_appendf(v,
                        "json_extract(line, '$._ingest_ts') AS _ingest_ts, json_extract(line, "
                        "'$._source') AS _source, "
                        "json_extract(line, '$._offset') AS _offset FROM temp.\"%w\"",
                        vname);
    return sqlite3_str_finish(v);
}

static int exec_owned(sqlite3 *db, char *sql, const char *what, const char *name, sl_error *err) {
    char *msg = NULL;
    int rc = 0;
    if (!sql) return sl_error_set(err, SL_ENOMEM, "out of memory");
    if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK)
        rc = sl_error_set(err, SL_EIO, "%s %s: %s", what, name, msg ? msg : "error");
    sqlite3_free(msg);
    sqlite3_free(sql);
    return rc;
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
        if (sl_table_lake_parquet(t)) {
            rc = exec_owned(db, lake_vtab_sql(p, t, t->name, abs ? abs : dir, NULL), "lake table",
                            t->name, err);
            if (rc) goto done;
            continue;
        }
        char vname[256];
        snprintf(vname, sizeof vname, "_lake_%s", t->name);
        if ((rc = exec_owned(db, lake_vtab_sql(p, t, vname, abs ? abs : dir, NULL), "lake table",
                             t->name, err)))
            goto done;
        char *sel = ndjson_select(t, vname);
        if ((rc = exec_owned(db, sqlite3_mprintf("CREATE TEMP VIEW \"%w\" AS %s", t->name, sel),
                             "lake view", t->name, err))) {
            sqlite3_free(sel);
            goto done;
        }
        sqlite3_free(sel);
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
/* Scale-out lake tables: every instance writes its own lake under its data
 * dir (DATA/instance-NAME/<layer>/<table>) with its committed position in its
 * own database (attached as i1..). Each lake table becomes one virtual table
 * per instance, temp._lake_iK_T, bounded by that instance's position, and a
 * temp view T over all of them (each record was stored by one instance). A
 * ref table's instance reads its input rows from the same instance's lake.
 * Replaces the single-instance objects prepare_connection made. */
static int instance_lakes(const sl_pipeline *p, sqlite3 *db, char **paths, size_t n,
                          sl_error *err) {
    int rc = 0;
    char **dirs = sl_xcalloc(n, sizeof *dirs);
    for (size_t k = 0; k < n && !rc; k++) {
        char *slash = strrchr(paths[k], '/');
        char d[PATH_MAX];
        snprintf(d, sizeof d, "%.*s", slash ? (int)(slash - paths[k]) : 1, slash ? paths[k] : ".");
        dirs[k] = realpath(d, NULL);
        if (!dirs[k]) rc = sl_error_set(err, SL_EIO, "instances: %s: cannot resolve", d);
    }
    for (int i = 0; i < p->nt && !rc; i++) {
        const table *t = &p->t[i];
        if (t->store != STORE_LAKE) continue;
        bool pq = sl_table_lake_parquet(t);
        char *drop = pq ? sqlite3_mprintf("DROP TABLE IF EXISTS temp.\"%w\"", t->name)
                        : sqlite3_mprintf("DROP VIEW IF EXISTS temp.\"%w\"; DROP TABLE IF EXISTS "
                                          "temp.\"_lake_%w\"",
                                          t->name, t->name);
        if ((rc = exec_owned(db, drop, "instances: lake table", t->name, err))) break;
        sqlite3_str *u = sqlite3_str_new(NULL);
        sqlite3_str_appendf(u, "CREATE TEMP VIEW \"%w\" AS ", t->name);
        for (size_t k = 0; k < n && !rc; k++) {
            char vname[256], schema[16];
            snprintf(vname, sizeof vname, "_lake_i%d_%s", (int)k, t->name);
            snprintf(schema, sizeof schema, k ? "i%d" : "main", (int)k);
            rc = exec_owned(db, lake_vtab_sql(p, t, vname, dirs[k], schema),
                            "instances: lake table", t->name, err);
            if (k) sqlite3_str_appendall(u, " UNION ALL ");
            if (pq) {
                sqlite3_str_appendf(u, "SELECT * FROM temp.\"%w\"", vname);
            } else {
                char *sel = ndjson_select(t, vname);
                sqlite3_str_appendall(u, sel);
                sqlite3_free(sel);
            }
        }
        char *v = sqlite3_str_finish(u);
        if (rc) {
            sqlite3_free(v);
            break;
        }
        rc = exec_owned(db, v, "instances: lake view", t->name, err);
    }
    for (size_t k = 0; k < n; k++)
        free(dirs[k]);
    free(dirs);
    return rc;
}

static int attach_instances(const sl_pipeline *p, sqlite3 *db, char **paths, size_t n,
                            sl_error *err) {
    int rc;
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
    if ((rc = instance_lakes(p, db, paths, n, err))) return rc;
    for (int i = 0; i < p->nviews; i++) {
        /* prepare_connection may have made it a temp view already */
        char *d = sqlite3_mprintf("DROP VIEW IF EXISTS temp.\"%w\"", p->views[i].name);
        sqlite3_exec(db, d, NULL, NULL, NULL);
        sqlite3_free(d);
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
    if (instances) {
        /* the first instance's lake tables, replaced by ones over every
         * instance when there are several */
        char self_dir[PATH_MAX + 64];
        snprintf(self_dir, sizeof self_dir, "%s", path);
        char *slash = strrchr(self_dir, '/');
        if (slash) *slash = '\0';
        if ((rc = sl_pipeline_prepare_connection(p, self_dir, db, err))) goto out;
        if ((rc = sl_pipeline_attach_instances(p, dir, path, db, err))) goto out;
    } else if ((rc = sl_pipeline_prepare_connection(p, dir, db, err))) {
        goto out;
    }
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
