/*
 * landing.c - what the file generators share (landing.h): landing streams
 * that publish finished files atomically, mkdir -p, and the loop that drives
 * a generator in --events or --rate mode.
 */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/mem.h"
#include "core/timeutil.h"
#include "gen/landing.h"

/* ---- landing streams ----------------------------------------------------- */

int sl_gen_mkdir_p(const char *path) {
    char buf[4096];
    size_t n = strlen(path);
    if (n == 0 || n >= sizeof buf) return -1;
    memcpy(buf, path, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (buf[i] == '/' || buf[i] == '\0') {
            char saved = buf[i];
            buf[i] = '\0';
            if (mkdir(buf, 0777) != 0 && errno != EEXIST) return -1;
            buf[i] = saved;
        }
    }
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode) ? 0 : -1;
}

int sl_landing_open(sl_landing *s, const char *out, const char *sub, const char *prefix,
                    const char *ext, const char *who) {
    memset(s, 0, sizeof *s);
    snprintf(s->dir, sizeof s->dir, "%s/%s", out, sub);
    s->prefix = prefix;
    s->ext = ext;
    s->who = who;
    if (sl_gen_mkdir_p(s->dir)) {
        fprintf(stderr, "gen %s: cannot create folder %s: %s\n", who, s->dir, strerror(errno));
        return -1;
    }
    DIR *d = opendir(s->dir);
    if (!d) return -1;
    struct dirent *e;
    size_t pl = strlen(prefix);
    int busy = 0;
    while ((e = readdir(d)))
        if (!strncmp(e->d_name, prefix, pl) && e->d_name[pl] == '-') busy = 1;
    closedir(d);
    if (busy) {
        fprintf(stderr, "gen %s: %s already holds %s files; give an empty --out folder\n", who,
                s->dir, prefix);
        return -1;
    }
    s->fbuf = sl_xmalloc(1 << 18);
    return 0;
}

static int landing_new_file(sl_landing *s) {
    s->file_no++;
    snprintf(s->final_path, sizeof s->final_path, "%s/%s-%06d.%s", s->dir, s->prefix, s->file_no,
             s->ext);
    snprintf(s->tmp_path, sizeof s->tmp_path, "%s/.%s-%06d.%s.tmp", s->dir, s->prefix, s->file_no,
             s->ext);
    s->f = fopen(s->tmp_path, "w");
    if (!s->f) {
        fprintf(stderr, "gen %s: cannot create %s: %s\n", s->who, s->tmp_path, strerror(errno));
        return -1;
    }
    setvbuf(s->f, s->fbuf, _IOFBF, 1 << 18);
    s->file_lines = 0;
    return 0;
}

static int landing_publish(sl_landing *s) {
    if (!s->f) return 0;
    int bad = ferror(s->f);
    bad |= fclose(s->f) != 0;
    s->f = NULL;
    if (bad || rename(s->tmp_path, s->final_path) != 0) {
        fprintf(stderr, "gen %s: cannot write %s: %s\n", s->who, s->final_path, strerror(errno));
        return -1;
    }
    s->files++;
    return 0;
}

int sl_landing_write(sl_landing *s, const char *line, size_t len) {
    if (!s->f && landing_new_file(s)) return -1;
    fwrite(line, 1, len, s->f);
    s->file_lines++;
    s->lines++;
    return 0;
}

void sl_landing_hold_late(sl_landing *s, const char *line, size_t len) {
    if (s->late_n + len > s->late_cap) {
        size_t cap = s->late_cap ? s->late_cap * 2 : 65536;
        while (cap < s->late_n + len)
            cap *= 2;
        s->late = sl_xrealloc(s->late, cap);
        s->late_cap = cap;
    }
    memcpy(s->late + s->late_n, line, len);
    s->late_n += len;
    s->late_lines++;
    s->lines++;
}

int sl_landing_rotate(sl_landing *s) {
    if (landing_publish(s)) return -1;
    if (s->late_n) {
        if (landing_new_file(s)) return -1;
        fwrite(s->late, 1, s->late_n, s->f);
        s->late_n = 0;
        s->late_files++;
        if (landing_publish(s)) return -1;
    }
    return 0;
}

int sl_landing_close(sl_landing *s, int abort_) {
    int rc = 0;
    if (abort_) {
        if (s->f) {
            fclose(s->f);
            unlink(s->tmp_path);
            s->f = NULL;
        }
    } else {
        rc = sl_landing_rotate(s);
    }
    free(s->fbuf);
    free(s->late);
    s->fbuf = s->late = NULL;
    return rc;
}

int sl_landing_write_file(const char *dir, const char *name, const char *data, size_t len,
                          const char *who) {
    char tmp[4096], dst[4096];
    snprintf(tmp, sizeof tmp, "%s/.%s.tmp", dir, name);
    snprintf(dst, sizeof dst, "%s/%s", dir, name);
    FILE *f = fopen(tmp, "w");
    if (!f) goto fail;
    fwrite(data, 1, len, f);
    int bad = ferror(f);
    bad |= fclose(f) != 0;
    if (bad || rename(tmp, dst) != 0) goto fail;
    return 0;
fail:
    fprintf(stderr, "gen %s: cannot write %s: %s\n", who, dst, strerror(errno));
    return -1;
}

/* ---- driving a generator (see landing.h) ---- */

static volatile sig_atomic_t g_stop;
static void on_signal(int sig) {
    (void)sig;
    g_stop = 1;
}

static int drive_events(const sl_gen_drive *d) {
    int64_t next_rot = d->file_events;
    while (*d->line_no < d->events) {
        if (d->emit(d->g)) return -1;
        if (*d->line_no >= next_rot) {
            if (d->rotate(d->g)) return -1;
            next_rot = *d->line_no + d->file_events;
        }
    }
    return d->rotate(d->g);
}

static int drive_rate(const sl_gen_drive *d) {
    int64_t tick_us = (int64_t)(60e6 / d->files_per_minute);
    int64_t t_mono = sl_monotonic_us();
    int64_t total = d->duration > 0 ? (int64_t)llround(d->rate * d->duration) : INT64_MAX;
    for (int64_t k = 1;; k++) {
        int64_t tick = t_mono + k * tick_us;
        while (!g_stop && sl_monotonic_us() < tick) {
            int64_t us = tick - sl_monotonic_us();
            if (us > 0) {
                struct timespec ts = {(time_t)(us / 1000000), (long)(us % 1000000) * 1000};
                nanosleep(&ts, NULL);
            }
        }
        int64_t now = g_stop ? sl_monotonic_us() : tick;
        double due_d = (double)(now - t_mono) / 1e6 * d->rate;
        int64_t due = due_d >= (double)total ? total : (int64_t)due_d;
        while (*d->line_no < due)
            if (d->emit(d->g)) return -1;
        if (d->rotate(d->g)) return -1;
        if (g_stop || *d->line_no >= total) return 0;
    }
}

int sl_gen_drive_run(const sl_gen_drive *d) {
    if (d->events >= 0) return drive_events(d);
    struct sigaction sa, old_int, old_term;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    g_stop = 0;
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);
    int rc = drive_rate(d);
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    return rc;
}
