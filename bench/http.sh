#!/usr/bin/env bash
# HTTP push ingest (pipelines/cameras-http.yaml, the whole cameras pipeline): batched
# POSTs of 1,000 generated detections over keep-alive connections, each answered once
# committed, so the rate is end to end (parse, dedupe, lookup, windows, commit); then
# freshness p50/p99 from a single-event POST to visible in /api/query under background
# load. Not a test: prints one result line (target >= 300,000 events/s on one core).
#   bench/http.sh BUILD [EVENTS] [CONNECTIONS] [PROBES]
# PIPELINE=bench/http_passthrough.yaml measures the HTTP path alone (one plain table).
set -euo pipefail
build=$(cd "${1:-build}" && pwd)
bin="$build/sluice"
repo=$(cd "$(dirname "$0")/.." && pwd)
events=${2:-1000000}
conns=${3:-8}
probes=${4:-50}
pipe=${PIPELINE:-$repo/pipelines/cameras-http.yaml}
tmp=$(mktemp -d)
pid=""
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$tmp"; true' EXIT
"$bin" gen cameras --events "$events" --seed 21 --out "$tmp/in" 2>/dev/null
mkdir -p "$tmp/b"
cat "$tmp/in"/*.ndjson | split -l 1000 -d -a 5 - "$tmp/b/b"
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
ip=$(port)
qp=$(port)
SLUICE_LOG=warn "$bin" run "$pipe" --data "$tmp/out" \
  --set ingest_listen="127.0.0.1:$ip" --set locations="$tmp/in/locations.csv" \
  --listen "127.0.0.1:$qp" --status 0 2>"$tmp/run.log" &
pid=$!
for _ in $(seq 100); do
  curl -s -o /dev/null "http://127.0.0.1:$qp/healthz" && break
  sleep 0.1
done
t0=$(awk '{print $14+$15}' /proc/$pid/stat)
line=$(python3 "$repo/bench/http_load.py" "http://127.0.0.1:$ip/ingest" "http://127.0.0.1:$qp/api/query" \
  "$tmp/b" "$conns" "$probes")
t1=$(awk '{print $14+$15}' /proc/$pid/stat)
rss=$(awk '/VmHWM/ {printf "%.0f", $2/1024}' /proc/$pid/status)
cpu=$(echo "scale=2; ($t1 - $t0) / $(getconf CLK_TCK)" | bc)
kill -TERM "$pid"
wait "$pid" || true
pid=""
echo "http_push pipeline=$(basename "$pipe" .yaml) $line sluice_cpu_s=$cpu peak_rss_mb=$rss"
