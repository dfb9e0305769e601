/*
 * json_write.h - one batch row as one JSON object (the NDJSON of lake
 * segments and HTTP/alert payloads).
 *
 * The output is always valid JSON that sl_json_parse_lines reads back into the
 * same values: keys are the column names, NULL is null, timestamps are ISO
 * 8601 strings with microseconds, doubles use "%.17g" (exact round trip) and
 * non-finite doubles become null, strings are escaped per RFC 8259 (", \ and
 * control characters; other bytes are copied, except that bytes which are not
 * valid UTF-8 are replaced by U+FFFD so the output is always valid JSON).
 */
#ifndef SL_FORMATS_JSON_WRITE_H
#define SL_FORMATS_JSON_WRITE_H

#include <stddef.h>
#include <stdint.h>

#include "core/batch.h"

/* Appends row r of b as one JSON object (columns in schema order, keys =
 * column names, NULL columns written as null, timestamps as ISO 8601 with
 * microseconds "2026-01-01T00:05:00.123456Z" via sl_time_format_iso_us,
 * doubles with "%.17g" but non-finite as null, strings escaped per RFC 8259)
 * to out. No trailing newline. `extra` (may be NULL) is appended verbatim
 * inside the object before the closing brace, e.g. ",\"_source\":\"f.ndjson\"".
 * Returns the length of the whole object, like snprintf: the output is
 * complete only if the result is < cap; a NUL is written after the output
 * (or at out[cap-1] when truncated) whenever cap > 0; nothing is ever written
 * at or past out + cap. */
size_t sl_json_write_row(const sl_batch *b, uint32_t r, const char *extra, char *out, size_t cap);

/* Appends s[0..len) as a JSON string (with the quotes), same rules and return
 * value as sl_json_write_row (no NUL is written). Exposed for writers of other
 * JSON shapes (alerts, HTTP answers). */
size_t sl_json_write_string(const char *s, size_t len, char *out, size_t cap);

/* Precomputed `,"name":` prefixes of a schema's columns, so writing many rows
 * of one schema does not escape the column names again for every row. */
typedef struct sl_json_keys {
    char *buf;
    int n;
    uint32_t off[SL_MAX_COLUMNS + 1];
} sl_json_keys;
int sl_json_keys_init(sl_json_keys *k, const sl_schema *s);
void sl_json_keys_fini(sl_json_keys *k);
/* As sl_json_write_row, with the keys of b's schema (made by sl_json_keys_init
 * for that schema) and the length of extra given. */
size_t sl_json_write_row_keys(const sl_batch *b, uint32_t r, const sl_json_keys *keys,
                              const char *extra, size_t extra_len, char *out, size_t cap);

#endif
