/*
 * expr.h - the SQL expression language: compiled once against a schema,
 * evaluated a whole column batch at a time.
 *
 * The language is a SQL subset with SQL semantics (three-valued logic,
 * NULL in -> NULL out): literals, column references ("quoted" or bare),
 * arithmetic, ||, comparisons, AND/OR/NOT, IS [NOT] NULL, [NOT] IN,
 * [NOT] BETWEEN, [NOT] LIKE [ESCAPE], both CASE forms, CAST, COALESCE,
 * NULLIF and a table of scalar functions (string, math and time).
 *
 * Compilation type-checks everything (a type error is a compile error with
 * the byte offset of the culprit), folds constant sub-expressions, and turns
 * the tree into a flat program of batch kernels. Evaluation never fails on
 * data: a runtime problem (division by zero, failed CAST, overflow, bad date)
 * gives NULL for that row, like SQLite.
 *
 * A compiled expression owns scratch columns reused by every evaluation, so
 * one sl_expr must not be evaluated by two threads at once (compile one per
 * thread; compiling is cheap).
 *
 * String results may be views into the input columns, into b->arena (strings
 * the expression builds), or into the compiled expression's own memory
 * (constants): they stay valid while both the batch's data and `e` live.
 */
#ifndef SL_EXPR_EXPR_H
#define SL_EXPR_EXPR_H

#include <stdbool.h>
#include <stdint.h>

#include "core/batch.h"
#include "core/error.h"

typedef struct sl_expr sl_expr;

/* Compiles `src` against `schema`. On error returns NULL, fills err->msg with a message such as
 * "unknown column 'foo'" or "operator + needs numbers, got string" (no position prefix), and sets
 * *err_offset (if non-NULL) to the 0-based byte offset in src where the problem is. */
sl_expr *sl_expr_compile(const char *src, const sl_schema *schema, sl_error *err, int *err_offset);
/* sl_expr_compile for text that sits in a file at file:line:col (quoted: the
 * text starts one character later, after its quote): an error is reported
 * at the exact column inside it. */
sl_expr *sl_expr_compile_at(const char *text, const sl_schema *schema, const char *file, int line,
                            int col, bool quoted, sl_error *err);

/* Result type (SL_T_NULL only for an expression that is the literal NULL). */
sl_type sl_expr_type(const sl_expr *e);

/* Evaluates for rows [0, b->n) into out: out->type == sl_expr_type(e) and out->null/out->v have
 * room for b->cap rows (the caller allocates, e.g. with a column of the batch). Strings that the
 * expression builds are allocated in b->arena. Never fails on data: runtime problems give NULL
 * (division by zero, failed CAST, bad date) like SQLite. Returns 0 or a negative SL_E* code only
 * for internal problems (b's columns do not match the compile schema, out has the wrong type). */
int sl_expr_eval(sl_expr *e, sl_batch *b, sl_column *out);

/* Evaluates a predicate into keep[i] (1 = true; NULL and false = 0). Expression must be BOOL
 * (or the literal NULL); otherwise returns SL_ETYPE. */
int sl_expr_eval_bool(sl_expr *e, sl_batch *b, uint8_t *keep);

/* Column names referenced (after constant folding), each once, in order of first use; for
 * lineage. Fills up to max names and returns that count. The strings live as long as e. */
int sl_expr_columns(const sl_expr *e, const char **names, int max);

/* True when the expression does not depend on any row (it was folded to one value). */
bool sl_expr_is_constant(const sl_expr *e);

void sl_expr_free(sl_expr *e);

#endif
