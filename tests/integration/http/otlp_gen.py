"""otlp_gen.py OUT_DIR REQUESTS SEED: OTLP/HTTP JSON log export requests shaped as the
OpenTelemetry collector's otlphttp exporter sends them (encoding: json: camelCase keys,
int64 as strings, ids as hex), one file per request (req-N.json), and the rows the
http source must store, as CSV in OUT_DIR/expected.csv (the brute-force answer)."""
import csv
import datetime
import json
import os
import random
import sys

out, nreq, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rnd = random.Random(seed)
rows = []


def ts(ns):
    us = ns // 1000
    d = datetime.datetime(1970, 1, 1) + datetime.timedelta(microseconds=us)
    s = d.strftime("%Y-%m-%dT%H:%M:%S")
    if us % 1000000 == 0:
        return s + "Z"
    if us % 1000 == 0:
        return s + ".%03dZ" % (us // 1000 % 1000)
    return s + ".%06dZ" % (us % 1000000)


sev = [(5, "DEBUG"), (9, "INFO"), (13, "WARN"), (17, "ERROR")]
for r in range(nreq):
    resource_logs = []
    for _ in range(rnd.randint(1, 3)):
        svc = rnd.choice(["checkout", "cart", "payments"])
        host = "host-%d" % rnd.randint(1, 5)
        scopes = []
        for _ in range(rnd.randint(1, 2)):
            scope = rnd.choice(["app.logger", "io.opentelemetry.http"])
            recs = []
            for _ in range(rnd.randint(1, 40)):
                ns = 1700000000000000000 + rnd.randint(0, 10**15) * 1000 + rnd.choice([0, 123, 456789])
                num, text = rnd.choice(sev)
                body = rnd.choice(["paid order %d" % rnd.randint(1, 999), 'quote "x" \\ done', "ünïcode ✓"])
                trace = "%032x" % rnd.getrandbits(128)
                span = "%016x" % rnd.getrandbits(64)
                status = rnd.choice([200, 404, 500])
                retry = rnd.choice([True, False])
                attrs = [{"key": "http.status_code", "value": {"intValue": str(status)}},
                         {"key": "retry", "value": {"boolValue": retry}}]
                rec = {"timeUnixNano": str(ns), "observedTimeUnixNano": str(ns + 5),
                       "severityNumber": num, "severityText": text,
                       "body": {"stringValue": body}, "attributes": attrs,
                       "droppedAttributesCount": 0, "flags": 1,
                       "traceId": trace, "spanId": span}
                recs.append(rec)
                rows.append([ts(ns // 1000 * 1000), num, text, body, trace, span, scope, svc, host,
                             status, 1 if retry else 0])
            scopes.append({"scope": {"name": scope, "version": "1.2.3"}, "logRecords": recs})
        resource_logs.append({
            "resource": {"attributes": [
                {"key": "service.name", "value": {"stringValue": svc}},
                {"key": "host.name", "value": {"stringValue": host}},
                {"key": "process.pid", "value": {"intValue": "4242"}}]},
            "scopeLogs": scopes,
            "schemaUrl": "https://opentelemetry.io/schemas/1.21.0"})
    with open(os.path.join(out, "req-%03d.json" % r), "w") as f:
        json.dump({"resourceLogs": resource_logs}, f, ensure_ascii=False)
with open(os.path.join(out, "expected.csv"), "w", newline="") as f:
    csv.writer(f).writerows(rows)
