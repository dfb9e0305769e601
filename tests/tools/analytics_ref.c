/*
 * analytics_ref.c - the exact answer for the analytics accuracy test, by
 * brute force.
 *
 *   analytics_ref IN_DIR OUT_DB
 *
 * Recomputes what tests/integration/analytics/analytics.yaml should produce
 * from the lines analytics_gen wrote, independently of the engine: no
 * src/formats, src/ops or src/sketch. Lines are read with strtoll/strtod
 * (the generator's fixed field order), windows are formed by sorting,
 * quantiles are read from the sorted values, distinct counts are counted
 * after sorting, variances use two passes in long double. The result goes
 * to OUT_DB (SQLite, created fresh) as plain tables the test compares with
 * the engine's, each value within the bound the docs declare for it.
 *
 * Semantics (the same rules the engine documents in docs/pipeline-spec.md):
 *  - input: IN_DIR/ *.ndjson not starting with '.', in byte order of name;
 *    lines in file order. Each line {"ts":MS,"key":"K","value":V|null,
 *    "score":S,"user":U}.
 *  - watermark: maxT over the lines before; a line with ts < maxT - 120000
 *    is late (counted, not aggregated).
 *  - windows: a row with event time t (ms) is in the tumbling window
 *    [floor(t/W)*W, +W) (W = 5 min, 1 h) and in the hopping windows
 *    [s, s + 10 min) for s = k * 5 min with s <= t < s + 10 min. Groups are
 *    (window_start, key); window_start is written 'YYYY-MM-DDTHH:MM:SSZ'.
 *  - per group: n = rows; nv = rows with a value; quantile q = the value of
 *    0-based rank floor(q*(nv-1)) of the sorted values (NULL when nv = 0);
 *    var = sample variance (nv-1), sd = sqrt(var) (NULL when nv < 2);
 *    users_exact = distinct users; vmin/vmax; max_by(user, score) = the user
 *    of the row with the largest score, ties by earliest ts, then smallest
 *    user; min_by(user, score) the same with the smallest score;
 *    max_by(user, value) over rows with a value (largest value, then
 *    earliest ts, then smallest user).
 *  - anomaly (per key, its 5-minute rows in window order; x = n): the
 *    baseline is the previous min(12, count) values of the key. mean and
 *    sample stddev of the baseline (NULL when empty / fewer than 2); when the
 *    baseline holds >= 6 values: zscore = (x - mean) / sd (NULL when
 *    sd = 0), robust_z = 0.6745 (x - median) / MAD with MAD = median of
 *    |v - median| (NULL when MAD = 0; medians of an even count are the mean
 *    of the two middle values); is_anomaly = |zscore| > 3 or |robust_z| >
 *    3.5; severity = 'critical' when max(|zscore|, |robust_z|) >= 6 (NULLs
 *    skipped), else 'warning' when is_anomaly, else NULL.
 *  - health: volume_penalty = 30 if n > 3000, 10 if n > 1000, else 0;
 *    anomaly_penalty = 40 if is_anomaly else 0; peak_penalty = 20 if
 *    vmax > 100000, 5 if vmax > 10000, 0 otherwise, NULL when vmax is NULL
 *    (counted as 0); health_score = clamp(100 - sum, 0, 100); status
 *    healthy >= 80, degraded >= 50, else critical; health_trend = score -
 *    mean(previous <= 3 scores of the key): > 2 improving, < -2 degrading,
 *    else stable; NULL without a previous score.
 *
 * Tables: stats_5m, stats_1h (window_start, key, n, nv, p01, p50, p90, p99,
 * p999, sd, var, users_exact, vmin, vmax, top_user, low_user, peak_user),
 * stats_hop (window_start, key, n, p50, p95, top_user), key_health
 * (window_start, key, n, baseline_mean, baseline_stddev, zscore, robust_z,
 * is_anomaly, severity, volume_penalty, anomaly_penalty, peak_penalty,
 * health_score, health_trend, health_status) and counts(name, n).
 * Exit status: 0 done, 1 failure, 2 bad usage.
 */
#include <dirent.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sqlite3.h>

#define LATENESS_MS 120000
#define MIN5 INT64_C(300000)
#define HOUR INT64_C(3600000)
#define RING 12
#define RING_MIN 6

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fputs("analytics_ref: ", stderr);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    exit(1);
}

typedef struct {
    int64_t ts;
    int key; /* 0..99 from "kNN" */
    int has_v;
    double v;
    int64_t score, user;
    int64_t seq; /* input order */
} rec;

static rec *recs;
static size_t nrec, caprec;
static int64_t nlate, nlines;

static const char *field(const char *line, const char *name) {
    const char *p = strstr(line, name);
    if (!p) return NULL;
    return p + strlen(name);
}

static void parse_line(const char *line, const char *file) {
    rec r = {0};
    const char *p;
    char *end;
    if (!(p = field(line, "\"ts\":"))) die("%s: no ts in '%s'", file, line);
    r.ts = strtoll(p, &end, 10);
    if (!(p = field(line, "\"key\":\"k"))) die("%s: no key in '%s'", file, line);
    r.key = (int)strtol(p, &end, 10);
    if (!(p = field(line, "\"value\":"))) die("%s: no value in '%s'", file, line);
    if (!strncmp(p, "null", 4))
        r.has_v = 0;
    else
        r.has_v = 1, r.v = strtod(p, &end);
    if (!(p = field(line, "\"score\":"))) die("%s: no score", file);
    r.score = strtoll(p, &end, 10);
    if (!(p = field(line, "\"user\":"))) die("%s: no user", file);
    r.user = strtoll(p, &end, 10);
    static int have_max = 0;
    static int64_t max_t;
    nlines++;
    if (have_max && r.ts < max_t - LATENESS_MS) {
        nlate++;
        return;
    }
    if (!have_max || r.ts > max_t) max_t = r.ts, have_max = 1;
    r.seq = (int64_t)nrec;
    if (nrec == caprec) {
        caprec = caprec ? caprec * 2 : 1 << 16;
        recs = realloc(recs, caprec * sizeof *recs);
    }
    recs[nrec++] = r;
}

static int cmp_name(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void read_dir(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) die("cannot open %s", dir);
    char **names = NULL;
    size_t nn = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t l = strlen(e->d_name);
        if (e->d_name[0] == '.' || l < 7 || strcmp(e->d_name + l - 7, ".ndjson")) continue;
        names = realloc(names, (nn + 1) * sizeof *names);
        names[nn++] = strdup(e->d_name);
    }
    closedir(d);
    qsort(names, nn, sizeof *names, cmp_name);
    char path[4096], *line = NULL;
    size_t cap = 0;
    for (size_t i = 0; i < nn; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        FILE *f = fopen(path, "r");
        if (!f) die("cannot open %s", path);
        ssize_t len;
        while ((len = getline(&line, &cap, f)) > 0) {
            if (line[len - 1] == '\n') line[--len] = 0;
            if (len) parse_line(line, path);
        }
        fclose(f);
        free(names[i]);
    }
    free(line);
    free(names);
}

/* ---- windows ------------------------------------------------------------ */

typedef struct {
    int key;
    int64_t ws;
    size_t r; /* index into recs */
} member;

static int cmp_member(const void *a, const void *b) {
    const member *x = a, *y = b;
    if (x->key != y->key) return x->key < y->key ? -1 : 1;
    if (x->ws != y->ws) return x->ws < y->ws ? -1 : 1;
    return x->r < y->r ? -1 : x->r > y->r;
}

static int cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}
static int cmp_i(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

static int64_t floor_div(int64_t a, int64_t b) {
    return a / b - ((a % b != 0) && ((a < 0) != (b < 0)));
}

static void iso(int64_t ms, char *out) {
    time_t s = (time_t)floor_div(ms, 1000);
    struct tm tm;
    gmtime_r(&s, &tm);
    strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

typedef struct {
    int64_t ws;
    int key;
    int64_t n, nv, users;
    double q[5]; /* p01 p50 p90 p99 p999 (hop: p50 p95 in q[0], q[1]) */
    int has_q, has_var;
    double sd, var, vmin, vmax;
    int64_t top_user, low_user, peak_user;
    int has_top, has_low, has_peak;
} group;

/* -1/0/1: is row a better than row b for max_by (sign = +1) or min_by (-1) of `ord`? */
static int by_better(const rec *a, const rec *b, double oa, double ob, int sign) {
    if (oa != ob) return sign > 0 ? oa > ob : oa < ob;
    if (a->ts != b->ts) return a->ts < b->ts;
    return a->user < b->user;
}

static void compute(const member *m, size_t cnt, const double *qs, int nq, group *g, double *vals,
                    int64_t *users) {
    g->ws = m[0].ws;
    g->key = m[0].key;
    g->n = (int64_t)cnt;
    size_t nv = 0;
    const rec *top = NULL, *low = NULL, *peak = NULL;
    for (size_t i = 0; i < cnt; i++) {
        const rec *r = &recs[m[i].r];
        users[i] = r->user;
        if (r->has_v) vals[nv++] = r->v;
        if (!top || by_better(r, top, (double)r->score, (double)top->score, 1)) top = r;
        if (!low || by_better(r, low, (double)r->score, (double)low->score, -1)) low = r;
        if (r->has_v && (!peak || by_better(r, peak, r->v, peak->v, 1))) peak = r;
    }
    g->nv = (int64_t)nv;
    g->has_top = top != NULL, g->top_user = top ? top->user : 0;
    g->has_low = low != NULL, g->low_user = low ? low->user : 0;
    g->has_peak = peak != NULL, g->peak_user = peak ? peak->user : 0;
    qsort(users, cnt, sizeof *users, cmp_i);
    g->users = cnt ? 1 : 0;
    for (size_t i = 1; i < cnt; i++)
        g->users += users[i] != users[i - 1];
    g->has_q = nv > 0;
    g->has_var = nv > 1;
    if (nv) {
        qsort(vals, nv, sizeof *vals, cmp_d);
        for (int k = 0; k < nq; k++)
            g->q[k] = vals[(size_t)floor(qs[k] * (double)(nv - 1))];
        g->vmin = vals[0];
        g->vmax = vals[nv - 1];
        long double mean = 0, m2 = 0;
        for (size_t i = 0; i < nv; i++)
            mean += vals[i];
        mean /= (long double)nv;
        for (size_t i = 0; i < nv; i++)
            m2 += ((long double)vals[i] - mean) * ((long double)vals[i] - mean);
        if (nv > 1) {
            g->var = (double)(m2 / (long double)(nv - 1));
            g->sd = sqrt(g->var);
        }
    }
}

/* Groups of one windowing (tumbling size W, or hopping 10m/5m when hop). */
static group *make_groups(int64_t W, int hop, const double *qs, int nq, size_t *ng) {
    size_t nm = nrec * (hop ? 2 : 1);
    member *m = malloc(nm * sizeof *m);
    size_t k = 0;
    for (size_t i = 0; i < nrec; i++) {
        int64_t ws = floor_div(recs[i].ts, hop ? MIN5 : W) * (hop ? MIN5 : W);
        m[k++] = (member){recs[i].key, ws, i};
        if (hop) m[k++] = (member){recs[i].key, ws - MIN5, i};
    }
    qsort(m, k, sizeof *m, cmp_member);
    double *vals = malloc(k * sizeof *vals);
    int64_t *users = malloc(k * sizeof *users);
    group *g = NULL;
    size_t n = 0, cap = 0;
    for (size_t i = 0; i < k;) {
        size_t j = i;
        while (j < k && m[j].key == m[i].key && m[j].ws == m[i].ws)
            j++;
        if (n == cap) cap = cap ? cap * 2 : 1024, g = realloc(g, cap * sizeof *g);
        memset(&g[n], 0, sizeof g[n]);
        compute(m + i, j - i, qs, nq, &g[n++], vals, users);
        i = j;
    }
    free(m);
    free(vals);
    free(users);
    *ng = n;
    return g;
}

/* ---- output --------------------------------------------------------------- */

static sqlite3 *db;
static void exec(const char *sql) {
    char *err = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK) die("sqlite: %s in %s", err, sql);
}
static void bind_d(sqlite3_stmt *s, int i, int has, double v) {
    if (has && !isnan(v))
        sqlite3_bind_double(s, i, v);
    else
        sqlite3_bind_null(s, i);
}
static void bind_i(sqlite3_stmt *s, int i, int has, int64_t v) {
    if (has)
        sqlite3_bind_int64(s, i, v);
    else
        sqlite3_bind_null(s, i);
}
static void bind_t(sqlite3_stmt *s, int i, const char *v) {
    if (v)
        sqlite3_bind_text(s, i, v, -1, SQLITE_TRANSIENT);
    else
        sqlite3_bind_null(s, i);
}

static void write_stats(const char *table, const group *g, size_t n) {
    char sql[512];
    snprintf(sql, sizeof sql,
             "CREATE TABLE %s(window_start TEXT, key TEXT, n INT, nv INT, p01 REAL, p50 REAL, p90 "
             "REAL, p99 REAL, "
             "p999 REAL, sd REAL, var REAL, users_exact INT, vmin REAL, vmax REAL, top_user INT, "
             "low_user INT, "
             "peak_user INT)",
             table);
    exec(sql);
    snprintf(sql, sizeof sql, "INSERT INTO %s VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", table);
    sqlite3_stmt *s;
    if (sqlite3_prepare_v2(db, sql, -1, &s, NULL)) die("prepare: %s", sqlite3_errmsg(db));
    for (size_t i = 0; i < n; i++) {
        char ws[32], key[8];
        iso(g[i].ws, ws);
        snprintf(key, sizeof key, "k%02d", g[i].key);
        bind_t(s, 1, ws);
        bind_t(s, 2, key);
        sqlite3_bind_int64(s, 3, g[i].n);
        sqlite3_bind_int64(s, 4, g[i].nv);
        for (int k = 0; k < 5; k++)
            bind_d(s, 5 + k, g[i].has_q, g[i].q[k]);
        bind_d(s, 10, g[i].has_var, g[i].sd);
        bind_d(s, 11, g[i].has_var, g[i].var);
        sqlite3_bind_int64(s, 12, g[i].users);
        bind_d(s, 13, g[i].has_q, g[i].vmin);
        bind_d(s, 14, g[i].has_q, g[i].vmax);
        bind_i(s, 15, g[i].has_top, g[i].top_user);
        bind_i(s, 16, g[i].has_low, g[i].low_user);
        bind_i(s, 17, g[i].has_peak, g[i].peak_user);
        if (sqlite3_step(s) != SQLITE_DONE) die("insert: %s", sqlite3_errmsg(db));
        sqlite3_reset(s);
    }
    sqlite3_finalize(s);
}

static void write_hop(const group *g, size_t n) {
    exec("CREATE TABLE stats_hop(window_start TEXT, key TEXT, n INT, p50 REAL, p95 REAL, top_user "
         "INT)");
    sqlite3_stmt *s;
    sqlite3_prepare_v2(db, "INSERT INTO stats_hop VALUES(?,?,?,?,?,?)", -1, &s, NULL);
    for (size_t i = 0; i < n; i++) {
        char ws[32], key[8];
        iso(g[i].ws, ws);
        snprintf(key, sizeof key, "k%02d", g[i].key);
        bind_t(s, 1, ws);
        bind_t(s, 2, key);
        sqlite3_bind_int64(s, 3, g[i].n);
        bind_d(s, 4, g[i].has_q, g[i].q[0]);
        bind_d(s, 5, g[i].has_q, g[i].q[1]);
        bind_i(s, 6, g[i].has_top, g[i].top_user);
        if (sqlite3_step(s) != SQLITE_DONE) die("insert: %s", sqlite3_errmsg(db));
        sqlite3_reset(s);
    }
    sqlite3_finalize(s);
}

static double median_of(double *v, size_t n) { /* v sorted */
    return n & 1 ? v[n / 2] : v[n / 2 - 1] + (v[n / 2] - v[n / 2 - 1]) / 2;
}

/* Anomaly and health over the 5-minute groups (sorted by key, then window). */
static int64_t write_health(const group *g, size_t n) {
    exec("CREATE TABLE key_health(window_start TEXT, key TEXT, n INT, baseline_mean REAL, "
         "baseline_stddev REAL, "
         "zscore REAL, robust_z REAL, is_anomaly INT, severity TEXT, volume_penalty REAL, "
         "anomaly_penalty REAL, "
         "peak_penalty REAL, health_score REAL, health_trend TEXT, health_status TEXT)");
    sqlite3_stmt *s;
    sqlite3_prepare_v2(db, "INSERT INTO key_health VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", -1, &s,
                       NULL);
    int64_t anomalies = 0;
    static double hist[RING];
    static double scores[100000];
    size_t start = 0;
    for (size_t i = 0; i < n; i++) {
        if (i == 0 || g[i].key != g[i - 1].key) start = i;
        size_t prev = i - start; /* values of this key before this row */
        size_t nb = prev < RING ? prev : RING;
        const group *b0 = &g[i - nb];
        double x = (double)g[i].n;
        double mean = NAN, sd = NAN, z = NAN, rz = NAN;
        if (nb >= 1) {
            double sum = 0;
            for (size_t j = 0; j < nb; j++)
                sum += (double)b0[j].n;
            mean = sum / (double)nb;
        }
        if (nb >= 2) {
            double m2 = 0;
            for (size_t j = 0; j < nb; j++)
                m2 += ((double)b0[j].n - mean) * ((double)b0[j].n - mean);
            sd = sqrt(m2 / (double)(nb - 1));
        }
        if (nb >= RING_MIN) {
            if (sd > 0) z = (x - mean) / sd;
            for (size_t j = 0; j < nb; j++)
                hist[j] = (double)b0[j].n;
            qsort(hist, nb, sizeof *hist, cmp_d);
            double med = median_of(hist, nb);
            for (size_t j = 0; j < nb; j++)
                hist[j] = fabs(hist[j] - med);
            qsort(hist, nb, sizeof *hist, cmp_d);
            double mad = median_of(hist, nb);
            if (mad != 0) rz = 0.6745 * (x - med) / mad;
        }
        int anom = (!isnan(z) && fabs(z) > 3.0) || (!isnan(rz) && fabs(rz) > 3.5);
        anomalies += anom;
        double sc = isnan(z) ? fabs(rz) : isnan(rz) ? fabs(z) : fmax(fabs(z), fabs(rz));
        const char *sev = sc >= 6 ? "critical" : anom ? "warning" : NULL;
        double vol = x > 3000 ? 30 : x > 1000 ? 10 : 0;
        double ap = anom ? 40 : 0;
        int has_peak = g[i].has_q;
        double peak = !has_peak ? 0 : g[i].vmax > 100000 ? 20 : g[i].vmax > 10000 ? 5 : 0;
        double score = 100 - (vol + ap + peak);
        if (score < 0) score = 0;
        if (score > 100) score = 100;
        scores[i - start] = score;
        const char *trend = NULL;
        size_t np = prev < 3 ? prev : 3;
        if (np) {
            double sum = 0;
            for (size_t j = 1; j <= np; j++) /* newest first */
                sum += scores[i - start - j];
            double d = score - sum / (double)np;
            trend = d > 2 ? "improving" : d < -2 ? "degrading" : "stable";
        }
        const char *status = score >= 80 ? "healthy" : score >= 50 ? "degraded" : "critical";
        char ws[32], key[8];
        iso(g[i].ws, ws);
        snprintf(key, sizeof key, "k%02d", g[i].key);
        bind_t(s, 1, ws);
        bind_t(s, 2, key);
        sqlite3_bind_int64(s, 3, g[i].n);
        bind_d(s, 4, 1, mean);
        bind_d(s, 5, 1, sd);
        bind_d(s, 6, 1, z);
        bind_d(s, 7, 1, rz);
        sqlite3_bind_int(s, 8, anom);
        bind_t(s, 9, sev);
        sqlite3_bind_double(s, 10, vol);
        sqlite3_bind_double(s, 11, ap);
        bind_d(s, 12, has_peak, peak);
        sqlite3_bind_double(s, 13, score);
        bind_t(s, 14, trend);
        bind_t(s, 15, status);
        if (sqlite3_step(s) != SQLITE_DONE) die("insert: %s", sqlite3_errmsg(db));
        sqlite3_reset(s);
    }
    sqlite3_finalize(s);
    return anomalies;
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: analytics_ref IN_DIR OUT_DB\n");
        return 2;
    }
    read_dir(argv[1]);
    remove(argv[2]);
    if (sqlite3_open(argv[2], &db)) die("cannot open %s", argv[2]);
    exec("PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF; BEGIN");
    static const double q5[] = {0.01, 0.5, 0.9, 0.99, 0.999}, qh[] = {0.5, 0.95};
    size_t n5, n1, nh;
    group *g5 = make_groups(MIN5, 0, q5, 5, &n5);
    group *g1 = make_groups(HOUR, 0, q5, 5, &n1);
    group *gh = make_groups(0, 1, qh, 2, &nh);
    write_stats("stats_5m", g5, n5);
    write_stats("stats_1h", g1, n1);
    write_hop(gh, nh);
    int64_t anomalies = write_health(g5, n5);
    exec("CREATE TABLE counts(name TEXT, n INT)");
    char sql[256];
    snprintf(sql, sizeof sql,
             "INSERT INTO counts VALUES('lines', %" PRId64 "), ('late', %" PRId64
             "), ('anomalies', %" PRId64 ")",
             nlines, nlate, anomalies);
    exec(sql);
    exec("COMMIT");
    sqlite3_close(db);
    printf("analytics_ref: %" PRId64 " lines, %" PRId64
           " late, %zu 5m groups, %zu 1h groups, %zu hopping groups, %" PRId64 " anomalies\n",
           nlines, nlate, n5, n1, nh, anomalies);
    free(g5);
    free(g1);
    free(gh);
    free(recs);
    return 0;
}
