#!/usr/bin/env bash
# DuckDB reads the lake's Parquet segments of every flavor directly: each
# flavor runs with --once on generated input (umb's from the Kafka mock),
# then for every lake table (bronze everywhere, the event-level silver
# tables) DuckDB's read_parquet over the table's segment files gives the same
# rows, column for column, as `sluice query` - which the flavor tests compare
# with brute-force answers.
# DuckDB is the independent reader (npm, installed under bench/ by
# scripts/deps.sh). Also checks what DuckDB says about the files: the
# timestamp columns are TIMESTAMP WITH TIME ZONE, every column chunk has
# statistics.
#
# A table stored as ref segments (its files have a `_ref` column: the row id
# of its input lake table B; docs/pipeline-spec.md, Ref segments) is read by
# DuckDB as a join of each of its files with B's files (hot and cold) on
# _ref = (B's sequence << 32) | file_row_number, taking the table's own
# columns from its file and the others from B, in `sluice query`'s column
# order (duck_read and ref_sql below).
source "$(dirname "$0")/../lib.sh"
need node
need python3
[ -d "$REPO/bench/node_modules/@duckdb/node-api" ] || skip "DuckDB (npm ci --prefix bench) is not installed"
DUCK="$REPO/bench/duckdb_read.mjs"

n=4000
[ "$SANITIZED" = 1 ] && n=1500
"$SLUICE" gen cameras --events "$n" --seed 3 --dup 0.05 --late 0.01 --malformed 0.002 --out "$TMP/cameras" 2>/dev/null
"$SLUICE" gen telco --events "$n" --seed 3 --out "$TMP/telco" 2>/dev/null
"$SLUICE" gen retail --events "$n" --seed 3 --out "$TMP/retail" 2>/dev/null
"$SLUICE" gen cloud --events "$n" --orgs 40 --seed 3 --out "$TMP/cloud" 2>/dev/null
"$SLUICE" gen access --lines "$n" --file-lines $((n / 4)) --malformed 0.01 --seed 3 --out "$TMP/access" 2>/dev/null
"$SLUICE" gen dataops --events "$n" --jobs 20 --seed 3 --out "$TMP/dataops" 2>/dev/null
# umb reads Kafka: the mock cluster (it exits when fd 3 closes, at the end)
start_mock m --topic maas_notifications:4
"$SLUICE" gen umb --brokers "$BOOT" --messages "$n" --seed 3 >/dev/null 2>&1 || fail "umb: gen failed"

# DuckDB's rows of a lake table's files into $TMP/duck.jsonl, its column
# names and types into $TMP/duck.types. Ordinary files: read_parquet of each
# file. When a file has `_ref`: every file through ref_sql.py's query.
duck_read() {
  local what=$1 pipe=$2 data=$3 table=$4 files=$5 f ref=0
  for f in $files; do
    node "$DUCK" types "$f" >"$TMP/duck.ftypes" || fail "$what: DuckDB cannot read $f"
    grep -q $'^_ref\t' "$TMP/duck.ftypes" && ref=1
  done
  if [ $ref = 0 ]; then
    for f in $files; do node "$DUCK" rows "$f"; done >"$TMP/duck.jsonl" || fail "$what: DuckDB cannot read $files"
    node "$DUCK" types "$(echo "$files" | head -1)" >"$TMP/duck.types" || fail "$what: DuckDB types"
    return
  fi
  local input broot bfiles cold
  input=$(python3 -c 'import sys, yaml; print(yaml.safe_load(open(sys.argv[1]))["tables"][sys.argv[2]]["from"])' \
    "$pipe" "$table") || fail "$what: no input table in $pipe"
  broot=$(ls -d "$data"/*/"$input" 2>/dev/null | head -1)
  [ -d "$broot" ] || fail "$what: _ref but its input $input is no lake table under $data"
  bfiles=$(find "$broot/" -name 'part-*.parquet')
  if [ -f "$broot/.cold" ]; then
    cold=$(cat "$broot/.cold")
    [ "${cold#/}" = "$cold" ] && cold="$broot/$cold" # relative to B's root
    [ -d "$cold" ] && bfiles="$bfiles"$'\n'"$(find "$cold/" -name 'part-*.parquet')"
  fi
  echo "$bfiles" | sed '/^$/d' | sort >"$TMP/b.files"
  ref_sql B "$TMP/b.files" >"$TMP/ref.sql" || fail "$what: ref_sql"
  node "$DUCK" describe "$(cat "$TMP/ref.sql")" >"$TMP/b.types" || fail "$what: DuckDB cannot read $input's files"
  : >"$TMP/duck.jsonl"
  local first=1
  for f in $files; do
    node "$DUCK" types "$f" >"$TMP/duck.ftypes" || fail "$what: DuckDB types of $f"
    ref_sql T "$TMP/b.files" "$TMP/b.types" "$f" "$TMP/duck.ftypes" "$TMP/sluice.json" >"$TMP/ref.sql" || fail "$what: ref_sql"
    node "$DUCK" sql "$(cat "$TMP/ref.sql")" >>"$TMP/duck.jsonl" || fail "$what: DuckDB cannot join $f with $input"
    if [ $first = 1 ]; then
      node "$DUCK" describe "$(cat "$TMP/ref.sql")" >"$TMP/duck.types" || fail "$what: DuckDB types"
      first=0
    fi
  done
}

# The DuckDB query of one file F of a ref table: F's own columns, the others
# from B's files at row _ref (B's row id: sequence number of part-N.parquet
# << 32 | row in the file), NULL when neither has them; in `sluice query`'s
# order, then F's dt/hr partition columns.
ref_sql() {
  python3 - "$@" <<'PY'
import json, sys
def q(s): return "'" + s.replace("'", "''") + "'"
def ident(s): return '"' + s.replace('"', '""') + '"'
mode, bfiles = sys.argv[1:3]
files = [l.strip() for l in open(bfiles) if l.strip()]
bl = "[" + ", ".join(q(x) for x in files) + "]"
breader = ("read_parquet(" + bl + ", filename=true, file_row_number=true, union_by_name=true,"
           " hive_partitioning=false)")
if mode == "B":  # B's columns, as DESCRIBE gives them
    print("SELECT * FROM " + breader)
    sys.exit(0)
btypes, f, ftypes, sl = sys.argv[3:]
bcols = {l.split("\t")[0] for l in open(btypes) if l.strip()} - {"filename", "file_row_number"}
tcols = [l.split("\t")[0] for l in open(ftypes) if l.strip()]
objs = [json.loads(l) for l in open(sl) if l.strip()]
cols = list(objs[0].keys()) if objs else [c for c in tcols if c not in ("_ref", "dt", "hr")]
has_ref = "_ref" in tcols
sel = []
for c in cols:
    if c in tcols: sel.append("t." + ident(c))
    elif has_ref and c in bcols: sel.append("b." + ident(c))
    else: sel.append("NULL AS " + ident(c))
for p in ("dt", "hr"):
    if p in tcols: sel.append("t." + p)
sql = "SELECT " + ", ".join(sel) + " FROM read_parquet(" + q(f) + ", file_row_number=true) t"
if has_ref:
    sql += (" JOIN (SELECT *, (CAST(regexp_extract(filename, 'part-([0-9]+)\\.parquet', 1) AS BIGINT)"
            " << 32) | file_row_number AS _rowid FROM " + breader + ") b ON t._ref = b._rowid")
print(sql + " ORDER BY t.file_row_number")
PY
}

checked=0
for flavor in cameras telco retail cloud access-logs dataops umb; do
  in=$TMP/${flavor%-logs}
  pipe=$REPO/pipelines/$flavor.yaml
  extra=(--set input="$in")
  [ "$flavor" = cameras ] && extra+=(--set locations="$in/locations.csv")
  [ "$flavor" = umb ] && extra=(--set brokers="$BOOT" --set session_timeout_ms=6000 --set heartbeat_ms=500)
  timeout 120 "$SLUICE" run "$pipe" --data "$TMP/out-$flavor" "${extra[@]}" --once --status 0 ||
    fail "$flavor: run failed"
  for root in "$TMP/out-$flavor"/bronze/* "$TMP/out-$flavor"/silver/*; do
    [ -d "$root" ] || continue
    table=$(basename "$root")
    files=$(find "$root" -name 'part-*.parquet' | sort)
    [ -n "$files" ] || fail "$flavor/$table: no Parquet segment under $root"
    "$SLUICE" query "$pipe" --data "$TMP/out-$flavor" --format json "SELECT * FROM $table" >"$TMP/sluice.json" ||
      fail "$flavor/$table: sluice query"
    duck_read "$flavor/$table" "$pipe" "$TMP/out-$flavor" "$table" "$files"
    node "$DUCK" meta "$(echo "$files" | head -1)" >"$TMP/duck.meta" || fail "$flavor/$table: DuckDB metadata"
    python3 - "$TMP/duck.jsonl" "$TMP/duck.types" "$TMP/duck.meta" "$TMP/sluice.json" "$flavor/$table" <<'PY' || fail "$flavor/$table: DuckDB and sluice query differ"
import json, sys, datetime
duck_rows, types_f, meta_f, sl_f, what = sys.argv[1:]
types = [l.rstrip("\n").split("\t") for l in open(types_f) if l.strip()]
names = [t[0] for t in types]
ts_cols = {t[0] for t in types if t[1].startswith("TIMESTAMP")}
for t in types:
    if t[0] in ("_ingest_ts",) and t[1] != "TIMESTAMP WITH TIME ZONE":
        sys.exit("%s: _ingest_ts is %s in DuckDB" % (what, t[1]))
meta = [l for l in open(meta_f) if l.strip()]
if not meta:
    sys.exit("%s: DuckDB lists no column chunk" % what)
d = [json.loads(l) for l in open(duck_rows) if l.strip()]
objs = [json.loads(l) for l in open(sl_f) if l.strip()]
cols = list(objs[0].keys()) if objs else names
rows = [[o.get(c) for c in cols] for o in objs]
# DuckDB reads dt=/hr= folders as hive partition columns: they must be the
# row's ingest date and hour; then they are left out of the comparison
if names[-2:] == ["dt", "hr"] and "dt" not in cols:
    ii = names.index("_ingest_ts")
    for r in d:
        t = datetime.datetime.fromtimestamp(r[ii] / 1e6, datetime.timezone.utc)
        if str(r[-2]) != t.strftime("%Y-%m-%d") or int(r[-1]) != t.hour:
            sys.exit("%s: partition dt=%s/hr=%s holds a row ingested at %s" % (what, r[-2], r[-1], t))
    d = [r[:-2] for r in d]
    names = names[:-2]
if cols != names:
    sys.exit("%s: columns differ: duckdb %s, sluice %s" % (what, names, cols))
def us(s):
    t = datetime.datetime.fromisoformat(s.replace("Z", "+00:00"))
    e = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)
    return (t - e) // datetime.timedelta(microseconds=1)
def norm_sluice(r):
    out = []
    for name, v in zip(cols, r):
        if v is not None and name in ts_cols:
            v = us(v)
        out.append(v)
    return out
def norm_duck(r):
    return [int(v) if isinstance(v, bool) else v for v in r]
a = sorted(json.dumps(norm_duck(r)) for r in d)
b = sorted(json.dumps(norm_sluice(r)) for r in rows)
if a != b:
    sa, sb = set(a), set(b)
    print("%s: %d rows in DuckDB, %d through sluice" % (what, len(a), len(b)))
    for x in list(sa - sb)[:3]: print("  duckdb only:", x)
    for x in list(sb - sa)[:3]: print("  sluice only:", x)
    sys.exit(1)
print("%s: %d rows, %d columns equal" % (what, len(a), len(names)))
PY
    checked=$((checked + 1))
  done
done
[ "$checked" -ge 19 ] || fail "only $checked lake tables checked"
ok "DuckDB reads the Parquet segments of $checked lake tables in 7 flavors, equal to sluice query"
