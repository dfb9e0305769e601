#!/usr/bin/env bash
# test_parted_scale.sh - keyed state moves with its partition between
# instances (a Kafka source's partitioned_state: true). Events keyed by
# device go through dedupe (by id) and a 1-minute window per device with
# count, count_distinct, sum, min and max; duplicates share their original's
# partition. Instance a starts alone; b joins (a hands over half its
# partitions with their state in the revoke commit); b is SIGKILLed mid-run
# and a takes its partitions back from b's last checkpoint. The union of
# both instances' tables (sluice query) must equal the brute-force answer,
# and so must a single --once run.
# Usage: bash tests/integration/kafka/test_parted_scale.sh BUILD_DIR
source "$(dirname "$0")/../lib.sh"
need kcat
need sqlite3
PIPE="$REPO/tests/integration/kafka/parted.yaml"
N=20000
[ "$SANITIZED" = 1 ] && N=8000
start_mock m --topic ev:4
# every 20th event is sent twice (same id, a little later): dedupe drops it
awk -v n=$N 'BEGIN { srand(11)
  for (i = 1; i <= n; i++) {
    d = "d" (i % 24); ts = 1700000000000 + i * 20
    printf "%s\t{\"id\":%d,\"dev\":\"%s\",\"user\":\"u%d\",\"v\":%d,\"ts\":%.0f}\n", d, i, d, int(rand() * 30), int(rand() * 1000), ts
    if (i % 20 == 0) printf "%s\t{\"id\":%d,\"dev\":\"%s\",\"user\":\"dup\",\"v\":-1,\"ts\":%.0f}\n", d, i, d, ts + 7
  } }' >"$TMP/ev.tsv"
total=$(wc -l <"$TMP/ev.tsv")
first=$((total * 2 / 5)) second=$((total * 4 / 5))
produce() { kcat -P -b "$BOOT" -t ev -K$'\t' -X sticky.partitioning.linger.ms=0; }
# brute force: the first record of each id, then per device and minute
cut -f2 "$TMP/ev.tsv" >"$TMP/ev.json"
sqlite3 "$TMP/ref.db" <<SQL
CREATE TABLE raw(line TEXT);
.mode line
.import $TMP/ev.json raw
CREATE TABLE ev AS SELECT json_extract(line,'\$.id') AS id, json_extract(line,'\$.dev') AS dev, json_extract(line,'\$.user') AS user,
  json_extract(line,'\$.v') AS v, json_extract(line,'\$.ts') AS ts FROM raw WHERE rowid IN (SELECT min(rowid) FROM raw GROUP BY json_extract(line,'\$.id'));
CREATE TABLE win AS SELECT dev, ts / 60000 AS minute, count(*) AS n, count(DISTINCT user) AS users, sum(v) AS total, min(v) AS lo, max(v) AS hi
  FROM ev GROUP BY dev, ts / 60000;
SQL
[ "$(sqlite3 "$TMP/ref.db" 'SELECT count(*) FROM ev')" = "$N" ] || fail "reference: expected $N distinct events"
Q() { "$SLUICE" query "$PIPE" --set brokers="$BOOT" --format csv --data "$@"; }
WIN_SQL="SELECT dev, CAST(strftime('%s', window_start) AS INTEGER) / 60 AS minute, n, users, total, lo, hi FROM by_dev_1m ORDER BY dev, minute"
sqlite3 -csv "$TMP/ref.db" "SELECT * FROM win ORDER BY dev, minute" >"$TMP/want.csv"
compare() { # DATA_DIR WHAT
  Q "$1" "$WIN_SQL" | tail -n +2 | tr -d '\r' >"$TMP/got.csv"
  diff <(sort "$TMP/want.csv") <(sort "$TMP/got.csv") >"$TMP/diff" || { head -5 "$TMP/diff" >&2; fail "$2: windows differ from the brute force ($(wc -l <"$TMP/diff") diff lines)"; }
  local ev
  ev=$(Q "$1" "SELECT count(*) AS n, count(DISTINCT id) AS d FROM events" | tail -1 | tr -d '\r')
  [ "$ev" = "$N,$N" ] || fail "$2: events (count, distinct ids) = $ev, want $N,$N"
}
# the scale-out run sees the first 40% before b joins, the next 40% after,
# the last 20% when a restarts alone; a single --once run reads everything
head -n $first "$TMP/ev.tsv" | produce
sed -n "$((first + 1)),${second}p" "$TMP/ev.tsv" >"$TMP/ev2.tsv"
tail -n +$((second + 1)) "$TMP/ev.tsv" >"$TMP/ev3.tsv"
# STRATEGY: the group's assignor (test_parted_cooperative.sh: cooperative-sticky,
# where a rebalance revokes only the partitions that move)
RUN=("$SLUICE" run "$PIPE" --data "$TMP/out" --set brokers="$BOOT" --set group=scale --set batch_size=16 --set commit_interval=10ms --status 0
     --set strategy="${STRATEGY:-range,roundrobin}")
pos() { sqlite3 "$TMP/out/instance-$1/sluice.db" "SELECT coalesce(sum(position),0) FROM _sluice_positions" 2>/dev/null || echo 0; }
SLUICE_LOG=info "${RUN[@]}" --instance a 2>"$TMP/a.err" &
APID=$!
trap 'kill -9 $APID ${BPID:-} 2>/dev/null || true; cleanup' EXIT
for _ in $(seq 600); do [ "$(pos a)" -ge $first ] && break; sleep 0.05; done
[ "$(pos a)" -ge $first ] || fail "a did not read the first $first messages"
# b joins: a hands partitions over with their state (revoke commit)
SLUICE_LOG=info "${RUN[@]}" --instance b 2>"$TMP/b.err" &
BPID=$!
for _ in $(seq 600); do grep -q '"partition state restored".*instance-a/sluice.db' "$TMP/b.err" && break; sleep 0.05; done
grep -q '"partition state restored".*instance-a/sluice.db' "$TMP/b.err" || fail "b did not take state over from a"
produce <"$TMP/ev2.tsv"
# b reads some of the rest, and dies without a handoff
for _ in $(seq 600); do [ "$(pos b)" -gt 0 ] && break; sleep 0.02; done
{ kill -KILL $BPID; wait $BPID; } 2>/dev/null || true
b_at=$(pos b)
[ "$b_at" -gt 0 ] || fail "b committed nothing before it was killed"
ok "b took partitions (and their state) over from a, then was killed (its checkpoint at $b_at)"
covered() { covered_positions "$TMP/out"; }
for _ in $(seq 1200); do
  grep -q '"partition state restored".*instance-b/sluice.db' "$TMP/a.err" && [ "$(covered)" -ge "$second" ] && break
  sleep 0.1
done
[ "$(covered)" -eq "$second" ] || { tail -5 "$TMP/a.err" >&2; fail "the checkpoints cover $(covered) of $second messages"; }
grep -q '"partition state restored".*instance-b/sluice.db' "$TMP/a.err" || fail "a did not restore b's partitions' state from b's checkpoint"
kill -TERM $APID
wait $APID || fail "a exited with an error"
# a restarts alone with the rest: every partition's state comes from a's own
# checkpoint, or b's for the one b moved furthest; open windows continue
produce <"$TMP/ev3.tsv"
SLUICE_LOG=info "${RUN[@]}" --instance a --once 2>"$TMP/a2.err" || { tail -5 "$TMP/a2.err" >&2; fail "a's restart failed"; }
[ "$(covered)" -eq "$total" ] || fail "after the restart the checkpoints cover $(covered) of $total messages"
compare "$TMP/out" "two instances"
ok "scale-out with partitioned state: join, handoff, SIGKILL, restart; the union of both instances equals the brute force (dedupe and count_distinct included)"
# an instance's dashboard API sees every instance's rows, not only its own
SLUICE_LOG=info "${RUN[@]}" --instance a --listen 127.0.0.1:0 >"$TMP/srv.log" 2>&1 &
SPID=$!
port=""
for _ in $(seq 100); do
  port=$(grep -o '"server listening","url":"http://127.0.0.1:[0-9]*' "$TMP/srv.log" | grep -o '[0-9]*$' || true)
  [ -n "$port" ] && break
  sleep 0.1
done
[ -n "$port" ] || fail "server did not start: $(tail -3 "$TMP/srv.log")"
api() { curl -s --get --data-urlencode "sql=$1" "http://127.0.0.1:$port/api/query" | grep -o '\[\[[0-9]*\]\]' | tr -d '[]'; }
got=$(api "SELECT count(*) FROM events")
own=$(sqlite3 "$TMP/out/instance-a/sluice.db" "SELECT count(*) FROM events")
kill -TERM $SPID; wait $SPID || true
[ "$got" = "$N" ] || fail "instance a's /api/query counts $got events, want $N (a alone holds $own)"
ok "instance a's /api/query sees all $N events ($own stored by a itself)"
# one process: the partitioned pipeline's answer is the brute force's
"$SLUICE" run "$PIPE" --data "$TMP/single" --set brokers="$BOOT" --set group=single --once 2>"$TMP/single.err" || { tail -5 "$TMP/single.err" >&2; fail "single run failed"; }
compare "$TMP/single" "single process"
ok "single process: $N events ($((total - N)) duplicates dropped), $(wc -l <"$TMP/want.csv") device-minutes equal the brute force"
# scd2 versions and health/anomaly rows: the instances' union equals the single process
for q in "SELECT dev, band, effective_from, effective_to, is_active, version FROM dev_versions" \
         "SELECT window_start, dev, n, total, health_score, health_status, health_trend, baseline_mean, zscore, is_anomaly FROM dev_health"; do
  Q "$TMP/single" "$q" | sort >"$TMP/one.csv"
  Q "$TMP/out" "$q" | sort >"$TMP/two.csv"
  [ "$(wc -l <"$TMP/one.csv")" -gt 10 ] || fail "too few rows for: $q"
  diff "$TMP/one.csv" "$TMP/two.csv" >"$TMP/diff2" || { head -6 "$TMP/diff2" >&2; fail "instances differ from the single process: $q"; }
done
ok "scd2 versions ($(wc -l <"$TMP/one.csv") health rows) equal the single process across the moves"

exec 3>&-
wait "$MPID" || true
echo "PASS test_parted_scale"
