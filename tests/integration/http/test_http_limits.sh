#!/usr/bin/env bash
# The http source under bad input and hostile clients (limits.yaml):
#  - a body with some bad records stores the good ones and quarantines the rest (the
#    counts are in the answer and in the quarantine table); a body with no valid record
#    is answered 400 naming the first one;
#  - a body larger than what may be pending is answered 429 with Retry-After;
#  - slow clients (headers trickled, a body stalled) do not disturb a normal client,
#    and the header tricklers are closed after header_timeout;
#  - a lines format (logfmt) body.
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/lib_http.sh"
need curl
need python3
need sqlite3
port=$(free_port)
kvport=$(free_port)
mport=$(free_port)
url="http://127.0.0.1:$port/ingest"
"$SLUICE" run "$(dirname "$0")/limits.yaml" --data "$TMP/out" --set ingest_listen="127.0.0.1:$port" \
  --set kv_listen="127.0.0.1:$kvport" --listen "127.0.0.1:$mport" --status 0 2>"$TMP/run.log" &
pid=$!
trap 'kill $pid 2>/dev/null || true; cleanup' EXIT
wait_listening "$port" "$pid" || fail "sluice did not listen: $(tail -3 "$TMP/run.log")"

printf '{"id":1,"name":"a"}\n{"id":"two","name":"b"}\nnot json\n{"id":4,"name":"d"}\n' > "$TMP/mixed"
code=$(post "$url" "$TMP/mixed")
[ "$code" = 200 ] || fail "mixed body: HTTP $code $(cat "$TMP/answer")"
[ "$(cat "$TMP/answer")" = '{"accepted":2,"quarantined":2}' ] || fail "mixed body answer: $(cat "$TMP/answer")"
printf '[{"id":"x"}, {"id":"y"}]' > "$TMP/allbad"
code=$(post "$url" "$TMP/allbad")
[ "$code" = 400 ] && grep -q 'no record is valid json; the first: {\\"id\\":\\"x\\"}' "$TMP/answer" \
  || fail "all-bad body: HTTP $code $(cat "$TMP/answer")"
rows=$(sqlite3 "$TMP/out/sluice.db" "SELECT group_concat(id || ':' || name, ',') FROM (SELECT * FROM events ORDER BY id)")
[ "$rows" = "1:a,4:d" ] || fail "stored rows: $rows"
q=$(sqlite3 "$TMP/out/sluice.db" "SELECT count(*) FROM quarantine")
[ "$q" = 4 ] || fail "quarantine holds $q rows, want 4"
ok "a mixed body stored 2 and quarantined 2; an all-bad body got 400 naming its first record"

printf 'id=7 name=x\r\n\nid=8 name="y z"\n' > "$TMP/kv"
code=$(post "http://127.0.0.1:$kvport/logs" "$TMP/kv")
[ "$code" = 200 ] && [ "$(cat "$TMP/answer")" = '{"accepted":2,"quarantined":0}' ] || fail "logfmt body: HTTP $code $(cat "$TMP/answer")"
rows=$(sqlite3 "$TMP/out/sluice.db" "SELECT group_concat(id || ':' || name, ',') FROM (SELECT * FROM kv_events ORDER BY id)")
[ "$rows" = "7:x,8:y z" ] || fail "logfmt rows: $rows"
ok "a logfmt body (CRLF, an empty line) stored line by line"

# more than max_pending_bytes at once: 429 with Retry-After, nothing stored
python3 -c 'import sys; sys.stdout.write("".join("{\"id\":%d,\"name\":\"%s\"}\n" % (i, "p" * 40) for i in range(2000)))' > "$TMP/big"
code=$(post "$url" "$TMP/big")
[ "$code" = 429 ] && grep -qi '^Retry-After: 1' "$TMP/answer.h" || fail "over max_pending_bytes: HTTP $code"
ok "a body over max_pending_bytes got 429 with Retry-After"

# hostile clients meanwhile: a normal client is served
python3 "$(dirname "$0")/slow_clients.py" "$port" 6 > "$TMP/slow.txt" &
slow=$!
sleep 0.5
printf '{"id":10,"name":"fast"}\n' > "$TMP/one"
code=$(post "$url" "$TMP/one")
[ "$code" = 200 ] || fail "a normal client beside slow ones: HTTP $code"
wait $slow
read -r t1 t2 < "$TMP/slow.txt"
[ "$t1" != open ] && [ "$t2" != open ] || fail "header tricklers were not closed: $t1 $t2"
ok "slow clients did not disturb a normal one; header tricklers closed after ${t1}s and ${t2}s"
n=$(sqlite3 "$TMP/out/sluice.db" "SELECT count(*) FROM events WHERE name = 'fast'")
[ "$n" = 1 ] || fail "the normal client's record stored $n times"
# every client address is a partition: its position (records received) in /metrics
curl -s "http://127.0.0.1:$mport/metrics" > "$TMP/metrics.txt"
grep -q '^sluice_source_partition_position{pipeline="http_limits",source="ev",partition="http:127.0.0.1"} 7$' "$TMP/metrics.txt" \
  || fail "no partition position 7 in /metrics: $(grep partition "$TMP/metrics.txt")"
grep -q '^sluice_source_refused_connections_total{pipeline="http_limits",source="ev"} 1$' "$TMP/metrics.txt" \
  || fail "the 429 is not counted in /metrics"
if command -v promtool >/dev/null; then
  promtool check metrics < "$TMP/metrics.txt" || fail "promtool check metrics"
fi
pos=$(sqlite3 "$TMP/out/sluice.db" "SELECT position FROM _sluice_positions WHERE source='ev'")
[ "$pos" = 7 ] || fail "the committed position of http:127.0.0.1 is $pos, want 7"
ok "the client address is a partition: position 7 in /metrics and the checkpoint"
kill -TERM $pid
rc=0; wait $pid || rc=$?
[ "$rc" = 0 ] || fail "sluice did not stop cleanly (exit $rc): $(tail -3 "$TMP/run.log")"
ok "stopped cleanly"
