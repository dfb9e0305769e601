#!/usr/bin/env bash
# End to end: generate telco syslog + metrics + entity changes (malformed lines,
# flaps, late files, firmware upgrades), run pipelines/telco.yaml with --once and
# compare gold, health and the entity dimension with tests/tools/telco_ref;
# then again with commits every 100 ms and a SIGKILL in the middle of the run
# (the window-window join's pending pairs restored from the last commit).
source "$(dirname "$0")/../lib.sh"
events=${TELCO_EVENTS:-200000}
[ "$SANITIZED" = 1 ] && events=30000
"$SLUICE" gen telco --events "$events" --seed 11 --out "$TMP/in" 2>"$TMP/gen.txt"
"$SLUICE" run "$REPO/pipelines/telco.yaml" --data "$TMP/out" --set input="$TMP/in" --once --status 0
"$BUILD/telco_ref" "$TMP/in" "$TMP/expected.db" >"$TMP/ref.txt"
db=$TMP/out/sluice.db
# null-safe relative comparison (averages: same values summed in another order)
r() { printf '(a.%s IS b.%s OR abs(a.%s - b.%s) <= 1e-9 * max(1, abs(b.%s)))' "$1" "$1" "$1" "$1" "$1"; }
q() { printf '(abs(a.%s - b.%s) <= 0.01 * abs(b.%s) + 1e-9)' "$1" "$1" "$1"; }
perf_check="a.samples = b.samples AND a.min_value = b.min_value AND a.max_value = b.max_value AND $(r avg_value)
 AND (a.stddev_value IS b.stddev_value OR $(printf '(abs(a.stddev_value - b.stddev_value) <= 1e-6 * max(1, b.stddev_value))'))
 AND $(q p50_value) AND $(q p95_value) AND $(q p99_value) AND a.is_final = 1"
# the streaming entity health (window-window join + derive), row by row
full_spec="gold_entity_health_full|e.gold_entity_health_full|x.gold_entity_health_full|window_start,entity_id,entity_type,location|a.samples = b.samples AND $(r avg_cpu) AND $(r avg_packet_loss) AND a.cpu_penalty = b.cpu_penalty AND a.packet_loss_penalty = b.packet_loss_penalty AND a.critical_events = b.critical_events AND a.critical_events_penalty = b.critical_events_penalty AND a.health_score = b.health_score AND a.health_status = b.health_status AND a.is_final = 1"
crit_spec="gold_critical_5min|e.gold_critical_5min|x.gold_critical_5min|window_start,entity_id|a.critical_events = b.critical_events AND a.is_final = 1"
bash "$REPO/tests/integration/telco/compare.sh" "$db" "$TMP/expected.db" "$crit_spec" "$full_spec" \
  "gold_events|e.gold_events|x.gold_events|window_start,entity_id,event_category|a.events = b.events AND a.critical_events = b.critical_events AND a.error_events = b.error_events AND a.is_final = 1" \
  "gold_performance_5min|e.gold_performance_5min|x.gold_performance_5min|window_start,entity_id,entity_type,location,metric_name|$perf_check" \
  "gold_performance_1h|e.gold_performance_1h|x.gold_performance_1h|window_start,entity_id,entity_type,location,metric_name|$perf_check" \
  "gold_entity_health|e.gold_entity_health|x.gold_entity_health|window_start,entity_id,entity_type,location|a.samples = b.samples AND $(r avg_cpu) AND $(r avg_packet_loss) AND a.cpu_penalty IS b.cpu_penalty AND a.packet_loss_penalty IS b.packet_loss_penalty AND a.health_score = b.health_score AND a.health_status = b.health_status" \
  "mv_entity_health|e.mv_entity_health|x.mv_entity_health|window_start,entity_id|a.critical_events = b.critical_events AND a.critical_events_penalty = b.critical_events_penalty AND a.health_score = b.health_score" \
  "dim_entities|e.dim_entities|x.dim_entities_text|entity_id,effective_from|a.entity_type = b.entity_type AND a.location = b.location AND a.vendor = b.vendor AND a.firmware = b.firmware AND a.effective_to IS b.effective_to AND a.version = b.version AND a.is_active = b.is_active" \
  || fail "telco tables differ from the brute-force answer"
# quarantine and late counts equal the reference's
while read -r kind n; do
  exp=$(sqlite3 "$TMP/expected.db" "SELECT n FROM counts WHERE name = '$kind'")
  [ "$n" = "$exp" ] || fail "quarantine $kind: engine $n, expected $exp"
done < <(sqlite3 -separator ' ' "$db" "
  SELECT 'log_parse', count(*) FROM quarantine WHERE table_name = 'logs_raw'
  UNION ALL SELECT 'log_expect', count(*) FROM quarantine WHERE table_name = 'silver_logs_parsed' AND reason LIKE 'expectation%'
  UNION ALL SELECT 'log_late', count(*) FROM quarantine WHERE table_name = 'silver_logs_parsed' AND reason LIKE 'late%'
  UNION ALL SELECT 'metric_malformed', count(*) FROM quarantine WHERE table_name = 'metrics_raw' AND reason LIKE 'malformed%'
  UNION ALL SELECT 'metric_type', count(*) FROM quarantine WHERE table_name = 'metrics_raw' AND reason LIKE 'field%'
  UNION ALL SELECT 'metric_expect', count(*) FROM quarantine WHERE table_name = 'silver_metrics_validated' AND reason LIKE 'expectation%'
  UNION ALL SELECT 'metric_late', count(*) FROM quarantine WHERE table_name = 'silver_metrics_validated' AND reason LIKE 'late%'")
changes=$(sqlite3 "$db" "SELECT count(*) FROM dim_entities WHERE NOT is_active")
[ "$changes" -gt 0 ] || fail "no attribute change reached the dimension"
ok "telco: $(cat "$TMP/ref.txt"); $changes closed dimension versions; gold, health and dimension equal the reference"
reconcile "$REPO/pipelines/telco.yaml" "$TMP/out" "logs_raw metrics_raw dim_entities~" 0 --set input="$TMP/in"
# Watermarks per input: the logs run ahead of the metrics in event time; with
# commits every 100 ms the metric windows must still count every silver row.
# The first run is killed (SIGKILL) after a few commits and a second one
# finishes: the join's pending pairs come back from the last commit, so the
# streaming entity health still equals the reference row by row.
run100=("$SLUICE" run "$REPO/pipelines/telco.yaml" --data "$TMP/out100" --set input="$TMP/in" --set commit_interval=100ms --once --status 0)
"${run100[@]}" 2>"$TMP/run100a.txt" &
pid=$!
# killed once some pairs are joined and others are pending (the last commit's join stats)
pending_sql="SELECT coalesce((SELECT json_extract(o.value, '\$.stats.pending') FROM
  (SELECT details FROM _sluice_events WHERE kind = 'commit' ORDER BY commit_id DESC LIMIT 1),
  json_each(details, '\$.ops') AS o WHERE json_extract(o.value, '\$.op') = 'gold_entity_health_full/join'), 0)
  * (SELECT count(*) > 0 FROM gold_entity_health_full)"
for _ in $(seq 1000); do
  n=$(sqlite3 "$TMP/out100/sluice.db" "$pending_sql" 2>/dev/null) || n=0
  [ "${n:-0}" -gt 0 ] && break
  kill -0 "$pid" 2>/dev/null || break
  sleep 0.02
done
killed=no
kill -9 "$pid" 2>/dev/null && killed=yes
wait "$pid" 2>/dev/null || true
read -r commits joined < <(sqlite3 -separator ' ' "$TMP/out100/sluice.db" "SELECT (SELECT count(*) FROM _sluice_events WHERE kind = 'commit'), (SELECT count(*) FROM gold_entity_health_full)" 2>/dev/null) || commits=0
pending=$(sqlite3 "$TMP/out100/sluice.db" "$pending_sql" 2>/dev/null) || pending=0
"${run100[@]}" 2>"$TMP/run100b.txt" || fail "the run after SIGKILL failed: $(tail -3 "$TMP/run100b.txt")"
bash "$REPO/tests/integration/telco/compare.sh" "$TMP/out100/sluice.db" "$TMP/expected.db" "$crit_spec" "$full_spec" ||
  fail "commit_interval 100ms, SIGKILL (killed: $killed after $commits commits) and restart: the streaming entity health differs from the reference"
ok "telco, commits every 100 ms, SIGKILL after $commits commits with $joined joined rows and $pending pending pairs (killed: $killed) and restart: gold_entity_health_full equals the reference"
# (silver is a Parquet lake table: read through the query command)
read -r silver p5 p1h e5 < <("$SLUICE" query "$REPO/pipelines/telco.yaml" --data "$TMP/out100" --format csv "SELECT (SELECT count(*) FROM silver_metrics_validated),
  (SELECT sum(samples) FROM gold_performance_5min), (SELECT sum(samples) FROM gold_performance_1h), (SELECT sum(samples) FROM gold_entity_metrics_5min)" | tail -1 | tr ',' ' ')
[ "$p5" = "$silver" ] && [ "$p1h" = "$silver" ] && [ "$e5" = "$silver" ] ||
  fail "commit_interval 100ms: silver $silver rows, gold_performance_5min $p5, gold_performance_1h $p1h, gold_entity_metrics_5min $e5"
ok "telco, commits every 100 ms: the 5-minute and hourly gold tables count all $silver silver rows"
