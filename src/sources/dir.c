/*
 * dir.c - landing-directory source; see dir.h for the contract.
 *
 * Data structures, chosen so that every per-scan and per-commit cost is
 * proportional to what changed, never to the number of files seen:
 *   f[]        every file ever seen, in discovery order (name order within
 *              one scan); its index is its part id, never reused;
 *   by_name    name hash -> index (the hash is the identity, see hash.h);
 *   scan_from  files before it are fully read, so picking the next file is
 *              amortised O(1);
 *   dirty[]    indexes whose position changed since the last clear (the
 *              commit walks only these);
 *   rep[]      indexes given to the last each_dirty, made committed by
 *              sl_dir_committed;
 *   cq[]       files fully read and committed, waiting for their writer to
 *              be done before cleanup;
 *   npend/pend_bytes  kept up to date whenever a position or size changes.
 * inotify events name the files to look at; the full readdir is the fallback.
 */
#include "sources/dir.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/hash.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/timeutil.h"

#define BUF_SIZE (4u << 20)
#define IDLE_US (2 * SL_US_PER_SEC)
#define LONG_PREFIX 4096 /* bytes of an overlong line kept as its raw text */
#define WATCH_MASK (IN_CLOSE_WRITE | IN_MOVED_TO | IN_MODIFY | IN_DELETE_SELF | IN_MOVE_SELF)

typedef struct {
    char *name;
    int64_t pos;  /* consumed offset */
    int64_t size; /* as of the last stat */
    int64_t mtime_us;
    int64_t reported;  /* pos given to the last each_dirty */
    int64_t committed; /* durable position, -1 if none */
    bool dirty, closed, gone, queued;
} dfile;

typedef struct {
    int *v;
    int n, cap;
} ivec;

static void ivec_push(ivec *a, int x) {
    if (a->n == a->cap) {
        a->cap = a->cap ? a->cap * 2 : 64;
        a->v = sl_xreallocarray(a->v, (size_t)a->cap, sizeof *a->v);
    }
    a->v[a->n++] = x;
}

struct sl_dir_source {
    char path[PATH_MAX];
    char pattern[256];
    dfile *f;
    const char **names;
    int n, cap;
    sl_hmap *by_name; /* name hash -> index */
    int cur;          /* file being read, -1 none */
    int scan_from;    /* files before this index are fully read */
    int fd;           /* open fd of cur */
    char *buf;        /* bcap + padding */
    size_t bcap;      /* at least max_line + 1, so a line that fits is whole */
    size_t blen;      /* bytes in buf */
    size_t bconsumed; /* bytes of buf consumed */
    int64_t boff;     /* file offset of buf[0] */
    bool fake_nl;     /* a '\n' was appended at EOF */
    size_t vend;      /* buf index where the last view ended */
    bool held;        /* the last next() waits for the end of a last line */
    /* lines */
    int64_t line_timeout_us;
    size_t max_line;
    /* an overlong line: skipped to its '\n' (lskip), then given once (lready) */
    bool lskip, lready;
    int64_t lskipped; /* its bytes before buf[0] (lskip) */
    size_t lend;      /* buf index after its '\n' (lready) */
    int64_t lbytes;   /* its length without the '\n' (lready) */
    char *lprefix;    /* LONG_PREFIX + padding: its first bytes (lskip) */
    size_t lprefix_len;
    sl_hmap *restored; /* name hash -> pos, for files not seen yet */
    /* inotify */
    int ino; /* -1: full scans only */
    bool need_full;
    /* accounting */
    int64_t npend, pend_bytes;
    ivec dirty, rep, cq;
    /* max files per trigger */
    int max_files, started;
    /* cleanup */
    sl_dir_cleanup cleanup;
    char archive[PATH_MAX];
    int64_t cleaned;
};

/* ---- accounting -------------------------------------------------------- */

static void dir_unacct(sl_dir_source *d, const dfile *f) {
    if (f->pos < f->size) d->npend--, d->pend_bytes -= f->size - f->pos;
}
static void dir_acct(sl_dir_source *d, const dfile *f) {
    if (f->pos < f->size) d->npend++, d->pend_bytes += f->size - f->pos;
}
static void set_pos(sl_dir_source *d, dfile *f, int64_t pos) {
    dir_unacct(d, f);
    f->pos = pos;
    dir_acct(d, f);
}
static void set_size(sl_dir_source *d, dfile *f, int64_t size) {
    dir_unacct(d, f);
    f->size = size;
    dir_acct(d, f);
}

static void enqueue_cleanup(sl_dir_source *d, int i) {
    dfile *f = &d->f[i];
    if (d->cleanup == SL_DIR_CLEANUP_NONE || f->queued || f->gone || f->committed < 0 ||
        f->committed < f->size)
        return;
    f->queued = true;
    ivec_push(&d->cq, i);
}

/* ---- open / free ------------------------------------------------------- */

sl_dir_source *sl_dir_open(const char *path, const char *pattern, sl_error *err) {
    struct stat st;
    errno = 0;
    if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode)) {
        sl_error_set(err, SL_EIO, "source directory %s: %s", path,
                     errno ? strerror(errno) : "not a directory");
        return NULL;
    }
    sl_dir_source *d = sl_xcalloc(1, sizeof *d);
    snprintf(d->path, sizeof d->path, "%s", path);
    snprintf(d->pattern, sizeof d->pattern, "%s", pattern && *pattern ? pattern : "*");
    d->by_name = sl_hmap_new(1024);
    d->restored = sl_hmap_new(64);
    d->cur = -1;
    d->fd = -1;
    d->bcap = BUF_SIZE;
    d->buf = sl_xmalloc(d->bcap + SL_DIR_PADDING + 1);
    d->lprefix = sl_xmalloc(LONG_PREFIX + SL_DIR_PADDING);
    d->line_timeout_us = SL_DIR_LINE_TIMEOUT_US;
    d->max_line = SL_DIR_MAX_LINE;
    d->need_full = true;
    /* the watch exists before the first full scan, so nothing falls between */
    d->ino = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (d->ino >= 0 && inotify_add_watch(d->ino, d->path, WATCH_MASK) < 0) {
        sl_log_warn("dir source: no inotify watch, every scan reads the directory",
                    "\"path\":\"%s\",\"error\":\"%s\"", path, strerror(errno));
        close(d->ino);
        d->ino = -1;
    }
    return d;
}

void sl_dir_free(sl_dir_source *d) {
    if (!d) return;
    if (d->fd >= 0) close(d->fd);
    if (d->ino >= 0) close(d->ino);
    for (int i = 0; i < d->n; i++)
        free(d->f[i].name);
    free(d->f);
    free(d->names);
    sl_hmap_free(d->by_name);
    sl_hmap_free(d->restored);
    free(d->dirty.v);
    free(d->rep.v);
    free(d->cq.v);
    free(d->buf);
    free(d->lprefix);
    free(d);
}

bool sl_dir_watching(const sl_dir_source *d) { return d->ino >= 0; }
int sl_dir_fd(const sl_dir_source *d) { return d->ino; }
void sl_dir_set_max_files(sl_dir_source *d, int n) { d->max_files = n > 0 ? n : 0; }

void sl_dir_restore(sl_dir_source *d, const char *name, int64_t pos) {
    int64_t *slot;
    uint64_t h = sl_hash_bytes(name, strlen(name), 0);
    if (!sl_hmap_put(d->restored, h, pos, &slot)) *slot = pos;
    int64_t *idx = sl_hmap_get(d->by_name, h);
    if (idx) {
        dfile *f = &d->f[*idx];
        set_pos(d, f, pos);
        f->committed = pos;
        if (f->pos < f->size && *idx < d->scan_from) d->scan_from = (int)*idx;
        enqueue_cleanup(d, (int)*idx);
    }
}

/* ---- scanning ---------------------------------------------------------- */

static int64_t mtime_of(const struct stat *st) {
    return (int64_t)st->st_mtim.tv_sec * SL_US_PER_SEC + st->st_mtim.tv_nsec / 1000;
}

/* Re-stats a known file: growth, a reappearance after cleanup. */
static void restat(sl_dir_source *d, int i) {
    dfile *f = &d->f[i];
    char full[PATH_MAX];
    snprintf(full, sizeof full, "%s/%s", d->path, f->name);
    struct stat st;
    if (stat(full, &st) != 0 || !S_ISREG(st.st_mode)) return;
    f->gone = false;
    if (st.st_size != f->size) set_size(d, f, st.st_size);
    f->mtime_us = mtime_of(&st);
    if (f->pos < f->size && i < d->scan_from) d->scan_from = i;
    enqueue_cleanup(d, i); /* a re-delivered copy of a cleaned file */
}

typedef struct {
    char *name;
    bool closed;
} fresh_t;

static int cmp_fresh(const void *a, const void *b) {
    return strcmp(((const fresh_t *)a)->name, ((const fresh_t *)b)->name);
}

/* Appends the files of one scan, sorted among themselves. Takes the names. */
static void add_fresh(sl_dir_source *d, fresh_t *fresh, int nfresh) {
    if (nfresh > 1) qsort(fresh, (size_t)nfresh, sizeof *fresh, cmp_fresh);
    char full[PATH_MAX];
    for (int i = 0; i < nfresh; i++) {
        while (i + 1 < nfresh &&
               !strcmp(fresh[i].name, fresh[i + 1].name)) { /* several events, one file */
            fresh[i + 1].closed |= fresh[i].closed;
            free(fresh[i].name);
            i++;
        }
        struct stat st;
        snprintf(full, sizeof full, "%s/%s", d->path, fresh[i].name);
        if (stat(full, &st) != 0 || !S_ISREG(st.st_mode)) { /* gone already, or not a file */
            free(fresh[i].name);
            continue;
        }
        if (d->n == d->cap) {
            d->cap = d->cap ? d->cap * 2 : 256;
            d->f = sl_xreallocarray(d->f, (size_t)d->cap, sizeof *d->f);
            d->names = sl_xreallocarray(d->names, (size_t)d->cap + 1, sizeof *d->names);
        }
        dfile *f = &d->f[d->n];
        memset(f, 0, sizeof *f);
        f->name = fresh[i].name;
        f->committed = -1;
        f->closed = fresh[i].closed;
        uint64_t h = sl_hash_bytes(f->name, strlen(f->name), 0);
        int64_t *rp = sl_hmap_get(d->restored, h);
        if (rp) f->pos = f->committed = *rp;
        f->size = st.st_size;
        f->mtime_us = mtime_of(&st);
        dir_acct(d, f);
        d->names[d->n] = f->name;
        d->names[d->n + 1] = NULL;
        sl_hmap_put(d->by_name, h, d->n, NULL);
        d->n++;
        enqueue_cleanup(d, d->n - 1);
    }
}

static void fresh_push(fresh_t **fresh, int *n, int *cap, const char *name, bool closed) {
    if (*n == *cap) {
        *cap = *cap ? *cap * 2 : 64;
        *fresh = sl_xreallocarray(*fresh, (size_t)*cap, sizeof **fresh);
    }
    (*fresh)[*n].name = sl_xstrdup(name);
    (*fresh)[(*n)++].closed = closed;
}

static bool wanted(const sl_dir_source *d, const char *name) {
    return name[0] != '.' && fnmatch(d->pattern, name, 0) == 0;
}

static int full_scan(sl_dir_source *d, sl_error *err) {
    DIR *dir = opendir(d->path);
    if (!dir)
        return sl_error_set(err, SL_EIO, "cannot read directory %s: %s", d->path, strerror(errno));
    fresh_t *fresh = NULL;
    int nfresh = 0, capfresh = 0;
    struct dirent *de;
    while ((de = readdir(dir))) {
        if (!wanted(d, de->d_name)) continue;
        if (de->d_type != DT_REG && de->d_type != DT_UNKNOWN)
            continue; /* folders, fifos, sockets */
        uint64_t h = sl_hash_bytes(de->d_name, strlen(de->d_name), 0);
        int64_t *idx = sl_hmap_get(d->by_name, h);
        if (idx) {
            dfile *f = &d->f[*idx];
            if (f->pos >= f->size || f->gone)
                restat(d, (int)*idx); /* only files that might have grown */
            continue;
        }
        fresh_push(&fresh, &nfresh, &capfresh, de->d_name, false);
    }
    closedir(dir);
    add_fresh(d, fresh, nfresh);
    free(fresh);
    return 0;
}

/* Reads pending inotify events. Sets need_full on overflow; drops the watch
 * if it is gone. */
static void read_events(sl_dir_source *d) {
    char evbuf[64 * 1024] __attribute__((aligned(__alignof__(struct inotify_event))));
    fresh_t *fresh = NULL;
    int nfresh = 0, capfresh = 0;
    int last = -1;
    for (;;) {
        ssize_t r = read(d->ino, evbuf, sizeof evbuf);
        if (r <= 0) {
            if (r < 0 && errno == EINTR) continue;
            break; /* EAGAIN: drained */
        }
        for (char *p = evbuf; p < evbuf + r;) {
            const struct inotify_event *ev = (const struct inotify_event *)p;
            p += sizeof *ev + ev->len;
            if (ev->mask & IN_Q_OVERFLOW) {
                d->need_full = true;
                continue;
            }
            if (ev->mask & (IN_IGNORED | IN_DELETE_SELF | IN_MOVE_SELF | IN_UNMOUNT)) {
                sl_log_warn("dir source: inotify watch lost, falling back to full scans",
                            "\"path\":\"%s\"", d->path);
                close(d->ino);
                d->ino = -1;
                d->need_full = true;
                goto out;
            }
            if (!ev->len || (ev->mask & IN_ISDIR) || !wanted(d, ev->name)) continue;
            bool closed = (ev->mask & (IN_CLOSE_WRITE | IN_MOVED_TO)) != 0;
            uint64_t h = sl_hash_bytes(ev->name, strlen(ev->name), 0);
            int64_t *idx = sl_hmap_get(d->by_name, h);
            if (idx) {
                dfile *f = &d->f[*idx];
                f->closed = closed;
                if ((int)*idx == last && !closed)
                    continue; /* a run of writes: one stat is enough */
                restat(d, (int)*idx);
                last = (int)*idx;
            } else {
                fresh_push(&fresh, &nfresh, &capfresh, ev->name, closed);
            }
        }
    }
out:
    add_fresh(d, fresh, nfresh);
    free(fresh);
}

int sl_dir_scan(sl_dir_source *d, sl_error *err) {
    d->started = 0;
    if (d->ino >= 0) read_events(d);
    if (d->ino < 0 || d->need_full) {
        d->need_full = false;
        return full_scan(d, err);
    }
    return 0;
}

/* ---- reading ----------------------------------------------------------- */

/* Picks the first file (in discovery order) with unread bytes. New files sort
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
    d->blen = d->bconsumed = d->vend = 0;
    d->fake_nl = d->lskip = d->lready = false;
}

/* The current file has not grown for line_timeout: a last line without '\n'
 * is complete. -1: it grew past `end` (read on). */
static int idle_at(sl_dir_source *d, int64_t end) {
    struct stat st;
    if (fstat(d->fd, &st) != 0) return 1;
    if (st.st_size > end) return -1;
    return sl_now_us() - mtime_of(&st) >= d->line_timeout_us;
}

/* Gives the overlong line whose '\n' is at buf index nl (see sl_dir_next). */
static int give_long(sl_dir_source *d, size_t nl, const char **buf, size_t *len, int32_t *part,
                     int64_t *base_pos) {
    d->lready = true;
    d->lend = nl + 1;
    *part = d->cur;
    if (d->lskip) {
        d->lbytes = d->lskipped + (int64_t)nl;
        *buf = d->lprefix;
        *len = d->lprefix_len;
        *base_pos = d->boff - d->lskipped;
    } else {
        d->lbytes = (int64_t)(nl - d->bconsumed);
        *buf = d->buf + d->bconsumed;
        *len = d->lbytes < LONG_PREFIX ? (size_t)d->lbytes : LONG_PREFIX;
        *base_pos = d->boff + (int64_t)d->bconsumed;
    }
    return 2;
}

int sl_dir_next(sl_dir_source *d, bool final, const char **buf, size_t *len, int32_t *part,
                int64_t *base_pos, sl_error *err) {
    d->held = false;
    for (;;) {
        if (d->cur >= 0 && d->fake_nl && d->bconsumed == d->blen) close_cur(d);
        if (d->cur >= 0) {
            dfile *f = &d->f[d->cur];
            size_t avail = d->blen - d->bconsumed;
            const char *start = d->buf + d->bconsumed;
            if (d->lskip) { /* the rest of an overlong line: only its end is looked for */
                const char *nl = avail ? memchr(start, '\n', avail) : NULL;
                if (nl) return give_long(d, (size_t)(nl - d->buf), buf, len, part, base_pos);
                d->lskipped += (int64_t)d->blen;
                d->boff += (int64_t)d->blen;
                d->blen = d->bconsumed = 0;
                avail = 0;
            } else if (avail) { /* complete lines left in the buffer? */
                const char *nl = memrchr(start, '\n', avail);
                if (nl) {
                    size_t n = (size_t)(nl - start) + 1, s = 0;
                    /* none may exceed max_line: a '\n' in every max_line + 1 bytes */
                    bool too_long = false;
                    while (n - s > d->max_line + 1) {
                        const char *p = memrchr(start + s, '\n', d->max_line + 1);
                        if (!p) {
                            too_long = true;
                            break;
                        }
                        s = (size_t)(p - start) + 1;
                    }
                    if (too_long && s == 0) {
                        const char *e = memchr(start + d->max_line + 1, '\n', n - d->max_line - 1);
                        return give_long(d, (size_t)(e - d->buf), buf, len, part, base_pos);
                    }
                    *buf = start;
                    *len = too_long ? s : n;
                    *part = d->cur;
                    *base_pos = d->boff + (int64_t)d->bconsumed;
                    d->vend = d->bconsumed + *len;
                    return 1;
                }
                if (avail > d->max_line) { /* an overlong line: keep its start, skip the rest */
                    d->lskip = true;
                    d->lprefix_len = avail < LONG_PREFIX ? avail : LONG_PREFIX;
                    memcpy(d->lprefix, start, d->lprefix_len);
                    memset(d->lprefix + d->lprefix_len, 0, SL_DIR_PADDING);
                    d->lskipped = (int64_t)avail;
                    d->boff += (int64_t)d->blen;
                    d->blen = d->bconsumed = 0;
                    avail = 0;
                }
            }
            /* refill: keep the partial line, read more */
            if (d->bconsumed) {
                memmove(d->buf, d->buf + d->bconsumed, avail);
                d->boff += (int64_t)d->bconsumed;
                d->blen = avail;
                d->bconsumed = 0;
            }
            ssize_t r =
                pread(d->fd, d->buf + d->blen, d->bcap - d->blen, d->boff + (int64_t)d->blen);
            if (r < 0)
                return sl_error_set(err, SL_EIO, "read %s/%s: %s", d->path, f->name,
                                    strerror(errno));
            d->blen += (size_t)r;
            memset(d->buf + d->blen, 0, SL_DIR_PADDING);
            if (r > 0) continue;
            /* end of file */
            int64_t end = d->boff + (int64_t)d->blen;
            if (end > f->size) set_size(d, f, end);
            if (d->blen > 0 || d->lskip) {
                /* a last line without '\n': complete once the file is idle
                 * for line_timeout, with --once (final) as when following */
                int idle = d->fake_nl ? 0 : idle_at(d, end);
                if (idle < 0) continue;
                if (idle) {
                    d->buf[d->blen++] = '\n';
                    memset(d->buf + d->blen, 0, SL_DIR_PADDING);
                    d->fake_nl = true;
                    continue;
                }
                d->held = true;
                return 0; /* wait for the rest of the line */
            }
            if (end > f->pos) set_pos(d, f, end);
            close_cur(d);
        }
        int i = pick(d);
        if (i < 0) return 0;
        if (d->max_files && !final && d->started >= d->max_files)
            return 0; /* until the next scan */
        char full[PATH_MAX];
        snprintf(full, sizeof full, "%s/%s", d->path, d->f[i].name);
        int fd = open(full, O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
            if (errno == ENOENT) { /* removed under us: nothing to read */
                set_size(d, &d->f[i], d->f[i].pos);
                continue;
            }
            return sl_error_set(err, SL_EIO, "open %s: %s", full, strerror(errno));
        }
        d->started++;
        d->fd = fd;
        d->cur = i;
        d->boff = d->f[i].pos;
        d->blen = d->bconsumed = d->vend = 0;
        d->fake_nl = d->lskip = d->lready = false;
    }
}

void sl_dir_consume(sl_dir_source *d, size_t n) {
    if (d->cur < 0 || !n) return;
    if (d->lready) { /* the overlong line, all of it */
        d->bconsumed = d->lend;
        d->lready = d->lskip = false;
    } else {
        d->bconsumed += n;
    }
    dfile *f = &d->f[d->cur];
    int64_t pos = d->boff + (int64_t)d->bconsumed;
    /* the synthetic '\n' at EOF is not in the file */
    if (d->fake_nl && d->bconsumed == d->blen) pos--;
    set_pos(d, f, pos);
    if (!f->dirty) {
        f->dirty = true;
        ivec_push(&d->dirty, d->cur);
    }
}

int64_t sl_dir_long_line_bytes(const sl_dir_source *d) { return d->lready ? d->lbytes : 0; }

bool sl_dir_held(const sl_dir_source *d) { return d->held; }

bool sl_dir_view_ends_file(sl_dir_source *d) {
    if (d->cur < 0 || d->lready || d->vend != d->blen) return false;
    if (d->fake_nl) return true;
    return idle_at(d, d->boff + (int64_t)d->blen) == 1;
}

void sl_dir_set_lines(sl_dir_source *d, int64_t line_timeout_us, size_t max_line) {
    d->line_timeout_us = line_timeout_us < 0 ? 0 : line_timeout_us;
    d->max_line = max_line ? max_line : SL_DIR_MAX_LINE;
    if (d->max_line + 1 > d->bcap) {
        d->bcap = d->max_line + 1;
        d->buf = sl_xrealloc(d->buf, d->bcap + SL_DIR_PADDING + 1);
    }
}

const char *const *sl_dir_names(const sl_dir_source *d) {
    static const char *const none[] = {NULL};
    return d->names ? d->names : none;
}
int sl_dir_count(const sl_dir_source *d) { return d->n; }

void sl_dir_each_dirty(sl_dir_source *d, sl_dir_pos_fn fn, void *ud) {
    d->rep.n = 0;
    for (int k = 0; k < d->dirty.n; k++) {
        dfile *f = &d->f[d->dirty.v[k]];
        fn(ud, f->name, f->pos);
        f->reported = f->pos;
        ivec_push(&d->rep, d->dirty.v[k]);
    }
}

void sl_dir_clear_dirty(sl_dir_source *d) {
    for (int k = 0; k < d->dirty.n; k++)
        d->f[d->dirty.v[k]].dirty = false;
    d->dirty.n = 0;
}

int64_t sl_dir_pending_files(const sl_dir_source *d) { return d->npend; }
int64_t sl_dir_pending_bytes(const sl_dir_source *d) { return d->pend_bytes; }

ssize_t sl_dir_read_head(sl_dir_source *d, int32_t part, char *buf, size_t cap, sl_error *err) {
    if (part < 0 || part >= d->n) return sl_error_set(err, SL_EINVAL, "no partition %d", (int)part);
    char full[PATH_MAX];
    snprintf(full, sizeof full, "%s/%s", d->path, d->f[part].name);
    int fd = open(full, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return sl_error_set(err, SL_EIO, "open %s: %s", full, strerror(errno));
    ssize_t r = pread(fd, buf, cap, 0);
    int e = errno;
    close(fd);
    if (r < 0) return sl_error_set(err, SL_EIO, "read %s: %s", full, strerror(e));
    return r;
}

/* ---- cleanup ----------------------------------------------------------- */

int sl_dir_cleanup_parse(const char *s) {
    if (!s || !strcmp(s, "none") || !strcmp(s, "off") || !*s) return SL_DIR_CLEANUP_NONE;
    if (!strcmp(s, "delete")) return SL_DIR_CLEANUP_DELETE;
    if (!strcmp(s, "move") || !strcmp(s, "archive")) return SL_DIR_CLEANUP_MOVE;
    return -1;
}

int sl_dir_set_cleanup(sl_dir_source *d, sl_dir_cleanup mode, const char *archive_dir,
                       sl_error *err) {
    if (mode == SL_DIR_CLEANUP_MOVE) {
        if (!archive_dir || !*archive_dir)
            return sl_error_set(err, SL_EINVAL, "cleanup: move needs an archive directory");
        if (mkdir(archive_dir, 0777) != 0 && errno != EEXIST)
            return sl_error_set(err, SL_EIO, "archive directory %s: %s", archive_dir,
                                strerror(errno));
        char a[PATH_MAX], s[PATH_MAX];
        if (!realpath(archive_dir, a) || !realpath(d->path, s))
            return sl_error_set(err, SL_EIO, "archive directory %s: %s", archive_dir,
                                strerror(errno));
        struct stat st;
        if (stat(a, &st) != 0 || !S_ISDIR(st.st_mode))
            return sl_error_set(err, SL_EINVAL, "archive %s is not a directory", archive_dir);
        if (!strcmp(a, s))
            return sl_error_set(err, SL_EINVAL, "archive directory is the source directory");
        snprintf(d->archive, sizeof d->archive, "%s", a);
    } else if (mode != SL_DIR_CLEANUP_NONE && mode != SL_DIR_CLEANUP_DELETE) {
        return sl_error_set(err, SL_EINVAL, "cleanup: unknown mode %d", (int)mode);
    }
    d->cleanup = mode;
    for (int i = 0; i < d->n; i++)
        enqueue_cleanup(d, i); /* restored, finished files */
    return 0;
}

int64_t sl_dir_cleaned(const sl_dir_source *d) { return d->cleaned; }

static int copy_unlink(const char *from, const char *to) {
    int in = open(from, O_RDONLY | O_CLOEXEC);
    if (in < 0) return -1;
    char tmp[PATH_MAX + 16];
    snprintf(tmp, sizeof tmp, "%s.sluice-tmp", to);
    int out = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
    if (out < 0) {
        close(in);
        return -1;
    }
    char b[1 << 16];
    ssize_t r;
    int rc = 0;
    while ((r = read(in, b, sizeof b)) > 0)
        for (ssize_t w = 0; w < r;) {
            ssize_t k = write(out, b + w, (size_t)(r - w));
            if (k <= 0) {
                rc = -1;
                break;
            }
            w += k;
        }
    if (r < 0) rc = -1;
    if (fsync(out) != 0) rc = -1;
    close(in);
    if (close(out) != 0) rc = -1;
    if (rc == 0 && rename(tmp, to) != 0) rc = -1;
    if (rc != 0) {
        int e = errno;
        unlink(tmp);
        errno = e;
        return -1;
    }
    return unlink(from);
}

/* Cleans file i if its writer is done. 1: cleaned (or vanished), 0: not yet
 * (keep queued), -1: failed (errno). */
static int clean_one(sl_dir_source *d, int i, int64_t now) {
    dfile *f = &d->f[i];
    char full[PATH_MAX];
    snprintf(full, sizeof full, "%s/%s", d->path, f->name);
    struct stat st;
    if (stat(full, &st) != 0) return errno == ENOENT ? 1 : -1;
    if (st.st_size != f->size) { /* grew since the last scan: read it first */
        set_size(d, f, st.st_size);
        f->mtime_us = mtime_of(&st);
        if (f->pos < f->size && i < d->scan_from) d->scan_from = i;
        return 2;
    }
    f->mtime_us = mtime_of(&st);
    if (!f->closed && now - f->mtime_us <= IDLE_US) return 0;
    if (d->cleanup == SL_DIR_CLEANUP_DELETE) {
        if (unlink(full) != 0) return errno == ENOENT ? 1 : -1;
        return 1;
    }
    char to[PATH_MAX * 2];
    snprintf(to, sizeof to, "%s/%s", d->archive, f->name);
    if (rename(full, to) == 0) return 1;
    if (errno == ENOENT) return 1;
    if (errno == EXDEV) return copy_unlink(full, to) == 0 ? 1 : -1;
    return -1;
}

int sl_dir_committed(sl_dir_source *d, sl_error *err) {
    for (int k = 0; k < d->rep.n; k++) {
        int i = d->rep.v[k];
        if (d->f[i].reported > d->f[i].committed) d->f[i].committed = d->f[i].reported;
        enqueue_cleanup(d, i);
    }
    d->rep.n = 0;
    if (d->cleanup == SL_DIR_CLEANUP_NONE || !d->cq.n) return 0;
    int64_t now = sl_now_us();
    int cleaned = 0, rc = 0, w = 0;
    for (int k = 0; k < d->cq.n; k++) {
        int i = d->cq.v[k];
        dfile *f = &d->f[i];
        if (f->gone || f->committed < f->size) { /* grew, or cleaned meanwhile */
            f->queued = false;
            continue;
        }
        int r = clean_one(d, i, now);
        if (r == 0) {
            d->cq.v[w++] = i; /* writer may still be busy: try at the next commit */
            continue;
        }
        f->queued = false;
        if (r == 1) {
            f->gone = true;
            if (d->cur == i) close_cur(d);
            cleaned++;
        } else if (r < 0 && rc == 0) {
            rc = sl_error_set(err, SL_EIO, "cleanup of %s/%s (%s): %s", d->path, f->name,
                              d->cleanup == SL_DIR_CLEANUP_DELETE ? "delete" : "move",
                              strerror(errno));
        }
    }
    d->cq.n = w;
    d->cleaned += cleaned;
    return rc ? rc : cleaned;
}
