/*
 * join.c - `join`: enrich rows with another table of the pipeline (a
 * stream-table join), or with the version of an scd2 history valid at the
 * row's time (a temporal join).
 *
 *   - join: {table: dim_resources, on: resource_id, columns: [org_id, service], how: quarantine}
 *   - join: {table: dim_org_plan, on: org_id, as_of: event_ts, columns: {plan: plan_tier}}
 *
 * The other table is a side input (op.h): the engine compiles it first,
 * passes its output schema in env->side_schema and calls join_side() with
 * every batch of rows it outputs (the rows written by a row-level table, the
 * rows emitted by a window table). Like Kafka Streams' global tables, the
 * sources feeding it are read first (engine/loop.c), so master data present
 * before the events is always seen by them.
 *
 * State: key hash (sl_key_hash over the key columns, as dedupe keys) ->
 * the first of the key's entries, chained by `next` in effective_from order.
 * Without as_of a key has one entry and the last row of the key wins (the
 * other table's output is read as an upsert changelog). With as_of every
 * version is kept: a row with the effective_from of a held version replaces
 * it (scd2 re-emits a version as an upsert when it closes it), any other is
 * inserted in order. The probe takes the version with
 * effective_from <= as_of < effective_to (effective_to NULL: open). Values
 * are owned copies: fixed-size cells in one array (ncols per entry), string
 * bytes in one pool that is compacted when garbage from replaced values
 * outweighs the live bytes. The probe path allocates nothing: matched
 * strings are copied into the batch's arena (the pool may move on the next
 * side batch while a sink still holds the row).
 *
 * Entries are never removed (correctness first: a late event may need an old
 * version); `max_keys` bounds the keys, and rows of further keys are refused
 * and counted. Snapshots: full = every entry, delta = the entries changed
 * since the previous snapshot (restore upserts them by key and
 * effective_from), with the counters, so the state and stats survive a
 * SIGKILL exactly.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/arena.h"
#include "core/hash.h"
#include "core/mem.h"
#include "core/timeutil.h"
#include "ops/op.h"

#define MAX_KEYS 8
#define MAX_COLS 64
#define SEED 0x101a
#define SNAP_MAGIC INT64_C(0x314e494f4a) /* "JOIN1" */
#define OPEN_END INT64_MAX               /* effective_to NULL */

typedef struct {
    union {
        int64_t i; /* INT, TS, BOOL */
        double d;
        struct {
            uint32_t off, len; /* bytes in the pool */
        } s;
    } u;
    uint8_t null;
} jval;

typedef struct {
    uint64_t h;
    int64_t from, to; /* temporal: the version's validity; else 0, OPEN_END */
    int32_t next;     /* the key's next entry (later effective_from), -1: none */
    uint8_t dirty;    /* in the dirty list */
} jent;

enum { HOW_LEFT, HOW_INNER, HOW_QUARANTINE }; /* the order of `how`'s words */

typedef struct {
    char table[SL_NAME_MAX];
    int non, on[MAX_KEYS];                /* probe columns */
    int key[MAX_KEYS];                    /* the other table's key columns */
    int ncols;                            /* columns added */
    int src[MAX_COLS];                    /* ... their column in the other table's rows */
    int out[MAX_COLS];                    /* ... their column in these rows */
    sl_type type[MAX_COLS];               /* ... their type */
    char src_name[MAX_COLS][SL_NAME_MAX]; /* ... their name in the other table (snapshots) */
    int as_of;                            /* temporal: the time column of these rows, else -1 */
    int c_from, c_to;                     /* temporal: effective_from/to in the other table */
    int how;
    int64_t max_keys; /* 0: unbounded */
    sl_hmap *map;     /* key hash -> first entry */
    jent *ent;
    size_t nent, cap_ent;
    jval *vals; /* ncols per entry */
    char *pool;
    size_t pool_n, pool_cap, pool_live;
    int32_t *dirty;
    size_t ndirty, cap_dirty;
    int64_t matched, unmatched, refused;
    uint8_t *keep;
    uint32_t keep_cap;
    char labels[2 * SL_NAME_MAX + 32];
} join_op;

typedef struct {
    const char *table;
    const sl_node *table_at;
    const sl_node *on;
    const sl_node *key;
    const sl_node *columns;
    int how;
    const char *as_of;
    const sl_node *as_of_at;
    int64_t max_keys;
} join_conf;

static const sl_opt join_opts[] = {
    {"table", SL_OPT_STRING, true, NULL, NULL, "another table of this pipeline to join with",
     SL_OPT_BIND(join_conf, table), SL_OPT_AT(join_conf, table_at)},
    {"on", SL_OPT_LIST, true, NULL, NULL, "column(s) of these rows to match",
     SL_OPT_BIND(join_conf, on)},
    {"key", SL_OPT_LIST, false, NULL, NULL,
     "the other table's column(s) to match, in the order of on (default: the names in on)",
     SL_OPT_BIND(join_conf, key)},
    {"columns", SL_OPT_ANY, false, NULL, NULL,
     "the other table's columns to add: [a, b], or {new_name: column} (default: every column "
     "but the key, _group and those these rows have)",
     SL_OPT_BIND(join_conf, columns)},
    {"how", SL_OPT_ENUM, false, "left|inner|quarantine", "left",
     "unmatched rows: keep with NULLs (left), drop and count (inner), or quarantine",
     SL_OPT_BIND(join_conf, how)},
    {"as_of", SL_OPT_STRING, false, NULL, NULL,
     "temporal join: a timestamp column of these rows; the other table is an scd2 table and the "
     "row gets the version with effective_from <= as_of < effective_to",
     SL_OPT_BIND(join_conf, as_of), SL_OPT_AT(join_conf, as_of_at)},
    {"max_keys", SL_OPT_INT, false, NULL, "0",
     "most keys held (0: no bound); rows of further keys are refused and counted (refused)",
     SL_OPT_BIND(join_conf, max_keys), SL_OPT_MIN(0)},
    {0},
};

static int add_column(join_op *o, sl_schema *schema, const sl_schema *side, const sl_node *where,
                      const char *name, const char *col, sl_error *err) {
    if (o->ncols == MAX_COLS)
        return sl_node_error(err, where, "join: at most %d columns", MAX_COLS);
    int k = sl_schema_find(side, col);
    if (k < 0)
        return sl_node_error(err, where, "join: table '%s' has no column '%s'", o->table, col);
    if (!strcmp(name, "_group"))
        return sl_node_error(err, where,
                             "join: a column named _group would make this an upsert table; "
                             "rename it ({new_name: _group})");
    int c = sl_schema_add(schema, name, side->f[k].type);
    if (c < 0)
        return sl_node_error(err, where,
                             "join: column '%s' already exists here (rename it: {%s_%s: %s})", name,
                             o->table, name, col);
    o->src[o->ncols] = k;
    o->out[o->ncols] = c;
    o->type[o->ncols] = side->f[k].type;
    snprintf(o->src_name[o->ncols], SL_NAME_MAX, "%s", col);
    o->ncols++;
    return 0;
}

static bool is_key_col(const join_op *o, int k) {
    for (int j = 0; j < o->non; j++)
        if (o->key[j] == k) return true;
    return false;
}

static int join_create(const sl_node *arg, sl_schema *schema, const sl_op_env *env, void **self,
                       sl_error *err) {
    join_conf c;
    if (sl_spec_bind(arg, join_opts, "join", &c, err)) return SL_EINVAL;
    const sl_schema *side = env ? env->side_schema : NULL;
    if (!side) /* the engine resolves `table` before it creates the step */
        return sl_node_error(err, c.table_at ? c.table_at : arg,
                             "join: table '%s' is not a table of this pipeline", c.table);
    join_op *o = sl_xcalloc(1, sizeof *o);
    snprintf(o->table, sizeof o->table, "%s", c.table);
    o->how = c.how;
    o->max_keys = c.max_keys;
    o->as_of = o->c_from = o->c_to = -1;
    int non = sl_node_list_len(c.on);
    if (non < 1 || non > MAX_KEYS) {
        sl_node_error(err, c.on, "join: on names 1 to %d columns", MAX_KEYS);
        goto fail;
    }
    if (c.key && sl_node_list_len(c.key) != non) {
        sl_node_error(err, c.key, "join: key names %d column(s), on names %d",
                      sl_node_list_len(c.key), non);
        goto fail;
    }
    for (int i = 0; i < non; i++) {
        const sl_node *on = sl_node_list_at(c.on, i);
        const sl_node *kn = c.key ? sl_node_list_at(c.key, i) : on;
        int a = on->str ? sl_schema_find(schema, on->str) : -1;
        if (a < 0) {
            sl_node_error(err, on, "join: unknown column '%s'", on->str ? on->str : "");
            goto fail;
        }
        int b = kn->str ? sl_schema_find(side, kn->str) : -1;
        if (b < 0) {
            sl_node_error(err, kn, "join: table '%s' has no column '%s'", o->table,
                          kn->str ? kn->str : "");
            goto fail;
        }
        if (schema->f[a].type != side->f[b].type) {
            sl_node_error(err, kn, "join: '%s' is %s here but %s.%s is %s", on->str,
                          sl_type_name(schema->f[a].type), o->table, kn->str,
                          sl_type_name(side->f[b].type));
            goto fail;
        }
        o->on[i] = a;
        o->key[i] = b;
    }
    o->non = non;
    if (c.as_of) {
        o->as_of = sl_schema_find(schema, c.as_of);
        if (o->as_of < 0 || schema->f[o->as_of].type != SL_T_TS) {
            sl_node_error(err, c.as_of_at, "join: as_of needs a timestamp column, '%s' is %s",
                          c.as_of, o->as_of < 0 ? "not a column" : "not a timestamp");
            goto fail;
        }
        o->c_from = sl_schema_find(side, "effective_from");
        o->c_to = sl_schema_find(side, "effective_to");
        if (o->c_from < 0 || o->c_to < 0 || side->f[o->c_from].type != SL_T_TS ||
            side->f[o->c_to].type != SL_T_TS) {
            sl_node_error(err, c.as_of_at,
                          "join: as_of needs an scd2 table (effective_from and effective_to "
                          "timestamps); '%s' has none",
                          o->table);
            goto fail;
        }
    }
    const sl_node *cols = c.columns;
    if (cols && cols->kind == SL_NODE_MAP) {
        for (int i = 0; i < cols->n; i++) {
            const sl_node *v = cols->map[i].val;
            if (v->kind != SL_NODE_SCALAR || !v->str) {
                sl_node_error(err, v, "join: columns: expected new_name: column");
                goto fail;
            }
            if (add_column(o, schema, side, v, cols->map[i].key, v->str, err)) goto fail;
        }
    } else if (cols) {
        int n = sl_node_list_len(cols);
        for (int i = 0; i < n; i++) {
            const sl_node *v = sl_node_list_at(cols, i);
            if (!v || v->kind != SL_NODE_SCALAR || !v->str) {
                sl_node_error(err, v ? v : cols, "join: columns: expected a column name");
                goto fail;
            }
            if (add_column(o, schema, side, v, v->str, v->str, err)) goto fail;
        }
    } else {
        for (int k = 0; k < side->n; k++) {
            const char *nm = side->f[k].name;
            if (is_key_col(o, k) || !strcmp(nm, "_group") || sl_schema_find(schema, nm) >= 0)
                continue;
            if (add_column(o, schema, side, arg, nm, nm, err)) goto fail;
        }
    }
    snprintf(o->labels, sizeof o->labels, "join=\"%s\",on=\"%s\"", o->table,
             schema->f[o->on[0]].name);
    o->map = sl_hmap_new(64);
    *self = o;
    return 0;
fail:
    free(o);
    return SL_EINVAL;
}

/* ---- state ---------------------------------------------------------------- */

static void pool_reserve(join_op *o, size_t n) {
    if (o->pool_n + n <= o->pool_cap) return;
    size_t cap = o->pool_cap ? o->pool_cap : 4096;
    while (cap < o->pool_n + n)
        cap *= 2;
    o->pool = sl_xrealloc(o->pool, cap);
    o->pool_cap = cap;
}

/* Replaced strings leave garbage in the pool: rebuild it from the live
 * values when the garbage is larger than what is live. */
static void pool_compact(join_op *o) {
    if (o->pool_n < 65536 || o->pool_n < 2 * o->pool_live) return;
    char *np = sl_xmalloc(o->pool_live ? o->pool_live : 1);
    size_t w = 0;
    for (size_t e = 0; e < o->nent; e++)
        for (int c = 0; c < o->ncols; c++) {
            jval *v = &o->vals[e * (size_t)o->ncols + (size_t)c];
            if (o->type[c] != SL_T_STRING || v->null) continue;
            memcpy(np + w, o->pool + v->u.s.off, v->u.s.len);
            v->u.s.off = (uint32_t)w;
            w += v->u.s.len;
        }
    free(o->pool);
    o->pool = np;
    o->pool_n = w;
    o->pool_cap = o->pool_live ? o->pool_live : 1;
}

static void set_string(join_op *o, jval *v, const char *p, uint32_t len) {
    pool_reserve(o, len);
    memcpy(o->pool + o->pool_n, p, len);
    v->u.s.off = (uint32_t)o->pool_n;
    v->u.s.len = len;
    o->pool_n += len;
    o->pool_live += len;
}

static void release_values(join_op *o, size_t e) {
    for (int c = 0; c < o->ncols; c++) {
        jval *v = &o->vals[e * (size_t)o->ncols + (size_t)c];
        if (o->type[c] == SL_T_STRING && !v->null) o->pool_live -= v->u.s.len;
        v->null = 1;
    }
}

static void mark_dirty(join_op *o, size_t e) {
    if (o->ent[e].dirty) return;
    o->ent[e].dirty = 1;
    if (o->ndirty == o->cap_dirty) {
        o->cap_dirty = o->cap_dirty ? o->cap_dirty * 2 : 64;
        o->dirty = sl_xrealloc(o->dirty, o->cap_dirty * sizeof *o->dirty);
    }
    o->dirty[o->ndirty++] = (int32_t)e;
}

static size_t new_entry(join_op *o, uint64_t h, int64_t from, int64_t to) {
    if (o->nent == o->cap_ent) {
        o->cap_ent = o->cap_ent ? o->cap_ent * 2 : 64;
        o->ent = sl_xrealloc(o->ent, o->cap_ent * sizeof *o->ent);
        o->vals =
            sl_xrealloc(o->vals, o->cap_ent * (size_t)(o->ncols ? o->ncols : 1) * sizeof *o->vals);
    }
    size_t e = o->nent++;
    o->ent[e] = (jent){h, from, to, -1, 0};
    for (int c = 0; c < o->ncols; c++)
        o->vals[e * (size_t)o->ncols + (size_t)c].null = 1;
    return e;
}

/* The entry for (h, from): found, or made in from order. -1: a new key
 * over max_keys (refused). */
static int64_t upsert(join_op *o, uint64_t h, int64_t from, int64_t to) {
    int64_t *head = sl_hmap_get(o->map, h);
    if (!head) {
        if (o->max_keys && (int64_t)sl_hmap_count(o->map) >= o->max_keys) {
            o->refused++;
            return -1;
        }
        size_t e = new_entry(o, h, from, to);
        sl_hmap_put(o->map, h, (int64_t)e, NULL);
        return (int64_t)e;
    }
    if (o->as_of < 0) { /* one entry per key: the last row wins */
        release_values(o, (size_t)*head);
        return *head;
    }
    int32_t prev = -1, cur = (int32_t)*head;
    while (cur >= 0 && o->ent[cur].from < from) {
        prev = cur;
        cur = o->ent[cur].next;
    }
    if (cur >= 0 && o->ent[cur].from == from) {
        o->ent[cur].to = to;
        release_values(o, (size_t)cur);
        return cur;
    }
    size_t e = new_entry(o, h, from, to); /* may move o->ent: `head` is not used after this */
    o->ent[e].next = cur;
    if (prev < 0)
        *sl_hmap_get(o->map, h) = (int64_t)e;
    else
        o->ent[prev].next = (int32_t)e;
    return (int64_t)e;
}

/* Side input: every row the other table outputs. */
static void join_side(void *self, const sl_batch *b, sl_op_ctx *ctx) {
    (void)ctx;
    join_op *o = self;
    for (uint32_t i = 0; i < b->n; i++) {
        bool null_key = false;
        for (int k = 0; k < o->non; k++)
            null_key |= b->col[o->key[k]].null[i] != 0;
        if (null_key) continue; /* matches nothing, as a NULL `on` matches nothing */
        int64_t from = 0, to = OPEN_END;
        if (o->as_of >= 0) {
            if (b->col[o->c_from].null[i]) continue;
            from = b->col[o->c_from].v.i[i];
            if (!b->col[o->c_to].null[i]) to = b->col[o->c_to].v.i[i];
        }
        int64_t e = upsert(o, sl_key_hash(b, o->key, o->non, i, SEED), from, to);
        if (e < 0) continue;
        for (int c = 0; c < o->ncols; c++) {
            const sl_column *sc = &b->col[o->src[c]];
            jval *v = &o->vals[(size_t)e * (size_t)o->ncols + (size_t)c];
            v->null = sc->null[i];
            if (v->null) continue;
            switch (o->type[c]) {
            case SL_T_STRING:
                set_string(o, v, sc->v.s[i].ptr, sc->v.s[i].len);
                break;
            case SL_T_DOUBLE:
                v->u.d = sc->v.d[i];
                break;
            case SL_T_BOOL:
                v->u.i = sc->v.b[i];
                break;
            default:
                v->u.i = sc->v.i[i];
                break;
            }
        }
        mark_dirty(o, (size_t)e);
    }
    pool_compact(o);
}

/* ---- probe ---------------------------------------------------------------- */

/* The entry row i matches, or -1. */
static int64_t probe(join_op *o, const sl_batch *b, uint32_t i) {
    for (int k = 0; k < o->non; k++)
        if (b->col[o->on[k]].null[i]) return -1;
    int64_t *head = sl_hmap_get(o->map, sl_key_hash(b, o->on, o->non, i, SEED));
    if (!head) return -1;
    if (o->as_of < 0) return *head;
    if (b->col[o->as_of].null[i]) return -1;
    int64_t t = b->col[o->as_of].v.i[i];
    for (int32_t e = (int32_t)*head; e >= 0 && o->ent[e].from <= t; e = o->ent[e].next)
        if (t < o->ent[e].to) return e;
    return -1;
}

/* "join: no dim_resources row for resource_id=r-17" */
static void reason_of(const join_op *o, const sl_batch *b, uint32_t i, char *out, size_t cap) {
    size_t n = (size_t)snprintf(out, cap, "join: no %s row for ", o->table);
    for (int k = 0; k < o->non && n < cap; k++) {
        const sl_column *c = &b->col[o->on[k]];
        const char *name = b->schema.f[o->on[k]].name;
        const char *sep = k ? "," : "";
        if (c->null[i])
            n += (size_t)snprintf(out + n, cap - n, "%s%s=NULL", sep, name);
        else if (c->type == SL_T_STRING)
            n += (size_t)snprintf(out + n, cap - n, "%s%s=%.*s", sep, name,
                                  (int)(c->v.s[i].len > 200 ? 200 : c->v.s[i].len), c->v.s[i].ptr);
        else if (c->type == SL_T_DOUBLE)
            n += (size_t)snprintf(out + n, cap - n, "%s%s=%.17g", sep, name, c->v.d[i]);
        else if (c->type == SL_T_BOOL)
            n += (size_t)snprintf(out + n, cap - n, "%s%s=%s", sep, name,
                                  c->v.b[i] ? "true" : "false");
        else if (c->type == SL_T_TS) {
            char ts[64];
            sl_time_format_iso_us(c->v.i[i], ts, sizeof ts);
            n += (size_t)snprintf(out + n, cap - n, "%s%s=%s", sep, name, ts);
        } else
            n += (size_t)snprintf(out + n, cap - n, "%s%s=%" PRId64, sep, name, c->v.i[i]);
    }
}

static int join_process(void *self, sl_batch *b, sl_op_ctx *ctx, sl_error *err) {
    (void)err;
    join_op *o = self;
    if (o->keep_cap < b->cap) {
        free(o->keep);
        o->keep = sl_xmalloc(b->cap);
        o->keep_cap = b->cap;
    }
    uint32_t miss = 0;
    for (uint32_t i = 0; i < b->n; i++) {
        int64_t e = probe(o, b, i);
        o->keep[i] = 1;
        if (e < 0) {
            miss++;
            for (int c = 0; c < o->ncols; c++)
                sl_col_set_null(&b->col[o->out[c]], i);
            if (o->how == HOW_LEFT) continue;
            o->keep[i] = 0;
            if (o->how == HOW_QUARANTINE) {
                char reason[512];
                reason_of(o, b, i, reason, sizeof reason);
                ctx->quarantine(ctx->engine, b, i, reason);
            }
            continue;
        }
        const jval *v = &o->vals[(size_t)e * (size_t)o->ncols];
        for (int c = 0; c < o->ncols; c++) {
            sl_column *dc = &b->col[o->out[c]];
            if (v[c].null) {
                sl_col_set_null(dc, i);
                continue;
            }
            switch (o->type[c]) {
            case SL_T_STRING: {
                /* a copy: the pool moves when the other table sends more rows */
                char *p = sl_arena_alloc(b->arena, v[c].u.s.len ? v[c].u.s.len : 1);
                memcpy(p, o->pool + v[c].u.s.off, v[c].u.s.len);
                sl_col_set_str(dc, i, p, v[c].u.s.len);
                break;
            }
            case SL_T_DOUBLE:
                sl_col_set_double(dc, i, v[c].u.d);
                break;
            case SL_T_BOOL:
                sl_col_set_bool(dc, i, v[c].u.i != 0);
                break;
            default:
                sl_col_set_int(dc, i, v[c].u.i);
                break;
            }
        }
    }
    o->matched += b->n - miss;
    o->unmatched += miss;
    if (miss && o->how != HOW_LEFT) {
        if (o->how == HOW_QUARANTINE)
            ctx->quarantined += miss;
        else
            ctx->dropped += miss;
        sl_batch_keep(b, o->keep);
    }
    return 0;
}

/* ---- snapshots ------------------------------------------------------------ */

static void put_entry(const join_op *o, sl_buf *out, size_t e) {
    const jent *x = &o->ent[e];
    sl_buf_put_i64(out, (int64_t)x->h);
    sl_buf_put_i64(out, x->from);
    sl_buf_put_i64(out, x->to);
    for (int c = 0; c < o->ncols; c++) {
        const jval *v = &o->vals[e * (size_t)o->ncols + (size_t)c];
        unsigned char nul = v->null;
        sl_buf_put(out, &nul, 1);
        if (nul) continue;
        if (o->type[c] == SL_T_STRING)
            sl_buf_put_str(out, o->pool + v->u.s.off, v->u.s.len);
        else
            sl_buf_put(out, &v->u, 8);
    }
}

/* Header: magic, temporal or not, the columns (name in the other table and
 * type: a restart whose columns changed, e.g. the other table gained one by
 * schema evolution, keeps the values of the columns it still has), the
 * counters, the entry count. */
static int join_snapshot(void *self, sl_buf *out, bool full) {
    join_op *o = self;
    sl_buf_put_i64(out, SNAP_MAGIC);
    sl_buf_put_i64(out, o->as_of >= 0);
    sl_buf_put_i64(out, o->ncols);
    for (int c = 0; c < o->ncols; c++) {
        sl_buf_put_str(out, o->src_name[c], (uint32_t)strlen(o->src_name[c]));
        sl_buf_put_i64(out, o->type[c]);
    }
    sl_buf_put_i64(out, o->matched);
    sl_buf_put_i64(out, o->unmatched);
    sl_buf_put_i64(out, o->refused);
    sl_buf_put_i64(out, full ? (int64_t)o->nent : (int64_t)o->ndirty);
    if (full)
        for (size_t e = 0; e < o->nent; e++)
            put_entry(o, out, e);
    else
        for (size_t d = 0; d < o->ndirty; d++)
            put_entry(o, out, (size_t)o->dirty[d]);
    for (size_t d = 0; d < o->ndirty; d++)
        o->ent[o->dirty[d]].dirty = 0;
    o->ndirty = 0;
    return 0;
}

static void clear_state(join_op *o) {
    sl_hmap_clear(o->map);
    o->nent = o->ndirty = 0;
    o->pool_n = o->pool_live = 0;
}

static int corrupt(const join_op *o, sl_error *err) {
    return sl_error_set(err, SL_ECORRUPT, "join %s: corrupt snapshot", o->table);
}

static int join_restore(void *self, const void *data, size_t n, bool full, sl_error *err) {
    join_op *o = self;
    sl_rd r = {data, n, 0};
    int64_t magic, temporal, ncols, cnt;
    if (full) clear_state(o);
    if (sl_rd_i64(&r, &magic) || magic != SNAP_MAGIC || sl_rd_i64(&r, &temporal) ||
        sl_rd_i64(&r, &ncols) || ncols < 0 || ncols > MAX_COLS)
        return corrupt(o, err);
    if (temporal != (o->as_of >= 0))
        return sl_error_set(err, SL_ECORRUPT,
                            "join %s: the state was saved by a join %s as_of; start from a new "
                            "data directory",
                            o->table, temporal ? "with" : "without");
    int to[MAX_COLS];       /* saved column -> column now, -1: gone */
    sl_type type[MAX_COLS]; /* the saved column's type */
    for (int c = 0; c < ncols; c++) {
        const char *name;
        uint32_t len;
        int64_t t;
        if (sl_rd_str(&r, &name, &len) || sl_rd_i64(&r, &t)) return corrupt(o, err);
        type[c] = (sl_type)t;
        to[c] = -1;
        for (int k = 0; k < o->ncols; k++)
            if (o->type[k] == type[c] && strlen(o->src_name[k]) == len &&
                !memcmp(o->src_name[k], name, len))
                to[c] = k;
    }
    if (sl_rd_i64(&r, &o->matched) || sl_rd_i64(&r, &o->unmatched) || sl_rd_i64(&r, &o->refused) ||
        sl_rd_i64(&r, &cnt) || cnt < 0)
        return corrupt(o, err);
    int64_t refused = o->refused;
    for (int64_t k = 0; k < cnt; k++) {
        int64_t h, from, till;
        if (sl_rd_i64(&r, &h) || sl_rd_i64(&r, &from) || sl_rd_i64(&r, &till))
            return corrupt(o, err);
        int64_t e = upsert(o, (uint64_t)h, from, till); /* every value NULL */
        for (int c = 0; c < ncols; c++) {
            unsigned char nul;
            jval tmp, *v = &tmp;
            if (e >= 0 && to[c] >= 0) v = &o->vals[(size_t)e * (size_t)o->ncols + (size_t)to[c]];
            if (sl_rd_bytes(&r, &nul, 1)) return corrupt(o, err);
            v->null = nul;
            if (nul) continue;
            if (type[c] == SL_T_STRING) {
                const char *str;
                uint32_t len;
                if (sl_rd_str(&r, &str, &len)) return corrupt(o, err);
                if (v != &tmp) set_string(o, v, str, len);
            } else if (sl_rd_bytes(&r, &v->u, 8)) {
                return corrupt(o, err);
            }
        }
    }
    o->refused = refused; /* the saved count: a replay refuses nothing new */
    for (size_t d = 0; d < o->ndirty; d++)
        o->ent[o->dirty[d]].dirty = 0;
    o->ndirty = 0;
    pool_compact(o);
    return 0;
}

/* ---- stats ---------------------------------------------------------------- */

static size_t state_bytes(const join_op *o) {
    return sizeof *o + sl_hmap_bytes(o->map) + o->cap_ent * sizeof *o->ent +
           o->cap_ent * (size_t)o->ncols * sizeof *o->vals + o->pool_cap +
           o->cap_dirty * sizeof *o->dirty + o->keep_cap;
}

static int join_stats(void *self, sl_op_stat *out, int cap) {
    join_op *o = self;
    size_t keys = sl_hmap_count(o->map), bytes = state_bytes(o);
    sl_op_stat s[] = {
        {"keys", (double)keys, true, "join_keys", "keys held by a join step", o->labels},
        {"versions", (double)o->nent, true},
        {"bytes", (double)bytes, true, "join_state_bytes", "bytes held by a join step", o->labels},
        {"bytes_per_key", keys ? (double)bytes / (double)keys : 0.0, true},
        {"matched", (double)o->matched, false, "join_matched_total",
         "rows a join step found a match for", o->labels},
        {"unmatched", (double)o->unmatched, false, "join_unmatched_total",
         "rows a join step found no match for", o->labels},
        {"refused", (double)o->refused, false, "join_refused_total",
         "rows of the other table refused by max_keys", o->labels},
    };
    return sl_op_stats_copy(out, cap, s, (int)(sizeof s / sizeof s[0]));
}

static void join_destroy(void *self) {
    join_op *o = self;
    sl_hmap_free(o->map);
    free(o->ent);
    free(o->vals);
    free(o->pool);
    free(o->dirty);
    free(o->keep);
    free(o);
}

const sl_op_def sl_op_join = {
    .name = "join",
    .opts = join_opts,
    .help = "add columns of another table of the pipeline by key (stream-table join), or of the "
            "scd2 version valid at as_of (temporal join)",
    .create = join_create,
    .process = join_process,
    .snapshot = join_snapshot,
    .restore = join_restore,
    .stats = join_stats,
    .destroy = join_destroy,
    .side_opt = "table",
    .side = join_side,
};
