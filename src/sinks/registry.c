/*
 * registry.c - every sink, one line each. Adding a sink is one file with an
 * sl_sink_def and one line here.
 */
#include <string.h>

#include "sinks/sink.h"

extern const sl_sink_def sl_sink_table, sl_sink_lake, sl_sink_kafka, sl_sink_postgresql;

/* clang-format off */
static const sl_sink_def *const all[] = {
    &sl_sink_table,
    &sl_sink_lake,
    &sl_sink_kafka,
    &sl_sink_postgresql,
    NULL,
};
/* clang-format on */

const sl_sink_def *sl_sink_find(const char *name) {
    for (const sl_sink_def *const *d = all; *d; d++)
        if (!strcmp((*d)->name, name)) return *d;
    return NULL;
}

const sl_sink_def *const *sl_sink_all(void) { return all; }

const sl_opt_table *sl_sink_opt_tables(void) {
    static sl_opt_table tabs[sizeof all / sizeof all[0]];
    int n = 0;
    if (!tabs[0].name)
        for (const sl_sink_def *const *d = all; *d; d++)
            if ((*d)->opts) tabs[n++] = (sl_opt_table){"sink", (*d)->name, (*d)->opts};
    return tabs;
}
