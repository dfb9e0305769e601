/*
 * fuzz_parquet.c - libFuzzer target for the Parquet reader.
 *
 * The input is a whole file: sl_pq_open_mem parses the footer, then every
 * column of every row group is decoded, and the statistics are read. Any
 * input must either work or fail with SL_ECORRUPT and a message; decoded
 * values are touched so the sanitizers see every byte the reader hands out.
 * Row groups are capped at 2^16 rows (sl_pq_set_max_rows): a few bytes of
 * run-length encoding may claim billions.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/batch.h"
#include "formats/parquet.h"

static void must_be_corrupt(const sl_error *err) {
    if (err->code != SL_ECORRUPT || !err->msg[0]) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    sl_error err = {0};
    sl_pq_reader *r = sl_pq_open_mem(data, size, &err);
    if (!r) {
        must_be_corrupt(&err);
        return 0;
    }
    sl_pq_set_max_rows(r, 1 << 16);
    const sl_schema *s = sl_pq_schema(r);
    if (s->n < 1 || s->n > SL_MAX_COLUMNS) abort();
    volatile uint64_t sum = 0;
    for (int rg = 0; rg < sl_pq_num_row_groups(r); rg++) {
        int64_t n = sl_pq_row_group_rows(r, rg);
        if (n < 0) abort();
        for (int c = 0; c < s->n; c++) {
            sl_pq_stats st;
            if (sl_pq_chunk_stats(r, rg, c, &st) == 0 && st.has_min_max &&
                s->f[c].type == SL_T_STRING)
                for (uint32_t k = 0; k < st.min.s.len; k++)
                    sum += (uint8_t)st.min.s.ptr[k];
            sl_column col;
            memset(&err, 0, sizeof err);
            if (sl_pq_read_column(r, rg, c, c % 4, &col, &err)) {
                must_be_corrupt(&err);
                continue;
            }
            if (col.type != s->f[c].type) abort();
            for (int64_t k = 0; k < n; k++) {
                sum += col.null[k];
                if (col.null[k]) continue;
                switch (col.type) {
                case SL_T_STRING:
                    if (col.v.s[k].len) sum += (uint8_t)col.v.s[k].ptr[col.v.s[k].len - 1];
                    break;
                case SL_T_BOOL:
                    sum += col.v.b[k];
                    break;
                default:
                    sum += (uint64_t)col.v.i[k];
                }
            }
        }
    }
    (void)sum;
    sl_pq_close_reader(r);
    return 0;
}
