#!/usr/bin/env bash
# `sluice check PIPELINE`: one line per check, exit 0 when all pass, 1 when one
# fails, 2 on bad usage. Sources: a dir source's folder, a listener's address
# (free, then taken), a Kafka source's brokers and topics (the mock cluster);
# the store: writable, being created, and not writable.
source "$(dirname "$0")/../lib.sh"
need python3
need sqlite3
mkdir -p "$TMP/in"
touch "$TMP/in/a.ndjson" "$TMP/in/b.ndjson" "$TMP/in/c.txt"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
start_mock mock --topic present:2
cat >"$TMP/p.yaml" <<YAML
pipeline: checked
sources:
  files:
    type: dir
    path: "\${input:$TMP/in}"
    pattern: "*.ndjson"
    schema: {a: int}
  pushed:
    type: http
    listen: "127.0.0.1:\${port:$port}"
    schema: {a: int}
  topic:
    type: kafka
    brokers: "$BOOT"
    topics: ["\${topic:present}"]
    group: g
    schema: {a: int}
tables:
  t1: {from: files}
  t2: {from: pushed}
  t3: {from: topic}
YAML
out=$("$SLUICE" check "$TMP/p.yaml" --data "$TMP/data") || fail "check failed on a good setup: $out"
echo "$out"
grep -q "^ok    source files (dir): .* 2 files match \*.ndjson" <<<"$out" || fail "dir line: $out"
grep -q "^ok    source pushed (http): can listen on tcp 127.0.0.1:$port" <<<"$out" || fail "http line"
grep -q "^ok    source topic (kafka): brokers .* answer .*topic present: 2 partitions" <<<"$out" || fail "kafka line"
grep -q "^ok    store: .* will be created" <<<"$out" || fail "store line"
grep -q "^4 ok, 0 failed$" <<<"$out" || fail "summary"
ok "all checks pass on a good setup"

# a missing folder, a taken port, a missing topic: each fails, named
python3 -c 'import socket,sys,time; s=socket.socket(); s.bind(("127.0.0.1",int(sys.argv[1]))); s.listen(); time.sleep(30)' "$port" &
holder=$!
# wait until it listens (python starts slowly on a loaded machine)
for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done
set +e
out=$("$SLUICE" check "$TMP/p.yaml" --data "$TMP/data" --set input="$TMP/nope" --set topic=absent)
rc=$?
set -e
kill "$holder"
echo "$out"
[ "$rc" = 1 ] || fail "exit $rc with failing checks, expected 1"
grep -q "^FAIL  source files (dir): cannot read directory $TMP/nope" <<<"$out" || fail "missing folder not named"
grep -q "^FAIL  source pushed (http): tcp 127.0.0.1:$port is in use" <<<"$out" || fail "taken port not named"
grep -q "^FAIL  source topic (kafka): .*topic absent: missing" <<<"$out" || fail "missing topic not named"
grep -q "^1 ok, 3 failed$" <<<"$out" || fail "summary"
ok "a missing folder, a taken port and a missing topic fail, each named (exit 1)"

# the store: an existing database is writable, and reported as held while
# another connection has the write lock; a read-only folder is refused
mkdir -p "$TMP/data"
sqlite3 "$TMP/data/sluice.db" "PRAGMA journal_mode=WAL; CREATE TABLE t(a)" >/dev/null
out=$("$SLUICE" check "$TMP/p.yaml" --data "$TMP/data" || true)
grep -q "^ok    store: $TMP/data/sluice.db is writable" <<<"$out" ||
  fail "existing store not writable: $out"
python3 -c 'import sqlite3,sys,time; c=sqlite3.connect(sys.argv[1], isolation_level=None); c.execute("BEGIN IMMEDIATE"); print("locked", flush=True); time.sleep(5)' "$TMP/data/sluice.db" >"$TMP/lock.out" &
locker=$!
for _ in $(seq 50); do grep -q locked "$TMP/lock.out" && break; sleep 0.1; done
out=$("$SLUICE" check "$TMP/p.yaml" --data "$TMP/data" || true)
kill "$locker" 2>/dev/null || true
grep -q "^ok    store: .* a running pipeline holds the write lock" <<<"$out" || fail "held lock: $out"
if [ "$(id -u)" != 0 ]; then
  mkdir "$TMP/ro" && chmod 555 "$TMP/ro"
  set +e
  out=$("$SLUICE" check "$TMP/p.yaml" --data "$TMP/ro/data")
  set -e
  grep -q "^FAIL  store: .* is not a writable folder" <<<"$out" || fail "read-only folder accepted: $out"
fi
ok "the store: writable when it exists, created where it can be"

# the other network sources and the alert channels: a jobs API (http_poll), an
# MQTT broker, a webhook receiver; each answers, then each is gone
need mosquitto
"$SLUICE" gen dataops --events 200 --out "$TMP/gen" --serve 127.0.0.1:0 >"$TMP/api.out" 2>/dev/null &
api=$!
mport=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
printf 'listener %s 127.0.0.1\nallow_anonymous true\n' "$mport" >"$TMP/mosq.conf"
mosquitto -c "$TMP/mosq.conf" >/dev/null 2>&1 &
mosq=$!
python3 "$REPO/tests/integration/alerts/http_receiver.py" "$TMP/req.log" "$TMP/ports" 2>/dev/null &
recv=$!
for _ in $(seq 50); do
  [ -s "$TMP/ports" ] && grep -q "jobs API" "$TMP/api.out" && (exec 9<>/dev/tcp/127.0.0.1/"$mport") 2>/dev/null && break
  sleep 0.1
done
api_url=$(sed -n 's/^jobs API: //p' "$TMP/api.out")
read -r wport _ <"$TMP/ports"
cat >"$TMP/net.yaml" <<YAML
pipeline: netcheck
sources:
  runs:
    type: http_poll
    url: "\${api:$api_url}"
    records: runs
    schema: {run_id: string}
  cams:
    type: mqtt
    broker: "127.0.0.1:\${mport:$mport}"
    topics: ["cameras/#"]
    schema: {a: int}
tables:
  t1: {from: runs}
  t2: {from: cams}
alerts:
  channels:
    hook: {type: webhook, url: "\${hook:http://127.0.0.1:$wport/hook}"}
    quiet: {type: slack, url: ""}
YAML
out=$("$SLUICE" check "$TMP/net.yaml" --data "$TMP/netdata") || fail "network checks failed: $out"
echo "$out"
grep -q "^ok    source runs (http_poll): http://127.0.0.1:.*/api/2.1/jobs/runs/list answers HTTP 200" <<<"$out" || fail "http_poll line"
grep -q "^ok    source cams (mqtt): broker 127.0.0.1:$mport accepts a connection" <<<"$out" || fail "mqtt line"
grep -q "^ok    alert channel hook: " <<<"$out" || fail "webhook line"
grep -q "^-     alert channel quiet: off" <<<"$out" || fail "an empty channel is listed as off"
grep -q '"kind": *"test"\|test' "$TMP/req.log" || fail "the receiver got no test notification"
kill "$api" "$mosq" "$recv"
wait "$api" "$mosq" "$recv" 2>/dev/null || true
set +e
out=$("$SLUICE" check "$TMP/net.yaml" --data "$TMP/netdata")
rc=$?
set -e
echo "$out"
[ "$rc" = 1 ] || fail "exit $rc with the services gone"
grep -q "^FAIL  source runs (http_poll): " <<<"$out" || fail "http_poll down not reported"
grep -q "^FAIL  source cams (mqtt): broker 127.0.0.1:$mport" <<<"$out" || fail "mqtt down not reported"
grep -q "^FAIL  alert channel hook: " <<<"$out" || fail "webhook down not reported"
ok "http_poll, mqtt and an alert channel: ok while they answer, FAIL when they are gone"

# usage
set +e
"$SLUICE" check >/dev/null 2>&1; rc1=$?
"$SLUICE" check "$TMP/p.yaml" --bogus >/dev/null 2>&1; rc2=$?
set -e
[ "$rc1" = 2 ] && [ "$rc2" = 2 ] || fail "bad usage exits $rc1/$rc2, expected 2"
"$SLUICE" check --help | grep -q "usage: sluice check" || fail "--help"
exec 3>&-
ok "bad usage prints usage and exits 2"
