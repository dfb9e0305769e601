/* common.js - helpers shared by the dashboard and pipeline pages: API calls,
 * the status line, value formatting, Prometheus text parsing, and one shared
 * EventSource per table (several panels reading a table share its stream).
 * Auth: the server accepts the sluice_token cookie it set when the page was
 * opened with ?token=, so same-origin fetch and EventSource need no header. */
"use strict";

const SL = {};

/* Server reachability: a fetch that fails at the network level (the server
 * stopped, the link dropped) marks the page stale; panels keep their last
 * data and a banner says since when; the next answer clears it. */
SL.staleSince = null;
SL.setStale = function (down) {
  if (down && SL.staleSince === null) SL.staleSince = new Date();
  if (!down) SL.staleSince = null;
  let b = document.getElementById("stale-banner");
  if (!down) { if (b) b.remove(); return; }
  if (!b) {
    b = SL.el("div", { id: "stale-banner", class: "stale-banner", role: "status" });
    document.querySelector("header").after(b);
  }
  const t = SL.staleSince, p = n => String(n).padStart(2, "0");
  b.textContent = `server unreachable: data stale since ${p(t.getHours())}:${p(t.getMinutes())}:${p(t.getSeconds())}`;
};

SL.api = async function (path) {
  let r;
  try { r = await fetch(path, { credentials: "same-origin", cache: "no-store" }); } catch (e) {
    SL.setStale(true);
    const err = new Error("server unreachable");
    err.network = true;
    throw err;
  }
  /* a proxy or a stopping server answering 502/503/504 is as good as down */
  if (r.status === 502 || r.status === 503 || r.status === 504) {
    SL.setStale(true);
    const err = new Error("server unavailable (HTTP " + r.status + ")");
    err.network = true;
    throw err;
  }
  if (SL.staleSince) SL.setStale(false);
  if (r.status === 401) { location.reload(); throw new Error("unauthorized"); }
  const ct = r.headers.get("content-type") || "";
  const body = ct.includes("json") ? await r.json() : await r.text();
  if (!r.ok) throw new Error((body && body.error) || ("HTTP " + r.status));
  return body;
};

/* params: {name: value}; only the names the SQL uses (:name, @name, $name)
 * are sent, and the server binds them (never pasted into the SQL). */
SL.query = function (sql, limit, params) {
  const used = {};
  for (const [k, v] of Object.entries(params || {}))
    if (new RegExp("[:@$]" + k + "(?![A-Za-z0-9_])").test(sql)) used[k] = v;
  return SL.api("/api/query?sql=" + encodeURIComponent(sql) + (limit ? "&limit=" + limit : "") +
    (Object.keys(used).length ? "&params=" + encodeURIComponent(JSON.stringify(used)) : ""));
};

/* "YYYY-MM-DDTHH:MM:SSZ", the form the store writes whole-second timestamps in */
SL.isoSeconds = function (ms) { return new Date(Math.floor(ms / 1000) * 1000).toISOString().replace(".000Z", "Z"); };

SL.el = function (tag, attrs, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") e.className = v; else if (k === "text") e.textContent = v; else e.setAttribute(k, v);
  }
  for (const k of kids) if (k != null) e.append(k);
  return e;
};

SL.fmt = function (v) {
  if (v === null || v === undefined) return "–";
  if (typeof v === "number") {
    if (Number.isInteger(v)) return Math.abs(v) >= 1e4 ? v.toLocaleString("en-US") : String(v);
    const a = Math.abs(v);
    return a >= 100 ? v.toFixed(1) : a >= 1 ? v.toFixed(2) : v.toPrecision(3);
  }
  return String(v);
};

/* Time values to epoch seconds: ISO text, or numbers in s, ms or µs. */
SL.toSeconds = function (v) {
  if (v === null || v === undefined) return null;
  if (typeof v === "number") return v > 1e14 ? v / 1e6 : v > 1e11 ? v / 1e3 : v;
  const t = Date.parse(/[zZ]|[+-]\d\d:?\d\d$/.test(v) || !/T|\d:\d/.test(v) ? v : v + "Z");
  return Number.isNaN(t) ? null : t / 1000;
};

SL.table = function (cols, rows, maxRows, prevKeys) {
  const keys = new Set();
  const t = SL.el("table");
  t.append(SL.el("thead", null, SL.el("tr", null, ...cols.map(c => SL.el("th", { text: c })))));
  const tb = SL.el("tbody");
  for (const r of rows.slice(0, maxRows || 200)) {
    const key = JSON.stringify(r);
    keys.add(key);
    const tr = SL.el("tr", prevKeys && prevKeys.size && !prevKeys.has(key) ? { class: "fresh" } : null);
    for (const v of r) tr.append(SL.el("td", typeof v === "number" ? { class: "num", text: SL.fmt(v) } : { text: SL.fmt(v), title: v === null ? "" : String(v) }));
    tb.append(tr);
  }
  t.append(tb);
  return { node: SL.el("div", { class: "tbl" }, t), keys };
};

SL.status = function () {
  const dot = document.querySelector("#status .dot"), text = document.getElementById("status-text");
  const tick = async () => {
    try {
      const s = await SL.api("/api/status");
      document.getElementById("title").textContent = "Sluice · " + (s.pipeline || "pipeline");
      text.textContent = (s.ready ? "live" : "recovering") + " · commit " + s.commit_id;
      dot.className = "dot " + (s.ready ? "ok" : "");
      if (SL.lastStatus && s.commit_id !== SL.lastStatus.commit_id)
        for (const fns of Object.values(SL.commitFns)) for (const f of fns) f(null);
      SL.lastStatus = s;
    } catch (e) {
      text.textContent = e.network ? "server unreachable" : String(e.message || e);
      dot.className = "dot bad";
    }
  };
  tick();
  setInterval(tick, 1000);
};

/* Prometheus text format -> [{name, labels:{}, value}] */
SL.parseMetrics = function (text) {
  const out = [];
  for (const line of text.split("\n")) {
    if (!line || line[0] === "#") continue;
    const m = line.match(/^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)/);
    if (!m) continue;
    const labels = {};
    if (m[3]) for (const l of m[3].matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]] = l[2].replace(/\\(.)/g, "$1");
    out.push({ name: m[1], labels, value: parseFloat(m[4]) });
  }
  return out;
};

/* Live updates. A browser keeps at most 6 HTTP/1.1 connections per host and
 * every EventSource holds one open, so a dashboard with many tables would
 * starve its own queries: at most SL.maxStreams tables get an SSE stream
 * (rows pushed at each commit); the others are told of each new commit by
 * the status poll (once a second). Listeners get {columns, rows} or null. */
SL.streams = {};
SL.commitFns = {};
SL.maxStreams = 2;
SL.subscribe = function (table, fn) {
  let s = SL.streams[table];
  if (!s && Object.keys(SL.streams).length >= SL.maxStreams) {
    (SL.commitFns[table] = SL.commitFns[table] || []).push(fn);
    return;
  }
  if (!s) {
    s = SL.streams[table] = { fns: [], es: new EventSource("/api/tables/" + encodeURIComponent(table) + "/stream") };
    s.es.addEventListener("rows", ev => {
      let d;
      try { d = JSON.parse(ev.data); } catch (e) { return; }
      for (const f of s.fns) f(d);
    });
  }
  s.fns.push(fn);
};
