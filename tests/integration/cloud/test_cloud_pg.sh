#!/usr/bin/env bash
# The cloud flavor with --store postgresql://: the marts read back from PostgreSQL equal
# cloud_ref.py's answer (after SIGKILLs at random moments, then a --once run to the end),
# and the seed's three example queries, unchanged, answer the same rows on PostgreSQL as
# on the embedded store.
source "$(dirname "$0")/../lib.sh"
source "$REPO/tests/integration/postgresql/pg_lib.sh"
need sqlite3
pg_start
events=20000
[ "$SANITIZED" = 1 ] && events=6000
PIPE=$REPO/pipelines/cloud.yaml
"$SLUICE" gen cloud --events "$events" --orgs 130 --seed 5 --out "$TMP/in" 2>"$TMP/gen.txt"
python3 "$REPO/tests/integration/cloud/cloud_ref.py" "$TMP/in" "$TMP/expected.db" >"$TMP/ref.txt"
source "$REPO/tests/integration/cloud/lib_cloud.sh"

# the embedded store
"$SLUICE" run "$PIPE" --data "$TMP/lite" --set input="$TMP/in" --once --status 0 2>>"$TMP/run.log" ||
  fail "run on the embedded store failed: $(tail -3 "$TMP/run.log")"
# PostgreSQL, SIGKILLed at random moments, then finished
run_pg() {
  exec "$SLUICE" run "$PIPE" --data "$TMP/pgdata" --set input="$TMP/in" --set commit_interval=100ms \
    --once --status 0 --store "$PGURL"
}
kills=0
RANDOM=44
for _ in 1 2; do
  (run_pg 2>>"$TMP/run.log") &
  pid=$!
  sleep "0.$((RANDOM % 4 + 1))"
  if kill -9 "$pid" 2>/dev/null; then kills=$((kills + 1)); fi
  wait "$pid" 2>/dev/null || true
done
(run_pg 2>>"$TMP/run.log") || fail "run on PostgreSQL failed: $(tail -3 "$TMP/run.log")"

cp "$TMP/pgdata/sluice.db" "$TMP/cmp.db"
# shellcheck disable=SC2086
pg_to_sqlite "$TMP/cmp.db" $CLOUD_MARTS
compare_cloud "$TMP/cmp.db" || fail "marts in PostgreSQL differ from the brute-force answer ($kills SIGKILLs)"
ok "cloud on PostgreSQL: $kills SIGKILLs; every mart equals the reference"

# The seed's queries, unchanged (as subqueries, to leave out the columns that differ by
# store: audit times and the PostgreSQL commit id), for the seed's org and dates and for
# the busiest org of the generated data.
busy=$(sqlite3 "$TMP/lite/sluice.db" "SELECT org_id FROM org_daily_usage_by_service GROUP BY org_id ORDER BY count(*) DESC, org_id LIMIT 1")
day=$(sqlite3 "$TMP/lite/sluice.db" "SELECT date FROM org_daily_usage_by_service WHERE org_id = '$busy' ORDER BY date LIMIT 1 OFFSET 10")
# same COLUMNS ORDER SEED_QUERY: the query answers the same rows on both stores (numbers
# equal to a relative 1e-9: the stores print doubles differently); prints the row count
same() {
  "$SLUICE" query "$PIPE" --data "$TMP/lite" --set input="$TMP/in" --format csv \
    "SELECT $1 FROM ($3) q ORDER BY $2" >"$TMP/q_lite.csv" || fail "embedded store: $3"
  "$SLUICE" query "$PIPE" --data "$TMP/pgdata" --set input="$TMP/in" --store "$PGURL" --format csv \
    "SELECT $1 FROM ($3) q ORDER BY $2" >"$TMP/q_pg.csv" || fail "PostgreSQL: $3"
  python3 - "$TMP/q_lite.csv" "$TMP/q_pg.csv" <<'PY' || fail "the stores answer differently: $3"
import csv, sys
a, b = (list(csv.reader(open(p))) for p in sys.argv[1:3])
def same(x, y):
    if x == y:
        return True
    try:
        fx, fy = float(x), float(y)
    except ValueError:
        return False
    return abs(fx - fy) <= 1e-9 * max(1.0, abs(fy))
ok = len(a) == len(b) and all(len(r) == len(s) and all(map(same, r, s)) for r, s in zip(a, b))
if not ok:
    print("embedded:", a[:4], "\npostgresql:", b[:4], file=sys.stderr)
    sys.exit(1)
print(len(a) - 1)
PY
}
n_total=0
for org in org_123 "$busy"; do
  d=2024-01-15; [ "$org" = "$busy" ] && d=$day
  n=$(same "org_id, service, date, events, total_cost_usd, genai_tokens, plan_tier" "service" \
    "SELECT * FROM org_daily_usage_by_service WHERE org_id = '$org' AND date = '$d'")
  n_total=$((n_total + n))
  n=$(same "org_id, year, month, events, revenue_usd, active_days" "year, month" \
    "SELECT * FROM revenue_by_org_month WHERE org_id = '$org' AND year = 2024 AND month = 1")
  n_total=$((n_total + n))
  n=$(same "org_id, date, event_id, service, cost_usd_increment, severity" "event_id" \
    "SELECT * FROM cost_anomaly_mart WHERE org_id = '$org' AND date >= '2024-01-01'")
  n_total=$((n_total + n))
done
[ "$n_total" -gt 0 ] || fail "the seed's queries found no rows on either store"
ok "cloud: the seed's three queries answer the same $n_total rows on the embedded store and on PostgreSQL"
