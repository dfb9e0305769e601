/* test_http_source.c - the http source against the source interface, driven
 * as the engine drives it (read, each_position inside a store transaction,
 * COMMIT, committed), with a client thread speaking raw HTTP:
 *  - a request is answered only after committed(), with its counts;
 *  - a retry with the same Idempotency-Key gets the first answer and hands
 *    nothing to parse, also after the source is closed and opened again
 *    (keys loaded from the store);
 *  - a keyed request bigger than a batch straddles a commit; "crashed"
 *    before the rest is committed (closed without committing), its retry
 *    hands over only the records not stored yet, with positions that go on
 *    where the committed ones stopped;
 *  - 401 without the token, 413 over max_body_bytes, 429 when the pending
 *    queue is full;
 *  - a commit later than answer_timeout: 503, then 409 while the key's
 *    request is in flight, then the first answer;
 *  - bad options refused at create with file:line:col. */
#include <setjmp.h> /* cmocka.h needs these four first */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "sources/source.h"

#define TMPDIR_PREFIX "/tmp/sl_http_test_XXXXXX"
#include "../tmpdir_test.h"

/* ---- the engine's side ---- */

typedef struct {
    char lines[8192]; /* "part/pos:line;" per message handed to parse_msgs */
    size_t len;
    int msgs;
} sink;

static int parse_msgs_cb(void *ud, const char *buf, const sl_poll_msg *msgs, int n) {
    sink *k = ud;
    int bad = 0;
    for (int i = 0; i < n; i++) {
        assert_int_equal(buf[msgs[i].off + msgs[i].len], '\n');
        k->len += (size_t)snprintf(k->lines + k->len, sizeof k->lines - k->len, "%lld:%.*s;",
                                   (long long)msgs[i].pos, (int)msgs[i].len, buf + msgs[i].off);
        bad += msgs[i].len >= 3 && !memcmp(buf + msgs[i].off, "bad", 3);
        k->msgs++;
    }
    return bad;
}

static sl_store *store;

static void pos_cb(void *ud, const char *part, int64_t pos) {
    (void)ud;
    assert_int_equal(sl_store_put_position(store, "h", part, pos), 0);
}

static sl_spec *spec;
static int port;
static const sl_source_def *D;

static void *make(const char *extra) {
    char yaml[512];
    /* a free port: bound, read, released */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    getsockname(fd, (struct sockaddr *)&a, &len);
    port = ntohs(a.sin_port);
    close(fd);
    snprintf(yaml, sizeof yaml, "listen: 127.0.0.1:%d\n%s", port, extra);
    sl_error err = {0};
    sl_spec_free(spec);
    spec = sl_spec_load_mem("p.yaml", yaml, strlen(yaml), NULL, &err);
    if (!spec) fail_msg("%s", err.msg);
    D = sl_source_find("http");
    assert_non_null(D);
    sl_source_env env = {.name = "h"};
    void *self = NULL;
    sl_source_info info = {0};
    if (D->create(sl_spec_root(spec), &env, &self, &info, &err)) fail_msg("%s", err.msg);
    return self;
}

static void open_(void *self, sink *k) {
    sl_source_env env = {.name = "h",
                         .format = "json",
                         .batch_size = 2,
                         .store = store,
                         .ud = k,
                         .parse_msgs = parse_msgs_cb};
    sl_error err = {0};
    if (D->open(self, &env, &err)) fail_msg("%s", err.msg);
}

/* Reads until something was handed over (waiting on the descriptor). */
static void read_one(void *self) {
    sl_error err = {0};
    for (int i = 0; i < 200; i++) {
        int got = D->read(self, false, &err);
        assert_true(got >= 0);
        if (got) return;
        struct pollfd pf = {D->fd(self), POLLIN, 0};
        poll(&pf, 1, 20);
    }
    fail_msg("nothing to read");
}

/* The commit: positions and keys inside the transaction, then COMMIT. */
static void commit(void *self) {
    sl_error err = {0};
    D->each_position(self, pos_cb, NULL);
    assert_int_equal(sl_store_commit(store, &err), 0);
    D->committed(self);
    assert_int_equal(sl_store_begin(store, &err), 0);
}

/* ---- the client's side ---- */

typedef struct {
    char req[4096];
    char answer[2048];
    int status;
    bool done;
    pthread_t t;
} call;

static void *client(void *arg) {
    call *c = arg;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (connect(fd, (struct sockaddr *)&a, sizeof a) == 0) {
        size_t n = strlen(c->req), off = 0;
        while (off < n) {
            ssize_t w = write(fd, c->req + off, n - off);
            if (w <= 0) break;
            off += (size_t)w;
        }
        size_t got = 0;
        ssize_t r;
        while (got < sizeof c->answer - 1 &&
               (r = read(fd, c->answer + got, sizeof c->answer - 1 - got)) > 0) {
            got += (size_t)r;
            c->answer[got] = 0;
            char *body = strstr(c->answer, "\r\n\r\n");
            const char *cl = strstr(c->answer, "Content-Length: ");
            if (body && cl && strlen(body + 4) >= (size_t)atoi(cl + 16)) break;
        }
        c->status = atoi(c->answer + 9);
    }
    close(fd);
    __atomic_store_n(&c->done, true, __ATOMIC_RELEASE);
    return NULL;
}

static void post(call *c, const char *headers, const char *body) {
    memset(c, 0, sizeof *c);
    snprintf(c->req, sizeof c->req,
             "POST /ingest HTTP/1.1\r\nHost: t\r\nConnection: close\r\n%sContent-Length: "
             "%zu\r\n\r\n%s",
             headers, strlen(body), body);
    assert_int_equal(pthread_create(&c->t, NULL, client, c), 0);
}

static bool finished(call *c) { return __atomic_load_n(&c->done, __ATOMIC_ACQUIRE); }

static const char *body_of(call *c) {
    pthread_join(c->t, NULL);
    const char *b = strstr(c->answer, "\r\n\r\n");
    return b ? b + 4 : "";
}

static void open_store(void) {
    char p[1024];
    snprintf(p, sizeof p, "%s/sluice.db", dir);
    sl_error err = {0};
    store = sl_store_open(p, false, &err);
    if (!store) fail_msg("%s", err.msg);
    assert_int_equal(sl_store_begin(store, &err), 0);
}

static void test_ack_after_commit(void **state) {
    (void)state;
    open_store();
    void *self = make("");
    sink k = {0};
    open_(self, &k);
    call c;
    post(&c, "Idempotency-Key: a1\r\n", "{\"x\":1}\nbad\n");
    read_one(self); /* both records: batch_size 2 */
    assert_string_equal(k.lines, "0:{\"x\":1};1:bad;");
    usleep(100000);
    assert_false(finished(&c)); /* parsed, not committed: no answer yet */
    commit(self);
    assert_string_equal(body_of(&c), "{\"accepted\":1,\"quarantined\":1}");
    assert_int_equal(c.status, 200);
    /* the retry: the first answer, nothing handed over */
    post(&c, "Idempotency-Key: a1\r\n", "{\"x\":1}\nbad\n");
    assert_string_equal(body_of(&c), "{\"accepted\":1,\"quarantined\":1}");
    assert_non_null(strstr(c.answer, "Idempotent-Replayed: true"));
    assert_int_equal(k.msgs, 2);
    /* closed and opened again: the key comes back from the store */
    D->close(self);
    open_(self, &k);
    post(&c, "Idempotency-Key: a1\r\n", "{\"x\":1}\nbad\n");
    assert_string_equal(body_of(&c), "{\"accepted\":1,\"quarantined\":1}");
    assert_int_equal(k.msgs, 2);
    D->destroy(self);
    sl_store_close(store);
}

static void test_straddling_request(void **state) {
    (void)state;
    open_store();
    void *self = make("");
    sink k = {0};
    open_(self, &k);
    call c;
    /* 5 records, 2 per read: the first 2 are committed, then a "crash" */
    post(&c, "Idempotency-Key: big\r\n", "{\"r\":1}\n{\"r\":2}\n{\"r\":3}\n{\"r\":4}\n{\"r\":5}\n");
    read_one(self);
    commit(self);
    read_one(self); /* records 3 and 4, never committed */
    assert_false(finished(&c));
    D->close(self); /* the client is answered 503 */
    body_of(&c);
    assert_int_equal(c.status, 503);
    sl_store_close(store); /* rolls back records 3 and 4 */
    /* the restart: the retry hands over records 3..5 only, positions 2..4 */
    open_store();
    k = (sink){0};
    open_(self, &k);
    post(&c, "Idempotency-Key: big\r\n", "{\"r\":1}\n{\"r\":2}\n{\"r\":3}\n{\"r\":4}\n{\"r\":5}\n");
    read_one(self);
    read_one(self);
    assert_string_equal(k.lines, "2:{\"r\":3};3:{\"r\":4};4:{\"r\":5};");
    commit(self);
    assert_string_equal(body_of(&c), "{\"accepted\":5,\"quarantined\":0}");
    int64_t pos = 0;
    assert_int_equal(sl_store_get_position(store, "h", "http:127.0.0.1", &pos), 0);
    assert_int_equal(pos, 5);
    D->destroy(self);
    sl_store_close(store);
}

static void test_refusals(void **state) {
    (void)state;
    open_store();
    void *self = make("token: s3cret\nmax_body_bytes: 1024\nmax_pending_requests: 1\n");
    sink k = {0};
    open_(self, &k);
    call c, held;
    post(&c, "", "{\"x\":1}\n");
    body_of(&c);
    assert_int_equal(c.status, 401);
    assert_non_null(strstr(c.answer, "WWW-Authenticate: Bearer"));
    post(&c, "Authorization: Bearer s3cretX\r\n", "{\"x\":1}\n");
    body_of(&c);
    assert_int_equal(c.status, 401);
    char big[1100];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = 0;
    post(&c, "Authorization: Bearer s3cret\r\n", big);
    body_of(&c);
    assert_int_equal(c.status, 413);
    /* one request queued and not read: the next is 429 */
    post(&held, "Authorization: Bearer s3cret\r\n", "{\"x\":1}\n");
    for (int i = 0; i < 100; i++) { /* until it is queued (the descriptor fires) */
        struct pollfd pf = {D->fd(self), POLLIN, 0};
        if (poll(&pf, 1, 20) == 1) break;
    }
    post(&c, "Authorization: Bearer s3cret\r\n", "{\"x\":2}\n");
    body_of(&c);
    assert_int_equal(c.status, 429);
    assert_non_null(strstr(c.answer, "Retry-After: 1"));
    read_one(self);
    commit(self);
    assert_string_equal(body_of(&held), "{\"accepted\":1,\"quarantined\":0}");
    assert_string_equal(k.lines, "0:{\"x\":1};");
    D->destroy(self);
    sl_store_close(store);
}

/* A commit later than answer_timeout: 503, and the records still count once:
 * the retry with the key is answered from the commit that stored them. */
static void test_answer_timeout(void **state) {
    (void)state;
    open_store();
    void *self = make("answer_timeout: 100ms\n");
    sink k = {0};
    open_(self, &k);
    call c;
    post(&c, "Idempotency-Key: slow\r\n", "{\"x\":1}\n");
    read_one(self);
    body_of(&c);
    assert_int_equal(c.status, 503);
    assert_non_null(strstr(c.answer, "Retry-After: 5"));
    post(&c, "Idempotency-Key: slow\r\n", "{\"x\":1}\n"); /* still in its commit */
    body_of(&c);
    assert_int_equal(c.status, 409);
    commit(self);
    post(&c, "Idempotency-Key: slow\r\n", "{\"x\":1}\n");
    assert_string_equal(body_of(&c), "{\"accepted\":1,\"quarantined\":0}");
    assert_int_equal(c.status, 200);
    assert_int_equal(k.msgs, 1);
    D->destroy(self);
    sl_store_close(store);
}

static void create_fails(const char *yaml, const char *want) {
    sl_error err = {0};
    sl_spec_free(spec);
    spec = sl_spec_load_mem("p.yaml", yaml, strlen(yaml), NULL, &err);
    if (!spec) fail_msg("%s", err.msg);
    const sl_source_def *d = sl_source_find("http");
    sl_source_env env = {.name = "h"};
    void *self = NULL;
    sl_source_info info = {0};
    if (!d->create(sl_spec_root(spec), &env, &self, &info, &err)) fail_msg("%s: accepted", yaml);
    if (!strstr(err.msg, want)) fail_msg("%s: got '%s', want '%s'", yaml, err.msg, want);
}

static void test_create_errors(void **state) {
    (void)state;
    create_fails("path: /x\n", "listen");
    create_fails("listen: localhost\n", "p.yaml:1:9: source 'h': listen must be host:port");
    create_fails("listen: ':99999'\n", "listen must be host:port");
    create_fails("listen: ':0'\npath: ingest\n",
                 "p.yaml:2:7: source 'h': path must start with '/'");
    create_fails("listen: ':0'\nmax_body_bytes: 10\n", "max_body_bytes");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_ack_after_commit, tmpdir_setup, tmpdir_teardown),
        cmocka_unit_test_setup_teardown(test_straddling_request, tmpdir_setup, tmpdir_teardown),
        cmocka_unit_test_setup_teardown(test_refusals, tmpdir_setup, tmpdir_teardown),
        cmocka_unit_test_setup_teardown(test_answer_timeout, tmpdir_setup, tmpdir_teardown),
        cmocka_unit_test(test_create_errors),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    sl_spec_free(spec);
    return rc;
}
