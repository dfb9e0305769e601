/*
 * mqtt_source.c - the `mqtt` source kind (source.h): subscribes to topics of
 * an MQTT broker with libmosquitto, in a persistent session (clean session
 * off, a client id stable across restarts) so the broker queues messages
 * while the pipeline is down.
 *
 * Acknowledgements wait for the commit. libmosquitto (2.0, lib/handle_publish.c)
 * queues the PUBACK of a QoS 1 message (the PUBREC of a QoS 2 one) before it
 * calls on_message, and offers no manual acknowledgement. But a client that
 * runs its own loop and declares itself threaded (mosquitto_threaded_set)
 * only ever writes queued packets when it calls mosquitto_loop_write
 * (lib/packet_mosq.c, packet__queue). So this source reads with
 * mosquitto_loop_read in the engine's thread and writes only at safe points:
 * when every message received so far is in a durable commit. The outgoing
 * queue is FIFO, so a write never sends the acknowledgement of a message
 * that is not committed. A SIGKILL then loses no QoS 1 message: the broker
 * redelivers every unacknowledged one to the session (a repeat, which dedupe
 * on a message key removes). QoS 2 cannot be held this way: the message is
 * handed over only after PUBREL, which the broker sends only after our
 * PUBREC; a crash between that PUBREC (written at a safe point) and the
 * commit of the message loses it, since the new process has no record of
 * the message and answers the repeated PUBREL with PUBCOMP
 * (lib/handle_pubrel.c). QoS 0 is at most once. docs/architecture.md states
 * the guarantees.
 *
 * The broker is the one partition; a message's position is its number in
 * the count of messages taken since the pipeline first ran.
 */
#include <errno.h>
#include <mosquitto.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/log.h"
#include "core/mem.h"
#include "core/timeutil.h"
#include "formats/json.h"
#include "sources/source.h"

typedef struct {
    const char *broker;
    const sl_node *topics;
    int64_t qos;
    const char *client_id;
    bool clean_session;
    const char *username, *password;
    char tls_ca[SL_PATH_MAX], tls_cert[SL_PATH_MAX], tls_key[SL_PATH_MAX]; /* "": none */
    bool tls_insecure;
    const char *topic_column, *topic_columns;
    const sl_node *topic_columns_at;
    int64_t keepalive;
} mqtt_conf;

#define B(field) SL_OPT_BIND(mqtt_conf, field)
static const sl_opt mqtt_opts[] = {
    {"broker", SL_OPT_STRING, true, NULL, NULL, "host:port of the broker (port 1883 if omitted)",
     B(broker)},
    {"topics", SL_OPT_LIST, true, NULL, NULL,
     "topic filters with + (one level) and # (the rest) wildcards: a list, or one string "
     "\"a/#,b/+\"",
     B(topics)},
    {"qos", SL_OPT_INT, false, NULL, "1",
     "subscription QoS: 0 at most once; 1 at least once across crashes (acknowledged after the "
     "commit); 2 see docs/architecture.md",
     B(qos), SL_OPT_RANGE(0, 2)},
    {"client_id", SL_OPT_STRING, false, NULL, NULL,
     "MQTT client id, the session's name at the broker; default PIPELINE.SOURCE[.INSTANCE]",
     B(client_id)},
    {"clean_session", SL_OPT_BOOL, false, NULL, "false",
     "true: the broker forgets the session (and what it queued) at each connect", B(clean_session)},
    {"username", SL_OPT_STRING, false, NULL, NULL, "user name (e.g. ${MQTT_USER}); never logged",
     B(username)},
    {"password", SL_OPT_STRING, false, NULL, NULL, "password (e.g. ${MQTT_PASSWORD}); never logged",
     B(password)},
    {"tls_ca", SL_OPT_PATH, false, NULL, NULL,
     "CA certificate file (PEM): connect with TLS, verifying the broker", B(tls_ca)},
    {"tls_cert", SL_OPT_PATH, false, NULL, NULL, "client certificate file (PEM), with tls_key",
     B(tls_cert)},
    {"tls_key", SL_OPT_PATH, false, NULL, NULL, "client private key file (PEM), with tls_cert",
     B(tls_key)},
    {"tls_insecure", SL_OPT_BOOL, false, NULL, "false",
     "do not check the broker certificate's host name (testing only)", B(tls_insecure)},
    {"topic_column", SL_OPT_STRING, false, NULL, NULL,
     "the message's topic becomes this field of the record (payloads that are JSON objects)",
     B(topic_column)},
    {"topic_columns", SL_OPT_STRING, false, NULL, NULL,
     "topic levels as fields by a pattern, e.g. cameras/{location}/{camera} (payloads that are "
     "JSON objects); a topic of another shape gets none",
     B(topic_columns), SL_OPT_AT(mqtt_conf, topic_columns_at)},
    {"keepalive", SL_OPT_DURATION, false, NULL, "60s", "MQTT keepalive interval", B(keepalive),
     SL_OPT_RANGE(5000000, 65535000000.0)},
    {0},
};
#undef B

#define MAX_LEVELS 16

typedef struct {
    char *host;
    int port;
    char **topics;
    int ntopics;
    int qos;
    char *client_id; /* NULL: from the pipeline */
    bool clean_session;
    char *username, *password, *tls_ca, *tls_cert, *tls_key;
    bool tls_insecure;
    char *topic_column;
    /* topic_columns: per level, a literal or a {name} (is_var) */
    char *levels[MAX_LEVELS];
    bool is_var[MAX_LEVELS];
    int nlevels;
    int keepalive_s;
    size_t fields_len;

    sl_source_env env;
    char part_name[300];
    const char *part_names[2];
    struct mosquitto *m;
    bool connected;
    int64_t retry_at_us, backoff_us;
    /* messages received and not yet handed to the engine */
    char *buf;
    size_t len, cap;
    sl_poll_msg *msgs;
    int nmsgs, msgs_cap;
    int nhanded;      /* the first messages, handed over by the last read */
    int64_t next_pos; /* position of the next message received */
    int64_t handed;   /* position after the last message handed to the engine */
    int64_t reported; /* `handed` as of the last each_position */
    int64_t durable;  /* every message before it is in a durable commit */
    int64_t idle_since;
    bool exhausted;
} mqtt_src;

static pthread_once_t lib_once = PTHREAD_ONCE_INIT;
static void lib_init(void) { mosquitto_lib_init(); }

static char *dup_or_null(const char *s) { return s && *s ? sl_xstrdup(s) : NULL; }

static void mqtt_destroy(void *self);

static int mqtt_create(const sl_node *n, const sl_source_env *env, void **self,
                       sl_source_info *info, sl_error *err) {
    (void)info;
    char what[128];
    snprintf(what, sizeof what, "source '%s'", env->name);
    mqtt_conf c;
    if (sl_spec_bind(n, mqtt_opts, what, &c, err)) return SL_EINVAL;
    if (!c.tls_cert[0] != !c.tls_key[0])
        return sl_node_error(err, n, "%s: tls_cert and tls_key go together", what);
    mqtt_src *s = sl_xcalloc(1, sizeof *s);
    const char *colon = strrchr(c.broker, ':');
    s->host = colon ? sl_xstrndup(c.broker, (size_t)(colon - c.broker)) : sl_xstrdup(c.broker);
    s->port = colon ? atoi(colon + 1) : 1883;
    if (s->port <= 0 || s->port > 65535 || !*s->host) {
        mqtt_destroy(s);
        return sl_node_error(err, sl_node_get(n, "broker"), "%s: broker: want host:port", what);
    }
    sl_error e = {0};
    sl_node_str_list(c.topics, "topics", &s->topics, &s->ntopics, &e);
    s->qos = (int)c.qos;
    s->client_id = dup_or_null(c.client_id);
    s->clean_session = c.clean_session;
    s->username = dup_or_null(c.username);
    s->password = dup_or_null(c.password);
    s->tls_ca = dup_or_null(c.tls_ca[0] ? c.tls_ca : NULL);
    s->tls_cert = dup_or_null(c.tls_cert[0] ? c.tls_cert : NULL);
    s->tls_key = dup_or_null(c.tls_key[0] ? c.tls_key : NULL);
    s->tls_insecure = c.tls_insecure;
    s->topic_column = dup_or_null(c.topic_column);
    s->keepalive_s = (int)(c.keepalive / 1000000);
    if (c.topic_columns) {
        for (const char *p = c.topic_columns;;) {
            size_t l = strcspn(p, "/");
            if (s->nlevels == MAX_LEVELS) {
                mqtt_destroy(s);
                return sl_node_error(err, c.topic_columns_at, "%s: topic_columns: over %d levels",
                                     what, MAX_LEVELS);
            }
            bool var = l > 2 && p[0] == '{' && p[l - 1] == '}';
            s->is_var[s->nlevels] = var;
            s->levels[s->nlevels++] = var ? sl_xstrndup(p + 1, l - 2) : sl_xstrndup(p, l);
            if (!p[l]) break;
            p += l + 1;
        }
    }
    /* room for the topic fields of one message, beyond the topic itself */
    s->fields_len = s->topic_column ? 2 * strlen(s->topic_column) + 8 : 0;
    for (int i = 0; i < s->nlevels; i++)
        if (s->is_var[i]) s->fields_len += 2 * strlen(s->levels[i]) + 8;
    *self = s;
    return 0;
}

static void mqtt_close_(void *self) {
    mqtt_src *s = self;
    if (s->m) {
        if (s->connected) mosquitto_disconnect(s->m);
        mosquitto_destroy(s->m);
    }
    s->m = NULL;
    s->connected = false;
}

static void mqtt_destroy(void *self) {
    mqtt_src *s = self;
    mqtt_close_(s);
    free(s->host);
    sl_kv_list_free(s->topics, s->ntopics);
    free(s->client_id);
    free(s->username);
    if (s->password) {
        memset(s->password, 0, strlen(s->password));
        free(s->password);
    }
    free(s->tls_ca);
    free(s->tls_cert);
    free(s->tls_key);
    free(s->topic_column);
    for (int i = 0; i < s->nlevels; i++)
        free(s->levels[i]);
    free(s->buf);
    free(s->msgs);
    free(s);
}

static void reserve(mqtt_src *s, size_t more) {
    if (s->len + more + SL_JSON_PADDING <= s->cap) return;
    size_t cap = s->cap ? s->cap : 65536;
    while (cap < s->len + more + SL_JSON_PADDING)
        cap *= 2;
    s->buf = sl_xrealloc(s->buf, cap);
    s->cap = cap;
}

/* A JSON string (the topic, its levels): topics are UTF-8 without control
 * characters in practice; '"' and '\\' are escaped, controls dropped. */
static void put_json_str(mqtt_src *s, const char *p, size_t n) {
    s->buf[s->len++] = '"';
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)p[i];
        if (ch < 0x20) continue;
        if (ch == '"' || ch == '\\') s->buf[s->len++] = '\\';
        s->buf[s->len++] = (char)ch;
    }
    s->buf[s->len++] = '"';
}

/* "name":"value", for each topic column; returns how many were written. */
static int put_topic_fields(mqtt_src *s, const char *topic) {
    int n = 0;
    size_t tl = strlen(topic);
    if (s->topic_column) {
        put_json_str(s, s->topic_column, strlen(s->topic_column));
        s->buf[s->len++] = ':';
        put_json_str(s, topic, tl);
        n++;
    }
    if (!s->nlevels) return n;
    const char *lv[MAX_LEVELS];
    size_t ll[MAX_LEVELS];
    int k = 0;
    for (const char *p = topic; k < MAX_LEVELS;) {
        size_t l = strcspn(p, "/");
        lv[k] = p, ll[k++] = l;
        if (!p[l]) break;
        p += l + 1;
        if (k == MAX_LEVELS) k = MAX_LEVELS + 1; /* too deep: matches nothing */
    }
    if (k != s->nlevels) return n;
    for (int i = 0; i < k; i++)
        if (!s->is_var[i] && (ll[i] != strlen(s->levels[i]) || memcmp(lv[i], s->levels[i], ll[i])))
            return n;
    for (int i = 0; i < k; i++) {
        if (!s->is_var[i]) continue;
        if (n++) s->buf[s->len++] = ',';
        put_json_str(s, s->levels[i], strlen(s->levels[i]));
        s->buf[s->len++] = ':';
        put_json_str(s, lv[i], ll[i]);
    }
    return n;
}

/* One message -> one line: the payload with line breaks turned to spaces
 * (JSON allows them only as white space); with topic columns, spliced into
 * the payload's object as its first fields. */
static void on_message(struct mosquitto *m, void *ud, const struct mosquitto_message *msg) {
    (void)m;
    mqtt_src *s = ud;
    const char *p = msg->payload ? (const char *)msg->payload : "";
    size_t n = msg->payloadlen > 0 ? (size_t)msg->payloadlen : 0;
    size_t tl = strlen(msg->topic);
    reserve(s, n + 4 * tl + s->fields_len + 8); /* a topic is escaped at most twice */
    if (s->nmsgs == s->msgs_cap) {
        s->msgs_cap = s->msgs_cap ? 2 * s->msgs_cap : 1024;
        s->msgs = sl_xrealloc(s->msgs, (size_t)s->msgs_cap * sizeof *s->msgs);
    }
    size_t off = s->len;
    size_t i = 0;
    while (i < n && (p[i] == ' ' || p[i] == '\t' || p[i] == '\n' || p[i] == '\r'))
        i++;
    if ((s->topic_column || s->nlevels) && i < n && p[i] == '{') {
        s->buf[s->len++] = '{';
        int k = put_topic_fields(s, msg->topic);
        i++;
        size_t j = i;
        while (j < n && (p[j] == ' ' || p[j] == '\t' || p[j] == '\n' || p[j] == '\r'))
            j++;
        if (k && j < n && p[j] != '}') s->buf[s->len++] = ',';
    }
    for (; i < n; i++)
        s->buf[s->len++] = (p[i] == '\n' || p[i] == '\r') ? ' ' : p[i];
    s->msgs[s->nmsgs++] = (sl_poll_msg){
        .off = (uint32_t)off, .len = (uint32_t)(s->len - off), .part = 0, .pos = s->next_pos++};
    s->buf[s->len++] = '\n';
    memset(s->buf + s->len, 0, SL_JSON_PADDING);
}

static void on_connect(struct mosquitto *m, void *ud, int rc) {
    mqtt_src *s = ud;
    if (rc) {
        sl_log_warn("mqtt connection refused",
                    "\"source\":\"%s\",\"broker\":\"%s:%d\",\"reason\":\"%s\"", s->env.name,
                    s->host, s->port, mosquitto_connack_string(rc));
        return;
    }
    for (int i = 0; i < s->ntopics; i++)
        mosquitto_subscribe(m, NULL, s->topics[i], s->qos);
}

static void lost(mqtt_src *s, int rc) {
    sl_log_warn("mqtt connection lost", "\"source\":\"%s\",\"broker\":\"%s:%d\",\"error\":\"%s\"",
                s->env.name, s->host, s->port, mosquitto_strerror(rc));
    s->connected = false;
    s->backoff_us = s->backoff_us ? s->backoff_us * 2 : 100000;
    if (s->backoff_us > 10000000) s->backoff_us = 10000000;
    s->retry_at_us = sl_monotonic_us() + s->backoff_us;
}

/* Writing is safe when no acknowledgement of a message outside a durable
 * commit is queued: every message received is durable. */
static void flush_if_safe(mqtt_src *s) {
    if (!s->connected || s->next_pos != s->durable) return;
    if (!mosquitto_want_write(s->m)) return;
    int rc = mosquitto_loop_write(s->m, 1 << 20);
    if (rc != MOSQ_ERR_SUCCESS) lost(s, rc);
}

static int try_connect(mqtt_src *s) {
    if (sl_monotonic_us() < s->retry_at_us) return -1;
    /* a non-blocking TCP connect (the name lookup still blocks): CONNECT
     * goes out on a later write, once the socket is connected */
    int rc = mosquitto_connect_async(s->m, s->host, s->port, s->keepalive_s);
    if (rc == MOSQ_ERR_SUCCESS) {
        s->connected = true;
        /* A new connection's queue holds no acknowledgement: the broker
         * redelivers what was not acknowledged on the old one. */
        s->durable = s->next_pos;
        flush_if_safe(s); /* CONNECT, if the socket is connected already */
        return 0;
    }
    if (rc == MOSQ_ERR_ERRNO) rc = MOSQ_ERR_CONN_REFUSED;
    lost(s, rc);
    return -1;
}

static void instance_id(const sl_source_env *env, char *out, size_t cap) {
    snprintf(out, cap, "%s.%s%s%s", env->pipeline ? env->pipeline : "sluice",
             env->name ? env->name : "mqtt", env->instance ? "." : "",
             env->instance ? env->instance : "");
}

static void restore_cb(void *ud, const char *part, int64_t pos) {
    mqtt_src *s = ud;
    if (!strcmp(part, s->part_name) && pos > s->next_pos) s->next_pos = pos;
}

static int mqtt_open_(void *self, const sl_source_env *env, sl_error *err) {
    mqtt_src *s = self;
    pthread_once(&lib_once, lib_init);
    s->env = *env;
    s->exhausted = false;
    s->idle_since = 0;
    s->len = 0;
    s->nmsgs = 0;
    s->nhanded = 0;
    s->next_pos = 0;
    s->backoff_us = 0;
    s->retry_at_us = 0;
    snprintf(s->part_name, sizeof s->part_name, "%s:%d", s->host, s->port);
    s->part_names[0] = s->part_name;
    s->part_names[1] = NULL;
    int rc = sl_store_positions(env->store, env->name, restore_cb, s, err);
    if (rc) return rc;
    s->handed = s->reported = s->durable = s->next_pos;
    char id[256];
    if (s->client_id)
        snprintf(id, sizeof id, "%s", s->client_id);
    else
        instance_id(env, id, sizeof id);
    s->m = mosquitto_new(id, s->clean_session, s);
    if (!s->m) return sl_error_set(err, SL_EIO, "source '%s': mosquitto_new failed", env->name);
    mosquitto_threaded_set(s->m, true); /* queued packets go out on loop_write only */
    mosquitto_connect_callback_set(s->m, on_connect);
    mosquitto_message_callback_set(s->m, on_message);
    if (s->username) mosquitto_username_pw_set(s->m, s->username, s->password);
    if (s->tls_ca || s->tls_cert) {
        rc = mosquitto_tls_set(s->m, s->tls_ca, NULL, s->tls_cert, s->tls_key, NULL);
        if (rc == MOSQ_ERR_SUCCESS && s->tls_insecure) rc = mosquitto_tls_insecure_set(s->m, true);
        if (rc != MOSQ_ERR_SUCCESS)
            return sl_error_set(err, SL_EINVAL, "source '%s': TLS settings: %s", env->name,
                                mosquitto_strerror(rc));
    }
    sl_log_info("mqtt connecting", "\"source\":\"%s\",\"broker\":\"%s:%d\",\"client_id\":\"%s\"",
                env->name, s->host, s->port, id);
    try_connect(s);
    return 0;
}

/* Hands up to batch_size buffered messages to the engine. The rows point
 * into the buffer until the engine's next read: the messages handed are
 * dropped from it then (drop_handed). */
static void hand_over(mqtt_src *s) {
    int n = s->nmsgs < (int)s->env.batch_size ? s->nmsgs : (int)s->env.batch_size;
    s->env.parse_msgs(s->env.ud, s->buf, s->msgs, n);
    s->handed = s->msgs[n - 1].pos + 1;
    s->nhanded = n;
}

static void drop_handed(mqtt_src *s) {
    int n = s->nhanded;
    s->nhanded = 0;
    if (!n) return;
    if (n < s->nmsgs) { /* the rest stays for this read */
        uint32_t base = s->msgs[n].off;
        memmove(s->buf, s->buf + base, s->len - base);
        s->len -= base;
        memmove(s->msgs, s->msgs + n, (size_t)(s->nmsgs - n) * sizeof *s->msgs);
        s->nmsgs -= n;
        for (int i = 0; i < s->nmsgs; i++)
            s->msgs[i].off -= base;
    } else {
        s->len = 0;
        s->nmsgs = 0;
    }
}

static int mqtt_read(void *self, bool final, sl_error *err) {
    (void)err;
    mqtt_src *s = self;
    drop_handed(s);
    if (s->nmsgs) {
        hand_over(s);
        return 1;
    }
    if (!s->connected && try_connect(s)) return 0;
    flush_if_safe(s);
    /* one packet per call: stop at a batch, or when the socket is drained */
    for (int i = 0; i < 4 * (int)s->env.batch_size + 16 && s->nmsgs < (int)s->env.batch_size; i++) {
        errno = 0;
        int before = s->nmsgs;
        int rc = mosquitto_loop_read(s->m, 1);
        if (rc != MOSQ_ERR_SUCCESS) {
            lost(s, rc);
            break;
        }
        if (s->nmsgs == before && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
    }
    if (s->connected) {
        int rc = mosquitto_loop_misc(s->m); /* keepalive */
        if (rc != MOSQ_ERR_SUCCESS && rc != MOSQ_ERR_NO_CONN) lost(s, rc);
    }
    if (s->nmsgs) {
        s->idle_since = 0;
        hand_over(s);
        return 1;
    }
    flush_if_safe(s); /* a SUBSCRIBE or PINGREQ queued by this read */
    int64_t now = sl_monotonic_us();
    if (!s->idle_since) s->idle_since = now;
    if (final && now - s->idle_since > 1000000) s->exhausted = true;
    return 0;
}

static const char *const *mqtt_part_names(void *self) {
    mqtt_src *s = self;
    return s->m ? s->part_names : NULL;
}

static void mqtt_each_position(void *self, sl_source_pos_fn fn, void *ud) {
    mqtt_src *s = self;
    if (s->handed != s->reported) fn(ud, s->part_name, s->handed);
    s->reported = s->handed;
}

static void mqtt_committed(void *self) {
    mqtt_src *s = self;
    if (s->reported > s->durable) s->durable = s->reported;
    flush_if_safe(s);
}

static bool mqtt_done(void *self) { return ((mqtt_src *)self)->exhausted; }

static int mqtt_fd(void *self) {
    mqtt_src *s = self;
    return s->m && s->connected ? mosquitto_socket(s->m) : -1;
}

static void mqtt_describe(void *self, char *out, size_t cap) {
    mqtt_src *s = self;
    size_t n = (size_t)snprintf(out, cap, "mqtt %s:%d qos %d, topics", s->host, s->port, s->qos);
    for (int i = 0; i < s->ntopics && n < cap; i++)
        n += (size_t)snprintf(out + n, cap - n, "%s%s", i ? "," : " ", s->topics[i]);
}

static void check_on_connect(struct mosquitto *m, void *ud, int rc) {
    (void)m;
    *(int *)ud = rc;
}

/* `sluice check`: the broker takes a connection with these credentials. A
 * client of its own, with a clean session: the pipeline's session (and the
 * messages queued for it) is not touched. */
static int mqtt_check(void *self, char *detail, size_t cap) {
    mqtt_src *s = self;
    pthread_once(&lib_once, lib_init);
    snprintf(s->part_name, sizeof s->part_name, "%s:%d", s->host, s->port);
    char id[64];
    snprintf(id, sizeof id, "sluice-check-%d", (int)getpid());
    int connack = -1;
    struct mosquitto *m = mosquitto_new(id, true, &connack);
    if (!m) {
        snprintf(detail, cap, "mosquitto_new failed");
        return 1;
    }
    mosquitto_connect_callback_set(m, check_on_connect);
    if (s->username) mosquitto_username_pw_set(m, s->username, s->password);
    int rc = MOSQ_ERR_SUCCESS;
    if (s->tls_ca || s->tls_cert) {
        rc = mosquitto_tls_set(m, s->tls_ca, NULL, s->tls_cert, s->tls_key, NULL);
        if (rc == MOSQ_ERR_SUCCESS && s->tls_insecure) mosquitto_tls_insecure_set(m, true);
    }
    if (rc == MOSQ_ERR_SUCCESS) rc = mosquitto_connect(m, s->host, s->port, 10);
    for (int i = 0; rc == MOSQ_ERR_SUCCESS && connack < 0 && i < 50; i++)
        rc = mosquitto_loop(m, 100, 1);
    if (rc != MOSQ_ERR_SUCCESS)
        snprintf(detail, cap, "broker %s: %s", s->part_name,
                 rc == MOSQ_ERR_ERRNO ? strerror(errno) : mosquitto_strerror(rc));
    else if (connack != 0)
        snprintf(detail, cap, "broker %s: %s", s->part_name,
                 connack < 0 ? "no answer to CONNECT" : mosquitto_connack_string(connack));
    else
        snprintf(detail, cap, "broker %s accepts a connection", s->part_name);
    if (connack == 0) mosquitto_disconnect(m);
    mosquitto_destroy(m);
    return rc == MOSQ_ERR_SUCCESS && connack == 0 ? 0 : 1;
}

const sl_source_def sl_source_mqtt = {
    .name = "mqtt",
    .opts = mqtt_opts,
    .help = "topics of an MQTT broker, in a persistent session (libmosquitto)",
    .format = "json",
    .create = mqtt_create,
    .check = mqtt_check,
    .destroy = mqtt_destroy,
    .open = mqtt_open_,
    .close = mqtt_close_,
    .read = mqtt_read,
    .part_names = mqtt_part_names,
    .each_position = mqtt_each_position,
    .committed = mqtt_committed,
    .done = mqtt_done,
    .fd = mqtt_fd,
    .describe = mqtt_describe,
};
