/* test_syslog.c - unit tests for formats/syslog.h: the four examples of RFC
 * 5424 section 6.5 with every field checked, SD-PARAM escapes, NILVALUE in
 * each field, fractions of 1..6 digits, offsets, leap years and leap
 * seconds, BOM and empty MSG, malformed messages with the exact column, the
 * RFC 3164 examples of section 5.4 and year inference, real `logger`
 * output (a captured line, and a live run when util-linux logger works),
 * and the batch adapter: columns by name, structured_data JSON, sd.<id>.<name>
 * columns with casts, bad records, blank and partial lines. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "core/batch.h"
#include "core/timeutil.h"
#include "formats/syslog.h"
#include "../unit_skip.h"

#define US(s) ((int64_t)(s)*SL_US_PER_SEC)

static sl_syslog_parser *P;

static int setup(void **state) {
    (void)state;
    P = sl_syslog_parser_new();
    return P ? 0 : -1;
}

static int teardown(void **state) {
    (void)state;
    sl_syslog_parser_free(P);
    return 0;
}

static void ok5424(const char *line, sl_syslog_msg *m) {
    sl_error err = {0};
    int rc = sl_syslog_parse_5424(P, line, strlen(line), m, &err);
    if (rc != 0) fail_msg("unexpected error for [%s]: %s", line, err.msg);
}

static void err5424(const char *line, const char *want) {
    sl_error err = {0};
    sl_syslog_msg m;
    int rc = sl_syslog_parse_5424(P, line, strlen(line), &m, &err);
    if (rc != SL_EPARSE) fail_msg("expected an error for [%s]", line);
    assert_int_equal(err.code, SL_EPARSE);
    assert_string_equal(err.msg, want);
}

static void str_eq(sl_str s, const char *want) {
    if (!want) {
        assert_null(s.ptr);
        assert_int_equal(s.len, 0);
        return;
    }
    assert_non_null(s.ptr);
    if (s.len != strlen(want) || memcmp(s.ptr, want, s.len) != 0)
        fail_msg("got [%.*s], want [%s]", (int)s.len, s.ptr, want);
}

/* SD as "[id a=v b=v][id2 c=w]" for compact comparisons. */
static const char *sd_text(const sl_syslog_msg *m) {
    static char out[1024];
    size_t n = 0;
    out[0] = 0;
    for (int e = 0; e < m->nsd; e++) {
        const sl_syslog_element *el = &m->sd[e];
        n += (size_t)snprintf(out + n, sizeof out - n, "[%.*s", (int)el->id.len, el->id.ptr);
        for (int k = 0; k < el->nparams; k++) {
            const sl_syslog_param *q = &m->params[el->first_param + k];
            n += (size_t)snprintf(out + n, sizeof out - n, " %.*s=%.*s", (int)q->name.len,
                                  q->name.ptr, (int)q->value.len, q->value.ptr);
        }
        n += (size_t)snprintf(out + n, sizeof out - n, "]");
    }
    return out;
}

/* ---- RFC 5424 section 6.5 ---------------------------------------------- */

static void test_rfc5424_example1(void **state) {
    (void)state;
    sl_syslog_msg m;
    ok5424("<34>1 2003-10-11T22:14:15.003Z mymachine.example.com su - ID47 - "
           "\xEF\xBB\xBF'su root' failed for lonvick on /dev/pts/8",
           &m);
    assert_int_equal(m.pri, 34);
    assert_int_equal(m.facility, 4);
    assert_int_equal(m.severity, 2);
    assert_int_equal(m.version, 1);
    assert_true(m.has_ts);
    assert_int_equal(m.ts_us, US(1065910455) + 3000);
    assert_int_equal(m.tz_offset_min, 0);
    str_eq(m.hostname, "mymachine.example.com");
    str_eq(m.app_name, "su");
    str_eq(m.procid, NULL);
    str_eq(m.msgid, "ID47");
    assert_int_equal(m.nsd, 0);
    assert_int_equal(m.nparams, 0);
    assert_true(m.msg_utf8_bom);
    str_eq(m.msg, "'su root' failed for lonvick on /dev/pts/8");
}

static void test_rfc5424_example2(void **state) {
    (void)state;
    sl_syslog_msg m;
    ok5424("<165>1 2003-08-24T05:14:15.000003-07:00 192.0.2.1 myproc 8710 - - %% It's time to make "
           "the do-nuts.",
           &m);
    assert_int_equal(m.pri, 165);
    assert_int_equal(m.facility, 20);
    assert_int_equal(m.severity, 5);
    assert_int_equal(m.version, 1);
    assert_int_equal(m.ts_us, US(1061727255) + 3); /* 12:14:15.000003Z */
    assert_int_equal(m.tz_offset_min, -420);
    str_eq(m.hostname, "192.0.2.1");
    str_eq(m.app_name, "myproc");
    str_eq(m.procid, "8710");
    str_eq(m.msgid, NULL);
    assert_int_equal(m.nsd, 0);
    assert_false(m.msg_utf8_bom);
    str_eq(m.msg, "%% It's time to make the do-nuts.");
}

static void test_rfc5424_example3(void **state) {
    (void)state;
    sl_syslog_msg m;
    ok5424("<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 "
           "[exampleSDID@32473 iut=\"3\" eventSource=\"Application\" eventID=\"1011\"] "
           "\xEF\xBB\xBF"
           "An application event log entry...",
           &m);
    assert_int_equal(m.pri, 165);
    assert_int_equal(m.ts_us, US(1065910455) + 3000);
    str_eq(m.hostname, "mymachine.example.com");
    str_eq(m.app_name, "evntslog");
    str_eq(m.procid, NULL);
    str_eq(m.msgid, "ID47");
    assert_int_equal(m.nsd, 1);
    assert_int_equal(m.nparams, 3);
    str_eq(m.sd[0].id, "exampleSDID@32473");
    assert_int_equal(m.sd[0].first_param, 0);
    assert_int_equal(m.sd[0].nparams, 3);
    str_eq(m.params[0].name, "iut");
    str_eq(m.params[0].value, "3");
    str_eq(m.params[1].name, "eventSource");
    str_eq(m.params[1].value, "Application");
    str_eq(m.params[2].name, "eventID");
    str_eq(m.params[2].value, "1011");
    assert_true(m.msg_utf8_bom);
    str_eq(m.msg, "An application event log entry...");
}

static void test_rfc5424_example4(void **state) {
    (void)state;
    sl_syslog_msg m;
    ok5424("<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 "
           "[exampleSDID@32473 iut=\"3\" eventSource=\"Application\" eventID=\"1011\"]"
           "[examplePriority@32473 class=\"high\"]",
           &m);
    assert_int_equal(m.nsd, 2);
    assert_int_equal(m.nparams, 4);
    assert_string_equal(sd_text(&m),
                        "[exampleSDID@32473 iut=3 eventSource=Application eventID=1011]"
                        "[examplePriority@32473 class=high]");
    assert_int_equal(m.sd[1].first_param, 3);
    assert_int_equal(m.sd[1].nparams, 1);
    str_eq(m.msg, NULL); /* no MSG at all */
    assert_false(m.msg_utf8_bom);
}

/* ---- RFC 5424 edge cases ------------------------------------------------ */

static void test_sd_escapes(void **state) {
    (void)state;
    sl_syslog_msg m;
    ok5424("<13>1 - h a p m [id q=\"x\\\"y\" b=\"back\\\\slash\" c=\"br\\]acket\" d=\"lone\\q\" "
           "e=\"end\\\\\" f=\"\\\\\\\"\" g=\"a]b\" h=\"\" u=\"caf\xC3\xA9 \xF0\x9F\x98\x80\"] msg",
           &m);
    assert_string_equal(sd_text(&m),
                        "[id q=x\"y b=back\\slash c=br]acket d=lone\\q e=end\\ f=\\\" g=a]b h= "
                        "u=caf\xC3\xA9 \xF0\x9F\x98\x80]");
    str_eq(m.msg, "msg");
    /* escaped values live in scratch, the others point into the line */
    const char *line = "<13>1 - h a p m [id a=\"plain\" b=\"es\\\"c\"]";
    ok5424(line, &m);
    assert_true(m.params[0].value.ptr > line && m.params[0].value.ptr < line + strlen(line));
    assert_false(m.params[1].value.ptr > line && m.params[1].value.ptr < line + strlen(line));
    str_eq(m.params[1].value, "es\"c");
    /* a lone backslash before the closing quote escapes it: unterminated */
    err5424("<13>1 - h a p m [id a=\"x\\\"]",
            "column 28: unterminated PARAM-VALUE (opened at column 23)");
    /* many params: scratch and arrays grow */
    char big[8192];
    size_t n = (size_t)snprintf(big, sizeof big, "<13>1 - h a p m ");
    for (int e = 0; e < 20; e++) {
        n += (size_t)snprintf(big + n, sizeof big - n, "[e%d", e);
        for (int k = 0; k < 10; k++)
            n += (size_t)snprintf(big + n, sizeof big - n, " k%d=\"v\\]%d\"", k, e * 10 + k);
        n += (size_t)snprintf(big + n, sizeof big - n, "]");
    }
    ok5424(big, &m);
    assert_int_equal(m.nsd, 20);
    assert_int_equal(m.nparams, 200);
    str_eq(m.sd[19].id, "e19");
    str_eq(m.params[m.sd[19].first_param + 9].value, "v]199");
    str_eq(m.params[0].value, "v]0");
}

static void test_nilvalues(void **state) {
    (void)state;
    sl_syslog_msg m;
    ok5424("<0>1 - - - - - -", &m);
    assert_int_equal(m.pri, 0);
    assert_int_equal(m.facility, 0);
    assert_int_equal(m.severity, 0);
    assert_false(m.has_ts);
    str_eq(m.hostname, NULL);
    str_eq(m.app_name, NULL);
    str_eq(m.procid, NULL);
    str_eq(m.msgid, NULL);
    assert_int_equal(m.nsd, 0);
    assert_null(m.sd);
    assert_null(m.params);
    str_eq(m.msg, NULL);
    /* empty MSG after the SP: present, empty */
    ok5424("<191>1 - - - - - - ", &m);
    assert_int_equal(m.facility, 23);
    assert_int_equal(m.severity, 7);
    str_eq(m.msg, "");
    /* "-x" is a value, not NILVALUE; one field at a time is nil */
    ok5424("<14>1 - -x - - - - m", &m);
    str_eq(m.hostname, "-x");
    ok5424("<14>1 2003-10-11T22:14:15Z - app 12 - - m", &m);
    assert_true(m.has_ts);
    str_eq(m.hostname, NULL);
    str_eq(m.app_name, "app");
    str_eq(m.procid, "12");
    str_eq(m.msgid, NULL);
    /* BOM-only MSG; MSG with spaces kept as is */
    ok5424("<14>1 - - - - - - \xEF\xBB\xBF", &m);
    assert_true(m.msg_utf8_bom);
    str_eq(m.msg, "");
    ok5424("<14>1 - - - - - -   two  spaces ", &m);
    str_eq(m.msg, "  two  spaces ");
    /* trailing CR/LF trimmed */
    ok5424("<14>1 - h - - - - hello\r\n", &m);
    str_eq(m.msg, "hello");
    ok5424("<14>1 - h - - - -\n", &m);
    str_eq(m.msg, NULL);
    /* other versions are read with the same grammar */
    ok5424("<14>12 - - - - - -", &m);
    assert_int_equal(m.version, 12);
}

static void test_timestamps(void **state) {
    (void)state;
    sl_syslog_msg m;
    static const struct {
        const char *ts;
        int64_t us;
        int off;
    } cases[] = {
        {"2003-10-11T22:14:15Z", US(1065910455), 0},
        {"2003-10-11T22:14:15.1Z", US(1065910455) + 100000, 0},
        {"2003-10-11T22:14:15.12Z", US(1065910455) + 120000, 0},
        {"2003-10-11T22:14:15.123Z", US(1065910455) + 123000, 0},
        {"2003-10-11T22:14:15.1234Z", US(1065910455) + 123400, 0},
        {"2003-10-11T22:14:15.12345Z", US(1065910455) + 123450, 0},
        {"2003-10-11T22:14:15.123456Z", US(1065910455) + 123456, 0},
        {"2003-10-11T22:14:15.000001Z", US(1065910455) + 1, 0},
        {"2003-10-11T22:14:15+00:00", US(1065910455), 0},
        {"2003-10-11T22:14:15-00:00", US(1065910455), 0},
        {"2003-10-11T22:14:15+05:30", US(1065910455) - US(5 * 3600 + 1800), 330},
        {"2003-10-11T16:44:15-05:30", US(1065910455), -330},
        {"2003-10-11T22:14:15.5-07:00", US(1065910455) + US(7 * 3600) + 500000, -420},
        {"2003-10-12T00:00:00+23:59", US(1065916800) - US(23 * 3600 + 59 * 60), 1439},
        {"2004-02-29T00:00:00Z", US(1078012800), 0},          /* leap year */
        {"2000-02-29T00:00:00Z", US(951782400), 0},           /* divisible by 400 */
        {"2016-12-31T23:59:60Z", US(1483228799) + 999999, 0}, /* leap second */
        {"2016-12-31T23:59:60.5Z", US(1483228799) + 999999, 0},
        {"1969-12-31T23:59:59.999999Z", -1, 0},
        {"1970-01-01T00:00:00Z", 0, 0},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        char line[128];
        snprintf(line, sizeof line, "<14>1 %s h - - - -", cases[k].ts);
        ok5424(line, &m);
        assert_true(m.has_ts);
        if (m.ts_us != cases[k].us)
            fail_msg("%s: got %lld want %lld", cases[k].ts, (long long)m.ts_us,
                     (long long)cases[k].us);
        assert_int_equal(m.tz_offset_min, cases[k].off);
    }
}

static void test_malformed(void **state) {
    (void)state;
    /* PRI */
    err5424("", "column 1: expected '<'");
    err5424("34>1 - - - - - -", "column 1: expected '<'");
    err5424("<>1 - - - - - -", "column 2: expected PRI digits after '<'");
    err5424("<999>1 - - - - - -", "column 2: PRI 999 out of range (0..191)");
    err5424("<192>1 - - - - - -", "column 2: PRI 192 out of range (0..191)");
    err5424("<034>1 - - - - - -", "column 2: PRI with a leading zero");
    err5424("<00>1 - - - - - -", "column 2: PRI with a leading zero");
    err5424("<1234>1 - - - - - -", "column 2: PRI longer than 3 digits");
    err5424("<34 1 - - - - - -", "column 4: expected '>' after PRI");
    err5424("<3a>1 - - - - - -", "column 3: expected '>' after PRI");
    /* VERSION */
    err5424("<34> 2003-10-11T22:14:15Z h - - - -", "column 5: expected VERSION (a nonzero digit)");
    err5424("<34>0 - - - - - -", "column 5: expected VERSION (a nonzero digit)");
    err5424("<34>Oct 11 22:14:15 mymachine su: hi", "column 5: expected VERSION (a nonzero digit)");
    err5424("<34>", "column 5: expected VERSION (a nonzero digit)");
    err5424("<34>1", "column 6: expected SP after VERSION");
    err5424("<34>1x - - - - - -", "column 6: expected SP after VERSION");
    err5424("<34>1234 - - - - - -", "column 8: expected SP after VERSION");
    /* TIMESTAMP */
    err5424("<34>1 2003-10-11T22:14:15.1234567Z h - - - -",
            "column 33: bad TIMESTAMP: more than 6 fraction digits");
    err5424("<34>1 2003-13-11T22:14:15Z h - - - -", "column 12: bad TIMESTAMP: month 13");
    err5424("<34>1 2003-00-11T22:14:15Z h - - - -", "column 12: bad TIMESTAMP: month 0");
    err5424("<34>1 2003-02-29T22:14:15Z h - - - -", "column 15: bad TIMESTAMP: day 29 of 2003-02");
    err5424("<34>1 1900-02-29T22:14:15Z h - - - -", "column 15: bad TIMESTAMP: day 29 of 1900-02");
    err5424("<34>1 2003-04-31T22:14:15Z h - - - -", "column 15: bad TIMESTAMP: day 31 of 2003-04");
    err5424("<34>1 2003-04-00T22:14:15Z h - - - -", "column 15: bad TIMESTAMP: day 0 of 2003-04");
    err5424("<34>1 2003-10-11T24:14:15Z h - - - -", "column 18: bad TIMESTAMP: hour 24");
    err5424("<34>1 2003-10-11T22:60:15Z h - - - -", "column 21: bad TIMESTAMP: minute 60");
    err5424("<34>1 2003-10-11T22:14:61Z h - - - -", "column 24: bad TIMESTAMP: second 61");
    err5424("<34>1 2003-10-11t22:14:15Z h - - - -",
            "column 17: bad TIMESTAMP: expected 'T' after date");
    err5424("<34>1 2003-10-11 22:14:15Z h - - - -",
            "column 17: bad TIMESTAMP: expected 'T' after date");
    err5424("<34>1 2003-10-11T22:14:15z h - - - -",
            "column 26: bad TIMESTAMP: expected 'Z' or +hh:mm / -hh:mm offset");
    err5424("<34>1 2003-10-11T22:14:15 h - - - -",
            "column 26: bad TIMESTAMP: expected 'Z' or +hh:mm / -hh:mm offset");
    err5424("<34>1 2003-10-11T22:14:15.Z h - - - -",
            "column 27: bad TIMESTAMP: expected digit after '.'");
    err5424("<34>1 2003-10-11T22:14:15+24:00 h - - - -",
            "column 27: bad TIMESTAMP: offset hour 24");
    err5424("<34>1 2003-10-11T22:14:15+02:60 h - - - -",
            "column 30: bad TIMESTAMP: offset minute 60");
    err5424("<34>1 2003-10-11T22:14:15+0200 h - - - -",
            "column 29: bad TIMESTAMP: expected ':' in offset");
    err5424("<34>1 03-10-11T22:14:15Z h - - - -", "column 9: bad TIMESTAMP: expected 4-digit year");
    err5424("<34>1 2003-10-11T2",
            "column 19: bad TIMESTAMP: expected 2-digit hour, got end of message");
    err5424("<34>1 2003-10-11T22:14:15Zh - - - -", "column 27: expected SP after TIMESTAMP");
    err5424("<34>1 -h - - - -", "column 8: expected SP after TIMESTAMP");
    /* header fields */
    err5424("<34>1 - h a p", "column 14: expected SP after PROCID, got end of message");
    err5424("<34>1 - h a p m", "column 16: expected SP after MSGID, got end of message");
    err5424("<34>1 - h a p m ", "column 17: expected STRUCTURED-DATA, got end of message");
    err5424("<34>1 -  a p m -", "column 9: empty HOSTNAME (NILVALUE is '-')");
    err5424("<34>1 - h\ta p m -", "column 10: invalid byte 0x09 in HOSTNAME");
    err5424("<34>1 - h caf\xC3\xA9 p m -", "column 14: invalid byte 0xc3 in APP-NAME");
    /* over-long fields: the column of the first byte past the limit */
    char line[1024];
    char f[300];
    memset(f, 'x', sizeof f);
    snprintf(line, sizeof line, "<34>1 - %.255s a p m -", f);
    sl_syslog_msg m;
    ok5424(line, &m);
    assert_int_equal(m.hostname.len, 255);
    snprintf(line, sizeof line, "<34>1 - %.256s a p m -", f);
    err5424(line, "column 264: HOSTNAME longer than 255 characters");
    snprintf(line, sizeof line, "<34>1 - h %.48s p m -", f);
    ok5424(line, &m);
    snprintf(line, sizeof line, "<34>1 - h %.49s p m -", f);
    err5424(line, "column 59: APP-NAME longer than 48 characters");
    snprintf(line, sizeof line, "<34>1 - h a %.128s m -", f);
    ok5424(line, &m);
    snprintf(line, sizeof line, "<34>1 - h a %.129s m -", f);
    err5424(line, "column 141: PROCID longer than 128 characters");
    snprintf(line, sizeof line, "<34>1 - h a p %.32s -", f);
    ok5424(line, &m);
    snprintf(line, sizeof line, "<34>1 - h a p %.33s -", f);
    err5424(line, "column 47: MSGID longer than 32 characters");
    /* STRUCTURED-DATA */
    err5424("<34>1 - h a p m x", "column 17: expected '[' or '-' for STRUCTURED-DATA");
    err5424("<34>1 - h a p m -x", "column 18: expected SP after STRUCTURED-DATA");
    err5424("<34>1 - h a p m [a]x", "column 20: expected SP or '[' after SD-ELEMENT");
    err5424("<34>1 - h a p m [id a=\"b",
            "column 25: unterminated PARAM-VALUE (opened at column 23)");
    err5424("<34>1 - h a p m [id a=\"b\"", "column 26: unterminated SD-ELEMENT (expected ']')");
    err5424("<34>1 - h a p m [id", "column 20: unterminated SD-ELEMENT (expected ']')");
    err5424("<34>1 - h a p m [id a=\"b\" ", "column 27: unterminated SD-ELEMENT (expected ']')");
    err5424("<34>1 - h a p m []", "column 18: expected SD-ID");
    err5424("<34>1 - h a p m [ a=\"b\"]", "column 18: expected SD-ID");
    err5424("<34>1 - h a p m [i=d a=\"b\"]", "column 19: invalid character '=' in SD-ID");
    err5424("<34>1 - h a p m [i\"d a=\"b\"]", "column 19: invalid character '\"' in SD-ID");
    err5424("<34>1 - h a p m [id a\"b=\"c\"]", "column 22: expected '=' after PARAM-NAME");
    err5424("<34>1 - h a p m [id a]", "column 22: expected '=' after PARAM-NAME");
    err5424("<34>1 - h a p m [id =\"c\"]", "column 21: expected PARAM-NAME");
    err5424("<34>1 - h a p m [id a=b]", "column 23: expected '\"' to open PARAM-VALUE");
    err5424("<34>1 - h a p m [id  a=\"b\"]", "column 21: expected PARAM-NAME");
    err5424("<34>1 - h a p m [id\x01 a=\"b\"]", "column 20: invalid byte 0x01 in SD-ID");
    err5424("<34>1 - h a p m [id a=\"\xC3(\"]", "column 24: invalid UTF-8 in PARAM-VALUE");
    err5424("<34>1 - h a p m [id a=\"\xED\xA0\x80\"]", "column 24: invalid UTF-8 in PARAM-VALUE");
    snprintf(line, sizeof line, "<34>1 - h a p m [%.32s]", f);
    ok5424(line, &m);
    snprintf(line, sizeof line, "<34>1 - h a p m [%.33s]", f);
    err5424(line, "column 50: SD-ID longer than 32 characters");
    snprintf(line, sizeof line, "<34>1 - h a p m [id %.33s=\"v\"]", f);
    err5424(line, "column 53: PARAM-NAME longer than 32 characters");
}

/* A line captured from util-linux 2.38.1:
 *   logger --rfc5424 --stderr --no-act -n 127.0.0.1 -P 5514 -t myapp -p local0.warning \
 *          --sd-id test@32473 --sd-param 'a="b c"' hello
 * (--no-act still opens /dev/log unless a server is named; -n/-P only pick a
 * UDP socket that is never written). */
static void test_logger_captured(void **state) {
    (void)state;
    sl_syslog_msg m;
    ok5424("<132>1 2026-11-23T09:18:02.938104+00:00 vm myapp - - [timeQuality tzKnown=\"1\" "
           "isSynced=\"0\"]"
           "[test@32473 a=\"b c\"] hello",
           &m);
    assert_int_equal(m.pri, 132);
    assert_int_equal(m.facility, 16); /* local0 */
    assert_int_equal(m.severity, 4);  /* warning */
    assert_int_equal(m.ts_us, US(1795425482) + 938104);
    str_eq(m.hostname, "vm");
    str_eq(m.app_name, "myapp");
    str_eq(m.procid, NULL);
    str_eq(m.msgid, NULL);
    assert_string_equal(sd_text(&m), "[timeQuality tzKnown=1 isSynced=0][test@32473 a=b c]");
    str_eq(m.msg, "hello");
    /* and its RFC 3164 twin through auto-detection */
    ok5424("<132>1 - vm myapp - - - x", &m);
    sl_error err = {0};
    const char *bsd = "<132>Nov 23 09:18:02 vm myapp: hello";
    assert_int_equal(sl_syslog_parse(P, bsd, strlen(bsd), US(1795425482) + US(60), &m, &err), 0);
    assert_int_equal(m.version, 0);
    assert_int_equal(m.ts_us, US(1795425482));
    str_eq(m.hostname, "vm");
    str_eq(m.app_name, "myapp");
    str_eq(m.msg, "hello");
}

/* Runs the real logger when it is there; skipped (and the program reports
 * itself skipped, exit 77) otherwise. */
static void test_logger_live(void **state) {
    (void)state;
    if (system("command -v logger >/dev/null 2>&1") != 0)
        SL_SKIP("test_logger_live: logger not installed (apt-get install bsdutils)");
    FILE *f = popen(
        "logger --rfc5424 --stderr --no-act -n 127.0.0.1 -P 5514 -t myapp -p local0.warning "
        "--sd-id test@32473 --sd-param 'a=\"b c\"' --sd-param 'q=\"x\\\"y\"' 'hello live' 2>&1",
        "r");
    if (!f) fail_msg("popen logger failed");
    char line[1024];
    char *got = fgets(line, sizeof line, f);
    int st = pclose(f);
    if (!got || st != 0 || line[0] != '<')
        fail_msg("logger --rfc5424 --no-act exited %d and printed [%s]", st, got ? line : "");
    sl_syslog_msg m;
    sl_error err = {0};
    int rc = sl_syslog_parse(P, line, strlen(line), sl_now_us(), &m, &err);
    if (rc != 0) fail_msg("logger line [%s]: %s", line, err.msg);
    assert_int_equal(m.version, 1);
    assert_int_equal(m.pri, 132);
    assert_true(m.has_ts);
    int64_t now = sl_now_us();
    assert_true(m.ts_us > now - US(600) && m.ts_us <= now);
    str_eq(m.app_name, "myapp");
    str_eq(m.msg, "hello live");
    const char *sd = sd_text(&m);
    if (!strstr(sd, "[test@32473 a=b c q=x\"y]")) fail_msg("sd %s", sd);
}

/* ---- RFC 3164 ------------------------------------------------------------ */

static void ok3164(const char *line, int64_t now, sl_syslog_msg *m) {
    sl_error err = {0};
    assert_int_equal(sl_syslog_parse_3164(P, line, strlen(line), now, m, &err), 0);
    assert_int_equal(m->version, 0);
}

static void test_rfc3164_examples(void **state) {
    (void)state;
    sl_syslog_msg m;
    const int64_t now = US(1065910455) + US(3600); /* 2003-10-11 23:14:15Z */
    ok3164("<34>Oct 11 22:14:15 mymachine su: 'su root' failed for lonvick on /dev/pts/8", now, &m);
    assert_int_equal(m.pri, 34);
    assert_true(m.has_ts);
    assert_int_equal(m.ts_us, US(1065910455));
    str_eq(m.hostname, "mymachine");
    str_eq(m.app_name, "su");
    str_eq(m.procid, NULL);
    str_eq(m.msg, "'su root' failed for lonvick on /dev/pts/8");

    ok3164("Use the BFG!", now, &m); /* no PRI: 13, no header */
    assert_int_equal(m.pri, 13);
    assert_int_equal(m.facility, 1);
    assert_int_equal(m.severity, 5);
    assert_false(m.has_ts);
    str_eq(m.hostname, NULL);
    str_eq(m.app_name, NULL);
    str_eq(m.msg, "Use the BFG!");

    ok3164("<13>Feb  5 17:32:18 10.0.0.99 Use the BFG!", now, &m);
    assert_int_equal(m.pri, 13);
    assert_int_equal(m.ts_us, US(1044466338)); /* 2003-02-05 17:32:18Z */
    str_eq(m.hostname, "10.0.0.99");
    str_eq(m.app_name, NULL);
    str_eq(m.msg, "Use the BFG!");

    ok3164("<165>Aug 24 05:34:00 CST 1987 mymachine myproc[10]: %% It's time to make the do-nuts.  "
           "%%  "
           "Ingredients: Mix=OK, Jelly=OK # Devices: Mixer=OK, Jelly_Injector=OK, Frier=OK # "
           "Transport: "
           "Conveyer1=OK, Conveyer2=OK # %%",
           now, &m);
    assert_int_equal(m.pri, 165);
    assert_int_equal(m.ts_us, US(1061703240)); /* 2003-08-24 05:34:00Z */
    str_eq(m.hostname, "CST");                 /* as the RFC notes, a relay cannot know better */
    str_eq(m.app_name, NULL);
    assert_true(m.msg.len > 0 && memcmp(m.msg.ptr, "1987 mymachine myproc[10]: %%", 29) == 0);
}

static void test_rfc3164_variants(void **state) {
    (void)state;
    sl_syslog_msg m;
    const int64_t now = US(1065910455); /* 2003-10-11 22:14:15Z */
    ok3164("<13>Oct  1 01:02:03 host app[123]: hi there", now, &m);
    str_eq(m.hostname, "host");
    str_eq(m.app_name, "app");
    str_eq(m.procid, "123");
    str_eq(m.msg, "hi there");
    ok3164("<13>Oct 01 01:02:03 app[123]: no host\r\n", now, &m);
    str_eq(m.hostname, NULL);
    str_eq(m.app_name, "app");
    str_eq(m.procid, "123");
    str_eq(m.msg, "no host");
    ok3164("<13>Oct 1 01:02:03 host sshd[99] Accepted", now, &m);
    str_eq(m.app_name, "sshd");
    str_eq(m.procid, "99");
    str_eq(m.msg, "Accepted");
    ok3164("<13>Oct 11 01:02:03.250 fe80::1 kernel: up", now, &m);
    assert_int_equal(m.ts_us % SL_US_PER_SEC, 250000);
    str_eq(m.hostname, "fe80::1");
    str_eq(m.app_name, "kernel");
    str_eq(m.msg, "up");
    ok3164("<13>app: no timestamp", now, &m);
    assert_false(m.has_ts);
    str_eq(m.app_name, "app");
    str_eq(m.msg, "no timestamp");
    ok3164("<13>2003-10-11T22:14:15.003+02:00 host app: iso", now, &m);
    assert_true(m.has_ts);
    assert_int_equal(m.ts_us, US(1065910455 - 7200) + 3000);
    assert_int_equal(m.tz_offset_min, 120);
    str_eq(m.hostname, "host");
    str_eq(m.msg, "iso");
    ok3164("<999>Oct 11 22:14:15 host app: bad pri", now, &m); /* unreadable PRI: all is MSG */
    assert_int_equal(m.pri, 13);
    assert_false(m.has_ts);
    str_eq(m.msg, "<999>Oct 11 22:14:15 host app: bad pri");
    ok3164("<13>Oct 32 22:14:15 host x", now, &m);
    assert_false(m.has_ts);
    str_eq(m.msg, "Oct 32 22:14:15 host x");
    ok3164("<13>", now, &m);
    str_eq(m.msg, "");
    ok3164("", now, &m);
    assert_int_equal(m.pri, 13);
    ok3164("<13>Oct 11 22:14:15", now, &m);
    assert_true(m.has_ts);
    str_eq(m.hostname, NULL);
    str_eq(m.msg, "");
    /* year inference: a date more than a day ahead is last year's */
    ok3164("<13>Dec 31 23:59:00 h x", US(1072915140) + US(120), &m); /* now 2004-01-01 00:01Z */
    assert_int_equal(m.ts_us, US(1072915140));
    ok3164("<13>Oct 12 20:00:00 h x", now, &m); /* within a day ahead: this year */
    assert_int_equal(m.ts_us, US(1065910455) + US(86400) - US(2 * 3600 + 14 * 60 + 15));
    ok3164("<13>Oct 13 22:14:16 h x", now, &m); /* > a day ahead: 2002 */
    assert_int_equal(m.ts_us, US(1065910455) + US(2 * 86400 + 1) - US(365 * 86400));
    ok3164("<13>Feb 29 12:00:00 h x", US(1709208000) + US(86400), &m); /* now 2024-03-01 */
    assert_int_equal(m.ts_us, US(1709208000));
    ok3164("<13>Feb 29 12:00:00 h x", US(1709208000) + US(366 * 86400),
           &m); /* now 2025-03-01 -> 2024 */
    assert_int_equal(m.ts_us, US(1709208000));
    ok3164("<13>Feb 29 12:00:00 h x", US(1709208000) + US(2 * 365 * 86400),
           &m); /* 2026: no Feb 29 near */
    assert_false(m.has_ts);
}

static void test_autodetect(void **state) {
    (void)state;
    sl_syslog_msg m;
    sl_error err = {0};
    const char *a = "<34>1 2003-10-11T22:14:15.003Z h app - - - x";
    assert_int_equal(sl_syslog_parse(P, a, strlen(a), 0, &m, &err), 0);
    assert_int_equal(m.version, 1);
    const char *b = "<34>Oct 11 22:14:15 h app: x";
    assert_int_equal(sl_syslog_parse(P, b, strlen(b), US(1065910455), &m, &err), 0);
    assert_int_equal(m.version, 0);
    const char *c = "<999>1 - - - - - -";
    assert_int_equal(sl_syslog_parse(P, c, strlen(c), 0, &m, &err), SL_EPARSE);
    assert_string_equal(err.msg, "column 2: PRI 999 out of range (0..191)");
    const char *d = "<34>1 2003-13-11T22:14:15Z h - - - -";
    assert_int_equal(sl_syslog_parse(P, d, strlen(d), 0, &m, &err), SL_EPARSE);
    assert_string_equal(err.msg, "column 12: bad TIMESTAMP: month 13");
    const char *e = "hello world";
    assert_int_equal(sl_syslog_parse(P, e, strlen(e), 0, &m, &err), 0);
    str_eq(m.msg, "hello world");
}

/* ---- batch adapter -------------------------------------------------------- */

typedef struct badlog {
    char text[4096];
    size_t n;
    int count;
} badlog;

static void on_bad(void *ud, const char *line, size_t len, int32_t part, int64_t pos,
                   const char *reason) {
    badlog *l = ud;
    l->count++;
    l->n += (size_t)snprintf(l->text + l->n, sizeof l->text - l->n, "%d@%lld [%.*s] %s\n", part,
                             (long long)pos, (int)len, line, reason);
}

static void test_batch(void **state) {
    (void)state;
    sl_schema s;
    sl_schema_init(&s);
    int c_pri = sl_schema_add(&s, "pri", SL_T_INT);
    int c_sev = sl_schema_add(&s, "severity", SL_T_INT);
    int c_fac = sl_schema_add(&s, "facility", SL_T_INT);
    int c_ts = sl_schema_add(&s, "timestamp", SL_T_TS);
    int c_host = sl_schema_add(&s, "hostname", SL_T_STRING);
    int c_app = sl_schema_add(&s, "app_name", SL_T_STRING);
    int c_pid = sl_schema_add(&s, "procid", SL_T_STRING);
    int c_mid = sl_schema_add(&s, "msgid", SL_T_STRING);
    int c_msg = sl_schema_add(&s, "msg", SL_T_STRING);
    int c_sd = sl_schema_add(&s, "structured_data", SL_T_STRING);
    int c_eid = sl_schema_add(&s, "sd.exampleSDID@32473.eventID", SL_T_INT);
    int c_src = sl_schema_add(&s, "sd.exampleSDID@32473.eventSource", SL_T_STRING);
    int c_cls = sl_schema_add(&s, "sd.examplePriority@32473.class", SL_T_STRING);
    int c_other = sl_schema_add(&s, "other", SL_T_DOUBLE);
    sl_batch *b = sl_batch_new(&s, 16);
    const char *in =
        "\xEF\xBB\xBF<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 "
        "[exampleSDID@32473 iut=\"3\" eventSource=\"Appli\\\"cation\" eventID=\"1011\"] "
        "\xEF\xBB\xBFhello\r\n"
        "\n"
        "   \r\n"
        "<999>1 - - - - - -\n"
        "<165>1 2003-10-11T22:14:15.003Z h evntslog - ID47 [exampleSDID@32473 iut=\"3\" "
        "eventSource=\"Application\" eventID=\"1011\"][examplePriority@32473 class=\"high\"]\n"
        "<165>1 - h a - - [exampleSDID@32473 eventID=\"abc\"] cast fails\n"
        "<34>Oct 11 22:14:15 mymachine su: 'su root' failed\n"
        "<34>1 - - - - - -\n"
        "<34>1 - partial";
    badlog bl = {{0}, 0, 0};
    size_t used =
        sl_syslog_parse_lines(P, in, strlen(in), 3, 0, US(1065910455) + 5, b, on_bad, &bl);
    assert_int_equal(used, strlen(in) - strlen("<34>1 - partial"));
    assert_int_equal(b->n, 4);
    /* row 0: example 3 with an escaped SD value */
    assert_int_equal(b->col[c_pri].v.i[0], 165);
    assert_int_equal(b->col[c_sev].v.i[0], 5);
    assert_int_equal(b->col[c_fac].v.i[0], 20);
    assert_int_equal(b->col[c_ts].v.i[0], US(1065910455) + 3000);
    str_eq(b->col[c_host].v.s[0], "mymachine.example.com");
    str_eq(b->col[c_app].v.s[0], "evntslog");
    assert_int_equal(b->col[c_pid].null[0], 1);
    str_eq(b->col[c_mid].v.s[0], "ID47");
    str_eq(b->col[c_msg].v.s[0], "hello");
    str_eq(b->col[c_sd].v.s[0], "{\"exampleSDID@32473\":{\"iut\":\"3\",\"eventSource\":"
                                "\"Appli\\\"cation\",\"eventID\":\"1011\"}}");
    assert_int_equal(b->col[c_eid].v.i[0], 1011);
    str_eq(b->col[c_src].v.s[0], "Appli\"cation");
    assert_int_equal(b->col[c_cls].null[0], 1);
    assert_int_equal(b->col[c_other].null[0], 1);
    assert_int_equal(b->part[0], 3);
    assert_int_equal(b->pos[0], 0);
    assert_int_equal(b->ingest[0], US(1065910455) + 5);
    assert_int_equal(b->raw[0].len, strchr(in, '\r') - in - 3); /* BOM and CRLF excluded */
    assert_ptr_equal(b->raw[0].ptr, in + 3);
    /* the unescaped value is a copy; the plain ones are views into the buffer */
    assert_true(b->col[c_host].v.s[0].ptr > in && b->col[c_host].v.s[0].ptr < in + strlen(in));
    assert_false(b->col[c_src].v.s[0].ptr > in && b->col[c_src].v.s[0].ptr < in + strlen(in));
    /* row 1: example 4 */
    str_eq(b->col[c_cls].v.s[1], "high");
    str_eq(b->col[c_sd].v.s[1],
           "{\"exampleSDID@32473\":{\"iut\":\"3\",\"eventSource\":\"Application\","
           "\"eventID\":\"1011\"},\"examplePriority@32473\":{\"class\":\"high\"}}");
    assert_int_equal(b->col[c_msg].null[1], 1);
    /* row 2: RFC 3164, year from ingest time */
    assert_int_equal(b->col[c_pri].v.i[2], 34);
    assert_int_equal(b->col[c_ts].v.i[2], US(1065910455));
    str_eq(b->col[c_host].v.s[2], "mymachine");
    str_eq(b->col[c_app].v.s[2], "su");
    str_eq(b->col[c_msg].v.s[2], "'su root' failed");
    assert_int_equal(b->col[c_sd].null[2], 1);
    /* row 3: all NILVALUE */
    assert_int_equal(b->col[c_ts].null[3], 1);
    assert_int_equal(b->col[c_host].null[3], 1);
    assert_int_equal(b->col[c_sd].null[3], 1);
    assert_int_equal(b->col[c_msg].null[3], 1);
    assert_int_equal(b->col[c_eid].null[3], 1);
    /* bad records with their positions */
    assert_int_equal(bl.count, 2);
    char want[1024];
    size_t p1 = (size_t)(strstr(in, "<999>") - in);
    size_t p2 = (size_t)(strstr(in, "<165>1 - h a") - in);
    snprintf(
        want, sizeof want,
        "3@%zu [<999>1 - - - - - -] syslog: column 2: PRI 999 out of range (0..191)\n"
        "3@%zu [<165>1 - h a - - [exampleSDID@32473 eventID=\"abc\"] cast fails] syslog: field "
        "'sd.exampleSDID@32473.eventID': expected int, got 'abc'\n",
        p1, p2);
    assert_string_equal(bl.text, want);

    /* resume after a full batch: cap 1 takes one row per call */
    sl_batch_clear(b);
    b->cap = 1;
    const char *two = "<13>1 - a - - - - one\n<13>1 - b - - - - two\n";
    size_t u1 = sl_syslog_parse_lines(P, two, strlen(two), 0, 100, 0, b, NULL, NULL);
    assert_int_equal(u1, strlen("<13>1 - a - - - - one\n"));
    assert_int_equal(b->n, 1);
    sl_batch_clear(b);
    size_t u2 = sl_syslog_parse_lines(P, two + u1, strlen(two) - u1, 0, 100 + (int64_t)u1, 0, b,
                                      NULL, NULL);
    assert_int_equal(u1 + u2, strlen(two));
    str_eq(b->col[c_msg].v.s[0], "two");
    assert_int_equal(b->pos[0], 100 + (int64_t)u1);
    b->cap = 16;
    sl_batch_free(b);
}

/* Columns typed differently from the defaults get the field's text, cast. */
static void test_batch_casts(void **state) {
    (void)state;
    sl_schema s;
    sl_schema_init(&s);
    int c_pri = sl_schema_add(&s, "pri", SL_T_STRING);
    int c_sev = sl_schema_add(&s, "severity", SL_T_DOUBLE);
    int c_ts = sl_schema_add(&s, "timestamp", SL_T_STRING);
    int c_pid = sl_schema_add(&s, "procid", SL_T_INT);
    int c_port = sl_schema_add(&s, "sd.origin.port", SL_T_INT);
    int c_ok = sl_schema_add(&s, "sd.origin.ok", SL_T_BOOL);
    int c_at = sl_schema_add(&s, "sd.origin.at", SL_T_TS);
    sl_batch *b = sl_batch_new(&s, 8);
    const char *in = "<14>1 2003-10-11T22:14:15.5Z h a 4321 - [origin port=\"514\" ok=\"yes\" "
                     "at=\"2003-10-11T22:14:15Z\"]\n"
                     "<14>1 - h a pid42 - -\n";
    badlog bl = {{0}, 0, 0};
    size_t used = sl_syslog_parse_lines(P, in, strlen(in), 0, 0, 0, b, on_bad, &bl);
    assert_int_equal(used, strlen(in));
    assert_int_equal(b->n, 1);
    str_eq(b->col[c_pri].v.s[0], "14");
    assert_true(b->col[c_sev].v.d[0] == 6.0);
    str_eq(b->col[c_ts].v.s[0], "2003-10-11T22:14:15.500000Z");
    assert_int_equal(b->col[c_pid].v.i[0], 4321);
    assert_int_equal(b->col[c_port].v.i[0], 514);
    assert_int_equal(b->col[c_ok].v.b[0], 1);
    assert_int_equal(b->col[c_at].v.i[0], US(1065910455));
    assert_int_equal(bl.count, 1);
    assert_non_null(strstr(bl.text, "syslog: field 'procid': expected int, got 'pid42'"));
    sl_batch_free(b);
}

/* structured_data JSON escapes quotes, backslashes and control bytes. */
static void test_batch_sd_json(void **state) {
    (void)state;
    sl_schema s;
    sl_schema_init(&s);
    sl_schema_add(&s, "structured_data", SL_T_STRING);
    sl_batch *b = sl_batch_new(&s, 4);
    const char *in = "<14>1 - h - - - [c\\d v=\"t\tx\x01\\\\ \\\" caf\xC3\xA9\" e=\"\"][z]\n";
    assert_int_equal(sl_syslog_parse_lines(P, in, strlen(in), 0, 0, 0, b, NULL, NULL), strlen(in));
    assert_int_equal(b->n, 1);
    str_eq(b->col[0].v.s[0],
           "{\"c\\\\d\":{\"v\":\"t\\tx\\u0001\\\\ \\\" caf\xC3\xA9\",\"e\":\"\"},\"z\":{}}");
    sl_batch_free(b);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rfc5424_example1), cmocka_unit_test(test_rfc5424_example2),
        cmocka_unit_test(test_rfc5424_example3), cmocka_unit_test(test_rfc5424_example4),
        cmocka_unit_test(test_sd_escapes),       cmocka_unit_test(test_nilvalues),
        cmocka_unit_test(test_timestamps),       cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_logger_captured),  cmocka_unit_test(test_logger_live),
        cmocka_unit_test(test_rfc3164_examples), cmocka_unit_test(test_rfc3164_variants),
        cmocka_unit_test(test_autodetect),       cmocka_unit_test(test_batch),
        cmocka_unit_test(test_batch_casts),      cmocka_unit_test(test_batch_sd_json),
    };
    return sl_unit_exit(cmocka_run_group_tests(tests, setup, teardown));
}
