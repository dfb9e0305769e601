#!/usr/bin/env bash
# make install's files: the binary, the man page, bash completion and the
# systemd unit, installed with DESTDIR into a temporary root; the man page and
# the completion know every command `sluice --help` lists; the unit passes
# `systemd-analyze verify`; the container image installs a package for every
# library the binary links.
source "$(dirname "$0")/../lib.sh"
need cmake
need man man-db
need groff groff-base
need systemd-analyze systemd
need dpkg-query dpkg
need readelf binutils

ROOT="$TMP/root"
DESTDIR="$ROOT" cmake --install "$BUILD" --prefix /usr >"$TMP/install.log" 2>&1 ||
  { cat "$TMP/install.log" >&2; fail "cmake --install failed"; }
for f in usr/bin/sluice usr/share/man/man1/sluice.1 usr/share/bash-completion/completions/sluice \
  usr/share/sluice/pipelines/cameras.yaml usr/share/doc/sluice/README.md; do
  [ -f "$ROOT/$f" ] || fail "not installed: $f"
done
"$ROOT/usr/bin/sluice" --version | has '^sluice ' || fail "installed binary does not run"
ok "installed under DESTDIR"

# every command of the usage text, in the man page and in the completion
cmds=$("$SLUICE" --help | sed -n 's/^  sluice \([a-z-]*\).*/\1/p' | sort -u)
[ "$(echo "$cmds" | wc -l)" -ge 8 ] || fail "usage lists too few commands: $cmds"
man_text=$(MANWIDTH=200 man -l "$ROOT/usr/share/man/man1/sluice.1" 2>"$TMP/man.err")
[ -s "$TMP/man.err" ] && { cat "$TMP/man.err" >&2; fail "man page warnings"; }
groff -man -ww -z "$ROOT/usr/share/man/man1/sluice.1" 2>"$TMP/groff.err"
[ -s "$TMP/groff.err" ] && { cat "$TMP/groff.err" >&2; fail "groff warnings in the man page"; }
for c in $cmds; do
  echo "$man_text" | has "sluice $c\b" || fail "man page does not describe 'sluice $c'"
done
ok "man page renders without warnings and lists: $(echo $cmds)"

complete_words() { # complete_words WORD... : COMPREPLY for the last word
  bash -c 'shopt -s extglob; source "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1));
           _sluice; printf "%s\n" "${COMPREPLY[@]}"' _ \
    "$ROOT/usr/share/bash-completion/completions/sluice" "$@"
}
got=$(complete_words sluice "")
for c in $cmds; do echo "$got" | has -x "$c" || fail "completion misses command '$c'"; done
complete_words sluice run --on | has -x -- "--once" || fail "completion of 'run --on'"
complete_words sluice query p --format "" | has -x json || fail "completion of --format"
(cd "$REPO" && complete_words sluice run pipelines/cam) | has -x pipelines/cameras.yaml ||
  fail "completion of a pipeline file"
PATH="$ROOT/usr/bin:$PATH" complete_words sluice help dedu | has -x dedupe ||
  fail "completion of a component name"
ok "bash completion: commands, options, files, components"

# the unit, as installed for PREFIX=/usr: verify an instance of it
unit="$ROOT/usr/lib/systemd/system/sluice@.service"
[ -f "$unit" ] || unit="$ROOT/lib/systemd/system/sluice@.service"
[ -f "$unit" ] || fail "systemd unit not installed"
grep -q "^ExecStart=$BUILD/../" "$unit" && fail "unit names the build tree"
mkdir -p "$TMP/units"
# verify needs ExecStart's binary to exist: point it at the DESTDIR copy
sed "s|^ExecStart=/usr/local/bin/sluice|ExecStart=$ROOT/usr/bin/sluice|; s|^ExecStart=/usr/bin/sluice|ExecStart=$ROOT/usr/bin/sluice|" \
  "$unit" >"$TMP/units/sluice@cameras.service"
grep -q "^ExecStart=$ROOT/usr/bin/sluice run /etc/sluice/%i.yaml" "$TMP/units/sluice@cameras.service" ||
  fail "unexpected ExecStart: $(grep ExecStart= "$unit")"
for k in Type=notify WatchdogSec= Restart=on-failure DynamicUser=yes ProtectSystem=strict \
  ReadWritePaths= StateDirectory= ExecReload=; do
  grep -q "^$k" "$unit" || fail "unit lacks $k"
done
(cd "$TMP/units" && SYSTEMD_LOG_LEVEL=warning systemd-analyze verify --man=no \
  "$TMP/units/sluice@cameras.service") >"$TMP/verify.log" 2>&1 ||
  { cat "$TMP/verify.log" >&2; fail "systemd-analyze verify"; }
if grep -v "^$" "$TMP/verify.log" | grep -vi "bpf\|cgroup\|Failed to .*kernel\|/proc/" | has .; then
  cat "$TMP/verify.log" >&2; fail "systemd-analyze verify printed warnings"
fi
ok "systemd unit verifies"

# the image's runtime packages own every library the binary needs
pkgs=$(sed -n '/^FROM debian:12-slim/,$p' "$REPO/Dockerfile" | tr ' \\' '\n\n' | grep -E '^lib|^zlib' | sort -u)
for lib in $(readelf -d "$SLUICE" | sed -n 's/.*NEEDED.*\[\(.*\)\]/\1/p'); do
  [[ $lib == libasan* || $lib == libubsan* ]] && continue
  path=$(ldd "$SLUICE" | awk -v l="$lib" '$1 == l {print $3}')
  [ -n "$path" ] || fail "ldd does not resolve $lib"
  owner=$(dpkg -S "$path" 2>/dev/null || dpkg -S "$(readlink -f "$path")" 2>/dev/null) ||
    fail "no package owns $path"
  owner=${owner%%:*}
  echo "$pkgs" | has -x "$owner" || fail "Dockerfile's runtime stage lacks $owner (for $lib)"
done
sed -e ':a' -e '/\\$/N; s/\\\n//; ta' "$REPO/Dockerfile" | has 'HEALTHCHECK.*/healthz' || fail "Dockerfile has no /healthz health check"
ok "Dockerfile installs every linked library's package"
