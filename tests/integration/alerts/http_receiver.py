#!/usr/bin/env python3
"""http_receiver.py - a loopback HTTP receiver speaking as Slack, Teams,
PagerDuty and a plain webhook, for test_channels.sh.

Every POST is recorded as one JSON line in LOG: path, headers, body, the
status answered, the time, and whether its Idempotency-Key was seen before
(a receiver that deduplicates processes each key once: "dup": true means it
was answered 200 but not processed again).

Control (a second port, always up): POST /mode with JSON
  {"mode": "ok"|"500"|"429"|"400"|"slow"|"down", "count": N (requests this
   mode applies to, then back to "ok"; 0 = until changed), "retry_after": S,
   "delay": S (slow), "for": S (down: back up after S seconds)}
"down" closes the listening socket (connections are refused) and re-binds
the same port when it ends.

Usage: http_receiver.py LOG PORTFILE   (PORTFILE gets "data_port ctl_port")
"""
import json
import sys
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

LOG, PORTFILE = sys.argv[1], sys.argv[2]
lock = threading.Lock()
state = {"mode": "ok", "count": 0, "retry_after": 1, "delay": 0}
seen = set()
data_server = None
data_port = 0


def log(rec):
    with lock:
        with open(LOG, "a") as f:
            f.write(json.dumps(rec) + "\n")


def take_mode():
    with lock:
        m = dict(state)
        if state["count"] > 0:
            state["count"] -= 1
            if state["count"] == 0:
                state["mode"] = "ok"
        return m


class Data(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(n).decode("utf-8", "replace")
        m = take_mode()
        status, extra = 200, {}
        if m["mode"] == "500":
            status = 500
        elif m["mode"] == "400":
            status = 400
        elif m["mode"] == "429":
            status, extra = 429, {"Retry-After": str(m["retry_after"])}
        elif m["mode"] == "slow":
            time.sleep(m["delay"])
        key = self.headers.get("Idempotency-Key")
        dup = False
        if status == 200 and key:
            with lock:
                dup = key in seen
                seen.add(key)
        log({"t": time.time(), "path": self.path, "status": status, "dup": dup,
             "headers": {k.lower(): v for k, v in self.headers.items()}, "body": body})
        answer = b"ok" if status == 200 else b"error %d" % status
        self.send_response(status)
        for k, v in extra.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)


def serve_data(port):
    global data_server, data_port
    srv = ThreadingHTTPServer(("127.0.0.1", port), Data)
    srv.daemon_threads = True
    data_server, data_port = srv, srv.server_address[1]
    threading.Thread(target=srv.serve_forever, daemon=True).start()


def go_down(seconds):
    global data_server
    srv, data_server = data_server, None
    hold = None
    if srv:
        srv.shutdown()
        srv.server_close()
        # keep the port: a bound socket that does not listen refuses
        # connections, and no other program (a parallel test) can take the
        # port and answer in our place meanwhile
        try:
            hold = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            hold.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            hold.bind(("127.0.0.1", data_port))
        except OSError:
            hold = None
    log({"t": time.time(), "event": "down"})

    def up():
        time.sleep(seconds)
        if hold:
            hold.close()
        for _ in range(100):
            try:
                serve_data(data_port)
                break
            except OSError:
                time.sleep(0.1)
        log({"t": time.time(), "event": "up"})
    threading.Thread(target=up, daemon=True).start()


class Ctl(BaseHTTPRequestHandler):
    def log_message(self, *a):
        pass

    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0"))
        req = json.loads(self.rfile.read(n) or b"{}")
        if req.get("mode") == "down":
            go_down(float(req.get("for", 30)))
        else:
            with lock:
                state["mode"] = req.get("mode", "ok")
                state["count"] = int(req.get("count", 0))
                state["retry_after"] = req.get("retry_after", 1)
                state["delay"] = float(req.get("delay", 0))
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")


serve_data(0)
ctl = ThreadingHTTPServer(("127.0.0.1", 0), Ctl)
with open(PORTFILE + ".tmp", "w") as f:
    f.write("%d %d\n" % (data_port, ctl.server_address[1]))
import os
os.rename(PORTFILE + ".tmp", PORTFILE)
ctl.serve_forever()
