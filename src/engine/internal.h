/* internal.h - the compiled pipeline's structures, shared by the engine's files. */
#ifndef SL_ENGINE_INTERNAL_H
#define SL_ENGINE_INTERNAL_H

#include <limits.h>

#include "core/batch.h"
#include "engine/pipeline.h"
#include "formats/json.h"
#include "formats/lineformat.h"
#include "formats/json_write.h"
#include "alert/alert.h"
#include "ops/op.h"
#include "ops/window.h"
#include "ops/wjoin.h"
#include "expr/expr.h"
#include "sinks/sink.h"
#include "server/server.h"
#include "store/store.h"
#include "sources/source.h"
#include "httpd/httpd.h"

#define SL_MAX_TABLES 64
#define SL_MAX_SOURCES 16
#define SL_MAX_STEPS 32
#define SL_MAX_VIEWS 64
#define SL_MAX_INPUTS 8
#define SL_MAX_SINKS 8

typedef struct sl_siblings sl_siblings;

enum { LAYER_BRONZE, LAYER_SILVER, LAYER_GOLD };
enum { STORE_LAKE, STORE_SQLITE, STORE_NONE };
enum { EVOLVE_NONE, EVOLVE_ADD, EVOLVE_FAIL };

/* What the state phase weighs to choose a full snapshot over a delta (commit.c). */
typedef struct sl_snap_sizes {
    int64_t full;   /* bytes of the last full snapshot */
    int64_t deltas; /* bytes of the deltas written since */
} sl_snap_sizes;

typedef struct step {
    const sl_op_def *def;
    void *self;
    char id[160]; /* table/index/name: the state key */
    int full_every, since_full;
    sl_snap_sizes snap; /* bytes of the last full snapshot and of the deltas since */
} step;

/* One input of a table (`from: a` or `from: [a, b]`): a source or a table.
 * A table reading several inputs (a union) takes the columns of the first;
 * colmap says where each of them is in this input's rows. */
typedef struct table_input {
    int source, table; /* one of them >= 0 */
    bool identity;     /* colmap[c] == c for every column */
    int colmap[SL_MAX_COLUMNS];
    int64_t last_rows_us; /* monotonic time rows last came in (idle inputs) */
} table_input;

typedef struct table {
    char name[SL_NAME_MAX];
    int layer, store;
    const sl_node *node;
    table_input inputs[SL_MAX_INPUTS];
    int ninputs;
    /* Watermarks (event time, µs; INT64_MIN: none yet). wm_in is the minimum
     * over the inputs' wm_out, leaving out inputs idle for idle_timeout_us
     * (0: never); wm_out is the watermark of the rows the table passes on:
     * its last watermark step's, else wm_in. A window is finalised by its
     * table's wm_in only, never by another input's event time. */
    int64_t idle_timeout_us;
    int64_t wm_in, wm_out;
    sl_schema in, out;               /* out: the columns the table keeps (after `columns:`) */
    sl_schema full;                  /* every column the steps made (out, unless `columns:`) */
    int proj[SL_MAX_COLUMNS], nproj; /* out's columns in full; nproj 0: out = full */
    step steps[SL_MAX_STEPS];
    int nsteps;
    sl_window *win;
    int win_since_full; /* commits since win's last full snapshot */
    sl_snap_sizes win_snap;
    bool is_rollup; /* win is fed by merges from the parent window */
    /* References (sinks/lake_ref.h): ref_input is the Parquet lake table
     * whose rows this lake table references instead of copying their columns
     * (-1: none); ref_parent is set on that table, which then fills each
     * batch's `ref` with its lake's row ids before the children run. */
    int ref_input;
    bool ref_parent;
    /* `join:` (a window-window join): inputs[0] is the left, inputs[1] the right; their final
     * rows are held in wjoin and come out at commit (graph.c), through the steps as rows of
     * join_out (t->in = the join's schema) */
    sl_wjoin *wjoin;
    table_input join_out;
    int join_since_full;
    sl_snap_sizes join_snap;
    int children[SL_MAX_TABLES];
    int child_input[SL_MAX_TABLES]; /* which of the child's inputs this table is */
    int nchildren;
    /* Side inputs (op.h, sl_op_def.side_opt): step_side[s] is the table
     * whose rows step s reads (-1: none); side_out lists the steps of other
     * tables that read this table's output rows (graph.c delivers them). */
    int step_side[SL_MAX_STEPS];
    struct side_reader {
        int table, step;
    } side_out[SL_MAX_TABLES];
    int nside_out;
    int64_t retention_us;
    bool retention_ingest;      /* retention_by: ingest */
    int64_t rows_expired;       /* deleted by retention, since the last commit */
    int64_t rows_total_expired; /* ... since the process started */
    /* run time */
    sl_batch *work;
    sl_batch *mapped; /* a window table with a union input: rows in t->in's column order */
    sl_batch *view;   /* `columns:`: out's columns of work, shared, not copied */
    /* outputs (sinks/sink.h): the store's table or the lake (store:), then
     * publish: and sinks: in file order */
    struct table_sink {
        const sl_sink_def *def;
        void *self;
    } sinks[SL_MAX_SINKS];
    int nsinks;
    int64_t rows_in, rows_out, rows_total_in, rows_total_out;
    int64_t quarantined_total, late_total; /* by this table's steps and window (top, /metrics) */
} table;

typedef struct source source;
struct source {
    char name[SL_NAME_MAX];
    const sl_source_def *def; /* the kind (sources/source.h) */
    sl_access *access;        /* the engine's tokens and audit ring (http sources use them) */
    void *self;               /* what def->create made */
    const sl_node *node;
    sl_schema schema;
    char *paths[SL_MAX_COLUMNS];
    int first_table; /* gets malformed records in its name */
    int part_col;    /* partitioned state: SL_PART_COLUMN's index in schema, else -1 */
    /* format options */
    char format[16];
    char *regex;
    char delim;
    int64_t max_line_bytes;
    bool header;
    char **columns;
    int ncolumns;
    /* schema inference and evolution (evolve.c) */
    bool infer;            /* schema: infer */
    int evolve;            /* EVOLVE_* */
    bool widen;            /* on_type_conflict: widen */
    int64_t infer_sample;  /* records sampled (infer_sample) */
    int64_t inferred_from; /* records the load-time inference saw */
    sl_schema declared;    /* schema: map, or schema_hints */
    char *pending_kv;      /* schema JSON to store at the next commit */
    char *pending_event;   /* details of a 'schema' event for the next commit */
    bool change_pending;   /* the last read stopped at a schema change */
    sl_schema next_schema; /* ... and this is the schema to go on with */
    sl_schema_change change;
    int64_t change_pos; /* where: partition position of the record */
    int32_t change_part;
    /* run time */
    bool opened;           /* def->open was called: def->close is due */
    sl_store *store;       /* positions are looked up here on assignment */
    sl_siblings *siblings; /* --instance: the other instances' checkpoints */
    struct owned_part {
        char name[256];
        int64_t pos;
    } * owned; /* assigned partitions: position we own from */
    int nowned;
    /* engine commit (and state handoff) before partitions are given up */
    void (*on_revoke)(void *ud, struct source *s, const char *const *partitions, int n);
    /* a partition was assigned; from_db: the sibling checkpoint it resumes from, NULL: this one */
    void (*on_assign)(void *ud, struct source *s, const char *partition, const char *from_db);
    void *revoke_ud;
    sl_line_format *fmt;
    sl_batch *batch;
    const char *const *part_names;
    /* the read in progress (the parse callbacks' context) */
    int64_t read_now_us;
    sl_bad_record_fn read_bad;
    void *read_ud;
    int64_t records_in, parse_errors;
};

/* compile.c: sl_pipeline_load_store, with the top-level map (after
 * extends:) replaced by what rewrite returns (NULL: an error, in err) before
 * it is compiled. The returned tree is the caller's and must outlive the
 * pipeline (`sluice test` points sources at its inputs, ptest.c). */
typedef const sl_node *(*sl_pipeline_rewrite_fn)(void *ud, const sl_node *root, sl_error *err);
sl_pipeline *sl_pipeline_load_rewritten(const char *path, const sl_vars *vars, const char *store,
                                        sl_pipeline_rewrite_fn rewrite, void *ud, sl_error *err);
/* compile.c: a spec subtree as JSON text (numbers bare, the rest strings),
 * malloc'd; "null" for NULL. Two option maps are equal when these are. */
char *sl_pipeline_node_json(const sl_node *n);
/* compile.c: what a table's sinks are told about it (run-time fields unset). */
void sl_pipeline_sink_env(const sl_pipeline *p, const table *t, sl_sink_env *env);
/* A lake table whose segments are Parquet (format: parquet, the default). */
bool sl_table_lake_parquet(const table *t);

/* instances.c: other instances' checkpoints (scale-out on consumer groups). */
sl_siblings *sl_siblings_new(const char *base_dir, const char *self_db);
/* Highest position any other instance committed for the partition, -1 if
 * none; who (may be NULL) gets that instance's database path. */
int64_t sl_siblings_max_position(sl_siblings *x, const char *source, const char *partition,
                                 char *who, size_t who_cap);
void sl_siblings_free(sl_siblings *x);

/* input.c: the engine's side of every source: its format and batch, the
 * positions it resumes from, the calls into its kind (source.h). */
int sl_input_open(source *s, sl_store *store, const char *pipeline, const char *instance, bool once,
                  uint32_t batch_size, sl_error *err);
void sl_input_close(source *s);
/* Looks for new input (new files and growth). */
int sl_input_scan(source *s, sl_error *err);
/* Reads one batch into s->batch (s->part_names names its partitions).
 * Returns 1 if input was consumed (rows or rejected records), 0 if nothing
 * was ready, <0 on error. final: --once, the end of what is there is the end. */
int sl_input_read(source *s, bool final, int64_t now_us, sl_bad_record_fn bad, void *ud,
                  sl_error *err);
/* Positions changed since the last commit, for the commit transaction. */
void sl_input_each_position(source *s, void (*fn)(void *ud, const char *part, int64_t pos),
                            void *ud);
/* After the commit is durable. */
void sl_input_committed(source *s);
/* --once: the source reached the end of its input. */
bool sl_input_done(source *s);
/* A descriptor readable when input may be ready, -1: none (sources/source.h's fd). */
int sl_input_fd(const source *s);
/* The next reads may wait up to ms for input, when the source can wait
 * (returns whether it can; the loop sleeps when none can). */
bool sl_input_wait(source *s, int ms);
/* The name of a partition, looked up now (name arrays grow while reading). */
const char *sl_input_part_name(const source *s, int32_t part);
/* The source's gauges and counters; -1: not reported by its kind. */
void sl_input_stats(const source *s, sl_source_stats *out);
/* Every partition's position, for /metrics, when the kind reports them. */
void sl_input_each_partition(const source *s, void (*fn)(void *ud, const char *part, int64_t pos),
                             void *ud);
/* --instance: 0, or SL_EFAIL when another instance went past the position
 * this one owns an assigned partition from (it lost the partition: never commit). */
int sl_input_fence(source *s, const char *partition, int64_t new_pos, sl_error *err);

struct sl_pipeline {
    sl_spec *spec;
    sl_spec *base_spec; /* extends: the file this one builds on */
    sl_node *merged;    /* root with the base's keys this file does not set */
    char file[PATH_MAX];
    char base_dir[PATH_MAX];
    char name[SL_NAME_MAX];
    int64_t commit_interval_us;
    uint32_t batch_size;
    source src[SL_MAX_SOURCES];
    int nsrc;
    table t[SL_MAX_TABLES];
    int nt;
    int order[SL_MAX_TABLES]; /* topological */
    struct {
        char name[SL_NAME_MAX];
        const char *sql;
    } views[SL_MAX_VIEWS];
    int nviews;
    const char *listen, *token;                   /* server: section (NULL: no server) */
    sl_server_token tokens[SL_SERVER_TOKENS_MAX]; /* server.tokens (strings: the spec's) */
    int ntokens;
    char *token_file[SL_SERVER_TOKENS_MAX]; /* their file: paths, resolved */
    int64_t audit_retention_us;             /* server.audit_retention; 0: keep */
    bool has_tls;                           /* server.tls given: tls holds it */
    sl_httpd_tls tls;
    char *dashboard_json, *lineage_json;
    /* schemas resolved at run time (stored in the database, or evolved):
     * compiling a source takes its schema from here when present */
    struct {
        char name[SL_NAME_MAX];
        sl_schema schema;
    } resolved[SL_MAX_SOURCES];
    int nresolved;
    /* partitioned state (a kafka source's partitioned_state: true): the
     * partition column keyed operators split their state by, else NULL */
    const char *part_column;
    /* where sqlite-stored tables go: "" (the data directory's SQLite) or a
     * postgresql:// URL (top-level store:, or store_override from --store) */
    char store_url[2048];
    char store_override[2048];
    sl_alerts *alerts; /* alerts: (NULL: none) */
    /* disk: reading pauses while the data directory's file system has less
     * free space than this (bytes, or a percentage of its size; 0: off) */
    int64_t disk_min_free;
    double disk_min_free_pct;
    const sl_vars *vars; /* what it was loaded with (a reload loads the file again with them) */
};

#define SL_PART_COLUMN "_part"

/* evolve.c: schema inference and evolution. */
/* Samples the files a source has now (its kind's sample: name order, up to
 * infer_sample records) and resolves the schema with the source's hints. */
int sl_evolve_infer_files(source *s, sl_schema *out, sl_error *err);
/* Looks up the schema stored for each inferring/evolving source; when one
 * differs from the compiled one, records it in p->resolved and sets *reload:
 * the caller recompiles the pipeline with it (sl_pipeline_reload). */
int sl_evolve_stored(sl_pipeline *p, sl_store *store, bool *reload, sl_error *err);
/* A source with no stored schema gets its schema stored (and a 'schema'
 * event) at the next commit. */
void sl_evolve_persist(sl_pipeline *p, sl_store *store);
/* compile.c: both, with the reload in between (persist: also
 * sl_evolve_persist). */
int sl_pipeline_resolve_schemas(sl_pipeline *p, sl_store *store, bool persist, sl_error *err);
/* After a read stopped at a schema change (s->change set by the format):
 * fills s->next_schema, inferring the new fields' types from rest[0..len)
 * (the records from the change on). */
void sl_evolve_take_change(source *s, const sl_schema_change *ch, const char *rest, size_t len,
                           bool part_start);
/* Prepares the commit of s's change (pending_kv, pending_event) and records
 * s->next_schema as the resolved schema of s. */
void sl_evolve_prepare(sl_pipeline *p, source *s, const char *part_name);
/* Compiles the pipeline again from its spec with p->resolved (all run-time
 * state must be released first). */
int sl_pipeline_reload(sl_pipeline *p, sl_error *err);
const sl_schema *sl_evolve_resolved(const sl_pipeline *p, const char *source);

#endif
