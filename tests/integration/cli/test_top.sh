#!/usr/bin/env bash
# sluice top: a live view of a running instance's /metrics, tested in tmux
# (a private tmux server): while files flow into the landing dir the screen
# shows the pipeline line, the source row and the table rows with non-zero
# rates; `q` quits and the shell's screen comes back (alternate screen).
# --once prints one plain frame; without the token the scrape is refused.
source "$(dirname "$0")/../lib.sh"
need tmux
need python3
need timeout coreutils

ROWS=400
[ "$SANITIZED" = 1 ] && ROWS=100
mkdir -p "$TMP/in"
cat >"$TMP/p.yaml" <<YAML
pipeline: topview
commit_interval: 200ms
sources:
  s: {type: dir, path: $TMP/in, pattern: "*.ndjson", format: json, schema: {id: int, ts: int}}
tables:
  events:
    layer: silver
    from: s
    steps:
      - watermark: {time: "from_unixtime_ms(ts)", delay: 1s}
      - expect: {name: not_fifth, expr: "id % 5 <> 0", action: quarantine}
  fast: {layer: silver, from: events, steps: [{filter: "id % 2 = 0"}]}
server:
  listen: 127.0.0.1:0
  token: \${TOP_TOKEN:}
YAML
SOCK="sluice-top-test-$$"
FEED=
TOP_TOKEN=t0ken "$SLUICE" run "$TMP/p.yaml" --data "$TMP/d" --listen 127.0.0.1:0 \
  >"$TMP/run.out" 2>"$TMP/run.err" &
RUN=$!
stop_all() {
  [ -n "$FEED" ] && kill "$FEED" 2>/dev/null
  tmux -L "$SOCK" kill-server 2>/dev/null || true
  kill "$RUN" 2>/dev/null || true
  wait "$RUN" 2>/dev/null || true
  cleanup
}
trap stop_all EXIT
URL=
for _ in $(seq 100); do
  URL=$(sed -n 's|.*dashboard at \(http://[^/]*\)/.*|\1|p' "$TMP/run.err" | head -1)
  [ -n "$URL" ] && break
  sleep 0.1
done
[ -n "$URL" ] || { cat "$TMP/run.err" >&2; fail "pipeline did not start its server"; }

# a steady feed: a file of ROWS records every 0.2 s, for at most 45 s
python3 - "$TMP/in" "$ROWS" <<'PY' &
import json, os, sys, time
d, n = sys.argv[1], int(sys.argv[2])
now = int(time.time() * 1000)
for f in range(225):
    tmp = f"{d}/.f{f:04d}.tmp"
    with open(tmp, "w") as out:
        for i in range(n):
            out.write(json.dumps({"id": f * n + i, "ts": now + f * 200 + i}) + "\n")
    os.rename(tmp, f"{d}/f{f:04d}.ndjson")
    time.sleep(0.2)
PY
FEED=$!

# --once: one plain frame after two scrapes
SLUICE_TOKEN=t0ken timeout 20 "$SLUICE" top "$TMP/p.yaml" --url "$URL" --once --interval 1s \
  >"$TMP/once.txt" 2>"$TMP/once.err" || { cat "$TMP/once.err"; fail "top --once"; }
grep -q $'\033' "$TMP/once.txt" && fail "--once printed terminal control"
python3 - "$TMP/once.txt" <<'PY' || { cat "$TMP/once.txt"; fail "--once frame"; }
import re, sys
t = open(sys.argv[1]).read()
assert "sluice top - topview" in t
assert re.search(r"^SOURCE +RECORDS/S .* FILES WAITING", t, re.M) and re.search(r"^TABLE +ROWS IN/S", t, re.M)
for name in ("s", "events", "fast"):
    assert re.search(rf"^{name} +[0-9.]+k?/s", t, re.M), name
# per table: events quarantines a fifth of its rows, fast none
m = re.search(r"^events +\S+ +\S+ +([0-9.]+)(k?)/s +([0-9.]+)k?/s", t, re.M)
assert m and float(m.group(1)) > 0, "events' quarantine rate"
m = re.search(r"^fast +\S+ +\S+ +([0-9.]+)(k?)/s", t, re.M)
assert m and float(m.group(1)) == 0, "fast's quarantine rate"
PY
set +e
timeout 20 "$SLUICE" top "$TMP/p.yaml" --url "$URL" --once --interval 200ms 2>"$TMP/noauth.err" >/dev/null
rc=$?
set -e
[ $rc = 1 ] && grep -q "HTTP 401" "$TMP/noauth.err" || fail "top without the token: rc=$rc $(cat "$TMP/noauth.err")"
ok "top --once; refused without the token"

# live, full screen, in tmux
tmux -L "$SOCK" new-session -d -s top -x 200 -y 50 \
  "echo SHELL-BEFORE-TOP; SLUICE_TOKEN=t0ken '$SLUICE' top '$TMP/p.yaml' --url '$URL' --interval 500ms; echo TOP-EXIT=\$?; sleep 60"
seen=0
for _ in $(seq 150); do
  tmux -L "$SOCK" capture-pane -p -t top >"$TMP/screen.txt" 2>/dev/null || true
  if python3 - "$TMP/screen.txt" <<'PY'; then seen=1; break; fi
import re, sys
t = open(sys.argv[1]).read()
def rate(name):
    m = re.search(rf"^{name} +([0-9.]+)(k|M)?/s", t, re.M)
    return float(m.group(1)) * {None: 1, "k": 1e3, "M": 1e6}[m.group(2)] if m else 0
m = re.search(r"^PIPELINE +in ([0-9.]+)(k|M)?/s", t, re.M)
ok = m and float(m.group(1)) > 0 and rate("s") > 0 and rate("events") > 0 and rate("fast") > 0
ok = ok and re.search(r"^SOURCE ", t, re.M) and re.search(r"^TABLE ", t, re.M)
ok = ok and "memory" in t and "watermark lag" in t
sys.exit(0 if ok else 1)
PY
  sleep 0.2
done
[ $seen = 1 ] || { cat "$TMP/screen.txt"; fail "top did not show non-zero rates for the source and tables"; }
ok "live view: pipeline, source and table rows with rates"
cat "$TMP/screen.txt"

tmux -L "$SOCK" send-keys -t top q
exited=0
for _ in $(seq 50); do
  tmux -L "$SOCK" capture-pane -p -t top >"$TMP/after.txt" 2>/dev/null || true
  grep -q "TOP-EXIT=" "$TMP/after.txt" && { exited=1; break; }
  sleep 0.1
done
[ $exited = 1 ] || { cat "$TMP/after.txt"; fail "q did not end top"; }
grep -q "TOP-EXIT=0" "$TMP/after.txt" || fail "top exit status: $(grep TOP-EXIT "$TMP/after.txt")"
grep -q "SHELL-BEFORE-TOP" "$TMP/after.txt" || fail "the screen before top was not restored"
grep -q "^SOURCE " "$TMP/after.txt" && fail "top's frame stayed on the screen after q"
ok "q quits and restores the screen"
