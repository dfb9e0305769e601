#!/usr/bin/env bash
# test_partial_lines.sh - `--once` while a writer appends lines in two halves:
# a half-written last line is not a record until its file has been idle for
# line_timeout, so every line is stored exactly once and nothing is
# quarantined, however the runs fall between the halves.
source "$(dirname "$0")/../lib.sh"
PIPE="$REPO/tests/integration/landing/lines.yaml"
IN="$TMP/in"; DATA="$TMP/data"
mkdir -p "$IN/json" "$IN/syslog" "$IN/csv"
n=40
[ "$SANITIZED" = 1 ] && n=20
writer() {
  for i in $(seq 1 "$n"); do
    line="{\"id\":$i,\"pad\":\"$(printf 'p%.0s' $(seq 1 $((i % 7 + 3))))\"}"
    half=$(( ${#line} / 2 ))
    printf '%s' "${line:0:$half}" >>"$IN/json/a.ndjson"
    sleep 0.0$((RANDOM % 9 + 1))
    printf '%s\n' "${line:$half}" >>"$IN/json/a.ndjson"
    sleep 0.0$((RANDOM % 3))
  done
}
writer &
wpid=$!
runs=0
while kill -0 "$wpid" 2>/dev/null; do
  timeout 60 "$SLUICE" run "$PIPE" --data "$DATA" --set input="$IN" --once --status 0 \
    || fail "run $runs failed"
  runs=$((runs + 1))
done
wait "$wpid"
timeout 60 "$SLUICE" run "$PIPE" --data "$DATA" --set input="$IN" --once --status 0 || fail "last run failed"
q() { sqlite3 "$DATA/sluice.db" "$1"; }
[ "$(wc -l <"$IN/json/a.ndjson")" -eq "$n" ] || fail "the writer wrote $(wc -l <"$IN/json/a.ndjson") lines, not $n"
quar=$(q "SELECT count(*) FROM quarantine")
[ "$quar" -eq 0 ] || fail "$quar records quarantined: $(q "SELECT reason || ': ' || raw FROM quarantine LIMIT 4")"
got=$(q "SELECT count(*) || ' ' || count(DISTINCT id) || ' ' || min(id) || ' ' || max(id) FROM events")
[ "$got" = "$n $n 1 $n" ] || fail "events: count, distinct, min, max = $got, want $n $n 1 $n"
in=$(q "SELECT sum(records_in) FROM _sluice_events")
[ "$in" -eq "$n" ] || fail "records_in $in != $n"
ok "$n lines written in halves during $runs --once runs: each stored once, none quarantined"
