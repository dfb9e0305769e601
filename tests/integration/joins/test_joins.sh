#!/usr/bin/env bash
# Stream-table and temporal joins (the join step, docs/pipeline-spec.md):
# python3 generates master data (items, suppliers), an scd2 history of price
# changes (several versions per item, changes between events) and JSONL events
# with unknown and NULL item ids; joins.yaml enriches the events with the item
# (how: quarantine), the item's supplier (a second join on a column the first
# added; unknown suppliers give NULLs) and the price valid at the event's time
# (as_of). Every output row and every quarantined row (with its reason) is
# compared with a brute force over the input files. Then the same input again,
# SIGKILLed several times during a run with a 10 ms commit interval and small
# batches, then finished with --once: identical results.
source "$(dirname "$0")/../lib.sh"
need python3
need sqlite3
n=${JOIN_EVENTS:-20000}
[ "$SANITIZED" = 1 ] && n=5000
HERE="$REPO/tests/integration/joins"
python3 "$HERE/gen_ref.py" gen "$TMP/in" "$n"
python3 "$HERE/gen_ref.py" ref "$TMP/in" >"$TMP/expected"

got() { # got DB: the events rows, then the quarantine rows, as the reference prints them
  sqlite3 "$1" "SELECT event_id, category, supplier_id, coalesce(supplier_name, ''), coalesce(country, ''),
                       coalesce(unit_price, '') FROM events ORDER BY event_id"
  echo "--"
  sqlite3 "$1" "SELECT json_extract(raw, '\$.event_id'), reason FROM quarantine
                WHERE table_name = 'events' ORDER BY json_extract(raw, '\$.event_id')"
}
check() { # check DATA LABEL
  got "$1/sluice.db" >"$TMP/got"
  diff "$TMP/expected" "$TMP/got" >"$TMP/diff" || { head -20 "$TMP/diff" >&2; fail "$2: output differs from the brute force"; }
  other=$(sqlite3 "$1/sluice.db" "SELECT count(*) FROM quarantine WHERE table_name <> 'events'")
  [ "$other" = 0 ] || fail "$2: $other rows quarantined outside events"
}
[ "$(sed -n '/^--$/,$p' "$TMP/expected" | grep -c 'item_id=NULL')" -gt 0 ] || fail "the input has no NULL item id"

# 1. one --once run
"$SLUICE" run "$HERE/joins.yaml" --data "$TMP/d1" --set input="$TMP/in" --once --status 0
check "$TMP/d1" "one run"
rows=$(grep -c . "$TMP/expected")
matched=$(sqlite3 "$TMP/d1/sluice.db" "SELECT count(*) FROM events WHERE unit_price IS NOT NULL")
nulls=$(sqlite3 "$TMP/d1/sluice.db" "SELECT count(*) FROM events WHERE unit_price IS NULL")
nosup=$(sqlite3 "$TMP/d1/sluice.db" "SELECT count(*) FROM events WHERE supplier_name IS NULL")
quar=$(sqlite3 "$TMP/d1/sluice.db" "SELECT count(*) FROM quarantine")
[ "$matched" -gt 0 ] && [ "$nulls" -gt 0 ] && [ "$nosup" -gt 0 ] && [ "$quar" -gt 0 ] ||
  fail "the input must exercise every case (priced $matched, unpriced $nulls, no supplier $nosup, quarantined $quar)"
# the event log's stats of each join (the last commit's)
stats() { # stats DATA OP: matched unmatched keys versions
  sqlite3 -separator ' ' "$1/sluice.db" "SELECT json_extract(o.value, '\$.stats.matched'),
    json_extract(o.value, '\$.stats.unmatched'), json_extract(o.value, '\$.stats.keys'),
    json_extract(o.value, '\$.stats.versions')
    FROM (SELECT details FROM _sluice_events ORDER BY commit_id DESC LIMIT 1), json_each(details, '\$.ops') o
    WHERE json_extract(o.value, '\$.op') = '$2'"
}
versions=$(($(wc -l <"$TMP/in/prices/prices-0.csv") + $(wc -l <"$TMP/in/prices/prices-1.csv") - 2))
[ "$(stats "$TMP/d1" events/1/join)" = "$((n - quar)) $quar 300 300" ] || fail "items join stats: $(stats "$TMP/d1" events/1/join)"
[ "$(stats "$TMP/d1" events/2/join)" = "$((n - quar - nosup)) $nosup 40 40" ] || fail "suppliers join stats: $(stats "$TMP/d1" events/2/join)"
[ "$(stats "$TMP/d1" events/3/join)" = "$matched $nulls 300 $versions" ] || fail "prices join stats: $(stats "$TMP/d1" events/3/join)"
ok "one run: $n events, $quar quarantined, $matched priced, $nulls unpriced, $nosup without supplier: equal to the brute force"

# 2. SIGKILL during runs (10 ms commits, batches of 20), each run resuming
# from the last one's checkpoint, until the input is all read; then --once
partial=0 runs=0 prev=0 ms=20 step=30 restarts=0
while [ $runs -lt 60 ]; do
  "$SLUICE" run "$HERE/joins.yaml" --data "$TMP/d2" --set input="$TMP/in" --set batch_size=20 \
    --set commit_interval=10ms --status 0 &
  pid=$!
  d=$((ms + RANDOM % 20))
  sleep "$((d / 1000)).$(printf %03d $((d % 1000)))"
  kill -9 "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  runs=$((runs + 1))
  c=$(sqlite3 "$TMP/d2/sluice.db" "SELECT (SELECT count(*) FROM events) + (SELECT count(*) FROM quarantine)" 2>/dev/null || echo 0)
  [ "$c" -gt 0 ] && [ "$c" -lt "$n" ] && partial=$((partial + 1))
  if [ "$c" = "$n" ] && [ "$partial" = 0 ] && [ $restarts -lt 5 ]; then
    # one run read everything between two kills (a step too long for a fast
    # run): start over, stepping more finely from the last wait that got nothing
    rm -rf "$TMP/d2"
    restarts=$((restarts + 1)) ms=$((ms > step ? ms - step : 5)) step=$((step / 2 + 1)) prev=0
    continue
  fi
  [ "$c" = "$n" ] && break
  # a loaded machine starts slowly: wait longer while a run gets nothing done
  [ "$c" = "$prev" ] && ms=$((ms + step))
  prev=$c
done
echo "$runs runs killed, $partial of them with part of the events committed"
[ "$partial" -gt 0 ] || fail "no SIGKILL hit the run while it was reading the events (nothing was tested)"
"$SLUICE" run "$HERE/joins.yaml" --data "$TMP/d2" --set input="$TMP/in" --once --status 0
check "$TMP/d2" "SIGKILLs and restarts"
ok "$runs SIGKILLs during runs with 10 ms commits, then --once: identical results"
