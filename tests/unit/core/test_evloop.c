/* test_evloop.c - the event loop's waiting (core/evloop.h): a readable pipe
 * wakes it with its tag, a timer fires on time, a signal becomes readable on
 * the signalfd instead of running a handler, and a timeout returns 0. */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/evloop.h"
#include "core/timeutil.h"

static void test_pipe_wakes_with_its_tag(void **state) {
    (void)state;
    sl_error err = {0};
    sl_evloop *l = sl_evloop_new(&err);
    assert_non_null(l);
    int p[2];
    assert_int_equal(pipe(p), 0);
    assert_int_equal(sl_evloop_add(l, p[0], 42, &err), 0);
    uint64_t tags[4];
    assert_int_equal(sl_evloop_wait(l, 0, tags, 4), 0); /* nothing ready */
    assert_int_equal(write(p[1], "x", 1), 1);
    assert_int_equal(sl_evloop_wait(l, 1000, tags, 4), 1);
    assert_int_equal(tags[0], 42);
    /* level-triggered: still ready until drained */
    assert_int_equal(sl_evloop_wait(l, 0, tags, 4), 1);
    char c;
    assert_int_equal(read(p[0], &c, 1), 1);
    assert_int_equal(sl_evloop_wait(l, 0, tags, 4), 0);
    sl_evloop_del(l, p[0]);
    close(p[0]);
    close(p[1]);
    sl_evloop_free(l);
}

static void test_timer_fires(void **state) {
    (void)state;
    sl_error err = {0};
    sl_evloop *l = sl_evloop_new(&err);
    int t = sl_timerfd_open(20000, &err); /* 20 ms */
    assert_true(t >= 0);
    assert_int_equal(sl_evloop_add(l, t, 7, &err), 0);
    int64_t t0 = sl_monotonic_us();
    uint64_t tags[4];
    assert_int_equal(sl_evloop_wait(l, 5000, tags, 4), 1);
    assert_int_equal(tags[0], 7);
    assert_true(sl_monotonic_us() - t0 >=
                15000); /* not before its time (no upper bound: a loaded machine) */
    assert_true(sl_timerfd_drain(t) >= 1);
    assert_int_equal(sl_timerfd_drain(t), 0);
    close(t);
    sl_evloop_free(l);
}

static void test_signal_is_readable(void **state) {
    (void)state;
    sl_error err = {0};
    sl_evloop *l = sl_evloop_new(&err);
    int s = sl_signalfd_open(&err);
    assert_true(s >= 0);
    assert_int_equal(sl_evloop_add(l, s, 9, &err), 0);
    assert_int_equal(sl_signalfd_read(s), 0);
    raise(SIGTERM); /* blocked: queued for the signalfd, the process lives */
    uint64_t tags[4];
    assert_int_equal(sl_evloop_wait(l, 1000, tags, 4), 1);
    assert_int_equal(tags[0], 9);
    assert_int_equal(sl_signalfd_read(s), SIGTERM);
    sl_signalfd_close(s);
    sl_evloop_free(l);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pipe_wakes_with_its_tag),
        cmocka_unit_test(test_timer_fires),
        cmocka_unit_test(test_signal_is_readable),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
