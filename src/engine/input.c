/*
 * input.c - one face over every source type, so the event loop and the
 * commit do not care where records come from.
 *
 * dir: a landing directory (sources/dir.h); positions are byte offsets.
 * kafka: a consumer-group member (sources/kafka.h); positions are the next
 * offset of each topic/partition, saved in the same commit as the outputs.
 * syslog: UDP/TCP listeners (sources/syslog_net.h); no positions, since the
 * network cannot replay: at-most-once across a crash (see that header).
 *
 * A Kafka or listener poll returns many messages, each one line, laid end
 * to end in one buffer. Parsing them as one buffer keeps the JSON parser in
 * its fast stream mode; the rows it produces carry byte offsets into that
 * buffer, which are then mapped back to (partition, offset or sequence) in
 * one ordered walk, so every row and every quarantined record names its
 * message.
 */
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/timeutil.h"
#include "engine/internal.h"
#include "formats/json_write.h"

/* ---- kafka glue ---------------------------------------------------------- */

static struct owned_part *owned(source *s, const char *name) {
    for (int i = 0; i < s->nowned; i++)
        if (!strcmp(s->owned[i].name, name)) return &s->owned[i];
    s->owned = realloc(s->owned, (size_t)(s->nowned + 1) * sizeof *s->owned);
    struct owned_part *o = &s->owned[s->nowned++];
    snprintf(o->name, sizeof o->name, "%s", name);
    o->pos = -1;
    return o;
}

/* Where an assigned partition resumes: this checkpoint, or with --instance
 * the furthest any instance's checkpoint got (see instances.c). */
static int64_t kafka_position(void *ud, const char *topic, int32_t partition) {
    source *s = ud;
    char name[512];
    snprintf(name, sizeof name, "%s/%d", topic, (int)partition);
    int64_t pos = -1;
    if (sl_store_get_position(s->store, s->name, name, &pos)) pos = -1;
    char who[PATH_MAX + 32] = "";
    int64_t sib = sl_siblings_max_position(s->siblings, s->name, name, who, sizeof who);
    bool from_sibling = sib > pos;
    if (from_sibling) {
        sl_log_info("partition resumes where another instance committed", "\"partition\":\"%s\",\"own\":%lld,\"from\":%lld", name,
                    (long long)pos, (long long)sib);
        pos = sib;
    }
    if (s->siblings) owned(s, name)->pos = pos;
    if (s->on_assign) s->on_assign(s->revoke_ud, s, name, from_sibling ? who : NULL);
    return pos;
}

int sl_input_fence(source *s, const char *partition, int64_t new_pos, sl_error *err) {
    if (!s->siblings) return 0;
    struct owned_part *o = owned(s, partition);
    char who[PATH_MAX + 32] = "";
    int64_t sib = sl_siblings_max_position(s->siblings, s->name, partition, who, sizeof who);
    if (sib > o->pos && sib > -1)
        return sl_error_set(err, SL_EFAIL, "partition %s was taken over: %s is at %lld, past this instance's %lld; not committing",
                            partition, who, (long long)sib, (long long)o->pos);
    o->pos = new_pos;
    return 0;
}

static void kafka_revoke(void *ud, const char *const *partitions, int n) {
    source *s = ud;
    if (s->on_revoke) s->on_revoke(s->revoke_ud, s, partitions, n);
}


typedef struct {
    source *s;
    const sl_poll_msg *msgs;
    int n, k; /* cursor: message holding the last mapped byte offset */
    sl_bad_record_fn bad;
    void *ud;
} kmap;

/* Message index of a byte offset in the poll buffer; offsets arrive in order. */
static int kmap_find(kmap *m, int64_t byte) {
    if (m->k >= m->n || byte < (int64_t)m->msgs[m->k].off) m->k = 0;
    while (m->k + 1 < m->n && byte >= (int64_t)m->msgs[m->k + 1].off) m->k++;
    return m->k;
}

static void kafka_bad(void *ud, const char *line, size_t len, int32_t part, int64_t pos, const char *reason) {
    (void)part;
    kmap *m = ud;
    int i = kmap_find(m, pos);
    m->bad(m->ud, line, len, m->msgs[i].part, m->msgs[i].pos, reason);
}

/* Parses the messages of one poll and gives each row its message's
 * partition and position. */
static void parse_msgs(source *s, const char *buf, const sl_poll_msg *msgs, int n, int64_t now_us, sl_bad_record_fn bad, void *ud) {
    kmap m = {s, msgs, n, 0, bad, ud};
    size_t len = (size_t)msgs[n - 1].off + msgs[n - 1].len + 1;
    sl_batch *b = s->batch;
    sl_line_format_parse(s->fmt, buf, len, 0, 0, now_us, b, kafka_bad, &m);
    m.k = 0;
    for (uint32_t r = 0; r < b->n; r++) {
        int i = kmap_find(&m, b->pos[r]);
        b->part[r] = msgs[i].part;
        b->pos[r] = msgs[i].pos;
    }
    if (s->part_col >= 0) { /* partitioned state: each row's partition name */
        sl_column *c = &b->col[s->part_col];
        int32_t last = -1;
        uint32_t nlen = 0;
        for (uint32_t r = 0; r < b->n; r++) {
            if (b->part[r] != last) { /* rows come in runs of one partition */
                last = b->part[r];
                nlen = (uint32_t)strlen(s->part_names[last]);
            }
            sl_col_set_str(c, r, s->part_names[last], nlen);
        }
    }
}

static int kafka_read(source *s, int64_t now_us, sl_bad_record_fn bad, void *ud, sl_error *err) {
    const char *buf;
    const sl_kafka_msg *msgs;
    int64_t filtered_before = sl_kafka_filtered(s->kafka);
    int n = sl_kafka_poll(s->kafka, (int)s->batch->cap, s->wait_ms, &buf, &msgs, err);
    s->part_names = sl_kafka_partition_names(s->kafka);
    if (n < 0) return n;
    if (n == 0) return sl_kafka_filtered(s->kafka) > filtered_before ? 1 : 0;
    parse_msgs(s, buf, msgs, n, now_us, bad, ud);
    return 1;
}

static int net_read(source *s, bool final, int64_t now_us, sl_bad_record_fn bad, void *ud, sl_error *err) {
    const char *buf;
    const sl_syslog_net_msg *msgs;
    int n = sl_syslog_net_poll(s->net, (int)s->batch->cap, 0, &buf, &msgs, err);
    s->part_names = sl_syslog_net_part_names(s->net);
    if (n < 0) return n;
    if (n == 0) {
        /* --once over a listener: the input ends after a second of silence */
        int64_t now = sl_monotonic_us();
        if (!s->net_idle_since) s->net_idle_since = now;
        if (final && now - s->net_idle_since > 1000000) s->exhausted = true;
        return 0;
    }
    s->net_idle_since = 0;
    parse_msgs(s, buf, msgs, n, now_us, bad, ud);
    return 1;
}

static long csv_read_head(void *ud, int32_t part, char *buf, size_t cap) {
    source *s = ud;
    sl_error e = {0};
    return (long)sl_dir_read_head(s->dir, part, buf, cap, &e);
}

static void dir_restore(void *ud, const char *part, int64_t pos) { sl_dir_restore(ud, part, pos); }

/* ---- the face ------------------------------------------------------------ */

int sl_input_open(source *s, sl_store *store, bool once, uint32_t batch_size, sl_error *err) {
    s->store = store;
    s->exhausted = false;
    sl_line_format_opts fo = {
        .pattern = s->regex,
        .delim = s->delim,
        .header = s->header,
        .columns = (const char *const *)s->columns,
        .ncolumns = s->ncolumns,
        .read_head = s->type == SRC_DIR ? csv_read_head : NULL,
        .read_head_ud = s,
    };
    s->fmt = sl_line_format_new_opts(s->format, &s->schema, (const char *const *)s->paths, &fo, err);
    if (!s->fmt) return err->code;
    s->change_pending = false;
    sl_line_format_set_evolve(s->fmt, s->evolve != EVOLVE_NONE, s->widen);
    /* an inferred string column holds whatever JSON value comes (mixed kinds,
     * objects and arrays were inferred as string for that reason) */
    if (s->infer) sl_line_format_set_lenient_strings(s->fmt, true);
    s->batch = sl_batch_new(&s->schema, batch_size);
    if (s->type == SRC_SYSLOG) {
        sl_syslog_net_config c = {.udp = s->listen_udp, .tcp = s->listen_tcp, .max_queue_bytes = (size_t)s->max_queue_bytes};
        s->net = sl_syslog_net_open(&c, err);
        if (!s->net) return err->code;
        s->part_names = sl_syslog_net_part_names(s->net);
        sl_log_info("syslog listening", "\"source\":\"%s\",\"udp_port\":%d,\"tcp_port\":%d", s->name,
                    s->listen_udp ? sl_syslog_net_udp_port(s->net) : 0, s->listen_tcp ? sl_syslog_net_tcp_port(s->net) : 0);
        return 0;
    }
    if (s->type == SRC_KAFKA) {
        sl_kafka_config c = {
            .brokers = s->brokers,
            .group = s->group,
            .topics = (const char *const *)s->topics,
            .ntopics = s->ntopics,
            .props = (const char *const *)s->props,
            .nprops = s->nprops,
            .filter_header = s->filter_header,
            .filter_values = (const char *const *)s->filter_values,
            .nfilter = s->nfilter_values,
            .filter_missing_pass = s->filter_missing_pass,
            .filter_keys = (const char *const *)s->filter_keys,
            .nfilter_keys = s->nfilter_keys,
            .once = once,
        };
        s->kafka = sl_kafka_open(&c, kafka_position, kafka_revoke, s, err);
        if (!s->kafka) return err->code;
        s->part_names = sl_kafka_partition_names(s->kafka);
        return 0;
    }
    s->dir = sl_dir_open(s->path, s->pattern, err);
    if (!s->dir) return err->code;
    int rc = sl_store_positions(store, s->name, dir_restore, s->dir, err);
    s->part_names = sl_dir_names(s->dir);
    if (rc) return rc;
    sl_dir_set_max_files(s->dir, s->max_files);
    if (s->cleanup != SL_DIR_CLEANUP_NONE) rc = sl_dir_set_cleanup(s->dir, (sl_dir_cleanup)s->cleanup, s->archive, err);
    return rc;
}

void sl_input_close(source *s) {
    if (s->kafka) sl_kafka_close(s->kafka);
    if (s->dir) sl_dir_free(s->dir);
    if (s->net) sl_syslog_net_close(s->net);
    s->net = NULL;
    s->kafka = NULL;
    s->dir = NULL;
    sl_line_format_free(s->fmt);
    s->fmt = NULL;
    sl_batch_free(s->batch);
    s->batch = NULL;
    sl_siblings_free(s->siblings);
    s->siblings = NULL;
    free(s->owned);
    s->owned = NULL;
    s->nowned = 0;
}

int sl_input_scan(source *s, sl_error *err) {
    if (!s->dir) return 0;
    int rc = sl_dir_scan(s->dir, err);
    s->part_names = sl_dir_names(s->dir); /* a scan may move the names array */
    return rc;
}

int sl_input_read(source *s, bool final, int64_t now_us, sl_bad_record_fn bad, void *ud, sl_error *err) {
    sl_batch_clear(s->batch);
    if (s->kafka) {
        int got = kafka_read(s, now_us, bad, ud, err);
        if (got == 0 && final && sl_kafka_done(s->kafka)) s->exhausted = true;
        return got;
    }
    if (s->net) return net_read(s, final, now_us, bad, ud, err);
    const char *buf;
    size_t len;
    int32_t part;
    int64_t base;
    int got = sl_dir_next(s->dir, final, &buf, &len, &part, &base, err);
    s->part_names = sl_dir_names(s->dir); /* after: reading may have registered files */
    if (got <= 0) {
        if (got == 0 && final) s->exhausted = true;
        return got;
    }
    size_t used = sl_line_format_parse(s->fmt, buf, len, part, base, now_us, s->batch, bad, ud);
    sl_dir_consume(s->dir, used);
    const sl_schema_change *ch = sl_line_format_change(s->fmt);
    if (ch) {
        s->change_part = part;
        s->change_pos = base + (int64_t)used;
        sl_evolve_take_change(s, ch, buf + used, len - used, s->change_pos == 0);
    }
    return used ? 1 : 0;
}

void sl_input_each_position(source *s, void (*fn)(void *ud, const char *part, int64_t pos), void *ud) {
    if (s->kafka) sl_kafka_each_dirty(s->kafka, fn, ud);
    else if (s->dir) sl_dir_each_dirty(s->dir, fn, ud);
}

void sl_input_committed(source *s) {
    if (s->kafka) sl_kafka_committed(s->kafka);
    if (!s->dir) return;
    sl_dir_clear_dirty(s->dir);
    sl_error e = {0};
    /* cleanup failing (a file held open elsewhere, a full archive disk) is
     * not a reason to stop reading: it is retried after the next commit */
    if (sl_dir_committed(s->dir, &e) < 0) {
        char esc[1024];
        sl_json_escape(esc, sizeof esc, e.msg, (int)strlen(e.msg));
        sl_log_warn("cleanup after commit failed", "\"source\":\"%s\",\"error\":\"%s\"", s->name, esc);
    }
}

bool sl_input_done(source *s) { return s->exhausted; }

const char *sl_input_part_name(const source *s, int32_t part) {
    const char *const *names = s->kafka ? sl_kafka_partition_names(s->kafka)
                               : s->net ? sl_syslog_net_part_names(s->net)
                               : s->dir ? sl_dir_names(s->dir) : NULL;
    return names && part >= 0 ? names[part] : "";
}

int64_t sl_input_pending_files(const source *s) { return s->dir ? sl_dir_pending_files(s->dir) : 0; }
int64_t sl_input_pending_bytes(const source *s) { return s->dir ? sl_dir_pending_bytes(s->dir) : 0; }
int64_t sl_input_lag(const source *s) { return s->kafka ? sl_kafka_lag(s->kafka) : 0; }
int64_t sl_input_filtered(const source *s) { return s->kafka ? sl_kafka_filtered(s->kafka) : 0; }
int64_t sl_input_dropped(const source *s) {
    if (!s->net) return 0;
    sl_syslog_net_stats st;
    sl_syslog_net_stats_get(s->net, &st);
    return st.dropped;
}
