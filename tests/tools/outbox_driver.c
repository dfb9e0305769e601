/*
 * outbox_driver.c - the alert outbox and its deliverer driven the way the
 * engine drives them, for tests/integration/alerts/test_channels.sh until
 * the engine wires alerting: rows are put inside write transactions, the
 * deliverer is kicked after each commit and its results are applied in the
 * next transaction, every --commit-ms.
 *
 * Usage: outbox_driver --pipeline FILE --store DB [--put N] [--channel A,B]
 *          [--kind firing|resolved|alternate] [--prefix P] [--put-every-ms M]
 *          [--commit-ms M] [--timeout S] [--stop-after S] [--no-apply]
 * Channels come from the file's `alerts: channels:`. --put N puts N rows per
 * channel (all in the first commit, or one row per channel every M ms with
 * --put-every-ms). The run ends when no row is pending (or at --timeout,
 * or --stop-after regardless); then the deliverer is stopped and one JSON
 * line is printed: rows sent/failed/pending, the longest commit (apply +
 * put + COMMIT, which must not wait for any receiver), how long the stop
 * took, and the deliverer's counters per channel. --no-apply never applies
 * results (a crash before the commit that records them, with SIGKILL).
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

#include "core/log.h"
#include "core/timeutil.h"
#include "notify/notify.h"

static int64_t count(sl_store *s, const char *state) {
    sqlite3_stmt *st;
    int64_t n = -1;
    if (sqlite3_prepare_v2(sl_store_db(s), "SELECT count(*) FROM _sluice_outbox WHERE state = ?",
                           -1, &st, NULL) != SQLITE_OK)
        return -1;
    sqlite3_bind_text(st, 1, state, -1, SQLITE_STATIC);
    if (sqlite3_step(st) == SQLITE_ROW) n = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return n;
}

static void put_row(sl_store *s, const char *prefix, const char *chan, int i, const char *kind,
                    const char *pipeline) {
    char idem[256], payload[1024], ts[40], aid[64];
    int64_t now = sl_now_us();
    sl_store_format_ts(now, ts, sizeof ts);
    const char *k = kind;
    if (!strcmp(kind, "alternate")) k = i % 2 ? "resolved" : "firing";
    snprintf(idem, sizeof idem, "%s-%s-%d-%s", prefix, chan, i, k);
    snprintf(aid, sizeof aid, "%s-a%d", prefix, i);
    bool res = !strcmp(k, "resolved");
    snprintf(payload, sizeof payload,
             "{\"pipeline\":\"%s\",\"rule\":\"lag\",\"alert_id\":\"%s\",\"key\":\"job-%d\","
             "\"severity\":\"critical\",\"state\":\"%s\",\"title\":\"Processing lag high\","
             "\"message\":\"job-%d lags %d s\",\"started_at\":\"%s\",\"resolved_at\":%s%s%s,"
             "\"dedup_key\":\"lag/job-%d\",\"table\":\"lag_1m\",\"labels\":{\"job_id\":\"job-%d\","
             "\"lag_s\":%d}}",
             pipeline, aid, i, res ? "resolved" : "firing", i, 120 + i, ts, res ? "\"" : "",
             res ? ts : "null", res ? "\"" : "", i, i, 120 + i);
    sl_notification n = {idem, aid, chan, k, payload, now};
    sl_error err = {0};
    if (sl_outbox_put(s, &n, &err)) {
        fprintf(stderr, "outbox_driver: %s\n", err.msg);
        exit(1);
    }
}

int main(int argc, char **argv) {
    const char *pipe_path = NULL, *db = NULL, *chans = NULL, *kind = "firing", *prefix = "n";
    int put = 0, put_every = 0, commit_ms = 100;
    double timeout = 60, stop_after = 0;
    bool apply = true;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--no-apply")) {
            apply = false;
            continue;
        }
        if (!v) {
            fprintf(stderr, "outbox_driver: %s needs a value\n", a);
            return 2;
        }
        i++;
        if (!strcmp(a, "--pipeline"))
            pipe_path = v;
        else if (!strcmp(a, "--store"))
            db = v;
        else if (!strcmp(a, "--put"))
            put = atoi(v);
        else if (!strcmp(a, "--channel"))
            chans = v;
        else if (!strcmp(a, "--kind"))
            kind = v;
        else if (!strcmp(a, "--prefix"))
            prefix = v;
        else if (!strcmp(a, "--put-every-ms"))
            put_every = atoi(v);
        else if (!strcmp(a, "--commit-ms"))
            commit_ms = atoi(v);
        else if (!strcmp(a, "--timeout"))
            timeout = atof(v);
        else if (!strcmp(a, "--stop-after"))
            stop_after = atof(v);
        else {
            fprintf(stderr, "outbox_driver: unknown option %s\n", a);
            return 2;
        }
    }
    if (!pipe_path || !db) {
        fprintf(stderr, "usage: outbox_driver --pipeline FILE --store DB [options]\n");
        return 2;
    }
    sl_log_init();
    sl_error err = {0};
    sl_spec *spec = sl_spec_load(pipe_path, NULL, &err);
    if (!spec) {
        fprintf(stderr, "%s\n", err.msg);
        return 2;
    }
    const sl_node *root = sl_spec_root(spec);
    const sl_node *nm = sl_node_get(root, "pipeline");
    const char *pipeline = nm && nm->str ? nm->str : "test";
    sl_channels *ch =
        sl_channels_create(sl_node_get(sl_node_get(root, "alerts"), "channels"), &err);
    if (!ch) {
        fprintf(stderr, "%s\n", err.msg);
        return 2;
    }
    char *names[32];
    int nnames = 0;
    char *list = strdup(chans ? chans : "");
    for (char *t = strtok(list, ","); t && nnames < 32; t = strtok(NULL, ","))
        names[nnames++] = t;

    sl_store *s = sl_store_open(db, false, &err);
    if (!s || sl_outbox_init(s, &err)) {
        fprintf(stderr, "outbox_driver: %s\n", err.msg);
        return 1;
    }
    int next = 0; /* rows put per channel so far */
    if (!put_every) {
        if (sl_store_begin(s, &err)) return 1;
        for (; next < put; next++)
            for (int c = 0; c < nnames; c++)
                put_row(s, prefix, names[c], next, kind, pipeline);
        if (sl_store_commit(s, &err)) return 1;
    }
    sl_deliverer *d = sl_deliverer_start(db, ch, pipeline, &err);
    if (!d) {
        fprintf(stderr, "outbox_driver: %s\n", err.msg);
        return 1;
    }
    int64_t t0 = sl_monotonic_us(), last_put = 0, max_commit = 0, commits = 0;
    for (;;) {
        int64_t now = sl_monotonic_us();
        double el = (double)(now - t0) / 1e6;
        if (stop_after > 0 && el >= stop_after) break;
        if (el >= timeout) break;
        int64_t c0 = sl_monotonic_us();
        if (sl_store_begin(s, &err)) return 1;
        if (apply && sl_deliverer_apply(d, s, &err)) {
            fprintf(stderr, "outbox_driver: apply: %s\n", err.msg);
            return 1;
        }
        bool put_now = put_every && next < put && now - last_put >= (int64_t)put_every * 1000;
        if (put_now) {
            for (int c = 0; c < nnames; c++)
                put_row(s, prefix, names[c], next, kind, pipeline);
            next++;
            last_put = now;
        }
        if (sl_store_commit(s, &err)) return 1;
        int64_t took = sl_monotonic_us() - c0;
        if (took > max_commit) max_commit = took;
        commits++;
        if (put_now) sl_deliverer_kick(d);
        if (stop_after <= 0 && next >= (put_every ? put : next) && count(s, "pending") == 0) break;
        usleep((useconds_t)commit_ms * 1000);
    }
    sl_channel_stats st[32];
    int nst = sl_deliverer_stats(d, st, 32);
    char per[4096] = "";
    for (int i = 0; i < nst && i < 32; i++) {
        size_t l = strlen(per);
        snprintf(per + l, sizeof per - l,
                 "%s\"%s\":{\"sent\":%lld,\"failed\":%lld,\"retries\":%lld,\"pending\":%lld}",
                 i ? "," : "", st[i].name, (long long)st[i].sent, (long long)st[i].failed,
                 (long long)st[i].retries, (long long)st[i].pending);
    }
    int64_t s0 = sl_monotonic_us();
    sl_deliverer_stop(d);
    int64_t stop_us = sl_monotonic_us() - s0;
    printf("{\"sent\":%lld,\"failed\":%lld,\"pending\":%lld,\"commits\":%lld,"
           "\"max_commit_ms\":%.3f,\"stop_ms\":%.3f,\"elapsed_s\":%.3f,\"channels\":{%s}}\n",
           (long long)count(s, "sent"), (long long)count(s, "failed"),
           (long long)count(s, "pending"), (long long)commits, (double)max_commit / 1000.0,
           (double)stop_us / 1000.0, (double)(sl_monotonic_us() - t0) / 1e6, per);
    sl_store_close(s);
    sl_channels_free(ch);
    sl_spec_free(spec);
    free(list);
    return 0;
}
