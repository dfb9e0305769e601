"""Generates the input of test_joins.sh and the expected output by brute force.

gen_ref.py gen DIR N   writes DIR/{items,suppliers,prices,events}/...
gen_ref.py ref DIR     prints the expected events rows and quarantine rows
"""
import csv, glob, json, os, random, sys

BASE = 1767225600000  # 2026-01-01T00:00:00Z in ms


def gen(d, n):
    rnd = random.Random(19)
    for sub in ("items", "suppliers", "prices", "events"):
        os.makedirs(os.path.join(d, sub), exist_ok=True)
    nsup, nitem = 40, 300
    with open(os.path.join(d, "suppliers", "suppliers.csv"), "w") as f:
        f.write("supplier_id,name,country\n")
        for s in range(nsup):
            f.write("s%d,Supplier %d,%s\n" % (s, s, rnd.choice(["DE", "FR", "US", "JP"])))
    with open(os.path.join(d, "items", "items.csv"), "w") as f:
        f.write("item_id,category,supplier_id\n")
        for i in range(nitem):
            # some suppliers are unknown to the suppliers table (left join: NULLs)
            sup = "s%d" % rnd.randrange(nsup + 5)
            f.write("i%d,cat%d,%s\n" % (i, i % 7, sup))
    span = n * 1000  # events every second
    changes = []
    for i in range(nitem):
        t = BASE + rnd.randrange(0, span // 4) // 1000 * 1000
        price = rnd.randrange(1, 50)
        for _ in range(rnd.randrange(1, 9)):
            changes.append((t, "i%d" % i, price))
            t += rnd.randrange(1, span // 4) // 1000 * 1000 + 1000
            price += rnd.randrange(1, 20)  # always a change
    changes.sort()
    # two files, so the history arrives in more than one read
    half = len(changes) // 2
    for k, part in enumerate((changes[:half], changes[half:])):
        with open(os.path.join(d, "prices", "prices-%d.csv" % k), "w") as f:
            f.write("item_id,price,changed_at\n")
            for t, it, p in part:
                f.write("%s,%d,%d\n" % (it, p, t))
    by_item = {}
    for t, it, p in changes:
        by_item.setdefault(it, []).append(t)
    files = 8
    per = (n + files - 1) // files
    out = None
    for e in range(n):
        if e % per == 0:
            if out:
                out.close()
            out = open(os.path.join(d, "events", "events-%02d.jsonl" % (e // per)), "w")
        r = rnd.random()
        ms = BASE + e * 1000
        if r < 0.05:
            item = None
        elif r < 0.12:
            item = "zz%d" % rnd.randrange(50)  # unknown
        else:
            item = "i%d" % rnd.randrange(nitem)
            if rnd.random() < 0.1:  # exactly at a version boundary
                ms = rnd.choice(by_item[item])
        out.write(json.dumps({"event_id": e, "item_id": item, "ms": ms, "qty": rnd.randrange(1, 5)}) + "\n")
    out.close()


def ref(d):
    sup = {}
    for row in csv.DictReader(open(os.path.join(d, "suppliers", "suppliers.csv"))):
        sup[row["supplier_id"]] = (row["name"], row["country"])
    items = {}
    for row in csv.DictReader(open(os.path.join(d, "items", "items.csv"))):
        items[row["item_id"]] = (row["category"], row["supplier_id"])
    versions = {}
    for f in sorted(glob.glob(os.path.join(d, "prices", "*.csv"))):
        for row in csv.DictReader(open(f)):
            versions.setdefault(row["item_id"], []).append((int(row["changed_at"]), int(row["price"])))
    rows, quar = [], []
    for f in sorted(glob.glob(os.path.join(d, "events", "*.jsonl"))):
        for line in open(f):
            ev = json.loads(line)
            it = ev["item_id"]
            if it is None or it not in items:
                quar.append("%d|join: no dim_items row for item_id=%s" % (ev["event_id"], "NULL" if it is None else it))
                continue
            cat, sid = items[it]
            name, country = sup.get(sid, ("", ""))
            price = ""
            # the version valid at ms: effective_from <= ms < effective_to
            vs = sorted(versions.get(it, []))
            for k, (t, p) in enumerate(vs):
                end = vs[k + 1][0] if k + 1 < len(vs) else None
                if t <= ev["ms"] and (end is None or ev["ms"] < end):
                    price = str(p)
            rows.append("%d|%s|%s|%s|%s|%s" % (ev["event_id"], cat, sid, name, country, price))
    rows.sort(key=lambda r: int(r.split("|")[0]))
    quar.sort(key=lambda r: int(r.split("|")[0]))
    print("\n".join(rows))
    print("--")
    print("\n".join(quar))


if __name__ == "__main__":
    if sys.argv[1] == "gen":
        gen(sys.argv[2], int(sys.argv[3]))
    else:
        ref(sys.argv[2])
