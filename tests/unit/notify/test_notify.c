/*
 * test_notify.c - src/notify without a network: channel tables binding
 * (and their errors with positions), the body each service gets (Slack
 * blocks, Teams cards, PagerDuty v2 events, the email's MIME, the webhook
 * signature against RFC 4231's HMAC-SHA256 vectors), the backoff schedule,
 * and the outbox table (a replayed idem_key is ignored). Bodies are parsed
 * back and checked by shape, not compared as text.
 */
#include <setjmp.h> /* cmocka.h needs these four first */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/timeutil.h"
#include "notify/internal.h"
#include "notify/notify.h"

#define TMPDIR_PREFIX "/tmp/sl_notify_test_XXXXXX"
#include "../tmpdir_test.h"

static const char *yaml_all =
    "alerts:\n"
    "  channels:\n"
    "    ops-slack: {type: slack, url: 'https://hooks.slack.com/services/T/B/SECRETTOKEN'}\n"
    "    teams-a: {type: teams, url: 'https://example.webhook.office.com/x'}\n"
    "    teams-m: {type: teams, url: 'https://example.webhook.office.com/y', card: messagecard}\n"
    "    mail:\n"
    "      type: email\n"
    "      server: smtp://127.0.0.1:2525\n"
    "      from: alerts@example.com\n"
    "      to: [a@example.com, b@example.com]\n"
    "      password: hunter2\n"
    "      username: bot\n"
    "    pd: {type: pagerduty, routing_key: R0UTINGKEY, give_up_after: 10m}\n"
    "    hook: {type: webhook, url: 'http://127.0.0.1:9/hook', secret: s3cr3t, timeout: 2s, "
    "max_backoff: 30s}\n"
    "    off: {type: slack, url: ''}\n";

static sl_spec *spec;
static sl_channels *chs;

static sl_channels *load(const char *yaml, sl_spec **sp, sl_error *err) {
    *sp = sl_spec_load_mem("t.yaml", yaml, strlen(yaml), NULL, err);
    assert_non_null(*sp);
    const sl_node *a = sl_node_get(sl_spec_root(*sp), "alerts");
    return sl_channels_create(sl_node_get(a, "channels"), err);
}

static int group_setup(void **state) {
    sl_error err = {0};
    chs = load(yaml_all, &spec, &err);
    if (!chs) fprintf(stderr, "%s\n", err.msg);
    return chs ? tmpdir_setup(state) : -1;
}
static int group_teardown(void **state) {
    sl_channels_free(chs);
    sl_spec_free(spec);
    return tmpdir_teardown(state);
}

static const sl__notify_channel *chan(const char *name) {
    int i = sl_channels_find(chs, name);
    assert_true(i >= 0);
    return &chs->ch[i];
}

static const char *firing =
    "{\"pipeline\":\"cameras\",\"rule\":\"dup_rate\",\"alert_id\":\"a-17\",\"key\":\"cam-4\","
    "\"severity\":\"warning\",\"state\":\"firing\",\"title\":\"Duplicate rate high\","
    "\"message\":\"cam-4 sends 31% duplicates\",\"started_at\":\"2026-03-01T10:00:00Z\","
    "\"resolved_at\":null,\"dedup_key\":\"dup_rate/cam-4\",\"table\":\"dup_1m\","
    "\"labels\":{\"camera_id\":\"cam-4\",\"dup_pct\":31.5}}";
static const char *resolved =
    "{\"pipeline\":\"cameras\",\"rule\":\"dup_rate\",\"alert_id\":\"a-17\",\"key\":\"cam-4\","
    "\"severity\":\"warning\",\"state\":\"resolved\",\"title\":\"Duplicate rate high\","
    "\"message\":\"back to 2%\",\"started_at\":\"2026-03-01T10:00:00Z\","
    "\"resolved_at\":\"2026-03-01T10:05:00Z\",\"dedup_key\":\"dup_rate/"
    "cam-4\",\"table\":\"dup_1m\","
    "\"labels\":{}}";
static const char *digest =
    "{\"pipeline\":\"cameras\",\"rule\":\"dup_rate\",\"alert_id\":\"a-18\",\"key\":\"\","
    "\"severity\":\"critical\",\"state\":\"firing\",\"title\":\"Duplicate rate high\","
    "\"message\":\"3 cameras\",\"started_at\":\"2026-03-01T10:00:00Z\",\"resolved_at\":null,"
    "\"dedup_key\":\"dup_rate\",\"table\":\"dup_1m\",\"labels\":{},\"count\":3,"
    "\"items\":[{\"key\":\"cam-1\",\"message\":\"m1\",\"severity\":\"critical\"},"
    "{\"key\":\"cam-2\",\"message\":\"m2\",\"severity\":\"critical\"},"
    "{\"key\":\"cam-3\",\"message\":\"m3\",\"severity\":\"warning\"}]}";

static sl__jv *build_json(const char *ch, const char *kind, const char *payload,
                          sl__notify_msg *m) {
    sl_error err = {0};
    assert_int_equal(sl__notify_build(chan(ch), kind, "idem-1", payload, 0, m, &err), 0);
    sl__jv *v = sl__json_parse(m->body, m->len);
    if (!v) fail_msg("not JSON: %s", m->body);
    assert_int_equal(v->t, SL__J_OBJ);
    return v;
}

static const sl__jv *at(const sl__jv *v, int i) {
    assert_non_null(v);
    assert_true(v->t == SL__J_ARR && i < v->n);
    return &v->kids[i];
}

static void test_bind(void **state) {
    (void)state;
    assert_int_equal(sl_channels_count(chs), 7);
    assert_string_equal(sl_channels_name(chs, 0), "ops-slack");
    assert_true(sl_channels_enabled(chs, 0));
    assert_false(sl_channels_enabled(chs, sl_channels_find(chs, "off")));
    assert_int_equal(sl_channels_find(chs, "nope"), -1);
    const sl__notify_channel *m = chan("mail");
    assert_int_equal(m->nto, 2);
    assert_string_equal(m->to[1], "b@example.com");
    assert_false(m->starttls);
    assert_int_equal(m->give_up_us, 3600 * SL_US_PER_SEC); /* default 1h */
    assert_int_equal(m->timeout_us, 10 * SL_US_PER_SEC);
    const sl__notify_channel *pd = chan("pd");
    assert_string_equal(pd->url, "https://events.pagerduty.com/v2/enqueue");
    assert_int_equal(pd->give_up_us, 600 * SL_US_PER_SEC);
    assert_string_equal(chan("hook")->host, "127.0.0.1:9");
    assert_int_equal(chan("hook")->max_backoff_us, 30 * SL_US_PER_SEC);
    /* the host, never the path (where Slack keeps its token) */
    assert_string_equal(chan("ops-slack")->host, "hooks.slack.com");
    assert_int_equal(chan("teams-m")->card, SL__CARD_MESSAGECARD);
    assert_int_equal(chan("teams-a")->card, SL__CARD_ADAPTIVE);
    sl_channels *none = sl_channels_create(NULL, NULL);
    assert_int_equal(sl_channels_count(none), 0);
    sl_channels_free(none);
}

static void expect_error(const char *yaml, const char *want) {
    sl_error err = {0};
    sl_spec *sp;
    sl_channels *c = load(yaml, &sp, &err);
    assert_null(c);
    if (!strstr(err.msg, want)) fail_msg("error '%s' lacks '%s'", err.msg, want);
    sl_spec_free(sp);
}

static void test_bind_errors(void **state) {
    (void)state;
    expect_error("alerts:\n  channels:\n    x: {type: slak, url: a}\n",
                 "t.yaml:3:15: channel 'x': type must be one of");
    expect_error("alerts:\n  channels:\n    x: {url: a}\n", "missing key 'type'");
    expect_error("alerts:\n  channels:\n    x: {type: slack, url: 'ftp://h/TOKEN'}\n",
                 "t.yaml:3:27: channel 'x': url must start with http");
    expect_error("alerts:\n  channels:\n    x: {type: slack, url: 'ftp://h/TOKEN'}\n", "");
    expect_error("alerts:\n  channels:\n    x: {type: email, server: 'smtp://h:25'}\n",
                 "needs 'to'");
    expect_error("alerts:\n  channels:\n    x: {type: webhook, url: 'http://h', secrt: a}\n",
                 "unknown key 'secrt'");
    expect_error("alerts:\n  channels:\n    x: {type: slack, url: 'http://h', timeout: 1ms}\n",
                 "timeout must be");
    /* a bad URL is refused without being repeated: it may hold a token */
    sl_error err = {0};
    sl_spec *sp;
    assert_null(
        load("alerts:\n  channels:\n    x: {type: slack, url: 'ftp://h/TOKEN'}\n", &sp, &err));
    assert_null(strstr(err.msg, "TOKEN"));
    sl_spec_free(sp);
}

static void test_opt_tables(void **state) {
    (void)state;
    sl_opt_table t[8];
    assert_int_equal(sl_notify_opt_tables(t, 8), 5);
    for (int i = 0; i < 5; i++) {
        sl_error err = {0};
        if (sl_opt_check_defaults(t[i].opts, t[i].name, &err)) fail_msg("%s", err.msg);
        assert_string_equal(t[i].kind, "channel");
        assert_non_null(sl_opt_find(t[i].opts, "give_up_after"));
    }
}

static void test_slack(void **state) {
    (void)state;
    sl__notify_msg m;
    sl__jv *v = build_json("ops-slack", "firing", firing, &m);
    assert_non_null(strstr(sl__json_str(v, "text"), "[FIRING] Duplicate rate high"));
    const sl__jv *blocks = sl__json_get(v, "blocks");
    assert_true(blocks->n >= 4);
    const sl__jv *h = at(blocks, 0);
    assert_string_equal(sl__json_str(h, "type"), "header");
    assert_string_equal(sl__json_str(sl__json_get(h, "text"), "type"), "plain_text");
    assert_true(strlen(sl__json_str(sl__json_get(h, "text"), "text")) <= 150);
    assert_string_equal(sl__json_str(at(blocks, 1), "type"), "section");
    assert_string_equal(sl__json_str(sl__json_get(at(blocks, 1), "text"), "text"),
                        "cam-4 sends 31% duplicates");
    const sl__jv *fields = sl__json_get(at(blocks, 2), "fields");
    assert_true(fields->n >= 2 && fields->n <= 10);
    assert_string_equal(sl__json_str(at(fields, 0), "type"), "mrkdwn");
    assert_string_equal(sl__json_str(at(fields, 0), "text"), "*Severity*\nwarning");
    bool label = false;
    for (int i = 0; i < fields->n; i++)
        label |= !strcmp(sl__json_str(at(fields, i), "text"), "*dup_pct*\n31.5");
    assert_true(label);
    assert_string_equal(sl__json_str(at(blocks, blocks->n - 1), "type"), "context");
    sl__json_free(v);
    sl__notify_msg_free(&m);
    /* a long title is cut to Slack's 150 characters */
    char big[2000];
    snprintf(big, sizeof big, "{\"title\":\"%0400d\",\"message\":\"x\"}", 7);
    v = build_json("ops-slack", "firing", big, &m);
    const sl__jv *t = sl__json_get(at(sl__json_get(v, "blocks"), 0), "text");
    assert_true(strlen(sl__json_str(t, "text")) <= 150);
    sl__json_free(v);
    sl__notify_msg_free(&m);
    /* a digest lists its items */
    v = build_json("ops-slack", "digest", digest, &m);
    assert_non_null(strstr(sl__json_str(v, "text"), "[FIRING x3]"));
    assert_non_null(strstr(m.body, "cam-3 (warning): m3"));
    sl__json_free(v);
    sl__notify_msg_free(&m);
    v = build_json("ops-slack", "resolved", resolved, &m);
    assert_non_null(strstr(sl__json_str(v, "text"), "[RESOLVED]"));
    sl__json_free(v);
    sl__notify_msg_free(&m);
}

static void test_teams(void **state) {
    (void)state;
    sl__notify_msg m;
    sl__jv *v = build_json("teams-a", "firing", firing, &m);
    assert_string_equal(sl__json_str(v, "type"), "message");
    const sl__jv *att = at(sl__json_get(v, "attachments"), 0);
    assert_string_equal(sl__json_str(att, "contentType"),
                        "application/vnd.microsoft.card.adaptive");
    const sl__jv *card = sl__json_get(att, "content");
    assert_string_equal(sl__json_str(card, "type"), "AdaptiveCard");
    assert_string_equal(sl__json_str(card, "version"), "1.4");
    const sl__jv *body = sl__json_get(card, "body");
    assert_string_equal(sl__json_str(at(body, 0), "type"), "TextBlock");
    assert_string_equal(sl__json_str(at(body, 0), "text"), "[FIRING] Duplicate rate high");
    const sl__jv *fs = at(body, 2);
    assert_string_equal(sl__json_str(fs, "type"), "FactSet");
    assert_string_equal(sl__json_str(at(sl__json_get(fs, "facts"), 0), "title"), "Severity");
    sl__json_free(v);
    sl__notify_msg_free(&m);
    v = build_json("teams-m", "resolved", resolved, &m);
    assert_string_equal(sl__json_str(v, "@type"), "MessageCard");
    assert_string_equal(sl__json_str(v, "@context"), "https://schema.org/extensions");
    assert_string_equal(sl__json_str(v, "themeColor"), "2EB886");
    assert_string_equal(sl__json_str(v, "title"), "[RESOLVED] Duplicate rate high");
    assert_non_null(sl__json_get(at(sl__json_get(v, "sections"), 0), "facts"));
    sl__json_free(v);
    sl__notify_msg_free(&m);
}

static void test_pagerduty(void **state) {
    (void)state;
    sl__notify_msg m;
    sl__jv *v = build_json("pd", "firing", firing, &m);
    assert_string_equal(sl__json_str(v, "routing_key"), "R0UTINGKEY");
    assert_string_equal(sl__json_str(v, "event_action"), "trigger");
    assert_string_equal(sl__json_str(v, "dedup_key"), "dup_rate/cam-4");
    const sl__jv *p = sl__json_get(v, "payload");
    assert_string_equal(sl__json_str(p, "summary"),
                        "Duplicate rate high: cam-4 sends 31% duplicates");
    assert_string_equal(sl__json_str(p, "severity"), "warning");
    assert_string_equal(sl__json_str(p, "source"), "cameras");
    assert_string_equal(sl__json_str(p, "timestamp"), "2026-03-01T10:00:00Z");
    assert_string_equal(
        sl__json_str(sl__json_get(sl__json_get(p, "custom_details"), "labels"), "camera_id"),
        "cam-4");
    assert_null(m.body2);
    sl__json_free(v);
    sl__notify_msg_free(&m);
    v = build_json("pd", "resolved", resolved, &m);
    assert_string_equal(sl__json_str(v, "event_action"), "resolve");
    assert_string_equal(sl__json_str(v, "dedup_key"), "dup_rate/cam-4");
    assert_null(sl__json_get(v, "payload"));
    sl__json_free(v);
    sl__notify_msg_free(&m);
    v = build_json("pd", "digest", digest, &m);
    assert_string_equal(sl__json_str(sl__json_get(v, "payload"), "severity"), "critical");
    sl__json_free(v);
    sl__notify_msg_free(&m);
    /* a test event is resolved right after it is triggered */
    v = build_json("pd", "test", firing, &m);
    assert_string_equal(sl__json_str(v, "event_action"), "trigger");
    assert_non_null(m.body2);
    sl__jv *r = sl__json_parse(m.body2, strlen(m.body2));
    assert_string_equal(sl__json_str(r, "event_action"), "resolve");
    assert_string_equal(sl__json_str(r, "dedup_key"), sl__json_str(v, "dedup_key"));
    sl__json_free(r);
    sl__json_free(v);
    sl__notify_msg_free(&m);
}

static void test_webhook_and_signature(void **state) {
    (void)state;
    sl__notify_msg m;
    sl_error err = {0};
    assert_int_equal(sl__notify_build(chan("hook"), "firing", "k", firing, 0, &m, &err), 0);
    assert_string_equal(m.body, firing); /* the payload as stored */
    sl__notify_msg_free(&m);
    char sig[72];
    /* RFC 4231 test case 2 */
    sl__notify_signature("Jefe", "what do ya want for nothing?", 28, sig);
    assert_string_equal(sig,
                        "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    /* RFC 4231 test case 1: key 0x0b x 20, "Hi There" */
    sl__notify_signature("\x0b\x0b\x0b\x0b\x0b\x0b\x0b\x0b\x0b\x0b\x0b\x0b\x0b\x0b\x0b\x0b\x0b"
                         "\x0b\x0b\x0b",
                         "Hi There", 8, sig);
    assert_string_equal(sig,
                        "sha256=b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
}

static void test_email(void **state) {
    (void)state;
    sl__notify_msg m;
    sl_error err = {0};
    /* 2026-03-01T10:00:00Z */
    int64_t now = 1772359200LL * SL_US_PER_SEC;
    assert_int_equal(
        sl__notify_build(chan("mail"), "firing", "dup_rate:cam-4:1 x", firing, now, &m, &err), 0);
    assert_null(m.ctype);
    const char *b = m.body;
    assert_non_null(strstr(b, "Date: Sun, 01 Mar 2026 10:00:00 +0000\r\n"));
    assert_non_null(strstr(b, "From: alerts@example.com\r\n"));
    assert_non_null(strstr(b, "To: a@example.com, b@example.com\r\n"));
    assert_non_null(strstr(b, "Subject: [FIRING] Duplicate rate high\r\n"));
    assert_non_null(strstr(b, "Message-ID: <dup_rate%3Acam-4%3A1%20x@sluice>\r\n"));
    assert_non_null(strstr(b, "Content-Type: multipart/alternative; boundary="));
    assert_non_null(strstr(b, "Content-Type: text/plain; charset=utf-8"));
    assert_non_null(strstr(b, "Content-Type: text/html; charset=utf-8"));
    assert_null(strstr(b, "hunter2"));
    for (const char *p = b; *p; p++) /* every line ends CRLF and is short */
        if (*p == '\n') assert_true(p > b && p[-1] == '\r');
    sl__notify_msg_free(&m);
    /* a non-ASCII title is RFC 2047 encoded, and CR/LF cannot inject headers */
    assert_int_equal(sl__notify_build(chan("mail"), "firing", "k",
                                      "{\"title\":\"Caf\\u00e9\\r\\nBcc: x@evil\"}", now, &m, &err),
                     0);
    assert_non_null(strstr(m.body, "Subject: =?UTF-8?B?"));
    assert_null(strstr(m.body, "\r\nBcc:"));
    sl__notify_msg_free(&m);
}

static void test_bad_payload(void **state) {
    (void)state;
    sl__notify_msg m;
    sl_error err = {0};
    assert_int_equal(sl__notify_build(chan("ops-slack"), "firing", "k", "{\"a\":", 0, &m, &err),
                     SL_EINVAL);
    assert_null(sl__json_parse("[1,2", 4));
    assert_null(sl__json_parse("{\"a\":1} x", 9));
    assert_null(sl__json_parse("\"\\ud800\"", 8));
    sl__jv *v = sl__json_parse("{\"s\":\"\\ud83d\\ude00\\n\"}", 22);
    assert_non_null(v);
    assert_string_equal(sl__json_str(v, "s"), "\xf0\x9f\x98\x80\n");
    sl__json_free(v);
}

static void test_backoff(void **state) {
    (void)state;
    int64_t max = 60 * SL_US_PER_SEC;
    /* r = 0: half the schedule; r -> 1: the whole of it */
    assert_int_equal(sl__notify_backoff_us(1, max, 0), 250000);
    assert_int_equal(sl__notify_backoff_us(2, max, 0), 500000);
    assert_int_equal(sl__notify_backoff_us(3, max, 0), 1000000);
    assert_int_equal(sl__notify_backoff_us(5, max, 0), 4000000);
    assert_true(sl__notify_backoff_us(5, max, 0.999999) > 7990000);
    assert_true(sl__notify_backoff_us(5, max, 0.999999) <= 8000000);
    /* capped at max_backoff, still jittered */
    assert_int_equal(sl__notify_backoff_us(30, max, 0), 30 * SL_US_PER_SEC);
    assert_true(sl__notify_backoff_us(1000, max, 0.999999) <= max);
    /* each delay lies in [d/2, d) of the doubling schedule */
    for (int a = 1; a < 12; a++) {
        int64_t d = SL__NOTIFY_BACKOFF_BASE_US << (a - 1);
        if (d > max) d = max;
        for (double r = 0; r < 1; r += 0.125) {
            int64_t v = sl__notify_backoff_us(a, max, r);
            assert_true(v >= d / 2 && v <= d);
        }
    }
}

static void test_outbox(void **state) {
    (void)state;
    char path[4200];
    snprintf(path, sizeof path, "%s/o.db", dir);
    sl_error err = {0};
    sl_store *s = sl_store_open(path, false, &err);
    assert_non_null(s);
    assert_int_equal(sl_outbox_init(s, &err), 0);
    assert_int_equal(sl_outbox_init(s, &err), 0); /* idempotent */
    sl_notification n = {"k1", "a-1", "ops-slack", "firing", firing, 1772359200LL * SL_US_PER_SEC};
    assert_int_equal(sl_store_begin(s, &err), 0);
    assert_int_equal(sl_outbox_put(s, &n, &err), 0);
    assert_int_equal(sl_outbox_put(s, &n, &err), 0); /* a replay: ignored */
    n.idem_key = "k2";
    n.alert_id = NULL;
    assert_int_equal(sl_outbox_put(s, &n, &err), 0);
    assert_int_equal(sl_store_commit(s, &err), 0);
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(sl_store_db(s),
                                        "SELECT count(*), min(state), max(state), min(attempts), "
                                        "min(created_at), min(alert_id) FROM _sluice_outbox",
                                        -1, &st, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int(st, 0), 2);
    assert_string_equal((const char *)sqlite3_column_text(st, 1), "pending");
    assert_string_equal((const char *)sqlite3_column_text(st, 2), "pending");
    assert_int_equal(sqlite3_column_int(st, 3), 0);
    assert_string_equal((const char *)sqlite3_column_text(st, 4), "2026-03-01T10:00:00Z");
    assert_string_equal((const char *)sqlite3_column_text(st, 5), "");
    sqlite3_finalize(st);
    n.idem_key = NULL;
    assert_int_equal(sl_outbox_put(s, &n, &err), SL_EINVAL);
    sl_store_close(s);
}

/* `alert test` against a port nobody listens on: a failure line that names
 * the channel and its host, never a secret of the URL. */
static void test_channels_test_no_secret(void **state) {
    (void)state;
    sl_error err = {0};
    sl_spec *sp;
    sl_channels *c = load("alerts:\n  channels:\n"
                          "    s: {type: slack, url: 'http://127.0.0.1:9/services/SECRETTOKEN', "
                          "timeout: 2s}\n"
                          "    o: {type: webhook, url: ''}\n",
                          &sp, &err);
    assert_non_null(c);
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    assert_int_not_equal(sl_channels_test(c, NULL, "p", f), 0);
    fclose(f);
    assert_non_null(strstr(buf, "s (slack, 127.0.0.1:9): FAILED"));
    assert_non_null(strstr(buf, "o (webhook): off"));
    assert_null(strstr(buf, "SECRETTOKEN"));
    free(buf);
    f = open_memstream(&buf, &len);
    assert_int_equal(sl_channels_test(c, "o", "p", f), 0); /* off: nothing sent, nothing failed */
    fclose(f);
    free(buf);
    sl_channels_free(c);
    sl_spec_free(sp);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bind),
        cmocka_unit_test(test_bind_errors),
        cmocka_unit_test(test_opt_tables),
        cmocka_unit_test(test_slack),
        cmocka_unit_test(test_teams),
        cmocka_unit_test(test_pagerduty),
        cmocka_unit_test(test_webhook_and_signature),
        cmocka_unit_test(test_email),
        cmocka_unit_test(test_bad_payload),
        cmocka_unit_test(test_backoff),
        cmocka_unit_test(test_outbox),
        cmocka_unit_test(test_channels_test_no_secret),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
