/*
 * check.c - validating a map against an option table, and printing the
 * table as help.
 *
 * The idea (from Fluent Bit's config_map and nginx's command arrays): an
 * operator declares its options once, as rows of data, and this one checker
 * turns them into every "unknown key", "missing key" and "must be a
 * duration" a user can see. Adding an option is adding a row; nobody writes
 * a strcmp ladder. A misspelt key is answered with the nearest valid name by
 * edit distance (optimal string alignment: a swap of two neighbours counts
 * as one edit, the commonest typo), else with the list of valid keys.
 */
#include "spec/spec.h"

#include <stdlib.h>
#include <string.h>

const sl_opt *sl_opt_find(const sl_opt *opts, const char *name) {
    if (!opts || !name) return NULL;
    for (const sl_opt *o = opts; o->name; o++)
        if (!strcmp(o->name, name)) return o;
    return NULL;
}

const char *sl_opt_type_name(sl_opt_type t) {
    switch (t) {
    case SL_OPT_STRING:
        return "string";
    case SL_OPT_INT:
        return "int";
    case SL_OPT_DOUBLE:
        return "number";
    case SL_OPT_BOOL:
        return "bool";
    case SL_OPT_DURATION:
        return "duration";
    case SL_OPT_ENUM:
        return "enum";
    case SL_OPT_EXPR:
        return "expression";
    case SL_OPT_LIST:
        return "list";
    case SL_OPT_MAP:
        return "map";
    case SL_OPT_SEQ:
        return "sequence";
    case SL_OPT_ANY:
        return "any";
    }
    return "?";
}

#define DIST_MAX_LEN 64

/* Optimal string alignment distance, case-insensitive; -1 if too long. */
static int edit_distance(const char *a, const char *b) {
    size_t n = strlen(a), m = strlen(b);
    if (n > DIST_MAX_LEN || m > DIST_MAX_LEN) return -1;
    int d[DIST_MAX_LEN + 1][DIST_MAX_LEN + 1];
    for (size_t i = 0; i <= n; i++)
        d[i][0] = (int)i;
    for (size_t j = 0; j <= m; j++)
        d[0][j] = (int)j;
    for (size_t i = 1; i <= n; i++) {
        for (size_t j = 1; j <= m; j++) {
            char ca = a[i - 1], cb = b[j - 1];
            if (ca >= 'A' && ca <= 'Z') ca = (char)(ca - 'A' + 'a');
            if (cb >= 'A' && cb <= 'Z') cb = (char)(cb - 'A' + 'a');
            int cost = ca != cb;
            int v = d[i - 1][j] + 1;
            if (d[i][j - 1] + 1 < v) v = d[i][j - 1] + 1;
            if (d[i - 1][j - 1] + cost < v) v = d[i - 1][j - 1] + cost;
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
                d[i - 2][j - 2] + 1 < v)
                v = d[i - 2][j - 2] + 1;
            d[i][j] = v;
        }
    }
    return d[n][m];
}

/* The candidate nearest to `word`, if near enough to be a likely typo:
 * at most a third of the candidate's length, and at most 3 edits; else the
 * first candidate that `word` (3 characters or more) abbreviates. */
static const char *nearest(const char *word, const char *const *cands, int ncands) {
    const char *best = NULL;
    int bestd = 0;
    for (int i = 0; i < ncands; i++) {
        int d = edit_distance(word, cands[i]);
        if (d < 0) continue;
        int limit = (int)strlen(cands[i]) / 3;
        if (limit < 1) limit = 1;
        if (limit > 3) limit = 3;
        if (d <= limit && (!best || d < bestd)) best = cands[i], bestd = d;
    }
    if (best) return best;
    /* An abbreviation ("opts" for "options", "fmt" for "format") is a
     * likely slip too: same first letter, the rest in order. */
    if (strlen(word) < 3) return NULL;
    for (int i = 0; i < ncands; i++) {
        const char *c = cands[i], *w = word;
        if (*c != *w) continue;
        for (; *c && *w; c++)
            if (*c == *w) w++;
        if (!*w) return cands[i];
    }
    return NULL;
}

/* "<what>: " or "" */
#define PFX(what) (what) ? (what) : "", (what) ? ": " : ""

static int unknown_key(const sl_map_entry *e, const sl_node *map, const sl_opt *opts,
                       const char *what, sl_error *err) {
    const char *cands[128] = {0};
    int nc = 0;
    for (const sl_opt *o = opts; o && o->name && nc < 128; o++)
        cands[nc++] = o->name;
    const char *file = map->file;
    const char *best = nearest(e->key, cands, nc);
    if (best)
        return sl_error_at(err, SL_EINVAL, file, e->line, e->col,
                           "%s%sunknown key '%s' (did you mean '%s'?)", PFX(what), e->key, best);
    char list[256];
    size_t len = 0;
    list[0] = 0;
    for (int i = 0; i < nc; i++) {
        int w = snprintf(list + len, sizeof list - len, "%s%s", i ? ", " : "", cands[i]);
        if (w < 0 || (size_t)w >= sizeof list - len) {
            list[0] = 0; /* too many to list usefully */
            break;
        }
        len += (size_t)w;
    }
    if (nc == 0)
        return sl_error_at(err, SL_EINVAL, file, e->line, e->col,
                           "%s%sunknown key '%s' (no keys are allowed here)", PFX(what), e->key);
    if (list[0])
        return sl_error_at(err, SL_EINVAL, file, e->line, e->col,
                           "%s%sunknown key '%s' (valid keys: %s)", PFX(what), e->key, list);
    return sl_error_at(err, SL_EINVAL, file, e->line, e->col, "%s%sunknown key '%s'", PFX(what),
                       e->key);
}

/* Is s one of the '|'-separated words of values? */
static bool enum_has(const char *values, const char *s) {
    size_t n = strlen(s);
    for (const char *p = values; p && *p;) {
        const char *bar = strchr(p, '|');
        size_t w = bar ? (size_t)(bar - p) : strlen(p);
        if (w == n && !memcmp(p, s, n)) return true;
        p = bar ? bar + 1 : NULL;
    }
    return false;
}

static int check_enum(const sl_node *v, const sl_opt *o, const char *name, sl_error *err) {
    const char *values = o->values ? o->values : "";
    if (v->kind == SL_NODE_SCALAR && enum_has(values, v->str)) return 0;
    if (v->kind != SL_NODE_SCALAR)
        return sl_node_error(err, v, "%s must be one of %s, got %s", name, values,
                             sl_node_kind_name(v->kind));
    /* A suggestion among the allowed words. */
    char words[512];
    const char *cands[64] = {0};
    int nc = 0;
    snprintf(words, sizeof words, "%s", values);
    for (char *p = words; *p && nc < 64;) {
        cands[nc++] = p;
        char *bar = strchr(p, '|');
        if (!bar) break;
        *bar = 0;
        p = bar + 1;
    }
    const char *best = nearest(v->str, cands, nc);
    size_t len = strlen(v->str);
    int show = len > 80 ? 80 : (int)len;
    const char *dots = len > 80 ? "..." : "";
    if (best)
        return sl_node_error(err, v, "%s must be one of %s, got '%.*s%s' (did you mean '%s'?)",
                             name, values, show, v->str, dots, best);
    return sl_node_error(err, v, "%s must be one of %s, got '%.*s%s'", name, values, show, v->str,
                         dots);
}

/* Checks one value against its option row. `name` is what messages call it. */
static int check_value(const sl_node *v, const sl_opt *o, const char *name, sl_error *err) {
    union {
        int64_t i;
        double d;
        bool b;
        const char *s;
    } u;
    switch (o->type) {
    case SL_OPT_STRING:
        return sl_node_string(v, name, &u.s, err);
    case SL_OPT_EXPR:
        if (v->kind != SL_NODE_SCALAR)
            return sl_node_error(err, v, "%s must be an expression, got %s", name,
                                 sl_node_kind_name(v->kind));
        return 0;
    case SL_OPT_INT:
        return sl_node_int(v, name, &u.i, err);
    case SL_OPT_DOUBLE:
        return sl_node_double(v, name, &u.d, err);
    case SL_OPT_BOOL:
        return sl_node_bool(v, name, &u.b, err);
    case SL_OPT_DURATION:
        return sl_node_duration(v, name, &u.i, err);
    case SL_OPT_ENUM:
        return check_enum(v, o, name, err);
    case SL_OPT_LIST:
        if (v->kind == SL_NODE_SCALAR) return 0;
        if (v->kind != SL_NODE_SEQ)
            return sl_node_error(err, v, "%s must be a value or a list of values, got %s", name,
                                 sl_node_kind_name(v->kind));
        for (int i = 0; i < v->n; i++)
            if (v->seq[i]->kind != SL_NODE_SCALAR)
                return sl_node_error(err, v->seq[i], "%s: item %d must be a value, got %s", name,
                                     i + 1, sl_node_kind_name(v->seq[i]->kind));
        return 0;
    case SL_OPT_MAP:
        if (v->kind != SL_NODE_MAP)
            return v->kind == SL_NODE_SCALAR && sl_node_is_null(v)
                       ? sl_node_error(err, v, "%s must be a map, got nothing", name)
                       : sl_node_error(err, v, "%s must be a map, got %s", name,
                                       sl_node_kind_name(v->kind));
        return 0;
    case SL_OPT_SEQ:
        if (v->kind != SL_NODE_SEQ)
            return sl_node_error(err, v, "%s must be a sequence, got %s", name,
                                 sl_node_kind_name(v->kind));
        return 0;
    case SL_OPT_ANY:
        return 0;
    }
    return 0;
}

int sl_spec_check(const sl_node *map, const sl_opt *opts, const char *what, sl_error *err) {
    if (!map) return sl_error_set(err, SL_EINVAL, "%s is missing", what ? what : "value");
    if (map->kind != SL_NODE_MAP) {
        if (map->kind == SL_NODE_SCALAR && sl_node_is_null(map))
            return sl_node_error(err, map, "%s must be a map, got nothing", what ? what : "value");
        return sl_node_error(err, map, "%s must be a map, got %s", what ? what : "value",
                             sl_node_kind_name(map->kind));
    }
    for (int i = 0; i < map->n; i++) {
        const sl_map_entry *e = &map->map[i];
        const sl_opt *o = sl_opt_find(opts, e->key);
        if (!o) return unknown_key(e, map, opts, what, err);
        char name[256];
        snprintf(name, sizeof name, "%s%s%s", PFX(what), e->key);
        int rc = check_value(e->val, o, name, err);
        if (rc) return rc;
    }
    for (const sl_opt *o = opts; o && o->name; o++) {
        if (o->required && !sl_node_get(map, o->name))
            return sl_node_error(err, map, "%s%smissing key '%s'", PFX(what), o->name);
    }
    return 0;
}

void sl_opt_print_help(FILE *out, const sl_opt *opts) {
    int wname = 4, wtype = 4;
    char type[160];
    for (const sl_opt *o = opts; o && o->name; o++) {
        int l = (int)strlen(o->name);
        if (l > wname) wname = l;
        l = o->type == SL_OPT_ENUM && o->values ? (int)strlen(o->values)
                                                : (int)strlen(sl_opt_type_name(o->type));
        if (l > wtype) wtype = l;
    }
    if (wtype > 40) wtype = 40;
    for (const sl_opt *o = opts; o && o->name; o++) {
        snprintf(type, sizeof type, "%s",
                 o->type == SL_OPT_ENUM && o->values ? o->values : sl_opt_type_name(o->type));
        fprintf(out, "  %-*s  %-*s  %s", wname, o->name, wtype, type, o->help ? o->help : "");
        if (o->required)
            fprintf(out, " (required)");
        else if (o->def)
            fprintf(out, " (default: %s)", o->def);
        fputc('\n', out);
    }
}
