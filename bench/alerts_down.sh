#!/usr/bin/env bash
# bench/alerts_down.sh BUILD_DIR [EVENTS]: ingestion with an alert channel that
# is down. The cameras flavor (`sluice run --once`, 30% duplicates so its
# duplicate_rate and processing_lag rules fire) three ways, alternating, RUNS
# times each:
#   none   no channel enabled (alerts still recorded in alert_history)
#   down   ALERT_WEBHOOK_URL at a loopback port that refuses connections
#   up     ALERT_WEBHOOK_URL at a receiver that answers 200
# and prints records/s for each (lines / wall time of the run). SLUICE_DRAIN_S=0:
# the end-of-run wait for pending notifications is not ingestion (so an up run
# may end with its last results not yet recorded). Checks that every run
# fired alerts and that the down run sent nothing (its notifications wait in
# the outbox). No timed assertion: the numbers are for bench/RESULTS.md.
set -euo pipefail
build=$(cd "${1:-build}" && pwd)
bin="$build/sluice"
repo=$(cd "$(dirname "$0")/.." && pwd)
n=${2:-600000}
runs=${RUNS:-3}
work=$(mktemp -d "${TMPDIR:-/tmp}/sluice-abench.XXXXXX")
rpid=
trap '[ -n "$rpid" ] && kill $rpid 2>/dev/null; rm -rf "$work"' EXIT
"$bin" gen cameras --events "$n" --dup 0.3 --seed 5 --out "$work/in" 2>/dev/null
lines=$(find "$work/in" -type f -name '*.ndjson' -exec cat {} + | wc -l)
# a port nobody listens on: bound, then closed (connect gets ECONNREFUSED)
down=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
python3 "$repo/tests/integration/alerts/receiver.py" "$work/port" "$work/got.jsonl" & rpid=$!
for _ in $(seq 50); do [ -f "$work/port" ] && break; sleep 0.1; done
up=$(cat "$work/port")
declare -A best sum
one() { # MODE RUN
  local url=""
  case $1 in down) url="http://127.0.0.1:$down/hook" ;; up) url="http://127.0.0.1:$up/hook" ;; esac
  rm -rf "$work/out"
  local t0 t1
  t0=$(date +%s.%N)
  ALERT_WEBHOOK_URL=$url SLACK_WEBHOOK_URL= TEAMS_WEBHOOK_URL= SMTP_SERVER= SLUICE_DRAIN_S=0 \
    "$bin" run "$repo/pipelines/cameras.yaml" --data "$work/out" --set input="$work/in" \
    --set locations="$work/in/locations.csv" --once --status 0 2>/dev/null
  t1=$(date +%s.%N)
  local rate
  rate=$(echo "$lines / ($t1 - $t0)" | bc -l)
  local alerts pending sent
  alerts=$(sqlite3 "$work/out/sluice.db" "SELECT count(*) FROM alert_history")
  pending=$(sqlite3 "$work/out/sluice.db" "SELECT count(*) FROM _sluice_outbox WHERE state = 'pending'")
  sent=$(sqlite3 "$work/out/sluice.db" "SELECT count(*) FROM _sluice_outbox WHERE state = 'sent'")
  [ "$alerts" -gt 0 ] || { echo "no alert fired in mode $1" >&2; exit 1; }
  if [ "$1" = down ] && [ "$sent" != 0 ]; then echo "down channel: $sent sent?" >&2; exit 1; fi
  printf '  %-4s run %d: %8.0f records/s  (alerts %s, outbox pending %s, sent %s)\n' "$1" "$2" "$rate" \
    "$alerts" "$pending" "$sent" >&2
  sum[$1]=$(echo "${sum[$1]:-0} + $rate" | bc -l)
  if [ -z "${best[$1]:-}" ] || [ "$(echo "$rate > ${best[$1]}" | bc -l)" = 1 ]; then best[$1]=$rate; fi
}
echo "cameras, $lines lines, 30% duplicates, $runs runs per mode:" >&2
for r in $(seq "$runs"); do
  for m in none down up; do one "$m" "$r"; done
done
printf '| channel | records/s (best of %d) | records/s (mean) |\n|---|---|---|\n' "$runs"
for m in none down up; do
  printf '| %s | %.0f | %.0f |\n' "$m" "${best[$m]}" "$(echo "${sum[$m]} / $runs" | bc -l)"
done
