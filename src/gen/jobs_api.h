/*
 * jobs_api.h - `sluice gen dataops --serve`: the generated job runs served as
 * a job-run listing API, the shape a data platform's REST API has, so the
 * http_poll source can read the same runs the landing files hold
 * (jobs_api.c; internal to src/gen).
 *
 *   GET /api/2.1/jobs/runs/list?start_time_from=MS&limit=N&page_token=T
 *   -> {"runs": [...], "has_more": bool, "next_page_token": "..."}
 *
 * Each run is the generator's JSON line with "start_ms" (its start_time in
 * epoch milliseconds, the cursor a poller keeps) added; the listing is in
 * ascending (start_ms, order written) order and holds the runs with
 * start_ms >= start_time_from. limit: 1..1000, default 25.
 */
#ifndef SL_GEN_JOBS_API_H
#define SL_GEN_JOBS_API_H

#include <stddef.h>

typedef struct sl_jobs_api sl_jobs_api;

sl_jobs_api *sl_jobs_api_new(void);
void sl_jobs_api_free(sl_jobs_api *a);
/* One run as a JSON object line (a trailing '\n' is ignored). A line that
 * is not a whole object with a "start_time" in ISO 8601 UTC is not served
 * (a truncated record has no place in a JSON listing). */
void sl_jobs_api_add(sl_jobs_api *a, const char *line, size_t n);
/* Listens on addr (HOST:PORT, port 0: any free one), prints
 * "jobs API: http://HOST:PORT/api/2.1/jobs/runs/list" on stdout, and serves
 * until SIGINT or SIGTERM. token: when not empty, requests need
 * "Authorization: Bearer TOKEN" (401 otherwise). Returns 0, or 1 when it
 * cannot listen (message on stderr). */
int sl_jobs_api_serve(sl_jobs_api *a, const char *addr, const char *token);

#endif
