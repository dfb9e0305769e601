/* tmpdir_test.h - a fresh temporary folder per cmocka group, removed with
 * everything in it afterwards. Include after cmocka.h, with TMPDIR_PREFIX
 * defined as a mkdtemp template ("/tmp/sl_dir_test_XXXXXX"); the folder is
 * `dir` and the group's setup and teardown are tmpdir_setup and
 * tmpdir_teardown. */
#ifndef SL_TESTS_TMPDIR_TEST_H
#define SL_TESTS_TMPDIR_TEST_H

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *dir;

static int tmpdir_rm(const char *p, const struct stat *st, int flag, struct FTW *f) {
    (void)st, (void)flag, (void)f;
    return remove(p);
}

static int tmpdir_setup(void **state) {
    (void)state;
    dir = strdup(TMPDIR_PREFIX);
    assert_non_null(mkdtemp(dir));
    return 0;
}

static int tmpdir_teardown(void **state) {
    (void)state;
    nftw(dir, tmpdir_rm, 16, FTW_DEPTH | FTW_PHYS);
    free(dir);
    return 0;
}

#endif
