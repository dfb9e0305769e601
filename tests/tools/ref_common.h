/*
 * ref_common.h - what the brute-force flavor references (telco_ref.c,
 * retail_ref.c) share: the output database, error exits, reading a stream's
 * files line by line, the late rule, the metrics stream, the type-2 entity
 * dimension, the performance tables and the opening and closing of main.
 *
 * Header only, all static: each .c file in tests/tools is a program of its own.
 * Before including it, a reference defines
 *   REF_NAME       its program name, a string literal ("telco_ref"), for
 *                  the usage line and error messages;
 *   REF_GROUP_COL  the entity's grouping column of entities.csv and
 *                  silver_metrics ("location", "store_id");
 *   dim_attrs      static const char *const dim_attrs[]: the 1..5 attribute
 *                  columns of dim_entities after entity_id (REF_DIM_ATTRS of
 *                  them), in table order; the entity records carry them as
 *                  JSON fields of the same names;
 * and after it defines metric_capped(name): nonzero for the metrics whose
 * value must not exceed 100.
 */
#ifndef SLUICE_TESTS_TOOLS_REF_COMMON_H
#define SLUICE_TESTS_TOOLS_REF_COMMON_H

#if !defined(REF_NAME) || !defined(REF_GROUP_COL)
#error "define REF_NAME and REF_GROUP_COL before including ref_common.h"
#endif
#define REF_DIM_ATTRS ((int)(sizeof dim_attrs / sizeof *dim_attrs))
_Static_assert(REF_DIM_ATTRS >= 1 && REF_DIM_ATTRS <= 5, "REF_DIM_ATTRS is 1..5");

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static sqlite3 *db;

static void die(const char *what) {
    fprintf(stderr, REF_NAME ": %s: %s\n", what, db ? sqlite3_errmsg(db) : strerror(errno));
    exit(1);
}

static void exec(const char *sql) {
    char *e = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &e) != SQLITE_OK) {
        fprintf(stderr, REF_NAME ": %s\nSQL: %s\n", e, sql);
        exit(1);
    }
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Calls fn(line, len) for every line of the stream's files, in order. */
static void each_line(const char *dir, const char *suffix, void (*fn)(const char *, size_t)) {
    DIR *d = opendir(dir);
    if (!d) die(dir);
    char **names = NULL;
    size_t n = 0, cap = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t l = strlen(e->d_name), sl = strlen(suffix);
        if (e->d_name[0] == '.' || l < sl || strcmp(e->d_name + l - sl, suffix)) continue;
        if (n == cap) names = realloc(names, (cap = cap ? cap * 2 : 256) * sizeof *names);
        names[n++] = strdup(e->d_name);
    }
    closedir(d);
    qsort(names, n, sizeof *names, cmp_str);
    char path[4096], *line = NULL;
    size_t lcap = 0;
    for (size_t i = 0; i < n; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        FILE *f = fopen(path, "r");
        if (!f) die(path);
        ssize_t len;
        while ((len = getline(&line, &lcap, f)) > 0) {
            if (line[len - 1] == '\n') line[--len] = 0;
            if (len == 0) continue;
            fn(line, (size_t)len);
        }
        fclose(f);
        free(names[i]);
    }
    free(line);
    free(names);
}

/* each_line over IN/SUB. */
static void each_stream(const char *in, const char *sub, const char *suffix,
                        void (*fn)(const char *, size_t)) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", in, sub);
    each_line(path, suffix, fn);
}

/* The first stream (logs, POS events) counts as "log", the metrics as "met". */
static int64_t n_log_parse, n_log_expect, n_log_late, n_log_ok;
static int64_t n_met_malformed, n_met_type, n_met_expect, n_met_late, n_met_ok;
static int64_t max_log = INT64_MIN, max_met = INT64_MIN;
static const int64_t DELAY_MS = 600000;
static sqlite3_stmt *ins_log, *ins_met, *probe;

/* The late rule: t older than the stream's maximum so far minus DELAY_MS is
 * late (counted in *n_late, returns 1); otherwise the maximum moves on. */
static int late(int64_t t, int64_t *max, int64_t *n_late) {
    if (*max != INT64_MIN && t < *max - DELAY_MS) {
        (*n_late)++;
        return 1;
    }
    if (t > *max) *max = t;
    return 0;
}

/* Runs the one-row probe st over the line s. */
static void probe_line(sqlite3_stmt *st, const char *s, size_t len, const char *what) {
    sqlite3_reset(st);
    sqlite3_bind_text(st, 1, s, (int)len, SQLITE_TRANSIENT);
    if (sqlite3_step(st) != SQLITE_ROW) die(what);
}

static int metric_capped(const char *metric);

static void on_metric(const char *s, size_t len) {
    probe_line(probe, s, len, "probe");
    /* 0 valid object, 1..5 types of entity_id, metric_name, unit, value, ts */
    if (!sqlite3_column_int(probe, 0)) {
        n_met_malformed++;
        return;
    }
    const char *ty[5];
    for (int i = 0; i < 5; i++)
        ty[i] = (const char *)sqlite3_column_text(probe, 1 + i);
    for (int i = 0; i < 3; i++)
        if (ty[i] && strcmp(ty[i], "text") && strcmp(ty[i], "null")) {
            n_met_type++;
            return;
        }
    if ((ty[3] && strcmp(ty[3], "integer") && strcmp(ty[3], "real") && strcmp(ty[3], "null")) ||
        (ty[4] && strcmp(ty[4], "integer") && strcmp(ty[4], "null"))) {
        n_met_type++;
        return;
    }
    int null_ent = !ty[0] || !strcmp(ty[0], "null");
    int null_val = !ty[3] || !strcmp(ty[3], "null");
    int null_ts = !ty[4] || !strcmp(ty[4], "null");
    const char *metric = (const char *)sqlite3_column_text(probe, 7);
    double v = sqlite3_column_double(probe, 8);
    int64_t t = sqlite3_column_int64(probe, 9);
    if (null_ent || null_ts || null_val || v < 0 || (metric && metric_capped(metric) && v > 100)) {
        n_met_expect++;
        return;
    }
    if (late(t, &max_met, &n_met_late)) return;
    n_met_ok++;
    sqlite3_reset(ins_met);
    sqlite3_bind_value(ins_met, 1, sqlite3_column_value(probe, 6));
    sqlite3_bind_value(ins_met, 2, sqlite3_column_value(probe, 7));
    sqlite3_bind_double(ins_met, 3, v);
    sqlite3_bind_int64(ins_met, 4, t);
    if (sqlite3_step(ins_met) != SQLITE_DONE) die("insert metric");
}

/* ---- the dimension ---- */

typedef struct {
    char id[32], attrs[256];
    int64_t from;
    int version;
} cur_ver;
static cur_ver *cur;
static size_t ncur;
static sqlite3_stmt *dim_up;
static sqlite3_stmt *ent_probe;

/* attrs: the REF_DIM_ATTRS attributes joined by '|'. */
static void dim_write(const char *id, const char *attrs, int64_t from, int64_t to, int version,
                      int active) {
    /* Always five conversions: the first REF_DIM_ATTRS come out the same as
     * with a format of just that many, and the rest are not bound. */
    char a[5][64] = {{0}};
    sscanf(attrs, "%63[^|]|%63[^|]|%63[^|]|%63[^|]|%63[^|]", a[0], a[1], a[2], a[3], a[4]);
    sqlite3_reset(dim_up);
    sqlite3_bind_text(dim_up, 1, id, -1, SQLITE_TRANSIENT);
    for (int i = 0; i < REF_DIM_ATTRS; i++)
        sqlite3_bind_text(dim_up, 2 + i, a[i], -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(dim_up, 2 + REF_DIM_ATTRS, from);
    if (to == INT64_MIN)
        sqlite3_bind_null(dim_up, 3 + REF_DIM_ATTRS);
    else
        sqlite3_bind_int64(dim_up, 3 + REF_DIM_ATTRS, to);
    sqlite3_bind_int(dim_up, 4 + REF_DIM_ATTRS, version);
    sqlite3_bind_int(dim_up, 5 + REF_DIM_ATTRS, active);
    if (sqlite3_step(dim_up) != SQLITE_DONE) die("dim upsert");
}

static void on_entity(const char *s, size_t len) {
    probe_line(ent_probe, s, len, "entity probe");
    if (!sqlite3_column_int(ent_probe, 0) || sqlite3_column_type(ent_probe, 1) == SQLITE_NULL ||
        sqlite3_column_type(ent_probe, 2 + REF_DIM_ATTRS) == SQLITE_NULL)
        return;
    const char *id = (const char *)sqlite3_column_text(ent_probe, 1);
    /* "%s|%s|...", truncated to sizeof attrs - 1 like one snprintf of it */
    char attrs[256];
    size_t off = 0;
    attrs[0] = 0;
    for (int i = 0; i < REF_DIM_ATTRS && off < sizeof attrs; i++)
        off += (size_t)snprintf(attrs + off, sizeof attrs - off, "%s%s", i ? "|" : "",
                                (const char *)sqlite3_column_text(ent_probe, 2 + i));
    int64_t t = sqlite3_column_int64(ent_probe, 2 + REF_DIM_ATTRS);
    size_t k = 0;
    while (k < ncur && strcmp(cur[k].id, id))
        k++;
    if (k == ncur) {
        cur = realloc(cur, (ncur + 1) * sizeof *cur);
        snprintf(cur[k].id, sizeof cur[k].id, "%s", id);
        snprintf(cur[k].attrs, sizeof cur[k].attrs, "%s", attrs);
        cur[k].from = t;
        cur[k].version = 1;
        ncur++;
        dim_write(id, attrs, t, INT64_MIN, 1, 1);
        return;
    }
    cur_ver *c = &cur[k];
    if (!strcmp(c->attrs, attrs) || t < c->from) return;
    if (t == c->from) {
        snprintf(c->attrs, sizeof c->attrs, "%s", attrs);
        dim_write(id, attrs, t, INT64_MIN, c->version, 1);
        return;
    }
    dim_write(id, c->attrs, c->from, t, c->version, 0);
    c->from = t;
    c->version++;
    snprintf(c->attrs, sizeof c->attrs, "%s", attrs);
    dim_write(id, attrs, t, INT64_MIN, c->version, 1);
}

/* JSON functions raise an error on invalid JSON: evaluate them only when valid. */
#define J(x) "CASE WHEN ok THEN " x " END"
#define JSRC                                                                                       \
    "(SELECT ?1 AS j, CASE WHEN json_valid(?1) THEN json_type(?1) = 'object' ELSE 0 END AS ok)"
#define WS(col, size)                                                                              \
    "strftime('%Y-%m-%dT%H:%M:%SZ', (" col " / " size ") * " size " / 1000, 'unixepoch')"
#define TSTXT(col)                                                                                 \
    "(strftime('%Y-%m-%dT%H:%M:%S', " col " / 1000, 'unixepoch') || CASE WHEN " col " % 1000 "     \
    "THEN printf('.%03dZ', " col " % 1000) ELSE 'Z' END)"

/* Prepares *st as a one-row probe of the JSON text ?1: ok (1 for an object),
 * then json_type of each of the nt fields types, then json_extract of each of
 * the ne fields extracts, all NULL unless ok. */
static void prepare_probe(sqlite3_stmt **st, const char *const *types, size_t nt,
                          const char *const *extracts, size_t ne) {
    char sql[4096];
    size_t off = (size_t)snprintf(sql, sizeof sql, "SELECT ok");
    for (size_t i = 0; i < nt + ne && off < sizeof sql; i++)
        off += (size_t)snprintf(sql + off, sizeof sql - off, ", " J("%s(j, '$.%s')"),
                                i < nt ? "json_type" : "json_extract",
                                i < nt ? types[i] : extracts[i - nt]);
    if (off < sizeof sql) off += (size_t)snprintf(sql + off, sizeof sql - off, " FROM %s", JSRC);
    if (off >= sizeof sql) die("probe SQL too long");
    sqlite3_prepare_v2(db, sql, -1, st, NULL);
}

/* ent_probe (ok, entity_id, dim_attrs..., changed_at) and dim_up (the upsert
 * of one dim_entities row), for on_entity and dim_write. */
static void prepare_dimension(void) {
    const char *ex[REF_DIM_ATTRS + 2];
    ex[0] = "entity_id";
    for (int i = 0; i < REF_DIM_ATTRS; i++)
        ex[1 + i] = dim_attrs[i];
    ex[1 + REF_DIM_ATTRS] = "changed_at";
    prepare_probe(&ent_probe, NULL, 0, ex, REF_DIM_ATTRS + 2);
    char sql[1024];
    size_t off = (size_t)snprintf(sql, sizeof sql, "INSERT INTO dim_entities VALUES(?1");
    for (int i = 2; i <= 5 + REF_DIM_ATTRS; i++)
        off += (size_t)snprintf(sql + off, sizeof sql - off, ",?%d", i);
    off += (size_t)snprintf(sql + off, sizeof sql - off,
                            ") ON CONFLICT(entity_id, from_ms) DO UPDATE SET ");
    for (int i = 0; i < REF_DIM_ATTRS; i++)
        off += (size_t)snprintf(sql + off, sizeof sql - off, "%s=?%d, ", dim_attrs[i], 2 + i);
    snprintf(sql + off, sizeof sql - off, "to_ms=?%d, version=?%d, is_active=?%d",
             3 + REF_DIM_ATTRS, 4 + REF_DIM_ATTRS, 5 + REF_DIM_ATTRS);
    sqlite3_prepare_v2(db, sql, -1, &dim_up, NULL);
}

static void perf(const char *table, const char *size) {
    char sql[8192], ws[256];
    snprintf(ws, sizeof ws,
             "strftime('%%Y-%%m-%%dT%%H:%%M:%%SZ', (ts / %s) * %s / 1000, 'unixepoch')", size,
             size);
    snprintf(
        sql, sizeof sql,
        "CREATE TABLE %s AS WITH r AS (SELECT %s AS window_start, entity_id, "
        "entity_type, " REF_GROUP_COL
        ", metric_name, value, row_number() OVER (PARTITION BY ts / %s, "
        "entity_id, entity_type, " REF_GROUP_COL
        ", metric_name ORDER BY value) - 1 AS rk, count(*) "
        "OVER (PARTITION BY ts / %s, entity_id, entity_type, " REF_GROUP_COL ", metric_name) AS n "
        "FROM silver_metrics) "
        "SELECT window_start, entity_id, entity_type, " REF_GROUP_COL ", metric_name, count(*) AS "
        "samples, avg(value) AS avg_value, min(value) AS min_value, max(value) AS max_value, "
        "max(CASE WHEN rk = CAST(0.50 * (n - 1) AS INT) THEN value END) AS p50_value, "
        "max(CASE WHEN rk = CAST(0.95 * (n - 1) AS INT) THEN value END) AS p95_value, "
        "max(CASE WHEN rk = CAST(0.99 * (n - 1) AS INT) THEN value END) AS p99_value, "
        "CASE WHEN count(*) > 1 THEN sqrt((sum(value * value) - sum(value) * sum(value) / "
        "count(*)) / (count(*) - 1)) END AS stddev_value "
        "FROM r GROUP BY 1, 2, 3, 4, 5",
        table, ws, size, size);
    exec(sql);
}

/* ---- main's opening and closing ---- */

/* Checks the usage, opens a fresh OUT_DB and runs schema in it. Returns
 * IN_DIR, or NULL after the usage line (exit status 2). */
static const char *ref_open(int argc, char **argv, const char *schema) {
    if (argc != 3) {
        fprintf(stderr, "usage: " REF_NAME " IN_DIR OUT_DB\n");
        return NULL;
    }
    remove(argv[2]);
    if (sqlite3_open(argv[2], &db) != SQLITE_OK) die("open");
    exec(schema);
    return argv[1];
}

/* entities.csv into entities(entity_id, entity_type, REF_GROUP_COL): plain
 * fields (the generators write no quotes), the header line skipped. */
static void load_entities_csv(const char *in) {
    char path[4096];
    snprintf(path, sizeof path, "%s/entities.csv", in);
    FILE *f = fopen(path, "r");
    if (!f) die(path);
    char line[512];
    sqlite3_stmt *ins_ent;
    sqlite3_prepare_v2(db, "INSERT INTO entities VALUES(?,?,?)", -1, &ins_ent, NULL);
    if (!fgets(line, sizeof line, f)) die("entities.csv header");
    while (fgets(line, sizeof line, f)) {
        char id[64], ty[64], grp[64];
        if (sscanf(line, "%63[^,],%63[^,],%63[^,]", id, ty, grp) != 3) continue;
        sqlite3_reset(ins_ent);
        sqlite3_bind_text(ins_ent, 1, id, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(ins_ent, 2, ty, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(ins_ent, 3, grp, -1, SQLITE_TRANSIENT);
        if (sqlite3_step(ins_ent) != SQLITE_DONE) die("insert entity");
    }
    fclose(f);
    sqlite3_finalize(ins_ent);
}

/* ins_met (silver_metrics joined with entities) and probe, for on_metric. */
static void prepare_metrics(void) {
    sqlite3_prepare_v2(db,
                       "INSERT INTO silver_metrics SELECT ?1, ?2, ?3, ?4, e.entity_type, "
                       "e." REF_GROUP_COL
                       " FROM (SELECT 1) LEFT JOIN entities e ON e.entity_id = ?1",
                       -1, &ins_met, NULL);
    static const char *const types[] = {"entity_id", "metric_name", "unit", "value", "ts"};
    static const char *const extracts[] = {"entity_id", "metric_name", "value", "ts"};
    prepare_probe(&probe, types, 5, extracts, 4);
}

/* Finalizes the shared statements, closes the database. */
static void ref_close(void) {
    sqlite3_finalize(ins_log);
    sqlite3_finalize(ins_met);
    sqlite3_finalize(probe);
    sqlite3_finalize(ent_probe);
    sqlite3_finalize(dim_up);
    sqlite3_close(db);
    free(cur);
}

#endif
