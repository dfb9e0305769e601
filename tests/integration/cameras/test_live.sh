#!/usr/bin/env bash
# Live end to end: the generator writes events in real time while `sluice run`
# follows the landing folder with its HTTP server on a free port. Checks the
# query API (and that it is read-only), Prometheus metrics (promtool), the SSE
# stream of a gold table, the token, and freshness: an event appended to a
# landing file is visible through /api/query within a few seconds. Without
# promtool the rest still runs and the test then reports itself skipped (77).
source "$(dirname "$0")/../lib.sh"
need curl
mkdir -p "$TMP/in"
"$SLUICE" gen cameras --rate 2000 --duration 8 --out "$TMP/in" --seed 3 2>/dev/null &
gen=$!
SLUICE_TOKEN=s3cret "$SLUICE" run "$REPO/pipelines/cameras.yaml" --data "$TMP/out" --set input="$TMP/in" \
  --set locations="$TMP/in/locations.csv" --listen 127.0.0.1:0 --status 1 2>"$TMP/run.log" &
run=$!
trap 'kill $gen $run 2>/dev/null; cleanup' EXIT
port=""
for _ in $(seq 1 100); do
  port=$(grep -o 'dashboard at http://127.0.0.1:[0-9]*' "$TMP/run.log" | grep -o '[0-9]*$' || true)
  [ -n "$port" ] && break
  sleep 0.1
done
[ -n "$port" ] || fail "server did not start: $(cat "$TMP/run.log")"
url="http://127.0.0.1:$port"
auth=(-H "Authorization: Bearer s3cret")
[ "$(curl -s -o /dev/null -w '%{http_code}' "$url/healthz")" = 200 ] || fail "/healthz"
[ "$(curl -s -o /dev/null -w '%{http_code}' "$url/api/tables")" = 401 ] || fail "no token must give 401"
[ "$(curl -s -o /dev/null -w '%{http_code}' "${auth[@]}" "$url/readyz")" = 200 ] || fail "/readyz"
sleep 3
n=$(curl -s "${auth[@]}" --get --data-urlencode "sql=SELECT count(*) FROM detection_events" "$url/api/query" | grep -o '\[\[[0-9]*\]\]' | tr -d '[]')
[ "${n:-0}" -gt 0 ] || fail "no silver rows through /api/query"
b=$(curl -s "${auth[@]}" --get --data-urlencode "sql=SELECT count(*) FROM raw_detection_events" "$url/api/query" | grep -o '\[\[[0-9]*\]\]' | tr -d '[]')
[ "${b:-0}" -ge "$n" ] || fail "lake table through /api/query: $b rows < silver $n"
# a lake table (Parquet segments behind a read-only virtual table) cannot be written at all
code=$(curl -s -o "$TMP/del.json" -w '%{http_code}' "${auth[@]}" --get --data-urlencode "sql=DELETE FROM detection_events" "$url/api/query")
case "$code" in 400|403) ;; *) fail "DELETE on the lake table gave HTTP $code" ;; esac
has "may not be modified\|not allowed" "$TMP/del.json" || fail "DELETE on the lake table: $(cat "$TMP/del.json")"
for bad in "DELETE FROM detections_by_location_1m" "DROP TABLE quarantine" "ATTACH '/tmp/x.db' AS x" "PRAGMA writable_schema=1" "INSERT INTO quarantine VALUES(1,2,3,4,5,6)"; do
  code=$(curl -s -o /dev/null -w '%{http_code}' "${auth[@]}" --get --data-urlencode "sql=$bad" "$url/api/query")
  [ "$code" = 403 ] || fail "'$bad' gave HTTP $code, want 403"
done
code=$(curl -s -o "$TMP/bad.json" -w '%{http_code}' "${auth[@]}" --get --data-urlencode "sql=SELEC 1" "$url/api/query")
[ "$code" = 400 ] && grep -q syntax "$TMP/bad.json" || fail "bad SQL: HTTP $code $(cat "$TMP/bad.json")"
curl -s "${auth[@]}" "$url/metrics" > "$TMP/metrics.txt"
grep -q '^sluice_records_in_total{pipeline="cameras"} [1-9]' "$TMP/metrics.txt" || fail "metrics lack records_in"
grep -q '^sluice_freshness_seconds_bucket' "$TMP/metrics.txt" || fail "metrics lack the freshness histogram"
if command -v promtool >/dev/null; then
  promtool check metrics < "$TMP/metrics.txt" || fail "promtool check metrics"
fi
timeout 3 curl -s -N "${auth[@]}" "$url/api/tables/detections_by_location_1m/stream" > "$TMP/sse.txt" || true
grep -q '^event: rows' "$TMP/sse.txt" || fail "no SSE rows from the gold table"
# freshness: append one marked event and time until the API shows it
oid=987654321987
t0=$(date +%s%N)
printf '{"detection_oid":%s,"video_camera_oid":1,"geographical_location_oid":1,"item_name":"probe","timestamp_detected":%s}\n' \
  "$oid" "$(( $(date +%s%3N) ))" > "$TMP/in/.probe.tmp"
mv "$TMP/in/.probe.tmp" "$TMP/in/zz-probe.ndjson"
seen=""
for _ in $(seq 1 100); do
  c=$(curl -s "${auth[@]}" --get --data-urlencode "sql=SELECT count(*) FROM detection_events WHERE detection_oid=$oid" "$url/api/query" | grep -o '\[\[[0-9]*\]\]' | tr -d '[]')
  [ "${c:-0}" = 1 ] && { seen=1; break; }
  sleep 0.05
done
[ -n "$seen" ] || fail "appended event not visible within 5 s"
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
kill -INT $run; wait $run || fail "sluice run did not stop cleanly on SIGINT"
ok "live: API, read-only authorizer, token, metrics, SSE; an appended event was visible after ${ms} ms"
command -v promtool >/dev/null || skip "promtool is not installed (apt-get install prometheus): metrics format not checked"
