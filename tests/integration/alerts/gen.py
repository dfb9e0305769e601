# gen.py DIR ROWS FILES - readings of 12 hosts, 5 s apart, values random walks
import json
import random
import sys

d, rows, files = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rnd = random.Random(7)
hosts = ["h%02d" % i for i in range(12)]
val = {h: 70.0 for h in hosts}
t0 = 1767225600000
per = rows // files
for f in range(files):
    with open("%s/r-%04d.ndjson" % (d, f), "w") as out:
        for i in range(per):
            n = f * per + i
            h = hosts[n % len(hosts)]
            val[h] = min(100.0, max(50.0, val[h] + rnd.uniform(-6, 6.3)))
            v = None if rnd.random() < 0.01 else round(val[h], 2)
            out.write(json.dumps({"host": h, "ts_ms": t0 + (n // len(hosts)) * 5000, "value": v}) + "\n")
