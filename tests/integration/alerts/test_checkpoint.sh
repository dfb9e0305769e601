#!/usr/bin/env bash
# The checkpoint-age rule (`_sluice_checkpoint`) when commits stop and
# resume. A producer appends readings to the watched folder every 50 ms; it
# is frozen with SIGSTOP for 6 s (a stalled upstream writer: no input, so no
# commit carries input and the checkpoint ages), then SIGCONT. The rule
# (age above 2 s) must fire once during the stall and resolve once input is
# committed again; both notifications reach the webhook receiver; the rows
# written before and after are all there.
source "$(dirname "$0")/../lib.sh"
need python3
need sqlite3
HERE="$REPO/tests/integration/alerts"
mkdir -p "$TMP/in"
cat >"$TMP/p.yaml" <<'YAML'
pipeline: checkpoint_test
commit_interval: 100ms
sources:
  m:
    type: dir
    path: ${input}
    pattern: "*.ndjson"
    format: json
    schema: {host: string, ts_ms: int, value: double}
tables:
  readings:
    from: m
alerts:
  channels:
    hook: {type: webhook, url: "${hook}"}
  rules:
    - name: checkpoint_age
      table: _sluice_checkpoint
      when: "checkpoint_age_s > 2"
      severity: critical
      message: "no commit with input for {checkpoint_age_s} s (last commit {commit_id})"
YAML
# the producer: one line every 50 ms, flushed, until killed
cat >"$TMP/producer.py" <<'PY'
import json, sys, time
with open(sys.argv[1], "a") as f:
    n = 0
    while True:
        f.write(json.dumps({"host": "h%d" % (n % 3), "ts_ms": int(time.time() * 1000), "value": n}) + "\n")
        f.flush()
        n += 1
        time.sleep(0.05)
PY
python3 "$HERE/receiver.py" "$TMP/port" "$TMP/got.jsonl" & RPID=$!
python3 "$TMP/producer.py" "$TMP/in/r.ndjson" & PPID_=$!
trap 'kill -CONT $PPID_ 2>/dev/null || true; kill $RPID $PPID_ $SPID 2>/dev/null || true; cleanup' EXIT
SPID=
for _ in $(seq 50); do [ -f "$TMP/port" ] && break; sleep 0.1; done
timeout 60 "$SLUICE" run "$TMP/p.yaml" --set input="$TMP/in" \
  --set hook="http://127.0.0.1:$(cat "$TMP/port")/hook" --data "$TMP/d" 2>"$TMP/run.log" & SPID=$!
DB="$TMP/d/sluice.db"
q() { sqlite3 -cmd ".timeout 5000" "$DB" "$1" 2>/dev/null; }
sleep 3
[ "$(q "SELECT count(*) FROM alert_history")" = 0 ] || fail "fired while input flowed"
n_before=$(q "SELECT count(*) FROM readings")
[ "${n_before:-0}" -gt 20 ] || fail "no input committed: $(cat "$TMP/run.log")"
stop_at=$(date +%s.%N)
kill -STOP $PPID_
sleep 6
kill -CONT $PPID_
cont_at=$(date +%s.%N)
sleep 3
kill $PPID_; wait $PPID_ 2>/dev/null || true
sleep 0.5
kill -TERM $SPID; wait $SPID || fail "pipeline exited with an error: $(cat "$TMP/run.log")"
SPID=
python3 - "$DB" "$TMP/got.jsonl" "$stop_at" "$cont_at" "$TMP/in/r.ndjson" <<'PY' || fail "checkpoint alert"
import calendar, json, sqlite3, sys, time
db = sqlite3.connect(sys.argv[1]); stop, cont = float(sys.argv[3]), float(sys.argv[4])
def epoch(s):
    base, frac = (s[:-1].split(".") + [""])[:2]
    return calendar.timegm(time.strptime(base, "%Y-%m-%dT%H:%M:%S")) + (float("0." + frac) if frac else 0)
rows = db.execute("SELECT alert_id, state, created_at, resolved_at, channels_sent, message "
                  "FROM alert_history").fetchall()
assert len(rows) == 1, rows
aid, state, created, resolved, sent, msg = rows[0]
assert state == "resolved" and sent == "hook", rows
c, r = epoch(created), epoch(resolved)
# fired 2-3.5 s into the stall (ticks are 1 s apart), resolved after input resumed
assert stop + 2 <= c <= stop + 4, ("fired at", c - stop)
assert c < cont <= r <= cont + 2.5, ("resolved at", r - cont)
assert msg.startswith("no commit with input for "), msg
got = [json.loads(l) for l in open(sys.argv[2])]
kinds = sorted(json.loads(g["body"])["state"] for g in got)
assert kinds == ["firing", "resolved"], kinds
states = db.execute("SELECT group_concat(kind || ':' || state) FROM "
                    "(SELECT * FROM _sluice_outbox ORDER BY id)").fetchone()[0]
assert states == "firing:sent,resolved:sent", states
lines = sum(1 for _ in open(sys.argv[5]))
n = db.execute("SELECT count(*) FROM readings").fetchone()[0]
assert n == lines, (n, lines)
print("fired %.1f s into the stall, resolved %.1f s after it" % (c - stop, r - cont))
PY
ok "checkpoint age: fired once while commits stopped, resolved when they resumed, both delivered"
