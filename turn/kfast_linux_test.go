package turn

import (
	"bytes"
	"encoding/binary"
	"errors"
	"net/netip"
	"os"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/rlimit"
)

// Unit tests of the kernel fast path's program: the verifier loads it, and
// BPF_PROG_TEST_RUN runs it on crafted datagrams (no interface, no
// namespace), so each rewrite is checked byte by byte, checksums included,
// and each malformed case is shown to pass up unchanged. The real kernel
// path (veth, namespaces, a TURN client) is kfast_netns_linux_test.go.

const tcActRedirect = 7

// loadKF loads the program and its maps, or skips when this process may
// not (not root, or a kernel without the program type's helpers).
func loadKF(t *testing.T) *ebpf.Collection {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("loading eBPF needs root (CAP_BPF, CAP_NET_ADMIN)")
	}
	if err := rlimit.RemoveMemlock(); err != nil {
		t.Skipf("memlock: %v", err)
	}
	coll, err := ebpf.NewCollection(kfSpec(64))
	if errors.Is(err, ebpf.ErrNotSupported) {
		t.Skipf("kernel: %v", err)
	}
	if err != nil {
		var ve *ebpf.VerifierError
		if errors.As(err, &ve) {
			t.Fatalf("verifier: %+v", ve)
		}
		t.Fatal(err)
	}
	t.Cleanup(coll.Close)
	return coll
}

// TestKernelProgramLoads: the verifier accepts the program.
func TestKernelProgramLoads(t *testing.T) {
	coll := loadKF(t)
	if coll.Programs["rtcd_turn"] == nil {
		t.Fatal("no program")
	}
}

var (
	kfClient = netip.MustParseAddrPort("10.1.0.2:40000")
	kfSrv    = netip.MustParseAddrPort("10.1.0.1:3478")
	kfRelay  = netip.MustParseAddrPort("10.2.0.1:50000")
	kfPeer   = netip.MustParseAddrPort("10.2.0.2:7000")
)

// udpFrame is an Ethernet frame with an IPv4/UDP datagram, checksums right
// (csum false: UDP checksum 0, "none").
func udpFrame(src, dst netip.AddrPort, payload []byte, csum bool) []byte {
	b := make([]byte, 14+20+8+len(payload))
	binary.BigEndian.PutUint16(b[12:], 0x0800)
	ip := b[14:]
	ip[0] = 0x45
	binary.BigEndian.PutUint16(ip[2:], uint16(20+8+len(payload)))
	ip[8], ip[9] = 64, 17
	s4, d4 := src.Addr().As4(), dst.Addr().As4()
	copy(ip[12:], s4[:])
	copy(ip[16:], d4[:])
	binary.BigEndian.PutUint16(ip[10:], ^onesSum(0, ip[:20]))
	u := ip[20:]
	binary.BigEndian.PutUint16(u[0:], src.Port())
	binary.BigEndian.PutUint16(u[2:], dst.Port())
	binary.BigEndian.PutUint16(u[4:], uint16(8+len(payload)))
	copy(u[8:], payload)
	if csum {
		binary.BigEndian.PutUint16(u[6:], udpChecksum(ip))
	}
	return b
}

// onesSum is the ones' complement sum of b, folded, added to sum.
func onesSum(sum uint32, b []byte) uint16 {
	for i := 0; i+1 < len(b); i += 2 {
		sum += uint32(binary.BigEndian.Uint16(b[i:]))
	}
	if len(b)%2 == 1 {
		sum += uint32(b[len(b)-1]) << 8
	}
	for sum > 0xffff {
		sum = sum&0xffff + sum>>16
	}
	return uint16(sum)
}

// udpChecksum computes the UDP checksum of the datagram at ip (field
// taken as 0).
func udpChecksum(ip []byte) uint16 {
	u := ip[20:binary.BigEndian.Uint16(ip[2:])]
	var pseudo [12]byte
	copy(pseudo[:8], ip[12:20])
	pseudo[9] = 17
	binary.BigEndian.PutUint16(pseudo[10:], uint16(len(u)))
	c := make([]byte, len(u))
	copy(c, u)
	c[6], c[7] = 0, 0
	s := ^onesSum(uint32(onesSum(0, pseudo[:])), c)
	if s == 0 {
		s = 0xffff
	}
	return s
}

// checkDatagram checks the frame's IPv4 header and UDP checksum, and
// returns its addresses and payload.
func checkDatagram(t *testing.T, f []byte) (src, dst netip.AddrPort, payload []byte) {
	t.Helper()
	ip := f[14:]
	tot := int(binary.BigEndian.Uint16(ip[2:]))
	if tot != len(ip) {
		t.Fatalf("IPv4 total length %d, frame has %d", tot, len(ip))
	}
	if onesSum(0, ip[:20]) != 0xffff {
		t.Fatalf("bad IPv4 header checksum % x", ip[:20])
	}
	u := ip[20:]
	if int(binary.BigEndian.Uint16(u[4:])) != len(u) {
		t.Fatalf("UDP length %d, datagram has %d", binary.BigEndian.Uint16(u[4:]), len(u))
	}
	if got := binary.BigEndian.Uint16(u[6:]); got != 0 && got != udpChecksum(ip) {
		t.Fatalf("UDP checksum %#x, want %#x", got, udpChecksum(ip))
	}
	src = netip.AddrPortFrom(netip.AddrFrom4([4]byte(ip[12:16])), binary.BigEndian.Uint16(u[0:]))
	dst = netip.AddrPortFrom(netip.AddrFrom4([4]byte(ip[16:20])), binary.BigEndian.Uint16(u[2:]))
	return src, dst, u[8:]
}

func kfRun(t *testing.T, prog *ebpf.Program, in []byte) (uint32, []byte) {
	t.Helper()
	out := make([]byte, len(in)+64)
	opts := &ebpf.RunOptions{Data: in, DataOut: out}
	ret, err := prog.Run(opts)
	if err != nil {
		t.Fatalf("test run: %v", err)
	}
	return ret, opts.DataOut
}

func kfInstall(t *testing.T, coll *ebpf.Collection, mtu int) *kfEntry {
	// Interface 2: not loopback, where the test runs, so the program redirects.
	return kfInstallRoutes(t, coll, kfRoute{ifindex: 2, mtu: mtu}, kfRoute{ifindex: 2, mtu: 1500})
}

// kfInstallRoutes installs the test binding with the given routes towards
// the client and the peer.
func kfInstallRoutes(t *testing.T, coll *ebpf.Collection, toClient, toPeer kfRoute) *kfEntry {
	t.Helper()
	e := kfEntryFor(kfClient, kfSrv, kfRelay, kfPeer, 0x4001, toClient, toPeer)
	e.slot = 3
	binary.NativeEndian.PutUint32(e.clientVal[kfvSlot:], e.slot)
	binary.NativeEndian.PutUint32(e.peerVal[kfvSlot:], e.slot)
	if err := coll.Maps[kfClientMap].Put(e.clientKey[:], e.clientVal[:]); err != nil {
		t.Fatal(err)
	}
	if err := coll.Maps[kfPeerMap].Put(e.peerKey[:], e.peerVal[:]); err != nil {
		t.Fatal(err)
	}
	return e
}

func kfSlotCounts(t *testing.T, coll *ebpf.Collection, slot uint32) kfCounts {
	t.Helper()
	k := &kernelFast{counters: coll.Maps[kfCounters], ncpu: ebpf.MustPossibleCPU()}
	return k.read(slot)
}

// TestKernelProgramRewrites: ChannelData from the client leaves as the
// bare payload from the relay address to the peer, a datagram from the
// peer leaves as ChannelData from the listen address to the client, with
// valid checksums (computed, or left "none"), every payload length modulo
// 4, and counted in the binding's slot.
func TestKernelProgramRewrites(t *testing.T) {
	coll := loadKF(t)
	prog := coll.Programs["rtcd_turn"]
	e := kfInstall(t, coll, 1500)
	var want kfCounts
	for _, csum := range []bool{true, false} {
		for n := 0; n < 9; n++ {
			payload := bytes.Repeat([]byte{byte(0xA0 + n)}, n+1)
			ret, out := kfRun(t, prog, udpFrame(kfClient, kfSrv, channelFrame(0x4001, payload, false), csum))
			if ret != tcActRedirect {
				t.Fatalf("client → peer, %d bytes: return %d, want redirect", len(payload), int32(ret))
			}
			src, dst, got := checkDatagram(t, out)
			if src != kfRelay || dst != kfPeer || !bytes.Equal(got, payload) {
				t.Fatalf("client → peer: %v → %v % x, want %v → %v % x", src, dst, got, kfRelay, kfPeer, payload)
			}
			if !csum && binary.BigEndian.Uint16(out[14+20+6:]) != 0 {
				t.Fatal("a datagram without UDP checksum got one")
			}
			want.toPkts++
			want.toBytes += uint64(len(payload))

			ret, out = kfRun(t, prog, udpFrame(kfPeer, kfRelay, payload, csum))
			if ret != tcActRedirect {
				t.Fatalf("peer → client, %d bytes: return %d, want redirect", len(payload), int32(ret))
			}
			src, dst, got = checkDatagram(t, out)
			num, p, ok := parseChannelData(got)
			if src != kfSrv || dst != kfClient || !ok || num != 0x4001 || !bytes.Equal(p, payload) || len(got) != 4+len(payload) {
				t.Fatalf("peer → client: %v → %v % x, want %v → %v channel 0x4001 % x", src, dst, got, kfSrv, kfClient, payload)
			}
			want.fromPkts++
			want.fromBytes += uint64(len(payload))
		}
	}
	if got := kfSlotCounts(t, coll, e.slot); got != want {
		t.Fatalf("counters %+v, want %+v", got, want)
	}
}

// TestKernelProgramPassesLocal: a datagram on loopback (where
// BPF_PROG_TEST_RUN puts it) of a binding whose other side is on this host
// (routed through loopback) is rewritten the same way and handed up the
// stack (TCX_PASS) instead of redirected out again.
func TestKernelProgramPassesLocal(t *testing.T) {
	coll := loadKF(t)
	prog := coll.Programs["rtcd_turn"]
	lo := kfRoute{ifindex: loopbackIfindex, mtu: 0xFFFF}
	kfInstallRoutes(t, coll, lo, lo)
	payload := []byte("on this host")
	ret, out := kfRun(t, prog, udpFrame(kfClient, kfSrv, channelFrame(0x4001, payload, false), true))
	if int32(ret) != tcxPass {
		t.Fatalf("client → peer: return %d, want pass", int32(ret))
	}
	if src, dst, got := checkDatagram(t, out); src != kfRelay || dst != kfPeer || !bytes.Equal(got, payload) {
		t.Fatalf("client → peer: %v → %v % x", src, dst, got)
	}
	ret, out = kfRun(t, prog, udpFrame(kfPeer, kfRelay, payload, true))
	if int32(ret) != tcxPass {
		t.Fatalf("peer → client: return %d, want pass", int32(ret))
	}
	src, dst, got := checkDatagram(t, out)
	if num, p, ok := parseChannelData(got); src != kfSrv || dst != kfClient || !ok || num != 0x4001 || !bytes.Equal(p, payload) {
		t.Fatalf("peer → client: %v → %v % x", src, dst, got)
	}
}

// TestKernelProgramPassesTheRest: everything but well-formed ChannelData
// of an installed binding goes on to user space unchanged.
func TestKernelProgramPassesTheRest(t *testing.T) {
	coll := loadKF(t)
	prog := coll.Programs["rtcd_turn"]
	e := kfInstall(t, coll, 1500)
	payload := []byte("hello, peer")
	frag := udpFrame(kfClient, kfSrv, channelFrame(0x4001, payload, false), true)
	frag[14+6] = 0x20 // more fragments
	ipOpts := udpFrame(kfClient, kfSrv, channelFrame(0x4001, payload, false), true)
	ipOpts[14] = 0x46
	long := udpFrame(kfClient, kfSrv, channelFrame(0x4001, make([]byte, maxFastFrame), false), true)
	cases := map[string][]byte{
		"short ChannelData length": udpFrame(kfClient, kfSrv, append(channelFrame(0x4001, payload, false)[:4], payload[:3]...), true),
		"padded":                   udpFrame(kfClient, kfSrv, channelFrame(0x4001, payload, true), true),
		"header only, too short":   udpFrame(kfClient, kfSrv, []byte{0x40, 0x01}, true),
		"empty":                    udpFrame(kfClient, kfSrv, nil, true),
		"over pion's limit":        long,
		"unbound channel":          udpFrame(kfClient, kfSrv, channelFrame(0x4002, payload, false), true),
		"STUN":                     udpFrame(kfClient, kfSrv, append([]byte{0x00, 0x01, 0x00, 0x00}, payload...), true),
		"other client port":        udpFrame(netip.AddrPortFrom(kfClient.Addr(), 40001), kfSrv, channelFrame(0x4001, payload, false), true),
		"other listen address":     udpFrame(kfClient, netip.MustParseAddrPort("10.1.0.9:3478"), channelFrame(0x4001, payload, false), true),
		"unbound peer":             udpFrame(netip.AddrPortFrom(kfPeer.Addr(), 7001), kfRelay, payload, true),
		"fragment":                 frag,
		"IPv4 options":             ipOpts,
	}
	for name, in := range cases {
		ret, out := kfRun(t, prog, in)
		if int32(ret) != tcxNext || !bytes.Equal(out, in) {
			t.Errorf("%s: return %d, changed %v; want passed up unchanged", name, int32(ret), !bytes.Equal(out, in))
		}
	}
	if got := kfSlotCounts(t, coll, e.slot); got != (kfCounts{}) {
		t.Fatalf("counters %+v, want none", got)
	}

	// A peer datagram that would not fit the client's link with the header.
	coll.Maps[kfPeerMap].Delete(e.peerKey[:])
	kfInstall(t, coll, 20+8+4+len(payload)-1)
	in := udpFrame(kfPeer, kfRelay, payload, true)
	if ret, out := kfRun(t, prog, in); int32(ret) != tcxNext || !bytes.Equal(out, in) {
		t.Fatalf("over the MTU: return %d; want passed up unchanged", int32(ret))
	}
}

// kernelServer is fastServer with the kernel fast path required; it skips
// where the program cannot load.
func kernelServer(t *testing.T, strict bool, chanTTL time.Duration) (*Server, *rawClient) {
	t.Helper()
	loadKF(t) // skips without root or kernel support
	return fastServer(t, false, strict, chanTTL, func(c *Config) {
		c.FastPath = FastPathOn
		c.FastPathInterfaces = []string{"lo"}
	})
}

// TestKernelFastPathLoopback: over loopback, a bound channel's ChannelData
// is relayed both ways by the kernel, never by rtcd's sockets (their
// counters stay 0), and the kernel counters reach Stats.
func TestKernelFastPathLoopback(t *testing.T) {
	s, c := kernelServer(t, false, 0)
	bindEcho(t, c, 0x4001)
	const n = 20
	for i := 0; i < n; i++ {
		if !c.echoChannel(0x4001, []byte("through the kernel"), false) {
			t.Fatalf("echo %d did not come back; stats %+v", i, s.Stats())
		}
	}
	st := waitStats(t, s, func(st Stats) bool { return st.KernelToPeers >= n && st.KernelFromPeers >= n })
	if !st.KernelFastPath || st.FastToPeers != 0 || st.FastFromPeers != 0 {
		t.Fatalf("stats %+v: want every datagram in the kernel", st)
	}
	if st.PacketsToPeers != st.KernelToPeers || st.BytesToPeers != n*uint64(len("through the kernel")) {
		t.Fatalf("stats %+v: kernel traffic missing from the relay counters", st)
	}
	// Deleting the allocation removes the entries; the counts stay.
	if code := c.refresh(0); code != 0 {
		t.Fatalf("refresh 0: %d", code)
	}
	if cn, pn := kfEntries(s); cn != 0 || pn != 0 {
		t.Fatalf("kernel entries %d/%d after the allocation went, want none", cn, pn)
	}
	if c.echoChannel(0x4001, []byte("after"), false) {
		t.Fatal("relayed after the allocation was deleted")
	}
	if st2 := s.Stats(); st2.KernelToPeers != st.KernelToPeers || st2.PacketsToPeers != st.PacketsToPeers {
		t.Fatalf("stats %+v after deletion, want the counts of %+v", st2, st)
	}
}
