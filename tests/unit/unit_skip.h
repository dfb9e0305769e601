/*
 * unit_skip.h - skipping a cmocka test without passing it off as a pass.
 *
 * cmocka's skip() alone marks the case skipped but the program still exits 0,
 * so CTest reports the whole program as passed. Instead:
 *
 *   if (!tool_there) SL_SKIP("zstd CLI not installed (apt-get install zstd)");
 *   ...
 *   return sl_unit_exit(cmocka_run_group_tests(tests, NULL, NULL));
 *
 * SL_SKIP prints "SKIP: <why>" (scripts/run-tests.sh shows that line) and
 * skips the case; sl_unit_exit turns "nothing failed, something skipped" into
 * exit code 77, the tests' SKIP_RETURN_CODE, so CTest reports the program as
 * skipped. A failure still wins: any failed case makes the exit code 1.
 */
#ifndef SL_TEST_UNIT_SKIP_H
#define SL_TEST_UNIT_SKIP_H

#include <stdio.h>

static int sl_unit_skipped __attribute__((unused));

#define SL_SKIP(why)                                                                               \
    do {                                                                                           \
        printf("      SKIP: %s\n", (why));                                                         \
        fflush(stdout);                                                                            \
        sl_unit_skipped++;                                                                         \
        skip();                                                                                    \
    } while (0)

static inline int sl_unit_exit(int failed) { return failed ? 1 : sl_unit_skipped ? 77 : 0; }

#endif
