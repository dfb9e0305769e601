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
# has [GREP OPTIONS] PATTERN: grep that reads all its input, for the end of a
# pipeline (grep -q exits at the first match, the writer gets SIGPIPE and
# pipefail turns the match into a failure)
has() { grep "$@" >/dev/null; }
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

# reconcile PIPELINE DATA "FIRST_TABLES" [REMOVED_SQL] [--set K=V ...]: the event
# log's count reconciliation (docs/operations.md, "Counts reconcile"):
#   sum(records_in) = rows stored in the first tables of the sources
#                     + quarantine rows of those tables (parse errors and their steps)
#                     + rows their steps removed (filter, lookup miss, drop actions)
# FIRST_TABLES: the tables fed by a source directly (`from: SOURCE`), space-separated.
# REMOVED_SQL: an aggregate over _sluice_events giving the rows those tables' steps
# removed without quarantining them (e.g. "sum(filtered)"; default 0): the event
# log's counters are pipeline-wide, so only the test knows which apply to them.
# Flagged duplicates stay in their table and `late` records are also counted as
# quarantined or dropped, so neither is added. Also checks that each first table
# stores what the event log says it wrote (details.tables.T.out), except for a
# table given as NAME~: an scd2 table, whose writes also close versions in place;
# its stored rows are the versions opened, and the records that changed nothing
# (its scd2 step's `unchanged`, cumulative in the last commit's details) are added
# as removed. Fails with the numbers when a side differs.
reconcile() {
  local pipe=$1 data=$2 tables=$3 removed=${4:-0}; shift 3; [ $# -gt 0 ] && shift
  local db=$data/sluice.db in parse removed_n t scd stored quar out unch sum=0 qsum=0 detail=""
  read -r in parse removed_n <<<"$(sqlite3 -separator ' ' "$db" \
    "SELECT coalesce(sum(records_in), 0), coalesce(sum(parse_errors), 0), coalesce($removed, 0) FROM _sluice_events")"
  for t in $tables; do
    scd=0; [ "${t%\~}" != "$t" ] && { scd=1; t=${t%\~}; }
    stored=$("$SLUICE" query "$pipe" --data "$data" "$@" --format csv "SELECT count(*) AS n FROM $t" | tail -1)
    read -r quar out <<<"$(sqlite3 -separator ' ' "$db" \
      "SELECT (SELECT count(*) FROM quarantine WHERE table_name = '$t'),
              (SELECT coalesce(sum(json_extract(details, '\$.tables.$t.out')), 0) FROM _sluice_events)")"
    if [ "$scd" = 1 ]; then
      unch=$(sqlite3 "$db" "SELECT coalesce(sum(json_extract(o.value, '\$.stats.unchanged')), 0)
        FROM (SELECT details FROM _sluice_events WHERE kind IN ('commit', 'final') ORDER BY commit_id DESC LIMIT 1),
             json_each(details, '\$.ops') AS o WHERE json_extract(o.value, '\$.op') LIKE '$t/%/scd2'")
      sum=$((sum + unch)); detail+="${detail:+ + }$t unchanged $unch"
    else
      [ "$stored" -eq "$out" ] || fail "reconcile: table $t stores $stored rows, the event log says it wrote $out"
    fi
    sum=$((sum + stored + quar)); qsum=$((qsum + quar))
    detail+="${detail:+ + }$t $stored + quarantined $quar"
  done
  sum=$((sum + removed_n))
  [ "$in" -eq "$sum" ] ||
    fail "reconcile: records_in $in != $detail + removed $removed_n ($removed) = $sum (parse errors $parse)"
  [ "$qsum" -ge "$parse" ] || fail "reconcile: $parse parse errors but only $qsum quarantine rows in the first tables"
  ok "reconcile: records_in $in = $detail + removed $removed_n"
}

# lake_db PIPELINE DATA OUT_DB [--set K=V ...]: OUT_DB becomes a copy of
# DATA/sluice.db (the WAL included) holding, as plain tables, every lake table of
# the pipeline (Parquet segments are not in sluice.db), so that a test keeps
# reading them with sqlite3 (views over them work again too). The rows come
# through `sluice query` as JSON and keep their types: integers (and booleans)
# INTEGER, doubles REAL, strings and timestamps TEXT (ISO 8601, as the store
# writes them), null NULL; the columns and their types come from the virtual
# table's declaration, so an empty table is created too.
lake_db() {
  local pipe=$1 data=$2 out=$3 t; shift 3
  rm -f "$out" "$out-wal" "$out-shm"
  sqlite3 "$data/sluice.db" ".backup '$out'" || fail "lake_db: cannot copy $data/sluice.db"
  for t in $("$SLUICE" query "$pipe" --data "$data" "$@" --format csv \
    "SELECT name FROM sqlite_temp_master WHERE type = 'table' AND sql LIKE '%sluice_parquet%' ORDER BY name" | tail -n +2); do
    {
      "$SLUICE" query "$pipe" --data "$data" "$@" --format csv "SELECT name, type FROM pragma_table_info('$t')" | tail -n +2
      echo "--"
      "$SLUICE" query "$pipe" --data "$data" "$@" --format json "SELECT * FROM \"$t\""
    } | python3 -c '
import json, sqlite3, sys
db = sqlite3.connect(sys.argv[1])
t = sys.argv[2]
q = lambda n: "\"" + n.replace("\"", "\"\"") + "\""
cols = []
for line in sys.stdin:
    if line.strip() == "--":
        break
    name, typ = line.rstrip("\n").rsplit(",", 1)
    cols.append((name, typ))
if not cols:
    sys.exit("lake_db: %s has no columns" % t)
db.execute("CREATE TABLE %s(%s)" % (q(t), ", ".join("%s %s" % (q(n), ty) for n, ty in cols)))
ins = "INSERT INTO %s VALUES (%s)" % (q(t), ", ".join("?" * len(cols)))
names = [n for n, _ in cols]
rows = (json.loads(l) for l in sys.stdin if l.strip())
db.executemany(ins, ([o[n] for n in names] for o in rows))
db.commit()
' "$out" "$t" || fail "lake_db: cannot materialize $t"
  done
}
