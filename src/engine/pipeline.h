/*
 * pipeline.h - a compiled pipeline: sources, tables (the graph), views; and
 * running it with exactly-once commits.
 *
 * Loading compiles everything a run needs (expressions, operators, schemas,
 * the table graph), so `sluice validate` and `sluice run` refuse the same
 * mistakes with the same file:line:col messages, before any data is read.
 */
#ifndef SL_ENGINE_PIPELINE_H
#define SL_ENGINE_PIPELINE_H

#include <signal.h>
#include <stdbool.h>
#include <stdio.h>

#include "core/error.h"
#include "spec/spec.h"

typedef struct sl_pipeline sl_pipeline;

typedef struct sl_run_opts {
    const char *data_dir; /* NULL: ./data/<pipeline name> */
    const char *instance; /* scale-out: this process's name; its checkpoint is DATA/instance-NAME */
    bool once;            /* process what is there, finalise, exit */
    double status_every_s; /* 0: no status lines */
    volatile sig_atomic_t *stop;
    bool signals; /* SIGINT/SIGTERM stop the run (read through a signalfd; *stop is set too) */
    const char *listen; /* overrides the pipeline's server.listen; starts the server */
    void (*on_listen)(void *ud, int port); /* told the server's port once it listens */
    void *ud;
    /* `sluice refresh` builds a new state directory with this run (refresh.c):
     * no server, no run lock, no notifications sent (the ones its commits
     * write are marked 'refreshed': the live state sent them already) */
    bool refresh;
    /* with once: the last commit leaves the windows open, as a live run that
     * stops does, so a live process can resume from the state */
    bool keep_open;
    /* reload the pipeline file when it changes (as on SIGHUP; reload.c) */
    bool watch_config;
} sl_run_opts;

/* Exit codes (documented in README): */
enum {
    SL_EXIT_OK = 0,
    SL_EXIT_RUNTIME = 1,
    SL_EXIT_USAGE = 2,
    SL_EXIT_DATA = 3,
    SL_EXIT_CORRUPT = 4
};
int sl_exit_code(int err_code);

sl_pipeline *sl_pipeline_load(const char *path, const sl_vars *vars, sl_error *err);
/* The same, with store (NULL: the file's store:) overriding the file's
 * top-level store: (`sluice run|query --store sqlite|postgresql://...`). */
sl_pipeline *sl_pipeline_load_store(const char *path, const sl_vars *vars, const char *store,
                                    sl_error *err);
/* The PostgreSQL URL sqlite-stored tables go to, or NULL (SQLite). */
const char *sl_pipeline_store_url(const sl_pipeline *p);
void sl_pipeline_free(sl_pipeline *p);
const char *sl_pipeline_name(const sl_pipeline *p);
/* Resolves the data directory (creating it when create is true). */
int sl_pipeline_data_dir(const sl_pipeline *p, const char *data_dir, char *out, size_t cap,
                         bool create, sl_error *err);
int sl_pipeline_run(sl_pipeline *p, const sl_run_opts *opts, sl_error *err);
/* An operator's action done outside the running process (`sluice alert
 * test`) for the audit log of the pipeline whose data directory is dir: a
 * file in DIR.audit/ beside it, which the process running the pipeline (or
 * the next one to start) takes into _sluice_audit at its next commit, since
 * only that process writes to the store. Newlines in the fields become
 * spaces. */
int sl_audit_spool(const char *dir, const char *method, const char *route, const char *detail,
                   int status, sl_error *err);
/* `sluice refresh`: rebuilds every table from the landing files into
 * DIR.refresh beside the data directory DIR, then switches atomically: itself
 * when no process runs the pipeline on DIR, else the live process does it at
 * a commit boundary (refresh.c explains the protocol). A crash leaves DIR as
 * it was; the next refresh starts over. */
typedef struct sl_refresh_opts {
    const char *data_dir; /* NULL: ./data/<pipeline name> */
    double status_every_s;
    volatile sig_atomic_t *stop;
    double swap_timeout_s; /* how long the live process may take to switch (0: 300 s) */
} sl_refresh_opts;
int sl_pipeline_refresh(sl_pipeline *p, const sl_refresh_opts *opts, sl_error *err);
void sl_pipeline_print_lineage(const sl_pipeline *p, FILE *out);
/* `sluice check`: every source could read, the store is writable, every alert
 * channel answers; one line per check on out. Returns 0 all ok, 1 not. */
int sl_pipeline_check(sl_pipeline *p, const char *data_dir, FILE *out);

enum { SL_FMT_TABLE, SL_FMT_CSV, SL_FMT_JSON };
/* Read-only SQL over every table (lake tables through views). */
int sl_pipeline_query(const sl_pipeline *p, const char *data_dir, const char *sql, int format,
                      FILE *out, sl_error *err);

/* `sluice test PIPELINE`: runs the test cases of TESTS (NULL: the file
 * beside the pipeline, NAME.tests.yaml) without a store on disk (each case in
 * a directory in memory, /dev/shm when there is one, removed after), one
 * line per case on out. only: run the case of that name (NULL: all).
 * Returns 0 all passed, 1 a case failed, 2 the tests file is bad (err). */
int sl_pipeline_test(const char *pipeline_path, const char *tests_path, const sl_vars *vars,
                     const char *only, bool verbose, FILE *out, sl_error *err);

/* For `sluice tap` and `sluice top` (watch.c): server.listen and
 * server.token (NULL: none), and how the table `name` is stored. */
const char *sl_pipeline_listen(const sl_pipeline *p);
const char *sl_pipeline_token(const sl_pipeline *p);
enum { SL_TABLE_UNKNOWN = -1, SL_TABLE_LAKE, SL_TABLE_SQLITE, SL_TABLE_NONE };
int sl_pipeline_table_store(const sl_pipeline *p, const char *name);

#include <sqlite3.h>
/* Makes every table of the pipeline queryable on db (lake tables through views). */
int sl_pipeline_prepare_connection(const sl_pipeline *p, const char *data_dir_resolved, sqlite3 *db,
                                   sl_error *err);
/* Scale-out: db is instance self_db's database under base_dir; attaches the
 * other instances' databases and shadows every table with a temp view over
 * all of them, as `sluice query --data base_dir` does (the dashboard of any
 * instance shows the whole pipeline). */
int sl_pipeline_attach_instances(const sl_pipeline *p, const char *base_dir, const char *self_db,
                                 sqlite3 *db, sl_error *err);

#endif
