/*
 * alert.c - rules, their per-key state machine and what they write.
 *
 * Per rule and key:   inactive --when--> pending --(held `for`, on `for_count` rows)--> firing
 *                     firing --(not when, resolve: true)--> resolved (= inactive)
 * A pending key whose condition stops holding goes back to inactive. Every
 * firing starts a new alert (alert_history row); a firing key re-notifies
 * every `repeat`; `rate_limit` keeps a key to one notification per period
 * (a firing whose notification is suppressed is still in alert_history, and
 * its resolution is not sent either). With `group`, firings are collected per
 * group window of the rule's clock and sent as one digest once a row of the
 * rule's table is past the window (or the input ends).
 *
 * See alert.h for why everything is keyed on row time and written in the
 * engine's open transaction.
 */
#include "alert/alert.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/hash.h"
#include "core/mem.h"
#include "core/strbuf.h"
#include "core/timeutil.h"
#include "expr/expr.h"

enum { ST_INACTIVE = 0, ST_PENDING = 1, ST_FIRING = 2 };
#define NO_TIME INT64_MIN
#define KEY_MAX 1024
#define MAX_KEYCOLS 8
#define MAX_SEGS 64

/* ---- options ---- */

typedef struct group_conf {
    int64_t window_us, max_items;
} group_conf;

typedef struct rule_conf {
    const char *name, *table, *message;
    const sl_node *when, *key, *severity, *time, *group, *channels, *message_at, *name_at,
        *table_at;
    int64_t for_us, rate_limit_us, repeat_us, for_count;
    bool resolve;
} rule_conf;

static const sl_opt group_opts[] = {
    {"window", SL_OPT_DURATION, true, NULL, NULL,
     "firings of different keys within one such window of the rule's clock become one digest",
     SL_OPT_BIND(group_conf, window_us), SL_OPT_MIN(1000)},
    {"max_items", SL_OPT_INT, false, NULL, "20", "keys listed in a digest (count has them all)",
     SL_OPT_BIND(group_conf, max_items), SL_OPT_RANGE(1, 1000)},
    {0}};

static const sl_opt rule_opts[] = {
    {"name", SL_OPT_STRING, true, NULL, NULL, "the rule's name (alert_type in alert_history)",
     SL_OPT_BIND(rule_conf, name), SL_OPT_AT(rule_conf, name_at)},
    {"table", SL_OPT_STRING, true, NULL, NULL,
     "the table watched: any table of the pipeline, _sluice_events or _sluice_checkpoint",
     SL_OPT_BIND(rule_conf, table), SL_OPT_AT(rule_conf, table_at)},
    {"when", SL_OPT_EXPR, true, NULL, NULL, "condition over a row (SQL expression)",
     SL_OPT_BIND(rule_conf, when)},
    {"key", SL_OPT_LIST, false, NULL, NULL,
     "columns that make one alert instance (none: one instance)", SL_OPT_BIND(rule_conf, key)},
    {"severity", SL_OPT_EXPR, false, NULL, NULL,
     "info|warning|critical, or an expression giving one (default warning)",
     SL_OPT_BIND(rule_conf, severity)},
    {"message", SL_OPT_STRING, false, NULL, "",
     "template: {column} is the row's value (default: the rule's name and key)",
     SL_OPT_BIND(rule_conf, message), SL_OPT_AT(rule_conf, message_at)},
    {"for", SL_OPT_DURATION, false, NULL, "0s",
     "how long (rule clock) the condition must hold for a key before it fires",
     SL_OPT_BIND(rule_conf, for_us), SL_OPT_MIN(0)},
    {"for_count", SL_OPT_INT, false, NULL, "1",
     "consecutive rows of a key the condition must hold on before it fires (with `for`: both)",
     SL_OPT_BIND(rule_conf, for_count), SL_OPT_RANGE(1, 1000000000)},
    {"time", SL_OPT_EXPR, false, NULL, NULL,
     "the rule's clock, a timestamp expression (default: window end, first timestamp column, "
     "commit time)",
     SL_OPT_BIND(rule_conf, time)},
    {"rate_limit", SL_OPT_DURATION, false, NULL, "0s",
     "at most one notification per key per this period", SL_OPT_BIND(rule_conf, rate_limit_us),
     SL_OPT_MIN(0)},
    {"repeat", SL_OPT_DURATION, false, NULL, "0s",
     "re-notify a key still firing after this long (0: never)", SL_OPT_BIND(rule_conf, repeat_us),
     SL_OPT_MIN(0)},
    {"resolve", SL_OPT_BOOL, false, NULL, "true",
     "a row of the key where `when` is false resolves it", SL_OPT_BIND(rule_conf, resolve)},
    {"group", SL_OPT_MAP, false, NULL, NULL, "digest: {window: 1m, max_items: 20}",
     SL_OPT_BIND(rule_conf, group), SL_OPT_SUB(group_opts)},
    {"channels", SL_OPT_LIST, false, NULL, NULL, "channel names (default: every enabled one)",
     SL_OPT_BIND(rule_conf, channels)},
    {0}};

typedef struct alerts_conf {
    const sl_node *channels, *rules;
} alerts_conf;

static const sl_opt alerts_opts[] = {
    {"channels", SL_OPT_MAP, false, NULL, NULL,
     "name: {type: slack|teams|email|pagerduty|webhook, ...} (see docs/alerting.md)",
     SL_OPT_BIND(alerts_conf, channels)},
    {"rules", SL_OPT_SEQ, false, NULL, NULL, "the alert rules", SL_OPT_BIND(alerts_conf, rules),
     SL_OPT_SUB(rule_opts)},
    {0}};

const sl_opt_table *sl_alert_opt_tables(void) {
    static const sl_opt_table t[] = {{"alerts", "Alerts", alerts_opts}, {0}};
    return t;
}

/* ---- structures ---- */

typedef struct akey {
    char *key, *labels, *message;
    char severity[16];
    char alert_id[96];
    int state;
    bool sent_firing; /* the current alert's firing went out (its resolve may follow) */
    int64_t since, last_sent, seq, nfired, digest;
    int64_t streak; /* consecutive true rows while pending (for_count) */
} akey;

typedef struct seg { /* a message template piece: text, or column col */
    char *text;
    int col;
} seg;

struct sl_alert_rule {
    sl_alerts *a;
    char name[SL_NAME_MAX], table[SL_NAME_MAX];
    sl_schema schema;
    sl_expr *when, *sev_expr, *time_expr;
    char sev_const[16];
    int time_col;
    int64_t time_offset_us;
    int64_t (*time_end)(void *ud, int64_t start); /* sl_alert_target's */
    void *time_end_ud;
    int final_col; /* is_final's index when only final rows count, else -1 */
    int keycol[MAX_KEYCOLS], nkey;
    seg segs[MAX_SEGS];
    int nsegs;
    int64_t for_us, rate_us, repeat_us, group_us, max_items, for_count;
    bool resolve;
    int chan[32], nchan; /* channel indexes; nchan -1: all enabled */
    /* run time */
    akey *k;
    size_t nk, capk;
    int32_t *slot; /* open addressing: index into k, -1 empty */
    size_t nslot;
    int64_t digest_min; /* earliest group window with a firing waiting, NO_TIME: none */
    uint8_t *keep;
    sl_column sev_out, time_out;
    uint32_t out_cap;
    sl_batch *one; /* the built-in tables' single row */
};

struct sl_alerts {
    char pipeline[SL_NAME_MAX];
    sl_channels *ch;
    sl_alert_rule *r;
    int nr;
    sl_store *store;
    sqlite3_stmt *st_state, *st_hist, *st_hist_sent, *st_hist_resolve;
    int64_t writes; /* key states saved: a tick that changed none wrote nothing */
};

/* ---- small helpers ---- */

/* a JSON string literal; NULL: null */
static void sb_json(sl_strbuf *b, const char *s) {
    if (!s)
        sl_strbuf_puts(b, "null");
    else
        sl_strbuf_json(b, s, 0);
}

static void fmt_ts(int64_t us, char *out, size_t cap) {
    if (us == NO_TIME)
        snprintf(out, cap, "%s", "");
    else
        sl_store_format_ts(us, out, cap);
}

/* Row r of column c as text (NULL: isnull set, "" written). */
static size_t cell_text(const sl_column *c, uint32_t r, char *out, size_t cap, bool *isnull) {
    *isnull = c->null[r] != 0;
    if (*isnull) return (size_t)snprintf(out, cap, "%s", "");
    switch (c->type) {
    case SL_T_BOOL:
        return (size_t)snprintf(out, cap, "%s", c->v.b[r] ? "true" : "false");
    case SL_T_INT:
        return (size_t)snprintf(out, cap, "%" PRId64, c->v.i[r]);
    case SL_T_DOUBLE:
        return (size_t)snprintf(out, cap, "%.6g", c->v.d[r]);
    case SL_T_TS:
        sl_store_format_ts(c->v.i[r], out, cap);
        return strlen(out);
    case SL_T_STRING: {
        size_t n = c->v.s[r].len < cap - 1 ? c->v.s[r].len : cap - 1;
        memcpy(out, c->v.s[r].ptr, n);
        out[n] = 0;
        return n;
    }
    default:
        return (size_t)snprintf(out, cap, "%s", "");
    }
}

static uint64_t hash_str(const char *s, uint64_t seed) { return sl_hash_bytes(s, strlen(s), seed); }

/* ---- compile ---- */

static const sl_schema *events_schema(void) {
    static sl_schema s;
    if (!s.n) {
        sl_schema_init(&s);
        sl_schema_add(&s, "commit_id", SL_T_INT);
        sl_schema_add(&s, "ts", SL_T_TS);
        sl_schema_add(&s, "kind", SL_T_STRING);
        static const char *ints[] = {"records_in", "parse_errors", "quarantined", "late",
                                     "duplicates", "filtered",     "dropped"};
        for (size_t i = 0; i < sizeof ints / sizeof *ints; i++)
            sl_schema_add(&s, ints[i], SL_T_INT);
        sl_schema_add(&s, "watermark", SL_T_TS);
        sl_schema_add(&s, "event_lag_avg_ms", SL_T_DOUBLE);
        sl_schema_add(&s, "event_lag_max_ms", SL_T_DOUBLE);
        sl_schema_add(&s, "processing_latency_ms", SL_T_DOUBLE);
        sl_schema_add(&s, "commit_ms", SL_T_DOUBLE);
        sl_schema_add(&s, "consumer_lag", SL_T_INT); /* details.consumer_lag; NULL: no Kafka */
    }
    return &s;
}

static const sl_schema *checkpoint_schema(void) {
    static sl_schema s;
    if (!s.n) {
        sl_schema_init(&s);
        sl_schema_add(&s, "now", SL_T_TS);
        sl_schema_add(&s, "checkpoint_age_s", SL_T_DOUBLE);
        sl_schema_add(&s, "commit_id", SL_T_INT);
    }
    return &s;
}

static sl_expr *compile_node(const sl_node *n, const sl_schema *s, const char *rule,
                             const char *what, sl_error *err) {
    if (n->kind != SL_NODE_SCALAR) {
        sl_node_error(err, n, "rule '%s': %s must be an expression", rule, what);
        return NULL;
    }
    sl_expr *e = sl_expr_compile_at(n->str, s, n->file, n->line, n->col, n->quoted, err);
    if (!e) {
        char m[sizeof err->msg];
        snprintf(m, sizeof m, "%s", err->msg);
        sl_error_set(err, SL_EINVAL, "%s (rule '%s', %s)", m, rule, what);
    }
    return e;
}

/* "text {col} text"; "{{" and "}}" are literal braces. */
static int compile_template(sl_alert_rule *r, const char *tpl, const sl_node *at, sl_error *err) {
    sl_strbuf lit = {0};
    const char *p = tpl;
    int rc = 0;
    while (*p && !rc) {
        if ((p[0] == '{' && p[1] == '{') || (p[0] == '}' && p[1] == '}')) {
            sl_strbuf_add(&lit, p, 1);
            p += 2;
            continue;
        }
        if (*p != '{') {
            sl_strbuf_add(&lit, p, 1);
            p++;
            continue;
        }
        const char *end = strchr(p, '}');
        int off = (int)(p - tpl);
        if (!end || r->nsegs + 2 > MAX_SEGS) {
            rc = sl_error_set(err, SL_EINVAL, "%s:%d:%d: rule '%s': message: %s", at->file,
                              at->line, at->col + off + (at->quoted ? 1 : 0), r->name,
                              end ? "too many placeholders" : "'{' without '}'");
            break;
        }
        char col[SL_NAME_MAX];
        size_t n = (size_t)(end - p - 1);
        snprintf(col, sizeof col, "%.*s", (int)(n < sizeof col ? n : sizeof col - 1), p + 1);
        int c = sl_schema_find(&r->schema, col);
        if (c < 0) {
            rc = sl_error_set(err, SL_EINVAL,
                              "%s:%d:%d: rule '%s': message: unknown column '%s' in table '%s'",
                              at->file, at->line, at->col + off + 1 + (at->quoted ? 1 : 0), r->name,
                              col, r->table);
            break;
        }
        if (lit.len) {
            r->segs[r->nsegs++] = (seg){lit.p, -1};
            lit = (sl_strbuf){0};
        }
        r->segs[r->nsegs++] = (seg){NULL, c};
        p = end + 1;
    }
    if (!rc && lit.len && r->nsegs < MAX_SEGS) {
        r->segs[r->nsegs++] = (seg){lit.p, -1};
        lit = (sl_strbuf){0};
    }
    free(lit.p);
    return rc;
}

static int compile_rule(sl_alerts *a, sl_alert_rule *r, const sl_node *rn, sl_alert_lookup lookup,
                        void *ud, sl_error *err) {
    rule_conf c;
    char what[96];
    snprintf(what, sizeof what, "alerts: rule");
    if (sl_spec_bind(rn, rule_opts, what, &c, err)) return SL_EINVAL;
    r->a = a;
    snprintf(r->name, sizeof r->name, "%s", c.name);
    snprintf(r->table, sizeof r->table, "%s", c.table);
    for (int i = 0; i < a->nr; i++)
        if (!strcmp(a->r[i].name, r->name))
            return sl_node_error(err, c.name_at, "alerts: two rules named '%s'", r->name);
    r->final_col = -1;
    r->time_col = -1;
    r->digest_min = NO_TIME;
    const char *def_time = NULL;
    if (!strcmp(c.table, SL_ALERT_EVENTS)) {
        r->schema = *events_schema();
        def_time = "ts";
    } else if (!strcmp(c.table, SL_ALERT_CHECKPOINT)) {
        r->schema = *checkpoint_schema();
        def_time = "now";
    } else {
        sl_alert_target t = {0};
        if (lookup(ud, c.table, &t))
            return sl_node_error(err, c.table_at, "rule '%s': unknown table '%s'", r->name,
                                 c.table);
        r->schema = *t.schema;
        def_time = t.time_col;
        r->time_offset_us = t.time_offset_us;
        r->time_end = t.time_end, r->time_end_ud = t.time_end_ud;
        if (t.final_only) r->final_col = sl_schema_find(&r->schema, "is_final");
    }
    if (!(r->when = compile_node(c.when, &r->schema, r->name, "when", err))) return SL_EINVAL;
    if (sl_expr_type(r->when) != SL_T_BOOL && sl_expr_type(r->when) != SL_T_NULL)
        return sl_node_error(err, c.when, "rule '%s': when must be a condition, got %s", r->name,
                             sl_type_name(sl_expr_type(r->when)));
    if (c.time) {
        r->time_offset_us = 0;
        r->time_end = NULL;
        if (!(r->time_expr = compile_node(c.time, &r->schema, r->name, "time", err)))
            return SL_EINVAL;
        if (sl_expr_type(r->time_expr) != SL_T_TS)
            return sl_node_error(err, c.time, "rule '%s': time must be a timestamp, got %s",
                                 r->name, sl_type_name(sl_expr_type(r->time_expr)));
    } else {
        int tc = def_time ? sl_schema_find(&r->schema, def_time) : -1;
        if (tc < 0 && !def_time)
            for (int i = 0; i < r->schema.n && tc < 0; i++)
                if (r->schema.f[i].type == SL_T_TS) tc = i;
        if (tc < 0)
            return sl_node_error(err, rn,
                                 "rule '%s': table '%s' has no timestamp column: give time: "
                                 "(e.g. from_unixtime_ms(ts_ms))",
                                 r->name, c.table);
        r->time_col = tc;
    }
    for (int i = 0; i < sl_node_list_len(c.key); i++) {
        const sl_node *k = sl_node_list_at(c.key, i);
        int col = k->str ? sl_schema_find(&r->schema, k->str) : -1;
        if (col < 0)
            return sl_node_error(err, k, "rule '%s': key: unknown column '%s' in table '%s'",
                                 r->name, k->str ? k->str : "", c.table);
        if (r->nkey == MAX_KEYCOLS)
            return sl_node_error(err, k, "rule '%s': at most %d key columns", r->name, MAX_KEYCOLS);
        r->keycol[r->nkey++] = col;
    }
    snprintf(r->sev_const, sizeof r->sev_const, "warning");
    if (c.severity) {
        const char *s = c.severity->str ? c.severity->str : "";
        if (!strcmp(s, "info") || !strcmp(s, "warning") || !strcmp(s, "critical")) {
            snprintf(r->sev_const, sizeof r->sev_const, "%s", s);
        } else {
            if (!(r->sev_expr = compile_node(c.severity, &r->schema, r->name, "severity", err)))
                return SL_EINVAL;
            if (sl_expr_type(r->sev_expr) != SL_T_STRING)
                return sl_node_error(err, c.severity,
                                     "rule '%s': severity must be info|warning|critical or a "
                                     "string expression, got %s",
                                     r->name, sl_type_name(sl_expr_type(r->sev_expr)));
        }
    }
    if (c.message && *c.message && compile_template(r, c.message, c.message_at, err))
        return SL_EINVAL;
    r->for_us = c.for_us, r->rate_us = c.rate_limit_us, r->repeat_us = c.repeat_us;
    r->for_count = c.for_count;
    r->resolve = c.resolve;
    if (c.group) {
        group_conf g;
        if (sl_spec_bind(c.group, group_opts, "group", &g, err)) return SL_EINVAL;
        r->group_us = g.window_us, r->max_items = g.max_items;
    }
    r->nchan = -1;
    if (c.channels) {
        r->nchan = 0;
        for (int i = 0; i < sl_node_list_len(c.channels); i++) {
            const sl_node *cn = sl_node_list_at(c.channels, i);
            int ci = a->ch ? sl_channels_find(a->ch, cn->str ? cn->str : "") : -1;
            if (ci < 0)
                return sl_node_error(err, cn, "rule '%s': unknown channel '%s'", r->name,
                                     cn->str ? cn->str : "");
            if (r->nchan < (int)(sizeof r->chan / sizeof *r->chan)) r->chan[r->nchan++] = ci;
        }
    }
    return 0;
}

sl_alerts *sl_alerts_compile(const sl_node *alerts, const char *pipeline, sl_alert_lookup lookup,
                             void *ud, sl_error *err) {
    if (!alerts) return NULL;
    alerts_conf c;
    if (sl_spec_bind(alerts, alerts_opts, "alerts", &c, err)) return NULL;
    sl_alerts *a = sl_xcalloc(1, sizeof *a);
    snprintf(a->pipeline, sizeof a->pipeline, "%s", pipeline);
    if (c.channels && !(a->ch = sl_channels_create(c.channels, err))) goto fail;
    int n = c.rules ? c.rules->n : 0;
    a->r = sl_xcalloc((size_t)(n ? n : 1), sizeof *a->r);
    for (int i = 0; i < n; i++) {
        if (compile_rule(a, &a->r[a->nr], c.rules->seq[i], lookup, ud, err)) {
            a->nr++; /* freed with the others */
            goto fail;
        }
        a->nr++;
    }
    return a;
fail:
    if (!err->code) err->code = SL_EINVAL;
    sl_alerts_free(a);
    return NULL;
}

static void rule_free(sl_alert_rule *r) {
    sl_expr_free(r->when);
    sl_expr_free(r->sev_expr);
    sl_expr_free(r->time_expr);
    for (int i = 0; i < r->nsegs; i++)
        free(r->segs[i].text);
    for (size_t i = 0; i < r->nk; i++) {
        free(r->k[i].key);
        free(r->k[i].labels);
        free(r->k[i].message);
    }
    free(r->k);
    free(r->slot);
    free(r->keep);
    free(r->sev_out.null);
    free(r->sev_out.v.p);
    free(r->time_out.null);
    free(r->time_out.v.p);
    sl_batch_free(r->one);
}

void sl_alerts_free(sl_alerts *a) {
    if (!a) return;
    for (int i = 0; i < a->nr; i++)
        rule_free(&a->r[i]);
    free(a->r);
    sl_channels_free(a->ch);
    sqlite3_finalize(a->st_state);
    sqlite3_finalize(a->st_hist);
    sqlite3_finalize(a->st_hist_sent);
    sqlite3_finalize(a->st_hist_resolve);
    free(a);
}

const sl_channels *sl_alerts_channels(const sl_alerts *a) { return a ? a->ch : NULL; }
int sl_alerts_nrules(const sl_alerts *a) { return a ? a->nr : 0; }
sl_alert_rule *sl_alerts_rule(sl_alerts *a, int i) { return &a->r[i]; }
const char *sl_alert_rule_name(const sl_alert_rule *r) { return r->name; }
const char *sl_alert_rule_table(const sl_alert_rule *r) { return r->table; }

int64_t sl_alerts_firing(const sl_alerts *a, int i) {
    int64_t n = 0;
    for (size_t k = 0; k < a->r[i].nk; k++)
        n += a->r[i].k[k].state == ST_FIRING;
    return n;
}

bool sl_alerts_has_ticks(const sl_alerts *a) {
    for (int i = 0; a && i < a->nr; i++)
        if (!strcmp(a->r[i].table, SL_ALERT_CHECKPOINT)) return true;
    return false;
}

/* ---- key table ---- */

static akey *key_find(sl_alert_rule *r, const char *key, bool create) {
    uint64_t h = hash_str(key, 0x51a7e);
    if (r->nslot) {
        for (size_t i = h & (r->nslot - 1);; i = (i + 1) & (r->nslot - 1)) {
            int32_t s = r->slot[i];
            if (s < 0) break;
            if (!strcmp(r->k[s].key, key)) return &r->k[s];
        }
    }
    if (!create) return NULL;
    if ((r->nk + 1) * 2 > r->nslot) { /* grow and rehash */
        size_t ns = r->nslot ? r->nslot * 2 : 64;
        free(r->slot);
        r->slot = sl_xmalloc(ns * sizeof *r->slot);
        memset(r->slot, 0xff, ns * sizeof *r->slot);
        r->nslot = ns;
        for (size_t j = 0; j < r->nk; j++) {
            size_t i = hash_str(r->k[j].key, 0x51a7e) & (ns - 1);
            while (r->slot[i] >= 0)
                i = (i + 1) & (ns - 1);
            r->slot[i] = (int32_t)j;
        }
    }
    if (r->nk == r->capk) {
        r->capk = r->capk ? r->capk * 2 : 16;
        r->k = sl_xreallocarray(r->k, r->capk, sizeof *r->k);
    }
    akey *k = &r->k[r->nk];
    *k = (akey){.key = sl_xstrdup(key), .since = NO_TIME, .last_sent = NO_TIME, .digest = NO_TIME};
    snprintf(k->severity, sizeof k->severity, "%s", r->sev_const);
    size_t i = h & (r->nslot - 1);
    while (r->slot[i] >= 0)
        i = (i + 1) & (r->nslot - 1);
    r->slot[i] = (int32_t)r->nk++;
    return k;
}

/* ---- store ---- */

static int db_err(sl_alerts *a, sl_error *err, const char *what) {
    return sl_error_set(err, SL_EIO, "alerts: %s: %s", what,
                        a->store ? sqlite3_errmsg(sl_store_db(a->store)) : "no store");
}

static int save_key(sl_alert_rule *r, const akey *k, sl_error *err) {
    sl_alerts *a = r->a;
    sqlite3_stmt *st = a->st_state;
    a->writes++;
    sqlite3_reset(st);
    sqlite3_bind_text(st, 1, r->name, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, k->key, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, k->labels ? k->labels : "{}", -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 4, k->state);
    sqlite3_bind_int64(st, 5, k->since);
    sqlite3_bind_int64(st, 6, k->last_sent);
    sqlite3_bind_int64(st, 7, k->seq);
    sqlite3_bind_int64(st, 8, k->nfired);
    sqlite3_bind_text(st, 9, k->alert_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 10, k->severity, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 11, k->message ? k->message : "", -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 12, k->digest);
    sqlite3_bind_int(st, 13, k->sent_firing);
    sqlite3_bind_int64(st, 14, k->streak);
    if (sqlite3_step(st) != SQLITE_DONE) return db_err(a, err, "saving alert state");
    return 0;
}

int sl_alerts_create_tables(sl_store *s, sl_error *err) {
    int rc = sl_store_exec(
        s,
        "CREATE TABLE IF NOT EXISTS _sluice_alert_state(rule TEXT NOT NULL, key TEXT NOT NULL, "
        "labels TEXT, state INTEGER, since INTEGER, last_sent INTEGER, seq INTEGER, nfired "
        "INTEGER, alert_id TEXT, severity TEXT, message TEXT, digest INTEGER, sent_firing "
        "INTEGER, streak INTEGER, PRIMARY KEY(rule, key));"
        "CREATE TABLE IF NOT EXISTS alert_history(alert_id TEXT PRIMARY KEY, alert_type TEXT, "
        "rule TEXT, alert_key TEXT, labels TEXT, severity TEXT, message TEXT, state TEXT, "
        "created_at TEXT, resolved_at TEXT, channels_sent TEXT, notified_by TEXT, "
        "table_name TEXT);",
        err);
    if (!rc) rc = sl_outbox_init(s, err);
    if (!rc)
        rc = sl_store_exec(
            s,
            "CREATE VIEW IF NOT EXISTS alert_deliveries AS SELECT h.alert_id, h.rule, "
            "h.alert_key, h.state AS alert_state, o.kind, o.channel, o.state AS delivery_state, "
            "o.attempts, o.sent_at, o.last_status, o.last_error, o.idem_key FROM alert_history h "
            "JOIN _sluice_outbox o ON o.alert_id = h.alert_id OR o.alert_id = h.notified_by",
            err);
    return rc;
}

int sl_alerts_open(sl_alerts *a, sl_store *s, sl_error *err) {
    if (!a) return 0;
    a->store = s;
    int rc = sl_alerts_create_tables(s, err);
    if (rc) return rc;
    sqlite3 *db = sl_store_db(s);
    if (sqlite3_prepare_v2(db,
                           "INSERT OR REPLACE INTO _sluice_alert_state VALUES(?,?,?,?,?,?,?,?,?,?,"
                           "?,?,?,?)",
                           -1, &a->st_state, NULL) ||
        sqlite3_prepare_v2(db,
                           "INSERT OR REPLACE INTO alert_history(alert_id, alert_type, rule, "
                           "alert_key, labels, severity, message, state, created_at, "
                           "resolved_at, channels_sent, notified_by, table_name) "
                           "VALUES(?1,?2,?2,?3,?4,?5,?6,'firing',?7,NULL,?8,?9,?10)",
                           -1, &a->st_hist, NULL) ||
        sqlite3_prepare_v2(db,
                           "UPDATE alert_history SET channels_sent = ?2, notified_by = ?3 "
                           "WHERE alert_id = ?1",
                           -1, &a->st_hist_sent, NULL) ||
        sqlite3_prepare_v2(db,
                           "UPDATE alert_history SET state = 'resolved', resolved_at = ?2 "
                           "WHERE alert_id = ?1",
                           -1, &a->st_hist_resolve, NULL))
        return db_err(a, err, "preparing statements");
    sqlite3_stmt *q;
    if (sqlite3_prepare_v2(
            db,
            "SELECT key, labels, state, since, last_sent, seq, nfired, alert_id, "
            "severity, message, digest, sent_firing, streak FROM _sluice_alert_state "
            "WHERE rule = ?",
            -1, &q, NULL))
        return db_err(a, err, "loading alert state");
    for (int i = 0; i < a->nr; i++) {
        sl_alert_rule *r = &a->r[i];
        sqlite3_reset(q);
        sqlite3_bind_text(q, 1, r->name, -1, SQLITE_STATIC);
        while (sqlite3_step(q) == SQLITE_ROW) {
            akey *k = key_find(r, (const char *)sqlite3_column_text(q, 0), true);
            k->labels = sl_xstrdup((const char *)sqlite3_column_text(q, 1));
            k->state = sqlite3_column_int(q, 2);
            k->since = sqlite3_column_int64(q, 3);
            k->last_sent = sqlite3_column_int64(q, 4);
            k->seq = sqlite3_column_int64(q, 5);
            k->nfired = sqlite3_column_int64(q, 6);
            snprintf(k->alert_id, sizeof k->alert_id, "%s", sqlite3_column_text(q, 7));
            snprintf(k->severity, sizeof k->severity, "%s", sqlite3_column_text(q, 8));
            k->message = sl_xstrdup((const char *)sqlite3_column_text(q, 9));
            k->digest = sqlite3_column_int64(q, 10);
            k->sent_firing = sqlite3_column_int(q, 11);
            k->streak = sqlite3_column_int64(q, 12);
            if (k->digest != NO_TIME && (r->digest_min == NO_TIME || k->digest < r->digest_min))
                r->digest_min = k->digest;
        }
    }
    sqlite3_finalize(q);
    return 0;
}

/* ---- notifications ---- */

/* Deterministic: the same transition of the same key gives the same key. */
static void idem_key(const sl_alert_rule *r, const char *key, int64_t seq, const char *kind,
                     const char *channel, char *out, size_t cap) {
    sl_strbuf b = {0};
    sl_strbuf_printf(&b, "%s", r->a->pipeline);
    sl_strbuf_add(&b, "\x1f", 1);
    sl_strbuf_puts(&b, r->name);
    sl_strbuf_add(&b, "\x1f", 1);
    sl_strbuf_puts(&b, key);
    sl_strbuf_printf(&b, "\x1f%" PRId64 "\x1f%s\x1f%s", seq, kind, channel);
    uint64_t h1 = sl_hash_bytes(b.p, b.len, 0x1de3), h2 = sl_hash_bytes(b.p, b.len, 0x7e57);
    snprintf(out, cap, "%s-%016" PRIx64 "%016" PRIx64, kind, h1, h2);
    free(b.p);
}

static bool channel_used(const sl_alert_rule *r, int ci) {
    if (!sl_channels_enabled(r->a->ch, ci)) return false;
    if (r->nchan < 0) return true;
    for (int i = 0; i < r->nchan; i++)
        if (r->chan[i] == ci) return true;
    return false;
}

static void payload(const sl_alert_rule *r, const akey *k, const char *state, const char *alert_id,
                    int64_t started, int64_t resolved, sl_strbuf *b) {
    char ts1[40], ts2[40];
    fmt_ts(started, ts1, sizeof ts1);
    fmt_ts(resolved, ts2, sizeof ts2);
    sl_strbuf_puts(b, "{\"pipeline\":");
    sb_json(b, r->a->pipeline);
    sl_strbuf_puts(b, ",\"rule\":");
    sb_json(b, r->name);
    sl_strbuf_puts(b, ",\"alert_id\":");
    sb_json(b, alert_id);
    sl_strbuf_puts(b, ",\"key\":");
    sb_json(b, k->key);
    sl_strbuf_puts(b, ",\"severity\":");
    sb_json(b, k->severity);
    sl_strbuf_puts(b, ",\"state\":");
    sb_json(b, state);
    char title[256];
    snprintf(title, sizeof title, "[%s] %s%s%s%s",
             !strcmp(state, "resolved") ? "RESOLVED" : "FIRING", r->name, *k->key ? " (" : "",
             k->key, *k->key ? ")" : "");
    sl_strbuf_puts(b, ",\"title\":");
    sb_json(b, title);
    sl_strbuf_puts(b, ",\"message\":");
    sb_json(b, k->message ? k->message : "");
    sl_strbuf_puts(b, ",\"started_at\":");
    sb_json(b, ts1);
    sl_strbuf_puts(b, ",\"resolved_at\":");
    sb_json(b, resolved == NO_TIME ? NULL : ts2);
    sl_strbuf_puts(b, ",\"dedup_key\":");
    char dk[160];
    snprintf(dk, sizeof dk, "%s/%s/%016" PRIx64, r->a->pipeline, r->name, hash_str(k->key, 0xdd));
    sb_json(b, dk);
    sl_strbuf_puts(b, ",\"table\":");
    sb_json(b, r->table);
    sl_strbuf_puts(b, ",\"labels\":");
    sl_strbuf_puts(b, k->labels ? k->labels : "{}");
    sl_strbuf_puts(b, "}");
}

/* One outbox row per channel of the rule; the names sent to into sent. */
static int put_all(sl_alert_rule *r, const char *key, int64_t seq, const char *kind,
                   const char *alert_id, const char *json, int64_t t, sl_strbuf *sent,
                   sl_error *err) {
    if (!r->a->ch) return 0;
    for (int ci = 0; ci < sl_channels_count(r->a->ch); ci++) {
        if (!channel_used(r, ci)) continue;
        const char *name = sl_channels_name(r->a->ch, ci);
        char ik[128];
        idem_key(r, key, seq, kind, name, ik, sizeof ik);
        sl_notification n = {.idem_key = ik,
                             .alert_id = alert_id,
                             .channel = name,
                             .kind = kind,
                             .payload_json = json,
                             .created_us = t};
        int rc = sl_outbox_put(r->a->store, &n, err);
        if (rc) return rc;
        if (sent) {
            if (sent->len) sl_strbuf_add(sent, ",", 1);
            sl_strbuf_puts(sent, name);
        }
    }
    return 0;
}

static int hist_sent(sl_alerts *a, const char *alert_id, const char *sent, const char *by,
                     sl_error *err) {
    sqlite3_stmt *st = a->st_hist_sent;
    sqlite3_reset(st);
    sqlite3_bind_text(st, 1, alert_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, sent ? sent : "", -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, by, -1, SQLITE_STATIC);
    if (sqlite3_step(st) != SQLITE_DONE) return db_err(a, err, "updating alert_history");
    return 0;
}

/* A firing or repeat notification for k now. */
static int notify_key(sl_alert_rule *r, akey *k, const char *kind, int64_t t, sl_error *err) {
    sl_strbuf js = {0}, sent = {0};
    k->seq++;
    payload(r, k, "firing", k->alert_id, k->since, NO_TIME, &js);
    int rc = put_all(r, k->key, k->seq, kind, k->alert_id, js.p, t, &sent, err);
    if (!rc && !strcmp(kind, "firing")) rc = hist_sent(r->a, k->alert_id, sent.p, k->alert_id, err);
    k->last_sent = t;
    k->sent_firing = true;
    free(js.p);
    free(sent.p);
    return rc;
}

static int key_cmp(const void *a, const void *b) {
    return strcmp((*(akey *const *)a)->key, (*(akey *const *)b)->key);
}

/* Sends the digests of every group window that ended at or before t (all when t is NO_TIME). */
static int flush_digests(sl_alert_rule *r, int64_t t, sl_error *err) {
    while (r->digest_min != NO_TIME && (t == NO_TIME || r->digest_min + r->group_us <= t)) {
        int64_t g = r->digest_min, next = NO_TIME;
        int count = 0;
        akey *only = NULL;
        for (size_t i = 0; i < r->nk; i++) {
            akey *k = &r->k[i];
            if (k->digest == g)
                count++, only = k;
            else if (k->digest != NO_TIME && (next == NO_TIME || k->digest < next))
                next = k->digest;
        }
        int rc = 0;
        if (count == 1) {
            only->digest = NO_TIME;
            rc = notify_key(r, only, "firing", only->since, err);
            if (!rc) rc = save_key(r, only, err);
        } else if (count > 1) {
            char did[160], ts[40];
            fmt_ts(g, ts, sizeof ts);
            snprintf(did, sizeof did, "%s-digest-%s", r->name, ts);
            sl_strbuf js = {0}, sent = {0};
            char title[256];
            snprintf(title, sizeof title, "[FIRING] %s: %d alerts", r->name, count);
            sl_strbuf_puts(&js, "{\"pipeline\":");
            sb_json(&js, r->a->pipeline);
            sl_strbuf_puts(&js, ",\"rule\":");
            sb_json(&js, r->name);
            sl_strbuf_puts(&js, ",\"alert_id\":");
            sb_json(&js, did);
            sl_strbuf_puts(&js, ",\"key\":\"\",\"severity\":");
            const char *sev = "info";
            for (size_t i = 0; i < r->nk; i++)
                if (r->k[i].digest == g) {
                    const char *s = r->k[i].severity;
                    if (!strcmp(s, "critical") ||
                        (!strcmp(s, "warning") && strcmp(sev, "critical")))
                        sev = s;
                }
            sb_json(&js, sev);
            sl_strbuf_puts(&js, ",\"state\":\"firing\",\"title\":");
            sb_json(&js, title);
            sl_strbuf_puts(&js, ",\"message\":");
            sb_json(&js, title);
            sl_strbuf_puts(&js, ",\"started_at\":");
            sb_json(&js, ts);
            sl_strbuf_puts(&js, ",\"resolved_at\":null,\"dedup_key\":");
            sb_json(&js, did);
            sl_strbuf_puts(&js, ",\"table\":");
            sb_json(&js, r->table);
            sl_strbuf_puts(&js, ",\"labels\":{},\"items\":[");
            /* items in key order: the same digest whatever order keys were loaded in */
            akey **items = sl_xmalloc((size_t)count * sizeof *items);
            int ni = 0;
            for (size_t i = 0; i < r->nk; i++)
                if (r->k[i].digest == g) items[ni++] = &r->k[i];
            qsort(items, (size_t)ni, sizeof *items, key_cmp);
            for (int i = 0; i < ni && i < r->max_items; i++) {
                akey *k = items[i];
                sl_strbuf_puts(&js, i ? ",{\"key\":" : "{\"key\":");
                sb_json(&js, k->key);
                sl_strbuf_puts(&js, ",\"message\":");
                sb_json(&js, k->message ? k->message : "");
                sl_strbuf_puts(&js, ",\"severity\":");
                sb_json(&js, k->severity);
                sl_strbuf_puts(&js, "}");
            }
            free(items);
            sl_strbuf_printf(&js, "],\"count\":%d}", count);
            rc = put_all(r, "", g, "digest", did, js.p, g + r->group_us, &sent, err);
            for (size_t i = 0; i < r->nk && !rc; i++) {
                akey *k = &r->k[i];
                if (k->digest != g) continue;
                k->digest = NO_TIME;
                k->seq++;
                k->last_sent = k->since;
                k->sent_firing = true;
                rc = hist_sent(r->a, k->alert_id, sent.p, did, err);
                if (!rc) rc = save_key(r, k, err);
            }
            free(js.p);
            free(sent.p);
        }
        if (rc) return rc;
        r->digest_min = next;
    }
    return 0;
}

/* ---- the state machine ---- */

static void render(sl_alert_rule *r, const sl_batch *b, uint32_t row, akey *k) {
    sl_strbuf m = {0};
    char cell[1024];
    bool isnull;
    for (int i = 0; i < r->nsegs; i++) {
        if (r->segs[i].col < 0) {
            sl_strbuf_puts(&m, r->segs[i].text);
        } else {
            cell_text(&b->col[r->segs[i].col], row, cell, sizeof cell, &isnull);
            sl_strbuf_puts(&m, isnull ? "NULL" : cell);
        }
    }
    if (!r->nsegs) sl_strbuf_printf(&m, "%s%s%s", r->name, *k->key ? " " : "", k->key);
    free(k->message);
    k->message = m.p ? m.p : sl_xstrdup("");
    if (r->sev_expr) {
        if (r->sev_out.null[row]) {
            snprintf(k->severity, sizeof k->severity, "warning");
        } else {
            sl_str s = r->sev_out.v.s[row];
            snprintf(k->severity, sizeof k->severity, "%.*s", (int)s.len, s.ptr);
        }
    }
    sl_strbuf l = {0};
    sl_strbuf_puts(&l, "{");
    for (int i = 0; i < r->nkey; i++) {
        const sl_column *c = &b->col[r->keycol[i]];
        if (i) sl_strbuf_puts(&l, ",");
        sb_json(&l, r->schema.f[r->keycol[i]].name);
        sl_strbuf_puts(&l, ":");
        cell_text(c, row, cell, sizeof cell, &isnull);
        if (isnull)
            sl_strbuf_puts(&l, "null");
        else if (c->type == SL_T_INT || c->type == SL_T_DOUBLE || c->type == SL_T_BOOL)
            sl_strbuf_puts(&l, cell);
        else
            sb_json(&l, cell);
    }
    sl_strbuf_puts(&l, "}");
    free(k->labels);
    k->labels = l.p;
}

static int fire(sl_alert_rule *r, akey *k, const sl_batch *b, uint32_t row, int64_t t,
                sl_error *err) {
    sl_alerts *a = r->a;
    k->state = ST_FIRING;
    k->since = t;
    k->nfired++;
    k->sent_firing = false;
    snprintf(k->alert_id, sizeof k->alert_id, "%.40s-%016" PRIx64 "-%" PRId64, r->name,
             hash_str(k->key, 0xa1e7), k->nfired);
    render(r, b, row, k);
    char ts[40];
    fmt_ts(t, ts, sizeof ts);
    sqlite3_stmt *st = a->st_hist;
    sqlite3_reset(st);
    sqlite3_bind_text(st, 1, k->alert_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, r->name, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, k->key, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, k->labels, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 5, k->severity, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 6, k->message, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 7, ts, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 8, "", -1, SQLITE_STATIC);
    sqlite3_bind_null(st, 9);
    sqlite3_bind_text(st, 10, r->table, -1, SQLITE_STATIC);
    if (sqlite3_step(st) != SQLITE_DONE) return db_err(a, err, "writing alert_history");
    if (r->rate_us && k->last_sent != NO_TIME && t - k->last_sent < r->rate_us)
        return 0; /* rate limited: in the history, not sent */
    if (r->group_us) {
        k->digest = sl_floor_div(t, r->group_us) * r->group_us;
        if (r->digest_min == NO_TIME || k->digest < r->digest_min) r->digest_min = k->digest;
        return 0;
    }
    return notify_key(r, k, "firing", t, err);
}

static int resolve(sl_alert_rule *r, akey *k, int64_t t, sl_error *err) {
    sl_alerts *a = r->a;
    k->state = ST_INACTIVE;
    char ts[40];
    fmt_ts(t, ts, sizeof ts);
    sqlite3_stmt *st = a->st_hist_resolve;
    sqlite3_reset(st);
    sqlite3_bind_text(st, 1, k->alert_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, ts, -1, SQLITE_TRANSIENT);
    if (sqlite3_step(st) != SQLITE_DONE) return db_err(a, err, "resolving in alert_history");
    k->digest = NO_TIME; /* resolved before its digest went out: nothing to say */
    if (!k->sent_firing) return 0;
    k->sent_firing = false;
    k->seq++;
    sl_strbuf js = {0};
    payload(r, k, "resolved", k->alert_id, k->since, t, &js);
    int rc = put_all(r, k->key, k->seq, "resolved", k->alert_id, js.p, t, NULL, err);
    free(js.p);
    return rc;
}

/* One row: cond is the condition's value, t the rule's clock. */
static int step_row(sl_alert_rule *r, const sl_batch *b, uint32_t row, const char *key, bool cond,
                    int64_t t, sl_error *err) {
    akey *k = key_find(r, key, cond);
    if (!k) return 0;
    int rc = 0;
    bool changed = false;
    if (cond) {
        switch (k->state) {
        case ST_INACTIVE:
            k->since = t;
            k->streak = 1;
            if (r->for_us == 0 && r->for_count <= 1) {
                rc = fire(r, k, b, row, t, err);
            } else {
                k->state = ST_PENDING;
            }
            changed = true;
            break;
        case ST_PENDING:
            /* the streak only matters up to for_count: it is saved (a restart
             * continues it) only while it still counts */
            if (k->streak < r->for_count) {
                k->streak++;
                changed = true;
            }
            if (t - k->since >= r->for_us && k->streak >= r->for_count) {
                rc = fire(r, k, b, row, t, err);
                changed = true;
            }
            break;
        case ST_FIRING: {
            int64_t every = r->repeat_us > r->rate_us ? r->repeat_us : r->rate_us;
            if (r->repeat_us && k->digest == NO_TIME &&
                (k->last_sent == NO_TIME || t - k->last_sent >= every)) {
                render(r, b, row, k);
                rc = notify_key(r, k, "repeat", t, err);
                changed = true;
            }
            break;
        }
        }
    } else if (k->state == ST_PENDING) {
        k->state = ST_INACTIVE;
        k->streak = 0;
        changed = true;
    } else if (k->state == ST_FIRING && r->resolve) {
        rc = resolve(r, k, t, err);
        changed = true;
    }
    if (!rc && changed) rc = save_key(r, k, err);
    return rc;
}

static void ensure_cols(sl_alert_rule *r, uint32_t cap) {
    if (cap <= r->out_cap) return;
    r->keep = sl_xrealloc(r->keep, cap);
    r->sev_out.type = SL_T_STRING;
    r->sev_out.null = sl_xrealloc(r->sev_out.null, cap);
    r->sev_out.v.p = sl_xrealloc(r->sev_out.v.p, cap * sizeof(sl_str));
    r->time_out.type = SL_T_TS;
    r->time_out.null = sl_xrealloc(r->time_out.null, cap);
    r->time_out.v.p = sl_xrealloc(r->time_out.v.p, cap * sizeof(int64_t));
    r->out_cap = cap;
}

/* Every row of b through the rule. The expressions' scratch strings go to
 * b's arena, as for a filter step (b is the table's work batch). */
static int rule_rows(sl_alert_rule *r, sl_batch *b, sl_error *err) {
    if (!b->n) return 0;
    ensure_cols(r, b->cap > b->n ? b->cap : b->n);
    if (sl_expr_eval_bool(r->when, b, r->keep) ||
        (r->sev_expr && sl_expr_eval(r->sev_expr, b, &r->sev_out)) ||
        (r->time_expr && sl_expr_eval(r->time_expr, b, &r->time_out)))
        return sl_error_set(err, SL_EINVAL, "rule '%s': evaluating failed", r->name);
    const sl_column *tc = r->time_expr ? &r->time_out : &b->col[r->time_col];
    char key[KEY_MAX], cell[KEY_MAX];
    for (uint32_t row = 0; row < b->n; row++) {
        if (r->final_col >= 0) {
            const sl_column *f = &b->col[r->final_col];
            if (f->null[row] || !f->v.b[row]) continue;
        }
        if (tc->null[row]) continue; /* no clock: the row says nothing */
        int64_t t = r->time_end ? r->time_end(r->time_end_ud, tc->v.i[row])
                                : tc->v.i[row] + r->time_offset_us;
        int rc = flush_digests(r, t, err);
        if (rc) return rc;
        size_t kn = 0;
        key[0] = 0;
        for (int i = 0; i < r->nkey; i++) {
            bool isnull;
            size_t n = cell_text(&b->col[r->keycol[i]], row, cell, sizeof cell, &isnull);
            if (isnull) n = (size_t)snprintf(cell, sizeof cell, "NULL");
            if (kn + n + 2 >= sizeof key) n = sizeof key - kn - 2;
            if (i) key[kn++] = '|';
            memcpy(key + kn, cell, n);
            kn += n;
            key[kn] = 0;
        }
        if ((rc = step_row(r, b, row, key, r->keep[row] != 0, t, err))) return rc;
    }
    return 0;
}

int sl_alerts_finish(sl_alerts *a, sl_error *err) {
    for (int i = 0; a && i < a->nr; i++) {
        int rc = flush_digests(&a->r[i], NO_TIME, err);
        if (rc) return rc;
    }
    return 0;
}

/* ---- built-in tables ---- */

static sl_batch *one_row(sl_alert_rule *r) {
    if (!r->one) r->one = sl_batch_new(&r->schema, 1);
    sl_batch_clear(r->one);
    sl_batch_append_null_row(r->one);
    return r->one;
}

int sl_alerts_on_event(sl_alerts *a, const sl_event *e, int64_t ts_us, sl_error *err) {
    for (int i = 0; a && i < a->nr; i++) {
        sl_alert_rule *r = &a->r[i];
        if (strcmp(r->table, SL_ALERT_EVENTS)) continue;
        sl_batch *b = one_row(r);
        sl_col_set_int(&b->col[0], 0, e->commit_id);
        sl_col_set_int(&b->col[1], 0, ts_us);
        sl_col_set_str(&b->col[2], 0, e->kind, (uint32_t)strlen(e->kind));
        int64_t ints[] = {e->records_in, e->parse_errors, e->quarantined, e->late,
                          e->duplicates, e->filtered,     e->dropped};
        for (int c = 0; c < 7; c++)
            sl_col_set_int(&b->col[3 + c], 0, ints[c]);
        if (e->watermark_us != INT64_MIN) sl_col_set_int(&b->col[10], 0, e->watermark_us);
        double ds[] = {e->lag_avg_ms, e->lag_max_ms, e->proc_ms, e->commit_ms};
        for (int c = 0; c < 4; c++)
            if (ds[c] == ds[c]) sl_col_set_double(&b->col[11 + c], 0, ds[c]); /* NAN: NULL */
        if (e->consumer_lag >= 0) sl_col_set_int(&b->col[15], 0, e->consumer_lag);
        int rc = rule_rows(r, b, err);
        if (rc) return rc;
    }
    return 0;
}

int sl_alerts_tick(sl_alerts *a, int64_t now_us, double checkpoint_age_s, int64_t commit_id,
                   bool *wrote, sl_error *err) {
    for (int i = 0; a && i < a->nr; i++) {
        sl_alert_rule *r = &a->r[i];
        if (strcmp(r->table, SL_ALERT_CHECKPOINT)) continue;
        int64_t before = a->writes;
        sl_batch *b = one_row(r);
        sl_col_set_int(&b->col[0], 0, now_us);
        sl_col_set_double(&b->col[1], 0, checkpoint_age_s);
        sl_col_set_int(&b->col[2], 0, commit_id);
        int rc = rule_rows(r, b, err);
        if (rc) return rc;
        if (a->writes != before) *wrote = true;
    }
    return 0;
}

/* ---- the sink ---- */

static int rs_create(const sl_node *arg, const sl_sink_env *env, void **self, sl_error *err) {
    (void)arg, (void)env, (void)self;
    return sl_error_set(err, SL_EINVAL, "alert rules are written under alerts: rules:");
}
static int rs_open(void *self, const sl_sink_env *env, sl_error *err) {
    (void)self, (void)env, (void)err;
    return 0; /* sl_alerts_open loaded every rule */
}
static int rs_write(void *self, const sl_batch *b, const char *const *part_names, sl_error *err) {
    (void)part_names;
    return rule_rows(self, (sl_batch *)b, err);
}
static void rs_destroy(void *self) { (void)self; }

const sl_sink_def sl_alert_rule_sink = {
    .name = "alert",
    .help = "an alert rule (alerts: rules:) watching the table's rows",
    .create = rs_create,
    .open = rs_open,
    .write = rs_write,
    .destroy = rs_destroy,
};
