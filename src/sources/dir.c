/*
 * dir.c - landing-directory source; see dir.h for the contract.
 *
 * Data structures, chosen so that every per-scan and per-commit cost is
 * proportional to what changed, never to the number of files seen:
 *   f[]        every file ever seen, in discovery order (name order within
 *              one scan); its index is its part id, never reused. A file is
 *              one content under one inode: a truncated or replaced file is
 *              a new entry, a renamed one keeps its entry;
 *   by_name    name hash -> index of the file under that name now;
 *   by_ino     inode -> index of the file known with that inode;
 *   last_name  name hash -> the last index ever under that name (a new file
 *              under the name remembers it as `prev`: a re-delivered copy);
 *   fpfull     full fingerprint -> the file (or restored row) last seen
 *              with it, so a copy resumes where its original was read to;
 *   rr[]       restored rows with an identity, chained by inode and name;
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
#define WATCH_MASK                                                                                 \
    (IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_DELETE | IN_MODIFY | IN_DELETE_SELF |       \
     IN_MOVE_SELF)
#define FP_MAX SL_DIR_FINGERPRINT /* bytes of a file's head in its fingerprint */

typedef struct {
    char *name; /* the name now (the last one, once gone) */
    char *key;  /* position row: name#ino:fplen:fp; NULL until fingerprinted */
    uint64_t ino;
    uint64_t fp;  /* hash of the first fplen bytes */
    int fplen;    /* 0: not fingerprinted yet (nothing read) */
    int prev;     /* the file under this name before, -1 */
    int64_t pos;  /* consumed offset */
    int64_t size; /* as of the last stat */
    int64_t mtime_us;
    int64_t reported;  /* pos given to the last each_dirty */
    int64_t committed; /* durable position, -1 if none */
    bool dirty, closed, gone, queued;
    bool nameless; /* renamed away or replaced: no name in the directory */
    bool ahead;    /* a copy whose position is past its size (still being copied) */
} dfile;

typedef struct { /* a restored position row with an identity */
    char *key, *name;
    uint64_t ino, fp;
    int fplen;
    int64_t pos;
    int next_ino, next_name; /* chains, -1 ends */
    bool used;               /* matched a file by inode */
} rrow;

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

typedef struct {
    char *name;
    bool closed;
    bool known_only; /* a rename to a name outside the pattern: only to follow a known file */
} fresh_t;

struct sl_dir_source {
    char path[PATH_MAX];
    char pattern[256];
    dfile *f;
    const char **names;
    int n, cap;
    sl_hmap *by_name;   /* name hash -> index */
    sl_hmap *by_ino;    /* inode -> index */
    sl_hmap *last_name; /* name hash -> last index under the name */
    sl_hmap *fpfull;    /* full fingerprint -> index, or -(row + 1) */
    int cur;            /* file being read, -1 none */
    int scan_from;      /* files before this index are fully read */
    int fd;             /* open fd of cur */
    char *buf;          /* bcap + padding */
    size_t bcap;        /* at least max_line + 1, so a line that fits is whole */
    size_t blen;        /* bytes in buf */
    size_t bconsumed;   /* bytes of buf consumed */
    int64_t boff;       /* file offset of buf[0] */
    bool fake_nl;       /* a '\n' was appended at EOF */
    size_t vend;        /* buf index where the last view ended */
    bool held;          /* the last next() waits for the end of a last line */
    bool more;          /* sl_dir_want_more: read on before giving the lines again */
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
    /* restored positions */
    rrow *rr;
    int nrr, caprr;
    sl_hmap *rr_ino, *rr_name; /* -> first row of the chain */
    sl_hmap *legacy;           /* name hash -> pos: rows written before identities */
    char **retire;             /* legacy rows to overwrite with -1 at the next commit */
    int nretire;
    bool scanned; /* the first scan is done */
    /* names replaced by a rename, kept for views handed out earlier */
    char **old;
    int nold, capold;
    /* inotify */
    int ino; /* -1: full scans only */
    bool need_full;
    fresh_t *fr; /* names found by the current scan */
    int nfr, capfr;
    /* accounting */
    int64_t npend, pend_bytes, truncated;
    ivec dirty, rep, cq;
    ivec trunc; /* the last truncated files (index, or -(row + 1)): copytruncate's originals */
    /* max files per trigger */
    int max_files, started;
    /* cleanup */
    sl_dir_cleanup cleanup;
    char archive[PATH_MAX];
    int64_t cleaned;
};

static uint64_t name_key(const char *s) { return sl_hash_bytes(s, strlen(s), 0); }
static uint64_t ino_key(uint64_t ino) { return sl_hash_int((int64_t)ino, 0); }
static uint64_t fp_of(const char *head, int n) { return sl_hash_bytes(head, (size_t)n, 0); }

/* Sets a map's payload, inserting or replacing. */
static void hset(sl_hmap *m, uint64_t k, int64_t v) {
    int64_t *slot;
    if (!sl_hmap_put(m, k, v, &slot)) *slot = v;
}
/* Removes k if it maps to v. */
static void hdel_if(sl_hmap *m, uint64_t k, int64_t v) {
    int64_t *p = sl_hmap_get(m, k);
    if (p && *p == v) sl_hmap_del(m, k);
}

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
static void mark_dirty(sl_dir_source *d, int i) {
    if (d->f[i].dirty) return;
    d->f[i].dirty = true;
    ivec_push(&d->dirty, i);
}

static bool wanted(const sl_dir_source *d, const char *name);

static void enqueue_cleanup(sl_dir_source *d, int i) {
    dfile *f = &d->f[i];
    if (d->cleanup == SL_DIR_CLEANUP_NONE || f->queued || f->gone || f->nameless ||
        f->committed < 0 || f->committed < f->size)
        return;
    if (!wanted(d, f->name)) return; /* rotated out of the pattern: not ours to clean */
    f->queued = true;
    ivec_push(&d->cq, i);
}

/* ---- identity ---------------------------------------------------------- */

/* The position row's name: the file's name, '#', inode, ':', fingerprinted
 * bytes, ':', their hash in hex. */
static void make_key(dfile *f) {
    free(f->key);
    size_t n = strlen(f->name) + 64;
    f->key = sl_xmalloc(n);
    snprintf(f->key, n, "%s#%llu:%d:%016llx", f->name, (unsigned long long)f->ino, f->fplen,
             (unsigned long long)f->fp);
}

/* Parses a row name made by make_key; false for a name-only row (written
 * before files had identities). */
static bool parse_key(const char *key, size_t *namelen, uint64_t *ino, int *fplen, uint64_t *fp) {
    const char *h = strrchr(key, '#');
    if (!h || h == key) return false;
    const char *p = h + 1;
    char *e;
    if (*p < '0' || *p > '9') return false;
    unsigned long long i = strtoull(p, &e, 10);
    if (*e != ':') return false;
    p = e + 1;
    if (*p < '0' || *p > '9') return false;
    long l = strtol(p, &e, 10);
    if (*e != ':' || l < 1 || l > FP_MAX) return false;
    p = e + 1;
    if (strlen(p) != 16 || strspn(p, "0123456789abcdef") != 16) return false;
    *fp = strtoull(p, NULL, 16);
    *namelen = (size_t)(h - key);
    *ino = i;
    *fplen = (int)l;
    return true;
}

/* Reads the head of a file (up to FP_MAX bytes); -1 if it cannot be read. */
static int head_of(int fd, char *head) {
    ssize_t r = pread(fd, head, FP_MAX, 0);
    return r < 0 ? -1 : (int)r;
}
static int head_at(const sl_dir_source *d, const char *name, char *head) {
    char full[PATH_MAX];
    snprintf(full, sizeof full, "%s/%s", d->path, name);
    int fd = open(full, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    int n = head_of(fd, head);
    close(fd);
    return n;
}

/* Fingerprints file i with the n bytes of its head. */
static void set_fp(sl_dir_source *d, int i, const char *head, int n) {
    dfile *f = &d->f[i];
    f->fplen = n;
    f->fp = fp_of(head, n);
    make_key(f);
    if (n == FP_MAX) hset(d->fpfull, f->fp, i);
}

static int64_t rec_pos(const sl_dir_source *d, int64_t rec) {
    return rec >= 0 ? d->f[rec].pos : d->rr[-rec - 1].pos;
}

#define TRUNC_KEEP 64

/* Remembers a truncated file (or a restored row of a file truncated while
 * stopped): a copy of it may come (copytruncate), even of a short one. */
static void note_truncated(sl_dir_source *d, int64_t rec) {
    if (d->trunc.n == TRUNC_KEEP) {
        memmove(d->trunc.v, d->trunc.v + 1, (TRUNC_KEEP - 1) * sizeof *d->trunc.v);
        d->trunc.n--;
    }
    ivec_push(&d->trunc, (int)rec);
}

/* Where a new file i, whose head is `head`, resumes if it is a copy of a file
 * already read: one with the same full fingerprint (any name); a truncated
 * file (another inode) whose fingerprinted head it starts with, the longest
 * such head; the file that had its name before and is gone, or a restored
 * row of its name not matched to a file, whose head it starts with. */
static int64_t copy_pos(sl_dir_source *d, int i, const char *head, int n) {
    int64_t best = 0;
    int bestlen = 0;
    for (int k = 0; k < d->trunc.n; k++) {
        int64_t rec = d->trunc.v[k];
        uint64_t ino = rec >= 0 ? d->f[rec].ino : d->rr[-rec - 1].ino;
        int len = rec >= 0 ? d->f[rec].fplen : d->rr[-rec - 1].fplen;
        uint64_t fp = rec >= 0 ? d->f[rec].fp : d->rr[-rec - 1].fp;
        if (ino == d->f[i].ino || !len || len > n || len < bestlen || fp_of(head, len) != fp)
            continue;
        if (len > bestlen || rec_pos(d, rec) > best) best = rec_pos(d, rec);
        bestlen = len;
    }
    if (n == FP_MAX) {
        int64_t *e = sl_hmap_get(d->fpfull, fp_of(head, n));
        if (e && *e != i && rec_pos(d, *e) > best) best = rec_pos(d, *e);
    }
    const dfile *f = &d->f[i];
    if (f->prev >= 0) {
        const dfile *k = &d->f[f->prev];
        if ((k->gone || k->nameless) && k->fplen && k->fplen <= n &&
            fp_of(head, k->fplen) == k->fp && k->pos > best)
            best = k->pos;
    }
    int64_t *r = sl_hmap_get(d->rr_name, name_key(f->name));
    for (int k = r ? (int)*r : -1; k >= 0; k = d->rr[k].next_name) {
        const rrow *w = &d->rr[k];
        if (!w->used && w->ino != f->ino && !strcmp(w->name, f->name) && w->fplen <= n &&
            fp_of(head, w->fplen) == w->fp && w->pos > best)
            best = w->pos;
    }
    return best;
}

static int64_t mtime_of(const struct stat *st) {
    return (int64_t)st->st_mtim.tv_sec * SL_US_PER_SEC + st->st_mtim.tv_nsec / 1000;
}

/* File i has no name in the directory any more (renamed away, replaced):
 * it cannot be opened again, so what is left of it is not waiting. The
 * file being read is read to its end through its descriptor. */
static void unname(sl_dir_source *d, int i) {
    dfile *f = &d->f[i];
    hdel_if(d->by_name, name_key(f->name), i);
    f->nameless = true;
    if (d->cur != i && f->size > f->pos) set_size(d, f, f->pos);
}

/* Appends a new file; it takes the name (and the inode) from whoever had it. */
static int add_file(sl_dir_source *d, char *name, const struct stat *st, bool closed) {
    if (d->n == d->cap) {
        d->cap = d->cap ? d->cap * 2 : 256;
        d->f = sl_xreallocarray(d->f, (size_t)d->cap, sizeof *d->f);
        d->names = sl_xreallocarray(d->names, (size_t)d->cap + 1, sizeof *d->names);
    }
    int i = d->n;
    dfile *f = &d->f[i];
    memset(f, 0, sizeof *f);
    f->name = name;
    f->ino = (uint64_t)st->st_ino;
    f->committed = -1;
    f->closed = closed;
    f->size = st->st_size;
    f->mtime_us = mtime_of(st);
    dir_acct(d, f);
    d->names[i] = f->name;
    d->names[i + 1] = NULL;
    uint64_t h = name_key(name);
    int64_t *had = sl_hmap_get(d->by_name, h);
    if (had) unname(d, (int)*had);
    hset(d->by_name, h, i);
    int64_t *last = sl_hmap_get(d->last_name, h);
    f->prev = last ? (int)*last : -1;
    hset(d->last_name, h, i);
    hset(d->by_ino, ino_key(f->ino), i);
    d->n++;
    return i;
}

/* File i is deleted (or cleaned up). */
static void forget(sl_dir_source *d, int i) {
    unname(d, i);
    hdel_if(d->by_ino, ino_key(d->f[i].ino), i);
    d->f[i].gone = true;
}

/* File i now has this name (a rename). Takes the name. */
static void rename_to(sl_dir_source *d, int i, char *name) {
    dfile *f = &d->f[i];
    if (!f->nameless) hdel_if(d->by_name, name_key(f->name), i);
    if (d->nold == d->capold) {
        d->capold = d->capold ? d->capold * 2 : 16;
        d->old = sl_xreallocarray(d->old, (size_t)d->capold, sizeof *d->old);
    }
    d->old[d->nold++] = f->name; /* rows read earlier may still point at it */
    f->name = name;
    d->names[i] = name;
    uint64_t h = name_key(name);
    int64_t *had = sl_hmap_get(d->by_name, h);
    if (had && *had != i) unname(d, (int)*had);
    hset(d->by_name, h, i);
    hset(d->last_name, h, i);
    f->nameless = f->gone = false;
    sl_log_info("dir source: file renamed", "\"path\":\"%s\",\"name\":\"%s\"", d->path, name);
}

/* The content under file i's inode is not the one read (truncated, or the
 * inode reused): file i is done, and a new file, read from 0, takes its name
 * and inode. Returns the new index. */
static int reincarnate(sl_dir_source *d, int i, const struct stat *st, const char *why) {
    if (d->cur == i) {
        if (d->fd >= 0) close(d->fd);
        d->fd = -1;
        d->cur = -1;
        d->blen = d->bconsumed = 0;
        d->fake_nl = false;
    }
    sl_log_warn("dir source: file truncated or replaced, reading it again from the start",
                "\"path\":\"%s\",\"name\":\"%s\",\"why\":\"%s\",\"position\":%lld,\"size\":%lld",
                d->path, d->f[i].name, why, (long long)d->f[i].pos, (long long)st->st_size);
    forget(d, i);
    set_size(d, &d->f[i], d->f[i].pos);
    d->truncated++;
    if (d->f[i].fplen) note_truncated(d, i);
    int j = add_file(d, sl_xstrdup(d->f[i].name), st, false);
    d->f[j].prev = -1; /* not a re-delivery of i: new lines under the same inode */
    return j;
}

/* A stat of known file i: growth, truncation. Returns its index (a new one
 * if it was truncated). */
static int restat_st(sl_dir_source *d, int i, const struct stat *st) {
    dfile *f = &d->f[i];
    if (f->ahead && st->st_size >= f->pos) f->ahead = false;
    if (st->st_size < f->pos && !f->ahead) {
        i = reincarnate(d, i, st, "size below the position");
        f = &d->f[i];
    }
    if (st->st_size != f->size) set_size(d, f, st->st_size);
    f->mtime_us = mtime_of(st);
    if (f->pos < f->size && i < d->scan_from) d->scan_from = i;
    enqueue_cleanup(d, i);
    return i;
}

static void fresh_push(sl_dir_source *d, const char *name, bool closed, bool known_only) {
    if (d->nfr == d->capfr) {
        d->capfr = d->capfr ? d->capfr * 2 : 64;
        d->fr = sl_xreallocarray(d->fr, (size_t)d->capfr, sizeof *d->fr);
    }
    d->fr[d->nfr].name = sl_xstrdup(name);
    d->fr[d->nfr].closed = closed;
    d->fr[d->nfr++].known_only = known_only;
}

/* Re-stats known file i under its name: growth, truncation, or the name now
 * holds another file (then that one is looked at as a new name). */
static void restat(sl_dir_source *d, int i) {
    dfile *f = &d->f[i];
    char full[PATH_MAX];
    snprintf(full, sizeof full, "%s/%s", d->path, f->name);
    struct stat st;
    if (stat(full, &st) != 0 || !S_ISREG(st.st_mode)) return;
    if ((uint64_t)st.st_ino != f->ino) {
        unname(d, i);
        fresh_push(d, f->name, false, false);
        return;
    }
    restat_st(d, i, &st);
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
    d->by_ino = sl_hmap_new(1024);
    d->last_name = sl_hmap_new(1024);
    d->fpfull = sl_hmap_new(256);
    d->rr_ino = sl_hmap_new(64);
    d->rr_name = sl_hmap_new(64);
    d->legacy = sl_hmap_new(64);
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
    for (int i = 0; i < d->n; i++) {
        free(d->f[i].name);
        free(d->f[i].key);
    }
    for (int i = 0; i < d->nrr; i++) {
        free(d->rr[i].key);
        free(d->rr[i].name);
    }
    for (int i = 0; i < d->nretire; i++)
        free(d->retire[i]);
    for (int i = 0; i < d->nold; i++)
        free(d->old[i]);
    free(d->rr);
    free(d->retire);
    free(d->old);
    free(d->fr);
    free(d->f);
    free(d->names);
    sl_hmap_free(d->by_name);
    sl_hmap_free(d->by_ino);
    sl_hmap_free(d->last_name);
    sl_hmap_free(d->fpfull);
    sl_hmap_free(d->rr_ino);
    sl_hmap_free(d->rr_name);
    sl_hmap_free(d->legacy);
    free(d->dirty.v);
    free(d->rep.v);
    free(d->cq.v);
    free(d->trunc.v);
    free(d->buf);
    free(d->lprefix);
    free(d);
}

bool sl_dir_watching(const sl_dir_source *d) { return d->ino >= 0; }
int sl_dir_fd(const sl_dir_source *d) { return d->ino; }
void sl_dir_set_max_files(sl_dir_source *d, int n) { d->max_files = n > 0 ? n : 0; }
int64_t sl_dir_truncated(const sl_dir_source *d) { return d->truncated; }

void sl_dir_restore(sl_dir_source *d, const char *name, int64_t pos) {
    size_t nl;
    uint64_t ino, fp;
    int fplen;
    if (!parse_key(name, &nl, &ino, &fplen, &fp)) {
        if (pos < 0) return; /* retired */
        hset(d->legacy, name_key(name), pos);
        if (d->scanned) return;
        d->retire = sl_xreallocarray(d->retire, (size_t)d->nretire + 1, sizeof *d->retire);
        d->retire[d->nretire++] = sl_xstrdup(name);
        return;
    }
    if (d->nrr == d->caprr) {
        d->caprr = d->caprr ? d->caprr * 2 : 64;
        d->rr = sl_xreallocarray(d->rr, (size_t)d->caprr, sizeof *d->rr);
    }
    int r = d->nrr++;
    rrow *w = &d->rr[r];
    memset(w, 0, sizeof *w);
    w->key = sl_xstrdup(name);
    w->name = sl_xstrndup(name, nl);
    w->ino = ino;
    w->fp = fp;
    w->fplen = fplen;
    w->pos = pos;
    int64_t *slot;
    w->next_ino = -1;
    if (!sl_hmap_put(d->rr_ino, ino_key(ino), r, &slot)) w->next_ino = (int)*slot, *slot = r;
    w->next_name = -1;
    if (!sl_hmap_put(d->rr_name, name_key(w->name), r, &slot)) w->next_name = (int)*slot, *slot = r;
    if (fplen == FP_MAX) {
        int64_t *e = sl_hmap_get(d->fpfull, fp);
        if (!e || rec_pos(d, *e) < pos) hset(d->fpfull, fp, -(int64_t)r - 1);
    }
}

/* A new file: its restored position, if a row names it. A row with its inode
 * whose fingerprint its head still has (the furthest of them), else, at the
 * first scan, a name-only row of its name (then it is fingerprinted now, so
 * the next commit writes its row with an identity). A restored position past
 * the end means the file was truncated meanwhile: it is read from 0. */
static void apply_restore(sl_dir_source *d, int i) {
    dfile *f = &d->f[i];
    char head[FP_MAX];
    int n = -2, best = -1;
    int64_t *r = sl_hmap_get(d->rr_ino, ino_key(f->ino));
    for (int k = r ? (int)*r : -1; k >= 0; k = d->rr[k].next_ino) {
        rrow *w = &d->rr[k];
        if (w->ino != f->ino) continue;
        if (n == -2) n = head_at(d, f->name, head);
        if (w->fplen > n || fp_of(head, w->fplen) != w->fp) {    /* truncated, or inode reused */
            if (!d->scanned) note_truncated(d, -(int64_t)k - 1); /* while stopped */
            continue;
        }
        w->used = true;
        if (best < 0 || w->pos > d->rr[best].pos) best = k;
    }
    int64_t pos = -1;
    if (best < 0 && n != -2 && !d->scanned) { /* rows of its inode, none with its head */
        sl_log_warn(
            "dir source: file replaced or truncated while stopped, reading it from the start",
            "\"path\":\"%s\",\"name\":\"%s\"", d->path, f->name);
        d->truncated++;
    }
    if (best >= 0) {
        pos = d->rr[best].pos;
        f->fplen = d->rr[best].fplen;
        f->fp = d->rr[best].fp;
        f->key = sl_xstrdup(d->rr[best].key);
        if (f->fplen == FP_MAX) hset(d->fpfull, f->fp, i);
    } else if (!d->scanned) {
        int64_t *lp = sl_hmap_get(d->legacy, name_key(f->name));
        if (!lp) return;
        pos = *lp;
        if (n == -2) n = head_at(d, f->name, head);
        if (n <= 0) return;
        set_fp(d, i, head, n);
        mark_dirty(d, i); /* the row with the identity replaces the name-only one */
    } else {
        return;
    }
    if (pos > f->size) {
        sl_log_warn("dir source: file shorter than its position, reading it again from the start",
                    "\"path\":\"%s\",\"name\":\"%s\",\"position\":%lld,\"size\":%lld", d->path,
                    f->name, (long long)pos, (long long)f->size);
        d->truncated++;
        f->fplen = 0;
        free(f->key);
        f->key = NULL;
        return;
    }
    set_pos(d, f, pos);
    f->committed = pos;
}

/* ---- scanning ---------------------------------------------------------- */

/* true if a restored row is the file `name` with this inode (its head still
 * has the row's fingerprint): a file rotated out of the pattern while
 * stopped, to be read to its end. */
static bool restored_here(sl_dir_source *d, const char *name, uint64_t ino) {
    int64_t *r = sl_hmap_get(d->rr_ino, ino_key(ino));
    if (!r) return false;
    char head[FP_MAX];
    int n = head_at(d, name, head);
    for (int k = (int)*r; k >= 0; k = d->rr[k].next_ino) {
        const rrow *w = &d->rr[k];
        if (w->ino == ino && w->fplen <= n && fp_of(head, w->fplen) == w->fp) return true;
    }
    return false;
}

static int cmp_fresh(const void *a, const void *b) {
    return strcmp(((const fresh_t *)a)->name, ((const fresh_t *)b)->name);
}

/* Takes the names found by one scan, sorted among themselves: renames of
 * known files (by inode) and new files, appended. */
static void add_fresh(sl_dir_source *d) {
    fresh_t *fresh = d->fr;
    int nfresh = d->nfr;
    if (nfresh > 1) qsort(fresh, (size_t)nfresh, sizeof *fresh, cmp_fresh);
    char full[PATH_MAX];
    for (int i = 0; i < nfresh; i++) {
        while (i + 1 < nfresh &&
               !strcmp(fresh[i].name, fresh[i + 1].name)) { /* several events, one file */
            fresh[i + 1].closed |= fresh[i].closed;
            fresh[i + 1].known_only &= fresh[i].known_only;
            free(fresh[i].name);
            i++;
        }
        struct stat st;
        snprintf(full, sizeof full, "%s/%s", d->path, fresh[i].name);
        if (stat(full, &st) != 0 || !S_ISREG(st.st_mode)) { /* gone already, or not a file */
            free(fresh[i].name);
            continue;
        }
        int64_t *k = sl_hmap_get(d->by_ino, ino_key((uint64_t)st.st_ino));
        if (k) {
            int j = (int)*k;
            if (strcmp(d->f[j].name, fresh[i].name) || d->f[j].nameless)
                rename_to(d, j, fresh[i].name);
            else
                free(fresh[i].name);
            d->f[j].closed |= fresh[i].closed;
            restat_st(d, j, &st);
            continue;
        }
        if (fresh[i].known_only && !restored_here(d, fresh[i].name, (uint64_t)st.st_ino)) {
            free(fresh[i].name);
            continue;
        }
        int j = add_file(d, fresh[i].name, &st, fresh[i].closed);
        apply_restore(d, j);
        enqueue_cleanup(d, j);
    }
    d->nfr = 0;
}

static bool wanted(const sl_dir_source *d, const char *name) {
    return name[0] != '.' && fnmatch(d->pattern, name, 0) == 0;
}

static int full_scan(sl_dir_source *d, sl_error *err) {
    DIR *dir = opendir(d->path);
    if (!dir)
        return sl_error_set(err, SL_EIO, "cannot read directory %s: %s", d->path, strerror(errno));
    struct dirent *de;
    while ((de = readdir(dir))) {
        if (de->d_type != DT_REG && de->d_type != DT_UNKNOWN)
            continue; /* folders, fifos, sockets */
        int64_t *idx = sl_hmap_get(d->by_name, name_key(de->d_name));
        if (idx) {
            dfile *f = &d->f[*idx];
            if (f->ino == (uint64_t)de->d_ino) {
                if (f->pos >= f->size) restat(d, (int)*idx); /* only files that might have grown */
                continue;
            }
            unname(d, (int)*idx); /* another file has its name now */
        }
        if (wanted(d, de->d_name))
            fresh_push(d, de->d_name, false, false);
        else if (sl_hmap_get(d->by_ino, ino_key((uint64_t)de->d_ino)) ||
                 (!d->scanned && sl_hmap_get(d->rr_ino, ino_key((uint64_t)de->d_ino))))
            fresh_push(d, de->d_name, false, true); /* a known file renamed out of the pattern */
    }
    closedir(dir);
    return 0;
}

/* Reads pending inotify events into the fresh list. Sets need_full on
 * overflow; drops the watch if it is gone. */
static void read_events(sl_dir_source *d) {
    char evbuf[64 * 1024] __attribute__((aligned(__alignof__(struct inotify_event))));
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
            if (!ev->len || (ev->mask & IN_ISDIR)) continue;
            int64_t *idx = sl_hmap_get(d->by_name, name_key(ev->name));
            if (ev->mask & (IN_DELETE | IN_MOVED_FROM)) {
                if (idx) {
                    int i = (int)*idx;
                    if (ev->mask & IN_DELETE)
                        forget(d, i);
                    else
                        unname(d, i); /* it shows up under its new name (IN_MOVED_TO) */
                    if (last == i) last = -1;
                }
                continue;
            }
            bool closed = (ev->mask & (IN_CLOSE_WRITE | IN_MOVED_TO)) != 0;
            if (idx) {
                dfile *f = &d->f[*idx];
                f->closed = closed;
                if ((int)*idx == last && !closed)
                    continue; /* a run of writes: one stat is enough */
                last = (int)*idx;
                restat(d, (int)*idx);
            } else if (wanted(d, ev->name)) {
                fresh_push(d, ev->name, closed, false);
            } else if ((ev->mask & IN_MOVED_TO) && d->n) {
                fresh_push(d, ev->name, closed, true); /* maybe a known file renamed */
            }
        }
    }
out:;
}

int sl_dir_scan(sl_dir_source *d, sl_error *err) {
    d->started = 0;
    int rc = 0;
    if (d->ino >= 0) read_events(d);
    if (d->ino < 0 || d->need_full) {
        d->need_full = false;
        rc = full_scan(d, err);
    }
    /* One sorted batch for the events and the directory listing together: at
     * start the watch has queued files that arrived since the source was
     * created, and files already there (unread when the last run stopped)
     * come from the listing; appended in two batches, older names would be
     * read after newer ones and their records found late. */
    add_fresh(d);
    if (!d->scanned && rc == 0) {
        d->scanned = true;
        sl_hmap_clear(d->legacy); /* name-only rows apply to the files there at start */
    }
    return rc;
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

/* At every open: the file must still start with the head it was
 * fingerprinted with (else it is a new content under the same inode, read
 * from 0); the first open fingerprints it and recognises a copy of a file
 * already read; a fingerprint shorter than FP_MAX grows with the file.
 * Returns the index to read. */
static int identify(sl_dir_source *d, int i, int fd, const struct stat *st) {
    char head[FP_MAX];
    int n = head_of(fd, head);
    if (n < 0) n = 0;
    dfile *f = &d->f[i];
    if (f->fplen) {
        if (n >= f->fplen && fp_of(head, f->fplen) == f->fp) {
            if (n > f->fplen) set_fp(d, i, head, n);
            return i;
        }
        i = reincarnate(d, i, st, "its first bytes changed");
        f = &d->f[i];
    }
    if (n == 0) return i;
    int64_t p = f->pos == 0 ? copy_pos(d, i, head, n) : 0;
    set_fp(d, i, head, n); /* after the lookup: it registers this file */
    f = &d->f[i];
    if (p > 0) {
        set_pos(d, f, p);
        f->ahead = p > f->size;
        mark_dirty(d, i);
        sl_log_info("dir source: a copy of a file already read, resuming at its position",
                    "\"path\":\"%s\",\"name\":\"%s\",\"position\":%lld", d->path, f->name,
                    (long long)p);
    }
    return i;
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
                if (nl && d->more && (d->bconsumed || d->blen < d->bcap)) {
                    /* the caller needs what follows these lines: refill first */
                } else if (nl) {
                    d->more = false;
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
                if (!nl &&
                    avail > d->max_line) { /* an overlong line: keep its start, skip the rest */
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
            if (r > 0 || (d->more && d->blen && d->buf[d->blen - 1] == '\n')) {
                d->more = false; /* read on, or at the end: the same lines again */
                continue;
            }
            d->more = false;
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
        struct stat st;
        if (fstat(fd, &st) != 0 || (uint64_t)st.st_ino != d->f[i].ino) {
            close(fd); /* the name holds another file now: the next scan sees it */
            unname(d, i);
            continue;
        }
        i = identify(d, i, fd, &st);
        if (d->f[i].pos >= d->f[i].size) { /* a copy of what was read */
            close(fd);
            continue;
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

void sl_dir_want_more(sl_dir_source *d) { d->more = true; }

int sl_dir_view_idle(sl_dir_source *d, int64_t us) {
    if (d->cur < 0 || d->lready || d->vend != d->blen) return -1;
    if (d->fake_nl) return 1;
    struct stat st;
    int64_t end = d->boff + (int64_t)d->blen;
    if (fstat(d->fd, &st) != 0) return 1;
    if (st.st_size > end) return -1;
    return sl_now_us() - mtime_of(&st) >= us;
}

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
    if (d->scanned) { /* name-only rows: their files now have rows with identities */
        for (int k = 0; k < d->nretire; k++) {
            fn(ud, d->retire[k], -1);
            free(d->retire[k]);
        }
        d->nretire = 0;
    }
    for (int k = 0; k < d->dirty.n; k++) {
        dfile *f = &d->f[d->dirty.v[k]];
        if (!f->key) continue; /* nothing read (cannot happen: reading fingerprints) */
        if (f->fplen < FP_MAX && f->pos > f->fplen && !f->nameless) {
            /* read past a short fingerprint in one go: lengthen it, so that a
             * copy made now (copytruncate) is recognised */
            char head[FP_MAX];
            int n = head_at(d, f->name, head);
            if (n > f->fplen && fp_of(head, f->fplen) == f->fp) set_fp(d, d->dirty.v[k], head, n);
        }
        fn(ud, f->key, f->pos);
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
    if (f->nameless) return 1;
    if (stat(full, &st) != 0) return errno == ENOENT ? 1 : -1;
    if ((uint64_t)st.st_ino != f->ino) return 1; /* another file has its name now */
    if (st.st_size != f->size) {                 /* grew since the last scan: read it first */
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
            if (d->cur == i) close_cur(d);
            forget(d, i);
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
