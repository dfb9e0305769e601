#!/usr/bin/env bash
# sluice tap: rows of a table as they are committed, while the pipeline runs
# (files dropped into its landing dir). From the store: every committed row
# exactly once, in commit order, --where filtering, --limit stopping,
# quarantine rows too. Over HTTP with the token (refused without it). Exit
# codes for an unknown table, a bad --where, a lake table.
# Expected rows are recomputed from the generated files with python3.
source "$(dirname "$0")/../lib.sh"
need python3
need sqlite3
need timeout coreutils

FILES=5 ROWS=2500
[ "$SANITIZED" = 1 ] && FILES=4 ROWS=300
mkdir -p "$TMP/in"
cat >"$TMP/p.yaml" <<YAML
pipeline: tap
commit_interval: 200ms
sources:
  s: {type: dir, path: $TMP/in, pattern: "*.ndjson", format: json, schema: {id: int, speed: double, name: string}}
tables:
  raw: {layer: bronze, from: s}
  t: {layer: silver, from: s}
server:
  listen: 127.0.0.1:0
  token: \${TAP_TOKEN:}
YAML
# file f: ROWS records (ids f*100000+i, speed i%10, a name with a quote and
# an accent) and one malformed line, which goes to quarantine
gen() {
  python3 - "$TMP/in" "$1" "$ROWS" <<'PY'
import json, os, sys
d, f, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
tmp = f"{d}/.f{f:02d}.tmp"
with open(tmp, "w") as out:
    for i in range(n):
        out.write(json.dumps({"id": f * 100000 + i, "speed": i % 10, "name": f'n"{i}é'}) + "\n")
    out.write('{"id": broken\n')
os.rename(tmp, f"{d}/f{f:02d}.ndjson")
PY
}
count() { sqlite3 "$TMP/d/sluice.db" "SELECT count(*) FROM t" 2>/dev/null || echo 0; }
wait_count() { # wait until table t holds $1 rows
  for _ in $(seq 300); do [ "$(count)" -ge "$1" ] && return 0; sleep 0.2; done
  fail "table t did not reach $1 rows (has $(count))"
}

TAP_TOKEN=s3cret "$SLUICE" run "$TMP/p.yaml" --data "$TMP/d" --listen 127.0.0.1:0 \
  >"$TMP/run.out" 2>"$TMP/run.err" &
RUN=$!
PIDS=()
stop_all() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  kill "$RUN" 2>/dev/null || true
  wait "$RUN" 2>/dev/null || true
  cleanup
}
trap stop_all EXIT
URL=
for _ in $(seq 100); do
  URL=$(sed -n 's|.*dashboard at \(http://[^/]*\)/.*|\1|p' "$TMP/run.err" | head -1)
  [ -n "$URL" ] && break
  sleep 0.1
done
[ -n "$URL" ] || { cat "$TMP/run.err" >&2; fail "pipeline did not start its server"; }

# the first file is in the store before the taps start: it is not new
gen 1
wait_count "$ROWS"
for _ in $(seq 100); do
  [ "$(sqlite3 "$TMP/d/sluice.db" "SELECT count(*) FROM quarantine" 2>/dev/null)" = 1 ] && break
  sleep 0.1
done
unset TAP_TOKEN
AFTER=$(( (FILES - 1) * ROWS ))                # rows of files 2..FILES
WHERE_N=$(( (FILES - 1) * (ROWS / 10) * 2 ))   # speed > 7: i%10 in {8, 9}
timeout 50 "$SLUICE" tap "$TMP/p.yaml" t --data "$TMP/d" --limit "$AFTER" >"$TMP/all.json" 2>"$TMP/all.err" &
PIDS+=($!); A=$!
timeout 50 "$SLUICE" tap "$TMP/p.yaml" t --data "$TMP/d" --where "speed > 7" --limit "$WHERE_N" \
  >"$TMP/where.json" 2>"$TMP/where.err" &
PIDS+=($!); W=$!
timeout 50 "$SLUICE" tap "$TMP/p.yaml" quarantine --data "$TMP/d" --limit $((FILES - 1)) \
  >"$TMP/quar.json" 2>"$TMP/quar.err" &
PIDS+=($!); Q=$!
timeout 50 "$SLUICE" tap "$TMP/p.yaml" t --data "$TMP/d" --format table --limit 5 \
  >"$TMP/table.txt" 2>"$TMP/table.err" &
PIDS+=($!); TB=$!
# every tap (the child of its `timeout`) has the store open, and so has read
# where it starts, before new data comes
for p in $A $W $Q $TB; do
  opened=0
  for _ in $(seq 150); do
    c=$(pgrep -P "$p" | head -1 || true) # no child yet: pgrep fails, and set -e must not end the test
    [ -n "$c" ] && ls -l "/proc/$c/fd" 2>/dev/null | grep -q "sluice.db" && { opened=1; break; }
    sleep 0.1
  done
  [ $opened = 1 ] || fail "tap $p did not open the store"
done
sleep 0.5
for f in $(seq 2 "$FILES"); do gen "$f"; sleep 0.3; done
wait_count $((FILES * ROWS))

for p in $A $W $Q $TB; do wait "$p" || { cat "$TMP"/*.err >&2; fail "tap $p exited with $?"; }; done
ok "store taps stopped at their --limit"

# exactly once, in commit order: the ids are the new files' ids, none twice,
# in the store's rowid order; each file's ids increase
sqlite3 "$TMP/d/sluice.db" "SELECT id FROM t WHERE rowid > (SELECT min(rowid) + $ROWS - 1 FROM t) ORDER BY rowid" >"$TMP/order.txt"
python3 - "$TMP" "$FILES" "$ROWS" <<'PY' || fail "tap rows differ from the input"
import json, sys
tmp, files, rows = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
want = [f * 100000 + i for f in range(2, files + 1) for i in range(rows)]
got = [json.loads(l) for l in open(f"{tmp}/all.json")]
ids = [r["id"] for r in got]
assert len(ids) == len(set(ids)), "a row appeared twice"
assert sorted(ids) == sorted(want), (len(ids), len(want))
assert ids == [int(x) for x in open(f"{tmp}/order.txt")], "not in commit order"
for r in got[:3]:
    assert r["name"] == f'n"{r["id"] % 100000}é' and r["_source"].startswith("f"), r
w = [json.loads(l)["id"] for l in open(f"{tmp}/where.json")]
assert sorted(w) == sorted(i for i in want if i % 100000 % 10 > 7), "where"
assert w == [i for i in ids if i % 100000 % 10 > 7], "where: order"
q = [json.loads(l) for l in open(f"{tmp}/quar.json")]
assert sorted(r["_source"] for r in q) == [f"f{f:02d}.ndjson" for f in range(2, files + 1)], q
assert all(r["table_name"] == "raw" and r["raw"] == '{"id": broken' and "JSON" in r["reason"] for r in q), q
PY
ok "every new row once, in order; --where; quarantine rows"
head -1 "$TMP/table.txt" | grep -Eq '^id +speed +name +_ingest_ts' || fail "table header: $(head -1 "$TMP/table.txt")"
[ "$(wc -l <"$TMP/table.txt")" = 7 ] || fail "table format: header, rule and 5 rows: $(cat "$TMP/table.txt")"
ok "--format table"

# --from-start and --limit on a table that is not growing
n=$(timeout 20 "$SLUICE" tap "$TMP/p.yaml" t --data "$TMP/d" --from-start --limit 7 | wc -l)
[ "$n" = 7 ] || fail "--from-start --limit 7 printed $n rows"

# over HTTP: with the token, from the start, filtered by the server
SLUICE_TOKEN=s3cret timeout 30 "$SLUICE" tap "$TMP/p.yaml" t --url "$URL" --from-start \
  --where "speed > 7 AND id >= 200000" --limit "$WHERE_N" >"$TMP/http.json" 2>"$TMP/http.err" ||
  { cat "$TMP/http.err"; fail "tap over HTTP"; }
python3 - "$TMP" <<'PY' || fail "HTTP tap rows"
import json, sys
tmp = sys.argv[1]
h = [json.loads(l)["id"] for l in open(f"{tmp}/http.json")]
w = [json.loads(l)["id"] for l in open(f"{tmp}/where.json")]
assert h == w, (len(h), len(w))
PY
echo s3cret >"$TMP/token"
n=$(timeout 30 "$SLUICE" tap "$TMP/p.yaml" quarantine --url "$URL" --token-file "$TMP/token" --from-start --limit 2 | wc -l)
[ "$n" = 2 ] || fail "HTTP tap with --token-file: $n rows"
set +e
timeout 20 "$SLUICE" tap "$TMP/p.yaml" t --url "$URL" --limit 1 2>"$TMP/noauth.err"; rc=$?
set -e
[ $rc = 2 ] && grep -q "HTTP 401" "$TMP/noauth.err" || fail "tap without the token: rc=$rc $(cat "$TMP/noauth.err")"
ok "tap over HTTP with the token, refused without it"

# exit codes: unknown table, bad where (store and HTTP), lake table
expect2() { # expect2 PATTERN CMD...: exit 2 and PATTERN on stderr
  local pat=$1 rc; shift
  set +e; timeout 20 "$@" >/dev/null 2>"$TMP/e.err"; rc=$?; set -e
  [ $rc = 2 ] && grep -q "$pat" "$TMP/e.err" || fail "$*: rc=$rc $(cat "$TMP/e.err")"
}
expect2 "no table 'nope'" "$SLUICE" tap "$TMP/p.yaml" nope --data "$TMP/d"
expect2 "where" "$SLUICE" tap "$TMP/p.yaml" t --data "$TMP/d" --where "no_such_col > 1"
expect2 "where" "$SLUICE" tap "$TMP/p.yaml" t --data "$TMP/d" --where "1) UNION SELECT 1 --"
expect2 "no such column" env SLUICE_TOKEN=s3cret "$SLUICE" tap "$TMP/p.yaml" t --url "$URL" --where "nope = 1"
expect2 "not allowed" env SLUICE_TOKEN=s3cret "$SLUICE" tap "$TMP/p.yaml" t --url "$URL" --where "load_extension('x') IS NULL"
expect2 "lake" "$SLUICE" tap "$TMP/p.yaml" raw --data "$TMP/d"
expect2 "format" "$SLUICE" tap "$TMP/p.yaml" t --format xml
ok "exit codes"
