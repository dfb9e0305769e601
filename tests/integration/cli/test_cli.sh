#!/usr/bin/env bash
# The command line: usage errors, bad pipeline files with file:line:col, --help everywhere.
source "$(dirname "$0")/../lib.sh"
expect_exit() { # CODE CMD...
  local want=$1; shift
  set +e; "$@" >"$TMP/out.txt" 2>"$TMP/err.txt"; local got=$?; set -e
  [ "$got" -eq "$want" ] || fail "$* exited $got, want $want: $(cat "$TMP/err.txt")"
}
expect_exit 2 "$SLUICE"
expect_exit 2 "$SLUICE" frobnicate
grep -q usage "$TMP/err.txt" || fail "unknown command prints no usage"
for c in run query validate lineage parse vars; do
  expect_exit 0 "$SLUICE" $c --help
  grep -q "usage: sluice $c" "$TMP/out.txt" || fail "$c --help"
done
expect_exit 0 "$SLUICE" --help
expect_exit 0 "$SLUICE" gen cameras --help
expect_exit 2 "$SLUICE" gen cameras --bogus
expect_exit 2 "$SLUICE" run
expect_exit 2 "$SLUICE" run "$REPO/pipelines/cameras.yaml" --set novalue
expect_exit 0 "$SLUICE" validate "$REPO/pipelines/cameras.yaml"
expect_exit 0 "$SLUICE" lineage "$REPO/pipelines/cameras.yaml"
grep -q "detections_by_location_1h" "$TMP/out.txt" || fail "lineage misses a table"
expect_exit 0 "$SLUICE" help dedupe
# bad pipeline files: each must give file:line:col and exit 2
bad() { # NAME EXPECTED-POSITION EXPECTED-TEXT  (pipeline text on stdin)
  cat > "$TMP/$1.yaml"
  expect_exit 2 "$SLUICE" validate "$TMP/$1.yaml"
  grep -q "^$TMP/$1.yaml:$2.*$3" "$TMP/err.txt" || fail "$1: want '$2: ...$3', got: $(cat "$TMP/err.txt")"
}
base_src='sources:
  s:
    type: dir
    path: /tmp
    schema: {id: int, name: string}'
bad unknown_key 2:1 "unknown key 'pipline'" <<EOF
pipeline: x
pipline: y
$base_src
tables: {}
EOF
bad bad_type 3:18 "commit_interval" <<EOF
pipeline: x
description: y
commit_interval: soon
$base_src
tables: {}
EOF
bad unknown_column 15:18 "unknown column 'nme'" <<EOF
pipeline: x
$base_src
tables:
  t:
    from: s
    steps:
      - derive: {a: "id + 1"}
  u:
    from: s
    steps:
      - filter: "nme = 'x'"
EOF
bad cycle 9:11 "cycle in the table graph" <<EOF
pipeline: x
$base_src
tables:
  a:
    from: b
  b:
    from: c
  c:
    from: a
EOF
bad type_error 11:22 "needs numbers" <<EOF
pipeline: x
$base_src
tables:
  t:
    from: s
    steps:
      - derive: {b: "name + 1"}
EOF
bad unknown_from 9:11 "neither a source nor a table" <<EOF
pipeline: x
$base_src
tables:
  t:
    from: nowhere
EOF
bad yaml_syntax 3:7 "expected" <<EOF
pipeline: x
sources: {a: 1
tables: [
EOF
# load-time checks that `run` must agree with: validate and run refuse with the
# same file:line:col: message and exit 2
bad_both() { # NAME EXPECTED-POSITION EXPECTED-TEXT  (pipeline text on stdin)
  bad "$@"
  grep "^$TMP/$1.yaml:" "$TMP/err.txt" >"$TMP/$1.validate"
  expect_exit 2 "$SLUICE" run "$TMP/$1.yaml" --data "$TMP/data_$1" --once --status 0
  grep "^$TMP/$1.yaml:" "$TMP/err.txt" >"$TMP/$1.run" || fail "$1: run: no file:line:col: $(cat "$TMP/err.txt")"
  cmp -s "$TMP/$1.validate" "$TMP/$1.run" || fail "$1: validate said '$(cat "$TMP/$1.validate")', run said '$(cat "$TMP/$1.run")'"
}
base_t='tables:
  t:
    from: s'
bad_both view_syntax 11:6 "view 'v': near \"SELEC\": syntax error" <<EOF
pipeline: x
$base_src
$base_t
views:
  v: SELEC id FROM t
EOF
bad_both view_missing_table 12:6 "view 'w': no such table: nope" <<EOF
pipeline: x
$base_src
$base_t
views:
  v: "SELECT id, name FROM t"
  w: "SELECT id FROM v UNION SELECT id FROM nope"
EOF
bad_both view_missing_column 11:13 "view 'v': no such column: nme" <<EOF
pipeline: x
$base_src
$base_t
views:
  v: SELECT nme FROM t
EOF
bad_both view_of_store_none 12:6 "no such table: t" <<EOF
pipeline: x
$base_src
tables:
  t:
    from: s
    store: none
views:
  v: SELECT id FROM t
EOF
bad_both bad_regex 8:33 "regex" <<EOF
pipeline: x
sources:
  s:
    type: dir
    path: /tmp
    format: regex
    schema: {id: int}
    pattern_regex: "(?<id>[0-9]+"
$base_t
EOF
bad_both bad_listen 11:11 "port must be a number 0..65535" <<EOF
pipeline: x
$base_src
$base_t
server:
  listen: "127.0.0.1:99999"
EOF
bad_both bad_listen_word 11:11 "port must be a number 0..65535" <<EOF
pipeline: x
$base_src
$base_t
server:
  listen: localhost:http
EOF
bad_both panel_bad_column 14:25 "panel 'n': no such column: nid" <<EOF
pipeline: x
$base_src
$base_t
dashboard:
  panels:
    - title: n
      type: stat
      sql: SELECT count(nid) FROM t
EOF
bad_both panel_writes 14:12 "panel 'd': a panel's SQL must only read" <<EOF
pipeline: x
$base_src
$base_t
dashboard:
  panels:
    - title: d
      type: stat
      sql: DELETE FROM t
EOF
# what is right stays accepted: a view over a view, the store's tables, a panel over them
cat >"$TMP/good_sql.yaml" <<EOF
pipeline: x
$base_src
$base_t
views:
  v: SELECT id, name, _source FROM t
  w: SELECT count(*) AS n FROM v JOIN quarantine ON 1 WHERE reason LIKE 'late%'
server:
  listen: "[::1]:0"
dashboard:
  panels:
    - {title: a, type: stat, sql: "SELECT n FROM w"}
    - {title: b, type: stat, sql: "SELECT sum(records_in) FROM _sluice_events"}
EOF
expect_exit 0 "$SLUICE" validate "$TMP/good_sql.yaml"
ok "cli: usage, --help, exit codes and file:line:col errors"

# bad option values: usage and exit 2, before anything runs
for v in abc 5x -1 "" nan inf; do
  expect_exit 2 "$SLUICE" run "$REPO/pipelines/cameras.yaml" --status "$v"
  grep -q "usage: sluice run" "$TMP/err.txt" || fail "--status '$v': no usage"
done
for v in 127.0.0.1:99999 127.0.0.1:65536 127.0.0.1 127.0.0.1:80x 127.0.0.1:; do
  expect_exit 2 "$SLUICE" run "$REPO/pipelines/cameras.yaml" --listen "$v"
  grep -q "usage: sluice run" "$TMP/err.txt" || fail "--listen '$v': no usage"
done
ok "cli: --status and --listen values are checked"

# a small dir pipeline for the run-time checks below
need jq
need sqlite3
mkdir -p "$TMP/in"
cat >"$TMP/small.yaml" <<'EOF'
pipeline: small
commit_interval: 100ms
sources:
  s:
    type: dir
    path: ${input}
    format: json
    schema: {id: int, name: string}
tables:
  t:
    from: s
    steps:
      - expect: {name: named, expr: "name IS NOT NULL", action: fail}
EOF
printf '{"id":1,"name":"a"}\n{"id":2,"name":"b"}\n' >"$TMP/in/a.ndjson"

# SIGHUP: the file is reloaded, the pipeline goes on; SIGTERM still stops it cleanly
SLUICE_LOG=info "$SLUICE" run "$TMP/small.yaml" --set input="$TMP/in" --data "$TMP/hup" --status 0 2>"$TMP/hup.err" &
pid=$!
for _ in $(seq 100); do [ "$(sqlite3 "$TMP/hup/sluice.db" 'SELECT count(*) FROM t' 2>/dev/null)" = 2 ] && break; sleep 0.05; done
kill -HUP $pid
sleep 0.5
kill -0 $pid 2>/dev/null || fail "SIGHUP killed sluice run: $(cat "$TMP/hup.err")"
printf '{"id":3,"name":"c"}\n' >"$TMP/in/b.ndjson"
for _ in $(seq 100); do [ "$(sqlite3 "$TMP/hup/sluice.db" 'SELECT count(*) FROM t' 2>/dev/null)" = 3 ] && break; sleep 0.05; done
kill -TERM $pid
wait $pid || fail "sluice run exited $? after SIGHUP and SIGTERM: $(cat "$TMP/hup.err")"
grep -q '"msg":"SIGHUP: reloading the pipeline file"' "$TMP/hup.err" || fail "no SIGHUP log line: $(cat "$TMP/hup.err")"
grep -q '"msg":"reload applied"' "$TMP/hup.err" || fail "SIGHUP did not reload: $(cat "$TMP/hup.err")"
jq -e . "$TMP/hup.err" >/dev/null || fail "log lines are not JSON"
[ "$(sqlite3 "$TMP/hup/sluice.db" 'SELECT count(*) FROM t')" = 3 ] || fail "the pipeline stopped reading after SIGHUP"
rm -f "$TMP/in/b.ndjson"
ok "cli: SIGHUP reloads the pipeline file and reading goes on"

# a `fail` expectation quotes the record in its log line: still one JSON object
mkdir -p "$TMP/in2"
printf '{"id":1,"name":"a"}\n{"id":2,"name":null,"note":"say \\"hi\\"\\\\ \\t end"}\n' >"$TMP/in2/a.ndjson"
expect_exit 3 "$SLUICE" run "$TMP/small.yaml" --set input="$TMP/in2" --data "$TMP/failx" --once --status 0
grep '"pipeline failed"' "$TMP/err.txt" >"$TMP/failline.json" || fail "no 'pipeline failed' log line: $(cat "$TMP/err.txt")"
jq -e '.error | contains("say \\\"hi\\\"")' "$TMP/failline.json" >/dev/null || fail "the 'pipeline failed' line is not valid JSON with the record: $(cat "$TMP/failline.json")"
ok "cli: the fail expectation's log line is valid JSON with the record"

# sluice query on a read-only data directory (as nobody when we are root:
# root writes anywhere)
"$SLUICE" run "$TMP/small.yaml" --set input="$TMP/in" --data "$TMP/ro" --once --status 0 2>/dev/null
chmod -R a+rX,a-w "$TMP/ro"
chmod a+rx "$TMP"
asuser=()
if [ "$(id -u)" = 0 ]; then
  command -v setpriv >/dev/null || skip "setpriv (util-linux) is needed to query as another user"
  asuser=(setpriv --reuid=65534 --regid=65534 --clear-groups)
fi
expect_exit 0 "${asuser[@]}" "$SLUICE" query "$TMP/small.yaml" --set input="$TMP/in" --data "$TMP/ro" --format csv "SELECT count(*) AS n FROM t"
[ "$(tail -1 "$TMP/out.txt")" = 2 ] || fail "query on a read-only data dir: $(cat "$TMP/out.txt" "$TMP/err.txt")"
chmod -R u+w "$TMP/ro"
ok "cli: query reads a read-only data directory"

# kafka-mock keeps running with stdin closed or /dev/null; SIGTERM stops it
expect_exit 0 "$SLUICE" kafka-mock --help
grep -q "usage: kafka-mock" "$TMP/out.txt" || fail "kafka-mock --help prints no usage"
expect_exit 2 "$SLUICE" kafka-mock --bogus
for how in null closed; do
  if [ $how = null ]; then "$SLUICE" kafka-mock --topic t:1 </dev/null >"$TMP/mock.out" 2>&1 &
  else "$SLUICE" kafka-mock --topic t:1 <&- >"$TMP/mock.out" 2>&1 & fi
  mp=$!
  sleep 1.5
  kill -0 $mp 2>/dev/null || fail "kafka-mock with stdin $how exited: $(cat "$TMP/mock.out")"
  grep -q '^bootstrap=' "$TMP/mock.out" || fail "kafka-mock printed no bootstrap line"
  kill -TERM $mp
  wait $mp || fail "kafka-mock exited $? on SIGTERM"
done
ok "cli: kafka-mock runs in the background (stdin /dev/null or closed), stops on SIGTERM"

# gen umb against a broker that is not there: a clear error, not "all sent"
set +e
timeout 60 "$SLUICE" gen umb --brokers 127.0.0.1:1 --messages 2000 --ack-timeout 2 >"$TMP/umb.out" 2>"$TMP/umb.err"
rc=$?
set -e
[ $rc = 1 ] || fail "gen umb against no broker exited $rc, want 1: $(tail -3 "$TMP/umb.err")"
grep -q "is the broker up" "$TMP/umb.err" || fail "gen umb: no clear error: $(tail -3 "$TMP/umb.err")"
[ "$(cat "$TMP/umb.out")" = 0 ] || fail "gen umb reported $(cat "$TMP/umb.out") messages delivered, want 0"
# ... it honours SIGTERM (real-time mode, no end, no ack timeout)
"$SLUICE" gen umb --brokers 127.0.0.1:1 --rate 1000 --ack-timeout 0 >/dev/null 2>"$TMP/umb2.err" &
gp=$!
sleep 1.5
kill -TERM $gp
for _ in $(seq 50); do kill -0 $gp 2>/dev/null || break; sleep 0.1; done
kill -0 $gp 2>/dev/null && { kill -9 $gp; fail "gen umb ignored SIGTERM"; }
if wait $gp; then fail "gen umb exited 0 with nothing delivered"; fi
# ... and --duration
set +e
timeout 30 "$SLUICE" gen umb --brokers 127.0.0.1:1 --rate 1000 --duration 1 --ack-timeout 0 >/dev/null 2>&1
rc=$?
set -e
[ $rc = 1 ] || fail "gen umb --duration 1 against no broker exited $rc, want 1 within 30 s"
ok "cli: gen umb fails clearly on a dead broker and honours SIGTERM and --duration"
