#!/usr/bin/env bash
# bench/cameras.sh BUILD_DIR [EVENTS]: the cameras figure of issue 20, Sluice side by side with
# DuckDB (bench/cameras_duckdb.mjs) on the same generated input, from one run:
#   sluice durable          `sluice run pipelines/cameras.yaml --once`, best of 3
#   duckdb durable          the same job as one SQL batch into a database file + CHECKPOINT, best of 3
#   duckdb in-memory partial  parse + dedupe + the 1-minute rollup only, best of 3
# Prints one markdown table (wall, events/s, CPU, peak RSS, bytes on disk, bytes/event, Sluice's
# ratios over both DuckDB jobs, the targets met/missed), the bytes on disk per part, instructions per
# record (callgrind, 50k events) and whether both engines produced the same counts; appends all of it
# to bench/RESULTS.md with the machine and the commit (heading suffix: $BENCH_LABEL).
set -euo pipefail
build=$(cd "${1:-build}" && pwd)
events=${2:-${BENCH_EVENTS:-1000000}}
bin="$build/sluice"
repo=$(cd "$(dirname "$0")/.." && pwd)
work=${BENCH_DIR:-/tmp/sluice-bench}
mkdir -p "$work"
load_start=$(cut -d' ' -f1 /proc/loadavg)

if [ ! -d "$repo/bench/node_modules/@duckdb/node-api" ]; then
  echo "installing @duckdb/node-api (npm ci --prefix bench) ..." >&2
  npm ci --prefix "$repo/bench" --no-audit --no-fund >&2
fi

# the input: generated once per N (the generator's defaults: 5% duplicates, 1% late, no malformed
# lines, which DuckDB's typed read would reject rather than quarantine)
in="$work/cameras-duck-$events"
if [ ! -f "$in/.complete" ]; then
  echo "generating $events camera events into $in ..." >&2
  rm -rf "$in"
  "$bin" gen cameras --events "$events" --seed 1 --out "$in" 2>/dev/null
  touch "$in/.complete"
fi
input_bytes=$(cat "$in"/*.ndjson | wc -c)

better() { [ -z "$2" ] || [ "$(echo "$1 < $2" | bc -l)" = 1 ]; }

# ---- Sluice: best of 3, the data dir of the best run kept --------------------------------------
s_best=""
for i in 1 2 3; do
  rm -rf "$work/cam-run"
  echo "sluice run $i/3 ..." >&2
  /usr/bin/time -f "%e %U %S %M" -o "$work/time.txt" "$bin" run "$repo/pipelines/cameras.yaml" \
    --set input="$in" --set locations="$in/locations.csv" --data "$work/cam-run" --once --status 0 \
    >/dev/null 2>"$work/cam-run.log"
  read -r w u s m <"$work/time.txt"
  if better "$w" "${s_best%% *}"; then
    s_best="$w $u $s $m"
    rm -rf "$work/cam-out" && mv "$work/cam-run" "$work/cam-out"
  fi
done
read -r s_wall s_user s_sys s_rss <<<"$s_best"
out="$work/cam-out"
s_bytes=$(du -sb "$out" | cut -f1)
# bytes on disk by part: bronze = the lake segments of raw_detection_events; silver = the
# detection_events table wherever it lives (its SQLite pages, or its own segment folder);
# store = the rest (gold, quarantine, positions, state, the event log, the WAL)
dir_bytes() { # NAME: bytes of every folder of that name under the data dir
  local b=0 d
  while IFS= read -r d; do b=$((b + $(du -sb "$d" | cut -f1))); done < <(find "$out" -type d -name "$1" -prune)
  echo $b
}
bronze=$(dir_bytes raw_detection_events)
silver_seg=$(dir_bytes detection_events)
silver_pages=0
if [ -f "$out/sluice.db" ]; then
  silver_pages=$(sqlite3 "$out/sluice.db" \
    "SELECT coalesce(sum(pgsize), 0) FROM dbstat WHERE name IN (SELECT name FROM sqlite_schema WHERE tbl_name = 'detection_events')" \
    2>/dev/null || echo 0)
fi
silver=$((silver_seg + silver_pages))
store=$((s_bytes - bronze - silver))

# ---- DuckDB: best of 3 of each job --------------------------------------------------------------
duck() { # MODE ARGS... -> the script's key=value lines plus rss_kb, the node process' peak RSS
  /usr/bin/time -f "%M" -o "$work/dtime.txt" node "$repo/bench/cameras_duckdb.mjs" "$@" >"$work/duck.out"
  cat "$work/duck.out"
  echo "rss_kb=$(cat "$work/dtime.txt")"
}
kv() { sed -n "s/^$1=//p" <<<"$2" | head -1; }
d_best="" m_best=""
for i in 1 2 3; do
  echo "duckdb durable $i/3 ..." >&2
  r=$(duck durable "$in" "$work/cameras.duckdb")
  if better "$(kv wall_s "$r")" "$(kv wall_s "$d_best")"; then d_best=$r; fi
  echo "duckdb in memory $i/3 ..." >&2
  r=$(duck memory "$in")
  if better "$(kv wall_s "$r")" "$(kv wall_s "$m_best")"; then m_best=$r; fi
done

# ---- the same work? counts from both ----------------------------------------------------------
sq() { "$bin" query "$repo/pipelines/cameras.yaml" --data "$out" --format csv "$1" 2>/dev/null | tail -1; }
s_silver=$(sq "SELECT count(*) FROM detection_events")
s_quar=$(sq "SELECT count(*) FROM quarantine")
s_1h=$(sq "SELECT sum(detections) FROM detections_by_location_1h")
s_1hrows=$(sq "SELECT count(*) FROM detections_by_location_1h")
s_1mrows=$(sq "SELECT count(*) FROM detections_by_location_1m")
s_dups=$(sq "SELECT sum(duplicates) FROM duplicates_1m")
agree="results agree"
diffs=""
cmp() { [ "$2" = "$3" ] || diffs+="$1: sluice $2, duckdb $3; "; }
cmp "silver rows" "$s_silver" "$(kv silver_rows "$d_best")"
cmp "quarantine rows" "$s_quar" "$(kv quarantine_rows "$d_best")"
cmp "1h rollup total" "$s_1h" "$(kv rollup_1h_total "$d_best")"
cmp "1h rollup rows" "$s_1hrows" "$(kv rollup_1h_rows "$d_best")"
cmp "1m rollup rows" "$s_1mrows" "$(kv rollup_1m_rows "$d_best")"
cmp "duplicates" "$s_dups" "$(kv dup_duplicates "$d_best")"
[ -n "$diffs" ] && agree="results differ: ${diffs%; }"
echo "$agree" >&2

# ---- instructions per record (callgrind, 50k events: repeatable on a shared machine) -----------
ir="n/a"
if command -v valgrind >/dev/null; then
  echo "callgrind over 50,000 events ..." >&2
  cg="$work/cameras-cg"
  if [ ! -f "$cg/.complete" ]; then
    rm -rf "$cg"; "$bin" gen cameras --events 50000 --seed 3 --out "$cg" 2>/dev/null; touch "$cg/.complete"
  fi
  rm -rf "$work/out-cg"
  valgrind --tool=callgrind --callgrind-out-file="$work/callgrind.out" "$bin" run "$repo/pipelines/cameras.yaml" \
    --data "$work/out-cg" --set input="$cg" --set locations="$cg/locations.csv" --once --status 0 \
    >/dev/null 2>"$work/cg.log" || true
  total=$(grep -E '^summary:|^totals:' "$work/callgrind.out" 2>/dev/null | head -1 | awk '{print $2}')
  [ -n "$total" ] && ir=$(echo "$total / 50000" | bc)
fi

# ---- the table ----------------------------------------------------------------------------------
d_wall=$(kv wall_s "$d_best") m_wall=$(kv wall_s "$m_best")
s_eps=$(echo "$events / $s_wall" | bc -l)
d_eps=$(echo "$events / $d_wall" | bc -l)
m_eps=$(echo "$events / $m_wall" | bc -l)
d_bytes=$(kv db_bytes "$d_best")
r_d=$(echo "$s_eps / $d_eps" | bc -l)
r_m=$(echo "$s_eps / $m_eps" | bc -l)
s_bpe=$(echo "$s_bytes / $events" | bc -l)
met() { [ "$(echo "$1" | bc -l)" = 1 ] && echo met || echo missed; }
mb() { echo "$1 / 1024" | bc -l; }
table=$(
  echo "| run | wall s | events/s | CPU s | peak RSS MB | bytes on disk | bytes/event | sluice events/s over duckdb durable | over duckdb in-memory |"
  echo "|---|---|---|---|---|---|---|---|---|"
  printf '| sluice durable | %.2f | %.0f | %.2f | %.0f | %d | %.1f | %.2f | %.2f |\n' "$s_wall" "$s_eps" \
    "$(echo "$s_user + $s_sys" | bc -l)" "$(mb "$s_rss")" "$s_bytes" "$s_bpe" "$r_d" "$r_m"
  printf '| duckdb durable | %.2f | %.0f | %.2f | %.0f | %d | %.1f | - | - |\n' "$d_wall" "$d_eps" \
    "$(kv cpu_s "$d_best")" "$(mb "$(kv rss_kb "$d_best")")" "$d_bytes" "$(echo "$d_bytes / $events" | bc -l)"
  printf '| duckdb in-memory partial | %.2f | %.0f | %.2f | %.0f | - | - | - | - |\n' "$m_wall" "$m_eps" \
    "$(kv cpu_s "$m_best")" "$(mb "$(kv rss_kb "$m_best")")"
  printf '| target (sluice) | | >= 1000000: %s | | | | <= 16: %s | >= 2: %s | >= 1: %s |\n' \
    "$(met "$s_eps >= 1000000")" "$(met "$s_bpe <= 16")" "$(met "$r_d >= 2")" "$(met "$r_m >= 1")"
)
notes=$(
  printf 'Sluice bytes on disk: bronze %d, silver %d, store (gold, quarantine, state, event log) %d.\n' \
    "$bronze" "$silver" "$store"
  printf 'Sluice instr/record (callgrind, 50,000 events): %s.\n' "$ir"
  printf 'Counts (silver %s, quarantine %s, 1h rollup total %s, 1h/1m rollup rows %s/%s, duplicates %s): %s.\n' \
    "$s_silver" "$s_quar" "$s_1h" "$s_1hrows" "$s_1mrows" "$s_dups" "$agree"
)
echo "$table"
echo
echo "$notes"

cpu_model=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')
machine="$cpu_model, $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB, $(uname -sr)"
commit=$(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo unknown)
duck_version=$(node -p "require('$repo/bench/node_modules/@duckdb/node-api/package.json').version" 2>/dev/null || echo "?")
{
  echo
  echo "## $(date -u +%Y-%m-%dT%H:%M:%SZ) cameras side by side with DuckDB, commit $commit${BENCH_LABEL:+ ($BENCH_LABEL)}"
  echo
  echo "Machine: $machine, load average $load_start at the start, $(cut -d' ' -f1 /proc/loadavg) at the end. Command: \`make bench\`"
  echo "(\`bash bench/cameras.sh build $events\`): $events generated events ($input_bytes bytes of NDJSON,"
  echo "\`sluice gen cameras --seed 1\`), best of 3 of each row. DuckDB $duck_version (@duckdb/node-api), one"
  echo "thread, SQL in bench/cameras_duckdb.mjs; its wall and CPU are measured inside node (database open"
  echo "to the end of CHECKPOINT: node's start-up and the loading of DuckDB's library are not counted, while"
  echo "Sluice's figures are its whole process'), its peak RSS is the whole node process' (node alone ~40 MB)."
  echo
  echo "$table"
  echo
  echo "$notes"
} >>"$repo/bench/RESULTS.md"
echo "appended the cameras table to bench/RESULTS.md" >&2
