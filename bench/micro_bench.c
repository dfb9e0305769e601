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
 *   ref    (only when named) a Parquet lake B of N rows, a table T keeping
 *          95% of them with one added column, stored as ref segments (the
 *          added column + _ref) and as full copies: bytes of each, and a
 *          scan of T's columns through sluice_parquet (B's gathered by
 *          lake_ref.c) against the scan of the full copy.
 *
 * Built by CMake (build/micro_bench); bench/run.sh runs it for `make bench`.
 * Usage: micro_bench [lake|expr|ref]... [--lines N]   (default: lake and
 * expr, 1,000,000 lake lines / ref rows). The scan's sum of line lengths is checked against what
 * was written: a wrong answer exits 1 rather than print a speed.
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
#include "formats/parquet.h"
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

/* ------------------------------------------------------------------- ref */

#define REF_GROUP 32768

static int64_t tree_bytes;
static int du_cb(const char *p, const struct stat *st, int flag, struct FTW *f) {
    (void)p;
    (void)f;
    if (flag == FTW_F) tree_bytes += st->st_size;
    return 0;
}

static int64_t du(const char *root) {
    tree_bytes = 0;
    nftw(root, du_cb, 16, FTW_PHYS);
    return tree_bytes;
}

/* One T segment per B segment (same hour folder and number), written with
 * the Parquet writer: ref (loc + _ref) or full (B's columns + loc). */
typedef struct ref_out {
    sl_pq_writer *w;
    sl_schema sc;
} ref_out;

static void ref_flush(ref_out *o) {
    sl_error err = {0, {0}};
    if (o->w && sl_pq_flush(o->w, &err) != 0) die("ref flush", err.msg);
}

static void bench_ref(int total) {
    char root[] = "/tmp/sl_ref_bench_XXXXXX";
    if (!mkdtemp(root)) die("mkdtemp", root);
    char broot[PATH_MAX], rroot[PATH_MAX], froot[PATH_MAX];
    snprintf(broot, sizeof broot, "%s/b", root);
    snprintf(rroot, sizeof rroot, "%s/t_ref", root);
    snprintf(froot, sizeof froot, "%s/t_full", root);
    sl_schema bs;
    sl_schema_init(&bs);
    sl_schema_add(&bs, "id", SL_T_INT);
    sl_schema_add(&bs, "name", SL_T_STRING);
    sl_schema_add(&bs, "at", SL_T_TS);
    sl_schema_add(&bs, "conf", SL_T_DOUBLE);
    sl_error err = {0, {0}};
    sl_lake *l = sl_lake_open_parquet(broot, &bs, 0, 0, &err);
    if (!l || sl_lake_recover(l, NULL, &err) != 0) die("ref lake", err.msg);
    int64_t *ids = malloc(sizeof *ids * REF_GROUP), *ats = malloc(sizeof *ats * REF_GROUP);
    double *conf = malloc(sizeof *conf * REF_GROUP);
    sl_str *names = malloc(sizeof *names * REF_GROUP);
    char *nb = malloc((size_t)REF_GROUP * 32);
    int per_hour = total / 4 + 1;
    for (int from = 0, n; from < total; from += n) {
        n = total - from < REF_GROUP ? total - from : REF_GROUP;
        int hour_end = (from / per_hour + 1) * per_hour; /* one B segment per hour */
        if (from + n > hour_end) n = hour_end - from;
        for (int i = 0; i < n; i++) {
            int id = from + i;
            ids[i] = id;
            ats[i] = T0 + (int64_t)id * 3600;
            conf[i] = (id % 1000) / 1000.0;
            int k = snprintf(nb + 32 * i, 32, "det-%08x-cam-%03d", id * 2654435761u, id % 500);
            names[i] = (sl_str){nb + 32 * i, (uint32_t)k};
        }
        sl_column c0 = {.type = SL_T_INT, .v.i = ids}, c1 = {.type = SL_T_STRING, .v.s = names},
                  c2 = {.type = SL_T_TS, .v.i = ats}, c3 = {.type = SL_T_DOUBLE, .v.d = conf};
        const sl_column *cols[4] = {&c0, &c1, &c2, &c3};
        int64_t hour = T0 + (int64_t)(from / per_hour) * 3600 * SL_US_PER_SEC;
        if (sl_lake_append_columns(l, cols, 0, (uint32_t)n, hour, NULL, &err) != 0 ||
            sl_lake_flush(l, &err) != 0)
            die("ref lake append", err.msg);
    }
    sl_lake_pos bpos;
    sl_lake_position(l, &bpos);
    sl_lake_close(l);
    /* T: B's rows but every 20th, plus loc; walk B's segments in order */
    sl_lake_segment *segs;
    size_t nseg;
    if (sl_lake_segments_list(broot, &segs, &nseg, &err) != 0) die("ref list", err.msg);
    int64_t *refs = malloc(sizeof *refs * REF_GROUP);
    sl_str *locs = malloc(sizeof *locs * REF_GROUP);
    static const char *loc_names[] = {"north gate", "south gate", "parking", "lobby"};
    char tpos_seg[2][256] = {"", ""};
    int64_t tpos_len[2] = {0, 0};
    int64_t want_id = 0, want_len = 0, kept = 0;
    for (size_t s = 0; s < nseg; s++) {
        char p[PATH_MAX + 256];
        snprintf(p, sizeof p, "%s/%s", broot, segs[s].path);
        sl_pq_reader *r = sl_pq_open(p, -1, &err);
        if (!r) die("ref read", err.msg);
        ref_out o[2] = {{0}};
        for (int v = 0; v < 2; v++) {
            sl_schema_init(&o[v].sc);
            if (v == 1)
                for (int c = 0; c < bs.n; c++)
                    sl_schema_add(&o[v].sc, bs.f[c].name, bs.f[c].type);
            sl_schema_add(&o[v].sc, "loc", SL_T_STRING);
            if (v == 0) sl_schema_add(&o[v].sc, "_ref", SL_T_INT);
            char tp[PATH_MAX + 256], dir[PATH_MAX + 256];
            snprintf(tp, sizeof tp, "%s/%s", v ? froot : rroot, segs[s].path);
            snprintf(dir, sizeof dir, "%s", tp);
            mkdir(v ? froot : rroot, 0755);
            for (char *q = dir + strlen(v ? froot : rroot) + 1; (q = strchr(q, '/')); q++) {
                *q = '\0';
                mkdir(dir, 0755);
                *q = '/';
            }
            o[v].w = sl_pq_create(tp, &o[v].sc, NULL, &err);
            if (!o[v].w) die("ref create", err.msg);
            snprintf(tpos_seg[v], sizeof tpos_seg[v], "%s", segs[s].path);
        }
        int64_t row = 0;
        for (int g = 0; g < sl_pq_num_row_groups(r); g++) {
            sl_column bc[4];
            for (int c = 0; c < 4; c++)
                if (sl_pq_read_column(r, g, c, c, &bc[c], &err) != 0) die("ref read", err.msg);
            uint32_t n = 0;
            sl_column k[4];
            int64_t rows = sl_pq_row_group_rows(r, g);
            int64_t *kid = malloc(sizeof *kid * REF_GROUP), *kat = malloc(sizeof *kat * REF_GROUP);
            double *kconf = malloc(sizeof *kconf * REF_GROUP);
            sl_str *kname = malloc(sizeof *kname * REF_GROUP);
            for (int64_t i = 0; i < rows; i++, row++) {
                int64_t id = bc[0].v.i[i];
                if (id % 20 == 0) continue;
                refs[n] = (segs[s].seq << 32) | row;
                const char *ln = loc_names[id % 4];
                locs[n] = (sl_str){ln, (uint32_t)strlen(ln)};
                kid[n] = id;
                kname[n] = bc[1].v.s[i];
                kat[n] = bc[2].v.i[i];
                kconf[n] = bc[3].v.d[i];
                want_id += id;
                want_len += bc[1].v.s[i].len;
                n++;
            }
            kept += n;
            k[0] = (sl_column){.type = SL_T_INT, .null = NULL, .v.i = kid};
            k[1] = (sl_column){.type = SL_T_STRING, .null = NULL, .v.s = kname};
            k[2] = (sl_column){.type = SL_T_TS, .null = NULL, .v.i = kat};
            k[3] = (sl_column){.type = SL_T_DOUBLE, .null = NULL, .v.d = kconf};
            sl_column lc = {.type = SL_T_STRING, .null = NULL, .v.s = locs};
            sl_column rc = {.type = SL_T_INT, .null = NULL, .v.i = refs};
            const sl_column *rcols[2] = {&lc, &rc};
            const sl_column *fcols[5] = {&k[0], &k[1], &k[2], &k[3], &lc};
            if (sl_pq_append(o[0].w, rcols, 0, n, &err) != 0 ||
                sl_pq_append(o[1].w, fcols, 0, n, &err) != 0)
                die("ref append", err.msg);
            ref_flush(&o[0]);
            ref_flush(&o[1]);
            free(kid);
            free(kat);
            free(kconf);
            free(kname);
        }
        for (int v = 0; v < 2; v++) {
            tpos_len[v] = sl_pq_length(o[v].w);
            sl_pq_close(o[v].w);
        }
        sl_pq_close_reader(r);
    }
    free(segs);
    sqlite3 *db;
    char *e = NULL;
    if (sqlite3_open(":memory:", &db) != SQLITE_OK || sl_parquet_vtab_register(db) != SQLITE_OK)
        die("sqlite", "cannot open or register sluice_parquet");
    char *sql = sqlite3_mprintf(
        "CREATE TABLE _sluice_kv(key TEXT PRIMARY KEY, value TEXT);"
        "INSERT INTO _sluice_kv VALUES ('lake:b', '%lld' || char(9) || %Q),"
        " ('lake:r', '%lld' || char(9) || %Q), ('lake:f', '%lld' || char(9) || %Q);"
        "CREATE VIRTUAL TABLE temp.t_ref USING sluice_parquet(%Q, 'kv:lake:r', 'id int, name "
        "string, at timestamp, conf double, loc string', %Q, 'kv:lake:b');"
        "CREATE VIRTUAL TABLE temp.t_full USING sluice_parquet(%Q, 'kv:lake:f', 'id int, name "
        "string, at timestamp, conf double, loc string');",
        (long long)bpos.length, bpos.segment, (long long)tpos_len[0], tpos_seg[0],
        (long long)tpos_len[1], tpos_seg[1], rroot, broot, froot);
    if (sqlite3_exec(db, sql, NULL, NULL, &e) != SQLITE_OK) die("ref vtab", e);
    sqlite3_free(sql);
    printf("ref: B %d rows %.1f MB; T keeps %lld rows: full copy %.2f MB, ref segments %.3f MB\n",
           total, du(broot) / 1e6, (long long)kept, du(froot) / 1e6, du(rroot) / 1e6);
    for (int v = 0; v < 2; v++) {
        char q[256];
        snprintf(q, sizeof q, "SELECT sum(id), sum(length(name)), count(at), count(loc) FROM %s",
                 v ? "t_full" : "t_ref");
        sqlite3_stmt *st;
        int64_t best = INT64_MAX;
        for (int rep = 0; rep < 3; rep++) {
            int64_t t0 = sl_monotonic_us();
            if (sqlite3_prepare_v2(db, q, -1, &st, NULL) != SQLITE_OK ||
                sqlite3_step(st) != SQLITE_ROW)
                die("ref scan", sqlite3_errmsg(db));
            int64_t dt = sl_monotonic_us() - t0;
            if (sqlite3_column_int64(st, 0) != want_id || sqlite3_column_int64(st, 1) != want_len ||
                sqlite3_column_int64(st, 2) != kept || sqlite3_column_int64(st, 3) != kept) {
                fprintf(stderr, "micro_bench: %s: wrong sums\n", v ? "t_full" : "t_ref");
                exit(1);
            }
            sqlite3_finalize(st);
            if (dt < best) best = dt;
        }
        printf("ref: scan of T (%s): %.2f M rows/s (best of 3)\n",
               v ? "full copy" : "ref segments, B's columns gathered", kept / (best / 1e6) / 1e6);
    }
    sqlite3_close(db);
    free(ids);
    free(ats);
    free(conf);
    free(names);
    free(nb);
    free(refs);
    free(locs);
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
    int lines = 1000000, lake = 0, expr = 0, ref = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "lake"))
            lake = 1;
        else if (!strcmp(argv[i], "expr"))
            expr = 1;
        else if (!strcmp(argv[i], "ref"))
            ref = 1;
        else if (!strcmp(argv[i], "--lines") && i + 1 < argc)
            lines = atoi(argv[++i]);
        else {
            fprintf(stderr, "usage: micro_bench [lake|expr|ref]... [--lines N]\n");
            return 2;
        }
    }
    if (lines <= 0) lines = 1;
    if (!lake && !expr && !ref) lake = expr = 1;
    if (lake) bench_lake(lines);
    if (expr) bench_expr();
    if (ref) bench_ref(lines);
    return 0;
}
