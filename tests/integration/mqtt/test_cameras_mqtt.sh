#!/usr/bin/env bash
# test_cameras_mqtt.sh - pipelines/cameras-mqtt.yaml reads the cameras
# records (`sluice gen cameras`: duplicates, late and malformed records) from
# a real mosquitto broker: a first run creates the persistent session, the
# records are published with mosquitto_pub (QoS 1, in file order, one topic)
# while sluice is down, and a --once run takes what the broker queued. Every
# table equals the brute-force answer (tests/tools/cameras_ref over the same
# files, compared by tests/integration/cameras/compare.sh), and the topic
# levels arrive as columns (and lead the raw text of quarantined messages).
# Usage: bash tests/integration/mqtt/test_cameras_mqtt.sh BUILD_DIR
source "$(dirname "$0")/../lib.sh"
need mosquitto
need mosquitto_pub mosquitto-clients
need sqlite3
need python3
events=$([ "$SANITIZED" = 1 ] && echo 2000 || echo 6000)
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
mkdir -p "$TMP/mosq"
cat >"$TMP/mosq/mosquitto.conf" <<CONF
listener $PORT 127.0.0.1
allow_anonymous true
persistence false
max_inflight_messages 0
max_queued_messages 0
CONF
PIDS=()
trap 'for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null || true; done; cleanup' EXIT
mosquitto -c "$TMP/mosq/mosquitto.conf" >"$TMP/mosq/log" 2>&1 &
PIDS+=($!)
for _ in $(seq 50); do (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break; sleep 0.1; done
"$SLUICE" gen cameras --events "$events" --seed 7 --dup 0.05 --late 0.01 --malformed 0.002 --out "$TMP/in" 2>/dev/null
PIPE="$REPO/pipelines/cameras-mqtt.yaml"
RUN=("$SLUICE" run "$PIPE" --data "$TMP/out" --set mqtt_broker="127.0.0.1:$PORT" --set locations="$TMP/in/locations.csv" --status 0)
# the persistent session: subscribe, stop
SLUICE_LOG=info "${RUN[@]}" 2>"$TMP/run0.err" &
SPID=$!
PIDS+=("$SPID")
for _ in $(seq 100); do grep -q "mqtt connecting" "$TMP/run0.err" && break; sleep 0.05; done
sleep 0.5
kill -TERM "$SPID"; wait "$SPID" || fail "the first run failed"
# published while sluice is down, in file order; mosquitto_pub -l in chunks
# of 250 lines (Debian's 2.0.11 can exit with lines unsent on long inputs)
cat "$TMP"/in/detections-*.ndjson >"$TMP/all.ndjson"
lines=$(wc -l <"$TMP/all.ndjson")
split -l 250 -d -a 4 "$TMP/all.ndjson" "$TMP/chunk."
for f in "$TMP"/chunk.*; do
  timeout 30 mosquitto_pub -h 127.0.0.1 -p "$PORT" -q 1 -t cameras/site7/cam3 -l <"$f" || fail "mosquitto_pub failed"
done
ok "mosquitto_pub published $lines messages while sluice was down"
"${RUN[@]}" --once 2>"$TMP/run1.err" || { tail -5 "$TMP/run1.err" >&2; fail "the --once run failed"; }
# A quarantined message's raw text is the line as parsed: the payload with the
# topic fields in front. The reference has the payload: strip them to compare.
prefix='{"topic":"cameras/site7/cam3","site":"site7","camera":"cam3",'
n=$(sqlite3 "$TMP/out/sluice.db" "SELECT count(*) FROM quarantine WHERE substr(raw, 1, length('$prefix')) = '$prefix'")
sqlite3 "$TMP/out/sluice.db" "UPDATE quarantine SET raw = '{' || substr(raw, length('$prefix') + 1) WHERE substr(raw, 1, length('$prefix')) = '$prefix'"
"$BUILD/cameras_ref" "$TMP/in" "$TMP/in/locations.csv" "$TMP/expected.db" >"$TMP/ref.txt"
bash "$REPO/tests/integration/cameras/compare.sh" "$SLUICE" "$PIPE" "$TMP/out" "$TMP/expected.db" ||
  fail "tables differ from the brute-force answer"
in=$(sqlite3 "$TMP/out/sluice.db" "SELECT sum(records_in) FROM _sluice_events")
[ "$in" -eq "$lines" ] || fail "records_in $in != messages published $lines"
cols=$("$SLUICE" query "$PIPE" --data "$TMP/out" --format csv "SELECT DISTINCT topic || ',' || site || ',' || camera AS c FROM detection_events" | tail -n +2 | tr -d '"')
[ "$cols" = "cameras/site7/cam3,site7,cam3" ] || fail "topic columns: $cols"
ok "cameras from MQTT: $in messages, every table equals the reference ($n quarantined with the topic fields); topic levels as columns"
echo "PASS test_cameras_mqtt"
