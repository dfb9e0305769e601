#!/usr/bin/env python3
"""hostile.py PORT TOKEN SECONDS - hostile HTTP clients against the server
(test_hostile.sh), all bounded in count and time, from 127.0.0.x source
addresses other than 127.0.0.1 (one client address, as a real attacker):

  slow   160 connections trickling a header line every 0.5 s, never ending
         their headers (40 from 127.0.0.10: over the per-address cap; 30 from
         each of .11-.14); a closed one reconnects 0.2 s later
  sse    150 SSE streams (30 from each of 127.0.0.20-.24): over the stream cap

Meanwhile /healthz is asked from 127.0.0.1 every 0.25 s with a 2 s timeout.
Prints one JSON line of counts; exits 1 if a health check failed or was slow."""
import json, selectors, socket, sys, time

port, token, secs = int(sys.argv[1]), sys.argv[2], float(sys.argv[3])
sel = selectors.DefaultSelector()
stats = dict(slow_opened=0, slow_closed=0, sse_200=0, sse_503=0, sse_other=0,
             health_ok=0, health_bad=0, health_max_s=0.0)
conns = {}  # socket -> dict(kind, src, next, buf)


def open_conn(kind, src):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setblocking(False)
    try:
        s.bind((src, 0))
        s.connect_ex(("127.0.0.1", port))
    except OSError:
        s.close()
        return
    c = dict(kind=kind, src=src, next=time.monotonic() + 0.2, sent=0, buf=b"")
    conns[s] = c
    sel.register(s, selectors.EVENT_READ, c)
    if kind == "slow":
        stats["slow_opened"] += 1


def drop(s):
    sel.unregister(s)
    del conns[s]
    s.close()


def health():
    t0 = time.monotonic()
    ok = False
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2) as h:
            h.settimeout(2)
            h.sendall(b"GET /healthz HTTP/1.0\r\n\r\n")
            data = b""
            while True:
                d = h.recv(4096)
                if not d:
                    break
                data += d
            ok = data.startswith(b"HTTP/1.") and b" 200 " in data.split(b"\r\n")[0]
    except OSError as e:
        data = repr(e).encode()
    dt = time.monotonic() - t0
    if not ok:
        print("healthz failed after %.3f s: %r" % (dt, data[:80]), file=sys.stderr)
    stats["health_max_s"] = max(stats["health_max_s"], round(dt, 3))
    stats["health_ok" if ok and dt < 2 else "health_bad"] += 1


slow_srcs = ["127.0.0.10"] * 40 + [f"127.0.0.{a}" for a in range(11, 15) for _ in range(30)]
sse_srcs = [f"127.0.0.{a}" for a in range(20, 25) for _ in range(30)]
for src in slow_srcs:
    open_conn("slow", src)
for src in sse_srcs:
    open_conn("sse", src)
end = time.monotonic() + secs
next_health = time.monotonic()
pending = []  # (when, src) of slow connections to reopen
while time.monotonic() < end:
    now = time.monotonic()
    while pending and pending[0][0] <= now:
        open_conn("slow", pending.pop(0)[1])
    for key, _ in sel.select(timeout=0.05):
        s, c = key.fileobj, key.data
        try:
            d = s.recv(65536)
        except OSError:
            d = b""
        if not d:
            if c["kind"] == "slow":
                stats["slow_closed"] += 1
                drop(s)
                pending.append((time.monotonic() + 0.2, c["src"]))  # reconnect: keep the pressure on
            else:
                drop(s)
            continue
        if c["kind"] == "sse" and not c.get("status"):
            c["buf"] += d
            if b"\r\n" in c["buf"]:
                line = c["buf"].split(b"\r\n")[0]
                c["status"] = line.split(b" ")[1] if len(line.split(b" ")) > 1 else b"?"
                st = {b"200": "sse_200", b"503": "sse_503"}.get(c["status"], "sse_other")
                stats[st] += 1
                c["buf"] = b""
    now = time.monotonic()
    for s, c in list(conns.items()):
        if c["next"] > now:
            continue
        try:
            if c["kind"] == "slow":
                s.send(b"GET / HTTP/1.1\r\n" if c["sent"] == 0 else b"X-Slow: %d\r\n" % c["sent"])
                c["sent"] += 1
                c["next"] = now + 0.5
            elif c["sent"] == 0:
                s.send(b"GET /api/tables/detection_events/stream HTTP/1.1\r\nHost: x\r\n"
                       b"Authorization: Bearer " + token.encode() + b"\r\n\r\n")
                c["sent"] = 1
                c["next"] = end + 1
            else:
                c["next"] = end + 1
        except OSError:
            c["next"] = now + 0.5
    if now >= next_health:
        health()
        next_health = time.monotonic() + 0.25
for s in list(conns):
    drop(s)
print(json.dumps(stats))
sys.exit(0 if stats["health_bad"] == 0 and stats["health_ok"] > 0 else 1)
