/*
 * tabfmt.c - see tabfmt.h.
 */
#include "core/tabfmt.h"

#include <stdlib.h>
#include <string.h>

#include "core/mem.h"

struct sl_tab {
    int nc;
    char **names;
    char **cells; /* row-major, NULL = SQL NULL */
    size_t ncell, cap;
    int *w; /* display width per column, at most SL_TAB_MAX_WIDTH */
};

/* Characters (UTF-8 code points: bytes that are not continuation bytes). */
static int chars(const char *s) {
    int n = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        n += (*p & 0xC0) != 0x80;
    return n;
}

sl_tab *sl_tab_new(int ncols, const char *const *names) {
    sl_tab *t = sl_xcalloc(1, sizeof *t);
    t->nc = ncols;
    t->names = sl_xcalloc((size_t)ncols + 1, sizeof *t->names);
    t->w = sl_xcalloc((size_t)ncols + 1, sizeof *t->w);
    for (int c = 0; c < ncols; c++) {
        t->names[c] = sl_xstrdup(names[c] ? names[c] : "");
        int l = chars(t->names[c]);
        t->w[c] = l > SL_TAB_MAX_WIDTH ? SL_TAB_MAX_WIDTH : l;
    }
    return t;
}

void sl_tab_add(sl_tab *t, const char *const *cells) {
    if (t->ncell + (size_t)t->nc > t->cap) {
        t->cap = t->cap ? t->cap * 2 : 1024;
        while (t->cap < t->ncell + (size_t)t->nc)
            t->cap *= 2;
        t->cells = sl_xrealloc(t->cells, t->cap * sizeof *t->cells);
    }
    for (int c = 0; c < t->nc; c++) {
        const char *v = cells[c];
        t->cells[t->ncell++] = v ? sl_xstrdup(v) : NULL;
        int l = v ? chars(v) : 4;
        if (l > t->w[c]) t->w[c] = l > SL_TAB_MAX_WIDTH ? SL_TAB_MAX_WIDTH : l;
    }
}

/* Prints s in exactly w characters: padded, or cut to w-1 and "…".
 * Returns 1 when it was cut. */
static int cell(FILE *out, const char *s, int w) {
    int n = chars(s), cut = n > w;
    int keep = cut ? w - 1 : n, shown = 0;
    const unsigned char *p = (const unsigned char *)s;
    while (*p && shown < keep) {
        const unsigned char *q = p + 1;
        while (*q && (*q & 0xC0) == 0x80)
            q++;
        if (*p < 0x20 || *p == 0x7f)
            fputc(' ', out);
        else
            fwrite(p, 1, (size_t)(q - p), out);
        shown++;
        p = q;
    }
    if (cut) fputs("\xe2\x80\xa6", out); /* U+2026 */
    for (int k = shown + cut; k < w; k++)
        fputc(' ', out);
    return cut;
}

void sl_tab_print(const sl_tab *t, FILE *out) {
    if (!t->nc) return;
    for (int c = 0; c < t->nc; c++) {
        if (c) fputs(" | ", out);
        cell(out, t->names[c], t->w[c]);
    }
    fputc('\n', out);
    for (int c = 0; c < t->nc; c++) {
        fputs(c ? "-+-" : "", out);
        for (int k = 0; k < t->w[c]; k++)
            fputc('-', out);
    }
    fputc('\n', out);
    size_t cut = 0;
    for (size_t i = 0; i < t->ncell; i += (size_t)t->nc) {
        for (int c = 0; c < t->nc; c++) {
            if (c) fputs(" | ", out);
            const char *v = t->cells[i + (size_t)c];
            cut += (size_t)cell(out, v ? v : "NULL", t->w[c]);
        }
        fputc('\n', out);
    }
    size_t rows = t->ncell / (size_t)t->nc;
    fprintf(out, "(%zu row%s", rows, rows == 1 ? "" : "s");
    if (cut)
        fprintf(out,
                "; %zu cell%s cut at %d characters, marked \xe2\x80\xa6: --format csv or json "
                "shows them whole",
                cut, cut == 1 ? "" : "s", SL_TAB_MAX_WIDTH);
    fputs(")\n", out);
}

void sl_fput_csv_field(FILE *out, const char *s) {
    if (!s) return;
    if (!strpbrk(s, ",\"\r\n")) {
        fputs(s, out);
        return;
    }
    fputc('"', out);
    for (const char *p = s; *p; p++) {
        if (*p == '"') fputc('"', out);
        fputc(*p, out);
    }
    fputc('"', out);
}

void sl_fput_json_string(FILE *out, const char *s) {
    fputc('"', out);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\')
            fprintf(out, "\\%c", *p);
        else if (*p == '\n')
            fputs("\\n", out);
        else if (*p == '\r')
            fputs("\\r", out);
        else if (*p == '\t')
            fputs("\\t", out);
        else if (*p < 0x20)
            fprintf(out, "\\u%04x", *p);
        else
            fputc(*p, out);
    }
    fputc('"', out);
}

void sl_tab_free(sl_tab *t) {
    if (!t) return;
    for (int c = 0; c < t->nc; c++)
        free(t->names[c]);
    for (size_t i = 0; i < t->ncell; i++)
        free(t->cells[i]);
    free(t->names);
    free(t->cells);
    free(t->w);
    free(t);
}
