/*
 * test_server.c - the HTTP server against a real SQLite file and real
 * sockets: auth, the authorizer, time and row limits, SSE after publish,
 * metrics, static assets, port conflicts.
 *
 * The client is a few lines of raw-socket HTTP/1.0 (the server speaks to
 * any client; this keeps the test's dependencies those of the module).
 *
 * `test_server --serve DB [TOKEN [DASHBOARD.json [PORT]]]` instead serves a
 * small demo pipeline database for the browser and promtool scripts (the
 * demo dashboard unless a file gives another; any free port unless PORT
 * is given, so a script can stop and restart it): it prints "PORT n", then
 * runs each line of stdin as SQL on a write connection and publishes a
 * commit, and publishes every second anyway, until stdin closes.
 */
#include <openssl/evp.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"
#include "core/timeutil.h"
#include "server/server.h"

/* ---- tiny HTTP client ---- */

typedef struct resp {
    int status;
    char *head; /* status line + headers */
    char *body;
} resp;

static int connect_port(int port) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static void send_req(int fd, const char *path, const char *extra) {
    char req[8192];
    int n = snprintf(req, sizeof req, "GET %s HTTP/1.0\r\nHost: localhost\r\n%s\r\n", path,
                     extra ? extra : "");
    assert_true(write(fd, req, (size_t)n) == n);
}

/* Reads until the peer closes, or until `until` appears (then returns early),
 * or timeout_ms passes. Returns the bytes read (NUL-terminated, malloc'd). */
static char *read_until(int fd, const char *until, int timeout_ms, size_t *len) {
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    int64_t end = sl_monotonic_us() + (int64_t)timeout_ms * 1000;
    for (;;) {
        int64_t left = (end - sl_monotonic_us()) / 1000;
        if (left <= 0) break;
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, (int)left) <= 0) break;
        if (n + 4096 + 1 > cap) buf = realloc(buf, cap *= 2);
        ssize_t r = read(fd, buf + n, cap - n - 1);
        if (r <= 0) break;
        n += (size_t)r;
        buf[n] = 0;
        if (until && strstr(buf, until)) break;
    }
    buf[n] = 0;
    if (len) *len = n;
    return buf;
}

static resp get(int port, const char *path, const char *extra) {
    resp r = {0};
    int fd = connect_port(port);
    assert_true(fd >= 0);
    send_req(fd, path, extra);
    char *all = read_until(fd, NULL, 10000, NULL);
    close(fd);
    char *sep = strstr(all, "\r\n\r\n");
    assert_non_null(sep);
    *sep = 0;
    r.head = all;
    r.body = strdup(sep + 4);
    assert_int_equal(sscanf(all, "HTTP/1.%*d %d", &r.status), 1);
    return r;
}

static void resp_free(resp *r) {
    free(r->head);
    free(r->body);
}

static char *url_escape(const char *s) {
    char *o = malloc(strlen(s) * 3 + 1), *p = o;
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
            strchr("-_.~", c))
            *p++ = (char)c;
        else
            p += sprintf(p, "%%%02X", c);
    }
    *p = 0;
    return o;
}

static resp query(int port, const char *sql, const char *extra) {
    char *e = url_escape(sql);
    char *path = malloc(strlen(e) + 64);
    sprintf(path, "/api/query?sql=%s", e);
    resp r = get(port, path, extra);
    free(e);
    free(path);
    return r;
}

/* ---- fixture ---- */

#define TOKEN "s3cret-t0ken"
#define AUTH "Authorization: Bearer " TOKEN "\r\n"

static char db_path[256];

static void exec_sql(const char *sql) {
    sqlite3 *db;
    assert_int_equal(sqlite3_open(db_path, &db), SQLITE_OK);
    sqlite3_busy_timeout(db, 5000);
    char *msg = NULL;
    int rc = sqlite3_exec(db, sql, NULL, NULL, &msg);
    if (rc != SQLITE_OK) fprintf(stderr, "sql error: %s\n", msg);
    assert_int_equal(rc, SQLITE_OK);
    sqlite3_close(db);
}

static const char *demo_schema =
    "PRAGMA journal_mode=WAL;"
    "CREATE TABLE IF NOT EXISTS detection_events(detection_oid INTEGER, geographical_location_oid "
    "INTEGER,"
    " geographical_location TEXT, item_name TEXT, event_ts TEXT, _ingest_ts TEXT);"
    "CREATE TABLE IF NOT EXISTS detections_by_location_1m(window_start TEXT, "
    "geographical_location_oid INTEGER,"
    " geographical_location TEXT, detections INTEGER, distinct_cameras INTEGER, is_final INTEGER, "
    "_group INTEGER UNIQUE);"
    "CREATE TABLE IF NOT EXISTS quarantine(table_name TEXT, reason TEXT, raw TEXT, _source TEXT, "
    "_offset INTEGER, _ingest_ts TEXT);"
    "CREATE TABLE IF NOT EXISTS _sluice_events(commit_id INTEGER PRIMARY KEY, ts TEXT, kind TEXT, "
    "records_in INTEGER,"
    " parse_errors INTEGER, quarantined INTEGER, late INTEGER, duplicates INTEGER, filtered "
    "INTEGER, dropped INTEGER,"
    " watermark TEXT, event_lag_avg_ms REAL, event_lag_max_ms REAL, processing_latency_ms REAL, "
    "commit_ms REAL, details TEXT);"
    "CREATE TABLE IF NOT EXISTS _sluice_state(k TEXT PRIMARY KEY, v BLOB);"
    "CREATE VIEW IF NOT EXISTS top_locations AS SELECT geographical_location, sum(detections) AS "
    "detections"
    " FROM detections_by_location_1m GROUP BY 1 ORDER BY 2 DESC;";

static void make_db(const char *path) {
    snprintf(db_path, sizeof db_path, "%s", path);
    unlink(path);
    exec_sql(demo_schema);
    exec_sql("WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM n WHERE i < 150)"
             " INSERT INTO detection_events SELECT i, i % 5, 'loc-' || (i % 5), 'item-' || i,"
             " strftime('%Y-%m-%dT%H:%M:%SZ', 1700000000 + i, 'unixepoch'), '2024-01-01T00:00:00Z' "
             "FROM n;"
             "WITH RECURSIVE w(i) AS (SELECT 0 UNION ALL SELECT i+1 FROM w WHERE i < 9),"
             " l(j) AS (SELECT 0 UNION ALL SELECT j+1 FROM l WHERE j < 4)"
             " INSERT INTO detections_by_location_1m SELECT strftime('%Y-%m-%dT%H:%M:%SZ', "
             "1700000000 + 60*i, 'unixepoch'),"
             " j, 'loc-' || j, 10 + i * j, 1 + j, i < 8, i * 100 + j FROM w, l;"
             "INSERT INTO quarantine VALUES('raw_detection_events', 'expectation ''has_location'' "
             "failed', '{\"x\":1}', 'f.ndjson', 7, '2024-01-01T00:00:00Z');"
             "INSERT INTO _sluice_events(commit_id, ts, kind, records_in, quarantined, duplicates, "
             "commit_ms)"
             " VALUES(1, '2024-01-01T00:00:00Z', 'commit', 150, 1, 3, 2.5);");
}

static const char *sample_metrics =
    "# HELP sluice_table_rows_out_total Rows a table wrote.\n"
    "# TYPE sluice_table_rows_out_total counter\n"
    "sluice_table_rows_out_total{pipeline=\"demo\",table=\"detection_events\"} 150\n"
    "# HELP sluice_expectation_rows_total Rows checked by an expectation.\n"
    "# TYPE sluice_expectation_rows_total counter\n"
    "sluice_expectation_rows_total{pipeline=\"demo\",table=\"raw_detection_events\",expectation="
    "\"has_location\",result=\"passed\"} 150\n"
    "sluice_expectation_rows_total{pipeline=\"demo\",table=\"raw_detection_events\",expectation="
    "\"has_location\",result=\"failed\"} 1\n"
    "# HELP sluice_last_commit_timestamp_seconds Wall-clock time of the last commit.\n"
    "# TYPE sluice_last_commit_timestamp_seconds gauge\n"
    "sluice_last_commit_timestamp_seconds{pipeline=\"demo\"} 1700000000.000\n"
    "# HELP sluice_freshness_seconds Time from a record being read to its commit.\n"
    "# TYPE sluice_freshness_seconds histogram\n"
    "sluice_freshness_seconds_bucket{pipeline=\"demo\",le=\"0.1\"} 3\n"
    "sluice_freshness_seconds_bucket{pipeline=\"demo\",le=\"+Inf\"} 4\n"
    "sluice_freshness_seconds_sum{pipeline=\"demo\"} 0.9\n"
    "sluice_freshness_seconds_count{pipeline=\"demo\"} 4\n";

static const char *demo_dashboard =
    "{\"title\":\"cameras\",\"panels\":["
    "{\"title\":\"Detections per minute\",\"type\":\"timeseries\",\"sql\":\"SELECT window_start, "
    "geographical_location,"
    " detections FROM detections_by_location_1m ORDER BY "
    "window_start\",\"refresh_ms\":2000,\"x\":\"window_start\","
    "\"y\":[\"detections\"],\"series\":\"geographical_location\"},"
    "{\"title\":\"Top locations\",\"type\":\"bar\",\"sql\":\"SELECT geographical_location, "
    "detections FROM top_locations\","
    "\"refresh_ms\":2000,\"x\":\"geographical_location\",\"y\":[\"detections\"]},"
    "{\"title\":\"Duplicate rate\",\"type\":\"stat\",\"sql\":\"SELECT round(100.0 * "
    "sum(duplicates) / sum(records_in), 2)"
    " AS duplicate_pct FROM _sluice_events\",\"refresh_ms\":2000,\"unit\":\"%\"},"
    "{\"title\":\"Latest detections\",\"type\":\"table\",\"sql\":\"SELECT detection_oid, "
    "geographical_location, item_name,"
    " event_ts FROM detection_events ORDER BY rowid DESC LIMIT 20\",\"refresh_ms\":30000}]}";

static const char *demo_lineage =
    "{\"nodes\":[{\"name\":\"detections\",\"kind\":\"source\"},{\"name\":\"raw_detection_events\","
    "\"kind\":\"table\","
    "\"layer\":\"bronze\"},{\"name\":\"detection_events\",\"kind\":\"table\",\"layer\":\"silver\"},"
    "{\"name\":\"detections_by_location_1m\",\"kind\":\"table\",\"layer\":\"gold\"},{\"name\":"
    "\"top_locations\","
    "\"kind\":\"view\",\"layer\":\"gold\"}],\"edges\":[[\"detections\",\"raw_detection_events\"],"
    "[\"raw_detection_events\",\"detection_events\"],[\"detection_events\",\"detections_by_"
    "location_1m\"],"
    "[\"detections_by_location_1m\",\"top_locations\"]]}";

static int hook_calls;
static int hook(void *ud, sqlite3 *db) {
    (void)ud;
    __atomic_fetch_add(&hook_calls, 1, __ATOMIC_SEQ_CST);
    /* what sl_pipeline_prepare_connection makes: an NDJSON lake table (a view
     * over its _lake_ table), and a pipeline view re-made as a temp view */
    return sqlite3_exec(db,
                        "CREATE TEMP TABLE _lake_lake_demo(line TEXT);"
                        "CREATE TEMP VIEW lake_demo AS SELECT 1 AS a, 'x' AS b;"
                        "CREATE TEMP VIEW demo_view AS SELECT 2 AS c",
                        NULL, NULL, NULL);
}

static sl_server *start(const char *token, int timeout_ms, int row_limit) {
    sl_server_config cfg = {.listen = "127.0.0.1:0",
                            .token = token,
                            .db_path = db_path,
                            .pipeline_name = "demo",
                            .dashboard_json = demo_dashboard,
                            .lineage_json = demo_lineage,
                            .query_timeout_ms = timeout_ms,
                            .query_row_limit = row_limit,
                            .on_connection = hook};
    sl_error err = {0};
    sl_server *s = sl_server_start(&cfg, &err);
    if (!s) fprintf(stderr, "start: %s\n", err.msg);
    assert_non_null(s);
    assert_true(sl_server_port(s) > 0);
    return s;
}

static int setup(void **state) {
    char path[200];
    snprintf(path, sizeof path, "/tmp/sl_test_server_%d.db", (int)getpid());
    make_db(path);
    *state = start(TOKEN, 300, 100);
    return 0;
}

static int teardown(void **state) {
    sl_server_stop(*state);
    char p[300];
    unlink(db_path);
    snprintf(p, sizeof p, "%s-wal", db_path), unlink(p);
    snprintf(p, sizeof p, "%s-shm", db_path), unlink(p);
    return 0;
}

/* ---- tests ---- */

static void test_health_and_ready(void **state) {
    sl_server *s = *state;
    int port = sl_server_port(s);
    resp r = get(port, "/healthz", NULL); /* no token needed */
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "ok\n");
    resp_free(&r);
    r = get(port, "/readyz", AUTH);
    assert_int_equal(r.status, 503);
    resp_free(&r);
    sl_server_set_ready(s, true);
    r = get(port, "/readyz", AUTH);
    assert_int_equal(r.status, 200);
    resp_free(&r);
    r = get(port, "/readyz", NULL); /* open, like /healthz (load balancers ask it) */
    assert_int_equal(r.status, 200);
    resp_free(&r);
}

static void test_auth(void **state) {
    int port = sl_server_port(*state);
    const char *paths[] = {"/",
                           "/pipeline",
                           "/api/tables",
                           "/api/query?sql=SELECT%201",
                           "/metrics",
                           "/api/dashboard",
                           "/api/lineage",
                           "/api/status",
                           "/static/common.js",
                           "/api/tables/detection_events/stream"};
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
        resp r = get(port, paths[i], NULL);
        assert_int_equal(r.status, 401);
        resp_free(&r);
        r = get(port, paths[i], "Authorization: Bearer wrong\r\n");
        assert_int_equal(r.status, 401);
        resp_free(&r);
        r = get(port, paths[i],
                "Authorization: Bearer " TOKEN "x\r\n"); /* a longer token is not a match */
        assert_int_equal(r.status, 401);
        resp_free(&r);
    }
    resp r = get(port, "/api/tables", AUTH);
    assert_int_equal(r.status, 200);
    resp_free(&r);
    r = get(port, "/api/tables?token=" TOKEN, NULL);
    assert_int_equal(r.status, 200);
    resp_free(&r);
    /* unauthenticated page -> login form */
    r = get(port, "/", NULL);
    assert_non_null(strstr(r.body, "name=token"));
    resp_free(&r);
    /* page with ?token= -> cookie + redirect; the cookie then works alone */
    r = get(port, "/?token=" TOKEN, NULL);
    assert_int_equal(r.status, 303);
    char *sc = strstr(r.head, "Set-Cookie: ");
    assert_non_null(sc);
    assert_null(strstr(r.head, TOKEN)); /* the token itself is never echoed */
    char cookie[512];
    assert_int_equal(sscanf(sc, "Set-Cookie: %511[^;]", cookie), 1);
    resp_free(&r);
    char hdr[600];
    snprintf(hdr, sizeof hdr, "Cookie: %s\r\n", cookie);
    r = get(port, "/api/tables", hdr);
    assert_int_equal(r.status, 200);
    resp_free(&r);
    /* the other arguments of a page (a dashboard's range, variables) survive the redirect */
    r = get(port, "/sql?q=SELECT%201%2B1&token=" TOKEN "&x=a%20b", NULL);
    assert_int_equal(r.status, 303);
    assert_non_null(strstr(r.head, "Location: /sql?q=SELECT%201%2B1&x=a%20b\r\n"));
    resp_free(&r);
    r = get(port, "/api/tables", "Cookie: sluice_token=00ff\r\n");
    assert_int_equal(r.status, 401);
    resp_free(&r);
}

static void test_tables(void **state) {
    resp r = get(sl_server_port(*state), "/api/tables", AUTH);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.head, "application/json"));
    assert_non_null(strstr(r.body,
                           "{\"name\":\"detection_events\",\"type\":\"table\",\"kind\":\"table\","
                           "\"columns\":[{\"name\":\"detection_oid\",\"type\":\"INTEGER\"}"));
    assert_non_null(strstr(r.body, "\"rows\":150}"));
    assert_non_null(strstr(r.body, "\"name\":\"detections_by_location_1m\""));
    assert_non_null(strstr(r.body, "\"rows\":50}"));
    assert_non_null(
        strstr(r.body, "\"name\":\"quarantine\",\"type\":\"table\",\"kind\":\"quarantine\""));
    assert_non_null(
        strstr(r.body, "\"name\":\"_sluice_events\",\"type\":\"table\",\"kind\":\"event_log\""));
    assert_non_null(
        strstr(r.body, "\"name\":\"top_locations\",\"type\":\"view\",\"kind\":\"view\""));
    assert_non_null(strstr(r.body, "\"name\":\"lake_demo\",\"type\":\"view\",\"kind\":\"lake\""));
    assert_non_null(strstr(r.body, "\"name\":\"demo_view\",\"type\":\"view\",\"kind\":\"view\""));
    assert_null(strstr(r.body, "_lake_lake_demo"));
    assert_null(strstr(r.body, "_sluice_state"));
    assert_null(strstr(r.body, "sqlite_"));
    assert_true(hook_calls > 0);
    resp_free(&r);
}

static void test_query(void **state) {
    int port = sl_server_port(*state);
    resp r = query(port,
                   "SELECT detection_oid, item_name, 1.5 AS f, NULL AS n FROM detection_events "
                   "WHERE detection_oid <= 2 ORDER BY 1",
                   AUTH);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(
        r.body, "{\"columns\":[\"detection_oid\",\"item_name\",\"f\",\"n\"],\"rows\":[[1,\"item-"
                "1\",1.5,null],[2,\"item-2\",1.5,null]],\"truncated\":false,\"ms\":"));
    resp_free(&r);
    /* the engine's temp views (hook) are queryable */
    r = query(port, "SELECT a, b FROM lake_demo", AUTH);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "[[1,\"x\"]]"));
    resp_free(&r);
    /* JSON escaping */
    r = query(port, "SELECT 'a\"b\\c' || char(10) || char(1)", AUTH);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "[[\"a\\\"b\\\\c\\n\\u0001\"]]"));
    resp_free(&r);
    /* recursive CTEs, window functions are reads */
    r = query(port,
              "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c WHERE x < 5) SELECT "
              "sum(x), count(*) OVER () FROM c",
              AUTH);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "[[15,1]]"));
    resp_free(&r);
}

/* named parameters are bound by type (params=JSON) or as text (p_NAME=), to
 * :NAME, @NAME or $NAME; unused ones are ignored, unset ones are NULL, and
 * a quote in a value stays data */
static void test_query_params(void **state) {
    int port = sl_server_port(*state);
    resp r = get(port,
                 "/api/"
                 "query?sql=SELECT%20typeof%28%3An%29%2C%20typeof%28%40s%29%2C%20typeof%28%24f%29%"
                 "2C%20typeof%28%3Az%29%2C%20%3At%2C%20%3As%2C%20typeof%28%3Ap%29%2C%20%3Ap%2C%20%"
                 "3Aunset&params=%7B%22n%22%3A2%2C%22s%22%3A%22it%27s%22%2C%22f%22%3A1.5%2C%22z%22%"
                 "3Anull%2C%22t%22%3Atrue%2C%22unused%22%3A1%7D&p_p=007",
                 AUTH);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(
        r.body, "[[\"integer\",\"text\",\"real\",\"null\",1,\"it's\",\"text\",\"007\",null]]"));
    resp_free(&r);
    r = get(port,
            "/api/"
            "query?sql=SELECT%20count%28%2A%29%20FROM%20detection_events%20WHERE%20item_name%20%3D%"
            "20%3Av&p_v=x%27%20OR%20%271%27%3D%271",
            AUTH);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "[[0]]"));
    resp_free(&r);
    r = get(port, "/api/query?sql=SELECT%20%3Aa&params=%5B1%5D", AUTH);
    assert_int_equal(r.status, 400);
    assert_non_null(strstr(r.body, "expected a JSON object"));
    resp_free(&r);
    r = get(port, "/api/query?sql=SELECT%20%3Aa&params=%7B%22a%22", AUTH);
    assert_int_equal(r.status, 400);
    resp_free(&r);
    r = get(port, "/api/query?sql=SELECT%201&p_a%3Bb=1", AUTH);
    assert_int_equal(r.status, 400);
    assert_non_null(strstr(r.body, "bad parameter name"));
    resp_free(&r);
}

static void test_row_limit(void **state) {
    int port = sl_server_port(*state);
    resp r =
        get(port, "/api/query?sql=SELECT%20detection_oid%20FROM%20detection_events&limit=3", AUTH);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "\"rows\":[[1],[2],[3]],\"truncated\":true"));
    resp_free(&r);
    /* the server's limit (100 here) caps any asked limit */
    r = get(port, "/api/query?sql=SELECT%20detection_oid%20FROM%20detection_events&limit=100000",
            AUTH);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "[100]],\"truncated\":true"));
    assert_null(strstr(r.body, "[101]"));
    resp_free(&r);
    r = query(port, "SELECT detection_oid FROM detection_events LIMIT 100", AUTH);
    assert_non_null(strstr(r.body, "[100]],\"truncated\":false"));
    resp_free(&r);
}

static void test_refused(void **state) {
    int port = sl_server_port(*state);
    const struct {
        const char *sql, *expect;
    } cases[] = {
        {"INSERT INTO detection_events(detection_oid) VALUES(1)", "not allowed: INSERT"},
        {"UPDATE detection_events SET item_name='x'", "not allowed: UPDATE"},
        {"DELETE FROM detection_events", "not allowed: DELETE"},
        {"DROP TABLE detection_events", "not allowed: DROP"},
        {"DROP VIEW top_locations", "not allowed: DROP"},
        {"CREATE TABLE t(x)", "not allowed: CREATE"},
        {"CREATE TEMP TABLE t(x)", "not allowed: CREATE"},
        {"ATTACH DATABASE '/tmp/x.db' AS x", "not allowed: ATTACH"},
        {"PRAGMA journal_mode=DELETE", "not allowed: PRAGMA journal_mode"},
        {"PRAGMA table_info(detection_events)", "not allowed: PRAGMA table_info"},
        {"SELECT load_extension('/tmp/evil.so')", "not allowed: function load_extension"},
        {"BEGIN", "not allowed: TRANSACTION"},
        {"VACUUM INTO '/tmp/copy.db'", "not allowed:"},
        {"WITH x AS (SELECT 1) DELETE FROM quarantine", "not allowed: DELETE"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        resp r = query(port, cases[i].sql, AUTH);
        if (r.status != 403 || !strstr(r.body, cases[i].expect))
            fprintf(stderr, "case %zu: %s -> %d %s\n", i, cases[i].sql, r.status, r.body);
        assert_int_equal(r.status, 403);
        assert_non_null(strstr(r.body, cases[i].expect));
        resp_free(&r);
    }
    /* nothing changed */
    resp r = query(port, "SELECT count(*) FROM detection_events", AUTH);
    assert_non_null(strstr(r.body, "[[150]]"));
    resp_free(&r);
    assert_int_equal(access("/tmp/copy.db", F_OK), -1);
}

static void test_bad_sql(void **state) {
    int port = sl_server_port(*state);
    resp r = query(port, "SELECT * FROM nope", AUTH);
    assert_int_equal(r.status, 400);
    assert_string_equal(r.body, "{\"error\":\"no such table: nope\"}");
    resp_free(&r);
    r = query(port, "SELEC 1", AUTH);
    assert_int_equal(r.status, 400);
    assert_non_null(strstr(r.body, "syntax error"));
    resp_free(&r);
    r = query(port, "SELECT 1; DELETE FROM detection_events", AUTH);
    assert_true(r.status == 400 || r.status == 403);
    resp_free(&r);
    r = query(port, "SELECT 1; SELECT 2", AUTH);
    assert_int_equal(r.status, 400);
    assert_non_null(strstr(r.body, "only one statement"));
    resp_free(&r);
    r = query(port, "SELECT 1;", AUTH); /* a trailing semicolon is fine */
    assert_int_equal(r.status, 200);
    resp_free(&r);
    r = get(port, "/api/query", AUTH);
    assert_int_equal(r.status, 400);
    assert_non_null(strstr(r.body, "missing parameter: sql"));
    resp_free(&r);
}

static void test_timeout(void **state) {
    int port = sl_server_port(*state);
    int64_t t0 = sl_monotonic_us();
    resp r = query(port,
                   "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c WHERE x < "
                   "1000000000) SELECT count(*) FROM c",
                   AUTH);
    int64_t ms = (sl_monotonic_us() - t0) / 1000;
    assert_int_equal(r.status, 400);
    assert_string_equal(r.body, "{\"error\":\"query timed out after 300 ms\"}");
    assert_true(ms >= 290 && ms < 3000);
    resp_free(&r);
    /* the pooled connection is healthy afterwards */
    r = query(port, "SELECT 42", AUTH);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "[[42]]"));
    resp_free(&r);
    r = get(port, "/metrics", AUTH);
    assert_non_null(strstr(r.body, "sluice_http_query_timeouts_total 1\n"));
    resp_free(&r);
}

static int open_stream(int port, const char *table, char **initial) {
    char path[300];
    snprintf(path, sizeof path, "/api/tables/%s/stream", table);
    int fd = connect_port(port);
    assert_true(fd >= 0);
    send_req(fd, path, AUTH);
    *initial = read_until(fd, "\n\n", 5000, NULL);
    /* headers + "retry" block, then the initial rows event */
    char *more = read_until(fd, "}\n\n", 5000, NULL);
    char *all = malloc(strlen(*initial) + strlen(more) + 1);
    strcpy(all, *initial);
    strcat(all, more);
    free(*initial);
    free(more);
    *initial = all;
    return fd;
}

static void test_sse_append(void **state) {
    sl_server *s = *state;
    int port = sl_server_port(s);
    char *init;
    int fd = open_stream(port, "detection_events", &init);
    assert_non_null(strstr(init, " 200 OK\r\n"));
    assert_non_null(strstr(init, "text/event-stream"));
    assert_non_null(strstr(init, "event: rows\n"));
    /* the last 100 rows by rowid: 51..150 */
    assert_non_null(strstr(init, "\"rows\":[[51,"));
    assert_non_null(strstr(init, "[150,0,\"loc-0\",\"item-150\""));
    assert_null(strstr(init, "[50,"));
    free(init);
    /* a commit that adds rows to another table only: nothing is sent here */
    exec_sql("INSERT INTO quarantine(table_name, reason) VALUES('x', 'y')");
    sl_server_publish(s, 2, NULL);
    char *none = read_until(fd, "event:", 600, NULL);
    assert_null(strstr(none, "event:"));
    free(none);
    /* new rows, then publish: exactly those rows arrive */
    exec_sql("INSERT INTO detection_events(detection_oid, item_name) VALUES(1001, 'new-a'), (1002, "
             "'new-b')");
    sl_server_publish(s, 3, NULL);
    char *ev = read_until(fd, "}\n\n", 5000, NULL);
    assert_non_null(strstr(ev, "event: rows\nid: 3\ndata: {\"columns\":[\"detection_oid\","));
    assert_non_null(strstr(ev, "\"rows\":[[1001,null,null,\"new-a\",null,null],[1002,null,null,"
                               "\"new-b\",null,null]],\"commit\":3"));
    assert_null(strstr(ev, "[150,"));
    free(ev);
    close(fd);
}

static void test_sse_upsert(void **state) {
    sl_server *s = *state;
    int port = sl_server_port(s);
    char *init;
    int fd = open_stream(port, "detections_by_location_1m", &init);
    assert_non_null(
        strstr(init, "\"columns\":[\"window_start\",\"geographical_location_oid\",\"geographical_"
                     "location\",\"detections\",\"distinct_cameras\",\"is_final\",\"_group\"]"));
    free(init);
    /* update an open window in place (same rowid), close another, add a new window */
    exec_sql("UPDATE detections_by_location_1m SET detections = 999 WHERE _group = 900;"
             "UPDATE detections_by_location_1m SET is_final = 1 WHERE _group = 801;"
             "INSERT INTO detections_by_location_1m VALUES('2023-11-14T22:23:20Z', 0, 'loc-0', 5, "
             "1, 0, 1000);");
    sl_server_publish(s, 4, NULL);
    char *ev = read_until(fd, "}\n\n", 5000, NULL);
    assert_non_null(strstr(ev, "\"loc-0\",999,1,0,900]")); /* updated open window */
    assert_non_null(strstr(ev, "\"loc-1\",18,2,1,801]"));  /* became final */
    assert_non_null(strstr(ev, "\"loc-0\",5,1,0,1000]"));  /* new window */
    assert_null(strstr(ev, ",902]"));                      /* unchanged rows are not re-sent */
    assert_null(strstr(ev, ",0]"));
    free(ev);
    /* a further commit updating one open row sends just that row */
    exec_sql("UPDATE detections_by_location_1m SET detections = 6 WHERE _group = 1000");
    sl_server_publish(s, 5, NULL);
    ev = read_until(fd, "}\n\n", 5000, NULL);
    assert_non_null(
        strstr(ev, "\"rows\":[[\"2023-11-14T22:23:20Z\",0,\"loc-0\",6,1,0,1000]],\"commit\":5"));
    free(ev);
    close(fd);
}

/* Rows in the rows events of buf: each row starts "[[" (the first) or "],[". */
static int count_rows(const char *buf) {
    int n = 0;
    for (const char *p = buf; (p = strstr(p, "\"rows\":[[")); p++)
        n++;
    for (const char *p = buf; (p = strstr(p, "],[")); p++)
        n++;
    return n;
}

/* Tap mode (?from=&where=): every row after `from`, paged, none skipped; the
 * filter compiled under the authorizer. */
static void test_sse_tap(void **state) {
    sl_server *s = *state;
    int port = sl_server_port(s);
    int fd = connect_port(port);
    assert_true(fd >= 0);
    /* from rowid 140, even oids: the stored rows 142..150 go out at once */
    send_req(fd,
             "/api/tables/detection_events/stream?from=140&where=detection_oid%20%25%202%20%3D%200",
             AUTH);
    char *init = read_until(fd, "}\n\n", 5000, NULL);
    assert_non_null(strstr(init, " 200 OK\r\n"));
    assert_non_null(strstr(init, "\"rows\":[[142,"));
    assert_non_null(strstr(init, "[150,"));
    assert_null(strstr(init, "[141,"));
    assert_null(strstr(init, "[143,"));
    assert_int_equal(count_rows(init), 5);
    free(init);
    /* 2600 new rows in one commit: all 1300 even ones arrive, in two pages */
    exec_sql("WITH RECURSIVE n(i) AS (SELECT 2001 UNION ALL SELECT i+1 FROM n WHERE i < 4600)"
             " INSERT INTO detection_events(detection_oid, item_name) SELECT i, 'tap' FROM n");
    sl_server_publish(s, 9, NULL);
    char *ev = read_until(fd, "[4600,", 5000, NULL);
    const char *last = strstr(ev, "[4600,");
    assert_non_null(last);
    char *rest = strstr(last, "}\n\n") ? strdup("") : read_until(fd, "}\n\n", 5000, NULL);
    assert_non_null(strstr(ev, "\"rows\":[[2002,"));
    assert_null(strstr(ev, "[2001,"));
    assert_int_equal(count_rows(ev) + count_rows(rest), 1300);
    assert_true(strstr(last, "\"commit\":9,\"truncated\":false}") ||
                strstr(rest, "\"commit\":9,\"truncated\":false}"));
    free(ev);
    free(rest);
    close(fd);
    /* from=end sends nothing stored; bad values are refused */
    fd = connect_port(port);
    send_req(fd, "/api/tables/detection_events/stream?from=end", AUTH);
    char *none = read_until(fd, "event:", 600, NULL);
    assert_non_null(strstr(none, " 200 OK\r\n"));
    assert_null(strstr(none, "event:"));
    free(none);
    close(fd);
    static const struct {
        const char *path;
        int status;
        const char *msg;
    } bad[] = {
        {"/api/tables/detection_events/stream?from=x", 400, "from: expected"},
        {"/api/tables/detection_events/stream?where=nope%20%3D%201", 400, "no such column"},
        {"/api/tables/detection_events/stream?where=1%29%3B%20DROP%20TABLE%20quarantine%3B%20--",
         400, "where"},
        {"/api/tables/detection_events/stream?where=load_extension%28%27x%27%29", 403,
         "not allowed: function load_extension"},
        {"/api/tables/nope/stream?from=start", 404, "no such table"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        resp r = get(port, bad[i].path, AUTH);
        assert_int_equal(r.status, bad[i].status);
        assert_non_null(strstr(r.body, bad[i].msg));
        resp_free(&r);
    }
    resp r = query(port, "SELECT count(*) FROM quarantine", AUTH);
    assert_int_equal(r.status, 200); /* the injection attempt dropped nothing */
    resp_free(&r);
}

/* Tap mode from the start of a table larger than one wake-up's pages
 * (SSE_TAP_PAGES x 1000 rows): the rest follows without a commit, then a
 * commit's rows. */
static void test_sse_tap_backlog(void **state) {
    sl_server *s = *state;
    int port = sl_server_port(s);
    exec_sql("WITH RECURSIVE n(i) AS (SELECT 10001 UNION ALL SELECT i+1 FROM n WHERE i < 22000)"
             " INSERT INTO detection_events(detection_oid, item_name) SELECT i, 't' FROM n");
    int fd = connect_port(port);
    assert_true(fd >= 0);
    send_req(fd, "/api/tables/detection_events/stream?from=start", AUTH);
    size_t n;
    char *all = read_until(fd, "[22000,", 10000, &n);
    const char *last = strstr(all, "[22000,");
    assert_non_null(last);
    char *rest = strstr(last, "}\n\n") ? strdup("") : read_until(fd, "}\n\n", 5000, NULL);
    assert_int_equal(count_rows(all) + count_rows(rest), 150 + 12000);
    free(all);
    free(rest);
    exec_sql("INSERT INTO detection_events(detection_oid, item_name) VALUES(22001, 'after')");
    sl_server_publish(s, 11, NULL);
    char *ev = read_until(fd, "}\n\n", 5000, NULL);
    assert_non_null(strstr(ev, "\"rows\":[[22001,"));
    assert_int_equal(count_rows(ev), 1);
    free(ev);
    close(fd);
}

static void test_sse_unknown(void **state) {
    int port = sl_server_port(*state);
    const char *bad[] = {"/api/tables/nope/stream", "/api/tables/top_locations/stream",
                         "/api/tables/detection_events%22%20--/stream",
                         "/api/tables/sqlite_master%20x/stream"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        resp r = get(port, bad[i], AUTH);
        assert_int_equal(r.status, 404);
        resp_free(&r);
    }
}

static void test_metrics(void **state) {
    sl_server *s = *state;
    sl_server_publish(s, 7, sample_metrics);
    resp r = get(sl_server_port(s), "/metrics", AUTH);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.head, "Content-Type: text/plain; version=0.0.4"));
    assert_true(!strncmp(r.body, sample_metrics, strlen(sample_metrics)));
    assert_non_null(strstr(r.body, "# TYPE sluice_http_requests_total counter\n"));
    assert_non_null(strstr(r.body, "sluice_http_requests_total{path=\"/metrics\"} 1\n"));
    assert_non_null(strstr(r.body, "sluice_http_sse_streams 0\n"));
    resp_free(&r);
    r = get(sl_server_port(s), "/api/status", AUTH);
    assert_non_null(strstr(r.body, "\"pipeline\":\"demo\",\"commit_id\":7"));
    resp_free(&r);
}

static void test_static_and_json(void **state) {
    int port = sl_server_port(*state);
    resp r = get(port, "/", AUTH);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.head, "text/html"));
    assert_non_null(strstr(r.head, "Content-Security-Policy"));
    assert_non_null(strstr(r.body, "/static/dashboard.js"));
    resp_free(&r);
    r = get(port, "/pipeline", AUTH);
    assert_non_null(strstr(r.body, "/static/pipeline.js"));
    resp_free(&r);
    r = get(port, "/sql", AUTH);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "/static/sql.js"));
    resp_free(&r);
    r = get(port, "/sql", NULL); /* a page: the login form, not JSON */
    assert_int_equal(r.status, 401);
    assert_non_null(strstr(r.body, "name=token"));
    resp_free(&r);
    r = get(port, "/static/uplot.iife.min.js", AUTH);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.head, "text/javascript"));
    assert_true(strlen(r.body) > 20000);
    resp_free(&r);
    r = get(port, "/static/uPlot.min.css", AUTH);
    assert_int_equal(r.status, 200);
    resp_free(&r);
    r = get(port, "/static/../server.c", AUTH);
    assert_int_equal(r.status, 404);
    resp_free(&r);
    r = get(port, "/nope", AUTH);
    assert_int_equal(r.status, 404);
    resp_free(&r);
    r = get(port, "/api/dashboard", AUTH);
    assert_string_equal(r.body, demo_dashboard);
    resp_free(&r);
    r = get(port, "/api/lineage", AUTH);
    assert_string_equal(r.body, demo_lineage);
    resp_free(&r);
}

/* Scoped tokens: a viewer limited to top_* (a view over detections_by_location_1m)
 * and a metrics token; the audit records the engine would drain. */
typedef struct audit_seen {
    int n, fail_at;
    char token[8][32], route[8][32], detail[8][128];
    int status[8];
} audit_seen;

static int audit_cb(void *ud, const sl_server_audit *a) {
    audit_seen *seen = ud;
    if (seen->n == seen->fail_at) return SL_EIO;
    int i = seen->n++;
    if (i >= 8) return 0;
    snprintf(seen->token[i], sizeof seen->token[i], "%s", a->token);
    snprintf(seen->route[i], sizeof seen->route[i], "%s", a->route);
    snprintf(seen->detail[i], sizeof seen->detail[i], "%s", a->detail);
    seen->status[i] = a->status;
    return 0;
}

static void test_scoped_tokens(void **state) {
    (void)state;
    /* the scraper's token is given as the SHA-256 of "met-secret" */
    unsigned char h[32];
    unsigned int hl = 0;
    assert_int_equal(EVP_Digest("met-secret", 10, h, &hl, EVP_sha256(), NULL), 1);
    char hex[65];
    for (int i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", h[i]);
    sl_server_token toks[2] = {
        {.id = "viewer",
         .token = "view-secret",
         .scopes = SL_SCOPE_READ,
         .ntables = 1,
         .tables = {"top_*"}},
        {.id = "scraper", .sha256 = hex, .scopes = SL_SCOPE_METRICS},
    };
    sl_server_config cfg = {.listen = "127.0.0.1:0",
                            .db_path = db_path,
                            .tokens = toks,
                            .ntokens = 2,
                            .on_connection = hook};
    sl_error err = {0};
    sl_server *s = sl_server_start(&cfg, &err);
    assert_non_null(s);
    int port = sl_server_port(s);
    const char *V = "Authorization: Bearer view-secret\r\n",
               *M = "Authorization: Bearer met-secret\r\n";
    resp r = get(port, "/api/query?sql=SELECT%20count(*)%20FROM%20top_locations", V);
    assert_int_equal(r.status, 200); /* the view grants the table it reads */
    resp_free(&r);
    r = get(port, "/api/query?sql=SELECT%20count(*)%20FROM%20detection_events", V);
    assert_int_equal(r.status, 403);
    assert_non_null(strstr(r.body, "reading table detection_events"));
    resp_free(&r);
    r = get(port,
            "/api/query?sql=SELECT%20count(*)%20FROM%20top_locations%20NATURAL%20JOIN%20quarantine",
            V);
    assert_int_equal(r.status, 403);
    resp_free(&r);
    r = get(port, "/metrics", V);
    assert_int_equal(r.status, 403);
    resp_free(&r);
    r = get(port, "/metrics", M);
    assert_int_equal(r.status, 200);
    resp_free(&r);
    r = get(port, "/api/tables", M);
    assert_int_equal(r.status, 403);
    resp_free(&r);
    r = get(port, "/metrics", "Authorization: Bearer view-secreT\r\n");
    assert_int_equal(r.status, 401);
    resp_free(&r);
    char hb[128];
    snprintf(hb, sizeof hb, "Authorization: Bearer %s\r\n", hex); /* the hash is not the token */
    r = get(port, "/metrics", hb);
    assert_int_equal(r.status, 401);
    resp_free(&r);
    /* a failing write keeps the record and those after it */
    audit_seen seen = {.fail_at = 2};
    uint64_t dropped = 1;
    assert_int_equal(sl_server_audit_drain(s, audit_cb, &seen, &dropped), SL_EIO);
    assert_int_equal(dropped, 0);
    assert_int_equal(seen.n, 2);
    seen.fail_at = -1;
    assert_int_equal(sl_server_audit_drain(s, audit_cb, &seen, NULL), 0);
    assert_int_equal(seen.n, 6); /* the 401s are not audited */
    assert_string_equal(seen.token[0], "viewer");
    assert_string_equal(seen.route[0], "/api/query");
    assert_string_equal(seen.detail[0], "SELECT count(*) FROM top_locations");
    assert_int_equal(seen.status[0], 200);
    assert_int_equal(seen.status[1], 403);
    assert_string_equal(seen.token[4], "scraper");
    assert_string_equal(seen.route[4], "/metrics");
    assert_int_equal(seen.status[5], 403);
    seen.n = 0;
    assert_int_equal(sl_server_audit_drain(s, audit_cb, &seen, NULL), 0);
    assert_int_equal(seen.n, 0);
    sl_server_stop(s);

    /* configuration errors */
    sl_server_token bad[2] = {{.id = "a", .token = "x", .sha256 = hex, .scopes = SL_SCOPE_READ},
                              {.id = "b", .sha256 = "zz", .scopes = SL_SCOPE_READ}};
    cfg.tokens = bad, cfg.ntokens = 1;
    assert_null(sl_server_start(&cfg, &err));
    assert_non_null(strstr(err.msg, "exactly one of"));
    cfg.tokens = bad + 1;
    assert_null(sl_server_start(&cfg, &err));
    assert_non_null(strstr(err.msg, "64 hex digits"));
    sl_server_token dup[2] = {{.id = "a", .token = "x"}, {.id = "a", .token = "y"}};
    cfg.tokens = dup, cfg.ntokens = 2;
    assert_null(sl_server_start(&cfg, &err));
    assert_non_null(strstr(err.msg, "two tokens named 'a'"));
}

static void test_port_busy(void **state) {
    char listen[64];
    snprintf(listen, sizeof listen, "127.0.0.1:%d", sl_server_port(*state));
    sl_server_config cfg = {.listen = listen, .db_path = db_path};
    sl_error err = {0};
    assert_null(sl_server_start(&cfg, &err));
    assert_int_equal(err.code, SL_EIO);
    assert_non_null(strstr(err.msg, "in use"));
    cfg.listen = "nonsense";
    assert_null(sl_server_start(&cfg, &err));
    assert_int_equal(err.code, SL_EINVAL);
}

static void test_no_token_and_stop_with_stream(void **state) {
    (void)state;
    sl_server *s = start(NULL, 0, 0);
    int port = sl_server_port(s);
    resp r = get(port, "/api/tables", NULL);
    assert_int_equal(r.status, 200);
    resp_free(&r);
    int fd = connect_port(port);
    send_req(fd, "/api/tables/detection_events/stream", NULL);
    char *init = read_until(fd, "}\n\n", 5000, NULL);
    assert_non_null(strstr(init, "event: rows"));
    free(init);
    int64_t t0 = sl_monotonic_us();
    sl_server_stop(s); /* ends the open stream at once */
    assert_true(sl_monotonic_us() - t0 < 3 * SL_US_PER_SEC);
    char *rest = read_until(fd, NULL, 3000, NULL);
    free(rest);
    close(fd);
}

/* Table-valued functions: the authorizer sees their first use on a
 * connection as an update of sqlite_master's columns. */
static void test_table_valued(void **state) {
    int port = sl_server_port(*state);
    resp r = query(port, "SELECT value FROM json_each('[1,2,3]')", AUTH);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "[[1],[2],[3]]"));
    resp_free(&r);
    r = query(port, "SELECT count(*) FROM detection_events, json_tree('{\"a\":[1,2]}')", AUTH);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "[[600]]"));
    resp_free(&r);
    /* writes stay refused on the same connections */
    r = query(port, "DELETE FROM detection_events", AUTH);
    assert_int_equal(r.status, 403);
    resp_free(&r);
    r = query(port, "UPDATE sqlite_master SET sql = 'x'", AUTH);
    assert_true(r.status == 400 || r.status == 403);
    resp_free(&r);
}

static sl_server *start_cfg(sl_server_config cfg) {
    cfg.listen = "127.0.0.1:0";
    cfg.token = TOKEN;
    cfg.db_path = db_path;
    sl_error err = {0};
    sl_server *s = sl_server_start(&cfg, &err);
    if (!s) fprintf(stderr, "start: %s\n", err.msg);
    assert_non_null(s);
    return s;
}

/* The byte budget covers turning rows into JSON: large blobs are cut off
 * with an error, quickly, and the server keeps serving. */
static void test_result_budget(void **state) {
    (void)state;
    sl_server *s = start_cfg((sl_server_config){.query_max_bytes = 1 << 20});
    int port = sl_server_port(s);
    int64_t t0 = sl_monotonic_us();
    resp r = query(port,
                   "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c WHERE x < 100) "
                   "SELECT x, zeroblob(100000) FROM c",
                   AUTH);
    assert_int_equal(r.status, 400);
    assert_non_null(strstr(r.body, "larger than 1048576 bytes"));
    assert_true(sl_monotonic_us() - t0 < 2 * SL_US_PER_SEC);
    resp_free(&r);
    r = query(port, "SELECT x'00ff', 'ok'", AUTH);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "[[\"x'00ff'\",\"ok\"]]"));
    resp_free(&r);
    r = get(port, "/metrics", AUTH);
    assert_non_null(strstr(r.body, "sluice_http_query_too_large_total 1\n"));
    resp_free(&r);
    sl_server_stop(s);
}

/* Streams beyond the cap get 503 with Retry-After; health checks still pass. */
static void test_sse_cap(void **state) {
    (void)state;
    sl_server *s = start_cfg((sl_server_config){.max_sse_streams = 2});
    int port = sl_server_port(s);
    char *init;
    int a = open_stream(port, "detection_events", &init);
    free(init);
    int b = open_stream(port, "detection_events", &init);
    free(init);
    resp r = get(port, "/api/tables/detection_events/stream", AUTH);
    assert_int_equal(r.status, 503);
    assert_non_null(strstr(r.head, "Retry-After: 10"));
    resp_free(&r);
    r = get(port, "/healthz", NULL);
    assert_int_equal(r.status, 200);
    resp_free(&r);
    r = get(port, "/metrics", AUTH);
    assert_non_null(strstr(r.body, "sluice_http_sse_refused_total 1\n"));
    resp_free(&r);
    close(a);
    close(b);
    sl_server_stop(s);
}

/* A client trickling header lines is closed at the header deadline, though
 * it sends a byte well within libmicrohttpd's idle timeout. */
static void test_slow_headers(void **state) {
    (void)state;
    sl_server *s = start_cfg((sl_server_config){.header_timeout_ms = 500});
    int port = sl_server_port(s);
    int fd = connect_port(port);
    assert_true(fd >= 0);
    assert_true(write(fd, "GET /healthz HTTP/1.1\r\n", 23) == 23);
    int64_t t0 = sl_monotonic_us();
    bool closed = false;
    for (int i = 0; i < 50 && !closed; i++) { /* 5 s at most */
        usleep(100 * 1000);
        if (send(fd, "X-a: b\r\n", 8, MSG_NOSIGNAL) != 8) closed = true;
        struct pollfd p = {.fd = fd, .events = POLLIN};
        char c;
        if (poll(&p, 1, 0) > 0 && read(fd, &c, 1) <= 0) closed = true;
    }
    int64_t ms = (sl_monotonic_us() - t0) / 1000;
    assert_true(closed);
    assert_true(ms >= 400 && ms < 3000);
    close(fd);
    resp r = get(port, "/metrics", AUTH);
    assert_non_null(strstr(r.body, "sluice_http_slow_closed_total 1\n"));
    resp_free(&r);
    sl_server_stop(s);
}

/* ---- serve mode for the integration scripts ---- */

/* The demo's metrics plus an expectation with long names, which must still
 * fit the pipeline page's expectations card. */
static char serve_metrics[4096];

static char *read_file(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char *buf = calloc(1, 1 << 20);
    size_t n = buf ? fread(buf, 1, (1 << 20) - 1, f) : 0;
    fclose(f);
    if (buf) buf[n] = 0;
    return buf;
}

static int serve(const char *path, const char *token, const char *dash_file, const char *port) {
    if (access(path, F_OK) != 0) make_db(path);
    snprintf(db_path, sizeof db_path, "%s", path);
    snprintf(serve_metrics, sizeof serve_metrics, "%s%s", sample_metrics,
             "sluice_expectation_rows_total{pipeline=\"demo\",table=\"silver_metrics_validated_"
             "per_entity\",expectation=\"value_within_physical_bounds_for_metric\",result="
             "\"passed\"} 123456\n");
    char *dash = dash_file && *dash_file ? read_file(dash_file) : NULL;
    if (dash_file && *dash_file && !dash) {
        fprintf(stderr, "serve: cannot read %s\n", dash_file);
        return 1;
    }
    char listen[64];
    snprintf(listen, sizeof listen, "127.0.0.1:%s", port && *port ? port : "0");
    sl_server_config cfg = {.listen = listen,
                            .token = token,
                            .db_path = db_path,
                            .pipeline_name = "demo",
                            .dashboard_json = dash ? dash : demo_dashboard,
                            .lineage_json = demo_lineage};
    sl_error err = {0};
    sl_server *s = sl_server_start(&cfg, &err);
    free(dash); /* the server copied it */
    if (!s) {
        fprintf(stderr, "serve: %s\n", err.msg);
        return 1;
    }
    sl_server_publish(s, 1, serve_metrics);
    sl_server_set_ready(s, true);
    printf("PORT %d\n", sl_server_port(s));
    fflush(stdout);
    sqlite3 *db;
    sqlite3_open(path, &db);
    sqlite3_busy_timeout(db, 5000);
    int64_t commit = 1;
    char line[8192];
    for (;;) {
        struct pollfd p = {.fd = 0, .events = POLLIN};
        int pr = poll(&p, 1, 1000);
        if (pr > 0) {
            if (!fgets(line, sizeof line, stdin)) break;
            char *msg = NULL;
            if (sqlite3_exec(db, line, NULL, NULL, &msg) != SQLITE_OK)
                fprintf(stderr, "serve: %s\n", msg);
            sqlite3_free(msg);
        }
        sl_server_publish(s, ++commit, serve_metrics);
    }
    sqlite3_close(db);
    sl_server_stop(s);
    return 0;
}

int main(int argc, char **argv) {
    sl_log_set_level(SL_LOG_WARN);
    if (argc >= 3 && !strcmp(argv[1], "--serve"))
        return serve(argv[2], argc >= 4 ? argv[3] : NULL, argc >= 5 ? argv[4] : NULL,
                     argc >= 6 ? argv[5] : NULL);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_health_and_ready, setup, teardown),
        cmocka_unit_test_setup_teardown(test_auth, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tables, setup, teardown),
        cmocka_unit_test_setup_teardown(test_query, setup, teardown),
        cmocka_unit_test_setup_teardown(test_query_params, setup, teardown),
        cmocka_unit_test_setup_teardown(test_row_limit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_sql, setup, teardown),
        cmocka_unit_test_setup_teardown(test_timeout, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sse_append, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sse_upsert, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sse_tap, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sse_tap_backlog, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sse_unknown, setup, teardown),
        cmocka_unit_test_setup_teardown(test_metrics, setup, teardown),
        cmocka_unit_test_setup_teardown(test_static_and_json, setup, teardown),
        cmocka_unit_test_setup_teardown(test_port_busy, setup, teardown),
        cmocka_unit_test_setup_teardown(test_scoped_tokens, setup, teardown),
        cmocka_unit_test_setup_teardown(test_no_token_and_stop_with_stream, setup, teardown),
        cmocka_unit_test_setup_teardown(test_table_valued, setup, teardown),
        cmocka_unit_test_setup_teardown(test_result_budget, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sse_cap, setup, teardown),
        cmocka_unit_test_setup_teardown(test_slow_headers, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
