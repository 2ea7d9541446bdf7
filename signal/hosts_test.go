package signal

import (
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/rtcd/rtcd/signal/proto"
)

func TestHostSet(t *testing.T) {
	s := newHostSet([]string{"rtc.example.com", "*.apps.example.org", "Upper.Example.NET."}, []string{"https://app.example.com:8443"})
	for host, want := range map[string]bool{
		"":                         true,
		"127.0.0.1:8080":           true,
		"[::1]:8080":               true,
		"192.0.2.7":                true,
		"[2001:db8::1]":            true,
		"localhost":                true,
		"localhost:8080":           true,
		"LOCALHOST.:8080":          true,
		"x.localhost:8080":         true,
		"rtc.example.com":          true,
		"RTC.example.com.:443":     true,
		"upper.example.net":        true,
		"app.example.com":          true, // from AllowOrigins
		"a.apps.example.org:8080":  true,
		"apps.example.org":         false,
		"a.b.apps.example.org":     false,
		"evil.com":                 false,
		"evil.com:8080":            false,
		"rtc.example.com.evil.com": false,
		"localhost.evil.com":       false,
		"127.0.0.1.nip.io:8080":    false,
		"evilrtc.example.com":      false,
		"xapps.example.org":        false,
	} {
		if got := s.allowed(host); got != want {
			t.Errorf("allowed(%q) = %v, want %v", host, got, want)
		}
	}
	if !newHostSet([]string{"*"}, nil).allowed("evil.com") {
		t.Error(`"*" does not allow every host`)
	}
	if got := s.String(); got != "*.apps.example.org, app.example.com, rtc.example.com, upper.example.net, localhost, IP addresses" {
		t.Errorf("String() = %q", got)
	}
	for _, bad := range []string{"", "http://rtc.example.com", "rtc.example.com:443", "rtc.example.com/ws", "a b", "*."} {
		if err := (Config{AllowedHosts: []string{bad}}).Validate(); err == nil || !strings.Contains(err.Error(), "Signal.AllowedHosts[0]") {
			t.Errorf("AllowedHosts %q: Validate = %v", bad, err)
		}
	}
	if err := (Config{AllowedHosts: []string{"*", "rtc.example.com", "*.example.com", "192.0.2.1", "::1", "[::1]"}}).Validate(); err != nil {
		t.Error(err)
	}
}

// TestDNSRebindingRefused: a page on a name the attacker points at the
// daemon sends a matching Host and Origin; only the host list stops it.
func TestDNSRebindingRefused(t *testing.T) {
	e := newEnv(t, Config{AllowedHosts: []string{"rtc.example.com"}})
	_, port, err := net.SplitHostPort(e.srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	dialAs := func(host string) (*http.Response, error) {
		_, resp, err := e.tryDial(http.Header{"Host": {host}, "Origin": {"http://" + host}})
		return resp, err
	}
	resp, err2 := dialAs("evil.com:" + port)
	if err2 == nil || resp == nil || resp.StatusCode != http.StatusMisdirectedRequest {
		t.Fatalf("rebinding upgrade: %v %v, want 421", err2, resp)
	}
	status, m, _ := e.get(PathTURN+"?service=turn", map[string]string{"Host": "evil.com:" + port, "Origin": "http://evil.com:" + port})
	if status != http.StatusMisdirectedRequest || m.str("code") != proto.CodeForbidden || !strings.Contains(m.str("message"), "Signal.AllowedHosts") {
		t.Fatalf("rebinding API call: %d %v, want 421", status, m)
	}
	// Without Origin (curl) the name is refused too: it is not served here.
	status, _, _ = e.get(PathICEServers, map[string]string{"Host": "evil.com"})
	if status != http.StatusMisdirectedRequest {
		t.Fatalf("API with a foreign Host: %d", status)
	}

	// The configured name, localhost and the address itself are served.
	for _, host := range []string{"rtc.example.com:" + port, "localhost:" + port, "127.0.0.1:" + port} {
		c, resp, err := e.tryDial(http.Header{"Host": {host}, "Origin": {"http://" + host}})
		if err != nil {
			t.Fatalf("Host %s: %v %v", host, err, resp)
		}
		c.hello("ok")
		if status, m, _ := e.get(PathICEServers, map[string]string{"Host": host, "Origin": "http://" + host}); status != 200 {
			t.Fatalf("API Host %s: %d %v", host, status, m)
		}
	}
	if st := e.hub.Stats(); st.Errors[proto.CodeForbidden] != 3 {
		t.Fatalf("forbidden count %d", st.Errors[proto.CodeForbidden])
	}
}
