/*
 * cameras.c - `sluice gen cameras`: the camera-detections generator (seed 001).
 *
 * Writes DIR/locations.csv (the static lookup, one row per location oid
 * 1..N) and DIR/detections-NNNNNN.ndjson files, one JSON object per line:
 *   {"detection_oid":..,"video_camera_oid":..,"geographical_location_oid":..,
 *    "item_name":"..","timestamp_detected":<epoch ms>}
 * Every file is written as DIR/.NAME.tmp and renamed when complete, so a
 * landing-folder reader never sees half a file; names sort in write order.
 *
 * Two modes:
 *  --events N   N lines, event time advancing at --event-rate events/s from
 *               --start. No wall clock is read on the data path, so the
 *               bytes are a pure function of the arguments.
 *  --rate R     R lines per wall-clock second for --duration S (0 = until
 *               SIGINT/SIGTERM), one file every 0.5 s, event time = now.
 *
 * The model: C cameras, each fixed to one location; about 2% of cameras sit
 * at a location oid that is not in locations.csv (a left join yields NULL).
 * Line i has nominal event time start + i/event_rate minus 0-500 ms jitter.
 * Per line, in this order of draws:
 *  - with p = --malformed: a broken line (seven kinds, see k_malformed);
 *  - else with p = --dup: an exact copy of a good, on-time line from the
 *    last ~20 s of event time (a ring of recent records);
 *  - else a fresh record, whose timestamp with p = --late moves back by
 *    30-100 s (within the 2-minute allowed lateness) or 150-600 s (beyond).
 * Only fresh on-time records enter the ring, so with --malformed 0 each
 * redelivery is recognisable as a duplicate and the generator's duplicate
 * count equals the exact answer's. Randomness is xoshiro256** (rng.h).
 *
 * Options are one table (k_opts) that drives getopt_long, validation and
 * the usage text (gen/opts.c, shared with telco and retail).
 */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/timeutil.h"
#include "gen/gen.h"
#include "gen/landing.h"
#include "gen/opts.h"
#include "gen/rng.h"

/* ---- options ------------------------------------------------------------ */

typedef struct {
    int64_t events;
    double rate;
    double duration;
    uint64_t seed;
    double dup;
    double late;
    double malformed;
    const char *out;
    int64_t locations;
    int64_t cameras;
    int64_t file_events;
    double event_rate;
    int64_t start_ms;
} cam_opts;

#define OFF(f) offsetof(cam_opts, f)
static const sl_gen_opt k_opts[] = {
    {"events", SL_GOPT_I64, OFF(events), 0, 1e15, "N",
     "write N lines in total (deterministic mode)"},
    {"rate", SL_GOPT_DBL, OFF(rate), 1e-3, 1e8, "R", "real-time mode: R lines per second"},
    {"duration", SL_GOPT_DBL, OFF(duration), 0, 1e9, "S",
     "real-time mode: run S seconds (0 = forever)"},
    {"seed", SL_GOPT_U64, OFF(seed), 0, 0, "N", "random seed (default 1)"},
    {"dup", SL_GOPT_DBL, OFF(dup), 0, 1, "P", "probability of a redelivered duplicate (0.05)"},
    {"late", SL_GOPT_DBL, OFF(late), 0, 1, "P", "probability of a late timestamp (0.01)"},
    {"malformed", SL_GOPT_DBL, OFF(malformed), 0, 1, "P", "probability of a malformed line (0.0)"},
    {"out", SL_GOPT_STR, OFF(out), 0, 0, "DIR", "output folder (required; created if missing)"},
    {"locations", SL_GOPT_I64, OFF(locations), 1, 1e7, "N", "locations in locations.csv (50)"},
    {"cameras", SL_GOPT_I64, OFF(cameras), 1, 1e7, "N", "cameras (500)"},
    {"file-events", SL_GOPT_I64, OFF(file_events), 1, 1e12, "N",
     "lines per file (10000; --rate mode: a file every 0.5 s)"},
    {"event-rate", SL_GOPT_DBL, OFF(event_rate), 1e-3, 1e9, "R",
     "--events mode: events per second of event time (10000)"},
    {"start", SL_GOPT_TIME, OFF(start_ms), 0, 0, "ISO8601",
     "--events mode: time of the first event (2026-01-01T00:00:00Z)"},
};
#undef OFF
enum { N_OPTS = sizeof k_opts / sizeof k_opts[0] };

/* Returns 0 to run, 1 when --help was printed, 2 on bad use (usage on stderr). */
static int parse_args(int argc, char **argv, cam_opts *o) {
    *o = (cam_opts){.events = -1,
                    .rate = 0,
                    .duration = 0,
                    .seed = 1,
                    .dup = 0.05,
                    .late = 0.01,
                    .malformed = 0.0,
                    .locations = 50,
                    .cameras = 500,
                    .file_events = 0, /* 0 = mode default */
                    .event_rate = 10000,
                    .start_ms = 1767225600000LL /* 2026-01-01T00:00:00Z */};
    int rc = sl_gen_parse_opts(
        argc, argv, "cameras",
        "usage: sluice gen cameras --out DIR (--events N | --rate R [--duration S]) "
        "[options]\n\n"
        "Writes DIR/locations.csv and DIR/detections-NNNNNN.ndjson files.\n",
        k_opts, N_OPTS, o, &o->out, &o->events, &o->rate, &o->duration);
    if (rc) return rc;
    if (o->file_events == 0) o->file_events = o->events >= 0 ? 10000 : INT64_MAX;
    return 0;
}

/* ---- the model ---------------------------------------------------------- */

/* Named locations; a few need CSV quoting (comma, double quote). Beyond the
 * list, names repeat with " #2", " #3", ... so every name is unique. */
static const char *const k_places[] = {
    "Lisbon - Alfama",
    "Lisbon - Baixa",
    "Porto - Ribeira",
    "Madrid - Sol",
    "Barcelona - El Born",
    "Washington, D.C. - Georgetown",
    "Paris - Le Marais",
    "Lyon - Vieux Lyon",
    "Berlin - Mitte",
    "Munich - Schwabing",
    "Dublin - \"Temple Bar\"",
    "Rome - Trastevere",
    "Milan - Brera",
    "Amsterdam - Jordaan",
    "Brussels - Sablon",
    "Vienna - Innere Stadt",
    "Paris - Montmartre, 18e",
    "Prague - Mala Strana",
    "Warsaw - Praga",
    "London - King's Cross",
    "London - Soho",
    "Edinburgh - Old Town",
    "Oslo - Grunerlokka",
    "Stockholm - Sodermalm",
    "Copenhagen - Norrebro",
    "Helsinki - Kallio",
    "Athens - Plaka",
    "Budapest - Erzsebetvaros",
    "Zurich - Altstadt",
    "New York, NY - \"SoHo\"",
    "Lisbon - Belem",
    "Porto - Boavista",
    "Seville - Triana",
    "Valencia - Ruzafa",
    "Marseille - Le Panier",
    "Hamburg - St. Pauli",
    "Cologne - Altstadt-Nord",
    "Naples - Spaccanapoli",
    "Turin - San Salvario",
    "Rotterdam - Kop van Zuid",
    "Antwerp - Het Zuid",
    "Krakow - Kazimierz",
    "Manchester - Northern Quarter",
    "Glasgow - West End",
    "Bergen - Bryggen",
    "Gothenburg - Haga",
    "Aarhus - Latinerkvarteret",
    "Tallinn - Kalamaja",
    "Riga - Old Riga",
    "Vilnius - Uzupis",
};
enum { N_PLACES = sizeof k_places / sizeof k_places[0] };

/* Item names with weights (people and cars dominate street cameras). */
static const struct {
    const char *name;
    unsigned weight;
} k_items[] = {
    {"person", 30}, {"car", 22},       {"bicycle", 8}, {"dog", 5},      {"truck", 7},
    {"bus", 5},     {"motorcycle", 6}, {"cat", 2},     {"backpack", 4}, {"umbrella", 3},
    {"handbag", 3}, {"suitcase", 2},   {"scooter", 2}, {"van", 1},
};
enum { N_ITEMS = sizeof k_items / sizeof k_items[0] };

/* The seven kinds of malformed line. */
enum {
    MAL_TRUNCATED,  /* a valid line cut short: not JSON */
    MAL_GARBAGE,    /* not JSON at all */
    MAL_OID_STRING, /* "detection_oid":"abc" */
    MAL_TS_FLOAT,   /* "timestamp_detected":1.767225600e+12 */
    MAL_NO_OID,     /* detection_oid missing */
    MAL_NO_TS,      /* timestamp_detected missing */
    MAL_LOC_NULL,   /* "geographical_location_oid":null */
    MAL_KINDS
};

typedef struct {
    int64_t oid;
    int64_t ts;
    int32_t cam;
    int32_t loc;
    int32_t item;
} cam_rec;

typedef struct {
    cam_opts o;
    sl_rng rng;
    int32_t *cam_loc;    /* camera c (1..C) sits at cam_loc[c - 1] */
    unsigned item_total; /* sum of item weights */
    cam_rec *ring;       /* recent fresh on-time records, for redeliveries */
    size_t ring_cap, ring_len, ring_head;
    int64_t next_oid;
    int64_t t0_ms; /* nominal event time of line 0 */
    double ms_per_event;
    int64_t line_no; /* lines emitted so far (= index of the next line) */
    /* current output file */
    FILE *f;
    char *fbuf;
    int file_no;
    int64_t file_lines;
    char tmp_path[4096], final_path[4096];
    /* counters for the status line */
    int64_t n_files, n_dup, n_late_in, n_late_out, n_malformed, n_unknown_loc;
    int64_t began_us; /* monotonic */
} cam_gen;

/* ---- files -------------------------------------------------------------- */

/* Highest NNNNNN among DIR/detections-NNNNNN.ndjson, 0 if none, -1 on error. */
static int highest_file_no(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return -1;
    int hi = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        int no, len = 0;
        if (sscanf(e->d_name, "detections-%d.ndjson%n", &no, &len) == 1 &&
            (size_t)len == strlen(e->d_name) && no > hi)
            hi = no;
    }
    closedir(d);
    return hi;
}

static void csv_field(FILE *f, const char *s) {
    if (!strpbrk(s, ",\"\r\n")) {
        fputs(s, f);
        return;
    }
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"') fputc('"', f);
        fputc(*s, f);
    }
    fputc('"', f);
}

static int write_locations(const cam_gen *g) {
    char tmp[4096], dst[4096];
    snprintf(tmp, sizeof tmp, "%s/.locations.csv.tmp", g->o.out);
    snprintf(dst, sizeof dst, "%s/locations.csv", g->o.out);
    FILE *f = fopen(tmp, "w");
    if (!f) goto fail;
    fputs("geographical_location_oid,geographical_location\n", f);
    for (int64_t k = 0; k < g->o.locations; k++) {
        char name[256];
        if (k < N_PLACES)
            snprintf(name, sizeof name, "%s", k_places[k]);
        else
            snprintf(name, sizeof name, "%s #%" PRId64, k_places[k % N_PLACES], k / N_PLACES + 1);
        fprintf(f, "%" PRId64 ",", k + 1);
        csv_field(f, name);
        fputc('\n', f);
    }
    int bad = ferror(f);
    bad |= fclose(f) != 0;
    if (bad || rename(tmp, dst) != 0) goto fail;
    return 0;
fail:
    fprintf(stderr, "gen cameras: cannot write %s: %s\n", dst, strerror(errno));
    return -1;
}

static int file_open(cam_gen *g) {
    g->file_no++;
    snprintf(g->final_path, sizeof g->final_path, "%s/detections-%06d.ndjson", g->o.out,
             g->file_no);
    snprintf(g->tmp_path, sizeof g->tmp_path, "%s/.detections-%06d.ndjson.tmp", g->o.out,
             g->file_no);
    g->f = fopen(g->tmp_path, "w");
    if (!g->f) {
        fprintf(stderr, "gen cameras: cannot create %s: %s\n", g->tmp_path, strerror(errno));
        return -1;
    }
    setvbuf(g->f, g->fbuf, _IOFBF, 1 << 20);
    g->file_lines = 0;
    return 0;
}

/* Closes the current file (if any) and publishes it under its final name. */
static int file_close(cam_gen *g) {
    if (!g->f) return 0;
    int bad = ferror(g->f);
    bad |= fclose(g->f) != 0;
    g->f = NULL;
    if (bad || rename(g->tmp_path, g->final_path) != 0) {
        fprintf(stderr, "gen cameras: cannot write %s: %s\n", g->final_path, strerror(errno));
        return -1;
    }
    g->n_files++;
    return 0;
}

static int emit(cam_gen *g, const char *line, size_t len) {
    if (g->f && g->file_lines >= g->o.file_events && file_close(g)) return -1;
    if (!g->f && file_open(g)) return -1;
    fwrite(line, 1, len, g->f);
    g->file_lines++;
    g->line_no++;
    return 0;
}

/* ---- lines -------------------------------------------------------------- */

static int format_rec(char *buf, size_t cap, const cam_rec *r) {
    return snprintf(buf, cap,
                    "{\"detection_oid\":%" PRId64 ",\"video_camera_oid\":%d,"
                    "\"geographical_location_oid\":%d,\"item_name\":\"%s\","
                    "\"timestamp_detected\":%" PRId64 "}\n",
                    r->oid, r->cam, r->loc, k_items[r->item].name, r->ts);
}

static cam_rec fresh_rec(cam_gen *g) {
    cam_rec r;
    g->next_oid += 1 + (int64_t)sl_rng_below(&g->rng, 7);
    r.oid = g->next_oid;
    r.cam = 1 + (int32_t)sl_rng_below(&g->rng, (uint64_t)g->o.cameras);
    r.loc = g->cam_loc[r.cam - 1];
    unsigned w = (unsigned)sl_rng_below(&g->rng, g->item_total);
    r.item = 0;
    while (w >= k_items[r.item].weight)
        w -= k_items[r.item++].weight;
    int64_t nominal = g->t0_ms + (int64_t)floor((double)g->line_no * g->ms_per_event);
    r.ts = nominal - (int64_t)sl_rng_below(&g->rng, 501);
    return r;
}

static int emit_malformed(cam_gen *g) {
    char buf[512];
    cam_rec r = fresh_rec(g);
    const char *item = k_items[r.item].name;
    int kind = (int)sl_rng_below(&g->rng, MAL_KINDS), n = 0;
    switch (kind) {
    case MAL_TRUNCATED: {
        int full = format_rec(buf, sizeof buf, &r) - 1; /* without '\n' */
        n = 1 + (int)sl_rng_below(&g->rng, (uint64_t)full - 1);
        buf[n++] = '\n';
        break;
    }
    case MAL_GARBAGE:
        n = snprintf(buf, sizeof buf, "garbage\n");
        break;
    case MAL_OID_STRING:
        n = snprintf(buf, sizeof buf,
                     "{\"detection_oid\":\"abc\",\"video_camera_oid\":%d,"
                     "\"geographical_location_oid\":%d,\"item_name\":\"%s\","
                     "\"timestamp_detected\":%" PRId64 "}\n",
                     r.cam, r.loc, item, r.ts);
        break;
    case MAL_TS_FLOAT:
        n = snprintf(buf, sizeof buf,
                     "{\"detection_oid\":%" PRId64 ",\"video_camera_oid\":%d,"
                     "\"geographical_location_oid\":%d,\"item_name\":\"%s\","
                     "\"timestamp_detected\":%.9e}\n",
                     r.oid, r.cam, r.loc, item, (double)r.ts);
        break;
    case MAL_NO_OID:
        n = snprintf(buf, sizeof buf,
                     "{\"video_camera_oid\":%d,\"geographical_location_oid\":%d,"
                     "\"item_name\":\"%s\",\"timestamp_detected\":%" PRId64 "}\n",
                     r.cam, r.loc, item, r.ts);
        break;
    case MAL_NO_TS:
        n = snprintf(buf, sizeof buf,
                     "{\"detection_oid\":%" PRId64 ",\"video_camera_oid\":%d,"
                     "\"geographical_location_oid\":%d,\"item_name\":\"%s\"}\n",
                     r.oid, r.cam, r.loc, item);
        break;
    case MAL_LOC_NULL:
        n = snprintf(buf, sizeof buf,
                     "{\"detection_oid\":%" PRId64 ",\"video_camera_oid\":%d,"
                     "\"geographical_location_oid\":null,\"item_name\":\"%s\","
                     "\"timestamp_detected\":%" PRId64 "}\n",
                     r.oid, r.cam, item, r.ts);
        break;
    }
    g->n_malformed++;
    return emit(g, buf, (size_t)n);
}

/* Emits the next line of the stream. */
static int emit_next(cam_gen *g) {
    char buf[512];
    if (sl_rng_chance(&g->rng, g->o.malformed)) return emit_malformed(g);
    if (g->ring_len > 0 && sl_rng_chance(&g->rng, g->o.dup)) {
        const cam_rec *r = &g->ring[sl_rng_below(&g->rng, g->ring_len)];
        g->n_dup++;
        if (r->loc > g->o.locations) g->n_unknown_loc++;
        return emit(g, buf, (size_t)format_rec(buf, sizeof buf, r));
    }
    cam_rec r = fresh_rec(g);
    if (sl_rng_chance(&g->rng, g->o.late)) {
        if (sl_rng_below(&g->rng, 2) == 0) {
            r.ts -= sl_rng_range(&g->rng, 30000, 100000);
            g->n_late_in++;
        } else {
            r.ts -= sl_rng_range(&g->rng, 150000, 600000);
            g->n_late_out++;
        }
    } else {
        g->ring[g->ring_head] = r;
        g->ring_head = (g->ring_head + 1) % g->ring_cap;
        if (g->ring_len < g->ring_cap) g->ring_len++;
    }
    if (r.loc > g->o.locations) g->n_unknown_loc++;
    return emit(g, buf, (size_t)format_rec(buf, sizeof buf, &r));
}

/* ---- driver ------------------------------------------------------------- */

static volatile sig_atomic_t g_stop;
static void on_signal(int sig) {
    (void)sig;
    g_stop = 1;
}

static void status(const cam_gen *g, const char *what) {
    double secs = (double)(sl_monotonic_us() - g->began_us) / 1e6;
    fprintf(stderr,
            "gen cameras%s: files=%" PRId64 " events=%" PRId64 " duplicates=%" PRId64
            " late=%" PRId64 " (within=%" PRId64 " beyond=%" PRId64 ") malformed=%" PRId64
            " unknown_location=%" PRId64 " seconds=%.2f\n",
            what, g->n_files, g->line_no, g->n_dup, g->n_late_in + g->n_late_out, g->n_late_in,
            g->n_late_out, g->n_malformed, g->n_unknown_loc, secs);
}

static int setup(cam_gen *g) {
    sl_rng_init(&g->rng, g->o.seed);
    int64_t C = g->o.cameras, L = g->o.locations;
    g->cam_loc = malloc((size_t)C * sizeof *g->cam_loc);
    double ev_per_s = g->o.events >= 0 ? g->o.event_rate : g->o.rate;
    double cap = ceil(20.0 * ev_per_s);
    g->ring_cap = cap < 16 ? 16 : cap > (1 << 20) ? (1 << 20) : (size_t)cap;
    g->ring = malloc(g->ring_cap * sizeof *g->ring);
    g->fbuf = malloc(1 << 20);
    if (!g->cam_loc || !g->ring || !g->fbuf) {
        fprintf(stderr, "gen cameras: out of memory\n");
        return -1;
    }
    for (int64_t c = 0; c < C; c++)
        g->cam_loc[c] = 1 + (int32_t)sl_rng_below(&g->rng, (uint64_t)L);
    /* ~2% of cameras (at least one when there are two or more) sit at a
     * location oid above L, which locations.csv does not list. */
    int64_t unknown = (C + 25) / 50;
    if (unknown == 0 && C >= 2) unknown = 1;
    for (int64_t k = 0; k < unknown; k++) {
        int64_t c = (int64_t)sl_rng_below(&g->rng, (uint64_t)C);
        g->cam_loc[c] = (int32_t)(L + 1 + (int64_t)sl_rng_below(&g->rng, 100));
    }
    for (size_t i = 0; i < N_ITEMS; i++)
        g->item_total += k_items[i].weight;
    g->ms_per_event = 1000.0 / ev_per_s;
    return 0;
}

static int run_events(cam_gen *g) {
    g->t0_ms = g->o.start_ms;
    g->next_oid = 1000000000000LL + (int64_t)sl_rng_below(&g->rng, 1000000000) * 1000;
    for (int64_t i = 0; i < g->o.events; i++)
        if (emit_next(g)) return -1;
    return file_close(g);
}

static void sleep_us(int64_t us) {
    if (us <= 0) return;
    struct timespec ts = {(time_t)(us / 1000000), (long)(us % 1000000) * 1000};
    nanosleep(&ts, NULL); /* a signal cuts it short; the loop re-checks */
}

static int run_rate(cam_gen *g) {
    const int64_t tick_us = 500000, status_us = 5000000;
    int64_t t_mono = sl_monotonic_us();
    g->t0_ms = sl_floor_div(sl_now_us(), SL_US_PER_MS);
    g->next_oid = g->t0_ms * 1000;
    int64_t total = g->o.duration > 0 ? (int64_t)llround(g->o.rate * g->o.duration) : INT64_MAX;
    int64_t next_status = t_mono + status_us;
    for (int64_t k = 1;; k++) {
        int64_t tick = t_mono + k * tick_us;
        while (!g_stop && sl_monotonic_us() < tick)
            sleep_us(tick - sl_monotonic_us());
        int64_t now = g_stop ? sl_monotonic_us() : tick;
        double due_d = (double)(now - t_mono) / 1e6 * g->o.rate;
        int64_t due = due_d >= (double)total ? total : (int64_t)due_d;
        while (g->line_no < due)
            if (emit_next(g)) return -1;
        if (file_close(g)) return -1;
        if (g_stop || g->line_no >= total) return 0;
        if (sl_monotonic_us() >= next_status) {
            status(g, " (running)");
            next_status += status_us;
        }
    }
}

int sl_gen_cameras_main(int argc, char **argv) {
    cam_gen g;
    memset(&g, 0, sizeof g);
    int rc = parse_args(argc, argv, &g.o);
    if (rc) return rc == 1 ? 0 : 2;
    g.began_us = sl_monotonic_us();
    if (sl_gen_mkdir_p(g.o.out)) {
        fprintf(stderr, "gen cameras: cannot create folder %s: %s\n", g.o.out, strerror(errno));
        return 1;
    }
    int hi = highest_file_no(g.o.out);
    if (hi < 0) {
        fprintf(stderr, "gen cameras: cannot list %s: %s\n", g.o.out, strerror(errno));
        return 1;
    }
    if (hi > 0 && g.o.events >= 0) {
        /* Appending a second deterministic run would repeat its oids. */
        fprintf(stderr,
                "gen cameras: %s already holds detections files; --events mode needs an "
                "empty folder\n",
                g.o.out);
        return 1;
    }
    g.file_no = hi; /* --rate mode continues after the files already there */
    rc = 1;
    struct sigaction sa, old_int, old_term;
    int handlers = 0;
    if (setup(&g) || write_locations(&g)) goto done;
    if (g.o.events >= 0) {
        if (run_events(&g)) goto done;
    } else {
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = on_signal;
        sigemptyset(&sa.sa_mask);
        g_stop = 0;
        sigaction(SIGINT, &sa, &old_int);
        sigaction(SIGTERM, &sa, &old_term);
        handlers = 1;
        if (run_rate(&g)) goto done;
    }
    rc = 0;
    status(&g, "");
done:
    if (handlers) {
        sigaction(SIGINT, &old_int, NULL);
        sigaction(SIGTERM, &old_term, NULL);
    }
    if (g.f) { /* failed mid-file: drop the partial temp file */
        fclose(g.f);
        unlink(g.tmp_path);
    }
    free(g.cam_loc);
    free(g.ring);
    free(g.fbuf);
    return rc;
}
