# lib_umb.sh - shared by the umb tests: generate, produce with kcat (headers
# per file, from the generator's manifest), compare with umb_ref.sh.
ALLOW=t001,t002,t003,t004,t005
UMB="$REPO/pipelines/umb.yaml"
# short session timeout: the mock ignores LeaveGroup and a killed member is
# only replaced when its session expires (not below ~6 s: the mock's first
# rebalance takes 3 s and a shorter session expires during the join, which
# then never completes)
UMB_SETS=(--set session_timeout_ms=6000 --set heartbeat_ms=500 --set tenants=$ALLOW)

# messages spread evenly over the partitions (no sticky batches: each
# partition must stay under the mock's ~5 MB)
umb_produce() { # GEN_DIR TOPIC
  local f t e
  while IFS=$'\t' read -r f t e; do
    if [ -n "$t" ]; then kcat -P -b "$BOOT" -t "$2" -X sticky.partitioning.linger.ms=0 -H "tenant=$t" -H "environment=$e" <"$1/$f"
    else kcat -P -b "$BOOT" -t "$2" -X sticky.partitioning.linger.ms=0 <"$1/$f"; fi
  done <"$1/manifest.tsv"
  # the mock keeps ~5 MB per partition and deletes older messages: make sure
  # it kept them all, or the reference (which saw them) cannot match
  local p first
  for p in 0 1 2 3; do
    first=$(kcat -C -b "$BOOT" -t "$2" -p $p -o beginning -c 1 -e -q -f '%o\n' 2>/dev/null || true)
    [ -z "$first" ] || [ "$first" -eq 0 ] || fail "the mock dropped the first $first messages of partition $p (too much data per partition)"
  done
}

# umb_got DATA_DIR OUT_DB: OUT_DB's table got holds the stored summaries as
# `sluice query` reads them (umb_summaries is a lake table: its rows are in
# Parquet segments, not in sluice.db; over instance-*/ checkpoints of a
# scale-out run, the union of every instance's). JSON keeps NULLs and types.
UMB_COLS="tenant_id, env, node_name, check_name, event_ts, state, alarm_id, alarm_label, severity"
umb_got() {
  rm -f "$2"
  "$SLUICE" query "$UMB" --data "$1" --format json "SELECT $UMB_COLS FROM umb_summaries" | python3 -c '
import json, sqlite3, sys
cols = [c.strip() for c in sys.argv[2].split(",")]
db = sqlite3.connect(sys.argv[1])
db.execute("CREATE TABLE got(%s)" % ", ".join(cols))
db.executemany("INSERT INTO got VALUES (%s)" % ", ".join("?" * len(cols)),
               ([o[c] for c in cols] for o in map(json.loads, filter(str.strip, sys.stdin))))
db.commit()
' "$2" "$UMB_COLS" || fail "umb_got: cannot read umb_summaries of $1"
}

# umb_compare DATA_DIR REF_DB: stored summaries equal the expected multiset
# (DATA_DIR may hold instance-*/ checkpoints of a scale-out run: all count)
umb_compare() {
  umb_got "$1" "$TMP/got.db"
  local att="ATTACH '$TMP/got.db' AS got0; " from="SELECT * FROM got0.got"
  sqlite3 "$2" "$att
    CREATE TEMP VIEW g AS SELECT tenant_id, env, node_name, check_name, event_ts, state, alarm_id, alarm_label, severity, count(*) AS n
      FROM ($from) GROUP BY 1,2,3,4,5,6,7,8,9;
    CREATE TEMP VIEW e AS SELECT tenant_id, env, node_name, check_name, event_ts, state, alarm_id, alarm_label, severity, count(*) AS n
      FROM expected GROUP BY 1,2,3,4,5,6,7,8,9;
    SELECT 'missing', * FROM (SELECT * FROM e EXCEPT SELECT * FROM g) LIMIT 5;
    SELECT 'extra', * FROM (SELECT * FROM g EXCEPT SELECT * FROM e) LIMIT 5;" >"$TMP/diff.txt"
  [ ! -s "$TMP/diff.txt" ] || { cat "$TMP/diff.txt" >&2; return 1; }
}
