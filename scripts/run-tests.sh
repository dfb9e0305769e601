#!/usr/bin/env bash
# Runs every CTest test in BUILD, then (when FUZZ_BUILD names a libFuzzer
# build) each fuzz target for FUZZ_SECONDS; prints "N passed, N failed" last.
# Tests run two at a time (TEST_JOBS): most of the Kafka tests wait on the
# mock's group protocol, and every test uses its own ports and folders.
set -u
build=${1:-build}
out=$(mktemp)
(cd "$build" && ctest --output-on-failure -j"${TEST_JOBS:-2}" "${@:2}") 2>&1 | tee "$out"
ctest_rc=${PIPESTATUS[0]}
passed=$(grep -cE 'Test +#[0-9]+: .*Passed' "$out")
failed=$(grep -cE 'Test +#[0-9]+: .*(\*\*\*Failed|Failed|\*\*\*Exception|Exception|\*\*\*Timeout|Timeout|Not Run)' "$out")
# a crash that prints no line still fails the run
[ "$ctest_rc" -ne 0 ] && [ "$failed" -eq 0 ] && failed=1
if [ -n "${FUZZ_BUILD:-}" ] && [ -d "$FUZZ_BUILD" ]; then
  echo "== fuzzing each target for ${FUZZ_SECONDS:-5}s (make fuzz runs 1,000,000 executions each)"
  FUZZ_SECONDS=${FUZZ_SECONDS:-5} "$(dirname "$0")/fuzz.sh" "$FUZZ_BUILD" | tee "$out"
  read -r fp _ ff _ <<<"$(tail -1 "$out")"
  passed=$((passed + fp)); failed=$((failed + ff))
fi
rm -f "$out"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
