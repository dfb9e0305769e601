/*
 * lineformat.h - one door to every line-oriented record format.
 *
 * Sources and `sluice parse` pick a format by name; each format parses
 * complete lines into a batch with the same contract as sl_json_parse_lines
 * (see json.h): rows appended, bad lines handed to `bad` with a reason,
 * returns bytes consumed.
 */
#ifndef SL_FORMATS_LINEFORMAT_H
#define SL_FORMATS_LINEFORMAT_H

#include "core/batch.h"
#include "core/error.h"
#include "formats/record.h"

typedef struct sl_line_format sl_line_format;

/* name: json | syslog (RFC 5424, RFC 3164 best effort) | logfmt.
 * paths: json only (may be NULL). */
sl_line_format *sl_line_format_new(const char *name, const sl_schema *schema, const char *const *paths,
                                   sl_error *err);
size_t sl_line_format_parse(sl_line_format *f, const char *buf, size_t len, int32_t part, int64_t base_pos,
                            int64_t ingest_us, sl_batch *b, sl_bad_record_fn bad, void *ud);
void sl_line_format_free(sl_line_format *f);
/* "json|syslog|logfmt" */
const char *sl_line_format_names(void);
/* The columns a syslog line provides, for a default schema. */
void sl_line_format_syslog_schema(sl_schema *s);

#endif
