/* test_parquet.c - unit tests for formats/parquet.h: round trips of every
 * type with NULLs and empty strings over many pages and row groups, the
 * encoding the writer picks (dictionary, delta, plain, RLE booleans), int64
 * extremes through delta encoding, statistics, flushes and reopen at an
 * earlier committed length, schema mismatch on reopen, and truncated or
 * damaged files refused with SL_ECORRUPT (never a crash). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>
#include <unistd.h>
#include <sys/stat.h>
#include <cmocka.h>

#include "core/batch.h"
#include "formats/parquet.h"

static char dir[] = "/tmp/test_parquet.XXXXXX";

static const char *path_of(const char *name) {
    static char p[256];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    return p;
}

static uint64_t rng = 88172645463325252ull;
static uint64_t next(void) {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

/* A deterministic dataset: column i of row r. */
enum { C_ID, C_SMALL, C_D, C_B, C_S, C_TS, C_LONGS, NCOL };
static const char *words[] = {"", "cam-a", "cam-b", "cam-c", "ä-ü", "x"};

typedef struct data {
    sl_schema schema;
    uint32_t n;
    sl_column col[NCOL];
    uint8_t *null[NCOL];
    int64_t *i[NCOL];
    double *d;
    uint8_t *b;
    sl_str *s[NCOL];
    char *pool;
} data;

static void data_make(data *x, uint32_t n, int64_t base) {
    memset(x, 0, sizeof *x);
    sl_schema_init(&x->schema);
    sl_schema_add(&x->schema, "id", SL_T_INT);
    sl_schema_add(&x->schema, "small", SL_T_INT);
    sl_schema_add(&x->schema, "d", SL_T_DOUBLE);
    sl_schema_add(&x->schema, "b", SL_T_BOOL);
    sl_schema_add(&x->schema, "s", SL_T_STRING);
    sl_schema_add(&x->schema, "ts", SL_T_TS);
    sl_schema_add(&x->schema, "long", SL_T_STRING);
    x->n = n;
    x->pool = calloc((size_t)n, 40);
    for (int c = 0; c < NCOL; c++) {
        x->null[c] = calloc(n, 1);
        x->col[c].type = x->schema.f[c].type;
        x->col[c].null = x->null[c];
        if (x->col[c].type == SL_T_INT || x->col[c].type == SL_T_TS) {
            x->i[c] = calloc(n, 8);
            x->col[c].v.i = x->i[c];
        } else if (x->col[c].type == SL_T_STRING) {
            x->s[c] = calloc(n, sizeof(sl_str));
            x->col[c].v.s = x->s[c];
        }
    }
    x->d = calloc(n, 8);
    x->b = calloc(n, 1);
    x->col[C_D].v.d = x->d;
    x->col[C_B].v.b = x->b;
    for (uint32_t r = 0; r < n; r++) {
        uint64_t z = next();
        x->i[C_ID][r] = base + r;
        x->i[C_SMALL][r] = (int64_t)(z % 100) - 50;
        double dv = (double)(int64_t)(z % 100000) / 7.0;
        if (z % 97 == 0) dv = -0.0;
        if (z % 89 == 0) dv = NAN;
        x->d[r] = dv;
        x->b[r] = (z >> 20) % 3 == 0;
        x->s[C_S][r] = (sl_str){words[(z >> 30) % 6], (uint32_t)strlen(words[(z >> 30) % 6])};
        x->i[C_TS][r] = 1700000000000000 + base * 1000 + (int64_t)r * 1000 + (int64_t)(z % 50);
        char *p = x->pool + (size_t)r * 40;
        int len = snprintf(p, 40, "row-%lld-%llu", (long long)(base + r),
                           (unsigned long long)(z % 1000003));
        x->s[C_LONGS][r] = (sl_str){p, (uint32_t)len};
        for (int c = 0; c < NCOL; c++)
            x->null[c][r] = c != C_ID && (next() % 11 == 0 || (c == C_TS && r % 1000 < 20));
    }
}

static void data_free(data *x) {
    for (int c = 0; c < NCOL; c++)
        free(x->null[c]), free(x->i[c]), free(x->s[c]);
    free(x->d), free(x->b), free(x->pool);
}

/* Column c of the reader's row group rg equals rows [from, from + n) of x. */
static void check_column(sl_pq_reader *r, int rg, int c, const data *x, uint32_t from) {
    sl_column col;
    sl_error err = {0};
    int rc = sl_pq_read_column(r, rg, c, c, &col, &err);
    if (rc) fprintf(stderr, "%s\n", err.msg);
    assert_int_equal(rc, 0);
    assert_int_equal(col.type, x->schema.f[c].type);
    int64_t n = sl_pq_row_group_rows(r, rg);
    for (int64_t k = 0; k < n; k++) {
        uint32_t s = from + (uint32_t)k;
        assert_int_equal(col.null[k] != 0, x->null[c][s] != 0);
        if (x->null[c][s]) continue;
        switch (col.type) {
        case SL_T_INT:
        case SL_T_TS:
            assert_true(col.v.i[k] == x->i[c][s]);
            break;
        case SL_T_DOUBLE:
            assert_memory_equal(&col.v.d[k], &x->d[s], 8);
            break;
        case SL_T_BOOL:
            assert_int_equal(col.v.b[k], x->b[s]);
            break;
        default:
            assert_int_equal(col.v.s[k].len, x->s[c][s].len);
            assert_memory_equal(col.v.s[k].ptr, x->s[c][s].ptr, x->s[c][s].len);
        }
    }
}

static const sl_column *const *cols_of(const data *x, const sl_column **tmp) {
    for (int c = 0; c < NCOL; c++)
        tmp[c] = &x->col[c];
    return tmp;
}

static void test_round_trip(void **state) {
    (void)state;
    data x;
    data_make(&x, 20000, 1000);
    sl_pq_options o = {.page_rows = 3000}; /* many pages per chunk */
    sl_error err = {0};
    const char *p = path_of("rt.parquet");
    sl_pq_writer *w = sl_pq_create(p, &x.schema, &o, &err);
    assert_non_null(w);
    assert_int_equal(sl_pq_length(w), 4);
    const sl_column *tmp[NCOL];
    /* appended in uneven pieces; flushed as two row groups */
    assert_int_equal(sl_pq_append(w, cols_of(&x, tmp), 0, 7001, &err), 0);
    assert_int_equal(sl_pq_append(w, cols_of(&x, tmp), 7001, 4999, &err), 0);
    assert_int_equal(sl_pq_pending_rows(w), 12000);
    assert_int_equal(sl_pq_flush(w, &err), 0);
    assert_int_equal(sl_pq_flush(w, &err), 0); /* nothing pending: no-op */
    assert_int_equal(sl_pq_row_groups(w), 1);
    assert_int_equal(sl_pq_append(w, cols_of(&x, tmp), 12000, 8000, &err), 0);
    assert_int_equal(sl_pq_flush(w, &err), 0);
    assert_int_equal(sl_pq_rows(w), 20000);
    int64_t len = sl_pq_length(w);
    sl_pq_close(w);
    struct stat st;
    assert_int_equal(stat(p, &st), 0);
    assert_int_equal(st.st_size, len);

    sl_pq_reader *r = sl_pq_open(p, -1, &err);
    if (!r) fprintf(stderr, "%s\n", err.msg);
    assert_non_null(r);
    const sl_schema *s = sl_pq_schema(r);
    assert_int_equal(s->n, NCOL);
    for (int c = 0; c < NCOL; c++) {
        assert_string_equal(s->f[c].name, x.schema.f[c].name);
        assert_int_equal(s->f[c].type, x.schema.f[c].type);
    }
    assert_int_equal(sl_pq_num_row_groups(r), 2);
    assert_int_equal(sl_pq_row_group_rows(r, 0), 12000);
    assert_int_equal(sl_pq_row_group_rows(r, 1), 8000);
    for (int c = 0; c < NCOL; c++) {
        check_column(r, 0, c, &x, 0);
        check_column(r, 1, c, &x, 12000);
    }
    /* the encodings picked: sorted ids delta, few distinct values dictionary,
     * unique strings plain, booleans plain or RLE */
    uint32_t e = sl_pq_chunk_encodings(r, 0, C_ID);
    assert_true(e & (1u << SL_PQ_ENC_DELTA_BINARY_PACKED));
    assert_false(e & (1u << SL_PQ_ENC_RLE_DICTIONARY));
    assert_true(sl_pq_chunk_encodings(r, 0, C_SMALL) & (1u << SL_PQ_ENC_RLE_DICTIONARY));
    assert_true(sl_pq_chunk_encodings(r, 0, C_S) & (1u << SL_PQ_ENC_RLE_DICTIONARY));
    e = sl_pq_chunk_encodings(r, 0, C_LONGS);
    assert_true(e & (1u << SL_PQ_ENC_PLAIN));
    assert_false(e & (1u << SL_PQ_ENC_RLE_DICTIONARY));
    assert_true(sl_pq_chunk_encodings(r, 0, C_TS) & (1u << SL_PQ_ENC_DELTA_BINARY_PACKED));
    /* several slots hold columns at once */
    sl_column a, b;
    assert_int_equal(sl_pq_read_column(r, 1, C_ID, 0, &a, &err), 0);
    assert_int_equal(sl_pq_read_column(r, 1, C_S, 1, &b, &err), 0);
    assert_true(a.v.i[0] == 13000 && a.v.i[7999] == 20999);
    /* statistics */
    for (int rg = 0; rg < 2; rg++) {
        uint32_t from = rg ? 12000 : 0, n = rg ? 8000 : 12000;
        for (int c = 0; c < NCOL; c++) {
            sl_pq_stats st;
            assert_int_equal(sl_pq_chunk_stats(r, rg, c, &st), 0);
            int64_t nulls = 0, imin = INT64_MAX, imax = INT64_MIN;
            double dmin = INFINITY, dmax = -INFINITY;
            for (uint32_t k = from; k < from + n; k++) {
                if (x.null[c][k]) {
                    nulls++;
                    continue;
                }
                if (c == C_D && !isnan(x.d[k])) {
                    dmin = fmin(dmin, x.d[k]), dmax = fmax(dmax, x.d[k]);
                } else if (x.i[c]) {
                    if (x.i[c][k] < imin) imin = x.i[c][k];
                    if (x.i[c][k] > imax) imax = x.i[c][k];
                }
            }
            assert_int_equal(st.null_count, nulls);
            if (c == C_D) {
                assert_true(st.has_min_max && st.min.d == dmin && st.max.d == dmax);
            } else if (x.i[c]) {
                assert_true(st.has_min_max);
                assert_true(st.min.i == imin && st.max.i == imax);
            } else if (c == C_S) {
                assert_true(st.has_min_max);
                assert_int_equal(st.min.s.len, 0); /* "" is the smallest */
                assert_int_equal(st.max.s.len, strlen("ä-ü"));
                assert_memory_equal(st.max.s.ptr, "ä-ü", st.max.s.len);
            } else if (c == C_B) {
                assert_true(st.has_min_max && st.min.b == false && st.max.b == true);
            }
        }
    }
    sl_pq_close_reader(r);
    data_free(&x);
}

/* Extremes: deltas overflow int64 and must wrap; all-NULL and NULL-free
 * chunks; a single row. */
static void test_extremes(void **state) {
    (void)state;
    enum { N = 5000 };
    sl_schema sc;
    sl_schema_init(&sc);
    sl_schema_add(&sc, "v", SL_T_INT);
    sl_schema_add(&sc, "allnull", SL_T_STRING);
    sl_schema_add(&sc, "flag", SL_T_BOOL);
    static int64_t v[N];
    static uint8_t nul[N], allnul[N], fl[N];
    static sl_str str[N];
    for (int k = 0; k < N; k++) {
        v[k] = k * 3;
        allnul[k] = 1;
        fl[k] = k < 4000; /* long runs: RLE beats bit-packing */
    }
    v[10] = INT64_MIN, v[11] = INT64_MAX, v[12] = INT64_MIN, v[4999] = INT64_MAX;
    v[300] = INT64_MAX, v[301] = INT64_MIN;
    sl_column c0 = {.type = SL_T_INT, .null = nul, .v.i = v};
    sl_column c1 = {.type = SL_T_STRING, .null = allnul, .v.s = str};
    sl_column c2 = {.type = SL_T_BOOL, .null = NULL, .v.b = fl};
    const sl_column *cols[] = {&c0, &c1, &c2};
    sl_error err = {0};
    const char *p = path_of("ext.parquet");
    sl_pq_writer *w = sl_pq_create(p, &sc, NULL, &err);
    assert_non_null(w);
    assert_int_equal(sl_pq_append(w, cols, 0, N, &err), 0);
    assert_int_equal(sl_pq_flush(w, &err), 0);
    assert_int_equal(sl_pq_append(w, cols, 11, 1, &err), 0); /* one row */
    assert_int_equal(sl_pq_flush(w, &err), 0);
    sl_pq_close(w);
    sl_pq_reader *r = sl_pq_open(p, -1, &err);
    assert_non_null(r);
    assert_true(sl_pq_chunk_encodings(r, 0, 0) & (1u << SL_PQ_ENC_DELTA_BINARY_PACKED));
    assert_true(sl_pq_chunk_encodings(r, 0, 2) & (1u << SL_PQ_ENC_RLE));
    sl_column o;
    assert_int_equal(sl_pq_read_column(r, 0, 0, 0, &o, &err), 0);
    for (int k = 0; k < N; k++)
        assert_true(o.v.i[k] == v[k] && !o.null[k]);
    assert_int_equal(sl_pq_read_column(r, 0, 1, 1, &o, &err), 0);
    for (int k = 0; k < N; k++)
        assert_true(o.null[k]);
    assert_int_equal(sl_pq_read_column(r, 0, 2, 2, &o, &err), 0);
    for (int k = 0; k < N; k++)
        assert_int_equal(o.v.b[k], fl[k]);
    sl_pq_stats st;
    assert_int_equal(sl_pq_chunk_stats(r, 0, 0, &st), 0);
    assert_true(st.has_min_max && st.min.i == INT64_MIN && st.max.i == INT64_MAX);
    assert_int_equal(sl_pq_chunk_stats(r, 0, 1, &st), 0);
    assert_false(st.has_min_max);
    assert_int_equal(st.null_count, N);
    assert_int_equal(sl_pq_read_column(r, 1, 0, 0, &o, &err), 0);
    assert_true(o.v.i[0] == INT64_MAX);
    sl_pq_close_reader(r);
}

/* Flushes, then a reopen at the length of an earlier flush: the later row
 * groups are cut off, new ones follow, the footer lists old + new. */
static void test_reopen(void **state) {
    (void)state;
    data x;
    data_make(&x, 3000, 0);
    const sl_column *tmp[NCOL];
    sl_error err = {0};
    const char *p = path_of("seg.parquet");
    sl_pq_writer *w = sl_pq_create(p, &x.schema, NULL, &err);
    assert_non_null(w);
    int64_t lens[3];
    for (int k = 0; k < 3; k++) {
        assert_int_equal(sl_pq_append(w, cols_of(&x, tmp), (uint32_t)k * 1000, 1000, &err), 0);
        assert_int_equal(sl_pq_flush(w, &err), 0);
        lens[k] = sl_pq_length(w);
        /* the file cut at every committed length is valid */
        sl_pq_reader *r = sl_pq_open(p, lens[k], &err);
        assert_non_null(r);
        assert_int_equal(sl_pq_num_row_groups(r), k + 1);
        sl_pq_close_reader(r);
    }
    assert_int_equal(sl_pq_append(w, cols_of(&x, tmp), 0, 10, &err), 0); /* abandoned */
    sl_pq_close(w);

    /* a different schema is refused, and the file is left alone */
    sl_schema other = x.schema;
    other.f[C_SMALL].type = SL_T_DOUBLE;
    assert_null(sl_pq_reopen(p, lens[1], &other, NULL, &err));
    assert_int_equal(err.code, SL_EINVAL);
    other = x.schema;
    other.n--;
    assert_null(sl_pq_reopen(p, lens[1], &other, NULL, &err));
    assert_int_equal(err.code, SL_EINVAL);
    struct stat st;
    assert_int_equal(stat(p, &st), 0);
    assert_int_equal(st.st_size, lens[2]);
    /* lengths that are not a footer */
    assert_null(sl_pq_reopen(p, lens[1] - 1, &x.schema, NULL, &err));
    assert_int_equal(err.code, SL_ECORRUPT);
    assert_null(sl_pq_reopen(p, lens[2] + 10, &x.schema, NULL, &err));
    assert_int_equal(err.code, SL_ECORRUPT);
    assert_null(sl_pq_reopen(p, 4, &x.schema, NULL, &err));
    assert_int_equal(err.code, SL_ECORRUPT);

    w = sl_pq_reopen(p, lens[1], &x.schema, NULL, &err);
    assert_non_null(w);
    assert_int_equal(sl_pq_row_groups(w), 2);
    assert_int_equal(sl_pq_rows(w), 2000);
    assert_int_equal(sl_pq_length(w), lens[1]);
    assert_int_equal(stat(p, &st), 0);
    assert_int_equal(st.st_size, lens[1]);
    /* rows 2000..2999 again, in a row group written after the reopen */
    assert_int_equal(sl_pq_append(w, cols_of(&x, tmp), 2000, 1000, &err), 0);
    assert_int_equal(sl_pq_flush(w, &err), 0);
    int64_t len = sl_pq_length(w);
    sl_pq_close(w);
    assert_null(sl_pq_create(p, &x.schema, NULL, &err)); /* O_EXCL */

    sl_pq_reader *r = sl_pq_open(p, len, &err);
    assert_non_null(r);
    assert_int_equal(sl_pq_num_row_groups(r), 3);
    for (int rg = 0; rg < 3; rg++)
        for (int c = 0; c < NCOL; c++)
            check_column(r, rg, c, &x, (uint32_t)rg * 1000);
    sl_pq_close_reader(r);
    data_free(&x);
}

/* Every truncation and every single-byte change of the footer region: open
 * and read either succeed or fail with SL_ECORRUPT, and never crash. */
static void test_corrupt(void **state) {
    (void)state;
    data x;
    data_make(&x, 300, 0);
    const sl_column *tmp[NCOL];
    sl_error err = {0};
    const char *p = path_of("small.parquet");
    sl_pq_writer *w = sl_pq_create(p, &x.schema, NULL, &err);
    assert_int_equal(sl_pq_append(w, cols_of(&x, tmp), 0, 300, &err), 0);
    assert_int_equal(sl_pq_flush(w, &err), 0);
    size_t len = (size_t)sl_pq_length(w);
    sl_pq_close(w);
    uint8_t *buf = malloc(len);
    FILE *f = fopen(p, "rb");
    assert_int_equal(fread(buf, 1, len, f), len);
    fclose(f);

    sl_pq_reader *r = sl_pq_open(p, (int64_t)len - 1, &err);
    assert_null(r);
    assert_int_equal(err.code, SL_ECORRUPT);
    assert_non_null(strstr(err.msg, "small.parquet"));
    for (size_t cut = 0; cut < len; cut += (cut < 64 ? 1 : 37)) {
        assert_null(sl_pq_open_mem(buf, cut, &err));
        assert_int_equal(err.code, SL_ECORRUPT);
    }
    uint8_t *m = malloc(len);
    int refused = 0;
    for (size_t k = 0; k < len; k++) {
        memcpy(m, buf, len);
        m[k] ^= (uint8_t)(1 + (k * 7) % 255);
        r = sl_pq_open_mem(m, len, &err);
        if (!r) {
            assert_int_equal(err.code, SL_ECORRUPT);
            refused++;
            continue;
        }
        for (int rg = 0; rg < sl_pq_num_row_groups(r); rg++)
            for (int c = 0; c < sl_pq_schema(r)->n; c++) {
                sl_column col;
                int rc = sl_pq_read_column(r, rg, c, c, &col, &err);
                if (rc) {
                    assert_int_equal(rc, SL_ECORRUPT);
                    refused++;
                }
            }
        sl_pq_close_reader(r);
    }
    assert_true(refused > 0);
    free(m);
    free(buf);
    data_free(&x);
}

static void test_errors(void **state) {
    (void)state;
    sl_schema sc;
    sl_schema_init(&sc);
    sl_schema_add(&sc, "a", SL_T_INT);
    sl_error err = {0};
    const char *p = path_of("err.parquet");
    sl_pq_writer *w = sl_pq_create(p, &sc, NULL, &err);
    assert_non_null(w);
    double d[1] = {1};
    sl_column wrong = {.type = SL_T_DOUBLE, .v.d = d};
    const sl_column *cols[] = {&wrong};
    assert_int_equal(sl_pq_append(w, cols, 0, 1, &err), SL_EINVAL);
    assert_int_equal(sl_pq_flush(w, &err), 0);
    assert_int_equal(sl_pq_length(w), 4);
    sl_pq_close(w);
    /* created, never flushed: not a valid file yet */
    assert_null(sl_pq_open(p, -1, &err));
    assert_int_equal(err.code, SL_ECORRUPT);
    assert_null(sl_pq_open(path_of("missing.parquet"), -1, &err));
    sl_schema none;
    sl_schema_init(&none);
    assert_null(sl_pq_create(path_of("none.parquet"), &none, NULL, &err));
    assert_int_equal(err.code, SL_EINVAL);
}

int main(void) {
    if (!mkdtemp(dir)) return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip), cmocka_unit_test(test_extremes),
        cmocka_unit_test(test_reopen),     cmocka_unit_test(test_corrupt),
        cmocka_unit_test(test_errors),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0) rc = rc ? rc : 1;
    return rc;
}
