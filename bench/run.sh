#!/usr/bin/env bash
# make bench: cameras pipeline side by side with DuckDB (bench/cameras.sh: throughput, CPU, peak RSS,
# bytes on disk, instructions per record; BENCH_ONLY=cameras runs only that part),
# the cost and memory of each window aggregate (bench_aggs), lake append/scan and
# filter-expression speed (micro_bench), and one commit's window work (window_commit_bench).
# Prints a table and appends it to bench/RESULTS.md with the machine and commit.
set -euo pipefail
build=$(cd "${1:-build}" && pwd)
repo=$(cd "$(dirname "$0")/.." && pwd)

# ---- window aggregates (tests/tools/bench_aggs) --------------------------------------------
# ns/record and bytes per window-key of each aggregate alone on a fixed input, plus
# instructions/record under callgrind (only sl_window_process is counted). BENCH_ONLY=aggs
# stops after this part.
aggs_bench() {
  local tool="$build/bench_aggs" rows=${BENCH_AGG_ROWS:-1000000} keys=${BENCH_AGG_KEYS:-1000}
  if [ ! -x "$tool" ]; then echo "bench_aggs not built: no aggregate table" >&2; return 0; fi
  echo "measuring window aggregates ($rows rows, $keys keys, best of 3) ..." >&2
  local raw table="" line name ir cgrows=100000
  raw=$("$tool" --rows "$rows" --keys "$keys" --reps 3)
  while IFS= read -r line; do
    case "$line" in
      "| aggregate |"*) line="$line instr/record |" ;;
      "|---|"*) line="$line---|" ;;
      "| "*)
        name=$(echo "$line" | cut -d'|' -f2 | sed 's/^ *//; s/ *$//')
        ir="n/a"
        if command -v valgrind >/dev/null; then
          rm -f "$work/aggs.cg"
          valgrind --tool=callgrind --toggle-collect=sl_window_process --callgrind-out-file="$work/aggs.cg" \
            "$tool" --rows "$cgrows" --keys "$keys" --only "$name" >/dev/null 2>&1 || true
          local total
          total=$(grep -E '^summary:|^totals:' "$work/aggs.cg" 2>/dev/null | head -1 | awk '{print $2}')
          [ -n "$total" ] && ir=$(echo "$total / $cgrows" | bc)
        fi
        line="$line $ir |" ;;
    esac
    table+="$line"$'\n'
  done <<<"$raw"
  echo "$table"
  local cpu_model machine commit
  cpu_model=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')
  machine="$cpu_model, $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB, $(uname -sr)"
  commit=$(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo unknown)
  {
    echo
    echo "## $(date -u +%Y-%m-%dT%H:%M:%SZ) commit $commit: window aggregates"
    echo
    echo "Machine: $machine. Command: \`make bench\` (\`bench_aggs --rows $rows --keys $keys\`: each aggregate alone"
    echo "in a 1-day window keyed by k, input built before timing, best of 3; instr/record: callgrind over"
    echo "sl_window_process, $cgrows rows). bytes/window-key = the window's whole state / groups."
    echo
    printf '%s' "$table"
  } >> "$repo/bench/RESULTS.md"
  echo "appended the aggregate table to bench/RESULTS.md" >&2
}
work=${BENCH_DIR:-/tmp/sluice-bench}
mkdir -p "$work"
if [ "${BENCH_ONLY:-}" = cameras ]; then
  bash "$repo/bench/cameras.sh" "$build" "${BENCH_EVENTS:-1000000}"
  exit 0
fi
if [ "${BENCH_ONLY:-}" != window ]; then aggs_bench; fi
[ "${BENCH_ONLY:-}" = aggs ] && exit 0

# ---- lake append/scan and filter expression (bench/micro_bench.c) ----------------------------
# (speed measurements that used to be printed by unit tests; BENCH_ONLY=micro stops after this part)
if [ "${BENCH_ONLY:-}" != window ] && [ -x "$build/micro_bench" ]; then
  echo "measuring lake append/scan and a filter expression (micro_bench) ..." >&2
  micro=$("$build/micro_bench" --lines "${BENCH_LAKE_LINES:-1000000}")
  echo "$micro"
  {
    echo
    echo "## $(date -u +%Y-%m-%dT%H:%M:%SZ) micro, commit $(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo unknown)"
    echo
    echo "Machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'), $(nproc) cores. Command: \`make bench\` (\`micro_bench --lines ${BENCH_LAKE_LINES:-1000000}\`)."
    echo
    echo '```'
    echo "$micro"
    echo '```'
  } >> "$repo/bench/RESULTS.md"
else
  echo "micro_bench not built: no lake/expr figures" >&2
fi
# ---- one commit's window work (bench/window_commit_bench) ---------------------------------
# emission + snapshot with 100,000 open groups of which 100 changed (BENCH_ONLY=window stops
# after this part)
window_bench() {
  local tool="$build/window_commit_bench"
  if [ ! -x "$tool" ]; then echo "window_commit_bench not built: no commit table" >&2; return 0; fi
  echo "measuring one commit's window work (100,000 open groups, 100 changed, best of 3) ..." >&2
  local table cpu_model machine commit
  table=$("$tool" --header)
  echo "$table"
  cpu_model=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')
  machine="$cpu_model, $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB, $(uname -sr)"
  commit=$(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo unknown)
  {
    echo
    echo "## $(date -u +%Y-%m-%dT%H:%M:%SZ) commit $commit: window work per commit"
    echo
    echo "Machine: $machine. Command: \`make bench\` (\`window_commit_bench --header\`: emission until it"
    echo "returns 0 and a snapshot, per commit, median of 200 commits, best of 3; a full snapshot every 60"
    echo "commits, amortised in its own column)."
    echo
    echo "$table"
  } >> "$repo/bench/RESULTS.md"
  echo "appended the window commit table to bench/RESULTS.md" >&2
}
[ "${BENCH_ONLY:-}" = micro ] || window_bench
[ "${BENCH_ONLY:-}" = window ] && exit 0
[ "${BENCH_ONLY:-}" = micro ] && exit 0

# ---- telco, retail, umb over Kafka, landing dir and syslog listener ----------------------
# (bench/flavors.sh; BENCH_ONLY=flavors stops after this part)
echo "benchmarking telco, retail, umb (Kafka), landing dir, syslog listener ..." >&2
flavors_table=$(bash "$repo/bench/flavors.sh" "$build")
echo "$flavors_table"
{
  echo
  echo "## $(date -u +%Y-%m-%dT%H:%M:%SZ) flavors, commit $(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo unknown)"
  echo
  echo "Machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'), $(nproc) cores. Command: \`make bench\` (bench/flavors.sh)."
  echo
  echo "$flavors_table"
} >> "$repo/bench/RESULTS.md"
[ "${BENCH_ONLY:-}" = flavors ] && exit 0

# ---- cameras side by side with DuckDB (bench/cameras.sh, issue 20) -----------------------------
# wall, events/s, CPU, RSS, bytes on disk, instr/record of `sluice run pipelines/cameras.yaml --once`
# next to DuckDB doing the same job on one thread; cameras.sh appends its own entry.
cameras_bench() {
  echo "benchmarking cameras side by side with DuckDB ..." >&2
  bash "$repo/bench/cameras.sh" "$build" "${BENCH_EVENTS:-1000000}"
}
cameras_bench

echo "measuring freshness (event appended -> visible via /api/query and SSE) ..." >&2
fresh_live=$(bash "$repo/bench/freshness.sh" "$build" 60 500 | tail -1)
echo "$fresh_live"
{
  echo
  echo "## $(date -u +%Y-%m-%dT%H:%M:%SZ) cameras freshness, commit $(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo unknown)"
  echo
  echo "Freshness, live (generator at 500 events/s, 60 probe events, \`bench/freshness.sh\`): $fresh_live"
} >> "$repo/bench/RESULTS.md"
echo "appended to bench/RESULTS.md" >&2
