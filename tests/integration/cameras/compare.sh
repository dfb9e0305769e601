#!/usr/bin/env bash
# compare.sh - compares the cameras pipeline's outputs with the exact answer.
#
#   compare.sh SLUICE_BIN PIPELINE_FILE DATA_DIR EXPECTED_DB
#
# EXPECTED_DB is what tests/tools/cameras_ref wrote for the same input. The
# engine's outputs are DATA_DIR/sluice.db (detections_by_location_1m/_1h,
# quarantine) and the lake tables raw_detection_events (bronze) and
# detection_events (silver), Parquet segments read only through
# `SLUICE_BIN query PIPELINE_FILE --data DATA_DIR --format csv "SELECT ..."`.
#
# Each table is compared as a multiset: both sides are grouped on all the
# compared columns with a count per distinct row, and the two grouped sets
# are subtracted both ways with EXCEPT (which, unlike =, treats NULL as equal
# to NULL). A row present twice on one side and once on the other shows up
# as a difference of its count. Values compare with SQLite's rules: 5 and 5.0
# are equal, 5 and '5' are not (so a column stored with the wrong type is a
# difference worth seeing).
#
# Prints one line per table, `ok TABLE (N rows)` or `DIFF TABLE ...` followed
# by up to 10 differing rows each way (values in SQL quote form, last column
# the number of copies). Exit status: 0 all equal, 1 a difference or an
# unreadable output, 2 bad usage. Needs the sqlite3 command-line shell.
#
# Notes on the contract:
#  - detection_events: only the reference's columns are compared; the
#    engine's event_ts, _ingest_ts, _source, _offset are ignored.
#  - quarantine: the engine's reason maps to the reference's kind:
#    malformed% -> malformed, field% -> type, expectation% -> missing,
#    late% -> late; any other reason shows as 'other: <reason>'. Rows of every
#    table_name are compared (each bad line is quarantined once). raw is
#    compared as text on both sides.
#  - bronze CSV: an empty field is NULL. CSV cannot tell NULL from an empty
#    string, so item_name '' counts as NULL on both sides.
set -u

if [ $# -ne 4 ]; then
    echo "usage: $0 SLUICE_BIN PIPELINE_FILE DATA_DIR EXPECTED_DB" >&2
    exit 2
fi
bin=$1
pipeline=$2
data=$3
expected=$4
engine_db=$data/sluice.db

command -v sqlite3 >/dev/null || { echo "compare.sh: the sqlite3 shell is not installed" >&2; exit 2; }
[ -f "$expected" ] || { echo "compare.sh: no expected database $expected" >&2; exit 2; }

work=$(mktemp -d "${TMPDIR:-/tmp}/compare.XXXXXX")
trap 'rm -rf "$work"' EXIT
failed=0

sqlq() { printf "'%s'" "${1//\'/\'\'}"; } # a string as an SQL literal

# compare TABLE COLUMNS ENGINE_FROM EXPECTED_FROM [SETUP_SQL]
# ENGINE_FROM / EXPECTED_FROM are FROM-clause sources (a table or a
# parenthesised SELECT) that yield COLUMNS; the engine DB is attached as e,
# the expected one as x.
compare() {
    local table=$1 cols=$2 efrom=$3 xfrom=$4 setup=${5:-}
    local out rc
    out=$(sqlite3 -batch -bail "$work/cmp.db" 2>&1 <<SQL
PRAGMA cache_size = -262144;
ATTACH $(sqlq "$engine_db") AS e;
ATTACH $(sqlq "$expected") AS x;
$setup
DROP TABLE IF EXISTS temp.ea;
DROP TABLE IF EXISTS temp.xa;
CREATE TEMP TABLE ea AS SELECT $cols, count(*) AS copies FROM $efrom GROUP BY $cols;
CREATE TEMP TABLE xa AS SELECT $cols, count(*) AS copies FROM $xfrom GROUP BY $cols;
CREATE TEMP TABLE only_e AS SELECT * FROM ea EXCEPT SELECT * FROM xa;
CREATE TEMP TABLE only_x AS SELECT * FROM xa EXCEPT SELECT * FROM ea;
.mode list
.separator " "
SELECT 'summary', (SELECT coalesce(sum(copies), 0) FROM ea), (SELECT coalesce(sum(copies), 0) FROM xa),
       (SELECT count(*) FROM only_e), (SELECT count(*) FROM only_x);
.mode quote
SELECT 'engine only:', * FROM only_e ORDER BY 2, 3, 4 LIMIT 10;
SELECT 'expected only:', * FROM only_x ORDER BY 2, 3, 4 LIMIT 10;
SQL
    )
    rc=$?
    local summary
    summary=$(printf '%s\n' "$out" | grep -a '^summary ' | head -1)
    if [ $rc -ne 0 ] || [ -z "$summary" ]; then
        echo "DIFF $table (cannot compare: $(printf '%s' "$out" | tail -1))"
        failed=1
        return
    fi
    local _ n_e n_x d_e d_x
    read -r _ n_e n_x d_e d_x <<<"$summary"
    if [ "$d_e" -eq 0 ] && [ "$d_x" -eq 0 ]; then
        echo "ok $table ($n_x rows)"
    else
        echo "DIFF $table (engine $n_e rows, expected $n_x; $d_e distinct rows differ in engine, $d_x in expected)"
        echo "  columns: $cols, copies"
        printf '%s\n' "$out" | grep -aE "^'(engine|expected) only:'" | sed 's/^/  /'
        failed=1
    fi
}

if [ ! -f "$engine_db" ]; then
    echo "DIFF detections_by_location_1m (no engine database)"
    echo "DIFF detections_by_location_1h (no engine database)"
    echo "DIFF quarantine (no engine database)"
    failed=1
else
    gold_cols="window_start, geographical_location_oid, geographical_location, detections, distinct_cameras, is_final"
    compare detections_by_location_1m "$gold_cols" e.detections_by_location_1m x.detections_by_location_1m
    compare detections_by_location_1h "$gold_cols" e.detections_by_location_1h x.detections_by_location_1h

    compare quarantine "kind, raw" \
        "(SELECT CASE WHEN reason LIKE 'malformed%' THEN 'malformed'
                      WHEN reason LIKE 'field%' THEN 'type'
                      WHEN reason LIKE 'expectation%' THEN 'missing'
                      WHEN reason LIKE 'late%' THEN 'late'
                      ELSE 'other: ' || coalesce(reason, 'NULL') END AS kind,
                 CAST(raw AS TEXT) AS raw FROM e.quarantine)" \
        "(SELECT kind, CAST(raw AS TEXT) AS raw FROM x.quarantine)"
fi

# Lake tables (bronze, and silver unless --set silver_store=sqlite put it in
# the store) through the query command, as CSV: that reads the Parquet
# segments as every reader of the pipeline does.
# lake_compare TABLE "COL TYPE, ..." EXPECTED_FROM
lake_compare() {
    local table=$1 decl=$2 xfrom=$3
    local cols header nulls setup qrc
    cols=$(printf '%s' "$decl" | sed -E 's/ (INTEGER|TEXT)//g')
    header=$(printf '%s' "$cols" | tr -d ' ')
    nulls=$(printf '%s' "$cols" | tr ',' '\n' | sed -E 's/^ *(.*)$/\1 = NULLIF(\1, '"''"')/' | paste -sd, -)
    "$bin" query "$pipeline" --data "$data" --format csv \
        "SELECT $cols FROM $table" >"$work/$table.csv" 2>"$work/$table.err"
    qrc=$?
    if [ $qrc -ne 0 ]; then
        echo "DIFF $table (query exited with status $qrc: $(tail -1 "$work/$table.err"))"
        failed=1
        return
    fi
    if [ "$(head -1 "$work/$table.csv" | tr -d '\r')" != "$header" ]; then
        echo "DIFF $table (unexpected CSV header: $(head -1 "$work/$table.csv" | cut -c1-200))"
        failed=1
        return
    fi
    # Declared INTEGER columns turn the CSV's digit strings back into integers.
    setup="DROP TABLE IF EXISTS temp.lk;
CREATE TEMP TABLE lk($decl);
.import --csv --skip 1 $(sqlq "$work/$table.csv") lk
UPDATE lk SET $nulls;"
    compare "$table" "$cols" temp.lk "$xfrom" "$setup"
}

# silver kept in the store (--set silver_store=sqlite, or copied from PostgreSQL)
if [ -f "$engine_db" ] && [ "$(sqlite3 "$engine_db" "SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = 'detection_events'")" = 1 ]; then
    compare detection_events "detection_oid, video_camera_oid, geographical_location_oid, item_name, timestamp_detected, geographical_location" \
        e.detection_events x.detection_events
else
lake_compare detection_events \
    "detection_oid INTEGER, video_camera_oid INTEGER, geographical_location_oid INTEGER, item_name TEXT, timestamp_detected INTEGER, geographical_location TEXT" \
    "(SELECT detection_oid, video_camera_oid, geographical_location_oid, NULLIF(item_name, '') AS item_name,
             timestamp_detected, NULLIF(geographical_location, '') AS geographical_location FROM x.detection_events)"
fi
lake_compare raw_detection_events \
    "detection_oid INTEGER, video_camera_oid INTEGER, geographical_location_oid INTEGER, item_name TEXT, timestamp_detected INTEGER, is_duplicate INTEGER" \
    "(SELECT detection_oid, video_camera_oid, geographical_location_oid, NULLIF(item_name, '') AS item_name,
             timestamp_detected, is_duplicate FROM x.raw_detection_events)"

exit $failed
