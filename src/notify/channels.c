/*
 * channels.c - the `alerts: channels:` map bound through one option table
 * per channel type, copied into owned strings.
 */
#include <stdlib.h>
#include <string.h>

#include "core/mem.h"
#include "notify/internal.h"

#define TYPES "slack|teams|email|pagerduty|webhook"

typedef struct ch_conf {
    int type;
    const char *url, *server, *username, *password, *from, *routing_key, *secret;
    char ca_file[SL_PATH_MAX]; /* "": the system's CAs */
    const sl_node *to;
    bool starttls;
    int card;
    int64_t timeout_us, give_up_us, max_backoff_us;
} ch_conf;

/* Rows every type takes. */
// clang-format off
#define COMMON_ROWS                                                                                \
    {"type", SL_OPT_ENUM, true, TYPES, NULL, "the service this channel talks to",                  \
     SL_OPT_BIND(ch_conf, type)},                                                                  \
    {"timeout", SL_OPT_DURATION, false, NULL, "10s", "limit of one attempt (connect + answer)",     \
     SL_OPT_BIND(ch_conf, timeout_us), SL_OPT_RANGE(100000, 600e6)},                               \
    {"give_up_after", SL_OPT_DURATION, false, NULL, "1h",                                          \
     "a notification still failing this long after it was created is marked failed",              \
     SL_OPT_BIND(ch_conf, give_up_us), SL_OPT_MIN(1e6)},                                           \
    {"max_backoff", SL_OPT_DURATION, false, NULL, "5m",                                            \
     "longest wait between two attempts (the backoff doubles from 500ms up to it)",               \
     SL_OPT_BIND(ch_conf, max_backoff_us), SL_OPT_RANGE(100000, 86400e6)},                         \
    {"ca_file", SL_OPT_PATH, false, NULL, NULL,                                                    \
     "PEM file of the CAs to trust instead of the system's (a private CA)",                       \
     SL_OPT_BIND(ch_conf, ca_file)}
// clang-format on

static const sl_opt slack_opts[] = {
    COMMON_ROWS,
    {"url", SL_OPT_STRING, true, NULL, NULL,
     "incoming webhook URL (https://hooks.slack.com/services/...); empty: channel off",
     SL_OPT_BIND(ch_conf, url)},
    {0}};
static const sl_opt teams_opts[] = {
    COMMON_ROWS,
    {"url", SL_OPT_STRING, true, NULL, NULL, "incoming webhook / Workflows URL; empty: channel off",
     SL_OPT_BIND(ch_conf, url)},
    {"card", SL_OPT_ENUM, false, "adaptive|messagecard", "adaptive",
     "adaptive: an Adaptive Card attachment (Workflows); messagecard: a legacy MessageCard",
     SL_OPT_BIND(ch_conf, card)},
    {0}};
static const sl_opt email_opts[] = {
    COMMON_ROWS,
    {"server", SL_OPT_STRING, true, NULL, NULL,
     "smtp://host:port (or smtps:// for implicit TLS); empty: channel off",
     SL_OPT_BIND(ch_conf, server)},
    {"starttls", SL_OPT_BOOL, false, NULL, "false",
     "require STARTTLS before anything is sent (fails rather than send in clear)",
     SL_OPT_BIND(ch_conf, starttls)},
    {"username", SL_OPT_STRING, false, NULL, NULL, "SMTP AUTH user (none: no AUTH)",
     SL_OPT_BIND(ch_conf, username)},
    {"password", SL_OPT_STRING, false, NULL, NULL, "SMTP AUTH password (never logged)",
     SL_OPT_BIND(ch_conf, password)},
    {"from", SL_OPT_STRING, false, NULL, "sluice@localhost",
     "sender: an address, or Name <address>", SL_OPT_BIND(ch_conf, from)},
    {"to", SL_OPT_LIST, false, NULL, NULL, "recipients (a list, or one comma-separated value)",
     SL_OPT_BIND(ch_conf, to)},
    {0}};
static const sl_opt pagerduty_opts[] = {
    COMMON_ROWS,
    {"url", SL_OPT_STRING, false, NULL, "https://events.pagerduty.com/v2/enqueue",
     "Events API v2 endpoint; empty: channel off", SL_OPT_BIND(ch_conf, url)},
    {"routing_key", SL_OPT_STRING, true, NULL, NULL,
     "the service's integration (routing) key; empty: channel off",
     SL_OPT_BIND(ch_conf, routing_key)},
    {0}};
static const sl_opt webhook_opts[] = {
    COMMON_ROWS,
    {"url", SL_OPT_STRING, true, NULL, NULL, "where the payload is POSTed; empty: channel off",
     SL_OPT_BIND(ch_conf, url)},
    {"secret", SL_OPT_STRING, false, NULL, NULL,
     "HMAC-SHA256 key of the X-Sluice-Signature header (none: no header)",
     SL_OPT_BIND(ch_conf, secret)},
    {0}};

static const sl_opt *const type_opts[SL__CH_NTYPES] = {slack_opts, teams_opts, email_opts,
                                                       pagerduty_opts, webhook_opts};
static const char *const type_names[SL__CH_NTYPES] = {"slack", "teams", "email", "pagerduty",
                                                      "webhook"};

const char *sl__notify_type_name(int type) {
    return type >= 0 && type < SL__CH_NTYPES ? type_names[type] : "?";
}

int sl_notify_opt_tables(sl_opt_table *out, int cap) {
    for (int i = 0; i < SL__CH_NTYPES && i < cap; i++)
        out[i] = (sl_opt_table){"channel", type_names[i], type_opts[i]};
    return SL__CH_NTYPES;
}

static char *dup_or_empty(const char *s) { return sl_xstrdup(s ? s : ""); }

/* host[:port] of scheme://[user[:pass]@]host[:port]/path, for logs. */
static void host_of(const char *url, char *out, size_t cap) {
    const char *p = strstr(url, "://");
    p = p ? p + 3 : url;
    size_t n = strcspn(p, "/?#");
    const char *at = memchr(p, '@', n);
    if (at) {
        n -= (size_t)(at + 1 - p);
        p = at + 1;
    }
    if (n >= cap) n = cap - 1;
    memcpy(out, p, n);
    out[n] = 0;
}

static bool has_scheme(const char *s, const char *a, const char *b) {
    return !strncmp(s, a, strlen(a)) || (b && !strncmp(s, b, strlen(b)));
}

static int bind_one(sl__notify_channel *c, const sl_map_entry *e, sl_error *err) {
    char what[160];
    snprintf(what, sizeof what, "channel '%s'", e->key);
    const sl_node *map = e->val;
    if (!map || map->kind != SL_NODE_MAP)
        return sl_node_error(err, map, "%s must be a map (type: slack|teams|...), got %s", what,
                             map ? sl_node_kind_name(map->kind) : "nothing");
    const sl_node *tn = sl_node_get(map, "type");
    if (!tn) return sl_node_error(err, map, "%s: missing key 'type' (%s)", what, TYPES);
    int type = -1;
    for (int i = 0; i < SL__CH_NTYPES; i++)
        if (tn->str && !strcmp(tn->str, type_names[i])) type = i;
    if (type < 0)
        return sl_node_error(err, tn, "%s: type must be one of %s, got '%s'", what, TYPES,
                             tn->str ? tn->str : sl_node_kind_name(tn->kind));
    ch_conf cf;
    memset(&cf, 0, sizeof cf);
    int rc = sl_spec_bind(map, type_opts[type], what, &cf, err);
    if (rc) return rc;
    c->name = sl_xstrdup(e->key);
    c->type = type;
    c->url = dup_or_empty(cf.url);
    c->server = dup_or_empty(cf.server);
    c->username = dup_or_empty(cf.username);
    c->password = dup_or_empty(cf.password);
    c->from = dup_or_empty(cf.from);
    c->routing_key = dup_or_empty(cf.routing_key);
    c->secret = dup_or_empty(cf.secret);
    c->ca_file = dup_or_empty(cf.ca_file);
    c->starttls = cf.starttls;
    c->card = cf.card;
    c->timeout_us = cf.timeout_us;
    c->give_up_us = cf.give_up_us;
    c->max_backoff_us = cf.max_backoff_us;
    rc = sl_node_str_list(cf.to, what, &c->to, &c->nto, err);
    if (rc) return rc;
    const char *addr = type == SL__CH_EMAIL ? c->server : c->url;
    c->enabled = addr[0] != 0 && (type != SL__CH_PAGERDUTY || c->routing_key[0]);
    host_of(addr, c->host, sizeof c->host);
    if (!c->enabled) return 0;
    const sl_node *an = sl_node_get(map, type == SL__CH_EMAIL ? "server" : "url");
    if (type == SL__CH_EMAIL) {
        if (!has_scheme(addr, "smtp://", "smtps://"))
            return sl_node_error(err, an, "%s: server must start with smtp:// or smtps://", what);
        if (c->nto == 0)
            return sl_node_error(err, map, "%s: an email channel with a server needs 'to'", what);
        if (!c->from[0]) return sl_node_error(err, map, "%s: 'from' is empty", what);
    } else if (!has_scheme(addr, "http://", "https://")) {
        /* the value is not repeated: it may hold a token */
        return sl_node_error(err, an, "%s: url must start with http:// or https://", what);
    }
    return 0;
}

static void free_channel(sl__notify_channel *c) {
    free(c->name);
    free(c->url);
    free(c->server);
    free(c->username);
    if (c->password) memset(c->password, 0, strlen(c->password));
    free(c->password);
    free(c->from);
    free(c->routing_key);
    free(c->secret);
    free(c->ca_file);
    sl_kv_list_free(c->to, c->nto);
}

sl_channels *sl_channels_create(const sl_node *map, sl_error *err) {
    sl_channels *c = sl_xcalloc(1, sizeof *c);
    if (!map || sl_node_is_null(map)) return c;
    if (map->kind != SL_NODE_MAP) {
        sl_node_error(err, map, "alerts: channels must be a map of name: {type: ...}, got %s",
                      sl_node_kind_name(map->kind));
        free(c);
        return NULL;
    }
    c->ch = sl_xcalloc((size_t)map->n + 1, sizeof *c->ch);
    for (int i = 0; i < map->n; i++) {
        int rc = bind_one(&c->ch[c->n], &map->map[i], err);
        c->n++; /* a half-bound channel is freed with the others */
        if (rc) {
            sl_channels_free(c);
            return NULL;
        }
    }
    return c;
}

void sl_channels_free(sl_channels *c) {
    if (!c) return;
    for (int i = 0; i < c->n; i++)
        free_channel(&c->ch[i]);
    free(c->ch);
    free(c);
}

int sl_channels_count(const sl_channels *c) { return c ? c->n : 0; }
const char *sl_channels_name(const sl_channels *c, int i) {
    return c && i >= 0 && i < c->n ? c->ch[i].name : NULL;
}
bool sl_channels_enabled(const sl_channels *c, int i) {
    return c && i >= 0 && i < c->n && c->ch[i].enabled;
}
int sl_channels_find(const sl_channels *c, const char *name) {
    for (int i = 0; c && name && i < c->n; i++)
        if (!strcmp(c->ch[i].name, name)) return i;
    return -1;
}
