/*
 * tabfmt.h - query results as text, the same for every store and command
 * (`sluice query`, `sluice tap`): an aligned table (the default format), and
 * the CSV field and JSON string writers of the csv and json formats.
 *
 * Widths are counted in characters (UTF-8 code points), not bytes, so a
 * column of accented names stays aligned. A cell longer than the column
 * limit (60 characters) is cut and ends in "…", and the footer says how many
 * cells were cut and how to see them whole; a control character in a cell
 * (a newline in a log message) is shown as a space, so one row stays one
 * line. NULL prints as NULL.
 */
#ifndef SL_CORE_TABFMT_H
#define SL_CORE_TABFMT_H

#include <stdio.h>

#define SL_TAB_MAX_WIDTH 60

typedef struct sl_tab sl_tab;
/* names[0..ncols) are copied. */
sl_tab *sl_tab_new(int ncols, const char *const *names);
/* One row: cells[0..ncols), NULL for SQL NULL; copied. */
void sl_tab_add(sl_tab *t, const char *const *cells);
/* Header, rule, rows and "(N rows)" (with the cut-cell note when any). */
void sl_tab_print(const sl_tab *t, FILE *out);
void sl_tab_free(sl_tab *t);

/* s as one RFC 4180 field (quoted when it holds a comma, quote or line
 * break); NULL writes nothing (an empty field). */
void sl_fput_csv_field(FILE *out, const char *s);
/* s as a JSON string, quotes included (control characters escaped). */
void sl_fput_json_string(FILE *out, const char *s);

#endif
