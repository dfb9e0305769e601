/*
 * table_sink.c - the `table` sink: rows into the table of the same name in
 * the pipeline's store (SQLite), inside the open commit transaction. Window
 * rows (and rows read from them) are upserts by _group, so a window row
 * written while open is replaced by its later versions; everything else is
 * appended. Nothing to prepare: the store's COMMIT makes the rows durable
 * together with the positions.
 */
#include <stdlib.h>

#include "core/mem.h"
#include "sinks/sink.h"

typedef struct {
    sl_table_writer *w;
} table_sink;

static int ts_create(const sl_node *arg, const sl_sink_env *env, void **self, sl_error *err) {
    (void)arg, (void)env, (void)err;
    *self = sl_xcalloc(1, sizeof(table_sink));
    return 0;
}

static int ts_open(void *self, const sl_sink_env *env, sl_error *err) {
    table_sink *s = self;
    s->w = sl_store_table(env->store, env->table, env->schema,
                          env->upsert ? SL_WRITE_UPSERT : SL_WRITE_APPEND, !env->upsert, err);
    return s->w ? 0 : err->code;
}

static int ts_write(void *self, const sl_batch *b, const char *const *part_names, sl_error *err) {
    return sl_table_write(((table_sink *)self)->w, b, part_names, err);
}

static int64_t ts_rows(const void *self) {
    const table_sink *s = self;
    return s->w ? sl_table_rows_written(s->w) : 0;
}

static void ts_destroy(void *self) {
    table_sink *s = self;
    if (s->w) sl_table_writer_free(s->w);
    free(s);
}

const sl_sink_def sl_sink_table = {
    .name = "table",
    .help = "rows into the store table of the same name (window rows: upserts by _group), "
            "committed with the positions",
    .create = ts_create,
    .open = ts_open,
    .write = ts_write,
    .rows_written = ts_rows,
    .destroy = ts_destroy,
};
