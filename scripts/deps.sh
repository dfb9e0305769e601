#!/usr/bin/env bash
# Installs the Debian packages Sluice needs to build and test, when missing.
# Usage: scripts/deps.sh [build|test|all]
set -euo pipefail
what=${1:-all}
build_pkgs="gcc g++ make cmake pkg-config libsqlite3-dev libyaml-dev libzstd-dev libxxhash-dev
  libsimdjson-dev libcmocka-dev libmicrohttpd-dev librdkafka-dev libpcre2-dev
  libcurl4-openssl-dev libssl-dev zlib1g-dev libpq-dev libmosquitto-dev libgnutls28-dev tzdata"
# tzdata: the time zones of calendar windows (read at run time from /usr/share/zoneinfo,
# and by test_tz and the calendar window tests)
# Every tool a test, benchmark or check calls (a test whose tool is missing is
# reported skipped, and CI=true fails on skips): sqlite3, zstd, curl, ps/free
# (procps), /usr/bin/time, bc, valgrind, chromium, promtool (prometheus),
# logger (bsdutils), kcat, rsyslogd (rsyslog; its openssl driver rsyslog-openssl), python3 (with its sqlite3
# module), nm (binutils), clang + libFuzzer runtime (fuzz build), clang-format
# (make format-check), aiosmtpd and openssl (alert channel tests), initdb/pg_ctl/psql
# (postgresql, postgresql-client), mosquitto + mosquitto_pub (mosquitto-clients),
# systemd-analyze (systemd: the unit is verified), man (man-db, groff-base), tmux (sluice top
# in a terminal); node and npm below.
test_pkgs="sqlite3 zstd clang libclang-rt-14-dev curl procps time bc valgrind chromium prometheus bsdutils kcat rsyslog rsyslog-openssl
  python3 binutils clang-format python3-aiosmtpd openssl postgresql postgresql-client mosquitto
  mosquitto-clients systemd man-db groff-base tmux"
case "$what" in
  build) pkgs="$build_pkgs" ;;
  test|all) pkgs="$build_pkgs $test_pkgs" ;;
  *) echo "usage: $0 [build|test|all]" >&2; exit 2 ;;
esac
missing=()
for p in $pkgs; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# the dashboard's chart library comes from npm: any Node.js with npm will do
command -v npm >/dev/null || missing+=(nodejs npm)
if [ ${#missing[@]} -gt 0 ]; then
  echo "sluice: installing missing Debian packages: ${missing[*]}" >&2
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# DuckDB, the independent reader of the Parquet files we write
# (tests/integration/parquet), comes from npm like the dashboard's uPlot:
# pinned by bench/package-lock.json, installed into bench/node_modules.
if [ "$what" != build ] && [ ! -d "$(dirname "$0")/../bench/node_modules/@duckdb/node-api" ]; then
  echo "sluice: installing DuckDB for node into bench/node_modules" >&2
  npm ci --prefix "$(dirname "$0")/../bench" --no-audit --no-fund --loglevel=error >&2
fi
