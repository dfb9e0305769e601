/*
 * test_dir_identity.c - file identity in the landing-directory source
 * (src/sources/dir.c): inode + fingerprint instead of names, so the writers
 * people have are read exactly once: a file renamed into place over one of
 * the same name, rename rotation (app.log -> app.log.1, new app.log),
 * copytruncate, truncation, a reused inode, and checkpoints written with
 * name-only rows. Every test reads with a live source and again across a
 * "restart" (positions saved the way the engine's commit does, restored into
 * a fresh source).
 */
#include <setjmp.h> /* cmocka.h needs these four first */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <fcntl.h>
#include <ftw.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/error.h"
#include "sources/dir.h"

#define TMPDIR_PREFIX "/tmp/sl_dir_ident_XXXXXX"
#include "../tmpdir_test.h"

static void path_of(char *p, size_t n, const char *name) { snprintf(p, n, "%s/%s", dir, name); }

static void put(const char *name, const char *text, const char *mode) {
    char p[1024];
    path_of(p, sizeof p, name);
    FILE *f = fopen(p, mode);
    assert_non_null(f);
    fwrite(text, 1, strlen(text), f);
    fclose(f);
}

static void mv(const char *from, const char *to) {
    char a[1024], b[1024];
    path_of(a, sizeof a, from);
    path_of(b, sizeof b, to);
    assert_int_equal(rename(a, b), 0);
}

static ino_t ino_of(const char *name) {
    char p[1024];
    struct stat st;
    path_of(p, sizeof p, name);
    assert_int_equal(stat(p, &st), 0);
    return st.st_ino;
}

/* n lines "<tag><i>" of 41 bytes, from `from` */
static char *lines(const char *tag, int from, int n) {
    char *s = calloc((size_t)n * 41 + 1, 1);
    for (int i = 0; i < n; i++)
        sprintf(s + strlen(s), "%s%06d.................................\n", tag, from + i);
    return s;
}

static void put_lines(const char *name, const char *tag, int from, int n, const char *mode) {
    char *s = lines(tag, from, n);
    put(name, s, mode);
    free(s);
}

/* the "store": row name -> committed position */
typedef struct {
    char name[64][96];
    int64_t pos[64];
    int n;
} store_t;

static void store_put(void *ud, const char *name, int64_t pos) {
    store_t *s = ud;
    for (int i = 0; i < s->n; i++)
        if (!strcmp(s->name[i], name)) {
            s->pos[i] = pos;
            return;
        }
    assert_true(s->n < 64);
    snprintf(s->name[s->n], sizeof s->name[0], "%s", name);
    s->pos[s->n++] = pos;
}

/* Reads everything ready, appends the lines to out (one string). */
static int drain(sl_dir_source *d, bool final, char *out) {
    int n = 0;
    for (;;) {
        const char *buf;
        size_t len;
        int32_t part;
        int64_t base;
        sl_error err = {0};
        int rc = sl_dir_next(d, final, &buf, &len, &part, &base, &err);
        assert_true(rc >= 0);
        if (rc == 0) return n;
        for (size_t i = 0; i < len; i++)
            n += buf[i] == '\n';
        if (out) strncat(out, buf, len);
        sl_dir_consume(d, len);
    }
}

static void commit(sl_dir_source *d, store_t *st) {
    sl_dir_each_dirty(d, store_put, st);
    sl_dir_clear_dirty(d);
    sl_error err = {0};
    assert_true(sl_dir_committed(d, &err) >= 0);
}

static sl_dir_source *open_restore(const store_t *st) {
    sl_error err = {0};
    sl_dir_source *d = sl_dir_open(dir, "app.log*", &err);
    assert_non_null(d);
    for (int i = 0; st && i < st->n; i++)
        sl_dir_restore(d, st->name[i], st->pos[i]);
    assert_int_equal(sl_dir_scan(d, &err), 0);
    return d;
}

static void scan(sl_dir_source *d) {
    sl_error err = {0};
    assert_int_equal(sl_dir_scan(d, &err), 0);
}

static char out[1 << 16];

/* Every line of `tag` from..from+n-1 is in out exactly once. */
static void assert_once(const char *tag, int from, int n) {
    for (int i = from; i < from + n; i++) {
        char l[64];
        snprintf(l, sizeof l, "%s%06d.", tag, i);
        char *p = strstr(out, l);
        if (!p) fail_msg("%s missing", l);
        if (strstr(p + 1, l)) fail_msg("%s twice", l);
    }
}

/* A dot-file renamed into place over a file of the same name already read:
 * the new content is read, live and after a restart. */
static void test_rename_into_place_replaces(void **state) {
    (void)state;
    put_lines("app.log", "a", 0, 20, "w");
    sl_dir_source *d = open_restore(NULL);
    out[0] = 0;
    assert_int_equal(drain(d, false, out), 20);
    store_t st = {0};
    commit(d, &st);
    put_lines(".tmp", "b", 0, 30, "w");
    mv(".tmp", "app.log");
    scan(d);
    assert_int_equal(drain(d, false, out), 30);
    assert_once("a", 0, 20);
    assert_once("b", 0, 30);
    commit(d, &st);
    sl_dir_free(d);
    /* restart: nothing again; then a third version while stopped */
    d = open_restore(&st);
    assert_int_equal(drain(d, true, NULL), 0);
    sl_dir_free(d);
    put_lines(".tmp", "c", 0, 25, "w");
    mv(".tmp", "app.log");
    d = open_restore(&st);
    out[0] = 0;
    assert_int_equal(drain(d, true, out), 25);
    assert_once("c", 0, 25);
    sl_dir_free(d);
}

/* Rename rotation: app.log -> app.log.1 (its writer still appends to it),
 * a new app.log. The rotated file is read on to its end, the new one from 0. */
static void test_rename_rotation(void **state) {
    (void)state;
    put_lines("app.log", "a", 0, 10, "w");
    sl_dir_source *d = open_restore(NULL);
    out[0] = 0;
    assert_int_equal(drain(d, false, out), 10);
    store_t st = {0};
    commit(d, &st);
    put_lines("app.log", "a", 10, 5, "a"); /* unread when rotated */
    ino_t a = ino_of("app.log");
    mv("app.log", "app.log.1");
    put_lines("app.log.1", "a", 15, 5, "a"); /* the writer had it open */
    put_lines("app.log", "b", 0, 7, "w");
    scan(d);
    assert_int_equal(drain(d, false, out), 17);
    assert_int_equal(ino_of("app.log.1"), a);
    assert_once("a", 0, 20);
    assert_once("b", 0, 7);
    /* the rotated file is named by its new name */
    bool seen = false;
    for (int i = 0; i < sl_dir_count(d); i++)
        seen |= !strcmp(sl_dir_names(d)[i], "app.log.1");
    assert_true(seen);
    commit(d, &st);
    sl_dir_free(d);
    /* restart after a second rotation while stopped */
    put_lines("app.log", "b", 7, 3, "a");
    mv("app.log.1", "app.log.2");
    mv("app.log", "app.log.1");
    put_lines("app.log", "c", 0, 4, "w");
    d = open_restore(&st);
    out[0] = 0;
    assert_int_equal(drain(d, true, out), 7);
    assert_once("b", 7, 3);
    assert_once("c", 0, 4);
    sl_dir_free(d);
}

/* Rotation to a name outside the pattern: the rotated file is still read to
 * its end (followed by inode). */
static void test_rotation_out_of_pattern(void **state) {
    (void)state;
    put_lines("app.log", "a", 0, 10, "w");
    sl_error err = {0};
    sl_dir_source *d = sl_dir_open(dir, "*.log", &err);
    assert_non_null(d);
    scan(d);
    assert_int_equal(drain(d, false, NULL), 10);
    put_lines("app.log", "a", 10, 5, "a");
    mv("app.log", "app.log.1");
    put_lines("app.log.1", "a", 15, 2, "a");
    put_lines("app.log", "b", 0, 3, "w");
    scan(d);
    out[0] = 0;
    assert_int_equal(drain(d, false, out), 10);
    assert_once("a", 10, 7);
    assert_once("b", 0, 3);
    store_t st = {0};
    commit(d, &st);
    sl_dir_free(d);
    /* rotated out of the pattern while stopped: read to its end after a restart */
    put_lines("app.log", "b", 3, 4, "a");
    mv("app.log.1", "app.log.2");
    mv("app.log", "app.log.1");
    put_lines("app.log.1", "b", 7, 2, "a");
    put_lines("app.log", "c", 0, 5, "w");
    d = sl_dir_open(dir, "*.log", &err);
    assert_non_null(d);
    for (int i = 0; i < st.n; i++)
        sl_dir_restore(d, st.name[i], st.pos[i]);
    scan(d);
    out[0] = 0;
    assert_int_equal(drain(d, true, out), 11);
    assert_once("b", 3, 6);
    assert_once("c", 0, 5);
    sl_dir_free(d);
}

/* Truncation: a size below the position starts the file again from 0 and is
 * counted; also when it happens while stopped. */
static void test_truncation(void **state) {
    (void)state;
    put_lines("app.log", "a", 0, 10, "w");
    sl_dir_source *d = open_restore(NULL);
    assert_int_equal(drain(d, false, NULL), 10);
    store_t st = {0};
    commit(d, &st);
    put_lines("app.log", "b", 0, 3, "w"); /* truncated and rewritten, shorter */
    scan(d);
    out[0] = 0;
    assert_int_equal(drain(d, false, out), 3);
    assert_once("b", 0, 3);
    assert_int_equal(sl_dir_truncated(d), 1);
    commit(d, &st);
    sl_dir_free(d);
    /* while stopped: truncated, rewritten longer (the head differs) */
    put_lines("app.log", "c", 0, 12, "w");
    d = open_restore(&st);
    out[0] = 0;
    assert_int_equal(drain(d, true, out), 12);
    assert_once("c", 0, 12);
    commit(d, &st);
    sl_dir_free(d);
    /* truncated to less than the position while stopped: counted */
    put_lines("app.log", "d", 0, 2, "w");
    d = open_restore(&st);
    out[0] = 0;
    assert_int_equal(drain(d, true, out), 2);
    assert_once("d", 0, 2);
    assert_int_equal(sl_dir_truncated(d), 1);
    sl_dir_free(d);
}

/* Truncated and rewritten with the same first line (a header): still read
 * from 0, live and while stopped. */
static void test_truncation_same_head(void **state) {
    (void)state;
    put("app.log", "ts,v\n1,a\n2,b\n", "w");
    sl_dir_source *d = open_restore(NULL);
    assert_int_equal(drain(d, false, NULL), 3);
    store_t st = {0};
    commit(d, &st);
    put("app.log", "ts,v\n3,c\n", "w");
    scan(d);
    out[0] = 0;
    assert_int_equal(drain(d, false, out), 2);
    assert_string_equal(out, "ts,v\n3,c\n");
    commit(d, &st);
    sl_dir_free(d);
    put("app.log", "ts,v\n", "w");
    d = open_restore(&st);
    out[0] = 0;
    assert_int_equal(drain(d, true, out), 1);
    assert_string_equal(out, "ts,v\n");
    sl_dir_free(d);
}

/* copytruncate: app.log copied to app.log.1 (a new inode with the same head),
 * then truncated. The copy resumes where app.log was read to, so the lines
 * written before the copy are read once; the new app.log from 0. */
static void test_copytruncate(void **state) {
    (void)state;
    put_lines("app.log", "a", 0, 10, "w"); /* 400 bytes: a full fingerprint */
    sl_dir_source *d = open_restore(NULL);
    assert_int_equal(drain(d, false, NULL), 10);
    store_t st = {0};
    commit(d, &st);
    put_lines("app.log", "a", 10, 5, "a"); /* unread at the copy */
    char a[1024], b[1024], cmd[2200];
    path_of(a, sizeof a, "app.log");
    path_of(b, sizeof b, "app.log.1");
    snprintf(cmd, sizeof cmd, "cp '%s' '%s'", a, b);
    assert_int_equal(system(cmd), 0);
    assert_int_equal(truncate(a, 0), 0);
    put_lines("app.log", "b", 0, 6, "a");
    scan(d);
    out[0] = 0;
    assert_int_equal(drain(d, false, out), 11);
    assert_once("a", 10, 5);
    assert_once("b", 0, 6);
    assert_int_equal(sl_dir_truncated(d), 1);
    commit(d, &st);
    sl_dir_free(d);
    /* and again while stopped */
    put_lines("app.log", "b", 6, 10, "a"); /* b is now 16 lines: a full fingerprint */
    d = open_restore(&st);
    assert_int_equal(drain(d, true, NULL), 10);
    commit(d, &st);
    sl_dir_free(d);
    put_lines("app.log", "b", 16, 4, "a");
    snprintf(cmd, sizeof cmd, "mv '%s' '%s.2' && cp '%s' '%s'", b, b, a, b);
    assert_int_equal(system(cmd), 0);
    assert_int_equal(truncate(a, 0), 0);
    put_lines("app.log", "c", 0, 3, "a");
    d = open_restore(&st);
    out[0] = 0;
    assert_int_equal(drain(d, true, out), 7);
    assert_once("b", 16, 4);
    assert_once("c", 0, 3);
    sl_dir_free(d);
}

/* copytruncate of a file read while it was shorter than a fingerprint: the
 * copy is still recognised (it starts with the truncated file's head). */
static void test_copytruncate_short(void **state) {
    (void)state;
    put_lines("app.log", "a", 0, 2, "w"); /* 82 bytes */
    sl_dir_source *d = open_restore(NULL);
    assert_int_equal(drain(d, false, NULL), 2);
    store_t st = {0};
    commit(d, &st);
    sl_dir_free(d);
    put_lines("app.log", "a", 2, 20, "a"); /* while stopped */
    char a[1024], b[1024], cmd[2200];
    path_of(a, sizeof a, "app.log");
    path_of(b, sizeof b, "app.log.1");
    snprintf(cmd, sizeof cmd, "cp '%s' '%s'", a, b);
    assert_int_equal(system(cmd), 0);
    assert_int_equal(truncate(a, 0), 0);
    put_lines("app.log", "b", 0, 1, "a");
    d = open_restore(&st);
    out[0] = 0;
    assert_int_equal(drain(d, true, out), 21);
    assert_once("a", 2, 20);
    assert_once("b", 0, 1);
    sl_dir_free(d);
}

/* A file deleted and a new one created under its name (the inode may well
 * be reused): the new content is read from 0. */
static void test_deleted_and_recreated(void **state) {
    (void)state;
    put_lines("app.log", "a", 0, 5, "w");
    sl_dir_source *d = open_restore(NULL);
    assert_int_equal(drain(d, false, NULL), 5);
    store_t st = {0};
    commit(d, &st);
    char p[1024];
    path_of(p, sizeof p, "app.log");
    assert_int_equal(unlink(p), 0);
    put_lines("app.log", "b", 0, 9, "w");
    scan(d);
    out[0] = 0;
    assert_int_equal(drain(d, false, out), 9);
    assert_once("b", 0, 9);
    commit(d, &st);
    sl_dir_free(d);
    /* while stopped */
    assert_int_equal(unlink(p), 0);
    put_lines("app.log", "c", 0, 11, "w");
    d = open_restore(&st);
    out[0] = 0;
    assert_int_equal(drain(d, true, out), 11);
    assert_once("c", 0, 11);
    sl_dir_free(d);
}

/* A checkpoint of the version before identities (name-only rows): the file
 * resumes; the next commit writes its identity row and overwrites the
 * name-only one with -1; a later file of that name is not skipped. */
static void test_name_only_rows(void **state) {
    (void)state;
    put_lines("app.log", "a", 0, 10, "w");
    store_t st = {0};
    store_put(&st, "app.log", 4 * 41); /* 4 lines read by the old version */
    store_put(&st, "app.log.9", 80);   /* a file no longer there */
    sl_dir_source *d = open_restore(&st);
    out[0] = 0;
    assert_int_equal(drain(d, true, out), 6);
    assert_once("a", 4, 6);
    commit(d, &st);
    int legacy = 0, ident = 0;
    for (int i = 0; i < st.n; i++) {
        if (!strcmp(st.name[i], "app.log") || !strcmp(st.name[i], "app.log.9"))
            legacy++, assert_int_equal(st.pos[i], -1);
        else if (!strncmp(st.name[i], "app.log#", 8))
            ident++, assert_int_equal(st.pos[i], 410);
    }
    assert_int_equal(legacy, 2);
    assert_int_equal(ident, 1);
    sl_dir_free(d);
    /* restart: nothing again */
    d = open_restore(&st);
    assert_int_equal(drain(d, true, NULL), 0);
    sl_dir_free(d);
    /* a file named like a retired row appears: read whole */
    put_lines("app.log.9", "z", 0, 3, "w");
    d = open_restore(&st);
    assert_int_equal(drain(d, true, NULL), 3);
    sl_dir_free(d);
}

/* A fully read file that was never committed under an identity, restored
 * from a name-only row, and already at its end: still not read again. */
static void test_name_only_row_fully_read(void **state) {
    (void)state;
    put_lines("app.log", "a", 0, 3, "w");
    store_t st = {0};
    store_put(&st, "app.log", 123);
    sl_dir_source *d = open_restore(&st);
    assert_int_equal(drain(d, true, NULL), 0);
    commit(d, &st); /* the identity row is written although nothing was read */
    sl_dir_free(d);
    d = open_restore(&st);
    assert_int_equal(drain(d, true, NULL), 0);
    sl_dir_free(d);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_rename_into_place_replaces, tmpdir_setup,
                                        tmpdir_teardown),
        cmocka_unit_test_setup_teardown(test_rename_rotation, tmpdir_setup, tmpdir_teardown),
        cmocka_unit_test_setup_teardown(test_rotation_out_of_pattern, tmpdir_setup,
                                        tmpdir_teardown),
        cmocka_unit_test_setup_teardown(test_truncation, tmpdir_setup, tmpdir_teardown),
        cmocka_unit_test_setup_teardown(test_truncation_same_head, tmpdir_setup, tmpdir_teardown),
        cmocka_unit_test_setup_teardown(test_copytruncate, tmpdir_setup, tmpdir_teardown),
        cmocka_unit_test_setup_teardown(test_copytruncate_short, tmpdir_setup, tmpdir_teardown),
        cmocka_unit_test_setup_teardown(test_deleted_and_recreated, tmpdir_setup, tmpdir_teardown),
        cmocka_unit_test_setup_teardown(test_name_only_rows, tmpdir_setup, tmpdir_teardown),
        cmocka_unit_test_setup_teardown(test_name_only_row_fully_read, tmpdir_setup,
                                        tmpdir_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
