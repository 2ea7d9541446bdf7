package daemon_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/pion/logging"
	pionturn "github.com/pion/turn/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"
	"github.com/zeromicro/go-zero/core/logx"
	"github.com/zeromicro/go-zero/core/proc"
	"go.uber.org/goleak"

	"github.com/rtcd/rtcd/internal/config"
	"github.com/rtcd/rtcd/internal/daemon"
	"github.com/rtcd/rtcd/internal/testharness"
	"github.com/rtcd/rtcd/internal/testharness/daemontest"
)

// TestMain fails the package if a goroutine outlives its tests.
func TestMain(m *testing.M) { testharness.VerifyTestMain(m) }

// iceServer is the WebRTC RTCIceServer shape of the hello reply.
type iceServer struct {
	URLs       []string `json:"urls"`
	Username   string   `json:"username"`
	Credential string   `json:"credential"`
}

// hello connects to /ws as a browser from the daemon's own origin would and
// returns the hello reply's TURN entry.
func hello(t *testing.T, d *daemon.Daemon, name string) (*websocket.Conn, iceServer) {
	t.Helper()
	h := http.Header{"Origin": {d.HTTPURL()}}
	ws, resp, err := websocket.DefaultDialer.Dial(d.WSURL(), h)
	if err != nil {
		t.Fatalf("dial %s: %v (%v)", d.WSURL(), err, resp)
	}
	t.Cleanup(func() { _ = ws.Close() })
	if err := ws.WriteJSON(map[string]any{"v": 1, "type": "hello", "id": "1", "name": name}); err != nil {
		t.Fatal(err)
	}
	_ = ws.SetReadDeadline(time.Now().Add(5 * time.Second))
	var reply struct {
		Type       string      `json:"type"`
		PeerID     string      `json:"peerId"`
		ICEServers []iceServer `json:"iceServers"`
	}
	if err := ws.ReadJSON(&reply); err != nil {
		t.Fatal(err)
	}
	if reply.Type != "hello" || reply.PeerID == "" {
		t.Fatalf("hello reply %+v", reply)
	}
	for _, s := range reply.ICEServers {
		if s.Username != "" {
			return ws, s
		}
	}
	t.Fatalf("no TURN server in %+v", reply.ICEServers)
	return nil, iceServer{}
}

// turnAddr picks the host:port of the first URL with the given transport.
func turnAddr(t *testing.T, s iceServer, transport string) string {
	t.Helper()
	for _, u := range s.URLs {
		if strings.HasPrefix(u, "turn:") && strings.HasSuffix(u, "?transport="+transport) {
			return strings.TrimSuffix(strings.TrimPrefix(u, "turn:"), "?transport="+transport)
		}
	}
	t.Fatalf("no %s TURN URL in %v", transport, s.URLs)
	return ""
}

// allocateICE makes a TURN allocation with credentials from signaling.
func allocateICE(t *testing.T, s iceServer, transport string) net.PacketConn {
	t.Helper()
	addr := turnAddr(t, s, transport)
	var conn net.PacketConn
	if transport == "tcp" {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		conn = pionturn.NewSTUNConn(c)
	} else {
		c, err := net.ListenPacket("udp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		conn = c
	}
	cl, err := pionturn.NewClient(&pionturn.ClientConfig{
		STUNServerAddr: addr, TURNServerAddr: addr, Conn: conn,
		Username: s.Username, Password: s.Credential, Realm: "rtcd",
		LoggerFactory: logging.NewDefaultLoggerFactory(),
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := cl.Listen(); err != nil {
		t.Fatal(err)
	}
	relay, err := cl.Allocate()
	if err != nil {
		t.Fatalf("Allocate over %s with signaling's credentials: %v", transport, err)
	}
	t.Cleanup(func() {
		_ = relay.Close()
		cl.Close()
		_ = conn.Close()
	})
	return relay
}

// TestSignalingCredentialsOpenTheRelay is the whole path without a browser:
// two clients say hello, take the TURN credentials they are given, allocate
// on the embedded relay (one over UDP, one over TCP) and exchange datagrams
// relay to relay, which the default peer policy allows only because the peer
// is the relay's own address on a relay port.
func TestSignalingCredentialsOpenTheRelay(t *testing.T) {
	// Registered first, so it runs after every other cleanup has stopped things.
	ignore := goleak.IgnoreCurrent()
	t.Cleanup(func() { testharness.VerifyNone(t, ignore) })
	d := daemontest.Start(t, config.Default())
	_, a := hello(t, d, "ann")
	_, b := hello(t, d, "bob")
	ra := allocateICE(t, a, "udp")
	rb := allocateICE(t, b, "tcp")

	msg := []byte("through the relay, twice")
	buf := make([]byte, 1500)
	// TURN delivers only from peers the receiver gave a permission to, so rb
	// first sends towards ra (pion's client creates the permission on write).
	for try := 0; ; try++ {
		if _, err := rb.WriteTo([]byte("open"), ra.LocalAddr()); err != nil {
			t.Fatal(err)
		}
		if _, err := ra.WriteTo(msg, rb.LocalAddr()); err != nil {
			t.Fatal(err)
		}
		_ = rb.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
		n, from, err := rb.ReadFrom(buf)
		if err == nil && bytes.Equal(buf[:n], msg) {
			if from.String() != ra.LocalAddr().String() {
				t.Fatalf("from %v, want %v", from, ra.LocalAddr())
			}
			break
		}
		if try == 5 {
			t.Fatalf("relay to relay: %v", err)
		}
	}

	// The counters saw it, and /metrics would show them with no user or room label.
	st := d.Relay().Stats()
	if st.AllocationsActive != 2 || st.PacketsToPeers == 0 || st.PacketsFromPeers == 0 {
		t.Fatalf("relay stats %+v", st)
	}
}

func TestMetricsHaveNoPersonalLabels(t *testing.T) {
	d := daemontest.Start(t, config.Default())
	ws, _ := hello(t, d, "carol-secret-name")
	if err := ws.WriteJSON(map[string]any{"v": 1, "type": "join", "room": "private-room-name"}); err != nil {
		t.Fatal(err)
	}
	_ = ws.SetReadDeadline(time.Now().Add(5 * time.Second))
	var joined map[string]any
	if err := ws.ReadJSON(&joined); err != nil || joined["type"] != "joined" {
		t.Fatalf("join: %v %v", joined, err)
	}
	mfs, err := prometheus.DefaultGatherer.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	for _, mf := range mfs {
		if _, err := expfmt.MetricFamilyToText(&out, mf); err != nil {
			t.Fatal(err)
		}
	}
	text := out.String()
	for _, want := range []string{"rtcd_ws_connections 1", "rtcd_rooms 1", "rtcd_peers 1",
		`rtcd_signal_messages_total{type="join"} 1`, "rtcd_turn_allocations_active 0"} {
		if !strings.Contains(text, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	for _, secret := range []string{"carol-secret-name", "private-room-name", "127.0.0.1"} {
		if strings.Contains(text, secret) {
			t.Errorf("metrics expose %q", secret)
		}
	}
	if t.Failed() {
		t.Logf("scrape:\n%s", text)
	}
}

func TestHealthAndReadiness(t *testing.T) {
	d := daemontest.Start(t, config.Default())
	for _, path := range []string{"/healthz", "/readyz"} {
		resp, err := http.Get(d.HTTPURL() + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: %d %s", path, resp.StatusCode, body)
		}
	}
	if d.Ready() != nil {
		t.Fatal("running node not ready")
	}

	// SIGTERM: go-zero's wrap-up comes a second before the services stop,
	// and /readyz must already say 503 then, while the port still answers.
	d.Services()
	proc.WrapUp()
	resp, err := http.Get(d.HTTPURL() + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("/readyz after wrap-up: %d %s, want 503", resp.StatusCode, body)
	}
}

func TestICEServersAPIMatchesRelay(t *testing.T) {
	d := daemontest.Start(t, config.Default())
	req, _ := http.NewRequest(http.MethodGet, d.HTTPURL()+"/api/v1/ice-servers", nil)
	req.Header.Set("Origin", d.HTTPURL())
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		ICEServers []iceServer `json:"iceServers"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || resp.StatusCode != 200 {
		t.Fatalf("status %d, %v", resp.StatusCode, err)
	}
	for _, s := range body.ICEServers {
		if s.Username != "" {
			allocateICE(t, s, "udp")
			return
		}
	}
	t.Fatalf("no TURN entry: %+v", body)
}

// TestHealthChecksStayOutOfTheAccessLog: load balancers poll every few
// seconds; one log line per poll would bury everything else.
func TestHealthChecksStayOutOfTheAccessLog(t *testing.T) {
	d := daemontest.Start(t, config.Default())
	// After start: go-zero sets its writer up once, when the server is built.
	var logs testharness.LockedBuffer
	logx.SetWriter(logx.NewWriter(&logs))
	defer logx.Reset()
	logx.SetLevel(logx.InfoLevel)
	defer logx.SetLevel(logx.ErrorLevel)
	for _, path := range []string{"/healthz", "/readyz", "/healthz"} {
		resp, err := http.Get(d.HTTPURL() + path)
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
	}
	resp, err := http.Get(d.HTTPURL() + "/")
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	time.Sleep(100 * time.Millisecond)
	out := logs.String()
	if strings.Contains(out, "/healthz") || strings.Contains(out, "/readyz") {
		t.Fatalf("health checks logged:\n%s", out)
	}
	if !strings.Contains(out, "GET  /") {
		t.Fatalf("the app request was not logged, so this test proves nothing:\n%s", out)
	}
}
