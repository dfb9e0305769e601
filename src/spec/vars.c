/*
 * vars.c - the --set variables of a pipeline file.
 *
 * A handful of name=value pairs given on the command line, looked up a few
 * times per load: a small array searched linearly is the right structure.
 * Setting a name again replaces its value, so the last --set wins, as users
 * of shells and make expect. Names follow the rule ${...} references obey
 * ([A-Za-z_][A-Za-z0-9_]*), so every variable that can be set can be used.
 */
#include "spec/spec.h"

#include <stdlib.h>
#include <string.h>

typedef struct var {
    char *name, *value;
} var;

struct sl_vars {
    var *v;
    int n, cap;
    sl_var_use_fn on_use;
    void *on_use_ud;
};

void sl_vars_on_use(sl_vars *v, sl_var_use_fn fn, void *ud) {
    v->on_use = fn;
    v->on_use_ud = ud;
}

sl_var_use_fn sl_vars_use_hook(const sl_vars *v, void **ud) {
    if (!v) return NULL;
    *ud = v->on_use_ud;
    return v->on_use;
}

sl_vars *sl_vars_new(void) { return calloc(1, sizeof(sl_vars)); }

void sl_vars_copy(sl_vars *dst, const sl_vars *src) {
    for (int i = 0; src && i < src->n; i++) {
        size_t nl = strlen(src->v[i].name), vl = strlen(src->v[i].value);
        char *kv = malloc(nl + vl + 2);
        if (!kv) return;
        memcpy(kv, src->v[i].name, nl);
        kv[nl] = '=';
        memcpy(kv + nl + 1, src->v[i].value, vl + 1);
        sl_vars_set(dst, kv);
        free(kv);
    }
}

void sl_vars_free(sl_vars *v) {
    if (!v) return;
    for (int i = 0; i < v->n; i++) {
        free(v->v[i].name);
        free(v->v[i].value);
    }
    free(v->v);
    free(v);
}

static bool name_ok(const char *s, size_t n) {
    if (n == 0) return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        bool alpha = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_';
        bool digit = c >= '0' && c <= '9';
        if (!alpha && !(digit && i > 0)) return false;
    }
    return true;
}

int sl_vars_set(sl_vars *v, const char *name_eq_value) {
    if (!v || !name_eq_value) return SL_EINVAL;
    const char *eq = strchr(name_eq_value, '=');
    if (!eq) return SL_EINVAL;
    size_t nlen = (size_t)(eq - name_eq_value);
    if (!name_ok(name_eq_value, nlen)) return SL_EINVAL;
    char *value = strdup(eq + 1);
    if (!value) return SL_ENOMEM;
    for (int i = 0; i < v->n; i++) {
        if (strlen(v->v[i].name) == nlen && !memcmp(v->v[i].name, name_eq_value, nlen)) {
            free(v->v[i].value);
            v->v[i].value = value;
            return 0;
        }
    }
    if (v->n == v->cap) {
        int cap = v->cap ? v->cap * 2 : 8;
        var *nv = realloc(v->v, (size_t)cap * sizeof *nv);
        if (!nv) {
            free(value);
            return SL_ENOMEM;
        }
        v->v = nv;
        v->cap = cap;
    }
    char *name = strndup(name_eq_value, nlen);
    if (!name) {
        free(value);
        return SL_ENOMEM;
    }
    v->v[v->n].name = name;
    v->v[v->n].value = value;
    v->n++;
    return 0;
}

const char *sl_vars_get(const sl_vars *v, const char *name) {
    if (!v || !name) return NULL;
    for (int i = 0; i < v->n; i++)
        if (!strcmp(v->v[i].name, name)) return v->v[i].value;
    return NULL;
}
