/*
 * analytics_gen.c - deterministic NDJSON input for the analytics accuracy test.
 *
 *   analytics_gen --out DIR [--events N] [--seed S] [--hours H] [--keys K]
 *
 * Writes DIR/part-NNN.ndjson (100,000 lines per file), one JSON object per
 * line with the fields in this fixed order:
 *   {"ts":EPOCH_MS,"key":"kNN","value":DOUBLE|null,"score":INT,"user":INT}
 * and prints a summary line on stdout. The same seed always gives the same
 * bytes (splitmix64, no libc random, numbers printed with %.17g so they
 * parse back to the same doubles).
 *
 * The data is meant to be hard for sketches and baselines:
 *  - keys are Zipf-distributed (s = 1.2 over K keys): the hot key gets about
 *    a third of the events, the tail keys a few per hour, so both the
 *    exact (small) and register (large) modes of the HyperLogLog are used;
 *  - values are heavy-tailed and skewed, per key one of: lognormal
 *    (sigma 1.5), Pareto (alpha 1.3, infinite variance), a lognormal with
 *    5% negatives, or a mix with exact zeros; 0.5% of values are null;
 *  - score is an integer in 0..19, so max_by/min_by meet many ties;
 *  - user ids are uniform in 1..30000 (distinct counts up to thousands);
 *  - event times rise through H hours from 2026-01-01T00:00:00Z, each
 *    jittered back by up to 20 s (out of order, never late for a 2 min
 *    watermark delay);
 *  - planted outliers: in about 5% of (key, 5-minute window) pairs of the
 *    five hottest keys the event rate is multiplied by 6 and the values by
 *    50 (a burst the z-score and MAD rules should flag).
 */
#include <inttypes.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define T0_MS INT64_C(1767225600000) /* 2026-01-01T00:00:00Z */
#define WIN_MS INT64_C(300000)
#define PER_FILE 100000

static uint64_t st;
static uint64_t next(void) {
    uint64_t z = (st += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}
static double unif(void) { return ((double)(next() >> 11) + 0.5) * 0x1.0p-53; }
static double normal(void) { return sqrt(-2 * log(unif())) * cos(2 * M_PI * unif()); }

static void usage(void) {
    fprintf(stderr,
            "usage: analytics_gen --out DIR [--events N] [--seed S] [--hours H] [--keys K]\n");
    exit(2);
}

int main(int argc, char **argv) {
    const char *out = NULL;
    long long events = 300000, seed = 1, hours = 6, nkeys = 40;
    for (int i = 1; i < argc; i++) {
        if (i + 1 >= argc) usage();
        if (!strcmp(argv[i], "--out"))
            out = argv[++i];
        else if (!strcmp(argv[i], "--events"))
            events = atoll(argv[++i]);
        else if (!strcmp(argv[i], "--seed"))
            seed = atoll(argv[++i]);
        else if (!strcmp(argv[i], "--hours"))
            hours = atoll(argv[++i]);
        else if (!strcmp(argv[i], "--keys"))
            nkeys = atoll(argv[++i]);
        else
            usage();
    }
    if (!out || events < 1 || hours < 1 || nkeys < 1 || nkeys > 99) usage();
    mkdir(out, 0755);
    st = (uint64_t)seed * 0x2545F4914F6CDD1Dull + 7;

    /* Zipf CDF over keys */
    double *cdf = malloc((size_t)nkeys * sizeof *cdf), sum = 0;
    for (long long k = 0; k < nkeys; k++)
        sum += 1.0 / pow((double)(k + 1), 1.2), cdf[k] = sum;
    for (long long k = 0; k < nkeys; k++)
        cdf[k] /= sum;
    /* planted bursts: (key, window) pairs, decided up front */
    int64_t nwin = hours * 3600000 / WIN_MS;
    unsigned char *burst = calloc((size_t)(nwin * nkeys), 1);
    int nburst = 0;
    for (int64_t w = 12; w < nwin; w++) /* after an hour of baseline */
        for (long long k = 0; k < 5 && k < nkeys; k++)
            if (unif() < 0.05) burst[w * nkeys + k] = 1, nburst++;

    int64_t span = hours * 3600000;
    double step = (double)span / (double)events;
    FILE *f = NULL;
    long long written = 0, file_no = 0, nulls = 0;
    char path[4096];
    for (long long i = 0; i < events; i++) {
        int64_t base = T0_MS + (int64_t)((double)i * step);
        double u = unif();
        long long k = 0;
        while (k < nkeys - 1 && cdf[k] < u)
            k++;
        int64_t w = (base - T0_MS) / WIN_MS;
        int reps = burst[w * nkeys + k] ? 6 : 1;
        for (int r = 0; r < reps; r++) {
            if (written % PER_FILE == 0) {
                if (f) fclose(f);
                snprintf(path, sizeof path, "%s/part-%03lld.ndjson", out, file_no++);
                f = fopen(path, "w");
                if (!f) {
                    perror(path);
                    return 1;
                }
            }
            int64_t ts = base - (int64_t)(unif() * 20000);
            if (ts < T0_MS + w * WIN_MS && r > 0)
                ts = T0_MS + w * WIN_MS; /* keep bursts in their window */
            double v;
            switch (k % 4) {
            case 0:
                v = exp(3 + 0.05 * (double)k + 1.5 * normal());
                break;
            case 1:
                v = 10.0 / pow(unif(), 1.0 / 1.3);
                break;
            case 2:
                v = (unif() < 0.05 ? -1 : 1) * exp(1 + normal());
                break;
            default:
                v = unif() < 0.1 ? 0.0 : exp(5 + 0.8 * normal());
                break;
            }
            if (reps > 1) v *= 50;
            int score = (int)(next() % 20);
            long long user = 1 + (long long)(next() % 30000);
            if (unif() < 0.005) {
                nulls++;
                fprintf(f,
                        "{\"ts\":%" PRId64
                        ",\"key\":\"k%02lld\",\"value\":null,\"score\":%d,\"user\":%lld}\n",
                        ts, k, score, user);
            } else {
                fprintf(f,
                        "{\"ts\":%" PRId64
                        ",\"key\":\"k%02lld\",\"value\":%.17g,\"score\":%d,\"user\":%lld}\n",
                        ts, k, v, score, user);
            }
            written++;
        }
    }
    if (f) fclose(f);
    printf("analytics_gen: %lld lines in %lld files, %d planted bursts, %lld null values\n",
           written, file_no, nburst, nulls);
    free(cdf);
    free(burst);
    return 0;
}
