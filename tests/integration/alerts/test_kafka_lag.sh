#!/usr/bin/env bash
# The Kafka consumer-lag rule of docs/alerting.md over the event log: a topic
# filled before the pipeline starts is consumed in small batches, so the first
# commits carry a large consumer_lag (details.consumer_lag) and the last ones
# none. The rule `consumer_lag > T` must fire at the first commit whose lag is
# above T and resolve at the first later one at or below it, recomputed from
# the stored _sluice_events rows.
source "$(dirname "$0")/../lib.sh"
need kcat
need sqlite3
need python3
N=120000
[ "$SANITIZED" = 1 ] && N=40000
start_mock m --topic lagt:2
trap 'exec 3>&- 2>/dev/null || true; kill $MPID 2>/dev/null || true; cleanup' EXIT
awk -v n=$N 'BEGIN { for (i = 1; i <= n; i++) printf "k%d\t{\"id\":%d}\n", i % 8, i }' |
  kcat -P -b "$BOOT" -t lagt -K$'\t' -X sticky.partitioning.linger.ms=0
cat >"$TMP/p.yaml" <<'YAML'
pipeline: kafka_lag
commit_interval: 50ms
batch_size: 128
sources:
  ev:
    type: kafka
    brokers: ${brokers}
    topics: lagt
    group: lag-test
    properties: {session.timeout.ms: "6000", heartbeat.interval.ms: 500}
    schema: {id: int}
tables:
  events:
    from: ev
alerts:
  rules:
    - name: kafka_consumer_lag
      table: _sluice_events
      when: "consumer_lag > 1000"
      severity: critical
      message: "{consumer_lag} messages behind"
YAML
timeout 120 "$SLUICE" run "$TMP/p.yaml" --data "$TMP/d" --set brokers="$BOOT" --status 0 2>"$TMP/run.err" & SPID=$!
DB="$TMP/d/sluice.db"
for _ in $(seq 600); do
  n=$(sqlite3 -cmd ".timeout 5000" "$DB" "SELECT count(*) FROM events" 2>/dev/null || echo 0)
  [ "$n" = "$N" ] && break
  sleep 0.1
done
sleep 1
kill -TERM $SPID; wait $SPID || fail "pipeline failed: $(tail -5 "$TMP/run.err")"
[ "$n" = "$N" ] || fail "consumed $n of $N"
python3 - "$DB" <<'PY' || fail "kafka lag alert differs from the event log"
import json, sqlite3, sys
db = sqlite3.connect(sys.argv[1])
rows = [(ts, json.loads(d).get("consumer_lag")) for ts, d in db.execute(
    "SELECT ts, details FROM _sluice_events WHERE kind IN ('commit', 'final') ORDER BY commit_id")]
lags = [l for _, l in rows]
assert all(l is not None for l in lags), "a commit without consumer_lag in details"
assert max(lags) > 1000 and lags[-1] == 0, (max(lags), lags[-1])
want, cur = [], None
for ts, lag in rows:
    if lag > 1000 and cur is None:
        cur = [ts, None]
    elif lag <= 1000 and cur is not None:
        cur[1] = ts
        want.append(tuple(cur))
        cur = None
if cur:
    want.append(tuple(cur))
got = db.execute("SELECT created_at, resolved_at FROM alert_history WHERE rule = 'kafka_consumer_lag' "
                 "ORDER BY created_at").fetchall()
assert got == want, (got, want)
msg = db.execute("SELECT message FROM alert_history LIMIT 1").fetchone()[0]
assert msg.endswith(" messages behind") and int(msg.split()[0]) > 1000, msg
print("max lag", max(lags), "commits", len(rows), "alerts", got)
PY
ok "kafka consumer lag in the event log; the lag rule fired and resolved as recomputed from it"
