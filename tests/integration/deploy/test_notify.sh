#!/usr/bin/env bash
# The service manager's protocol (sd_notify(3)) as systemd runs a Type=notify
# unit with a watchdog: READY=1 only once the server answers, WATCHDOG=1 at
# least every half interval while the pipeline idles, STOPPING=1 on SIGTERM,
# then a clean exit. The manager's end is a python3 datagram socket.
source "$(dirname "$0")/../lib.sh"
need python3
need curl

mkdir -p "$TMP/in"
printf '{"id":1,"v":2}\n' >"$TMP/in/a.ndjson"
cat >"$TMP/p.yaml" <<YAML
pipeline: notify
commit_interval: 100ms
sources:
  s: {type: dir, path: $TMP/in, pattern: "*.ndjson", format: json, schema: {id: int, v: int}}
tables:
  t: {from: s}
YAML
SOCK="$TMP/notify.sock"
python3 - "$SOCK" "$TMP/msgs" <<'PY' &
import socket, sys, time
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
s.settimeout(30)
with open(sys.argv[2], "a") as out:
    try:
        while True:
            m = s.recv(4096).decode()
            out.write("%.3f %s\n" % (time.monotonic(), m.replace("\n", "|")))
            out.flush()
            if "STOPPING=1" in m:
                break
    except socket.timeout:
        pass
PY
LPID=$!
for _ in $(seq 50); do [ -S "$SOCK" ] && break; sleep 0.1; done
[ -S "$SOCK" ] || fail "listener socket"

NOTIFY_SOCKET="$SOCK" WATCHDOG_USEC=2000000 SLUICE_LOG=info "$SLUICE" run "$TMP/p.yaml" --data "$TMP/d" \
  --listen 127.0.0.1:0 --status 0 2>"$TMP/err" &
SPID=$!
for _ in $(seq 100); do grep -q READY=1 "$TMP/msgs" 2>/dev/null && break; sleep 0.1; done
grep -q "READY=1" "$TMP/msgs" || { cat "$TMP/err" >&2; fail "no READY=1"; }
port=$(sed -n 's/.*"url":"http:\/\/127.0.0.1:\([0-9]*\)\/".*/\1/p' "$TMP/err" | head -1)
[ -n "$port" ] || fail "no server url logged"
# READY=1 was sent after the server listened: it answers now
curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null || fail "/healthz after READY=1"
sleep 4.5
n=$(grep -c "WATCHDOG=1" "$TMP/msgs" || true)
[ "$n" -ge 3 ] || fail "expected >= 3 WATCHDOG=1 in 4.5 s at a 2 s interval, got $n"
# never as far apart as the interval itself (the manager would kill the service); the
# pings come every half interval, the rest is slack for a loaded machine
python3 - "$TMP/msgs" <<'PY' || fail "watchdog gaps too long"
import sys
ts = [float(l.split()[0]) for l in open(sys.argv[1]) if "WATCHDOG=1" in l]
gaps = [b - a for a, b in zip(ts, ts[1:])]
assert max(gaps) < 2.0, gaps
PY
kill -TERM $SPID
wait $SPID || fail "exit status $? after SIGTERM"
wait $LPID || true
grep -q "STOPPING=1" "$TMP/msgs" || fail "no STOPPING=1"
# a watchdog meant for another process (WATCHDOG_PID) is not fed
: >"$TMP/msgs2"
python3 -c '
import socket,sys,time
s=socket.socket(socket.AF_UNIX,socket.SOCK_DGRAM); s.bind(sys.argv[1]); s.settimeout(3)
try:
    while True: open(sys.argv[2],"a").write(s.recv(4096).decode().replace("\n","|")+"\n")
except socket.timeout: pass' "$TMP/n2.sock" "$TMP/msgs2" &
LPID=$!
for _ in $(seq 50); do [ -S "$TMP/n2.sock" ] && break; sleep 0.1; done
NOTIFY_SOCKET="$TMP/n2.sock" WATCHDOG_USEC=200000 WATCHDOG_PID=1 timeout 20 "$SLUICE" run \
  "$TMP/p.yaml" --data "$TMP/d2" --once --status 0 2>/dev/null || fail "run --once"
wait $LPID || true
grep -q READY=1 "$TMP/msgs2" || fail "no READY=1 (--once)"
grep -q WATCHDOG=1 "$TMP/msgs2" && fail "fed a watchdog meant for pid 1"
ok "READY=1 after listening, WATCHDOG=1 every half interval, STOPPING=1 on SIGTERM"
