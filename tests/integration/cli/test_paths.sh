#!/usr/bin/env bash
# Relative paths in a pipeline file resolve against the file's directory (a
# source path, a lookup file, an archive directory, and in a file it extends),
# so the pipeline runs the same from any working directory; a path that comes
# from --set or the environment is relative to the working directory, where
# it was typed.
source "$(dirname "$0")/../lib.sh"

mkdir -p "$TMP/proj/conf/landing" "$TMP/proj/conf/ref" "$TMP/elsewhere/mine" "$TMP/cwd"
printf '{"id":1,"k":"a"}\n{"id":2,"k":"b"}\n' >"$TMP/proj/conf/landing/e1.ndjson"
printf 'k,label\na,Alpha\nb,Beta\n' >"$TMP/proj/conf/ref/labels.csv"
cat >"$TMP/proj/conf/base.yaml" <<'YAML'
pipeline: paths
sources:
  s: {type: dir, path: "${input:landing}", pattern: "*.ndjson", format: json, schema: {id: int, k: string},
      cleanup: move, archive: "${archive:done}"}
tables:
  t:
    from: s
    steps:
      - lookup: {file: ref/labels.csv, on: k, columns: [label]}
YAML
cat >"$TMP/proj/conf/p.yaml" <<'YAML'
extends: base.yaml
pipeline: paths
YAML
# 1. run from an unrelated working directory: everything is found beside the file
(cd "$TMP/cwd" && "$SLUICE" run ../proj/conf/p.yaml --data d1 --once --status 0) ||
  fail "run from another directory"
got=$(cd "$TMP/cwd" && "$SLUICE" query ../proj/conf/p.yaml --data d1 --format csv "SELECT id, label FROM t ORDER BY id")
[ "$got" = $'id,label\n1,Alpha\n2,Beta' ] || fail "rows: $got"
[ -d "$TMP/proj/conf/done" ] || fail "archive: relative to the file (done/ made beside it)"
[ -e "$TMP/cwd/done" ] && fail "archive made in the working directory"
[ -d "$TMP/cwd/d1" ] || fail "--data is relative to the working directory"
ok "source path, lookup file and archive resolve against the pipeline file (and its base)"

# 2. --set values are relative to the working directory
printf '{"id":7,"k":"b"}\n' >"$TMP/elsewhere/mine/x.ndjson"
(cd "$TMP/elsewhere" && "$SLUICE" run ../proj/conf/p.yaml --data d2 --once --status 0 \
  --set input=mine --set archive=arch) || fail "run with relative --set paths"
got=$(cd "$TMP/elsewhere" && "$SLUICE" query ../proj/conf/p.yaml --data d2 --format csv "SELECT id, label FROM t")
[ "$got" = $'id,label\n7,Beta' ] || fail "rows from --set input=mine: $got"
[ -d "$TMP/elsewhere/arch" ] || fail "--set archive=arch: relative to the working directory"
# 3. ... and so are environment values
printf '{"id":8,"k":"a"}\n' >"$TMP/elsewhere/mine/y.ndjson"
(cd "$TMP/elsewhere" && input=mine archive=arch "$SLUICE" run ../proj/conf/p.yaml --data d3 --once --status 0) ||
  fail "run with relative environment paths"
got=$(cd "$TMP/elsewhere" && "$SLUICE" query ../proj/conf/p.yaml --data d3 --format csv "SELECT id FROM t ORDER BY id")
[ "$got" = $'id\n7\n8' ] || fail "rows from input=mine in the environment: $got"
# 4. a missing directory is reported with the resolved path
rm -rf "$TMP/proj/conf/landing"
out=$(cd "$TMP/cwd" && "$SLUICE" check ../proj/conf/p.yaml --data d4 2>&1) && fail "check with a missing landing dir"
echo "$out" | has "proj/conf/landing" || fail "check names the resolved path: $out"
ok "--set and environment paths are relative to the working directory"
