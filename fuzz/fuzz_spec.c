/*
 * fuzz_spec.c - libFuzzer target for the pipeline-file loader (src/spec).
 *
 * Feeds arbitrary bytes to sl_spec_load_mem (with a few --set variables so
 * ${...} substitution takes both paths), then walks the whole tree checking
 * the invariants the engine relies on (positions are 1-based, scalars have a
 * string and maps do not, sl_node_get finds every key, keys are unique) and
 * runs every typed reader and the option checker on every node, so their
 * error paths see hostile text too. A failed load must leave a positioned
 * message. Crashes, sanitizer reports and leaks are the findings.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "spec/spec.h"

static const sl_opt opts[] = {
    {"path", SL_OPT_STRING, true, NULL, NULL, "where"},
    {"format", SL_OPT_ENUM, false, "json|csv|syslog", "json", "encoding"},
    {"window", SL_OPT_DURATION, false, NULL, "1m", "window"},
    {"n", SL_OPT_INT, false, NULL, NULL, "count"},
    {"z", SL_OPT_DOUBLE, false, NULL, NULL, "threshold"},
    {"on", SL_OPT_BOOL, false, NULL, NULL, "flag"},
    {"where", SL_OPT_EXPR, false, NULL, NULL, "filter"},
    {"keys", SL_OPT_LIST, false, NULL, NULL, "keys"},
    {"options", SL_OPT_MAP, false, NULL, NULL, "map"},
    {"steps", SL_OPT_SEQ, false, NULL, NULL, "seq"},
    {"extra", SL_OPT_ANY, false, NULL, NULL, "any"},
    {0},
};

static void fail(void) { __builtin_trap(); }

static void walk(const sl_node *n, int depth) {
    if (!n || depth > SL_SPEC_MAX_DEPTH + 1) fail();
    if (n->line < 1 || n->col < 1 || !n->file || n->n < 0) fail();
    sl_error e;
    int64_t i;
    double d;
    bool b;
    const char *s;
    switch (n->kind) {
    case SL_NODE_SCALAR:
        if (!n->str || n->map || n->seq || n->n) fail();
        (void)strlen(n->str);
        sl_node_int(n, "n", &i, &e);
        sl_node_double(n, "z", &d, &e);
        sl_node_bool(n, "on", &b, &e);
        sl_node_duration(n, "window", &i, &e);
        if (sl_node_string(n, "s", &s, &e) || s != n->str) fail();
        sl_node_is_null(n);
        if (sl_node_list_len(n) != 1) fail();
        break;
    case SL_NODE_MAP:
        if (n->str || (n->n && !n->map)) fail();
        for (int k = 0; k < n->n; k++) {
            const sl_map_entry *m = &n->map[k];
            if (!m->key || m->line < 1 || m->col < 1) fail();
            if (sl_node_get(n, m->key) != m->val) fail(); /* unique keys */
            walk(m->val, depth + 1);
        }
        if (sl_spec_check(n, opts, "fuzz map", &e) && strncmp(e.msg, "fuzz.yaml:", 10)) fail();
        break;
    case SL_NODE_SEQ:
        if (n->str || (n->n && !n->seq)) fail();
        for (int k = 0; k < n->n; k++)
            walk(n->seq[k], depth + 1);
        if (sl_node_list_len(n) != n->n) fail();
        break;
    default:
        fail();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static sl_vars *vars;
    if (!vars) {
        vars = sl_vars_new();
        sl_vars_set(vars, "HOST=db.local");
        sl_vars_set(vars, "PORT=5432");
        sl_vars_set(vars, "EMPTY=");
        sl_vars_set(vars, "REF=${HOST}");
    }
    sl_error err = {0};
    sl_spec *s = sl_spec_load_mem("fuzz.yaml", (const char *)data, size, vars, &err);
    if (!s) {
        if (err.code == 0 || !err.msg[0]) fail();
        if (err.code == SL_EINVAL && strncmp(err.msg, "fuzz.yaml:", 10)) fail();
        return 0;
    }
    const sl_node *root = sl_spec_root(s);
    walk(root, 0);
    sl_spec_free(s);
    return 0;
}
