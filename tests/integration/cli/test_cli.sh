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
for c in run query validate lineage parse; do
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
