/*
 * http_body.h - the bodies the `http` source accepts, turned into records.
 *
 * Pure functions over bytes (no sockets, no engine), so they are unit tested
 * and fuzzed on their own:
 *   decode   Content-Encoding gzip (zlib) or zstd, bounded: the decoded body
 *            may not exceed max bytes (a small bomb cannot blow up memory);
 *   split    a body into records laid end to end, one line each, as the
 *            engine's parse_msgs takes them (sources/poll.h): for the json
 *            format NDJSON, one JSON value (pretty-printed or not), a JSON
 *            array of values, or values separated by whitespace; for every
 *            other format the body's lines;
 *   otlp     an OTLP/HTTP JSON logs export (ExportLogsServiceRequest) into
 *            one flat JSON object per logRecord.
 * A record never holds '\n' or '\r' (a pretty-printed value has them turned
 * into spaces, which JSON ignores outside strings and forbids inside them).
 */
#ifndef SL_SOURCES_HTTP_BODY_H
#define SL_SOURCES_HTTP_BODY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sources/poll.h"

enum { SL_HTTP_IDENTITY, SL_HTTP_GZIP, SL_HTTP_ZSTD };

/* The Content-Encoding header's coding (NULL, "", "identity", "gzip",
 * "x-gzip", "zstd"), or -1 for one we do not take (415). */
int sl_http_encoding(const char *header);

/* Decodes in[0..len) into *out (malloc'd, NUL-terminated, with 64 zero
 * bytes of padding after it; the caller frees). Returns 0; 413 when the
 * decoded body would exceed max bytes; 400 with why filled when the data is
 * not valid for the coding. */
int sl_http_decode(int coding, const char *in, size_t len, size_t max, char **out, size_t *outlen,
                   char *why, size_t cap);

/* Records laid end to end: record i is buf[msg[i].off, +msg[i].len),
 * followed by '\n'; buf keeps SL_HTTP_PADDING zero bytes after the last
 * one. msg[i].part is 0 and msg[i].pos is i (the caller sets both). */
typedef struct sl_http_records {
    char *buf;
    size_t len, cap;
    sl_poll_msg *msg;
    int n, ncap;
} sl_http_records;

#define SL_HTTP_PADDING 64

void sl_http_records_reset(sl_http_records *r);
void sl_http_records_free(sl_http_records *r);
/* Appends one record (its '\n' and '\r' become spaces). */
void sl_http_records_add(sl_http_records *r, const char *p, size_t n);

/* Splits body into records (appended to out). json: the json format's
 * shapes above; else lines (empty lines skipped, a '\r' before '\n'
 * dropped). Returns 0, or 400 with why ("JSON array: element 3 is not
 * closed") when the body's structure is broken (a JSON array that does not
 * end, bytes after it): nothing of it is taken then. A value that is merely
 * not valid JSON is still a record: the format quarantines it. */
int sl_http_split(const char *body, size_t len, bool json, sl_http_records *out, char *why,
                  size_t cap);

/* An OTLP/HTTP JSON logs export into one JSON object per logRecord
 * (appended to out), with the keys
 *   time             timeUnixNano (observedTimeUnixNano when 0 or absent),
 *                    ISO 8601 with microseconds
 *   severity_number, severity_text, body (a string; other AnyValues as
 *                    their JSON text), trace_id, span_id (hex), scope_name
 *   attributes       of the logRecord, then of its resource (a name in both
 *                    keeps the logRecord's), each named by its key with
 *                    every character other than [A-Za-z0-9_] turned into
 *                    '_' (service.name -> service_name); string, bool and
 *                    double values as they are, intValue as a number,
 *                    arrays, kvlists and bytes as their JSON text.
 * Returns 0, or 400 with why when the document is not an export request. */
int sl_http_otlp_logs(const char *body, size_t len, sl_http_records *out, char *why, size_t cap);

#endif
