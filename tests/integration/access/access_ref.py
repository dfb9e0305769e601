#!/usr/bin/env python3
"""access_ref.py - checks pipelines/access-logs.yaml's path_latency_1m by brute force.

    access_ref.py GEN_DIR SLUICE_DB

Reads the generated access logs (*.log in name order) with its own
parser (a regular expression and strptime, sharing nothing with the engine),
groups the requests by minute and path (the target without its query
string), and compares every row of path_latency_1m in SLUICE_DB: the same
(window, path) rows, exact counts and error counts, error rates to 1e-12,
p50/p95/p99 within the sketch's 1 % relative bound of the exact value of rank
floor(q * (n - 1)); and the quarantine's count with the malformed lines.
Prints a summary; exits 1 with the differences when anything differs.
"""
import glob
import math
import os
import re
import sqlite3
import sys
from datetime import datetime

LINE = re.compile(r'^(\S+) (\S+) (\S+) \[([^\]]*)\] "([^"]*)" (\S+) (\S+) "([^"]*)" "([^"]*)"(?: (\S+))?$')


def main():
    gen, db = sys.argv[1], sys.argv[2]
    groups = {}
    bad = 0
    total = 0
    for path in sorted(glob.glob(os.path.join(gen, "*.log"))):
        with open(path, encoding="utf-8") as f:
            for line in f:
                line = line.rstrip("\n")
                if not line.strip():
                    continue
                total += 1
                m = LINE.match(line)
                try:
                    if not m:
                        raise ValueError("no match")
                    t = datetime.strptime(m.group(4), "%d/%b/%Y:%H:%M:%S %z")
                    status = int(m.group(6))
                except ValueError:
                    bad += 1
                    continue
                target = m.group(5).split(" ")[1]
                route = target.split("?")[0].split("#")[0]
                rt = m.group(10)
                rt = None if rt in (None, "-") else float(rt)
                minute = int(t.timestamp()) // 60 * 60
                g = groups.setdefault((minute, route), {"n": 0, "rt": [], "e5": 0, "e4": 0})
                g["n"] += 1
                if rt is not None:
                    g["rt"].append(rt)
                g["e5"] += status >= 500
                g["e4"] += status >= 400
    con = sqlite3.connect(db)
    rows = con.execute(
        "SELECT window_start, route, requests, p50_request_time, p95_request_time, p99_request_time,"
        " server_errors, errors, server_error_rate, error_rate, is_final FROM path_latency_1m").fetchall()
    errors = []
    seen = set()
    for ws, route, n, p50, p95, p99, e5, e4, r5, r4, fin in rows:
        minute = int(datetime.strptime(ws, "%Y-%m-%dT%H:%M:%S%z").timestamp())
        key = (minute, route)
        seen.add(key)
        g = groups.get(key)
        if g is None:
            errors.append("extra row %s %s" % (ws, route))
            continue
        if (n, e5, e4, fin) != (g["n"], g["e5"], g["e4"], 1):
            errors.append("%s %s: requests/5xx/4xx/final %s, want %s" % (ws, route, (n, e5, e4, fin), (g["n"], g["e5"], g["e4"], 1)))
        if abs(r5 - g["e5"] / g["n"]) > 1e-12 or abs(r4 - g["e4"] / g["n"]) > 1e-12:
            errors.append("%s %s: rates %s %s" % (ws, route, r5, r4))
        v = sorted(g["rt"])
        for q, got in ((0.5, p50), (0.95, p95), (0.99, p99)):
            if not v:
                if got is not None:
                    errors.append("%s %s: p%g %s, want NULL" % (ws, route, q * 100, got))
                continue
            exact = v[math.floor(q * (len(v) - 1))]
            if got is None or abs(got - exact) > 0.01 * abs(exact) + 1e-12:
                errors.append("%s %s: p%g %s, exact %s" % (ws, route, q * 100, got, exact))
    for key in groups:
        if key not in seen:
            errors.append("missing row %s %s" % key)
    quarantined = con.execute("SELECT count(*) FROM quarantine").fetchone()[0]
    if quarantined != bad:
        errors.append("quarantine holds %d records, %d lines are malformed" % (quarantined, bad))
    if errors:
        print("\n".join(errors[:20]), file=sys.stderr)
        sys.exit(1)
    print("%d lines, %d malformed, %d window rows" % (total, bad, len(rows)))


main()
