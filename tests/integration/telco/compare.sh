#!/usr/bin/env bash
# compare.sh - compares a flavor's gold, health and dimension tables with the exact answer.
#
#   compare.sh ENGINE_DB EXPECTED_DB SPEC...
#
# Each SPEC is "TABLE|ENGINE_FROM|EXPECTED_FROM|KEYS|CHECK": both FROM sources
# (a table or a parenthesised SELECT; the engine DB is attached as e, the
# expected one as x) are joined on KEYS (comma-separated columns, compared
# with IS so NULL matches NULL); CHECK is an SQL condition over a.* (engine)
# and b.* (expected) that every joined row must satisfy. A table is equal when
# both sides have the same number of rows, every row joins, and CHECK holds.
# Tolerances live in CHECK (exact counts, min/max; averages and stddev to a
# relative 1e-9; quantiles within the sketch's declared 1%).
# Both sides are indexed on KEYS: the NOT EXISTS probes stay linear on large tables.
# Prints `ok TABLE (N rows)` or `DIFF TABLE ...` with up to 5 offending rows.
# Exit status 0 all equal, 1 a difference, 2 bad usage.
set -u
[ $# -ge 3 ] || { echo "usage: $0 ENGINE_DB EXPECTED_DB SPEC..." >&2; exit 2; }
edb=$1 xdb=$2
shift 2
failed=0
for spec in "$@"; do
    IFS='|' read -r table efrom xfrom keys check <<<"$spec"
    on=""
    for k in ${keys//,/ }; do on="$on AND a.$k IS b.$k"; done
    on=${on# AND }
    out=$(sqlite3 -batch -bail :memory: 2>&1 <<SQL
ATTACH '$edb' AS e;
ATTACH '$xdb' AS x;
CREATE TEMP TABLE a AS SELECT * FROM $efrom;
CREATE TEMP TABLE b AS SELECT * FROM $xfrom;
CREATE INDEX temp.a_keys ON a($keys);
CREATE INDEX temp.b_keys ON b($keys);
.mode list
.separator " "
SELECT 'summary', (SELECT count(*) FROM a), (SELECT count(*) FROM b),
       (SELECT count(*) FROM a JOIN b ON $on),
       (SELECT count(*) FROM a JOIN b ON $on WHERE NOT coalesce($check, 0));
.mode quote
SELECT 'bad:', a.*, '<engine | expected>', b.* FROM a JOIN b ON $on WHERE NOT coalesce($check, 0) LIMIT 5;
SELECT 'engine only:', a.* FROM a WHERE NOT EXISTS (SELECT 1 FROM b WHERE $on) LIMIT 5;
SELECT 'expected only:', b.* FROM b WHERE NOT EXISTS (SELECT 1 FROM a WHERE $on) LIMIT 5;
SQL
    )
    summary=$(printf '%s\n' "$out" | grep -a '^summary ' | head -1)
    if [ -z "$summary" ]; then
        echo "DIFF $table (cannot compare: $(printf '%s' "$out" | tail -1))"
        failed=1
        continue
    fi
    read -r _ ne nx nj nbad <<<"$summary"
    if [ "$ne" -eq "$nx" ] && [ "$nj" -eq "$nx" ] && [ "$nbad" -eq 0 ]; then
        echo "ok $table ($nx rows)"
    else
        echo "DIFF $table (engine $ne rows, expected $nx, joined $nj, failing the check $nbad)"
        printf '%s\n' "$out" | grep -aE "^'(bad|engine only|expected only):'" | sed 's/^/  /'
        failed=1
    fi
done
exit $failed
