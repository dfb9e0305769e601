#!/usr/bin/env bash
# Runs every CTest test in BUILD and prints "N passed, N failed" last.
set -u
build=${1:-build}
cd "$build" || exit 2
out=$(mktemp)
ctest --output-on-failure -j1 "${@:2}" 2>&1 | tee "$out"
passed=$(grep -cE 'Test +#[0-9]+: .* Passed' "$out")
failed=$(grep -cE 'Test +#[0-9]+: .* (\*\*\*Failed|Failed|\*\*\*Exception|\*\*\*Timeout|Not Run)' "$out")
rm -f "$out"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
