/*
 * source.h - the source interface.
 *
 * Every kind of source (dir, file, kafka, syslog, http_poll, mqtt) is one `sl_source_def`: a
 * name, an option table (the single truth for validation, `file:line:col`
 * errors, `sluice help <kind>` and the docs) and callbacks. The registry
 * (registry.c) lists them, as ops/registry.c lists the operators. The engine
 * knows no source by name: it compiles, opens, reads, commits and reports
 * every source through this struct.
 *
 * What a source is: a set of *partitions* (a file, a Kafka topic/partition,
 * a network peer), each with a position (a byte offset, a Kafka offset) that
 * is saved in the engine's commit and sought back to on restart, and a file
 * descriptor the event loop can wait on.
 *
 * Lifecycle:
 *   create    at compile time: binds the kind's options (sl_spec_bind on the
 *             kind's table; the map holds only this kind's keys, the common
 *             ones are the engine's) into the kind's own config, refusing bad
 *             values with file:line:col. No I/O beyond looking at paths.
 *   open      at run start: starts reading from the committed positions.
 *   scan, read, each_position, committed, done: the run (below).
 *   close     at run end (or before the pipeline is rebuilt): stops reading;
 *             open may be called again on the same object.
 *   destroy   frees what create made.
 * The engine may move its pipeline (and the env strings) between create and
 * open: a source copies what it keeps of an env, and keeps an open env only
 * until close.
 *
 * Records. A source does not parse: it hands what it read to the engine's
 * env->parse (complete lines of one partition, from a byte position) or
 * env->parse_msgs (messages laid end to end, one line each, sources/poll.h),
 * which parse them with the source's format into the engine's batch.
 */
#ifndef SL_SOURCES_SOURCE_H
#define SL_SOURCES_SOURCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/error.h"
#include "sources/poll.h"
#include "spec/spec.h"
#include "store/store.h"

typedef struct sl_access sl_access; /* httpd/httpd.h: tokens and the audit ring */

/* What the engine gives a source. create gets name and base_dir only;
 * open gets all of it. */
typedef struct sl_source_env {
    const char *name;       /* the source's name: its positions are stored under it */
    const char *pipeline;   /* the pipeline's name */
    const char *instance;   /* run --instance NAME (scale-out), NULL without */
    const char *base_dir;   /* directory of the pipeline file */
    const char *format;     /* open: the record format's name (json, syslog, csv...) */
    bool once;              /* --once: read what is there, then be done */
    uint32_t batch_size;    /* most records the engine takes per read */
    int64_t max_line_bytes; /* longest line parsed (option max_line_bytes) */
    sl_store *store;        /* the checkpoint: this source's committed positions */
    /* the pipeline's tokens (the server's, swapped by a reload) and the
     * audit ring drained into _sluice_audit at each commit; NULL in tests */
    sl_access *access;
    void *ud; /* first argument of the callbacks below */
    /* Lines of partition `part` starting at byte position `pos` (complete
     * lines, SL_JSON_PADDING readable bytes after them): parsed into the
     * batch; returns the bytes used (fewer when a schema change stopped the
     * parse before a record: the rest is read again later). */
    size_t (*parse)(void *ud, const char *buf, size_t len, int32_t part, int64_t pos);
    /* As parse, for lines that end their partition for good (the file is
     * idle): what the format cannot take (a CSV record with an unclosed
     * quote) is quarantined as one record; returns the bytes used (len
     * unless a schema change stopped the parse). */
    size_t (*parse_end)(void *ud, const char *buf, size_t len, int32_t part, int64_t pos);
    /* A record that is not parsed (a line over max_line_bytes): quarantined
     * with its raw text (may be a prefix) and reason, counted as read. */
    void (*bad)(void *ud, const char *raw, size_t len, int32_t part, int64_t pos,
                const char *reason);
    /* n messages of one poll (poll.h), each row gets its message's part and
     * pos. Returns how many of them were quarantined (not valid in the
     * format, over max_line_bytes): the http source answers with it. */
    int (*parse_msgs)(void *ud, const char *buf, const sl_poll_msg *msgs, int n);
    /* Consumer groups: a partition was assigned to this process; returns the
     * position it resumes from, -1 when the engine has none (then the
     * source's own fallback). */
    int64_t (*assigned)(void *ud, const char *partition);
    /* Consumer groups: partitions are being taken away, called BEFORE they
     * are given up so the engine can commit what was read from them. */
    void (*revoking)(void *ud, const char *const *partitions, int n);
} sl_source_env;

/* What create tells the engine about the source it made. */
typedef struct sl_source_info {
    /* partitioned state: rows carry their partition's name in the column
     * _part (ops/op.h), so keyed state moves with a partition between
     * instances. The node of the option asking for it (for errors), NULL: no. */
    const sl_node *part_column;
} sl_source_info;

/* Gauges and counters for /metrics and the status line. The engine sets
 * every field to -1 (not reported by this kind) before calling stats. */
typedef struct sl_source_stats {
    int64_t files_waiting; /* partitions (files) with unread bytes */
    int64_t bytes_waiting; /* their unread bytes */
    int64_t consumer_lag;  /* messages between the positions and the partitions' ends */
    int64_t filtered;      /* messages rejected before parsing (counter) */
    int64_t dropped;       /* messages lost on a full queue (counter) */
    /* network listeners (counters) */
    int64_t framing_errors; /* bad frames (syslog TCP octet counts) */
    int64_t truncated;      /* messages cut to the maximum size */
    int64_t refused;        /* connections refused (caps per address and in all) */
    int64_t idle_closed;    /* connections closed after the idle timeout */
    int64_t accept_errors;  /* accept failures for lack of descriptors */
} sl_source_stats;

typedef void (*sl_source_pos_fn)(void *ud, const char *partition, int64_t pos);

typedef struct sl_source_def {
    const char *name;
    const sl_opt *opts; /* the kind's own options (the common ones are in sl_source_common_opts) */
    const char *help;
    const char *format; /* record format when `format:` is not given */
    int (*create)(const sl_node *n, const sl_source_env *env, void **self, sl_source_info *info,
                  sl_error *err);
    void (*destroy)(void *self);
    /* Starts reading at the committed positions (env->store, or
     * env->assigned as partitions are assigned). */
    int (*open)(void *self, const sl_source_env *env, sl_error *err);
    void (*close)(void *self);
    /* Optional: looks for new input (new files, growth). */
    int (*scan)(void *self, sl_error *err);
    /* Reads one batch (at most env->batch_size records) and hands it to
     * env->parse or env->parse_msgs. Returns 1 if input was consumed (rows,
     * rejected or filtered records), 0 if nothing was ready, <0 on error.
     * final (--once): the end of what is there is the end of the input (a
     * last line without '\n' is taken). */
    int (*read)(void *self, bool final, sl_error *err);
    /* Names of the partitions by part id, as of the last read or scan
     * (arrays may move as partitions appear); NULL when not open. */
    const char *const *(*part_names)(void *self);
    /* Optional: positions changed since the last commit, for the commit. */
    void (*each_position)(void *self, sl_source_pos_fn fn, void *ud);
    /* Optional: the commit holding the last each_position is durable. */
    void (*committed)(void *self);
    /* --once: the input has ended (after reads with final that found nothing). */
    bool (*done)(void *self);
    /* A file descriptor that becomes readable when input may be ready (it
     * can change after a scan), or -1: the loop polls on a timer. Reading
     * the source (read, scan) drains it, and it signals new input, not
     * input left behind: after a read that consumed input, read again
     * before waiting on it. */
    int (*fd)(void *self);
    /* Optional: the next reads may block up to ms for a first record (0: do
     * not wait); a source without it never blocks. */
    void (*wait)(void *self, int ms);
    /* Optional: fills what the kind reports (see sl_source_stats). */
    void (*stats)(void *self, sl_source_stats *out);
    /* Optional: every partition's position, for /metrics
     * (sluice_source_partition_position), by kinds whose partitions are
     * network peers (http: one per client address); at most 1000 are shown. */
    void (*each_partition)(void *self, sl_source_pos_fn fn, void *ud);
    /* Optional: partitions are byte streams read from their start (files):
     * a csv file may start with a header row, and schema evolution (which
     * resumes at a record's byte position) works. Reads up to cap bytes
     * from the start of a partition; returns bytes or < 0. */
    long (*read_head)(void *self, int32_t part, char *buf, size_t cap);
    /* Optional, for schema inference at compile time: each file present,
     * in name order, as complete lines (SL_JSON_PADDING zero bytes after
     * them) until `each` returns false. */
    int (*sample)(void *self, bool (*each)(void *ud, const char *buf, size_t len), void *ud,
                  sl_error *err);
    /* Optional: one line for `sluice lineage` (a dir source: its directory
     * and pattern). */
    void (*describe)(void *self, char *out, size_t cap);
    /* Optional, for `sluice check`: could the source read from here now (the
     * directory is readable, the brokers answer, the address can be bound)?
     * Writes one line of detail; returns 0 yes, 1 no. It changes nothing
     * and may run beside a live pipeline. Called after create, not open. */
    int (*check)(void *self, char *detail, size_t cap);
    /* Optional, for `sluice refresh`: can everything the source ever gave be
     * read again from the beginning (landing files kept in place)? Called
     * after create. A kind without it cannot (a network stream, a queue):
     * the refresh is refused naming the source. false: why says why. */
    bool (*replayable)(void *self, char *why, size_t cap);
} sl_source_def;

const sl_source_def *sl_source_find(const char *name);
const sl_source_def *const *sl_source_all(void); /* NULL-terminated */

/* ---- options every source takes, whatever its kind (the engine's) ----
 * type, format and its options, schema, inference and evolution, paths.
 * Bound into this struct with sl_source_common_opts(). */
typedef struct sl_source_common {
    int type; /* index in sl_source_all() */
    int format;
    const sl_node *format_at;
    const sl_node *schema, *schema_hints;
    int64_t infer_sample;
    const sl_node *infer_sample_at;
    int evolve; /* SL_EVOLVE_*, -1 when not given */
    const sl_node *evolve_at;
    int on_type_conflict; /* SL_CONFLICT_* */
    const sl_node *on_type_conflict_at;
    const sl_node *paths;
    const char *pattern_regex;
    const sl_node *pattern_regex_at;
    const char *delimiter;
    const sl_node *delimiter_at;
    bool header;
    const sl_node *header_at;
    const sl_node *columns;
    int64_t max_line_bytes;
} sl_source_common;
enum { SL_EVOLVE_ADD_COLUMNS, SL_EVOLVE_FAIL, SL_EVOLVE_NONE }; /* the words of `evolve` */
enum { SL_CONFLICT_QUARANTINE, SL_CONFLICT_WIDEN };             /* of `on_type_conflict` */
/* The word of `format` at index i of its values (json, syslog, ...). */
const char *sl_source_format_name(int i);

const sl_opt *sl_source_common_opts(void);
/* Every option of every kind with the common ones, none required: what a
 * source map may hold before its kind is known (unknown keys, types). */
const sl_opt *sl_source_any_opts(void);
/* "dir and file": the kinds whose table has the option (for "is for ... sources"). */
void sl_source_owners(const char *option, char *out, size_t cap);

/* The option tables of this module (kind "source"): the common table (named
 * "sources") and each kind's. Writes at most cap entries; returns how many
 * there are. */
int sl_source_opt_tables(sl_opt_table *out, int cap);

#endif
