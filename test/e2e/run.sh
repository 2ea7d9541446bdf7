#!/usr/bin/env bash
# Runs the browser end-to-end tests (node --test + playwright-core + Debian's
# Chromium) inside a loopback-only network namespace, so neither the browser
# nor the daemon can reach anything but 127.0.0.1/::1, and every process left
# behind dies with the namespace's PID 1.
#
#   test/e2e/run.sh                 all tests
#   test/e2e/run.sh call.test.mjs   one file
#   E2E_NO_NETNS=1 test/e2e/run.sh  without the namespace (not root)
set -euo pipefail
cd "$(dirname "$0")"

if [[ ! -x /usr/bin/chromium ]]; then
  echo "e2e: installing chromium" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y --no-install-recommends chromium >/dev/null 2>&1 ||
    { apt-get update >/dev/null && apt-get install -y --no-install-recommends chromium >/dev/null; }
fi
if ! command -v certutil >/dev/null; then
  # tls.test.mjs trusts its test CA through an NSS database (certutil).
  echo "e2e: installing libnss3-tools" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y --no-install-recommends libnss3-tools >/dev/null 2>&1 ||
    { apt-get update >/dev/null && apt-get install -y --no-install-recommends libnss3-tools >/dev/null; } ||
    echo "e2e: no certutil; tls.test.mjs falls back to --ignore-certificate-errors-spki-list" >&2
fi
if [[ ! -d node_modules/playwright-core ]]; then
  echo "e2e: npm ci" >&2
  npm ci --no-audit --no-fund --loglevel=error
fi

# Build once here (Go's caches are outside the namespace's concern), so the
# tests only start the binary.
bindir=$(mktemp -d)
trap 'rm -rf "$bindir"' EXIT
(cd ../.. && go build -o "$bindir/rtcd" ./cmd/rtcd && go build -o "$bindir/gopeer" ./test/e2e/gopeer)
export RTCD_BIN="$bindir/rtcd" GOPEER_BIN="$bindir/gopeer"

files=("$@")
[[ ${#files[@]} -gt 0 ]] || files=(*.test.mjs)
# node's --test-timeout bounds each test and each file alike; a file runs
# up to ~2 minutes of calls on a loaded 2-core machine, so the bound is set
# well above that, and waits inside the tests carry their own deadlines.
cmd=(node --test --test-concurrency=1 --test-timeout=300000 "${files[@]}")

# Not exec: the EXIT trap must still remove the binaries.
if [[ -z "${E2E_NO_NETNS:-}" && $(id -u) == 0 ]] && command -v unshare >/dev/null && command -v ip >/dev/null; then
  unshare --net --pid --fork --kill-child --mount-proc \
    bash -c 'ip link set lo up && E2E_NETNS=1 exec "$@"' e2e "${cmd[@]}"
else
  echo "e2e: running without a network namespace" >&2
  "${cmd[@]}"
fi
