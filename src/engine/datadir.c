/*
 * datadir.c - where a pipeline's data lives (data/<pipeline> by default),
 * and the audit spool beside it (DIR.audit/): actions done by other
 * processes (`sluice alert test`) wait there, one small file each, for the
 * process that owns the store to write them to _sluice_audit.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/log.h"
#include "core/timeutil.h"
#include "engine/runtime.h"

int sl_pipeline_data_dir(const sl_pipeline *p, const char *data_dir, char *out, size_t cap,
                         bool create, sl_error *err) {
    if (data_dir && *data_dir)
        snprintf(out, cap, "%s", data_dir);
    else
        snprintf(out, cap, "data/%s", p->name);
    if (!create) return 0;
    char tmp[PATH_MAX];
    snprintf(tmp, sizeof tmp, "%s", out);
    for (char *q = tmp + 1; *q; q++) {
        if (*q != '/') continue;
        *q = 0;
        mkdir(tmp, 0755);
        *q = '/';
    }
    if (mkdir(tmp, 0755) && errno != EEXIST)
        return sl_error_set(err, SL_EIO, "cannot create data directory %s: %s", out,
                            strerror(errno));
    return 0;
}

/* DIR without trailing slashes, then ".audit". */
static void spool_dir(const char *dir, char *out, size_t cap) {
    size_t n = strlen(dir);
    while (n > 1 && dir[n - 1] == '/')
        n--;
    snprintf(out, cap, "%.*s.audit", (int)n, dir);
}

static void one_line(char *s) {
    for (; *s; s++)
        if (*s == '\n' || *s == '\r') *s = ' ';
}

int sl_audit_spool(const char *dir, const char *method, const char *route, const char *detail,
                   int status, sl_error *err) {
    char sd[PATH_MAX], tmp[PATH_MAX + 96], path[PATH_MAX + 96];
    spool_dir(dir, sd, sizeof sd);
    if (mkdir(sd, 0700) && errno != EEXIST)
        return sl_error_set(err, SL_EIO, "audit spool %s: %s", sd, strerror(errno));
    char ts[40];
    sl_store_format_ts(sl_now_us(), ts, sizeof ts);
    char f[3][1024];
    snprintf(f[0], sizeof f[0], "%s", method);
    snprintf(f[1], sizeof f[1], "%s", route);
    snprintf(f[2], sizeof f[2], "%s (at %s)", detail, ts);
    for (int i = 0; i < 3; i++)
        one_line(f[i]);
    static unsigned seq;
    snprintf(tmp, sizeof tmp, "%s/.%lld-%ld-%u.tmp", sd, (long long)sl_now_us(), (long)getpid(),
             seq);
    snprintf(path, sizeof path, "%s/%lld-%ld-%u.rec", sd, (long long)sl_now_us(), (long)getpid(),
             seq++);
    FILE *o = fopen(tmp, "w");
    if (!o) return sl_error_set(err, SL_EIO, "audit spool %s: %s", tmp, strerror(errno));
    fprintf(o, "%s\n%s\n%s\n%d\nuid %ld\n", f[0], f[1], f[2], status, (long)getuid());
    if (fclose(o) || rename(tmp, path)) {
        unlink(tmp);
        return sl_error_set(err, SL_EIO, "audit spool %s: %s", path, strerror(errno));
    }
    return 0;
}

void sl__engine_audit_spool_take(run *R) {
    int64_t now = sl_monotonic_us();
    if (R->last_spool_check_us && now - R->last_spool_check_us < SL_US_PER_SEC) return;
    R->last_spool_check_us = now;
    char sd[PATH_MAX];
    spool_dir(R->dir, sd, sizeof sd);
    DIR *d = opendir(sd);
    if (!d) return;
    struct dirent *e;
    int taken = 0;
    while ((e = readdir(d)) && taken < 1000) { /* a flood waits for the next look */
        size_t n = strlen(e->d_name);
        if (e->d_name[0] == '.' || n < 5 || strcmp(e->d_name + n - 4, ".rec")) continue;
        char path[PATH_MAX + 300];
        snprintf(path, sizeof path, "%s/%s", sd, e->d_name);
        FILE *f = fopen(path, "r");
        char l[5][1100] = {{0}};
        int got = 0;
        while (f && got < 5 && fgets(l[got], sizeof l[got], f)) {
            l[got][strcspn(l[got], "\n")] = 0;
            got++;
        }
        if (f) fclose(f);
        if (got == 5) /* logged when it was done; the row is written at the next commit */
            sl_access_audit_push(R->access, "", l[4], l[0], l[1], l[2], atoi(l[3]));
        else
            sl_log_warn("audit spool: a record that does not read is dropped", "\"path\":\"%s\"",
                        e->d_name);
        unlink(path);
        taken++;
    }
    closedir(d);
}
