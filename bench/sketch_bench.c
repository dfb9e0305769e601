/*
 * sketch_bench.c - cost of the streaming sketches: ns per added value,
 * ns per query/merge, and bytes per sketch.
 *
 * Standalone, built by hand from the repository root:
 *   cc -O2 -g -std=c11 -D_GNU_SOURCE -Isrc bench/sketch_bench.c \
 *      $(ls src/sketch/[a-z]*.c) src/core/hash.c src/core/error.c \
 *      -lxxhash -lm -o /tmp/sketch_bench
 *   /tmp/sketch_bench [n]          (n values per run, default 10000000)
 *
 * Inputs are generated before the clock starts (lognormal latencies for
 * the quantile and moment sketches, pre-computed XXH3 hashes for the HLL),
 * so the numbers are the sketch's own cost; each figure is the best of 3.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "core/hash.h"
#include "sketch/ddsketch.h"
#include "sketch/ewma.h"
#include "sketch/hll.h"
#include "sketch/welford.h"

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static uint64_t rs = 12345;
static double unif(void) {
    uint64_t z = (rs += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    return ((double)(z >> 11) + 0.5) * 0x1.0p-53;
}
static double lognormal(double mu, double sigma) {
    return exp(mu + sigma * sqrt(-2 * log(unif())) * cos(2 * M_PI * unif()));
}

static volatile double sink;

int main(int argc, char **argv) {
    size_t n = argc > 1 ? (size_t)atoll(argv[1]) : 10000000;
    double *v = malloc(n * sizeof *v);
    uint64_t *h = malloc(n * sizeof *h);
    for (size_t i = 0; i < n; i++) {
        v[i] = lognormal(log(0.05), 1.0);
        h[i] = sl_hash_int((int64_t)i, 42);
    }
    printf("sketch bench, %zu values per run, best of 3\n", n);
    printf("%-44s %10s %12s\n", "operation", "ns/op", "bytes");

    double best = 1e30;
    size_t bytes = 0;
    for (int r = 0; r < 3; r++) {
        sl_ddsketch *s = sl_ddsketch_new(0.01);
        double t0 = now();
        for (size_t i = 0; i < n; i++)
            sl_ddsketch_add(s, v[i]);
        double t = now() - t0;
        if (t < best) best = t;
        bytes = sl_ddsketch_bytes(s);
        sink = sl_ddsketch_quantile(s, 0.99);
        sl_ddsketch_free(s);
    }
    printf("%-44s %10.2f %12zu\n", "ddsketch_add (1%, lognormal sigma=1)", best * 1e9 / (double)n,
           bytes);

    /* queries and merges on a 5-minute-sized sketch */
    sl_ddsketch *a = sl_ddsketch_new(0.01), *b = sl_ddsketch_new(0.01);
    for (size_t i = 0; i < n && i < 1000000; i++)
        sl_ddsketch_add(i & 1 ? a : b, v[i]);
    int iters = 20000;
    best = 1e30;
    for (int r = 0; r < 3; r++) {
        double t0 = now();
        for (int i = 0; i < iters; i++)
            sink = sl_ddsketch_quantile(a, 0.99);
        double t = now() - t0;
        if (t < best) best = t;
    }
    printf("%-44s %10.1f\n", "ddsketch_quantile(0.99)", best * 1e9 / iters);
    best = 1e30;
    for (int r = 0; r < 3; r++) {
        const double qs[] = {0.5, 0.95, 0.99};
        double out[3];
        double t0 = now();
        for (int i = 0; i < iters; i++)
            sl_ddsketch_quantiles(a, qs, 3, out);
        double t = now() - t0;
        sink = out[2];
        if (t < best) best = t;
    }
    printf("%-44s %10.1f\n", "ddsketch_quantiles(p50,p95,p99)", best * 1e9 / iters);
    best = 1e30;
    for (int r = 0; r < 3; r++) {
        sl_ddsketch *m = sl_ddsketch_new(0.01);
        double t0 = now();
        for (int i = 0; i < iters / 10; i++)
            sl_ddsketch_merge(m, i & 1 ? a : b);
        double t = now() - t0;
        if (t < best) best = t;
        sl_ddsketch_free(m);
    }
    printf("%-44s %10.1f\n", "ddsketch_merge (500k-value sketches)", best * 1e9 / (iters / 10));
    void *buf;
    size_t len;
    best = 1e30;
    for (int r = 0; r < 3; r++) {
        double t0 = now();
        for (int i = 0; i < iters / 10; i++) {
            sl_ddsketch_serialize(a, &buf, &len);
            sl_ddsketch *t2 = sl_ddsketch_deserialize(buf, len, NULL);
            sl_ddsketch_free(t2);
            free(buf);
        }
        double t = now() - t0;
        if (t < best) best = t;
    }
    sl_ddsketch_serialize(a, &buf, &len);
    free(buf);
    printf("%-44s %10.1f %12zu\n", "ddsketch serialize+deserialize", best * 1e9 / (iters / 10),
           len);
    sl_ddsketch_free(a);
    sl_ddsketch_free(b);

    best = 1e30;
    for (int r = 0; r < 3; r++) {
        sl_hll *x = sl_hll_new(14);
        double t0 = now();
        for (size_t i = 0; i < n; i++)
            sl_hll_add_hash(x, h[i]);
        double t = now() - t0;
        if (t < best) best = t;
        bytes = sl_hll_bytes(x);
        sink = (double)sl_hll_estimate(x);
        sl_hll_free(x);
    }
    printf("%-44s %10.2f %12zu\n", "hll_add_hash (p=14, all distinct)", best * 1e9 / (double)n,
           bytes);
    best = 1e30;
    for (int r = 0; r < 3; r++) {
        sl_hll *x = sl_hll_new(14);
        double t0 = now();
        for (size_t i = 0; i < n; i++)
            sl_hll_add_hash(x, h[i % 1000]);
        double t = now() - t0;
        if (t < best) best = t;
        bytes = sl_hll_bytes(x);
        sl_hll_free(x);
    }
    printf("%-44s %10.2f %12zu\n", "hll_add_hash (exact mode, 1000 distinct)",
           best * 1e9 / (double)n, bytes);
    best = 1e30;
    for (int r = 0; r < 3; r++) {
        sl_hll *x = sl_hll_new(14);
        double t0 = now();
        for (size_t i = 0; i < n; i++)
            sl_hll_add_hash(x, sl_hash_int((int64_t)i, 42));
        double t = now() - t0;
        if (t < best) best = t;
        sl_hll_free(x);
    }
    printf("%-44s %10.2f\n", "sl_hash_int + hll_add_hash", best * 1e9 / (double)n);
    {
        sl_hll *x = sl_hll_new(14);
        for (size_t i = 0; i < 100000; i++)
            sl_hll_add_hash(x, h[i]);
        best = 1e30;
        for (int r = 0; r < 3; r++) {
            double t0 = now();
            for (int i = 0; i < 2000; i++)
                sink = (double)sl_hll_estimate(x);
            double t = now() - t0;
            if (t < best) best = t;
        }
        sl_hll_serialize(x, &buf, &len);
        free(buf);
        printf("%-44s %10.1f %12zu\n", "hll_estimate (p=14) / serialised size", best * 1e9 / 2000,
               len);
        sl_hll_free(x);
    }

    best = 1e30;
    for (int r = 0; r < 3; r++) {
        sl_welford w = {0};
        double t0 = now();
        for (size_t i = 0; i < n; i++)
            sl_welford_add(&w, v[i]);
        double t = now() - t0;
        if (t < best) best = t;
        sink = sl_welford_variance(&w);
    }
    printf("%-44s %10.2f %12zu\n", "welford_add", best * 1e9 / (double)n, sizeof(sl_welford));
    best = 1e30;
    for (int r = 0; r < 3; r++) {
        sl_ewma e;
        sl_ewma_init(&e, 0.05);
        double t0 = now();
        for (size_t i = 0; i < n; i++)
            sl_ewma_update(&e, v[i]);
        double t = now() - t0;
        if (t < best) best = t;
        sink = e.value;
    }
    printf("%-44s %10.2f %12zu\n", "ewma_update", best * 1e9 / (double)n, sizeof(sl_ewma));
    free(v);
    free(h);
    return 0;
}
