#!/usr/bin/env bash
# make demo: the cameras flavor live. The generator writes 10,000 detections/s
# into a landing folder while `sluice run` follows it and prints status lines;
# after DEMO_SECONDS (default 30) both stop and the top locations are shown.
set -euo pipefail
build=${1:-build}
bin="$build/sluice"
secs=${DEMO_SECONDS:-30}
rate=${DEMO_RATE:-10000}
root=${DEMO_DIR:-data/demo}
rm -rf "$root"
mkdir -p "$root/landing"
echo "== sluice demo: cameras flavor, $rate events/s for ${secs}s (landing: $root/landing)"
echo "== dashboard: http://127.0.0.1:${DEMO_PORT:-8080}/   pipeline page: /pipeline   metrics: /metrics"
"$bin" gen cameras --rate "$rate" --duration "$secs" --out "$root/landing" --seed 7 --dup 0.05 --late 0.01 --malformed 0.001 &
gen=$!
sleep 0.5
port=${DEMO_PORT:-8080}
SLUICE_LOG=${SLUICE_LOG:-warn} "$bin" run pipelines/cameras.yaml --data "$root/out" \
  --set input="$root/landing" --set locations="$root/landing/locations.csv" --status 3 --listen "127.0.0.1:$port" &
run=$!
trap 'kill $gen $run 2>/dev/null || true' EXIT
wait $gen || true
sleep 2            # let the pipeline catch up with the last file
kill -INT $run
wait $run || true
trap - EXIT
echo
echo "== pipeline statistics"
"$bin" query pipelines/cameras.yaml --data "$root/out" "SELECT * FROM pipeline_stats"
echo
echo "== top locations (detections_by_location_1h)"
"$bin" query pipelines/cameras.yaml --data "$root/out" "SELECT * FROM top_locations LIMIT 10"
echo
echo "== last minute windows"
"$bin" query pipelines/cameras.yaml --data "$root/out" \
  "SELECT window_start, geographical_location, detections, distinct_cameras, is_final FROM detections_by_location_1m ORDER BY window_start DESC, detections DESC LIMIT 8"
echo
echo "Explore more: $bin query pipelines/cameras.yaml --data $root/out \"SELECT * FROM quarantine LIMIT 5\""
