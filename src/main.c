/*
 * main.c - the `sluice` command line.
 *
 *   sluice run PIPELINE [--data DIR] [--set k=v]... [--once] [--status SECONDS]
 *   sluice query PIPELINE [--data DIR] [--set k=v]... [--format table|csv|json] "SQL"
 *   sluice validate PIPELINE [--set k=v]...
 *   sluice tap PIPELINE TABLE [--where EXPR] [--limit N] [--format json|table] [--url URL]
 *   sluice top PIPELINE [--url URL] [--interval D] [--once]
 *   sluice lineage PIPELINE [--set k=v]...
 *   sluice refresh PIPELINE [--data DIR] [--set k=v]... [--status SECONDS]
 *   sluice alert test [CHANNEL] PIPELINE [--set k=v]...
 *   sluice gen FLAVOR [options]
 *   sluice parse FORMAT [FILE] [--schema name:type,...] [--pattern RE] [--delimiter C]
 * [--no-header] [--infer] sluice help [OPERATOR|SOURCE]
 *
 * Exit codes: 0 ok, 1 runtime failure, 2 bad usage or pipeline file,
 * 3 a `fail` expectation stopped the pipeline, 4 corrupt state detected.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cli.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/timeutil.h"
#include "engine/pipeline.h"
#include "formats/infer.h"
#include "formats/json.h"
#include "formats/json_write.h"
#include "formats/regex.h"
#include "formats/lineformat.h"
#include "gen/gen.h"
#include "gen/umb.h"
#include "httpd/httpd.h"
#include "notify/notify.h"
#include "ops/op.h"
#include "sinks/pg_sink.h"
#include "sinks/sink.h"
#include "ops/window.h"
#include "sources/kafka_mock.h"
#include "sources/source.h"
#include "spec/spec.h"

#define SLUICE_VERSION "0.1.0"

static volatile sig_atomic_t g_stop = 0;
static void on_signal(int sig) {
    (void)sig;
    g_stop = 1;
}

static void usage(FILE *out) {
    fprintf(
        out,
        "sluice %s - real-time streaming pipelines in one binary\n\n"
        "usage:\n"
        "  sluice run PIPELINE [--data DIR] [--set NAME=VALUE]... [--once] [--status SECONDS] "
        "[--listen ADDR] [--store URL] [--watch-config]\n"
        "  sluice query PIPELINE [--data DIR] [--set NAME=VALUE]... [--format table|csv|json] "
        "[--store URL] \"SQL\"\n"
        "  sluice validate PIPELINE [--set NAME=VALUE]...\n"
        "  sluice tap PIPELINE TABLE [--where EXPR] [--limit N] [--format json|table] "
        "[--url URL] [--from-start]\n"
        "  sluice top PIPELINE [--url URL] [--interval DURATION] [--once]\n"
        "  sluice lineage PIPELINE [--set NAME=VALUE]...\n"
        "  sluice vars PIPELINE [--set NAME=VALUE]... [--format table|json]\n"
        "  sluice test PIPELINE [--tests FILE] [--case NAME] [--set NAME=VALUE]... [--verbose]\n"
        "  sluice check PIPELINE [--data DIR] [--set NAME=VALUE]...\n"
        "  sluice refresh PIPELINE [--data DIR] [--set NAME=VALUE]... [--status SECONDS]\n"
        "  sluice alert test [CHANNEL] PIPELINE [--data DIR] [--set NAME=VALUE]...\n"
        "  sluice gen cameras|telco|retail|dataops|access|cloud [options]   (sluice gen FLAVOR "
        "--help)\n"
        "  sluice gen umb [options]            (sluice gen umb --help)\n"
        "  sluice parse json|syslog|rfc3164|logfmt|regex|csv|nginx [FILE] [--schema NAME:TYPE,...] "
        "[--infer] ...\n"
        "  sluice kafka-mock --topic NAME:PARTITIONS ...   (a local Kafka mock broker for tests)\n"
        "  sluice help [OPERATOR|SOURCE]\n\n"
        "Run `sluice COMMAND --help` for a command's options. Logs are JSON lines on stderr;\n"
        "SLUICE_LOG=debug|info|warn|error sets the level.\n"
        "Exit codes: 0 ok, 1 runtime failure, 2 bad usage or pipeline file, 3 a `fail`\n"
        "expectation stopped the pipeline, 4 corrupt state.\n",
        SLUICE_VERSION);
}

typedef struct {
    const char *pipeline, *data, *format, *schema, *listen, *pattern, *delimiter, *instance, *store;
    int header; /* parse csv: -1 default (true), 0, 1 */
    bool infer;
    const char *positional[4];
    int npos;
    bool once, watch_config, verbose;
    const char *tests, *case_name;
    double status;
    sl_vars *vars;
} cli;

static const char *cmd_help_text(const char *cmd) {
    if (!strcmp(cmd, "run"))
        return "usage: sluice run PIPELINE [--data DIR] [--set NAME=VALUE]... [--once] [--status "
               "SECONDS] [--listen ADDR]\n"
               "           [--instance NAME] [--store sqlite|postgresql://...]\n"
               "  Runs the pipeline, following its sources until interrupted (Ctrl-C commits and "
               "exits).\n"
               "  --data DIR      where tables, lake segments and checkpoints live (default "
               "data/<pipeline>)\n"
               "  --set N=V       set a ${N} variable of the pipeline file (overrides the "
               "environment)\n"
               "  --once          process what is available, treat end of input as end of time\n"
               "                  (all windows final), commit and exit\n"
               "  --status S      print a status line every S seconds (default 5; 0 = off)\n"
               "  --listen ADDR   serve the dashboard, query API and /metrics on ADDR (e.g. "
               "127.0.0.1:8080,\n"
               "                  port 0 = any free port); overrides the pipeline's server.listen\n"
               "  --instance NAME scale-out: one of several processes sharing the Kafka partitions "
               "of the\n"
               "                  pipeline's consumer group; its checkpoint is DATA/instance-NAME, "
               "and\n"
               "                  `sluice query --data DATA` reads every instance's tables "
               "together\n"
               "  --store URL     sqlite, or postgresql://USER@HOST:PORT/DB: where the pipeline's "
               "sqlite\n"
               "                  tables are kept (overrides its store:; the password from "
               "${VAR} or ~/.pgpass)\n"
               "  --watch-config  reload the pipeline file when it changes (as SIGHUP does): "
               "views, dashboard,\n"
               "                  alerts, expectations, lookups and new tables apply at once; "
               "a change that\n"
               "                  would invalidate state (a window's keys, a dedupe key) is "
               "refused and logged\n";
    if (!strcmp(cmd, "query"))
        return "usage: sluice query PIPELINE [--data DIR] [--set N=V]... [--format table|csv|json] "
               "[--store URL] \"SQL\"\n"
               "  Read-only SQL over every table of the pipeline, lake tables included.\n"
               "  With a PostgreSQL store (--store URL or the pipeline's store:), the SQL runs "
               "there, in a\n"
               "  read-only transaction with a 30 s statement timeout (lake tables are not "
               "visible there).\n";
    if (!strcmp(cmd, "test"))
        return "usage: sluice test PIPELINE [--tests FILE] [--case NAME] [--set N=V]... "
               "[--verbose]\n"
               "  Runs the test cases beside the pipeline (NAME.tests.yaml, or --tests FILE): "
               "records per\n"
               "  source, expected rows per table and expected quarantined records "
               "(docs/testing.md).\n"
               "  Each case runs --once without a store on disk (in memory, removed after); "
               "every source\n"
               "  reads the case's records with its own format; outputs to other systems, alerts "
               "and the\n"
               "  server are left out. One line per case. Exit 0 all passed, 1 a case failed, 2 a "
               "bad tests\n"
               "  file (file:line:col).\n"
               "  --case NAME   run only that case     --verbose   logs, and quarantined records "
               "of failed cases\n";
    if (!strcmp(cmd, "vars"))
        return "usage: sluice vars PIPELINE [--set NAME=VALUE]... [--format table|json]\n"
               "  Lists the ${NAME} / ${NAME:default} variables the pipeline file (and the file "
               "it extends)\n"
               "  uses: the default, the value a run would use now and where it comes from "
               "(--set,\n"
               "  environment, default, or unset), and every file:line:col (key) using it. "
               "Values of\n"
               "  variables whose name says they are secret (TOKEN, PASSWORD, SECRET, KEY, "
               "WEBHOOK, URL)\n"
               "  are not shown. Exit 0, or 2 when a variable without a default is unset.\n";
    if (!strcmp(cmd, "tap")) return sl_tap_help;
    if (!strcmp(cmd, "top")) return sl_top_help;
    if (!strcmp(cmd, "validate"))
        return "usage: sluice validate PIPELINE [--set N=V]...\n"
               "  Checks the pipeline file; errors are printed as file:line:col: message (exit "
               "2).\n";
    if (!strcmp(cmd, "check"))
        return "usage: sluice check PIPELINE [--data DIR] [--set N=V]...\n  Checks that every "
               "source could read now (the folder is readable, the brokers answer, the address\n"
               "  can be bound), that the store is writable, and that every alert channel "
               "answers\n  (a test notification). One line per check; exit 0 all ok, 1 a check "
               "failed,\n  2 bad usage or pipeline file.\n";
    if (!strcmp(cmd, "refresh"))
        return "usage: sluice refresh PIPELINE [--data DIR] [--set N=V]... [--status SECONDS] "
               "[--store sqlite]\n"
               "  Full refresh: rebuilds every table from the beginning of the landing files "
               "into DIR.refresh\n"
               "  beside the data directory DIR, then switches to it atomically; the replaced "
               "state is kept\n"
               "  as DIR.previous-TIME. While `sluice run` serves DIR, it keeps running and "
               "switches at a\n"
               "  commit boundary, then reads on from the new state's positions. With no "
               "process on DIR the\n"
               "  result is that of `sluice run --once` from scratch. A crash or Ctrl-C leaves "
               "DIR as it was;\n"
               "  the next refresh starts over. Refused (exit 2) for sources that cannot be read "
               "again from\n"
               "  the beginning (kafka, syslog, http, http_poll, mqtt, cleanup: delete|move), "
               "sinks writing to\n"
               "  other systems (kafka, postgresql) and PostgreSQL stores. docs/operations.md, "
               "\"Full refresh\".\n"
               "  --data DIR      the data directory (default data/<pipeline>)\n"
               "  --set N=V       set a ${N} variable of the pipeline file\n"
               "  --status S      progress: a status line every S seconds (default 5; 0 = off)\n"
               "  Exit codes: 0 switched, 1 failed or interrupted (DIR unchanged), 2 bad usage, "
               "pipeline\n"
               "  file or a pipeline that cannot be refreshed, 3 a `fail` expectation stopped "
               "the rebuild.\n";
    if (!strcmp(cmd, "lineage"))
        return "usage: sluice lineage PIPELINE [--set N=V]...\n  Prints the graph of sources, "
               "tables and views.\n";
    if (!strcmp(cmd, "alert"))
        return "usage: sluice alert test [CHANNEL] PIPELINE [--data DIR] [--set N=V]...\n"
               "  Sends one test notification through each enabled channel of the pipeline's\n"
               "  `alerts: channels:` (or CHANNEL only) and prints what each answered, one line\n"
               "  per channel (a channel whose url/server is empty is off and listed so).\n"
               "  Exit 0 when every enabled one accepted it, 1 when any failed or none is\n"
               "  enabled, 2 bad usage, unknown CHANNEL or pipeline file. Each test is\n"
               "  audited: an `audit` log line, and a _sluice_audit row (method ALERT-TEST)\n"
               "  written by the process running the pipeline on DIR (default data/PIPELINE),\n"
               "  or the next one started there, from the spool DIR.audit/ (when DIR exists).\n"
               "  Alert rules and channels: docs/alerting.md.\n";
    if (!strcmp(cmd, "parse"))
        return "usage: sluice parse FORMAT [FILE] [--schema NAME:TYPE,...] [options]\n"
               "  FORMAT: json | syslog (RFC 5424, RFC 3164 best effort) | rfc3164 (an alias of "
               "syslog: each\n"
               "          line is read as 5424 when it starts <PRI>VERSION, else as 3164) | logfmt "
               "| regex | csv\n"
               "          | nginx (alias combined: the combined access log, with an optional "
               "trailing\n"
               "          request time)\n"
               "  Prints each record of FILE (or stdin) as the engine parses it (one JSON object "
               "per line),\n"
               "  or `# quarantine: <reason>: <record>` for a record that would be quarantined.\n"
               "  --schema N:T,...  columns and types (json, logfmt, and csv need it, or --infer; "
               "syslog, nginx\n"
               "                    and regex have defaults: the syslog fields, the nginx "
               "fields, the\n"
               "                    pattern's named groups)\n"
               "  --infer           json, csv: print the schema inferred from the input (the rules "
               "of\n"
               "                    `schema: infer`) as YAML to paste into a pipeline file, and "
               "stop\n"
               "  --pattern RE      regex: PCRE2 pattern whose named groups are the fields\n"
               "  --delimiter C     csv: field delimiter (default ,)\n"
               "  --header, --no-header   csv: the input starts with a header row (default) or "
               "not\n"
               "                    (then the columns are the schema's, in order)\n";
    return NULL;
}

/* --status: a number of seconds >= 0 (0 = off), nothing else. */
static bool parse_seconds(const char *s, double *out) {
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || *end || errno || !isfinite(v) || v < 0 || v > 86400.0 * 365) return false;
    *out = v;
    return true;
}

/* --listen: HOST:PORT, [V6]:PORT or :PORT with a port of 0..65535. */
static bool valid_listen(const char *s) {
    const char *colon = strrchr(s, ':');
    if (!colon || !colon[1] || strlen(colon + 1) > 5) return false;
    long port = 0;
    for (const char *q = colon + 1; *q; q++) {
        if (*q < '0' || *q > '9') return false;
        port = port * 10 + (*q - '0');
    }
    return port <= 65535;
}

static int parse_cli(int argc, char **argv, cli *c, const char *cmd) {
    /* one option per line */
    /* clang-format off */
    static const struct option longopts[] = {
        {"data", required_argument, 0, 'd'},
        {"set", required_argument, 0, 's'},
        {"once", no_argument, 0, 'o'},
        {"format", required_argument, 0, 'f'},
        {"status", required_argument, 0, 'S'},
        {"schema", required_argument, 0, 'c'},
        {"help", no_argument, 0, 'h'},
        {"listen", required_argument, 0, 'l'},
        {"pattern", required_argument, 0, 'P'},
        {"delimiter", required_argument, 0, 'D'},
        {"header", no_argument, 0, 'H'},
        {"no-header", no_argument, 0, 'N'},
        {"infer", no_argument, 0, 'I'},
        {"instance", required_argument, 0, 'i'},
        {"store", required_argument, 0, 'T'},
        {"watch-config", no_argument, 0, 'W'},
        {"tests", required_argument, 0, 'X'},
        {"case", required_argument, 0, 'C'},
        {"verbose", no_argument, 0, 'v'},
        {0, 0, 0, 0},
    };
    /* clang-format on */
    c->status = 5;
    c->header = -1;
    c->vars = sl_vars_new();
    optind = 1;
    int o;
    while ((o = getopt_long(argc, argv, "d:s:of:S:c:hl:i:", longopts, NULL)) != -1) {
        switch (o) {
        case 'd':
            c->data = optarg;
            break;
        case 's':
            if (sl_vars_set(c->vars, optarg)) {
                fprintf(stderr, "sluice %s: --set takes NAME=VALUE, got '%s'\n", cmd, optarg);
                return 2;
            }
            break;
        case 'o':
            c->once = true;
            break;
        case 'W':
            c->watch_config = true;
            break;
        case 'X':
            c->tests = optarg;
            break;
        case 'C':
            c->case_name = optarg;
            break;
        case 'v':
            c->verbose = true;
            break;
        case 'f':
            c->format = optarg;
            break;
        case 'S':
            if (!parse_seconds(optarg, &c->status)) {
                fprintf(stderr, "sluice %s: --status takes a number of seconds >= 0, got '%s'\n%s",
                        cmd, optarg, cmd_help_text(cmd));
                return 2;
            }
            break;
        case 'c':
            c->schema = optarg;
            break;
        case 'l':
            if (!valid_listen(optarg)) {
                fprintf(stderr,
                        "sluice %s: --listen takes HOST:PORT with a port of 0-65535, got '%s'\n%s",
                        cmd, optarg, cmd_help_text(cmd));
                return 2;
            }
            c->listen = optarg;
            break;
        case 'P':
            c->pattern = optarg;
            break;
        case 'D':
            c->delimiter = optarg;
            break;
        case 'H':
            c->header = 1;
            break;
        case 'N':
            c->header = 0;
            break;
        case 'I':
            c->infer = true;
            break;
        case 'T':
            c->store = optarg;
            break;
        case 'i':
            c->instance = optarg;
            for (const char *q = optarg; *q; q++)
                if (!((*q >= 'a' && *q <= 'z') || (*q >= 'A' && *q <= 'Z') ||
                      (*q >= '0' && *q <= '9') || *q == '_' || *q == '-') ||
                    !*optarg) {
                    fprintf(stderr,
                            "sluice %s: --instance takes a name of letters, digits, '-' and '_'\n",
                            cmd);
                    return 2;
                }
            break;
        case 'h':
            fputs(cmd_help_text(cmd), stdout);
            return 1;
        default:
            fputs(cmd_help_text(cmd), stderr);
            return 2;
        }
    }
    for (int i = optind; i < argc; i++) {
        if (c->npos == 4) {
            fputs(cmd_help_text(cmd), stderr);
            return 2;
        }
        c->positional[c->npos++] = argv[i];
    }
    return 0;
}

static sl_pipeline *load_or_report(const char *path, sl_vars *vars, const char *store) {
    sl_error err = {0};
    sl_pipeline *p = sl_pipeline_load_store(path, vars, store, &err);
    if (!p) fprintf(stderr, "%s\n", err.msg);
    return p;
}

static int cmd_pipeline(int argc, char **argv, const char *cmd) {
    cli c = {0};
    int rc = parse_cli(argc, argv, &c, cmd);
    if (rc) {
        sl_vars_free(c.vars);
        return rc == 1 ? 0 : 2;
    }
    int need = !strcmp(cmd, "query") ? 2 : 1;
    if (c.npos != need) {
        fprintf(stderr, "sluice %s: expected %s\n%s", cmd,
                need == 2 ? "PIPELINE and SQL" : "PIPELINE", cmd_help_text(cmd));
        sl_vars_free(c.vars);
        return 2;
    }
    int fmt = SL_FMT_TABLE;
    if (c.format) {
        if (!strcmp(c.format, "csv"))
            fmt = SL_FMT_CSV;
        else if (!strcmp(c.format, "json"))
            fmt = SL_FMT_JSON;
        else if (strcmp(c.format, "table")) {
            fprintf(stderr, "sluice %s: --format must be table, csv or json\n", cmd);
            sl_vars_free(c.vars);
            return 2;
        }
    }
    sl_pipeline *p = load_or_report(c.positional[0], c.vars, c.store);
    if (!p) {
        sl_vars_free(c.vars);
        return 2;
    }
    sl_error err = {0};
    int code = 0;
    if (!strcmp(cmd, "validate")) {
        printf("%s: ok (pipeline %s)\n", c.positional[0], sl_pipeline_name(p));
    } else if (!strcmp(cmd, "lineage")) {
        sl_pipeline_print_lineage(p, stdout);
    } else if (!strcmp(cmd, "check")) {
        code = sl_pipeline_check(p, c.data, stdout);
    } else if (!strcmp(cmd, "refresh")) {
        struct sigaction sa = {0};
        sa.sa_handler = on_signal;
        sigaction(SIGINT, &sa, NULL);
        sigaction(SIGTERM, &sa, NULL);
        signal(SIGXFSZ, SIG_IGN);
        signal(SIGHUP, SIG_IGN);
        sl_refresh_opts o = {.data_dir = c.data, .status_every_s = c.status, .stop = &g_stop};
        int rc2 = sl_pipeline_refresh(p, &o, &err);
        if (rc2) {
            fprintf(stderr, "sluice refresh: %s\n", err.msg);
            code = rc2 == SL_EINVAL ? 2 : sl_exit_code(rc2);
            if (code == 0) code = 1;
        }
    } else if (!strcmp(cmd, "query")) {
        const char *pg = sl_pipeline_store_url(p);
        if (pg ? sl_pg_query(pg, c.positional[1], fmt, stdout, &err)
               : sl_pipeline_query(p, c.data, c.positional[1], fmt, stdout, &err)) {
            fprintf(stderr, "sluice query: %s\n", err.msg);
            code = err.code == SL_EINVAL ? 2 : 1;
        }
    } else {
        struct sigaction sa = {0};
        sa.sa_handler = on_signal;
        sigaction(SIGINT, &sa, NULL);
        sigaction(SIGTERM, &sa, NULL);
        /* a file-size limit must fail a write (EFBIG, reported), not kill us */
        signal(SIGXFSZ, SIG_IGN);
        /* SIGHUP is read (and logged) from the loop's signalfd; ignored
         * outside it, so one left pending at exit does not kill us either */
        signal(SIGHUP, SIG_IGN);
        sl_run_opts o = {.data_dir = c.data,
                         .once = c.once,
                         .status_every_s = c.status,
                         .stop = &g_stop,
                         .signals = true,
                         .listen = c.listen,
                         .instance = c.instance,
                         .watch_config = c.watch_config};
        int rc2 = sl_pipeline_run(p, &o, &err);
        if (rc2) {
            /* the message may quote a record (a `fail` expectation): escaped */
            char ename[2 * SL_ERROR_MAX], emsg[6 * SL_ERROR_MAX];
            sl_json_escape(ename, sizeof ename, sl_pipeline_name(p),
                           (int)strlen(sl_pipeline_name(p)));
            sl_json_escape(emsg, sizeof emsg, err.msg, (int)strlen(err.msg));
            sl_log_error("pipeline failed", "\"pipeline\":\"%s\",\"error\":\"%s\"", ename, emsg);
            fprintf(stderr, "sluice run: %s\n", err.msg);
            code = sl_exit_code(rc2);
            if (code == 0) code = 1;
        }
    }
    sl_pipeline_free(p);
    sl_vars_free(c.vars);
    return code;
}

static int cmd_test(int argc, char **argv) {
    cli c = {0};
    int rc = parse_cli(argc, argv, &c, "test");
    if (rc) {
        sl_vars_free(c.vars);
        return rc == 1 ? 0 : 2;
    }
    if (c.npos != 1) {
        fprintf(stderr, "sluice test: expected PIPELINE\n%s", cmd_help_text("test"));
        sl_vars_free(c.vars);
        return 2;
    }
    if (!c.verbose && !getenv("SLUICE_LOG")) sl_log_set_level(SL_LOG_WARN);
    sl_error err = {0};
    int code =
        sl_pipeline_test(c.positional[0], c.tests, c.vars, c.case_name, c.verbose, stdout, &err);
    if (code == 2) fprintf(stderr, "sluice test: %s\n", err.msg);
    sl_vars_free(c.vars);
    return code;
}

/* ---- sluice vars ---- */
#define VARS_MAX 256
#define VARS_USES 32
typedef struct {
    char name[256];
    char *def; /* first default seen (NULL: none) */
    char *value;
    const char *from;
    int nuses;
    struct {
        char file[256], key[64];
        int line, col;
    } use[VARS_USES];
    int more; /* uses beyond VARS_USES */
} var_row;
typedef struct {
    var_row *v;
    int n;
} var_list;

static void on_var_use(void *ud, const char *file, int line, int col, const char *key,
                       const char *name, const char *def, size_t deflen, const char *value,
                       size_t valuelen, const char *from) {
    var_list *L = ud;
    var_row *r = NULL;
    for (int i = 0; i < L->n; i++)
        if (!strcmp(L->v[i].name, name)) r = &L->v[i];
    if (!r) {
        if (L->n == VARS_MAX) return;
        r = &L->v[L->n++];
        snprintf(r->name, sizeof r->name, "%s", name);
        r->def = def ? strndup(def, deflen) : NULL;
        r->value = strndup(value, valuelen);
        r->from = from;
    } else if (!r->def && def) {
        r->def = strndup(def, deflen);
    }
    if (r->nuses == VARS_USES) {
        r->more++;
        return;
    }
    snprintf(r->use[r->nuses].file, sizeof r->use[0].file, "%s", file);
    snprintf(r->use[r->nuses].key, sizeof r->use[0].key, "%s", key);
    r->use[r->nuses].line = line;
    r->use[r->nuses].col = col;
    r->nuses++;
}

/* A name that says its value is a secret: the value is never printed. */
static bool secret_name(const char *name) {
    static const char *const words[] = {"TOKEN",   "PASSWORD", "PASSWD",     "SECRET", "KEY",
                                        "WEBHOOK", "URL",      "CREDENTIAL", "AUTH"};
    char up[256];
    size_t i = 0;
    for (; name[i] && i < sizeof up - 1; i++)
        up[i] = (char)(name[i] >= 'a' && name[i] <= 'z' ? name[i] - 32 : name[i]);
    up[i] = 0;
    for (size_t w = 0; w < sizeof words / sizeof *words; w++)
        if (strstr(up, words[w])) return true;
    return false;
}

static void print_json_str(const char *s) {
    char buf[4096];
    sl_json_escape(buf, sizeof buf, s, (int)strlen(s));
    printf("\"%s\"", buf);
}

static int cmd_vars(int argc, char **argv) {
    cli c = {0};
    int rc = parse_cli(argc, argv, &c, "vars");
    if (rc) {
        sl_vars_free(c.vars);
        return rc == 1 ? 0 : 2;
    }
    bool json = c.format && !strcmp(c.format, "json");
    if (c.npos != 1 || (c.format && !json && strcmp(c.format, "table"))) {
        fprintf(stderr, "sluice vars: expected PIPELINE (and --format table|json)\n%s",
                cmd_help_text("vars"));
        sl_vars_free(c.vars);
        return 2;
    }
    var_list L = {calloc(VARS_MAX, sizeof(var_row)), 0};
    sl_vars_on_use(c.vars, on_var_use, &L);
    sl_error err = {0};
    const char *path = c.positional[0];
    sl_spec *spec = sl_spec_load(path, c.vars, &err), *base = NULL;
    const sl_node *ext = spec ? sl_node_get(sl_spec_root(spec), "extends") : NULL;
    if (ext && ext->str && *ext->str) { /* resolved as the pipeline loader does */
        char bpath[PATH_MAX * 2], dir[PATH_MAX];
        snprintf(dir, sizeof dir, "%s", path);
        char *slash = strrchr(dir, '/');
        if (slash)
            *slash = 0;
        else
            snprintf(dir, sizeof dir, ".");
        if (ext->str[0] == '/')
            snprintf(bpath, sizeof bpath, "%s", ext->str);
        else
            snprintf(bpath, sizeof bpath, "%s/%s", dir, ext->str);
        base = sl_spec_load(bpath, c.vars, &err);
        if (!base) sl_spec_free(spec), spec = NULL;
    }
    int code = 0;
    if (!spec) {
        fprintf(stderr, "%s\n", err.msg);
        code = 2;
    } else if (json) {
        for (int i = 0; i < L.n; i++) {
            var_row *r = &L.v[i];
            bool hide = secret_name(r->name) && strcmp(r->from, "unset");
            printf("{\"name\":");
            print_json_str(r->name);
            printf(",\"default\":");
            if (r->def)
                print_json_str(r->def);
            else
                printf("null");
            printf(",\"value\":");
            if (hide || !strcmp(r->from, "unset"))
                printf("null");
            else
                print_json_str(r->value);
            printf(",\"hidden\":%s,\"from\":\"%s\",\"used_at\":[", hide ? "true" : "false",
                   r->from);
            for (int u = 0; u < r->nuses; u++) {
                char at[600];
                snprintf(at, sizeof at, "%s:%d:%d", r->use[u].file, r->use[u].line, r->use[u].col);
                printf("%s{\"at\":", u ? "," : "");
                print_json_str(at);
                printf(",\"key\":");
                print_json_str(r->use[u].key);
                printf("}");
            }
            printf("]}\n");
        }
    } else {
        printf("%-22s %-24s %-28s %-11s %s\n", "VARIABLE", "DEFAULT", "VALUE", "FROM", "USED AT");
        for (int i = 0; i < L.n; i++) {
            var_row *r = &L.v[i];
            char value[64];
            if (!strcmp(r->from, "unset"))
                snprintf(value, sizeof value, "(unset)");
            else if (secret_name(r->name))
                snprintf(value, sizeof value, "(hidden, %zu chars)", strlen(r->value));
            else if (!*r->value)
                snprintf(value, sizeof value, "\"\"");
            else
                snprintf(value, sizeof value, "%.27s", r->value);
            printf("%-22s %-24.24s %-28s %-11s", r->name,
                   r->def ? (*r->def ? r->def : "\"\"") : "-", value, r->from);
            for (int u = 0; u < r->nuses; u++) {
                /* the file once per row, then line:col */
                bool same = u > 0 && !strcmp(r->use[u].file, r->use[u - 1].file);
                printf("%s%s%s%d:%d%s%s%s", u ? ", " : " ", same ? "" : r->use[u].file,
                       same ? "" : ":", r->use[u].line, r->use[u].col, *r->use[u].key ? " (" : "",
                       r->use[u].key, *r->use[u].key ? ")" : "");
            }
            if (r->more) printf(" and %d more", r->more);
            printf("\n");
        }
    }
    for (int i = 0; i < L.n; i++) {
        if (!strcmp(L.v[i].from, "unset")) {
            if (!code)
                fprintf(stderr, "sluice vars: '%s' is not set and has no default\n", L.v[i].name);
            code = code ? code : 2;
        }
        free(L.v[i].def);
        free(L.v[i].value);
    }
    free(L.v);
    sl_spec_free(spec);
    sl_spec_free(base);
    sl_vars_free(c.vars);
    return code;
}

/* `sluice alert test`: only the file's name and `alerts: channels:` are read,
 * so a connectivity check works while the rest of the file is being written. */
static int cmd_alert(int argc, char **argv) {
    cli c = {0};
    int rc = parse_cli(argc, argv, &c, "alert");
    if (rc) {
        sl_vars_free(c.vars);
        return rc == 1 ? 0 : 2;
    }
    if (c.npos < 2 || c.npos > 3 || strcmp(c.positional[0], "test")) {
        fprintf(stderr, "sluice alert: expected test [CHANNEL] PIPELINE\n%s",
                cmd_help_text("alert"));
        sl_vars_free(c.vars);
        return 2;
    }
    const char *only = c.npos == 3 ? c.positional[1] : NULL;
    const char *path = c.positional[c.npos - 1];
    sl_error err = {0};
    sl_spec *spec = sl_spec_load(path, c.vars, &err);
    sl_vars_free(c.vars);
    if (!spec) {
        fprintf(stderr, "%s\n", err.msg);
        return 2;
    }
    const sl_node *root = sl_spec_root(spec);
    const sl_node *nm = sl_node_get(root, "pipeline");
    const sl_node *alerts = sl_node_get(root, "alerts");
    const sl_node *chm = alerts ? sl_node_get(alerts, "channels") : NULL;
    sl_channels *ch = chm ? sl_channels_create(chm, &err) : NULL;
    int code = 0;
    if (!chm) {
        fprintf(stderr, "%s: no alerts: channels: to test\n", path);
        code = 2;
    } else if (!ch) {
        fprintf(stderr, "%s\n", err.msg);
        code = 2;
    } else if (only && sl_channels_find(ch, only) < 0) {
        fprintf(stderr, "sluice alert test: no channel '%s' in %s\n", only, path);
        code = 2;
    } else {
        int n = 0, failed = 0;
        const char *pname = nm && nm->str ? nm->str : "";
        /* every test is audited: a JSON log line now, and a _sluice_audit
         * row through the spool of the pipeline's data directory */
        char dir[PATH_MAX];
        if (c.data && *c.data)
            snprintf(dir, sizeof dir, "%s", c.data);
        else
            snprintf(dir, sizeof dir, "data/%s", pname);
        for (int i = 0; i < sl_channels_count(ch); i++) {
            const char *name = sl_channels_name(ch, i);
            if (only && strcmp(only, name)) continue;
            if (!sl_channels_enabled(ch, i)) { /* its "off" line */
                sl_channels_test(ch, name, pname, stdout);
                continue;
            }
            n++;
            bool bad = sl_channels_test(ch, name, pname, stdout) != 0;
            failed += bad;
            char route[160], detail[96];
            snprintf(route, sizeof route, "channel %s", name);
            snprintf(detail, sizeof detail, "rule sluice-test: %s", bad ? "failed" : "sent");
            sl_access_audit(NULL, "", "", "ALERT-TEST", route, detail, bad ? 502 : 200);
            sl_error se = {0};
            struct stat st;
            if (stat(dir, &st) || !S_ISDIR(st.st_mode)) /* no pipeline data there: the log only */
                sl_log_info("alert test: no data directory, audited in the log only",
                            "\"dir\":\"%s\"", "see --data");
            else if (sl_audit_spool(dir, "ALERT-TEST", route, detail, bad ? 502 : 200, &se))
                sl_log_warn("alert test: not written to the audit log", "\"error\":\"%s\"",
                            "cannot write the audit spool beside the data directory");
        }
        if (n == 0) printf("no enabled channel to test\n");
        code = failed || n == 0 ? 1 : 0;
    }
    sl_channels_free(ch);
    sl_spec_free(spec);
    return code;
}

#define PARSE_MAX_LINE ((size_t)1 << 20) /* a source's default max_line_bytes */

static void bad_print(void *ud, const char *line, size_t len, int32_t part, int64_t pos,
                      const char *reason) {
    (void)ud;
    (void)part;
    printf("# quarantine at offset %lld: %s: %.*s\n", (long long)pos, reason, (int)len, line);
}

static int cmd_parse(int argc, char **argv) {
    cli c = {0};
    int rc = parse_cli(argc, argv, &c, "parse");
    if (rc) {
        sl_vars_free(c.vars);
        return rc == 1 ? 0 : 2;
    }
    const char *format = c.npos >= 1 ? c.positional[0] : "";
    if (!strcmp(format, "rfc3164")) format = "syslog"; /* see the help text */
    static const char *const formats[] = {"json", "syslog", "logfmt",  "regex",
                                          "csv",  "nginx",  "combined"};
    bool known = false;
    for (size_t i = 0; i < sizeof formats / sizeof *formats; i++)
        known |= !strcmp(format, formats[i]);
    bool csv = !strcmp(format, "csv"), json = !strcmp(format, "json"),
         regex = !strcmp(format, "regex");
    const char *why = NULL;
    if (c.npos < 1 || c.npos > 2)
        why = "expected FORMAT [FILE]";
    else if (!known)
        why = "unknown format (json, syslog, rfc3164, logfmt, regex, csv, nginx, combined)";
    else if (c.infer && !json && !csv)
        why = "--infer is for json and csv";
    else if (c.infer && c.schema)
        why = "--infer or --schema, not both";
    else if (!c.schema && !c.infer && (json || csv || !strcmp(format, "logfmt")))
        why = "json, logfmt and csv need --schema (json and csv: or --infer)";
    else if (regex != !!c.pattern)
        why = "--pattern goes with format regex (and regex needs it)";
    else if (!csv && (c.delimiter || c.header >= 0))
        why = "--delimiter and --header are for csv";
    else if (c.delimiter && strlen(c.delimiter) != 1)
        why = "--delimiter takes one character";
    if (why) {
        fprintf(stderr, "sluice parse: %s\n%s", why, cmd_help_text("parse"));
        sl_vars_free(c.vars);
        return 2;
    }
    char delim = c.delimiter ? c.delimiter[0] : ',';
    bool header = c.header != 0;
    sl_schema s;
    sl_schema_init(&s);
    sl_error err = {0};
    if (!c.schema) sl_line_format_default_schema(format, &s);
    if (!c.schema && regex && sl_regex_schema(c.pattern, &s, &err)) {
        fprintf(stderr, "sluice parse: %s\n", err.msg);
        sl_vars_free(c.vars);
        return 2;
    }
    char *spec = sl_xstrdup(c.schema ? c.schema : ""), *save = NULL;
    for (char *tok = strtok_r(spec, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        char *colon = strchr(tok, ':');
        int t = colon ? sl_type_parse(colon + 1) : -1;
        if (colon) *colon = 0;
        if (t < 0 || sl_schema_add(&s, tok, (sl_type)t) < 0) {
            fprintf(stderr,
                    "sluice parse: bad --schema entry '%s' (want name:type with type "
                    "int|double|string|bool|timestamp)\n",
                    tok);
            free(spec);
            sl_vars_free(c.vars);
            return 2;
        }
    }
    free(spec);
    FILE *in = stdin;
    if (c.npos == 2 && !(in = fopen(c.positional[1], "rb"))) {
        fprintf(stderr, "sluice parse: cannot open %s\n", c.positional[1]);
        sl_vars_free(c.vars);
        return 1;
    }
    size_t cap = 1 << 20, len = 0;
    char *buf = sl_xmalloc(cap + SL_JSON_PADDING + 1);
    size_t r;
    while ((r = fread(buf + len, 1, cap - len, in)) > 0) {
        len += r;
        if (len == cap) {
            cap *= 2;
            buf = sl_xrealloc(buf, cap + SL_JSON_PADDING + 1);
        }
    }
    if (in != stdin) fclose(in);
    if (len && buf[len - 1] != '\n') buf[len++] = '\n';
    memset(buf + len, 0, SL_JSON_PADDING);
    if (c.infer) {
        sl_infer *inf = sl_infer_new();
        if (csv)
            sl_infer_csv(inf, buf, len, delim, header, NULL, 0, INT64_MAX);
        else
            sl_infer_json(inf, buf, len, INT64_MAX);
        int rc2 = sl_infer_schema(inf, NULL, &s, &err);
        printf("# inferred from %lld records of %s; paste into a source (or use schema: "
               "infer)\nschema:\n",
               (long long)sl_infer_records(inf), c.npos == 2 ? c.positional[1] : "stdin");
        for (int i = 0; i < s.n; i++)
            printf("  %s: %s\n", s.f[i].name, sl_type_name(s.f[i].type));
        if (!s.n) printf("  {}\n");
        sl_infer_free(inf);
        if (rc2) fprintf(stderr, "sluice parse: %s\n", err.msg);
        free(buf);
        sl_vars_free(c.vars);
        return rc2 ? 1 : 0;
    }
    sl_line_format_opts fo = {.pattern = c.pattern, .delim = delim, .header = header};
    sl_line_format *lf = sl_line_format_new_opts(format, &s, NULL, &fo, &err);
    if (!lf) {
        fprintf(stderr, "sluice parse: %s\n", err.msg);
        free(buf);
        sl_vars_free(c.vars);
        return 2;
    }
    sl_batch *b = sl_batch_new(&s, 1024);
    size_t off = 0, cap_line = 1 << 20, seg = 0, lim = PARSE_MAX_LINE;
    char *line = sl_xmalloc(cap_line);
    const char *nl = NULL;
    while (off < len) {
        /* a line over max_line_bytes is one bad record, as in a source: parse
         * up to the next one (seg), then report it */
        if (off >= seg)
            for (seg = off;
                 (nl = memchr(buf + seg, '\n', len - seg)) && (size_t)(nl - buf) - seg <= lim;)
                seg = (size_t)(nl - buf) + 1;
        if (seg == off && nl) {
            char why[128];
            snprintf(why, sizeof why, "line of %zu bytes exceeds max_line_bytes (%zu)",
                     (size_t)(nl - buf) - off, lim);
            bad_print(NULL, buf + off, 200, 0, (int64_t)off, why);
            off = (size_t)(nl - buf) + 1;
            continue;
        }
        sl_batch_clear(b);
        size_t used = sl_line_format_parse(lf, buf + off, seg - off, 0, (int64_t)off, sl_now_us(),
                                           b, bad_print, NULL);
        for (uint32_t i = 0; i < b->n; i++) {
            size_t n = sl_json_write_row(b, i, NULL, line, cap_line);
            if (n >= cap_line) { /* a long row: print it all */
                line = sl_xrealloc(line, cap_line = n + 1);
                n = sl_json_write_row(b, i, NULL, line, cap_line);
            }
            printf("%.*s\n", (int)n, line);
        }
        if (!used) { /* the format cannot take the rest: the input ends inside a record */
            size_t rl = seg - off;
            while (rl && (buf[off + rl - 1] == '\n' || buf[off + rl - 1] == '\r'))
                rl--;
            bad_print(NULL, buf + off, rl, 0, (int64_t)off,
                      csv ? "unterminated quoted field at the end of the file"
                          : "incomplete record at the end of the file");
            off = seg;
            continue;
        }
        off += used;
    }
    free(line);
    sl_batch_free(b);
    sl_line_format_free(lf);
    free(buf);
    sl_vars_free(c.vars);
    return 0;
}

static int cmd_help(int argc, char **argv) {
    if (argc < 2) {
        usage(stdout);
        printf("\nSources (a source's `type:`; `sluice help sources`: the options of every "
               "source):\n");
        for (const sl_source_def *const *d = sl_source_all(); *d; d++)
            printf("  %-10s %s\n", (*d)->name, (*d)->help);
        printf("\nOperators (steps of a table):\n");
        for (const sl_op_def *const *d = sl_op_all(); *d; d++)
            printf("  %-10s %s\n", (*d)->name, (*d)->help);
        printf("  %-10s %s\n", "window", "event-time window aggregation (a table's `window:` key)");
        printf("\nSinks (a table's outputs: store:, publish:, sinks:):\n");
        for (const sl_sink_def *const *d = sl_sink_all(); *d; d++)
            printf("  %-10s %s\n", (*d)->name, (*d)->help);
        return 0;
    }
    if (!strcmp(argv[1], "window")) {
        printf("window: event-time window aggregation\n");
        sl_opt_print_help(stdout, sl_window_opts);
        return 0;
    }
    if (!strcmp(argv[1], "sources")) {
        printf("sources: the options every source takes, whatever its type\n");
        sl_opt_print_help(stdout, sl_source_common_opts());
        return 0;
    }
    const sl_source_def *src = sl_source_find(argv[1]);
    if (src) {
        printf("source %s: %s\n", src->name, src->help);
        sl_opt_print_help(stdout, src->opts);
        printf("and the options every source takes (sluice help sources); default format: %s\n",
               src->format);
        return 0;
    }
    const sl_op_def *d = sl_op_find(argv[1]);
    const sl_sink_def *sink = sl_sink_find(argv[1]);
    if (sink) {
        printf("sink %s: %s\n", sink->name, sink->help);
        if (sink->opts)
            sl_opt_print_help(stdout, sink->opts);
        else
            printf("  (no options)\n");
    }
    if (!d) {
        if (sink) return 0;
        const char *t = cmd_help_text(argv[1]);
        if (t) {
            fputs(t, stdout);
            return 0;
        }
        fprintf(stderr, "sluice help: unknown component or command '%s'\n", argv[1]);
        return 2;
    }
    printf("%s: %s\n", d->name, d->help);
    if (d->opts) sl_opt_print_help(stdout, d->opts);
    return 0;
}

int main(int argc, char **argv) {
    sl_log_init();
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h")) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(cmd, "--version")) {
        printf("sluice %s\n", SLUICE_VERSION);
        return 0;
    }
    if (!strcmp(cmd, "help")) return cmd_help(argc - 1, argv + 1);
    if (!strcmp(cmd, "run") || !strcmp(cmd, "query") || !strcmp(cmd, "validate") ||
        !strcmp(cmd, "refresh") || !strcmp(cmd, "lineage") || !strcmp(cmd, "check"))
        return cmd_pipeline(argc - 1, argv + 1, cmd);
    if (!strcmp(cmd, "parse")) return cmd_parse(argc - 1, argv + 1);
    if (!strcmp(cmd, "vars")) return cmd_vars(argc - 1, argv + 1);
    if (!strcmp(cmd, "test")) return cmd_test(argc - 1, argv + 1);
    if (!strcmp(cmd, "tap")) return sl_tap_main(argc - 1, argv + 1);
    if (!strcmp(cmd, "top")) return sl_top_main(argc - 1, argv + 1);
    if (!strcmp(cmd, "alert")) return cmd_alert(argc - 1, argv + 1);
    if (!strcmp(cmd, "kafka-mock")) return sl_kafka_mock_main(argc - 1, argv + 1);
    if (!strcmp(cmd, "gen")) {
        if (argc < 3 || !strcmp(argv[2], "--help")) {
            printf("usage: sluice gen FLAVOR [options]\nflavors: cameras, umb, telco, retail, "
                   "dataops, access, cloud\nRun "
                   "`sluice gen FLAVOR --help` for options.\n");
            return argc < 3 ? 2 : 0;
        }
        if (!strcmp(argv[2], "cameras")) return sl_gen_cameras_main(argc - 2, argv + 2);
        if (!strcmp(argv[2], "umb")) return sl_gen_umb_main(argc - 2, argv + 2);
        if (!strcmp(argv[2], "telco")) return sl_gen_telco_main(argc - 2, argv + 2);
        if (!strcmp(argv[2], "retail")) return sl_gen_retail_main(argc - 2, argv + 2);
        if (!strcmp(argv[2], "dataops")) return sl_gen_dataops_main(argc - 2, argv + 2);
        if (!strcmp(argv[2], "access")) return sl_gen_access_main(argc - 2, argv + 2);
        if (!strcmp(argv[2], "cloud")) return sl_gen_cloud_main(argc - 2, argv + 2);
        fprintf(stderr,
                "sluice gen: unknown flavor '%s' (available: cameras, umb, telco, retail, dataops, "
                "access, cloud)\n",
                argv[2]);
        return 2;
    }
    fprintf(stderr, "sluice: unknown command '%s'\n\n", cmd);
    usage(stderr);
    return 2;
}
