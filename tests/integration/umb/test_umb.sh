#!/usr/bin/env bash
# test_umb.sh - the umb flavor against the Kafka mock cluster, messages
# produced by kcat (headers per message group). Every consumed message is
# accounted for exactly: consumed = stored + filtered + quarantined, each
# figure equal to the brute-force answer (umb_ref.sh), and the stored
# summaries equal the expected multiset.
# Usage: bash tests/integration/umb/test_umb.sh BUILD_DIR
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/lib_umb.sh"
need kcat
msgs=30000   # the mock keeps ~5 MB per partition
start_mock m --topic maas_notifications:4
"$SLUICE" gen umb --out "$TMP/gen" --messages $msgs --seed 3 2>/dev/null
umb_produce "$TMP/gen" maas_notifications
bash "$REPO/tests/integration/umb/umb_ref.sh" "$TMP/gen" "$ALLOW" "$TMP/ref.db"
"$SLUICE" run "$UMB" --data "$TMP/out" --set brokers="$BOOT" "${UMB_SETS[@]}" --once --status 0 2>"$TMP/run.err" ||
  { cat "$TMP/run.err" >&2; fail "sluice run failed"; }
consumed=$(sqlite3 "$TMP/out/sluice.db" "SELECT sum(position) FROM _sluice_positions WHERE source='notifications'")
if [ "$consumed" -ne "$msgs" ]; then
  # tell a short topic (producer) from an early stop (consumer)
  onkafka=$(kcat -C -b "$BOOT" -t maas_notifications -o beginning -e -q -f '.\n' 2>/dev/null | wc -l)
  tail -20 "$TMP/run.err" >&2
  fail "consumed $consumed of $msgs messages (the topic holds $onkafka)"
fi
umb_compare "$TMP/out" "$TMP/ref.db" || fail "stored summaries differ from the reference"
read -r e_cons e_stored e_filt e_quar <<<"$(sqlite3 -separator ' ' "$TMP/ref.db" \
  "SELECT (SELECT n FROM counts WHERE name='consumed'), (SELECT n FROM counts WHERE name='stored'),
          (SELECT n FROM counts WHERE name='filtered'), (SELECT n FROM counts WHERE name='quarantined')")"
[ "$e_cons" -eq "$msgs" ] || fail "reference saw $e_cons messages, generator wrote $msgs"
# the engine's own accounting: kafka header filter (/metrics) + payload filter + quarantine
read -r in filt quar <<<"$(sqlite3 -separator ' ' "$TMP/out/sluice.db" \
  "SELECT sum(records_in), sum(filtered), sum(quarantined) FROM _sluice_events")"
stored=$("$SLUICE" query "$UMB" --data "$TMP/out" --format csv "SELECT count(*) AS n FROM umb_summaries" | tail -1)
hdr_filtered=$(sqlite3 "$TMP/out/sluice.db" "SELECT sum(position) FROM _sluice_positions WHERE source='notifications'")
hdr_filtered=$((hdr_filtered - in))   # positions cover every message; records_in only the parsed ones
[ "$stored" -eq "$e_stored" ] || fail "stored $stored, expected $e_stored"
[ "$quar" -eq "$e_quar" ] || fail "quarantined $quar, expected $e_quar"
[ $((filt + hdr_filtered)) -eq "$e_filt" ] || fail "filtered $filt + header-filtered $hdr_filtered, expected $e_filt"
[ $((stored + filt + hdr_filtered + quar)) -eq "$msgs" ] || fail "consumed $msgs != stored + filtered + quarantined"
grep -q "consumed=$msgs filtered=$hdr_filtered" "$TMP/run.err" || sed -n '/done/p' "$TMP/run.err" >&2
ok "umb: $msgs consumed = $stored stored + $((filt + hdr_filtered)) filtered ($hdr_filtered by header) + $quar quarantined"
q=$(sqlite3 "$TMP/out/sluice.db" "SELECT count(*) FROM quarantine WHERE reason LIKE 'expectation ''tuple_extracted''%' OR reason LIKE 'malformed%'")
[ "$q" -eq "$quar" ] || fail "quarantine reasons: $q of $quar name the tuple or malformed JSON"
ok "every quarantined message carries its reason"
# the payload filter is in umb_summaries, the first table (header-filtered messages never count in records_in)
reconcile "$UMB" "$TMP/out" umb_summaries "sum(filtered)" --set brokers="$BOOT" "${UMB_SETS[@]}"
exec 3>&-
wait "$MPID" || true
echo "PASS test_umb"
