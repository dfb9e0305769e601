#!/usr/bin/env bash
# Calendar windows against a brute force. Events every few minutes around
# 2024-01-31..2024-03-02 (leap day), the DST changes of New York (03-10, 11-03)
# and Berlin (03-31, 10-27) and new year 2025, plus rows one second and one
# millisecond before and at every local midnight of both zones, go through
# 1d, 1w and 1mo windows in Europe/Berlin and America/New_York, a 1d -> 1mo
# rollup and a 1h -> 1d rollup (calendar.yaml); with --once every row
# (window_start, key, count, sum) must equal python3's zoneinfo recomputation
# (expect.py), and be final. Then the same input again with SIGKILLs after
# commits landed and restarts: the same rows. Last, the specs it refuses, each
# with file:line:col: slide with a calendar size, a multiple (2d), an unknown
# or unsafe zone, 1h -> 1d in Asia/Kolkata (+05:30: hours do not nest in its
# days), 1w -> 1mo.
source "$(dirname "$0")/../lib.sh"
need python3
need sqlite3
python3 -c 'import zoneinfo; zoneinfo.ZoneInfo("Europe/Berlin")' 2>/dev/null ||
  skip "python3 has no zoneinfo with tzdata (apt-get install tzdata)"
DIR="$REPO/tests/integration/windows"
PIPE="$DIR/calendar.yaml"
step=2 # minutes between events: ~47k events
[ "$SANITIZED" = 1 ] && step=6
mkdir -p "$TMP/in"
events=$(python3 "$DIR/gen.py" "$TMP/in" "$step" 40)
python3 "$DIR/expect.py" "$TMP/in" >"$TMP/expected"
tables="day_berlin week_berlin month_berlin day_ny week_ny month_ny month_from_days_berlin hour_berlin
  day_from_hours_berlin"

# compare DATA LABEL: every final row of every table equals the brute force, and no row is open
compare() {
  local db=$1/sluice.db t open
  : >"$TMP/got"
  for t in $tables; do
    open=$(sqlite3 "$db" "SELECT count(*) FROM $t WHERE NOT is_final")
    [ "$open" = 0 ] || fail "$2: $t has $open rows not final"
    sqlite3 -separator '|' "$db" "SELECT '$t', window_start, k, n, s FROM $t" >>"$TMP/got"
  done
  sort -o "$TMP/got" "$TMP/got"
  if ! diff "$TMP/expected" "$TMP/got" >"$TMP/diff"; then
    head -20 "$TMP/diff" >&2
    fail "$2: $(grep -c '^[<>]' "$TMP/diff") rows differ from the zoneinfo brute force"
  fi
  local q
  q=$(sqlite3 "$db" "SELECT count(*) FROM quarantine")
  [ "$q" = 0 ] || fail "$2: $q rows quarantined"
}

run() {
  exec "$SLUICE" run "$PIPE" --data "$1" --set input="$TMP/in" --set commit_interval="$2" --once \
    --status 0
}
(run "$TMP/d1" 1s 2>"$TMP/run1.log") || fail "run failed: $(tail -3 "$TMP/run1.log")"
compare "$TMP/d1" "--once"
ok "--once: $events events, $(wc -l <"$TMP/expected") window rows equal the brute force"
# the Berlin days of the DST changes are 23 and 25 hours long
d=$(sqlite3 "$TMP/d1/sluice.db" "SELECT group_concat(window_start, ' ') FROM (SELECT DISTINCT window_start
  FROM day_berlin WHERE window_start BETWEEN '2024-03-29T12' AND '2024-04-01T12' ORDER BY 1)")
[ "$d" = "2024-03-29T23:00:00Z 2024-03-30T23:00:00Z 2024-03-31T22:00:00Z" ] || fail "Berlin days around 03-31: $d"
d=$(sqlite3 "$TMP/d1/sluice.db" "SELECT group_concat(window_start, ' ') FROM (SELECT DISTINCT window_start
  FROM day_berlin WHERE window_start BETWEEN '2024-10-25T12' AND '2024-10-28' ORDER BY 1)")
[ "$d" = "2024-10-25T22:00:00Z 2024-10-26T22:00:00Z 2024-10-27T23:00:00Z" ] || fail "Berlin days around 10-27: $d"

# SIGKILL once at least one commit is stored (and before the input is done), restart, repeat
committed() { sqlite3 "$TMP/d2/sluice.db" "SELECT coalesce(sum(records_in), 0) FROM _sluice_events" 2>/dev/null || echo 0; }
kills=0
tries=0
while [ "$kills" -lt 2 ] && [ "$tries" -lt 10 ]; do
  tries=$((tries + 1))
  before=$(committed)
  (run "$TMP/d2" 20ms 2>>"$TMP/run2.log") &
  pid=$!
  for _ in $(seq 400); do
    now=$(committed)
    [ "$now" -gt "$before" ] && break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.01
  done
  if kill -9 "$pid" 2>/dev/null; then
    wait "$pid" 2>/dev/null || true
    now=$(committed)
    if [ "$now" -lt "$events" ]; then
      kills=$((kills + 1))
      continue
    fi
  else
    wait "$pid" || fail "run exited with an error: $(tail -3 "$TMP/run2.log")"
  fi
  [ "$kills" -gt 0 ] && break # finished after a kill already landed: enough
  rm -rf "$TMP/d2"            # finished before any kill: again from scratch
done
[ "$kills" -ge 1 ] || fail "no SIGKILL landed mid-way in $tries tries"
(run "$TMP/d2" 20ms 2>>"$TMP/run2.log") || fail "final run failed: $(tail -3 "$TMP/run2.log")"
compare "$TMP/d2" "after $kills SIGKILLs"
commits=$(sqlite3 "$TMP/d2/sluice.db" "SELECT count(*) FROM _sluice_events")
ok "SIGKILL: $kills kills mid-way, $commits commits, every window row equals the brute force"

# refused specs: the error names the file, line and column
refuse() { # NAME WINDOW-TABLE-YAML EXPECTED-MESSAGE-PART
  local f="$TMP/$1.yaml" out
  {
    printf 'pipeline: %s\nsources:\n  e: {type: dir, path: "%s", pattern: "*.ndjson", format: json, schema: {ms: int}}\n' "$1" "$TMP/in"
    printf 'tables:\n  t:\n    from: e\n    steps: [{derive: {event_ts: "from_unixtime_ms(ms)"}}]\n%s\n' "$2"
  } >"$f"
  if out=$("$SLUICE" check "$f" 2>&1); then fail "$1: accepted"; fi
  case "$out" in
  *"$f":[0-9]*:[0-9]*": "*"$3"*) ;;
  *) fail "$1: expected a file:line:col error with '$3', got: $out" ;;
  esac
}
W='aggregates: {n: "count(*)"}'
refuse slide "  w: {from: t, window: {size: 1d, slide: 1h, $W}}" "are tumbling: no slide"
refuse multiple "  w: {from: t, window: {size: 2d, $W}}" "calendar windows are 1d, 1w or 1mo"
refuse badzone "  w: {from: t, window: {size: 1d, timezone: Mars/Olympus, $W}}" "unknown time zone 'Mars/Olympus'"
refuse dotdot "  w: {from: t, window: {size: 1d, timezone: ../../etc/passwd, $W}}" "bad time zone name"
refuse kolkata "  w: {from: t, window: {size: 1h, timezone: Asia/Kolkata, $W}}
  r: {from: w, rollup: {size: 1d}}" "do not nest in the days of Asia/Kolkata"
refuse weekmonth "  w: {from: t, window: {size: 1w, $W}}
  r: {from: w, rollup: {size: 1mo}}" "only 1d windows roll up"
ok "refused: slide, 2d, unknown and unsafe zones, 1h -> 1d in Asia/Kolkata, 1w -> 1mo"
