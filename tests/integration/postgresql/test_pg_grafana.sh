#!/usr/bin/env bash
# The Grafana dashboards (grafana/dashboards/*.json) over a store the test
# fills: cameras and telco run with --store postgresql://, then every
# PostgreSQL panel's SQL runs with psql (Grafana's $__timeFilter macro
# expanded to a range covering everything) and must return rows, and every
# metric a Prometheus panel names must be in sluice's /metrics. The
# provisioning files must name the datasource uids the panels use.
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/pg_lib.sh"
need curl
pg_start
events=30000
"$SLUICE" gen cameras --events "$events" --seed 5 --out "$TMP/cams" 2>/dev/null
"$SLUICE" gen telco --events "$events" --seed 5 --out "$TMP/telco" 2>/dev/null
"$SLUICE" run "$REPO/pipelines/cameras.yaml" --data "$TMP/out_c" --set input="$TMP/cams" \
  --set locations="$TMP/cams/locations.csv" --once --status 0 --store "$PGURL" || fail "cameras run"
"$SLUICE" run "$REPO/pipelines/telco.yaml" --data "$TMP/out_t" --set input="$TMP/telco" \
  --once --status 0 --store "$PGURL" || fail "telco run"
# /metrics of a running pipeline, for the Prometheus panels
"$SLUICE" run "$REPO/pipelines/cameras.yaml" --data "$TMP/out_c" --set input="$TMP/cams" \
  --set locations="$TMP/cams/locations.csv" --store "$PGURL" --listen 127.0.0.1:0 --status 1 2>"$TMP/live.log" &
live=$!
trap 'kill $live 2>/dev/null || true; pg_stop_now; cleanup' EXIT
port=""
for _ in $(seq 100); do
  port=$(grep -o 'dashboard at http://127.0.0.1:[0-9]*' "$TMP/live.log" | grep -o '[0-9]*$' || true)
  [ -n "$port" ] && break
  sleep 0.1
done
[ -n "$port" ] || fail "server did not start: $(tail -2 "$TMP/live.log")"
curl -s "http://127.0.0.1:$port/metrics" >"$TMP/metrics.txt"
# the dashboard's /api/query reads PostgreSQL too: read-only, one statement
api() { curl -s -o "$TMP/api.json" -w '%{http_code}' --get --data-urlencode "sql=$1" "http://127.0.0.1:$port/api/query"; }
[ "$(api "SELECT count(*) AS n FROM detection_events")" = 200 ] || fail "/api/query: $(cat "$TMP/api.json")"
grep -q "\[\[$(pgq "SELECT count(*) FROM detection_events")\]\]" "$TMP/api.json" || fail "/api/query count: $(cat "$TMP/api.json")"
[ "$(api "SELECT window_start, detections FROM detections_by_location_1m ORDER BY 1 LIMIT 3")" = 200 ] &&
  grep -q '"rows":\[\["20' "$TMP/api.json" || fail "/api/query rows: $(cat "$TMP/api.json")"
code=$(api "DELETE FROM detection_events")
[ "$code" = 403 ] || [ "$code" = 400 ] || fail "/api/query DELETE gave $code: $(cat "$TMP/api.json")"
[ "$(pgq "SELECT count(*) > 0 FROM detection_events")" = t ] || fail "/api/query deleted rows"
[ "$(api "SELECT 1; SELECT 2")" = 400 ] || fail "/api/query ran two statements: $(cat "$TMP/api.json")"
kill -INT $live; wait $live || fail "live run did not stop cleanly"
python3 - "$REPO/grafana" "$TMP" <<'PY' >"$TMP/panels.txt" || fail "dashboard JSON"
import json, os, re, sys
root, tmp = sys.argv[1], sys.argv[2]
prov = open(os.path.join(root, "provisioning/datasources/sluice.yaml")).read()
n = 0
for f in sorted(os.listdir(os.path.join(root, "dashboards"))):
    d = json.load(open(os.path.join(root, "dashboards", f)))
    for p in d["panels"]:
        for t in p["targets"]:
            uid = t["datasource"]["uid"]
            assert "uid: " + uid in prov, f"{f}: {p['title']}: datasource uid {uid} is not provisioned"
            if "rawSql" in t:
                sql = re.sub(r"\$__timeFilter\(([^()]*(?:\([^()]*\))?[^()]*)\)",
                             r"(\1) BETWEEN '1970-01-01T00:00:00Z' AND '2100-01-01T00:00:00Z'", t["rawSql"])
                assert "$__" not in sql, f"{f}: {p['title']}: unexpanded macro"
                n += 1
                path = os.path.join(tmp, f"panel{n}.sql")
                open(path, "w").write(sql + "\n")
                print("sql", path, f"{f}: {p['title']}")
            else:
                for m in set(re.findall(r"\b(sluice_[a-z_]+)", t["expr"])):
                    print("metric", m, f"{f}: {p['title']}")
PY
nsql=0 nmetric=0
while read -r kind what title; do
  if [ "$kind" = sql ]; then
    rows=$(psql -X -q -At -v ON_ERROR_STOP=1 -h "$PGDIR" -p "$PGPORT" -U postgres -d sluice -f "$what" 2>"$TMP/psql.err" | wc -l) ||
      fail "panel '$title': $(cat "$TMP/psql.err")"
    [ -s "$TMP/psql.err" ] && fail "panel '$title': $(cat "$TMP/psql.err")"
    [ "$rows" -gt 0 ] || fail "panel '$title' returns no rows"
    nsql=$((nsql + 1))
  else
    grep -q "^$what[{ ]" "$TMP/metrics.txt" || fail "panel '$title': metric $what is not in /metrics"
    nmetric=$((nmetric + 1))
  fi
done <"$TMP/panels.txt"
[ "$nsql" -ge 10 ] || fail "only $nsql SQL panels found"
ok "grafana: $nsql PostgreSQL panels return rows, $nmetric Prometheus metric references exist in /metrics; /api/query reads PostgreSQL read-only"
