#!/usr/bin/env bash
# TLS on the HTTP listeners (server: and the http source share src/httpd/):
# certificates made here with openssl (a CA, a server certificate for 127.0.0.1
# with an IP subjectAltName, a client certificate, and another CA with its own
# client). Checked with real clients:
#   - curl --cacert gets /healthz and an /api/query with the token over https;
#     plain http to the TLS port gets no answer;
#   - the http source over TLS takes a POST and its rows are stored (compared
#     with the posted file through sqlite3);
#   - client_ca set: no client certificate -> 403, a certificate from the
#     other CA -> refused, the CA's client -> 200;
#   - renewal: the cert and key files are replaced by a new pair (another
#     serial) and `openssl s_client` sees the new serial without a restart;
#   - a bad certificate, a key of another certificate, a CA file without a
#     certificate: `sluice validate` refuses each with file:line:col.
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/../http/lib_http.sh"
need openssl
need curl
need python3
need sqlite3
need timeout

C=$TMP/pki
mkdir -p "$C"
# mkca NAME: a self-signed CA
mkca() {
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 \
    -subj "/CN=sluice test $1" -keyout "$C/$1.key" -out "$C/$1.pem" 2>/dev/null
}
# mkcert NAME CA SERIAL EXT: a certificate signed by CA
mkcert() {
  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=$1" \
    -keyout "$C/$1.key" -out "$C/$1.csr" 2>/dev/null
  printf '%s\n' "$4" > "$C/$1.ext"
  openssl x509 -req -in "$C/$1.csr" -CA "$C/$2.pem" -CAkey "$C/$2.key" -set_serial "$3" \
    -days 30 -extfile "$C/$1.ext" -out "$C/$1.pem" 2>/dev/null
}
mkca ca
mkca other
srvext='subjectAltName=IP:127.0.0.1
extendedKeyUsage=serverAuth'
cliext='extendedKeyUsage=clientAuth'
mkcert server ca 4101 "$srvext"
mkcert server2 ca 4202 "$srvext"
mkcert client ca 4303 "$cliext"
mkcert intruder other 4404 "$cliext"
# the files the pipeline names (replaced in place later)
cp "$C/server.pem" "$C/live.pem"
cp "$C/server.key" "$C/live.key"

sport=$(free_port)
iport=$(free_port)
tok="t-$RANDOM$RANDOM"
# pipeline CLIENT_CA: with client_ca "" no client certificates are asked for
pipeline() {
  local ca=""
  [ -n "$1" ] && ca=", client_ca: pki/$1.pem"
  cat <<EOF
pipeline: tlsdemo
commit_interval: 200ms
server:
  listen: 127.0.0.1:$sport
  token: $tok
  tls: {cert: pki/live.pem, key: pki/live.key$ca}
sources:
  ev:
    type: http
    listen: 127.0.0.1:$iport
    format: json
    schema: {id: int, name: string}
    tls: {cert: pki/live.pem, key: pki/live.key$ca}
tables:
  events:
    from: ev
EOF
}
pid=""
trap '[ -n "$pid" ] && kill $pid 2>/dev/null; cleanup' EXIT
# start FILE: runs sluice on the pipeline file until https /healthz answers
start() {
  "$SLUICE" run "$1" --data "$TMP/data" --status 0 2>>"$TMP/run.log" &
  pid=$!
  for _ in $(seq 150); do
    kill -0 "$pid" 2>/dev/null || fail "sluice exited: $(tail -5 "$TMP/run.log")"
    code=$(curl -s -m 2 -o /dev/null -w '%{http_code}' --cacert "$C/ca.pem" ${2:+--cert "$C/$2.pem" --key "$C/$2.key"} "https://127.0.0.1:$sport/healthz" || true)
    [ "$code" != 000 ] && return 0
    sleep 0.1
  done
  fail "sluice did not answer over https: $(tail -5 "$TMP/run.log")"
}
stop() {
  kill "$pid"
  timeout 20 tail --pid="$pid" -f /dev/null || fail "sluice did not stop"
  wait "$pid" 2>/dev/null || true
  pid=""
}
S="https://127.0.0.1:$sport"
I="https://127.0.0.1:$iport/ingest"
CA=(--cacert "$C/ca.pem")

# 1. server TLS, no client certificates
pipeline "" > "$TMP/p1.yaml"
"$SLUICE" validate "$TMP/p1.yaml" >/dev/null 2>"$TMP/v.err" || fail "validate: $(cat "$TMP/v.err")"
start "$TMP/p1.yaml"
[ "$(curl -s -m 5 "${CA[@]}" "$S/healthz" -o /dev/null -w '%{http_code}')" = 200 ] || fail "/healthz over https"
code=$(curl -s -m 5 "${CA[@]}" -o "$TMP/q.json" -w '%{http_code}' -H "Authorization: Bearer $tok" \
  --get --data-urlencode "sql=SELECT 6*7 AS x" "$S/api/query")
[ "$code" = 200 ] && has '"rows":\[\[42\]\]' "$TMP/q.json" || fail "/api/query over https: $code $(cat "$TMP/q.json")"
code=$(curl -s -m 5 "${CA[@]}" -o /dev/null -w '%{http_code}' --get --data-urlencode "sql=SELECT 1" "$S/api/query")
[ "$code" = 401 ] || fail "/api/query without the token over https: $code"
if curl -s -m 5 -o /dev/null "http://127.0.0.1:$sport/healthz"; then fail "plain http to the TLS port answered"; fi
if curl -s -m 5 -o /dev/null "https://127.0.0.1:$sport/healthz"; then fail "https without --cacert trusted"; fi
ok "server over https: /healthz, /api/query with the token (401 without); plain http gets no answer"

# 2. the http source over TLS: the rows are stored
python3 -c 'import json
for i in range(1, 501): print(json.dumps({"id": i, "name": "n%d" % (i % 7)}))' > "$TMP/rows.ndjson"
code=$(curl -s -m 30 "${CA[@]}" -o "$TMP/answer" -w '%{http_code}' -H 'Content-Type: application/x-ndjson' \
  --data-binary @"$TMP/rows.ndjson" "$I")
[ "$code" = 200 ] || fail "POST over https: $code $(cat "$TMP/answer")"
if curl -s -m 5 -o /dev/null -H 'Content-Type: application/x-ndjson' --data-binary @"$TMP/rows.ndjson" \
  "http://127.0.0.1:$iport/ingest"; then fail "plain http to the ingest TLS port answered"; fi
stop
want=$(python3 -c 'import json,sys
rows=[json.loads(l) for l in open(sys.argv[1])]
print(len(rows), sum(r["id"] for r in rows), len({r["name"] for r in rows}))' "$TMP/rows.ndjson")
got=$(sqlite3 -separator ' ' "$TMP/data/sluice.db" "SELECT count(*), sum(id), count(DISTINCT name) FROM events")
[ "$got" = "$want" ] || fail "stored rows: $got, posted: $want"
ok "http source over https: 500 rows POSTed and stored ($got)"

# 3. client_ca: a client certificate signed by the CA is required
pipeline ca > "$TMP/p2.yaml"
start "$TMP/p2.yaml" client
code=$(curl -s -m 5 "${CA[@]}" -o /dev/null -w '%{http_code}' "$S/healthz" || true)
[ "$code" = 403 ] || fail "no client certificate: $code"
code=$(curl -s -m 5 "${CA[@]}" --cert "$C/intruder.pem" --key "$C/intruder.key" -o /dev/null -w '%{http_code}' "$S/healthz" || true)
[ "$code" = 403 ] || fail "a certificate of another CA: $code"
code=$(curl -s -m 5 "${CA[@]}" --cert "$C/client.pem" --key "$C/client.key" -o /dev/null -w '%{http_code}' "$S/healthz")
[ "$code" = 200 ] || fail "the CA's client: $code"
code=$(curl -s -m 30 "${CA[@]}" -o /dev/null -w '%{http_code}' -H 'Content-Type: application/x-ndjson' \
  --data-binary @"$TMP/rows.ndjson" "$I" || true)
[ "$code" = 403 ] || fail "POST without a client certificate: $code"
code=$(curl -s -m 30 "${CA[@]}" --cert "$C/client.pem" --key "$C/client.key" -o "$TMP/answer" -w '%{http_code}' \
  -H 'Content-Type: application/x-ndjson' --data-binary @"$TMP/rows.ndjson" "$I")
[ "$code" = 200 ] || fail "POST with the client certificate: $code $(cat "$TMP/answer")"
ok "client_ca: refused without a certificate and with another CA's, accepted with the CA's client"

# 4. renewal without a restart: new files, new serial on the next handshake
serial() {
  timeout 10 openssl s_client -connect "127.0.0.1:$1" -CAfile "$C/ca.pem" \
    -cert "$C/client.pem" -key "$C/client.key" </dev/null 2>/dev/null |
    openssl x509 -noout -serial 2>/dev/null | sed 's/^serial=//'
}
want1=$(openssl x509 -noout -serial -in "$C/server.pem" | sed 's/^serial=//')
want2=$(openssl x509 -noout -serial -in "$C/server2.pem" | sed 's/^serial=//')
[ "$(serial "$sport")" = "$want1" ] || fail "s_client before the renewal: $(serial "$sport"), want $want1"
# written beside and renamed, as certificate tools do
cp "$C/server2.key" "$C/live.key.new" && mv "$C/live.key.new" "$C/live.key"
cp "$C/server2.pem" "$C/live.pem.new" && mv "$C/live.pem.new" "$C/live.pem"
got=""
for _ in $(seq 40); do
  got=$(serial "$sport")
  [ "$got" = "$want2" ] && break
  sleep 0.25
done
[ "$got" = "$want2" ] || fail "server after the renewal shows serial $got, want $want2"
[ "$(serial "$iport")" = "$want2" ] || fail "http source after the renewal: $(serial "$iport")"
kill -0 "$pid" || fail "sluice is gone"
code=$(curl -s -m 5 "${CA[@]}" --cert "$C/client.pem" --key "$C/client.key" -o /dev/null -w '%{http_code}' "$S/healthz")
[ "$code" = 200 ] || fail "/healthz after the renewal: $code"
# a broken replacement is not taken: the last good pair stays
cp "$C/server.pem" "$C/live.pem.new" && mv "$C/live.pem.new" "$C/live.pem" # key is server2's
sleep 1.5
[ "$(serial "$sport")" = "$want2" ] || fail "a mismatched pair was taken"
has 'tls certificate not reloaded' "$TMP/run.log" || fail "the refused renewal was not logged"
stop
ok "renewed certificate served without a restart (serial $want1 -> $want2); a mismatched pair kept out"

# 5. bad files are load errors with file:line:col
cp "$C/server.pem" "$C/live.pem"
cp "$C/server.key" "$C/live.key"
echo "not a certificate" > "$C/bad.pem"
check_bad() { # FILE PATTERN WHAT
  if "$SLUICE" validate "$1" >/dev/null 2>"$TMP/v.err"; then fail "validate took $3"; fi
  has -E "$2" "$TMP/v.err" || fail "$3: $(cat "$TMP/v.err")"
}
# the server's tls (line 6) alone, then the source's
pipeline "" | sed '6s#cert: pki/live.pem#cert: pki/bad.pem#' > "$TMP/b1.yaml"
check_bad "$TMP/b1.yaml" 'b1\.yaml:6:[0-9]+: server tls: cert .*bad\.pem' "a bad server certificate"
pipeline "" | sed '13s#cert: pki/live.pem#cert: pki/bad.pem#' > "$TMP/b5.yaml"
check_bad "$TMP/b5.yaml" "b5\.yaml:13:[0-9]+: source 'ev' tls: cert .*bad\.pem" "a bad source certificate"
pipeline "" | sed 's#key: pki/live.key#key: pki/client.key#' > "$TMP/b2.yaml"
check_bad "$TMP/b2.yaml" 'b2\.yaml:[0-9]+:[0-9]+: .*not the private key' "another certificate's key"
pipeline bad > "$TMP/b3.yaml"
check_bad "$TMP/b3.yaml" 'b3\.yaml:[0-9]+:[0-9]+: .*client_ca .*bad\.pem' "a CA file without a certificate"
pipeline "" | sed 's#pki/live.key#pki/missing.key#' > "$TMP/b4.yaml"
check_bad "$TMP/b4.yaml" 'b4\.yaml:[0-9]+:[0-9]+: .*missing\.key.*No such file' "a missing key"
ok "bad certificate, mismatched key, empty CA, missing key: refused by validate with file:line:col"
