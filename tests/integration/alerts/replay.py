# replay.py DB - recomputes the alerts of tests/integration/alerts/rules.yaml by
# brute force over the `readings` rows as stored (rowid order) and compares
# them with alert_history and _sluice_outbox. Exits 1 with the differences.
import calendar
import sqlite3
import sys
import time

db = sqlite3.connect(sys.argv[1])


def epoch(s):
    if s is None:
        return None
    base, frac = (s[:-1].split(".") + [""])[:2]
    t = calendar.timegm(time.strptime(base, "%Y-%m-%dT%H:%M:%S"))
    return t * 1_000_000 + (int(frac.ljust(6, "0")) if frac else 0)


RULES = {  # name: (threshold, for, rate_limit, repeat, group window) in µs, for_count
    "high": (80.0, 30_000_000, 300_000_000, 0, 0, 1),
    "very_high": (95.0, 0, 0, 120_000_000, 60_000_000, 1),
    "streak": (88.0, 12_000_000, 0, 0, 0, 4),
}
hist = {}      # (rule, key, n) -> [created, resolved, sent]
outbox = []    # (kind, rule, key, n) or ("digest", rule, window start)


def run(rule, rows):
    thr, for_us, rate, repeat, group, for_count = RULES[rule]
    st = {}
    pend_digest = {}  # window start -> [keys]

    def notify(k, s, kind):
        outbox.append((kind, rule, k, s["n"]))
        s["last"] = s["since"] if kind == "firing" and group else s["t"]
        s["sent"] = True
        if kind == "firing":
            hist[(rule, k, s["n"])][2] = True

    def flush(t):
        for g in sorted(list(pend_digest)):
            if t is not None and g + group > t:
                continue
            keys = pend_digest.pop(g)
            if len(keys) == 1:
                s = st[keys[0]]
                s["digest"] = None
                s["t"] = s["since"]
                notify(keys[0], s, "firing")
            else:
                outbox.append(("digest", rule, g, len(keys)))
                for k in keys:
                    s = st[k]
                    s["digest"] = None
                    s["last"] = s["since"]
                    s["sent"] = True
                    hist[(rule, k, s["n"])][2] = True

    for host, t, value in rows:
        if group:
            flush(t)
        cond = value is not None and value > thr
        s = st.get(host)
        if s is None:
            if not cond:
                continue
            s = st[host] = {"st": 0, "since": None, "last": None, "n": 0, "sent": False,
                            "digest": None}
        s["t"] = t
        if cond:
            fire = False
            if s["st"] == 0:
                s["since"] = t
                s["streak"] = 1
                if for_us == 0 and for_count == 1:
                    fire = True
                else:
                    s["st"] = 1
            elif s["st"] == 1:
                s["streak"] += 1
                fire = t - s["since"] >= for_us and s["streak"] >= for_count
            elif s["st"] == 2 and repeat and s["digest"] is None and (
                    s["last"] is None or t - s["last"] >= max(repeat, rate)):
                notify(host, s, "repeat")
            if fire:
                s["st"] = 2
                s["since"] = t
                s["n"] += 1
                s["sent"] = False
                hist[(rule, host, s["n"])] = [t, None, False]
                if rate and s["last"] is not None and t - s["last"] < rate:
                    continue
                if group:
                    g = t // group * group
                    s["digest"] = g
                    pend_digest.setdefault(g, []).append(host)
                else:
                    notify(host, s, "firing")
        elif s["st"] == 1:
            s["st"] = 0
        elif s["st"] == 2:
            s["st"] = 0
            hist[(rule, host, s["n"])][1] = t
            if s["digest"] is not None:
                pend_digest[s["digest"]].remove(host)
                if not pend_digest[s["digest"]]:
                    del pend_digest[s["digest"]]
                s["digest"] = None
            if s["sent"]:
                s["sent"] = False
                outbox.append(("resolved", rule, host, s["n"]))
    if group:
        flush(None)  # the end of --once input


rows = [(h, epoch(ts), v) for h, ts, v in
        db.execute("SELECT host, ts, value FROM readings ORDER BY rowid")]
for r in RULES:
    run(r, rows)

got_hist = {}
for rule, key, aid, created, resolved, sent in db.execute(
        "SELECT rule, alert_key, alert_id, created_at, resolved_at, channels_sent "
        "FROM alert_history"):
    n = int(aid.rsplit("-", 1)[1])
    got_hist[(rule, key, n)] = [epoch(created), epoch(resolved), sent == "hook"]
got_out = []
for kind, rule, key, aid in db.execute(
        "SELECT o.kind, h.rule, h.alert_key, o.alert_id FROM _sluice_outbox o "
        "LEFT JOIN alert_history h ON h.alert_id = o.alert_id ORDER BY o.id"):
    if kind == "digest":
        r, ts = aid.split("-digest-")
        n = db.execute("SELECT count(*) FROM alert_history WHERE notified_by = ?",
                       (aid,)).fetchone()[0]
        got_out.append(("digest", r, epoch(ts), n))
    else:
        got_out.append((kind, rule, key, int(aid.rsplit("-", 1)[1])))

bad = 0
if got_hist != hist:
    bad = 1
    for k in sorted(set(hist) | set(got_hist), key=str):
        if hist.get(k) != got_hist.get(k):
            print("history", k, "expected", hist.get(k), "got", got_hist.get(k))
if sorted(got_out, key=str) != sorted(outbox, key=str):
    bad = 1
    print("outbox expected", len(outbox), "got", len(got_out))
    for x in sorted(set(outbox) ^ set(got_out), key=str)[:20]:
        print("  differs:", x, "expected" if x in outbox else "got")
kinds = {}
for o in outbox:
    kinds[o[0]] = kinds.get(o[0], 0) + 1
print("alerts:", len(hist), "notifications:", len(outbox), kinds)
sys.exit(bad)
