package daemon_test

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha1" //nolint:gosec // the TURN REST scheme is HMAC-SHA1 by definition
	"crypto/tls"
	"encoding/base64"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/goleak"

	"github.com/rtcd/rtcd/internal/config"
	"github.com/rtcd/rtcd/internal/daemon"
	"github.com/rtcd/rtcd/internal/testharness"
	"github.com/rtcd/rtcd/internal/testharness/daemontest"
	"github.com/rtcd/rtcd/internal/tlsconf/tlstest"
	"github.com/rtcd/rtcd/internal/turntest"
)

// platformSecret is the shared secret a platform and rtcd are configured with.
const platformSecret = "the-secret-in-homeserver.yaml-and-rtcd.yaml"

// hmacSHA1 is base64(HMAC-SHA1(secret, username)), the password of every
// TURN REST credential below.
func hmacSHA1(secret, username string) string {
	mac := hmac.New(sha1.New, []byte(secret))
	mac.Write([]byte(username))
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// synapseCredentials mints as Synapse does for turn_shared_secret
// (synapse/rest/client/voip.py, VoipRestServlet.on_GET):
//
//	expiry = (self.hs.get_clock().time_msec() + userLifetime) / 1000
//	username = "%d:%s" % (expiry, requester.user.to_string())
//	password = base64(hmac.new(turnSecret, username, sha1).digest())
func synapseCredentials(secret, userID string, lifetime time.Duration) (string, string) {
	expiry := (time.Now().UnixMilli() + lifetime.Milliseconds()) / 1000
	username := fmt.Sprintf("%d:%s", expiry, userID)
	return username, hmacSHA1(secret, username)
}

// nextcloudCredentials mints as Nextcloud Talk does for a TURN server with a
// secret (spreed lib/Config.php, getTurnSettings):
//
//	$timestamp = $this->timeFactory->getTime() + 86400;
//	$rnd = $this->secureRandom->generate(16);   // A-Z a-z 0-9 + /
//	$username = $timestamp . ':' . $rnd;
//	$password = base64_encode(hash_hmac('sha1', $username, $secret, true));
func nextcloudCredentials(t *testing.T, secret string) (string, string) {
	const chars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
	rnd := make([]byte, 16)
	for i := range rnd {
		n, err := rand.Int(rand.Reader, big.NewInt(int64(len(chars))))
		if err != nil {
			t.Fatal(err)
		}
		rnd[i] = chars[n.Int64()]
	}
	username := strconv.FormatInt(time.Now().Unix()+86400, 10) + ":" + string(rnd)
	return username, hmacSHA1(secret, username)
}

// jitsiCredentials mints as Prosody's mod_turncredentials and
// mod_external_services do for Jitsi Meet (turncredentials_secret):
//
//	local expires = os.time() + ttl
//	username = string.format("%d", expires)   -- no user part
//	password = base64.encode(hmac_sha1(secret, username))
func jitsiCredentials(secret string, ttl time.Duration) (string, string) {
	username := strconv.FormatInt(time.Now().Add(ttl).Unix(), 10)
	return username, hmacSHA1(secret, username)
}

// turnOnlyDaemon runs the daemon in TURN-only mode with the platform
// secret, TURN over TLS on its own port, and loopback peers allowed.
func turnOnlyDaemon(t *testing.T) (*daemon.Daemon, *tlstest.CA) {
	t.Helper()
	c := config.Default()
	ca := daemontest.WithTLS(t, &c, "turn.test") // TURN over TLS on the main port too (443 in production)
	c.Signal.Disabled = true
	c.Auth.Secrets = []string{platformSecret}
	c.Turn.Realm = "turn.example.org"
	c.Turn.AllowPeers = []string{"127.0.0.1/32"}
	return daemontest.Start(t, c), ca
}

// TestTURNOnlyMode: with Signal.Disabled the daemon serves the relay
// (UDP, TCP, TLS on its port and on the main port), health and metrics, and
// no web app, signaling or API; and the credentials Synapse, Nextcloud Talk
// and Jitsi mint from the shared secret allocate and relay on every
// transport.
func TestTURNOnlyMode(t *testing.T) {
	ignore := goleak.IgnoreCurrent()
	t.Cleanup(func() { testharness.VerifyNone(t, ignore) }) // after the daemon's own cleanup
	d, ca := turnOnlyDaemon(t)
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.Pool(), ServerName: "turn.test"}}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr, Timeout: ioTimeout}
	for path, want := range map[string]int{"/healthz": 200, "/readyz": 200, "/": 404, "/r/room": 404, "/ws": 404, "/api/v1/ice-servers": 404, "/api/v1/turn": 404} {
		resp, err := hc.Get(d.HTTPURL() + path)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("GET %s: %d, want %d", path, resp.StatusCode, want)
		}
	}
	if d.Hub() != nil {
		t.Fatal("signaling hub running in TURN-only mode")
	}

	udp := d.TURNAddr().String()
	tcp := d.Relay().TCPAddr().String()
	turns := d.TURNSAddr().String()
	onePort := d.HTTPAddr().String()
	platforms := map[string]func() (string, string){
		"synapse":   func() (string, string) { return synapseCredentials(platformSecret, "@alice:example.org", time.Hour) },
		"nextcloud": func() (string, string) { return nextcloudCredentials(t, platformSecret) },
		"jitsi":     func() (string, string) { return jitsiCredentials(platformSecret, 12*time.Hour) },
	}
	for name, mint := range platforms {
		t.Run(name, func(t *testing.T) {
			user, pass := mint()
			turntest.RoundTripUDP(t, udp, user, pass, "turn.example.org")
			conn, err := net.DialTimeout("tcp", tcp, ioTimeout)
			if err != nil {
				t.Fatal(err)
			}
			turntest.RoundTrip(t, conn, tcp, user, pass, "turn.example.org")
			tc, err := tls.Dial("tcp", turns, &tls.Config{RootCAs: ca.Pool(), ServerName: "turn.test"})
			if err != nil {
				t.Fatal(err)
			}
			turntest.RoundTrip(t, tc, turns, user, pass, "turn.example.org")
			tc, err = tls.Dial("tcp", onePort, &tls.Config{RootCAs: ca.Pool(), ServerName: "turn.test"})
			if err != nil {
				t.Fatal(err)
			}
			turntest.RoundTrip(t, tc, onePort, user, pass, "turn.example.org")
		})
	}
	// The relay's counters are exported; the hub's are not there to be.
	mfs, err := prometheus.DefaultGatherer.Gather()
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			seen[mf.GetName()] += m.GetCounter().GetValue() + m.GetGauge().GetValue()
		}
	}
	if seen["rtcd_turn_allocations_created_total"] < 12 {
		t.Errorf("rtcd_turn_allocations_created_total = %v, want the 12 allocations made", seen["rtcd_turn_allocations_created_total"])
	}
	if _, ok := seen["rtcd_ws_connections"]; ok {
		t.Error("signaling metrics exported in TURN-only mode")
	}
	before := d.Relay().Stats().AuthFailures
	user, _ := synapseCredentials("another-secret", "@mallory:example.org", time.Hour)
	if err := turntest.AllocateUDP(udp, user, hmacSHA1("another-secret", user), "turn.example.org"); err == nil {
		t.Fatal("a credential minted with another secret allocated")
	}
	if d.Relay().Stats().AuthFailures == before {
		t.Fatal("the forged credential was not counted")
	}
}

// TestTURNOnlyInterop: coturn's turnutils_uclient relays through TURN-only
// mode to coturn's echo peer over UDP, TCP and TLS.
func TestTURNOnlyInterop(t *testing.T) {
	uclient, peerBin := turntest.CoturnTools(t)
	d, _ := turnOnlyDaemon(t)
	peerPort := turntest.StartCoturnPeer(t, peerBin)
	udpPort := d.TURNAddr().(*net.UDPAddr).Port
	tlsPort := d.TURNSAddr().(*net.TCPAddr).Port
	for _, tt := range []struct {
		name string
		port int
		args []string
	}{
		{"udp", udpPort, nil},
		{"tcp", udpPort, []string{"-t"}},
		{"tls", tlsPort, []string{"-t", "-S"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string{"-e", "127.0.0.1", "-r", strconv.Itoa(peerPort), "-n", "20", "-m", "2", "-l", "200", "-z", "5"}, tt.args...)
			sent, recv, lost, out := turntest.RunUClient(t, uclient, platformSecret, tt.port, args...)
			t.Logf("sent=%d recv=%d lost=%d", sent, recv, lost)
			if sent == 0 || recv < sent*9/10 {
				t.Fatalf("relay through TURN-only rtcd failed: sent=%d recv=%d lost=%d\n%s", sent, recv, lost, turntest.Tail(out))
			}
		})
	}
}

// TestTURNOnlySynapseCall: what an Element user gets when the homeserver's
// turn_uris point at rtcd and turn_shared_secret is rtcd's secret: two
// WebRTC peers with the credentials Synapse mints for them, relay only,
// connect through rtcd and exchange data.
func TestTURNOnlySynapseCall(t *testing.T) {
	ignore := goleak.IgnoreCurrent()
	t.Cleanup(func() { testharness.VerifyNone(t, ignore) })
	d, _ := turnOnlyDaemon(t)
	// homeserver.yaml: turn_uris: ["turn:<rtcd>?transport=udp", "turn:<rtcd>?transport=tcp"]
	uris := []string{"turn:" + d.TURNAddr().String() + "?transport=udp", "turn:" + d.Relay().TCPAddr().String() + "?transport=tcp"}
	newPeer := func(userID string) *webrtc.PeerConnection {
		user, pass := synapseCredentials(platformSecret, userID, time.Hour)
		pc, err := webrtc.NewPeerConnection(webrtc.Configuration{
			ICEServers:         []webrtc.ICEServer{{URLs: uris, Username: user, Credential: pass}},
			ICETransportPolicy: webrtc.ICETransportPolicyRelay,
		})
		if err != nil {
			t.Fatal(err)
		}
		return pc
	}
	alice, bob := newPeer("@alice:example.org"), newPeer("@bob:example.org")
	got := make(chan string, 1)
	bob.OnDataChannel(func(dc *webrtc.DataChannel) {
		dc.OnMessage(func(m webrtc.DataChannelMessage) {
			select {
			case got <- string(m.Data):
			default:
			}
		})
	})
	dc, err := alice.CreateDataChannel("chat", nil)
	if err != nil {
		t.Fatal(err)
	}
	opened := make(chan struct{})
	dc.OnOpen(func() { close(opened) })
	offer, err := alice.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	gathered := webrtc.GatheringCompletePromise(alice)
	if err := alice.SetLocalDescription(offer); err != nil {
		t.Fatal(err)
	}
	<-gathered
	if err := bob.SetRemoteDescription(*alice.LocalDescription()); err != nil {
		t.Fatal(err)
	}
	answer, err := bob.CreateAnswer(nil)
	if err != nil {
		t.Fatal(err)
	}
	gathered = webrtc.GatheringCompletePromise(bob)
	if err := bob.SetLocalDescription(answer); err != nil {
		t.Fatal(err)
	}
	<-gathered
	if err := alice.SetRemoteDescription(*bob.LocalDescription()); err != nil {
		t.Fatal(err)
	}
	select {
	case <-opened:
	case <-time.After(20 * time.Second):
		t.Fatal("no relayed connection through TURN-only rtcd")
	}
	if err := dc.SendText("hello through rtcd"); err != nil {
		t.Fatal(err)
	}
	select {
	case m := <-got:
		if m != "hello through rtcd" {
			t.Fatalf("got %q", m)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("message lost")
	}
	pair, err := alice.SCTP().Transport().ICETransport().GetSelectedCandidatePair()
	if err != nil || pair == nil || pair.Local.Typ != webrtc.ICECandidateTypeRelay {
		t.Fatalf("selected pair %v (%v): not relayed", pair, err)
	}
	if d.Relay().Stats().AllocationsCreated < 2 {
		t.Fatalf("relay saw %d allocations", d.Relay().Stats().AllocationsCreated)
	}
	_ = alice.Close()
	_ = bob.Close()
}
