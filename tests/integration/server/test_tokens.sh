#!/usr/bin/env bash
# test_tokens.sh - scoped server tokens and the audit log, over real HTTP
# with curl against `sluice run`: a viewer (read, tables gold_*) queries a
# gold table and is refused (403) the quarantine, a silver table and
# /metrics; a metrics token gets /metrics only; the admin token (server.token)
# gets everything; a token given as its SHA-256 and one read from a file
# work; a wrong token gets 401. Every authenticated request leaves a JSON
# "audit" log line and a _sluice_audit row naming the token id and the SQL,
# and no token value appears in the log or in the database. Expected counts
# are recomputed with python3 over the generated input.
source "$(dirname "$0")/../lib.sh"
need curl
need python3
need sqlite3
need sha256sum coreutils
need timeout coreutils

ROWS=400
[ "$SANITIZED" = 1 ] && ROWS=100
ADMIN=adm-$RANDOM-secret-A1 VIEW=view-$RANDOM-secret-V2 MET=met-$RANDOM-secret-M3
HASHED=hash-$RANDOM-secret-H4 FILETOK=file-$RANDOM-secret-F5
HASH=$(printf '%s' "$HASHED" | sha256sum | cut -d' ' -f1)
printf '%s\n' "$FILETOK" >"$TMP/tok.txt"
mkdir -p "$TMP/in"
cat >"$TMP/p.yaml" <<YAML
pipeline: tok
commit_interval: 200ms
sources:
  s: {type: dir, path: $TMP/in, pattern: "*.ndjson", format: json, schema: {id: int, speed: double, name: string}}
tables:
  silver_t: {layer: silver, from: s}
  gold_t: {layer: gold, from: silver_t}
server:
  listen: 127.0.0.1:0
  token: \${T_ADMIN}
  audit_retention: 1h
  tokens:
    - {id: viewer, token: "\${T_VIEW}", scopes: [read], tables: [gold_*]}
    - {id: scraper, token: "\${T_MET}", scopes: [metrics]}
    - {id: hashed, sha256: $HASH, scopes: [read]}
    - {id: filed, file: tok.txt, scopes: [read, metrics]}
YAML
python3 - "$TMP/in" "$ROWS" <<'PY'
import json, sys
d, n = sys.argv[1], int(sys.argv[2])
with open(f"{d}/.a.tmp", "w") as out:
    for i in range(n):
        out.write(json.dumps({"id": i, "speed": i % 7, "name": f"n{i}"}) + "\n")
    out.write('{"id": broken\n')
import os; os.rename(f"{d}/.a.tmp", f"{d}/a.ndjson")
PY
WANT=$(python3 -c "print(sum(1 for i in range($ROWS) if i % 7 > 3))")

SLUICE_LOG=info T_ADMIN=$ADMIN T_VIEW=$VIEW T_MET=$MET timeout 120 "$SLUICE" run "$TMP/p.yaml" --data "$TMP/d" \
  >"$TMP/run.out" 2>"$TMP/run.err" &
RUN=$!
stop_all() { kill "$RUN" 2>/dev/null || true; wait "$RUN" 2>/dev/null || true; cleanup; }
trap stop_all EXIT
URL=
for _ in $(seq 100); do
  URL=$(sed -n 's|.*dashboard at \(http://[^/]*\)/.*|\1|p' "$TMP/run.err" | head -1)
  [ -n "$URL" ] && break
  sleep 0.1
done
[ -n "$URL" ] || { cat "$TMP/run.err" >&2; fail "pipeline did not start its server"; }
for _ in $(seq 200); do
  [ "$(sqlite3 "$TMP/d/sluice.db" "SELECT count(*) FROM gold_t" 2>/dev/null)" = "$ROWS" ] &&
    [ "$(sqlite3 "$TMP/d/sluice.db" "SELECT count(*) FROM quarantine" 2>/dev/null)" = 1 ] && break
  sleep 0.1
done

code() { # token path [curl args...]: the HTTP status
  local t=$1 p=$2; shift 2
  curl -s -o "$TMP/body" -w '%{http_code}' ${t:+-H "Authorization: Bearer $t"} --max-time 10 "$@" "$URL$p"
}
q() { code "$1" /api/query --get --data-urlencode "sql=$2"; }
Q_GOLD="SELECT count(*) FROM gold_t WHERE speed > 3"

h=$(code "" /healthz) r=$(code "" /readyz)
[ "$h $r" = "200 200" ] || fail "health checks need no token: $h $r"
[ "$(code "" /api/tables)" = 401 ] || fail "no token: not 401"
[ "$(code "wrong-$VIEW" /metrics)" = 401 ] || fail "wrong token: not 401"
[ "$(q "wrong" "$Q_GOLD")" = 401 ] || fail "wrong token on /api/query: not 401"
ok "open health checks, 401 without or with a wrong token"

[ "$(q "$VIEW" "$Q_GOLD")" = 200 ] && grep -q "\"rows\":\[\[$WANT\]\]" "$TMP/body" ||
  fail "viewer on gold: $(cat "$TMP/body")"
[ "$(q "$VIEW" "SELECT * FROM quarantine")" = 403 ] || fail "viewer read the quarantine: $(cat "$TMP/body")"
[ "$(q "$VIEW" "SELECT count(*) FROM silver_t")" = 403 ] || fail "viewer read silver_t"
[ "$(q "$VIEW" "SELECT count(*) FROM gold_t g JOIN silver_t s USING (id)")" = 403 ] ||
  fail "viewer read silver_t through a join"
# tables SQLite's authorizer is not told about (USING/NATURAL joins): the
# b-trees the statement opens are checked instead
[ "$(q "$VIEW" "SELECT count(*) FROM gold_t NATURAL JOIN silver_t")" = 403 ] || fail "viewer read silver_t through NATURAL JOIN"
[ "$(q "$VIEW" "SELECT count(*) FROM gold_t NATURAL JOIN quarantine")" = 403 ] ||
  fail "viewer read the quarantine through NATURAL JOIN: $(cat "$TMP/body")"
[ "$(code "$VIEW" /api/tables/gold_t/stream --max-time 2 --get --data-urlencode from=start \
  --data-urlencode "where=EXISTS (SELECT 1 FROM gold_t NATURAL JOIN silver_t)")" = 403 ] || fail "viewer read silver_t in a stream's where"
[ "$(code "$VIEW" /metrics)" = 403 ] || fail "viewer got /metrics"
[ "$(code "$VIEW" /api/tables/quarantine/stream)" = 403 ] || fail "viewer streamed the quarantine"
[ "$(code "$VIEW" /api/tables)" = 200 ] && grep -q '"name":"gold_t"' "$TMP/body" || fail "viewer /api/tables"
grep -q -e '"name":"quarantine"' -e '"name":"silver_t"' "$TMP/body" && fail "viewer's /api/tables lists tables it may not read"
[ "$(code "$ADMIN" /api/tables)" = 200 ] && grep -q '"name":"quarantine"' "$TMP/body" || fail "admin /api/tables"
ok "viewer: gold tables only, no quarantine, no /metrics"

[ "$(code "$MET" /metrics)" = 200 ] && grep -q sluice_http_requests_total "$TMP/body" || fail "metrics token"
[ "$(q "$MET" "$Q_GOLD")" = 403 ] || fail "metrics token queried"
[ "$(code "$MET" /api/dashboard)" = 403 ] || fail "metrics token read the dashboard"
ok "metrics token: /metrics only"

[ "$(q "$ADMIN" "SELECT count(*) FROM quarantine")" = 200 ] && grep -q '"rows":\[\[1\]\]' "$TMP/body" ||
  fail "admin on quarantine: $(cat "$TMP/body")"
[ "$(q "$ADMIN" "SELECT count(*) FROM silver_t")" = 200 ] && grep -q "\"rows\":\[\[$ROWS\]\]" "$TMP/body" ||
  fail "admin on silver_t"
[ "$(code "$ADMIN" /metrics)" = 200 ] || fail "admin /metrics"
ok "admin: everything"

[ "$(q "$HASHED" "$Q_GOLD")" = 200 ] && grep -q "\"rows\":\[\[$WANT\]\]" "$TMP/body" || fail "sha256 token"
[ "$(q "$HASH" "$Q_GOLD")" = 401 ] || fail "the hash itself was accepted as the token"
[ "$(q "$HASHED" "SELECT count(*) FROM quarantine")" = 403 ] || fail "read token without tables read the quarantine"
[ "$(q "$FILETOK" "SELECT count(*) FROM silver_t")" = 200 ] || fail "file token: $(cat "$TMP/body")"
[ "$(code "$FILETOK" /metrics)" = 200 ] || fail "file token /metrics"
ok "sha256 and file tokens"

# a page opened with ?token= sets the cookie, which then authorizes with the same scopes
[ "$(code "" "/?token=$VIEW" -c "$TMP/jar")" = 303 ] || fail "login redirect"
[ "$(code "" /metrics -b "$TMP/jar")" = 403 ] || fail "viewer cookie got /metrics"
[ "$(code "" /api/dashboard -b "$TMP/jar")" = 200 ] || fail "viewer cookie"
ok "cookie keeps the token's scopes"

# audit: the idle pipeline drains the requests into _sluice_audit at its next tick
MARK="SELECT 'audit-mark' FROM gold_t LIMIT 1"
[ "$(q "$VIEW" "$MARK")" = 200 ] || fail "mark query"
for _ in $(seq 100); do
  [ "$(sqlite3 "$TMP/d/sluice.db" "SELECT count(*) FROM _sluice_audit WHERE detail = \"$MARK\"" 2>/dev/null)" = 1 ] && break
  sleep 0.1
done
A() { sqlite3 "$TMP/d/sluice.db" "$1"; }
[ "$(A "SELECT count(*) FROM _sluice_audit WHERE token = 'viewer' AND route = '/api/query' AND status = 200 AND detail = '$Q_GOLD' AND addr = '127.0.0.1'")" = 1 ] ||
  fail "audit row of the viewer's query: $(A "SELECT * FROM _sluice_audit")"
[ "$(A "SELECT count(*) FROM _sluice_audit WHERE token = 'viewer' AND status = 403 AND detail = 'SELECT * FROM quarantine'")" = 1 ] ||
  fail "audit row of the refused query"
[ "$(A "SELECT count(*) FROM _sluice_audit WHERE token = 'scraper' AND route = '/metrics' AND status = 200")" = 1 ] ||
  fail "audit row of /metrics"
[ "$(A "SELECT count(*) FROM _sluice_audit WHERE token IN ('admin', 'hashed', 'filed')")" -ge 7 ] || fail "audit rows of admin/hashed/filed"
[ "$(A "SELECT count(*) FROM _sluice_audit WHERE route IN ('/healthz', '/readyz', '/static')")" = 0 ] || fail "health checks audited"
[ "$(A "SELECT count(*) FROM _sluice_audit WHERE token NOT IN ('viewer','scraper','admin','hashed','filed')")" = 0 ] ||
  fail "an audit row without a token id"
python3 - "$TMP/run.err" "$Q_GOLD" <<'PY' || fail "audit log line"
import json, sys
want = sys.argv[2]
lines = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
a = [l for l in lines if l.get("msg") == "audit"]
assert any(l["token"] == "viewer" and l["sql"] == want and l["status"] == 200 and l["route"] == "/api/query"
           and l["addr"] == "127.0.0.1" and l["method"] == "GET" for l in a), a[:5]
assert any(l["token"] == "scraper" and l["route"] == "/metrics" for l in a)
assert any(l["token"] == "viewer" and l["status"] == 403 for l in a)
PY
kill "$RUN"; wait "$RUN" 2>/dev/null || true

# audit_retention: a row older than 1h goes at the next drain, the others stay
N=$(A "SELECT count(*) FROM _sluice_audit")
A "INSERT INTO _sluice_audit VALUES('2000-01-01T00:00:00.000Z', 'old', '127.0.0.1', 'GET', '/metrics', 200, '')"
SLUICE_LOG=info T_ADMIN=$ADMIN T_VIEW=$VIEW T_MET=$MET timeout 60 "$SLUICE" run "$TMP/p.yaml" --data "$TMP/d" \
  >>"$TMP/run.out" 2>"$TMP/run2.err" &
RUN=$!
URL=
for _ in $(seq 100); do
  URL=$(sed -n 's|.*dashboard at \(http://[^/]*\)/.*|\1|p' "$TMP/run2.err" | head -1)
  [ -n "$URL" ] && break
  sleep 0.1
done
[ -n "$URL" ] || fail "second run did not start its server"
[ "$(code "$MET" /metrics)" = 200 ] || fail "metrics after restart"
for _ in $(seq 100); do
  [ "$(A "SELECT count(*) FROM _sluice_audit WHERE token = 'old'")" = 0 ] && break
  sleep 0.1
done
[ "$(A "SELECT count(*) FROM _sluice_audit WHERE token = 'old'")" = 0 ] || fail "old audit row not expired"
[ "$(A "SELECT count(*) FROM _sluice_audit")" = $((N + 1)) ] || fail "audit retention deleted recent rows"
kill "$RUN"; wait "$RUN" 2>/dev/null || true
cat "$TMP/run2.err" >>"$TMP/run.err"
ok "audit_retention expires old rows only"

for t in "$ADMIN" "$VIEW" "$MET" "$HASHED" "$FILETOK"; do
  ! grep -rqaF -- "$t" "$TMP/run.err" "$TMP/run.out" || fail "a token value is in the log"
  ! grep -rqaF -- "$t" "$TMP/d" || fail "a token value is in the data directory"
  sqlite3 "$TMP/d/sluice.db" .dump | grep -qF -- "$t" && fail "a token value is in the database"
done
ok "audit lines and _sluice_audit rows name the token ids and the SQL; no token value in log or database"
