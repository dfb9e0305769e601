#!/usr/bin/env bash
# One table routed to PostgreSQL on its own (sinks: - postgresql: {url}),
# into a schema of its own chosen by the URL's options (search_path), while
# the pipeline's store stays SQLite: both hold the same rows; `sluice query
# --store` with the same URL reads the PostgreSQL copy; COMMENT ON TABLE
# comes from the table's description; timestamps are timestamptz. Then a
# password from a .pgpass file (PGPASSFILE), and a statement timeout: a lock
# held on the table makes COPY time out (statement_timeout: 1s), the commit
# waits and retries, and completes once the lock is gone.
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/pg_lib.sh"
need sqlite3
pg_start
pgq "CREATE SCHEMA serving"
url="$PGURL?options=-csearch_path%3Dserving"
mkdir -p "$TMP/in"
python3 - "$TMP/in/a.ndjson" <<'PY'
import json, sys
with open(sys.argv[1], "w") as f:
    for i in range(5000):
        f.write(json.dumps({"id": i, "name": "n\t%d\\x" % i if i % 7 else None, "v": i * 0.5,
                            "ok": i % 2 == 0, "ts": 1767225600000 + i * 1000}) + "\n")
PY
cat >"$TMP/p.yaml" <<YAML
pipeline: one_table
sources:
  s: {type: dir, path: $TMP/in, pattern: "*.ndjson", format: json,
      schema: {id: int, name: string, v: double, ok: bool, ts: int}}
tables:
  things:
    from: s
    description: "things, one row per record"
    steps:
      - derive: {event_ts: "from_unixtime_ms(ts)"}
    sinks:
      - postgresql: {url: "\${PGSINK_URL}", statement_timeout: 1s}
YAML
export PGSINK_URL=$url
"$SLUICE" run "$TMP/p.yaml" --data "$TMP/out" --once --status 0 || fail "run"
[ "$(pgq "SELECT count(*) FROM serving.things")" = 5000 ] || fail "PostgreSQL rows: $(pgq "SELECT count(*) FROM serving.things")"
[ "$(sqlite3 "$TMP/out/sluice.db" "SELECT count(*) FROM things")" = 5000 ] || fail "SQLite rows"
# the same values on both sides (strings with tabs and backslashes, NULLs, doubles, booleans)
PG_SCHEMA=serving pg_to_sqlite "$TMP/pg.db" things
cols="id, name, v, ok, ts, event_ts, _ingest_ts, _source, _offset"
diff=$(sqlite3 "$TMP/pg.db" "ATTACH '$TMP/out/sluice.db' AS s;
  SELECT count(*) FROM (SELECT $cols FROM things EXCEPT SELECT $cols FROM s.things);
  SELECT count(*) FROM (SELECT $cols FROM s.things EXCEPT SELECT $cols FROM things);" | tr '\n' ' ')
[ "$diff" = "0 0 " ] || fail "PostgreSQL and SQLite rows differ: $diff"
[ "$(pgq "SELECT data_type FROM information_schema.columns WHERE table_schema = 'serving' AND table_name = 'things' AND column_name = 'event_ts'")" = "timestamp with time zone" ] ||
  fail "event_ts is not timestamptz"
[ "$(pgq "SELECT obj_description('serving.things'::regclass)")" = "things, one row per record" ] || fail "no table comment"
n=$("$SLUICE" query "$TMP/p.yaml" --store "$url" --format csv "SELECT count(*) AS n FROM things WHERE name IS NULL" | tail -1)
[ "$n" = "$(sqlite3 "$TMP/out/sluice.db" "SELECT count(*) FROM things WHERE name IS NULL")" ] || fail "query --store with search_path: $n"
ok "a single table routed to PostgreSQL (schema serving) equals its SQLite copy"

# .pgpass: no password in the URL
printf '127.0.0.1:%s:sluice:postgres:%s\n' "$PGPORT" "$PGPASSWORD_TEST" >"$TMP/pgpass"
chmod 600 "$TMP/pgpass"
python3 - "$TMP/in/b.ndjson" <<'PY'
import json, sys
with open(sys.argv[1], "w") as f:
    for i in range(5000, 6000):
        f.write(json.dumps({"id": i, "name": "m%d" % i, "v": 1.5, "ok": True, "ts": 1767225600000 + i * 1000}) + "\n")
PY
# a lock on the table for 4 s: the sink's COPY times out after 1 s, again and again
psql -X -q -h "$PGDIR" -p "$PGPORT" -U postgres -d sluice \
  -c "BEGIN; LOCK TABLE serving.things IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(4); COMMIT;" >/dev/null &
locker=$!
sleep 0.5
export PGSINK_URL="postgresql://postgres@127.0.0.1:$PGPORT/sluice?options=-csearch_path%3Dserving"
SLUICE_LOG=info PGPASSFILE=$TMP/pgpass timeout 60 "$SLUICE" run "$TMP/p.yaml" --data "$TMP/out" --once --status 0 \
  2>"$TMP/lock.log" || fail "run with .pgpass: $(tail -2 "$TMP/lock.log")"
wait $locker
grep -q 'commit waiting for an output' "$TMP/lock.log" || fail "the statement timeout did not make the commit wait: $(tail -2 "$TMP/lock.log")"
grep -q 'canceling statement due to statement timeout' "$TMP/lock.log" || fail "no statement timeout logged"
grep -q '"commit resumed"' "$TMP/lock.log" || fail "the commit did not resume"
[ "$(pgq "SELECT count(*) FROM serving.things")" = 6000 ] || fail "after the lock: $(pgq "SELECT count(*) FROM serving.things") rows"
ok "password from .pgpass; a statement timeout under a lock was waited out, nothing lost or doubled"
