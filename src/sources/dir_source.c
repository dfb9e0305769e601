/*
 * dir_source.c - the `dir` and `file` source kinds (source.h) over a landing
 * directory (dir.h). A `file` source is a dir source on the file's directory
 * whose pattern is the file's name. Positions are byte offsets per file.
 *
 * Multiline records (`multiline: {start: RE}` or `{continue: RE}`): lines
 * are grouped into records before the format sees them. A record ends where
 * the next one starts, so the last record of a view is complete only when a
 * later line starts a new one, when it reaches max_bytes, or when its file
 * has not been modified for flush_after (also with --once: a backlog's files
 * are idle long since). Only whole records are consumed, so a position is
 * always a record's first byte: a restart re-reads a pending record whole,
 * never half of it, and a record's position is its first line's. The
 * complete records of a view are copied into one buffer of the source
 * (grown, never per record) where their inner line ends are written as
 * '\r' while the format parses them (a record is one line to every format),
 * then put back, so the rows' strings (views of that buffer) and raw text
 * hold the real '\n'. A record the format rejects is quarantined as the
 * format saw it, with '\r' for its inner line ends.
 */
#include <dirent.h>
#include <errno.h>
#include <fnmatch.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "core/log.h"
#include "core/mem.h"
#include "core/timeutil.h"
#include "formats/json.h"
#include "formats/json_write.h"
#include "sources/dir.h"
#include "sources/source.h"

#define SAMPLE_READ_MAX (8u << 20) /* bytes read per file when sampling */

typedef struct {
    char path[SL_PATH_MAX]; /* relative: to the pipeline file (spec.h sl_spec_path) */
    const char *pattern;
    int64_t max_files;
    int cleanup; /* sl_dir_cleanup: the words of `cleanup` in its order */
    const sl_node *cleanup_at;
    char archive[SL_PATH_MAX];
    const sl_node *archive_at;
    int64_t line_timeout; /* µs */
    const sl_node *multiline;
} dir_conf;

typedef struct {
    const char *start, *cont;
    const sl_node *start_at, *cont_at;
    int64_t max_bytes;
    int64_t flush_after; /* µs */
    const sl_node *max_bytes_at;
} ml_conf;

#define M(field) SL_OPT_BIND(ml_conf, field)
static const sl_opt ml_opts[] = {
    {"start", SL_OPT_STRING, false, NULL, NULL,
     "PCRE2 pattern: a line matching it starts a record, the others continue it", M(start),
     SL_OPT_AT(ml_conf, start_at)},
    {"continue", SL_OPT_STRING, false, NULL, NULL,
     "PCRE2 pattern: a line matching it continues the record before it", M(cont),
     SL_OPT_AT(ml_conf, cont_at)},
    {"max_bytes", SL_OPT_INT, false, NULL, "1048576",
     "longest record: the line that would make it longer starts the next one", M(max_bytes),
     SL_OPT_RANGE(64, 268435456), SL_OPT_AT(ml_conf, max_bytes_at)},
    {"flush_after", SL_OPT_DURATION, false, NULL, "1s",
     "the last record of a file that has not been modified for this long is complete",
     M(flush_after), SL_OPT_RANGE(0, 86400e6)},
    {0},
};
#undef M

#define B(field) SL_OPT_BIND(dir_conf, field)
static const sl_opt dir_opts[] = {
    {"path", SL_OPT_PATH, true, NULL, NULL, "the landing directory", B(path)},
    {"pattern", SL_OPT_STRING, false, NULL, "*", "file name glob (dot-files are ignored)",
     B(pattern)},
    {"max_files_per_trigger", SL_OPT_INT, false, NULL, "0",
     "files started per read cycle, each slice committed (0: no limit)", B(max_files),
     SL_OPT_RANGE(0, 1000000000)},
    {"cleanup", SL_OPT_ENUM, false, "none|delete|move", "none",
     "what happens to a file once it is read and committed", B(cleanup),
     SL_OPT_AT(dir_conf, cleanup_at)},
    {"archive", SL_OPT_PATH, false, NULL, NULL, "where cleanup: move puts finished files",
     B(archive), SL_OPT_AT(dir_conf, archive_at)},
    {"line_timeout", SL_OPT_DURATION, false, NULL, "1s",
     "a last line without a line end is a record once its file has not grown for this long",
     B(line_timeout), SL_OPT_RANGE(0, 86400e6)},
    {"multiline", SL_OPT_MAP, false, NULL, NULL,
     "lines grouped into records (stack traces): {start: RE} or {continue: RE}, max_bytes, "
     "flush_after",
     B(multiline), SL_OPT_SUB(ml_opts)},
    {0},
};

/* A file: the rows of dir but the pattern (the file's name is the pattern). */
static const sl_opt file_opts[] = {
    {"path", SL_OPT_PATH, true, NULL, NULL, "the file", B(path)},
    {"max_files_per_trigger", SL_OPT_INT, false, NULL, "0",
     "files started per read cycle, each slice committed (0: no limit)", B(max_files),
     SL_OPT_RANGE(0, 1000000000)},
    {"cleanup", SL_OPT_ENUM, false, "none|delete|move", "none",
     "what happens to the file once it is read and committed", B(cleanup),
     SL_OPT_AT(dir_conf, cleanup_at)},
    {"archive", SL_OPT_PATH, false, NULL, NULL, "where cleanup: move puts the finished file",
     B(archive), SL_OPT_AT(dir_conf, archive_at)},
    {"line_timeout", SL_OPT_DURATION, false, NULL, "1s",
     "a last line without a line end is a record once its file has not grown for this long",
     B(line_timeout), SL_OPT_RANGE(0, 86400e6)},
    {"multiline", SL_OPT_MAP, false, NULL, NULL,
     "lines grouped into records (stack traces): {start: RE} or {continue: RE}, max_bytes, "
     "flush_after",
     B(multiline), SL_OPT_SUB(ml_opts)},
    {0},
};
#undef B

typedef struct {
    pcre2_code *re;
    pcre2_match_data *md;
    bool is_start; /* re is the start pattern (else the continue pattern) */
    size_t max_bytes;
    int64_t flush_after;
    char *buf; /* the complete records of a view, inner '\n' as '\r' while parsed */
    size_t cap;
    size_t *nl; /* where the inner '\n' were */
    size_t nnl, capnl;
} multiline;

typedef struct {
    dir_conf c;
    multiline *ml;
    char path[PATH_MAX], pattern[256];
    char name[64]; /* the source's name, for logs */
    sl_source_env env;
    sl_dir_source *dir;
    bool exhausted;
} dir_src;

static void dir_destroy(void *self);

static void ml_free(multiline *m) {
    if (!m) return;
    pcre2_match_data_free(m->md);
    pcre2_code_free(m->re);
    free(m->buf);
    free(m->nl);
    free(m);
}

/* The multiline map: one pattern, compiled (and JIT-compiled) once. */
static int ml_create(dir_src *d, const sl_node *n, const char *what, sl_error *err) {
    char w[160];
    snprintf(w, sizeof w, "%s: multiline", what);
    ml_conf mc;
    if (sl_spec_bind(n, ml_opts, w, &mc, err)) return SL_EINVAL;
    if (!!mc.start == !!mc.cont)
        return sl_node_error(err, mc.start_at ? mc.start_at : n, "%s: give start or continue%s", w,
                             mc.start ? ", not both" : "");
    const char *pat = mc.start ? mc.start : mc.cont;
    int code;
    PCRE2_SIZE at;
    pcre2_code *re =
        pcre2_compile((PCRE2_SPTR)pat, PCRE2_ZERO_TERMINATED, PCRE2_UTF, &code, &at, NULL);
    if (!re) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(code, msg, sizeof msg);
        return sl_node_error(err, mc.start ? mc.start_at : mc.cont_at,
                             "%s: bad regular expression at offset %zu: %s", w, (size_t)at,
                             (const char *)msg);
    }
    pcre2_jit_compile(re, PCRE2_JIT_COMPLETE);
    multiline *m = sl_xcalloc(1, sizeof *m);
    m->re = re;
    m->md = pcre2_match_data_create_from_pattern(re, NULL);
    m->is_start = mc.start != NULL;
    m->max_bytes = (size_t)mc.max_bytes;
    m->flush_after = mc.flush_after;
    d->ml = m;
    return 0;
}

/* Does the line (without its '\n') start a record? */
static bool ml_starts(multiline *m, const char *l, size_t n) {
    if (n && l[n - 1] == '\r') n--;
    int rc = pcre2_match(m->re, (PCRE2_SPTR)l, n, 0, 0, m->md, NULL);
    return m->is_start ? rc >= 0 : rc < 0; /* a matching error counts as no match */
}

/* The bytes of buf[0, len) (complete lines) that end complete records, given
 * that the view's last record is complete too when `last_done`. Remembers
 * where a line continues the one before (m->nl: the '\n' between them), so
 * ml_parse matches no line again. */
static size_t ml_complete(multiline *m, const char *buf, size_t len, bool last_done) {
    size_t rec = 0, done = 0;
    m->nnl = 0;
    for (size_t off = 0; off < len;) {
        const char *nl = memchr(buf + off, '\n', len - off);
        size_t end = (size_t)(nl - buf) + 1;
        if (off > rec) {
            if (ml_starts(m, buf + off, end - off - 1) || end - rec > m->max_bytes) {
                done = off;
                rec = off;
            } else { /* the line before continues into this one */
                if (m->nnl == m->capnl)
                    m->nl = sl_xreallocarray(m->nl, m->capnl = m->capnl ? m->capnl * 2 : 64,
                                             sizeof *m->nl);
                m->nl[m->nnl++] = off - 1;
            }
        }
        off = end;
    }
    return last_done ? len : done;
}

/* Hands the complete records of buf[0, n) (as ml_complete found them) to the
 * format, each as one line, and returns the bytes it used. */
static size_t ml_parse(dir_src *d, const char *buf, size_t n, int32_t part, int64_t base,
                       bool ends_file) {
    multiline *m = d->ml;
    if (n + SL_DIR_PADDING > m->cap) {
        m->cap = (n + SL_DIR_PADDING) * 2;
        m->buf = sl_xrealloc(m->buf, m->cap);
    }
    memcpy(m->buf, buf, n);
    memset(m->buf + n, 0, SL_DIR_PADDING);
    while (m->nnl && m->nl[m->nnl - 1] >= n) /* inside the pending record */
        m->nnl--;
    for (size_t k = 0; k < m->nnl; k++)
        m->buf[m->nl[k]] = '\r';
    size_t used = d->env.parse(d->env.ud, m->buf, n, part, base);
    if (!used && ends_file) used = d->env.parse_end(d->env.ud, m->buf, n, part, base);
    for (size_t k = 0; k < m->nnl; k++) /* the rows see the real line ends */
        m->buf[m->nl[k]] = '\n';
    return used;
}

static int create(const sl_opt *opts, bool file, const sl_node *n, const sl_source_env *env,
                  void **self, sl_error *err) {
    char what[128];
    snprintf(what, sizeof what, "source '%s'", env->name);
    dir_conf c;
    if (sl_spec_bind(n, opts, what, &c, err)) return SL_EINVAL;
    if ((c.cleanup == SL_DIR_CLEANUP_MOVE) != !!c.archive[0])
        return sl_node_error(err, c.archive_at ? c.archive_at : c.cleanup_at,
                             "%s: cleanup: move and archive go together", what);
    dir_src *d = sl_xcalloc(1, sizeof *d);
    d->c = c;
    if (file) {
        char a[PATH_MAX], b[PATH_MAX];
        snprintf(a, sizeof a, "%s", c.path);
        snprintf(b, sizeof b, "%s", c.path);
        snprintf(d->path, sizeof d->path, "%s", dirname(a));
        snprintf(d->pattern, sizeof d->pattern, "%s", basename(b));
    } else {
        snprintf(d->path, sizeof d->path, "%s", c.path);
        snprintf(d->pattern, sizeof d->pattern, "%s", c.pattern);
    }
    snprintf(d->name, sizeof d->name, "%s", env->name);
    *self = d;
    if (c.multiline && ml_create(d, c.multiline, what, err)) {
        dir_destroy(d);
        *self = NULL;
        return SL_EINVAL;
    }
    return 0;
}

static int dir_create(const sl_node *n, const sl_source_env *env, void **self, sl_source_info *info,
                      sl_error *err) {
    (void)info;
    return create(dir_opts, false, n, env, self, err);
}

static int file_create(const sl_node *n, const sl_source_env *env, void **self,
                       sl_source_info *info, sl_error *err) {
    (void)info;
    return create(file_opts, true, n, env, self, err);
}

static void restore_cb(void *ud, const char *part, int64_t pos) { sl_dir_restore(ud, part, pos); }

static int dir_open_(void *self, const sl_source_env *env, sl_error *err) {
    dir_src *d = self;
    d->env = *env;
    d->exhausted = false;
    d->dir = sl_dir_open(d->path, d->pattern, err);
    if (!d->dir) return err->code;
    int rc = sl_store_positions(env->store, env->name, restore_cb, d->dir, err);
    if (rc) return rc;
    sl_dir_set_max_files(d->dir, (int)d->c.max_files);
    sl_dir_set_lines(d->dir, d->c.line_timeout, (size_t)env->max_line_bytes);
    if (d->c.cleanup != SL_DIR_CLEANUP_NONE)
        rc = sl_dir_set_cleanup(d->dir, (sl_dir_cleanup)d->c.cleanup,
                                d->c.archive[0] ? d->c.archive : NULL, err);
    return rc;
}

static void dir_close_(void *self) {
    dir_src *d = self;
    sl_dir_free(d->dir);
    d->dir = NULL;
}

static void dir_destroy(void *self) {
    dir_close_(self);
    ml_free(((dir_src *)self)->ml);
    free(self);
}

static int dir_scan_(void *self, sl_error *err) {
    dir_src *d = self;
    return d->dir ? sl_dir_scan(d->dir, err) : 0;
}

/* Multiline: consume the complete records of the view. The last one is
 * complete when its file has not been modified for flush_after; when the
 * file holds more than the view, the view is extended first (at most a few
 * times per read: a view that cannot grow ends its last record). */
static int ml_read(dir_src *d, const char *buf, size_t len, int32_t part, int64_t base) {
    multiline *m = d->ml;
    for (int tries = 0;; tries++) {
        int idle = sl_dir_view_idle(d->dir, m->flush_after);
        size_t done = ml_complete(m, buf, len, idle == 1);
        if (!done && idle < 0 && tries < 4) {
            size_t before = len;
            sl_dir_want_more(d->dir);
            sl_error e = {0};
            int64_t b2;
            int32_t p2;
            int got = sl_dir_next(d->dir, false, &buf, &len, &p2, &b2, &e);
            if (got != 1 || p2 != part || b2 != base) return got < 0 ? got : 0;
            if (len > before) continue;
            /* it cannot grow (a full buffer, an overlong line next): its last record ends */
            done = ml_complete(m, buf, len, true);
        }
        if (!done) return 0;
        size_t used =
            ml_parse(d, buf, done, part, base, done == len && sl_dir_view_ends_file(d->dir));
        sl_dir_consume(d->dir, used);
        return used ? 1 : 0;
    }
}

static int dir_read(void *self, bool final, sl_error *err) {
    dir_src *d = self;
    const char *buf;
    size_t len;
    int32_t part;
    int64_t base;
    int got = sl_dir_next(d->dir, final, &buf, &len, &part, &base, err);
    if (got <= 0) {
        /* a last line waiting for its file to be idle is input still to come */
        if (got == 0 && final && !sl_dir_held(d->dir)) d->exhausted = true;
        return got;
    }
    if (got == 2) { /* a line over max_line_bytes: one record, not parsed */
        char why[128];
        snprintf(why, sizeof why, "line of %lld bytes exceeds max_line_bytes (%lld)",
                 (long long)sl_dir_long_line_bytes(d->dir), (long long)d->env.max_line_bytes);
        d->env.bad(d->env.ud, buf, len, part, base, why);
        sl_dir_consume(d->dir, len ? len : 1);
        return 1;
    }
    if (d->ml) return ml_read(d, buf, len, part, base);
    size_t used = d->env.parse(d->env.ud, buf, len, part, base);
    /* what the format left at the end of an idle file is never completed */
    if (!used && sl_dir_view_ends_file(d->dir))
        used = d->env.parse_end(d->env.ud, buf, len, part, base);
    sl_dir_consume(d->dir, used);
    return used ? 1 : 0;
}

static const char *const *dir_part_names(void *self) {
    dir_src *d = self;
    return d->dir ? sl_dir_names(d->dir) : NULL;
}

static void dir_each_position(void *self, sl_source_pos_fn fn, void *ud) {
    dir_src *d = self;
    if (d->dir) sl_dir_each_dirty(d->dir, fn, ud);
}

static void dir_committed(void *self) {
    dir_src *d = self;
    if (!d->dir) return;
    sl_dir_clear_dirty(d->dir);
    sl_error e = {0};
    /* cleanup failing (a file held open elsewhere, a full archive disk) is
     * not a reason to stop reading: it is retried after the next commit */
    if (sl_dir_committed(d->dir, &e) < 0) {
        char esc[1024];
        sl_json_escape(esc, sizeof esc, e.msg, (int)strlen(e.msg));
        sl_log_warn("cleanup after commit failed", "\"source\":\"%s\",\"error\":\"%s\"", d->name,
                    esc);
    }
}

static bool dir_done(void *self) { return ((dir_src *)self)->exhausted; }

static int dir_fd(void *self) {
    dir_src *d = self;
    return d->dir ? sl_dir_fd(d->dir) : -1;
}

static void dir_stats(void *self, sl_source_stats *out) {
    dir_src *d = self;
    out->files_waiting = d->dir ? sl_dir_pending_files(d->dir) : 0;
    out->bytes_waiting = d->dir ? sl_dir_pending_bytes(d->dir) : 0;
}

static long dir_read_head(void *self, int32_t part, char *buf, size_t cap) {
    dir_src *d = self;
    sl_error e = {0};
    return d->dir ? (long)sl_dir_read_head(d->dir, part, buf, cap, &e) : -1;
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The files present now, in name order, each as its complete lines. */
static int dir_sample(void *self, bool (*each)(void *ud, const char *buf, size_t len), void *ud,
                      sl_error *err) {
    dir_src *d = self;
    DIR *dh = opendir(d->path);
    char **names = NULL;
    size_t n = 0, cap = 0;
    struct dirent *e;
    while (dh && (e = readdir(dh))) {
        if (e->d_name[0] == '.' || fnmatch(d->pattern, e->d_name, 0) != 0) continue;
        if (n == cap) names = sl_xreallocarray(names, cap = cap ? cap * 2 : 64, sizeof *names);
        names[n++] = sl_xstrdup(e->d_name);
    }
    if (dh) closedir(dh);
    if (n) qsort(names, n, sizeof *names, cmp_str);
    char *buf = malloc(SAMPLE_READ_MAX + 2 + SL_JSON_PADDING);
    if (!buf) {
        for (size_t i = 0; i < n; i++)
            free(names[i]);
        free(names);
        return sl_error_set(err, SL_ENOMEM, "out of memory");
    }
    for (size_t i = 0; i < n; i++) {
        char path[PATH_MAX * 2];
        snprintf(path, sizeof path, "%s/%s", d->path, names[i]);
        struct stat st;
        FILE *f = stat(path, &st) == 0 && S_ISREG(st.st_mode) ? fopen(path, "rb") : NULL;
        if (!f) continue;
        size_t len = fread(buf, 1, SAMPLE_READ_MAX, f);
        bool whole = feof(f);
        fclose(f);
        if (!whole) { /* only complete records */
            char *nl = memrchr(buf, '\n', len);
            len = nl ? (size_t)(nl - buf) + 1 : 0;
        } else if (len && buf[len - 1] != '\n') {
            buf[len++] = '\n';
        }
        memset(buf + len, 0, SL_JSON_PADDING);
        if (!each(ud, buf, len)) break;
    }
    free(buf);
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    return 0;
}

static void dir_describe(void *self, char *out, size_t cap) {
    dir_src *d = self;
    snprintf(out, cap, "dir %s/%s", d->path, d->pattern);
}

/* `sluice check`: the directory can be listed; how many files match now. */
static int dir_check(void *self, char *detail, size_t cap) {
    dir_src *d = self;
    DIR *dh = opendir(d->path);
    if (!dh) {
        snprintf(detail, cap, "cannot read directory %s: %s", d->path, strerror(errno));
        return 1;
    }
    int64_t n = 0;
    struct dirent *e;
    while ((e = readdir(dh)))
        if (e->d_name[0] != '.' && fnmatch(d->pattern, e->d_name, 0) == 0) n++;
    closedir(dh);
    snprintf(detail, cap, "%s readable, %lld file%s match %s", d->path, (long long)n,
             n == 1 ? "" : "s", d->pattern);
    return 0;
}

/* `sluice refresh`: the files are read again from their start, unless
 * cleanup deletes or moves them once read. */
static bool dir_replayable(void *self, char *why, size_t cap) {
    dir_src *d = self;
    if (d->c.cleanup == SL_DIR_CLEANUP_NONE) return true;
    snprintf(why, cap, "cleanup: %s removes files once read from %s",
             d->c.cleanup == SL_DIR_CLEANUP_MOVE ? "move" : "delete", d->path);
    return false;
}

#define DIR_CALLBACKS                                                                              \
    .destroy = dir_destroy, .open = dir_open_, .close = dir_close_, .scan = dir_scan_,             \
    .read = dir_read, .part_names = dir_part_names, .each_position = dir_each_position,            \
    .committed = dir_committed, .done = dir_done, .fd = dir_fd, .stats = dir_stats,                \
    .read_head = dir_read_head, .sample = dir_sample, .describe = dir_describe,                    \
    .check = dir_check, .replayable = dir_replayable

const sl_source_def sl_source_dir = {
    .name = "dir",
    .opts = dir_opts,
    .help = "a landing directory: files matching a pattern, read in name order",
    .format = "json",
    .create = dir_create,
    DIR_CALLBACKS,
};

const sl_source_def sl_source_file = {
    .name = "file",
    .opts = file_opts,
    .help = "one file, read as it grows",
    .format = "json",
    .create = file_create,
    DIR_CALLBACKS,
};
