#!/usr/bin/env bash
# End to end: generate a data platform's job runs and cluster metrics (flaky,
# degrading and jumping jobs, hot clusters, duplicates, late runs, bad
# records), run pipelines/dataops.yaml with --once, and compare job_monitoring,
# the daily job table, the health scores, cluster utilisation and the
# quarantine counts with the brute force of dataops_ref.py; then again with
# SIGKILLs while the runs land.
source "$(dirname "$0")/../lib.sh"
need sqlite3
need python3
events=${DATAOPS_EVENTS:-40000}
[ "$SANITIZED" = 1 ] && events=12000
PIPE=$REPO/pipelines/dataops.yaml
"$SLUICE" gen dataops --events "$events" --jobs 20 --jump-after 3 --seed 7 --out "$TMP/in" 2>"$TMP/gen.txt"
python3 "$REPO/tests/integration/dataops/dataops_ref.py" "$TMP/in" "$TMP/expected.db" >"$TMP/ref.txt"

source "$REPO/tests/integration/dataops/lib_dataops.sh"
# alerts go to a webhook receiver that deduplicates on the Idempotency-Key
python3 "$REPO/tests/integration/alerts/http_receiver.py" "$TMP/req.log" "$TMP/ports" 2>"$TMP/recv.err" &
recv=$!
trap 'kill $recv 2>/dev/null; cleanup' EXIT
for _ in $(seq 50); do [ -s "$TMP/ports" ] && break; sleep 0.1; done
read -r wport _ <"$TMP/ports"
export ALERT_WEBHOOK_URL="http://127.0.0.1:$wport/hook"
# sent_once DB: every notification was sent, and the receiver processed each key once
sent_once() {
  local pending keys got
  pending=$(sqlite3 "$1" "SELECT count(*) FROM _sluice_outbox WHERE state <> 'sent'")
  [ "$pending" = 0 ] || fail "$pending notifications not sent"
  keys=$(sqlite3 "$1" "SELECT count(*) FROM _sluice_outbox")
  got=$(python3 -c 'import json,sys; print(len({json.loads(l)["headers"].get("idempotency-key") for l in open(sys.argv[1]) if not json.loads(l)["dup"]}))' "$TMP/req.log")
  [ "$keys" = "$got" ] || fail "$keys notifications in the outbox, the receiver processed $got keys"
}
"$SLUICE" run "$PIPE" --data "$TMP/out" --set input="$TMP/in" --once --status 0
# (the silver tables are Parquet lake tables: sqlite3 reads a copy holding them)
lake_db "$PIPE" "$TMP/out" "$TMP/out.db" --set input="$TMP/in"
compare_dataops "$TMP/out.db" || fail "dataops tables differ from the brute-force answer"
check_counts "$TMP/out.db"
read -r anomalies critical jumps < <(sqlite3 -separator ' ' "$TMP/out.db" "SELECT (SELECT sum(is_anomaly) FROM job_monitoring),
  (SELECT count(*) FROM job_health_scores WHERE health_status = 'critical'),
  (SELECT count(*) FROM job_monitoring WHERE is_anomaly AND zscore > 6)")
[ "$anomalies" -gt 0 ] && [ "$critical" -gt 0 ] && [ "$jumps" -gt 0 ] ||
  fail "expected duration anomalies ($anomalies), critical health days ($critical) and jumps ($jumps)"
alerts=$(sqlite3 "$TMP/out.db" "SELECT count(*) FROM alert_history")
[ "$alerts" -gt 0 ] || fail "no alert fired"
sent_once "$TMP/out.db"
ok "dataops: $(cat "$TMP/ref.txt"); $alerts alerts in all"
reconcile "$PIPE" "$TMP/out" "runs_raw resource_metrics" 0 --set input="$TMP/in"

# SIGKILLs while the runs land: the files are published in their order while a
# live pipeline reads them and is killed at random moments, then one --once run
# finishes; every table equals the same reference.
mkdir -p "$TMP/live/runs" "$TMP/live/metrics"
cp "$TMP/in/jobs.csv" "$TMP/live/"
mapfile -t files < <(cd "$TMP/in" && ls runs/*.ndjson metrics/*.ndjson | sort -t- -k2)
n=${#files[@]}
kills=0
i=0
while [ "$i" -lt "$n" ]; do
  SLUICE_LOG=error "$SLUICE" run "$PIPE" --data "$TMP/live-out" --set input="$TMP/live" --set commit_interval=50ms --status 0 &
  pid=$!
  step=$((n / 5 + 1))
  for f in "${files[@]:$i:$step}"; do
    cp "$TMP/in/$f" "$TMP/live/$f.tmp" && mv "$TMP/live/$f.tmp" "$TMP/live/$f"
    sleep 0.01
  done
  i=$((i + step))
  sleep 0.$((RANDOM % 5 + 1))
  kill -9 "$pid" 2>/dev/null && kills=$((kills + 1))
  wait "$pid" 2>/dev/null || true
done
"$SLUICE" run "$PIPE" --data "$TMP/live-out" --set input="$TMP/live" --once --status 0
lake_db "$PIPE" "$TMP/live-out" "$TMP/live-out.db" --set input="$TMP/live"
compare_dataops "$TMP/live-out.db" || fail "after $kills SIGKILLs the dataops tables differ from the brute-force answer"
check_counts "$TMP/live-out.db"
# every rule's alerts and notifications are those of the run without SIGKILLs
for q in "SELECT rule, alert_key, created_at, resolved_at, message, state FROM alert_history ORDER BY 1, 2, 3" \
         "SELECT idem_key, kind, channel FROM _sluice_outbox ORDER BY 1"; do
  sqlite3 "$TMP/out.db" "$q" >"$TMP/a.txt"
  sqlite3 "$TMP/live-out.db" "$q" >"$TMP/b.txt"
  cmp -s "$TMP/a.txt" "$TMP/b.txt" || { diff "$TMP/a.txt" "$TMP/b.txt" | head >&2; fail "after SIGKILLs: $q differs"; }
done
# the live run sent the same keys again (a new data folder): the receiver saw each
# key, processed it once, and nothing else
sent_once "$TMP/live-out.db"
ok "dataops: $kills SIGKILLs while the files landed; every table, alert and notification equals the run without them"
