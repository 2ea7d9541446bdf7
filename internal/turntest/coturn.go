package turntest

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

// CoturnTools returns the paths of coturn's client tools, skipping the test
// with a clear message when they are missing (test/deps.sh installs them).
func CoturnTools(t *testing.T) (uclient, peer string) {
	t.Helper()
	uclient, err1 := exec.LookPath("turnutils_uclient")
	peer, err2 := exec.LookPath("turnutils_peer")
	if err1 != nil || err2 != nil {
		t.Skip("coturn client tools (turnutils_uclient, turnutils_peer) not installed: apt-get install -y coturn")
	}
	return uclient, peer
}

// StartCoturnPeer runs turnutils_peer (a UDP echo server) on 127.0.0.1 and
// stops it (by its own PID) at cleanup. It returns the peer's port.
func StartCoturnPeer(t *testing.T, bin string) int {
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

// RunUClient runs turnutils_uclient with TURN REST credentials computed
// from secret (-W) against 127.0.0.1:port and returns the sent, received
// and lost counts it reports, and its output.
func RunUClient(t *testing.T, bin, secret string, port int, args ...string) (sent, recv, lost int, out string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	full := append([]string{"-W", secret, "-u", "interop", "-p", strconv.Itoa(port)}, args...)
	full = append(full, "127.0.0.1")
	b, err := exec.CommandContext(ctx, bin, full...).CombinedOutput()
	out = string(b)
	if err != nil {
		t.Fatalf("turnutils_uclient %v: %v\n%s", full, err, Tail(out))
	}
	atoi := func(re *regexp.Regexp) int {
		m := re.FindAllStringSubmatch(out, -1)
		if len(m) == 0 {
			t.Fatalf("no %v in output:\n%s", re, Tail(out))
		}
		n, _ := strconv.Atoi(m[len(m)-1][1])
		return n
	}
	return atoi(reSend), atoi(reRecv), atoi(reLost), out
}

// Tail is the last 25 lines of s, for failure messages.
func Tail(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > 25 {
		lines = lines[len(lines)-25:]
	}
	return strings.Join(lines, "\n")
}
