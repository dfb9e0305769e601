#!/usr/bin/env bash
# test_client_ca_reload.sh - a renewed client_ca applies to new connections
# without a restart, on both HTTP listeners (the server and an http source).
#
# Certificates made here with openssl: CA1 and CA2, a client of each, a
# server certificate for 127.0.0.1 (signed by CA1). With client_ca = CA1:
# the CA2 client is refused (403) and the CA1 client accepted. The client_ca
# file is replaced by CA2 (written beside and renamed, as certificate tools
# do): with no restart (same PID), the CA2 client is accepted and the CA1
# client refused, by the server and by the ingest listener (whose POSTed rows
# are stored: counted with sqlite3). A client_ca that does not load (no
# certificate in it) is logged and the CAs in force stay.
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/../http/lib_http.sh"
need openssl
need curl
need python3
need sqlite3
need timeout coreutils

C=$TMP/pki
mkdir -p "$C"
mkca() {
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 \
    -subj "/CN=sluice test $1" -keyout "$C/$1.key" -out "$C/$1.pem" 2>/dev/null
}
mkcert() { # NAME CA SERIAL EXT
  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=$1" \
    -keyout "$C/$1.key" -out "$C/$1.csr" 2>/dev/null
  printf '%s\n' "$4" >"$C/$1.ext"
  openssl x509 -req -in "$C/$1.csr" -CA "$C/$2.pem" -CAkey "$C/$2.key" -set_serial "$3" \
    -days 30 -extfile "$C/$1.ext" -out "$C/$1.pem" 2>/dev/null
}
mkca ca1
mkca ca2
mkcert server ca1 5101 'subjectAltName=IP:127.0.0.1
extendedKeyUsage=serverAuth'
mkcert client1 ca1 5202 'extendedKeyUsage=clientAuth'
mkcert client2 ca2 5303 'extendedKeyUsage=clientAuth'
cp "$C/ca1.pem" "$C/clients.pem"

sport=$(free_port)
iport=$(free_port)
cat >"$TMP/p.yaml" <<YAML
pipeline: careload
commit_interval: 200ms
server:
  listen: 127.0.0.1:$sport
  tls: {cert: pki/server.pem, key: pki/server.key, client_ca: pki/clients.pem}
sources:
  ev:
    type: http
    listen: 127.0.0.1:$iport
    format: json
    schema: {id: int}
    tls: {cert: pki/server.pem, key: pki/server.key, client_ca: pki/clients.pem}
tables:
  events: {from: ev}
YAML
SLUICE_LOG=info "$SLUICE" run "$TMP/p.yaml" --data "$TMP/d" --status 0 2>"$TMP/run.log" &
PID=$!
trap 'kill -9 $PID 2>/dev/null || true; cleanup' EXIT

get() { # CLIENT: the status of /healthz on the server with that client's certificate
  curl -s -m 5 --cacert "$C/ca1.pem" --cert "$C/$1.pem" --key "$C/$1.key" -o /dev/null \
    -w '%{http_code}' "https://127.0.0.1:$sport/healthz" || true
}
post() { # CLIENT FILE: the status of a POST to the http source
  curl -s -m 30 --cacert "$C/ca1.pem" --cert "$C/$1.pem" --key "$C/$1.key" -o "$TMP/answer" \
    -w '%{http_code}' -H 'Content-Type: application/x-ndjson' --data-binary @"$2" \
    "https://127.0.0.1:$iport/ingest" || true
}
for _ in $(seq 150); do
  kill -0 $PID 2>/dev/null || fail "sluice exited: $(tail -5 "$TMP/run.log")"
  [ "$(get client1)" = 200 ] && break
  sleep 0.1
done
[ "$(get client1)" = 200 ] || fail "the CA1 client is not served: $(tail -5 "$TMP/run.log")"
wait_listening_tls() {
  for _ in $(seq 150); do
    [ "$(curl -s -m 2 --cacert "$C/ca1.pem" -o /dev/null -w '%{http_code}' "https://127.0.0.1:$iport/" || true)" != 000 ] && return 0
    sleep 0.1
  done
  fail "the http source did not listen"
}
wait_listening_tls
seq 1 50 | python3 -c 'import json,sys
for l in sys.stdin: print(json.dumps({"id": int(l)}))' >"$TMP/a.ndjson"
seq 51 80 | python3 -c 'import json,sys
for l in sys.stdin: print(json.dumps({"id": int(l)}))' >"$TMP/b.ndjson"

[ "$(get client2)" = 403 ] || fail "a CA2 client was served before the change"
[ "$(post client2 "$TMP/a.ndjson")" = 403 ] || fail "a CA2 client ingested before the change"
[ "$(post client1 "$TMP/a.ndjson")" = 200 ] || fail "the CA1 client could not ingest: $(cat "$TMP/answer")"
ok "client_ca CA1: the CA2 client is refused (403), the CA1 client served"

# the renewed file: CA2 (written beside, then renamed over it)
cp "$C/ca2.pem" "$C/clients.pem.new" && mv "$C/clients.pem.new" "$C/clients.pem"
got=
for _ in $(seq 40); do
  got=$(get client2)
  [ "$got" = 200 ] && break
  sleep 0.25
done
[ "$got" = 200 ] || fail "the CA2 client is not served after the client_ca change: $got"
[ "$(get client1)" = 403 ] || fail "the CA1 client is still served after the change"
got=
for _ in $(seq 40); do
  got=$(post client2 "$TMP/b.ndjson")
  [ "$got" = 200 ] && break
  sleep 0.25
done
[ "$got" = 200 ] || fail "the http source refused the CA2 client after the change: $got $(cat "$TMP/answer")"
[ "$(post client1 "$TMP/a.ndjson")" = 403 ] || fail "the http source still takes the CA1 client"
grep -q '"msg":"tls client_ca reloaded"' "$TMP/run.log" || fail "no log line of the reload"
kill -0 $PID || fail "sluice is gone"
ok "client_ca replaced by CA2, no restart (PID $PID): CA2 client served, CA1 client refused, on both listeners"

# a file that does not load: logged, CA2 stays
printf 'not a certificate\n' >"$C/clients.pem.new" && mv "$C/clients.pem.new" "$C/clients.pem"
sleep 1.2
[ "$(get client2)" = 200 ] || fail "a bad client_ca file dropped the CAs in force"
[ "$(get client1)" = 403 ] || fail "a bad client_ca file let the CA1 client in"
grep -q '"msg":"tls client_ca not reloaded' "$TMP/run.log" || fail "the bad file is not logged"
ok "a client_ca file without a certificate: logged, the CAs in force stay"

kill -TERM $PID
wait $PID || fail "exit status after SIGTERM"
want=$(python3 -c 'print(50 + 30)')
got=$(sqlite3 "$TMP/d/sluice.db" "SELECT count(*) FROM events")
[ "$got" = "$want" ] || fail "stored rows: $got, want $want (a refused POST stored something?)"
ok "rows stored only from the accepted POSTs ($got)"
