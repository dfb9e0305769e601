/*
 * lookup.c - lookup join against a CSV file (a broadcast/temporal join).
 *
 *   - lookup: {file: locations.csv, on: geographical_location_oid,
 *              key: geographical_location_oid, columns: [geographical_location],
 *              how: left}
 *
 * The CSV is loaded into a hash map from key hash to a row of owned values.
 * `how: left` (default) keeps unmatched rows with NULL columns; `inner`
 * drops them. The file is reloaded when its mtime or size changes (checked
 * at most once per `check_every`). A reload that fails, or that yields no
 * valid row (an empty or header-only file, an unreadable one), keeps the old
 * table and logs a warning (`reloads_refused`), so a half-written lookup file
 * never empties a join. Bad rows (a wrong field count, a key or column value
 * that does not parse as its type, an empty key, bad quoting) are skipped and
 * counted (`bad_rows`), with one warning per load naming the first bad line.
 * Values are copied into one buffer per load; the previous load is freed at
 * the next reload, after every batch that referenced it has been written.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/mem.h"
#include "core/hash.h"
#include "core/log.h"
#include "core/timeutil.h"
#include "formats/csv.h"
#include "ops/op.h"

typedef struct {
    int64_t i;
    double d;
    sl_str s;
    uint8_t null;
} lk_val;

typedef struct {
    sl_hmap *map; /* key hash -> row index */
    lk_val *vals; /* nrows * ncols */
    char *text;   /* string storage */
    int64_t nrows;
} lk_table;

typedef struct {
    char path[PATH_MAX];
    char path_js[6 * PATH_MAX]; /* path escaped for JSON log lines */
    int on_col;                 /* stream column */
    sl_type on_type;
    char key_name[SL_NAME_MAX];
    int ncols;
    char col_name[32][SL_NAME_MAX];
    sl_type col_type[32];
    int out_col[32]; /* batch columns */
    bool inner;
    int64_t check_every;
    int64_t last_check;
    struct timespec mtime;
    off_t size;
    lk_table cur, old;
    bool loaded;
    int64_t matched, unmatched, reloads;
    int64_t bad_rows, reloads_refused;
    uint8_t *keep;
    uint32_t keep_cap;
} lookup_op;

enum { HOW_LEFT, HOW_INNER }; /* the order of `how`'s words */

typedef struct {
    char file[SL_PATH_MAX]; /* relative: to the pipeline file */
    const char *on;
    const sl_node *on_at;
    const char *key; /* NULL: same as on */
    const sl_node *columns;
    int how;
    int64_t check_every;
} lookup_conf;

static const sl_opt lookup_opts[] = {
    {"file", SL_OPT_PATH, true, NULL, NULL, "CSV file with a header row",
     SL_OPT_BIND(lookup_conf, file)},
    {"on", SL_OPT_STRING, true, NULL, NULL, "stream column to match", SL_OPT_BIND(lookup_conf, on),
     SL_OPT_AT(lookup_conf, on_at)},
    {"key", SL_OPT_STRING, false, NULL, NULL, "CSV column to match (default: the same as on)",
     SL_OPT_BIND(lookup_conf, key)},
    {"columns", SL_OPT_ANY, true, NULL, NULL,
     "CSV columns to add: [a, b] (strings) or {a: int, b: string}",
     SL_OPT_BIND(lookup_conf, columns)},
    {"how", SL_OPT_ENUM, false, "left|inner", "left", "keep (left) or drop (inner) unmatched rows",
     SL_OPT_BIND(lookup_conf, how)},
    {"check_every", SL_OPT_DURATION, false, NULL, "1s", "how often to check the file for changes",
     SL_OPT_BIND(lookup_conf, check_every)},
    {0},
};

static uint64_t key_hash_int(int64_t v) { return sl_hash_int(v, 0x10c4); }
static uint64_t key_hash_str(const char *p, size_t n) { return sl_hash_bytes(p, n, 0x10c4); }

static void table_free(lk_table *t) {
    if (t->map) sl_hmap_free(t->map);
    free(t->vals);
    free(t->text);
    memset(t, 0, sizeof *t);
}

static int parse_cell(const sl_str *f, sl_type t, lk_val *v, char **text, size_t *tused) {
    v->null = f->len == 0;
    if (v->null) return 0;
    char tmp[64];
    switch (t) {
    case SL_T_INT:
    case SL_T_TS: {
        if (f->len >= sizeof tmp) return -1;
        memcpy(tmp, f->ptr, f->len);
        tmp[f->len] = 0;
        char *end;
        errno = 0;
        v->i = strtoll(tmp, &end, 10);
        return (*end || errno) ? -1 : 0;
    }
    case SL_T_DOUBLE: {
        if (f->len >= sizeof tmp) return -1;
        memcpy(tmp, f->ptr, f->len);
        tmp[f->len] = 0;
        char *end;
        v->d = strtod(tmp, &end);
        return *end ? -1 : 0;
    }
    case SL_T_BOOL:
        v->i = (f->len == 4 && !strncmp(f->ptr, "true", 4)) || (f->len == 1 && f->ptr[0] == '1');
        return 0;
    default:
        memcpy(*text + *tused, f->ptr, f->len);
        v->s.ptr = (const char *)(uintptr_t)*tused; /* offset, fixed up after load */
        v->s.len = f->len;
        *tused += f->len;
        return 0;
    }
}

/* Loads the file into t. Rows that are skipped are counted in *bad, and
 * *first_bad is the line where the first of them began (0: none). */
static int load(lookup_op *o, lk_table *t, int64_t *bad_out, int *first_bad, sl_error *err) {
    *bad_out = 0;
    *first_bad = 0;
    FILE *fp = fopen(o->path, "rb");
    if (!fp)
        return sl_error_set(err, SL_EIO, "lookup: cannot open %s: %s", o->path, strerror(errno));
    struct stat st;
    fstat(fileno(fp), &st);
    size_t len = (size_t)st.st_size;
    char *buf = sl_xmalloc(len + 1);
    if (len && fread(buf, 1, len, fp) != len) {
        fclose(fp);
        free(buf);
        return sl_error_set(err, SL_EIO, "lookup: cannot read %s", o->path);
    }
    fclose(fp);
    o->mtime = st.st_mtim;
    o->size = st.st_size;
    memset(t, 0, sizeof *t);
    t->text = sl_xmalloc(len + 1);
    size_t tused = 0;
    sl_csv *c = sl_csv_new(buf, len, ',');
    sl_str *f;
    int nf, rc;
    int keyi = -1, coli[32];
    sl_error e = {0};
    rc = sl_csv_next(c, &f, &nf, &e);
    if (rc != 1) {
        sl_csv_free(c);
        free(buf);
        table_free(t);
        return sl_error_set(err, SL_EPARSE, "lookup: %s: no header row%s%s", o->path,
                            rc < 0 ? ": " : "", rc < 0 ? e.msg : "");
    }
    int nhdr = nf;
    for (int j = 0; j < o->ncols; j++)
        coli[j] = -1;
    for (int k = 0; k < nf; k++) {
        if (f[k].len == strlen(o->key_name) && !memcmp(f[k].ptr, o->key_name, f[k].len)) keyi = k;
        for (int j = 0; j < o->ncols; j++)
            if (f[k].len == strlen(o->col_name[j]) && !memcmp(f[k].ptr, o->col_name[j], f[k].len))
                coli[j] = k;
    }
    const char *missing = keyi < 0 ? o->key_name : NULL;
    for (int j = 0; j < o->ncols && !missing; j++)
        if (coli[j] < 0) missing = o->col_name[j];
    if (missing) {
        sl_csv_free(c);
        free(buf);
        table_free(t);
        return sl_error_set(err, SL_EINVAL, "lookup: %s has no column '%s'", o->path, missing);
    }
    int64_t cap = 1024;
    t->vals = sl_xmalloc((size_t)cap * (size_t)o->ncols * sizeof(lk_val));
    t->map = sl_hmap_new(1024);
    int64_t bad = 0;
#define LK_BAD()                                                                                   \
    {                                                                                              \
        if (!bad++) *first_bad = sl_csv_record_line(c);                                            \
        continue;                                                                                  \
    }
    while ((rc = sl_csv_next(c, &f, &nf, &e)) != 0) {
        if (rc < 0 || nf != nhdr) LK_BAD();
        lk_val kv = {0};
        if (f[keyi].len == 0) LK_BAD(); /* an empty key is NULL: it can match nothing */
        if (parse_cell(&f[keyi], o->on_type == SL_T_STRING ? SL_T_INT : o->on_type, &kv, &t->text,
                       &tused) &&
            o->on_type != SL_T_STRING)
            LK_BAD();
        uint64_t h =
            o->on_type == SL_T_STRING ? key_hash_str(f[keyi].ptr, f[keyi].len) : key_hash_int(kv.i);
        if (t->nrows == cap) {
            cap *= 2;
            t->vals = sl_xrealloc(t->vals, (size_t)cap * (size_t)o->ncols * sizeof(lk_val));
        }
        lk_val *row = &t->vals[t->nrows * o->ncols];
        int ok = 1;
        for (int j = 0; j < o->ncols; j++) {
            if (coli[j] >= nf || parse_cell(&f[coli[j]], o->col_type[j], &row[j], &t->text, &tused))
                ok = 0;
        }
        if (!ok) LK_BAD();
        int64_t *slot;
        if (sl_hmap_put(t->map, h, t->nrows, &slot))
            t->nrows++;
        else
            *slot = t->nrows, t->nrows++; /* last row with a key wins */
    }
#undef LK_BAD
    sl_csv_free(c);
    free(buf);
    for (int64_t r = 0; r < t->nrows; r++)
        for (int j = 0; j < o->ncols; j++)
            if (o->col_type[j] == SL_T_STRING && !t->vals[r * o->ncols + j].null)
                t->vals[r * o->ncols + j].s.ptr =
                    t->text + (uintptr_t)t->vals[r * o->ncols + j].s.ptr;
    *bad_out = bad;
    o->bad_rows += bad;
    return 0;
}

static int lookup_create(const sl_node *arg, sl_schema *schema, const sl_op_env *env, void **self,
                         sl_error *err) {
    lookup_conf c;
    if (sl_spec_bind(arg, lookup_opts, "lookup", &c, err)) return SL_EINVAL;
    lookup_op *o = sl_xcalloc(1, sizeof *o);
    (void)env;                                       /* the path is resolved by the binder */
    snprintf(o->path, sizeof o->path, "%s", c.file); /* (spec.h sl_spec_path) */
    sl_json_escape(o->path_js, sizeof o->path_js, o->path, (int)strlen(o->path));
    const sl_node *on = c.on_at;
    o->on_col = sl_schema_find(schema, c.on);
    if (o->on_col < 0) {
        sl_node_error(err, on, "unknown column '%s'", c.on);
        goto fail;
    }
    o->on_type = schema->f[o->on_col].type;
    if (o->on_type != SL_T_INT && o->on_type != SL_T_STRING) {
        sl_node_error(err, on, "lookup key must be an int or string column, '%s' is %s", c.on,
                      sl_type_name(o->on_type));
        goto fail;
    }
    snprintf(o->key_name, sizeof o->key_name, "%s", c.key ? c.key : c.on);
    const sl_node *cn = c.columns;
    int n = cn->kind == SL_NODE_SCALAR ? 1 : cn->n;
    if (n > 32 || n < 1) {
        sl_node_error(err, cn, "columns: 1 to 32 columns");
        goto fail;
    }
    for (int j = 0; j < n; j++) {
        const char *name;
        sl_type t = SL_T_STRING;
        const sl_node *pos = cn;
        if (cn->kind == SL_NODE_SCALAR)
            name = cn->str;
        else if (cn->kind == SL_NODE_SEQ) {
            pos = cn->seq[j];
            if (pos->kind != SL_NODE_SCALAR) {
                sl_node_error(err, pos, "expected a column name");
                goto fail;
            }
            name = pos->str;
        } else {
            name = cn->map[j].key;
            pos = cn->map[j].val;
            int tt = pos->kind == SL_NODE_SCALAR ? sl_type_parse(pos->str) : -1;
            if (tt < 0) {
                sl_node_error(err, pos, "unknown type '%s' (use int, double, string, bool)",
                              pos->str ? pos->str : "");
                goto fail;
            }
            t = (sl_type)tt;
        }
        snprintf(o->col_name[j], SL_NAME_MAX, "%s", name);
        o->col_type[j] = t;
        o->out_col[j] = sl_schema_add(schema, name, t);
        if (o->out_col[j] < 0) {
            sl_node_error(err, pos, "column '%s' already exists in the stream", name);
            goto fail;
        }
    }
    o->ncols = n;
    o->inner = c.how == HOW_INNER;
    o->check_every = c.check_every;
    /* The file is loaded when the pipeline runs (first batch), so validate,
     * lineage and query work without it. */
    o->loaded = false;
    *self = o;
    return 0;
fail:
    free(o);
    return SL_EINVAL;
}

static void log_bad_rows(const lookup_op *o, const char *msg, int64_t bad, int first_bad) {
    sl_log_warn(msg, "\"file\":\"%s\",\"bad_rows\":%lld,\"first_bad_line\":%d", o->path_js,
                (long long)bad, first_bad);
}

static void maybe_reload(lookup_op *o) {
    int64_t now = sl_monotonic_us();
    if (now - o->last_check < o->check_every) return;
    o->last_check = now;
    struct stat st;
    if (stat(o->path, &st)) return;
    if (st.st_size == o->size && st.st_mtim.tv_sec == o->mtime.tv_sec &&
        st.st_mtim.tv_nsec == o->mtime.tv_nsec)
        return;
    lk_table t;
    sl_error e = {0};
    int64_t bad;
    int first_bad;
    if (load(o, &t, &bad, &first_bad, &e)) {
        char m[6 * SL_ERROR_MAX];
        sl_json_escape(m, sizeof m, e.msg, (int)strlen(e.msg));
        o->reloads_refused++;
        sl_log_warn("lookup reload failed; keeping the previous table",
                    "\"file\":\"%s\",\"error\":\"%s\"", o->path_js, m);
        return;
    }
    if (t.nrows == 0) { /* header only, or every row bad: never empty a join */
        table_free(&t);
        o->reloads_refused++;
        sl_log_warn("lookup reload has no valid rows; keeping the previous table",
                    "\"file\":\"%s\",\"bad_rows\":%lld,\"first_bad_line\":%d,\"rows_kept\":%lld",
                    o->path_js, (long long)bad, first_bad, (long long)o->cur.nrows);
        return;
    }
    table_free(&o->old);
    o->old = o->cur;
    o->cur = t;
    o->reloads++;
    if (bad) log_bad_rows(o, "lookup reload skipped bad rows", bad, first_bad);
    sl_log_info("lookup reloaded", "\"file\":\"%s\",\"rows\":%lld", o->path_js, (long long)t.nrows);
}

static int lookup_process(void *self, sl_batch *b, sl_op_ctx *ctx, sl_error *err) {
    lookup_op *o = self;
    if (!o->loaded) {
        int64_t bad;
        int first_bad;
        if (load(o, &o->cur, &bad, &first_bad, err)) return err->code;
        if (bad) log_bad_rows(o, "lookup file has bad rows", bad, first_bad);
        o->loaded = true;
        o->last_check = sl_monotonic_us();
    }
    maybe_reload(o);
    if (!b->n) return 0;
    if (o->keep_cap < b->cap) {
        free(o->keep);
        o->keep = sl_xmalloc(b->cap);
        o->keep_cap = b->cap;
    }
    const sl_column *on = &b->col[o->on_col];
    uint32_t miss = 0;
    for (uint32_t i = 0; i < b->n; i++) {
        int64_t *ri = NULL;
        if (!on->null[i]) {
            uint64_t h = o->on_type == SL_T_STRING ? key_hash_str(on->v.s[i].ptr, on->v.s[i].len)
                                                   : key_hash_int(on->v.i[i]);
            ri = sl_hmap_get(o->cur.map, h);
        }
        o->keep[i] = ri != NULL || !o->inner;
        if (!ri) {
            miss++;
            for (int j = 0; j < o->ncols; j++)
                sl_col_set_null(&b->col[o->out_col[j]], i);
            continue;
        }
        const lk_val *row = &o->cur.vals[*ri * o->ncols];
        for (int j = 0; j < o->ncols; j++) {
            sl_column *c = &b->col[o->out_col[j]];
            if (row[j].null) {
                sl_col_set_null(c, i);
                continue;
            }
            switch (o->col_type[j]) {
            case SL_T_STRING:
                sl_col_set_str(c, i, row[j].s.ptr, row[j].s.len);
                break;
            case SL_T_DOUBLE:
                sl_col_set_double(c, i, row[j].d);
                break;
            case SL_T_BOOL:
                sl_col_set_bool(c, i, row[j].i != 0);
                break;
            default:
                sl_col_set_int(c, i, row[j].i);
                break;
            }
        }
    }
    o->matched += b->n - miss;
    o->unmatched += miss;
    if (o->inner && miss) {
        ctx->filtered += miss;
        sl_batch_keep(b, o->keep);
    }
    return 0;
}

static int lookup_stats(void *self, sl_op_stat *out, int cap) {
    lookup_op *o = self;
    sl_op_stat s[] = {
        {"lookup_rows", (double)o->cur.nrows, true},
        {"matched", (double)o->matched},
        {"unmatched", (double)o->unmatched},
        {"reloads", (double)o->reloads},
        {"reloads_refused", (double)o->reloads_refused},
        {"bad_rows", (double)o->bad_rows},
    };
    return sl_op_stats_copy(out, cap, s, (int)(sizeof s / sizeof s[0]));
}

static void lookup_destroy(void *self) {
    lookup_op *o = self;
    table_free(&o->cur);
    table_free(&o->old);
    free(o->keep);
    free(o);
}

const sl_op_def sl_op_lookup = {
    .name = "lookup",
    .keeps_values = sl_op_keeps_values_always,
    .opts = lookup_opts,
    .help = "join each row with a CSV lookup table by key (left or inner); reloads when the file "
            "changes",
    .create = lookup_create,
    .process = lookup_process,
    .stats = lookup_stats,
    .destroy = lookup_destroy,
};
