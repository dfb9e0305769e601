/*
 * sink.h - the sink interface: where a table's rows go.
 *
 * Every output of a table (its store table, its lake, a Kafka topic, and the
 * sinks to come: PostgreSQL, alert channels) is one `sl_sink_def`: a name,
 * an option table that binds (spec.h: the single truth for validation,
 * file:line:col errors, `sluice help <sink>` and the docs), and callbacks,
 * listed in registry.c the way operators are in ops/registry.c. The engine
 * knows no sink by name.
 *
 * The exactly-once contract. The engine keeps one store transaction open
 * between commits. `write` may make rows visible only through that
 * transaction (the store table) or somewhere that is cut back on recovery
 * (the lake truncates to its committed length), or deliver them at least
 * once with a key that makes them idempotent downstream (Kafka).
 * `prepare` runs in the commit's first phase, before the source positions
 * are written: it makes everything written so far durable or acknowledged,
 * and records in the store what recovery needs (the lake's committed
 * length). `open` runs at start-up and goes back to that committed state.
 */
#ifndef SL_SINKS_SINK_H
#define SL_SINKS_SINK_H

#include <stdbool.h>
#include <stdint.h>

#include "core/batch.h"
#include "core/error.h"
#include "spec/spec.h"
#include "store/store.h"

typedef struct sl_sink_env {
    const char *table;         /* the table whose rows the sink writes */
    const char *layer;         /* "bronze", "silver", "gold" */
    const sl_schema *schema;   /* the rows' columns */
    bool upsert;               /* rows replace earlier rows with the same _group (window rows) */
    int64_t retention_us;      /* the table's retention, 0: keep everything */
    bool retention_ingest;     /* retention_by: ingest (else event time) */
    uint32_t batch_cap;        /* the largest batch write will see */
    const char *pipeline;      /* the pipeline's name */
    const char *description;   /* the table's description: (NULL: none) */
    const char *store_url;     /* the pipeline's store: URL (NULL: sqlite) */
    const sl_node *keys;       /* a window's keys: (a name or a list), NULL: none */
    const sl_node *cold_after; /* lake tables: cold_after: (NULL: no cold tier) */
    const sl_node *cold_path;  /* lake tables: cold_path: (NULL: DATA/cold) */
    const sl_node *format;     /* lake tables: format: parquet|ndjson (NULL: parquet) */
    /* A Parquet lake table that stores references (lake_ref.h): the lake
     * table it reads (name, layer) and that table's columns. Columns of
     * `schema` found in ref_schema with the same type are the input row's
     * (no step changes them) and are not stored; the rows' `ref` gives the
     * input row. NULL: every column is stored. */
    const char *ref_table;
    const char *ref_layer;
    const sl_schema *ref_schema;
    int64_t ref_retention_us; /* that table's retention (0: none) */
    /* The tables that reference this one's rows (known at open, not at
     * create): its retention keeps what they still reference. */
#define SL_SINK_MAX_REFERRERS 8
    const char *referrers[SL_SINK_MAX_REFERRERS];
    int nreferrers;
    /* run time (open) */
    const char *data_dir; /* the pipeline's data directory */
    sl_store *store;      /* the open store, inside its write transaction */
    const char *instance; /* --instance NAME, or NULL */
} sl_sink_env;

typedef struct sl_sink_def {
    const char *name;
    const sl_opt *opts; /* may be NULL: no options */
    const char *help;
    /* Writes to another system (a Kafka topic, a PostgreSQL table), not into
     * the data directory: `sluice refresh` refuses such a table, as rebuilding
     * it would send every row again. */
    bool external;
    /* Compile time: binds the options (arg NULL: none given) and checks them
     * against env->schema. */
    int (*create)(const sl_node *arg, const sl_sink_env *env, void **self, sl_error *err);
    /* Start-up: open the output and return to its committed state. */
    int (*open)(void *self, const sl_sink_env *env, sl_error *err);
    /* Rows b[0..n); part_names names b->part (NULL for rows made by windows). */
    int (*write)(void *self, const sl_batch *b, const char *const *part_names, sl_error *err);
    /* Commit, phase 1 (see the top of this file). Optional. */
    int (*prepare)(void *self, sl_store *store, sl_error *err);
    /* Optional: rows written since open, for metrics. */
    int64_t (*rows_written)(const void *self);
    /* Optional: rows deleted by retention since open (event log, metrics). */
    int64_t (*rows_expired)(const void *self);
    /* Optional: the row id each row of the last write got in this output
     * (a Parquet lake: segment sequence << 32 | row in the segment), written
     * to out[0..n); 0, or -1 if the output gives none. Tables reading this
     * one store these ids instead of copies of its columns (lake_ref.h). */
    int (*row_ids)(void *self, int64_t *out, uint32_t n);
    /* Releases everything (also when open was never called). */
    void (*destroy)(void *self);
} sl_sink_def;

const sl_sink_def *sl_sink_find(const char *name);
const sl_sink_def *const *sl_sink_all(void); /* NULL-terminated */

/* Named option tables of every sink (for `sluice help` and the docs test). */
const sl_opt_table *sl_sink_opt_tables(void); /* ends with {0} */

#endif
