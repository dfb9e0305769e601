#!/usr/bin/env bash
# The writers landing directories really have, each read exactly once: a file
# renamed into place over one of the same name, appends to one file, rename
# rotation (app.log -> app.log.1, the writer still appending to it, a new
# app.log) and copytruncate (app.log copied to app.log.1, then truncated).
# Each is followed by a live `sluice run` killed with SIGKILL and restarted
# while the writers write, then across `--once` runs (one of them killed) with
# the writers between runs; at the end every id written is in its table once.
# Last, a checkpoint rewritten the way the version before identities wrote it
# (rows named by file name only) must resume its file, then be retired (-1).
source "$(dirname "$0")/../lib.sh"
need sqlite3
IN=$TMP/in
DB=$TMP/out/sluice.db
mkdir -p "$IN"/{replace,append,rename,copy}
for w in replace append rename copy; do echo 0 > "$TMP/$w.n"; done
{
  echo "pipeline: writers"
  echo "commit_interval: 200ms"
  echo "sources:"
  for w in replace append rename copy; do
    case $w in replace | append) pat='*.ndjson' ;; *) pat='app.log*' ;; esac
    printf '  %s:\n    type: dir\n    path: %s\n    pattern: "%s"\n    format: json\n' "$w" "$IN/$w" "$pat"
    printf '    schema:\n      w: string\n      id: int\n'
  done
  echo "tables:"
  for w in replace append rename copy; do printf '  t_%s:\n    from: %s\n' "$w" "$w"; done
} > "$TMP/writers.yaml"

# lines W N: the next N records of writer W (ids count from 0), as one string
lines() {
  local w=$1 n=$2 s i out=""
  s=$(cat "$TMP/$w.n")
  for ((i = s; i < s + n; i++)); do
    out+=$(printf '{"w":"%s","id":%d,"pad":"......................"}' "$w" "$i")$'\n'
  done
  echo $((s + n)) > "$TMP/$w.n"
  printf '%s' "$out"
}
# shift W: app.log.K -> app.log.K+1 (highest first), as logrotate numbers them
shift_rotated() {
  local d=$IN/$1 k
  for ((k = 50; k >= 1; k--)); do [ -e "$d/app.log.$k" ] && mv "$d/app.log.$k" "$d/app.log.$((k + 1))"; done
  return 0
}
count() { sqlite3 -cmd ".timeout 5000" "$DB" "SELECT count(*) FROM t_$1" 2>/dev/null || echo -1; }

step_append() {
  lines append $((RANDOM % 30 + 1)) >> "$IN/append/app.ndjson"
}
# a new version renamed into place once the previous one is in the table (a
# version replaced before it was read is gone from disk: no reader can have it)
step_replace() {
  local n
  n=$(cat "$TMP/replace.n")
  if [ "$n" != 0 ]; then [ -f "$DB" ] && [ "$(count replace)" = "$n" ] || return 0; fi
  lines replace $((RANDOM % 40 + 20)) > "$IN/replace/.data.tmp"
  mv "$IN/replace/.data.tmp" "$IN/replace/data.ndjson"
}
step_rename() {
  local d=$IN/rename
  exec 7>>"$d/app.log"
  lines rename $((RANDOM % 30 + 10)) >&7
  shift_rotated rename
  mv "$d/app.log" "$d/app.log.1"
  lines rename $((RANDOM % 5 + 1)) >&7 # the writer has not reopened yet: into app.log.1
  exec 7>&-
  lines rename $((RANDOM % 10 + 1)) >> "$d/app.log"
}
# copytruncate, without writes between the copy and the truncation (logrotate
# cannot promise that: lines written in between are lost, see docs/operations.md)
step_copy() {
  local d=$IN/copy
  lines copy $((RANDOM % 30 + 10)) >> "$d/app.log"
  shift_rotated copy
  cp "$d/app.log" "$d/app.log.1"
  : > "$d/app.log"
  lines copy $((RANDOM % 10 + 1)) >> "$d/app.log"
}
# writers STEPS: every writer takes STEPS steps, a little apart
writers() {
  local k
  for ((k = 0; k < $1; k++)); do
    step_append
    step_replace
    step_rename
    step_copy
    sleep "0.0$((RANDOM % 8 + 1))"
  done
}
run() { exec "$SLUICE" run "$TMP/writers.yaml" --data "$TMP/out" --status 0 "$@"; }
check() { # check WHAT: every id of every writer once
  local w n got
  for w in replace append rename copy; do
    n=$(cat "$TMP/$w.n")
    got=$(sqlite3 "$DB" "SELECT count(*) || ' ' || count(DISTINCT id) || ' ' || coalesce(min(id), 0) || ' ' || coalesce(max(id), -1) FROM t_$w")
    [ "$got" = "$n $n 0 $((n - 1))" ] || fail "$1: $w wrote $n ids, table has (count, distinct, min, max) = $got"
  done
}
caught_up() {
  local w
  for w in replace append rename copy; do [ "$(count $w)" = "$(cat "$TMP/$w.n")" ] || return 1; done
}
wait_caught_up() { # live: until every table has every id (or 30 s)
  local t
  for ((t = 0; t < 300; t++)); do
    caught_up && return 0
    sleep 0.1
  done
  return 1
}
RANDOM=4242

# ---- live, with SIGKILLs while the writers write
for round in 1 2 3; do
  (run 2>>"$TMP/run.log") &
  pid=$!
  writers 8 &
  wpid=$!
  sleep "0.$((RANDOM % 7 + 2))"
  kill -9 "$pid" 2>/dev/null || fail "live run $round ended early: $(tail -3 "$TMP/run.log")"
  wait "$pid" 2>/dev/null || true
  (run 2>>"$TMP/run.log") &
  pid=$!
  wait "$wpid"
  wait_caught_up || { kill -9 "$pid"; check "live round $round"; fail "live round $round: not caught up"; }
  kill -TERM "$pid"
  wait "$pid" || fail "live run $round: exit $? $(tail -3 "$TMP/run.log")"
  check "live round $round"
done
ok "live: 3 rounds with a SIGKILL each, $(cat "$TMP/append.n") + $(cat "$TMP/replace.n") + $(cat "$TMP/rename.n") + $(cat "$TMP/copy.n") ids once"

# ---- --once runs, writers between them, one run killed
for round in 1 2 3; do
  writers 3
  (run --once 2>>"$TMP/run.log") &
  pid=$!
  sleep "0.0$((RANDOM % 9 + 1))"
  kill -9 "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  writers 2
  (run --once 2>>"$TMP/run.log") || fail "--once round $round: $(tail -3 "$TMP/run.log")"
  check "--once round $round"
done
# _source names the file a row was read from: app.log, or app.log.N once rotated
n=$(sqlite3 "$DB" "SELECT count(DISTINCT _source) FROM t_rename WHERE _source LIKE 'app.log.%'")
[ "$n" -ge 1 ] || fail "_source should name rotated files (app.log.N) too"
bad=$(sqlite3 "$DB" "SELECT count(*) FROM t_rename WHERE _source NOT LIKE 'app.log%'")
[ "$bad" = 0 ] || fail "$bad rows whose _source is not a file name"
trunc=$(grep -c 'truncated or replaced' "$TMP/run.log" || true)
ok "--once: 3 rounds (a SIGKILL in each), every id once; $n rotated file names in _source, $trunc truncations logged"

# ---- a checkpoint written before files had identities (rows named by file name only)
sqlite3 "$DB" "INSERT INTO _sluice_positions SELECT source, 'app.ndjson', max(position) FROM _sluice_positions
  WHERE source = 'append' AND partition LIKE 'app.ndjson#%';
  DELETE FROM _sluice_positions WHERE source = 'append' AND partition LIKE 'app.ndjson#%';"
writers 2
(run --once 2>>"$TMP/run.log") || fail "name-only checkpoint: $(tail -3 "$TMP/run.log")"
check "resuming a name-only checkpoint"
legacy=$(sqlite3 "$DB" "SELECT position FROM _sluice_positions WHERE source = 'append' AND partition = 'app.ndjson'")
[ "$legacy" = -1 ] || fail "the name-only row should be retired (-1), is $legacy"
writers 1
(run --once 2>>"$TMP/run.log") || fail "after a name-only checkpoint: $(tail -3 "$TMP/run.log")"
check "after a name-only checkpoint"
ok "a name-only checkpoint resumes its file, then is retired"
