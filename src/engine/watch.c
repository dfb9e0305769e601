/*
 * watch.c - what `sluice tap` and `sluice top` ask a loaded pipeline: where
 * its server listens, its token, and how a table is stored (a lake table has
 * no rowid to follow).
 */
#include <string.h>

#include "engine/internal.h"

const char *sl_pipeline_listen(const sl_pipeline *p) { return p->listen; }

const char *sl_pipeline_token(const sl_pipeline *p) { return p->token; }

int sl_pipeline_table_store(const sl_pipeline *p, const char *name) {
    for (int i = 0; i < p->nt; i++) {
        if (strcmp(p->t[i].name, name)) continue;
        return p->t[i].store == STORE_LAKE     ? SL_TABLE_LAKE
               : p->t[i].store == STORE_SQLITE ? SL_TABLE_SQLITE
                                               : SL_TABLE_NONE;
    }
    return SL_TABLE_UNKNOWN;
}
