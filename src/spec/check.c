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
 *
 * Binding (sl_spec_bind, as nginx's offsetof'd commands): the same walk that
 * checks a map also stores each bound row's value into the caller's config
 * struct, and the defaults of the absent ones, read from the row's `def`
 * text by the same rules, so a default is written once, in the table.
 */
#include "spec/spec.h"

#include "core/timeutil.h"

#include <math.h>
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
    case SL_OPT_PATH:
        return "path";
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

/* Index of s among the '|'-separated words of values, or -1. */
static int enum_index(const char *values, const char *s) {
    size_t n = strlen(s);
    int i = 0;
    for (const char *p = values; p && *p; i++) {
        const char *bar = strchr(p, '|');
        size_t w = bar ? (size_t)(bar - p) : strlen(p);
        if (w == n && !memcmp(p, s, n)) return i;
        p = bar ? bar + 1 : NULL;
    }
    return -1;
}

static int check_enum(const sl_node *v, const sl_opt *o, const char *name, int *index,
                      sl_error *err) {
    const char *values = o->values ? o->values : "";
    if (v->kind == SL_NODE_SCALAR && (*index = enum_index(values, v->str)) >= 0) return 0;
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

/* ---- bounds ---- */

static bool has_bounds(const sl_opt *o) {
    return o->min < o->max &&
           (o->type == SL_OPT_INT || o->type == SL_OPT_DOUBLE || o->type == SL_OPT_DURATION);
}

static void fmt_bound(const sl_opt *o, double x, char *out, size_t cap) {
    if (o->type == SL_OPT_DURATION)
        sl_duration_format((int64_t)x, out, cap);
    else
        snprintf(out, cap, "%.15g", x);
}

/* "2..100000", "[0, 1]" (numbers), "1s..1h"; ">= 1", "<= 5". `in` tells
 * whether it reads "must be in <range>" (both ends) or "must be <range>". */
static void fmt_range(const sl_opt *o, char *out, size_t cap, bool *in) {
    char lo[48], hi[48];
    fmt_bound(o, o->min, lo, sizeof lo);
    fmt_bound(o, o->max, hi, sizeof hi);
    *in = false;
    if (isinf(o->max))
        snprintf(out, cap, ">= %s", lo);
    else if (isinf(o->min))
        snprintf(out, cap, "<= %s", hi);
    else {
        *in = true;
        if (o->type == SL_OPT_DOUBLE)
            snprintf(out, cap, "[%s, %s]", lo, hi);
        else
            snprintf(out, cap, "%s..%s", lo, hi);
    }
}

static int check_bounds(const sl_node *v, const sl_opt *o, const char *name, double x,
                        sl_error *err) {
    if (!has_bounds(o) || (x >= o->min && x <= o->max)) return 0;
    char range[112];
    bool in;
    fmt_range(o, range, sizeof range, &in);
    size_t len = strlen(v->str);
    return sl_node_error(err, v, "%s must be %s%s, got %.*s%s", name, in ? "in " : "", range,
                         len > 80 ? 80 : (int)len, v->str, len > 80 ? "..." : "");
}

/* ---- values ---- */

/* One value read by its row's rules. */
typedef union {
    int64_t i;
    double d;
    bool b;
    const char *s;
    int e;
} value;

static bool node_typed(sl_opt_type t) {
    return t == SL_OPT_EXPR || t == SL_OPT_LIST || t == SL_OPT_MAP || t == SL_OPT_SEQ ||
           t == SL_OPT_ANY;
}

/* Checks one value against its option row (type, enum, bounds) and reads
 * it into u. `name` is what messages call it. */
static int check_value(const sl_node *v, const sl_opt *o, const char *name, value *u,
                       sl_error *err) {
    int rc;
    switch (o->type) {
    case SL_OPT_STRING:
    case SL_OPT_PATH:
        return sl_node_string(v, name, &u->s, err);
    case SL_OPT_EXPR:
        if (v->kind != SL_NODE_SCALAR)
            return sl_node_error(err, v, "%s must be an expression, got %s", name,
                                 sl_node_kind_name(v->kind));
        return 0;
    case SL_OPT_INT:
        if ((rc = sl_node_int(v, name, &u->i, err))) return rc;
        return check_bounds(v, o, name, (double)u->i, err);
    case SL_OPT_DOUBLE:
        if ((rc = sl_node_double(v, name, &u->d, err))) return rc;
        return check_bounds(v, o, name, u->d, err);
    case SL_OPT_BOOL:
        return sl_node_bool(v, name, &u->b, err);
    case SL_OPT_DURATION:
        if ((rc = sl_node_duration(v, name, &u->i, err))) return rc;
        return check_bounds(v, o, name, (double)u->i, err);
    case SL_OPT_ENUM:
        return check_enum(v, o, name, &u->e, err);
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

/* Stores a bound row's value (v: its node, NULL when absent). */
static void store(void *conf, const sl_opt *o, const sl_node *v, const value *u) {
    char *p = (char *)conf + o->off;
    switch (o->type) {
    case SL_OPT_STRING:
        *(const char **)p = u->s;
        break;
    case SL_OPT_PATH:
        if (u->s)
            sl_spec_path(v, u->s, p, SL_PATH_MAX);
        else
            *p = 0; /* absent, no default: "" */
        break;
    case SL_OPT_INT:
    case SL_OPT_DURATION:
        *(int64_t *)p = u->i;
        break;
    case SL_OPT_DOUBLE:
        *(double *)p = u->d;
        break;
    case SL_OPT_BOOL:
        *(bool *)p = u->b;
        break;
    case SL_OPT_ENUM:
        *(int *)p = u->e;
        break;
    case SL_OPT_EXPR:
    case SL_OPT_LIST:
    case SL_OPT_MAP:
    case SL_OPT_SEQ:
    case SL_OPT_ANY:
        *(const sl_node **)p = v;
        break;
    }
}

void sl_spec_path(const sl_node *n, const char *s, char *out, size_t cap) {
    const char *file = n ? n->file : NULL, *slash = file ? strrchr(file, '/') : NULL;
    if (!s[0] || s[0] == '/' || (n && n->from_cli) || !slash) {
        snprintf(out, cap, "%s", s); /* the file is in the working directory: the same */
        return;
    }
    snprintf(out, cap, "%.*s/%s", (int)(slash - file), file, s);
}

/* Bytes a bound row stores (see sl_spec_bind). */
static size_t storage_size(sl_opt_type t) {
    switch (t) {
    case SL_OPT_STRING:
        return sizeof(const char *);
    case SL_OPT_PATH:
        return SL_PATH_MAX;
    case SL_OPT_INT:
    case SL_OPT_DURATION:
        return sizeof(int64_t);
    case SL_OPT_DOUBLE:
        return sizeof(double);
    case SL_OPT_BOOL:
        return sizeof(bool);
    case SL_OPT_ENUM:
        return sizeof(int);
    default:
        return sizeof(const sl_node *);
    }
}

/* A bound field of the wrong size is a bug in the table, found before a
 * store writes past it. */
static int check_size(const sl_opt *o, const char *what, sl_error *err) {
    if (!o->bind || !o->size || o->size == storage_size(o->type)) return 0;
    return sl_error_set(
        err, SL_EINVAL, "%s%soption '%s': bound to a field of %zu bytes, %s options store %zu",
        PFX(what), o->name, o->size, sl_opt_type_name(o->type), storage_size(o->type));
}

/* A bound row's default: `def` read by the row's own rules, or zero. */
static int read_default(const sl_opt *o, const char *what, value *u, sl_error *err) {
    memset(u, 0, sizeof *u);
    if (o->type == SL_OPT_ENUM) u->e = -1;
    if (!o->def) return 0;
    if (node_typed(o->type))
        return sl_error_set(err, SL_EINVAL,
                            "%s%soption '%s': a %s option has no default text (got '%s')",
                            PFX(what), o->name, sl_opt_type_name(o->type), o->def);
    sl_node d = {.kind = SL_NODE_SCALAR, .str = o->def};
    sl_error e = {0};
    if (check_value(&d, o, o->name, u, &e)) {
        const char *msg = e.msg, *pos = "<input>:0:0: "; /* the text has no position */
        if (!strncmp(msg, pos, strlen(pos))) msg += strlen(pos);
        return sl_error_set(err, SL_EINVAL, "%s%soption '%s': bad default '%s': %s", PFX(what),
                            o->name, o->def, msg);
    }
    return 0;
}

/* The one walk behind sl_spec_check (conf NULL) and sl_spec_bind. */
static int walk(const sl_node *map, const sl_opt *opts, const char *what, void *conf,
                sl_error *err) {
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
        value u;
        int rc = check_value(e->val, o, name, &u, err);
        if (rc) return rc;
        if (conf && o->bind) store(conf, o, e->val, &u);
    }
    for (const sl_opt *o = opts; o && o->name; o++) {
        if (o->required && !sl_node_get(map, o->name))
            return sl_node_error(err, map, "%s%smissing key '%s'", PFX(what), o->name);
    }
    return 0;
}

int sl_spec_check(const sl_node *map, const sl_opt *opts, const char *what, sl_error *err) {
    return walk(map, opts, what, NULL, err);
}

int sl_spec_bind(const sl_node *map, const sl_opt *opts, const char *what, void *conf,
                 sl_error *err) {
    bool required = false;
    for (const sl_opt *o = opts; o && o->name; o++) {
        required |= o->required;
        if (check_size(o, what, err)) return SL_EINVAL;
    }
    if ((map || required) && walk(map, opts, what, conf, err)) return SL_EINVAL;
    for (const sl_opt *o = opts; o && o->name; o++) {
        const sl_node *v = sl_node_get(map, o->name);
        if (o->bind_at) *(const sl_node **)((char *)conf + o->at) = v;
        if (!o->bind || v) continue;
        value u;
        if (read_default(o, what, &u, err)) return SL_EINVAL;
        store(conf, o, NULL, &u);
    }
    return 0;
}

int sl_opt_check_defaults(const sl_opt *opts, const char *what, sl_error *err) {
    for (const sl_opt *o = opts; o && o->name; o++) {
        value u;
        if (check_size(o, what, err) || (o->bind && read_default(o, what, &u, err)))
            return SL_EINVAL;
        if (o->sub) {
            char sub[256];
            snprintf(sub, sizeof sub, "%s%s%s", what ? what : "", what ? " " : "", o->name);
            if (sl_opt_check_defaults(o->sub, sub, err)) return SL_EINVAL;
        }
    }
    return 0;
}

/* ---- help ---- */

static void type_text(const sl_opt *o, char *out, size_t cap) {
    const char *t = o->type == SL_OPT_ENUM && o->values ? o->values : sl_opt_type_name(o->type);
    if (!has_bounds(o)) {
        snprintf(out, cap, "%s", t);
        return;
    }
    char range[112];
    bool in;
    fmt_range(o, range, sizeof range, &in);
    snprintf(out, cap, "%s %s", t, range);
}

/* Name of a row under its parents: "baseline.size", "severity[].level". */
static void row_name(const char *prefix, const sl_opt *o, char *out, size_t cap) {
    snprintf(out, cap, "%s%s", prefix, o->name);
}

static void sub_prefix(const char *prefix, const sl_opt *o, char *out, size_t cap) {
    snprintf(out, cap, "%s%s%s", prefix, o->name, o->type == SL_OPT_SEQ ? "[]." : ".");
}

static void measure(const sl_opt *opts, const char *prefix, int *wname, int *wtype, int depth) {
    char name[256], type[160], sub[256];
    for (const sl_opt *o = opts; o && o->name; o++) {
        row_name(prefix, o, name, sizeof name);
        type_text(o, type, sizeof type);
        if ((int)strlen(name) > *wname) *wname = (int)strlen(name);
        if ((int)strlen(type) > *wtype) *wtype = (int)strlen(type);
        if (o->sub && depth < 8) {
            sub_prefix(prefix, o, sub, sizeof sub);
            measure(o->sub, sub, wname, wtype, depth + 1);
        }
    }
}

static void print_rows(FILE *out, const sl_opt *opts, const char *prefix, int wname, int wtype,
                       int depth) {
    char name[256], type[160], sub[256];
    for (const sl_opt *o = opts; o && o->name; o++) {
        row_name(prefix, o, name, sizeof name);
        type_text(o, type, sizeof type);
        fprintf(out, "  %-*s  %-*s  %s", wname, name, wtype, type, o->help ? o->help : "");
        if (o->required)
            fprintf(out, " (required)");
        else if (o->def)
            fprintf(out, " (default: %s)", o->def[0] ? o->def : "\"\"");
        fputc('\n', out);
        if (o->sub && depth < 8) {
            sub_prefix(prefix, o, sub, sizeof sub);
            print_rows(out, o->sub, sub, wname, wtype, depth + 1);
        }
    }
}

void sl_opt_print_help(FILE *out, const sl_opt *opts) {
    int wname = 4, wtype = 4;
    measure(opts, "", &wname, &wtype, 0);
    if (wtype > 40) wtype = 40;
    print_rows(out, opts, "", wname, wtype, 0);
}
