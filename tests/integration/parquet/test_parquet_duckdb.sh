#!/usr/bin/env bash
# DuckDB, an independent implementation, reads the Parquet files formats/parquet
# writes, and formats/parquet reads the files DuckDB writes:
#  1. pq_tool writes files from a seeded dataset (every type, NULLs, int64
#     extremes, dictionary / delta / plain chunks, many pages, several row
#     groups, a reopen at an earlier committed length); DuckDB's rows must
#     equal the dataset recomputed here in Python from the same seed, its
#     column types must be the mapped ones, and its view of the metadata
#     (encodings, zstd, null counts, min/max) must match the data.
#  2. DuckDB writes files (zstd, snappy and uncompressed, Parquet v1 and v2 pages,
#     INTEGER/FLOAT/TIMESTAMP besides our types); pq_tool dump must print the
#     rows DuckDB prints for the same file.
# Needs node and the DuckDB package in bench/node_modules (npm ci --prefix bench).
source "$(dirname "$0")/../lib.sh"
need node nodejs
need python3
[ -d "$REPO/bench/node_modules/@duckdb/node-api" ] || skip "DuckDB for node is not installed (npm ci --prefix bench)"
PQ="$BUILD/pq_tool"
[ -x "$PQ" ] || fail "no $PQ"
DK() { timeout 120 node "$REPO/bench/duckdb_read.mjs" "$@"; }
scale=1
[ "${SANITIZED:-0}" = 1 ] && scale=4

# name rows flushes seed page_rows reopen_after
cases=(
  "a $((20000 / scale)) 3 7 5000 -1"
  "b $((50000 / scale)) 1 11 0 -1"
  "c $((30000 / scale)) 5 13 4000 1"
  "d 1 1 5 0 -1"
  "e 700 2 3 64 0"
)
for c in "${cases[@]}"; do
  read -r name rows flushes seed page reopen <<<"$c"
  f="$TMP/$name.parquet"
  args=("$f" "$rows" "$flushes" "$seed" "$page")
  [ "$reopen" -ge 0 ] && args+=("$reopen")
  timeout 60 "$PQ" write "${args[@]}" >/dev/null || fail "pq_tool write $c"
  DK rows "$f" >"$TMP/$name.rows" || fail "duckdb cannot read $name.parquet"
  DK types "$f" >"$TMP/$name.types" || fail "duckdb types $name"
  DK meta "$f" >"$TMP/$name.meta" || fail "duckdb metadata $name"
  python3 - "$TMP/$name" "$rows" "$flushes" "$seed" <<'PY' || fail "case $c: DuckDB disagrees"
import json, sys
base, rows, flushes, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
M = (1 << 64) - 1
WORDS = ["north", "south", "east", "west", "gate", "", "lobby", "dock", "roof", "ä-b"]
s = seed or 1
want = []
for r in range(rows):
    s ^= (s << 13) & M; s ^= s >> 7; s ^= (s << 17) & M
    z = s
    e = (z >> 40) % 50
    row = [1000 + 3 * r, z % 300, ((z >> 8) % 100000) / 7.0, bool((z >> 3) & 1),
           WORDS[(z >> 13) % 10], 1700000000000000 + 1000 * r + (z >> 17) % 500,
           "u-%d-%d" % (r, (z >> 23) % 1000),
           -(1 << 63) if e == 0 else (1 << 63) - 1 if e == 1 else (z >> 30) % 1000 - 500]
    for c in range(1, 8):
        if ((z >> (3 * c + 41)) & 7) == 0:
            row[c] = None
    want.append(row)
got = [json.loads(l) for l in open(base + ".rows")]
if got != want:
    bad = next(i for i in range(min(len(got), len(want))) if got[i] != want[i]) if got[:len(want)] != want[:len(got)] else min(len(got), len(want))
    sys.exit("rows: %d from DuckDB, %d expected; first difference at row %d: %r vs %r" % (
        len(got), len(want), bad, got[bad] if bad < len(got) else None, want[bad] if bad < len(want) else None))
types = [l.rstrip("\n").split("\t") for l in open(base + ".types")]
expect = [["id", "BIGINT"], ["cam", "BIGINT"], ["d", "DOUBLE"], ["b", "BOOLEAN"], ["s", "VARCHAR"],
          ["ts", "TIMESTAMP WITH TIME ZONE"], ["u", "VARCHAR"], ["x", "BIGINT"]]
if types != expect:
    sys.exit("types %r" % types)
# metadata: per row group (the parts the rows were written in) and column
names = [t[0] for t in expect]
meta = [l.rstrip("\n").split("\t") for l in open(base + ".meta")]
if len(meta) != 8 * flushes:
    sys.exit("%d column chunks, expected %d" % (len(meta), 8 * flushes))
for rg, col, enc, comp, nulls, mn, mx in meta:
    rg, c = int(rg), names.index(col)
    part = want[rows * rg // flushes: rows * (rg + 1) // flushes]
    vals = [row[c] for row in part if row[c] is not None]
    encs = set(enc.split(", "))
    # zstd, or none on a column where zstd did not pay (parquet.c: Z_MIN_GAIN_PCT);
    # the first chunk of every column is compressed
    if comp not in ("ZSTD", "UNCOMPRESSED") or (rg == 0 and comp != "ZSTD"):
        sys.exit("rg %s %s: compression %s" % (rg, col, comp))
    if int(nulls) != len(part) - len(vals):
        sys.exit("rg %d %s: null count %s, expected %d" % (rg, col, nulls, len(part) - len(vals)))
    if col in ("id", "cam", "x") and vals and (int(mn), int(mx)) != (min(vals), max(vals)):
        sys.exit("rg %d %s: min/max %s %s, expected %d %d" % (rg, col, mn, mx, min(vals), max(vals)))
    if col == "s" and vals and (mn, mx) != (min(vals, key=lambda v: v.encode()), max(vals, key=lambda v: v.encode())):
        sys.exit("rg %d s: min/max %r %r" % (rg, mn, mx))
    if len(part) >= 1000:
        want_enc = {"id": "DELTA_BINARY_PACKED", "ts": "DELTA_BINARY_PACKED", "s": "RLE_DICTIONARY",
                    "u": "PLAIN"}.get(col)
        if want_enc and want_enc not in encs:
            sys.exit("rg %d %s: encodings %s, expected %s" % (rg, col, enc, want_enc))
PY
  ok "$name: DuckDB reads $rows rows in $flushes row groups as written"
done

# 2. files DuckDB writes, read by formats/parquet
n=$((40000 / scale))
sel="SELECT range::BIGINT AS i, (range % 1000)::INTEGER AS i32,
  CASE WHEN range % 7 = 0 THEN NULL ELSE (range * 0.25)::DOUBLE END AS d,
  (range / 3.0)::FLOAT AS f, range % 3 = 0 AS b,
  CASE WHEN range % 5 = 0 THEN NULL ELSE 'name-' || (range % 37) END AS s,
  'uniq-' || range || repeat('x', (range % 13)::INTEGER) AS u,
  TIMESTAMPTZ '2024-03-01 00:00:00+00' + to_microseconds(range * 1234567) AS tstz,
  TIMESTAMP '2024-03-01 00:00:00' + to_milliseconds(range * 3) AS ts,
  CASE WHEN range % 11 = 0 THEN NULL ELSE range % 2 = 1 END AS bn
  FROM range($n)"
for opts in "COMPRESSION zstd" "COMPRESSION zstd, ROW_GROUP_SIZE 10000" \
  "COMPRESSION zstd, PARQUET_VERSION v2" "COMPRESSION uncompressed, PARQUET_VERSION v2, ROW_GROUP_SIZE 15000" \
  "COMPRESSION uncompressed" "COMPRESSION snappy" "COMPRESSION snappy, PARQUET_VERSION v2"; do
  f="$TMP/duck.parquet"
  rm -f "$f"
  DK exec "COPY ($sel) TO '$f' (FORMAT parquet, $opts)" || fail "duckdb COPY ($opts)"
  DK rows "$f" >"$TMP/duck.rows" || fail "duckdb rows ($opts)"
  timeout 60 "$PQ" dump "$f" >"$TMP/our.rows" || fail "pq_tool cannot read DuckDB's file ($opts)"
  python3 - "$TMP/duck.rows" "$TMP/our.rows" <<'PY' || fail "($opts): our reader disagrees with DuckDB"
import json, math, sys
a = [json.loads(l) for l in open(sys.argv[1])]
b = [json.loads(l) for l in open(sys.argv[2])]
if len(a) != len(b):
    sys.exit("%d rows from DuckDB, %d from ours" % (len(a), len(b)))
for i, (x, y) in enumerate(zip(a, b)):
    same = len(x) == len(y) and all(
        u == v if not (isinstance(u, float) or isinstance(v, float)) or isinstance(u, bool)
        else float(u) == float(v) for u, v in zip(x, y))
    if not same:
        sys.exit("row %d: DuckDB %r, ours %r" % (i, x, y))
PY
  ok "DuckDB's file ($opts): $(wc -l <"$TMP/our.rows") rows read equal"
done
timeout 60 "$PQ" schema "$f" | tr '\t' ' ' | paste -sd, | grep -qx "i int,i32 int,d double,f double,b bool,s string,u string,tstz timestamp,ts timestamp,bn bool" \
  || fail "schema mapping: $("$PQ" schema "$f" | paste -sd,)"
ok "schema mapping of DuckDB's types"
