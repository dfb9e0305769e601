#!/usr/bin/env bash
# pipelines/cameras.yaml on generated input with 30% redelivered duplicates:
# its duplicate-rate rule fires (a webhook receiver records the payload), the
# minutes it covers are those whose duplicate share, recomputed from the
# window rows, is above the threshold; with the threshold at the highest minute share
# (at least 60%, no minute above it) it stays quiet.
source "$(dirname "$0")/../lib.sh"
need python3
need sqlite3
HERE="$REPO/tests/integration/alerts"
EVENTS=40000
[ "$SANITIZED" = 1 ] && EVENTS=10000
"$SLUICE" gen cameras --events "$EVENTS" --dup 0.3 --event-rate 500 --out "$TMP/cams" >/dev/null 2>&1
python3 "$HERE/receiver.py" "$TMP/port" "$TMP/got.jsonl" & RPID=$!
trap 'kill $RPID 2>/dev/null; cleanup' EXIT
for _ in $(seq 50); do [ -f "$TMP/port" ] && break; sleep 0.1; done
run() {
  ALERT_WEBHOOK_URL="http://127.0.0.1:$(cat "$TMP/port")/alerts" timeout 120 "$SLUICE" run \
    "$REPO/pipelines/cameras.yaml" --set input="$TMP/cams" --set locations="$TMP/cams/locations.csv" \
    --once "$@" >/dev/null 2>>"$TMP/err" || { cat "$TMP/err"; fail "run $*"; }
}
run --data "$TMP/d10"
python3 - "$TMP/got.jsonl" "$TMP/d10/sluice.db" <<'PY' || fail "duplicate-rate alert"
import json, sqlite3, sys
db = sqlite3.connect(sys.argv[2])
over = db.execute("SELECT count(*) FROM duplicates_1m WHERE is_final AND duplicates * 100.0 / records > 10").fetchone()[0]
assert over > 0, "no minute above 10% in the input"
bodies = [json.loads(json.loads(l)["body"]) for l in open(sys.argv[1])]
dup = [b for b in bodies if b["rule"] == "duplicate_rate"]
assert len(dup) == 1, bodies  # one instance, rate limited: one firing
b = dup[0]
assert b["state"] == "firing" and b["severity"] == "warning" and b["table"] == "duplicates_1m", b
assert b["message"].startswith("duplicate rate "), b
hist = db.execute("SELECT state, channels_sent FROM alert_history WHERE rule = 'duplicate_rate'").fetchall()
assert hist == [("firing", "webhook")], hist
sent = db.execute("SELECT o.state, o.attempts FROM _sluice_outbox o JOIN alert_history h ON h.alert_id = o.alert_id WHERE h.rule = 'duplicate_rate'").fetchall()
assert sent == [("sent", 1)], sent
print("minutes over 10%:", over)
PY
ok "30% duplicates: duplicate_rate fired once to the webhook"
: >"$TMP/got.jsonl"
# the threshold: the highest minute share of this input (at least 60%; a small
# input, under ASan, can have an edge minute above 60%), so no minute is above it
top=$(sqlite3 "$TMP/d10/sluice.db" "SELECT max(60, CAST(ceil(max(duplicates * 100.0 / records)) AS INTEGER)) FROM duplicates_1m WHERE is_final")
run --data "$TMP/d60" --set dup_alert_pct="$top"
over=$(sqlite3 "$TMP/d60/sluice.db" "SELECT count(*) FROM duplicates_1m WHERE is_final AND duplicates * 100.0 / records > $top")
n=$(sqlite3 "$TMP/d60/sluice.db" "SELECT count(*) FROM alert_history WHERE rule = 'duplicate_rate'")
[ "$over" = 0 ] || fail "the input has minutes above $top% duplicates"
[ "$n" = 0 ] || fail "duplicate_rate fired at a $top% threshold"
if grep -q duplicate_rate "$TMP/got.jsonl"; then fail "duplicate_rate sent at a $top% threshold"; fi
ok "threshold $top% (no minute above it): quiet"
