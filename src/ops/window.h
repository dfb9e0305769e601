/*
 * window.h - event-time window aggregation (tumbling, hopping and calendar).
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
 * Calendar windows. A size of 1d, 1w or 1mo is a calendar unit in the
 * window's `timezone` (a tzdata name, default UTC; core/tz.h): a day starts
 * at local midnight (23 or 25 hours long across DST), a week on Monday
 * 00:00 local (ISO 8601), a month on the 1st at 00:00 local; window_start
 * is the UTC instant of that boundary (a midnight skipped by a DST change
 * starts the day at the change). Multiples (2d, 3mo) are refused, and so is
 * `slide`: calendar windows are tumbling. Every rule below that speaks of a
 * window's end means the next boundary: finalisation, the late check, and
 * `allowed_lateness`, whose default is then each window's own length. A 1d
 * window in UTC is exactly the fixed 86400 s window and runs as one; other
 * calendar windows find a row's window from the zone, remembering the last
 * window found so a run of rows of one day costs no zone lookup. Fixed
 * windows never look at the zone (it only matters to their rollups).
 *
 * Rows are grouped by (window_start, keys). A group is "dirty" when rows were
 * added since it was last emitted; sl_window_emit hands dirty groups to the
 * engine, which upserts them into the gold table every commit, so a
 * dashboard sees open windows live. When the watermark passes a window's end
 * the group is emitted with is_final = true. Emission touches only the dirty
 * groups and the groups of windows that end at or before the watermark (the
 * groups are indexed by window start), so a commit costs what changed, not
 * what is held.
 *
 * Late records. The window remembers its final watermark: the highest
 * watermark sl_window_emit ran at; every window ending at or before it is
 * final. A record is late when one of its windows is final (hopping windows:
 * a record belongs to size/slide windows and is late when ANY of them is
 * final, i.e. when the earliest one is; the rule applies to the whole
 * record, never to some of its windows). `late:` says what happens:
 *   drop        not added; counted in ctx->late and ctx->dropped;
 *   quarantine  (default) not added; sent to quarantine with a reason
 *               "late: window <start> already final at watermark <wm>";
 *               counted in ctx->late and ctx->quarantined;
 *   update      final groups are kept until the final watermark passes
 *               window end + `allowed_lateness` (default: the window size),
 *               and released then. A late record is added to all its
 *               windows; a final group it changes is emitted final again
 *               with _version + 1. Counted in ctx->late. A record whose
 *               earliest window is past end + allowed_lateness (its state is
 *               gone) is quarantined as in `quarantine`.
 * So with drop/quarantine a final row is never reopened; with update it is
 * only ever replaced by a final row with a higher _version. Today a table's
 * watermark step removes late records before the window; the window's own
 * check matters when its watermark runs ahead of its input (a watermark over
 * several inputs, one of them idle).
 *
 * Output schema: window_start (timestamp), the key columns, the aggregates,
 * is_final (bool), with late: update only _version (int: 0 while the window
 * is open, 1 for the first final row, +1 per re-emission), and _group (int: a
 * hash of window and keys, the upsert key, since SQL UNIQUE constraints
 * treat NULL keys as distinct).
 *
 * Snapshots start with a format tag and version. A full snapshot holds every
 * group; a delta (full = false) holds the groups changed since the previous
 * snapshot and the keys of the groups released since then; restore takes
 * the last full snapshot and then every later delta, in order (op.h).
 * Snapshots without the tag (format 1, before deltas) are read as full
 * snapshots of that layout.
 */
#ifndef SL_OPS_WINDOW_H
#define SL_OPS_WINDOW_H

#include "ops/op.h"

typedef struct sl_window sl_window;

/* The snapshot format this build writes (it reads 1, untagged, and 2). */
#define SL_WINDOW_SNAPSHOT_FORMAT 2

extern const sl_opt sl_window_opts[];
sl_window *sl_window_create(const sl_node *spec, const sl_schema *in, sl_error *err);
/* Partitioned state (op.h): part_column (when `in` has it) becomes the last
 * key, so every group belongs to one partition and the output has the column. */
sl_window *sl_window_create_part(const sl_node *spec, const sl_schema *in, const char *part_column,
                                 sl_error *err);
const sl_schema *sl_window_schema(const sl_window *w);
int sl_window_process(sl_window *w, const sl_batch *b, sl_op_ctx *ctx);
/* Emits dirty groups into out (schema = sl_window_schema; out is cleared first), at most out->cap
 * rows, in window-start order (ties: by _group); groups whose window ended at or before the
 * final watermark (the highest `watermark` seen; all groups when all_final) are emitted as final
 * and released (late: update keeps them, see above; all_final releases them too). Returns rows
 * emitted; call until it returns 0. */
uint32_t sl_window_emit(sl_window *w, sl_batch *out, int64_t watermark, bool all_final);
size_t sl_window_groups(const sl_window *w);
/* The end of the window that starts at start: start + size, or for a
 * calendar window the next local boundary (alert rules' clock). */
int64_t sl_window_end(sl_window *w, int64_t start);
/* A coarser window (size a multiple of src's) computed from src's final
 * groups by merging their states: an hourly p99 is the p99 of the hour's
 * merged sketch, never an average of 5-minute p99s. Same keys, aggregates and
 * output schema as src. src owns nothing: free both. A window with
 * late: update has none (a re-emitted final group cannot be merged twice).
 * src must be a fixed-size window (or 1d in UTC). */
sl_window *sl_window_create_rollup(sl_window *src, int64_t size, sl_error *err);
/* The same with the size as written in a spec: a duration as above, or a
 * calendar unit in src's timezone: 1w or 1mo from a 1d window, and 1d, 1w or
 * 1mo from fixed tumbling windows that nest in the zone's days (their size
 * divides a day and every UTC offset and offset change of the zone since
 * 1970 is a multiple of it: 1h windows nest in Europe/Berlin's days, not in
 * Asia/Kolkata's). Anything else is refused with the reason in err. */
sl_window *sl_window_create_rollup_size(sl_window *src, const char *size, sl_error *err);
/* Snapshot of the whole state (full) or of what changed since the previous
 * snapshot (a delta); either resets the change tracking. */
int sl_window_snapshot(sl_window *w, sl_buf *out, bool full);
/* Restores a full snapshot (replacing what is held) or applies a delta;
 * `full` must say what the snapshot is. SL_ECORRUPT on a damaged snapshot or
 * one of an unknown format version. */
int sl_window_restore(sl_window *w, const void *data, size_t n, bool full, sl_error *err);
/* Partitioned state: the groups of the partitions in `only` (NULL: all), as
 * a full snapshot that leaves the change tracking alone (handoff records);
 * restore_parts with a set ADDS those groups (marked dirty, so the new owner
 * writes them, and changed, so the next delta holds them) and keeps what is
 * held; a delta's groups replace held ones of those partitions. drop_parts
 * forgets groups unemitted (the next delta records them as released). */
int sl_window_snapshot_parts(sl_window *w, sl_buf *out, const sl_part_set *only);
int sl_window_restore_parts(sl_window *w, const void *data, size_t n, bool full,
                            const sl_part_set *only, sl_error *err);
void sl_window_drop_parts(sl_window *w, const sl_part_set *parts);
/* Heap bytes of the window's state: the operator, its group table and index,
 * and every live group's keys and aggregate states (sketches included). For
 * the memory-per-window-key figures of bench_aggs. */
size_t sl_window_state_bytes(const sl_window *w);
void sl_window_free(sl_window *w);

#endif
