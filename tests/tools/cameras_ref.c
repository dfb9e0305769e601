/*
 * cameras_ref.c - the exact answer for the cameras pipeline, by brute force.
 *
 *   cameras_ref IN_DIR LOCATIONS_CSV OUT_DB
 *
 * Recomputes every output of the cameras flavor from the generated input,
 * independently of the engine: no src/formats, no operators. JSON is read
 * with SQLite's JSON1 functions (json_valid, json_type, json_extract), not
 * simdjson; the CSV with the RFC 4180 loop below; state is plain C arrays.
 * Each step is the simplest code that states the rule, so a disagreement
 * with the engine points at the engine (or at an ambiguity worth fixing in
 * both). The semantics, which the engine implements too:
 *
 * Input order. Files IN_DIR/ *.ndjson whose name does not start with '.',
 * in byte order of name; lines in file order. A line is the bytes up to
 * '\n' (without it); a last line without '\n' counts as a line. Lines that
 * are empty or only JSON whitespace (space, tab, CR) are skipped and not
 * counted.
 *
 * For each line, in order, the first rule that applies:
 *  1. not valid JSON (RFC 8259, strict: json_valid; invalid UTF-8 or a NUL
 *     byte also counts as invalid), or not a JSON object
 *     -> quarantine kind 'malformed'.
 *  2. detection_oid, video_camera_oid, geographical_location_oid or
 *     timestamp_detected present, not null, and not a JSON integer that fits
 *     in int64 (1.0, 1e3, "5", true, 2^63 are all wrong); or item_name
 *     present, not null and not a string -> kind 'type'.
 *  3. detection_oid, geographical_location_oid or timestamp_detected missing
 *     or null -> kind 'missing'. (video_camera_oid and item_name may be.)
 *  4. t = timestamp_detected (epoch ms). maxT = max t over all records that
 *     reached this step before (initially none). If maxT exists and
 *     t < maxT - 120000 -> kind 'late'. Otherwise maxT = max(maxT, t).
 *  5. Dedupe on detection_oid with a 120 s horizon: per key, t_kept = t of
 *     the last occurrence that was not a duplicate. The record is a
 *     duplicate iff the key has a t_kept and |t - t_kept| <= 120000;
 *     otherwise it is kept and t_kept = t.
 * If a key appears twice in one object, the first occurrence counts (what
 * SQLite's json_extract does). Every record that passes 1-4 is a bronze row
 * (raw_detection_events) with is_duplicate 0/1. Every non-duplicate is a
 * silver row (detection_events), left-joined with LOCATIONS_CSV on
 * geographical_location_oid (geographical_location NULL when absent).
 *
 * Gold: detections_by_location_1m / _1h group silver rows by
 * window_start = floor(t / 60000) * 60000 (resp. 3600000) written as
 * 'YYYY-MM-DDTHH:MM:SSZ' (UTC), geographical_location_oid and
 * geographical_location: detections = count(*), distinct_cameras =
 * count(DISTINCT video_camera_oid) (NULLs not counted), is_final = 1.
 *
 * LOCATIONS_CSV: RFC 4180 with a header row naming the columns
 * geographical_location_oid (an integer) and geographical_location; quoted
 * fields may hold commas, doubled quotes and newlines. A repeated oid is an
 * error (the lookup would be ambiguous).
 *
 * OUT_DB is created fresh with the tables raw_detection_events,
 * detection_events, detections_by_location_1m, detections_by_location_1h,
 * quarantine(kind, raw) and counts(name, n); the counts are printed too.
 * Exit status: 0 done, 1 failure (message on stderr), 2 bad usage.
 */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#define HORIZON_MS 120000
#define LATENESS_MS 120000

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fputs("cameras_ref: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(1);
}

static void *xrealloc(void *p, size_t n) {
    void *q = realloc(p, n ? n : 1);
    if (!q) die("out of memory");
    return q;
}

/* ---- an int64 -> int64 map: open addressing, linear probing ------------- */

typedef struct {
    int64_t *key, *val;
    uint8_t *used;
    size_t cap, n; /* cap is a power of two, n <= cap / 2 */
} i64map;

static size_t mix(int64_t k) {
    uint64_t x = (uint64_t)k;
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ULL;
    x ^= x >> 33;
    return (size_t)x;
}

static void map_init(i64map *m, size_t cap) {
    m->cap = cap;
    m->n = 0;
    m->key = xrealloc(NULL, cap * sizeof *m->key);
    m->val = xrealloc(NULL, cap * sizeof *m->val);
    m->used = calloc(cap, 1);
    if (!m->used) die("out of memory");
}

static void map_fini(i64map *m) {
    free(m->key);
    free(m->val);
    free(m->used);
}

/* Returns the slot of k: used[slot] says whether k is present. */
static size_t map_slot(const i64map *m, int64_t k) {
    size_t i = mix(k) & (m->cap - 1);
    while (m->used[i] && m->key[i] != k)
        i = (i + 1) & (m->cap - 1);
    return i;
}

static int64_t *map_get(const i64map *m, int64_t k) {
    size_t i = map_slot(m, k);
    return m->used[i] ? &m->val[i] : NULL;
}

static void map_put(i64map *m, int64_t k, int64_t v) {
    if (2 * (m->n + 1) > m->cap) {
        i64map big;
        map_init(&big, m->cap * 2);
        for (size_t i = 0; i < m->cap; i++)
            if (m->used[i]) map_put(&big, m->key[i], m->val[i]);
        map_fini(m);
        *m = big;
    }
    size_t i = map_slot(m, k);
    if (!m->used[i]) {
        m->used[i] = 1;
        m->key[i] = k;
        m->n++;
    }
    m->val[i] = v;
}

/* ---- files -------------------------------------------------------------- */

static char *read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) die("cannot open %s: %s", path, strerror(errno));
    size_t cap = 1 << 20, n = 0;
    char *b = xrealloc(NULL, cap);
    for (;;) {
        if (n == cap) b = xrealloc(b, cap *= 2);
        size_t got = fread(b + n, 1, cap - n, f);
        n += got;
        if (got == 0) break;
    }
    if (ferror(f)) die("cannot read %s: %s", path, strerror(errno));
    fclose(f);
    *len = n;
    return b;
}

static int cmp_name(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b); /* strcmp = byte order */
}

/* ---- locations.csv (RFC 4180) ------------------------------------------ */

typedef struct {
    char **names; /* names[i] of location i, located through the map */
    size_t n;
    i64map by_oid; /* oid -> index into names */
} locations;

/* Reads one CSV record starting at *pos into fields (each malloc'd);
 * returns the number of fields, 0 at end of input. */
static size_t csv_record(const char *b, size_t len, size_t *pos, char ***fields, size_t *cap,
                         const char *path, int *lineno) {
    size_t i = *pos, nf = 0;
    if (i >= len) return 0;
    for (;;) {
        char *v = NULL;
        size_t vn = 0, vcap = 0;
        if (i < len && b[i] == '"') {
            i++;
            for (;;) {
                if (i >= len) die("%s:%d: unterminated quoted field", path, *lineno);
                if (b[i] == '"') {
                    if (i + 1 < len && b[i + 1] == '"') {
                        i++;
                    } else {
                        i++;
                        break;
                    }
                }
                if (b[i] == '\n') (*lineno)++;
                if (vn + 1 >= vcap) v = xrealloc(v, vcap = vcap * 2 + 16);
                v[vn++] = b[i++];
            }
            if (i < len && b[i] != ',' && b[i] != '\n' && b[i] != '\r')
                die("%s:%d: text after a closing quote", path, *lineno);
        } else {
            while (i < len && b[i] != ',' && b[i] != '\n' && b[i] != '\r') {
                if (b[i] == '"') die("%s:%d: quote inside an unquoted field", path, *lineno);
                if (vn + 1 >= vcap) v = xrealloc(v, vcap = vcap * 2 + 16);
                v[vn++] = b[i++];
            }
        }
        if (!v) v = xrealloc(NULL, 1);
        v[vn] = '\0';
        if (nf == *cap) *fields = xrealloc(*fields, (*cap = *cap * 2 + 4) * sizeof **fields);
        (*fields)[nf++] = v;
        if (i < len && b[i] == ',') {
            i++;
            continue;
        }
        if (i < len && b[i] == '\r') i++;
        if (i < len && b[i] == '\n') i++;
        (*lineno)++;
        break;
    }
    *pos = i;
    return nf;
}

static void load_locations(locations *L, const char *path) {
    size_t len, pos = 0, cap = 0, nf;
    char *b = read_file(path, &len);
    char **f = NULL;
    int lineno = 1;
    long c_oid = -1, c_name = -1;
    size_t ncols = csv_record(b, len, &pos, &f, &cap, path, &lineno);
    for (size_t k = 0; k < ncols; k++) {
        if (!strcmp(f[k], "geographical_location_oid")) c_oid = (long)k;
        if (!strcmp(f[k], "geographical_location")) c_name = (long)k;
        free(f[k]);
    }
    if (c_oid < 0 || c_name < 0)
        die("%s:1: header must name geographical_location_oid and geographical_location", path);
    map_init(&L->by_oid, 1024);
    L->names = NULL;
    L->n = 0;
    for (;;) {
        int at = lineno;
        nf = csv_record(b, len, &pos, &f, &cap, path, &lineno);
        if (nf == 0) break;
        if (nf == 1 && f[0][0] == '\0') { /* a blank line */
            free(f[0]);
            continue;
        }
        if (nf != ncols) die("%s:%d: %zu fields, the header has %zu", path, at, nf, ncols);
        char *end;
        errno = 0;
        long long oid = strtoll(f[c_oid], &end, 10);
        if (errno || end == f[c_oid] || *end)
            die("%s:%d: geographical_location_oid '%s' is not an integer", path, at, f[c_oid]);
        if (map_get(&L->by_oid, oid))
            die("%s:%d: geographical_location_oid %lld repeated", path, at, oid);
        L->names = xrealloc(L->names, (L->n + 1) * sizeof *L->names);
        L->names[L->n] = f[c_name];
        map_put(&L->by_oid, oid, (int64_t)L->n);
        L->n++;
        for (size_t k = 0; k < nf; k++)
            if ((long)k != c_name) free(f[k]);
    }
    free(f);
    free(b);
}

/* ---- the output database ------------------------------------------------ */

static sqlite3 *db;

static void exec(const char *sql) {
    char *err = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK) die("sqlite: %s\n  in: %s", err, sql);
}

static sqlite3_stmt *prepare(const char *sql) {
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        die("sqlite: %s\n  in: %s", sqlite3_errmsg(db), sql);
    return st;
}

static void step_done(sqlite3_stmt *st) {
    if (sqlite3_step(st) != SQLITE_DONE) die("sqlite: %s", sqlite3_errmsg(db));
    sqlite3_reset(st);
}

static const char *k_schema =
    "CREATE TABLE raw_detection_events(detection_oid INTEGER, video_camera_oid INTEGER,"
    " geographical_location_oid INTEGER, item_name TEXT, timestamp_detected INTEGER,"
    " is_duplicate INTEGER);"
    "CREATE TABLE detection_events(detection_oid INTEGER, video_camera_oid INTEGER,"
    " geographical_location_oid INTEGER, item_name TEXT, timestamp_detected INTEGER,"
    " geographical_location TEXT);"
    "CREATE TABLE detections_by_location_1m(window_start TEXT, geographical_location_oid INTEGER,"
    " geographical_location TEXT, detections INTEGER, distinct_cameras INTEGER,"
    " is_final INTEGER);"
    "CREATE TABLE detections_by_location_1h(window_start TEXT, geographical_location_oid INTEGER,"
    " geographical_location TEXT, detections INTEGER, distinct_cameras INTEGER,"
    " is_final INTEGER);"
    "CREATE TABLE quarantine(kind TEXT, raw TEXT);"
    "CREATE TABLE counts(name TEXT, n INTEGER);";

/* ---- gold ------------------------------------------------------------- */

/* Gold is a GROUP BY over silver. Done in C rather than SQL because SQLite's
 * sorter takes ~10 s on 2 M rows here: sort (window, location, camera)
 * triples, then one scan counts rows and distinct cameras per group. */
typedef struct {
    int64_t w; /* window start, ms; t while collecting */
    int64_t loc;
    int64_t cam;
    int has_cam; /* 0 when video_camera_oid was missing or null */
} gold_row;

static int cmp_gold(const void *pa, const void *pb) {
    const gold_row *a = pa, *b = pb;
    if (a->w != b->w) return a->w < b->w ? -1 : 1;
    if (a->loc != b->loc) return a->loc < b->loc ? -1 : 1;
    if (a->has_cam != b->has_cam) return a->has_cam - b->has_cam;
    if (a->cam != b->cam) return a->cam < b->cam ? -1 : 1;
    return 0;
}

static int64_t floor_div(int64_t a, int64_t b) {
    int64_t q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

static void gold_table(const char *table, const gold_row *silver, size_t n, int64_t size_ms,
                       const i64map *loc_by_oid, char **loc_names) {
    gold_row *g = xrealloc(NULL, n * sizeof *g);
    for (size_t i = 0; i < n; i++) {
        g[i] = silver[i];
        g[i].w = floor_div(silver[i].w, size_ms) * size_ms;
    }
    qsort(g, n, sizeof *g, cmp_gold);
    char sql[256];
    snprintf(sql, sizeof sql, "INSERT INTO %s VALUES(?1, ?2, ?3, ?4, ?5, 1)", table);
    sqlite3_stmt *ins = prepare(sql);
    for (size_t i = 0; i < n;) {
        size_t j = i;
        int64_t distinct = 0;
        for (; j < n && g[j].w == g[i].w && g[j].loc == g[i].loc; j++)
            if (g[j].has_cam && (j == i || !g[j - 1].has_cam || g[j - 1].cam != g[j].cam))
                distinct++;
        time_t secs = (time_t)(g[i].w / 1000);
        struct tm tm;
        char ws[64];
        if (!gmtime_r(&secs, &tm) || !strftime(ws, sizeof ws, "%Y-%m-%dT%H:%M:%SZ", &tm))
            die("window start %" PRId64 " ms cannot be formatted", g[i].w);
        sqlite3_bind_text(ins, 1, ws, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(ins, 2, g[i].loc);
        int64_t *idx = map_get(loc_by_oid, g[i].loc);
        if (idx)
            sqlite3_bind_text(ins, 3, loc_names[*idx], -1, SQLITE_STATIC);
        else
            sqlite3_bind_null(ins, 3);
        sqlite3_bind_int64(ins, 4, (int64_t)(j - i));
        sqlite3_bind_int64(ins, 5, distinct);
        step_done(ins);
        i = j;
    }
    sqlite3_finalize(ins);
    free(g);
}

/* ---- one line ----------------------------------------------------------- */

enum { K_MALFORMED, K_TYPE, K_MISSING, K_LATE, N_KINDS };
static const char *const k_kind[N_KINDS] = {"malformed", "type", "missing", "late"};

/* The five fields in the order of the SELECT below. */
enum { F_OID, F_CAM, F_LOC, F_ITEM, F_TS, N_FIELDS };

typedef struct {
    sqlite3_stmt *parse, *ins_raw, *ins_silver, *ins_quar;
    locations loc;
    i64map kept; /* detection_oid -> t_kept */
    int have_max;
    int64_t max_t;
    int64_t n_lines, n_bronze, n_silver, n_dup, n_kind[N_KINDS];
    gold_row *silver; /* (t, location, camera) of every silver row, for gold */
    size_t silver_cap;
} ref;

/* Strict UTF-8 (no overlongs, no surrogates, <= U+10FFFF) and no NUL. */
static int utf8_ok(const unsigned char *s, size_t n) {
    size_t i = 0;
    while (i < n) {
        unsigned c = s[i];
        if (c == 0) return 0;
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t k;
        unsigned cp, min;
        if ((c & 0xE0) == 0xC0)
            k = 1, cp = c & 0x1F, min = 0x80;
        else if ((c & 0xF0) == 0xE0)
            k = 2, cp = c & 0x0F, min = 0x800;
        else if ((c & 0xF8) == 0xF0)
            k = 3, cp = c & 0x07, min = 0x10000;
        else
            return 0;
        for (size_t j = 1; j <= k; j++) {
            if (i + j >= n || (s[i + j] & 0xC0) != 0x80) return 0;
            cp = (cp << 6) | (s[i + j] & 0x3F);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
        i += k + 1;
    }
    return 1;
}

static void quarantine(ref *r, int kind, const char *line, size_t n) {
    sqlite3_bind_text(r->ins_quar, 1, k_kind[kind], -1, SQLITE_STATIC);
    sqlite3_bind_text(r->ins_quar, 2, line, (int)n, SQLITE_STATIC);
    step_done(r->ins_quar);
    r->n_kind[kind]++;
}

static void process_line(ref *r, const char *line, size_t n) {
    size_t k = 0;
    while (k < n && (line[k] == ' ' || line[k] == '\t' || line[k] == '\r'))
        k++;
    if (k == n) return; /* empty or only whitespace: skipped, not counted */
    r->n_lines++;

    /* 1. valid JSON object */
    if (!utf8_ok((const unsigned char *)line, n)) return quarantine(r, K_MALFORMED, line, n);
    sqlite3_stmt *st = r->parse;
    sqlite3_bind_text(st, 1, line, (int)n, SQLITE_STATIC);
    if (sqlite3_step(st) != SQLITE_ROW) die("sqlite: %s", sqlite3_errmsg(db));
    const unsigned char *top = sqlite3_column_text(st, 0);
    if (!top || strcmp((const char *)top, "object") != 0) {
        sqlite3_reset(st);
        return quarantine(r, K_MALFORMED, line, n);
    }

    /* 2. types; 3. required fields (column 1 + 2f: json_type, 2 + 2f: value) */
    int present[N_FIELDS], bad_type = 0;
    int64_t v[N_FIELDS] = {0};
    for (int f = 0; f < N_FIELDS; f++) {
        const char *t = (const char *)sqlite3_column_text(st, 1 + 2 * f);
        present[f] = t && strcmp(t, "null") != 0;
        if (!present[f]) continue;
        if (f == F_ITEM) {
            if (strcmp(t, "text") != 0) bad_type = 1;
        } else if (strcmp(t, "integer") != 0 ||
                   sqlite3_column_type(st, 2 + 2 * f) != SQLITE_INTEGER) {
            bad_type = 1; /* not an integer, or one that does not fit int64 */
        } else {
            v[f] = sqlite3_column_int64(st, 2 + 2 * f);
        }
    }
    if (bad_type) {
        sqlite3_reset(st);
        return quarantine(r, K_TYPE, line, n);
    }
    if (!present[F_OID] || !present[F_LOC] || !present[F_TS]) {
        sqlite3_reset(st);
        return quarantine(r, K_MISSING, line, n);
    }

    /* 4. lateness against the running maximum */
    int64_t t = v[F_TS];
    if (r->have_max && t < r->max_t - LATENESS_MS) {
        sqlite3_reset(st);
        return quarantine(r, K_LATE, line, n);
    }
    if (!r->have_max || t > r->max_t) r->max_t = t;
    r->have_max = 1;

    /* 5. dedupe with a horizon, against the last kept occurrence */
    int64_t *kept = map_get(&r->kept, v[F_OID]);
    int64_t d = kept ? t - *kept : 0;
    int dup = kept && (d < 0 ? -d : d) <= HORIZON_MS;
    if (!dup) map_put(&r->kept, v[F_OID], t);

    /* the row: bronze always, silver when not a duplicate */
    sqlite3_stmt *outs[2] = {r->ins_raw, dup ? NULL : r->ins_silver};
    for (int o = 0; o < 2 && outs[o]; o++) {
        sqlite3_stmt *ins = outs[o];
        sqlite3_bind_int64(ins, 1, v[F_OID]);
        if (present[F_CAM])
            sqlite3_bind_int64(ins, 2, v[F_CAM]);
        else
            sqlite3_bind_null(ins, 2);
        sqlite3_bind_int64(ins, 3, v[F_LOC]);
        if (present[F_ITEM])
            sqlite3_bind_text(ins, 4, (const char *)sqlite3_column_text(st, 2 + 2 * F_ITEM),
                              sqlite3_column_bytes(st, 2 + 2 * F_ITEM), SQLITE_TRANSIENT);
        else
            sqlite3_bind_null(ins, 4);
        sqlite3_bind_int64(ins, 5, t);
        if (o == 0) {
            sqlite3_bind_int(ins, 6, dup);
        } else {
            int64_t *idx = map_get(&r->loc.by_oid, v[F_LOC]);
            if (idx)
                sqlite3_bind_text(ins, 6, r->loc.names[*idx], -1, SQLITE_STATIC);
            else
                sqlite3_bind_null(ins, 6);
        }
        step_done(ins);
    }
    sqlite3_reset(st);
    r->n_bronze++;
    if (dup) {
        r->n_dup++;
    } else {
        if (r->n_silver == (int64_t)r->silver_cap)
            r->silver =
                xrealloc(r->silver, (r->silver_cap = r->silver_cap * 2 + 4096) * sizeof *r->silver);
        r->silver[r->n_silver++] =
            (gold_row){.w = t, .loc = v[F_LOC], .cam = v[F_CAM], .has_cam = present[F_CAM]};
    }
}

static void process_file(ref *r, const char *path) {
    size_t len;
    char *b = read_file(path, &len);
    size_t i = 0;
    while (i < len) {
        const char *nl = memchr(b + i, '\n', len - i);
        size_t end = nl ? (size_t)(nl - b) : len;
        process_line(r, b + i, end - i);
        i = end + 1;
    }
    free(b);
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: cameras_ref IN_DIR LOCATIONS_CSV OUT_DB\n");
        return 2;
    }
    const char *in_dir = argv[1], *loc_csv = argv[2], *out_db = argv[3];
    double t_begin = now_s();
    ref r;
    memset(&r, 0, sizeof r);
    load_locations(&r.loc, loc_csv);
    map_init(&r.kept, 1 << 16);

    /* the input files, in byte order of name */
    DIR *d = opendir(in_dir);
    if (!d) die("cannot open %s: %s", in_dir, strerror(errno));
    char **names = NULL;
    size_t nnames = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t l = strlen(e->d_name);
        if (e->d_name[0] == '.' || l < 7 || strcmp(e->d_name + l - 7, ".ndjson") != 0) continue;
        names = xrealloc(names, (nnames + 1) * sizeof *names);
        names[nnames++] = strdup(e->d_name);
    }
    closedir(d);
    qsort(names, nnames, sizeof *names, cmp_name);

    /* a fresh database */
    const char *suffix[] = {"", "-journal", "-wal", "-shm"};
    for (int s = 0; s < 4; s++) {
        char p[4096];
        snprintf(p, sizeof p, "%s%s", out_db, suffix[s]);
        if (unlink(p) != 0 && errno != ENOENT) die("cannot remove %s: %s", p, strerror(errno));
    }
    sqlite3_config(SQLITE_CONFIG_SINGLETHREAD); /* no mutexes: one thread here */
    sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
    if (sqlite3_open(out_db, &db) != SQLITE_OK)
        die("cannot open %s: %s", out_db, sqlite3_errmsg(db));
    exec("PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF; PRAGMA cache_size=-65536;");
    exec(k_schema);
    exec("BEGIN");
    /* One statement per line: the subquery computes the top-level type once
     * (NULL when invalid), the CASE guards keep json_type/json_extract off
     * invalid text (they would raise an error), and SQLite's per-statement
     * parse cache parses the line once for all eleven calls. */
    static const char *fields[N_FIELDS] = {"detection_oid", "video_camera_oid",
                                           "geographical_location_oid", "item_name",
                                           "timestamp_detected"};
    char q[2048];
    int qn = snprintf(q, sizeof q, "SELECT t");
    for (int f = 0; f < N_FIELDS; f++)
        qn += snprintf(q + qn, sizeof q - (size_t)qn,
                       ", CASE WHEN t = 'object' THEN json_type(?1, '$.%s') END"
                       ", CASE WHEN t = 'object' THEN json_extract(?1, '$.%s') END",
                       fields[f], fields[f]);
    snprintf(q + qn, sizeof q - (size_t)qn,
             " FROM (SELECT CASE WHEN json_valid(?1) THEN json_type(?1) END AS t)");
    r.parse = prepare(q);
    r.ins_raw = prepare("INSERT INTO raw_detection_events VALUES(?1, ?2, ?3, ?4, ?5, ?6)");
    r.ins_silver = prepare("INSERT INTO detection_events VALUES(?1, ?2, ?3, ?4, ?5, ?6)");
    r.ins_quar = prepare("INSERT INTO quarantine VALUES(?1, ?2)");

    size_t nfiles = nnames;
    for (size_t i = 0; i < nnames; i++) {
        char p[4096];
        snprintf(p, sizeof p, "%s/%s", in_dir, names[i]);
        process_file(&r, p);
        free(names[i]);
    }
    free(names);

    gold_table("detections_by_location_1m", r.silver, (size_t)r.n_silver, 60000, &r.loc.by_oid,
               r.loc.names);
    gold_table("detections_by_location_1h", r.silver, (size_t)r.n_silver, 3600000, &r.loc.by_oid,
               r.loc.names);
    free(r.silver);

    /* the counts reconcile: every counted line lands in exactly one place */
    int64_t quarantined = 0;
    for (int k = 0; k < N_KINDS; k++)
        quarantined += r.n_kind[k];
    if (r.n_lines != r.n_bronze + quarantined || r.n_bronze != r.n_silver + r.n_dup)
        die("internal error: counts do not reconcile");
    struct {
        const char *name;
        int64_t n;
    } counts[] = {{"lines", r.n_lines},
                  {"bronze", r.n_bronze},
                  {"silver", r.n_silver},
                  {"duplicates", r.n_dup},
                  {"malformed", r.n_kind[K_MALFORMED]},
                  {"type", r.n_kind[K_TYPE]},
                  {"missing", r.n_kind[K_MISSING]},
                  {"late", r.n_kind[K_LATE]}};
    sqlite3_stmt *ins = prepare("INSERT INTO counts VALUES(?1, ?2)");
    for (size_t i = 0; i < sizeof counts / sizeof counts[0]; i++) {
        sqlite3_bind_text(ins, 1, counts[i].name, -1, SQLITE_STATIC);
        sqlite3_bind_int64(ins, 2, counts[i].n);
        step_done(ins);
        printf("%-10s %" PRId64 "\n", counts[i].name, counts[i].n);
    }
    exec("COMMIT");
    sqlite3_stmt *sts[] = {ins, r.parse, r.ins_raw, r.ins_silver, r.ins_quar};
    for (size_t i = 0; i < sizeof sts / sizeof sts[0]; i++)
        sqlite3_finalize(sts[i]);
    if (sqlite3_close(db) != SQLITE_OK) die("cannot close %s", out_db);
    fprintf(stderr, "cameras_ref: %zu files, %" PRId64 " lines in %.2f s\n", nfiles, r.n_lines,
            now_s() - t_begin);
    for (size_t i = 0; i < r.loc.n; i++)
        free(r.loc.names[i]);
    free(r.loc.names);
    map_fini(&r.loc.by_oid);
    map_fini(&r.kept);
    return 0;
}
