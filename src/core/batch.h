/*
 * batch.h - value types, schemas and column batches.
 *
 * A batch holds up to `cap` rows of one schema, stored by column: typed
 * arrays plus a byte-per-row null array. Strings are views (ptr, len) into
 * memory that outlives the batch's trip through the graph: the source's read
 * buffer or the batch's arena. Filters compact the batch in place
 * (sl_batch_keep) instead of carrying a selection vector: every operator then
 * sees dense rows, and compaction costs one pass over the surviving columns.
 *
 * Each row also carries its provenance: the source partition and position it
 * came from and its raw bytes, so quarantine can keep the original record and
 * exactly-once bookkeeping knows what a row's source offset was.
 */
#ifndef SL_CORE_BATCH_H
#define SL_CORE_BATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/arena.h"

typedef enum sl_type {
    SL_T_NULL = 0, /* only the type of the literal NULL */
    SL_T_BOOL,
    SL_T_INT,    /* int64 */
    SL_T_DOUBLE, /* float64 */
    SL_T_STRING, /* sl_str view */
    SL_T_TS      /* int64 microseconds since the Unix epoch, UTC */
} sl_type;

const char *sl_type_name(sl_type t);
/* "int", "bigint", "integer" -> SL_T_INT, ...; returns -1 if unknown. */
int sl_type_parse(const char *name);

typedef struct sl_str {
    const char *ptr;
    uint32_t len;
} sl_str;

#define SL_MAX_COLUMNS 128
#define SL_NAME_MAX 64

typedef struct sl_field {
    char name[SL_NAME_MAX];
    sl_type type;
} sl_field;

/* A schema is a plain value: copy it freely. */
typedef struct sl_schema {
    int n;
    sl_field f[SL_MAX_COLUMNS];
} sl_schema;

void sl_schema_init(sl_schema *s);
/* Returns the column index, or -1 if the schema is full or the name exists. */
int sl_schema_add(sl_schema *s, const char *name, sl_type type);
int sl_schema_find(const sl_schema *s, const char *name); /* -1 if absent */

typedef struct sl_column {
    sl_type type;
    uint8_t *null; /* null[i] != 0: row i is NULL */
    union {
        int64_t *i; /* SL_T_INT, SL_T_TS */
        double *d;
        uint8_t *b;
        sl_str *s;
        void *p;
    } v;
} sl_column;

typedef struct sl_batch {
    sl_schema schema;
    sl_column col[SL_MAX_COLUMNS];
    uint32_t n, cap;
    /* provenance per row */
    int32_t *part;   /* source partition index */
    int64_t *pos;    /* position of the record in its partition (byte offset) */
    int64_t *ingest; /* ingest time, µs */
    sl_str *raw;     /* the record as received */
    /* the row's id in the Parquet lake table it passed through, set by the
     * engine after that table's lake wrote it, for tables that store a
     * reference instead of the columns (sinks/lake_ref.h); 0 otherwise */
    int64_t *ref;
    sl_arena *arena; /* strings made while processing this batch */
} sl_batch;

sl_batch *sl_batch_new(const sl_schema *schema, uint32_t cap);
void sl_batch_free(sl_batch *b);
/* Empties the batch (n = 0, arena reset), keeping the schema and memory. */
void sl_batch_clear(sl_batch *b);
/* Adds a column to the batch's schema and storage (all NULL). Returns index or -1. */
int sl_batch_add_column(sl_batch *b, const char *name, sl_type type);
/* Makes b's schema equal `schema` (adding/retyping columns), rows cleared. */
void sl_batch_reset_schema(sl_batch *b, const sl_schema *schema);
/* Appends one row with every column NULL; returns its index (n must be < cap). */
uint32_t sl_batch_append_null_row(sl_batch *b);
/* Keeps rows with keep[i] != 0, in order; returns the new row count. */
uint32_t sl_batch_keep(sl_batch *b, const uint8_t *keep);
/* Copies every row of src into dst (same schema): dst must be empty and cap >= src->n.
 * Strings stay views into src's memory. */
void sl_batch_copy(sl_batch *dst, const sl_batch *src);

/* Setters used by parsers and operators. */
static inline void sl_col_set_null(sl_column *c, uint32_t i) { c->null[i] = 1; }
static inline void sl_col_set_int(sl_column *c, uint32_t i, int64_t v) {
    c->null[i] = 0;
    c->v.i[i] = v;
}
static inline void sl_col_set_double(sl_column *c, uint32_t i, double v) {
    c->null[i] = 0;
    c->v.d[i] = v;
}
static inline void sl_col_set_bool(sl_column *c, uint32_t i, bool v) {
    c->null[i] = 0;
    c->v.b[i] = v;
}
static inline void sl_col_set_str(sl_column *c, uint32_t i, const char *p, uint32_t len) {
    c->null[i] = 0;
    c->v.s[i].ptr = p;
    c->v.s[i].len = len;
}

#endif
