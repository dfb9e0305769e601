/*
 * instances.c - scale-out on consumer groups: several `sluice run
 * --instance NAME` processes of one pipeline share the partitions of its
 * Kafka topics, each with its own checkpoint database under the same data
 * directory (DATA/instance-NAME/sluice.db).
 *
 * The handoff of a partition must not trust Kafka's committed offset: it is
 * written after Sluice's own commit, so after a SIGKILL it can lag behind
 * what the dead instance already stored, and the next owner would store
 * those records a second time. Instead, on assignment an instance resumes at
 * the highest position any instance's checkpoint holds for the partition:
 * only the owner ever advances a partition, and its position is committed in
 * the same transaction as the rows it produced, so that maximum is exactly
 * where the stored rows end. The mirror image fences a zombie (an instance
 * that lost its partitions without noticing, e.g. a long pause): before
 * committing a position it checks that no other instance has gone past the
 * position it started from, and refuses to commit if one has.
 *
 * Sibling databases are opened read-only (WAL: never blocking their
 * writer) and looked up again at every call, so instances that join later
 * are seen.
 */
#include <glob.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "core/mem.h"
#include "engine/internal.h"

#define MAX_SIBLINGS 64

struct sl_siblings {
    char pattern[PATH_MAX + 32];
    char self[PATH_MAX + 16];
    struct {
        char *path;
        sqlite3 *db;
        sqlite3_stmt *get;
    } s[MAX_SIBLINGS];
    int n;
};

sl_siblings *sl_siblings_new(const char *base_dir, const char *self_db) {
    sl_siblings *x = sl_xcalloc(1, sizeof *x);
    if (!x) return NULL;
    snprintf(x->pattern, sizeof x->pattern, "%s/instance-*/sluice.db", base_dir);
    snprintf(x->self, sizeof x->self, "%s", self_db);
    return x;
}

static void refresh(sl_siblings *x) {
    glob_t g;
    if (glob(x->pattern, 0, NULL, &g)) return;
    char self[PATH_MAX], other[PATH_MAX];
    if (!realpath(x->self, self)) snprintf(self, sizeof self, "%s", x->self);
    for (size_t i = 0; i < g.gl_pathc && x->n < MAX_SIBLINGS; i++) {
        const char *p = g.gl_pathv[i];
        if (realpath(p, other) && !strcmp(other, self)) continue;
        bool known = false;
        for (int k = 0; k < x->n && !known; k++)
            known = !strcmp(x->s[k].path, p);
        if (known) continue;
        sqlite3 *db;
        if (sqlite3_open_v2(p, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
            sqlite3_close(db);
            continue;
        }
        sqlite3_busy_timeout(db, 2000);
        sqlite3_stmt *st;
        if (sqlite3_prepare_v2(
                db, "SELECT position FROM _sluice_positions WHERE source=? AND partition=?", -1,
                &st, NULL) != SQLITE_OK) {
            sqlite3_close(db); /* not initialised yet: looked at again next time */
            continue;
        }
        x->s[x->n].path = sl_xstrdup(p);
        x->s[x->n].db = db;
        x->s[x->n].get = st;
        x->n++;
    }
    globfree(&g);
}

int64_t sl_siblings_max_position(sl_siblings *x, const char *source, const char *partition,
                                 char *who, size_t who_cap) {
    if (!x) return -1;
    refresh(x);
    int64_t best = -1;
    for (int k = 0; k < x->n; k++) {
        sqlite3_stmt *st = x->s[k].get;
        sqlite3_bind_text(st, 1, source, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, partition, -1, SQLITE_STATIC);
        if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_int64(st, 0) > best) {
            best = sqlite3_column_int64(st, 0);
            if (who) snprintf(who, who_cap, "%s", x->s[k].path);
        }
        sqlite3_reset(st);
    }
    return best;
}

void sl_siblings_free(sl_siblings *x) {
    if (!x) return;
    for (int k = 0; k < x->n; k++) {
        sqlite3_finalize(x->s[k].get);
        sqlite3_close(x->s[k].db);
        free(x->s[k].path);
    }
    free(x);
}
