#!/usr/bin/env bash
# test_burst.sh - a 10x burst does not blow up memory, and stays exact.
#
# Two landing folders from `sluice gen cameras`: a normal stream (E events at
# R events/s of event time) and a burst (10E events at 10R/s: ten times the
# events and files in the same event time). Each is run with
# `sluice run --once`, where every file is already waiting when the engine
# starts: the worst burst there is. Peak RSS (VmHWM, via /usr/bin/time or the
# event log's rss_kb) must stay under the bound of docs/operations.md
# ("Memory"), declared here from the pipeline's batch_size and the state the
# engine reports in _sluice_events:
#
#   bound = base                      an empty run of the same pipeline (binary,
#                                     libraries, SQLite, zstd, server off)
#         + 4 MiB                     the dir source's read buffer (one file chunk)
#         + batch_size * 256 B * (tables + 2)
#                                     the source batch, one work batch per table
#                                     and the window emit batch (<= 256 B a row)
#         + min(db file, 64 MiB)      SQLite's page cache (cache_size=-65536)
#         + lake tables * 32768 * 320 B
#                                     a Parquet lake table's writer holds up to
#                                     one row group (SL_LAKE_ROW_GROUP_ROWS)
#         + 1.85 * dedupe state_bytes keys held (peak_keys * bytes_per_key);
#                                     1.85: while the table is rebuilt, old
#                                     and new tables live together for a moment
#         + 16 MiB                    margin (allocator slack, window groups)
#
# Nothing in it grows with the bytes waiting on disk: the burst's input is
# 10x the normal one, its non-state memory is not. Both runs are compared
# table by table with tests/tools/cameras_ref. Under sanitizers the sizes are
# scaled down and the RSS bound is reported but not enforced (ASan's shadow
# memory and quarantine are not the engine's).
source "$(dirname "$0")/../lib.sh"
# lib.sh's `nm | grep -q` can die of SIGPIPE under pipefail and miss ASan: look again, reading all of nm's output
if [ "$SANITIZED" = 0 ] && nm "$SLUICE" 2>/dev/null | grep __asan_init >/dev/null; then SANITIZED=1; fi
PIPE="$REPO/pipelines/cameras.yaml"
events=${BURST_EVENTS:-15000}
rate=150
[ "$SANITIZED" = 1 ] && events=4000 && rate=40
batch_size=$(sed -n 's/^batch_size: *\([0-9]*\).*/\1/p' "$PIPE"); batch_size=${batch_size:-4096}
tables=$(awk '/^tables:/{t=1; next} /^[a-z]/{t=0} t && /^  [a-z_0-9]+:$/{n++} END{print n+0}' "$PIPE")
[ "$tables" -gt 0 ] || fail "cannot count the tables of $PIPE"

gen() { # OUT EVENTS RATE
  "$SLUICE" gen cameras --events "$2" --event-rate "$3" --seed 11 --dup 0.05 --late 0.01 --malformed 0.002 --out "$1" 2>/dev/null
}
# run IN OUT: prints peak RSS in KB
run_once() {
  local kb=""
  if [ -x /usr/bin/time ]; then
    /usr/bin/time -o "$TMP/time.txt" -f '%M' "$SLUICE" run "$PIPE" --data "$2" --set input="$1" \
      --set locations="$1/locations.csv" --once --status 0 || fail "run on $1 failed"
    kb=$(tail -1 "$TMP/time.txt")
  else
    "$SLUICE" run "$PIPE" --data "$2" --set input="$1" --set locations="$1/locations.csv" --once --status 0 \
      || fail "run on $1 failed"
    kb=$(sqlite3 "$2/sluice.db" "SELECT max(json_extract(details, '\$.rss_kb')) FROM _sluice_events")
  fi
  echo "$kb"
}
# state_kb OUT: the dedupe state at its peak, from the event log
state_kb() {
  sqlite3 "$1/sluice.db" "SELECT coalesce(max(json_extract(o.value, '\$.stats.state_bytes')), 0) / 1024
    FROM _sluice_events, json_each(details, '\$.ops') AS o WHERE json_extract(o.value, '\$.op') LIKE '%dedupe%'"
}
stat_of() { # OUT FIELD: a dedupe stat at the last commit
  sqlite3 "$1/sluice.db" "SELECT json_extract(o.value, '\$.stats.$2') FROM _sluice_events, json_each(details, '\$.ops') AS o
    WHERE json_extract(o.value, '\$.op') LIKE '%dedupe%' ORDER BY commit_id DESC LIMIT 1"
}
exact() { # IN OUT
  "$BUILD/cameras_ref" "$1" "$1/locations.csv" "$2/expected.db" >/dev/null
  bash "$REPO/tests/integration/cameras/compare.sh" "$SLUICE" "$PIPE" "$2" "$2/expected.db" >"$TMP/cmp.txt" \
    || fail "$(basename "$1"): tables differ from the reference: $(cat "$TMP/cmp.txt")"
}

gen "$TMP/in1" "$events" "$rate"
gen "$TMP/in10" $((events * 10)) $((rate * 10))
mkdir -p "$TMP/empty" && cp "$TMP/in1/locations.csv" "$TMP/empty/"
files1=$(ls "$TMP/in1"/*.ndjson | wc -l); files10=$(ls "$TMP/in10"/*.ndjson | wc -l)
bytes1=$(du -sk "$TMP/in1" | cut -f1); bytes10=$(du -sk "$TMP/in10" | cut -f1)

base=$(run_once "$TMP/empty" "$TMP/o0")
rss1=$(run_once "$TMP/in1" "$TMP/o1")
rss10=$(run_once "$TMP/in10" "$TMP/o10")
exact "$TMP/in1" "$TMP/o1"
exact "$TMP/in10" "$TMP/o10"

batch_kb=$(( batch_size * 256 * (tables + 2) / 1024 ))
lake_tables=$(grep -cE '^ +layer: bronze|^ +store: .*(lake|auto)' "$PIPE")
lake_kb=$(( lake_tables * 32768 * 320 / 1024 ))
bound() { # OUT RSS -> prints "bound state cache"
  local st db cache
  st=$(state_kb "$1"); db=$(( $(stat -c %s "$1/sluice.db") / 1024 ))
  cache=$(( db < 65536 ? db : 65536 ))
  echo $(( base + 4096 + batch_kb + lake_kb + cache + st * 37 / 20 + 16384 )) "$st" "$cache"
}
read -r b1 st1 c1 <<<"$(bound "$TMP/o1")"
read -r b10 st10 c10 <<<"$(bound "$TMP/o10")"
printf '%-6s %7s %9s %6s %9s %9s %9s %9s %9s\n' run events input_KB files keys state_KB cache_KB peak_KB bound_KB
printf '%-6s %7s %9s %6s %9s %9s %9s %9s %9s\n' empty 0 0 0 0 0 - "$base" -
printf '%-6s %7s %9s %6s %9s %9s %9s %9s %9s\n' 1x "$events" "$bytes1" "$files1" "$(stat_of "$TMP/o1" peak_keys)" "$st1" "$c1" "$rss1" "$b1"
printf '%-6s %7s %9s %6s %9s %9s %9s %9s %9s\n' 10x $((events * 10)) "$bytes10" "$files10" "$(stat_of "$TMP/o10" peak_keys)" "$st10" "$c10" "$rss10" "$b10"
echo "dedupe bytes_per_key: 1x $(stat_of "$TMP/o1" bytes_per_key), 10x $(stat_of "$TMP/o10" bytes_per_key); batch_size $batch_size, $tables tables -> batch memory $batch_kb KB"
# what is neither state nor page cache must not grow with the burst (beyond
# filling the lake writers' row groups, which 1x may not: a constant)
other1=$(( rss1 - base - st1 - c1 )); other10=$(( rss10 - base - st10 - c10 ))
echo "other (peak - base - state - cache): 1x $other1 KB, 10x $other10 KB (input 10x: $bytes1 -> $bytes10 KB)"
if [ "$SANITIZED" = 1 ]; then
  ok "burst: 1x and 10x exact; RSS bound not enforced under sanitizers"
  exit 0
fi
[ "$rss1" -le "$b1" ] || fail "1x: peak RSS $rss1 KB over the bound $b1 KB"
[ "$rss10" -le "$b10" ] || fail "10x: peak RSS $rss10 KB over the bound $b10 KB"
[ "$other10" -le $(( other1 + st10 / 2 + 8192 + lake_kb )) ] \
  || fail "10x: memory besides state and cache grew from $other1 KB to $other10 KB"
[ $(( other10 - other1 - lake_kb )) -lt $(( (bytes10 - bytes1) / 2 )) ] ||
  fail "10x: $other10 KB besides state and cache (1x: $other1) for $bytes10 KB of input: reading ahead?"
ok "burst: 10x events ($files10 files, $bytes10 KB) peak RSS $rss10 KB <= bound $b10 KB (1x: $rss1 <= $b1); both runs exact"
