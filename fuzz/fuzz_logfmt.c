/*
 * fuzz_logfmt.c - libFuzzer target for the logfmt parser and batch adapter.
 *
 * The input (after one option byte) is copied into a heap buffer of exactly
 * its size, so ASan catches any read past it. Checked on every input:
 *  - the whole input as one line through sl_logfmt_parse: keys are views
 *    into the line with no space, '=' or '"'; an error names a column within
 *    the line; pairs written back (every value quoted and re-escaped) parse
 *    again into exactly the same pairs;
 *  - the input as lines through sl_logfmt_parse_lines with a schema of every
 *    type: progress, whole lines consumed, raw views inside the buffer.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/batch.h"
#include "formats/logfmt.h"

static sl_logfmt_parser *P, *P2;
static sl_batch *batch;
static volatile unsigned sink;

static void init(void) {
    sl_schema s;
    sl_schema_init(&s);
    sl_schema_add(&s, "i", SL_T_INT);
    sl_schema_add(&s, "d", SL_T_DOUBLE);
    sl_schema_add(&s, "s", SL_T_STRING);
    sl_schema_add(&s, "b", SL_T_BOOL);
    sl_schema_add(&s, "t", SL_T_TS);
    sl_schema_add(&s, "msg", SL_T_STRING);
    sl_schema_add(&s, "level", SL_T_STRING);
    P = sl_logfmt_parser_new(&s, NULL);
    P2 = sl_logfmt_parser_new(&s, NULL);
    batch = sl_batch_new(&s, 64);
}

static void touch(sl_str v) {
    for (uint32_t k = 0; k < v.len; k++)
        sink += (unsigned char)v.ptr[k];
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!P) init();
    if (size < 1) return 0;
    int opt = data[0];
    data++, size--;
    char *buf = malloc(size ? size : 1);
    if (!buf) return 0;
    memcpy(buf, data, size);

    sl_logfmt_pair *pairs;
    int n;
    sl_error err;
    int rc = sl_logfmt_parse(P, buf, size, &pairs, &n, &err);
    if (rc == 0) {
        /* write back: key, or key="escaped value" */
        size_t cap = size * 2 + 16, w = 0;
        char *o = malloc(cap);
        for (int k = 0; k < n; k++) {
            const sl_logfmt_pair *q = &pairs[k];
            if (q->key.ptr < buf || q->key.ptr + q->key.len > buf + size || q->key.len == 0)
                abort();
            for (uint32_t i = 0; i < q->key.len; i++) {
                unsigned char c = (unsigned char)q->key.ptr[i];
                if (c <= ' ' || c == '=' || c == '"') abort();
            }
            touch(q->value);
            if (k) o[w++] = ' ';
            memcpy(o + w, q->key.ptr, q->key.len);
            w += q->key.len;
            if (!q->has_value) continue;
            o[w++] = '=';
            o[w++] = '"';
            for (uint32_t i = 0; i < q->value.len; i++) {
                char c = q->value.ptr[i];
                if (c == '"' || c == '\\') o[w++] = '\\';
                o[w++] = c;
            }
            o[w++] = '"';
            if (w > cap) abort();
        }
        sl_logfmt_pair *p2;
        int n2;
        if (sl_logfmt_parse(P2, o, w, &p2, &n2, &err) != 0) {
            fprintf(stderr, "re-parse failed: %s\n", err.msg);
            abort();
        }
        if (n2 != n) abort();
        for (int k = 0; k < n; k++) {
            if (p2[k].has_value != pairs[k].has_value || p2[k].key.len != pairs[k].key.len ||
                memcmp(p2[k].key.ptr, pairs[k].key.ptr, p2[k].key.len) != 0)
                abort();
            if (pairs[k].has_value &&
                (p2[k].value.len != pairs[k].value.len ||
                 memcmp(p2[k].value.ptr, pairs[k].value.ptr, p2[k].value.len) != 0))
                abort();
        }
        free(o);
    } else {
        unsigned long col;
        if (rc != SL_EPARSE || sscanf(err.msg, "column %lu: ", &col) != 1 || col < 1 ||
            col > size + 1)
            abort();
    }

    uint32_t cap = (uint32_t)(1 + ((opt >> 1) & 7));
    if (opt & 0x40) cap = 64;
    size_t off = 0;
    while (off < size) {
        sl_batch_clear(batch);
        batch->cap = cap;
        size_t used =
            sl_logfmt_parse_lines(P, buf + off, size - off, 0, (int64_t)off, 0, batch, NULL, NULL);
        batch->cap = 64;
        if (used > size - off) abort();
        if (used && buf[off + used - 1] != '\n') abort();
        for (uint32_t r = 0; r < batch->n; r++) {
            if (batch->raw[r].ptr < buf + off ||
                batch->raw[r].ptr + batch->raw[r].len > buf + off + used)
                abort();
            for (int c = 0; c < batch->schema.n; c++)
                if (!batch->col[c].null[r] && batch->col[c].type == SL_T_STRING)
                    touch(batch->col[c].v.s[r]);
        }
        if (used == 0) break;
        off += used;
    }
    if (off < size && memchr(buf + off, '\n', size - off)) abort();
    free(buf);
    return 0;
}
