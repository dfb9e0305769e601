#!/usr/bin/env bash
# Lake tables of a scaled-out pipeline: each instance (DATA/instance-NAME/)
# writes its own lake with its committed positions in its own sluice.db, and
# `sluice query --data DATA` reads every lake table as the union of the
# instances' lakes, each bounded by THAT instance's committed position:
# Parquet (bronze), a Parquet table of ref segments (its input's rows are the
# same instance's) and NDJSON, plus a pipeline view over them. Instance b
# wrote a second run's rows past the position its database commits (as a
# killed instance leaves them): they are not seen. Answers are recomputed
# from the input files.
source "$(dirname "$0")/../lib.sh"
need python3
need sqlite3

rows=2000
[ "$SANITIZED" = 1 ] && rows=500
mkdir -p "$TMP/in-a" "$TMP/in-b" "$TMP/src"
python3 - "$TMP/src" "$rows" <<'PY'
import json, random, sys
out, n = sys.argv[1], int(sys.argv[2])
random.seed(7)
for k in range(1, 5):
    with open("%s/f%d.ndjson" % (out, k), "w") as f:
        for i in range(n):
            f.write(json.dumps({"id": k * 100000 + i, "v": random.randint(-1000, 1000),
                                "name": "device-%d" % random.randint(1, 50)}) + "\n")
PY
cat >"$TMP/p.yaml" <<'YAML'
pipeline: inst
sources:
  s: {type: dir, path: "${input}", pattern: "*.ndjson", format: json,
      schema: {id: int, v: int, name: string}}
tables:
  raw:
    layer: bronze
    from: s
  clean:
    layer: silver
    store: lake
    references: true
    from: raw
    steps:
      - filter: "v % 3 <> 0"
      - derive: {v2: "v * 2"}
  lines:
    layer: silver
    store: lake
    format: ndjson
    from: raw
views:
  clean_n: SELECT count(*) AS n, sum(v2) AS s FROM clean
YAML
want() { # want FILES...: raw, clean, lines and the view's figures from the input
  python3 - "$@" <<'PY'
import json, math, sys
rows = [json.loads(l) for p in sys.argv[1:] for l in open(p)]
clean = [r for r in rows if math.fmod(r["v"], 3) != 0]
f = lambda rs: "%d %d %d" % (len(rs), sum(r["v"] for r in rs), sum(len(r["name"]) for r in rs))
print(f(rows), "|", f(clean), sum(2 * r["v"] for r in clean), "|", f(rows), "|", len(clean), sum(2 * r["v"] for r in clean))
PY
}
got() { # got DATA
  local q="SELECT (SELECT count(*) || ' ' || sum(v) || ' ' || sum(length(name)) FROM raw) || ' | ' ||
    (SELECT count(*) || ' ' || sum(v) || ' ' || sum(length(name)) || ' ' || sum(v2) FROM clean) || ' | ' ||
    (SELECT count(*) || ' ' || sum(v) || ' ' || sum(length(name)) FROM lines) || ' | ' ||
    (SELECT n || ' ' || s FROM clean_n) AS x"
  "$SLUICE" query "$TMP/p.yaml" --data "$1" --set input=x --format csv "$q" | tail -1
}
D="$TMP/d"
run() { "$SLUICE" run "$TMP/p.yaml" --data "$D/instance-$1" --set input="$TMP/in-$1" --once --status 0 2>"$TMP/run.err" ||
  { tail -5 "$TMP/run.err" >&2; fail "run of instance $1 failed"; }; }
cp "$TMP/src/f1.ndjson" "$TMP/src/f2.ndjson" "$TMP/in-a/"
run a
cp "$TMP/src/f3.ndjson" "$TMP/in-b/"
run b
# b's committed positions now; its second run's rows go past them
sqlite3 "$D/instance-b/sluice.db" "SELECT key, value FROM _sluice_kv WHERE key LIKE 'lake:%'" >"$TMP/kv-b.txt"
[ "$(wc -l <"$TMP/kv-b.txt")" -eq 3 ] || fail "instance b commits $(wc -l <"$TMP/kv-b.txt") lake positions, want 3"
cp "$TMP/src/f4.ndjson" "$TMP/in-b/"
run b
[ "$(got "$D/instance-b")" = "$(want "$TMP/src/f3.ndjson" "$TMP/src/f4.ndjson")" ] || fail "instance b's second run"
python3 - "$D/instance-b/sluice.db" "$TMP/kv-b.txt" <<'PY'
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
for line in open(sys.argv[2]):
    k, v = line.rstrip("\n").split("|", 1)
    db.execute("UPDATE _sluice_kv SET value = ? WHERE key = ?", (v, k))
db.commit()
PY
for t in raw clean; do
  [ -n "$(find "$D/instance-a/"*/$t "$D/instance-b/"*/$t -name 'part-*.parquet' 2>/dev/null)" ] || fail "no Parquet segments of $t"
done
f=$(find "$D/instance-b/silver/clean" -name 'part-*.parquet' | head -1)
"$BUILD/pq_tool" schema "$f" | cut -f1 | grep -qx _ref || fail "clean is not stored as ref segments ($f)"
[ -n "$(find "$D/instance-b/silver/lines" -name 'part-*.ndjson.zst')" ] || fail "no NDJSON segments of lines"

w=$(want "$TMP/src/f1.ndjson" "$TMP/src/f2.ndjson" "$TMP/src/f3.ndjson")
g=$(got "$D")
[ "$g" = "$w" ] || fail "sluice query over the instances: $g, want $w"
ok "two instances' lakes (Parquet, ref segments, NDJSON, a view): $g"
g=$(got "$D/instance-b")
w=$(want "$TMP/src/f3.ndjson")
[ "$g" = "$w" ] || fail "instance b alone: $g, want $w"
ok "one instance's data dir: its own committed rows only"
# the ids: every committed row once, none of b's uncommitted run
"$SLUICE" query "$TMP/p.yaml" --data "$D" --set input=x --format csv "SELECT id FROM clean ORDER BY id" | tail -n +2 >"$TMP/ids.txt"
python3 - "$TMP/ids.txt" "$TMP/src/f1.ndjson" "$TMP/src/f2.ndjson" "$TMP/src/f3.ndjson" <<'PY' || fail "clean's ids differ from the input's"
import json, math, sys
got = [int(l) for l in open(sys.argv[1]) if l.strip()]
want = sorted(r["id"] for p in sys.argv[2:] for r in map(json.loads, open(p)) if math.fmod(r["v"], 3) != 0)
sys.exit(0 if got == want else "got %d ids, want %d" % (len(got), len(want)))
PY
ok "clean's ids: each committed input row once across the instances"
echo "PASS test_lake_instances"
