/*
 * fuzz_http_body.c - libFuzzer target for the http source's body pieces
 * (sources/http_body.h): splitting (json shapes and lines), the OTLP logs
 * mapping and bounded decoding.
 *
 * The first byte picks what to run on the rest, which is copied into a heap
 * buffer of exactly its size so ASan catches any read past the body.
 * Checked on every input:
 *  - records lie inside the records buffer, in order, each followed by '\n'
 *    and holding no '\n' or '\r', with SL_HTTP_PADDING zero bytes after the
 *    last one; a json split yields at most one record per input byte; a
 *    broken body (400) leaves no record behind;
 *  - every OTLP record is one JSON value: split again as json it is exactly
 *    one record, equal to itself;
 *  - decoding never returns more than its bound, and identity decoding is
 *    the input itself.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sources/http_body.h"

static void check(const sl_http_records *r) {
    size_t at = 0;
    for (int i = 0; i < r->n; i++) {
        const sl_poll_msg *m = &r->msg[i];
        if (m->off != at || (size_t)m->off + m->len + 1 > r->len) abort();
        if (memchr(r->buf + m->off, '\n', m->len) || memchr(r->buf + m->off, '\r', m->len)) abort();
        if (r->buf[m->off + m->len] != '\n') abort();
        at = (size_t)m->off + m->len + 1;
    }
    if (at != r->len) abort();
    if (r->n)
        for (int i = 0; i < SL_HTTP_PADDING; i++)
            if (r->buf[r->len + i]) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    int mode = data[0] % 5;
    size--;
    char *in = malloc(size ? size : 1);
    memcpy(in, data + 1, size);
    char why[256];
    sl_http_records r = {0};
    if (mode == 0 || mode == 1) {
        int rc = sl_http_split(in, size, mode == 0, &r, why, sizeof why);
        if (rc && (rc != 400 || r.n)) abort();
        if (mode == 0 && (size_t)r.n > size) abort();
        check(&r);
    } else if (mode == 2) {
        if (sl_http_otlp_logs(in, size, &r, why, sizeof why) == 0) {
            check(&r);
            sl_http_records one = {0};
            for (int i = 0; i < r.n; i++) {
                sl_http_records_reset(&one);
                const sl_poll_msg *m = &r.msg[i];
                if (sl_http_split(r.buf + m->off, m->len, true, &one, why, sizeof why) ||
                    one.n != 1 || one.msg[0].len != m->len ||
                    memcmp(one.buf, r.buf + m->off, m->len))
                    abort();
            }
            sl_http_records_free(&one);
        }
    } else {
        char *out = NULL;
        size_t n = 0, max = 1 << 20;
        int coding = mode == 3 ? SL_HTTP_GZIP : SL_HTTP_ZSTD;
        if (sl_http_decode(coding, in, size, max, &out, &n, why, sizeof why) == 0) {
            if (n > max || out[n]) abort();
            free(out);
        }
        if (sl_http_decode(SL_HTTP_IDENTITY, in, size, max, &out, &n, why, sizeof why) == 0) {
            if (n != size || memcmp(out, in, size)) abort();
            free(out);
        }
    }
    sl_http_records_free(&r);
    free(in);
    return 0;
}
