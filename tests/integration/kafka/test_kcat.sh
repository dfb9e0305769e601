#!/usr/bin/env bash
# test_kcat.sh - the Kafka mock cluster against a real outside client (kcat),
# and the `kafka` source against messages kcat produced.
#
# Starts kafka_mock_main --topic t:2 (which the `sluice kafka-mock` command
# wraps), reads its "bootstrap=..." line, produces 300 lines with kcat in three
# runs (tenant=a headers, tenant=b headers, no header), then checks that
#   - kcat -C reads all 300 back with their headers,
#   - the source (test_kafka in SL_KAFKA_EXTERNAL mode: once, filter tenant=a)
#     accepts exactly the 100 tenant=a messages and filters the other 200,
#   - the source's offsets reached Kafka (kcat's group consumer of the same
#     group finds nothing left),
#   - the mock stops on stdin EOF and on SIGTERM.
# Usage: bash tests/integration/kafka/test_kcat.sh BUILD_DIR
source "$(dirname "$0")/../lib.sh"

need kcat
MOCK="$BUILD/kafka_mock_main"
TK="$BUILD/test_kafka"
[ -x "$MOCK" ] || fail "$MOCK not built"
[ -x "$TK" ] || fail "$TK not built"

start_mock m1 --topic t:2 --topic other:3
ok "mock up at $BOOT"
kcat -b "$BOOT" -L -t t 2>/dev/null | grep -q "2 partitions" || fail "topic t should have 2 partitions"

# 100 tenant=a, 150 tenant=b, 50 without the header
seq 1 100 | sed 's/.*/{"n":&,"tenant":"a","msg":"x"}/' | kcat -P -b "$BOOT" -t t -H tenant=a
seq 101 250 | sed 's/.*/{"n":&,"tenant":"b","msg":"y"}/' | kcat -P -b "$BOOT" -t t -H tenant=b
seq 251 300 | sed 's/.*/{"n":&,"msg":"z"}/' | kcat -P -b "$BOOT" -t t
ok "kcat produced 300 messages"

kcat -C -b "$BOOT" -t t -o beginning -e -q -f '%h|%s\n' >"$TMP/all.txt" 2>"$TMP/kcat.err" ||
  { cat "$TMP/kcat.err" >&2; fail "kcat -C failed"; }
[ "$(wc -l <"$TMP/all.txt")" -eq 300 ] || fail "kcat read $(wc -l <"$TMP/all.txt") messages, want 300"
[ "$(grep -c '^tenant=a|' "$TMP/all.txt")" -eq 100 ] || fail "kcat saw wrong tenant=a count"
[ "$(sort -u "$TMP/all.txt" | wc -l)" -eq 300 ] || fail "duplicates in kcat's read"
ok "kcat consumed 300 messages with headers"

SL_KAFKA_EXTERNAL="$BOOT" SL_KAFKA_TOPIC=t SL_KAFKA_EXPECT_A=100 SL_KAFKA_EXPECT_TOTAL=300 \
  "$TK" >"$TMP/src.out" 2>"$TMP/src.err" || { cat "$TMP/src.out" "$TMP/src.err" >&2; fail "source check failed"; }
grep -q "accepted=100 filtered=200 done=1" "$TMP/src.out" || fail "source: $(cat "$TMP/src.out")"
ok "source accepted 100 tenant=a messages, filtered 200"

# the source committed its positions to Kafka: the same group has nothing left
# (control first: a fresh group reads all 300 the same way)
fresh=$(timeout 60 kcat -b "$BOOT" -G fresh -o beginning -e -q -f '%s\n' t 2>/dev/null | wc -l || true)
[ "$fresh" -eq 300 ] || fail "kcat group consumer read $fresh messages, want 300"
left=$(timeout 30 kcat -b "$BOOT" -G external -o beginning -e -q -f '%s\n' t 2>/dev/null | wc -l || true)
[ "$left" -eq 0 ] || fail "group 'external' still had $left messages: offsets not committed to Kafka"
ok "offsets committed to Kafka for the group"

exec 3>&-   # stdin EOF stops the mock
for _ in $(seq 50); do kill -0 "$MPID" 2>/dev/null || break; sleep 0.1; done
kill -0 "$MPID" 2>/dev/null && fail "mock still running after stdin EOF"
wait "$MPID" || fail "mock exited with an error"
ok "mock stopped on stdin EOF"

start_mock m2 --topic t:2
kill -TERM "$MPID"
wait "$MPID" || fail "mock exited with an error on SIGTERM"
exec 3>&-
ok "mock stopped on SIGTERM"
echo "PASS test_kcat"
