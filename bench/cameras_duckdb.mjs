// cameras_duckdb.mjs - the cameras job done by DuckDB on one thread, the yardstick of issue 20.
//
//   node bench/cameras_duckdb.mjs durable DIR DBFILE   the durable batch doing the same job as
//                                                      pipelines/cameras.yaml, into a database file
//   node bench/cameras_duckdb.mjs memory DIR           parse + dedupe + the 1-minute rollup, in memory
//
// DIR is what `sluice gen cameras --events N --out DIR` writes (detections-*.ndjson, locations.csv).
// Prints key=value lines: wall_s and cpu_s (from opening the database to the end of CHECKPOINT, so
// node's start-up and the loading of DuckDB's library, ~0.4 CPU s, are not counted), db_bytes, and the row counts that bench/cameras.sh compares with
// Sluice's (silver_rows, quarantine_rows, rollup_1h_total, ...).
import { DuckDBInstance } from '@duckdb/node-api';
import { statSync, existsSync, rmSync } from 'node:fs';

const [mode, dir, dbfile] = process.argv.slice(2);
if (!dir || (mode === 'durable' && !dbfile) || (mode !== 'durable' && mode !== 'memory')) {
  console.error('usage: cameras_duckdb.mjs durable DIR DBFILE | memory DIR');
  process.exit(2);
}
const q = (s) => "'" + s.replaceAll("'", "''") + "'";

// The typed read: the five columns of the pipeline's schema, nothing inferred. Row numbers are the
// input order (one thread reads the files in name order, lines in order): the watermark and "keep
// the first" of the dedupe are defined on that order, as in Sluice.
const typedRead = `read_json(${q(dir + '/*.ndjson')}, format = 'newline_delimited',
    columns = {detection_oid: 'BIGINT', video_camera_oid: 'BIGINT',
               geographical_location_oid: 'BIGINT', item_name: 'VARCHAR',
               timestamp_detected: 'BIGINT'})`;
const locations = `read_csv(${q(dir + '/locations.csv')}, header = true,
    columns = {geographical_location_oid: 'BIGINT', geographical_location: 'VARCHAR'})`;

const durable = [
  // expectations (the three NULL checks) and the watermark (max event time of the records before
  // that passed the checks, minus 2 minutes; a record below it is late): both go to quarantine
  `CREATE TEMP TABLE checked AS
     SELECT *, CASE
       WHEN detection_oid IS NULL THEN 'has_detection_oid'
       WHEN geographical_location_oid IS NULL THEN 'has_location'
       WHEN timestamp_detected IS NULL THEN 'has_timestamp'
       WHEN timestamp_detected < max(CASE WHEN detection_oid IS NOT NULL
                                           AND geographical_location_oid IS NOT NULL
                                          THEN timestamp_detected END)
                                 OVER (ORDER BY rn ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING)
                                 - 120000 THEN 'late'
       END AS reason
     FROM (SELECT row_number() OVER () AS rn, * FROM ${typedRead})`,
  `CREATE TABLE quarantine AS
     SELECT reason, detection_oid, video_camera_oid, geographical_location_oid, item_name,
            timestamp_detected
     FROM checked WHERE reason IS NOT NULL ORDER BY rn`,
  // dedupe by detection_oid, keep the first (flag the others, as the bronze table does)
  `CREATE TEMP TABLE flagged AS
     SELECT rn, detection_oid, video_camera_oid, geographical_location_oid, item_name,
            timestamp_detected, epoch_ms(timestamp_detected) AS event_ts,
            row_number() OVER (PARTITION BY detection_oid ORDER BY rn) > 1 AS is_duplicate
     FROM checked WHERE reason IS NULL`,
  // the silver table: the first of each detection, with the location's name (left join); no ORDER
  // BY (sorting it back into input order would cost DuckDB ~0.2 CPU s more and save it ~5% of bytes)
  `CREATE TABLE detection_events AS
     SELECT f.detection_oid, f.video_camera_oid, f.geographical_location_oid, f.item_name,
            f.timestamp_detected, f.event_ts, l.geographical_location
     FROM flagged f LEFT JOIN ${locations} l USING (geographical_location_oid)
     WHERE NOT f.is_duplicate`,
  `CREATE TABLE detections_by_location_1m AS
     SELECT time_bucket(INTERVAL 1 minute, event_ts) AS window_start, geographical_location_oid,
            geographical_location, count(*) AS detections,
            count(DISTINCT video_camera_oid) AS distinct_cameras
     FROM detection_events GROUP BY ALL`,
  `CREATE TABLE detections_by_location_1h AS
     SELECT time_bucket(INTERVAL 1 hour, event_ts) AS window_start, geographical_location_oid,
            geographical_location, count(*) AS detections,
            count(DISTINCT video_camera_oid) AS distinct_cameras
     FROM detection_events GROUP BY ALL`,
  `CREATE TABLE duplicates_1m AS
     SELECT time_bucket(INTERVAL 1 minute, event_ts) AS window_start, count(*) AS records,
            sum(CASE WHEN is_duplicate THEN 1 ELSE 0 END) AS duplicates
     FROM flagged GROUP BY ALL`,
  `CHECKPOINT`,
];

const memory = [
  `CREATE TABLE detections_by_location_1m AS
     SELECT time_bucket(INTERVAL 1 minute, epoch_ms(timestamp_detected)) AS window_start,
            geographical_location_oid, count(*) AS detections,
            count(DISTINCT video_camera_oid) AS distinct_cameras
     FROM (SELECT DISTINCT ON (detection_oid) * FROM ${typedRead})
     GROUP BY ALL`,
];

const counts = {
  durable: `SELECT (SELECT count(*) FROM detection_events) AS silver_rows,
       (SELECT count(*) FROM quarantine) AS quarantine_rows,
       (SELECT count(*) FROM quarantine WHERE reason = 'late') AS late_rows,
       (SELECT sum(detections) FROM detections_by_location_1h) AS rollup_1h_total,
       (SELECT count(*) FROM detections_by_location_1h) AS rollup_1h_rows,
       (SELECT count(*) FROM detections_by_location_1m) AS rollup_1m_rows,
       (SELECT sum(detections) FROM detections_by_location_1m) AS rollup_1m_total,
       (SELECT sum(records) FROM duplicates_1m) AS dup_records,
       (SELECT sum(duplicates) FROM duplicates_1m) AS dup_duplicates`,
  memory: `SELECT count(*) AS rollup_1m_rows, sum(detections) AS rollup_1m_total
           FROM detections_by_location_1m`,
};

if (mode === 'durable') {
  for (const f of [dbfile, dbfile + '.wal']) if (existsSync(f)) rmSync(f);
}
const t0 = process.hrtime.bigint();
const c0 = process.cpuUsage();
const inst = await DuckDBInstance.create(mode === 'durable' ? dbfile : ':memory:', { threads: '1' });
const con = await inst.connect();
await con.run('SET threads = 1');
// CAMERAS_DUCKDB_TRACE=1: wall and CPU of each statement on stderr (where the time goes)
const trace = process.env.CAMERAS_DUCKDB_TRACE === '1';
for (const sql of mode === 'durable' ? durable : memory) {
  const [s0, u0] = [process.hrtime.bigint(), process.cpuUsage()];
  await con.run(sql);
  if (trace) {
    const u = process.cpuUsage(u0);
    console.error(`${(Number(process.hrtime.bigint() - s0) / 1e9).toFixed(3)} s wall, ` +
      `${((u.user + u.system) / 1e6).toFixed(3)} s CPU: ${sql.split('\n')[0].slice(0, 60)}`);
  }
}
const wall = Number(process.hrtime.bigint() - t0) / 1e9;
const cpu = process.cpuUsage(c0);
// the counts are read after the clock stops (they are for the comparison, not part of the job)
const reader = await con.runAndReadAll(counts[mode]);
const names = reader.columnNames();
const row = reader.getRows()[0];
con.closeSync();
inst.closeSync();
console.log(`wall_s=${wall.toFixed(3)}`);
console.log(`cpu_s=${((cpu.user + cpu.system) / 1e6).toFixed(3)}`);
if (mode === 'durable') {
  let bytes = statSync(dbfile).size;
  if (existsSync(dbfile + '.wal')) bytes += statSync(dbfile + '.wal').size;
  console.log(`db_bytes=${bytes}`);
}
names.forEach((n, i) => console.log(`${n}=${row[i] === null ? 'NULL' : String(row[i])}`));
