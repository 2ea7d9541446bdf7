// Package turn runs rtcd's embedded STUN/TURN relay (RFC 8489, RFC 8656) on
// top of pion/turn v4, imported as pionturn.
//
// What it adds to pion, and why:
//   - credentials from auth.Issuer with coturn's expiry semantics: an expired
//     credential cannot create an allocation, but an allocation created while
//     it was valid keeps refreshing, so calls longer than the TTL survive;
//   - peerPolicy, a deny-by-default filter for loopback, private, link-local,
//     multicast and IANA special-purpose peers judged on the canonical address
//     (every IPv4-in-IPv6 form unwrapped), so the relay is not an SSRF proxy;
//     the server's own relay address stays reachable only at the ports of live
//     allocations, so two relay-only clients of one server can talk and no
//     other service on the host can be reached;
//   - per-user, per-client-address and total allocation quotas (486);
//   - a per-address rate limit for STUN Binding, so the relay is no reflector;
//   - SO_REUSEPORT UDP sockets, a TCP listener capped in total and per
//     address with first-message and idle deadlines, and a Stop that closes
//     everything and waits for every goroutine;
//   - a ChannelData fast path (fastpath.go): channels pion has bound, with a
//     permission pion holds, are relayed by rtcd's own socket readers in
//     both directions (batched reads and sends, no per-datagram allocation),
//     while everything else still goes through pion;
//   - epoll event loops (evloop_linux.go) that read the listen sockets and
//     UDP clients' relay sockets on one thread per CPU but one, so a
//     datagram costs a thread wake-up and no goroutine hand-off;
//   - pion's logs routed to logx with client-triggerable noise lowered to debug.
//
// Where things are: server.go (Server, Start/Stop, Stats), config.go,
// tuning.go (how datagrams are read and sent, one read path per socket kind),
// handlers.go (pion's auth, permission and event hooks), relay.go (relay
// addresses and ports), listenconn.go, relayconn.go and tcpconn.go (the conns
// handed to pion), track.go (waiting for pion's goroutines), fastpath*.go,
// evloop_*.go, batch_*.go and sendto_*.go (the datagram paths), peerpolicy.go,
// ratelimit.go.
package turn
