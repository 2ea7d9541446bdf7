package signal

import (
	"encoding/json"
	"io"
	"net/http"
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/zeromicro/go-zero/core/conf"

	"github.com/rtcd/rtcd/signal/proto"
)

func (e *env) get(path string, hdr map[string]string) (int, msg, http.Header) {
	e.t.Helper()
	req, err := http.NewRequest(http.MethodGet, e.srv.URL+path, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	if h := hdr["Host"]; h != "" {
		req.Host = h
	}
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var m msg
	if err := json.Unmarshal(b, &m); err != nil {
		e.t.Fatalf("%s: not JSON: %q", path, b)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		e.t.Fatalf("content type %q", ct)
	}
	return resp.StatusCode, m, resp.Header
}

func TestAPIOpenMode(t *testing.T) {
	e := newEnv(t, Config{AllowOrigins: []string{"https://app.example.com"}})
	host := strings.TrimPrefix(e.srv.URL, "http://")
	tests := []struct {
		name   string
		path   string
		hdr    map[string]string
		status int
		code   string
	}{
		{"ice-servers, no origin", PathICEServers, nil, 200, ""},
		{"ice-servers, same origin", PathICEServers, map[string]string{"Origin": "http://" + host}, 200, ""},
		{"ice-servers, same-origin fetch", PathICEServers, map[string]string{"Sec-Fetch-Site": "same-origin"}, 200, ""},
		{"ice-servers, allowed origin", PathICEServers, map[string]string{"Origin": "https://app.example.com"}, 200, ""},
		{"ice-servers, other origin", PathICEServers, map[string]string{"Origin": "https://evil.example"}, 403, proto.CodeForbidden},
		{"ice-servers, cross-site fetch", PathICEServers, map[string]string{"Sec-Fetch-Site": "cross-site"}, 403, proto.CodeForbidden},
		{"turn", PathTURN + "?service=turn&username=alice", nil, 200, ""},
		{"turn without username", PathTURN + "?service=turn", nil, 200, ""},
		{"turn wrong service", PathTURN + "?service=stun", nil, 400, proto.CodeBadRequest},
		{"turn bad username", PathTURN + "?service=turn&username=a:b", nil, 400, proto.CodeBadRequest},
		{"turn other origin", PathTURN + "?service=turn", map[string]string{"Origin": "https://evil.example"}, 403, proto.CodeForbidden},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e.t = t
			status, m, hdr := e.get(tt.path, tt.hdr)
			if status != tt.status {
				t.Fatalf("status %d (%v), want %d", status, m, tt.status)
			}
			if tt.code != "" {
				if m.str("code") != tt.code || m.str("message") == "" {
					t.Fatalf("error body %v", m)
				}
				return
			}
			if o := tt.hdr["Origin"]; o != "" && hdr.Get("Access-Control-Allow-Origin") != o {
				t.Fatalf("ACAO %q", hdr.Get("Access-Control-Allow-Origin"))
			}
			if hdr.Get("Cache-Control") != "no-store" {
				t.Fatal("credentials must not be cached")
			}
			if strings.HasPrefix(tt.path, PathICEServers) {
				if len(m.list("iceServers")) != 2 || m["iceTTL"] != float64(3600) || m["iceExpires"] == nil || m["v"] != nil {
					t.Fatalf("body %v", m)
				}
				return
			}
			user, pass := m.str("username"), m.str("password")
			if err := e.issuer.Verify(user, pass); err != nil || m["ttl"] != float64(3600) {
				t.Fatalf("body %v: %v", m, err)
			}
			if strings.Contains(tt.path, "alice") && turnLabel(t, e.issuer, user) != "alice" {
				t.Fatalf("username %q", user)
			}
			if uris := m["uris"].([]any); len(uris) != 3 {
				t.Fatalf("uris %v", uris)
			}
		})
	}
	e.t = t
	req, _ := http.NewRequest(http.MethodPost, e.srv.URL+PathICEServers, nil)
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 405 {
		t.Fatalf("POST: %d", resp.StatusCode)
	}
}

func TestAPITokenMode(t *testing.T) {
	e := newEnv(t, Config{Mode: ModeToken})
	good := e.token("r", "bob", time.Hour)
	tests := []struct {
		name   string
		path   string
		auth   string
		status int
		code   string
	}{
		{"no token", PathICEServers, "", 401, proto.CodeUnauthorized},
		{"not bearer", PathICEServers, "Basic abc", 401, proto.CodeUnauthorized},
		{"bad token", PathICEServers, "Bearer x.y.z", 401, proto.CodeUnauthorized},
		{"expired", PathICEServers, "Bearer " + e.token("r", "bob", -time.Minute), 401, proto.CodeTokenExpired},
		{"valid", PathICEServers, "Bearer " + good, 200, ""},
		{"turn valid, username from token", PathTURN + "?service=turn&username=mallory", "Bearer " + good, 200, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e.t = t
			hdr := map[string]string{}
			if tt.auth != "" {
				hdr["Authorization"] = tt.auth
			}
			status, m, _ := e.get(tt.path, hdr)
			if status != tt.status || m.str("code") != tt.code {
				t.Fatalf("status %d body %v, want %d %q", status, m, tt.status, tt.code)
			}
			if u := m.str("username"); u != "" && turnLabel(t, e.issuer, u) != "bob" {
				t.Fatalf("username %q, want the token's user", u)
			}
		})
	}
}

func TestClientIP(t *testing.T) {
	iss := newEnv(t, Config{}).issuer
	h, err := NewHub(Config{TrustedProxies: []string{"10.0.0.0/8", "::1"}}, iss, nil, testURLs)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Stop()
	tests := []struct {
		name, remote, xff, want string
	}{
		{"direct", "192.0.2.1:5000", "", "192.0.2.1"},
		{"untrusted peer's XFF ignored", "192.0.2.1:5000", "198.51.100.9", "192.0.2.1"},
		{"trusted proxy", "10.1.2.3:5000", "198.51.100.9", "198.51.100.9"},
		{"rightmost untrusted wins", "10.1.2.3:5000", "203.0.113.5, 198.51.100.9, 10.9.9.9", "198.51.100.9"},
		{"ipv6 proxy", "[::1]:5000", "2001:db8::1", "2001:db8::1"},
		{"garbage XFF", "10.1.2.3:5000", "nonsense", "10.1.2.3"},
		{"mapped v4", "[::ffff:192.0.2.7]:1", "", "192.0.2.7"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, _ := http.NewRequest("GET", "/ws", nil)
			r.RemoteAddr = tt.remote
			if tt.xff != "" {
				r.Header.Set("X-Forwarded-For", tt.xff)
			}
			if got := h.clientIP(r).String(); got != tt.want {
				t.Fatalf("got %s, want %s", got, tt.want)
			}
		})
	}
	a := ipKey(netip.MustParseAddr("2001:db8:1:2:aaaa::1"))
	b := ipKey(netip.MustParseAddr("2001:db8:1:2:bbbb::2"))
	c := ipKey(netip.MustParseAddr("2001:db8:1:3::1"))
	if a != b || a == c || a != "2001:db8:1:2::/64" {
		t.Fatalf("ipv6 keys %s %s %s", a, b, c)
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want string // substring of the error; "" = valid
	}{
		{"zero is defaults", Config{}, ""},
		{"token", Config{Mode: ModeToken}, ""},
		{"bad mode", Config{Mode: "closed"}, "Signal.Mode"},
		{"negative room", Config{RoomSize: -1}, "Signal.RoomSize"},
		{"negative timeout", Config{HelloTimeout: -time.Second}, "Signal.HelloTimeout"},
		{"idle below ping", Config{PingInterval: time.Minute}, "Signal.IdleTimeout"},
		{"bad origin", Config{AllowOrigins: []string{"example.com"}}, "Signal.AllowOrigins[0]"},
		{"origin with path", Config{AllowOrigins: []string{"https://a.example/app"}}, "Signal.AllowOrigins[0]"},
		{"bad proxy", Config{TrustedProxies: []string{"10.0.0.0/33"}}, "Signal.TrustedProxies[0]"},
		{"proxy address", Config{TrustedProxies: []string{"10.0.0.1", "fd00::/8"}}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			if tt.want == "" && err != nil || tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)) {
				t.Fatalf("Validate() = %v, want %q", err, tt.want)
			}
		})
	}
	iss := newEnv(t, Config{}).issuer
	if _, err := NewHub(Config{Mode: ModeToken}, iss, nil, testURLs); err == nil {
		t.Fatal("token mode without tokens accepted")
	}
	if _, err := NewHub(Config{}, nil, nil, testURLs); err == nil {
		t.Fatal("nil issuer accepted")
	}
}

// TestConfigLoadsWithGoZero checks the struct tags: every key may be left
// out, a left-out key loads as zero, and WithDefaults then gives exactly the
// protocol.md §5 defaults.
func TestConfigLoadsWithGoZero(t *testing.T) {
	var c struct{ Signal Config }
	if err := conf.LoadFromYamlBytes([]byte("Signal:\n  Disabled: false\n"), &c); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(c.Signal, Config{}) {
		t.Fatalf("an empty section loaded as %+v, want zeros", c.Signal)
	}
	if want := (Config{Mode: ModeOpen}).WithDefaults(); !reflect.DeepEqual(c.Signal.WithDefaults(), want) {
		t.Fatalf("loaded %+v\nwant   %+v", c.Signal, want)
	}
	yaml := "Signal:\n  Mode: token\n  AllowOrigins: [\"https://a.example\"]\n  TrustedProxies: [\"10.0.0.0/8\"]\n  ResumeWindow: 1m\n"
	if err := conf.LoadFromYamlBytes([]byte(yaml), &c); err != nil {
		t.Fatal(err)
	}
	if c.Signal.Mode != ModeToken || c.Signal.ResumeWindow != time.Minute || c.Signal.WithDefaults().RoomSize != 6 || c.Signal.Validate() != nil {
		t.Fatalf("loaded %+v", c.Signal)
	}
	if err := conf.LoadFromYamlBytes([]byte("Signal:\n  Mode: closed\n"), &c); err == nil {
		t.Fatal("Mode: closed accepted")
	}
}
