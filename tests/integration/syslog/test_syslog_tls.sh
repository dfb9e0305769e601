#!/usr/bin/env bash
# test_syslog_tls.sh - syslog over TLS (RFC 5425) into `sluice run`, with
# certificates made here with openssl (a CA, the server's certificate for
# 127.0.0.1 with an IP subjectAltName, a client certificate, and another CA
# with its own client). Two TLS listeners: `open` (server certificate only)
# and `mtls` (client_ca: clients need a certificate from the CA).
#   - N octet-counted RFC 5424 messages through `openssl s_client` land in the
#     table exactly once each (ids compared with the list sent);
#   - a client trusting another CA fails the handshake; a client without a
#     certificate, or with one from another CA, is refused by `mtls`;
#   - plain TCP to the TLS port stores nothing and the connection is closed;
#   - a renewed certificate (files rewritten) is served to new connections
#     while a connection opened before keeps working; a renewal that does not
#     load keeps the certificate in use; TLS 1.1 is refused;
#   - a key that does not match the cert is refused by `sluice validate` at
#     the option's file:line:col; `sluice check` reports the TLS listener;
#   - rsyslog forwards through its openssl driver (when rsyslog-openssl is
#     installed; otherwise that part is left out, said in the output).
# Usage: bash tests/integration/syslog/test_syslog_tls.sh BUILD_DIR
source "$(dirname "$0")/../lib.sh"
need openssl
need sqlite3
N=${N:-2000}
[ "$SANITIZED" = 1 ] && N=300
ossl() { openssl "$@" >/dev/null 2>&1 || fail "openssl $1 failed: $(openssl "$@" 2>&1 | tail -2)"; }
C="$TMP/certs"
mkdir -p "$C"
# ca NAME: a self-signed CA
ca() {
  ossl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=$1" -keyout "$C/$1.key" -out "$C/$1.crt" \
    -addext basicConstraints=critical,CA:TRUE -addext keyUsage=keyCertSign,cRLSign
}
# leaf NAME CA CN EXT: a certificate signed by CA
leaf() {
  ossl req -newkey rsa:2048 -nodes -subj "/CN=$3" -keyout "$C/$1.key" -out "$C/$1.csr"
  printf '%s\n' "$4" >"$C/$1.ext"
  ossl x509 -req -in "$C/$1.csr" -CA "$C/$2.crt" -CAkey "$C/$2.key" -CAcreateserial -days 2 \
    -extfile "$C/$1.ext" -out "$C/$1.crt"
}
ca ca
ca otherca
leaf server ca "sluice-test-server" "subjectAltName=IP:127.0.0.1
extendedKeyUsage=serverAuth"
leaf server2 ca "sluice-test-server-renewed" "subjectAltName=IP:127.0.0.1
extendedKeyUsage=serverAuth"
leaf client ca "sender-1" "extendedKeyUsage=clientAuth"
leaf otherclient otherca "sender-x" "extendedKeyUsage=clientAuth"

# paths relative to the pipeline file (SL_OPT_PATH)
cat >"$TMP/pipeline.yaml" <<'YAML'
pipeline: syslog_tls
commit_interval: 200ms
sources:
  open:
    type: syslog
    listen_tcp: 127.0.0.1:0
    tls:
      cert: certs/server.crt
      key: certs/server.key
  mtls:
    type: syslog
    listen_tcp: 127.0.0.1:0
    tls: {cert: certs/server.crt, key: certs/server.key, client_ca: certs/ca.crt}
tables:
  open_rows:
    from: open
    columns: [app_name, msg]
  mtls_rows:
    from: mtls
    columns: [app_name, msg]
YAML

# ---- load time: a bad key is refused at its option; check reports TLS ----
sed 's#key: certs/server.key$#key: certs/client.key#' "$TMP/pipeline.yaml" >"$TMP/badkey.yaml"
rc=0
"$SLUICE" validate "$TMP/badkey.yaml" >"$TMP/badkey.out" 2>&1 || rc=$?
[ $rc -ne 0 ] || fail "validate accepted a key that does not match the cert"
has -E "badkey.yaml:9:[0-9]+: .*tls key .*client.key' does not match" "$TMP/badkey.out" ||
  fail "bad key not reported at its option: $(cat "$TMP/badkey.out")"
printf 'not a certificate\n' >"$C/garbage.pem"
sed 's#client_ca: certs/ca.crt#client_ca: certs/garbage.pem#' "$TMP/pipeline.yaml" >"$TMP/badca.yaml"
rc=0
"$SLUICE" validate "$TMP/badca.yaml" >"$TMP/badca.out" 2>&1 || rc=$?
[ $rc -ne 0 ] || fail "validate accepted a client_ca that is no certificate"
has -E "badca.yaml:13:[0-9]+: .*tls client_ca" "$TMP/badca.out" ||
  fail "bad client_ca not reported at its option: $(cat "$TMP/badca.out")"
"$SLUICE" validate "$TMP/pipeline.yaml" >"$TMP/valid.out" 2>&1 || fail "validate: $(cat "$TMP/valid.out")"
timeout 20 "$SLUICE" check "$TMP/pipeline.yaml" --data "$TMP/check-data" >"$TMP/check.out" 2>&1 ||
  fail "check failed: $(cat "$TMP/check.out")"
has "TLS 1.2+, certificate .*sluice-test-server, expires" "$TMP/check.out" ||
  fail "check does not report the TLS listener: $(cat "$TMP/check.out")"
has "client certificates required" "$TMP/check.out" || fail "check: client_ca not reported"
ok "a bad key and a bad client_ca are refused at file:line:col; sluice check reports the TLS listeners"

# ---- run ----
SLUICE_LOG=info "$SLUICE" run "$TMP/pipeline.yaml" --data "$TMP/out" --status 0 2>"$TMP/run.err" &
RPID=$!
HOLD=
trap '{ [ -n "$HOLD" ] && kill $HOLD; } 2>/dev/null || true; kill $RPID 2>/dev/null || true; cleanup' EXIT
for _ in $(seq 100); do [ "$(grep -c '"syslog listening"' "$TMP/run.err")" -ge 2 ] && break; sleep 0.05; done
port() { grep '"syslog listening"' "$TMP/run.err" | grep "\"source\":\"$1\"" | sed -n 's/.*"tcp_port":\([0-9]*\).*/\1/p'; }
OPEN=$(port open)
MTLS=$(port mtls)
[ -n "$OPEN" ] && [ -n "$MTLS" ] || { cat "$TMP/run.err" >&2; fail "no listening ports"; }
db="$TMP/out/sluice.db"
# frames PREFIX FROM TO: octet-counted RFC 5424 messages with ids PREFIX-FROM..TO
frames() {
  local i m
  for i in $(seq "$2" "$3"); do
    m="<134>1 2026-12-07T10:00:00Z host1 tlsapp - - - $1-$i"
    printf '%d %s' "${#m}" "$m"
  done
}
# send PORT [s_client options]: stdin through TLS; fails when the handshake does
send() {
  local p=$1
  shift
  timeout 20 openssl s_client -connect "127.0.0.1:$p" -quiet -no_ign_eof -verify_return_error "$@" \
    >>"$TMP/client.out" 2>&1
}
# count TABLE PREFIX: rows whose msg starts with PREFIX-
count() { sqlite3 "$db" "SELECT count(*) FROM $1 WHERE msg LIKE '$2-%'" 2>/dev/null || echo 0; }
wait_rows() {
  for _ in $(seq 200); do
    [ "$(count "$1" "$2")" -ge "$3" ] && return 0
    sleep 0.1
  done
  fail "$1: $(count "$1" "$2") of $3 '$2' rows arrived: $(tail -5 "$TMP/run.err")"
}
# exactly_once TABLE PREFIX N: the ids stored are 1..N, each once (brute force: the list sent)
exactly_once() {
  seq 1 "$3" | sed "s/^/$2-/" | sort >"$TMP/want"
  sqlite3 "$db" "SELECT msg FROM $1 WHERE msg LIKE '$2-%'" | sort >"$TMP/got"
  cmp -s "$TMP/want" "$TMP/got" ||
    fail "$1 $2: not exactly once (missing $(comm -23 "$TMP/want" "$TMP/got" | wc -l), extra or duplicated $(comm -13 "$TMP/want" "$TMP/got" | wc -l))"
}

# N messages over two connections to each listener
half=$((N / 2))
frames a 1 "$half" | send "$OPEN" -CAfile "$C/ca.crt" || fail "s_client to the open listener failed: $(tail -5 "$TMP/client.out")"
frames a $((half + 1)) "$N" | send "$OPEN" -CAfile "$C/ca.crt" || fail "s_client (2) failed"
frames m 1 "$half" | send "$MTLS" -CAfile "$C/ca.crt" -cert "$C/client.crt" -key "$C/client.key" ||
  fail "s_client with a client certificate failed: $(tail -5 "$TMP/client.out")"
frames m $((half + 1)) "$N" | send "$MTLS" -CAfile "$C/ca.crt" -cert "$C/client.crt" -key "$C/client.key" ||
  fail "s_client with a client certificate (2) failed"
wait_rows open_rows a "$N"
wait_rows mtls_rows m "$N"
[ "$(sqlite3 "$db" "SELECT DISTINCT app_name FROM open_rows")" = tlsapp ] || fail "fields not parsed"
ok "$N octet-counted messages through TLS to each listener (with a client certificate for mtls)"

# refusals
if frames x 1 5 | send "$OPEN" -CAfile "$C/otherca.crt"; then fail "a client trusting another CA completed the handshake"; fi
frames y 1 5 | send "$MTLS" -CAfile "$C/ca.crt" || true # TLS 1.3: the refusal comes after the client thinks it is done
frames z 1 5 | send "$MTLS" -CAfile "$C/ca.crt" -cert "$C/otherclient.crt" -key "$C/otherclient.key" || true
# plain TCP to the TLS port: nothing stored, and the server closes (read ends at EOF before the timeout)
frames p 1 5 >"$TMP/plain.in"
timeout 10 python3 - "$OPEN" "$TMP/plain.in" <<'PY' || fail "plain TCP: the TLS listener did not close the connection"
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=8)
s.sendall(open(sys.argv[2], "rb").read())
try:
    while s.recv(4096):  # an alert at most, then EOF
        pass
except ConnectionResetError:  # closed with our bytes unread: a reset
    pass
PY
sleep 1
for t in x y z p; do
  [ "$(count open_rows $t)" = 0 ] && [ "$(count mtls_rows $t)" = 0 ] || fail "refused client '$t' stored messages"
done
has '"syslog tls: handshake failed' "$TMP/run.err" || fail "failed handshakes not logged"
ok "refused: another CA (client side), no client certificate, another CA's client certificate, plain TCP"

# ---- renewal: new connections get the new certificate; an open one keeps going ----
mkfifo "$TMP/hold.in"
timeout 60 openssl s_client -connect "127.0.0.1:$OPEN" -quiet -no_ign_eof -CAfile "$C/ca.crt" \
  <"$TMP/hold.in" >"$TMP/hold.out" 2>&1 &
HOLD=$!
exec 4>"$TMP/hold.in"
frames h 1 10 >&4
wait_rows open_rows h 10
cp "$C/server2.crt" "$C/server.crt.new" && cp "$C/server2.key" "$C/server.key.new"
mv "$C/server.key.new" "$C/server.key" && mv "$C/server.crt.new" "$C/server.crt"
subject=
for _ in $(seq 30); do
  sleep 0.5
  subject=$(echo | timeout 10 openssl s_client -connect "127.0.0.1:$OPEN" -CAfile "$C/ca.crt" 2>/dev/null |
    sed -n 's/^subject=.*CN *= *//p')
  [ "$subject" = sluice-test-server-renewed ] && break
done
[ "$subject" = sluice-test-server-renewed ] || fail "renewed certificate not served (subject '$subject')"
frames h 11 20 >&4
exec 4>&-
wait "$HOLD" || true
HOLD=
wait_rows open_rows h 20
frames r 1 10 | send "$OPEN" -CAfile "$C/ca.crt" || fail "s_client after the renewal failed"
wait_rows open_rows r 10
has '"syslog tls: certificate reloaded' "$TMP/run.err" || fail "reload not logged"
ok "renewed certificate served to new connections; a connection opened before kept working"
# a renewal that does not load (a key that does not match) keeps the certificate in use
cp "$C/client.key" "$C/server.key"
for _ in $(seq 50); do
  grep -q '"syslog tls: changed certificate files do not load' "$TMP/run.err" && break
  echo | timeout 10 openssl s_client -connect "127.0.0.1:$OPEN" -CAfile "$C/ca.crt" >/dev/null 2>&1 || true
  sleep 0.2
done
has '"syslog tls: changed certificate files do not load' "$TMP/run.err" || fail "a broken renewal was not logged"
frames k 1 10 | send "$OPEN" -CAfile "$C/ca.crt" || fail "a broken renewal stopped the listener"
wait_rows open_rows k 10
ok "a renewal that does not load is logged and the certificate in use stays"
# TLS 1.1 is refused by the server (the client is allowed to offer it)
if echo | timeout 10 openssl s_client -connect "127.0.0.1:$OPEN" -CAfile "$C/ca.crt" -tls1_1 \
  -cipher 'DEFAULT:@SECLEVEL=0' >"$TMP/tls11.out" 2>&1; then
  fail "a TLS 1.1 handshake succeeded"
fi
has -iE "alert protocol version|unsupported protocol|no protocols available" "$TMP/tls11.out" ||
  fail "TLS 1.1: unexpected failure: $(tail -3 "$TMP/tls11.out")"
ok "TLS 1.1 refused"

# ---- rsyslog through its openssl network stream driver ----
RSN=0
if command -v rsyslogd >/dev/null && command -v logger >/dev/null && ls /usr/lib/*/rsyslog/lmnsd_ossl.so >/dev/null 2>&1; then
  RSN=$((N / 2))
  mkdir -p "$TMP/rs-work"
  cat >"$TMP/rs.conf" <<CONF
global(workDirectory="$TMP/rs-work"
       DefaultNetstreamDriver="ossl"
       DefaultNetstreamDriverCAFile="$C/ca.crt"
       DefaultNetstreamDriverCertFile="$C/client.crt"
       DefaultNetstreamDriverKeyFile="$C/client.key")
module(load="imtcp" StreamDriver.Name="ptcp" StreamDriver.Mode="0")
input(type="imtcp" port="0" listenPortFileName="$TMP/rs-work/port")
action(type="omfwd" target="127.0.0.1" port="$MTLS" protocol="tcp"
       StreamDriver="ossl" StreamDriverMode="1" StreamDriverAuthMode="x509/certvalid"
       TCP_Framing="octet-counted" template="RSYSLOG_SyslogProtocol23Format"
       queue.type="LinkedList" queue.size="100000"
       action.resumeRetryCount="-1" action.resumeInterval="1")
CONF
  rsyslogd -N1 -f "$TMP/rs.conf" >"$TMP/rs.check" 2>&1 || fail "rsyslog config invalid: $(cat "$TMP/rs.check")"
  rsyslogd -f "$TMP/rs.conf" -i "$TMP/rs.pid" -n >"$TMP/rs.out" 2>&1 &
  RS_PID=$!
  trap 'kill $RS_PID 2>/dev/null || true; kill $RPID 2>/dev/null || true; cleanup' EXIT
  RS_PORT=
  for _ in $(seq 100); do
    [ -s "$TMP/rs-work/port" ] && RS_PORT=$(cat "$TMP/rs-work/port") && break
    sleep 0.1
  done
  [ -n "$RS_PORT" ] || fail "rsyslogd did not start: $(cat "$TMP/rs.out")"
  seq 1 "$RSN" | sed 's/^/rs-/' | logger --rfc5424 -n 127.0.0.1 -P "$RS_PORT" -T -t viarsyslog
  for _ in $(seq 300); do
    [ "$(count mtls_rows rs)" -ge "$RSN" ] && break
    sleep 0.1
  done
  kill -TERM "$RS_PID" 2>/dev/null || true
  wait "$RS_PID" 2>/dev/null || true
  [ "$(count mtls_rows rs)" -ge "$RSN" ] || fail "rsyslog over TLS: $(count mtls_rows rs) of $RSN: $(tail -5 "$TMP/rs.out")"
  exactly_once mtls_rows rs "$RSN"
  ok "rsyslog omfwd with the ossl driver and a client certificate: $RSN messages exactly once"
else
  echo "note: rsyslog's openssl driver (rsyslog-openssl) is not installed: the rsyslog part was left out"
fi

kill -TERM $RPID
wait $RPID || fail "sluice run exited with an error"
exactly_once open_rows a "$N"
exactly_once mtls_rows m "$N"
exactly_once open_rows h 20
exactly_once open_rows r 10
exactly_once open_rows k 10
ok "every message stored exactly once after shutdown"
echo "PASS test_syslog_tls"
