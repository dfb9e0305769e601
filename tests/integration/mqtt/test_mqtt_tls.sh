#!/usr/bin/env bash
# The mqtt source over TLS against a real mosquitto TLS listener: certificates
# made here with openssl (a private CA, the broker's certificate for
# 127.0.0.1, a client certificate); the broker requires the client
# certificate and a password. Every message published over TLS arrives once;
# a wrong CA, a missing client certificate and a wrong password are refused
# with a clear error and no secret in the logs.
source "$(dirname "$0")/../lib.sh"
need mosquitto
need mosquitto_pub mosquitto-clients
need mosquitto_passwd mosquitto
need openssl
need python3
need sqlite3
N=$([ "$SANITIZED" = 1 ] && echo 300 || echo 2000)
C="$TMP/certs"
mkdir -p "$C" "$TMP/mosq"
ossl() { openssl "$@" >/dev/null 2>&1 || fail "openssl $1 failed"; }
ossl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=sluice test CA" -keyout "$C/ca.key" -out "$C/ca.crt"
ossl req -newkey rsa:2048 -nodes -subj "/CN=127.0.0.1" -keyout "$C/broker.key" -out "$C/broker.csr"
printf 'subjectAltName=IP:127.0.0.1\n' >"$C/san.ext"
ossl x509 -req -in "$C/broker.csr" -CA "$C/ca.crt" -CAkey "$C/ca.key" -CAcreateserial -days 2 \
  -extfile "$C/san.ext" -out "$C/broker.crt"
ossl req -newkey rsa:2048 -nodes -subj "/CN=sluice" -keyout "$C/client.key" -out "$C/client.csr"
ossl x509 -req -in "$C/client.csr" -CA "$C/ca.crt" -CAkey "$C/ca.key" -CAcreateserial -days 2 \
  -out "$C/client.crt"
# another CA the broker's certificate does not come from
ossl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=other CA" -keyout "$C/other.key" -out "$C/other.crt"
chmod 644 "$C"/*.key
PASSWORD="tls-s3cret-$$"
: >"$TMP/mosq/passwd"
mosquitto_passwd -b "$TMP/mosq/passwd" sluice "$PASSWORD" >/dev/null 2>&1 || fail "mosquitto_passwd"
chmod 644 "$TMP/mosq/passwd"
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cat >"$TMP/mosq/mosquitto.conf" <<CONF
user $(id -un)
listener $PORT 127.0.0.1
cafile $C/ca.crt
certfile $C/broker.crt
keyfile $C/broker.key
require_certificate true
allow_anonymous false
password_file $TMP/mosq/passwd
persistence true
persistence_location $TMP/mosq/
max_queued_messages 0
CONF
PIDS=()
trap 'for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null || true; done; cleanup' EXIT
mosquitto -c "$TMP/mosq/mosquitto.conf" >"$TMP/mosq/log" 2>&1 &
PIDS+=($!)
for _ in $(seq 50); do (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break; sleep 0.1; done
(exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null || { cat "$TMP/mosq/log" >&2; fail "mosquitto did not start"; }

pipeline() { # FILE CA [CERT KEY]
  cat >"$1" <<YAML
pipeline: mqtt_tls
commit_interval: 200ms
sources:
  m:
    type: mqtt
    broker: "127.0.0.1:$PORT"
    topics: ["sensors/#"]
    qos: 1
    client_id: sluice-tls
    username: sluice
    password: "\${MQTT_PASSWORD}"
    tls_ca: $2
${3:+    tls_cert: $3}
${4:+    tls_key: $4}
    schema: {id: int, v: double}
tables:
  readings:
    from: m
    steps:
      - watermark: {time: "from_unixtime(id)", delay: 24h}
      - dedupe: {key: id, horizon: 24h}
YAML
}
pipeline "$TMP/good.yaml" "$C/ca.crt" "$C/client.crt" "$C/client.key"
MQTT_PASSWORD="$PASSWORD" SLUICE_LOG=info "$SLUICE" run "$TMP/good.yaml" --data "$TMP/d" --status 0 2>"$TMP/run.err" &
RUN=$!
PIDS+=($RUN)
# the subscription is in place once the broker logs the client's connection
for _ in $(seq 100); do grep -q "sluice-tls" "$TMP/mosq/log" 2>/dev/null && break; sleep 0.1; done
sleep 0.5
python3 -c "import json; [print(json.dumps({'id': i, 'v': i / 2})) for i in range($N)]" >"$TMP/msgs"
mosquitto_pub -h 127.0.0.1 -p "$PORT" --cafile "$C/ca.crt" --cert "$C/client.crt" --key "$C/client.key" \
  -u sluice -P "$PASSWORD" -q 1 -t sensors/a -l <"$TMP/msgs" || fail "mosquitto_pub over TLS"
for _ in $(seq 200); do
  [ "$(sqlite3 "$TMP/d/sluice.db" 'SELECT count(*) FROM readings' 2>/dev/null)" = "$N" ] && break
  sleep 0.1
done
got=$(sqlite3 "$TMP/d/sluice.db" 'SELECT count(*), count(DISTINCT id), round(sum(v), 1) FROM readings')
want="$N|$N|$(python3 -c "print(round(sum(i / 2 for i in range($N)), 1))")"
[ "$got" = "$want" ] || fail "over TLS: got $got, want $want"
kill -TERM $RUN
wait $RUN || fail "exit after SIGTERM"
ok "mqtt over TLS with a client certificate and a password: $N messages once each"

refused() { # NAME PIPELINE PASSWORD PATTERN
  local rc=0
  MQTT_PASSWORD="$3" timeout 20 "$SLUICE" check "$2" --data "$TMP/d-$1" >"$TMP/$1.out" 2>&1 || rc=$?
  [ $rc -ne 0 ] || fail "$1: check passed"
  has -i "$4" "$TMP/$1.out" || fail "$1: no clear reason: $(cat "$TMP/$1.out")"
  has "$PASSWORD" "$TMP/$1.out" && fail "$1: the password was printed"
  ok "$1 refused: $(grep -i -m1 "$4" "$TMP/$1.out" | cut -c1-150)"
}
pipeline "$TMP/wrong-ca.yaml" "$C/other.crt" "$C/client.crt" "$C/client.key"
refused wrong-ca "$TMP/wrong-ca.yaml" "$PASSWORD" "certificate\|tls\|ssl\|handshake"
pipeline "$TMP/no-cert.yaml" "$C/ca.crt"
refused no-client-cert "$TMP/no-cert.yaml" "$PASSWORD" "tls\|ssl\|connection\|refused\|lost\|certificate\|protocol"
pipeline "$TMP/bad-pw.yaml" "$C/ca.crt" "$C/client.crt" "$C/client.key"
refused wrong-password "$TMP/bad-pw.yaml" "not-the-password" "auth\|not authori\|refused\|password"
has "$PASSWORD" "$TMP/run.err" && fail "the password is in the run's log"
ok "no password in any log"
