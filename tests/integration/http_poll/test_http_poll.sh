#!/usr/bin/env bash
# test_http_poll.sh - the http_poll source against a local jobs API
# (jobs_api.py) whose runs grow during the test, with ties at the cursor
# value appearing late, token pagination over small pages, and 500 and 429
# (Retry-After) faults. Sluice is SIGKILLed and restarted three times while
# the data grows; every run the server has is then stored exactly once (the
# brute force: the server's own list). A document of the wrong shape is
# quarantined with the JSON path named; the bearer token is never logged.
# Usage: bash tests/integration/http_poll/test_http_poll.sh BUILD_DIR
source "$(dirname "$0")/../lib.sh"
need python3
need sqlite3
need curl
PIPE="$REPO/tests/integration/http_poll/jobs.yaml"
export JOBS_TOKEN="s3cret-$RANDOM$RANDOM"
GROW=$([ "$SANITIZED" = 1 ] && echo 4 || echo 6)
PIDS=()
trap 'for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null || true; done; cleanup' EXIT
python3 "$REPO/tests/integration/http_poll/jobs_api.py" "$TMP/port" "$JOBS_TOKEN" "$GROW" 7 11 2>"$TMP/api.err" &
PIDS+=($!)
for _ in $(seq 100); do [ -s "$TMP/port" ] && break; sleep 0.05; done
[ -s "$TMP/port" ] || { cat "$TMP/api.err" >&2; fail "the jobs API did not start"; }
API="http://127.0.0.1:$(cat "$TMP/port")"
DATA="$TMP/data"
RUN=("$SLUICE" run "$PIPE" --data "$DATA" --set api="$API" --status 0)
count() { sqlite3 "$DATA/sluice.db" "SELECT count(*) FROM job_runs" 2>/dev/null || echo 0; }
start() { SLUICE_LOG=info "${RUN[@]}" 2>>"$TMP/sluice.err" & SPID=$!; PIDS+=("$SPID"); }
start
for k in 1 2 3; do
  sleep "1.$((RANDOM % 5))"
  kill -KILL "$SPID"; wait "$SPID" 2>/dev/null || true
  ok "kill $k with $(count) runs stored"
  start
done
curl -sf "$API/admin/stop" >/dev/null
curl -sf "$API/admin/all" | python3 -c '
import json, sys
for r in json.load(sys.stdin)["runs"]:
    print("%d\t%d\t%s\t%d\t%d" % (r["run_id"], r["job_id"], r["state"], r["start_time"], r["end_time"]))' >"$TMP/all.tsv"
ALL=$(wc -l <"$TMP/all.tsv")
for _ in $(seq 300); do [ "$(count)" -ge "$ALL" ] && break; sleep 0.05; done
sleep 1 # two more polls: a repeat would show now
kill -TERM "$SPID"; wait "$SPID" || fail "sluice exited with an error after SIGTERM"
sqlite3 "$TMP/expected.db" <<SQL
CREATE TABLE runs(run_id INTEGER, job_id INTEGER, state TEXT, start_time INTEGER, end_time INTEGER);
.mode tabs
.import $TMP/all.tsv runs
SQL
got=$(sqlite3 "$DATA/sluice.db" "ATTACH '$TMP/expected.db' AS e;
  SELECT (SELECT count(*) FROM (SELECT run_id, job_id, state, start_time, end_time FROM job_runs
          EXCEPT SELECT * FROM e.runs)) || ',' ||
         (SELECT count(*) FROM (SELECT * FROM e.runs
          EXCEPT SELECT run_id, job_id, state, start_time, end_time FROM job_runs)) || ',' ||
         (SELECT count(*) FROM job_runs) || ',' || (SELECT count(DISTINCT run_id) FROM job_runs)")
[ "$got" = "0,0,$ALL,$ALL" ] || fail "job_runs vs the server (extra, missing, rows, distinct) = $got, want 0,0,$ALL,$ALL"
ties=$(sqlite3 "$TMP/expected.db" "SELECT count(*) FROM (SELECT start_time FROM runs GROUP BY 1 HAVING count(*) > 1)")
stats=$(curl -sf "$API/admin/stats")
ok "all $ALL runs stored exactly once ($ties start times shared by several runs; server: $stats)"
python3 -c 'import json,sys; s=json.loads(sys.argv[1]); sys.exit(0 if s["e500"] > 0 and s["e429"] > 0 and s["e401"] == 0 else 1)' "$stats" ||
  fail "the faults were not exercised: $stats"
grep -q '"http_poll request failed".*"status":429' "$TMP/sluice.err" || fail "no 429 retry logged"
grep -q '"http_poll request failed".*"status":500' "$TMP/sluice.err" || fail "no 500 retry logged"
! grep -q "$JOBS_TOKEN" "$TMP/sluice.err" || fail "the token was logged"
ok "500 and 429 retried; the token is not in the log"

# a document of the wrong shape: quarantined with the path, logged as an error
"$SLUICE" run "$PIPE" --data "$TMP/bad" --set api="$API/bad" --status 0 --once 2>"$TMP/bad.err" || true
reason=$(sqlite3 "$TMP/bad/sluice.db" "SELECT reason FROM quarantine" 2>/dev/null || true)
[ -n "$reason" ] || { cat "$TMP/bad.err" >&2; fail "nothing quarantined for a document of the wrong shape"; }
echo "$reason" | grep -q "'runs'" || fail "the quarantine reason does not name the path: $reason"
grep -q '"http_poll: unexpected document"' "$TMP/bad.err" || fail "no error logged for the wrong shape"
ok "wrong shape quarantined: $reason"
echo "PASS test_http_poll"
