#!/usr/bin/env bash
# Watermarks per input: two dir sources 30 minutes apart in event time, read
# in small interleaved batches with a 100 ms commit interval. The fast one must
# not finalise the slow one's windows: every window of each source, and of
# their union, holds exactly the rows of the input (computed here with awk),
# every row is final, and nothing is late. Then the same again split over two
# runs (the watermarks come back from the checkpoint) and with a restart after
# SIGKILL.
source "$(dirname "$0")/../lib.sh"
command -v sqlite3 >/dev/null || { echo "skip: sqlite3 not installed"; exit 77; }
n=${WM_EVENTS:-6000}
[ "$SANITIZED" = 1 ] && n=2000
base=1767225600000 # 2026-01-01T00:00:00Z in ms
# events i = 0..n-1 every 100 ms, up to 20 s out of order (within the 1 m delay)
gen() { # gen DIR OFFSET_MS FILES
  mkdir -p "$1"
  awk -v n="$n" -v base="$base" -v off="$2" -v files="$3" -v dir="$1" 'BEGIN {
    per = int((n + files - 1) / files)
    for (i = 0; i < n; i++) {
      ms = base + off + i * 100 + ((i * 7919) % 20000) - 10000
      f = sprintf("%s/part-%03d.ndjson", dir, int(i / per))
      printf "{\"id\":%d,\"ms\":%.0f,\"v\":%d}\n", i, ms, (i % 13) + 1 > f
    }
  }'
}
# expected minute counts over the files of DIRs: "minute_start_ms n total"
expect() {
  cat "$@" | awk -F'[:,}]' '{ ms = $4; v = $6; m = sprintf("%.0f", int(ms / 60000) * 60000); n[m]++; t[m] += v }
    END { for (m in n) printf "%s %d %d\n", m, n[m], t[m] }' | sort -n
}
got() { # got DB TABLE
  sqlite3 -separator ' ' "$1" "SELECT CAST(round((julianday(window_start) - 2440587.5) * 86400000) AS INTEGER), n, total FROM $2 WHERE is_final ORDER BY 1"
}
check() { # check DB LABEL
  local db=$1 label=$2
  expect "$TMP/in"/slow/*.ndjson >"$TMP/exp_slow"
  expect "$TMP/in"/fast/*.ndjson >"$TMP/exp_fast"
  sort -n "$TMP/exp_slow" "$TMP/exp_fast" >"$TMP/exp_both"
  for t in slow fast both; do
    got "$db" "${t}_1m" >"$TMP/got_$t"
    diff "$TMP/exp_$t" "$TMP/got_$t" >"$TMP/diff_$t" || { head "$TMP/diff_$t" >&2; fail "$label: ${t}_1m differs from the input's minute counts"; }
    open=$(sqlite3 "$db" "SELECT count(*) FROM ${t}_1m WHERE NOT is_final")
    [ "$open" = 0 ] || fail "$label: $open rows of ${t}_1m are not final after --once"
  done
  late=$(sqlite3 "$db" "SELECT count(*) FROM quarantine")
  [ "$late" = 0 ] || fail "$label: $late rows quarantined (none is late)"
}
gen "$TMP/in/slow" 0 6
gen "$TMP/in/fast" 1800000 6

# 1. one uninterrupted run
"$SLUICE" run "$REPO/tests/integration/watermark/two.yaml" --data "$TMP/d1" --set input="$TMP/in" --once --status 0
check "$TMP/d1/sluice.db" "one run"
rows=$(sqlite3 "$TMP/d1/sluice.db" "SELECT sum(n) FROM slow_1m")
[ "$rows" = "$n" ] || fail "slow_1m counts $rows rows, the input has $n"

# 2. two runs: a live run reads half of each source's files and is stopped
# (SIGTERM: open windows stay open), then --once reads the rest
mkdir -p "$TMP/half/slow" "$TMP/half/fast"
for s in slow fast; do mv "$TMP/in/$s"/part-00[345].ndjson "$TMP/half/$s/"; done
half=$(cat "$TMP/in"/slow/*.ndjson "$TMP/in"/fast/*.ndjson | wc -l)
"$SLUICE" run "$REPO/tests/integration/watermark/two.yaml" --data "$TMP/d2" --set input="$TMP/in" --status 0 &
pid=$!
for _ in $(seq 300); do
  c=$(sqlite3 "$TMP/d2/sluice.db" "SELECT (SELECT count(*) FROM slow_events) + (SELECT count(*) FROM fast_events)" 2>/dev/null || echo 0)
  [ "$c" = "$half" ] && break
  sleep 0.1
done
kill -TERM "$pid"
wait "$pid" || fail "the live run did not stop cleanly"
[ "$c" = "$half" ] || fail "the live run committed $c of $half rows"
for s in slow fast; do mv "$TMP/half/$s"/*.ndjson "$TMP/in/$s/"; done
"$SLUICE" run "$REPO/tests/integration/watermark/two.yaml" --data "$TMP/d2" --set input="$TMP/in" --once --status 0
check "$TMP/d2/sluice.db" "two runs"

# 3. SIGKILL while running (commit every 10 ms, one-row batches), then finish
"$SLUICE" run "$REPO/tests/integration/watermark/two.yaml" --data "$TMP/d3" --set input="$TMP/in" --set batch_size=1 --set commit_interval=10ms --status 0 &
pid=$!
sleep 0.5
kill -9 "$pid" 2>/dev/null || true
wait "$pid" 2>/dev/null || true
"$SLUICE" run "$REPO/tests/integration/watermark/two.yaml" --data "$TMP/d3" --set input="$TMP/in" --once --status 0
check "$TMP/d3/sluice.db" "kill and restart"
# 4. two --once runs over growing input: the end of the first finalises
# every window it saw, so the second run's rows for those windows are late
# (quarantined at the window) and no final row is rewritten: every row is
# either counted in a final window or quarantined with its reason
mkdir -p "$TMP/grow/slow" "$TMP/grow/fast"
for s in slow fast; do cp "$TMP/in/$s"/part-00[012].ndjson "$TMP/grow/$s/"; done
"$SLUICE" run "$REPO/tests/integration/watermark/two.yaml" --data "$TMP/d4" --set input="$TMP/grow" --once --status 0
first=$(got "$TMP/d4/sluice.db" slow_1m)
for s in slow fast; do cp "$TMP/in/$s"/part-00[345].ndjson "$TMP/grow/$s/"; done
"$SLUICE" run "$REPO/tests/integration/watermark/two.yaml" --data "$TMP/d4" --set input="$TMP/grow" --once --status 0
after=$(got "$TMP/d4/sluice.db" slow_1m | head -n "$(echo "$first" | wc -l)")
[ "$first" = "$after" ] || fail "two --once runs: a final row of slow_1m was rewritten by the second run"
read -r counted late < <(sqlite3 -separator ' ' "$TMP/d4/sluice.db" "SELECT (SELECT sum(n) FROM slow_1m),
  (SELECT count(*) FROM quarantine WHERE table_name = 'slow_1m' AND reason LIKE 'late: window%already final%')")
[ $((counted + late)) = "$n" ] || fail "two --once runs: slow_1m counts $counted and quarantined $late late rows, the input has $n"
[ "$late" -gt 0 ] || fail "two --once runs: no row was late at the window (the test needs some)"
ok "two sources 30 minutes apart: every window of each input and of their union holds exactly its rows ($n per source)"
