#!/usr/bin/env bash
# fuzz.sh - runs every libFuzzer target in a fuzz build, one after the other,
# and prints a table: target, executions, seconds, exec/s, crashes, corpus.
#
#   scripts/fuzz.sh [BUILD]          BUILD defaults to build-fuzz
#
#   FUZZ_RUNS=N      executions per target (default 1,000,000)
#   FUZZ_SECONDS=S   bound each target by time instead of executions
#   FUZZ_TARGETS="json csv"   only these targets, in this order (default: every fuzz_* in BUILD)
#   FUZZ_REPORT=FILE also append the table to FILE as Markdown
#   FUZZ_KEEP=DIR    keep each target's grown corpus in DIR/<target>/
#
# Each target starts from its committed corpus fuzz/corpus/<name>/ (read only);
# new inputs go to a scratch corpus that is thrown away unless FUZZ_KEEP is set.
# A crash, leak, timeout or out-of-memory stops that target, leaves the input
# as fuzz/crash-<name>-{crash,leak,timeout,oom}-<sha1>, prints the sanitizer's
# summary, and makes the script exit 1 once every target has run. Fix the bug,
# then add the input to fuzz/corpus/<name>/ so `make check` replays it.
#
# The last line is "N passed, N failed" (scripts/run-tests.sh reads it).
set -u
build=${1:-build-fuzz}
repo=$(cd "$(dirname "$0")/.." && pwd)
runs=${FUZZ_RUNS:-1000000}
passed=0; failed=0
rows=()

stat_of() { grep -a "stat::$1:" "$2" | tail -1 | awk '{print $2}'; }

bins=()
if [ -n "${FUZZ_TARGETS:-}" ]; then
  for t in $FUZZ_TARGETS; do bins+=("$build/fuzz_$t"); done # in the order given
else
  bins=("$build"/fuzz_*)
fi
for bin in "${bins[@]}"; do
  [ -x "$bin" ] && [ -f "$bin" ] || { [ -n "${FUZZ_TARGETS:-}" ] && echo "fuzz: no target $bin" && failed=$((failed + 1)); continue; }
  name=$(basename "$bin"); corpus=${name#fuzz_}
  scratch=$(mktemp -d "${TMPDIR:-/tmp}/fuzz-$corpus.XXXXXX")
  log="$scratch.log"
  args=(-rss_limit_mb=2048 -timeout=30 -artifact_prefix="$repo/fuzz/crash-$corpus-" -print_final_stats=1)
  if [ -n "${FUZZ_SECONDS:-}" ]; then args+=(-max_total_time="$FUZZ_SECONDS"); else args+=(-runs="$runs"); fi
  dict="$repo/fuzz/$corpus.dict"; [ -f "$dict" ] && args+=(-dict="$dict")
  seeds=(); [ -d "$repo/fuzz/corpus/$corpus" ] && seeds=("$repo/fuzz/corpus/$corpus")
  t0=$(date +%s.%N)
  "$bin" "${args[@]}" "$scratch" "${seeds[@]}" >"$log" 2>&1
  rc=$?
  secs=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN{printf "%.1f", b - a}')
  execs=$(stat_of number_of_executed_units "$log")
  # after a crash there are no final stats: take the last status line's #N
  [ -n "$execs" ] || execs=$(grep -aoE '^#[0-9]+' "$log" | tail -1 | tr -d '#')
  execs=${execs:-0}
  rate=$(awk -v n="$execs" -v s="$secs" 'BEGIN{printf "%.0f", (s > 0 ? n / s : n)}')
  corp=$(grep -aoE 'corp: [0-9]+/[0-9]+[a-zA-Z]*' "$log" | tail -1 | sed 's/corp: //')
  crashes=$(grep -acE '^artifact_prefix=|Test unit written to' "$log")
  if [ $rc -eq 0 ] && [ "$crashes" -eq 0 ]; then
    result=ok; passed=$((passed + 1))
  else
    result="FAILED (exit $rc)"; failed=$((failed + 1))
    [ "$crashes" -eq 0 ] && crashes=1
    echo "fuzz $name: FAILED"
    grep -a -m8 -E 'ERROR|SUMMARY|Test unit written|runtime error' "$log" | sed 's/^/  /'
  fi
  printf 'fuzz %-12s %-6s %12s executions %6ss %8s exec/s  crashes %s  corpus %s\n' \
    "$name" "$result" "$execs" "$secs" "$rate" "$crashes" "${corp:-?}"
  rows+=("| $corpus | $execs | $secs | $rate | $crashes | ${corp:-?} | $result |")
  if [ -n "${FUZZ_KEEP:-}" ]; then mkdir -p "$FUZZ_KEEP/$corpus" && cp -r "$scratch"/. "$FUZZ_KEEP/$corpus/"; fi
  rm -rf "$scratch" "$log"
done

if [ -n "${FUZZ_REPORT:-}" ]; then
  {
    echo "| target | executions | seconds | exec/s | crashes | corpus (inputs/bytes) | result |"
    echo "|---|---:|---:|---:|---:|---|---|"
    printf '%s\n' "${rows[@]}"
  } >>"$FUZZ_REPORT"
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
