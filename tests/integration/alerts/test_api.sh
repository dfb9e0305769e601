#!/usr/bin/env bash
# /api/alerts of a running pipeline (rules.yaml over generated readings),
# with curl: the token is required like on every /api endpoint; `firing`
# equals alert_history's firing rows, `recent` its newest rows (state and
# limit filters) with each row's deliveries equal to the alert_deliveries
# view, all recomputed with sqlite3 from the store; bad parameters are 400.
source "$(dirname "$0")/../lib.sh"
need python3
need sqlite3
need curl
HERE="$REPO/tests/integration/alerts"
ROWS=12000
[ "$SANITIZED" = 1 ] && ROWS=4000
mkdir -p "$TMP/in"
python3 "$HERE/gen.py" "$TMP/in" "$ROWS" 6
ROWS=$(cat "$TMP"/in/*.ndjson | wc -l)

python3 "$HERE/receiver.py" "$TMP/port" "$TMP/got.jsonl" & RPID=$!
for _ in $(seq 50); do [ -f "$TMP/port" ] && break; sleep 0.1; done
HOOK="http://127.0.0.1:$(cat "$TMP/port")/hook"
SLUICE_TOKEN=alert-tok "$SLUICE" run "$HERE/rules.yaml" --set input="$TMP/in" --set hook="$HOOK" \
  --data "$TMP/d" --listen 127.0.0.1:0 2>"$TMP/run.log" & SPID=$!
trap 'kill $RPID $SPID 2>/dev/null; cleanup' EXIT
port=""
for _ in $(seq 100); do
  port=$(grep -o 'dashboard at http://127.0.0.1:[0-9]*' "$TMP/run.log" | grep -o '[0-9]*$' || true)
  [ -n "$port" ] && break
  sleep 0.1
done
[ -n "$port" ] || fail "server did not start: $(cat "$TMP/run.log")"
url="http://127.0.0.1:$port/api/alerts"
DB="$TMP/d/sluice.db"
q() { sqlite3 -cmd ".timeout 5000" "$DB" "$1"; }
# every row read and every notification delivered: the store stops changing
for _ in $(seq 600); do
  n=$(q "SELECT count(*) FROM readings" 2>/dev/null || echo 0)
  p=$(q "SELECT count(*) FROM _sluice_outbox WHERE state <> 'sent'" 2>/dev/null || echo 1)
  [ "$n" = "$ROWS" ] && [ "$p" = 0 ] && break
  sleep 0.1
done
[ "$n" = "$ROWS" ] && [ "$p" = 0 ] || fail "pipeline did not finish: $n of $ROWS rows, $p pending"
sleep 0.5

code() { curl -s -o /dev/null -w '%{http_code}' "$@"; }
[ "$(code "$url")" = 401 ] || fail "no token must give 401"
[ "$(code -H "Authorization: Bearer wrong" "$url")" = 401 ] || fail "a wrong token must give 401"
auth=(-H "Authorization: Bearer alert-tok")
for bad in "state=open" "limit=0" "limit=x" "limit=-3"; do
  [ "$(code "${auth[@]}" "$url?$bad")" = 400 ] || fail "?$bad must give 400"
done
[ "$(code -X POST "${auth[@]}" "$url")" = 405 ] || fail "POST must give 405"
curl -sf "${auth[@]}" "$url?limit=1000" >"$TMP/all.json" || fail "GET /api/alerts"
curl -sf "${auth[@]}" "$url?state=resolved&limit=7" >"$TMP/resolved.json" || fail "state=resolved"
curl -sf "${auth[@]}" "$url?state=firing&limit=3" >"$TMP/firing.json" || fail "state=firing"

python3 - "$DB" "$TMP" <<'PY' || fail "/api/alerts differs from the store"
import json, sqlite3, sys
db = sqlite3.connect(sys.argv[1]); tmp = sys.argv[2]
load = lambda n: json.load(open(f"{tmp}/{n}.json"))
cols = "alert_id, rule, alert_key, severity, message, state, created_at, resolved_at, channels_sent, notified_by, labels"
def hist(where, args, limit):
    return db.execute(f"SELECT {cols} FROM alert_history {where} ORDER BY created_at DESC, rowid DESC LIMIT ?",
                      args + (limit,)).fetchall()
def deliveries(aid):
    return [dict(channel=c, kind=k, state=s, attempts=a, sent_at=t, last_status=ls, last_error=le)
            for c, k, s, a, t, ls, le in db.execute(
                "SELECT channel, kind, delivery_state, attempts, sent_at, last_status, last_error "
                "FROM alert_deliveries WHERE alert_id = ? ORDER BY channel, kind", (aid,))]
def expect_recent(rows):
    return [dict(alert_id=r[0], rule=r[1], key=r[2], severity=r[3], message=r[4], state=r[5],
                 created_at=r[6], resolved_at=r[7], channels_sent=r[8], notified_by=r[9],
                 labels=json.loads(r[10]), deliveries=deliveries(r[0])) for r in rows]
def expect_firing(limit):
    return [dict(alert_id=r[0], rule=r[1], key=r[2], severity=r[3], message=r[4], started_at=r[6],
                 labels=json.loads(r[10])) for r in hist("WHERE state = 'firing'", (), limit)]
a = load("all")
nfiring = db.execute("SELECT count(*) FROM alert_history WHERE state = 'firing'").fetchone()[0]
assert nfiring > 0 and len(a["firing"]) == nfiring, (nfiring, len(a["firing"]))
assert a["firing"] == expect_firing(1000), "firing"
assert a["recent"] == expect_recent(hist("", (), 1000)), "recent"
assert a["truncated"] is False and a["limit"] == 1000
sent = [d for r in a["recent"] for d in r["deliveries"]]
assert sent and all(d["state"] == "sent" and d["channel"] == "hook" and d["attempts"] >= 1 for d in sent)
r = load("resolved")
assert len(r["recent"]) == 7 and all(x["state"] == "resolved" for x in r["recent"])
assert r["recent"] == expect_recent(hist("WHERE state = ?", ("resolved",), 7)), "resolved"
f = load("firing")
assert f["recent"] == expect_recent(hist("WHERE state = ?", ("firing",), 3)), "state=firing"
assert f["firing"] == expect_firing(3)
print("firing", nfiring, "history", len(a["recent"]), "deliveries", len(sent))
PY
ok "/api/alerts: token, firing and recent alerts with deliveries equal the store, filters, bad parameters"
kill -TERM $SPID; wait $SPID || fail "pipeline exited with an error"
