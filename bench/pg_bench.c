/*
 * pg_bench.c - rows per second through the postgresql sink into a server.
 *
 *   pg_bench URL [--rows N] [--interval R] [--upsert]
 *
 * Writes N rows (default 2,000,000) shaped like cameras' silver table (5
 * ints, a string, a timestamp, the audit columns) in 4096-row batches, and
 * commits every R rows (default 200,000: about one commit interval at the
 * engine's speed) the way the engine does: the sink's prepare (one
 * PostgreSQL transaction with COPY) inside an open SQLite transaction of an
 * in-memory checkpoint. --upsert writes window-style rows (upserts by
 * _group, a key space of R/2 so half the rows replace earlier ones).
 * Building the batches is not timed. Prints rows/s and MB of COPY text/s.
 * The table is dropped first. Built by CMake (target pg_bench); run by
 * bench/pg.sh against a throw-away local cluster.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/batch.h"
#include "core/timeutil.h"
#include "sinks/sink.h"
#include "store/store.h"

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: pg_bench URL [--rows N] [--interval R] [--upsert]\n");
        return 2;
    }
    const char *url = argv[1];
    long long rows = 2000000, interval = 200000;
    int upsert = 0;
    for (int i = 2; i < argc; i++) {
        if (!strcmp(argv[i], "--rows") && i + 1 < argc)
            rows = atoll(argv[++i]);
        else if (!strcmp(argv[i], "--interval") && i + 1 < argc)
            interval = atoll(argv[++i]);
        else if (!strcmp(argv[i], "--upsert"))
            upsert = 1;
    }
    sl_schema s;
    sl_schema_init(&s);
    const char *ints[] = {"detection_oid", "video_camera_oid", "geographical_location_oid",
                          "detections", upsert ? "_group" : "distinct_cameras"};
    for (int i = 0; i < 5; i++)
        sl_schema_add(&s, ints[i], SL_T_INT);
    sl_schema_add(&s, "geographical_location", SL_T_STRING);
    sl_schema_add(&s, upsert ? "window_start" : "timestamp_detected", SL_T_TS);
    const uint32_t cap = 4096;
    sl_batch *b = sl_batch_new(&s, cap);
    static const char *const places[] = {"Lisbon-Downtown", "Porto-Ribeira", "Athens-Plaka",
                                         "Paris-Marais"};
    const char *parts[] = {"detections-000001.ndjson"};
    sl_error err = {0};
    sl_store *st = sl_store_open(":memory:", false, &err);
    if (!st || sl_store_begin(st, &err)) {
        fprintf(stderr, "pg_bench: %s\n", err.msg);
        return 1;
    }
    char table[64];
    snprintf(table, sizeof table, "pg_bench_%s", upsert ? "upsert" : "append");
    /* a fresh table each run: the previous run's rows would change the figure */
    char drop[512];
    snprintf(drop, sizeof drop, "psql -X -q \"%s\" -c 'DROP TABLE IF EXISTS %s' 2>/dev/null", url,
             table);
    if (system(drop) != 0) fprintf(stderr, "pg_bench: could not drop %s (continuing)\n", table);
    const sl_sink_def *def = sl_sink_find("postgresql");
    sl_sink_env env = {.table = table,
                       .layer = "gold",
                       .schema = &s,
                       .upsert = upsert,
                       .batch_cap = cap,
                       .pipeline = "pg_bench",
                       .store_url = url,
                       .data_dir = "/tmp",
                       .store = st};
    void *self = NULL;
    if (def->create(NULL, &env, &self, &err) || def->open(self, &env, &err)) {
        fprintf(stderr, "pg_bench: %s\n", err.msg);
        return 1;
    }
    double timed = 0, t_prepare = 0;
    long long done = 0, since = 0;
    int64_t t0 = 1767225600000000LL;
    while (done < rows) {
        sl_batch_clear(b);
        uint32_t n = rows - done < cap ? (uint32_t)(rows - done) : cap;
        for (uint32_t r = 0; r < n; r++) {
            long long id = done + r;
            uint32_t i = sl_batch_append_null_row(b);
            sl_col_set_int(&b->col[0], i, id);
            sl_col_set_int(&b->col[1], i, id % 997);
            sl_col_set_int(&b->col[2], i, id % 4);
            sl_col_set_int(&b->col[3], i, id % 100);
            sl_col_set_int(&b->col[4], i, upsert ? id % (interval / 2 + 1) : id % 13);
            const char *pl = places[id % 4];
            sl_col_set_str(&b->col[5], i, pl, (uint32_t)strlen(pl));
            sl_col_set_int(&b->col[6], i, t0 + (id / 1000) * 60000000LL);
            b->part[i] = 0;
            b->pos[i] = id * 120;
            b->ingest[i] = t0;
        }
        double a = now_s();
        if (def->write(self, b, parts, &err)) break;
        done += n;
        since += n;
        if (since >= interval || done == rows) {
            double c = now_s();
            if (def->prepare(self, st, &err)) break;
            t_prepare += now_s() - c;
            since = 0;
        }
        timed += now_s() - a;
    }
    if (err.msg[0]) {
        fprintf(stderr, "pg_bench: %s\n", err.msg);
        return 1;
    }
    /* write: formatting the COPY text (client CPU); prepare: the transaction */
    printf("| %s | %lld | %lld | %.2f | %.2f | %.0f |\n",
           upsert ? "upsert (window rows)" : "append (COPY)", rows, interval, timed - t_prepare,
           t_prepare, (double)rows / timed);
    def->destroy(self);
    sl_batch_free(b);
    sl_store_close(st);
    return 0;
}
