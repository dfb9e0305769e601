/*
 * check.c - `sluice check PIPELINE`: the health checks a platform team runs
 * before trusting a pipeline (seed 002's "system table connectivity, write
 * permissions, alerting channel connectivity"): every source could read
 * (its kind's check callback), the store is writable, and every alert
 * channel answers (a test notification, as `sluice alert test` sends).
 * One line per check; nothing is read or committed.
 */
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "alert/alert.h"
#include "engine/internal.h"
#include "engine/pipeline.h"
#include "notify/notify.h"

static void line(FILE *out, bool ok, const char *what, const char *detail, int *nok, int *nbad) {
    fprintf(out, "%-4s  %s: %s\n", ok ? "ok" : "FAIL", what, detail);
    ++*(ok ? nok : nbad);
}

/* The store: an existing database takes a write transaction (or a running
 * pipeline holds it); a new one can be created where it would be. */
static bool check_store(const char *dir, char *detail, size_t cap) {
    char db[PATH_MAX + 16];
    snprintf(db, sizeof db, "%s/sluice.db", dir);
    struct stat st;
    if (stat(db, &st) != 0) {
        /* the nearest folder that exists must be writable: run creates the rest */
        char p[PATH_MAX];
        snprintf(p, sizeof p, "%s", dir);
        while (stat(p, &st) != 0) {
            char *slash = strrchr(p, '/');
            if (!slash || slash == p) {
                snprintf(p, sizeof p, "%s", slash == p ? "/" : ".");
                break;
            }
            *slash = 0;
        }
        if (stat(p, &st) != 0 || !S_ISDIR(st.st_mode) || access(p, W_OK | X_OK) != 0) {
            snprintf(detail, cap, "%s does not exist and %s is not a writable folder", db, p);
            return false;
        }
        snprintf(detail, cap, "%s will be created (%s is writable)", db, p);
        return true;
    }
    sqlite3 *h = NULL;
    bool ok = false;
    if (sqlite3_open_v2(db, &h, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK) {
        snprintf(detail, cap, "%s: %s", db, h ? sqlite3_errmsg(h) : "cannot open");
    } else {
        sqlite3_busy_timeout(h, 200);
        int rc = sqlite3_exec(h, "BEGIN IMMEDIATE", NULL, NULL, NULL);
        if (rc == SQLITE_OK) {
            snprintf(detail, cap, "%s is writable", db);
            ok = true;
        } else if (rc == SQLITE_BUSY) {
            snprintf(detail, cap, "%s: a running pipeline holds the write lock", db);
            ok = true;
        } else {
            snprintf(detail, cap, "%s: %s", db, sqlite3_errmsg(h));
        }
        sqlite3_exec(h, "ROLLBACK", NULL, NULL, NULL);
    }
    sqlite3_close(h);
    return ok;
}

int sl_pipeline_check(sl_pipeline *p, const char *data_dir, FILE *out) {
    int nok = 0, nbad = 0;
    char what[160], detail[1024];
    for (int i = 0; i < p->nsrc; i++) {
        source *s = &p->src[i];
        snprintf(what, sizeof what, "source %s (%s)", s->name, s->def->name);
        if (!s->def->check) {
            fprintf(out, "%-4s  %s: no check for this kind\n", "-", what);
            continue;
        }
        detail[0] = 0;
        int bad = s->def->check(s->self, detail, sizeof detail);
        line(out, !bad, what, detail, &nok, &nbad);
    }
    char dir[PATH_MAX];
    sl_error err = {0};
    if (sl_pipeline_data_dir(p, data_dir, dir, sizeof dir, false, &err))
        line(out, false, "store", err.msg, &nok, &nbad);
    else {
        bool ok = check_store(dir, detail, sizeof detail);
        line(out, ok, "store", detail, &nok, &nbad);
    }
    /* every enabled alert channel, one test notification each (`sluice alert test`) */
    const sl_channels *ch = p->alerts ? sl_alerts_channels(p->alerts) : NULL;
    for (int i = 0; ch && i < sl_channels_count(ch); i++) {
        const char *name = sl_channels_name(ch, i);
        snprintf(what, sizeof what, "alert channel %s", name);
        if (!sl_channels_enabled(ch, i)) {
            fprintf(out, "%-4s  %s: off (its url or server is empty)\n", "-", what);
            continue;
        }
        char *text = NULL;
        size_t len = 0;
        FILE *mem = open_memstream(&text, &len);
        int bad = mem ? sl_channels_test(ch, name, p->name, mem) : 1;
        if (mem) fclose(mem);
        /* one line: what the channel answered */
        size_t n = text ? strcspn(text, "\n") : 0;
        snprintf(detail, sizeof detail, "%.*s", (int)n, text ? text : "no answer");
        free(text);
        line(out, !bad, what, detail, &nok, &nbad);
    }
    fprintf(out, "%d ok, %d failed\n", nok, nbad);
    return nbad ? 1 : 0;
}
