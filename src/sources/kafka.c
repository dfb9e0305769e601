/*
 * kafka.c - the Kafka source on librdkafka's high-level consumer; see kafka.h.
 *
 * Each topic-partition ever assigned gets a small, stable id and a record of
 * four positions, all "next offset to read":
 *
 *   next      - after the last message taken from librdkafka (this poll too)
 *   delivered - after the last message handed to the caller (end of a poll)
 *   reported  - last value given to the engine by sl_kafka_each_dirty
 *   committed - last value committed to Kafka (after the engine's commit)
 *
 * with reported/committed trailing delivered, which trails next. Keeping next
 * and delivered apart is what makes a revocation in the middle of a poll safe:
 * the engine commits `delivered`, and the messages taken after it are dropped
 * from the batch under construction, so no message is both in the engine's
 * commit and lost, or counted twice.
 *
 * The hot path (one message) is: its share of one rd_kafka_consume_batch_queue,
 * a partition lookup through a cached topic and a per-topic array, the
 * optional header and key checks, one memcpy into the batch buffer, two
 * memchr sweeps to blank raw newlines and rd_kafka_message_destroy. Nothing is
 * allocated per message on our side. librdkafka's own part is most of it:
 * bench/kafka_floor.c measures it alone (the header lookup, which parses every
 * message's headers and allocates for each, costs about as much as the rest
 * of the consuming); bench/RESULTS.md has the figures.
 */
#include "sources/kafka.h"

#include <librdkafka/rdkafka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "core/log.h"
#include "core/mem.h"
#include "core/timeutil.h"

/* A batch stops growing past this many bytes (offsets are 32-bit). */
#define BATCH_BYTES_MAX (256u << 20)

typedef struct {
    char *name; /* "topic/partition" */
    int topic;  /* index into s->topics */
    int32_t partition;
    bool assigned, paused;
    int64_t next, delivered, reported, committed; /* -1: unknown */
    int64_t end;           /* once: high watermark at first assignment, -1 unknown */
    int64_t pend_filtered; /* filtered in the batch under construction */
} kpart;

typedef struct {
    char *name;
    int32_t *ids; /* partition -> part id, -1 none */
    int nids;
} ktopic;

struct sl_kafka_source {
    rd_kafka_t *rk;
    sl_kafka_position_fn pos_fn;
    sl_kafka_revoke_fn revoke_fn;
    void *ud;
    bool once, cooperative, assign_seen, fatal;

    ktopic *topics;
    int ntopics;
    const char *last_tname; /* librdkafka's string for topics[last_topic] */
    int last_topic;

    kpart *parts;
    const char **names;
    int nparts, capparts;

    char *fhdr;   /* filter header name or NULL */
    char **fvals; /* allow-listed values */
    size_t *fval_lens;
    int nfvals;
    char **fkeys;
    size_t *fkey_lens;
    int nfkeys;
    bool key_filter;
    bool fmissing_pass;

    char *buf;
    size_t blen, bcap;
    sl_kafka_msg *msgs;
    int n, mcap;
    rd_kafka_message_t *held; /* taken but did not fit in the last batch */
    /* messages fetched from librdkafka in one call (consume_batch_queue: one
     * queue lock per batch, not per message), not looked at yet */
    rd_kafka_queue_t *q;
    rd_kafka_message_t *ahead[512];
    int nahead, iahead;
    int evfd; /* written by librdkafka when the queue gets its first element */

    int64_t filtered;
    int last_err;
};

/* ---- configuration ---------------------------------------------------- */

/* Settings whose values must never reach a log line or an error message. */
static bool is_secret(const char *key) {
    static const char *const words[] = {"password", "secret", "jaas", ".pem", "token", "ssl.key"};
    for (size_t i = 0; i < sizeof words / sizeof *words; i++)
        if (strstr(key, words[i]) && !strstr(key, "location")) return true;
    return false;
}

static int conf_set(rd_kafka_conf_t *conf, const char *key, const char *val, sl_error *err) {
    char errstr[512];
    if (rd_kafka_conf_set(conf, key, val, errstr, sizeof errstr) == RD_KAFKA_CONF_OK) return 0;
    if (is_secret(key)) /* librdkafka may quote the value */
        return sl_error_set(err, SL_EINVAL, "kafka: invalid value for property '%s'", key);
    return sl_error_set(err, SL_EINVAL, "kafka: property '%s': %s", key, errstr);
}

/* Applies "key=value" props; refuses the ones that would break exactly-once. */
static int conf_props(rd_kafka_conf_t *conf, const char *const *props, int n, sl_error *err) {
    for (int i = 0; i < n; i++) {
        const char *eq = strchr(props[i], '=');
        char key[256];
        size_t kl = eq ? (size_t)(eq - props[i]) : 0;
        if (!eq || kl == 0 || kl >= sizeof key)
            return sl_error_set(err, SL_EINVAL, "kafka: property '%.*s' is not key=value",
                                (int)(kl ? kl : strcspn(props[i], "=")), props[i]);
        memcpy(key, props[i], kl);
        key[kl] = 0;
        if ((!strcmp(key, "enable.auto.commit") || !strcmp(key, "enable.auto.offset.store")) &&
            strcmp(eq + 1, "false") != 0)
            return sl_error_set(err, SL_EINVAL,
                                "kafka: '%s' must stay false: positions are committed with "
                                "Sluice's checkpoint",
                                key);
        int rc = conf_set(conf, key, eq + 1, err);
        if (rc < 0) return rc;
    }
    return 0;
}

static void log_props(const char *what, const char *const *props, int n) {
    char line[1024];
    int len = 0;
    line[0] = 0;
    for (int i = 0; i < n && len < (int)sizeof line - 64; i++) {
        const char *eq = strchr(props[i], '=');
        int kl = eq ? (int)(eq - props[i]) : (int)strlen(props[i]);
        char key[256];
        snprintf(key, sizeof key, "%.*s", kl, props[i]);
        const char *val = eq ? eq + 1 : "";
        char esc[256];
        sl_json_escape(esc, sizeof esc, is_secret(key) ? "***" : val,
                       is_secret(key) ? 3 : (int)strlen(val));
        len += snprintf(line + len, sizeof line - (size_t)len, "%s\"%s\":\"%s\"", i ? "," : "", key,
                        esc);
    }
    sl_log_debug(what, "\"properties\":{%s}", line);
}

static void log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf) {
    (void)rk;
    sl_log_level lvl = level <= 3   ? SL_LOG_ERROR
                       : level == 4 ? SL_LOG_WARN
                       : level <= 6 ? SL_LOG_INFO
                                    : SL_LOG_DEBUG;
    if (!strcmp(
            fac,
            "COMMITFAIL")) /* Kafka's offsets are for lag tools; the checkpoint holds the truth */
        lvl = SL_LOG_INFO;
    if (!sl_log_enabled(lvl)) return;
    char esc[1024];
    sl_json_escape(esc, sizeof esc, buf, (int)strlen(buf));
    sl_log(lvl, "kafka", "\"facility\":\"%s\",\"detail\":\"%s\"", fac, esc);
}

static void error_cb(rd_kafka_t *rk, int e, const char *reason, void *opaque) {
    sl_kafka_source *s = opaque;
    char esc[512];
    sl_json_escape(esc, sizeof esc, reason, (int)strlen(reason));
    if (e == RD_KAFKA_RESP_ERR__FATAL) {
        s->fatal = true;
        sl_log_error("kafka fatal error", "\"detail\":\"%s\"", esc);
        return;
    }
    (void)rk;
    /* transient (brokers down, auth retry): librdkafka keeps retrying */
    sl_log_warn("kafka error", "\"code\":\"%s\",\"detail\":\"%s\"", rd_kafka_err2name(e), esc);
}

/* ---- partitions ---------------------------------------------------------- */

/* cache: tname is librdkafka's own string for the topic (rd_kafka_topic_name),
 * usually the same pointer message after message; strcmp guards reuse. */
static int topic_index(sl_kafka_source *s, const char *tname, bool cache) {
    if (cache && tname == s->last_tname && !strcmp(tname, s->topics[s->last_topic].name))
        return s->last_topic;
    int t;
    for (t = 0; t < s->ntopics; t++)
        if (!strcmp(s->topics[t].name, tname)) break;
    if (t == s->ntopics) { /* a topic we did not subscribe to by name (regex) */
        s->topics = sl_xreallocarray(s->topics, (size_t)s->ntopics + 1, sizeof *s->topics);
        ktopic *nt = s->topics;
        memset(&nt[t], 0, sizeof nt[t]);
        nt[t].name = sl_xstrdup(tname);
        s->ntopics++;
    }
    if (cache) {
        s->last_tname = tname;
        s->last_topic = t;
    }
    return t;
}

/* Part id of (topic, partition), created on first sight; -1 if partition < 0. */
static int part_id(sl_kafka_source *s, const char *tname, int32_t partition, bool cache) {
    int t = topic_index(s, tname, cache);
    if (t < 0 || partition < 0) return -1;
    ktopic *tp = &s->topics[t];
    if (partition < tp->nids && tp->ids[partition] >= 0) return tp->ids[partition];
    if (partition >= tp->nids) {
        int nn = partition + 1 > 2 * tp->nids ? partition + 1 : 2 * tp->nids;
        int32_t *ids = sl_xreallocarray(tp->ids, (size_t)nn, sizeof *ids);
        for (int i = tp->nids; i < nn; i++)
            ids[i] = -1;
        tp->ids = ids;
        tp->nids = nn;
    }
    if (s->nparts == s->capparts) {
        int nc = s->capparts ? 2 * s->capparts : 16;
        s->parts = sl_xreallocarray(s->parts, (size_t)nc, sizeof *s->parts);
        s->names = sl_xreallocarray(s->names, (size_t)nc + 1, sizeof *s->names);
        s->capparts = nc;
    }
    char name[512];
    snprintf(name, sizeof name, "%s/%d", tname, (int)partition);
    kpart *p = &s->parts[s->nparts];
    memset(p, 0, sizeof *p);
    p->name = sl_xstrdup(name);
    p->topic = t;
    p->partition = partition;
    p->next = p->delivered = p->reported = p->committed = p->end = -1;
    s->names[s->nparts] = p->name;
    s->names[s->nparts + 1] = NULL;
    tp->ids[partition] = s->nparts;
    return s->nparts++;
}

static void pause_part(sl_kafka_source *s, kpart *p) {
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, s->topics[p->topic].name, p->partition);
    rd_kafka_pause_partitions(s->rk, l);
    rd_kafka_topic_partition_list_destroy(l);
    p->paused = true;
}

static bool part_done(const kpart *p) {
    return p->end >= 0 && p->delivered >= 0 && p->delivered >= p->end;
}

/* once mode: the end offset is fixed at the first assignment. */
static void fetch_end(sl_kafka_source *s, kpart *p) {
    int64_t lo, hi;
    rd_kafka_resp_err_t e = rd_kafka_query_watermark_offsets(s->rk, s->topics[p->topic].name,
                                                             p->partition, &lo, &hi, 5000);
    if (e) {
        sl_log_warn("kafka: end offset not known yet", "\"partition\":\"%s\",\"code\":\"%s\"",
                    p->name, rd_kafka_err2name(e));
        return;
    }
    p->end = hi;
}

/* ---- rebalancing ---------------------------------------------------------- */

static void on_assign(sl_kafka_source *s, rd_kafka_topic_partition_list_t *l) {
    for (int i = 0; i < l->cnt; i++) {
        rd_kafka_topic_partition_t *tp = &l->elems[i];
        int id = part_id(s, tp->topic, tp->partition, false);
        if (id < 0) {
            sl_log_error("kafka: out of memory on assignment", "%s", "");
            continue;
        }
        kpart *p = &s->parts[id];
        int64_t pos = s->pos_fn ? s->pos_fn(s->ud, tp->topic, tp->partition) : -1;
        tp->offset =
            pos >= 0 ? pos : RD_KAFKA_OFFSET_INVALID; /* INVALID: Kafka's committed, then reset */
        p->next = p->delivered = pos >= 0 ? pos : -1;
        p->reported = p->delivered; /* the checkpoint already holds it */
        p->pend_filtered = 0;
        p->assigned = true;
        p->paused = false;
        if (s->once && p->end < 0) fetch_end(s, p);
        sl_log_info("kafka partition assigned", "\"partition\":\"%s\",\"from\":%lld,\"end\":%lld",
                    p->name, (long long)pos, (long long)p->end);
    }
    rd_kafka_error_t *e = NULL;
    rd_kafka_resp_err_t re = 0;
    if (s->cooperative)
        e = rd_kafka_incremental_assign(s->rk, l);
    else
        re = rd_kafka_assign(s->rk, l);
    if (e || re) {
        sl_log_error("kafka assign failed", "\"detail\":\"%s\"",
                     e ? rd_kafka_error_string(e) : rd_kafka_err2str(re));
        if (e) rd_kafka_error_destroy(e);
    }
    s->assign_seen = true;
    for (int i = 0; i < l->cnt; i++) { /* nothing to read in once mode: hold it */
        int id = part_id(s, l->elems[i].topic, l->elems[i].partition, false);
        if (id >= 0 && s->once && part_done(&s->parts[id])) pause_part(s, &s->parts[id]);
    }
}

static void on_revoke(sl_kafka_source *s, rd_kafka_topic_partition_list_t *l) {
    /* 1. forget what was taken but not handed over (the next owner reads it) */
    for (int i = 0; i < l->cnt; i++) {
        int id = part_id(s, l->elems[i].topic, l->elems[i].partition, false);
        if (id < 0) continue;
        kpart *p = &s->parts[id];
        p->next = p->delivered;
        p->pend_filtered = 0;
        int k = 0;
        for (int j = 0; j < s->n; j++)
            if (s->msgs[j].part != id) s->msgs[k++] = s->msgs[j];
        s->n = k;
    }
    /* fetched ahead for a revoked partition: the next owner (or this one,
     * re-assigned from its checkpoint) fetches them again */
    for (int k = s->iahead; k < s->nahead; k++) {
        rd_kafka_message_t *m = s->ahead[k];
        if (!m || m->err || !m->rkt) continue;
        int id = part_id(s, rd_kafka_topic_name(m->rkt), m->partition, true);
        for (int i = 0; i < l->cnt; i++)
            if (id >= 0 && id == part_id(s, l->elems[i].topic, l->elems[i].partition, false)) {
                rd_kafka_message_destroy(m);
                s->ahead[k] = NULL;
                break;
            }
    }
    if (s->held) {
        int id = part_id(s, rd_kafka_topic_name(s->held->rkt), s->held->partition, true);
        for (int i = 0; i < l->cnt; i++)
            if (id >= 0 && id == part_id(s, l->elems[i].topic, l->elems[i].partition, false)) {
                rd_kafka_message_destroy(s->held);
                s->held = NULL;
                break;
            }
    }
    /* 2. the engine commits what it has (and hands over their state) */
    if (s->revoke_fn) {
        const char **names = sl_xcalloc((size_t)l->cnt + 1, sizeof *names);
        int nn = 0;
        for (int i = 0; i < l->cnt; i++) {
            int id = part_id(s, l->elems[i].topic, l->elems[i].partition, false);
            if (id >= 0) names[nn++] = s->parts[id].name;
        }
        s->revoke_fn(s->ud, names, nn);
        free(names);
    }
    /* 3. hand the committed positions to the next owner, synchronously */
    rd_kafka_topic_partition_list_t *c = rd_kafka_topic_partition_list_new(l->cnt);
    for (int i = 0; i < l->cnt; i++) {
        int id = part_id(s, l->elems[i].topic, l->elems[i].partition, false);
        if (id < 0) continue;
        kpart *p = &s->parts[id];
        if (p->committed >= 0)
            rd_kafka_topic_partition_list_add(c, l->elems[i].topic, l->elems[i].partition)->offset =
                p->committed;
        p->assigned = false;
        p->paused = false;
        sl_log_info("kafka partition revoked", "\"partition\":\"%s\",\"committed\":%lld", p->name,
                    (long long)p->committed);
    }
    /* lost (session expired): the group moved on and would refuse the commit */
    if (c->cnt > 0 && !rd_kafka_assignment_lost(s->rk)) {
        rd_kafka_resp_err_t e = rd_kafka_commit(s->rk, c, 0);
        if (e)
            sl_log_warn("kafka: offset commit on revoke failed", "\"code\":\"%s\"",
                        rd_kafka_err2name(e));
    }
    rd_kafka_topic_partition_list_destroy(c);
    if (s->cooperative) {
        rd_kafka_error_t *e = rd_kafka_incremental_unassign(s->rk, l);
        if (e) rd_kafka_error_destroy(e);
    } else {
        rd_kafka_assign(s->rk, NULL);
    }
}

static void rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t e, rd_kafka_topic_partition_list_t *l,
                         void *opaque) {
    sl_kafka_source *s = opaque;
    s->cooperative = !strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE");
    if (e == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        on_assign(s, l);
    } else if (e == RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS) {
        on_revoke(s, l);
    } else {
        sl_log_error("kafka rebalance error", "\"code\":\"%s\"", rd_kafka_err2name(e));
        on_revoke(s, l);
    }
}

/* ---- open / close ----------------------------------------------------------- */

static char *dupn(const char *p, size_t n) {
    char *d = malloc(n + 1);
    if (d) {
        memcpy(d, p, n);
        d[n] = 0;
    }
    return d;
}

static int copy_list(const char *const *in, int n, char ***out, size_t **lens) {
    *out = calloc((size_t)(n ? n : 1), sizeof **out);
    *lens = calloc((size_t)(n ? n : 1), sizeof **lens);
    if (!*out || !*lens) return SL_ENOMEM;
    for (int i = 0; i < n; i++) {
        (*lens)[i] = strlen(in[i]);
        if (!((*out)[i] = dupn(in[i], (*lens)[i]))) return SL_ENOMEM;
    }
    return 0;
}

sl_kafka_source *sl_kafka_open(const sl_kafka_config *c, sl_kafka_position_fn pos,
                               sl_kafka_revoke_fn revoke, void *ud, sl_error *err) {
    if (!c->brokers || !*c->brokers || c->ntopics < 1) {
        sl_error_set(err, SL_EINVAL, "kafka: brokers and at least one topic are required");
        return NULL;
    }
    sl_kafka_source *s = calloc(1, sizeof *s);
    if (!s) {
        sl_error_set(err, SL_ENOMEM, "kafka: out of memory");
        return NULL;
    }
    s->evfd = -1;
    s->pos_fn = pos;
    s->revoke_fn = revoke;
    s->ud = ud;
    s->once = c->once;
    s->last_topic = -1;
    int rc = 0;
    if (c->filter_header) {
        if (!(s->fhdr = strdup(c->filter_header)))
            rc = SL_ENOMEM;
        else
            rc = copy_list(c->filter_values, c->nfilter, &s->fvals, &s->fval_lens);
        s->nfvals = c->nfilter;
        s->fmissing_pass = c->filter_missing_pass;
    }
    if (!rc && c->filter_keys) {
        s->key_filter = true;
        rc = copy_list(c->filter_keys, c->nfilter_keys, &s->fkeys, &s->fkey_lens);
        s->nfkeys = c->nfilter_keys;
    }
    s->bcap = 1 << 20;
    s->mcap = 1024;
    s->buf = malloc(s->bcap + SL_KAFKA_PADDING);
    s->msgs = malloc((size_t)s->mcap * sizeof *s->msgs);
    if (rc || !s->buf || !s->msgs) {
        sl_error_set(err, SL_ENOMEM, "kafka: out of memory");
        sl_kafka_close(s);
        return NULL;
    }
    memset(s->buf, 0, SL_KAFKA_PADDING);
    for (int i = 0; i < c->ntopics; i++)
        if (topic_index(s, c->topics[i], false) < 0) {
            sl_error_set(err, SL_ENOMEM, "kafka: out of memory");
            sl_kafka_close(s);
            return NULL;
        }

    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rc = conf_set(conf, "bootstrap.servers", c->brokers, err);
    if (!rc) rc = conf_set(conf, "group.id", c->group && *c->group ? c->group : "sluice", err);
    if (!rc) rc = conf_set(conf, "client.id", "sluice", err);
    if (!rc) rc = conf_set(conf, "auto.offset.reset", "earliest", err);
    /* Prefetch: once a partition's fetch queue holds queued.min.messages
     * (default 100000; the group consumer forwards every partition's queue to
     * one, so it is the total) librdkafka skips the partition for a fixed 1 s
     * backoff (librdkafka issue #2879; fetch.queue.backoff.ms came later than
     * Debian 12's 2.0). A consumer catching up on a backlog drains the queue
     * in a fraction of that and then waits. bench/kafka.sh: 176k msgs/s with
     * the default, 530-540k with this, for about 90 MB more peak RSS
     * (queued.max.messages.kbytes still bounds the bytes). Users can set it
     * lower in `properties:`. */
    if (!rc) rc = conf_set(conf, "queued.min.messages", "1000000", err);
    if (!rc && c->instance_id && *c->instance_id)
        rc = conf_set(conf, "group.instance.id", c->instance_id, err);
    if (!rc) rc = conf_props(conf, c->props, c->nprops, err);
    /* after the user's props: these carry the design */
    if (!rc) rc = conf_set(conf, "enable.auto.commit", "false", err);
    if (!rc) rc = conf_set(conf, "enable.auto.offset.store", "false", err);
    if (!rc) rc = conf_set(conf, "enable.partition.eof", "true", err);
    if (rc < 0) {
        rd_kafka_conf_destroy(conf);
        sl_kafka_close(s);
        return NULL;
    }
    rd_kafka_conf_set_opaque(conf, s);
    rd_kafka_conf_set_log_cb(conf, log_cb);
    rd_kafka_conf_set_error_cb(conf, error_cb);
    rd_kafka_conf_set_rebalance_cb(conf, rebalance_cb);
    char errstr[512];
    s->rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof errstr);
    if (!s->rk) {
        rd_kafka_conf_destroy(conf);
        sl_error_set(err, SL_EINVAL, "kafka: %s", errstr);
        sl_kafka_close(s);
        return NULL;
    }
    rd_kafka_poll_set_consumer(s->rk);
    s->q = rd_kafka_queue_get_consumer(s->rk);
    s->evfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (s->evfd >= 0) {
        static const uint64_t one = 1; /* an eventfd takes 8-byte writes */
        rd_kafka_queue_io_event_enable(s->q, s->evfd, &one, sizeof one);
    }
    rd_kafka_topic_partition_list_t *sub = rd_kafka_topic_partition_list_new(c->ntopics);
    for (int i = 0; i < c->ntopics; i++)
        rd_kafka_topic_partition_list_add(sub, c->topics[i], RD_KAFKA_PARTITION_UA);
    rd_kafka_resp_err_t e = rd_kafka_subscribe(s->rk, sub);
    rd_kafka_topic_partition_list_destroy(sub);
    if (e) {
        sl_error_set(err, SL_EINVAL, "kafka: subscribe: %s", rd_kafka_err2str(e));
        sl_kafka_close(s);
        return NULL;
    }
    log_props("kafka source properties", c->props, c->nprops);
    char esc[512], iid[512];
    sl_json_escape(esc, sizeof esc, c->brokers, (int)strlen(c->brokers));
    char *ciid = NULL;
    size_t ciid_len = 0;
    rd_kafka_conf_res_t cr =
        rd_kafka_conf_get(rd_kafka_conf(s->rk), "group.instance.id", NULL, &ciid_len);
    if (cr == RD_KAFKA_CONF_OK && ciid_len > 1 && (ciid = malloc(ciid_len)) &&
        rd_kafka_conf_get(rd_kafka_conf(s->rk), "group.instance.id", ciid, &ciid_len) ==
            RD_KAFKA_CONF_OK)
        sl_json_escape(iid, sizeof iid, ciid, (int)strlen(ciid));
    else
        iid[0] = 0;
    free(ciid);
    sl_log_info("kafka source open",
                "\"brokers\":\"%s\",\"topics\":%d,\"once\":%s,\"group_instance_id\":\"%s\"", esc,
                c->ntopics, c->once ? "true" : "false", iid);
    return s;
}

void sl_kafka_close(sl_kafka_source *s) {
    if (!s) return;
    if (s->held) rd_kafka_message_destroy(s->held);
    s->held = NULL;
    for (; s->iahead < s->nahead; s->iahead++)
        if (s->ahead[s->iahead]) rd_kafka_message_destroy(s->ahead[s->iahead]);
    s->n = 0;
    if (s->rk) {
        rd_kafka_consumer_close(s->rk); /* runs the revoke path */
        if (s->q) {
            if (s->evfd >= 0) rd_kafka_queue_io_event_enable(s->q, -1, NULL, 0);
            rd_kafka_queue_destroy(s->q);
        }
        rd_kafka_destroy(s->rk);
    }
    if (s->evfd >= 0) close(s->evfd);
    for (int i = 0; i < s->ntopics; i++) {
        free(s->topics[i].name);
        free(s->topics[i].ids);
    }
    free(s->topics);
    for (int i = 0; i < s->nparts; i++)
        free(s->parts[i].name);
    free(s->parts);
    free(s->names);
    free(s->fhdr);
    for (int i = 0; s->fvals && i < s->nfvals; i++)
        free(s->fvals[i]);
    free(s->fvals);
    free(s->fval_lens);
    for (int i = 0; s->fkeys && i < s->nfkeys; i++)
        free(s->fkeys[i]);
    free(s->fkeys);
    free(s->fkey_lens);
    free(s->buf);
    free(s->msgs);
    free(s);
}

/* ---- polling ----------------------------------------------------------------- */

static bool in_list(char *const *vals, const size_t *lens, int n, const void *p, size_t len) {
    if (!p) return false;
    for (int i = 0; i < n; i++)
        if (lens[i] == len && !memcmp(vals[i], p, len)) return true;
    return false;
}

static bool filter_pass(const sl_kafka_source *s, rd_kafka_message_t *m) {
    if (s->key_filter && !in_list(s->fkeys, s->fkey_lens, s->nfkeys, m->key, m->key_len))
        return false;
    if (s->fhdr) {
        rd_kafka_headers_t *h;
        const void *v;
        size_t vl;
        if (rd_kafka_message_headers(m, &h) || rd_kafka_header_get_last(h, s->fhdr, &v, &vl))
            return s->fmissing_pass;
        return in_list(s->fvals, s->fval_lens, s->nfvals, v, vl);
    }
    return true;
}

static void grow_buf(sl_kafka_source *s, size_t need) {
    size_t nc = s->bcap;
    while (nc < need)
        nc *= 2;
    s->buf = sl_xrealloc(s->buf, nc + SL_KAFKA_PADDING);
    s->bcap = nc;
}

/* 1: taken (message or filtered), 0: dropped, 2: did not fit (hold it). */
static int take(sl_kafka_source *s, rd_kafka_message_t *m, int max) {
    int id = part_id(s, rd_kafka_topic_name(m->rkt), m->partition, true);
    if (id < 0) return 0;
    kpart *p = &s->parts[id];
    if (!p->assigned || (p->next >= 0 && m->offset < p->next))
        return 0; /* stale fetch of a revoked partition, or a duplicate */
    if (s->once && p->end >= 0 && m->offset >= p->end) {
        if (!p->paused) pause_part(s, p);
        return 0; /* beyond the end of this run: the next run reads it */
    }
    if (!filter_pass(s, m)) {
        p->next = m->offset + 1;
        p->pend_filtered++;
        return 1;
    }
    size_t len = m->payload ? m->len : 0;
    size_t need = s->blen + len + 1;
    if (s->n > 0 && need > BATCH_BYTES_MAX) return 2;
    if (need > s->bcap) grow_buf(s, need);
    if (s->n >= s->mcap) {
        int nc = s->mcap * 2 < max ? s->mcap * 2 : max;
        s->msgs = sl_xreallocarray(s->msgs, (size_t)nc, sizeof *s->msgs);
        s->mcap = nc;
    }
    char *dst = s->buf + s->blen;
    if (len) {
        memcpy(dst, m->payload, len);
        char *end = dst + len, *q;
        for (q = dst; (q = memchr(q, '\n', (size_t)(end - q)));)
            *q++ = ' ';
        for (q = dst; (q = memchr(q, '\r', (size_t)(end - q)));)
            *q++ = ' ';
    }
    dst[len] = '\n';
    s->msgs[s->n++] = (sl_kafka_msg){(uint32_t)s->blen, (uint32_t)len, id, m->offset};
    s->blen = need;
    p->next = m->offset + 1;
    return 1;
}

static void on_eof(sl_kafka_source *s, rd_kafka_message_t *m) {
    int id = part_id(s, rd_kafka_topic_name(m->rkt), m->partition, true);
    if (id < 0) return;
    kpart *p = &s->parts[id];
    if (p->assigned && m->offset >= 0 && p->next < 0)
        p->next = m->offset; /* learns the start position when the reset policy chose it */
}

int sl_kafka_poll(sl_kafka_source *s, int max, int timeout_ms, const char **buf,
                  const sl_kafka_msg **msgs, sl_error *err) {
    s->n = 0;
    s->blen = 0;
    *buf = s->buf;
    *msgs = s->msgs;
    if (max < 1) max = 1;
    if (s->evfd >= 0) { /* drained first: what is enqueued after this signals again */
        uint64_t v;
        if (read(s->evfd, &v, sizeof v) < 0) { /* EAGAIN: nothing was signalled */
        }
    }
    if (s->mcap > max * 2 + 1024) { /* keep mcap within reach of max */
        sl_kafka_msg *nm = realloc(s->msgs, (size_t)max * sizeof *nm);
        if (nm) {
            s->msgs = nm;
            s->mcap = max;
        }
    }
    int64_t deadline = sl_monotonic_us() + (int64_t)timeout_ms * 1000;
    while (s->n < max) {
        if (s->fatal) {
            char reason[512];
            rd_kafka_fatal_error(s->rk, reason, sizeof reason);
            return sl_error_set(err, SL_EIO, "kafka: fatal consumer error: %s", reason);
        }
        rd_kafka_message_t *m = s->held;
        s->held = NULL;
        if (!m) {
            int wait = 0;
            if (s->n == 0) {
                int64_t left = deadline - sl_monotonic_us();
                wait = left > 0 ? (int)((left + 999) / 1000) : 0;
            }
            while (s->iahead < s->nahead && !(m = s->ahead[s->iahead++]))
                ; /* NULL: dropped on revocation */
            if (!m) {
                /* serves callbacks (rebalance) too; may return 0 messages on an event */
                ssize_t got = rd_kafka_consume_batch_queue(
                    s->q, wait, s->ahead, (size_t)(sizeof s->ahead / sizeof *s->ahead));
                s->iahead = 0;
                s->nahead = got > 0 ? (int)got : 0;
                if (s->nahead > 0) continue;
                if (wait > 0 && sl_monotonic_us() < deadline)
                    continue; /* woke up for an event (rebalance): keep waiting */
                break;
            }
        }
        if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            on_eof(s, m);
        } else if (m->err) {
            if ((int)m->err != s->last_err) { /* once per kind, not per fetch */
                const char *why = rd_kafka_message_errstr(m);
                char esc[512];
                sl_json_escape(esc, sizeof esc, why, (int)strlen(why));
                sl_log_error(
                    "kafka consume error", "\"code\":\"%s\",\"topic\":\"%s\",\"detail\":\"%s\"",
                    rd_kafka_err2name(m->err), m->rkt ? rd_kafka_topic_name(m->rkt) : "", esc);
                s->last_err = (int)m->err;
            }
        } else if (take(s, m, max) == 2) {
            s->held = m;
            break;
        }
        rd_kafka_message_destroy(m);
    }
    /* hand over: positions now cover everything in the batch */
    for (int i = 0; i < s->nparts; i++) {
        kpart *p = &s->parts[i];
        if (!p->assigned) continue;
        p->delivered = p->next;
        s->filtered += p->pend_filtered;
        p->pend_filtered = 0;
        if (s->once) {
            if (p->end < 0) fetch_end(s, p);
            if (!p->paused && part_done(p)) pause_part(s, p);
        }
    }
    s->buf[s->blen] = 0;
    *buf = s->buf;
    *msgs = s->msgs;
    return s->n;
}

/* ---- positions ------------------------------------------------------------- */

int sl_kafka_fd(const sl_kafka_source *s) { return s->evfd; }

const char *const *sl_kafka_partition_names(const sl_kafka_source *s) {
    static const char *const none[] = {NULL};
    return s->names ? s->names : none;
}

int sl_kafka_partition_count(const sl_kafka_source *s) { return s->nparts; }

void sl_kafka_each_dirty(sl_kafka_source *s, sl_kafka_each_fn fn, void *ud) {
    for (int i = 0; i < s->nparts; i++) {
        kpart *p = &s->parts[i];
        if (p->delivered >= 0 && p->delivered != p->reported) {
            p->reported = p->delivered;
            fn(ud, p->name, p->reported);
        }
    }
}

void sl_kafka_committed(sl_kafka_source *s) {
    rd_kafka_topic_partition_list_t *l = NULL;
    for (int i = 0; i < s->nparts; i++) {
        kpart *p = &s->parts[i];
        if (p->reported < 0 || p->reported == p->committed) continue;
        p->committed = p->reported;
        if (!p->assigned) continue;
        if (!l) l = rd_kafka_topic_partition_list_new(8);
        rd_kafka_topic_partition_list_add(l, s->topics[p->topic].name, p->partition)->offset =
            p->committed;
    }
    if (l) {
        rd_kafka_resp_err_t e = rd_kafka_commit(s->rk, l, 1);
        if (e) sl_log_warn("kafka: offset commit failed", "\"code\":\"%s\"", rd_kafka_err2name(e));
        rd_kafka_topic_partition_list_destroy(l);
    }
}

int64_t sl_kafka_filtered(const sl_kafka_source *s) { return s->filtered; }

int64_t sl_kafka_lag(const sl_kafka_source *s) {
    int64_t lag = 0;
    for (int i = 0; i < s->nparts; i++) {
        const kpart *p = &s->parts[i];
        int64_t lo, hi;
        if (!p->assigned ||
            rd_kafka_get_watermark_offsets(s->rk, s->topics[p->topic].name, p->partition, &lo,
                                           &hi) ||
            hi < 0)
            continue;
        int64_t at = p->delivered >= 0 ? p->delivered : lo;
        if (at >= 0 && hi > at) lag += hi - at;
    }
    return lag;
}

bool sl_kafka_done(const sl_kafka_source *s) {
    if (!s->once || !s->assign_seen) return false;
    for (int i = 0; i < s->nparts; i++)
        if (s->parts[i].assigned && !part_done(&s->parts[i])) return false;
    return true;
}
