/* test_opt_docs.c - docs/pipeline-spec.md and the option tables cannot
 * drift apart: for every table the operators module lists
 * (sl_op_opt_tables: each step's, the window's), the sources module lists
 * (sl_source_opt_tables: the common one, each kind's), the sinks module
 * lists (sl_sink_opt_tables) and the notify module lists (sl_notify_opt_tables:
 * each alert channel type's, under "### channel NAME"), the docs section of that component must
 * name every option, nested sub-tables included, in code (a YAML example or `backticks`); and every
 * bound default must parse by its row's rules. The file is found from this source's path, or from
 * argv[1].
 *
 * Adding a table (a source's, a sink's) is adding a row to `tables` below
 * from its module's accessor; adding an option is adding it to the docs. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h> /* after the headers it needs */

#include "alert/alert.h"
#include "notify/notify.h"
#include "ops/op.h"
#include "sinks/sink.h"
#include "sources/source.h"

static char docs_path[4096];
static char *docs; /* the whole file */
static char *code; /* same length: code characters kept, prose blanked */
static size_t docs_len;

/* The docs heading of a component, when it is not the component's name. */
static const char *heading_of(const sl_opt_table *t) {
    static char h[128];
    if (!strcmp(t->kind, "window")) return "Windows";
    if (!strcmp(t->kind, "source") && !strcmp(t->name, "sources")) return "Sources";
    if (!strcmp(t->kind, "sink") || !strcmp(t->kind, "channel")) {
        snprintf(h, sizeof h, "%s %s", t->kind, t->name);
        return h;
    }
    return t->name;
}

static bool is_word(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

/* Blanks everything that is not code: ``` fences and `inline` spans stay. */
static void extract_code(void) {
    code = malloc(docs_len + 1);
    assert_non_null(code);
    bool fence = false, tick = false;
    size_t i = 0;
    while (i < docs_len) {
        bool line_start = i == 0 || docs[i - 1] == '\n';
        if (line_start && !strncmp(docs + i, "```", 3)) {
            fence = !fence;
            tick = false;
            while (i < docs_len && docs[i] != '\n')
                code[i++] = ' ';
            continue;
        }
        char c = docs[i];
        if (!fence && c == '`') {
            tick = !tick;
            code[i++] = ' ';
            continue;
        }
        if (c == '\n') tick = false; /* a stray backtick does not run on */
        code[i] = fence || tick ? c : (c == '\n' ? '\n' : ' ');
        i++;
    }
    code[docs_len] = 0;
}

/* [*from, *to) of the section whose heading starts with `title` (a whole
 * word): up to the next heading of the same or a higher level. */
static bool find_section(const char *title, size_t *from, size_t *to) {
    size_t tl = strlen(title);
    for (size_t i = 0; i < docs_len; i++) {
        if (i && docs[i - 1] != '\n') continue;
        if (docs[i] != '#') continue;
        int level = 0;
        while (docs[i + level] == '#')
            level++;
        const char *t = docs + i + level;
        while (*t == ' ')
            t++;
        if (strncmp(t, title, tl) || is_word(t[tl])) continue;
        *from = i;
        for (size_t j = i + 1; j < docs_len; j++) {
            if (docs[j - 1] != '\n' || docs[j] != '#') continue;
            int l = 0;
            while (docs[j + l] == '#')
                l++;
            if (l <= level && docs[j + l] == ' ') {
                *to = j;
                return true;
            }
        }
        *to = docs_len;
        return true;
    }
    return false;
}

static bool mentioned(const char *name, size_t from, size_t to) {
    size_t n = strlen(name);
    for (size_t i = from; i + n <= to; i++) {
        if (memcmp(code + i, name, n)) continue;
        if (i > 0 && is_word(code[i - 1])) continue;
        if (i + n < docs_len && is_word(code[i + n])) continue;
        return true;
    }
    return false;
}

/* Appends the options of opts (named "baseline.size", "severity[].level")
 * that the section does not mention. */
static void missing(const sl_opt *opts, const char *prefix, size_t from, size_t to, char *out,
                    size_t cap, int depth) {
    for (const sl_opt *o = opts; o && o->name; o++) {
        if (!mentioned(o->name, from, to)) {
            size_t len = strlen(out);
            snprintf(out + len, cap - len, " %s%s", prefix, o->name);
        }
        if (o->sub && depth < 8) {
            char sub[256];
            snprintf(sub, sizeof sub, "%s%s%s", prefix, o->name,
                     o->type == SL_OPT_SEQ ? "[]." : ".");
            missing(o->sub, sub, from, to, out, cap, depth + 1);
        }
    }
}

static sl_opt_table tables[64];
static int ntables, nops;

static int setup(void **state) {
    (void)state;
    FILE *f = fopen(docs_path, "rb");
    if (!f) {
        fprintf(stderr, "cannot open %s\n", docs_path);
        return -1;
    }
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    docs = malloc((size_t)len + 1);
    if (!docs || fread(docs, 1, (size_t)len, f) != (size_t)len) {
        fclose(f);
        return -1;
    }
    fclose(f);
    docs[len] = 0;
    docs_len = (size_t)len;
    extract_code();
    ntables = sl_op_opt_tables(tables, 64);
    nops = ntables;
    if (ntables < 64) ntables += sl_source_opt_tables(tables + ntables, 64 - ntables);
    for (const sl_opt_table *t = sl_sink_opt_tables(); t->name && ntables < 64; t++)
        tables[ntables++] = *t;
    for (const sl_opt_table *t = sl_alert_opt_tables(); t->name && ntables < 64; t++)
        tables[ntables++] = *t;
    if (ntables < 64) ntables += sl_notify_opt_tables(tables + ntables, 64 - ntables);
    return ntables > 64 ? -1 : 0;
}

static int teardown(void **state) {
    (void)state;
    free(docs);
    free(code);
    return 0;
}

static void test_every_table_listed(void **state) {
    (void)state;
    /* every step with options, and the window */
    int steps = 0;
    for (const sl_op_def *const *d = sl_op_all(); *d; d++)
        if ((*d)->opts) steps++;
    assert_int_equal(nops, steps + 1);
    /* the options every source takes, and every kind's */
    int kinds = 0;
    for (const sl_source_def *const *d = sl_source_all(); *d; d++)
        kinds++;
    int sources = 0;
    for (int i = 0; i < ntables; i++)
        sources += !strcmp(tables[i].kind, "source");
    assert_int_equal(sources, 1 + kinds);
    for (int i = 0; i < ntables; i++) {
        assert_non_null(tables[i].opts);
        if (!strcmp(tables[i].kind, "step"))
            assert_ptr_equal(sl_op_find(tables[i].name)->opts, tables[i].opts);
        if (!strcmp(tables[i].kind, "source") && strcmp(tables[i].name, "sources"))
            assert_ptr_equal(sl_source_find(tables[i].name)->opts, tables[i].opts);
    }
}

static void test_docs_name_every_option(void **state) {
    (void)state;
    char report[4096] = "";
    for (int i = 0; i < ntables; i++) {
        const sl_opt_table *t = &tables[i];
        size_t from, to;
        size_t len = strlen(report);
        if (!find_section(heading_of(t), &from, &to)) {
            snprintf(report + len, sizeof report - len, "\n  %s '%s': no section '%s'", t->kind,
                     t->name, heading_of(t));
            continue;
        }
        char miss[2048] = "";
        missing(t->opts, "", from, to, miss, sizeof miss, 0);
        if (miss[0])
            snprintf(report + len, sizeof report - len, "\n  %s '%s' (section '%s') lacks:%s",
                     t->kind, t->name, heading_of(t), miss);
    }
    if (report[0]) fail_msg("%s does not name every option in code:%s", docs_path, report);
}

static void test_defaults_parse(void **state) {
    (void)state;
    for (int i = 0; i < ntables; i++) {
        sl_error e = {0};
        if (sl_opt_check_defaults(tables[i].opts, tables[i].name, &e))
            fail_msg("%s '%s': %s", tables[i].kind, tables[i].name, e.msg);
    }
}

/* The checker itself, on a small document. */
static void test_checker(void **state) {
    (void)state;
    char *save_docs = docs, *save_code = code;
    size_t save_len = docs_len;
    docs = "# Top\n"
           "## Steps\n"
           "### demo — a step\n"
           "```yaml\n"
           "- demo: {alpha: 1, nested: {inner: 2}}\n"
           "```\n"
           "Prose naming beta is not enough; `gamma` in backticks is.\n"
           "### other\n"
           "`beta`\n";
    docs_len = strlen(docs);
    extract_code();
    static const sl_opt inner[] = {{"inner", SL_OPT_INT, false, NULL, NULL, ""},
                                   {"outer_only", SL_OPT_INT, false, NULL, NULL, ""},
                                   {0}};
    static const sl_opt opts[] = {{"alpha", SL_OPT_INT, false, NULL, NULL, ""},
                                  {"beta", SL_OPT_INT, false, NULL, NULL, ""},
                                  {"gamma", SL_OPT_INT, false, NULL, NULL, ""},
                                  {"nested", SL_OPT_MAP, false, NULL, NULL, "", SL_OPT_SUB(inner)},
                                  {"alp", SL_OPT_INT, false, NULL, NULL, ""},
                                  {0}};
    size_t from, to;
    assert_true(find_section("demo", &from, &to));
    assert_false(find_section("dem", &from, &to));
    assert_true(find_section("demo", &from, &to));
    char miss[256] = "";
    missing(opts, "", from, to, miss, sizeof miss, 0);
    assert_string_equal(miss, " beta nested.outer_only alp");
    free(code);
    docs = save_docs;
    code = save_code;
    docs_len = save_len;
}

int main(int argc, char **argv) {
    if (argc > 1)
        snprintf(docs_path, sizeof docs_path, "%s", argv[1]);
    else {
        /* this file is <repo>/tests/unit/engine/test_opt_docs.c */
        snprintf(docs_path, sizeof docs_path, "%s", __FILE__);
        char *p = strstr(docs_path, "tests/unit/");
        if (p)
            snprintf(p, sizeof docs_path - (size_t)(p - docs_path), "docs/pipeline-spec.md");
        else
            snprintf(docs_path, sizeof docs_path, "docs/pipeline-spec.md");
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_checker),
        cmocka_unit_test(test_every_table_listed),
        cmocka_unit_test(test_defaults_parse),
        cmocka_unit_test(test_docs_name_every_option),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
