/*
 * parse.c - the three small wire formats tap and top read: Server-Sent
 * Events (lines, events end at a blank line), the tap stream's JSON rows
 * (only the shape the server writes: string column names, rows of scalars)
 * and Prometheus text (one `name{labels} value` sample per line).
 *
 * They run in a client that prints a few rows or a screen a second, so
 * clarity beats speed: events and samples are copied into small owned
 * strings.
 */
#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "core/mem.h"

/* ---- Server-Sent Events ---- */

struct sl_sse {
    sl_sse_fn fn;
    void *ud;
    char *line; /* the line being read */
    size_t nline, capline;
    char *data; /* data lines of the event being read */
    size_t ndata, capdata;
    bool has_data;
    bool after_cr; /* the last byte was \r */
    char event[64];
};

sl_sse *sl_sse_new(sl_sse_fn fn, void *ud) {
    sl_sse *s = sl_xcalloc(1, sizeof *s);
    s->fn = fn;
    s->ud = ud;
    return s;
}

void sl_sse_free(sl_sse *s) {
    if (!s) return;
    free(s->line);
    free(s->data);
    free(s);
}

static void grow(char **p, size_t *cap, size_t need) {
    if (need <= *cap) return;
    size_t c = *cap ? *cap : 256;
    while (c < need)
        c *= 2;
    *p = sl_xrealloc(*p, c);
    *cap = c;
}

/* One complete line (without its end); a blank line dispatches the event. */
static int sse_line(sl_sse *s, const char *l, size_t n) {
    if (!n) {
        int rc = 0;
        if (s->has_data) {
            grow(&s->data, &s->capdata, s->ndata + 1);
            s->data[s->ndata] = 0;
            rc = s->fn(s->ud, s->event[0] ? s->event : "message", s->data, s->ndata);
        }
        s->ndata = 0;
        s->has_data = false;
        s->event[0] = 0;
        return rc;
    }
    if (l[0] == ':') return 0; /* comment (heartbeat) */
    const char *colon = memchr(l, ':', n);
    size_t fl = colon ? (size_t)(colon - l) : n;
    const char *v = colon ? colon + 1 : l + n;
    if (v < l + n && *v == ' ') v++;
    size_t vl = (size_t)(l + n - v);
    if (fl == 5 && !memcmp(l, "event", 5)) {
        size_t k = vl < sizeof s->event - 1 ? vl : sizeof s->event - 1;
        memcpy(s->event, v, k);
        s->event[k] = 0;
    } else if (fl == 4 && !memcmp(l, "data", 4)) {
        grow(&s->data, &s->capdata, s->ndata + vl + 2);
        if (s->has_data) s->data[s->ndata++] = '\n';
        memcpy(s->data + s->ndata, v, vl);
        s->ndata += vl;
        s->has_data = true;
    }
    return 0; /* id:, retry: and unknown fields are not needed here */
}

int sl_sse_feed(sl_sse *s, const char *buf, size_t n) {
    for (size_t i = 0; i < n; i++) {
        char c = buf[i];
        bool after_cr = s->after_cr;
        s->after_cr = c == '\r';
        if (c == '\n' && after_cr) continue; /* \r\n is one line end, across feeds too */
        if (c == '\n' || c == '\r') {
            int rc = sse_line(s, s->line, s->nline);
            s->nline = 0;
            if (rc) return rc;
            continue;
        }
        grow(&s->line, &s->capline, s->nline + 1);
        s->line[s->nline++] = c;
    }
    return 0;
}

/* ---- the tap stream's JSON ---- */

typedef struct {
    const char *p, *end;
} scan;

static void ws(scan *s) {
    while (s->p < s->end && (*s->p == ' ' || *s->p == '\t' || *s->p == '\n' || *s->p == '\r'))
        s->p++;
}

static bool eat(scan *s, char c) {
    ws(s);
    if (s->p < s->end && *s->p == c) {
        s->p++;
        return true;
    }
    return false;
}

static int hex4(const char *p) {
    int v = 0;
    for (int i = 0; i < 4; i++) {
        int c = p[i], d = c >= '0' && c <= '9'   ? c - '0'
                          : c >= 'a' && c <= 'f' ? c - 'a' + 10
                          : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                                 : -1;
        if (d < 0) return -1;
        v = v * 16 + d;
    }
    return v;
}

static size_t put_utf8(char *o, unsigned cp) {
    if (cp < 0x80) return o[0] = (char)cp, 1;
    if (cp < 0x800) return o[0] = (char)(0xC0 | cp >> 6), o[1] = (char)(0x80 | (cp & 0x3F)), 2;
    if (cp < 0x10000)
        return o[0] = (char)(0xE0 | cp >> 12), o[1] = (char)(0x80 | ((cp >> 6) & 0x3F)),
               o[2] = (char)(0x80 | (cp & 0x3F)), 3;
    return o[0] = (char)(0xF0 | cp >> 18), o[1] = (char)(0x80 | ((cp >> 12) & 0x3F)),
           o[2] = (char)(0x80 | ((cp >> 6) & 0x3F)), o[3] = (char)(0x80 | (cp & 0x3F)), 4;
}

/* A JSON string at s->p (after optional space) -> a decoded owned copy. */
static char *json_string(scan *s) {
    if (!eat(s, '"')) return NULL;
    /* decoded is never longer than the escaped text */
    const char *q = s->p;
    char *o = sl_xmalloc((size_t)(s->end - q) + 1);
    size_t n = 0;
    while (q < s->end && *q != '"') {
        if (*q != '\\') {
            o[n++] = *q++;
            continue;
        }
        if (++q >= s->end) goto bad;
        char c = *q++;
        switch (c) {
        case 'n':
            o[n++] = '\n';
            break;
        case 't':
            o[n++] = '\t';
            break;
        case 'r':
            o[n++] = '\r';
            break;
        case 'b':
            o[n++] = '\b';
            break;
        case 'f':
            o[n++] = '\f';
            break;
        case 'u': {
            if (s->end - q < 4) goto bad;
            int cp = hex4(q);
            if (cp < 0) goto bad;
            q += 4;
            if (cp >= 0xD800 && cp < 0xDC00 && s->end - q >= 6 && q[0] == '\\' && q[1] == 'u') {
                int lo = hex4(q + 2);
                if (lo >= 0xDC00 && lo < 0xE000) {
                    cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                    q += 6;
                }
            }
            n += put_utf8(o + n, (unsigned)cp);
            break;
        }
        default:
            o[n++] = c; /* \" \\ \/ */
        }
    }
    if (q >= s->end) goto bad;
    s->p = q + 1;
    o[n] = 0;
    return o;
bad:
    free(o);
    return NULL;
}

/* A scalar: string, number, true/false, null. */
static bool json_scalar(scan *s, int *kind, char **text) {
    ws(s);
    if (s->p >= s->end) return false;
    if (*s->p == '"') {
        *kind = SL_JV_STR;
        return (*text = json_string(s)) != NULL;
    }
    const char *b = s->p;
    while (s->p < s->end && (isalnum((unsigned char)*s->p) || strchr("+-.", *s->p)))
        s->p++;
    size_t n = (size_t)(s->p - b);
    if (!n) return false;
    if (n == 4 && !memcmp(b, "null", 4)) {
        *kind = SL_JV_NULL;
        *text = NULL;
        return true;
    }
    *kind = (n == 4 && !memcmp(b, "true", 4)) || (n == 5 && !memcmp(b, "false", 5)) ? SL_JV_BOOL
                                                                                    : SL_JV_NUM;
    if (*kind == SL_JV_NUM && !(isdigit((unsigned char)*b) || *b == '-')) return false;
    *text = sl_xmalloc(n + 1);
    memcpy(*text, b, n);
    (*text)[n] = 0;
    return true;
}

void sl_rows_event_fini(sl_rows_event *ev) {
    for (int i = 0; i < ev->ncols; i++)
        free(ev->cols[i]);
    for (int i = 0; i < ev->nrows * ev->ncols; i++)
        free(ev->cells[i]);
    free(ev->cols);
    free(ev->cells);
    free(ev->kinds);
    memset(ev, 0, sizeof *ev);
}

int sl_rows_event_parse(const char *json, size_t n, sl_rows_event *ev) {
    memset(ev, 0, sizeof *ev);
    scan s = {json, json + n};
    int capc = 0, capr = 0;
    if (!eat(&s, '{')) goto bad;
    if (eat(&s, '}')) return 0;
    do {
        char *key = json_string(&s);
        if (!key || !eat(&s, ':')) {
            free(key);
            goto bad;
        }
        bool cols = !strcmp(key, "columns"), rows = !strcmp(key, "rows");
        free(key);
        if (cols) {
            if (!eat(&s, '[')) goto bad;
            if (eat(&s, ']')) continue;
            do {
                char *c = json_string(&s);
                if (!c) goto bad;
                if (ev->ncols == capc) {
                    capc = capc ? capc * 2 : 16;
                    ev->cols = sl_xrealloc(ev->cols, (size_t)capc * sizeof *ev->cols);
                }
                ev->cols[ev->ncols++] = c;
            } while (eat(&s, ','));
            if (!eat(&s, ']')) goto bad;
        } else if (rows) {
            /* the server writes columns first: rows have ncols cells */
            if (!eat(&s, '[')) goto bad;
            if (eat(&s, ']')) continue;
            do {
                if (!eat(&s, '[')) goto bad;
                if (ev->nrows == capr) {
                    capr = capr ? capr * 2 : 64;
                    size_t cells = (size_t)capr * (size_t)(ev->ncols ? ev->ncols : 1);
                    ev->cells = sl_xrealloc(ev->cells, cells * sizeof *ev->cells);
                    ev->kinds = sl_xrealloc(ev->kinds, cells * sizeof *ev->kinds);
                }
                int base = ev->nrows * ev->ncols, k = 0;
                if (!eat(&s, ']')) {
                    do {
                        int kind;
                        char *text;
                        if (k >= ev->ncols || !json_scalar(&s, &kind, &text)) {
                            for (int j = 0; j < k; j++)
                                free(ev->cells[base + j]);
                            goto bad;
                        }
                        ev->cells[base + k] = text;
                        ev->kinds[base + k] = kind;
                        k++;
                    } while (eat(&s, ','));
                    if (!eat(&s, ']') || k != ev->ncols) {
                        for (int j = 0; j < k; j++)
                            free(ev->cells[base + j]);
                        goto bad;
                    }
                } else if (ev->ncols) {
                    goto bad;
                }
                ev->nrows++;
            } while (eat(&s, ','));
            if (!eat(&s, ']')) goto bad;
        } else {
            int kind;
            char *text;
            if (!json_scalar(&s, &kind, &text)) goto bad;
            free(text);
        }
    } while (eat(&s, ','));
    if (!eat(&s, '}')) goto bad;
    return 0;
bad:
    sl_rows_event_fini(ev);
    return SL_EPARSE;
}

/* ---- Prometheus text ---- */

typedef struct {
    char *name, *labels; /* labels: the text between the braces, "" if none */
    double v;
} sample;

struct sl_prom {
    sample *s;
    int n, cap;
    char **strs; /* label values handed out by sl_prom_labels */
    int nstrs;
};

sl_prom *sl_prom_parse(const char *text, size_t n) {
    sl_prom *m = sl_xcalloc(1, sizeof *m);
    const char *p = text, *end = text + n;
    while (p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        if (!eol) eol = end;
        const char *q = p;
        if (q < eol && *q != '#') {
            const char *nb = q;
            while (q < eol && *q != '{' && *q != ' ')
                q++;
            size_t nl = (size_t)(q - nb);
            const char *lb = q, *le = q;
            if (q < eol && *q == '{') {
                lb = ++q;
                /* a label value may hold '}' inside quotes */
                bool quoted = false;
                while (q < eol && (quoted || *q != '}')) {
                    if (*q == '\\' && quoted && q + 1 < eol)
                        q++;
                    else if (*q == '"')
                        quoted = !quoted;
                    q++;
                }
                le = q;
                if (q < eol) q++;
            }
            char num[64];
            while (q < eol && *q == ' ')
                q++;
            size_t k = 0;
            while (q < eol && *q != ' ' && k < sizeof num - 1)
                num[k++] = *q++;
            num[k] = 0;
            char *e;
            double v = strtod(num, &e);
            if (nl && k && e != num) {
                if (m->n == m->cap) {
                    m->cap = m->cap ? m->cap * 2 : 128;
                    m->s = sl_xrealloc(m->s, (size_t)m->cap * sizeof *m->s);
                }
                sample *sm = &m->s[m->n++];
                sm->name = sl_xstrndup(nb, nl);
                sm->labels = sl_xstrndup(lb, (size_t)(le - lb));
                sm->v = v;
            }
        }
        p = eol + 1;
    }
    return m;
}

void sl_prom_free(sl_prom *m) {
    if (!m) return;
    for (int i = 0; i < m->n; i++) {
        free(m->s[i].name);
        free(m->s[i].labels);
    }
    for (int i = 0; i < m->nstrs; i++)
        free(m->strs[i]);
    free(m->strs);
    free(m->s);
    free(m);
}

/* The value of label key in labels (decoded into out); false if absent. */
static bool label_value(const char *labels, const char *key, char *out, size_t cap) {
    size_t kl = strlen(key);
    const char *p = labels;
    while (*p) {
        while (*p == ',' || *p == ' ')
            p++;
        const char *eq = strchr(p, '=');
        if (!eq || eq[1] != '"') return false;
        bool match = (size_t)(eq - p) == kl && !memcmp(p, key, kl);
        const char *q = eq + 2;
        size_t n = 0;
        while (*q && *q != '"') {
            char c = *q++;
            if (c == '\\' && *q) {
                c = *q++;
                if (c == 'n') c = '\n';
            }
            if (match && n + 1 < cap) out[n++] = c;
        }
        if (match) {
            out[n] = 0;
            return true;
        }
        p = *q ? q + 1 : q;
    }
    return false;
}

double sl_prom_get(const sl_prom *m, const char *name, const char *key, const char *val) {
    if (!m) return NAN;
    char buf[512];
    double sum = NAN;
    for (int i = 0; i < m->n; i++) {
        if (strcmp(m->s[i].name, name)) continue;
        if (key && !(label_value(m->s[i].labels, key, buf, sizeof buf) && !strcmp(buf, val)))
            continue;
        sum = isnan(sum) ? m->s[i].v : sum + m->s[i].v;
    }
    return sum;
}

int sl_prom_labels(const sl_prom *m, const char *name, const char *key, const char **out, int cap) {
    int k = 0;
    char buf[512];
    sl_prom *mm = (sl_prom *)m; /* the decoded values are kept with m */
    for (int i = 0; m && i < m->n && k < cap; i++) {
        if (strcmp(m->s[i].name, name) || !label_value(m->s[i].labels, key, buf, sizeof buf))
            continue;
        bool seen = false;
        for (int j = 0; j < k && !seen; j++)
            seen = !strcmp(out[j], buf);
        if (seen) continue;
        mm->strs = sl_xrealloc(mm->strs, (size_t)(mm->nstrs + 1) * sizeof *mm->strs);
        out[k++] = mm->strs[mm->nstrs++] = sl_xstrdup(buf);
    }
    return k;
}

double sl_prom_rate(const sl_prom *a, const sl_prom *b, double dt, const char *name,
                    const char *key, const char *val) {
    double x = sl_prom_get(a, name, key, val), y = sl_prom_get(b, name, key, val);
    if (isnan(x) || isnan(y) || dt <= 0) return NAN;
    return y >= x ? (y - x) / dt : 0;
}
