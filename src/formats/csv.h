/*
 * csv.h - CSV (RFC 4180) as a record reader and as a batch parser.
 *
 * Grammar (RFC 4180 with the usual relaxations): fields separated by a
 * one-byte delimiter (','), records by CRLF or LF (the last record of a
 * buffer may lack it in sl_csv); a field is either unquoted (any bytes but
 * the delimiter, '"' and LF; a '\r' just before the LF belongs to the line
 * ending) or double-quoted (may hold delimiters, CR, LF, and "" for one
 * quote). A UTF-8 BOM at the start is skipped. Empty lines are skipped (they
 * are not records with one empty field). Errors: a '"' inside an unquoted
 * field, anything but a delimiter or line ending after a closing quote, and
 * an unterminated quoted field.
 *
 * Two faces over one scanner:
 *  - sl_csv walks a whole in-memory buffer record by record (files of master
 *    data, lookups, tests).
 *  - sl_csv_parser turns complete records of a streaming read buffer into
 *    batch rows, like sl_json_parse_lines, mapping columns by header name.
 * Fields are views into the input whenever possible; only quoted fields
 * holding "" are unescaped into storage.
 */
#ifndef SL_FORMATS_CSV_H
#define SL_FORMATS_CSV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/batch.h"
#include "core/error.h"
#include "formats/infer.h"
#include "formats/record.h"

/* ---- record reader ---------------------------------------------------- */

typedef struct sl_csv sl_csv;

/* Reads records from buf[0..len) (not copied: it must outlive the reader). */
sl_csv *sl_csv_new(const char *buf, size_t len, char delim);
void sl_csv_free(sl_csv *c);
/* Next record: returns 1 and sets *fields / *n (views valid until the next
 * call; quoted fields with "" are unescaped into internal storage), 0 at end
 * of input, or SL_EPARSE with "line L, column C: <why>" in err (L and C
 * 1-based, C in bytes) for a quote inside an unquoted field, a character after
 * a closing quote, or an unterminated quoted field. After an error the reader
 * skips to the next line (for an unterminated quote: to the line after the
 * one where the record began) so the caller can quarantine and continue;
 * sl_csv_record_offset/line then describe the bad record. SL_ENOMEM if out of
 * memory. */
int sl_csv_next(sl_csv *c, sl_str **fields, int *n, sl_error *err);
int64_t sl_csv_record_offset(const sl_csv *c); /* byte offset where the last record began */
int sl_csv_record_line(const sl_csv *c);       /* 1-based line where it began */

/* ---- batch parser ----------------------------------------------------- */

typedef struct sl_csv_parser sl_csv_parser;

/* Records are parsed into the first schema->n columns of a batch. Columns are
 * matched to the header by name (exactly, else ignoring ASCII case; header
 * names are trimmed of spaces); header columns not in the schema are ignored,
 * schema columns not in the header stay NULL. */
sl_csv_parser *sl_csv_parser_new(const sl_schema *schema, char delim, sl_error *err);
void sl_csv_parser_free(sl_csv_parser *p);
/* Gives the header explicitly (e.g. when resuming in the middle of a file,
 * or for files without one). Returns 0 or SL_EINVAL. */
int sl_csv_parser_set_header(sl_csv_parser *p, const sl_str *names, int n, sl_error *err);
/* Reads the header from the first record of buf (a BOM is skipped). Returns
 * the bytes consumed (> 0), 0 if buf holds no complete record yet, or
 * SL_EPARSE with the reason in err. */
long sl_csv_parser_read_header(sl_csv_parser *p, const char *buf, size_t len, sl_error *err);
bool sl_csv_parser_has_header(const sl_csv_parser *p);
/* A record still open (inside quotes) after this many bytes is declared an
 * unterminated quoted field instead of waiting for more input (default 1 MiB). */
void sl_csv_parser_set_max_record(sl_csv_parser *p, size_t bytes);

/* Widening (schema evolution, formats/infer.h): with on, an int column
 * meeting a decimal number stops sl_csv_parse_lines just before that record,
 * with the column in sl_csv_parser_change's widened list (-> double),
 * instead of rejecting the record. */
void sl_csv_parser_set_widen(sl_csv_parser *p, bool on);
const sl_schema_change *sl_csv_parser_change(const sl_csv_parser *p); /* NULL: none */

/* Same contract as sl_json_parse_lines (json.h), for CSV: parses complete
 * records (ending in LF or CRLF outside quotes; a record may span lines
 * inside quotes) from buf[0..len), appends one row per good record, calls
 * bad() (may be NULL) for the others, skips empty lines, stops when b is
 * full or no complete record remains, and returns the bytes consumed (always
 * just after a line ending). If no header is set yet, the first record is
 * read as the header (consumed, not a row); a UTF-8 BOM at partition position
 * 0 is skipped. raw/pos of a row cover the whole record, line ending
 * excluded.
 * Casts, by column type (surrounding spaces are ignored except for strings):
 *   every type  an empty unquoted field is NULL
 *   STRING      the field as is (a quoted "" is the empty string)
 *   INT         [+-]digits within int64
 *   DOUBLE      decimal number with optional exponent, or nan/inf/infinity
 *   BOOL        true/false, t/f, yes/no, y/n, 1/0 (any case)
 *   TS          ISO 8601 (sl_time_parse_iso), or an integer = epoch ms
 * Bad records: a CSV syntax error ("quote inside an unquoted field at byte 7
 * of the record"), a wrong field count ("expected 5 fields, got 4"), or a bad
 * cast ("field 'x': expected int, got 'abc'"). */
size_t sl_csv_parse_lines(sl_csv_parser *p, const char *buf, size_t len, int32_t part,
                          int64_t base_pos, int64_t ingest_us, sl_batch *b, sl_bad_record_fn bad,
                          void *ud);

/* A decimal number, all of s: [+-]digits[.digits][(e|E)[+-]digits] (CSV
 * double cells and schema inference agree on what a number is). */
bool sl_decimal_syntax(const char *s, size_t n);

#endif
