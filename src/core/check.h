/*
 * check.h - two levels of invariant checks.
 *
 * assert() (<assert.h>) is for cheap checks: O(1), not inside a per-value
 * loop. It stays on in release builds (RelWithDebInfo does not define
 * NDEBUG): a broken invariant in a streaming engine is better stopped at
 * the line that found it than carried into the checkpoint.
 *
 * SL_DASSERT() is for checks that cost a loop or sit on a per-value path
 * (a sortedness walk, a check per row). It is compiled in unoptimised
 * builds (Debug, the sanitizer build) or with -DSL_DEBUG_CHECKS, and is a
 * no-op otherwise, so the hot paths pay nothing in release builds.
 */
#ifndef SL_CORE_CHECK_H
#define SL_CORE_CHECK_H

#include <assert.h>

#if !defined(NDEBUG) && (defined(SL_DEBUG_CHECKS) || !defined(__OPTIMIZE__))
#define SL_DEBUG_CHECKS_ON 1
#define SL_DASSERT(x) assert(x)
#else
#define SL_DEBUG_CHECKS_ON 0
#define SL_DASSERT(x) ((void)0)
#endif

#endif
