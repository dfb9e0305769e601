/* test_tz.c - time zones from tzdata (core/tz.h): offsets and local -> UTC
 * across DST in a northern (Europe/Berlin, America/New_York), a southern
 * (Australia/Sydney) and a half-hour zone (Asia/Kolkata); gaps and
 * overlaps; years far past the last listed transition (the footer rule);
 * bad names; damaged files; and, as a brute force, every 11 hours from 1902 to 2150 of
 * several zones against glibc's own reader (localtime_r's tm_gmtoff), with
 * local -> UTC checked against its definition at each of those instants. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/timeutil.h"
#include "core/tz.h"

#define S SL_US_PER_SEC
#define H (3600 * S)

static int64_t iso(const char *s) {
    int64_t us = 0;
    assert_int_equal(sl_time_parse_iso(s, strlen(s), &us), 0);
    return us;
}

static sl_tz *load(const char *name) {
    sl_error e = {0};
    sl_tz *tz = sl_tz_load(name, &e);
    if (!tz) fail_msg("%s: %s", name, e.msg);
    return tz;
}

static int have_zones(void **state) {
    (void)state;
    return access("/usr/share/zoneinfo/Europe/Berlin", R_OK) == 0 ? 0 : -1;
}

static void test_utc_builtin(void **state) {
    (void)state;
    sl_tz *u = load("UTC"), *e = load("Etc/UTC");
    assert_int_equal(sl_tz_offset_us(u, iso("2024-07-01T00:00:00Z")), 0);
    assert_int_equal(sl_tz_local_to_utc(e, 12345), 12345);
    assert_string_equal(sl_tz_name(e), "Etc/UTC");
    sl_tz_free(u);
    sl_tz_free(e);
}

static void test_cached_and_refcounted(void **state) {
    (void)state;
    sl_tz *a = load("Europe/Berlin"), *b = load("Europe/Berlin");
    assert_ptr_equal(a, b);
    sl_tz_free(a);
    /* still usable through the second reference */
    assert_int_equal(sl_tz_offset_us(b, iso("2024-01-15T12:00:00Z")), 1 * H);
    sl_tz_free(b);
}

static void test_berlin(void **state) {
    (void)state;
    sl_tz *tz = load("Europe/Berlin");
    assert_int_equal(sl_tz_offset_us(tz, iso("2024-03-31T00:59:59Z")), 1 * H);
    assert_int_equal(sl_tz_offset_us(tz, iso("2024-03-31T01:00:00Z")), 2 * H);
    assert_int_equal(sl_tz_offset_us(tz, iso("2024-10-27T00:59:59Z")), 2 * H);
    assert_int_equal(sl_tz_offset_us(tz, iso("2024-10-27T01:00:00Z")), 1 * H);
    /* midnights: 23 h on 2024-03-31, 25 h on 2024-10-27 */
    int64_t m30 = sl_tz_local_to_utc(tz, iso("2024-03-31T00:00:00Z"));
    int64_t a01 = sl_tz_local_to_utc(tz, iso("2024-04-01T00:00:00Z"));
    assert_int_equal(m30, iso("2024-03-30T23:00:00Z"));
    assert_int_equal(a01 - m30, 23 * H);
    int64_t o27 = sl_tz_local_to_utc(tz, iso("2024-10-27T00:00:00Z"));
    int64_t o28 = sl_tz_local_to_utc(tz, iso("2024-10-28T00:00:00Z"));
    assert_int_equal(o28 - o27, 25 * H);
    /* the gap 02:00..03:00 moves forward to the change */
    assert_int_equal(sl_tz_local_to_utc(tz, iso("2024-03-31T02:30:00Z")),
                     iso("2024-03-31T01:00:00Z"));
    assert_int_equal(sl_tz_local_to_utc(tz, iso("2024-03-31T03:00:00Z")),
                     iso("2024-03-31T01:00:00Z"));
    /* the repeated 02:00..03:00: its first occurrence (CEST) */
    assert_int_equal(sl_tz_local_to_utc(tz, iso("2024-10-27T02:30:00Z")),
                     iso("2024-10-27T00:30:00Z"));
    assert_int_equal(sl_tz_local_to_utc(tz, iso("2024-10-27T03:00:00Z")),
                     iso("2024-10-27T02:00:00Z"));
    /* sub-second local times keep their fraction */
    assert_int_equal(sl_tz_local_to_utc(tz, iso("2024-06-01T12:00:00.250Z")),
                     iso("2024-06-01T10:00:00.250Z"));
    sl_tz_free(tz);
}

static void test_new_york(void **state) {
    (void)state;
    sl_tz *tz = load("America/New_York");
    assert_int_equal(sl_tz_offset_us(tz, iso("2024-03-10T06:59:59Z")), -5 * H);
    assert_int_equal(sl_tz_offset_us(tz, iso("2024-03-10T07:00:00Z")), -4 * H);
    assert_int_equal(sl_tz_offset_us(tz, iso("2024-11-03T05:59:59Z")), -4 * H);
    assert_int_equal(sl_tz_offset_us(tz, iso("2024-11-03T06:00:00Z")), -5 * H);
    assert_int_equal(sl_tz_local_to_utc(tz, iso("2024-03-10T00:00:00Z")),
                     iso("2024-03-10T05:00:00Z"));
    assert_int_equal(sl_tz_local_to_utc(tz, iso("2024-03-10T02:15:00Z")),
                     iso("2024-03-10T07:00:00Z"));
    assert_int_equal(sl_tz_local_to_utc(tz, iso("2024-11-03T01:30:00Z")),
                     iso("2024-11-03T05:30:00Z"));
    sl_tz_free(tz);
}

static void test_sydney_southern(void **state) {
    (void)state;
    sl_tz *tz = load("Australia/Sydney");
    assert_int_equal(sl_tz_offset_us(tz, iso("2024-01-15T00:00:00Z")), 11 * H);
    assert_int_equal(sl_tz_offset_us(tz, iso("2024-07-15T00:00:00Z")), 10 * H);
    assert_int_equal(sl_tz_offset_us(tz, iso("2024-04-06T15:59:59Z")), 11 * H);
    assert_int_equal(sl_tz_offset_us(tz, iso("2024-04-06T16:00:00Z")), 10 * H);
    assert_int_equal(sl_tz_offset_us(tz, iso("2024-10-05T15:59:59Z")), 10 * H);
    assert_int_equal(sl_tz_offset_us(tz, iso("2024-10-05T16:00:00Z")), 11 * H);
    /* new year's midnight is in DST */
    assert_int_equal(sl_tz_local_to_utc(tz, iso("2025-01-01T00:00:00Z")),
                     iso("2024-12-31T13:00:00Z"));
    /* the repeated 02:00..03:00 on 2024-04-07 and the skipped one on 2024-10-06 */
    assert_int_equal(sl_tz_local_to_utc(tz, iso("2024-04-07T02:30:00Z")),
                     iso("2024-04-06T15:30:00Z"));
    assert_int_equal(sl_tz_local_to_utc(tz, iso("2024-10-06T02:30:00Z")),
                     iso("2024-10-05T16:00:00Z"));
    sl_tz_free(tz);
}

static void test_kolkata_half_hour(void **state) {
    (void)state;
    sl_tz *tz = load("Asia/Kolkata");
    int64_t off = 5 * H + 30 * 60 * S;
    assert_int_equal(sl_tz_offset_us(tz, iso("2024-06-01T00:00:00Z")), off);
    assert_int_equal(sl_tz_offset_us(tz, iso("2300-06-01T00:00:00Z")), off);
    assert_int_equal(sl_tz_local_to_utc(tz, iso("2024-01-01T00:00:00Z")),
                     iso("2023-12-31T18:30:00Z"));
    /* days there start at :30 UTC: an hour step does not nest, half an hour does */
    assert_false(sl_tz_steps_align(tz, H, 0));
    assert_true(sl_tz_steps_align(tz, 30 * 60 * S, 0));
    sl_tz_free(tz);
}

static void test_footer_far_future(void **state) {
    (void)state;
    sl_tz *b = load("Europe/Berlin"), *n = load("America/New_York"), *s = load("Australia/Sydney");
    /* changes of 2100 and 2300 (recomputed with python3's zoneinfo) */
    static const struct {
        int z;
        int64_t at, before, after;
    } ch[] = {
        {0, 4109878800LL, 1, 2},    {0, 4128627600LL, 2, 1},    {0, 10420966800LL, 1, 2},
        {0, 10439715600LL, 2, 1},   {1, 4108690800LL, -5, -4},  {1, 4129250400LL, -4, -5},
        {1, 10419778800LL, -5, -4}, {1, 10440338400LL, -4, -5}, {2, 4110451200LL, 11, 10},
        {2, 4126176000LL, 10, 11},  {2, 10421539200LL, 11, 10}, {2, 10437868800LL, 10, 11},
    };
    sl_tz *z[] = {b, n, s};
    for (size_t i = 0; i < sizeof ch / sizeof ch[0]; i++) {
        assert_int_equal(sl_tz_offset_us(z[ch[i].z], ch[i].at * S - 1), ch[i].before * H);
        assert_int_equal(sl_tz_offset_us(z[ch[i].z], ch[i].at * S), ch[i].after * H);
    }
    assert_true(sl_tz_steps_align(b, H, 0));
    sl_tz_free(b);
    sl_tz_free(n);
    sl_tz_free(s);
}

static void test_bad_names(void **state) {
    (void)state;
    static const char *bad[] = {"",
                                "../etc/passwd",
                                "/etc/passwd",
                                "Europe/../../etc/passwd",
                                "Europe/Berlin;rm",
                                "No/Such_Zone",
                                "zone1970.tab"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        sl_error e = {0};
        assert_null(sl_tz_load(bad[i], &e));
        assert_int_not_equal(e.code, 0);
        assert_true(strlen(e.msg) > 0);
    }
    sl_error e = {0};
    assert_null(sl_tz_load(NULL, &e));
}

/* Damaged files: every truncation and a flipped byte at every offset of Europe/Berlin's file,
 * read from a private $TZDIR, load or fail with a message, never read out of bounds (the
 * sanitizer build runs this too). */
static void test_damaged_files(void **state) {
    (void)state;
    FILE *f = fopen("/usr/share/zoneinfo/Europe/Berlin", "rb");
    assert_non_null(f);
    static unsigned char buf[1 << 16];
    size_t len = fread(buf, 1, sizeof buf, f);
    fclose(f);
    assert_true(len > 100 && len < sizeof buf);
    char dir[] = "/tmp/sluice-tz-XXXXXX";
    assert_non_null(mkdtemp(dir));
    setenv("TZDIR", dir, 1);
    char path[256], name[32];
    int loaded = 0, refused = 0;
    for (size_t n = 0; n < 2 * len; n++) {
        bool trunc = n < len;
        size_t at = trunc ? n : n - len;
        snprintf(name, sizeof name, "z%zu", n);
        snprintf(path, sizeof path, "%s/%s", dir, name);
        FILE *o = fopen(path, "wb");
        assert_non_null(o);
        unsigned char saved = buf[at];
        if (!trunc) buf[at] ^= 0xa5;
        assert_int_equal(fwrite(buf, 1, trunc ? n : len, o), trunc ? n : len);
        buf[at] = saved;
        fclose(o);
        sl_error e = {0};
        sl_tz *tz = sl_tz_load(name, &e);
        if (tz) {
            loaded++;
            (void)sl_tz_offset_us(tz, iso("2024-03-31T01:00:00Z"));
            (void)sl_tz_local_to_utc(tz, iso("2024-03-31T02:30:00Z"));
            (void)sl_tz_offset_us(tz, iso("2200-07-01T00:00:00Z"));
            sl_tz_free(tz);
        } else {
            refused++;
            assert_true(strlen(e.msg) > 0);
        }
        unlink(path);
    }
    unsetenv("TZDIR");
    rmdir(dir);
    assert_true(refused > (int)len / 2);
    assert_true(loaded > 0);
}

/* Every 11h17m from 1902 to 2150: the offset equals glibc's, and local -> UTC
 * of that instant's local time is the earliest instant with that local time
 * (it is this one unless an earlier one exists, one hour or so before, in a
 * repeated hour); around gaps the skipped local time maps to the change. */
static void brute_zone(const char *name) {
    sl_tz *tz = load(name);
    char env[128];
    snprintf(env, sizeof env, ":%s", name);
    setenv("TZ", env, 1);
    tzset();
    int64_t from = iso("1902-01-01T00:00:00Z") / S, to = iso("2150-01-01T00:00:00Z") / S;
    long checked = 0;
    for (int64_t t = from; t < to; t += 11 * 3600 + 17 * 60) {
        time_t tt = (time_t)t;
        struct tm tm;
        assert_non_null(localtime_r(&tt, &tm));
        int64_t off = sl_tz_offset_us(tz, t * S);
        if (off != (int64_t)tm.tm_gmtoff * S)
            fail_msg("%s at %lld: offset %lld, glibc %ld", name, (long long)t, (long long)(off / S),
                     (long)tm.tm_gmtoff);
        int64_t local = t * S + off;
        int64_t u = sl_tz_local_to_utc(tz, local);
        assert_true(u <= t * S);
        assert_int_equal(u + sl_tz_offset_us(tz, u), local);
        /* nothing earlier within three hours (the longest repeat) has that local time */
        for (int64_t v = u - 3 * H; v < u; v += 15 * 60 * S)
            if (v + sl_tz_offset_us(tz, v) == local)
                fail_msg("%s: local %lld has an earlier instant", name, (long long)local);
        /* one hour on: a skipped local time maps to the change right after it */
        int64_t l2 = local + H / 2;
        int64_t u2 = sl_tz_local_to_utc(tz, l2);
        if (u2 + sl_tz_offset_us(tz, u2) != l2) {
            assert_true(u2 + sl_tz_offset_us(tz, u2) > l2);
            assert_true(u2 - S + sl_tz_offset_us(tz, u2 - S) <= l2);
        }
        checked++;
    }
    assert_true(checked > 190000);
    sl_tz_free(tz);
}

static void test_brute_force_against_glibc(void **state) {
    (void)state;
    static const char *zones[] = {"Europe/Berlin",   "America/New_York",  "Australia/Sydney",
                                  "Asia/Kolkata",    "America/Santiago",  "Australia/Lord_Howe",
                                  "Pacific/Chatham", "America/Sao_Paulo", "Europe/London"};
    for (size_t i = 0; i < sizeof zones / sizeof zones[0]; i++)
        brute_zone(zones[i]);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_utc_builtin),
        cmocka_unit_test(test_cached_and_refcounted),
        cmocka_unit_test(test_berlin),
        cmocka_unit_test(test_new_york),
        cmocka_unit_test(test_sydney_southern),
        cmocka_unit_test(test_kolkata_half_hour),
        cmocka_unit_test(test_footer_far_future),
        cmocka_unit_test(test_bad_names),
        cmocka_unit_test(test_damaged_files),
        cmocka_unit_test(test_brute_force_against_glibc),
    };
    if (have_zones(NULL)) {
        fprintf(stderr, "test_tz: no tzdata in /usr/share/zoneinfo\n");
        return 77;
    }
    return cmocka_run_group_tests(tests, NULL, NULL);
}
