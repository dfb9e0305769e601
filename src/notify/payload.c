/*
 * payload.c - the request body of each service, built from the outbox
 * payload (the shapes Slack, Teams, PagerDuty and mail readers document),
 * the webhook signature and the backoff schedule.
 */
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "core/mem.h"
#include "notify/internal.h"

typedef struct alert_view {
    const sl__jv *root;
    const char *kind, *state, *title, *message, *severity, *pipeline, *rule, *key, *table;
    const char *started, *resolved, *dedup, *alert_id;
    const sl__jv *labels, *items;
    bool resolved_state, digest, test;
} alert_view;

static void view_of(const sl__jv *root, const char *kind, alert_view *a) {
    a->root = root;
    a->kind = kind;
    a->state = sl__json_str(root, "state");
    a->title = sl__json_str(root, "title");
    a->message = sl__json_str(root, "message");
    a->severity = sl__json_str(root, "severity");
    a->pipeline = sl__json_str(root, "pipeline");
    a->rule = sl__json_str(root, "rule");
    a->key = sl__json_str(root, "key");
    a->table = sl__json_str(root, "table");
    a->started = sl__json_str(root, "started_at");
    a->resolved = sl__json_str(root, "resolved_at");
    a->dedup = sl__json_str(root, "dedup_key");
    a->alert_id = sl__json_str(root, "alert_id");
    a->labels = sl__json_get(root, "labels");
    if (a->labels && a->labels->t != SL__J_OBJ) a->labels = NULL;
    a->items = sl__json_get(root, "items");
    if (a->items && a->items->t != SL__J_ARR) a->items = NULL;
    a->resolved_state = !strcmp(kind, "resolved") || !strcmp(a->state, "resolved");
    a->digest = !strcmp(kind, "digest");
    a->test = !strcmp(kind, "test");
}

/* "[FIRING]", "[RESOLVED]", "[TEST]", "[FIRING x12]", "[STILL FIRING]". */
static void tag_of(const alert_view *a, char *out, size_t cap) {
    if (a->test)
        snprintf(out, cap, "[TEST]");
    else if (a->digest)
        snprintf(out, cap, "[%s x%d]", a->resolved_state ? "RESOLVED" : "FIRING",
                 a->items ? a->items->n : 0);
    else if (a->resolved_state)
        snprintf(out, cap, "[RESOLVED]");
    else if (!strcmp(a->kind, "repeat"))
        snprintf(out, cap, "[STILL FIRING]");
    else
        snprintf(out, cap, "[FIRING]");
}

static const char *title_or_rule(const alert_view *a) {
    return a->title[0] ? a->title : a->rule[0] ? a->rule : "alert";
}

/* A label value as text (strings as is, others as their JSON). */
static void label_text(const sl__jv *v, sl_strbuf *out) {
    if (v->t == SL__J_STR || v->t == SL__J_NUM || v->t == SL__J_BOOL)
        sl_strbuf_puts(out, v->s);
    else if (v->t == SL__J_NULL)
        sl_strbuf_puts(out, "null");
    else
        sl__json_write(out, v);
}

/* The facts every card shows: name/value pairs (owned by the caller's buffers). */
typedef struct fact {
    const char *name;
    char *value; /* malloc'd */
} fact;

static int facts_of(const alert_view *a, fact *f, int cap) {
    int n = 0;
#define ADD(nm, val)                                                                               \
    do {                                                                                           \
        if ((val)[0] && n < cap) f[n++] = (fact){nm, sl_xstrdup(val)};                             \
    } while (0)
    ADD("Severity", a->severity);
    ADD("Pipeline", a->pipeline);
    ADD("Rule", a->rule);
    ADD("Key", a->key);
    ADD("Table", a->table);
    ADD("Started", a->started);
    ADD("Resolved", a->resolved);
#undef ADD
    for (int i = 0; a->labels && i < a->labels->n && n < cap; i++) {
        sl_strbuf v = {0};
        label_text(&a->labels->kids[i], &v);
        f[n++] = (fact){a->labels->keys[i], v.p ? v.p : sl_xstrdup("")};
    }
    return n;
}

static void free_facts(fact *f, int n) {
    for (int i = 0; i < n; i++)
        free(f[i].value);
}

/* The digest's items as lines "key (severity): message", at most max_lines. */
static void items_text(const alert_view *a, sl_strbuf *out, const char *bullet, int max_lines) {
    int n = a->items ? a->items->n : 0;
    for (int i = 0; i < n && i < max_lines; i++) {
        const sl__jv *it = &a->items->kids[i];
        const char *k = sl__json_str(it, "key"), *s = sl__json_str(it, "severity");
        sl_strbuf_printf(out, "%s%s%s%s%s: %s\n", bullet, k, s[0] ? " (" : "", s, s[0] ? ")" : "",
                         sl__json_str(it, "message"));
    }
    if (n > max_lines) sl_strbuf_printf(out, "... and %d more\n", n - max_lines);
}

/* ---- Slack: Block Kit blocks plus the `text` notifications fall back to ---- */
static void build_slack(const alert_view *a, sl_strbuf *b) {
    char tag[48];
    tag_of(a, tag, sizeof tag);
    const char *icon = a->test             ? ":wave:"
                       : a->resolved_state ? ":white_check_mark:"
                                           : ":rotating_light:";
    sl_strbuf head = {0}, fb = {0};
    sl_strbuf_printf(&head, "%s %s %s", icon, tag, title_or_rule(a));
    sl_strbuf_printf(&fb, "%s %s: %s", tag, title_or_rule(a), a->message);
    sl_strbuf_puts(b, "{\"text\":");
    sl_strbuf_json(b, fb.p, 3000);
    /* header text: plain_text of at most 150 characters */
    sl_strbuf_puts(b,
                   ",\"blocks\":[{\"type\":\"header\",\"text\":{\"type\":\"plain_text\",\"text\":");
    sl_strbuf_json(b, head.p, 150);
    sl_strbuf_puts(b, ",\"emoji\":true}}");
    if (a->message[0]) {
        sl_strbuf_puts(b, ",{\"type\":\"section\",\"text\":{\"type\":\"mrkdwn\",\"text\":");
        sl_strbuf_json(b, a->message, 3000);
        sl_strbuf_puts(b, "}}");
    }
    fact f[10]; /* a section holds at most 10 fields */
    int nf = facts_of(a, f, 10);
    if (nf) {
        sl_strbuf_puts(b, ",{\"type\":\"section\",\"fields\":[");
        for (int i = 0; i < nf; i++) {
            sl_strbuf t = {0};
            sl_strbuf_printf(&t, "*%s*\n%s", f[i].name, f[i].value);
            sl_strbuf_puts(b, i ? ",{\"type\":\"mrkdwn\",\"text\":"
                                : "{\"type\":\"mrkdwn\",\"text\":");
            sl_strbuf_json(b, t.p, 2000);
            sl_strbuf_puts(b, "}");
            sl_strbuf_free(&t);
        }
        sl_strbuf_puts(b, "]}");
    }
    free_facts(f, nf);
    if (a->items && a->items->n) {
        sl_strbuf t = {0};
        items_text(a, &t, "- ", 20);
        sl_strbuf_puts(b, ",{\"type\":\"section\",\"text\":{\"type\":\"mrkdwn\",\"text\":");
        sl_strbuf_json(b, t.p, 3000);
        sl_strbuf_puts(b, "}}");
        sl_strbuf_free(&t);
    }
    sl_strbuf ctx = {0};
    sl_strbuf_printf(&ctx, "Sluice pipeline %s%s%s", a->pipeline[0] ? a->pipeline : "?",
                     a->alert_id[0] ? " | alert " : "", a->alert_id);
    sl_strbuf_puts(b, ",{\"type\":\"context\",\"elements\":[{\"type\":\"mrkdwn\",\"text\":");
    sl_strbuf_json(b, ctx.p, 2000);
    sl_strbuf_puts(b, "}]}]}");
    sl_strbuf_free(&ctx);
    sl_strbuf_free(&head);
    sl_strbuf_free(&fb);
}

/* ---- Teams: an Adaptive Card attachment, or a legacy MessageCard ---- */
static void build_teams(const alert_view *a, int card, sl_strbuf *b) {
    char tag[48];
    tag_of(a, tag, sizeof tag);
    sl_strbuf head = {0};
    sl_strbuf_printf(&head, "%s %s", tag, title_or_rule(a));
    fact f[24];
    int nf = facts_of(a, f, 24);
    sl_strbuf items = {0};
    if (a->items && a->items->n) items_text(a, &items, "- ", 50);
    if (card == SL__CARD_MESSAGECARD) {
        sl_strbuf_puts(b,
                       "{\"@type\":\"MessageCard\",\"@context\":\"https://schema.org/extensions\","
                       "\"summary\":");
        sl_strbuf_json(b, head.p, 200);
        sl_strbuf_printf(b, ",\"themeColor\":\"%s\",\"title\":",
                         a->resolved_state ? "2EB886"
                         : a->test         ? "0076D7"
                                           : "D70000");
        sl_strbuf_json(b, head.p, 0);
        sl_strbuf_puts(b, ",\"text\":");
        sl_strbuf_json(b, a->message, 0);
        sl_strbuf_puts(b, ",\"sections\":[{\"facts\":[");
        for (int i = 0; i < nf; i++) {
            sl_strbuf_puts(b, i ? ",{\"name\":" : "{\"name\":");
            sl_strbuf_json(b, f[i].name, 0);
            sl_strbuf_puts(b, ",\"value\":");
            sl_strbuf_json(b, f[i].value, 0);
            sl_strbuf_puts(b, "}");
        }
        sl_strbuf_puts(b, "]}");
        if (items.len) {
            sl_strbuf_puts(b, ",{\"text\":");
            sl_strbuf_json(b, items.p, 0);
            sl_strbuf_puts(b, "}");
        }
        sl_strbuf_puts(b, "]}");
    } else {
        sl_strbuf_puts(b, "{\"type\":\"message\",\"attachments\":[{\"contentType\":"
                          "\"application/vnd.microsoft.card.adaptive\",\"contentUrl\":null,"
                          "\"content\":{\"$schema\":\"http://adaptivecards.io/schemas/"
                          "adaptive-card.json\",\"type\":\"AdaptiveCard\",\"version\":\"1.4\","
                          "\"body\":[{\"type\":\"TextBlock\",\"size\":\"Medium\",\"weight\":"
                          "\"Bolder\",\"wrap\":true,");
        sl_strbuf_printf(b, "\"color\":\"%s\",\"text\":",
                         a->resolved_state ? "Good"
                         : a->test         ? "Accent"
                                           : "Attention");
        sl_strbuf_json(b, head.p, 0);
        sl_strbuf_puts(b, "}");
        if (a->message[0]) {
            sl_strbuf_puts(b, ",{\"type\":\"TextBlock\",\"wrap\":true,\"text\":");
            sl_strbuf_json(b, a->message, 0);
            sl_strbuf_puts(b, "}");
        }
        if (nf) {
            sl_strbuf_puts(b, ",{\"type\":\"FactSet\",\"facts\":[");
            for (int i = 0; i < nf; i++) {
                sl_strbuf_puts(b, i ? ",{\"title\":" : "{\"title\":");
                sl_strbuf_json(b, f[i].name, 0);
                sl_strbuf_puts(b, ",\"value\":");
                sl_strbuf_json(b, f[i].value, 0);
                sl_strbuf_puts(b, "}");
            }
            sl_strbuf_puts(b, "]}");
        }
        if (items.len) {
            sl_strbuf_puts(b, ",{\"type\":\"TextBlock\",\"wrap\":true,\"text\":");
            sl_strbuf_json(b, items.p, 0);
            sl_strbuf_puts(b, "}");
        }
        sl_strbuf_puts(b, "]}}]}");
    }
    free_facts(f, nf);
    sl_strbuf_free(&items);
    sl_strbuf_free(&head);
}

/* ---- PagerDuty Events API v2 ---- */
static const char *pd_severity(const char *s) {
    static const char *const map[][2] = {
        {"critical", "critical"}, {"crit", "critical"}, {"fatal", "critical"},
        {"error", "error"},       {"err", "error"},     {"high", "error"},
        {"warning", "warning"},   {"warn", "warning"},  {"medium", "warning"}};
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
        if (!strcasecmp(s, map[i][0])) return map[i][1];
    return "info";
}

static void build_pagerduty(const sl__notify_channel *ch, const alert_view *a, const char *idem,
                            bool resolve, sl_strbuf *b) {
    /* dedup_key ties trigger and resolve of one alert together; the
     * idempotency key of this notification is a different thing */
    const char *dedup = a->dedup[0] ? a->dedup : a->alert_id[0] ? a->alert_id : idem;
    sl_strbuf_puts(b, "{\"routing_key\":");
    sl_strbuf_json(b, ch->routing_key, 0);
    sl_strbuf_printf(b, ",\"event_action\":\"%s\",\"dedup_key\":", resolve ? "resolve" : "trigger");
    sl_strbuf_json(b, dedup, 255);
    if (!resolve) {
        char tag[48];
        tag_of(a, tag, sizeof tag);
        sl_strbuf sum = {0};
        if (a->message[0])
            sl_strbuf_printf(&sum, "%s: %s", title_or_rule(a), a->message);
        else
            sl_strbuf_puts(&sum, title_or_rule(a));
        sl_strbuf_puts(b, ",\"payload\":{\"summary\":");
        sl_strbuf_json(b, sum.p, 1024);
        sl_strbuf_printf(b, ",\"severity\":\"%s\",\"source\":", pd_severity(a->severity));
        sl_strbuf_json(b, a->pipeline[0] ? a->pipeline : "sluice", 0);
        if (a->rule[0]) {
            sl_strbuf_puts(b, ",\"component\":");
            sl_strbuf_json(b, a->rule, 0);
        }
        if (a->pipeline[0]) {
            sl_strbuf_puts(b, ",\"group\":");
            sl_strbuf_json(b, a->pipeline, 0);
        }
        if (a->table[0]) {
            sl_strbuf_puts(b, ",\"class\":");
            sl_strbuf_json(b, a->table, 0);
        }
        if (a->started[0]) {
            sl_strbuf_puts(b, ",\"timestamp\":");
            sl_strbuf_json(b, a->started, 0);
        }
        sl_strbuf_puts(b, ",\"custom_details\":{\"kind\":");
        sl_strbuf_json(b, a->kind, 0);
        sl_strbuf_puts(b, ",\"key\":");
        sl_strbuf_json(b, a->key, 0);
        sl_strbuf_puts(b, ",\"message\":");
        sl_strbuf_json(b, a->message, 0);
        if (a->labels) {
            sl_strbuf_puts(b, ",\"labels\":");
            sl__json_write(b, a->labels);
        }
        if (a->items) {
            sl_strbuf_puts(b, ",\"items\":");
            sl__json_write(b, a->items);
        }
        sl_strbuf_puts(b, "}}");
        sl_strbuf_free(&sum);
    }
    sl_strbuf_puts(b, ",\"client\":\"Sluice\"}");
}

/* ---- email: multipart/alternative, plain text and HTML ---- */
static void b64(sl_strbuf *b, const unsigned char *s, size_t n, bool wrap) {
    static const char al[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t col = 0;
    for (size_t i = 0; i < n; i += 3) {
        unsigned v = (unsigned)s[i] << 16;
        if (i + 1 < n) v |= (unsigned)s[i + 1] << 8;
        if (i + 2 < n) v |= s[i + 2];
        char q[4] = {al[(v >> 18) & 63], al[(v >> 12) & 63], i + 1 < n ? al[(v >> 6) & 63] : '=',
                     i + 2 < n ? al[v & 63] : '='};
        sl_strbuf_add(b, q, 4);
        col += 4;
        if (wrap && col >= 76) {
            sl_strbuf_add(b, "\r\n", 2);
            col = 0;
        }
    }
    if (wrap && col) sl_strbuf_add(b, "\r\n", 2);
}

/* A header value: CR/LF dropped (no header injection), RFC 2047 encoded
 * when it is not plain ASCII. */
static void header_value(sl_strbuf *b, const char *s) {
    sl_strbuf clean = {0};
    sl_strbuf_add(&clean, "", 0);
    bool ascii = true;
    for (const char *p = s; *p; p++) {
        if (*p == '\r' || *p == '\n') continue;
        if ((unsigned char)*p >= 0x80) ascii = false;
        sl_strbuf_add(&clean, p, 1);
    }
    if (ascii) {
        sl_strbuf_puts(b, clean.p);
    } else {
        sl_strbuf_puts(b, "=?UTF-8?B?");
        b64(b, (const unsigned char *)clean.p, clean.len, false);
        sl_strbuf_puts(b, "?=");
    }
    sl_strbuf_free(&clean);
}

static void html_esc(sl_strbuf *b, const char *s) {
    for (; *s; s++) {
        switch (*s) {
        case '<':
            sl_strbuf_puts(b, "&lt;");
            break;
        case '>':
            sl_strbuf_puts(b, "&gt;");
            break;
        case '&':
            sl_strbuf_puts(b, "&amp;");
            break;
        case '"':
            sl_strbuf_puts(b, "&quot;");
            break;
        case '\n':
            sl_strbuf_puts(b, "<br>");
            break;
        default:
            sl_strbuf_add(b, s, 1);
        }
    }
}

void sl__notify_message_id(const char *idem, sl_strbuf *out) {
    static const char atext[] = "!#$&'*+-/=?^_`{|}~.";
    sl_strbuf_puts(out, "<");
    for (const unsigned char *p = (const unsigned char *)idem; *p; p++) {
        bool ok = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
                  (*p >= '0' && *p <= '9') || (*p != 0 && strchr(atext, *p));
        if (ok)
            sl_strbuf_add(out, (const char *)p, 1);
        else
            sl_strbuf_printf(out, "%%%02X", *p);
    }
    sl_strbuf_puts(out, "@sluice>");
}

static void build_email(const sl__notify_channel *ch, const alert_view *a, const char *idem,
                        int64_t now_us, sl_strbuf *b) {
    char tag[48], date[64];
    tag_of(a, tag, sizeof tag);
    time_t t = (time_t)(now_us / 1000000);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S +0000", &tm);
    fact f[40];
    int nf = facts_of(a, f, 40);
    /* plain text */
    sl_strbuf txt = {0}, html = {0};
    sl_strbuf_printf(&txt, "%s %s\n\n", tag, title_or_rule(a));
    if (a->message[0]) sl_strbuf_printf(&txt, "%s\n\n", a->message);
    for (int i = 0; i < nf; i++)
        sl_strbuf_printf(&txt, "%s: %s\n", f[i].name, f[i].value);
    if (a->items && a->items->n) {
        sl_strbuf_puts(&txt, "\n");
        items_text(a, &txt, "- ", 200);
    }
    /* HTML */
    sl_strbuf_puts(&html, "<!DOCTYPE html><html><body><h2>");
    html_esc(&html, tag);
    sl_strbuf_puts(&html, " ");
    html_esc(&html, title_or_rule(a));
    sl_strbuf_puts(&html, "</h2>");
    if (a->message[0]) {
        sl_strbuf_puts(&html, "<p>");
        html_esc(&html, a->message);
        sl_strbuf_puts(&html, "</p>");
    }
    sl_strbuf_puts(&html, "<table>");
    for (int i = 0; i < nf; i++) {
        sl_strbuf_puts(&html, "<tr><th align=\"left\">");
        html_esc(&html, f[i].name);
        sl_strbuf_puts(&html, "</th><td>");
        html_esc(&html, f[i].value);
        sl_strbuf_puts(&html, "</td></tr>");
    }
    sl_strbuf_puts(&html, "</table>");
    if (a->items && a->items->n) {
        sl_strbuf it = {0};
        items_text(a, &it, "", 200);
        sl_strbuf_puts(&html, "<pre>");
        html_esc(&html, it.p);
        sl_strbuf_puts(&html, "</pre>");
        sl_strbuf_free(&it);
    }
    sl_strbuf_puts(&html, "</body></html>\n");
    free_facts(f, nf);

    /* the boundary cannot occur in base64 text (it holds '=' and '_') */
    const char *bd = "=_sluice_alt_boundary_=";
    sl_strbuf_printf(b, "Date: %s\r\nFrom: ", date);
    header_value(b, ch->from);
    sl_strbuf_puts(b, "\r\nTo: ");
    for (int i = 0; i < ch->nto; i++) {
        if (i) sl_strbuf_puts(b, ", ");
        header_value(b, ch->to[i]);
    }
    sl_strbuf_puts(b, "\r\nSubject: ");
    sl_strbuf subj = {0};
    sl_strbuf_printf(&subj, "%s %s", tag, title_or_rule(a));
    header_value(b, subj.p);
    sl_strbuf_free(&subj);
    sl_strbuf_puts(b, "\r\nMessage-ID: ");
    sl__notify_message_id(idem, b);
    sl_strbuf_printf(b,
                     "\r\nX-Sluice-Kind: %s\r\nMIME-Version: 1.0\r\n"
                     "Content-Type: multipart/alternative; boundary=\"%s\"\r\n\r\n",
                     a->kind, bd);
    sl_strbuf_printf(b,
                     "--%s\r\nContent-Type: text/plain; charset=utf-8\r\n"
                     "Content-Transfer-Encoding: base64\r\n\r\n",
                     bd);
    b64(b, (const unsigned char *)txt.p, txt.len, true);
    sl_strbuf_printf(b,
                     "--%s\r\nContent-Type: text/html; charset=utf-8\r\n"
                     "Content-Transfer-Encoding: base64\r\n\r\n",
                     bd);
    b64(b, (const unsigned char *)html.p, html.len, true);
    sl_strbuf_printf(b, "--%s--\r\n", bd);
    sl_strbuf_free(&txt);
    sl_strbuf_free(&html);
}

int sl__notify_build(const sl__notify_channel *ch, const char *kind, const char *idem,
                     const char *payload, int64_t now_us, sl__notify_msg *out, sl_error *err) {
    memset(out, 0, sizeof *out);
    out->ctype = "application/json";
    if (ch->type == SL__CH_WEBHOOK) {
        /* the receiver gets the payload exactly as stored: what is signed */
        out->body = sl_xstrdup(payload);
        out->len = strlen(payload);
        return 0;
    }
    sl__jv *root = sl__json_parse(payload, strlen(payload));
    if (!root || root->t != SL__J_OBJ) {
        sl__json_free(root);
        return sl_error_set(err, SL_EINVAL, "payload is not a JSON object");
    }
    alert_view a;
    view_of(root, kind, &a);
    sl_strbuf b = {0};
    switch (ch->type) {
    case SL__CH_SLACK:
        build_slack(&a, &b);
        break;
    case SL__CH_TEAMS:
        build_teams(&a, ch->card, &b);
        break;
    case SL__CH_PAGERDUTY:
        build_pagerduty(ch, &a, idem, a.resolved_state, &b);
        if (a.test) {
            /* a test must not leave an incident open: trigger, then resolve */
            sl_strbuf r = {0};
            build_pagerduty(ch, &a, idem, true, &r);
            out->body2 = r.p;
        }
        break;
    case SL__CH_EMAIL:
        build_email(ch, &a, idem, now_us, &b);
        out->ctype = NULL;
        break;
    }
    sl__json_free(root);
    out->body = b.p ? b.p : sl_xstrdup("");
    out->len = b.len;
    return 0;
}

void sl__notify_msg_free(sl__notify_msg *m) {
    free(m->body);
    free(m->body2);
    memset(m, 0, sizeof *m);
}

void sl__notify_signature(const char *key, const char *data, size_t len, char out[72]) {
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    HMAC(EVP_sha256(), key, (int)strlen(key), (const unsigned char *)data, len, mac, &n);
    memcpy(out, "sha256=", 7);
    for (unsigned i = 0; i < n && i < 32; i++)
        snprintf(out + 7 + 2 * i, 3, "%02x", mac[i]);
    out[7 + 64] = 0;
}

int64_t sl__notify_backoff_us(int attempt, int64_t max_us, double r) {
    if (attempt < 1) attempt = 1;
    int64_t d = SL__NOTIFY_BACKOFF_BASE_US;
    for (int i = 1; i < attempt && d < max_us; i++)
        d *= 2;
    if (d > max_us) d = max_us;
    if (r < 0) r = 0;
    if (r >= 1) r = 0.999999;
    return (int64_t)((double)d * (0.5 + 0.5 * r));
}
