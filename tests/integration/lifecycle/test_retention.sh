#!/usr/bin/env bash
# Retention of sqlite tables: rows older than `retention:` by event time (a
# silver table's event_ts, a window's window_start) or by ingest time are
# deleted in the commit, at most 10,000 of the oldest rows per pass (never
# everything at once), counted in the event log; the rows kept are exactly
# the brute force's.
source "$(dirname "$0")/../lib.sh"
need python3
need sqlite3

mkdir -p "$TMP/in"
now_ms=$(python3 -c 'import time; print(int(time.time() * 1000))')
# 3000 events over the last 5 hours, none within a minute of the cut-offs (1h, 2h)
python3 - "$TMP/in/a.ndjson" "$now_ms" <<'PY'
import json, sys
path, now = sys.argv[1], int(sys.argv[2])
with open(path, "w") as f:
    i = 0; t = now - 5 * 3600_000
    while i < 3000:
        t += 5500
        age = now - t
        if abs(age - 3600_000) < 120_000 or abs(age - 7200_000) < 120_000: continue
        f.write(json.dumps({"id": i, "k": "k%d" % (i % 3), "ts": t}) + "\n"); i += 1
PY
cat >"$TMP/p.yaml" <<YAML
pipeline: retention
sources:
  s: {type: dir, path: $TMP/in, pattern: "*.ndjson", format: json, schema: {id: int, k: string, ts: int}}
tables:
  silver:
    from: s
    retention: 1h
    steps:
      - watermark: {time: "from_unixtime_ms(ts)", delay: 10m}
  per_minute:
    from: silver
    retention: 2h
    window: {size: 1m, keys: [k], aggregates: {n: count(*)}}
  audit:
    from: s
    retention: 1h
    retention_by: ingest
YAML
"$SLUICE" run "$TMP/p.yaml" --data "$TMP/d" --once --status 0 || fail "run"
db="$TMP/d/sluice.db"
read -r want_silver want_windows <<<"$(python3 - "$TMP/in/a.ndjson" "$now_ms" <<'PY'
import json, sys
now = int(sys.argv[2]); rows = [json.loads(l) for l in open(sys.argv[1])]
silver = sum(1 for r in rows if now - r["ts"] < 3600_000)
wins = {(r["ts"] // 60000, r["k"]) for r in rows if now - (r["ts"] // 60000 * 60000) < 7200_000}
print(silver, len(wins))
PY
)"
got=$(sqlite3 "$db" "SELECT count(*) FROM silver")
[ "$got" = "$want_silver" ] || fail "silver keeps $got rows, want $want_silver (the last hour)"
got=$(sqlite3 "$db" "SELECT count(*) FROM per_minute")
[ "$got" = "$want_windows" ] || fail "per_minute keeps $got windows, want $want_windows (2 hours)"
old=$(sqlite3 "$db" "SELECT count(*) FROM silver WHERE julianday(event_ts) < julianday('now', '-1 hour')")
[ "$old" = 0 ] || fail "$old expired rows left in silver"
# ingest time: everything was just ingested, nothing expires
[ "$(sqlite3 "$db" "SELECT count(*) FROM audit")" = 3000 ] || fail "audit (by ingest time) lost rows"
expired=$(sqlite3 "$db" "SELECT sum(json_extract(details, '\$.tables.silver.expired')) FROM _sluice_events")
[ "$expired" = $((3000 - want_silver)) ] || fail "event log counts $expired expired silver rows, want $((3000 - want_silver))"
ok "silver by event_ts, windows by window_start, audit by ingest time; counted in the event log"

# bounded passes: 25,000 expired rows go 10,000 per pass
rm -rf "$TMP/in"/* "$TMP/d"
python3 - "$TMP/in/b.ndjson" "$now_ms" <<'PY'
import json, sys
path, now = sys.argv[1], int(sys.argv[2])
with open(path, "w") as f:
    for i in range(25000):
        f.write(json.dumps({"id": i, "k": "k", "ts": now - 10 * 3600_000 + i}) + "\n")
PY
"$SLUICE" run "$TMP/p.yaml" --data "$TMP/d" --once --status 0 --set x=1 2>/dev/null || fail "run 2"
n1=$(sqlite3 "$TMP/d/sluice.db" "SELECT count(*) FROM silver")
[ "$n1" = 15000 ] || fail "one pass deletes 10000 rows: $n1 left, want 15000"
"$SLUICE" run "$TMP/p.yaml" --data "$TMP/d" --once --status 0 || fail "run 3"
n2=$(sqlite3 "$TMP/d/sluice.db" "SELECT count(*) FROM silver")
[ "$n2" = 5000 ] || fail "the next pass: $n2 left, want 5000"
ok "retention deletes at most 10,000 of the oldest rows per pass"

# a table without an event time cannot keep by event time: refused at load with file:line:col
cat >"$TMP/bad.yaml" <<YAML
pipeline: bad
sources:
  s: {type: dir, path: $TMP/in, format: json, schema: {id: int}}
tables:
  t: {from: s, retention: 1d}
YAML
set +e
"$SLUICE" validate "$TMP/bad.yaml" 2>"$TMP/err"; rc=$?
set -e
[ $rc = 2 ] || fail "validate exit $rc"
has "bad.yaml:5:27: table 't': retention by event time needs" "$TMP/err" || fail "message: $(cat "$TMP/err")"
ok "retention by event time without an event time column is refused at load"
