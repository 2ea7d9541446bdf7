#!/usr/bin/env bash
# The full benchmark of docs/performance.md (minutes; not in CI): rtcd against
# coturn (Debian's turnserver, started and stopped by PID by `rtcd bench
# compare`) and raw loopback UDP in one run, 1200-byte packets, 1/4/16 clients,
# UDP and TCP; paced 500 packets/s rows for loss and p99; packet-size rows;
# allocation rate and memory under allocate/release churn; 10,000 WebSocket
# clients against the signaling hub; and one SFU room of 4 to 50 WebRTC
# participants (SFU_PARTICIPANTS; 4 to 25 by default, 50 in make bench-sfu). Results go to $OUT.
#
#   test/bench-full.sh                 # or: make bench
#   REPEAT=5 DUR=10s test/bench-full.sh
set -euo pipefail
cd "$(dirname "$0")/.."
. test/bench-lib.sh

OUT=${OUT:-${TMPDIR:-/tmp}/rtcd-bench-$(date -u +%Y%m%dT%H%M%SZ)}
REPEAT=${REPEAT:-3}   # whole sequences per compare; rows show the median run
DUR=${DUR:-5s}        # measured time per row
SIGNAL_CLIENTS=${SIGNAL_CLIENTS:-10000}
SFU_PARTICIPANTS=${SFU_PARTICIPANTS:-4,10,25}  # 50 does not fit 2 cores: make bench-sfu
mkdir -p "$OUT"
if ! command -v turnserver >/dev/null; then
	echo "coturn's turnserver is not installed (apt-get install coturn); the compare rows need it" >&2
	exit 1
fi
# 10,000 WebSockets need 10,000 descriptors on each side.
ulimit -n 20000 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

bench_build
bench_start_node "${TURN_EXTRA:-}"
{ echo "rtcd $(git describe --always --dirty 2>/dev/null || echo unknown), $(nproc) CPUs, $(uname -r)"
  turnserver --version 2>/dev/null | head -1 || true; } > "$OUT/env.txt"

run() {
	local name=$1
	shift
	echo "== $name: rtcd bench $*" | tee "$OUT/$name.txt"
	timeout 1800 "${BENCH[@]}" "$@" 2>&1 | tee -a "$OUT/$name.txt"
}
cmp() {
	local name=$1
	shift
	run "$name" compare --rtcd-server "$TURN_ADDR" --rtcd-secret "$SECRET" --rtcd-pid "$RTCD_PID" "$@"
}

cmp udp-closed --clients 1,4,16 --repeat "$REPEAT" --duration "$DUR"
cmp tcp-closed --clients 1,4,16 --repeat "$REPEAT" --duration "$DUR" --transport tcp
cmp udp-rate500 --clients 1,4,16 --repeat "$REPEAT" --duration "$DUR" --rate 500
cmp udp-size200 --clients 4 --repeat "$REPEAT" --duration "$DUR" --size 200
cmp udp-size600 --clients 4 --repeat "$REPEAT" --duration "$DUR" --size 600
cmp alloc-udp --clients 1,4,16 --duration 1s --alloc-cycles 20000 --alloc-duration 10s
cmp alloc-tcp --clients 1,4,16 --duration 1s --alloc-cycles 20000 --alloc-duration 10s --transport tcp
run alloc-memory alloc --server "$TURN_ADDR" --secret "$SECRET" --clients 4 --cycles 100000 --duration 5m --server-pid "$RTCD_PID"
run signal signal --url "ws://${HTTP_URL#http://}/ws" --clients "$SIGNAL_CLIENTS" --rate 5000 --duration 10s --server-pid "$RTCD_PID"
run sfu sfu --url "ws://${HTTP_URL#http://}/ws" --participants "$SFU_PARTICIPANTS" --duration 10s --pid "$RTCD_PID"
kill -0 "$RTCD_PID" || { echo "rtcd died during the run; its log:"; cat "$WORK/rtcd.log"; exit 1; }
echo "results in $OUT"
