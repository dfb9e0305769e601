#!/usr/bin/env bash
# Bad PostgreSQL store configurations are refused with a clear message and
# exit code 2, never a crash, never a half-written commit, never a password
# in the output: a URL that is not one, a malformed URL, a wrong password, a
# missing database, an existing table of the same name with other columns
# (or with a column of another type).
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/pg_lib.sh"
need sqlite3
pg_start
"$SLUICE" gen cameras --events 2000 --seed 3 --out "$TMP/in" 2>/dev/null
# expect_refused NAME PATTERN STORE: the run exits 2 saying PATTERN, writes no commit
expect_refused() {
  local name=$1 pattern=$2 store=$3 rc=0
  rm -rf "$TMP/out"
  timeout 60 "$SLUICE" run "$REPO/pipelines/cameras.yaml" --data "$TMP/out" --set input="$TMP/in" \
    --set locations="$TMP/in/locations.csv" --once --status 0 --store "$store" >"$TMP/$name.out" 2>&1 || rc=$?
  [ "$rc" = 2 ] || fail "$name: exit code $rc, want 2: $(tail -2 "$TMP/$name.out")"
  grep -q "$pattern" "$TMP/$name.out" || fail "$name: no '$pattern' in: $(tail -2 "$TMP/$name.out")"
  ! grep -q "wrong-pw\|$PGPASSWORD_TEST" "$TMP/$name.out" || fail "$name: a password is printed"
  grep -qi "segfault\|assert\|sanitizer" "$TMP/$name.out" && fail "$name: crashed"
  if [ -f "$TMP/out/sluice.db" ]; then
    [ "$(sqlite3 "$TMP/out/sluice.db" "SELECT count(*) FROM _sluice_events")" = 0 ] || fail "$name: a commit was written"
  fi
  [ "$(pgq "SELECT count(*) FROM pg_tables WHERE tablename = '_sluice_commits'")" = 0 ] ||
    [ "$(pgq "SELECT count(*) FROM _sluice_commits")" = 0 ] || fail "$name: a PostgreSQL commit was written"
  ok "$name refused: $(grep -m1 "$pattern" "$TMP/$name.out" | cut -c1-160)"
}
expect_refused not-a-url "must be sqlite or a postgresql:// URL" "mysql://root:wrong-pw@localhost/x"
expect_refused malformed "bad postgresql store URL" "postgresql://postgres:wrong-pw@127.0.0.1:$PGPORT/sluice?nosuchoption=1"
expect_refused wrong-password "password authentication failed" "postgresql://postgres:wrong-pw@127.0.0.1:$PGPORT/sluice"
expect_refused missing-database 'database "nosuchdb" does not exist' "postgresql://postgres:$PGPASSWORD_TEST@127.0.0.1:$PGPORT/nosuchdb"
pgq "CREATE TABLE detection_events (id int, note text)"
expect_refused foreign-table "exists with other columns" "$PGURL"
pgq "DROP TABLE detection_events; CREATE TABLE detection_events (detection_oid text, _commit bigint)"
expect_refused other-type 'column "detection_oid" of type text' "$PGURL"
# in the pipeline file too, with ${VAR} for the password: a wrong one is refused
sed "s|^commit_interval:|store: postgresql://postgres:\${PGPW}@127.0.0.1:$PGPORT/sluice\ncommit_interval:|" \
  "$REPO/pipelines/cameras.yaml" >"$TMP/cameras_pg.yaml"
rc=0
PGPW=wrong-pw "$SLUICE" run "$TMP/cameras_pg.yaml" --data "$TMP/out2" --set input="$TMP/in" \
  --set locations="$TMP/in/locations.csv" --once --status 0 >"$TMP/file.out" 2>&1 || rc=$?
[ "$rc" = 2 ] && grep -q "password authentication failed" "$TMP/file.out" || fail "store: in the file, wrong \${PGPW}: rc $rc $(tail -1 "$TMP/file.out")"
pgq "DROP TABLE detection_events"
PGPW=$PGPASSWORD_TEST "$SLUICE" run "$TMP/cameras_pg.yaml" --data "$TMP/out2" --set input="$TMP/in" \
  --set locations="$TMP/in/locations.csv" --once --status 0 2>"$TMP/file.out" || fail "store: in the file: $(tail -2 "$TMP/file.out")"
[ "$(pgq "SELECT count(*) FROM detection_events")" -gt 0 ] || fail "store: in the file wrote no rows"
ok "store: in the pipeline file with \${PGPW}"
# another pipeline writing the same table is refused (its recovery would delete these rows)
sed 's/^pipeline: cameras$/pipeline: cameras_copy/' "$TMP/cameras_pg.yaml" >"$TMP/copy.yaml"
rc=0
PGPW=$PGPASSWORD_TEST "$SLUICE" run "$TMP/copy.yaml" --data "$TMP/out3" --set input="$TMP/in" \
  --set locations="$TMP/in/locations.csv" --once --status 0 >"$TMP/copy.out" 2>&1 || rc=$?
[ "$rc" = 2 ] && grep -q "is written by pipeline 'cameras'" "$TMP/copy.out" ||
  fail "a second pipeline on the same tables: rc $rc $(tail -1 "$TMP/copy.out")"
ok "a second pipeline on the same tables refused"
