#!/usr/bin/env bash
# Telco with --store postgresql://: gold, health (a view translated for
# PostgreSQL) and the scd2 dimension equal tests/tools/telco_ref's answer
#   1. after a SIGKILL right after a PostgreSQL commit (before the
#      checkpoint's) and a run during which PostgreSQL is stopped
#      (pg_ctl stop -m immediate) and restarted;
#   2. from a fresh data directory (its first start empties the tables: the
#      checkpoint knows no commit), after SIGKILLs at random moments.
# Every view is created in PostgreSQL too.
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/pg_lib.sh"
need sqlite3
pg_start
events=60000
kills=2
[ "$SANITIZED" = 1 ] && events=20000
"$SLUICE" gen telco --events "$events" --seed 11 --out "$TMP/in" 2>"$TMP/gen.txt"
run() {
  exec "$SLUICE" run "$REPO/pipelines/telco.yaml" --data "$TMP/out" --set input="$TMP/in" \
    --set commit_interval=100ms --once --status 0 --store "$PGURL" "$@"
}
(SLUICE_TEST_KILL_AFTER_PG_COMMIT=5 run 2>>"$TMP/run.log") 2>/dev/null && fail "the kill hook did not fire"
commits() { pgq "SELECT coalesce(sum(commit_id), 0) FROM _sluice_commits" 2>/dev/null || echo -1; }
grew() { [ "$(commits)" -gt "$1" ]; }
wait_for() { local t=$1; shift; for _ in $(seq $((t * 10))); do "$@" && return 0; sleep 0.1; done; return 1; }
c0=$(commits)
(run 2>>"$TMP/run.log") &
pid=$!
wait_for 20 grew "$c0" || fail "no commit reached PostgreSQL after the restart"
pg_stop_now
sleep 2
kill -0 "$pid" 2>/dev/null || fail "sluice did not wait for PostgreSQL: $(tail -2 "$TMP/run.log")"
pg_restart
wait "$pid" || fail "the run during the outage failed: $(tail -3 "$TMP/run.log")"
grep -q 'commit waiting for an output' "$TMP/run.log" || fail "the outage was not noticed"
"$BUILD/telco_ref" "$TMP/in" "$TMP/expected.db" >"$TMP/ref.txt"
check() { # check DATA WHAT: PostgreSQL's tables (with DATA's quarantine) equal the reference
  local data=$1 what=$2 v
  # every view exists in PostgreSQL and answers
  for v in $(sed -n '/^views:/,/^[a-z]/s/^  \([a-z_0-9]*\):.*/\1/p' "$REPO/pipelines/telco.yaml"); do
    pgq "SELECT count(*) FROM $v" >/dev/null || fail "$what: view $v does not answer in PostgreSQL"
  done
  cp "$data/sluice.db" "$TMP/cmp.db"
  pg_to_sqlite "$TMP/cmp.db" gold_events gold_performance_5min gold_performance_1h gold_entity_health \
    mv_entity_health dim_entities
  bash "$REPO/tests/integration/telco/compare.sh" "$TMP/cmp.db" "$TMP/expected.db" \
    "gold_events|e.gold_events|x.gold_events|window_start,entity_id,event_category|a.events = b.events AND a.critical_events = b.critical_events AND a.error_events = b.error_events AND a.is_final = 1" \
    "gold_performance_5min|e.gold_performance_5min|x.gold_performance_5min|window_start,entity_id,entity_type,location,metric_name|$perf_check" \
    "gold_performance_1h|e.gold_performance_1h|x.gold_performance_1h|window_start,entity_id,entity_type,location,metric_name|$perf_check" \
    "gold_entity_health|e.gold_entity_health|x.gold_entity_health|window_start,entity_id,entity_type,location|a.samples = b.samples AND $(r avg_cpu) AND $(r avg_packet_loss) AND a.cpu_penalty IS b.cpu_penalty AND a.packet_loss_penalty IS b.packet_loss_penalty AND a.health_score = b.health_score AND a.health_status = b.health_status" \
    "mv_entity_health|e.mv_entity_health|x.mv_entity_health|window_start,entity_id|a.critical_events = b.critical_events AND a.critical_events_penalty = b.critical_events_penalty AND a.health_score = b.health_score" \
    "dim_entities|e.dim_entities|x.dim_entities_text|entity_id,effective_from|a.entity_type = b.entity_type AND a.location = b.location AND a.vendor = b.vendor AND a.firmware = b.firmware AND a.effective_to IS b.effective_to AND a.version = b.version AND a.is_active = b.is_active" \
    || fail "$what: telco tables in PostgreSQL differ from the brute-force answer"
  [ "$(pgq "SELECT count(*) FROM dim_entities WHERE NOT is_active")" -gt 0 ] || fail "$what: no attribute change reached the dimension"
}
r() { printf '(a.%s IS b.%s OR abs(a.%s - b.%s) <= 1e-9 * max(1, abs(b.%s)))' "$1" "$1" "$1" "$1" "$1"; }
q() { printf '(abs(a.%s - b.%s) <= 0.01 * abs(b.%s) + 1e-9)' "$1" "$1" "$1"; }
perf_check="a.samples = b.samples AND a.min_value = b.min_value AND a.max_value = b.max_value AND $(r avg_value)
 AND (a.stddev_value IS b.stddev_value OR $(printf '(abs(a.stddev_value - b.stddev_value) <= 1e-6 * max(1, b.stddev_value))'))
 AND $(q p50_value) AND $(q p95_value) AND $(q p99_value) AND a.is_final = 1"
check "$TMP/out" "kill between the commits, then PostgreSQL stopped and restarted"
ok "telco on PostgreSQL: a kill between the commits and a stop/restart of PostgreSQL mid-run; every table equals the reference"

# 2. a fresh data directory, SIGKILLs at random moments
run2() {
  exec "$SLUICE" run "$REPO/pipelines/telco.yaml" --data "$TMP/out2" --set input="$TMP/in" \
    --set commit_interval=100ms --once --status 0 --store "$PGURL"
}
done_kills=0 attempts=0
RANDOM=777
while [ "$done_kills" -lt "$kills" ] && [ "$attempts" -lt $((kills * 4)) ]; do
  attempts=$((attempts + 1))
  (run2 2>>"$TMP/run.log") &
  pid=$!
  sleep "0.$((RANDOM % 5 + 1))$((RANDOM % 10))"
  if kill -9 "$pid" 2>/dev/null; then
    done_kills=$((done_kills + 1))
    wait "$pid" 2>/dev/null || true
  else
    wait "$pid" || fail "run exited with an error: $(tail -3 "$TMP/run.log")"
    break
  fi
done
(run2 2>>"$TMP/run.log") || fail "final run failed: $(tail -3 "$TMP/run.log")"
check "$TMP/out2" "fresh data directory, $done_kills SIGKILLs"
ok "telco on PostgreSQL from a fresh data directory with $done_kills SIGKILLs: every table equals the reference"
