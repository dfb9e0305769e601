/*
 * spec.h - pipeline files: YAML -> a tree of positioned nodes, ${VAR}
 * substitution, typed readers and a table-driven option checker.
 *
 * The idea: the loader knows nothing about pipelines. It turns a YAML file
 * into plain maps, sequences and scalars, each remembering file:line:col, so
 * that whoever walks the tree (the engine) can refuse a bad value with the
 * exact place to fix. What an operator accepts is declared once, as data (an
 * sl_opt table, like Fluent Bit's config_map); sl_spec_check validates a map
 * against it, sl_spec_bind also stores the values (or the table's defaults)
 * into the caller's config struct, and sl_opt_print_help prints the same
 * table as help text.
 *
 * Positions are 1-based, as editors show them; a column counts characters.
 * A map entry keeps the key's position (for "unknown key"), its value keeps
 * the value's position (for "must be an integer").
 *
 * Variables: every scalar value may contain ${name} or ${name:default}
 * (several per scalar, anywhere in it; the default may itself hold a
 * ${...}). The value comes from --set (sl_vars) first, then the environment
 * variable of exactly that name (an empty value counts as set), then the
 * default. "$${" is a literal "${". Substituted text is not scanned again.
 * Names are [A-Za-z_][A-Za-z0-9_]*. Map keys are taken literally.
 *
 * Refused with file:line:col: YAML syntax errors (libyaml's words),
 * anchors and aliases, tags other than YAML's standard ones (!!str ...),
 * more than one document, duplicate keys, non-scalar keys, NUL characters
 * in scalars, nesting deeper than SL_SPEC_MAX_DEPTH.
 * An empty file (or one holding only comments) loads as an empty map, so
 * the checker reports what is missing from it.
 */
#ifndef SL_SPEC_SPEC_H
#define SL_SPEC_SPEC_H

#include <math.h> /* INFINITY, for SL_OPT_MIN / SL_OPT_MAX */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "core/error.h"

#define SL_SPEC_MAX_DEPTH 64

typedef enum { SL_NODE_SCALAR, SL_NODE_MAP, SL_NODE_SEQ } sl_node_kind;
typedef struct sl_node sl_node;
struct sl_node {
    sl_node_kind kind;
    const char *file;
    int line, col;   /* 1-based, where the node starts */
    const char *str; /* scalar value after ${...} substitution; NULL otherwise */
    bool quoted;     /* scalar was single- or double-quoted in the file (or !!str) */
    bool from_cli;   /* scalar starts with a --set or environment value (paths: sl_spec_path) */
    int n;           /* entries (map) or items (seq) */
    struct sl_map_entry *map; /* map entries in file order */
    sl_node **seq;
};
typedef struct sl_map_entry {
    const char *key;
    int line, col;
    sl_node *val;
} sl_map_entry;

/* ---- variables (--set overrides) ---- */
typedef struct sl_vars sl_vars;
sl_vars *sl_vars_new(void);
/* "name=value" (value may be empty; a later set of a name replaces it).
 * SL_EINVAL if there is no '=' or the name is not [A-Za-z_][A-Za-z0-9_]*. */
int sl_vars_set(sl_vars *v, const char *name_eq_value);
/* The --set value of name, or NULL (the environment is not consulted). */
const char *sl_vars_get(const sl_vars *v, const char *name);
void sl_vars_free(sl_vars *v);
/* Sets every variable of src in dst (the use hook is not copied). */
void sl_vars_copy(sl_vars *dst, const sl_vars *src);
/* `sluice vars`: a load with these vars tells fn about every ${...} it
 * substitutes, in file order: where (the scalar's file:line:col and the map
 * key it is the value of, "" in a list), the name, the default's text (def,
 * deflen; def NULL: none), the value used and where it came from ("--set",
 * "environment", "default", or "unset": with a hook, a variable that is not
 * set and has no default is reported and reads as "" instead of failing the
 * load, so that every variable can be listed). A default is only expanded,
 * and its own references reported, when it is used. */
typedef void (*sl_var_use_fn)(void *ud, const char *file, int line, int col, const char *key,
                              const char *name, const char *def, size_t deflen, const char *value,
                              size_t valuelen, const char *from);
void sl_vars_on_use(sl_vars *v, sl_var_use_fn fn, void *ud);
/* The hook set by sl_vars_on_use (fn NULL: none). */
sl_var_use_fn sl_vars_use_hook(const sl_vars *v, void **ud);

/* Where a path in a pipeline file points: a relative path written in the
 * file is relative to that file's directory (n->file), so a pipeline runs
 * the same from any working directory; one that starts with a --set or
 * environment value (n->from_cli) was typed where the command runs and is
 * relative to the working directory; an absolute path is itself. Writes
 * the path (s: the scalar's value; n may be NULL: s as it is) into
 * out[0..cap). */
#define SL_PATH_MAX 4096
void sl_spec_path(const sl_node *n, const char *s, char *out, size_t cap);

/* ---- loading ---- */
typedef struct sl_spec sl_spec; /* owns every node and string */
/* Loads `path` (see the top of this file for what is substituted and what
 * is refused). Returns NULL with err filled on failure: SL_EIO if the file
 * cannot be read, SL_EINVAL for everything wrong inside it. */
sl_spec *sl_spec_load(const char *path, const sl_vars *vars, sl_error *err);
/* Same from memory; `name` is the file name used in positions. */
sl_spec *sl_spec_load_mem(const char *name, const char *buf, size_t len, const sl_vars *vars,
                          sl_error *err);
const sl_node *sl_spec_root(const sl_spec *s);
const char *sl_spec_name(const sl_spec *s);
void sl_spec_free(sl_spec *s);

/* ---- reading nodes ---- */
const sl_node *sl_node_get(const sl_node *map, const char *key); /* NULL if absent / not a map */
/* The entry for key (for its key position), or NULL. */
const sl_map_entry *sl_node_entry(const sl_node *map, const char *key);
/* A plain (unquoted) scalar that YAML reads as null: empty, "~", "null". */
bool sl_node_is_null(const sl_node *n);
/* "a map", "a sequence", "a scalar" (for messages). */
const char *sl_node_kind_name(sl_node_kind k);
/* SL_OPT_LIST values: a scalar is a list of one item, a sequence is itself.
 * Length 0 for NULL or a map. */
int sl_node_list_len(const sl_node *n);
const sl_node *sl_node_list_at(const sl_node *n, int i);

/* Typed scalar readers: 0 on success; on a wrong type, SL_EINVAL with
 * "file:line:col: <what> must be <type>, got '<text>'" in err (for a map or
 * sequence: "..., got a map"). */
int sl_node_string(const sl_node *n, const char *what, const char **out, sl_error *err);
int sl_node_int(const sl_node *n, const char *what, int64_t *out, sl_error *err);   /* decimal */
int sl_node_double(const sl_node *n, const char *what, double *out, sl_error *err); /* finite */
int sl_node_bool(const sl_node *n, const char *what, bool *out,
                 sl_error *err); /* true/false/yes/no/on/off */
int sl_node_duration(const sl_node *n, const char *what, int64_t *us,
                     sl_error *err); /* sl_duration_parse */
/* A map of scalars as a NULL-terminated list of "key=value" strings (for
 * pass-through settings such as librdkafka properties); *out is NULL and
 * *count 0 for a NULL map. Free with sl_kv_list_free. */
int sl_node_kv_list(const sl_node *map, const char *what, char ***out, int *count, sl_error *err);
void sl_kv_list_free(char **list, int count);
/* An SL_OPT_LIST value (a sequence of scalars, or one scalar of
 * comma-separated items, so a whole list can come from one ${VAR}) as a
 * NULL-terminated string list; items are trimmed of spaces and empty ones
 * dropped. NULL n: an empty list. Free with sl_kv_list_free. */
int sl_node_str_list(const sl_node *n, const char *what, char ***out, int *count, sl_error *err);
/* Formats "file:line:col: ..." at n's position into err; returns SL_EINVAL.
 * With n NULL the message has no position. */
int sl_node_error(sl_error *err, const sl_node *n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* ---- option tables ---- */
typedef enum {
    SL_OPT_STRING,
    SL_OPT_INT,
    SL_OPT_DOUBLE,
    SL_OPT_BOOL,
    SL_OPT_DURATION,
    SL_OPT_ENUM,
    SL_OPT_EXPR /* a scalar; the engine compiles it */,
    SL_OPT_LIST /* a scalar or a sequence of scalars */,
    SL_OPT_MAP,
    SL_OPT_SEQ,
    SL_OPT_ANY,
    /* A file or directory: a string bound into a char[SL_PATH_MAX], resolved
     * by sl_spec_path (relative to the pipeline file that holds it). */
    SL_OPT_PATH
} sl_opt_type;
typedef struct sl_opt {
    const char *name;
    sl_opt_type type;
    bool required;
    const char *values; /* SL_OPT_ENUM: "drop|quarantine|fail" */
    const char *def;    /* default as text; may be NULL (see binding below) */
    const char *help;   /* one line */
    /* ---- binding (sl_spec_bind). Appended: a row that stops at `help`
     * is check-only, exactly as before. Write these with the macros below. */
    size_t off;               /* bind: the value is stored at (char *)conf + off */
    bool bind;                /* off is set (0 is a valid offset) */
    double min, max;          /* inclusive bounds when min < max: INT, DOUBLE, DURATION (µs) */
    size_t at;                /* bind_at: the value's node (NULL when absent) at conf + at */
    bool bind_at;             /* at is set */
    const struct sl_opt *sub; /* MAP: the map's own table; SEQ: each item's (help, docs) */
    size_t size;              /* sizeof the bound field (SL_OPT_BIND): checked against the type */
} sl_opt;                     /* tables end with {0} */

/* Row helpers, after the six positional fields:
 *   {"size", SL_OPT_INT, false, NULL, "20", "values kept per key",
 *    SL_OPT_BIND(baseline_conf, size), SL_OPT_RANGE(2, 100000), SL_OPT_AT(baseline_conf, size_at)},
 * SL_OPT_MIN(1) is ">= 1", SL_OPT_MAX(x) is "<= x". */
#define SL_OPT_BIND(T, field)                                                                      \
    .off = offsetof(T, field), .size = sizeof(((T *)0)->field), .bind = true
#define SL_OPT_AT(T, field) .at = offsetof(T, field), .bind_at = true
#define SL_OPT_RANGE(lo, hi) .min = (lo), .max = (hi)
#define SL_OPT_MIN(lo) .min = (lo), .max = INFINITY
#define SL_OPT_MAX(hi) .min = -INFINITY, .max = (hi)
#define SL_OPT_SUB(table) .sub = (table)

/* Checks that `map` is a map, that every key is in `opts` (else, at the key:
 * "<what>: unknown key 'wndow' (did you mean 'window'?)", suggested by edit
 * distance, or the list of valid keys), that each value has its declared type
 * (at the value: "<what>: window must be a duration, got 'abc'", "<what>:
 * action must be one of warn|drop|quarantine|fail, got 'dorp'") and is within
 * the row's bounds ("<what>: size must be in 2..100000, got 1", "... must be
 * >= 1, got 0", "... must be in [0, 1], got 1.5"), and that every required
 * key is present (at the map: "<what>: missing key 'path'").
 * Entries are checked in file order, then missing keys; the first problem is
 * reported. `what` names the map, e.g. "source 'detections'" (may be NULL).
 * Returns 0 or SL_EINVAL. */
int sl_spec_check(const sl_node *map, const sl_opt *opts, const char *what, sl_error *err);

/* sl_spec_check, then stores every bound row into the struct `conf`:
 *   STRING                      const char *  (into the spec: lives as long as it)
 *   INT, DURATION               int64_t       (DURATION in microseconds)
 *   DOUBLE                      double
 *   BOOL                        bool
 *   ENUM                        int           (index of the word in `values`, "a|b|c": 0, 1, 2)
 *   EXPR, LIST, MAP, SEQ, ANY   const sl_node * (NULL when absent)
 * An absent key takes its `def`, parsed by the same rules (type, enum,
 * bounds); with no `def` it is zero (NULL, 0, false; ENUM -1). The row's
 * `def` is the only place a default is written. Node-typed rows have no
 * `def` (a nested map's defaults are in its own table). A row with bind_at
 * also gets the value's node, NULL when absent: whether the option was given,
 * and where, for the caller's own messages.
 * A NULL map (an optional nested map that is absent) binds every default,
 * unless the table has a required key ("<what> is missing").
 * Returns 0, or SL_EINVAL with the message in err (file:line:col as
 * sl_spec_check; a default that does not parse, or a field whose size is not
 * the type's, is reported as a bug in the table, without a position, before
 * anything is stored). */
int sl_spec_bind(const sl_node *map, const sl_opt *opts, const char *what, void *conf,
                 sl_error *err);

/* Checks that every bound row's default parses (type, enum, bounds), that
 * node-typed bound rows have none and that each bound field has the type's
 * size; recurses into sub-tables. For tests that walk every table. Returns 0
 * or SL_EINVAL naming the row. */
int sl_opt_check_defaults(const sl_opt *opts, const char *what, sl_error *err);

const sl_opt *sl_opt_find(const sl_opt *opts, const char *name);
/* "string", "int", "duration", ... */
const char *sl_opt_type_name(sl_opt_type t);
/* Prints an option table as help text, for `sluice help <op>`: name, type
 * (for an enum its words, "drop|flag"; bounds after the type, "int 2..100000",
 * "number >= 0"), help, then "(required)" or "(default: ...)". The rows of a
 * sub-table follow their MAP/SEQ row, named "baseline.size" or
 * "severity[].level". */
void sl_opt_print_help(FILE *out, const sl_opt *opts);

/* A named option table, for whatever walks every table (help, the docs
 * test): kind is "step", "window", "source", "sink"...; the docs section of
 * `name` must mention every option (tests/unit/ops/test_opt_docs.c). */
typedef struct sl_opt_table {
    const char *kind;
    const char *name;
    const sl_opt *opts;
} sl_opt_table;

#endif
