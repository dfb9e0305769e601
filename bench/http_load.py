"""http_load.py - the client side of bench/http.sh.

  http_load.py INGEST_URL QUERY_URL BATCH_DIR CONNECTIONS PROBES

Phase 1 (throughput): every batch file (1,000 NDJSON events each) is POSTed once,
over CONNECTIONS keep-alive connections in parallel; a 200 means the batch is
committed (the http source answers after the commit), so events / (last answer -
first request) is end-to-end ingest throughput. Phase 2 (freshness): PROBES single
events are POSTed one at a time while a background connection keeps posting
batches (~10,000 events/s), and each is timed from the start of its POST until
/api/query sees it. Prints one line of key=value results."""
import http.client
import json
import os
import sys
import threading
import time
import urllib.parse

ingest, query, bdir, conns, probes = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
iu, qu = urllib.parse.urlsplit(ingest), urllib.parse.urlsplit(query)
files = sorted(os.path.join(bdir, f) for f in os.listdir(bdir))
bodies = [open(f, "rb").read() for f in files]
events = sum(b.count(b"\n") for b in bodies)
HDR = {"Content-Type": "application/x-ndjson"}


def post(c, body, headers=HDR):
    while True:
        c.request("POST", iu.path, body, headers)
        r = c.getresponse()
        data = r.read()
        if r.status == 200:
            return data
        if r.status in (429, 503):
            time.sleep(float(r.getheader("Retry-After", "1")) / 10)
            continue
        raise SystemExit("HTTP %d: %s" % (r.status, data[:200]))


errors = []


def worker(k):
    try:
        c = http.client.HTTPConnection(iu.hostname, iu.port, timeout=120)
        for i in range(k, len(bodies), conns):
            post(c, bodies[i])
        c.close()
    except BaseException as e:  # reported by the main thread
        errors.append(repr(e))


t0 = time.monotonic()
ts = [threading.Thread(target=worker, args=(k,)) for k in range(conns)]
for t in ts:
    t.start()
for t in ts:
    t.join()
wall = time.monotonic() - t0
if errors:
    raise SystemExit("client errors: " + errors[0])

stop = False


def background():
    c = http.client.HTTPConnection(iu.hostname, iu.port, timeout=120)
    i = 0
    while not stop:
        post(c, bodies[i % len(bodies)])
        i += 1
        time.sleep(0.1)


bg = threading.Thread(target=background)
bg.start()
qc = http.client.HTTPConnection(qu.hostname, qu.port, timeout=30)
pc = http.client.HTTPConnection(iu.hostname, iu.port, timeout=30)
lat = []
for p in range(probes):
    oid = 990000000000 + p
    body = json.dumps({"detection_oid": oid, "video_camera_oid": 1, "geographical_location_oid": 1,
                       "item_name": "probe", "timestamp_detected": int(time.time() * 1000)}).encode() + b"\n"
    sql = urllib.parse.urlencode({"sql": "SELECT count(*) FROM detection_events WHERE detection_oid=%d" % oid})
    t1 = time.monotonic()
    post(pc, body)
    while True:
        qc.request("GET", qu.path + "?" + sql)
        r = qc.getresponse()
        d = json.loads(r.read())
        if d.get("rows") and d["rows"][0][0] >= 1:
            break
        time.sleep(0.002)
    lat.append((time.monotonic() - t1) * 1000)
    time.sleep(0.1)
stop = True
bg.join()
lat.sort()


def pct(q):
    return lat[min(len(lat) - 1, int((len(lat) - 1) * q))] if lat else float("nan")


print("events=%d batches=%d connections=%d wall_s=%.2f events_per_s=%.0f freshness_p50_ms=%.1f "
      "freshness_p99_ms=%.1f probes=%d" % (events, len(bodies), conns, wall, events / wall, pct(0.5),
                                          pct(0.99), len(lat)))
