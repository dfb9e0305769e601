/*
 * lake_vtab.c - the `sluice_lake` SQLite virtual table: NDJSON lines of lake
 * segments as rows.
 *
 * The idea. A scan lists the segments (sl_lake_segments_list, sequence order),
 * keeps those visible at the committed position, and streams each through one
 * ZSTD_DCtx into a line window: decompressed bytes are appended to `dbuf`,
 * lines are cut at '\n' in place and handed to SQLite (copied with
 * SQLITE_TRANSIENT), and the unfinished tail is moved to the front before the
 * next decompression. Memory is the 128 KiB read buffer plus a window that
 * only grows to hold the longest line.
 *
 * Committed view: segments with a sequence number below the committed one are
 * complete (the writer never returns to an older segment), the committed
 * segment is read up to its committed length only - the end of a zstd frame -
 * and anything newer is ignored.
 *
 * Errors: a zstd error, a frame that is still open at the end of the bytes we
 * may read, or a segment shorter than its committed length fail the query
 * with "sluice_lake: segment <path>: ..." instead of returning partial rows
 * silently. A segment deleted between listing and reading (retention) is
 * skipped.
 *
 * Cold tier: ROOT/.cold names the cold root (lake.c). A scan lists hot
 * segments first, then cold ones, and keeps a cold segment only when no hot
 * one has the same relative path: the mover writes the cold copy before it
 * deletes the hot one, so every segment is in one of the two lists, and it
 * is read once. A hot segment gone when opened (moved meanwhile) is read
 * from the cold root.
 */
#include "sinks/lake_vtab.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zstd.h>

#include "sinks/lake.h"

#define MAX_LINE_WINDOW ((size_t)256 << 20)

typedef struct lake_vtab {
    sqlite3_vtab base;
    char root[PATH_MAX];
    int has_pos;
    char pos_seg[256];
    int64_t pos_len;
    int64_t pos_seq;
    /* sluice_lake('ROOT', 'kv:KEY'): the committed position is read from
     * _sluice_kv at every scan, so a long-lived connection (the HTTP server's
     * pool) always sees the latest commit and never an open one. */
    sqlite3 *db;
    char kv_key[128];
    char cold_root[PATH_MAX]; /* "" when the lake has no cold tier (read per scan) */
} lake_vtab;

typedef struct lake_cursor {
    sqlite3_vtab_cursor base;
    sl_lake_segment *segs;
    size_t nseg, next_seg;
    const sl_lake_segment *seg; /* segment being read, NULL between segments */
    int fd;
    int64_t limit;    /* bytes of the segment we may read, -1 = to EOF */
    int64_t consumed; /* compressed bytes read so far */
    int eof_in;
    ZSTD_DCtx *dctx;
    size_t last_ret; /* 0 when the decoder sits on a frame boundary */
    char *ibuf;
    size_t icap;
    ZSTD_inBuffer in;
    char *dbuf;
    size_t dcap, dstart, dend, dscan;
    const char *line;
    size_t line_len;
    int64_t line_no, rowid;
    int at_eof;
} lake_cursor;

/* ----------------------------------------------------------------- errors */

static int vt_error(lake_cursor *c, const char *fmt, ...) {
    sqlite3_vtab *vt = c->base.pVtab;
    va_list ap;
    va_start(ap, fmt);
    char *m = sqlite3_vmprintf(fmt, ap);
    va_end(ap);
    sqlite3_free(vt->zErrMsg);
    vt->zErrMsg = m;
    return m ? SQLITE_ERROR : SQLITE_NOMEM;
}

/* ------------------------------------------------------ create / connect */

/* Copies an argument, removing SQL quotes ('x', "x", `x`, [x]). */
void sl_lake_vtab_dequote(const char *s, char *out, size_t cap) {
    size_t n = strlen(s), o = 0;
    char q = n >= 2 ? s[0] : 0;
    char qe = q == '[' ? ']' : q;
    if ((q == '\'' || q == '"' || q == '`' || q == '[') && s[n - 1] == qe) {
        for (size_t i = 1; i + 1 < n && o + 1 < cap; i++) {
            out[o++] = s[i];
            if (s[i] == qe && q != '[' && i + 2 < n && s[i + 1] == qe) i++;
        }
    } else {
        while (o + 1 < cap && s[o] && s[o] != ' ') {
            out[o] = s[o];
            o++;
        }
    }
    out[o] = '\0';
}

int sl_lake_vtab_kv_arg(const char *arg, char *key, size_t cap) {
    char a[256];
    sl_lake_vtab_dequote(arg, a, sizeof a);
    if (!strncmp(a, "kv:", 3)) {
        if (!a[3]) return -1;
        return snprintf(key, cap, "%s", a + 3) < (int)cap ? 0 : -1;
    }
    if (strncmp(a, "kv@", 3) != 0) return -1;
    /* kv@SCHEMA:KEY: kept as "@SCHEMA:KEY" (see sl_lake_scan_segments) */
    size_t n = 3;
    while (a[n] && a[n] != ':') {
        char ch = a[n++];
        if (!(ch == '_' || (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
              (ch >= '0' && ch <= '9')))
            return -1;
    }
    if (n == 3 || a[n] != ':' || !a[n + 1]) return -1;
    return snprintf(key, cap, "%s", a + 2) < (int)cap ? 0 : -1;
}

static int vt_connect(sqlite3 *db, void *aux, int argc, const char *const *argv, sqlite3_vtab **out,
                      char **errmsg) {
    (void)aux;
    if (argc != 4 && argc != 5 && argc != 6) {
        *errmsg = sqlite3_mprintf(
            "sluice_lake: usage: sluice_lake('ROOT' [, 'segment', length | , 'kv:KEY'])");
        return SQLITE_ERROR;
    }
    lake_vtab *t = sqlite3_malloc(sizeof *t);
    if (!t) return SQLITE_NOMEM;
    memset(t, 0, sizeof *t);
    sl_lake_vtab_dequote(argv[3], t->root, sizeof t->root);
    if (!t->root[0]) {
        sqlite3_free(t);
        *errmsg = sqlite3_mprintf("sluice_lake: empty root path");
        return SQLITE_ERROR;
    }
    t->db = db;
    if (argc == 5) {
        if (sl_lake_vtab_kv_arg(argv[4], t->kv_key, sizeof t->kv_key)) {
            sqlite3_free(t);
            *errmsg = sqlite3_mprintf(
                "sluice_lake: the 2nd argument must be 'kv:KEY' or 'kv@SCHEMA:KEY'");
            return SQLITE_ERROR;
        }
        t->has_pos = 1;
    }
    if (argc == 6) {
        char num[64];
        t->has_pos = 1;
        sl_lake_vtab_dequote(argv[4], t->pos_seg, sizeof t->pos_seg);
        sl_lake_vtab_dequote(argv[5], num, sizeof num);
        char *end;
        errno = 0;
        long long v = strtoll(num, &end, 10);
        if (errno || end == num || *end || v < 0) {
            sqlite3_free(t);
            *errmsg = sqlite3_mprintf("sluice_lake: bad committed length '%s'", argv[5]);
            return SQLITE_ERROR;
        }
        t->pos_len = v;
        if (t->pos_seg[0] && sl_lake_segment_parse(t->pos_seg, &t->pos_seq, NULL) != 0) {
            *errmsg = sqlite3_mprintf("sluice_lake: bad committed segment '%s'", t->pos_seg);
            sqlite3_free(t);
            return SQLITE_ERROR;
        }
    }
    int rc = sqlite3_declare_vtab(db, "CREATE TABLE x(line TEXT, _segment TEXT, _line_no INTEGER)");
    if (rc != SQLITE_OK) {
        sqlite3_free(t);
        return rc;
    }
    *out = &t->base;
    return SQLITE_OK;
}

static int vt_disconnect(sqlite3_vtab *vt) {
    sqlite3_free(vt);
    return SQLITE_OK;
}

static int vt_best_index(sqlite3_vtab *vt, sqlite3_index_info *info) {
    (void)vt;
    info->estimatedCost = 1e9; /* a full scan; nothing is pushed down */
    info->estimatedRows = 1000000;
    return SQLITE_OK;
}

/* ------------------------------------------------------------------ cursor */

static int vt_open(sqlite3_vtab *vt, sqlite3_vtab_cursor **out) {
    (void)vt;
    lake_cursor *c = sqlite3_malloc(sizeof *c);
    if (!c) return SQLITE_NOMEM;
    memset(c, 0, sizeof *c);
    c->fd = -1;
    c->at_eof = 1;
    c->dctx = ZSTD_createDCtx();
    c->icap = ZSTD_DStreamInSize();
    c->dcap = ZSTD_DStreamOutSize();
    c->ibuf = malloc(c->icap);
    c->dbuf = malloc(c->dcap);
    if (!c->dctx || !c->ibuf || !c->dbuf) {
        ZSTD_freeDCtx(c->dctx);
        free(c->ibuf);
        free(c->dbuf);
        sqlite3_free(c);
        return SQLITE_NOMEM;
    }
    *out = &c->base;
    return SQLITE_OK;
}

static void seg_close(lake_cursor *c) {
    if (c->fd >= 0) close(c->fd);
    c->fd = -1;
    c->seg = NULL;
}

static int vt_close(sqlite3_vtab_cursor *cur) {
    lake_cursor *c = (lake_cursor *)cur;
    seg_close(c);
    free(c->segs);
    ZSTD_freeDCtx(c->dctx);
    free(c->ibuf);
    free(c->dbuf);
    sqlite3_free(c);
    return SQLITE_OK;
}

/* Opens the next listed segment. *skipped when it vanished meanwhile. */
static int seg_open(lake_cursor *c, const sl_lake_segment *s, int *skipped) {
    lake_vtab *t = (lake_vtab *)c->base.pVtab;
    char abs[PATH_MAX + 256];
    snprintf(abs, sizeof abs, "%s/%s", s->cold ? t->cold_root : t->root, s->path);
    int committed_seg = t->has_pos && strcmp(s->path, t->pos_seg) == 0;
    *skipped = 0;
    c->fd = open(abs, O_RDONLY | O_CLOEXEC);
    if (c->fd < 0 && errno == ENOENT && !s->cold && t->cold_root[0]) {
        snprintf(abs, sizeof abs, "%s/%s", t->cold_root, s->path); /* moved since the listing */
        c->fd = open(abs, O_RDONLY | O_CLOEXEC);
    }
    if (c->fd < 0) {
        if (errno == ENOENT && !(committed_seg && t->pos_len > 0)) {
            *skipped = 1;
            return SQLITE_OK;
        }
        return vt_error(c, "sluice_lake: segment %s: cannot open %s: %s", s->path, abs,
                        strerror(errno));
    }
    c->seg = s;
    c->limit = committed_seg ? t->pos_len : -1;
    c->consumed = 0;
    c->eof_in = 0;
    c->last_ret = 0;
    c->in.src = c->ibuf;
    c->in.size = c->in.pos = 0;
    c->dstart = c->dend = c->dscan = 0;
    c->line_no = 0;
    ZSTD_DCtx_reset(c->dctx, ZSTD_reset_session_only);
    return SQLITE_OK;
}

/* Decompresses more of the segment into dbuf[dend..]. *produced = 0 means
 * the segment ended cleanly on a frame boundary. */
static int seg_fill(lake_cursor *c, size_t *produced) {
    *produced = 0;
    for (;;) {
        if (c->in.pos == c->in.size && !c->eof_in) {
            size_t want = c->icap;
            if (c->limit >= 0 && (int64_t)want > c->limit - c->consumed)
                want = (size_t)(c->limit - c->consumed);
            ssize_t r = 0;
            if (want > 0) {
                do
                    r = read(c->fd, c->ibuf, want);
                while (r < 0 && errno == EINTR);
            }
            if (r < 0)
                return vt_error(c, "sluice_lake: segment %s: read error: %s", c->seg->path,
                                strerror(errno));
            if (r == 0) {
                c->eof_in = 1;
                if (c->limit >= 0 && c->consumed < c->limit)
                    return vt_error(c,
                                    "sluice_lake: segment %s: file has %lld bytes, less than "
                                    "its committed length %lld",
                                    c->seg->path, (long long)c->consumed, (long long)c->limit);
            } else {
                c->in.size = (size_t)r;
                c->in.pos = 0;
                c->consumed += r;
            }
        }
        int no_input = c->in.pos == c->in.size && c->eof_in;
        if (no_input && c->last_ret == 0) return SQLITE_OK;
        ZSTD_outBuffer out = {c->dbuf + c->dend, c->dcap - c->dend, 0};
        size_t r = ZSTD_decompressStream(c->dctx, &out, &c->in);
        if (ZSTD_isError(r))
            return vt_error(
                c, "sluice_lake: segment %s: corrupt zstd data near byte %lld: %s", c->seg->path,
                (long long)(c->consumed - (int64_t)(c->in.size - c->in.pos)), ZSTD_getErrorName(r));
        c->last_ret = r;
        c->dend += out.pos;
        if (out.pos) {
            *produced = out.pos;
            return SQLITE_OK;
        }
        if (no_input) {
            if (r != 0)
                return vt_error(c, "sluice_lake: segment %s: truncated zstd frame at byte %lld",
                                c->seg->path, (long long)c->consumed);
            return SQLITE_OK;
        }
    }
}

/* Advances to the next line of the scan (or at_eof). */
static int cursor_advance(lake_cursor *c) {
    lake_vtab *t = (lake_vtab *)c->base.pVtab;
    (void)t;
    for (;;) {
        if (!c->seg) {
            if (c->next_seg >= c->nseg) {
                c->at_eof = 1;
                return SQLITE_OK;
            }
            int skipped;
            int rc = seg_open(c, &c->segs[c->next_seg++], &skipped);
            if (rc != SQLITE_OK) return rc;
            if (skipped) continue;
        }
        char *nl = memchr(c->dbuf + c->dscan, '\n', c->dend - c->dscan);
        if (nl) {
            c->line = c->dbuf + c->dstart;
            c->line_len = (size_t)(nl - c->line);
            c->dstart = c->dscan = (size_t)(nl - c->dbuf) + 1;
            c->line_no++;
            c->rowid++;
            return SQLITE_OK;
        }
        c->dscan = c->dend;
        if (c->dstart > 0) { /* keep only the unfinished line */
            memmove(c->dbuf, c->dbuf + c->dstart, c->dend - c->dstart);
            c->dend -= c->dstart;
            c->dscan -= c->dstart;
            c->dstart = 0;
        }
        if (c->dend == c->dcap) {
            if (c->dcap >= MAX_LINE_WINDOW)
                return vt_error(c, "sluice_lake: segment %s: line %lld is longer than %zu bytes",
                                c->seg->path, (long long)c->line_no + 1, MAX_LINE_WINDOW);
            char *nb = realloc(c->dbuf, c->dcap * 2);
            if (!nb) return SQLITE_NOMEM;
            c->dbuf = nb;
            c->dcap *= 2;
        }
        size_t produced;
        int rc = seg_fill(c, &produced);
        if (rc != SQLITE_OK) return rc;
        if (produced == 0) {
            if (c->dend > c->dstart) { /* last line without '\n' (foreign writer) */
                c->line = c->dbuf + c->dstart;
                c->line_len = c->dend - c->dstart;
                c->dstart = c->dscan = c->dend;
                c->line_no++;
                c->rowid++;
                return SQLITE_OK;
            }
            seg_close(c);
        }
    }
}

static int cmp_path(const void *a, const void *b) {
    return strcmp(((const sl_lake_segment *)a)->path, ((const sl_lake_segment *)b)->path);
}

static int cmp_seq(const void *a, const void *b) {
    const sl_lake_segment *x = a, *y = b;
    if (x->seq != y->seq) return x->seq < y->seq ? -1 : 1;
    return strcmp(x->path, y->path);
}

/* Adds to the hot list (*all, sorted by sequence) the cold segments no hot
 * one has the same path as, keeping the result sorted by sequence. */
static int merge_cold(sl_lake_segment **all, size_t *n, sl_lake_segment *cold, size_t nc) {
    if (!nc) return SQLITE_OK;
    sl_lake_segment *v = realloc(*all, (*n + nc) * sizeof *v);
    if (!v) return SQLITE_NOMEM;
    *all = v;
    qsort(v, *n, sizeof *v, cmp_path);
    size_t k = *n;
    for (size_t i = 0; i < nc; i++) {
        if (*n && bsearch(&cold[i], v, *n, sizeof *v, cmp_path)) continue;
        v[k] = cold[i];
        v[k++].cold = 1;
    }
    *n = k;
    qsort(v, k, sizeof *v, cmp_seq);
    return SQLITE_OK;
}

int sl_lake_scan_segments(sqlite3 *db, const char *root, const char *kv_key, const char *pos_seg,
                          int64_t pos_len, sl_lake_scan *out, char **errmsg) {
    memset(out, 0, sizeof *out);
    *errmsg = NULL;
    int has_pos = kv_key || pos_seg;
    int64_t pos_seq = 0;
    if (pos_seg) {
        snprintf(out->pos_seg, sizeof out->pos_seg, "%s", pos_seg);
        out->pos_len = pos_len;
    }
    if (kv_key) { /* committed position as of now (see the top of the file) */
        /* "@SCHEMA:KEY": the _sluice_kv of an attached database (a scale-out
         * instance's own committed position); "KEY": the connection's main */
        char *sql;
        const char *colon = kv_key[0] == '@' ? strchr(kv_key, ':') : NULL;
        if (colon) {
            char schema[64];
            snprintf(schema, sizeof schema, "%.*s", (int)(colon - kv_key - 1), kv_key + 1);
            sql = sqlite3_mprintf("SELECT value FROM \"%w\"._sluice_kv WHERE key = ?", schema);
            kv_key = colon + 1;
        } else {
            sql = sqlite3_mprintf("SELECT value FROM _sluice_kv WHERE key = ?");
        }
        sqlite3_stmt *st;
        if (!sql) return SQLITE_NOMEM;
        int prc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
        sqlite3_free(sql);
        if (prc == SQLITE_OK) {
            sqlite3_bind_text(st, 1, kv_key, -1, SQLITE_STATIC);
            if (sqlite3_step(st) == SQLITE_ROW) {
                const char *v = (const char *)sqlite3_column_text(st, 0);
                const char *tab = v ? strchr(v, '\t') : NULL;
                if (tab) {
                    out->pos_len = strtoll(v, NULL, 10);
                    snprintf(out->pos_seg, sizeof out->pos_seg, "%s", tab + 1);
                }
            }
            sqlite3_finalize(st);
        }
    }
    if (out->pos_seg[0] && sl_lake_segment_parse(out->pos_seg, &pos_seq, NULL) != 0) {
        *errmsg = sqlite3_mprintf("bad committed segment '%s'", out->pos_seg);
        return SQLITE_ERROR;
    }
    sl_error err = {0, {0}};
    sl_lake_segment *all;
    size_t n;
    if (sl_lake_segments_list(root, &all, &n, &err) != 0) {
        *errmsg = sqlite3_mprintf("%s", err.msg);
        return SQLITE_ERROR;
    }
    sl_lake_cold_root(root, out->cold_root, sizeof out->cold_root);
    if (out->cold_root[0]) { /* after the hot listing: see the top of the file */
        sl_lake_segment *cold;
        size_t nc;
        if (sl_lake_segments_list(out->cold_root, &cold, &nc, &err) != 0) {
            free(all);
            *errmsg = sqlite3_mprintf("%s", err.msg);
            return SQLITE_ERROR;
        }
        int rc = merge_cold(&all, &n, cold, nc);
        free(cold);
        if (rc != SQLITE_OK) {
            free(all);
            return rc;
        }
    }
    if (has_pos) {
        size_t k = 0;
        int found = 0;
        for (size_t i = 0; i < n; i++) {
            if (!out->pos_seg[0]) break; /* nothing committed */
            int is_pos = strcmp(all[i].path, out->pos_seg) == 0;
            if (all[i].seq < pos_seq || is_pos) all[k++] = all[i];
            found |= is_pos;
        }
        n = k;
        if (out->pos_seg[0] && !found && out->pos_len > 0) {
            free(all);
            *errmsg =
                sqlite3_mprintf("committed segment %s is missing under %s", out->pos_seg, root);
            return SQLITE_ERROR;
        }
    }
    out->segs = all;
    out->n = n;
    return SQLITE_OK;
}

static int vt_filter(sqlite3_vtab_cursor *cur, int idx, const char *idxstr, int argc,
                     sqlite3_value **argv) {
    (void)idx;
    (void)idxstr;
    (void)argc;
    (void)argv;
    lake_cursor *c = (lake_cursor *)cur;
    lake_vtab *t = (lake_vtab *)cur->pVtab;
    seg_close(c);
    free(c->segs);
    c->segs = NULL;
    c->nseg = c->next_seg = 0;
    c->rowid = 0;
    c->at_eof = 0;
    char *msg = NULL;
    sl_lake_scan scan;
    int rc = sl_lake_scan_segments(t->db, t->root, t->kv_key[0] ? t->kv_key : NULL,
                                   t->has_pos && !t->kv_key[0] ? t->pos_seg : NULL, t->pos_len,
                                   &scan, &msg);
    if (rc != SQLITE_OK) {
        if (!msg) return rc;
        int e = vt_error(c, "sluice_lake: %s", msg);
        sqlite3_free(msg);
        return e;
    }
    snprintf(t->pos_seg, sizeof t->pos_seg, "%s", scan.pos_seg);
    t->pos_len = scan.pos_len;
    snprintf(t->cold_root, sizeof t->cold_root, "%s", scan.cold_root);
    sl_lake_segment *all = scan.segs;
    size_t n = scan.n;
    c->segs = all;
    c->nseg = n;
    return cursor_advance(c);
}

static int vt_next(sqlite3_vtab_cursor *cur) { return cursor_advance((lake_cursor *)cur); }

static int vt_eof(sqlite3_vtab_cursor *cur) { return ((lake_cursor *)cur)->at_eof; }

static int vt_column(sqlite3_vtab_cursor *cur, sqlite3_context *ctx, int col) {
    lake_cursor *c = (lake_cursor *)cur;
    switch (col) {
    case 0:
        sqlite3_result_text64(ctx, c->line, c->line_len, SQLITE_TRANSIENT, SQLITE_UTF8);
        break;
    case 1:
        sqlite3_result_text(ctx, c->seg ? c->seg->path : "", -1, SQLITE_TRANSIENT);
        break;
    case 2:
        sqlite3_result_int64(ctx, c->line_no);
        break;
    default:
        sqlite3_result_null(ctx);
    }
    return SQLITE_OK;
}

static int vt_rowid(sqlite3_vtab_cursor *cur, sqlite3_int64 *rowid) {
    *rowid = ((lake_cursor *)cur)->rowid;
    return SQLITE_OK;
}

static const sqlite3_module lake_module = {
    .iVersion = 0,
    .xCreate = vt_connect,
    .xConnect = vt_connect,
    .xBestIndex = vt_best_index,
    .xDisconnect = vt_disconnect,
    .xDestroy = vt_disconnect,
    .xOpen = vt_open,
    .xClose = vt_close,
    .xFilter = vt_filter,
    .xNext = vt_next,
    .xEof = vt_eof,
    .xColumn = vt_column,
    .xRowid = vt_rowid,
};

int sl_lake_vtab_register(sqlite3 *db) {
    return sqlite3_create_module_v2(db, "sluice_lake", &lake_module, NULL, NULL);
}
