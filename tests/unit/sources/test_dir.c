/*
 * test_dir.c - the landing-directory source (src/sources/dir.c).
 *
 * Each test works in its own mkdtemp folder. The reader loop used everywhere
 * (drain) checks the invariants on every view: it ends with '\n', base_pos is
 * exactly where the partition was consumed up to, and the bytes are the file's
 * bytes at that offset. The restart test saves positions the way the engine's
 * commit does (sl_dir_each_dirty, then sl_dir_clear_dirty), "crashes" at
 * random points and restores into a fresh source: every line must be read
 * exactly once, in name order.
 */
#include <setjmp.h> /* cmocka.h needs these four first */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include "core/error.h"
#include "sources/dir.h"

#define TMPDIR_PREFIX "/tmp/sl_dir_test_XXXXXX"
#include "../tmpdir_test.h"

static void put(const char *name, const char *text, const char *mode) {
    char p[1024];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    FILE *f = fopen(p, mode);
    assert_non_null(f);
    fwrite(text, 1, strlen(text), f);
    fclose(f);
}

static void age(const char *name, int seconds) {
    char p[1024];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    struct timeval tv[2];
    gettimeofday(&tv[0], NULL);
    tv[0].tv_sec -= seconds;
    tv[1] = tv[0];
    assert_int_equal(utimes(p, tv), 0);
}

/* Output of a drain: text read, with "<name>|" before each line. */
typedef struct {
    char *s;
    size_t n, cap;
} sbuf;

static void sb_add(sbuf *b, const char *p, size_t n) {
    if (b->n + n + 1 > b->cap) {
        b->cap = (b->n + n + 1) * 2;
        b->s = realloc(b->s, b->cap);
    }
    memcpy(b->s + b->n, p, n);
    b->n += n;
    b->s[b->n] = 0;
}

/* Expected position per partition name, to check base_pos. */
typedef struct {
    char name[64][64];
    int64_t pos[64];
    int n;
} posmap;

static int64_t *pm_get(posmap *m, const char *name) {
    for (int i = 0; i < m->n; i++)
        if (!strcmp(m->name[i], name)) return &m->pos[i];
    snprintf(m->name[m->n], 64, "%s", name);
    m->pos[m->n] = 0;
    return &m->pos[m->n++];
}

static void file_bytes(const char *name, int64_t off, size_t n, char *out) {
    char p[1024];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    int fd = open(p, O_RDONLY);
    assert_true(fd >= 0);
    assert_int_equal(pread(fd, out, n, off), (ssize_t)n);
    close(fd);
}

/* Reads views and consumes at most `max_lines` lines of each (0 = all); stops
 * after `limit` lines (0 = no limit) or when nothing is ready. Appends
 * "name|line\n" per line. */
static int drain(sl_dir_source *d, bool final, sbuf *out, posmap *pm, int max_lines, int limit) {
    int lines = 0;
    for (;;) {
        const char *buf;
        size_t len;
        int32_t part;
        int64_t base;
        sl_error err = {0};
        int rc = sl_dir_next(d, final, &buf, &len, &part, &base, &err);
        assert_true(rc >= 0);
        if (rc == 0) return lines;
        assert_true(len > 0);
        assert_int_equal(buf[len - 1], '\n');
        for (int i = 0; i < SL_DIR_PADDING; i++)
            (void)*(volatile const char *)(buf + len + i);
        assert_true(part >= 0 && part < sl_dir_count(d));
        const char *name = sl_dir_names(d)[part];
        if (pm) {
            int64_t *p = pm_get(pm, name);
            if (base != *p)
                fail_msg("%s: view at %lld, consumed up to %lld", name, (long long)base,
                         (long long)*p);
        }
        /* consume whole lines */
        size_t used = 0;
        int k = 0;
        while (used < len && (!max_lines || k < max_lines) && (!limit || lines < limit)) {
            const char *nl = memchr(buf + used, '\n', len - used);
            size_t ll = (size_t)(nl - (buf + used)) + 1;
            /* the view holds the file's bytes (a synthetic final '\n' excepted) */
            char chk[4096];
            if (ll - 1 < sizeof chk) {
                file_bytes(name, base + (int64_t)used, ll - 1, chk);
                assert_memory_equal(chk, buf + used, ll - 1);
            }
            sb_add(out, name, strlen(name));
            sb_add(out, "|", 1);
            sb_add(out, buf + used, ll);
            used += ll;
            k++;
            lines++;
        }
        sl_dir_consume(d, used);
        if (pm) {
            int64_t *p = pm_get(pm, name);
            *p = base + (int64_t)used;
            /* a synthetic '\n' at the end of the file is not a byte of the file */
            char fp[1024];
            struct stat st;
            snprintf(fp, sizeof fp, "%s/%s", dir, name);
            assert_int_equal(stat(fp, &st), 0);
            if (*p > st.st_size) *p = st.st_size;
        }
        if (limit && lines >= limit) return lines;
    }
}

static sl_dir_source *open_scan(const char *pattern) {
    sl_error err = {0};
    sl_dir_source *d = sl_dir_open(dir, pattern, &err);
    if (!d) fail_msg("open: %s", err.msg);
    assert_int_equal(sl_dir_scan(d, &err), 0);
    return d;
}

/* ------------------------------------------------------------------ tests */

static void test_open_missing(void **state) {
    (void)state;
    sl_error err = {0};
    assert_null(sl_dir_open("/nonexistent/sluice/dir", "*", &err));
    assert_int_equal(err.code, SL_EIO);
    assert_non_null(strstr(err.msg, "/nonexistent/sluice/dir"));
}

static void test_name_order_and_ignored(void **state) {
    (void)state;
    put("b.jsonl", "b1\nb2\n", "w");
    put("a.jsonl", "a1\n", "w");
    put("c.jsonl", "c1\nc2\nc3\n", "w");
    put(".hidden.jsonl", "h1\n", "w"); /* dot-file: a writer's temp name */
    put("notes.txt", "t1\n", "w");     /* does not match the pattern */
    put("a.jsonl.tmp", "x1\n", "w");   /* does not match either */
    sl_dir_source *d = open_scan("*.jsonl");
    assert_int_equal(sl_dir_count(d), 3);
    assert_string_equal(sl_dir_names(d)[0], "a.jsonl");
    assert_string_equal(sl_dir_names(d)[1], "b.jsonl");
    assert_string_equal(sl_dir_names(d)[2], "c.jsonl");
    assert_int_equal(sl_dir_pending_files(d), 3);
    assert_int_equal(sl_dir_pending_bytes(d), 3 + 6 + 9);
    sbuf out = {0};
    posmap pm = {0};
    assert_int_equal(drain(d, false, &out, &pm, 1, 0), 6);
    assert_string_equal(out.s,
                        "a.jsonl|a1\nb.jsonl|b1\nb.jsonl|b2\nc.jsonl|c1\nc.jsonl|c2\nc.jsonl|c3\n");
    sl_error err = {0};
    assert_int_equal(sl_dir_scan(d, &err), 0);
    assert_int_equal(sl_dir_pending_files(d), 0);
    assert_int_equal(sl_dir_pending_bytes(d), 0);
    free(out.s);
    sl_dir_free(d);
}

static void test_default_pattern(void **state) {
    (void)state;
    put("x", "1\n", "w");
    put(".y", "2\n", "w");
    sl_error err = {0};
    sl_dir_source *d = sl_dir_open(dir, NULL, &err);
    assert_non_null(d);
    assert_int_equal(sl_dir_scan(d, &err), 0);
    assert_int_equal(sl_dir_count(d), 1);
    sl_dir_free(d);
}

static void test_subdirectory_ignored(void **state) {
    (void)state;
    put("a.jsonl", "a1\n", "w");
    char p[1024];
    snprintf(p, sizeof p, "%s/sub.jsonl", dir); /* a folder whose name matches the pattern */
    assert_int_equal(mkdir(p, 0755), 0);
    put("z.jsonl", "z1\n", "w");
    sl_dir_source *d = open_scan("*.jsonl");
    sbuf out = {0};
    /* the folder must neither fail the source nor stop the files after it */
    for (;;) {
        const char *buf;
        size_t len;
        int32_t part;
        int64_t base;
        sl_error err = {0};
        int rc = sl_dir_next(d, true, &buf, &len, &part, &base, &err);
        if (rc < 0) fail_msg("a subdirectory matching the pattern broke the source: %s", err.msg);
        if (rc == 0) break;
        sb_add(&out, buf, len);
        sl_dir_consume(d, len);
    }
    assert_string_equal(out.s, "a1\nz1\n");
    free(out.s);
    sl_dir_free(d);
}

/* A position row names its file "NAME#INODE:LEN:HASH". */
static bool row_of(const char *row, const char *file) {
    size_t n = strlen(file);
    return !strncmp(row, file, n) && row[n] == '#';
}

static void pos_of_a(void *ud, const char *name, int64_t pos) {
    if (row_of(name, "a.jsonl")) *(int64_t *)ud = pos;
}

static void test_partial_line_held_back(void **state) {
    (void)state;
    put("a.jsonl", "l1\nl2\npart", "w");
    put("b.jsonl", "b1\n", "w");
    sl_dir_source *d = open_scan("*.jsonl");
    sbuf out = {0};
    posmap pm = {0};
    assert_int_equal(drain(d, false, &out, &pm, 0, 0), 2);
    assert_string_equal(out.s, "a.jsonl|l1\na.jsonl|l2\n");
    /* still nothing: the rest of the line may come */
    assert_int_equal(drain(d, false, &out, &pm, 0, 0), 0);
    /* the writer finishes the line */
    put("a.jsonl", "ial\nl4", "a");
    sl_error err = {0};
    assert_int_equal(sl_dir_scan(d, &err), 0);
    assert_int_equal(drain(d, false, &out, &pm, 0, 0), 1);
    assert_string_equal(out.s, "a.jsonl|l1\na.jsonl|l2\na.jsonl|partial\n");
    /* end of input (final) while a was just written: its last line may still
     * be growing, so it is held, and the input is not over */
    assert_int_equal(drain(d, true, &out, &pm, 0, 0), 0);
    assert_true(sl_dir_held(d));
    /* a has not grown for the line timeout: the last line is complete, then
     * the next file */
    age("a.jsonl", 60);
    assert_int_equal(drain(d, true, &out, &pm, 0, 0), 2);
    assert_false(sl_dir_held(d));
    assert_string_equal(out.s, "a.jsonl|l1\na.jsonl|l2\na.jsonl|partial\na.jsonl|l4\nb.jsonl|b1\n");
    /* the position of a is its size, not one past it */
    int64_t pos_a = -1;
    sl_dir_each_dirty(d, pos_of_a, &pos_a);
    assert_int_equal(pos_a, 16);
    free(out.s);
    sl_dir_free(d);
}

static void test_partial_line_of_idle_file(void **state) {
    (void)state;
    put("a.jsonl", "l1\ntail", "w");
    age("a.jsonl", 60); /* not written for a minute: the last line is complete */
    sl_dir_source *d = open_scan("*.jsonl");
    sbuf out = {0};
    posmap pm = {0};
    assert_int_equal(drain(d, false, &out, &pm, 0, 0), 2);
    assert_string_equal(out.s, "a.jsonl|l1\na.jsonl|tail\n");
    free(out.s);
    sl_dir_free(d);
}

static void test_growth_read_from_position(void **state) {
    (void)state;
    put("a.jsonl", "a1\na2\n", "w");
    put("b.jsonl", "b1\n", "w");
    sl_dir_source *d = open_scan("*.jsonl");
    sbuf out = {0};
    posmap pm = {0};
    assert_int_equal(drain(d, false, &out, &pm, 0, 0), 3);
    /* a grows after it was fully read; a new file sorts before both */
    put("a.jsonl", "a3\n", "a");
    put("0.jsonl", "z1\n", "w");
    sl_error err = {0};
    assert_int_equal(sl_dir_scan(d, &err), 0);
    assert_int_equal(sl_dir_pending_files(d), 2);
    assert_int_equal(sl_dir_pending_bytes(d), 6);
    free(out.s);
    out = (sbuf){0};
    assert_int_equal(drain(d, false, &out, &pm, 0, 0), 2);
    assert_non_null(strstr(out.s, "a.jsonl|a3\n"));
    assert_non_null(strstr(out.s, "0.jsonl|z1\n"));
    assert_null(strstr(out.s, "a1"));
    assert_null(strstr(out.s, "b1"));
    assert_int_equal(*pm_get(&pm, "a.jsonl"), 9);
    /* nothing more */
    assert_int_equal(sl_dir_scan(d, &err), 0);
    assert_int_equal(drain(d, true, &out, &pm, 0, 0), 0);
    free(out.s);
    sl_dir_free(d);
}

typedef struct {
    char name[64][64];
    int64_t pos[64];
    int n;
    int calls;
} saved;

static void save_cb(void *ud, const char *name, int64_t pos) {
    saved *s = ud;
    s->calls++;
    for (int i = 0; i < s->n; i++)
        if (!strcmp(s->name[i], name)) {
            s->pos[i] = pos;
            return;
        }
    snprintf(s->name[s->n], 64, "%s", name);
    s->pos[s->n++] = pos;
}

static void test_each_dirty(void **state) {
    (void)state;
    put("a.jsonl", "a1\na2\n", "w");
    put("b.jsonl", "b1\n", "w");
    sl_dir_source *d = open_scan("*.jsonl");
    saved sv = {0};
    sl_dir_each_dirty(d, save_cb, &sv);
    assert_int_equal(sv.calls, 0); /* nothing consumed yet */
    sbuf out = {0};
    assert_int_equal(drain(d, false, &out, NULL, 1, 1), 1); /* one line of a */
    sl_dir_each_dirty(d, save_cb, &sv);
    assert_int_equal(sv.calls, 1);
    assert_true(row_of(sv.name[0], "a.jsonl"));
    assert_int_equal(sv.pos[0], 3);
    sl_dir_clear_dirty(d);
    sv.calls = 0;
    sl_dir_each_dirty(d, save_cb, &sv);
    assert_int_equal(sv.calls, 0);
    assert_int_equal(drain(d, false, &out, NULL, 0, 0), 2);
    sl_dir_each_dirty(d, save_cb, &sv);
    assert_int_equal(sv.calls, 2);
    assert_int_equal(sv.pos[0], 6);
    assert_true(row_of(sv.name[1], "b.jsonl"));
    assert_int_equal(sv.pos[1], 3);
    free(out.s);
    sl_dir_free(d);
}

static void test_restore_positions(void **state) {
    (void)state;
    put("a.jsonl", "a1\na2\na3\n", "w");
    put("b.jsonl", "b1\nb2\n", "w");
    put("c.jsonl", "c1\n", "w");
    sl_error err = {0};
    sl_dir_source *d = sl_dir_open(dir, "*.jsonl", &err);
    sl_dir_restore(d, "a.jsonl", 9);      /* fully read */
    sl_dir_restore(d, "b.jsonl", 3);      /* one line read */
    sl_dir_restore(d, "gone.jsonl", 100); /* a file that no longer exists: harmless */
    assert_int_equal(sl_dir_scan(d, &err), 0);
    assert_int_equal(sl_dir_pending_bytes(d), 3 + 3);
    sbuf out = {0};
    posmap pm = {0};
    *pm_get(&pm, "a.jsonl") = 9;
    *pm_get(&pm, "b.jsonl") = 3;
    assert_int_equal(drain(d, false, &out, &pm, 0, 0), 2);
    assert_string_equal(out.s, "b.jsonl|b2\nc.jsonl|c1\n");
    free(out.s);
    sl_dir_free(d);
}

static uint64_t rx;
static uint64_t RND(void) {
    rx ^= rx << 13;
    rx ^= rx >> 7;
    rx ^= rx << 17;
    return rx;
}

/* Random files, random consumption, crash at random points, restore from the
 * last commit: every line exactly once, in order. */
static void test_restart_random(void **state) {
    (void)state;
    rx = 0x1234567;
    sbuf want = {0};
    char name[64], line[128];
    for (int f = 0; f < 12; f++) {
        snprintf(name, sizeof name, "f%02d.jsonl", f);
        sbuf content = {0};
        int nl = 1 + (int)(RND() % 300);
        for (int i = 0; i < nl; i++) {
            int pad = (int)(RND() % 60);
            snprintf(line, sizeof line, "{\"f\":%d,\"i\":%d,\"p\":\"%.*s\"}\n", f, i, pad,
                     "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx");
            sb_add(&content, line, strlen(line));
            sb_add(&want, name, strlen(name));
            sb_add(&want, "|", 1);
            sb_add(&want, line, strlen(line));
        }
        put(name, content.s, "w");
        free(content.s);
    }
    sbuf got = {0}; /* committed output */
    saved commit = {0};
    for (int round = 0; round < 1000; round++) {
        sl_error err = {0};
        sl_dir_source *d = sl_dir_open(dir, "*.jsonl", &err);
        for (int i = 0; i < commit.n; i++)
            sl_dir_restore(d, commit.name[i], commit.pos[i]);
        assert_int_equal(sl_dir_scan(d, &err), 0);
        sbuf pending = {0}; /* read since the last commit */
        bool done = false;
        for (int step = 0; step < 5; step++) {
            int n = drain(d, true, &pending, NULL, 1 + (int)(RND() % 7), 1 + (int)(RND() % 40));
            if (n == 0) {
                done = true;
                break;
            }
            if (RND() % 2) { /* commit */
                sl_dir_each_dirty(d, save_cb, &commit);
                sl_dir_clear_dirty(d);
                if (pending.n) sb_add(&got, pending.s, pending.n);
                pending.n = 0;
            }
        }
        free(pending.s); /* crash: uncommitted lines are lost and must be re-read */
        sl_dir_free(d);
        if (done) break;
    }
    assert_non_null(got.s);
    assert_int_equal(got.n, want.n);
    assert_string_equal(got.s, want.s);
    free(got.s);
    free(want.s);
}

/* A line longer than max_line is given once, as its first bytes and its
 * length, whether its end is in the buffer or far beyond it; the lines
 * around it are whole, and positions land on line starts. */
static void check_long_lines(size_t max_line, size_t big) {
    char *s = malloc(big + 64);
    memcpy(s, "a\n", 2);
    memset(s + 2, 'x', big);
    memcpy(s + 2 + big, "\nok\n", 5);
    put("a.jsonl", s, "w");
    free(s);
    sl_dir_source *d = open_scan("*.jsonl");
    sl_dir_set_lines(d, 0, max_line);
    sbuf out = {0};
    int longs = 0;
    for (int i = 0; i < 100; i++) {
        const char *buf;
        size_t len;
        int32_t part;
        int64_t base;
        sl_error err = {0};
        int rc = sl_dir_next(d, false, &buf, &len, &part, &base, &err);
        assert_true(rc >= 0);
        if (rc == 0) break;
        if (rc == 2) {
            longs++;
            assert_int_equal(base, 2);
            assert_int_equal(sl_dir_long_line_bytes(d), (int64_t)big);
            assert_true(len > 0 && len <= 4096 && buf[0] == 'x' && buf[len - 1] == 'x');
        } else {
            sb_add(&out, buf, len);
        }
        sl_dir_consume(d, len);
    }
    assert_int_equal(longs, 1);
    assert_string_equal(out.s, "a\nok\n");
    int64_t pos_a = -1;
    sl_dir_each_dirty(d, pos_of_a, &pos_a);
    assert_int_equal(pos_a, (int64_t)big + 6);
    free(out.s);
    sl_dir_free(d);
}

static void test_line_longer_than_max(void **state) {
    (void)state;
    check_long_lines(1u << 20, 10u << 20); /* far beyond the 4 MiB buffer */
    check_long_lines(1u << 20, 2u << 20);  /* its end in the buffer */
    check_long_lines(1u << 20, (1u << 20) + 1);
    check_long_lines(100, 5000);
}

/* A line of exactly max_line bytes is a line; one at the end of an idle file
 * without '\n' that is too long is one long line too. */
static void test_line_at_max_and_long_tail(void **state) {
    (void)state;
    put("a.jsonl", "12345\n123456\n", "w");
    sl_dir_source *d = open_scan("*.jsonl");
    sl_dir_set_lines(d, 0, 5);
    const char *buf;
    size_t len;
    int32_t part;
    int64_t base;
    sl_error err = {0};
    assert_int_equal(sl_dir_next(d, false, &buf, &len, &part, &base, &err), 1);
    assert_int_equal(len, 6);
    sl_dir_consume(d, len);
    assert_int_equal(sl_dir_next(d, false, &buf, &len, &part, &base, &err), 2);
    assert_int_equal(sl_dir_long_line_bytes(d), 6);
    sl_dir_consume(d, len);
    assert_int_equal(sl_dir_next(d, false, &buf, &len, &part, &base, &err), 0);
    sl_dir_free(d);
    put("b.jsonl", "1234567890", "w");
    d = open_scan("b.jsonl");
    sl_dir_set_lines(d, 60000000, 5);
    /* not idle yet: held, whatever its length */
    assert_int_equal(sl_dir_next(d, true, &buf, &len, &part, &base, &err), 0);
    assert_true(sl_dir_held(d));
    age("b.jsonl", 120);
    assert_int_equal(sl_dir_next(d, true, &buf, &len, &part, &base, &err), 2);
    assert_int_equal(sl_dir_long_line_bytes(d), 10);
    sl_dir_consume(d, len);
    assert_int_equal(sl_dir_next(d, true, &buf, &len, &part, &base, &err), 0);
    assert_false(sl_dir_held(d));
    sl_dir_free(d);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_open_missing),
        cmocka_unit_test_setup_teardown(test_name_order_and_ignored, tmpdir_setup, tmpdir_teardown),
        cmocka_unit_test_setup_teardown(test_default_pattern, tmpdir_setup, tmpdir_teardown),
        cmocka_unit_test_setup_teardown(test_subdirectory_ignored, tmpdir_setup, tmpdir_teardown),
        cmocka_unit_test_setup_teardown(test_partial_line_held_back, tmpdir_setup, tmpdir_teardown),
        cmocka_unit_test_setup_teardown(test_partial_line_of_idle_file, tmpdir_setup,
                                        tmpdir_teardown),
        cmocka_unit_test_setup_teardown(test_growth_read_from_position, tmpdir_setup,
                                        tmpdir_teardown),
        cmocka_unit_test_setup_teardown(test_each_dirty, tmpdir_setup, tmpdir_teardown),
        cmocka_unit_test_setup_teardown(test_restore_positions, tmpdir_setup, tmpdir_teardown),
        cmocka_unit_test_setup_teardown(test_restart_random, tmpdir_setup, tmpdir_teardown),
        cmocka_unit_test_setup_teardown(test_line_longer_than_max, tmpdir_setup, tmpdir_teardown),
        cmocka_unit_test_setup_teardown(test_line_at_max_and_long_tail, tmpdir_setup,
                                        tmpdir_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
