#!/usr/bin/env bash
# Alert rules against a brute-force replay, and exactly-once across SIGKILLs.
#  1. A clean --once run: alert_history and the outbox equal replay.py's
#     recomputation of `for`, rate_limit, repeat, resolution and digests over
#     the stored rows; every notification reached the webhook receiver once
#     and is `sent`.
#  2. The same input with SIGKILLs at random points (between commits and
#     deliveries too), then a final --once run: alert_history and the outbox
#     (idempotency keys, payloads) are identical to the clean run's, keys are
#     unique, and every notification is `sent` and was received.
source "$(dirname "$0")/../lib.sh"
need python3
need sqlite3
HERE="$REPO/tests/integration/alerts"
ROWS=60000; KILLS=6
[ "$SANITIZED" = 1 ] && ROWS=12000 && KILLS=3
mkdir -p "$TMP/in"
python3 "$HERE/gen.py" "$TMP/in" "$ROWS" 30

python3 "$HERE/receiver.py" "$TMP/port" "$TMP/got.jsonl" & RPID=$!
trap 'kill $RPID 2>/dev/null; cleanup' EXIT
for _ in $(seq 50); do [ -f "$TMP/port" ] && break; sleep 0.1; done
HOOK="http://127.0.0.1:$(cat "$TMP/port")/hook"
run() { SLUICE_DRAIN_S=60 timeout 120 "$SLUICE" run "$HERE/rules.yaml" --set input="$TMP/in" --set hook="$HOOK" "$@"; }

# 0. validate refuses what run refuses, at file:line:col
sed 's/when: "value > 80"/when: "valu > 80"/' "$HERE/rules.yaml" >"$TMP/bad1.yaml"
sed 's/message: "{host} at {value}"/message: "{host} at {vlue}"/' "$HERE/rules.yaml" >"$TMP/bad2.yaml"
sed 's/^    - name: very_high/    - name: very_high\n      channels: [slack]/' "$HERE/rules.yaml" >"$TMP/bad3.yaml"
for c in "bad1.yaml:24:14: unknown column 'valu'" "bad2.yaml:28:28: rule 'high': message: unknown column 'vlue'" \
         "bad3.yaml:30:18: rule 'very_high': unknown channel 'slack'"; do
  f=${c%%:*}
  for cmd in validate "run --once --data $TMP/bad"; do
    if "$SLUICE" $cmd "$TMP/$f" --set input="$TMP/in" --set hook=http://127.0.0.1:9/ >"$TMP/v.out" 2>&1; then
      fail "$cmd accepted $f"; fi
    grep -qF "$c" "$TMP/v.out" || { cat "$TMP/v.out"; fail "$cmd $f: expected $c"; }
  done
done
ok "validate and run refuse bad rules at file:line:col"

# 1. clean run vs brute force
run --data "$TMP/clean" --once >/dev/null 2>"$TMP/clean.err" || { cat "$TMP/clean.err"; fail "clean run"; }
python3 "$HERE/replay.py" "$TMP/clean/sluice.db" || fail "alerts differ from the brute-force replay"
q() { sqlite3 "$1/sluice.db" "$2"; }
[ "$(q "$TMP/clean" "SELECT count(*) FROM _sluice_outbox WHERE state <> 'sent'")" = 0 ] || fail "unsent notifications"
n=$(q "$TMP/clean" "SELECT count(*) FROM _sluice_outbox")
[ "$n" -gt 100 ] || fail "only $n notifications"
python3 - "$TMP/got.jsonl" "$TMP/clean/sluice.db" <<'PY' || fail "receiver and outbox disagree"
import json, sqlite3, sys
got = [json.loads(l)["idem"] for l in open(sys.argv[1])]
keys = [r[0] for r in sqlite3.connect(sys.argv[2]).execute("SELECT idem_key FROM _sluice_outbox")]
assert len(got) == len(set(got)) == len(keys) and set(got) == set(keys), (len(got), len(set(got)), len(keys))
PY
ok "clean run: $n notifications equal the replay, each received once"

# 2. SIGKILLs, then finish
: >"$TMP/got.jsonl"
for i in $(seq "$KILLS"); do
  "$SLUICE" run "$HERE/rules.yaml" --set input="$TMP/in" --set hook="$HOOK" --data "$TMP/crash" \
    >/dev/null 2>>"$TMP/crash.err" & P=$!
  sleep "0.$((RANDOM % 6 + 1))"
  kill -9 $P 2>/dev/null || true
  wait $P 2>/dev/null || true
done
run --data "$TMP/crash" --once >/dev/null 2>>"$TMP/crash.err" || { cat "$TMP/crash.err"; fail "final run"; }
for t in "alert_history ORDER BY alert_id" \
         "(SELECT idem_key, alert_id, channel, kind, payload, state FROM _sluice_outbox) ORDER BY idem_key" \
         "(SELECT rule, key, state, since, last_sent, seq, nfired FROM _sluice_alert_state) ORDER BY 1, 2"; do
  diff <(q "$TMP/clean" "SELECT * FROM $t") <(q "$TMP/crash" "SELECT * FROM $t") >/dev/null ||
    fail "after SIGKILLs, SELECT * FROM $t differs from the clean run"
done
python3 "$HERE/replay.py" "$TMP/crash/sluice.db" >/dev/null || fail "crash run differs from the replay"
[ "$(q "$TMP/crash" "SELECT count(*) FROM _sluice_outbox WHERE state <> 'sent'")" = 0 ] || fail "unsent after restart"
python3 - "$TMP/got.jsonl" "$TMP/crash/sluice.db" <<'PY' || fail "a notification never reached the receiver"
import json, sqlite3, sys
got = {json.loads(l)["idem"] for l in open(sys.argv[1])}
keys = {r[0] for r in sqlite3.connect(sys.argv[2]).execute("SELECT idem_key FROM _sluice_outbox")}
missing = keys - got
assert not missing, (len(missing), sorted(missing)[:3])
PY
ok "after $KILLS SIGKILLs: alert_history, outbox and state identical to the clean run; all delivered"
