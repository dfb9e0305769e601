#!/usr/bin/env bash
# Runs every CTest test in BUILD (further arguments go to ctest, e.g.
# -R 'unit/'), then (when FUZZ_BUILD names a libFuzzer build) each fuzz target
# for FUZZ_SECONDS; prints "N passed, N failed, N skipped" last.
#
# A test that cannot run here (a tool it needs is missing) exits 77, which
# CMakeLists.txt declares as every test's SKIP_RETURN_CODE: ctest then prints
#   12/62 Test #40: integration/kafka/test_kcat ....***Skipped   0.05 sec
# (and a DISABLED test "***Not Run (Disabled)"). Those are counted as skipped,
# never as passed (ctest's own "N% tests passed" counts them as passed) nor
# failed; every other result but "Passed" ("***Failed", "***Not Run" for a
# missing executable, "***Timeout", "***Exception: ...") is a failure.
# The skipped tests are listed with the SKIP: line each printed. With CI=true
# a skipped test fails the run: CI installs every tool (scripts/deps.sh).
# A failed test is run once more, alone; passing then, it counts as passed and
# is listed as flaky (see below).
#
# Tests run two at a time (TEST_JOBS): most of the Kafka tests wait on the
# mock's group protocol, and every test uses its own ports and folders.
set -u
build=${1:-build}
out=$(mktemp)
trap 'rm -f "$out"' EXIT
(cd "$build" && ctest --output-on-failure -j"${TEST_JOBS:-2}" "${@:2}") 2>&1 | tee "$out"
ctest_rc=${PIPESTATUS[0]}

# One line per finished test: "STATUS<TAB>NAME", from
#   "  3/62 Test  #3: NAME ......   Passed    0.01 sec"
#   "  4/62 Test  #4: NAME ......***Skipped   0.01 sec"
results=$(sed -nE 's/^ *[0-9]+\/[0-9]+ +Test +#[0-9]+: (.+) \.+(\*\*\*| +)(.*[^ ]) +[0-9.]+ sec$/\3\t\1/p' "$out")
count() { grep -cE "$1" <<<"$results" || true; }
total=$(count '.')
passed=$(count $'^Passed\t')
skipped=$(count $'^(Skipped|Not Run \\(Disabled\\))\t')
failed=$((total - passed - skipped))
# a crash that prints no line still fails the run
[ "$ctest_rc" -ne 0 ] && [ "$failed" -eq 0 ] && failed=1

# Why each one skipped: its first "SKIP:" line in ctest's log of the run.
skip_reason() {
  awk -v start="\"$1\" start time:" -v end="\"$1\" end time:" '
    index($0, start) == 1 { on = 1; next }
    index($0, end) == 1 { on = 0 }
    on && /SKIP:/ { sub(/^.*SKIP:[ \t]*/, ""); print; exit }' "$build/Testing/Temporary/LastTest.log" 2>/dev/null
}
skipped_names=() skipped_lines=()
while IFS=$'\t' read -r _ name; do
  [ -n "$name" ] || continue
  r=$(skip_reason "$name")
  skipped_names+=("$name"); skipped_lines+=("$name${r:+: $r}")
done < <(grep -E $'^(Skipped|Not Run \\(Disabled\\))\t' <<<"$results")

# A test that failed is run once more, alone (-j1): one that passes then is
# counted as passed and listed as flaky at the end, so a timing-dependent test
# on a loaded 2-core machine cannot fail the run silently nor hide. A test that
# fails again is a failure. Not when more than 5 failed (that is no flake).
# (After the skip reasons above: the rerun writes its own LastTest.log.)
flaky=()
failed_names=$(grep -vE $'^(Passed|Skipped|Not Run \\(Disabled\\))\t' <<<"$results" | cut -f2)
if [ "$failed" -gt 0 ] && [ "$failed" -le 5 ] && [ -n "$failed_names" ]; then
  rx="^($(paste -sd'|' <<<"$failed_names"))\$"
  echo "== running the $failed failed test(s) once more, alone: $(paste -sd' ' <<<"$failed_names")"
  retry=$(mktemp)
  (cd "$build" && ctest --output-on-failure -j1 -R "$rx") 2>&1 | tee "$retry"
  again=$(sed -nE 's/^ *[0-9]+\/[0-9]+ +Test +#[0-9]+: (.+) \.+(\*\*\*| +)(.*[^ ]) +[0-9.]+ sec$/\3\t\1/p' "$retry")
  rm -f "$retry"
  while IFS=$'\t' read -r st name; do
    [ "$st" = Passed ] || continue
    flaky+=("$name")
    passed=$((passed + 1))
    failed=$((failed - 1))
  done <<<"$again"
fi

if [ -n "${FUZZ_BUILD:-}" ]; then
  if compgen -G "$FUZZ_BUILD/fuzz_*" >/dev/null; then
    echo "== fuzzing each target for ${FUZZ_SECONDS:-5}s (make fuzz runs 1,000,000 executions each)"
    FUZZ_SECONDS=${FUZZ_SECONDS:-5} "$(dirname "$0")/fuzz.sh" "$FUZZ_BUILD" | tee "$out"
    # its last line: "N passed, N failed"
    fp=$(sed -nE '$s/^([0-9]+) passed, ([0-9]+) failed.*/\1/p' "$out")
    ff=$(sed -nE '$s/^([0-9]+) passed, ([0-9]+) failed.*/\2/p' "$out")
    [ -n "$fp" ] || { echo "fuzz.sh printed no counts"; fp=0; ff=1; }
    passed=$((passed + fp)); failed=$((failed + ff))
  else
    why="no fuzz_* targets in FUZZ_BUILD=$FUZZ_BUILD (make fuzz-build)"
    echo "SKIP: fuzzing: $why"
    skipped=$((skipped + 1)); skipped_names+=("fuzz"); skipped_lines+=("fuzz: $why")
  fi
fi

if [ "$skipped" -gt 0 ]; then
  echo "Skipped (not run here):"
  printf '  %s\n' "${skipped_lines[@]}"
fi
ci_forbids=0
if [ "${CI:-}" = true ] && [ "$skipped" -gt 0 ]; then
  echo "CI=true forbids skipped tests; skipped: ${skipped_names[*]}"
  ci_forbids=1
fi
if [ "${#flaky[@]}" -gt 0 ]; then
  echo "Flaky (failed, then passed when run again alone): ${flaky[*]}"
fi
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ] && [ "$ci_forbids" -eq 0 ]
