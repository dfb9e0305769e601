// browser.mjs - drives headless Chromium over the dashboard served by
// `test_server --serve` (see test_browser.sh): every panel shows data, a row
// inserted into the database appears without a reload (the table panel polls
// only every 30 s, so this is the SSE path), the pipeline page draws the
// lineage and quality tables, and its alerts panel lists an alert once
// alert_history has a firing row (the panel polls /api/alerts). Screenshots
// go to $SHOTS.
import { spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { chromium } from "playwright-core";

const TOKEN = "browser-token-42";
const srv = spawn(process.env.TEST_SERVER, ["--serve", process.env.DB, TOKEN], { stdio: ["pipe", "pipe", "inherit"] });
const port = await new Promise((resolve, reject) => {
  const rl = createInterface({ input: srv.stdout });
  rl.on("line", l => { const m = l.match(/^PORT (\d+)/); if (m) resolve(m[1]); });
  srv.on("exit", c => reject(new Error("server exited " + c)));
  setTimeout(() => reject(new Error("server did not start")), 10000);
});
const base = `http://127.0.0.1:${port}`;
let failed = false;
const check = (cond, what) => { console.log((cond ? "ok: " : "FAIL: ") + what); if (!cond) failed = true; };

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", "--no-first-run"],
});
try {
  const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
  const errors = [];
  page.on("pageerror", e => errors.push(String(e)));
  page.on("console", m => { if (m.type() === "error") errors.push(m.text()); });
  const external = [];
  page.on("request", r => { if (!r.url().startsWith(base)) external.push(r.url()); });

  // login: without the token the page is a form; with ?token= a cookie is set
  await page.goto(base + "/");
  check(await page.locator("input[name=token]").count() === 1, "login form without token");
  await page.fill("input[name=token]", TOKEN);
  await Promise.all([page.waitForNavigation(), page.press("input[name=token]", "Enter")]);
  check(new URL(page.url()).search === "", "token removed from the address bar");
  errors.length = 0; // the 401 of the login form itself is expected

  await page.waitForFunction(() => {
    const cards = [...document.querySelectorAll(".panel")];
    return cards.length === 4 && cards.every(c => Number(c.dataset.rows) > 0);
  }, null, { timeout: 15000 });
  const panels = await page.$$eval(".panel", cs => cs.map(c => ({ type: c.dataset.type, title: c.dataset.title, rows: Number(c.dataset.rows), error: c.dataset.error || "" })));
  for (const p of panels) check(p.rows > 0 && !p.error, `panel "${p.title}" (${p.type}) shows ${p.rows} rows`);
  check(await page.locator(".panel[data-type=timeseries] canvas").count() >= 1, "timeseries drawn by uPlot (canvas)");
  check(await page.locator(".panel[data-type=timeseries] .u-legend .u-series").count() >= 6, "one series per location");
  check(await page.locator(".panel[data-type=bar] .bar-row").count() === 5, "bar panel has 5 bars");
  const stat = await page.locator(".panel[data-type=stat] .stat").textContent();
  check(stat === "2%", `stat panel shows duplicate rate (${stat})`);
  check((await page.locator("#status-text").textContent()).startsWith("live"), "status line says live");
  await page.screenshot({ path: `${process.env.SHOTS}/dashboard.png`, fullPage: true });

  // live: insert a row, the server publishes a commit, the table panel updates without reload
  const t0 = Date.now();
  srv.stdin.write("INSERT INTO detection_events VALUES(777777, 3, 'loc-3', 'browser-live', '2023-11-14T23:00:00Z', '2024-01-01T00:00:00Z');\n");
  await page.locator(".panel[data-type=table] td", { hasText: "browser-live" }).waitFor({ timeout: 10000 });
  check(true, `inserted row visible without reload after ${Date.now() - t0} ms`);
  srv.stdin.write("UPDATE detections_by_location_1m SET detections = 500 WHERE _group = 900;\n");
  await page.waitForFunction(() => [...document.querySelectorAll(".panel[data-type=bar] .bar-val")].some(e => e.textContent.includes("5")), null, { timeout: 10000 });
  await page.screenshot({ path: `${process.env.SHOTS}/dashboard-live.png`, fullPage: true });

  await page.goto(base + "/pipeline");
  await page.locator("#lineage svg g.node").first().waitFor({ timeout: 10000 });
  check(await page.locator("#lineage svg g.node").count() === 5, "lineage has 5 nodes");
  check(await page.locator("#lineage svg path.edge").count() === 4, "lineage has 4 edges");
  await page.locator("#expectations td", { hasText: "has_location" }).waitFor({ timeout: 10000 });
  check(true, "expectation pass rates shown");
  await page.locator("#quarantine td", { hasText: "has_location" }).waitFor({ timeout: 10000 });
  check(true, "quarantine samples shown");
  await page.locator("#commits td").first().waitFor({ timeout: 10000 });
  check(await page.locator("#throughput tr").count() >= 2, "throughput table");
  await page.locator("#alerts .empty", { hasText: "no alert firing" }).waitFor({ timeout: 10000 });
  check(await page.locator("#alerts tr.alert").count() === 0, "alerts panel: nothing firing before any alert");
  // alert_history as the alert module creates it (src/alert/alert.c), one firing and one resolved alert
  srv.stdin.write("CREATE TABLE alert_history(alert_id TEXT PRIMARY KEY, alert_type TEXT, rule TEXT, alert_key TEXT, labels TEXT, " +
    "severity TEXT, message TEXT, state TEXT, created_at TEXT, resolved_at TEXT, channels_sent TEXT, notified_by TEXT, table_name TEXT); " +
    "INSERT INTO alert_history VALUES('dup_rate-1-1', 'dup_rate', 'dup_rate', 'loc-3', '{\"location_id\":\"loc-3\"}', 'critical', " +
    "'loc-3 duplicates at 31%', 'firing', '2023-11-14T23:01:00Z', NULL, 'hook', 'dup_rate-1-1', 'detection_events'), " +
    "('lag-1-1', 'lag', 'lag', '', '{}', 'warning', 'lag above 2 minutes', 'resolved', '2023-11-14T22:00:00Z', '2023-11-14T22:05:00Z', '', 'lag-1-1', '_sluice_events');\n");
  const firing = page.locator("#alerts tr.alert.firing[data-rule=dup_rate]");
  await firing.waitFor({ timeout: 10000 });
  check((await firing.textContent()).includes("loc-3 duplicates at 31%") && (await firing.getAttribute("data-key")) === "loc-3",
    "alerts panel lists the firing alert (rule, key, message)");
  check(await page.locator("#alerts tr.alert").count() === 1, "only the firing alert is listed as firing");
  check(await page.locator("#alerts .tbl td", { hasText: "lag above 2 minutes" }).count() === 1, "the resolved alert is in the recent list");
  check((await page.locator("#alerts-meta").textContent()) === "1 firing", "alerts panel header counts 1 firing");
  await page.screenshot({ path: `${process.env.SHOTS}/pipeline.png`, fullPage: true });

  check(errors.length === 0, "no page errors" + (errors.length ? ": " + errors.join(" | ") : ""));
  check(external.length === 0, "no request leaves the server (works offline)" + (external.length ? ": " + external.join(" ") : ""));
} catch (e) {
  console.log("FAIL: " + (e.stack || e));
  failed = true;
} finally {
  await browser.close();
  srv.stdin.end();
}
await new Promise(r => srv.on("exit", r));
process.exit(failed ? 1 : 0);
