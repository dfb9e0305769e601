#!/usr/bin/env bash
# test_token_rotation.sh - tokens rotated without a restart, the ingest
# scope, and the audit of what is not an HTTP request to the server.
#
# One `sluice run` (never restarted: its PID is checked at the end) with an
# http source `auth: server` and server tokens: rot (read, its secret in a
# file), ing (ingest), the admin. Checked with curl:
#   - rot queries (200) but may not ingest (403); ing ingests (200) but may
#     not query (403); no token: 401 on both listeners;
#   - the file of rot is rewritten and SIGHUP sent: the old secret gets 401,
#     the new one 200, on the same process;
#   - a reload whose token file is missing is refused (with the reason) and
#     the tokens in force stay;
#   - `sluice alert test` (another process) leaves an audit line and, through
#     the spool beside the data directory, a _sluice_audit row;
#   - _sluice_audit and the JSON "audit" lines hold the reloads (accepted and
#     refused, with the file and reason), the refused ingest and, per token
#     and address, the records each commit accepted and refused; the counts
#     are recomputed with python3 from what was sent; no secret is in the
#     log or the database.
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/../http/lib_http.sh"
need curl
need python3
need sqlite3
need timeout coreutils

N=300
[ "$SANITIZED" = 1 ] && N=60
ADMIN=adm-$RANDOM-A1 ROT1=rot-one-$RANDOM-R1 ROT2=rot-two-$RANDOM-R2 ING=ing-$RANDOM-I3
printf '%s\n' "$ROT1" >"$TMP/rot.txt"
IPORT=$(free_port)
DEAD=$(free_port) # nothing listens there: the alert test's webhook fails
cat >"$TMP/p.yaml" <<YAML
pipeline: rot
commit_interval: 200ms
sources:
  ev: {type: http, listen: "127.0.0.1:$IPORT", auth: server, format: json, schema: {id: int, v: int}}
tables:
  t: {from: ev}
server:
  listen: 127.0.0.1:0
  token: \${T_ADMIN}
  tokens:
    - {id: rot, file: rot.txt, scopes: [read]}
    - {id: ing, token: "\${T_ING}", scopes: [ingest]}
alerts:
  channels:
    hook: {type: webhook, url: "http://127.0.0.1:$DEAD/hook"}
YAML
# two batches: ids 0..N-1, every 10th a string (quarantined by the parser)
python3 - "$TMP" "$N" <<'PY'
import json, sys
d, n = sys.argv[1], int(sys.argv[2])
for part, ids in (("a", range(0, n // 2)), ("b", range(n // 2, n))):
    with open(f"{d}/{part}.ndjson", "w") as f:
        for i in ids:
            f.write(json.dumps({"id": i, "v": "bad" if i % 10 == 0 else i}) + "\n")
PY
WANT_OK=$(python3 -c "n=$N; print(sum(1 for i in range(n) if i % 10))")
WANT_BAD=$(python3 -c "n=$N; print(sum(1 for i in range(n) if i % 10 == 0))")

SLUICE_LOG=info T_ADMIN=$ADMIN T_ING=$ING "$SLUICE" run "$TMP/p.yaml" --data "$TMP/d" --status 0 \
  >"$TMP/run.out" 2>"$TMP/err" &
PID=$!
trap 'kill -9 $PID 2>/dev/null || true; cleanup' EXIT
PORT=
for _ in $(seq 100); do
  PORT=$(sed -n 's/.*"url":"http:\/\/127.0.0.1:\([0-9]*\)\/".*/\1/p' "$TMP/err" | head -1)
  [ -n "$PORT" ] && break
  sleep 0.1
done
[ -n "$PORT" ] || { cat "$TMP/err" >&2; fail "the server did not start"; }
wait_listening "$IPORT" "$PID" || fail "the http source did not listen"
URL=http://127.0.0.1:$PORT
IURL=http://127.0.0.1:$IPORT/ingest

q() { # token: the status of a query of t
  curl -s -o "$TMP/body" -w '%{http_code}' ${1:+-H "Authorization: Bearer $1"} --max-time 10 \
    --get --data-urlencode "sql=SELECT count(*) FROM t" "$URL/api/query"
}
ingest() { # token file: the status
  curl -s -o "$TMP/answer" -w '%{http_code}' ${1:+-H "Authorization: Bearer $1"} --max-time 30 \
    -H 'Content-Type: application/x-ndjson' --data-binary @"$2" "$IURL"
}
wait_log() { # PATTERN COUNT
  for _ in $(seq 150); do [ "$(grep -c "$1" "$TMP/err" || true)" -ge "$2" ] && return 0; sleep 0.1; done
  cat "$TMP/err" >&2
  fail "no log line '$1' (#$2)"
}

# 1. scopes on both listeners
[ "$(q "")" = 401 ] || fail "query without a token: not 401"
[ "$(ingest "" "$TMP/a.ndjson")" = 401 ] || fail "ingest without a token: not 401"
[ "$(ingest "wrong-$ING" "$TMP/a.ndjson")" = 401 ] || fail "ingest with a wrong token: not 401"
[ "$(ingest "$ROT1" "$TMP/a.ndjson")" = 403 ] || fail "a read token ingested: $(cat "$TMP/answer")"
[ "$(ingest "$ING" "$TMP/a.ndjson")" = 200 ] || fail "ingest token refused: $(cat "$TMP/answer")"
[ "$(q "$ING")" = 403 ] || fail "an ingest token queried: $(cat "$TMP/body")"
[ "$(q "$ROT1")" = 200 ] || fail "read token refused: $(cat "$TMP/body")"
[ "$(ingest "$ADMIN" "$TMP/b.ndjson")" = 200 ] || fail "admin token refused by ingest: $(cat "$TMP/answer")"
[ "$(q "$ROT1")" = 200 ] && grep -q "\"rows\":\[\[$WANT_OK\]\]" "$TMP/body" ||
  fail "rows stored: want $WANT_OK, got $(cat "$TMP/body")"
ok "read token: query 200, ingest 403; ingest token: ingest 200, query 403; no token 401"

# 2. rotation: the file rewritten, SIGHUP, same process
printf '%s\n' "$ROT2" >"$TMP/rot.txt"
kill -HUP $PID
wait_log '"msg":"reload applied"' 1
[ "$(q "$ROT1")" = 401 ] || fail "the old secret still works after the reload"
[ "$(q "$ROT2")" = 200 ] || fail "the new secret does not work: $(cat "$TMP/body")"
[ "$(ingest "$ING" "$TMP/a.ndjson")" = 200 ] || fail "ingest after the reload: $(cat "$TMP/answer")"
[ "$(ingest "$ROT2" "$TMP/a.ndjson")" = 403 ] || fail "the rotated read token ingested"
kill -0 $PID || fail "the process died"
ok "token file rewritten + SIGHUP: old secret 401, new one 200, same PID $PID"

# 3. a reload whose token file is gone is refused; the tokens stay
mv "$TMP/rot.txt" "$TMP/rot.moved"
kill -HUP $PID
wait_log '"msg":"reload refused' 1
grep '"msg":"reload refused' "$TMP/err" | grep -q "rot.txt" || fail "the refusal does not name the file"
[ "$(q "$ROT2")" = 200 ] || fail "a refused reload dropped the tokens"
mv "$TMP/rot.moved" "$TMP/rot.txt"
ok "a reload with a missing token file is refused, the tokens in force stay"

# 4. `sluice alert test` (another process): audited through the spool
SLUICE_LOG=info T_ADMIN=$ADMIN T_ING=$ING timeout 60 "$SLUICE" alert test hook "$TMP/p.yaml" --data "$TMP/d" >"$TMP/alert.out" 2>"$TMP/alert.err" &&
  fail "the alert test to a dead port succeeded"
grep -q "hook (webhook" "$TMP/alert.out" || fail "alert test output: $(cat "$TMP/alert.out")"
grep '"msg":"audit"' "$TMP/alert.err" | grep -q '"method":"ALERT-TEST","route":"channel hook"' ||
  fail "no alert test audit log line: $(cat "$TMP/alert.err")"
for _ in $(seq 50); do
  [ "$(sqlite3 "$TMP/d/sluice.db" "SELECT count(*) FROM _sluice_audit WHERE method = 'ALERT-TEST'" 2>/dev/null)" = 1 ] && break
  sleep 0.1
done
[ "$(sqlite3 -separator ' ' "$TMP/d/sluice.db" "SELECT route, status, addr, detail LIKE 'rule sluice-test: failed (at %' FROM _sluice_audit WHERE method = 'ALERT-TEST'")" = "channel hook 502 uid $(id -u) 1" ] ||
  fail "alert test audit row: $(sqlite3 "$TMP/d/sluice.db" "SELECT * FROM _sluice_audit WHERE method = 'ALERT-TEST'")"
[ -z "$(ls "$TMP/d.audit")" ] || fail "the spool was not emptied"
ok "sluice alert test: audit line, and a _sluice_audit row written by the running process"

# 5. audit: rows and log lines
for _ in $(seq 100); do
  [ "$(sqlite3 "$TMP/d/sluice.db" "SELECT count(*) FROM _sluice_audit WHERE method = 'RELOAD'" 2>/dev/null)" = 2 ] && break
  sleep 0.1
done
sql() { sqlite3 -separator ' ' "$TMP/d/sluice.db" "$1"; }
[ "$(sql "SELECT status, route = '$TMP/p.yaml' FROM _sluice_audit WHERE method = 'RELOAD' ORDER BY rowid")" = "200 1
400 1" ] || fail "reload audit rows: $(sql "SELECT * FROM _sluice_audit WHERE method = 'RELOAD'")"
sql "SELECT detail FROM _sluice_audit WHERE method = 'RELOAD' AND status = 400" | grep -q "rot.txt" ||
  fail "the refused reload's row has no reason"
[ "$(sql "SELECT token, status, route FROM _sluice_audit WHERE method = 'POST'")" = "rot 403 ev
rot 403 ev" ] || fail "refused ingest rows: $(sql "SELECT * FROM _sluice_audit WHERE method = 'POST'")"
# the records per token: sum of what each commit's rows say, against what was sent
got=$(python3 - "$TMP/d/sluice.db" <<'PY'
import re, sqlite3, sys
db = sqlite3.connect(sys.argv[1])
tot = {}
for tok, addr, route, st, det in db.execute(
        "SELECT token, addr, route, status, detail FROM _sluice_audit WHERE method = 'INGEST'"):
    m = re.fullmatch(r"records accepted (\d+), refused (\d+)", det)
    assert m and addr == "127.0.0.1" and route == "ev" and st == 200, (tok, addr, det)
    a, r = tot.get(tok, (0, 0))
    tot[tok] = (a + int(m[1]), r + int(m[2]))
print(" ".join(f"{k}:{a}/{r}" for k, (a, r) in sorted(tot.items())))
PY
)
python3 - "$TMP" "$N" "$got" <<'PY' || fail "ingest audit counts: $got"
import sys
d, n, got = sys.argv[1], int(sys.argv[2]), sys.argv[3]
def count(part):
    ids = range(0, n // 2) if part == "a" else range(n // 2, n)
    return sum(1 for i in ids if i % 10), sum(1 for i in ids if i % 10 == 0)
a, b = count("a"), count("b")
want = f"admin:{b[0]}/{b[1]} ing:{2 * a[0]}/{2 * a[1]}"   # ing sent a twice, admin b once
sys.exit(0 if got == want else 1)
PY
grep '"msg":"audit"' "$TMP/err" | grep -q '"method":"INGEST"' || fail "no ingest audit log line"
grep '"msg":"audit"' "$TMP/err" | grep -q '"method":"RELOAD"' || fail "no reload audit log line"
ok "audit: reloads (file, reason), refused ingest, records per token per commit ($got)"

for secret in "$ADMIN" "$ROT1" "$ROT2" "$ING"; do
  grep -qF "$secret" "$TMP/err" "$TMP/run.out" && fail "a token is in the log"
  [ "$(sqlite3 "$TMP/d/sluice.db" "SELECT count(*) FROM _sluice_audit WHERE instr(token || addr || route || detail, '$secret')")" = 0 ] ||
    fail "a token is in the database"
done
ok "no token value in the log or the database"
kill -TERM $PID
wait $PID || fail "exit status after SIGTERM"
ok "one process throughout ($WANT_BAD of each $N sent quarantined)"
