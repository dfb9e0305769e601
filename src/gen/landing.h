/*
 * landing.h - landing-folder streams shared by the telco and retail generators
 * (landing.c; internal to src/gen).
 *
 * A stream is one sub-folder of the output (DIR/logs, DIR/metrics, ...) that
 * receives many small files PREFIX-NNNNNN.EXT. A file is written as
 * .PREFIX-NNNNNN.EXT.tmp and renamed when complete, so a landing-folder
 * reader never sees half a file; names sort in write order. Each stream also
 * has a "late" side buffer: lines whose event time was moved far back are
 * held there and published as a file of their own right after the current
 * file, the way a delayed upload lands behind newer files.
 */
#ifndef SL_GEN_LANDING_H
#define SL_GEN_LANDING_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef struct sl_landing {
    char dir[3072];
    const char *prefix, *ext, *who;
    FILE *f;
    char *fbuf;
    int file_no;
    int64_t file_lines, lines, files;
    char tmp_path[4096], final_path[4096];
    char *late; /* held-back late lines */
    size_t late_n, late_cap;
    int64_t late_lines, late_files;
} sl_landing;

/* Creates DIR/SUB (mkdir -p) and fails when it already holds PREFIX files. 0 or -1. */
int sl_landing_open(sl_landing *s, const char *out, const char *sub, const char *prefix,
                    const char *ext, const char *who);
int sl_landing_write(sl_landing *s, const char *line, size_t len);
void sl_landing_hold_late(sl_landing *s, const char *line, size_t len);
/* Publishes the current file (if any), then the held late lines as their own file. */
int sl_landing_rotate(sl_landing *s);
/* Rotates, then frees; abort=1 drops a partial temp file instead. */
int sl_landing_close(sl_landing *s, int abort);
/* Writes a whole small file DIR/NAME atomically (dot-name + rename). */
int sl_landing_write_file(const char *dir, const char *name, const char *data, size_t len,
                          const char *who);
int sl_gen_mkdir_p(const char *path);

/* The two ways a flavor generator runs, shared so they behave the same:
 * events >= 0: count mode, `events` lines, files published every
 * file_events lines (deterministic); else rate mode, `rate` lines per second
 * of wall clock, files published files_per_minute times a minute, until
 * `duration` seconds (0 = forever) or SIGINT/SIGTERM (handled while it runs).
 * emit writes the next line and advances *line_no; rotate publishes the
 * current files. Returns 0 or -1 (the callback's failure). */
typedef struct sl_gen_drive {
    void *g;
    int (*emit)(void *g);
    int (*rotate)(void *g);
    const int64_t *line_no;
    int64_t events, file_events;
    double rate, duration, files_per_minute;
} sl_gen_drive;
int sl_gen_drive_run(const sl_gen_drive *d);

#endif
