#!/usr/bin/env bash
# References between lake tables: a Parquet lake table reading one Parquet
# lake table through steps that only drop rows and add columns stores `_ref`
# (the input row's id) and its own columns only; `sluice query` gives every
# column. As the referenced table's retention nears, old segments are
# rewritten with every column, and only then may the referenced rows go.
#
# Old hour folders are made as in test_cold: the folders a run wrote are
# renamed to an earlier hour and the committed positions repointed.
source "$(dirname "$0")/../lib.sh"
need python3
need sqlite3

rows=3000
[ "$SANITIZED" = 1 ] && rows=500
mkdir -p "$TMP/in" "$TMP/src"
python3 - "$TMP/src" "$rows" <<'PY'
import json, random, sys
out, n = sys.argv[1], int(sys.argv[2])
random.seed(11)
for k in range(1, 7):
    with open("%s/f%d.ndjson" % (out, k), "w") as f:
        for i in range(n):
            f.write(json.dumps({"id": k * 100000 + i, "v": random.randint(-1000, 1000),
                                "name": "device-%d" % random.randint(1, 50),
                                "score": random.random()}) + "\n")
PY
cat >"$TMP/loc.csv" <<'CSV'
name,site
device-1,north
device-2,south
CSV
pipe() { # pipe FILE RAW-RETENTION
  cat >"$1" <<YAML
pipeline: refs
sources:
  s: {type: dir, path: $TMP/in, pattern: "*.ndjson", format: json,
      schema: {id: int, v: int, name: string, score: double}}
tables:
  raw:
    layer: bronze
    from: s
    retention: $2
  clean:
    layer: silver
    store: lake
    from: raw
    steps:
      - filter: "v % 3 <> 0"
      - lookup: {file: $TMP/loc.csv, on: name, columns: [site]}
YAML
}
pipe "$TMP/p.yaml" 365d
D="$TMP/d"
q() { # q PIPE DATA TABLE: rows, sum v, distinct ids, sum of name lengths, sites, score sum
  "$SLUICE" query "$1" --data "$2" --format csv \
    "SELECT count(*) || ' ' || sum(v) || ' ' || count(DISTINCT id) || ' ' || sum(length(name)) || ' ' || count(site) || ' ' || printf('%.6f', sum(score)) || ' ' || count(DISTINCT _source) FROM $3" | tail -1
}
qraw() {
  "$SLUICE" query "$1" --data "$2" --format csv "SELECT count(*) || ' ' || sum(v) FROM raw" | tail -1
}
want() { # want FILES...: the clean table's figures, recomputed from the input
  python3 - "$@" <<'PY'
import json, sys
import math
rows = [json.loads(l) for p in sys.argv[1:] for l in open(p)]
rows = [r for r in rows if math.fmod(r["v"], 3) != 0]  # v % 3 <> 0 (same in any sign rule)
print(len(rows), sum(r["v"] for r in rows), len({r["id"] for r in rows}),
      sum(len(r["name"]) for r in rows), sum(1 for r in rows if r["name"] in ("device-1", "device-2")),
      "%.6f" % sum(r["score"] for r in rows), len(sys.argv) - 1)
PY
}
want_raw() {
  python3 - "$@" <<'PY'
import json, sys
rows = [json.loads(l) for p in sys.argv[1:] for l in open(p)]
print(len(rows), sum(r["v"] for r in rows))
PY
}
age() { # age DATA DAYS: both tables' newest folder goes DAYS back
  python3 - "$1" "$2" <<'PY'
import os, sqlite3, sys, time
d, days = sys.argv[1], int(sys.argv[2])
db = sqlite3.connect(os.path.join(d, "sluice.db"))
t = time.gmtime(time.time() - days * 86400)
new = time.strftime("dt=%Y-%m-%d/hr=%H", t)
for layer, table in (("bronze", "raw"), ("silver", "clean")):
    root = os.path.join(d, layer, table)
    length, seg = db.execute("SELECT value FROM _sluice_kv WHERE key=?", ("lake:" + table,)).fetchone()[0].split("\t")
    old = os.path.dirname(seg)
    os.makedirs(os.path.join(root, os.path.dirname(new)), exist_ok=True)
    os.rename(os.path.join(root, old), os.path.join(root, new))
    try: os.rmdir(os.path.join(root, os.path.dirname(old)))
    except OSError: pass
    db.execute("UPDATE _sluice_kv SET value=? WHERE key=?", (length + "\t" + new + "/" + os.path.basename(seg), "lake:" + table))
db.commit()
PY
}
cols() { "$BUILD/pq_tool" schema "$1" | cut -f1 | tr '\n' ' '; }

# four runs, aged 9, 8, 3 and 2 days: segments 1..4 of each table
k=1
for days in 9 8 3 2; do
  cp "$TMP/src/f$k.ndjson" "$TMP/in/"
  "$SLUICE" run "$TMP/p.yaml" --data "$D" --once --status 0 || fail "run $k"
  age "$D" "$days"
  k=$((k + 1))
done
for f in $(find "$D/silver/clean" -name 'part-*.parquet'); do
  [ "$(cols "$f")" = "site _ref " ] || fail "$f: columns $(cols "$f"), want only site and _ref"
done
all=$(want "$TMP"/src/f{1,2,3,4}.ndjson)
[ "$(q "$TMP/p.yaml" "$D" clean)" = "$all" ] || fail "clean: $(q "$TMP/p.yaml" "$D" clean), want $all"
ok "the silver segments hold site and _ref only; sluice query gives every column ($all)"

# the same rows as a table that copies its columns (references: false)
sed 's/^    store: lake$/    store: lake\n    references: false/' "$TMP/p.yaml" >"$TMP/pc.yaml"
rm -rf "$TMP/in2" && mkdir "$TMP/in2" && cp "$TMP"/src/f{1,2,3,4}.ndjson "$TMP/in2/"
sed -i "s#path: $TMP/in,#path: $TMP/in2,#" "$TMP/pc.yaml"
"$SLUICE" run "$TMP/pc.yaml" --data "$TMP/dc" --once --status 0 || fail "copy run"
f=$(find "$TMP/dc/silver/clean" -name 'part-*.parquet' | head -1)
case "$(cols "$f")" in *_ref*) fail "references: false still wrote _ref" ;; *" v "*) ;; *) fail "copy: $(cols "$f")" ;; esac
diff -u <("$SLUICE" query "$TMP/pc.yaml" --data "$TMP/dc" --format csv "SELECT id, v, name, score, site, _source, _offset FROM clean ORDER BY id") \
  <("$SLUICE" query "$TMP/p.yaml" --data "$D" --format csv "SELECT id, v, name, score, site, _source, _offset FROM clean ORDER BY id") >"$TMP/diff" || { head -5 "$TMP/diff"; 
  fail "the referencing table's rows differ from the copying table's"; }
ok "every row and column equals the copying table's (references: false)"

# raw keeps 5 days: clean's segments of 9 and 8 days ago are rewritten with
# every column first; raw's old folders go only after that
pipe "$TMP/p5.yaml" 5d
cp "$TMP/src/f5.ndjson" "$TMP/in/"
"$SLUICE" run "$TMP/p5.yaml" --data "$D" --once --status 0 || fail "retention run 1"
all5=$(want "$TMP"/src/f{1,2,3,4,5}.ndjson)
[ "$(q "$TMP/p5.yaml" "$D" clean)" = "$all5" ] || fail "after run 1: $(q "$TMP/p5.yaml" "$D" clean), want $all5"
full=0 refs=0
for f in $(find "$D/silver/clean" -name 'part-*.parquet'); do
  case "$(cols "$f")" in *_ref*) refs=$((refs + 1)) ;; *) full=$((full + 1)) ;; esac
done
[ "$full" = 2 ] && [ "$refs" = 3 ] || fail "want 2 rewritten segments and 3 referencing ones, got $full and $refs"
[ -z "$(find "$D/silver/clean" -name '*.tmp')" ] || fail "temp files left"
# in that commit raw's retention ran first, with the pin clean recorded before (raw's
# segment 1): every raw row is still there
rawall=$(want_raw "$TMP"/src/f{1,2,3,4,5}.ndjson)
[ "$(qraw "$TMP/p5.yaml" "$D")" = "$rawall" ] || fail "raw deleted referenced rows: $(qraw "$TMP/p5.yaml" "$D"), want $rawall"
ok "raw's rows that clean still referenced were kept"
cp "$TMP/src/f6.ndjson" "$TMP/in/"
"$SLUICE" run "$TMP/p5.yaml" --data "$D" --once --status 0 || fail "retention run 2"
[ "$(find "$D/bronze/raw" -name 'part-*' | wc -l)" -le 4 ] || fail "raw's old folders were not deleted: $(find "$D/bronze/raw" -name 'part-*')"
rawleft=$(want_raw "$TMP"/src/f{3,4,5,6}.ndjson)
[ "$(qraw "$TMP/p5.yaml" "$D")" = "$rawleft" ] || fail "raw after retention: $(qraw "$TMP/p5.yaml" "$D"), want $rawleft"
all6=$(want "$TMP"/src/f{1,2,3,4,5,6}.ndjson)
[ "$(q "$TMP/p5.yaml" "$D" clean)" = "$all6" ] || fail "clean after raw's retention: $(q "$TMP/p5.yaml" "$D" clean), want $all6"
ok "old segments rewritten with every column, then raw's retention deleted their rows; clean still complete ($all6)"

