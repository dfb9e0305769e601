# lib_syslog.sh - shared by the syslog integration tests (sourced after ../lib.sh).
# start_listener [args...]: runs syslog_listen in the background; sets LPID,
# UDP_PORT, TCP_PORT; its JSON lines go to $TMP/listen.out.
start_listener() {
  "$BUILD/syslog_listen" "$@" >"$TMP/listen.out" 2>"$TMP/listen.err" &
  LPID=$!
  UDP_PORT= TCP_PORT=
  # tcp_port is printed last: once it is there, udp_port is too. Reading
  # udp_port first and breaking on tcp_port alone raced with the write.
  for _ in $(seq 100); do
    grep -q '^tcp_port=' "$TMP/listen.out" && break
    sleep 0.05
  done
  UDP_PORT=$(sed -n 's/^udp_port=//p' "$TMP/listen.out")
  TCP_PORT=$(sed -n 's/^tcp_port=//p' "$TMP/listen.out")
  [ -n "$TCP_PORT" ] || { cat "$TMP/listen.err" >&2; fail "listener printed no ports"; }
}
# wait_lines PATTERN N [seconds]: waits until N output lines match PATTERN.
wait_lines() {
  local pat=$1 n=$2 secs=${3:-30} got=0
  for _ in $(seq $((secs * 10))); do
    got=$(grep -c -- "$pat" "$TMP/listen.out" || true)
    [ "$got" -ge "$n" ] && return 0
    sleep 0.1
  done
  echo "only $got of $n lines match $pat" >&2
  return 1
}
stop_listener() {
  kill -TERM "$LPID" 2>/dev/null || true
  wait "$LPID" 2>/dev/null || true
}
# exactly_once PREFIX N: ids PREFIX-1..PREFIX-N each appear exactly once.
exactly_once() {
  local prefix=$1 n=$2
  { grep -o " $prefix-[0-9]*\"}\$" "$TMP/listen.out" || true; } | sed "s/^ //; s/\"}\$//" | sort >"$TMP/ids.$prefix"
  seq 1 "$n" | sed "s/^/$prefix-/" | sort >"$TMP/want.$prefix"
  if ! cmp -s "$TMP/ids.$prefix" "$TMP/want.$prefix"; then
    echo "missing: $(comm -13 "$TMP/ids.$prefix" "$TMP/want.$prefix" | head -5 | tr '\n' ' ')" >&2
    echo "duplicated or unexpected: $(uniq -d "$TMP/ids.$prefix" | head -5 | tr '\n' ' ') $(comm -23 "$TMP/ids.$prefix" "$TMP/want.$prefix" | head -5 | tr '\n' ' ')" >&2
    fail "$prefix: messages not received exactly once"
  fi
}
