/*
 * auth.c - scoped tokens and the audit ring of the HTTP server.
 *
 * Tokens: each has an id (what the audit log names), a secret given in
 * clear (from ${VAR}), as its SHA-256 or in a file, scopes and optionally
 * the globs of the tables its SQL may read. A presented token is compared
 * with every configured one, always all of them and each in constant time,
 * so the time taken says neither which token nor how much of one matched.
 * A hashed token is compared by hashing what was presented.
 *
 * Audit: the server must not write to the store (the engine owns its one
 * write transaction), so records wait in a bounded ring here and the engine
 * drains them into _sluice_audit inside its next commit. A full ring drops
 * its oldest record and counts the drop: a flood of requests costs audit
 * rows, never memory.
 */
#include <fnmatch.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/timeutil.h"
#include "httpd/httpd.h"
#include "server/internal.h"

static int hexval(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

static bool sha256(const void *p, size_t n, unsigned char out[32]) {
    unsigned int len = 0;
    return EVP_Digest(p, n, out, &len, EVP_sha256(), NULL) == 1 && len == 32;
}

/* The secret of a `file:` token: the file's bytes, trailing newlines dropped. */
static int read_secret(const char *path, srv_token *t, sl_error *err) {
    FILE *f = fopen(path, "rb");
    if (!f)
        return sl_error_set(err, SL_EIO, "server token '%s': cannot read its file %s", t->id, path);
    size_t n = fread(t->secret, 1, sizeof t->secret, f);
    bool more = fgetc(f) != EOF;
    fclose(f);
    while (n && (t->secret[n - 1] == '\n' || t->secret[n - 1] == '\r'))
        n--;
    if (more || !n)
        return sl_error_set(err, SL_EINVAL, "server token '%s': the file %s is %s", t->id, path,
                            more ? "longer than 1024 bytes" : "empty");
    t->len = n;
    return 0;
}

static int load_one(srv_token *t, const sl_server_token *c, sl_error *err) {
    snprintf(t->id, sizeof t->id, "%s", c->id ? c->id : "");
    t->scopes = c->scopes;
    int given = !!(c->token && *c->token) + !!c->sha256 + !!c->file;
    if (given != 1)
        return sl_error_set(err, SL_EINVAL,
                            "server token '%s': give exactly one of token, sha256, file", t->id);
    if (c->token) {
        t->len = strlen(c->token);
        if (t->len > sizeof t->secret)
            return sl_error_set(err, SL_EINVAL, "server token '%s' longer than 1024 bytes", t->id);
        memcpy(t->secret, c->token, t->len);
    } else if (c->sha256) {
        if (strlen(c->sha256) != 64)
            return sl_error_set(err, SL_EINVAL, "server token '%s': sha256 must be 64 hex digits",
                                t->id);
        for (int i = 0; i < 32; i++) {
            int hi = hexval(c->sha256[2 * i]), lo = hexval(c->sha256[2 * i + 1]);
            if (hi < 0 || lo < 0)
                return sl_error_set(err, SL_EINVAL,
                                    "server token '%s': sha256 must be 64 hex digits", t->id);
            t->secret[i] = (unsigned char)(hi << 4 | lo);
        }
        t->len = 32;
        t->hashed = true;
    } else if (read_secret(c->file, t, err)) {
        return err->code;
    }
    for (int i = 0; i < c->ntables && i < SL_SERVER_TOKEN_TABLES_MAX; i++) {
        if (!(t->tables[i] = strdup(c->tables[i])))
            return sl_error_set(err, SL_ENOMEM, "server: out of memory");
        t->ntables = i + 1;
    }
    return 0;
}

int srv_tokens_load(sl_server *s, const sl_server_config *cfg, sl_error *err) {
    int n = (cfg->token && *cfg->token ? 1 : 0) + (cfg->ntokens > 0 ? cfg->ntokens : 0);
    if (!n) return 0;
    if (n > SL_SERVER_TOKENS_MAX + 1)
        return sl_error_set(err, SL_EINVAL, "server: at most %d tokens", SL_SERVER_TOKENS_MAX);
    if (!(s->tokens = calloc((size_t)n, sizeof *s->tokens)))
        return sl_error_set(err, SL_ENOMEM, "server: out of memory");
    if (cfg->token && *cfg->token) {
        sl_server_token admin = {.id = "admin", .token = cfg->token, .scopes = SL_SCOPE_ADMIN};
        s->ntokens = 1;
        if (load_one(&s->tokens[0], &admin, err)) return err->code;
    }
    for (int i = 0; i < cfg->ntokens; i++) {
        for (int k = 0; k < s->ntokens; k++)
            if (cfg->tokens[i].id && !strcmp(s->tokens[k].id, cfg->tokens[i].id))
                return sl_error_set(err, SL_EINVAL, "server: two tokens named '%s'",
                                    cfg->tokens[i].id);
        if (load_one(&s->tokens[s->ntokens++], &cfg->tokens[i], err)) return err->code;
    }
    return 0;
}

void srv_tokens_free(sl_server *s) {
    for (int i = 0; i < s->ntokens; i++) {
        explicit_bzero(s->tokens[i].secret, sizeof s->tokens[i].secret);
        for (int k = 0; k < s->tokens[i].ntables; k++)
            free(s->tokens[i].tables[k]);
    }
    free(s->tokens);
    s->tokens = NULL;
    s->ntokens = 0;
}

const srv_token *srv_token_match(const sl_server *s, const char *given, size_t glen) {
    unsigned char h[32];
    bool hashed = false;
    const srv_token *hit = NULL;
    for (int i = 0; i < s->ntokens; i++) {
        const srv_token *t = &s->tokens[i];
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

/* Tables holding what a viewer must not see unless granted by name. */
static bool sensitive(const char *table) {
    return !strcmp(table, "quarantine") || !strcmp(table, "_sluice_audit");
}

static bool granted(const srv_token *t, const char *name) {
    bool exact_only = sensitive(name);
    if (!t->ntables && !exact_only) return true;
    for (int i = 0; i < t->ntables; i++)
        if (exact_only ? !strcmp(t->tables[i], name) : !fnmatch(t->tables[i], name, 0)) return true;
    return false;
}

bool srv_table_allowed(const srv_token *t, const char *table, const char *view) {
    if (!t || (t->scopes & SL_SCOPE_ADMIN) || !table) return true;
    if (!strncmp(table, "sqlite_", 7)) return true; /* the catalog: names, not rows */
    if (granted(t, table)) return true;
    /* a view the token may read grants what it reads, but never the
     * sensitive tables */
    return view && !sensitive(table) && granted(t, view);
}

/* ---- audit ring ---- */

void srv_audit_push(sl_server *s, const char *token, const char *addr, const char *method,
                    const char *route, const char *detail, int status) {
    const char *f[5] = {token, addr ? addr : "", method, route, detail ? detail : ""};
    size_t len[5], total = 0;
    for (int i = 0; i < 5; i++)
        total += (len[i] = strlen(f[i])) + 1;
    char *blk = malloc(total);
    pthread_mutex_lock(&s->audit_mu);
    if (!blk || !s->audit) {
        s->audit_dropped++;
        pthread_mutex_unlock(&s->audit_mu);
        free(blk);
        return;
    }
    if (s->audit_n == SRV_AUDIT_MAX) { /* full: the oldest goes */
        free(s->audit[s->audit_head].blk);
        s->audit_head = (s->audit_head + 1) % SRV_AUDIT_MAX;
        s->audit_n--;
        s->audit_dropped++;
    }
    srv_audit_rec *r = &s->audit[(s->audit_head + s->audit_n++) % SRV_AUDIT_MAX];
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
    pthread_mutex_unlock(&s->audit_mu);
}

int sl_server_audit_drain(sl_server *s, int (*fn)(void *ud, const sl_server_audit *a), void *ud,
                          uint64_t *dropped) {
    if (dropped) *dropped = 0;
    if (!s) return 0;
    /* take the queued records out under the lock, hand them over outside it
     * (fn writes to the store: request threads must not wait on that) */
    pthread_mutex_lock(&s->audit_mu);
    size_t n = s->audit_n;
    srv_audit_rec *take = n ? malloc(n * sizeof *take) : NULL;
    if (n && !take) n = 0;
    for (size_t i = 0; i < n; i++)
        take[i] = s->audit[(s->audit_head + i) % SRV_AUDIT_MAX];
    s->audit_head = (s->audit_head + n) % SRV_AUDIT_MAX;
    s->audit_n -= n;
    if (dropped) *dropped = s->audit_dropped;
    s->audit_dropped_total += s->audit_dropped;
    s->audit_dropped = 0;
    pthread_mutex_unlock(&s->audit_mu);
    int rc = 0;
    size_t i = 0;
    for (; i < n && !rc; i++)
        rc = fn(ud, &take[i].a);
    if (rc) i--; /* the failed one is kept too */
    for (size_t k = 0; k < i; k++)
        free(take[k].blk);
    if (i < n) { /* put the rest back in front (newer ones may drop instead) */
        pthread_mutex_lock(&s->audit_mu);
        for (size_t k = n; k-- > i;) {
            if (s->audit_n == SRV_AUDIT_MAX) {
                free(take[k].blk);
                s->audit_dropped++;
                continue;
            }
            s->audit_head = (s->audit_head + SRV_AUDIT_MAX - 1) % SRV_AUDIT_MAX;
            s->audit[s->audit_head] = take[k];
            s->audit_n++;
        }
        pthread_mutex_unlock(&s->audit_mu);
    }
    free(take);
    return rc;
}

void srv_audit_free(sl_server *s) {
    for (size_t i = 0; s->audit && i < s->audit_n; i++)
        free(s->audit[(s->audit_head + i) % SRV_AUDIT_MAX].blk);
    free(s->audit);
    s->audit = NULL;
}
