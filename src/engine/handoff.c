/*
 * handoff.c - partitioned state moving with Kafka partitions between the
 * instances of a scaled-out pipeline (--instance), see the comment below.
 */
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/mem.h"
#include "core/log.h"
#include "core/timeutil.h"
#include "engine/runtime.h"

/* ---- partitioned state: handoff between instances ------------------------
 * With --instance and a Kafka source's partitioned_state, the state of the
 * keyed steps (dedupe, anomaly, health, scd2) and of windows is split by
 * partition (the _part column, op.h). A partition's state
 * moves with it: on revocation the owner commits and writes the partition's
 * state as a handoff record, stamped with the partition's position, in the
 * same transaction, then forgets it; on assignment the new owner loads the
 * state from the checkpoint that holds the partition's furthest position
 * (instances.c): its handoff record when stamped with that position, else
 * the partition's part of its last snapshots (the owner died without a
 * handoff, and its snapshots, positions and rows are from one commit). */
bool sl__engine_step_parted(const table *t, const step *st) {
    return st->def->restore_parts && sl_schema_find(&t->in, SL_PART_COLUMN) >= 0;
}

bool sl__engine_win_parted(const table *t) {
    return t->win && sl_schema_find(sl_window_schema(t->win), SL_PART_COLUMN) >= 0;
}

static void handoff_key(char *out, size_t cap, const char *part, const char *id) {
    snprintf(out, cap, "handoff/%s/%s", part, id);
}

int sl__engine_write_handoffs(run *R, sl_buf *buf) {
    char key[512], wid[SL_NAME_MAX + 16];
    for (int h = 0; h < R->nhandoff; h++) {
        const char *part = R->handoff[h];
        int64_t pos = -1;
        sl_store_get_position(R->store, R->handoff_src->name, part, &pos);
        uint64_t tag = sl_part_tag(part, strlen(part));
        sl_part_set only = {&tag, 1};
        for (int i = 0; i < R->p->nt; i++) {
            table *t = &R->p->t[i];
            for (int k = 0; k < t->nsteps; k++) {
                step *st = &t->steps[k];
                if (!sl__engine_step_parted(t, st)) continue;
                buf->n = 0;
                sl_buf_put_i64(buf, pos);
                st->def->snapshot_parts(st->self, buf, &only);
                handoff_key(key, sizeof key, part, st->id);
                if (sl_store_put_state(R->store, key, true, buf->p, buf->n, R->err))
                    return R->err->code;
            }
            if (sl__engine_win_parted(t)) {
                buf->n = 0;
                sl_buf_put_i64(buf, pos);
                sl_window_snapshot_parts(t->win, buf, &only);
                snprintf(wid, sizeof wid, "%s/window", t->name);
                handoff_key(key, sizeof key, part, wid);
                if (sl_store_put_state(R->store, key, true, buf->p, buf->n, R->err))
                    return R->err->code;
            }
        }
    }
    return 0;
}

typedef struct {
    step *st;
    table *t;
    const sl_part_set *only;
    int64_t pos; /* handoff: the position it must be stamped with */
    bool found;
} part_restore;

static int part_restore_cb(void *ud, bool full, const void *data, size_t n, sl_error *err) {
    part_restore *u = ud;
    return u->st ? u->st->def->restore_parts(u->st->self, data, n, full, u->only, err)
                 : sl_window_restore_parts(u->t->win, data, n, full, u->only, err);
}

static int handoff_cb(void *ud, bool full, const void *data, size_t n, sl_error *err) {
    (void)full;
    part_restore *u = ud;
    int64_t stamp;
    if (n < sizeof stamp) return sl_error_set(err, SL_ECORRUPT, "corrupt handoff record");
    memcpy(&stamp, data, sizeof stamp);
    if (stamp != u->pos) return 0; /* an older handoff: the partition moved on since */
    u->found = true;
    return part_restore_cb(ud, true, (const char *)data + sizeof stamp, n - sizeof stamp, err);
}

static int restore_part_state(run *R, sl_store *from, part_restore *u, const char *part,
                              const char *id) {
    char key[512];
    handoff_key(key, sizeof key, part, id);
    int rc = sl_store_load_state(from, key, handoff_cb, u, R->err);
    if (rc || u->found) return rc;
    return sl_store_load_state(from, id, part_restore_cb, u, R->err);
}

/* on_assign: load a newly assigned partition's keyed state (see above). */
void sl__engine_assign_restore(void *ud, source *s, const char *part, const char *from_db) {
    run *R = ud;
    if (!R->parted || R->failed) return;
    sl_store *from = R->store;
    if (from_db && !(from = sl_store_open(from_db, true, R->err))) {
        R->failed = R->err->code;
        return;
    }
    /* one read transaction: positions and state of the same commit */
    if (from != R->store) sqlite3_exec(sl_store_db(from), "BEGIN", NULL, NULL, NULL);
    int64_t pos = -1;
    sl_store_get_position(from, s->name, part, &pos);
    uint64_t tag = sl_part_tag(part, strlen(part));
    sl_part_set only = {&tag, 1};
    int rc = 0;
    char wid[SL_NAME_MAX + 16];
    for (int i = 0; i < R->p->nt && !rc; i++) {
        table *t = &R->p->t[i];
        for (int k = 0; k < t->nsteps && !rc; k++) {
            part_restore u = {&t->steps[k], t, &only, pos, false};
            if (!sl__engine_step_parted(t, &t->steps[k])) continue;
            rc = restore_part_state(R, from, &u, part, t->steps[k].id);
            /* the restored keys are in no delta: the next snapshot is full */
            t->steps[k].since_full = t->steps[k].full_every;
        }
        if (!rc && sl__engine_win_parted(t)) {
            part_restore u = {NULL, t, &only, pos, false};
            snprintf(wid, sizeof wid, "%s/window", t->name);
            rc = restore_part_state(R, from, &u, part, wid);
            /* the chain stored so far was never restored here: start it again */
            t->win_since_full = SL_WINDOW_FULL_EVERY;
        }
    }
    if (from != R->store) {
        sqlite3_exec(sl_store_db(from), "COMMIT", NULL, NULL, NULL);
        sl_store_close(from);
    }
    if (rc) {
        R->failed = rc;
        return;
    }
    sl_log_info("partition state restored",
                "\"partition\":\"%s\",\"from\":\"%s\",\"position\":%lld", part,
                from_db ? from_db : "this instance", (long long)pos);
    R->dirty = true; /* restored groups are written to this instance's tables */
}

/* After the revoke commit wrote their handoff: the partitions' state now
 * belongs to their next owner. */
void sl__engine_drop_parts(run *R, const char *const *partitions, int n) {
    assert(R->parted);
    uint64_t *tags = sl_xcalloc((size_t)n + 1, sizeof *tags);
    if (!tags) return;
    for (int i = 0; i < n; i++)
        tags[i] = sl_part_tag(partitions[i], strlen(partitions[i]));
    sl_part_set set = {tags, n};
    for (int i = 0; i < R->p->nt; i++) {
        table *t = &R->p->t[i];
        for (int k = 0; k < t->nsteps; k++)
            if (sl__engine_step_parted(t, &t->steps[k])) {
                t->steps[k].def->drop_parts(t->steps[k].self, &set);
                t->steps[k].since_full =
                    t->steps[k].full_every; /* a delta cannot express the drop */
            }
        if (sl__engine_win_parted(t)) sl_window_drop_parts(t->win, &set);
    }
    free(tags);
}
