#!/usr/bin/env bash
# End to end: generate retail POS events + store/register metrics + attribute
# changes (malformed lines, offline registers, late files, region changes,
# software upgrades), run pipelines/retail.yaml with --once and compare gold,
# health and the entity dimension with tests/tools/retail_ref.
source "$(dirname "$0")/../lib.sh"
events=${RETAIL_EVENTS:-200000}
[ "$SANITIZED" = 1 ] && events=30000
"$SLUICE" gen retail --events "$events" --seed 12 --out "$TMP/in" 2>"$TMP/gen.txt"
"$SLUICE" run "$REPO/pipelines/retail.yaml" --data "$TMP/out" --set input="$TMP/in" --once --status 0
"$BUILD/retail_ref" "$TMP/in" "$TMP/expected.db" >"$TMP/ref.txt"
db=$TMP/out/sluice.db
# null-safe relative comparison (sums of doubles in another order)
r() { printf '(a.%s IS b.%s OR abs(a.%s - b.%s) <= 1e-9 * max(1, abs(b.%s)))' "$1" "$1" "$1" "$1" "$1"; }
q() { printf '(abs(a.%s - b.%s) <= 0.01 * abs(b.%s) + 1e-9)' "$1" "$1" "$1"; }
perf_check="a.samples = b.samples AND a.min_value = b.min_value AND a.max_value = b.max_value AND $(r avg_value)
 AND (a.stddev_value IS b.stddev_value OR abs(a.stddev_value - b.stddev_value) <= 1e-6 * max(1, b.stddev_value))
 AND $(q p50_value) AND $(q p95_value) AND $(q p99_value) AND a.is_final = 1"
bash "$REPO/tests/integration/telco/compare.sh" "$db" "$TMP/expected.db" \
  "gold_events|e.gold_events|x.gold_events|window_start,store_id,register_id|a.events = b.events AND a.sales = b.sales AND $(r sales_amount) AND $(r refund_amount) AND a.voids = b.voids AND a.items = b.items AND a.critical_events = b.critical_events AND a.is_final = 1" \
  "gold_performance_5min|e.gold_performance_5min|x.gold_performance_5min|window_start,entity_id,entity_type,store_id,metric_name|$perf_check" \
  "gold_performance_1h|e.gold_performance_1h|x.gold_performance_1h|window_start,entity_id,entity_type,store_id,metric_name|$perf_check" \
  "gold_entity_health|e.gold_entity_health|x.gold_entity_health|window_start,entity_id,entity_type,store_id|a.samples = b.samples AND $(r avg_queue_length) AND $(r avg_payment_latency_ms) AND a.max_stockouts IS b.max_stockouts AND a.queue_penalty IS b.queue_penalty AND a.latency_penalty IS b.latency_penalty AND a.stockouts_penalty IS b.stockouts_penalty AND a.health_score = b.health_score AND a.health_status = b.health_status" \
  "mv_entity_health|e.mv_entity_health|x.mv_entity_health|window_start,entity_id|a.critical_events = b.critical_events AND a.critical_events_penalty = b.critical_events_penalty AND a.health_score = b.health_score" \
  "dim_entities|e.dim_entities|x.dim_entities_text|entity_id,effective_from|a.entity_type = b.entity_type AND a.store_id = b.store_id AND a.region = b.region AND a.format = b.format AND a.software = b.software AND a.effective_to IS b.effective_to AND a.version = b.version AND a.is_active = b.is_active" \
  || fail "retail tables differ from the brute-force answer"
while read -r kind n; do
  exp=$(sqlite3 "$TMP/expected.db" "SELECT n FROM counts WHERE name = '$kind'")
  [ "$n" = "$exp" ] || fail "quarantine $kind: engine $n, expected $exp"
done < <(sqlite3 -separator ' ' "$db" "
  SELECT 'pos_malformed', count(*) FROM quarantine WHERE table_name = 'pos_raw' AND reason LIKE 'malformed%'
  UNION ALL SELECT 'pos_type', count(*) FROM quarantine WHERE table_name = 'pos_raw' AND reason LIKE 'field%'
  UNION ALL SELECT 'pos_expect', count(*) FROM quarantine WHERE table_name = 'silver_pos_events' AND reason LIKE 'expectation%'
  UNION ALL SELECT 'pos_late', count(*) FROM quarantine WHERE table_name = 'silver_pos_events' AND reason LIKE 'late%'
  UNION ALL SELECT 'metric_malformed', count(*) FROM quarantine WHERE table_name = 'metrics_raw' AND reason LIKE 'malformed%'
  UNION ALL SELECT 'metric_type', count(*) FROM quarantine WHERE table_name = 'metrics_raw' AND reason LIKE 'field%'
  UNION ALL SELECT 'metric_expect', count(*) FROM quarantine WHERE table_name = 'silver_metrics_validated' AND reason LIKE 'expectation%'
  UNION ALL SELECT 'metric_late', count(*) FROM quarantine WHERE table_name = 'silver_metrics_validated' AND reason LIKE 'late%'")
moves=$(sqlite3 "$db" "SELECT count(*) FROM dim_entities WHERE NOT is_active AND entity_type = 'store'")
[ "$moves" -gt 0 ] || fail "no store changed region in the dimension"
ok "retail: $(cat "$TMP/ref.txt"); $moves store region changes; gold, health and dimension equal the reference"
reconcile "$REPO/pipelines/retail.yaml" "$TMP/out" "pos_raw metrics_raw dim_entities~" 0 --set input="$TMP/in"
