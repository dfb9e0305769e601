#!/usr/bin/env bash
# format-check.sh - are the C/C++ sources formatted as .clang-format says?
# Runs `clang-format --dry-run --Werror` over every tracked .c/.h/.cc/.cpp/.hh/.hpp
# file under src/ tests/ fuzz/ bench/ (or the files given), lists the files that
# are not, and exits 1 if there is any. Nothing is rewritten.
#
#   scripts/format-check.sh [FILE...]     (make format-check)
#   CLANG_FORMAT=clang-format-14          the binary (default: clang-format)
#   FORMAT_VERBOSE=1                      also print clang-format's diagnostics
#
# Left out: generated code (build*/, e.g. web_assets.c) and vendored code
# (node_modules/, third_party/, vendor/) - none of it is tracked in src/ today.
# To fix a file: clang-format -i FILE.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
cf=${CLANG_FORMAT:-clang-format}
command -v "$cf" >/dev/null || { echo "format-check: $cf is not installed (scripts/deps.sh test)" >&2; exit 2; }
exclude='(^|/)(build[^/]*|node_modules|third_party|vendor)/'

files=()
if [ $# -gt 0 ]; then
  files=("$@")
elif git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  while IFS= read -r f; do files+=("$f"); done < <(
    git ls-files -- 'src/*' 'tests/*' 'fuzz/*' 'bench/*' | grep -E '\.(c|h|cc|cpp|hh|hpp)$' | grep -vE "$exclude")
else
  while IFS= read -r f; do files+=("$f"); done < <(
    find src tests fuzz bench -type f \( -name '*.c' -o -name '*.h' -o -name '*.cc' -o -name '*.cpp' \
      -o -name '*.hh' -o -name '*.hpp' \) | sed 's|^\./||' | grep -vE "$exclude" | sort)
fi
[ ${#files[@]} -gt 0 ] || { echo "format-check: no C/C++ files found" >&2; exit 2; }

log=$(mktemp)
trap 'rm -f "$log"' EXIT
bad=0
for f in "${files[@]}"; do
  [ -f "$f" ] || continue # deleted but not yet committed
  if ! "$cf" --dry-run --Werror "$f" >"$log" 2>&1; then
    bad=$((bad + 1))
    n=$(grep -c 'error: code should be clang-formatted' "$log" || true)
    if [ "$n" -gt 0 ]; then
      echo "needs formatting: $f ($n places)"
    else
      echo "clang-format failed on $f:"
      sed 's/^/  /' "$log"
    fi
    [ -z "${FORMAT_VERBOSE:-}" ] || cat "$log"
  fi
done
if [ "$bad" -gt 0 ]; then
  echo "format-check: $bad of ${#files[@]} files are not formatted as .clang-format says ($("$cf" --version | head -1)); fix with clang-format -i FILE"
  exit 1
fi
echo "format-check: ${#files[@]} files formatted"
