/*
 * dedupe.c - drop or flag duplicate records by key within an event-time horizon.
 *
 *   - dedupe: {key: [detection_oid], horizon: 2m, mode: flag, column: is_duplicate}
 *
 * Rule: per key we remember t_kept, the event time of the last occurrence that
 * was kept. A record is a duplicate iff its key has a t_kept with
 * |t - t_kept| <= horizon; otherwise it is kept and t_kept = t.
 *
 * State: one open-addressing table of 16-byte slots {key, t_kept}, linear
 * probing. With a single int or timestamp key column the slot holds the value
 * itself (exact; the NULL key has its own field). Otherwise it holds the
 * key's 64-bit XXH3 fingerprint: a new key is wrongly called a duplicate
 * when its fingerprint equals one of the L live keys', probability L / 2^64
 * per record (1e6 live keys, 1e9 records: about 5e-5 over the whole run).
 *
 * Expiry without a scan: a key is expired once t_kept < watermark - horizon
 * (thr below). This never changes a decision, because every record that
 * reaches dedupe after the batch that moved the watermark is not late
 * (t >= watermark), so it is more than `horizon` away from an expired key.
 * An expired key is treated as absent and its slot is reused by the next key
 * whose probe path crosses it; expired keys are dropped for good when the
 * table is rebuilt. The table is rebuilt when a batch could take it past a
 * load of 0.85 (live and expired slots), to 0.70 of its live keys: so the
 * table is sized by the keys held, grows with them and shrinks after a
 * burst, at 16 / 0.85 .. 16 / 0.70 = 18.8 .. 22.9 bytes per key. The home
 * slot is fastrange(mix(key), cap), so cap need not be a power of two and the
 * table stays nearly sorted by home slot: a rebuild streams.
 *
 * Snapshots: full ones write every live key; deltas write the slots written
 * since the previous snapshot, found through a bitmap of one bit per slot.
 * Restore replays the last full snapshot and its deltas (a key's latest
 * t_kept wins). Entry counts carry RAW when keys are values; a snapshot from
 * before RAW existed (fingerprints) is restored as fingerprints, and the
 * operator keeps fingerprints from then on.
 *
 * Partitioned state (env->part_column): the partition column is one more key
 * column, so each partition has its own keys, and every slot carries the
 * partition's tag (a parallel array, allocated only then, 8 more bytes per
 * slot) so that one partition's keys can be snapshotted, restored or dropped
 * on their own when the partition moves to another instance. Such snapshots
 * set TAGGED in the entry count.
 *
 * State size, reported by stats() into the event log: `keys` live now,
 * `peak_keys` (the most live keys seen at a rebuild or a stats() call, i.e.
 * at every commit), `state_bytes` (table, dirty bitmap, tags and the
 * per-batch scratch: what this operator has allocated) and `bytes_per_key` =
 * state_bytes / keys. docs/operations.md ("Memory") budgets by them.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/mem.h"
#include "core/hash.h"
#include "ops/op.h"

/* A slot of the key table: the key and the event time of its last kept
 * record. t == SLOT_EMPTY marks a free slot (a record's time is never stored
 * as INT64_MIN: it is clamped one microsecond above, which can only matter to
 * event times 292,000 years before 1970). */
typedef struct {
    uint64_t k; /* the key column's value (raw keys) or the key's 64-bit XXH3 fingerprint */
    int64_t t;  /* t_kept */
} slot_t;

#define SLOT_EMPTY INT64_MIN
#define TAGGED ((int64_t)1 << 62) /* entry count flag: each entry is followed by its tag */
#define RAW ((int64_t)1 << 61)    /* entry count flag: keys are values; the NULL key follows */
#define PACKED ((int64_t)1 << 60) /* entry count flag: entries sorted by key, varint deltas */
#define MIN_CAP 64
/* Load: the table is rebuilt when a batch could take it past 17/20 (0.85),
 * to 7/10 (0.70) of live keys: 16-byte slots give 18.8 to 22.9 bytes per key. */
#define LOAD_MAX_NUM 17
#define LOAD_MAX_DEN 20
#define LOAD_TARGET 0.70
#define PREFETCH_AHEAD 8

typedef struct {
    int nkeys;
    int key[16];
    int time_col;
    int flag_col; /* -1 in drop mode */
    int64_t horizon;
    bool raw;         /* slots hold the key column's value itself (exact) */
    bool raw_capable; /* one int/ts key column, not partitioned */
    slot_t *tab;      /* open addressing, linear probing, home = fastrange(mix(k), cap) */
    size_t cap;       /* any size >= MIN_CAP (not a power of two: see LOAD_*) */
    size_t occ;       /* slots in use, expired ones included */
    uint64_t *dirty;  /* one bit per slot: written since the last snapshot */
    int64_t null_t;   /* raw keys: t_kept of the NULL key, SLOT_EMPTY if none */
    bool null_dirty;
    int64_t thr;      /* keys with t_kept < thr are expired (watermark - horizon) */
    int64_t prev_thr; /* thr in force during the last batch (stats: the peak) */
    int64_t duplicates, kept;
    int64_t entered, dropped; /* keys that took a slot; keys removed by drop_parts */
    size_t peak_keys;         /* most live keys seen at a resize or a stats() call */
    int part_col;             /* partitioned state: the partition column, else -1 */
    uint64_t *tags;           /* partitioned state: tag of each slot (same index) */
    char tag_of_name[256];    /* cache: the last partition name seen and its tag */
    uint32_t tag_of_len;
    uint64_t tag_of;
    uint8_t *keep; /* per-batch scratch, batch capacity entries each */
    uint64_t *hk;
    uint64_t *home;
    uint32_t scratch_cap;
    uint64_t gen;         /* bumped by every change of the table or thr */
    uint64_t counted_gen; /* stats(): the gen its counts below are of (0: none) */
    size_t counted_keys, counted_before;
    slot_t *pack; /* room to sort a snapshot's entries (PACKED), freed when large */
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

/* murmur3's finaliser: fastrange takes the high bits, so they must depend on
 * every bit of the key (sequential ids, and fingerprints alike). */
static inline uint64_t mix(uint64_t k) {
    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdULL;
    k ^= k >> 33;
    k *= 0xc4ceb9fe1a85ec53ULL;
    k ^= k >> 33;
    return k;
}

/* fastrange: home in [0, cap) without a division, monotonic in mix(k), so
 * the table stays nearly sorted by home and a rebuild streams through both
 * arrays instead of scattering. */
static inline size_t home_of(uint64_t k, size_t cap) {
    return (size_t)(((unsigned __int128)mix(k) * cap) >> 64);
}

static inline int64_t clamp_t(int64_t t) { return t == SLOT_EMPTY ? SLOT_EMPTY + 1 : t; }

static size_t dirty_words(size_t cap) { return (cap + 63) / 64; }

static inline void mark_dirty(dedupe_op *o, size_t j) { o->dirty[j >> 6] |= 1ULL << (j & 63); }

static void table_alloc(dedupe_op *o, size_t cap) {
    o->cap = cap < MIN_CAP ? MIN_CAP : cap;
    o->tab = sl_xmalloc(o->cap * sizeof *o->tab);
    for (size_t i = 0; i < o->cap; i++)
        o->tab[i].t = SLOT_EMPTY;
    o->dirty = sl_xcalloc(dirty_words(o->cap), sizeof *o->dirty);
    o->tags = o->part_col >= 0 ? sl_xcalloc(o->cap, sizeof *o->tags) : NULL;
    o->occ = 0;
}

/* Keys with t_kept >= thr. An empty slot holds SLOT_EMPTY = INT64_MIN, below
 * any thr raised by one: one comparison per slot, and the loop vectorises. */
static size_t live_count(const dedupe_op *o, int64_t thr) {
    if (thr == SLOT_EMPTY) thr++;
    size_t n = 0;
    for (size_t i = 0; i < o->cap; i++)
        n += o->tab[i].t >= thr;
    return n;
}

/* Rebuilds the table for its live keys plus `room` new ones at LOAD_TARGET,
 * dropping expired keys and (drop_parts) those of `drop`. The only pass over
 * every key, and it runs once per (LOAD_MAX - LOAD_TARGET) * cap inserts. */
static void rebuild(dedupe_op *o, size_t room, const sl_part_set *drop) {
    slot_t *old = o->tab;
    uint64_t *odirty = o->dirty, *otags = o->tags;
    size_t oc = o->cap;
    size_t live = live_count(o, o->thr);
    if (live > o->peak_keys) o->peak_keys = live;
    table_alloc(o, (size_t)((double)(live + room) / LOAD_TARGET) + 1);
    for (size_t i = 0; i < oc; i++) {
        if (old[i].t == SLOT_EMPTY || old[i].t < o->thr) continue;
        if (drop && sl_part_set_has(drop, otags[i])) {
            o->dropped++;
            continue;
        }
        size_t j = home_of(old[i].k, o->cap);
        while (o->tab[j].t != SLOT_EMPTY)
            if (++j == o->cap) j = 0;
        o->tab[j] = old[i];
        if (odirty[i >> 6] >> (i & 63) & 1) mark_dirty(o, j);
        if (otags) o->tags[j] = otags[i];
        o->occ++;
    }
    free(old);
    free(odirty);
    free(otags);
}

/* Room for `n` more keys within LOAD_MAX. */
static inline void reserve(dedupe_op *o, size_t n) {
    if ((o->occ + n) * LOAD_MAX_DEN > o->cap * LOAD_MAX_NUM) rebuild(o, n, NULL);
}

/* The slot of key k: its own (live or expired) if present, else a free one:
 * the first expired slot on its probe path, or the empty slot that ends it.
 * *found says which. A key occurs at most once, since the whole path is
 * searched before an expired slot is reused. */
static inline size_t probe(const dedupe_op *o, uint64_t k, size_t j, bool *found) {
    const slot_t *tab = o->tab;
    size_t reuse = SIZE_MAX;
    for (;;) {
        if (tab[j].t == SLOT_EMPTY) break;
        if (tab[j].k == k) {
            *found = true;
            return j;
        }
        if (reuse == SIZE_MAX && tab[j].t < o->thr) reuse = j;
        if (++j == o->cap) j = 0;
    }
    *found = false;
    return reuse != SIZE_MAX ? reuse : j;
}

/* Sets key k's t_kept to t (a kept record, or a restored entry). */
static void put_key(dedupe_op *o, uint64_t k, int64_t t, uint64_t tag, bool dirty) {
    bool found;
    size_t j = probe(o, k, home_of(k, o->cap), &found);
    if (!found || o->tab[j].t < o->thr) o->entered++;
    if (!found && o->tab[j].t == SLOT_EMPTY) o->occ++;
    o->tab[j] = (slot_t){k, clamp_t(t)};
    if (o->tags) o->tags[j] = tag;
    if (dirty) mark_dirty(o, j);
}

static bool raw_capable(const dedupe_op *o, const sl_schema *s) {
    if (o->nkeys != 1 || o->part_col >= 0) return false;
    sl_type t = s->f[o->key[0]].type;
    return t == SL_T_INT || t == SL_T_TS;
}

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
    o->raw = o->raw_capable = raw_capable(o, schema);
    o->null_t = SLOT_EMPTY;
    o->thr = o->prev_thr = INT64_MIN;
    table_alloc(o, MIN_CAP);
    *self = o;
    return 0;
fail:
    free(o);
    return SL_EINVAL;
}

/* After a batch: every later record has t >= the watermark, so keys kept
 * before watermark - horizon can no longer make a duplicate. Nothing is
 * scanned: such keys simply stop counting and their slots are reused. */
static void advance(dedupe_op *o, const sl_op_ctx *ctx) {
    o->gen++;
    o->prev_thr = o->thr;
    if (ctx->watermark == INT64_MIN || ctx->watermark < INT64_MIN + o->horizon) return;
    int64_t thr = ctx->watermark - o->horizon;
    if (thr > o->thr) o->thr = thr;
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

/* The NULL key of a raw key column (no value is free to stand for it). */
static int null_key(dedupe_op *o, int64_t t) {
    if (o->null_t != SLOT_EMPTY && o->null_t >= o->thr) {
        int64_t d = t - o->null_t;
        if (d < 0) d = -d;
        if (d <= o->horizon) return 1;
    } else {
        o->entered++;
    }
    o->null_t = clamp_t(t);
    o->null_dirty = true;
    return 0;
}

static int dedupe_process(void *self, sl_batch *b, sl_op_ctx *ctx, sl_error *err) {
    (void)err;
    dedupe_op *o = self;
    if (!b->n) {
        advance(o, ctx);
        return 0;
    }
    if (o->scratch_cap < b->cap) {
        free(o->keep), free(o->hk), free(o->home);
        o->keep = sl_xmalloc(b->cap);
        o->hk = sl_xmalloc(b->cap * sizeof *o->hk);
        o->home = sl_xmalloc(b->cap * sizeof *o->home);
        o->scratch_cap = b->cap;
    }
    reserve(o, b->n);
    /* keys and home slots first, so the probe loop can prefetch ahead */
    const sl_column *kc = o->raw ? &b->col[o->key[0]] : NULL;
    for (uint32_t i = 0; i < b->n; i++) {
        if (kc && kc->null[i]) {
            o->home[i] = UINT64_MAX;
            continue;
        }
        o->hk[i] = kc ? (uint64_t)kc->v.i[i] : row_key(o, b, i);
        o->home[i] = home_of(o->hk[i], o->cap);
    }
    const sl_column *tc = &b->col[o->time_col];
    uint32_t dups = 0;
    for (uint32_t i = 0; i < b->n; i++) {
        if (i + PREFETCH_AHEAD < b->n && o->home[i + PREFETCH_AHEAD] != UINT64_MAX)
            __builtin_prefetch(&o->tab[o->home[i + PREFETCH_AHEAD]], 1);
        int64_t t = tc->v.i[i]; /* never NULL: the watermark step removed those */
        int dup = 0;
        if (o->home[i] == UINT64_MAX) {
            dup = null_key(o, t);
        } else {
            bool found;
            size_t j = probe(o, o->hk[i], (size_t)o->home[i], &found);
            slot_t *s = &o->tab[j];
            bool live = found && s->t >= o->thr;
            if (live) {
                int64_t d = t - s->t;
                if (d < 0) d = -d;
                dup = d <= o->horizon;
            }
            if (!dup) {
                if (!live) o->entered++;
                if (s->t == SLOT_EMPTY) o->occ++;
                s->k = o->hk[i];
                s->t = clamp_t(t);
                if (o->tags) o->tags[j] = row_tag(o, b, i);
                mark_dirty(o, j);
            }
        }
        o->keep[i] = !dup;
        dups += dup;
        if (o->flag_col >= 0) sl_col_set_bool(&b->col[o->flag_col], i, dup);
    }
    o->duplicates += dups;
    o->kept += b->n - dups;
    ctx->duplicates += dups;
    if (o->flag_col < 0 && dups) sl_batch_keep(b, o->keep);
    advance(o, ctx);
    return 0;
}

static void put_slot(const dedupe_op *o, sl_buf *out, size_t j) {
    sl_buf_put(out, &o->tab[j], sizeof(slot_t));
    if (o->tags) sl_buf_put(out, &o->tags[j], sizeof(uint64_t));
}

static uint64_t zz(int64_t v) { return ((uint64_t)v << 1) ^ (uint64_t)(v >> 63); }
static int64_t unzz(uint64_t v) { return (int64_t)(v >> 1) ^ -(int64_t)(v & 1); }

static size_t put_uvar(uint8_t *p, uint64_t v) {
    size_t n = 0;
    while (v >= 0x80) {
        p[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    p[n++] = (uint8_t)v;
    return n;
}

static int rd_uvar(sl_rd *r, uint64_t *v) {
    uint64_t x = 0;
    for (int sh = 0; sh < 70; sh += 7) {
        uint8_t b;
        if (sl_rd_bytes(r, &b, 1)) return SL_ECORRUPT;
        x |= (uint64_t)(b & 0x7f) << sh;
        if (!(b & 0x80)) {
            *v = x;
            return 0;
        }
    }
    return SL_ECORRUPT;
}

static int cmp_key(const void *a, const void *b) {
    uint64_t x = ((const slot_t *)a)->k, y = ((const slot_t *)b)->k;
    return x < y ? -1 : x > y;
}

/* Sorts e[0..n) by key: an LSD radix sort of (key - the least key) through
 * tmp[0..n), with only as many passes as the keys' range has bits (held keys
 * are mostly ids close together: two passes, not four) and digits sized to n
 * (clearing 64 Ki counters per pass cost more than sorting a delta's few
 * thousand keys); qsort for few. */
static void sort_by_key(slot_t *e, slot_t *tmp, size_t n) {
    if (n < 256) {
        qsort(e, n, sizeof *e, cmp_key);
        return;
    }
    uint64_t lo = UINT64_MAX, hi = 0;
    for (size_t i = 0; i < n; i++) {
        lo = e[i].k < lo ? e[i].k : lo;
        hi = e[i].k > hi ? e[i].k : hi;
    }
    uint64_t range = hi - lo;
    int rbits = range ? 64 - __builtin_clzll(range) : 0;
    int dbits = n >= ((size_t)1 << 18) ? 16 : n >= ((size_t)1 << 13) ? 11 : 8;
    int passes = (rbits + dbits - 1) / dbits;
    if (passes == 0) return;               /* one key */
    dbits = (rbits + passes - 1) / passes; /* the same passes, the fewest counters */
    size_t nd = (size_t)1 << dbits, mask = nd - 1;
    size_t *count = malloc(nd * sizeof *count);
    if (!count) {
        qsort(e, n, sizeof *e, cmp_key);
        return;
    }
    slot_t *first = e;
    for (int pass = 0; pass < passes; pass++) {
        int sh = dbits * pass;
        memset(count, 0, nd * sizeof *count);
        for (size_t i = 0; i < n; i++)
            count[((e[i].k - lo) >> sh) & mask]++;
        size_t sum = 0;
        for (size_t d = 0; d < nd; d++) {
            size_t c = count[d];
            count[d] = sum;
            sum += c;
        }
        for (size_t i = 0; i < n; i++)
            tmp[count[((e[i].k - lo) >> sh) & mask]++] = e[i];
        slot_t *x = e;
        e = tmp;
        tmp = x;
    }
    if (e != first) memcpy(first, e, n * sizeof *e); /* an odd number of passes */
    free(count);
}

/* Entries: all live keys (of `only`'s partitions, if given), or (delta) the
 * slots written since the last snapshot, found through the dirty bitmap.
 * Without partition tags they are PACKED: sorted by key and written as
 * varint deltas of key and time from the entry before. Keys held for a
 * dedupe horizon are mostly close together (ids handed out in order), so a
 * key costs 2-3 bytes instead of 16, before the store's zstd: a million
 * camera ids took 6.9 MB of the state table compressed, 1.2 MB packed. */
static void put_entries(dedupe_op *o, sl_buf *out, bool all, const sl_part_set *only) {
    size_t cnt = 0, at = out->n;
    sl_buf_put_i64(out, 0); /* the count, patched below */
    if (o->raw) {
        bool live = o->null_t != SLOT_EMPTY && o->null_t >= o->thr;
        sl_buf_put_i64(out, (all ? live : o->null_dirty) ? o->null_t : SLOT_EMPTY);
    }
    bool packed = !o->tags;
    size_t ne = 0;
    if (packed) { /* gather, then sort and write */
        size_t most = all ? o->cap : 0;
        if (!all)
            for (size_t w = 0; w < dirty_words(o->cap); w++)
                most += (size_t)__builtin_popcountll(o->dirty[w]);
        o->pack = sl_xreallocarray(o->pack, most ? 2 * most : 2, sizeof *o->pack);
    }
    if (all) {
        for (size_t j = 0; j < o->cap; j++) {
            if (o->tab[j].t == SLOT_EMPTY || o->tab[j].t < o->thr) continue;
            if (only && !sl_part_set_has(only, o->tags[j])) continue;
            if (packed)
                o->pack[ne++] = o->tab[j];
            else
                put_slot(o, out, j);
            cnt++;
        }
    } else {
        for (size_t w = 0; w < dirty_words(o->cap); w++)
            for (uint64_t bits = o->dirty[w]; bits; bits &= bits - 1) {
                size_t j = w * 64 + (size_t)__builtin_ctzll(bits);
                if (o->tab[j].t == SLOT_EMPTY || o->tab[j].t < o->thr) continue;
                if (packed)
                    o->pack[ne++] = o->tab[j];
                else
                    put_slot(o, out, j);
                cnt++;
            }
    }
    if (packed) {
        sort_by_key(o->pack, o->pack + ne, ne);
        uint64_t pk = 0;
        int64_t pt = 0;
        uint8_t v[20];
        for (size_t i = 0; i < ne; i++) {
            size_t n = put_uvar(v, o->pack[i].k - pk);
            n += put_uvar(v + n, zz((int64_t)((uint64_t)o->pack[i].t - (uint64_t)pt)));
            sl_buf_put(out, v, n);
            pk = o->pack[i].k;
            pt = o->pack[i].t;
        }
        if (ne > 4096) { /* the sort's room is not kept between snapshots */
            free(o->pack);
            o->pack = NULL;
        }
    }
    int64_t c = (int64_t)cnt | (o->tags ? TAGGED : 0) | (o->raw ? RAW : 0) | (packed ? PACKED : 0);
    memcpy(out->p + at, &c, sizeof c);
}

static int dedupe_snapshot(void *self, sl_buf *out, bool full) {
    dedupe_op *o = self;
    sl_buf_put_i64(out, o->duplicates);
    sl_buf_put_i64(out, o->kept);
    put_entries(o, out, full, NULL);
    memset(o->dirty, 0, dirty_words(o->cap) * sizeof *o->dirty);
    o->null_dirty = false;
    return 0;
}

static int dedupe_snapshot_parts(void *self, sl_buf *out, const sl_part_set *only) {
    dedupe_op *o = self;
    sl_buf_put_i64(out, 0);
    sl_buf_put_i64(out, 0);
    put_entries(o, out, true, only);
    return 0;
}

static size_t keys_live(const dedupe_op *o, int64_t thr) {
    return live_count(o, thr) + (o->null_t != SLOT_EMPTY && o->null_t >= thr);
}

/* only == NULL: the operator's own chain (counters restored, a full
 * snapshot replaces the state); else only those partitions' keys are added,
 * and marked for the next delta (the chain they came from is another's). */
static int restore_entries(dedupe_op *o, const void *data, size_t n, bool full,
                           const sl_part_set *only, sl_error *err) {
    sl_rd r = {data, n, 0};
    int64_t cnt, dups, kept;
    o->gen++;
    if (full && !only) {
        for (size_t j = 0; j < o->cap; j++)
            o->tab[j].t = SLOT_EMPTY;
        memset(o->dirty, 0, dirty_words(o->cap) * sizeof *o->dirty);
        o->occ = 0;
        o->null_t = SLOT_EMPTY;
        o->null_dirty = false;
        o->entered = o->dropped = 0;
    }
    if (sl_rd_i64(&r, &dups) || sl_rd_i64(&r, &kept) || sl_rd_i64(&r, &cnt) || cnt < 0)
        return sl_error_set(err, SL_ECORRUPT, "dedupe: corrupt snapshot");
    bool tagged = cnt & TAGGED, raw = cnt & RAW, packed = cnt & PACKED;
    cnt &= ~(TAGGED | RAW | PACKED);
    if (packed && tagged) return sl_error_set(err, SL_ECORRUPT, "dedupe: corrupt snapshot");
    if (tagged != (o->tags != NULL))
        return sl_error_set(err, SL_ECORRUPT,
                            "dedupe: the state was saved with partitioned_state %s; it is now %s",
                            tagged ? "on" : "off", o->tags ? "on" : "off");
    if (raw != o->raw) {
        /* Snapshots from before raw keys hold fingerprints: an operator that
         * holds nothing yet takes the snapshot's form (and keeps it). */
        bool empty = o->occ == 0 && o->null_t == SLOT_EMPTY;
        if (!empty || only || (raw && !o->raw_capable))
            return sl_error_set(
                err, SL_ECORRUPT, "dedupe: the snapshot's keys are %s, the state's are %s",
                raw ? "values" : "fingerprints", o->raw ? "values" : "fingerprints");
        o->raw = raw;
    }
    size_t esz = sizeof(slot_t) + (tagged ? sizeof(uint64_t) : 0);
    if (raw) {
        int64_t nt;
        if (sl_rd_i64(&r, &nt)) return sl_error_set(err, SL_ECORRUPT, "dedupe: corrupt snapshot");
        if (nt != SLOT_EMPTY) {
            if (o->null_t == SLOT_EMPTY || o->null_t < o->thr) o->entered++;
            o->null_t = nt;
        }
    }
    /* an entry takes at least esz bytes, or 2 packed */
    if ((uint64_t)cnt > (n - r.off) / (packed ? 2 : esz))
        return sl_error_set(err, SL_ECORRUPT, "dedupe: corrupt snapshot");
    if (!only) {
        o->duplicates = dups;
        o->kept = kept;
    }
    reserve(o, (size_t)cnt);
    uint64_t pk = 0;
    int64_t pt = 0;
    for (int64_t i = 0; i < cnt; i++) {
        slot_t e;
        uint64_t tag = 0;
        if (packed) {
            uint64_t dk, dt;
            if (rd_uvar(&r, &dk) || rd_uvar(&r, &dt))
                return sl_error_set(err, SL_ECORRUPT, "dedupe: corrupt snapshot");
            e.k = pk += dk;
            e.t = pt = (int64_t)((uint64_t)pt + (uint64_t)unzz(dt));
            if (e.t == SLOT_EMPTY)
                return sl_error_set(err, SL_ECORRUPT, "dedupe: corrupt snapshot");
        } else if (sl_rd_bytes(&r, &e, sizeof e) || (tagged && sl_rd_bytes(&r, &tag, sizeof tag)))
            return sl_error_set(err, SL_ECORRUPT, "dedupe: corrupt snapshot");
        if (only && !sl_part_set_has(only, tag)) continue;
        put_key(o, e.k, e.t, tag, only != NULL);
    }
    size_t live = keys_live(o, o->thr);
    if (live > o->peak_keys) o->peak_keys = live;
    return 0;
}

static int dedupe_restore(void *self, const void *data, size_t n, bool full, sl_error *err) {
    return restore_entries(self, data, n, full, NULL, err);
}

static int dedupe_restore_parts(void *self, const void *data, size_t n, bool full,
                                const sl_part_set *only, sl_error *err) {
    return restore_entries(self, data, n, full, only, err);
}

/* Forgets the keys of `parts` (a rebuild without them). The next snapshot
 * must be full (the engine writes one after a drop), since deltas cannot
 * express a removal. */
static void dedupe_drop_parts(void *self, const sl_part_set *parts) {
    dedupe_op *o = self;
    if (!o->tags) return;
    o->gen++;
    rebuild(o, 0, parts);
}

/* At most about 260 characters whatever the counts (the engine leaves room
 * for 600 per operator in the event-log row). `keys` is counted here, one
 * sequential pass over the table per call (the engine calls it once per
 * commit); `fifo` is the same number, kept for readers of older logs. */
static int dedupe_stats(void *self, sl_op_stat *out, int cap) {
    dedupe_op *o = self;
    if (o->counted_gen != o->gen + 1) { /* /metrics calls this once per metric: count once */
        o->counted_keys = keys_live(o, o->thr);
        o->counted_before = o->prev_thr == o->thr ? o->counted_keys : keys_live(o, o->prev_thr);
        o->counted_gen = o->gen + 1;
    }
    size_t keys = o->counted_keys, before = o->counted_before;
    if (before > o->peak_keys) o->peak_keys = before;
    size_t bytes = sizeof *o + o->cap * (sizeof(slot_t) + (o->tags ? sizeof(uint64_t) : 0)) +
                   dirty_words(o->cap) * sizeof(uint64_t) +
                   o->scratch_cap * (1 + sizeof *o->hk + sizeof *o->home);
    sl_op_stat s[] = {
        {"duplicates", (double)o->duplicates},
        {"kept", (double)o->kept},
        {"evicted", (double)(o->entered - (int64_t)keys - o->dropped)},
        {"keys", (double)keys, true},
        {"peak_keys", (double)o->peak_keys, true},
        {"fifo", (double)keys, true},
        {"state_bytes", (double)bytes, true},
        {"bytes_per_key", keys ? (double)bytes / (double)keys : 0.0, true},
    };
    return sl_op_stats_copy(out, cap, s, (int)(sizeof s / sizeof s[0]));
}

static void dedupe_destroy(void *self) {
    dedupe_op *o = self;
    free(o->tab);
    free(o->pack);
    free(o->dirty);
    free(o->tags);
    free(o->keep);
    free(o->hk);
    free(o->home);
    free(o);
}

const sl_op_def sl_op_dedupe = {
    .name = "dedupe",
    .keeps_values = sl_op_keeps_values_always,
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
