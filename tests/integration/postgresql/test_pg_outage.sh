#!/usr/bin/env bash
# PostgreSQL outages while cameras runs with --store postgresql://: the
# server is down at start, stopped mid-run (pg_ctl stop -m immediate) and
# restarted, and sluice's connections are cut (pg_terminate_backend). Sluice
# must wait (no exit, input paused, /readyz 503 saying why, logged once per
# change) and resume by itself; a SIGTERM while it waits ends the run without
# that commit, which the next run reads again. At the end every table equals
# the reference.
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/pg_lib.sh"
need sqlite3
need curl
pg_start
events=120000
[ "$SANITIZED" = 1 ] && events=30000
# twelve files whatever the size: the steps below move them in slices of the list
"$SLUICE" gen cameras --events "$events" --file-events $((events / 12)) --seed 11 --dup 0.05 --late 0.01 \
  --malformed 0.001 --out "$TMP/src" 2>/dev/null
mkdir -p "$TMP/in"
cp "$TMP/src/locations.csv" "$TMP/in/"
files=("$TMP"/src/detections-*.ndjson)
half=$((${#files[@]} / 2))
move() { for f in "$@"; do cp "$f" "$TMP/in/.tmp" && mv "$TMP/in/.tmp" "$TMP/in/$(basename "$f")"; done; }
# wait_for SECONDS CMD...: until CMD succeeds
wait_for() { local t=$1; shift; for _ in $(seq $((t * 10))); do "$@" && return 0; sleep 0.1; done; return 1; }
readyz() { curl -s "http://127.0.0.1:$port/readyz"; }
ready_says() { readyz | grep -q "$1"; }
pg_commits_ge() { [ "$(pgq 'SELECT count(*) FROM _sluice_commits' 2>/dev/null || echo 0)" -ge "$1" ]; }
records_in_ge() { [ "$(sqlite3 "$TMP/out/sluice.db" 'SELECT coalesce(sum(records_in), 0) FROM _sluice_events')" -ge "$1" ]; }

pg_stop_now # 1. down at start
move "${files[@]:0:2}"
SLUICE_LOG=info "$SLUICE" run "$REPO/pipelines/cameras.yaml" --data "$TMP/out" --set input="$TMP/in" \
  --set locations="$TMP/in/locations.csv" --set commit_interval=200ms --listen 127.0.0.1:0 --status 1 \
  --store "$PGURL" 2>"$TMP/run.log" &
run=$!
trap 'kill -9 $run 2>/dev/null || true; pg_stop_now; cleanup' EXIT
port=""
wait_for 10 grep -q 'dashboard at http://127.0.0.1:[0-9]*' "$TMP/run.log" || fail "server did not start: $(tail -3 "$TMP/run.log")"
port=$(grep -o 'dashboard at http://127.0.0.1:[0-9]*' "$TMP/run.log" | grep -o '[0-9]*$' | head -1)
wait_for 15 ready_says "not ready: postgresql" ||
  fail "/readyz does not say postgresql is unreachable: $(readyz)"
[ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/readyz")" = 503 ] || fail "/readyz is not 503"
kill -0 $run || fail "sluice exited while PostgreSQL was down: $(tail -3 "$TMP/run.log")"
[ "$(sqlite3 "$TMP/out/sluice.db" "SELECT count(*) FROM _sluice_positions" 2>/dev/null || echo 0)" = 0 ] ||
  fail "positions committed while PostgreSQL was down"
sleep 2
[ "$(grep -c 'commit waiting for an output' "$TMP/run.log")" = 1 ] || fail "the stall is not logged exactly once"
pg_restart
wait_for 30 ready_says "^ready" || fail "not ready after PostgreSQL came back: $(readyz)"
grep -q '"commit resumed"' "$TMP/run.log" || fail "no 'commit resumed' log"

# 2. stopped mid-run for a while, with input arriving meanwhile
move "${files[@]:2:$((half - 2))}"
wait_for 20 pg_commits_ge 3 || fail "no commits reached PostgreSQL"
pg_stop_now
move "${files[@]:$half:2}"
wait_for 15 ready_says "not ready: postgresql" || fail "/readyz after the stop: $(readyz)"
before=$(sqlite3 "$TMP/out/sluice.db" "SELECT max(commit_id) FROM _sluice_events")
sleep 3
[ "$(sqlite3 "$TMP/out/sluice.db" "SELECT max(commit_id) FROM _sluice_events")" = "$before" ] ||
  fail "the checkpoint moved on while PostgreSQL was down"
kill -0 $run || fail "sluice exited while PostgreSQL was stopped: $(tail -3 "$TMP/run.log")"
pg_restart
wait_for 30 ready_says "^ready" || fail "not ready after the restart: $(readyz)"

# 3. connections cut
last=${files[${#files[@]} - 1]}
move "${files[@]:$((half + 2)):$((${#files[@]} - half - 3))}"
for _ in 1 2 3; do
  sleep 0.3
  pgq "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = 'sluice'" >/dev/null
done
kill -0 $run || fail "sluice exited after its connections were cut: $(tail -3 "$TMP/run.log")"
total=$(cat "${files[@]}" | wc -l)
wait_for 40 records_in_ge $((total - $(wc -l <"$last"))) ||
  fail "not every record was committed: $(tail -3 "$TMP/run.log")"
# 4. a stop (SIGTERM) while a commit waits: the run ends without that commit,
# and the next run reads the interval again
pg_stop_now
move "$last"
wait_for 15 ready_says "not ready: postgresql" || fail "/readyz before the stop: $(readyz)"
kill -TERM $run
rc=0
wait $run || rc=$?
[ "$rc" = 1 ] || fail "a stop while waiting: exit code $rc, want 1"
grep -q "stopped while a commit waited for an output" "$TMP/run.log" || fail "the stop while waiting is not explained"
pg_restart
# --once: every window final, then compare
"$SLUICE" run "$REPO/pipelines/cameras.yaml" --data "$TMP/out" --set input="$TMP/in" \
  --set locations="$TMP/in/locations.csv" --once --status 0 --store "$PGURL" 2>>"$TMP/run.log" || fail "final run"
! grep -a "$PGPASSWORD_TEST" "$TMP/run.log" || fail "the password appears in the log"
grep -a 'postgres:\*\*\*@' "$TMP/run.log" >/dev/null || fail "the store URL is not logged masked"
mkdir -p "$TMP/cmp"
cp "$TMP/out/sluice.db" "$TMP/cmp/sluice.db"
ln -s "$TMP/out/bronze" "$TMP/cmp/bronze"
pg_to_sqlite "$TMP/cmp/sluice.db" detection_events detections_by_location_1m detections_by_location_1h
"$BUILD/cameras_ref" "$TMP/in" "$TMP/in/locations.csv" "$TMP/expected.db" >/dev/null
bash "$REPO/tests/integration/cameras/compare.sh" "$SLUICE" "$REPO/pipelines/cameras.yaml" "$TMP/cmp" "$TMP/expected.db" ||
  fail "PostgreSQL tables differ from the reference after the outages"
ok "outages: down at start, stopped mid-run, connections cut, SIGTERM while waiting; /readyz said why; every table equals the reference"
