/*
 * test_telco_retail.c - the telco and retail generators (src/gen/telco.c, retail.c).
 *
 * Checked: the same arguments give byte-identical output and another seed
 * different output; every file is published (no dot-file left behind) and
 * names sort in write order; the line count equals --events; at least 100
 * entities with their attribute records at the start; faults show up when
 * asked for (malformed lines, far-late files, attribute changes) and not when
 * switched off; a second --events run into the same folder is refused; bad
 * options exit with status 2.
 */
#include <setjmp.h> /* cmocka.h needs these four first */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gen/gen.h"

typedef int (*gen_main)(int, char **);

static int run(gen_main fn, const char *args) {
    char buf[1024], *argv[64];
    int argc = 0;
    snprintf(buf, sizeof buf, "%s", args);
    for (char *t = strtok(buf, " "); t && argc < 63; t = strtok(NULL, " "))
        argv[argc++] = t;
    argv[argc] = NULL;
    FILE *saved = stderr;
    stderr = fopen("/dev/null", "w");
    int rc = fn(argc, argv);
    fclose(stderr);
    stderr = saved;
    return rc;
}

static char *tmpdir(void) {
    char *d = strdup("/tmp/sl_gen_test.XXXXXX");
    assert_non_null(mkdtemp(d));
    return d;
}

static void rm_rf(const char *d) {
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", d);
    assert_int_equal(system(cmd), 0);
}

/* Concatenation of every file under dir/sub in name order; counts lines,
 * files and lines containing `needle`; fails on a leftover dot-file. */
typedef struct {
    char *data;
    size_t n;
    long lines, files, hits;
    long late_files; /* files whose oldest "ts" is > 15 min before the newest of earlier files */
} dump;

static int cmp(const void *a, const void *b) { return strcmp(*(char **)a, *(char **)b); }

static dump read_stream(const char *dir, const char *sub, const char *needle) {
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, sub);
    DIR *d = opendir(path);
    assert_non_null(d);
    char *names[20000];
    int nn = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        if (e->d_name[0] == '.') fail_msg("leftover temp file %s", e->d_name);
        assert_true(nn < 20000);
        names[nn++] = strdup(e->d_name);
    }
    closedir(d);
    qsort(names, (size_t)nn, sizeof *names, cmp);
    dump r = {0};
    long long prev_max = 0;
    for (int i = 0; i < nn; i++) {
        long long fmin = 0, fmax = 0;
        char fp[2048], line[4096];
        snprintf(fp, sizeof fp, "%s/%s", path, names[i]);
        FILE *f = fopen(fp, "r");
        assert_non_null(f);
        while (fgets(line, sizeof line, f)) {
            size_t l = strlen(line);
            r.data = realloc(r.data, r.n + l + 1);
            memcpy(r.data + r.n, line, l + 1);
            r.n += l;
            r.lines++;
            if (needle && strstr(line, needle)) r.hits++;
            const char *ts = strstr(line, "\"ts\":");
            if (ts) {
                long long t = atoll(ts + 5);
                if (!fmin || t < fmin) fmin = t;
                if (t > fmax) fmax = t;
            }
        }
        fclose(f);
        if (prev_max && fmin && fmin < prev_max - 15 * 60 * 1000) r.late_files++;
        if (fmax > prev_max) prev_max = fmax;
        r.files++;
        free(names[i]);
    }
    return r;
}

static void test_telco(void **state) {
    (void)state;
    char *a = tmpdir(), *b = tmpdir(), *c = tmpdir(), args[512];
    snprintf(args, sizeof args, "telco --events 20000 --seed 5 --changes 0.05 --late 0.02 --out %s",
             a);
    assert_int_equal(run(sl_gen_telco_main, args), 0);
    snprintf(args, sizeof args, "telco --events 20000 --seed 5 --changes 0.05 --late 0.02 --out %s",
             b);
    assert_int_equal(run(sl_gen_telco_main, args), 0);
    snprintf(args, sizeof args, "telco --events 20000 --seed 6 --changes 0.05 --late 0.02 --out %s",
             c);
    assert_int_equal(run(sl_gen_telco_main, args), 0);
    dump la = read_stream(a, "logs", "<999>"), lb = read_stream(b, "logs", NULL);
    dump ma = read_stream(a, "metrics", "\"n/a\""), mb = read_stream(b, "metrics", NULL);
    dump ea = read_stream(a, "entities", "\"changed_at\":1767225600000}");
    dump mc = read_stream(c, "metrics", NULL);
    assert_int_equal(la.n, lb.n);
    assert_memory_equal(la.data, lb.data, la.n);
    assert_int_equal(ma.n, mb.n);
    assert_memory_equal(ma.data, mb.data, ma.n);
    assert_true(mc.n != ma.n || memcmp(mc.data, ma.data, ma.n) != 0);
    assert_int_equal(la.lines + ma.lines, 20000);
    assert_true(la.files > 10 && ma.files > 10); /* many small files */
    assert_true(la.hits > 0 && ma.hits > 0);     /* malformed kinds present */
    assert_int_equal(ea.hits, 120);              /* every entity at the start */
    assert_true(ea.lines > 120);                 /* and firmware upgrades */
    /* far-late lines land in files of their own, behind newer files */
    assert_true(ma.late_files > 0);
    /* a second deterministic run into the same folder is refused */
    snprintf(args, sizeof args, "telco --events 10 --out %s", a);
    assert_int_equal(run(sl_gen_telco_main, args), 1);
    assert_int_equal(run(sl_gen_telco_main, "telco --events 10"), 2);
    assert_int_equal(run(sl_gen_telco_main, "telco --events 10 --rate 5 --out /tmp/x"), 2);
    assert_int_equal(run(sl_gen_telco_main, "telco --events 10 --late 2 --out /tmp/x"), 2);
    assert_int_equal(run(sl_gen_telco_main, "telco --bogus 1 --out /tmp/x"), 2);
    free(la.data), free(lb.data), free(ma.data), free(mb.data), free(ea.data), free(mc.data);
    rm_rf(a), rm_rf(b), rm_rf(c);
    free(a), free(b), free(c);
}

static void test_telco_clean(void **state) {
    (void)state;
    char *a = tmpdir(), args[512];
    snprintf(args, sizeof args,
             "telco --events 5000 --malformed 0 --late 0 --changes 0 --bad-values 0 --out %s", a);
    assert_int_equal(run(sl_gen_telco_main, args), 0);
    dump l = read_stream(a, "logs", "<999>"), e = read_stream(a, "entities", NULL);
    assert_int_equal(l.hits, 0);
    assert_int_equal(e.lines, 120);
    free(l.data), free(e.data);
    rm_rf(a);
    free(a);
}

static void test_retail(void **state) {
    (void)state;
    char *a = tmpdir(), *b = tmpdir(), args[512];
    snprintf(args, sizeof args, "retail --events 20000 --seed 3 --changes 0.05 --out %s", a);
    assert_int_equal(run(sl_gen_retail_main, args), 0);
    snprintf(args, sizeof args, "retail --events 20000 --seed 3 --changes 0.05 --out %s", b);
    assert_int_equal(run(sl_gen_retail_main, args), 0);
    dump pa = read_stream(a, "pos", "\"event_type\":\"sale\""), pb = read_stream(b, "pos", NULL);
    dump ma = read_stream(a, "metrics", NULL);
    dump ea = read_stream(a, "entities", "\"entity_type\":\"store\"");
    assert_int_equal(pa.n, pb.n);
    assert_memory_equal(pa.data, pb.data, pa.n);
    assert_int_equal(pa.lines + ma.lines, 20000);
    assert_true(pa.hits > pa.lines / 2);
    assert_true(ea.hits >= 40);  /* 40 stores (+ region changes) */
    assert_true(ea.lines > 200); /* 200 entities + changes */
    free(pa.data), free(pb.data), free(ma.data), free(ea.data);
    rm_rf(a), rm_rf(b);
    free(a), free(b);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_telco),
        cmocka_unit_test(test_telco_clean),
        cmocka_unit_test(test_retail),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
