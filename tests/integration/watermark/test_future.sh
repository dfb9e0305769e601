#!/usr/bin/env bash
# A far-future event time must not poison the pipeline: among records dated a
# few minutes before now, one dated 2100-01-01 (in the middle of the file) is
# quarantined with a `future:` reason and counted as quarantined, not late;
# every other record is stored. A second run over a new file, dated after the
# first one's records, accepts every record: the watermark in the checkpoint
# never saw 2100. Records with an epoch number out of range (NULL after
# from_unixtime_ms) are quarantined with "no event time: ...".
source "$(dirname "$0")/../lib.sh"
need sqlite3
now_ms=$(($(date +%s) * 1000))
n=200
mkdir -p "$TMP/in"
awk -v n="$n" -v t0="$((now_ms - 600000))" 'BEGIN {
  for (i = 0; i < n; i++) {
    printf "{\"id\":%d,\"ms\":%.0f}\n", i, t0 + i * 1000
    if (i == n / 2) printf "{\"id\":-1,\"ms\":4102444800000}\n"             # 2100-01-01
    if (i == n / 2 + 1) printf "{\"id\":-2,\"ms\":9223372036854775807}\n"   # overflows: NULL
  }
}' >"$TMP/in/a-001.ndjson"
run() { "$SLUICE" run "$REPO/tests/integration/watermark/future.yaml" --data "$TMP/d" --set input="$TMP/in" --once --status 0; }
q() { sqlite3 "$TMP/d/sluice.db" "$1"; }
run
[ "$(q 'SELECT count(*) FROM timed')" = "$n" ] || fail "timed holds $(q 'SELECT count(*) FROM timed') rows, expected $n"
reason=$(q "SELECT reason FROM quarantine WHERE raw LIKE '%\"id\":-1,%'")
case "$reason" in
"future: event time 2100-01-01T00:00:00.000Z is more than 1d after the processing time "*) ;;
*) fail "the 2100 record's reason is '$reason'" ;;
esac
reason=$(q "SELECT reason FROM quarantine WHERE raw LIKE '%\"id\":-2,%'")
[ "$reason" = "no event time: the time expression gave NULL (a NULL input, or an epoch number out of range)" ] ||
  fail "the out-of-range record's reason is '$reason'"
[ "$(q 'SELECT count(*) FROM quarantine')" = 2 ] || fail "quarantine holds $(q 'SELECT count(*) FROM quarantine') rows, expected 2"
[ "$(q 'SELECT sum(quarantined) FROM _sluice_events')" = 2 ] || fail "the event log counts $(q 'SELECT sum(quarantined) FROM _sluice_events') quarantined"
[ "$(q 'SELECT sum(late) FROM _sluice_events')" = 1 ] || fail "the event log counts $(q 'SELECT sum(late) FROM _sluice_events') late (only the NULL-time record is)"
ok "first run: $n stored, the 2100 record quarantined as future"

# a second run: new records after the first run's are all accepted
awk -v n="$n" -v t0="$((now_ms - 600000 + n * 1000))" 'BEGIN {
  for (i = 0; i < n; i++) printf "{\"id\":%d,\"ms\":%.0f}\n", n + i, t0 + i * 1000
}' >"$TMP/in/a-002.ndjson"
run
[ "$(q 'SELECT count(*) FROM timed')" = $((2 * n)) ] || fail "after the second run timed holds $(q 'SELECT count(*) FROM timed') rows, expected $((2 * n))"
[ "$(q 'SELECT count(*) FROM quarantine')" = 2 ] || fail "the second run quarantined records"
ok "second run: $n more stored"
