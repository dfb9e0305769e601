/*
 * logfmt.h - logfmt lines (key=value pairs, as written by Heroku, go-kit,
 * logrus and Grafana Loki) into column batches.
 *
 * Grammar, one record per line:
 *   line  = *( *WS pair ) *WS          WS = SP or TAB
 *   pair  = key [ "=" [ value ] ]
 *   key   = 1*( any byte > SP except '=' and '"' )
 *   value = bare / quoted
 *   bare  = 1*( any byte > SP )        (may hold '=' and '"': "q=a=b" is q -> "a=b")
 *   quoted = '"' *( char / escape ) '"', followed by WS or the end
 *   escape = \" \\ \n \t \r \/ \b \f and \uXXXX (surrogate pairs -> UTF-8);
 *            a backslash before anything else is kept literally.
 * A key without '=' is boolean true. Errors: an unterminated quoted value,
 * a byte other than WS after a closing quote, a '"' in a key, and "=value"
 * with no key.
 *
 * The parser is built once from a schema, with a small hash table from
 * column name to index, so a line costs one hash per key and no allocation:
 * values without escapes are views into the line, escaped ones are unescaped
 * into the batch's arena. Keys not in the schema are ignored; a key that
 * repeats: the last one wins.
 */
#ifndef SL_FORMATS_LOGFMT_H
#define SL_FORMATS_LOGFMT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/batch.h"
#include "core/error.h"
#include "formats/record.h"

/* Casts text s[0..len) into row r of column c by c's type:
 *   STRING  s as is (a view: s must outlive the row)
 *   INT     [+-]digits within int64
 *   DOUBLE  decimal number with optional fraction and exponent, or
 *           nan / inf / infinity (any case, optional sign)
 *   BOOL    true/false, t/f, yes/no, y/n, 1/0 (any case)
 *   TS      ISO 8601 / RFC 3339 (sl_time_parse_iso), or an integer = epoch ms
 * Empty text is NULL for every type but STRING. Returns 0, or SL_ETYPE (the
 * row is left NULL). Shared by the logfmt and syslog batch adapters. */
int sl_logfmt_cast(sl_column *c, uint32_t r, const char *s, size_t len);

typedef struct sl_logfmt_pair {
    sl_str key, value; /* value unescaped */
    bool has_value;    /* false for a bare key (boolean true) */
} sl_logfmt_pair;

typedef struct sl_logfmt_parser sl_logfmt_parser;

/* Columns are the first schema->n columns of a batch, matched to keys by
 * exact name. Returns NULL on out of memory (err set). */
sl_logfmt_parser *sl_logfmt_parser_new(const sl_schema *schema, sl_error *err);
void sl_logfmt_parser_free(sl_logfmt_parser *p);

/* Splits one line (no line ending) into pairs, in order. *pairs points into
 * parser scratch, valid until the next call; values are views into line or
 * into scratch (unescaped). Returns 0, SL_EPARSE (err->msg "column C:
 * <reason>", C 1-based) or SL_ENOMEM. */
int sl_logfmt_parse(sl_logfmt_parser *p, const char *line, size_t len, sl_logfmt_pair **pairs,
                    int *npairs, sl_error *err);

/* Same contract as sl_json_parse_lines (json.h): complete lines of
 * buf[0..len) become rows, blank lines are skipped, a BOM at partition
 * position 0 is skipped, bad lines go to bad() (may be NULL), stops when b is
 * full or no complete line remains, returns the bytes consumed. Values are
 * cast by sl_logfmt_cast; a bare key is true for a BOOL column and the text
 * "true" for others. Bad records: "logfmt: column C: unterminated quoted
 * value" or "field 'x': expected int, got 'abc'". */
size_t sl_logfmt_parse_lines(sl_logfmt_parser *p, const char *buf, size_t len, int32_t part,
                             int64_t base_pos, int64_t ingest_us, sl_batch *b, sl_bad_record_fn bad,
                             void *ud);

#endif
