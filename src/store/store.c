/* store.c - SQLite store; see store.h. */
#include "store/store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
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

static int db_err(sl_store *s, sl_error *err, const char *what) {
    int code = sqlite3_errcode(s->db);
    int rc = (code == SQLITE_FULL) ? SL_EFULL : (code == SQLITE_CORRUPT || code == SQLITE_NOTADB) ? SL_ECORRUPT : SL_EIO;
    return sl_error_set(err, rc, "%s: %s", what, sqlite3_errmsg(s->db));
}

int sl_store_exec(sl_store *s, const char *sql, sl_error *err) {
    char *msg = NULL;
    if (sqlite3_exec(s->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        int code = sqlite3_errcode(s->db);
        /* busy: another process holds the write lock past the busy timeout */
        int rc = code == SQLITE_FULL ? SL_EFULL : code == SQLITE_BUSY ? SL_EAGAIN : SL_EIO;
        sl_error_set(err, rc, "sqlite: %s", msg ? msg : "error");
        sqlite3_free(msg);
        return rc;
    }
    return 0;
}

static int prep(sl_store *s, const char *sql, sqlite3_stmt **st, sl_error *err) {
    if (sqlite3_prepare_v3(s->db, sql, -1, SQLITE_PREPARE_PERSISTENT, st, NULL) != SQLITE_OK)
        return db_err(s, err, "sqlite prepare");
    return 0;
}

sl_store *sl_store_open(const char *path, bool readonly, sl_error *err) {
    sl_store *s = calloc(1, sizeof *s);
    /* one connection per thread: no SQLite mutexes needed */
    int flags = (readonly ? SQLITE_OPEN_READONLY : (SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE)) | SQLITE_OPEN_NOMUTEX;
    if (sqlite3_open_v2(path, &s->db, flags, NULL) != SQLITE_OK) {
        sl_error_set(err, SL_EIO, "cannot open database %s: %s", path, s->db ? sqlite3_errmsg(s->db) : "out of memory");
        sqlite3_close(s->db);
        free(s);
        return NULL;
    }
    sqlite3_busy_timeout(s->db, 5000);
    if (readonly) return s;
    static const char *setup =
        "PRAGMA page_size=16384;"          /* new databases: fewer, larger page writes */
        "PRAGMA journal_mode=WAL;"
        "PRAGMA cache_size=-65536;"        /* 64 MiB: an interval's pages stay in memory */
        "PRAGMA synchronous=NORMAL;"
        "PRAGMA wal_autocheckpoint=4000;"
        "CREATE TABLE IF NOT EXISTS quarantine(table_name TEXT, reason TEXT, raw TEXT, _source TEXT, _offset INTEGER, _ingest_ts TEXT);"
        "CREATE TABLE IF NOT EXISTS _sluice_positions(source TEXT, partition TEXT, position INTEGER, PRIMARY KEY(source, partition)) WITHOUT ROWID;"
        "CREATE TABLE IF NOT EXISTS _sluice_state(op TEXT, seq INTEGER PRIMARY KEY AUTOINCREMENT, full INTEGER, data BLOB);"
        "CREATE TABLE IF NOT EXISTS _sluice_kv(key TEXT PRIMARY KEY, value TEXT) WITHOUT ROWID;";
    if (sl_store_exec(s, setup, err)) {
        char m[SL_ERROR_MAX];
        snprintf(m, sizeof m, "%s", err ? err->msg : "");
        int ec = sqlite3_errcode(s->db);
        bool corrupt = ec == SQLITE_CORRUPT || ec == SQLITE_NOTADB;
        sl_error_set(err, corrupt ? SL_ECORRUPT : ec == SQLITE_FULL ? SL_EFULL : SL_EIO,
                     "cannot initialise database %s: %s%s", path, m,
                     corrupt ? " (the checkpoint database is damaged: see docs/operations.md, 'Recovery')" : "");
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
    case SL_T_BOOL: return "INTEGER";
    case SL_T_DOUBLE: return "REAL";
    default: return "TEXT";
    }
}

/* Names are checked identifiers from the spec, quoted anyway. */
sl_table_writer *sl_store_table(sl_store *s, const char *name, const sl_schema *schema, int mode,
                                bool audit, sl_error *err) {
    sl_table_writer *w = calloc(1, sizeof *w);
    w->s = s;
    snprintf(w->name, sizeof w->name, "%s", name);
    w->schema = *schema;
    w->audit = audit;
    size_t cap = 16384;
    char *sql = malloc(cap);
    int n = snprintf(sql, cap, "CREATE TABLE IF NOT EXISTS \"%s\"(", name);
    for (int i = 0; i < schema->n; i++)
        n += snprintf(sql + n, cap - (size_t)n, "%s\"%s\" %s%s", i ? "," : "", schema->f[i].name,
                      sql_type(schema->f[i].type),
                      mode == SL_WRITE_UPSERT && !strcmp(schema->f[i].name, "_group") ? " UNIQUE" : "");
    if (audit) n += snprintf(sql + n, cap - (size_t)n, "%s_ingest_ts TEXT,_source TEXT,_offset INTEGER", schema->n ? "," : "");
    snprintf(sql + n, cap - (size_t)n, ")");
    if (sl_store_exec(s, sql, err)) goto fail;
    /* schema evolution: add columns the table does not have yet */
    for (int i = 0; i < schema->n; i++) {
        snprintf(sql, cap, "SELECT 1 FROM pragma_table_info('%s') WHERE name='%s'", name, schema->f[i].name);
        sqlite3_stmt *st;
        if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK) goto dberr;
        int exists = sqlite3_step(st) == SQLITE_ROW;
        sqlite3_finalize(st);
        if (!exists) {
            snprintf(sql, cap, "ALTER TABLE \"%s\" ADD COLUMN \"%s\" %s", name, schema->f[i].name, sql_type(schema->f[i].type));
            if (sl_store_exec(s, sql, err)) goto fail;
            sl_log_info("table column added", "\"table\":\"%s\",\"column\":\"%s\"", name, schema->f[i].name);
        }
    }
    n = snprintf(sql, cap, "INSERT INTO \"%s\"(", name);
    for (int i = 0; i < schema->n; i++) n += snprintf(sql + n, cap - (size_t)n, "%s\"%s\"", i ? "," : "", schema->f[i].name);
    if (audit) n += snprintf(sql + n, cap - (size_t)n, "%s_ingest_ts,_source,_offset", schema->n ? "," : "");
    n += snprintf(sql + n, cap - (size_t)n, ") VALUES(");
    int nparams = schema->n + (audit ? 3 : 0);
    for (int i = 0; i < nparams; i++) n += snprintf(sql + n, cap - (size_t)n, "%s?", i ? "," : "");
    n += snprintf(sql + n, cap - (size_t)n, ")");
    if (mode == SL_WRITE_UPSERT) {
        n += snprintf(sql + n, cap - (size_t)n, " ON CONFLICT(_group) DO UPDATE SET ");
        int first = 1;
        for (int i = 0; i < schema->n; i++) {
            if (!strcmp(schema->f[i].name, "_group")) continue;
            n += snprintf(sql + n, cap - (size_t)n, "%s\"%s\"=excluded.\"%s\"", first ? "" : ",", schema->f[i].name, schema->f[i].name);
            first = 0;
        }
    }
    if (prep(s, sql, &w->ins, err)) goto fail;
    free(sql);
    return w;
dberr:
    db_err(s, err, "sqlite");
fail:
    free(sql);
    free(w);
    return NULL;
}

int sl_store_format_ts(int64_t us, char *out, size_t cap) {
    if (us % SL_US_PER_SEC == 0) return sl_time_format_iso(us, out, cap);
    if (us % SL_US_PER_MS == 0) return sl_time_format_iso_ms(us, out, cap);
    return sl_time_format_iso_us(us, out, cap);
}

int sl_table_write(sl_table_writer *w, const sl_batch *b, const char *const *part_names, sl_error *err) {
    sqlite3_stmt *st = w->ins;
    char tsbuf[SL_MAX_COLUMNS][40];
    for (uint32_t r = 0; r < b->n; r++) {
        for (int c = 0; c < w->schema.n; c++) {
            const sl_column *col = &b->col[c];
            int p = c + 1;
            if (col->null[r]) {
                sqlite3_bind_null(st, p);
                continue;
            }
            switch (col->type) {
            case SL_T_INT: sqlite3_bind_int64(st, p, col->v.i[r]); break;
            case SL_T_BOOL: sqlite3_bind_int(st, p, col->v.b[r] != 0); break;
            case SL_T_DOUBLE: sqlite3_bind_double(st, p, col->v.d[r]); break;
            case SL_T_STRING: sqlite3_bind_text(st, p, col->v.s[r].ptr, (int)col->v.s[r].len, SQLITE_STATIC); break;
            case SL_T_TS: {
                int len = sl_store_format_ts(col->v.i[r], tsbuf[c], sizeof tsbuf[c]);
                sqlite3_bind_text(st, p, tsbuf[c], len, SQLITE_STATIC);
                break;
            }
            default: sqlite3_bind_null(st, p);
            }
        }
        if (w->audit) {
            char its[40];
            int len = sl_store_format_ts(b->ingest[r], its, sizeof its);
            int p = w->schema.n + 1;
            sqlite3_bind_text(st, p, its, len, SQLITE_TRANSIENT);
            if (part_names) sqlite3_bind_text(st, p + 1, part_names[b->part[r]], -1, SQLITE_STATIC);
            else sqlite3_bind_null(st, p + 1);
            sqlite3_bind_int64(st, p + 2, b->pos[r]);
        }
        if (sqlite3_step(st) != SQLITE_DONE) {
            sqlite3_reset(st);
            return db_err(w->s, err, w->name);
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
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? 0 : SL_EIO;
}

int sl_store_put_position(sl_store *s, const char *source, const char *partition, int64_t pos) {
    sqlite3_stmt *st = s->pos_ins;
    sqlite3_bind_text(st, 1, source, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, partition, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, pos);
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? 0 : SL_EIO;
}

int sl_store_positions(sl_store *s, const char *source, sl_position_fn fn, void *ud, sl_error *err) {
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(s->db, "SELECT partition, position FROM _sluice_positions WHERE source=? ORDER BY partition", -1, &st, NULL) != SQLITE_OK)
        return db_err(s, err, "positions");
    sqlite3_bind_text(st, 1, source, -1, SQLITE_STATIC);
    while (sqlite3_step(st) == SQLITE_ROW) fn(ud, (const char *)sqlite3_column_text(st, 0), sqlite3_column_int64(st, 1));
    sqlite3_finalize(st);
    return 0;
}

int sl_store_get_position(sl_store *s, const char *source, const char *partition, int64_t *pos) {
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(s->db, "SELECT position FROM _sluice_positions WHERE source=? AND partition=?", -1, &st, NULL) != SQLITE_OK)
        return SL_EIO;
    sqlite3_bind_text(st, 1, source, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, partition, -1, SQLITE_STATIC);
    int rc = SL_ENOTFOUND;
    if (sqlite3_step(st) == SQLITE_ROW) {
        *pos = sqlite3_column_int64(st, 0);
        rc = 0;
    }
    sqlite3_finalize(st);
    return rc;
}

int sl_store_put_state(sl_store *s, const char *op, bool full, const void *data, size_t n, sl_error *err) {
    if (full) {
        sqlite3_stmt *del;
        if (sqlite3_prepare_v2(s->db, "DELETE FROM _sluice_state WHERE op=?", -1, &del, NULL) != SQLITE_OK)
            return db_err(s, err, "state");
        sqlite3_bind_text(del, 1, op, -1, SQLITE_STATIC);
        sqlite3_step(del);
        sqlite3_finalize(del);
    }
    sqlite3_stmt *st = s->state_ins;
    sqlite3_bind_text(st, 1, op, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 2, full);
    sqlite3_bind_blob64(st, 3, data, n, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? 0 : db_err(s, err, "state");
}

int sl_store_load_state(sl_store *s, const char *op, sl_state_fn fn, void *ud, sl_error *err) {
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(s->db, "SELECT full, data FROM _sluice_state WHERE op=? ORDER BY seq", -1, &st, NULL) != SQLITE_OK)
        return db_err(s, err, "state");
    sqlite3_bind_text(st, 1, op, -1, SQLITE_STATIC);
    int rc = 0;
    while (!rc && sqlite3_step(st) == SQLITE_ROW)
        rc = fn(ud, sqlite3_column_int(st, 0) != 0, sqlite3_column_blob(st, 1), (size_t)sqlite3_column_bytes(st, 1), err);
    sqlite3_finalize(st);
    return rc;
}

int64_t sl_store_state_bytes(sl_store *s, const char *op) {
    sqlite3_stmt *st;
    int64_t n = 0;
    if (sqlite3_prepare_v2(s->db, "SELECT coalesce(sum(length(data)),0) FROM _sluice_state WHERE op=?", -1, &st, NULL) != SQLITE_OK)
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
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? 0 : SL_EIO;
}

int sl_store_get_kv(sl_store *s, const char *key, char *out, size_t cap) {
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(s->db, "SELECT value FROM _sluice_kv WHERE key=?", -1, &st, NULL) != SQLITE_OK) return SL_EIO;
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    int rc = SL_ENOTFOUND;
    if (sqlite3_step(st) == SQLITE_ROW) {
        snprintf(out, cap, "%s", (const char *)sqlite3_column_text(st, 0));
        rc = 0;
    }
    sqlite3_finalize(st);
    return rc;
}
