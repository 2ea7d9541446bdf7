package daemon_test

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/rtcd/rtcd/internal/config"
	"github.com/rtcd/rtcd/internal/daemon"
	"github.com/rtcd/rtcd/internal/testharness"
	"github.com/rtcd/rtcd/internal/testharness/daemontest"
	"github.com/rtcd/rtcd/internal/turntest"
)

const ioTimeout = 10 * time.Second

func TestTLSOnePortAndTURNS(t *testing.T) {
	defer testharness.VerifyNone(t, goleak.IgnoreCurrent())
	c := config.Default()
	ca := daemontest.WithTLS(t, &c, "rtc.test")
	c.TLS.RedirectHTTP = "127.0.0.1:0"
	c.Turn.AllowPeers = []string{"127.0.0.1/32"}
	c.Turn.FastPath = "off" // no eBPF on the host's interfaces from a test
	d, err := daemon.New(c)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Start(); err != nil {
		t.Fatal(err)
	}
	defer d.Stop()

	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.Pool(), ServerName: "rtc.test"}, ForceAttemptHTTP2: true}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr, Timeout: ioTimeout}
	if !strings.HasPrefix(d.HTTPURL(), "https://") {
		t.Fatalf("HTTPURL %s", d.HTTPURL())
	}
	resp, err := hc.Get(d.HTTPURL() + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if resp.StatusCode != 200 || resp.ProtoMajor != 2 {
		t.Fatalf("healthz: %d %s %q", resp.StatusCode, resp.Proto, body)
	}

	resp, err = hc.Get(d.HTTPURL() + "/api/v1/ice-servers")
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	mainPort := strconv.Itoa(d.HTTPAddr().(*net.TCPAddr).Port)
	turnsPort := strconv.Itoa(d.TURNSAddr().(*net.TCPAddr).Port)
	for _, want := range []string{"turns:rtc.test:" + mainPort + "?transport=tcp", "turns:rtc.test:" + turnsPort + "?transport=tcp"} {
		if !strings.Contains(string(body), want) {
			t.Errorf("ice-servers lacks %s: %s", want, body)
		}
	}
	var ice struct {
		IceServers []struct {
			Username   string `json:"username"`
			Credential string `json:"credential"`
		} `json:"iceServers"`
	}
	_ = json.Unmarshal(body, &ice)
	t.Logf("ice-servers: %s", body)

	cred := d.Issuer().Issue("alice")
	for name, addr := range map[string]string{"one-port 443": d.HTTPAddr().String(), "turns 5349": d.TURNSAddr().String()} {
		t.Run(name, func(t *testing.T) {
			// coturn's turnutils_uclient offers http/1.1 before stun.turn.
			for _, alpn := range [][]string{nil, {"stun.turn"}, {"http/1.1", "stun.turn", "stun.nat-discovery"}} {
				dialer := &tls.Dialer{NetDialer: &net.Dialer{Timeout: ioTimeout},
					Config: &tls.Config{RootCAs: ca.Pool(), ServerName: "rtc.test", NextProtos: alpn}}
				ctx, cancel := context.WithTimeout(context.Background(), ioTimeout)
				conn, err := dialer.DialContext(ctx, "tcp", addr)
				cancel()
				if err != nil {
					t.Fatal(err)
				}
				turntest.RoundTrip(t, conn, addr, cred.Username, cred.Password, d.Relay().Realm())
			}
		})
	}
}
