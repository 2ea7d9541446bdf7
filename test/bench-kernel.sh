#!/usr/bin/env bash
# The kernel fast path's table of docs/performance.md (minutes; not in CI,
# needs root for the eBPF program): two rtcd nodes on loopback, one relaying
# in user space (Turn.FastPath "off"), one with the kernel fast path
# (Turn.FastPath "on" on lo), against coturn (started and stopped by PID by
# `rtcd bench compare`) and raw loopback UDP, in one run through the same
# batched load generator. Results go to $OUT.
#
#   test/bench-kernel.sh
#   REPEAT=5 DUR=10s CLIENTS=1,4,16 test/bench-kernel.sh
#   PION_ROWS=0 test/bench-kernel.sh   # without the pion-client reference rows
set -euo pipefail
cd "$(dirname "$0")/.."
. test/bench-lib.sh

OUT=${OUT:-${TMPDIR:-/tmp}/rtcd-bench-kernel-$(date -u +%Y%m%dT%H%M%SZ)}
REPEAT=${REPEAT:-3}
DUR=${DUR:-5s}
CLIENTS=${CLIENTS:-1,4,16}
mkdir -p "$OUT"
if [ "$(id -u)" != 0 ]; then
	echo "the kernel fast path needs root (CAP_BPF, CAP_NET_ADMIN)" >&2
	exit 1
fi
command -v turnserver >/dev/null || { echo "coturn's turnserver is not installed (apt-get install coturn)" >&2; exit 1; }

bench_build
FAST_PATH=off MIN_PORT=50000 MAX_PORT=54999 bench_start_node "" user
USER_ADDR=$TURN_ADDR USER_PID=$RTCD_PID
FAST_PATH=on MIN_PORT=55000 MAX_PORT=59999 bench_start_node '  FastPathInterfaces: [lo]' kernel
KERNEL_ADDR=$TURN_ADDR KERNEL_PID=$RTCD_PID
grep -q "kernel fast path on" "$WORK/rtcd-kernel.log" || { echo "the kernel node has no fast path:"; cat "$WORK/rtcd-kernel.log"; exit 1; }
{ echo "rtcd $(git describe --always --dirty 2>/dev/null || echo unknown), $(nproc) CPUs, $(uname -r)"
  turnserver --version 2>/dev/null | head -1 || true; } > "$OUT/env.txt"

# JSON=1 writes the report as JSON instead of tables.
json=()
[ "${JSON:-}" = 1 ] && json=(--json)
echo "== rtcd bench compare: user space, kernel fast path, coturn, raw UDP" | tee "$OUT/compare.txt"
timeout 1800 "${BENCH[@]}" compare --rtcd-server "$USER_ADDR" --rtcd-secret "$SECRET" --rtcd-pid "$USER_PID" \
	--rtcd-label rtcd-user --rtcd2-server "$KERNEL_ADDR" --rtcd2-pid "$KERNEL_PID" --rtcd2-label rtcd-kernel \
	--clients "$CLIENTS" --repeat "$REPEAT" --duration "$DUR" "${json[@]}" 2>&1 | tee -a "$OUT/compare.txt"
# The same user-space row through pion's TURN client (the generator before
# the batched one), to show what the generator itself costs.
if [ "${PION_ROWS:-1}" = 1 ]; then
	echo "== rtcd bench compare --client pion: user space and raw UDP through pion's client" | tee "$OUT/compare-pion-client.txt"
	timeout 1800 "${BENCH[@]}" compare --no-coturn --client pion --rtcd-server "$USER_ADDR" --rtcd-secret "$SECRET" \
		--rtcd-pid "$USER_PID" --rtcd-label rtcd-user --clients "$CLIENTS" --repeat "$REPEAT" --duration "$DUR" \
		2>&1 | tee -a "$OUT/compare-pion-client.txt"
fi
for pid in "$USER_PID" "$KERNEL_PID"; do
	kill -0 "$pid" || { echo "rtcd $pid died during the run; logs:"; cat "$WORK"/rtcd-*.log; exit 1; }
done
echo "results in $OUT"
