/*
 * fuzz_nginx.c - libFuzzer target for the combined access log format
 * (formats/nginx.c) through sl_line_format_parse.
 *
 * The input (after one option byte choosing the batch capacity) is copied
 * into a heap buffer of exactly its size, so ASan catches any read past it.
 * Checked on every input: progress, whole lines consumed, raw and string
 * views inside the buffer, every row's position on a line start, and the
 * rows plus the bad records never more than the lines.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/batch.h"
#include "formats/lineformat.h"

static sl_line_format *F;
static sl_batch *batch;
static size_t bad_n;
static volatile unsigned sink;

static void init(void) {
    sl_schema s;
    sl_line_format_default_schema("nginx", &s);
    sl_schema_add(&s, "request", SL_T_STRING);
    F = sl_line_format_new("nginx", &s, NULL, NULL);
    batch = sl_batch_new(&s, 64);
}

static void on_bad(void *ud, const char *line, size_t len, int32_t part, int64_t pos,
                   const char *reason) {
    (void)ud, (void)part, (void)pos;
    for (size_t k = 0; k < len; k++)
        sink += (unsigned char)line[k];
    sink += (unsigned char)reason[0];
    bad_n++;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!F) init();
    if (size < 1) return 0;
    uint32_t cap = 1 + (data[0] & 63);
    data++, size--;
    char *buf = malloc(size ? size : 1);
    if (!buf) return 0;
    memcpy(buf, data, size);
    size_t lines = 0;
    for (size_t k = 0; k < size; k++)
        lines += buf[k] == '\n';
    size_t off = 0, rows = 0;
    bad_n = 0;
    while (off < size) {
        sl_batch_clear(batch);
        batch->cap = cap;
        size_t used =
            sl_line_format_parse(F, buf + off, size - off, 0, (int64_t)off, 0, batch, on_bad, NULL);
        batch->cap = 64;
        if (used > size - off) abort();
        if (used && buf[off + used - 1] != '\n') abort();
        for (uint32_t r = 0; r < batch->n; r++) {
            int64_t p = batch->pos[r];
            if (p < (int64_t)off || p >= (int64_t)(off + used)) abort();
            if (p > 0 && buf[p - 1] != '\n') abort();
            for (int c = 0; c < batch->schema.n; c++) {
                const sl_column *col = &batch->col[c];
                if (col->type != SL_T_STRING || col->null[r]) continue;
                sl_str v = col->v.s[r];
                if (v.len && (v.ptr < buf || v.ptr + v.len > buf + size)) abort();
                for (uint32_t k = 0; k < v.len; k++)
                    sink += (unsigned char)v.ptr[k];
            }
        }
        rows += batch->n;
        if (!used) break;
        off += used;
    }
    if (rows + bad_n > lines) abort();
    free(buf);
    return 0;
}
