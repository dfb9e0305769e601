#!/usr/bin/env bash
# test_umb_scale.sh - scale-out on a consumer group: two `sluice run
# --instance` processes share a 4-partition topic, one is SIGKILLed mid-run,
# the survivor takes over its partitions (after the group's session
# timeout) and resumes them where the dead instance's checkpoint ends, not
# where Kafka's lagging committed offsets are. The union of both instances'
# tables equals the single-process answer: every summary exactly once.
# Usage: bash tests/integration/umb/test_umb_scale.sh BUILD_DIR
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/lib_umb.sh"
need kcat
msgs=30000
[ "$SANITIZED" = 1 ] && msgs=15000
start_mock m --topic maas_notifications:4
"$SLUICE" gen umb --out "$TMP/gen" --messages $msgs --seed 5 2>/dev/null
umb_produce "$TMP/gen" maas_notifications
bash "$REPO/tests/integration/umb/umb_ref.sh" "$TMP/gen" "$ALLOW" "$TMP/ref.db"
# live (no --once): the survivor must stay to take over; small batches and
# frequent commits keep both busy long enough for the kill to land mid-run
RUN=("$SLUICE" run "$UMB" --data "$TMP/out" --set brokers="$BOOT" "${UMB_SETS[@]}" --set batch_size=32 --set commit_interval=10ms --status 0)
SLUICE_LOG=info "${RUN[@]}" --instance a 2>"$TMP/a.err" &
APID=$!
SLUICE_LOG=info "${RUN[@]}" --instance b 2>"$TMP/b.err" &
BPID=$!
trap 'kill -9 $APID $BPID 2>/dev/null || true; cleanup' EXIT
pos() { sqlite3 "$TMP/out/instance-$1/sluice.db" "SELECT coalesce(sum(position),0) FROM _sluice_positions" 2>/dev/null || echo 0; }
# both own partitions and both made progress: kill b
for _ in $(seq 600); do
  [ "$(pos a)" -gt 500 ] && [ "$(pos b)" -gt 500 ] && break
  sleep 0.05
done
{ kill -KILL $BPID; wait $BPID; } 2>/dev/null || true
b_at=$(pos b)
[ "$b_at" -gt 0 ] && [ "$b_at" -lt $msgs ] || fail "b was not killed mid-run (b at $b_at of $msgs)"
ok "killed instance b after it committed $b_at messages' positions"
# the survivor takes b's partitions once b's session expires, and finishes.
# Done = every partition's furthest checkpoint (either instance) at its end:
# a partition b had already finished gives a nothing to read, so a never
# writes a position for it.
covered() { covered_positions "$TMP/out"; }
took_over() { grep -q '"partition resumes where another instance committed"' "$TMP/a.err"; }
for _ in $(seq 1200); do
  took_over && [ "$(covered)" -ge $msgs ] && break
  sleep 0.1
done
[ "$(covered)" -eq $msgs ] || { tail -5 "$TMP/a.err" >&2; fail "the instances' checkpoints cover $(covered) of $msgs messages"; }
took_over || fail "survivor did not resume from b's checkpoint"
kill -TERM $APID
wait $APID || fail "survivor exited with an error"
umb_compare "$TMP/out" "$TMP/ref.db" || fail "instances' tables differ from the single-process answer"
stored=$(sqlite3 "$TMP/ref.db" "SELECT n FROM counts WHERE name='stored'")
got=$("$SLUICE" query "$UMB" --data "$TMP/out" --format csv "SELECT count(*) AS n FROM umb_summaries" | tail -1)
[ "$got" -eq "$stored" ] || fail "sluice query over the instances sees $got summaries, want $stored"
ok "scale-out: b killed at $b_at, a took over; $stored summaries exactly once across instances (sluice query agrees)"
# umb_summaries is a lake table: each instance wrote Parquet segments under
# its own data dir, bounded by its own committed position
own=0
for i in a b; do
  [ -n "$(find "$TMP/out/instance-$i/silver/umb_summaries" -name 'part-*.parquet' 2>/dev/null)" ] || fail "instance $i has no Parquet segments of umb_summaries"
  n=$("$SLUICE" query "$UMB" --data "$TMP/out/instance-$i" --format csv "SELECT count(*) AS n FROM umb_summaries" | tail -1)
  [ "$n" -gt 0 ] || fail "instance $i stored no summaries"
  own=$((own + n))
done
[ "$own" -eq "$stored" ] || fail "the instances' own lakes hold $own summaries, want $stored"
# an instance's dashboard API lists the lake table and reads every instance's rows
SLUICE_LOG=info "${RUN[@]}" --instance a --listen 127.0.0.1:0 >"$TMP/srv.log" 2>&1 &
APID=$!
port=""
for _ in $(seq 100); do
  port=$(grep -o '"server listening","url":"http://127.0.0.1:[0-9]*' "$TMP/srv.log" | grep -o '[0-9]*$' || true)
  [ -n "$port" ] && break
  sleep 0.1
done
[ -n "$port" ] || fail "server did not start: $(tail -3 "$TMP/srv.log")"
api=$(curl -s -m 10 --get --data-urlencode "sql=SELECT count(*) FROM umb_summaries" "http://127.0.0.1:$port/api/query" | grep -o '\[\[[0-9]*\]\]' | tr -d '[]')
tables=$(curl -s -m 10 "http://127.0.0.1:$port/api/tables")
kill -TERM $APID; wait $APID || true
[ "$api" = "$stored" ] || fail "instance a's /api/query counts $api summaries, want $stored"
python3 -c '
import json, sys
t = {x["name"]: x for x in json.loads(sys.argv[1])["tables"]}
u = t.get("umb_summaries")
assert u and u["kind"] == "lake" and u["rows"] == int(sys.argv[2]), u
' "$tables" "$stored" || fail "/api/tables does not list umb_summaries as a lake table of $stored rows"
ok "instances' own lakes hold $own summaries in all; instance a's /api/query and /api/tables see all of them"
exec 3>&-
wait "$MPID" || true
echo "PASS test_umb_scale"
