#!/usr/bin/env bash
# --once over a backlog on a terminal: a progress line (files and bytes of the
# total, rate, ETA) rewritten in place, ending at 100%; status lines label
# this session's counts and the pipeline's totals, with lags in human units;
# without a terminal, no progress line.
source "$(dirname "$0")/../lib.sh"
need script bsdutils
need python3

mkdir -p "$TMP/in"
python3 - "$TMP/in" <<'PY'
import json, sys
for f in range(40):
    with open(f"{sys.argv[1]}/part-{f:03d}.ndjson", "w") as out:
        for i in range(500):
            out.write(json.dumps({"id": f * 500 + i, "ts": 1700000000000 + i * 1000, "pad": "x" * 200}) + "\n")
PY
cat >"$TMP/p.yaml" <<YAML
pipeline: progress
sources:
  s: {type: dir, path: $TMP/in, pattern: "*.ndjson", format: json, schema: {id: int, ts: int, pad: string}}
tables:
  t:
    layer: silver
    from: s
    steps:
      - watermark: {time: "from_unixtime_ms(ts)", delay: 1m}
YAML
bytes=$(cat "$TMP"/in/*.ndjson | wc -c)
# a pseudo-terminal on stderr
script -qfec "$SLUICE run $TMP/p.yaml --data $TMP/d --once" /dev/null >"$TMP/tty.txt" 2>&1 ||
  { cat "$TMP/tty.txt"; fail "run under a terminal"; }
tr '\r' '\n' <"$TMP/tty.txt" | grep "files, " >"$TMP/progress.txt" || fail "no progress line on a terminal"
last=$(tail -1 "$TMP/progress.txt")
echo "$last"
echo "$last" | has "40/40 files" || fail "progress does not end at 40/40 files: $last"
echo "$last" | has "(100%)" || fail "progress does not end at 100%: $last"
echo "$last" | has "took " || fail "final progress line says how long it took"
python3 - "$TMP/progress.txt" "$bytes" <<'PY' || fail "progress totals"
import re, sys
lines = open(sys.argv[1]).read().splitlines()
want = int(sys.argv[2])
for l in lines:
    m = re.search(r"of ([\d.]+) (B|KiB|MiB)", l)
    assert m, l
    total = float(m.group(1)) * {"B": 1, "KiB": 1024, "MiB": 1 << 20}[m.group(2)]
    assert abs(total - want) / want < 0.01, (l, want)
PY
grep -q "done | session .*: in=20000 " "$TMP/tty.txt" || fail "final status line: $(grep done "$TMP/tty.txt")"

# no terminal: status lines only; a second session counts only its own input
python3 - "$TMP/in" <<'PY'
import json, sys
with open(f"{sys.argv[1]}/part-900.ndjson", "w") as out:
    for i in range(700):
        out.write(json.dumps({"id": 90000 + i, "ts": 1700000600000 + i, "pad": "y"}) + "\n")
PY
"$SLUICE" run "$TMP/p.yaml" --data "$TMP/d" --once 2>"$TMP/err.txt" || fail "second run"
grep -q "files, " "$TMP/err.txt" && fail "a progress line without a terminal"
line=$(grep "sluice progress: done" "$TMP/err.txt")
echo "$line"
echo "$line" | has "| session [0-9.]*m\?s: in=700 " || fail "session count: $line"
echo "$line" | has "| total: in=20700 " || fail "total count: $line"
echo "$line" | grep -Eq "watermark_lag=([0-9]+d)?([0-9]+h)?([0-9]+m)?([0-9]+s)?$|watermark_lag=[0-9.]+m?s$" ||
  fail "watermark lag in human units: $line"
ok "progress on a terminal ends at 100%; status lines label session and totals"
