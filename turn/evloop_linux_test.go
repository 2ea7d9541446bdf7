package turn

import (
	"net"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/pion/stun/v3"
)

// needLoops skips where the server would run no event loop (one P).
func needLoops(t *testing.T) {
	t.Helper()
	if loopCount(2) < 1 {
		t.Skipf("GOMAXPROCS=%d: no event loops", runtime.GOMAXPROCS(0))
	}
}

// TestEventLoopOwnsUDPSockets: listen sockets and the relays of UDP clients
// move into event loops; TCP clients' relays stay with Go's poller; with
// Turn.DisableEventLoops nothing moves.
func TestEventLoopOwnsUDPSockets(t *testing.T) {
	needLoops(t)
	t.Run("udp", func(t *testing.T) {
		s, c := fastServer(t, false, false, 0, nil)
		if len(s.loops) != loopCount(len(s.udp)) {
			t.Fatalf("%d loops, want %d", len(s.loops), loopCount(len(s.udp)))
		}
		for i, lc := range s.udp {
			if lc.lp == nil {
				t.Fatalf("listen socket %d is not in a loop", i)
			}
		}
		bindEcho(t, c, 0x4000)
		if r := onlyRelay(t, s); !r.inLoop() {
			t.Fatal("a UDP client's relay is not in a loop")
		}
		if !c.echoChannel(0x4000, []byte("through the loop"), false) {
			t.Fatal("no echo")
		}
	})
	t.Run("tcp", func(t *testing.T) {
		s, c := fastServer(t, true, false, 0, nil)
		bindEcho(t, c, 0x4000)
		if r := onlyRelay(t, s); r.inLoop() {
			t.Fatal("a TCP client's relay moved into a loop")
		}
		if !c.echoChannel(0x4000, []byte("on the poller"), true) {
			t.Fatal("no echo")
		}
	})
	t.Run("disabled", func(t *testing.T) {
		s, c := fastServer(t, false, false, 0, func(c *Config) { c.DisableEventLoops = true })
		if len(s.loops) != 0 || s.udp[0].lp != nil {
			t.Fatal("Turn.DisableEventLoops still started loops")
		}
		bindEcho(t, c, 0x4000)
		if !c.echoChannel(0x4000, []byte("on the poller"), false) {
			t.Fatal("no echo")
		}
	})
}

// TestEventLoopDataIndication: a datagram from a permitted peer without a
// channel goes from the loop to pion, which sends it as a Data indication.
func TestEventLoopDataIndication(t *testing.T) {
	needLoops(t)
	s, c := fastServer(t, false, false, 0, nil)
	code, relayAddr := c.allocate()
	if code != 0 {
		t.Fatalf("allocate: %d", code)
	}
	if code := c.createPermission(net.IPv4(127, 0, 0, 1)); code != 0 {
		t.Fatalf("create permission: %d", code)
	}
	if !onlyRelay(t, s).inLoop() {
		t.Fatal("relay not in a loop")
	}
	peer, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()
	if _, err := peer.WriteTo([]byte("no channel"), relayAddr); err != nil {
		t.Fatal(err)
	}
	f := c.recvFrame(2 * time.Second)
	m := &stun.Message{Raw: f}
	if f == nil || m.Decode() != nil || m.Type != stun.NewType(stun.MethodData, stun.ClassIndication) {
		t.Fatalf("got %x, want a Data indication", f)
	}
	data, err := m.Get(stun.AttrData)
	if err != nil || string(data) != "no channel" {
		t.Fatalf("Data indication carries %q (%v)", data, err)
	}
}

// TestEventLoopSTUNFlood: a client flooding the listen socket with Binding
// requests costs the loop's queue at most (drops are counted), and another
// client still allocates and relays.
func TestEventLoopSTUNFlood(t *testing.T) {
	needLoops(t)
	s, c := fastServer(t, false, false, 0, nil)
	flood, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer flood.Close()
	req := stun.MustBuild(stun.TransactionID, stun.BindingRequest, stun.Fingerprint)
	for i := 0; i < 20000; i++ {
		_, _ = flood.WriteTo(req.Raw, s.UDPAddr())
	}
	bindEcho(t, c, 0x4001)
	if !c.echoChannel(0x4001, []byte("after the flood"), false) {
		t.Fatal("no echo after the flood")
	}
	t.Logf("loop queue drops: %d of 20000", s.Stats().LoopQueueDrops)
}

// TestEventLoopCloseWhileReading: allocations are deleted while their peer
// floods the relay socket, so the loop reads sockets that close under it.
// Under -race this checks the descriptor's lock; Stop must find every
// goroutine gone (TestMain checks for leaks).
func TestEventLoopCloseWhileReading(t *testing.T) {
	needLoops(t)
	s, _ := fastServer(t, false, false, 0, nil)
	for i := 0; i < 10; i++ {
		cred := s.issuer.Issue("alice")
		c := newRawClient(t, s, false, cred.Username, cred.Password)
		code, relayAddr := c.allocate()
		if code != 0 {
			t.Fatalf("allocate: %d", code)
		}
		if code := c.createPermission(net.IPv4(127, 0, 0, 1)); code != 0 {
			t.Fatalf("create permission: %d", code)
		}
		peer, err := net.ListenPacket("udp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		stop := make(chan struct{})
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := 0; n < 5000; n++ {
				select {
				case <-stop:
					return
				default:
				}
				_, _ = peer.WriteTo([]byte("flood"), relayAddr)
			}
		}()
		time.Sleep(2 * time.Millisecond)
		if code := c.refresh(0); code != 0 {
			t.Fatalf("refresh 0: %d", code)
		}
		close(stop)
		wg.Wait()
		_ = peer.Close()
	}
	waitStats(t, s, func(st Stats) bool { return st.AllocationsActive == 0 })
}
