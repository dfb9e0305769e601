/*
 * dir.h - the `dir` source: a landing directory (Auto Loader's job).
 *
 * Every file whose name matches the pattern is a partition; its position is
 * the byte offset up to which its lines have been read. Files are read in
 * name order, one at a time, so the record order is a pure function of the
 * directory's contents: a restart from saved positions reproduces it exactly.
 * Writers should create files under a dot-name (ignored) and rename them into
 * place, or append whole lines. A last line without '\n' is accepted only at
 * the end of input (--once) or once the file has been idle for `idle_us`.
 */
#ifndef SL_SOURCES_DIR_H
#define SL_SOURCES_DIR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/error.h"

typedef struct sl_dir_source sl_dir_source;

sl_dir_source *sl_dir_open(const char *path, const char *pattern, sl_error *err);
void sl_dir_free(sl_dir_source *d);
/* Sets a partition's position from the checkpoint (before the first scan). */
void sl_dir_restore(sl_dir_source *d, const char *name, int64_t pos);
/* Looks for new files and for growth of known ones. Returns 0 or SL_EIO. */
int sl_dir_scan(sl_dir_source *d, sl_error *err);
/* Gives a view of unread complete lines of the current file. Returns 1 with
 * *buf and *len (at least SL_DIR_PADDING readable bytes after it), *part, and
 * *base_pos = file offset of *buf; 0 when nothing is ready; <0 on I/O error.
 * final: treat the end of each file as the end of its last line.
 * The view stays valid until the next call. */
#define SL_DIR_PADDING 64
int sl_dir_next(sl_dir_source *d, bool final, const char **buf, size_t *len, int32_t *part,
                int64_t *base_pos, sl_error *err);
/* Marks n bytes of the last view as consumed (n <= len). */
void sl_dir_consume(sl_dir_source *d, size_t n);
/* Partition names indexed by part id (valid until the next scan). */
const char *const *sl_dir_names(const sl_dir_source *d);
int sl_dir_count(const sl_dir_source *d);
/* Iterates partitions whose position changed since the last sl_dir_clear_dirty. */
typedef void (*sl_dir_pos_fn)(void *ud, const char *name, int64_t pos);
void sl_dir_each_dirty(sl_dir_source *d, sl_dir_pos_fn fn, void *ud);
void sl_dir_clear_dirty(sl_dir_source *d);
/* Files with unread bytes, and unread bytes, as of the last scan. */
int64_t sl_dir_pending_files(const sl_dir_source *d);
int64_t sl_dir_pending_bytes(const sl_dir_source *d);

#endif
