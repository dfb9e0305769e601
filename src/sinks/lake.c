/*
 * lake.c - append-only zstd NDJSON segments with exactly-once recovery.
 *
 * The idea. Rows are copied into a 128 KiB input buffer and streamed through
 * one ZSTD_CCtx (ZSTD_e_continue) straight into the open segment file, so the
 * lake's memory does not grow with the rows per commit. sl_lake_flush ends
 * the zstd frame (ZSTD_e_end, with a content checksum), fdatasyncs, and only
 * then publishes the new position {segment, length}. Because every published
 * length is the end of a complete frame, truncating the file to it leaves a
 * valid zstd stream: that is all sl_lake_recover has to do, plus deleting
 * segments newer than the committed one.
 *
 * Invariants:
 *  - the lake never writes to a segment after it has created a newer one, so
 *    every segment with a lower sequence number than the committed one is
 *    complete and committed in full;
 *  - l->pos only changes after the bytes it covers are durable (file fsynced,
 *    and the directory entries of a newly created file fsynced);
 *  - after any I/O error the handle is "failed": it refuses further work,
 *    because the file now holds a partial frame. Restart and recover.
 *
 * Durability of an hour rollover is deferred to the next flush: the old
 * segment's fd is kept in pending_fd and fsynced there, so the append path
 * blocks on at most one fsync per two rollovers between flushes (never, in
 * practice: ingest hours advance once an hour).
 */
#include "sinks/lake.h"

#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zstd.h>

#include "core/log.h"
#include "core/timeutil.h"
#include "formats/parquet.h"

#define US_PER_HOUR (3600LL * SL_US_PER_SEC)
#define REL_MAX 256

struct sl_lake {
    char root[PATH_MAX];
    int lock_fd;
    int64_t max_bytes;
    ZSTD_CCtx *cctx;
    char *inbuf;
    size_t in_cap, in_len;
    char *outbuf;
    size_t out_cap;
    int recovered;
    int failed; /* sticky SL_E* code after an I/O error, 0 if healthy */
    char fail_msg[SL_ERROR_MAX];

    /* Current segment: open (fd >= 0) or, after recovery / a size roll,
     * closed but known (cur_rel set, fd < 0). */
    int fd;
    char cur_rel[REL_MAX];
    int64_t cur_seq;
    int64_t cur_hour;   /* floor(ingest_us / 1h) of the segment's folder */
    int64_t cur_size;   /* bytes in the file, including unsynced */
    int64_t cur_synced; /* bytes known durable */
    int frame_open;     /* bytes given to the encoder since the last frame end */
    int64_t next_seq;

    /* Deferred durability (see header comment). */
    int pending_fd;
    char pending_rel[REL_MAX];
    int dirsync_pending;
    char dirsync_rel[REL_MAX];

    sl_lake_pos pos; /* last published position */
    int64_t bytes_written;

    /* Parquet segments (sl_lake_open_parquet): the open segment's writer
     * (NULL when closed; fd stays -1) and the rows' schema. */
    int parquet;
    sl_pq_writer *pq;
    sl_schema pq_schema;
    int pq_level;

    /* Cold tier (see the cold tier section): "" when there is none. */
    char cold_root[PATH_MAX];
    ZSTD_CCtx *cold_cctx; /* created at the first move */
    int cold_level;
    ZSTD_DCtx *cold_dctx;
};

/* ------------------------------------------------------------------ paths */

/* out = a "/" b; -1 (out = "") if it does not fit. */
static int path_join(char *out, size_t cap, const char *a, const char *b) {
    size_t na = strlen(a), nb = strlen(b);
    if (na + 1 + nb + 1 > cap) {
        if (cap) out[0] = '\0';
        return -1;
    }
    memcpy(out, a, na);
    out[na] = '/';
    memcpy(out + na + 1, b, nb + 1);
    return 0;
}

static int fsync_path(const char *path);

/* mkdir -p. With sync_created, fsyncs the parent of every folder it creates
 * so the new path itself survives a crash (used once, for ROOT). */
static int mkdirs(const char *path, int sync_created) {
    char tmp[PATH_MAX];
    size_t n = strlen(path);
    if (n == 0 || n >= sizeof tmp) {
        errno = ENAMETOOLONG;
        return -1;
    }
    memcpy(tmp, path, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (tmp[i] == '/' || tmp[i] == '\0') {
            char c = tmp[i];
            tmp[i] = '\0';
            if (mkdir(tmp, 0755) == 0) {
                if (sync_created) {
                    char *slash = strrchr(tmp, '/');
                    if (slash == tmp) {
                        if (fsync_path("/") != 0) return -1;
                    } else if (slash) {
                        *slash = '\0';
                        int rc = fsync_path(tmp);
                        *slash = '/';
                        if (rc != 0) return -1;
                    } else if (fsync_path(".") != 0) {
                        return -1;
                    }
                }
            } else if (errno != EEXIST) {
                return -1;
            }
            tmp[i] = c;
        }
    }
    struct stat st;
    if (stat(path, &st) != 0) return -1;
    if (!S_ISDIR(st.st_mode)) {
        errno = ENOTDIR;
        return -1;
    }
    return 0;
}

static int fsync_path(const char *path) {
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return -1;
    int rc = fsync(fd);
    int e = errno;
    close(fd);
    errno = e;
    return rc;
}

static void hour_dir_name(int64_t hour, char *out, size_t cap) {
    int64_t days = sl_floor_div(hour, 24);
    int hh = (int)(hour - days * 24);
    int64_t y;
    unsigned m, d;
    sl_civil_from_days(days, &y, &m, &d);
    snprintf(out, cap, "dt=%04lld-%02u-%02u/hr=%02d", (long long)y, m, d, hh);
}

static int digits(const char *s, int n, int *v) {
    int x = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') return -1;
        x = x * 10 + (s[i] - '0');
    }
    *v = x;
    return 0;
}

/* "dt=YYYY-MM-DD" -> days since epoch. */
static int parse_dt(const char *s, int64_t *days) {
    int y, m, d;
    if (strlen(s) != 13 || memcmp(s, "dt=", 3) != 0 || s[7] != '-' || s[10] != '-') return -1;
    if (digits(s + 3, 4, &y) || digits(s + 8, 2, &m) || digits(s + 11, 2, &d)) return -1;
    if (m < 1 || m > 12 || d < 1 || d > 31) return -1;
    *days = sl_days_from_civil(y, (unsigned)m, (unsigned)d);
    return 0;
}

/* "hr=HH" -> 0..23. */
static int parse_hr(const char *s, int *h) {
    if (strlen(s) != 5 || memcmp(s, "hr=", 3) != 0) return -1;
    if (digits(s + 3, 2, h) || *h > 23) return -1;
    return 0;
}

/* "part-NNNNNNNN.ndjson.zst" -> sequence number. */
static int parse_part(const char *s, int64_t *seq) {
    static const char pre[] = "part-", suf[] = ".ndjson.zst", pq_suf[] = ".parquet";
    size_t n = strlen(s), np = sizeof pre - 1, ns = sizeof suf - 1;
    if (n > sizeof pq_suf && strcmp(s + n - (sizeof pq_suf - 1), pq_suf) == 0)
        ns = sizeof pq_suf - 1;
    if (n <= np + ns || memcmp(s, pre, np) != 0 ||
        (strcmp(s + n - ns, suf) != 0 && strcmp(s + n - ns, pq_suf) != 0))
        return -1;
    size_t nd = n - np - ns;
    if (nd > 18) return -1;
    int64_t v = 0;
    for (size_t i = 0; i < nd; i++) {
        char c = s[np + i];
        if (c < '0' || c > '9') return -1;
        v = v * 10 + (c - '0');
    }
    *seq = v;
    return 0;
}

static int ends_with(const char *s, const char *suf) {
    size_t n = strlen(s), m = strlen(suf);
    return n >= m && strcmp(s + n - m, suf) == 0;
}

int sl_lake_segment_parse(const char *rel, int64_t *seq, int64_t *hour_us) {
    char dt[14], hr[6];
    if (!rel || strlen(rel) < 20 || rel[13] != '/' || rel[19] != '/') return SL_EINVAL;
    memcpy(dt, rel, 13);
    dt[13] = '\0';
    memcpy(hr, rel + 14, 5);
    hr[5] = '\0';
    int64_t days, s;
    int h;
    if (parse_dt(dt, &days) || parse_hr(hr, &h) || parse_part(rel + 20, &s)) return SL_EINVAL;
    if (seq) *seq = s;
    if (hour_us) *hour_us = (days * 24 + h) * US_PER_HOUR;
    return 0;
}

/* ------------------------------------------------------------ directory walk */

/* Called for each ROOT/dt=.../hr=.. folder; rel_dir is "dt=.../hr=..". */
typedef int (*hour_fn)(void *ctx, const char *hr_abs, const char *rel_dir, int64_t hour_us);

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Reads the names of a folder that pass `keep`, sorted. */
static int read_names(const char *dir, int (*keep)(const char *), char ***out, size_t *n) {
    *out = NULL;
    *n = 0;
    DIR *d = opendir(dir);
    if (!d) return -1;
    size_t cap = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!keep(e->d_name)) continue;
        if (*n == cap) {
            cap = cap ? cap * 2 : 32;
            char **nn = realloc(*out, cap * sizeof *nn);
            if (!nn) goto oom;
            *out = nn;
        }
        if (!((*out)[*n] = strdup(e->d_name))) goto oom;
        (*n)++;
    }
    closedir(d);
    if (*n) qsort(*out, *n, sizeof **out, cmp_str);
    return 0;
oom:
    closedir(d);
    for (size_t i = 0; i < *n; i++)
        free((*out)[i]);
    free(*out);
    *out = NULL;
    *n = 0;
    errno = ENOMEM;
    return -1;
}

static void free_names(char **v, size_t n) {
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

static int keep_dt(const char *s) {
    int64_t d;
    return parse_dt(s, &d) == 0;
}
static int keep_hr(const char *s) {
    int h;
    return parse_hr(s, &h) == 0;
}
static int keep_file(const char *s) { return strcmp(s, ".") != 0 && strcmp(s, "..") != 0; }

static int io_code(int e) { return (e == ENOSPC || e == EDQUOT) ? SL_EFULL : SL_EIO; }

/* Visits every hour folder in (dt, hr) order. With prune, tries to rmdir each
 * dt= folder afterwards (succeeds only when empty) and fsyncs root if any
 * went away. A missing root is not an error. */
static int walk_hours(const char *root, int prune, hour_fn fn, void *ctx, sl_error *err) {
    char **dts;
    size_t ndt;
    if (read_names(root, keep_dt, &dts, &ndt) != 0) {
        if (errno == ENOENT) return 0;
        return sl_error_set(err, io_code(errno), "lake: cannot read %s: %s", root, strerror(errno));
    }
    int rc = 0, removed = 0;
    for (size_t i = 0; i < ndt && rc == 0; i++) {
        char dt_abs[PATH_MAX];
        if (path_join(dt_abs, sizeof dt_abs, root, dts[i])) continue;
        int64_t days;
        parse_dt(dts[i], &days);
        char **hrs;
        size_t nhr;
        if (read_names(dt_abs, keep_hr, &hrs, &nhr) != 0) {
            if (errno == ENOENT || errno == ENOTDIR) continue;
            rc = sl_error_set(err, io_code(errno), "lake: cannot read %s: %s", dt_abs,
                              strerror(errno));
            break;
        }
        for (size_t j = 0; j < nhr && rc == 0; j++) {
            char hr_abs[PATH_MAX], rel[64];
            int h;
            parse_hr(hrs[j], &h);
            snprintf(rel, sizeof rel, "%s/%s", dts[i], hrs[j]);
            if (path_join(hr_abs, sizeof hr_abs, root, rel)) continue;
            rc = fn(ctx, hr_abs, rel, (days * 24 + h) * US_PER_HOUR);
        }
        free_names(hrs, nhr);
        if (prune && rmdir(dt_abs) == 0) removed = 1;
    }
    free_names(dts, ndt);
    if (rc == 0 && removed && fsync_path(root) != 0)
        rc = sl_error_set(err, SL_EIO, "lake: fsync %s: %s", root, strerror(errno));
    return rc;
}

/* After files were removed from hr_abs: drop the folder if now empty and make
 * the change durable (fsync the folder, or its parent if it went away). */
static int settle_hour_dir(const char *hr_abs, sl_error *err) {
    if (rmdir(hr_abs) == 0) {
        char parent[PATH_MAX];
        snprintf(parent, sizeof parent, "%s", hr_abs);
        char *slash = strrchr(parent, '/');
        if (slash) *slash = '\0';
        if (fsync_path(parent) != 0 && errno != ENOENT)
            return sl_error_set(err, SL_EIO, "lake: fsync %s: %s", parent, strerror(errno));
        return 0;
    }
    if (fsync_path(hr_abs) != 0 && errno != ENOENT)
        return sl_error_set(err, SL_EIO, "lake: fsync %s: %s", hr_abs, strerror(errno));
    return 0;
}

/* ---------------------------------------------------------------- listing */

typedef struct {
    sl_lake_segment *v;
    size_t n, cap;
    sl_error *err;
} list_ctx;

static int cmp_seg(const void *a, const void *b) {
    const sl_lake_segment *x = a, *y = b;
    if (x->seq != y->seq) return x->seq < y->seq ? -1 : 1;
    return strcmp(x->path, y->path);
}

static int list_hour(void *vctx, const char *hr_abs, const char *rel_dir, int64_t hour_us) {
    list_ctx *c = vctx;
    char **names;
    size_t n;
    if (read_names(hr_abs, keep_file, &names, &n) != 0) {
        if (errno == ENOENT) return 0; /* removed by retention meanwhile */
        return sl_error_set(c->err, io_code(errno), "lake: cannot read %s: %s", hr_abs,
                            strerror(errno));
    }
    int rc = 0;
    for (size_t i = 0; i < n; i++) {
        int64_t seq;
        if (parse_part(names[i], &seq) != 0) continue;
        if (c->n == c->cap) {
            size_t cap = c->cap ? c->cap * 2 : 64;
            sl_lake_segment *nv = realloc(c->v, cap * sizeof *nv);
            if (!nv) {
                rc = sl_error_set(c->err, SL_ENOMEM, "lake: out of memory listing segments");
                break;
            }
            c->v = nv;
            c->cap = cap;
        }
        sl_lake_segment *s = &c->v[c->n];
        int k = snprintf(s->path, sizeof s->path, "%s/%s", rel_dir, names[i]);
        if (k < 0 || (size_t)k >= sizeof s->path) continue;
        s->seq = seq;
        s->hour_us = hour_us;
        s->cold = 0;
        c->n++;
    }
    free_names(names, n);
    return rc;
}

int sl_lake_segments_list(const char *root, sl_lake_segment **out, size_t *n, sl_error *err) {
    list_ctx c = {NULL, 0, 0, err};
    *out = NULL;
    *n = 0;
    int rc = walk_hours(root, 0, list_hour, &c, err);
    if (rc != 0) {
        free(c.v);
        return rc;
    }
    if (c.n) qsort(c.v, c.n, sizeof *c.v, cmp_seg);
    *out = c.v;
    *n = c.n;
    return 0;
}

/* ----------------------------------------------------------- open / close */

sl_lake *sl_lake_open(const char *root, int64_t max_segment_bytes, int zstd_level, sl_error *err) {
    if (!root || !*root || strlen(root) >= PATH_MAX - REL_MAX - 16) {
        sl_error_set(err, SL_EINVAL, "lake: bad root path");
        return NULL;
    }
    sl_lake *l = calloc(1, sizeof *l);
    if (!l) {
        sl_error_set(err, SL_ENOMEM, "lake: out of memory");
        return NULL;
    }
    snprintf(l->root, sizeof l->root, "%s", root);
    size_t rl = strlen(l->root);
    while (rl > 1 && l->root[rl - 1] == '/')
        l->root[--rl] = '\0';
    l->fd = l->pending_fd = l->lock_fd = -1;
    l->max_bytes = max_segment_bytes > 0 ? max_segment_bytes : SL_LAKE_DEFAULT_SEGMENT_BYTES;
    l->next_seq = 1;

    if (mkdirs(l->root, 1) != 0) {
        sl_error_set(err, io_code(errno), "lake: cannot create %s: %s", l->root, strerror(errno));
        goto fail;
    }
    char lock[PATH_MAX];
    path_join(lock, sizeof lock, l->root, ".lock");
    l->lock_fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (l->lock_fd < 0) {
        sl_error_set(err, io_code(errno), "lake: cannot open %s: %s", lock, strerror(errno));
        goto fail;
    }
    if (flock(l->lock_fd, LOCK_EX | LOCK_NB) != 0) {
        sl_error_set(err, SL_EIO, "lake: %s is in use by another writer (%s)", l->root,
                     strerror(errno));
        goto fail;
    }
    l->cctx = ZSTD_createCCtx();
    l->in_cap = ZSTD_CStreamInSize();
    l->out_cap = ZSTD_CStreamOutSize();
    l->inbuf = malloc(l->in_cap);
    l->outbuf = malloc(l->out_cap);
    if (!l->cctx || !l->inbuf || !l->outbuf) {
        sl_error_set(err, SL_ENOMEM, "lake: out of memory");
        goto fail;
    }
    int level = zstd_level == 0 ? 1 : zstd_level;
    if (level < ZSTD_minCLevel()) level = ZSTD_minCLevel();
    if (level > ZSTD_maxCLevel()) level = ZSTD_maxCLevel();
    if (ZSTD_isError(ZSTD_CCtx_setParameter(l->cctx, ZSTD_c_compressionLevel, level)) ||
        ZSTD_isError(ZSTD_CCtx_setParameter(l->cctx, ZSTD_c_checksumFlag, 1))) {
        sl_error_set(err, SL_EINVAL, "lake: bad zstd parameters (level %d)", level);
        goto fail;
    }
    /* A cold tier set up by an earlier run: retention keeps covering it even
     * when cold_after: was removed since. */
    sl_lake_cold_root(l->root, l->cold_root, sizeof l->cold_root);
    return l;
fail:
    sl_lake_close(l);
    return NULL;
}

sl_lake *sl_lake_open_parquet(const char *root, const sl_schema *schema, int64_t max_segment_bytes,
                              int zstd_level, sl_error *err) {
    sl_lake *l = sl_lake_open(root, max_segment_bytes, 1, err);
    if (!l) return NULL;
    l->parquet = 1;
    l->pq_schema = *schema;
    l->pq_level = zstd_level == 0 ? 3 : zstd_level;
    return l;
}

void sl_lake_close(sl_lake *l) {
    if (!l) return;
    if (l->pq) sl_pq_close(l->pq);
    if (l->fd >= 0) close(l->fd);
    if (l->pending_fd >= 0) close(l->pending_fd);
    if (l->lock_fd >= 0) close(l->lock_fd); /* releases the flock */
    ZSTD_freeCCtx(l->cctx);
    ZSTD_freeCCtx(l->cold_cctx);
    ZSTD_freeDCtx(l->cold_dctx);
    free(l->inbuf);
    free(l->outbuf);
    free(l);
}

/* ---------------------------------------------------------------- failure */

static int lake_fail(sl_lake *l, sl_error *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int lake_fail(sl_lake *l, sl_error *err, int code, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(l->fail_msg, sizeof l->fail_msg, fmt, ap);
    va_end(ap);
    l->failed = code;
    sl_log_error("lake failed", "\"root\":\"%.200s\",\"code\":%d", l->root, code);
    return sl_error_set(err, code, "%s", l->fail_msg);
}

static int lake_io_fail(sl_lake *l, sl_error *err, const char *what, const char *rel, int e) {
    return lake_fail(l, err, io_code(e), "lake: %s %s/%s: %s", what, l->root, rel, strerror(e));
}

static int check_usable(sl_lake *l, sl_error *err) {
    if (l->failed)
        return sl_error_set(err, l->failed, "%s (lake unusable until restart and recovery)",
                            l->fail_msg);
    if (!l->recovered)
        return sl_error_set(err, SL_EINVAL, "lake %s: sl_lake_recover must be called first",
                            l->root);
    return 0;
}

/* ------------------------------------------------------------------ writing */

static int write_all(sl_lake *l, const char *p, size_t n, sl_error *err) {
    assert(l->fd >= 0 && l->cur_rel[0]);
    while (n > 0) {
        ssize_t w = write(l->fd, p, n);
        if (w < 0) {
            if (errno == EINTR) continue;
            return lake_io_fail(l, err, "write", l->cur_rel, errno);
        }
        p += w;
        n -= (size_t)w;
        l->cur_size += w;
        l->bytes_written += w;
    }
    return 0;
}

/* Feeds src to the encoder and writes whatever it emits. With ZSTD_e_end
 * loops until the frame is fully written. */
static int compress(sl_lake *l, const void *src, size_t n, ZSTD_EndDirective mode, sl_error *err) {
    ZSTD_inBuffer in = {src, n, 0};
    for (;;) {
        ZSTD_outBuffer out = {l->outbuf, l->out_cap, 0};
        size_t r = ZSTD_compressStream2(l->cctx, &out, &in, mode);
        if (ZSTD_isError(r))
            return lake_fail(l, err, SL_EIO, "lake: zstd error on %s/%s: %s", l->root, l->cur_rel,
                             ZSTD_getErrorName(r));
        if (out.pos && write_all(l, l->outbuf, out.pos, err)) return l->failed;
        if (mode == ZSTD_e_end ? r == 0 : in.pos == in.size) return 0;
    }
}

static int end_frame(sl_lake *l, sl_error *err) {
    assert(l->fd >= 0);
    int rc = compress(l, l->inbuf, l->in_len, ZSTD_e_end, err);
    l->in_len = 0;
    l->frame_open = 0;
    return rc;
}

static int sync_pending(sl_lake *l, sl_error *err) {
    if (l->pending_fd < 0) return 0;
    int rc = fdatasync(l->pending_fd);
    int e = errno;
    close(l->pending_fd);
    l->pending_fd = -1;
    if (rc != 0) return lake_io_fail(l, err, "fsync", l->pending_rel, e);
    return 0;
}

/* fsyncs ROOT/dt=../hr=.., ROOT/dt=.. and ROOT so a new file's entry is durable. */
static int sync_dirs(sl_lake *l, sl_error *err) {
    if (!l->dirsync_pending) return 0;
    char rel[REL_MAX], abs[PATH_MAX];
    snprintf(rel, sizeof rel, "%s", l->dirsync_rel);
    for (int k = 0; k < 3; k++) {
        char *slash = strrchr(rel, '/');
        if (slash) *slash = '\0';
        if (slash)
            path_join(abs, sizeof abs, l->root, rel);
        else
            snprintf(abs, sizeof abs, "%s", l->root);
        if (fsync_path(abs) != 0 && errno != ENOENT)
            return lake_io_fail(l, err, "fsync directory of", l->dirsync_rel, errno);
        if (!slash) break;
    }
    l->dirsync_pending = 0;
    return 0;
}

/* Makes `hour` the open segment: ends the current one (deferring its fsync),
 * then reopens the recovered segment if it fits, else creates the next one. */
static int switch_segment_parquet(sl_lake *l, int64_t hour, sl_error *err);

static int switch_segment(sl_lake *l, int64_t hour, sl_error *err) {
    int rc;
    if (l->parquet) return switch_segment_parquet(l, hour, err);
    if (l->fd >= 0) {
        if (l->frame_open && (rc = end_frame(l, err))) return rc;
        if ((rc = sync_pending(l, err))) return rc;
        if (l->cur_size != l->cur_synced) {
            l->pending_fd = l->fd;
            snprintf(l->pending_rel, sizeof l->pending_rel, "%s", l->cur_rel);
        } else {
            close(l->fd);
        }
        l->fd = -1;
        l->cur_rel[0] = '\0'; /* never written again */
    }
    char abs[PATH_MAX];
    if (l->cur_rel[0] && l->cur_hour == hour && l->cur_size < l->max_bytes) {
        /* The committed segment left by recovery: keep appending frames. It
         * is the newest segment (recovery deleted later ones): the lake never
         * writes to a segment once it has created a newer one. */
        assert(l->cur_seq == l->next_seq - 1);
        path_join(abs, sizeof abs, l->root, l->cur_rel);
        l->fd = open(abs, O_WRONLY | O_APPEND | O_CLOEXEC);
        if (l->fd < 0) return lake_io_fail(l, err, "reopen", l->cur_rel, errno);
        struct stat st;
        if (fstat(l->fd, &st) != 0) return lake_io_fail(l, err, "stat", l->cur_rel, errno);
        if (st.st_size != l->cur_size)
            return lake_fail(l, err, SL_ECORRUPT,
                             "lake: %s/%s changed size since recovery (%lld, expected %lld)",
                             l->root, l->cur_rel, (long long)st.st_size, (long long)l->cur_size);
        return 0;
    }
    char dir[64], rel[REL_MAX];
    hour_dir_name(hour, dir, sizeof dir);
    snprintf(rel, sizeof rel, "%s/part-%08lld.ndjson.zst", dir, (long long)l->next_seq);
    path_join(abs, sizeof abs, l->root, dir);
    if (mkdirs(abs, 0) != 0) return lake_io_fail(l, err, "mkdir", dir, errno);
    path_join(abs, sizeof abs, l->root, rel);
    /* A previous new file whose directory entries are not durable yet. */
    if ((rc = sync_dirs(l, err))) return rc;
    l->fd = open(abs, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (l->fd < 0) return lake_io_fail(l, err, "create", rel, errno);
    l->dirsync_pending = 1;
    snprintf(l->dirsync_rel, sizeof l->dirsync_rel, "%s", rel);
    snprintf(l->cur_rel, sizeof l->cur_rel, "%s", rel);
    l->cur_seq = l->next_seq++;
    l->cur_hour = hour;
    l->cur_size = l->cur_synced = 0;
    return 0;
}

/* A Parquet writer's error makes the lake unusable, as an I/O error does. */
static int pq_fail(sl_lake *l, sl_error *err) {
    l->failed = err->code ? err->code : SL_EIO;
    snprintf(l->fail_msg, sizeof l->fail_msg, "%s", err->msg);
    return l->failed;
}

/* Flushes the open Parquet segment (row group, footer, fsync), counting the
 * bytes it wrote. */
static int pq_flush_counted(sl_lake *l, sl_error *err) {
    int64_t before = sl_pq_length(l->pq);
    if (sl_pq_flush(l->pq, err) != 0) return pq_fail(l, err);
    l->bytes_written += sl_pq_length(l->pq) - before;
    return 0;
}

/* The parquet form of switch_segment. The old segment's pending rows become
 * its last row group now (sl_pq_flush fsyncs), so nothing is deferred: an
 * hour boundary costs one fsync, as a size roll does. */
static int switch_segment_parquet(sl_lake *l, int64_t hour, sl_error *err) {
    int rc;
    sl_pq_options o = {.zstd_level = l->pq_level};
    if (l->pq) {
        if ((rc = pq_flush_counted(l, err))) return rc;
        sl_pq_close(l->pq);
        l->pq = NULL;
        l->cur_rel[0] = '\0'; /* never written again */
    }
    char abs[PATH_MAX];
    if (l->cur_rel[0] && l->cur_hour == hour && l->cur_size < l->max_bytes) {
        /* the committed segment left by recovery (see switch_segment) */
        assert(l->cur_seq == l->next_seq - 1);
        path_join(abs, sizeof abs, l->root, l->cur_rel);
        sl_error rerr = {0, {0}};
        l->pq = sl_pq_reopen(abs, l->cur_size, &l->pq_schema, &o, &rerr);
        if (l->pq) return 0;
        if (rerr.code != SL_EINVAL) {
            *err = rerr;
            return pq_fail(l, err);
        }
        /* The table's columns changed since (schema evolution): the committed
         * segment stays a whole file of the old schema and the rows go to a
         * new segment. Readers take columns by name, NULL where absent. */
        sl_log_info("lake: new columns, new segment", "\"segment\":\"%.200s/%.200s\"", l->root,
                    l->cur_rel);
    }
    char dir[64], rel[REL_MAX];
    hour_dir_name(hour, dir, sizeof dir);
    snprintf(rel, sizeof rel, "%s/part-%08lld.parquet", dir, (long long)l->next_seq);
    path_join(abs, sizeof abs, l->root, dir);
    if (mkdirs(abs, 0) != 0) return lake_io_fail(l, err, "mkdir", dir, errno);
    path_join(abs, sizeof abs, l->root, rel);
    if ((rc = sync_dirs(l, err))) return rc;
    l->pq = sl_pq_create(abs, &l->pq_schema, &o, err);
    if (!l->pq) {
        return pq_fail(l, err);
    }
    l->dirsync_pending = 1;
    snprintf(l->dirsync_rel, sizeof l->dirsync_rel, "%s", rel);
    snprintf(l->cur_rel, sizeof l->cur_rel, "%s", rel);
    l->cur_seq = l->next_seq++;
    l->cur_hour = hour;
    l->cur_size = l->cur_synced = sl_pq_length(l->pq);
    return 0;
}

int sl_lake_append_columns(sl_lake *l, const sl_column *const *cols, uint32_t from, uint32_t n,
                           int64_t ingest_us, int64_t *first_id, sl_error *err) {
    int rc;
    if ((rc = check_usable(l, err))) return rc;
    if (!l->parquet)
        return sl_error_set(err, SL_EINVAL, "lake %s: columns need a parquet lake", l->root);
    int64_t hour = sl_floor_div(ingest_us, US_PER_HOUR);
    if (!l->pq || hour != l->cur_hour) {
        if ((rc = switch_segment(l, hour, err))) return rc;
    }
    /* a row's index counts every row group before it, flushed or not */
    int64_t row = sl_pq_rows(l->pq) + sl_pq_pending_rows(l->pq);
    assert(row + n <= UINT32_MAX); /* a segment closes after 64 row groups */
    if (first_id) *first_id = SL_LAKE_ROW_ID(l->cur_seq, row);
    if (sl_pq_append(l->pq, cols, from, n, err) != 0 ||
        (sl_pq_pending_rows(l->pq) >= SL_LAKE_ROW_GROUP_ROWS &&
         sl_pq_write_row_group(l->pq, err) != 0)) {
        return pq_fail(l, err);
    }
    return 0;
}

static int flush_parquet(sl_lake *l, sl_error *err) {
    int rc;
    if (l->pq) {
        if ((rc = pq_flush_counted(l, err))) return rc;
        l->cur_size = l->cur_synced = sl_pq_length(l->pq);
    }
    if ((rc = sync_dirs(l, err))) return rc;
    if (l->pq && sl_pq_row_groups(l->pq) > 0) {
        snprintf(l->pos.segment, sizeof l->pos.segment, "%s", l->cur_rel);
        l->pos.length = l->cur_size;
        /* every flush rewrites the footer, which lists every row group: a
         * segment is closed after SL_LAKE_MAX_ROW_GROUPS of them so the
         * footers stay small */
        if (l->cur_size >= l->max_bytes || sl_pq_row_groups(l->pq) >= SL_LAKE_MAX_ROW_GROUPS) {
            sl_pq_close(l->pq);
            l->pq = NULL;
            l->cur_rel[0] = '\0';
        }
    }
    return 0;
}

int sl_lake_append(sl_lake *l, const char *line, size_t len, int64_t ingest_us, sl_error *err) {
    int rc;
    if ((rc = check_usable(l, err))) return rc;
    if (l->parquet)
        return sl_error_set(err, SL_EINVAL, "lake %s: a parquet lake takes columns", l->root);
    if (len && memchr(line, '\n', len))
        return sl_error_set(err, SL_EINVAL, "lake %s: line contains a newline", l->root);
    int64_t hour = sl_floor_div(ingest_us, US_PER_HOUR);
    if (l->fd < 0 || hour != l->cur_hour) {
        if ((rc = switch_segment(l, hour, err))) return rc;
    }
    l->frame_open = 1;
    if (len + 1 <= l->in_cap - l->in_len) {
        if (len) memcpy(l->inbuf + l->in_len, line, len);
        l->inbuf[l->in_len + len] = '\n';
        l->in_len += len + 1;
        return 0;
    }
    if (l->in_len) {
        if ((rc = compress(l, l->inbuf, l->in_len, ZSTD_e_continue, err))) return rc;
        l->in_len = 0;
    }
    if (len + 1 <= l->in_cap) {
        if (len) memcpy(l->inbuf, line, len);
        l->inbuf[len] = '\n';
        l->in_len = len + 1;
        return 0;
    }
    /* A line longer than the buffer goes straight to the encoder. */
    if ((rc = compress(l, line, len, ZSTD_e_continue, err))) return rc;
    l->inbuf[0] = '\n';
    l->in_len = 1;
    return 0;
}

int sl_lake_flush(sl_lake *l, sl_error *err) {
    int rc;
    if ((rc = check_usable(l, err))) return rc;
    if (l->parquet) return flush_parquet(l, err);
    if (l->frame_open && (rc = end_frame(l, err))) return rc;
    if ((rc = sync_pending(l, err))) return rc;
    if (l->fd >= 0 && l->cur_size != l->cur_synced) {
        if (fdatasync(l->fd) != 0) return lake_io_fail(l, err, "fsync", l->cur_rel, errno);
        l->cur_synced = l->cur_size;
    }
    if ((rc = sync_dirs(l, err))) return rc;
    if (l->fd >= 0) {
        /* the position only moves over durable bytes: frame ended, file and
         * directory entries synced */
        assert(!l->frame_open && l->in_len == 0 && l->cur_synced == l->cur_size);
        assert(l->pending_fd < 0 && !l->dirsync_pending);
        snprintf(l->pos.segment, sizeof l->pos.segment, "%s", l->cur_rel);
        l->pos.length = l->cur_size;
        if (l->cur_size >= l->max_bytes) { /* roll: the next row opens a new segment */
            close(l->fd);
            l->fd = -1;
        }
    }
    return 0;
}

void sl_lake_position(const sl_lake *l, sl_lake_pos *pos) { *pos = l->pos; }

int64_t sl_lake_bytes_written(const sl_lake *l) { return l->bytes_written; }

/* --------------------------------------------------------------- recovery */

typedef struct {
    int pos_set;
    int64_t pseq;
    const char *pos_rel;
    int found;
    int64_t max_seq;
    int deleted;
    sl_error *err;
} recover_ctx;

static int recover_hour(void *vctx, const char *hr_abs, const char *rel_dir, int64_t hour_us) {
    (void)hour_us;
    recover_ctx *c = vctx;
    char **names;
    size_t n;
    if (read_names(hr_abs, keep_file, &names, &n) != 0)
        return sl_error_set(c->err, io_code(errno), "lake: cannot read %s: %s", hr_abs,
                            strerror(errno));
    int rc = 0, del = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        char rel[REL_MAX], abs[PATH_MAX];
        snprintf(rel, sizeof rel, "%s/%s", rel_dir, names[i]);
        path_join(abs, sizeof abs, hr_abs, names[i]);
        int64_t seq;
        int drop;
        if (ends_with(names[i], ".tmp")) {
            drop = 1;
        } else if (parse_part(names[i], &seq) == 0) {
            if (c->pos_set && strcmp(rel, c->pos_rel) == 0) {
                c->found = 1;
                drop = 0;
            } else {
                /* seq == pseq elsewhere can only be a stray: not committed. */
                drop = !c->pos_set || seq >= c->pseq;
            }
            if (!drop && seq > c->max_seq) c->max_seq = seq;
        } else {
            drop = 0;
        }
        if (!drop) continue;
        if (unlink(abs) != 0 && errno != ENOENT) {
            rc = sl_error_set(c->err, SL_EIO, "lake: cannot delete %s: %s", abs, strerror(errno));
            break;
        }
        sl_log_info("lake recovery deleted uncommitted file", "\"file\":\"%.400s\"", abs);
        del++;
    }
    free_names(names, n);
    c->deleted += del;
    if (rc == 0 && del) rc = settle_hour_dir(hr_abs, c->err);
    return rc;
}

int sl_lake_recover(sl_lake *l, const sl_lake_pos *pos, sl_error *err) {
    if (l->failed) return check_usable(l, err);
    if (l->recovered) return sl_error_set(err, SL_EINVAL, "lake %s: recover called twice", l->root);
    recover_ctx c = {0};
    c.err = err;
    int64_t phour = 0;
    if (pos && pos->segment[0]) {
        if (memchr(pos->segment, '\0', sizeof pos->segment) == NULL ||
            sl_lake_segment_parse(pos->segment, &c.pseq, &phour) != 0 || pos->length < 0)
            return sl_error_set(err, SL_EINVAL, "lake %s: bad committed position '%.255s' @%lld",
                                l->root, pos->segment, (long long)pos->length);
        c.pos_set = 1;
        c.pos_rel = pos->segment;
    }
    /* Check the committed segment before deleting anything: a wrong position
     * must not destroy the lake. */
    char abs[PATH_MAX] = "";
    if (c.pos_set) {
        path_join(abs, sizeof abs, l->root, pos->segment);
        struct stat st;
        int fd = open(abs, O_WRONLY | O_CLOEXEC);
        if (fd < 0 && errno == ENOENT)
            return sl_error_set(err, SL_ECORRUPT,
                                "lake: committed segment %s is missing (committed length %lld)",
                                abs, (long long)pos->length);
        if (fd < 0 || fstat(fd, &st) != 0) {
            int e = errno;
            if (fd >= 0) close(fd);
            return sl_error_set(err, SL_EIO, "lake: cannot open %s: %s", abs, strerror(e));
        }
        if (st.st_size < pos->length) {
            close(fd);
            return sl_error_set(err, SL_ECORRUPT,
                                "lake: committed segment %s has %lld bytes, less than the "
                                "committed %lld: committed data was lost",
                                abs, (long long)st.st_size, (long long)pos->length);
        }
        if (st.st_size > pos->length) {
            sl_log_info("lake recovery truncates segment",
                        "\"file\":\"%.400s\",\"from\":%lld,\"to\":%lld", abs, (long long)st.st_size,
                        (long long)pos->length);
            if (ftruncate(fd, pos->length) != 0 || fdatasync(fd) != 0) {
                int e = errno;
                close(fd);
                return sl_error_set(err, SL_EIO, "lake: cannot truncate %s: %s", abs, strerror(e));
            }
        }
        close(fd);
    }
    int rc = walk_hours(l->root, 1, recover_hour, &c, err);
    if (rc) return rc;
    if (c.pos_set) {
        if (!c.found) /* vanished between the check and the walk */
            return sl_error_set(err, SL_ECORRUPT, "lake: committed segment %s is missing", abs);
        l->pos = *pos;
        snprintf(l->cur_rel, sizeof l->cur_rel, "%s", pos->segment);
        l->cur_seq = c.pseq;
        l->cur_hour = sl_floor_div(phour, US_PER_HOUR);
        l->cur_size = l->cur_synced = pos->length;
        if (c.pseq > c.max_seq) c.max_seq = c.pseq;
    } else {
        memset(&l->pos, 0, sizeof l->pos);
        if (c.deleted)
            sl_log_warn("lake recovery: nothing committed, deleted all segments",
                        "\"root\":\"%.400s\",\"files\":%d", l->root, c.deleted);
    }
    if (c.deleted && fsync_path(l->root) != 0)
        return sl_error_set(err, SL_EIO, "lake: fsync %s: %s", l->root, strerror(errno));
    l->next_seq = c.max_seq + 1;
    l->recovered = 1;
    return 0;
}

/* -------------------------------------------------------------- retention */

typedef struct {
    const sl_lake *l;
    int64_t max_age_us, now_us;
    int64_t keep_seq; /* folders with a segment numbered >= keep_seq stay */
    int files;
    sl_error err;
} retention_ctx;

static int is_dir_of(const char *rel_dir, const char *seg) {
    size_t n = strlen(rel_dir);
    return seg[0] && strncmp(seg, rel_dir, n) == 0 && seg[n] == '/';
}

static int retention_hour(void *vctx, const char *hr_abs, const char *rel_dir, int64_t hour_us) {
    retention_ctx *c = vctx;
    int64_t hour_end = hour_us + US_PER_HOUR;
    if (c->now_us - hour_end <= c->max_age_us) return 0;
    if (is_dir_of(rel_dir, c->l->cur_rel) || is_dir_of(rel_dir, c->l->pos.segment)) return 0;
    char **names;
    size_t n;
    if (read_names(hr_abs, keep_file, &names, &n) != 0) return 0;
    for (size_t i = 0; i < n; i++) {
        char rel[PATH_MAX];
        int64_t seq;
        if (path_join(rel, sizeof rel, rel_dir, names[i]) == 0 &&
            sl_lake_segment_parse(rel, &seq, NULL) == 0 && seq >= c->keep_seq) {
            free_names(names, n); /* another table still reads its rows */
            return 0;
        }
    }
    for (size_t i = 0; i < n; i++) {
        char abs[PATH_MAX];
        if (path_join(abs, sizeof abs, hr_abs, names[i])) continue;
        if (unlink(abs) == 0)
            c->files++;
        else
            sl_log_warn("lake retention cannot delete", "\"file\":\"%.400s\",\"errno\":%d", abs,
                        errno);
    }
    free_names(names, n);
    if (settle_hour_dir(hr_abs, &c->err) != 0)
        sl_log_warn("lake retention", "\"error\":\"%.400s\"", c->err.msg);
    return 0;
}

int sl_lake_retention(sl_lake *l, int64_t max_age_us, int64_t now_us, int64_t keep_seq) {
    retention_ctx c = {l, max_age_us, now_us, keep_seq, 0, {0, {0}}};
    int rc = walk_hours(l->root, 1, retention_hour, &c, &c.err);
    if (rc) return rc;
    /* the cold tier ages by the same hour folders */
    if (l->cold_root[0] && (rc = walk_hours(l->cold_root, 1, retention_hour, &c, &c.err)))
        return rc;
    if (c.files)
        sl_log_info("lake retention", "\"root\":\"%.400s\",\"files_deleted\":%d", l->root, c.files);
    return c.files;
}

/* -------------------------------------------------------------- cold tier */

/* The cold tier. A hot hour folder ROOT/dt=/hr= older than cold_after moves
 * to COLD/dt=/hr= (COLD = cold_path/<layer>/<table>), each segment
 * recompressed at a high zstd level. ROOT/.cold names COLD, so readers
 * (lake_vtab.c) find both tiers from ROOT alone.
 *
 * Crash safety: rows must be readable exactly once whatever the moment of a
 * crash. Per folder: every segment is written to COLD/.../part-N.tmp,
 * fdatasynced, renamed to its final name and the folder fsynced; only then
 * are the hot files unlinked. So at any instant each segment exists hot, cold
 * or both with identical rows; readers list hot first and take a cold segment
 * only when no hot one has the same relative path (and fall back to the cold
 * copy when the hot one vanishes between listing and opening). A cold *.tmp
 * is never read and is deleted at start (sl_lake_set_cold); a folder found in
 * both tiers is simply moved again (the rename replaces the cold copy).
 *
 * Only committed segments move: a folder moves when all its segments have a
 * sequence number below safe_seq, the caller's last position known to be
 * committed (the open segment and anything written since stay hot, so
 * recovery never looks for a segment in the cold tier). */

#define COLD_MARKER ".cold"

int sl_lake_cold_root(const char *root, char *out, size_t cap) {
    char m[PATH_MAX];
    out[0] = '\0';
    if (path_join(m, sizeof m, root, COLD_MARKER)) return -1;
    FILE *f = fopen(m, "re");
    if (!f) return -1;
    if (!fgets(out, (int)cap, f)) out[0] = '\0';
    fclose(f);
    size_t n = strlen(out);
    while (n && (out[n - 1] == '\n' || out[n - 1] == '\r'))
        out[--n] = '\0';
    if (!out[0]) return -1;
    if (out[0] != '/') { /* relative to ROOT (see relative_path) */
        char j[PATH_MAX];
        if (path_join(j, sizeof j, root, out)) return -1;
        char *r = realpath(j, NULL);
        snprintf(out, cap, "%s", r ? r : j);
        free(r);
    }
    return 0;
}

/* The path of `to` seen from `from` (both absolute, resolved): the marker is
 * relative when the two share more than "/", so a data directory moved or
 * exchanged as a whole (sluice refresh) takes its default DATA/cold along. */
static void relative_path(const char *from, const char *to, char *out, size_t cap) {
    size_t common = 0;
    for (size_t i = 0; from[i] && from[i] == to[i]; i++)
        if (from[i] == '/' && i > 0) common = i;
    size_t nf = strlen(from);
    if (strncmp(from, to, nf) == 0 && to[nf] == '/') common = nf; /* to inside from */
    if (common == 0) {
        snprintf(out, cap, "%s", to);
        return;
    }
    size_t o = 0;
    out[0] = '\0';
    for (const char *p = from + common; *p; p++)
        if (*p == '/' && o + 4 < cap) {
            memcpy(out + o, "../", 4);
            o += 3;
        }
    snprintf(out + o, cap - o, "%s", to[common] == '/' ? to + common + 1 : to + common);
}

static int cold_tmp_hour(void *vctx, const char *hr_abs, const char *rel_dir, int64_t hour_us) {
    (void)rel_dir, (void)hour_us;
    sl_error *err = vctx;
    char **names;
    size_t n;
    if (read_names(hr_abs, keep_file, &names, &n) != 0) return 0;
    int del = 0;
    for (size_t i = 0; i < n; i++) {
        char abs[PATH_MAX];
        if (!ends_with(names[i], ".tmp") || path_join(abs, sizeof abs, hr_abs, names[i])) continue;
        if (unlink(abs) == 0) del++;
    }
    free_names(names, n);
    return del ? settle_hour_dir(hr_abs, err) : 0;
}

int sl_lake_set_cold(sl_lake *l, const char *cold_root, sl_error *err) {
    if (mkdirs(cold_root, 1) != 0)
        return sl_error_set(err, io_code(errno), "lake: cannot create cold tier %s: %s", cold_root,
                            strerror(errno));
    char *abs = realpath(cold_root, NULL);
    if (!abs) return sl_error_set(err, SL_EIO, "lake: %s: %s", cold_root, strerror(errno));
    int rc = 0;
    if (strlen(abs) >= sizeof l->cold_root) {
        rc = sl_error_set(err, SL_EINVAL, "lake: cold tier path too long");
        goto done;
    }
    if (strcmp(abs, l->cold_root) != 0) { /* (re)write the marker: tmp, fsync, rename */
        char m[PATH_MAX], tmp[PATH_MAX + 8];
        path_join(m, sizeof m, l->root, COLD_MARKER);
        snprintf(tmp, sizeof tmp, "%s.new", m);
        char *rabs = realpath(l->root, NULL), rel[PATH_MAX];
        relative_path(rabs ? rabs : l->root, abs, rel, sizeof rel);
        free(rabs);
        FILE *f = fopen(tmp, "we");
        if (!f || fprintf(f, "%s\n", rel) < 0 || fflush(f) != 0 || fsync(fileno(f)) != 0 ||
            fclose(f) != 0 || rename(tmp, m) != 0 || fsync_path(l->root) != 0) {
            rc = sl_error_set(err, io_code(errno), "lake: cannot write %s: %s", m, strerror(errno));
            goto done;
        }
        snprintf(l->cold_root, sizeof l->cold_root, "%s", abs);
    }
    /* a crash in the middle of a move leaves temp files: never read, dropped */
    rc = walk_hours(l->cold_root, 0, cold_tmp_hour, err, err);
done:
    free(abs);
    return rc;
}

/* tests: SLUICE_TEST_KILL_IN_COLD_MOVE=N kills the process (SIGKILL) at the
 * N-th step of moving (a temp file written, renamed, a hot file deleted). */
static void cold_test_step(void) {
    static int steps = -1;
    if (steps < 0) {
        const char *k = getenv("SLUICE_TEST_KILL_IN_COLD_MOVE");
        steps = k ? atoi(k) : 0;
        if (steps <= 0) steps = 0;
    }
    if (steps > 0 && --steps == 0) raise(SIGKILL);
}

/* Decompresses hot `src` and writes it to `dst` (a new file) as one frame at
 * the cold level, with a checksum; fdatasyncs it. */
static int recompress(sl_lake *l, const char *src, const char *dst, sl_error *err) {
    int in = open(src, O_RDONLY | O_CLOEXEC);
    if (in < 0) return sl_error_set(err, io_code(errno), "lake: open %s: %s", src, strerror(errno));
    int out = open(dst, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (out < 0) {
        int e = errno;
        close(in);
        return sl_error_set(err, io_code(e), "lake: create %s: %s", dst, strerror(e));
    }
    ZSTD_DCtx_reset(l->cold_dctx, ZSTD_reset_session_only);
    ZSTD_CCtx_reset(l->cold_cctx, ZSTD_reset_session_only);
    /* inbuf/outbuf are the writer's; between flushes they hold nothing */
    char rbuf[1 << 16];
    int rc = 0;
    size_t last = 0;
    for (;;) {
        ssize_t r = read(in, rbuf, sizeof rbuf);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) {
            rc = sl_error_set(err, SL_EIO, "lake: read %s: %s", src, strerror(errno));
            break;
        }
        if (r == 0) break; /* `last` says whether the final frame was complete */
        ZSTD_inBuffer zin = {rbuf, (size_t)r, 0};
        for (;;) { /* until the input is used and the decoder has nothing more to give */
            ZSTD_outBuffer dout = {l->inbuf, l->in_cap, 0};
            last = ZSTD_decompressStream(l->cold_dctx, &dout, &zin);
            if (ZSTD_isError(last)) {
                rc = sl_error_set(err, SL_ECORRUPT, "lake: %s: %s", src, ZSTD_getErrorName(last));
                break;
            }
            ZSTD_inBuffer cin = {l->inbuf, dout.pos, 0};
            while (cin.pos < cin.size && rc == 0) {
                ZSTD_outBuffer cout = {l->outbuf, l->out_cap, 0};
                size_t c = ZSTD_compressStream2(l->cold_cctx, &cout, &cin, ZSTD_e_continue);
                if (ZSTD_isError(c))
                    rc = sl_error_set(err, SL_EIO, "lake: zstd: %s", ZSTD_getErrorName(c));
                else if (cout.pos && write(out, l->outbuf, cout.pos) != (ssize_t)cout.pos)
                    rc = sl_error_set(err, io_code(errno), "lake: write %s: %s", dst,
                                      strerror(errno));
            }
            if (rc || (zin.pos == zin.size && dout.pos < dout.size)) break;
        }
        if (rc) break;
    }
    if (rc == 0 && last != 0)
        rc = sl_error_set(err, SL_ECORRUPT, "lake: %s ends inside a zstd frame", src);
    for (size_t c = 1; rc == 0 && c != 0;) {
        ZSTD_inBuffer cin = {NULL, 0, 0};
        ZSTD_outBuffer cout = {l->outbuf, l->out_cap, 0};
        c = ZSTD_compressStream2(l->cold_cctx, &cout, &cin, ZSTD_e_end);
        if (ZSTD_isError(c))
            rc = sl_error_set(err, SL_EIO, "lake: zstd: %s", ZSTD_getErrorName(c));
        else if (cout.pos && write(out, l->outbuf, cout.pos) != (ssize_t)cout.pos)
            rc = sl_error_set(err, io_code(errno), "lake: write %s: %s", dst, strerror(errno));
    }
    if (rc == 0 && fdatasync(out) != 0)
        rc = sl_error_set(err, io_code(errno), "lake: fsync %s: %s", dst, strerror(errno));
    close(in);
    if (close(out) != 0 && rc == 0)
        rc = sl_error_set(err, io_code(errno), "lake: close %s: %s", dst, strerror(errno));
    if (rc) unlink(dst);
    return rc;
}

/* A parquet segment for the cold tier: its row groups read back and written
 * again at the cold level, merged into row groups of up to COLD_PQ_ROWS rows
 * (a hot segment holds one row group per commit: fewer, larger groups
 * compress better and read faster). */
#define COLD_PQ_ROWS (1u << 20)
static int recompress_parquet(sl_lake *l, const char *src, const char *dst, sl_error *err) {
    sl_pq_reader *r = sl_pq_open(src, -1, err);
    if (!r) return err->code ? err->code : SL_ECORRUPT;
    unlink(dst); /* a temp file a crash left (sl_pq_create refuses to overwrite) */
    sl_pq_options o = {.zstd_level = l->cold_level};
    const sl_schema *sc = sl_pq_schema(r);
    sl_pq_writer *w = sl_pq_create(dst, sc, &o, err);
    int rc = w ? 0 : (err->code ? err->code : SL_EIO);
    sl_column cols[SL_MAX_COLUMNS];
    const sl_column *ptrs[SL_MAX_COLUMNS];
    for (int g = 0; rc == 0 && g < sl_pq_num_row_groups(r); g++) {
        int64_t rows = sl_pq_row_group_rows(r, g);
        for (int c = 0; rc == 0 && c < sc->n; c++) {
            rc = sl_pq_read_column(r, g, c, c, &cols[c], err);
            ptrs[c] = &cols[c];
        }
        if (rc == 0) rc = sl_pq_append(w, ptrs, 0, (uint32_t)rows, err);
        if (rc == 0 && sl_pq_pending_rows(w) >= COLD_PQ_ROWS) rc = sl_pq_flush(w, err);
    }
    if (rc == 0) rc = sl_pq_flush(w, err); /* fsyncs */
    sl_pq_close_reader(r);
    if (w) sl_pq_close(w);
    if (rc) unlink(dst);
    return rc;
}

typedef struct {
    sl_lake *l;
    int64_t cold_after_us, now_us, safe_seq;
    int64_t budget; /* hot bytes this call may still move */
    int segments;   /* moved so far */
    sl_error *err;
} cold_ctx;

/* Moves the segments of one old hour folder, as many as the budget allows
 * (at least one per call): a folder may take several calls, which is safe
 * as each segment is found in one tier or the other (see above). */
static int cold_hour(void *vctx, const char *hr_abs, const char *rel_dir, int64_t hour_us) {
    cold_ctx *c = vctx;
    sl_lake *l = c->l;
    if (c->segments && c->budget <= 0) return 0;
    if (c->now_us - (hour_us + US_PER_HOUR) <= c->cold_after_us) return 0;
    if (is_dir_of(rel_dir, l->cur_rel) || is_dir_of(rel_dir, l->pos.segment)) return 0;
    char **names;
    size_t n;
    if (read_names(hr_abs, keep_file, &names, &n) != 0) return 0;
    int rc = 0, parts = 0;
    for (size_t i = 0; i < n; i++) {
        int64_t seq;
        if (parse_part(names[i], &seq) != 0) continue;
        parts++;
        if (seq >= c->safe_seq) goto out; /* not known to be committed yet */
    }
    if (!parts) goto out;
    char cold_dir[PATH_MAX];
    if (path_join(cold_dir, sizeof cold_dir, l->cold_root, rel_dir)) goto out;
    if (mkdirs(cold_dir, 1) != 0) {
        rc = sl_error_set(c->err, io_code(errno), "lake: cannot create %s: %s", cold_dir,
                          strerror(errno));
        goto out;
    }
    size_t moved = 0; /* names[0..moved) were looked at; the parts among them are cold */
    for (; moved < n && rc == 0 && (c->segments == 0 || c->budget > 0); moved++) {
        int64_t seq;
        if (parse_part(names[moved], &seq) != 0) continue;
        char src[PATH_MAX], dst[PATH_MAX], tmp[PATH_MAX + 8];
        path_join(src, sizeof src, hr_abs, names[moved]);
        path_join(dst, sizeof dst, cold_dir, names[moved]);
        snprintf(tmp, sizeof tmp, "%s.tmp", dst);
        struct stat st;
        if (stat(src, &st) == 0) c->budget -= st.st_size;
        if ((rc = ends_with(src, ".parquet") ? recompress_parquet(l, src, tmp, c->err)
                                             : recompress(l, src, tmp, c->err)))
            break;
        cold_test_step();
        if (rename(tmp, dst) != 0)
            rc = sl_error_set(c->err, io_code(errno), "lake: rename %s: %s", tmp, strerror(errno));
        cold_test_step();
        if (rc == 0) c->segments++;
    }
    /* the cold names are durable before any hot file goes */
    if (rc == 0 && fsync_path(cold_dir) != 0)
        rc = sl_error_set(c->err, SL_EIO, "lake: fsync %s: %s", cold_dir, strerror(errno));
    for (size_t i = 0; i < moved && rc == 0; i++) {
        int64_t seq;
        char src[PATH_MAX];
        if (parse_part(names[i], &seq) != 0 || path_join(src, sizeof src, hr_abs, names[i]))
            continue;
        if (unlink(src) != 0 && errno != ENOENT)
            rc = sl_error_set(c->err, SL_EIO, "lake: cannot delete %s: %s", src, strerror(errno));
        cold_test_step();
    }
    if (rc == 0) rc = settle_hour_dir(hr_abs, c->err);
out:
    free_names(names, n);
    return rc;
}

int sl_lake_cold_move(sl_lake *l, int64_t cold_after_us, int64_t now_us, int64_t safe_seq,
                      int64_t max_bytes, int level, sl_error *err) {
    if (!l->cold_root[0]) return sl_error_set(err, SL_EINVAL, "lake %s: no cold tier", l->root);
    /* Contexts per call: a high level's tables are tens of MB, allocated at
     * the first compression only, and not worth keeping between commits. */
    l->cold_cctx = ZSTD_createCCtx();
    l->cold_dctx = ZSTD_createDCtx();
    int rc = 0;
    if (level < 1) level = 19;
    if (level > ZSTD_maxCLevel()) level = ZSTD_maxCLevel();
    l->cold_level = level;
    if (!l->cold_cctx || !l->cold_dctx)
        rc = sl_error_set(err, SL_ENOMEM, "lake: out of memory");
    else if (ZSTD_isError(ZSTD_CCtx_setParameter(l->cold_cctx, ZSTD_c_compressionLevel, level)) ||
             ZSTD_isError(ZSTD_CCtx_setParameter(l->cold_cctx, ZSTD_c_checksumFlag, 1)))
        rc = sl_error_set(err, SL_EINVAL, "lake: bad zstd level %d", level);
    cold_ctx c = {l, cold_after_us, now_us, safe_seq, max_bytes, 0, err};
    if (rc == 0) rc = walk_hours(l->root, 1, cold_hour, &c, err);
    ZSTD_freeCCtx(l->cold_cctx);
    ZSTD_freeDCtx(l->cold_dctx);
    l->cold_cctx = NULL;
    l->cold_dctx = NULL;
    if (rc) return rc;
    if (c.segments)
        sl_log_info("lake cold tier", "\"root\":\"%.400s\",\"segments_moved\":%d", l->root,
                    c.segments);
    return c.segments;
}

/* ------------------------------------------------------------- references */

/* Rows of a rewritten segment buffered per row group (values are copied). */
#define MATERIALIZE_ROWS (4u * SL_LAKE_ROW_GROUP_ROWS)

/* 1: src has no _ref column (left alone); 0: rewritten to tmp; else an SL_E* code. */
static int materialize_segment(sl_lake *l, const char *src, const char *tmp, const sl_schema *full,
                               sl_lake_fill_fn fill, void *ud, sl_error *err) {
    sl_pq_reader *r = sl_pq_open(src, -1, err);
    if (!r) return err->code ? err->code : SL_ECORRUPT;
    const sl_schema *fs = sl_pq_schema(r);
    int refc = sl_schema_find(fs, "_ref");
    if (refc < 0 || fs->f[refc].type != SL_T_INT) {
        sl_pq_close_reader(r);
        return 1;
    }
    unlink(tmp); /* a temp file a crash left (sl_pq_create refuses to overwrite) */
    sl_pq_options o = {.zstd_level = l->pq_level};
    sl_pq_writer *w = sl_pq_create(tmp, full, &o, err);
    int rc = w ? 0 : (err->code ? err->code : SL_EIO);
    sl_column ids, cols[SL_MAX_COLUMNS];
    const sl_column *ptrs[SL_MAX_COLUMNS];
    for (int g = 0; rc == 0 && g < sl_pq_num_row_groups(r); g++) {
        int64_t rows = sl_pq_row_group_rows(r, g);
        rc = sl_pq_read_column(r, g, refc, refc, &ids, err);
        for (int64_t i = 0; rc == 0 && ids.null && i < rows; i++)
            if (ids.null[i])
                rc = sl_error_set(err, SL_ECORRUPT, "lake: %s: a row without _ref", src);
        for (int c = 0; rc == 0 && c < full->n; c++) {
            int fc = sl_schema_find(fs, full->f[c].name);
            if (fc >= 0 && fs->f[fc].type == full->f[c].type)
                rc = sl_pq_read_column(r, g, fc, fc, &cols[c], err);
            else
                rc = fill(ud, full->f[c].name, full->f[c].type, ids.v.i, (uint32_t)rows, c,
                          &cols[c], err);
            ptrs[c] = &cols[c];
        }
        if (rc == 0) rc = sl_pq_append(w, ptrs, 0, (uint32_t)rows, err);
        if (rc == 0 && sl_pq_pending_rows(w) >= MATERIALIZE_ROWS)
            rc = sl_pq_write_row_group(w, err);
    }
    if (rc == 0) rc = sl_pq_flush(w, err); /* the footer, then fsync */
    sl_pq_close_reader(r);
    if (w) sl_pq_close(w);
    if (rc) unlink(tmp);
    return rc;
}

typedef struct {
    sl_lake *l;
    const sl_schema *full;
    int64_t after_us, now_us, safe_seq, budget;
    sl_lake_fill_fn fill;
    void *ud;
    int done;
    sl_error *err;
} materialize_ctx;

static int materialize_hour(void *vctx, const char *hr_abs, const char *rel_dir, int64_t hour_us) {
    materialize_ctx *c = vctx;
    if (c->done && c->budget <= 0) return 0;
    if (c->now_us - (hour_us + US_PER_HOUR) <= c->after_us) return 0;
    if (is_dir_of(rel_dir, c->l->cur_rel) || is_dir_of(rel_dir, c->l->pos.segment)) return 0;
    char **names;
    size_t n;
    if (read_names(hr_abs, keep_file, &names, &n) != 0) return 0;
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0 && (c->done == 0 || c->budget > 0); i++) {
        int64_t seq;
        if (parse_part(names[i], &seq) != 0 || !ends_with(names[i], ".parquet")) continue;
        if (seq >= c->safe_seq) break; /* not known to be committed yet */
        char src[PATH_MAX], tmp[PATH_MAX + 8];
        if (path_join(src, sizeof src, hr_abs, names[i])) continue;
        snprintf(tmp, sizeof tmp, "%.*s.tmp", (int)(strlen(src) - strlen(".parquet")), src);
        struct stat st;
        int64_t size = stat(src, &st) == 0 ? st.st_size : 0;
        int r = materialize_segment(c->l, src, tmp, c->full, c->fill, c->ud, c->err);
        if (r == 1) continue;
        if (r) {
            rc = r;
            break;
        }
        if (rename(tmp, src) != 0) {
            rc = sl_error_set(c->err, io_code(errno), "lake: rename %s: %s", tmp, strerror(errno));
            unlink(tmp);
            break;
        }
        c->budget -= size;
        c->done++;
    }
    if (rc == 0 && c->done && fsync_path(hr_abs) != 0)
        rc = sl_error_set(c->err, SL_EIO, "lake: fsync %s: %s", hr_abs, strerror(errno));
    free_names(names, n);
    return rc;
}

int sl_lake_materialize(sl_lake *l, const sl_schema *full, int64_t after_us, int64_t now_us,
                        int64_t safe_seq, int64_t max_bytes, sl_lake_fill_fn fill, void *ud,
                        sl_error *err) {
    if (!l->parquet) return 0;
    materialize_ctx c = {l, full, after_us, now_us, safe_seq, max_bytes, fill, ud, 0, err};
    int rc = walk_hours(l->root, 0, materialize_hour, &c, err);
    if (rc) return rc;
    if (c.done)
        sl_log_info("lake references materialized", "\"root\":\"%.400s\",\"segments\":%d", l->root,
                    c.done);
    return c.done;
}

/* The lowest referenced sequence in one segment file: 1 found (*out), 0 no
 * _ref column or no rows, -1 unreadable. */
static int segment_ref_floor(const char *path, int64_t *out) {
    sl_error e = {0, {0}};
    sl_pq_reader *r = sl_pq_open(path, -1, &e);
    if (!r) return -1;
    const sl_schema *fs = sl_pq_schema(r);
    int refc = sl_schema_find(fs, "_ref");
    int found = 0;
    int64_t lo = INT64_MAX;
    for (int g = 0; refc >= 0 && g < sl_pq_num_row_groups(r); g++) {
        sl_pq_stats st;
        if (sl_pq_row_group_rows(r, g) == 0) continue;
        if (sl_pq_chunk_stats(r, g, refc, &st) != 0 || !st.has_min_max) {
            found = -1;
            break;
        }
        if (st.min.i < lo) lo = st.min.i;
        found = 1;
    }
    sl_pq_close_reader(r);
    if (found == 1) *out = (int64_t)((uint64_t)lo >> 32);
    return found;
}

int64_t sl_lake_ref_floor(const char *root, int64_t *from) {
    sl_lake_segment *hot = NULL, *cold = NULL;
    size_t nh = 0, nc = 0;
    sl_error e = {0, {0}};
    char cold_root[PATH_MAX];
    if (sl_lake_segments_list(root, &hot, &nh, &e) != 0) return -1;
    if (sl_lake_cold_root(root, cold_root, sizeof cold_root) == 0 &&
        sl_lake_segments_list(cold_root, &cold, &nc, &e) != 0) {
        free(hot);
        return -1;
    }
    int64_t floor = INT64_MAX;
    size_t i = 0, j = 0;
    while (i < nh || j < nc) { /* both lists in sequence order: merge them */
        bool take_hot = j >= nc || (i < nh && hot[i].seq <= cold[j].seq);
        const char *base = take_hot ? root : cold_root;
        const sl_lake_segment *s = take_hot ? &hot[i++] : &cold[j++];
        if (s->seq < *from || !ends_with(s->path, ".parquet")) continue;
        char path[PATH_MAX];
        if (path_join(path, sizeof path, base, s->path)) continue;
        int64_t f;
        int r = segment_ref_floor(path, &f);
        if (r < 0) { /* unknown: nothing may go */
            floor = -1;
            break;
        }
        if (r == 1) {
            floor = f;
            *from = s->seq;
            break;
        }
    }
    free(hot);
    free(cold);
    return floor;
}
