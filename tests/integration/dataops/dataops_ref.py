#!/usr/bin/env python3
"""dataops_ref.py - the exact answer for pipelines/dataops.yaml, by brute force.

    dataops_ref.py GEN_DIR EXPECTED_DB

Reads the generated landing files (runs/*.ndjson and metrics/*.ndjson in name
order, the order the pipeline reads them) and recomputes, sharing no code with
the engine, what the pipeline's tables must hold: job_monitoring (checks,
lateness against the running maximum start time minus one hour, deduplication
by run_id, duration anomalies against each job's last 30 successful runs),
job_runs_daily, job_health_scores (penalties, status and trend), resource_metrics
counts and cluster_utilization_1h, and the quarantine counts by reason.
Writes them into EXPECTED_DB (SQLite) for tests/integration/telco/compare.sh.
"""
import glob
import json
import math
import os
import sqlite3
import statistics
import sys
from datetime import datetime, timezone

HOUR = 3600 * 1000
DAY = 24 * HOUR
STATUSES = ("SUCCESS", "FAILED", "TIMEDOUT", "CANCELED")


def parse_ts(s):
    if not isinstance(s, str):
        return None
    dt = datetime.strptime(s, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc)
    return int(round(dt.timestamp() * 1000))


def fmt_ts(ms):
    s, frac = divmod(ms, 1000)
    base = datetime.fromtimestamp(s, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
    return base + ("Z" if frac == 0 else ".%03dZ" % frac)


def lines(gen, sub):
    for path in sorted(glob.glob(os.path.join(gen, sub, "*.ndjson"))):
        with open(path, encoding="utf-8") as f:
            for line in f:
                yield line


def median(v):
    return statistics.median(v)


def score_anomaly(base, x):
    """(is_anomaly, severity) of x against the baseline values base (window rule set)."""
    n = len(base)
    if n < 10:
        return 0, None
    mean = sum(base) / n
    sd = statistics.stdev(base) if n >= 2 else None
    z = (x - mean) / sd if sd else None
    med = median(base)
    mad = median([abs(v - med) for v in base])
    rz = 0.6745 * (x - med) / mad if mad else None
    fired = (z is not None and abs(z) > 3) or (rz is not None and abs(rz) > 3.5)
    if not fired:
        return 0, None
    score = max(abs(v) for v in (z, rz) if v is not None)
    return 1, "critical" if score >= 6 else "warning"


def main():
    gen, out = sys.argv[1], sys.argv[2]
    counts = {}

    def count(k):
        counts[k] = counts.get(k, 0) + 1

    # ---- runs -> job_monitoring
    max_t = None
    seen = set()
    baselines = {}
    jm = []
    for line in lines(gen, "runs"):
        try:
            r = json.loads(line)
        except ValueError:
            count("runs_malformed")
            continue
        st, et = parse_ts(r.get("start_time")), parse_ts(r.get("end_time"))
        dur = r.get("duration_ms")
        if r.get("job_id") is None:
            count("has_job_id")
            continue
        if r.get("run_id") is None:
            count("has_run_id")
            continue
        if r.get("status") not in STATUSES:
            count("known_status")
            continue
        if st is None or et is None:
            count("has_times")
            continue
        if et < st:
            count("end_after_start")
            continue
        if dur is None or dur < 0:
            count("non_negative_duration")
            continue
        if max_t is not None and st < max_t - HOUR:
            count("late")
            continue
        max_t = st if max_t is None else max(max_t, st)
        if r["run_id"] in seen:
            count("duplicate")
            continue
        seen.add(r["run_id"])
        minutes = dur / 60000.0
        anomaly, severity = 0, None
        if r["status"] == "SUCCESS":
            base = baselines.setdefault(r["job_id"], [])
            anomaly, severity = score_anomaly(base, minutes)
            base.append(minutes)
            if len(base) > 30:
                base.pop(0)
        jm.append((r["run_id"], r["job_id"], r["job_name"], r["status"], fmt_ts(st), minutes,
                   anomaly, severity, st))

    # ---- job_runs_daily and job_health_scores
    daily = {}
    for run_id, job_id, job_name, status, st_text, minutes, anomaly, sev, st in jm:
        day = st - st % DAY
        d = daily.setdefault((day, job_id, job_name), {"runs": 0, "succ": [], "fail": 0,
                                                       "max": None, "anom": 0})
        d["runs"] += 1
        if status == "SUCCESS":
            d["succ"].append(minutes)
        if status in ("FAILED", "TIMEDOUT"):
            d["fail"] += 1
        d["max"] = minutes if d["max"] is None else max(d["max"], minutes)
        d["anom"] += anomaly
    daily_rows, health_rows, health_seq = [], [], []
    history = {}
    for (day, job_id, job_name) in sorted(daily, key=lambda k: (k[1], k[0])):
        d = daily[(day, job_id, job_name)]
        succ = d["succ"]
        rate = len(succ) / d["runs"]
        avg = sum(succ) / len(succ) if succ else None
        sd = statistics.stdev(succ) if len(succ) >= 2 else None
        daily_rows.append((fmt_ts(day), job_id, job_name, d["runs"], len(succ), d["fail"], rate,
                           avg, sd, d["max"], d["anom"]))
        cv = sd / avg if sd is not None and avg else None
        p_success = 50 if rate < 0.8 else 25 if rate < 0.95 else 10 if rate < 0.999 else 0
        p_stab = None if cv is None else 30 if cv > 0.5 else 15 if cv > 0.25 else 5 if cv > 0.1 else 0
        p_anom = 20 if d["anom"] > 0 else 0
        score = max(0.0, min(100.0, 100.0 - p_success - (p_stab or 0) - p_anom))
        status = "healthy" if score >= 80 else "degraded" if score >= 50 else "critical"
        prev = history.setdefault(job_id, [])
        trend = None
        if prev:
            delta = score - sum(prev) / len(prev)
            trend = "improving" if delta > 2 else "degrading" if delta < -2 else "stable"
        prev.append(score)
        if len(prev) > 3:
            prev.pop(0)
        stability = None if cv is None else max(0.0, 1.0 - cv)
        health_seq.append((job_id, day, score))
        health_rows.append((fmt_ts(day), job_id, fmt_ts(day + DAY), score, status, trend, rate,
                            stability, p_success, p_stab, p_anom))

    # ---- alert rules (pipelines/dataops.yaml): job_failing fires on the 3rd failed
    # run in a row of a job and resolves on its next run that did not fail;
    # job_health_low fires on a final day under 50 and resolves on one at 50 or
    # more. The clock: the run's start time, the day's start.
    alerts = []

    def replay(rule, rows, needed):
        st = {}
        for key, t, cond in rows:
            k = st.setdefault(key, {"streak": 0, "open": None})
            if cond:
                if k["open"] is None:
                    k["streak"] += 1
                    if k["streak"] >= needed:
                        k["open"] = [rule, key, t, None]
                        alerts.append(k["open"])
            else:
                if k["open"] is not None:
                    k["open"][3] = t
                k["open"] = None
                k["streak"] = 0

    replay("job_failing", [(r[1], r[8], r[3] in ("FAILED", "TIMEDOUT")) for r in jm], 3)
    replay("job_health_low", [(job, day, score < 50) for job, day, score in health_seq], 1)

    # ---- metrics
    mmax = None
    hourly = {}
    good = 0
    for line in lines(gen, "metrics"):
        try:
            m = json.loads(line)
        except ValueError:
            count("metrics_malformed")
            continue
        t = parse_ts(m.get("timestamp"))
        if m.get("cluster_id") is None:
            count("has_cluster_id")
            continue
        if t is None:
            count("has_timestamp")
            continue
        vals = [m.get(k) for k in ("cpu_utilization", "memory_utilization", "disk_utilization")]
        if any(v is None or v < 0 or v > 100 for v in vals):
            count("utilisation_in_range")
            continue
        if mmax is not None and t < mmax - 6 * HOUR:
            count("metrics_late")
            continue
        mmax = t if mmax is None else max(mmax, t)
        good += 1
        h = hourly.setdefault((t - t % HOUR, m["cluster_id"]), [[], [], [], set()])
        h[0].append(vals[0])
        h[1].append(vals[1])
        h[2].append(vals[2])
        h[3].add(m["job_id"])
    counts["resource_metrics"] = good
    counts["job_monitoring"] = len(jm)
    util_rows = []
    for (hour, cluster), (cpu, mem, disk, jobs) in sorted(hourly.items()):
        s = sorted(cpu)
        p95 = s[math.floor(0.95 * (len(s) - 1))]  # rank floor(q (n - 1))
        util_rows.append((fmt_ts(hour), cluster, len(cpu), sum(cpu) / len(cpu), max(cpu), p95,
                          sum(mem) / len(mem), max(disk), len(jobs)))

    if os.path.exists(out):
        os.remove(out)
    db = sqlite3.connect(out)
    db.execute("CREATE TABLE job_monitoring(run_id, job_id, job_name, status, start_time,"
               " duration_minutes, is_anomaly, severity)")
    db.executemany("INSERT INTO job_monitoring VALUES (?,?,?,?,?,?,?,?)", [r[:8] for r in jm])
    db.execute("CREATE TABLE job_runs_daily(window_start, job_id, job_name, runs, successes,"
               " failures, success_rate, avg_duration_minutes, stddev_duration_minutes,"
               " max_duration_minutes, anomalies)")
    db.executemany("INSERT INTO job_runs_daily VALUES (?,?,?,?,?,?,?,?,?,?,?)", daily_rows)
    db.execute("CREATE TABLE job_health_scores(window_start, job_id, calculation_time,"
               " health_score, health_status, trend, success_rate, performance_stability,"
               " success_penalty, stability_penalty, anomaly_penalty)")
    db.executemany("INSERT INTO job_health_scores VALUES (?,?,?,?,?,?,?,?,?,?,?)", health_rows)
    db.execute("CREATE TABLE cluster_utilization_1h(window_start, cluster_id, samples, avg_cpu,"
               " max_cpu, p95_cpu, avg_memory, max_disk, jobs)")
    db.executemany("INSERT INTO cluster_utilization_1h VALUES (?,?,?,?,?,?,?,?,?)", util_rows)
    db.execute("CREATE TABLE alerts(rule, alert_key, created_at, resolved_at)")
    db.executemany("INSERT INTO alerts VALUES (?,?,?,?)",
                   [(r, k, fmt_ts(c), None if z is None else fmt_ts(z)) for r, k, c, z in alerts])
    db.execute("CREATE TABLE counts(name TEXT PRIMARY KEY, n INTEGER)")
    db.executemany("INSERT INTO counts VALUES (?,?)", sorted(counts.items()))
    db.commit()
    print("runs %d, daily rows %d, anomalies %d, metric samples %d, alerts %d; %s" % (
        len(jm), len(daily_rows), sum(r[6] for r in jm), good, len(alerts),
        " ".join("%s=%d" % kv for kv in sorted(counts.items()))))


if __name__ == "__main__":
    main()
