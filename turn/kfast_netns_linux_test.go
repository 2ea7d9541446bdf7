package turn

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// The kernel fast path on a real kernel path: three network namespaces
// joined by veth pairs, a client (10.201.1.2) and a peer host (10.201.2.2,
// 10.201.2.3) each one hop from the relay's (10.201.1.1 towards clients,
// 10.201.2.1 towards peers). The relay runs in this test binary, re-run
// inside the relay's namespace (`ip netns exec`), so that every socket
// pion opens is there; the client's and peers' sockets are opened from
// threads switched into their namespaces. The parent removes the
// namespaces at cleanup, also on failure; the child's links go with its
// process.

const (
	kfNetnsEnv = "RTCD_KFAST_NETNS" // set in the child: "client-ns,peer-ns"
	kfSrvCli   = "10.201.1.1"
	kfCli      = "10.201.1.2"
	kfSrvPeer  = "10.201.2.1"
	kfPeerIP   = "10.201.2.2"
	kfDeniedIP = "10.201.2.3"
)

// TestKernelFastPathNetns: a TURN client's ChannelData is relayed to a peer
// and back by the kernel, never reaching rtcd's sockets; malformed and
// short ChannelData is passed up, never forwarded; the deny table holds;
// removing the permission and expiring the channel stop the kernel.
func TestKernelFastPathNetns(t *testing.T) {
	if v := os.Getenv(kfNetnsEnv); v != "" {
		cli, peer, _ := strings.Cut(v, ",")
		kfNetnsChild(t, cli, peer)
		return
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root (network namespaces, eBPF)")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("needs ip(8)")
	}
	loadKF(t) // skips without kernel support
	tag := fmt.Sprintf("rtcdkf%d", os.Getpid())
	cli, srv, peer := tag+"c", tag+"s", tag+"p"
	t.Cleanup(func() {
		for _, ns := range []string{cli, srv, peer} {
			_ = exec.Command("ip", "netns", "del", ns).Run()
		}
	})
	run := func(args ...string) {
		t.Helper()
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, out)
		}
	}
	for _, ns := range []string{cli, srv, peer} {
		run("netns", "add", ns)
		run("-n", ns, "link", "set", "lo", "up")
	}
	run("link", "add", tag+"a", "netns", cli, "type", "veth", "peer", "name", tag+"b", "netns", srv)
	run("link", "add", tag+"x", "netns", srv, "type", "veth", "peer", "name", tag+"y", "netns", peer)
	run("-n", cli, "addr", "add", kfCli+"/24", "dev", tag+"a")
	run("-n", srv, "addr", "add", kfSrvCli+"/24", "dev", tag+"b")
	run("-n", srv, "addr", "add", kfSrvPeer+"/24", "dev", tag+"x")
	run("-n", peer, "addr", "add", kfPeerIP+"/24", "dev", tag+"y")
	run("-n", peer, "addr", "add", kfDeniedIP+"/24", "dev", tag+"y")
	for _, l := range [][2]string{{cli, "a"}, {srv, "b"}, {srv, "x"}, {peer, "y"}} {
		run("-n", l[0], "link", "set", tag+l[1], "up")
	}

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	args := []string{"netns", "exec", srv, os.Args[0], "-test.run=^TestKernelFastPathNetns$", "-test.count=1", "-test.v"}
	cmd := exec.CommandContext(ctx, "ip", args...)
	cmd.Env = append(os.Environ(), kfNetnsEnv+"="+cli+","+peer)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("relay namespace: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "--- PASS: TestKernelFastPathNetns") {
		t.Fatalf("relay namespace did not run the test:\n%s", out)
	}
	t.Logf("relay namespace:\n%s", out)
}

// inNetns runs f on a thread switched into the named namespace, where the
// sockets f opens stay.
func inNetns(t *testing.T, name string, f func()) {
	t.Helper()
	runtime.LockOSThread()
	orig, err := os.Open("/proc/thread-self/ns/net")
	if err != nil {
		runtime.UnlockOSThread()
		t.Fatal(err)
	}
	defer orig.Close()
	target, err := os.Open("/run/netns/" + name)
	if err != nil {
		runtime.UnlockOSThread()
		t.Fatal(err)
	}
	defer target.Close()
	if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
		runtime.UnlockOSThread()
		t.Fatalf("setns %s: %v", name, err)
	}
	defer func() {
		if err := unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET); err != nil {
			return // keep the thread locked: Go ends it with the goroutine
		}
		runtime.UnlockOSThread()
	}()
	f()
}

// countingPeer is a UDP peer that counts what it gets and, if echo,
// sends it back.
type countingPeer struct {
	conn *net.UDPConn
	n    atomic.Int64
}

func newCountingPeer(t *testing.T, ns, addr string, echo bool) *countingPeer {
	t.Helper()
	p := &countingPeer{}
	inNetns(t, ns, func() {
		c, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.MustParseAddrPort(addr)))
		if err != nil {
			t.Fatal(err)
		}
		p.conn = c
	})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		buf := make([]byte, 2048)
		for {
			n, a, err := p.conn.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			p.n.Add(1)
			if echo {
				_, _ = p.conn.WriteToUDPAddrPort(buf[:n], a)
			}
		}
	}()
	t.Cleanup(func() { _ = p.conn.Close(); wg.Wait() })
	return p
}

// kfEntries counts the kernel's client and peer entries.
func kfEntries(s *Server) (client, peer int) {
	var k [kfKeySize]byte
	var pk [kfPeerKeyLen]byte
	var v [kfValueSize]byte
	for it := s.kf.client.Iterate(); it.Next(&k, &v); {
		client++
	}
	for it := s.kf.peer.Iterate(); it.Next(&pk, &v); {
		peer++
	}
	return client, peer
}

// quiet asserts that p gets nothing more within a short while.
func quiet(t *testing.T, p *countingPeer, want int64, what string) {
	t.Helper()
	time.Sleep(300 * time.Millisecond)
	if got := p.n.Load(); got != want {
		t.Fatalf("%s: the peer got %d datagrams, want %d", what, got, want)
	}
}

func kfNetnsChild(t *testing.T, cliNS, peerNS string) {
	iss := newIssuer(t, []string{testSecret})
	c := testConfig()
	c.Listen = kfSrvCli + ":3478"
	c.PublicIP = kfSrvPeer
	c.AllowPeers = []string{"10.201.2.0/24"}
	c.DenyPeers = []string{kfDeniedIP + "/32"}
	c.FastPath = FastPathOn
	s, err := New(c, iss)
	if err != nil {
		t.Fatal(err)
	}
	const ttl = 3 * time.Second
	s.chanTTL = ttl
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)

	peer := newCountingPeer(t, peerNS, kfPeerIP+":7000", true)
	denied := newCountingPeer(t, peerNS, kfDeniedIP+":7000", true)
	cred := iss.Issue("alice")
	cl := &rawClient{t: t, user: cred.Username, pass: cred.Password, realm: s.Realm(), server: s.UDPAddr()}
	inNetns(t, cliNS, func() {
		pc, err := net.ListenPacket("udp4", kfCli+":0")
		if err != nil {
			t.Fatal(err)
		}
		cl.conn = pc
	})
	t.Cleanup(func() { _ = cl.conn.Close() })

	code, _ := cl.allocate()
	if code != 0 {
		t.Fatalf("allocate: %d", code)
	}
	peerIP := net.ParseIP(kfPeerIP)
	bind := func() {
		t.Helper()
		if code := cl.channelBind(0x4001, peerIP, 7000); code != 0 {
			t.Fatalf("channel bind: %d", code)
		}
	}
	bind()

	// Relayed both ways by the kernel alone.
	const n = 50
	for i := 0; i < n; i++ {
		if !cl.echoChannel(0x4001, []byte(fmt.Sprintf("kernel datagram %d", i)), false) {
			t.Fatalf("echo %d did not come back; stats %+v", i, s.Stats())
		}
	}
	st := waitStats(t, s, func(st Stats) bool { return st.KernelToPeers == n && st.KernelFromPeers == n })
	if st.FastToPeers != 0 || st.FastFromPeers != 0 || st.PacketsToPeers != n || st.PacketsFromPeers != n {
		t.Fatalf("stats %+v: datagrams reached user space", st)
	}
	if cn, pn := kfEntries(s); cn != 1 || pn != 1 {
		t.Fatalf("kernel entries %d/%d, want 1/1", cn, pn)
	}

	// Malformed and short ChannelData goes up, where pion drops it.
	bind()
	got := peer.n.Load()
	cl.sendRaw(append(channelFrame(0x4001, []byte("short"), false)[:2], 0x00, 0x40, 'x')) // length 64, 1 byte
	cl.sendRaw([]byte{0x40, 0x01})
	quiet(t, peer, got, "short ChannelData")
	// Padding (fine over UDP, RFC 8656 §12.5) goes up too, and user space relays it.
	cl.sendRaw(channelFrame(0x4001, []byte("padded"), true))
	waitStats(t, s, func(st Stats) bool { return st.FastToPeers == 1 })
	if f := cl.recvFrame(2 * time.Second); f == nil {
		t.Fatal("no echo of the padded ChannelData")
	}
	if st := s.Stats(); st.KernelToPeers != n {
		t.Fatalf("stats %+v: the kernel forwarded malformed or padded ChannelData", st)
	}

	// The deny table holds: no permission, no channel, nothing relayed.
	if code := cl.channelBind(0x4002, net.ParseIP(kfDeniedIP), 7000); code == 0 {
		t.Fatal("channel bind to a denied peer succeeded")
	}
	cl.sendRaw(channelFrame(0x4002, []byte("to the denied peer"), false))
	quiet(t, denied, 0, "denied peer")

	// Permission removed (what pion reports at its expiry): the kernel
	// stops; pion, which here still has it, relays in user space.
	bind()
	r := onlyRelay(t, s)
	before := s.Stats()
	s.onPermission(r.adv, peerIP, false)
	if cn, pn := kfEntries(s); cn != 0 || pn != 0 {
		t.Fatalf("kernel entries %d/%d after the permission went, want none", cn, pn)
	}
	if !cl.echoChannel(0x4001, []byte("user space again"), false) {
		t.Fatal("echo lost")
	}
	st = waitStats(t, s, func(st Stats) bool { return st.PacketsFromPeers == before.PacketsFromPeers+1 })
	if st.KernelToPeers != before.KernelToPeers || st.KernelFromPeers != before.KernelFromPeers {
		t.Fatalf("stats %+v: the kernel relayed without a permission", st)
	}
	s.onPermission(r.adv, peerIP, true)
	if !cl.echoChannel(0x4001, []byte("kernel again"), false) {
		t.Fatal("echo lost")
	}
	waitStats(t, s, func(st Stats) bool { return st.KernelToPeers == before.KernelToPeers+1 })

	// The channel expires: its entries go, its ChannelData is dropped.
	deadline := time.Now().Add(ttl + 10*time.Second)
	for cn, _ := kfEntries(s); cn != 0; cn, _ = kfEntries(s) {
		if time.Now().After(deadline) {
			t.Fatal("kernel entry outlived the channel")
		}
		time.Sleep(50 * time.Millisecond)
	}
	before = s.Stats()
	got = peer.n.Load()
	cl.sendRaw(channelFrame(0x4001, []byte("expired"), false))
	quiet(t, peer, got, "expired channel")
	if st := s.Stats(); st.KernelToPeers != before.KernelToPeers {
		t.Fatalf("stats %+v: the kernel relayed an expired channel", st)
	}
}
