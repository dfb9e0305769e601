"""Events for test_calendar.sh: ordered in time (jitter below the watermark delay), every
N minutes over the ranges around the interesting dates, plus rows at one second before and at
every local midnight of both zones. Usage: gen.py OUTDIR STEP_MINUTES FILES"""
import json, random, sys
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

out, step, nfiles = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rnd = random.Random(19)
ranges = [("2024-01-29", "2024-03-05"), ("2024-03-08", "2024-03-12"), ("2024-03-28", "2024-04-02"),
          ("2024-10-24", "2024-11-05"), ("2024-12-27", "2025-01-03")]
ts = []
for a, b in ranges:
    t = datetime.fromisoformat(a).replace(tzinfo=timezone.utc)
    end = datetime.fromisoformat(b).replace(tzinfo=timezone.utc)
    while t < end:
        ts.append(int(t.timestamp() * 1000) + rnd.randrange(0, 60000))
        t += timedelta(minutes=step)
    for z in ("Europe/Berlin", "America/New_York"):
        d = datetime.fromisoformat(a).date()
        while d <= end.date():
            m = datetime(d.year, d.month, d.day, tzinfo=ZoneInfo(z))
            ms = int(m.timestamp() * 1000)
            ts += [ms - 1000, ms - 1, ms]
            d += timedelta(days=1)
ts.sort()
rows = [{"id": i, "ms": t, "k": rnd.choice("abc"), "v": rnd.randrange(-100, 1000)} for i, t in enumerate(ts)]
per = (len(rows) + nfiles - 1) // nfiles
for f in range(nfiles):
    with open(f"{out}/ev-{f:03d}.ndjson", "w") as fh:
        for r in rows[f * per:(f + 1) * per]:
            fh.write(json.dumps(r) + "\n")
print(len(rows))
