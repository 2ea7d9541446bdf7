#!/usr/bin/env bash
# Seconds-long smoke of `rtcd bench` for CI (`make bench-smoke`): build rtcd,
# start one node on free loopback ports with every room on the media server
# (Signal.Media sfu), run short relay (UDP and TCP), udp, signal and sfu
# modes against it and stop it by PID, also on failure. It fails only
# when something does not run; the numbers are printed, never judged.
# The full documented run is test/bench-full.sh (docs/performance.md).
set -euo pipefail
cd "$(dirname "$0")/.."
. test/bench-lib.sh

bench_build
SIGNAL_MEDIA=sfu bench_start_node

run() {
	echo "+ rtcd bench $*"
	timeout 120 "${BENCH[@]}" "$@"
}
run relay --smoke --server "$TURN_ADDR" --secret "$SECRET" --clients 1,4 --server-pid "$RTCD_PID"
run relay --smoke --server "$TURN_ADDR" --secret "$SECRET" --clients 2 --transport tcp --server-pid "$RTCD_PID"
run udp --smoke --clients 1,4
run signal --smoke --url "ws://${HTTP_URL#http://}/ws" --clients 40 --rate 200 --server-pid "$RTCD_PID"
run sfu --smoke --url "ws://${HTTP_URL#http://}/ws" --participants 3 --pid "$RTCD_PID"
kill -0 "$RTCD_PID" || { echo "rtcd died during the smoke; its log:"; cat "$WORK/rtcd.log"; exit 1; }
echo "bench-smoke: ok"
