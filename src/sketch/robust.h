/*
 * robust.h - robust statistics over a small array of doubles: median,
 * quantile, MAD and the robust z-score, for baselines over the last N
 * windows (MAD anomalies of seed 004).
 *
 * The idea: the median and the median absolute deviation ignore a few wild
 * values that would drag the mean and the standard deviation along, so a
 * spike does not hide the next spike. Both are found by selection
 * (quickselect with a median-of-three pivot, expected O(n)), not by a full
 * sort.
 *
 * Inputs are const: the functions copy the finite values into a caller
 * scratch array of at least n doubles (scratch == v is allowed and then
 * reorders v) so a ring buffer of recent values stays intact and nothing is
 * allocated. NaN and +/-inf values are skipped; with no finite value the
 * result is NAN.
 *
 * Definitions: median = middle value, mean of the two middle values when
 * the count is even; quantile(q) = value of 0-based rank floor(q*(k-1)) of
 * the k finite values (the same rule as sl_ddsketch_quantile);
 * MAD = median(|x_i - median|);
 * robust z = 0.6745 * (x - median) / MAD (Iglewicz and Hoaglin), NAN when
 * MAD == 0 (more than half the values equal: no scale to judge by).
 */
#ifndef SL_SKETCH_ROBUST_H
#define SL_SKETCH_ROBUST_H

#include <stddef.h>

#define SL_ROBUST_Z_CONST 0.6745

double sl_robust_median(const double *v, size_t n, double *scratch);
/* NAN when q is not in [0,1]. */
double sl_robust_quantile(const double *v, size_t n, double *scratch, double q);
/* Returns the MAD; the median goes to *median if non-NULL. */
double sl_robust_mad(const double *v, size_t n, double *scratch, double *median);
/* NAN when mad == 0 or any argument is not finite. */
double sl_robust_zscore(double x, double median, double mad);

#endif
