#!/usr/bin/env bash
# umb_ref.sh - the umb flavor's exact answer, recomputed by brute force from
# the generator's files with SQLite's JSON1 (no Sluice code involved).
#
#   umb_ref.sh GEN_DIR ALLOW_LIST OUT_DB
#
# GEN_DIR is `sluice gen umb --out` output (files + manifest.tsv giving each
# file's tenant/environment headers). ALLOW_LIST is "t001,t002,...". OUT_DB
# gets: msgs(file, hdr_tenant, line, body), expected(tenant_id, env,
# node_name, check_name, event_ts, state, alarm_id, alarm_label, severity)
# and counts(name, n) with consumed, stored, filtered, quarantined.
set -euo pipefail
dir=$1 allow=$2 db=$3
rm -f "$db"
{
  echo "BEGIN; CREATE TABLE msgs(file TEXT, hdr_tenant TEXT, line INTEGER, body TEXT);"
  while IFS=$'\t' read -r f t _; do
    awk -v f="$f" -v t="$t" '{ gsub(/\x27/, "\x27\x27"); printf "INSERT INTO msgs VALUES(\x27%s\x27,%s,%d,\x27%s\x27);\n", f, (t == "" ? "NULL" : "\x27" t "\x27"), NR, $0 }' "$dir/$f"
  done <"$dir/manifest.tsv"
  echo "COMMIT;"
} | sqlite3 "$db"
sqlite3 "$db" <<SQL
CREATE TABLE allow(t TEXT PRIMARY KEY);
INSERT INTO allow SELECT value FROM json_each('["' || replace('$allow', ',', '","') || '"]');
-- 1. the header filter, before parsing
CREATE TABLE stage1 AS SELECT *, (hdr_tenant IS NOT NULL AND hdr_tenant NOT IN (SELECT t FROM allow)) AS hdr_filtered FROM msgs;
-- 2. extraction: the first present path of the three shapes
CREATE TABLE parsed AS SELECT file, line, json_valid(body) AS ok,
  CASE WHEN json_valid(body) THEN coalesce(json_extract(body, '\$.tenantId'), json_extract(body, '\$.entity.tenant.id'), json_extract(body, '\$.tenant')) END AS tenant_id,
  CASE WHEN json_valid(body) THEN coalesce(json_extract(body, '\$.details.target.environment'), json_extract(body, '\$.entity.env'), json_extract(body, '\$.environment')) END AS env,
  CASE WHEN json_valid(body) THEN coalesce(json_extract(body, '\$.details.target.label'), json_extract(body, '\$.entity.node.name'), json_extract(body, '\$.node')) END AS node_name,
  CASE WHEN json_valid(body) THEN coalesce(json_extract(body, '\$.details.check.label'),
       CASE WHEN json_type(body, '\$.check') = 'object' THEN json_extract(body, '\$.check.name') ELSE json_extract(body, '\$.check') END) END AS check_name,
  CASE WHEN json_valid(body) THEN coalesce(json_extract(body, '\$.timestamp'),
       CAST(round((julianday(json_extract(body, '\$.event.occurred_at')) - 2440587.5) * 86400000) AS INTEGER),
       json_extract(body, '\$.ts') * 1000) END AS ts_ms,
  CASE WHEN json_valid(body) THEN coalesce(json_extract(body, '\$.details.state'), json_extract(body, '\$.alert.status'), json_extract(body, '\$.status')) END AS state,
  CASE WHEN json_valid(body) THEN coalesce(json_extract(body, '\$.details.alarm.id'), json_extract(body, '\$.alert.id')) END AS alarm_id,
  CASE WHEN json_valid(body) THEN coalesce(json_extract(body, '\$.details.alarm.label'), json_extract(body, '\$.alert.name')) END AS alarm_label,
  CASE WHEN json_valid(body) THEN coalesce(json_extract(body, '\$.details.alarm.severity'), json_extract(body, '\$.alert.status')) END AS severity
FROM stage1 WHERE NOT hdr_filtered;
CREATE TABLE quarantined AS SELECT * FROM parsed WHERE NOT ok OR tenant_id IS NULL OR env IS NULL OR node_name IS NULL OR check_name IS NULL OR ts_ms IS NULL;
CREATE TABLE expected AS SELECT tenant_id, env, node_name, check_name,
  CASE WHEN ts_ms % 1000 = 0 THEN strftime('%Y-%m-%dT%H:%M:%SZ', ts_ms / 1000, 'unixepoch')
       ELSE strftime('%Y-%m-%dT%H:%M:%S', ts_ms / 1000, 'unixepoch') || printf('.%03dZ', ts_ms % 1000) END AS event_ts,
  state, alarm_id, alarm_label, severity
FROM parsed WHERE ok AND tenant_id IS NOT NULL AND env IS NOT NULL AND node_name IS NOT NULL AND check_name IS NOT NULL AND ts_ms IS NOT NULL
  AND tenant_id IN (SELECT t FROM allow);
CREATE TABLE counts(name TEXT, n INTEGER);
INSERT INTO counts VALUES('consumed', (SELECT count(*) FROM msgs)), ('stored', (SELECT count(*) FROM expected)),
  ('quarantined', (SELECT count(*) FROM quarantined)),
  ('filtered', (SELECT count(*) FROM msgs) - (SELECT count(*) FROM expected) - (SELECT count(*) FROM quarantined));
SQL
