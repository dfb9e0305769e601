/*
 * load.c - YAML text -> a tree of sl_node, each knowing its file:line:col.
 *
 * The idea: libyaml's event API hands us the document as a flat stream
 * (scalar, mapping-start, ..., mapping-end) with a position on every event.
 * We build the tree without recursion: a stack of open containers, and one
 * scratch array on which the children of every open container are pushed in
 * order (a map pushes key, value, key, value...). When a container ends, its
 * children are popped off the scratch array and copied into the spec's arena
 * as one exact-size array. So every node and string lives in one arena and
 * sl_spec_free is a single release, and nesting depth costs no C stack (the
 * depth limit exists for the engine's walkers, not for us).
 *
 * Scalars get ${name} / ${name:default} substituted as they arrive, so a
 * missing variable is reported at the scalar that uses it, in file order.
 * Duplicate keys are caught when the second one arrives: by a linear scan
 * while a map is small, by a hash of the keys once it grows (a generated
 * file with thousands of keys must not cost a quadratic time).
 */
#include "spec/spec.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "core/arena.h"
#include "core/hash.h"

struct sl_spec {
    sl_arena *arena;
    const char *name;
    sl_node *root;
};

/* A map switches from a linear duplicate scan to a hash of its keys here. */
#define DUP_LINEAR_MAX 16
/* ${a:${b:${c}}} nesting allowed in defaults. */
#define VAR_MAX_NEST 8
#define VAR_NAME_MAX 255

typedef struct frame {
    sl_node *node;
    size_t base;   /* index in items of its first child */
    sl_hmap *keys; /* key hash -> pair index, once the map has grown */
} frame;

typedef struct loader {
    sl_spec *spec;
    const char *file;
    const char *buf;
    size_t len;
    const sl_vars *vars;
    sl_error *err;
    frame stack[SL_SPEC_MAX_DEPTH];
    int depth;
    sl_node **items; /* children of the open containers, in order */
    size_t nitems, capitems;
    char *sb; /* substitution output */
    size_t sblen, sbcap;
    bool lead_cli; /* the scalar being expanded starts with a --set/environment value */
} loader;

static int at(loader *L, const yaml_mark_t *m, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int at(loader *L, const yaml_mark_t *m, const char *fmt, ...) {
    char msg[SL_ERROR_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return sl_error_at(L->err, SL_EINVAL, L->file, (int)m->line + 1, (int)m->column + 1, "%s", msg);
}

static sl_node *node_new(loader *L, sl_node_kind kind, const yaml_mark_t *m) {
    sl_node *n = sl_arena_alloc(L->spec->arena, sizeof *n);
    memset(n, 0, sizeof *n);
    n->kind = kind;
    n->file = L->spec->name;
    n->line = (int)m->line + 1;
    n->col = (int)m->column + 1;
    return n;
}

/* ---- ${...} substitution ---- */

static int sb_put(loader *L, const char *s, size_t n) {
    if (L->sblen + n + 1 > L->sbcap) {
        size_t cap = L->sbcap ? L->sbcap : 256;
        while (cap < L->sblen + n + 1)
            cap *= 2;
        char *nb = realloc(L->sb, cap);
        if (!nb) return sl_error_set(L->err, SL_ENOMEM, "out of memory");
        L->sb = nb;
        L->sbcap = cap;
    }
    memcpy(L->sb + L->sblen, s, n);
    L->sblen += n;
    return 0;
}

static bool is_name_start(char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_';
}
static bool is_name_char(char c) { return is_name_start(c) || (c >= '0' && c <= '9'); }

/* Shows a piece of the scalar in a message, cut at 60 bytes. */
#define SHOW(s, n) (int)((n) > 60 ? 60 : (n)), (s), ((n) > 60 ? "..." : "")

/* The key of the map value being loaded ("" in a list or at the top). */
static const char *current_key(const loader *L) {
    if (L->depth == 0) return "";
    const frame *f = &L->stack[L->depth - 1];
    if (f->node->kind != SL_NODE_MAP || (L->nitems - f->base) % 2 == 0) return "";
    return L->items[L->nitems - 1]->str ? L->items[L->nitems - 1]->str : "";
}

/* Appends the expansion of s[0, n) to L->sb. `nest` counts defaults within
 * defaults. Errors point at the scalar `pos`. */
static int expand(loader *L, const char *s, size_t n, const yaml_mark_t *pos, int nest) {
    size_t i = 0, lit = 0; /* s[lit, i) is literal text not yet copied */
    while (i < n) {
        if (s[i] != '$') {
            i++;
            continue;
        }
        if (i + 2 < n && s[i + 1] == '$' && s[i + 2] == '{') { /* "$${" -> "${" */
            int rc = sb_put(L, s + lit, i - lit);
            if (rc) return rc;
            if ((rc = sb_put(L, "${", 2))) return rc;
            i += 3;
            lit = i;
            continue;
        }
        if (i + 1 >= n || s[i + 1] != '{') {
            i++;
            continue;
        }
        /* A reference: ${name} or ${name:default}. */
        int rc = sb_put(L, s + lit, i - lit);
        if (rc) return rc;
        size_t ref = i, j = i + 2, name0 = j;
        while (j < n && is_name_char(s[j]))
            j++;
        size_t namelen = j - name0;
        if (j >= n) return at(L, pos, "unterminated '${' in '%.*s%s'", SHOW(s + ref, n - ref));
        if (namelen == 0 || !is_name_start(s[name0]) || (s[j] != '}' && s[j] != ':')) {
            size_t end = j;
            while (end < n && s[end] != '}')
                end++;
            if (end < n) end++;
            return at(L, pos,
                      "bad variable reference '%.*s%s' (a name is letters, digits and '_', "
                      "not starting with a digit)",
                      SHOW(s + ref, end - ref));
        }
        if (namelen > VAR_NAME_MAX) return at(L, pos, "variable name is too long");
        char name[VAR_NAME_MAX + 1];
        memcpy(name, s + name0, namelen);
        name[namelen] = 0;
        size_t def0 = 0, defn = 0;
        bool has_def = false;
        if (s[j] == ':') { /* the default runs to the matching '}' */
            has_def = true;
            def0 = ++j;
            int depth = 0;
            while (j < n) {
                if (s[j] == '$' && j + 2 < n && s[j + 1] == '$' && s[j + 2] == '{') {
                    j += 3;
                    continue;
                }
                if (s[j] == '$' && j + 1 < n && s[j + 1] == '{') {
                    depth++;
                    j += 2;
                    continue;
                }
                if (s[j] == '}') {
                    if (depth == 0) break;
                    depth--;
                }
                j++;
            }
            if (j >= n) return at(L, pos, "unterminated '${' in '%.*s%s'", SHOW(s + ref, n - ref));
            defn = j - def0;
        }
        /* s[j] == '}' */
        const char *val = sl_vars_get(L->vars, name), *from = "--set";
        if (!val) val = getenv(name), from = "environment";
        size_t start = L->sblen;
        if (val) {
            if ((rc = sb_put(L, val, strlen(val)))) return rc;
        } else if (has_def) {
            if (nest >= VAR_MAX_NEST)
                return at(L, pos, "variable defaults are nested more than %d deep", VAR_MAX_NEST);
            if ((rc = expand(L, s + def0, defn, pos, nest + 1))) return rc;
            from = "default";
        } else if (sl_vars_use_hook(L->vars, &(void *){0})) {
            from = "unset"; /* listing the variables: go on */
        } else {
            return at(L, pos, "variable '%s' is not set", name);
        }
        if (start == 0 && val) L->lead_cli = true; /* from --set or the environment */
        void *ud;
        sl_var_use_fn on_use = sl_vars_use_hook(L->vars, &ud);
        if (on_use)
            on_use(ud, L->file, (int)pos->line + 1, (int)pos->column + 1, current_key(L), name,
                   has_def ? s + def0 : NULL, defn, L->sb + start, L->sblen - start, from);
        i = j + 1;
        lit = i;
    }
    return sb_put(L, s + lit, n - lit);
}

/* ---- building the tree ---- */

static int items_push(loader *L, sl_node *n) {
    if (L->nitems == L->capitems) {
        size_t cap = L->capitems * 2;
        sl_node **ni = realloc(L->items, cap * sizeof *ni);
        if (!ni) return sl_error_set(L->err, SL_ENOMEM, "out of memory");
        L->items = ni;
        L->capitems = cap;
    }
    L->items[L->nitems++] = n;
    return 0;
}

static bool top_wants_key(const loader *L) {
    if (L->depth == 0) return false;
    const frame *f = &L->stack[L->depth - 1];
    return f->node->kind == SL_NODE_MAP && (L->nitems - f->base) % 2 == 0;
}

static uint64_t key_hash(const char *k) { return sl_hash_bytes(k, strlen(k), 0x5eed); }

/* The earlier key equal to `key` in the open map f, or NULL. */
static const sl_node *find_dup(loader *L, frame *f, const char *key) {
    sl_node **kv = L->items + f->base;
    size_t npairs = (L->nitems - f->base) / 2;
    if (npairs >= DUP_LINEAR_MAX) {
        if (!f->keys) {
            f->keys = sl_hmap_new(64);
            for (size_t k = 0; k < npairs; k++)
                sl_hmap_put(f->keys, key_hash(kv[2 * k]->str), (int64_t)k, NULL);
        }
        int64_t *slot;
        if (sl_hmap_put(f->keys, key_hash(key), (int64_t)npairs, &slot)) return NULL;
        if (!strcmp(kv[2 * *slot]->str, key)) return kv[2 * *slot];
        /* Two different keys share a 64-bit hash: settle it by scanning. */
    }
    for (size_t k = 0; k < npairs; k++)
        if (!strcmp(kv[2 * k]->str, key)) return kv[2 * k];
    return NULL;
}

/* Hands a finished node to its parent (or makes it the root). */
static int attach(loader *L, sl_node *n) {
    if (L->depth == 0) {
        L->spec->root = n;
        return 0;
    }
    return items_push(L, n);
}

static int check_props(loader *L, const yaml_event_t *ev, const yaml_char_t *anchor,
                       const yaml_char_t *tag, bool *is_str) {
    if (anchor)
        return at(L, &ev->start_mark, "anchors (&%s) and aliases are not supported",
                  (const char *)anchor);
    if (tag) {
        static const char std[] = "tag:yaml.org,2002:";
        if (strncmp((const char *)tag, std, sizeof std - 1))
            return at(L, &ev->start_mark, "tag '%s' is not supported", (const char *)tag);
        if (is_str && !strcmp((const char *)tag + sizeof std - 1, "str")) *is_str = true;
    }
    return 0;
}

static int on_scalar(loader *L, const yaml_event_t *ev) {
    const char *v = (const char *)ev->data.scalar.value;
    size_t len = ev->data.scalar.length;
    bool is_str = false;
    int rc = check_props(L, ev, ev->data.scalar.anchor, ev->data.scalar.tag, &is_str);
    if (rc) return rc;
    if (memchr(v, 0, len))
        return at(L, &ev->start_mark, "a NUL character in a value is not allowed");
    sl_node *n = node_new(L, SL_NODE_SCALAR, &ev->start_mark);
    n->quoted = is_str || ev->data.scalar.style == YAML_SINGLE_QUOTED_SCALAR_STYLE ||
                ev->data.scalar.style == YAML_DOUBLE_QUOTED_SCALAR_STYLE;
    if (top_wants_key(L)) { /* keys are taken literally */
        n->str = sl_arena_strdup(L->spec->arena, v, len);
        frame *f = &L->stack[L->depth - 1];
        const sl_node *dup = find_dup(L, f, n->str);
        if (dup)
            return at(L, &ev->start_mark, "duplicate key '%s' (first at line %d, column %d)",
                      n->str, dup->line, dup->col);
    } else if (!memchr(v, '$', len)) {
        n->str = sl_arena_strdup(L->spec->arena, v, len);
    } else {
        L->sblen = 0;
        L->lead_cli = false;
        if ((rc = expand(L, v, len, &ev->start_mark, 0))) return rc;
        n->from_cli = L->lead_cli;
        if (memchr(L->sb, 0, L->sblen))
            return at(L, &ev->start_mark, "a NUL character in a value is not allowed");
        n->str = sl_arena_strdup(L->spec->arena, L->sb, L->sblen);
    }
    return attach(L, n);
}

static int on_start(loader *L, const yaml_event_t *ev, sl_node_kind kind) {
    int rc =
        kind == SL_NODE_MAP
            ? check_props(L, ev, ev->data.mapping_start.anchor, ev->data.mapping_start.tag, NULL)
            : check_props(L, ev, ev->data.sequence_start.anchor, ev->data.sequence_start.tag, NULL);
    if (rc) return rc;
    if (top_wants_key(L))
        return at(L, &ev->start_mark, "a map key must be a plain value, not %s",
                  sl_node_kind_name(kind));
    if (L->depth == SL_SPEC_MAX_DEPTH)
        return at(L, &ev->start_mark, "nesting is deeper than %d levels", SL_SPEC_MAX_DEPTH);
    frame *f = &L->stack[L->depth++];
    f->node = node_new(L, kind, &ev->start_mark);
    f->base = L->nitems;
    f->keys = NULL;
    return 0;
}

static int on_end(loader *L) {
    if (L->depth <= 0) return sl_error_set(L->err, SL_EINVAL, "unbalanced YAML events");
    frame *f = &L->stack[--L->depth];
    sl_node *n = f->node;
    size_t cnt = L->nitems - f->base;
    sl_node **kids = L->items + f->base;
    if (f->keys) {
        sl_hmap_free(f->keys);
        f->keys = NULL;
    }
    if (n->kind == SL_NODE_MAP) {
        if (cnt % 2) return sl_error_set(L->err, SL_EINVAL, "unbalanced YAML map");
        n->n = (int)(cnt / 2);
        n->map = sl_arena_alloc(L->spec->arena, (cnt / 2) * sizeof *n->map);
        for (size_t k = 0; k < cnt / 2; k++) {
            n->map[k].key = kids[2 * k]->str;
            n->map[k].line = kids[2 * k]->line;
            n->map[k].col = kids[2 * k]->col;
            n->map[k].val = kids[2 * k + 1];
        }
    } else {
        n->n = (int)cnt;
        n->seq = sl_arena_alloc(L->spec->arena, cnt * sizeof *n->seq);
        if (cnt) memcpy(n->seq, kids, cnt * sizeof *n->seq);
    }
    L->nitems = f->base;
    return attach(L, n);
}

/* libyaml's error, placed at its position. */
static int yaml_failure(loader *L, const yaml_parser_t *p) {
    if (p->error == YAML_MEMORY_ERROR) return sl_error_set(L->err, SL_ENOMEM, "out of memory");
    const char *problem = p->problem ? p->problem : "invalid YAML";
    if (p->error == YAML_READER_ERROR) {
        /* Reader errors carry a byte offset, not a mark: count it out. */
        size_t off = p->problem_offset < L->len ? p->problem_offset : L->len;
        int line = 1, col = 1;
        for (size_t i = 0; i < off; i++) {
            unsigned char c = (unsigned char)L->buf[i];
            if (c == '\n')
                line++, col = 1;
            else if ((c & 0xC0) != 0x80)
                col++;
        }
        if (p->problem_value >= 0)
            return sl_error_at(L->err, SL_EINVAL, L->file, line, col, "%s (byte 0x%02x)", problem,
                               (unsigned)p->problem_value & 0xffu);
        return sl_error_at(L->err, SL_EINVAL, L->file, line, col, "%s", problem);
    }
    if (p->context)
        return at(L, &p->problem_mark, "%s (%s at line %d, column %d)", problem, p->context,
                  (int)p->context_mark.line + 1, (int)p->context_mark.column + 1);
    return at(L, &p->problem_mark, "%s", problem);
}

static void spec_release(sl_spec *s) {
    if (!s) return;
    sl_arena_free(s->arena);
    free(s);
}

sl_spec *sl_spec_load_mem(const char *name, const char *buf, size_t len, const sl_vars *vars,
                          sl_error *err) {
    if (!name) name = "<input>";
    if (!buf && len) {
        sl_error_set(err, SL_EINVAL, "%s: no input", name);
        return NULL;
    }
    sl_spec *s = calloc(1, sizeof *s);
    if (!s) {
        sl_error_set(err, SL_ENOMEM, "out of memory");
        return NULL;
    }
    s->arena = sl_arena_new(16 * 1024);
    s->name = sl_arena_strdup(s->arena, name, strlen(name));

    loader L;
    memset(&L, 0, sizeof L);
    L.spec = s;
    L.file = s->name;
    L.buf = buf ? buf : "";
    L.len = len;
    L.vars = vars;
    L.err = err;
    L.capitems = 64; /* never NULL, so items + base is always defined */
    L.items = malloc(L.capitems * sizeof *L.items);
    if (!L.items) {
        sl_error_set(err, SL_ENOMEM, "out of memory");
        spec_release(s);
        return NULL;
    }

    yaml_parser_t p;
    if (!yaml_parser_initialize(&p)) {
        sl_error_set(err, SL_ENOMEM, "out of memory");
        free(L.items);
        spec_release(s);
        return NULL;
    }
    yaml_parser_set_input_string(&p, (const unsigned char *)L.buf, len);

    int rc = 0, docs = 0;
    bool done = false;
    while (!done && !rc) {
        yaml_event_t ev;
        if (!yaml_parser_parse(&p, &ev)) {
            rc = yaml_failure(&L, &p);
            break;
        }
        switch (ev.type) {
        case YAML_DOCUMENT_START_EVENT:
            if (++docs > 1)
                rc = at(&L, &ev.start_mark, "only one YAML document per file is allowed");
            break;
        case YAML_STREAM_END_EVENT:
            done = true;
            break;
        case YAML_ALIAS_EVENT:
            rc = at(&L, &ev.start_mark, "aliases (*%s) and anchors are not supported",
                    (const char *)ev.data.alias.anchor);
            break;
        case YAML_SCALAR_EVENT:
            rc = on_scalar(&L, &ev);
            break;
        case YAML_MAPPING_START_EVENT:
            rc = on_start(&L, &ev, SL_NODE_MAP);
            break;
        case YAML_SEQUENCE_START_EVENT:
            rc = on_start(&L, &ev, SL_NODE_SEQ);
            break;
        case YAML_MAPPING_END_EVENT:
        case YAML_SEQUENCE_END_EVENT:
            rc = on_end(&L);
            break;
        default:
            break;
        }
        yaml_event_delete(&ev);
    }
    yaml_parser_delete(&p);
    for (int d = 0; d < L.depth; d++)
        sl_hmap_free(L.stack[d].keys);
    free(L.items);
    free(L.sb);
    if (rc) {
        spec_release(s);
        return NULL;
    }
    /* Nothing but comments (or a bare "---"): an empty map at the top. */
    const sl_node *r = s->root;
    if (!r || (r->kind == SL_NODE_SCALAR && !r->quoted && !r->str[0])) {
        yaml_mark_t m = {0, 0, 0};
        s->root = node_new(&L, SL_NODE_MAP, &m);
    }
    return s;
}

sl_spec *sl_spec_load(const char *path, const sl_vars *vars, sl_error *err) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        sl_error_set(err, SL_EIO, "%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    char *buf = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (len == cap) {
            cap = cap ? cap * 2 : 64 * 1024;
            char *nb = realloc(buf, cap);
            if (!nb) {
                free(buf);
                fclose(f);
                sl_error_set(err, SL_ENOMEM, "%s: out of memory", path);
                return NULL;
            }
            buf = nb;
        }
        size_t got = fread(buf + len, 1, cap - len, f);
        len += got;
        if (got == 0) break;
    }
    int failed = ferror(f);
    int saved = errno;
    fclose(f);
    if (failed) {
        free(buf);
        sl_error_set(err, SL_EIO, "%s: cannot read: %s", path, strerror(saved));
        return NULL;
    }
    sl_spec *s = sl_spec_load_mem(path, buf, len, vars, err);
    free(buf);
    return s;
}

const sl_node *sl_spec_root(const sl_spec *s) { return s ? s->root : NULL; }

const char *sl_spec_name(const sl_spec *s) { return s ? s->name : NULL; }

void sl_spec_free(sl_spec *s) { spec_release(s); }
