/*
 * test_source.c - the source kinds through their interface (sources/source.h,
 * registry.c, dir_source.c, syslog_source.c, kafka_source.c): the registry and
 * its tables, what create refuses (file:line:col), and a dir and a syslog
 * source driven the way the engine drives them: open with an env whose
 * parse callbacks record what they are handed, wait on the fd, read, commit.
 * Kafka's run is tested with a mock cluster in test_kafka.c.
 */
#include <setjmp.h> /* cmocka.h needs these four first */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <ftw.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/log.h"
#include "core/timeutil.h"
#include "sources/source.h"

static char *dir;

static int rm_cb(const char *p, const struct stat *st, int flag, struct FTW *f) {
    (void)st, (void)flag, (void)f;
    return remove(p);
}

static int setup(void **state) {
    (void)state;
    dir = strdup("/tmp/sl_source_test_XXXXXX");
    assert_non_null(mkdtemp(dir));
    return 0;
}

static int teardown(void **state) {
    (void)state;
    nftw(dir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
    free(dir);
    return 0;
}

/* ---- what the engine would do with what a source reads ------------------ */

typedef struct {
    char text[4096]; /* every line handed over, in order */
    size_t len;
    int calls, msgs;
    int32_t part;
    int64_t pos;
    char positions[1024]; /* "name=pos;" from each_position */
} sink;

static size_t parse_cb(void *ud, const char *buf, size_t len, int32_t part, int64_t pos) {
    sink *k = ud;
    assert_true(len > 0 && buf[len - 1] == '\n');
    assert_true(k->len + len < sizeof k->text);
    memcpy(k->text + k->len, buf, len);
    k->len += len;
    k->calls++;
    k->part = part;
    k->pos = pos;
    return len;
}

static int parse_msgs_cb(void *ud, const char *buf, const sl_poll_msg *msgs, int n) {
    sink *k = ud;
    for (int i = 0; i < n; i++) {
        assert_int_equal(buf[msgs[i].off + msgs[i].len], '\n');
        assert_true(k->len + msgs[i].len + 1 < sizeof k->text);
        memcpy(k->text + k->len, buf + msgs[i].off, msgs[i].len + 1);
        k->len += msgs[i].len + 1;
        k->msgs++;
    }
    k->calls++;
    return 0;
}

/* Records "name=pos;" per position row; a dir source's row is named
 * NAME#IDENTITY (inode and fingerprint, dir.h): the identity is left out. */
static void pos_cb(void *ud, const char *name, int64_t pos) {
    sink *k = ud;
    size_t l = strlen(k->positions);
    int n = (int)strcspn(name, "#");
    snprintf(k->positions + l, sizeof k->positions - l, "%.*s=%lld;", n, name, (long long)pos);
}

static sl_spec *spec;

/* The source map of `yaml` ("key: value" lines), as the engine hands it to create. */
static const sl_node *map_of(const char *yaml) {
    sl_error err = {0};
    sl_spec_free(spec);
    spec = sl_spec_load_mem("p.yaml", yaml, strlen(yaml), NULL, &err);
    if (!spec) fail_msg("%s", err.msg);
    return sl_spec_root(spec);
}

static void *create(const char *kind, const char *yaml, sl_source_info *info) {
    const sl_source_def *d = sl_source_find(kind);
    assert_non_null(d);
    sl_source_env env = {.name = "s", .base_dir = "."};
    sl_error err = {0};
    void *self = NULL;
    if (d->create(map_of(yaml), &env, &self, info, &err)) fail_msg("%s", err.msg);
    assert_non_null(self);
    return self;
}

static void create_fails(const char *kind, const char *yaml, const char *want) {
    const sl_source_def *d = sl_source_find(kind);
    sl_source_env env = {.name = "s"};
    sl_source_info info = {0};
    sl_error err = {0};
    void *self = NULL;
    if (!d->create(map_of(yaml), &env, &self, &info, &err)) fail_msg("%s: accepted", yaml);
    assert_null(self);
    if (strcmp(err.msg, want)) fail_msg("want '%s', got '%s'", want, err.msg);
}

/* ---- tests ------------------------------------------------------------- */

static void test_registry(void **state) {
    (void)state;
    int n = 0;
    for (const sl_source_def *const *d = sl_source_all(); *d; d++, n++) {
        assert_ptr_equal(sl_source_find((*d)->name), *d);
        assert_non_null((*d)->opts);
        assert_non_null((*d)->help);
        assert_non_null((*d)->format);
        /* what every kind must have */
        assert_non_null((*d)->create);
        assert_non_null((*d)->destroy);
        assert_non_null((*d)->open);
        assert_non_null((*d)->close);
        assert_non_null((*d)->read);
        assert_non_null((*d)->part_names);
        assert_non_null((*d)->done);
        assert_non_null((*d)->fd);
        sl_error e = {0};
        if (sl_opt_check_defaults((*d)->opts, (*d)->name, &e)) fail_msg("%s", e.msg);
        /* a kind's option is not a common one */
        for (const sl_opt *o = (*d)->opts; o->name; o++)
            assert_null(sl_opt_find(sl_source_common_opts(), o->name));
    }
    assert_int_equal(n, 7);
    assert_null(sl_source_find("dri"));
    assert_null(sl_source_find(NULL));
    /* type's words are the registry's */
    const sl_opt *type = sl_opt_find(sl_source_common_opts(), "type");
    assert_string_equal(type->values, "dir|file|kafka|syslog|http|http_poll|mqtt");
    assert_true(type->required);
    sl_error e = {0};
    if (sl_opt_check_defaults(sl_source_common_opts(), "sources", &e)) fail_msg("%s", e.msg);
    assert_string_equal(sl_source_format_name(0), "json");
    assert_string_equal(sl_source_format_name(4), "csv");
    assert_string_equal(sl_source_format_name(9), "");
    /* the union: every row once, none required but type */
    const sl_opt *any = sl_source_any_opts();
    for (const sl_source_def *const *d = sl_source_all(); *d; d++)
        for (const sl_opt *o = (*d)->opts; o->name; o++)
            assert_non_null(sl_opt_find(any, o->name));
    for (const sl_opt *o = any; o->name; o++)
        assert_true(!o->required || !strcmp(o->name, "type"));
    char owners[64];
    sl_source_owners("path", owners, sizeof owners);
    assert_string_equal(owners, "dir, file and http");
    sl_source_owners("brokers", owners, sizeof owners);
    assert_string_equal(owners, "kafka");
    sl_source_owners("pattern", owners, sizeof owners);
    assert_string_equal(owners, "dir");
    sl_opt_table t[16];
    assert_int_equal(sl_source_opt_tables(t, 16), 1 + n);
    assert_string_equal(t[0].name, "sources");
    assert_string_equal(t[1].name, "dir");
}

static void test_create_errors(void **state) {
    (void)state;
    create_fails("dir", "pattern: '*.log'\n", "p.yaml:1:1: source 's': missing key 'path'");
    create_fails("dir", "path: /in\ncleanup: move\n",
                 "p.yaml:2:10: source 's': cleanup: move and archive go together");
    create_fails("dir", "path: /in\narchive: /a\n",
                 "p.yaml:2:10: source 's': cleanup: move and archive go together");
    create_fails("dir", "path: /in\nmax_files_per_trigger: -1\n",
                 "p.yaml:2:24: source 's': max_files_per_trigger must be in 0..1000000000, got -1");
    create_fails("file", "path: /in/a.log\npattern: '*'\n",
                 "p.yaml:2:1: source 's': unknown key 'pattern' (valid keys: path, "
                 "max_files_per_trigger, cleanup, archive, line_timeout, multiline)");
    create_fails("dir", "path: /in\nmultiline: {start: a, continue: b}\n",
                 "p.yaml:2:20: source 's': multiline: give start or continue, not both");
    create_fails("dir", "path: /in\nmultiline: {max_bytes: 100}\n",
                 "p.yaml:2:12: source 's': multiline: give start or continue");
    create_fails("file", "path: /in/a.log\nmultiline: {continue: '^(\\s'}\n",
                 "p.yaml:2:23: source 's': multiline: bad regular expression at offset 4: missing "
                 "closing parenthesis");
    create_fails("syslog", "max_queue_bytes: 65536\n",
                 "p.yaml:1:1: source 's': syslog needs listen_udp and/or listen_tcp");
    create_fails("syslog", "listen_udp: ':0'\nmax_queue_bytes: 100\n",
                 "p.yaml:2:18: source 's': max_queue_bytes must be >= 65536, got 100");
    create_fails("syslog", "listen_udp: ':0'\ntls: {cert: /no/such.crt, key: /no/such.key}\n",
                 "p.yaml:2:6: source 's': tls needs listen_tcp (UDP stays plain)");
    create_fails("syslog", "listen_tcp: ':0'\ntls: {cert: /no/such.crt}\n",
                 "p.yaml:2:6: source 's': tls: missing key 'key'");
    create_fails("syslog", "listen_tcp: ':0'\ntls: {cert: /no/such.crt, key: /no/such.key}\n",
                 "p.yaml:2:13: source 's': tls cert '/no/such.crt': No such file or directory");
    create_fails("syslog", "listen_tcp: ':0'\ntls: {cert: /dev/null, key: /no/such.key}\n",
                 "p.yaml:2:29: source 's': tls key '/no/such.key': No such file or directory");
    create_fails("kafka", "topics: t\n", "p.yaml:1:1: source 's': missing key 'brokers'");
    create_fails("kafka", "brokers: b\ntopics: t\nfilter: {header: h}\n",
                 "p.yaml:3:9: filter: 'header' and 'values' go together");
    create_fails("kafka", "brokers: b\ntopics: t\nfilter: {heder: h}\n",
                 "p.yaml:3:10: source 's' filter: unknown key 'heder' (did you mean 'header'?)");
    create_fails("kafka", "brokers: b\ntopics: t\nproperties: {a: [1]}\n",
                 "p.yaml:3:17: kafka property 'a': expected a value");
}

static void test_kafka_create(void **state) {
    (void)state;
    const sl_source_def *d = sl_source_find("kafka");
    sl_source_info info = {0};
    void *self = create("kafka", "brokers: b\ntopics: a, b\ngroup: g\n", &info);
    assert_null(info.part_column);
    char out[128];
    d->describe(self, out, sizeof out);
    assert_string_equal(out, "kafka group g, topics a,b");
    assert_int_equal(d->fd(self), -1); /* not open */
    assert_null(d->part_names(self));
    sl_source_stats st = {-1, -1, -1, -1, -1};
    d->stats(self, &st);
    assert_int_equal(st.files_waiting, -1);
    assert_int_equal(st.consumer_lag, 0);
    assert_int_equal(st.filtered, 0);
    assert_int_equal(st.dropped, -1);
    d->destroy(self);
    self = create("kafka", "brokers: b\ntopics: [a]\npartitioned_state: true\n", &info);
    assert_non_null(info.part_column);
    assert_int_equal(info.part_column->line, 3);
    d->destroy(self);
}

static void put(const char *name, const char *text) {
    char p[1024];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    FILE *f = fopen(p, "a");
    assert_non_null(f);
    fwrite(text, 1, strlen(text), f);
    fclose(f);
}

static bool readable(int fd, int ms) {
    struct pollfd pf = {fd, POLLIN, 0};
    return poll(&pf, 1, ms) == 1;
}

static sl_store *open_store(void) {
    char p[1024];
    snprintf(p, sizeof p, "%s/sluice.db", dir);
    sl_error err = {0};
    sl_store *st = sl_store_open(p, false, &err);
    if (!st) fail_msg("%s", err.msg);
    return st;
}

static void test_dir(void **state) {
    (void)state;
    char land[1024], yaml[1200];
    snprintf(land, sizeof land, "%s/landing", dir);
    assert_int_equal(mkdir(land, 0755), 0);
    snprintf(yaml, sizeof yaml, "path: %s\npattern: '*.log'\n", land);
    const sl_source_def *d = sl_source_find("dir");
    sl_source_info info = {0};
    void *self = create("dir", yaml, &info);
    assert_null(d->part_names(self));
    char out[1200], want[1200];
    d->describe(self, out, sizeof out);
    snprintf(want, sizeof want, "dir %s/*.log", land);
    assert_string_equal(out, want);
    put("landing/a.log", "{\"a\":1}\n{\"a\":2}\n");
    put("landing/b.txt", "not read\n");
    sink k = {0};
    sl_store *store = open_store();
    sl_source_env env = {
        .name = "s", .batch_size = 100, .store = store, .ud = &k, .parse = parse_cb};
    sl_error err = {0};
    if (d->open(self, &env, &err)) fail_msg("%s", err.msg);
    int fd = d->fd(self);
    assert_true(fd >= 0); /* inotify */
    assert_int_equal(d->scan(self, &err), 0);
    sl_source_stats st = {-1, -1, -1, -1, -1};
    d->stats(self, &st);
    assert_int_equal(st.files_waiting, 1);
    assert_int_equal(st.bytes_waiting, 16);
    assert_int_equal(d->read(self, false, &err), 1);
    assert_string_equal(d->part_names(self)[k.part], "a.log");
    assert_int_equal(k.pos, 0);
    assert_int_equal(d->read(self, false, &err), 0);
    assert_false(d->done(self));
    /* a new file makes the fd readable; the scan drains it */
    assert_false(readable(fd, 0));
    put("landing/c.log", "{\"a\":3}\n");
    assert_true(readable(fd, 5000));
    assert_int_equal(d->scan(self, &err), 0);
    assert_false(readable(fd, 0));
    assert_int_equal(d->read(self, false, &err), 1);
    k.text[k.len] = 0;
    assert_string_equal(k.text, "{\"a\":1}\n{\"a\":2}\n{\"a\":3}\n");
    d->each_position(self, pos_cb, &k);
    assert_string_equal(k.positions, "a.log=16;c.log=8;");
    d->committed(self);
    k.positions[0] = 0;
    d->each_position(self, pos_cb, &k);
    assert_string_equal(k.positions, "");
    /* --once: nothing more, done */
    assert_int_equal(d->read(self, true, &err), 0);
    assert_true(d->done(self));
    d->close(self);
    assert_int_equal(d->fd(self), -1);
    /* reopened from stored positions: nothing read again */
    assert_int_equal(sl_store_begin(store, &err), 0);
    assert_int_equal(sl_store_put_position(store, "s", "a.log", 16), 0);
    assert_int_equal(sl_store_put_position(store, "s", "c.log", 8), 0);
    assert_int_equal(sl_store_commit(store, &err), 0);
    k.len = 0;
    if (d->open(self, &env, &err)) fail_msg("%s", err.msg);
    assert_false(d->done(self));
    assert_int_equal(d->scan(self, &err), 0);
    assert_int_equal(d->read(self, true, &err), 0);
    assert_int_equal(k.len, 0);
    assert_true(d->done(self));
    d->destroy(self); /* closes too */
    sl_store_close(store);
}

/* ---- multiline records ---- */

typedef struct {
    char rec[16][512]; /* each record as the format saw it */
    int64_t pos[16];
    int n;
} recs;

static size_t recs_cb(void *ud, const char *buf, size_t len, int32_t part, int64_t pos) {
    (void)part;
    recs *r = ud;
    for (size_t off = 0; off < len;) {
        const char *nl = memchr(buf + off, '\n', len - off);
        assert_non_null(nl);
        size_t end = (size_t)(nl - buf);
        assert_true(r->n < 16);
        snprintf(r->rec[r->n], sizeof r->rec[0], "%.*s", (int)(end - off), buf + off);
        r->pos[r->n++] = pos + (int64_t)off;
        off = end + 1;
    }
    return len;
}

#define X21 "xxxxxxxxxxxxxxxxxxxxx"

static void test_multiline(void **state) {
    (void)state;
    char land[1024], yaml[1400];
    snprintf(land, sizeof land, "%s/ml", dir);
    assert_int_equal(mkdir(land, 0755), 0);
    /* Java: a record starts with a date; the trace and "Caused by" continue it */
    static const char java1[] = "2026-12-07 10:00:00 INFO started\n"
                                "2026-12-07 10:00:01 ERROR request failed\n"
                                "java.lang.IllegalStateException: boom\n"
                                "\tat com.example.Handler.run(Handler.java:42)\n"
                                "\tat java.base/java.lang.Thread.run(Thread.java:833)\n"
                                "Caused by: java.io.IOException: disk full\n"
                                "\t... 2 more\n"
                                "2026-12-07 10:00:02 WARN slow\n";
    put("ml/app.log", java1);
    snprintf(yaml, sizeof yaml,
             "path: %s\npattern: '*.log'\nmultiline: {start: '^\\d{4}-\\d\\d-\\d\\d ', "
             "flush_after: 1h}\n",
             land);
    const sl_source_def *d = sl_source_find("dir");
    sl_source_info info = {0};
    void *self = create("dir", yaml, &info);
    recs r = {0};
    sl_store *store = open_store();
    sl_source_env env = {
        .name = "s", .batch_size = 100, .store = store, .ud = &r, .parse = recs_cb};
    sl_error err = {0};
    if (d->open(self, &env, &err)) fail_msg("%s", err.msg);
    assert_int_equal(d->scan(self, &err), 0);
    assert_int_equal(d->read(self, false, &err), 1);
    /* the last record waits: a continuation may still come */
    assert_int_equal(r.n, 2);
    assert_string_equal(r.rec[0], "2026-12-07 10:00:00 INFO started");
    assert_string_equal(r.rec[1], "2026-12-07 10:00:01 ERROR request failed\r"
                                  "java.lang.IllegalStateException: boom\r"
                                  "\tat com.example.Handler.run(Handler.java:42)\r"
                                  "\tat java.base/java.lang.Thread.run(Thread.java:833)\r"
                                  "Caused by: java.io.IOException: disk full\r"
                                  "\t... 2 more");
    assert_int_equal(r.pos[0], 0);
    assert_int_equal(r.pos[1], 33);
    assert_int_equal(d->read(self, false, &err), 0);
    assert_int_equal(d->read(self, true, &err), 0); /* --once waits for it too */
    assert_false(d->done(self));
    /* the position stops at the pending record's first byte */
    sink k = {0};
    d->each_position(self, pos_cb, &k);
    int64_t pending = (int64_t)(strstr(java1, "2026-12-07 10:00:02") - java1);
    char want[64];
    snprintf(want, sizeof want, "app.log=%lld;", (long long)pending);
    assert_string_equal(k.positions, want);
    /* a restart from there: the pending record is read whole, then continued */
    d->close(self);
    assert_int_equal(sl_store_begin(store, &err), 0);
    char row[64];
    snprintf(row, sizeof row, "app.log");
    assert_int_equal(sl_store_put_position(store, "s", row, pending), 0);
    assert_int_equal(sl_store_commit(store, &err), 0);
    put("ml/app.log", "  context line\n2026-12-07 10:00:03 INFO done\n");
    r.n = 0;
    if (d->open(self, &env, &err)) fail_msg("%s", err.msg);
    assert_int_equal(d->scan(self, &err), 0);
    assert_int_equal(d->read(self, false, &err), 1);
    assert_int_equal(r.n, 1);
    assert_string_equal(r.rec[0], "2026-12-07 10:00:02 WARN slow\r  context line");
    assert_int_equal(r.pos[0], pending);
    d->destroy(self);

    /* Python, continue pattern; flush_after 0s: the last record of an idle file
     * is complete at once; max_bytes cuts a long record */
    put("ml/py.txt", "INFO serving\n"
                     "ERROR request failed\n"
                     "Traceback (most recent call last):\n"
                     "  File \"app.py\", line 3, in <module>\n"
                     "    main()\n"
                     "ValueError: bad value\n"
                     "INFO next\n"
                     "INFO a\n"
                     "  one\n"
                     "  two\n"
                     "  " X21 X21 X21 X21 X21 X21 X21 "\n"
                     "  twelve\n");
    snprintf(yaml, sizeof yaml,
             "path: %s/py.txt\nmultiline: {continue: '^(\\s|Traceback|\\w+Error:)', "
             "flush_after: 0s, max_bytes: 160}\n",
             land);
    d = sl_source_find("file");
    self = create("file", yaml, &info);
    recs r2 = {0};
    env.ud = &r2;
    if (d->open(self, &env, &err)) fail_msg("%s", err.msg);
    assert_int_equal(d->scan(self, &err), 0);
    while (d->read(self, true, &err) == 1)
        ;
    assert_true(d->done(self));
    assert_int_equal(r2.n, 5);
    assert_string_equal(r2.rec[0], "INFO serving");
    assert_string_equal(r2.rec[1], "ERROR request failed\rTraceback (most recent call last):\r"
                                   "  File \"app.py\", line 3, in <module>\r    main()\r"
                                   "ValueError: bad value");
    assert_string_equal(r2.rec[2], "INFO next");
    assert_string_equal(r2.rec[3], "INFO a\r  one\r  two"); /* 160 bytes at most */
    assert_string_equal(r2.rec[4], "  " X21 X21 X21 X21 X21 X21 X21 "\r  twelve");
    assert_int_equal(r2.pos[1], 13);
    assert_int_equal(r2.pos[4] - r2.pos[3], 19);
    d->destroy(self);
    sl_store_close(store);
}

static bool sample_cb(void *ud, const char *buf, size_t len) {
    sink *k = ud;
    assert_true(k->len + len < sizeof k->text);
    assert_int_equal(buf[len], 0); /* padded */
    memcpy(k->text + k->len, buf, len);
    k->len += len;
    return ++k->calls < 2;
}

static void test_file_and_sample(void **state) {
    (void)state;
    put("b.ndjson", "{\"b\":1}\n");
    put("a.ndjson", "{\"a\":1}\n{\"a\":2}"); /* no last '\n': added */
    put("c.ndjson", "{\"c\":1}\n");
    char yaml[1200];
    snprintf(yaml, sizeof yaml, "path: %s/a.ndjson\n", dir);
    const sl_source_def *f = sl_source_find("file"), *d = sl_source_find("dir");
    sl_source_info info = {0};
    void *self = create("file", yaml, &info);
    char out[1200], want[1200];
    f->describe(self, out, sizeof out);
    snprintf(want, sizeof want, "dir %s/a.ndjson", dir);
    assert_string_equal(out, want);
    sink k = {0};
    sl_error err = {0};
    assert_int_equal(f->sample(self, sample_cb, &k, &err), 0);
    k.text[k.len] = 0;
    assert_string_equal(k.text, "{\"a\":1}\n{\"a\":2}\n");
    f->destroy(self);
    /* a dir: every file in name order, until the callback says enough */
    snprintf(yaml, sizeof yaml, "path: %s\npattern: '*.ndjson'\n", dir);
    self = create("dir", yaml, &info);
    memset(&k, 0, sizeof k);
    assert_int_equal(d->sample(self, sample_cb, &k, &err), 0);
    k.text[k.len] = 0;
    assert_string_equal(k.text, "{\"a\":1}\n{\"a\":2}\n{\"b\":1}\n");
    d->destroy(self);
}

static int free_udp_port(void) {
    int s = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(s, (struct sockaddr *)&a, sizeof a), 0);
    socklen_t l = sizeof a;
    getsockname(s, (struct sockaddr *)&a, &l);
    close(s);
    return ntohs(a.sin_port);
}

static void test_syslog(void **state) {
    (void)state;
    int port = free_udp_port();
    char yaml[128];
    snprintf(yaml, sizeof yaml, "listen_udp: 127.0.0.1:%d\n", port);
    const sl_source_def *d = sl_source_find("syslog");
    sl_source_info info = {0};
    void *self = create("syslog", yaml, &info);
    sink k = {0};
    sl_source_env env = {.name = "s", .batch_size = 100, .ud = &k, .parse_msgs = parse_msgs_cb};
    sl_error err = {0};
    if (d->open(self, &env, &err)) fail_msg("%s", err.msg);
    int fd = d->fd(self);
    assert_true(fd >= 0);
    assert_false(readable(fd, 0));
    assert_int_equal(d->read(self, false, &err), 0);
    int s = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    const char *m1 = "<13>1 2024-01-01T00:00:00Z h app - - - one", *m2 = "<13>two";
    assert_true(sendto(s, m1, strlen(m1), 0, (struct sockaddr *)&a, sizeof a) > 0);
    assert_true(readable(fd, 5000));
    assert_true(sendto(s, m2, strlen(m2), 0, (struct sockaddr *)&a, sizeof a) > 0);
    int64_t t0 = sl_monotonic_us();
    while (k.msgs < 2) {
        assert_true(d->read(self, false, &err) >= 0);
        assert_true(sl_monotonic_us() - t0 < 5 * SL_US_PER_SEC);
        if (k.msgs < 2) readable(fd, 100);
    }
    close(s);
    assert_false(readable(fd, 0)); /* drained by the read that took the queue */
    k.text[k.len] = 0;
    assert_string_equal(k.text, "<13>1 2024-01-01T00:00:00Z h app - - - one\n<13>two\n");
    assert_string_equal(d->part_names(self)[0], "udp:127.0.0.1");
    sl_source_stats st = {-1, -1, -1, -1, -1};
    d->stats(self, &st);
    assert_int_equal(st.dropped, 0);
    assert_int_equal(st.files_waiting, -1);
    assert_null(d->each_position); /* the network cannot replay */
    assert_false(d->done(self));
    d->destroy(self);
}

int main(void) {
    sl_log_init();
    if (!getenv("SLUICE_LOG")) sl_log_set_level(SL_LOG_ERROR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_registry),
        cmocka_unit_test(test_create_errors),
        cmocka_unit_test(test_kafka_create),
        cmocka_unit_test_setup_teardown(test_dir, setup, teardown),
        cmocka_unit_test_setup_teardown(test_file_and_sample, setup, teardown),
        cmocka_unit_test_setup_teardown(test_multiline, setup, teardown),
        cmocka_unit_test(test_syslog),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    sl_spec_free(spec);
    return rc;
}
