/*
 * alert.h - alert rules: conditions over a table's rows, a per-key state
 * machine, alert_history, and notifications into the outbox (notify.h).
 *
 * A pipeline file's `alerts:` map holds `channels:` (bound by notify) and
 * `rules:`. Each rule watches one table: a table of the pipeline (the engine
 * attaches the rule to it as a sink, sl_alert_rule_sink, so it sees every
 * row batch the table writes), the event log `_sluice_events` (one row per
 * commit), or `_sluice_checkpoint` (one row per second of the loop's timer:
 * the age of the last commit that carried input).
 *
 * Determinism. A rule's clock is a column of its rows (`time:`), never the
 * wall clock (except for `_sluice_checkpoint`, whose rows are made of it):
 * `for`, `rate_limit`, `repeat` and digest windows are measured between row
 * times, so the same rows give the same alerts in any batching and on any
 * replay. Window tables are seen through their final rows only.
 *
 * Exactly once. Everything a rule does (its key states in
 * _sluice_alert_state, alert_history rows, outbox rows) is written inside the
 * engine's open store transaction, the one that also holds the rows that
 * caused it and the source positions after them. A crash loses all of it
 * together; the replayed rows then redo the same transitions with the same
 * sequence numbers, hence the same alert ids and idempotency keys.
 */
#ifndef SL_ALERT_ALERT_H
#define SL_ALERT_ALERT_H

#include <stdbool.h>
#include <stdint.h>

#include "core/batch.h"
#include "core/error.h"
#include "notify/notify.h"
#include "sinks/sink.h"
#include "spec/spec.h"
#include "store/eventlog.h"
#include "store/store.h"

typedef struct sl_alerts sl_alerts;
typedef struct sl_alert_rule sl_alert_rule;

/* The built-in tables a rule may watch besides the pipeline's. */
#define SL_ALERT_EVENTS "_sluice_events"
#define SL_ALERT_CHECKPOINT "_sluice_checkpoint"

/* What the engine says about a table of the pipeline a rule names. */
typedef struct sl_alert_target {
    const sl_schema *schema; /* the rows' columns */
    const char *time_col;    /* the default clock column (NULL: the rule must give `time:`) */
    int64_t time_offset_us;  /* added to it (a window's end is window_start + size) */
    /* or, when set, the clock is time_end(time_end_ud, value): a calendar
     * window's end (a day of 23 or 25 hours, a month) is not start + a size */
    int64_t (*time_end)(void *ud, int64_t start);
    void *time_end_ud;
    bool final_only; /* window rows: only is_final ones are seen */
} sl_alert_target;
/* 0 and *out filled, or SL_ENOTFOUND when the pipeline has no such table. */
typedef int (*sl_alert_lookup)(void *ud, const char *table, sl_alert_target *out);

/* Compiles `alerts:` (NULL: no alerts, returns NULL with err->code 0):
 * channels (sl_channels_create), every rule's expressions, template and
 * channel names, with file:line:col errors. */
sl_alerts *sl_alerts_compile(const sl_node *alerts, const char *pipeline, sl_alert_lookup lookup,
                             void *ud, sl_error *err);
void sl_alerts_free(sl_alerts *a);
const sl_channels *sl_alerts_channels(const sl_alerts *a);
int sl_alerts_nrules(const sl_alerts *a);
sl_alert_rule *sl_alerts_rule(sl_alerts *a, int i);
const char *sl_alert_rule_name(const sl_alert_rule *r);
const char *sl_alert_rule_table(const sl_alert_rule *r);
/* Keys of rule i firing now (for sluice_alerts_firing). */
int64_t sl_alerts_firing(const sl_alerts *a, int i);

/* The sink a rule over a pipeline table is attached as (self: the rule,
 * owned by its sl_alerts: destroy does nothing). Not in the sink registry:
 * rules are written under `alerts:`, not under a table's `sinks:`. */
extern const sl_sink_def sl_alert_rule_sink;

/* Creates _sluice_alert_state, alert_history, the alert_deliveries view and
 * the outbox when missing (also on the database `validate` checks panels on). */
int sl_alerts_create_tables(sl_store *s, sl_error *err);
/* Start-up, inside the open transaction: creates _sluice_alert_state,
 * alert_history, the alert_deliveries view and the outbox, and loads every
 * rule's key states. */
int sl_alerts_open(sl_alerts *a, sl_store *s, sl_error *err);
/* Commit phase 4: the event log row just appended (ts: its commit time). */
int sl_alerts_on_event(sl_alerts *a, const sl_event *e, int64_t ts_us, sl_error *err);
/* The loop's timer: one `_sluice_checkpoint` row. *wrote is set when the
 * rules changed the store (the caller commits it). */
int sl_alerts_tick(sl_alerts *a, int64_t now_us, double checkpoint_age_s, int64_t commit_id,
                   bool *wrote, sl_error *err);
bool sl_alerts_has_ticks(const sl_alerts *a);
/* End of --once input: digests still collecting are sent. */
int sl_alerts_finish(sl_alerts *a, sl_error *err);

/* The option tables (`sluice help`, the docs test: section "Alerts"). */
const sl_opt_table *sl_alert_opt_tables(void); /* ends with {0} */

#endif
