#!/usr/bin/env bash
# bench/mqtt.sh BUILD_DIR [MESSAGES]: MQTT QoS 1 from a local mosquitto ->
# pipelines/cameras-mqtt.yaml -> SQLite store and lake. A first run creates
# the persistent session; MESSAGES camera detections (`sluice gen cameras`)
# are then published at QoS 1 (bench/mqtt_pub.c, 4 publishers) while sluice is down (the
# broker queues them), and a second `sluice run` is timed from its start until
# every message is committed (the checkpoint's message count). Prints one
# table row as bench/flavors.sh prints them: messages/s from the start of
# the timed run, CPU seconds of sluice and its peak RSS. The broker
# runs with max_inflight_messages 0 (acknowledgements wait for the commit:
# docs/pipeline-spec.md, mqtt). Target (issue 16): >= 50,000 messages/s.
set -euo pipefail
build=$(cd "${1:-build}" && pwd)
n=${2:-${BENCH_MQTT_MESSAGES:-200000}}
bin="$build/sluice"
repo=$(cd "$(dirname "$0")/.." && pwd)
for t in mosquitto sqlite3 bc; do
  command -v $t >/dev/null || { echo "mqtt bench: $t is not installed (scripts/deps.sh)" >&2; exit 77; }
done
work=$(mktemp -d "${TMPDIR:-/tmp}/sluice-mbench.XXXXXX")
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cat >"$work/broker.conf" <<CONF
listener $port 127.0.0.1
allow_anonymous true
persistence false
max_inflight_messages 0
max_queued_messages 0
CONF
mosquitto -c "$work/broker.conf" >"$work/broker.log" 2>&1 &
bpid=$!
spid=
trap '[ -n "$spid" ] && kill -9 $spid 2>/dev/null; kill $bpid 2>/dev/null; wait $bpid 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 50); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done
"$bin" gen cameras --events "$n" --seed 1 --dup 0 --late 0 --malformed 0 --out "$work/in" >/dev/null 2>&1
run=("$bin" run "$repo/pipelines/cameras-mqtt.yaml" --data "$work/out" --set mqtt_broker="127.0.0.1:$port"
  --set locations="$work/in/locations.csv" --status 0)
# the persistent session: subscribe once, stop
SLUICE_LOG=info "${run[@]}" 2>"$work/run0.err" &
spid=$!
for _ in $(seq 100); do grep -q "mqtt connecting" "$work/run0.err" && break; sleep 0.05; done
sleep 1
kill -TERM $spid; wait $spid || true
spid=
# publish while down: 4 publishers on 4 topics
cat "$work"/in/detections-*.ndjson >"$work/all.ndjson"
total=$(wc -l <"$work/all.ndjson")
split -n l/4 -d "$work/all.ndjson" "$work/part."
echo "mqtt bench: publishing $total messages (QoS 1) ..." >&2
pubs=()
for i in 0 1 2 3; do "$build/mqtt_pub" 127.0.0.1 "$port" "cameras/site$i/cam$i" <"$work/part.0$i" 2>/dev/null & pubs+=($!); done
for p in "${pubs[@]}"; do wait "$p"; done
pos() { sqlite3 "$work/out/sluice.db" "SELECT coalesce(sum(position), 0) FROM _sluice_positions WHERE source = 'detections'" 2>/dev/null || echo 0; }
base=$(pos)
t0=$(date +%s.%N)
"${run[@]}" 2>"$work/run.err" &
spid=$!
for _ in $(seq 6000); do [ "$(pos)" -ge $((base + total)) ] && break; sleep 0.05; done
t1=$(date +%s.%N)
got=$(($(pos) - base))
# CPU seconds (utime + stime in clock ticks) and peak RSS of the running process
read -r user sys < <(awk '{ print $14, $15 }' "/proc/$spid/stat")
rss=$(awk '/^VmHWM/ { print $2 }' "/proc/$spid/status")
tck=$(getconf CLK_TCK)
kill -TERM $spid; wait $spid || true
spid=
user=$(echo "$user / $tck" | bc -l) sys=$(echo "$sys / $tck" | bc -l)
[ "$got" -eq "$total" ] || echo "mqtt bench: WARNING stored $got of $total" >&2
secs=$(echo "$t1 - $t0" | bc -l)
# the row format of bench/flavors.sh: | pipeline | input | records | wall s | records/s | CPU s | peak RSS MB | instr/record |
printf '| cameras-mqtt | MQTT QoS 1, 4 topics (mosquitto, queued) | %d msgs | %.2f | %.0f | %.2f | %.0f | |\n' "$got" "$secs" \
  "$(echo "$got / $secs" | bc -l)" "$(echo "$user + $sys" | bc -l)" "$(echo "$rss / 1024" | bc -l)"
