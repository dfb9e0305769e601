#!/usr/bin/env bash
# sluice test: every shipped pipeline's cases pass; a failing case is
# reported with the row it could not find and exits 1; a bad tests file
# exits 2 with file:line:col; nothing is left on disk.
source "$(dirname "$0")/../lib.sh"

n=0
for t in "$REPO"/pipelines/*.tests.yaml; do
  p=${t%.tests.yaml}.yaml
  [ -f "$p" ] || fail "$t has no pipeline beside it"
  "$SLUICE" test "$p" >"$TMP/out" 2>"$TMP/err" || { cat "$TMP/out" "$TMP/err"; fail "sluice test $p"; }
  tail -1 "$TMP/out"
  grep -q ", 0 failed" "$TMP/out" || fail "$p: failures"
  n=$((n + 1))
done
[ "$n" -ge 5 ] || fail "only $n pipelines have tests"
for flavor in cameras telco retail umb dataops; do
  [ -f "$REPO/pipelines/$flavor.tests.yaml" ] || fail "the $flavor flavor has no tests"
done
ok "the cases of $n shipped pipelines pass"

cd "$TMP"
cat >p.yaml <<'YAML'
pipeline: ptest
sources:
  s: {type: kafka, brokers: "127.0.0.1:1", topics: t, group: g, format: json, schema: {id: int, v: double}}
tables:
  clean:
    from: s
    steps:
      - expect: {name: positive, expr: "v > 0", action: quarantine}
      - derive: {t: "from_unixtime(id)"}
    publish: {brokers: "127.0.0.1:1", topic: out}
  sums:
    from: clean
    window: {size: 1m, time: t, aggregates: {n: count(*), total: sum(v)}}
YAML
cat >p.tests.yaml <<'YAML'
cases:
  - name: passes
    input:
      s: [{id: 60, v: 1.5}, {id: 61, v: 2}, {id: 62, v: -1}]
    expect:
      clean: {rows: [{id: 60, v: 1.5}, {id: 61, v: 2.0}]}
      sums: {rows: [{window_start: "1970-01-01T00:01:00Z", n: 2, total: 3.5}]}
    quarantine: [{table: clean, reason: positive}]
  - name: fails
    input:
      s: [{id: 60, v: 1.5}]
    expect:
      clean: {rows: [{id: 60, v: 2.5}]}
YAML
set +e
before=$(ls /dev/shm 2>/dev/null | grep -c sluice-test)
"$SLUICE" test p.yaml >out 2>err; rc=$?
set -e
cat out
[ $rc -eq 1 ] || fail "a failing case: exit $rc, want 1 ($(cat err))"
grep -q "^ok   passes" out || fail "the passing case (a kafka source read from the case, publish: left out)"
grep -q "^FAIL fails" out || fail "the failing case"
grep -q 'no row matches {"id":60,"v":2.5}' out || fail "the failure names the row"
grep -q "1 row not expected" out || fail "the failure shows the extra row"
after=$(ls /dev/shm 2>/dev/null | grep -c sluice-test || true)
[ "$before" = "$after" ] || fail "a case directory was left behind"
"$SLUICE" test p.yaml --case passes >out || fail "--case passes"
grep -q "1 passed, 0 failed" out || fail "--case runs one case"
cat >bad.tests.yaml <<'YAML'
cases:
  - name: x
    input:
      nosuch: [{id: 1}]
YAML
set +e
"$SLUICE" test p.yaml --tests bad.tests.yaml >out 2>err; rc=$?
set -e
[ $rc -eq 2 ] || fail "unknown source: exit $rc"
grep -q "bad.tests.yaml:4:7: input: the pipeline has no source 'nosuch'" err || fail "message: $(cat err)"
printf 'cases:\n  - name: y\n    inputs: {}\n' >bad2.tests.yaml
set +e
"$SLUICE" test p.yaml --tests bad2.tests.yaml >out 2>err; rc=$?
set -e
[ $rc -eq 2 ] || fail "a misspelt key: exit $rc"
grep -q "bad2.tests.yaml:3:5" err || fail "misspelt key message: $(cat err)"
ok "sluice test: failures named, exit codes, --case, file:line:col, nothing left behind"
