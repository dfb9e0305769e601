/*
 * parquet_vtab.c - the `sluice_parquet` SQLite virtual table: a lake table's
 * Parquet segments as typed rows (lake_vtab.h).
 *
 * A scan takes the segment list of sl_lake_scan_segments (committed view,
 * hot and cold tiers, like sluice_lake), opens each segment bounded by its
 * committed length (sl_pq_open: the footer written by the flush of that
 * commit), and walks its row groups. Columns are decoded per row group on
 * first use, so a query reading two of eleven columns decodes two.
 *
 * Pruning. xBestIndex hands every =, <, <=, >, >= constraint to xFilter
 * (SQLite still checks each row: nothing is omitted), and a row group is
 * skipped when its min/max statistics prove no row can match. The proof
 * follows SQLite's comparison, not the column's meaning:
 *   - int and double columns: only a numeric constraint value prunes;
 *   - string columns: a text value, compared as memcmp (BINARY collation),
 *     as Parquet orders its byte-array statistics;
 *   - timestamp columns are ISO 8601 text in SQL, and the text order of
 *     "YYYY-MM-DDTHH:MM:SS[.fff]Z" follows time only to the second (a
 *     trimmed fraction sorts after a longer one), so a text value is
 *     compared with the first 19 characters of min and max, and only over
 *     its own length: every row's text then lies between them there.
 * A row group that cannot be proven empty is read.
 * A column gathered from a reference lake (below) has no statistics in T's
 * file: its bounds are B's, merged over every B row group that the T row
 * group's _ref range (its own min/max statistics) overlaps, which contain
 * every referenced value (sl_lake_ref_range_stats). References follow B's
 * row order, so a T row group spans few B row groups and a point lookup on
 * B's id column (cameras' detection_oid) still skips most of T.
 *
 * Ref segments. With a reference lake ('REFROOT', 'kv:REFKEY': table B), a
 * segment holding an INT64 column `_ref` stores only the columns its table
 * adds to B's rows; `_ref` is B's row id (same numbering as below) and every
 * declared column absent from the segment is B's column of that name at that
 * row (sl_lake_ref_gather, once per row group and column, on first use). A
 * segment without `_ref` is ordinary: absent columns are NULL. `_ref` is not
 * a column of the table. B's committed view is read after T's, at each
 * xFilter, so every row T's view references is in it; one that is not fails
 * the query naming T's segment and the row id.
 *
 * Row ids are (segment sequence << 32) | row within the segment: they grow in
 * commit order and stay the same when retention deletes older segments or
 * the cold tier rewrites one (its rows keep their order).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "formats/parquet.h"
#include "sinks/lake.h"
#include "sinks/lake_ref.h"
#include "sinks/lake_vtab.h"
#include "store/store.h"

#define TS_PREFIX 19 /* "YYYY-MM-DDTHH:MM:SS" */

typedef struct pq_vtab {
    sqlite3_vtab base;
    sqlite3 *db;
    char root[PATH_MAX];
    char kv_key[128];
    sl_schema schema;
    char ref_root[PATH_MAX]; /* "" : no reference lake */
    char ref_key[128];
} pq_vtab;

typedef struct pq_cons {
    int col;
    unsigned char op;
} pq_cons;

typedef struct pq_cursor {
    sqlite3_vtab_cursor base;
    sl_lake_scan scan;
    size_t next_seg;
    sl_pq_reader *r;
    const sl_lake_segment *seg;
    int fmap[SL_MAX_COLUMNS]; /* table column -> file column, -1: absent */
    int rg, nrg;
    int64_t row, rows;           /* row within the row group */
    int64_t group_base;          /* rows of the segment before the row group */
    int decoded[SL_MAX_COLUMNS]; /* row group + 1 whose column is in cols[] */
    sl_column cols[SL_MAX_COLUMNS];
    int64_t rowid;
    int at_eof;
    /* constraints from xFilter */
    int ncons;
    pq_cons cons[64];
    sqlite3_value *vals[64];
    int64_t groups_read, groups_skipped;
    /* ref segments (see the top of the file) */
    sl_lake_ref *ref; /* B's rows, opened at the first xFilter */
    int ref_fc;       /* file column of _ref, -1: an ordinary segment */
    int ref_decoded;  /* row group + 1 whose _ref is in ref_col */
    sl_column ref_col;
    int gathered[SL_MAX_COLUMNS]; /* row group + 1 whose column is in gcols[] */
    sl_column gcols[SL_MAX_COLUMNS];
} pq_cursor;

static int vt_error(sqlite3_vtab *vt, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    char *m = sqlite3_vmprintf(fmt, ap);
    va_end(ap);
    sqlite3_free(vt->zErrMsg);
    vt->zErrMsg = m;
    return m ? SQLITE_ERROR : SQLITE_NOMEM;
}

/* "name type, name type" (sluice type names) -> schema. */
static int parse_schema(const char *decl, sl_schema *out) {
    sl_schema_init(out);
    const char *p = decl;
    while (*p) {
        while (*p == ' ' || *p == ',')
            p++;
        if (!*p) break;
        char name[SL_NAME_MAX], type[32];
        size_t n = 0;
        while (*p && *p != ' ' && n + 1 < sizeof name)
            name[n++] = *p++;
        name[n] = '\0';
        while (*p == ' ')
            p++;
        n = 0;
        while (*p && *p != ',' && *p != ' ' && n + 1 < sizeof type)
            type[n++] = *p++;
        type[n] = '\0';
        int t = sl_type_parse(type);
        if (!name[0] || t < 0 || sl_schema_add(out, name, (sl_type)t) < 0) return -1;
    }
    return out->n > 0 ? 0 : -1;
}

static int vt_connect(sqlite3 *db, void *aux, int argc, const char *const *argv, sqlite3_vtab **out,
                      char **errmsg) {
    (void)aux;
    if (argc != 6 && argc != 8) {
        *errmsg = sqlite3_mprintf("sluice_parquet: usage: sluice_parquet('ROOT', 'kv:KEY', "
                                  "'column type, ...' [, 'REFROOT', 'kv:REFKEY']) (kv@SCHEMA:KEY: "
                                  "an attached database's position)");
        return SQLITE_ERROR;
    }
    pq_vtab *t = sqlite3_malloc(sizeof *t);
    if (!t) return SQLITE_NOMEM;
    memset(t, 0, sizeof *t);
    t->db = db;
    size_t decl_cap = strlen(argv[5]) + 1;
    char *decl = sqlite3_malloc((int)decl_cap);
    if (!decl) {
        sqlite3_free(t);
        return SQLITE_NOMEM;
    }
    sl_lake_vtab_dequote(argv[3], t->root, sizeof t->root);
    sl_lake_vtab_dequote(argv[5], decl, decl_cap);
    if (!t->root[0] || sl_lake_vtab_kv_arg(argv[4], t->kv_key, sizeof t->kv_key) ||
        parse_schema(decl, &t->schema)) {
        *errmsg = sqlite3_mprintf("sluice_parquet: bad arguments ('%s', '%s', '%s')", argv[3],
                                  argv[4], argv[5]);
        sqlite3_free(decl);
        sqlite3_free(t);
        return SQLITE_ERROR;
    }
    sqlite3_free(decl);
    if (argc == 8) {
        sl_lake_vtab_dequote(argv[6], t->ref_root, sizeof t->ref_root);
        if (!t->ref_root[0] || sl_lake_vtab_kv_arg(argv[7], t->ref_key, sizeof t->ref_key)) {
            *errmsg = sqlite3_mprintf("sluice_parquet: bad reference lake ('%s', '%s')", argv[6],
                                      argv[7]);
            sqlite3_free(t);
            return SQLITE_ERROR;
        }
        if (sl_schema_find(&t->schema, "_ref") >= 0) { /* B's row id, never a column */
            *errmsg = sqlite3_mprintf("sluice_parquet: _ref is not a column of a table with a "
                                      "reference lake");
            sqlite3_free(t);
            return SQLITE_ERROR;
        }
    }
    sqlite3_str *ddl = sqlite3_str_new(db);
    sqlite3_str_appendall(ddl, "CREATE TABLE x(");
    for (int i = 0; i < t->schema.n; i++) {
        sl_type ty = t->schema.f[i].type;
        sqlite3_str_appendf(ddl, "%s\"%w\" %s", i ? ", " : "", t->schema.f[i].name,
                            ty == SL_T_DOUBLE                   ? "REAL"
                            : ty == SL_T_INT || ty == SL_T_BOOL ? "INTEGER"
                                                                : "TEXT");
    }
    sqlite3_str_appendall(ddl, ")");
    char *sql = sqlite3_str_finish(ddl);
    int rc = sql ? sqlite3_declare_vtab(db, sql) : SQLITE_NOMEM;
    sqlite3_free(sql);
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

static int prunable_op(unsigned char op) {
    return op == SQLITE_INDEX_CONSTRAINT_EQ || op == SQLITE_INDEX_CONSTRAINT_GT ||
           op == SQLITE_INDEX_CONSTRAINT_GE || op == SQLITE_INDEX_CONSTRAINT_LT ||
           op == SQLITE_INDEX_CONSTRAINT_LE;
}

/* idxStr lists the constraints handed to xFilter as "col:op," in argv order. */
static int vt_best_index(sqlite3_vtab *vt, sqlite3_index_info *info) {
    (void)vt;
    sqlite3_str *s = sqlite3_str_new(NULL);
    int n = 0;
    for (int i = 0; i < info->nConstraint && n < 64; i++) {
        const struct sqlite3_index_constraint *c = &info->aConstraint[i];
        if (!c->usable || c->iColumn < 0 || !prunable_op(c->op)) continue;
        info->aConstraintUsage[i].argvIndex = ++n;
        info->aConstraintUsage[i].omit = 0; /* row groups only: SQLite checks rows */
        sqlite3_str_appendf(s, "%d:%d,", c->iColumn, c->op);
    }
    info->idxNum = n;
    info->idxStr = sqlite3_str_finish(s);
    info->needToFreeIdxStr = 1;
    info->estimatedCost = n ? 1e8 : 1e9;
    info->estimatedRows = n ? 100000 : 1000000;
    return SQLITE_OK;
}

static int vt_open(sqlite3_vtab *vt, sqlite3_vtab_cursor **out) {
    (void)vt;
    pq_cursor *c = sqlite3_malloc(sizeof *c);
    if (!c) return SQLITE_NOMEM;
    memset(c, 0, sizeof *c);
    c->at_eof = 1;
    *out = &c->base;
    return SQLITE_OK;
}

static void seg_close(pq_cursor *c) {
    if (c->r) sl_pq_close_reader(c->r);
    c->r = NULL;
    c->seg = NULL;
    c->ref_fc = -1;
}

static void free_vals(pq_cursor *c) {
    for (int i = 0; i < c->ncons; i++)
        sqlite3_value_free(c->vals[i]);
    c->ncons = 0;
}

static int vt_close(sqlite3_vtab_cursor *cur) {
    pq_cursor *c = (pq_cursor *)cur;
    seg_close(c);
    free(c->scan.segs);
    free_vals(c);
    sl_lake_ref_close(c->ref);
    sqlite3_free(c);
    return SQLITE_OK;
}

static int cmp_i64(int64_t a, int64_t b) { return a < b ? -1 : a > b; }
static int cmp_dbl(double a, double b) { return a < b ? -1 : a > b; }

static int cmp_bytes(sl_str a, const unsigned char *b, int bn) {
    size_t n = a.len < (uint32_t)bn ? a.len : (size_t)bn;
    int r = n ? memcmp(a.ptr, b, n) : 0;
    return r ? (r < 0 ? -1 : 1) : cmp_i64(a.len, bn);
}

/* A timestamp's text prefix against a text value over the value's length
 * (at most TS_PREFIX): see the top of the file. 2: not comparable. */
static int cmp_ts_prefix(int64_t us, const unsigned char *v, int vn) {
    char buf[48];
    if (sl_store_format_ts(us, buf, sizeof buf) < TS_PREFIX || buf[4] != '-' || buf[10] != 'T')
        return 2;
    int k = vn < TS_PREFIX ? vn : TS_PREFIX;
    int r = memcmp(buf, v, (size_t)k);
    return r < 0 ? -1 : r > 0;
}

/* -1: every row's value is below v, 1: above, 0: can't tell; for min and
 * max separately: cmin = cmp(min, v), cmax = cmp(max, v). Returns 0 when
 * the statistics cannot be compared with v. */
static int stats_cmp(sl_type ty, const sl_pq_stats *st, sqlite3_value *v, int *cmin, int *cmax) {
    int vt = sqlite3_value_type(v);
    switch (ty) {
    case SL_T_INT:
    case SL_T_BOOL:
        if (vt == SQLITE_INTEGER) {
            int64_t x = sqlite3_value_int64(v);
            int64_t mn = ty == SL_T_BOOL ? st->min.b : st->min.i;
            int64_t mx = ty == SL_T_BOOL ? st->max.b : st->max.i;
            *cmin = cmp_i64(mn, x);
            *cmax = cmp_i64(mx, x);
            return 1;
        }
        if (vt == SQLITE_FLOAT && ty == SL_T_INT) {
            double x = sqlite3_value_double(v);
            *cmin = cmp_dbl((double)st->min.i, x);
            *cmax = cmp_dbl((double)st->max.i, x);
            /* (double) rounds beyond 2^53: equal after rounding proves nothing */
            return *cmin != 0 && *cmax != 0;
        }
        return 0;
    case SL_T_DOUBLE:
        if (vt == SQLITE_INTEGER || vt == SQLITE_FLOAT) {
            double x = sqlite3_value_double(v);
            if (st->min.d != st->min.d || st->max.d != st->max.d) return 0; /* NaN */
            *cmin = cmp_dbl(st->min.d, x);
            *cmax = cmp_dbl(st->max.d, x);
            return 1;
        }
        return 0;
    case SL_T_STRING:
        if (vt == SQLITE_TEXT) {
            const unsigned char *x = sqlite3_value_text(v);
            int xn = sqlite3_value_bytes(v);
            *cmin = cmp_bytes(st->min.s, x, xn);
            *cmax = cmp_bytes(st->max.s, x, xn);
            return 1;
        }
        return 0;
    case SL_T_TS:
        if (vt == SQLITE_TEXT) {
            const unsigned char *x = sqlite3_value_text(v);
            int xn = sqlite3_value_bytes(v);
            *cmin = cmp_ts_prefix(st->min.i, x, xn);
            *cmax = cmp_ts_prefix(st->max.i, x, xn);
            return *cmin != 2 && *cmax != 2;
        }
        return 0;
    default:
        return 0;
    }
}

/* 1 when no row of row group rg can satisfy the constraints. */
static int group_excluded(pq_cursor *c, int rg) {
    pq_vtab *t = (pq_vtab *)c->base.pVtab;
    for (int i = 0; i < c->ncons; i++) {
        int fc = c->fmap[c->cons[i].col];
        sqlite3_value *v = c->vals[i];
        if (sqlite3_value_type(v) == SQLITE_NULL) return 1; /* x op NULL is never true */
        sl_pq_stats st;
        sl_type ty;
        if (fc < 0) { /* a column gathered from B: B's statistics over the _ref range */
            sl_pq_stats rs;
            ty = t->schema.f[c->cons[i].col].type;
            if (c->ref_fc < 0 || !c->ref || sl_pq_chunk_stats(c->r, rg, c->ref_fc, &rs) != 0 ||
                !rs.has_min_max ||
                sl_lake_ref_range_stats(c->ref, t->schema.f[c->cons[i].col].name, ty, rs.min.i,
                                        rs.max.i, &st) != 0)
                continue;
        } else {
            if (sl_pq_chunk_stats(c->r, rg, fc, &st) != 0) continue;
            if (st.null_count >= 0 && st.null_count == sl_pq_row_group_rows(c->r, rg))
                return 1; /* every value NULL: no comparison is true */
            if (!st.has_min_max) continue;
            ty = sl_pq_schema(c->r)->f[fc].type;
            if (ty != t->schema.f[c->cons[i].col].type) continue;
        }
        int cmin, cmax;
        if (!stats_cmp(ty, &st, v, &cmin, &cmax)) continue;
        int timestamp = ty == SL_T_TS; /* prefix comparison: only strict results count */
        switch (c->cons[i].op) {
        case SQLITE_INDEX_CONSTRAINT_EQ:
            if (cmax < 0 || cmin > 0) return 1;
            break;
        case SQLITE_INDEX_CONSTRAINT_GT:
            if (cmax < 0 || (!timestamp && cmax == 0)) return 1;
            break;
        case SQLITE_INDEX_CONSTRAINT_GE:
            if (cmax < 0) return 1;
            break;
        case SQLITE_INDEX_CONSTRAINT_LT:
            if (cmin > 0 || (!timestamp && cmin == 0)) return 1;
            break;
        case SQLITE_INDEX_CONSTRAINT_LE:
            if (cmin > 0) return 1;
            break;
        }
    }
    return 0;
}

/* Opens a segment of the scan. *skipped when it vanished meanwhile. */
static int seg_open(pq_cursor *c, const sl_lake_segment *s, int *skipped) {
    pq_vtab *t = (pq_vtab *)c->base.pVtab;
    char abs[PATH_MAX + 256];
    const char *cold = c->scan.cold_root;
    int committed = strcmp(s->path, c->scan.pos_seg) == 0;
    int64_t limit = committed ? c->scan.pos_len : -1;
    *skipped = 0;
    if (committed && limit <= 4) { /* created, nothing committed in it yet */
        *skipped = 1;
        return SQLITE_OK;
    }
    snprintf(abs, sizeof abs, "%s/%s", s->cold ? cold : t->root, s->path);
    struct stat sb;
    if (stat(abs, &sb) != 0 && errno == ENOENT && !s->cold && cold[0]) {
        snprintf(abs, sizeof abs, "%s/%s", cold, s->path); /* moved since the listing */
        limit = -1;                                        /* the cold copy is rewritten whole */
    }
    if (stat(abs, &sb) != 0 && errno == ENOENT && !committed) { /* retention meanwhile */
        *skipped = 1;
        return SQLITE_OK;
    }
    sl_error err = {0, {0}};
    c->r = sl_pq_open(abs, limit, &err);
    if (!c->r) return vt_error(c->base.pVtab, "sluice_parquet: segment %s: %s", s->path, err.msg);
    const sl_schema *fs = sl_pq_schema(c->r);
    for (int i = 0; i < t->schema.n; i++)
        c->fmap[i] = sl_schema_find(fs, t->schema.f[i].name);
    c->ref_fc = sl_schema_find(fs, "_ref");
    if (c->ref_fc >= 0 && (fs->f[c->ref_fc].type != SL_T_INT || !c->ref))
        return vt_error(c->base.pVtab,
                        c->ref ? "sluice_parquet: segment %s: _ref is not an integer column"
                               : "sluice_parquet: segment %s references another lake table's "
                                 "rows (_ref) but the table names no reference lake",
                        s->path);
    c->ref_decoded = 0;
    memset(c->gathered, 0, sizeof c->gathered);
    c->seg = s;
    c->nrg = sl_pq_num_row_groups(c->r);
    c->rg = -1;
    c->row = c->rows = c->group_base = 0;
    memset(c->decoded, 0, sizeof c->decoded);
    return SQLITE_OK;
}

static int cursor_advance(pq_cursor *c) {
    for (;;) {
        if (c->r && ++c->row < c->rows) {
            c->rowid = (c->seg->seq << 32) | (c->group_base + c->row);
            return SQLITE_OK;
        }
        if (c->r && c->rg + 1 < c->nrg) {
            if (c->rg >= 0) c->group_base += sl_pq_row_group_rows(c->r, c->rg);
            c->rg++;
            c->row = -1;
            c->rows = 0;
            if (group_excluded(c, c->rg)) {
                c->groups_skipped++;
                continue;
            }
            c->groups_read++;
            c->rows = sl_pq_row_group_rows(c->r, c->rg);
            continue;
        }
        seg_close(c);
        if (c->next_seg >= c->scan.n) {
            c->at_eof = 1;
            return SQLITE_OK;
        }
        int skipped;
        int rc = seg_open(c, &c->scan.segs[c->next_seg++], &skipped);
        if (rc != SQLITE_OK) return rc;
    }
}

static int vt_filter(sqlite3_vtab_cursor *cur, int idx, const char *idxstr, int argc,
                     sqlite3_value **argv) {
    pq_cursor *c = (pq_cursor *)cur;
    pq_vtab *t = (pq_vtab *)cur->pVtab;
    seg_close(c);
    free(c->scan.segs);
    c->scan.segs = NULL;
    free_vals(c);
    const char *p = idxstr ? idxstr : "";
    for (int i = 0; i < idx && i < argc && *p; i++) {
        int col, op;
        if (sscanf(p, "%d:%d", &col, &op) != 2 || col < 0 || col >= t->schema.n) break;
        c->cons[c->ncons].col = col;
        c->cons[c->ncons].op = (unsigned char)op;
        c->vals[c->ncons] = sqlite3_value_dup(argv[i]);
        if (!c->vals[c->ncons]) return SQLITE_NOMEM;
        c->ncons++;
        p = strchr(p, ',');
        if (!p) break;
        p++;
    }
    c->next_seg = 0;
    c->rowid = 0;
    c->at_eof = 0;
    char *msg = NULL;
    int rc = sl_lake_scan_segments(t->db, t->root, t->kv_key, NULL, 0, &c->scan, &msg);
    if (rc != SQLITE_OK) {
        if (!msg) return rc;
        int e = vt_error(cur->pVtab, "sluice_parquet: %s", msg);
        sqlite3_free(msg);
        return e;
    }
    if (t->ref_root[0]) { /* after T's position: T's rows reference rows committed before */
        if (!c->ref)
            c->ref = sl_lake_ref_open(t->db, t->ref_root, t->ref_key, &msg);
        else if (sl_lake_ref_refresh(c->ref, &msg) != SQLITE_OK) {
            sl_lake_ref_close(c->ref);
            c->ref = NULL;
        }
        if (!c->ref) {
            if (!msg) return SQLITE_NOMEM;
            int e = vt_error(cur->pVtab, "sluice_parquet: reference lake %s: %s", t->ref_root, msg);
            sqlite3_free(msg);
            return e;
        }
    }
    return cursor_advance(c);
}

static int vt_next(sqlite3_vtab_cursor *cur) { return cursor_advance((pq_cursor *)cur); }

static int vt_eof(sqlite3_vtab_cursor *cur) { return ((pq_cursor *)cur)->at_eof; }

static void result_value(sqlite3_context *ctx, const sl_column *k, int64_t i) {
    if (k->null && k->null[i]) {
        sqlite3_result_null(ctx);
        return;
    }
    switch (k->type) {
    case SL_T_INT:
        sqlite3_result_int64(ctx, k->v.i[i]);
        break;
    case SL_T_DOUBLE:
        sqlite3_result_double(ctx, k->v.d[i]);
        break;
    case SL_T_BOOL:
        sqlite3_result_int(ctx, k->v.b[i] != 0);
        break;
    case SL_T_STRING:
        sqlite3_result_text64(ctx, k->v.s[i].ptr, k->v.s[i].len, SQLITE_TRANSIENT, SQLITE_UTF8);
        break;
    case SL_T_TS: {
        char buf[48];
        int n = sl_store_format_ts(k->v.i[i], buf, sizeof buf);
        sqlite3_result_text(ctx, buf, n, SQLITE_TRANSIENT);
        break;
    }
    default:
        sqlite3_result_null(ctx);
    }
}

/* Column `col` of the current row group gathered from the reference lake by
 * the row group's _ref values (decoded once per row group, shared by every
 * gathered column). */
static int gather_column(pq_cursor *c, int col) {
    pq_vtab *t = (pq_vtab *)c->base.pVtab;
    sl_error err = {0, {0}};
    if (c->ref_decoded != c->rg + 1) {
        if (sl_pq_read_column(c->r, c->rg, c->ref_fc, c->ref_fc, &c->ref_col, &err) != 0)
            return vt_error(c->base.pVtab, "sluice_parquet: segment %s: %s", c->seg->path, err.msg);
        if (c->ref_col.null)
            for (int64_t i = 0; i < c->rows; i++)
                if (c->ref_col.null[i])
                    return vt_error(c->base.pVtab,
                                    "sluice_parquet: segment %s: _ref is NULL at row %lld",
                                    c->seg->path, (long long)(c->group_base + i));
        c->ref_decoded = c->rg + 1;
    }
    if (sl_lake_ref_gather(c->ref, t->schema.f[col].name, t->schema.f[col].type, c->ref_col.v.i,
                           (uint32_t)c->rows, col, &c->gcols[col], &err) != 0)
        return vt_error(c->base.pVtab, "sluice_parquet: segment %s: %s", c->seg->path, err.msg);
    c->gathered[col] = c->rg + 1;
    return SQLITE_OK;
}

static int vt_column(sqlite3_vtab_cursor *cur, sqlite3_context *ctx, int col) {
    pq_cursor *c = (pq_cursor *)cur;
    int fc = col >= 0 && col < SL_MAX_COLUMNS ? c->fmap[col] : -1;
    if (!c->r || (fc < 0 && (c->ref_fc < 0 || col < 0 || col >= SL_MAX_COLUMNS))) {
        sqlite3_result_null(ctx);
        return SQLITE_OK;
    }
    if (fc < 0) { /* absent from a ref segment: B's value */
        if (c->gathered[col] != c->rg + 1) {
            int rc = gather_column(c, col);
            if (rc != SQLITE_OK) return rc;
        }
        result_value(ctx, &c->gcols[col], c->row);
        return SQLITE_OK;
    }
    sl_column *k = &c->cols[fc];
    if (c->decoded[fc] != c->rg + 1) {
        sl_error err = {0, {0}};
        if (sl_pq_read_column(c->r, c->rg, fc, fc, k, &err) != 0)
            return vt_error(cur->pVtab, "sluice_parquet: segment %s: %s", c->seg->path, err.msg);
        c->decoded[fc] = c->rg + 1;
    }
    result_value(ctx, k, c->row);
    return SQLITE_OK;
}

static int vt_rowid(sqlite3_vtab_cursor *cur, sqlite3_int64 *rowid) {
    *rowid = ((pq_cursor *)cur)->rowid;
    return SQLITE_OK;
}

static const sqlite3_module parquet_module = {
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

int sl_parquet_vtab_register(sqlite3 *db) {
    return sqlite3_create_module_v2(db, "sluice_parquet", &parquet_module, NULL, NULL);
}
