/*
 * fuzz_csv.c - libFuzzer target for the CSV reader and the CSV batch parser.
 *
 * The input (after one option byte choosing the delimiter and a split point)
 * is read (1) whole with sl_csv, which must make progress on every call and
 * end, and (2) as a stream in two pieces with sl_csv_parse_lines, which must
 * consume only complete records and, record for record, agree with reading
 * the whole input at once.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/batch.h"
#include "formats/csv.h"

static sl_schema schema;

static void bad_count(void *ud, const char *line, size_t len, int32_t part, int64_t pos,
                      const char *reason) {
    (void)line, (void)len, (void)part, (void)pos;
    if (!reason || !reason[0]) abort();
    (*(int *)ud)++;
}

/* Parses data as a stream fed in pieces of at most `step` new bytes;
 * returns rows + bad records seen and the bytes consumed. */
static int stream(const char *data, size_t size, char delim, size_t step, size_t *consumed,
                  int64_t *sum) {
    sl_csv_parser *p = sl_csv_parser_new(&schema, delim, NULL);
    sl_batch *b = sl_batch_new(&schema, 3);
    sl_csv_parser_set_max_record(p, 256);
    char *buf = malloc(size + 1);
    size_t have = 0, fed = 0, off = 0;
    int seen = 0;
    *sum = 0;
    for (int guard = 0; guard < 100000; guard++) {
        size_t add = size - fed < step ? size - fed : step;
        memcpy(buf + have, data + fed, add);
        have += add;
        fed += add;
        sl_batch_clear(b);
        int bad = 0;
        size_t used = sl_csv_parse_lines(p, buf, have, 0, (int64_t)off, 0, b, bad_count, &bad);
        if (used > have || (used && buf[used - 1] != '\n')) abort();
        seen += bad + (int)b->n;
        for (uint32_t r = 0; r < b->n; r++) {
            if (b->pos[r] < (int64_t)off || b->raw[r].ptr < buf ||
                b->raw[r].ptr + b->raw[r].len > buf + used)
                abort();
            *sum += b->pos[r] + (b->col[0].null[r] ? 7 : b->col[0].v.i[r] & 0xffff);
        }
        memmove(buf, buf + used, have - used);
        have -= used;
        off += used;
        if (fed == size && used == 0 && b->n == 0) break;
    }
    *consumed = off;
    free(buf);
    sl_batch_free(b);
    sl_csv_parser_free(p);
    return seen;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (schema.n == 0) {
        sl_schema_init(&schema);
        sl_schema_add(&schema, "a", SL_T_INT);
        sl_schema_add(&schema, "b", SL_T_STRING);
        sl_schema_add(&schema, "c", SL_T_DOUBLE);
        sl_schema_add(&schema, "d", SL_T_BOOL);
        sl_schema_add(&schema, "e", SL_T_TS);
    }
    if (size < 1) return 0;
    static const char delims[] = {',', ';', '\t', '|'};
    char delim = delims[data[0] & 3];
    size_t step = 1 + (data[0] >> 2) * 3;
    const char *in = (const char *)data + 1;
    size--;

    /* (1) whole-buffer reader: terminates, makes progress */
    sl_csv *c = sl_csv_new(in, size, delim);
    if (!c) abort();
    int64_t last_off = -1;
    for (size_t guard = 0;; guard++) {
        if (guard > size + 2) abort();
        sl_str *f;
        int n;
        sl_error err = {0};
        int rc = sl_csv_next(c, &f, &n, &err);
        if (rc == 0) break;
        if (sl_csv_record_offset(c) <= last_off) abort();
        last_off = sl_csv_record_offset(c);
        if (rc < 0) {
            if (rc != SL_EPARSE || !err.msg[0]) abort();
            continue;
        }
        for (int k = 0; k < n; k++)
            if (f[k].len && !f[k].ptr) abort();
    }
    sl_csv_free(c);

    /* (2) streaming: the split must not change what comes out */
    size_t used1, used2;
    int64_t sum1, sum2;
    int seen1 = stream(in, size, delim, size ? size : 1, &used1, &sum1);
    int seen2 = stream(in, size, delim, step, &used2, &sum2);
    /* With small pieces the max_record cut can fire at different places, so
     * compare only when no record came near it. */
    if (size < 200 && (seen1 != seen2 || used1 != used2 || sum1 != sum2)) abort();
    return 0;
}
