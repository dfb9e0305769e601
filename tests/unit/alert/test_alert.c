/*
 * test_alert.c - the alert rules' state machine, row by row, through the
 * rule's sink (what the engine attaches to a table): `for`, `for_count`
 * (alone and with `for`), rate_limit, repeat, resolution (and resolve:
 * false), group digests (max_items, key order, a key resolved before its
 * digest), and a restart that reloads the key states from the store and
 * carries on as if never stopped. Results are read back from alert_history,
 * _sluice_outbox and _sluice_alert_state with SQL.
 */
#include <setjmp.h> /* cmocka.h needs these four first */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alert/alert.h"
#include "core/timeutil.h"

#define TMPDIR_PREFIX "/tmp/sl_alert_test_XXXXXX"
#include "../tmpdir_test.h"

#define T0 1767225600000000LL /* 2026-01-01T00:00:00Z in µs */
#define SEC 1000000LL

static sl_schema schema;

static int lookup(void *ud, const char *table, sl_alert_target *out) {
    (void)ud;
    if (strcmp(table, "readings")) return SL_ENOTFOUND;
    *out = (sl_alert_target){.schema = &schema, .time_col = "ts"};
    return 0;
}

/* One pipeline: its spec, compiled rules and store. */
typedef struct fx {
    sl_spec *spec;
    sl_alerts *a;
    sl_store *s;
    char path[256];
} fx;

static void fx_open(fx *f, const char *name, const char *rules) {
    char yaml[4096];
    snprintf(yaml, sizeof yaml,
             "alerts:\n  channels:\n    hook: {type: webhook, url: 'http://127.0.0.1:9/h'}\n"
             "  rules:\n%s",
             rules);
    sl_error err = {0};
    f->spec = sl_spec_load_mem("t.yaml", yaml, strlen(yaml), NULL, &err);
    if (!f->spec) fail_msg("%s", err.msg);
    f->a = sl_alerts_compile(sl_node_get(sl_spec_root(f->spec), "alerts"), "p", lookup, NULL, &err);
    if (!f->a) fail_msg("%s", err.msg);
    snprintf(f->path, sizeof f->path, "%s/%s.db", dir, name);
    f->s = sl_store_open(f->path, false, &err);
    assert_non_null(f->s);
    assert_int_equal(sl_store_begin(f->s, &err), 0);
    if (sl_alerts_open(f->a, f->s, &err)) fail_msg("%s", err.msg);
}

/* Commits and frees everything (a clean stop; fx_open again to restart). */
static void fx_close(fx *f) {
    sl_error err = {0};
    assert_int_equal(sl_store_commit(f->s, &err), 0);
    sl_store_close(f->s);
    sl_alerts_free(f->a);
    sl_spec_free(f->spec);
}

/* Rows (host, seconds after T0, value; NAN: NULL) through rule `rule`. */
typedef struct row {
    const char *host;
    int64_t t;
    double v;
} row;

static void feed(fx *f, int rule, const row *rows, int n) {
    sl_batch *b = sl_batch_new(&schema, (uint32_t)n);
    for (int i = 0; i < n; i++) {
        uint32_t r = sl_batch_append_null_row(b);
        sl_col_set_str(&b->col[0], r, rows[i].host, (uint32_t)strlen(rows[i].host));
        sl_col_set_int(&b->col[1], r, T0 + rows[i].t * SEC);
        if (!isnan(rows[i].v)) sl_col_set_double(&b->col[2], r, rows[i].v);
    }
    sl_error err = {0};
    if (sl_alert_rule_sink.write(sl_alerts_rule(f->a, rule), b, NULL, &err))
        fail_msg("%s", err.msg);
    sl_batch_free(b);
}

/* The first column of the first row of sql as text ("" when none), and a count. */
static char *q1(fx *f, const char *sql) {
    static char out[4096];
    sqlite3_stmt *st;
    out[0] = 0;
    if (sqlite3_prepare_v2(sl_store_db(f->s), sql, -1, &st, NULL)) fail_msg("%s", sql);
    if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0))
        snprintf(out, sizeof out, "%s", sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    return out;
}
static int qn(fx *f, const char *sql) { return atoi(q1(f, sql)); }

/* "kind@created,kind@created,..." of the outbox in creation order, times in seconds after T0. */
static char *outbox(fx *f) {
    return q1(f, "SELECT group_concat(kind || '@' || (unixepoch(created_at) - 1767225600), ',') "
                 "FROM (SELECT kind, created_at FROM _sluice_outbox ORDER BY id)");
}
/* "state:created[-resolved]/sent" of alert_history in creation order. */
static char *history(fx *f) {
    return q1(f, "SELECT group_concat(alert_key || ':' || (unixepoch(created_at) - 1767225600) || "
                 "coalesce('-' || (unixepoch(resolved_at) - 1767225600), '') || '/' || "
                 "channels_sent, ',') FROM (SELECT * FROM alert_history ORDER BY rowid)");
}

/* The same, by alert_id: rules fed in another interleaving insert in another order. */
static char *history_by_id(fx *f) {
    return q1(f, "SELECT group_concat(alert_id || ':' || (unixepoch(created_at) - 1767225600) || "
                 "coalesce('-' || (unixepoch(resolved_at) - 1767225600), '') || '/' || "
                 "channels_sent || '/' || notified_by, ',') FROM (SELECT * FROM alert_history "
                 "ORDER BY alert_id)");
}

static void test_for(void **state) {
    (void)state;
    fx f;
    fx_open(&f, "for",
            "    - {name: r, table: readings, when: 'value > 80', key: host, for: 30s}\n");
    const row rows[] = {
        {"a", 0, 90},   {"a", 10, 90}, {"a", 20, 90}, /* pending, < 30 s */
        {"a", 30, 90},                                /* held 30 s: fires */
        {"b", 0, 90},   {"b", 10, 50},                /* back to inactive */
        {"b", 20, 90},  {"b", 45, 90},                /* 25 s since 20: still pending */
        {"b", 50, NAN},                               /* NULL counts as false */
        {"b", 60, 90},  {"b", 90, 90},                /* fires at 90 (held since 60) */
    };
    feed(&f, 0, rows, 6);
    feed(&f, 0, rows + 6, 5); /* batching does not matter */
    assert_string_equal(history(&f), "a:30/hook,b:90/hook");
    assert_string_equal(outbox(&f), "firing@30,firing@90");
    assert_int_equal(sl_alerts_firing(f.a, 0), 2);
    fx_close(&f);
}

static void test_for_count(void **state) {
    (void)state;
    fx f;
    fx_open(&f, "for_count",
            "    - {name: n, table: readings, when: 'value > 80', key: host, for_count: 3}\n"
            "    - {name: both, table: readings, when: 'value > 80', key: host, for_count: 3, "
            "for: 60s}\n"
            "    - {name: both2, table: readings, when: 'value > 80', key: host, for_count: 3, "
            "for: 10s}\n");
    const row rows[] = {
        {"a", 0, 90}, {"a", 1, 90}, {"a", 2, 50},                /* 2 in a row, then broken */
        {"a", 3, 90}, {"a", 4, 90}, {"a", 5, NAN}, {"a", 6, 90}, /* NULL breaks it too */
        {"a", 7, 90}, {"a", 8, 90},                              /* 3rd in a row at 8: fires */
        {"a", 9, 90},                                            /* firing already */
    };
    feed(&f, 0, rows, 10);
    assert_string_equal(history(&f), "a:8/hook");
    /* for_count and for: both must hold */
    const row both[] = {
        {"a", 0, 90},  {"a", 10, 90}, {"a", 20, 90}, /* 3 rows but 20 s < 60 s */
        {"a", 59, 90},                               /* 59 s */
        {"a", 60, 90},                               /* 60 s and 5 rows: fires */
    };
    feed(&f, 1, both, 5);
    assert_string_equal(
        q1(&f, "SELECT group_concat(unixepoch(created_at) - 1767225600) FROM alert_history "
               "WHERE rule = 'both'"),
        "60");
    const row both2[] = {
        {"a", 0, 90},
        {"a", 20, 90}, /* 20 s >= 10 s but 2 rows */
        {"a", 21, 90}, /* 3rd row: fires */
    };
    feed(&f, 2, both2, 3);
    assert_string_equal(
        q1(&f, "SELECT group_concat(unixepoch(created_at) - 1767225600) FROM alert_history "
               "WHERE rule = 'both2'"),
        "21");
    fx_close(&f);
}

static void test_rate_limit_and_resolve(void **state) {
    (void)state;
    fx f;
    fx_open(&f, "rate",
            "    - {name: r, table: readings, when: 'value > 80', key: host, rate_limit: 5m}\n"
            "    - {name: keep, table: readings, when: 'value > 80', key: host, resolve: false}\n");
    const row rows[] = {
        {"a", 0, 90},   /* fires, sent */
        {"a", 10, 50},  /* resolves, resolve sent */
        {"a", 20, 90},  /* fires within 5 min of the last notification: history only */
        {"a", 30, 50},  /* its resolve is not sent either */
        {"a", 400, 90}, /* 400 s after the last notification at 10: sent */
        {"a", 410, 50},
    };
    feed(&f, 0, rows, 6);
    assert_string_equal(history(&f), "a:0-10/hook,a:20-30/,a:400-410/hook");
    assert_string_equal(outbox(&f), "firing@0,resolved@10,firing@400,resolved@410");
    /* each notification its own idempotency key, resolves keep the firing's alert_id */
    assert_int_equal(qn(&f, "SELECT count(DISTINCT idem_key) FROM _sluice_outbox"), 4);
    assert_int_equal(qn(&f, "SELECT count(*) FROM _sluice_outbox o JOIN alert_history h "
                            "ON h.alert_id = o.alert_id WHERE o.kind = 'resolved' "
                            "AND h.state = 'resolved'"),
                     2);
    feed(&f, 1, rows, 6); /* resolve: false: one alert, still firing */
    assert_string_equal(q1(&f, "SELECT group_concat(state || '@' || (unixepoch(created_at) - "
                               "1767225600)) FROM alert_history WHERE rule = 'keep'"),
                        "firing@0");
    assert_int_equal(sl_alerts_firing(f.a, 0), 0);
    assert_int_equal(sl_alerts_firing(f.a, 1), 1);
    fx_close(&f);
}

static void test_repeat(void **state) {
    (void)state;
    fx f;
    fx_open(&f, "repeat",
            "    - {name: r, table: readings, when: 'value > 80', repeat: 2m, message: '{host} "
            "{value}'}\n"
            "    - {name: rl, table: readings, when: 'value > 80', repeat: 1m, rate_limit: 3m}\n");
    const row rows[] = {
        {"a", 0, 90},   {"a", 60, 91},  {"a", 120, 92}, /* repeat at 120 */
        {"a", 200, 93}, {"a", 240, 94},                 /* repeat at 240 */
        {"a", 250, 50},                                 /* resolved */
    };
    feed(&f, 0, rows, 6);
    assert_string_equal(outbox(&f), "firing@0,repeat@120,repeat@240,resolved@250");
    /* a repeat carries the current row's message */
    assert_true(strstr(q1(&f, "SELECT payload FROM _sluice_outbox WHERE kind = 'repeat' "
                              "ORDER BY id DESC"),
                       "\"message\":\"a 94\""));
    /* repeats are at least rate_limit apart */
    feed(&f, 1, rows, 5);
    assert_string_equal(q1(&f, "SELECT group_concat(kind || '@' || (unixepoch(created_at) - "
                               "1767225600)) FROM (SELECT * FROM _sluice_outbox o WHERE "
                               "alert_id LIKE 'rl-%' ORDER BY id)"),
                        "firing@0,repeat@200");
    fx_close(&f);
}

static void test_digest(void **state) {
    (void)state;
    fx f;
    fx_open(&f, "digest",
            "    - {name: g, table: readings, when: 'value > 80', key: host, severity: \"CASE "
            "WHEN value > 95 THEN 'critical' ELSE 'warning' END\", group: {window: 1m, "
            "max_items: 2}}\n");
    const row rows[] = {
        {"c", 5, 90},  {"a", 10, 99}, {"b", 20, 90}, /* three keys in window [0, 60) */
        {"e", 30, 90}, {"e", 40, 50},                /* e resolves before the digest: left out */
        {"x", 61, 10},                               /* past the window: the digest goes out */
        {"d", 70, 90},                               /* alone in [60, 120) */
    };
    feed(&f, 0, rows, 7);
    assert_string_equal(outbox(&f), "digest@60");
    const char *p = q1(&f, "SELECT payload FROM _sluice_outbox WHERE kind = 'digest'");
    assert_non_null(strstr(p, "\"count\":3"));
    assert_non_null(strstr(p, "\"severity\":\"critical\"")); /* the worst of its items */
    /* max_items 2, in key order: a and b listed, c counted */
    const char *ia = strstr(p, "\"key\":\"a\""), *ib = strstr(p, "\"key\":\"b\"");
    assert_true(ia && ib && ia < ib);
    assert_null(strstr(p, "\"key\":\"c\""));
    assert_null(strstr(p, "\"key\":\"e\""));
    /* every key of the digest points at it; e was never sent */
    assert_int_equal(qn(&f, "SELECT count(*) FROM alert_history WHERE notified_by LIKE "
                            "'g-digest-%' AND channels_sent = 'hook'"),
                     3);
    assert_string_equal(q1(&f, "SELECT channels_sent || '|' || state FROM alert_history WHERE "
                               "alert_key = 'e'"),
                        "|resolved");
    /* the end of the input flushes d's window: a single key goes out as a normal firing */
    sl_error err = {0};
    assert_int_equal(sl_alerts_finish(f.a, &err), 0);
    assert_string_equal(outbox(&f), "digest@60,firing@70");
    /* resolves are never grouped */
    const row res[] = {{"a", 130, 50}, {"d", 131, 50}};
    feed(&f, 0, res, 2);
    assert_string_equal(outbox(&f), "digest@60,firing@70,resolved@130,resolved@131");
    fx_close(&f);
}

/* A stop in the middle of every state: the reloaded rule continues the
 * pending `for`, the for_count streak, the firing key (same alert_id, its
 * resolve still sent), the rate limit and the collecting digest, and gives
 * the outbox the same rows as one uninterrupted run. */
static const char *restart_rules =
    "    - {name: f, table: readings, when: 'value > 80', key: host, for: 30s, rate_limit: 5m}\n"
    "    - {name: n, table: readings, when: 'value > 80', key: host, for_count: 3}\n"
    "    - {name: g, table: readings, when: 'value > 80', key: host, group: {window: 1m}}\n";
static const row restart_rows[] = {
    {"a", 0, 90},
    {"b", 0, 90},
    {"a", 20, 90},
    {"b", 30, 90}, /* b fires, a pending */
    {"c", 31, 90},
    {"c", 32, 90}, /* streak 2 of 3 */
    /* ---- the stop is here (row 6) ---- */
    {"a", 30, 90},
    {"c", 33, 90}, /* a held 30 s: fires; c's 3rd row */
    {"b", 40, 50},
    {"b", 50, 90}, /* resolve sent; refire rate limited */
    {"b", 100, 90},
    {"x", 121, 5}, /* past g's windows */
};
#define NRESTART (int)(sizeof restart_rows / sizeof *restart_rows)

static void run_all(fx *f, int from, int to) {
    for (int r = 0; r < 3; r++)
        feed(f, r, restart_rows + from, to - from);
}

static void test_restart(void **state) {
    (void)state;
    fx one, two;
    fx_open(&one, "straight", restart_rules);
    run_all(&one, 0, NRESTART);
    char want_hist[4096], want_out[4096], want_keys[4096];
    snprintf(want_hist, sizeof want_hist, "%s", history_by_id(&one));
    snprintf(want_out, sizeof want_out, "%s",
             q1(&one, "SELECT group_concat(idem_key || alert_id || kind || payload, ',') FROM "
                      "(SELECT * FROM _sluice_outbox ORDER BY idem_key)"));
    snprintf(want_keys, sizeof want_keys, "%s",
             q1(&one, "SELECT group_concat(rule || key || state || since || last_sent || seq || "
                      "nfired || alert_id || streak, ',') FROM (SELECT * FROM "
                      "_sluice_alert_state ORDER BY rule, key)"));
    fx_close(&one);

    fx_open(&two, "restarted", restart_rules);
    run_all(&two, 0, 6);
    assert_int_equal(qn(&two, "SELECT count(*) FROM _sluice_alert_state WHERE rule = 'n' AND "
                              "key = 'c' AND state = 1 AND streak = 2"),
                     1);
    fx_close(&two); /* committed: the states are in the store */
    fx_open(&two, "restarted", restart_rules);
    run_all(&two, 6, NRESTART);
    assert_string_equal(history_by_id(&two), want_hist);
    assert_string_equal(q1(&two, "SELECT group_concat(idem_key || alert_id || kind || payload, "
                                 "',') FROM (SELECT * FROM _sluice_outbox ORDER BY idem_key)"),
                        want_out);
    assert_string_equal(q1(&two, "SELECT group_concat(rule || key || state || since || last_sent "
                                 "|| seq || nfired || alert_id || streak, ',') FROM (SELECT * "
                                 "FROM _sluice_alert_state ORDER BY rule, key)"),
                        want_keys);
    /* and what that is. f: b fired at 30 and resolved at 40 (sent); b pending again
     * from 50, fires at 100 inside the rate limit (not sent); a fired at 30 after
     * the restart. n: a's and c's third rows. g: b resolved before the digest and
     * fired again; the digest at 60 carries a, b (again) and c. */
    assert_string_equal(
        q1(&two, "SELECT group_concat(rule || ':' || alert_key || ':' || (unixepoch(created_at) - "
                 "1767225600) || coalesce('-' || (unixepoch(resolved_at) - 1767225600), '') || "
                 "'/' || channels_sent, ' ') FROM (SELECT * FROM alert_history ORDER BY rule, "
                 "alert_key, created_at)"),
        "f:a:30/hook f:b:30-40/hook f:b:100/ g:a:0/hook g:b:0-40/ g:b:50/hook g:c:31/hook "
        "n:a:30/hook n:c:33/hook");
    assert_int_equal(qn(&two, "SELECT count(*) FROM _sluice_outbox WHERE kind = 'digest' AND "
                              "payload LIKE '%\"count\":3}'"),
                     1);
    fx_close(&two);
}

static void test_compile_errors(void **state) {
    (void)state;
    const char *bad[][2] = {
        {"    - {name: r, table: nope, when: 'value > 1'}\n", "unknown table 'nope'"},
        {"    - {name: r, table: readings, when: 'value + 1'}\n", "must be a condition"},
        {"    - {name: r, table: readings, when: 'value > 1', for_count: 0}\n", "for_count"},
        {"    - {name: r, table: readings, when: 'value > 1', message: '{nope}'}\n",
         "unknown column 'nope'"},
        {"    - {name: r, table: readings, when: 'value > 1', channels: [x]}\n",
         "unknown channel 'x'"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        char yaml[1024];
        snprintf(yaml, sizeof yaml, "alerts:\n  rules:\n%s", bad[i][0]);
        sl_error err = {0};
        sl_spec *sp = sl_spec_load_mem("t.yaml", yaml, strlen(yaml), NULL, &err);
        assert_non_null(sp);
        sl_alerts *a =
            sl_alerts_compile(sl_node_get(sl_spec_root(sp), "alerts"), "p", lookup, NULL, &err);
        assert_null(a);
        if (!strstr(err.msg, bad[i][1])) fail_msg("%s: got %s", bad[i][1], err.msg);
        assert_non_null(strstr(err.msg, "t.yaml:3:"));
        sl_spec_free(sp);
    }
}

int main(void) {
    sl_schema_init(&schema);
    sl_schema_add(&schema, "host", SL_T_STRING);
    sl_schema_add(&schema, "ts", SL_T_TS);
    sl_schema_add(&schema, "value", SL_T_DOUBLE);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_for),
        cmocka_unit_test(test_for_count),
        cmocka_unit_test(test_rate_limit_and_resolve),
        cmocka_unit_test(test_repeat),
        cmocka_unit_test(test_digest),
        cmocka_unit_test(test_restart),
        cmocka_unit_test(test_compile_errors),
    };
    return cmocka_run_group_tests(tests, tmpdir_setup, tmpdir_teardown);
}
