#!/usr/bin/env bash
# bench/kafka.sh BUILD_DIR [MESSAGES]: Kafka (librdkafka mock cluster) -> umb
# summary -> Parquet lake (umb_summaries) and SQLite store (the 1m window).
# Preloads MESSAGES maas_notification messages with `sluice gen umb
# --brokers` into a 32-partition topic (the mock keeps ~5 MB per partition,
# so the load is spread), then times `sluice run
# pipelines/umb.yaml --once`. Prints one table row: messages/s over the
# consuming time (first partition assigned -> stopped; the mock's group join
# takes ~3 s and is reported apart), CPU seconds and peak RSS.
# BENCH_KAFKA_FLOOR=1: then reads the same messages with build/kafka_floor
# (librdkafka alone, with and without the header lookup of the filter) and
# prints its CPU per message, the floor under sluice's figure.
set -euo pipefail
build=$(cd "${1:-build}" && pwd)
n=${2:-${BENCH_KAFKA_MESSAGES:-400000}}
bin="$build/sluice"
repo=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/sluice-kbench.XXXXXX")
mkfifo "$work/mock.in"
"$build/kafka_mock_main" --topic maas_notifications:32 <"$work/mock.in" >"$work/mock.out" 2>"$work/mock.err" &
mpid=$!
exec 3>"$work/mock.in"
trap 'exec 3>&-; wait $mpid 2>/dev/null; rm -rf "$work"' EXIT
boot=
for _ in $(seq 100); do boot=$(sed -n 's/^bootstrap=//p' "$work/mock.out"); [ -n "$boot" ] && break; sleep 0.1; done
[ -n "$boot" ] || { echo "kafka bench: mock did not start" >&2; exit 1; }
echo "kafka bench: producing $n messages to the mock ..." >&2
"$bin" gen umb --brokers "$boot" --messages "$n" --seed 1 >/dev/null 2>"$work/gen.err"
t0=$(date +%s.%N)
SLUICE_LOG=info /usr/bin/time -f "%U %S %M" -o "$work/time.txt" ${BENCH_WRAP:-} "$bin" run "$repo/pipelines/umb.yaml" --data "$work/out" \
  --set brokers="$boot" --set session_timeout_ms=6000 --set heartbeat_ms=500 --once --status 0 2>"$work/run.err"
t1=$(date +%s.%N)
ms() { date -d "$(sed -n "s/.*\"ts\":\"\([^\"]*\)\".*\"msg\":\"$1\".*/\1/p" "$work/run.err" | head -1)" +%s.%N; }
start=$(ms "kafka partition assigned")
stop=$(ms "pipeline stopped")
read -r user sys rss <"$work/time.txt"
consumed=$(sqlite3 "$work/out/sluice.db" "SELECT sum(position) FROM _sluice_positions")
stored=$("$bin" query "$repo/pipelines/umb.yaml" --data "$work/out" --format csv "SELECT count(*) AS n FROM umb_summaries" | tail -1)
[ "$consumed" -eq "$n" ] || echo "kafka bench: WARNING consumed $consumed of $n" >&2
secs=$(echo "$stop - $start" | bc -l)
printf '| umb (Kafka mock, 32 partitions) | %d | %d | %.2f | %.0f | %.2f | %.2f | %.0f |\n' "$n" "$stored" "$secs" \
  "$(echo "$consumed / $secs" | bc -l)" "$(echo "$t1 - $t0" | bc -l)" "$(echo "$user + $sys" | bc -l)" "$(echo "$rss / 1024" | bc -l)"
if [ "${BENCH_KAFKA_FLOOR:-0}" = 1 ]; then
  "$build/kafka_floor" "$boot" maas_notifications 32 "$n" >&2
  "$build/kafka_floor" "$boot" maas_notifications 32 "$n" tenant >&2
fi
