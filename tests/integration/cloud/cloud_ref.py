#!/usr/bin/env python3
"""cloud_ref.py - brute-force answer for pipelines/cloud.yaml (seed 004).

    cloud_ref.py IN_DIR EXPECTED_DB

Reads what `sluice gen cloud` wrote under IN_DIR (master/*.csv, usage/*.jsonl)
and recomputes, sharing no code with the engine, every mart of the pipeline
and the counts of rows kept and quarantined by reason:

  - usage records in the order the pipeline reads them (files by name, lines
    in order); a line that is not a JSON object is malformed; then, in the
    silver table's order: schema_version in (1, 2), cost_usd_increment >=
    -0.01, event_id and resource_id present; late when the event time is below
    the largest event time of the records before it minus 10 minutes (late
    records do not move it); a duplicate when its event_id was kept before
    within a day of event time; v1's value is v2's quantity, genai_tokens and
    carbon_kg 0 where v1 lacks them;
  - the resource join: the last resources.csv row of the event's resource_id
    gives org_id and service; none: quarantined;
  - the temporal join: the org's plan version valid at the event's time
    (effective_from <= t < effective_to), versions rebuilt from
    org_plan_changes.csv by the scd2 rules (a row with the same tier as the
    current version changes nothing; an older change is ignored);
  - cost anomalies per service against the previous 200 costs of that service
    (at least 30): |z| > 3 (sample stddev), |0.6745 (x - median) / MAD| > 3,
    x > the value of rank floor(0.99 (n - 1)) of the sorted baseline x 1.5;
  - the marts grouped by UTC day and calendar month.
"""
import calendar
import csv
import json
import math
import os
import sqlite3
import sys
from collections import OrderedDict, defaultdict, deque

DAY_MS = 86400000
WATERMARK_DELAY_MS = 10 * 60000
DEDUPE_HORIZON_MS = DAY_MS
BASELINE, BASELINE_MIN = 200, 30


def ts_ms(s):
    """ISO 8601 UTC text (YYYY-MM-DDTHH:MM:SS[.mmm]Z) -> epoch milliseconds."""
    if s is None or s == "":
        return None
    s = s.rstrip("Z")
    main, _, frac = s.partition(".")
    y, mo, d = int(main[0:4]), int(main[5:7]), int(main[8:10])
    h, mi, se = int(main[11:13]), int(main[14:16]), int(main[17:19])
    ms = int((frac + "000")[:3]) if frac else 0
    return calendar.timegm((y, mo, d, h, mi, se, 0, 0, 0)) * 1000 + ms


def day_text(ms):
    t = ms // 1000
    y, mo, d = __import__("time").gmtime(t)[:3]
    return "%04d-%02d-%02d" % (y, mo, d)


def read_csv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def median(sorted_vals):
    n = len(sorted_vals)
    return sorted_vals[n // 2] if n % 2 else (sorted_vals[n // 2 - 1] + sorted_vals[n // 2]) / 2.0


def scd2_versions(rows):
    """org_id -> list of (from_ms, to_ms or None, tier), by the scd2 rules."""
    cur = {}
    out = defaultdict(list)
    for r in rows:
        k, tier, t = r["org_id"], r["plan_tier"], ts_ms(r["changed_at"])
        if t is None:
            continue
        if k not in cur:
            out[k].append([t, None, tier])
            cur[k] = out[k][-1]
            continue
        v = cur[k]
        if v[2] == tier:
            continue
        if t > v[0]:
            v[1] = t
            out[k].append([t, None, tier])
            cur[k] = out[k][-1]
        elif t == v[0]:
            v[2] = tier
    return out


def plan_at(versions, t):
    for f, to, tier in versions:
        if f <= t and (to is None or t < to):
            return tier
    return None


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: cloud_ref.py IN_DIR EXPECTED_DB")
    ind, outdb = sys.argv[1], sys.argv[2]
    master = os.path.join(ind, "master")
    counts = defaultdict(int)

    resources = {}
    for r in read_csv(os.path.join(master, "resources.csv")):
        resources[r["resource_id"]] = (r["org_id"], r["service"])
    plans = scd2_versions(read_csv(os.path.join(master, "org_plan_changes.csv")))
    counts["dim_org_plan"] = sum(len(v) for v in plans.values())

    # ---- usage: bronze -> silver
    silver = []
    max_t = None
    seen = {}
    ufiles = sorted(f for f in os.listdir(os.path.join(ind, "usage")) if f.endswith(".jsonl"))
    for fn in ufiles:
        with open(os.path.join(ind, "usage", fn)) as f:
            for line in f:
                line = line.rstrip("\n")
                if not line:
                    continue
                try:
                    e = json.loads(line)
                except ValueError:
                    e = None
                if not isinstance(e, dict):
                    counts["malformed"] += 1
                    continue
                counts["bronze"] += 1
                if e.get("schema_version") not in (1, 2):
                    counts["known_schema_version"] += 1
                    continue
                c = e.get("cost_usd_increment")
                if c is None or not c >= -0.01:
                    counts["cost_increment_valid"] += 1
                    continue
                if e.get("event_id") is None or e.get("resource_id") is None:
                    counts["has_event_id"] += 1
                    continue
                t = ts_ms(e.get("timestamp"))
                if max_t is not None and t < max_t - WATERMARK_DELAY_MS:
                    counts["late"] += 1
                    continue
                max_t = t if max_t is None else max(max_t, t)
                k = e["event_id"]
                if k in seen and abs(t - seen[k]) <= DEDUPE_HORIZON_MS:
                    counts["duplicates"] += 1
                    continue
                seen[k] = t
                q = e.get("quantity")
                if q is None:
                    q = e.get("value")
                silver.append({
                    "event_id": k, "t": t, "resource_id": e["resource_id"],
                    "quantity": q, "cost": float(c),
                    "genai_tokens": e.get("genai_tokens") or 0,
                    "carbon_kg": float(e.get("carbon_kg") or 0.0),
                    "date": day_text(t),
                })
    counts["silver_usage_events"] = len(silver)

    # ---- enrichment: resource (quarantine when unknown), plan as of the event
    enriched = []
    for r in silver:
        res = resources.get(r["resource_id"])
        if res is None:
            counts["join_resources"] += 1
            continue
        r["org_id"], r["service"] = res
        r["plan_tier"] = plan_at(plans.get(r["org_id"], []), r["t"])
        enriched.append(r)
    counts["usage_enriched"] = len(enriched)

    # ---- cost anomalies per service
    base = defaultdict(deque)
    anomalies = []
    for r in enriched:
        b = base[r["service"]]
        x = r["cost"]
        n = len(b)
        z = rz = thr = None
        mean = sd = None
        if n:
            mean = sum(b) / n
        if n >= 2:
            sd = math.sqrt(sum((v - mean) ** 2 for v in b) / (n - 1))
        reasons = []
        if n >= BASELINE_MIN:
            if sd:
                z = (x - mean) / sd
                if abs(z) > 3.0:
                    reasons.append("zscore")
            s = sorted(b)
            med = median(s)
            mad = median(sorted(abs(v - med) for v in s))
            if mad:
                rz = 0.6745 * (x - med) / mad
                if abs(rz) > 3.0:
                    reasons.append("mad")
            thr = s[int(math.floor(0.99 * (n - 1)))] * 1.5
            if x > thr:
                reasons.append("percentile")
        r["is_anomaly"] = 1 if reasons else 0
        if reasons:
            anomalies.append((r, z, rz, thr, reasons))
        b.append(x)
        if len(b) > BASELINE:
            b.popleft()
    counts["cost_anomaly_mart"] = len(anomalies)

    # ---- marts
    daily = OrderedDict()
    genai = OrderedDict()
    monthly = OrderedDict()
    for r in enriched:
        k = (r["org_id"], r["service"], r["date"])
        g = daily.setdefault(k, {"events": 0, "quantity": 0.0, "cost": 0.0, "tokens": 0,
                                 "carbon": 0.0, "plan": None, "plan_t": None})
        g["events"] += 1
        g["quantity"] += r["quantity"]
        g["cost"] += r["cost"]
        g["tokens"] += r["genai_tokens"]
        g["carbon"] += r["carbon_kg"]
        # max_by(plan_tier, event_ts): times strictly increase, so the latest row
        if g["plan_t"] is None or r["t"] > g["plan_t"]:
            g["plan"], g["plan_t"] = r["plan_tier"], r["t"]
        ym = (int(r["date"][0:4]), int(r["date"][5:7]))
        m = monthly.setdefault((r["org_id"],) + ym, {"events": 0, "revenue": 0.0, "days": set()})
        m["events"] += 1
        m["revenue"] += r["cost"]
        m["days"].add(r["date"])
        if r["service"] == "genai":
            gg = genai.setdefault((r["org_id"], r["date"]),
                                  {"events": 0, "tokens": 0, "cost": 0.0, "carbon": 0.0})
            gg["events"] += 1
            gg["tokens"] += r["genai_tokens"]
            gg["cost"] += r["cost"]
            gg["carbon"] += r["carbon_kg"]

    # ---- tickets
    tick = OrderedDict()
    tmax = None
    for r in read_csv(os.path.join(master, "support_tickets.csv")):
        c = ts_ms(r["created_at"])
        if not r["org_id"] or c is None:
            counts["ticket_has_org"] += 1
            continue
        if tmax is not None and c < tmax - DAY_MS:
            counts["tickets_late"] += 1
            continue
        tmax = c if tmax is None else max(tmax, c)
        res = ts_ms(r["resolved_at"])
        rh = (res - c) / 3600000.0 if res is not None else None
        breached = None if rh is None else rh > int(r["sla_hours"])
        g = tick.setdefault((r["org_id"], day_text(c)),
                            {"tickets": 0, "resolved": 0, "critical": 0, "breaches": 0,
                             "rated_breach": 0, "rh": [], "csat": []})
        g["tickets"] += 1
        g["resolved"] += res is not None
        g["critical"] += r["severity"] == "critical"
        if breached is not None:
            g["rated_breach"] += 1
            g["breaches"] += 1 if breached else 0
        if rh is not None:
            g["rh"].append(rh)
        if r["csat"] != "":
            g["csat"].append(int(r["csat"]))
        counts["support_tickets"] += 1

    if os.path.exists(outdb):
        os.remove(outdb)
    db = sqlite3.connect(outdb)
    db.execute("CREATE TABLE counts (name TEXT PRIMARY KEY, n INTEGER)")
    db.executemany("INSERT INTO counts VALUES (?, ?)", sorted(counts.items()))
    db.execute("CREATE TABLE org_daily_usage_by_service (org_id, service, date, events, total_quantity,"
               " total_cost_usd, genai_tokens, carbon_kg, plan_tier)")
    db.executemany("INSERT INTO org_daily_usage_by_service VALUES (?,?,?,?,?,?,?,?,?)",
                   [k + (g["events"], g["quantity"], g["cost"], g["tokens"], g["carbon"], g["plan"])
                    for k, g in daily.items()])
    db.execute("CREATE TABLE revenue_by_org_month (org_id, year, month, events, revenue_usd, active_days)")
    db.executemany("INSERT INTO revenue_by_org_month VALUES (?,?,?,?,?,?)",
                   [k + (m["events"], m["revenue"], len(m["days"])) for k, m in monthly.items()])
    db.execute("CREATE TABLE genai_tokens_by_org_date (org_id, date, events, genai_tokens, genai_cost_usd,"
               " carbon_kg)")
    db.executemany("INSERT INTO genai_tokens_by_org_date VALUES (?,?,?,?,?,?)",
                   [k + (g["events"], g["tokens"], g["cost"], g["carbon"]) for k, g in genai.items()])
    db.execute("CREATE TABLE cost_anomaly_mart (event_id, org_id, service, date, cost_usd_increment,"
               " zscore, robust_z, pctl_threshold, zscore_flag, mad_flag, pctl_flag, plan_tier)")
    db.executemany("INSERT INTO cost_anomaly_mart VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                   [(r["event_id"], r["org_id"], r["service"], r["date"], r["cost"], z, rz, thr,
                     int("zscore" in rs), int("mad" in rs), int("percentile" in rs), r["plan_tier"])
                    for r, z, rz, thr, rs in anomalies])
    db.execute("CREATE TABLE usage_plan (event_id, org_id, service, plan_tier)")
    db.executemany("INSERT INTO usage_plan VALUES (?,?,?,?)",
                   [(r["event_id"], r["org_id"], r["service"], r["plan_tier"]) for r in enriched])
    db.execute("CREATE TABLE tickets_by_org_date (org_id, date, tickets, resolved, critical, sla_breaches,"
               " sla_breach_rate, avg_resolution_hours, avg_csat, rated)")
    db.executemany("INSERT INTO tickets_by_org_date VALUES (?,?,?,?,?,?,?,?,?,?)",
                   [k + (g["tickets"], g["resolved"], g["critical"], g["breaches"],
                         g["breaches"] / g["rated_breach"] if g["rated_breach"] else None,
                         sum(g["rh"]) / len(g["rh"]) if g["rh"] else None,
                         sum(g["csat"]) / len(g["csat"]) if g["csat"] else None, len(g["csat"]))
                    for k, g in tick.items()])
    db.commit()
    print("usage lines=%d malformed=%d late=%d duplicates=%d silver=%d enriched=%d anomalies=%d "
          "tickets=%d" % (counts["bronze"] + counts["malformed"], counts["malformed"], counts["late"],
                          counts["duplicates"], counts["silver_usage_events"],
                          counts["usage_enriched"], len(anomalies), counts["support_tickets"]))


if __name__ == "__main__":
    main()
