/*
 * evolve.c - schema inference and evolution of json and csv sources
 * (Auto Loader's schema inference and addNewColumns).
 *
 * The idea: a schema change is handled exactly like a restart. The source's
 * schema lives in the pipeline's database (kv `schema:<source>`, JSON in
 * column order), written in the same transaction as the outputs it shaped.
 *
 *  - First run: the schema is inferred from a sample of the files present
 *    (formats/infer.h) plus schema_hints, and stored with the first commit
 *    (with a 'schema' event). Later runs compile the source with the stored
 *    schema, so a restart never infers again.
 *  - Mid-stream, the parser stops just before the first record that holds a
 *    field the schema lacks (json: a root key; csv: a header column), or a
 *    value an int column can only hold as a double (on_type_conflict:
 *    widen). The engine commits everything before that record together with
 *    the new schema and a 'schema' event, then rebuilds the pipeline in
 *    process (free, compile with the stored schema, recover from the commit
 *    just made). Reading resumes at that record, which now parses into the
 *    new column. Tables get the column after their existing input columns;
 *    SQLite tables are altered by sl_store_table, lake rows carry the key.
 *    Rows before the change have NULL there.
 *
 * Because the change is found from the input alone, a crash anywhere around
 * it replays to the same decision: the exactness of restarts carries over.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/mem.h"
#include "core/log.h"
#include "engine/internal.h"
#include "formats/infer.h"
#include "formats/json.h"

#define SCHEMA_JSON_MAX 16384

typedef struct {
    source *s;
    sl_infer *in;
} sampling;

static bool sample_file(void *ud, const char *buf, size_t len) {
    sampling *u = ud;
    source *s = u->s;
    int64_t left = s->infer_sample - sl_infer_records(u->in);
    if (!strcmp(s->format, "csv"))
        sl_infer_csv(u->in, buf, len, s->delim, s->header, (const char *const *)s->columns,
                     s->ncolumns, left);
    else
        sl_infer_json(u->in, buf, len, left);
    return sl_infer_records(u->in) < s->infer_sample;
}

int sl_evolve_infer_files(source *s, sl_schema *out, sl_error *err) {
    sampling u = {s, sl_infer_new()};
    int rc = s->def->sample(s->self, sample_file, &u, err);
    s->inferred_from = sl_infer_records(u.in);
    if (!rc) rc = sl_infer_schema(u.in, &s->declared, out, err);
    sl_infer_free(u.in);
    return rc;
}

static bool schema_eq(const sl_schema *a, const sl_schema *b) {
    if (a->n != b->n) return false;
    for (int i = 0; i < a->n; i++)
        if (a->f[i].type != b->f[i].type || strcmp(a->f[i].name, b->f[i].name)) return false;
    return true;
}

static void set_resolved(sl_pipeline *p, const char *name, const sl_schema *sc) {
    int i = 0;
    while (i < p->nresolved && strcmp(p->resolved[i].name, name))
        i++;
    if (i == p->nresolved) {
        if (p->nresolved == SL_MAX_SOURCES) return;
        p->nresolved++;
        snprintf(p->resolved[i].name, SL_NAME_MAX, "%s", name);
    }
    p->resolved[i].schema = *sc;
}

int sl_evolve_stored(sl_pipeline *p, sl_store *store, bool *reload, sl_error *err) {
    char *j = sl_xmalloc(SCHEMA_JSON_MAX);
    if (!j) return sl_error_set(err, SL_ENOMEM, "out of memory");
    char key[SL_NAME_MAX + 16];
    *reload = false;
    int rc = 0;
    for (int i = 0; i < p->nsrc; i++) {
        source *s = &p->src[i];
        if (!s->infer && s->evolve == EVOLVE_NONE && !s->widen) continue;
        snprintf(key, sizeof key, "schema:%s", s->name);
        if (sl_store_get_kv(store, key, j, SCHEMA_JSON_MAX)) continue;
        sl_schema stored;
        if ((rc = sl_schema_from_json(j, &stored, err))) {
            rc = sl_error_set(err, SL_ECORRUPT, "source '%s': %s", s->name, err->msg);
            goto out;
        }
        /* fields declared (schema or hints) since the schema was stored are added */
        for (int k = 0; k < s->declared.n; k++)
            if (sl_schema_find(&stored, s->declared.f[k].name) < 0)
                sl_schema_add(&stored, s->declared.f[k].name, s->declared.f[k].type);
        if (!schema_eq(&stored, &s->schema)) {
            set_resolved(p, s->name, &stored);
            *reload = true;
        }
    }
out:
    free(j);
    return rc;
}

void sl_evolve_persist(sl_pipeline *p, sl_store *store) {
    char *j = sl_xmalloc(SCHEMA_JSON_MAX);
    char key[SL_NAME_MAX + 16];
    for (int i = 0; j && i < p->nsrc; i++) {
        source *s = &p->src[i];
        if (!s->infer && s->evolve == EVOLVE_NONE && !s->widen) continue;
        snprintf(key, sizeof key, "schema:%s", s->name);
        char probe[8];
        if (sl_store_get_kv(store, key, probe, sizeof probe) == 0)
            continue; /* stored (maybe truncated probe) */
        sl_schema_to_json(&s->schema, j, SCHEMA_JSON_MAX);
        free(s->pending_kv);
        free(s->pending_event);
        s->pending_kv = sl_xstrdup(j);
        size_t cap = strlen(j) + 256 + SL_NAME_MAX;
        s->pending_event = sl_xmalloc(cap);
        if (s->infer)
            snprintf(s->pending_event, cap,
                     "{\"source\":\"%s\",\"inferred\":%s,\"sample_records\":%lld}", s->name, j,
                     (long long)s->inferred_from);
        else
            snprintf(s->pending_event, cap, "{\"source\":\"%s\",\"declared\":%s}", s->name, j);
        sl_log_info("schema", "\"source\":\"%s\",\"schema\":%s", s->name, j);
    }
    free(j);
}

void sl_evolve_take_change(source *s, const sl_schema_change *ch, const char *rest, size_t len,
                           bool part_start) {
    s->change = *ch;
    s->next_schema = s->schema;
    for (int i = 0; i < ch->nwidened; i++)
        s->next_schema.f[ch->widened[i]].type = ch->widened_to[i];
    if (ch->nadded) {
        sl_infer *in = sl_infer_new();
        if (!strcmp(s->format, "csv")) {
            const char *nl = memrchr(rest, '\n', len);
            if (part_start && nl)
                sl_infer_csv(in, rest, (size_t)(nl - rest) + 1, s->delim, true, NULL, 0,
                             s->infer_sample);
        } else {
            sl_infer_json(in, rest, len, s->infer_sample);
        }
        for (int i = 0; i < ch->nadded; i++) {
            sl_field *f = &s->change.added[i];
            int h = sl_schema_find(&s->declared, f->name);
            int t = h >= 0 ? (int)s->declared.f[h].type : sl_infer_type(in, f->name);
            if (t >= 0) f->type = (sl_type)t;
            sl_schema_add(&s->next_schema, f->name, f->type);
        }
        sl_infer_free(in);
    }
    s->change_pending = true;
}

void sl_evolve_prepare(sl_pipeline *p, source *s, const char *part_name) {
    char *j = sl_xmalloc(SCHEMA_JSON_MAX);
    sl_schema_to_json(&s->next_schema, j, SCHEMA_JSON_MAX);
    size_t cap = strlen(j) * 2 + 1024 + PATH_MAX;
    char *ev = sl_xmalloc(cap);
    int n = snprintf(ev, cap, "{\"source\":\"%s\"", s->name);
    if (s->change.nadded) {
        n += snprintf(ev + n, cap - (size_t)n, ",\"added\":{");
        for (int i = 0; i < s->change.nadded; i++)
            n += snprintf(ev + n, cap - (size_t)n, "%s\"%s\":\"%s\"", i ? "," : "",
                          s->change.added[i].name, sl_type_name(s->change.added[i].type));
        n += snprintf(ev + n, cap - (size_t)n, "}");
    }
    if (s->change.nwidened) {
        n += snprintf(ev + n, cap - (size_t)n, ",\"widened\":{");
        for (int i = 0; i < s->change.nwidened; i++)
            n += snprintf(ev + n, cap - (size_t)n, "%s\"%s\":\"%s\"", i ? "," : "",
                          s->schema.f[s->change.widened[i]].name,
                          sl_type_name(s->change.widened_to[i]));
        n += snprintf(ev + n, cap - (size_t)n, "}");
    }
    char esc[PATH_MAX * 2];
    const char *pn = part_name ? part_name : "";
    sl_json_escape(esc, sizeof esc, pn, (int)strlen(pn));
    snprintf(ev + n, cap - (size_t)n,
             ",\"at\":{\"partition\":\"%s\",\"position\":%lld},\"schema\":%s}", esc,
             (long long)s->change_pos, j);
    free(s->pending_kv);
    free(s->pending_event);
    s->pending_kv = j;
    s->pending_event = ev;
    set_resolved(p, s->name, &s->next_schema);
    sl_log_info("schema changed", "\"source\":\"%s\",\"details\":%s", s->name, ev);
}
