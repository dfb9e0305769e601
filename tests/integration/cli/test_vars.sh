#!/usr/bin/env bash
# sluice vars: every ${...} of a pipeline file and of the file it extends, its
# default, the value a run would use and where from, where it is used; secret
# values hidden; an unset variable without a default is listed and exits 2.
source "$(dirname "$0")/../lib.sh"
need python3

mkdir -p "$TMP/p"
cat >"$TMP/p/base.yaml" <<'YAML'
pipeline: vars_base
commit_interval: ${commit_interval:1s}
sources:
  s:
    type: dir
    path: ${input:data/in}/events
    format: json
    schema: {id: int}
tables:
  t: {from: s, retention: "${retention:7d}"}
YAML
cat >"$TMP/p/child.yaml" <<'YAML'
extends: base.yaml
pipeline: vars_child
server:
  listen: "${listen:}"
  token: "${API_TOKEN}"
views:
  v: SELECT * FROM t WHERE id > ${min_id:${floor:0}}
YAML
cd "$TMP"
API_TOKEN=s3cr3t-value "$SLUICE" vars p/child.yaml --set input=/srv/landing >out.txt 2>err.txt ||
  { cat err.txt; fail "vars exit $?"; }
cat out.txt
grep -q "s3cr3t" out.txt && fail "a token's value was printed"
python3 - out.txt <<'PY' || fail "table output"
import sys, re
rows = {l.split()[0]: l for l in open(sys.argv[1]).read().splitlines()[1:]}
def has(name, *parts):
    l = rows.get(name)
    assert l, (name, rows.keys())
    for p in parts:
        assert p in l, (name, p, l)
has("input", "data/in", "/srv/landing", "--set", "p/base.yaml:6:11 (path)")
has("commit_interval", "1s", "default", "p/base.yaml:2:18 (commit_interval)")
has("retention", "7d", "default", "p/base.yaml:10:27 (retention)")
has("API_TOKEN", "(hidden, 12 chars)", "environment", "p/child.yaml:5:10 (token)")
has("min_id", "${floor:0}", "default", "p/child.yaml:7:6 (v)")
has("floor", "0", "default")
has("listen", '""', "default")
assert "vars_" not in "".join(rows), rows
PY
"$SLUICE" vars p/child.yaml --format json >out.json 2>err.txt && fail "an unset variable without a default must exit 2"
grep -q "'API_TOKEN' is not set" err.txt || fail "no message for the unset variable: $(cat err.txt)"
python3 - out.json <<'PY' || fail "json output"
import json, sys
rows = {r["name"]: r for r in map(json.loads, open(sys.argv[1]))}
assert rows["API_TOKEN"]["from"] == "unset" and rows["API_TOKEN"]["value"] is None
assert rows["API_TOKEN"]["default"] is None
assert rows["input"]["value"] == "data/in" and rows["input"]["from"] == "default"
assert rows["input"]["used_at"] == [{"at": "p/base.yaml:6:11", "key": "path"}]
assert list(rows) == ["input", "commit_interval", "retention", "listen", "API_TOKEN", "floor", "min_id"] or \
       set(rows) == {"input", "commit_interval", "retention", "listen", "API_TOKEN", "floor", "min_id"}
PY
# what validate/run would use is what vars shows: the run refuses the same unset variable
"$SLUICE" validate p/child.yaml >/dev/null 2>err.txt && fail "validate with API_TOKEN unset"
grep -q "API_TOKEN" err.txt || fail "validate's message"
expect_usage() {
  local rc=0
  "$SLUICE" vars "$@" >/dev/null 2>&1 || rc=$?
  [ $rc -eq 2 ] || fail "vars $* should be a usage error (exit $rc)"
}
expect_usage
expect_usage p/child.yaml --format xml
"$SLUICE" vars --help | grep -q "usage: sluice vars" || fail "vars --help"
ok "sluice vars: defaults, values and sources, uses with file:line:col, secrets hidden, unset refused"
