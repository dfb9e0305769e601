/*
 * input.c - the engine's side of a source, whatever its kind: the record
 * format and the batch, the parse callbacks a source hands its input to,
 * where an assigned partition resumes, and the calls into the kind's
 * sl_source_def (sources/source.h). No kind is named here.
 *
 * A message source (kafka, a syslog listener) returns many messages per
 * poll, each one line, laid end to end in one buffer. Parsing them as one
 * buffer keeps the JSON parser in its fast stream mode; the rows it produces
 * carry byte offsets into that buffer, which are then mapped back to
 * (partition, offset or sequence) in one ordered walk, so every row and
 * every quarantined record names its message.
 */
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/mem.h"
#include "engine/internal.h"

/* ---- positions of assigned partitions (consumer groups) ----------------- */

static struct owned_part *find_owned(source *s, const char *name) {
    for (int i = 0; i < s->nowned; i++)
        if (!strcmp(s->owned[i].name, name)) return &s->owned[i];
    return NULL;
}

static struct owned_part *owned(source *s, const char *name) {
    struct owned_part *o = find_owned(s, name);
    if (o) return o;
    s->owned = sl_xreallocarray(s->owned, (size_t)s->nowned + 1, sizeof *s->owned);
    o = &s->owned[s->nowned++];
    snprintf(o->name, sizeof o->name, "%s", name);
    o->pos = -1;
    return o;
}

/* Where an assigned partition resumes: this checkpoint, or with --instance
 * the furthest any instance's checkpoint got (see instances.c). */
static int64_t input_assigned(void *ud, const char *name) {
    source *s = ud;
    int64_t pos = -1;
    if (sl_store_get_position(s->store, s->name, name, &pos)) pos = -1;
    char who[PATH_MAX + 32] = "";
    int64_t sib = sl_siblings_max_position(s->siblings, s->name, name, who, sizeof who);
    bool from_sibling = sib > pos;
    if (from_sibling) {
        sl_log_info("partition resumes where another instance committed",
                    "\"partition\":\"%s\",\"own\":%lld,\"from\":%lld", name, (long long)pos,
                    (long long)sib);
        pos = sib;
    }
    if (s->siblings) owned(s, name)->pos = pos;
    if (s->on_assign) s->on_assign(s->revoke_ud, s, name, from_sibling ? who : NULL);
    return pos;
}

int sl_input_fence(source *s, const char *partition, int64_t new_pos, sl_error *err) {
    /* only assigned partitions move between instances */
    struct owned_part *o = s->siblings ? find_owned(s, partition) : NULL;
    if (!o) return 0;
    char who[PATH_MAX + 32] = "";
    int64_t sib = sl_siblings_max_position(s->siblings, s->name, partition, who, sizeof who);
    if (sib > o->pos && sib > -1)
        return sl_error_set(
            err, SL_EFAIL,
            "partition %s was taken over: %s is at %lld, past this instance's %lld; not committing",
            partition, who, (long long)sib, (long long)o->pos);
    o->pos = new_pos;
    return 0;
}

static void input_revoking(void *ud, const char *const *partitions, int n) {
    source *s = ud;
    if (s->on_revoke) s->on_revoke(s->revoke_ud, s, partitions, n);
}

/* ---- parsing what a source read ----------------------------------------- */

/* Lines of one partition from byte position pos. */
static size_t input_parse(void *ud, const char *buf, size_t len, int32_t part, int64_t pos) {
    source *s = ud;
    size_t used = sl_line_format_parse(s->fmt, buf, len, part, pos, s->read_now_us, s->batch,
                                       s->read_bad, s->read_ud);
    const sl_schema_change *ch = sl_line_format_change(s->fmt);
    if (ch) {
        s->change_part = part;
        s->change_pos = pos + (int64_t)used;
        sl_evolve_take_change(s, ch, buf + used, len - used, s->change_pos == 0);
    }
    return used;
}

/* Lines that end their partition for good: bytes the format leaves there
 * will never be completed, so they are one bad record. */
static size_t input_parse_end(void *ud, const char *buf, size_t len, int32_t part, int64_t pos) {
    source *s = ud;
    size_t used = input_parse(ud, buf, len, part, pos);
    if (used || !len || s->change_pending || sl_line_format_change(s->fmt)) return used;
    size_t rl = len;
    while (rl && (buf[rl - 1] == '\n' || buf[rl - 1] == '\r'))
        rl--;
    s->read_bad(s->read_ud, buf, rl, part, pos,
                !strcmp(s->format, "csv") ? "unterminated quoted field at the end of the file"
                                          : "incomplete record at the end of the file");
    return len;
}

static void input_bad(void *ud, const char *raw, size_t len, int32_t part, int64_t pos,
                      const char *reason) {
    source *s = ud;
    s->read_bad(s->read_ud, raw, len, part, pos, reason);
}

typedef struct {
    source *s;
    const sl_poll_msg *msgs;
    int n, k; /* cursor: message holding the last mapped byte offset */
    int bad;  /* records quarantined */
} kmap;

/* Message index of a byte offset in the poll buffer; offsets arrive in order. */
static int kmap_find(kmap *m, int64_t byte) {
    if (m->k >= m->n || byte < (int64_t)m->msgs[m->k].off) m->k = 0;
    while (m->k + 1 < m->n && byte >= (int64_t)m->msgs[m->k + 1].off)
        m->k++;
    return m->k;
}

static void msg_bad(void *ud, const char *line, size_t len, int32_t part, int64_t pos,
                    const char *reason) {
    (void)part;
    kmap *m = ud;
    int i = kmap_find(m, pos);
    m->bad++;
    m->s->read_bad(m->s->read_ud, line, len, m->msgs[i].part, m->msgs[i].pos, reason);
}

/* Parses the messages of one poll and gives each row its message's
 * partition and position. */
static int input_parse_msgs(void *ud, const char *buf, const sl_poll_msg *msgs, int n) {
    source *s = ud;
    kmap m = {s, msgs, n, 0, 0};
    sl_batch *b = s->batch;
    /* runs of messages up to max_line_bytes are parsed; a longer one is one
     * bad record */
    uint32_t max = s->max_line_bytes > 0 && s->max_line_bytes < UINT32_MAX
                       ? (uint32_t)s->max_line_bytes
                       : UINT32_MAX;
    for (int i = 0, from = 0; i <= n; i++) {
        if (i < n && msgs[i].len <= max) continue;
        if (i > from) {
            size_t a = msgs[from].off, e = (size_t)msgs[i - 1].off + msgs[i - 1].len + 1;
            sl_line_format_parse(s->fmt, buf + a, e - a, 0, (int64_t)a, s->read_now_us, b, msg_bad,
                                 &m);
        }
        if (i < n) {
            char why[128];
            snprintf(why, sizeof why, "line of %u bytes exceeds max_line_bytes (%u)", msgs[i].len,
                     max);
            s->read_bad(s->read_ud, buf + msgs[i].off, msgs[i].len < 4096 ? msgs[i].len : 4096,
                        msgs[i].part, msgs[i].pos, why);
            m.bad++;
        }
        from = i + 1;
    }
    m.k = 0;
    for (uint32_t r = 0; r < b->n; r++) {
        int i = kmap_find(&m, b->pos[r]);
        b->part[r] = msgs[i].part;
        b->pos[r] = msgs[i].pos;
    }
    return m.bad;
}

/* Partitioned state: each row's partition name in the _part column. */
static void fill_part_column(source *s) {
    sl_batch *b = s->batch;
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

static long input_read_head(void *ud, int32_t part, char *buf, size_t cap) {
    source *s = ud;
    return s->def->read_head(s->self, part, buf, cap);
}

/* ---- the calls --------------------------------------------------------- */

static void refresh_names(source *s) {
    s->part_names = s->opened ? s->def->part_names(s->self) : NULL;
}

int sl_input_open(source *s, sl_store *store, const char *pipeline, const char *instance, bool once,
                  uint32_t batch_size, sl_error *err) {
    s->store = store;
    sl_line_format_opts fo = {
        .pattern = s->regex,
        .delim = s->delim,
        .header = s->header,
        .columns = (const char *const *)s->columns,
        .ncolumns = s->ncolumns,
        .read_head = s->def->read_head ? input_read_head : NULL,
        .read_head_ud = s,
    };
    s->fmt =
        sl_line_format_new_opts(s->format, &s->schema, (const char *const *)s->paths, &fo, err);
    if (!s->fmt) return err->code;
    s->change_pending = false;
    sl_line_format_set_evolve(s->fmt, s->evolve != EVOLVE_NONE, s->widen);
    /* an inferred string column holds whatever JSON value comes (mixed kinds,
     * objects and arrays were inferred as string for that reason) */
    if (s->infer) sl_line_format_set_lenient_strings(s->fmt, true);
    s->batch = sl_batch_new(&s->schema, batch_size);
    sl_source_env env = {
        .name = s->name,
        .format = s->format,
        .pipeline = pipeline,
        .instance = instance,
        .once = once,
        .batch_size = batch_size,
        .store = store,
        .access = s->access,
        .ud = s,
        .max_line_bytes = s->max_line_bytes,
        .parse = input_parse,
        .parse_end = input_parse_end,
        .bad = input_bad,
        .parse_msgs = input_parse_msgs,
        .assigned = input_assigned,
        .revoking = input_revoking,
    };
    int rc = s->def->open(s->self, &env, err);
    s->opened = true; /* close undoes a partial open too */
    refresh_names(s);
    return rc;
}

void sl_input_close(source *s) {
    if (s->opened) s->def->close(s->self);
    s->opened = false;
    s->part_names = NULL;
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
    if (!s->opened || !s->def->scan) return 0;
    int rc = s->def->scan(s->self, err);
    refresh_names(s); /* a scan may move the names array */
    return rc;
}

int sl_input_read(source *s, bool final, int64_t now_us, sl_bad_record_fn bad, void *ud,
                  sl_error *err) {
    sl_batch_clear(s->batch);
    s->read_now_us = now_us;
    s->read_bad = bad;
    s->read_ud = ud;
    int got = s->def->read(s->self, final, err);
    refresh_names(s); /* after: reading may have found partitions */
    if (got > 0 && s->part_col >= 0) fill_part_column(s);
    return got;
}

void sl_input_each_position(source *s, void (*fn)(void *ud, const char *part, int64_t pos),
                            void *ud) {
    if (s->opened && s->def->each_position) s->def->each_position(s->self, fn, ud);
}

void sl_input_committed(source *s) {
    if (s->opened && s->def->committed) s->def->committed(s->self);
}

bool sl_input_done(source *s) { return s->opened && s->def->done(s->self); }

int sl_input_fd(const source *s) { return s->opened ? s->def->fd(s->self) : -1; }

bool sl_input_wait(source *s, int ms) {
    if (!s->opened || !s->def->wait) return false;
    s->def->wait(s->self, ms);
    return true;
}

const char *sl_input_part_name(const source *s, int32_t part) {
    const char *const *names = s->opened ? s->def->part_names(s->self) : NULL;
    return names && part >= 0 ? names[part] : "";
}

void sl_input_each_partition(const source *s, void (*fn)(void *ud, const char *part, int64_t pos),
                             void *ud) {
    if (s->opened && s->def->each_partition) s->def->each_partition(s->self, fn, ud);
}

void sl_input_stats(const source *s, sl_source_stats *out) {
    *out = (sl_source_stats){-1, -1, -1, -1, -1, -1, -1, -1, -1, -1};
    if (s->def->stats) s->def->stats(s->self, out);
}
