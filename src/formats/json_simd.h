/*
 * json_simd.h - internal: the C face of the simdjson shim (json_simd.cc).
 *
 * Not a public header: only json.c includes it. The split of work is
 *
 *   json_simd.cc  JSON syntax. Iterates one line with simdjson On-Demand,
 *                 walks the *path tree* below, and reads each value it
 *                 reaches into a small tagged union (sl_jval).
 *   json.c        Schema semantics. Splits lines, builds the path tree from
 *                 the schema, and turns each sl_jval into a typed column
 *                 value (or a "field 'x': expected int, got string" reason).
 *
 * so the C++ is one small file that knows nothing about batches or types.
 *
 * The path tree: node 0 is the document root (an object). Every other node
 * is one step of a dotted path ("a.b.0.c" gives a -> b -> 0 -> c) and names a
 * key of the enclosing object, or, when its name is a decimal number, also
 * an index of the enclosing array. A node that ends a path is a *leaf*: it
 * has a slot in the vals[] array. A node may be both a leaf and an inner
 * node (payload shapes differ: "check" is a string in one, an object with
 * "name" in another): an object or array there is walked for the deeper
 * paths, a scalar fills the leaf. Each value is read at most once, so a
 * leaf read by two columns is converted twice from the same sl_jval.
 */
#ifndef SL_FORMATS_JSON_SIMD_H
#define SL_FORMATS_JSON_SIMD_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sl_jnode {
    const char *name; /* path step (not NUL-terminated use: len) */
    uint32_t len;
    int32_t index;    /* name as an array index, or -1 */
    int32_t child;    /* first child, or -1 */
    int32_t next;     /* next sibling, or -1 */
    int32_t leaf;     /* slot in vals[], or -1 for an inner node */
    uint8_t want_raw; /* keep the raw text of an object/array found here */
} sl_jnode;

typedef enum sl_jkind {
    SL_JV_ABSENT = 0, /* the path was not found */
    SL_JV_NULL,
    SL_JV_BOOL,
    SL_JV_INT,    /* fits int64: v.i */
    SL_JV_UINT,   /* >= 2^63, fits uint64: v.u */
    SL_JV_BIGINT, /* integer beyond uint64: only raw text */
    SL_JV_DOUBLE, /* has a fraction or exponent: v.d */
    SL_JV_STRING, /* s/slen: unescaped text */
    SL_JV_OBJECT, /* raw/rawlen set only when the node wants raw text */
    SL_JV_ARRAY
} sl_jkind;

typedef struct sl_jval {
    int kind;
    uint8_t escaped; /* string had escapes: s points into the shim's scratch */
    union {
        int64_t i;
        uint64_t u;
        double d;
        int b;
    } v;
    const char *s; /* strings: view into the line (no escapes) or shim scratch */
    uint32_t slen;
    const char *raw; /* the value's JSON text, a view into the line */
    uint32_t rawlen;
} sl_jval;

typedef struct sl_jsimd sl_jsimd;

sl_jsimd *sl_jsimd_new(void);
void sl_jsimd_free(sl_jsimd *s);

/* Parses the JSON object in line[0..len); bytes up to line + avail must be
 * readable (avail >= len + 64, the simdjson padding). Fills vals[leaf] of
 * every leaf found; the caller sets the other slots to SL_JV_ABSENT first.
 * Escaped strings stay valid until the next call. Returns 0, or SL_EPARSE with
 * a reason ("malformed JSON: ...", "expected a JSON object") in msg. */
int sl_jsimd_parse(sl_jsimd *s, const char *line, size_t len, size_t avail, const sl_jnode *nodes,
                   sl_jval *vals, char *msg, size_t msgcap);

/* ---- schema discovery ---------------------------------------------------
 * kinds reported for a root key: SL_JV_BOOL, SL_JV_INT (an integer literal),
 * SL_JV_DOUBLE (a fraction or exponent), SL_JV_STRING (s/slen: the text,
 * unescaped when the key/value had escapes, valid during the call only),
 * SL_JV_OBJECT, SL_JV_ARRAY, SL_JV_NULL. */
typedef void (*sl_jsimd_key_fn)(void *ud, const char *key, size_t klen, int kind, const char *s,
                                size_t slen);

/* While set, sl_jsimd_parse and sl_jsimd_stream_line call fn for every key
 * of the root object that has no node in the path tree (a miss costs one
 * call; keys on the tree cost nothing more). fn NULL: off. */
void sl_jsimd_set_unknown(sl_jsimd *s, sl_jsimd_key_fn fn, void *ud);

/* Calls fn for every key of the root object of line (inference). Returns 0
 * or SL_EPARSE (msg set) when the line is not a JSON object. */
int sl_jsimd_each_root(sl_jsimd *s, const char *line, size_t len, size_t avail, sl_jsimd_key_fn fn,
                       void *ud, char *msg, size_t msgcap);

/* ---- stream mode ------------------------------------------------------
 * Per-line iterate() pays simdjson's fixed per-document cost (stage 1 setup)
 * on every ~140-byte line. Stream mode runs stage 1 once per window (json.c
 * picks 64 KiB, less on dirty input)
 * over many lines (ondemand iterate_many, no worker thread) and walks each
 * document in turn. It is an accelerator only: a line is accepted from the
 * stream only if its document starts at the line's first non-blank byte,
 * walks without any error, and ends before the line's '\n' with nothing
 * else on the line. Anything else (errors, scalars, trailing garbage,
 * documents spanning lines, stage 1 failures anywhere in the window) makes
 * the caller re-parse that line with sl_jsimd_parse, whose verdict and
 * message are authoritative. */

/* Starts a stream over buf[0..len) (whole lines; bytes up to buf + avail
 * readable) with stage 1 windows of `window` bytes (longer lines fail in the
 * stream and are parsed alone). Returns 0, or -1 (parse line by line). */
int sl_jsimd_stream_start(sl_jsimd *s, const char *buf, size_t len, size_t avail, size_t window);
/* Parses the line [line, line+len) whose '\n' is at nl from the stream.
 * Returns 0 (vals filled), 1 (use sl_jsimd_parse for this line; the stream
 * goes on) or 2 (same, and the stream is finished or broken). */
int sl_jsimd_stream_line(sl_jsimd *s, const char *line, size_t len, const char *nl,
                         const sl_jnode *nodes, sl_jval *vals);

#ifdef __cplusplus
}
#endif

#endif
