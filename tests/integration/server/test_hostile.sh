#!/usr/bin/env bash
# test_hostile.sh - the HTTP server under hostile clients (hostile.py): ~160
# connections trickling header lines and 150 SSE streams, from other client
# addresses, while /healthz must keep answering 200 within 2 s; then the
# query API: json_each allowed, a big-blob answer cut off with an error at
# its deadline or byte budget, and the server still serving afterwards.
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/serve_lib.sh"
need curl
need python3
TOKEN=hostile-token
start_server "$TOKEN"
H="Authorization: Bearer $TOKEN"
U="http://127.0.0.1:$PORT"

SECS=13
[ "$SANITIZED" = 1 ] && SECS=12
python3 "$(dirname "$0")/hostile.py" "$PORT" "$TOKEN" "$SECS" >"$TMP/hostile.json" || {
    cat "$TMP/hostile.json" >&2
    fail "/healthz failed or was slow under hostile clients"
}
cat "$TMP/hostile.json"
python3 - "$TMP/hostile.json" <<'PY' || fail "hostile clients were not bounded: $(cat "$TMP/hostile.json")"
import json, sys
s = json.load(open(sys.argv[1]))
assert s["sse_200"] <= 64 and s["sse_503"] >= 150 - 64 - 5, s   # the stream cap answered 503
assert s["slow_closed"] >= 8, s                                 # per-address cap and header deadline
PY
curl -sf -H "$H" "$U/metrics" -o "$TMP/metrics.txt" || fail "/metrics after the flood"
grep -q '^sluice_http_sse_refused_total [1-9]' "$TMP/metrics.txt" || fail "no SSE refusal counted"
grep -Eq '^sluice_http_slow_closed_total [0-9]{3}' "$TMP/metrics.txt" || fail "slow connections not closed at the 10 s header deadline: $(grep slow_closed "$TMP/metrics.txt")"
ok "healthz answered throughout; SSE cap and slow-header deadline held"

body=$(curl -s -H "$H" --get --data-urlencode "sql=SELECT count(*) FROM detection_events, json_each('[1,2,3]')" "$U/api/query")
echo "$body" | grep -q '"rows":\[\[4[0-9][0-9]\]\]' || fail "json_each refused: $body"
ok "json_each allowed"

t0=$(date +%s%N)
code=$(curl -s -o "$TMP/big.json" -w '%{http_code}' -H "$H" --get \
    --data-urlencode "sql=WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c WHERE x < 5000) SELECT x, randomblob(1000000) FROM c" \
    "$U/api/query")
ms=$((($(date +%s%N) - t0) / 1000000))
[ "$code" = 400 ] || fail "big-blob query: $code $(head -c 200 "$TMP/big.json")"
grep -Eq 'query timed out after|query result larger than' "$TMP/big.json" || fail "big-blob error: $(head -c 200 "$TMP/big.json")"
[ "$ms" -lt 6000 ] || fail "big-blob query took $ms ms"
[ "$(curl -s -o /dev/null -w '%{http_code}' "$U/healthz")" = 200 ] || fail "/healthz after the big query"
ok "big-blob query cut off in $ms ms: $(cat "$TMP/big.json")"
stop_server
ok "hostile clients"
