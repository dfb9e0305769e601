/*
 * gen.h - data generators, one per flavor, run as `sluice gen FLAVOR ARGS...`.
 *
 * A generator writes what a flavor's pipeline reads, with the defects the
 * seed document describes (redelivered duplicates, late and malformed
 * records) at rates given on the command line, so tests, benchmarks and the
 * demo all exercise the same input. In the count-bounded mode the output is
 * a pure function of the arguments (same seed, same bytes), which is what
 * lets an independent reference recompute the exact expected results.
 */
#ifndef SL_GEN_GEN_H
#define SL_GEN_GEN_H

/*
 * `sluice gen cameras ...` (argv[0] = "cameras"): camera detections as NDJSON
 * files in a landing folder plus a locations.csv lookup. `--help` prints the
 * options. Returns the process exit status: 0 done, 1 runtime failure (I/O,
 * the message is on stderr), 2 bad arguments (usage on stderr).
 */
int sl_gen_cameras_main(int argc, char **argv);

/*
 * `sluice gen telco ...`: RFC 5424 syslog lines, SNMP-like metrics (NDJSON),
 * entity attribute records and entities.csv (seed 000, telco flavor).
 * `sluice gen retail ...`: POS events, store/register metrics, store and
 * register attribute records and entities.csv (seed 000, retail flavor).
 * Same exit statuses as sl_gen_cameras_main.
 */
int sl_gen_telco_main(int argc, char **argv);
int sl_gen_retail_main(int argc, char **argv);

/*
 * `sluice gen dataops ...`: job runs, cluster metrics and jobs.csv of a data
 * platform (seed 002, dataops flavor). Same exit statuses as above.
 */
int sl_gen_dataops_main(int argc, char **argv);

/*
 * `sluice gen cloud ...`: a cloud provider's master CSVs and usage events in
 * schema versions 1 and 2 (seed 004, cloud flavor). Same exit statuses.
 */
int sl_gen_cloud_main(int argc, char **argv);

/*
 * `sluice gen access ...`: combined-format web access logs with a request
 * time (pipelines/access-logs.yaml). Same exit statuses as above.
 */
int sl_gen_access_main(int argc, char **argv);

#endif
