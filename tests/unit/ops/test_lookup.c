/*
 * test_lookup.c - the lookup operator (src/ops/lookup.c): left and inner
 * joins against a CSV file, a missing file, reloads, bad rows, and the specs
 * it refuses.
 *
 * Helpers shared with the other operator tests are in ops_test.h.
 */
#include "ops_test.h"

#include <fcntl.h>

static char *lk_dir;

static int lk_setup(void **state) {
    (void)state;
    lk_dir = strdup("/tmp/sl_ops_test_XXXXXX");
    assert_non_null(mkdtemp(lk_dir));
    return 0;
}
static int lk_teardown(void **state) {
    (void)state;
    rm_rf(lk_dir);
    free(lk_dir);
    return 0;
}

static void lk_schema_int(sl_schema *s) {
    sl_schema_init(s);
    sl_schema_add(s, "id", SL_T_INT);
    sl_schema_add(s, "loc", SL_T_INT);
}

static const char *str_at(const sl_batch *b, int c, uint32_t r, char *out) {
    if (b->col[c].null[r]) return NULL;
    memcpy(out, b->col[c].v.s[r].ptr, b->col[c].v.s[r].len);
    out[b->col[c].v.s[r].len] = 0;
    return out;
}

static void test_lookup_left_int(void **state) {
    (void)state;
    char path[512];
    snprintf(path, sizeof path, "%s/loc.csv", lk_dir);
    write_file(path,
               "loc_id,name,score,extra\n1,alpha,1.5,x\n2,beta,2.5,y\n4,\"quoted, name\",,z\n");
    sl_schema s;
    lk_schema_int(&s);
    op_t o;
    char arg[1024];
    snprintf(arg, sizeof arg,
             "{file: %s, on: loc, key: loc_id, columns: {name: string, score: double}}", path);
    op_ok(&o, "lookup", arg, &s, NULL);
    int nc = sl_schema_find(&s, "name"), sc = sl_schema_find(&s, "score");
    assert_int_equal(nc, 2);
    assert_int_equal(sc, 3);
    assert_int_equal(s.f[sc].type, SL_T_DOUBLE);
    sl_batch *b = sl_batch_new(&s, 8);
    int64_t locs[] = {1, 2, 5, 0, 4};
    for (int i = 0; i < 5; i++) {
        uint32_t r = add_row(b, i);
        sl_col_set_int(&b->col[0], r, i);
        if (i != 3) sl_col_set_int(&b->col[1], r, locs[i]); /* row 3: NULL key */
    }
    sl_op_ctx ctx;
    ctx_init(&ctx);
    sl_error err = {0};
    assert_int_equal(o.def->process(o.self, b, &ctx, &err), 0);
    assert_int_equal(b->n, 5);
    char tmp[64];
    assert_string_equal(str_at(b, nc, 0, tmp), "alpha");
    assert_true(b->col[sc].v.d[0] == 1.5);
    assert_string_equal(str_at(b, nc, 1, tmp), "beta");
    assert_null(str_at(b, nc, 2, tmp));
    assert_true(b->col[sc].null[2]);
    assert_null(str_at(b, nc, 3, tmp));
    assert_string_equal(str_at(b, nc, 4, tmp), "quoted, name");
    assert_true(b->col[sc].null[4]); /* empty cell -> NULL */
    assert_int_equal(ctx.filtered, 0);
    assert_int_equal(stat_num(&o, "matched"), 3);
    assert_int_equal(stat_num(&o, "unmatched"), 2);
    assert_int_equal(stat_num(&o, "lookup_rows"), 3);
    sl_batch_free(b);
    op_free(&o);
}

static void test_lookup_inner_string_key(void **state) {
    (void)state;
    char path[512];
    snprintf(path, sizeof path, "%s/codes.csv", lk_dir);
    write_file(path, "code,label,n\nA1,first,10\nB2,second,20\n007,bond,7\n");
    sl_schema s;
    sl_schema_init(&s);
    sl_schema_add(&s, "code", SL_T_STRING);
    op_t o;
    char arg[1024];
    /* a list of columns: strings */
    snprintf(arg, sizeof arg, "{file: %s, on: code, columns: [label, n], how: inner}", path);
    op_ok(&o, "lookup", arg, &s, NULL);
    int lc = sl_schema_find(&s, "label"), ncol = sl_schema_find(&s, "n");
    assert_int_equal(s.f[ncol].type, SL_T_STRING);
    sl_batch *b = sl_batch_new(&s, 8);
    const char *codes[] = {"B2", "zz", "A1", NULL, "007", "7"};
    for (int i = 0; i < 6; i++) {
        uint32_t r = add_row(b, i);
        if (codes[i]) sl_col_set_str(&b->col[0], r, codes[i], (uint32_t)strlen(codes[i]));
    }
    sl_op_ctx ctx;
    ctx_init(&ctx);
    sl_error err = {0};
    assert_int_equal(o.def->process(o.self, b, &ctx, &err), 0);
    assert_int_equal(b->n, 3);
    char tmp[64];
    assert_int_equal(b->pos[0], 0);
    assert_string_equal(str_at(b, lc, 0, tmp), "second");
    assert_string_equal(str_at(b, ncol, 0, tmp), "20");
    assert_int_equal(b->pos[1], 2);
    assert_string_equal(str_at(b, lc, 1, tmp), "first");
    assert_int_equal(b->pos[2], 4); /* "007" is a string key, not 7 */
    assert_string_equal(str_at(b, lc, 2, tmp), "bond");
    assert_int_equal(ctx.filtered, 3);
    sl_batch_free(b);
    op_free(&o);
}

static void test_lookup_missing_file(void **state) {
    (void)state;
    char path[512];
    snprintf(path, sizeof path, "%s/later.csv", lk_dir);
    unlink(path);
    sl_schema s;
    lk_schema_int(&s);
    op_t o;
    char arg[1024];
    snprintf(arg, sizeof arg, "{file: %s, on: loc, columns: name}", path);
    op_ok(&o, "lookup", arg, &s, NULL); /* create does not need the file */
    sl_batch *b = sl_batch_new(&s, 4);
    sl_col_set_int(&b->col[1], add_row(b, 0), 1);
    sl_op_ctx ctx;
    ctx_init(&ctx);
    sl_error err = {0};
    int rc = o.def->process(o.self, b, &ctx, &err);
    assert_int_equal(rc, SL_EIO);
    assert_non_null(strstr(err.msg, "later.csv"));
    /* once the file exists the next batch works */
    write_file(path, "loc,name\n1,one\n");
    memset(&err, 0, sizeof err);
    assert_int_equal(o.def->process(o.self, b, &ctx, &err), 0);
    char tmp[64];
    assert_string_equal(str_at(b, 2, 0, tmp), "one");
    sl_batch_free(b);
    op_free(&o);

    /* a file without the key column is an error at first process */
    snprintf(path, sizeof path, "%s/nokey.csv", lk_dir);
    write_file(path, "other,name\n1,one\n");
    lk_schema_int(&s);
    snprintf(arg, sizeof arg, "{file: %s, on: loc, columns: name}", path);
    op_ok(&o, "lookup", arg, &s, NULL);
    b = sl_batch_new(&s, 4);
    sl_col_set_int(&b->col[1], add_row(b, 0), 1);
    memset(&err, 0, sizeof err);
    assert_int_not_equal(o.def->process(o.self, b, &ctx, &err), 0);
    assert_non_null(strstr(err.msg, "loc"));
    sl_batch_free(b);
    op_free(&o);
}

static void test_lookup_reload(void **state) {
    (void)state;
    char path[512], tmpp[512];
    snprintf(path, sizeof path, "%s/reload.csv", lk_dir);
    snprintf(tmpp, sizeof tmpp, "%s/.reload.tmp", lk_dir);
    write_file(path, "loc,name\n1,one\n2,two\n");
    sl_schema s;
    lk_schema_int(&s);
    op_t o;
    char arg[1024];
    snprintf(arg, sizeof arg, "{file: %s, on: loc, columns: name, check_every: 1ms}", path);
    op_ok(&o, "lookup", arg, &s, NULL);
    sl_batch *b = sl_batch_new(&s, 4);
    sl_op_ctx ctx;
    ctx_init(&ctx);
    sl_error err = {0};
    char tmp[64];
    sl_col_set_int(&b->col[1], add_row(b, 0), 1);
    sl_col_set_int(&b->col[1], add_row(b, 1), 3);
    assert_int_equal(o.def->process(o.self, b, &ctx, &err), 0);
    assert_string_equal(str_at(b, 2, 0, tmp), "one");
    assert_null(str_at(b, 2, 1, tmp));
    /* replaced atomically with new content */
    write_file(tmpp, "loc,name\n1,uno\n3,tres\n");
    assert_int_equal(rename(tmpp, path), 0);
    usleep(20000);
    assert_int_equal(o.def->process(o.self, b, &ctx, &err), 0);
    assert_string_equal(str_at(b, 2, 0, tmp), "uno");
    assert_string_equal(str_at(b, 2, 1, tmp), "tres");
    assert_int_equal(stat_num(&o, "reloads"), 1);
    /* a broken file keeps the previous table */
    sl_log_set_level(SL_LOG_OFF);
    write_file(tmpp, "wrong,header\n1,x\n");
    assert_int_equal(rename(tmpp, path), 0);
    usleep(20000);
    assert_int_equal(o.def->process(o.self, b, &ctx, &err), 0);
    assert_string_equal(str_at(b, 2, 0, tmp), "uno");
    assert_string_equal(str_at(b, 2, 1, tmp), "tres");
    /* rewritten in place (same inode) with a different size */
    write_file(path, "loc,name\n1,eins\n3,drei\n2,zwei\n");
    usleep(20000);
    assert_int_equal(o.def->process(o.self, b, &ctx, &err), 0);
    assert_string_equal(str_at(b, 2, 0, tmp), "eins");
    assert_string_equal(str_at(b, 2, 1, tmp), "drei");
    sl_log_set_level(SL_LOG_INFO);
    sl_batch_free(b);
    op_free(&o);
}

static void test_lookup_bad_rows_skipped(void **state) {
    (void)state;
    char path[512];
    snprintf(path, sizeof path, "%s/bad.csv", lk_dir);
    write_file(path, "loc,name,n\n"
                     "1,one,1\n"
                     "x,notanint,2\n"     /* key is not an int */
                     "2,two\n"            /* missing column */
                     "3,three,abc\n"      /* n is not an int */
                     ",nokey,4\n"         /* empty key */
                     "4,\"unterminated\n" /* bad quoting */
                     "5,five,5\n");
    sl_schema s;
    lk_schema_int(&s);
    op_t o;
    char arg[1024];
    snprintf(arg, sizeof arg, "{file: %s, on: loc, columns: {name: string, n: int}}", path);
    op_ok(&o, "lookup", arg, &s, NULL);
    sl_batch *b = sl_batch_new(&s, 8);
    for (int i = 1; i <= 5; i++)
        sl_col_set_int(&b->col[1], add_row(b, i), i);
    sl_op_ctx ctx;
    ctx_init(&ctx);
    sl_error err = {0};
    sl_log_set_level(SL_LOG_OFF);
    assert_int_equal(o.def->process(o.self, b, &ctx, &err), 0);
    sl_log_set_level(SL_LOG_INFO);
    char tmp[64];
    assert_string_equal(str_at(b, 2, 0, tmp), "one");
    assert_int_equal(b->col[3].v.i[0], 1);
    for (uint32_t r = 1; r <= 3; r++)
        if (str_at(b, 2, r, tmp))
            fail_msg("stream loc %u matched a bad lookup row (name '%s'): the row ',nokey,4' has "
                     "an empty int key "
                     "and was stored under the previous row's key",
                     r + 1, tmp);
    assert_string_equal(str_at(b, 2, 4, tmp), "five");
    /* only the two good rows are in the table: the empty-key row is not a key */
    assert_int_equal(stat_num(&o, "lookup_rows"), 2);
    sl_batch_free(b);
    op_free(&o);
}

/* Runs one batch through o with stderr (the JSON log) captured into log. */
static void process_logged(op_t *o, sl_batch *b, char *log, size_t cap) {
    char lp[512];
    snprintf(lp, sizeof lp, "%s/stderr.log", lk_dir);
    fflush(stderr);
    int saved = dup(2);
    int fd = open(lp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    assert_true(saved >= 0 && fd >= 0);
    dup2(fd, 2);
    close(fd);
    sl_op_ctx ctx;
    ctx_init(&ctx);
    sl_error err = {0};
    int rc = o->def->process(o->self, b, &ctx, &err);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    assert_int_equal(rc, 0);
    FILE *fp = fopen(lp, "rb");
    assert_non_null(fp);
    size_t n = fread(log, 1, cap - 1, fp);
    log[n] = 0;
    fclose(fp);
}

static int count_str(const char *s, const char *needle) {
    int n = 0;
    for (const char *p = s; (p = strstr(p, needle)) != NULL; p++)
        n++;
    return n;
}

/* A reload to a file with no valid rows (header only, empty, every row bad)
 * keeps the previous table and counts a refused reload. */
static void test_lookup_reload_no_rows_keeps_table(void **state) {
    (void)state;
    char path[512], tmpp[512];
    snprintf(path, sizeof path, "%s/keep.csv", lk_dir);
    snprintf(tmpp, sizeof tmpp, "%s/.keep.tmp", lk_dir);
    write_file(path, "loc,name\n1,one\n2,two\n");
    sl_schema s;
    lk_schema_int(&s);
    op_t o;
    char arg[1024];
    snprintf(arg, sizeof arg, "{file: %s, on: loc, columns: name, check_every: 1ms}", path);
    op_ok(&o, "lookup", arg, &s, NULL);
    sl_batch *b = sl_batch_new(&s, 4);
    sl_col_set_int(&b->col[1], add_row(b, 0), 1);
    sl_col_set_int(&b->col[1], add_row(b, 1), 2);
    char log[4096], tmp[64];
    process_logged(&o, b, log, sizeof log);
    assert_string_equal(str_at(b, 2, 0, tmp), "one");
    const char *bodies[] = {"loc,name\n", "loc,name\r\n", "", "loc,name\nx,bad\n,nokey\n"};
    for (int i = 0; i < 4; i++) {
        write_file(tmpp, bodies[i]);
        assert_int_equal(rename(tmpp, path), 0);
        usleep(20000);
        process_logged(&o, b, log, sizeof log);
        assert_string_equal(str_at(b, 2, 0, tmp), "one");
        assert_string_equal(str_at(b, 2, 1, tmp), "two");
        assert_int_equal(stat_num(&o, "lookup_rows"), 2);
        assert_int_equal(stat_num(&o, "reloads_refused"), i + 1);
        assert_int_equal(count_str(log, "\"level\":\"warn\""), 1);
        assert_non_null(strstr(log, "keeping the previous table"));
    }
    assert_non_null(strstr(log, "\"bad_rows\":2,\"first_bad_line\":2"));
    assert_int_equal(stat_num(&o, "reloads"), 0);
    assert_int_equal(stat_num(&o, "bad_rows"), 2);
    /* a good file afterwards is loaded as usual */
    write_file(tmpp, "loc,name\n1,uno\n");
    assert_int_equal(rename(tmpp, path), 0);
    usleep(20000);
    process_logged(&o, b, log, sizeof log);
    assert_string_equal(str_at(b, 2, 0, tmp), "uno");
    assert_null(str_at(b, 2, 1, tmp));
    assert_int_equal(stat_num(&o, "reloads"), 1);
    sl_batch_free(b);
    op_free(&o);
}

/* A reload to a partly corrupt file keeps its good rows and counts the bad
 * ones, with one warning naming the first bad line. */
static void test_lookup_reload_partly_corrupt(void **state) {
    (void)state;
    char path[512], tmpp[512];
    snprintf(path, sizeof path, "%s/part \"q\".csv", lk_dir);
    snprintf(tmpp, sizeof tmpp, "%s/.part.tmp", lk_dir);
    write_file(path, "loc,name,n\n1,one,1\n2,two,2\n");
    sl_schema s;
    lk_schema_int(&s);
    op_t o;
    char arg[1024];
    snprintf(arg, sizeof arg,
             "{file: '%s', on: loc, columns: {name: string, n: int}, check_every: 1ms}", path);
    op_ok(&o, "lookup", arg, &s, NULL);
    sl_batch *b = sl_batch_new(&s, 8);
    for (int i = 1; i <= 5; i++)
        sl_col_set_int(&b->col[1], add_row(b, i), i);
    char log[4096], tmp[64];
    process_logged(&o, b, log, sizeof log);
    assert_string_equal(str_at(b, 2, 1, tmp), "two");
    assert_int_equal(stat_num(&o, "bad_rows"), 0);
    write_file(tmpp, "loc,name,n\n"
                     "1,uno,1\n"
                     "2,dos\n"          /* line 3: too few fields */
                     "3,tres,3,extra\n" /* line 4: too many fields */
                     "x,cuatro,4\n"     /* line 5: key is not an int */
                     "4,cuatro,four\n"  /* line 6: n is not an int */
                     "5,cinco,5\n");
    assert_int_equal(rename(tmpp, path), 0);
    usleep(20000);
    process_logged(&o, b, log, sizeof log);
    assert_string_equal(str_at(b, 2, 0, tmp), "uno");
    assert_null(str_at(b, 2, 1, tmp)); /* the new file's good rows replace the old table */
    assert_null(str_at(b, 2, 2, tmp));
    assert_null(str_at(b, 2, 3, tmp));
    assert_string_equal(str_at(b, 2, 4, tmp), "cinco");
    assert_int_equal(b->col[3].v.i[4], 5);
    assert_int_equal(stat_num(&o, "lookup_rows"), 2);
    assert_int_equal(stat_num(&o, "bad_rows"), 4);
    assert_int_equal(stat_num(&o, "reloads"), 1);
    assert_int_equal(stat_num(&o, "reloads_refused"), 0);
    assert_int_equal(count_str(log, "\"level\":\"warn\""), 1);
    assert_non_null(strstr(log, "\"bad_rows\":4,\"first_bad_line\":3"));
    assert_non_null(strstr(log, "part \\\"q\\\".csv")); /* the path is escaped */
    sl_batch_free(b);
    op_free(&o);
}

static void test_lookup_bad_specs(void **state) {
    (void)state;
    sl_schema s;
    sl_schema_init(&s);
    sl_schema_add(&s, "d", SL_T_DOUBLE);
    sl_schema_add(&s, "name", SL_T_STRING);
    op_t o;
    sl_error err = {0};
    assert_int_not_equal(op_make(&o, "lookup", "{file: x.csv, on: d, columns: a}", &s, NULL, &err),
                         0);
    assert_non_null(strstr(err.msg, "int or string"));
    memset(&err, 0, sizeof err);
    assert_int_not_equal(
        op_make(&o, "lookup", "{file: x.csv, on: nosuch, columns: a}", &s, NULL, &err), 0);
    memset(&err, 0, sizeof err);
    assert_int_not_equal(
        op_make(&o, "lookup", "{file: x.csv, on: name, columns: name}", &s, NULL, &err), 0);
    assert_non_null(strstr(err.msg, "already exists"));
    memset(&err, 0, sizeof err);
    assert_int_not_equal(
        op_make(&o, "lookup", "{file: x.csv, on: name, columns: {a: nosuchtype}}", &s, NULL, &err),
        0);
}

int main(void) {
    sl_log_set_level(SL_LOG_WARN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_lookup_left_int, lk_setup, lk_teardown),
        cmocka_unit_test_setup_teardown(test_lookup_inner_string_key, lk_setup, lk_teardown),
        cmocka_unit_test_setup_teardown(test_lookup_missing_file, lk_setup, lk_teardown),
        cmocka_unit_test_setup_teardown(test_lookup_reload, lk_setup, lk_teardown),
        cmocka_unit_test_setup_teardown(test_lookup_bad_rows_skipped, lk_setup, lk_teardown),
        cmocka_unit_test_setup_teardown(test_lookup_reload_no_rows_keeps_table, lk_setup,
                                        lk_teardown),
        cmocka_unit_test_setup_teardown(test_lookup_reload_partly_corrupt, lk_setup, lk_teardown),
        cmocka_unit_test(test_lookup_bad_specs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
