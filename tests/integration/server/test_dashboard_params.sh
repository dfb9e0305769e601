#!/usr/bin/env bash
# test_dashboard_params.sh - the shipped telco dashboard's parameters
# (:from, :to and the :location variable) against both stores: run
# pipelines/telco.yaml once into SQLite, serve it, and run every panel's SQL
# through /api/query as the page does; the filtered and ranged answers are
# checked against counts computed another way by the sqlite3 shell. Then the
# same over a PostgreSQL store (:NAME rewritten to $k there, values sent
# with PQexecParams), with psql as the reference, and the rewrite's edges:
# casts, strings, comments and dollar quotes keep their ':' text, and an
# injection attempt is a value. Without PostgreSQL the SQLite part runs and
# the test reports itself skipped.
source "$(dirname "$0")/../lib.sh"
need curl
need sqlite3
need python3
events=20000
[ "$SANITIZED" = 1 ] && events=8000
"$SLUICE" gen telco --events "$events" --seed 11 --out "$TMP/in" 2>/dev/null

LIVE=""
trap '[ -n "$LIVE" ] && kill "$LIVE" 2>/dev/null; cleanup' EXIT
serve() { # $1 = data dir, rest: extra run args; sets PORT
    PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    "$SLUICE" run "$REPO/pipelines/telco.yaml" --data "$1" --set input="$TMP/in" --listen "127.0.0.1:$PORT" \
        --status 0 "${@:2}" 2>"$1.log" &
    LIVE=$!
    for _ in $(seq 150); do
        curl -sf "http://127.0.0.1:$PORT/readyz" >/dev/null && return
        kill -0 "$LIVE" 2>/dev/null || break
        sleep 0.1
    done
    fail "server did not start: $(tail -3 "$1.log")"
}
unserve() { kill -INT "$LIVE"; wait "$LIVE" || fail "live run did not stop cleanly"; LIVE=""; }

# panels.py URL REF: REF is a command that prints one number for a SQL
# statement given as its last argument (the store's own shell).
cat >"$TMP/panels.py" <<'PY'
import json, os, re, subprocess, sys, urllib.parse, urllib.request
base, ref = sys.argv[1], sys.argv[2:]
def api(sql, params=None, raw=None):
    q = {"sql": sql}
    if params is not None: q["params"] = json.dumps(params)
    url = base + "/api/query?" + urllib.parse.urlencode(q) + (raw or "")
    try:
        with urllib.request.urlopen(url, timeout=20) as r: return 200, json.load(r)
    except urllib.error.HTTPError as e: return e.code, json.load(e)
def brute(sql): return float(subprocess.run(ref + [sql], capture_output=True, text=True, check=True).stdout.strip() or 0)
def used(sql, params): return {k: v for k, v in params.items() if re.search(r"[:@$]" + k + r"(?![A-Za-z0-9_])", sql)}
dash = json.load(urllib.request.urlopen(base + "/api/dashboard", timeout=20))
var = dash["variables"][0]
assert var["name"] == "location", var
st, res = api(var["sql"])
assert st == 200 and len(res["rows"]) >= 2, (st, res)
locs = [r[0] for r in res["rows"]]
ALL = {"from": "0001-01-01T00:00:00Z", "to": "9999-12-31T23:59:59Z", "location": None}
pg = os.environ.get("PGSTORE") == "1"
for p in dash["panels"]:
    st, res = api(p["sql"], used(p["sql"], ALL))
    # the quarantine stays in the checkpoint (SQLite) with a PostgreSQL store
    if pg and st == 400 and res["error"] == 'relation "quarantine" does not exist': continue
    assert st == 200, (p["title"], res)
    assert res["rows"], ("no rows", p["title"])
heat = next(p for p in dash["panels"] if p["type"] == "heatmap")
hist = next(p for p in dash["panels"] if p["type"] == "histogram")
LAT = "FROM gold_performance_5min WHERE metric_name = 'latency_ms'"
for loc in [None] + locs[:3]:
    f = "" if loc is None else " AND location = '%s'" % loc.replace("'", "''")
    st, res = api(heat["sql"], dict(ALL, location=loc))
    assert st == 200, res
    got, want = sum(r[2] for r in res["rows"]), brute("SELECT count(*) " + LAT + f)
    assert got == want, ("heatmap entities", loc, got, want)
    st, res = api(hist["sql"], used(hist["sql"], dict(ALL, location=loc)))
    want = brute("SELECT count(*) FROM silver_metrics_validated WHERE metric_name = 'latency_ms' AND value < 100" + f)
    assert st == 200 and len(res["rows"]) == min(want, 5000), ("histogram samples", loc, len(res["rows"]), want)
# the range: the first window only ([from, to) around it)
first = brute("SELECT count(DISTINCT window_start) " + LAT)
assert first >= 2, "need two windows"
st, res = api("SELECT min(window_start) AS w " + LAT)
w0 = res["rows"][0][0]
st2, res2 = api(heat["sql"], {"from": w0, "to": "9999-12-31T23:59:59Z", "location": None})
ts = {r[0] for r in res2["rows"]}
assert st2 == 200 and len(ts) == first, ("range from the first window", ts)
st3, res3 = api(heat["sql"], {"from": "0001-01-01T00:00:00Z", "to": w0, "location": None})
assert st3 == 200 and res3["rows"] == [], ("range before the first window", res3)
# an injection attempt in the variable is a value that matches nothing
st, res = api(heat["sql"], dict(ALL, location="x' OR '1'='1"))
assert st == 200 and res["rows"] == [], res
st, res = api(heat["sql"], None, "&" + urllib.parse.urlencode({"p_location": "x') OR 1=1 --", "p_from": ALL["from"], "p_to": ALL["to"]}))
assert st == 200 and res["rows"] == [], res
print("panels ok: %d panels, %d locations" % (len(dash["panels"]), len(locs)))
PY

"$SLUICE" run "$REPO/pipelines/telco.yaml" --data "$TMP/lite" --set input="$TMP/in" --once --status 0 ||
    fail "telco run (sqlite)"
serve "$TMP/lite"
# the reference reads the store's tables and the lake's (silver is Parquet there)
cat >"$TMP/literef.sh" <<EOF
#!/bin/sh
"$SLUICE" query "$REPO/pipelines/telco.yaml" --data "$TMP/lite" --format csv "\$1" | tail -n +2
EOF
chmod +x "$TMP/literef.sh"
python3 "$TMP/panels.py" "http://127.0.0.1:$PORT" "$TMP/literef.sh" || fail "telco panels (sqlite)"
unserve
ok "telco dashboard parameters on SQLite"

command -v initdb >/dev/null && command -v psql >/dev/null ||
    skip "PostgreSQL is not installed (apt-get install postgresql): the PostgreSQL store went unchecked"
source "$(dirname "$0")/../postgresql/pg_lib.sh"
pg_start
trap '[ -n "$LIVE" ] && kill "$LIVE" 2>/dev/null; pg_stop_now; cleanup' EXIT
"$SLUICE" run "$REPO/pipelines/telco.yaml" --data "$TMP/pgd" --set input="$TMP/in" --once --status 0 \
    --store "$PGURL" || fail "telco run (postgresql)"
serve "$TMP/pgd" --store "$PGURL"
cat >"$TMP/pgref.sh" <<EOF
#!/bin/sh
exec psql "$PGURL" -At -c "\$1"
EOF
chmod +x "$TMP/pgref.sh"
PGSTORE=1 python3 "$TMP/panels.py" "http://127.0.0.1:$PORT" "$TMP/pgref.sh" || fail "telco panels (postgresql)"
# the :NAME rewrite leaves casts, strings, identifiers, comments and dollar quotes alone
q() { curl -s --get --data-urlencode "sql=$1" --data-urlencode "params=$2" "http://127.0.0.1:$PORT/api/query"; }
r=$(q "SELECT :a::int + 1 AS n, ':a' AS s, \$\$:a\$\$ AS d, :b AS b -- :a
" '{"a": "41", "b": "it'"'"'s"}')
echo "$r" | grep -q '"rows":\[\[42,":a",":a","it'"'"'s"\]\]' || fail "rewrite: $r"
r=$(q "SELECT count(*) FROM gold_performance_5min WHERE (:loc IS NULL OR location = :loc)" '{"loc": null}')
want=$(pgq "SELECT count(*) FROM gold_performance_5min")
echo "$r" | grep -q "\[\[$want\]\]" || fail "null parameter on postgresql: $r (want $want)"
r=$(q "SELECT 1" '[1]')
echo "$r" | grep -q 'expected a JSON object' || fail "params array accepted on postgresql: $r"
unserve
ok "telco dashboard parameters on PostgreSQL"
