#!/usr/bin/env bash
# OpenTelemetry logs over OTLP/HTTP (JSON) into the http source (otlp.yaml): export
# requests shaped as the collector's otlphttp exporter sends them (gzip, as it does by
# default) are POSTed to /v1/logs with curl; the stored rows (time, severity, body,
# ids, scope, resource and log attributes as columns) must equal the rows computed
# from the requests by otlp_gen.py. Protobuf is refused with 415 (JSON only).
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/lib_http.sh"
need curl
need gzip
need python3
need sqlite3
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$TMP/req"
python3 "$here/otlp_gen.py" "$TMP/req" 20 5
port=$(free_port)
url="http://127.0.0.1:$port/v1/logs"
"$SLUICE" run "$here/otlp.yaml" --data "$TMP/out" --set ingest_listen="127.0.0.1:$port" \
  --status 0 2>"$TMP/run.log" &
pid=$!
trap 'kill $pid 2>/dev/null || true; cleanup' EXIT
wait_listening "$port" "$pid" || fail "sluice did not listen: $(tail -3 "$TMP/run.log")"
for f in "$TMP"/req/req-*.json; do
  code=$(post "$url" "$f" "" gzip -H 'Content-Type: application/json')
  [ "$code" = 200 ] || fail "$(basename "$f"): HTTP $code $(cat "$TMP/answer")"
  grep -q '"partialSuccess":{"rejectedLogRecords":"0"}' "$TMP/answer" || fail "answer: $(cat "$TMP/answer")"
done
code=$(post "$url" "$TMP/req/req-000.json" "" identity -H 'Content-Type: application/x-protobuf')
[ "$code" = 415 ] && grep -q 'JSON' "$TMP/answer" || fail "protobuf: HTTP $code"
printf '{"resourceSpans":[]}' > "$TMP/notlogs"
code=$(post "$url" "$TMP/notlogs" "" identity -H 'Content-Type: application/json')
[ "$code" = 400 ] && grep -q 'resourceLogs' "$TMP/answer" || fail "not a logs export: HTTP $code"
kill -TERM $pid
rc=0; wait $pid || rc=$?
[ "$rc" = 0 ] || fail "sluice did not stop cleanly (exit $rc)"
sqlite3 "$TMP/out/sluice.db" <<SQL || fail "comparing with the expected rows"
CREATE TEMP TABLE expected(time TEXT, severity_number INTEGER, severity_text TEXT, body TEXT,
  trace_id TEXT, span_id TEXT, scope_name TEXT, service_name TEXT, host_name TEXT,
  http_status_code INTEGER, retry INTEGER);
.import --csv $TMP/req/expected.csv expected
CREATE TEMP TABLE got AS SELECT time, severity_number, severity_text, body, trace_id, span_id,
  scope_name, service_name, host_name, http_status_code, retry FROM logs;
.output $TMP/diff.txt
SELECT 'missing', * FROM (SELECT * FROM expected EXCEPT SELECT * FROM got);
SELECT 'extra', * FROM (SELECT * FROM got EXCEPT SELECT * FROM expected);
.output stdout
SQL
[ ! -s "$TMP/diff.txt" ] || fail "rows differ: $(head -5 "$TMP/diff.txt")"
want=$(wc -l < "$TMP/req/expected.csv")
got=$(sqlite3 "$TMP/out/sluice.db" "SELECT count(*) FROM logs")
[ "$got" = "$want" ] || fail "$got rows stored, $want log records sent"
ok "otlp: $want log records from 20 export requests stored as rows equal to the expected ones"
