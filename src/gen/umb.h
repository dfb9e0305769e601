/*
 * umb.h - `sluice gen umb`: maas_notification-like messages (seed 003) for
 * the umb flavor, to Kafka (with headers) or to files for kcat. `--help`
 * prints the options. Returns 0 done, 1 runtime failure, 2 bad arguments.
 */
#ifndef SL_GEN_UMB_H
#define SL_GEN_UMB_H

int sl_gen_umb_main(int argc, char **argv);

#endif
