/*
 * test_kafka.c - Kafka source, sink and mock cluster (src/sources/kafka.c,
 * src/sources/kafka_mock.c, src/sinks/kafka_sink.c).
 *
 * Every test starts its own librdkafka mock cluster (a real Kafka protocol
 * server on 127.0.0.1) and produces with a plain rdkafka producer, so the
 * source is checked against what the producer wrote, not against itself.
 * Message i carries {"i":i,...}, goes to partition i % P with header
 * tenant=a|b|c (none for every 50th), so its partition, its offset (i / P)
 * and whether the filter keeps it are all known in advance. The "engine" of
 * these tests saves positions into a small checkpoint table after each poll
 * and in the revoke callback, the way the real engine's commit does.
 *
 * Two switches run other things instead of the unit tests:
 *   SL_KAFKA_BENCH=N            produce N small JSON messages, time sl_kafka_poll
 *   SL_KAFKA_EXTERNAL=host:port consume topic $SL_KAFKA_TOPIC once, filter
 *                               tenant=a, expect $SL_KAFKA_EXPECT_A accepted and
 *                               $SL_KAFKA_EXPECT_TOTAL in all (the kcat test)
 */
#include <setjmp.h> /* cmocka.h needs these four first */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <librdkafka/rdkafka.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/log.h"
#include "core/timeutil.h"
#include "sinks/kafka_sink.h"
#include "sources/kafka.h"
#include "sources/kafka_mock.h"

/* ---- helpers ----------------------------------------------------------- */

static const char *tenant_of(int i) {
    if (i % 50 == 49) return NULL;
    return (const char *[]){"a", "b", "c"}[i % 3];
}

/* Produces messages [from, to) to topic with P partitions; every 10th payload
 * has raw "\n" and "\r" bytes inside. */
static void produce(const char *boot, const char *topic, int P, int from, int to) {
    char errstr[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    assert_int_equal(rd_kafka_conf_set(conf, "bootstrap.servers", boot, errstr, sizeof errstr), 0);
    rd_kafka_conf_set(conf, "linger.ms", "20", errstr, sizeof errstr);
    rd_kafka_conf_set(conf, "queue.buffering.max.messages", "2000000", errstr, sizeof errstr);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
    assert_non_null(rk);
    for (int i = from; i < to; i++) {
        char v[128], k[32];
        int vl = i % 10 == 5 ? snprintf(v, sizeof v, "{\"i\":%d,\n\"x\":\"two\r\nlines\"}", i)
                             : snprintf(v, sizeof v, "{\"i\":%d,\"x\":\"ok\"}", i);
        int kl = snprintf(k, sizeof k, "k%d", i);
        const char *t = tenant_of(i);
        rd_kafka_resp_err_t e;
        do {
            if (t)
                e = rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_PARTITION(i % P),
                                      RD_KAFKA_V_VALUE(v, (size_t)vl),
                                      RD_KAFKA_V_KEY(k, (size_t)kl),
                                      RD_KAFKA_V_HEADER("tenant", t, -1),
                                      RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
            else
                e = rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_PARTITION(i % P),
                                      RD_KAFKA_V_VALUE(v, (size_t)vl),
                                      RD_KAFKA_V_KEY(k, (size_t)kl),
                                      RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
            if (e == RD_KAFKA_RESP_ERR__QUEUE_FULL) rd_kafka_poll(rk, 10);
        } while (e == RD_KAFKA_RESP_ERR__QUEUE_FULL);
        assert_int_equal(e, 0);
    }
    assert_int_equal(rd_kafka_flush(rk, 30000), 0);
    rd_kafka_destroy(rk);
}

/* checkpoint: "topic/p" -> next offset */
typedef struct {
    char name[64][64];
    int64_t pos[64];
    int n;
} ckpt;

static void ck_save(void *ud, const char *name, int64_t next) {
    ckpt *c = ud;
    for (int i = 0; i < c->n; i++)
        if (!strcmp(c->name[i], name)) {
            assert_true(next >= c->pos[i]); /* positions never go back */
            c->pos[i] = next;
            return;
        }
    assert_true(c->n < 64);
    snprintf(c->name[c->n], sizeof c->name[0], "%s", name);
    c->pos[c->n++] = next;
}

static int64_t ck_get(const ckpt *c, const char *topic, int32_t partition) {
    char name[64];
    snprintf(name, sizeof name, "%s/%d", topic, (int)partition);
    for (int i = 0; i < c->n; i++)
        if (!strcmp(c->name[i], name)) return c->pos[i];
    return -1;
}

/* One consumer and its "engine". */
typedef struct {
    sl_kafka_source *s;
    ckpt *ck;     /* shared checkpoint; NULL: no position callback answers */
    int assigned; /* partitions assigned, net of revocations */
    int assign_calls, revokes;
    int *seen; /* seen[i]: times message i was delivered (shared) */
    int got;
    int P;
    const char *topic;
} consumer;

static int64_t pos_cb(void *ud, const char *topic, int32_t partition) {
    consumer *c = ud;
    c->assigned++;
    c->assign_calls++;
    return c->ck ? ck_get(c->ck, topic, partition) : -1;
}

static void commit(consumer *c) {
    if (c->ck) sl_kafka_each_dirty(c->s, ck_save, c->ck);
    sl_kafka_committed(c->s);
}

static void revoke_cb(void *ud, const char *const *partitions, int n) {
    (void)partitions;
    (void)n;
    consumer *c = ud;
    c->revokes++;
    c->assigned = 0; /* eager protocol: everything goes */
    commit(c);
}

static const char *FILTER_VALUES[] = {"a", "b"};

static bool cooperative; /* next consumer_open uses cooperative-sticky */

static consumer *consumer_open(const char *boot, const char *topic, int P, const char *group,
                               bool once, bool filter, ckpt *ck, int *seen) {
    consumer *c = calloc(1, sizeof *c);
    assert_non_null(c);
    c->ck = ck;
    c->seen = seen;
    c->P = P;
    c->topic = topic;
    const char *topics[] = {topic};
    const char *props[] = {"heartbeat.interval.ms=100", "session.timeout.ms=6000",
                           "fetch.wait.max.ms=50", "topic.metadata.refresh.interval.ms=1000",
                           "partition.assignment.strategy=cooperative-sticky"};
    sl_kafka_config cfg = {.brokers = boot,
                           .group = group,
                           .topics = topics,
                           .ntopics = 1,
                           .props = props,
                           .nprops = cooperative ? 5 : 4,
                           .once = once};
    if (filter) {
        cfg.filter_header = "tenant";
        cfg.filter_values = FILTER_VALUES;
        cfg.nfilter = 2;
    }
    sl_error err = {0};
    c->s = sl_kafka_open(&cfg, pos_cb, revoke_cb, c, &err);
    if (!c->s) fail_msg("open: %s", err.msg);
    return c;
}

/* Polls once; checks every message against what produce() wrote. */
static int consumer_poll(consumer *c, int max, int timeout_ms) {
    const char *buf;
    const sl_kafka_msg *m;
    sl_error err = {0};
    int n = sl_kafka_poll(c->s, max, timeout_ms, &buf, &m, &err);
    if (n < 0) fail_msg("poll: %s", err.msg);
    const char *const *names = sl_kafka_partition_names(c->s);
    for (int j = 0; j < n; j++) {
        const char *line = buf + m[j].off;
        assert_int_equal(line[m[j].len], '\n');
        assert_null(memchr(line, '\n', m[j].len));
        assert_null(memchr(line, '\r', m[j].len));
        int i = -1;
        assert_int_equal(sscanf(line, "{\"i\":%d,", &i), 1);
        char want[64];
        snprintf(want, sizeof want, "%s/%d", c->topic, i % c->P);
        assert_string_equal(names[m[j].part], want);
        assert_int_equal(m[j].pos, i / c->P);
        if (i % 10 == 5 && memmem(line, m[j].len, "two", 3))
            assert_int_equal(m[j].len, strlen("{\"i\":,\n\"x\":\"two\r\nlines\"}") +
                                           (size_t)snprintf(want, sizeof want, "%d", i));
        c->seen[i]++;
        c->got++;
    }
    return n;
}

static bool accepted(int i) {
    const char *t = tenant_of(i);
    return t && (!strcmp(t, "a") || !strcmp(t, "b"));
}

static void consumer_close(consumer *c) {
    sl_kafka_close(c->s);
    free(c);
}

static sl_kafka_mock *mock;
static const char *boot;

static int setup(void **state) {
    (void)state;
    const char *topics[] = {"t3:3", "g4:4", "out:1"};
    sl_error err = {0};
    mock = sl_kafka_mock_start(1, topics, 3, &err);
    if (!mock) fail_msg("mock: %s", err.msg);
    boot = sl_kafka_mock_bootstraps(mock);
    return 0;
}

static int teardown(void **state) {
    (void)state;
    sl_kafka_mock_stop(mock);
    mock = NULL;
    return 0;
}

/* ---- tests ------------------------------------------------------------- */

static void test_mock_bootstraps(void **state) {
    (void)state;
    assert_non_null(boot);
    assert_non_null(strstr(boot, "127.0.0.1:"));
    sl_error err = {0};
    const char *bad[] = {"x:zero"};
    assert_null(sl_kafka_mock_start(1, bad, 1, &err));
    assert_int_equal(err.code, SL_EINVAL);
    assert_null(sl_kafka_mock_start(0, NULL, 0, &err));
}

/* once mode: every message exactly once, filter counts, positions, lag. */
static void test_once_all(void **state) {
    (void)state;
    enum { N = 3000 };
    produce(boot, "t3", 3, 0, N);
    int *seen = calloc(N, sizeof *seen);
    ckpt ck = {0};
    consumer *c = consumer_open(boot, "t3", 3, "once", true, true, &ck, seen);
    int64_t t0 = sl_monotonic_us();
    while (!sl_kafka_done(c->s)) {
        consumer_poll(c, 500, 100);
        commit(c);
        assert_true(sl_monotonic_us() - t0 < 60 * SL_US_PER_SEC);
    }
    int want = 0;
    for (int i = 0; i < N; i++) {
        assert_int_equal(seen[i], accepted(i) ? 1 : 0);
        want += accepted(i);
    }
    assert_int_equal(c->got, want);
    assert_int_equal(sl_kafka_filtered(c->s), N - want);
    assert_int_equal(c->assigned, 3);
    assert_int_equal(ck.n, 3);
    for (int p = 0; p < 3; p++)
        assert_int_equal(ck_get(&ck, "t3", p), N / 3);
    assert_int_equal(sl_kafka_lag(c->s), 0);
    /* more messages after the end of a once run are not read by it */
    produce(boot, "t3", 3, N, N + 30);
    for (int k = 0; k < 5; k++)
        assert_int_equal(consumer_poll(c, 500, 50), 0);
    assert_true(sl_kafka_done(c->s));
    consumer_close(c);
    free(seen);
}

/* The descriptor the event loop waits on: readable once messages are
 * produced, and a loop that waits on it (polling again while a poll came
 * back full, as the fd signals new input, not input left behind) reads
 * every message. */
static void test_fd(void **state) {
    (void)state;
    enum { N = 500 };
    int *seen = calloc(N, sizeof *seen);
    ckpt ck = {0};
    consumer *c = consumer_open(boot, "g4", 4, "fd", false, false, &ck, seen);
    int fd = sl_kafka_fd(c->s);
    assert_true(fd >= 0);
    int64_t t0 = sl_monotonic_us();
    while (c->assigned < 4) { /* joining the group */
        consumer_poll(c, 100, 100);
        assert_true(sl_monotonic_us() - t0 < 60 * SL_US_PER_SEC);
    }
    produce(boot, "g4", 4, 0, N);
    while (c->got < N) {
        struct pollfd pf = {fd, POLLIN, 0};
        assert_int_equal(poll(&pf, 1, 10000), 1);
        while (consumer_poll(c, 64, 0) == 64)
            ;
        assert_true(sl_monotonic_us() - t0 < 60 * SL_US_PER_SEC);
    }
    for (int i = 0; i < N; i++)
        assert_int_equal(seen[i], 1);
    consumer_close(c);
    free(seen);
}

/* close after about half, reopen from the checkpoint: the rest and nothing else.
 * Then: no checkpoint + same group = Kafka's committed offsets (nothing left);
 * no checkpoint + new group = auto.offset.reset (everything). */
static void test_resume(void **state) {
    (void)state;
    enum { N = 3000 };
    produce(boot, "t3", 3, 0, N);
    int *seen = calloc(N, sizeof *seen);
    ckpt ck = {0};
    consumer *c = consumer_open(boot, "t3", 3, "resume", true, false, &ck, seen);
    int64_t t0 = sl_monotonic_us();
    while (c->got < N / 2) {
        consumer_poll(c, 97, 100);
        commit(c);
        assert_true(sl_monotonic_us() - t0 < 60 * SL_US_PER_SEC);
    }
    int first = c->got;
    assert_true(first < N);
    consumer_close(c);

    c = consumer_open(boot, "t3", 3, "resume", true, false, &ck, seen);
    t0 = sl_monotonic_us();
    while (!sl_kafka_done(c->s)) {
        consumer_poll(c, 500, 100);
        commit(c);
        assert_true(sl_monotonic_us() - t0 < 60 * SL_US_PER_SEC);
    }
    assert_int_equal(c->got, N - first);
    for (int i = 0; i < N; i++)
        assert_int_equal(seen[i], 1);
    consumer_close(c);

    /* same group, no checkpoint: Kafka's committed offsets (all at the end) */
    memset(seen, 0, N * sizeof *seen);
    c = consumer_open(boot, "t3", 3, "resume", true, false, NULL, seen);
    t0 = sl_monotonic_us();
    while (!sl_kafka_done(c->s)) {
        consumer_poll(c, 500, 100);
        assert_true(sl_monotonic_us() - t0 < 60 * SL_US_PER_SEC);
    }
    assert_int_equal(c->got, 0);
    consumer_close(c);

    /* new group, no checkpoint: from the earliest offset */
    c = consumer_open(boot, "t3", 3, "fresh", true, false, NULL, seen);
    t0 = sl_monotonic_us();
    while (!sl_kafka_done(c->s)) {
        consumer_poll(c, 500, 100);
        assert_true(sl_monotonic_us() - t0 < 60 * SL_US_PER_SEC);
    }
    assert_int_equal(c->got, N);
    consumer_close(c);
    free(seen);
}

static int seen_total(const int *seen, int n) {
    int t = 0;
    for (int i = 0; i < n; i++) {
        assert_true(seen[i] <= 1);
        t += seen[i];
    }
    return t;
}

/* Two members of one group on a 4-partition topic share one checkpoint (as
 * two engines writing the same positions table would). */
static void test_group_rebalance(void **state) {
    (void)state;
    enum { N = 4000, M = 400 };
    produce(boot, "g4", 4, 0, N);
    int *seen = calloc(N + M, sizeof *seen);
    ckpt ck = {0};
    consumer *a = consumer_open(boot, "g4", 4, "grp", false, false, &ck, seen);
    int64_t t0 = sl_monotonic_us();
    while (a->got < 400) { /* a alone: all four partitions */
        consumer_poll(a, 50, 100);
        commit(a);
        assert_true(sl_monotonic_us() - t0 < 60 * SL_US_PER_SEC);
    }
    assert_int_equal(a->assigned, 4);
    assert_int_equal(a->revokes, 0);

    consumer *b = consumer_open(boot, "g4", 4, "grp", false, false, &ck, seen);
    t0 = sl_monotonic_us();
    while (!(b->assigned == 2 && a->assigned == 2)) { /* both must keep polling to rejoin */
        consumer_poll(a, 20, 20);
        commit(a);
        consumer_poll(b, 20, 20);
        commit(b);
        assert_true(sl_monotonic_us() - t0 < 60 * SL_US_PER_SEC);
    }
    assert_true(a->revokes >= 1);
    assert_true(b->got < N);
    while (seen_total(seen, N) < N) { /* both read their halves */
        consumer_poll(a, 200, 20);
        commit(a);
        consumer_poll(b, 200, 20);
        commit(b);
        assert_true(sl_monotonic_us() - t0 < 60 * SL_US_PER_SEC);
    }
    assert_true(b->got > 0);
    int arev = a->revokes;
    consumer_close(b); /* b's revoke commits its positions */
    assert_true(b->revokes >= 1 || 1);
    t0 = sl_monotonic_us();
    int calls = a->assign_calls;
    while (a->assigned != 4) {
        consumer_poll(a, 200, 50);
        commit(a);
        assert_true(sl_monotonic_us() - t0 < 60 * SL_US_PER_SEC);
    }
    assert_true(a->revokes > arev);
    assert_int_equal(a->assign_calls - calls, 4);
    produce(boot, "g4", 4, N, N + M);
    while (seen_total(seen, N + M) < N + M) {
        consumer_poll(a, 200, 50);
        commit(a);
        assert_true(sl_monotonic_us() - t0 < 60 * SL_US_PER_SEC);
    }
    for (int i = 0; i < N + M; i++)
        assert_int_equal(seen[i], 1);
    for (int p = 0; p < 4; p++)
        assert_int_equal(ck_get(&ck, "g4", p), (N + M) / 4);
    consumer_close(a);
    free(seen);
}

/* The same hand-over with the cooperative (incremental) protocol: only
 * moved partitions are revoked; every message still exactly once. */
static void test_group_cooperative(void **state) {
    (void)state;
    enum { N = 4000, M = 400 };
    produce(boot, "g4", 4, 0, N);
    int *seen = calloc(N + M, sizeof *seen);
    ckpt ck = {0};
    cooperative = true;
    consumer *a = consumer_open(boot, "g4", 4, "coop", false, false, &ck, seen);
    int64_t t0 = sl_monotonic_us();
    while (a->got < 400) {
        consumer_poll(a, 50, 100);
        commit(a);
        assert_true(sl_monotonic_us() - t0 < 60 * SL_US_PER_SEC);
    }
    consumer *b = consumer_open(boot, "g4", 4, "coop", false, false, &ck, seen);
    cooperative = false;
    while (seen_total(seen, N) < N || b->assign_calls < 2) {
        consumer_poll(a, 100, 20);
        commit(a);
        consumer_poll(b, 100, 20);
        commit(b);
        assert_true(sl_monotonic_us() - t0 < 60 * SL_US_PER_SEC);
    }
    assert_int_equal(b->assign_calls, 2);
    assert_true(a->revokes >= 1);
    consumer_close(b);
    produce(boot, "g4", 4, N, N + M);
    while (seen_total(seen, N + M) < N + M) {
        consumer_poll(a, 200, 50);
        commit(a);
        assert_true(sl_monotonic_us() - t0 < 90 * SL_US_PER_SEC);
    }
    for (int i = 0; i < N + M; i++)
        assert_int_equal(seen[i], 1);
    for (int p = 0; p < 4; p++)
        assert_int_equal(ck_get(&ck, "g4", p), (N + M) / 4);
    consumer_close(a);
    free(seen);
}

/* The sink writes 1000 records; the source reads them back in order. */
static void test_sink_roundtrip(void **state) {
    (void)state;
    enum { N = 1000 };
    sl_error err = {0};
    const char *props[] = {"linger.ms=2"};
    sl_kafka_sink *k = sl_kafka_sink_open(boot, "out", props, 1, &err);
    if (!k) fail_msg("sink: %s", err.msg);
    for (int i = 0; i < N; i++) {
        char v[64], key[16];
        int vl = snprintf(v, sizeof v, "{\"i\":%d,\"x\":\"ok\"}", i);
        int kl = snprintf(key, sizeof key, "k%d", i % 10);
        assert_int_equal(sl_kafka_sink_send(k, key, (size_t)kl, v, (size_t)vl, &err), 0);
    }
    assert_int_equal(sl_kafka_sink_flush(k, 30000, &err), 0);
    assert_int_equal(sl_kafka_sink_acked(k), N);
    assert_int_equal(sl_kafka_sink_failed(k), 0);
    sl_kafka_sink_close(k);

    /* read back: one partition, so in order */
    int *seen = calloc(N, sizeof *seen);
    consumer *c = consumer_open(boot, "out", 1, "readback", true, false, NULL, seen);
    int64_t t0 = sl_monotonic_us();
    while (!sl_kafka_done(c->s)) {
        consumer_poll(c, 300, 100);
        assert_true(sl_monotonic_us() - t0 < 60 * SL_US_PER_SEC);
    }
    assert_int_equal(c->got, N);
    for (int i = 0; i < N; i++)
        assert_int_equal(seen[i], 1);
    consumer_close(c);

    /* the key filter: keys k3 and k7 only */
    const char *topics[] = {"out"};
    const char *keys[] = {"k3", "k7"};
    sl_kafka_config cfg = {.brokers = boot,
                           .group = "bykey",
                           .topics = topics,
                           .ntopics = 1,
                           .filter_keys = keys,
                           .nfilter_keys = 2,
                           .once = true};
    sl_kafka_source *s = sl_kafka_open(&cfg, NULL, NULL, NULL, &err);
    assert_non_null(s);
    int got = 0;
    t0 = sl_monotonic_us();
    while (!sl_kafka_done(s)) {
        const char *buf;
        const sl_kafka_msg *m;
        int n = sl_kafka_poll(s, 100, 100, &buf, &m, &err);
        assert_true(n >= 0);
        for (int j = 0; j < n; j++) {
            int i;
            assert_int_equal(sscanf(buf + m[j].off, "{\"i\":%d", &i), 1);
            assert_true(i % 10 == 3 || i % 10 == 7);
            assert_int_equal(m[j].pos, i);
        }
        got += n;
        assert_true(sl_monotonic_us() - t0 < 60 * SL_US_PER_SEC);
    }
    assert_int_equal(got, N / 5);
    assert_int_equal(sl_kafka_filtered(s), N - N / 5);
    sl_kafka_close(s);
    free(seen);
}

static void test_config_errors(void **state) {
    (void)state;
    sl_error err = {0};
    const char *topics[] = {"t3"};
    const char *p1[] = {"enable.auto.commit=true"};
    sl_kafka_config cfg = {
        .brokers = boot, .group = "x", .topics = topics, .ntopics = 1, .props = p1, .nprops = 1};
    assert_null(sl_kafka_open(&cfg, NULL, NULL, NULL, &err));
    assert_int_equal(err.code, SL_EINVAL);
    assert_non_null(strstr(err.msg, "enable.auto.commit"));
    const char *p2[] = {"no.such.setting=1"};
    cfg.props = p2;
    assert_null(sl_kafka_open(&cfg, NULL, NULL, NULL, &err));
    assert_non_null(strstr(err.msg, "no.such.setting"));
    const char *p3[] = {"novalue"};
    cfg.props = p3;
    assert_null(sl_kafka_open(&cfg, NULL, NULL, NULL, &err));
    /* a secret's value never appears in an error */
    const char *p4[] = {"ssl.key.password=hunter2", "security.protocol=bogus"};
    cfg.props = p4;
    cfg.nprops = 2;
    assert_null(sl_kafka_open(&cfg, NULL, NULL, NULL, &err));
    assert_null(strstr(err.msg, "hunter2"));
    cfg.ntopics = 0;
    assert_null(sl_kafka_open(&cfg, NULL, NULL, NULL, &err));
    const char *p5[] = {"enable.idempotence=false"};
    assert_null(sl_kafka_sink_open(boot, "out", p5, 1, &err));
    assert_non_null(strstr(err.msg, "idempotence"));
    assert_null(sl_kafka_sink_open(boot, "", NULL, 0, &err));
}

/* ---- switches ---------------------------------------------------------- */

static int run_external(const char *bootstrap) {
    const char *topic = getenv("SL_KAFKA_TOPIC") ? getenv("SL_KAFKA_TOPIC") : "t";
    long want_a = getenv("SL_KAFKA_EXPECT_A") ? atol(getenv("SL_KAFKA_EXPECT_A")) : -1;
    long want_total = getenv("SL_KAFKA_EXPECT_TOTAL") ? atol(getenv("SL_KAFKA_EXPECT_TOTAL")) : -1;
    const char *topics[] = {topic};
    const char *vals[] = {"a"};
    sl_kafka_config cfg = {.brokers = bootstrap,
                           .group = "external",
                           .topics = topics,
                           .ntopics = 1,
                           .filter_header = "tenant",
                           .filter_values = vals,
                           .nfilter = 1,
                           .once = true};
    sl_error err = {0};
    sl_kafka_source *s = sl_kafka_open(&cfg, NULL, NULL, NULL, &err);
    if (!s) {
        fprintf(stderr, "open: %s\n", err.msg);
        return 1;
    }
    long got = 0;
    int64_t t0 = sl_monotonic_us();
    while (!sl_kafka_done(s) && sl_monotonic_us() - t0 < 60 * SL_US_PER_SEC) {
        const char *buf;
        const sl_kafka_msg *m;
        int n = sl_kafka_poll(s, 1000, 100, &buf, &m, &err);
        if (n < 0) {
            fprintf(stderr, "poll: %s\n", err.msg);
            return 1;
        }
        got += n;
    }
    long filtered = (long)sl_kafka_filtered(s);
    bool done = sl_kafka_done(s);
    sl_kafka_close(s);
    printf("accepted=%ld filtered=%ld done=%d\n", got, filtered, done);
    if (!done || (want_a >= 0 && got != want_a) ||
        (want_total >= 0 && got + filtered != want_total))
        return 1;
    return 0;
}

static int run_bench(long n) {
    const char *topics[] = {"bench:32"};
    sl_error err = {0};
    sl_kafka_mock *m = sl_kafka_mock_start(1, topics, 1, &err);
    if (!m) return 1;
    const char *bs = sl_kafka_mock_bootstraps(m);
    char errstr[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "bootstrap.servers", bs, errstr, sizeof errstr);
    rd_kafka_conf_set(conf, "linger.ms", "50", errstr, sizeof errstr);
    rd_kafka_conf_set(conf, "batch.num.messages", "10000", errstr, sizeof errstr);
    rd_kafka_conf_set(conf, "queue.buffering.max.messages", "1000000", errstr, sizeof errstr);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
    int64_t t0 = sl_monotonic_us();
    long bytes = 0;
    for (long i = 0; i < n; i++) {
        char v[160];
        int vl = snprintf(
            v, sizeof v,
            "{\"tenant\":\"t%ld\",\"environment\":\"prod\",\"node\":\"n%ld\",\"check\":\"cpu\","
            "\"time\":1700000000%03ld,\"status\":\"OK\",\"alarm\":false}",
            i % 20, i % 1000, i % 1000);
        bytes += vl;
        while (rd_kafka_producev(
                   rk, RD_KAFKA_V_TOPIC("bench"), RD_KAFKA_V_PARTITION((int32_t)(i % 32)),
                   RD_KAFKA_V_VALUE(v, (size_t)vl), RD_KAFKA_V_HEADER("tenant", "t", 1),
                   RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                   RD_KAFKA_V_END) == RD_KAFKA_RESP_ERR__QUEUE_FULL)
            rd_kafka_poll(rk, 10);
    }
    rd_kafka_flush(rk, 120000);
    rd_kafka_destroy(rk);
    double prod_s = (double)(sl_monotonic_us() - t0) / 1e6;
    for (int r = 0; r < 2; r++) {
        int with_filter = getenv("SL_KAFKA_BENCH_FILTER_FIRST") ? !r : r;
        const char *tt[] = {"bench"};
        const char *vals[] = {"t"};
        char group[32];
        snprintf(group, sizeof group, "bench%d", with_filter);
        sl_kafka_config cfg = {
            .brokers = bs, .group = group, .topics = tt, .ntopics = 1, .once = true};
        if (with_filter) {
            cfg.filter_header = "tenant";
            cfg.filter_values = vals;
            cfg.nfilter = 1;
        }
        sl_kafka_source *s = sl_kafka_open(&cfg, NULL, NULL, NULL, &err);
        long got = 0;
        int64_t start = 0;
        while (!sl_kafka_done(s)) {
            const char *buf;
            const sl_kafka_msg *msgs;
            int k = sl_kafka_poll(s, 4096, 100, &buf, &msgs, &err);
            if (k < 0) return 1;
            if (k > 0 && !start) start = sl_monotonic_us();
            got += k;
        }
        double secs = (double)(sl_monotonic_us() - start) / 1e6;
        printf("kafka bench: %ld messages (%.1f MB) consumed in %.2f s = %.0f msg/s, %.0f MB/s%s "
               "(produce %.2f s)\n",
               got, bytes / 1e6, secs, got / secs, bytes / 1e6 / secs,
               with_filter ? " with header filter" : "", prod_s);
        sl_kafka_close(s);
    }
    sl_kafka_mock_stop(m);
    return 0;
}

int main(void) {
    sl_log_init();
    if (getenv("SL_KAFKA_EXTERNAL")) return run_external(getenv("SL_KAFKA_EXTERNAL"));
    if (getenv("SL_KAFKA_BENCH")) return run_bench(atol(getenv("SL_KAFKA_BENCH")));
    if (!getenv("SLUICE_LOG")) sl_log_set_level(SL_LOG_ERROR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_mock_bootstraps, setup, teardown),
        cmocka_unit_test_setup_teardown(test_config_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_once_all, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fd, setup, teardown),
        cmocka_unit_test_setup_teardown(test_resume, setup, teardown),
        cmocka_unit_test_setup_teardown(test_group_rebalance, setup, teardown),
        cmocka_unit_test_setup_teardown(test_group_cooperative, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sink_roundtrip, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
