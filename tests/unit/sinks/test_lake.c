/*
 * test_lake.c - lake segments (src/sinks/lake.c) and the sluice_lake virtual
 * table (src/sinks/lake_vtab.c).
 *
 * Each test works in its own mkdtemp folder and reads the lake back through
 * the virtual table on an in-memory SQLite database, comparing every line to
 * the generator. Faults: crash without flush (close + recover), crash after a
 * roll, corrupted and truncated segments, a write failure (RLIMIT_FSIZE), a
 * second writer. The cold tier: moves, reads across both tiers, a segment in
 * both tiers read once, retention of cold folders. (Append and scan speed: bench/micro_bench.c,
 * `make bench`.)
 */
#include <setjmp.h> /* cmocka.h needs these four first */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/error.h"
#include "core/timeutil.h"
#include "formats/parquet.h"
#include "sinks/lake.h"
#include "sinks/lake_vtab.h"
#include "../unit_skip.h"

#define HOUR (3600LL * SL_US_PER_SEC)
/* 2026-03-01T10:00:00Z */
#define T0 (INT64_C(1772359200) * SL_US_PER_SEC)

/* ------------------------------------------------------------------ helpers */

static int rm_cb(const char *p, const struct stat *st, int flag, struct FTW *f) {
    (void)st;
    (void)flag;
    (void)f;
    return remove(p);
}

static void rm_rf(const char *p) { nftw(p, rm_cb, 16, FTW_DEPTH | FTW_PHYS); }

static char *mktmp(void) {
    char *d = strdup("/tmp/sl_lake_test_XXXXXX");
    assert_non_null(mkdtemp(d));
    return d;
}

/* Line i: a JSON object of about 200 bytes, like a camera detection, with a
 * pseudo-random event id so it compresses like real data, not like a pattern. */
static size_t make_line(char *buf, size_t cap, int i) {
    uint64_t x = (uint64_t)i * 0x9E3779B97F4A7C15ull + 0x632BE59BD9B4E019ull;
    x ^= x >> 31;
    x *= 0xBF58476D1CE4E5B9ull;
    x ^= x >> 27;
    uint64_t y = x * 0x94D049BB133111EBull;
    y ^= y >> 29;
    int n = snprintf(buf, cap,
                     "{\"i\":%d,\"event_id\":\"%016llx%016llx\",\"camera\":\"cam-%04d\","
                     "\"loc\":\"site-%02d\",\"ts\":\"2026-03-01T10:%02d:%02d.%06dZ\","
                     "\"conf\":0.%04d,\"label\":\"%s\",\"speed\":%d.%d,\"_source\":\"dir\","
                     "\"_offset\":%d}",
                     i, (unsigned long long)x, (unsigned long long)y, i % 977, i % 31,
                     (i / 60) % 60, i % 60, (int)(x % 1000000), (int)(y % 10000),
                     (i % 3) ? "car" : "person", (int)(x % 140), (int)(y % 10), i * 7);
    return (size_t)n;
}

static sl_lake *open_recover(const char *root, int64_t max, const sl_lake_pos *pos) {
    sl_error err = {0, {0}};
    sl_lake *l = sl_lake_open(root, max, 1, &err);
    if (!l) fail_msg("open: %s", err.msg);
    if (sl_lake_recover(l, pos, &err) != 0) fail_msg("recover: %s", err.msg);
    return l;
}

static void append_range(sl_lake *l, int from, int to, int64_t ingest) {
    char buf[512];
    sl_error err = {0, {0}};
    for (int i = from; i < to; i++) {
        size_t n = make_line(buf, sizeof buf, i);
        if (sl_lake_append(l, buf, n, ingest, &err) != 0) fail_msg("append: %s", err.msg);
    }
}

static void flush_ok(sl_lake *l) {
    sl_error err = {0, {0}};
    if (sl_lake_flush(l, &err) != 0) fail_msg("flush: %s", err.msg);
}

static sqlite3 *open_db(void) {
    sqlite3 *db;
    assert_int_equal(sqlite3_open(":memory:", &db), SQLITE_OK);
    assert_int_equal(sl_lake_vtab_register(db), SQLITE_OK);
    return db;
}

static void exec_ok(sqlite3 *db, const char *sql) {
    char *e = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &e) != SQLITE_OK) fail_msg("%s: %s", sql, e);
}

/* Creates temp.lk over root (at pos when given). */
static void create_vtab(sqlite3 *db, const char *root, const sl_lake_pos *pos) {
    char *sql;
    exec_ok(db, "DROP TABLE IF EXISTS temp.lk");
    if (pos)
        sql = sqlite3_mprintf("CREATE VIRTUAL TABLE temp.lk USING sluice_lake(%Q, %Q, %lld)", root,
                              pos->segment, (long long)pos->length);
    else
        sql = sqlite3_mprintf("CREATE VIRTUAL TABLE temp.lk USING sluice_lake(%Q)", root);
    exec_ok(db, sql);
    sqlite3_free(sql);
}

/* Reads temp.lk in order; every line must be make_line(first + k). Returns
 * the number of rows, or -1 (with *errmsg) if the query failed. */
static int64_t read_check(sqlite3 *db, int first, char *errmsg, size_t errcap) {
    sqlite3_stmt *st;
    assert_int_equal(
        sqlite3_prepare_v2(db, "SELECT line, _segment, _line_no FROM temp.lk", -1, &st, NULL),
        SQLITE_OK);
    int64_t k = 0, last_line_no = 0;
    char prev_seg[256] = "";
    char buf[512];
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *line = (const char *)sqlite3_column_text(st, 0);
        int len = sqlite3_column_bytes(st, 0);
        const char *seg = (const char *)sqlite3_column_text(st, 1);
        int64_t ln = sqlite3_column_int64(st, 2);
        size_t n = make_line(buf, sizeof buf, first + (int)k);
        if ((size_t)len != n || memcmp(line, buf, n) != 0)
            fail_msg("row %lld: got '%.*s' want '%s'", (long long)k, len, line, buf);
        if (strcmp(seg, prev_seg) != 0) {
            assert_int_equal(ln, 1);
            snprintf(prev_seg, sizeof prev_seg, "%s", seg);
        } else {
            assert_int_equal(ln, last_line_no + 1);
        }
        last_line_no = ln;
        k++;
    }
    if (rc != SQLITE_DONE) {
        if (errmsg) snprintf(errmsg, errcap, "%s", sqlite3_errmsg(db));
        sqlite3_finalize(st);
        return -1;
    }
    sqlite3_finalize(st);
    return k;
}

static int64_t count_lake(const char *root, const sl_lake_pos *pos, int first) {
    sqlite3 *db = open_db();
    create_vtab(db, root, pos);
    char msg[512] = "";
    int64_t n = read_check(db, first, msg, sizeof msg);
    if (n < 0) fail_msg("query failed: %s", msg);
    sqlite3_close(db);
    return n;
}

static size_t nsegments(const char *root) {
    sl_lake_segment *v;
    size_t n;
    assert_int_equal(sl_lake_segments_list(root, &v, &n, NULL), 0);
    free(v);
    return n;
}

static int is_dir(const char *root, const char *rel) {
    char p[1024];
    struct stat st;
    snprintf(p, sizeof p, "%s/%s", root, rel);
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

/* ------------------------------------------------------------------- tests */

static void test_roundtrip(void **state) {
    (void)state;
    char *root = mktmp();
    sl_lake *l = open_recover(root, 0, NULL);
    sl_lake_pos pos;
    sl_lake_position(l, &pos);
    assert_string_equal(pos.segment, "");
    append_range(l, 0, 1000, T0 + 5 * SL_US_PER_SEC);
    flush_ok(l);
    sl_lake_position(l, &pos);
    assert_string_equal(pos.segment, "dt=2026-03-01/hr=10/part-00000001.ndjson.zst");
    assert_true(pos.length > 0);
    assert_int_equal(sl_lake_bytes_written(l), pos.length);
    assert_int_equal(count_lake(root, NULL, 0), 1000);
    assert_int_equal(count_lake(root, &pos, 0), 1000);

    /* A view like the engine's, over json_extract. */
    sqlite3 *db = open_db();
    create_vtab(db, root, &pos);
    exec_ok(db, "CREATE TEMP VIEW raw AS SELECT json_extract(line,'$.i') AS i, "
                "json_extract(line,'$.label') AS label FROM lk");
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(db, "SELECT count(*), sum(i), sum(label='person') FROM raw",
                                        -1, &st, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int64(st, 0), 1000);
    assert_int_equal(sqlite3_column_int64(st, 1), 999 * 1000 / 2);
    assert_int_equal(sqlite3_column_int64(st, 2), 334);
    sqlite3_finalize(st);
    sqlite3_close(db);

    /* Empty lines and a line longer than the compression buffer. */
    sl_error err;
    assert_int_equal(sl_lake_append(l, "", 0, T0, &err), 0);
    size_t big = 300 * 1000;
    char *b = malloc(big);
    memset(b, 'x', big);
    assert_int_equal(sl_lake_append(l, b, big, T0, &err), 0);
    assert_int_equal(sl_lake_append(l, "tail", 4, T0, &err), 0);
    flush_ok(l);
    db = open_db();
    create_vtab(db, root, NULL);
    assert_int_equal(sqlite3_prepare_v2(db,
                                        "SELECT length(line), _line_no FROM lk WHERE _line_no > "
                                        "1000 ORDER BY _line_no",
                                        -1, &st, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int(st, 0), 0);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int(st, 0), (int)big);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int(st, 0), 4);
    assert_int_equal(sqlite3_column_int(st, 1), 1003);
    assert_int_equal(sqlite3_step(st), SQLITE_DONE);
    sqlite3_finalize(st);
    sqlite3_close(db);
    free(b);

    /* Misuse. */
    assert_int_equal(sl_lake_append(l, "a\nb", 3, T0, &err), SL_EINVAL);
    sl_lake_close(l);
    l = sl_lake_open(root, 0, 1, &err);
    assert_non_null(l);
    assert_int_equal(sl_lake_append(l, "x", 1, T0, &err), SL_EINVAL); /* before recover */
    sl_error err2;
    sl_lake *l2 = sl_lake_open(root, 0, 1, &err2); /* a second writer */
    assert_null(l2);
    assert_int_equal(err2.code, SL_EIO);
    assert_non_null(strstr(err2.msg, "in use"));
    sl_lake_close(l);
    rm_rf(root);
    free(root);
}

/* Crash without flush: rows after the recorded position vanish, and the lake
 * resumes appending into the committed segment. */
static void test_recover_unflushed(void **state) {
    (void)state;
    char *root = mktmp();
    sl_lake *l = open_recover(root, 0, NULL);
    append_range(l, 0, 500, T0);
    flush_ok(l);
    sl_lake_pos committed;
    sl_lake_position(l, &committed);
    /* More data: some flushed (but never committed), some only written. */
    append_range(l, 500, 700, T0);
    flush_ok(l);
    append_range(l, 700, 60000, T0); /* > 128 KiB: reaches the file unflushed */
    sl_lake_pos uncommitted;
    sl_lake_position(l, &uncommitted);
    assert_true(uncommitted.length > committed.length);
    sl_lake_close(l); /* "crash" */

    char p[1024];
    struct stat st;
    snprintf(p, sizeof p, "%s/%s", root, committed.segment);
    assert_int_equal(stat(p, &st), 0);
    assert_true(st.st_size > uncommitted.length);

    l = open_recover(root, 0, &committed);
    assert_int_equal(stat(p, &st), 0);
    assert_int_equal(st.st_size, committed.length);
    sl_lake_pos pos;
    sl_lake_position(l, &pos);
    assert_string_equal(pos.segment, committed.segment);
    assert_int_equal(pos.length, committed.length);
    assert_int_equal(count_lake(root, NULL, 0), 500);

    /* Resume: same hour -> same segment, the new frame follows the old ones. */
    append_range(l, 500, 800, T0 + 10 * SL_US_PER_SEC);
    flush_ok(l);
    sl_lake_position(l, &pos);
    assert_string_equal(pos.segment, committed.segment);
    assert_true(pos.length > committed.length);
    assert_int_equal(nsegments(root), 1);
    assert_int_equal(count_lake(root, NULL, 0), 800);
    sl_lake_close(l);

    /* Nothing committed: everything goes. */
    l = open_recover(root, 0, NULL);
    assert_int_equal(nsegments(root), 0);
    assert_false(is_dir(root, "dt=2026-03-01"));
    assert_int_equal(count_lake(root, NULL, 0), 0);
    sl_lake_close(l);
    rm_rf(root);
    free(root);
}

/* Crash after rolls and an hour change: newer segments are deleted. */
static void test_recover_after_roll(void **state) {
    (void)state;
    char *root = mktmp();
    int64_t max = 20000; /* compressed bytes: rolls every few thousand lines */
    sl_lake *l = open_recover(root, max, NULL);
    for (int k = 0; k < 5; k++) {
        append_range(l, k * 2000, (k + 1) * 2000, T0);
        flush_ok(l);
    }
    sl_lake_pos committed;
    sl_lake_position(l, &committed);
    size_t nseg_committed = nsegments(root);
    assert_true(nseg_committed >= 3);
    /* After the commit: more rolls, a new hour, then unflushed rows. */
    for (int k = 5; k < 9; k++) {
        append_range(l, k * 2000, (k + 1) * 2000, T0);
        flush_ok(l);
    }
    append_range(l, 18000, 19000, T0 + HOUR);
    flush_ok(l);
    append_range(l, 19000, 20000, T0 + HOUR);
    assert_true(is_dir(root, "dt=2026-03-01/hr=11"));
    assert_true(nsegments(root) > nseg_committed);
    /* A stray temp file. */
    char p[1024];
    snprintf(p, sizeof p, "%s/dt=2026-03-01/hr=10/x.tmp", root);
    FILE *f = fopen(p, "w");
    fputs("junk", f);
    fclose(f);
    sl_lake_close(l);

    /* The committed view already hides all of it. */
    assert_int_equal(count_lake(root, &committed, 0), 10000);

    l = open_recover(root, max, &committed);
    assert_int_equal(nsegments(root), nseg_committed);
    assert_false(is_dir(root, "dt=2026-03-01/hr=11"));
    assert_int_equal(access(p, F_OK), -1);
    assert_int_equal(count_lake(root, NULL, 0), 10000);
    /* The next segment number follows the committed one. */
    append_range(l, 10000, 10100, T0 + 2 * HOUR);
    flush_ok(l);
    sl_lake_pos pos;
    sl_lake_position(l, &pos);
    int64_t seq_c, seq_n;
    assert_int_equal(sl_lake_segment_parse(committed.segment, &seq_c, NULL), 0);
    assert_int_equal(sl_lake_segment_parse(pos.segment, &seq_n, NULL), 0);
    assert_int_equal(seq_n, seq_c + 1);
    assert_int_equal(count_lake(root, NULL, 0), 10100);
    sl_lake_close(l);

    /* A committed segment that is shorter than recorded is reported. */
    sl_lake_pos bad = pos;
    bad.length += 100;
    sl_error err;
    l = sl_lake_open(root, max, 1, &err);
    assert_int_equal(sl_lake_recover(l, &bad, &err), SL_ECORRUPT);
    assert_non_null(strstr(err.msg, pos.segment));
    sl_lake_close(l);
    snprintf(bad.segment, sizeof bad.segment, "dt=2026-03-01/hr=09/part-00000001.ndjson.zst");
    l = sl_lake_open(root, max, 1, &err);
    assert_int_equal(sl_lake_recover(l, &bad, &err), SL_ECORRUPT);
    assert_non_null(strstr(err.msg, "missing"));
    sl_lake_close(l);
    /* A refused recovery deleted nothing. */
    assert_int_equal(count_lake(root, NULL, 0), 10100);
    rm_rf(root);
    free(root);
}

static void test_hour_rollover(void **state) {
    (void)state;
    char *root = mktmp();
    sl_lake *l = open_recover(root, 0, NULL);
    int64_t late = T0 + 13 * HOUR + 59 * 60 * SL_US_PER_SEC; /* 2026-03-01T23:59Z */
    append_range(l, 0, 100, T0 + 30 * 60 * SL_US_PER_SEC);
    append_range(l, 100, 200, late);
    append_range(l, 200, 300, late + 2 * 60 * SL_US_PER_SEC); /* 2026-03-02T00:01Z */
    flush_ok(l);
    assert_true(is_dir(root, "dt=2026-03-01/hr=10"));
    assert_true(is_dir(root, "dt=2026-03-01/hr=23"));
    assert_true(is_dir(root, "dt=2026-03-02/hr=00"));
    sl_lake_pos pos;
    sl_lake_position(l, &pos);
    assert_string_equal(pos.segment, "dt=2026-03-02/hr=00/part-00000003.ndjson.zst");
    assert_int_equal(nsegments(root), 3);
    assert_int_equal(count_lake(root, NULL, 0), 300);
    assert_int_equal(count_lake(root, &pos, 0), 300);
    sl_lake_close(l);
    rm_rf(root);
    free(root);
}

/* A referencing table's pin (keep_seq): folders holding a segment numbered
 * keep_seq or higher stay, however old; the others go as retention says. */
static void test_retention_keeps_referenced(void **state) {
    (void)state;
    char *root = mktmp();
    sl_lake *l = open_recover(root, 0, NULL);
    for (int h = 0; h < 5; h++) { /* hours 10..14: segments 1..5 */
        append_range(l, h * 100, h * 100 + 100, T0 + h * HOUR);
        flush_ok(l);
    }
    int64_t now = T0 + 10 * HOUR;
    /* hours 10..13 are old; segment 2 (hour 11) and later are still referenced */
    assert_int_equal(sl_lake_retention(l, 3 * HOUR, now, 2), 1);
    assert_false(is_dir(root, "dt=2026-03-01/hr=10"));
    assert_true(is_dir(root, "dt=2026-03-01/hr=11"));
    assert_int_equal(count_lake(root, NULL, 100), 400);
    /* the pin moves on: hours 11 and 12 go, 13 (segment 4) stays */
    assert_int_equal(sl_lake_retention(l, 3 * HOUR, now, 4), 2);
    assert_false(is_dir(root, "dt=2026-03-01/hr=12"));
    assert_true(is_dir(root, "dt=2026-03-01/hr=13"));
    /* 0: a referencing table that recorded nothing yet holds everything */
    assert_int_equal(sl_lake_retention(l, 3 * HOUR, now, 0), 0);
    assert_int_equal(count_lake(root, NULL, 300), 200);
    sl_lake_close(l);
    rm_rf(root);
    free(root);
}

static void test_retention(void **state) {
    (void)state;
    char *root = mktmp();
    sl_lake *l = open_recover(root, 0, NULL);
    for (int h = 0; h < 5; h++) { /* hours 10..14 */
        append_range(l, h * 100, h * 100 + 100, T0 + h * HOUR);
        flush_ok(l);
    }
    /* A non-lake file in ROOT is left alone. */
    char p[1024];
    snprintf(p, sizeof p, "%s/README", root);
    FILE *f = fopen(p, "w");
    fclose(f);
    /* now = 15:30, keep 3h: hours ending at or before 12:30 go (10, 11). */
    int64_t now = T0 + 5 * HOUR + 30 * 60 * SL_US_PER_SEC;
    assert_int_equal(sl_lake_retention(l, 3 * HOUR, now, INT64_MAX), 2);
    assert_false(is_dir(root, "dt=2026-03-01/hr=10"));
    assert_false(is_dir(root, "dt=2026-03-01/hr=11"));
    assert_true(is_dir(root, "dt=2026-03-01/hr=12"));
    assert_true(is_dir(root, "dt=2026-03-01/hr=14"));
    assert_int_equal(access(p, F_OK), 0);
    assert_int_equal(count_lake(root, NULL, 200), 300);
    /* Far in the future: everything but the open segment's folder goes, and
     * the emptied dt= folder of another day too. */
    append_range(l, 500, 600, T0 + 14 * HOUR); /* 2026-03-02T00:00Z */
    flush_ok(l);
    append_range(l, 600, 700, T0 + 15 * HOUR);
    flush_ok(l);
    assert_int_equal(sl_lake_retention(l, HOUR, T0 + 100 * HOUR, INT64_MAX), 4);
    assert_false(is_dir(root, "dt=2026-03-01"));
    assert_false(is_dir(root, "dt=2026-03-02/hr=00"));
    assert_true(is_dir(root, "dt=2026-03-02/hr=01"));
    assert_int_equal(count_lake(root, NULL, 600), 100);
    /* Still appends fine. */
    append_range(l, 700, 800, T0 + 15 * HOUR);
    flush_ok(l);
    assert_int_equal(count_lake(root, NULL, 600), 200);
    sl_lake_close(l);
    rm_rf(root);
    free(root);
}

static void copy_file(const char *from, const char *to) {
    FILE *a = fopen(from, "rb"), *b = fopen(to, "wb");
    assert_non_null(a);
    assert_non_null(b);
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, a)) > 0)
        assert_int_equal(fwrite(buf, 1, n, b), n);
    fclose(a);
    fclose(b);
}

static void test_cold_tier(void **state) {
    (void)state;
    char *root = mktmp(), *cold = mktmp();
    sl_error err = {0, {0}};
    /* 1-byte segments: every flush closes one. Hour 10 has segments 1 and
     * 2, hours 11..14 segments 3..6. */
    sl_lake *l = open_recover(root, 1, NULL);
    append_range(l, 0, 50, T0);
    flush_ok(l);
    for (int h = 0; h < 5; h++) {
        append_range(l, h == 0 ? 50 : h * 100, h * 100 + 100, T0 + h * HOUR);
        flush_ok(l);
    }
    /* a temp file a crash left in the cold tier is dropped at set-up */
    char p[1024], q[1024];
    snprintf(p, sizeof p, "%s/dt=2026-03-01", cold);
    mkdir(p, 0755);
    snprintf(p, sizeof p, "%s/dt=2026-03-01/hr=10", cold);
    mkdir(p, 0755);
    snprintf(p, sizeof p, "%s/dt=2026-03-01/hr=10/part-00000001.ndjson.zst.tmp", cold);
    fclose(fopen(p, "w"));
    if (sl_lake_set_cold(l, cold, &err) != 0) fail_msg("set_cold: %s", err.msg);
    assert_int_not_equal(access(p, F_OK), 0);
    char got[4096];
    assert_int_equal(sl_lake_cold_root(root, got, sizeof got), 0);
    char *real = realpath(cold, NULL);
    assert_string_equal(got, real);
    free(real);
    int64_t now = T0 + 5 * HOUR + 30 * 60 * SL_US_PER_SEC; /* 15:30 */
    /* only folders whose segments are all below safe_seq move: none at 2 */
    assert_int_equal(sl_lake_cold_move(l, 2 * HOUR, now, 2, INT64_C(1) << 30, 19, &err), 0);
    /* a 1-byte budget moves one segment per call: hr=10 half moved, read once */
    assert_int_equal(sl_lake_cold_move(l, 2 * HOUR, now, 3, 1, 19, &err), 1);
    assert_true(is_dir(cold, "dt=2026-03-01/hr=10"));
    assert_true(is_dir(root, "dt=2026-03-01/hr=10"));
    assert_int_equal(count_lake(root, NULL, 0), 500);
    assert_int_equal(sl_lake_cold_move(l, 2 * HOUR, now, 3, 1, 19, &err), 1);
    assert_false(is_dir(root, "dt=2026-03-01/hr=10"));
    assert_int_equal(count_lake(root, NULL, 0), 500);
    /* older than 2h at 15:30: hours 11 and 12 are left (hour 13 ended 1.5h ago) */
    assert_int_equal(sl_lake_cold_move(l, 2 * HOUR, now, 7, INT64_C(1) << 30, 19, &err), 2);
    assert_int_equal(sl_lake_cold_move(l, 2 * HOUR, now, 7, 1, 19, &err), 0);
    assert_true(is_dir(root, "dt=2026-03-01/hr=13"));
    assert_true(is_dir(cold, "dt=2026-03-01/hr=12"));
    assert_int_equal(nsegments(root), 2);
    assert_int_equal(nsegments(cold), 4);
    /* read in order, every line once, with a committed position too */
    assert_int_equal(count_lake(root, NULL, 0), 500);
    sl_lake_pos pos;
    sl_lake_position(l, &pos);
    assert_int_equal(count_lake(root, &pos, 0), 500);
    /* a crash between the cold rename and the hot delete: both copies; read once */
    snprintf(p, sizeof p, "%s/dt=2026-03-01/hr=11/part-00000003.ndjson.zst", cold);
    snprintf(q, sizeof q, "%s/dt=2026-03-01/hr=11", root);
    mkdir(q, 0755);
    snprintf(q, sizeof q, "%s/dt=2026-03-01/hr=11/part-00000003.ndjson.zst", root);
    copy_file(p, q);
    assert_int_equal(count_lake(root, NULL, 0), 500);
    /* ... and the next move finishes it */
    assert_int_equal(sl_lake_cold_move(l, 2 * HOUR, now, 7, INT64_C(1) << 30, 19, &err), 1);
    assert_int_not_equal(access(q, F_OK), 0);
    assert_int_equal(count_lake(root, NULL, 0), 500);
    sl_lake_close(l);
    /* reopened without set_cold, retention still covers the cold tier (.cold) */
    l = open_recover(root, 1, &pos);
    assert_int_equal(sl_lake_retention(l, 3 * HOUR, now, INT64_MAX), 3); /* hours 10, 11 */
    assert_false(is_dir(cold, "dt=2026-03-01/hr=10"));
    assert_false(is_dir(cold, "dt=2026-03-01/hr=11"));
    assert_int_equal(count_lake(root, NULL, 200), 300);
    sl_lake_close(l);
    rm_rf(root);
    rm_rf(cold);
    free(root);
    free(cold);
}

static void test_vtab_committed_position(void **state) {
    (void)state;
    char *root = mktmp();
    sl_lake *l = open_recover(root, 0, NULL);
    append_range(l, 0, 300, T0);
    flush_ok(l);
    sl_lake_pos c1;
    sl_lake_position(l, &c1);
    append_range(l, 300, 400, T0);
    flush_ok(l); /* flushed, not committed */
    append_range(l, 400, 500, T0 + HOUR);
    flush_ok(l);                          /* a newer segment, not committed */
    append_range(l, 500, 510, T0 + HOUR); /* not even flushed: in memory */

    assert_int_equal(count_lake(root, &c1, 0), 300);
    assert_int_equal(count_lake(root, NULL, 0), 500);
    sl_lake_pos c2;
    sl_lake_position(l, &c2);
    assert_int_equal(count_lake(root, &c2, 0), 500);
    sl_lake_pos none = {"", 0};
    assert_int_equal(count_lake(root, &none, 0), 0);

    /* Bad arguments. */
    sqlite3 *db = open_db();
    char *e = NULL;
    assert_int_not_equal(
        sqlite3_exec(db, "CREATE VIRTUAL TABLE temp.a USING sluice_lake()", NULL, NULL, &e),
        SQLITE_OK);
    sqlite3_free(e);
    e = NULL;
    assert_int_not_equal(
        sqlite3_exec(db, "CREATE VIRTUAL TABLE temp.b USING sluice_lake('/x', 'nope', 5)", NULL,
                     NULL, &e),
        SQLITE_OK);
    assert_non_null(strstr(e, "bad committed segment"));
    sqlite3_free(e);
    /* A missing root reads as empty. */
    exec_ok(db, "CREATE VIRTUAL TABLE temp.c USING sluice_lake('/nonexistent/sluice/lake')");
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(db, "SELECT count(*) FROM c", -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int(st, 0), 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    sl_lake_close(l);
    rm_rf(root);
    free(root);
}

static void test_vtab_corrupt(void **state) {
    (void)state;
    char *root = mktmp();
    sl_lake *l = open_recover(root, 0, NULL);
    append_range(l, 0, 5000, T0);
    flush_ok(l);
    sl_lake_pos pos;
    sl_lake_position(l, &pos);
    sl_lake_close(l);
    char p[1024];
    snprintf(p, sizeof p, "%s/%s", root, pos.segment);

    /* Flip bytes in the middle of the compressed data. */
    int fd = open(p, O_RDWR);
    assert_true(fd >= 0);
    unsigned char buf[64];
    assert_int_equal(pread(fd, buf, sizeof buf, pos.length / 2), (ssize_t)sizeof buf);
    for (size_t i = 0; i < sizeof buf; i++)
        buf[i] ^= 0x5a;
    assert_int_equal(pwrite(fd, buf, sizeof buf, pos.length / 2), (ssize_t)sizeof buf);
    sqlite3 *db = open_db();
    create_vtab(db, root, NULL);
    char msg[512] = "";
    assert_int_equal(read_check(db, 0, msg, sizeof msg), -1);
    assert_non_null(strstr(msg, pos.segment));
    assert_non_null(strstr(msg, "sluice_lake"));
    printf("      corrupt -> %s\n", msg);

    /* Restore, then cut the file inside the frame: truncated, not silent. */
    for (size_t i = 0; i < sizeof buf; i++)
        buf[i] ^= 0x5a;
    assert_int_equal(pwrite(fd, buf, sizeof buf, pos.length / 2), (ssize_t)sizeof buf);
    assert_int_equal(read_check(db, 0, msg, sizeof msg), 5000);
    assert_int_equal(ftruncate(fd, pos.length - 7), 0);
    msg[0] = '\0';
    assert_int_equal(read_check(db, 0, msg, sizeof msg), -1);
    assert_non_null(strstr(msg, "truncated"));
    assert_non_null(strstr(msg, pos.segment));
    printf("      truncated -> %s\n", msg);
    /* With the committed position, a file shorter than committed is an error too. */
    create_vtab(db, root, &pos);
    assert_int_equal(read_check(db, 0, msg, sizeof msg), -1);
    assert_non_null(strstr(msg, "committed length"));
    printf("      short -> %s\n", msg);
    close(fd);
    sqlite3_close(db);
    rm_rf(root);
    free(root);
}

/* 200k lines through several segments, flushing as the engine would. */
static void test_200k_roundtrip(void **state) {
    (void)state;
    char *root = mktmp();
    sl_lake *l = open_recover(root, 1 << 20, NULL);
    for (int k = 0; k < 20; k++) {
        append_range(l, k * 10000, (k + 1) * 10000, T0 + k * 60 * SL_US_PER_SEC);
        flush_ok(l);
    }
    sl_lake_pos pos;
    sl_lake_position(l, &pos);
    size_t nseg = nsegments(root);
    assert_true(nseg >= 2);
    assert_int_equal(count_lake(root, &pos, 0), 200000);
    printf("      200000 lines in %zu segments, %lld compressed bytes\n", nseg,
           (long long)sl_lake_bytes_written(l));
    sl_lake_close(l);
    rm_rf(root);
    free(root);
}

/* The files are plain zstd: the CLI reads them. */
static void test_zstd_cli(void **state) {
    (void)state;
    if (system("command -v zstd >/dev/null 2>&1") != 0)
        SL_SKIP("test_zstd_cli: zstd CLI not installed (apt-get install zstd)");
    char *root = mktmp();
    sl_lake *l = open_recover(root, 0, NULL);
    for (int k = 0; k < 4; k++) { /* four frames */
        append_range(l, k * 700, (k + 1) * 700, T0);
        flush_ok(l);
    }
    sl_lake_pos pos;
    sl_lake_position(l, &pos);
    sl_lake_close(l);
    char cmd[2048], out[1024];
    snprintf(out, sizeof out, "%s/out.ndjson", root);
    snprintf(cmd, sizeof cmd, "zstd -q -d -c '%s/%s' > '%s'", root, pos.segment, out);
    assert_int_equal(system(cmd), 0);
    FILE *f = fopen(out, "r");
    assert_non_null(f);
    char line[1024], want[512];
    int i = 0;
    while (fgets(line, sizeof line, f)) {
        size_t n = make_line(want, sizeof want, i);
        assert_int_equal(strlen(line), n + 1);
        assert_memory_equal(line, want, n);
        assert_int_equal(line[n], '\n');
        i++;
    }
    fclose(f);
    assert_int_equal(i, 2800);
    snprintf(cmd, sizeof cmd, "zstd -q -t '%s/%s'", root, pos.segment);
    assert_int_equal(system(cmd), 0);
    rm_rf(root);
    free(root);
}

/* A write failure (file size limit -> EFBIG) leaves a clear, sticky error and
 * recovery afterwards restores the committed state. */
static void test_write_failure(void **state) {
    (void)state;
    char *root = mktmp();
    sl_lake *l = open_recover(root, 0, NULL);
    append_range(l, 0, 1000, T0);
    flush_ok(l);
    sl_lake_pos committed;
    sl_lake_position(l, &committed);

    struct rlimit old, lim;
    assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
    lim = old;
    lim.rlim_cur = (rlim_t)committed.length + 1000;
    void (*prev)(int) = signal(SIGXFSZ, SIG_IGN);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
    char buf[512];
    sl_error err = {0, {0}};
    int rc = 0;
    for (int i = 1000; i < 100000 && rc == 0; i++) {
        size_t n = make_line(buf, sizeof buf, i);
        rc = sl_lake_append(l, buf, n, T0, &err);
    }
    if (rc == 0) rc = sl_lake_flush(l, &err);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
    signal(SIGXFSZ, prev);
    assert_int_equal(rc, SL_EIO);
    assert_non_null(strstr(err.msg, committed.segment));
    printf("      write failure -> %s\n", err.msg);
    /* Sticky: the file holds a partial frame now. */
    assert_int_not_equal(sl_lake_flush(l, &err), 0);
    assert_non_null(strstr(err.msg, "restart"));
    sl_lake_pos pos;
    sl_lake_position(l, &pos);
    assert_int_equal(pos.length, committed.length);
    sl_lake_close(l);

    l = open_recover(root, 0, &committed);
    assert_int_equal(count_lake(root, NULL, 0), 1000);
    sl_lake_close(l);
    rm_rf(root);
    free(root);
}

/* Disk full: the committed segment is a symlink to /dev/full (size 0), so
 * resuming it after recovery makes every write fail with ENOSPC. */
static void test_disk_full(void **state) {
    (void)state;
    if (access("/dev/full", W_OK) != 0) SL_SKIP("test_disk_full: /dev/full is not writable here");
    char *root = mktmp();
    char dir[1024], seg[1200];
    snprintf(dir, sizeof dir, "%s/dt=2026-03-01/hr=10", root);
    snprintf(seg, sizeof seg, "%s/dt=2026-03-01", root);
    mkdir(seg, 0755);
    mkdir(dir, 0755);
    snprintf(seg, sizeof seg, "%s/part-00000001.ndjson.zst", dir);
    assert_int_equal(symlink("/dev/full", seg), 0);
    sl_lake_pos committed = {"dt=2026-03-01/hr=10/part-00000001.ndjson.zst", 0};
    sl_lake *l = open_recover(root, 0, &committed);
    char buf[512];
    sl_error err = {0, {0}};
    int rc = 0;
    for (int i = 0; i < 100000 && rc == 0; i++) {
        size_t n = make_line(buf, sizeof buf, i);
        rc = sl_lake_append(l, buf, n, T0, &err);
    }
    if (rc == 0) rc = sl_lake_flush(l, &err);
    assert_int_equal(rc, SL_EFULL);
    assert_non_null(strstr(err.msg, committed.segment));
    assert_non_null(strstr(err.msg, "No space"));
    printf("      disk full -> %s\n", err.msg);
    assert_int_equal(sl_lake_append(l, "x", 1, T0, &err), SL_EFULL);
    sl_lake_close(l);
    rm_rf(root);
    free(root);
}

/* ---- Parquet segments ---- */

/* Rows [from, to) of a two-column table (id int, name string) into a
 * Parquet lake, ingested at `ingest`. */
static void pq_append_range(sl_lake *l, int from, int to, int64_t ingest) {
    int n = to - from;
    int64_t *ids = malloc(sizeof *ids * (size_t)n);
    sl_str *names = malloc(sizeof *names * (size_t)n);
    static const char *words[] = {"north", "south", "east"};
    for (int i = 0; i < n; i++) {
        ids[i] = from + i;
        names[i] = (sl_str){words[(from + i) % 3], (uint32_t)strlen(words[(from + i) % 3])};
    }
    sl_column a = {.type = SL_T_INT, .null = NULL, .v.i = ids};
    sl_column b = {.type = SL_T_STRING, .null = NULL, .v.s = names};
    const sl_column *cols[2] = {&a, &b};
    sl_error err = {0, {0}};
    assert_int_equal(sl_lake_append_columns(l, cols, 0, (uint32_t)n, ingest, NULL, &err), 0);
    free(ids);
    free(names);
}

/* Rows of every segment up to the committed position, and the sum of ids. */
static int64_t pq_count(const char *root, const sl_lake_pos *pos, int64_t *sum) {
    sl_lake_segment *segs;
    size_t n;
    sl_error err = {0, {0}};
    assert_int_equal(sl_lake_segments_list(root, &segs, &n, &err), 0);
    int64_t rows = 0, pseq = 0;
    *sum = 0;
    if (pos->segment[0]) assert_int_equal(sl_lake_segment_parse(pos->segment, &pseq, NULL), 0);
    for (size_t i = 0; i < n; i++) {
        if (!pos->segment[0] || segs[i].seq > pseq) continue;
        char p[1024];
        snprintf(p, sizeof p, "%s/%s", root, segs[i].path);
        bool committed = strcmp(segs[i].path, pos->segment) == 0;
        sl_pq_reader *r = sl_pq_open(p, committed ? pos->length : -1, &err);
        assert_non_null(r);
        for (int g = 0; g < sl_pq_num_row_groups(r); g++) {
            sl_column c;
            assert_int_equal(sl_pq_read_column(r, g, 0, 0, &c, &err), 0);
            for (int64_t k = 0; k < sl_pq_row_group_rows(r, g); k++)
                *sum += c.v.i[k];
            rows += sl_pq_row_group_rows(r, g);
        }
        sl_pq_close_reader(r);
    }
    free(segs);
    return rows;
}

static void test_parquet_recover(void **state) {
    (void)state;
    char *root = mktmp();
    sl_schema sc;
    sl_schema_init(&sc);
    sl_schema_add(&sc, "id", SL_T_INT);
    sl_schema_add(&sc, "name", SL_T_STRING);
    sl_error err = {0, {0}};
    sl_lake *l = sl_lake_open_parquet(root, &sc, 0, 0, &err);
    assert_non_null(l);
    assert_int_equal(sl_lake_recover(l, NULL, &err), 0);
    /* more than SL_LAKE_ROW_GROUP_ROWS in one commit: row groups are written
     * before the flush, the footer at the flush */
    pq_append_range(l, 0, SL_LAKE_ROW_GROUP_ROWS + 1000, T0);
    flush_ok(l);
    sl_lake_pos committed;
    sl_lake_position(l, &committed);
    int64_t sum;
    assert_int_equal(pq_count(root, &committed, &sum), SL_LAKE_ROW_GROUP_ROWS + 1000);
    /* a later commit that never happens: flushed, and rows only appended */
    pq_append_range(l, 100000, 100500, T0);
    flush_ok(l);
    pq_append_range(l, 200000, 200000 + SL_LAKE_ROW_GROUP_ROWS + 5, T0); /* one row group written */
    sl_lake_close(l);                                                    /* "crash" */
    l = sl_lake_open_parquet(root, &sc, 0, 0, &err);
    assert_non_null(l);
    assert_int_equal(sl_lake_recover(l, &committed, &err), 0);
    int64_t n = SL_LAKE_ROW_GROUP_ROWS + 1000;
    assert_int_equal(pq_count(root, &committed, &sum), n);
    assert_int_equal(sum, n * (n - 1) / 2);
    /* resume in the same segment, then an hour later a new one */
    pq_append_range(l, (int)n, (int)n + 10, T0 + SL_US_PER_SEC);
    pq_append_range(l, (int)n + 10, (int)n + 20, T0 + 3600LL * SL_US_PER_SEC);
    flush_ok(l);
    sl_lake_pos pos;
    sl_lake_position(l, &pos);
    assert_int_equal(nsegments(root), 2);
    n += 20;
    assert_int_equal(pq_count(root, &pos, &sum), n);
    assert_int_equal(sum, n * (n - 1) / 2);
    sl_lake_close(l);
    /* an NDJSON line into a Parquet lake is refused */
    l = sl_lake_open_parquet(root, &sc, 0, 0, &err);
    assert_int_equal(sl_lake_recover(l, &pos, &err), 0);
    assert_int_not_equal(sl_lake_append(l, "{}", 2, T0, &err), 0);
    sl_lake_close(l);
    rm_rf(root);
    free(root);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip),
        cmocka_unit_test(test_recover_unflushed),
        cmocka_unit_test(test_recover_after_roll),
        cmocka_unit_test(test_hour_rollover),
        cmocka_unit_test(test_retention),
        cmocka_unit_test(test_retention_keeps_referenced),
        cmocka_unit_test(test_vtab_committed_position),
        cmocka_unit_test(test_vtab_corrupt),
        cmocka_unit_test(test_200k_roundtrip),
        cmocka_unit_test(test_zstd_cli),
        cmocka_unit_test(test_write_failure),
        cmocka_unit_test(test_disk_full),
        cmocka_unit_test(test_cold_tier),
        cmocka_unit_test(test_parquet_recover),
    };
    return sl_unit_exit(cmocka_run_group_tests(tests, NULL, NULL));
}
