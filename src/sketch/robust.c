/*
 * robust.c - median, quantile and MAD by selection; see robust.h.
 *
 * select_k leaves a[k] holding the value of rank k and partitions around
 * it (everything before <= a[k] <= everything after), so the next rank is
 * the minimum of the part after k: the even-count median costs one
 * selection plus one linear scan. Ranges of 16 or fewer use insertion sort.
 * Only finite values reach select_k, so comparisons are a total order.
 */
#include "sketch/robust.h"

#include <math.h>
#include <stddef.h>

static inline void swapd(double *a, double *b) {
    double t = *a;
    *a = *b;
    *b = t;
}

static double select_k(double *a, size_t n, size_t k) {
    ptrdiff_t lo = 0, hi = (ptrdiff_t)n - 1, kk = (ptrdiff_t)k;
    while (hi - lo > 16) {
        ptrdiff_t mid = lo + (hi - lo) / 2;
        if (a[mid] < a[lo]) swapd(&a[mid], &a[lo]);
        if (a[hi] < a[lo]) swapd(&a[hi], &a[lo]);
        if (a[hi] < a[mid]) swapd(&a[hi], &a[mid]);
        double pivot = a[mid];
        ptrdiff_t i = lo, j = hi;
        while (i <= j) { /* Hoare: stops on equal keys, so duplicates split evenly */
            while (a[i] < pivot)
                i++;
            while (a[j] > pivot)
                j--;
            if (i <= j) {
                swapd(&a[i], &a[j]);
                i++;
                j--;
            }
        }
        /* [lo..j] <= pivot, [i..hi] >= pivot, (j..i) == pivot */
        if (kk <= j)
            hi = j;
        else if (kk >= i)
            lo = i;
        else
            return a[kk];
    }
    for (ptrdiff_t i = lo + 1; i <= hi; i++) {
        double x = a[i];
        ptrdiff_t j = i - 1;
        while (j >= lo && a[j] > x) {
            a[j + 1] = a[j];
            j--;
        }
        a[j + 1] = x;
    }
    return a[kk];
}

static size_t copy_finite(const double *v, size_t n, double *out) {
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (isfinite(v[i])) out[k++] = v[i];
    return k;
}

static double median_of(double *a, size_t k) { /* k > 0, all finite */
    size_t mid = k / 2;
    double hi = select_k(a, k, mid);
    if (k & 1) return hi;
    double lo = a[0]; /* max of a[0..mid-1], all <= a[mid] */
    for (size_t i = 1; i < mid; i++)
        if (a[i] > lo) lo = a[i];
    return lo + (hi - lo) / 2;
}

double sl_robust_median(const double *v, size_t n, double *scratch) {
    size_t k = copy_finite(v, n, scratch);
    return k ? median_of(scratch, k) : NAN;
}

double sl_robust_quantile(const double *v, size_t n, double *scratch, double q) {
    if (!(q >= 0 && q <= 1)) return NAN;
    size_t k = copy_finite(v, n, scratch);
    if (!k) return NAN;
    size_t r = (size_t)floor(q * (double)(k - 1));
    if (r > k - 1) r = k - 1;
    return select_k(scratch, k, r);
}

double sl_robust_mad(const double *v, size_t n, double *scratch, double *median) {
    size_t k = copy_finite(v, n, scratch);
    if (!k) {
        if (median) *median = NAN;
        return NAN;
    }
    double med = median_of(scratch, k);
    if (median) *median = med;
    for (size_t i = 0; i < k; i++)
        scratch[i] = fabs(scratch[i] - med);
    return median_of(scratch, k);
}

double sl_robust_zscore(double x, double median, double mad) {
    if (!isfinite(x) || !isfinite(median) || !isfinite(mad) || mad == 0) return NAN;
    return SL_ROBUST_Z_CONST * (x - median) / mad;
}
