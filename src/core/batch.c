/* batch.c - column batches; see batch.h. */
#include "core/batch.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/mem.h"

const char *sl_type_name(sl_type t) {
    switch (t) {
    case SL_T_NULL:
        return "null";
    case SL_T_BOOL:
        return "bool";
    case SL_T_INT:
        return "int";
    case SL_T_DOUBLE:
        return "double";
    case SL_T_STRING:
        return "string";
    case SL_T_TS:
        return "timestamp";
    }
    return "?";
}

int sl_type_parse(const char *name) {
    static const struct {
        const char *n;
        sl_type t;
    } names[] = {
        {"bool", SL_T_BOOL},     {"boolean", SL_T_BOOL}, {"int", SL_T_INT},
        {"integer", SL_T_INT},   {"bigint", SL_T_INT},   {"long", SL_T_INT},
        {"double", SL_T_DOUBLE}, {"float", SL_T_DOUBLE}, {"real", SL_T_DOUBLE},
        {"string", SL_T_STRING}, {"text", SL_T_STRING},  {"varchar", SL_T_STRING},
        {"timestamp", SL_T_TS},  {"ts", SL_T_TS},
    };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strcasecmp(name, names[i].n) == 0) return (int)names[i].t;
    return -1;
}

void sl_schema_init(sl_schema *s) { s->n = 0; }

int sl_schema_find(const sl_schema *s, const char *name) {
    for (int i = 0; i < s->n; i++)
        if (strcmp(s->f[i].name, name) == 0) return i;
    return -1;
}

int sl_schema_add(sl_schema *s, const char *name, sl_type type) {
    if (s->n >= SL_MAX_COLUMNS || sl_schema_find(s, name) >= 0) return -1;
    if (strlen(name) >= SL_NAME_MAX) return -1;
    strcpy(s->f[s->n].name, name);
    s->f[s->n].type = type;
    return s->n++;
}

static size_t value_size(sl_type t) {
    switch (t) {
    case SL_T_BOOL:
        return 1;
    case SL_T_STRING:
        return sizeof(sl_str);
    case SL_T_DOUBLE:
        return sizeof(double);
    default:
        return sizeof(int64_t);
    }
}

static void column_alloc(sl_column *c, sl_type t, uint32_t cap) {
    c->type = t;
    c->null = sl_xcalloc(cap, 1);
    memset(c->null, 1, cap);
    c->v.p = sl_xcalloc(cap, value_size(t));
}

static void column_free(sl_column *c) {
    free(c->null);
    free(c->v.p);
    c->null = NULL;
    c->v.p = NULL;
}

sl_batch *sl_batch_new(const sl_schema *schema, uint32_t cap) {
    sl_batch *b = sl_xcalloc(1, sizeof *b);
    b->cap = cap;
    b->part = sl_xcalloc(cap, sizeof *b->part);
    b->pos = sl_xcalloc(cap, sizeof *b->pos);
    b->ingest = sl_xcalloc(cap, sizeof *b->ingest);
    b->raw = sl_xcalloc(cap, sizeof *b->raw);
    b->ref = sl_xcalloc(cap, sizeof *b->ref);
    b->arena = sl_arena_new(256 * 1024);
    sl_schema_init(&b->schema);
    if (schema) sl_batch_reset_schema(b, schema);
    return b;
}

void sl_batch_free(sl_batch *b) {
    if (!b) return;
    for (int i = 0; i < b->schema.n; i++)
        column_free(&b->col[i]);
    free(b->part);
    free(b->pos);
    free(b->ingest);
    free(b->raw);
    free(b->ref);
    sl_arena_free(b->arena);
    free(b);
}

void sl_batch_clear(sl_batch *b) {
    for (int i = 0; i < b->schema.n; i++)
        memset(b->col[i].null, 1, b->n);
    b->n = 0;
    sl_arena_reset(b->arena);
}

int sl_batch_add_column(sl_batch *b, const char *name, sl_type type) {
    assert(b->schema.n <= SL_MAX_COLUMNS);
    int idx = sl_schema_add(&b->schema, name, type);
    if (idx < 0) return -1;
    column_alloc(&b->col[idx], type, b->cap);
    return idx;
}

/* A column slot keeps its buffers when the new type's values have the same
 * size (the common case: the engine resets its window output batch to each
 * window table's schema every commit), so a reset costs two memsets, not a
 * free, a calloc and fresh pages per column. The contents are as after
 * column_alloc: every row NULL, every value zero. */
void sl_batch_reset_schema(sl_batch *b, const sl_schema *schema) {
    int old_n = b->schema.n;
    for (int i = 0; i < old_n; i++)
        if (i >= schema->n || value_size(b->col[i].type) != value_size(schema->f[i].type))
            column_free(&b->col[i]);
    b->schema = *schema;
    for (int i = 0; i < schema->n; i++) {
        if (i < old_n && b->col[i].v.p) {
            b->col[i].type = schema->f[i].type;
            memset(b->col[i].null, 1, b->cap);
            memset(b->col[i].v.p, 0, (size_t)b->cap * value_size(schema->f[i].type));
        } else {
            column_alloc(&b->col[i], schema->f[i].type, b->cap);
        }
    }
    b->n = 0;
    sl_arena_reset(b->arena);
}

uint32_t sl_batch_append_null_row(sl_batch *b) {
    assert(b->n < b->cap); /* batch.h: n must be < cap */
    uint32_t i = b->n++;
    for (int c = 0; c < b->schema.n; c++)
        b->col[c].null[i] = 1;
    b->part[i] = 0;
    b->pos[i] = 0;
    b->ingest[i] = 0;
    b->raw[i].ptr = NULL;
    b->raw[i].len = 0;
    b->ref[i] = 0;
    return i;
}

/* Compaction moves runs of kept rows, not rows: filters usually drop a few
 * scattered rows (duplicates, late events), so one pass over keep[] finds
 * the runs once and each array then costs one memmove per run instead of a
 * test and a copy per row. The rows before the first dropped one stay where
 * they are. With more runs than KEEP_RUNS (dense, alternating drops) the
 * arrays are compacted row by row, branch-free. */
#define KEEP_RUNS 512

typedef struct keep_run {
    uint32_t from, len; /* source rows [from, from + len) */
} keep_run;

static void keep_array(void *arr, size_t sz, const uint8_t *keep, uint32_t first, uint32_t n,
                       const keep_run *runs, int nruns) {
    char *a = arr;
    if (nruns >= 0) {
        size_t o = first;
        for (int k = 0; k < nruns; k++) {
            memmove(a + o * sz, a + (size_t)runs[k].from * sz, (size_t)runs[k].len * sz);
            o += runs[k].len;
        }
        return;
    }
    size_t o = first;
    switch (sz) { /* the sizes of batch arrays, so each loop copies one word */
    case 1:
        for (uint32_t i = first; i < n; i++) {
            a[o] = a[i];
            o += keep[i] != 0;
        }
        break;
    case 4:
        for (uint32_t i = first; i < n; i++) {
            memcpy(a + o * 4, a + (size_t)i * 4, 4);
            o += keep[i] != 0;
        }
        break;
    case 8:
        for (uint32_t i = first; i < n; i++) {
            memcpy(a + o * 8, a + (size_t)i * 8, 8);
            o += keep[i] != 0;
        }
        break;
    case 16:
        for (uint32_t i = first; i < n; i++) {
            memmove(a + o * 16, a + (size_t)i * 16, 16);
            o += keep[i] != 0;
        }
        break;
    default:
        for (uint32_t i = first; i < n; i++)
            if (keep[i]) memmove(a + o++ * sz, a + (size_t)i * sz, sz);
        break;
    }
}

uint32_t sl_batch_keep(sl_batch *b, const uint8_t *keep) {
    const uint32_t n = b->n;
    uint32_t first = 0;
    while (first < n && keep[first])
        first++;
    if (first == n) return n;
    keep_run runs[KEEP_RUNS];
    int nruns = 0;
    uint32_t out = first;
    for (uint32_t i = first; i < n;) {
        while (i < n && !keep[i])
            i++;
        uint32_t from = i;
        while (i < n && keep[i])
            i++;
        if (i == from) break;
        if (nruns >= 0 && nruns < KEEP_RUNS)
            runs[nruns++] = (keep_run){from, i - from};
        else
            nruns = -1;
        out += i - from;
    }
    for (int c = 0; c < b->schema.n; c++) {
        sl_column *col = &b->col[c];
        keep_array(col->null, 1, keep, first, n, runs, nruns);
        keep_array(col->v.p, value_size(col->type), keep, first, n, runs, nruns);
        memset(col->null + out, 1, n - out);
    }
    keep_array(b->part, sizeof *b->part, keep, first, n, runs, nruns);
    keep_array(b->pos, sizeof *b->pos, keep, first, n, runs, nruns);
    keep_array(b->ingest, sizeof *b->ingest, keep, first, n, runs, nruns);
    keep_array(b->raw, sizeof *b->raw, keep, first, n, runs, nruns);
    keep_array(b->ref, sizeof *b->ref, keep, first, n, runs, nruns);
    b->n = out;
    return out;
}

void sl_batch_copy(sl_batch *dst, const sl_batch *src) {
    uint32_t n = src->n;
    /* batch.h: same schema, dst empty and big enough */
    assert(dst->n == 0 && dst->cap >= n && dst->schema.n >= src->schema.n);
    for (int c = 0; c < src->schema.n; c++)
        assert(dst->col[c].type == src->col[c].type);
    for (int c = 0; c < src->schema.n; c++) {
        memcpy(dst->col[c].null, src->col[c].null, n);
        memcpy(dst->col[c].v.p, src->col[c].v.p, n * value_size(src->col[c].type));
    }
    memcpy(dst->part, src->part, n * sizeof *src->part);
    memcpy(dst->pos, src->pos, n * sizeof *src->pos);
    memcpy(dst->ingest, src->ingest, n * sizeof *src->ingest);
    memcpy(dst->raw, src->raw, n * sizeof *src->raw);
    memcpy(dst->ref, src->ref, n * sizeof *src->ref);
    dst->n = n;
}
