/*
 * fuzz_json.c - libFuzzer target for the NDJSON parser and the row writer.
 *
 * The input (after one option byte) is an NDJSON buffer, copied into a heap
 * buffer with exactly SL_JSON_PADDING bytes after it so ASan catches any read
 * past the padding contract. Checked on every input:
 *  - sl_json_parse_lines makes progress, consumes only whole lines, and every
 *    row's raw view and string views lie inside the buffer or the batch arena;
 *  - stream mode and line-by-line mode give identical rows and bad records
 *    (stream mode is only an accelerator); with a flat schema too, where line
 *    mode reads most lines without simdjson (json.c's flat reader) and stream
 *    mode always uses it;
 *  - every row written back with sl_json_write_row parses again into exactly
 *    the same values (the writer and the parser agree), the only exception
 *    being timestamps outside years 0001-9999, which ISO 8601 text cannot
 *    carry.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/batch.h"
#include "formats/json.h"
#include "formats/json_write.h"

static sl_json_parser *parser[2], *lineparser[2];
static sl_json_parser *reparser[2];
static sl_json_parser *flatparser[2]; /* flat schema: [0] stream mode, [1] line mode */
static sl_batch *batch, *batch2, *rebatch, *flatbatch[2];

/* bad records of the two modes, as "pos reason" lines */
typedef struct badlog {
    char *text;
    size_t len, cap;
} badlog;
static badlog bad_stream, bad_line, bad_flat[2];

static void init(void) {
    sl_schema s;
    sl_schema_init(&s);
    sl_schema_add(&s, "i", SL_T_INT);
    sl_schema_add(&s, "d", SL_T_DOUBLE);
    sl_schema_add(&s, "s", SL_T_STRING);
    sl_schema_add(&s, "b", SL_T_BOOL);
    sl_schema_add(&s, "t", SL_T_TS);
    sl_schema_add(&s, "deep", SL_T_INT);
    sl_schema_add(&s, "raw", SL_T_STRING);
    sl_schema_add(&s, "alias", SL_T_DOUBLE);
    const char *paths[] = {NULL, NULL, NULL, NULL, NULL, "o.x.1", "o.r", "i"};
    for (int k = 0; k < 2; k++) {
        parser[k] = sl_json_parser_new(&s, paths, NULL);
        sl_json_parser_set_lenient_strings(parser[k], k == 1);
        sl_json_parser_set_stream(parser[k], true);
        lineparser[k] = sl_json_parser_new(&s, paths, NULL);
        sl_json_parser_set_lenient_strings(lineparser[k], k == 1);
        sl_json_parser_set_stream(lineparser[k], false);
        /* the writer emits column names as top-level keys */
        reparser[k] = sl_json_parser_new(&s, NULL, NULL);
    }
    batch = sl_batch_new(&s, 64);
    batch2 = sl_batch_new(&s, 64);
    rebatch = sl_batch_new(&s, 4);
    sl_schema f = s;
    f.n = 5; /* i d s b t: every path a top-level key */
    for (int k = 0; k < 2; k++) {
        flatparser[k] = sl_json_parser_new(&f, NULL, NULL);
        sl_json_parser_set_stream(flatparser[k], k == 0);
        flatbatch[k] = sl_batch_new(&f, 64);
    }
}

static void bad_ok(void *ud, const char *line, size_t len, int32_t part, int64_t pos,
                   const char *reason) {
    (void)line, (void)part;
    if (!reason || !reason[0]) abort();
    badlog *l = ud;
    size_t need = strlen(reason) + 48;
    if (l->cap - l->len < need) {
        l->cap = (l->cap + need) * 2;
        l->text = realloc(l->text, l->cap);
        if (!l->text) abort();
    }
    l->len += (size_t)snprintf(l->text + l->len, l->cap - l->len, "%lld %zu %s\n", (long long)pos,
                               len, reason);
}

static void same_rows(const sl_batch *a, const sl_batch *z) {
    if (a->n != z->n) abort();
    for (uint32_t r = 0; r < a->n; r++) {
        if (a->pos[r] != z->pos[r] || a->raw[r].ptr != z->raw[r].ptr ||
            a->raw[r].len != z->raw[r].len)
            abort();
        for (int c = 0; c < a->schema.n; c++) {
            const sl_column *x = &a->col[c], *y = &z->col[c];
            if (x->null[r] != y->null[r]) abort();
            if (x->null[r]) continue;
            switch (x->type) {
            case SL_T_DOUBLE:
                if (memcmp(&x->v.d[r], &y->v.d[r], sizeof(double))) abort();
                break;
            case SL_T_STRING:
                if (x->v.s[r].len != y->v.s[r].len ||
                    (x->v.s[r].len && memcmp(x->v.s[r].ptr, y->v.s[r].ptr, x->v.s[r].len)))
                    abort();
                break;
            case SL_T_BOOL:
                if (x->v.b[r] != y->v.b[r]) abort();
                break;
            default:
                if (x->v.i[r] != y->v.i[r]) abort();
            }
        }
    }
}

static void roundtrip(uint32_t r) {
    static char out[1 << 16];
    size_t n = sl_json_write_row(batch, r, NULL, out, sizeof out - SL_JSON_PADDING - 1);
    if (n >= sizeof out - SL_JSON_PADDING - 1) return; /* too long for this check */
    out[n] = '\n';
    sl_batch_clear(rebatch);
    size_t used = sl_json_parse_lines(reparser[0], out, n + 1, 0, 0, 0, rebatch, NULL, NULL);
    if (used != n + 1) abort();
    bool ts_ok = batch->col[4].null[r] || (batch->col[4].v.i[r] >= -62135596800000000LL &&
                                           batch->col[4].v.i[r] <= 253402300799999999LL);
    if (!ts_ok) return;
    if (rebatch->n != 1) abort();
    for (int c = 0; c < batch->schema.n; c++) {
        const sl_column *a = &batch->col[c], *z = &rebatch->col[c];
        if (a->null[r] != z->null[0]) abort();
        if (a->null[r]) continue;
        switch (a->type) {
        case SL_T_DOUBLE:
            if (!(a->v.d[r] == z->v.d[0])) abort();
            break;
        case SL_T_STRING:
            if (a->v.s[r].len != z->v.s[0].len ||
                (a->v.s[r].len && memcmp(a->v.s[r].ptr, z->v.s[0].ptr, a->v.s[r].len)))
                abort();
            break;
        case SL_T_BOOL:
            if (a->v.b[r] != z->v.b[0]) abort();
            break;
        default:
            if (a->v.i[r] != z->v.i[0]) abort();
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!batch) init();
    if (size < 1) return 0;
    int opt = data[0];
    data++, size--;
    char *buf = malloc(size + SL_JSON_PADDING);
    if (!buf) return 0;
    memcpy(buf, data, size);
    memset(buf + size, opt, SL_JSON_PADDING); /* padding content must not matter */
    sl_json_parser *p = parser[opt & 1], *lp = lineparser[opt & 1];
    uint32_t cap = (uint32_t)(1 + ((opt >> 1) & 7));
    if (opt & 0x20) cap = 64;
    size_t off = 0;
    int64_t base = (opt & 0x10) ? 0 : 5;
    bad_stream.len = bad_line.len = 0;
    while (off < size) {
        sl_batch_clear(batch);
        sl_batch_clear(batch2);
        batch->cap = batch2->cap = cap; /* smaller than allocated: exercises batch-full stops */
        size_t used = sl_json_parse_lines(p, buf + off, size - off, 0, base + (int64_t)off, 0,
                                          batch, bad_ok, &bad_stream);
        size_t used2 = sl_json_parse_lines(lp, buf + off, size - off, 0, base + (int64_t)off, 0,
                                           batch2, bad_ok, &bad_line);
        batch->cap = batch2->cap = 64;
        if (used != used2) abort();
        same_rows(batch, batch2);
        if (bad_stream.len != bad_line.len ||
            (bad_line.len && memcmp(bad_stream.text, bad_line.text, bad_line.len)))
            abort();
        if (used > size - off) abort();
        if (used && buf[off + used - 1] != '\n') abort();
        for (uint32_t r = 0; r < batch->n; r++) {
            if (batch->raw[r].ptr < buf + off ||
                batch->raw[r].ptr + batch->raw[r].len > buf + off + used)
                abort();
            roundtrip(r);
        }
        if (used == 0) break;
        off += used;
    }
    if (off < size && memchr(buf + off, '\n', size - off)) abort(); /* a whole line was left */
    /* the flat schema: line mode (flat reader) against stream mode (simdjson) */
    for (size_t foff = 0; foff < size;) {
        size_t fused[2];
        for (int k = 0; k < 2; k++) {
            sl_batch_clear(flatbatch[k]);
            flatbatch[k]->cap = cap;
            bad_flat[k].len = 0;
            fused[k] =
                sl_json_parse_lines(flatparser[k], buf + foff, size - foff, 0, base + (int64_t)foff,
                                    0, flatbatch[k], bad_ok, &bad_flat[k]);
            flatbatch[k]->cap = 64;
        }
        if (fused[0] != fused[1]) abort();
        same_rows(flatbatch[0], flatbatch[1]);
        if (bad_flat[0].len != bad_flat[1].len ||
            (bad_flat[0].len && memcmp(bad_flat[0].text, bad_flat[1].text, bad_flat[0].len)))
            abort();
        if (fused[0] == 0) break;
        foff += fused[0];
    }
    free(buf);
    return 0;
}
