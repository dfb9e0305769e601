# lib_http.sh - helpers of the http source's tests (source it after lib.sh).

# free_port: a TCP port free on 127.0.0.1 now
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# wait_listening PORT PID: until the port answers HTTP (fails after 15 s or when PID exits)
wait_listening() {
  local port=$1 pid=$2 code
  for _ in $(seq 150); do
    kill -0 "$pid" 2>/dev/null || return 1
    code=$(curl -s -m 2 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/" || true)
    [ "$code" != 000 ] && return 0
    sleep 0.1
  done
  return 1
}

# post URL FILE [KEY] [identity|gzip|zstd] [extra curl args...]: POSTs the file,
# prints the HTTP status (000 when there was no answer); the answer's body is
# in $TMP/answer, its headers in $TMP/answer.h
post() {
  local url=$1 f=$2 key=${3:-} enc=${4:-identity} data=$2
  shift 4 2>/dev/null || shift $#
  local hdr=()
  case $enc in
    gzip) gzip -c "$f" > "$f.gz"; data=$f.gz; hdr+=(-H "Content-Encoding: gzip") ;;
    zstd) zstd -qfc "$f" > "$f.zst"; data=$f.zst; hdr+=(-H "Content-Encoding: zstd") ;;
  esac
  [ -n "$key" ] && hdr+=(-H "Idempotency-Key: $key")
  curl -s -m 30 -o "$TMP/answer" -D "$TMP/answer.h" -w '%{http_code}' "${hdr[@]}" "$@" \
    -H 'Content-Type: application/x-ndjson' --data-binary @"$data" "$url" || true
}

# wait_gone PID: until the process has exited (at most 20 s); for processes
# that are not children of this shell, which `wait` cannot wait for
wait_gone() {
  for _ in $(seq 400); do
    kill -0 "$1" 2>/dev/null || return 0
    sleep 0.05
  done
  return 1
}
