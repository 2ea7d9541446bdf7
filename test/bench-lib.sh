# Shared by bench-smoke.sh, bench-full.sh and bench-kernel.sh: build rtcd and
# the bench runner, start rtcd nodes on free loopback ports and stop them by
# PID on exit. Source it; it sets BENCH (the bench command), RTCD_PID,
# HTTP_URL, TURN_ADDR (of the node started last), SECRET (one for every
# node) and WORK (a temp dir removed on exit).

GO=${GO:-go}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/rtcd-bench.XXXXXX")
RTCD_PID=""
RTCD_PIDS=()
SECRET=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')

bench_cleanup() {
	for pid in "${RTCD_PIDS[@]}"; do
		if kill -0 "$pid" 2>/dev/null; then
			kill "$pid" 2>/dev/null || true
			for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
			kill -9 "$pid" 2>/dev/null || true
		fi
	done
	RTCD_PID=""
	RTCD_PIDS=()
	rm -rf "$WORK"
}
trap bench_cleanup EXIT
trap 'exit 130' INT TERM

bench_build() {
	$GO build -o bin/rtcd ./cmd/rtcd
	BENCH=(bin/rtcd bench)
}

# bench_start_node [extra Turn keys as "  Key: value" lines] [node name]
# SIGNAL_MEDIA sets Signal.Media (auto unless given); the media server
# listens on a free loopback UDP port and gathers loopback candidates, so
# `rtcd bench sfu` reaches it and nothing else does. FAST_PATH sets
# Turn.FastPath ("off" unless given: the kernel fast path is measured by
# bench-kernel.sh, and would otherwise attach to every interface of a root
# CI machine). A second node needs a
# name (its files are rtcd-NAME.yaml and .log) and MIN_PORT/MAX_PORT of its own.
bench_start_node() {
	local node=rtcd${2:+-$2}
	cat > "$WORK/$node.yaml" <<YAML
Name: rtcd-bench
Host: 127.0.0.1
Port: 0
MaxConns: 30000
Timeout: 10000
Log:
  Encoding: plain
  Level: info
  Stat: false
Auth:
  Secrets: ["\${RTCD_BENCH_SECRET}"]
  TTL: 6h
Turn:
  Listen: 127.0.0.1:0
  PublicIP: 127.0.0.1
  MinPort: ${MIN_PORT:-50000}
  MaxPort: ${MAX_PORT:-59999}
  AllowPeers: [127.0.0.1/32]
  MaxAllocationsPerUser: 100000
  MaxAllocations: 100000
  FastPath: "${FAST_PATH:-off}"
${1:-}
Signal:
  Mode: open
  RoomSize: 6
  MaxConnsPerIP: 20000
  MessagesPerSecond: 50
  Media: ${SIGNAL_MEDIA:-auto}
  SFURoomSize: 50
SFU:
  UDP: 127.0.0.1:0
  TCP: "off"
  Loopback: true
YAML
	chmod 600 "$WORK/$node.yaml"
	RTCD_BENCH_SECRET=$SECRET bin/rtcd -f "$WORK/$node.yaml" > "$WORK/$node.log" 2>&1 &
	RTCD_PID=$!
	RTCD_PIDS+=("$RTCD_PID")
	HTTP_URL="" TURN_ADDR=""
	for _ in $(seq 100); do
		HTTP_URL=$(sed -n 's/.*web app, signaling: *\(http:\/\/[0-9.:]*\).*/\1/p' "$WORK/$node.log" | head -1)
		TURN_ADDR=$(sed -n 's/.*relay listens on: *udp \([0-9.:]*\),.*/\1/p' "$WORK/$node.log" | head -1)
		[ -n "$HTTP_URL" ] && [ -n "$TURN_ADDR" ] && break
		kill -0 "$RTCD_PID" 2>/dev/null || break
		sleep 0.1
	done
	if [ -z "$HTTP_URL" ] || [ -z "$TURN_ADDR" ]; then
		echo "rtcd did not start; its log:" >&2
		cat "$WORK/$node.log" >&2
		return 1
	fi
	echo "rtcd pid $RTCD_PID: $HTTP_URL, TURN $TURN_ADDR"
}
