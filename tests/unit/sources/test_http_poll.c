/*
 * test_http_poll.c - the http_poll source driven as the engine drives it
 * (create, open at the stored positions, read, each_position), against a
 * small HTTP server in this process that lists records with start_time >=
 * start_time_from. Checks the cursor rule: after a restart from the stored
 * position, the records already taken at the cursor value are not taken
 * again, a record that appeared later with the same value is, and nothing
 * below is; offset and Link pagination; and the option errors.
 */
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

#include "core/timeutil.h"
#include "sources/source.h"
#include "store/store.h"

/* ---- the server: records (start_time, id), answered in ascending order ---- */

typedef struct {
    int64_t t;
    const char *id;
} rec;

static rec recs[16];
static int nrecs;
static int lfd, port;
static char last_query[256];
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_t srv;
static volatile int stopping;

static void answer(int c) {
    char req[2048];
    size_t n = 0;
    while (n < sizeof req - 1) {
        ssize_t r = read(c, req + n, sizeof req - 1 - n);
        if (r <= 0) break;
        n += (size_t)r;
        req[n] = 0;
        if (strstr(req, "\r\n\r\n")) break;
    }
    req[n] = 0;
    int64_t from = -1;
    char *q = strchr(req, '?');
    pthread_mutex_lock(&mu);
    if (q) {
        size_t l = strcspn(q, " ");
        snprintf(last_query, sizeof last_query, "%.*s", (int)l, q);
        char *f = strstr(q, "from=");
        if (f && f < q + l) from = atoll(f + 5);
    } else {
        last_query[0] = 0;
    }
    /* pages of 2: ?offset=N (offset pagination) or /linked?page=N (a Link header) */
    char *o = q ? strstr(q, "offset=") : NULL, *pg = q ? strstr(q, "page=") : NULL;
    int first = o ? atoi(o + 7) : pg ? atoi(pg + 5) : 0;
    int last = o || strstr(req, "GET /linked") ? first + 2 : 1 << 30;
    char link[128] = "";
    if (strstr(req, "GET /linked") && last < nrecs)
        snprintf(link, sizeof link, "Link: <http://127.0.0.1:%d/linked?page=%d>; rel=\"next\"\r\n",
                 port, last);
    char body[4096];
    size_t bl = (size_t)snprintf(body, sizeof body, "{\"runs\": [\n");
    int k = 0;
    for (int i = first; i < nrecs && i < last; i++)
        if (recs[i].t >= from)
            bl += (size_t)snprintf(body + bl, sizeof body - bl,
                                   "%s  {\"id\": \"%s\", \"start\": %lld}", k++ ? ",\n" : "",
                                   recs[i].id, (long long)recs[i].t);
    pthread_mutex_unlock(&mu);
    bl += (size_t)snprintf(body + bl, sizeof body - bl, "\n]}");
    char head[512];
    int hl = snprintf(head, sizeof head,
                      "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
                      "%zu\r\n%sConnection: close\r\n\r\n",
                      bl, link);
    if (write(c, head, (size_t)hl) < 0 || write(c, body, bl) < 0) {
    }
    close(c);
}

static void *serve(void *arg) {
    (void)arg;
    while (!stopping) {
        struct pollfd p = {.fd = lfd, .events = POLLIN};
        if (poll(&p, 1, 50) <= 0) continue;
        int c = accept(lfd, NULL, NULL);
        if (c >= 0) answer(c);
    }
    return NULL;
}

static int setup(void **state) {
    (void)state;
    lfd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof a;
    if (bind(lfd, (struct sockaddr *)&a, sizeof a) || listen(lfd, 16) ||
        getsockname(lfd, (struct sockaddr *)&a, &al))
        return -1;
    port = ntohs(a.sin_port);
    return pthread_create(&srv, NULL, serve, NULL);
}

static int teardown(void **state) {
    (void)state;
    stopping = 1;
    pthread_join(srv, NULL);
    close(lfd);
    return 0;
}

/* ---- the engine's side ---- */

static sl_spec *spec;
static char got[64][16]; /* ids of the records handed over, in order */
static int ngot, nbad;

static const sl_node *map_of(const char *yaml) {
    sl_error err = {0};
    sl_spec_free(spec);
    spec = sl_spec_load_mem("p.yaml", yaml, strlen(yaml), NULL, &err);
    if (!spec) fail_msg("%s", err.msg);
    return sl_spec_root(spec);
}

static int parse_msgs(void *ud, const char *buf, const sl_poll_msg *msgs, int n) {
    (void)ud;
    for (int i = 0; i < n && ngot < 64; i++) {
        const char *line = buf + msgs[i].off;
        assert_null(memchr(line, '\n', msgs[i].len)); /* one line each */
        assert_int_equal(line[msgs[i].len], '\n');
        const char *id = strstr(line, "\"id\": \"");
        assert_non_null(id);
        snprintf(got[ngot++], sizeof got[0], "%.*s", (int)strcspn(id + 7, "\""), id + 7);
    }
    return 0; /* none quarantined */
}

static void bad(void *ud, const char *raw, size_t len, int32_t part, int64_t pos,
                const char *reason) {
    (void)ud, (void)raw, (void)len, (void)part, (void)pos, (void)reason;
    nbad++;
}

static void save(void *ud, const char *partition, int64_t pos) {
    assert_int_equal(sl_store_put_position(ud, "runs", partition, pos), 0);
}

/* One --once run: open at the stored positions, read until done, store
 * the positions. */
static void run_once(const sl_source_def *d, void *self, sl_store *st) {
    sl_source_env env = {.name = "runs",
                         .pipeline = "p",
                         .base_dir = ".",
                         .once = true,
                         .batch_size = 2,
                         .max_line_bytes = 1 << 20,
                         .store = st,
                         .parse_msgs = parse_msgs,
                         .bad = bad};
    sl_error err = {0};
    ngot = nbad = 0;
    if (d->open(self, &env, &err)) fail_msg("%s", err.msg);
    int64_t until = sl_monotonic_us() + 10000000;
    while (!d->done(self)) {
        assert_true(sl_monotonic_us() < until);
        if (d->read(self, true, &err) < 0) fail_msg("%s", err.msg);
        usleep(1000);
    }
    d->each_position(self, save, st);
    d->close(self);
}

static void test_cursor_rule(void **state) {
    (void)state;
    const sl_source_def *d = sl_source_find("http_poll");
    assert_non_null(d);
    char yaml[512];
    snprintf(yaml, sizeof yaml,
             "url: http://127.0.0.1:%d/runs\nrecords: runs\ncursor: start\ncursor_param: from\n"
             "key: id\ntimeout: 5s\n",
             port);
    sl_source_env cenv = {.name = "runs", .base_dir = "."};
    sl_source_info info = {0};
    sl_error err = {0};
    void *self = NULL;
    if (d->create(map_of(yaml), &cenv, &self, &info, &err)) fail_msg("%s", err.msg);
    char path[] = "/tmp/sl_http_poll_test_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    sl_store *st = sl_store_open(path, false, &err);
    assert_non_null(st);

    pthread_mutex_lock(&mu);
    recs[0] = (rec){100, "a"}, recs[1] = (rec){200, "b"}, recs[2] = (rec){200, "c"};
    nrecs = 3;
    pthread_mutex_unlock(&mu);
    run_once(d, self, st);
    assert_int_equal(ngot, 3);
    assert_string_equal(got[0], "a");
    assert_string_equal(got[2], "c");
    assert_null(strstr(last_query, "from=")); /* no cursor yet: no filter */
    int64_t pos = 0;
    assert_int_equal(sl_store_get_position(st, "runs", "cursor", &pos), 0);
    assert_int_equal(pos, 200);
    assert_int_equal(sl_store_get_position(st, "runs", "ties", &pos), 0);
    assert_int_equal(pos, 2);

    /* later: another record at 200 (a late tie) and one at 300 */
    pthread_mutex_lock(&mu);
    recs[3] = (rec){200, "d"}, recs[4] = (rec){300, "e"};
    nrecs = 5;
    pthread_mutex_unlock(&mu);
    run_once(d, self, st);
    assert_string_equal(last_query, "?from=200");
    assert_int_equal(ngot, 2);
    assert_string_equal(got[0], "d");
    assert_string_equal(got[1], "e");
    assert_int_equal(sl_store_get_position(st, "runs", "cursor", &pos), 0);
    assert_int_equal(pos, 300);

    /* nothing new: nothing taken, the position stays */
    run_once(d, self, st);
    assert_int_equal(ngot, 0);
    assert_string_equal(last_query, "?from=300");
    assert_int_equal(nbad, 0);

    /* a record without the cursor field: quarantined, naming the path */
    pthread_mutex_lock(&mu);
    recs[5] = (rec){300, "f"};
    nrecs = 6;
    pthread_mutex_unlock(&mu);
    d->destroy(self);
    snprintf(yaml, sizeof yaml,
             "url: http://127.0.0.1:%d/runs\nrecords: runs\ncursor: begin\ncursor_param: from\n"
             "key: id\n",
             port);
    self = NULL;
    if (d->create(map_of(yaml), &cenv, &self, &info, &err)) fail_msg("%s", err.msg);
    run_once(d, self, st);
    assert_int_equal(ngot, 0);
    assert_int_equal(nbad, 1);
    d->destroy(self);
    sl_store_close(st);
    unlink(path);
    char wal[64];
    snprintf(wal, sizeof wal, "%s-wal", path);
    unlink(wal);
    snprintf(wal, sizeof wal, "%s-shm", path);
    unlink(wal);
}

/* Offset and Link pagination walk every page once, without a cursor. */
static void test_pages(void **state) {
    (void)state;
    const sl_source_def *d = sl_source_find("http_poll");
    const char *modes[] = {"/runs\npagination: offset\nlimit: 2\n", "/linked\npagination: link\n"};
    pthread_mutex_lock(&mu);
    const char *ids[] = {"p0", "p1", "p2", "p3", "p4"};
    for (int i = 0; i < 5; i++)
        recs[i] = (rec){i, ids[i]};
    nrecs = 5;
    pthread_mutex_unlock(&mu);
    for (int m = 0; m < 2; m++) {
        char yaml[512];
        snprintf(yaml, sizeof yaml, "url: http://127.0.0.1:%d%srecords: runs\n", port, modes[m]);
        sl_source_env cenv = {.name = "runs", .base_dir = "."};
        sl_source_info info = {0};
        sl_error err = {0};
        void *self = NULL;
        if (d->create(map_of(yaml), &cenv, &self, &info, &err)) fail_msg("%s", err.msg);
        char path[] = "/tmp/sl_http_poll_test_XXXXXX";
        int fd = mkstemp(path);
        close(fd);
        sl_store *st = sl_store_open(path, false, &err);
        assert_non_null(st);
        run_once(d, self, st);
        assert_int_equal(ngot, 5);
        for (int i = 0; i < 5; i++)
            assert_string_equal(got[i], ids[i]);
        d->destroy(self);
        sl_store_close(st);
        unlink(path);
    }
}

static void create_fails(const char *kind, const char *yaml, const char *want) {
    const sl_source_def *d = sl_source_find(kind);
    sl_source_env env = {.name = "s"};
    sl_source_info info = {0};
    sl_error err = {0};
    void *self = NULL;
    if (!d->create(map_of(yaml), &env, &self, &info, &err)) fail_msg("%s: accepted", yaml);
    if (!strstr(err.msg, want)) fail_msg("%s: error '%s' lacks '%s'", yaml, err.msg, want);
}

static void test_option_errors(void **state) {
    (void)state;
    create_fails("http_poll", "url: ftp://x/\n", "want http:// or https://");
    create_fails("http_poll", "url: http://x/\ncursor: t\n", "cursor needs key");
    create_fails("http_poll", "url: http://x/\npagination: pages\n", "pagination");
    create_fails("mqtt", "broker: h:1883\ntopics: a/#\ntls_cert: c.pem\n",
                 "tls_cert and tls_key go together");
    create_fails("mqtt", "broker: h:99999\ntopics: a/#\n", "broker: want host:port");
    create_fails("mqtt", "broker: h\ntopics: a\nqos: 3\n", "qos");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cursor_rule),
        cmocka_unit_test(test_pages),
        cmocka_unit_test(test_option_errors),
    };
    int rc = cmocka_run_group_tests(tests, setup, teardown);
    sl_spec_free(spec);
    return rc;
}
