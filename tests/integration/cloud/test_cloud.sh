#!/usr/bin/env bash
# End to end: generate a cloud provider's master data and usage events (schema v1/v2,
# duplicates, late and invalid records, cost spikes), run pipelines/cloud.yaml with
# --once and compare every mart row by row and the quarantine counts by reason with the
# brute force of cloud_ref.py; then again with SIGKILLs (commit_interval 50ms) while the
# usage files land.
source "$(dirname "$0")/../lib.sh"
need sqlite3
need python3
events=${CLOUD_EVENTS:-30000}
[ "$SANITIZED" = 1 ] && events=8000
PIPE=$REPO/pipelines/cloud.yaml
"$SLUICE" gen cloud --events "$events" --orgs 130 --seed 4 --out "$TMP/in" 2>"$TMP/gen.txt"
# the generator is a function of its arguments
"$SLUICE" gen cloud --events 3000 --orgs 20 --seed 4 --out "$TMP/g1" 2>/dev/null
"$SLUICE" gen cloud --events 3000 --orgs 20 --seed 4 --out "$TMP/g2" 2>/dev/null
diff -r "$TMP/g1" "$TMP/g2" >/dev/null || fail "gen cloud is not deterministic"
python3 "$REPO/tests/integration/cloud/cloud_ref.py" "$TMP/in" "$TMP/expected.db" >"$TMP/ref.txt"
source "$REPO/tests/integration/cloud/lib_cloud.sh"

"$SLUICE" run "$PIPE" --data "$TMP/out" --set input="$TMP/in" --once --status 0
# (the event-level silver tables are Parquet lake tables: sqlite3 reads a copy holding them)
lake_db "$PIPE" "$TMP/out" "$TMP/out.db" --set input="$TMP/in"
compare_cloud "$TMP/out.db" || fail "cloud marts differ from the brute-force answer"
check_counts "$TMP/out.db"
for k in malformed late known_schema_version cost_increment_valid duplicates join_resources cost_anomaly_mart; do
  [ "$(sqlite3 "$TMP/expected.db" "SELECT n FROM counts WHERE name = '$k'")" -gt 0 ] ||
    fail "the generated input has no $k records"
done
# the temporal join saw plan changes: some org used two tiers within the span
[ "$(sqlite3 "$TMP/out.db" "SELECT count(*) FROM (SELECT org_id FROM usage_enriched GROUP BY org_id HAVING count(DISTINCT plan_tier) > 1)")" -gt 0 ] ||
  fail "no org changed its plan while using resources"
ok "cloud: $(cat "$TMP/ref.txt")"

# SIGKILLs while the usage files land: the master data is there first (the batch
# layer), the usage files are published in order while a live pipeline reads them and
# is killed at random moments; one --once run finishes; every mart equals the reference.
mkdir -p "$TMP/live/usage"
cp -r "$TMP/in/master" "$TMP/live/"
mapfile -t files < <(cd "$TMP/in" && ls usage/*.jsonl | sort)
n=${#files[@]}
kills=0
i=0
RANDOM=404
while [ "$i" -lt "$n" ]; do
  SLUICE_LOG=error "$SLUICE" run "$PIPE" --data "$TMP/live-out" --set input="$TMP/live" --set commit_interval=50ms --status 0 &
  pid=$!
  step=$((n / 5 + 1))
  for f in "${files[@]:$i:$step}"; do
    cp "$TMP/in/$f" "$TMP/live/$f.tmp" && mv "$TMP/live/$f.tmp" "$TMP/live/$f"
    sleep 0.02
  done
  i=$((i + step))
  sleep 0.$((RANDOM % 5 + 1))
  kill -9 "$pid" 2>/dev/null && kills=$((kills + 1))
  wait "$pid" 2>/dev/null || true
done
"$SLUICE" run "$PIPE" --data "$TMP/live-out" --set input="$TMP/live" --once --status 0
lake_db "$PIPE" "$TMP/live-out" "$TMP/live-out.db" --set input="$TMP/live"
compare_cloud "$TMP/live-out.db" || fail "after $kills SIGKILLs the cloud marts differ from the brute-force answer"
check_counts "$TMP/live-out.db"
ok "cloud: $kills SIGKILLs while the usage files landed; every mart and count equals the reference"
