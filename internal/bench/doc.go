// Package bench implements `rtcd bench`: load generators that measure a TURN relay
// (any server that accepts TURN REST credentials), the raw-UDP loopback limit, and
// rtcd's WebSocket signaling, so that rtcd can be compared with coturn and with the
// machine itself in one run. Run is the single entry point.
//
// Modes:
//
//	rtcd bench relay --server 127.0.0.1:3478 --secret S --clients 1,4,16 [--transport tcp] [--rate 500] [--server-pid P]
//	rtcd bench udp --clients 1,4,16
//	rtcd bench alloc --server 127.0.0.1:3478 --secret S --clients 4 --cycles 100000 [--server-pid P]
//	rtcd bench signal --url ws://127.0.0.1:8080/ws --clients 10000 --rate 5000 [--server-pid P]
//	rtcd bench sfu --url ws://127.0.0.1:8080/ws --rooms 1 --participants 4,10,25 [--pid P]
//	rtcd bench compare --rtcd-server 127.0.0.1:3478 --rtcd-secret S --rtcd-pid P [--transport tcp]
//
// relay: each client allocates with pion's TURN client, creates a permission for
// an echo peer that bench runs on 127.0.0.1, and sends timestamped packets (a closed
// loop with --window in flight, or --rate per second). The first send makes pion
// bind a channel; a probe waits for an echo before the clock starts. Reported:
// echoes/s, loss, payload Mbit/s, round-trip p50/p99, and with --server-pid the
// server's CPU per relayed datagram (each echo is two) and RSS from /proc.
//
// alloc: each cycle is a new 5-tuple: Allocate (401), authenticated Allocate,
// Refresh LIFETIME 0 (RFC 8656 §7). RSS is sampled at the start, after 1,000
// cycles and at the end (the issue bounds end/1,000 at 2x).
//
// signal: clients connect from 127.1.x.y source addresses (--per-ip each) so the
// hub's per-IP cap applies per source, say hello and join rooms bench-0..M-1
// (docs/protocol.md), then send signal messages to their room peers at --rate in
// total; latency is measured from the send time carried in the data.
//
// sfu: R rooms of N participants, each a pion PeerConnection to rtcd's media
// server speaking the real protocol over WebSocket (docs/protocol.md §3.10):
// it publishes Opus-sized audio with the audio level extension and VP8
// simulcast on rids q, h and f (payload descriptors, key frames every
// --keyframe and on PLI), reports a tile for every other participant with
// layers (--tile, by default the 16:9 tile of a gallery of N on --screen, so
// a room of 4 asks for the h layer and one of 10 or more for q), and
// receives everyone else. A room's participants all publish at once (the
// server coalesces its offers, one outstanding per participant), and the
// row starts once everyone has everyone's tracks.
// Every payload ends in a trailer with its send time on the run's clock, so
// receivers measure the forwarding delay; loss is by RTP sequence number per
// received stream. With --pid, the daemon's CPU per forwarded Mbit and RSS;
// always the host's CPU from /proc/stat minus bench's own, which counts the
// kernel's loopback work, and bench's own CPU, which shows a saturated
// generator. Only loopback URLs are accepted, and ICE uses only loopback
// candidates on both sides.
//
// compare: starts coturn (Debian's turnserver) on a free loopback port with a
// generated 0600 config, runs the relay loop against rtcd, coturn and raw UDP for
// each client count in one run, prints the ratios, and stops coturn by PID.
//
// --smoke shortens any mode to seconds for CI. All traffic goes to the named
// server and to the loopback echo peer; every loop is bounded in time and count.
// The load client shares the CPUs with the server, so compare numbers only within
// one run; reports carry the load average for that reason.
package bench
