#!/usr/bin/env bash
# The disk watermark: below `disk: {min_free}` reading pauses (nothing is
# read, /readyz answers 503 with the reason, sluice_input_paused is 1) and
# resumes once there is room again (here: a reload lowers min_free), with
# every record read exactly once.
source "$(dirname "$0")/../lib.sh"
need curl
need python3
need df coreutils

mkdir -p "$TMP/in" "$TMP/d"
free_kb=$(df -Pk "$TMP/d" | awk 'NR == 2 {print $4}')
above=$(( free_kb / 1024 + 10240 )) # MiB: 10 GiB more than there is
write() { # MIN_FREE
  cat >"$TMP/p.yaml.new" <<YAML
pipeline: disk
commit_interval: 100ms
disk: {min_free: $1}
sources:
  s: {type: dir, path: $TMP/in, pattern: "*.ndjson", format: json, schema: {id: int}}
tables:
  t: {from: s}
YAML
  mv "$TMP/p.yaml.new" "$TMP/p.yaml"
}
write "${above}MiB"
SLUICE_LOG=info "$SLUICE" run "$TMP/p.yaml" --data "$TMP/d" --listen 127.0.0.1:0 --status 0 2>"$TMP/err" &
PID=$!
trap 'kill -9 $PID 2>/dev/null || true; cleanup' EXIT
for _ in $(seq 100); do
  PORT=$(sed -n 's/.*"url":"http:\/\/127.0.0.1:\([0-9]*\)\/".*/\1/p' "$TMP/err" | head -1)
  [ -n "$PORT" ] && break; sleep 0.1
done
[ -n "$PORT" ] || { cat "$TMP/err"; fail "no port"; }
python3 -c 'print("\n".join("{\"id\": %d}" % i for i in range(1000)))' >"$TMP/in/a.ndjson"
for _ in $(seq 50); do grep -q "reading paused" "$TMP/err" && break; sleep 0.1; done
has "disk watermark: reading paused" "$TMP/err" || { cat "$TMP/err"; fail "no pause logged"; }
sleep 1.5
q() { curl -sS -G "http://127.0.0.1:$PORT/api/query" --data-urlencode "sql=$1" |
  python3 -c 'import json,sys; d = json.load(sys.stdin); print(d["rows"][0][0] if "rows" in d else d)'; }
got=$(q "SELECT coalesce(sum(position), 0) FROM _sluice_positions"); [ "$got" = 0 ] || fail "rows were read below the disk watermark: $got"
code=$(curl -s -o "$TMP/ready" -w '%{http_code}' "http://127.0.0.1:$PORT/readyz")
[ "$code" = 503 ] || fail "/readyz answered $code while paused"
has "disk: .* MiB free, below min_free" "$TMP/ready" || fail "/readyz reason: $(cat "$TMP/ready")"
for _ in $(seq 50); do
  curl -fsS "http://127.0.0.1:$PORT/metrics" >"$TMP/m"
  has 'sluice_input_paused{pipeline="disk",reason="disk"} 1' "$TMP/m" && break; sleep 0.1
done
has 'sluice_input_paused{pipeline="disk",reason="disk"} 1' "$TMP/m" || fail "metric while paused"
has '^sluice_disk_free_bytes{pipeline="disk"} [1-9]' "$TMP/m" || fail "free bytes metric"
ok "below the disk watermark: nothing read, /readyz 503 with the reason, paused metric 1"

write 1MiB
kill -HUP $PID
for _ in $(seq 100); do grep -q "reading resumed" "$TMP/err" && break; sleep 0.1; done
has "disk watermark: reading resumed" "$TMP/err" || { cat "$TMP/err"; fail "no resume"; }
for _ in $(seq 100); do [ "$(q 'SELECT count(*) FROM t')" = 1000 ] && break; sleep 0.1; done
[ "$(q 'SELECT count(*) FROM t')" = 1000 ] || fail "rows after resuming: $(q 'SELECT count(*) FROM t')"
[ "$(q 'SELECT count(DISTINCT id) FROM t')" = 1000 ] || fail "a record read twice"
code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/readyz")
[ "$code" = 200 ] || fail "/readyz answered $code after resuming"
for _ in $(seq 50); do
  curl -fsS "http://127.0.0.1:$PORT/metrics" >"$TMP/m"
  has 'sluice_input_paused{pipeline="disk",reason="disk"} 0' "$TMP/m" && break; sleep 0.1
done
has 'sluice_input_paused{pipeline="disk",reason="disk"} 0' "$TMP/m" || fail "metric after resuming"
kill -TERM $PID
wait $PID || fail "exit status"
ok "room again: reading resumes, every record once, /readyz 200"
