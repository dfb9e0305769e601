/*
 * cli.h - commands that watch a pipeline from outside: `sluice tap` (a
 * table's rows as they are committed) and `sluice top` (a live view of a
 * running instance's /metrics).
 *
 * Both are clients: tap reads the store read-only (SQLite WAL lets it read
 * beside the writer) or a running server's tap stream; top scrapes
 * /metrics and turns the difference of two scrapes into rates. The small
 * parsers they use (Server-Sent Events, the stream's JSON rows, Prometheus
 * text) are exported for the unit tests.
 */
#ifndef SL_CLI_CLI_H
#define SL_CLI_CLI_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "core/error.h"
#include "engine/pipeline.h"

enum { SL_TAP_JSON, SL_TAP_TABLE };

typedef struct sl_tap_opts {
    const sl_pipeline *p;
    const char *data_dir; /* NULL: the pipeline's default */
    const char *table;
    const char *where; /* SQL expression over the table's columns, or NULL */
    const char *url;   /* http://HOST:PORT of a running instance, or NULL: the store */
    const char *token; /* bearer token for url, or NULL */
    int64_t limit;     /* stop after this many rows; 0: never */
    int format;        /* SL_TAP_* */
    bool from_start;   /* every stored row first, not only the new ones */
    int64_t poll_ms;   /* store: poll interval (200) */
    volatile sig_atomic_t *stop;
    FILE *out;
} sl_tap_opts;

/* Prints rows until *stop, the limit, or an error. 0, or SL_EINVAL (bad
 * table, bad where, lake table, refused token: exit 2) or SL_EIO. */
int sl_tap_run(const sl_tap_opts *o, sl_error *err);

typedef struct sl_top_opts {
    const char *pipeline; /* its name, for the title */
    const char *url;      /* http://HOST:PORT */
    const char *token;
    double interval_s;
    bool once; /* one plain frame after two scrapes, no terminal control */
    volatile sig_atomic_t *stop;
    FILE *out;
} sl_top_opts;

int sl_top_run(const sl_top_opts *o, sl_error *err);

/* The commands (commands.c): argv after the command name; exit code. */
int sl_tap_main(int argc, char **argv);
int sl_top_main(int argc, char **argv);
extern const char sl_tap_help[], sl_top_help[];

/* ---- parsers (exported for tests) ---- */

/* Server-Sent Events: feed bytes as they come; fn gets each complete event
 * (event name, "message" when none; data lines joined by '\n'). A nonzero
 * return from fn stops the feed and is returned. */
typedef struct sl_sse sl_sse;
typedef int (*sl_sse_fn)(void *ud, const char *event, const char *data, size_t len);
sl_sse *sl_sse_new(sl_sse_fn fn, void *ud);
int sl_sse_feed(sl_sse *s, const char *buf, size_t n);
void sl_sse_free(sl_sse *s);

/* One value of a tap event's rows: kind and text (decoded for strings, the
 * JSON token for numbers and booleans, NULL for null). */
enum { SL_JV_NULL, SL_JV_NUM, SL_JV_STR, SL_JV_BOOL };
typedef struct sl_rows_event {
    int ncols;
    char **cols;
    int nrows;
    int *kinds;   /* nrows * ncols */
    char **cells; /* nrows * ncols, NULL for null */
} sl_rows_event;
/* Parses {"columns":[...],"rows":[[...],...],...}. 0 or SL_EPARSE. */
int sl_rows_event_parse(const char *json, size_t n, sl_rows_event *ev);
void sl_rows_event_fini(sl_rows_event *ev);

/* Prometheus text exposition: samples by name and labels. */
typedef struct sl_prom sl_prom;
sl_prom *sl_prom_parse(const char *text, size_t n);
void sl_prom_free(sl_prom *m);
/* The sum of the samples of name whose label `key` is `val` (key NULL:
 * all of them; a source's partitions add up); NAN when there are none. */
double sl_prom_get(const sl_prom *m, const char *name, const char *key, const char *val);
/* Distinct values of label `key` over the samples of name, in order of
 * appearance; returns how many (at most cap), pointers valid until free. */
int sl_prom_labels(const sl_prom *m, const char *name, const char *key, const char **out, int cap);
/* A counter's rate between two scrapes dt seconds apart: NAN when either
 * is absent; 0 when the counter went back (a restart). */
double sl_prom_rate(const sl_prom *a, const sl_prom *b, double dt, const char *name,
                    const char *key, const char *val);

#endif
