#!/usr/bin/env bash
# Installs what the test suite needs on a fresh Debian machine, and nothing
# that is already there: Chromium (browser tests), nftables and iproute2
# (NAT matrix), coturn (interop and benchmark reference), redis-server
# (cluster tests; they start their own on a loopback port), and the npm
# packages of the browser tests. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v nft >/dev/null 2>&1 || need+=(nftables)
command -v ip >/dev/null 2>&1 || need+=(iproute2)
command -v turnserver >/dev/null 2>&1 || need+=(coturn)
command -v turnutils_uclient >/dev/null 2>&1 || need+=(coturn)
command -v systemd-analyze >/dev/null 2>&1 || need+=(systemd)
command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
command -v certutil >/dev/null 2>&1 || need+=(libnss3-tools)
command -v openssl >/dev/null 2>&1 || need+=(openssl)
command -v curl >/dev/null 2>&1 || need+=(curl)

if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "deps: missing ${need[*]}; run as root to install them (tests needing them will skip)" >&2
  else
    echo "deps: installing ${need[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    # policy-rc.d keeps Debian from starting coturn's and redis-server's own services.
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d; chmod +x /usr/sbin/policy-rc.d
    apt-get install -y -qq --no-install-recommends $(printf '%s\n' "${need[@]}" | sort -u) >/dev/null
    rm -f /usr/sbin/policy-rc.d
  fi
fi

if [ -f test/e2e/package-lock.json ] && [ ! -d test/e2e/node_modules ]; then
  echo "deps: npm ci (test/e2e)"
  (cd test/e2e && npm ci --no-audit --no-fund --loglevel=error)
fi
