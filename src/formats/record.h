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

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* Called for each record that cannot become a row. line/len is the record
 * without its line ending (a view valid only during the call), part and pos
 * its partition and position (base_pos + offset in the buffer), reason e.g.
 * "malformed JSON: TAPE_ERROR ..." or "field 'detection_oid': expected int,
 * got string". */
typedef void (*sl_bad_record_fn)(void *ud, const char *line, size_t len, int32_t part, int64_t pos,
                                 const char *reason);

/* The line formats' reading loop: the next complete line of buf[0..len)
 * from *off (a line ends with '\n'; an unterminated tail is left for the next
 * read). Sets *line and *ll to it without "\n" or "\r\n", *pos to base_pos plus
 * its offset, and skips a UTF-8 BOM at the start of the partition (pos 0);
 * advances *off past the newline. False when no complete line is left. */
static inline bool sl_next_line(const char *buf, size_t len, size_t *off, int64_t base_pos,
                                const char **line, size_t *ll, int64_t *pos) {
    if (*off >= len) return false;
    const char *l = buf + *off;
    const char *nl = memchr(l, '\n', len - *off);
    if (!nl) return false;
    size_t n = (size_t)(nl - l);
    if (n && l[n - 1] == '\r') n--;
    *pos = base_pos + (int64_t)*off;
    if (*pos == 0 && n >= 3 && memcmp(l, "\xEF\xBB\xBF", 3) == 0) {
        l += 3;
        n -= 3;
    }
    *off = (size_t)(nl - buf) + 1;
    *line = l;
    *ll = n;
    return true;
}

/* A line of only spaces, tabs and carriage returns (skipped, never a record). */
static inline bool sl_line_is_blank(const char *s, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r') return false;
    return true;
}

#endif
