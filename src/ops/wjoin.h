/*
 * wjoin.h - the window-window join: a table whose rows are the final rows of
 * two window tables (or of row-level children of them) joined on window_start
 * and keys.
 *
 *   gold_entity_health_full:
 *     join: {left: gold_entity_health, right: gold_critical_5min, on: [entity_id],
 *            how: left, right_columns: [critical_events]}
 *
 * Both inputs come from windows of the same size (the engine finds the
 * nearest window ancestor of each and passes the size). Only final rows
 * (is_final true) take part: rows of open windows are ignored. A pair
 * (window_start, keys) is held until both sides are final, or until the
 * missing side's watermark reached window end (window_start + size): then it
 * is emitted (how: left, with NULL right columns, when the right side is the
 * missing one; never when the left side is missing) and released. A window
 * is final once its table's watermark reached its end, and the engine emits
 * window rows before joins at every commit, so by the time a side's
 * watermark passed a window's end, that side's final row (if any) was
 * delivered: a released pair never gets a row later (inputs from windows
 * with late: update, whose final rows can come again, are refused).
 *
 * Output schema: window_start, the `on` columns, the left's other columns
 * (without is_final, _group and _version), the right's chosen columns (all
 * its other columns by default; a name the output already has is a load
 * error naming both), is_final (true) and _group (a hash of window_start and
 * the keys: the upsert key).
 *
 * State: one entry per pending pair (key hash -> the saved columns of each
 * side that came, as one encoded blob per side), indexed by an sl_hmap.
 * Pairs are matched by their 64-bit key hash, as window groups are (the
 * documented trade of hash.h). Snapshots start with a tag and the shape of
 * the saved columns (a pipeline whose inputs changed refuses old state); a
 * full one holds every entry, a delta the entries changed since the previous
 * snapshot and the hashes released since then (restore: the last full, then
 * each later delta, in order; op.h).
 */
#ifndef SL_OPS_WJOIN_H
#define SL_OPS_WJOIN_H

#include "ops/op.h"

typedef struct sl_wjoin sl_wjoin;

enum { SL_WJOIN_LEFT = 0, SL_WJOIN_RIGHT = 1 };

extern const sl_opt sl_wjoin_opts[];

/* The names of the two inputs of a `join:` map (checked against
 * sl_wjoin_opts); the nodes are the spec's, for the caller's messages. */
int sl_wjoin_inputs(const sl_node *spec, const sl_node **left, const sl_node **right,
                    sl_error *err);
/* size_us: the window size both inputs share (window end = start + size). */
sl_wjoin *sl_wjoin_create(const sl_node *spec, const sl_schema *left, const sl_schema *right,
                          int64_t size_us, sl_error *err);
const sl_schema *sl_wjoin_schema(const sl_wjoin *j);
/* Takes the final rows of b (a batch of input `side`'s schema). */
void sl_wjoin_process(sl_wjoin *j, int side, const sl_batch *b);
/* Emits ready pairs into out (schema = sl_wjoin_schema; out is cleared
 * first; strings are copied into out's arena), at most out->cap rows, in
 * (window_start, _group) order, and releases them; wm_left/wm_right are the
 * inputs' watermarks (INT64_MIN: none); all_final: the end of the input,
 * every pending pair is ready. Returns the rows emitted; call until 0. */
uint32_t sl_wjoin_emit(sl_wjoin *j, sl_batch *out, int64_t wm_left, int64_t wm_right,
                       bool all_final);
int sl_wjoin_snapshot(sl_wjoin *j, sl_buf *out, bool full);
int sl_wjoin_restore(sl_wjoin *j, const void *data, size_t n, bool full, sl_error *err);

typedef struct sl_wjoin_stats {
    int64_t pending;      /* pairs held (gauge) */
    int64_t bytes;        /* heap bytes of the state (gauge) */
    int64_t matched;      /* pairs emitted with both sides */
    int64_t unmatched;    /* pairs released with one side (how: left emits the left-only ones) */
    int64_t ignored_open; /* rows of open windows (is_final not true) ignored */
} sl_wjoin_stats;
void sl_wjoin_get_stats(const sl_wjoin *j, sl_wjoin_stats *out);
void sl_wjoin_free(sl_wjoin *j);

#endif
