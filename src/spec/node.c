/*
 * node.c - reading values out of the spec tree.
 *
 * Every reader turns one scalar into one C value or says, at the node's
 * file:line:col, what was expected and what it found. Readers are strict
 * (the whole text must be the value: "10s" is not an int, "1e3x" is not a
 * number) because a pipeline file that loads with a silently truncated
 * option is worse than one that is refused. Quoted scalars are accepted
 * too: '8080' is a fine port; the quotes matter to the engine only where a
 * string and a number would mean different things.
 */
#include "spec/spec.h"
#include "core/mem.h"
#include <stdio.h>

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/timeutil.h"

int sl_node_error(sl_error *err, const sl_node *n, const char *fmt, ...) {
    char msg[SL_ERROR_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (!n) return sl_error_set(err, SL_EINVAL, "%s", msg);
    return sl_error_at(err, SL_EINVAL, n->file, n->line, n->col, "%s", msg);
}

const char *sl_node_kind_name(sl_node_kind k) {
    switch (k) {
    case SL_NODE_MAP:
        return "a map";
    case SL_NODE_SEQ:
        return "a sequence";
    default:
        return "a scalar";
    }
}

const sl_map_entry *sl_node_entry(const sl_node *map, const char *key) {
    if (!map || map->kind != SL_NODE_MAP || !key) return NULL;
    for (int i = 0; i < map->n; i++)
        if (!strcmp(map->map[i].key, key)) return &map->map[i];
    return NULL;
}

const sl_node *sl_node_get(const sl_node *map, const char *key) {
    const sl_map_entry *e = sl_node_entry(map, key);
    return e ? e->val : NULL;
}

bool sl_node_is_null(const sl_node *n) {
    if (!n || n->kind != SL_NODE_SCALAR || n->quoted) return false;
    const char *s = n->str;
    return !s[0] || !strcmp(s, "~") || !strcmp(s, "null") || !strcmp(s, "Null") ||
           !strcmp(s, "NULL");
}

int sl_node_list_len(const sl_node *n) {
    if (!n) return 0;
    if (n->kind == SL_NODE_SCALAR) return 1;
    return n->kind == SL_NODE_SEQ ? n->n : 0;
}

const sl_node *sl_node_list_at(const sl_node *n, int i) {
    if (!n || i < 0) return NULL;
    if (n->kind == SL_NODE_SCALAR) return i == 0 ? n : NULL;
    if (n->kind == SL_NODE_SEQ && i < n->n) return n->seq[i];
    return NULL;
}

/* "<what> must be <type>, got 'text'" / "..., got a map". */
static int wrong(const sl_node *n, const char *what, const char *type, sl_error *err) {
    if (!what) what = "value";
    if (!n) return sl_node_error(err, NULL, "%s must be %s, got nothing", what, type);
    if (n->kind != SL_NODE_SCALAR)
        return sl_node_error(err, n, "%s must be %s, got %s", what, type,
                             sl_node_kind_name(n->kind));
    size_t len = strlen(n->str);
    return sl_node_error(err, n, "%s must be %s, got '%.*s%s'", what, type,
                         len > 80 ? 80 : (int)len, n->str, len > 80 ? "..." : "");
}

int sl_node_string(const sl_node *n, const char *what, const char **out, sl_error *err) {
    if (!n || n->kind != SL_NODE_SCALAR) return wrong(n, what, "a string", err);
    *out = n->str;
    return 0;
}

int sl_node_int(const sl_node *n, const char *what, int64_t *out, sl_error *err) {
    static const char type[] = "an integer";
    if (!n || n->kind != SL_NODE_SCALAR) return wrong(n, what, type, err);
    const char *s = n->str;
    const char *d = s + (*s == '+' || *s == '-');
    if (!isdigit((unsigned char)*d)) return wrong(n, what, type, err);
    for (const char *p = d; *p; p++)
        if (!isdigit((unsigned char)*p)) return wrong(n, what, type, err);
    errno = 0;
    long long v = strtoll(s, NULL, 10);
    if (errno == ERANGE)
        return sl_node_error(err, n, "%s is out of range, got '%s'", what ? what : "value", s);
    *out = (int64_t)v;
    return 0;
}

/* [+-] (digits [. digits*] | . digits) [(e|E) [+-] digits] */
static bool decimal_syntax(const char *s) {
    const char *p = s + (*s == '+' || *s == '-');
    size_t ip = 0, fp = 0;
    while (isdigit((unsigned char)*p))
        p++, ip++;
    if (*p == '.') {
        p++;
        while (isdigit((unsigned char)*p))
            p++, fp++;
    }
    if (ip + fp == 0) return false;
    if (*p == 'e' || *p == 'E') {
        p++;
        if (*p == '+' || *p == '-') p++;
        if (!isdigit((unsigned char)*p)) return false;
        while (isdigit((unsigned char)*p))
            p++;
    }
    return *p == 0;
}

int sl_node_double(const sl_node *n, const char *what, double *out, sl_error *err) {
    static const char type[] = "a number";
    if (!n || n->kind != SL_NODE_SCALAR || !decimal_syntax(n->str))
        return wrong(n, what, type, err);
    double v = strtod(n->str, NULL);
    if (!isfinite(v))
        return sl_node_error(err, n, "%s is out of range, got '%s'", what ? what : "value", n->str);
    *out = v;
    return 0;
}

int sl_node_bool(const sl_node *n, const char *what, bool *out, sl_error *err) {
    static const char type[] = "a boolean (true/false, yes/no, on/off)";
    if (!n || n->kind != SL_NODE_SCALAR) return wrong(n, what, type, err);
    static const char *const yes[] = {"true", "yes", "on"}, *const no[] = {"false", "no", "off"};
    for (int i = 0; i < 3; i++) {
        if (!strcasecmp(n->str, yes[i])) return *out = true, 0;
        if (!strcasecmp(n->str, no[i])) return *out = false, 0;
    }
    return wrong(n, what, type, err);
}

/* sl_duration_parse adds up int64 products without an overflow check; this
 * walks the same grammar first and refuses any total above ~292 000 years,
 * so no input can make it overflow. */
static bool duration_fits(const char *s) {
    const long double max = 9.0e18L;
    long double total = 0;
    const char *p = s;
    while (*p) {
        if (!isdigit((unsigned char)*p)) return true; /* a syntax error: let the parser say so */
        long double v = 0;
        while (isdigit((unsigned char)*p)) {
            v = v * 10 + (*p++ - '0');
            if (v > max) return false;
        }
        long double unit = 1e6L;
        if (!strncmp(p, "ms", 2))
            unit = 1e3L, p += 2;
        else if (!strncmp(p, "us", 2))
            unit = 1, p += 2;
        else if (*p == 's')
            p++;
        else if (*p == 'm')
            unit = 60e6L, p++;
        else if (*p == 'h')
            unit = 3600e6L, p++;
        else if (*p == 'd')
            unit = 86400e6L, p++;
        total += v * unit;
        if (total > max) return false;
        if (*p && !isdigit((unsigned char)*p)) return true;
    }
    return true;
}

int sl_node_duration(const sl_node *n, const char *what, int64_t *us, sl_error *err) {
    static const char type[] = "a duration (like 250ms, 30s, 5m, 1h30m, 1d)";
    if (!n || n->kind != SL_NODE_SCALAR) return wrong(n, what, type, err);
    if (!duration_fits(n->str))
        return sl_node_error(err, n, "%s is out of range, got '%.80s'", what ? what : "value",
                             n->str);
    int64_t v;
    if (sl_duration_parse(n->str, &v)) return wrong(n, what, type, err);
    *us = v;
    return 0;
}

int sl_node_kv_list(const sl_node *n, const char *what, char ***out, int *count, sl_error *err) {
    *out = NULL;
    *count = 0;
    if (!n) return 0;
    if (n->kind != SL_NODE_MAP)
        return sl_node_error(err, n, "%s: expected a map of settings", what);
    *out = sl_xcalloc((size_t)n->n + 1, sizeof **out);
    for (int i = 0; i < n->n; i++) {
        const sl_node *v = n->map[i].val;
        if (v->kind != SL_NODE_SCALAR)
            return sl_node_error(err, v, "%s '%s': expected a value", what, n->map[i].key);
        size_t l = strlen(n->map[i].key) + strlen(v->str ? v->str : "") + 2;
        (*out)[i] = sl_xmalloc(l);
        snprintf((*out)[i], l, "%s=%s", n->map[i].key, v->str ? v->str : "");
        (*count)++;
    }
    return 0;
}

void sl_kv_list_free(char **list, int count) {
    for (int i = 0; list && i < count; i++)
        free(list[i]);
    free(list);
}

int sl_node_str_list(const sl_node *n, const char *what, char ***out, int *count, sl_error *err) {
    *out = NULL;
    *count = 0;
    if (!n) return 0;
    if (n->kind == SL_NODE_SCALAR) {
        const char *str = n->str ? n->str : "";
        *out = sl_xcalloc(strlen(str) + 2, sizeof **out);
        for (const char *q = str;;) {
            size_t l = strcspn(q, ",");
            const char *a = q, *b = q + l;
            while (a < b && *a == ' ')
                a++;
            while (b > a && b[-1] == ' ')
                b--;
            if (b > a) (*out)[(*count)++] = sl_xstrndup(a, (size_t)(b - a));
            if (!q[l]) break;
            q += l + 1;
        }
        return 0;
    }
    if (n->kind != SL_NODE_SEQ) return sl_node_error(err, n, "%s: expected a list", what);
    *out = sl_xcalloc((size_t)n->n + 1, sizeof **out);
    for (int i = 0; i < n->n; i++) {
        const sl_node *e = n->seq[i];
        if (e->kind != SL_NODE_SCALAR) return sl_node_error(err, e, "%s: expected a string", what);
        (*out)[(*count)++] = sl_xstrdup(e->str ? e->str : "");
    }
    return 0;
}
