# lib.sh - helpers for integration tests. Source it; $1 of the test is the build dir.
set -euo pipefail
BUILD=$(cd "${1:-build}" && pwd)
SLUICE="$BUILD/sluice"
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
TMP=$(mktemp -d "${TMPDIR:-/tmp}/sluice-test.XXXXXX")
cleanup() { [ -n "${KEEP_TMP:-}" ] || rm -rf "$TMP"; }
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
ok() { echo "ok: $*"; }
# Under ASan/UBSan everything is slower: tests scale their sizes down.
if nm "$SLUICE" 2>/dev/null | grep -q __asan_init; then SANITIZED=1; else SANITIZED=0; fi
export SLUICE_LOG=${SLUICE_LOG:-warn}
