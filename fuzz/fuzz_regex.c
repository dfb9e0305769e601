/*
 * fuzz_regex.c - libFuzzer target for the regex line format (formats/regex.c).
 *
 * Input: one option byte, then a pattern (up to the first '\n'), then lines.
 * The lines are copied into a heap buffer of exactly their size plus the
 * padding sources give, so ASan catches any read past it. Each input runs
 *  - its own pattern (if it compiles and names one of the columns a b c d e
 *    msg, typed int double string ts bool string) over the lines;
 *  - a fixed syslog-like pattern over the same lines;
 * and checks: bytes consumed end just after a '\n' and never exceed the
 * input; every row's raw bytes and string values lie inside the buffer; rows
 * never exceed the batch; sl_regex_schema agrees with compilation. Option
 * bit 0 makes the batch tiny (2 rows) so "batch full" paths run too.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/batch.h"
#include "formats/regex.h"

static sl_schema S;
static sl_regex_parser *FIXED;
static volatile unsigned sink;

static void init(void) {
    sl_schema_init(&S);
    sl_schema_add(&S, "a", SL_T_INT);
    sl_schema_add(&S, "b", SL_T_DOUBLE);
    sl_schema_add(&S, "c", SL_T_STRING);
    sl_schema_add(&S, "d", SL_T_TS);
    sl_schema_add(&S, "e", SL_T_BOOL);
    sl_schema_add(&S, "msg", SL_T_STRING);
    FIXED = sl_regex_parser_new(
        &S, "^<(?<a>\\d+)>(?<d>\\S+) (?<c>\\S+)(?: (?<b>[-\\d.e]+))?(?: (?<e>\\w+))? (?<msg>.*)$",
        NULL);
    if (!FIXED) abort();
}

static void bad_cb(void *ud, const char *line, size_t len, int32_t part, int64_t pos,
                   const char *reason) {
    (void)ud, (void)part, (void)pos;
    for (size_t i = 0; i < len; i++)
        sink += (unsigned char)line[i];
    if (!reason || !*reason) abort();
}

static void run(sl_regex_parser *p, const char *buf, size_t len, uint32_t cap) {
    sl_batch *b = sl_batch_new(&S, cap);
    size_t off = 0;
    for (int guard = 0; off < len && guard < 100000; guard++) {
        sl_batch_clear(b);
        size_t used =
            sl_regex_parse_lines(p, buf + off, len - off, 0, (int64_t)off, 0, b, bad_cb, NULL);
        if (used > len - off) abort();
        if (used && buf[off + used - 1] != '\n') abort();
        if (b->n > cap) abort();
        for (uint32_t r = 0; r < b->n; r++) {
            if (b->raw[r].ptr < buf || b->raw[r].ptr + b->raw[r].len > buf + len) abort();
            for (int c = 0; c < S.n; c++) {
                if (S.f[c].type != SL_T_STRING || b->col[c].null[r]) continue;
                sl_str v = b->col[c].v.s[r];
                if (v.ptr < buf || v.ptr + v.len > buf + len) abort();
                if (v.len) sink += (unsigned char)v.ptr[v.len - 1];
            }
        }
        if (!used) break;
        off += used;
    }
    sl_batch_free(b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!FIXED) init();
    if (size < 1) return 0;
    int opt = data[0];
    data++, size--;
    const uint8_t *nl = memchr(data, '\n', size);
    size_t plen = nl ? (size_t)(nl - data) : size;
    char *pat = malloc(plen + 1);
    memcpy(pat, data, plen);
    pat[plen] = 0;
    size_t len = nl ? size - plen - 1 : 0;
    char *buf = malloc(len + 64);
    if (len) memcpy(buf, nl + 1, len);
    memset(buf + len, 0, 64);
    uint32_t cap = (opt & 1) ? 2 : 64;
    sl_regex_parser *p = strlen(pat) == plen ? sl_regex_parser_new(&S, pat, NULL) : NULL;
    if (p) {
        run(p, buf, len, cap);
        sl_schema d;
        if (sl_regex_schema(pat, &d, NULL) != 0) abort(); /* it compiled and has names */
        sl_regex_parser_free(p);
    }
    run(FIXED, buf, len, cap);
    free(buf);
    free(pat);
    return 0;
}
