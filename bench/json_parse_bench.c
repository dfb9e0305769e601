/*
 * json_parse_bench.c - how fast sl_json_parse_lines turns camera NDJSON into
 * batches: 1M lines of ~140 bytes, 5 fields extracted (int, int, int, string,
 * timestamp as epoch ms), batches of 4096 rows, one core. Also times the
 * row writer (sl_json_write_row) over the parsed rows, and CSV over the same
 * records.
 *
 * Not part of the CMake build. Build by hand from the repository root:
 *   g++ -c -O2 -Isrc $(pkg-config --cflags simdjson) src/formats/json_simd.cc -o /tmp/json_simd.o
 *   gcc -O2 -Isrc -D_GNU_SOURCE bench/json_parse_bench.c src/formats/json.c \
 *       src/formats/json_write.c src/formats/csv.c src/core/[a-z]*.c /tmp/json_simd.o \
 *       -lsimdjson -lxxhash -lstdc++ -lm -o /tmp/json_parse_bench
 *   /tmp/json_parse_bench [lines]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/batch.h"
#include "core/timeutil.h"
#include "formats/csv.h"
#include "formats/json.h"
#include "formats/json_write.h"

/* CPU time of this process: on a shared machine wall time mostly measures the
 * neighbours, so both are printed. */
static double cpu_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static void count_bad(void *ud, const char *line, size_t len, int32_t part, int64_t pos,
                      const char *reason) {
    (void)line, (void)len, (void)part, (void)pos, (void)reason;
    (*(long *)ud)++;
}

static const char *items[] = {"person", "car", "bicycle", "truck", "dog"};

int main(int argc, char **argv) {
    long n = argc > 1 ? atol(argv[1]) : 1000000;
    size_t cap = (size_t)n * 200 + SL_JSON_PADDING, len = 0;
    char *buf = malloc(cap);
    for (long i = 0; i < n; i++)
        len += (size_t)sprintf(buf + len,
                               "{\"detection_oid\":%lld,\"video_camera_oid\":%ld,"
                               "\"geographical_location_oid\":%ld,\"item_name\":\"%s\","
                               "\"timestamp_detected\":%lld}\n",
                               8123456789LL + i, 1000 + i % 500, i % 40, items[i % 5],
                               1767225600123LL + i * 7);
    memset(buf + len, 0, SL_JSON_PADDING);

    sl_schema s;
    sl_schema_init(&s);
    sl_schema_add(&s, "detection_oid", SL_T_INT);
    sl_schema_add(&s, "video_camera_oid", SL_T_INT);
    sl_schema_add(&s, "geographical_location_oid", SL_T_INT);
    sl_schema_add(&s, "item_name", SL_T_STRING);
    sl_schema_add(&s, "timestamp_detected", SL_T_TS);
    sl_json_parser *p = sl_json_parser_new(&s, NULL, NULL);
    sl_batch *b = sl_batch_new(&s, 4096);

    double best = 1e30, best_cpu = 1e30;
    long rows = 0;
    int64_t check = 0;
    for (int mode = 0; mode < 2; mode++) {
        /* mode 0: line by line; mode 1: stream mode (the default) */
        sl_json_parser_set_stream(p, mode == 1);
        best = best_cpu = 1e30;
        for (int rep = 0; rep < 9; rep++) {
            int64_t t0 = sl_monotonic_us();
            double c0 = cpu_s();
            size_t off = 0;
            rows = 0;
            check = 0;
            while (off < len) {
                sl_batch_clear(b);
                off +=
                    sl_json_parse_lines(p, buf + off, len - off, 0, (int64_t)off, 0, b, NULL, NULL);
                rows += b->n;
                check += b->col[0].v.i[b->n - 1];
            }
            double sec = (double)(sl_monotonic_us() - t0) / 1e6, csec = cpu_s() - c0;
            if (sec < best) best = sec;
            if (csec < best_cpu) best_cpu = csec;
        }
        printf("json parse (%s): %ld lines, %.1f MB, avg %.0f B/line\n",
               mode ? "stream" : "line by line", rows, (double)len / 1e6, (double)len / (double)n);
        printf("json parse: best of 9: wall %.3f s, %.1f ns/line, %.0f MB/s, %.2f M lines/s (check "
               "%lld)\n",
               best, best * 1e9 / (double)rows, (double)len / 1e6 / best, (double)rows / 1e6 / best,
               (long long)check);
        printf("json parse: best of 9: cpu  %.3f s, %.1f ns/line, %.0f MB/s\n", best_cpu,
               best_cpu * 1e9 / (double)rows, (double)len / 1e6 / best_cpu);
    }

    /* dirty input: every 50th line loses its closing brace (2% malformed) */
    {
        long line = 0, bad_seen = 0;
        for (size_t i = 0; i < len; i++)
            if (buf[i] == '\n' && line++ % 50 == 49) buf[i - 1] = ' ';
        for (int mode = 0; mode < 2; mode++) {
            sl_json_parser_set_stream(p, mode == 1);
            double bc = 1e30;
            for (int rep = 0; rep < 5; rep++) {
                double c0 = cpu_s();
                size_t off = 0;
                rows = 0;
                bad_seen = 0;
                while (off < len) {
                    sl_batch_clear(b);
                    off += sl_json_parse_lines(p, buf + off, len - off, 0, (int64_t)off, 0, b,
                                               count_bad, &bad_seen);
                    rows += b->n;
                }
                double c = cpu_s() - c0;
                if (c < bc) bc = c;
            }
            printf("json parse, 2%% malformed (%s): %ld rows + %ld bad, cpu %.3f s, %.1f ns/line\n",
                   mode ? "stream" : "line by line", rows, bad_seen, bc,
                   bc * 1e9 / (double)(rows + bad_seen));
        }
        sl_json_parser_set_stream(p, true);
        line = 0;
        for (size_t i = 0; i < len; i++)
            if (buf[i] == '\n' && line++ % 50 == 49) buf[i - 1] = '}';
        sl_batch_clear(b);
        sl_json_parse_lines(p, buf, len, 0, 0, 0, b, NULL, NULL);
    }

    /* writer: all rows of the last batch, repeatedly, n rows in total */
    char out[512];
    size_t wbytes = 0;
    double c0 = cpu_s();
    for (long i = 0; i < n; i++)
        wbytes += sl_json_write_row(b, (uint32_t)(i % b->n), NULL, out, sizeof out);
    double wsec = cpu_s() - c0;
    printf("json write: %ld rows, cpu %.3f s, %.1f ns/row, %.0f MB/s\n", n, wsec,
           wsec * 1e9 / (double)n, (double)wbytes / 1e6 / wsec);

    /* CSV: the same records */
    size_t clen = (size_t)sprintf(
        buf,
        "detection_oid,video_camera_oid,geographical_location_oid,item_name,timestamp_detected\n");
    for (long i = 0; i < n; i++)
        clen += (size_t)sprintf(buf + clen, "%lld,%ld,%ld,%s,%lld\n", 8123456789LL + i,
                                1000 + i % 500, i % 40, items[i % 5], 1767225600123LL + i * 7);
    sl_csv_parser *cp = sl_csv_parser_new(&s, ',', NULL);
    c0 = cpu_s();
    size_t off = 0;
    rows = 0;
    while (off < clen) {
        sl_batch_clear(b);
        size_t used =
            sl_csv_parse_lines(cp, buf + off, clen - off, 0, (int64_t)off, 0, b, NULL, NULL);
        if (!used) break;
        off += used;
        rows += b->n;
    }
    double csec = cpu_s() - c0;
    printf("csv parse:  %ld rows, %.1f MB, cpu %.3f s, %.1f ns/row, %.0f MB/s\n", rows,
           (double)clen / 1e6, csec, csec * 1e9 / (double)rows, (double)clen / 1e6 / csec);

    sl_csv_parser_free(cp);
    sl_batch_free(b);
    sl_json_parser_free(p);
    free(buf);
    return rows == n ? 0 : 1;
}
