#!/usr/bin/env bash
# Runs every libFuzzer target in BUILD (default build-fuzz) over its committed
# corpus. FUZZ_RUNS=N (default 1,000,000) executions per target, or
# FUZZ_SECONDS=S to bound each by time instead. New inputs go to a scratch
# corpus; crashes are saved as fuzz/crash-* (add a fixed one to fuzz/corpus/<name>/).
# Prints "N passed, N failed" (one per target).
set -u
build=${1:-build-fuzz}
repo=$(cd "$(dirname "$0")/.." && pwd)
runs=${FUZZ_RUNS:-1000000}
passed=0; failed=0
for bin in "$build"/fuzz_*; do
  [ -x "$bin" ] || continue
  name=$(basename "$bin"); corpus=${name#fuzz_}
  scratch=$(mktemp -d)
  args=(-rss_limit_mb=2048 -artifact_prefix="$repo/fuzz/crash-$corpus-" -print_final_stats=1)
  if [ -n "${FUZZ_SECONDS:-}" ]; then args+=(-max_total_time="$FUZZ_SECONDS"); else args+=(-runs="$runs"); fi
  dict="$repo/fuzz/$corpus.dict"; [ -f "$dict" ] && args+=(-dict="$dict")
  if "$bin" "${args[@]}" "$scratch" "$repo/fuzz/corpus/$corpus" >"$scratch.log" 2>&1; then
    execs=$(grep -a 'stat::number_of_executed_units' "$scratch.log" | awk '{print $2}')
    echo "fuzz $name: ok, ${execs:-?} executions"
    passed=$((passed + 1))
  else
    echo "fuzz $name: FAILED"; grep -a -m5 -E 'ERROR|SUMMARY|crash-' "$scratch.log"
    failed=$((failed + 1))
  fi
  rm -rf "$scratch" "$scratch.log"
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
