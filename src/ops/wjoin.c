/*
 * wjoin.c - the window-window join (wjoin.h has the rules).
 *
 * Each side's final row is saved as one blob of its saved columns (window_start, the keys, then
 * the columns it contributes), encoded column after column as a null byte followed by the
 * value (8 bytes for int/timestamp/double, 1 for bool, a 4-byte length and the bytes for a
 * string). A pending pair holds up to two blobs, so the state is what the rows are, with no
 * per-column allocation; a pair's memory is allocated when its first side comes and freed when
 * it is emitted, which happens once per final window row, never per input record.
 *
 * Emission scans the pending pairs, but only when something can be ready: a pair with both
 * sides came in, or a watermark reached the end of the oldest pending window (min_ws is a lower
 * bound of the pending window starts, made exact by every scan). So a commit with nothing to do
 * costs nothing, and a commit that emits costs the pairs held, which are those of the few
 * windows between the two inputs' watermarks.
 */
#include "ops/wjoin.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/mem.h"

#define WJ_MAX_KEYS 16
#define WJ_SEED 0x77a01e5dULL
#define WJ_MAGIC 0x314e494f4a57LL /* "WJOIN1" */

typedef struct {
    const char *left, *right;
    const sl_node *left_at, *right_at;
    const sl_node *on, *right_columns;
    int how; /* 0 left, 1 inner */
} wj_conf;

const sl_opt sl_wjoin_opts[] = {
    {"left", SL_OPT_STRING, true, NULL, NULL,
     "table whose final window rows are kept (a window table, or a row-level child of one)",
     SL_OPT_BIND(wj_conf, left), SL_OPT_AT(wj_conf, left_at)},
    {"right", SL_OPT_STRING, true, NULL, NULL,
     "table whose final window rows are joined to them (a window of the same size)",
     SL_OPT_BIND(wj_conf, right), SL_OPT_AT(wj_conf, right_at)},
    {"on", SL_OPT_LIST, true, NULL, NULL,
     "key column(s) both inputs have (window_start is always part of the match)",
     SL_OPT_BIND(wj_conf, on)},
    {"how", SL_OPT_ENUM, false, "left|inner", "left",
     "left: every left row, NULL right columns when the right has none; inner: pairs only",
     SL_OPT_BIND(wj_conf, how)},
    {"right_columns", SL_OPT_ANY, false, NULL, NULL,
     "the right's columns to add: [a, b] or {new_name: column} (default: every non-key column)",
     SL_OPT_BIND(wj_conf, right_columns)},
    {0},
};

typedef struct {
    uint64_t h;
    int64_t ws;
    uint8_t have; /* bit 0: left came, bit 1: right came */
    uint8_t *blob[2];
    uint32_t len[2];
} pend;

typedef struct {
    int64_t ws;
    uint64_t h;
} ready_key;

struct sl_wjoin {
    sl_schema out;
    int64_t size;
    int how, nkeys;
    /* per side: the input columns saved, in blob order: window_start, keys, then its own */
    int nsave[2], save[2][SL_MAX_COLUMNS], fin[2];
    sl_type stype[2][SL_MAX_COLUMNS];
    /* output column o comes from side oside[o] (-1: window_start or a key, from either side)
     * at saved index oidx[o] */
    int oside[SL_MAX_COLUMNS], oidx[SL_MAX_COLUMNS], c_final, c_group;
    uint64_t shape; /* fingerprint of the saved columns, checked at restore */
    pend *p;
    size_t n, cap;
    sl_hmap *idx;     /* pair hash -> index in p */
    sl_hmap *changed; /* pairs put since the last snapshot */
    uint64_t *released;
    size_t nrel, caprel;
    ready_key *rdy;
    size_t caprdy;
    size_t nboth;   /* pending pairs with both sides */
    int64_t min_ws; /* <= every pending window start (INT64_MAX: none) */
    size_t blob_bytes;
    sl_buf enc;
    sl_wjoin_stats st;
};

int sl_wjoin_inputs(const sl_node *spec, const sl_node **left, const sl_node **right,
                    sl_error *err) {
    wj_conf c;
    if (sl_spec_bind(spec, sl_wjoin_opts, "join", &c, err)) return SL_EINVAL;
    *left = c.left_at, *right = c.right_at;
    return 0;
}

static bool reserved(const char *name) {
    return !strcmp(name, "window_start") || !strcmp(name, "is_final") || !strcmp(name, "_group") ||
           !strcmp(name, "_version");
}

static int add_out(sl_wjoin *j, const sl_node *at, const char *name, sl_type t, int side, int idx,
                   const char *owner, sl_error *err) {
    int have = sl_schema_find(&j->out, name);
    if (have >= 0) {
        const char *prev = j->oside[have] == SL_WJOIN_RIGHT ? "right's" : "left's";
        return sl_node_error(err, at,
                             "join: the %s column '%s' collides with the %s column '%s' (rename "
                             "it with right_columns: {new_name: %s})",
                             owner, name, prev, name, name);
    }
    int o = sl_schema_add(&j->out, name, t);
    if (o < 0) return sl_node_error(err, at, "join: too many columns");
    j->oside[o] = side, j->oidx[o] = idx;
    return 0;
}

static int save_col(sl_wjoin *j, int side, int col, const sl_schema *in) {
    int k = j->nsave[side]++;
    j->save[side][k] = col;
    j->stype[side][k] = in->f[col].type;
    return k;
}

static int need_col(const sl_schema *s, const char *name, sl_type t, const char *side,
                    const sl_node *at, sl_error *err) {
    int c = sl_schema_find(s, name);
    if (c < 0 || s->f[c].type != t)
        return sl_node_error(err, at,
                             "join: the %s input has no %s column '%s' (it must be the rows of a "
                             "window table or of a row-level child of one)",
                             side, sl_type_name(t), name),
               -1;
    return c;
}

sl_wjoin *sl_wjoin_create(const sl_node *spec, const sl_schema *left, const sl_schema *right,
                          int64_t size_us, sl_error *err) {
    wj_conf c;
    if (sl_spec_bind(spec, sl_wjoin_opts, "join", &c, err)) return NULL;
    sl_wjoin *j = sl_xcalloc(1, sizeof *j);
    j->size = size_us, j->how = c.how, j->min_ws = INT64_MAX;
    const sl_schema *in[2] = {left, right};
    const char *sname[2] = {"left", "right"};
    const sl_node *sat[2] = {c.left_at, c.right_at};
    sl_schema_init(&j->out);
    for (int s = 0; s < 2; s++) {
        int ws = need_col(in[s], "window_start", SL_T_TS, sname[s], sat[s], err);
        if (ws < 0) goto fail;
        if ((j->fin[s] = need_col(in[s], "is_final", SL_T_BOOL, sname[s], sat[s], err)) < 0)
            goto fail;
        save_col(j, s, ws, in[s]);
    }
    if (add_out(j, spec, "window_start", SL_T_TS, -1, 0, "left's", err)) goto fail;
    j->nkeys = sl_node_list_len(c.on);
    if (j->nkeys == 0 || j->nkeys > WJ_MAX_KEYS) {
        sl_node_error(err, c.on, "join: on names 1 to %d columns", WJ_MAX_KEYS);
        goto fail;
    }
    for (int k = 0; k < j->nkeys; k++) {
        const sl_node *kn = sl_node_list_at(c.on, k);
        const char *name = kn->kind == SL_NODE_SCALAR && kn->str ? kn->str : "";
        int lc = sl_schema_find(left, name), rc = sl_schema_find(right, name);
        if (lc < 0 || rc < 0 || reserved(name)) {
            sl_node_error(err, kn, "join: on: '%s' is not a key column of the %s input", name,
                          lc < 0 || reserved(name) ? "left" : "right");
            goto fail;
        }
        if (left->f[lc].type != right->f[rc].type) {
            sl_node_error(err, kn, "join: on: '%s' is %s on the left and %s on the right", name,
                          sl_type_name(left->f[lc].type), sl_type_name(right->f[rc].type));
            goto fail;
        }
        save_col(j, 0, lc, left);
        save_col(j, 1, rc, right);
        if (add_out(j, kn, name, left->f[lc].type, -1, k + 1, "left's", err)) goto fail;
    }
    for (int f = 0; f < left->n; f++) { /* the left's other columns */
        const char *name = left->f[f].name;
        if (reserved(name) || sl_schema_find(&j->out, name) >= 0) continue;
        int k = save_col(j, 0, f, left);
        if (add_out(j, spec, name, left->f[f].type, 0, k, "left's", err)) goto fail;
    }
    const sl_node *rcols = c.right_columns;
    if (rcols && rcols->kind == SL_NODE_MAP) {
        for (int i = 0; i < rcols->n; i++) {
            const sl_node *v = rcols->map[i].val;
            const char *col = v->kind == SL_NODE_SCALAR && v->str ? v->str : "";
            int f = sl_schema_find(right, col);
            if (f < 0 || reserved(col)) {
                sl_node_error(err, v,
                              "join: right_columns: '%s' is not a column of the right input", col);
                goto fail;
            }
            int k = save_col(j, 1, f, right);
            if (add_out(j, v, rcols->map[i].key, right->f[f].type, 1, k, "right's", err)) goto fail;
        }
    } else if (rcols) {
        int n = sl_node_list_len(rcols);
        for (int i = 0; i < n; i++) {
            const sl_node *v = sl_node_list_at(rcols, i);
            const char *col = v->kind == SL_NODE_SCALAR && v->str ? v->str : "";
            int f = sl_schema_find(right, col);
            if (f < 0 || reserved(col)) {
                sl_node_error(err, v,
                              "join: right_columns: '%s' is not a column of the right input", col);
                goto fail;
            }
            int k = save_col(j, 1, f, right);
            if (add_out(j, v, col, right->f[f].type, 1, k, "right's", err)) goto fail;
        }
    } else {
        for (int f = 0; f < right->n; f++) {
            const char *name = right->f[f].name;
            bool key = false;
            for (int k = 0; k < j->nkeys; k++)
                if (j->save[1][k + 1] == f) key = true;
            if (key || reserved(name)) continue;
            int k = save_col(j, 1, f, right);
            if (add_out(j, spec, name, right->f[f].type, 1, k, "right's", err)) goto fail;
        }
    }
    if ((j->c_final = sl_schema_add(&j->out, "is_final", SL_T_BOOL)) < 0 ||
        (j->c_group = sl_schema_add(&j->out, "_group", SL_T_INT)) < 0) {
        sl_node_error(err, spec, "join: too many columns");
        goto fail;
    }
    uint64_t h = sl_hash_int(j->nkeys, WJ_SEED);
    for (int s = 0; s < 2; s++)
        for (int k = 0; k < j->nsave[s]; k++) {
            const char *name = in[s]->f[j->save[s][k]].name;
            h = sl_hash_bytes(name, strlen(name), sl_hash_int(j->stype[s][k], h));
        }
    j->shape = h;
    j->idx = sl_hmap_new(64);
    j->changed = sl_hmap_new(64);
    return j;
fail:
    free(j);
    return NULL;
}

const sl_schema *sl_wjoin_schema(const sl_wjoin *j) { return &j->out; }

/* ---- blobs ---- */

static void encode_row(sl_wjoin *j, int side, const sl_batch *b, uint32_t i) {
    sl_buf *e = &j->enc;
    e->n = 0;
    for (int k = 0; k < j->nsave[side]; k++) {
        const sl_column *c = &b->col[j->save[side][k]];
        uint8_t isnull = c->null[i] ? 1 : 0;
        sl_buf_put(e, &isnull, 1);
        if (isnull) continue;
        switch (c->type) {
        case SL_T_STRING:
            sl_buf_put_str(e, c->v.s[i].ptr, c->v.s[i].len);
            break;
        case SL_T_BOOL:
            sl_buf_put(e, &c->v.b[i], 1);
            break;
        case SL_T_DOUBLE:
            sl_buf_put(e, &c->v.d[i], 8);
            break;
        default:
            sl_buf_put(e, &c->v.i[i], 8);
            break;
        }
    }
}

typedef struct {
    uint8_t null;
    uint8_t b;
    int64_t i;
    double d;
    const char *s;
    uint32_t len;
} wj_val;

/* Decodes a blob of `side` into v[0..nsave); 0, or SL_ECORRUPT when it does not fit the
 * saved columns (restore checks every blob with this, so emission never reads past one). */
static int decode_blob(const sl_wjoin *j, int side, const uint8_t *p, uint32_t n, wj_val *v) {
    sl_rd r = {p, n, 0};
    for (int k = 0; k < j->nsave[side]; k++) {
        if (sl_rd_bytes(&r, &v[k].null, 1)) return SL_ECORRUPT;
        if (v[k].null) continue;
        switch (j->stype[side][k]) {
        case SL_T_STRING:
            if (sl_rd_str(&r, &v[k].s, &v[k].len)) return SL_ECORRUPT;
            break;
        case SL_T_BOOL:
            if (sl_rd_bytes(&r, &v[k].b, 1)) return SL_ECORRUPT;
            break;
        case SL_T_DOUBLE:
            if (sl_rd_bytes(&r, &v[k].d, 8)) return SL_ECORRUPT;
            break;
        default:
            if (sl_rd_bytes(&r, &v[k].i, 8)) return SL_ECORRUPT;
            break;
        }
    }
    return r.off == n ? 0 : SL_ECORRUPT;
}

/* ---- pending pairs ---- */

static pend *find_or_add(sl_wjoin *j, uint64_t h, int64_t ws) {
    int64_t *slot;
    if (!sl_hmap_put(j->idx, h, (int64_t)j->n, &slot)) return &j->p[*slot];
    if (j->n == j->cap) {
        j->cap = j->cap ? j->cap * 2 : 64;
        j->p = sl_xrealloc(j->p, j->cap * sizeof *j->p);
    }
    pend *e = &j->p[j->n++];
    memset(e, 0, sizeof *e);
    e->h = h, e->ws = ws;
    if (ws < j->min_ws) j->min_ws = ws;
    return e;
}

static void set_side(sl_wjoin *j, pend *e, int side, const void *data, uint32_t len) {
    bool both = e->have == 3;
    j->blob_bytes -= e->len[side];
    e->blob[side] = sl_xrealloc(e->blob[side], len ? len : 1);
    memcpy(e->blob[side], data, len);
    e->len[side] = len;
    j->blob_bytes += len;
    e->have |= (uint8_t)(1u << side);
    if (!both && e->have == 3) j->nboth++;
}

/* Forgets pair h (swap-remove); records the release for the next delta. */
static void release(sl_wjoin *j, uint64_t h, bool record) {
    int64_t *slot = sl_hmap_get(j->idx, h);
    if (!slot) return;
    size_t i = (size_t)*slot;
    pend *e = &j->p[i];
    if (e->have == 3) j->nboth--;
    j->blob_bytes -= e->len[0] + e->len[1];
    free(e->blob[0]);
    free(e->blob[1]);
    sl_hmap_del(j->idx, h);
    if (i != j->n - 1) {
        j->p[i] = j->p[j->n - 1];
        *sl_hmap_get(j->idx, j->p[i].h) = (int64_t)i;
    }
    j->n--;
    if (record) {
        sl_hmap_del(j->changed, h);
        if (j->nrel == j->caprel) {
            j->caprel = j->caprel ? j->caprel * 2 : 64;
            j->released = sl_xrealloc(j->released, j->caprel * sizeof *j->released);
        }
        j->released[j->nrel++] = h;
    }
}

void sl_wjoin_process(sl_wjoin *j, int side, const sl_batch *b) {
    assert(side == 0 || side == 1);
    int hcols[1 + WJ_MAX_KEYS];
    for (int k = 0; k <= j->nkeys; k++)
        hcols[k] = j->save[side][k];
    const sl_column *fin = &b->col[j->fin[side]];
    const sl_column *ws = &b->col[hcols[0]];
    for (uint32_t i = 0; i < b->n; i++) {
        if (fin->null[i] || !fin->v.b[i] || ws->null[i]) {
            j->st.ignored_open++;
            continue;
        }
        uint64_t h = sl_key_hash(b, hcols, j->nkeys + 1, i, WJ_SEED);
        pend *e = find_or_add(j, h, ws->v.i[i]);
        encode_row(j, side, b, i);
        set_side(j, e, side, j->enc.p, (uint32_t)j->enc.n);
        sl_hmap_put(j->changed, h, 0, NULL);
    }
}

static int cmp_ready(const void *a, const void *b) {
    const ready_key *x = a, *y = b;
    if (x->ws != y->ws) return x->ws < y->ws ? -1 : 1;
    return x->h < y->h ? -1 : x->h > y->h;
}

static void put_val(sl_batch *out, int o, uint32_t r, const wj_val *v) {
    sl_column *c = &out->col[o];
    if (v->null) {
        sl_col_set_null(c, r);
        return;
    }
    switch (c->type) {
    case SL_T_STRING: {
        char *s = v->len ? sl_arena_strdup(out->arena, v->s, v->len) : NULL;
        sl_col_set_str(c, r, s ? s : "", v->len);
        break;
    }
    case SL_T_BOOL:
        sl_col_set_bool(c, r, v->b);
        break;
    case SL_T_DOUBLE:
        sl_col_set_double(c, r, v->d);
        break;
    default:
        sl_col_set_int(c, r, v->i);
        break;
    }
}

static void emit_pair(const sl_wjoin *j, const pend *e, sl_batch *out) {
    wj_val v[2][SL_MAX_COLUMNS];
    for (int s = 0; s < 2; s++)
        if (e->have & (1u << s)) {
            int rc = decode_blob(j, s, e->blob[s], e->len[s], v[s]);
            assert(rc == 0);
            (void)rc;
        }
    uint32_t r = sl_batch_append_null_row(out);
    int from = e->have & 1 ? 0 : 1;
    for (int o = 0; o < j->out.n; o++) {
        if (o == j->c_final) {
            sl_col_set_bool(&out->col[o], r, true);
        } else if (o == j->c_group) {
            sl_col_set_int(&out->col[o], r, (int64_t)e->h);
        } else if (j->oside[o] < 0) {
            put_val(out, o, r, &v[from][j->oidx[o]]);
        } else if (e->have & (1u << j->oside[o])) {
            put_val(out, o, r, &v[j->oside[o]][j->oidx[o]]);
        } /* else: the missing side's column stays NULL */
    }
    out->pos[r] = out->ingest[r] = 0;
    out->part[r] = 0;
    out->raw[r] = (sl_str){"", 0};
}

uint32_t sl_wjoin_emit(sl_wjoin *j, sl_batch *out, int64_t wm_left, int64_t wm_right,
                       bool all_final) {
    sl_batch_clear(out);
    int64_t hi = wm_left > wm_right ? wm_left : wm_right;
    if (!j->n || (!all_final && !j->nboth &&
                  (hi == INT64_MIN || hi - j->size < j->min_ws))) /* nothing can be ready */
        return 0;
    if (j->caprdy < j->n) {
        j->caprdy = j->n;
        j->rdy = sl_xrealloc(j->rdy, j->caprdy * sizeof *j->rdy);
    }
    size_t nr = 0;
    int64_t lo = INT64_MAX;
    for (size_t i = 0; i < j->n; i++) {
        const pend *e = &j->p[i];
        /* the missing side's watermark reached window end: it has nothing more for the pair */
        int64_t missing_wm = e->have == 1 ? wm_right : wm_left;
        bool ready =
            all_final || e->have == 3 || (missing_wm != INT64_MIN && missing_wm - j->size >= e->ws);
        if (ready)
            j->rdy[nr++] = (ready_key){e->ws, e->h};
        else if (e->ws < lo)
            lo = e->ws;
    }
    qsort(j->rdy, nr, sizeof *j->rdy, cmp_ready);
    size_t k = 0;
    for (; k < nr; k++) {
        int64_t *slot = sl_hmap_get(j->idx, j->rdy[k].h);
        assert(slot);
        const pend *e = &j->p[*slot];
        bool row = e->have == 3 || (e->have == 1 && j->how == 0);
        if (row && out->n == out->cap) break;
        if (e->have == 3)
            j->st.matched++;
        else
            j->st.unmatched++;
        if (row) emit_pair(j, e, out);
        release(j, j->rdy[k].h, true);
    }
    /* the pairs left behind (a full batch) are still pending: the bound stays a bound */
    for (size_t m = k; m < nr; m++)
        if (j->rdy[m].ws < lo) lo = j->rdy[m].ws;
    j->min_ws = lo;
    return out->n;
}

/* ---- snapshots ---- */

static void put_pend(sl_buf *out, const pend *e) {
    sl_buf_put_i64(out, (int64_t)e->h);
    sl_buf_put_i64(out, e->ws);
    sl_buf_put_i64(out, e->have);
    for (int s = 0; s < 2; s++)
        sl_buf_put_str(out, (const char *)(e->blob[s] ? e->blob[s] : (const uint8_t *)""),
                       e->len[s]);
}

int sl_wjoin_snapshot(sl_wjoin *j, sl_buf *out, bool full) {
    sl_buf_put_i64(out, WJ_MAGIC);
    sl_buf_put_i64(out, (int64_t)j->shape);
    sl_buf_put_i64(out, full ? 0 : (int64_t)j->nrel);
    for (size_t i = 0; !full && i < j->nrel; i++)
        sl_buf_put_i64(out, (int64_t)j->released[i]);
    size_t nput = 0;
    for (size_t i = 0; i < j->n; i++)
        if (full || sl_hmap_get(j->changed, j->p[i].h)) nput++;
    sl_buf_put_i64(out, (int64_t)nput);
    for (size_t i = 0; i < j->n; i++)
        if (full || sl_hmap_get(j->changed, j->p[i].h)) put_pend(out, &j->p[i]);
    sl_hmap_clear(j->changed);
    j->nrel = 0;
    return 0;
}

static void clear_all(sl_wjoin *j) {
    for (size_t i = 0; i < j->n; i++) {
        free(j->p[i].blob[0]);
        free(j->p[i].blob[1]);
    }
    j->n = j->nboth = j->blob_bytes = 0;
    j->min_ws = INT64_MAX;
    sl_hmap_clear(j->idx);
}

int sl_wjoin_restore(sl_wjoin *j, const void *data, size_t n, bool full, sl_error *err) {
    sl_rd r = {data, n, 0};
    int64_t magic, shape, ndel, nput;
    if (sl_rd_i64(&r, &magic) || magic != WJ_MAGIC)
        return sl_error_set(err, SL_ECORRUPT, "join state: not a join snapshot");
    if (sl_rd_i64(&r, &shape)) goto corrupt;
    if ((uint64_t)shape != j->shape)
        return sl_error_set(err, SL_ECORRUPT,
                            "join state: saved for other input columns (the join or its inputs "
                            "changed; remove the data directory to rebuild)");
    if (full) clear_all(j);
    if (sl_rd_i64(&r, &ndel) || ndel < 0 || (size_t)ndel > n / 8) goto corrupt;
    for (int64_t i = 0; i < ndel; i++) {
        int64_t h;
        if (sl_rd_i64(&r, &h)) goto corrupt;
        release(j, (uint64_t)h, false);
    }
    if (sl_rd_i64(&r, &nput) || nput < 0 || (size_t)nput > n / 24) goto corrupt;
    wj_val v[SL_MAX_COLUMNS];
    for (int64_t i = 0; i < nput; i++) {
        int64_t h, ws, have;
        const char *blob[2];
        uint32_t len[2];
        if (sl_rd_i64(&r, &h) || sl_rd_i64(&r, &ws) || sl_rd_i64(&r, &have) || have < 1 ||
            have > 3 || sl_rd_str(&r, &blob[0], &len[0]) || sl_rd_str(&r, &blob[1], &len[1]))
            goto corrupt;
        for (int s = 0; s < 2; s++)
            if ((have & (1 << s)) && decode_blob(j, s, (const uint8_t *)blob[s], len[s], v))
                goto corrupt;
        release(j, (uint64_t)h, false); /* a delta's pair replaces the held one whole */
        pend *e = find_or_add(j, (uint64_t)h, ws);
        for (int s = 0; s < 2; s++)
            if (have & (1 << s)) set_side(j, e, s, blob[s], len[s]);
    }
    if (r.off != n) goto corrupt;
    sl_hmap_clear(j->changed);
    j->nrel = 0;
    return 0;
corrupt:
    return sl_error_set(err, SL_ECORRUPT, "join state: damaged snapshot");
}

void sl_wjoin_get_stats(const sl_wjoin *j, sl_wjoin_stats *out) {
    *out = j->st;
    out->pending = (int64_t)j->n;
    out->bytes =
        (int64_t)(sizeof *j + j->cap * sizeof *j->p + j->blob_bytes + sl_hmap_bytes(j->idx) +
                  sl_hmap_bytes(j->changed) + j->caprel * sizeof *j->released +
                  j->caprdy * sizeof *j->rdy + j->enc.cap);
}

void sl_wjoin_free(sl_wjoin *j) {
    if (!j) return;
    clear_all(j);
    free(j->p);
    free(j->released);
    free(j->rdy);
    sl_buf_free(&j->enc);
    sl_hmap_free(j->idx);
    sl_hmap_free(j->changed);
    free(j);
}
