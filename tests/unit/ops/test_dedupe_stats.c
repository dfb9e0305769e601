/*
 * test_dedupe_stats.c - the dedupe operator's state-size report.
 *
 * The engine copies each operator's stats() JSON into the event log
 * (_sluice_events.details) at every commit; for dedupe it says how many keys
 * are held (`keys`, `peak_keys`), what they cost (`state_bytes`,
 * `bytes_per_key`) and how they came and went (`kept`, `duplicates`,
 * `evicted`, `fifo`). docs/operations.md ("Memory") budgets a pipeline's
 * memory from these numbers, so they are checked here against brute force:
 *   - keys equals the number of distinct keys whose last kept time is within
 *     the horizon of the watermark (events in time order, random
 *     redeliveries, random batch sizes);
 *   - bytes_per_key is state_bytes / keys and sits in the range the data
 *     structures allow; state_bytes matches the heap the operator really
 *     allocates (mallinfo2, when not under ASan, whose allocator it cannot see);
 *   - after a burst is evicted, keys drops to 0 while peak_keys and
 *     state_bytes stay at the burst's level (nothing shrinks);
 *   - stats survive a snapshot + restore;
 *   - the JSON is well formed and short whatever the counts (the engine
 *     leaves 600 bytes per operator).
 */
#include <setjmp.h> /* cmocka.h needs these four first */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <malloc.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/batch.h"
#include "core/error.h"
#include "core/timeutil.h"
#include "ops/op.h"
#include "spec/spec.h"

#define SEC SL_US_PER_SEC
#define T0 (INT64_C(1772359200) * SL_US_PER_SEC) /* 2026-03-01T10:00:00Z */
#define HORIZON_S 10

#if defined(__SANITIZE_ADDRESS__)
#define UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define UNDER_ASAN 1
#endif
#endif
#ifndef UNDER_ASAN
#define UNDER_ASAN 0
#endif
/* mallinfo2 (glibc 2.33+) sees glibc's heap; ASan's allocator is invisible to it */
#if !UNDER_ASAN && defined(__GLIBC__) && (__GLIBC__ > 2 || __GLIBC_MINOR__ >= 33)
#define HAVE_MALLINFO2 1
#else
#define HAVE_MALLINFO2 0
#endif

static uint64_t rng_s = 0x2545F4914F6CDD1Dull;
static uint64_t rnd(void) {
    uint64_t x = rng_s;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return rng_s = x;
}

typedef struct {
    const sl_op_def *def;
    void *self;
    sl_spec *spec;
    sl_schema schema;
} dd_t;

static void quarantine_none(void *engine, const sl_batch *b, uint32_t r, const char *reason) {
    (void)engine, (void)b, (void)r;
    fail_msg("dedupe quarantined a row: %s", reason);
}

static void ctx_init(sl_op_ctx *c) {
    memset(c, 0, sizeof *c);
    c->quarantine = quarantine_none;
    c->max_event_time = INT64_MIN;
    c->watermark = INT64_MIN;
    c->now_us = T0;
}

/* dedupe {key: k, horizon: 10s} over (k int, event_ts ts), made the way the engine makes it */
static void dd_make(dd_t *d, const char *mode) {
    memset(d, 0, sizeof *d);
    sl_schema_init(&d->schema);
    sl_schema_add(&d->schema, "k", SL_T_INT);
    sl_schema_add(&d->schema, "event_ts", SL_T_TS);
    char doc[256];
    snprintf(doc, sizeof doc, "arg: {key: k, horizon: %ds, mode: %s}\n", HORIZON_S, mode);
    sl_error e = {0};
    d->spec = sl_spec_load_mem("test.yaml", doc, strlen(doc), NULL, &e);
    if (!d->spec) fail_msg("spec: %s", e.msg);
    d->def = sl_op_find("dedupe");
    assert_non_null(d->def);
    assert_non_null(d->def->stats);
    sl_op_env env = {"t", NULL, NULL};
    if (d->def->create(sl_node_get(sl_spec_root(d->spec), "arg"), &d->schema, &env, &d->self, &e))
        fail_msg("create: %s", e.msg);
}

static void dd_free(dd_t *d) {
    d->def->destroy(d->self);
    sl_spec_free(d->spec);
}

static void row(sl_batch *b, int64_t k, int64_t t_us) {
    uint32_t r = sl_batch_append_null_row(b);
    b->pos[r] = r;
    b->ingest[r] = T0;
    sl_col_set_int(&b->col[0], r, k);
    sl_col_set_int(&b->col[1], r, t_us);
}

/* The stats JSON, checked for shape, and one number out of it. */
static int stats(dd_t *d, char *buf, size_t cap) {
    int n = sl_op_stats_json(d->def, d->self, buf, cap);
    assert_true(n > 0 && (size_t)n < cap);
    assert_int_equal((size_t)n, strlen(buf));
    assert_true(buf[0] == '{' && buf[n - 1] == '}');
    return n;
}

static double num(dd_t *d, const char *key) {
    char buf[600], pat[64];
    stats(d, buf, sizeof buf);
    snprintf(pat, sizeof pat, "\"%s\":", key);
    const char *p = strstr(buf, pat);
    if (!p) fail_msg("stats lack \"%s\": %s", key, buf);
    char *end;
    double v = strtod(p + strlen(pat), &end);
    assert_true(end != p + strlen(pat));
    assert_true(*end == ',' || *end == '}');
    return v;
}

static void process(dd_t *d, sl_batch *b, sl_op_ctx *ctx) {
    sl_error e = {0};
    assert_int_equal(d->def->process(d->self, b, ctx, &e), 0);
}

/* ---------------------------------------------------------------- tests */

/* Every field is there, a JSON number, and the counts add up. */
static void test_fields(void **state) {
    (void)state;
    dd_t d;
    dd_make(&d, "flag");
    const char *fields[] = {"duplicates", "kept", "evicted",     "keys",
                            "peak_keys",  "fifo", "state_bytes", "bytes_per_key"};
    for (size_t i = 0; i < sizeof fields / sizeof *fields; i++)
        assert_true(num(&d, fields[i]) >= 0);
    assert_true(num(&d, "keys") == 0);
    assert_true(num(&d, "bytes_per_key") == 0); /* no keys: 0, not a division by zero */
    assert_true(num(&d, "state_bytes") > 0);

    sl_batch *b = sl_batch_new(&d.schema, 64);
    sl_op_ctx ctx;
    ctx_init(&ctx);
    for (int i = 0; i < 40; i++)
        row(b, i % 25, T0 + i * SEC / 10); /* 25 keys, 15 redelivered */
    process(&d, b, &ctx);
    assert_true(num(&d, "keys") == 25);
    assert_true(num(&d, "peak_keys") == 25);
    assert_true(num(&d, "kept") == 25);
    assert_true(num(&d, "duplicates") == 15);
    assert_true(num(&d, "fifo") == 25);
    assert_true(num(&d, "evicted") == 0);
    sl_batch_free(b);
    dd_free(&d);
}

/* keys against brute force: events in time order, random keys (many
 * redelivered), a watermark trailing by 2 s, random batch sizes. */
static void test_keys_match_brute_force(void **state) {
    (void)state;
    enum { N = 200000, KEYSPACE = 60000, RATE = 5000 }; /* 40 s of event time, horizon 10 s */
    dd_t d;
    dd_make(&d, "drop");
    sl_batch *b = sl_batch_new(&d.schema, 4096);
    sl_op_ctx ctx;
    ctx_init(&ctx);
    int64_t *t_kept = malloc(KEYSPACE * sizeof *t_kept);
    for (int k = 0; k < KEYSPACE; k++)
        t_kept[k] = INT64_MIN;
    int64_t kept = 0, dups = 0;
    size_t peak = 0;
    int i = 0;
    while (i < N) {
        int n = 1 + (int)(rnd() % 4096);
        if (n > N - i) n = N - i;
        sl_batch_clear(b);
        for (int j = 0; j < n; j++, i++) {
            int64_t t = T0 + (int64_t)i * SEC / RATE;
            int64_t k = (int64_t)(rnd() % KEYSPACE);
            row(b, k, t);
            /* the rule: a duplicate iff within the horizon of the last kept time */
            if (t_kept[k] != INT64_MIN && t - t_kept[k] <= HORIZON_S * SEC) {
                dups++;
            } else {
                t_kept[k] = t;
                kept++;
            }
        }
        int64_t max_t = T0 + (int64_t)(i - 1) * SEC / RATE;
        /* expected keys before eviction (for the peak): every key ever kept that was not evicted
         * before this batch */
        size_t before = 0;
        for (int k = 0; k < KEYSPACE; k++)
            before += t_kept[k] != INT64_MIN &&
                      (ctx.watermark == INT64_MIN || t_kept[k] >= ctx.watermark - HORIZON_S * SEC);
        if (before > peak) peak = before;
        ctx.watermark = max_t - 2 * SEC;
        process(&d, b, &ctx);
        /* in time order eviction is exact: held = kept at or after watermark - horizon */
        size_t want = 0;
        for (int k = 0; k < KEYSPACE; k++)
            want += t_kept[k] != INT64_MIN && t_kept[k] >= ctx.watermark - HORIZON_S * SEC;
        assert_int_equal((size_t)num(&d, "keys"), want);
    }
    assert_int_equal((int64_t)num(&d, "kept"), kept);
    assert_int_equal((int64_t)num(&d, "duplicates"), dups);
    /* a key kept again after its horizon is one key kept twice (its older
     * ring entry is skipped, not counted, when it expires) */
    assert_true(num(&d, "kept") >= num(&d, "keys") + num(&d, "evicted"));
    assert_int_equal((size_t)num(&d, "peak_keys"), peak);
    /* at 5000 events/s, a 12 s reach (horizon + watermark delay) holds at most ~60k keys */
    assert_true(num(&d, "peak_keys") <= 12.5 * RATE);
    free(t_kept);
    sl_batch_free(b);
    dd_free(&d);
}

/* bytes_per_key is state_bytes / keys, inside what the structures allow,
 * and state_bytes is what the heap really grew by. */
static void test_bytes_per_key(void **state) {
    (void)state;
    enum { N = 300000 };
    sl_schema bs;
    sl_schema_init(&bs);
    sl_schema_add(&bs, "k", SL_T_INT);
    sl_schema_add(&bs, "event_ts", SL_T_TS);
    sl_batch *b = sl_batch_new(&bs, 4096); /* before the heap is measured */
#if HAVE_MALLINFO2
    struct mallinfo2 m0 = mallinfo2();
#endif
    dd_t d;
    dd_make(&d, "drop");
    sl_op_ctx ctx;
    ctx_init(&ctx);
    for (int i = 0; i < N;) {
        sl_batch_clear(b);
        for (int j = 0; j < 4096 && i < N; j++, i++)
            row(b, i, T0 + i); /* all distinct, all within the horizon */
        process(&d, b, &ctx);
    }
    double keys = num(&d, "keys"), sb = num(&d, "state_bytes"), bpk = num(&d, "bytes_per_key");
    assert_true(keys == N);
    assert_true(fabs(bpk - sb / keys) < 0.1);
    /* 16-byte slots at load 0.70..0.85, plus the dirty bitmap and the batch
     * scratch: the <= 24 bytes per key the table is sized for */
    assert_true(bpk >= 16 / 0.85 - 0.1);
    assert_true(bpk <= 24);
    printf("dedupe: %d keys, state_bytes %.0f, bytes_per_key %.1f\n", N, sb, bpk);
#if HAVE_MALLINFO2
    struct mallinfo2 m2 = mallinfo2();
    double heap = (double)(m2.uordblks + m2.hblkhd) - (double)(m0.uordblks + m0.hblkhd);
    printf("dedupe: heap grew %.0f bytes (spec, op and state), stats say %.0f\n", heap, sb);
    /* the report covers the heap the operator holds, to within the spec
     * document and allocator headers (a few KB) */
    assert_true(heap >= sb * 0.98 && heap <= sb * 1.02 + 65536);
#endif
    sl_batch_free(b);
    dd_free(&d);
}

/* A burst of keys, then the watermark moves on: keys drop to 0, peak_keys
 * and state_bytes keep the burst's level (the table and ring do not shrink). */
static void test_burst_then_evict(void **state) {
    (void)state;
    dd_t d;
    dd_make(&d, "drop");
    sl_batch *b = sl_batch_new(&d.schema, 4096);
    sl_op_ctx ctx;
    ctx_init(&ctx);
    for (int i = 0; i < 50000;) {
        sl_batch_clear(b);
        for (int j = 0; j < 4096 && i < 50000; j++, i++)
            row(b, i, T0 + i * 100);
        process(&d, b, &ctx);
    }
    double sb = num(&d, "state_bytes");
    assert_true(num(&d, "keys") == 50000 && num(&d, "peak_keys") == 50000);
    ctx.watermark = T0 + 3600 * SEC;
    sl_batch_clear(b);
    process(&d, b, &ctx); /* an empty batch still evicts */
    assert_true(num(&d, "keys") == 0);
    assert_true(num(&d, "evicted") == 50000);
    assert_true(num(&d, "fifo") == 0);
    assert_true(num(&d, "peak_keys") == 50000);
    assert_true(num(&d, "state_bytes") == sb);
    assert_true(num(&d, "bytes_per_key") == 0);
    sl_batch_free(b);
    dd_free(&d);
}

/* A restored operator reports the same state as the one snapshotted. */
static void test_restore(void **state) {
    (void)state;
    dd_t d, r;
    dd_make(&d, "flag");
    dd_make(&r, "flag");
    sl_batch *b = sl_batch_new(&d.schema, 4096);
    sl_op_ctx ctx;
    ctx_init(&ctx);
    for (int i = 0; i < 4096; i++)
        row(b, (int64_t)(rnd() % 3000), T0 + i * 1000);
    process(&d, b, &ctx);
    sl_buf buf = {0};
    assert_int_equal(d.def->snapshot(d.self, &buf, true), 0);
    sl_error e = {0};
    assert_int_equal(r.def->restore(r.self, buf.p, buf.n, true, &e), 0);
    const char *same[] = {"keys", "kept", "duplicates", "fifo"};
    for (size_t i = 0; i < 4; i++)
        assert_true(num(&d, same[i]) == num(&r, same[i]));
    assert_true(num(&r, "peak_keys") == num(&r, "keys"));
    assert_true(num(&r, "bytes_per_key") > 0);
    sl_buf_free(&buf);
    sl_batch_free(b);
    dd_free(&d);
    dd_free(&r);
}

/* Extreme counts (a restored snapshot can carry any int64) still give a
 * short, complete object; a small buffer is truncated safely and the return
 * value says how much room was needed, like snprintf. */
static void test_length_bound(void **state) {
    (void)state;
    dd_t d;
    dd_make(&d, "drop");
    sl_buf buf = {0};
    sl_buf_put_i64(&buf, INT64_MIN); /* duplicates */
    sl_buf_put_i64(&buf, INT64_MIN); /* kept */
    sl_buf_put_i64(&buf, 0);         /* no keys */
    sl_error e = {0};
    assert_int_equal(d.def->restore(d.self, buf.p, buf.n, true, &e), 0);
    char out[600];
    int n = stats(&d, out, sizeof out);
    assert_true(n < 300);
    char small[16];
    memset(small, 'x', sizeof small);
    int got = sl_op_stats_json(d.def, d.self, small, sizeof small); /* truncated, still a string */
    assert_int_equal(got, (int)strlen(small));
    assert_true(got < (int)sizeof small);
    sl_buf_free(&buf);
    dd_free(&d);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fields),        cmocka_unit_test(test_keys_match_brute_force),
        cmocka_unit_test(test_bytes_per_key), cmocka_unit_test(test_burst_then_evict),
        cmocka_unit_test(test_restore),       cmocka_unit_test(test_length_bound),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
