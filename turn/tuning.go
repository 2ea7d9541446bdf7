package turn

// tuning is how the relay moves UDP datagrams. It is fixed per Server,
// derived from Config in New (defaultTuning) and read only through s.tune;
// tests and the profiling harness build a Server with another tuning
// (newServer) to measure or exercise the paths one by one.
//
// Read paths, one per socket kind, chosen when the socket is set up:
//
//   - UDP listen socket: with event loops (Linux, fast path on, not
//     DisableEventLoops) the loop reads it with recvmmsg and queues for pion
//     what it does not relay itself; otherwise pion's reader goroutine reads
//     it through listenerConn.ReadFrom, batched (recvmmsg, listenBatch per
//     call) where the platform allows, else one datagram per call. On every
//     path, ChannelData of a bound channel is relayed without reaching pion
//     (fast path), and Binding requests over the rate are dropped.
//   - Relay socket (one per allocation): in the event loop of its client's
//     listen socket once the allocation is made over UDP; otherwise pion's
//     packet handler reads it through relayConn.ReadFrom, one datagram per
//     call until relayBusyAfter reads, then batched.
//   - TCP and TLS: one goroutine per connection reads framed STUN and
//     ChannelData (tcpframe.go); never in an event loop.
//
// The fast path relies on pion handing back the very net.Addr values rtcd's
// conns returned (relay addresses and 5-tuple ends), since it finds relays
// and client sides by identity; TestPionAddressIdentity pins that.
type tuning struct {
	listenBatch    int  // datagrams per recvmmsg on a listen socket; <= 1: one per read
	relayBatch     int  // datagrams per recvmmsg on a busy relay socket; <= 1: never batch
	relayBusyAfter int  // datagrams a relay socket reads before it batches
	batchSlot      int  // bytes per datagram slot; pion's MTU is 1600
	rawSend        bool // listen sockets send without Go's write lock (rawSender)
	fastPath       bool // relay bound ChannelData in rtcd (fastpath.go)
	eventLoops     bool // listen and relay sockets in epoll loops (evloop_linux.go)
}

// defaultTuning is the tuning a Server built from c runs with.
func defaultTuning(c Config) tuning {
	fast := !c.DisableFastPath
	return tuning{
		listenBatch:    16,
		relayBatch:     8,
		relayBusyAfter: 256,
		batchSlot:      2048,
		rawSend:        true,
		fastPath:       fast,
		eventLoops:     fast && eventLoopsSupported && !c.DisableEventLoops,
	}
}
