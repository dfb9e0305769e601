/*
 * kafka_publish.c - the `kafka` sink: every row of the table (window
 * tables: every emitted version) as a JSON value to one topic, with an
 * optional key expression. The producer is idempotent (kafka_sink.h);
 * prepare waits until Kafka acknowledged every row written, so a commit
 * never covers a row that is not in the topic. Across a crash the sink is
 * at-least-once: rows of the lost interval are sent again, with the same
 * key.
 */
#include <stdlib.h>
#include <string.h>

#include "core/mem.h"
#include "core/timeutil.h"
#include "expr/expr.h"
#include "formats/json_write.h"
#include "sinks/kafka_sink.h"
#include "sinks/sink.h"

typedef struct {
    const char *brokers, *topic;
    const sl_node *key, *properties;
    int64_t flush_timeout_us;
} kafka_conf;

static const sl_opt kafka_opts[] = {
    {"brokers", SL_OPT_STRING, true, NULL, NULL, "bootstrap servers host:port,...",
     SL_OPT_BIND(kafka_conf, brokers)},
    {"topic", SL_OPT_STRING, true, NULL, NULL, "topic the rows go to",
     SL_OPT_BIND(kafka_conf, topic)},
    {"key", SL_OPT_EXPR, false, NULL, NULL,
     "message key: an expression over the table's columns (none: no key)",
     SL_OPT_BIND(kafka_conf, key)},
    {"properties", SL_OPT_MAP, false, NULL, NULL,
     "any librdkafka producer setting (TLS, SASL, linger.ms ...)",
     SL_OPT_BIND(kafka_conf, properties)},
    {"flush_timeout", SL_OPT_DURATION, false, NULL, "30s",
     "how long a commit waits for Kafka to acknowledge the rows it covers",
     SL_OPT_BIND(kafka_conf, flush_timeout_us), SL_OPT_RANGE(1000, 3600e6)},
    {0},
};

typedef struct {
    kafka_conf c;
    char **props;
    int nprops;
    sl_expr *key;
    sl_batch *keycol; /* one column: the key of each row */
    sl_json_keys keys;
    char *line;
    size_t line_cap;
    sl_kafka_sink *sink;
    int64_t rows;
} kafka_publish;

static void kp_destroy(void *self) {
    kafka_publish *k = self;
    if (k->sink) sl_kafka_sink_close(k->sink);
    sl_expr_free(k->key);
    sl_batch_free(k->keycol);
    sl_kv_list_free(k->props, k->nprops);
    sl_json_keys_fini(&k->keys);
    free(k->line);
    free(k);
}

static int kp_create(const sl_node *arg, const sl_sink_env *env, void **self, sl_error *err) {
    char what[SL_NAME_MAX + 32];
    snprintf(what, sizeof what, "table '%s' publish", env->table);
    kafka_publish *k = sl_xcalloc(1, sizeof *k);
    if (sl_spec_bind(arg, kafka_opts, what, &k->c, err)) goto fail;
    if (k->c.key) {
        const sl_node *n = k->c.key;
        if (!(k->key = sl_expr_compile_at(n->str, env->schema, n->file, n->line, n->col, n->quoted,
                                          err)))
            goto fail;
        if (sl_expr_type(k->key) != SL_T_STRING && sl_expr_type(k->key) != SL_T_INT) {
            sl_node_error(err, n, "publish key must be a string or an integer");
            goto fail;
        }
        sl_schema ks;
        sl_schema_init(&ks);
        sl_schema_add(&ks, "key", sl_expr_type(k->key));
        k->keycol = sl_batch_new(&ks, env->batch_cap > 4096 ? env->batch_cap : 4096);
    }
    if (sl_node_kv_list(k->c.properties, "kafka property", &k->props, &k->nprops, err)) goto fail;
    if (sl_json_keys_init(&k->keys, env->schema)) {
        sl_error_set(err, SL_ENOMEM, "out of memory");
        goto fail;
    }
    *self = k;
    return 0;
fail:
    kp_destroy(k);
    return err->code ? err->code : SL_EINVAL;
}

static int kp_open(void *self, const sl_sink_env *env, sl_error *err) {
    (void)env;
    kafka_publish *k = self;
    k->sink =
        sl_kafka_sink_open(k->c.brokers, k->c.topic, (const char *const *)k->props, k->nprops, err);
    return k->sink ? 0 : err->code;
}

static int kp_write(void *self, const sl_batch *b, const char *const *part_names, sl_error *err) {
    (void)part_names;
    kafka_publish *k = self;
    sl_column *key = NULL;
    if (k->key) {
        key = &k->keycol->col[0];
        if (sl_expr_eval(k->key, (sl_batch *)b, key))
            return sl_error_set(err, SL_EINVAL, "publish key of topic '%s' failed", k->c.topic);
    }
    char kbuf[24];
    for (uint32_t r = 0; r < b->n; r++) {
        const char *kp = NULL;
        size_t kl = 0;
        if (key && !key->null[r]) {
            if (key->type == SL_T_STRING)
                kp = key->v.s[r].ptr, kl = key->v.s[r].len;
            else
                kp = kbuf, kl = (size_t)sl_fmt_i64(kbuf, key->v.i[r]);
        }
        for (;;) {
            size_t need = sl_json_write_row_keys(b, r, &k->keys, NULL, 0, k->line, k->line_cap);
            if (need < k->line_cap) {
                if (sl_kafka_sink_send(k->sink, kp, kl, k->line, need, err)) return err->code;
                break;
            }
            k->line_cap = need + 1024;
            k->line = sl_xrealloc(k->line, k->line_cap);
        }
    }
    k->rows += b->n;
    return 0;
}

static int kp_prepare(void *self, sl_store *store, sl_error *err) {
    (void)store;
    kafka_publish *k = self;
    return sl_kafka_sink_flush(k->sink, (int)(k->c.flush_timeout_us / 1000), err);
}

static int64_t kp_rows(const void *self) { return ((const kafka_publish *)self)->rows; }

const sl_sink_def sl_sink_kafka = {
    .name = "kafka",
    .external = true,
    .opts = kafka_opts,
    .help = "every row as JSON to a Kafka topic (idempotent producer; a commit waits for the "
            "acknowledgements)",
    .create = kp_create,
    .open = kp_open,
    .write = kp_write,
    .prepare = kp_prepare,
    .rows_written = kp_rows,
    .destroy = kp_destroy,
};
