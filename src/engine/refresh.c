/*
 * refresh.c - `sluice refresh`: every table rebuilt from the landing files
 * into a new state directory while the live process keeps serving, then an
 * atomic switch (Delta Live Tables' full refresh; the lambda architecture's
 * batch recomputation).
 *
 * Files beside the data directory DIR (names survive the exchange, so both
 * sides always agree on them):
 *
 *   DIR.lock           open file description locks (fcntl F_OFD_SETLK, freed
 *                      by the kernel when the holder dies: never stale):
 *                      byte 0 is held by the process running the pipeline on
 *                      DIR (its pid is the file's text), byte 1 by a refresh
 *   DIR.refresh/       the state being built; a crashed refresh leaves it
 *                      behind and the next refresh deletes it and starts over
 *   DIR.swap           a refresh's request to the live process (the new
 *                      directory's absolute path), looked for every 100 ms
 *   DIR.swap.result    the live process's answer: "ok" or "error: why"
 *   DIR.previous-TIME  the state the switch replaced (kept for the operator)
 *
 * The build is a --once run of the same pipeline into DIR.refresh. With no
 * live process it is exactly `sluice run --once` (windows final at the end)
 * and the refresh holds byte 0 while it builds, so no run starts on DIR
 * meanwhile; the switch is renameat2(RENAME_EXCHANGE) of the two
 * directories. With a live process the last commit leaves windows open (as a
 * live run that stops does) and the live process switches at a commit
 * boundary: it commits, closes its sources, store and delivery thread,
 * exchanges the directories, tells its server to reopen the database, and
 * resumes from the new state's positions, so the files that arrived after
 * the refresh's read are read once, by it.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"
#include "core/timeutil.h"
#include "engine/runtime.h"

#define MARKER ".sluice-refresh" /* in DIR.refresh once complete: the refresh's token */
#define SWAP_CHECK_US 100000

/* An open file description lock on one byte; false when another holds it. */
static bool lock_byte(int fd, off_t byte) {
    struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = byte, .l_len = 1};
    return fcntl(fd, F_OFD_SETLK, &fl) == 0;
}

/* DIR without trailing slashes, plus suffix. */
static void beside(char *out, size_t cap, const char *dir, const char *suffix) {
    size_t n = strlen(dir);
    while (n > 1 && dir[n - 1] == '/')
        n--;
    snprintf(out, cap, "%.*s%s", (int)n, dir, suffix);
}

static long read_pid(int fd) {
    char buf[32] = {0};
    ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
    return n > 0 ? strtol(buf, NULL, 10) : 0;
}

static int write_file(const char *path, const char *text, sl_error *err) {
    char tmp[PATH_MAX + 16];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (!f || fputs(text, f) < 0 || fflush(f) || fsync(fileno(f)) || fclose(f) ||
        rename(tmp, path)) {
        if (f) fclose(f);
        return sl_error_set(err, SL_EIO, "cannot write %s: %s", path, strerror(errno));
    }
    return 0;
}

static void now_stamp(char *out, size_t cap) {
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, cap, "%Y%m%dT%H%M%SZ", &tm);
}

/* ---- the live side ------------------------------------------------------- */

int sl__engine_lock_run(run *R) {
    char base[PATH_MAX], dir[PATH_MAX], path[PATH_MAX + 16];
    if (sl_pipeline_data_dir(R->p, R->opts->data_dir, base, sizeof base, true, R->err))
        return R->err->code;
    if (R->opts->instance)
        snprintf(dir, sizeof dir, "%.*s/instance-%s", (int)(sizeof dir - 80), base,
                 R->opts->instance);
    else
        snprintf(dir, sizeof dir, "%s", base);
    beside(path, sizeof path, dir, ".lock");
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) return sl_error_set(R->err, SL_EIO, "cannot open %s: %s", path, strerror(errno));
    if (!lock_byte(fd, 0)) {
        long pid = read_pid(fd);
        close(fd);
        return sl_error_set(R->err, SL_EIO,
                            "%s is in use: process %ld runs the pipeline there, or `sluice "
                            "refresh` is rebuilding it (lock %s)",
                            dir, pid, path);
    }
    char pid[32];
    int n = snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
    if (ftruncate(fd, 0) || pwrite(fd, pid, (size_t)n, 0) != n)
        sl_log_warn("cannot write the pid into the run lock", "\"path\":\"%s\"", path);
    R->lock_fd = fd;
    return 0;
}

void sl__engine_unlock_run(run *R) {
    if (R->lock_fd >= 0) close(R->lock_fd); /* frees the lock */
    R->lock_fd = -1;
}

static void answer(const char *dir, const char *text) {
    char path[PATH_MAX + 32], req[PATH_MAX + 16];
    sl_error e = {0};
    beside(path, sizeof path, dir, ".swap.result");
    if (write_file(path, text, &e)) sl_log_error("refresh: cannot answer", "\"path\":\"%s\"", path);
    beside(req, sizeof req, dir, ".swap");
    unlink(req);
}

/* A refresh's switch as an audit record: what the live process did with
 * the request (its answer: "ok PREVIOUS" or "error: why"), on which data
 * directory. */
static void audit_switch(run *R, const char *msg, int status) {
    char d[PATH_MAX + 256];
    snprintf(d, sizeof d, "%.*s", (int)strcspn(msg, "\n"), msg);
    sl_access_audit(R->access, "", "", "REFRESH", R->dir, d, status);
}

int sl__engine_maybe_swap(run *R) {
    if (R->lock_fd < 0) return 0;
    int64_t now = sl_monotonic_us();
    if (now - R->last_swap_check_us < SWAP_CHECK_US) return 0;
    R->last_swap_check_us = now;
    char req[PATH_MAX + 16], nd[PATH_MAX + 8] = {0}, msg[PATH_MAX + 256];
    beside(req, sizeof req, R->dir, ".swap");
    FILE *f = fopen(req, "r");
    if (!f) return 0;
    bool got = fgets(nd, sizeof nd, f) != NULL;
    fclose(f);
    nd[strcspn(nd, "\n")] = 0;
    char marker[PATH_MAX + 32];
    snprintf(marker, sizeof marker, "%s/" MARKER, nd);
    struct stat st;
    if (!got || !nd[0] || stat(marker, &st)) {
        snprintf(msg, sizeof msg, "error: %s is not a completed refresh\n", nd);
        answer(R->dir, msg);
        audit_switch(R, msg, 400);
        return 0;
    }
    sl_log_info("refresh: switching to the new state", "\"pipeline\":\"%s\",\"from\":\"%s\"",
                R->p->name, nd);
    int rc;
    if (R->dirty && (rc = sl__engine_commit_wait(R, false))) return rc;
    /* everything that holds a file of the directory lets go of it */
    R->closing = true;
    for (int s = 0; s < R->p->nsrc; s++)
        sl_input_close(&R->p->src[s]);
    sl__engine_stop_delivery(R);
    sl_store_close(R->store);
    R->store = NULL;
    bool swapped = renameat2(AT_FDCWD, R->dir, AT_FDCWD, nd, RENAME_EXCHANGE) == 0;
    if (!swapped) {
        snprintf(msg, sizeof msg, "error: exchanging %s and %s: %s\n", R->dir, nd, strerror(errno));
    } else {
        /* the old state is now at nd: kept under a dated name */
        char stamp[32], prev[PATH_MAX + 64];
        now_stamp(stamp, sizeof stamp);
        char suffix[64];
        snprintf(suffix, sizeof suffix, ".previous-%s", stamp);
        beside(prev, sizeof prev, R->dir, suffix);
        if (rename(nd, prev))
            sl_log_warn("refresh: the previous state stays at the refresh's directory",
                        "\"path\":\"%s\"", nd);
        if (R->server) sl_server_reopen(R->server);
        snprintf(msg, sizeof msg, "ok %s\n", prev);
    }
    R->npending = 0;
    /* resumes from the directory now at R->dir (the new state, or the old
     * one when the exchange failed), as a restart would */
    rc = sl__engine_reopen(R, NULL);
    if (rc && swapped) {
        char m[PATH_MAX + 256];
        snprintf(m, sizeof m, "%.*s; but process %ld stopped: it could not open the new state",
                 (int)strcspn(msg, "\n"), msg, (long)getpid());
        answer(R->dir, m);
    } else {
        answer(R->dir, msg);
    }
    /* audited: written by the next commit, into the state now in place */
    audit_switch(R, msg, swapped && !rc ? 200 : 500);
    if (rc) return rc;
    sl__engine_build_metrics(R);
    if (R->server) sl_server_publish(R->server, R->commit_id, R->metrics);
    sl_log_info("refresh: serving the new state",
                "\"pipeline\":\"%s\",\"commit_id\":%lld,\"records_in\":%lld", R->p->name,
                (long long)R->commit_id, (long long)R->t_in);
    return 0;
}

/* ---- the refresh ---------------------------------------------------------- */

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)sb, (void)flag, (void)ftw;
    return remove(path);
}

static int rm_tree(const char *path) {
    struct stat st;
    if (lstat(path, &st)) return errno == ENOENT ? 0 : -1;
    return nftw(path, rm_entry, 32, FTW_DEPTH | FTW_PHYS);
}

/* Only what can be rebuilt from files kept in place, into the data
 * directory alone. */
static int refusals(const sl_pipeline *p, sl_error *err) {
    if (sl_pipeline_store_url(p))
        return sl_error_set(err, SL_EINVAL,
                            "pipeline '%s': its tables are stored in PostgreSQL; `sluice refresh` "
                            "rebuilds SQLite stores only (not yet supported)",
                            p->name);
    for (int s = 0; s < p->nsrc; s++) {
        const source *src = &p->src[s];
        char why[512] = "its input cannot be read again from the beginning";
        if (!src->def->replayable || !src->def->replayable(src->self, why, sizeof why))
            return sl_error_set(err, SL_EINVAL,
                                "source '%s' (%s): cannot be refreshed: %s; `sluice refresh` "
                                "rebuilds pipelines whose sources are landing files kept in "
                                "place (dir, file without cleanup)",
                                src->name, src->def->name, why);
    }
    for (int i = 0; i < p->nt; i++)
        for (int k = 0; k < p->t[i].nsinks; k++)
            if (p->t[i].sinks[k].def->external)
                return sl_error_set(err, SL_EINVAL,
                                    "table '%s': its %s sink writes to another system, which "
                                    "a refresh would send every row again",
                                    p->t[i].name, p->t[i].sinks[k].def->name);
    return 0;
}

/* The switch without a live process (byte 0 held): DIR and DIR.refresh
 * exchanged, the old state renamed DIR.previous-TIME. */
static int switch_here(const char *dir, const char *nd, char *prev, size_t cap, sl_error *err) {
    char stamp[32], suffix[64];
    now_stamp(stamp, sizeof stamp);
    snprintf(suffix, sizeof suffix, ".previous-%s", stamp);
    beside(prev, cap, dir, suffix);
    struct stat st;
    if (stat(dir, &st) && errno == ENOENT) { /* no state yet: the refresh is the first */
        if (rename(nd, dir))
            return sl_error_set(err, SL_EIO, "rename %s to %s: %s", nd, dir, strerror(errno));
        prev[0] = 0;
        return 0;
    }
    if (renameat2(AT_FDCWD, dir, AT_FDCWD, nd, RENAME_EXCHANGE))
        return sl_error_set(err, SL_EIO, "exchanging %s and %s: %s", dir, nd, strerror(errno));
    if (rename(nd, prev)) snprintf(prev, cap, "%s", nd);
    return 0;
}

static bool marker_is(const char *dir, const char *token) {
    char path[PATH_MAX + 32], buf[128] = {0};
    snprintf(path, sizeof path, "%s/" MARKER, dir);
    FILE *f = fopen(path, "r");
    if (!f) return false;
    bool same = fgets(buf, sizeof buf, f) && !strcmp(buf, token);
    fclose(f);
    return same;
}

int sl_pipeline_refresh(sl_pipeline *p, const sl_refresh_opts *o, sl_error *err) {
    int rc = refusals(p, err);
    if (rc) return rc;
    char d0[PATH_MAX], dir[PATH_MAX], nd[PATH_MAX + 16], lockp[PATH_MAX + 16];
    if (sl_pipeline_data_dir(p, o->data_dir, d0, sizeof d0, false, err)) return err->code;
    beside(dir, sizeof dir, d0, "");
    const char *bn = strrchr(dir, '/') ? strrchr(dir, '/') + 1 : dir;
    if (!strcmp(bn, ".") || !strcmp(bn, "..") || !strcmp(dir, "/"))
        return sl_error_set(err, SL_EINVAL, "--data %s: name the data directory itself", dir);
    beside(nd, sizeof nd, dir, ".refresh");
    beside(lockp, sizeof lockp, dir, ".lock");
    /* the parent must exist for the files beside DIR */
    char parent[PATH_MAX], made[PATH_MAX];
    snprintf(parent, sizeof parent, "%s", dir);
    char *slash = strrchr(parent, '/');
    if (slash && slash != parent) {
        *slash = 0;
        if (sl_pipeline_data_dir(p, parent, made, sizeof made, true, err)) return err->code;
    }
    int fd = open(lockp, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) return sl_error_set(err, SL_EIO, "cannot open %s: %s", lockp, strerror(errno));
    if (!lock_byte(fd, 1)) {
        close(fd);
        return sl_error_set(err, SL_EIO, "another `sluice refresh` of %s is running (lock %s)", dir,
                            lockp);
    }
    bool live = !lock_byte(fd, 0);
    long pid = live ? read_pid(fd) : 0;
    if (!live) { /* a `sluice run` started meanwhile names this process */
        char me[32];
        int n = snprintf(me, sizeof me, "%ld\n", (long)getpid());
        if (ftruncate(fd, 0) || pwrite(fd, me, (size_t)n, 0) != n)
            sl_log_warn("cannot write the pid into the run lock", "\"path\":\"%s\"", lockp);
    }
    if (rm_tree(nd)) {
        rc = sl_error_set(err, SL_EIO, "cannot remove the unfinished refresh %s: %s", nd,
                          strerror(errno));
        goto out;
    }
    if (live)
        fprintf(stderr,
                "sluice refresh: rebuilding %s in %s from the beginning of its input; process %ld "
                "keeps serving %s\n",
                p->name, nd, pid, dir);
    else
        fprintf(stderr,
                "sluice refresh: rebuilding %s in %s from the beginning of its input (no process "
                "runs it: as `sluice run --once`)\n",
                p->name, nd);
    sl_run_opts ro = {.data_dir = nd,
                      .once = true,
                      .keep_open = live,
                      .refresh = true,
                      .status_every_s = o->status_every_s,
                      .stop = o->stop,
                      .signals = true};
    if ((rc = sl_pipeline_run(p, &ro, err))) {
        rc = sl_error_set(err, rc, "rebuilding in %s: %s (%s is unchanged)", nd, err->msg, dir);
        goto out;
    }
    /* the run's sinks keep their lakes locked until the pipeline is rebuilt:
     * the live process opens them after the switch */
    if ((rc = sl_pipeline_reload(p, err))) goto out;
    if (o->stop && *o->stop) {
        rc = sl_error_set(err, SL_EIO, "interrupted: %s is unchanged", dir);
        goto out;
    }
    char token[128], marker[PATH_MAX + 32];
    snprintf(token, sizeof token, "%ld-%lld\n", (long)getpid(), (long long)sl_now_us());
    snprintf(marker, sizeof marker, "%s/" MARKER, nd);
    if ((rc = write_file(marker, token, err))) goto out;
    char prev[PATH_MAX + 64] = {0};
    if (!live) {
        if ((rc = switch_here(dir, nd, prev, sizeof prev, err))) goto out;
        fprintf(stderr, "sluice refresh: %s switched to the rebuilt state%s%s\n", dir,
                prev[0] ? "; the previous one is " : "", prev);
        goto out;
    }
    /* ask the live process to switch at its next commit boundary */
    char req[PATH_MAX + 16], res[PATH_MAX + 32], abs[PATH_MAX];
    beside(req, sizeof req, dir, ".swap");
    beside(res, sizeof res, dir, ".swap.result");
    if (!realpath(nd, abs)) {
        rc = sl_error_set(err, SL_EIO, "%s: %s", nd, strerror(errno));
        goto out;
    }
    unlink(res);
    char line[PATH_MAX + 2];
    snprintf(line, sizeof line, "%s\n", abs);
    if ((rc = write_file(req, line, err))) goto out;
    fprintf(stderr, "sluice refresh: asked process %ld to switch %s to the rebuilt state\n", pid,
            dir);
    int64_t until =
        sl_monotonic_us() + (int64_t)((o->swap_timeout_s > 0 ? o->swap_timeout_s : 300) * 1e6);
    for (;;) {
        FILE *f = fopen(res, "r");
        if (f) {
            char ans[PATH_MAX + 256] = {0};
            if (!fgets(ans, sizeof ans, f)) ans[0] = 0;
            fclose(f);
            unlink(res);
            ans[strcspn(ans, "\n")] = 0;
            if (strncmp(ans, "ok", 2)) {
                rc = sl_error_set(err, SL_EIO, "process %ld refused the switch: %s", pid, ans);
                goto out;
            }
            fprintf(stderr, "sluice refresh: process %ld serves the rebuilt state%s%s\n", pid,
                    ans[2] ? "; the previous one is" : "", ans + 2);
            goto out;
        }
        if (lock_byte(fd, 0)) { /* the live process is gone: did it switch first? */
            unlink(req);
            if (marker_is(dir, token)) {
                fprintf(stderr, "sluice refresh: %s switched (process %ld has exited since)\n", dir,
                        pid);
            } else if (!(rc = switch_here(dir, nd, prev, sizeof prev, err))) {
                fprintf(stderr,
                        "sluice refresh: process %ld exited; %s switched to the rebuilt state; "
                        "the previous one is %s\n",
                        pid, dir, prev);
            }
            goto out;
        }
        if ((o->stop && *o->stop) || sl_monotonic_us() > until) {
            unlink(req);
            /* the request may have been taken just now: its answer decides */
            usleep(200000);
            if (marker_is(dir, token)) goto out;
            rc = sl_error_set(err, SL_EIO, "%s: process %ld did not switch; %s is unchanged",
                              o->stop && *o->stop ? "interrupted" : "timed out", pid, dir);
            goto out;
        }
        usleep(50000);
    }
out:
    close(fd); /* frees both locks */
    return rc;
}
