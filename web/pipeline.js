/* pipeline.js - the pipeline page.
 *
 * Lineage: nodes placed in columns by depth (longest path from a source),
 * drawn as SVG boxes joined by curved arrows. Throughput and expectation pass
 * rates come from /metrics (sluice_table_rows_out_total rates between two
 * polls, sluice_expectation_rows_total{result}); when the engine publishes no
 * table counters, throughput falls back to row-count deltas from /api/tables.
 * Freshness and commit health come from /metrics and the _sluice_events
 * table; quarantine samples from the quarantine table; alerts (firing now,
 * then the recent ones with their delivery per channel) from /api/alerts. */
"use strict";

const SVG = "http://www.w3.org/2000/svg";
function svg(tag, attrs, ...kids) {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  for (const k of kids) e.append(k);
  return e;
}

function drawLineage(g) {
  const box = document.getElementById("lineage");
  const nodes = g.nodes || [], edges = g.edges || [];
  if (!nodes.length) { box.replaceChildren(SL.el("div", { class: "empty", text: "no lineage published" })); return; }
  const depth = new Map(nodes.map(n => [n.name, 0]));
  for (let pass = 0; pass < nodes.length; pass++) {
    let moved = false;
    for (const [a, b] of edges) {
      if (depth.has(a) && depth.has(b) && depth.get(b) < depth.get(a) + 1) { depth.set(b, depth.get(a) + 1); moved = true; }
    }
    if (!moved) break;
  }
  const cols = [];
  for (const n of nodes) (cols[depth.get(n.name)] = cols[depth.get(n.name)] || []).push(n);
  const W = 180, H = 44, GX = 70, GY = 18;
  const pos = new Map();
  cols.forEach((c, ci) => c.forEach((n, ri) => pos.set(n.name, { x: 10 + ci * (W + GX), y: 10 + ri * (H + GY) })));
  const width = 20 + cols.length * (W + GX) - GX, height = 20 + Math.max(...cols.map(c => c.length)) * (H + GY) - GY;
  const s = svg("svg", { viewBox: `0 0 ${width} ${height}`, style: `max-width:${width}px` });
  s.append(svg("defs", {}, svg("marker", { id: "arrow", viewBox: "0 0 10 10", refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: "auto" },
    svg("path", { d: "M0,0 L10,5 L0,10 z", fill: "#4d5d6d" }))));
  for (const [a, b] of edges) {
    const p = pos.get(a), q = pos.get(b);
    if (!p || !q) continue;
    const x1 = p.x + W, y1 = p.y + H / 2, x2 = q.x, y2 = q.y + H / 2, mx = (x1 + x2) / 2;
    s.append(svg("path", { class: "edge", d: `M${x1},${y1} C${mx},${y1} ${mx},${y2} ${x2 - 2},${y2}`, "marker-end": "url(#arrow)" }));
  }
  for (const n of nodes) {
    const p = pos.get(n.name);
    const t1 = svg("text", { x: p.x + 10, y: p.y + 19 }); t1.textContent = n.name;
    const t2 = svg("text", { class: "kind", x: p.x + 10, y: p.y + 35 }); t2.textContent = [n.kind, n.layer].filter(Boolean).join(" · ");
    const grp = svg("g", { class: `node ${n.kind || ""} ${n.layer || ""}`, "data-name": n.name }, svg("rect", { x: p.x, y: p.y, width: W, height: H, rx: 6 }), t1, t2);
    s.append(grp);
  }
  box.replaceChildren(s);
}

let prev = null;   /* {t, out: Map table -> rows_out_total, counts: Map} */

function kv(rows) {
  const t = SL.el("table");
  for (const [k, v, cls] of rows) t.append(SL.el("tr", null, SL.el("th", { text: k }), SL.el("td", cls ? { class: cls } : null, v)));
  return t;
}

async function tick() {
  const now = Date.now() / 1000;
  let metrics = [], tables = [];
  try { metrics = SL.parseMetrics(await SL.api("/metrics")); } catch (e) { }
  try { tables = (await SL.api("/api/tables")).tables; } catch (e) { }
  const m = name => metrics.filter(x => x.name === name);

  /* throughput */
  const out = new Map(m("sluice_table_rows_out_total").map(x => [x.labels.table, x.value]));
  const inn = new Map(m("sluice_table_rows_in_total").map(x => [x.labels.table, x.value]));
  const counts = new Map(tables.map(t => [t.name, t.rows]));
  const src = out.size ? out : counts;
  const rows = [];
  for (const [name, v] of src) {
    const before = prev && (out.size ? prev.out : prev.counts).get(name);
    const rate = prev && before !== undefined && v !== null ? Math.max(0, (v - before) / (now - prev.t)) : null;
    rows.push([name, inn.has(name) ? inn.get(name) : null, v, rate === null ? null : Number(rate.toFixed(1))]);
  }
  prev = { t: now, out, counts };
  document.getElementById("throughput").replaceChildren(rows.length
    ? SL.table(["table", "rows in", out.size ? "rows out" : "rows", "rows/s"], rows).node
    : SL.el("div", { class: "empty", text: "no tables yet" }));

  /* expectations */
  const ex = new Map();
  for (const x of m("sluice_expectation_rows_total")) {
    const k = x.labels.table + "\u0001" + x.labels.expectation;
    const e = ex.get(k) || { table: x.labels.table, name: x.labels.expectation, passed: 0, failed: 0 };
    e[x.labels.result === "passed" ? "passed" : "failed"] += x.value;
    ex.set(k, e);
  }
  const exBox = document.getElementById("expectations");
  if (!ex.size) exBox.replaceChildren(SL.el("div", { class: "empty", text: "no expectations reported" }));
  else {
    /* long table and expectation names wrap, so the card's width always
     * holds the numbers and the pass rate (the last column) */
    const t = SL.el("table", { class: "fit" });
    t.append(SL.el("tr", null, ...["table", "expectation", "passed", "failed", "pass rate"].map(h => SL.el("th", { text: h }))));
    for (const e of ex.values()) {
      const total = e.passed + e.failed, rate = total ? 100 * e.passed / total : 100;
      t.append(SL.el("tr", null, SL.el("td", { class: "wrap", text: e.table }), SL.el("td", { class: "wrap", text: e.name }), SL.el("td", { class: "num", text: SL.fmt(e.passed) }),
        SL.el("td", { class: "num", text: SL.fmt(e.failed) }),
        SL.el("td", null, SL.el("span", { class: "pill " + (rate >= 99 ? "ok" : "bad"), text: rate.toFixed(2) + "%" }))));
    }
    exBox.replaceChildren(SL.el("div", { class: "tbl" }, t));
  }

  /* tables */
  document.getElementById("tables").replaceChildren(tables.length
    ? SL.table(["name", "kind", "columns", "rows"], tables.map(t => [t.name, t.kind, t.columns.length, t.rows])).node
    : SL.el("div", { class: "empty", text: "no tables" }));

  /* freshness and commits */
  const one = name => { const x = m(name)[0]; return x ? x.value : null; };
  const lastCommit = one("sluice_last_commit_timestamp_seconds");
  const age = lastCommit ? Math.max(0, now - lastCommit) : null;
  const st = SL.lastStatus || {};
  document.getElementById("health").replaceChildren(kv([
    ["pipeline", st.pipeline || "–"],
    ["ready", st.ready ? "yes" : "no", st.ready ? "" : "err"],
    ["last commit", st.commit_id !== undefined ? "#" + st.commit_id : "–"],
    ["commit age", age === null ? "–" : age.toFixed(1) + " s", age !== null && age > 30 ? "err" : ""],
    ["last commit took", one("sluice_commit_duration_seconds") === null ? "–" : (1000 * one("sluice_commit_duration_seconds")).toFixed(1) + " ms"],
    ["watermark lag", one("sluice_watermark_lag_seconds") === null ? "–" : one("sluice_watermark_lag_seconds").toFixed(1) + " s"],
    ["files waiting", one("sluice_source_files_waiting") === null ? "–" : SL.fmt(one("sluice_source_files_waiting"))],
  ]));

  const hasEvents = tables.some(t => t.name === "_sluice_events");
  const commitsBox = document.getElementById("commits");
  if (hasEvents) {
    try {
      const r = await SL.query("SELECT commit_id, ts, kind, records_in, quarantined, late, duplicates, event_lag_avg_ms, processing_latency_ms, commit_ms FROM _sluice_events ORDER BY commit_id DESC LIMIT 15");
      commitsBox.replaceChildren(SL.table(r.columns, r.rows).node);
    } catch (e) { commitsBox.replaceChildren(SL.el("div", { class: "err", text: e.message })); }
  } else commitsBox.replaceChildren(SL.el("div", { class: "empty", text: "no event log yet" }));

  await drawAlerts();

  const qBox = document.getElementById("quarantine");
  if (tables.some(t => t.name === "quarantine")) {
    try {
      const r = await SL.query("SELECT table_name, reason, raw, _source, _offset, _ingest_ts FROM quarantine ORDER BY rowid DESC LIMIT 20");
      qBox.replaceChildren(r.rows.length ? SL.table(r.columns, r.rows).node : SL.el("div", { class: "empty", text: "nothing quarantined" }));
    } catch (e) { qBox.replaceChildren(SL.el("div", { class: "err", text: e.message })); }
  } else qBox.replaceChildren(SL.el("div", { class: "empty", text: "no quarantine table" }));
}

function sevPill(sev) {
  return SL.el("span", { class: "pill " + (sev === "critical" ? "bad" : sev === "info" ? "" : "warn"), text: sev || "–" });
}

async function drawAlerts() {
  const box = document.getElementById("alerts");
  let a;
  try { a = await SL.api("/api/alerts?limit=20"); } catch (e) {
    box.replaceChildren(SL.el("div", { class: "err", text: e.message }));
    return;
  }
  document.getElementById("alerts-meta").textContent = a.firing.length + " firing";
  const kids = [];
  if (a.firing.length) {
    const t = SL.el("table", { class: "alerts-firing" });
    t.append(SL.el("tr", null, ...["severity", "rule", "key", "message", "since"].map(h => SL.el("th", { text: h }))));
    for (const f of a.firing)
      t.append(SL.el("tr", { class: "alert firing", "data-rule": f.rule, "data-key": f.key },
        SL.el("td", null, sevPill(f.severity)), SL.el("td", { text: f.rule }), SL.el("td", { text: f.key }),
        SL.el("td", { text: f.message, title: f.message }), SL.el("td", { text: f.started_at })));
    kids.push(SL.el("div", { class: "tbl" }, t));
  } else kids.push(SL.el("div", { class: "empty", text: "no alert firing" }));
  if (a.recent.length) {
    const deliv = r => r.deliveries.length
      ? r.deliveries.map(d => `${d.channel} ${d.kind}: ${d.state}${d.attempts > 1 ? " ×" + d.attempts : ""}`).join(", ")
      : (r.channels_sent ? "" : "not sent");
    kids.push(SL.el("h3", { class: "sub", text: "Recent" }));
    kids.push(SL.table(["state", "severity", "rule", "key", "message", "created", "resolved", "delivery"],
      a.recent.map(r => [r.state, r.severity, r.rule, r.key, r.message, r.created_at, r.resolved_at, deliv(r)])).node);
  }
  box.replaceChildren(...kids);
}

async function main() {
  SL.status();
  try { drawLineage(await SL.api("/api/lineage")); } catch (e) {
    document.getElementById("lineage").replaceChildren(SL.el("div", { class: "err", text: e.message }));
  }
  await tick();
  setInterval(tick, 3000);
}

main();
