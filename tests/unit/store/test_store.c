/*
 * test_store.c - the SQLite store (src/sinks/store.c): tables and schema
 * evolution, append and upsert writes, timestamp text, quarantine, source
 * positions, operator state (full + delta), key/value settings and the
 * commit transaction. Each test works on a database in its own temp folder
 * and checks what is on disk with plain SQL on a second connection.
 */
#include <setjmp.h> /* cmocka.h needs these four first */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <ftw.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/batch.h"
#include "core/error.h"
#include "core/log.h"
#include "core/timeutil.h"
#include "store/store.h"

#define SEC SL_US_PER_SEC
/* 2026-03-01T10:00:00Z */
#define T0 (INT64_C(1772359200) * SL_US_PER_SEC)

static char *dir;
static char dbpath[1024];

static int rm_cb(const char *p, const struct stat *st, int flag, struct FTW *f) {
    (void)st, (void)flag, (void)f;
    return remove(p);
}

static int setup(void **state) {
    (void)state;
    dir = strdup("/tmp/sl_store_test_XXXXXX");
    assert_non_null(mkdtemp(dir));
    snprintf(dbpath, sizeof dbpath, "%s/p.db", dir);
    return 0;
}

static int teardown(void **state) {
    (void)state;
    nftw(dir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
    free(dir);
    return 0;
}

static sl_store *open_rw(void) {
    sl_error err = {0};
    sl_store *s = sl_store_open(dbpath, false, &err);
    if (!s) fail_msg("open: %s", err.msg);
    return s;
}

/* One value of `sql` on a fresh read-only connection, as text ("NULL" for NULL, "" for no row). */
static char *q1(const char *sql) {
    static char out[4096];
    sqlite3 *db;
    assert_int_equal(sqlite3_open_v2(dbpath, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        fail_msg("%s: %s", sql, sqlite3_errmsg(db));
    out[0] = 0;
    if (sqlite3_step(st) == SQLITE_ROW) {
        const unsigned char *t = sqlite3_column_text(st, 0);
        snprintf(out, sizeof out, "%s", t ? (const char *)t : "NULL");
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
    return out;
}

static int64_t qi(const char *sql) { return atoll(q1(sql)); }

/* ------------------------------------------------------------------ format_ts */

static void test_format_ts(void **state) {
    (void)state;
    struct {
        int64_t us;
        const char *want;
    } c[] = {
        {T0, "2026-03-01T10:00:00Z"},
        {T0 + 123 * SL_US_PER_MS, "2026-03-01T10:00:00.123Z"},
        {T0 + 100 * SL_US_PER_MS, "2026-03-01T10:00:00.100Z"},
        {T0 + 1000, "2026-03-01T10:00:00.001Z"},
        {T0 + 123456, "2026-03-01T10:00:00.123456Z"},
        {T0 + 1, "2026-03-01T10:00:00.000001Z"},
        {T0 + 59 * SEC + 999999, "2026-03-01T10:00:59.999999Z"},
        {0, "1970-01-01T00:00:00Z"},
        {-SEC, "1969-12-31T23:59:59Z"},
        {-1000, "1969-12-31T23:59:59.999Z"},
        {-1, "1969-12-31T23:59:59.999999Z"},
        {INT64_C(253402300799) * SEC, "9999-12-31T23:59:59Z"},
    };
    for (size_t i = 0; i < sizeof c / sizeof *c; i++) {
        char out[64];
        int n = sl_store_format_ts(c[i].us, out, sizeof out);
        if (strcmp(out, c[i].want))
            fail_msg("format_ts(%lld) = '%s', want '%s'", (long long)c[i].us, out, c[i].want);
        assert_int_equal(n, (int)strlen(c[i].want));
        /* the text parses back to the same instant */
        int64_t back;
        assert_int_equal(sl_time_parse_iso(out, (size_t)n, &back), 0);
        assert_int_equal(back, c[i].us);
    }
}

/* ------------------------------------------------------------------ tables */

static void schema1(sl_schema *s) {
    sl_schema_init(s);
    sl_schema_add(s, "a", SL_T_INT);
    sl_schema_add(s, "b", SL_T_STRING);
    sl_schema_add(s, "c", SL_T_DOUBLE);
    sl_schema_add(s, "d", SL_T_BOOL);
    sl_schema_add(s, "t", SL_T_TS);
}

static void test_table_append_audit(void **state) {
    (void)state;
    sl_store *s = open_rw();
    sl_schema sc;
    schema1(&sc);
    sl_error err = {0};
    sl_table_writer *w = sl_store_table(s, "silver", &sc, SL_WRITE_APPEND, true, &err);
    if (!w) fail_msg("table: %s", err.msg);
    assert_string_equal(
        q1("SELECT group_concat(name || ':' || type, ',') FROM pragma_table_info('silver')"),
        "a:INTEGER,b:TEXT,c:REAL,d:INTEGER,t:TEXT,_ingest_ts:TEXT,_source:TEXT,_offset:INTEGER");
    sl_batch *b = sl_batch_new(&sc, 8);
    for (int i = 0; i < 3; i++) {
        uint32_t r = sl_batch_append_null_row(b);
        b->part[r] = i == 2 ? 1 : 0;
        b->pos[r] = 100 * i;
        b->ingest[r] = T0 + i * 1000;
        if (i == 1) continue; /* row 1: all NULL */
        sl_col_set_int(&b->col[0], r, 42 + i);
        sl_col_set_str(&b->col[1], r, "it's \"q\"", 8);
        sl_col_set_double(&b->col[2], r, 1.25 * i);
        sl_col_set_bool(&b->col[3], r, i == 0);
        sl_col_set_int(&b->col[4], r, T0 + 123456);
    }
    const char *parts[] = {"f1.jsonl", "f2.jsonl"};
    assert_int_equal(sl_table_write(w, b, parts, &err), 0);
    assert_int_equal(sl_table_rows_written(w), 3);
    assert_int_equal(qi("SELECT count(*) FROM silver"), 3);
    assert_string_equal(
        q1("SELECT a||'|'||b||'|'||c||'|'||d||'|'||t||'|'||_ingest_ts||'|'||_source||'|'||_offset"
           " FROM silver WHERE rowid=1"),
        "42|it's \"q\"|0.0|1|2026-03-01T10:00:00.123456Z|2026-03-01T10:00:00Z|f1.jsonl|0");
    assert_string_equal(
        q1("SELECT "
           "coalesce(a,'N')||coalesce(b,'N')||coalesce(c,'N')||coalesce(d,'N')||coalesce(t,'N')"
           " FROM silver WHERE rowid=2"),
        "NNNNN");
    assert_string_equal(
        q1("SELECT _ingest_ts||'|'||_source||'|'||_offset FROM silver WHERE rowid=3"),
        "2026-03-01T10:00:00.002Z|f2.jsonl|200");
    /* without part names: _source is NULL */
    assert_int_equal(sl_table_write(w, b, NULL, &err), 0);
    assert_string_equal(q1("SELECT _source FROM silver WHERE rowid=4"), "NULL");
    sl_batch_free(b);
    sl_table_writer_free(w);

    /* no audit columns */
    w = sl_store_table(s, "plain", &sc, SL_WRITE_APPEND, false, &err);
    assert_non_null(w);
    assert_int_equal(qi("SELECT count(*) FROM pragma_table_info('plain')"), 5);
    sl_table_writer_free(w);
    sl_store_close(s);
}

static void test_schema_evolution(void **state) {
    (void)state;
    sl_store *s = open_rw();
    sl_error err = {0};
    sl_schema s1;
    sl_schema_init(&s1);
    sl_schema_add(&s1, "a", SL_T_INT);
    sl_table_writer *w1 = sl_store_table(s, "t", &s1, SL_WRITE_APPEND, false, &err);
    assert_non_null(w1);
    sl_batch *b1 = sl_batch_new(&s1, 4);
    sl_col_set_int(&b1->col[0], sl_batch_append_null_row(b1), 1);
    assert_int_equal(sl_table_write(w1, b1, NULL, &err), 0);

    sl_schema s2 = s1;
    sl_schema_add(&s2, "e", SL_T_STRING);
    sl_schema_add(&s2, "f", SL_T_DOUBLE);
    sl_log_set_level(SL_LOG_WARN);
    sl_table_writer *w2 = sl_store_table(s, "t", &s2, SL_WRITE_APPEND, false, &err);
    if (!w2) fail_msg("schema evolution failed: %s", err.msg);
    assert_string_equal(
        q1("SELECT group_concat(name || ':' || type, ',') FROM pragma_table_info('t')"),
        "a:INTEGER,e:TEXT,f:REAL");
    sl_batch *b2 = sl_batch_new(&s2, 4);
    uint32_t r = sl_batch_append_null_row(b2);
    sl_col_set_int(&b2->col[0], r, 2);
    sl_col_set_str(&b2->col[1], r, "new", 3);
    sl_col_set_double(&b2->col[2], r, 0.5);
    assert_int_equal(sl_table_write(w2, b2, NULL, &err), 0);
    /* the old writer still works after the ALTER (its statement is re-prepared) */
    assert_int_equal(sl_table_write(w1, b1, NULL, &err), 0);
    assert_string_equal(
        q1("SELECT group_concat(a || ':' || coalesce(e, '-') || ':' || coalesce(f, '-'), ',')"
           " FROM (SELECT * FROM t ORDER BY rowid)"),
        "1:-:-,2:new:0.5,1:-:-");
    sl_table_writer_free(w1);
    sl_table_writer_free(w2);
    sl_store_close(s);

    /* restart with the older, narrower schema: no failure, columns stay */
    s = open_rw();
    w1 = sl_store_table(s, "t", &s1, SL_WRITE_APPEND, false, &err);
    assert_non_null(w1);
    assert_int_equal(sl_table_write(w1, b1, NULL, &err), 0);
    assert_int_equal(qi("SELECT count(*) FROM t"), 4);
    assert_int_equal(qi("SELECT count(*) FROM pragma_table_info('t')"), 3);
    sl_table_writer_free(w1);
    sl_store_close(s);
    sl_log_set_level(SL_LOG_INFO);
    sl_batch_free(b1);
    sl_batch_free(b2);
}

static void test_upsert_by_group(void **state) {
    (void)state;
    sl_store *s = open_rw();
    sl_error err = {0};
    sl_schema sc;
    sl_schema_init(&sc);
    sl_schema_add(&sc, "window_start", SL_T_TS);
    sl_schema_add(&sc, "k", SL_T_STRING);
    sl_schema_add(&sc, "n", SL_T_INT);
    sl_schema_add(&sc, "is_final", SL_T_BOOL);
    sl_schema_add(&sc, "_group", SL_T_INT);
    sl_table_writer *w = sl_store_table(s, "gold", &sc, SL_WRITE_UPSERT, false, &err);
    if (!w) fail_msg("upsert table: %s", err.msg);
    sl_batch *b = sl_batch_new(&sc, 8);
    int64_t groups[] = {7, -3, 9};
    for (int i = 0; i < 3; i++) {
        uint32_t r = sl_batch_append_null_row(b);
        sl_col_set_int(&b->col[0], r, T0 + i * 60 * SEC);
        if (i != 2) sl_col_set_str(&b->col[1], r, "cam", 3); /* row 2: NULL key */
        sl_col_set_int(&b->col[2], r, i + 1);
        sl_col_set_bool(&b->col[3], r, false);
        sl_col_set_int(&b->col[4], r, groups[i]);
    }
    assert_int_equal(sl_table_write(w, b, NULL, &err), 0);
    assert_int_equal(qi("SELECT count(*) FROM gold"), 3);
    /* the open windows are updated, one becomes final */
    sl_batch_clear(b);
    uint32_t r = sl_batch_append_null_row(b);
    sl_col_set_int(&b->col[0], r, T0);
    sl_col_set_str(&b->col[1], r, "cam", 3);
    sl_col_set_int(&b->col[2], r, 10);
    sl_col_set_bool(&b->col[3], r, true);
    sl_col_set_int(&b->col[4], r, 7);
    r = sl_batch_append_null_row(b);
    sl_col_set_int(&b->col[0], r, T0 + 120 * SEC);
    sl_col_set_int(&b->col[2], r, 30);
    sl_col_set_bool(&b->col[3], r, false);
    sl_col_set_int(&b->col[4], r, 9);
    assert_int_equal(sl_table_write(w, b, NULL, &err), 0);
    /* and writing the same row twice (a replay after a crash) changes nothing */
    assert_int_equal(sl_table_write(w, b, NULL, &err), 0);
    assert_int_equal(qi("SELECT count(*) FROM gold"), 3);
    assert_string_equal(q1("SELECT "
                           "group_concat(_group||':'||n||':'||is_final||':'||coalesce(k,'NULL')||':"
                           "'||window_start, ',')"
                           " FROM (SELECT * FROM gold ORDER BY _group)"),
                        "-3:2:0:cam:2026-03-01T10:01:00Z,7:10:1:cam:2026-03-01T10:00:00Z,9:30:0:"
                        "NULL:2026-03-01T10:02:00Z");
    sl_batch_free(b);
    sl_table_writer_free(w);
    sl_store_close(s);
}

/* A table as wide as a schema gets (SL_MAX_COLUMNS) with names as long as
 * they get: the upsert statement names every column three times, well past
 * the 16 KiB the SQL used to be built in. */
static void wide_name(char *out, const char *prefix, int i) {
    int n = snprintf(out, SL_NAME_MAX, "%s%03d_", prefix, i);
    while (n < SL_NAME_MAX - 1)
        out[n++] = 'x';
    out[n] = 0;
}

static void test_wide_table(void **state) {
    (void)state;
    sl_store *s = open_rw();
    sl_error err = {0};
    char tname[SL_NAME_MAX], col[SL_NAME_MAX];
    wide_name(tname, "gold_", 0);
    sl_schema sc;
    sl_schema_init(&sc);
    assert_int_equal(sl_schema_add(&sc, "_group", SL_T_INT), 0);
    for (int i = 1; i < SL_MAX_COLUMNS; i++) {
        wide_name(col, "metric_", i);
        assert_int_equal(strlen(col), SL_NAME_MAX - 1);
        assert_int_equal(sl_schema_add(&sc, col, i % 2 ? SL_T_INT : SL_T_STRING), i);
    }
    /* first with a few columns, then all of them: 100+ ALTER TABLEs */
    sl_schema narrow = sc;
    narrow.n = 10;
    sl_table_writer *w = sl_store_table(s, tname, &narrow, SL_WRITE_UPSERT, false, &err);
    if (!w) fail_msg("narrow table: %s", err.msg);
    sl_table_writer_free(w);
    w = sl_store_table(s, tname, &sc, SL_WRITE_UPSERT, false, &err);
    if (!w) fail_msg("wide table: %s", err.msg);
    sl_batch *b = sl_batch_new(&sc, 4);
    for (int round = 0; round < 2; round++) {
        sl_batch_clear(b);
        uint32_t r = sl_batch_append_null_row(b);
        sl_col_set_int(&b->col[0], r, 42);
        for (int c = 1; c < sc.n; c++) {
            if (c % 2)
                sl_col_set_int(&b->col[c], r, c * 10 + round);
            else
                sl_col_set_str(&b->col[c], r, "v", 1);
        }
        if (sl_table_write(w, b, NULL, &err)) fail_msg("write: %s", err.msg);
    }
    char sql[512];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM \"%s\"", tname);
    assert_int_equal(qi(sql), 1); /* upserted */
    wide_name(col, "metric_", SL_MAX_COLUMNS - 1);
    snprintf(sql, sizeof sql, "SELECT \"%s\" FROM \"%s\"", col, tname);
    assert_int_equal(qi(sql), (SL_MAX_COLUMNS - 1) * 10 + 1);
    snprintf(sql, sizeof sql, "SELECT count(*) FROM pragma_table_info('%s')", tname);
    assert_int_equal(qi(sql), SL_MAX_COLUMNS);
    sl_table_writer_free(w);
    /* the same width as an append table with the audit columns */
    w = sl_store_table(s, "wide_silver", &sc, SL_WRITE_APPEND, true, &err);
    if (!w) fail_msg("wide append table: %s", err.msg);
    const char *parts[] = {"f1"};
    assert_int_equal(sl_table_write(w, b, parts, &err), 0);
    assert_int_equal(qi("SELECT count(*) FROM pragma_table_info('wide_silver')"),
                     SL_MAX_COLUMNS + 3);
    assert_string_equal(q1("SELECT _source FROM wide_silver"), "f1");
    sl_table_writer_free(w);
    sl_batch_free(b);
    sl_store_close(s);
}

/* Every error from the store says what failed and in which database file. */
static void test_error_messages(void **state) {
    (void)state;
    sl_store *s = open_rw();
    sl_error err = {0};
    assert_int_equal(sl_store_exec(s, "SELECT * FROM no_such_table", &err), SL_EIO);
    assert_non_null(strstr(err.msg, "no such table: no_such_table"));
    assert_non_null(strstr(err.msg, dbpath));

    /* a write the table refuses */
    assert_int_equal(sl_store_exec(s, "CREATE TABLE strict_t(a INTEGER NOT NULL)", &err), 0);
    sl_schema sc;
    sl_schema_init(&sc);
    sl_schema_add(&sc, "a", SL_T_INT);
    sl_table_writer *w = sl_store_table(s, "strict_t", &sc, SL_WRITE_APPEND, false, &err);
    assert_non_null(w);
    sl_batch *b = sl_batch_new(&sc, 2);
    sl_batch_append_null_row(b);
    memset(&err, 0, sizeof err);
    assert_int_equal(sl_table_write(w, b, NULL, &err), SL_EIO);
    assert_non_null(strstr(err.msg, "writing to table \"strict_t\""));
    assert_non_null(strstr(err.msg, "NOT NULL"));
    assert_non_null(strstr(err.msg, dbpath));
    sl_table_writer_free(w);

    /* an upsert table needs its _group column */
    memset(&err, 0, sizeof err);
    assert_null(sl_store_table(s, "no_group", &sc, SL_WRITE_UPSERT, false, &err));
    assert_int_not_equal(err.code, 0);
    assert_non_null(strstr(err.msg, "table \"no_group\""));
    assert_non_null(strstr(err.msg, dbpath));
    sl_store_close(s);

    /* a read-only store cannot create a table */
    s = sl_store_open(dbpath, true, &err);
    assert_non_null(s);
    memset(&err, 0, sizeof err);
    assert_null(sl_store_table(s, "new_t", &sc, SL_WRITE_APPEND, false, &err));
    assert_int_equal(err.code, SL_EIO);
    assert_non_null(strstr(err.msg, "creating table \"new_t\""));
    assert_non_null(strstr(err.msg, dbpath));
    memset(&err, 0, sizeof err);
    assert_int_not_equal(sl_store_put_state(s, "op", true, "x", 1, &err), 0);
    assert_non_null(strstr(err.msg, "saving the state of op"));
    assert_non_null(strstr(err.msg, dbpath));
    sl_store_close(s);
    sl_batch_free(b);
}

/* ------------------------------------------------------------------ quarantine, positions */

static void test_quarantine(void **state) {
    (void)state;
    sl_store *s = open_rw();
    const char raw[] = "{\"bad\": tru\0e}";
    assert_int_equal(sl_store_quarantine(s, "silver", "parse error: line 1", raw, 11, "f1.jsonl",
                                         1234, T0 + 5000),
                     0);
    assert_int_equal(sl_store_quarantine(s, "gold", "late", NULL, 0, NULL, 0, T0), 0);
    assert_int_equal(qi("SELECT count(*) FROM quarantine"), 2);
    assert_string_equal(
        q1("SELECT table_name||'|'||reason||'|'||raw||'|'||_source||'|'||_offset||'|'||_ingest_ts"
           " FROM quarantine WHERE rowid=1"),
        "silver|parse error: line 1|{\"bad\": tru|f1.jsonl|1234|2026-03-01T10:00:00.005Z");
    assert_string_equal(q1("SELECT raw||'|'||_source FROM quarantine WHERE rowid=2"), "|");
    sl_store_close(s);
}

typedef struct {
    char s[1024];
} acc;

static void pos_cb(void *ud, const char *partition, int64_t pos) {
    acc *a = ud;
    size_t n = strlen(a->s);
    snprintf(a->s + n, sizeof a->s - n, "%s=%lld;", partition, (long long)pos);
}

static void test_positions(void **state) {
    (void)state;
    sl_store *s = open_rw();
    sl_error err = {0};
    assert_int_equal(sl_store_put_position(s, "src", "b.jsonl", 10), 0);
    assert_int_equal(sl_store_put_position(s, "src", "a.jsonl", 5), 0);
    assert_int_equal(sl_store_put_position(s, "other", "a.jsonl", 99), 0);
    assert_int_equal(sl_store_put_position(s, "src", "b.jsonl", 20), 0); /* replaces */
    acc a = {""};
    assert_int_equal(sl_store_positions(s, "src", pos_cb, &a, &err), 0);
    assert_string_equal(a.s, "a.jsonl=5;b.jsonl=20;");
    a.s[0] = 0;
    assert_int_equal(sl_store_positions(s, "none", pos_cb, &a, &err), 0);
    assert_string_equal(a.s, "");
    sl_store_close(s);
    /* durable without an explicit transaction */
    s = open_rw();
    assert_int_equal(sl_store_positions(s, "other", pos_cb, &a, &err), 0);
    assert_string_equal(a.s, "a.jsonl=99;");
    sl_store_close(s);
}

/* ------------------------------------------------------------------ state, kv */

typedef struct {
    int n;
    bool full[16];
    char data[16][32];
    int stop_at; /* return an error at this call (1-based), 0 never */
} states;

static int state_cb(void *ud, bool full, const void *data, size_t n, sl_error *err) {
    states *st = ud;
    if (st->stop_at && st->n + 1 == st->stop_at) return sl_error_set(err, SL_ECORRUPT, "stop");
    st->full[st->n] = full;
    snprintf(st->data[st->n], 32, "%.*s", (int)n, (const char *)data);
    st->n++;
    return 0;
}

static void test_state_full_delta(void **state) {
    (void)state;
    sl_store *s = open_rw();
    sl_error err = {0};
    /* deltas before any full (the engine's first full comes late) */
    assert_int_equal(sl_store_put_state(s, "t/0/dedupe", false, "d1", 2, &err), 0);
    assert_int_equal(sl_store_put_state(s, "t/0/dedupe", false, "d2", 2, &err), 0);
    assert_int_equal(sl_store_put_state(s, "t/1/expect", true, "e1", 2, &err), 0);
    states st = {0};
    assert_int_equal(sl_store_load_state(s, "t/0/dedupe", state_cb, &st, &err), 0);
    assert_int_equal(st.n, 2);
    assert_string_equal(st.data[0], "d1");
    assert_false(st.full[0]);
    assert_string_equal(st.data[1], "d2");
    assert_int_equal(sl_store_state_bytes(s, "t/0/dedupe"), 4);
    /* a full replaces everything before it, for that op only */
    assert_int_equal(sl_store_put_state(s, "t/0/dedupe", true, "FULL", 4, &err), 0);
    assert_int_equal(sl_store_put_state(s, "t/0/dedupe", false, "d3", 2, &err), 0);
    memset(&st, 0, sizeof st);
    assert_int_equal(sl_store_load_state(s, "t/0/dedupe", state_cb, &st, &err), 0);
    assert_int_equal(st.n, 2);
    assert_true(st.full[0]);
    assert_string_equal(st.data[0], "FULL");
    assert_false(st.full[1]);
    assert_string_equal(st.data[1], "d3");
    assert_int_equal(sl_store_state_bytes(s, "t/0/dedupe"), 6);
    memset(&st, 0, sizeof st);
    assert_int_equal(sl_store_load_state(s, "t/1/expect", state_cb, &st, &err), 0);
    assert_int_equal(st.n, 1);
    assert_string_equal(st.data[0], "e1");
    /* an empty snapshot and an unknown op */
    assert_int_equal(sl_store_put_state(s, "empty", true, "", 0, &err), 0);
    memset(&st, 0, sizeof st);
    assert_int_equal(sl_store_load_state(s, "empty", state_cb, &st, &err), 0);
    assert_int_equal(st.n, 1);
    memset(&st, 0, sizeof st);
    assert_int_equal(sl_store_load_state(s, "nope", state_cb, &st, &err), 0);
    assert_int_equal(st.n, 0);
    assert_int_equal(sl_store_state_bytes(s, "nope"), 0);
    /* the callback's error stops the load and is returned */
    memset(&st, 0, sizeof st);
    st.stop_at = 2;
    assert_int_equal(sl_store_load_state(s, "t/0/dedupe", state_cb, &st, &err), SL_ECORRUPT);
    assert_int_equal(st.n, 1);
    /* binary data survives */
    unsigned char bin[5] = {0, 1, 0, 255, 7};
    assert_int_equal(sl_store_put_state(s, "bin", true, bin, 5, &err), 0);
    assert_int_equal(sl_store_state_bytes(s, "bin"), 5);
    sl_store_close(s);
}

static void test_kv(void **state) {
    (void)state;
    sl_store *s = open_rw();
    char out[64];
    assert_int_equal(sl_store_get_kv(s, "k", out, sizeof out), SL_ENOTFOUND);
    assert_int_equal(sl_store_put_kv(s, "k", "v1"), 0);
    assert_int_equal(sl_store_get_kv(s, "k", out, sizeof out), 0);
    assert_string_equal(out, "v1");
    assert_int_equal(sl_store_put_kv(s, "k", "123\tseg-0001.ndjson.zst"), 0);
    assert_int_equal(sl_store_get_kv(s, "k", out, sizeof out), 0);
    assert_string_equal(out, "123\tseg-0001.ndjson.zst");
    char small[4];
    assert_int_equal(sl_store_get_kv(s, "k", small, sizeof small), 0);
    assert_string_equal(small, "123"); /* truncated, terminated */
    assert_int_equal(sl_store_put_kv(s, "empty", ""), 0);
    assert_int_equal(sl_store_get_kv(s, "empty", out, sizeof out), 0);
    assert_string_equal(out, "");
    sl_store_close(s);
}

/* ------------------------------------------------------------------ transactions */

static void test_transactions(void **state) {
    (void)state;
    sl_error err = {0};
    sl_schema sc;
    sl_schema_init(&sc);
    sl_schema_add(&sc, "a", SL_T_INT);
    sl_batch *b = sl_batch_new(&sc, 4);
    sl_col_set_int(&b->col[0], sl_batch_append_null_row(b), 1);

    sl_store *s = open_rw();
    sl_table_writer *w = sl_store_table(s, "t", &sc, SL_WRITE_APPEND, false, &err);
    assert_non_null(w);
    /* committed interval */
    assert_int_equal(sl_store_begin(s, &err), 0);
    assert_int_equal(sl_store_begin(s, &err), 0); /* nested begin is a no-op */
    assert_int_equal(sl_table_write(w, b, NULL, &err), 0);
    assert_int_equal(sl_store_put_position(s, "src", "f", 10), 0);
    assert_int_equal(sl_store_put_state(s, "op", true, "s1", 2, &err), 0);
    assert_int_equal(sl_store_put_kv(s, "k", "1"), 0);
    /* a reader does not see the open transaction */
    assert_int_equal(qi("SELECT count(*) FROM t"), 0);
    assert_int_equal(sl_store_commit(s, &err), 0);
    assert_int_equal(sl_store_commit(s, &err), 0); /* commit without a transaction is a no-op */
    assert_int_equal(qi("SELECT count(*) FROM t"), 1);
    /* an interval that never commits */
    assert_int_equal(sl_store_begin(s, &err), 0);
    assert_int_equal(sl_table_write(w, b, NULL, &err), 0);
    assert_int_equal(sl_table_write(w, b, NULL, &err), 0);
    assert_int_equal(sl_store_put_position(s, "src", "f", 30), 0);
    assert_int_equal(sl_store_put_state(s, "op", true, "s2", 2, &err), 0);
    assert_int_equal(sl_store_put_kv(s, "k", "2"), 0);
    assert_int_equal(sl_store_quarantine(s, "t", "r", "x", 1, "f", 0, T0), 0);
    sl_table_writer_free(w);
    sl_store_close(s); /* crash-like: the open transaction is rolled back */

    s = open_rw();
    assert_int_equal(qi("SELECT count(*) FROM t"), 1);
    assert_int_equal(qi("SELECT count(*) FROM quarantine"), 0);
    acc a = {""};
    assert_int_equal(sl_store_positions(s, "src", pos_cb, &a, &err), 0);
    assert_string_equal(a.s, "f=10;");
    states st = {0};
    assert_int_equal(sl_store_load_state(s, "op", state_cb, &st, &err), 0);
    assert_int_equal(st.n, 1);
    assert_string_equal(st.data[0], "s1");
    char out[16];
    assert_int_equal(sl_store_get_kv(s, "k", out, sizeof out), 0);
    assert_string_equal(out, "1");
    sl_store_close(s);

    /* the database is in WAL mode */
    assert_string_equal(q1("PRAGMA journal_mode"), "wal");
    /* read-only open works and cannot write */
    s = sl_store_open(dbpath, true, &err);
    assert_non_null(s);
    assert_int_not_equal(sl_store_exec(s, "INSERT INTO t VALUES(5)", &err), 0);
    sl_store_close(s);
    sl_batch_free(b);
}

static void test_open_errors(void **state) {
    (void)state;
    sl_error err = {0};
    assert_null(sl_store_open("/nonexistent/dir/p.db", false, &err));
    assert_int_equal(err.code, SL_EIO);
    assert_non_null(strstr(err.msg, "/nonexistent/dir/p.db"));
    /* a file that is not a database */
    FILE *f = fopen(dbpath, "wb");
    fputs(
        "this is not a sqlite database, just some text that is long enough to have a header......",
        f);
    fclose(f);
    memset(&err, 0, sizeof err);
    assert_null(sl_store_open(dbpath, false, &err));
    assert_int_not_equal(err.code, 0);
}

int main(void) {
    sl_log_set_level(SL_LOG_WARN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_format_ts),
        cmocka_unit_test_setup_teardown(test_table_append_audit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_schema_evolution, setup, teardown),
        cmocka_unit_test_setup_teardown(test_upsert_by_group, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wide_table, setup, teardown),
        cmocka_unit_test_setup_teardown(test_error_messages, setup, teardown),
        cmocka_unit_test_setup_teardown(test_quarantine, setup, teardown),
        cmocka_unit_test_setup_teardown(test_positions, setup, teardown),
        cmocka_unit_test_setup_teardown(test_state_full_delta, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kv, setup, teardown),
        cmocka_unit_test_setup_teardown(test_transactions, setup, teardown),
        cmocka_unit_test_setup_teardown(test_open_errors, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
