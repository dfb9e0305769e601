#!/usr/bin/env bash
# test_umb_crash.sh - exactly-once from Kafka under SIGKILL: the umb consumer
# is killed at random moments while it works through a 4-partition topic
# (kcat-produced), restarted each time in the same group, and at the end the
# stored summaries equal the brute-force set (no duplicates, none missing)
# and every message is accounted for. Positions come from Sluice's own
# checkpoint, committed with the outputs; Kafka's committed offsets (written
# after each commit) lag behind and are never trusted over it.
# Usage: bash tests/integration/umb/test_umb_crash.sh BUILD_DIR
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/lib_umb.sh"
need kcat
msgs=30000 kills=${UMB_KILLS:-3}
[ "$SANITIZED" = 1 ] && msgs=15000
start_mock m --topic maas_notifications:4
"$SLUICE" gen umb --out "$TMP/gen" --messages $msgs --seed 11 2>/dev/null
umb_produce "$TMP/gen" maas_notifications
bash "$REPO/tests/integration/umb/umb_ref.sh" "$TMP/gen" "$ALLOW" "$TMP/ref.db"
# small batches and frequent commits: many commits for the kills to land between
RUN=("$SLUICE" run "$UMB" --data "$TMP/out" --set brokers="$BOOT" "${UMB_SETS[@]}" --set batch_size=64 --set commit_interval=10ms --once --status 0)
killed=0
for k in $(seq "$kills"); do
  SLUICE_LOG=info "${RUN[@]}" 2>"$TMP/run$k.err" &
  pid=$!
  # kill once the checkpoint passes a random point of this run's share
  target=$((msgs * k / (kills + 1) + RANDOM % (msgs / (kills + 1) / 2)))
  for _ in $(seq 3000); do
    got=$(sqlite3 "$TMP/out/sluice.db" "SELECT coalesce(sum(position),0) FROM _sluice_positions" 2>/dev/null || echo 0)
    [ "$got" -ge "$target" ] && break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.01
  done
  if [ "$got" -lt "$msgs" ] && kill -KILL "$pid" 2>/dev/null; then killed=$((killed + 1)); fi
  wait "$pid" 2>/dev/null || true
  got=$(sqlite3 "$TMP/out/sluice.db" "SELECT coalesce(sum(position),0) FROM _sluice_positions" 2>/dev/null || echo 0)
  echo "kill $k: checkpoint covers $got of $msgs messages"
done
"${RUN[@]}" 2>"$TMP/final.err" || { cat "$TMP/final.err" >&2; fail "final run failed"; }
got=$(sqlite3 "$TMP/out/sluice.db" "SELECT sum(position) FROM _sluice_positions")
[ "$got" -eq "$msgs" ] || fail "checkpoint covers $got of $msgs messages"
umb_compare "$TMP/out" "$TMP/ref.db" || fail "after $killed kills the stored summaries differ from the reference"
read -r e_stored e_quar <<<"$(sqlite3 -separator ' ' "$TMP/ref.db" \
  "SELECT (SELECT n FROM counts WHERE name='stored'), (SELECT n FROM counts WHERE name='quarantined')")"
[ "$(sqlite3 "$TMP/out/sluice.db" "SELECT count(*) FROM quarantine")" -eq "$e_quar" ] || fail "quarantine rows differ"
[ "$(sqlite3 "$TMP/out/sluice.db" "SELECT sum(quarantined) FROM _sluice_events")" -eq "$e_quar" ] || fail "event log quarantine count differs"
ok "umb: $killed SIGKILLs, $e_stored summaries stored exactly once, $e_quar quarantined, all $msgs messages accounted for"
exec 3>&-
wait "$MPID" || true
echo "PASS test_umb_crash"
