#!/usr/bin/env bash
# Freshness of the telco flavor, file -> gold: time from a metrics file
# being renamed into the landing folder until its sample is counted in
# gold_performance_5min through /api/query, with the generator adding
# background load and commit_interval 1s. Prints p50/p99 in ms.
# Usage: bench/freshness_telco.sh BUILD [PROBES] [RATE]
set -euo pipefail
build=$(cd "${1:-build}" && pwd)
bin="$build/sluice"
repo=$(cd "$(dirname "$0")/.." && pwd)
probes=${2:-40}
rate=${3:-1000}
tmp=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null; wait 2>/dev/null; rm -rf "$tmp" 2>/dev/null; true' EXIT
"$bin" gen telco --rate "$rate" --duration 0 --out "$tmp/in" --seed 9 2>/dev/null &
for _ in $(seq 100); do [ -f "$tmp/in/entities.csv" ] && break; sleep 0.1; done
SLUICE_LOG=warn "$bin" run "$repo/pipelines/telco.yaml" --data "$tmp/out" --set input="$tmp/in" \
  --set commit_interval=1s --listen 127.0.0.1:0 --status 1 2>"$tmp/run.log" &
port=""
for _ in $(seq 1 100); do
  port=$(grep -o 'dashboard at http://127.0.0.1:[0-9]*' "$tmp/run.log" | grep -o '[0-9]*$' || true)
  [ -n "$port" ] && break; sleep 0.1
done
[ -n "$port" ] || { echo "server did not start" >&2; exit 1; }
url="http://127.0.0.1:$port"
entity=$(sed -n '2p' "$tmp/in/entities.csv" | cut -d, -f1)
sleep 2
: >"$tmp/lat.txt"
for i in $(seq 1 "$probes"); do
  m="probe_$i"
  printf '{"entity_id":"%s","metric_name":"%s","value":1,"unit":"x","ts":%s}\n' "$entity" "$m" "$(date +%s%3N)" >"$tmp/in/metrics/.probe.tmp"
  t0=$EPOCHREALTIME
  mv "$tmp/in/metrics/.probe.tmp" "$tmp/in/metrics/zz-probe-$(printf %04d "$i").ndjson"
  for _ in $(seq 2000); do
    c=$(curl -s --get --data-urlencode "sql=SELECT count(*) AS n FROM gold_performance_5min WHERE metric_name='$m'" "$url/api/query" | tr -dc '0-9\n' | tail -c 3)
    [ "${c:-0}" -ge 1 ] && break
    sleep 0.005
  done
  echo "$(echo "($EPOCHREALTIME - $t0) * 1000" | bc -l)" >>"$tmp/lat.txt"
  sleep 0.2
done
sort -n "$tmp/lat.txt" | awk '{a[NR]=$1} END {p50=a[int(NR*0.5+0.5)]; p99=a[int(NR*0.99+0.5)]; printf "telco file -> gold_performance_5min via /api/query (%d probes, generator at %s lines/s, commit_interval 1s): p50 %.0f ms, p99 %.0f ms\n", NR, "'"$rate"'", p50, p99}'
