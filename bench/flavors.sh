#!/usr/bin/env bash
# bench/flavors.sh BUILD_DIR: the other flavors and the input paths of issue 5
# and 6, one table appended to bench/RESULTS.md by bench/run.sh:
#   telco, retail   `sluice run --once` over N generated events (lines/s, CPU, RSS)
#   umb             Kafka mock -> umb summaries -> store (bench/kafka.sh)
#   cameras-mqtt    mosquitto, QoS 1 -> cameras tables (bench/mqtt.sh)
#   landing dir     files/min through the dir source (tests/tools/dir_bench)
#   syslog TCP      messages/s through the listener (tests/tools/syslog_net_bench)
set -euo pipefail
build=$(cd "${1:-build}" && pwd)
bin="$build/sluice"
repo=$(cd "$(dirname "$0")/.." && pwd)
n=${BENCH_FLAVOR_EVENTS:-200000}
work=$(mktemp -d "${TMPDIR:-/tmp}/sluice-fbench.XXXXXX")
trap 'rm -rf "$work"' EXIT
# instructions per record: callgrind over a fixed 20k-event input (repeatable, unlike time)
instr() { # FLAVOR
  command -v valgrind >/dev/null || { echo n/a; return; }
  "$bin" gen "$1" --events 20000 --seed 3 --out "$work/cg-$1" 2>/dev/null
  local lines
  lines=$(find "$work/cg-$1" -type f ! -name '*.csv' -exec cat {} + | wc -l)
  valgrind --tool=callgrind --callgrind-out-file="$work/$1.cg" "$bin" run "$repo/pipelines/$1.yaml" \
    --data "$work/cg-out-$1" --set input="$work/cg-$1" --once --status 0 >/dev/null 2>&1
  local total
  total=$(grep -E '^summary:|^totals:' "$work/$1.cg" | head -1 | awk '{print $2}')
  [ -n "$total" ] && echo $((total / lines)) || echo n/a
}
echo "| pipeline | input | records | wall s | records/s | CPU s | peak RSS MB | instr/record |"
echo "|---|---|---|---|---|---|---|---|"
for flavor in telco retail; do
  "$bin" gen "$flavor" --events "$n" --seed 1 --out "$work/$flavor" 2>/dev/null
  lines=$(find "$work/$flavor" -type f -name '*' ! -name '*.csv' -exec cat {} + | wc -l)
  t0=$(date +%s.%N)
  /usr/bin/time -f "%U %S %M" -o "$work/time.txt" "$bin" run "$repo/pipelines/$flavor.yaml" --data "$work/out-$flavor" \
    --set input="$work/$flavor" --once --status 0 2>/dev/null
  t1=$(date +%s.%N)
  read -r user sys rss <"$work/time.txt"
  wall=$(echo "$t1 - $t0" | bc -l)
  files=$(find "$work/$flavor" -type f | wc -l)
  printf '| %s | %d files | %d lines | %.2f | %.0f | %.2f | %.0f | %s |\n' "$flavor" "$files" "$lines" "$wall" \
    "$(echo "$lines / $wall" | bc -l)" "$(echo "$user + $sys" | bc -l)" "$(echo "$rss / 1024" | bc -l)" "$(instr "$flavor")"
done
row=$(bash "$repo/bench/kafka.sh" "$build" 2>/dev/null)
# kafka.sh: | name | messages | stored | consume s | msgs/s | wall s | CPU s | RSS |
IFS='|' read -r _ name msgs stored secs rate wall cpu rss _ <<<"$row"
printf '|%s| Kafka topic |%s msgs |%s (consuming; wall with group join:%s) |%s |%s |%s | |\n' "$name" "$msgs" "$secs" "$wall" "$rate" "$cpu" "$rss"
bash "$repo/bench/mqtt.sh" "$build" 2>/dev/null || true # cameras over MQTT (skipped without mosquitto)
echo
echo "Landing directory (\`dir_bench 100000\`, files of ~200 bytes in $work):"
echo
echo '```'
mkdir -p "$work/landing" && "$build/dir_bench" 100000 "$work/landing" 2>&1 | sed -n '1,8p'
echo '```'
echo
echo "Syslog listener (\`syslog_net_bench 1000000\`, ~150-byte RFC 5424 lines over loopback):"
echo
echo '```'
"$build/syslog_net_bench" 1000000 2>&1 | sed -n '1,8p'
echo '```'
echo
echo "Freshness, telco (\`bench/freshness_telco.sh\`): $(bash "$repo/bench/freshness_telco.sh" "$build" 40 1000 | tail -1)"
