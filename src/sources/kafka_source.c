/*
 * kafka_source.c - the `kafka` source kind (source.h) over a consumer-group
 * member (kafka.h). Positions are the next offset of each "topic/partition";
 * where an assigned partition resumes is the engine's answer (its checkpoint,
 * or with --instance the furthest any instance's checkpoint got).
 */
#include <librdkafka/rdkafka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/mem.h"
#include "sources/kafka.h"
#include "sources/source.h"

typedef struct {
    const char *header;
    const sl_node *values;
    int missing; /* the words of `missing`: drop, pass */
    const sl_node *keys;
} filter_conf;

static const sl_opt filter_opts[] = {
    {"header", SL_OPT_STRING, false, NULL, NULL, "header whose value must be in `values`",
     SL_OPT_BIND(filter_conf, header)},
    {"values", SL_OPT_LIST, false, NULL, NULL,
     "allowed values of the header (a list, or one string of comma-separated values)",
     SL_OPT_BIND(filter_conf, values)},
    {"missing", SL_OPT_ENUM, false, "drop|pass", "drop",
     "a message without the header: filtered out, or passed on (to be filtered on its payload)",
     SL_OPT_BIND(filter_conf, missing)},
    {"keys", SL_OPT_LIST, false, NULL, NULL, "allowed message keys",
     SL_OPT_BIND(filter_conf, keys)},
    {0},
};

typedef struct {
    const char *brokers;
    const sl_node *topics;
    const char *group;
    const sl_node *properties;
    const sl_node *filter;
    bool partitioned_state;
    const sl_node *partitioned_state_at;
    bool static_membership;
} kafka_conf;

#define B(field) SL_OPT_BIND(kafka_conf, field)
static const sl_opt kafka_opts[] = {
    {"brokers", SL_OPT_STRING, true, NULL, NULL, "bootstrap servers host:port,...", B(brokers)},
    {"topics", SL_OPT_LIST, true, NULL, NULL, "topic name(s): a list, or one string \"a,b\"",
     B(topics)},
    {"group", SL_OPT_STRING, false, NULL, "sluice",
     "consumer group (processes in one group share the partitions)", B(group)},
    {"properties", SL_OPT_MAP, false, NULL, NULL,
     "any librdkafka setting, e.g. security.protocol: SSL (secrets are never logged)",
     B(properties)},
    {"filter", SL_OPT_MAP, false, NULL, NULL,
     "allow-lists on a header and on the key, checked before parsing", B(filter),
     SL_OPT_SUB(filter_opts)},
    {"partitioned_state", SL_OPT_BOOL, false, NULL, "false",
     "keyed state (dedupe, windows, anomaly, health, scd2) kept per partition, column _part, so "
     "it moves with a partition between --instance processes",
     B(partitioned_state), SL_OPT_AT(kafka_conf, partitioned_state_at)},
    {"static_membership", SL_OPT_BOOL, false, NULL, "true",
     "join as a static member, group.instance.id PIPELINE.SOURCE[.INSTANCE]: a restarted "
     "process gets its partitions back at once (after a crash too); a stopped one keeps them "
     "until the session timeout (docs/operations.md)",
     B(static_membership)},
    {0},
};
#undef B

typedef struct {
    char **v;
    int n;
} strs;

typedef struct {
    char *brokers, *group, *filter_header;
    strs topics, props, filter_values, filter_keys;
    bool filter_missing_pass;
    bool static_membership;
    sl_source_env env;
    sl_kafka_source *kafka;
    int wait_ms; /* how long the next poll may wait for a first message */
    bool exhausted;
} kafka_src;

static void strs_free(strs *s) {
    sl_kv_list_free(s->v, s->n);
    s->v = NULL;
    s->n = 0;
}

/* Checked as a LIST by the table, so this cannot fail. */
static void list_of(const sl_node *n, strs *out) {
    sl_error e = {0};
    sl_node_str_list(n, "list", &out->v, &out->n, &e);
}

/* `properties:` -> "key=value" strings, as sl_kafka_open takes them. */
static int props_of(const sl_node *n, strs *out, sl_error *err) {
    return sl_node_kv_list(n, "kafka property", &out->v, &out->n, err);
}

static void kafka_destroy(void *self);

static int kafka_create(const sl_node *n, const sl_source_env *env, void **self,
                        sl_source_info *info, sl_error *err) {
    char what[128];
    snprintf(what, sizeof what, "source '%s'", env->name);
    kafka_conf c;
    if (sl_spec_bind(n, kafka_opts, what, &c, err)) return SL_EINVAL;
    filter_conf f = {0};
    if (c.filter) {
        char fwhat[160];
        snprintf(fwhat, sizeof fwhat, "%s filter", what);
        if (sl_spec_bind(c.filter, filter_opts, fwhat, &f, err)) return SL_EINVAL;
        if (!!f.header != !!f.values)
            return sl_node_error(err, c.filter, "filter: 'header' and 'values' go together");
    }
    kafka_src *k = sl_xcalloc(1, sizeof *k);
    k->brokers = sl_xstrdup(c.brokers);
    k->group = sl_xstrdup(c.group);
    list_of(c.topics, &k->topics);
    if (props_of(c.properties, &k->props, err)) {
        kafka_destroy(k);
        return SL_EINVAL;
    }
    if (f.header) {
        k->filter_header = sl_xstrdup(f.header);
        k->filter_missing_pass = f.missing == 1;
        list_of(f.values, &k->filter_values);
    }
    if (f.keys) list_of(f.keys, &k->filter_keys);
    if (c.partitioned_state) info->part_column = c.partitioned_state_at;
    k->static_membership = c.static_membership;
    *self = k;
    return 0;
}

static void kafka_close_(void *self) {
    kafka_src *k = self;
    if (k->kafka) sl_kafka_close(k->kafka); /* may call env.revoking */
    k->kafka = NULL;
}

static void kafka_destroy(void *self) {
    kafka_src *k = self;
    kafka_close_(k);
    free(k->brokers);
    free(k->group);
    free(k->filter_header);
    strs_free(&k->topics);
    strs_free(&k->props);
    strs_free(&k->filter_values);
    strs_free(&k->filter_keys);
    free(k);
}

static int64_t on_assign(void *ud, const char *topic, int32_t partition) {
    kafka_src *k = ud;
    char name[512];
    snprintf(name, sizeof name, "%s/%d", topic, (int)partition);
    return k->env.assigned ? k->env.assigned(k->env.ud, name) : -1;
}

static void on_revoke(void *ud, const char *const *partitions, int n) {
    kafka_src *k = ud;
    if (k->env.revoking) k->env.revoking(k->env.ud, partitions, n);
}

/* group.instance.id: PIPELINE.SOURCE, with --instance PIPELINE.SOURCE.INSTANCE;
 * unique in the group for one pipeline, stable across restarts. Kafka takes
 * [A-Za-z0-9._-], at most 249 characters: anything else becomes '_'. */
static void instance_id(const sl_source_env *env, char *out, size_t cap) {
    snprintf(out, cap < 250 ? cap : 250, "%s.%s%s%s", env->pipeline ? env->pipeline : "sluice",
             env->name ? env->name : "kafka", env->instance ? "." : "",
             env->instance ? env->instance : "");
    for (char *q = out; *q; q++)
        if (!((*q >= 'a' && *q <= 'z') || (*q >= 'A' && *q <= 'Z') || (*q >= '0' && *q <= '9') ||
              *q == '.' || *q == '_' || *q == '-'))
            *q = '_';
}

static int kafka_open_(void *self, const sl_source_env *env, sl_error *err) {
    kafka_src *k = self;
    char iid[256];
    instance_id(env, iid, sizeof iid);
    k->env = *env;
    k->exhausted = false;
    k->wait_ms = 0;
    sl_kafka_config c = {
        .brokers = k->brokers,
        .group = k->group,
        .topics = (const char *const *)k->topics.v,
        .ntopics = k->topics.n,
        .props = (const char *const *)k->props.v,
        .nprops = k->props.n,
        .filter_header = k->filter_header,
        .filter_values = (const char *const *)k->filter_values.v,
        .nfilter = k->filter_values.n,
        .filter_missing_pass = k->filter_missing_pass,
        .filter_keys = (const char *const *)k->filter_keys.v,
        .nfilter_keys = k->filter_keys.n,
        .once = env->once,
        .instance_id = k->static_membership ? iid : NULL,
    };
    k->kafka = sl_kafka_open(&c, on_assign, on_revoke, k, err);
    return k->kafka ? 0 : err->code;
}

static int kafka_read(void *self, bool final, sl_error *err) {
    kafka_src *k = self;
    const char *buf;
    const sl_kafka_msg *msgs;
    int64_t filtered_before = sl_kafka_filtered(k->kafka);
    int n = sl_kafka_poll(k->kafka, (int)k->env.batch_size, k->wait_ms, &buf, &msgs, err);
    if (n < 0) return n;
    if (n == 0) {
        int got = sl_kafka_filtered(k->kafka) > filtered_before ? 1 : 0;
        if (!got && final && sl_kafka_done(k->kafka)) k->exhausted = true;
        return got;
    }
    k->env.parse_msgs(k->env.ud, buf, msgs, n);
    return 1;
}

static const char *const *kafka_part_names(void *self) {
    kafka_src *k = self;
    return k->kafka ? sl_kafka_partition_names(k->kafka) : NULL;
}

static void kafka_each_position(void *self, sl_source_pos_fn fn, void *ud) {
    kafka_src *k = self;
    if (k->kafka) sl_kafka_each_dirty(k->kafka, fn, ud);
}

static void kafka_committed(void *self) {
    kafka_src *k = self;
    if (k->kafka) sl_kafka_committed(k->kafka);
}

static bool kafka_done(void *self) { return ((kafka_src *)self)->exhausted; }

static int kafka_fd(void *self) {
    kafka_src *k = self;
    return k->kafka ? sl_kafka_fd(k->kafka) : -1;
}

static void kafka_wait(void *self, int ms) { ((kafka_src *)self)->wait_ms = ms; }

static void kafka_stats(void *self, sl_source_stats *out) {
    kafka_src *k = self;
    out->consumer_lag = k->kafka ? sl_kafka_lag(k->kafka) : 0;
    out->filtered = k->kafka ? sl_kafka_filtered(k->kafka) : 0;
}

static void kafka_describe(void *self, char *out, size_t cap) {
    kafka_src *k = self;
    size_t n = (size_t)snprintf(out, cap, "kafka group %s, topics", k->group);
    for (int i = 0; i < k->topics.n && n < cap; i++)
        n += (size_t)snprintf(out + n, cap - n, "%s%s", i ? "," : " ", k->topics.v[i]);
}

/* `sluice check`: the brokers answer a metadata request and know every topic. */
static int kafka_check(void *self, char *detail, size_t cap) {
    kafka_src *k = self;
    char errstr[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "log_level", "0", NULL, 0); /* the answer is the detail line */
    for (int i = 0; i < k->props.n; i++) {
        char kv[1024];
        snprintf(kv, sizeof kv, "%s", k->props.v[i]);
        char *eq = strchr(kv, '=');
        if (!eq) continue;
        *eq = 0;
        if (rd_kafka_conf_set(conf, kv, eq + 1, errstr, sizeof errstr) != RD_KAFKA_CONF_OK) {
            snprintf(detail, cap, "property %s: %s", kv, errstr);
            rd_kafka_conf_destroy(conf);
            return 1;
        }
    }
    if (rd_kafka_conf_set(conf, "bootstrap.servers", k->brokers, errstr, sizeof errstr) !=
        RD_KAFKA_CONF_OK) {
        snprintf(detail, cap, "brokers %s: %s", k->brokers, errstr);
        rd_kafka_conf_destroy(conf);
        return 1;
    }
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
    if (!rk) {
        snprintf(detail, cap, "%s", errstr);
        rd_kafka_conf_destroy(conf);
        return 1;
    }
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_resp_err_t e = rd_kafka_metadata(rk, 1, NULL, &md, 5000);
    int bad = 0;
    if (e) {
        snprintf(detail, cap, "brokers %s do not answer: %s", k->brokers, rd_kafka_err2str(e));
        bad = 1;
    } else {
        size_t n =
            (size_t)snprintf(detail, cap, "brokers %s answer (%d)", k->brokers, md->broker_cnt);
        for (int i = 0; i < k->topics.n && n < cap; i++) {
            int parts = -1;
            for (int t = 0; t < md->topic_cnt; t++)
                if (!strcmp(md->topics[t].topic, k->topics.v[i]) && !md->topics[t].err)
                    parts = md->topics[t].partition_cnt;
            if (parts < 0) bad = 1;
            n += (size_t)snprintf(detail + n, cap - n, "; topic %s: %s", k->topics.v[i],
                                  parts < 0 ? "missing" : "");
            if (parts >= 0 && n < cap)
                n += (size_t)snprintf(detail + n, cap - n, "%d partitions", parts);
        }
        rd_kafka_metadata_destroy(md);
    }
    rd_kafka_destroy(rk);
    return bad;
}

const sl_source_def sl_source_kafka = {
    .name = "kafka",
    .opts = kafka_opts,
    .help = "topics of a Kafka cluster, as a member of a consumer group",
    .format = "json",
    .create = kafka_create,
    .destroy = kafka_destroy,
    .open = kafka_open_,
    .close = kafka_close_,
    .read = kafka_read,
    .part_names = kafka_part_names,
    .each_position = kafka_each_position,
    .committed = kafka_committed,
    .done = kafka_done,
    .fd = kafka_fd,
    .wait = kafka_wait,
    .stats = kafka_stats,
    .describe = kafka_describe,
    .check = kafka_check,
};
