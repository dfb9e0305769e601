/*
 * dedupe.c - drop or flag duplicate records by key within an event-time horizon.
 *
 *   - dedupe: {key: [detection_oid], horizon: 2m, mode: flag, column: is_duplicate}
 *
 * Rule: per key we remember t_kept, the event time of the last occurrence that
 * was kept. A record is a duplicate iff its key has a t_kept with
 * |t - t_kept| <= horizon; otherwise it is kept and t_kept = t.
 *
 * Memory is bounded by the horizon: a key is evicted once
 * t_kept < watermark - horizon. This never changes a decision, because every
 * record that reaches dedupe is not late (t >= watermark), so it is more than
 * `horizon` away from an evicted key. Eviction is incremental: keys enter a
 * FIFO in arrival order and each batch pops expired ones from its head
 * (events arrive nearly in time order; a key stuck behind a later one lives a
 * little longer, which is harmless). Keys are stored as 64-bit hashes.
 *
 * Snapshots are deltas: the keys kept since the previous snapshot. Restore
 * replays the last full snapshot and its deltas.
 *
 * Partitioned state (env->part_column): the partition column is one more key
 * column, so each partition has its own keys, and every FIFO entry carries the
 * partition's tag (a parallel ring, allocated only then) so that one
 * partition's keys can be snapshotted, restored or dropped on their own when
 * the partition moves to another instance. Such snapshots set TAGGED in the
 * entry count.
 *
 * State size, reported by stats() into the event log: `keys` held now and
 * `peak_keys` since start, `state_bytes` (hash table + FIFO ring + the
 * per-batch keep flags, i.e. what this operator has allocated), and
 * `bytes_per_key` = state_bytes / keys. The table keeps load <= 0.7 with
 * 16-byte slots and the ring holds one 16-byte entry per kept key, both
 * doubled on growth, so bytes_per_key lies between about 39 and 78 at steady
 * state. Neither shrinks: after a burst the allocation stays at the burst's
 * peak (peak_keys * bytes_per_key), which is the number to budget memory by
 * (docs/operations.md, "Memory").
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/mem.h"
#include "core/hash.h"
#include "ops/op.h"

typedef struct {
    uint64_t h;
    int64_t t;
} fifo_ent;

#define TAGGED ((int64_t)1 << 62) /* entry count flag: each entry is followed by its tag */

typedef struct {
    int nkeys;
    int key[16];
    int time_col;
    int flag_col; /* -1 in drop mode */
    int64_t horizon;
    sl_hmap *seen; /* key hash -> t_kept */
    fifo_ent *fifo;
    size_t head, tail, cap; /* ring buffer; count = tail - head */
    size_t snap_mark;       /* fifo position (monotonic) at the last snapshot */
    int64_t duplicates, kept, evicted;
    size_t peak_keys;      /* most keys held at once (the table never shrinks below it) */
    int part_col;          /* partitioned state: the partition column, else -1 */
    uint64_t *tags;        /* partitioned state: tag of each FIFO entry (same slots) */
    char tag_of_name[256]; /* cache: the last partition name seen and its tag */
    uint32_t tag_of_len;
    uint64_t tag_of;
    uint8_t *keep;
    uint32_t keep_cap;
} dedupe_op;

enum { MODE_DROP, MODE_FLAG }; /* the order of `mode`'s words */

typedef struct {
    const sl_node *key;
    int64_t horizon;
    const char *time;
    const sl_node *time_at;
    int mode;
    const sl_node *mode_at;
    const char *column;
    const sl_node *column_at;
} dedupe_conf;

static const sl_opt dedupe_opts[] = {
    {"key", SL_OPT_LIST, true, NULL, NULL, "column(s) that identify a record",
     SL_OPT_BIND(dedupe_conf, key)},
    {"horizon", SL_OPT_DURATION, true, NULL, NULL,
     "records with the same key within this event time are duplicates",
     SL_OPT_BIND(dedupe_conf, horizon)},
    {"time", SL_OPT_STRING, false, NULL, "event_ts", "event-time column (from a watermark step)",
     SL_OPT_BIND(dedupe_conf, time), SL_OPT_AT(dedupe_conf, time_at)},
    {"mode", SL_OPT_ENUM, false, "drop|flag", "drop",
     "drop duplicates, or keep them with a flag column", SL_OPT_BIND(dedupe_conf, mode),
     SL_OPT_AT(dedupe_conf, mode_at)},
    {"column", SL_OPT_STRING, false, NULL, "is_duplicate", "flag column added in flag mode",
     SL_OPT_BIND(dedupe_conf, column), SL_OPT_AT(dedupe_conf, column_at)},
    {0},
};

static int dedupe_create(const sl_node *arg, sl_schema *schema, const sl_op_env *env, void **self,
                         sl_error *err) {
    dedupe_conf c;
    if (sl_spec_bind(arg, dedupe_opts, "dedupe", &c, err)) return SL_EINVAL;
    dedupe_op *o = sl_xcalloc(1, sizeof *o);
    o->part_col = -1;
    const sl_node *kn = c.key;
    int nk = sl_node_list_len(kn);
    if (nk > 15) {
        sl_node_error(err, kn, "at most 15 key columns");
        goto fail;
    }
    for (int i = 0; i < nk; i++) {
        const sl_node *k = sl_node_list_at(kn, i);
        int idx = sl_schema_find(schema, k->str);
        if (idx < 0) {
            sl_node_error(err, k, "unknown column '%s'", k->str);
            goto fail;
        }
        o->key[o->nkeys++] = idx;
    }
    if (env && env->part_column && (o->part_col = sl_schema_find(schema, env->part_column)) >= 0)
        o->key[o->nkeys++] = o->part_col;
    o->horizon = c.horizon;
    o->time_col = sl_schema_find(schema, c.time);
    if (o->time_col < 0 || schema->f[o->time_col].type != SL_T_TS) {
        sl_node_error(err, c.time_at ? c.time_at : arg,
                      "dedupe needs a timestamp column '%s' (add a watermark step before it)",
                      c.time);
        goto fail;
    }
    o->flag_col = -1;
    if (c.mode == MODE_FLAG) {
        o->flag_col = sl_schema_add(schema, c.column, SL_T_BOOL);
        if (o->flag_col < 0) {
            sl_node_error(err, c.column_at ? c.column_at : c.mode_at, "column '%s' already exists",
                          c.column);
            goto fail;
        }
    }
    o->seen = sl_hmap_new(1024);
    o->cap = 1024;
    o->fifo = sl_xmalloc(o->cap * sizeof *o->fifo);
    if (o->part_col >= 0) o->tags = sl_xmalloc(o->cap * sizeof *o->tags);
    *self = o;
    return 0;
fail:
    free(o);
    return SL_EINVAL;
}

static void fifo_push(dedupe_op *o, uint64_t h, int64_t t, uint64_t tag) {
    size_t count = o->tail - o->head;
    if (count == o->cap) {
        fifo_ent *n = sl_xmalloc(o->cap * 2 * sizeof *n);
        if (!n) abort();
        for (size_t i = 0; i < count; i++)
            n[i] = o->fifo[(o->head + i) % o->cap];
        free(o->fifo);
        o->fifo = n;
        if (o->tags) {
            uint64_t *nt = sl_xmalloc(o->cap * 2 * sizeof *nt);
            if (!nt) abort();
            for (size_t i = 0; i < count; i++)
                nt[i] = o->tags[(o->head + i) % o->cap];
            free(o->tags);
            o->tags = nt;
        }
        o->cap *= 2;
        o->snap_mark = o->snap_mark > o->head ? o->snap_mark - o->head : 0;
        o->head = 0;
        o->tail = count;
    }
    o->fifo[o->tail % o->cap] = (fifo_ent){h, t};
    if (o->tags) o->tags[o->tail % o->cap] = tag;
    o->tail++;
}

/* Monotonic FIFO indexes: head/tail grow forever; slot = index % cap, and
 * after a resize head is re-based. snap_mark is kept relative to head. */
static void evict(dedupe_op *o, int64_t threshold) {
    while (o->head < o->tail) {
        fifo_ent *e = &o->fifo[o->head % o->cap];
        if (e->t >= threshold) break;
        int64_t *tk = sl_hmap_get(o->seen, e->h);
        if (tk && *tk == e->t) {
            sl_hmap_del(o->seen, e->h);
            o->evicted++;
        }
        o->head++;
        if (o->snap_mark < o->head) o->snap_mark = o->head;
    }
}

static inline uint64_t row_key(const dedupe_op *o, const sl_batch *b, uint32_t i) {
    return sl_key_hash(b, o->key, o->nkeys, i, 0x51c3);
}

/* The partition tag of row i (partitioned state), cached across rows
 * (a batch's rows mostly share a partition). */
static uint64_t row_tag(dedupe_op *o, const sl_batch *b, uint32_t i) {
    if (o->part_col < 0) return 0;
    const sl_column *c = &b->col[o->part_col];
    if (c->null[i]) return 0;
    const sl_str *v = &c->v.s[i];
    if (v->len != o->tag_of_len || v->len >= sizeof o->tag_of_name ||
        memcmp(v->ptr, o->tag_of_name, v->len)) {
        o->tag_of = sl_part_tag(v->ptr, v->len);
        o->tag_of_len = v->len < sizeof o->tag_of_name ? v->len : 0;
        memcpy(o->tag_of_name, v->ptr, o->tag_of_len);
    }
    return o->tag_of;
}

static int dedupe_process(void *self, sl_batch *b, sl_op_ctx *ctx, sl_error *err) {
    (void)err;
    dedupe_op *o = self;
    if (!b->n) {
        if (ctx->watermark != INT64_MIN) evict(o, ctx->watermark - o->horizon);
        return 0;
    }
    if (o->keep_cap < b->cap) {
        free(o->keep);
        o->keep = sl_xmalloc(b->cap);
        o->keep_cap = b->cap;
    }
    const sl_column *tc = &b->col[o->time_col];
    uint32_t dups = 0;
    for (uint32_t i = 0; i < b->n; i++) {
        uint64_t h = row_key(o, b, i);
        int64_t t = tc->v.i[i]; /* never NULL: the watermark step removed those */
        int64_t *tk;
        int dup = 0;
        if (!sl_hmap_put(o->seen, h, t, &tk)) {
            int64_t d = t - *tk;
            if (d < 0) d = -d;
            if (d <= o->horizon)
                dup = 1;
            else
                *tk = t;
        }
        if (!dup) fifo_push(o, h, t, row_tag(o, b, i));
        o->keep[i] = !dup;
        dups += dup;
        if (o->flag_col >= 0) sl_col_set_bool(&b->col[o->flag_col], i, dup);
    }
    o->duplicates += dups;
    o->kept += b->n - dups;
    size_t held = sl_hmap_count(o->seen);
    if (held > o->peak_keys) o->peak_keys = held;
    ctx->duplicates += dups;
    if (o->flag_col < 0 && dups) sl_batch_keep(b, o->keep);
    /* after the batch: every later record has t >= this watermark */
    if (ctx->watermark != INT64_MIN) evict(o, ctx->watermark - o->horizon);
    return 0;
}

static void put_entries(dedupe_op *o, sl_buf *out, size_t from, const sl_part_set *only) {
    size_t cnt = 0, at = out->n;
    sl_buf_put_i64(out, 0); /* the count, patched below */
    for (size_t i = from; i < o->tail; i++) {
        uint64_t tag = o->tags ? o->tags[i % o->cap] : 0;
        if (only && !sl_part_set_has(only, tag)) continue;
        sl_buf_put(out, &o->fifo[i % o->cap], sizeof(fifo_ent));
        if (o->tags) sl_buf_put(out, &tag, sizeof tag);
        cnt++;
    }
    int64_t c = (int64_t)cnt | (o->tags ? TAGGED : 0);
    memcpy(out->p + at, &c, sizeof c);
}

static int dedupe_snapshot(void *self, sl_buf *out, bool full) {
    dedupe_op *o = self;
    sl_buf_put_i64(out, o->duplicates);
    sl_buf_put_i64(out, o->kept);
    put_entries(o, out, full ? o->head : (o->snap_mark > o->head ? o->snap_mark : o->head), NULL);
    o->snap_mark = o->tail;
    return 0;
}

static int dedupe_snapshot_parts(void *self, sl_buf *out, const sl_part_set *only) {
    dedupe_op *o = self;
    sl_buf_put_i64(out, 0);
    sl_buf_put_i64(out, 0);
    put_entries(o, out, o->head, only);
    return 0;
}

/* only == NULL: the operator's own chain (counters restored, a full
 * snapshot replaces the state); else only those partitions' keys are added. */
static int restore_entries(dedupe_op *o, const void *data, size_t n, bool full,
                           const sl_part_set *only, sl_error *err) {
    sl_rd r = {data, n, 0};
    int64_t cnt, dups, kept;
    if (full && !only) {
        sl_hmap_clear(o->seen);
        o->head = o->tail = o->snap_mark = 0;
    }
    if (sl_rd_i64(&r, &dups) || sl_rd_i64(&r, &kept) || sl_rd_i64(&r, &cnt) || cnt < 0)
        return sl_error_set(err, SL_ECORRUPT, "dedupe: corrupt snapshot");
    bool tagged = cnt & TAGGED;
    cnt &= ~TAGGED;
    if (tagged != (o->tags != NULL))
        return sl_error_set(err, SL_ECORRUPT,
                            "dedupe: the state was saved with partitioned_state %s; it is now %s",
                            tagged ? "on" : "off", o->tags ? "on" : "off");
    if (!only) {
        o->duplicates = dups;
        o->kept = kept;
    }
    for (int64_t i = 0; i < cnt; i++) {
        fifo_ent e;
        uint64_t tag = 0;
        if (sl_rd_bytes(&r, &e, sizeof e) || (tagged && sl_rd_bytes(&r, &tag, sizeof tag)))
            return sl_error_set(err, SL_ECORRUPT, "dedupe: corrupt snapshot");
        if (only && !sl_part_set_has(only, tag)) continue;
        int64_t *tk;
        if (!sl_hmap_put(o->seen, e.h, e.t, &tk)) *tk = e.t;
        fifo_push(o, e.h, e.t, tag);
    }
    if (!only) o->snap_mark = o->tail;
    if (sl_hmap_count(o->seen) > o->peak_keys) o->peak_keys = sl_hmap_count(o->seen);
    return 0;
}

static int dedupe_restore(void *self, const void *data, size_t n, bool full, sl_error *err) {
    return restore_entries(self, data, n, full, NULL, err);
}

static int dedupe_restore_parts(void *self, const void *data, size_t n, bool full,
                                const sl_part_set *only, sl_error *err) {
    return restore_entries(self, data, n, full, only, err);
}

/* Forgets the keys of `parts`: the FIFO is compacted in place. The next
 * snapshot must be full (the engine writes one after a drop), since deltas
 * cannot express a removal. */
static void dedupe_drop_parts(void *self, const sl_part_set *parts) {
    dedupe_op *o = self;
    if (!o->tags) return;
    size_t w = o->head;
    for (size_t i = o->head; i < o->tail; i++) {
        fifo_ent e = o->fifo[i % o->cap];
        uint64_t tag = o->tags[i % o->cap];
        if (sl_part_set_has(parts, tag)) {
            int64_t *tk = sl_hmap_get(o->seen, e.h);
            if (tk && *tk == e.t) sl_hmap_del(o->seen, e.h);
            continue;
        }
        o->fifo[w % o->cap] = e;
        o->tags[w % o->cap] = tag;
        w++;
    }
    o->tail = w;
    o->snap_mark = o->head;
}

/* At most about 260 characters whatever the counts (the engine leaves room
 * for 600 per operator in the event-log row). */
static int dedupe_stats(void *self, sl_op_stat *out, int cap) {
    dedupe_op *o = self;
    size_t keys = sl_hmap_count(o->seen);
    size_t bytes = sizeof *o + sl_hmap_bytes(o->seen) +
                   o->cap * (sizeof(fifo_ent) + (o->tags ? sizeof(uint64_t) : 0)) + o->keep_cap;
    sl_op_stat s[] = {
        {"duplicates", (double)o->duplicates},
        {"kept", (double)o->kept},
        {"evicted", (double)o->evicted},
        {"keys", (double)keys, true},
        {"peak_keys", (double)o->peak_keys, true},
        {"fifo", (double)(o->tail - o->head), true},
        {"state_bytes", (double)bytes, true},
        {"bytes_per_key", keys ? (double)bytes / (double)keys : 0.0, true},
    };
    return sl_op_stats_copy(out, cap, s, (int)(sizeof s / sizeof s[0]));
}

static void dedupe_destroy(void *self) {
    dedupe_op *o = self;
    sl_hmap_free(o->seen);
    free(o->fifo);
    free(o->tags);
    free(o->keep);
    free(o);
}

const sl_op_def sl_op_dedupe = {
    .name = "dedupe",
    .opts = dedupe_opts,
    .help = "drop or flag records whose key was seen within `horizon` of event time",
    .create = dedupe_create,
    .process = dedupe_process,
    .snapshot = dedupe_snapshot,
    .restore = dedupe_restore,
    .stats = dedupe_stats,
    .destroy = dedupe_destroy,
    .restore_parts = dedupe_restore_parts,
    .snapshot_parts = dedupe_snapshot_parts,
    .drop_parts = dedupe_drop_parts,
};
