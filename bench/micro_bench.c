/*
 * micro_bench.c - speed of two building blocks, measured here rather than in
 * the unit tests (which assert correctness only):
 *
 *   lake   append + flush of ~200-byte NDJSON lines into lake segments
 *          (src/sinks/lake.c) at zstd level 1 and 3 and two flush intervals:
 *          MB/s of input, M lines/s, compression ratio; then a full scan of
 *          one lake through the sluice_lake virtual table (lake_vtab.c).
 *   expr   `a * 2 + b > 10 AND name LIKE 'x%'` (src/expr/) over 1M rows in
 *          4096-row batches: ns/row, best of 3.
 *
 * Built by CMake (build/micro_bench); bench/run.sh runs it for `make bench`.
 * Usage: micro_bench [lake|expr]... [--lines N]   (default: both, 1,000,000
 * lake lines). The scan's sum of line lengths is checked against what was
 * written: a wrong answer exits 1 rather than print a speed.
 */
#include <ftw.h>
#include <sqlite3.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/batch.h"
#include "core/error.h"
#include "core/timeutil.h"
#include "expr/expr.h"
#include "sinks/lake.h"
#include "sinks/lake_vtab.h"

/* 2026-03-01T10:00:00Z */
#define T0 (INT64_C(1772359200) * SL_US_PER_SEC)

static void die(const char *what, const char *msg) {
    fprintf(stderr, "micro_bench: %s: %s\n", what, msg);
    exit(1);
}

static int rm_cb(const char *p, const struct stat *st, int flag, struct FTW *f) {
    (void)st, (void)flag, (void)f;
    return remove(p);
}

/* ------------------------------------------------------------------ lake */

/* Line i: a JSON object of about 200 bytes, like a camera detection, with a
 * pseudo-random event id so it compresses like real data, not like a pattern
 * (the same lines as tests/unit/sinks/test_lake.c). */
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

static void bench_lake(int total) {
    char root[] = "/tmp/sl_micro_bench_XXXXXX";
    if (!mkdtemp(root)) die("mkdtemp", "failed");
    enum {
        POOL = 1 << 18
    }; /* 262144 distinct lines (~50 MB): repeats fall outside zstd's window */
    char(*lines)[256] = malloc(POOL * sizeof *lines);
    size_t *lens = malloc(POOL * sizeof *lens), bytes = 0;
    if (!lines || !lens) die("malloc", "out of memory");
    for (int i = 0; i < POOL; i++)
        lens[i] = make_line(lines[i], sizeof lines[i], i);
    static const int cfg[][2] = {{1, 100000}, {1, 10000}, {3, 100000}}; /* level, lines/flush */
    for (int c = 0; c < 3; c++) {
        int level = cfg[c][0], per_flush = cfg[c][1];
        sl_error err = {0};
        char dir[1024];
        snprintf(dir, sizeof dir, "%s/c%d", root, c);
        sl_lake *l = sl_lake_open(dir, 0, level, &err);
        if (!l) die("lake open", err.msg);
        if (sl_lake_recover(l, NULL, &err) != 0) die("lake recover", err.msg);
        bytes = 0;
        int64_t t0 = sl_monotonic_us();
        for (int i = 0; i < total; i++) {
            int k = i & (POOL - 1);
            bytes += lens[k] + 1;
            if (sl_lake_append(l, lines[k], lens[k], T0, &err) != 0) die("lake append", err.msg);
            if ((i + 1) % per_flush == 0 && sl_lake_flush(l, &err) != 0) die("lake flush", err.msg);
        }
        if (sl_lake_flush(l, &err) != 0) die("lake flush", err.msg);
        double s = (double)(sl_monotonic_us() - t0) / 1e6;
        printf("lake append, zstd level %d, flush every %d lines: %d lines (%.0f B avg), %.1f MB/s "
               "input, "
               "%.2f M lines/s, ratio %.1fx\n",
               level, per_flush, total, (double)bytes / total, bytes / s / 1e6, total / s / 1e6,
               (double)bytes / (double)sl_lake_bytes_written(l));
        sl_lake_close(l);
    }
    /* the reader: every line of the level-1 lake through the virtual table */
    int64_t t0 = sl_monotonic_us();
    sqlite3 *db;
    if (sqlite3_open(":memory:", &db) != SQLITE_OK || sl_lake_vtab_register(db) != SQLITE_OK)
        die("sqlite", "cannot open or register sluice_lake");
    char *sql = sqlite3_mprintf("CREATE VIRTUAL TABLE temp.lk USING sluice_lake('%q/c0')", root);
    char *e = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &e) != SQLITE_OK) die("create vtab", e);
    sqlite3_free(sql);
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, "SELECT sum(length(line)) FROM lk", -1, &st, NULL) != SQLITE_OK ||
        sqlite3_step(st) != SQLITE_ROW)
        die("scan", sqlite3_errmsg(db));
    int64_t sum = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    double s = (double)(sl_monotonic_us() - t0) / 1e6;
    if (sum != (int64_t)bytes - total) {
        fprintf(stderr, "micro_bench: lake scan read %lld bytes of lines, wrote %lld\n",
                (long long)sum, (long long)bytes - total);
        exit(1);
    }
    printf("lake scan (sluice_lake vtab), %d lines: %.1f MB/s, %.2f M lines/s\n", total,
           bytes / s / 1e6, total / s / 1e6);
    free(lines);
    free(lens);
    nftw(root, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

/* ------------------------------------------------------------------ expr */

#define BIG 4096

static void bench_expr(void) {
    sl_schema schema;
    sl_schema_init(&schema);
    sl_schema_add(&schema, "a", SL_T_INT);
    sl_schema_add(&schema, "b", SL_T_INT);
    sl_schema_add(&schema, "d", SL_T_DOUBLE);
    sl_schema_add(&schema, "name", SL_T_STRING);
    sl_schema_add(&schema, "flag", SL_T_BOOL);
    sl_schema_add(&schema, "ts", SL_T_TS);
    /* the rows of tests/unit/expr/test_expr.c's make_big (NULLs included) */
    sl_batch *b = sl_batch_new(&schema, BIG);
    static const char *names[] = {"xenon", "alpha", "x", "bravo", "xx", ""};
    for (uint32_t i = 0; i < BIG; i++) {
        uint32_t r = sl_batch_append_null_row(b);
        uint32_t h = (i + 3) * 2654435761u;
        if (h % 11) sl_col_set_int(&b->col[0], r, (int64_t)(h % 1000) - 300);
        if (h % 13) sl_col_set_int(&b->col[1], r, (int64_t)((h >> 8) % 50) - 10);
        sl_col_set_double(&b->col[2], r, (double)(h % 777) / 7.0);
        if (h % 7)
            sl_col_set_str(&b->col[3], r, names[(h >> 4) % 6],
                           (uint32_t)strlen(names[(h >> 4) % 6]));
        sl_col_set_bool(&b->col[4], r, (h >> 3) & 1);
        sl_col_set_int(&b->col[5], r, 1767225600000000LL + (int64_t)(h % 100000) * 1000000);
    }
    const char *src = "a * 2 + b > 10 AND name LIKE 'x%'";
    sl_error err = {0};
    int off = -1;
    sl_expr *f = sl_expr_compile(src, &schema, &err, &off);
    if (!f) die("compile", err.msg);
    static uint8_t keep[BIG];
    const int batches = 1000000 / BIG + 1;
    uint64_t kept = 0;
    int64_t best = INT64_MAX;
    for (int rep = 0; rep < 3; rep++) {
        int64_t t0 = sl_monotonic_us();
        for (int k = 0; k < batches; k++) {
            if (sl_expr_eval_bool(f, b, keep) != 0) die("eval", "sl_expr_eval_bool failed");
            kept += keep[k % BIG];
        }
        int64_t dt = sl_monotonic_us() - t0;
        if (dt < best) best = dt;
    }
    double rows = (double)batches * BIG;
    printf("expr filter %s: %.0f rows in %.1f ms, %.2f ns/row (best of 3)\n", src, rows,
           (double)best / 1000.0, (double)best * 1000.0 / rows);
    (void)kept;
    sl_batch_free(b);
    sl_expr_free(f);
}

int main(int argc, char **argv) {
    int lines = 1000000, lake = 0, expr = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "lake"))
            lake = 1;
        else if (!strcmp(argv[i], "expr"))
            expr = 1;
        else if (!strcmp(argv[i], "--lines") && i + 1 < argc)
            lines = atoi(argv[++i]);
        else {
            fprintf(stderr, "usage: micro_bench [lake|expr]... [--lines N]\n");
            return 2;
        }
    }
    if (lines <= 0) lines = 1;
    if (!lake && !expr) lake = expr = 1;
    if (lake) bench_lake(lines);
    if (expr) bench_expr();
    return 0;
}
