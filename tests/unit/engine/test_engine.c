/*
 * test_engine.c - compiling pipelines: the table graph (order, lineage JSON),
 * variables, and the file:line:col errors of bad files; and one small run
 * with --once over a temp landing folder, checking the committed tables.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine/pipeline.h"

static char dir[256];

static const char *write_file(const char *name, const char *text) {
    static char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    return path;
}

static int setup(void **state) {
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/sl-engine-XXXXXX");
    assert_non_null(mkdtemp(dir));
    return 0;
}

static int teardown(void **state) {
    (void)state;
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

#define SRC                                                                                        \
    "sources:\n"                                                                                   \
    "  s:\n"                                                                                       \
    "    type: dir\n"                                                                              \
    "    path: ${in:/nonexistent}\n"                                                               \
    "    pattern: \"*.ndjson\"\n"                                                                  \
    "    schema: {id: int, v: double, t: int}\n"

static void expect_error(const char *name, const char *text, const char *where, const char *what) {
    sl_error err = {0};
    const char *path = write_file(name, text);
    sl_pipeline *p = sl_pipeline_load(path, NULL, &err);
    if (p) fail_msg("%s: accepted", name);
    char want[600];
    snprintf(want, sizeof want, "%s:%s", path, where);
    if (strncmp(err.msg, want, strlen(want)) || !strstr(err.msg, what))
        fail_msg("%s: want '%s ...%s', got '%s'", name, want, what, err.msg);
}

static void test_errors(void **state) {
    (void)state;
    expect_error("a.yaml",
                 "pipeline: p\n" SRC
                 "tables:\n  t:\n    from: s\n    steps:\n      - frobnicate: {}\n",
                 "12:9:", "unknown operator 'frobnicate'");
    expect_error(
        "b.yaml",
        "pipeline: p\n" SRC
        "tables:\n  t:\n    from: s\n    window: {size: 1m, aggregates: {n: \"count(*)\"}}\n",
        "11:13:", "timestamp column 'event_ts'");
    expect_error("c.yaml", "pipeline: p\n" SRC "tables:\n  t:\n    from: s\n    layer: platinum\n",
                 "11:12:", "bronze|silver|gold");
    expect_error("d.yaml", "pipeline: p\n" SRC "tables:\n  quarantine:\n    from: s\n",
                 "9:3:", "reserved");
    expect_error(
        "e.yaml",
        "pipeline: p\n" SRC
        "tables:\n  t:\n    from: s\n    steps:\n      - watermark: {time: \"v\", delay: 1m}\n",
        "12:27:", "must be a timestamp");
    /* join: the other table is resolved (and compiled first) by the engine */
    expect_error("j1.yaml",
                 "pipeline: p\n" SRC
                 "tables:\n  t:\n    from: s\n    steps:\n      - join: {table: nope, on: id}\n",
                 "12:23:", "'nope' is not a table of this pipeline");
    expect_error("j2.yaml",
                 "pipeline: p\n" SRC
                 "tables:\n  t:\n    from: s\n    steps:\n      - join: {table: s, on: id}\n",
                 "12:23:", "it is a source");
    expect_error("j3.yaml",
                 "pipeline: p\n" SRC
                 "tables:\n  a:\n    from: s\n    steps:\n      - join: {table: b, on: id}\n"
                 "  b:\n    from: a\n",
                 "12:23:", "cycle in the table graph: 'a' joins 'b'");
    expect_error("j4.yaml",
                 "pipeline: p\n" SRC "tables:\n  d:\n    from: s\n  t:\n    from: s\n    steps:\n"
                 "      - join: {table: d, on: id, columns: [zz]}\n",
                 "14:44:", "table 'd' has no column 'zz'");
    expect_error("j5.yaml",
                 "pipeline: p\n" SRC
                 "tables:\n  t:\n    from: s\n    steps:\n      - join: {table: t, on: id}\n",
                 "12:23:", "cannot read itself");
}

static void test_graph_and_run(void **state) {
    (void)state;
    char in[300];
    snprintf(in, sizeof in, "%s/in", dir);
    mkdir(in, 0755);
    char pipeline[2048];
    snprintf(pipeline, sizeof pipeline,
             "pipeline: p\n" SRC "tables:\n"
             "  gold:\n"
             "    layer: gold\n"
             "    from: silver\n"
             "    window: {size: 1m, aggregates: {n: \"count(*)\", s: \"sum(v)\", p: \"p50(v)\"}}\n"
             "  silver:\n"
             "    from: s\n"
             "    steps:\n"
             "      - expect: {name: pos, expr: \"v >= 0\", action: quarantine}\n"
             "      - watermark: {time: \"from_unixtime_ms(t)\", delay: 1m}\n"
             "views:\n"
             "  big: \"SELECT * FROM silver WHERE v > 5\"\n");
    const char *path = write_file("g.yaml", pipeline);
    sl_vars *vars = sl_vars_new();
    char set[400];
    snprintf(set, sizeof set, "in=%s", in);
    sl_vars_set(vars, set);
    sl_error err = {0};
    sl_pipeline *p = sl_pipeline_load(path, vars, &err);
    if (!p) fail_msg("%s", err.msg);
    char lin[8192] = "";
    FILE *f = fmemopen(lin, sizeof lin, "w");
    sl_pipeline_print_lineage(p, f);
    fclose(f);
    /* silver is printed under the source, gold under silver, though declared first */
    char *ps = strstr(lin, "-> silver"), *pg = strstr(lin, "-> gold");
    assert_non_null(ps);
    assert_non_null(pg);
    assert_true(ps < pg);
    /* data: 3 good rows in minute 0, 1 in minute 1, one failing the expectation, one malformed */
    snprintf(set, sizeof set, "%s/a.ndjson", in);
    f = fopen(set, "w");
    fputs("{\"id\":1,\"v\":1.0,\"t\":1000}\n{\"id\":2,\"v\":2.0,\"t\":2000}\n{\"id\":3,\"v\":6.0,"
          "\"t\":3000}\n"
          "{\"id\":4,\"v\":-1,\"t\":4000}\nnot json\n{\"id\":5,\"v\":4.0,\"t\":61000}\n",
          f);
    fclose(f);
    char data[400];
    snprintf(data, sizeof data, "%s/data", dir);
    sl_run_opts o = {.data_dir = data, .once = true};
    if (sl_pipeline_run(p, &o, &err)) fail_msg("%s", err.msg);
    snprintf(set, sizeof set, "%s/sluice.db", data);
    sqlite3 *db;
    assert_int_equal(sqlite3_open(set, &db), SQLITE_OK);
    struct {
        const char *sql;
        long long want;
    } checks[] = {
        {"SELECT count(*) FROM silver", 4},
        {"SELECT count(*) FROM quarantine", 2},
        {"SELECT count(*) FROM big", 1},
        {"SELECT n FROM gold WHERE window_start = '1970-01-01T00:00:00Z'", 3},
        {"SELECT n FROM gold WHERE window_start = '1970-01-01T00:01:00Z'", 1},
        {"SELECT count(*) FROM gold WHERE is_final = 1", 2},
        {"SELECT sum(records_in) FROM _sluice_events", 6},
        {"SELECT abs(p - 2.0) <= 0.02 FROM gold WHERE window_start = '1970-01-01T00:00:00Z'", 1},
    };
    for (size_t i = 0; i < sizeof checks / sizeof checks[0]; i++) {
        sqlite3_stmt *st;
        assert_int_equal(sqlite3_prepare_v2(db, checks[i].sql, -1, &st, NULL), SQLITE_OK);
        assert_int_equal(sqlite3_step(st), SQLITE_ROW);
        long long got = sqlite3_column_int64(st, 0);
        sqlite3_finalize(st);
        if (got != checks[i].want)
            fail_msg("%s: got %lld, want %lld", checks[i].sql, got, checks[i].want);
    }
    sqlite3_close(db);
    sl_pipeline_free(p);
    sl_vars_free(vars);
}

/* A 10-minute rollup of a 1-minute window equals a direct 10-minute window
 * for exact aggregates, and is within the sketch's error for quantiles; a
 * row table reading the window sees upserted rows with its extra column. */
static void test_rollup(void **state) {
    (void)state;
    char in[300];
    snprintf(in, sizeof in, "%s/rin", dir);
    mkdir(in, 0755);
    char pipeline[4096];
    snprintf(pipeline, sizeof pipeline,
             "pipeline: r\n" SRC "tables:\n"
             "  silver:\n"
             "    from: s\n"
             "    steps:\n"
             "      - watermark: {time: \"from_unixtime_ms(t)\", delay: 1m}\n"
             "  m1:\n"
             "    from: silver\n"
             "    window: {size: 1m, keys: [id], aggregates: {n: \"count(*)\", s: \"sum(v)\", mx: "
             "\"max(v)\", p: \"p90(v)\", d: \"count_distinct(t)\", sd: \"stddev(v)\"}}\n"
             "  m10:\n"
             "    from: m1\n"
             "    rollup: {size: 10m}\n"
             "  direct10:\n"
             "    from: silver\n"
             "    window: {size: 10m, keys: [id], aggregates: {n: \"count(*)\", s: \"sum(v)\", mx: "
             "\"max(v)\", p: \"p90(v)\", d: \"count_distinct(t)\", sd: \"stddev(v)\"}}\n"
             "  flagged:\n"
             "    from: m1\n"
             "    steps:\n"
             "      - derive: {big: \"n > 40\"}\n");
    const char *path = write_file("r.yaml", pipeline);
    sl_vars *vars = sl_vars_new();
    char set[400];
    snprintf(set, sizeof set, "in=%s", in);
    sl_vars_set(vars, set);
    sl_error err = {0};
    sl_pipeline *p = sl_pipeline_load(path, vars, &err);
    if (!p) fail_msg("%s", err.msg);
    snprintf(set, sizeof set, "%s/a.ndjson", in);
    FILE *f = fopen(set, "w");
    uint64_t x = 12345;
    for (int i = 0; i < 20000; i++) {
        x = x * 6364136223846793005ULL + 1442695040888963407ULL;
        double v = (double)((x >> 33) % 100000) / 7.0 + 1;
        fprintf(f, "{\"id\":%d,\"v\":%.3f,\"t\":%d}\n", (int)((x >> 20) % 3), v,
                i * 90); /* 30 minutes */
    }
    fclose(f);
    char data[400];
    snprintf(data, sizeof data, "%s/rdata", dir);
    sl_run_opts o = {.data_dir = data, .once = true};
    if (sl_pipeline_run(p, &o, &err)) fail_msg("%s", err.msg);
    snprintf(set, sizeof set, "%s/sluice.db", data);
    sqlite3 *db;
    assert_int_equal(sqlite3_open(set, &db), SQLITE_OK);
    struct {
        const char *sql;
        long long want;
    } checks[] = {
        {"SELECT count(*) FROM m10", 9},
        {"SELECT count(*) FROM m10 a JOIN direct10 b USING(window_start, id) "
         "WHERE a.n = b.n AND abs(a.s - b.s) < 1e-6 AND a.mx = b.mx AND a.d = b.d AND abs(a.sd - "
         "b.sd) < 1e-9 * b.sd",
         9},
        /* both quantiles are within 1% of the exact p90, so within ~2% of each other */
        {"SELECT count(*) FROM m10 a JOIN direct10 b USING(window_start, id) WHERE abs(a.p - b.p) "
         "<= 0.0201 * b.p",
         9},
        {"SELECT count(*) FROM flagged", 90},
        {"SELECT count(*) FROM flagged f JOIN m1 USING(_group) WHERE f.n = m1.n AND f.big = (m1.n "
         "> 40) AND f.is_final = 1",
         90},
    };
    for (size_t i = 0; i < sizeof checks / sizeof checks[0]; i++) {
        sqlite3_stmt *st;
        if (sqlite3_prepare_v2(db, checks[i].sql, -1, &st, NULL) != SQLITE_OK)
            fail_msg("%s: %s", checks[i].sql, sqlite3_errmsg(db));
        assert_int_equal(sqlite3_step(st), SQLITE_ROW);
        long long got = sqlite3_column_int64(st, 0);
        sqlite3_finalize(st);
        if (got != checks[i].want)
            fail_msg("%s: got %lld, want %lld", checks[i].sql, got, checks[i].want);
    }
    sqlite3_close(db);
    sl_pipeline_free(p);
    sl_vars_free(vars);
}

/* A join whose other table is a window table: the window's rows reach the
 * join as they are emitted; its source is read (and the windows emitted by a
 * commit) before the events' source, though the events' is declared first. */
static void test_join_window(void **state) {
    (void)state;
    char in[300], ev[300];
    snprintf(in, sizeof in, "%s/jin", dir);
    snprintf(ev, sizeof ev, "%s/jev", dir);
    mkdir(in, 0755);
    mkdir(ev, 0755);
    char pipeline[4096];
    snprintf(
        pipeline, sizeof pipeline,
        "pipeline: j\n"
        "sources:\n"
        "  e: {type: dir, path: \"%s\", pattern: \"*.ndjson\", schema: {id: int, k: int}}\n"
        "  s: {type: dir, path: \"%s\", pattern: \"*.ndjson\", schema: {id: int, v: double, t: "
        "int}}\n"
        "tables:\n"
        "  probes:\n"
        "    from: e\n"
        "    steps:\n"
        "      - join: {table: m1, on: id, columns: {n_seen: n}}\n"
        "  silver:\n"
        "    from: s\n"
        "    steps:\n"
        "      - watermark: {time: \"from_unixtime_ms(t)\", delay: 1m}\n"
        "  m1:\n"
        "    from: silver\n"
        "    window: {size: 1m, keys: [id], aggregates: {n: \"count(*)\"}}\n",
        ev, in);
    const char *path = write_file("j.yaml", pipeline);
    sl_error err = {0};
    sl_pipeline *p = sl_pipeline_load(path, NULL, &err);
    if (!p) fail_msg("%s", err.msg);
    char f1[400], f2[400];
    snprintf(f1, sizeof f1, "%s/a.ndjson", in);
    snprintf(f2, sizeof f2, "%s/a.ndjson", ev);
    FILE *f = fopen(f1, "w");
    fputs("{\"id\":1,\"v\":1,\"t\":1000}\n{\"id\":1,\"v\":1,\"t\":2000}\n"
          "{\"id\":2,\"v\":1,\"t\":3000}\n{\"id\":1,\"v\":1,\"t\":4000}\n",
          f);
    fclose(f);
    f = fopen(f2, "w");
    fputs("{\"id\":1,\"k\":1}\n{\"id\":2,\"k\":2}\n{\"id\":7,\"k\":3}\n", f);
    fclose(f);
    char data[400];
    snprintf(data, sizeof data, "%s/jdata", dir);
    sl_run_opts o = {.data_dir = data, .once = true};
    if (sl_pipeline_run(p, &o, &err)) fail_msg("%s", err.msg);
    snprintf(f1, sizeof f1, "%s/sluice.db", data);
    sqlite3 *db;
    assert_int_equal(sqlite3_open(f1, &db), SQLITE_OK);
    sqlite3_stmt *st;
    assert_int_equal(
        sqlite3_prepare_v2(db,
                           "SELECT group_concat(id || '=' || coalesce(n_seen, 'NULL'), "
                           "' ') FROM (SELECT * FROM probes ORDER BY k)",
                           -1, &st, NULL),
        SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(st, 0), "1=3 2=1 7=NULL");
    sqlite3_finalize(st);
    sqlite3_close(db);
    sl_pipeline_free(p);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_graph_and_run),
        cmocka_unit_test(test_rollup),
        cmocka_unit_test(test_join_window),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
