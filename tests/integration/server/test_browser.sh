#!/usr/bin/env bash
# test_browser.sh - loads the dashboard and pipeline pages in headless
# Chromium (Debian's /usr/bin/chromium, driven by playwright-core from npm),
# checks every panel shows data and that a row inserted in the database
# appears without a reload. Screenshots go to $BUILD/screenshots/.
source "$(dirname "$0")/../lib.sh"
HERE=$(cd "$(dirname "$0")" && pwd)
CHROMIUM=${CHROMIUM:-/usr/bin/chromium}
[ -x "$CHROMIUM" ] || skip "chromium is not installed at $CHROMIUM (apt-get install chromium)"
need node nodejs
if [ ! -d "$HERE/node_modules/playwright-core" ]; then
    need npm
    (cd "$HERE" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error)
fi
TEST_SERVER=${TEST_SERVER:-$BUILD/test_server}
[ -x "$TEST_SERVER" ] || fail "test program not built: $TEST_SERVER"
mkdir -p "$BUILD/screenshots"
TEST_SERVER="$TEST_SERVER" CHROMIUM="$CHROMIUM" SHOTS="$BUILD/screenshots" DB="$TMP/demo.db" \
    node "$HERE/browser.mjs" || fail "browser test"
ok "dashboard in headless chromium (screenshots in $BUILD/screenshots)"
