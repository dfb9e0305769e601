#!/usr/bin/env bash
# Accuracy of the analytics aggregates and operators against brute force.
#
# Generates heavy-tailed, Zipf-keyed input with planted bursts
# (tests/tools/analytics_gen), runs tests/integration/analytics/analytics.yaml
# with --once, recomputes every output exactly (tests/tools/analytics_ref,
# which shares no code with src/ops or src/sketch) and checks, row by row:
#   - every quantile (5-minute, hourly rollup, hopping) within the declared
#     relative error `accuracy` (1%) of the exact rank-floor(q*(n-1)) value;
#   - approx_count_distinct exact up to 1024 distinct values, else within
#     4 standard errors (1.04/sqrt(2^14) = 0.81% each) of the exact count;
#   - stddev/variance within 1e-9 relative; counts, min, max, count_distinct,
#     min_by/max_by exactly equal;
#   - anomaly: is_anomaly and severity identical, baseline mean/stddev,
#     zscore and robust_z within 1e-9; health penalties, score, status and
#     trend identical.
# The same rows must exist on both sides (no window missing or extra).
# Run with the build dir as $1; under sanitizers the input is smaller.
source "$(dirname "$0")/../lib.sh"
# lib.sh's `nm | grep -q` check can miss (grep -q closes the pipe early and
# pipefail turns nm's SIGPIPE into "no"): also ask the build's cache.
grep -q '^SL_SAN:BOOL=ON' "$BUILD/CMakeCache.txt" 2>/dev/null && SANITIZED=1
events=${ANALYTICS_EVENTS:-300000}
hours=6
[ "$SANITIZED" = 1 ] && events=40000 && hours=3
acc=${ANALYTICS_ACCURACY:-0.01}
"$BUILD/analytics_gen" --out "$TMP/in" --events "$events" --hours "$hours" --seed "${ANALYTICS_SEED:-7}"
"$SLUICE" run "$REPO/tests/integration/analytics/analytics.yaml" --data "$TMP/out" --set input="$TMP/in" \
  --set accuracy="$acc" --once --status 0
"$BUILD/analytics_ref" "$TMP/in" "$TMP/expected.db"
db="$TMP/out/sluice.db"
se=$(echo "1.04 / sqrt(16384)" | bc -l)

# q ENGINE_COL EXPECTED_COL: 1 when the engine's quantile is within the bound (NULL = NULL)
qok() { echo "((e.$1 IS NULL AND x.$2 IS NULL) OR abs(e.$1 - x.$2) <= $acc * abs(x.$2) * (1 + 1e-9))"; }
rel() { echo "((e.$1 IS NULL AND x.$1 IS NULL) OR abs(e.$1 - x.$1) <= 1e-9 * abs(x.$1) + 1e-12)"; }
same() { echo "(e.$1 IS x.$1)"; }
hll="(CASE WHEN x.users_exact <= 1024 THEN e.users = x.users_exact
           ELSE abs(e.users - x.users_exact) <= 4 * $se * x.users_exact END)"

sql() { sqlite3 -batch -bail "$db" "ATTACH '$TMP/expected.db' AS x; $1"; }

# check NAME TABLE CONDITION: every row pair satisfies CONDITION and rows match 1:1
check() {
  local name=$1 table=$2 cond=$3
  local r
  r=$(sql "SELECT (SELECT count(*) FROM main.$table),
                  (SELECT count(*) FROM x.$table),
                  (SELECT count(*) FROM main.$table e JOIN x.$table x USING (window_start, key)),
                  (SELECT count(*) FROM main.$table e JOIN x.$table x USING (window_start, key) WHERE NOT ($cond)),
                  (SELECT count(*) FROM main.$table WHERE NOT is_final)")
  IFS='|' read -r ne nx nj nbad nopen <<<"$r"
  if [ "$ne" != "$nx" ] || [ "$nj" != "$nx" ] || [ "$nbad" != 0 ] || [ "$nopen" != 0 ]; then
    echo "FAIL $name: engine rows $ne, expected $nx, matched $nj, violations $nbad, not final $nopen" >&2
    sqlite3 -batch "$db" "ATTACH '$TMP/expected.db' AS x" ".mode line" \
      "SELECT * FROM main.$table e JOIN x.$table x USING (window_start, key) WHERE NOT ($cond) LIMIT 2" >&2
    return 1
  fi
  echo "ok $name: $nx rows"
}

stats_cond="$(qok p01 p01) AND $(qok p50 p50) AND $(qok p90 p90) AND $(qok p99 p99) AND $(qok p999 p999)
  AND $(rel sd) AND $(rel var) AND $hll AND $(same n) AND $(same nv) AND $(same users_exact)
  AND $(same vmin) AND $(same vmax) AND $(same top_user) AND $(same low_user) AND $(same peak_user)"
failed=0
check "stats_5m (quantiles, stddev, HLL, min_by/max_by)" stats_5m "$stats_cond" || failed=1
check "stats_1h (rollup of merged 5m sketches)" stats_1h "$stats_cond" || failed=1
check "stats_hop (10m every 5m)" stats_hop "$(same n) AND $(qok p50 p50) AND $(qok p95 p95) AND $(same top_user)" || failed=1

# key_health has no is_final filter of its own: its rows mirror stats_5m's final rows
health_cond="$(same n) AND $(rel baseline_mean) AND $(rel baseline_stddev) AND $(rel zscore) AND $(rel robust_z)
  AND (e.is_anomaly = x.is_anomaly) AND $(same severity) AND $(same volume_penalty) AND $(same anomaly_penalty)
  AND $(same peak_penalty) AND $(same health_score) AND $(same health_trend) AND $(same health_status)"
check "key_health (zscore/MAD flags, severity, health)" key_health "$health_cond" || failed=1

# nothing was late or quarantined, and every line was read
read -r in quar <<<"$(sqlite3 -separator ' ' "$db" "SELECT sum(records_in), (SELECT count(*) FROM quarantine) FROM _sluice_events")"
lines=$(sqlite3 "$TMP/expected.db" "SELECT n FROM counts WHERE name='lines'")
[ "$in" = "$lines" ] || { echo "FAIL records_in $in != lines $lines" >&2; failed=1; }
[ "$quar" = 0 ] || { echo "FAIL $quar quarantined records (expected none)" >&2; failed=1; }

# what the bounds left unused: the worst observed errors, for the record
sql "SELECT 'hourly rollup: worst quantile rel. error ' || printf('%.6f', max(max(abs(e.p01-x.p01)/nullif(abs(x.p01),0)),
            max(abs(e.p50-x.p50)/nullif(abs(x.p50),0)), max(abs(e.p90-x.p90)/nullif(abs(x.p90),0)),
            max(abs(e.p99-x.p99)/nullif(abs(x.p99),0)), max(abs(e.p999-x.p999)/nullif(abs(x.p999),0))))
            || ' (bound $acc); worst HLL error: ' || printf('%.2f', max(abs(e.users - x.users_exact) * 1.0 / x.users_exact) / $se)
            || ' SE over ' || sum(x.users_exact > 1024) || ' groups in register mode'
     FROM main.stats_1h e JOIN x.stats_1h x USING (window_start, key)"
sql "SELECT 'anomalies flagged: ' || sum(is_anomaly) || ' of ' || count(*) || ' rows (' ||
            sum(severity = 'critical') || ' critical)' FROM main.key_health"
[ $failed = 0 ] || fail "analytics outputs differ from the brute-force answer"
ok "analytics: every quantile within $acc, HLL within 4 SE, flags and health identical to brute force"
