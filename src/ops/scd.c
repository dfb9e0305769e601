/*
 * scd.c - `scd2`: a slowly changing dimension of type 2 (history kept as versions).
 *
 *   - scd2: {key: [entity_id], track: [firmware, location], time: event_ts}
 *
 * Input rows are attribute observations of an entity (a full snapshot row or a
 * change event, it makes no difference). Per key the operator remembers the
 * current version: its tracked attribute values, effective_from and version
 * number. For each row, in order:
 *   - first row of a key          -> one row: version 1 opened
 *                                    (effective_from = t, effective_to NULL, is_active true)
 *   - tracked attributes unchanged -> nothing (the row is dropped)
 *   - changed, t > effective_from  -> two rows: the current version closed
 *                                    (its own attribute values, effective_to = t,
 *                                    is_active false) and version+1 opened at t
 *   - changed, t == effective_from -> one row: the current version corrected in place
 *   - t < effective_from           -> nothing, counted as out_of_order
 *   - t NULL                       -> nothing, counted as no_time
 * So versions of a key are ordered by event time and never overlap; a change
 * older than the current version's start cannot be inserted into the history
 * and is ignored (put a watermark step with a delay before scd2 so that records
 * arriving out of order within the delay are late-quarantined or sorted out
 * upstream; `out_of_order` in the event log says how many were ignored).
 *
 * Added columns: effective_from, effective_to (timestamps), is_active (bool),
 * version (int, 1, 2, ... per key) and _group (int) = hash(key, effective_from).
 * The engine upserts tables with a `_group` column, so closing a version is an
 * upsert of that version's row: the table holds exactly one row per version.
 * Columns other than the key and the tracked ones come from the record that
 * wrote the row last (for a closed version: the record that closed it).
 *
 * Equality: values are compared by a byte encoding (NULL equals NULL, strings
 * by bytes, doubles by bit pattern). Keys are 64-bit XXH3 hashes, as in dedupe.
 *
 * Output size: a batch of n rows can produce up to 2n rows. When that exceeds
 * the batch's capacity the batch's arrays are enlarged (batch_grow below: every
 * array of an sl_batch is its own heap block of `cap` entries, see batch.c), so
 * nothing is lost; a table with an scd2 step should be a leaf of the graph
 * (child tables are loaded into batches of the pipeline's batch_size).
 *
 * State: one slot per key in a pooled array (key hash -> slot through an
 * sl_hmap), the tracked values of the current version as an encoded blob per
 * slot (reallocated only when a change needs a larger blob, never for an
 * unchanged row). Snapshots: full = every slot; delta = the slots changed since
 * the previous snapshot (restore upserts them).
 *
 * Partitioned state (env->part_column, op.h): the partition column is one
 * more key column and each slot keeps its partition's tag (snapshot magic
 * SCD2T), so a partition's current versions move alone.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/mem.h"
#include "core/hash.h"
#include "ops/op.h"

#define MAX_KEY_COLS 16
#define MAX_TRACK 64
#define SNAP_MAGIC INT64_C(0x3244435300) /* "SCD2" */
#define SNAP_MAGIC_TAGGED                                                                          \
    INT64_C(0x3244435354) /* "SCD2T": each slot followed by its partition tag */

typedef struct {
    uint64_t h;
    uint64_t tag;    /* partitioned state: the key's partition tag */
    int64_t from;    /* effective_from of the current version, µs */
    int64_t version; /* 1, 2, ... */
    unsigned char *blob;
    uint32_t len, cap;
    uint8_t dirty;
} scd_slot;

typedef struct {
    int nkeys, key[MAX_KEY_COLS + 1];
    int part_col; /* partitioned state: the partition column, else -1 */
    int ntrack, track[MAX_TRACK];
    int time_col;
    int c_from, c_to, c_active, c_version, c_group;
    /* state */
    sl_hmap *index; /* key hash -> slot index */
    scd_slot *slots;
    size_t nslots, slots_cap;
    uint32_t *dirty;
    size_t ndirty, dirty_cap;
    /* counters */
    int64_t rows, opened, closed, unchanged, corrected, out_of_order, no_time, grown;
    /* scratch */
    sl_batch *in;   /* copy of the input batch */
    sl_buf enc;     /* encoding of the row being looked at */
    uint32_t *plan; /* per output row: source row << 2 | kind */
    int64_t *plan_from, *plan_to, *plan_ver;
    unsigned char **plan_old; /* close rows: old blob copy (arena) */
    uint32_t plan_cap;
} scd_op;

enum { K_OPEN = 0, K_CLOSE = 1, K_FIX = 2 };

typedef struct {
    const sl_node *key, *track;
    const char *time;
    const sl_node *time_at;
} scd_conf;

static const sl_opt scd_opts[] = {
    {"key", SL_OPT_LIST, true, NULL, NULL, "column(s) identifying the entity",
     SL_OPT_BIND(scd_conf, key)},
    {"track", SL_OPT_LIST, true, NULL, NULL, "attribute column(s) whose change opens a new version",
     SL_OPT_BIND(scd_conf, track)},
    {"time", SL_OPT_STRING, false, NULL, "event_ts",
     "timestamp column giving the time of a change (from a watermark or derive step)",
     SL_OPT_BIND(scd_conf, time), SL_OPT_AT(scd_conf, time_at)},
    {0},
};

/* ---------------------------------------------------------------- create */

static int add_cols(const sl_node *list, const sl_schema *schema, int *out, int *n, int max,
                    const char *what, sl_error *err) {
    int len = sl_node_list_len(list);
    if (len == 0) return sl_node_error(err, list, "scd2: %s needs at least one column", what);
    if (len > max) return sl_node_error(err, list, "scd2: at most %d %s columns", max, what);
    for (int i = 0; i < len; i++) {
        const sl_node *c = sl_node_list_at(list, i);
        int idx = c && c->kind == SL_NODE_SCALAR ? sl_schema_find(schema, c->str) : -1;
        if (idx < 0)
            return sl_node_error(err, c ? c : list, "scd2: unknown column '%s'",
                                 c && c->kind == SL_NODE_SCALAR ? c->str : "?");
        out[(*n)++] = idx;
    }
    return 0;
}

static int scd_create(const sl_node *arg, sl_schema *schema, const sl_op_env *env, void **self,
                      sl_error *err) {
    scd_conf c;
    if (sl_spec_bind(arg, scd_opts, "scd2", &c, err)) return SL_EINVAL;
    scd_op *o = sl_xcalloc(1, sizeof *o);
    if (!o) return sl_error_set(err, SL_ENOMEM, "out of memory");
    if (add_cols(c.key, schema, o->key, &o->nkeys, MAX_KEY_COLS, "key", err) ||
        add_cols(c.track, schema, o->track, &o->ntrack, MAX_TRACK, "track", err))
        goto fail;
    o->part_col = -1;
    if (env && env->part_column && (o->part_col = sl_schema_find(schema, env->part_column)) >= 0)
        o->key[o->nkeys++] = o->part_col;
    for (int i = 0; i < o->ntrack; i++)
        for (int k = 0; k < o->nkeys; k++)
            if (o->track[i] == o->key[k]) {
                sl_node_error(err, c.track, "scd2: column '%s' is both a key and tracked",
                              schema->f[o->key[k]].name);
                goto fail;
            }
    o->time_col = sl_schema_find(schema, c.time);
    if (o->time_col < 0 || schema->f[o->time_col].type != SL_T_TS) {
        sl_node_error(err, c.time_at ? c.time_at : arg,
                      "scd2 needs a timestamp column '%s' (add a watermark step before it, or "
                      "name one with time:)",
                      c.time);
        goto fail;
    }
    static const struct {
        const char *name;
        sl_type t;
    } added[] = {{"effective_from", SL_T_TS},
                 {"effective_to", SL_T_TS},
                 {"is_active", SL_T_BOOL},
                 {"version", SL_T_INT},
                 {"_group", SL_T_INT}};
    int *dst[] = {&o->c_from, &o->c_to, &o->c_active, &o->c_version, &o->c_group};
    for (int i = 0; i < 5; i++) {
        *dst[i] = sl_schema_add(schema, added[i].name, added[i].t);
        if (*dst[i] < 0) {
            sl_node_error(err, arg, "scd2: column '%s' already exists (or too many columns)",
                          added[i].name);
            goto fail;
        }
    }
    o->index = sl_hmap_new(1024);
    *self = o;
    return 0;
fail:
    free(o);
    return SL_EINVAL;
}

/* ---------------------------------------------------------------- helpers */

static inline uint64_t row_key(const scd_op *o, const sl_batch *b, uint32_t i) {
    return sl_key_hash(b, o->key, o->nkeys, i, 0x5cd2);
}

/* The version's row identity: stable across restarts and replays. Kept
 * positive so it reads the same in every tool. */
static int64_t version_group(uint64_t key_hash, int64_t from) {
    return (int64_t)(sl_hash_int(from, key_hash ^ 0x9e3779b97f4a7c15ULL) >> 1);
}

/* Encodes row i's tracked values into o->enc (tag byte + value per column). */
static void encode_row(scd_op *o, const sl_batch *b, uint32_t i) {
    o->enc.n = 0;
    for (int t = 0; t < o->ntrack; t++) {
        const sl_column *c = &b->col[o->track[t]];
        unsigned char tag = c->null[i] ? 0 : 1;
        sl_buf_put(&o->enc, &tag, 1);
        if (!tag) continue;
        switch (c->type) {
        case SL_T_STRING:
            sl_buf_put_str(&o->enc, c->v.s[i].ptr, c->v.s[i].len);
            break;
        case SL_T_BOOL:
            sl_buf_put(&o->enc, &c->v.b[i], 1);
            break;
        case SL_T_DOUBLE:
            sl_buf_put(&o->enc, &c->v.d[i], sizeof(double));
            break;
        default:
            sl_buf_put(&o->enc, &c->v.i[i], sizeof(int64_t));
            break;
        }
    }
}

/* Writes an encoded blob back into the tracked columns of row r of b;
 * strings are views into blob, which must live as long as the batch. */
static void decode_into(const scd_op *o, sl_batch *b, uint32_t r, const unsigned char *blob) {
    size_t off = 0;
    for (int t = 0; t < o->ntrack; t++) {
        sl_column *c = &b->col[o->track[t]];
        unsigned char tag = blob[off++];
        if (!tag) {
            sl_col_set_null(c, r);
            continue;
        }
        switch (c->type) {
        case SL_T_STRING: {
            uint32_t len;
            memcpy(&len, blob + off, sizeof len);
            off += sizeof len;
            sl_col_set_str(c, r, (const char *)blob + off, len);
            off += len;
            break;
        }
        case SL_T_BOOL:
            sl_col_set_bool(c, r, blob[off] != 0);
            off += 1;
            break;
        case SL_T_DOUBLE: {
            double d;
            memcpy(&d, blob + off, sizeof d);
            sl_col_set_double(c, r, d);
            off += sizeof d;
            break;
        }
        default: {
            int64_t v;
            memcpy(&v, blob + off, sizeof v);
            sl_col_set_int(c, r, v);
            off += sizeof v;
            break;
        }
        }
    }
}

static void mark_dirty(scd_op *o, uint32_t s) {
    if (o->slots[s].dirty) return;
    o->slots[s].dirty = 1;
    if (o->ndirty == o->dirty_cap) {
        o->dirty_cap = o->dirty_cap ? o->dirty_cap * 2 : 256;
        o->dirty = sl_xrealloc(o->dirty, o->dirty_cap * sizeof *o->dirty);
        if (!o->dirty) abort();
    }
    o->dirty[o->ndirty++] = s;
}

static void slot_set_blob(scd_slot *s, const unsigned char *p, uint32_t len) {
    if (len > s->cap) {
        s->cap = len < 32 ? 32 : len;
        s->blob = sl_xrealloc(s->blob, s->cap);
        if (!s->blob) abort();
    }
    if (len) memcpy(s->blob, p, len);
    s->len = len;
}

/* Slot for key h, created (zeroed, version 0) when absent. */
static uint32_t slot_get(scd_op *o, uint64_t h, bool *created) {
    int64_t *pv;
    if (!sl_hmap_put(o->index, h, (int64_t)o->nslots, &pv)) {
        *created = false;
        return (uint32_t)*pv;
    }
    if (o->nslots == o->slots_cap) {
        o->slots_cap = o->slots_cap ? o->slots_cap * 2 : 256;
        o->slots = sl_xrealloc(o->slots, o->slots_cap * sizeof *o->slots);
        if (!o->slots) abort();
    }
    memset(&o->slots[o->nslots], 0, sizeof o->slots[0]);
    o->slots[o->nslots].h = h;
    *created = true;
    return (uint32_t)o->nslots++;
}

static void *grow_array(void *p, size_t old_n, size_t new_n, size_t sz, int fill) {
    unsigned char *q = sl_xrealloc(p, new_n * sz);
    if (!q) abort();
    memset(q + old_n * sz, fill, (new_n - old_n) * sz);
    return q;
}

/* Enlarges every array of b to hold cap rows (see the file comment). */
static void batch_grow(sl_batch *b, uint32_t cap) {
    if (cap <= b->cap) return;
    for (int c = 0; c < b->schema.n; c++) {
        sl_column *col = &b->col[c];
        size_t sz = col->type == SL_T_BOOL     ? 1
                    : col->type == SL_T_STRING ? sizeof(sl_str)
                    : col->type == SL_T_DOUBLE ? sizeof(double)
                                               : sizeof(int64_t);
        col->null = grow_array(col->null, b->cap, cap, 1, 1);
        col->v.p = grow_array(col->v.p, b->cap, cap, sz, 0);
    }
    b->part = grow_array(b->part, b->cap, cap, sizeof *b->part, 0);
    b->pos = grow_array(b->pos, b->cap, cap, sizeof *b->pos, 0);
    b->ingest = grow_array(b->ingest, b->cap, cap, sizeof *b->ingest, 0);
    b->raw = grow_array(b->raw, b->cap, cap, sizeof *b->raw, 0);
    b->ref = grow_array(b->ref, b->cap, cap, sizeof *b->ref, 0);
    b->cap = cap;
}

static void plan_reserve(scd_op *o, uint32_t n) {
    if (n <= o->plan_cap) return;
    uint32_t cap = o->plan_cap ? o->plan_cap : 1024;
    while (cap < n)
        cap *= 2;
    o->plan = sl_xrealloc(o->plan, cap * sizeof *o->plan);
    o->plan_from = sl_xrealloc(o->plan_from, cap * sizeof *o->plan_from);
    o->plan_to = sl_xrealloc(o->plan_to, cap * sizeof *o->plan_to);
    o->plan_ver = sl_xrealloc(o->plan_ver, cap * sizeof *o->plan_ver);
    o->plan_old = sl_xrealloc(o->plan_old, cap * sizeof *o->plan_old);
    if (!o->plan || !o->plan_from || !o->plan_to || !o->plan_ver || !o->plan_old) abort();
    o->plan_cap = cap;
}

/* Copies row j of src (all columns and provenance) to row r of dst. */
static void copy_row(sl_batch *dst, uint32_t r, const sl_batch *src, uint32_t j) {
    for (int c = 0; c < src->schema.n; c++) {
        sl_column *d = &dst->col[c];
        const sl_column *s = &src->col[c];
        d->null[r] = s->null[j];
        switch (s->type) {
        case SL_T_BOOL:
            d->v.b[r] = s->v.b[j];
            break;
        case SL_T_STRING:
            d->v.s[r] = s->v.s[j];
            break;
        case SL_T_DOUBLE:
            d->v.d[r] = s->v.d[j];
            break;
        default:
            d->v.i[r] = s->v.i[j];
            break;
        }
    }
    dst->part[r] = src->part[j];
    dst->pos[r] = src->pos[j];
    dst->ingest[r] = src->ingest[j];
    dst->raw[r] = src->raw[j];
}

/* ---------------------------------------------------------------- process */

static int scd_process(void *self, sl_batch *b, sl_op_ctx *ctx, sl_error *err) {
    (void)ctx;
    (void)err;
    scd_op *o = self;
    if (!b->n) return 0;
    o->rows += b->n;
    plan_reserve(o, 2 * b->n);
    const sl_column *tc = &b->col[o->time_col];
    uint32_t np = 0;
    /* Pass 1: decide, update state, and record what each output row is. Old
     * blobs of closed versions are copied into the batch's arena, because
     * the slot's blob is overwritten by the new version. */
    for (uint32_t i = 0; i < b->n; i++) {
        if (tc->null[i]) {
            o->no_time++;
            continue;
        }
        int64_t t = tc->v.i[i];
        uint64_t h = row_key(o, b, i);
        encode_row(o, b, i);
        bool created;
        uint32_t s = slot_get(o, h, &created);
        scd_slot *sl = &o->slots[s];
        if (created && o->part_col >= 0 && !b->col[o->part_col].null[i])
            sl->tag = sl_part_tag(b->col[o->part_col].v.s[i].ptr, b->col[o->part_col].v.s[i].len);
        if (created) {
            sl->from = t;
            sl->version = 1;
            slot_set_blob(sl, o->enc.p, (uint32_t)o->enc.n);
            mark_dirty(o, s);
            o->opened++;
            o->plan[np] = i << 2 | K_OPEN;
            o->plan_from[np] = t;
            o->plan_ver[np] = 1;
            np++;
            continue;
        }
        if (sl->len == o->enc.n && !memcmp(sl->blob, o->enc.p, o->enc.n)) {
            o->unchanged++;
            continue;
        }
        if (t < sl->from) {
            o->out_of_order++;
            continue;
        }
        if (t == sl->from) { /* a correction of the current version */
            slot_set_blob(sl, o->enc.p, (uint32_t)o->enc.n);
            mark_dirty(o, s);
            o->corrected++;
            o->plan[np] = i << 2 | K_FIX;
            o->plan_from[np] = t;
            o->plan_ver[np] = sl->version;
            np++;
            continue;
        }
        unsigned char *old = sl_arena_alloc(b->arena, sl->len ? sl->len : 1);
        memcpy(old, sl->blob, sl->len);
        o->plan[np] = i << 2 | K_CLOSE;
        o->plan_from[np] = sl->from;
        o->plan_to[np] = t;
        o->plan_ver[np] = sl->version;
        o->plan_old[np] = old;
        np++;
        sl->from = t;
        sl->version++;
        slot_set_blob(sl, o->enc.p, (uint32_t)o->enc.n);
        mark_dirty(o, s);
        o->closed++;
        o->opened++;
        o->plan[np] = i << 2 | K_OPEN;
        o->plan_from[np] = t;
        o->plan_ver[np] = sl->version;
        np++;
    }
    /* Pass 2: materialise the plan from a copy of the input. */
    if (!o->in || o->in->cap < b->n || o->in->schema.n != b->schema.n) {
        sl_batch_free(o->in);
        o->in = sl_batch_new(&b->schema, b->cap);
    }
    o->in->n = 0;
    sl_batch_copy(o->in, b);
    if (np > b->cap) {
        batch_grow(b, np);
        o->grown++;
    }
    for (uint32_t r = 0; r < np; r++) {
        uint32_t j = o->plan[r] >> 2, kind = o->plan[r] & 3;
        copy_row(b, r, o->in, j);
        uint64_t h = row_key(o, o->in, j);
        sl_col_set_int(&b->col[o->c_from], r, o->plan_from[r]);
        sl_col_set_int(&b->col[o->c_version], r, o->plan_ver[r]);
        sl_col_set_int(&b->col[o->c_group], r, version_group(h, o->plan_from[r]));
        if (kind == K_CLOSE) {
            decode_into(o, b, r, o->plan_old[r]);
            sl_col_set_int(&b->col[o->c_to], r, o->plan_to[r]);
            sl_col_set_bool(&b->col[o->c_active], r, false);
        } else {
            sl_col_set_null(&b->col[o->c_to], r);
            sl_col_set_bool(&b->col[o->c_active], r, true);
        }
    }
    for (uint32_t r = np; r < b->n; r++)
        for (int c = 0; c < b->schema.n; c++)
            b->col[c].null[r] = 1;
    b->n = np;
    return 0;
}

/* ---------------------------------------------------------------- snapshot */

static void put_slot(const scd_op *o, sl_buf *out, const scd_slot *s) {
    sl_buf_put(out, &s->h, sizeof s->h);
    if (o->part_col >= 0) sl_buf_put(out, &s->tag, sizeof s->tag);
    sl_buf_put_i64(out, s->from);
    sl_buf_put_i64(out, s->version);
    sl_buf_put_str(out, (const char *)s->blob, s->len);
}

static int scd_snapshot(void *self, sl_buf *out, bool full) {
    scd_op *o = self;
    sl_buf_put_i64(out, o->part_col >= 0 ? SNAP_MAGIC_TAGGED : SNAP_MAGIC);
    int64_t c[8] = {o->rows,      o->opened,       o->closed,  o->unchanged,
                    o->corrected, o->out_of_order, o->no_time, o->grown};
    for (int i = 0; i < 8; i++)
        sl_buf_put_i64(out, c[i]);
    size_t n = full ? o->nslots : o->ndirty;
    sl_buf_put_i64(out, (int64_t)n);
    for (size_t k = 0; k < n; k++)
        put_slot(o, out, &o->slots[full ? k : o->dirty[k]]);
    for (size_t k = 0; k < o->ndirty; k++)
        o->slots[o->dirty[k]].dirty = 0;
    o->ndirty = 0;
    return 0;
}

static int scd_snapshot_parts(void *self, sl_buf *out, const sl_part_set *only) {
    scd_op *o = self;
    sl_buf_put_i64(out, SNAP_MAGIC_TAGGED);
    for (int i = 0; i < 8; i++)
        sl_buf_put_i64(out, 0); /* counters stay with their instance */
    int64_t n = 0;
    for (size_t k = 0; k < o->nslots; k++)
        n += sl_part_set_has(only, o->slots[k].tag);
    sl_buf_put_i64(out, n);
    for (size_t k = 0; k < o->nslots; k++)
        if (sl_part_set_has(only, o->slots[k].tag)) put_slot(o, out, &o->slots[k]);
    return 0;
}

/* Forgets the keys of `parts`, moving later slots into the holes. The dirty
 * list is dropped: the engine writes a full snapshot next. */
static void scd_drop_parts(void *self, const sl_part_set *parts) {
    scd_op *o = self;
    if (o->part_col < 0) return;
    size_t w = 0;
    for (size_t k = 0; k < o->nslots; k++) {
        if (sl_part_set_has(parts, o->slots[k].tag)) {
            sl_hmap_del(o->index, o->slots[k].h);
            free(o->slots[k].blob);
            continue;
        }
        if (w != k) {
            o->slots[w] = o->slots[k];
            int64_t *pv;
            if (!sl_hmap_put(o->index, o->slots[w].h, (int64_t)w, &pv)) *pv = (int64_t)w;
        }
        o->slots[w].dirty = 0;
        w++;
    }
    o->nslots = w;
    o->ndirty = 0;
}

/* One pass over a snapshot; apply=false only validates, so a corrupt
 * snapshot is refused before any state is touched. only != NULL: the keys of
 * those partitions are added to what is held (counters untouched). */
static int restore_pass(scd_op *o, const void *data, size_t len, bool full, bool apply,
                        const sl_part_set *only) {
    sl_rd r = {data, len, 0};
    int64_t magic, c[8], n;
    if (sl_rd_i64(&r, &magic) || (magic != SNAP_MAGIC && magic != SNAP_MAGIC_TAGGED) ||
        (magic == SNAP_MAGIC_TAGGED) != (o->part_col >= 0))
        return SL_ECORRUPT;
    bool tagged = magic == SNAP_MAGIC_TAGGED;
    for (int i = 0; i < 8; i++)
        if (sl_rd_i64(&r, &c[i])) return SL_ECORRUPT;
    if (sl_rd_i64(&r, &n) || n < 0) return SL_ECORRUPT;
    if (apply && !only) {
        o->rows = c[0], o->opened = c[1], o->closed = c[2], o->unchanged = c[3];
        o->corrected = c[4], o->out_of_order = c[5], o->no_time = c[6], o->grown = c[7];
        if (full) {
            for (size_t k = 0; k < o->nslots; k++)
                free(o->slots[k].blob);
            o->nslots = 0;
            o->ndirty = 0;
            sl_hmap_clear(o->index);
        }
    }
    for (int64_t k = 0; k < n; k++) {
        uint64_t h, tag = 0;
        int64_t from, ver;
        const char *blob;
        uint32_t blen;
        if (sl_rd_bytes(&r, &h, sizeof h) || (tagged && sl_rd_bytes(&r, &tag, sizeof tag)) ||
            sl_rd_i64(&r, &from) || sl_rd_i64(&r, &ver) || sl_rd_str(&r, &blob, &blen) || ver < 1)
            return SL_ECORRUPT;
        if (!apply || (only && !sl_part_set_has(only, tag))) continue;
        bool created;
        uint32_t s = slot_get(o, h, &created);
        o->slots[s].tag = tag;
        o->slots[s].from = from;
        o->slots[s].version = ver;
        slot_set_blob(&o->slots[s], (const unsigned char *)blob, blen);
    }
    return r.off == r.n ? 0 : SL_ECORRUPT;
}

static int restore_parts(scd_op *o, const void *data, size_t len, bool full,
                         const sl_part_set *only, sl_error *err) {
    if (sl_part_check_magic(data, len, SNAP_MAGIC, SNAP_MAGIC_TAGGED, o->part_col >= 0, "scd2",
                            err))
        return SL_ECORRUPT;
    if (restore_pass(o, data, len, full, false, only))
        return sl_error_set(err, SL_ECORRUPT, "scd2: corrupt snapshot");
    restore_pass(o, data, len, full, true, only);
    return 0;
}

static int scd_restore(void *self, const void *data, size_t len, bool full, sl_error *err) {
    return restore_parts(self, data, len, full, NULL, err);
}

static int scd_restore_parts(void *self, const void *data, size_t len, bool full,
                             const sl_part_set *only, sl_error *err) {
    return restore_parts(self, data, len, full, only, err);
}

static int scd_stats(void *self, sl_op_stat *out, int cap) {
    scd_op *o = self;
    sl_op_stat s[] = {
        {"keys", (double)o->nslots, true},         {"rows", (double)o->rows},
        {"versions_opened", (double)o->opened},    {"versions_closed", (double)o->closed},
        {"unchanged", (double)o->unchanged},       {"corrected", (double)o->corrected},
        {"out_of_order", (double)o->out_of_order}, {"no_time", (double)o->no_time},
    };
    return sl_op_stats_copy(out, cap, s, (int)(sizeof s / sizeof s[0]));
}

static void scd_destroy(void *self) {
    scd_op *o = self;
    for (size_t k = 0; k < o->nslots; k++)
        free(o->slots[k].blob);
    free(o->slots);
    free(o->dirty);
    sl_hmap_free(o->index);
    sl_batch_free(o->in);
    sl_buf_free(&o->enc);
    free(o->plan);
    free(o->plan_from);
    free(o->plan_to);
    free(o->plan_ver);
    free(o->plan_old);
    free(o);
}

const sl_op_def sl_op_scd2 = {
    .name = "scd2",
    .opts = scd_opts,
    .help = "slowly changing dimension, type 2: one row per version of a key's tracked "
            "attributes (effective_from, effective_to, is_active), closed versions upserted",
    .create = scd_create,
    .process = scd_process,
    .snapshot = scd_snapshot,
    .restore = scd_restore,
    .stats = scd_stats,
    .destroy = scd_destroy,
    .restore_parts = scd_restore_parts,
    .snapshot_parts = scd_snapshot_parts,
    .drop_parts = scd_drop_parts,
};
