#!/usr/bin/env bash
# test_backpressure.sh - a sink that cannot commit: the SQLite write lock of
# the pipeline's database is taken by another process during a live run.
#
# The generator writes events in real time; `sluice run` follows the landing
# folder with its HTTP server on. Then:
#  1. A locker process takes the write lock (BEGIN IMMEDIATE) for 4 s, less
#     than the store's busy timeout (5 s, src/sinks/store.c). The engine holds
#     the write transaction between commits and only lets go of it for the
#     moment between COMMIT and the next BEGIN IMMEDIATE (src/engine/run.c,
#     end of commit()), so the locker must poll without sleeping to get in:
#     the sqlite3 shell's .timeout (which sleeps between tries) never does,
#     hence a few lines of Python. While the lock is held we check that the
#     engine waits (no commit in the event log for >= 2.5 s), does not read
#     ahead (it reads almost nothing, /proc/PID/io rchar, and its RSS does not
#     grow, while events pile up on disk), and that
#     /healthz and /api/status still answer. After the release it catches up.
#  2. A second locker holds the lock for 7 s, longer than the busy timeout
#     (5 s). A running engine waits it out too, logging a warning every busy
#     timeout ("database locked by another process: waiting"); only at
#     start-up is a held lock an error (test_faults.sh).
# Finally every table is compared with tests/tools/cameras_ref: nothing lost,
# nothing doubled. The live run's windows are not final when it stops, so a
# last `sluice run --once` (which must read no record) closes them first.
source "$(dirname "$0")/../lib.sh"
# lib.sh's `nm | grep -q` can die of SIGPIPE under pipefail and miss ASan: look again, reading all of nm's output
if [ "$SANITIZED" = 0 ] && nm "$SLUICE" 2>/dev/null | grep __asan_init >/dev/null; then SANITIZED=1; fi
need python3
need curl
python3 -c 'import sqlite3' 2>/dev/null || skip "python3 has no sqlite3 module"
PIPE="$REPO/pipelines/cameras.yaml"
rate=4000; duration=16
[ "$SANITIZED" = 1 ] && rate=800
DB="$TMP/out/sluice.db"

# locker.py DB HOLD_S GIVE_UP_S: takes the write lock (polling without sleep),
# prints "locked T" (epoch seconds), holds it HOLD_S, commits, prints "released T".
cat >"$TMP/locker.py" <<'EOF'
import sqlite3, sys, time
db, hold, give_up = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
c = sqlite3.connect(db, timeout=0, isolation_level=None)
t0 = time.monotonic()
while True:
    try:
        c.execute("BEGIN IMMEDIATE")
        break
    except sqlite3.OperationalError:
        if time.monotonic() - t0 > give_up:
            print("gave up", flush=True)
            sys.exit(3)
print("locked %.3f" % time.time(), flush=True)
time.sleep(hold)
c.execute("COMMIT")
print("released %.3f" % time.time(), flush=True)
EOF

start_run() { # LOG
  "$SLUICE" run "$PIPE" --data "$TMP/out" --set input="$TMP/in" --set locations="$TMP/in/locations.csv" \
    --listen 127.0.0.1:0 --status 1 2>"$1" &
  run=$!
  port=""
  for _ in $(seq 1 100); do
    port=$(grep -o 'dashboard at http://127.0.0.1:[0-9]*' "$1" | grep -o '[0-9]*$' || true)
    [ -n "$port" ] && break
    sleep 0.1
  done
  [ -n "$port" ] || fail "server did not start: $(cat "$1")"
}
rss_kb() { awk '/^VmRSS:/{print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }
rchar() { awk '/^rchar:/{print $2}' "/proc/$1/io" 2>/dev/null || echo 0; } # bytes the process read
landing_kb() { du -sk "$TMP/in" | cut -f1; }
commits() { sqlite3 "$DB" "SELECT count(*) FROM _sluice_events" 2>/dev/null || echo 0; }

mkdir -p "$TMP/in"
"$SLUICE" gen cameras --rate "$rate" --duration "$duration" --out "$TMP/in" --seed 9 --dup 0.05 --late 0.01 --malformed 0.002 2>/dev/null &
gen=$!
sleep 0.3
start_run "$TMP/run1.log"
trap 'kill $gen $run $locker 2>/dev/null || true; wait 2>/dev/null || true; cleanup' EXIT
locker=""
url="http://127.0.0.1:$port"
sleep 2.5
[ "$(commits)" -gt 0 ] || fail "no commit after 2.5 s"

# ---- 1. a 4 s lock: waited out
python3 "$TMP/locker.py" "$DB" 4 10 >"$TMP/lock1.txt" &
locker=$!
for _ in $(seq 1 100); do grep -q . "$TMP/lock1.txt" && break; sleep 0.05; done
grep -q '^locked' "$TMP/lock1.txt" || fail "locker could not take the write lock: $(cat "$TMP/lock1.txt")"
t_lock=$(awk '/^locked/{print $2}' "$TMP/lock1.txt")
rss0=$(rss_kb $run); disk0=$(landing_kb); rchar0=$(rchar $run) # from here on the engine cannot commit
rss_max=$rss0; health=0; status=0
samples=0
while awk -v t="$t_lock" -v now="$(date +%s.%N)" 'BEGIN{exit !(now < t + 3.0)}'; do
  samples=$((samples + 1))
  r=$(rss_kb $run); [ "$r" -gt "$rss_max" ] && rss_max=$r
  [ "$(curl -s -m 1 -o /dev/null -w '%{http_code}' "$url/healthz")" = 200 ] && health=$((health + 1))
  [ "$(curl -s -m 1 -o /dev/null -w '%{http_code}' "$url/api/status")" = 200 ] && status=$((status + 1))
  sleep 0.2
done
rchar1=$(rchar $run); disk1=$(landing_kb)
grep -q '^released' "$TMP/lock1.txt" && fail "the lock was released before the last sample (machine too slow?)"
wait $locker || fail "locker 1 failed: $(cat "$TMP/lock1.txt")"
locker=""
t_rel=$(awk '/^released/{print $2}' "$TMP/lock1.txt")
kill -0 $run 2>/dev/null || fail "the engine died on a 4 s lock: $(tail -3 "$TMP/run1.log")"
sleep 1.5
# the event log: no commit while the lock was held, and commits again after it
gap=$(sqlite3 "$DB" "SELECT max(g) FROM (SELECT (julianday(ts) - julianday(lag(ts) OVER (ORDER BY commit_id))) * 86400 AS g FROM _sluice_events)")
epoch="((julianday(ts) - 2440587.5) * 86400.0)"
inside=$(sqlite3 "$DB" "SELECT count(*) FROM _sluice_events WHERE $epoch > $t_lock + 0.2 AND $epoch < $t_rel - 0.2")
after=$(sqlite3 "$DB" "SELECT count(*) FROM _sluice_events WHERE $epoch >= $t_rel - 0.2")
echo "lock 1: held $(awk -v a="$t_lock" -v b="$t_rel" 'BEGIN{printf "%.1f", b - a}') s; longest gap between commits $(printf %.2f "$gap") s; commits inside ${inside}, after ${after}"
read_kb=$(( (rchar1 - rchar0) / 1024 ))
echo "lock 1: engine RSS ${rss0} KB when locked, ${rss_max} KB at most while locked; it read ${read_kb} KB (server included) while the landing folder grew $((disk1 - disk0)) KB; /healthz answered ${health}/${samples}, /api/status ${status}/${samples}"
awk -v g="$gap" 'BEGIN{exit !(g >= 2.5)}' || fail "no pause in commits while the lock was held (longest gap $gap s)"
[ "$inside" -eq 0 ] || fail "$inside commits while another process held the write lock?"
[ "$after" -gt 0 ] || fail "no commit after the lock was released"
[ $((rss_max - rss0)) -le 4096 ] || fail "RSS grew by $((rss_max - rss0)) KB while the sink was blocked"
[ $((disk1 - disk0)) -gt 100 ] || fail "the generator wrote nothing during the lock?"
[ "$read_kb" -lt $(( (disk1 - disk0) / 4 )) ] || fail "the engine read $read_kb KB while blocked ($((disk1 - disk0)) KB landed): reading ahead"
[ "$samples" -ge 3 ] && [ "$health" -eq "$samples" ] || fail "/healthz answered $health of $samples times while the sink was blocked"
[ "$status" -eq "$samples" ] || fail "/api/status answered $status of $samples times while the sink was blocked"
grep -q 'files_waiting=[1-9]' "$TMP/run1.log" || echo "note: no status line showed files waiting"
ok "4 s lock: the engine waited (gap $(printf %.2f "$gap") s), read ${read_kb} KB and RSS +$((rss_max - rss0)) KB while $((disk1 - disk0)) KB landed on disk; server answered"

# ---- 2. a 7 s lock: longer than the busy timeout
python3 "$TMP/locker.py" "$DB" 7 10 >"$TMP/lock2.txt" &
locker=$!
for _ in $(seq 1 200); do grep -q . "$TMP/lock2.txt" && break; sleep 0.05; done
grep -q '^locked' "$TMP/lock2.txt" || fail "locker 2 could not take the write lock: $(cat "$TMP/lock2.txt")"
wait $locker || fail "locker 2 failed: $(cat "$TMP/lock2.txt")"
locker=""
restarted=0
if ! kill -0 $run 2>/dev/null; then
  set +e; wait $run; rc=$?; set -e
  fail "the engine exited ($rc) during a 7 s lock instead of waiting: $(tail -2 "$TMP/run1.log")"
fi
grep -q 'database locked by another process: waiting' "$TMP/run1.log" || fail "the engine did not log the lock wait"
echo "lock 2: the engine waited out a 7 s lock and said so"

# ---- catch up, stop, close the windows, compare
wait $gen
"$BUILD/cameras_ref" "$TMP/in" "$TMP/in/locations.csv" "$TMP/expected.db" >"$TMP/ref.txt"
lines=$(sqlite3 "$TMP/expected.db" "SELECT n FROM counts WHERE name='lines'")
got=0
for _ in $(seq 1 200); do
  got=$(sqlite3 "$DB" "SELECT coalesce(sum(records_in), 0) FROM _sluice_events" 2>/dev/null || echo 0)
  [ "$got" -ge "$lines" ] && break
  sleep 0.1
done
if ! kill -0 $run 2>/dev/null; then
  set +e; wait $run; rc=$?; set -e
  fail "the engine stopped (status $rc$([ $rc -gt 128 ] && echo ", signal $((rc - 128))")) before catching up ($got of $lines records committed): $(tail -2 "$TMP/run$((restarted + 1)).log")"
fi
[ "$got" -eq "$lines" ] || fail "live run did not catch up: $got of $lines records committed"
kill -INT $run
wait $run || fail "sluice run did not stop cleanly"
run=""
"$SLUICE" run "$PIPE" --data "$TMP/out" --set input="$TMP/in" --set locations="$TMP/in/locations.csv" --once --status 0 \
  || fail "the closing --once run failed"
extra=$(sqlite3 "$DB" "SELECT coalesce(sum(records_in), 0) FROM _sluice_events" )
[ "$extra" -eq "$lines" ] || fail "the closing --once run read $((extra - lines)) records the live run had not"
bash "$REPO/tests/integration/cameras/compare.sh" "$SLUICE" "$PIPE" "$TMP/out" "$TMP/expected.db" >"$TMP/cmp.txt" \
  || fail "tables differ from the reference after the locks: $(cat "$TMP/cmp.txt")"
ok "backpressure: $lines records through a 4 s and a 7 s sink lock (restarted: $restarted); all tables exact"
