#!/usr/bin/env bash
# Freshness: time from an event being appended to the landing folder (file
# renamed into place) until it is visible through /api/query and through the
# SSE stream of the silver table, while the generator adds background load.
# Prints p50/p99 in ms for both. Usage: bench/freshness.sh BUILD [PROBES] [RATE]
# The silver table is a Parquet lake table by default (store: auto): its stream
# follows the lake's row ids; SILVER_STORE=sqlite measures it in the store.
set -euo pipefail
build=$(cd "${1:-build}" && pwd)
bin="$build/sluice"
repo=$(cd "$(dirname "$0")/.." && pwd)
probes=${2:-60}
rate=${3:-500}
tmp=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null; wait 2>/dev/null; rm -rf "$tmp" 2>/dev/null; true' EXIT
mkdir -p "$tmp/in"
"$bin" gen cameras --rate "$rate" --duration 0 --out "$tmp/in" --seed 9 2>/dev/null &
SLUICE_LOG=warn "$bin" run "$repo/pipelines/cameras.yaml" --data "$tmp/out" --set input="$tmp/in" \
  --set locations="$tmp/in/locations.csv" --set silver_store="${SILVER_STORE:-auto}" \
  --listen 127.0.0.1:0 --status 1 2>"$tmp/run.log" &
port=""
for _ in $(seq 1 100); do
  port=$(grep -o 'dashboard at http://127.0.0.1:[0-9]*' "$tmp/run.log" | grep -o '[0-9]*$' || true)
  [ -n "$port" ] && break; sleep 0.1
done
[ -n "$port" ] || { echo "server did not start" >&2; exit 1; }
url="http://127.0.0.1:$port"
sleep 2
# SSE: timestamp every line of the silver table's stream
curl -sN "$url/api/tables/detection_events/stream" | while IFS= read -r line; do echo "$EPOCHREALTIME $line"; done > "$tmp/sse.log" &
sleep 1
: > "$tmp/api.txt"
for i in $(seq 1 "$probes"); do
  oid=$((900000000000 + i))
  f="$tmp/in/zz-probe-$(printf %04d "$i").ndjson"
  printf '{"detection_oid":%s,"video_camera_oid":1,"geographical_location_oid":1,"item_name":"probe","timestamp_detected":%s}\n' \
    "$oid" "$(date +%s%3N)" > "$tmp/in/.probe.tmp"
  t0=$EPOCHREALTIME
  mv "$tmp/in/.probe.tmp" "$f"
  echo "$oid $t0" >> "$tmp/sent.txt"
  while :; do
    c=$(curl -s --get --data-urlencode "sql=SELECT count(*) FROM detection_events WHERE detection_oid=$oid" "$url/api/query" | tr -dc '0-9\n' | tail -c 3)
    [ "${c:-0}" -ge 1 ] && break
    sleep 0.005
  done
  t1=$EPOCHREALTIME
  echo "$t0 $t1" | awk '{printf "%.1f\n", ($2-$1)*1000}' >> "$tmp/api.txt"
  sleep 0.2
done
sleep 1.5
pct() { sort -n "$1" | awk -v p="$2" '{a[NR]=$1} END {i=int((NR-1)*p)+1; printf "%.0f", a[i]}'; }
# SSE latency: first stream line mentioning the probe's oid
: > "$tmp/ssel.txt"
while read -r oid t0; do
  t1=$(grep -m1 "$oid" "$tmp/sse.log" | cut -d' ' -f1 || true)
  [ -n "$t1" ] && echo "$t0 $t1" | awk '{printf "%.1f\n", ($2-$1)*1000}' >> "$tmp/ssel.txt"
done < "$tmp/sent.txt"
seen=$(wc -l < "$tmp/ssel.txt")
echo "freshness_api_p50_ms=$(pct "$tmp/api.txt" 0.5) freshness_api_p99_ms=$(pct "$tmp/api.txt" 0.99) \
freshness_sse_p50_ms=$( [ "$seen" -gt 0 ] && pct "$tmp/ssel.txt" 0.5 || echo na) freshness_sse_p99_ms=$( [ "$seen" -gt 0 ] && pct "$tmp/ssel.txt" 0.99 || echo na) \
sse_seen=$seen/$probes background_rate=$rate"
