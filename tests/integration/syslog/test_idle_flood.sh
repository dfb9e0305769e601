#!/usr/bin/env bash
# test_idle_flood.sh - idle TCP peers cannot lock out a syslog sender
# (tests/tools/syslog_listen with a per-address cap of 8, 40 connections in
# all, a 2 s idle timeout): 100 idle connections from 127.0.0.2 (over the
# per-address cap) and 8 from each of 127.0.0.3-6 (filling the total), then
# a new sender from 127.0.0.1 gets its message in once the idle ones are
# closed; refused and idle-closed connections are counted. Then, with the
# listener at its descriptor limit (ulimit -n 24), it must not spin on
# EMFILE: little CPU while peers wait, one log line, accept_errors counted,
# and accepting resumes once descriptors are free.
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/lib_syslog.sh"
need python3
need logger bsdutils
[ -x "$BUILD/syslog_listen" ] || fail "build syslog_listen first"
start_listener --udp off --tcp 127.0.0.1:0 --per-addr 8 --max-conns 40 --idle-ms 2000
trap 'stop_listener; cleanup' EXIT

python3 - "$TCP_PORT" >"$TMP/flood.json" <<'PY' &
import json, socket, sys, time
port = int(sys.argv[1])
held, refused = [], 0
srcs = ["127.0.0.2"] * 100 + [f"127.0.0.{a}" for a in range(3, 7) for _ in range(8)]
for src in srcs:
    s = socket.socket()
    s.bind((src, 0))
    s.connect(("127.0.0.1", port))
    held.append(s)
time.sleep(0.5)
for s in held:  # the refused ones are closed by the listener at once
    s.setblocking(False)
    try:
        if s.recv(1) == b"":
            refused += 1
    except BlockingIOError:
        pass
    except OSError:
        refused += 1
# stay idle until the listener closes the rest (bounded: 8 s)
end = time.time() + 8
closed = 0
while time.time() < end and closed < len(held) - refused:
    closed = 0
    for s in held:
        try:
            if s.recv(1) == b"":
                closed += 1
        except BlockingIOError:
            pass
        except OSError:
            closed += 1
    closed -= refused
    time.sleep(0.2)
print(json.dumps(dict(opened=len(held), refused=refused, idle_closed=closed)))
PY
FLOOD=$!
sleep 1
# the flood fills the 40 connections: a sender keeps trying until the idle ones are closed
t0=$(date +%s)
for _ in $(seq 40); do
    logger --rfc5424 -n 127.0.0.1 -P "$TCP_PORT" -T -t sluicetest "msg newcomer-1" 2>/dev/null
    grep -q 'newcomer-1' "$TMP/listen.out" && break
    sleep 0.25
    grep -q 'newcomer-1' "$TMP/listen.out" && break
done
wait_lines 'newcomer-1' 1 5 || fail "the new sender's message did not get in"
ok "new sender got in after $(($(date +%s) - t0)) s"
wait "$FLOOD" || fail "flood client failed"
cat "$TMP/flood.json"
python3 - "$TMP/flood.json" <<'PY' || fail "caps or idle timeout not applied: $(cat "$TMP/flood.json")"
import json, sys
s = json.load(open(sys.argv[1]))
assert s["refused"] >= 92, s       # 100 from one address, 8 allowed
assert s["idle_closed"] >= 30, s    # the held ones closed after 2 s of silence
PY
stop_listener
trap cleanup EXIT
cat "$TMP/listen.err"
grep -Eq '"refused":(9[2-9]|[1-9][0-9]{2,})' "$TMP/listen.err" || fail "refused not counted"
grep -Eq '"idle_closed":([3-9][0-9]|[1-9][0-9]{2,})' "$TMP/listen.err" || fail "idle closes not counted"
ok "idle flood: per-address cap, total cap and idle timeout held; newcomer delivered"

# ---- out of descriptors ----
( ulimit -n 24 && exec "$BUILD/syslog_listen" --udp off --tcp 127.0.0.1:0 ) >"$TMP/l2.out" 2>"$TMP/l2.err" &
L2=$!
trap 'kill $L2 2>/dev/null || true; cleanup' EXIT
for _ in $(seq 100); do grep -q '^tcp_port=' "$TMP/l2.out" && break; sleep 0.05; done
P2=$(sed -n 's/^tcp_port=//p' "$TMP/l2.out")
[ -n "$P2" ] || fail "second listener did not start: $(cat "$TMP/l2.err")"
python3 - "$P2" "$L2" <<'PY' || fail "listener spun at the descriptor limit"
import os, socket, sys, time
port, pid = int(sys.argv[1]), sys.argv[2]
def cpu():
    f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return int(f[11]) + int(f[12])  # utime + stime, in clock ticks
held = [socket.create_connection(("127.0.0.1", port)) for _ in range(30)]
time.sleep(0.5)
c0 = cpu()
time.sleep(2)
used = (cpu() - c0) / os.sysconf("SC_CLK_TCK")
print(f"listener CPU over 2 s at the descriptor limit: {used:.2f} s")
for s in held:
    s.close()
sys.exit(0 if used < 0.5 else 1)
PY
sleep 0.5
for _ in $(seq 20); do
    logger --rfc5424 -n 127.0.0.1 -P "$P2" -T -t sluicetest "msg after-emfile-1" 2>/dev/null
    sleep 0.25
    grep -q 'after-emfile-1' "$TMP/l2.out" && break
done
grep -q 'after-emfile-1' "$TMP/l2.out" || fail "accepting did not resume after EMFILE"
kill -TERM "$L2"
wait "$L2" || true
trap cleanup EXIT
grep -q 'cannot accept connections' "$TMP/l2.err" || fail "EMFILE not logged: $(cat "$TMP/l2.err")"
[ "$(grep -c 'cannot accept connections' "$TMP/l2.err")" = 1 ] || fail "EMFILE logged more than once"
grep -Eq '"accept_errors":[1-9]' "$TMP/l2.err" || fail "EMFILE not counted: $(cat "$TMP/l2.err")"
ok "EMFILE: backed off, logged once, counted, accepting resumed"
