#!/usr/bin/env bash
# Exactly-once: SIGKILL the pipeline at random moments, restart it each time; the
# final tables must equal the brute-force answer (nothing lost, nothing doubled).
source "$(dirname "$0")/../lib.sh"
events=${CHAOS_EVENTS:-600000}
kills=${CHAOS_KILLS:-5}
[ "$SANITIZED" = 1 ] && events=100000
"$SLUICE" gen cameras --events "$events" --seed 7 --dup 0.05 --late 0.01 --malformed 0.001 --out "$TMP/in" 2>/dev/null
# exec: the background job must be sluice itself, so that kill -9 hits it (not a subshell)
run() {
  exec "$SLUICE" run "$REPO/pipelines/cameras.yaml" --data "$TMP/out" --set input="$TMP/in" \
    --set locations="$TMP/in/locations.csv" --set commit_interval=100ms --once --status 0 "$@"
}
done_kills=0
attempts=0
RANDOM=12345
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
    # finished before the kill: start again from an empty state for another try
    rm -rf "$TMP/out"
  fi
done
[ "$done_kills" -ge "$kills" ] || fail "only $done_kills kills landed"
(run 2>>"$TMP/run.log") || fail "final run failed: $(tail -3 "$TMP/run.log")"
"$BUILD/cameras_ref" "$TMP/in" "$TMP/in/locations.csv" "$TMP/expected.db" > /dev/null
bash "$REPO/tests/integration/cameras/compare.sh" "$SLUICE" "$REPO/pipelines/cameras.yaml" "$TMP/out" "$TMP/expected.db" \
  || fail "tables differ after $done_kills kills"
commits=$(sqlite3 "$TMP/out/sluice.db" "SELECT count(*) FROM _sluice_events")
ok "crash: $done_kills SIGKILLs, $commits commits, every table equals the reference"
