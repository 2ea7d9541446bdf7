#!/usr/bin/env bash
# The SFU figures of docs/performance.md (`make bench-sfu`, minutes; not in
# CI): build rtcd, start one node on free loopback ports with every room on
# the media server (Signal.Media sfu, SFU on a loopback UDP port, no
# ICE-TCP), run `rtcd bench sfu` for one room of each of SFU_PARTICIPANTS
# participants, one process per row with the machine's load before it,
# and stop the node by PID, also on failure. All media stays on loopback.
#
#   test/bench-sfu.sh                                  # or: make bench-sfu
#   SFU_PARTICIPANTS=4,10 DUR=10s SFU_ROOMS=2 test/bench-sfu.sh
set -euo pipefail
cd "$(dirname "$0")/.."
. test/bench-lib.sh

SFU_PARTICIPANTS=${SFU_PARTICIPANTS:-4,10,25,50}
SFU_ROOMS=${SFU_ROOMS:-1}
DUR=${DUR:-20s}
OUT=${OUT:-${TMPDIR:-/tmp}/rtcd-bench-sfu-$(date -u +%Y%m%dT%H%M%SZ)}
mkdir -p "$OUT"
ulimit -n 20000 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

bench_build
SIGNAL_MEDIA=sfu bench_start_node
echo "rtcd $(git describe --always --dirty 2>/dev/null || echo unknown), $(nproc) CPUs, $(uname -r)" | tee "$OUT/env.txt"
for n in ${SFU_PARTICIPANTS//,/ }; do
	args=(sfu --url "ws://${HTTP_URL#http://}/ws" --rooms "$SFU_ROOMS" --participants "$n" --duration "$DUR"
		--setup-timeout 30s --pid "$RTCD_PID")
	{ echo "== $(uptime)"; echo "+ rtcd bench ${args[*]}"; } | tee "$OUT/sfu-$n.txt"
	timeout 900 "${BENCH[@]}" "${args[@]}" 2>&1 | tee -a "$OUT/sfu-$n.txt"
	kill -0 "$RTCD_PID" || { echo "rtcd died during the run; its log:"; cat "$WORK/rtcd.log"; exit 1; }
done
echo "results in $OUT"
