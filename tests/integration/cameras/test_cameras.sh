#!/usr/bin/env bash
# End to end: generate events with duplicates, late and malformed records, run the
# cameras pipeline with --once, and compare every table with the brute-force answer.
source "$(dirname "$0")/../lib.sh"
events=${CAMERAS_EVENTS:-250000}
[ "$SANITIZED" = 1 ] && events=60000
"$SLUICE" gen cameras --events "$events" --seed 42 --dup 0.05 --late 0.01 --malformed 0.002 --out "$TMP/in" 2>/dev/null
"$SLUICE" run "$REPO/pipelines/cameras.yaml" --data "$TMP/out" --set input="$TMP/in" \
  --set locations="$TMP/in/locations.csv" --once --status 0
"$BUILD/cameras_ref" "$TMP/in" "$TMP/in/locations.csv" "$TMP/expected.db" > "$TMP/ref.txt"
bash "$REPO/tests/integration/cameras/compare.sh" "$SLUICE" "$REPO/pipelines/cameras.yaml" "$TMP/out" "$TMP/expected.db" \
  || fail "tables differ from the brute-force answer"
# counts reconcile in the event log: in = silver + duplicates + quarantined
# (detection_events is a lake table: read through the query command)
read -r in silver dup quar <<<"$("$SLUICE" query "$REPO/pipelines/cameras.yaml" --data "$TMP/out" --format csv \
  "SELECT (SELECT sum(records_in) FROM _sluice_events), (SELECT count(*) FROM detection_events),
          (SELECT sum(duplicates) FROM _sluice_events), (SELECT sum(quarantined) FROM _sluice_events)" | tail -1 | tr ',' ' ')"
[ "$in" -eq $((silver + dup + quar)) ] || fail "records_in $in != silver $silver + duplicates $dup + quarantined $quar"
# a pipeline view over the lake table (re-made as a temp view on the query connection)
enriched=$("$SLUICE" query "$REPO/pipelines/cameras.yaml" --data "$TMP/out" --format csv \
  "SELECT count(*) FROM detection_events_enriched" | tail -1)
[ "$enriched" = "$silver" ] || fail "the view detection_events_enriched has $enriched rows, silver $silver"
qrows=$(sqlite3 "$TMP/out/sluice.db" "SELECT count(*) FROM quarantine")
[ "$qrows" -eq "$quar" ] || fail "quarantine table has $qrows rows, event log says $quar"
lines=$(sqlite3 "$TMP/expected.db" "SELECT n FROM counts WHERE name='lines'")
[ "$in" -eq "$lines" ] || fail "records_in $in != input lines $lines"
ok "cameras: $in records = $silver silver + $dup duplicates + $quar quarantined; all tables equal the reference"
# per first table: the bronze table keeps flagged duplicates, so they are not added
reconcile "$REPO/pipelines/cameras.yaml" "$TMP/out" raw_detection_events 0 \
  --set input="$TMP/in" --set locations="$TMP/in/locations.csv"
