/*
 * test_dir_scale.c - the dir source's inotify scanning, max files per
 * trigger, cleanup after commit, and many files (src/sources/dir.c).
 *
 * The commit is simulated the way the engine does it: sl_dir_each_dirty
 * saves positions into a map (the "store"), then sl_dir_clear_dirty and
 * sl_dir_committed. A "crash" drops the source without committing and
 * restores a fresh one from the map. Every test checks that each line is
 * read exactly once.
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
#include "core/timeutil.h"
#include "sources/dir.h"

#define TMPDIR_PREFIX "/tmp/sl_dirscale_XXXXXX"
#include "../tmpdir_test.h"

static void put(const char *name, const char *text, const char *mode) {
    char p[1024];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    FILE *f = fopen(p, mode);
    assert_non_null(f);
    fwrite(text, 1, strlen(text), f);
    fclose(f);
}

static bool exists(const char *sub, const char *name) {
    char p[1024];
    snprintf(p, sizeof p, "%s/%s%s%s", dir, sub, *sub ? "/" : "", name);
    struct stat st;
    return stat(p, &st) == 0;
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

/* the "store": name -> committed position */
#define MAXP 70000
typedef struct {
    char *name[MAXP];
    int64_t pos[MAXP];
    int n;
} store_t;

static void store_put(void *ud, const char *name, int64_t pos) {
    store_t *s = ud;
    for (int i = s->n - 1; i >= 0; i--)
        if (!strcmp(s->name[i], name)) {
            s->pos[i] = pos;
            return;
        }
    assert_true(s->n < MAXP);
    s->name[s->n] = strdup(name);
    s->pos[s->n++] = pos;
}

static void store_free(store_t *s) {
    for (int i = 0; i < s->n; i++)
        free(s->name[i]);
    s->n = 0;
}

/* Reads everything ready; counts lines; returns lines read. */
static int64_t drain(sl_dir_source *d, bool final, int64_t *bytes) {
    int64_t lines = 0;
    for (;;) {
        const char *buf;
        size_t len;
        int32_t part;
        int64_t base;
        sl_error err = {0};
        int rc = sl_dir_next(d, final, &buf, &len, &part, &base, &err);
        assert_true(rc >= 0);
        if (rc == 0) break;
        for (size_t i = 0; i < len; i++)
            lines += buf[i] == '\n';
        if (bytes) *bytes += (int64_t)len;
        sl_dir_consume(d, len);
    }
    return lines;
}

static int commit(sl_dir_source *d, store_t *st) {
    sl_dir_each_dirty(d, store_put, st);
    sl_dir_clear_dirty(d);
    sl_error err = {0};
    int rc = sl_dir_committed(d, &err);
    if (rc < 0) fprintf(stderr, "%s\n", err.msg);
    return rc;
}

static sl_dir_source *open_scan(void) {
    sl_error err = {0};
    sl_dir_source *d = sl_dir_open(dir, "*.log", &err);
    assert_non_null(d);
    assert_int_equal(sl_dir_scan(d, &err), 0);
    return d;
}

static void test_inotify_new_and_growth(void **state) {
    (void)state;
    put("a.log", "1\n2\n", "w");
    sl_dir_source *d = open_scan();
    assert_true(sl_dir_watching(d));
    assert_int_equal(drain(d, false, NULL), 2);
    sl_error err = {0};
    /* nothing changed: a scan adds nothing */
    assert_int_equal(sl_dir_scan(d, &err), 0);
    assert_int_equal(sl_dir_count(d), 1);
    assert_int_equal(drain(d, false, NULL), 0);
    /* new files and growth come from events */
    put("c.log", "c1\n", "w");
    put("b.log", "b1\nb2\n", "w");
    put(".hidden.log", "x\n", "w");
    put("other.txt", "x\n", "w");
    put("a.log", "3\n", "a");
    assert_int_equal(sl_dir_pending_files(d), 0); /* not scanned yet */
    assert_int_equal(sl_dir_scan(d, &err), 0);
    assert_int_equal(sl_dir_count(d), 3);
    assert_string_equal(sl_dir_names(d)[1], "b.log"); /* sorted within the scan */
    assert_string_equal(sl_dir_names(d)[2], "c.log");
    assert_int_equal(sl_dir_pending_files(d), 3);
    assert_int_equal(sl_dir_pending_bytes(d), 2 + 6 + 3);
    assert_int_equal(drain(d, false, NULL), 4);
    assert_int_equal(sl_dir_pending_files(d), 0);
    assert_int_equal(sl_dir_pending_bytes(d), 0);
    /* a file renamed into place */
    put(".tmp", "r1\nr2\n", "w");
    char a[1024], b[1024];
    snprintf(a, sizeof a, "%s/.tmp", dir);
    snprintf(b, sizeof b, "%s/d.log", dir);
    assert_int_equal(rename(a, b), 0);
    assert_int_equal(sl_dir_scan(d, &err), 0);
    assert_int_equal(drain(d, false, NULL), 2);
    sl_dir_free(d);
}

/* More events than the kernel queues (16384 by default): the overflow
 * brings a full rescan and nothing is missed or read twice. */
static void test_overflow_and_many_files(void **state) {
    (void)state;
    sl_dir_source *d = open_scan();
    const int N = 20000;
    char name[64], line[128];
    for (int i = 0; i < N; i++) {
        snprintf(name, sizeof name, "f%06d.log", i);
        snprintf(line, sizeof line, "{\"i\":%d}\n{\"i\":%d}\n", i, i);
        put(name, line, "w");
    }
    sl_error err = {0};
    assert_int_equal(sl_dir_scan(d, &err), 0);
    assert_int_equal(sl_dir_count(d), N);
    for (int i = 1; i < N; i++)
        assert_true(strcmp(sl_dir_names(d)[i - 1], sl_dir_names(d)[i]) < 0);
    assert_int_equal(drain(d, false, NULL), 2 * N);
    store_t *st = calloc(1, sizeof *st);
    commit(d, st);
    assert_int_equal(st->n, N);
    /* idle scans find nothing (their cost with 20000 known files is
     * measured by tests/tools/dir_bench, `make bench`, not asserted here) */
    for (int k = 0; k < 100; k++)
        assert_int_equal(sl_dir_scan(d, &err), 0);
    assert_int_equal(drain(d, false, NULL), 0);
    /* restart: nothing is read again */
    sl_dir_free(d);
    d = sl_dir_open(dir, "*.log", &err);
    for (int i = 0; i < st->n; i++)
        sl_dir_restore(d, st->name[i], st->pos[i]);
    assert_int_equal(sl_dir_scan(d, &err), 0);
    assert_int_equal(sl_dir_pending_files(d), 0);
    assert_int_equal(drain(d, true, NULL), 0);
    sl_dir_free(d);
    store_free(st);
    free(st);
}

static void test_max_files(void **state) {
    (void)state;
    char name[32];
    for (int i = 0; i < 10; i++) {
        snprintf(name, sizeof name, "m%02d.log", i);
        put(name, "x\n", "w");
    }
    sl_dir_source *d = open_scan();
    sl_dir_set_max_files(d, 3);
    sl_error err = {0};
    assert_int_equal(drain(d, false, NULL), 3);
    assert_int_equal(drain(d, false, NULL), 0); /* until the next scan */
    assert_int_equal(sl_dir_pending_files(d), 7);
    assert_int_equal(sl_dir_scan(d, &err), 0);
    assert_int_equal(drain(d, false, NULL), 3);
    assert_int_equal(drain(d, true, NULL), 4); /* final drains the rest */
    sl_dir_free(d);
}

static void test_cleanup_delete(void **state) {
    (void)state;
    put("a.log", "a1\na2\n", "w");
    put("b.log", "b1\n", "w");
    put("c.log", "c1\nc2-partial", "w"); /* last line incomplete: not fully read */
    age("a.log", 10);
    age("b.log", 10);
    sl_dir_source *d = open_scan();
    sl_error err = {0};
    assert_int_equal(sl_dir_set_cleanup(d, SL_DIR_CLEANUP_DELETE, NULL, &err), 0);
    store_t *st = calloc(1, sizeof *st);
    /* read but not committed: nothing is deleted */
    assert_int_equal(drain(d, false, NULL), 4);
    assert_int_equal(sl_dir_committed(d, &err), 0);
    assert_true(exists("", "a.log"));
    /* committed: a and b go, c stays (not fully read) */
    assert_int_equal(commit(d, st), 2);
    assert_false(exists("", "a.log"));
    assert_false(exists("", "b.log"));
    assert_true(exists("", "c.log"));
    assert_int_equal(sl_dir_cleaned(d), 2);
    put("c.log", "\n", "a"); /* its writer finishes the line (until then c blocks later files) */
    assert_int_equal(sl_dir_scan(d, &err), 0);
    assert_int_equal(drain(d, false, NULL), 1);
    assert_int_equal(commit(d, st), 1);
    assert_false(exists("", "c.log"));
    /* re-delivered copy of a (same size): skipped, and cleaned again */
    put("a.log", "a1\na2\n", "w");
    assert_int_equal(sl_dir_scan(d, &err), 0);
    assert_int_equal(drain(d, false, NULL), 0);
    age("a.log", 10);
    assert_int_equal(commit(d, st), 1);
    assert_false(exists("", "a.log"));
    /* same name, longer: only the bytes beyond the position are read */
    put("b.log", "b1\nb2\n", "w");
    assert_int_equal(sl_dir_scan(d, &err), 0);
    int64_t bytes = 0;
    assert_int_equal(drain(d, false, &bytes), 1);
    assert_int_equal(bytes, 3);
    sl_dir_free(d);
    store_free(st);
    free(st);
}

static void test_cleanup_move_and_writer_open(void **state) {
    (void)state;
    char arch[1024], p[1024];
    snprintf(arch, sizeof arch, "%s/archive", dir);
    sl_dir_source *d = open_scan();
    sl_error err = {0};
    assert_int_equal(sl_dir_set_cleanup(d, SL_DIR_CLEANUP_MOVE, NULL, &err), SL_EINVAL);
    assert_int_equal(sl_dir_set_cleanup(d, SL_DIR_CLEANUP_MOVE, dir, &err), SL_EINVAL);
    assert_int_equal(sl_dir_set_cleanup(d, SL_DIR_CLEANUP_MOVE, arch, &err), 0);
    put("x.log", "x1\n", "w"); /* closed: inotify says the writer is done */
    snprintf(p, sizeof p, "%s/w.log", dir);
    int wfd = open(p, O_WRONLY | O_CREAT, 0644); /* a writer still holding it */
    assert_true(write(wfd, "w1\n", 3) == 3);
    assert_int_equal(sl_dir_scan(d, &err), 0);
    store_t *st = calloc(1, sizeof *st);
    assert_int_equal(drain(d, false, NULL), 2);
    assert_int_equal(commit(d, st), 1);
    assert_true(exists("archive", "x.log"));
    assert_false(exists("", "x.log"));
    assert_true(exists("", "w.log")); /* still open for writing, modified just now */
    assert_true(write(wfd, "w2\n", 3) == 3);
    close(wfd);
    assert_int_equal(sl_dir_scan(d, &err), 0);
    assert_int_equal(drain(d, false, NULL), 1);
    assert_int_equal(commit(d, st), 1);
    assert_true(exists("archive", "w.log"));
    snprintf(p, sizeof p, "%s/w.log", arch);
    FILE *f = fopen(p, "r");
    assert_non_null(f);
    char got[16] = {0};
    assert_int_equal(fread(got, 1, sizeof got, f), 6);
    fclose(f);
    assert_string_equal(got, "w1\nw2\n");
    sl_dir_free(d);
    store_free(st);
    free(st);
}

/* Crash after the commit, before the cleanup: the next run cleans them. */
static void test_cleanup_after_restart(void **state) {
    (void)state;
    put("a.log", "1\n", "w");
    put("b.log", "2\n", "w");
    age("a.log", 10);
    age("b.log", 10);
    sl_dir_source *d = open_scan();
    store_t *st = calloc(1, sizeof *st);
    assert_int_equal(drain(d, false, NULL), 2);
    sl_dir_each_dirty(d, store_put, st); /* committed, then "crash" */
    sl_dir_free(d);
    sl_error err = {0};
    d = sl_dir_open(dir, "*.log", &err);
    for (int i = 0; i < st->n; i++)
        sl_dir_restore(d, st->name[i], st->pos[i]);
    assert_int_equal(sl_dir_set_cleanup(d, SL_DIR_CLEANUP_DELETE, NULL, &err), 0);
    assert_int_equal(sl_dir_scan(d, &err), 0);
    assert_int_equal(drain(d, true, NULL), 0);
    assert_int_equal(commit(d, st), 2);
    assert_false(exists("", "a.log"));
    assert_false(exists("", "b.log"));
    sl_dir_free(d);
    store_free(st);
    free(st);
}

static void test_read_head_and_parse(void **state) {
    (void)state;
    put("h.log", "id,name\n1,a\n", "w");
    sl_dir_source *d = open_scan();
    char b[64];
    sl_error err = {0};
    assert_int_equal(sl_dir_read_head(d, 0, b, 8, &err), 8);
    assert_memory_equal(b, "id,name\n", 8);
    assert_true(sl_dir_read_head(d, 5, b, 8, &err) < 0);
    assert_int_equal(sl_dir_cleanup_parse("delete"), SL_DIR_CLEANUP_DELETE);
    assert_int_equal(sl_dir_cleanup_parse("move"), SL_DIR_CLEANUP_MOVE);
    assert_int_equal(sl_dir_cleanup_parse("none"), SL_DIR_CLEANUP_NONE);
    assert_int_equal(sl_dir_cleanup_parse("bogus"), -1);
    sl_dir_free(d);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_inotify_new_and_growth, tmpdir_setup, tmpdir_teardown),
        cmocka_unit_test_setup_teardown(test_overflow_and_many_files, tmpdir_setup,
                                        tmpdir_teardown),
        cmocka_unit_test_setup_teardown(test_max_files, tmpdir_setup, tmpdir_teardown),
        cmocka_unit_test_setup_teardown(test_cleanup_delete, tmpdir_setup, tmpdir_teardown),
        cmocka_unit_test_setup_teardown(test_cleanup_move_and_writer_open, tmpdir_setup,
                                        tmpdir_teardown),
        cmocka_unit_test_setup_teardown(test_cleanup_after_restart, tmpdir_setup, tmpdir_teardown),
        cmocka_unit_test_setup_teardown(test_read_head_and_parse, tmpdir_setup, tmpdir_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
