/* registry.c - the list of step operators, in one place (see op.h). */
#include <string.h>

#include "ops/op.h"
#include "ops/window.h"

extern const sl_op_def sl_op_expect, sl_op_derive, sl_op_filter, sl_op_watermark, sl_op_dedupe,
    sl_op_lookup, sl_op_anomaly, sl_op_health, sl_op_scd2, sl_op_join;

static const sl_op_def *const registry[] = {
    &sl_op_expect,  &sl_op_derive, &sl_op_filter, &sl_op_watermark, &sl_op_dedupe, &sl_op_lookup,
    &sl_op_anomaly, &sl_op_health, &sl_op_scd2,   &sl_op_join,      NULL,
};

const sl_op_def *sl_op_find(const char *name) {
    for (int i = 0; registry[i]; i++)
        if (!strcmp(registry[i]->name, name)) return registry[i];
    return NULL;
}

const sl_op_def *const *sl_op_all(void) { return registry; }

int sl_op_opt_tables(sl_opt_table *out, int cap) {
    int n = 0;
    for (int i = 0; registry[i]; i++) {
        if (!registry[i]->opts) continue;
        if (n < cap) out[n] = (sl_opt_table){"step", registry[i]->name, registry[i]->opts};
        n++;
    }
    if (n < cap) out[n] = (sl_opt_table){"window", "window", sl_window_opts};
    return n + 1;
}
