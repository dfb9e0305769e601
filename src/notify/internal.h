/*
 * internal.h - what the files of src/notify share (not part of its API;
 * the unit tests include it to check payloads and the backoff schedule).
 */
#ifndef SL_NOTIFY_INTERNAL_H
#define SL_NOTIFY_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/strbuf.h"
#include "notify/notify.h"

enum { SL__CH_SLACK, SL__CH_TEAMS, SL__CH_EMAIL, SL__CH_PAGERDUTY, SL__CH_WEBHOOK, SL__CH_NTYPES };
enum { SL__CARD_ADAPTIVE, SL__CARD_MESSAGECARD };

/* One configured channel, every string owned (the spec may be freed first). */
typedef struct sl__notify_channel {
    char *name;
    int type;
    char *url, *server, *username, *password, *from, *routing_key, *secret, *ca_file;
    char **to; /* NULL-terminated */
    int nto;
    bool starttls;
    int card;
    int64_t timeout_us, give_up_us, max_backoff_us;
    bool enabled;
    char host[128]; /* host[:port] of url/server: the only part of it ever logged */
} sl__notify_channel;

struct sl_channels {
    int n;
    sl__notify_channel *ch;
};

const char *sl__notify_type_name(int type);

/* ---- a growable string: core/strbuf.h ---- */

/* ---- a small JSON reader for payloads (the engine writes them; the
 * reader still refuses malformed text rather than trusting it) ---- */
typedef enum { SL__J_NULL, SL__J_BOOL, SL__J_NUM, SL__J_STR, SL__J_ARR, SL__J_OBJ } sl__jtype;
typedef struct sl__jv {
    sl__jtype t;
    char *s; /* STR: the unescaped text; NUM, BOOL: the literal */
    int n;   /* ARR, OBJ: items */
    char **keys;
    struct sl__jv *kids;
} sl__jv;
sl__jv *sl__json_parse(const char *text, size_t len); /* NULL: not valid JSON */
void sl__json_free(sl__jv *v);
const sl__jv *sl__json_get(const sl__jv *obj, const char *key);
/* The text of a string/number/bool member, "" when absent or null. */
const char *sl__json_str(const sl__jv *obj, const char *key);
/* Writes v back as JSON. */
void sl__json_write(sl_strbuf *b, const sl__jv *v);

/* ---- request bodies, per channel type ---- */
typedef struct sl__notify_msg {
    char *body; /* malloc'd */
    size_t len;
    char *body2;       /* pagerduty test: the resolve event sent after the trigger */
    const char *ctype; /* "application/json" (NULL for email) */
} sl__notify_msg;
/* Builds the request body of one notification for channel ch. 0, or
 * SL_EINVAL when the payload is not a JSON object. now_us dates emails. */
int sl__notify_build(const sl__notify_channel *ch, const char *kind, const char *idem_key,
                     const char *payload_json, int64_t now_us, sl__notify_msg *out, sl_error *err);
void sl__notify_msg_free(sl__notify_msg *m);
/* "sha256=" + lowercase hex HMAC-SHA256(key, data): 71 chars + NUL. */
void sl__notify_signature(const char *key, const char *data, size_t len, char out[72]);
/* The Message-ID of an email: "<" + idem_key, bytes outside RFC 5322 atext
 * %XX-encoded (so distinct keys stay distinct) + "@sluice>". */
void sl__notify_message_id(const char *idem_key, sl_strbuf *out);

/* ---- retries ---- */
/* Delay before retry number `attempt` (1 = after the first failure):
 * 500 ms * 2^(attempt-1), capped at max_us, then "equal jitter": scaled by
 * 0.5 + 0.5 * r for r in [0, 1) so concurrent senders spread out but the
 * delay is never less than half the schedule. */
int64_t sl__notify_backoff_us(int attempt, int64_t max_us, double r);
#define SL__NOTIFY_BACKOFF_BASE_US 500000

/* ---- one transfer (deliverer and `alert test`) ---- */
typedef struct sl__xfer sl__xfer;
typedef enum { SL__X_OK, SL__X_RETRY, SL__X_FAIL } sl__xresult;
/* Prepares an easy handle that sends msg (msg.body, or body2 when second)
 * to ch; the handle and its lists belong to the returned transfer. */
sl__xfer *sl__xfer_new(const sl__notify_channel *ch, const char *idem_key, const char *kind,
                       const sl__notify_msg *msg, bool second);
void *sl__xfer_easy(sl__xfer *x); /* the CURL * */
/* After the transfer finished with curl code cc: the outcome, the status
 * (HTTP or SMTP code, 0 when none), a reason (no secret: a curl message or
 * the first bytes of the answer) and the Retry-After delay (µs, 0 if none). */
sl__xresult sl__xfer_result(sl__xfer *x, int cc, int *status, char *reason, size_t cap,
                            int64_t *retry_after_us);
void sl__xfer_free(sl__xfer *x);
/* curl_global_init, once, thread-safely. */
void sl__notify_curl_init(void);

#endif
