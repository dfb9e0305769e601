#!/usr/bin/env bash
# test_csv_unclosed_quote.sh - a CSV file that ends inside a quoted field (an
# unclosed quote) must not hang `--once` nor stall the files after it: once
# the file is idle, the record from its first line to the end of the file is
# quarantined with a reason and the next file is read. `sluice parse csv`
# reports it too.
source "$(dirname "$0")/../lib.sh"
PIPE="$REPO/tests/integration/landing/lines.yaml"
IN="$TMP/in"; DATA="$TMP/data"
mkdir -p "$IN/json" "$IN/syslog" "$IN/csv"
printf 'id,name\n1,a\n2,"never closed\n3,c\n' >"$IN/csv/a.csv"
printf 'id,name\n4,d\n5,e\n' >"$IN/csv/b.csv"
rc=0
timeout 30 "$SLUICE" run "$PIPE" --data "$DATA" --set input="$IN" --once --status 0 || rc=$?
[ "$rc" -eq 124 ] && fail "--once did not finish in 30 s (stuck on the unclosed quote)"
[ "$rc" -eq 0 ] || fail "run failed ($rc)"
q() { sqlite3 "$DATA/sluice.db" "$1"; }
got=$(q "SELECT group_concat(id || ':' || name) FROM (SELECT * FROM csv_rows ORDER BY id)")
[ "$got" = "1:a,4:d,5:e" ] || fail "csv_rows: $got, want 1:a,4:d,5:e"
got=$(q "SELECT reason || '|' || raw || '|' || _source || '|' || _offset FROM quarantine")
[ "$got" = "unterminated quoted field at the end of the file|2,\"never closed
3,c|a.csv|12" ] || fail "quarantine: $got"
in=$(q "SELECT sum(records_in) FROM _sluice_events")
[ "$in" -eq 4 ] || fail "records_in $in, want 4"
# a file's position row is named NAME#IDENTITY (files are known by inode and fingerprint)
pos=$(q "SELECT group_concat(name || '=' || position) FROM (SELECT substr(partition, 1, instr(partition || '#', '#') - 1) AS name, position
  FROM _sluice_positions WHERE position >= 0 ORDER BY partition)")
[ "$pos" = "a.csv=$(stat -c %s "$IN/csv/a.csv"),b.csv=$(stat -c %s "$IN/csv/b.csv")" ] || fail "positions: $pos"
ok "the unclosed quote is one quarantined record; the next file is read; --once ends"
out=$(timeout 10 "$SLUICE" parse csv "$IN/csv/a.csv" --schema id:int,name:string) || fail "sluice parse failed"
printf '%s\n' "$out" | grep -q '^# quarantine at offset 12: unterminated quoted field at the end of the file: 2,"never closed' \
  || fail "sluice parse did not report the unclosed quote: $out"
ok "sluice parse csv reports it"
