#!/usr/bin/env bash
# test_server.sh - the HTTP server over real HTTP with curl: auth, read-only
# SQL, and /metrics checked by `promtool check metrics`. Without promtool
# (Debian package prometheus) the rest still runs, and the test then reports
# itself skipped (exit 77), since the /metrics format went unchecked.
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/serve_lib.sh"
need curl
TOKEN=it-token-123
start_server "$TOKEN"
H="Authorization: Bearer $TOKEN"
U="http://127.0.0.1:$PORT"

[ "$(curl -s -o /dev/null -w '%{http_code}' "$U/healthz")" = 200 ] || fail "/healthz"
[ "$(curl -s -o /dev/null -w '%{http_code}' "$U/metrics")" = 401 ] || fail "/metrics without token"
[ "$(curl -s -o /dev/null -w '%{http_code}' -H "$H" "$U/readyz")" = 200 ] || fail "/readyz"
ok "health, readiness, auth"

code=$(curl -s -o "$TMP/q.json" -w '%{http_code}' -H "$H" --get --data-urlencode "sql=DELETE FROM detection_events" "$U/api/query")
[ "$code" = 403 ] && grep -q 'not allowed: DELETE' "$TMP/q.json" || fail "DELETE not refused: $code $(cat "$TMP/q.json")"
curl -sf -H "$H" --get --data-urlencode "sql=SELECT count(*) AS n FROM detection_events" "$U/api/query" | grep -q '"rows":\[\[150\]\]' || fail "count"
ok "read-only query API"

echo "INSERT INTO detection_events(detection_oid, item_name) VALUES(5000, 'from-script');" >&7
for _ in $(seq 50); do
    curl -sf -H "$H" --get --data-urlencode "sql=SELECT count(*) FROM detection_events" "$U/api/query" | grep -q '\[\[151\]\]' && break
    sleep 0.1
done
curl -sf -H "$H" --get --data-urlencode "sql=SELECT item_name FROM detection_events WHERE detection_oid=5000" "$U/api/query" | grep -q from-script || fail "insert through the serve loop"

curl -sf -H "$H" "$U/metrics" -D "$TMP/m.head" -o "$TMP/metrics.txt" || fail "/metrics"
grep -qi '^content-type: text/plain; version=0.0.4' "$TMP/m.head" || fail "metrics content type"
grep -q '^sluice_http_requests_total{path="/metrics"}' "$TMP/metrics.txt" || fail "server metrics missing"
if command -v promtool >/dev/null; then
    promtool check metrics <"$TMP/metrics.txt" || fail "promtool check metrics"
    ok "promtool check metrics"
fi
stop_server
ok "server integration"
command -v promtool >/dev/null || skip "promtool is not installed (apt-get install prometheus): /metrics format not checked"
