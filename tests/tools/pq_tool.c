/*
 * pq_tool.c - writes Parquet files from a deterministic dataset with the
 * formats/parquet writer, and dumps any Parquet file through the reader
 * (tests/integration/parquet, where DuckDB reads what we write and we read
 * what DuckDB writes).
 *
 *   pq_tool write FILE ROWS FLUSHES SEED [PAGE_ROWS [REOPEN_AFTER]]
 *   pq_tool dump FILE         one JSON array a row (row groups in order)
 *   pq_tool schema FILE       "name<TAB>type" per column
 *
 * The dataset (columns id, cam, d, b, s, ts, u, x) is a function of SEED
 * through xorshift64, so a test can recompute it independently (the Python
 * in test_parquet_duckdb.sh does). Row r draws z = next() once:
 *   id  = 1000 + 3 r                          (never NULL; sorted: delta)
 *   cam = z % 300                             (dictionary)
 *   d   = ((z >> 8) % 100000) / 7.0
 *   b   = (z >> 3) & 1
 *   s   = WORDS[(z >> 13) % 10]               (dictionary, one is "")
 *   ts  = 1700000000000000 + 1000 r + (z >> 17) % 500   (near-sorted: delta)
 *   u   = "u-<r>-<(z >> 23) % 1000>"          (unique: plain)
 *   x   = INT64_MIN if (z >> 40) % 50 == 0, INT64_MAX if 1, else (z >> 30) % 1000 - 500
 * and column c >= 1 is NULL when ((z >> (3 c + 41)) & 7) == 0.
 * The rows are written in FLUSHES equal parts, one row group each. With
 * REOPEN_AFTER = k, the writer is closed after all flushes and reopened at
 * the length of flush k, and the parts after k are written again.
 *
 * dump prints integers as integers, timestamps as microseconds, doubles with
 * %.17g ("NaN", "Infinity", "-Infinity" as strings), NULL as null.
 */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/batch.h"
#include "formats/parquet.h"

static const char *words[] = {"north", "south", "east", "west", "gate",
                              "",      "lobby", "dock", "roof", "\xc3\xa4-b"};
enum { NCOL = 8 };

static int usage(void) {
    fprintf(stderr, "usage: pq_tool write FILE ROWS FLUSHES SEED [PAGE_ROWS [REOPEN_AFTER]]\n"
                    "       pq_tool dump|schema FILE\n");
    return 2;
}

typedef struct dataset {
    sl_schema schema;
    sl_column col[NCOL];
    const sl_column *cols[NCOL];
    char *pool;
} dataset;

static void generate(dataset *x, uint32_t n, uint64_t seed) {
    sl_schema_init(&x->schema);
    static const struct {
        const char *name;
        sl_type t;
    } cols[NCOL] = {{"id", SL_T_INT},   {"cam", SL_T_INT}, {"d", SL_T_DOUBLE}, {"b", SL_T_BOOL},
                    {"s", SL_T_STRING}, {"ts", SL_T_TS},   {"u", SL_T_STRING}, {"x", SL_T_INT}};
    for (int c = 0; c < NCOL; c++) {
        sl_schema_add(&x->schema, cols[c].name, cols[c].t);
        x->col[c].type = cols[c].t;
        x->col[c].null = calloc(n ? n : 1, 1);
        x->col[c].v.p = calloc(n ? n : 1, sizeof(sl_str));
        x->cols[c] = &x->col[c];
    }
    x->pool = calloc(n ? n : 1, 32);
    uint64_t s = seed ? seed : 1;
    for (uint32_t r = 0; r < n; r++) {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        uint64_t z = s;
        x->col[0].v.i[r] = 1000 + 3 * (int64_t)r;
        x->col[1].v.i[r] = (int64_t)(z % 300);
        x->col[2].v.d[r] = (double)((z >> 8) % 100000) / 7.0;
        x->col[3].v.b[r] = (z >> 3) & 1;
        const char *w = words[(z >> 13) % 10];
        x->col[4].v.s[r] = (sl_str){w, (uint32_t)strlen(w)};
        x->col[5].v.i[r] = 1700000000000000 + 1000 * (int64_t)r + (int64_t)((z >> 17) % 500);
        char *u = x->pool + (size_t)r * 32;
        int len = snprintf(u, 32, "u-%u-%u", r, (unsigned)((z >> 23) % 1000));
        x->col[6].v.s[r] = (sl_str){u, (uint32_t)len};
        uint64_t e = (z >> 40) % 50;
        x->col[7].v.i[r] = e == 0   ? INT64_MIN
                           : e == 1 ? INT64_MAX
                                    : (int64_t)((z >> 30) % 1000) - 500;
        for (int c = 1; c < NCOL; c++)
            x->col[c].null[r] = ((z >> (3 * c + 41)) & 7) == 0;
    }
}

static void dataset_free(dataset *x) {
    for (int c = 0; c < NCOL; c++)
        free(x->col[c].null), free(x->col[c].v.p);
    free(x->pool);
}

static int write_parts(sl_pq_writer *w, dataset *x, uint32_t rows, int flushes, int from_part,
                       int to_part, int64_t *len_after, sl_error *err) {
    for (int k = from_part; k < to_part; k++) {
        uint32_t a = (uint32_t)((uint64_t)rows * (uint64_t)k / (uint64_t)flushes);
        uint32_t b = (uint32_t)((uint64_t)rows * (uint64_t)(k + 1) / (uint64_t)flushes);
        /* appended in two pieces, as batches arrive */
        uint32_t mid = a + (b - a) / 3;
        if (sl_pq_append(w, x->cols, a, mid - a, err) ||
            sl_pq_append(w, x->cols, mid, b - mid, err) || sl_pq_flush(w, err))
            return -1;
        if (len_after) len_after[k] = sl_pq_length(w);
    }
    return 0;
}

static int cmd_write(int argc, char **argv) {
    if (argc < 6) return usage();
    const char *path = argv[2];
    uint32_t rows = (uint32_t)strtoul(argv[3], NULL, 10);
    int flushes = atoi(argv[4]);
    uint64_t seed = strtoull(argv[5], NULL, 10);
    sl_pq_options o = {0};
    if (argc > 6) o.page_rows = (uint32_t)strtoul(argv[6], NULL, 10);
    int reopen_after = argc > 7 ? atoi(argv[7]) : -1;
    if (flushes < 1 || reopen_after >= flushes) return usage();
    dataset x;
    generate(&x, rows, seed);
    sl_error err = {0};
    sl_pq_writer *w = sl_pq_create(path, &x.schema, &o, &err);
    int64_t *lens = calloc((size_t)flushes, sizeof *lens);
    if (!w || write_parts(w, &x, rows, flushes, 0, flushes, lens, &err)) goto fail;
    if (reopen_after >= 0) {
        sl_pq_close(w);
        w = sl_pq_reopen(path, lens[reopen_after], &x.schema, &o, &err);
        if (!w || write_parts(w, &x, rows, flushes, reopen_after + 1, flushes, NULL, &err))
            goto fail;
    }
    printf("%lld bytes, %d row groups, %lld rows\n", (long long)sl_pq_length(w),
           sl_pq_row_groups(w), (long long)sl_pq_rows(w));
    sl_pq_close(w);
    free(lens);
    dataset_free(&x);
    return 0;
fail:
    fprintf(stderr, "pq_tool: %s\n", err.msg);
    sl_pq_close(w);
    free(lens);
    dataset_free(&x);
    return 1;
}

static void print_double(double v) {
    if (isnan(v))
        fputs("\"NaN\"", stdout);
    else if (isinf(v))
        fputs(v > 0 ? "\"Infinity\"" : "\"-Infinity\"", stdout);
    else
        printf("%.17g", v);
}

static void print_str(sl_str s) {
    putchar('"');
    for (uint32_t k = 0; k < s.len; k++) {
        unsigned char ch = (unsigned char)s.ptr[k];
        if (ch == '"' || ch == '\\')
            printf("\\%c", ch);
        else if (ch < 0x20)
            printf("\\u%04x", ch);
        else
            putchar(ch);
    }
    putchar('"');
}

static int cmd_dump(const char *path, bool schema_only) {
    sl_error err = {0};
    sl_pq_reader *r = sl_pq_open(path, -1, &err);
    if (!r) {
        fprintf(stderr, "pq_tool: %s\n", err.msg);
        return 1;
    }
    const sl_schema *s = sl_pq_schema(r);
    if (schema_only) {
        for (int c = 0; c < s->n; c++)
            printf("%s\t%s\n", s->f[c].name, sl_type_name(s->f[c].type));
        sl_pq_close_reader(r);
        return 0;
    }
    static sl_column col[SL_MAX_COLUMNS];
    for (int rg = 0; rg < sl_pq_num_row_groups(r); rg++) {
        for (int c = 0; c < s->n; c++)
            if (sl_pq_read_column(r, rg, c, c, &col[c], &err)) {
                fprintf(stderr, "pq_tool: %s\n", err.msg);
                sl_pq_close_reader(r);
                return 1;
            }
        int64_t n = sl_pq_row_group_rows(r, rg);
        for (int64_t k = 0; k < n; k++) {
            putchar('[');
            for (int c = 0; c < s->n; c++) {
                if (c) putchar(',');
                if (col[c].null[k]) {
                    fputs("null", stdout);
                    continue;
                }
                switch (col[c].type) {
                case SL_T_INT:
                case SL_T_TS:
                    printf("%" PRId64, col[c].v.i[k]);
                    break;
                case SL_T_DOUBLE:
                    print_double(col[c].v.d[k]);
                    break;
                case SL_T_BOOL:
                    fputs(col[c].v.b[k] ? "true" : "false", stdout);
                    break;
                default:
                    print_str(col[c].v.s[k]);
                }
            }
            puts("]");
        }
    }
    sl_pq_close_reader(r);
    return 0;
}

int main(int argc, char **argv) {
    if (argc < 3) return usage();
    if (!strcmp(argv[1], "write")) return cmd_write(argc, argv);
    if (!strcmp(argv[1], "dump")) return cmd_dump(argv[2], false);
    if (!strcmp(argv[1], "schema")) return cmd_dump(argv[2], true);
    return usage();
}
