/*
 * op.h - the operator interface.
 *
 * Every step of a table (expect, derive, filter, watermark, dedupe, lookup, join)
 * is one `sl_op_def`: a name, an option table (the single truth for
 * validation, `file:line:col` errors, defaults and bounds, and `sluice
 * help`; `create` reads its options with sl_spec_bind into a config struct,
 * never by name), and callbacks. The
 * registry (registry.c) lists them, the way Fluent Bit lists its plugins.
 *
 * Schemas only grow along a table's steps: `create` receives the schema so
 * far and may append columns; at run time the batch already has the table's
 * final columns (the engine allocates them), so `process` fills them in place.
 *
 * State: `snapshot` serialises the operator's state into a buffer; with
 * full=false it may write only what changed since the previous snapshot
 * (a delta). `restore` is called with the last full snapshot and then every
 * later delta, in order. The engine stores them in the commit transaction,
 * so state, outputs and source positions are always consistent.
 */
#ifndef SL_OPS_OP_H
#define SL_OPS_OP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/batch.h"
#include "core/error.h"
#include "core/hash.h"
#include "spec/spec.h"

/* A growable byte buffer for snapshots. */
typedef struct sl_buf {
    unsigned char *p;
    size_t n, cap;
} sl_buf;
void sl_buf_put(sl_buf *b, const void *data, size_t n);
void sl_buf_put_i64(sl_buf *b, int64_t v);
void sl_buf_put_str(sl_buf *b, const char *s, uint32_t len);
void sl_buf_free(sl_buf *b);
/* Reader over a snapshot; get functions return 0 or SL_ECORRUPT when out of data. */
typedef struct sl_rd {
    const unsigned char *p;
    size_t n, off;
} sl_rd;
int sl_rd_i64(sl_rd *r, int64_t *v);
int sl_rd_bytes(sl_rd *r, void *out, size_t n);
int sl_rd_str(sl_rd *r, const char **s, uint32_t *len); /* view into the snapshot */

/* The 64-bit key of row i over the key columns cols[0..n) (XXH3 chained
 * from seed; NULL hashes as its own value, strings by bytes, doubles by bit
 * pattern). Keyed operators index their per-key state by it; each passes its
 * own seed, and the values are stored in snapshots, so this must not change. */
static inline uint64_t sl_key_hash(const sl_batch *b, const int *cols, int n, uint32_t i,
                                   uint64_t seed) {
    uint64_t h = seed;
    for (int k = 0; k < n; k++) {
        const sl_column *c = &b->col[cols[k]];
        if (c->null[i]) {
            h = sl_hash_int(0x7fffffffffffffe1LL, h);
            continue;
        }
        switch (c->type) {
        case SL_T_STRING:
            h = sl_hash_bytes(c->v.s[i].ptr, c->v.s[i].len, h);
            break;
        case SL_T_BOOL:
            h = sl_hash_int(c->v.b[i], h);
            break;
        case SL_T_DOUBLE:
            h = sl_hash_bytes(&c->v.d[i], sizeof(double), h);
            break;
        default:
            h = sl_hash_int(c->v.i[i], h);
            break;
        }
    }
    return h;
}

/* Partitioned state (a Kafka source's `partitioned_state: true`): keyed
 * operators keep their state per source partition, tagged with the hash of
 * the partition's name (the `_part` column), so that a partition can move to
 * another instance with exactly its state (engine/instances.c). */
typedef struct sl_part_set {
    const uint64_t *tags;
    int n;
} sl_part_set;
uint64_t sl_part_tag(const char *name, size_t len);
bool sl_part_set_has(const sl_part_set *s, uint64_t tag);
/* For operators whose snapshots start with a magic number, `plain` without
 * partition tags and `tagged` with them: an error when the snapshot's kind
 * does not match the operator's (partitioned_state was switched). */
int sl_part_check_magic(const void *data, size_t len, int64_t plain, int64_t tagged, bool parted,
                        const char *op, sl_error *err);
/* For operators that keep one fixed-size slot per key in an array, every
 * slot starting with {uint64_t key hash; uint64_t tag}, indexed by the hash
 * in `index` (slot number as value), with `per` doubles per slot in `vals`
 * (NULL: none): removes the slots of `parts`, moving later ones down.
 * Returns the new slot count. */
struct sl_hmap;
size_t sl_part_compact(void *slots, size_t n, size_t size, double *vals, size_t per,
                       struct sl_hmap *index, const sl_part_set *parts);

/* Run-time services the engine gives operators. */
typedef struct sl_op_ctx {
    void *engine;
    /* Sends row `r` of `b` to quarantine with `reason` (copied). */
    void (*quarantine)(void *engine, const sl_batch *b, uint32_t r, const char *reason);
    int64_t max_event_time; /* max event time seen by any watermark step (µs), INT64_MIN if none */
    int64_t watermark; /* the watermark of the rows at this step of this table (µs), INT64_MIN if
                          none */
    int64_t now_us;    /* processing time at the start of this batch */
    bool end_of_input; /* --once reached the end: all windows final */
    /* Counters the engine reports (per table, per commit). */
    int64_t quarantined, dropped, duplicates, late, filtered;
    /* event lag accounting (ingest - event time) for records passing the watermark */
    double lag_sum_us; /* a sum of many lags overflows int64 for old data */
    int64_t lag_max_us, lag_n;
} sl_op_ctx;

/* One value a step reports. `key` names it in the event log's details
 * ({"op": id, "stats": {key: value}}); with `metric` set it is also a
 * Prometheus series sluice_<metric>{pipeline, table, <labels>} (labels:
 * pre-formatted `name="value",...`, owned by the step). */
typedef struct sl_op_stat {
    const char *key;
    double value;
    bool gauge; /* else a counter since the step was created or restored */
    const char *metric;
    const char *metric_help;
    const char *labels;
} sl_op_stat;
#define SL_OP_MAX_STATS 16

/* The step's stats as one JSON object {"key": value, ...} (the event log's
 * form); "{}" for a step without stats. Returns the length written. */
struct sl_op_def;
int sl_op_stats_json(const struct sl_op_def *def, void *self, char *out, size_t cap);
/* For a step's stats callback: copies s[0..n) into out[0..cap); returns how many. */
int sl_op_stats_copy(sl_op_stat *out, int cap, const sl_op_stat *s, int n);

/* Compile-time environment. */
typedef struct sl_op_env {
    const char *table;       /* the table being compiled */
    const char *base_dir;    /* directory of the pipeline file, for relative paths */
    const char *part_column; /* partitioned state: the partition column, else NULL */
    /* A step with a side input (sl_op_def.side_opt): the other table's output
     * columns (its rows as `side` receives them), else NULL. */
    const sl_schema *side_schema;
} sl_op_env;

typedef struct sl_op_def {
    const char *name;
    const sl_opt *opts; /* NULL when the step takes a scalar (filter: EXPR) */
    const char *help;
    int (*create)(const sl_node *arg, sl_schema *schema, const sl_op_env *env, void **self,
                  sl_error *err);
    /* Processes b in place (may drop rows with sl_batch_keep, fill columns). Nonzero = stop
     * the pipeline with the message in err (only `fail` expectations do this). */
    int (*process)(void *self, sl_batch *b, sl_op_ctx *ctx, sl_error *err);
    /* Optional. */
    int (*snapshot)(void *self, sl_buf *out, bool full);
    int (*restore)(void *self, const void *data, size_t n, bool full, sl_error *err);
    /* Optional: the step's typed counters and gauges, for the event log and
     * /metrics (no JSON parsed back). Fills out[0..cap), returns how many. */
    int (*stats)(void *self, sl_op_stat *out, int cap);
    void (*destroy)(void *self);
    /* Optional, partitioned state: restore_parts ADDS the state of the
     * partitions in `only` from a snapshot chain (keeping what is held);
     * snapshot_parts writes only their state, as a full snapshot;
     * drop_parts forgets their state. */
    int (*restore_parts)(void *self, const void *data, size_t n, bool full, const sl_part_set *only,
                         sl_error *err);
    int (*snapshot_parts)(void *self, sl_buf *out, const sl_part_set *only);
    void (*drop_parts)(void *self, const sl_part_set *parts);
    /* Optional: a step that gives the rows after it an event time (watermark)
     * returns its current watermark (µs, INT64_MIN: none yet), which becomes
     * the watermark of the table's output. Depends only on the step's state,
     * so a restored step reports the restored watermark. */
    int64_t (*watermark)(void *self);
    /* Optional: a SIDE INPUT. A step that reads another table of the
     * pipeline (join) names the option of its argument that holds the
     * table's name. The engine compiles that table first (a graph edge
     * other -> this table: an unknown table or a cycle is a load error at
     * the option), passes its output columns in env->side_schema, and calls
     * `side` with every batch of rows it outputs: a row-level table's rows as
     * written, a window table's rows as emitted (upserts: a group may come
     * again). The sources feeding the other table are read first
     * (engine/loop.c). State built from side rows is snapshotted like any
     * other state of the step. */
    const char *side_opt;
    void (*side)(void *self, const sl_batch *rows, sl_op_ctx *ctx);
    /* The step never changes a value of a column it is given, and keeps rows
     * in order, one output row per input row it keeps: it only drops rows
     * (sl_batch_keep) and adds columns. A Parquet lake table whose steps all
     * keep values stores references to its input lake table's rows instead
     * of copies of their columns (sinks/lake_ref.h). NULL: it may change
     * values. sl_op_keeps_values_always for a step that never does. */
    bool (*keeps_values)(void *self);
} sl_op_def;
bool sl_op_keeps_values_always(void *self);

const sl_op_def *sl_op_find(const char *name);
const sl_op_def *const *sl_op_all(void); /* NULL-terminated */
/* The option tables of this module, for help and for tests that walk every
 * table (tests/unit/ops/test_opt_docs.c): each step that has one (kind
 * "step", named as the step) and the window (kind "window"). Writes at most
 * cap entries into out and returns how many there are. The engine's tables
 * (sources, sinks) can be listed the same way, as sl_opt_table rows. */
int sl_op_opt_tables(sl_opt_table *out, int cap);

/* Compiles an expression from a spec scalar, reporting errors at the right
 * file:line:col (the scalar's position plus the offset inside it). */
struct sl_expr;
struct sl_expr *sl_op_compile_expr(const sl_node *n, const sl_schema *schema, sl_error *err);

#endif
