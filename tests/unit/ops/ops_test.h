/*
 * ops_test.h - helpers shared by the operator unit tests (test_expect.c,
 * test_derive.c, test_filter.c, test_watermark.c, test_dedupe.c,
 * test_lookup.c, test_window.c, test_registry.c).
 *
 * Every operator is built the way the engine builds it: a YAML step argument
 * loaded with sl_spec_load_mem, sl_op_find(name)->create(...), batches of the
 * schema that create produced, and an sl_op_ctx whose quarantine callback
 * records the rows it receives (by their b->pos, used as a record id).
 *
 * Everything here is static inline (or a static object) so that each test
 * program that includes it compiles on its own without unused warnings.
 */
#ifndef SL_TEST_OPS_TEST_H
#define SL_TEST_OPS_TEST_H

#include <setjmp.h> /* cmocka.h needs these four first */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <ftw.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/batch.h"
#include "core/error.h"
#include "core/log.h"
#include "core/timeutil.h"
#include "ops/op.h"
#include "spec/spec.h"

#define SEC SL_US_PER_SEC
/* 2026-03-01T10:00:00Z */
#define T0 (INT64_C(1772359200) * SL_US_PER_SEC)

/* ------------------------------------------------------------------ helpers */

static uint64_t rng_s __attribute__((unused)) = 0x9E3779B97F4A7C15ull;
static inline uint64_t rnd(void) {
    uint64_t x = rng_s;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return rng_s = x;
}
static inline int64_t rnd_range(int64_t lo, int64_t hi) { /* inclusive */
    return lo + (int64_t)(rnd() % (uint64_t)(hi - lo + 1));
}

/* Quarantine recorder: the pos (record id) and reason of each row sent. */
#define QMAX 200000
typedef struct {
    int n;
    int64_t pos[QMAX];
    char reason[64][256];
} qrec;
static qrec Q __attribute__((unused));

static inline void q_cb(void *engine, const sl_batch *b, uint32_t r, const char *reason) {
    qrec *q = engine;
    if (q->n < 64) snprintf(q->reason[q->n], sizeof q->reason[0], "%s", reason);
    if (q->n < QMAX) q->pos[q->n] = b->pos[r];
    q->n++;
}

static inline void ctx_init(sl_op_ctx *c) {
    memset(c, 0, sizeof *c);
    Q.n = 0;
    c->engine = &Q;
    c->quarantine = q_cb;
    c->max_event_time = INT64_MIN;
    c->watermark = INT64_MIN;
    c->now_us = T0;
}

typedef struct {
    const sl_op_def *def;
    void *self;
    sl_spec *spec;
} op_t;

/* Creates operator `name` from the YAML text of its step argument. Returns create's rc. */
static inline int op_make(op_t *o, const char *name, const char *yaml_arg, sl_schema *schema,
                          const char *base_dir, sl_error *err) {
    char doc[8192];
    snprintf(doc, sizeof doc, "arg: %s\n", yaml_arg);
    memset(o, 0, sizeof *o);
    sl_error e = {0};
    o->spec = sl_spec_load_mem("test.yaml", doc, strlen(doc), NULL, &e);
    if (!o->spec) fail_msg("spec did not load: %s", e.msg);
    const sl_node *arg = sl_node_get(sl_spec_root(o->spec), "arg");
    assert_non_null(arg);
    o->def = sl_op_find(name);
    assert_non_null(o->def);
    sl_op_env env = {"t", base_dir, NULL};
    int rc = o->def->create(arg, schema, &env, &o->self, err);
    if (rc) {
        sl_spec_free(o->spec);
        o->spec = NULL;
        o->self = NULL;
    }
    return rc;
}

static inline void op_ok(op_t *o, const char *name, const char *yaml_arg, sl_schema *schema,
                         const char *base_dir) {
    sl_error err = {0};
    int rc = op_make(o, name, yaml_arg, schema, base_dir, &err);
    if (rc) fail_msg("create %s failed: %s", name, err.msg);
}

static inline void op_free(op_t *o) {
    if (o->self) o->def->destroy(o->self);
    if (o->spec) sl_spec_free(o->spec);
    memset(o, 0, sizeof *o);
}

/* Value of "key": in a stats JSON object (as a double), or NAN. */
static inline double stat_num(op_t *o, const char *key) {
    char buf[1024], pat[128];
    assert_non_null(o->def->stats);
    sl_op_stats_json(o->def, o->self, buf, sizeof buf);
    snprintf(pat, sizeof pat, "\"%s\":", key);
    const char *p = strstr(buf, pat);
    if (!p) return NAN;
    return strtod(p + strlen(pat), NULL);
}

static inline uint32_t add_row(sl_batch *b, int64_t id) {
    uint32_t r = sl_batch_append_null_row(b);
    b->pos[r] = id;
    b->ingest[r] = T0;
    return r;
}

static inline bool has_pos(const sl_batch *b, int64_t id) {
    for (uint32_t i = 0; i < b->n; i++)
        if (b->pos[i] == id) return true;
    return false;
}

static inline bool q_has(int64_t id) {
    for (int i = 0; i < Q.n && i < QMAX; i++)
        if (Q.pos[i] == id) return true;
    return false;
}

static inline int rm_cb(const char *p, const struct stat *st, int flag, struct FTW *f) {
    (void)st, (void)flag, (void)f;
    return remove(p);
}
static inline void rm_rf(const char *p) { nftw(p, rm_cb, 16, FTW_DEPTH | FTW_PHYS); }

static inline void write_file(const char *path, const char *text) {
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

#endif
