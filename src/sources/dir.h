/*
 * dir.h - the `dir` source: a landing directory (Auto Loader's job).
 *
 * Every file whose name matches the pattern is a partition; its position is
 * the byte offset up to which its lines have been read. Files are read in
 * name order, one at a time, so the record order is a pure function of the
 * directory's contents: a restart from saved positions reproduces it exactly.
 * Writers should create files under a dot-name (ignored) and rename them into
 * place, or append whole lines. Only a line ending in '\n' is a record,
 * except a last line without one once its file has not grown for the line
 * timeout (sl_dir_set_lines, default 1 s): the same rule with --once (final)
 * as when following, so a writer caught mid-line is never cut.
 *
 * Long lines. A line of more than max_line bytes (default 1 MiB) is given
 * once, as its first bytes and its length (sl_dir_next returns 2): the
 * reader skips to its '\n' without buffering it. Every line that fits is
 * given whole (the buffer is at least max_line + 1 bytes).
 *
 * Finding files. sl_dir_open puts an inotify watch on the directory
 * (IN_CLOSE_WRITE, IN_MOVED_TO, IN_MODIFY) before the first scan, and the
 * first sl_dir_scan reads the whole directory. Later scans only read the
 * pending inotify events: a scan with nothing new costs one read() that
 * returns EAGAIN, whatever the number of files, and a new file is seen at
 * the next scan. The full rescan comes back when the kernel's event queue
 * overflowed (IN_Q_OVERFLOW), when the watch is lost (directory moved or
 * deleted), or for good when inotify is unavailable (no instances left, a
 * file system without it): then every scan reads the directory and stats
 * the files that were fully read, as before. Files found in one scan are
 * sorted among themselves and appended; nothing is ever re-sorted.
 * Network file systems do not report remote writes to inotify: there, new
 * files are seen only at open and after an overflow; use a local landing
 * directory.
 *
 * Names are identities. Positions are keyed by file name, and the engine
 * keeps a name's position row forever. So a name must not be reused for
 * different content: a file that reappears under a name already read (for
 * example after cleanup deleted or moved it) is the same partition, and only
 * its bytes beyond the saved position are read -- a re-delivered copy
 * (size <= position) is skipped, and cleaned up again if cleanup is on. This
 * is deterministic across restarts, which reading it again from 0 could not
 * be (the position row cannot tell two incarnations apart). Writers should
 * use unique names (timestamp, sequence, uuid).
 *
 * Cleanup after commit (Spark's cleanSource): with sl_dir_set_cleanup, a file
 * whose bytes are all read AND whose position covering them is committed is
 * deleted or moved to the archive directory by sl_dir_committed, which the
 * engine calls right after its commit is durable. A file is only cleaned
 * once its writer is done: inotify reported it closed (IN_CLOSE_WRITE or
 * renamed in) with no write since, or it has not been modified for 2 s.
 * Files re-stat'ed at cleanup time that grew are read, not cleaned. A crash
 * between the commit and the cleanup leaves the file in place; at the next
 * start its restored position equals its size and it is cleaned after the
 * first commit. Moving uses rename(2) (same file system; a file of the same
 * name in the archive is replaced), or copy + unlink across file systems.
 *
 * Memory: ~100 bytes per file seen in the life of the source (name, position,
 * index); part ids are never reused or compacted, so formats may key state
 * (CSV headers) by part id.
 *
 * Not thread-safe: one source belongs to the engine's data-path thread.
 */
#ifndef SL_SOURCES_DIR_H
#define SL_SOURCES_DIR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "core/error.h"

typedef struct sl_dir_source sl_dir_source;

sl_dir_source *sl_dir_open(const char *path, const char *pattern, sl_error *err);
void sl_dir_free(sl_dir_source *d);
/* Sets a partition's position from the checkpoint (before the first scan).
 * A restored position is a committed one (it came from a commit). */
void sl_dir_restore(sl_dir_source *d, const char *name, int64_t pos);
/* Looks for new files and for growth of known ones (inotify events, or the
 * whole directory at the first scan and after an overflow). Returns 0 or
 * SL_EIO. */
int sl_dir_scan(sl_dir_source *d, sl_error *err);
/* Gives a view of unread complete lines of the current file. Returns 1 with
 * *buf and *len (at least SL_DIR_PADDING readable bytes after it), *part, and
 * *base_pos = file offset of *buf; 0 when nothing is ready; <0 on I/O error.
 * Returns 2 for a line longer than max_line: *buf and *len are its first
 * bytes (at most 4096, no '\n'), *base_pos its offset, its length is
 * sl_dir_long_line_bytes; sl_dir_consume (any n > 0) consumes all of it.
 * final: ignore the max-files limit, so --once drains everything.
 * The view stays valid until the next call. */
#define SL_DIR_PADDING 64
#define SL_DIR_LINE_TIMEOUT_US 1000000
#define SL_DIR_MAX_LINE (1u << 20)
int sl_dir_next(sl_dir_source *d, bool final, const char **buf, size_t *len, int32_t *part,
                int64_t *base_pos, sl_error *err);
/* Marks n bytes of the last view as consumed (n <= len). */
void sl_dir_consume(sl_dir_source *d, size_t n);
/* The length (without '\n') of the overlong line sl_dir_next gave (0: none). */
int64_t sl_dir_long_line_bytes(const sl_dir_source *d);
/* The last sl_dir_next found nothing because a last line without '\n' waits
 * for its file to be idle (--once is not at the end of its input). */
bool sl_dir_held(const sl_dir_source *d);
/* The last view (return 1) reaches the end of its file and the file has not
 * grown for the line timeout: bytes a parser leaves there (a CSV record
 * with an unclosed quote) will never be completed. */
bool sl_dir_view_ends_file(sl_dir_source *d);
/* Line timeout (>= 0) and max_line (bytes, 0 = default); before reading. */
void sl_dir_set_lines(sl_dir_source *d, int64_t line_timeout_us, size_t max_line);
/* Partition names indexed by part id (valid until the next scan; ids are
 * stable for the life of the source). */
const char *const *sl_dir_names(const sl_dir_source *d);
int sl_dir_count(const sl_dir_source *d);
/* Iterates partitions whose position changed since the last
 * sl_dir_clear_dirty, and remembers the positions given, for
 * sl_dir_committed. */
typedef void (*sl_dir_pos_fn)(void *ud, const char *name, int64_t pos);
void sl_dir_each_dirty(sl_dir_source *d, sl_dir_pos_fn fn, void *ud);
void sl_dir_clear_dirty(sl_dir_source *d);
/* Files with unread bytes, and unread bytes, as of the last scan (O(1)). */
int64_t sl_dir_pending_files(const sl_dir_source *d);
int64_t sl_dir_pending_bytes(const sl_dir_source *d);

/* At most n files are started (opened for reading) between two scans, so a
 * backlog is taken in slices with a commit and a scan between them (Spark's
 * maxFilesPerTrigger). 0 = no limit (default). Not applied when final. */
void sl_dir_set_max_files(sl_dir_source *d, int n);

typedef enum sl_dir_cleanup {
    SL_DIR_CLEANUP_NONE = 0,
    SL_DIR_CLEANUP_DELETE,
    SL_DIR_CLEANUP_MOVE
} sl_dir_cleanup;
/* "none" | "delete" | "move" -> mode; -1 if unknown. */
int sl_dir_cleanup_parse(const char *s);
/* What sl_dir_committed does with finished files. MOVE needs archive_dir
 * (created if missing; must not be the source directory). Returns 0 or
 * SL_EINVAL / SL_EIO. */
int sl_dir_set_cleanup(sl_dir_source *d, sl_dir_cleanup mode, const char *archive_dir,
                       sl_error *err);
/* Call right after the engine's commit is durable: the positions given by
 * the last sl_dir_each_dirty are now committed; files fully read and
 * committed are deleted or moved (see "Cleanup after commit"). Returns the
 * number of files cleaned, or SL_EIO (err set) if one could not be deleted
 * or moved -- that file is left in place and not retried until the next
 * open; the others are still cleaned. Without cleanup it only records the
 * committed positions. */
int sl_dir_committed(sl_dir_source *d, sl_error *err);
/* Files deleted or moved so far. */
int64_t sl_dir_cleaned(const sl_dir_source *d);
/* Reads up to cap bytes from the start of partition `part` (e.g. a CSV
 * header when reading resumes mid-file). Returns bytes read or SL_EIO. */
ssize_t sl_dir_read_head(sl_dir_source *d, int32_t part, char *buf, size_t cap, sl_error *err);
/* true while inotify watches the directory (false: every scan is a full one). */
bool sl_dir_watching(const sl_dir_source *d);
/* The inotify descriptor: readable when the directory changed (sl_dir_scan
 * drains it), or -1 when nothing watches the directory (the watch can be
 * lost at a scan: ask again after one). */
int sl_dir_fd(const sl_dir_source *d);

#endif
