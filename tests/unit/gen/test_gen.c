/* test_gen.c - unit tests for src/gen: the cameras generator's arguments,
 * determinism (same seed, same bytes), counts, file naming, CSV quoting,
 * defect rates and the real-time mode. Each test writes into its own
 * mkdtemp folder and removes it. */
/* cmocka.h needs these four first */
// clang-format off
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
// clang-format on

#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gen/gen.h"
#include "gen/rng.h"

#define START_MS 1767225600000LL /* 2026-01-01T00:00:00Z, the default --start */

/* Runs sl_gen_cameras_main with a NULL-terminated list of arguments. */
static int gen(const char *first, ...) {
    char *argv[64];
    int argc = 0;
    argv[argc++] = (char *)"cameras";
    va_list ap;
    va_start(ap, first);
    for (const char *a = first; a; a = va_arg(ap, const char *))
        argv[argc++] = (char *)a;
    va_end(ap);
    argv[argc] = NULL;
    return sl_gen_cameras_main(argc, argv);
}

static char *tmpdir(void) {
    char *t = strdup("/tmp/test_gen_XXXXXX");
    assert_non_null(mkdtemp(t));
    return t;
}

static void rmdir_all(char *dir) {
    DIR *d = opendir(dir);
    if (d) {
        struct dirent *e;
        while ((e = readdir(d))) {
            if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
            char p[4096];
            snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
            unlink(p);
        }
        closedir(d);
    }
    rmdir(dir);
    free(dir);
}

static char *slurp(const char *dir, const char *name, size_t *len) {
    char p[4096];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    FILE *f = fopen(p, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)n + 1);
    assert_int_equal(fread(b, 1, (size_t)n, f), (size_t)n);
    b[n] = '\0';
    fclose(f);
    *len = (size_t)n;
    return b;
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorted names in dir (dotfiles included); returns count. */
static int list_dir(const char *dir, char **names, int cap) {
    DIR *d = opendir(dir);
    assert_non_null(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        assert_true(n < cap);
        names[n++] = strdup(e->d_name);
    }
    closedir(d);
    qsort(names, (size_t)n, sizeof *names, cmp_str);
    return n;
}

static void free_names(char **names, int n) {
    for (int i = 0; i < n; i++)
        free(names[i]);
}

/* Concatenation of every detections file in name order. */
static char *all_lines(const char *dir, size_t *len) {
    char *names[256];
    int n = list_dir(dir, names, 256);
    size_t total = 0;
    char *out = malloc(1);
    for (int i = 0; i < n; i++) {
        if (strncmp(names[i], "detections-", 11) != 0) continue;
        size_t l;
        char *b = slurp(dir, names[i], &l);
        out = realloc(out, total + l + 1);
        memcpy(out + total, b, l);
        total += l;
        free(b);
    }
    out[total] = '\0';
    free_names(names, n);
    *len = total;
    return out;
}

typedef struct {
    int64_t oid, cam, loc, ts;
    char item[32];
} det;

/* Parses a well-formed generated line (fixed key order); 0 if it is one. */
static int parse_line(const char *s, det *d) {
    int used = 0;
    int k = sscanf(s,
                   "{\"detection_oid\":%" SCNd64 ",\"video_camera_oid\":%" SCNd64
                   ",\"geographical_location_oid\":%" SCNd64 ",\"item_name\":\"%31[a-z]\","
                   "\"timestamp_detected\":%" SCNd64 "}%n",
                   &d->oid, &d->cam, &d->loc, d->item, &d->ts, &used);
    return k == 5 && s[used] == '\n' ? 0 : -1;
}

static void test_args(void **state) {
    (void)state;
    /* keep the usage texts of the refused calls out of the test log */
    fflush(stderr);
    int saved = dup(2), devnull = open("/dev/null", O_WRONLY);
    dup2(devnull, 2);
    assert_int_equal(gen("--help", NULL), 0);
    assert_int_equal(gen("--events", "10", NULL), 2);  /* no --out */
    assert_int_equal(gen("--out", "/tmp/x", NULL), 2); /* no mode */
    assert_int_equal(gen("--out", "/tmp/x", "--events", "1", "--rate", "5", NULL), 2);
    assert_int_equal(gen("--out", "/tmp/x", "--events", "x1", NULL), 2);
    assert_int_equal(gen("--out", "/tmp/x", "--events", "1", "--dup", "1.5", NULL), 2);
    assert_int_equal(gen("--out", "/tmp/x", "--events", "1", "--bogus", "1", NULL), 2);
    assert_int_equal(gen("--out", "/tmp/x", "--events", "1", "--start", "yesterday", NULL), 2);
    assert_int_equal(gen("--out", "/tmp/x", "--events", "1", "--duration", "3", NULL), 2);
    assert_int_equal(gen("--out", "/tmp/x", "--events", "1", "stray", NULL), 2);
    assert_int_equal(gen("--out", "/tmp/x", "--events", NULL), 2);
    assert_int_equal(gen("--out", "/tmp/x", "--events", "1", "--cameras", "0", NULL), 2);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    close(devnull);
}

static void test_rng(void **state) {
    (void)state;
    sl_rng a, b;
    sl_rng_init(&a, 42);
    sl_rng_init(&b, 42);
    for (int i = 0; i < 1000; i++)
        assert_true(sl_rng_next(&a) == sl_rng_next(&b));
    sl_rng_init(&b, 43);
    assert_true(sl_rng_next(&a) != sl_rng_next(&b));
    int hist[10] = {0};
    for (int i = 0; i < 100000; i++) {
        uint64_t x = sl_rng_below(&a, 10);
        assert_true(x < 10);
        hist[x]++;
        int64_t r = sl_rng_range(&a, -3, 3);
        assert_true(r >= -3 && r <= 3);
        double u = sl_rng_unit(&a);
        assert_true(u >= 0 && u < 1);
    }
    for (int i = 0; i < 10; i++)
        assert_true(hist[i] > 9000 && hist[i] < 11000);
    assert_int_equal(sl_rng_chance(&a, 0), 0);
    assert_int_equal(sl_rng_chance(&a, 1), 1);
}

static void test_determinism(void **state) {
    (void)state;
    char *d1 = tmpdir(), *d2 = tmpdir(), *d3 = tmpdir();
    const char *common[] = {"--events", "25000", "--malformed", "0.01", "--late", "0.02"};
    assert_int_equal(gen("--out", d1, "--seed", "7", common[0], common[1], common[2], common[3],
                         common[4], common[5], NULL),
                     0);
    assert_int_equal(gen("--out", d2, "--seed", "7", common[0], common[1], common[2], common[3],
                         common[4], common[5], NULL),
                     0);
    assert_int_equal(gen("--out", d3, "--seed", "8", common[0], common[1], common[2], common[3],
                         common[4], common[5], NULL),
                     0);
    char *n1[16], *n2[16];
    int c1 = list_dir(d1, n1, 16), c2 = list_dir(d2, n2, 16);
    assert_int_equal(c1, 4); /* locations.csv + 3 detections files */
    assert_int_equal(c2, c1);
    for (int i = 0; i < c1; i++) {
        assert_string_equal(n1[i], n2[i]);
        size_t l1, l2;
        char *b1 = slurp(d1, n1[i], &l1), *b2 = slurp(d2, n2[i], &l2);
        assert_true(l1 > 0);
        assert_int_equal(l1, l2);
        assert_memory_equal(b1, b2, l1);
        free(b1);
        free(b2);
    }
    size_t la, lb;
    char *a = all_lines(d1, &la), *b = all_lines(d3, &lb);
    assert_true(la != lb || memcmp(a, b, la) != 0); /* another seed, other bytes */
    free(a);
    free(b);
    free_names(n1, c1);
    free_names(n2, c2);
    rmdir_all(d1);
    rmdir_all(d2);
    rmdir_all(d3);
}

static void test_naming_and_counts(void **state) {
    (void)state;
    char *d = tmpdir();
    assert_int_equal(
        gen("--out", d, "--events", "20500", "--late", "0", "--file-events", "5000", NULL), 0);
    char *names[16];
    int n = list_dir(d, names, 16);
    assert_int_equal(n, 6); /* 5 detections files, locations.csv, no temp files */
    const char *want[] = {"detections-000001.ndjson", "detections-000002.ndjson",
                          "detections-000003.ndjson", "detections-000004.ndjson",
                          "detections-000005.ndjson", "locations.csv"};
    for (int i = 0; i < n; i++)
        assert_string_equal(names[i], want[i]);
    free_names(names, n);

    size_t len;
    char *all = all_lines(d, &len);
    int64_t lines = 0, dups = 0, unknown = 0, nfresh = 0;
    int64_t *fresh = calloc(20500, sizeof *fresh); /* fresh oids, increasing */
    int64_t *fresh_ts = calloc(20500, sizeof *fresh_ts);
    char *line = all;
    while (line < all + len) {
        det x;
        assert_int_equal(parse_line(line, &x), 0);
        assert_true(x.cam >= 1 && x.cam <= 500);
        assert_true(x.loc >= 1);
        if (x.loc > 50) unknown++;
        /* nominal time i/10000 s minus at most 500 ms of jitter */
        int64_t nominal = START_MS + lines / 10;
        if (nfresh == 0 || x.oid > fresh[nfresh - 1]) {
            assert_true(x.ts <= nominal && x.ts >= nominal - 500);
            fresh_ts[nfresh] = x.ts;
            fresh[nfresh++] = x.oid;
        } else { /* a redelivery: an exact copy of a line from the last ~20 s */
            int64_t lo = 0, hi = nfresh - 1;
            while (lo < hi) {
                int64_t mid = (lo + hi) / 2;
                if (fresh[mid] < x.oid)
                    lo = mid + 1;
                else
                    hi = mid;
            }
            assert_true(fresh[lo] == x.oid);
            assert_true(fresh_ts[lo] == x.ts);
            assert_true(x.ts >= nominal - 21000);
            dups++;
        }
        lines++;
        line = strchr(line, '\n') + 1;
    }
    assert_int_equal(lines, 20500);
    assert_true(dups > 20500 * 0.04 && dups < 20500 * 0.06);
    assert_true(unknown > 20500 * 0.005 && unknown < 20500 * 0.05);
    free(fresh);
    free(fresh_ts);
    free(all);

    /* a second --events run into the same folder is refused */
    assert_int_equal(gen("--out", d, "--events", "10", NULL), 1);
    rmdir_all(d);
}

static void test_locations_csv(void **state) {
    (void)state;
    char *d = tmpdir();
    assert_int_equal(gen("--out", d, "--events", "0", "--locations", "120", NULL), 0);
    size_t len;
    char *csv = slurp(d, "locations.csv", &len);
    assert_non_null(csv);
    assert_true(!strncmp(csv, "geographical_location_oid,geographical_location\n", 48));
    assert_non_null(strstr(csv, "\n1,Lisbon - Alfama\n"));
    assert_non_null(strstr(csv, "\n6,\"Washington, D.C. - Georgetown\"\n"));
    assert_non_null(strstr(csv, "\n11,\"Dublin - \"\"Temple Bar\"\"\"\n"));
    assert_non_null(strstr(csv, "\n51,Lisbon - Alfama #2\n"));
    int rows = 0;
    for (size_t i = 0; i < len; i++)
        rows += csv[i] == '\n';
    assert_int_equal(rows, 121);
    assert_int_equal(csv[len - 1], '\n');
    free(csv);
    char *names[4];
    int n = list_dir(d, names, 4);
    assert_int_equal(n, 1); /* no detections files for 0 events */
    free_names(names, n);
    rmdir_all(d);
}

static void test_late(void **state) {
    (void)state;
    char *d = tmpdir();
    assert_int_equal(gen("--out", d, "--events", "20000", "--dup", "0", "--late", "0.2",
                         "--event-rate", "100", NULL),
                     0);
    size_t len;
    char *all = all_lines(d, &len);
    int64_t i = 0, within = 0, beyond = 0;
    for (char *line = all; line < all + len; line = strchr(line, '\n') + 1, i++) {
        det x;
        assert_int_equal(parse_line(line, &x), 0);
        int64_t lag = START_MS + i * 10 - x.ts; /* 100 events/s: 10 ms apart */
        assert_true(lag >= 0 && lag <= 600500);
        if (lag >= 30000 && lag <= 100500)
            within++;
        else if (lag >= 150000)
            beyond++;
        else
            assert_true(lag <= 500);
    }
    assert_int_equal(i, 20000);
    assert_true(within > 1700 && within < 2300);
    assert_true(beyond > 1700 && beyond < 2300);
    free(all);
    rmdir_all(d);
}

static void test_malformed(void **state) {
    (void)state;
    char *d = tmpdir();
    assert_int_equal(gen("--out", d, "--events", "7000", "--malformed", "1", NULL), 0);
    size_t len;
    char *all = all_lines(d, &len);
    int kinds[7] = {0}, lines = 0;
    for (char *next = all; next < all + len; next = strchr(next, '\n') + 1, lines++) {
        char *line = next;
        size_t n = (size_t)(strchr(line, '\n') - line);
        det x;
        assert_int_not_equal(parse_line(line, &x), 0);
        char one[512]; /* the line alone, so strstr cannot run into the next one */
        assert_true(n < sizeof one);
        memcpy(one, line, n);
        one[n] = '\0';
        line = one;
        if (n == 7 && !strncmp(line, "garbage", 7))
            kinds[1]++;
        else if (strstr(line, "\"detection_oid\":\"abc\"") && line[n - 1] == '}')
            kinds[2]++;
        else if (strstr(line, "\"timestamp_detected\":1.7") && line[n - 1] == '}')
            kinds[3]++;
        else if (!strstr(line, "detection_oid") && line[n - 1] == '}')
            kinds[4]++;
        else if (!strstr(line, "timestamp_detected") && line[n - 1] == '}')
            kinds[5]++;
        else if (strstr(line, "\"geographical_location_oid\":null") && line[n - 1] == '}')
            kinds[6]++;
        else {
            assert_int_equal(line[0], '{'); /* truncated: a proper prefix of an object */
            assert_int_not_equal(line[n - 1], '}');
            kinds[0]++;
        }
    }
    assert_int_equal(lines, 7000);
    for (int k = 0; k < 7; k++)
        assert_true(kinds[k] > 800 && kinds[k] < 1200);
    free(all);
    rmdir_all(d);
}

static void test_rate_mode(void **state) {
    (void)state;
    char *d = tmpdir();
    assert_int_equal(gen("--out", d, "--rate", "2000", "--duration", "1.2", NULL), 0);
    char *names[16];
    int n = list_dir(d, names, 16);
    /* a file every 0.5 s: 3 files (0.5 s, 1.0 s, and the last 0.2 s) */
    assert_int_equal(n, 4);
    assert_string_equal(names[0], "detections-000001.ndjson");
    assert_string_equal(names[2], "detections-000003.ndjson");
    assert_string_equal(names[3], "locations.csv");
    free_names(names, n);
    size_t len;
    char *all = all_lines(d, &len);
    int lines = 0;
    for (char *line = all; line < all + len; line = strchr(line, '\n') + 1)
        lines++;
    assert_int_equal(lines, 2400);
    free(all);
    /* a second run continues the numbering */
    assert_int_equal(gen("--out", d, "--rate", "1000", "--duration", "0.4", NULL), 0);
    n = list_dir(d, names, 16);
    assert_int_equal(n, 5);
    assert_string_equal(names[3], "detections-000004.ndjson");
    free_names(names, n);
    rmdir_all(d);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_args),          cmocka_unit_test(test_rng),
        cmocka_unit_test(test_determinism),   cmocka_unit_test(test_naming_and_counts),
        cmocka_unit_test(test_locations_csv), cmocka_unit_test(test_late),
        cmocka_unit_test(test_malformed),     cmocka_unit_test(test_rate_mode),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
