/*
 * test_httpd.c - the token sets and the audit ring of httpd/access.c: a set
 * matches only its own secrets (in clear, by SHA-256, from a file), a set
 * held by a request keeps working after a swap while new requests see the
 * new set, a `file:` secret is read again when a set is built, and the audit
 * ring keeps order, bounds itself and keeps what a failed drain did not write.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TMPDIR_PREFIX "/tmp/sl_httpd_test_XXXXXX"
#include "../tmpdir_test.h"
#include "httpd/httpd.h"

static const sl_token *match(const sl_token_set *s, const char *tok) {
    return sl_token_set_match(s, tok, strlen(tok));
}

static void write_file(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void test_sets_and_swap(void **state) {
    (void)state;
    char path[512];
    snprintf(path, sizeof path, "%s/tok", dir);
    write_file(path, "filed-one\n");
    /* sha256("abc") */
    sl_token_conf c[3] = {
        {.id = "ing", .token = "ing-secret", .scopes = SL_SCOPE_INGEST},
        {.id = "hashed",
         .sha256 = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
         .scopes = SL_SCOPE_READ},
        {.id = "filed", .file = path, .scopes = SL_SCOPE_READ, .ntables = 1, .tables = {"g_*"}},
    };
    sl_error err = {0};
    sl_token_set *s1 = sl_token_set_build("adm", c, 3, &err);
    assert_non_null(s1);
    assert_int_equal(sl_token_set_count(s1), 4);
    assert_string_equal(match(s1, "adm")->id, "admin");
    assert_int_equal(match(s1, "adm")->scopes, SL_SCOPE_ADMIN);
    assert_string_equal(match(s1, "ing-secret")->id, "ing");
    assert_string_equal(match(s1, "abc")->id, "hashed");
    assert_string_equal(match(s1, "filed-one")->id, "filed");
    assert_string_equal(match(s1, "filed-one")->tables[0], "g_*");
    assert_null(match(s1, "filed-one\n"));
    assert_null(match(s1, "ing-secreT"));
    assert_null(match(s1, ""));

    sl_access *a = sl_access_new();
    assert_non_null(a);
    assert_null(sl_access_tokens(a)); /* no set: no tokens */
    sl_access_swap(a, s1);
    sl_token_set *held = sl_access_tokens(a); /* a request that began before the reload */
    assert_ptr_equal(held, s1);

    /* rotation: the file rewritten, a new set built and swapped in */
    write_file(path, "filed-two\n");
    sl_token_set *s2 = sl_token_set_build(NULL, c, 3, &err);
    assert_non_null(s2);
    sl_access_swap(a, s2);
    sl_token_set *now = sl_access_tokens(a);
    assert_ptr_equal(now, s2);
    assert_null(match(now, "filed-one"));
    assert_string_equal(match(now, "filed-two")->id, "filed");
    assert_null(match(now, "adm")); /* no admin in the new set */
    /* the request that began before keeps its set, intact, until it ends */
    assert_string_equal(match(held, "filed-one")->id, "filed");
    assert_string_equal(match(held, "adm")->id, "admin");
    sl_token_set_release(held);
    sl_token_set_release(now);

    /* a set that does not load is not swapped in (the caller keeps the old) */
    remove(path);
    assert_null(sl_token_set_build(NULL, c, 3, &err));
    assert_non_null(strstr(err.msg, "cannot read its file"));
    write_file(path, "\n");
    assert_null(sl_token_set_build(NULL, c, 3, &err));
    assert_non_null(strstr(err.msg, "is empty"));
    sl_token_conf dup[2] = {{.id = "x", .token = "1"}, {.id = "x", .token = "2"}};
    assert_null(sl_token_set_build(NULL, dup, 2, &err));
    assert_non_null(strstr(err.msg, "two tokens named 'x'"));
    sl_access_swap(a, NULL); /* no tokens */
    assert_null(sl_access_tokens(a));
    sl_access_free(a);
}

typedef struct seen {
    int n, fail_at;
    char last[64];
    int first_status;
} seen;

static int drain_cb(void *ud, const sl_audit *r) {
    seen *s = ud;
    if (s->n == s->fail_at) return 5;
    if (!s->n) s->first_status = r->status;
    snprintf(s->last, sizeof s->last, "%s %s %s %s %s", r->token, r->addr, r->method, r->route,
             r->detail);
    s->n++;
    return 0;
}

static void test_audit_ring(void **state) {
    (void)state;
    sl_access *a = sl_access_new();
    assert_int_equal(sl_access_audit_pending(a), 0);
    for (int i = 0; i < 4100; i++) /* 4 more than the ring holds */
        sl_access_audit_push(a, "t", "1.2.3.4", "INGEST", "src", "records", i);
    assert_int_equal(sl_access_audit_pending(a), 4097); /* 4096 + "some were dropped" */
    seen s = {.fail_at = 10};
    uint64_t dropped = 0;
    assert_int_equal(sl_access_audit_drain(a, drain_cb, &s, &dropped), 5);
    assert_int_equal(dropped, 4);
    assert_int_equal(s.first_status, 4);                /* the 4 oldest were dropped */
    assert_int_equal(sl_access_audit_pending(a), 4086); /* the failed one is kept */
    s = (seen){.fail_at = -1};
    assert_int_equal(sl_access_audit_drain(a, drain_cb, &s, &dropped), 0);
    assert_int_equal(dropped, 0);
    assert_int_equal(s.n, 4086);
    assert_int_equal(s.first_status, 14);
    sl_access_audit(a, "", "", "RELOAD", "/etc/p.yaml", "applied", 200);
    s = (seen){.fail_at = -1};
    assert_int_equal(sl_access_audit_drain(a, drain_cb, &s, NULL), 0);
    assert_int_equal(s.n, 1);
    assert_string_equal(s.last, "  RELOAD /etc/p.yaml applied");
    sl_access_audit_push(NULL, "t", "", "", "", "", 0); /* no holder: nothing */
    sl_access_free(a);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sets_and_swap),
        cmocka_unit_test(test_audit_ring),
    };
    return cmocka_run_group_tests(tests, tmpdir_setup, tmpdir_teardown);
}
