/*
 * window.h - event-time window aggregation (tumbling and hopping).
 *
 *   window: {time: event_ts, size: 1m, slide: 1m, keys: [a, b], accuracy: 0.01,
 *            aggregates: {n: "count(*)", cams: "count_distinct(camera)", v: "avg(x)",
 *                         p99: "p99(x)", top: "max_by(camera, x)"}}
 *
 * Aggregates: count, count_distinct, sum, avg, min, max (exact); stddev,
 * variance (Welford); quantile(x, q) and its shorthands median, p50..p999
 * (DDSketch, relative error `accuracy`, default 1%); approx_count_distinct
 * (HyperLogLog p=14, exact up to 1024 values); first, last (by event time);
 * min_by(v, o), max_by(v, o) (v at the row with the smallest/largest o; ties:
 * earliest event time, then smallest v; see window.c). All of them merge, so
 * rollups are exact or keep the same bound. docs/pipeline-spec.md is the
 * user's reference.
 *
 * Rows are grouped by (window_start, keys). A group is "dirty" when rows were
 * added since it was last emitted; sl_window_emit hands dirty groups to the
 * engine, which upserts them into the gold table every commit, so a
 * dashboard sees open windows live. When the watermark passes a window's end
 * the group is emitted one last time with is_final = true and forgotten.
 * Records that reach a window are never late (the watermark step removed
 * those), so a final row is never reopened.
 *
 * Output schema: window_start (timestamp), the key columns, the aggregates,
 * is_final (bool), and _group (int: a hash of window and keys, the upsert key,
 * since SQL UNIQUE constraints treat NULL keys as distinct).
 */
#ifndef SL_OPS_WINDOW_H
#define SL_OPS_WINDOW_H

#include "ops/op.h"

typedef struct sl_window sl_window;

extern const sl_opt sl_window_opts[];
sl_window *sl_window_create(const sl_node *spec, const sl_schema *in, sl_error *err);
/* Partitioned state (op.h): part_column (when `in` has it) becomes the last
 * key, so every group belongs to one partition and the output has the column. */
sl_window *sl_window_create_part(const sl_node *spec, const sl_schema *in, const char *part_column, sl_error *err);
const sl_schema *sl_window_schema(const sl_window *w);
int sl_window_process(sl_window *w, const sl_batch *b, sl_op_ctx *ctx);
/* Emits dirty groups into out (schema = sl_window_schema; out is cleared first), at most out->cap
 * rows; groups whose window ended at or before `watermark` (all of them when all_final) are
 * emitted as final and dropped. Returns rows emitted; call until it returns 0. */
uint32_t sl_window_emit(sl_window *w, sl_batch *out, int64_t watermark, bool all_final);
size_t sl_window_groups(const sl_window *w);
/* A coarser window (size a multiple of src's) computed from src's final
 * groups by merging their states: an hourly p99 is the p99 of the hour's
 * merged sketch, never an average of 5-minute p99s. Same keys, aggregates and
 * output schema as src. src owns nothing: free both. */
sl_window *sl_window_create_rollup(sl_window *src, int64_t size, sl_error *err);
int sl_window_snapshot(sl_window *w, sl_buf *out);
int sl_window_restore(sl_window *w, const void *data, size_t n, sl_error *err);
/* Partitioned state: the groups of the partitions in `only` (NULL: all);
 * restore_parts with a set ADDS those groups (marked dirty, so the new owner
 * writes them) and keeps what is held; drop_parts forgets groups unemitted. */
int sl_window_snapshot_parts(sl_window *w, sl_buf *out, const sl_part_set *only);
int sl_window_restore_parts(sl_window *w, const void *data, size_t n, const sl_part_set *only, sl_error *err);
void sl_window_drop_parts(sl_window *w, const sl_part_set *parts);
/* Heap bytes of the window's state: the operator, its group table and index,
 * and every live group's keys and aggregate states (sketches included). For
 * the memory-per-window-key figures of bench_aggs. */
size_t sl_window_state_bytes(const sl_window *w);
void sl_window_free(sl_window *w);

#endif
