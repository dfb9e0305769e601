/*
 * syslog.h - syslog messages (RFC 5424, and RFC 3164 best effort) as structs
 * of views and as batch rows.
 *
 * One message at a time, no framing: the caller splits lines (or RFC 6587
 * octet-counted frames) and hands over one message. The parser walks the
 * message once, left to right, and every field becomes a view into the
 * message bytes; the only bytes it writes are unescaped SD-PARAM values
 * (those holding \" \\ or \]), which go to scratch owned by the parser. The
 * scratch grows to the longest message seen and is then reused, so a stream
 * of messages costs no allocation.
 *
 * RFC 5424 (section 6), strictly:
 *   PRI        "<" 1-3 digits ">", no leading zero except "<0>", 0..191
 *   VERSION    1-3 digits, the first nonzero, then SP
 *   TIMESTAMP  "-" or FULL-DATE "T" FULL-TIME: YYYY-MM-DDThh:mm:ss, an
 *              optional fraction of 1..6 digits, then "Z" or +hh:mm / -hh:mm
 *              ('T' and 'Z' upper case). The date must exist (leap years:
 *              Feb 29 only in leap years), hour < 24, minute < 60, offset
 *              hour < 24 and minute < 60. A leap second (ss = 60) is accepted
 *              and read as hh:mm:59.999999 (no leap-second table; Sluice
 *              time is POSIX time). ts_us is UTC; tz_offset_min keeps the
 *              offset as written (-420 for -07:00, 0 for Z).
 *   HOSTNAME 1..255, APP-NAME 1..48, PROCID 1..128, MSGID 1..32 characters
 *              of PRINTUSASCII (33..126), each or "-" (NILVALUE: ptr NULL,
 *              len 0). A field such as "-x" is a value, not NILVALUE.
 *   STRUCTURED-DATA "-" or one or more [SD-ID *(SP PARAM-NAME="PARAM-VALUE")]
 *              with SD-ID and PARAM-NAME 1..32 PRINTUSASCII except '=', SP,
 *              ']' and '"'. In PARAM-VALUE \" \\ \] are unescaped; a
 *              backslash before any other character is kept literally, with
 *              that character (RFC 5424 6.3.3). PARAM-VALUE must be valid
 *              UTF-8. Lenient on purpose: an unescaped ']' inside the quotes
 *              is accepted (the quotes delimit the value unambiguously), and
 *              the same SD-ID twice in one message is kept as two elements.
 *   MSG        optional: after STRUCTURED-DATA either the end, or one SP and
 *              MSG (possibly empty). A UTF-8 BOM (EF BB BF) at its start is
 *              removed and msg_utf8_bom set. MSG bytes are not validated
 *              (MSG-ANY allows any octets). Absent MSG: ptr NULL, len 0;
 *              present but empty: ptr non-NULL, len 0.
 * Trailing CR and LF bytes are trimmed before parsing.
 *
 * Errors are SL_EPARSE with err->msg "column C: <reason>", C the 1-based
 * byte column in the message. C points at the first byte of the token that
 * is wrong when the token as a whole is wrong ("column 2: PRI 999 out of
 * range (0..191)", "column 12: bad TIMESTAMP: month 13"), and at the
 * offending byte when one byte is ("column 5: expected VERSION (a nonzero
 * digit)", "column 37: bad TIMESTAMP: more than 6 fraction digits",
 * "column 300: HOSTNAME longer than 255 characters").
 *
 * RFC 3164 (best effort, never an error): "<PRI>Mmm dd hh:mm:ss HOST
 * TAG[pid]: MSG". A missing or unreadable PRI means pri 13 (user.notice, RFC
 * 3164 4.3.3) and the whole message is read from the start. The year comes
 * from now_us: the current UTC year, or the year before if that would put the
 * message more than a day in the future (or on a Feb 29 that does not
 * exist). The time is taken as UTC (3164 has no zone; tz_offset_min = 0). An
 * RFC 3339 timestamp in place of "Mmm dd hh:mm:ss" is also accepted. Without
 * a timestamp there is no HOSTNAME (has_ts false; RFC 3164 4.3.2). The
 * first word is a TAG (-> app_name, with [pid] -> procid) when it ends in
 * ':' or "[pid]"; otherwise the word is HOSTNAME (when a timestamp was
 * found) and the next word is tried as the TAG. Whatever remains, after the
 * ": " that ends a TAG, is msg. version = 0.
 */
#ifndef SL_FORMATS_SYSLOG_H
#define SL_FORMATS_SYSLOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/batch.h"
#include "core/error.h"
#include "formats/record.h"

typedef struct sl_syslog_param {
    sl_str name, value; /* value unescaped */
} sl_syslog_param;

typedef struct sl_syslog_element {
    sl_str id;
    int first_param, nparams; /* params[first_param .. first_param + nparams) */
} sl_syslog_element;

typedef struct sl_syslog_msg {
    int pri, facility, severity;              /* facility = pri / 8, severity = pri % 8 */
    int version;                              /* 1 for 5424; 0 for 3164 */
    int64_t ts_us;                            /* UTC microseconds since the epoch */
    bool has_ts;                              /* NILVALUE (or no 3164 timestamp) -> false */
    int tz_offset_min;                        /* offset as written, minutes */
    sl_str hostname, app_name, procid, msgid; /* NILVALUE -> len 0 and ptr NULL */
    sl_syslog_element *sd;                    /* structured data; NILVALUE -> nsd 0 */
    int nsd;
    sl_syslog_param *params;
    int nparams;
    sl_str msg;        /* absent -> ptr NULL */
    bool msg_utf8_bom; /* BOM stripped from msg, flag set */
} sl_syslog_msg;

/* Owns the scratch for SD elements, params and unescaped values. */
typedef struct sl_syslog_parser sl_syslog_parser;

sl_syslog_parser *sl_syslog_parser_new(void);
void sl_syslog_parser_free(sl_syslog_parser *p);

/* Parses one RFC 5424 message. Returns 0, SL_EPARSE (err->msg "column C:
 * <reason>") or SL_ENOMEM. Views in *out point into `line` or into parser
 * scratch (unescaped SD values) and stay valid until the next call on p. */
int sl_syslog_parse_5424(sl_syslog_parser *p, const char *line, size_t len, sl_syslog_msg *out,
                         sl_error *err);
/* Parses one RFC 3164 message (best effort: always returns 0). */
int sl_syslog_parse_3164(sl_syslog_parser *p, const char *line, size_t len, int64_t now_us,
                         sl_syslog_msg *out, sl_error *err);
/* "<" 1-3 digits ">" VERSION SP ... -> RFC 5424 (so "<999>1 ..." is a 5424
 * error, not a 3164 message); anything else -> RFC 3164. */
int sl_syslog_parse(sl_syslog_parser *p, const char *line, size_t len, int64_t now_us,
                    sl_syslog_msg *out, sl_error *err);

/* Batch adapter, same contract as sl_json_parse_lines (json.h): complete
 * lines of buf[0..len) (LF or CRLF endings) become rows of b, blank lines are
 * skipped, a BOM at partition position 0 is skipped, bad lines go to bad()
 * (may be NULL) with reason "syslog: column C: ...", parsing stops when b is
 * full or no complete line remains, and the bytes consumed are returned
 * (always ending just after a '\n'). Each line is parsed by sl_syslog_parse
 * with now_us = ingest_us.
 *
 * Columns are found by name in b's schema, once per call; absent ones are
 * skipped:
 *   pri, facility, severity    int
 *   timestamp                  timestamp (NULL when NILVALUE)
 *   hostname, app_name, procid, msgid, msg   string (NULL when NILVALUE/absent)
 *   structured_data            string: the SD section as JSON
 *                              {"id":{"name":"value",...},...}; NULL when "-"
 *   sd.<SD-ID>.<PARAM-NAME>    e.g. "sd.origin.ip", "sd.exampleSDID@32473.eventID":
 *                              the value of that param (NULL when absent; the
 *                              last one wins if it repeats). The name is matched
 *                              as the whole string "sd." + id + "." + name.
 * A column of another type than listed receives the field's text cast by the
 * rules of sl_logfmt_cast (formats/logfmt.h): e.g. "pri" typed string gets
 * "34", "sd.origin.port" typed int gets 514, and a value that does not cast
 * makes the line a bad record ("syslog: field 'x': expected int, got 'abc'").
 * Strings are views into buf, except unescaped SD values and structured_data,
 * which are copied into b->arena. */
size_t sl_syslog_parse_lines(sl_syslog_parser *p, const char *buf, size_t len, int32_t part,
                             int64_t base_pos, int64_t ingest_us, sl_batch *b, sl_bad_record_fn bad,
                             void *ud);

#endif
