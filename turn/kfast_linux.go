package turn

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync"
	"syscall"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"github.com/cilium/ebpf/rlimit"
	"golang.org/x/sys/unix"
)

// kernelFast is the loaded kernel fast path: the tc program attached (TCX
// ingress) to the relay's interfaces, its maps, and the counter slots
// handed to bindings. User space decides every entry (kfast.go); this is
// only the mechanism.
type kernelFast struct {
	coll     *ebpf.Collection
	client   *ebpf.Map
	peer     *ebpf.Map
	counters *ebpf.Map
	links    []link.Link
	ifaces   []string // names attached to, for the log
	ncpu     int

	mu   sync.Mutex // guards free and next
	free []uint32
	next uint32
	max  uint32
}

// kfCounts are one binding's kernel traffic: datagrams and payload bytes.
type kfCounts struct{ toPkts, toBytes, fromPkts, fromBytes uint64 }

// kfSlotVal is the per-CPU value of kfCounters.
type kfSlotVal struct{ ToPkts, ToBytes, FromPkts, FromBytes uint64 }

// openKernelFast loads the program and attaches it to ifaces (names), or to
// every up Ethernet or loopback interface when ifaces is empty. The error
// says why the kernel path cannot be had (privileges, kernel version).
func openKernelFast(ifaces []string, maxBindings uint32) (*kernelFast, error) {
	if err := rlimit.RemoveMemlock(); err != nil {
		return nil, fmt.Errorf("kernel fast path: memlock limit: %w", err)
	}
	ncpu, err := ebpf.PossibleCPU()
	if err != nil {
		return nil, fmt.Errorf("kernel fast path: possible CPUs: %w", err)
	}
	coll, err := ebpf.NewCollection(kfSpec(maxBindings))
	if err != nil {
		return nil, fmt.Errorf("kernel fast path: load program (needs CAP_BPF and CAP_NET_ADMIN): %w", err)
	}
	k := &kernelFast{coll: coll, client: coll.Maps[kfClientMap], peer: coll.Maps[kfPeerMap],
		counters: coll.Maps[kfCounters], ncpu: ncpu, max: maxBindings}
	targets, err := kfInterfaces(ifaces)
	if err != nil {
		k.close()
		return nil, err
	}
	prog := coll.Programs["rtcd_turn"]
	for _, ifc := range targets {
		l, err := link.AttachTCX(link.TCXOptions{Interface: ifc.Index, Program: prog, Attach: ebpf.AttachTCXIngress})
		if err != nil {
			k.close()
			return nil, fmt.Errorf("kernel fast path: attach tcx ingress to %s (needs kernel 6.6+ and CAP_NET_ADMIN): %w", ifc.Name, err)
		}
		k.links = append(k.links, l)
		k.ifaces = append(k.ifaces, ifc.Name)
	}
	return k, nil
}

// kfInterfaces resolves names, or picks every up Ethernet and loopback
// interface (the program assumes a 14-byte Ethernet header).
func kfInterfaces(names []string) ([]net.Interface, error) {
	if len(names) > 0 {
		out := make([]net.Interface, 0, len(names))
		for _, n := range names {
			ifc, err := net.InterfaceByName(n)
			if err != nil {
				return nil, fmt.Errorf("Turn.FastPathInterfaces: %q: %w", n, err)
			}
			if !ethernetLike(ifc.Name) {
				return nil, fmt.Errorf("Turn.FastPathInterfaces: %q is not an Ethernet or loopback interface", n)
			}
			out = append(out, *ifc)
		}
		return out, nil
	}
	all, err := net.Interfaces()
	if err != nil {
		return nil, fmt.Errorf("kernel fast path: list interfaces: %w", err)
	}
	var out []net.Interface
	for _, ifc := range all {
		if ifc.Flags&net.FlagUp != 0 && ethernetLike(ifc.Name) {
			out = append(out, ifc)
		}
	}
	if len(out) == 0 {
		return nil, errors.New("kernel fast path: no up Ethernet or loopback interface")
	}
	return out, nil
}

// ethernetLike reports whether the interface's link type is Ethernet (1) or
// loopback (772), both with a 14-byte Ethernet header at tc.
func ethernetLike(name string) bool {
	b, err := os.ReadFile("/sys/class/net/" + name + "/type")
	if err != nil {
		return false
	}
	t := strings.TrimSpace(string(b))
	return t == "1" || t == "772"
}

func (k *kernelFast) close() {
	for _, l := range k.links {
		_ = l.Close()
	}
	k.links = nil
	if k.coll != nil {
		k.coll.Close()
	}
}

// describe is where the program runs, for the start log.
func (k *kernelFast) describe() string { return strings.Join(k.ifaces, ",") }

func (k *kernelFast) allocSlot() (uint32, bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if n := len(k.free); n > 0 {
		s := k.free[n-1]
		k.free = k.free[:n-1]
		return s, true
	}
	if k.next >= k.max {
		return 0, false
	}
	k.next++
	return k.next - 1, true
}

func (k *kernelFast) freeSlot(s uint32) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.free = append(k.free, s)
}

// kfRoute is where the kernel sends a datagram to an address: the
// interface, its MTU and the source address it would pick.
type kfRoute struct {
	ifindex int
	mtu     int
	src     netip.Addr
}

// install puts e's two entries in the maps with a fresh, zeroed counter
// slot.
func (k *kernelFast) install(e *kfEntry) error {
	slot, ok := k.allocSlot()
	if !ok {
		return fmt.Errorf("kernel fast path: all %d binding slots in use", k.max)
	}
	if err := k.counters.Put(slot, make([]kfSlotVal, k.ncpu)); err != nil {
		k.freeSlot(slot)
		return fmt.Errorf("kernel fast path: zero counters: %w", err)
	}
	e.slot = slot
	binary.NativeEndian.PutUint32(e.clientVal[kfvSlot:], slot)
	binary.NativeEndian.PutUint32(e.peerVal[kfvSlot:], slot)
	if err := k.client.Put(e.clientKey[:], e.clientVal[:]); err != nil {
		k.freeSlot(slot)
		return fmt.Errorf("kernel fast path: client entry: %w", err)
	}
	if err := k.peer.Put(e.peerKey[:], e.peerVal[:]); err != nil {
		_ = k.client.Delete(e.clientKey[:])
		k.freeSlot(slot)
		return fmt.Errorf("kernel fast path: peer entry: %w", err)
	}
	return nil
}

// remove deletes e's entries and returns its final counts; the slot is
// free again.
func (k *kernelFast) remove(e *kfEntry) kfCounts {
	_ = k.client.Delete(e.clientKey[:])
	_ = k.peer.Delete(e.peerKey[:])
	c := k.read(e.slot)
	k.freeSlot(e.slot)
	return c
}

// read sums a slot's per-CPU counters.
func (k *kernelFast) read(slot uint32) kfCounts {
	vals := make([]kfSlotVal, k.ncpu)
	var c kfCounts
	if err := k.counters.Lookup(slot, &vals); err != nil {
		return c
	}
	for _, v := range vals {
		c.toPkts += v.ToPkts
		c.toBytes += v.ToBytes
		c.fromPkts += v.FromPkts
		c.fromBytes += v.FromBytes
	}
	return c
}

// routeTo asks the kernel (rtnetlink RTM_GETROUTE) how it would send to
// dst.
func routeTo(dst netip.Addr) (kfRoute, error) {
	if !dst.Is4() {
		return kfRoute{}, errors.New("route: not IPv4")
	}
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_ROUTE)
	if err != nil {
		return kfRoute{}, fmt.Errorf("route: netlink socket: %w", err)
	}
	defer unix.Close(fd)
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return kfRoute{}, fmt.Errorf("route: bind: %w", err)
	}
	req := make([]byte, unix.SizeofNlMsghdr+unix.SizeofRtMsg+8)
	ne := binary.NativeEndian
	ne.PutUint32(req[0:], uint32(len(req)))
	ne.PutUint16(req[4:], unix.RTM_GETROUTE)
	ne.PutUint16(req[6:], unix.NLM_F_REQUEST)
	ne.PutUint32(req[8:], 1) // sequence
	rt := req[unix.SizeofNlMsghdr:]
	rt[0] = unix.AF_INET
	rt[1] = 32 // dst_len
	attr := rt[unix.SizeofRtMsg:]
	ne.PutUint16(attr[0:], 8)
	ne.PutUint16(attr[2:], unix.RTA_DST)
	a4 := dst.As4()
	copy(attr[4:], a4[:])
	if err := unix.Sendto(fd, req, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return kfRoute{}, fmt.Errorf("route: send: %w", err)
	}
	buf := make([]byte, 4096)
	n, _, err := unix.Recvfrom(fd, buf, 0)
	if err != nil {
		return kfRoute{}, fmt.Errorf("route: receive: %w", err)
	}
	msgs, err := syscall.ParseNetlinkMessage(buf[:n])
	if err != nil {
		return kfRoute{}, fmt.Errorf("route: parse: %w", err)
	}
	for _, m := range msgs {
		if m.Header.Type == unix.NLMSG_ERROR {
			if len(m.Data) >= 4 {
				if e := int32(ne.Uint32(m.Data)); e != 0 {
					return kfRoute{}, fmt.Errorf("route to %s: %w", dst, unix.Errno(-e))
				}
			}
			continue
		}
		if m.Header.Type != unix.RTM_NEWROUTE {
			continue
		}
		attrs, err := syscall.ParseNetlinkRouteAttr(&m)
		if err != nil {
			return kfRoute{}, fmt.Errorf("route: attributes: %w", err)
		}
		var r kfRoute
		for _, a := range attrs {
			switch a.Attr.Type {
			case unix.RTA_OIF:
				if len(a.Value) >= 4 {
					r.ifindex = int(ne.Uint32(a.Value))
				}
			case unix.RTA_PREFSRC:
				if ip, ok := netip.AddrFromSlice(a.Value); ok {
					r.src = ip.Unmap()
				}
			}
		}
		if r.ifindex == 0 {
			return kfRoute{}, fmt.Errorf("route to %s: no output interface", dst)
		}
		ifc, err := net.InterfaceByIndex(r.ifindex)
		if err != nil {
			return kfRoute{}, fmt.Errorf("route to %s: interface %d: %w", dst, r.ifindex, err)
		}
		r.mtu = min(ifc.MTU, 0xFFFF)
		return r, nil
	}
	return kfRoute{}, fmt.Errorf("route to %s: no answer", dst)
}

// entry builds b's kernel entries: the route lookups find the interface
// towards each side and, where a socket is bound to the wildcard address,
// the source address the kernel would have picked for it.
func (k *kernelFast) entry(b *binding) (*kfEntry, error) {
	lc, ok := b.side.(*listenerConn)
	if !ok {
		return nil, errors.New("not a UDP client")
	}
	if b.own {
		return nil, errors.New("peer is the relay's own address")
	}
	srvUA, ok1 := lc.local.(*net.UDPAddr)
	relayUA, ok2 := b.relay.UDPConn.LocalAddr().(*net.UDPAddr)
	if !ok1 || !ok2 {
		return nil, errors.New("socket address not UDP")
	}
	client, peer := b.src, b.peer
	srv, relay := canonical(srvUA.AddrPort()), canonical(relayUA.AddrPort())
	if !client.Addr().Is4() || !peer.Addr().Is4() {
		return nil, errors.New("not IPv4")
	}
	toClient, err := routeTo(client.Addr())
	if err != nil {
		return nil, err
	}
	toPeer, err := routeTo(peer.Addr())
	if err != nil {
		return nil, err
	}
	srvIP, relayIP := srv.Addr(), relay.Addr()
	if srvIP.IsUnspecified() {
		srvIP = toClient.src
	}
	if relayIP.IsUnspecified() {
		relayIP = toPeer.src
	}
	if !srvIP.Is4() || !relayIP.Is4() {
		return nil, errors.New("no IPv4 source address")
	}
	return kfEntryFor(client, netip.AddrPortFrom(srvIP, srv.Port()), netip.AddrPortFrom(relayIP, relay.Port()), peer, b.num, toClient, toPeer), nil
}

// kfEntryFor lays out the entries of channel num between client (talking to
// the listen address srv) and peer (talking to the relay address relay).
func kfEntryFor(client, srv, relay, peer netip.AddrPort, num uint16, toClient, toPeer kfRoute) *kfEntry {
	e := &kfEntry{}
	be, ne := binary.BigEndian, binary.NativeEndian
	// flow writes from → to as a datagram carries it and as keys and values
	// hold it: both addresses, then both ports, in network order.
	flow := func(b []byte, from, to netip.AddrPort) {
		f, t := from.Addr().As4(), to.Addr().As4()
		copy(b, f[:])
		copy(b[4:], t[:])
		be.PutUint16(b[8:], from.Port())
		be.PutUint16(b[10:], to.Port())
	}
	// value is the rewrite to from → to, sent out on r.
	value := func(v []byte, from, to netip.AddrPort, r kfRoute) {
		flow(v[kfvAddrs:], from, to) // and the ports at kfvPorts (kfast.go)
		ne.PutUint32(v[kfvIfindex:], uint32(r.ifindex))
		be.PutUint16(v[kfvChannel:], num)
		ne.PutUint16(v[kfvMTU:], uint16(r.mtu))
	}

	flow(e.clientKey[:], client, srv)
	be.PutUint16(e.clientKey[12:], num)
	value(e.clientVal[:], relay, peer, toPeer)

	flow(e.peerKey[:], peer, relay)
	value(e.peerVal[:], srv, client, toClient)
	return e
}
