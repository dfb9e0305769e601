/*
 * lex.c - tokenizer for the expression language.
 *
 * One token of lookahead (c->tok), produced on demand by lex_next. Keywords
 * are bare identifiers matched case-insensitively against one table, so a
 * "double-quoted" identifier is never a keyword. String literals are
 * unescaped ('' -> ') into the expression's arena once, at compile time.
 * A lexical error sets c->failed with the offset of the bad character and
 * yields TK_EOF, so the parser stops naturally.
 */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "expr/expr_internal.h"

static const struct {
    const char *name;
    int kw;
} keywords[] = {
    {"and", KW_AND},         {"or", KW_OR},     {"not", KW_NOT},       {"is", KW_IS},
    {"null", KW_NULL},       {"true", KW_TRUE}, {"false", KW_FALSE},   {"in", KW_IN},
    {"between", KW_BETWEEN}, {"like", KW_LIKE}, {"escape", KW_ESCAPE}, {"case", KW_CASE},
    {"when", KW_WHEN},       {"then", KW_THEN}, {"else", KW_ELSE},     {"end", KW_END},
    {"cast", KW_CAST},       {"as", KW_AS},
};

static int keyword_of(const char *s, size_t n) {
    for (size_t i = 0; i < sizeof keywords / sizeof keywords[0]; i++)
        if (strlen(keywords[i].name) == n && strncasecmp(keywords[i].name, s, n) == 0)
            return keywords[i].kw;
    return KW_NONE;
}

static void lex_fail(comp *c, int off, const char *msg) {
    comp_error(c, off, SL_EINVAL, "%s", msg);
    c->tok.kind = TK_EOF;
    c->tok.off = off;
}

static void lex_number(comp *c, size_t start) {
    const char *s = c->src;
    size_t i = start;
    bool is_double = false;
    while (i < c->len && isdigit((unsigned char)s[i]))
        i++;
    if (i < c->len && s[i] == '.') {
        is_double = true;
        i++;
        while (i < c->len && isdigit((unsigned char)s[i]))
            i++;
    }
    if (i < c->len && (s[i] == 'e' || s[i] == 'E')) {
        size_t j = i + 1;
        if (j < c->len && (s[j] == '+' || s[j] == '-')) j++;
        if (j < c->len && isdigit((unsigned char)s[j])) {
            is_double = true;
            i = j;
            while (i < c->len && isdigit((unsigned char)s[i]))
                i++;
        }
    }
    if (i < c->len && (isalpha((unsigned char)s[i]) || s[i] == '_')) {
        lex_fail(c, (int)start, "malformed number");
        return;
    }
    size_t n = i - start;
    char buf[128];
    if (n >= sizeof buf) {
        lex_fail(c, (int)start, "number too long");
        return;
    }
    memcpy(buf, s + start, n);
    buf[n] = 0;
    c->tok.off = (int)start;
    c->tok.len = (int)n;
    c->pos = i;
    if (!is_double) {
        errno = 0;
        char *end;
        long long v = strtoll(buf, &end, 10);
        if (errno == 0 && *end == 0) {
            c->tok.kind = TK_INT;
            c->tok.i = v;
            return;
        }
        /* too big for int64: SQLite makes it a real, so do we */
    }
    c->tok.kind = TK_DOUBLE;
    c->tok.d = strtod(buf, NULL);
}

static void lex_string(comp *c, size_t start) {
    const char *s = c->src;
    size_t i = start + 1, n = 0;
    /* first pass: find the end and the unescaped length */
    for (;;) {
        if (i >= c->len) {
            lex_fail(c, (int)start, "unterminated string literal");
            return;
        }
        if (s[i] == '\'') {
            if (i + 1 < c->len && s[i + 1] == '\'') {
                i += 2;
                n++;
                continue;
            }
            break;
        }
        i++;
        n++;
    }
    char *out = sl_arena_alloc(c->e->arena, n + 1);
    size_t o = 0;
    for (size_t j = start + 1; j < i; j++) {
        out[o++] = s[j];
        if (s[j] == '\'') j++;
    }
    out[o] = 0;
    c->tok.kind = TK_STRING;
    c->tok.off = (int)start;
    c->tok.len = (int)(i + 1 - start);
    c->tok.s.ptr = out;
    c->tok.s.len = (uint32_t)o;
    c->pos = i + 1;
}

static void lex_qident(comp *c, size_t start) {
    const char *s = c->src;
    size_t i = start + 1, n = 0;
    for (;;) {
        if (i >= c->len) {
            lex_fail(c, (int)start, "unterminated quoted identifier");
            return;
        }
        if (s[i] == '"') {
            if (i + 1 < c->len && s[i + 1] == '"') {
                i += 2;
                n++;
                continue;
            }
            break;
        }
        i++;
        n++;
    }
    char *out = sl_arena_alloc(c->e->arena, n + 1);
    size_t o = 0;
    for (size_t j = start + 1; j < i; j++) {
        out[o++] = s[j];
        if (s[j] == '"') j++;
    }
    out[o] = 0;
    c->tok.kind = TK_QIDENT;
    c->tok.kw = KW_NONE;
    c->tok.off = (int)start;
    c->tok.len = (int)(i + 1 - start);
    c->tok.s.ptr = out;
    c->tok.s.len = (uint32_t)o;
    c->pos = i + 1;
}

void lex_next(comp *c) {
    const char *s = c->src;
    c->tok.kw = KW_NONE;
    if (c->failed) {
        c->tok.kind = TK_EOF;
        return;
    }
    size_t i = c->pos;
    for (;;) {
        while (i < c->len && isspace((unsigned char)s[i]))
            i++;
        /* SQL line comment */
        if (i + 1 < c->len && s[i] == '-' && s[i + 1] == '-') {
            while (i < c->len && s[i] != '\n')
                i++;
            continue;
        }
        break;
    }
    c->tok.off = (int)i;
    c->tok.len = 1;
    if (i >= c->len) {
        c->tok.kind = TK_EOF;
        c->tok.len = 0;
        c->pos = i;
        return;
    }
    unsigned char ch = (unsigned char)s[i];
    if (isdigit(ch) || (ch == '.' && i + 1 < c->len && isdigit((unsigned char)s[i + 1]))) {
        lex_number(c, i);
        return;
    }
    if (ch == '\'') {
        lex_string(c, i);
        return;
    }
    if (ch == '"') {
        lex_qident(c, i);
        return;
    }
    if (isalpha(ch) || ch == '_') {
        size_t j = i;
        while (j < c->len && (isalnum((unsigned char)s[j]) || s[j] == '_'))
            j++;
        c->tok.kind = TK_IDENT;
        c->tok.len = (int)(j - i);
        c->tok.kw = keyword_of(s + i, j - i);
        c->tok.s.ptr = sl_arena_strdup(c->e->arena, s + i, j - i);
        c->tok.s.len = (uint32_t)(j - i);
        c->pos = j;
        return;
    }
    int kind = -1, len = 1;
    char n1 = i + 1 < c->len ? s[i + 1] : 0;
    switch (ch) {
    case '(':
        kind = TK_LP;
        break;
    case ')':
        kind = TK_RP;
        break;
    case ',':
        kind = TK_COMMA;
        break;
    case '+':
        kind = TK_PLUS;
        break;
    case '-':
        kind = TK_MINUS;
        break;
    case '*':
        kind = TK_STAR;
        break;
    case '/':
        kind = TK_SLASH;
        break;
    case '%':
        kind = TK_PERCENT;
        break;
    case '=':
        kind = TK_EQ;
        if (n1 == '=') len = 2;
        break;
    case '|':
        if (n1 == '|') kind = TK_CONCAT, len = 2;
        break;
    case '!':
        if (n1 == '=') kind = TK_NE, len = 2;
        break;
    case '<':
        if (n1 == '=')
            kind = TK_LE, len = 2;
        else if (n1 == '>')
            kind = TK_NE, len = 2;
        else
            kind = TK_LT;
        break;
    case '>':
        if (n1 == '=')
            kind = TK_GE, len = 2;
        else
            kind = TK_GT;
        break;
    default:
        break;
    }
    if (kind < 0) {
        comp_error(c, (int)i, SL_EINVAL, "unexpected character '%c'", isprint(ch) ? ch : '?');
        c->tok.kind = TK_EOF;
        return;
    }
    c->tok.kind = kind;
    c->tok.len = len;
    c->pos = i + (size_t)len;
}
