/*
 * kafka_sink.c - idempotent Kafka producer for JSON records; see kafka_sink.h.
 *
 * Sends are fire-and-forget into librdkafka's queue (the value is copied, so
 * the caller's batch arena can be reused at once); delivery reports are
 * served every SERVE_EVERY sends and at flush, and only counted: the first
 * failure's reason is kept for the error flush returns. The producer's own
 * retries cannot duplicate or reorder records (idempotence); a fatal
 * idempotence error makes every later call fail, since the engine must
 * recover from its checkpoint rather than carry on with a gap.
 */
#include "sinks/kafka_sink.h"

#include <librdkafka/rdkafka.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"

#define SERVE_EVERY 4096

struct sl_kafka_sink {
    rd_kafka_t *rk;
    rd_kafka_topic_t *rkt;
    int64_t sent, acked, failed;
    int64_t failed_at_flush; /* failures already reported by a flush */
    char first_fail[256];
    unsigned since_serve;
};

static bool is_secret(const char *key) {
    static const char *const words[] = {"password", "secret", "jaas", ".pem", "token", "ssl.key"};
    for (size_t i = 0; i < sizeof words / sizeof *words; i++)
        if (strstr(key, words[i]) && !strstr(key, "location")) return true;
    return false;
}

static int conf_set(rd_kafka_conf_t *conf, const char *key, const char *val, sl_error *err) {
    char errstr[512];
    if (rd_kafka_conf_set(conf, key, val, errstr, sizeof errstr) == RD_KAFKA_CONF_OK) return 0;
    if (is_secret(key))
        return sl_error_set(err, SL_EINVAL, "kafka sink: invalid value for property '%s'", key);
    return sl_error_set(err, SL_EINVAL, "kafka sink: property '%s': %s", key, errstr);
}

static void log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf) {
    (void)rk;
    sl_log_level lvl = level <= 3   ? SL_LOG_ERROR
                       : level == 4 ? SL_LOG_WARN
                       : level <= 6 ? SL_LOG_INFO
                                    : SL_LOG_DEBUG;
    if (!sl_log_enabled(lvl)) return;
    char esc[1024];
    sl_json_escape(esc, sizeof esc, buf, (int)strlen(buf));
    sl_log(lvl, "kafka sink", "\"facility\":\"%s\",\"detail\":\"%s\"", fac, esc);
}

static void error_cb(rd_kafka_t *rk, int e, const char *reason, void *opaque) {
    (void)rk, (void)opaque;
    char esc[512];
    sl_json_escape(esc, sizeof esc, reason, (int)strlen(reason));
    sl_log(e == RD_KAFKA_RESP_ERR__FATAL ? SL_LOG_ERROR : SL_LOG_WARN, "kafka sink error",
           "\"code\":\"%s\",\"detail\":\"%s\"", rd_kafka_err2name(e), esc);
}

static void dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque) {
    (void)rk;
    sl_kafka_sink *k = opaque;
    if (!m->err) {
        k->acked++;
        return;
    }
    if (k->failed++ == k->failed_at_flush)
        snprintf(k->first_fail, sizeof k->first_fail, "%s", rd_kafka_err2str(m->err));
}

sl_kafka_sink *sl_kafka_sink_open(const char *brokers, const char *topic, const char *const *props,
                                  int nprops, sl_error *err) {
    if (!brokers || !*brokers || !topic || !*topic) {
        sl_error_set(err, SL_EINVAL, "kafka sink: brokers and topic are required");
        return NULL;
    }
    sl_kafka_sink *k = calloc(1, sizeof *k);
    if (!k) {
        sl_error_set(err, SL_ENOMEM, "kafka sink: out of memory");
        return NULL;
    }
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    int rc = conf_set(conf, "bootstrap.servers", brokers, err);
    if (!rc) rc = conf_set(conf, "client.id", "sluice", err);
    if (!rc) rc = conf_set(conf, "linger.ms", "5", err);
    for (int i = 0; !rc && i < nprops; i++) {
        const char *eq = strchr(props[i], '=');
        char key[256];
        size_t kl = eq ? (size_t)(eq - props[i]) : 0;
        if (!eq || kl == 0 || kl >= sizeof key) {
            rc = sl_error_set(err, SL_EINVAL, "kafka sink: property #%d is not key=value", i + 1);
            break;
        }
        memcpy(key, props[i], kl);
        key[kl] = 0;
        if (!strcmp(key, "enable.idempotence") && strcmp(eq + 1, "true") != 0) {
            rc = sl_error_set(err, SL_EINVAL, "kafka sink: enable.idempotence must stay true");
            break;
        }
        rc = conf_set(conf, key, eq + 1, err);
    }
    if (!rc) rc = conf_set(conf, "enable.idempotence", "true", err);
    if (rc < 0) {
        rd_kafka_conf_destroy(conf);
        free(k);
        return NULL;
    }
    rd_kafka_conf_set_opaque(conf, k);
    rd_kafka_conf_set_log_cb(conf, log_cb);
    rd_kafka_conf_set_error_cb(conf, error_cb);
    rd_kafka_conf_set_dr_msg_cb(conf, dr_cb);
    char errstr[512];
    k->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
    if (!k->rk) {
        rd_kafka_conf_destroy(conf);
        sl_error_set(err, SL_EINVAL, "kafka sink: %s", errstr);
        free(k);
        return NULL;
    }
    k->rkt = rd_kafka_topic_new(k->rk, topic, NULL);
    if (!k->rkt) {
        sl_error_set(err, SL_EINVAL, "kafka sink: topic '%s': %s", topic,
                     rd_kafka_err2str(rd_kafka_last_error()));
        rd_kafka_destroy(k->rk);
        free(k);
        return NULL;
    }
    return k;
}

static int fatal(sl_kafka_sink *k, sl_error *err) {
    char reason[512];
    if (rd_kafka_fatal_error(k->rk, reason, sizeof reason) == RD_KAFKA_RESP_ERR_NO_ERROR) return 0;
    return sl_error_set(err, SL_EIO, "kafka sink: fatal producer error: %s", reason);
}

int sl_kafka_sink_send(sl_kafka_sink *k, const char *key, size_t klen, const char *value,
                       size_t vlen, sl_error *err) {
    for (;;) {
        if (rd_kafka_produce(k->rkt, RD_KAFKA_PARTITION_UA, RD_KAFKA_MSG_F_COPY, (void *)value,
                             vlen, key, key ? klen : 0, NULL) == 0)
            break;
        rd_kafka_resp_err_t e = rd_kafka_last_error();
        if (e != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
            int rc = fatal(k, err);
            return rc ? rc
                      : sl_error_set(err, SL_EIO, "kafka sink: produce: %s", rd_kafka_err2str(e));
        }
        rd_kafka_poll(k->rk, 50); /* back-pressure: wait for acks to free the queue */
    }
    k->sent++;
    if (++k->since_serve >= SERVE_EVERY) {
        k->since_serve = 0;
        rd_kafka_poll(k->rk, 0);
    }
    return 0;
}

int sl_kafka_sink_flush(sl_kafka_sink *k, int timeout_ms, sl_error *err) {
    rd_kafka_resp_err_t e = rd_kafka_flush(k->rk, timeout_ms);
    int rc = fatal(k, err);
    if (rc) return rc;
    if (k->failed > k->failed_at_flush) {
        int64_t nf = k->failed - k->failed_at_flush;
        k->failed_at_flush = k->failed;
        return sl_error_set(err, SL_EIO, "kafka sink: %lld record(s) not delivered: %s",
                            (long long)nf, k->first_fail);
    }
    if (e == RD_KAFKA_RESP_ERR__TIMED_OUT)
        return sl_error_set(err, SL_EAGAIN, "kafka sink: %d record(s) still in flight after %d ms",
                            rd_kafka_outq_len(k->rk), timeout_ms);
    return 0;
}

int64_t sl_kafka_sink_acked(const sl_kafka_sink *k) { return k->acked; }

int64_t sl_kafka_sink_failed(const sl_kafka_sink *k) { return k->failed; }

void sl_kafka_sink_close(sl_kafka_sink *k) {
    if (!k) return;
    rd_kafka_flush(k->rk, 5000);
    if (rd_kafka_outq_len(k->rk) > 0)
        sl_log_warn("kafka sink closed with records in flight", "\"count\":%d",
                    rd_kafka_outq_len(k->rk));
    rd_kafka_topic_destroy(k->rkt);
    rd_kafka_destroy(k->rk);
    free(k);
}
