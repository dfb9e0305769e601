/*
 * infer.h - schema inference from a sample of records (JSON, CSV), and the
 * description of a schema change that a parser found mid-stream.
 *
 * The idea (Auto Loader's schema inference, made deterministic): every value
 * of a field in the sample is classified (null, bool, int, double, string,
 * string that is an ISO 8601 time, nested object/array), and the field gets
 * the narrowest type that holds every value it had:
 *
 *   only bools                        -> bool
 *   only integers                     -> int
 *   integers and/or fractions         -> double   (int widens to double)
 *   only strings, each an ISO 8601 time (and at least one) -> timestamp
 *   anything else (mixed kinds, objects, arrays, only nulls) -> string
 *
 * Schema hints (`schema_hints: {field: type}`) override the inferred type
 * and declare fields the sample may not have. Columns keep the order in
 * which their fields were first seen; hinted fields never seen go last.
 * Field names that cannot be column names (not identifiers, or longer than
 * SL_NAME_MAX - 1) are left out; the caller documents that.
 *
 * CSV values are text: an empty field is null, true/false (any case) is a
 * bool, then int, double, ISO 8601 time, else string.
 */
#ifndef SL_FORMATS_INFER_H
#define SL_FORMATS_INFER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/batch.h"
#include "core/error.h"

/* A schema change found while parsing (json.h, lineformat.h): fields of the
 * input that the schema does not have, and columns whose type a value did not
 * fit but could widen to. The parse that found it stopped just before the
 * record holding it, so the caller can change the schema and resume there. */
typedef struct sl_schema_change {
    int nadded;
    sl_field added[SL_MAX_COLUMNS]; /* type: a first guess from that record's value */
    int nwidened;
    int widened[SL_MAX_COLUMNS]; /* column index in the parser's schema */
    sl_type widened_to[SL_MAX_COLUMNS];
} sl_schema_change;

typedef enum sl_infer_kind {
    SL_IK_NULL,
    SL_IK_BOOL,
    SL_IK_INT,
    SL_IK_DOUBLE,
    SL_IK_STRING, /* s/slen given: checked for an ISO 8601 time */
    SL_IK_NESTED  /* object or array */
} sl_infer_kind;

typedef struct sl_infer sl_infer;

sl_infer *sl_infer_new(void);
void sl_infer_free(sl_infer *in);
/* One value of field name[0..nlen). */
void sl_infer_observe(sl_infer *in, const char *name, size_t nlen, sl_infer_kind kind,
                      const char *s, size_t slen);
/* One text value (CSV rules above). */
void sl_infer_observe_text(sl_infer *in, const char *name, size_t nlen, const char *s, size_t slen);

/* Reads up to max_records more NDJSON records from the complete lines of
 * buf[0..len) (64 readable bytes must follow buf + len). Lines that are not
 * JSON objects are skipped (and counted as records). Returns bytes read. */
size_t sl_infer_json(sl_infer *in, const char *buf, size_t len, int64_t max_records);
/* Reads up to max_records more CSV records from buf[0..len), one file's worth:
 * with header, its first record names the columns; without, names[0..nnames)
 * do (or col1, col2, ...). Returns bytes read. */
size_t sl_infer_csv(sl_infer *in, const char *buf, size_t len, char delim, bool header,
                    const char *const *names, int nnames, int64_t max_records);
int64_t sl_infer_records(const sl_infer *in);

/* The inferred type of one field, or -1 if it was never seen. */
int sl_infer_type(const sl_infer *in, const char *name);
/* Resolves the schema (see the file comment). hints may be NULL. Returns 0 or
 * SL_EINVAL when more than SL_MAX_COLUMNS columns would result. */
int sl_infer_schema(const sl_infer *in, const sl_schema *hints, sl_schema *out, sl_error *err);

/* A schema as one line of JSON, {"name":"type",...} in column order, and
 * back. Returns the length written (truncated at cap), or 0 / SL_EPARSE. */
int sl_schema_to_json(const sl_schema *s, char *out, size_t cap);
int sl_schema_from_json(const char *json, sl_schema *out, sl_error *err);

#endif
