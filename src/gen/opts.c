/*
 * opts.c - the generators' option tables (opts.h): getopt_long, value checks
 * and the usage text, all from one table row per option.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/mem.h"
#include "core/timeutil.h"
#include "gen/opts.h"

static void gen_usage(FILE *f, const char *head, const sl_gen_opt *tab, size_t n) {
    fprintf(f, "%s\n", head);
    for (size_t i = 0; i < n; i++) {
        char lhs[48];
        snprintf(lhs, sizeof lhs, "--%s %s", tab[i].name, tab[i].arg);
        fprintf(f, "  %-26s %s\n", lhs, tab[i].help);
    }
    fprintf(f, "  %-26s %s\n", "--help", "print this and exit");
}

static int gen_opt_set(void *o, const sl_gen_opt *d, const char *v) {
    char *end = NULL;
    void *dst = (char *)o + d->off;
    errno = 0;
    switch (d->type) {
    case SL_GOPT_I64: {
        long long x = strtoll(v, &end, 10);
        if (errno || end == v || *end || x < d->min || x > d->max) return -1;
        *(int64_t *)dst = x;
        return 0;
    }
    case SL_GOPT_U64: {
        if (*v == '-') return -1;
        unsigned long long x = strtoull(v, &end, 10);
        if (errno || end == v || *end) return -1;
        *(uint64_t *)dst = x;
        return 0;
    }
    case SL_GOPT_DBL: {
        double x = strtod(v, &end);
        if (errno || end == v || *end || !(x >= d->min && x <= d->max)) return -1;
        *(double *)dst = x;
        return 0;
    }
    case SL_GOPT_STR:
        if (!*v) return -1;
        *(const char **)dst = v;
        return 0;
    case SL_GOPT_TIME: {
        int64_t us;
        if (sl_time_parse_iso(v, strlen(v), &us)) return -1;
        *(int64_t *)dst = sl_floor_div(us, SL_US_PER_MS);
        return 0;
    }
    }
    return -1;
}

int sl_gen_parse_opts(int argc, char **argv, const char *flavor, const char *usage_head,
                      const sl_gen_opt *tab, size_t n, void *opts, const char **out,
                      const int64_t *events, const double *rate, const double *duration) {
    enum { OPT_HELP = 'h', OPT_BASE = 256 };
    struct option *lo = sl_xcalloc(n + 2, sizeof *lo);
    for (size_t i = 0; i < n; i++)
        lo[i] = (struct option){tab[i].name, required_argument, NULL, OPT_BASE + (int)i};
    lo[n] = (struct option){"help", no_argument, NULL, OPT_HELP};
    int seen_duration = 0, c;
    optind = 0;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
        if (c == OPT_HELP) {
            gen_usage(stdout, usage_head, tab, n);
            free(lo);
            return 1;
        }
        if (c < OPT_BASE || c >= OPT_BASE + (int)n) {
            if (optopt >= OPT_BASE && optopt < OPT_BASE + (int)n)
                fprintf(stderr, "gen %s: option --%s needs a value\n", flavor,
                        tab[optopt - OPT_BASE].name);
            else
                fprintf(stderr, "gen %s: unknown option '%s'\n", flavor, argv[optind - 1]);
            goto bad;
        }
        const sl_gen_opt *d = &tab[c - OPT_BASE];
        if (gen_opt_set(opts, d, optarg)) {
            fprintf(stderr, "gen %s: bad value '%s' for --%s\n", flavor, optarg, d->name);
            goto bad;
        }
        if (!strcmp(d->name, "duration")) seen_duration = 1;
    }
    if (optind < argc) {
        fprintf(stderr, "gen %s: unexpected argument '%s'\n", flavor, argv[optind]);
        goto bad;
    }
    if (!*out) {
        fprintf(stderr, "gen %s: --out DIR is required\n", flavor);
        goto bad;
    }
    if ((*events >= 0) == (*rate > 0)) {
        fprintf(stderr, "gen %s: give exactly one of --events N or --rate R\n", flavor);
        goto bad;
    }
    if (*events >= 0 && seen_duration) {
        fprintf(stderr, "gen %s: --duration goes with --rate\n", flavor);
        goto bad;
    }
    (void)duration;
    free(lo);
    return 0;
bad:
    free(lo);
    gen_usage(stderr, usage_head, tab, n);
    return 2;
}
