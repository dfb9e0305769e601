#!/usr/bin/env bash
# test_pipeline.sh - `type: syslog` end to end: `sluice run` listens on TCP
# and UDP, `logger --rfc5424` sends (TCP newline-framed, TCP octet-counted,
# UDP), and every message lands in the table exactly once with its fields;
# a line without PRI is kept as user.notice, as RFC 3164 relays do.
# Usage: bash tests/integration/syslog/test_pipeline.sh BUILD_DIR
source "$(dirname "$0")/../lib.sh"
need logger bsdutils
SLUICE_LOG=info "$SLUICE" run "$REPO/tests/integration/syslog/pipeline.yaml" --data "$TMP/out" --status 0 --listen 127.0.0.1:0 2>"$TMP/run.err" &
RPID=$!
trap 'kill $RPID 2>/dev/null || true; cleanup' EXIT
for _ in $(seq 100); do grep -q '"syslog listening"' "$TMP/run.err" && break; sleep 0.05; done
TCP=$(sed -n 's/.*"tcp_port":\([0-9]*\).*/\1/p' "$TMP/run.err")
UDP=$(sed -n 's/.*"udp_port":\([0-9]*\).*/\1/p' "$TMP/run.err")
[ -n "$TCP" ] && [ -n "$UDP" ] || { cat "$TMP/run.err" >&2; fail "no listening ports"; }
n=300
for i in $(seq $n); do echo "tcp-$i"; done | logger --rfc5424 -n 127.0.0.1 -P "$TCP" -T -t app1 -p local3.warning
for i in $(seq $n); do echo "oct-$i"; done | logger --rfc5424 -n 127.0.0.1 -P "$TCP" -T --octet-count -t app2 -p user.err
for i in $(seq 50); do logger --rfc5424 -n 127.0.0.1 -P "$UDP" -d -t app3 "udp-$i"; sleep 0.002; done
printf 'this is not syslog\n' >/dev/tcp/127.0.0.1/"$TCP"
want=$((2 * n + 50 + 1))
for _ in $(seq 100); do
  got=$(sqlite3 "$TMP/out/sluice.db" "SELECT coalesce(sum(records_in),0) FROM _sluice_events" 2>/dev/null || echo 0)
  [ "$got" -ge "$want" ] && break
  sleep 0.1
done
# the listener's counters on /metrics
HTTP=$(sed -n 's/.*"http server listening".*"port":\([0-9]*\).*/\1/p' "$TMP/run.err")
if [ -n "$HTTP" ] && command -v curl >/dev/null; then
  curl -sf "http://127.0.0.1:$HTTP/metrics" -o "$TMP/metrics.txt" || fail "/metrics"
  for m in framing_errors_total truncated_total refused_connections_total idle_closed_total accept_errors_total; do
    grep -q "^sluice_source_${m}{pipeline=\"syslog_test\",source=\"logs\"} 0\$" "$TMP/metrics.txt" ||
      fail "sluice_source_$m missing: $(grep sluice_source_ "$TMP/metrics.txt")"
  done
fi
kill -TERM $RPID; wait $RPID || fail "sluice run exited with an error"
db="$TMP/out/sluice.db"
for p in tcp oct; do
  c=$(sqlite3 "$db" "SELECT count(*), count(DISTINCT msg) FROM syslog_rows WHERE msg LIKE '$p-%'")
  [ "$c" = "$n|$n" ] || fail "$p: $c rows|distinct, want $n|$n"
done
c=$(sqlite3 "$db" "SELECT count(DISTINCT msg) FROM syslog_rows WHERE msg LIKE 'udp-%'")
[ "$c" -eq 50 ] || fail "udp: $c of 50 (loopback UDP at this rate should not drop)"
[ "$(sqlite3 "$db" "SELECT DISTINCT severity || '/' || facility || '/' || app_name FROM syslog_rows WHERE msg LIKE 'tcp-%'")" = "4/19/app1" ] ||
  fail "fields of app1 messages are wrong"
# RFC 3164 4.3.3: a line without PRI is relayed as MSG with PRI 13 (user.notice)
[ "$(sqlite3 "$db" "SELECT severity || '/' || facility FROM syslog_rows WHERE msg = 'this is not syslog'")" = "5/1" ] ||
  fail "a line without PRI should be kept as user.notice (RFC 3164 4.3.3)"
ok "syslog source: $((2 * n)) TCP (newline and octet-counted) + 50 UDP messages stored once each; a PRI-less line kept as user.notice"
echo "PASS test_pipeline"
