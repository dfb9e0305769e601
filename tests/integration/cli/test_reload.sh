#!/usr/bin/env bash
# SIGHUP and --watch-config reload the pipeline file without a restart:
# views, the dashboard, expectations and new tables apply at once and state
# (dedupe keys, open windows, positions) carries on; a change that would
# invalidate state (another dedupe key, new window keys) or a file that does
# not load is refused with a log line naming it, and the old pipeline runs on.
# Every count is checked against a brute force over the input.
source "$(dirname "$0")/../lib.sh"
need python3
need curl

IN="$TMP/in"
mkdir -p "$IN"
write_pipeline() { # VARIANT
  local expect="" view2="" title="A" extra="" dkey="id" wkeys="[k]"
  case $1 in
    v2|v3|v4|v5) expect='      - expect: {name: non_negative, expr: "v >= 0", action: quarantine}'
        view2='  v2: SELECT k, count(*) AS n FROM silver GROUP BY k'
        title="B"
        extra='  by_v:
    layer: gold
    from: silver
    window: {size: 1m, keys: [v], aggregates: {n: count(*)}}' ;;
  esac
  case $1 in
    v3) dkey="[id, k]" ;;
    v4) wkeys="[k, v]" ;;
    v5) title="C" ;;
  esac
  cat >"$TMP/p.yaml.new" <<YAML
pipeline: reload
commit_interval: 100ms
sources:
  s: {type: dir, path: $IN, pattern: "*.ndjson", format: json, schema: {id: int, k: string, v: int, ts: int}}
tables:
  silver:
    layer: silver
    from: s
    steps:
      - watermark: {time: "from_unixtime_ms(ts)", delay: 1h}
      - dedupe: {key: $dkey, horizon: 1d}
$expect
  per_k:
    layer: gold
    from: silver
    window: {size: 1h, keys: $wkeys, aggregates: {n: count(*), total: sum(v)}}
$extra
views:
  v1: SELECT count(*) AS n FROM silver
$view2
dashboard:
  title: $title
  panels:
    - {title: rows, type: stat, sql: "SELECT count(*) AS n FROM silver"}
YAML
  mv "$TMP/p.yaml.new" "$TMP/p.yaml" # a rename, as editors save
}
gen() { # FILE FIRST_ID N : ids FIRST..FIRST+N-1, every 5th repeats an earlier id, every 7th v < 0
  python3 - "$IN/$1" "$2" "$3" <<'PY'
import json, sys
path, first, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
with open(path + ".tmp", "w") as f:
    for i in range(first, first + n):
        rid = i if i % 5 else max(1, i - 3)
        f.write(json.dumps({"id": rid, "k": "k%d" % (i % 4), "v": -1 if i % 7 == 0 else i % 10,
                            "ts": 1700000000000 + i * 1000}) + "\n")
import os; os.rename(path + ".tmp", path)
PY
}
api() { curl -fsS "http://127.0.0.1:$PORT$1"; }
q() { curl -fsS -G "http://127.0.0.1:$PORT/api/query" --data-urlencode "sql=$1" | python3 -c '
import json, sys; d = json.load(sys.stdin); print(d["rows"][0][0] if d["rows"] else "")'; }
wait_rows() { # SQL WANT
  for _ in $(seq 150); do [ "$(q "$1" 2>/dev/null)" = "$2" ] && return 0; sleep 0.1; done
  fail "$1: want $2, got $(q "$1")"
}
wait_log() { # PATTERN COUNT
  for _ in $(seq 150); do [ "$(grep -c "$1" "$TMP/err" || true)" -ge "$2" ] && return 0; sleep 0.1; done
  cat "$TMP/err" >&2; fail "no log line '$1' (#$2)"
}

write_pipeline v1
gen a.ndjson 1 200
SLUICE_LOG=info "$SLUICE" run "$TMP/p.yaml" --data "$TMP/d" --listen 127.0.0.1:0 --status 0 \
  --watch-config 2>"$TMP/err" &
PID=$!
trap 'kill -9 $PID 2>/dev/null || true; cleanup' EXIT
for _ in $(seq 100); do
  PORT=$(sed -n 's/.*"url":"http:\/\/127.0.0.1:\([0-9]*\)\/".*/\1/p' "$TMP/err" | head -1)
  [ -n "$PORT" ] && break; sleep 0.1
done
[ -n "$PORT" ] || fail "no port"
# ids 1..200 with every 5th replaced by an earlier id: 160 distinct
wait_rows "SELECT count(*) FROM silver" 160
api /api/dashboard | has '"title":"A"' || fail "dashboard A"

# 1. compatible change by SIGHUP: an expectation after the dedupe, a view, a new table, a title
write_pipeline v2
sleep 0.5 # the file watch reloads this one; SIGHUP below reloads it once more (the same)
kill -HUP $PID
wait_log '"msg":"reload applied"' 1
gen b.ndjson 201 200
# brute force: dedupe by id across both files (state kept), then v >= 0 only for rows read after the reload
python3 - "$IN" >"$TMP/want" <<'PY'
import json, sys
seen = set(); kept = 0; quar = 0; per_k = {}
for name, after in (("a.ndjson", False), ("b.ndjson", True)):
    for line in open(f"{sys.argv[1]}/{name}"):
        r = json.loads(line)
        if r["id"] in seen: continue
        seen.add(r["id"])
        if after and r["v"] < 0: quar += 1; continue
        kept += 1; per_k[r["k"]] = per_k.get(r["k"], 0) + 1
print(kept, quar, sum(per_k.values()))
PY
read -r want_kept want_quar want_win <"$TMP/want"
wait_rows "SELECT count(*) FROM silver" "$want_kept"
wait_rows "SELECT count(*) FROM quarantine WHERE reason LIKE '%non_negative%'" "$want_quar"
wait_rows "SELECT sum(n) FROM per_k" "$want_win"
wait_rows "SELECT sum(n) FROM v2" "$want_kept"
[ "$(q "SELECT count(*) FROM by_v")" -gt 0 ] || fail "the new table has no rows"
api /api/dashboard | has '"title":"B"' || fail "dashboard after reload"
kill -0 $PID || fail "process died"
ok "SIGHUP: expectation, view, new table and dashboard applied; dedupe and window state kept"

# 2. another dedupe key: refused, named, the old pipeline runs on
n_applied=$(grep -c '"msg":"reload applied"' "$TMP/err")
write_pipeline v3
kill -HUP $PID
wait_log '"msg":"reload refused' 1
grep '"msg":"reload refused' "$TMP/err" | tail -1 | has "step 2 (dedupe): 'key' changed" ||
  fail "refusal does not name the dedupe key: $(grep 'reload refused' "$TMP/err" | tail -1)"
# 3. new window keys: refused
write_pipeline v4
kill -HUP $PID
wait_log '"msg":"reload refused' 2
grep '"msg":"reload refused' "$TMP/err" | tail -1 | has "table 'per_k': window 'keys' changed" ||
  fail "refusal does not name the window keys: $(grep 'reload refused' "$TMP/err" | tail -1)"
# 4. a file that does not load: refused with file:line:col
printf 'pipeline: reload\nsources: [\n' >"$TMP/p.yaml"
kill -HUP $PID
wait_log '"msg":"reload refused' 3
grep '"msg":"reload refused' "$TMP/err" | tail -1 | has 'p.yaml:[0-9]*:[0-9]*' ||
  fail "no file:line:col for a broken file"
[ "$(grep -c '"msg":"reload applied"' "$TMP/err")" -eq "$n_applied" ] || fail "a refused reload was applied"
# the old pipeline (v2: dedupe by id) still runs: a duplicate id is dropped
gen c.ndjson 401 50
want=$(python3 - "$IN" <<'PY'
import json, sys
seen = set(); kept = 0
for name in ("a.ndjson", "b.ndjson", "c.ndjson"):
    for line in open(f"{sys.argv[1]}/{name}"):
        r = json.loads(line)
        if r["id"] in seen: continue
        seen.add(r["id"])
        if name != "a.ndjson" and r["v"] < 0: continue
        kept += 1
print(kept)
PY
)
wait_rows "SELECT count(*) FROM silver" "$want"
ok "refused: another dedupe key, new window keys, a broken file; the running pipeline is unchanged"

# 5. --watch-config: saving the file applies it, no signal
write_pipeline v5
wait_log '"msg":"reload applied"' $((n_applied + 1))
for _ in $(seq 50); do api /api/dashboard | has '"title":"C"' && break; sleep 0.1; done
api /api/dashboard | has '"title":"C"' || fail "--watch-config did not apply the new title"
kill -TERM $PID
wait $PID || fail "exit status after SIGTERM"
ok "--watch-config applies a saved file"
