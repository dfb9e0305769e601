/*
 * reload.c - SIGHUP (`systemctl reload`) and --watch-config: the pipeline
 * file is read again and applied without a restart and without losing state.
 *
 * What state is: positions (per source and partition), and the state of
 * windows, rollups, window joins and stateful steps (dedupe, scd2, anomaly,
 * health, join...), stored under ids (`table/index/op` for steps, the table's
 * name for its window). Everything else - views, the dashboard, alerts,
 * expectations, filters, derived columns, lookups, new tables, new sources -
 * is code that reads or writes rows, and may change between two commits.
 *
 * So a reload is accepted when every piece of state of the running pipeline
 * is still there in the new file under the same id with the same options
 * (a dedupe's key, a window's keys, size or aggregates); a removed table
 * simply leaves its state behind. Anything else is refused with a log line
 * naming the table, the step and the option, and the old pipeline keeps
 * running. A file that does not load (a syntax error, an unknown column) is
 * refused the same way, with its file:line:col message.
 *
 * Applying it is a restart inside the process, at a commit boundary: commit,
 * close the sources and the store, swap the compiled pipelines, open the
 * store again and restore every state from it (recover.c), exactly as a
 * restart would. The server keeps listening on the same port; it is given
 * the new dashboard and lineage, and its pooled connections are closed so
 * that new ones see the new views. The tokens (server.token, server.tokens,
 * their `file:` secrets read again) are built anew and swapped in for the
 * next requests of the server and of http sources with `auth: server`; a
 * set that does not load refuses the reload. Every reload, applied or
 * refused, is audited. (A ${VAR} is looked up again, but in the process's
 * own environment, which does not change: secrets to rotate go in files.)
 */
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <unistd.h>

#include "core/log.h"
#include "core/sdnotify.h"
#include "core/timeutil.h"
#include "engine/runtime.h"

/* The first key whose value differs between two option maps ("" when the
 * maps are equal, "the options" when they are not maps). */
static void first_difference(const sl_node *a, const sl_node *b, char *out, size_t cap) {
    out[0] = 0;
    char *ja = sl_pipeline_node_json(a), *jb = sl_pipeline_node_json(b);
    bool same = !strcmp(ja, jb);
    free(ja);
    free(jb);
    if (same) return;
    if (!a || !b || a->kind != SL_NODE_MAP || b->kind != SL_NODE_MAP) {
        snprintf(out, cap, "the options");
        return;
    }
    for (int pass = 0; pass < 2; pass++) {
        const sl_node *x = pass ? b : a, *y = pass ? a : b;
        for (int i = 0; i < x->n; i++) {
            const sl_node *v = sl_node_get(y, x->map[i].key);
            char *jx = sl_pipeline_node_json(x->map[i].val), *jy = sl_pipeline_node_json(v);
            bool eq = v && !strcmp(jx, jy);
            free(jx);
            free(jy);
            if (!eq) {
                snprintf(out, cap, "'%s'", x->map[i].key);
                return;
            }
        }
    }
    snprintf(out, cap, "the options");
}

static const table *find_table(const sl_pipeline *p, const char *name) {
    for (int i = 0; i < p->nt; i++)
        if (!strcmp(p->t[i].name, name)) return &p->t[i];
    return NULL;
}

/* The option map of step number `index` of table node t (its operator's
 * argument), or NULL. */
static const sl_node *step_arg(const table *t, int index) {
    const sl_node *steps = t->node ? sl_node_get(t->node, "steps") : NULL;
    if (!steps || steps->kind != SL_NODE_SEQ || index < 0 || index >= steps->n) return NULL;
    const sl_node *sn = steps->seq[index];
    return sn->kind == SL_NODE_MAP && sn->n == 1 ? sn->map[0].val : NULL;
}

static int step_index(const char *id) { /* "table/3/dedupe": 3 */
    const char *slash = strchr(id, '/');
    return slash ? atoi(slash + 1) : -1;
}

/* Whether `next` keeps every piece of `cur`'s state valid; if not, why. */
static bool state_compatible(const sl_pipeline *cur, const sl_pipeline *next, char *why,
                             size_t cap) {
    char diff[160];
    if (strcmp(cur->name, next->name)) {
        snprintf(why, cap, "the pipeline's name changed from '%s' to '%s' (it names the data)",
                 cur->name, next->name);
        return false;
    }
    if (strcmp(cur->store_url, next->store_url)) {
        snprintf(why, cap, "the store changed");
        return false;
    }
    if ((cur->part_column == NULL) != (next->part_column == NULL)) {
        snprintf(why, cap, "partitioned_state changed");
        return false;
    }
    for (int i = 0; i < cur->nt; i++) {
        const table *t = &cur->t[i], *u = find_table(next, t->name);
        if (!u) continue; /* removed: its state stays behind, unused */
        static const char *const state_keys[] = {"window", "rollup", "join"};
        for (size_t k = 0; k < sizeof state_keys / sizeof *state_keys; k++) {
            const sl_node *a = t->node ? sl_node_get(t->node, state_keys[k]) : NULL;
            const sl_node *b = u->node ? sl_node_get(u->node, state_keys[k]) : NULL;
            if (!a) continue;
            if (!b) {
                snprintf(why, cap, "table '%s': its %s was removed (its state would not fit)",
                         t->name, state_keys[k]);
                return false;
            }
            first_difference(a, b, diff, sizeof diff);
            if (diff[0]) {
                snprintf(why, cap, "table '%s': %s %s changed (its state would not fit)", t->name,
                         state_keys[k], diff);
                return false;
            }
        }
        for (int s = 0; s < t->nsteps; s++) {
            const step *st = &t->steps[s];
            if (!st->def->snapshot) continue; /* no state */
            const step *nx = NULL;
            for (int j = 0; j < u->nsteps; j++)
                if (!strcmp(u->steps[j].id, st->id)) nx = &u->steps[j];
            if (!nx) {
                snprintf(why, cap,
                         "table '%s': step %d (%s) moved or was removed, and its state is "
                         "kept under its position (add steps after it, or restart with a new "
                         "data directory)",
                         t->name, step_index(st->id) + 1, st->def->name);
                return false;
            }
            first_difference(step_arg(t, step_index(st->id)), step_arg(u, step_index(nx->id)), diff,
                             sizeof diff);
            if (diff[0]) {
                snprintf(why, cap, "table '%s': step %d (%s): %s changed (its state would not fit)",
                         t->name, step_index(st->id) + 1, st->def->name, diff);
                return false;
            }
        }
    }
    return true;
}

static void log_refused(run *R, const sl_pipeline *p, const char *why) {
    char js[2 * SL_ERROR_MAX];
    sl_json_escape(js, sizeof js, why, (int)strlen(why));
    sl_log_error("reload refused: the running pipeline goes on unchanged",
                 "\"pipeline\":\"%s\",\"reason\":\"%s\"", p->name, js);
    /* audited: the operator's action, the file and why (status 400) */
    sl_access_audit(R->access, "", "", "RELOAD", p->file, why, 400);
}

int sl__engine_reload(run *R) {
    R->reload_requested = false;
    sl_pipeline *p = R->p;
    sl_error e = {0};
    sl_log_info("reload: reading the pipeline file", "\"pipeline\":\"%s\"", p->name);
    sl_sd_notify("RELOADING=1");
    sl_pipeline *next = sl_pipeline_load_store(p->file, p->vars,
                                               p->store_override[0] ? p->store_override : NULL, &e);
    if (next && p->nresolved) { /* inferred or evolved schemas stay what they are */
        memcpy(next->resolved, p->resolved, sizeof next->resolved);
        next->nresolved = p->nresolved;
        if (sl_pipeline_reload(next, &e)) {
            sl_pipeline_free(next);
            next = NULL;
        }
    }
    char why[SL_ERROR_MAX + 256];
    if (!next) {
        log_refused(R, p, e.msg);
        sl_sd_notify("READY=1");
        return 0;
    }
    if (!state_compatible(p, next, why, sizeof why)) {
        log_refused(R, p, why);
        sl_pipeline_free(next);
        sl_sd_notify("READY=1");
        return 0;
    }
    /* the new file's tokens (a `file:` secret is read again now): a set that
     * does not load refuses the reload, the old tokens stay */
    sl_token_set *tokens = NULL;
    if (sl__engine_tokens(next, &tokens, &e)) {
        log_refused(R, p, e.msg);
        sl_pipeline_free(next);
        sl_sd_notify("READY=1");
        return 0;
    }
    /* a commit boundary: everything read so far is stored with its state */
    int rc = sl__engine_commit_wait(R, false);
    if (rc) {
        sl_token_set_release(tokens);
        sl_pipeline_free(next);
        return rc;
    }
    int tables_before = p->nt, sources_before = p->nsrc;
    /* new requests (server and http sources) are checked against the new
     * tokens from here; a request running keeps the set it started with */
    sl_access_swap(R->access, tokens);
    if ((rc = sl__engine_reopen(R, next))) return rc;
    if (R->server) {
        sl_server_set_pages(R->server, p->dashboard_json, p->lineage_json);
        sl_server_reopen(R->server); /* new connections see the new views */
        sl__engine_build_metrics(R);
        sl_server_publish(R->server, R->commit_id, R->metrics);
        sl_server_set_ready(R->server, true);
    }
    sl_log_info("reload applied",
                "\"pipeline\":\"%s\",\"tables\":%d,\"tables_before\":%d,\"sources\":%d,"
                "\"sources_before\":%d,\"commit_id\":%lld",
                p->name, p->nt, tables_before, p->nsrc, sources_before, (long long)R->commit_id);
    char detail[160];
    snprintf(detail, sizeof detail, "applied: %d tables, %d sources, %d tokens", p->nt, p->nsrc,
             sl_token_set_count(tokens));
    sl_access_audit(R->access, "", "", "RELOAD", p->file, detail, 200);
    sl_sd_notify("READY=1");
    return 0;
}

/* ---- --watch-config ------------------------------------------------------
 * Editors save by writing in place or by writing a new file and renaming it
 * over the old one (which replaces the inode a file watch would follow), so
 * the directories are watched, for the names of the pipeline file and of
 * the file it extends. */
int sl__engine_watch_config(run *R) {
    int fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (fd < 0) {
        sl_log_warn("--watch-config: inotify unavailable", "\"error\":\"%s\"", strerror(errno));
        return -1;
    }
    const char *files[2] = {R->p->file, R->p->base_spec ? sl_spec_name(R->p->base_spec) : NULL};
    for (int i = 0; i < 2; i++) {
        if (!files[i]) continue;
        char tmp[PATH_MAX];
        snprintf(tmp, sizeof tmp, "%s", files[i]);
        if (inotify_add_watch(fd, dirname(tmp), IN_CLOSE_WRITE | IN_MOVED_TO | IN_CREATE) < 0)
            sl_log_warn("--watch-config: cannot watch the directory", "\"error\":\"%s\"",
                        strerror(errno));
    }
    return fd;
}

void sl__engine_config_event(run *R) {
    char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
    const char *files[2] = {R->p->file, R->p->base_spec ? sl_spec_name(R->p->base_spec) : NULL};
    ssize_t n;
    while ((n = read(R->config_fd, buf, sizeof buf)) > 0) {
        for (char *q = buf; q < buf + n;) {
            const struct inotify_event *ev = (const struct inotify_event *)q;
            q += sizeof *ev + ev->len;
            if (!ev->len) continue;
            for (int i = 0; i < 2; i++) {
                if (!files[i]) continue;
                char tmp[PATH_MAX];
                snprintf(tmp, sizeof tmp, "%s", files[i]);
                if (!strcmp(basename(tmp), ev->name)) R->config_changed_us = sl_monotonic_us();
            }
        }
    }
}
