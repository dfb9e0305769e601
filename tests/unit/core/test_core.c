/* test_core.c - unit tests for src/core: arena, batch, hash map and set, time, errors. */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "core/arena.h"
#include "core/batch.h"
#include "core/error.h"
#include "core/hash.h"
#include "core/mem.h"
#include "core/timeutil.h"

static void test_arena(void **state) {
    (void)state;
    sl_arena *a = sl_arena_new(64);
    char *s = sl_arena_strdup(a, "hello", 5);
    assert_string_equal(s, "hello");
    void *big = sl_arena_alloc(a, 1000);
    assert_non_null(big);
    assert_true(sl_arena_used(a) >= 1000);
    sl_arena_reset(a);
    assert_int_equal(sl_arena_used(a), 0);
    sl_arena_free(a);
}

static void test_batch_keep_and_copy(void **state) {
    (void)state;
    sl_schema s;
    sl_schema_init(&s);
    assert_int_equal(sl_schema_add(&s, "id", SL_T_INT), 0);
    assert_int_equal(sl_schema_add(&s, "name", SL_T_STRING), 1);
    assert_int_equal(sl_schema_add(&s, "id", SL_T_INT), -1);
    sl_batch *b = sl_batch_new(&s, 8);
    for (int i = 0; i < 5; i++) {
        uint32_t r = sl_batch_append_null_row(b);
        sl_col_set_int(&b->col[0], r, i);
        if (i != 2) sl_col_set_str(&b->col[1], r, "abc", 3);
        b->pos[r] = 100 + i;
    }
    uint8_t keep[5] = {1, 0, 1, 0, 1};
    assert_int_equal(sl_batch_keep(b, keep), 3);
    assert_int_equal(b->col[0].v.i[1], 2);
    assert_true(b->col[1].null[1]);
    assert_int_equal(b->pos[2], 104);
    int c = sl_batch_add_column(b, "flag", SL_T_BOOL);
    assert_int_equal(c, 2);
    assert_true(b->col[2].null[0]);
    sl_batch *d = sl_batch_new(&b->schema, 8);
    sl_batch_copy(d, b);
    assert_int_equal(d->n, 3);
    assert_int_equal(d->col[0].v.i[2], 4);
    sl_batch_free(d);
    sl_batch_free(b);
}

/* sl_batch_keep moves runs of rows (few runs) or single rows (many runs):
 * both against a row-by-row reference, for every column type, with drop
 * patterns from none to all, including more runs than the run buffer. */
static void test_batch_keep_patterns(void **state) {
    (void)state;
    sl_schema s;
    sl_schema_init(&s);
    sl_schema_add(&s, "i", SL_T_INT);
    sl_schema_add(&s, "d", SL_T_DOUBLE);
    sl_schema_add(&s, "b", SL_T_BOOL);
    sl_schema_add(&s, "s", SL_T_STRING);
    sl_schema_add(&s, "t", SL_T_TS);
    enum { N = 3000 };
    static const char xyz[] = "xyz";
    static uint8_t keep[N];
    static int64_t want[N];
    sl_batch *b = sl_batch_new(&s, N);
    unsigned seed = 7;
    const int every[] = {0, 1, 2, 3, 20, 1000, N + 1}; /* drop when rand % every == 0 */
    for (size_t e = 0; e < sizeof every / sizeof *every; e++) {
        for (int rep = 0; rep < 3; rep++) {
            sl_batch_clear(b);
            uint32_t n = (uint32_t)(N - rep * 7);
            uint32_t nw = 0;
            for (uint32_t i = 0; i < n; i++) {
                uint32_t r = sl_batch_append_null_row(b);
                if (i % 5) sl_col_set_int(&b->col[0], r, i);
                sl_col_set_double(&b->col[1], r, i * 0.5);
                if (i % 3) sl_col_set_bool(&b->col[2], r, i & 1);
                sl_col_set_str(&b->col[3], r, xyz + (i % 4), 3 - i % 4);
                sl_col_set_int(&b->col[4], r, -(int64_t)i);
                b->part[r] = (int32_t)(i % 11);
                b->pos[r] = i * 10;
                b->ingest[r] = i + 1;
                b->raw[r].ptr = "raw";
                b->raw[r].len = i % 3;
                seed = seed * 1103515245u + 12345u;
                keep[i] = every[e] == 0 ? 0 : (seed >> 16) % (unsigned)every[e] != 0;
                if (keep[i]) want[nw++] = i;
            }
            assert_int_equal(sl_batch_keep(b, keep), nw);
            assert_int_equal(b->n, nw);
            for (uint32_t r = 0; r < nw; r++) {
                int64_t i = want[r];
                assert_int_equal(b->col[0].null[r], i % 5 == 0);
                if (i % 5) assert_int_equal(b->col[0].v.i[r], i);
                assert_true(b->col[1].v.d[r] == i * 0.5);
                assert_int_equal(b->col[2].null[r], i % 3 == 0);
                if (i % 3) assert_int_equal(b->col[2].v.b[r], i & 1);
                assert_int_equal(b->col[3].v.s[r].len, 3 - i % 4);
                assert_ptr_equal(b->col[3].v.s[r].ptr, xyz + (i % 4));
                assert_int_equal(b->col[4].v.i[r], -i);
                assert_int_equal(b->part[r], i % 11);
                assert_int_equal(b->pos[r], i * 10);
                assert_int_equal(b->ingest[r], i + 1);
                assert_int_equal(b->raw[r].len, i % 3);
            }
            for (uint32_t r = nw; r < n; r++) /* rows past n are NULL again */
                for (int c = 0; c < s.n; c++)
                    assert_true(b->col[c].null[r]);
        }
    }
    sl_batch_free(b);
}

static void test_hmap(void **state) {
    (void)state;
    sl_hmap *m = sl_hmap_new(4);
    for (int64_t i = 0; i < 10000; i++)
        assert_int_equal(sl_hmap_put(m, sl_hash_int(i, 0), i, NULL), 1);
    assert_int_equal(sl_hmap_put(m, sl_hash_int(5, 0), 99, NULL), 0);
    assert_int_equal(*sl_hmap_get(m, sl_hash_int(5, 0)), 5);
    for (int64_t i = 0; i < 10000; i += 2)
        assert_int_equal(sl_hmap_del(m, sl_hash_int(i, 0)), 1);
    assert_int_equal(sl_hmap_count(m), 5000);
    for (int64_t i = 0; i < 10000; i++) {
        int64_t *v = sl_hmap_get(m, sl_hash_int(i, 0));
        if (i % 2) {
            assert_non_null(v);
            assert_int_equal(*v, i);
        } else {
            assert_null(v);
        }
    }
    size_t it = 0, seen = 0;
    uint64_t k;
    int64_t v;
    while (sl_hmap_next(m, &it, &k, &v))
        seen++;
    assert_int_equal(seen, 5000);
    assert_int_equal(sl_hmap_put(m, 0, 7, NULL), 1);
    assert_int_equal(*sl_hmap_get(m, 0), 7);
    sl_hmap_free(m);
}

static void test_time(void **state) {
    (void)state;
    int64_t us;
    assert_int_equal(sl_time_parse_iso("2026-01-01T00:05:00Z", 20, &us), 0);
    char buf[64];
    sl_time_format_iso(us, buf, sizeof buf);
    assert_string_equal(buf, "2026-01-01T00:05:00Z");
    assert_int_equal(sl_time_parse_iso("2003-10-11T22:14:15.003+02:00", 29, &us), 0);
    sl_time_format_iso_ms(us, buf, sizeof buf);
    assert_string_equal(buf, "2003-10-11T20:14:15.003Z");
    assert_int_equal(sl_time_parse_iso("1969-12-31T23:59:59.5Z", 22, &us), 0);
    assert_int_equal(us, -500000);
    sl_time_format_iso_ms(us, buf, sizeof buf);
    assert_string_equal(buf, "1969-12-31T23:59:59.500Z");
    assert_int_not_equal(sl_time_parse_iso("2026-13-01", 10, &us), 0);
    assert_int_not_equal(sl_time_parse_iso("2026-01-01T00:00:00Q", 20, &us), 0);
    assert_int_equal(sl_duration_parse("2m", &us), 0);
    assert_int_equal(us, 120 * SL_US_PER_SEC);
    assert_int_equal(sl_duration_parse("1h30m", &us), 0);
    assert_int_equal(us, 5400 * SL_US_PER_SEC);
    assert_int_equal(sl_duration_parse("250ms", &us), 0);
    assert_int_equal(us, 250000);
    assert_int_not_equal(sl_duration_parse("2x", &us), 0);
    assert_int_equal(sl_floor_div(-1, 60), -1);
}

static void test_error(void **state) {
    (void)state;
    sl_error e;
    assert_int_equal(sl_error_at(&e, SL_EINVAL, "p.yaml", 3, 7, "unknown key '%s'", "foo"),
                     SL_EINVAL);
    assert_string_equal(e.msg, "p.yaml:3:7: unknown key 'foo'");
}

/* Wrapping an earlier message with itself as an argument (the usual way to
 * add context on the way up) must not read the buffer being written. */
static void test_error_wraps_own_message(void **state) {
    (void)state;
    sl_error e;
    sl_error_set(&e, SL_EPARSE, "syntax error near '%s'", "}");
    assert_int_equal(sl_error_set(&e, SL_EINVAL, "view '%s': %s", "daily", e.msg), SL_EINVAL);
    assert_string_equal(e.msg, "view 'daily': syntax error near '}'");
    assert_int_equal(e.code, SL_EINVAL);
    /* the message as the first argument, too */
    sl_error_set(&e, SL_EINVAL, "%s (in table %s)", e.msg, "gold");
    assert_string_equal(e.msg, "view 'daily': syntax error near '}' (in table gold)");
    sl_error_at(&e, SL_EINVAL, "p.yaml", 4, 2, "%s", e.msg);
    assert_string_equal(e.msg, "p.yaml:4:2: view 'daily': syntax error near '}' (in table gold)");
    /* a message at the limit is truncated, still terminated */
    char longmsg[SL_ERROR_MAX + 100];
    memset(longmsg, 'x', sizeof longmsg - 1);
    longmsg[sizeof longmsg - 1] = 0;
    sl_error_set(&e, SL_EINVAL, "%s", longmsg);
    sl_error_set(&e, SL_EINVAL, "ctx: %s", e.msg);
    assert_int_equal(strlen(e.msg), SL_ERROR_MAX - 1);
    assert_memory_equal(e.msg, "ctx: xxx", 8);
    assert_int_equal(sl_error_set(NULL, SL_EIO, "no sink %s", "x"), SL_EIO);
}

static void test_mem(void **state) {
    (void)state;
    char *s = sl_xstrdup("sluice");
    assert_string_equal(s, "sluice");
    free(s);
    s = sl_xstrndup("abcdef", 3);
    assert_string_equal(s, "abc");
    free(s);
    int *v = sl_xcalloc(0, sizeof *v); /* 0 bytes still gives a pointer */
    assert_non_null(v);
    v = sl_xreallocarray(v, 1000, sizeof *v);
    v[999] = 7;
    v = sl_xrealloc(v, 2000 * sizeof *v);
    assert_int_equal(v[999], 7);
    free(v);
}

/* An allocation that cannot succeed aborts with a message naming the size. */
static void test_mem_oom_aborts(void **state) {
    (void)state;
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dup2(fds[1], 2);
        close(fds[0]);
        void *p = sl_xcalloc(SIZE_MAX / 2, 4); /* n * size overflows */
        (void)p;
        _exit(0);
    }
    close(fds[1]);
    char out[256] = {0};
    size_t got = 0;
    ssize_t r;
    while (got < sizeof out - 1 && (r = read(fds[0], out + got, sizeof out - 1 - got)) > 0)
        got += (size_t)r;
    close(fds[0]);
    int st = 0;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFSIGNALED(st));
    assert_int_equal(WTERMSIG(st), SIGABRT);
    assert_non_null(strstr(out, "sluice: out of memory (calloc"));
}

/* The value set of count_distinct: against brute force over values that
 * include 0 (kept outside the table), values that all hash to one home slot
 * (multiples of the inverse of the Fibonacci constant), and enough values to
 * grow it many times; iteration yields every value once. */
static int cmp_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

static void test_hset(void **state) {
    (void)state;
    enum { N = 20000 };
    uint64_t c = 0x9e3779b97f4a7c15ULL, inv = c, rng = 88172645463325252ULL;
    for (int i = 0; i < 6; i++)
        inv *= 2 - c * inv;
    uint64_t *v = malloc(N * sizeof *v), *got = malloc(N * sizeof *v);
    sl_hset *s = sl_hset_new(0);
    size_t want = 0, bytes0 = sl_hset_bytes(s);
    for (int i = 0; i < N; i++) {
        rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
        switch (i % 3) {
        case 0:
            v[i] = inv * (1 + rng % 3000); /* (v * c) < 3001: every one at home slot 0 */
            break;
        case 1:
            v[i] = rng % 7 == 0 ? 0 : rng;
            break;
        default:
            v[i] = (uint64_t)(i / 3);
        }
        bool seen = false;
        for (int j = 0; j < i && !seen; j++)
            seen = v[j] == v[i];
        want += !seen;
        assert_int_equal(sl_hset_add(s, v[i]), !seen);
        assert_int_equal(sl_hset_count(s), want);
        if (i % 5000 == 0) assert_int_equal(sl_hset_add(s, v[i]), 0);
    }
    assert_true(sl_hset_bytes(s) > bytes0); /* it grew */
    /* at most 21.4 bytes per value: load >= 0.375 after doubling */
    assert_true(sl_hset_bytes(s) <= want * 8 / 0.375 + 64);
    size_t it = 0, n = 0;
    uint64_t x;
    while (sl_hset_next(s, &it, &x))
        got[n++] = x;
    assert_int_equal(n, want);
    qsort(got, n, sizeof *got, cmp_u64);
    for (size_t i = 1; i < n; i++)
        assert_true(got[i] != got[i - 1]);
    for (int i = 0; i < N; i++)
        assert_non_null(bsearch(&v[i], got, n, sizeof *got, cmp_u64));
    sl_hset_clear(s);
    assert_int_equal(sl_hset_count(s), 0);
    assert_int_equal(sl_hset_add(s, 0), 1);
    assert_int_equal(sl_hset_add(s, v[0]), 1);
    assert_int_equal(sl_hset_count(s), 2);
    sl_hset_free(s);
    free(v), free(got);
}

/* After a batch that needed several chunks, a reset leaves one chunk that
 * holds as much: the next batch of that size is one contiguous bump run. */
static void test_arena_reuse(void **state) {
    (void)state;
    sl_arena *a = sl_arena_new(1024);
    for (int round = 0; round < 3; round++) {
        char *p[10];
        for (int i = 0; i < 10; i++) {
            p[i] = sl_arena_alloc(a, 1000);
            memset(p[i], i, 1000);
        }
        if (round > 0)
            for (int i = 1; i < 10; i++)
                assert_ptr_equal(p[i], p[i - 1] + 1000); /* one chunk, no malloc */
        for (int i = 0; i < 10; i++)
            assert_int_equal(p[i][999], i);
        sl_arena_reset(a);
        assert_int_equal(sl_arena_used(a), 0);
    }
    sl_arena_free(a);
}

/* sl_batch_reset_schema keeps a column's buffers when the value size is the
 * same, and the batch then reads exactly as a fresh one: all NULL, zeros. */
static void test_batch_reset_schema_reuse(void **state) {
    (void)state;
    sl_schema s1, s2;
    sl_schema_init(&s1);
    sl_schema_add(&s1, "a", SL_T_INT);
    sl_schema_add(&s1, "b", SL_T_STRING);
    sl_schema_add(&s1, "c", SL_T_BOOL);
    sl_schema_init(&s2);
    sl_schema_add(&s2, "x", SL_T_DOUBLE); /* 8 bytes, like int: kept */
    sl_schema_add(&s2, "y", SL_T_INT);    /* not a string's size: new buffer */
    sl_schema_add(&s2, "z", SL_T_BOOL);
    sl_schema_add(&s2, "w", SL_T_TS); /* a new column */
    sl_batch *b = sl_batch_new(&s1, 64);
    for (int i = 0; i < 64; i++) {
        uint32_t r = sl_batch_append_null_row(b);
        sl_col_set_int(&b->col[0], r, i + 1);
        sl_col_set_str(&b->col[1], r, "s", 1);
        sl_col_set_bool(&b->col[2], r, true);
    }
    void *a_vals = b->col[0].v.p;
    sl_batch_reset_schema(b, &s2);
    assert_ptr_equal(b->col[0].v.p, a_vals);
    assert_int_equal(b->schema.n, 4);
    assert_int_equal(b->n, 0);
    for (int c = 0; c < 4; c++) {
        assert_int_equal(b->col[c].type, s2.f[c].type);
        for (int i = 0; i < 64; i++)
            assert_int_equal(b->col[c].null[i], 1);
    }
    for (int i = 0; i < 64; i++) {
        assert_true(b->col[0].v.d[i] == 0.0);
        assert_int_equal(b->col[1].v.i[i], 0);
        assert_int_equal(b->col[2].v.b[i], 0);
        assert_int_equal(b->col[3].v.i[i], 0);
    }
    sl_batch_reset_schema(b, &s1); /* and back, fewer columns */
    assert_int_equal(b->schema.n, 3);
    assert_int_equal(b->col[1].v.s[5].len, 0);
    assert_int_equal(b->col[1].null[5], 1);
    sl_batch_free(b);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_arena),
        cmocka_unit_test(test_batch_keep_and_copy),
        cmocka_unit_test(test_batch_keep_patterns),
        cmocka_unit_test(test_hmap),
        cmocka_unit_test(test_time),
        cmocka_unit_test(test_error),
        cmocka_unit_test(test_error_wraps_own_message),
        cmocka_unit_test(test_mem),
        cmocka_unit_test(test_mem_oom_aborts),
        cmocka_unit_test(test_hset),
        cmocka_unit_test(test_arena_reuse),
        cmocka_unit_test(test_batch_reset_schema_reuse),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
