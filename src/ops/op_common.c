/* op_common.c - snapshot buffers and expression compilation with spec positions. */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "core/mem.h"
#include "core/hash.h"
#include "expr/expr.h"
#include "ops/op.h"

void sl_buf_put(sl_buf *b, const void *data, size_t n) {
    if (b->n + n > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->n + n)
            cap *= 2;
        b->p = sl_xrealloc(b->p, cap);
        if (!b->p) abort();
        b->cap = cap;
    }
    if (n) memcpy(b->p + b->n, data, n);
    b->n += n;
}

bool sl_op_keeps_values_always(void *self) {
    (void)self;
    return true;
}

uint64_t sl_part_tag(const char *name, size_t len) { return sl_hash_bytes(name, len, 0x9a27); }

bool sl_part_set_has(const sl_part_set *s, uint64_t tag) {
    for (int i = 0; s && i < s->n; i++)
        if (s->tags[i] == tag) return true;
    return false;
}

int sl_part_check_magic(const void *data, size_t len, int64_t plain, int64_t tagged, bool parted,
                        const char *op, sl_error *err) {
    int64_t magic = 0;
    if (len >= sizeof magic) memcpy(&magic, data, sizeof magic);
    if ((magic == plain || magic == tagged) && (magic == tagged) != parted)
        return sl_error_set(err, SL_ECORRUPT,
                            "%s: the state was saved with partitioned_state %s; it is now %s", op,
                            parted ? "off" : "on", parted ? "on" : "off");
    return 0;
}

size_t sl_part_compact(void *slots, size_t n, size_t size, double *vals, size_t per, sl_hmap *index,
                       const sl_part_set *parts) {
    unsigned char *base = slots;
    size_t w = 0;
    for (size_t s = 0; s < n; s++) {
        uint64_t h, tag;
        memcpy(&h, base + s * size, sizeof h);
        memcpy(&tag, base + s * size + sizeof h, sizeof tag);
        if (sl_part_set_has(parts, tag)) {
            sl_hmap_del(index, h);
            continue;
        }
        if (w != s) {
            memcpy(base + w * size, base + s * size, size);
            if (vals) memmove(vals + w * per, vals + s * per, per * sizeof(double));
            int64_t *slot;
            if (!sl_hmap_put(index, h, (int64_t)w, &slot)) *slot = (int64_t)w;
        }
        w++;
    }
    return w;
}

void sl_buf_put_i64(sl_buf *b, int64_t v) { sl_buf_put(b, &v, sizeof v); }

void sl_buf_put_str(sl_buf *b, const char *s, uint32_t len) {
    sl_buf_put(b, &len, sizeof len);
    sl_buf_put(b, s, len);
}

void sl_buf_free(sl_buf *b) {
    free(b->p);
    b->p = NULL;
    b->n = b->cap = 0;
}

int sl_rd_bytes(sl_rd *r, void *out, size_t n) {
    if (r->n - r->off < n) return SL_ECORRUPT;
    memcpy(out, r->p + r->off, n);
    r->off += n;
    return 0;
}

int sl_rd_i64(sl_rd *r, int64_t *v) { return sl_rd_bytes(r, v, sizeof *v); }

int sl_rd_str(sl_rd *r, const char **s, uint32_t *len) {
    if (sl_rd_bytes(r, len, sizeof *len)) return SL_ECORRUPT;
    if (r->n - r->off < *len) return SL_ECORRUPT;
    *s = (const char *)r->p + r->off;
    r->off += *len;
    return 0;
}

struct sl_expr *sl_op_compile_expr(const sl_node *n, const sl_schema *schema, sl_error *err) {
    if (!n || n->kind != SL_NODE_SCALAR) {
        if (n)
            sl_node_error(err, n, "expected an expression");
        else
            sl_error_set(err, SL_EINVAL, "missing expression");
        return NULL;
    }
    return sl_expr_compile_at(n->str, schema, n->file, n->line, n->col, n->quoted, err);
}

int sl_op_stats_json(const sl_op_def *def, void *self, char *out, size_t cap) {
    sl_op_stat v[SL_OP_MAX_STATS];
    int k = def->stats ? def->stats(self, v, SL_OP_MAX_STATS) : 0;
    assert(k >= 0 && k <= SL_OP_MAX_STATS);
    size_t n = 0;
    n += (size_t)snprintf(out, cap, "{");
    for (int j = 0; j < k && n < cap; j++)
        n += (size_t)snprintf(out + n, cap - n, "%s\"%s\":%.17g", j ? "," : "", v[j].key,
                              v[j].value);
    if (n < cap) n += (size_t)snprintf(out + n, cap - n, "}");
    return (int)(n < cap ? n : cap - 1);
}

int sl_op_stats_copy(sl_op_stat *out, int cap, const sl_op_stat *s, int n) {
    if (n > cap) n = cap;
    memcpy(out, s, (size_t)n * sizeof *s);
    return n;
}
