/*
 * record.h - what every record format of src/formats/ shares: the callback
 * that receives the records that cannot become rows.
 *
 * Formats never drop a record silently: a line that is malformed, or whose
 * values break the schema's type rules, goes to this callback with the exact
 * bytes, where they came from and a reason a user can act on. The caller
 * (a source or the engine) routes it to quarantine.
 */
#ifndef SL_FORMATS_RECORD_H
#define SL_FORMATS_RECORD_H

#include <stddef.h>
#include <stdint.h>

/* Called for each record that cannot become a row. line/len is the record
 * without its line ending (a view valid only during the call), part and pos
 * its partition and position (base_pos + offset in the buffer), reason e.g.
 * "malformed JSON: TAPE_ERROR ..." or "field 'detection_oid': expected int,
 * got string". */
typedef void (*sl_bad_record_fn)(void *ud, const char *line, size_t len, int32_t part, int64_t pos,
                                 const char *reason);

#endif
