/* test_spec.c - unit tests for src/spec: the YAML tree and its positions,
 * ${VAR} substitution, every error with its exact file:line:col, the typed
 * readers, the option checker and its help text. YAML is written inline;
 * line numbers in expected messages are counted from the string's start. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h> /* after the headers it needs */

#include "core/error.h"
#include "core/timeutil.h"
#include "spec/spec.h"

static sl_spec *load_v(const char *yaml, const sl_vars *v, sl_error *err) {
    return sl_spec_load_mem("p.yaml", yaml, strlen(yaml), v, err);
}

static sl_spec *load_ok(const char *yaml, const sl_vars *v) {
    sl_error e = {0};
    sl_spec *s = load_v(yaml, v, &e);
    if (!s) fail_msg("unexpected load error: %s", e.msg);
    return s;
}

static void load_fails(const char *yaml, const sl_vars *v, const char *msg) {
    sl_error e = {0};
    sl_spec *s = load_v(yaml, v, &e);
    if (s) {
        sl_spec_free(s);
        fail_msg("expected '%s' but the load succeeded", msg);
    }
    assert_int_equal(e.code, SL_EINVAL);
    assert_string_equal(e.msg, msg);
}

static void assert_at(const sl_node *n, int line, int col) {
    assert_non_null(n);
    assert_int_equal(n->line, line);
    assert_int_equal(n->col, col);
}

/* ---- the tree ---- */

static void test_nested_block(void **state) {
    (void)state;
    const char *y = "a: 1\n"         /* 1 */
                    "b:\n"           /* 2 */
                    "  c: x\n"       /* 3 */
                    "  d:\n"         /* 4 */
                    "    - p\n"      /* 5 */
                    "    - q: r\n"   /* 6 */
                    "      s: [t]\n" /* 7 */
                    "e: last\n";     /* 8 */
    sl_spec *s = load_ok(y, NULL);
    const sl_node *r = sl_spec_root(s);
    assert_string_equal(sl_spec_name(s), "p.yaml");
    assert_int_equal(r->kind, SL_NODE_MAP);
    assert_int_equal(r->n, 3);
    assert_string_equal(r->map[0].key, "a");
    assert_string_equal(r->map[1].key, "b");
    assert_string_equal(r->map[2].key, "e");
    assert_int_equal(r->map[2].line, 8);
    assert_int_equal(r->map[2].col, 1);
    assert_string_equal(r->file, "p.yaml");
    assert_at(r, 1, 1);
    const sl_node *a = sl_node_get(r, "a");
    assert_at(a, 1, 4);
    assert_int_equal(a->kind, SL_NODE_SCALAR);
    assert_string_equal(a->str, "1");
    assert_false(a->quoted);
    const sl_node *b = sl_node_get(r, "b");
    assert_int_equal(b->kind, SL_NODE_MAP);
    assert_at(b, 3, 3);
    assert_null(b->str);
    const sl_map_entry *de = sl_node_entry(b, "d");
    assert_int_equal(de->line, 4);
    assert_int_equal(de->col, 3);
    const sl_node *d = de->val;
    assert_int_equal(d->kind, SL_NODE_SEQ);
    assert_int_equal(d->n, 2);
    assert_at(d, 5, 5);
    assert_string_equal(d->seq[0]->str, "p");
    assert_at(d->seq[0], 5, 7);
    const sl_node *q = d->seq[1];
    assert_int_equal(q->kind, SL_NODE_MAP);
    assert_at(q, 6, 7);
    assert_string_equal(sl_node_get(q, "q")->str, "r");
    assert_at(sl_node_get(q, "q"), 6, 10);
    const sl_node *t = sl_node_get(q, "s");
    assert_int_equal(t->kind, SL_NODE_SEQ);
    assert_at(t, 7, 10);
    assert_at(t->seq[0], 7, 11);
    assert_null(sl_node_get(r, "zz"));
    assert_null(sl_node_get(a, "x")); /* not a map */
    assert_null(sl_node_get(NULL, "x"));
    sl_spec_free(s);
}

static void test_flow_style(void **state) {
    (void)state;
    const char *y = "src: {path: /in, format: json}\n"
                    "cols: [a, 'b', \"c d\"]\n"
                    "empty_map: {}\n"
                    "empty_seq: []\n";
    sl_spec *s = load_ok(y, NULL);
    const sl_node *r = sl_spec_root(s);
    const sl_node *src = sl_node_get(r, "src");
    assert_int_equal(src->kind, SL_NODE_MAP);
    assert_at(src, 1, 6);
    assert_int_equal(src->n, 2);
    assert_int_equal(src->map[1].line, 1);
    assert_int_equal(src->map[1].col, 18);
    assert_string_equal(sl_node_get(src, "format")->str, "json");
    assert_at(sl_node_get(src, "format"), 1, 26);
    const sl_node *cols = sl_node_get(r, "cols");
    assert_int_equal(cols->kind, SL_NODE_SEQ);
    assert_int_equal(cols->n, 3);
    assert_at(cols, 2, 7);
    assert_string_equal(cols->seq[0]->str, "a");
    assert_false(cols->seq[0]->quoted);
    assert_true(cols->seq[1]->quoted);
    assert_string_equal(cols->seq[2]->str, "c d");
    assert_at(cols->seq[2], 2, 16);
    assert_int_equal(sl_node_get(r, "empty_map")->kind, SL_NODE_MAP);
    assert_int_equal(sl_node_get(r, "empty_map")->n, 0);
    assert_int_equal(sl_node_get(r, "empty_seq")->kind, SL_NODE_SEQ);
    assert_int_equal(sl_node_get(r, "empty_seq")->n, 0);
    /* a whole document in flow style */
    sl_spec *s2 = load_ok("{a: 1, b: [x, {c: 2}]}", NULL);
    const sl_node *r2 = sl_spec_root(s2);
    assert_at(r2, 1, 1);
    assert_int_equal(r2->map[0].col, 2);
    assert_string_equal(sl_node_get(sl_node_get(r2, "b")->seq[1], "c")->str, "2");
    sl_spec_free(s2);
    sl_spec_free(s);
}

static void test_block_scalars(void **state) {
    (void)state;
    const char *y = "sql: |\n"
                    "  SELECT a,\n"
                    "         b\n"
                    "  FROM t\n"
                    "note: >\n"
                    "  one\n"
                    "  two\n"
                    "\n"
                    "  three\n"
                    "strip: |-\n"
                    "  x\n"
                    "after: 1\n";
    sl_spec *s = load_ok(y, NULL);
    const sl_node *r = sl_spec_root(s);
    const sl_node *sql = sl_node_get(r, "sql");
    assert_string_equal(sql->str, "SELECT a,\n       b\nFROM t\n");
    assert_false(sql->quoted);
    assert_at(sql, 1, 6);
    assert_string_equal(sl_node_get(r, "note")->str, "one two\nthree\n");
    assert_at(sl_node_get(r, "note"), 5, 7);
    assert_string_equal(sl_node_get(r, "strip")->str, "x");
    assert_int_equal(sl_node_entry(r, "after")->line, 12);
    sl_spec_free(s);
}

static void test_quoted_plain_null(void **state) {
    (void)state;
    const char *y = "a: 8080\n"
                    "b: '8080'\n"
                    "c: \"tab\\there\"\n"
                    "d: !!str 42\n"
                    "e:\n"
                    "f: ~\n"
                    "g: ''\n"
                    "h: 'it''s'\n"
                    "i: !!int 7\n";
    sl_spec *s = load_ok(y, NULL);
    const sl_node *r = sl_spec_root(s);
    assert_false(sl_node_get(r, "a")->quoted);
    assert_true(sl_node_get(r, "b")->quoted);
    assert_string_equal(sl_node_get(r, "b")->str, "8080");
    assert_true(sl_node_get(r, "c")->quoted);
    assert_string_equal(sl_node_get(r, "c")->str, "tab\there");
    assert_true(sl_node_get(r, "d")->quoted);
    assert_string_equal(sl_node_get(r, "d")->str, "42");
    assert_true(sl_node_is_null(sl_node_get(r, "e")));
    assert_string_equal(sl_node_get(r, "e")->str, "");
    assert_true(sl_node_is_null(sl_node_get(r, "f")));
    assert_false(sl_node_is_null(sl_node_get(r, "g"))); /* '' is an empty string, not null */
    assert_false(sl_node_is_null(sl_node_get(r, "a")));
    assert_string_equal(sl_node_get(r, "h")->str, "it's");
    assert_false(sl_node_get(r, "i")->quoted);
    sl_spec_free(s);
}

static void test_empty_and_comment_files(void **state) {
    (void)state;
    const char *inputs[] = {"", "# only a comment\n\n", "---\n", "\n\n"};
    for (size_t i = 0; i < sizeof inputs / sizeof *inputs; i++) {
        sl_spec *s = load_ok(inputs[i], NULL);
        const sl_node *r = sl_spec_root(s);
        assert_int_equal(r->kind, SL_NODE_MAP);
        assert_int_equal(r->n, 0);
        assert_at(r, 1, 1);
        static const sl_opt opts[] = {{.name = "tables", .type = SL_OPT_MAP, .required = true},
                                      {0}};
        sl_error e = {0};
        assert_int_equal(sl_spec_check(r, opts, "pipeline", &e), SL_EINVAL);
        assert_string_equal(e.msg, "p.yaml:1:1: pipeline: missing key 'tables'");
        sl_spec_free(s);
    }
    /* NULL buffer with length 0 is an empty file too */
    sl_error e = {0};
    sl_spec *s = sl_spec_load_mem("x.yaml", NULL, 0, NULL, &e);
    assert_non_null(s);
    assert_int_equal(sl_spec_root(s)->n, 0);
    sl_spec_free(s);
}

static void test_sequence_instead_of_map(void **state) {
    (void)state;
    sl_spec *s = load_ok("- a\n- b\n", NULL);
    const sl_node *r = sl_spec_root(s);
    assert_int_equal(r->kind, SL_NODE_SEQ);
    static const sl_opt opts[] = {{.name = "tables", .type = SL_OPT_MAP}, {0}};
    sl_error e = {0};
    assert_int_equal(sl_spec_check(r, opts, "pipeline", &e), SL_EINVAL);
    assert_string_equal(e.msg, "p.yaml:1:1: pipeline must be a map, got a sequence");
    sl_spec_free(s);
    s = load_ok("\n  just text\n", NULL);
    assert_int_equal(sl_spec_check(sl_spec_root(s), opts, "pipeline", &e), SL_EINVAL);
    assert_string_equal(e.msg, "p.yaml:2:3: pipeline must be a map, got a scalar");
    sl_spec_free(s);
}

static void test_load_file(void **state) {
    (void)state;
    char path[] = "/tmp/test_spec_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    const char *y = "name: cams\nport: ${TEST_SPEC_PORT:9000}\n";
    assert_int_equal(write(fd, y, strlen(y)), (ssize_t)strlen(y));
    close(fd);
    sl_error e = {0};
    sl_spec *s = sl_spec_load(path, NULL, &e);
    assert_non_null(s);
    assert_string_equal(sl_node_get(sl_spec_root(s), "port")->str, "9000");
    assert_string_equal(sl_spec_root(s)->file, path);
    sl_spec_free(s);
    unlink(path);
    s = sl_spec_load(path, NULL, &e);
    assert_null(s);
    assert_int_equal(e.code, SL_EIO);
    assert_non_null(strstr(e.msg, "cannot open"));
    assert_non_null(strstr(e.msg, path));
}

/* ---- variables ---- */

static void test_vars_set(void **state) {
    (void)state;
    sl_vars *v = sl_vars_new();
    assert_int_equal(sl_vars_set(v, "a=1"), 0);
    assert_int_equal(sl_vars_set(v, "b="), 0);
    assert_int_equal(sl_vars_set(v, "url=http://x/?q=1"), 0);
    assert_int_equal(sl_vars_set(v, "a=2"), 0); /* last one wins */
    assert_int_equal(sl_vars_set(v, "noequals"), SL_EINVAL);
    assert_int_equal(sl_vars_set(v, "=x"), SL_EINVAL);
    assert_int_equal(sl_vars_set(v, "1a=x"), SL_EINVAL);
    assert_int_equal(sl_vars_set(v, "a-b=x"), SL_EINVAL);
    assert_int_equal(sl_vars_set(v, "a b=x"), SL_EINVAL);
    assert_int_equal(sl_vars_set(v, NULL), SL_EINVAL);
    assert_string_equal(sl_vars_get(v, "a"), "2");
    assert_string_equal(sl_vars_get(v, "b"), "");
    assert_string_equal(sl_vars_get(v, "url"), "http://x/?q=1");
    assert_null(sl_vars_get(v, "c"));
    assert_null(sl_vars_get(NULL, "c"));
    sl_vars_free(v);
    sl_vars_free(NULL);
}

static void test_vars_precedence(void **state) {
    (void)state;
    setenv("SLT_BOTH", "from-env", 1);
    setenv("SLT_ENV", "env-only", 1);
    setenv("SLT_EMPTY", "", 1);
    unsetenv("SLT_NONE");
    sl_vars *v = sl_vars_new();
    assert_int_equal(sl_vars_set(v, "SLT_BOTH=from-set"), 0);
    const char *y = "a: ${SLT_BOTH}\n"
                    "b: ${SLT_BOTH:dflt}\n"
                    "c: ${SLT_ENV:dflt}\n"
                    "d: ${SLT_NONE:dflt}\n"
                    "e: ${SLT_NONE:}\n"
                    "f: ${SLT_EMPTY:dflt}\n"
                    "g: \"${SLT_ENV}\"\n";
    sl_spec *s = load_ok(y, v);
    const sl_node *r = sl_spec_root(s);
    assert_string_equal(sl_node_get(r, "a")->str, "from-set");
    assert_string_equal(sl_node_get(r, "b")->str, "from-set");
    assert_string_equal(sl_node_get(r, "c")->str, "env-only");
    assert_string_equal(sl_node_get(r, "d")->str, "dflt");
    assert_string_equal(sl_node_get(r, "e")->str, "");
    assert_string_equal(sl_node_get(r, "f")->str, ""); /* set-but-empty is set */
    assert_string_equal(sl_node_get(r, "g")->str, "env-only");
    assert_true(sl_node_get(r, "g")->quoted);
    sl_spec_free(s);
    /* without the --set, the environment wins over the default */
    s = load_ok(y, NULL);
    assert_string_equal(sl_node_get(sl_spec_root(s), "b")->str, "from-env");
    sl_spec_free(s);
    sl_vars_free(v);
}

static void test_vars_several_escape_nested(void **state) {
    (void)state;
    sl_vars *v = sl_vars_new();
    sl_vars_set(v, "HOST=db");
    sl_vars_set(v, "PORT=5432");
    sl_vars_set(v, "LOOP=${HOST}"); /* values are not scanned again */
    unsetenv("SLT_NONE");
    unsetenv("SLT_NONE2");
    const char *y = "url: postgres://${HOST}:${PORT}/x?${SLT_NONE:a=1}&z\n"
                    "lit: cost is $${HOST} and $5 and $$ and $\n"
                    "mix: $${A}${HOST}$${B:c}\n"
                    "nest: ${SLT_NONE:${SLT_NONE2:${HOST}-x}}\n"
                    "nestesc: ${SLT_NONE:$${x}}\n"
                    "loop: ${LOOP}\n"
                    "seq: [\"${HOST}\", '${PORT}']\n"
                    "block: |\n"
                    "  host=${HOST}\n"
                    "  port=${PORT}\n"
                    "${HOST}: keys are literal\n";
    sl_spec *s = load_ok(y, v);
    const sl_node *r = sl_spec_root(s);
    assert_string_equal(sl_node_get(r, "url")->str, "postgres://db:5432/x?a=1&z");
    assert_string_equal(sl_node_get(r, "lit")->str, "cost is ${HOST} and $5 and $$ and $");
    assert_string_equal(sl_node_get(r, "mix")->str, "${A}db${B:c}");
    assert_string_equal(sl_node_get(r, "nest")->str, "db-x");
    assert_string_equal(sl_node_get(r, "nestesc")->str, "${x}");
    assert_string_equal(sl_node_get(r, "loop")->str, "${HOST}");
    assert_string_equal(sl_node_get(r, "seq")->seq[0]->str, "db");
    assert_string_equal(sl_node_get(r, "seq")->seq[1]->str, "5432");
    assert_string_equal(sl_node_get(r, "block")->str, "host=db\nport=5432\n");
    assert_non_null(sl_node_get(r, "${HOST}"));
    sl_spec_free(s);
    sl_vars_free(v);
}

static void test_vars_errors(void **state) {
    (void)state;
    unsetenv("SLT_MISSING");
    load_fails("a: 1\n"
               "b:\n"
               "  c: x-${SLT_MISSING}-y\n",
               NULL, "p.yaml:3:6: variable 'SLT_MISSING' is not set");
    load_fails("a: [1, \"${SLT_MISSING}\"]\n", NULL,
               "p.yaml:1:8: variable 'SLT_MISSING' is not set");
    load_fails("a: ${SLT_MISSING:${SLT_MISSING}}\n", NULL,
               "p.yaml:1:4: variable 'SLT_MISSING' is not set");
    load_fails("a: x ${HOST\n", NULL, "p.yaml:1:4: unterminated '${' in '${HOST'");
    load_fails("a: ${HOST:abc\n", NULL, "p.yaml:1:4: unterminated '${' in '${HOST:abc'");
    load_fails("a: '${}'\n", NULL,
               "p.yaml:1:4: bad variable reference '${}' (a name is letters, digits and '_', not "
               "starting with a digit)");
    load_fails("a: '${1X}'\n", NULL,
               "p.yaml:1:4: bad variable reference '${1X}' (a name is letters, digits and '_', not "
               "starting with a digit)");
    load_fails("a: '${A-B} z'\n", NULL,
               "p.yaml:1:4: bad variable reference '${A-B}' (a name is letters, digits and '_', "
               "not starting with a digit)");
    load_fails("a: ${A:${B:${C:${D:${E:${F:${G:${H:${I:${J:x}}}}}}}}}}\n", NULL,
               "p.yaml:1:4: variable defaults are nested more than 8 deep");
}

/* ---- YAML and structure errors ---- */

static void test_syntax_errors(void **state) {
    (void)state;
    load_fails("a: [1, 2\n", NULL,
               "p.yaml:2:1: did not find expected ',' or ']' (while parsing a flow sequence at "
               "line 1, column 4)");
    load_fails("a: b: c\n", NULL, "p.yaml:1:5: mapping values are not allowed in this context");
    load_fails("a:\n"
               "  - x\n"
               " - y\n",
               NULL,
               "p.yaml:3:2: did not find expected key (while parsing a block mapping at line 1, "
               "column 1)");
    load_fails("a: 1\nb: \"open\n", NULL,
               "p.yaml:3:1: found unexpected end of stream (while scanning a quoted scalar at line "
               "2, column 4)");
    load_fails("a: 1\nb: \xff\n", NULL, "p.yaml:2:4: invalid leading UTF-8 octet (byte 0xff)");
    load_fails("ok: é\nb: \x01\n", NULL,
               "p.yaml:2:4: control characters are not allowed (byte 0x01)");
}

static void test_structure_errors(void **state) {
    (void)state;
    load_fails("a: 1\n"
               "b: 2\n"
               "a: 3\n",
               NULL, "p.yaml:3:1: duplicate key 'a' (first at line 1, column 1)");
    load_fails("t:\n  {x: 1, y: 2, x: 3}\n", NULL,
               "p.yaml:2:16: duplicate key 'x' (first at line 2, column 4)");
    load_fails("x: &A 1\ny: *A\n", NULL, "p.yaml:1:4: anchors (&A) and aliases are not supported");
    load_fails("x: 1\ny: *A\n", NULL, "p.yaml:2:4: aliases (*A) and anchors are not supported");
    load_fails("a: 1\n---\nb: 2\n", NULL, "p.yaml:2:1: only one YAML document per file is allowed");
    load_fails("? [a]\n: 1\n", NULL, "p.yaml:1:3: a map key must be a plain value, not a sequence");
    load_fails("{{a: 1}: 2}\n", NULL, "p.yaml:1:2: a map key must be a plain value, not a map");
    load_fails("a: !mytag 1\n", NULL, "p.yaml:1:4: tag '!mytag' is not supported");
    load_fails("a: \"x\\0y\"\n", NULL, "p.yaml:1:4: a NUL character in a value is not allowed");
    /* duplicate in a map large enough to use the hash */
    char big[4096];
    size_t len = 0;
    for (int i = 0; i < 40; i++)
        len += (size_t)snprintf(big + len, sizeof big - len, "k%d: %d\n", i, i);
    snprintf(big + len, sizeof big - len, "k7: again\n");
    load_fails(big, NULL, "p.yaml:41:1: duplicate key 'k7' (first at line 8, column 1)");
    big[len] = 0; /* without the duplicate it loads, in order */
    sl_spec *s = load_ok(big, NULL);
    assert_int_equal(sl_spec_root(s)->n, 40);
    assert_string_equal(sl_spec_root(s)->map[39].key, "k39");
    sl_spec_free(s);
    /* nesting */
    char deep[256];
    memset(deep, '[', SL_SPEC_MAX_DEPTH + 1);
    deep[SL_SPEC_MAX_DEPTH + 1] = 0;
    load_fails(deep, NULL, "p.yaml:1:65: nesting is deeper than 64 levels");
    memset(deep, 0, sizeof deep);
    memset(deep, '[', SL_SPEC_MAX_DEPTH);
    memset(deep + SL_SPEC_MAX_DEPTH, ']', SL_SPEC_MAX_DEPTH);
    s = load_ok(deep, NULL);
    assert_int_equal(sl_spec_root(s)->kind, SL_NODE_SEQ);
    sl_spec_free(s);
}

static void test_positions_unicode_crlf_bom(void **state) {
    (void)state;
    /* columns count characters, not bytes */
    sl_spec *s = load_ok("{\xc3\xa9t\xc3\xa9: 1, b: 2}", NULL);
    assert_int_equal(sl_spec_root(s)->map[1].col, 10);
    assert_at(sl_node_get(sl_spec_root(s), "b"), 1, 13);
    sl_spec_free(s);
    load_fails("a: 1\r\nb: x\r\nb: 2\r\n", NULL,
               "p.yaml:3:1: duplicate key 'b' (first at line 2, column 1)");
    load_fails("\xef\xbb\xbf"
               "a: 1\nb: ${SLT_MISSING}\n",
               NULL, "p.yaml:2:4: variable 'SLT_MISSING' is not set");
    load_fails("a: 1\nb: \"\xc3\xa9\xff\"", NULL,
               "p.yaml:2:6: invalid leading UTF-8 octet (byte 0xff)");
}

/* ---- typed readers ---- */

static const sl_node *val(const sl_spec *s, const char *key) {
    const sl_node *n = sl_node_get(sl_spec_root(s), key);
    assert_non_null(n);
    return n;
}

static void test_readers(void **state) {
    (void)state;
    const char *y = "i: -42\n"                     /* 1 */
                    "ibad: 10s\n"                  /* 2 */
                    "ibig: 99999999999999999999\n" /* 3 */
                    "d: 2.5e3\n"                   /* 4 */
                    "dbad: 1.2.3\n"                /* 5 */
                    "b1: yes\n"                    /* 6 */
                    "b2: Off\n"                    /* 7 */
                    "bbad: maybe\n"                /* 8 */
                    "t: 1h30m\n"                   /* 9 */
                    "tbad: 5 minutes\n"            /* 10 */
                    "tbig: 99999999999999d\n"      /* 11 */
                    "m: {x: 1}\n"                  /* 12 */
                    "q: '8080'\n"                  /* 13 */
                    "l: [a, b]\n";                 /* 14 */
    sl_spec *s = load_ok(y, NULL);
    sl_error e = {0};
    int64_t i = 0;
    double d = 0;
    bool b = false;
    const char *str = NULL;
    assert_int_equal(sl_node_int(val(s, "i"), "n", &i, &e), 0);
    assert_int_equal(i, -42);
    assert_int_equal(sl_node_int(val(s, "q"), "port", &i, &e), 0);
    assert_int_equal(i, 8080);
    assert_int_equal(sl_node_int(val(s, "ibad"), "batch_size", &i, &e), SL_EINVAL);
    assert_string_equal(e.msg, "p.yaml:2:7: batch_size must be an integer, got '10s'");
    assert_int_equal(sl_node_int(val(s, "ibig"), "n", &i, &e), SL_EINVAL);
    assert_string_equal(e.msg, "p.yaml:3:7: n is out of range, got '99999999999999999999'");
    assert_int_equal(sl_node_int(val(s, "m"), "n", &i, &e), SL_EINVAL);
    assert_string_equal(e.msg, "p.yaml:12:4: n must be an integer, got a map");
    assert_int_equal(sl_node_double(val(s, "d"), "z", &d, &e), 0);
    assert_true(d == 2500.0);
    assert_int_equal(sl_node_double(val(s, "i"), "z", &d, &e), 0);
    assert_true(d == -42.0);
    assert_int_equal(sl_node_double(val(s, "dbad"), "threshold", &d, &e), SL_EINVAL);
    assert_string_equal(e.msg, "p.yaml:5:7: threshold must be a number, got '1.2.3'");
    assert_int_equal(sl_node_bool(val(s, "b1"), "f", &b, &e), 0);
    assert_true(b);
    assert_int_equal(sl_node_bool(val(s, "b2"), "f", &b, &e), 0);
    assert_false(b);
    assert_int_equal(sl_node_bool(val(s, "bbad"), "tls", &b, &e), SL_EINVAL);
    assert_string_equal(
        e.msg, "p.yaml:8:7: tls must be a boolean (true/false, yes/no, on/off), got 'maybe'");
    assert_int_equal(sl_node_duration(val(s, "t"), "w", &i, &e), 0);
    assert_int_equal(i, 5400 * SL_US_PER_SEC);
    assert_int_equal(sl_node_duration(val(s, "tbad"), "window", &i, &e), SL_EINVAL);
    assert_string_equal(e.msg, "p.yaml:10:7: window must be a duration (like 250ms, 30s, 5m, "
                               "1h30m, 1d), got '5 minutes'");
    assert_int_equal(sl_node_duration(val(s, "tbig"), "window", &i, &e), SL_EINVAL);
    assert_string_equal(e.msg, "p.yaml:11:7: window is out of range, got '99999999999999d'");
    assert_int_equal(sl_node_string(val(s, "q"), "x", &str, &e), 0);
    assert_string_equal(str, "8080");
    assert_int_equal(sl_node_string(val(s, "l"), "name", &str, &e), SL_EINVAL);
    assert_string_equal(e.msg, "p.yaml:14:4: name must be a string, got a sequence");
    /* lists */
    assert_int_equal(sl_node_list_len(val(s, "l")), 2);
    assert_string_equal(sl_node_list_at(val(s, "l"), 1)->str, "b");
    assert_int_equal(sl_node_list_len(val(s, "q")), 1);
    assert_ptr_equal(sl_node_list_at(val(s, "q"), 0), val(s, "q"));
    assert_null(sl_node_list_at(val(s, "q"), 1));
    assert_int_equal(sl_node_list_len(val(s, "m")), 0);
    /* sl_node_error */
    assert_int_equal(sl_node_error(&e, val(s, "t"), "window %s is too long for %d", "1h30m", 5),
                     SL_EINVAL);
    assert_string_equal(e.msg, "p.yaml:9:4: window 1h30m is too long for 5");
    assert_int_equal(sl_node_error(&e, NULL, "no place"), SL_EINVAL);
    assert_string_equal(e.msg, "no place");
    assert_int_equal(sl_node_int(val(s, "i"), "n", &i, NULL), 0); /* err is optional */
    assert_int_equal(sl_node_int(val(s, "ibad"), "n", &i, NULL), SL_EINVAL);
    sl_spec_free(s);
}

/* ---- the checker ---- */

static const sl_opt src_opts[] = {
    {"path", SL_OPT_STRING, true, NULL, NULL, "folder to watch"},
    {"format", SL_OPT_ENUM, false, "json|csv|syslog", "json", "how records are encoded"},
    {"window", SL_OPT_DURATION, false, NULL, "1m", "size of a window"},
    {"batch_size", SL_OPT_INT, false, NULL, "1024", "rows per batch"},
    {"threshold", SL_OPT_DOUBLE, false, NULL, NULL, "z-score above which to alert"},
    {"recursive", SL_OPT_BOOL, false, NULL, "false", "watch sub-folders"},
    {"on_late", SL_OPT_ENUM, false, "warn|drop|quarantine|fail", "drop", "late records"},
    {"where", SL_OPT_EXPR, false, NULL, NULL, "filter"},
    {"keys", SL_OPT_LIST, false, NULL, NULL, "key columns"},
    {"options", SL_OPT_MAP, false, NULL, NULL, "extra options"},
    {"steps", SL_OPT_SEQ, false, NULL, NULL, "steps"},
    {"extra", SL_OPT_ANY, false, NULL, NULL, "anything"},
    {0},
};

static void check_fails(const char *yaml, const char *msg) {
    sl_spec *s = load_ok(yaml, NULL);
    sl_error e = {0};
    int rc = sl_spec_check(sl_spec_root(s), src_opts, "source 'detections'", &e);
    sl_spec_free(s);
    assert_int_equal(rc, SL_EINVAL);
    assert_string_equal(e.msg, msg);
}

static void test_check_ok(void **state) {
    (void)state;
    const char *y = "path: /data/in\n"
                    "format: csv\n"
                    "window: 5m\n"
                    "batch_size: 4096\n"
                    "threshold: 3.5\n"
                    "recursive: yes\n"
                    "on_late: quarantine\n"
                    "where: status != 'ok' and lag > 2\n"
                    "keys: [camera_id, ts]\n"
                    "options: {a: 1}\n"
                    "steps:\n"
                    "  - derive: {x: 1}\n"
                    "extra: [1, {b: 2}]\n";
    sl_spec *s = load_ok(y, NULL);
    sl_error e = {0};
    assert_int_equal(sl_spec_check(sl_spec_root(s), src_opts, "source 'detections'", &e), 0);
    sl_spec_free(s);
    s = load_ok("path: x\nkeys: single\n", NULL);
    assert_int_equal(sl_spec_check(sl_spec_root(s), src_opts, NULL, &e), 0);
    sl_spec_free(s);
    assert_ptr_equal(sl_opt_find(src_opts, "window"), &src_opts[2]);
    assert_null(sl_opt_find(src_opts, "wndow"));
}

static void test_check_errors(void **state) {
    (void)state;
    check_fails("path: /in\n"
                "wndow: 5m\n",
                "p.yaml:2:1: source 'detections': unknown key 'wndow' (did you mean 'window'?)");
    check_fails("path: /in\n"
                "opts:\n  a: 1\n",
                "p.yaml:2:1: source 'detections': unknown key 'opts' (did you mean 'options'?)");
    check_fails("path: /in\n"
                "  # comment\n"
                "fromat: json\n",
                "p.yaml:3:1: source 'detections': unknown key 'fromat' (did you mean 'format'?)");
    check_fails("{path: /in, zzzzzz: 1}",
                "p.yaml:1:13: source 'detections': unknown key 'zzzzzz' (valid keys: path, format, "
                "window, batch_size, threshold, recursive, on_late, where, keys, options, steps, "
                "extra)");
    check_fails("format: json\n"
                "window: 5m\n",
                "p.yaml:1:1: source 'detections': missing key 'path'");
    check_fails("path: /in\n"
                "batch_size: lots\n",
                "p.yaml:2:13: source 'detections': batch_size must be an integer, got 'lots'");
    check_fails("path: /in\n"
                "window: 5 min\n",
                "p.yaml:2:9: source 'detections': window must be a duration (like 250ms, 30s, 5m, "
                "1h30m, 1d), got '5 min'");
    check_fails("path: /in\n"
                "on_late: dorp\n",
                "p.yaml:2:10: source 'detections': on_late must be one of "
                "warn|drop|quarantine|fail, got 'dorp' (did you mean 'drop'?)");
    check_fails("path: /in\n"
                "on_late: explode\n",
                "p.yaml:2:10: source 'detections': on_late must be one of "
                "warn|drop|quarantine|fail, got 'explode'");
    check_fails("path: /in\n"
                "format: [json]\n",
                "p.yaml:2:9: source 'detections': format must be one of json|csv|syslog, got a "
                "sequence");
    check_fails("path:\n"
                "  - a\n",
                "p.yaml:2:3: source 'detections': path must be a string, got a sequence");
    check_fails(
        "path: /in\n"
        "recursive: 2\n",
        "p.yaml:2:12: source 'detections': recursive must be a boolean (true/false, yes/no, "
        "on/off), got '2'");
    check_fails("path: /in\n"
                "threshold: high\n",
                "p.yaml:2:12: source 'detections': threshold must be a number, got 'high'");
    check_fails("path: /in\n"
                "where: {a: 1}\n",
                "p.yaml:2:8: source 'detections': where must be an expression, got a map");
    check_fails("path: /in\n"
                "keys:\n"
                "  - a\n"
                "  - [b]\n",
                "p.yaml:4:5: source 'detections': keys: item 2 must be a value, got a sequence");
    check_fails("path: /in\n"
                "keys: {a: 1}\n",
                "p.yaml:2:7: source 'detections': keys must be a value or a list of values, got a "
                "map");
    check_fails("path: /in\n"
                "options: x\n",
                "p.yaml:2:10: source 'detections': options must be a map, got a scalar");
    check_fails("path: /in\n"
                "options:\n",
                "p.yaml:2:9: source 'detections': options must be a map, got nothing");
    check_fails("path: /in\n"
                "steps: {a: 1}\n",
                "p.yaml:2:8: source 'detections': steps must be a sequence, got a map");
    check_fails("path: /in\n"
                "fmt: csv\n",
                "p.yaml:2:1: source 'detections': unknown key 'fmt' (did you mean 'format'?)");
    check_fails("path: /in\n"
                "Window: 1m\n",
                "p.yaml:2:1: source 'detections': unknown key 'Window' (did you mean 'window'?)");
    check_fails("path: /in\n"
                "on_late: Drop\n",
                "p.yaml:2:10: source 'detections': on_late must be one of "
                "warn|drop|quarantine|fail, got 'Drop' (did you mean 'drop'?)");
    /* the first problem in file order wins, then missing keys */
    check_fails("wndow: 1\n"
                "batch_size: x\n",
                "p.yaml:1:1: source 'detections': unknown key 'wndow' (did you mean 'window'?)");
    /* no table entries at all */
    static const sl_opt none[] = {{0}};
    sl_spec *s = load_ok("a: 1\n", NULL);
    sl_error e = {0};
    assert_int_equal(sl_spec_check(sl_spec_root(s), none, "sink 'x'", &e), SL_EINVAL);
    assert_string_equal(e.msg, "p.yaml:1:1: sink 'x': unknown key 'a' (no keys are allowed here)");
    /* no name for the map */
    assert_int_equal(sl_spec_check(sl_spec_root(s), src_opts, NULL, &e), SL_EINVAL);
    assert_string_equal(e.msg, "p.yaml:1:1: unknown key 'a' (valid keys: path, format, window, "
                               "batch_size, threshold, recursive, on_late, where, keys, options, "
                               "steps, extra)");
    assert_int_equal(sl_spec_check(NULL, src_opts, "source 'x'", &e), SL_EINVAL);
    assert_string_equal(e.msg, "source 'x' is missing");
    sl_spec_free(s);
}

static void test_help(void **state) {
    (void)state;
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    assert_non_null(f);
    static const sl_opt opts[] = {
        {"path", SL_OPT_STRING, true, NULL, NULL, "folder to watch"},
        {"format", SL_OPT_ENUM, false, "json|csv", "json", "how records are encoded"},
        {"window", SL_OPT_DURATION, false, NULL, "1m", "size of a window"},
        {0},
    };
    sl_opt_print_help(f, opts);
    fclose(f);
    assert_string_equal(buf, "  path    string    folder to watch (required)\n"
                             "  format  json|csv  how records are encoded (default: json)\n"
                             "  window  duration  size of a window (default: 1m)\n");
    free(buf);
    assert_string_equal(sl_opt_type_name(SL_OPT_EXPR), "expression");
}

/* ---- binding ---- */

typedef struct {
    const char *path;
    int64_t batch;
    double threshold;
    bool recursive;
    int64_t window;
    int format;
    const sl_node *where, *keys, *options, *steps, *extra;
    const sl_node *path_at, *batch_at, *format_at;
} bind_conf;

static const sl_opt bind_opts[] = {
    {"path", SL_OPT_STRING, false, NULL, "/in", "folder", SL_OPT_BIND(bind_conf, path),
     SL_OPT_AT(bind_conf, path_at)},
    {"batch_size", SL_OPT_INT, false, NULL, "1024", "rows per batch", SL_OPT_BIND(bind_conf, batch),
     SL_OPT_RANGE(1, 65536), SL_OPT_AT(bind_conf, batch_at)},
    {"threshold", SL_OPT_DOUBLE, false, NULL, "0.5", "fraction", SL_OPT_BIND(bind_conf, threshold),
     SL_OPT_RANGE(0, 1)},
    {"recursive", SL_OPT_BOOL, false, NULL, "true", "sub-folders",
     SL_OPT_BIND(bind_conf, recursive)},
    {"window", SL_OPT_DURATION, false, NULL, "1m", "window", SL_OPT_BIND(bind_conf, window),
     SL_OPT_RANGE(1e6, 3600e6)},
    {"format", SL_OPT_ENUM, false, "json|csv|syslog", "csv", "encoding",
     SL_OPT_BIND(bind_conf, format), SL_OPT_AT(bind_conf, format_at)},
    {"where", SL_OPT_EXPR, false, NULL, NULL, "filter", SL_OPT_BIND(bind_conf, where)},
    {"keys", SL_OPT_LIST, false, NULL, NULL, "keys", SL_OPT_BIND(bind_conf, keys)},
    {"options", SL_OPT_MAP, false, NULL, NULL, "extra", SL_OPT_BIND(bind_conf, options)},
    {"steps", SL_OPT_SEQ, false, NULL, NULL, "steps", SL_OPT_BIND(bind_conf, steps)},
    {"extra", SL_OPT_ANY, false, NULL, NULL, "anything", SL_OPT_BIND(bind_conf, extra)},
    {"checked", SL_OPT_INT, false, NULL, "7", "check-only row, bounded", SL_OPT_MIN(0)},
    {0},
};

/* The spec of the last bind_yaml: what a conf points into lives until the next. */
static sl_spec *bound_spec;

static int bind_yaml(const char *yaml, bind_conf *c, sl_error *e) {
    sl_spec_free(bound_spec);
    bound_spec = load_ok(yaml, NULL);
    memset(c, 0x5a, sizeof *c); /* every bound field must be written */
    return sl_spec_bind(sl_spec_root(bound_spec), bind_opts, "source 'x'", c, e);
}

static void bind_fails(const char *yaml, const char *msg) {
    bind_conf c;
    sl_error e = {0};
    assert_int_equal(bind_yaml(yaml, &c, &e), SL_EINVAL);
    assert_string_equal(e.msg, msg);
}

static void test_bind_types(void **state) {
    (void)state;
    bind_conf c;
    sl_error e = {0};
    const char *y = "path: /data\n"
                    "batch_size: 4096\n"
                    "threshold: 0.25\n"
                    "recursive: no\n"
                    "window: 90s\n"
                    "format: syslog\n"
                    "where: a > 1\n"
                    "keys: [a, b]\n"
                    "options: {x: 1}\n"
                    "steps: [1]\n"
                    "extra: hello\n";
    assert_int_equal(bind_yaml(y, &c, &e), 0);
    assert_string_equal(c.path, "/data");
    assert_int_equal(c.batch, 4096);
    assert_true(c.threshold == 0.25);
    assert_false(c.recursive);
    assert_int_equal(c.window, 90 * 1000000LL);
    assert_int_equal(c.format, 2);
    assert_string_equal(c.where->str, "a > 1");
    assert_int_equal(sl_node_list_len(c.keys), 2);
    assert_int_equal(c.options->kind, SL_NODE_MAP);
    assert_int_equal(c.steps->kind, SL_NODE_SEQ);
    assert_string_equal(c.extra->str, "hello");
    /* where each was given */
    assert_at(c.path_at, 1, 7);
    assert_at(c.batch_at, 2, 13);
    assert_at(c.format_at, 6, 9);
    /* a single scalar is a list of one */
    assert_int_equal(bind_yaml("keys: a\n", &c, &e), 0);
    assert_int_equal(sl_node_list_len(c.keys), 1);
}

static void test_bind_defaults(void **state) {
    (void)state;
    bind_conf c;
    sl_error e = {0};
    assert_int_equal(bind_yaml("{}", &c, &e), 0);
    assert_string_equal(c.path, "/in");
    assert_int_equal(c.batch, 1024);
    assert_true(c.threshold == 0.5);
    assert_true(c.recursive);
    assert_int_equal(c.window, 60 * 1000000LL);
    assert_int_equal(c.format, 1);
    assert_null(c.where);
    assert_null(c.keys);
    assert_null(c.options);
    assert_null(c.steps);
    assert_null(c.extra);
    assert_null(c.path_at);
    assert_null(c.batch_at);
    assert_null(c.format_at);
    /* a NULL map (an absent nested map) binds the defaults too */
    memset(&c, 0x5a, sizeof c);
    assert_int_equal(sl_spec_bind(NULL, bind_opts, "x", &c, &e), 0);
    assert_int_equal(c.batch, 1024);
    assert_int_equal(c.format, 1);
    assert_null(c.batch_at);
    /* ... unless something is required */
    static const sl_opt req[] = {{"a", SL_OPT_INT, true, NULL, NULL, "a"}, {0}};
    assert_int_equal(sl_spec_bind(NULL, req, "anomaly rules", &c, &e), SL_EINVAL);
    assert_string_equal(e.msg, "anomaly rules is missing");
    /* no default: zero, and -1 for an enum */
    typedef struct {
        const char *s;
        int64_t i;
        double d;
        bool b;
        int en;
    } zc;
    static const sl_opt zopts[] = {
        {"s", SL_OPT_STRING, false, NULL, NULL, "", SL_OPT_BIND(zc, s)},
        {"i", SL_OPT_INT, false, NULL, NULL, "", SL_OPT_BIND(zc, i)},
        {"d", SL_OPT_DOUBLE, false, NULL, NULL, "", SL_OPT_BIND(zc, d)},
        {"b", SL_OPT_BOOL, false, NULL, NULL, "", SL_OPT_BIND(zc, b)},
        {"en", SL_OPT_ENUM, false, "a|b", NULL, "", SL_OPT_BIND(zc, en)},
        {0},
    };
    zc z;
    memset(&z, 0x5a, sizeof z);
    sl_spec *s = load_ok("{}", NULL);
    assert_int_equal(sl_spec_bind(sl_spec_root(s), zopts, NULL, &z, &e), 0);
    assert_null(z.s);
    assert_int_equal(z.i, 0);
    assert_true(z.d == 0);
    assert_false(z.b);
    assert_int_equal(z.en, -1);
    sl_spec_free(s);
}

static void test_bind_bounds(void **state) {
    (void)state;
    bind_fails("batch_size: 0\n", "p.yaml:1:13: source 'x': batch_size must be in 1..65536, got 0");
    bind_fails("batch_size: 65537\n",
               "p.yaml:1:13: source 'x': batch_size must be in 1..65536, got 65537");
    bind_fails("threshold: 1.5\n", "p.yaml:1:12: source 'x': threshold must be in [0, 1], got 1.5");
    bind_fails("threshold: -0.1\n",
               "p.yaml:1:12: source 'x': threshold must be in [0, 1], got -0.1");
    bind_fails("window: 500ms\n", "p.yaml:1:9: source 'x': window must be in 1s..1h, got 500ms");
    bind_fails("window: 1h1s\n", "p.yaml:1:9: source 'x': window must be in 1s..1h, got 1h1s");
    /* bounds are inclusive */
    bind_conf c;
    sl_error e = {0};
    assert_int_equal(bind_yaml("{batch_size: 1, threshold: 1, window: 1h}", &c, &e), 0);
    assert_int_equal(c.batch, 1);
    assert_true(c.threshold == 1);
    /* one-sided; a check-only row is bounded by sl_spec_check as well */
    bind_fails("checked: -1\n", "p.yaml:1:10: source 'x': checked must be >= 0, got -1");
    sl_spec *s = load_ok("checked: -1\n", NULL);
    assert_int_equal(sl_spec_check(sl_spec_root(s), bind_opts, "source 'x'", &e), SL_EINVAL);
    assert_string_equal(e.msg, "p.yaml:1:10: source 'x': checked must be >= 0, got -1");
    sl_spec_free(s);
    static const sl_opt mx[] = {{"n", SL_OPT_DOUBLE, false, NULL, NULL, "", SL_OPT_MAX(2.5)}, {0}};
    s = load_ok("n: 3\n", NULL);
    assert_int_equal(sl_spec_check(sl_spec_root(s), mx, "t", &e), SL_EINVAL);
    assert_string_equal(e.msg, "p.yaml:1:4: t: n must be <= 2.5, got 3");
    sl_spec_free(s);
    /* the type is checked before the bounds */
    bind_fails("batch_size: lots\n",
               "p.yaml:1:13: source 'x': batch_size must be an integer, got 'lots'");
}

static void test_bind_enum_and_keys(void **state) {
    (void)state;
    bind_conf c;
    sl_error e = {0};
    assert_int_equal(bind_yaml("format: json\n", &c, &e), 0);
    assert_int_equal(c.format, 0);
    bind_fails("format: jsno\n", "p.yaml:1:9: source 'x': format must be one of json|csv|syslog, "
                                 "got 'jsno' (did you mean 'json'?)");
    bind_fails("path: /a\nfromat: csv\n",
               "p.yaml:2:1: source 'x': unknown key 'fromat' (did you mean 'format'?)");
    bind_fails("- a\n", "p.yaml:1:1: source 'x' must be a map, got a sequence");
    /* file order: the first problem wins, a bound included */
    bind_fails("batch_size: 0\nfromat: csv\n",
               "p.yaml:1:13: source 'x': batch_size must be in 1..65536, got 0");
}

static void test_bind_bad_defaults(void **state) {
    (void)state;
    typedef struct {
        int64_t n;
        const sl_node *m;
        int en;
    } dc;
    sl_error e = {0};
    dc d;
    static const sl_opt bad_int[] = {{"n", SL_OPT_INT, false, NULL, "many", "", SL_OPT_BIND(dc, n)},
                                     {0}};
    assert_int_equal(sl_spec_bind(NULL, bad_int, "op", &d, &e), SL_EINVAL);
    assert_string_equal(e.msg, "op: option 'n': bad default 'many': n must be an integer, got "
                               "'many'");
    static const sl_opt out_of_range[] = {
        {"n", SL_OPT_INT, false, NULL, "0", "", SL_OPT_BIND(dc, n), SL_OPT_MIN(1)}, {0}};
    assert_int_equal(sl_opt_check_defaults(out_of_range, "op", &e), SL_EINVAL);
    assert_string_equal(e.msg, "op: option 'n': bad default '0': n must be >= 1, got 0");
    static const sl_opt bad_enum[] = {
        {"en", SL_OPT_ENUM, false, "a|b", "c", "", SL_OPT_BIND(dc, en)}, {0}};
    assert_int_equal(sl_opt_check_defaults(bad_enum, NULL, &e), SL_EINVAL);
    assert_string_equal(e.msg, "option 'en': bad default 'c': en must be one of a|b, got 'c' (did "
                               "you mean 'a'?)");
    static const sl_opt node_def[] = {
        {"m", SL_OPT_MAP, false, NULL, "{a: 1}", "", SL_OPT_BIND(dc, m)}, {0}};
    assert_int_equal(sl_opt_check_defaults(node_def, "op", &e), SL_EINVAL);
    assert_string_equal(e.msg, "op: option 'm': a map option has no default text (got '{a: 1}')");
    /* into sub-tables, named by their path */
    static const sl_opt outer[] = {
        {"inner", SL_OPT_MAP, false, NULL, NULL, "", SL_OPT_SUB(bad_int)}, {0}};
    assert_int_equal(sl_opt_check_defaults(outer, "op", &e), SL_EINVAL);
    assert_string_equal(e.msg, "op inner: option 'n': bad default 'many': n must be an integer, "
                               "got 'many'");
    assert_int_equal(sl_opt_check_defaults(bind_opts, "x", &e), 0);
    /* a field that cannot hold the type is refused before anything is stored */
    typedef struct {
        int small;
        int64_t canary;
    } sc;
    static const sl_opt wrong_size[] = {
        {"n", SL_OPT_INT, false, NULL, "5", "", SL_OPT_BIND(sc, small)}, {0}};
    sc w = {0, 42};
    assert_int_equal(sl_spec_bind(NULL, wrong_size, "op", &w, &e), SL_EINVAL);
    assert_string_equal(e.msg, "op: option 'n': bound to a field of 4 bytes, int options store 8");
    assert_int_equal(w.small, 0);
    assert_int_equal(w.canary, 42);
    assert_int_equal(sl_opt_check_defaults(wrong_size, "op", &e), SL_EINVAL);
    /* a default text on an unbound row is for help only */
    static const sl_opt doc_only[] = {{"k", SL_OPT_STRING, false, NULL, "same as on", ""}, {0}};
    assert_int_equal(sl_opt_check_defaults(doc_only, "x", &e), 0);
}

static void test_help_bounds_and_sub(void **state) {
    (void)state;
    typedef struct {
        int64_t size;
    } hc;
    static const sl_opt inner[] = {
        {"size", SL_OPT_INT, false, NULL, "20", "values kept", SL_OPT_BIND(hc, size),
         SL_OPT_RANGE(2, 100000)},
        {"alpha", SL_OPT_DOUBLE, false, NULL, "0.1", "weight", SL_OPT_RANGE(0, 1)},
        {0},
    };
    static const sl_opt item[] = {{"level", SL_OPT_STRING, true, NULL, NULL, "text"}, {0}};
    static const sl_opt opts[] = {
        {"max_keys", SL_OPT_INT, false, NULL, "1000000", "bound", SL_OPT_MIN(1)},
        {"every", SL_OPT_DURATION, false, NULL, "1s", "how often", SL_OPT_RANGE(1000, 90e6)},
        {"baseline", SL_OPT_MAP, false, NULL, NULL, "the baseline", SL_OPT_SUB(inner)},
        {"severity", SL_OPT_SEQ, false, NULL, NULL, "levels", SL_OPT_SUB(item)},
        {"prefix", SL_OPT_STRING, false, NULL, "", "column prefix"},
        {0},
    };
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    assert_non_null(f);
    sl_opt_print_help(f, opts);
    fclose(f);
    assert_string_equal(buf,
                        "  max_keys          int >= 1             bound (default: 1000000)\n"
                        "  every             duration 1ms..1m30s  how often (default: 1s)\n"
                        "  baseline          map                  the baseline\n"
                        "  baseline.size     int 2..100000        values kept (default: 20)\n"
                        "  baseline.alpha    number [0, 1]        weight (default: 0.1)\n"
                        "  severity          sequence             levels\n"
                        "  severity[].level  string               text (required)\n"
                        "  prefix            string               column prefix (default: \"\")\n");
    free(buf);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_nested_block),
        cmocka_unit_test(test_flow_style),
        cmocka_unit_test(test_block_scalars),
        cmocka_unit_test(test_quoted_plain_null),
        cmocka_unit_test(test_empty_and_comment_files),
        cmocka_unit_test(test_sequence_instead_of_map),
        cmocka_unit_test(test_load_file),
        cmocka_unit_test(test_vars_set),
        cmocka_unit_test(test_vars_precedence),
        cmocka_unit_test(test_vars_several_escape_nested),
        cmocka_unit_test(test_vars_errors),
        cmocka_unit_test(test_syntax_errors),
        cmocka_unit_test(test_structure_errors),
        cmocka_unit_test(test_positions_unicode_crlf_bom),
        cmocka_unit_test(test_readers),
        cmocka_unit_test(test_check_ok),
        cmocka_unit_test(test_check_errors),
        cmocka_unit_test(test_help),
        cmocka_unit_test(test_bind_types),
        cmocka_unit_test(test_bind_defaults),
        cmocka_unit_test(test_bind_bounds),
        cmocka_unit_test(test_bind_enum_and_keys),
        cmocka_unit_test(test_bind_bad_defaults),
        cmocka_unit_test(test_help_bounds_and_sub),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    sl_spec_free(bound_spec);
    return rc;
}
