# lib_dataops.sh - shared by the dataops tests (source it after lib.sh): compare a
# store with the reference of dataops_ref.py in $TMP/expected.db.
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

