/*
 * access.c - the tokens every Sluice listener accepts, swappable while
 * requests run, and the audit ring their uses (and the operator's other
 * actions) wait in until the engine's next commit.
 *
 * Why here, below server and sources: the dashboard server and the http
 * ingest source (its own listener) accept the same scoped tokens, and
 * sources must not depend on the server. httpd is the module both already
 * use for listening and for comparing tokens.
 *
 * Rotation without a restart: a token set is immutable once built and
 * reference counted. sl_access holds the current one; a request takes a
 * reference for its whole life (sl_access_tokens) and drops it at the end,
 * so a reload that swaps in a new set (sl_access_swap) changes what new
 * requests are checked against while a request already running keeps the
 * set it started with. The last reference frees the set (secrets wiped).
 *
 * Tokens: each has an id (what the audit log names), a secret given in
 * clear (from ${VAR}), as its SHA-256 or in a file (read whenever a set is
 * built, so rewriting the file and reloading rotates it), scopes and
 * optionally the globs of the tables its SQL may read. A presented token is
 * compared with every token of the set, always all of them and each in
 * constant time, so the time taken says neither which token nor how much of
 * one matched.
 *
 * Audit: listeners must not write to the store (the engine owns its one
 * write transaction), so records wait in a bounded ring and the engine
 * drains them into _sluice_audit inside its next commit. A full ring drops
 * its oldest record and counts the drop: a flood costs audit rows, never
 * memory.
 */
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/timeutil.h"
#include "httpd/httpd.h"

struct sl_token_set {
    atomic_int refs;
    int n;
    sl_token t[];
};

typedef struct audit_rec {
    sl_audit a;
    char *blk; /* the strings of a, one allocation */
} audit_rec;

#define AUDIT_MAX 4096

struct sl_access {
    pthread_mutex_t mu; /* guards cur */
    sl_token_set *cur;
    pthread_mutex_t audit_mu; /* guards the ring */
    audit_rec ring[AUDIT_MAX];
    size_t head, n;
    uint64_t dropped;
};

static int hexval(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

static bool sha256(const void *p, size_t n, unsigned char out[32]) {
    return gnutls_hash_fast(GNUTLS_DIG_SHA256, p, n, out) == 0;
}

/* The secret of a `file:` token: the file's bytes, trailing newlines dropped. */
static int read_secret(const char *path, sl_token *t, sl_error *err) {
    FILE *f = fopen(path, "rb");
    if (!f) return sl_error_set(err, SL_EIO, "token '%s': cannot read its file %s", t->id, path);
    size_t n = fread(t->secret, 1, sizeof t->secret, f);
    bool more = fgetc(f) != EOF;
    fclose(f);
    while (n && (t->secret[n - 1] == '\n' || t->secret[n - 1] == '\r'))
        n--;
    if (more || !n)
        return sl_error_set(err, SL_EINVAL, "token '%s': the file %s is %s", t->id, path,
                            more ? "longer than 1024 bytes" : "empty");
    t->len = n;
    return 0;
}

static int load_one(sl_token *t, const sl_token_conf *c, sl_error *err) {
    snprintf(t->id, sizeof t->id, "%s", c->id ? c->id : "");
    t->scopes = c->scopes;
    int given = !!(c->token && *c->token) + !!c->sha256 + !!c->file;
    if (given != 1)
        return sl_error_set(err, SL_EINVAL, "token '%s': give exactly one of token, sha256, file",
                            t->id);
    if (c->token) {
        t->len = strlen(c->token);
        if (t->len > sizeof t->secret)
            return sl_error_set(err, SL_EINVAL, "token '%s' longer than 1024 bytes", t->id);
        memcpy(t->secret, c->token, t->len);
    } else if (c->sha256) {
        if (strlen(c->sha256) != 64)
            return sl_error_set(err, SL_EINVAL, "token '%s': sha256 must be 64 hex digits", t->id);
        for (int i = 0; i < 32; i++) {
            int hi = hexval(c->sha256[2 * i]), lo = hexval(c->sha256[2 * i + 1]);
            if (hi < 0 || lo < 0)
                return sl_error_set(err, SL_EINVAL, "token '%s': sha256 must be 64 hex digits",
                                    t->id);
            t->secret[i] = (unsigned char)(hi << 4 | lo);
        }
        t->len = 32;
        t->hashed = true;
    } else if (read_secret(c->file, t, err)) {
        return err->code;
    }
    for (int i = 0; i < c->ntables && i < SL_TOKEN_TABLES_MAX; i++) {
        if (!(t->tables[i] = strdup(c->tables[i])))
            return sl_error_set(err, SL_ENOMEM, "tokens: out of memory");
        t->ntables = i + 1;
    }
    return 0;
}

static void set_free(sl_token_set *s) {
    for (int i = 0; i < s->n; i++) {
        explicit_bzero(s->t[i].secret, sizeof s->t[i].secret);
        for (int k = 0; k < s->t[i].ntables; k++)
            free(s->t[i].tables[k]);
    }
    free(s);
}

sl_token_set *sl_token_set_build(const char *admin, const sl_token_conf *c, int nc, sl_error *err) {
    bool has_admin = admin && *admin;
    int n = (has_admin ? 1 : 0) + (nc > 0 ? nc : 0);
    if (n > SL_TOKENS_MAX + 1) {
        sl_error_set(err, SL_EINVAL, "at most %d tokens", SL_TOKENS_MAX);
        return NULL;
    }
    sl_token_set *s = calloc(1, sizeof *s + (size_t)n * sizeof(sl_token));
    if (!s) {
        sl_error_set(err, SL_ENOMEM, "tokens: out of memory");
        return NULL;
    }
    atomic_init(&s->refs, 1);
    if (has_admin) {
        sl_token_conf a = {.id = "admin", .token = admin, .scopes = SL_SCOPE_ADMIN};
        s->n = 1;
        if (load_one(&s->t[0], &a, err)) goto fail;
    }
    for (int i = 0; i < nc; i++) {
        for (int k = 0; k < s->n; k++)
            if (c[i].id && !strcmp(s->t[k].id, c[i].id)) {
                sl_error_set(err, SL_EINVAL, "two tokens named '%s'", c[i].id);
                goto fail;
            }
        if (load_one(&s->t[s->n++], &c[i], err)) goto fail;
    }
    return s;
fail:
    set_free(s);
    return NULL;
}

void sl_token_set_release(sl_token_set *s) {
    if (s && atomic_fetch_sub(&s->refs, 1) == 1) set_free(s);
}

int sl_token_set_count(const sl_token_set *s) { return s ? s->n : 0; }

const sl_token *sl_token_set_match(const sl_token_set *s, const char *given, size_t glen) {
    unsigned char h[32];
    bool hashed = false;
    const sl_token *hit = NULL;
    for (int i = 0; s && i < s->n; i++) {
        const sl_token *t = &s->t[i];
        bool eq;
        if (t->hashed) {
            if (!hashed && !(hashed = sha256(given, glen, h))) continue;
            eq = sl_httpd_token_equal((const char *)t->secret, 32, (const char *)h, 32);
        } else {
            eq = sl_httpd_token_equal((const char *)t->secret, t->len, given, glen);
        }
        if (eq && !hit) hit = t; /* no early exit: every token costs its time */
    }
    return hit;
}

const sl_token *sl_token_set_bearer(const sl_token_set *s, struct MHD_Connection *conn) {
    const char *h = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Authorization");
    if (!h || strncasecmp(h, "Bearer ", 7)) return NULL;
    return sl_token_set_match(s, h + 7, strlen(h + 7));
}

/* ---- the holder ---- */

sl_access *sl_access_new(void) {
    sl_access *a = calloc(1, sizeof *a);
    if (!a) return NULL;
    pthread_mutex_init(&a->mu, NULL);
    pthread_mutex_init(&a->audit_mu, NULL);
    return a;
}

void sl_access_swap(sl_access *a, sl_token_set *s) {
    pthread_mutex_lock(&a->mu);
    sl_token_set *old = a->cur;
    a->cur = s;
    pthread_mutex_unlock(&a->mu);
    sl_token_set_release(old); /* freed now, or by the last request holding it */
}

sl_token_set *sl_access_tokens(sl_access *a) {
    if (!a) return NULL;
    pthread_mutex_lock(&a->mu);
    sl_token_set *s = a->cur;
    if (s) atomic_fetch_add(&s->refs, 1);
    pthread_mutex_unlock(&a->mu);
    return s;
}

void sl_access_free(sl_access *a) {
    if (!a) return;
    sl_token_set_release(a->cur);
    for (size_t i = 0; i < a->n; i++)
        free(a->ring[(a->head + i) % AUDIT_MAX].blk);
    pthread_mutex_destroy(&a->audit_mu);
    pthread_mutex_destroy(&a->mu);
    free(a);
}

/* ---- the audit ring ---- */

void sl_access_audit_push(sl_access *a, const char *token, const char *addr, const char *method,
                          const char *route, const char *detail, int status) {
    if (!a) return;
    const char *f[5] = {token ? token : "", addr ? addr : "", method ? method : "",
                        route ? route : "", detail ? detail : ""};
    size_t len[5], total = 0;
    for (int i = 0; i < 5; i++)
        total += (len[i] = strlen(f[i])) + 1;
    char *blk = malloc(total);
    pthread_mutex_lock(&a->audit_mu);
    if (!blk) {
        a->dropped++;
        pthread_mutex_unlock(&a->audit_mu);
        return;
    }
    if (a->n == AUDIT_MAX) { /* full: the oldest goes */
        free(a->ring[a->head].blk);
        a->head = (a->head + 1) % AUDIT_MAX;
        a->n--;
        a->dropped++;
    }
    audit_rec *r = &a->ring[(a->head + a->n++) % AUDIT_MAX];
    const char **dst[5] = {&r->a.token, &r->a.addr, &r->a.method, &r->a.route, &r->a.detail};
    char *p = blk;
    for (int i = 0; i < 5; i++) {
        memcpy(p, f[i], len[i] + 1);
        *dst[i] = p;
        p += len[i] + 1;
    }
    r->blk = blk;
    r->a.status = status;
    r->a.ts_us = sl_now_us();
    pthread_mutex_unlock(&a->audit_mu);
}

void sl_access_audit(sl_access *a, const char *token, const char *addr, const char *method,
                     const char *route, const char *detail, int status) {
    const char *f[5] = {token ? token : "", addr ? addr : "", method ? method : "",
                        route ? route : "", detail ? detail : ""};
    char *e[5];
    for (int i = 0; i < 5; i++) {
        size_t n = strlen(f[i]);
        if ((e[i] = malloc(n * 6 + 1))) sl_json_escape(e[i], (int)(n * 6 + 1), f[i], (int)n);
    }
    sl_log_info("audit",
                "\"token\":\"%s\",\"addr\":\"%s\",\"method\":\"%s\",\"route\":\"%s\","
                "\"status\":%d,\"detail\":\"%s\"",
                e[0] ? e[0] : "", e[1] ? e[1] : "", e[2] ? e[2] : "", e[3] ? e[3] : "", status,
                e[4] ? e[4] : "");
    for (int i = 0; i < 5; i++)
        free(e[i]);
    sl_access_audit_push(a, token, addr, method, route, detail, status);
}

size_t sl_access_audit_pending(sl_access *a) {
    if (!a) return 0;
    pthread_mutex_lock(&a->audit_mu);
    size_t n = a->n + (a->dropped ? 1 : 0);
    pthread_mutex_unlock(&a->audit_mu);
    return n;
}

int sl_access_audit_drain(sl_access *a, int (*fn)(void *ud, const sl_audit *r), void *ud,
                          uint64_t *dropped) {
    if (dropped) *dropped = 0;
    if (!a) return 0;
    /* take the queued records out under the lock, hand them over outside it
     * (fn writes to the store: request threads must not wait on that) */
    pthread_mutex_lock(&a->audit_mu);
    size_t n = a->n;
    audit_rec *take = n ? malloc(n * sizeof *take) : NULL;
    if (n && !take) n = 0;
    for (size_t i = 0; i < n; i++)
        take[i] = a->ring[(a->head + i) % AUDIT_MAX];
    a->head = (a->head + n) % AUDIT_MAX;
    a->n -= n;
    if (dropped) *dropped = a->dropped;
    a->dropped = 0;
    pthread_mutex_unlock(&a->audit_mu);
    int rc = 0;
    size_t i = 0;
    for (; i < n && !rc; i++)
        rc = fn(ud, &take[i].a);
    if (rc) i--; /* the failed one is kept too */
    for (size_t k = 0; k < i; k++)
        free(take[k].blk);
    if (i < n) { /* put the rest back in front (newer ones may drop instead) */
        pthread_mutex_lock(&a->audit_mu);
        for (size_t k = n; k-- > i;) {
            if (a->n == AUDIT_MAX) {
                free(take[k].blk);
                a->dropped++;
                continue;
            }
            a->head = (a->head + AUDIT_MAX - 1) % AUDIT_MAX;
            a->ring[a->head] = take[k];
            a->n++;
        }
        pthread_mutex_unlock(&a->audit_mu);
    }
    free(take);
    return rc;
}
