/* internal.h - the compiled pipeline's structures, shared by the engine's files. */
#ifndef SL_ENGINE_INTERNAL_H
#define SL_ENGINE_INTERNAL_H

#include <limits.h>

#include "core/batch.h"
#include "engine/pipeline.h"
#include "formats/json.h"
#include "formats/lineformat.h"
#include "formats/json_write.h"
#include "ops/op.h"
#include "ops/window.h"
#include "sinks/lake.h"
#include "sinks/store.h"
#include "sources/dir.h"

#define SL_MAX_TABLES 64
#define SL_MAX_SOURCES 16
#define SL_MAX_STEPS 32
#define SL_MAX_VIEWS 64

enum { LAYER_BRONZE, LAYER_SILVER, LAYER_GOLD };
enum { STORE_LAKE, STORE_SQLITE, STORE_NONE };
enum { SRC_DIR };

typedef struct step {
    const sl_op_def *def;
    void *self;
    char id[160]; /* table/index/name: the state key */
    int full_every, since_full;
} step;

typedef struct table {
    char name[SL_NAME_MAX];
    int layer, store;
    const sl_node *node;
    int from_source, from_table; /* one of them >= 0 */
    sl_schema in, out;
    step steps[SL_MAX_STEPS];
    int nsteps;
    sl_window *win;
    bool is_rollup; /* win is fed by merges from the parent window */
    int children[SL_MAX_TABLES];
    int nchildren;
    int64_t retention_us;
    /* run time */
    sl_batch *work;
    sl_table_writer *writer;
    sl_lake *lake;
    char *line;
    size_t line_cap;
    sl_json_keys keys; /* lake tables: escaped column names */
    int64_t rows_in, rows_out, rows_total_in, rows_total_out;
} table;

typedef struct source {
    char name[SL_NAME_MAX];
    int type;
    const sl_node *node;
    char path[PATH_MAX];
    char pattern[256];
    sl_schema schema;
    char *paths[SL_MAX_COLUMNS];
    int first_table; /* gets malformed records in its name */
    /* run time */
    sl_dir_source *dir;
    char format[16];
    sl_line_format *fmt;
    sl_batch *batch;
    int64_t records_in, parse_errors;
} source;

struct sl_pipeline {
    sl_spec *spec;
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
    struct { char name[SL_NAME_MAX]; const char *sql; } views[SL_MAX_VIEWS];
    int nviews;
    const char *listen, *token; /* server: section (NULL: no server) */
    char *dashboard_json, *lineage_json;
};

#endif
