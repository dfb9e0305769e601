/* fuzz_expr.c - libFuzzer target for the expression language.
 *
 * Each input is compiled as an expression against a small fixed schema and,
 * when it compiles, evaluated on a batch whose rows hold the awkward values
 * (NULLs, INT64_MIN/MAX, zero, empty and non-UTF-8 strings, timestamps far
 * outside the formattable range), then freed. The target also checks the
 * API's promises: an error offset lies inside the source, a message is set,
 * eval and eval_bool succeed and agree on the batch. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/batch.h"
#include "core/error.h"
#include "expr/expr.h"

#define ROWS 9

static sl_schema schema;
static sl_batch *batch;

static void setup(void) {
    sl_schema_init(&schema);
    sl_schema_add(&schema, "a", SL_T_INT);
    sl_schema_add(&schema, "b", SL_T_INT);
    sl_schema_add(&schema, "d", SL_T_DOUBLE);
    sl_schema_add(&schema, "name", SL_T_STRING);
    sl_schema_add(&schema, "flag", SL_T_BOOL);
    sl_schema_add(&schema, "ts", SL_T_TS);
    batch = sl_batch_new(&schema, ROWS);
    static const int64_t ints[ROWS] = {0, 1, -1, INT64_MAX, INT64_MIN, 42, -7, 1000000, 0};
    static const double dbls[ROWS] = {0.0, 1.5, -2.25, 1e308, -1e-308, 3.0, 0.1, -0.0, 7};
    static const char *strs[ROWS] = {"",    "x",      "xray", "h\xc3\xa9llo", "\xff\xfe", "100%",
                                     "a_b", "  pad ", "X"};
    static const int64_t tss[ROWS] = {0,
                                      1767225900000000LL,
                                      -1,
                                      INT64_MAX,
                                      INT64_MIN,
                                      86400000000LL,
                                      -62135596800000000LL,
                                      253402300800000000LL,
                                      1};
    for (uint32_t i = 0; i < ROWS; i++) {
        uint32_t r = sl_batch_append_null_row(batch);
        if (i == ROWS - 1) continue; /* the last row is all NULL */
        sl_col_set_int(&batch->col[0], r, ints[i]);
        sl_col_set_int(&batch->col[1], r, ints[(i + 3) % ROWS]);
        if (i % 4 != 3) sl_col_set_double(&batch->col[2], r, dbls[i]);
        if (i == 0)
            sl_col_set_str(&batch->col[3], r, NULL, 0); /* parsers may leave empty views unset */
        else if (i % 3 != 2)
            sl_col_set_str(&batch->col[3], r, strs[i], (uint32_t)strlen(strs[i]));
        if (i % 5 != 4) sl_col_set_bool(&batch->col[4], r, i & 1);
        sl_col_set_int(&batch->col[5], r, tss[i]);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!batch) setup();
    if (size > 4096) return 0;
    char *src = malloc(size + 1);
    if (!src) return 0;
    memcpy(src, data, size);
    src[size] = 0;
    size_t len = strlen(src);

    sl_error err = {0};
    int off = -1;
    sl_expr *e = sl_expr_compile(src, &schema, &err, &off);
    if (!e) {
        if (off < 0 || (size_t)off > len || err.msg[0] == 0 || err.code >= 0) abort();
        free(src);
        return 0;
    }
    sl_type t = sl_expr_type(e);
    sl_schema os;
    sl_schema_init(&os);
    sl_schema_add(&os, "out", t == SL_T_NULL ? SL_T_INT : t);
    sl_batch *ob = sl_batch_new(&os, ROWS);
    sl_column out = ob->col[0];
    if (t == SL_T_NULL) out.type = SL_T_NULL;
    /* twice: the second run reuses the scratch columns */
    for (int k = 0; k < 2; k++)
        if (sl_expr_eval(e, batch, &out) != 0) abort();
    for (uint32_t i = 0; i < batch->n; i++) {
        /* touch every produced string so ASan sees a dangling view */
        if (t == SL_T_STRING && !out.null[i] && out.v.s[i].len) {
            volatile char c = out.v.s[i].ptr[0];
            volatile char z = out.v.s[i].ptr[out.v.s[i].len - 1];
            (void)c, (void)z;
        }
    }
    if (t == SL_T_BOOL || t == SL_T_NULL) {
        uint8_t keep[ROWS];
        if (sl_expr_eval_bool(e, batch, keep) != 0) abort();
        for (uint32_t i = 0; i < batch->n; i++) {
            uint8_t want = t == SL_T_BOOL && !out.null[i] && out.v.b[i];
            if (keep[i] != want) abort();
        }
    }
    const char *names[SL_MAX_COLUMNS];
    int nc = sl_expr_columns(e, names, SL_MAX_COLUMNS);
    if (nc < 0 || nc > schema.n) abort();
    if (sl_expr_is_constant(e) && nc != 0) abort();
    sl_batch_free(ob);
    sl_expr_free(e);
    sl_arena_reset(batch->arena);
    free(src);
    return 0;
}
