/*
 * expr_internal.h - what the files of src/expr/ share: the node of a compiled
 * expression, the compiler state, and the kernel and function tables.
 *
 * A compiled expression is a DAG of nodes (a node may be shared: the x of
 * `x BETWEEN a AND b` or of `CASE x WHEN ...` is evaluated once). Each node
 * evaluates a whole batch at once: its kernel reads its children's result
 * columns and writes its own result column, a scratch column the node owns
 * and grows only when a bigger batch arrives. A column reference owns no
 * scratch: its result column is the batch's column itself. A literal's
 * scratch is filled with its value once, when it is (re)allocated.
 * sl_expr_eval walks the nodes in post order (children before parents), so
 * evaluation is a loop over a flat program: one indirect call per node per
 * batch, tight loops over rows inside, no allocation per row.
 *
 * Invariants: after compile, a node's children are fully type-checked and
 * their types are exactly what its kernel expects (the compiler inserts
 * casts); a node whose children are all literals has been folded into a
 * literal; nodes live in the expression's arena, scratch is malloc'd.
 */
#ifndef SL_EXPR_INTERNAL_H
#define SL_EXPR_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/arena.h"
#include "core/batch.h"
#include "core/error.h"
#include "expr/expr.h"

#define EXPR_MAX_DEPTH 200

typedef struct node node;
typedef void (*node_eval)(node *n, sl_batch *b, uint32_t rows);

enum node_kind { K_LIT = 1, K_COL, K_OP };

struct node {
    node_eval eval; /* kernel (K_OP only) */
    int kind;
    sl_type type;
    int off;   /* byte offset of the node's first token in the source */
    int depth; /* height of the subtree, bounded by EXPR_MAX_DEPTH */
    int nk;
    node **k;
    sl_column res; /* result of the last evaluation, rows [0, rows) */
    /* scratch owned by the node (literals and operators) */
    uint8_t *s_null;
    void *s_val;
    uint32_t s_cap;
    /* literal value (K_LIT) */
    bool lit_null;
    union {
        int64_t i;
        double d;
        uint8_t b;
        sl_str s;
    } lit;
    /* column reference (K_COL) */
    int col;
    const char *name;
    /* operator-specific */
    int op;       /* operator / function id, for folding rules */
    int64_t iarg; /* small parameter (has ELSE, date_trunc unit, ...) */
    void *aux;    /* compiled LIKE pattern, ...; lives in the arena unless aux_free */
    void (*aux_free)(void *aux); /* set: sl_expr_free releases aux with it (a regex) */
    int mark;                    /* visit mark for linearisation */
};

struct sl_expr {
    sl_arena *arena; /* nodes, children arrays, constants, names */
    node *root;
    node **nodes; /* every node ever made (scratch is freed from here) */
    int n_nodes, cap_nodes;
    node **prog; /* post-order evaluation program */
    int n_prog;
    const char **cols; /* distinct column names referenced */
    int n_cols;
};

/* ---- lexer ---- */
enum tok_kind {
    TK_EOF = 0,
    TK_INT,
    TK_DOUBLE,
    TK_STRING,
    TK_IDENT,  /* bare identifier or keyword */
    TK_QIDENT, /* "double-quoted" identifier */
    TK_LP,
    TK_RP,
    TK_COMMA,
    TK_PLUS,
    TK_MINUS,
    TK_STAR,
    TK_SLASH,
    TK_PERCENT,
    TK_CONCAT,
    TK_EQ,
    TK_NE,
    TK_LT,
    TK_LE,
    TK_GT,
    TK_GE
};

enum keyword {
    KW_NONE = 0,
    KW_AND,
    KW_OR,
    KW_NOT,
    KW_IS,
    KW_NULL,
    KW_TRUE,
    KW_FALSE,
    KW_IN,
    KW_BETWEEN,
    KW_LIKE,
    KW_ESCAPE,
    KW_CASE,
    KW_WHEN,
    KW_THEN,
    KW_ELSE,
    KW_END,
    KW_CAST,
    KW_AS
};

typedef struct token {
    int kind;
    int kw; /* for TK_IDENT: keyword id or KW_NONE */
    int off, len;
    int64_t i;
    double d;
    sl_str s; /* identifier text or unescaped string (NUL-terminated, arena) */
} token;

/* ---- compiler state ---- */
typedef struct comp {
    sl_expr *e;
    const char *src;
    size_t len;
    size_t pos; /* lexer position */
    token tok;  /* current token */
    const sl_schema *schema;
    sl_error *err;
    int err_off;
    bool failed;
    int depth;
    sl_batch *fold_batch; /* 1-row batch for folding constants */
} comp;

/* lex.c */
void lex_next(comp *c);

/* compile.c: helpers shared with funcs.c */
int comp_error(comp *c, int off, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
node *node_new(comp *c, int kind, sl_type type, int off);
node *node_op(comp *c, node_eval ev, sl_type type, int off, int nk, node **kids);
node *node_lit_null(comp *c, sl_type type, int off);
node *node_finish(comp *c, node *n, bool strict);
node *coerce(comp *c, node *n, sl_type to);
node *make_cast(comp *c, node *x, sl_type to, int off);
node *make_concat_any(comp *c, node *x);
node *mk_cmp(comp *c, int op, node *l, node *r, int off);
node *mk_case(comp *c, node **conds, node **vals, int nb, node *els, int off);
bool is_numeric(sl_type t);
bool is_lit(const node *n);
bool is_null_lit(const node *n);
/* Common type of value-producing children (CASE branches, COALESCE, least...):
 * numeric promote, NULL ignored, otherwise equal. Coerces kids in place. */
int unify_values(comp *c, node **kids, int nk, const char *what, sl_type *out);

/* kernels.c */
size_t type_size(sl_type t);
void scratch_ensure(node *n, uint32_t rows);
void lit_fill(node *n);
void copy_val(sl_column *o, uint32_t i, const sl_column *s, uint32_t j, sl_type t);
node_eval kernel_arith(int op,
                       sl_type t); /* op: TK_PLUS.. TK_PERCENT; t: SL_T_INT or SL_T_DOUBLE */
node_eval kernel_neg(sl_type t);
node_eval kernel_cmp(int op, sl_type t); /* op: TK_EQ..TK_GE; t: operand type */
node_eval kernel_cast(sl_type from, sl_type to);
void ev_and(node *n, sl_batch *b, uint32_t rows);
void ev_or(node *n, sl_batch *b, uint32_t rows);
void ev_not(node *n, sl_batch *b, uint32_t rows);
void ev_isnull(node *n, sl_batch *b, uint32_t rows);
void ev_isnotnull(node *n, sl_batch *b, uint32_t rows);
void ev_concat(node *n, sl_batch *b, uint32_t rows);
void ev_case(node *n, sl_batch *b, uint32_t rows);
void ev_coalesce(node *n, sl_batch *b, uint32_t rows);
void ev_in(node *n, sl_batch *b, uint32_t rows);
void ev_null(node *n, sl_batch *b, uint32_t rows);

/* Timestamps that print as ISO 8601 with a 4-digit year: 0001-01-01 .. 9999-12-31;
 * others format as NULL (and keep core's formatter away from overflow). */
#define SL_TS_MIN_FORMAT (-62135596800LL * 1000000LL)
#define SL_TS_MAX_FORMAT (253402300800LL * 1000000LL - 1)
bool ts_formattable(int64_t us);

/* like.c */
/* Compiles a constant LIKE pattern; returns NULL and sets *bad_escape when
 * the pattern ends with the escape character. */
void *like_compile(sl_arena *a, const char *p, uint32_t len, int esc, bool *bad_escape);
void ev_like(node *n, sl_batch *b, uint32_t rows);
bool like_match_str(const char *p, uint32_t plen, int esc, const char *s, uint32_t slen, bool *bad);

/* timefmt.c: to_timestamp(s, format) (nk 1: NULL, the plain kernel) and
 * format_time(t, format), the format compiled once. */
node *build_to_timestamp(comp *c, node **a, int nk, int off);
node *build_format_time(comp *c, node **a, int nk, int off);

/* jsonpath.c: json_extract(s, path) and its typed forms (iarg: the sl_type). */
node *build_json_extract(comp *c, node **a, int nk, int off);
node *build_json_extract_int(comp *c, node **a, int nk, int off);
node *build_json_extract_double(comp *c, node **a, int nk, int off);
node *build_json_extract_bool(comp *c, node **a, int nk, int off);

/* funcs.c */
/* Builds a call to function `name` (nk checked args). Returns NULL on error (c->failed). */
node *func_call(comp *c, const char *name, int name_off, node **args, int nk);
/* Typed value to string in the arena (used by CAST and concat). */
uint32_t utf8_len(const char *s, uint32_t n);

#endif
