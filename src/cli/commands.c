/*
 * commands.c - the command lines of `sluice tap` and `sluice top`: options,
 * the pipeline file (for the data directory, the table's kind, the
 * server's address and token), signals, exit codes.
 *
 * The token comes from SLUICE_TOKEN or --token-file, never from the
 * command line (where other users could read it in the process list); when
 * neither is given, the pipeline's own server.token (often a ${VAR}) is
 * used.
 */
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "core/mem.h"
#include "core/timeutil.h"

const char sl_tap_help[] =
    "usage: sluice tap PIPELINE TABLE [--where EXPR] [--limit N] [--format json|table]\n"
    "                  [--data DIR] [--url http://HOST:PORT] [--token-file FILE] [--from-start]\n"
    "                  [--set NAME=VALUE]...\n"
    "  Prints the rows of TABLE as they are committed, until Ctrl-C or --limit rows. Any\n"
    "  table stored in SQLite, the quarantine table (`quarantine`) too; a lake table has no\n"
    "  row id to follow and is refused (exit 2). Window tables show rows as first written.\n"
    "  Without --url it reads the store read-only (the pipeline may be running or not),\n"
    "  polling every 200 ms; with --url it follows a running instance's tap stream.\n"
    "  --where EXPR    SQL expression over the table's columns, e.g. \"speed > 90\"\n"
    "  --limit N       stop after N rows\n"
    "  --format F      json (default: one object per line) or table (aligned columns,\n"
    "                  widths from the first rows, longer cells cut with ...)\n"
    "  --from-start    every stored row first, then the new ones (default: only new ones)\n"
    "  --url URL       a running `sluice run --listen` (token: $SLUICE_TOKEN, --token-file,\n"
    "                  or the pipeline's server.token)\n"
    "  Exit 0 on Ctrl-C or at the limit; 2 unknown table, lake table, bad --where, token\n"
    "  refused; 1 store or connection failure.\n";

const char sl_top_help[] =
    "usage: sluice top PIPELINE [--url http://HOST:PORT] [--interval DURATION] [--once]\n"
    "                  [--token-file FILE] [--set NAME=VALUE]...\n"
    "  A live view of a running instance from its /metrics: records, quarantine, late,\n"
    "  duplicate and commit rates; commit latency, watermark lag, files waiting, memory;\n"
    "  per source records/s, position/s, consumer lag, files waiting; per table rows\n"
    "  in/out, quarantined and late per second and watermark lag. Rates are the difference\n"
    "  of two scrapes.\n"
    "  q or Ctrl-C quits (the screen is restored).\n"
    "  --url URL       the instance (default: the pipeline's server.listen)\n"
    "  --interval D    time between scrapes (default 1s; e.g. 500ms, 2s)\n"
    "  --once          print one frame after two scrapes, without terminal control\n"
    "  The token: $SLUICE_TOKEN, --token-file FILE, or the pipeline's server.token.\n";

static volatile sig_atomic_t g_cli_stop;
static void on_stop(int sig) {
    (void)sig;
    g_cli_stop = 1;
}

static void catch_signals(void) {
    struct sigaction sa = {0};
    sa.sa_handler = on_stop;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
}

typedef struct opts {
    const char *pos[3];
    int npos;
    const char *where, *format, *data, *url, *token_file, *interval;
    int64_t limit;
    bool from_start, once;
    sl_vars *vars;
} opts;

/* 0, 1 (--help printed), or 2 (bad usage, message printed). */
static int parse(int argc, char **argv, const char *cmd, const char *help, opts *o) {
    /* clang-format off */
    static const struct option longopts[] = {
        {"where", required_argument, 0, 'w'},
        {"limit", required_argument, 0, 'n'},
        {"format", required_argument, 0, 'f'},
        {"data", required_argument, 0, 'd'},
        {"url", required_argument, 0, 'u'},
        {"token-file", required_argument, 0, 't'},
        {"from-start", no_argument, 0, 'F'},
        {"interval", required_argument, 0, 'i'},
        {"once", no_argument, 0, 'o'},
        {"set", required_argument, 0, 's'},
        {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0},
    };
    /* clang-format on */
    bool tap = !strcmp(cmd, "tap");
    optind = 1;
    int c;
    while ((c = getopt_long(argc, argv, "hd:s:n:f:w:", longopts, NULL)) != -1) {
        /* options of the other command are refused, not ignored */
        if ((!tap && strchr("wnfF", c)) || (tap && strchr("io", c))) c = '?';
        switch (c) {
        case 'w':
            o->where = optarg;
            break;
        case 'f':
            o->format = optarg;
            break;
        case 'd':
            o->data = optarg;
            break;
        case 'u':
            o->url = optarg;
            break;
        case 't':
            o->token_file = optarg;
            break;
        case 'F':
            o->from_start = true;
            break;
        case 'i':
            o->interval = optarg;
            break;
        case 'o':
            o->once = true;
            break;
        case 'n': {
            char *end;
            long long v = strtoll(optarg, &end, 10);
            if (end == optarg || *end || v <= 0) {
                fprintf(stderr, "sluice %s: --limit takes a number of rows > 0, got '%s'\n", cmd,
                        optarg);
                return 2;
            }
            o->limit = v;
            break;
        }
        case 's':
            if (sl_vars_set(o->vars, optarg)) {
                fprintf(stderr, "sluice %s: --set takes NAME=VALUE, got '%s'\n", cmd, optarg);
                return 2;
            }
            break;
        case 'h':
            fputs(help, stdout);
            return 1;
        default:
            fputs(help, stderr);
            return 2;
        }
    }
    for (int i = optind; i < argc; i++) {
        if (o->npos == 3) {
            fprintf(stderr, "sluice %s: unexpected argument '%s'\n%s", cmd, argv[i], help);
            return 2;
        }
        o->pos[o->npos++] = argv[i];
    }
    int need = tap ? 2 : 1;
    if (o->npos != need) {
        fprintf(stderr, "sluice %s: expected %s\n%s", cmd, tap ? "PIPELINE TABLE" : "PIPELINE",
                help);
        return 2;
    }
    if (o->url && strncmp(o->url, "http://", 7) && strncmp(o->url, "https://", 8)) {
        fprintf(stderr, "sluice %s: --url takes http://HOST:PORT, got '%s'\n", cmd, o->url);
        return 2;
    }
    return 0;
}

/* The token: SLUICE_TOKEN, else --token-file's first line, else the
 * pipeline's server.token. NULL: none. Returns false on an unreadable file. */
static bool read_token(const opts *o, const sl_pipeline *p, const char *cmd, char **out) {
    *out = NULL;
    const char *env = getenv("SLUICE_TOKEN");
    if (env && *env) {
        *out = sl_xstrdup(env);
        return true;
    }
    if (o->token_file) {
        FILE *f = fopen(o->token_file, "r");
        char line[1100];
        if (!f || !fgets(line, sizeof line, f)) {
            fprintf(stderr, "sluice %s: --token-file %s: cannot read it\n", cmd, o->token_file);
            if (f) fclose(f);
            return false;
        }
        fclose(f);
        line[strcspn(line, "\r\n")] = 0;
        *out = sl_xstrdup(line);
        explicit_bzero(line, sizeof line);
        return true;
    }
    if (sl_pipeline_token(p)) *out = sl_xstrdup(sl_pipeline_token(p));
    return true;
}

static void free_token(char *t) {
    if (t) explicit_bzero(t, strlen(t));
    free(t);
}

int sl_tap_main(int argc, char **argv) {
    opts o = {.vars = sl_vars_new()};
    int rc = parse(argc, argv, "tap", sl_tap_help, &o);
    if (rc) {
        sl_vars_free(o.vars);
        return rc == 1 ? 0 : 2;
    }
    int format = SL_TAP_JSON;
    if (o.format && !strcmp(o.format, "table"))
        format = SL_TAP_TABLE;
    else if (o.format && strcmp(o.format, "json")) {
        fprintf(stderr, "sluice tap: --format takes json or table, got '%s'\n", o.format);
        sl_vars_free(o.vars);
        return 2;
    }
    sl_error err = {0};
    sl_pipeline *p = sl_pipeline_load(o.pos[0], o.vars, &err);
    sl_vars_free(o.vars);
    if (!p) {
        fprintf(stderr, "%s\n", err.msg);
        return sl_exit_code(err.code);
    }
    char *token = NULL;
    if (o.url && !read_token(&o, p, "tap", &token)) {
        sl_pipeline_free(p);
        return 2;
    }
    catch_signals();
    sl_tap_opts t = {.p = p,
                     .data_dir = o.data,
                     .table = o.pos[1],
                     .where = o.where,
                     .url = o.url,
                     .token = token,
                     .limit = o.limit,
                     .format = format,
                     .from_start = o.from_start,
                     .poll_ms = 200,
                     .stop = &g_cli_stop,
                     .out = stdout};
    rc = sl_tap_run(&t, &err);
    free_token(token);
    sl_pipeline_free(p);
    if (rc) fprintf(stderr, "sluice tap: %s\n", err.msg);
    return rc ? sl_exit_code(rc) : 0;
}

/* server.listen -> http://HOST:PORT (a wildcard host is reached on loopback). */
static bool listen_url(const char *listen, char *out, size_t cap) {
    const char *colon = strrchr(listen, ':');
    if (!colon || !strcmp(colon + 1, "0")) return false;
    size_t hl = (size_t)(colon - listen);
    const char *host = listen;
    if (!hl || (hl == 7 && !strncmp(listen, "0.0.0.0", 7))) host = "127.0.0.1", hl = 9;
    if (hl == 4 && !strncmp(listen, "[::]", 4)) host = "[::1]", hl = 5;
    snprintf(out, cap, "http://%.*s:%s", (int)hl, host, colon + 1);
    return true;
}

int sl_top_main(int argc, char **argv) {
    opts o = {.vars = sl_vars_new()};
    int rc = parse(argc, argv, "top", sl_top_help, &o);
    if (rc) {
        sl_vars_free(o.vars);
        return rc == 1 ? 0 : 2;
    }
    double interval = 1;
    if (o.interval) {
        int64_t us;
        if (sl_duration_parse(o.interval, &us) || us < 100000 || us > 3600 * SL_US_PER_SEC) {
            fprintf(stderr, "sluice top: --interval takes a duration of 100ms to 1h, got '%s'\n",
                    o.interval);
            sl_vars_free(o.vars);
            return 2;
        }
        interval = (double)us / 1e6;
    }
    sl_error err = {0};
    sl_pipeline *p = sl_pipeline_load(o.pos[0], o.vars, &err);
    sl_vars_free(o.vars);
    if (!p) {
        fprintf(stderr, "%s\n", err.msg);
        return sl_exit_code(err.code);
    }
    char url[600];
    if (o.url) {
        snprintf(url, sizeof url, "%s", o.url);
    } else if (!sl_pipeline_listen(p) || !listen_url(sl_pipeline_listen(p), url, sizeof url)) {
        fprintf(stderr,
                "sluice top: pipeline '%s' has no fixed server address (server.listen %s): pass "
                "--url http://HOST:PORT of the running instance\n",
                sl_pipeline_name(p), sl_pipeline_listen(p) ? "has port 0" : "is off");
        sl_pipeline_free(p);
        return 2;
    }
    char *token = NULL;
    if (!read_token(&o, p, "top", &token)) {
        sl_pipeline_free(p);
        return 2;
    }
    catch_signals();
    sl_top_opts t = {.pipeline = sl_pipeline_name(p),
                     .url = url,
                     .token = token,
                     .interval_s = interval,
                     .once = o.once,
                     .stop = &g_cli_stop,
                     .out = stdout};
    rc = sl_top_run(&t, &err);
    free_token(token);
    sl_pipeline_free(p);
    if (rc) fprintf(stderr, "sluice top: %s\n", err.msg);
    return rc ? sl_exit_code(rc) : 0;
}
