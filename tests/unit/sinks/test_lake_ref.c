/*
 * test_lake_ref.c - ref segments: a lake table T whose segments store only
 * its own columns and `_ref` (a row id of lake table B), read through
 * sluice_parquet with a reference lake (src/sinks/parquet_vtab.c) and
 * sl_lake_ref_gather (src/sinks/lake_ref.c).
 *
 * B is written by the lake (several hourly segments, several row groups
 * each); T's segments are written directly with the Parquet writer. The
 * expected rows come from B's generator and from B's files read back with
 * the plain Parquet reader (row id = sequence << 32 | row in file order),
 * never from the code under test.
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

#include "core/error.h"
#include "core/timeutil.h"
#include "formats/parquet.h"
#include "sinks/lake.h"
#include "sinks/lake_ref.h"
#include "sinks/lake_vtab.h"
#include "store/store.h"
#include "../unit_skip.h"

#define HOUR (3600LL * SL_US_PER_SEC)
/* 2026-03-01T10:00:00Z */
#define T0 (INT64_C(1772359200) * SL_US_PER_SEC)
#define B_HOURS 6
#define B_FLUSHES 3     /* row groups per B segment */
#define B_PER_FLUSH 257 /* rows per row group */
#define B_ROWS (B_HOURS * B_FLUSHES * B_PER_FLUSH)

static int rm_cb(const char *p, const struct stat *st, int flag, struct FTW *f) {
    (void)st;
    (void)flag;
    (void)f;
    return remove(p);
}

static void rm_rf(const char *p) { nftw(p, rm_cb, 16, FTW_DEPTH | FTW_PHYS); }

static char *mktmp(void) {
    char *d = strdup("/tmp/sl_lake_ref_test_XXXXXX");
    assert_non_null(mkdtemp(d));
    return d;
}

/* B's columns of row `id`: name NULL every 7th, score NULL every 5th. */
static int name_null(int id) { return id % 7 == 3; }
static void name_of(int id, char *buf, size_t cap) {
    snprintf(buf, cap, "cam-%04d-%s", id % 977, id % 2 ? "north" : "south-gate");
}
static int score_null(int id) { return id % 5 == 1; }
static double score_of(int id) { return id * 0.25 - 7.0; }
static int64_t at_of(int id) { return T0 + (int64_t)id * 1000003; }
static int flag_null(int id) { return id % 9 == 4; }
static int flag_of(int id) { return id % 3 == 0; }

static void b_schema(sl_schema *sc) {
    sl_schema_init(sc);
    sl_schema_add(sc, "id", SL_T_INT);
    sl_schema_add(sc, "name", SL_T_STRING);
    sl_schema_add(sc, "score", SL_T_DOUBLE);
    sl_schema_add(sc, "at", SL_T_TS);
    sl_schema_add(sc, "flag", SL_T_BOOL);
}

static void b_append(sl_lake *l, int from, int to, int64_t ingest) {
    int n = to - from;
    int64_t *ids = calloc((size_t)n, sizeof *ids), *ats = calloc((size_t)n, sizeof *ats);
    sl_str *names = calloc((size_t)n, sizeof *names);
    double *scores = calloc((size_t)n, sizeof *scores);
    uint8_t *nn = calloc((size_t)n, 1), *sn = calloc((size_t)n, 1);
    uint8_t *fv = calloc((size_t)n, 1), *fn = calloc((size_t)n, 1);
    char *bytes = calloc((size_t)n, 32);
    for (int i = 0; i < n; i++) {
        int id = from + i;
        ids[i] = id;
        ats[i] = at_of(id);
        name_of(id, bytes + 32 * i, 32);
        names[i] = (sl_str){bytes + 32 * i, (uint32_t)strlen(bytes + 32 * i)};
        nn[i] = (uint8_t)name_null(id);
        scores[i] = score_of(id);
        sn[i] = (uint8_t)score_null(id);
        fv[i] = (uint8_t)flag_of(id);
        fn[i] = (uint8_t)flag_null(id);
    }
    sl_column a = {.type = SL_T_INT, .null = NULL, .v.i = ids};
    sl_column b = {.type = SL_T_STRING, .null = nn, .v.s = names};
    sl_column c = {.type = SL_T_DOUBLE, .null = sn, .v.d = scores};
    sl_column d = {.type = SL_T_TS, .null = NULL, .v.i = ats};
    sl_column e = {.type = SL_T_BOOL, .null = fn, .v.b = fv};
    const sl_column *cols[5] = {&a, &b, &c, &d, &e};
    sl_error err = {0, {0}};
    if (sl_lake_append_columns(l, cols, 0, (uint32_t)n, ingest, NULL, &err) != 0)
        fail_msg("append: %s", err.msg);
    free(ids);
    free(ats);
    free(names);
    free(scores);
    free(nn);
    free(sn);
    free(fv);
    free(fn);
    free(bytes);
}

static void b_flush(sl_lake *l) {
    sl_error err = {0, {0}};
    if (sl_lake_flush(l, &err) != 0) fail_msg("flush: %s", err.msg);
}

/* Writes B: B_HOURS hourly segments of B_FLUSHES row groups. */
static sl_lake *write_b(const char *root, sl_lake_pos *pos) {
    sl_schema sc;
    b_schema(&sc);
    sl_error err = {0, {0}};
    sl_lake *l = sl_lake_open_parquet(root, &sc, 0, 0, &err);
    if (!l) fail_msg("open: %s", err.msg);
    assert_int_equal(sl_lake_recover(l, NULL, &err), 0);
    int id = 0;
    for (int h = 0; h < B_HOURS; h++)
        for (int f = 0; f < B_FLUSHES; f++) {
            b_append(l, id, id + B_PER_FLUSH, T0 + h * HOUR + f);
            id += B_PER_FLUSH;
            b_flush(l);
        }
    sl_lake_position(l, pos);
    return l;
}

/* rowid_of[id] from B's files, read with the plain reader in sequence order. */
static void b_rowids(const char *root, int64_t *rowid_of) {
    sl_lake_segment *segs;
    size_t n;
    sl_error err = {0, {0}};
    assert_int_equal(sl_lake_segments_list(root, &segs, &n, &err), 0);
    assert_int_equal((int)n, B_HOURS);
    int seen = 0;
    for (size_t s = 0; s < n; s++) {
        char p[PATH_MAX + 256];
        snprintf(p, sizeof p, "%s/%s", root, segs[s].path);
        sl_pq_reader *r = sl_pq_open(p, -1, &err);
        assert_non_null(r);
        assert_int_equal(sl_pq_num_row_groups(r), B_FLUSHES);
        int64_t row = 0;
        for (int g = 0; g < sl_pq_num_row_groups(r); g++) {
            sl_column c;
            assert_int_equal(sl_pq_read_column(r, g, 0, 0, &c, &err), 0);
            for (int64_t k = 0; k < sl_pq_row_group_rows(r, g); k++, row++) {
                rowid_of[c.v.i[k]] = (segs[s].seq << 32) | row;
                seen++;
            }
        }
        sl_pq_close_reader(r);
    }
    assert_int_equal(seen, B_ROWS);
    free(segs);
}

static void exec_ok(sqlite3 *db, const char *sql) {
    char *e = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &e) != SQLITE_OK) fail_msg("%s: %s", sql, e);
}

static void put_kv(sqlite3 *db, const char *key, int64_t len, const char *seg) {
    char *sql = sqlite3_mprintf("INSERT OR REPLACE INTO _sluice_kv VALUES (%Q, '%lld' || "
                                "char(9) || %Q)",
                                key, (long long)len, seg);
    exec_ok(db, sql);
    sqlite3_free(sql);
}

static sqlite3 *open_db(void) {
    sqlite3 *db;
    assert_int_equal(sqlite3_open(":memory:", &db), SQLITE_OK);
    assert_int_equal(sl_parquet_vtab_register(db), SQLITE_OK);
    exec_ok(db, "CREATE TABLE _sluice_kv(key TEXT PRIMARY KEY, value TEXT)");
    return db;
}

/* ---- T ---- */

/* One row of T as the test expects it. own_* are T's columns; b_id is the
 * B row (-1: none, the columns absent from the segment are NULL). */
typedef struct trow {
    int b_id;
    int id_null; /* id absent and no _ref */
    int64_t id;  /* when stored in T */
    int tag_null;
    char tag[24];
    int has_n2;
    int64_t n2;
    int has_score; /* score stored in T (overrides B) */
    double score;
} trow;

/* Writes T's segment seq at hour T0 with `cols` (names from T's logical
 * schema + "_ref"), rows split into row groups of `per_group`. Returns its
 * committed length. */
static int64_t write_t(const char *root, int seq, const char *const *names, int ncols,
                       const trow *rows, int n, int per_group, const int64_t *rowid_of,
                       char *relpath, size_t cap) {
    char dir[PATH_MAX], path[PATH_MAX + 64];
    snprintf(dir, sizeof dir, "%s/dt=2026-03-01", root);
    mkdir(dir, 0755);
    snprintf(dir, sizeof dir, "%s/dt=2026-03-01/hr=10", root);
    mkdir(dir, 0755);
    snprintf(relpath, cap, "dt=2026-03-01/hr=10/part-%08d.parquet", seq);
    snprintf(path, sizeof path, "%s/%s", root, relpath);
    sl_schema sc;
    sl_schema_init(&sc);
    for (int c = 0; c < ncols; c++) {
        sl_type ty = SL_T_INT;
        if (!strcmp(names[c], "tag")) ty = SL_T_STRING;
        if (!strcmp(names[c], "score")) ty = SL_T_DOUBLE;
        sl_schema_add(&sc, names[c], ty);
    }
    sl_error err = {0, {0}};
    sl_pq_writer *w = sl_pq_create(path, &sc, NULL, &err);
    if (!w) fail_msg("create: %s", err.msg);
    int64_t iv[SL_MAX_COLUMNS];
    double dv;
    sl_str sv;
    uint8_t nul[SL_MAX_COLUMNS];
    for (int i = 0; i < n; i++) {
        sl_column cols[SL_MAX_COLUMNS];
        const sl_column *cp[SL_MAX_COLUMNS];
        for (int c = 0; c < ncols; c++) {
            cols[c] = (sl_column){.type = sc.f[c].type, .null = &nul[c], .v.i = &iv[c]};
            nul[c] = 0;
            if (!strcmp(names[c], "_ref")) {
                iv[c] = rowid_of[rows[i].b_id];
            } else if (!strcmp(names[c], "id")) {
                iv[c] = rows[i].id;
            } else if (!strcmp(names[c], "n2")) {
                iv[c] = rows[i].n2;
                nul[c] = !rows[i].has_n2;
            } else if (!strcmp(names[c], "tag")) {
                sv = (sl_str){rows[i].tag, (uint32_t)strlen(rows[i].tag)};
                cols[c].v.s = &sv;
                nul[c] = (uint8_t)rows[i].tag_null;
            } else if (!strcmp(names[c], "score")) {
                dv = rows[i].score;
                cols[c].v.d = &dv;
            }
            cp[c] = &cols[c];
        }
        if (sl_pq_append(w, cp, 0, 1, &err) != 0) fail_msg("append: %s", err.msg);
        if ((i + 1) % per_group == 0 || i + 1 == n)
            if (sl_pq_flush(w, &err) != 0) fail_msg("flush: %s", err.msg);
    }
    int64_t len = sl_pq_length(w);
    sl_pq_close(w);
    return len;
}

#define T_DECL "'id int, name string, score double, at timestamp, tag string, n2 int'"

/* kv: "kv:" (the connection's _sluice_kv) or "kv@SCHEMA:" (an attached one's) */
static void create_t_kv(sqlite3 *db, const char *troot, const char *broot, const char *kv) {
    exec_ok(db, "DROP TABLE IF EXISTS temp.t");
    char *sql = sqlite3_mprintf("CREATE VIRTUAL TABLE temp.t USING sluice_parquet(%Q, '%slake:T', "
                                "%s, %Q, '%slake:B')",
                                troot, kv, T_DECL, broot, kv);
    exec_ok(db, sql);
    sqlite3_free(sql);
}

static void create_t(sqlite3 *db, const char *troot, const char *broot) {
    create_t_kv(db, troot, broot, "kv:");
}

static void expect_text(sqlite3_stmt *st, int col, int null, const char *want, int row) {
    if (null) {
        if (sqlite3_column_type(st, col) != SQLITE_NULL)
            fail_msg("row %d col %d: want NULL, got %s", row, col, sqlite3_column_text(st, col));
        return;
    }
    const char *got = (const char *)sqlite3_column_text(st, col);
    if (!got || strcmp(got, want) != 0)
        fail_msg("row %d col %d: want '%s', got '%s'", row, col, want, got ? got : "NULL");
}

/* Compares SELECT * FROM t (rowid order) with rows. */
static void check_t(sqlite3 *db, const trow *rows, int n) {
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(db,
                                        "SELECT id, name, score, at, tag, n2 FROM t ORDER BY rowid",
                                        -1, &st, NULL),
                     SQLITE_OK);
    int i = 0;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        assert_true(i < n);
        const trow *w = &rows[i];
        int b = w->b_id;
        char buf[64];
        /* id */
        if (b >= 0)
            assert_int_equal(sqlite3_column_int64(st, 0), b);
        else if (w->id_null)
            assert_int_equal(sqlite3_column_type(st, 0), SQLITE_NULL);
        else
            assert_int_equal(sqlite3_column_int64(st, 0), w->id);
        /* name */
        if (b >= 0) name_of(b, buf, sizeof buf);
        expect_text(st, 1, b < 0 || name_null(b), buf, i);
        /* score */
        if (w->has_score) {
            assert_true(sqlite3_column_double(st, 2) == w->score);
        } else if (b < 0 || score_null(b)) {
            assert_int_equal(sqlite3_column_type(st, 2), SQLITE_NULL);
        } else {
            assert_int_equal(sqlite3_column_type(st, 2), SQLITE_FLOAT);
            assert_true(sqlite3_column_double(st, 2) == score_of(b));
        }
        /* at */
        if (b >= 0) sl_store_format_ts(at_of(b), buf, sizeof buf);
        expect_text(st, 3, b < 0, buf, i);
        expect_text(st, 4, w->tag_null, w->tag, i);
        if (w->has_n2)
            assert_int_equal(sqlite3_column_int64(st, 5), w->n2);
        else
            assert_int_equal(sqlite3_column_type(st, 5), SQLITE_NULL);
        i++;
    }
    if (rc != SQLITE_DONE) fail_msg("step: %s", sqlite3_errmsg(db));
    assert_int_equal(i, n);
    sqlite3_finalize(st);
}

/* Expects `sql` to fail with a message containing every string of want. */
static void expect_error(sqlite3 *db, const char *sql, const char *w1, const char *w2) {
    char *e = NULL;
    int rc = sqlite3_exec(db, sql, NULL, NULL, &e);
    assert_int_not_equal(rc, SQLITE_OK);
    assert_non_null(e);
    if (!strstr(e, w1) || (w2 && !strstr(e, w2))) fail_msg("error '%s' lacks '%s'/'%s'", e, w1, w2);
    sqlite3_free(e);
}

static void test_ref_segments(void **state) {
    (void)state;
    char *broot = mktmp(), *troot = mktmp(), *cold = mktmp();
    sl_lake_pos bpos;
    sl_lake *bl = write_b(broot, &bpos);
    int64_t *rowid_of = calloc(B_ROWS, sizeof *rowid_of);
    b_rowids(broot, rowid_of);
    sqlite3 *db = open_db();
    put_kv(db, "lake:B", bpos.length, bpos.segment);

    /* segment 1: a ref segment with tag, n2; sparse, increasing ids over every
     * B segment, in row groups of 50 */
    enum { N1 = 600, N2 = 40, N3 = 120 };
    trow *rows = calloc(N1 + N2 + N3, sizeof *rows);
    int k = 0;
    for (int i = 0; i < N1; i++, k++) {
        trow *r = &rows[k];
        r->b_id = (int)(((int64_t)i * 7 + i % 3) % B_ROWS);
        if (i > 0 && r->b_id < rows[k - 1].b_id) r->b_id = rows[k - 1].b_id; /* dups allowed */
        r->tag_null = i % 11 == 0;
        snprintf(r->tag, sizeof r->tag, "t%d", i);
        r->has_n2 = i % 4 != 0;
        r->n2 = (int64_t)i * 1000;
    }
    const char *c1[] = {"tag", "n2", "_ref"};
    char rel1[128], rel2[128], rel3[128];
    write_t(troot, 1, c1, 3, rows, N1, 50, rowid_of, rel1, sizeof rel1);
    /* segment 2: ordinary (no _ref): name, score, at NULL */
    for (int i = 0; i < N2; i++, k++) {
        trow *r = &rows[k];
        r->b_id = -1;
        r->id = 100000 + i;
        snprintf(r->tag, sizeof r->tag, "plain%d", i);
        r->has_n2 = 1;
        r->n2 = -i;
    }
    const char *c2[] = {"id", "tag", "n2"};
    write_t(troot, 2, c2, 3, rows + N1, N2, 16, rowid_of, rel2, sizeof rel2);
    /* segment 3: a ref segment with no column of B's absent but score (T's
     * own value wins), ids out of order across B's segments (more segments
     * than the reader cache holds) */
    for (int i = 0; i < N3; i++, k++) {
        trow *r = &rows[k];
        r->b_id = (int)(((int64_t)(i % B_HOURS) * B_FLUSHES * B_PER_FLUSH + i * 13) % B_ROWS);
        r->tag_null = 1;
        r->has_score = 1;
        r->score = -i;
    }
    const char *c3[] = {"score", "_ref"};
    int64_t len3 = write_t(troot, 3, c3, 2, rows + N1 + N2, N3, 1000, rowid_of, rel3, sizeof rel3);
    put_kv(db, "lake:T", len3, rel3);

    create_t(db, troot, broot);
    check_t(db, rows, N1 + N2 + N3);
    /* scale-out: the positions in an attached instance's _sluice_kv
     * ('kv@i3:...'), not main's, which then commits nothing */
    exec_ok(db, "ATTACH ':memory:' AS i3");
    exec_ok(db, "CREATE TABLE i3._sluice_kv(key TEXT PRIMARY KEY, value TEXT)");
    exec_ok(db, "INSERT INTO i3._sluice_kv SELECT * FROM main._sluice_kv");
    exec_ok(db, "UPDATE main._sluice_kv SET value = '0' || char(9) || ''");
    create_t_kv(db, troot, broot, "kv@i3:");
    check_t(db, rows, N1 + N2 + N3);
    create_t(db, troot, broot);
    check_t(db, rows, 0);
    const char *bad[] = {"kv@:lake:T", "kv@i 3:lake:T", "kv@i3", "kv@i3:", "kv:", "kx:lake:T"};
    for (size_t b = 0; b < sizeof bad / sizeof *bad; b++) {
        char *q = sqlite3_mprintf(
            "CREATE VIRTUAL TABLE temp.bad USING sluice_parquet(%Q, %Q, 'id int')", troot, bad[b]);
        expect_error(db, q, "bad arguments", NULL);
        sqlite3_free(q);
    }
    exec_ok(db, "DELETE FROM main._sluice_kv");
    exec_ok(db, "INSERT INTO main._sluice_kv SELECT * FROM i3._sluice_kv");
    exec_ok(db, "DETACH i3");
    create_t(db, troot, broot);
    check_t(db, rows, N1 + N2 + N3);
    /* constraints: on T's column (prunes T's row groups), on a gathered one */
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(db,
                                        "SELECT count(*), sum(n2) FROM t WHERE n2 >= 20000 AND "
                                        "n2 < 30000",
                                        -1, &st, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    int64_t want_n = 0, want_sum = 0;
    for (int i = 0; i < N1 + N2 + N3; i++)
        if (rows[i].has_n2 && rows[i].n2 >= 20000 && rows[i].n2 < 30000) {
            want_n++;
            want_sum += rows[i].n2;
        }
    assert_int_equal(sqlite3_column_int64(st, 0), want_n);
    assert_int_equal(sqlite3_column_int64(st, 1), want_sum);
    sqlite3_finalize(st);
    assert_int_equal(sqlite3_prepare_v2(db, "SELECT count(*) FROM t WHERE id = 777", -1, &st, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    want_n = 0;
    for (int i = 0; i < N1 + N2 + N3; i++)
        want_n += rows[i].b_id == 777;
    assert_int_equal(sqlite3_column_int64(st, 0), want_n);
    sqlite3_finalize(st);

    /* B's first hours move to the cold tier: the same rows */
    sl_error err = {0, {0}};
    assert_int_equal(sl_lake_set_cold(bl, cold, &err), 0);
    int moved = sl_lake_cold_move(bl, 2 * HOUR, T0 + 5 * HOUR, 100, INT64_C(1) << 40, 3, &err);
    if (moved < 2) fail_msg("cold move: %d %s", moved, err.msg);
    sl_lake_segment *cs;
    size_t ncs;
    assert_int_equal(sl_lake_segments_list(cold, &cs, &ncs, &err), 0);
    assert_int_equal((int)ncs, moved);
    free(cs);
    check_t(db, rows, N1 + N2 + N3);

    /* without the reference lake, a ref segment is an error, never NULLs */
    exec_ok(db, "DROP TABLE temp.t");
    char *sql = sqlite3_mprintf("CREATE VIRTUAL TABLE temp.t USING sluice_parquet(%Q, 'kv:lake:T', "
                                "%s)",
                                troot, T_DECL);
    exec_ok(db, sql);
    sqlite3_free(sql);
    expect_error(db, "SELECT count(*) FROM t", rel1, "_ref");
    /* nor is _ref a column of a table with a reference lake */
    sql = sqlite3_mprintf("CREATE VIRTUAL TABLE temp.t2 USING sluice_parquet(%Q, 'kv:lake:T', "
                          "'id int, _ref int', %Q, 'kv:lake:B')",
                          troot, broot);
    expect_error(db, sql, "_ref", NULL);
    sqlite3_free(sql);

    sqlite3_close(db);
    sl_lake_close(bl);
    free(rows);
    free(rowid_of);
    rm_rf(broot);
    rm_rf(troot);
    rm_rf(cold);
    free(broot);
    free(troot);
    free(cold);
}

/* A referenced row missing from B's committed view fails the query, naming
 * T's segment and the row id: past the end of a segment, a segment B has not
 * committed (flushed, position not recorded), a segment that never existed. */
static void test_missing_row(void **state) {
    (void)state;
    char *broot = mktmp(), *troot = mktmp();
    sl_lake_pos bpos;
    sl_lake *bl = write_b(broot, &bpos);
    int64_t *rowid_of = calloc(B_ROWS + 10, sizeof *rowid_of);
    b_rowids(broot, rowid_of);
    /* a later B commit that is not recorded */
    b_append(bl, B_ROWS, B_ROWS + 10, T0 + B_HOURS * HOUR);
    b_flush(bl);
    sl_lake_pos later;
    sl_lake_position(bl, &later);
    int64_t later_seq;
    assert_int_equal(sl_lake_segment_parse(later.segment, &later_seq, NULL), 0);
    int64_t last_seq = rowid_of[B_ROWS - 1] >> 32;
    int64_t bad[3] = {(last_seq << 32) | (B_FLUSHES * B_PER_FLUSH), later_seq << 32,
                      (INT64_C(999) << 32) | 5};
    for (int c = 0; c < 3; c++) {
        sqlite3 *db = open_db();
        put_kv(db, "lake:B", bpos.length, bpos.segment);
        trow rows[3] = {{.b_id = 0}, {.b_id = B_ROWS}, {.b_id = 1}};
        rowid_of[B_ROWS] = bad[c];
        const char *cols[] = {"n2", "_ref"};
        char rel[128];
        char dir[PATH_MAX];
        rm_rf(troot);
        mkdir(troot, 0755);
        snprintf(dir, sizeof dir, "%s", troot);
        int64_t len = write_t(dir, 7, cols, 2, rows, 3, 2, rowid_of, rel, sizeof rel);
        put_kv(db, "lake:T", len, rel);
        create_t(db, troot, broot);
        char id[32];
        snprintf(id, sizeof id, "%lld", (long long)bad[c]);
        expect_error(db, "SELECT name FROM t", rel, id);
        /* only T's columns: B is not read */
        exec_ok(db, "SELECT n2 FROM t");
        if (c == 1) { /* once B records the commit, the row is there */
            put_kv(db, "lake:B", later.length, later.segment);
            exec_ok(db, "SELECT name FROM t");
        }
        sqlite3_close(db);
    }
    sl_lake_close(bl);
    free(rowid_of);
    rm_rf(broot);
    rm_rf(troot);
    free(broot);
    free(troot);
}

/* The gather API directly: several slots at once, ids across every B
 * segment and back, a column B lacks (NULLs), a wrong type. */
static void test_gather(void **state) {
    (void)state;
    char *broot = mktmp();
    sl_lake_pos bpos;
    sl_lake *bl = write_b(broot, &bpos);
    int64_t *rowid_of = calloc(B_ROWS, sizeof *rowid_of);
    b_rowids(broot, rowid_of);
    sqlite3 *db = open_db();
    put_kv(db, "lake:B", bpos.length, bpos.segment);
    char *msg = NULL;
    sl_lake_ref *r = sl_lake_ref_open(db, broot, "lake:B", &msg);
    if (!r) fail_msg("open: %s", msg);
    enum { N = 2000 };
    int64_t ids[N];
    int want[N];
    for (int i = 0; i < N; i++) {
        want[i] = (int)(((int64_t)i * 104729) % B_ROWS);
        ids[i] = rowid_of[want[i]];
    }
    sl_error err = {0, {0}};
    sl_column a, b, c, f;
    assert_int_equal(sl_lake_ref_gather(r, "name", SL_T_STRING, ids, N, 1, &b, &err), 0);
    assert_int_equal(sl_lake_ref_gather(r, "id", SL_T_INT, ids, N, 0, &a, &err), 0);
    assert_int_equal(sl_lake_ref_gather(r, "nope", SL_T_DOUBLE, ids, N, 2, &c, &err), 0);
    assert_int_equal(sl_lake_ref_gather(r, "flag", SL_T_BOOL, ids, N, 4, &f, &err), 0);
    for (int i = 0; i < N; i++) {
        assert_int_equal(a.null[i], 0);
        assert_int_equal(a.v.i[i], want[i]);
        char buf[64];
        name_of(want[i], buf, sizeof buf);
        assert_int_equal(b.null[i] != 0, name_null(want[i]));
        if (!b.null[i]) {
            assert_int_equal(b.v.s[i].len, strlen(buf));
            assert_memory_equal(b.v.s[i].ptr, buf, strlen(buf));
        }
        assert_int_equal(c.null[i], 1);
        assert_int_equal(f.null[i] != 0, flag_null(want[i]));
        if (!f.null[i]) assert_int_equal(f.v.b[i] != 0, flag_of(want[i]));
    }
    assert_int_not_equal(sl_lake_ref_gather(r, "name", SL_T_INT, ids, N, 3, &c, &err), 0);
    assert_non_null(strstr(err.msg, "name"));
    sl_lake_ref_close(r);
    sqlite3_close(db);
    sl_lake_close(bl);
    free(rowid_of);
    rm_rf(broot);
    free(broot);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ref_segments),
        cmocka_unit_test(test_missing_row),
        cmocka_unit_test(test_gather),
    };
    return sl_unit_exit(cmocka_run_group_tests(tests, NULL, NULL));
}
