/*
 * lake_ref.c - gathering columns of a Parquet lake table by row id
 * (lake_ref.h).
 *
 * The segment list is B's committed view from sl_lake_scan_segments, sorted
 * by sequence, so a row id's segment is a binary search. Up to REF_READERS
 * segments stay open (least recently used goes first); each keeps the
 * cumulative row counts of its row groups (a row's group is a binary search)
 * and, per slot, which (row group, column) its sl_pq_read_column slot holds,
 * so consecutive ids in one row group decode its chunk once, and the next
 * gather (the next T row group) continues where the last one stopped.
 *
 * Values are copied into the slot's own arrays; string bytes too, because
 * the ids of one gather may span several B row groups whose decoded chunks
 * replace each other in the reader's slot.
 */
#include "sinks/lake_ref.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "formats/parquet.h"
#include "sinks/lake.h"
#include "sinks/lake_vtab.h"

#define REF_READERS 4

typedef struct ref_reader {
    sl_pq_reader *pq; /* NULL: entry unused */
    int64_t seq;
    int nrg;
    int64_t *cum;                /* cum[g]: rows before row group g; cum[nrg]: all */
    uint64_t used;               /* LRU tick */
    int dec_rg[SL_MAX_COLUMNS];  /* row group + 1 decoded in the reader's slot */
    int dec_col[SL_MAX_COLUMNS]; /* file column decoded there */
    sl_column dec[SL_MAX_COLUMNS];
} ref_reader;

typedef struct ref_slot {
    uint32_t cap;
    uint8_t *null;
    void *vals;  /* cap values of the largest type (sl_str) */
    size_t *off; /* string offsets into bytes while bytes may move */
    char *bytes;
    size_t bytes_cap;
} ref_slot;

struct sl_lake_ref {
    sqlite3 *db;
    char root[PATH_MAX];
    char kv_key[128];
    sl_lake_scan scan;
    ref_reader rd[REF_READERS];
    uint64_t tick;
    ref_slot slot[SL_MAX_COLUMNS];
    char *stat_min, *stat_max; /* string bounds of sl_lake_ref_range_stats */
    size_t stat_min_cap, stat_max_cap;
};

static void reader_drop(ref_reader *e) {
    if (e->pq) sl_pq_close_reader(e->pq);
    free(e->cum);
    memset(e, 0, sizeof *e);
}

int sl_lake_ref_refresh(sl_lake_ref *r, char **errmsg) {
    for (int i = 0; i < REF_READERS; i++)
        reader_drop(&r->rd[i]);
    free(r->scan.segs);
    memset(&r->scan, 0, sizeof r->scan);
    return sl_lake_scan_segments(r->db, r->root, r->kv_key, NULL, 0, &r->scan, errmsg);
}

sl_lake_ref *sl_lake_ref_open(sqlite3 *db, const char *root, const char *kv_key, char **errmsg) {
    *errmsg = NULL;
    sl_lake_ref *r = calloc(1, sizeof *r);
    if (!r) return NULL;
    r->db = db;
    if (snprintf(r->root, sizeof r->root, "%s", root) >= (int)sizeof r->root ||
        snprintf(r->kv_key, sizeof r->kv_key, "%s", kv_key) >= (int)sizeof r->kv_key) {
        *errmsg = sqlite3_mprintf("lake reference: root or key too long");
        free(r);
        return NULL;
    }
    if (sl_lake_ref_refresh(r, errmsg) != SQLITE_OK) {
        sl_lake_ref_close(r);
        return NULL;
    }
    return r;
}

void sl_lake_ref_close(sl_lake_ref *r) {
    if (!r) return;
    for (int i = 0; i < REF_READERS; i++)
        reader_drop(&r->rd[i]);
    for (int i = 0; i < SL_MAX_COLUMNS; i++) {
        free(r->slot[i].null);
        free(r->slot[i].vals);
        free(r->slot[i].off);
        free(r->slot[i].bytes);
    }
    free(r->scan.segs);
    free(r->stat_min);
    free(r->stat_max);
    free(r);
}

/* The open reader of segment `seq`, opening it (evicting the least recently
 * used) if needed. NULL with *err set: SL_ENOTFOUND when B's committed view
 * has no such segment (or nothing committed in it), else the open error. */
static ref_reader *reader_get(sl_lake_ref *r, int64_t seq, sl_error *err) {
    ref_reader *victim = &r->rd[0];
    for (int i = 0; i < REF_READERS; i++) {
        ref_reader *e = &r->rd[i];
        if (e->pq && e->seq == seq) {
            e->used = ++r->tick;
            return e;
        }
        if (!e->pq || (victim->pq && e->used < victim->used)) victim = e;
    }
    size_t lo = 0, hi = r->scan.n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (r->scan.segs[mid].seq < seq)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo >= r->scan.n || r->scan.segs[lo].seq != seq) {
        sl_error_set(err, SL_ENOTFOUND, "segment %lld is not in the committed segments of %s",
                     (long long)seq, r->root);
        return NULL;
    }
    const sl_lake_segment *s = &r->scan.segs[lo];
    const char *cold = r->scan.cold_root;
    int committed = strcmp(s->path, r->scan.pos_seg) == 0;
    int64_t limit = committed ? r->scan.pos_len : -1;
    if (committed && limit <= 4) {
        sl_error_set(err, SL_ENOTFOUND, "segment %s of %s has no committed rows", s->path, r->root);
        return NULL;
    }
    char abs[PATH_MAX + 256];
    snprintf(abs, sizeof abs, "%s/%s", s->cold ? cold : r->root, s->path);
    struct stat sb;
    if (stat(abs, &sb) != 0 && errno == ENOENT && !s->cold && cold[0]) {
        snprintf(abs, sizeof abs, "%s/%s", cold, s->path); /* moved since the listing */
        limit = -1;                                        /* the cold copy is rewritten whole */
    }
    sl_error e2 = {0, {0}};
    sl_pq_reader *pq = sl_pq_open(abs, limit, &e2);
    if (!pq) {
        sl_error_set(err, e2.code ? e2.code : SL_EIO, "segment %s of %s: %s", s->path, r->root,
                     e2.msg);
        return NULL;
    }
    int nrg = sl_pq_num_row_groups(pq);
    int64_t *cum = malloc(sizeof *cum * ((size_t)nrg + 1));
    if (!cum) {
        sl_pq_close_reader(pq);
        sl_error_set(err, SL_ENOMEM, "out of memory");
        return NULL;
    }
    cum[0] = 0;
    for (int g = 0; g < nrg; g++)
        cum[g + 1] = cum[g] + sl_pq_row_group_rows(pq, g);
    reader_drop(victim);
    victim->pq = pq;
    victim->seq = seq;
    victim->nrg = nrg;
    victim->cum = cum;
    victim->used = ++r->tick;
    return victim;
}

/* The row group holding `row` (cum[g] <= row < cum[g + 1]); -1 past the end. */
static int find_group(const ref_reader *e, int64_t row) {
    if (row < 0 || row >= e->cum[e->nrg]) return -1;
    int lo = 0, hi = e->nrg - 1;
    while (lo < hi) {
        int mid = lo + (hi - lo + 1) / 2;
        if (e->cum[mid] <= row)
            lo = mid;
        else
            hi = mid - 1;
    }
    return lo;
}

static int slot_reserve(ref_slot *s, uint32_t n) {
    if (n <= s->cap) return 0;
    uint32_t cap = s->cap ? s->cap : 1024;
    while (cap < n)
        cap = cap > UINT32_MAX / 2 ? n : cap * 2;
    uint8_t *nul = realloc(s->null, cap);
    if (nul) s->null = nul;
    void *vals = realloc(s->vals, (size_t)cap * sizeof(sl_str));
    if (vals) s->vals = vals;
    size_t *off = realloc(s->off, (size_t)cap * sizeof *off);
    if (off) s->off = off;
    if (!nul || !vals || !off) return -1;
    s->cap = cap;
    return 0;
}

static int same_storage(sl_type a, sl_type b) {
    int ia = a == SL_T_INT || a == SL_T_TS, ib = b == SL_T_INT || b == SL_T_TS;
    return a == b || (ia && ib);
}

int sl_lake_ref_gather(sl_lake_ref *r, const char *column, sl_type type, const int64_t *rowids,
                       uint32_t n, int slot, sl_column *out, sl_error *err) {
    if (slot < 0 || slot >= SL_MAX_COLUMNS)
        return sl_error_set(err, SL_EINVAL, "lake reference: bad slot %d", slot);
    if (type != SL_T_INT && type != SL_T_TS && type != SL_T_DOUBLE && type != SL_T_BOOL &&
        type != SL_T_STRING)
        return sl_error_set(err, SL_EINVAL, "lake reference: column %s: unsupported type", column);
    ref_slot *s = &r->slot[slot];
    if (slot_reserve(s, n ? n : 1) != 0) return sl_error_set(err, SL_ENOMEM, "out of memory");
    size_t nbytes = 0;
    ref_reader *e = NULL;
    int fc = -1, rg = -1;
    const sl_column *k = NULL;
    for (uint32_t i = 0; i < n; i++) {
        int64_t id = rowids[i];
        int64_t seq = id >> 32, row = id & 0xffffffffLL;
        if (id < 0)
            return sl_error_set(err, SL_ENOTFOUND, "row id %lld is not a row of %s", (long long)id,
                                r->root);
        if (!e || e->seq != seq) {
            e = reader_get(r, seq, err);
            if (!e) {
                char m[SL_ERROR_MAX];
                snprintf(m, sizeof m, "%s", err->msg);
                return sl_error_set(err, err->code, "row id %lld (segment %lld, row %lld): %s",
                                    (long long)id, (long long)seq, (long long)row, m);
            }
            const sl_schema *fs = sl_pq_schema(e->pq);
            fc = sl_schema_find(fs, column);
            if (fc >= 0 && !same_storage(fs->f[fc].type, type))
                return sl_error_set(
                    err, SL_EINVAL, "column %s has type %s in segment %lld of %s, not %s", column,
                    sl_type_name(fs->f[fc].type), (long long)seq, r->root, sl_type_name(type));
            rg = -1;
        }
        if (rg < 0 || row < e->cum[rg] || row >= e->cum[rg + 1]) {
            rg = find_group(e, row);
            if (rg < 0)
                return sl_error_set(err, SL_ENOTFOUND,
                                    "row id %lld (segment %lld, row %lld) is past the %lld "
                                    "committed rows of that segment of %s",
                                    (long long)id, (long long)seq, (long long)row,
                                    (long long)e->cum[e->nrg], r->root);
            k = NULL;
            if (fc >= 0) {
                if (e->dec_rg[slot] != rg + 1 || e->dec_col[slot] != fc) {
                    e->dec_rg[slot] = 0;
                    if (sl_pq_read_column(e->pq, rg, fc, slot, &e->dec[slot], err) != 0)
                        return err->code ? err->code : SL_ECORRUPT;
                    e->dec_rg[slot] = rg + 1;
                    e->dec_col[slot] = fc;
                }
                k = &e->dec[slot];
            }
        }
        int64_t j = row - e->cum[rg];
        if (!k || (k->null && k->null[j])) {
            s->null[i] = 1;
            switch (type) {
            case SL_T_STRING:
                ((sl_str *)s->vals)[i].len = 0;
                s->off[i] = 0;
                break;
            case SL_T_BOOL:
                ((uint8_t *)s->vals)[i] = 0;
                break;
            case SL_T_DOUBLE:
                ((double *)s->vals)[i] = 0;
                break;
            default:
                ((int64_t *)s->vals)[i] = 0;
            }
            continue;
        }
        s->null[i] = 0;
        switch (type) {
        case SL_T_INT:
        case SL_T_TS:
            ((int64_t *)s->vals)[i] = k->v.i[j];
            break;
        case SL_T_DOUBLE:
            ((double *)s->vals)[i] = k->v.d[j];
            break;
        case SL_T_BOOL:
            ((uint8_t *)s->vals)[i] = k->v.b[j];
            break;
        default: {
            sl_str v = k->v.s[j];
            if (nbytes + v.len > s->bytes_cap) {
                size_t cap = s->bytes_cap ? s->bytes_cap : 4096;
                while (cap < nbytes + v.len)
                    cap *= 2;
                char *b = realloc(s->bytes, cap);
                if (!b) return sl_error_set(err, SL_ENOMEM, "out of memory");
                s->bytes = b;
                s->bytes_cap = cap;
            }
            if (v.len) memcpy(s->bytes + nbytes, v.ptr, v.len);
            s->off[i] = nbytes;
            ((sl_str *)s->vals)[i].len = v.len;
            nbytes += v.len;
        }
        }
    }
    if (type == SL_T_STRING) { /* bytes may have moved while growing: pointers now */
        sl_str *sv = s->vals;
        for (uint32_t i = 0; i < n; i++)
            sv[i].ptr = s->bytes ? s->bytes + s->off[i] : "";
    }
    out->type = type;
    out->null = s->null;
    out->v.p = s->vals;
    return 0;
}

/* Copies a string bound into r's buffer (a reader may be evicted later). */
static int keep_bound(char **buf, size_t *cap, sl_str *v) {
    if (v->len + 1 > *cap) {
        size_t c = v->len + 64;
        char *b = realloc(*buf, c);
        if (!b) return -1;
        *buf = b;
        *cap = c;
    }
    memcpy(*buf, v->ptr, v->len);
    v->ptr = *buf;
    return 0;
}

int sl_lake_ref_range_stats(sl_lake_ref *r, const char *column, sl_type type, int64_t lo,
                            int64_t hi, sl_pq_stats *out) {
    if (lo < 0 || hi < lo) return -1;
    memset(out, 0, sizeof *out);
    out->null_count = -1;
    bool any = false;
    for (int64_t seq = lo >> 32; seq <= hi >> 32; seq++) {
        sl_error err = {0, {0}};
        ref_reader *e = reader_get(r, seq, &err);
        if (!e) {
            if (err.code == SL_ENOTFOUND && seq != lo >> 32 && seq != hi >> 32)
                continue; /* a sequence number no segment took (a skipped one) */
            return -1;
        }
        const sl_schema *fs = sl_pq_schema(e->pq);
        int fc = sl_schema_find(fs, column);
        if (fc < 0 || !same_storage(fs->f[fc].type, type)) return -1;
        int g0 = seq == lo >> 32 ? find_group(e, lo & 0xffffffffLL) : 0;
        int g1 = seq == hi >> 32 ? find_group(e, hi & 0xffffffffLL) : e->nrg - 1;
        if (g0 < 0 || g1 < 0) return -1;
        for (int g = g0; g <= g1; g++) {
            sl_pq_stats st;
            if (sl_pq_chunk_stats(e->pq, g, fc, &st) != 0 || !st.has_min_max) return -1;
            bool lower, higher;
            switch (type) {
            case SL_T_DOUBLE:
                if (st.min.d != st.min.d || st.max.d != st.max.d) return -1; /* NaN */
                lower = !any || st.min.d < out->min.d;
                higher = !any || st.max.d > out->max.d;
                break;
            case SL_T_BOOL:
                lower = !any || st.min.b < out->min.b;
                higher = !any || st.max.b > out->max.b;
                break;
            case SL_T_STRING: {
                size_t n = st.min.s.len < out->min.s.len ? st.min.s.len : out->min.s.len;
                int c = any ? memcmp(st.min.s.ptr, out->min.s.ptr, n) : 0;
                lower = !any || c < 0 || (c == 0 && st.min.s.len < out->min.s.len);
                n = st.max.s.len < out->max.s.len ? st.max.s.len : out->max.s.len;
                c = any ? memcmp(st.max.s.ptr, out->max.s.ptr, n) : 0;
                higher = !any || c > 0 || (c == 0 && st.max.s.len > out->max.s.len);
                break;
            }
            default:
                lower = !any || st.min.i < out->min.i;
                higher = !any || st.max.i > out->max.i;
                break;
            }
            if (lower) {
                out->min = st.min;
                if (type == SL_T_STRING && keep_bound(&r->stat_min, &r->stat_min_cap, &out->min.s))
                    return -1;
            }
            if (higher) {
                out->max = st.max;
                if (type == SL_T_STRING && keep_bound(&r->stat_max, &r->stat_max_cap, &out->max.s))
                    return -1;
            }
            any = true;
        }
    }
    out->has_min_max = any;
    return any ? 0 : -1;
}
