package turn

import (
	"net"
	"strconv"
	"testing"

	"github.com/rtcd/rtcd/internal/turntest"
)

// runUClient runs turnutils_uclient against s with testSecret.
func runUClient(t *testing.T, bin string, s *Server, args ...string) (sent, recv, lost int, out string) {
	t.Helper()
	return turntest.RunUClient(t, bin, testSecret, s.UDPAddr().(*net.UDPAddr).Port, args...)
}

func tail(s string) string { return turntest.Tail(s) }

// TestInteropCoturnUClient: coturn's own RFC 5766 client, with TURN REST
// credentials computed from the shared secret (-W), allocates on rtcd and
// relays to coturn's echo peer, over UDP and TCP; and two of its clients
// reach each other through their relay addresses (-y) without AllowPeers.
func TestInteropCoturnUClient(t *testing.T) {
	uclient, peerBin := turntest.CoturnTools(t)
	iss := newIssuer(t, []string{testSecret})

	c := testConfig()
	c.AllowPeers = []string{"127.0.0.1"}
	s := newTestServer(t, c, iss)
	peerPort := turntest.StartCoturnPeer(t, peerBin)
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
