/*
 * send.c - one libcurl transfer of one notification (HTTP POST or SMTP),
 * and how its outcome is judged: sent, worth retrying, or hopeless.
 */
#include <curl/curl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/mem.h"
#include "core/timeutil.h"
#include "notify/internal.h"

#define ANSWER_KEEP 512 /* bytes of an answer kept for the reason */

struct sl__xfer {
    CURL *e;
    struct curl_slist *hdrs, *rcpt;
    const sl__notify_channel *ch;
    char *body;
    size_t len, off;
    char answer[ANSWER_KEEP + 1];
    size_t alen;
    int64_t retry_after_us;
    char errbuf[CURL_ERROR_SIZE];
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static void do_curl_init(void) { curl_global_init(CURL_GLOBAL_DEFAULT); }
void sl__notify_curl_init(void) { pthread_once(&curl_once, do_curl_init); }

static size_t on_body(char *p, size_t sz, size_t n, void *ud) {
    sl__xfer *x = ud;
    size_t len = sz * n, room = ANSWER_KEEP - x->alen;
    size_t k = len < room ? len : room;
    memcpy(x->answer + x->alen, p, k);
    x->alen += k;
    x->answer[x->alen] = 0;
    return len;
}

static size_t on_header(char *p, size_t sz, size_t n, void *ud) {
    sl__xfer *x = ud;
    size_t len = sz * n;
    if (len > 12 && !strncasecmp(p, "Retry-After:", 12)) {
        char v[64];
        size_t k = len - 12 < sizeof v - 1 ? len - 12 : sizeof v - 1;
        memcpy(v, p + 12, k);
        v[k] = 0;
        char *s = v;
        while (*s == ' ' || *s == '\t')
            s++;
        s[strcspn(s, "\r\n")] = 0;
        char *end;
        long secs = strtol(s, &end, 10);
        if (end != s && *end == 0) {
            if (secs < 0) secs = 0;
        } else {
            time_t when = curl_getdate(s, NULL); /* an HTTP-date */
            secs = when > 0 ? (long)(when - (time_t)(sl_now_us() / 1000000)) : 0;
            if (secs < 0) secs = 0;
        }
        if (secs > 3600) secs = 3600; /* a server's whim does not park a channel for days */
        x->retry_after_us = (int64_t)secs * 1000000;
    }
    return len;
}

static size_t on_read(char *buf, size_t sz, size_t n, void *ud) {
    sl__xfer *x = ud;
    size_t room = sz * n, left = x->len - x->off;
    size_t k = left < room ? left : room;
    memcpy(buf, x->body + x->off, k);
    x->off += k;
    return k;
}

sl__xfer *sl__xfer_new(const sl__notify_channel *ch, const char *idem, const char *kind,
                       const sl__notify_msg *msg, bool second) {
    sl__notify_curl_init();
    sl__xfer *x = sl_xcalloc(1, sizeof *x);
    x->ch = ch;
    const char *body = second ? msg->body2 : msg->body;
    x->body = sl_xstrdup(body ? body : "");
    x->len = strlen(x->body);
    x->e = curl_easy_init();
    if (!x->e) sl_oom("curl easy handle", sizeof *x);
    CURL *e = x->e;
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, x->errbuf);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)(ch->timeout_us / 1000));
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)(ch->timeout_us / 1000));
    curl_easy_setopt(e, CURLOPT_PRIVATE, x);
    if (ch->type == SL__CH_EMAIL) {
        curl_easy_setopt(e, CURLOPT_URL, ch->server);
        curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "smtp,smtps");
        char from[512];
        snprintf(from, sizeof from, "<%s>", ch->from);
        curl_easy_setopt(e, CURLOPT_MAIL_FROM, from);
        for (int i = 0; i < ch->nto; i++) {
            char to[512];
            snprintf(to, sizeof to, "<%s>", ch->to[i]);
            x->rcpt = curl_slist_append(x->rcpt, to);
        }
        curl_easy_setopt(e, CURLOPT_MAIL_RCPT, x->rcpt);
        if (ch->starttls) curl_easy_setopt(e, CURLOPT_USE_SSL, (long)CURLUSESSL_ALL);
        if (ch->username[0]) {
            curl_easy_setopt(e, CURLOPT_USERNAME, ch->username);
            curl_easy_setopt(e, CURLOPT_PASSWORD, ch->password);
        }
        curl_easy_setopt(e, CURLOPT_READFUNCTION, on_read);
        curl_easy_setopt(e, CURLOPT_READDATA, x);
        curl_easy_setopt(e, CURLOPT_UPLOAD, 1L);
        curl_easy_setopt(e, CURLOPT_INFILESIZE_LARGE, (curl_off_t)x->len);
        return x;
    }
    curl_easy_setopt(e, CURLOPT_URL, ch->url);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_POST, 1L);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, x->body);
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)x->len);
    curl_easy_setopt(e, CURLOPT_USERAGENT, "sluice-alerts/1");
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, x);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, x);
    char h[512];
    snprintf(h, sizeof h, "Content-Type: %s", msg->ctype ? msg->ctype : "application/json");
    x->hdrs = curl_slist_append(x->hdrs, h);
    x->hdrs = curl_slist_append(x->hdrs, "Expect:"); /* no 100-continue round trip */
    if (ch->type != SL__CH_PAGERDUTY) {
        /* PagerDuty deduplicates by dedup_key; the others get the key of
         * this notification, so a resend after a crash can be recognised */
        snprintf(h, sizeof h, "Idempotency-Key: %s", idem);
        h[strcspn(h, "\r\n")] = 0;
        x->hdrs = curl_slist_append(x->hdrs, h);
    }
    if (ch->type == SL__CH_WEBHOOK) {
        snprintf(h, sizeof h, "X-Sluice-Kind: %s", kind);
        h[strcspn(h, "\r\n")] = 0;
        x->hdrs = curl_slist_append(x->hdrs, h);
        if (ch->secret[0]) {
            char sig[72];
            sl__notify_signature(ch->secret, x->body, x->len, sig);
            snprintf(h, sizeof h, "X-Sluice-Signature: %s", sig);
            x->hdrs = curl_slist_append(x->hdrs, h);
        }
    }
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, x->hdrs);
    return x;
}

void *sl__xfer_easy(sl__xfer *x) { return x->e; }

static bool hopeless_curl(int cc) {
    return cc == CURLE_URL_MALFORMAT || cc == CURLE_UNSUPPORTED_PROTOCOL ||
           cc == CURLE_LOGIN_DENIED || cc == CURLE_NOT_BUILT_IN;
}

sl__xresult sl__xfer_result(sl__xfer *x, int cc, int *status, char *reason, size_t cap,
                            int64_t *retry_after_us) {
    long code = 0;
    curl_easy_getinfo(x->e, CURLINFO_RESPONSE_CODE, &code);
    *status = (int)code;
    *retry_after_us = x->retry_after_us;
    /* the answer as one line: it ends up in a log line and a table cell */
    for (size_t i = 0; i < x->alen; i++)
        if (x->answer[i] == '\n' || x->answer[i] == '\r') x->answer[i] = ' ';
    if (x->ch->type == SL__CH_EMAIL) {
        if (cc == CURLE_OK) {
            snprintf(reason, cap, "SMTP %ld accepted", code);
            return SL__X_OK;
        }
        snprintf(reason, cap, "SMTP %ld: %s", code,
                 x->errbuf[0] ? x->errbuf : curl_easy_strerror((CURLcode)cc));
        /* 5xx is the server's permanent no (RFC 5321); 4xx and no answer are transient */
        if ((code >= 500 && code < 600) || hopeless_curl(cc)) return SL__X_FAIL;
        return SL__X_RETRY;
    }
    if (cc != CURLE_OK) {
        snprintf(reason, cap, "%s", x->errbuf[0] ? x->errbuf : curl_easy_strerror((CURLcode)cc));
        return hopeless_curl(cc) ? SL__X_FAIL : SL__X_RETRY;
    }
    snprintf(reason, cap, "HTTP %ld%s%.*s", code, x->alen ? ": " : "", (int)x->alen, x->answer);
    if (code >= 200 && code < 300) return SL__X_OK;
    if (code == 429 || code == 408 || code >= 500) return SL__X_RETRY;
    return SL__X_FAIL; /* another 4xx (or a redirect): the request itself is wrong */
}

void sl__xfer_free(sl__xfer *x) {
    if (!x) return;
    if (x->e) curl_easy_cleanup(x->e);
    curl_slist_free_all(x->hdrs);
    curl_slist_free_all(x->rcpt);
    free(x->body);
    free(x);
}
