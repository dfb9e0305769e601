#!/usr/bin/env python3
"""jobs_api.py - a local jobs API for test_http_poll.sh, shaped like a common
job-run listing: GET /api/2.1/jobs/runs/list?start_time_from=MS&limit=N&page_token=T
answers {"runs": [{run_id, job_id, state, start_time, end_time}], "has_more",
"next_page_token"}, runs in ascending (start_time, run_id) order, those with
start_time >= start_time_from. The data grows while the test runs: runs are
added every 50 ms with a start time never below the largest one, often several
with the same start time, some of them added later than the others (a tie at
the cursor value that appears after a poll has passed it).

Requests need "Authorization: Bearer TOKEN". Faults: every FAIL_EVERY-th
request is answered 500, every LIMIT_EVERY-th 429 with Retry-After: 1.
GET /admin/stop stops the growth; GET /admin/all returns every run (the
brute-force answer); GET /admin/stats counts requests and faults;
GET /bad/... answers a document of the wrong shape.

Usage: jobs_api.py PORT_FILE TOKEN [SECONDS_OF_GROWTH] [FAIL_EVERY] [LIMIT_EVERY]
"""
import json
import random
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

port_file, token = sys.argv[1], sys.argv[2]
grow_s = float(sys.argv[3]) if len(sys.argv) > 3 else 6.0
fail_every = int(sys.argv[4]) if len(sys.argv) > 4 else 7
limit_every = int(sys.argv[5]) if len(sys.argv) > 5 else 11

lock = threading.Lock()
runs = []
stats = {"requests": 0, "e500": 0, "e429": 0, "e401": 0}
stop = threading.Event()
rnd = random.Random(16)
BASE = 1767225600000
state = {"t": BASE, "next_id": 1000}


def add(n_ties):
    """n_ties runs at one start time: the current largest, or a later one."""
    with lock:
        if runs and rnd.random() < 0.3:
            t = state["t"]  # a late tie at the largest start time
        else:
            state["t"] += rnd.choice([1, 1, 250, 1000])
            t = state["t"]
        for _ in range(n_ties):
            rid = state["next_id"]
            state["next_id"] += rnd.randint(1, 3)
            runs.append({"run_id": rid, "job_id": rid % 17, "state": rnd.choice(["TERMINATED", "RUNNING", "SKIPPED"]),
                         "start_time": t, "end_time": t + rnd.randint(1000, 90000)})


def grow():
    end = time.time() + grow_s
    while not stop.is_set() and time.time() < end:
        add(rnd.choice([1, 1, 2, 3]))
        time.sleep(0.05)


for _ in range(20):
    add(rnd.choice([1, 2, 3]))


class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def send(self, code, body, headers=()):
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        u = urlparse(self.path)
        q = {k: v[0] for k, v in parse_qs(u.query).items()}
        if u.path == "/admin/stop":
            stop.set()
            return self.send(200, {"ok": True})
        if u.path == "/admin/all":
            with lock:
                return self.send(200, {"runs": list(runs)})
        if u.path == "/admin/stats":
            with lock:
                return self.send(200, dict(stats))
        if self.headers.get("Authorization") != "Bearer " + token:
            with lock:
                stats["e401"] += 1
            return self.send(401, {"error_code": "UNAUTHENTICATED"})
        if u.path.startswith("/bad/"):
            return self.send(200, {"runs": {"run_id": 1}, "has_more": False})
        if u.path != "/api/2.1/jobs/runs/list":
            return self.send(404, {"error_code": "NOT_FOUND"})
        with lock:
            stats["requests"] += 1
            n = stats["requests"]
            if fail_every and n % fail_every == 0:
                stats["e500"] += 1
                return self.send(500, {"error_code": "INTERNAL_ERROR"})
            if limit_every and n % limit_every == 0:
                stats["e429"] += 1
                return self.send(429, {"error_code": "REQUEST_LIMIT_EXCEEDED"}, [("Retry-After", "1")])
            sel = sorted((r for r in runs if r["start_time"] >= int(q.get("start_time_from", 0))),
                         key=lambda r: (r["start_time"], r["run_id"]))
        limit = int(q.get("limit", 25))
        off = int(q.get("page_token", "o0")[1:])
        page = sel[off:off + limit]
        more = off + limit < len(sel)
        body = {"runs": page, "has_more": more}
        if more:
            body["next_page_token"] = "o%d" % (off + limit)
        self.send(200, body)


srv = ThreadingHTTPServer(("127.0.0.1", 0), H)
threading.Thread(target=grow, daemon=True).start()
with open(port_file + ".tmp", "w") as f:
    f.write(str(srv.server_address[1]))
import os
os.rename(port_file + ".tmp", port_file)
srv.serve_forever()
