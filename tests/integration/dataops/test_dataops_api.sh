#!/usr/bin/env bash
# The dataops tables from the jobs API: `sluice gen dataops --serve` serves the
# generated runs as a paged job-run listing; pipelines/dataops-api.yaml reads them
# with http_poll (token pages, cursor start_ms) while SIGKILLs interrupt it, then
# finishes with --once. Every table equals the brute force over the landing files
# (runs on time: a listing in start order has no late runs; the duplicates the
# files hold are listed twice and taken once).
source "$(dirname "$0")/../lib.sh"
need sqlite3
need python3
events=${DATAOPS_EVENTS:-30000}
[ "$SANITIZED" = 1 ] && events=10000
PIPE=$REPO/pipelines/dataops-api.yaml
export JOBS_API_TOKEN=api-t0ken-secret
"$SLUICE" gen dataops --events "$events" --jobs 20 --jump-after 3 --late 0 --seed 9 \
  --out "$TMP/in" --serve 127.0.0.1:0 >"$TMP/api.out" 2>"$TMP/gen.txt" &
api=$!
trap 'kill $api 2>/dev/null; cleanup' EXIT
for _ in $(seq 100); do grep -q "jobs API" "$TMP/api.out" && break; sleep 0.1; done
url=$(sed -n 's/^jobs API: //p' "$TMP/api.out")
[ -n "$url" ] || fail "the jobs API did not start: $(cat "$TMP/gen.txt")"
base=${url%/api/2.1/jobs/runs/list}
python3 "$REPO/tests/integration/dataops/dataops_ref.py" "$TMP/in" "$TMP/expected.db" >"$TMP/ref.txt"
source "$REPO/tests/integration/dataops/lib_dataops.sh"
export DATABRICKS_TOKEN=$JOBS_API_TOKEN

# a wrong token: the poll is refused (401) and nothing is stored
SLUICE_LOG=warn "$SLUICE" run "$PIPE" --data "$TMP/bad" --set input="$TMP/in" --set jobs_api="$base" \
  --set DATABRICKS_TOKEN=wrong --once --status 0 2>"$TMP/bad.log" || true
n=$("$SLUICE" query "$PIPE" --data "$TMP/bad" --set input="$TMP/in" --format csv "SELECT count(*) AS n FROM job_monitoring" 2>/dev/null | tail -1) || n=0
[ "$n" = 0 ] || fail "$n runs stored with a wrong token"
grep -q "401" "$TMP/bad.log" || fail "no 401 in the log: $(head -3 "$TMP/bad.log")"
! grep -q "$JOBS_API_TOKEN\|wrong" "$TMP/bad.log" || fail "a token in the log"
ok "a wrong token is refused (401) and stores nothing; no token in the log"

# SIGKILLs mid-stream, small pages, 100 ms polls and commits
kills=0
for i in 1 2 3; do
  SLUICE_LOG=error "$SLUICE" run "$PIPE" --data "$TMP/out" --set input="$TMP/in" --set jobs_api="$base" \
    --set poll_interval=100ms --set commit_interval=50ms --status 0 &
  pid=$!
  sleep 0.$((RANDOM % 6 + 3))
  kill -9 "$pid" 2>/dev/null && kills=$((kills + 1))
  wait "$pid" 2>/dev/null || true
done
"$SLUICE" run "$PIPE" --data "$TMP/out" --set input="$TMP/in" --set jobs_api="$base" --once --status 0
# (the silver tables are Parquet lake tables: sqlite3 reads a copy holding them)
db=$TMP/out.db
lake_db "$PIPE" "$TMP/out" "$db" --set input="$TMP/in" --set jobs_api="$base"
compare_dataops "$db" || fail "after $kills SIGKILLs the tables read from the API differ from the brute-force answer"
# the reference's counts, but for what a JSON listing cannot carry (truncated
# lines) and what it lists in start order (no late run, duplicates taken once)
for kind in job_monitoring resource_metrics has_job_id known_status end_after_start non_negative_duration utilisation_in_range; do
  exp=$(sqlite3 "$TMP/expected.db" "SELECT coalesce((SELECT n FROM counts WHERE name = '$kind'), 0)")
  case $kind in
    job_monitoring) got=$(sqlite3 "$db" "SELECT count(*) FROM job_monitoring") ;;
    resource_metrics) got=$(sqlite3 "$db" "SELECT count(*) FROM resource_metrics") ;;
    *) got=$(sqlite3 "$db" "SELECT count(*) FROM quarantine WHERE reason LIKE 'expectation ''$kind''%'") ;;
  esac
  [ "$got" = "$exp" ] || fail "$kind: $got, expected $exp"
done
ok "dataops from the jobs API: $kills SIGKILLs; every table equals the brute force over the files ($(cut -d';' -f1 "$TMP/ref.txt"))"
