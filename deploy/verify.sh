#!/usr/bin/env bash
# Checks deploy/rtcd.service the way systemd will read it:
#   1. `systemd-analyze verify` must print nothing about the unit (it exits 0
#      on unknown keys and bad values, so its output is checked, not only
#      its status);
#   2. `systemd-analyze security --offline` must rate the sandbox at or below
#      MAX_EXPOSURE (0.0 best .. 10.0 worst; the unit scores 1.7).
# ExecStart must exist for verify, so when /usr/local/bin/rtcd is missing a
# stub is mounted over /usr/local/bin in a private mount namespace (root),
# or a throw-away root with the host's system units is used (--root).
# Exit status: 0 ok, 1 findings, 77 skipped (no systemd-analyze).
set -euo pipefail
cd "$(dirname "$0")"

MAX_EXPOSURE=${MAX_EXPOSURE:-2.5}
unit=rtcd.service

if ! command -v systemd-analyze >/dev/null 2>&1; then
  echo "verify: systemd-analyze not installed (apt-get install systemd); skipped" >&2
  exit 77
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/bin"
printf '#!/bin/sh\nexit 0\n' >"$tmp/bin/rtcd"
chmod 755 "$tmp/bin/rtcd"
cp "$unit" "$tmp/$unit"

# analyze ARGS... runs systemd-analyze with /usr/local/bin/rtcd present.
analyze() {
  if [ -x /usr/local/bin/rtcd ]; then
    systemd-analyze "$@"
  elif [ "$(id -u)" = 0 ] && unshare -m true 2>/dev/null; then
    unshare -m sh -c 'mount --bind "$0" /usr/local/bin && exec systemd-analyze "$@"' "$tmp/bin" "$@"
  else
    # Unprivileged: a root directory holding the stub and a copy of the
    # host's units (verify needs sysinit.target and friends).
    local root="$tmp/root"
    if [ ! -d "$root" ]; then
      mkdir -p "$root/usr/local/bin" "$root/usr/lib/systemd" "$root/etc/systemd/system"
      cp "$tmp/bin/rtcd" "$root/usr/local/bin/rtcd"
      cp -a /usr/lib/systemd/system "$root/usr/lib/systemd/system"
    fi
    local args=() a
    for a in "$@"; do
      if [ "$a" = "$tmp/$unit" ]; then
        cp "$tmp/$unit" "$root/etc/systemd/system/$unit"
        a="$root/etc/systemd/system/$unit"
      fi
      args+=("$a")
    done
    systemd-analyze --root="$root" "${args[@]}"
  fi
}

status=0
out=$(analyze verify "$tmp/$unit" 2>&1) || status=$?
# Only lines about our unit count; a bare host may warn about its own units.
findings=$(printf '%s\n' "$out" | grep -F "$unit" || true)
if [ "$status" != 0 ] || [ -n "$findings" ]; then
  echo "verify: systemd-analyze verify $unit (exit $status):" >&2
  printf '%s\n' "${findings:-$out}" >&2
  exit 1
fi
echo "verify: systemd-analyze verify $unit: no findings"

sec=$(analyze security --offline=true "$tmp/$unit" 2>&1) || true
level=$(printf '%s\n' "$sec" | sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p')
if [ -z "$level" ]; then
  echo "verify: systemd-analyze security gave no exposure level:" >&2
  printf '%s\n' "$sec" | tail -5 >&2
  exit 1
fi
if awk -v l="$level" -v m="$MAX_EXPOSURE" 'BEGIN { exit !(l > m) }'; then
  echo "verify: exposure $level is above $MAX_EXPOSURE; what is missing:" >&2
  printf '%s\n' "$sec" | grep '✗' >&2 || true
  exit 1
fi
echo "verify: systemd-analyze security $unit: exposure $level (max $MAX_EXPOSURE)"
