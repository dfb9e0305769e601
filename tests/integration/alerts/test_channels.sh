#!/usr/bin/env bash
# Alert channels and delivery against real receivers on loopback:
# http_receiver.py speaks as Slack, Teams, PagerDuty and a webhook (and is
# told to be down, answer 500, 429 with Retry-After, 400, or slowly), and
# smtp_sink.py is a real SMTP server (aiosmtpd) with AUTH.
#  1. `sluice alert test`: one notification per enabled channel, the shape
#     each service documents, its exit codes, and no secret on any output.
#  2. the deliverer (driven by outbox_driver as the engine drives it): every
#     row sent once, the payloads per service, Message-IDs = idem keys;
#  3. receiver down for 30 s (12 s under ASan) while rows keep coming: all
#     sent once it is back, after several retries, each key processed once,
#     commits never slowed;
#  4. 500s and 429 with Retry-After honoured; 5. a dead endpoint marked
#     failed after give_up_after with the reason, a 400 at once;
#  6. a receiver that hangs: commits stay fast, stop joins in < 1 s;
#  7. SIGKILL after sending but before the results commit: resent with the
#     same keys, and the deduplicating receiver processes each once.
source "$(dirname "$0")/../lib.sh"
need python3
need sqlite3
HERE=$(cd "$(dirname "$0")" && pwd)
DRIVER="$BUILD/outbox_driver"
[ -x "$DRIVER" ] || fail "$DRIVER is not built"
PYSMTP=
for py in python3 /usr/bin/python3; do
  if command -v "$py" >/dev/null && "$py" -c 'import aiosmtpd' 2>/dev/null; then PYSMTP=$py; break; fi
done
[ -n "$PYSMTP" ] || skip "python3 module aiosmtpd is missing (apt-get install python3-aiosmtpd)"
OUTAGE=30
[ "$SANITIZED" = 1 ] && OUTAGE=12

pids=()
stop_all() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  cleanup
}
trap stop_all EXIT

mkdir -p "$TMP/mail"
python3 "$HERE/http_receiver.py" "$TMP/req.log" "$TMP/ports" 2>"$TMP/recv.err" &
pids+=($!)
"$PYSMTP" "$HERE/smtp_sink.py" "$TMP/mail" "$TMP/smtpport" bot hunter2 2>"$TMP/smtp.err" &
pids+=($!)
for _ in $(seq 100); do [ -s "$TMP/ports" ] && [ -s "$TMP/smtpport" ] && break; sleep 0.1; done
[ -s "$TMP/ports" ] || fail "the HTTP receiver did not start: $(cat "$TMP/recv.err")"
[ -s "$TMP/smtpport" ] || fail "the SMTP sink did not start: $(cat "$TMP/smtp.err")"
read -r P C <"$TMP/ports"
S=$(cat "$TMP/smtpport")
# a port nobody listens on
DEAD=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
ctl() { curl -sf -m 5 -X POST --data "$1" "http://127.0.0.1:$C/mode" >/dev/null || fail "receiver control: $1"; }
# reqs: the receiver's log so far (one JSON object per line)
nreq() { local n; n=$(grep -c '"path"' "$TMP/req.log" 2>/dev/null) || true; echo "${n:-0}"; }

cat >"$TMP/p.yaml" <<YAML
pipeline: demo
alerts:
  channels:
    slack: {type: slack, url: 'http://127.0.0.1:$P/slack/T000/B000/SECRETTOKEN', max_backoff: 4s, timeout: 5s}
    teams: {type: teams, url: 'http://127.0.0.1:$P/teams'}
    teams-mc: {type: teams, url: 'http://127.0.0.1:$P/teams-mc', card: messagecard}
    pd: {type: pagerduty, url: 'http://127.0.0.1:$P/pd', routing_key: RKEYSECRET123}
    hook: {type: webhook, url: 'http://127.0.0.1:$P/hook', secret: 's3cr3t-hmac', max_backoff: 4s, timeout: 5s}
    mail:
      type: email
      server: smtp://127.0.0.1:$S
      username: bot
      password: hunter2
      from: alerts@example.com
      to: [ops@example.com, oncall@example.com]
    off: {type: slack, url: '\${SLACK_WEBHOOK_URL:}'}
YAML

# ---- 1. sluice alert test ------------------------------------------------
SLUICE_LOG=debug "$SLUICE" alert test "$TMP/p.yaml" >"$TMP/t.out" 2>"$TMP/t.err" || fail "alert test failed: $(cat "$TMP/t.out" "$TMP/t.err")"
[ "$(grep -c ': ok ' "$TMP/t.out")" = 6 ] || fail "six channels answer ok: $(cat "$TMP/t.out")"
grep -q '^off (slack): off' "$TMP/t.out" || fail "the channel with an empty url is off: $(cat "$TMP/t.out")"
grep -q '^mail (email, 127.0.0.1:'"$S"'): ok SMTP 250' "$TMP/t.out" || fail "mail: $(cat "$TMP/t.out")"
python3 - "$TMP/req.log" "$TMP/mail" <<'PY' || fail "alert test payloads"
import email, glob, hashlib, hmac, json, sys
reqs = [json.loads(l) for l in open(sys.argv[1]) if '"path"' in l]
by = {}
for r in reqs:
    by.setdefault(r["path"].split("/")[1], []).append(r)
assert sorted(by) == ["hook", "pd", "slack", "teams", "teams-mc"], sorted(by)
s = json.loads(by["slack"][0]["body"])
assert s["text"].startswith("[TEST] "), s["text"]
assert s["blocks"][0]["type"] == "header" and s["blocks"][0]["text"]["type"] == "plain_text"
assert all(b["type"] in ("header", "section", "context") for b in s["blocks"])
t = json.loads(by["teams"][0]["body"])
assert t["type"] == "message"
a = t["attachments"][0]
assert a["contentType"] == "application/vnd.microsoft.card.adaptive"
assert a["content"]["type"] == "AdaptiveCard" and a["content"]["body"][0]["type"] == "TextBlock"
m = json.loads(by["teams-mc"][0]["body"])
assert m["@type"] == "MessageCard" and m["title"].startswith("[TEST]") and m["sections"][0]["facts"]
# PagerDuty: a test triggers and resolves the same dedup_key
assert [json.loads(r["body"])["event_action"] for r in by["pd"]] == ["trigger", "resolve"]
p0, p1 = (json.loads(r["body"]) for r in by["pd"])
assert p0["routing_key"] == "RKEYSECRET123" and p0["dedup_key"] == p1["dedup_key"]
assert p0["payload"]["severity"] == "info" and p0["payload"]["source"] == "demo" and p0["payload"]["summary"]
h = by["hook"][0]
sig = "sha256=" + hmac.new(b"s3cr3t-hmac", h["body"].encode(), hashlib.sha256).hexdigest()
assert h["headers"]["x-sluice-signature"] == sig, (h["headers"], sig)
assert json.loads(h["body"])["pipeline"] == "demo"
for k in ("hook", "slack", "teams", "teams-mc"):
    assert by[k][0]["headers"].get("idempotency-key", "").startswith("test-"), by[k][0]["headers"]
    assert by[k][0]["headers"]["content-type"] == "application/json"
mails = glob.glob(sys.argv[2] + "/*.eml")
assert len(mails) == 1, mails
msg = email.message_from_bytes(open(mails[0], "rb").read())
assert msg["X-Sink-User"] == "bot" and msg["X-Sink-To"] == "ops@example.com,oncall@example.com"
assert msg["Subject"].startswith("[TEST] ") and msg["Message-ID"].endswith("@sluice>")
assert msg.get_content_type() == "multipart/alternative"
parts = {p.get_content_type(): p.get_payload(decode=True).decode() for p in msg.walk() if not p.is_multipart()}
assert "Sluice test notification" in parts["text/plain"] and "<h2>" in parts["text/html"], parts
PY
n0=$(nreq)
"$SLUICE" alert test hook "$TMP/p.yaml" >"$TMP/t1.out" || fail "alert test hook"
[ "$(( $(nreq) - n0 ))" = 1 ] && [ "$(wc -l <"$TMP/t1.out")" = 1 ] || fail "alert test hook sends one request: $(cat "$TMP/t1.out")"
for args in "" "test" "bogus $TMP/p.yaml" "test nope $TMP/p.yaml" "test a b $TMP/p.yaml"; do
  set +e; "$SLUICE" alert $args >/dev/null 2>&1; rc=$?; set -e
  [ "$rc" = 2 ] || fail "sluice alert $args: exit 2 expected, got $rc"
done
"$SLUICE" alert --help | grep -q 'usage: sluice alert test' || fail "alert --help"
"$SLUICE" alert test off "$TMP/p.yaml" >/dev/null && fail "testing only an off channel tests nothing: exit 1"
# failures name the channel and its host; secrets never appear (debug logs included)
sed -e "s/127.0.0.1:$P/127.0.0.1:$DEAD/" -e "s/127.0.0.1:$S/127.0.0.1:$DEAD/" "$TMP/p.yaml" >"$TMP/dead-all.yaml"
set +e; SLUICE_LOG=debug "$SLUICE" alert test "$TMP/dead-all.yaml" >"$TMP/d.out" 2>"$TMP/d.err"; rc=$?; set -e
[ "$rc" = 1 ] || fail "alert test with every receiver down: exit 1 expected, got $rc"
[ "$(grep -c 'FAILED' "$TMP/d.out")" = 6 ] || fail "six failures expected: $(cat "$TMP/d.out")"
grep -q "^slack (slack, 127.0.0.1:$DEAD): FAILED" "$TMP/d.out" || fail "failure line: $(cat "$TMP/d.out")"
# starttls: true against a server without STARTTLS fails rather than send in clear
sed "s|      server: smtp://127.0.0.1:$S|      server: smtp://127.0.0.1:$S\n      starttls: true|" "$TMP/p.yaml" >"$TMP/tls.yaml"
m0=$(ls "$TMP/mail" | wc -l)
set +e; "$SLUICE" alert test mail "$TMP/tls.yaml" >"$TMP/tls.out" 2>&1; rc=$?; set -e
[ "$rc" = 1 ] && grep -q 'FAILED' "$TMP/tls.out" || fail "starttls without server support must fail: $rc $(cat "$TMP/tls.out")"
[ "$(ls "$TMP/mail" | wc -l)" = "$m0" ] || fail "a mail went out without STARTTLS"
for f in "$TMP"/t.out "$TMP"/t.err "$TMP"/t1.out "$TMP"/d.out "$TMP"/d.err "$TMP"/tls.out; do
  for secret in SECRETTOKEN RKEYSECRET123 hunter2 s3cr3t-hmac; do
    grep -q "$secret" "$f" && fail "secret $secret appears in $(basename "$f"): $(grep "$secret" "$f")"
  done
done
ok "alert test: 6 channels answered in their documented shapes, off channel skipped, exit codes 0/1/2, no secret in output or logs"

# ---- 2. the deliverer: every row once, payloads per service ---------------
: >"$TMP/req.log"
rm -f "$TMP"/mail/*.eml
N=20
"$DRIVER" --pipeline "$TMP/p.yaml" --store "$TMP/o.db" --put $N --channel slack,teams,pd,hook,mail \
  --kind alternate --prefix b --timeout 30 >"$TMP/b.json" 2>"$TMP/b.err" || fail "driver: $(cat "$TMP/b.err")"
python3 - "$TMP/b.json" "$TMP/req.log" "$TMP/mail" "$TMP/o.db" $N <<'PY' || fail "deliverer run: $(cat "$TMP/b.json")"
import email, glob, hashlib, hmac, json, sqlite3, sys
res = json.loads(open(sys.argv[1]).read())
n = int(sys.argv[5])
assert res["sent"] == 5 * n and res["failed"] == 0 and res["pending"] == 0, res
reqs = [json.loads(l) for l in open(sys.argv[2]) if '"path"' in l]
db = sqlite3.connect(sys.argv[4])
rows = {r[0]: r for r in db.execute("SELECT idem_key, channel, kind, payload, state, attempts, sent_at, last_status FROM _sluice_outbox")}
assert all(r[4] == "sent" and r[5] == 1 and r[6] and r[7] == 200 for r in rows.values() if r[1] != "mail"), rows
assert all(r[7] == 250 for r in rows.values() if r[1] == "mail")
by = {}
for r in reqs:
    by.setdefault(r["path"].split("/")[1], []).append(r)
for ch in ("slack", "teams", "hook"):
    keys = [r["headers"]["idempotency-key"] for r in by[ch]]
    want = {k for k, r in rows.items() if r[1] == ch}
    assert len(keys) == n and set(keys) == want, (ch, keys)
for r in by["hook"]:
    k = r["headers"]["idempotency-key"]
    assert r["body"] == rows[k][3], "the webhook body is the stored payload"
    assert r["headers"]["x-sluice-signature"] == "sha256=" + hmac.new(b"s3cr3t-hmac", r["body"].encode(), hashlib.sha256).hexdigest()
    assert r["headers"]["x-sluice-kind"] == rows[k][2]
for r in by["slack"]:
    b = json.loads(r["body"])
    kind = rows[r["headers"]["idempotency-key"]][2]
    assert b["text"].startswith("[RESOLVED]" if kind == "resolved" else "[FIRING]"), b["text"]
    assert "Processing lag high" in b["blocks"][0]["text"]["text"]
assert len(by["pd"]) == n
for r in by["pd"]:
    b = json.loads(r["body"])
    i = int(b["dedup_key"].split("-")[1])
    assert b["dedup_key"] == "lag/job-%d" % i
    assert b["event_action"] == ("resolve" if i % 2 else "trigger"), b
    if b["event_action"] == "trigger":
        assert b["payload"]["severity"] == "critical" and b["payload"]["custom_details"]["labels"]["job_id"] == "job-%d" % i
mails = [email.message_from_bytes(open(f, "rb").read()) for f in glob.glob(sys.argv[3] + "/*.eml")]
assert len(mails) == n, len(mails)
ids = {m["Message-ID"] for m in mails}
assert ids == {"<%s@sluice>" % k for k, r in rows.items() if r[1] == "mail"}, ids
PY
ok "deliverer: $((5 * N)) rows on 5 channels each sent once, payloads per service, signatures and Message-IDs right"

# ---- 3. receiver down for $OUTAGE s while rows keep coming ---------------
: >"$TMP/req.log"
ctl "{\"mode\":\"down\",\"for\":$OUTAGE}"
t0=$(date +%s)
"$DRIVER" --pipeline "$TMP/p.yaml" --store "$TMP/o.db" --put $N --channel slack,hook \
  --put-every-ms 250 --prefix out --timeout $((OUTAGE + 60)) >"$TMP/out.json" 2>"$TMP/out.err" || fail "driver: $(cat "$TMP/out.err")"
t1=$(date +%s)
python3 - "$TMP/out.json" "$TMP/req.log" "$TMP/o.db" $N <<'PY' || fail "outage: $(cat "$TMP/out.json")"
import json, sqlite3, sys
res = json.loads(open(sys.argv[1]).read())
n = int(sys.argv[4])
assert res["failed"] == 0 and res["pending"] == 0, res
assert res["max_commit_ms"] < 250, ("a commit waited for the receiver", res)
for ch in ("slack", "hook"):
    assert res["channels"][ch]["sent"] == n and res["channels"][ch]["retries"] >= 4, res
lines = [json.loads(l) for l in open(sys.argv[2])]
up = [l["t"] for l in lines if l.get("event") == "up"]
assert up, "the receiver never came back"
reqs = [l for l in lines if "path" in l]
assert all(r["t"] >= up[0] for r in reqs), "a request reached a receiver that was down"
for ch in ("slack", "hook"):
    keys = [r["headers"]["idempotency-key"] for r in reqs if r["path"].split("/")[1] == ch and not r["dup"]]
    assert len(keys) == n and len(set(keys)) == n, (ch, len(keys))
db = sqlite3.connect(sys.argv[3])
att = db.execute("SELECT max(attempts), count(*) FROM _sluice_outbox WHERE idem_key LIKE 'out-%' AND state = 'sent'").fetchone()
assert att[1] == 2 * n and att[0] >= 4, att
PY
ok "receiver down ${OUTAGE}s: $((2 * N)) rows put meanwhile all sent once it was back ($((t1 - t0))s), several retries, commits < 250 ms"

# ---- 4. 500s, then 429 with Retry-After ------------------------------------
: >"$TMP/req.log"
ctl '{"mode":"500","count":3}'
"$DRIVER" --pipeline "$TMP/p.yaml" --store "$TMP/o.db" --put 1 --channel hook --prefix e500 --timeout 30 >"$TMP/e.json" 2>"$TMP/e.err" || fail "driver"
ctl '{"mode":"429","count":1,"retry_after":2}'
"$DRIVER" --pipeline "$TMP/p.yaml" --store "$TMP/o.db" --put 1 --channel hook --prefix e429 --timeout 30 >>"$TMP/e.json" 2>>"$TMP/e.err" || fail "driver"
python3 - "$TMP/req.log" "$TMP/o.db" <<'PY' || fail "500/429: $(cat "$TMP/e.json")"
import json, sqlite3, sys
reqs = [json.loads(l) for l in open(sys.argv[1]) if '"path"' in l]
st = [r["status"] for r in reqs if r["headers"]["idempotency-key"].startswith("e500")]
assert st == [500, 500, 500, 200], st
r429 = [r for r in reqs if r["headers"]["idempotency-key"].startswith("e429")]
assert [r["status"] for r in r429] == [429, 200], r429
gap = r429[1]["t"] - r429[0]["t"]
assert gap >= 1.9, ("Retry-After: 2 not honoured", gap)
db = sqlite3.connect(sys.argv[2])
assert db.execute("SELECT state, attempts FROM _sluice_outbox WHERE idem_key LIKE 'e500%'").fetchone() == ("sent", 4)
assert db.execute("SELECT state, attempts FROM _sluice_outbox WHERE idem_key LIKE 'e429%'").fetchone() == ("sent", 2)
PY
ok "3 x HTTP 500 then sent on the 4th attempt; 429 Retry-After: 2 waited >= 2 s"

# ---- 5. a dead endpoint fails after give_up_after; a 400 at once ----------
cat >"$TMP/dead.yaml" <<YAML
pipeline: demo
alerts:
  channels:
    dead: {type: webhook, url: 'http://127.0.0.1:$DEAD/x', give_up_after: 3s, max_backoff: 1s, timeout: 1s}
    bad: {type: slack, url: 'http://127.0.0.1:$P/bad/SECRETTOKEN'}
YAML
ctl '{"mode":"400","count":0}'
SLUICE_LOG=debug "$DRIVER" --pipeline "$TMP/dead.yaml" --store "$TMP/o.db" --put 3 --channel dead,bad --prefix dead \
  --timeout 20 >"$TMP/dead.json" 2>"$TMP/dead.err" || fail "driver: $(cat "$TMP/dead.err")"
ctl '{"mode":"ok"}'
python3 - "$TMP/dead.json" "$TMP/o.db" <<'PY' || fail "give up: $(cat "$TMP/dead.json")"
import json, sqlite3, sys
res = json.loads(open(sys.argv[1]).read())
assert res["channels"]["dead"]["failed"] == 3 and res["channels"]["bad"]["failed"] == 3, res
assert res["elapsed_s"] < 10, res
db = sqlite3.connect(sys.argv[2])
for st, att, err, status in db.execute("SELECT state, attempts, last_error, last_status FROM _sluice_outbox WHERE idem_key LIKE 'dead-dead-%'"):
    assert st == "failed" and att >= 2 and err.startswith("gave up after") and "onnect" in err, (st, att, err)
for st, att, err, status in db.execute("SELECT state, attempts, last_error, last_status FROM _sluice_outbox WHERE idem_key LIKE 'dead-bad-%'"):
    assert st == "failed" and att == 1 and status == 400 and err.startswith("HTTP 400"), (st, att, err, status)
PY
grep -q '"msg":"notification failed","channel":"dead"' "$TMP/dead.err" || fail "no log line for the failed notifications"
grep -q 'SECRETTOKEN' "$TMP/dead.err" && fail "a secret appears in the deliverer's logs"
ok "dead endpoint: failed after give_up_after 3s with the reason; HTTP 400 failed at once; logs hold no secret"

# ---- 6. a receiver that hangs: nothing waits for it -----------------------
cat >"$TMP/slow.yaml" <<YAML
pipeline: demo
alerts:
  channels:
    slow: {type: webhook, url: 'http://127.0.0.1:$P/slow', timeout: 60s}
YAML
ctl '{"mode":"slow","delay":30,"count":0}'
"$DRIVER" --pipeline "$TMP/slow.yaml" --store "$TMP/slow.db" --put 5 --put-every-ms 100 --channel slow --prefix slow \
  --stop-after 2 >"$TMP/slow.json" 2>"$TMP/slow.err" || fail "driver: $(cat "$TMP/slow.err")"
ctl '{"mode":"ok"}'
python3 - "$TMP/slow.json" <<'PY' || fail "hanging receiver: $(cat "$TMP/slow.json")"
import json, sys
res = json.loads(open(sys.argv[1]).read())
assert res["stop_ms"] < 1000, res
assert res["max_commit_ms"] < 250, res
assert res["commits"] >= 10, res
PY
[ "$(sqlite3 "$TMP/slow.db" "SELECT count(*) FROM _sluice_outbox WHERE idem_key LIKE 'slow-%' AND state = 'pending'")" = 5 ] ||
  fail "rows in flight at stop stay pending"
ok "hanging receiver: commits stayed fast, stop took $(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["stop_ms"])' "$TMP/slow.json") ms, its rows stay pending"

# ---- 7. SIGKILL between the send and the commit of its result -------------
: >"$TMP/req.log"
"$DRIVER" --pipeline "$TMP/p.yaml" --store "$TMP/o.db" --put 10 --channel hook --prefix crash --no-apply \
  --timeout 30 >/dev/null 2>"$TMP/crash.err" &
dpid=$!
pids+=($dpid)
for _ in $(seq 100); do [ "$(nreq)" -ge 10 ] && break; sleep 0.1; done
{ kill -9 "$dpid"; wait "$dpid"; } 2>/dev/null || true
[ "$(nreq)" -ge 10 ] || fail "the killed driver had not sent its rows"
[ "$(sqlite3 "$TMP/o.db" "SELECT count(*) FROM _sluice_outbox WHERE idem_key LIKE 'crash-%' AND state = 'pending'")" = 10 ] ||
  fail "results were committed despite --no-apply"
# a restart delivers what the killed one sent but never recorded
"$DRIVER" --pipeline "$TMP/p.yaml" --store "$TMP/o.db" --timeout 30 >"$TMP/re.json" 2>"$TMP/re.err" || fail "driver: $(cat "$TMP/re.err")"
python3 - "$TMP/req.log" "$TMP/o.db" "$TMP/re.json" <<'PY' || fail "resend after SIGKILL: $(cat "$TMP/re.json")"
import json, sqlite3, sys
res = json.loads(open(sys.argv[3]).read())
assert res["pending"] == 0 and res["elapsed_s"] < 10, res
reqs = [json.loads(l) for l in open(sys.argv[1]) if '"path"' in l]
crash = [r for r in reqs if r["headers"]["idempotency-key"].startswith("crash-")]
fresh = [r["headers"]["idempotency-key"] for r in crash if not r["dup"]]
dups = [r["headers"]["idempotency-key"] for r in crash if r["dup"]]
assert len(fresh) == 10 and len(set(fresh)) == 10, fresh
assert sorted(dups) == sorted(fresh), ("each key resent once after the crash", dups)
db = sqlite3.connect(sys.argv[2])
assert db.execute("SELECT count(*) FROM _sluice_outbox WHERE idem_key LIKE 'crash-%' AND state = 'sent'").fetchone()[0] == 10
PY
ok "SIGKILL before the results committed: 10 rows resent with the same keys, each processed once by the receiver"
