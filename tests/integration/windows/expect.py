"""Brute force for test_calendar.sh: every (table, window_start, k, count, sum) recomputed
from the generated events with python3's zoneinfo, one line per row, sorted."""
import glob, json, sys
from collections import defaultdict
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

rows = []
for f in sorted(glob.glob(sys.argv[1] + "/*.ndjson")):
    with open(f) as fh:
        rows += [json.loads(l) for l in fh]

def start(ms, zone, unit):
    tz = ZoneInfo(zone)
    loc = datetime.fromtimestamp(ms / 1000, timezone.utc).astimezone(tz)
    d = loc.date()
    if unit == "1w":
        d -= timedelta(days=d.weekday())
    elif unit == "1mo":
        d = d.replace(day=1)
    elif unit == "1h":
        return (ms // 3600000) * 3600
    # fold=0: the first occurrence of an ambiguous local midnight
    return int(datetime(d.year, d.month, d.day, tzinfo=tz).timestamp())

tables = {"day_berlin": ("Europe/Berlin", "1d"), "week_berlin": ("Europe/Berlin", "1w"),
          "month_berlin": ("Europe/Berlin", "1mo"), "day_ny": ("America/New_York", "1d"),
          "week_ny": ("America/New_York", "1w"), "month_ny": ("America/New_York", "1mo"),
          "month_from_days_berlin": ("Europe/Berlin", "1mo"), "hour_berlin": ("Europe/Berlin", "1h"),
          "day_from_hours_berlin": ("Europe/Berlin", "1d")}
out = []
for name, (zone, unit) in tables.items():
    agg = defaultdict(lambda: [0, 0])
    for r in rows:
        a = agg[(start(r["ms"], zone, unit), r["k"])]
        a[0] += 1
        a[1] += r["v"]
    for (ws, k), (n, s) in agg.items():
        iso = datetime.fromtimestamp(ws, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        out.append(f"{name}|{iso}|{k}|{n}|{s}")
print("\n".join(sorted(out)))
