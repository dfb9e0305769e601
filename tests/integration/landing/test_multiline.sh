#!/usr/bin/env bash
# Multiline records end to end: Java logs (a record starts with a date; the
# exception, its "at" frames and "Caused by" join it) and Python logs
# (continue pattern: the traceback joins the ERROR line before it) are
# appended in pieces that cut records mid-trace while a live pipeline reads
# them, the pipeline is SIGKILLed half-way, and one --once run finishes. Every
# row (its text, with the real line ends, and its file offset) must equal the
# records python3 groups from the files: none split, none doubled.
source "$(dirname "$0")/../lib.sh"
need python3
need sqlite3
records=${ML_RECORDS:-1500}
[ "$SANITIZED" = 1 ] && records=400
mkdir -p "$TMP/in" "$TMP/src"
python3 - "$TMP/src" "$records" <<'PY'
import random, sys
out, n = sys.argv[1], int(sys.argv[2])
r = random.Random(7)
for name in ("java-1.log", "java-2.log"):
    with open(f"{out}/{name}", "w") as f:
        for i in range(n // 4):
            ts = f"2026-12-07 10:{i // 60 % 60:02d}:{i % 60:02d}"
            if r.random() < 0.3:
                f.write(f"{ts} ERROR request {i} failed\njava.lang.IllegalStateException: boom {i}\n")
                for k in range(r.randint(1, 12)):
                    f.write(f"\tat com.example.C{k}.run(C{k}.java:{r.randint(1, 999)})\n")
                if r.random() < 0.5:
                    f.write("Caused by: java.io.IOException: disk full\n\t... 3 more\n")
            else:
                f.write(f"{ts} INFO request {i} ok\n")
for name in ("py-1.log", "py-2.log"):
    with open(f"{out}/{name}", "w") as f:
        for i in range(n // 4):
            if r.random() < 0.3:
                f.write(f"ERROR job {i} failed\nTraceback (most recent call last):\n")
                for k in range(r.randint(1, 6)):
                    f.write(f'  File "m{k}.py", line {r.randint(1, 500)}, in f{k}\n    call{k}()\n')
                f.write(f"ValueError: bad value {i}\n")
            else:
                f.write(f"INFO job {i} ok\n")
PY
cat >"$TMP/p.yaml" <<YAML
pipeline: ml
commit_interval: \${commit_interval:1s}
sources:
  java:
    type: dir
    path: $TMP/in
    pattern: "java-*.log"
    format: regex
    pattern_regex: '^(?<text>(?s:.*))$'
    schema: {text: string}
    multiline: {start: '^\\d{4}-\\d\\d-\\d\\d ', flush_after: 5s}
  py:
    type: dir
    path: $TMP/in
    pattern: "py-*.log"
    format: regex
    pattern_regex: '^(?<text>(?s:.*))$'
    schema: {text: string}
    multiline: {continue: '^(\\s|Traceback|\\w+Error:)', flush_after: 5s}
tables:
  java_rows: {layer: silver, from: java}
  py_rows: {layer: silver, from: py}
YAML
# a live run while the files grow in pieces cut at random lines, SIGKILLed half-way
SLUICE_LOG=error "$SLUICE" run "$TMP/p.yaml" --data "$TMP/out" --set commit_interval=50ms --status 0 &
pid=$!
trap 'kill -9 $pid 2>/dev/null || true; cleanup' EXIT
python3 - "$TMP/src" "$TMP/in" <<'PY'
import os, random, sys, time
src, dst = sys.argv[1], sys.argv[2]
r = random.Random(3)
files = {n: open(os.path.join(src, n)).read().splitlines(keepends=True) for n in sorted(os.listdir(src))}
pos = {n: 0 for n in files}
while any(pos[n] < len(files[n]) for n in files):
    for n in files:
        k = r.randint(1, 40)
        with open(os.path.join(dst, n), "a") as f:
            f.write("".join(files[n][pos[n]:pos[n] + k]))
        pos[n] += k
    time.sleep(0.02)
PY
sleep 0.3
kill -9 "$pid" 2>/dev/null || true
wait "$pid" 2>/dev/null || true
timeout 60 "$SLUICE" run "$TMP/p.yaml" --data "$TMP/out" --once --status 0
python3 - "$TMP/in" "$TMP/out/sluice.db" <<'PY'
import os, re, sqlite3, sys
d, db = sys.argv[1], sys.argv[2]
con = sqlite3.connect(db)
bad = 0
def groups(path, is_start):
    recs, cur, off, at = [], None, 0, 0
    for line in open(path, encoding="utf-8").read().splitlines(keepends=True):
        body = line.rstrip("\n")
        if cur is None or is_start(body):
            if cur is not None:
                recs.append((at, "\n".join(cur)))
            cur, at = [body], off
        else:
            cur.append(body)
        off += len(line.encode())
    if cur is not None:
        recs.append((at, "\n".join(cur)))
    return recs
java = re.compile(r"\d{4}-\d\d-\d\d ")
py = re.compile(r"(\s|Traceback|\w+Error:)")
total = 0
for table, prefix, is_start in (("java_rows", "java-", lambda s: java.match(s) is not None),
                                ("py_rows", "py-", lambda s: py.match(s) is None)):
    for name in sorted(f for f in os.listdir(d) if f.startswith(prefix)):
        want = groups(os.path.join(d, name), is_start)
        got = con.execute(f"SELECT _offset, text FROM {table} WHERE _source = ? ORDER BY _offset", (name,)).fetchall()
        if got != want:
            gs, ws = set(got), set(want)
            print(f"{name}: {len(got)} rows, {len(want)} records; extra {sorted(gs - ws)[:2]} missing {sorted(ws - gs)[:2]}", file=sys.stderr)
            bad += 1
        total += len(want)
if bad:
    sys.exit(1)
print(total)
PY
ok "multiline: every record whole, once, at its first line's offset, after a SIGKILL"
