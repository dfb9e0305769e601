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

# compare_dataops DB: every table equals the reference
compare_dataops() {
  local db=$1
  r() { printf '(a.%s IS b.%s OR abs(a.%s - b.%s) <= 1e-9 * max(1, abs(b.%s)))' "$1" "$1" "$1" "$1" "$1"; }
  bash "$REPO/tests/integration/telco/compare.sh" "$db" "$TMP/expected.db" \
    "job_monitoring|e.job_monitoring|x.job_monitoring|run_id|a.job_id = b.job_id AND a.status = b.status AND a.start_time = b.start_time AND $(r duration_minutes) AND coalesce(a.is_anomaly, 0) = b.is_anomaly AND a.severity IS b.severity" \
    "job_runs_daily|e.job_runs_daily|x.job_runs_daily|window_start,job_id|a.job_name = b.job_name AND a.runs = b.runs AND a.successes = b.successes AND a.failures = b.failures AND $(r success_rate) AND $(r avg_duration_minutes) AND (a.stddev_duration_minutes IS b.stddev_duration_minutes OR abs(a.stddev_duration_minutes - b.stddev_duration_minutes) <= 1e-6 * max(1, b.stddev_duration_minutes)) AND $(r max_duration_minutes) AND a.anomalies = b.anomalies AND a.is_final = 1" \
    "job_health_scores|e.job_health_scores|x.job_health_scores|window_start,job_id|a.calculation_time = b.calculation_time AND a.health_score = b.health_score AND a.health_status = b.health_status AND a.trend IS b.trend AND $(r success_rate) AND (a.performance_stability IS b.performance_stability OR abs(a.performance_stability - b.performance_stability) <= 1e-6) AND a.success_penalty = b.success_penalty AND a.stability_penalty IS b.stability_penalty AND a.anomaly_penalty = b.anomaly_penalty" \
    "alert_history|(SELECT rule, alert_key, created_at, resolved_at FROM e.alert_history WHERE rule IN ('job_failing', 'job_health_low'))|x.alerts|rule,alert_key,created_at|a.resolved_at IS b.resolved_at" \
    "cluster_utilization_1h|e.cluster_utilization_1h|x.cluster_utilization_1h|window_start,cluster_id|a.samples = b.samples AND $(r avg_cpu) AND a.max_cpu = b.max_cpu AND abs(a.p95_cpu - b.p95_cpu) <= 0.01 * b.p95_cpu + 1e-9 AND $(r avg_memory) AND a.max_disk = b.max_disk AND a.jobs = b.jobs AND a.is_final = 1"
}
# check_counts DB: stored rows and quarantine reasons equal the reference's counts
check_counts() {
  local db=$1 kind n exp
  while read -r kind n; do
    exp=$(sqlite3 "$TMP/expected.db" "SELECT coalesce((SELECT n FROM counts WHERE name = '$kind'), 0)")
    [ "$n" = "$exp" ] || fail "$kind: engine $n, expected $exp"
  done < <(sqlite3 -separator ' ' "$db" "
    SELECT 'job_monitoring', count(*) FROM job_monitoring
    UNION ALL SELECT 'resource_metrics', count(*) FROM resource_metrics
    UNION ALL SELECT 'runs_malformed', count(*) FROM quarantine WHERE table_name = 'runs_raw'
    UNION ALL SELECT 'late', count(*) FROM quarantine WHERE table_name = 'job_monitoring' AND reason LIKE 'late%'
    UNION ALL SELECT 'has_job_id', count(*) FROM quarantine WHERE reason LIKE 'expectation ''has_job_id''%'
    UNION ALL SELECT 'known_status', count(*) FROM quarantine WHERE reason LIKE 'expectation ''known_status''%'
    UNION ALL SELECT 'end_after_start', count(*) FROM quarantine WHERE reason LIKE 'expectation ''end_after_start''%'
    UNION ALL SELECT 'non_negative_duration', count(*) FROM quarantine WHERE reason LIKE 'expectation ''non_negative_duration''%'
    UNION ALL SELECT 'utilisation_in_range', count(*) FROM quarantine WHERE reason LIKE 'expectation ''utilisation_in_range''%'
    UNION ALL SELECT 'metrics_late', count(*) FROM quarantine WHERE table_name = 'resource_metrics' AND reason LIKE 'late%'")
}

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
compare_dataops "$TMP/out/sluice.db" || fail "dataops tables differ from the brute-force answer"
check_counts "$TMP/out/sluice.db"
read -r anomalies critical jumps < <(sqlite3 -separator ' ' "$TMP/out/sluice.db" "SELECT (SELECT sum(is_anomaly) FROM job_monitoring),
  (SELECT count(*) FROM job_health_scores WHERE health_status = 'critical'),
  (SELECT count(*) FROM job_monitoring WHERE is_anomaly AND zscore > 6)")
[ "$anomalies" -gt 0 ] && [ "$critical" -gt 0 ] && [ "$jumps" -gt 0 ] ||
  fail "expected duration anomalies ($anomalies), critical health days ($critical) and jumps ($jumps)"
alerts=$(sqlite3 "$TMP/out/sluice.db" "SELECT count(*) FROM alert_history")
[ "$alerts" -gt 0 ] || fail "no alert fired"
sent_once "$TMP/out/sluice.db"
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
compare_dataops "$TMP/live-out/sluice.db" || fail "after $kills SIGKILLs the dataops tables differ from the brute-force answer"
check_counts "$TMP/live-out/sluice.db"
# every rule's alerts and notifications are those of the run without SIGKILLs
for q in "SELECT rule, alert_key, created_at, resolved_at, message, state FROM alert_history ORDER BY 1, 2, 3" \
         "SELECT idem_key, kind, channel FROM _sluice_outbox ORDER BY 1"; do
  sqlite3 "$TMP/out/sluice.db" "$q" >"$TMP/a.txt"
  sqlite3 "$TMP/live-out/sluice.db" "$q" >"$TMP/b.txt"
  cmp -s "$TMP/a.txt" "$TMP/b.txt" || { diff "$TMP/a.txt" "$TMP/b.txt" | head >&2; fail "after SIGKILLs: $q differs"; }
done
# the live run sent the same keys again (a new data folder): the receiver saw each
# key, processed it once, and nothing else
sent_once "$TMP/live-out/sluice.db"
ok "dataops: $kills SIGKILLs while the files landed; every table, alert and notification equals the run without them"
