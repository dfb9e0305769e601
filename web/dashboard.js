/* dashboard.js - renders the panels of /api/dashboard.
 *
 * Each panel runs its SQL through /api/query on the refresh picker's clock
 * (or its own refresh_ms), and at once (debounced) when a table named in its
 * SQL commits new rows, which it learns from that table's SSE stream. Types:
 * timeseries (uPlot lines; x = a time column; optional "series" column
 * pivots rows into one line per value), bar (horizontal bars), table, stat
 * (one big number), histogram (a numeric column bucketed here, or buckets and
 * counts from SQL) and heatmap (x time, y bucket, value count, on a canvas
 * with a color legend). With no panels declared, every table gets a table
 * panel of its newest rows.
 *
 * The header's time range and template variables reach the SQL as bound
 * parameters (:from, :to, :NAME); the range, the refresh and the variables
 * are kept in the URL so a view can be shared or reloaded. */
"use strict";

const charts = [];
const panels = [];          /* {refresh, p} of every mounted panel */
const RANGES = { "5m": 300, "15m": 900, "1h": 3600, "6h": 21600, "24h": 86400, "7d": 604800, all: 0 };
const REFRESH = { off: 0, "1s": 1000, "5s": 5000, "30s": 30000, "1m": 60000 };
const url = new URLSearchParams(location.search);
const view = {
  range: url.get("range") || (url.get("from") ? "abs" : "all"),
  from: url.get("from") || "", to: url.get("to") || "",   /* absolute: ISO text */
  refresh: url.get("refresh") || "auto",
  vars: {},                                             /* name -> value, or null for all */
};
let refreshTimer = null;

function keepInUrl() {
  const q = new URLSearchParams();
  if (view.range === "abs") { q.set("from", view.from); q.set("to", view.to); } else if (view.range !== "all") q.set("range", view.range);
  if (view.refresh !== "auto") q.set("refresh", view.refresh);
  for (const [k, v] of Object.entries(view.vars)) q.set("var-" + k, v === null ? "all" : v);
  const s = q.toString();
  history.replaceState(null, "", location.pathname + (s ? "?" + s : ""));
}

/* The parameters every panel query may use: the time range as text in the
 * form the store writes timestamps ("YYYY-MM-DDTHH:MM:SSZ", so a text
 * comparison with window_start is a time comparison), and the variables. */
function params() {
  let from = "0001-01-01T00:00:00Z", to = "9999-12-31T23:59:59Z";
  if (view.range === "abs") { from = view.from; to = view.to; } else if (RANGES[view.range]) {
    const now = Date.now();
    from = SL.isoSeconds(now - RANGES[view.range] * 1000);
    to = SL.isoSeconds(now + 1000);
  }
  return Object.assign({ from, to }, view.vars);
}

function refreshAll() { for (const x of panels) x.refresh(); }

function numericCols(res, skip) {
  return res.columns.map((c, i) => i).filter(i => !skip.includes(i) && res.rows.some(r => typeof r[i] === "number"));
}

function colIndex(res, name, fallback) {
  const i = name ? res.columns.indexOf(name) : -1;
  return i >= 0 ? i : fallback;
}

const palette = ["#f2b84b", "#6fa8dc", "#5ccf7f", "#e06c9f", "#b48ef0", "#f0605d", "#4fd1c5", "#c9d36a", "#ff9f6b", "#8fb3ff", "#d4d4d4", "#a3be8c"];

/* A y axis as wide as its widest tick label (a fixed width clips six-digit
 * values); uPlot calls this again with the formatted labels once it has them. */
function axisSize(u, values, ai) {
  const a = u.axes[ai];
  let w = 0;
  if (values) {
    u.ctx.save();
    u.ctx.font = a.font[0];
    for (const v of values) if (v != null) w = Math.max(w, u.ctx.measureText(String(v)).width / (window.devicePixelRatio || 1));
    u.ctx.restore();
  }
  return Math.ceil((a.ticks && a.ticks.show !== false ? a.ticks.size : 0) + a.gap + Math.max(w, 24) + 6);
}

/* For one time point uPlot widens the x scale to 86400 "units" after the
 * point, which with seconds as x is 1000 days: pad a lone point (or data
 * narrower than a second) to five minutes either side, centered. */
function xRange(u, min, max) {
  const xs = u.data[0];
  if (xs && xs.length && xs[xs.length - 1] - xs[0] < 1) return [xs[0] - 300, xs[xs.length - 1] + 300];
  return [min, max];
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
  if (!xs.length || !series.length) { body.replaceChildren(SL.el("div", { class: "empty", text: "no data in this range" })); state.plot = null; return; }
  const key = series.join("\u0001");
  if (state.plot && state.key === key && body.contains(state.plot.root)) { state.plot.setData(data); return; }
  const opts = {
    width: Math.max(body.clientWidth, 300), height: 250,
    scales: { x: { time: true, range: xRange } },
    /* space: room between x ticks for a label with its date line */
    axes: [{ stroke: "#8b98a5", grid: { stroke: "#222c36" }, space: 90 }, { stroke: "#8b98a5", grid: { stroke: "#222c36" }, size: axisSize }],
    series: [{}].concat(series.map((s, i) => ({ label: s, stroke: palette[i % palette.length], width: 1.6, spanGaps: true, points: { show: xs.length < 3 ? true : undefined } }))),
  };
  body.replaceChildren();
  state.plot = new uPlot(opts, data, body);
  state.key = key;
  charts.push({ plot: state.plot, body, redraw: null });
}

function renderBar(p, body, res) {
  const firstText = res.columns.findIndex((c, i) => res.rows.some(r => typeof r[i] === "string"));
  const li = colIndex(res, p.x, firstText >= 0 ? firstText : 0);
  let vi = p.y && p.y.length ? res.columns.indexOf(p.y[0]) : -1;
  if (vi < 0) vi = numericCols(res, [li])[0];
  if (vi === undefined || !res.rows.length) { body.replaceChildren(SL.el("div", { class: "empty", text: "no data in this range" })); return; }
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

/* ---- canvas panels (histogram, heatmap) ---- */

/* A canvas the width of the panel body, drawn at the device's pixel ratio;
 * draw(ctx, w, h) is called again on resize. */
function canvasPanel(body, height, draw) {
  const c = SL.el("canvas", { class: "plot" });
  const paint = () => {
    const dpr = window.devicePixelRatio || 1, w = Math.max(body.clientWidth, 300);
    c.width = Math.round(w * dpr); c.height = Math.round(height * dpr);
    c.style.width = w + "px"; c.style.height = height + "px";
    const ctx = c.getContext("2d");
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.font = "12px system-ui, sans-serif";
    draw(ctx, w, height);
  };
  return { canvas: c, paint };
}

/* one resize entry per panel, pointing at its latest drawing */
function keepRedraw(state, body, paint) {
  if (!state.chart) { state.chart = { plot: null, body, redraw: paint }; charts.push(state.chart); } else state.chart.redraw = paint;
}

/* "nice" tick step for a span: 1, 2 or 5 times a power of ten */
function niceStep(span, n) {
  const raw = span / Math.max(n, 1), p = Math.pow(10, Math.floor(Math.log10(raw || 1)));
  const f = raw / p;
  return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * p;
}

function renderHistogram(p, body, res, state) {
  /* pre-bucketed (x = bucket, y = count) when y names a column, else bucket x here */
  let labels = [], counts = [], lo = null, width = null;
  const yi = p.y && p.y.length ? res.columns.indexOf(p.y[0]) : -1;
  if (yi >= 0) {
    const xi = colIndex(res, p.x, 0);
    for (const r of res.rows) { labels.push(SL.fmt(r[xi])); counts.push(Number(r[yi]) || 0); }
  } else {
    const xi = colIndex(res, p.x, numericCols(res, [])[0] ?? 0);
    const vals = res.rows.map(r => r[xi]).filter(v => typeof v === "number" && Number.isFinite(v));
    if (vals.length) {
      let min = Math.min(...vals), max = Math.max(...vals);
      const bins = Math.max(1, Math.min(200, p.bins || 20));
      if (max === min) { min -= 0.5; max += 0.5; }
      width = (max - min) / bins; lo = min;
      counts = new Array(bins).fill(0);
      for (const v of vals) counts[Math.min(bins - 1, Math.floor((v - min) / width))]++;
      labels = counts.map((_, i) => String(Number((min + i * width).toPrecision(4))));
    }
  }
  if (!counts.length) { body.replaceChildren(SL.el("div", { class: "empty", text: "no data in this range" })); return; }
  const max = Math.max(...counts, 1);
  const { canvas, paint } = canvasPanel(body, 250, (ctx, w, h) => {
    const left = Math.ceil(ctx.measureText(SL.fmt(max)).width) + 14, bottom = 22, top = 8, right = 8;
    const pw = w - left - right, ph = h - top - bottom, bw = pw / counts.length;
    ctx.clearRect(0, 0, w, h);
    ctx.strokeStyle = "#222c36"; ctx.fillStyle = "#8b98a5"; ctx.textAlign = "right"; ctx.textBaseline = "middle";
    const step = niceStep(max, 4);
    for (let v = 0; v <= max; v += step) {
      const y = top + ph - ph * v / max;
      ctx.beginPath(); ctx.moveTo(left, y); ctx.lineTo(w - right, y); ctx.stroke();
      ctx.fillText(SL.fmt(v), left - 6, y);
    }
    ctx.fillStyle = palette[1];
    counts.forEach((n, i) => { const bh = ph * n / max; ctx.fillRect(left + i * bw + 1, top + ph - bh, Math.max(bw - 2, 1), bh); });
    ctx.fillStyle = "#8b98a5"; ctx.textAlign = "center"; ctx.textBaseline = "top";
    const every = Math.ceil(counts.length / Math.max(1, Math.floor(pw / 70)));
    labels.forEach((l, i) => {
      if (i % every) return;
      /* a bucket's lower bound sits at its left edge; the first one is kept clear of the y labels */
      ctx.textAlign = lo !== null && i === 0 ? "left" : "center";
      ctx.fillText(l, left + i * bw + (lo === null ? bw / 2 : 0), top + ph + 5);
    });
  });
  body.replaceChildren(canvas);
  paint();
  state.canvasCells = counts.filter(n => n > 0).length;
  state.counts = counts;
  keepRedraw(state, body, paint);
}

/* Color of t in 0..1: dark blue -> teal -> yellow (readable on the dark card). */
function heatColor(t) {
  const stops = [[24, 32, 64], [38, 110, 140], [80, 180, 120], [242, 184, 75], [255, 240, 180]];
  const x = Math.max(0, Math.min(1, t)) * (stops.length - 1), i = Math.min(Math.floor(x), stops.length - 2), f = x - i;
  const c = stops[i].map((v, k) => Math.round(v + (stops[i + 1][k] - v) * f));
  return `rgb(${c[0]},${c[1]},${c[2]})`;
}

function renderHeatmap(p, body, res, state) {
  const xi = colIndex(res, p.x, 0);
  const bi = colIndex(res, p.bucket, 1);
  const vi = colIndex(res, p.y && p.y[0], 2);
  const cells = new Map(), xsSet = new Set(), bsSet = new Map();
  for (const r of res.rows) {
    const x = SL.toSeconds(r[xi]);
    if (x === null || r[bi] === null) continue;
    const v = Number(r[vi]) || 0;
    xsSet.add(x); bsSet.set(String(r[bi]), r[bi]);
    const k = x + "\u0001" + String(r[bi]);
    cells.set(k, (cells.get(k) || 0) + v);
  }
  if (!cells.size) { body.replaceChildren(SL.el("div", { class: "empty", text: "no data in this range" })); return; }
  const xs = [...xsSet].sort((a, b) => a - b);
  const bs = [...bsSet.entries()].sort((a, b) => typeof a[1] === "number" && typeof b[1] === "number" ? a[1] - b[1] : String(a[1]).localeCompare(String(b[1]), "en", { numeric: true })).map(e => e[0]);
  const max = Math.max(...cells.values(), 1e-9);
  const fmtT = s => { const d = new Date(s * 1000), p2 = n => String(n).padStart(2, "0"); return `${p2(d.getHours())}:${p2(d.getMinutes())}`; };
  const { canvas, paint } = canvasPanel(body, 270, (ctx, w, h) => {
    const left = Math.ceil(Math.max(...bs.map(b => ctx.measureText(b).width))) + 12, legendW = 70, top = 8, bottom = 22;
    const pw = w - left - legendW - 10, ph = h - top - bottom;
    const cw = pw / xs.length, ch = ph / bs.length;
    ctx.clearRect(0, 0, w, h);
    const xpos = new Map(xs.map((x, i) => [x, i])), bpos = new Map(bs.map((b, i) => [b, i]));
    for (const [k, v] of cells) {
      const [x, b] = k.split("\u0001");
      ctx.fillStyle = heatColor(v / max);
      ctx.fillRect(left + xpos.get(Number(x)) * cw, top + ph - (bpos.get(b) + 1) * ch, Math.ceil(cw), Math.ceil(ch));
    }
    ctx.fillStyle = "#8b98a5"; ctx.textAlign = "right"; ctx.textBaseline = "middle";
    const everyB = Math.ceil(bs.length / Math.max(1, Math.floor(ph / 16)));
    bs.forEach((b, i) => { if (i % everyB === 0) ctx.fillText(b, left - 6, top + ph - (i + 0.5) * ch); });
    ctx.textAlign = "center"; ctx.textBaseline = "top";
    const everyX = Math.ceil(xs.length / Math.max(1, Math.floor(pw / 60)));
    xs.forEach((x, i) => { if (i % everyX === 0) ctx.fillText(fmtT(x), left + (i + 0.5) * cw, top + ph + 5); });
    /* legend: the color scale from 0 to the largest cell */
    const lx = w - legendW + 8, lh = ph;
    for (let i = 0; i < lh; i++) { ctx.fillStyle = heatColor(1 - i / lh); ctx.fillRect(lx, top + i, 12, 1); }
    ctx.fillStyle = "#8b98a5"; ctx.textAlign = "left"; ctx.textBaseline = "top";
    ctx.fillText(SL.fmt(max), lx + 16, top);
    ctx.textBaseline = "bottom";
    ctx.fillText("0", lx + 16, top + lh);
  });
  body.replaceChildren(canvas);
  paint();
  state.canvasCells = cells.size;
  keepRedraw(state, body, paint);
}

const renderers = { timeseries: renderTimeseries, bar: renderBar, table: renderTable, stat: renderStat, histogram: renderHistogram, heatmap: renderHeatmap };

function mountPanel(p, tables) {
  const meta = SL.el("span", { class: "meta" });
  const body = SL.el("div", { class: "body" });
  /* the pipeline file's booleans arrive as JSON strings ("true"/"false") */
  const wide = p.type === "table" || p.wide === true || ["true", "yes", "on"].includes(String(p.wide).toLowerCase());
  const card = SL.el("section", { class: "card panel" + (wide ? " wide" : ""), "data-type": p.type || "table" },
    SL.el("h2", null, SL.el("span", { text: p.title || p.sql }), meta), body);
  card.dataset.title = p.title || "";
  document.getElementById("panels").append(card);
  const state = { busy: false, again: false };
  const render = renderers[p.type] || renderTable;
  const refresh = async () => {
    if (state.busy) { state.again = true; return; }
    state.busy = true;
    try {
      const res = await SL.query(p.sql, p.limit || 5000, params());
      render(p, body, res, state);
      card.dataset.rows = res.rows.length;
      if (state.canvasCells !== undefined) card.dataset.cells = state.canvasCells;
      if (state.counts) card.dataset.counts = JSON.stringify(state.counts);
      delete card.dataset.error;
      meta.textContent = res.rows.length + " rows · " + res.ms.toFixed(1) + " ms";
    } catch (e) {
      /* unreachable: keep the last data (the banner says it is stale) */
      if (!e.network) {
        body.replaceChildren(SL.el("div", { class: "err", text: String(e.message || e) }));
        card.dataset.error = "1";
      }
    } finally {
      state.busy = false;
      if (state.again) { state.again = false; setTimeout(refresh, 50); }
    }
  };
  panels.push({ p, refresh });
  refresh();
  /* live: a commit to a table this SQL names refreshes the panel now */
  let timer = null;
  for (const t of tables) {
    if (t.type !== "table" || t.kind === "event_log") continue;
    const re = new RegExp("(^|[^A-Za-z0-9_])" + t.name.replace(/[^A-Za-z0-9_]/g, "\\$&") + "($|[^A-Za-z0-9_])", "i");
    if (re.test(p.sql)) SL.subscribe(t.name, () => { clearTimeout(timer); timer = setTimeout(refresh, 150); });
  }
}

/* Periodic refresh: the picker's period for every panel, or ("auto") each
 * panel's own refresh_ms; "off" leaves only commit-driven refreshes. */
function schedule() {
  if (refreshTimer) for (const t of refreshTimer) clearInterval(t);
  refreshTimer = [];
  if (view.refresh === "auto") {
    for (const x of panels) refreshTimer.push(setInterval(x.refresh, Math.max(500, x.p.refresh_ms || 5000)));
  } else if (REFRESH[view.refresh]) refreshTimer.push(setInterval(refreshAll, REFRESH[view.refresh]));
}

/* datetime-local input value (local time) <-> ISO UTC text */
function toLocalInput(iso) {
  const d = new Date(iso); if (Number.isNaN(d.getTime())) return "";
  const p = n => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

function mountControls() {
  const box = document.getElementById("controls");
  const sel = (id, opts, value, label) => {
    const s = SL.el("select", { id, "aria-label": label });
    for (const [v, t] of opts) s.append(SL.el("option", { value: v, text: t }));
    s.value = value;
    return s;
  };
  const range = sel("range", [...Object.keys(RANGES).map(k => [k, k === "all" ? "all time" : "last " + k]), ["abs", "absolute…"]], view.range, "time range");
  const from = SL.el("input", { id: "range-from", type: "datetime-local", step: "1", "aria-label": "from" });
  const to = SL.el("input", { id: "range-to", type: "datetime-local", step: "1", "aria-label": "to" });
  from.value = toLocalInput(view.from); to.value = toLocalInput(view.to);
  const abs = SL.el("span", { class: "abs" }, from, SL.el("span", { text: "–" }), to);
  abs.hidden = view.range !== "abs";
  const refresh = sel("refresh", [["auto", "panel default"], ...Object.keys(REFRESH).map(k => [k, k === "off" ? "refresh off" : "every " + k])], view.refresh, "refresh");
  range.addEventListener("change", () => {
    view.range = range.value;
    abs.hidden = view.range !== "abs";
    if (view.range === "abs") {
      if (!from.value || !to.value) { const now = Date.now(); from.value = toLocalInput(now - 3600e3); to.value = toLocalInput(now); }
      view.from = SL.isoSeconds(new Date(from.value).getTime()); view.to = SL.isoSeconds(new Date(to.value).getTime());
    }
    keepInUrl(); refillVariables().then(refreshAll);
  });
  const absChange = () => {
    if (!from.value || !to.value) return;
    view.from = SL.isoSeconds(new Date(from.value).getTime()); view.to = SL.isoSeconds(new Date(to.value).getTime());
    keepInUrl(); refillVariables().then(refreshAll);
  };
  from.addEventListener("change", absChange); to.addEventListener("change", absChange);
  refresh.addEventListener("change", () => { view.refresh = refresh.value; keepInUrl(); schedule(); });
  box.append(range, abs, refresh);
}

/* Template variables: a select per variable, filled from its query's first
 * column; "all" binds NULL, so SQL says (:name IS NULL OR col = :name). A
 * variable whose SQL uses the time range is filled again when it changes. */
const varDefs = [];
const ALL = "\u0000all";

async function fillVariable(d, want) {
  let values = [];
  try {
    const res = await SL.query(d.v.sql, 1000, params());
    values = res.rows.map(r => r[0]).filter(x => x !== null);
    d.s.classList.remove("bad"); d.s.title = "";
  } catch (e) { d.s.title = String(e.message || e); d.s.classList.add("bad"); if (e.network && d.values.length) return; }
  d.values = values;
  d.s.replaceChildren(SL.el("option", { value: ALL, text: "all" }), ...values.map(x => SL.el("option", { value: String(x), text: SL.fmt(x) })));
  const hit = values.find(x => String(x) === want);
  view.vars[d.v.name] = hit === undefined ? null : hit;
  d.s.value = hit === undefined ? ALL : String(hit);
}

async function refillVariables() {
  for (const d of varDefs)
    if (/[:@$](from|to)(?![A-Za-z0-9_])/.test(d.v.sql)) await fillVariable(d, d.s.value === ALL ? "all" : d.s.value);
}

async function mountVariables(vars) {
  const box = document.getElementById("variables");
  for (const v of vars) {
    if (!v || !/^[A-Za-z_][A-Za-z0-9_]*$/.test(v.name || "") || !v.sql) continue;
    const d = { v, s: SL.el("select", { id: "var-" + v.name, "data-var": v.name, "aria-label": v.name }), values: [] };
    varDefs.push(d);
    const fromUrl = url.get("var-" + v.name);
    await fillVariable(d, fromUrl !== null ? fromUrl : v.default !== undefined ? String(v.default) : "all");
    d.s.addEventListener("change", () => {
      view.vars[v.name] = d.s.value === ALL ? null : d.values.find(x => String(x) === d.s.value);
      keepInUrl(); refreshAll();
    });
    box.append(SL.el("label", { class: "var" }, SL.el("span", { text: v.label || v.name }), d.s));
  }
}

async function main() {
  SL.status();
  mountControls();
  let dash = { panels: [] }, tables = [];
  try { dash = await SL.api("/api/dashboard"); } catch (e) { /* shown by the status line */ }
  try { tables = (await SL.api("/api/tables")).tables; } catch (e) { }
  if (dash.title) document.title = dash.title + " · Sluice";
  await mountVariables(dash.variables || []);
  let list = dash.panels || [];
  if (!list.length) {
    list = tables.filter(t => t.kind !== "event_log").map(t => ({
      title: t.name, type: "table", refresh_ms: 5000,
      sql: 'SELECT * FROM "' + t.name.replace(/"/g, '""') + '"' + (t.type === "table" ? " ORDER BY rowid DESC" : "") + " LIMIT 50",
    }));
    if (!list.length) document.getElementById("panels").append(SL.el("div", { class: "empty", text: "no tables yet" }));
  }
  for (const p of list) mountPanel(p, tables);
  schedule();
  window.addEventListener("resize", () => {
    for (const c of charts) {
      if (!document.body.contains(c.body)) continue;
      if (c.plot) c.plot.setSize({ width: Math.max(c.body.clientWidth, 300), height: 250 }); else if (c.redraw) c.redraw();
    }
  });
}

main();
