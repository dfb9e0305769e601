/*
 * fuzz_syslog.c - libFuzzer target for the syslog parsers (RFC 5424, RFC
 * 3164, auto-detection) and their batch adapter.
 *
 * The input (after one option byte) is copied into a heap buffer of exactly
 * its size, so ASan catches any read past the message. Checked on every input:
 *  - the whole input as one message, through all three entry points: every
 *    view lies inside the message (or, for unescaped SD values, is readable:
 *    all views are read), numeric fields are in range, 5424 field length
 *    limits hold, SD element/param indexes are consistent, and an error
 *    names a column within the message (1 .. len + 1);
 *  - a 5424 message that parses is written back (SD values re-escaped,
 *    TIMESTAMP as "-") and parses again into the same fields;
 *  - the input as lines through sl_syslog_parse_lines with a schema holding
 *    every column plus sd.* columns of several types: progress, whole lines
 *    consumed, raw views inside the buffer.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/batch.h"
#include "formats/syslog.h"

static sl_syslog_parser *P, *P2;
static sl_batch *batch;
static volatile unsigned sink;

static void init(void) {
    P = sl_syslog_parser_new();
    P2 = sl_syslog_parser_new();
    sl_schema s;
    sl_schema_init(&s);
    sl_schema_add(&s, "pri", SL_T_INT);
    sl_schema_add(&s, "facility", SL_T_INT);
    sl_schema_add(&s, "severity", SL_T_STRING);
    sl_schema_add(&s, "timestamp", SL_T_TS);
    sl_schema_add(&s, "hostname", SL_T_STRING);
    sl_schema_add(&s, "app_name", SL_T_STRING);
    sl_schema_add(&s, "procid", SL_T_INT);
    sl_schema_add(&s, "msgid", SL_T_STRING);
    sl_schema_add(&s, "msg", SL_T_STRING);
    sl_schema_add(&s, "structured_data", SL_T_STRING);
    sl_schema_add(&s, "sd.a.b", SL_T_STRING);
    sl_schema_add(&s, "sd.a.n", SL_T_INT);
    sl_schema_add(&s, "sd.x@1.t", SL_T_TS);
    sl_schema_add(&s, "sd.x@1.d", SL_T_DOUBLE);
    sl_schema_add(&s, "sd.", SL_T_STRING);
    batch = sl_batch_new(&s, 64);
}

static void touch(sl_str v) {
    for (uint32_t k = 0; k < v.len; k++)
        sink += (unsigned char)v.ptr[k];
}

static void inside(const char *line, size_t len, sl_str v) {
    if (!v.ptr) {
        if (v.len) abort();
        return;
    }
    if (v.ptr < line || v.ptr + v.len > line + len) abort();
}

static void check_msg(const char *line, size_t len, const sl_syslog_msg *m, int v5424) {
    if (m->pri < 0 || m->pri > 191 || m->facility != m->pri / 8 || m->severity != m->pri % 8)
        abort();
    inside(line, len, m->hostname);
    inside(line, len, m->app_name);
    inside(line, len, m->procid);
    inside(line, len, m->msgid);
    inside(line, len, m->msg);
    if (m->nsd < 0 || m->nparams < 0 || (m->nsd && !m->sd) || (m->nparams && !m->params)) abort();
    int next = 0;
    for (int e = 0; e < m->nsd; e++) {
        const sl_syslog_element *el = &m->sd[e];
        inside(line, len, el->id);
        if (el->id.len < 1 || el->id.len > 32 || el->first_param != next || el->nparams < 0)
            abort();
        next += el->nparams;
        for (int k = 0; k < el->nparams; k++) {
            const sl_syslog_param *q = &m->params[el->first_param + k];
            inside(line, len, q->name);
            if (q->name.len < 1 || q->name.len > 32) abort();
            touch(q->value);
            if (q->value.len > len) abort();
        }
    }
    if (next != m->nparams) abort();
    if (v5424) {
        if (m->version < 1 || m->version > 999) abort();
        if (m->hostname.len > 255 || m->app_name.len > 48 || m->procid.len > 128 ||
            m->msgid.len > 32)
            abort();
        if (m->tz_offset_min < -1439 || m->tz_offset_min > 1439) abort();
    } else if (m->version != 0) {
        abort();
    }
}

static void check_err(int rc, const sl_error *err, size_t len) {
    if (rc != SL_EPARSE) abort();
    unsigned long col;
    if (sscanf(err->msg, "column %lu: ", &col) != 1 || col < 1 || col > len + 1) abort();
}

static size_t put(char *o, const char *s, size_t n) {
    memcpy(o, s, n);
    return n;
}

static void same(sl_str a, sl_str b) {
    if ((a.ptr == NULL) != (b.ptr == NULL) || a.len != b.len ||
        (a.len && memcmp(a.ptr, b.ptr, a.len)))
        abort();
}

/* Writes m back as RFC 5424 (TIMESTAMP "-") and parses it again. */
static void roundtrip(const sl_syslog_msg *m, size_t len) {
    char *o = malloc(len * 2 + 64), *w = o;
    w += sprintf(w, "<%d>%d - ", m->pri, m->version);
    const sl_str *f[4] = {&m->hostname, &m->app_name, &m->procid, &m->msgid};
    for (int k = 0; k < 4; k++) {
        w += f[k]->ptr ? put(w, f[k]->ptr, f[k]->len) : put(w, "-", 1);
        *w++ = ' ';
    }
    if (!m->nsd) *w++ = '-';
    for (int e = 0; e < m->nsd; e++) {
        *w++ = '[';
        w += put(w, m->sd[e].id.ptr, m->sd[e].id.len);
        for (int k = 0; k < m->sd[e].nparams; k++) {
            const sl_syslog_param *q = &m->params[m->sd[e].first_param + k];
            *w++ = ' ';
            w += put(w, q->name.ptr, q->name.len);
            *w++ = '=';
            *w++ = '"';
            for (uint32_t i = 0; i < q->value.len; i++) {
                char c = q->value.ptr[i];
                if (c == '"' || c == '\\' || c == ']') *w++ = '\\';
                *w++ = c;
            }
            *w++ = '"';
        }
        *w++ = ']';
    }
    if (m->msg.ptr) {
        *w++ = ' ';
        if (m->msg_utf8_bom) w += put(w, "\xEF\xBB\xBF", 3);
        w += put(w, m->msg.ptr, m->msg.len);
    }
    size_t n = (size_t)(w - o);
    /* trailing CR/LF of the MSG would be trimmed: compare only when absent */
    bool trims = n && (o[n - 1] == '\r' || o[n - 1] == '\n');
    sl_syslog_msg r;
    sl_error err;
    int rc = sl_syslog_parse_5424(P2, o, n, &r, &err);
    if (rc != 0) {
        fprintf(stderr, "roundtrip failed: %s\n[%.*s]\n", err.msg, (int)n, o);
        abort();
    }
    if (r.pri != m->pri || r.version != m->version || r.has_ts || r.nsd != m->nsd ||
        r.nparams != m->nparams)
        abort();
    for (int k = 0; k < 4; k++) {
        const sl_str *g[4] = {&r.hostname, &r.app_name, &r.procid, &r.msgid};
        same(*g[k], *f[k]);
    }
    for (int e = 0; e < m->nsd; e++) {
        same(r.sd[e].id, m->sd[e].id);
        if (r.sd[e].nparams != m->sd[e].nparams) abort();
    }
    for (int k = 0; k < m->nparams; k++) {
        same(r.params[k].name, m->params[k].name);
        same(r.params[k].value, m->params[k].value);
    }
    if (!trims) {
        same(r.msg, m->msg);
        if (r.msg_utf8_bom != m->msg_utf8_bom) abort();
    }
    free(o);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!P) init();
    if (size < 1) return 0;
    int opt = data[0];
    data++, size--;
    char *buf = malloc(size ? size : 1);
    if (!buf) return 0;
    memcpy(buf, data, size);
    const int64_t now =
        (int64_t)(opt & 0x7f) * 86400LL * 1000000 * 200; /* 0 .. ~70 years after 1970 */

    /* whole input as one message */
    sl_syslog_msg m;
    sl_error err;
    size_t tl = size;
    while (tl && (buf[tl - 1] == '\n' || buf[tl - 1] == '\r'))
        tl--;
    int rc = sl_syslog_parse_5424(P, buf, size, &m, &err);
    if (rc == 0) {
        check_msg(buf, size, &m, 1);
        roundtrip(&m, size);
    } else {
        check_err(rc, &err, tl);
    }
    rc = sl_syslog_parse_3164(P, buf, size, now, &m, &err);
    if (rc != 0) abort();
    check_msg(buf, size, &m, 0);
    rc = sl_syslog_parse(P, buf, size, now, &m, &err);
    if (rc == 0)
        check_msg(buf, size, &m, m.version != 0);
    else
        check_err(rc, &err, tl);

    /* as lines through the batch adapter */
    uint32_t cap = (uint32_t)(1 + ((opt >> 1) & 7));
    if (opt & 0x40) cap = 64;
    size_t off = 0;
    while (off < size) {
        sl_batch_clear(batch);
        batch->cap = cap;
        size_t used = sl_syslog_parse_lines(P, buf + off, size - off, 0, (int64_t)off, now, batch,
                                            NULL, NULL);
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
