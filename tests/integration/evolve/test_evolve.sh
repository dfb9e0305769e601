#!/usr/bin/env bash
# Schema inference and evolution (issue 6): NDJSON whose fields appear
# mid-stream (a string, then a double, then an int that turns fractional:
# widened to double) and CSV files whose later headers have an extra column.
# Checked against a brute-force expectation computed with sqlite3 JSON1 from
# the generated input: --once, live (files dropped while running), and
# SIGKILLs at random moments and right before/after a schema change.
source "$(dirname "$0")/../lib.sh"
need sqlite3
PIPE="$REPO/tests/integration/evolve/evolve.yaml"
nfiles=12
lines=${EVOLVE_LINES:-3000}
[ "$SANITIZED" = 1 ] && lines=800

# ---- input -------------------------------------------------------------------
# file f: ids f*lines+1.., zone from file 3 on, score from the middle of file 6,
# v fractional from file 9 on, a nested object now and then from file 10 on,
# and one malformed line per file.
gen() { # gen DIR
  mkdir -p "$1"
  for f in $(seq 0 $((nfiles - 1))); do
    awk -v f="$f" -v n="$lines" 'BEGIN {
      for (i = 1; i <= n; i++) {
        id = f * n + i
        printf "{\"id\":%d,\"name\":\"n%d\",\"ts\":\"2024-01-01T00:%02d:%02dZ\"", id, id % 7, (id / 60) % 60, id % 60
        if (f >= 9) printf ",\"v\":%d.5", id % 100; else printf ",\"v\":%d", id % 100
        if (f >= 3) printf ",\"zone\":\"z%d\"", id % 5
        if (f > 6 || (f == 6 && i > int(n / 2))) printf ",\"score\":%d.25", id % 10
        if (f >= 10 && i % 3 == 0) printf ",\"extra\":{\"k\":%d}", i
        printf "}\n"
        if (i == int(n / 3)) printf "{\"id\": broken\n"
      }
    }' > "$1/.f$(printf %02d "$f").tmp"
    mv "$1/.f$(printf %02d "$f").tmp" "$1/f$(printf %02d "$f").ndjson"
  done
  for f in 0 1 2 3; do
    { if [ "$f" -lt 2 ]; then echo "host,cpu"; else echo "host,cpu,mem"; fi
      for i in $(seq 1 50); do
        if [ "$f" -lt 2 ]; then echo "h$f-$i,$((i % 100))"; else echo "h$f-$i,$((i % 100)),$((i * 3)).5"; fi
      done; } > "$1/m$f.csv"
  done
}

# ---- expectation (sqlite3 JSON1 over the raw lines) --------------------------
gen "$TMP/all"
cat "$TMP/all"/f*.ndjson > "$TMP/all.ndjson"
US=$(printf '\037')
sqlite3 "$TMP/expected.db" "CREATE TABLE raw(line TEXT);" ".mode ascii" ".separator $US \"\n\"" ".import $TMP/all.ndjson raw"
sqlite3 "$TMP/expected.db" "CREATE TABLE events AS SELECT json_extract(line,'\$.id') AS id, json_extract(line,'\$.name') AS name,
    json_extract(line,'\$.ts') AS ts, json_extract(line,'\$.v') AS v, json_extract(line,'\$.zone') AS zone,
    json_extract(line,'\$.score') AS score, json_extract(line,'\$.extra') AS extra FROM raw WHERE json_valid(line);
  CREATE TABLE bad AS SELECT line FROM raw WHERE NOT json_valid(line);"
total=$(sqlite3 "$TMP/expected.db" "SELECT count(*) FROM raw")
good=$(sqlite3 "$TMP/expected.db" "SELECT count(*) FROM events")

# compare OUT: every check of the test on one output directory
compare() {
  local out=$1 what=$2 db="$1/sluice.db"
  local q="ATTACH '$TMP/expected.db' AS e;"
  # the sluice table, normalised: numbers as text with 2 decimals, ts as written
  local mine="SELECT id, name, ts, printf('%.2f', v), zone, CASE WHEN score IS NULL THEN NULL ELSE printf('%.2f', score) END, extra, id_x2 FROM main.events"
  local exp="SELECT id, name, ts, printf('%.2f', v), zone, CASE WHEN score IS NULL THEN NULL ELSE printf('%.2f', score) END, extra, id * 2 FROM e.events"
  local diff
  diff=$(sqlite3 "$db" "$q SELECT count(*) FROM ($mine EXCEPT $exp); SELECT count(*) FROM ($exp EXCEPT $mine);" | tr '\n' ' ')
  [ "$diff" = "0 0 " ] || fail "$what: events differ from the expectation (mine-exp, exp-mine: $diff)"
  local rows dups
  rows=$(sqlite3 "$db" "SELECT count(*) FROM events")
  [ "$rows" = "$good" ] || fail "$what: $rows rows in events, expected $good (duplicates?)"
  # NULL before the change, values from the change on
  [ "$(sqlite3 "$db" "SELECT count(*) FROM events WHERE zone IS NULL")" = $((3 * lines)) ] || fail "$what: zone NULLs"
  [ "$(sqlite3 "$db" "SELECT min(id) FROM events WHERE score IS NOT NULL")" = $((6 * lines + lines / 2 + 1)) ] || fail "$what: first score"
  # the event log: schema events, and nothing lost
  local kinds
  kinds=$(sqlite3 "$db" "SELECT group_concat(k, ' ') FROM (SELECT json_extract(details,'\$.source') || ':' ||
      coalesce((SELECT group_concat(key) FROM json_each(details,'\$.added')), '') || ':' ||
      coalesce((SELECT group_concat(key) FROM json_each(details,'\$.widened')), '') ||
      CASE WHEN json_extract(details,'\$.inferred') IS NOT NULL THEN 'inferred' ELSE '' END AS k
      FROM _sluice_events WHERE kind='schema' ORDER BY commit_id)")
  echo "$what: schema events: $kinds"
  case "$kinds" in *"ev::v"*) ;; *) fail "$what: no widening event for v ($kinds)";; esac
  case "$kinds" in *"met:mem:"*) ;; *) fail "$what: no event for the csv column mem ($kinds)";; esac
  local in quar
  in=$(sqlite3 "$db" "SELECT sum(records_in) FROM _sluice_events")
  quar=$(sqlite3 "$db" "SELECT count(*) FROM quarantine")
  [ "$in" = $((total + 200)) ] || fail "$what: records_in $in, expected $((total + 200))"
  [ $((rows + quar + 200)) = "$in" ] || fail "$what: records_in $in != rows $rows + quarantined $quar + 200 csv rows"
  [ "$quar" = "$nfiles" ] || fail "$what: $quar quarantined, expected $nfiles"
  # the lake table carries the new keys too
  [ "$("$SLUICE" query "$PIPE" --data "$out" --set input="$TMP/all" --format csv "SELECT count(*) FROM raw_events WHERE zone IS NOT NULL" | tail -1)" = \
    $(( (nfiles - 3) * lines )) ] || fail "$what: lake zone count"
  # csv: mem NULL in the first two files, a double after
  [ "$(sqlite3 "$db" "SELECT count(*), count(mem), typeof(max(mem)) FROM metrics")" = "200|100|real" ] || fail "$what: csv metrics $(sqlite3 "$db" "SELECT count(*), count(mem), typeof(max(mem)) FROM metrics")"
}

# ---- 0. sluice parse for every format, --infer ---------------------------------
got=$("$SLUICE" parse json "$TMP/all/f10.ndjson" --infer)
want=$'# inferred from '$((lines + 1))$' records of '"$TMP/all/f10.ndjson"$'; paste into a source (or use schema: infer)\nschema:\n  id: int\n  name: string\n  ts: timestamp\n  v: double\n  zone: string\n  score: double\n  extra: string'
[ "$got" = "$want" ] || fail "parse --infer json: $got"
[ "$(printf 'a;b\n1;x\n2.5;\n' | "$SLUICE" parse csv --delimiter ';' --infer | tail -2 | sed 's/^ *//' | tr '\n' ' ')" = "a: double b: string " ] || fail "parse --infer csv"
[ "$(printf '1;x\n' | "$SLUICE" parse csv --delimiter ';' --no-header --schema n:int,s:string)" = '{"n":1,"s":"x"}' ] || fail "parse csv --no-header"
[ "$(echo 'GET /a 200' | "$SLUICE" parse regex --pattern '(?<method>\w+) (?<path>\S+) (?<status>\d+)')" = '{"method":"GET","path":"/a","status":"200"}' ] || fail "parse regex"
echo '<13>Feb  5 17:32:18 myhost app[12]: hello' | "$SLUICE" parse rfc3164 | grep -q '"hostname":"myhost","app_name":"app","procid":"12"' || fail "parse rfc3164"
[ "$(echo 'a=1 b=x' | "$SLUICE" parse logfmt --schema a:int,b:string)" = '{"a":1,"b":"x"}' ] || fail "parse logfmt"
"$SLUICE" parse csv </dev/null 2>/dev/null && fail "parse csv without --schema/--infer accepted"
ok "parse: json, csv, regex, rfc3164, logfmt; --infer prints a pasteable schema"

# ---- 1. --once: only the first files present, then the rest -------------------
mkdir -p "$TMP/in1"
cp "$TMP/all"/f00.ndjson "$TMP/all"/f01.ndjson "$TMP/all"/m0.csv "$TMP/in1/"
"$SLUICE" run "$PIPE" --data "$TMP/out1" --set input="$TMP/in1" --once --status 0 2>"$TMP/run1.log" || fail "run 1: $(tail -3 "$TMP/run1.log")"
[ "$(sqlite3 "$TMP/out1/sluice.db" "SELECT value FROM _sluice_kv WHERE key='schema:ev'")" = '{"id":"int","name":"string","ts":"timestamp","v":"int"}' ] \
  || fail "inferred schema: $(sqlite3 "$TMP/out1/sluice.db" "SELECT value FROM _sluice_kv WHERE key='schema:ev'")"
cp "$TMP/all"/* "$TMP/in1/"
"$SLUICE" run "$PIPE" --data "$TMP/out1" --set input="$TMP/in1" --once --status 0 2>>"$TMP/run1.log" || fail "run 1b: $(tail -3 "$TMP/run1.log")"
compare "$TMP/out1" "once"
ok "once: new columns appear mid-stream, NULL before, widening, csv header column"

# ---- 2. live: files dropped while the pipeline runs ---------------------------
mkdir -p "$TMP/in2"
"$SLUICE" run "$PIPE" --data "$TMP/out2" --set input="$TMP/in2" --set commit_interval=100ms --status 0 2>"$TMP/run2.log" &
pid=$!
for f in "$TMP/all"/*; do
  b=$(basename "$f"); cp "$f" "$TMP/in2/.$b.tmp"; mv "$TMP/in2/.$b.tmp" "$TMP/in2/$b"; sleep 0.1
done
for _ in $(seq 600); do
  n=$(sqlite3 "$TMP/out2/sluice.db" "SELECT coalesce(sum(records_in),0) FROM _sluice_events" 2>/dev/null || echo 0)
  [ "$n" = $((total + 200)) ] && break
  sleep 0.1
done
kill -TERM "$pid"; wait "$pid" || fail "live run failed: $(tail -3 "$TMP/run2.log")"
compare "$TMP/out2" "live"
ok "live: schema changes while following the landing folder"

# ---- 3. SIGKILL right before and right after a change, and at random moments --
run3() { exec "$SLUICE" run "$PIPE" --data "$TMP/out3" --set input="$TMP/all" --set commit_interval=20ms --set max_files=1 --once --status 0; }
for k in before:1 after:1 before:1 after:1; do
  (SLUICE_TEST_KILL_AT_SCHEMA=$k run3 2>>"$TMP/run3.log") && fail "run with kill at $k was not killed"
done
RANDOM=4242
kills=0
for _ in $(seq 12); do
  (run3 2>>"$TMP/run3.log") &
  pid=$!
  sleep "0.$((RANDOM % 3))$((RANDOM % 10))"
  if kill -9 "$pid" 2>/dev/null; then kills=$((kills + 1)); wait "$pid" 2>/dev/null || true; else wait "$pid" || fail "run 3: $(tail -3 "$TMP/run3.log")"; break; fi
done
(run3 2>>"$TMP/run3.log") || fail "final run 3: $(tail -3 "$TMP/run3.log")"
compare "$TMP/out3" "crash"
ok "crash: 4 kills around schema changes + $kills random SIGKILLs, tables equal the expectation"
