#!/usr/bin/env bash
# Signals reach the event loop through a signalfd: SIGTERM stops a pipeline
# that is busy with input (not only an idle one) with a final commit and exit
# code 0, SIGHUP reloads the pipeline file while busy (a commit boundary, the
# state kept), and a --once run afterwards finishes
# the input with every record counted once.
source "$(dirname "$0")/../lib.sh"
need sqlite3
events=2000000
[ "$SANITIZED" = 1 ] && events=300000
"$SLUICE" gen cameras --events "$events" --seed 5 --out "$TMP/in" 2>/dev/null
run() { "$SLUICE" run "$REPO/pipelines/cameras.yaml" --data "$TMP/out" --set input="$TMP/in" --set locations="$TMP/in/locations.csv" --status 0 "$@"; }
(SLUICE_LOG=info exec "$SLUICE" run "$REPO/pipelines/cameras.yaml" --data "$TMP/out" --set input="$TMP/in" \
  --set locations="$TMP/in/locations.csv" --status 0 2>"$TMP/run.log") &
pid=$!
# busy: wait for the first commit, then signal while input remains
for _ in $(seq 200); do
  c=$(sqlite3 "$TMP/out/sluice.db" "SELECT count(*) FROM _sluice_events" 2>/dev/null || echo 0)
  [ "${c:-0}" -gt 0 ] && break
  sleep 0.05
done
kill -HUP "$pid"
sleep 0.2
kill -0 "$pid" 2>/dev/null || fail "SIGHUP stopped the pipeline"
kill -TERM "$pid"
for _ in $(seq 200); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
kill -0 "$pid" 2>/dev/null && { kill -9 "$pid"; fail "SIGTERM did not stop a busy pipeline within 10 s"; }
wait "$pid" || fail "a stopped pipeline exits 0, got $?"
grep -q '"msg":"SIGHUP: reloading the pipeline file"' "$TMP/run.log" || fail "no log line for SIGHUP"
grep -q '"msg":"reload applied"' "$TMP/run.log" || fail "the reload was not applied"
grep -q '"msg":"signal: stopping"' "$TMP/run.log" || fail "no log line for SIGTERM"
read_before=$(sqlite3 "$TMP/out/sluice.db" "SELECT sum(records_in) FROM _sluice_events")
[ "$read_before" -lt "$events" ] || fail "the input was finished before the signal (nothing to check): raise events"
run --once 2>/dev/null
total=$(sqlite3 "$TMP/out/sluice.db" "SELECT sum(records_in) FROM _sluice_events")
lines=$(cat "$TMP"/in/*.ndjson* 2>/dev/null | wc -l)
[ "$total" = "$lines" ] || fail "records_in $total after the restart, the input has $lines lines"
ok "SIGTERM stopped a busy pipeline after $read_before of $lines records; SIGHUP reloaded it; the rest read once"
