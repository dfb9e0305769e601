#!/usr/bin/env bash
# Fault injection: a damaged lake segment, a damaged checkpoint database, a
# database locked by another process, and a full disk (file-size limit). Each
# gives a clear error and a meaningful exit code, and never silent corruption:
# after the fault is removed, a rerun produces exactly the reference tables.
source "$(dirname "$0")/../lib.sh"
"$SLUICE" gen cameras --events 40000 --seed 5 --dup 0.05 --late 0.01 --malformed 0.002 --out "$TMP/in" 2>/dev/null
"$BUILD/cameras_ref" "$TMP/in" "$TMP/in/locations.csv" "$TMP/expected.db" > /dev/null
run() { # DATA-DIR
  "$SLUICE" run "$REPO/pipelines/cameras.yaml" --data "$1" --set input="$TMP/in" \
    --set locations="$TMP/in/locations.csv" --once --status 0
}
check_equal() { # DATA-DIR
  bash "$REPO/tests/integration/cameras/compare.sh" "$SLUICE" "$REPO/pipelines/cameras.yaml" "$1" "$TMP/expected.db" >"$TMP/cmp.txt" \
    || fail "tables differ: $(cat "$TMP/cmp.txt")"
}
expect_fail() { # CODE PATTERN DATA-DIR
  set +e; run "$3" 2>"$TMP/err.txt"; local got=$?; set -e
  [ "$got" -eq "$1" ] || fail "want exit $1, got $got: $(tail -2 "$TMP/err.txt")"
  grep -q "$2" "$TMP/err.txt" || fail "want error matching '$2', got: $(tail -2 "$TMP/err.txt")"
}

# 1. a committed lake segment cut short is detected (exit 4), not silently read
run "$TMP/a" 2>/dev/null
seg=$(find "$TMP/a/bronze" -name 'part-*' | sort | tail -1)
truncate -s $(( $(stat -c %s "$seg") / 2 )) "$seg"
expect_fail 4 "shorter\|corrupt\|committed" "$TMP/a"
set +e; "$SLUICE" query "$REPO/pipelines/cameras.yaml" --data "$TMP/a" "SELECT count(*) FROM raw_detection_events" >/dev/null 2>"$TMP/q.txt"; qrc=$?; set -e
[ "$qrc" -ne 0 ] || fail "query over a damaged segment succeeded"
grep -q "segment" "$TMP/q.txt" || fail "query error does not name the segment: $(cat "$TMP/q.txt")"
ok "damaged segment: run exits 4, query names the segment"

# 2. a damaged checkpoint database is detected (exit 4)
run "$TMP/b" 2>/dev/null
printf 'this is not a database at all, not even close....' | dd of="$TMP/b/sluice.db" bs=1 seek=0 conv=notrunc 2>/dev/null
expect_fail 4 "damaged" "$TMP/b"
ok "damaged checkpoint database: exit 4 with a pointer to the recovery steps"

# 3. the database locked by another process: a short lock is waited out ...
mkdir -p "$TMP/c"
run "$TMP/c" 2>/dev/null
rm -rf "$TMP/c"; mkdir -p "$TMP/c"
sqlite3 "$TMP/c/sluice.db" "PRAGMA journal_mode=WAL; CREATE TABLE IF NOT EXISTS _x(a);" >/dev/null
( echo "BEGIN IMMEDIATE; INSERT INTO _x VALUES(1);"; sleep 2; echo "COMMIT;" ) | sqlite3 "$TMP/c/sluice.db" &
locker=$!
sleep 0.3
run "$TMP/c" 2>"$TMP/err.txt" || fail "a 2 s lock was not waited out: $(tail -2 "$TMP/err.txt")"
wait $locker
check_equal "$TMP/c"
# ... a long one gives a clear error (exit 1) and no damage
( echo "BEGIN IMMEDIATE; INSERT INTO _x VALUES(2);"; sleep 9; echo "COMMIT;" ) | sqlite3 "$TMP/c/sluice.db" &
locker=$!
sleep 0.3
expect_fail 1 "locked" "$TMP/c"
wait $locker
run "$TMP/c" 2>/dev/null
check_equal "$TMP/c"
ok "locked database: short lock waited out, long lock reported, no damage"

# 4. disk full (file-size limit): clear error, then a rerun with space is exact
set +e; ( ulimit -f 200; run "$TMP/d" ) 2>"$TMP/err.txt"; got=$?; set -e
[ "$got" -eq 1 ] || fail "disk full: want exit 1, got $got: $(tail -2 "$TMP/err.txt")"
grep -qi "too large\|full\|disk" "$TMP/err.txt" || fail "disk full: unclear error: $(tail -2 "$TMP/err.txt")"
run "$TMP/d" 2>/dev/null || fail "rerun after disk full failed"
check_equal "$TMP/d"
ok "disk full: reported, and the rerun is exact"
