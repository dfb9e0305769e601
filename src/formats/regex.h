/*
 * regex.h - lines parsed by one PCRE2 regular expression with named groups
 * (Fluent Bit's and Vector's regex parsers, Logstash's grok without the
 * pattern library).
 *
 * Each named group fills the schema column of the same name, cast by the
 * column's type exactly as logfmt values are (sl_logfmt_cast: int, double,
 * bool, ISO 8601 or epoch-ms timestamps; STRING is a view into the line).
 * Groups that did not take part in the match, and columns without a group,
 * are NULL; groups without a column are ignored; with (?J) several groups may
 * share a name (the last one that matched wins).
 *
 * The pattern is compiled once and JIT-compiled when the platform allows
 * (pcre2_match then runs the JIT code, keeping the UTF validity checks that
 * pcre2_jit_match would skip). The search is unanchored, like grep: write
 * ^...$ to match whole lines. A match limit (1e6 backtracks, PCRE2's
 * default is 1e7) and a 1 MiB JIT stack keep one hostile line from stalling
 * the engine: such a line becomes a bad record, never a hang or a crash.
 */
#ifndef SL_FORMATS_REGEX_H
#define SL_FORMATS_REGEX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/batch.h"
#include "core/error.h"
#include "formats/record.h"

typedef struct sl_regex_parser sl_regex_parser;

/* Compiles pattern for the first schema->n columns of a batch. SL_EINVAL
 * (err: "regex: <why> at offset N", or no named group naming a column). */
sl_regex_parser *sl_regex_parser_new(const sl_schema *schema, const char *pattern, sl_error *err);
void sl_regex_parser_free(sl_regex_parser *p);
/* true if the pattern was JIT-compiled. */
bool sl_regex_parser_jit(const sl_regex_parser *p);
/* A schema of the pattern's named groups, all STRING, in group order (for
 * pipelines that give no schema). Returns 0 or SL_EINVAL. */
int sl_regex_schema(const char *pattern, sl_schema *out, sl_error *err);

/* Same contract as sl_json_parse_lines (json.h): complete lines of
 * buf[0..len) become rows, blank lines are skipped, a BOM at partition
 * position 0 is skipped, a CR before the LF is dropped, bad lines go to bad()
 * (may be NULL), stops when b is full or no complete line remains, returns
 * the bytes consumed. Bad records: "regex: no match", "regex: match limit
 * exceeded" (or another PCRE2 error), "field 'x': expected int, got 'abc'". */
size_t sl_regex_parse_lines(sl_regex_parser *p, const char *buf, size_t len, int32_t part,
                            int64_t base_pos, int64_t ingest_us, sl_batch *b, sl_bad_record_fn bad,
                            void *ud);

#endif
