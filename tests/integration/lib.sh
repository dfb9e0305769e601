# lib.sh - helpers for integration tests. Source it; $1 of the test is the build dir.
set -euo pipefail
BUILD=$(cd "${1:-build}" && pwd)
SLUICE="$BUILD/sluice"
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
TMP=$(mktemp -d "${TMPDIR:-/tmp}/sluice-test.XXXXXX")
cleanup() { [ -n "${KEEP_TMP:-}" ] || rm -rf "$TMP"; }
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
# A test that cannot run here (a tool it needs is missing) says why and exits 77,
# which CTest reports as "Not Run ... Skipped" (SKIP_RETURN_CODE), never as passed.
skip() { echo "SKIP: $*"; exit 77; }
# need TOOL [PACKAGE]: skip unless TOOL is on PATH (PACKAGE: the Debian package to install)
need() { command -v "$1" >/dev/null 2>&1 || skip "$1 is not installed (apt-get install ${2:-$1})"; }
ok() { echo "ok: $*"; }
# Under ASan/UBSan everything is slower: tests scale their sizes down.
# (no grep -q: it closes the pipe early and pipefail turns nm's SIGPIPE into "not sanitized")
if nm "$SLUICE" 2>/dev/null | grep __asan_init >/dev/null; then SANITIZED=1; else SANITIZED=0; fi
export SLUICE_LOG=${SLUICE_LOG:-warn}

# Kafka mock cluster (kafka_mock_main, what `sluice kafka-mock` runs), with
# stdin on a fifo held open as fd 3: `exec 3>&-` is its EOF and stops it.
# start_mock NAME --topic T:P...  sets MPID and BOOT (bootstrap servers).
# The mock keeps about 5 MB per partition (older messages are deleted), so
# tests keep each partition below that.
start_mock() {
  local name=$1; shift
  mkfifo "$TMP/$name.in"
  "$BUILD/kafka_mock_main" "$@" <"$TMP/$name.in" >"$TMP/$name.out" 2>"$TMP/$name.err" &
  MPID=$!
  exec 3>"$TMP/$name.in"
  BOOT=
  for _ in $(seq 100); do
    BOOT=$(sed -n 's/^bootstrap=//p' "$TMP/$name.out")
    [ -n "$BOOT" ] && break
    sleep 0.1
  done
  [ -n "$BOOT" ] || { cat "$TMP/$name.err" >&2; fail "mock printed no bootstrap line"; }
}
# covered_positions DATA_DIR: for scale-out tests, the sum over partitions of
# the furthest position any instance's checkpoint (DATA_DIR/instance-*) holds;
# equal to the messages produced once every one is stored. 0 before any commit.
covered_positions() {
  local f k=0 att="" sel=""
  for f in "$1"/instance-*/sluice.db; do
    [ -f "$f" ] || continue
    att+="ATTACH '$f' AS i$k; "
    sel+="${sel:+ UNION ALL }SELECT partition, position FROM i$k._sluice_positions"
    k=$((k + 1))
  done
  [ -n "$sel" ] || { echo 0; return; }
  sqlite3 ":memory:" "$att SELECT coalesce(sum(m), 0) FROM (SELECT partition, max(position) AS m FROM ($sel) GROUP BY partition)" 2>/dev/null || echo 0
}
