#!/usr/bin/env bash
# test_refresh.sh - `sluice refresh` on the retail flavor:
#  1. no live process: a refresh with a changed variable equals a run from
#     scratch of the changed pipeline, table by table; the old state is kept
#  2. a live run (with its server): a refresh SIGKILLed halfway leaves the
#     live tables as they were and the live process running
#  3. the same live run: a refresh completes and the live process switches;
#     landing files dropped during and after the refresh are counted exactly
#     once (equal to a from-scratch run over every file), and /api/query
#     answers from the new state
# Refusals: a PostgreSQL store, a source that cannot be read again.
source "$(dirname "$0")/../lib.sh"
need python3
need sqlite3
need curl

P="$REPO/pipelines/retail.yaml"
EV=4000
[ "$SANITIZED" = 1 ] && EV=1500

# dump DIR [VARS...]: every table, _ingest_ts (wall clock) dropped, rows sorted
# (window tables without is_final: a live state leaves windows open)
TABLES="dim_entities gold_entity_health gold_entity_metrics_5min gold_events gold_performance_1h
gold_performance_5min quarantine silver_metrics_validated silver_pos_events pos_raw metrics_raw"
dump() {
  local d=$1; shift
  for t in $TABLES; do
    echo "== $t"
    "$SLUICE" query "$P" --data "$d" "$@" --format csv "SELECT * FROM $t" |
      python3 -c '
import csv, sys
r = list(csv.reader(sys.stdin))
drop = {"_ingest_ts", "is_final"}
keep = [i for i, c in enumerate(r[0]) if c not in drop]
print(",".join(r[0][i] for i in keep))
for row in sorted(",".join(x[i] for i in keep) for x in r[1:]): print(row)'
  done
}

# ---- 1. offline refresh == run from scratch -------------------------------------------
"$SLUICE" gen retail --out "$TMP/land1" --events "$EV" --late 0.05 >/dev/null 2>&1
V1=(--set "input=$TMP/land1" --set commit_interval=200ms)
"$SLUICE" run "$P" --data "$TMP/d1" "${V1[@]}" --once --status 0 || fail "run --once"
dump "$TMP/d1" "${V1[@]}" >"$TMP/d1.before"
"$SLUICE" refresh "$P" --data "$TMP/d1" "${V1[@]}" --set lateness=1s --status 0 2>"$TMP/r1.err" ||
  { cat "$TMP/r1.err" >&2; fail "refresh exited $?"; }
grep -q "switched to the rebuilt state" "$TMP/r1.err" || fail "no progress on stderr"
"$SLUICE" run "$P" --data "$TMP/f1" "${V1[@]}" --set lateness=1s --once --status 0 || fail "fresh run"
dump "$TMP/d1" "${V1[@]}" >"$TMP/d1.after"
dump "$TMP/f1" "${V1[@]}" >"$TMP/f1.dump"
cmp -s "$TMP/d1.before" "$TMP/d1.after" && fail "lateness=1s changed nothing: the test proves nothing"
diff "$TMP/d1.after" "$TMP/f1.dump" >"$TMP/d1.diff" || { head -20 "$TMP/d1.diff" >&2; fail "refreshed state differs from a run from scratch"; }
prev=$(ls -d "$TMP"/d1.previous-* | head -1)
[ -n "$prev" ] || fail "previous state not kept"
dump "$prev" "${V1[@]}" | cmp -s - "$TMP/d1.before" || fail "previous state is not the old one"
[ ! -e "$TMP/d1.refresh" ] || fail "d1.refresh left behind"
ok "offline refresh equals a run from scratch ($(grep -c . "$TMP/d1.after") lines)"

# refusals (exit 2, the reason named)
set +e
"$SLUICE" refresh "$P" --data "$TMP/d1" "${V1[@]}" --store postgresql://u@127.0.0.1:1/db 2>"$TMP/pg.err"
rc=$?
set -e
[ $rc = 2 ] && grep -q PostgreSQL "$TMP/pg.err" || fail "PostgreSQL store: exit $rc: $(cat "$TMP/pg.err")"
cat >"$TMP/sys.yaml" <<'EOF'
pipeline: sys
sources:
  logs: {type: syslog, listen_udp: "127.0.0.1:0"}
tables:
  logs_raw: {from: logs}
EOF
set +e
"$SLUICE" refresh "$TMP/sys.yaml" --data "$TMP/sys" 2>"$TMP/sys.err"
rc=$?
set -e
[ $rc = 2 ] && grep -q "source 'logs' (syslog)" "$TMP/sys.err" || fail "syslog source: exit $rc: $(cat "$TMP/sys.err")"
ok "refusals"

# ---- 2. live run; a refresh killed halfway changes nothing ---------------------------
"$SLUICE" gen retail --out "$TMP/stage" --events $((EV * 2)) --file-events 250 >/dev/null 2>&1
L="$TMP/land2"
mkdir -p "$L/pos" "$L/metrics" "$L/entities"
cp "$TMP/stage/entities.csv" "$L/"
cp "$TMP/stage/entities/"* "$L/entities/"
# move_files FROM TO: files number FROM..TO (1-based, name order) of pos/ and metrics/
move_files() {
  for sub in pos metrics; do
    ls "$TMP/stage/$sub" | sort | sed -n "$1,$2p" | while read -r f; do
      cp "$TMP/stage/$sub/$f" "$L/$sub/.$f" && mv "$L/$sub/.$f" "$L/$sub/$f"
    done
  done
}
NF=$(ls "$TMP/stage/pos" | wc -l)
move_files 1 $((NF / 3))
V2=(--set "input=$L" --set lateness=1000d --set commit_interval=100ms)
D="$TMP/d2"
"$SLUICE" run "$P" --data "$D" "${V2[@]}" --listen 127.0.0.1:0 --status 1 2>"$TMP/live.err" &
LIVE=$!
trap 'kill $LIVE 2>/dev/null; wait $LIVE 2>/dev/null; cleanup' EXIT
PORT=
for _ in $(seq 100); do
  PORT=$(sed -n 's/.*dashboard at http:\/\/127.0.0.1:\([0-9]*\)\/.*/\1/p' "$TMP/live.err" | head -1)
  [ -n "$PORT" ] && break
  sleep 0.1
done
[ -n "$PORT" ] || { cat "$TMP/live.err" >&2; fail "live server did not start"; }
U="http://127.0.0.1:$PORT"
# caught_up: every byte of the landing files is in the live checkpoint
total_bytes() { cat "$L"/pos/* "$L"/metrics/* "$L"/entities/* | wc -c; }
caught_up() {
  local want got D=${1:-$D}
  want=$(total_bytes)
  for _ in $(seq 300); do
    got=$(sqlite3 "file:$D/sluice.db?mode=ro" "SELECT coalesce(sum(position),0) FROM _sluice_positions WHERE source IN ('pos','metrics','entities')" 2>/dev/null || echo 0)
    [ "$got" = "$want" ] && return 0
    sleep 0.1
  done
  fail "live run did not catch up ($got of $want bytes)"
}
caught_up
sleep 0.3
dump "$D" "${V2[@]}" >"$TMP/d2.before"
curl -sf --get --data-urlencode "sql=SELECT count(*) FROM silver_pos_events" "$U/api/query" >/dev/null || fail "/api/query before"
SLUICE_TEST_REFRESH_SLOW_MS=150 "$SLUICE" refresh "$P" --data "$D" "${V2[@]}" --status 0 2>"$TMP/r2.err" &
RP=$!
for _ in $(seq 300); do
  n=$(sqlite3 "file:$D.refresh/sluice.db?mode=ro" "SELECT count(*) FROM _sluice_events" 2>/dev/null || echo 0)
  [ "${n:-0}" -ge 1 ] && break
  sleep 0.02
done
kill -9 $RP 2>/dev/null || true
wait $RP 2>/dev/null || true
[ -e "$D.refresh/.sluice-refresh" ] && fail "the refresh completed before it was killed: make the input bigger"
kill -0 $LIVE || fail "the live process died"
dump "$D" "${V2[@]}" | cmp -s - "$TMP/d2.before" || fail "live tables changed by a killed refresh"
ok "refresh killed halfway: live state untouched, live process running"

# ---- 3. a refresh completes beside the live run; files during and after ----------------
"$SLUICE" refresh "$P" --data "$D" "${V2[@]}" --status 0 2>"$TMP/r3.err" &
RP=$!
move_files $((NF / 3 + 1)) $((2 * NF / 3)) # during (or just before) the refresh's read
wait $RP || { cat "$TMP/r3.err" >&2; fail "refresh beside a live run failed"; }
grep -q "serves the rebuilt state" "$TMP/r3.err" || { cat "$TMP/r3.err" >&2; fail "no switch by the live process"; }
[ ! -e "$D.refresh" ] || fail "d2.refresh left behind"
ls -d "$D".previous-* >/dev/null || fail "previous state not kept"
kill -0 $LIVE || fail "the live process died in the switch"
move_files $((2 * NF / 3 + 1)) "$NF" # after the switch
caught_up
sleep 0.3
# the server reads the new state: its pooled connections went with the switch
api=$(curl -sf --get --data-urlencode "sql=SELECT count(*) FROM silver_pos_events" "$U/api/query") || fail "/api/query after"
want=$("$SLUICE" query "$P" --data "$D" "${V2[@]}" --format csv "SELECT count(*) FROM silver_pos_events" | tail -1)
echo "$api" | grep -q "\"rows\":\[\[$want\]\]" || fail "/api/query answers $api, the new state has $want rows"
# the switch is audited: a _sluice_audit row in the new state
row=$(sqlite3 -separator ' ' "file:$D/sluice.db?mode=ro" "SELECT method, status, route = '$D', detail FROM _sluice_audit WHERE method = 'REFRESH'")
case $row in "REFRESH 200 1 ok $D.previous-"*) ;; *) fail "refresh audit row: '$row'" ;; esac
kill -TERM $LIVE
wait $LIVE || fail "live run exited $?"
trap cleanup EXIT
# the answer: a live run from scratch over every file, stopped once caught up
# (as the live one: windows left open, so not `run --once`)
"$SLUICE" run "$P" --data "$TMP/f2" "${V2[@]}" --status 0 &
FP=$!
caught_up "$TMP/f2"
sleep 0.3
kill -TERM $FP
wait $FP || fail "fresh run exited $?"
dump "$D" "${V2[@]}" >"$TMP/d2.after"
dump "$TMP/f2" "${V2[@]}" >"$TMP/f2.dump"
diff "$TMP/d2.after" "$TMP/f2.dump" >"$TMP/d2.diff" || { head -20 "$TMP/d2.diff" >&2; fail "after the switch: not every file exactly once"; }
ok "live switch: every file exactly once ($(grep -c . "$TMP/d2.after") lines)"
