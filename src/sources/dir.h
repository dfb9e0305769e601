/*
 * dir.h - the `dir` source: a landing directory (Auto Loader's job).
 *
 * Every file whose name matches the pattern is read; its position is the
 * byte offset up to which its lines have been read. Files are read in
 * discovery order (name order among the files found by one scan), one at a
 * time. Writers should create files under a dot-name (ignored) and rename
 * them into place, or append whole lines. Only a line ending in '
' is a
 * record, except a last line without one once its file has not grown for
 * the line timeout (sl_dir_set_lines, default 1 s): the same rule with
 * --once (final) as when following, so a writer caught mid-line is never cut.
 *
 * Long lines. A line of more than max_line bytes (default 1 MiB) is given
 * once, as its first bytes and its length (sl_dir_next returns 2): the
 * reader skips to its '
' without buffering it. Every line that fits is
 * given whole (the buffer is at least max_line + 1 bytes).
 *
 * Finding files. sl_dir_open puts an inotify watch on the directory
 * (IN_CLOSE_WRITE, IN_MOVED_TO, IN_MOVED_FROM, IN_DELETE, IN_MODIFY) before
 * the first scan, and the first sl_dir_scan reads the whole directory. Later
 * scans only read the pending inotify events: a scan with nothing new costs
 * one read() that returns EAGAIN, whatever the number of files, and a new
 * file is seen at the next scan. The full rescan comes back when the kernel's
 * event queue overflowed (IN_Q_OVERFLOW), when the watch is lost (directory
 * moved or deleted), or for good when inotify is unavailable (no instances
 * left, a file system without it): then every scan reads the directory and
 * stats the files that were fully read, as before. Files found in one scan
 * are sorted among themselves and appended; nothing is ever re-sorted.
 * Network file systems do not report remote writes to inotify: there, new
 * files are seen only at open and after an overflow; use a local landing
 * directory.
 *
 * Files are identities, not names (what Vector's and Fluent Bit's tail do).
 * A file is its inode plus a fingerprint: the hash of its first
 * SL_DIR_FINGERPRINT bytes (of all of it while it is shorter; the
 * fingerprint grows with the file up to that length). Then:
 *  - a rename keeps the file (rotation app.log -> app.log.1): it is read on
 *    to its end under its new name, even one outside the pattern (renames
 *    are seen by inode; the first scan after a restart also takes a name
 *    outside the pattern whose inode and head match a restored row; later
 *    full scans look only at known inodes there), and the new app.log is a
 *    new file read from 0. Files outside the pattern are never cleaned up;
 *  - a name replaced by another file (a dot-file renamed into place over
 *    it) is a new file, read from 0; the replaced file is read to its end
 *    only if it was being read (its descriptor is open), else its unread
 *    bytes are gone with it;
 *  - a size below the position, or a head that no longer matches the
 *    fingerprint (checked at every open), is a truncation or a reused
 *    inode: a new file, read from 0, counted (sl_dir_truncated) and logged;
 *  - a copy of a file already read resumes at that file's position: same
 *    full fingerprint under any name (copytruncate's app.log.1), or, under
 *    the same name, the head of the gone file that had the name before (a
 *    re-delivered file after cleanup: only bytes beyond its position are
 *    read). Two files whose first SL_DIR_FINGERPRINT bytes are equal are
 *    taken as copies of each other: lines must not start identically for
 *    that long (a long CSV header, say).
 * The position row's name (sl_dir_each_dirty) is "NAME#INODE:LEN:HASH": the
 * file's name when it was fingerprinted, its inode, the fingerprinted bytes
 * and their hash (16 hex digits). Restoring: a row applies to the file of
 * its inode whose head still has its fingerprint (the furthest such row
 * wins; device numbers are not kept, they change across reboots). Rows
 * without '#...' (written before identities) apply by name to the files
 * present at the first scan, which are fingerprinted then; each is
 * overwritten with position -1 at the first commit after that scan (and
 * -1 rows are ignored), so a name-only row resumes its file once and never
 * applies to a later file of that name.
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
 * Memory: ~150 bytes per file seen in the life of the source (name, row name,
 * position, index, inode, fingerprint); a truncated or replaced file is a new
 * one; plus ~100 bytes per restored row with an identity and per rename.
 * Part ids are never reused or compacted, so formats may key state
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
/* Sets a position from the checkpoint (before the first scan): name is a
 * row name given by sl_dir_each_dirty (or a bare file name, from before
 * identities; pos -1: ignored). A restored position is a committed one. */
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
#define SL_DIR_FINGERPRINT 256
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
/* Multiline records (dir_source.c): the caller could use nothing at the end
 * of the last view because a record goes on past it. The next sl_dir_next
 * reads on first and gives the view with what followed; at the end of the
 * file (or when the buffer is full) it gives the same lines again. */
void sl_dir_want_more(sl_dir_source *d);
/* The last view (return 1) reaches the current end of its file: 1 when the
 * file has not been modified for us microseconds (or ends with a last line
 * the line timeout completed), 0 when it was modified more recently, -1 when
 * the file holds more bytes than the view (or the view is not the whole
 * buffer). */
int sl_dir_view_idle(sl_dir_source *d, int64_t us);
/* Line timeout (>= 0) and max_line (bytes, 0 = default); before reading. */
void sl_dir_set_lines(sl_dir_source *d, int64_t line_timeout_us, size_t max_line);
/* Files' names indexed by part id: the name now (a renamed file's new one),
 * for the _source column and quarantine (valid until the next scan; ids are
 * stable for the life of the source). */
const char *const *sl_dir_names(const sl_dir_source *d);
int sl_dir_count(const sl_dir_source *d);
/* Iterates files whose position changed since the last sl_dir_clear_dirty,
 * naming each by its row name (see "Files are identities"), and remembers
 * the positions given, for sl_dir_committed. After the first scan it also
 * gives the restored name-only rows once, with position -1. */
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
/* Truncations (and reused inodes) seen so far: files read again from 0. */
int64_t sl_dir_truncated(const sl_dir_source *d);
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
