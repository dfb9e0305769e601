#!/usr/bin/env bash
# test_cameras_kafka.sh - pipelines/cameras-kafka.yaml reads the cameras
# records from a Kafka topic (the mock cluster; produced by kcat, in file
# order, on one partition) and with --once its tables equal the brute-force
# answer, exactly as the file-based flavor's do; consumed messages reconcile
# (records_in = messages produced); positions reach the checkpoint and Kafka.
# Usage: bash tests/integration/kafka/test_cameras_kafka.sh BUILD_DIR
source "$(dirname "$0")/../lib.sh"
need kcat
events=25000   # one partition of the mock holds ~5 MB
start_mock m --topic cameras:1
"$SLUICE" gen cameras --events "$events" --seed 7 --dup 0.05 --late 0.01 --malformed 0.002 --out "$TMP/in" 2>/dev/null
cat "$TMP"/in/detections-*.ndjson | kcat -P -b "$BOOT" -t cameras
lines=$(cat "$TMP"/in/detections-*.ndjson | wc -l)
ok "kcat produced $lines messages"
PIPE="$REPO/pipelines/cameras-kafka.yaml"
"$SLUICE" run "$PIPE" --data "$TMP/out" --set brokers="$BOOT" --set locations="$TMP/in/locations.csv" \
  --set session_timeout_ms=6000 --once --status 0
"$BUILD/cameras_ref" "$TMP/in" "$TMP/in/locations.csv" "$TMP/expected.db" >"$TMP/ref.txt"
bash "$REPO/tests/integration/cameras/compare.sh" "$SLUICE" "$PIPE" "$TMP/out" "$TMP/expected.db" ||
  fail "tables differ from the brute-force answer"
in=$(sqlite3 "$TMP/out/sluice.db" "SELECT sum(records_in) FROM _sluice_events")
[ "$in" -eq "$lines" ] || fail "records_in $in != messages produced $lines"
pos=$(sqlite3 "$TMP/out/sluice.db" "SELECT position FROM _sluice_positions WHERE source='detections' AND partition='cameras/0'")
[ "$pos" -eq "$lines" ] || fail "checkpoint position $pos != $lines"
ok "cameras from Kafka: $in messages, every table equals the reference"
# a second --once run finds nothing new and changes nothing; a run with an
# empty checkpoint in the same group starts from the offsets committed to Kafka
# (the mock ignores LeaveGroup: a short session timeout makes rejoining quick)
for d in out fresh; do
  "$SLUICE" run "$PIPE" --data "$TMP/$d" --set brokers="$BOOT" --set locations="$TMP/in/locations.csv" \
    --set session_timeout_ms=6000 --once --status 0
done
in2=$(sqlite3 "$TMP/out/sluice.db" "SELECT sum(records_in) FROM _sluice_events")
[ "$in2" -eq "$lines" ] || fail "rerun read again: records_in $in2"
in3=$(sqlite3 "$TMP/fresh/sluice.db" "SELECT coalesce(sum(records_in),0) FROM _sluice_events")
[ "$in3" -eq 0 ] || fail "a new checkpoint in the same group read $in3 records: offsets not committed to Kafka"
ok "rerun read nothing; offsets committed to Kafka"
exec 3>&-
wait "$MPID" || true
echo "PASS test_cameras_kafka"
