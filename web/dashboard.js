/* dashboard.js - renders the panels of /api/dashboard.
 *
 * Each panel runs its SQL through /api/query every refresh_ms (default 5 s),
 * and at once (debounced) when a table named in its SQL commits new rows,
 * which it learns from that table's SSE stream. Types: timeseries (uPlot
 * lines; x = a time column; optional "series" column pivots rows into one
 * line per value), bar (horizontal bars), table, stat (one big number).
 * With no panels declared, every table gets a table panel of its newest rows. */
"use strict";

const charts = [];

function numericCols(res, skip) {
  return res.columns.map((c, i) => i).filter(i => !skip.includes(i) && res.rows.some(r => typeof r[i] === "number"));
}

function colIndex(res, name, fallback) {
  const i = name ? res.columns.indexOf(name) : -1;
  return i >= 0 ? i : fallback;
}

function renderTimeseries(p, body, res, state) {
  const xi = colIndex(res, p.x, 0);
  const si = p.series ? res.columns.indexOf(p.series) : -1;
  let yis = (p.y || []).map(n => res.columns.indexOf(n)).filter(i => i >= 0);
  if (!yis.length) yis = numericCols(res, [xi, si]);
  const xs = [...new Set(res.rows.map(r => SL.toSeconds(r[xi])).filter(v => v !== null))].sort((a, b) => a - b);
  const pos = new Map(xs.map((x, i) => [x, i]));
  const series = [], data = [xs];
  const addSeries = (label, rows, yi) => {
    const ys = new Array(xs.length).fill(null);
    for (const r of rows) { const x = SL.toSeconds(r[xi]); if (x !== null && typeof r[yi] === "number") ys[pos.get(x)] = (ys[pos.get(x)] || 0) + r[yi]; }
    series.push(label); data.push(ys);
  };
  if (si >= 0) {
    const groups = new Map();
    for (const r of res.rows) { const k = String(r[si]); if (!groups.has(k)) groups.set(k, []); groups.get(k).push(r); }
    for (const [k, rows] of [...groups].slice(0, 12)) addSeries(k, rows, yis[0]);
  } else {
    for (const yi of yis) addSeries(res.columns[yi], res.rows, yi);
  }
  if (!xs.length || !series.length) { body.replaceChildren(SL.el("div", { class: "empty", text: "no data yet" })); state.plot = null; return; }
  const key = series.join("\u0001");
  if (state.plot && state.key === key && body.contains(state.plot.root)) { state.plot.setData(data); return; }
  const palette = ["#f2b84b", "#6fa8dc", "#5ccf7f", "#e06c9f", "#b48ef0", "#f0605d", "#4fd1c5", "#c9d36a", "#ff9f6b", "#8fb3ff", "#d4d4d4", "#a3be8c"];
  const opts = {
    width: Math.max(body.clientWidth, 300), height: 250,
    scales: { x: { time: true } },
    axes: [{ stroke: "#8b98a5", grid: { stroke: "#222c36" } }, { stroke: "#8b98a5", grid: { stroke: "#222c36" }, size: 60 }],
    series: [{}].concat(series.map((s, i) => ({ label: s, stroke: palette[i % palette.length], width: 1.6, spanGaps: true }))),
  };
  body.replaceChildren();
  state.plot = new uPlot(opts, data, body);
  state.key = key;
  charts.push({ plot: state.plot, body });
}

function renderBar(p, body, res) {
  const li = colIndex(res, p.x, res.columns.findIndex((c, i) => res.rows.some(r => typeof r[i] === "string")) >= 0 ? res.columns.findIndex((c, i) => res.rows.some(r => typeof r[i] === "string")) : 0);
  let vi = p.y && p.y.length ? res.columns.indexOf(p.y[0]) : -1;
  if (vi < 0) vi = numericCols(res, [li])[0];
  if (vi === undefined || !res.rows.length) { body.replaceChildren(SL.el("div", { class: "empty", text: "no data yet" })); return; }
  const rows = res.rows.slice(0, 30);
  const max = Math.max(...rows.map(r => Math.abs(r[vi] || 0)), 1e-9);
  const bars = SL.el("div", { class: "bars" });
  for (const r of rows) {
    const fill = SL.el("div", { class: "bar-fill" });
    fill.style.width = (100 * Math.abs(r[vi] || 0) / max).toFixed(1) + "%";
    bars.append(SL.el("div", { class: "bar-row" }, SL.el("span", { class: "bar-label", text: SL.fmt(r[li]), title: String(r[li]) }),
      SL.el("div", { class: "bar-track" }, fill), SL.el("span", { class: "bar-val", text: SL.fmt(r[vi]) })));
  }
  body.replaceChildren(bars);
}

function renderStat(p, body, res) {
  const vi = colIndex(res, p.y && p.y[0], 0);
  const v = res.rows.length ? res.rows[0][vi] : null;
  const num = SL.el("div", { class: "stat", text: SL.fmt(v) + (p.unit && v !== null ? p.unit : "") });
  body.replaceChildren(num, SL.el("div", { class: "stat-label", text: res.columns[vi] || "" }));
}

function renderTable(p, body, res, state) {
  const t = SL.table(res.columns, res.rows, 200, state.keys);
  state.keys = t.keys;
  body.replaceChildren(t.node);
}

const renderers = { timeseries: renderTimeseries, bar: renderBar, table: renderTable, stat: renderStat };

function mountPanel(p, tables) {
  const meta = SL.el("span", { class: "meta" });
  const body = SL.el("div", { class: "body" });
  const card = SL.el("section", { class: "card panel" + (p.type === "table" || p.wide ? " wide" : ""), "data-type": p.type || "table" },
    SL.el("h2", null, SL.el("span", { text: p.title || p.sql }), meta), body);
  card.dataset.title = p.title || "";
  document.getElementById("panels").append(card);
  const state = { busy: false, again: false };
  const render = renderers[p.type] || renderTable;
  const refresh = async () => {
    if (state.busy) { state.again = true; return; }
    state.busy = true;
    try {
      const res = await SL.query(p.sql, p.limit || 5000);
      render(p, body, res, state);
      card.dataset.rows = res.rows.length;
      meta.textContent = res.rows.length + " rows · " + res.ms.toFixed(1) + " ms";
    } catch (e) {
      body.replaceChildren(SL.el("div", { class: "err", text: String(e.message || e) }));
      card.dataset.error = "1";
    } finally {
      state.busy = false;
      if (state.again) { state.again = false; setTimeout(refresh, 50); }
    }
  };
  refresh();
  setInterval(refresh, Math.max(500, p.refresh_ms || 5000));
  /* live: a commit to a table this SQL names refreshes the panel now */
  let timer = null;
  for (const t of tables) {
    if (t.type !== "table" || t.kind === "event_log") continue;
    const re = new RegExp("(^|[^A-Za-z0-9_])" + t.name.replace(/[^A-Za-z0-9_]/g, "\\$&") + "($|[^A-Za-z0-9_])", "i");
    if (re.test(p.sql)) SL.subscribe(t.name, () => { clearTimeout(timer); timer = setTimeout(refresh, 150); });
  }
}

async function main() {
  SL.status();
  let dash = { panels: [] }, tables = [];
  try { dash = await SL.api("/api/dashboard"); } catch (e) { /* shown by the status line */ }
  try { tables = (await SL.api("/api/tables")).tables; } catch (e) { }
  if (dash.title) document.title = dash.title + " · Sluice";
  let panels = dash.panels || [];
  if (!panels.length) {
    panels = tables.filter(t => t.kind !== "event_log").map(t => ({
      title: t.name, type: "table", refresh_ms: 5000,
      sql: 'SELECT * FROM "' + t.name.replace(/"/g, '""') + '"' + (t.type === "table" ? " ORDER BY rowid DESC" : "") + " LIMIT 50",
    }));
    if (!panels.length) document.getElementById("panels").append(SL.el("div", { class: "empty", text: "no tables yet" }));
  }
  for (const p of panels) mountPanel(p, tables);
  window.addEventListener("resize", () => {
    for (const c of charts) if (document.body.contains(c.body)) c.plot.setSize({ width: Math.max(c.body.clientWidth, 300), height: 250 });
  });
}

main();
