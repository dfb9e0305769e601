#!/usr/bin/env bash
# test_long_lines.sh - a line longer than max_line_bytes (1 MiB by default) is
# one quarantined record, whatever its length (here 10 MiB, beyond the 4 MiB
# read buffer, and 2 MiB, within it), with its first bytes as raw text; the
# lines around it are parsed and records_in counts lines. json and syslog.
# `sluice parse` reports such a line instead of dropping it.
source "$(dirname "$0")/../lib.sh"
PIPE="$REPO/tests/integration/landing/lines.yaml"
IN="$TMP/in"; DATA="$TMP/data"
mkdir -p "$IN/json" "$IN/syslog" "$IN/csv"
xs() { head -c "$1" /dev/zero | tr '\0' x; }
big=$((10 << 20)); mid=$((2 << 20)); fine=$((900 << 10))
{
  echo '{"id":1,"pad":"a"}'
  printf '{"id":2,"pad":"'; xs "$big"; printf '"}\n'
  echo '{"id":3,"pad":"c"}'
  printf '{"id":4,"pad":"'; xs "$fine"; printf '"}\n'
  printf '{"id":5,"pad":"'; xs "$mid"; printf '"}\n'
  echo '{"id":6,"pad":"f"}'
} >"$IN/json/a.ndjson"
hdr='<34>1 2026-01-01T00:00:00Z host app 1 ID47 - '
{
  echo "${hdr}first"
  printf '%s' "$hdr"; xs "$big"; echo
  echo "${hdr}second"
  printf '%s' "$hdr"; xs "$mid"; echo
  echo "${hdr}third"
} >"$IN/syslog/a.log"
timeout 120 "$SLUICE" run "$PIPE" --data "$DATA" --set input="$IN" --once --status 0 || fail "run failed"
q() { sqlite3 "$DATA/sluice.db" "$1"; }
got=$(q "SELECT group_concat(id) FROM (SELECT id FROM events ORDER BY id)")
[ "$got" = "1,3,4,6" ] || fail "events: ids $got, want 1,3,4,6"
[ "$(q "SELECT length(pad) FROM events WHERE id = 4")" -eq "$fine" ] || fail "the 900 KiB line was not parsed whole"
got=$(q "SELECT group_concat(msg) FROM (SELECT msg FROM log_lines ORDER BY rowid)")
[ "$got" = "first,second,third" ] || fail "log_lines: $got"
# one quarantined record per long line, with a bounded prefix as raw text
json_big=$((big + 17)); json_mid=$((mid + 17)); sys_big=$((big + ${#hdr})); sys_mid=$((mid + ${#hdr}))
json_mid_at=$((19 + json_big + 1 + 19 + fine + 18))
sys_big_at=$((${#hdr} + 6)); sys_mid_at=$((sys_big_at + sys_big + 1 + ${#hdr} + 7))
want="events|line of $json_big bytes exceeds max_line_bytes (1048576)|4096|19
events|line of $json_mid bytes exceeds max_line_bytes (1048576)|4096|$json_mid_at
log_lines|line of $sys_big bytes exceeds max_line_bytes (1048576)|4096|$sys_big_at
log_lines|line of $sys_mid bytes exceeds max_line_bytes (1048576)|4096|$sys_mid_at"
got=$(q "SELECT table_name, reason, length(raw), _offset FROM quarantine ORDER BY table_name, _offset")
[ "$got" = "$want" ] || fail "quarantine:
$got
want:
$want"
in=$(q "SELECT sum(records_in) FROM _sluice_events")
[ "$in" -eq 11 ] || fail "records_in $in, want 11 (6 json lines + 5 syslog lines)"
# positions: each file read to its end
pos=$(q "SELECT group_concat(position) FROM (SELECT position FROM _sluice_positions ORDER BY source)")
[ "$pos" = "$(stat -c %s "$IN/json/a.ndjson"),$(stat -c %s "$IN/syslog/a.log")" ] || fail "positions $pos"
ok "10 MiB and 2 MiB lines: one quarantined record each (json, syslog), the other lines parsed"
# sluice parse: the long line is reported, the rest printed
"$SLUICE" parse json "$IN/json/a.ndjson" --schema id:int,pad:string >"$TMP/parse.out" || fail "sluice parse failed"
[ "$(grep -c '^# quarantine at offset 19: line of '"$json_big"' bytes exceeds max_line_bytes' "$TMP/parse.out")" -eq 1 ] \
  || fail "sluice parse did not report the 10 MiB line: $(cut -c1-200 "$TMP/parse.out")"
[ "$(grep -c '^{"id"' "$TMP/parse.out")" -eq 4 ] || fail "sluice parse printed $(grep -c '^{"id"' "$TMP/parse.out") rows, want 4"
grep -q "^{\"id\":4,\"pad\":\"x" "$TMP/parse.out" || fail "sluice parse dropped the 900 KiB row"
ok "sluice parse reports the long lines and prints every other row"
