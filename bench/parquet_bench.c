/*
 * parquet_bench.c - encode and decode cost of formats/parquet, and the bytes
 * a value takes on disk, on a cameras-like dataset.
 *
 *   build/parquet_bench [ROWS [ROW_GROUP_ROWS [REPS [CASE]]]]
 *
 * Defaults: 2000000 rows, row groups of 262144, best of REPS = 3, every
 * CASE (id, cam, status, ts, all). On a busy machine count instructions
 * instead of time, one case at a time:
 *   valgrind --tool=callgrind build/parquet_bench 200000 262144 1 id
 * and divide the Ir of sl_pq_append + sl_pq_flush (encode) and of
 * sl_pq_read_column (decode) by the values.
 *
 * The dataset: id (int64, sorted-ish: increments of 1..3 with an occasional
 * local swap), cam (int64, 300 distinct small values), status (string, 10
 * distinct), ts (timestamp, near-sorted: +-2 ms of jitter on a 1 ms clock),
 * about 2% NULLs in cam and status.
 *
 * Prints, per case, the encode cost (sl_pq_append + sl_pq_flush, including
 * zstd and the fsync of each flush) and the decode cost (sl_pq_read_column)
 * in ns per value, the encoding the writer chose, and bytes per value in the
 * file. Cases: each column alone (so "int (delta)" and "string (dict)" are
 * isolated) and the four columns together.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/batch.h"
#include "formats/parquet.h"

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static uint64_t rng = 0x9E3779B97F4A7C15ull;
static uint64_t next(void) {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static const char *status_words[] = {"ok",     "ok-late", "offline", "blurred", "night",
                                     "tamper", "glare",   "motion",  "idle",    "maintenance"};

enum { NC = 4 };
static sl_column cols[NC];
static const char *names[NC] = {"id", "cam", "status", "ts"};
static const sl_type types[NC] = {SL_T_INT, SL_T_INT, SL_T_STRING, SL_T_TS};

static void make(uint32_t n) {
    for (int c = 0; c < NC; c++) {
        cols[c].type = types[c];
        cols[c].null = calloc(n, 1);
        cols[c].v.p = calloc(n, types[c] == SL_T_STRING ? sizeof(sl_str) : 8);
    }
    int64_t id = 1000000, ts = 1700000000000000;
    for (uint32_t r = 0; r < n; r++) {
        uint64_t z = next();
        id += 1 + (int64_t)(z % 3);
        cols[0].v.i[r] = id;
        if (r && z % 100 == 7) { /* a local swap: sorted-ish */
            int64_t t = cols[0].v.i[r];
            cols[0].v.i[r] = cols[0].v.i[r - 1];
            cols[0].v.i[r - 1] = t;
        }
        cols[1].v.i[r] = (int64_t)((z >> 8) % 300);
        const char *w = status_words[(z >> 20) % 10];
        cols[2].v.s[r] = (sl_str){w, (uint32_t)strlen(w)};
        ts += 1000;
        cols[3].v.i[r] = ts + (int64_t)((z >> 32) % 4001) - 2000;
        cols[1].null[r] = (z >> 40) % 50 == 0;
        cols[2].null[r] = (z >> 46) % 50 == 0;
    }
}

static const char *enc_name(uint32_t m) {
    if (m & (1u << SL_PQ_ENC_RLE_DICTIONARY)) return "dict";
    if (m & (1u << SL_PQ_ENC_DELTA_BINARY_PACKED)) return "delta";
    return "plain";
}

/* Writes columns [c0, c1) of the dataset, reads them back; prints a line. */
static int reps = 3;

static void run(const char *dir, const char *label, int c0, int c1, uint32_t n, uint32_t rg_rows) {
    sl_schema s;
    sl_schema_init(&s);
    for (int c = c0; c < c1; c++)
        sl_schema_add(&s, names[c], types[c]);
    const sl_column *cp[NC];
    for (int c = c0; c < c1; c++)
        cp[c - c0] = &cols[c];
    double best_w = 1e30, best_r = 1e30;
    long long bytes = 0;
    uint32_t encs = 0;
    char path[512];
    snprintf(path, sizeof path, "%s/bench.parquet", dir);
    for (int rep = 0; rep < reps; rep++) {
        unlink(path);
        sl_error err = {0};
        double t0 = now();
        sl_pq_writer *w = sl_pq_create(path, &s, NULL, &err);
        if (!w) {
            fprintf(stderr, "%s\n", err.msg);
            exit(1);
        }
        for (uint32_t r = 0; r < n; r += 8192) { /* batches of 8192 rows */
            uint32_t k = n - r < 8192 ? n - r : 8192;
            if (sl_pq_append(w, cp, r, k, &err)) exit(1);
            if (sl_pq_pending_rows(w) >= rg_rows && sl_pq_flush(w, &err)) exit(1);
        }
        if (sl_pq_flush(w, &err)) exit(1);
        bytes = sl_pq_length(w);
        sl_pq_close(w);
        double t1 = now();
        sl_pq_reader *rd = sl_pq_open(path, -1, &err);
        if (!rd) {
            fprintf(stderr, "%s\n", err.msg);
            exit(1);
        }
        volatile int64_t sink = 0;
        for (int g = 0; g < sl_pq_num_row_groups(rd); g++)
            for (int c = 0; c < c1 - c0; c++) {
                sl_column out;
                if (sl_pq_read_column(rd, g, c, c, &out, &err)) {
                    fprintf(stderr, "%s\n", err.msg);
                    exit(1);
                }
                sink += out.null[0];
            }
        double t2 = now();
        (void)sink;
        encs = sl_pq_chunk_encodings(rd, 0, 0);
        sl_pq_close_reader(rd);
        if (t1 - t0 < best_w) best_w = t1 - t0;
        if (t2 - t1 < best_r) best_r = t2 - t1;
    }
    double vals = (double)n * (c1 - c0);
    printf("%-22s %-6s encode %6.2f ns/value  decode %6.2f ns/value  %6.3f bytes/value  (%lld "
           "bytes)\n",
           label, c1 - c0 == 1 ? enc_name(encs) : "-", best_w * 1e9 / vals, best_r * 1e9 / vals,
           (double)bytes / vals, bytes);
}

int main(int argc, char **argv) {
    uint32_t n = argc > 1 ? (uint32_t)strtoul(argv[1], NULL, 10) : 2000000;
    uint32_t rg = argc > 2 ? (uint32_t)strtoul(argv[2], NULL, 10) : 262144;
    if (argc > 3) reps = atoi(argv[3]) > 0 ? atoi(argv[3]) : 1;
    char dir[] = "/tmp/parquet_bench.XXXXXX";
    if (!mkdtemp(dir)) return 1;
    make(n);
    printf("parquet_bench: %u rows, row groups of %u rows, zstd level 3\n", n, rg);
    const char *only = argc > 4 ? argv[4] : NULL;
#define CASE(name, label, c0, c1)                                                                  \
    if (!only || !strcmp(only, name)) run(dir, label, c0, c1, n, rg)
    CASE("id", "id int64 sorted-ish", 0, 1);
    CASE("cam", "cam int64 300 dist.", 1, 2);
    CASE("status", "status string 10 d.", 2, 3);
    CASE("ts", "ts near-sorted", 3, 4);
    CASE("all", "cameras (4 columns)", 0, 4);
#undef CASE
    char p[600];
    snprintf(p, sizeof p, "%s/bench.parquet", dir);
    unlink(p);
    rmdir(dir);
    return 0;
}
