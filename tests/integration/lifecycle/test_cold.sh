#!/usr/bin/env bash
# Cold tier of lake tables: hour folders older than cold_after move to
# cold_path recompressed at zstd level 19 (Parquet segments: row groups
# merged and rewritten; COLD_FORMAT=ndjson: zstd NDJSON, test_cold_ndjson); `sluice query` gives the same rows
# before and after; retention deletes from the cold tier; a SIGKILL at any
# step of a move never loses or doubles a row.
#
# Old hour folders are made by renaming the folder a run wrote to an earlier
# hour (and pointing the committed lake position at the renamed segment), as
# if the run had happened days ago.
source "$(dirname "$0")/../lib.sh"
need python3
need sqlite3
need zstd
fmt=${COLD_FORMAT:-parquet}
ext=parquet
[ "$fmt" = ndjson ] && ext=ndjson.zst
seg_rows() { # rows in one segment file, read without the engine's query path
  if [ "$fmt" = ndjson ]; then zstd -dc "$1" | wc -l; else "$BUILD/pq_tool" dump "$1" | wc -l; fi
}

rows=2000
[ "$SANITIZED" = 1 ] && rows=400
mkdir -p "$TMP/in" "$TMP/src"
python3 - "$TMP/src" "$rows" <<'PY'
import json, random, sys
out, n = sys.argv[1], int(sys.argv[2])
random.seed(7)
for k in range(1, 6):
    with open("%s/f%d.ndjson" % (out, k), "w") as f:
        for i in range(n):
            f.write(json.dumps({"id": k * 100000 + i, "v": random.randint(-1000, 1000),
                                "name": "device-%d" % random.randint(1, 50)}) + "\n")
PY
pipe() { # pipe FILE EXTRA-TABLE-OPTIONS...
  {
    cat <<YAML
pipeline: cold
sources:
  s: {type: dir, path: $TMP/in, pattern: "*.ndjson", format: json, schema: {id: int, v: int, name: string}}
tables:
  raw:
    layer: bronze
    from: s
YAML
    for o in "${@:2}"; do echo "    $o"; done
    echo "    format: $fmt"
  } >"$1"
}
pipe "$TMP/p.yaml"
D="$TMP/d"
q() { "$SLUICE" query "$1" --data "$2" --format csv "SELECT count(*) || ' ' || sum(v) || ' ' || count(DISTINCT id) FROM raw" | tail -1; }
want() { # counts of the given input files, recomputed from them
  python3 - "$@" <<'PY'
import json, sys
rows = [json.loads(l) for p in sys.argv[1:] for l in open(p)]
print(len(rows), sum(r["v"] for r in rows), len({r["id"] for r in rows}))
PY
}
# age a run's hour folder: rename it `days` back and repoint the committed position
age() { # age DATA DAYS
  python3 - "$1" "$2" <<'PY'
import os, sqlite3, sys, time
d, days = sys.argv[1], int(sys.argv[2])
root = os.path.join(d, "bronze", "raw")
db = sqlite3.connect(os.path.join(d, "sluice.db"))
length, seg = db.execute("SELECT value FROM _sluice_kv WHERE key='lake:raw'").fetchone()[0].split("\t")
old = os.path.dirname(seg)
t = time.gmtime(time.time() - days * 86400)
new = time.strftime("dt=%Y-%m-%d/hr=%H", t)
os.makedirs(os.path.join(root, os.path.dirname(new)), exist_ok=True)
os.rename(os.path.join(root, old), os.path.join(root, new))
try: os.rmdir(os.path.join(root, os.path.dirname(old)))
except OSError: pass
db.execute("UPDATE _sluice_kv SET value=? WHERE key='lake:raw'", (length + "\t" + new + "/" + os.path.basename(seg),))
db.commit()
PY
}
# four runs, aged 9, 8, 3 and 2 days: segments 1..4 in four old hour folders
k=1
for days in 9 8 3 2; do
  cp "$TMP/src/f$k.ndjson" "$TMP/in/"
  "$SLUICE" run "$TMP/p.yaml" --data "$D" --once --status 0 || fail "run $k"
  age "$D" "$days"
  k=$((k + 1))
done
base=$(want "$TMP"/src/f{1,2,3,4}.ndjson)
[ "$(q "$TMP/p.yaml" "$D")" = "$base" ] || fail "before: $(q "$TMP/p.yaml" "$D"), want $base"
[ "$(find "$D/bronze/raw" -name 'part-*' | wc -l)" = 4 ] || fail "want 4 hot segments: $(find "$D/bronze/raw")"
cp -a "$D" "$TMP/d0" # the state before any move, for the crash runs
(cd "$D/bronze/raw" && find . -name 'part-*' -printf '%P %s\n' | sort) >"$TMP/hot_sizes"

# cold_after: 1d, cold_path relative to the pipeline file
pipe "$TMP/p2.yaml" "cold_after: 1d" "cold_path: cold"
cp "$TMP/src/f5.ndjson" "$TMP/in/"
all=$(want "$TMP"/src/f{1,2,3,4,5}.ndjson)
for i in 1 2 3; do
  "$SLUICE" run "$TMP/p2.yaml" --data "$D" --once --status 0 || fail "cold run $i"
  [ "$(q "$TMP/p2.yaml" "$D")" = "$all" ] || fail "after cold run $i: $(q "$TMP/p2.yaml" "$D"), want $all"
done
C="$TMP/cold/bronze/raw"
ncold=$(find "$C" -name "part-*.$ext" | wc -l)
[ "$ncold" = 4 ] || fail "want the 4 old segments in the cold tier, found $ncold: $(find "$TMP/cold" "$D/bronze")"
[ -z "$(find "$C" -name '*.tmp')" ] || fail "temp files left in the cold tier"
nhot=$(find "$D/bronze/raw" -name 'part-*' | wc -l)
[ "$nhot" = 1 ] || fail "want only the current hour hot, found $nhot segments"
while read -r rel size; do
  [ -f "$C/$rel" ] || fail "$rel is not in the cold tier"
  csize=$(stat -c %s "$C/$rel")
  [ "$csize" -lt "$size" ] || fail "$rel: cold $csize bytes, hot was $size (level 19 should be smaller)"
  [ "$(seg_rows "$C/$rel")" = "$rows" ] || fail "$rel: wrong row count in the cold copy"
  [ ! -e "$D/bronze/raw/$rel" ] || fail "$rel is still hot"
done <"$TMP/hot_sizes"
ok "old hour folders moved to cold_path, smaller (zstd 19), query counts and sums unchanged ($all)"

# retention 5d deletes the two oldest folders from the cold tier
pipe "$TMP/p3.yaml" "cold_after: 1d" "cold_path: cold" "retention: 5d"
"$SLUICE" run "$TMP/p3.yaml" --data "$D" --once --status 0 || fail "retention run"
left=$(want "$TMP"/src/f{3,4,5}.ndjson)
[ "$(q "$TMP/p3.yaml" "$D")" = "$left" ] || fail "after retention: $(q "$TMP/p3.yaml" "$D"), want $left"
[ "$(find "$C" -name 'part-*' | wc -l)" = 2 ] || fail "retention left $(find "$C" -name 'part-*' | wc -l) cold segments, want 2"
ok "retention deletes old hour folders from the cold tier"

# the default cold_path, DATA/cold: the data directory moved as a whole (as
# `sluice refresh` exchanges it) keeps reading its own cold tier
pipe "$TMP/p4.yaml" "cold_after: 1d"
rm -rf "$TMP/dd" && cp -a "$TMP/d0" "$TMP/dd"
for i in 1 2; do "$SLUICE" run "$TMP/p4.yaml" --data "$TMP/dd" --once --status 0 || fail "default cold run"; done
[ "$(find "$TMP/dd/cold/bronze/raw" -name 'part-*' | wc -l)" = 4 ] || fail "default cold_path: $(find "$TMP/dd")"
mv "$TMP/dd" "$TMP/dd2"
[ "$(q "$TMP/p4.yaml" "$TMP/dd2")" = "$all" ] || fail "moved data directory: $(q "$TMP/p4.yaml" "$TMP/dd2"), want $all"
ok "default cold_path DATA/cold, found again after the data directory moved"

# a live run: once a commit is in the event log, the position it recorded
# counts as committed and the last old folder (segment 4) moves too, without
# a restart
rm -rf "$TMP/dl" "$TMP/cold" && cp -a "$TMP/d0" "$TMP/dl"
set +e
timeout -s INT 6 "$SLUICE" run "$TMP/p2.yaml" --data "$TMP/dl" --status 0 2>/dev/null
set -e
[ "$(find "$TMP/cold" -name "part-*.$ext" | wc -l)" = 4 ] || fail "live run: $(find "$TMP/cold" "$TMP/dl/bronze")"
[ "$(q "$TMP/p2.yaml" "$TMP/dl")" = "$all" ] || fail "live run: $(q "$TMP/p2.yaml" "$TMP/dl"), want $all"
ok "a live run moves the folder of the position it committed after a later commit"

# SIGKILL at every step of the moves: never a row lost or doubled
steps=12
[ "$SANITIZED" = 1 ] && steps=5
kills=0
for n in $(seq 1 $steps); do
  rm -rf "$D" "$TMP/cold" && cp -a "$TMP/d0" "$D"
  set +e
  SLUICE_TEST_KILL_IN_COLD_MOVE=$n timeout 60 "$SLUICE" run "$TMP/p2.yaml" --data "$D" --once --status 0 2>/dev/null
  rc=$?
  set -e
  [ $rc = 0 ] && break # fewer steps than n: nothing was killed
  [ $rc = 137 ] || fail "kill at step $n: exit $rc"
  kills=$n
  got=$(q "$TMP/p2.yaml" "$D")
  [ "$got" = "$base" ] || fail "killed at step $n: query gives $got, want $base (the last commit)"
  # the first restart commits f5 and moves folders 1-3, the second folder 4
  for i in 1 2; do "$SLUICE" run "$TMP/p2.yaml" --data "$D" --once --status 0 || fail "restart after kill $n"; done
  got=$(q "$TMP/p2.yaml" "$D")
  [ "$got" = "$all" ] || fail "after the kill at step $n and restarts: $got, want $all"
  [ "$(find "$TMP/cold" -name "part-*.$ext" | wc -l)" = 4 ] || fail "kill $n: moves not finished after restarts"
  [ -z "$(find "$TMP/cold" -name '*.tmp')" ] || fail "kill $n: temp files left"
done
[ "$kills" -gt 3 ] || fail "the kill hook was reached $kills times"
ok "a SIGKILL at each of the first $kills move steps loses and doubles no row"

# cold_path without cold_after is refused at load, with file:line:col
pipe "$TMP/bad.yaml" "cold_path: cold"
set +e
"$SLUICE" validate "$TMP/bad.yaml" 2>"$TMP/err"; rc=$?
set -e
[ $rc = 2 ] || fail "validate exit $rc"
has "bad.yaml:8:16: table 'raw': cold_path needs cold_after" "$TMP/err" || fail "message: $(cat "$TMP/err")"
ok "cold_path without cold_after is refused at load"
