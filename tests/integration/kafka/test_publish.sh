#!/usr/bin/env bash
# test_publish.sh - the Kafka sink: a pipeline's table published to a topic
# (idempotent producer, key from an expression, JSON values) and read by a
# second pipeline. kcat sees exactly the published rows with their keys, and
# the second pipeline's table equals the first's.
# Usage: bash tests/integration/kafka/test_publish.sh BUILD_DIR
source "$(dirname "$0")/../lib.sh"
need kcat
start_mock m --topic raw:2 --topic clean:3
D="$REPO/tests/integration/kafka"
seq 1 5000 | awk '{ printf "{\"n\":%d,\"tenant\":\"t%d\",\"v\":%d.5}\n", $1, $1 % 7, $1 }' | kcat -P -b "$BOOT" -t raw
"$SLUICE" run "$D/publish.yaml" --data "$TMP/pub" --set brokers="$BOOT" --once --status 0
[ "$(sqlite3 "$TMP/pub/sluice.db" "SELECT count(*) FROM evens")" -eq 2500 ] || fail "publisher kept the wrong rows"
kcat -C -b "$BOOT" -t clean -o beginning -e -q -f '%k|%s\n' >"$TMP/clean.txt"
[ "$(wc -l <"$TMP/clean.txt")" -eq 2500 ] || fail "topic clean has $(wc -l <"$TMP/clean.txt") messages, want 2500"
grep -q '^t3|{"n":10,"tenant":"t3","v":10.5,"v2":21}$' "$TMP/clean.txt" || { head -3 "$TMP/clean.txt" >&2; fail "message for n=10 is not as expected"; }
ok "2500 rows published with their keys"
"$SLUICE" run "$D/consume.yaml" --data "$TMP/con" --set brokers="$BOOT" --once --status 0
diff <(sqlite3 "$TMP/pub/sluice.db" "SELECT n, tenant, v, v2 FROM evens ORDER BY n") \
     <(sqlite3 "$TMP/con/sluice.db" "SELECT n, tenant, v, v2 FROM clean_rows ORDER BY n") >/dev/null ||
  fail "the consuming pipeline's table differs from the publisher's"
ok "a second pipeline read exactly the published rows"
exec 3>&-
wait "$MPID" || true
echo "PASS test_publish"
