#!/usr/bin/env bash
# End to end: generate nginx access logs (combined format with a request time,
# four time zones, malformed lines), run pipelines/access-logs.yaml with
# --once, and compare every row of path_latency_1m with the brute force of
# access_ref.py (exact counts and error rates, quantiles within 1 %), and the
# quarantine with the malformed lines. Then again with a SIGKILL while the
# files land: a restart neither loses nor doubles a line or a window row.
source "$(dirname "$0")/../lib.sh"
need sqlite3
need python3
lines=${ACCESS_LINES:-40000}
[ "$SANITIZED" = 1 ] && lines=8000
PIPE=$REPO/pipelines/access-logs.yaml
REF=$REPO/tests/integration/access/access_ref.py
"$SLUICE" gen access --lines "$lines" --file-lines $((lines / 4)) --malformed 0.01 --seed 11 \
  --out "$TMP/in" 2>"$TMP/gen.txt"
timeout 120 "$SLUICE" run "$PIPE" --data "$TMP/out" --set input="$TMP/in" --once --status 0
python3 "$REF" "$TMP/in" "$TMP/out/sluice.db" >"$TMP/ref.txt" ||
  fail "path_latency_1m differs from the brute-force answer"
ok "access logs: $(cat "$TMP/ref.txt")"

# a live run killed (SIGKILL) while the files land, then one --once run: a
# restart neither loses nor doubles a line or a window row
mkdir -p "$TMP/live"
mapfile -t files < <(cd "$TMP/in" && ls)
half=$((${#files[@]} / 2))
SLUICE_LOG=error "$SLUICE" run "$PIPE" --data "$TMP/live-out" --set input="$TMP/live" \
  --set commit_interval=50ms --status 0 &
pid=$!
trap 'kill -9 $pid 2>/dev/null || true; cleanup' EXIT
for f in "${files[@]:0:$half}"; do
  cp "$TMP/in/$f" "$TMP/live/.$f.tmp" && mv "$TMP/live/.$f.tmp" "$TMP/live/$f"
  sleep 0.3
done
kill -9 "$pid" 2>/dev/null || true
wait "$pid" 2>/dev/null || true
for f in "${files[@]:$half}"; do cp "$TMP/in/$f" "$TMP/live/"; done
timeout 120 "$SLUICE" run "$PIPE" --data "$TMP/live-out" --set input="$TMP/live" --once --status 0
python3 "$REF" "$TMP/in" "$TMP/live-out/sluice.db" >/dev/null ||
  fail "after a SIGKILL path_latency_1m differs from the brute-force answer"
ok "access logs with a SIGKILL while the files land: same rows"
