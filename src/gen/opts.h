/*
 * opts.h - the option tables of the generators (opts.c; internal to src/gen).
 *
 * One table row per option drives getopt_long, value checking and the usage
 * text: adding an option is adding a row.
 */
#ifndef SL_GEN_OPTS_H
#define SL_GEN_OPTS_H

#include <stddef.h>
#include <stdint.h>

typedef enum { SL_GOPT_I64, SL_GOPT_U64, SL_GOPT_DBL, SL_GOPT_STR, SL_GOPT_TIME } sl_gen_opt_type;

typedef struct sl_gen_opt {
    const char *name;
    sl_gen_opt_type type;
    size_t off;      /* offset into the caller's options struct */
    double min, max; /* numeric bounds, inclusive */
    const char *arg;
    const char *help;
} sl_gen_opt;

/* Parses argv (argv[0] = the flavor) into opts. out/events/rate/duration point
 * into opts: --out is required and exactly one of --events (>= 0) or --rate
 * (> 0) must be given; --duration goes with --rate. Returns 0 to run, 1 when
 * --help was printed (stdout), 2 on bad use (message and usage on stderr). */
int sl_gen_parse_opts(int argc, char **argv, const char *flavor, const char *usage_head,
                      const sl_gen_opt *tab, size_t n, void *opts, const char **out,
                      const int64_t *events, const double *rate, const double *duration);

#endif
