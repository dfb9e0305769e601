/*
 * jobs_api.c - the generated job runs as a paged job-run listing; see jobs_api.h.
 */
#include "gen/jobs_api.h"

#include <arpa/inet.h>
#include <inttypes.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/mem.h"

typedef struct {
    int64_t start_ms, seq;
    char *json; /* the object with "start_ms" added */
    size_t n;
} api_run;

struct sl_jobs_api {
    api_run *runs;
    size_t n, cap;
    const char *token;
};

#define API_PATH "/api/2.1/jobs/runs/list"
#define MAX_LIMIT 1000

sl_jobs_api *sl_jobs_api_new(void) { return sl_xcalloc(1, sizeof(sl_jobs_api)); }

void sl_jobs_api_free(sl_jobs_api *a) {
    if (!a) return;
    for (size_t i = 0; i < a->n; i++)
        free(a->runs[i].json);
    free(a->runs);
    free(a);
}

/* "start_time":"YYYY-MM-DDTHH:MM:SS.mmmZ" in line -> epoch ms; false if absent or bad. */
static bool start_ms_of(const char *line, size_t n, int64_t *out) {
    static const char key[] = "\"start_time\":\"";
    const char *p = memmem(line, n, key, sizeof key - 1);
    if (!p) return false;
    p += sizeof key - 1;
    if ((size_t)(line + n - p) < 24) return false;
    struct tm tm = {0};
    int ms = 0;
    if (sscanf(p, "%4d-%2d-%2dT%2d:%2d:%2d.%3dZ", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
               &tm.tm_min, &tm.tm_sec, &ms) != 7)
        return false;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    *out = (int64_t)timegm(&tm) * 1000 + ms;
    return true;
}

void sl_jobs_api_add(sl_jobs_api *a, const char *line, size_t n) {
    while (n && (line[n - 1] == '\n' || line[n - 1] == '\r'))
        n--;
    int64_t ms;
    if (n < 2 || line[0] != '{' || line[n - 1] != '}' || !start_ms_of(line, n, &ms)) return;
    if (a->n == a->cap) {
        a->cap = a->cap ? a->cap * 2 : 1024;
        a->runs = sl_xreallocarray(a->runs, a->cap, sizeof *a->runs);
    }
    api_run *r = &a->runs[a->n];
    r->start_ms = ms;
    r->seq = (int64_t)a->n;
    r->json = sl_xmalloc(n + 40);
    memcpy(r->json, line, n - 1);
    r->n = n - 1 + (size_t)sprintf(r->json + n - 1, ",\"start_ms\":%" PRId64 "}", ms);
    a->n++;
}

static int cmp_run(const void *x, const void *y) {
    const api_run *a = x, *b = y;
    if (a->start_ms != b->start_ms) return a->start_ms < b->start_ms ? -1 : 1;
    return a->seq < b->seq ? -1 : a->seq > b->seq;
}

/* First index with start_ms >= t (the runs are sorted). */
static size_t lower_bound(const sl_jobs_api *a, int64_t t) {
    size_t lo = 0, hi = a->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (a->runs[mid].start_ms < t)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static enum MHD_Result reply(struct MHD_Connection *c, unsigned status, char *body, size_t n) {
    struct MHD_Response *r = MHD_create_response_from_buffer(n, body, MHD_RESPMEM_MUST_FREE);
    MHD_add_response_header(r, "Content-Type", "application/json");
    enum MHD_Result rc = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return rc;
}

static enum MHD_Result error(struct MHD_Connection *c, unsigned status, const char *code,
                             const char *msg) {
    char *b = sl_xmalloc(256);
    int n = snprintf(b, 256, "{\"error_code\":\"%s\",\"message\":\"%s\"}", code, msg);
    return reply(c, status, b, (size_t)n);
}

static bool parse_i64(const char *s, int64_t *out) {
    if (!s || !*s) return false;
    char *end;
    long long v = strtoll(s, &end, 10);
    if (*end) return false;
    *out = v;
    return true;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url,
                              const char *method, const char *version, const char *upload,
                              size_t *upload_size, void **con_cls) {
    (void)version, (void)upload, (void)con_cls;
    sl_jobs_api *a = cls;
    if (*upload_size) {
        *upload_size = 0; /* a GET has no body: ignore what was sent */
        return MHD_YES;
    }
    if (strcmp(method, "GET")) return error(c, 405, "METHOD_NOT_ALLOWED", "GET only");
    if (strcmp(url, API_PATH)) return error(c, 404, "ENDPOINT_NOT_FOUND", "no such endpoint");
    if (a->token && *a->token) {
        const char *h = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
        if (!h || strncmp(h, "Bearer ", 7) || strcmp(h + 7, a->token))
            return error(c, 401, "UNAUTHENTICATED", "a bearer token is required");
    }
    int64_t from = INT64_MIN, limit = 25, off = 0;
    const char *v = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "start_time_from");
    if (v && !parse_i64(v, &from))
        return error(c, 400, "INVALID_PARAMETER_VALUE", "start_time_from: epoch milliseconds");
    v = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "limit");
    if (v && (!parse_i64(v, &limit) || limit < 1 || limit > MAX_LIMIT))
        return error(c, 400, "INVALID_PARAMETER_VALUE", "limit: 1..1000");
    v = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "page_token");
    if (v && (v[0] != 'o' || !parse_i64(v + 1, &off) || off < 0))
        return error(c, 400, "INVALID_PARAMETER_VALUE", "page_token: as given by the last page");
    size_t first = lower_bound(a, from) + (size_t)off;
    size_t end = first + (size_t)limit;
    if (first > a->n) first = a->n;
    if (end > a->n) end = a->n;
    size_t cap = 96;
    for (size_t i = first; i < end; i++)
        cap += a->runs[i].n + 1;
    char *b = sl_xmalloc(cap);
    size_t n = (size_t)sprintf(b, "{\"runs\":[");
    for (size_t i = first; i < end; i++) {
        if (i > first) b[n++] = ',';
        memcpy(b + n, a->runs[i].json, a->runs[i].n);
        n += a->runs[i].n;
    }
    bool more = end < a->n;
    n += (size_t)sprintf(b + n, "],\"has_more\":%s", more ? "true" : "false");
    if (more) n += (size_t)sprintf(b + n, ",\"next_page_token\":\"o%" PRId64 "\"", off + limit);
    b[n++] = '}';
    return reply(c, 200, b, n);
}

int sl_jobs_api_serve(sl_jobs_api *a, const char *addr, const char *token) {
    qsort(a->runs, a->n, sizeof *a->runs, cmp_run);
    a->token = token;
    char host[256];
    const char *colon = strrchr(addr, ':');
    long port = colon ? strtol(colon + 1, NULL, 10) : -1;
    size_t hl = colon ? (size_t)(colon - addr) : 0;
    struct sockaddr_in sa = {.sin_family = AF_INET};
    if (!colon || hl == 0 || hl >= sizeof host || port < 0 || port > 65535) {
        fprintf(stderr, "gen dataops: --serve takes HOST:PORT (an IPv4 address), got '%s'\n", addr);
        return 1;
    }
    memcpy(host, addr, hl);
    host[hl] = 0;
    if (inet_pton(AF_INET, host, &sa.sin_addr) != 1) {
        fprintf(stderr, "gen dataops: --serve: '%s' is not an IPv4 address\n", host);
        return 1;
    }
    sa.sin_port = htons((uint16_t)port);
    /* SIGINT/SIGTERM are taken by sigwait below, not by the server's threads */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    struct MHD_Daemon *d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL, 0,
                                            NULL, NULL, handle, a, MHD_OPTION_SOCK_ADDR,
                                            (struct sockaddr *)&sa, MHD_OPTION_CONNECTION_TIMEOUT,
                                            30u, MHD_OPTION_CONNECTION_LIMIT, 64u, MHD_OPTION_END);
    if (!d) {
        fprintf(stderr, "gen dataops: cannot listen on %s\n", addr);
        return 1;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    printf("jobs API: http://%s:%u" API_PATH "\n", host, info ? info->port : (unsigned)port);
    fflush(stdout);
    int sig;
    sigwait(&set, &sig);
    MHD_stop_daemon(d);
    return 0;
}
