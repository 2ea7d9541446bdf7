package turn

import (
	"context"
	"net"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// coturnBinaries returns the paths of coturn's client tools, skipping the
// test with a clear message when they are missing.
func coturnBinaries(t *testing.T) (uclient, peer string) {
	t.Helper()
	uclient, err1 := exec.LookPath("turnutils_uclient")
	peer, err2 := exec.LookPath("turnutils_peer")
	if err1 != nil || err2 != nil {
		t.Skip("coturn client tools (turnutils_uclient, turnutils_peer) not installed: apt-get install -y coturn")
	}
	return uclient, peer
}

// startCoturnPeer runs turnutils_peer (a UDP echo server) on 127.0.0.1 and
// stops it (by its own PID) at cleanup.
func startCoturnPeer(t *testing.T, bin string) int {
	t.Helper()
	for attempt := 0; attempt < 5; attempt++ {
		pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := pc.LocalAddr().(*net.UDPAddr).Port
		_ = pc.Close()
		cmd := exec.Command(bin, "-L", "127.0.0.1", "-p", strconv.Itoa(port))
		if err := cmd.Start(); err != nil {
			t.Fatalf("start turnutils_peer: %v", err)
		}
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		stop := func() { _ = cmd.Process.Kill(); <-done }
		if echoes(port) {
			t.Cleanup(stop)
			return port
		}
		stop()
	}
	t.Fatal("turnutils_peer did not come up")
	return 0
}

func echoes(port int) bool {
	c, err := net.Dial("udp4", "127.0.0.1:"+strconv.Itoa(port))
	if err != nil {
		return false
	}
	defer c.Close()
	buf := make([]byte, 64)
	// Until the peer binds, reads fail fast with ECONNREFUSED: pace the tries.
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		_, _ = c.Write([]byte("ping-peer"))
		_ = c.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
		if n, err := c.Read(buf); err == nil && string(buf[:n]) == "ping-peer" {
			return true
		}
	}
	return false
}

var (
	reLost = regexp.MustCompile(`Total lost packets (\d+)`)
	reRecv = regexp.MustCompile(`tot_recv_msgs=(\d+)`)
	reSend = regexp.MustCompile(`tot_send_msgs=(\d+)`)
)

// runUClient runs turnutils_uclient with REST credentials (-W) against s and
// returns sent, received and lost counts.
func runUClient(t *testing.T, bin string, s *Server, args ...string) (sent, recv, lost int, out string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	port := s.UDPAddr().(*net.UDPAddr).Port
	full := append([]string{"-W", testSecret, "-u", "interop", "-p", strconv.Itoa(port)}, args...)
	full = append(full, "127.0.0.1")
	b, err := exec.CommandContext(ctx, bin, full...).CombinedOutput()
	out = string(b)
	if err != nil {
		t.Fatalf("turnutils_uclient %v: %v\n%s", full, err, tail(out))
	}
	atoi := func(re *regexp.Regexp) int {
		m := re.FindAllStringSubmatch(out, -1)
		if len(m) == 0 {
			t.Fatalf("no %v in output:\n%s", re, tail(out))
		}
		n, _ := strconv.Atoi(m[len(m)-1][1])
		return n
	}
	return atoi(reSend), atoi(reRecv), atoi(reLost), out
}

func tail(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > 25 {
		lines = lines[len(lines)-25:]
	}
	return strings.Join(lines, "\n")
}

// TestInteropCoturnUClient: coturn's own RFC 5766 client, with TURN REST
// credentials computed from the shared secret (-W), allocates on rtcd and
// relays to coturn's echo peer, over UDP and TCP; and two of its clients
// reach each other through their relay addresses (-y) without AllowPeers.
func TestInteropCoturnUClient(t *testing.T) {
	uclient, peerBin := coturnBinaries(t)
	iss := newIssuer(t, []string{testSecret})

	c := testConfig()
	c.AllowPeers = []string{"127.0.0.1"}
	s := newTestServer(t, c, iss)
	peerPort := startCoturnPeer(t, peerBin)
	for _, tt := range []struct {
		name     string
		args     []string
		channels bool // ChannelData, so rtcd's fast path relays
	}{
		{"udp", nil, true},
		{"tcp", []string{"-t"}, true},
		{"udp channels off (send indications)", []string{"-s"}, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			before := s.Stats()
			args := append([]string{"-e", "127.0.0.1", "-r", strconv.Itoa(peerPort), "-n", "20", "-m", "2", "-l", "200", "-z", "5"}, tt.args...)
			sent, recv, lost, out := runUClient(t, uclient, s, args...)
			t.Logf("sent=%d recv=%d lost=%d", sent, recv, lost)
			if sent == 0 || recv == 0 || recv < sent*9/10 {
				t.Fatalf("relay through rtcd failed: sent=%d recv=%d lost=%d\n%s", sent, recv, lost, tail(out))
			}
			after := s.Stats()
			fast := after.FastToPeers - before.FastToPeers + after.FastFromPeers - before.FastFromPeers
			if tt.channels != (fast > 0) {
				t.Fatalf("fast path relayed %d datagrams, want some: %v", fast, tt.channels)
			}
		})
	}

	t.Run("client to client via own relay address", func(t *testing.T) {
		s2 := newTestServer(t, testConfig(), iss) // no AllowPeers: only the own relay IP is reachable
		sent, recv, lost, out := runUClient(t, uclient, s2, "-y", "-n", "20", "-m", "2", "-l", "200", "-z", "5")
		t.Logf("sent=%d recv=%d lost=%d", sent, recv, lost)
		if sent == 0 || recv < sent*9/10 {
			t.Fatalf("client-to-client through rtcd failed: sent=%d recv=%d lost=%d\n%s", sent, recv, lost, tail(out))
		}
		if s2.Stats().FastToPeers == 0 {
			t.Fatal("client-to-client channels not on the fast path")
		}
		if s2.Stats().PermissionDenials != 0 {
			t.Fatalf("own relay address denied %d times", s2.Stats().PermissionDenials)
		}
	})
	if s.Stats().AuthFailures != 0 {
		t.Logf("auth failures: %d (401 challenges are not failures)", s.Stats().AuthFailures)
	}
}
