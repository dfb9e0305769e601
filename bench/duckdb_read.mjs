// duckdb_read.mjs - DuckDB as the independent reader (and writer) of Parquet
// files in tests/integration/parquet. Installed with `npm ci --prefix bench`.
//
//   node bench/duckdb_read.mjs rows FILE    SELECT * FROM read_parquet(FILE), one JSON array a row
//   node bench/duckdb_read.mjs types FILE   "name<TAB>type" per column (DESCRIBE)
//   node bench/duckdb_read.mjs meta FILE    per column chunk: row group, column, encodings,
//                                           compression, null count, min, max (parquet_metadata)
//   node bench/duckdb_read.mjs exec SQL     runs SQL (e.g. COPY ... TO 'x.parquet')
//   node bench/duckdb_read.mjs sql SQL      runs a query, one JSON array a row (as rows)
//   node bench/duckdb_read.mjs describe SQL "name<TAB>type" per column of a query
//
// Values print canonically so another program can compare them exactly:
// integers as JSON integers (from bigint), timestamps as integer microseconds
// since the epoch, doubles in shortest round-trip form ("NaN"/"Infinity"/
// "-Infinity" as strings), NULL as null.
import { DuckDBInstance } from '@duckdb/node-api';

function canon(v) {
  if (v === null || v === undefined) return 'null';
  if (typeof v === 'bigint') return v.toString();
  if (typeof v === 'number') return Number.isFinite(v) ? JSON.stringify(v) : JSON.stringify(String(v));
  if (typeof v === 'boolean' || typeof v === 'string') return JSON.stringify(v);
  if (typeof v === 'object' && typeof v.micros === 'bigint') return v.micros.toString();
  if (typeof v === 'object' && typeof v.nanos === 'bigint') return (v.nanos / 1000n).toString();
  if (typeof v === 'object' && typeof v.millis === 'bigint') return (v.millis * 1000n).toString();
  return JSON.stringify(String(v));
}

const [mode, arg] = process.argv.slice(2);
if (!mode || !arg) {
  console.error('usage: duckdb_read.mjs rows|types|meta FILE | exec|sql|describe SQL');
  process.exit(2);
}
const db = await DuckDBInstance.create(':memory:');
const conn = await db.connect();
async function query(sql, params) {
  if (!params) return conn.runAndReadAll(sql);
  const p = await conn.prepare(sql);
  params.forEach((v, i) => p.bindVarchar(i + 1, v));
  return p.runAndReadAll();
}
const out = [];
if (mode === 'rows') {
  const r = await query('SELECT * FROM read_parquet($1)', [arg]);
  for (const row of r.getRows()) out.push('[' + row.map(canon).join(',') + ']');
} else if (mode === 'types') {
  const r = await query('DESCRIBE SELECT * FROM read_parquet($1)', [arg]);
  for (const row of r.getRows()) out.push(row[0] + '\t' + row[1]);
} else if (mode === 'meta') {
  const r = await query(
    'SELECT row_group_id, path_in_schema, encodings, compression, stats_null_count, ' +
      'stats_min_value, stats_max_value FROM parquet_metadata($1) ORDER BY row_group_id, column_id',
    [arg]);
  for (const row of r.getRows()) out.push(row.map((v) => (v === null ? 'NULL' : String(v))).join('\t'));
} else if (mode === 'exec') {
  await query(arg);
} else if (mode === 'sql') {
  const r = await query(arg);
  for (const row of r.getRows()) out.push('[' + row.map(canon).join(',') + ']');
} else if (mode === 'describe') {
  const r = await query('DESCRIBE ' + arg);
  for (const row of r.getRows()) out.push(row[0] + '\t' + row[1]);
} else {
  console.error('unknown mode ' + mode);
  process.exit(2);
}
if (out.length) process.stdout.write(out.join('\n') + '\n');
conn.closeSync();
