/* sql.js - the /sql page: runs the editor's statement through /api/query
 * (the same read-only, time- and size-bounded path the dashboard uses, with
 * the session's token cookie), shows the rows, and charts the first numeric
 * columns against the first column: a line when that column is a time or a
 * number, else bars. The last statement is kept in the URL (?q=). */
"use strict";

let plot = null;
const palette = ["#f2b84b", "#6fa8dc", "#5ccf7f", "#e06c9f", "#b48ef0", "#f0605d"];

function axisSize(u, values, ai) {
  const a = u.axes[ai];
  let w = 0;
  if (values) {
    u.ctx.save(); u.ctx.font = a.font[0];
    for (const v of values) if (v != null) w = Math.max(w, u.ctx.measureText(String(v)).width / (window.devicePixelRatio || 1));
    u.ctx.restore();
  }
  return Math.ceil(a.ticks.size + a.gap + Math.max(w, 24) + 6);
}

function chart(res) {
  const box = document.getElementById("chart"), meta = document.getElementById("chart-meta");
  if (plot) { plot.destroy(); plot = null; }
  box.replaceChildren();
  const ys = res.columns.map((c, i) => i).filter(i => i > 0 && res.rows.some(r => typeof r[i] === "number")).slice(0, 6);
  if (!res.rows.length || !ys.length) { box.append(SL.el("div", { class: "empty", text: "nothing to chart: no numeric column after the first" })); meta.textContent = ""; return; }
  const kind = document.querySelector("input[name=chart]:checked").value;
  const first = res.rows.map(r => r[0]);
  const isTime = first.every(v => typeof v === "string" && SL.toSeconds(v) !== null && /\d{4}-\d\d-\d\d/.test(v));
  const isNum = first.every(v => typeof v === "number");
  const rows = res.rows.slice(0, 2000);
  let xs, labels = null;
  if (isTime || isNum) {
    const idx = rows.map((r, i) => i).sort((a, b) => (isTime ? SL.toSeconds(rows[a][0]) - SL.toSeconds(rows[b][0]) : rows[a][0] - rows[b][0]));
    xs = idx.map(i => isTime ? SL.toSeconds(rows[i][0]) : rows[i][0]);
    rows.splice(0, rows.length, ...idx.map(i => rows[i]));
  } else { xs = rows.map((r, i) => i); labels = rows.map(r => SL.fmt(r[0])); }
  const data = [xs, ...ys.map(yi => rows.map(r => typeof r[yi] === "number" ? r[yi] : null))];
  const bars = kind === "bar" && uPlot.paths && uPlot.paths.bars ? uPlot.paths.bars({ size: [0.7, 60] }) : null;
  const opts = {
    width: Math.max(box.clientWidth, 300), height: 260,
    /* a lone x is padded (uPlot would span a time axis over 1000 days); bars
     * get half a step either side so the first and last are whole */
    scales: { x: { time: isTime, range: (u, min, max) => {
      const lo = xs[0], hi = xs[xs.length - 1];
      if (hi - lo < 1e-9) return [lo - (isTime ? 300 : 1), hi + (isTime ? 300 : 1)];
      const half = bars ? (hi - lo) / (xs.length - 1) / 2 : 0;
      return [lo - half, hi + half];
    } } },
    axes: [{ stroke: "#8b98a5", grid: { stroke: "#222c36" }, space: 90, values: labels ? (u, splits) => splits.map(v => labels[Math.round(v)] ?? "") : undefined },
           { stroke: "#8b98a5", grid: { stroke: "#222c36" }, size: axisSize }],
    series: [{ label: res.columns[0] }].concat(ys.map((yi, i) => ({
      label: res.columns[yi], stroke: palette[i % palette.length], width: 1.6, spanGaps: true,
      fill: bars ? palette[i % palette.length] + "aa" : undefined, paths: bars || undefined,
      points: { show: xs.length < 3 ? true : undefined },
    }))),
  };
  plot = new uPlot(opts, data, box);
  meta.textContent = ys.map(i => res.columns[i]).join(", ") + " by " + res.columns[0];
}

async function run() {
  const sql = document.getElementById("sql").value.trim();
  const err = document.getElementById("sql-error"), meta = document.getElementById("sql-meta");
  if (!sql) return;
  history.replaceState(null, "", "/sql?q=" + encodeURIComponent(sql));
  err.textContent = ""; meta.textContent = "running…";
  try {
    const res = await SL.query(sql, 5000);
    document.getElementById("result").replaceChildren(res.rows.length ? SL.table(res.columns, res.rows, 1000).node : SL.el("div", { class: "empty", text: "no rows" }));
    document.getElementById("result-card").dataset.rows = res.rows.length;
    meta.textContent = `${res.rows.length} rows${res.truncated ? " (truncated)" : ""} · ${res.ms.toFixed(1)} ms`;
    chart(res);
    window.lastResult = res;
  } catch (e) {
    /* the last answer is not this statement's: take it away */
    err.textContent = String(e.message || e);
    meta.textContent = "failed";
    document.getElementById("result").replaceChildren();
    delete document.getElementById("result-card").dataset.rows;
    if (plot) { plot.destroy(); plot = null; }
    document.getElementById("chart").replaceChildren();
    document.getElementById("chart-meta").textContent = "";
    window.lastResult = null;
  }
}

async function main() {
  SL.status();
  const ed = document.getElementById("sql");
  const q = new URLSearchParams(location.search).get("q");
  ed.value = q || "SELECT name, type FROM sqlite_schema WHERE name NOT LIKE 'sqlite_%' ORDER BY 1";
  ed.addEventListener("keydown", e => { if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) { e.preventDefault(); run(); } });
  document.getElementById("run").addEventListener("click", run);
  for (const r of document.querySelectorAll("input[name=chart]")) r.addEventListener("change", () => window.lastResult && chart(window.lastResult));
  try {
    const t = (await SL.api("/api/tables")).tables;
    document.getElementById("schema").replaceChildren(SL.table(["table", "kind", "columns", "rows"],
      t.map(x => [x.name, x.kind, x.columns.map(c => c.name || c).join(", "), x.rows])).node);
  } catch (e) { }
  if (q) run();
}

main();
