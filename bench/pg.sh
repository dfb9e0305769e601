#!/usr/bin/env bash
# bench/pg.sh [BUILD]: PostgreSQL as the store, on a throw-away local cluster
# (tests/integration/postgresql/pg_lib.sh: initdb + pg_ctl on a free port,
# fsync off, as in the tests).
#   1. rows/s through the postgresql sink (bench/pg_bench.c): appends by COPY
#      and window-style upserts, commits every 200,000 rows;
#   2. the cameras flavor end to end (`sluice run --once`, EVENTS events,
#      default 500,000) with the SQLite store and with --store postgresql://,
#      events/s from the wall time, best of 2.
# Prints the tables and appends them to bench/RESULTS.md with machine and commit.
source "$(dirname "$0")/../tests/integration/lib.sh"
source "$REPO/tests/integration/postgresql/pg_lib.sh"
events=${EVENTS:-500000}
pg_start
echo "postgresql sink (pg_bench) ..." >&2
sink=$("$BUILD/pg_bench" "$PGURL" --rows 2000000)
sink+=$'\n'$("$BUILD/pg_bench" "$PGURL" --rows 1000000 --upsert)
"$SLUICE" gen cameras --events "$events" --seed 7 --out "$TMP/in" 2>/dev/null
best() { # best wall seconds of 2 runs of: sluice run ... "$@"
  local b="" t
  for _ in 1 2; do
    rm -rf "$TMP/out"
    pgq "DROP SCHEMA public CASCADE; CREATE SCHEMA public" >/dev/null
    local t0 t1
    t0=$(date +%s.%N)
    "$SLUICE" run "$REPO/pipelines/cameras.yaml" --data "$TMP/out" --set input="$TMP/in" \
      --set locations="$TMP/in/locations.csv" --once --status 0 "$@" 2>>"$TMP/run.log" || fail "run: $(tail -2 "$TMP/run.log")"
    t1=$(date +%s.%N)
    t=$(echo "$t1 - $t0" | bc)
    if [ -z "$b" ] || [ "$(echo "$t < $b" | bc)" = 1 ]; then b=$t; fi
  done
  echo "$b"
}
echo "cameras, SQLite store ..." >&2
s_sqlite=$(best)
echo "cameras, PostgreSQL store ..." >&2
s_pg=$(best --store "$PGURL")
rows=$(pgq "SELECT count(*) FROM detection_events")
cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')
mach="$cpu, $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB, $(uname -sr), PostgreSQL $(postgres --version | awk '{print $3}') (local, fsync off), load average at the end $(cut -d" " -f1-3 /proc/loadavg)"
commit=$(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo unknown)
report="## $(date -u +%Y-%m-%dT%H:%M:%SZ) commit $commit: PostgreSQL store

Machine: $mach. Command: \`bench/pg.sh\`.

| postgresql sink | rows | rows per commit | write s (COPY text) | prepare s (transactions) | rows/s |
|---|---|---|---|---|---|
$sink

| cameras ($events events, --once, best of 2) | wall s | events/s |
|---|---|---|
| SQLite store | $s_sqlite | $(echo "$events / $s_sqlite" | bc) |
| PostgreSQL store ($rows silver rows) | $s_pg | $(echo "$events / $s_pg" | bc) |
"
echo "$report"
printf '\n%s' "$report" >>"$REPO/bench/RESULTS.md"
