/*
 * tap.c - `sluice tap`: a table's rows as they are committed, from the
 * store or from a running instance's tap stream.
 *
 * The store path follows the table by rowid. Rows of a commit become
 * visible together, and a row's rowid is above every row committed before
 * it, so reading max(rowid) first and then every row in (last, max] - in
 * pages, in rowid order - prints each committed row once, in commit order,
 * and never a row of an open transaction. The filter goes into the page's
 * WHERE, compiled by SQLite; the next poll starts at max, so rows it
 * rejected are not read again. Window (upsert) tables keep a row's rowid
 * when it is updated: tap shows them as they are first written.
 *
 * The HTTP path asks the server for the same thing (sse.c's tap mode:
 * ?from=&where=) and prints the rows of each `rows` event.
 *
 * Output: JSON, one object per row; or a table whose column widths are
 * set by the first rows printed (the stream has no end to size against),
 * longer cells cut with "…".
 */
#include <curl/curl.h>
#include <limits.h>
#include <math.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "core/batch.h"
#include "core/mem.h"
#include "core/tabfmt.h"
#include "store/store.h"

#define TAP_PAGE 1000
#define TAP_MAX_WIDTH 40

/* ---- output ---- */

typedef struct rowfmt {
    int format;
    FILE *out;
    int ncols;
    char **names;
    int *width;
    bool header; /* printed (table format) */
    /* table format: rows held until the first flush sizes the columns */
    char **held;
    int *held_kinds;
    int nheld, capheld;
} rowfmt;

/* Characters (UTF-8 code points) in s. */
static int u8len(const char *s) {
    int n = 0;
    for (; *s; s++)
        n += ((unsigned char)*s & 0xC0) != 0x80;
    return n;
}

static void fmt_reset(rowfmt *f) {
    for (int i = 0; i < f->ncols; i++)
        free(f->names[i]);
    for (int i = 0; i < f->nheld * f->ncols; i++)
        free(f->held[i]);
    free(f->names);
    free(f->width);
    f->names = NULL;
    f->width = NULL;
    f->nheld = 0;
    f->ncols = 0;
    f->header = false;
}

static void fmt_free(rowfmt *f) {
    fmt_reset(f);
    free(f->held);
    free(f->held_kinds);
}

/* Sets the columns; a change (schema evolution) starts a new header. */
static void fmt_columns(rowfmt *f, int n, const char *const *names);

/* One cell padded or cut to w characters; control characters as spaces. */
static void put_cell(FILE *out, const char *s, int kind, int w, bool last) {
    if (!s) s = "NULL";
    int len = u8len(s);
    bool cut = len > w;
    int shown = cut ? w - 1 : len;
    if (!cut && kind == SL_JV_NUM)
        for (int i = len; i < w; i++)
            fputc(' ', out);
    int k = 0;
    for (const char *p = s; *p; p++) {
        bool lead = ((unsigned char)*p & 0xC0) != 0x80;
        if (lead && k++ == shown) break;
        fputc((unsigned char)*p < 0x20 ? ' ' : *p, out);
    }
    if (cut) fputs("…", out);
    if (!cut && kind != SL_JV_NUM && !last)
        for (int i = len; i < w; i++)
            fputc(' ', out);
}

static void print_table_row(rowfmt *f, char *const *cells, const int *kinds) {
    for (int c = 0; c < f->ncols; c++) {
        if (c) fputs("  ", f->out);
        put_cell(f->out, cells[c], kinds ? kinds[c] : SL_JV_STR, f->width[c], c == f->ncols - 1);
    }
    fputc('\n', f->out);
}

/* Table format: sizes the columns from the held rows, prints header and rows. */
static void fmt_flush(rowfmt *f) {
    if (f->format == SL_TAP_TABLE && !f->header && f->nheld) {
        for (int c = 0; c < f->ncols; c++) {
            int w = u8len(f->names[c]);
            for (int r = 0; r < f->nheld; r++) {
                const char *s = f->held[r * f->ncols + c];
                int l = s ? u8len(s) : 4;
                if (l > w) w = l;
            }
            f->width[c] = w < 4 ? 4 : w > TAP_MAX_WIDTH ? TAP_MAX_WIDTH : w;
        }
        print_table_row(f, f->names, NULL);
        for (int c = 0; c < f->ncols; c++) {
            if (c) fputs("  ", f->out);
            for (int i = 0; i < f->width[c]; i++)
                fputc('-', f->out);
        }
        fputc('\n', f->out);
        f->header = true;
        for (int r = 0; r < f->nheld; r++)
            print_table_row(f, f->held + r * f->ncols, f->held_kinds + r * f->ncols);
        for (int i = 0; i < f->nheld * f->ncols; i++)
            free(f->held[i]);
        f->nheld = 0;
    }
    fflush(f->out);
}

static void fmt_columns(rowfmt *f, int n, const char *const *names) {
    bool same = n == f->ncols;
    for (int i = 0; same && i < n; i++)
        same = !strcmp(names[i], f->names[i]);
    if (same) return;
    fmt_flush(f);
    fmt_reset(f);
    f->ncols = n;
    f->names = sl_xcalloc((size_t)n + 1, sizeof *f->names);
    f->width = sl_xcalloc((size_t)n + 1, sizeof *f->width);
    for (int i = 0; i < n; i++)
        f->names[i] = sl_xstrdup(names[i]);
}

static void fmt_row(rowfmt *f, const char *const *cells, const int *kinds) {
    if (f->format == SL_TAP_JSON) {
        fputc('{', f->out);
        for (int c = 0; c < f->ncols; c++) {
            if (c) fputc(',', f->out);
            sl_fput_json_string(f->out, f->names[c]);
            fputc(':', f->out);
            if (!cells[c] || kinds[c] == SL_JV_NULL)
                fputs("null", f->out);
            else if (kinds[c] == SL_JV_STR)
                sl_fput_json_string(f->out, cells[c]);
            else
                fputs(cells[c], f->out);
        }
        fputs("}\n", f->out);
        return;
    }
    if (f->header) {
        print_table_row(f, (char *const *)cells, kinds);
        return;
    }
    if (f->nheld == f->capheld) {
        f->capheld = f->capheld ? f->capheld * 2 : 64;
        size_t n = (size_t)f->capheld * (size_t)(f->ncols ? f->ncols : 1);
        f->held = sl_xrealloc(f->held, n * sizeof *f->held);
        f->held_kinds = sl_xrealloc(f->held_kinds, n * sizeof *f->held_kinds);
    }
    for (int c = 0; c < f->ncols; c++) {
        f->held[f->nheld * f->ncols + c] = cells[c] ? sl_xstrdup(cells[c]) : NULL;
        f->held_kinds[f->nheld * f->ncols + c] = kinds[c];
    }
    f->nheld++;
}

/* ---- from the store ---- */

static void sleep_ms(int64_t ms, volatile sig_atomic_t *stop) {
    /* in slices, so Ctrl-C is answered at once */
    for (int64_t left = ms; left > 0 && !(stop && *stop); left -= 50) {
        struct timespec ts = {0, (left < 50 ? left : 50) * 1000000L};
        nanosleep(&ts, NULL);
    }
}

static int table_type(sqlite3 *db, const char *name, char *type, size_t cap) {
    sqlite3_stmt *st;
    type[0] = 0;
    if (sqlite3_prepare_v2(db, "SELECT type FROM sqlite_schema WHERE name = ?1", -1, &st, NULL))
        return SQLITE_ERROR;
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) snprintf(type, cap, "%s", (const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? SQLITE_OK : rc;
}

static char *quote_ident(const char *s) { return sqlite3_mprintf("\"%w\"", s); }

/* A table name the pipeline may use: its own tables are checked by the
 * caller; these are the store's. */
static int no_table(const sl_tap_opts *o, sqlite3 *db, sl_error *err) {
    char list[400] = "";
    size_t n = 0;
    sqlite3_stmt *st;
    if (db && !sqlite3_prepare_v2(db,
                                  "SELECT name FROM sqlite_schema WHERE type = 'table' AND name "
                                  "NOT LIKE 'sqlite_%' AND name NOT LIKE '\\_%' ESCAPE '\\' "
                                  "ORDER BY name",
                                  -1, &st, NULL)) {
        while (sqlite3_step(st) == SQLITE_ROW && n < sizeof list - 80)
            n += (size_t)snprintf(list + n, sizeof list - n, "%s%s", n ? ", " : "",
                                  (const char *)sqlite3_column_text(st, 0));
        sqlite3_finalize(st);
    }
    return sl_error_set(err, SL_EINVAL, "no table '%s' in pipeline '%s'%s%s", o->table,
                        sl_pipeline_name(o->p), n ? " (tables: " : "", n ? list : "");
}

static int tap_store(const sl_tap_opts *o, rowfmt *f, sl_error *err) {
    char dir[PATH_MAX], path[PATH_MAX + 64], ro[PATH_MAX + 128];
    if (sl_pipeline_store_url(o->p))
        return sl_error_set(err, SL_EINVAL,
                            "pipeline '%s' keeps its tables in PostgreSQL: tap a running "
                            "instance with --url http://HOST:PORT",
                            sl_pipeline_name(o->p));
    if (sl_pipeline_data_dir(o->p, o->data_dir, dir, sizeof dir, false, err)) return err->code;
    snprintf(path, sizeof path, "%s/sluice.db", dir);
    if (access(path, R_OK) != 0) {
        return sl_error_set(err, SL_ENOTFOUND,
                            "no data for pipeline '%s' in %s (run it first, or pass --data DIR; "
                            "scale-out instances: tap one with --url)",
                            sl_pipeline_name(o->p), dir);
    }
    sqlite3 *db = NULL;
    int rc = 0;
    if (sqlite3_open_v2(sl_store_ro_name(path, ro, sizeof ro), &db,
                        SQLITE_OPEN_READONLY | SQLITE_OPEN_URI, NULL) != SQLITE_OK) {
        rc = sl_error_set(err, SL_EIO, "%s: %s", path, db ? sqlite3_errmsg(db) : "out of memory");
        sqlite3_close(db);
        return rc;
    }
    sqlite3_busy_timeout(db, 5000);
    /* a pipeline table not created yet (the run is starting): wait for it */
    bool known = sl_pipeline_table_store(o->p, o->table) == SL_TABLE_SQLITE;
    bool created_later = false; /* then every row of it is new */
    char type[16];
    for (;;) {
        if (table_type(db, o->table, type, sizeof type)) {
            rc = sl_error_set(err, SL_EIO, "%s: %s", path, sqlite3_errmsg(db));
            goto out;
        }
        if (type[0] || !known || (o->stop && *o->stop)) break;
        created_later = true;
        sleep_ms(o->poll_ms, o->stop);
    }
    if (!type[0]) {
        if (!(o->stop && *o->stop)) rc = no_table(o, db, err);
        goto out;
    }
    if (strcmp(type, "table")) {
        rc = sl_error_set(err, SL_EINVAL,
                          "'%s' is a %s, not a table: it has no rows of its own "
                          "to follow",
                          o->table, type);
        goto out;
    }
    char *q = quote_ident(o->table);
    char *page = sqlite3_mprintf("SELECT rowid, * FROM %s WHERE rowid > ?1 AND rowid <= ?2 AND "
                                 "(%s) ORDER BY rowid LIMIT %d",
                                 q, o->where && *o->where ? o->where : "1", TAP_PAGE);
    char *max = sqlite3_mprintf("SELECT coalesce(max(rowid), 0) FROM %s", q);
    sqlite3_free(q);
    sqlite3_stmt *pst = NULL, *mst = NULL;
    const char *tail = NULL;
    if (sqlite3_prepare_v2(db, page, -1, &pst, &tail) != SQLITE_OK) {
        rc = sl_error_set(err, SL_EINVAL, "--where: %s", sqlite3_errmsg(db));
        goto stmts;
    }
    while (tail && (*tail == ' ' || *tail == '\t' || *tail == '\n'))
        tail++;
    if ((tail && *tail) || !sqlite3_stmt_readonly(pst)) {
        rc = sl_error_set(err, SL_EINVAL, "--where: one read-only SQL expression is allowed");
        goto stmts;
    }
    if (sqlite3_prepare_v2(db, max, -1, &mst, NULL) != SQLITE_OK) {
        rc = sl_error_set(err, SL_EIO, "%s: %s", path, sqlite3_errmsg(db));
        goto stmts;
    }
    int64_t last = 0, printed = 0;
    if (!o->from_start && !created_later) {
        if (sqlite3_step(mst) == SQLITE_ROW) last = sqlite3_column_int64(mst, 0);
        sqlite3_reset(mst);
    }
    const char *cells[SL_MAX_COLUMNS + 8];
    int kinds[SL_MAX_COLUMNS + 8];
    while (!(o->stop && *o->stop) && !(o->limit && printed >= o->limit)) {
        int64_t hi = -1;
        int s = sqlite3_step(mst);
        if (s == SQLITE_ROW) hi = sqlite3_column_int64(mst, 0);
        sqlite3_reset(mst);
        if (s != SQLITE_ROW && s != SQLITE_BUSY) {
            rc = sl_error_set(err, SL_EIO, "%s: %s", path, sqlite3_errmsg(db));
            break;
        }
        int64_t from = last;
        while (hi > from && !(o->limit && printed >= o->limit)) {
            sqlite3_bind_int64(pst, 1, from);
            sqlite3_bind_int64(pst, 2, hi);
            int n = 0;
            while (!(o->limit && printed >= o->limit) && (s = sqlite3_step(pst)) == SQLITE_ROW) {
                int nc = sqlite3_column_count(pst) - 1;
                if (nc > SL_MAX_COLUMNS + 8) nc = SL_MAX_COLUMNS + 8;
                for (int c = 0; c < nc; c++)
                    cells[c] = sqlite3_column_name(pst, c + 1);
                fmt_columns(f, nc, cells);
                for (int c = 0; c < nc; c++) {
                    int t = sqlite3_column_type(pst, c + 1);
                    kinds[c] = t == SQLITE_NULL                           ? SL_JV_NULL
                               : t == SQLITE_INTEGER || t == SQLITE_FLOAT ? SL_JV_NUM
                                                                          : SL_JV_STR;
                    cells[c] = (const char *)sqlite3_column_text(pst, c + 1);
                    /* inf and nan are not JSON numbers */
                    if (t == SQLITE_FLOAT && !isfinite(sqlite3_column_double(pst, c + 1)))
                        kinds[c] = SL_JV_STR;
                }
                fmt_row(f, cells, kinds);
                from = sqlite3_column_int64(pst, 0);
                n++;
                printed++;
            }
            sqlite3_reset(pst);
            if (s != SQLITE_ROW && s != SQLITE_DONE) {
                rc = sl_error_set(err, SL_EIO, "reading %s: %s", o->table, sqlite3_errmsg(db));
                goto stmts;
            }
            if (n < TAP_PAGE && !(o->limit && printed >= o->limit)) from = hi;
        }
        last = from;
        fmt_flush(f);
        if (o->limit && printed >= o->limit) break;
        sleep_ms(o->poll_ms, o->stop);
    }
stmts:
    fmt_flush(f);
    sqlite3_finalize(pst);
    sqlite3_finalize(mst);
    sqlite3_free(page);
    sqlite3_free(max);
out:
    sqlite3_close(db);
    return rc;
}

/* ---- from a running instance ---- */

typedef struct http_tap {
    const sl_tap_opts *o;
    rowfmt *f;
    CURL *curl;
    sl_sse *sse;
    long status;
    char *body; /* a refusal's body */
    size_t nbody;
    int64_t printed;
    bool limit_hit;
    char stream_error[300];
} http_tap;

static int on_event(void *ud, const char *event, const char *data, size_t len) {
    http_tap *h = ud;
    if (!strcmp(event, "error")) {
        snprintf(h->stream_error, sizeof h->stream_error, "%.*s", (int)(len < 280 ? len : 280),
                 data);
        return 1;
    }
    if (strcmp(event, "rows")) return 0;
    sl_rows_event ev;
    if (sl_rows_event_parse(data, len, &ev)) {
        snprintf(h->stream_error, sizeof h->stream_error, "malformed rows event from the server");
        return 1;
    }
    fmt_columns(h->f, ev.ncols, (const char *const *)ev.cols);
    for (int r = 0; r < ev.nrows && !h->limit_hit; r++) {
        fmt_row(h->f, (const char *const *)ev.cells + r * ev.ncols, ev.kinds + r * ev.ncols);
        if (h->o->limit && ++h->printed >= h->o->limit) h->limit_hit = true;
    }
    sl_rows_event_fini(&ev);
    fmt_flush(h->f);
    return h->limit_hit ? 1 : 0;
}

static size_t on_data(char *p, size_t size, size_t n, void *ud) {
    http_tap *h = ud;
    size_t len = size * n;
    if (!h->status) curl_easy_getinfo(h->curl, CURLINFO_RESPONSE_CODE, &h->status);
    if (h->status != 200) {
        /* keep the start of a refusal's body for the message */
        if (h->nbody < 4096) {
            size_t k = len < 4096 - h->nbody ? len : 4096 - h->nbody;
            h->body = sl_xrealloc(h->body, h->nbody + k + 1);
            memcpy(h->body + h->nbody, p, k);
            h->nbody += k;
            h->body[h->nbody] = 0;
        }
        return len;
    }
    return sl_sse_feed(h->sse, p, len) ? 0 : len; /* 0 ends the transfer */
}

static int on_progress(void *ud, curl_off_t a, curl_off_t b, curl_off_t c, curl_off_t d) {
    (void)a, (void)b, (void)c, (void)d;
    http_tap *h = ud;
    return h->o->stop && *h->o->stop;
}

/* The "error" member of a JSON refusal, or the body itself. */
static const char *refusal(http_tap *h) {
    if (!h->body) return "no details";
    char *e = strstr(h->body, "\"error\":\"");
    if (!e) return h->body;
    e += 9;
    char *q = e;
    while (*q && !(*q == '"' && q[-1] != '\\'))
        q++;
    *q = 0;
    return e;
}

/* URL/api/tables/TABLE/stream?from=FROM[&where=EXPR], escaped. */
static char *stream_url(CURL *c, const sl_tap_opts *o, const char *from) {
    char *tab = curl_easy_escape(c, o->table, 0);
    char *wh = o->where ? curl_easy_escape(c, o->where, 0) : NULL;
    size_t cap = strlen(o->url) + strlen(tab) + (wh ? strlen(wh) : 0) + 64;
    char *url = sl_xmalloc(cap);
    size_t ul = strlen(o->url);
    while (ul && o->url[ul - 1] == '/')
        ul--;
    snprintf(url, cap, "%.*s/api/tables/%s/stream?from=%s%s%s", (int)ul, o->url, tab, from,
             wh ? "&where=" : "", wh ? wh : "");
    curl_free(tab);
    curl_free(wh);
    return url;
}

static int tap_http(const sl_tap_opts *o, rowfmt *f, sl_error *err) {
    http_tap h = {.o = o, .f = f};
    int rc = 0;
    h.curl = curl_easy_init();
    if (!h.curl) return sl_error_set(err, SL_ENOMEM, "curl: cannot start");
    char *url = stream_url(h.curl, o, o->from_start ? "start" : "end");
    struct curl_slist *hdr = NULL;
    if (o->token) {
        size_t tl = strlen(o->token) + 32;
        char *a = sl_xmalloc(tl);
        snprintf(a, tl, "Authorization: Bearer %s", o->token);
        hdr = curl_slist_append(hdr, a);
        explicit_bzero(a, tl);
        free(a);
    }
    hdr = curl_slist_append(hdr, "Accept: text/event-stream");
    h.sse = sl_sse_new(on_event, &h);
    curl_easy_setopt(h.curl, CURLOPT_URL, url);
    curl_easy_setopt(h.curl, CURLOPT_HTTPHEADER, hdr);
    curl_easy_setopt(h.curl, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(h.curl, CURLOPT_WRITEDATA, &h);
    curl_easy_setopt(h.curl, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(h.curl, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(h.curl, CURLOPT_XFERINFODATA, &h);
    curl_easy_setopt(h.curl, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
    curl_easy_setopt(h.curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h.curl, CURLOPT_PROTOCOLS_STR, "http,https");
    /* a pipeline table is created with its first rows: until then the
     * server answers 404; wait for it, and then every row of it is new */
    bool known = sl_pipeline_table_store(o->p, o->table) == SL_TABLE_SQLITE;
    CURLcode cc;
    for (;;) {
        cc = curl_easy_perform(h.curl);
        curl_easy_getinfo(h.curl, CURLINFO_RESPONSE_CODE, &h.status);
        if (cc != CURLE_OK || h.status != 404 || !known || (o->stop && *o->stop)) break;
        h.status = 0;
        h.nbody = 0;
        for (int i = 0; i < 10 && !(o->stop && *o->stop); i++) {
            struct timespec ts = {0, 50000000L};
            nanosleep(&ts, NULL);
        }
        free(url);
        url = stream_url(h.curl, o, "start");
        curl_easy_setopt(h.curl, CURLOPT_URL, url);
    }
    fmt_flush(f);
    if (h.limit_hit || (o->stop && *o->stop)) {
        rc = 0;
    } else if (h.status == 401 || h.status == 403) {
        rc = sl_error_set(err, SL_EINVAL, "%s refused the tap (HTTP %ld): %s%s", o->url, h.status,
                          refusal(&h),
                          h.status == 401 ? " (set SLUICE_TOKEN or pass --token-file FILE)" : "");
    } else if (h.status == 404 || h.status == 400) {
        rc = sl_error_set(err, SL_EINVAL, "%s: table '%s': %s (HTTP %ld)", o->url, o->table,
                          refusal(&h), h.status);
    } else if (h.status && h.status != 200) {
        rc = sl_error_set(err, SL_EIO, "%s: HTTP %ld: %s", o->url, h.status, refusal(&h));
    } else if (h.stream_error[0]) {
        rc = sl_error_set(err, SL_EIO, "%s: stream error: %s", o->url, h.stream_error);
    } else if (cc != CURLE_OK) {
        rc = sl_error_set(err, SL_EIO, "%s: %s", o->url, curl_easy_strerror(cc));
    } else {
        rc = sl_error_set(err, SL_EIO, "%s: the server ended the stream (stopping)", o->url);
    }
    curl_slist_free_all(hdr);
    curl_easy_cleanup(h.curl);
    sl_sse_free(h.sse);
    free(h.body);
    free(url);
    return rc;
}

int sl_tap_run(const sl_tap_opts *o, sl_error *err) {
    int kind = sl_pipeline_table_store(o->p, o->table);
    if (kind == SL_TABLE_LAKE)
        return sl_error_set(err, SL_EINVAL,
                            "table '%s' is stored in the lake (store: lake): its rows are "
                            "compressed segment files with no row id to follow, so tap cannot "
                            "stream it; see its rows with `sluice query`, or tap a table that "
                            "reads from it",
                            o->table);
    if (kind == SL_TABLE_NONE)
        return sl_error_set(err, SL_EINVAL,
                            "table '%s' is not stored (store: none): it only passes rows on; tap "
                            "a table that reads from it",
                            o->table);
    rowfmt f = {.format = o->format, .out = o->out};
    int rc = o->url ? tap_http(o, &f, err) : tap_store(o, &f, err);
    fmt_flush(&f);
    fmt_free(&f);
    return rc;
}
