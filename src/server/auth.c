/*
 * auth.c - what a token of the server may read. The tokens themselves (the
 * set a reload swaps, constant-time matching) and the audit ring are
 * httpd/access.c's, shared with the http ingest source.
 */
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/timeutil.h"
#include "httpd/httpd.h"
#include "server/internal.h"

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

int sl_server_audit_drain(sl_server *s, int (*fn)(void *ud, const sl_server_audit *a), void *ud,
                          uint64_t *dropped) {
    if (dropped) *dropped = 0;
    return s ? sl_access_audit_drain(s->access, fn, ud, dropped) : 0;
}
