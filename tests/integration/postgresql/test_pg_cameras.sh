#!/usr/bin/env bash
# Cameras with --store postgresql://: every table equals the brute-force
# reference of the SQLite tests, with SIGKILLs of sluice at random moments and
# one exactly between the PostgreSQL commit and the checkpoint's.
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/pg_lib.sh"
need sqlite3
export SLUICE_LOG=info # the recovery's deletion is logged at info
pg_start
events=200000
kills=3
[ "$SANITIZED" = 1 ] && events=40000
"$SLUICE" gen cameras --events "$events" --seed 7 --dup 0.05 --late 0.01 --malformed 0.001 --out "$TMP/in" 2>/dev/null
run() {
  exec "$SLUICE" run "$REPO/pipelines/cameras.yaml" --data "$TMP/out" --set input="$TMP/in" \
    --set locations="$TMP/in/locations.csv" --set commit_interval=100ms --once --status 0 \
    --store "$PGURL" "$@"
}
# 1. killed right after its 3rd PostgreSQL commit, before the checkpoint's
(SLUICE_TEST_KILL_AFTER_PG_COMMIT=3 run 2>>"$TMP/run.log") 2>/dev/null && fail "the kill hook did not fire"
ahead=$(pgq "SELECT count(*) FROM _sluice_commits")
[ "$ahead" -ge 1 ] || fail "no PostgreSQL commit before the kill"
# 2. random SIGKILLs
done_kills=0 attempts=0
RANDOM=4242
while [ "$done_kills" -lt "$kills" ] && [ "$attempts" -lt $((kills * 4)) ]; do
  attempts=$((attempts + 1))
  (run 2>>"$TMP/run.log") &
  pid=$!
  sleep "0.$((RANDOM % 6 + 1))$((RANDOM % 10))"
  if kill -9 "$pid" 2>/dev/null; then
    done_kills=$((done_kills + 1))
    wait "$pid" 2>/dev/null || true
  else
    wait "$pid" || fail "run exited with an error: $(tail -3 "$TMP/run.log")"
    break
  fi
done
(run 2>>"$TMP/run.log") || fail "final run failed: $(tail -3 "$TMP/run.log")"
grep -a "rows of an uncommitted interval deleted" "$TMP/run.log" >/dev/null ||
  fail "the crash between the two commits left nothing to delete: $(tail -3 "$TMP/run.log")"
grep -a '"level":"error"' "$TMP/run.log" && fail "errors logged"
! grep -a "$PGPASSWORD_TEST" "$TMP/run.log" || fail "the password appears in the log"

# the engine's tables from PostgreSQL, in a copy of the checkpoint (quarantine
# stays there), next to the lake (bronze)
mkdir -p "$TMP/cmp"
cp "$TMP/out/sluice.db" "$TMP/cmp/sluice.db"
ln -s "$TMP/out/bronze" "$TMP/cmp/bronze"
pg_to_sqlite "$TMP/cmp/sluice.db" detection_events detections_by_location_1m detections_by_location_1h
"$BUILD/cameras_ref" "$TMP/in" "$TMP/in/locations.csv" "$TMP/expected.db" >/dev/null
bash "$REPO/tests/integration/cameras/compare.sh" "$SLUICE" "$REPO/pipelines/cameras.yaml" "$TMP/cmp" "$TMP/expected.db" ||
  fail "PostgreSQL tables differ from the reference after $done_kills kills"
# the types people read: timestamptz window starts, indexed
[ "$(pgq "SELECT data_type FROM information_schema.columns WHERE table_name = 'detections_by_location_1m' AND column_name = 'window_start'")" = "timestamp with time zone" ] ||
  fail "window_start is not timestamptz"
pgq "SELECT indexname FROM pg_indexes WHERE tablename = 'detections_by_location_1m'" | grep -q window_start ||
  fail "window_start is not indexed"
pgq "SELECT indexdef FROM pg_indexes WHERE tablename = 'detections_by_location_1m'" |
  grep -q '(geographical_location_oid, geographical_location, window_start)' || fail "the window keys are not indexed"
# sluice query --store reads PostgreSQL
n=$("$SLUICE" query "$REPO/pipelines/cameras.yaml" --store "$PGURL" --format csv "SELECT count(*) AS n FROM detection_events" | tail -1)
[ "$n" = "$(pgq "SELECT count(*) FROM detection_events")" ] || fail "query --store: $n rows"
"$SLUICE" query "$REPO/pipelines/cameras.yaml" --store "$PGURL" "DELETE FROM detection_events" 2>"$TMP/q.err" &&
  fail "query --store ran a DELETE"
grep -q "read-only" "$TMP/q.err" || fail "query --store: unexpected error $(cat "$TMP/q.err")"
ok "cameras on PostgreSQL: kill between the commits + $done_kills SIGKILLs, every table equals the reference"
