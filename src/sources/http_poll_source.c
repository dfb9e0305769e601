/*
 * http_poll_source.c - the `http_poll` source kind (source.h): GETs (or
 * POSTs) a REST API every `interval`, takes the records at a JSON path,
 * follows pagination, and keeps an incremental cursor as its position.
 *
 * A worker thread does the HTTP (libcurl, blocking: a poll never blocks the
 * event loop) and hands pages of records over a bounded queue, waking the
 * loop with an eventfd; the engine's read takes them in order. The queue is
 * bounded, so a slow pipeline stalls the poller, never memory.
 *
 * The cursor. Records carry an integer field (`cursor`, e.g. start_time in
 * epoch milliseconds) that only grows as the API's data grows, and a unique
 * `key` (e.g. run_id). A poll asks for cursor >= C (`cursor_param`, C the
 * cursor reached so far) and skips what was already taken: records below C,
 * and records at C whose key is among the keys taken at C. The position is
 * C with those keys (the "ties": records sharing the largest cursor value),
 * committed with the rows they produced, so a restart neither skips nor
 * repeats a record, even when more records with the same cursor value
 * appear later. This holds while a poll lists records in ascending cursor
 * order; a poll that goes down (a newest-first listing) holds the cursor
 * where the poll began until its last page, so a crash in the middle of such
 * a poll repeats the records taken by it (dedupe on the key makes that
 * exact). docs/pipeline-spec.md states the rule.
 */
#include <curl/curl.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"
#include "core/mem.h"
#include "core/timeutil.h"
#include "formats/json.h"
#include "sources/source.h"

typedef struct {
    const char *url;
    int method; /* GET, POST */
    const char *body;
    int64_t interval;
    const char *records;
    int pagination; /* none, token, link, offset */
    const char *next_page_token, *page_token_param, *has_more;
    const char *offset_param, *limit_param;
    int64_t limit;
    const char *cursor, *cursor_param, *key;
    const sl_node *cursor_at;
    const sl_node *params, *headers;
    const char *token;
    int64_t timeout, retries, retry_backoff, max_pages;
    int order;
} poll_conf;

enum { P_NONE, P_TOKEN, P_LINK, P_OFFSET };

#define B(field) SL_OPT_BIND(poll_conf, field)
static const sl_opt poll_opts[] = {
    {"url", SL_OPT_STRING, true, NULL, NULL, "the API's URL (http or https), query included",
     B(url)},
    {"method", SL_OPT_ENUM, false, "GET|POST", "GET", "HTTP method", B(method)},
    {"body", SL_OPT_STRING, false, NULL, NULL, "method POST: the request body (JSON)", B(body)},
    {"interval", SL_OPT_DURATION, false, NULL, "60s", "time from the end of a poll to the next",
     B(interval), SL_OPT_MIN(1000)},
    {"records", SL_OPT_STRING, false, NULL, NULL,
     "dotted JSON path of the array of records (e.g. runs); default: the document is the array",
     B(records)},
    {"pagination", SL_OPT_ENUM, false, "none|token|link|offset", "none",
     "token: a next-page token in the body sent back as page_token_param; link: the Link "
     "rel=\"next\" header; offset: offset_param/limit_param",
     B(pagination)},
    {"next_page_token", SL_OPT_STRING, false, NULL, "next_page_token",
     "pagination token: dotted path of the token in the body (absent or empty: last page)",
     B(next_page_token)},
    {"page_token_param", SL_OPT_STRING, false, NULL, "page_token",
     "pagination token: the query parameter that sends the token", B(page_token_param)},
    {"has_more", SL_OPT_STRING, false, NULL, NULL,
     "dotted path of a boolean in the body: false means the last page", B(has_more)},
    {"offset_param", SL_OPT_STRING, false, NULL, "offset",
     "pagination offset: the query parameter of the first record's index", B(offset_param)},
    {"limit_param", SL_OPT_STRING, false, NULL, "limit", "query parameter of the page size",
     B(limit_param)},
    {"limit", SL_OPT_INT, false, NULL, NULL,
     "page size sent as limit_param (pagination offset: default 100; a shorter page is the last)",
     B(limit), SL_OPT_RANGE(1, 1000000)},
    {"cursor", SL_OPT_STRING, false, NULL, NULL,
     "dotted path of an integer record field that only grows (e.g. start_time): the position",
     B(cursor), SL_OPT_AT(poll_conf, cursor_at)},
    {"cursor_param", SL_OPT_STRING, false, NULL, NULL,
     "query parameter sending the cursor reached, asking for records >= it (e.g. "
     "start_time_from)",
     B(cursor_param)},
    {"key", SL_OPT_STRING, false, NULL, NULL,
     "dotted path of the record's unique id (e.g. run_id); needed with cursor, to tell the "
     "records sharing a cursor value apart",
     B(key)},
    {"order", SL_OPT_ENUM, false, "ascending|descending", "ascending",
     "how a poll lists records by cursor: ascending moves the position record by record; "
     "descending (newest first) only at the end of a poll (a crash in the middle repeats its "
     "records)",
     B(order)},
    {"params", SL_OPT_MAP, false, NULL, NULL, "more query parameters: name: value", B(params)},
    {"headers", SL_OPT_MAP, false, NULL, NULL,
     "request headers: name: value (${VAR} for secrets; never logged)", B(headers)},
    {"token", SL_OPT_STRING, false, NULL, NULL,
     "bearer token (e.g. ${API_TOKEN}), sent as Authorization: Bearer; never logged", B(token)},
    {"timeout", SL_OPT_DURATION, false, NULL, "30s", "one request's time limit", B(timeout),
     SL_OPT_MIN(1000)},
    {"retries", SL_OPT_INT, false, NULL, "5",
     "retries of a failed request (network error, 5xx, 429) before the poll is given up",
     B(retries), SL_OPT_RANGE(0, 100)},
    {"retry_backoff", SL_OPT_DURATION, false, NULL, "1s",
     "first wait before a retry, doubled each time up to 60 s; a 429's Retry-After wins",
     B(retry_backoff), SL_OPT_MIN(1000)},
    {"max_pages", SL_OPT_INT, false, NULL, "10000", "pages followed in one poll at most",
     B(max_pages), SL_OPT_RANGE(1, 100000000)},
    {0},
};
#undef B

#define MAX_TIES 4096

typedef struct {
    int64_t c;      /* cursor value */
    int64_t *ties;  /* key hashes of the records taken at c */
    int nties, cap; /* nties == MAX_TIES: full (logged) */
    bool has;       /* a cursor was reached */
} cursor_state;

/* One page of records, or the end of a poll. */
typedef struct item {
    struct item *next;
    char *buf; /* lines, SL_JSON_PADDING zeros after */
    sl_poll_msg *msgs;
    int64_t *cur, *hash; /* per record */
    bool *apply;         /* the record moves the cursor (the poll is still ascending) */
    int n, taken;
    bool end;           /* end of a poll: the cursor becomes `state` */
    cursor_state state; /* end: the poll's cursor */
    char *bad;          /* a document of the wrong shape: quarantined with this reason */
    char *bad_raw;
} item;

typedef struct {
    char *url, *body, *records, *next_page_token, *page_token_param, *has_more;
    char *offset_param, *limit_param, *cursor, *cursor_param, *key;
    int method, pagination;
    int64_t limit, interval_us, timeout_ms, retries, backoff_us, max_pages;
    char **params, **headers; /* "name=value" */
    int nparams, nheaders;
    char *token;
    char part_name[512];
    const char *part_names[2];

    sl_source_env env;
    cursor_state pos; /* the engine's: what read() handed over */
    bool dirty;
    int efd;
    pthread_t thread;
    bool running;
    pthread_mutex_t mu;
    pthread_cond_t cond;
    item *head, *tail;
    item *spent; /* taken by the last read: its rows point into it */
    int queued;
    bool stop, finished; /* finished: the thread ended (--once) */
    int64_t seq;         /* records handed over (positions without a cursor) */
    /* the thread's own */
    cursor_state tpos;
    CURL *curl;
    char *rbuf;
    size_t rlen, rcap;
    char link_next[2048];
    int64_t retry_after_s;
    int64_t tprev; /* the previous record's cursor in this poll */
    bool tprev_has, order_desc;
    char *url_buf;
} poll_src;

#define URL_CAP 8192

#define QUEUE_MAX 64

/* ---- a small JSON scanner: spans of the body, no tree ---- */

static const char *ws(const char *p, const char *e) {
    while (p < e && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
        p++;
    return p;
}

static const char *skip_string(const char *p, const char *e) {
    for (p++; p < e; p++) {
        if (*p == '\\')
            p++;
        else if (*p == '"')
            return p + 1;
    }
    return NULL;
}

/* The end of the value at p (after white space), NULL when malformed. */
static const char *skip_value(const char *p, const char *e) {
    p = ws(p, e);
    if (p >= e) return NULL;
    if (*p == '"') return skip_string(p, e);
    if (*p == '{' || *p == '[') {
        int depth = 0;
        for (; p < e; p++) {
            if (*p == '"') {
                if (!(p = skip_string(p, e))) return NULL;
                p--;
            } else if (*p == '{' || *p == '[')
                depth++;
            else if (*p == '}' || *p == ']') {
                if (--depth == 0) return p + 1;
            }
        }
        return NULL;
    }
    const char *s = p;
    while (p < e && *p != ',' && *p != '}' && *p != ']' && *p != ' ' && *p != '\n' && *p != '\r' &&
           *p != '\t')
        p++;
    return p > s ? p : NULL;
}

/* The value at a dotted path under the object [p, e): its span, or false. */
static bool json_at(const char *p, const char *e, const char *path, const char **vs,
                    const char **ve) {
    p = ws(p, e);
    while (*path) {
        size_t kl = strcspn(path, ".");
        if (p >= e || *p != '{') return false;
        p = ws(p + 1, e);
        bool found = false;
        while (p < e && *p == '"') {
            const char *ks = p + 1, *kend = skip_string(p, e);
            if (!kend) return false;
            bool match = (size_t)(kend - 1 - ks) == kl && !memcmp(ks, path, kl);
            p = ws(kend, e);
            if (p >= e || *p != ':') return false;
            p = ws(p + 1, e);
            if (match) {
                found = true;
                break;
            }
            if (!(p = skip_value(p, e))) return false;
            p = ws(p, e);
            if (p < e && *p == ',') p = ws(p + 1, e);
        }
        if (!found) return false;
        path += kl + (path[kl] == '.');
    }
    const char *end = skip_value(p, e);
    if (!end) return false;
    *vs = p, *ve = end;
    return true;
}

static bool json_int(const char *s, const char *e, int64_t *out) {
    if (s < e && *s == '"') s++, e--; /* "123" */
    char tmp[32];
    size_t n = (size_t)(e - s);
    if (!n || n >= sizeof tmp) return false;
    memcpy(tmp, s, n);
    tmp[n] = 0;
    char *end;
    errno = 0;
    long long v = strtoll(tmp, &end, 10);
    if (errno || *end) return false;
    *out = v;
    return true;
}

/* A string value without escapes beyond \" \\ \/ (page tokens). */
static bool json_str(const char *s, const char *e, char *out, size_t cap) {
    if (s >= e || *s != '"') return false;
    size_t n = 0;
    for (s++; s < e - 1 && n + 1 < cap; s++) {
        if (*s == '\\') s++;
        out[n++] = *s;
    }
    out[n] = 0;
    return true;
}

static int64_t hash_span(const char *s, const char *e) {
    uint64_t h = 1469598103934665603ULL;
    for (; s < e; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return (int64_t)(h >> 1);
}

/* ---- cursor state ---- */

static bool has_tie(const cursor_state *c, int64_t h) {
    for (int i = 0; i < c->nties; i++)
        if (c->ties[i] == h) return true;
    return false;
}

static void add_tie(cursor_state *c, int64_t h) {
    if (has_tie(c, h)) return;
    if (c->nties == MAX_TIES) return;
    if (c->nties == c->cap) {
        c->cap = c->cap ? 2 * c->cap : 16;
        c->ties = sl_xrealloc(c->ties, (size_t)c->cap * sizeof *c->ties);
    }
    c->ties[c->nties++] = h;
}

static void state_copy(cursor_state *dst, const cursor_state *src) {
    dst->c = src->c;
    dst->has = src->has;
    dst->nties = 0;
    for (int i = 0; i < src->nties; i++)
        add_tie(dst, src->ties[i]);
}

/* A record at cursor v with key hash h is taken. */
static void state_take(cursor_state *c, int64_t v, int64_t h) {
    if (!c->has || v > c->c) {
        c->has = true;
        c->c = v;
        c->nties = 0;
    }
    if (v == c->c) add_tie(c, h);
}

/* ---- the queue ---- */

static void item_free(item *it) {
    free(it->buf);
    free(it->msgs);
    free(it->cur);
    free(it->hash);
    free(it->apply);
    free(it->state.ties);
    free(it->bad);
    free(it->bad_raw);
    free(it);
}

/* Returns false when the source is stopping. */
static bool push(poll_src *s, item *it) {
    pthread_mutex_lock(&s->mu);
    while (s->queued >= QUEUE_MAX && !s->stop)
        pthread_cond_wait(&s->cond, &s->mu);
    bool ok = !s->stop;
    if (ok) {
        if (s->tail)
            s->tail->next = it;
        else
            s->head = it;
        s->tail = it;
        s->queued++;
    }
    pthread_mutex_unlock(&s->mu);
    if (!ok) {
        item_free(it);
        return false;
    }
    uint64_t one = 1;
    if (write(s->efd, &one, sizeof one) < 0) { /* the counter cannot overflow here */
    }
    return true;
}

/* ---- HTTP ---- */

static size_t on_body(char *p, size_t size, size_t n, void *ud) {
    poll_src *s = ud;
    size_t len = size * n;
    if (s->rlen + len + SL_JSON_PADDING > s->rcap) {
        size_t cap = s->rcap ? s->rcap : 65536;
        while (cap < s->rlen + len + SL_JSON_PADDING)
            cap *= 2;
        s->rbuf = sl_xrealloc(s->rbuf, cap);
        s->rcap = cap;
    }
    memcpy(s->rbuf + s->rlen, p, len);
    s->rlen += len;
    return len;
}

static size_t on_header(char *p, size_t size, size_t n, void *ud) {
    poll_src *s = ud;
    size_t len = size * n;
    if (len > 12 && !strncasecmp(p, "Retry-After:", 12)) {
        s->retry_after_s = atoll(p + 12);
    } else if (len > 5 && !strncasecmp(p, "Link:", 5)) {
        /* <url>; rel="next", <url>; rel="prev" */
        const char *e = p + len;
        for (const char *q = p + 5; q < e;) {
            const char *lt = memchr(q, '<', (size_t)(e - q));
            if (!lt) break;
            const char *gt = memchr(lt, '>', (size_t)(e - lt));
            if (!gt) break;
            const char *next = memchr(gt, ',', (size_t)(e - gt));
            const char *pe = next ? next : e;
            bool is_next = false;
            for (const char *r = gt; r + 10 <= pe; r++)
                if (!strncmp(r, "rel=\"next\"", 10) || !strncmp(r, "rel=next", 8)) is_next = true;
            if (is_next && (size_t)(gt - lt - 1) < sizeof s->link_next) {
                memcpy(s->link_next, lt + 1, (size_t)(gt - lt - 1));
                s->link_next[gt - lt - 1] = 0;
            }
            q = next ? next + 1 : e;
        }
    }
    return len;
}

static int on_progress(void *ud, curl_off_t a, curl_off_t b, curl_off_t c, curl_off_t d) {
    (void)a, (void)b, (void)c, (void)d;
    poll_src *s = ud;
    return __atomic_load_n(&s->stop, __ATOMIC_RELAXED) ? 1 : 0;
}

static void add_param(poll_src *s, char *url, size_t cap, const char *name, const char *val) {
    size_t n = strlen(url);
    char *ev = curl_easy_escape(s->curl, val, 0);
    snprintf(url + n, cap - n, "%s%s=%s", strchr(url, '?') ? "&" : "?", name, ev ? ev : "");
    curl_free(ev);
}

/* Sleeps up to us, waking early when stopping; returns false when stopping. */
static bool nap(poll_src *s, int64_t us) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += (time_t)(us / 1000000);
    ts.tv_nsec += (long)(us % 1000000) * 1000;
    if (ts.tv_nsec >= 1000000000) ts.tv_sec++, ts.tv_nsec -= 1000000000;
    pthread_mutex_lock(&s->mu);
    while (!s->stop && pthread_cond_timedwait(&s->cond, &s->mu, &ts) != ETIMEDOUT) {
    }
    bool go = !s->stop;
    pthread_mutex_unlock(&s->mu);
    return go;
}

/* One request with retries; 0 and the body in rbuf, or -1 (logged). */
static int fetch(poll_src *s, const char *url, struct curl_slist *hdrs) {
    int64_t wait = s->backoff_us;
    for (int attempt = 0;; attempt++) {
        s->rlen = 0;
        s->link_next[0] = 0;
        s->retry_after_s = -1;
        curl_easy_setopt(s->curl, CURLOPT_URL, url);
        curl_easy_setopt(s->curl, CURLOPT_HTTPHEADER, hdrs);
        if (s->method == 1) {
            curl_easy_setopt(s->curl, CURLOPT_POST, 1L);
            curl_easy_setopt(s->curl, CURLOPT_POSTFIELDS, s->body ? s->body : "");
        }
        CURLcode rc = curl_easy_perform(s->curl);
        long status = 0;
        curl_easy_getinfo(s->curl, CURLINFO_RESPONSE_CODE, &status);
        if (__atomic_load_n(&s->stop, __ATOMIC_RELAXED)) return -1;
        if (rc == CURLE_OK && status >= 200 && status < 300) return 0;
        bool retry = rc != CURLE_OK || status >= 500 || status == 429 || status == 408;
        /* the URL's path only: its query may carry a secret */
        sl_log_warn("http_poll request failed",
                    "\"source\":\"%s\",\"url\":\"%s\",\"status\":%ld,\"error\":\"%s\","
                    "\"attempt\":%d,\"retry\":%s",
                    s->env.name, s->part_name, status, rc ? curl_easy_strerror(rc) : "",
                    attempt + 1, retry && attempt < s->retries ? "true" : "false");
        if (!retry || attempt >= s->retries) return -1;
        int64_t us = wait;
        if (status == 429 && s->retry_after_s >= 0)
            us = (s->retry_after_s > 600 ? 600 : s->retry_after_s) * 1000000;
        if (!nap(s, us)) return -1;
        wait = wait * 2 > 60000000 ? 60000000 : wait * 2;
    }
}

static item *bad_item(const char *raw, size_t len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static item *bad_item(const char *raw, size_t len, const char *fmt, ...) {
    item *it = sl_xcalloc(1, sizeof *it);
    char reason[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(reason, sizeof reason, fmt, ap);
    va_end(ap);
    it->bad = sl_xstrdup(reason);
    it->bad_raw = sl_xstrndup(raw, len > 4096 ? 4096 : len);
    return it;
}

/* The records of the body in rbuf -> an item; the skip rule (see the top).
 * Returns the number of records on the page (taken or skipped), -1 when the
 * document does not have the configured shape (*bad set). */
static int page_records(poll_src *s, const cursor_state *from, cursor_state *run, bool *ascending,
                        item **out, item **bad) {
    const char *b = s->rbuf, *e = s->rbuf + s->rlen;
    const char *as = b, *ae = e;
    if (s->records && !json_at(b, e, s->records, &as, &ae)) {
        *bad = bad_item(b, s->rlen, "the response has no array at '%s'", s->records);
        return -1;
    }
    as = ws(as, ae);
    if (as >= ae || *as != '[') {
        *bad = bad_item(b, s->rlen, "the value at '%s' is not an array",
                        s->records ? s->records : "(document)");
        return -1;
    }
    item *it = sl_xcalloc(1, sizeof *it);
    int cap = 0, count = 0;
    size_t blen = 0, bcap = 0;
    const char *p = ws(as + 1, ae);
    while (p < ae && *p != ']') {
        const char *ve = skip_value(p, ae);
        if (!ve) {
            item_free(it);
            *bad = bad_item(b, s->rlen, "malformed JSON in the array at '%s'",
                            s->records ? s->records : "(document)");
            return -1;
        }
        count++;
        int64_t v = 0, h = 0;
        bool take = true;
        if (s->cursor) {
            const char *cs, *ce, *ks, *ke;
            if (!json_at(p, ve, s->cursor, &cs, &ce) || !json_int(cs, ce, &v) ||
                !json_at(p, ve, s->key, &ks, &ke)) {
                item_free(it);
                *bad = bad_item(p, (size_t)(ve - p),
                                "record %d at '%s' has no integer '%s' or no '%s'", count,
                                s->records ? s->records : "(document)", s->cursor, s->key);
                return -1;
            }
            h = hash_span(ks, ke);
            if (*ascending && s->tprev_has && v < s->tprev) {
                *ascending = false;
                if (!s->order_desc)
                    sl_log_warn("http_poll: records not in ascending cursor order",
                                "\"source\":\"%s\",\"cursor\":\"%s\"", s->env.name, s->cursor);
            }
            s->tprev = v;
            s->tprev_has = true;
            if (from->has && (v < from->c || (v == from->c && has_tie(from, h)))) take = false;
            if (take && has_tie(run, h) && v == run->c) take = false; /* repeated by a page shift */
        }
        if (take) {
            if (it->n == cap) {
                cap = cap ? 2 * cap : 64;
                it->msgs = sl_xrealloc(it->msgs, (size_t)cap * sizeof *it->msgs);
                it->cur = sl_xrealloc(it->cur, (size_t)cap * sizeof *it->cur);
                it->hash = sl_xrealloc(it->hash, (size_t)cap * sizeof *it->hash);
                it->apply = sl_xrealloc(it->apply, (size_t)cap * sizeof *it->apply);
            }
            size_t l = (size_t)(ve - p);
            if (blen + l + 1 + SL_JSON_PADDING > bcap) {
                bcap = bcap ? bcap : 65536;
                while (blen + l + 1 + SL_JSON_PADDING > bcap)
                    bcap *= 2;
                it->buf = sl_xrealloc(it->buf, bcap);
            }
            for (size_t i = 0; i < l; i++) /* one line: JSON line breaks are white space */
                it->buf[blen + i] = (p[i] == '\n' || p[i] == '\r') ? ' ' : p[i];
            it->msgs[it->n] = (sl_poll_msg){.off = (uint32_t)blen, .len = (uint32_t)l, .part = 0};
            blen += l;
            it->buf[blen++] = '\n';
            if (s->cursor) state_take(run, v, h);
            it->cur[it->n] = v;
            it->hash[it->n] = h;
            it->apply[it->n] = *ascending;
            it->n++;
        }
        p = ws(ve, ae);
        if (p < ae && *p == ',') p = ws(p + 1, ae);
    }
    if (it->buf) memset(it->buf + blen, 0, SL_JSON_PADDING);
    *out = it;
    return count;
}

/* The request headers: `headers`, the bearer token, the body's type. */
static struct curl_slist *request_headers(const poll_src *s) {
    struct curl_slist *hdrs = NULL;
    char hb[4096];
    for (int i = 0; i < s->nheaders; i++) {
        const char *eq = strchr(s->headers[i], '=');
        snprintf(hb, sizeof hb, "%.*s: %s", (int)(eq - s->headers[i]), s->headers[i], eq + 1);
        hdrs = curl_slist_append(hdrs, hb);
    }
    if (s->token) {
        snprintf(hb, sizeof hb, "Authorization: Bearer %s", s->token);
        hdrs = curl_slist_append(hdrs, hb);
    }
    if (s->method == 1 && s->body) hdrs = curl_slist_append(hdrs, "Content-Type: application/json");
    return hdrs;
}

/* One poll: every page from the cursor; false when stopping. */
static bool poll_once(poll_src *s) {
    struct curl_slist *hdrs = request_headers(s);
    cursor_state from = {0}, run = {0};
    state_copy(&from, &s->tpos);
    state_copy(&run, &s->tpos);
    bool ascending = !s->order_desc, ok = true, stopping = false;
    s->tprev_has = false;
    char token[1024] = "";
    int64_t offset = 0;
    char *url = s->url_buf;
    for (int64_t page = 0; page < s->max_pages; page++) {
        if (page > 0 && s->pagination == P_LINK) {
            snprintf(url, URL_CAP, "%s", s->link_next);
        } else {
            snprintf(url, URL_CAP, "%s", s->url);
            for (int i = 0; i < s->nparams; i++) {
                char *eq = strchr(s->params[i], '=');
                *eq = 0;
                add_param(s, url, URL_CAP, s->params[i], eq + 1);
                *eq = '=';
            }
            char num[32];
            if (s->cursor_param && from.has) {
                snprintf(num, sizeof num, "%" PRId64, from.c);
                add_param(s, url, URL_CAP, s->cursor_param, num);
            }
            if (s->limit) {
                snprintf(num, sizeof num, "%" PRId64, s->limit);
                add_param(s, url, URL_CAP, s->limit_param, num);
            }
            if (s->pagination == P_OFFSET) {
                snprintf(num, sizeof num, "%" PRId64, offset);
                add_param(s, url, URL_CAP, s->offset_param, num);
            }
            if (s->pagination == P_TOKEN && token[0])
                add_param(s, url, URL_CAP, s->page_token_param, token);
        }
        if (fetch(s, url, hdrs)) {
            ok = false;
            break;
        }
        if (s->rlen == 0) on_body("", 1, 0, s);
        item *it = NULL, *bad = NULL;
        int n = page_records(s, &from, &run, &ascending, &it, &bad);
        if (n < 0) {
            sl_log_error("http_poll: unexpected document",
                         "\"source\":\"%s\",\"url\":\"%s\",\"reason\":\"%s\"", s->env.name,
                         s->part_name, bad->bad);
            if (!push(s, bad)) stopping = true;
            ok = false;
            break;
        }
        if (it->n) {
            if (!push(s, it)) {
                stopping = true;
                break;
            }
        } else {
            item_free(it);
        }
        const char *vs, *ve;
        if (s->has_more && json_at(s->rbuf, s->rbuf + s->rlen, s->has_more, &vs, &ve) &&
            ve - vs == 5 && !memcmp(vs, "false", 5))
            break;
        if (s->pagination == P_NONE) break;
        if (s->pagination == P_TOKEN) {
            if (!json_at(s->rbuf, s->rbuf + s->rlen, s->next_page_token, &vs, &ve) ||
                !json_str(vs, ve, token, sizeof token) || !token[0])
                break;
        } else if (s->pagination == P_LINK) {
            if (!s->link_next[0]) break;
        } else {
            offset += n;
            if (n == 0 || n < (s->limit ? s->limit : 100)) break;
        }
    }
    curl_slist_free_all(hdrs);
    /* The poll's largest cursor value and the keys taken at it. A failed
     * poll that went down in cursor order has older records on the pages it
     * did not get: it keeps the cursor where it began. */
    if (!stopping && s->cursor && (ok || ascending)) {
        item *end = sl_xcalloc(1, sizeof *end);
        end->end = true;
        state_copy(&end->state, &run);
        state_copy(&s->tpos, &run);
        if (!push(s, end)) stopping = true;
    } else if (!stopping && s->cursor) {
        state_copy(&s->tpos, &from);
    }
    free(from.ties);
    free(run.ties);
    return !stopping;
}

static void *poller(void *arg) {
    poll_src *s = arg;
    s->curl = curl_easy_init();
    curl_easy_setopt(s->curl, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(s->curl, CURLOPT_WRITEDATA, s);
    curl_easy_setopt(s->curl, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(s->curl, CURLOPT_HEADERDATA, s);
    curl_easy_setopt(s->curl, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(s->curl, CURLOPT_XFERINFODATA, s);
    curl_easy_setopt(s->curl, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(s->curl, CURLOPT_TIMEOUT_MS, (long)s->timeout_ms);
    curl_easy_setopt(s->curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(s->curl, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(s->curl, CURLOPT_ACCEPT_ENCODING, "");
    curl_easy_setopt(s->curl, CURLOPT_USERAGENT, "sluice");
    while (poll_once(s) && !s->env.once && nap(s, s->interval_us)) {
    }
    curl_easy_cleanup(s->curl);
    s->curl = NULL;
    pthread_mutex_lock(&s->mu);
    s->finished = true;
    pthread_mutex_unlock(&s->mu);
    uint64_t one = 1;
    if (write(s->efd, &one, sizeof one) < 0) {
    }
    return NULL;
}

/* ---- the source ---- */

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static void curl_init(void) { curl_global_init(CURL_GLOBAL_DEFAULT); }

static char *dup_or_null(const char *s) { return s && *s ? sl_xstrdup(s) : NULL; }

static void poll_destroy(void *self);

static int poll_create(const sl_node *n, const sl_source_env *env, void **self,
                       sl_source_info *info, sl_error *err) {
    (void)info;
    char what[128];
    snprintf(what, sizeof what, "source '%s'", env->name);
    poll_conf c;
    if (sl_spec_bind(n, poll_opts, what, &c, err)) return SL_EINVAL;
    if (strncmp(c.url, "http://", 7) && strncmp(c.url, "https://", 8))
        return sl_node_error(err, sl_node_get(n, "url"), "%s: url: want http:// or https://", what);
    if (c.cursor && !c.key)
        return sl_node_error(err, c.cursor_at,
                             "%s: cursor needs key (the records' unique id), to tell records "
                             "sharing a cursor value apart",
                             what);
    poll_src *s = sl_xcalloc(1, sizeof *s);
    s->efd = -1;
    s->url = sl_xstrdup(c.url);
    s->body = dup_or_null(c.body);
    s->records = dup_or_null(c.records);
    s->next_page_token = sl_xstrdup(c.next_page_token);
    s->page_token_param = sl_xstrdup(c.page_token_param);
    s->has_more = dup_or_null(c.has_more);
    s->offset_param = sl_xstrdup(c.offset_param);
    s->limit_param = sl_xstrdup(c.limit_param);
    s->cursor = dup_or_null(c.cursor);
    s->cursor_param = dup_or_null(c.cursor_param);
    s->key = dup_or_null(c.key);
    s->token = dup_or_null(c.token);
    s->method = c.method;
    s->order_desc = c.order == 1;
    s->url_buf = sl_xcalloc(1, URL_CAP);
    s->pagination = c.pagination;
    s->limit = c.limit ? c.limit : (c.pagination == P_OFFSET ? 100 : 0);
    s->interval_us = c.interval;
    s->timeout_ms = c.timeout / 1000;
    s->retries = c.retries;
    s->backoff_us = c.retry_backoff;
    s->max_pages = c.max_pages;
    if ((c.params && sl_node_kv_list(c.params, "params", &s->params, &s->nparams, err)) ||
        (c.headers && sl_node_kv_list(c.headers, "headers", &s->headers, &s->nheaders, err))) {
        poll_destroy(s);
        return SL_EINVAL;
    }
    /* the partition: the URL without its query (which may hold a secret) */
    snprintf(s->part_name, sizeof s->part_name, "%.*s", (int)strcspn(c.url, "?#"), c.url);
    s->part_names[0] = s->part_name;
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cond, NULL);
    *self = s;
    return 0;
}

static void poll_close_(void *self) {
    poll_src *s = self;
    if (s->running) {
        pthread_mutex_lock(&s->mu);
        s->stop = true;
        pthread_cond_broadcast(&s->cond);
        pthread_mutex_unlock(&s->mu);
        pthread_join(s->thread, NULL);
        s->running = false;
    }
    for (item *it = s->head, *nx; it; it = nx) {
        nx = it->next;
        item_free(it);
    }
    s->head = s->tail = NULL;
    s->queued = 0;
    if (s->spent) item_free(s->spent);
    s->spent = NULL;
    if (s->efd >= 0) close(s->efd);
    s->efd = -1;
    free(s->rbuf);
    s->rbuf = NULL;
    s->rlen = s->rcap = 0;
}

static void secret_free(char *p) {
    if (p) memset(p, 0, strlen(p));
    free(p);
}

static void poll_destroy(void *self) {
    poll_src *s = self;
    poll_close_(s);
    free(s->url);
    free(s->body);
    free(s->records);
    free(s->next_page_token);
    free(s->page_token_param);
    free(s->has_more);
    free(s->offset_param);
    free(s->limit_param);
    free(s->cursor);
    free(s->cursor_param);
    free(s->key);
    free(s->url_buf);
    secret_free(s->token);
    sl_kv_list_free(s->params, s->nparams);
    for (int i = 0; i < s->nheaders; i++)
        if (s->headers[i]) memset(s->headers[i], 0, strlen(s->headers[i]));
    sl_kv_list_free(s->headers, s->nheaders);
    free(s->pos.ties);
    free(s->tpos.ties);
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->cond);
    free(s);
}

/* Positions: "cursor" -> C, "ties" -> how many, "tie/I" -> a key's hash. */
typedef struct {
    poll_src *s;
    int64_t nties;
    int64_t *ties;
} restore_ctx;

static void restore_cb(void *ud, const char *part, int64_t pos) {
    restore_ctx *r = ud;
    if (!strcmp(part, "cursor")) {
        r->s->pos.has = true;
        r->s->pos.c = pos;
    } else if (!strcmp(part, "ties")) {
        r->nties = pos;
    } else if (!strncmp(part, "tie/", 4)) {
        long i = atol(part + 4);
        if (i >= 0 && i < MAX_TIES) r->ties[i] = pos;
    } else if (!strcmp(part, "seq")) {
        r->s->seq = pos;
    }
}

static int poll_open_(void *self, const sl_source_env *env, sl_error *err) {
    poll_src *s = self;
    pthread_once(&curl_once, curl_init);
    s->env = *env;
    s->stop = s->finished = false;
    s->pos.has = false;
    s->pos.nties = 0;
    s->seq = 0;
    restore_ctx r = {.s = s, .ties = sl_xcalloc(MAX_TIES, sizeof(int64_t))};
    int rc = sl_store_positions(env->store, env->name, restore_cb, &r, err);
    if (rc) {
        free(r.ties);
        return rc;
    }
    for (int64_t i = 0; i < r.nties && i < MAX_TIES; i++)
        add_tie(&s->pos, r.ties[i]);
    free(r.ties);
    state_copy(&s->tpos, &s->pos);
    s->dirty = false;
    if ((s->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) < 0)
        return sl_error_set(err, SL_EIO, "source '%s': eventfd: %s", env->name, strerror(errno));
    if (pthread_create(&s->thread, NULL, poller, s))
        return sl_error_set(err, SL_EIO, "source '%s': cannot start the poller", env->name);
    s->running = true;
    sl_log_info("http_poll started", "\"source\":\"%s\",\"url\":\"%s\",\"cursor\":%" PRId64,
                env->name, s->part_name, s->pos.has ? s->pos.c : -1);
    return 0;
}

static int poll_read(void *self, bool final, sl_error *err) {
    (void) final, (void)err;
    poll_src *s = self;
    /* the rows of the last read pointed into its item until now */
    if (s->spent) item_free(s->spent);
    s->spent = NULL;
    uint64_t v;
    if (read(s->efd, &v, sizeof v) < 0) { /* EAGAIN: nothing new */
    }
    pthread_mutex_lock(&s->mu);
    item *it = s->head;
    pthread_mutex_unlock(&s->mu);
    if (!it) return 0;
    int got = 0;
    if (it->bad) {
        s->env.bad(s->env.ud, it->bad_raw, strlen(it->bad_raw), 0, s->seq, it->bad);
        got = 1;
    } else if (it->end) {
        if (it->state.has &&
            (!s->pos.has || it->state.c != s->pos.c || it->state.nties != s->pos.nties)) {
            state_copy(&s->pos, &it->state);
            s->dirty = true;
            got = 1;
        }
    } else {
        int n = it->n - it->taken;
        if (n > (int)s->env.batch_size) n = (int)s->env.batch_size;
        sl_poll_msg *m = it->msgs + it->taken;
        for (int i = 0; i < n; i++) {
            int k = it->taken + i;
            m[i].pos = s->cursor ? it->cur[k] : s->seq + i;
            if (s->cursor && it->apply[k]) state_take(&s->pos, it->cur[k], it->hash[k]);
        }
        s->env.parse_msgs(s->env.ud, it->buf, m, n);
        s->seq += n;
        it->taken += n;
        s->dirty = true;
        got = 1;
        if (it->taken < it->n) return 1;
    }
    pthread_mutex_lock(&s->mu);
    s->head = it->next;
    if (!s->head) s->tail = NULL;
    s->queued--;
    pthread_cond_broadcast(&s->cond);
    pthread_mutex_unlock(&s->mu);
    s->spent = it;
    if (!got) return poll_read(self, final, err);
    return got;
}

static const char *const *poll_part_names(void *self) {
    poll_src *s = self;
    return s->running ? s->part_names : NULL;
}

static void poll_each_position(void *self, sl_source_pos_fn fn, void *ud) {
    poll_src *s = self;
    if (!s->dirty) return;
    fn(ud, "seq", s->seq);
    if (s->pos.has) {
        fn(ud, "cursor", s->pos.c);
        fn(ud, "ties", s->pos.nties);
        char name[32];
        for (int i = 0; i < s->pos.nties; i++) {
            snprintf(name, sizeof name, "tie/%d", i);
            fn(ud, name, s->pos.ties[i]);
        }
    }
    s->dirty = false;
}

static bool poll_done(void *self) {
    poll_src *s = self;
    pthread_mutex_lock(&s->mu);
    bool done = s->finished && !s->head;
    pthread_mutex_unlock(&s->mu);
    return done;
}

static int poll_fd(void *self) { return ((poll_src *)self)->efd; }

static void poll_describe(void *self, char *out, size_t cap) {
    poll_src *s = self;
    snprintf(out, cap, "http_poll %s every %gs%s%s", s->part_name, (double)s->interval_us / 1e6,
             s->cursor ? ", cursor " : "", s->cursor ? s->cursor : "");
}

static size_t discard_body(char *p, size_t size, size_t n, void *ud) {
    (void)p, (void)ud;
    return size * n;
}

/* `sluice check`: one request to the URL (first page, no cursor) answers 2xx. */
static int http_poll_check(void *self, char *detail, size_t cap) {
    poll_src *s = self;
    CURL *c = curl_easy_init();
    if (!c) {
        snprintf(detail, cap, "cannot start libcurl");
        return 1;
    }
    struct curl_slist *hdrs = request_headers(s);
    curl_easy_setopt(c, CURLOPT_URL, s->url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
    if (s->method == 1) curl_easy_setopt(c, CURLOPT_POSTFIELDS, s->body ? s->body : "");
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard_body);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)s->timeout_ms);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "sluice");
    CURLcode rc = curl_easy_perform(c);
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(hdrs);
    curl_easy_cleanup(c);
    /* the partition name is the URL without its query: no token in a log line */
    if (rc != CURLE_OK) {
        snprintf(detail, cap, "%s: %s", s->part_name, curl_easy_strerror(rc));
        return 1;
    }
    snprintf(detail, cap, "%s answers HTTP %ld", s->part_name, status);
    return status >= 200 && status < 300 ? 0 : 1;
}

const sl_source_def sl_source_http_poll = {
    .name = "http_poll",
    .opts = poll_opts,
    .help = "a REST API polled every interval, with pagination and an incremental cursor",
    .format = "json",
    .create = poll_create,
    .check = http_poll_check,
    .destroy = poll_destroy,
    .open = poll_open_,
    .close = poll_close_,
    .read = poll_read,
    .part_names = poll_part_names,
    .each_position = poll_each_position,
    .done = poll_done,
    .fd = poll_fd,
    .describe = poll_describe,
};
