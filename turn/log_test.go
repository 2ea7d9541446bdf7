package turn

import (
	"net"
	"os"
	"strings"
	"testing"

	"github.com/pion/stun/v3"
	"github.com/zeromicro/go-zero/core/logx"

	"github.com/rtcd/rtcd/internal/testharness"
)

// captureLogs routes logx at debug level into a buffer until cleanup.
func captureLogs(t *testing.T) *testharness.LockedBuffer {
	t.Helper()
	buf := &testharness.LockedBuffer{}
	logx.SetLevel(logx.DebugLevel)
	logx.SetWriter(logx.NewWriter(buf))
	t.Cleanup(func() {
		if os.Getenv("RTCD_TEST_DEBUG") == "" {
			logx.Disable()
		} else {
			logx.SetWriter(logx.NewWriter(os.Stdout))
		}
	})
	return buf
}

func errorLines(s string) []string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, `"level":"error"`) || strings.Contains(l, `"level":"severe"`) {
			out = append(out, l)
		}
	}
	return out
}

// TestDenialsNeverErrorLevel: what browsers and scanners trigger all day
// (denied peers, bad credentials, garbage) is logged at debug only.
func TestDenialsNeverErrorLevel(t *testing.T) {
	buf := captureLogs(t)
	iss := newIssuer(t, []string{testSecret})
	s := newTestServer(t, testConfig(), iss)
	cred := iss.Issue("alice")
	cl := newRawClient(t, s, false, cred.Username, cred.Password)
	if code, _ := cl.allocate(); code != 0 {
		t.Fatalf("allocate: %d", code)
	}
	for _, ip := range []string{"10.0.0.1", "127.0.0.1", "::ffff:169.254.169.254"} {
		cl.createPermission(net.ParseIP(ip))
		cl.channelBind(0x4000, net.ParseIP(ip), 80)
	}
	bad := newRawClient(t, s, false, cred.Username, "wrong")
	bad.allocate()
	bad2 := newRawClient(t, s, false, "garbage-user", "x")
	bad2.allocate()
	wrongRealm := newRawClient(t, s, false, cred.Username, cred.Password)
	wrongRealm.realm = "evil"
	wrongRealm.allocate()
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range garbageDatagrams(200, stun.MustBuild(stun.TransactionID, stun.BindingRequest).Raw) {
		_, _ = pc.WriteTo(d, s.UDPAddr())
	}
	_ = pc.Close()
	newRawClient(t, s, false, "", "").binding()

	// pion's own noisy messages are lowered too.
	l := logFactory{}.NewLogger("turn")
	l.Errorf("Failed to send ChannelData from allocation %v %v", "x", "y")
	l.Errorf("Expired time-windowed username %q", "1:x")
	l.Infof("permission denied for client %s to peer %s", "a", "b")
	l.Warnf("Failed to handle datagram: %v", "x")

	out := buf.String()
	if e := errorLines(out); len(e) != 0 {
		t.Fatalf("error-level logs for client-triggered events:\n%s", strings.Join(e, "\n"))
	}
	for _, want := range []string{"turn: peer refused", "turn: credential refused", "wrong realm"} {
		if !strings.Contains(out, want) {
			t.Errorf("debug log lacks %q", want)
		}
	}
	if strings.Contains(out, testSecret) || strings.Contains(out, cred.Password) {
		t.Fatal("a secret or password reached the log")
	}
	// A genuine internal error still surfaces.
	l.Errorf("Failed to close AllocationManager: %s", "boom")
	if len(errorLines(buf.String())) != 1 {
		t.Fatalf("internal pion error not logged at error level")
	}
}
