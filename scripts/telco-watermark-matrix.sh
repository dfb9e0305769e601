#!/usr/bin/env bash
# The telco watermark matrix (make chaos-telco): telco.yaml at 400k and 1.2M
# generated lines, commit_interval 100ms, 1s and 10s, once uninterrupted and
# once with SIGKILLs at random moments followed by a --once restart. In every
# run, sum(samples) of each 5-minute gold table must equal the silver row
# count and the hourly rollup. Prints one line per run; exits 1 on any mismatch.
set -euo pipefail
build=$(cd "${1:-build}" && pwd)
sluice=$build/sluice
repo=$(cd "$(dirname "$0")/.." && pwd)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/sluice-wm.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
kills=${KILLS:-5}
bad=0
for lines in ${SIZES:-400000 1200000}; do
  "$sluice" gen telco --events "$lines" --seed 7 --out "$tmp/in" 2>/dev/null
  for ci in ${INTERVALS:-100ms 1s 10s}; do
    for mode in once kill; do
      rm -rf "$tmp/out"
      if [ "$mode" = kill ]; then
        for _ in $(seq "$kills"); do
          "$sluice" run "$repo/pipelines/telco.yaml" --data "$tmp/out" --set input="$tmp/in" --set commit_interval="$ci" --once --status 0 2>/dev/null &
          pid=$!
          sleep "0.$((RANDOM % 9 + 1))"
          kill -9 "$pid" 2>/dev/null || true
          wait "$pid" 2>/dev/null || true
        done
      fi
      "$sluice" run "$repo/pipelines/telco.yaml" --data "$tmp/out" --set input="$tmp/in" --set commit_interval="$ci" --once --status 0 2>/dev/null
      read -r silver p5 p1h e5 < <(sqlite3 -separator ' ' "$tmp/out/sluice.db" "SELECT (SELECT count(*) FROM silver_metrics_validated),
        (SELECT sum(samples) FROM gold_performance_5min), (SELECT sum(samples) FROM gold_performance_1h), (SELECT sum(samples) FROM gold_entity_metrics_5min)")
      verdict=ok
      { [ "$p5" = "$silver" ] && [ "$p1h" = "$silver" ] && [ "$e5" = "$silver" ]; } || { verdict=MISMATCH; bad=1; }
      printf '%-8s lines=%-8s commit_interval=%-6s silver=%-8s perf_5min=%-8s perf_1h=%-8s entity_5min=%-8s %s\n' \
        "$mode" "$lines" "$ci" "$silver" "$p5" "$p1h" "$e5" "$verdict"
    done
  done
  rm -rf "$tmp/in"
done
exit $bad
