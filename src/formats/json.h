/*
 * json.h - NDJSON (one JSON object per line) into column batches.
 *
 * The parser is compiled once from a schema: each column gets a path, the
 * paths become a small tree, and every line is walked once with simdjson
 * On-Demand (json_simd.cc), reading only the values on those paths. When
 * every path is one top-level key (a flat schema, as most feeds have) and
 * stream mode is off, a line that is one flat object of plain ASCII keys and
 * scalar values is read by a strict one-pass reader in json.c instead, with
 * the same results (any other line, and every error, still goes through
 * simdjson, whose messages are the reference). Lines are
 * parsed in place in the caller's read buffer -- the buffer must have
 * SL_JSON_PADDING readable bytes after its end -- and string values without
 * escapes stay views into that buffer, so a row costs no copy and no malloc.
 * Optionally stage 1 of simdjson runs over windows of many lines at once
 * (stream mode, see sl_json_parser_set_stream); results never depend on it.
 *
 * Type rules (JSON value -> column type):
 *   any type      JSON null, or a key/path that is absent  -> NULL (not an error)
 *   SL_T_INT      a JSON integer within int64. A fraction or exponent (1.5,
 *                 1e3), an integer beyond int64, or any other JSON type
 *                 (including a string such as "42") is an error.
 *   SL_T_DOUBLE   any JSON number (integers are converted; integers too long
 *                 for 64 bits are read with strtod).
 *   SL_T_STRING   a JSON string, unescaped (\u00e9, surrogate pairs -> UTF-8).
 *                 Other types are an error, unless
 *                 sl_json_parser_set_lenient_strings(p, true): then a number,
 *                 bool, object or array becomes its raw JSON text (e.g. "12.50",
 *                 "true", "{\"a\":1}"), a view into the line.
 *   SL_T_BOOL     true or false. Anything else is an error.
 *   SL_T_TS       an ISO 8601 / RFC 3339 string (sl_time_parse_iso), or a JSON
 *                 integer = milliseconds since the Unix epoch. Other types, and
 *                 strings that are not valid timestamps, are errors.
 * A line that is not valid JSON, is valid JSON but not an object, or has
 * anything but whitespace after the object is a bad record. A path that meets
 * a scalar before its end (path "a.b", line {"a":5}) is absent, not an error.
 * Duplicate keys: the last occurrence wins.
 *
 * Validation depth (the On-Demand trade-off): the objects and arrays along
 * the schema's paths are checked in full, and so is every value that is read.
 * Values nobody asked for are skipped by bracket counting: their strings must
 * be closed and all bytes valid UTF-8, but a skipped `{"junk": tru}` is not
 * noticed. Rows never contain unchecked data.
 */
#ifndef SL_FORMATS_JSON_H
#define SL_FORMATS_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/batch.h"
#include "core/error.h"
#include "formats/infer.h"
#include "formats/record.h"

typedef struct sl_json_parser sl_json_parser;

/* Records are parsed into the first schema->n columns of a batch, in schema
 * order. paths[i] says where field i is found: NULL = the top-level key of
 * the same name; otherwise a dotted path "a.b.c" into nested objects
 * (arrays: "a.0.b"). paths itself may be NULL (all top-level). Two columns may
 * share a path. A path may not be both a field and the prefix of another
 * path ("a" and "a.b"): SL_EINVAL. Returns NULL with err set on a bad path. */
sl_json_parser *sl_json_parser_new(const sl_schema *schema, const char *const *paths,
                                   sl_error *err);
void sl_json_parser_free(sl_json_parser *p);

/* Non-string JSON values become their raw JSON text in string columns. */
void sl_json_parser_set_lenient_strings(sl_json_parser *p, bool on);
/* Stream mode (default off; experimental): simdjson's stage 1 runs over
 * windows of up to 64 KiB of lines (iterate_many) instead of once per line.
 * Results are identical either way -- lines the stream cannot vouch for are
 * re-parsed alone, and tests and fuzz_json compare both modes -- but the gain
 * measured so far is uncertain (up to ~1.6x on clean short lines, a loss on
 * input with a few percent malformed lines), so line by line stays the
 * default until it is measured on a quiet machine. */
void sl_json_parser_set_stream(sl_json_parser *p, bool on);

/* Schema discovery (schema evolution, see formats/infer.h). With discover
 * on, a line whose root object has a key that is not a top-level field of
 * the schema (and whose value is not null) stops the parse just before that
 * line: sl_json_parse_lines returns the bytes up to it, and
 * sl_json_parser_change lists the new keys with a first guess of their
 * type. Keys that cannot be column names (not identifiers, too long, past
 * SL_MAX_COLUMNS) are ignored and remembered, so they cost one hash lookup.
 * With widen on, an int column meeting a fraction (or an integer beyond
 * int64) stops the parse the same way, with the column in the change's
 * widened list (-> double), instead of rejecting the line. */
void sl_json_parser_set_discover(sl_json_parser *p, bool on);
void sl_json_parser_set_widen(sl_json_parser *p, bool on);
/* The change that stopped the last sl_json_parse_lines, or NULL. */
const sl_schema_change *sl_json_parser_change(const sl_json_parser *p);

/* Lines that cannot become rows go to an sl_bad_record_fn (formats/record.h):
 * reason is e.g. "malformed JSON: TAPE_ERROR at byte 17: ..." or
 * "field 'detection_oid': expected int, got string". */

#define SL_JSON_PADDING 64 /* bytes that must be readable after buf + len */

/* Parses complete lines (ending in '\n'; a "\r\n" ending is accepted and the
 * '\r' is not part of the record) from buf[0..len). For each non-blank line:
 * on success appends a row to b (b->part[i] = part, b->pos[i] = base_pos +
 * offset of the line in buf, b->raw[i] = view of the line without its line
 * ending, b->ingest[i] = ingest_us, and the columns); otherwise calls bad()
 * (bad may be NULL: the line is then dropped silently). Blank lines (only
 * spaces, tabs, '\r') are skipped silently. A UTF-8 BOM at position 0 of the
 * partition (base_pos + offset == 0) is skipped.
 * Stops when b->n == b->cap or no complete line remains. Returns the number of
 * bytes consumed (always ending just after a '\n'), so the caller can resume
 * at buf + returned; a partial last line is never consumed (at end of file,
 * the caller appends the missing '\n').
 * Strings in rows are views into buf when they have no escapes, else
 * unescaped copies in b->arena.
 * b's first p-schema->n columns must have the parser schema's types. */
size_t sl_json_parse_lines(sl_json_parser *p, const char *buf, size_t len, int32_t part,
                           int64_t base_pos, int64_t ingest_us, sl_batch *b, sl_bad_record_fn bad,
                           void *ud);

#endif
