/* store.c - SQLite store; see store.h. */
#include "store/store.h"

#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zstd.h>

#include "core/log.h"
#include "core/mem.h"
#include "core/timeutil.h"

struct sl_store {
    sqlite3 *db;
    bool in_tx;
    sqlite3_stmt *q_ins, *pos_ins, *state_ins, *kv_ins;
};

struct sl_table_writer {
    sl_store *s;
    char name[SL_NAME_MAX];
    sl_schema schema;
    bool audit;
    sqlite3_stmt *ins;
    int64_t rows;
};

/* The database file, for messages ("" from SQLite means in memory or temporary). */
static const char *db_file(sqlite3 *db) {
    const char *f = db ? sqlite3_db_filename(db, "main") : NULL;
    return f && *f ? f : "(in memory)";
}

/* Fills err from the connection's last error: "<what>: <sqlite message>
 * (database <file>)", and returns the SL_E* code for it. */
static int db_err(sl_store *s, sl_error *err, const char *what) {
    int code = sqlite3_errcode(s->db);
    int rc = (code == SQLITE_FULL)                               ? SL_EFULL
             : (code == SQLITE_CORRUPT || code == SQLITE_NOTADB) ? SL_ECORRUPT
                                                                 : SL_EIO;
    return sl_error_set(err, rc, "%s: %s (database %s)", what, sqlite3_errmsg(s->db),
                        db_file(s->db));
}

/* For the calls that have no sl_error to fill: the message goes to the log. */
static int db_log(sl_store *s, const char *what) {
    char m[SL_ERROR_MAX];
    sl_error e;
    int rc = db_err(s, &e, what);
    sl_json_escape(m, sizeof m, e.msg, (int)strlen(e.msg));
    sl_log_error("store", "\"error\":\"%s\"", m);
    return rc;
}

/* sqlite3_exec with a message; what (may be NULL) says what the statement was for. */
static int exec_what(sl_store *s, const char *sql, const char *what, sl_error *err) {
    char *msg = NULL;
    if (sqlite3_exec(s->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        int code = sqlite3_errcode(s->db);
        /* busy: another process holds the write lock past the busy timeout */
        int rc = code == SQLITE_FULL ? SL_EFULL : code == SQLITE_BUSY ? SL_EAGAIN : SL_EIO;
        if (code == SQLITE_BUSY)
            sl_error_set(err, rc, "%s%sdatabase %s is locked by another process (waited 5 s)",
                         what ? what : "", what ? ": " : "", db_file(s->db));
        else
            sl_error_set(err, rc, "%s: %s (database %s)", what ? what : "sqlite",
                         msg ? msg : sqlite3_errmsg(s->db), db_file(s->db));
        sqlite3_free(msg);
        return rc;
    }
    return 0;
}

int sl_store_exec(sl_store *s, const char *sql, sl_error *err) {
    return exec_what(s, sql, NULL, err);
}

/* A growing buffer for SQL text built from a schema (any number of columns
 * and name lengths). */
typedef struct {
    char *p;
    size_t n, cap;
} sqlbuf;

static void sb_printf(sqlbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(sqlbuf *b, const char *fmt, ...) {
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int k = vsnprintf(b->p + b->n, b->cap - b->n, fmt, ap);
        va_end(ap);
        if (k < 0) { /* an encoding error: not possible with the formats used here */
            fprintf(stderr, "sluice: store: cannot format SQL text\n");
            abort();
        }
        if ((size_t)k < b->cap - b->n) {
            b->n += (size_t)k;
            return;
        }
        size_t cap = b->cap * 2;
        while (cap - b->n <= (size_t)k)
            cap *= 2;
        b->p = sl_xrealloc(b->p, cap);
        b->cap = cap;
    }
}

static void sb_init(sqlbuf *b) {
    b->cap = 1024;
    b->p = sl_xmalloc(b->cap);
    b->p[0] = 0;
    b->n = 0;
}

static void sb_reset(sqlbuf *b) {
    b->n = 0;
    b->p[0] = 0;
}

static int prep(sl_store *s, const char *sql, sqlite3_stmt **st, sl_error *err) {
    if (sqlite3_prepare_v3(s->db, sql, -1, SQLITE_PREPARE_PERSISTENT, st, NULL) != SQLITE_OK)
        return db_err(s, err, "sqlite prepare");
    return 0;
}

const char *sl_store_ro_name(const char *path, char *out, size_t cap) {
    char dir[4096], wal[4200];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash)
        slash[slash == dir ? 1 : 0] = 0;
    else
        snprintf(dir, sizeof dir, ".");
    snprintf(wal, sizeof wal, "%s-wal", path);
    if (access(dir, W_OK) == 0 || access(wal, F_OK) == 0) return path;
    /* file:PATH?immutable=1, PATH percent-encoded where a URI needs it */
    static const char hex[] = "0123456789ABCDEF";
    size_t n = (size_t)snprintf(out, cap, "file:");
    for (const unsigned char *q = (const unsigned char *)path; *q && n + 4 < cap; q++) {
        if ((*q >= 'a' && *q <= 'z') || (*q >= 'A' && *q <= 'Z') || (*q >= '0' && *q <= '9') ||
            strchr("/._-~", *q)) {
            out[n++] = (char)*q;
        } else {
            out[n++] = '%';
            out[n++] = hex[*q >> 4];
            out[n++] = hex[*q & 15];
        }
    }
    out[n < cap ? n : cap - 1] = 0;
    if (n + sizeof "?immutable=1" > cap) return path;
    memcpy(out + n, "?immutable=1", sizeof "?immutable=1");
    return out;
}

sl_store *sl_store_open(const char *path, bool readonly, sl_error *err) {
    sl_store *s = sl_xcalloc(1, sizeof *s);
    /* one connection per thread: no SQLite mutexes needed */
    int flags = (readonly ? SQLITE_OPEN_READONLY | SQLITE_OPEN_URI
                          : (SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE)) |
                SQLITE_OPEN_NOMUTEX;
    char uri[4400];
    const char *name = readonly ? sl_store_ro_name(path, uri, sizeof uri) : path;
    int orc = sqlite3_open_v2(name, &s->db, flags, NULL);
    if (orc != SQLITE_OK) {
        sl_error_set(err, SL_EIO, "cannot open database %s: %s", path,
                     s->db ? sqlite3_errmsg(s->db) : sqlite3_errstr(orc));
        sqlite3_close(s->db);
        free(s);
        return NULL;
    }
    sqlite3_busy_timeout(s->db, 5000);
    if (readonly) return s;
    static const char *setup =
        "PRAGMA page_size=16384;" /* new databases: fewer, larger page writes */
        "PRAGMA journal_mode=WAL;"
        "PRAGMA cache_size=-65536;" /* 64 MiB: an interval's pages stay in memory */
        "PRAGMA synchronous=NORMAL;"
        "PRAGMA wal_autocheckpoint=4000;"
        "CREATE TABLE IF NOT EXISTS quarantine(table_name TEXT, reason TEXT, raw TEXT, _source "
        "TEXT, _offset INTEGER, _ingest_ts TEXT);"
        "CREATE TABLE IF NOT EXISTS _sluice_positions(source TEXT, partition TEXT, position "
        "INTEGER, PRIMARY KEY(source, partition)) WITHOUT ROWID;"
        "CREATE TABLE IF NOT EXISTS _sluice_state(op TEXT, seq INTEGER PRIMARY KEY AUTOINCREMENT, "
        "full INTEGER, data BLOB);"
        "CREATE TABLE IF NOT EXISTS _sluice_kv(key TEXT PRIMARY KEY, value TEXT) WITHOUT ROWID;";
    char *msg = NULL;
    if (sqlite3_exec(s->db, setup, NULL, NULL, &msg) != SQLITE_OK) {
        int ec = sqlite3_errcode(s->db);
        bool corrupt = ec == SQLITE_CORRUPT || ec == SQLITE_NOTADB;
        sl_error_set(
            err,
            corrupt             ? SL_ECORRUPT
            : ec == SQLITE_FULL ? SL_EFULL
                                : SL_EIO,
            "cannot initialise database %s: %s%s", path, msg ? msg : sqlite3_errmsg(s->db),
            corrupt ? " (the checkpoint database is damaged: see docs/operations.md, 'Recovery')"
                    : "");
        sqlite3_free(msg);
        sl_store_close(s);
        return NULL;
    }
    if (prep(s, "INSERT INTO quarantine VALUES(?,?,?,?,?,?)", &s->q_ins, err) ||
        prep(s, "INSERT OR REPLACE INTO _sluice_positions VALUES(?,?,?)", &s->pos_ins, err) ||
        prep(s, "INSERT INTO _sluice_state(op, full, data) VALUES(?,?,?)", &s->state_ins, err) ||
        prep(s, "INSERT OR REPLACE INTO _sluice_kv VALUES(?,?)", &s->kv_ins, err)) {
        sl_store_close(s);
        return NULL;
    }
    return s;
}

void sl_store_close(sl_store *s) {
    if (!s) return;
    if (s->in_tx) sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
    sqlite3_finalize(s->q_ins);
    sqlite3_finalize(s->pos_ins);
    sqlite3_finalize(s->state_ins);
    sqlite3_finalize(s->kv_ins);
    sqlite3_close_v2(s->db);
    free(s);
}

sqlite3 *sl_store_db(sl_store *s) { return s->db; }

int sl_store_begin(sl_store *s, sl_error *err) {
    if (s->in_tx) return 0;
    int rc = sl_store_exec(s, "BEGIN IMMEDIATE", err);
    if (!rc) s->in_tx = true;
    return rc;
}

int sl_store_commit(sl_store *s, sl_error *err) {
    if (!s->in_tx) return 0;
    int rc = sl_store_exec(s, "COMMIT", err);
    if (!rc) s->in_tx = false;
    return rc;
}

static const char *sql_type(sl_type t) {
    switch (t) {
    case SL_T_INT:
    case SL_T_BOOL:
        return "INTEGER";
    case SL_T_DOUBLE:
        return "REAL";
    default:
        return "TEXT";
    }
}

/* Names are checked identifiers from the spec, quoted anyway. The SQL is
 * built in a growing buffer: its length grows with the number of columns
 * and their names (an upsert names every column three times). */
sl_table_writer *sl_store_table(sl_store *s, const char *name, const sl_schema *schema, int mode,
                                bool audit, sl_error *err) {
    sl_table_writer *w = sl_xcalloc(1, sizeof *w);
    w->s = s;
    snprintf(w->name, sizeof w->name, "%s", name);
    w->schema = *schema;
    w->audit = audit;
    char what[SL_NAME_MAX * 2 + 64];
    sqlite3_stmt *st = NULL;
    sqlbuf sql;
    sb_init(&sql);
    sb_printf(&sql, "CREATE TABLE IF NOT EXISTS \"%s\"(", name);
    for (int i = 0; i < schema->n; i++)
        sb_printf(&sql, "%s\"%s\" %s%s", i ? "," : "", schema->f[i].name,
                  sql_type(schema->f[i].type),
                  mode == SL_WRITE_UPSERT && !strcmp(schema->f[i].name, "_group") ? " UNIQUE" : "");
    if (audit)
        sb_printf(&sql, "%s_ingest_ts TEXT,_source TEXT,_offset INTEGER", schema->n ? "," : "");
    sb_printf(&sql, ")");
    snprintf(what, sizeof what, "creating table \"%s\"", name);
    if (exec_what(s, sql.p, what, err)) goto fail;
    /* schema evolution: add columns the table does not have yet */
    snprintf(what, sizeof what, "reading the columns of table \"%s\"", name);
    if (sqlite3_prepare_v2(s->db, "SELECT 1 FROM pragma_table_info(?1) WHERE name=?2", -1, &st,
                           NULL) != SQLITE_OK)
        goto dberr;
    for (int i = 0; i < schema->n; i++) {
        sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, schema->f[i].name, -1, SQLITE_STATIC);
        int step = sqlite3_step(st);
        sqlite3_reset(st);
        if (step != SQLITE_ROW && step != SQLITE_DONE) goto dberr;
        if (step == SQLITE_DONE) {
            sb_reset(&sql);
            sb_printf(&sql, "ALTER TABLE \"%s\" ADD COLUMN \"%s\" %s", name, schema->f[i].name,
                      sql_type(schema->f[i].type));
            snprintf(what, sizeof what, "adding column \"%s\" to table \"%s\"", schema->f[i].name,
                     name);
            if (exec_what(s, sql.p, what, err)) goto fail;
            sl_log_info("table column added", "\"table\":\"%s\",\"column\":\"%s\"", name,
                        schema->f[i].name);
        }
    }
    sqlite3_finalize(st);
    st = NULL;
    sb_reset(&sql);
    sb_printf(&sql, "INSERT INTO \"%s\"(", name);
    for (int i = 0; i < schema->n; i++)
        sb_printf(&sql, "%s\"%s\"", i ? "," : "", schema->f[i].name);
    if (audit) sb_printf(&sql, "%s_ingest_ts,_source,_offset", schema->n ? "," : "");
    sb_printf(&sql, ") VALUES(");
    int nparams = schema->n + (audit ? 3 : 0);
    for (int i = 0; i < nparams; i++)
        sb_printf(&sql, "%s?", i ? "," : "");
    sb_printf(&sql, ")");
    if (mode == SL_WRITE_UPSERT) {
        sb_printf(&sql, " ON CONFLICT(_group) DO UPDATE SET ");
        int first = 1;
        for (int i = 0; i < schema->n; i++) {
            if (!strcmp(schema->f[i].name, "_group")) continue;
            sb_printf(&sql, "%s\"%s\"=excluded.\"%s\"", first ? "" : ",", schema->f[i].name,
                      schema->f[i].name);
            first = 0;
        }
    }
    snprintf(what, sizeof what, "preparing the insert into table \"%s\"", name);
    if (sqlite3_prepare_v3(s->db, sql.p, -1, SQLITE_PREPARE_PERSISTENT, &w->ins, NULL) != SQLITE_OK)
        goto dberr;
    free(sql.p);
    return w;
dberr:
    db_err(s, err, what);
fail:
    sqlite3_finalize(st);
    free(sql.p);
    free(w);
    return NULL;
}

int sl_store_format_ts(int64_t us, char *out, size_t cap) {
    if (us % SL_US_PER_SEC == 0) return sl_time_format_iso(us, out, cap);
    if (us % SL_US_PER_MS == 0) return sl_time_format_iso_ms(us, out, cap);
    return sl_time_format_iso_us(us, out, cap);
}

int sl_table_write(sl_table_writer *w, const sl_batch *b, const char *const *part_names,
                   sl_error *err) {
    sqlite3_stmt *st = w->ins;
    char tsbuf[SL_MAX_COLUMNS][40];
    /* store.h: b has the writer's schema (extra columns at the end ignored) */
    assert(b->schema.n >= w->schema.n);
    for (int c = 0; c < w->schema.n; c++)
        assert(b->col[c].type == w->schema.f[c].type);
    for (uint32_t r = 0; r < b->n; r++) {
        for (int c = 0; c < w->schema.n; c++) {
            const sl_column *col = &b->col[c];
            int p = c + 1;
            if (col->null[r]) {
                sqlite3_bind_null(st, p);
                continue;
            }
            switch (col->type) {
            case SL_T_INT:
                sqlite3_bind_int64(st, p, col->v.i[r]);
                break;
            case SL_T_BOOL:
                sqlite3_bind_int(st, p, col->v.b[r] != 0);
                break;
            case SL_T_DOUBLE:
                sqlite3_bind_double(st, p, col->v.d[r]);
                break;
            case SL_T_STRING:
                sqlite3_bind_text(st, p, col->v.s[r].ptr, (int)col->v.s[r].len, SQLITE_STATIC);
                break;
            case SL_T_TS: {
                int len = sl_store_format_ts(col->v.i[r], tsbuf[c], sizeof tsbuf[c]);
                sqlite3_bind_text(st, p, tsbuf[c], len, SQLITE_STATIC);
                break;
            }
            default:
                sqlite3_bind_null(st, p);
            }
        }
        if (w->audit) {
            char its[40];
            int len = sl_store_format_ts(b->ingest[r], its, sizeof its);
            int p = w->schema.n + 1;
            sqlite3_bind_text(st, p, its, len, SQLITE_TRANSIENT);
            assert(b->part[r] >= 0);
            if (part_names)
                sqlite3_bind_text(st, p + 1, part_names[b->part[r]], -1, SQLITE_STATIC);
            else
                sqlite3_bind_null(st, p + 1);
            sqlite3_bind_int64(st, p + 2, b->pos[r]);
        }
        if (sqlite3_step(st) != SQLITE_DONE) {
            char what[SL_NAME_MAX + 64];
            snprintf(what, sizeof what, "writing to table \"%s\"", w->name);
            int rc = db_err(w->s, err, what); /* before the reset: the message is the step's */
            sqlite3_reset(st);
            return rc;
        }
        sqlite3_reset(st);
    }
    w->rows += b->n;
    return 0;
}

int64_t sl_table_rows_written(const sl_table_writer *w) { return w->rows; }

void sl_table_writer_free(sl_table_writer *w) {
    if (!w) return;
    sqlite3_finalize(w->ins);
    free(w);
}

int sl_store_quarantine(sl_store *s, const char *table, const char *reason, const char *raw,
                        size_t raw_len, const char *source, int64_t offset, int64_t ingest_us) {
    sqlite3_stmt *st = s->q_ins;
    char its[40];
    int len = sl_store_format_ts(ingest_us, its, sizeof its);
    sqlite3_bind_text(st, 1, table, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, reason, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, raw ? raw : "", (int)raw_len, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, source ? source : "", -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 5, offset);
    sqlite3_bind_text(st, 6, its, len, SQLITE_STATIC);
    int rc = sqlite3_step(st) == SQLITE_DONE ? 0 : (db_log(s, "writing to quarantine"), SL_EIO);
    sqlite3_reset(st);
    return rc;
}

int sl_store_put_position(sl_store *s, const char *source, const char *partition, int64_t pos) {
    sqlite3_stmt *st = s->pos_ins;
    sqlite3_bind_text(st, 1, source, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, partition, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, pos);
    int rc = sqlite3_step(st) == SQLITE_DONE ? 0 : (db_log(s, "saving a source position"), SL_EIO);
    sqlite3_reset(st);
    return rc;
}

int sl_store_positions(sl_store *s, const char *source, sl_position_fn fn, void *ud,
                       sl_error *err) {
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(
            s->db,
            "SELECT partition, position FROM _sluice_positions WHERE source=? ORDER BY partition",
            -1, &st, NULL) != SQLITE_OK)
        return db_err(s, err, "reading source positions");
    sqlite3_bind_text(st, 1, source, -1, SQLITE_STATIC);
    int step;
    while ((step = sqlite3_step(st)) == SQLITE_ROW)
        fn(ud, (const char *)sqlite3_column_text(st, 0), sqlite3_column_int64(st, 1));
    int rc = step == SQLITE_DONE ? 0 : db_err(s, err, "reading source positions");
    sqlite3_finalize(st);
    return rc;
}

int sl_store_get_position(sl_store *s, const char *source, const char *partition, int64_t *pos) {
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(s->db,
                           "SELECT position FROM _sluice_positions WHERE source=? AND partition=?",
                           -1, &st, NULL) != SQLITE_OK)
        return db_log(s, "reading a source position");
    sqlite3_bind_text(st, 1, source, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, partition, -1, SQLITE_STATIC);
    int rc = SL_ENOTFOUND, step = sqlite3_step(st);
    if (step == SQLITE_ROW) {
        *pos = sqlite3_column_int64(st, 0);
        rc = 0;
    } else if (step != SQLITE_DONE) {
        rc = db_log(s, "reading a source position");
    }
    sqlite3_finalize(st);
    return rc;
}

/* State blobs of STATE_ZSTD_MIN bytes or more are stored zstd-compressed
 * (level 1), marked by bit STATE_ZSTD in the `full` column, so rows written
 * before compression existed read as they are. Snapshots are arrays of keys
 * and counters: a dedupe's 1M camera ids take 15 MB raw. */
#define STATE_ZSTD 2
#define STATE_ZSTD_MIN 4096

int sl_store_put_state(sl_store *s, const char *op, bool full, const void *data, size_t n,
                       sl_error *err) {
    char what[256];
    snprintf(what, sizeof what, "saving the state of %s", op);
    if (full) {
        sqlite3_stmt *del;
        if (sqlite3_prepare_v2(s->db, "DELETE FROM _sluice_state WHERE op=?", -1, &del, NULL) !=
            SQLITE_OK)
            return db_err(s, err, what);
        sqlite3_bind_text(del, 1, op, -1, SQLITE_STATIC);
        int rc = sqlite3_step(del) == SQLITE_DONE ? 0 : db_err(s, err, what);
        sqlite3_finalize(del);
        if (rc) return rc;
    }
    int flags = full ? 1 : 0;
    void *z = NULL;
    if (n >= STATE_ZSTD_MIN) {
        size_t cap = ZSTD_compressBound(n);
        z = malloc(cap);
        size_t zn = z ? ZSTD_compress(z, cap, data, n, 1) : 0;
        if (z && !ZSTD_isError(zn) && zn < n) {
            data = z;
            n = zn;
            flags |= STATE_ZSTD;
        }
    }
    sqlite3_stmt *st = s->state_ins;
    sqlite3_bind_text(st, 1, op, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 2, flags);
    sqlite3_bind_blob64(st, 3, data, n, SQLITE_STATIC);
    int rc = sqlite3_step(st) == SQLITE_DONE ? 0 : db_err(s, err, what);
    sqlite3_reset(st);
    free(z);
    return rc;
}

int sl_store_load_state(sl_store *s, const char *op, sl_state_fn fn, void *ud, sl_error *err) {
    sqlite3_stmt *st;
    char what[256];
    snprintf(what, sizeof what, "loading the state of %s", op);
    if (sqlite3_prepare_v2(s->db, "SELECT full, data FROM _sluice_state WHERE op=? ORDER BY seq",
                           -1, &st, NULL) != SQLITE_OK)
        return db_err(s, err, what);
    sqlite3_bind_text(st, 1, op, -1, SQLITE_STATIC);
    int rc = 0, step = SQLITE_DONE;
    void *buf = NULL;
    while (!rc && (step = sqlite3_step(st)) == SQLITE_ROW) {
        int flags = sqlite3_column_int(st, 0);
        const void *data = sqlite3_column_blob(st, 1);
        size_t n = (size_t)sqlite3_column_bytes(st, 1);
        if (flags & STATE_ZSTD) {
            unsigned long long raw = n ? ZSTD_getFrameContentSize(data, n) : 0;
            if (raw == ZSTD_CONTENTSIZE_ERROR || raw == ZSTD_CONTENTSIZE_UNKNOWN ||
                raw > ((unsigned long long)1 << 40)) {
                rc = sl_error_set(err, SL_ECORRUPT, "%s: a compressed snapshot is damaged", what);
                break;
            }
            free(buf);
            buf = malloc(raw ? (size_t)raw : 1);
            size_t got = buf ? ZSTD_decompress(buf, (size_t)raw, data, n) : 0;
            if (!buf || ZSTD_isError(got) || got != raw) {
                rc = sl_error_set(err, buf ? SL_ECORRUPT : SL_ENOMEM,
                                  "%s: a compressed snapshot is damaged", what);
                break;
            }
            data = buf;
            n = (size_t)raw;
        }
        rc = fn(ud, (flags & 1) != 0, data, n, err);
    }
    free(buf);
    if (!rc && step != SQLITE_DONE) rc = db_err(s, err, what); /* not a partial restore */
    sqlite3_finalize(st);
    return rc;
}

int64_t sl_store_state_bytes(sl_store *s, const char *op) {
    sqlite3_stmt *st;
    int64_t n = 0;
    if (sqlite3_prepare_v2(s->db,
                           "SELECT coalesce(sum(length(data)),0) FROM _sluice_state WHERE op=?", -1,
                           &st, NULL) != SQLITE_OK)
        return 0;
    sqlite3_bind_text(st, 1, op, -1, SQLITE_STATIC);
    if (sqlite3_step(st) == SQLITE_ROW) n = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return n;
}

int sl_store_put_kv(sl_store *s, const char *key, const char *val) {
    sqlite3_stmt *st = s->kv_ins;
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, val, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st) == SQLITE_DONE ? 0 : (db_log(s, "saving a setting"), SL_EIO);
    sqlite3_reset(st);
    return rc;
}

int sl_store_get_kv(sl_store *s, const char *key, char *out, size_t cap) {
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(s->db, "SELECT value FROM _sluice_kv WHERE key=?", -1, &st, NULL) !=
        SQLITE_OK)
        return db_log(s, "reading a setting");
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    int rc = SL_ENOTFOUND, step = sqlite3_step(st);
    if (step == SQLITE_ROW) {
        const unsigned char *v = sqlite3_column_text(st, 0);
        snprintf(out, cap, "%s", v ? (const char *)v : "");
        rc = 0;
    } else if (step != SQLITE_DONE) {
        rc = db_log(s, "reading a setting");
    }
    sqlite3_finalize(st);
    return rc;
}
