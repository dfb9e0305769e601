# lib_cloud.sh - shared by the cloud tests (source it after lib.sh): compare a store with
# the answer of cloud_ref.py in $TMP/expected.db.
#
# CLOUD_MARTS: the marts the pipeline has (each compared row by row)
CLOUD_MARTS=${CLOUD_MARTS:-"tickets_by_org_date usage_enriched org_daily_usage_by_service cost_anomaly_mart genai_tokens_by_org_date revenue_by_org_month"}
r() { printf '(a.%s IS b.%s OR abs(a.%s - b.%s) <= 1e-9 * max(1, abs(b.%s)))' "$1" "$1" "$1" "$1" "$1"; }
cloud_spec() {
  case $1 in
    tickets_by_org_date)
      echo "tickets_by_org_date|e.tickets_by_org_date|x.tickets_by_org_date|org_id,date|a.tickets = b.tickets AND a.resolved = b.resolved AND a.critical = b.critical AND a.sla_breaches = b.sla_breaches AND $(r sla_breach_rate) AND $(r avg_resolution_hours) AND $(r avg_csat) AND a.rated = b.rated AND a.is_final = 1 AND a.window_start = b.date || 'T00:00:00Z'" ;;
    org_daily_usage_by_service)
      echo "org_daily_usage_by_service|e.org_daily_usage_by_service|x.org_daily_usage_by_service|org_id,service,date|a.events = b.events AND $(r total_quantity) AND $(r total_cost_usd) AND a.genai_tokens = b.genai_tokens AND $(r carbon_kg) AND a.plan_tier IS b.plan_tier AND a.is_final = 1 AND a.window_start = b.date || 'T00:00:00Z'" ;;
    genai_tokens_by_org_date)
      echo "genai_tokens_by_org_date|e.genai_tokens_by_org_date|x.genai_tokens_by_org_date|org_id,date|a.events = b.events AND a.genai_tokens = b.genai_tokens AND $(r genai_cost_usd) AND $(r carbon_kg) AND a.is_final = 1" ;;
    revenue_by_org_month)
      echo "revenue_by_org_month|e.revenue_by_org_month|x.revenue_by_org_month|org_id,year,month|a.events = b.events AND $(r revenue_usd) AND a.active_days = b.active_days AND a.window_start = printf('%04d-%02d-01T00:00:00Z', b.year, b.month)" ;;
    cost_anomaly_mart)
      echo "cost_anomaly_mart|e.cost_anomaly_mart|x.cost_anomaly_mart|event_id|a.org_id = b.org_id AND a.service = b.service AND a.date = b.date AND $(r cost_usd_increment) AND $(r zscore) AND $(r robust_z) AND $(r pctl_threshold) AND a.zscore_flag = b.zscore_flag AND a.mad_flag = b.mad_flag AND a.pctl_flag = b.pctl_flag AND a.plan_tier IS b.plan_tier" ;;
    usage_enriched)
      echo "usage_enriched|e.usage_enriched|x.usage_plan|event_id|a.org_id = b.org_id AND a.service = b.service AND a.plan_tier IS b.plan_tier" ;;
  esac
}
# compare_cloud DB: every mart equals the reference
compare_cloud() {
  local specs=() m
  for m in $CLOUD_MARTS; do specs+=("$(cloud_spec "$m")"); done
  bash "$REPO/tests/integration/telco/compare.sh" "$1" "$TMP/expected.db" "${specs[@]}"
}
# check_counts DB: rows kept and quarantined by reason equal the reference's counts
check_counts() {
  local db=$1 kind n exp
  while read -r kind n; do
    exp=$(sqlite3 "$TMP/expected.db" "SELECT coalesce((SELECT n FROM counts WHERE name = '$kind'), 0)")
    [ "$n" = "$exp" ] || fail "$kind: engine $n, expected $exp"
  done < <(sqlite3 -separator ' ' "$db" "
    SELECT 'silver_usage_events', count(*) FROM silver_usage_events
    UNION ALL SELECT 'support_tickets', count(*) FROM support_tickets
    UNION ALL SELECT 'dim_org_plan', count(*) FROM dim_org_plan
    UNION ALL SELECT 'malformed', count(*) FROM quarantine WHERE table_name = 'bronze_usage_events'
    UNION ALL SELECT 'late', count(*) FROM quarantine WHERE table_name = 'silver_usage_events' AND reason LIKE 'late%'
    UNION ALL SELECT 'known_schema_version', count(*) FROM quarantine WHERE reason LIKE 'expectation ''known_schema_version''%'
    UNION ALL SELECT 'cost_increment_valid', count(*) FROM quarantine WHERE reason LIKE 'expectation ''cost_increment_valid''%'
    UNION ALL SELECT 'has_event_id', count(*) FROM quarantine WHERE reason LIKE 'expectation ''has_event_id''%'
    UNION ALL SELECT 'tickets_late', count(*) FROM quarantine WHERE table_name = 'support_tickets'
    UNION ALL SELECT 'usage_enriched', count(*) FROM usage_enriched
    UNION ALL SELECT 'join_resources', count(*) FROM quarantine WHERE table_name = 'usage_enriched' AND reason LIKE 'join: no dim_resources row for resource_id=%'
    UNION ALL SELECT 'cost_anomaly_mart', count(*) FROM cost_anomaly_mart")
}
