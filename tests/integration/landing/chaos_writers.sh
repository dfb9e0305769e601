#!/usr/bin/env bash
# Chaos for landing directories (a long run, `make chaos`; not in `make check`):
# one writer process writes CHAOS_LINES id-numbered JSON lines through the four
# writers of test_writers.sh (a file renamed into place, appends, rename
# rotation, copytruncate) while `sluice run` is SIGKILLed every 0.5-2 s and
# restarted (CHAOS_KILLS times), so kills land while files rotate. Then a
# `--once` run; every silver table must hold each id written exactly once, and
# every 1-minute window count (by writer and key) must equal the count
# recomputed from the written lines.
source "$(dirname "$0")/../lib.sh"
need sqlite3
lines_total=${CHAOS_LINES:-200000}
kills=${CHAOS_KILLS:-20}
[ "$SANITIZED" = 1 ] && lines_total=$((lines_total / 10))
IN=$TMP/in
DB=$TMP/out/sluice.db
WRITERS="replace append rename copy"
T0=1700000000000 # event time of id 0 (ms); id i is at T0 + 50 * i
mkdir -p "$IN"/{replace,append,rename,copy}
for w in $WRITERS; do echo 0 > "$TMP/$w.n"; done
{
  echo "pipeline: chaos_writers"
  echo "commit_interval: 200ms"
  echo "sources:"
  for w in $WRITERS; do
    case $w in replace | append) pat='*.ndjson' ;; *) pat='app.log*' ;; esac
    printf '  %s:\n    type: dir\n    path: %s\n    pattern: "%s"\n    format: json\n' "$w" "$IN/$w" "$pat"
    printf '    schema:\n      w: string\n      id: int\n      k: int\n      ts: int\n'
  done
  echo "tables:"
  for w in $WRITERS; do
    printf '  t_%s:\n    layer: silver\n    from: %s\n    steps:\n' "$w" "$w"
    printf '      - watermark: {time: "from_unixtime_ms(ts)", delay: 5m, late: quarantine}\n'
    printf '  c_%s:\n    layer: gold\n    from: t_%s\n    window:\n      size: 1m\n      keys: [k]\n' "$w" "$w"
    printf '      aggregates:\n        n: count(*)\n'
  done
} > "$TMP/chaos.yaml"

# lines W N: the next N records of writer W (ids count from 0), also kept in
# $TMP/written.ndjson, the brute force's input
lines() {
  local w=$1 n=$2 s i line out=""
  s=$(< "$TMP/$w.n")
  for ((i = s; i < s + n; i++)); do
    printf -v line '{"w":"%s","id":%d,"k":%d,"ts":%d,"pad":"......................"}' "$w" "$i" $((i % 7)) $((T0 + 50 * i))
    out+=$line$'\n'
  done
  echo $((s + n)) > "$TMP/$w.n"
  printf '%s' "$out" >> "$TMP/written.ndjson"
  printf '%s' "$out"
}
count() { sqlite3 -cmd ".timeout 5000" "$DB" "SELECT count(*) FROM t_$1" 2>/dev/null || echo -1; }
# shift W: app.log.K -> app.log.K+1 (highest first), as logrotate numbers them;
# beyond app.log.20 rotated files are deleted, but only once every line written
# is in the table (a deleted unread file is lost to any reader)
shift_rotated() {
  local d=$IN/$1 k=1
  while [ -e "$d/app.log.$k" ]; do k=$((k + 1)); done
  if [ "$k" -gt 21 ] && [ "$(count "$1")" = "$(< "$TMP/$1.n")" ]; then
    for ((; k > 21; k--)); do rm -f "$d/app.log.$((k - 1))"; done
  fi
  for ((k = k - 1; k >= 1; k--)); do mv "$d/app.log.$k" "$d/app.log.$((k + 1))"; done
}
step_append() { lines append $((RANDOM % 60 + 1)) >> "$IN/append/app.ndjson"; }
# a new version renamed into place once the previous one is in the table (a
# version replaced before it was read is gone from disk: no reader can have it)
step_replace() {
  local n
  n=$(< "$TMP/replace.n")
  if [ "$n" != 0 ]; then [ -f "$DB" ] && [ "$(count replace)" = "$n" ] || return 0; fi
  lines replace $((RANDOM % 80 + 20)) > "$IN/replace/.data.tmp"
  mv "$IN/replace/.data.tmp" "$IN/replace/data.ndjson"
}
step_rename() {
  local d=$IN/rename
  exec 7>>"$d/app.log"
  lines rename $((RANDOM % 60 + 10)) >&7
  shift_rotated rename
  mv "$d/app.log" "$d/app.log.1"
  lines rename $((RANDOM % 5 + 1)) >&7 # the writer has not reopened yet: into app.log.1
  exec 7>&-
  lines rename $((RANDOM % 10 + 1)) >> "$d/app.log"
}
# copytruncate, without writes between the copy and the truncation (that race
# loses lines whatever the reader, docs/operations.md)
step_copy() {
  local d=$IN/copy
  lines copy $((RANDOM % 60 + 10)) >> "$d/app.log"
  shift_rotated copy
  cp "$d/app.log" "$d/app.log.1"
  : > "$d/app.log"
  lines copy $((RANDOM % 10 + 1)) >> "$d/app.log"
}
total() { local w t=0; for w in $WRITERS; do t=$((t + $(< "$TMP/$w.n"))); done; echo $t; }
writer() { # until lines_total lines are written
  while [ "$(total)" -lt "$lines_total" ]; do
    step_append
    step_replace
    step_rename
    step_copy
  done
}
run() { exec "$SLUICE" run "$TMP/chaos.yaml" --data "$TMP/out" --status 0 "$@"; }
RANDOM=777

(writer) &
wpid=$!
done_kills=0
for ((i = 0; i < kills; i++)); do
  (run 2>>"$TMP/run.log") &
  pid=$!
  sleep "$((RANDOM % 2)).$((RANDOM % 10))$((RANDOM % 10))"
  sleep 0.5
  kill -9 "$pid" 2>/dev/null || fail "live run $i ended early: $(tail -3 "$TMP/run.log")"
  wait "$pid" 2>/dev/null || true
  done_kills=$((done_kills + 1))
done
written_at_last_kill=$(total)
# the writer may still be writing: a last live run reads along until it is done
(run 2>>"$TMP/run.log") &
pid=$!
wait "$wpid" || fail "writer failed"
sleep 1
kill -9 "$pid" 2>/dev/null || fail "last live run ended early: $(tail -3 "$TMP/run.log")"
wait "$pid" 2>/dev/null || true
(run --once 2>>"$TMP/run.log") || fail "--once run: $(tail -3 "$TMP/run.log")"

for w in $WRITERS; do
  n=$(< "$TMP/$w.n")
  got=$(sqlite3 "$DB" "SELECT count(*) || ' ' || count(DISTINCT id) || ' ' || coalesce(min(id), 0) || ' ' || coalesce(max(id), -1) FROM t_$w")
  [ "$got" = "$n $n 0 $((n - 1))" ] || fail "$w wrote $n ids, t_$w has (count, distinct, min, max) = $got"
done
# brute force: count(*) per (writer, 1-minute window start in epoch seconds, k)
awk -v t0="$T0" '{
  match($0, /"w":"[a-z]+"/); w = substr($0, RSTART + 5, RLENGTH - 6)
  match($0, /"k":[0-9]+/); k = substr($0, RSTART + 4, RLENGTH - 4)
  match($0, /"ts":[0-9]+/); ts = substr($0, RSTART + 5, RLENGTH - 5)
  n[w "|" int(ts / 60000) * 60 "|" k]++
} END { for (g in n) print g "|" n[g] }' "$TMP/written.ndjson" | sort > "$TMP/expected.txt"
for w in $WRITERS; do
  sqlite3 "$DB" "SELECT '$w', CAST(strftime('%s', window_start) AS INTEGER), k, n FROM c_$w WHERE is_final = 1"
done | sort > "$TMP/got.txt"
cmp -s "$TMP/expected.txt" "$TMP/got.txt" || {
  diff "$TMP/expected.txt" "$TMP/got.txt" | head -20 >&2
  fail "window counts differ from the brute force ($(wc -l < "$TMP/expected.txt") groups expected, $(wc -l < "$TMP/got.txt") final rows)"
}
open=$(for w in $WRITERS; do sqlite3 "$DB" "SELECT count(*) FROM c_$w WHERE is_final = 0"; done | awk '{ s += $1 } END { print s }')
[ "$open" = 0 ] || fail "$open window rows not final after --once"
trunc=$(grep -c 'truncated or replaced' "$TMP/run.log" || true)
ok "chaos writers: $done_kills SIGKILLs (+1 after the writer), $(total) lines ($written_at_last_kill by the last kill): $(for w in $WRITERS; do printf '%s %s, ' "$w" "$(< "$TMP/$w.n")"; done)each once; $(wc -l < "$TMP/got.txt") final window counts equal the brute force; $trunc truncations logged"
