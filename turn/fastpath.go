package turn

import (
	"net"
	"net/netip"
	"sync"
	"sync/atomic"

	"github.com/zeromicro/go-zero/core/logx"
)

// The ChannelData fast path. pion/turn relays every datagram through its
// generic request path: a new buffer per datagram towards the client, two
// lock-protected lookups, debug strings formatted whether or not debug is on.
// rtcd mirrors pion's channel bindings instead, learnt from pion's event
// callbacks, and relays ChannelData of a bound channel itself:
//
//   - client → peer: the reader of the client's socket (listenerConn for UDP,
//     tcpConn's frame reader for TCP) sends the payload straight out of the
//     allocation's relay socket and never hands the datagram to pion;
//   - peer → client: relayConn.ReadFrom reads the payload behind 4 bytes of
//     headroom, writes the ChannelData header in place and sends it to the
//     client itself.
//
// Everything else (STUN requests, Send/Data indications, ChannelData of an
// unknown channel) goes to pion unchanged. A binding is used only while pion
// has both the channel and a permission for the peer's IP (pion creates both
// only after peerPolicy accepted the peer), and only for peers the own-port
// rule lets through; it is dropped when pion deletes the channel or the
// permission (expiry, allocation deleted) and when the relay socket closes.
// Traffic is counted in the same per-relay counters as pion's path.

// maxSendBatch bounds the datagrams sent with one system call.
const maxSendBatch = 16

// binding is one channel of one allocation, as pion created it.
type binding struct {
	num    uint16
	peer   netip.AddrPort // canonical (IPv4 unmapped)
	peerUA *net.UDPAddr   // the same, for sends
	relay  *relayConn
	side   clientSide     // where the client's datagrams arrive and replies go
	src    netip.AddrPort // the client's transport address, canonical
	client *net.UDPAddr   // the same, for UDP sends (nil over TCP)
	active bool           // in side's table and relay's peers; guarded by relay.fast.mu
	// own: the peer is the server's own relay address, whose port must
	// still hold a live allocation at every datagram (get checks it).
	own bool
	// kern: the binding's kernel fast path entries (kfast.go), while
	// installed; guarded by relay.fast.mu.
	kern *kfEntry
}

// clientSide is the socket a client talks to: a UDP listen socket shared by
// many clients, or one TURN-over-TCP connection.
type clientSide interface {
	// table holds the bindings whose ChannelData this side's reader relays.
	table() *chanTable
	// putFrame makes buf[4:4+n], a payload, a ChannelData message of
	// channel num: the header into buf[:4], TCP padding after the payload
	// (buf has room for it). It returns the message's length.
	putFrame(buf []byte, n int, num uint16) int
	// sendFrames sends ChannelData messages to b's client in order: frames,
	// which lie back to back in all.
	sendFrames(all []byte, frames [][]byte, b *binding)
}

// chanKey is a client transport address and a channel number.
type chanKey struct {
	src netip.AddrPort
	num uint16
}

// chanTable maps a client's channel to its binding. Reads (one per
// datagram, by the socket's single reader) take no lock; writes come from
// pion's event callbacks.
type chanTable struct {
	m sync.Map // chanKey → *binding
}

func (t *chanTable) get(src netip.AddrPort, num uint16) *binding {
	v, ok := t.m.Load(chanKey{src, num})
	if !ok {
		return nil
	}
	b := v.(*binding)
	if b.own && !b.relay.s.ownPortOK(b.peerUA.IP, b.peerUA.Port) {
		// The peer allocation ended: pion's path refuses and counts it.
		return nil
	}
	return b
}

func (t *chanTable) put(b *binding) { t.m.Store(chanKey{b.src, b.num}, b) }

// del removes b, and only b: a newer binding under the same key stays.
func (t *chanTable) del(b *binding) { t.m.CompareAndDelete(chanKey{b.src, b.num}, b) }

// relayFast is a relay socket's share of the fast path.
type relayFast struct {
	mu     sync.Mutex // guards the following fields
	closed bool
	perms  map[netip.Addr]struct{} // peer IPs pion holds a permission for
	chans  map[uint16]*binding     // every channel pion bound, active or not

	// peers are the active bindings by peer address, read lock-free by the
	// relay's reader; replaced (never modified) under mu.
	peers atomic.Pointer[map[netip.AddrPort]*binding]

	// Owned by the relay's reader: frames read from bound peers and not yet
	// sent, back to back in buf, all for one client (a relay is one
	// allocation, so every binding of it has the same client).
	buf     []byte
	pendLen int
	frames  [][]byte
	to      *binding
}

// lookup returns the active binding for datagrams from peer, if any.
func (f *relayFast) lookup(peer netip.AddrPort) *binding {
	m := f.peers.Load()
	if m == nil {
		return nil
	}
	return (*m)[peer]
}

// syncLocked brings the side tables and peers in line with perms and chans.
func (f *relayFast) syncLocked() {
	var peers map[netip.AddrPort]*binding
	for _, b := range f.chans {
		_, permitted := f.perms[b.peer.Addr()]
		want := !f.closed && permitted && b.relay.s.ownPortOK(b.peer.Addr().AsSlice(), int(b.peer.Port()))
		switch {
		case want && !b.active:
			b.side.table().put(b)
			b.relay.s.kernelAdd(b)
		case !want && b.active:
			b.side.table().del(b)
			b.relay.s.kernelDel(b)
		}
		b.active = want
		if want {
			if peers == nil {
				peers = make(map[netip.AddrPort]*binding, len(f.chans))
			}
			peers[b.peer] = b
		}
	}
	if peers == nil {
		f.peers.Store(nil)
		return
	}
	f.peers.Store(&peers)
}

func (f *relayFast) permit(ip netip.Addr, on bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return
	}
	if on {
		if f.perms == nil {
			f.perms = make(map[netip.Addr]struct{})
		}
		f.perms[ip] = struct{}{}
	} else {
		delete(f.perms, ip)
	}
	f.syncLocked()
}

func (f *relayFast) addChannel(b *binding) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return
	}
	if old := f.chans[b.num]; old != nil && old.active {
		old.side.table().del(old)
		old.relay.s.kernelDel(old)
	}
	if f.chans == nil {
		f.chans = make(map[uint16]*binding)
	}
	f.chans[b.num] = b
	f.syncLocked()
}

func (f *relayFast) removeChannel(num uint16) {
	f.mu.Lock()
	defer f.mu.Unlock()
	b := f.chans[num]
	if b == nil {
		return
	}
	if b.active {
		b.side.table().del(b)
		b.relay.s.kernelDel(b)
		b.active = false
	}
	delete(f.chans, num)
	f.syncLocked()
}

// close drops every binding; the relay socket is gone.
func (f *relayFast) close() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.closed = true
	f.syncLocked()
	f.chans, f.perms = nil, nil
}

// canonical is a's address with IPv4-mapped IPv6 unwrapped.
func canonical(ap netip.AddrPort) netip.AddrPort {
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
}

// udpAddrPort is the canonical netip form of a *net.UDPAddr or *net.TCPAddr.
func udpAddrPort(a net.Addr) (netip.AddrPort, bool) {
	switch v := a.(type) {
	case *net.UDPAddr:
		return canonical(v.AddrPort()), true
	case *net.TCPAddr:
		return canonical(v.AddrPort()), true
	}
	return netip.AddrPort{}, false
}

// fastRelay finds the relay socket pion reports as relayAddr. pion passes
// back the very *net.UDPAddr relayGen returned, so the lookup is by identity.
func (s *Server) fastRelay(relayAddr net.Addr) *relayConn {
	if !s.tune.fastPath {
		return nil
	}
	v, ok := s.relayByAddr.Load(relayAddr)
	if !ok {
		return nil
	}
	return v.(*relayConn)
}

// fastSide finds the client side of a 5-tuple: a TCP conn by its remote
// address, else a UDP listen socket by its local address. pion's 5-tuple
// holds the addresses our conns returned, so the lookup is by identity and
// tells SO_REUSEPORT sockets (all on one address) apart.
func (s *Server) fastSide(src, dst net.Addr) clientSide {
	if v, ok := s.sides.Load(src); ok {
		return v.(clientSide)
	}
	if v, ok := s.sides.Load(dst); ok {
		return v.(clientSide)
	}
	return nil
}

// onAllocationCreated moves the relay socket of a UDP client's allocation
// into the event loop of the client's listen socket (evloop_linux.go).
func (s *Server) onAllocationCreated(src, dst, relayAddr net.Addr) {
	r, side := s.fastRelay(relayAddr), s.fastSide(src, dst)
	if s.tune.fastPath && (r == nil || side == nil) {
		s.stats.fastPathMisses.Add(1)
	}
	if r == nil {
		return
	}
	if lc, ok := side.(*listenerConn); ok {
		r.toLoop(lc)
	}
}

func (s *Server) onPermission(relayAddr net.Addr, peer net.IP, on bool) {
	r := s.fastRelay(relayAddr)
	if r == nil {
		return
	}
	ip, ok := netip.AddrFromSlice(peer)
	if !ok {
		return
	}
	r.fast.permit(ip.Unmap(), on)
}

func (s *Server) onChannelCreated(src, dst, relayAddr, peer net.Addr, num uint16) {
	r := s.fastRelay(relayAddr)
	if r == nil {
		return
	}
	side := s.fastSide(src, dst)
	srcAP, ok1 := udpAddrPort(src)
	peerAP, ok2 := udpAddrPort(peer)
	if side == nil || !ok1 || !ok2 {
		// pion still relays this channel; only the fast path skips it.
		s.stats.fastPathMisses.Add(1)
		logx.Debugw("turn: channel not on the fast path",
			logx.Field("relay", relayAddr.String()), logx.Field("channel", num), logx.Field("client", src.String()))
		return
	}
	b := &binding{num: num, peer: peerAP, peerUA: net.UDPAddrFromAddrPort(peerAP), relay: r, side: side, src: srcAP}
	b.own = s.ownPorts && peerAP.Addr().Is4() && peerAP.Addr().As4() == s.own4
	if ua, ok := src.(*net.UDPAddr); ok {
		b.client = ua
	} else if _, udp := side.(*listenerConn); udp {
		return // a UDP client needs a UDP address to send to
	}
	r.fast.addChannel(b)
}

func (s *Server) onChannelDeleted(relayAddr net.Addr, num uint16) {
	if r := s.fastRelay(relayAddr); r != nil {
		r.fast.removeChannel(num)
	}
}
