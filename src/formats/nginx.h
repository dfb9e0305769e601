/*
 * nginx.h - the combined access log of nginx and Apache, with nginx's
 * optional trailing $request_time:
 *
 *   $remote_addr - $remote_user [$time_local] "$request" $status
 *   $body_bytes_sent "$http_referer" "$http_user_agent" [$request_time]
 *
 * Columns (the schema names any subset, by these names; a name the format
 * does not know is refused when the parser is made):
 *   remote_addr string, remote_user string, time timestamp (a string column
 *   keeps the text), method string, path string (the request target as
 *   sent, query included: url_path() cuts it), protocol string, request
 *   string (the whole request line), status int, bytes int, referer string,
 *   user_agent string, request_time double (seconds).
 * "-" is NULL for remote_user, bytes, referer, user_agent and request_time.
 * A request that is not "METHOD TARGET PROTOCOL" (what scanners send: "-",
 * binary, "GET /" of HTTP/0.9) keeps the line: method, path and protocol are
 * what could be split off (HTTP/0.9: protocol NULL; else all three NULL) and
 * request has it all. Text after the user agent that is not a number is
 * ignored (configs that log more fields after it); a number there is the
 * request time.
 *
 * Parsing is a hand-written scan (no regex): fields are views into the line,
 * the time is read by a fixed-layout reader ("07/Dec/2026:06:25:24 +0100").
 * Bad lines ("nginx: ...") go to the bad-record callback with the reason.
 */
#ifndef SL_FORMATS_NGINX_H
#define SL_FORMATS_NGINX_H

#include <stddef.h>
#include <stdint.h>

#include "core/batch.h"
#include "core/error.h"
#include "formats/record.h"

typedef struct sl_nginx_parser sl_nginx_parser;

/* For the first schema->n columns of a batch. SL_EINVAL for a column name the
 * format does not provide. */
sl_nginx_parser *sl_nginx_parser_new(const sl_schema *schema, sl_error *err);
void sl_nginx_parser_free(sl_nginx_parser *p);
/* The format's columns with their types (for pipelines without a schema). */
void sl_nginx_schema(sl_schema *s);
/* Same contract as sl_json_parse_lines (json.h). */
size_t sl_nginx_parse_lines(sl_nginx_parser *p, const char *buf, size_t len, int32_t part,
                            int64_t base_pos, int64_t ingest_us, sl_batch *b, sl_bad_record_fn bad,
                            void *ud);

#endif
