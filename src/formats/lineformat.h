/*
 * lineformat.h - one door to every line-oriented record format.
 *
 * Sources and `sluice parse` pick a format by name; each format parses
 * complete lines into a batch with the same contract as sl_json_parse_lines
 * (see json.h): rows appended, bad lines handed to `bad` with a reason,
 * returns bytes consumed.
 *
 * CSV as a line format: records are lines (a quoted field may still span
 * lines within one buffer). With header: true, the first record of every
 * partition is its header, and headers are remembered per part id -- lines
 * of several files may arrive interleaved, each with its part id -- so each
 * file may order its columns differently. Identical headers are stored once.
 * A partition's "start" is base_pos 0: sources whose positions are not byte
 * offsets from the start of a stream (kafka, syslog: one message per line)
 * should use header: false.
 */
#ifndef SL_FORMATS_LINEFORMAT_H
#define SL_FORMATS_LINEFORMAT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/batch.h"
#include "core/error.h"
#include "formats/infer.h"
#include "formats/record.h"

typedef struct sl_line_format sl_line_format;

/* Options of the formats that need more than a schema. Zero = defaults. */
typedef struct sl_line_format_opts {
    const char *pattern; /* regex: PCRE2 pattern with named groups (required) */
    char delim;          /* csv: field delimiter, 0 = ',' */
    bool header;         /* csv: each partition (file) starts with a header row */
    /* csv without header: column names in file order (NULL: the schema's
     * columns in schema order) */
    const char *const *columns;
    int ncolumns;
    /* csv with header: reads the first bytes of a partition, for when reading
     * starts mid-partition (a restart from a saved position) and the header
     * was not seen (dir source: sl_dir_read_head). Returns bytes or < 0.
     * Without it such records are bad: "csv: header of this partition is
     * unknown (reading began at byte N)". */
    long (*read_head)(void *ud, int32_t part, char *buf, size_t cap);
    void *read_head_ud;
} sl_line_format_opts;

/* name: json | syslog (RFC 5424, RFC 3164 best effort) | logfmt | regex | csv
 * | nginx (combined access log, nginx.h; alias combined).
 * paths: json only (may be NULL). regex needs opts (pattern); csv without
 * opts reads a header at the start of every partition, ','-delimited. */
sl_line_format *sl_line_format_new(const char *name, const sl_schema *schema,
                                   const char *const *paths, sl_error *err);
sl_line_format *sl_line_format_new_opts(const char *name, const sl_schema *schema,
                                        const char *const *paths, const sl_line_format_opts *opts,
                                        sl_error *err);
size_t sl_line_format_parse(sl_line_format *f, const char *buf, size_t len, int32_t part,
                            int64_t base_pos, int64_t ingest_us, sl_batch *b, sl_bad_record_fn bad,
                            void *ud);
void sl_line_format_free(sl_line_format *f);

/* Schema evolution (formats/infer.h), json and csv only (others: no-op).
 * discover: a record with a field the schema lacks stops the parse before
 * it (json: a root key; csv: a header column, the parse stops before the
 * header of the file that has it). widen: an int column meeting a decimal
 * stops the parse before that record instead of rejecting it. After a parse,
 * sl_line_format_change says what stopped it (NULL: nothing). */
void sl_line_format_set_evolve(sl_line_format *f, bool discover, bool widen);
const sl_schema_change *sl_line_format_change(const sl_line_format *f);
/* json: string columns take any JSON value as its JSON text (numbers, bools,
 * objects, arrays), as sl_json_parser_set_lenient_strings. */
void sl_line_format_set_lenient_strings(sl_line_format *f, bool on);
/* "json|syslog|logfmt|regex|csv|nginx|combined" */
const char *sl_line_format_names(void);
/* The columns a syslog line provides, for a default schema. */
void sl_line_format_syslog_schema(sl_schema *s);
/* The columns a format provides when a pipeline gives no schema (syslog,
 * nginx/combined): fills s and returns true; false for formats without one. */
bool sl_line_format_default_schema(const char *name, sl_schema *s);

#endif
