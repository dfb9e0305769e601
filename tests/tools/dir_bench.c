/*
 * dir_bench.c - how many small files per minute the `dir` source takes
 * (sources/dir.h), without any parsing: the cost of finding, opening,
 * reading, committing positions and (optionally) deleting files.
 *
 *   backlog  N files exist before open: full scan, read all, commit.
 *   live     a writer thread creates N files (write under a dot-name, then
 *            rename into place, as the dir contract asks) while the reader
 *            runs the engine's loop: read until nothing is ready, commit,
 *            scan (inotify), repeat. Throughput = N / time until the last
 *            file is read; the writer's own rate is printed beside it.
 *   live+delete  the same with cleanup = delete after every commit.
 * Also: the cost of an idle scan with N known files.
 *
 * Usage: dir_bench [N] [DIR]   (default 100000 files of ~200 bytes in /tmp;
 *        give a tmpfs folder such as /dev/shm/x to leave the disk out)
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/timeutil.h"
#include "sources/dir.h"

static const char *root;
static char dirp[4096];
static int N = 100000;
static volatile int writer_done;
static double writer_secs;

static int rm_cb(const char *p, const struct stat *st, int flag, struct FTW *f) {
    (void)st, (void)flag, (void)f;
    return remove(p);
}

static void fresh_dir(void) {
    nftw(dirp, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
    if (mkdir(dirp, 0777) != 0) {
        perror(dirp);
        exit(1);
    }
}

static void write_file(int i, bool via_rename) {
    char tmp[4300], name[4300], body[256];
    int n = snprintf(body, sizeof body,
                     "<14>1 2026-01-01T00:00:%02d.000Z router-%03d snmpd 42 IF - [m@1 "
                     "if=\"ge-0/0/%d\" oct=%d] link state change seq=%08d\n",
                     i % 60, i % 500, i % 48, i * 7, i);
    snprintf(name, sizeof name, "%s/f%08d.log", dirp, i);
    snprintf(tmp, sizeof tmp, "%s/.f%08d.tmp", dirp, i);
    const char *p = via_rename ? tmp : name;
    int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0 || write(fd, body, (size_t)n) != n) {
        perror(p);
        exit(1);
    }
    close(fd);
    if (via_rename && rename(tmp, name) != 0) {
        perror(name);
        exit(1);
    }
}

static void *writer(void *arg) {
    (void)arg;
    int64_t t0 = sl_monotonic_us();
    for (int i = 0; i < N; i++)
        write_file(i, true);
    writer_secs = (double)(sl_monotonic_us() - t0) / 1e6;
    writer_done = 1;
    return NULL;
}

static void pos_cb(void *ud, const char *name, int64_t pos) {
    (void)name, (void)pos;
    (*(int64_t *)ud)++;
}

/* The engine's loop: returns files read. */
static int64_t run(sl_dir_source *d, int64_t want_bytes, int64_t *commits) {
    int64_t bytes = 0, reported = 0;
    sl_error err = {0};
    while (bytes < want_bytes) {
        int got = 0;
        for (;;) {
            const char *buf;
            size_t len;
            int32_t part;
            int64_t base;
            int rc = sl_dir_next(d, false, &buf, &len, &part, &base, &err);
            if (rc < 0) {
                fprintf(stderr, "%s\n", err.msg);
                exit(1);
            }
            if (!rc) break;
            sl_dir_consume(d, len);
            bytes += (int64_t)len;
            got = 1;
        }
        sl_dir_each_dirty(d, pos_cb, &reported);
        sl_dir_clear_dirty(d);
        if (sl_dir_committed(d, &err) < 0) fprintf(stderr, "cleanup: %s\n", err.msg);
        (*commits)++;
        if (!got) usleep(1000);
        if (sl_dir_scan(d, &err) != 0) {
            fprintf(stderr, "%s\n", err.msg);
            exit(1);
        }
    }
    return reported;
}

static int64_t total_bytes(void) {
    int64_t t = 0;
    char name[4300];
    for (int i = 0; i < N; i++) {
        struct stat st;
        snprintf(name, sizeof name, "%s/f%08d.log", dirp, i);
        if (stat(name, &st) == 0) t += st.st_size;
    }
    return t;
}

int main(int argc, char **argv) {
    if (argc > 1) N = atoi(argv[1]);
    root = argc > 2 ? argv[2] : "/tmp";
    snprintf(dirp, sizeof dirp, "%s/sl_dir_bench.%d", root, (int)getpid());
    sl_error err = {0};
    printf("dir_bench: %d files of ~200 bytes in %s\n", N, root);
    printf("%-14s %10s %12s %10s %s\n", "mode", "seconds", "files/min", "commits", "notes");

    /* backlog */
    fresh_dir();
    int64_t t0 = sl_monotonic_us();
    for (int i = 0; i < N; i++)
        write_file(i, false);
    double wsecs = (double)(sl_monotonic_us() - t0) / 1e6;
    int64_t want = total_bytes();
    t0 = sl_monotonic_us();
    sl_dir_source *d = sl_dir_open(dirp, "*.log", &err);
    sl_dir_scan(d, &err);
    double scan_secs = (double)(sl_monotonic_us() - t0) / 1e6;
    int64_t commits = 0;
    int64_t files = run(d, want, &commits);
    if (files < N) fprintf(stderr, "only %lld positions reported\n", (long long)files);
    double secs = (double)(sl_monotonic_us() - t0) / 1e6;
    printf("%-14s %10.2f %12.0f %10lld first scan %.0f ms; creating the files took %.2f s\n",
           "backlog", secs, N / secs * 60, (long long)commits, scan_secs * 1000, wsecs);
    t0 = sl_monotonic_us();
    for (int k = 0; k < 1000; k++)
        sl_dir_scan(d, &err);
    printf("%-14s %10s %12s %10s %.2f us per scan with %d known files (inotify %s)\n", "idle scan",
           "-", "-", "-", (double)(sl_monotonic_us() - t0) / 1000.0, N,
           sl_dir_watching(d) ? "on" : "off");
    sl_dir_free(d);

    for (int del = 0; del < 2; del++) {
        fresh_dir();
        d = sl_dir_open(dirp, "*.log", &err);
        if (del) sl_dir_set_cleanup(d, SL_DIR_CLEANUP_DELETE, NULL, &err);
        sl_dir_scan(d, &err);
        writer_done = 0;
        pthread_t t;
        t0 = sl_monotonic_us();
        pthread_create(&t, NULL, writer, NULL);
        commits = 0;
        /* every file has the same size range; compute the exact total up front */
        int64_t w = 0;
        {
            char body[256];
            for (int i = 0; i < N; i++)
                w += snprintf(body, sizeof body,
                              "<14>1 2026-01-01T00:00:%02d.000Z router-%03d snmpd 42 IF - [m@1 "
                              "if=\"ge-0/0/%d\" oct=%d] link state change seq=%08d\n",
                              i % 60, i % 500, i % 48, i * 7, i);
        }
        files = run(d, w, &commits);
        if (files < N) fprintf(stderr, "only %lld positions reported\n", (long long)files);
        secs = (double)(sl_monotonic_us() - t0) / 1e6;
        pthread_join(t, NULL);
        /* with delete: the last files are cleaned after their writer is seen done */
        for (int k = 0; del && k < 50 && sl_dir_cleaned(d) < N; k++) {
            sl_dir_scan(d, &err);
            sl_dir_committed(d, &err);
            usleep(20000);
        }
        printf("%-14s %10.2f %12.0f %10lld writer alone: %.0f files/min; inotify %s%s\n",
               del ? "live+delete" : "live", secs, N / secs * 60, (long long)commits,
               N / writer_secs * 60, sl_dir_watching(d) ? "on" : "off", del ? "" : "");
        if (del)
            printf("%-14s %10s %12s %10s %lld of %d files deleted after commit\n", "", "", "", "",
                   (long long)sl_dir_cleaned(d), N);
        sl_dir_free(d);
    }
    nftw(dirp, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
    return 0;
}
