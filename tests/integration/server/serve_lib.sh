# serve_lib.sh - starts `test_server --serve` (tests/unit/server/test_server.c)
# on a demo database and exports PORT; lines written to fd 7 are run as SQL
# by the server process, followed by a commit publish. Source after lib.sh.
TEST_SERVER=${TEST_SERVER:-$BUILD/test_server}
[ -x "$TEST_SERVER" ] || fail "test program not built: $TEST_SERVER (cmake --build $BUILD --target test_server)"
start_server() { # $1 = token (may be empty)
    mkfifo "$TMP/serve.in"
    "$TEST_SERVER" --serve "$TMP/demo.db" "$1" <"$TMP/serve.in" >"$TMP/serve.out" 2>"$TMP/serve.err" &
    SERVER_PID=$!
    exec 7>"$TMP/serve.in"
    for _ in $(seq 100); do
        grep -q '^PORT ' "$TMP/serve.out" 2>/dev/null && break
        sleep 0.1
    done
    PORT=$(awk '/^PORT /{print $2}' "$TMP/serve.out")
    [ -n "$PORT" ] || { cat "$TMP/serve.err" >&2; fail "server did not start"; }
    export PORT
}
stop_server() {
    exec 7>&-
    wait "$SERVER_PID" || fail "server exited with an error"
}
