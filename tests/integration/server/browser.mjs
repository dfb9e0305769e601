// browser.mjs - drives headless Chromium over the dashboard served by
// `test_server --serve` (see test_browser.sh): every panel shows data, a row
// inserted into the database appears without a reload (the table panel polls
// only every 30 s, so this is the SSE path), the pipeline page draws the
// lineage and quality tables (the expectations table's last column inside
// its card), and its alerts panel lists an alert once alert_history has a
// firing row (the panel polls /api/alerts); the /sql page runs a query and
// shows an error for a bad one. Then a second server serves dash2.json: y
// labels of six-digit values inside the chart, a single time point not
// stretched over years, the time-range picker changing a panel's rows, a
// template variable filtering, histogram and heatmap canvases, and the stale
// banner while the server is stopped (cleared once it is back). Expected
// counts come from the sqlite3 shell over the same file. Screenshots go to
// $SHOTS.
import { spawn, execFileSync } from "node:child_process";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const TOKEN = "browser-token-42";
const DASH2 = fileURLToPath(new URL("dash2.json", import.meta.url));
const brute = sql => execFileSync("sqlite3", [process.env.DB, sql], { encoding: "utf8" }).trim();
function serve(args) {
  const p = spawn(process.env.TEST_SERVER, ["--serve", process.env.DB, TOKEN, ...args], { stdio: ["pipe", "pipe", "inherit"] });
  p.port = new Promise((resolve, reject) => {
    const rl = createInterface({ input: p.stdout });
    rl.on("line", l => { const m = l.match(/^PORT (\d+)/); if (m) resolve(m[1]); });
    p.on("exit", c => reject(new Error("server exited " + c)));
    setTimeout(() => reject(new Error("server did not start")), 10000);
  });
  p.exited = new Promise(r => p.on("exit", r));
  return p;
}
const srv = serve([]);
const port = await srv.port;
const base = `http://127.0.0.1:${port}`;
let srv2 = null;
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
  const external = [], servers = [base];
  page.on("request", r => { if (!servers.some(b => r.url().startsWith(b + "/"))) external.push(r.url()); });

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
  // the expectations table keeps its last column (pass rate) inside the card, long names wrap
  const fit = await page.evaluate(() => {
    const card = document.getElementById("expect-card").getBoundingClientRect();
    const cells = [...document.querySelectorAll("#expectations tr")].map(tr => tr.lastElementChild.getBoundingClientRect());
    const box = document.querySelector("#expectations .tbl");
    return { rows: cells.length, inside: cells.every(c => c.right <= card.right - 1 && c.width > 20), scroll: box.scrollWidth - box.clientWidth };
  });
  check(fit.rows === 3 && fit.inside && fit.scroll <= 1, `expectations table's last column inside its card (${JSON.stringify(fit)})`);
  check(await page.locator("#expectations td", { hasText: "value_within_physical_bounds_for_metric" }).count() === 1, "long expectation name listed");
  await page.screenshot({ path: `${process.env.SHOTS}/pipeline.png`, fullPage: true });

  // the SQL page: Ctrl-Enter runs, rows and a chart; errors inline
  await page.click("nav a[href='/sql']");
  await page.locator("#sql").waitFor();
  const sq = "SELECT window_start, sum(detections) AS detections, count(*) AS locations FROM detections_by_location_1m GROUP BY 1 ORDER BY 1";
  await page.fill("#sql", sq);
  await page.press("#sql", "Control+Enter");
  await page.locator("#result td").first().waitFor({ timeout: 10000 });
  const want = Number(brute("SELECT count(DISTINCT window_start) FROM detections_by_location_1m"));
  check(await page.locator("#result tbody tr").count() === want, `SQL page shows ${want} rows`);
  const firstSum = brute("SELECT sum(detections) FROM detections_by_location_1m GROUP BY window_start ORDER BY window_start LIMIT 1");
  check((await page.locator("#result tbody tr").first().locator("td").nth(1).textContent()) === firstSum, `first row's sum is ${firstSum}`);
  check(await page.locator("#chart canvas").count() >= 1 && (await page.locator("#chart .u-legend .u-series").count()) === 3, "SQL page charts detections and locations against window_start");
  check(new URL(page.url()).searchParams.get("q") === sq, "statement kept in the URL");
  await page.check("input[name=chart][value=bar]");
  await page.locator("#chart canvas").first().waitFor();
  await page.screenshot({ path: `${process.env.SHOTS}/sql.png`, fullPage: true });
  check(errors.length === 0, "no page errors" + (errors.length ? ": " + errors.join(" | ") : ""));
  await page.fill("#sql", "SELECT nope FROM nowhere");
  await page.keyboard.press("Control+Enter");
  await page.locator("#sql-error", { hasText: "no such table: nowhere" }).waitFor({ timeout: 10000 });
  check(await page.locator("#result td").count() === 0 && await page.locator("#chart canvas").count() === 0, "bad query: error shown inline, the previous result taken away");
  await page.fill("#sql", "DELETE FROM detection_events");
  await page.press("#sql", "Control+Enter");
  await page.locator("#sql-error", { hasText: "not allowed" }).waitFor({ timeout: 10000 });
  check(Number(brute("SELECT count(*) FROM detection_events")) >= 150, "write refused from the SQL page");
  await page.screenshot({ path: `${process.env.SHOTS}/sql-error.png`, fullPage: true });
  /* the browser logs the refused queries' 400 and 403 answers; nothing else */
  check(errors.every(e => /status of 40[03]/.test(e)), "no page errors but the refused queries' answers" + (errors.length ? ": " + errors.join(" | ") : ""));
  check(external.length === 0, "no request leaves the server (works offline)" + (external.length ? ": " + external.join(" ") : ""));

  // ---- second server: the dashboard features over dash2.json ----
  srv.stdin.end();
  await srv.exited;
  srv2 = serve([DASH2]);
  const port2 = await srv2.port;
  const base2 = `http://127.0.0.1:${port2}`;
  servers.push(base2);
  errors.length = 0;
  await page.goto(`${base2}/?token=${TOKEN}&from=2023-11-14T22:15:20Z&to=2023-11-14T22:18:20Z`);
  check(new URL(page.url()).search === "?from=2023-11-14T22:15:20Z&to=2023-11-14T22:18:20Z", `login redirect keeps the range, drops the token (${page.url()})`);
  const panelOf = t => page.locator(`.panel[data-title="${t}"]`);
  const rowsOf = async t => Number(await panelOf(t).getAttribute("data-rows"));
  await page.waitForFunction(() => document.querySelectorAll(".panel").length === 6 &&
    [...document.querySelectorAll(".panel")].every(c => c.dataset.rows !== undefined), null, { timeout: 15000 });
  check(!(await page.locator(".panel[data-error]").count()), "no panel shows an error");
  const inRange = Number(brute("SELECT count(DISTINCT window_start) FROM detections_by_location_1m WHERE window_start >= '2023-11-14T22:15:20Z' AND window_start < '2023-11-14T22:18:20Z'"));
  check(await rowsOf("Big values in range") === inRange, `absolute range from the URL: ${inRange} rows (${await rowsOf("Big values in range")})`);
  check(await page.locator("#range").inputValue() === "abs" && await page.locator("#range-from").isVisible(), "range picker shows the absolute range");
  check(await page.locator("#var-minute option").count() === 1 + inRange, `a variable over the range lists its ${inRange} minutes`);

  // y labels of six-digit values fit inside the chart's box; one point is not years wide
  const axes = await page.evaluate(() => charts.filter(c => c.plot && document.body.contains(c.plot.root)).map(c => {
    const u = c.plot, a = u.axes[1], dpr = window.devicePixelRatio || 1;
    u.ctx.save(); u.ctx.font = a.font[0];
    const widest = Math.max(...a._values.map(v => u.ctx.measureText(String(v)).width / dpr));
    u.ctx.restore();
    const right = u.bbox.left / dpr - a.ticks.size - a.gap;
    return { title: c.body.closest(".panel").dataset.title, labels: a._values, left: right - widest, xmin: u.scales.x.min, xmax: u.scales.x.max, x0: u.data[0][0], n: u.data[0].length };
  }));
  const big = axes.find(a => a.title === "Big values in range"), one = axes.find(a => a.title === "One point");
  check(big && big.labels.some(l => String(l).replace(/\D/g, "").length >= 6) && big.left >= 0,
    `six-digit y labels inside the chart box (left edge ${big && big.left.toFixed(1)} px, labels ${big && big.labels.join(" ")})`);
  check(axes.every(a => a.left >= 0), "every chart's y labels inside its box");
  check(one && one.n === 1 && one.xmin <= one.x0 && one.x0 <= one.xmax && one.xmax - one.xmin <= 3600,
    `a single point spans ${one && (one.xmax - one.xmin)} s around it, not years`);

  // histogram and heatmap canvases are drawn and not empty
  const painted = await page.evaluate(() => [...document.querySelectorAll(".panel[data-type=histogram] canvas, .panel[data-type=heatmap] canvas")].map(c => {
    const d = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
    let lit = 0;
    for (let i = 3; i < d.length; i += 4) if (d[i]) lit++;
    return { title: c.closest(".panel").dataset.title, w: c.width, h: c.height, lit, cells: Number(c.closest(".panel").dataset.cells) };
  }));
  check(painted.length === 3 && painted.every(c => c.w > 0 && c.lit > 500 && c.cells > 0), `histogram and heatmap canvases drawn (${JSON.stringify(painted)})`);
  const heat = painted.find(c => c.title === "Detections heatmap");
  const wantCells = Number(brute("SELECT count(*) FROM detections_by_location_1m WHERE window_start >= '2023-11-14T22:15:20Z' AND window_start < '2023-11-14T22:18:20Z'"));
  check(heat && heat.cells === wantCells, `heatmap has ${wantCells} cells in the range (${heat && heat.cells})`);
  // 12 equal buckets from min to max, the last one closed: recomputed by sqlite3
  const V = "(detection_oid % 97) * 1.5";
  const wantBins = brute(`WITH v(x) AS (SELECT ${V} FROM detection_events), m(lo, w) AS (SELECT min(x), (max(x) - min(x)) / 12.0 FROM v)
    SELECT group_concat(n) FROM (SELECT b, count(*) AS n FROM (SELECT min(CAST((x - lo) / w AS INTEGER), 11) AS b FROM v, m) GROUP BY b ORDER BY b)`);
  const gotBins = JSON.parse(await panelOf("Latency histogram").getAttribute("data-counts")).filter(n => n > 0).join(",");
  check(gotBins === wantBins, `histogram bucket counts ${gotBins} (sqlite3: ${wantBins})`);
  const sqlBins = brute("SELECT group_concat(n) FROM (SELECT (detection_oid % 100) / 20 * 20 AS b, count(*) AS n FROM detection_events GROUP BY 1 ORDER BY 1)");
  check(JSON.parse(await panelOf("Bucketed by SQL").getAttribute("data-counts")).join(",") === sqlBins, `SQL-bucketed histogram draws ${sqlBins}`);
  await page.screenshot({ path: `${process.env.SHOTS}/dashboard-features.png`, fullPage: true });

  // the picker: "last 5m" has none of the 2023 rows, "all time" has every one; kept in the URL
  await page.selectOption("#range", "5m");
  await page.locator('.panel[data-title="Big values in range"] .empty').waitFor({ timeout: 10000 });
  check(await rowsOf("Big values in range") === 0 && new URL(page.url()).searchParams.get("range") === "5m", "last 5m: no rows, range=5m in the URL");
  check(await page.locator("#var-minute option").count() === 1, "the range's variable is filled again (only \"all\" in the last 5m)");
  await page.selectOption("#range", "all");
  const all = Number(brute("SELECT count(DISTINCT window_start) FROM detections_by_location_1m"));
  await page.waitForFunction(n => Number(document.querySelector('.panel[data-title="Big values in range"]').dataset.rows) === n, all, { timeout: 10000 });
  check(true, `all time: ${all} rows`);
  await page.selectOption("#refresh", "1s");
  check(new URL(page.url()).searchParams.get("refresh") === "1s", "refresh picker kept in the URL");

  // the template variable: all, then one location (bound, NULL for all)
  const statText = () => panelOf("Events at the location").locator(".stat").textContent();
  const total = brute("SELECT count(*) FROM detection_events");
  check((await statText()).replace(/,/g, "") === total, `variable "all": ${total} events`);
  check(await page.locator("#var-location option").count() === 1 + Number(brute("SELECT count(DISTINCT geographical_location) FROM detection_events")), "variable filled from its query");
  await page.selectOption("#var-location", "loc-3");
  const at3 = brute("SELECT count(*) FROM detection_events WHERE geographical_location = 'loc-3'");
  await page.waitForFunction(n => document.querySelector('.panel[data-title="Events at the location"] .stat').textContent.replace(/,/g, "") === n, at3, { timeout: 10000 });
  check(new URL(page.url()).searchParams.get("var-location") === "loc-3", `variable location=loc-3: ${at3} events, kept in the URL`);
  check(errors.length === 0, "no page errors on the features dashboard" + (errors.length ? ": " + errors.join(" | ") : ""));

  // stale: stop the server, panels keep their data under a banner; back: the banner goes
  const before = await page.locator(".panel canvas").count();
  srv2.stdin.end();
  await srv2.exited;
  await page.locator("#stale-banner").waitFor({ timeout: 10000 });
  const banner = await page.locator("#stale-banner").textContent();
  check(/stale since \d\d:\d\d:\d\d$/.test(banner), `stale banner: "${banner}"`);
  await page.waitForTimeout(2500); /* a few refreshes fail meanwhile */
  check(await page.locator(".panel canvas").count() === before && !(await page.locator(".panel .err").count()), "panels keep their last data while stale");
  await page.screenshot({ path: `${process.env.SHOTS}/dashboard-stale.png`, fullPage: true });
  srv2 = serve([DASH2, port2]);
  await srv2.port;
  await page.locator("#stale-banner").waitFor({ state: "detached", timeout: 10000 }).catch(async e => {
    console.log("status: " + await page.locator("#status-text").textContent());
    await page.screenshot({ path: `${process.env.SHOTS}/dashboard-back.png`, fullPage: true });
    throw e;
  });
  await page.waitForFunction(() => document.getElementById("status-text").textContent.startsWith("live"), null, { timeout: 10000 });
  check(!(await page.locator("#stale-banner").count()), "banner cleared and status live once the server is back");
  check(external.length === 0, "no request leaves the server" + (external.length ? ": " + external.join(" ") : ""));
} catch (e) {
  console.log("FAIL: " + (e.stack || e));
  failed = true;
} finally {
  await browser.close();
  srv.stdin.end();
  if (srv2) srv2.stdin.end();
}
await srv.exited;
if (srv2) await srv2.exited;
process.exit(failed ? 1 : 0);
