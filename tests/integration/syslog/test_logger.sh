#!/usr/bin/env bash
# test_logger.sh - util-linux `logger --rfc5424` as a real syslog client of the
# listener (tests/tools/syslog_listen): TCP with LF framing (logger's default
# on TCP), TCP with RFC 6587 octet counting (--octet-count), UDP, and many
# short TCP connections. Every message carries a unique id and must arrive
# exactly once, with the right partition (tcp:127.0.0.1:PORT per connection,
# udp:127.0.0.1 for datagrams).
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/lib_syslog.sh"
need logger bsdutils
[ -x "$BUILD/syslog_listen" ] || fail "build syslog_listen first"
N=${N:-3000}
[ "$SANITIZED" = 1 ] && N=500
start_listener
trap 'stop_listener; cleanup' EXIT

seq 1 "$N" | sed 's/^/msg lf-/' | logger --rfc5424 -n 127.0.0.1 -P "$TCP_PORT" -T -t sluicetest
seq 1 "$N" | sed 's/^/msg oc-/' | logger --rfc5424 -n 127.0.0.1 -P "$TCP_PORT" -T --octet-count -t sluicetest
# UDP: small bursts so the test never depends on the kernel's socket buffer
for i in $(seq 1 10 200); do
  seq "$i" $((i + 9)) | sed 's/^/msg udp-/' | logger --rfc5424 -n 127.0.0.1 -P "$UDP_PORT" -d -t sluicetest
done
for i in $(seq 1 20); do logger --rfc5424 -n 127.0.0.1 -P "$TCP_PORT" -T -t sluicetest "msg conn-$i"; done

wait_lines '"msg":' $((2 * N + 200 + 20)) 60 || fail "messages missing"
sleep 0.3
stop_listener
exactly_once lf "$N"
exactly_once oc "$N"
exactly_once udp 200
exactly_once conn 20
# partitions: one per TCP connection (2 + 20), one for all UDP datagrams
parts=$(grep -o '"part":"[^"]*"' "$TMP/listen.out" | sort -u)
[ "$(echo "$parts" | grep -c '"part":"tcp:127.0.0.1:[0-9]*"')" = 22 ] || fail "expected 22 tcp partitions: $parts"
[ "$(echo "$parts" | grep -c '"part":"udp:127.0.0.1"')" = 1 ] || fail "expected one udp partition"
# RFC 5424 as sent: the message starts with <PRI>1 and carries the app name
grep -q '"msg":"<13>1 [0-9T:.+-]* [^ ]* sluicetest - - \[timeQuality' "$TMP/listen.out" || fail "not RFC 5424"
grep -q '"dropped":0' "$TMP/listen.err" || fail "drops: $(cat "$TMP/listen.err")"
grep -q '"framing_errors":0' "$TMP/listen.err" || fail "framing errors: $(cat "$TMP/listen.err")"
ok "logger: $((2 * N)) TCP (LF + octet-counted), 200 UDP, 20 connections, each message exactly once"
