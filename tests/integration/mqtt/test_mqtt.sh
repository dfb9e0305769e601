#!/usr/bin/env bash
# test_mqtt.sh - the mqtt source against a real broker (mosquitto, started
# here on a free loopback port, persistence in $TMP) and real clients
# (mosquitto_pub, QoS 1, paced). Camera detections with a unique id are published
# in four waves; sluice is SIGKILLed in the middle of the first, the third
# and the fourth (between two commits), and the second is published while it is down (the broker queues it
# for the persistent session). With dedupe on the id, the detections table
# and the per-location rollup equal the brute-force answer over what was
# published: nothing lost (acknowledgements wait for the commit), repeats
# (redeliveries after a kill) removed.
# Usage: bash tests/integration/mqtt/test_mqtt.sh BUILD_DIR
source "$(dirname "$0")/../lib.sh"
need mosquitto
need mosquitto_pub mosquitto-clients
need sqlite3
need python3
PIPE="$REPO/tests/integration/mqtt/mqtt.yaml"
PER_WAVE=$([ "$SANITIZED" = 1 ] && echo 600 || echo 3000)
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
mkdir -p "$TMP/mosq"
cat >"$TMP/mosq/mosquitto.conf" <<CONF
listener $PORT 127.0.0.1
allow_anonymous true
persistence true
persistence_location $TMP/mosq/
max_inflight_messages 0
max_queued_messages 0
CONF
PIDS=()
trap 'for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null || true; done; cleanup' EXIT
mosquitto -c "$TMP/mosq/mosquitto.conf" >"$TMP/mosq/log" 2>&1 &
MPID=$!
PIDS+=("$MPID")
for _ in $(seq 50); do (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break; sleep 0.1; done
(exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null || { cat "$TMP/mosq/log" >&2; fail "mosquitto did not start"; }

# wave W: PER_WAVE messages "topic<TAB>payload", ids unique across waves,
# spread over 4 locations x 3 cameras; a file per topic for mosquitto_pub -l
gen() {
  python3 - "$1" "$PER_WAVE" "$TMP/w$1" <<'PY'
import json, os, random, sys
w, n, out = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
os.makedirs(out, exist_ok=True)
rnd = random.Random(w)
files = {}
for i in range(n):
    mid = w * 1000000 + i
    loc, cam = "loc%d" % rnd.randrange(4), "cam%d" % rnd.randrange(3)
    topic = "cameras/%s/%s" % (loc, cam)
    ts = 1767225600000 + mid % 1000000 * 1000
    rec = {"id": mid, "ts": ts, "item": rnd.choice(["car", "bus", "bike", "person"])}
    if topic not in files:
        files[topic] = open(os.path.join(out, topic.replace("/", "_")), "w")
    files[topic].write(json.dumps(rec) + "\n")
with open(os.path.join(out, "all.tsv"), "w") as f:
    for topic, fh in files.items():
        fh.close()
        loc, cam = topic.split("/")[1:]
        for line in open(fh.name):
            r = json.loads(line)
            f.write("%d\t%d\t%s\t%s\t%s\t%s\n" % (r["id"], r["ts"], r["item"], topic, loc, cam))
PY
}
# publishes wave W: one QoS 1 publisher per topic, in parallel
publish() {
  local f pids=()
  for f in "$TMP/w$1"/cameras_*; do
    local t
    t=$(basename "$f" | tr _ /)
    # about 2 s a wave, so the kills land in the middle of the stream
    awk -v every=$((PER_WAVE / 120 + 1)) '{ print; fflush() } NR % every == 0 { system("sleep 0.2") }' "$f" |
      timeout 60 mosquitto_pub -h 127.0.0.1 -p "$PORT" -q 1 -t "$t" -l &
    pids+=($!)
  done
  for p in "${pids[@]}"; do wait "$p" || fail "mosquitto_pub failed"; done
}
for w in 1 2 3 4; do gen $w; done
DATA="$TMP/data"
RUN=("$SLUICE" run "$PIPE" --data "$DATA" --set broker="127.0.0.1:$PORT" --status 0)
count() { sqlite3 "$DATA/sluice.db" "SELECT count(*) FROM detections" 2>/dev/null || echo 0; }
start() { SLUICE_LOG=info "${RUN[@]}" 2>>"$TMP/sluice.err" & SPID=$!; PIDS+=("$SPID"); }
kill_mid() { # SIGKILL once at least $1 rows are committed, between two commits
  for _ in $(seq 300); do [ "$(count)" -ge "$1" ] && break; sleep 0.05; done
  sleep "0.$((RANDOM % 6 + 2))"
  kill -KILL "$SPID"; wait "$SPID" 2>/dev/null || true
  ok "killed with $(count) rows committed"
}

# the first start creates the persistent session (subscription) at the broker
start
for _ in $(seq 100); do grep -q "mqtt connecting" "$TMP/sluice.err" && break; sleep 0.05; done
sleep 0.5
publish 1 &
P1=$!
kill_mid $((PER_WAVE / 3))
wait "$P1"
# wave 2 is published while sluice is down: the broker queues it
publish 2
ok "wave 2 published while sluice is down"
for w in 3 4; do
  start
  publish $w &
  P3=$!
  kill_mid $((PER_WAVE * (w - 1) + PER_WAVE / 4))
  wait "$P3"
done
start
ALL=$((PER_WAVE * 4))
for _ in $(seq 400); do [ "$(count)" -ge "$ALL" ] && break; sleep 0.05; done
sleep 0.5 # anything more (a repeat past dedupe) would show now
kill -TERM "$SPID"; wait "$SPID" || fail "sluice exited with an error after SIGTERM"
grep -q '"mqtt connecting".*"client_id":"mqtt_cams.cams"' "$TMP/sluice.err" || fail "client id is not mqtt_cams.cams"

# brute force: everything published, once
cat "$TMP"/w*/all.tsv >"$TMP/all.tsv"
sqlite3 "$TMP/expected.db" <<SQL
CREATE TABLE pub(id INTEGER, ts INTEGER, item TEXT, topic TEXT, location TEXT, camera TEXT);
.mode tabs
.import $TMP/all.tsv pub
SQL
got=$(sqlite3 "$DATA/sluice.db" "ATTACH '$TMP/expected.db' AS e;
  SELECT (SELECT count(*) FROM (SELECT id, ts, item, topic, location, camera FROM detections
          EXCEPT SELECT id, ts, item, topic, location, camera FROM e.pub)) || ',' ||
         (SELECT count(*) FROM (SELECT id, ts, item, topic, location, camera FROM e.pub
          EXCEPT SELECT id, ts, item, topic, location, camera FROM detections)) || ',' ||
         (SELECT count(*) FROM detections) || ',' || (SELECT count(DISTINCT id) FROM detections)")
[ "$got" = "0,0,$ALL,$ALL" ] || fail "detections vs published (extra, missing, rows, distinct ids) = $got, want 0,0,$ALL,$ALL"
ok "detections: all $ALL published messages, each once"
diff <(sqlite3 "$DATA/sluice.db" "SELECT location, sum(detections) FROM per_location GROUP BY location ORDER BY location") \
     <(sqlite3 "$TMP/expected.db" "SELECT location, count(*) FROM pub GROUP BY location ORDER BY location") ||
  fail "per_location differs from the brute-force counts"
diff <(sqlite3 "$DATA/sluice.db" "SELECT location, window_start, detections, cameras FROM per_location ORDER BY 1, 2") \
     <(sqlite3 "$TMP/expected.db" "SELECT location, strftime('%Y-%m-%dT%H:00:00Z', ts / 1000, 'unixepoch'), count(*), count(DISTINCT camera) FROM pub GROUP BY 1, 2 ORDER BY 1, 2") ||
  fail "per_location windows differ from the brute force"
ok "per_location equals the brute force"
dups=$(sqlite3 "$DATA/sluice.db" "SELECT coalesce(sum(duplicates), 0) FROM _sluice_events" 2>/dev/null || echo "?")
ok "redelivered repeats removed by dedupe: $dups"
echo "PASS test_mqtt"
