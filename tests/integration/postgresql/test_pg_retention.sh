#!/usr/bin/env bash
# Retention on a PostgreSQL store: rows older than `retention:` (event time:
# event_ts of a silver table, window_start of a window table) are deleted in
# the same PostgreSQL transaction as the interval's rows, at most 10,000 per
# pass; what stays equals the brute force, and the deletes are counted in the
# event log.
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/pg_lib.sh"
need sqlite3
need python3
pg_start
mkdir -p "$TMP/in"
now_ms=$(python3 -c 'import time; print(int(time.time() * 1000))')
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
pipeline: pg_retention
store: $PGURL
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
YAML
"$SLUICE" run "$TMP/p.yaml" --data "$TMP/d" --once --status 0 || fail "run"
read -r want_silver want_windows <<<"$(python3 - "$TMP/in/a.ndjson" "$now_ms" <<'PY'
import json, sys
now = int(sys.argv[2]); rows = [json.loads(l) for l in open(sys.argv[1])]
silver = sum(1 for r in rows if now - r["ts"] < 3600_000)
wins = {(r["ts"] // 60000, r["k"]) for r in rows if now - (r["ts"] // 60000 * 60000) < 7200_000}
print(silver, len(wins))
PY
)"
got=$(pgq "SELECT count(*) FROM silver")
[ "$got" = "$want_silver" ] || fail "silver keeps $got rows in PostgreSQL, want $want_silver"
got=$(pgq "SELECT count(*) FROM per_minute")
[ "$got" = "$want_windows" ] || fail "per_minute keeps $got windows, want $want_windows"
[ "$(pgq "SELECT count(*) FROM silver WHERE event_ts < now() - interval '1 hour'")" = 0 ] ||
  fail "expired rows left in silver"
expired=$(sqlite3 "$TMP/d/sluice.db" "SELECT sum(json_extract(details, '\$.tables.silver.expired')) FROM _sluice_events")
[ "$expired" = $((3000 - want_silver)) ] || fail "event log: $expired expired, want $((3000 - want_silver))"
ok "PostgreSQL tables keep $want_silver rows and $want_windows windows; deletes counted in the event log"
