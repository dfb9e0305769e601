/*
 * syslog_bench.c - how fast RFC 5424 lines parse: 1M lines of ~150 bytes,
 * each with two SD elements (three params), one core. Three measurements:
 *   parse_5424   sl_syslog_parse_5424 per line into the struct of views;
 *   parse_lines  sl_syslog_parse_lines into batches of 4096 rows with a
 *                telco-like schema (pri, severity, timestamp, hostname,
 *                app_name, msgid, msg, sd.origin.ip, sd.meta.seq as int);
 *   +sd json     the same plus the structured_data JSON column.
 * Also logfmt lines of similar size through sl_logfmt_parse_lines.
 * Best of 5 runs; CPU time is printed beside wall time because the machine
 * is shared.
 *
 * Not part of the CMake build. Build by hand from the repository root:
 *   gcc -O2 -Isrc -D_GNU_SOURCE bench/syslog_bench.c src/formats/syslog.c \
 *       src/formats/logfmt.c src/core/[a-z]*.c -lxxhash -lm -o /tmp/syslog_bench
 *   /tmp/syslog_bench [lines]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/batch.h"
#include "core/timeutil.h"
#include "formats/logfmt.h"
#include "formats/syslog.h"

static double cpu_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static const char *msgids[] = {"IFDOWN", "IFUP", "BGPSTATE", "CPUHIGH", "LINKFLAP"};

typedef struct run {
    double wall, cpu;
} run;

static void report(const char *what, long n, size_t bytes, run best) {
    printf("%-12s %8.2f M lines/s  %7.1f MB/s  (%.1f ns/line; cpu %.3f s, wall %.3f s)\n", what,
           (double)n / best.wall / 1e6, (double)bytes / best.wall / 1e6,
           best.wall * 1e9 / (double)n, best.cpu, best.wall);
}

int main(int argc, char **argv) {
    long n = argc > 1 ? atol(argv[1]) : 1000000;
    size_t cap = (size_t)n * 200, len = 0;
    char *buf = malloc(cap);
    for (long i = 0; i < n; i++)
        len += (size_t)sprintf(
            buf + len,
            "<%d>1 2026-01-01T00:%02ld:%02ld.%06ldZ router-%03ld.dc1 snmpd %ld %s "
            "[origin ip=\"10.0.%ld.%ld\" port=\"514\"][meta seq=\"%ld\"] link state changed on "
            "ge-0/0/%ld\n",
            160 + (int)(i % 8), (i / 60) % 60, i % 60, (i * 7919) % 1000000, i % 500,
            1000 + i % 9000, msgids[i % 5], i % 256, (i * 13) % 256, i, i % 48);
    printf("%ld lines, %.1f bytes/line\n", n, (double)len / (double)n);

    sl_syslog_parser *p = sl_syslog_parser_new();
    run best = {1e30, 1e30};
    for (int rep = 0; rep < 5; rep++) {
        double c0 = cpu_s();
        int64_t t0 = sl_monotonic_us();
        size_t off = 0;
        long ok = 0;
        sl_syslog_msg m;
        while (off < len) {
            const char *nl = memchr(buf + off, '\n', len - off);
            if (sl_syslog_parse_5424(p, buf + off, (size_t)(nl - buf) - off, &m, NULL) == 0) ok++;
            off = (size_t)(nl - buf) + 1;
        }
        double w = (double)(sl_monotonic_us() - t0) / 1e6, c = cpu_s() - c0;
        if (ok != n) {
            fprintf(stderr, "parse failed: %ld of %ld\n", ok, n);
            return 1;
        }
        if (w < best.wall) best = (run){w, c};
    }
    report("parse_5424", n, len, best);

    for (int with_json = 0; with_json < 2; with_json++) {
        sl_schema s;
        sl_schema_init(&s);
        sl_schema_add(&s, "pri", SL_T_INT);
        sl_schema_add(&s, "severity", SL_T_INT);
        sl_schema_add(&s, "timestamp", SL_T_TS);
        sl_schema_add(&s, "hostname", SL_T_STRING);
        sl_schema_add(&s, "app_name", SL_T_STRING);
        sl_schema_add(&s, "msgid", SL_T_STRING);
        sl_schema_add(&s, "msg", SL_T_STRING);
        sl_schema_add(&s, "sd.origin.ip", SL_T_STRING);
        sl_schema_add(&s, "sd.meta.seq", SL_T_INT);
        if (with_json) sl_schema_add(&s, "structured_data", SL_T_STRING);
        sl_batch *b = sl_batch_new(&s, 4096);
        best = (run){1e30, 1e30};
        for (int rep = 0; rep < 5; rep++) {
            double c0 = cpu_s();
            int64_t t0 = sl_monotonic_us();
            size_t off = 0;
            long rows = 0;
            while (off < len) {
                sl_batch_clear(b);
                off += sl_syslog_parse_lines(p, buf + off, len - off, 0, (int64_t)off, 0, b, NULL,
                                             NULL);
                rows += b->n;
            }
            double w = (double)(sl_monotonic_us() - t0) / 1e6, c = cpu_s() - c0;
            if (rows != n) {
                fprintf(stderr, "rows %ld of %ld\n", rows, n);
                return 1;
            }
            if (w < best.wall) best = (run){w, c};
        }
        report(with_json ? "+sd json" : "parse_lines", n, len, best);
        sl_batch_free(b);
    }
    sl_syslog_parser_free(p);

    /* logfmt over lines of similar size */
    len = 0;
    for (long i = 0; i < n; i++)
        len += (size_t)sprintf(
            buf + len,
            "ts=2026-01-01T00:%02ld:%02ld.%06ldZ level=info host=router-%03ld.dc1 status=%ld "
            "dur=%ld.%03ld msg=\"link state changed on ge-0/0/%ld\" cached\n",
            (i / 60) % 60, i % 60, (i * 7919) % 1000000, i % 500, 200 + i % 300, i % 10, i % 1000,
            i % 48);
    sl_schema s;
    sl_schema_init(&s);
    sl_schema_add(&s, "ts", SL_T_TS);
    sl_schema_add(&s, "level", SL_T_STRING);
    sl_schema_add(&s, "host", SL_T_STRING);
    sl_schema_add(&s, "status", SL_T_INT);
    sl_schema_add(&s, "dur", SL_T_DOUBLE);
    sl_schema_add(&s, "msg", SL_T_STRING);
    sl_schema_add(&s, "cached", SL_T_BOOL);
    sl_logfmt_parser *lp = sl_logfmt_parser_new(&s, NULL);
    sl_batch *b = sl_batch_new(&s, 4096);
    best = (run){1e30, 1e30};
    for (int rep = 0; rep < 5; rep++) {
        double c0 = cpu_s();
        int64_t t0 = sl_monotonic_us();
        size_t off = 0;
        long rows = 0;
        while (off < len) {
            sl_batch_clear(b);
            off +=
                sl_logfmt_parse_lines(lp, buf + off, len - off, 0, (int64_t)off, 0, b, NULL, NULL);
            rows += b->n;
        }
        double w = (double)(sl_monotonic_us() - t0) / 1e6, c = cpu_s() - c0;
        if (rows != n) {
            fprintf(stderr, "logfmt rows %ld of %ld\n", rows, n);
            return 1;
        }
        if (w < best.wall) best = (run){w, c};
    }
    printf("logfmt: %.1f bytes/line\n", (double)len / (double)n);
    report("logfmt", n, len, best);
    sl_batch_free(b);
    sl_logfmt_parser_free(lp);
    free(buf);
    return 0;
}
