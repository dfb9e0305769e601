/* dir.c - landing-directory source; see dir.h. */
#include "sources/dir.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/hash.h"
#include "core/timeutil.h"

#define BUF_SIZE (4u << 20)

typedef struct {
    char *name;
    int64_t pos;  /* consumed offset */
    int64_t size; /* as of the last scan */
    int64_t mtime_us;
    bool dirty;
} dfile;

struct sl_dir_source {
    char path[PATH_MAX];
    char pattern[256];
    dfile *f;
    const char **names;
    int n, cap;
    sl_hmap *by_name;       /* name hash -> index */
    int cur;                /* file being read, -1 none */
    int scan_from;          /* files before this index are fully read (hint) */
    int fd;                 /* open fd of cur */
    char *buf;              /* BUF_SIZE + padding */
    size_t blen;            /* bytes in buf */
    size_t bconsumed;       /* bytes of buf consumed */
    int64_t boff;           /* file offset of buf[0] */
    bool fake_nl;           /* a '\n' was appended at EOF */
    /* restored positions for files not seen yet */
    sl_hmap *restored;      /* name hash -> pos */
};

sl_dir_source *sl_dir_open(const char *path, const char *pattern, sl_error *err) {
    struct stat st;
    if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode)) {
        sl_error_set(err, SL_EIO, "source directory %s: %s", path, errno ? strerror(errno) : "not a directory");
        return NULL;
    }
    sl_dir_source *d = calloc(1, sizeof *d);
    snprintf(d->path, sizeof d->path, "%s", path);
    snprintf(d->pattern, sizeof d->pattern, "%s", pattern && *pattern ? pattern : "*");
    d->by_name = sl_hmap_new(1024);
    d->restored = sl_hmap_new(64);
    d->cur = -1;
    d->fd = -1;
    d->buf = malloc(BUF_SIZE + SL_DIR_PADDING + 1);
    if (!d->buf) abort();
    return d;
}

void sl_dir_free(sl_dir_source *d) {
    if (!d) return;
    if (d->fd >= 0) close(d->fd);
    for (int i = 0; i < d->n; i++) free(d->f[i].name);
    free(d->f);
    free(d->names);
    sl_hmap_free(d->by_name);
    sl_hmap_free(d->restored);
    free(d->buf);
    free(d);
}

void sl_dir_restore(sl_dir_source *d, const char *name, int64_t pos) {
    int64_t *slot;
    uint64_t h = sl_hash_bytes(name, strlen(name), 0);
    if (!sl_hmap_put(d->restored, h, pos, &slot)) *slot = pos;
    int64_t *idx = sl_hmap_get(d->by_name, h);
    if (idx) d->f[*idx].pos = pos;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

int sl_dir_scan(sl_dir_source *d, sl_error *err) {
    DIR *dir = opendir(d->path);
    if (!dir) return sl_error_set(err, SL_EIO, "cannot read directory %s: %s", d->path, strerror(errno));
    char **fresh = NULL;
    int nfresh = 0, capfresh = 0;
    struct dirent *de;
    char full[PATH_MAX];
    while ((de = readdir(dir))) {
        if (de->d_name[0] == '.') continue;
        if (fnmatch(d->pattern, de->d_name, 0) != 0) continue;
        if (de->d_type != DT_REG && de->d_type != DT_UNKNOWN) continue; /* folders, fifos, sockets */
        uint64_t h = sl_hash_bytes(de->d_name, strlen(de->d_name), 0);
        int64_t *idx = sl_hmap_get(d->by_name, h);
        if (idx) {
            dfile *f = &d->f[*idx];
            if (f->pos >= f->size) { /* only re-stat files that might have grown */
                snprintf(full, sizeof full, "%s/%s", d->path, f->name);
                struct stat st;
                if (stat(full, &st) == 0) {
                    f->size = st.st_size;
                    f->mtime_us = (int64_t)st.st_mtim.tv_sec * SL_US_PER_SEC + st.st_mtim.tv_nsec / 1000;
                    if (f->pos < f->size && *idx < d->scan_from) d->scan_from = (int)*idx;
                }
            }
            continue;
        }
        if (nfresh == capfresh) {
            capfresh = capfresh ? capfresh * 2 : 64;
            fresh = realloc(fresh, (size_t)capfresh * sizeof *fresh);
        }
        fresh[nfresh++] = strdup(de->d_name);
    }
    closedir(dir);
    if (nfresh > 1) qsort(fresh, (size_t)nfresh, sizeof *fresh, cmp_str);
    for (int i = 0; i < nfresh; i++) {
        if (d->n == d->cap) {
            d->cap = d->cap ? d->cap * 2 : 256;
            d->f = realloc(d->f, (size_t)d->cap * sizeof *d->f);
            d->names = realloc(d->names, (size_t)d->cap * sizeof *d->names);
        }
        dfile *f = &d->f[d->n];
        memset(f, 0, sizeof *f);
        f->name = fresh[i];
        uint64_t h = sl_hash_bytes(f->name, strlen(f->name), 0);
        int64_t *rp = sl_hmap_get(d->restored, h);
        if (rp) f->pos = *rp;
        snprintf(full, sizeof full, "%s/%s", d->path, f->name);
        struct stat st;
        if (stat(full, &st) == 0) {
            f->size = st.st_size;
            f->mtime_us = (int64_t)st.st_mtim.tv_sec * SL_US_PER_SEC + st.st_mtim.tv_nsec / 1000;
        }
        d->names[d->n] = f->name;
        sl_hmap_put(d->by_name, h, d->n, NULL);
        d->n++;
    }
    free(fresh);
    return 0;
}

/* Picks the first file (in name order) with unread bytes. New files sort
 * after old ones when writers use increasing names; if one sorts earlier it
 * is still read, just later than its name suggests. */
static int pick(sl_dir_source *d) {
    for (int i = d->scan_from; i < d->n; i++) {
        if (d->f[i].pos < d->f[i].size) return i;
        if (i == d->scan_from) d->scan_from++;
    }
    return -1;
}

static void close_cur(sl_dir_source *d) {
    if (d->fd >= 0) close(d->fd);
    d->fd = -1;
    d->cur = -1;
    d->blen = d->bconsumed = 0;
    d->fake_nl = false;
}

int sl_dir_next(sl_dir_source *d, bool final, const char **buf, size_t *len, int32_t *part,
                int64_t *base_pos, sl_error *err) {
    for (;;) {
        if (d->cur >= 0 && d->fake_nl && d->bconsumed == d->blen) close_cur(d);
        if (d->cur >= 0) {
            dfile *f = &d->f[d->cur];
            /* complete lines left in the buffer? */
            size_t avail = d->blen - d->bconsumed;
            if (avail) {
                const char *start = d->buf + d->bconsumed;
                const char *nl = memrchr(start, '\n', avail);
                if (nl) {
                    *buf = start;
                    *len = (size_t)(nl - start) + 1;
                    *part = d->cur;
                    *base_pos = d->boff + (int64_t)d->bconsumed;
                    return 1;
                }
            }
            /* refill: keep the partial line, read more */
            if (d->bconsumed) {
                memmove(d->buf, d->buf + d->bconsumed, avail);
                d->boff += (int64_t)d->bconsumed;
                d->blen = avail;
                d->bconsumed = 0;
            }
            if (d->blen == BUF_SIZE) {
                /* a line longer than the buffer: hand it over cut, the parser reports it */
                d->buf[BUF_SIZE - 1] = '\n';
                continue;
            }
            ssize_t r = 0;
            if (d->blen < BUF_SIZE) {
                r = pread(d->fd, d->buf + d->blen, BUF_SIZE - d->blen, d->boff + (int64_t)d->blen);
                if (r < 0) return sl_error_set(err, SL_EIO, "read %s/%s: %s", d->path, f->name, strerror(errno));
                d->blen += (size_t)r;
                memset(d->buf + d->blen, 0, SL_DIR_PADDING);
            }
            if (r > 0) continue;
            /* end of file */
            int64_t end = d->boff + (int64_t)d->blen;
            if (end > f->size) f->size = end;
            if (d->blen > 0) {
                bool idle = sl_now_us() - f->mtime_us > 2 * SL_US_PER_SEC;
                if ((final || idle) && !d->fake_nl) {
                    d->buf[d->blen++] = '\n';
                    memset(d->buf + d->blen, 0, SL_DIR_PADDING);
                    d->fake_nl = true;
                    continue;
                }
                return 0; /* wait for the rest of the line */
            }
            f->pos = end > f->pos ? end : f->pos;
            close_cur(d);
        }
        int i = pick(d);
        if (i < 0) return 0;
        char full[PATH_MAX];
        snprintf(full, sizeof full, "%s/%s", d->path, d->f[i].name);
        int fd = open(full, O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
            if (errno == ENOENT) { /* removed under us: nothing to read */
                d->f[i].size = d->f[i].pos;
                continue;
            }
            return sl_error_set(err, SL_EIO, "open %s: %s", full, strerror(errno));
        }
        d->fd = fd;
        d->cur = i;
        d->boff = d->f[i].pos;
        d->blen = d->bconsumed = 0;
        d->fake_nl = false;
    }
}

void sl_dir_consume(sl_dir_source *d, size_t n) {
    if (d->cur < 0 || !n) return;
    d->bconsumed += n;
    dfile *f = &d->f[d->cur];
    int64_t pos = d->boff + (int64_t)d->bconsumed;
    /* the synthetic '\n' at EOF is not in the file */
    if (d->fake_nl && d->bconsumed == d->blen) pos--;
    f->pos = pos;
    f->dirty = true;
}

const char *const *sl_dir_names(const sl_dir_source *d) { return d->names; }
int sl_dir_count(const sl_dir_source *d) { return d->n; }

void sl_dir_each_dirty(sl_dir_source *d, sl_dir_pos_fn fn, void *ud) {
    for (int i = 0; i < d->n; i++)
        if (d->f[i].dirty) fn(ud, d->f[i].name, d->f[i].pos);
}

void sl_dir_clear_dirty(sl_dir_source *d) {
    for (int i = 0; i < d->n; i++) d->f[i].dirty = false;
}

int64_t sl_dir_pending_files(const sl_dir_source *d) {
    int64_t n = 0;
    for (int i = d->scan_from; i < d->n; i++) n += d->f[i].pos < d->f[i].size;
    return n;
}

int64_t sl_dir_pending_bytes(const sl_dir_source *d) {
    int64_t n = 0;
    for (int i = d->scan_from; i < d->n; i++)
        if (d->f[i].pos < d->f[i].size) n += d->f[i].size - d->f[i].pos;
    return n;
}
