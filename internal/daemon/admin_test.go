package daemon_test

import (
	"net/http"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"gopkg.in/yaml.v2"

	"github.com/rtcd/rtcd/internal/config"
	"github.com/rtcd/rtcd/internal/testharness"
	"github.com/rtcd/rtcd/internal/testharness/daemontest"
	"github.com/rtcd/rtcd/signal"
	"github.com/rtcd/rtcd/signal/proto"
)

const adminToken = "admin-token-0123456789"

// openAPIRoutes reads docs/admin-api.yaml: every "METHOD /path" it
// documents, with its path parameters written as go-zero's ":name".
func openAPIRoutes(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile("../../docs/admin-api.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		OpenAPI string                    `yaml:"openapi"`
		Paths   map[string]map[string]any `yaml:"paths"`
	}
	if err := yaml.Unmarshal(b, &doc); err != nil {
		t.Fatalf("docs/admin-api.yaml: %v", err)
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.") {
		t.Fatalf("openapi %q, want 3.x", doc.OpenAPI)
	}
	param := regexp.MustCompile(`\{(\w+)\}`)
	var out []string
	for path, ops := range doc.Paths {
		for method := range ops {
			if method == "parameters" {
				continue
			}
			out = append(out, strings.ToUpper(method)+" "+param.ReplaceAllString(path, ":$1"))
		}
	}
	slices.Sort(out)
	return out
}

// TestAdminAPIMatchesOpenAPI: the routes the daemon serves are exactly
// those docs/admin-api.yaml describes, and each answers there, through
// go-zero's router, with a status the description lists.
func TestAdminAPIMatchesOpenAPI(t *testing.T) {
	var served []string
	for _, r := range signal.AdminRoutes {
		served = append(served, r.Method+" "+r.Path)
	}
	slices.Sort(served)
	documented := openAPIRoutes(t)
	if !slices.Equal(served, documented) {
		t.Fatalf("served %v\ndocumented %v", served, documented)
	}
	c := config.Default()
	c.Admin.Token = adminToken
	d := daemontest.Start(t, c)
	fill := strings.NewReplacer(":room", "no-such-room", ":peer", "p_nobody")
	for _, r := range documented {
		method, path, _ := strings.Cut(r, " ")
		code, body := testharness.BearerJSON(t, method, d.HTTPURL()+fill.Replace(path), adminToken)
		want := http.StatusNotFound
		if path == "/api/v1/admin/rooms" {
			want = http.StatusOK
		}
		if code != want || want == http.StatusNotFound && body["code"] != "not_found" {
			t.Errorf("%s: %d %v, want %d from the admin API", r, code, body, want)
		}
		if code, _ := testharness.BearerJSON(t, method, d.HTTPURL()+fill.Replace(path), ""); code != http.StatusUnauthorized {
			t.Errorf("%s without a token: %d", r, code)
		}
	}
}

// TestAdminAPIOff: with no Admin.Token the admin paths do not exist.
func TestAdminAPIOff(t *testing.T) {
	d := daemontest.Start(t, config.Default())
	for _, tok := range []string{"", adminToken} {
		if code, _ := testharness.BearerJSON(t, http.MethodGet, d.HTTPURL()+"/api/v1/admin/rooms", tok); code != http.StatusNotFound {
			t.Fatalf("admin API off: %d, want 404", code)
		}
	}
}

// wsPeer is a raw signaling client of the daemon.
type wsPeer struct {
	t  *testing.T
	ws *websocket.Conn
	id string
}

func dialPeer(t *testing.T, d interface{ WSURL() string }, name string) *wsPeer {
	t.Helper()
	ws, _, err := websocket.DefaultDialer.Dial(d.WSURL(), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ws.Close() })
	p := &wsPeer{t: t, ws: ws}
	p.send(map[string]any{"v": 1, "type": proto.TypeHello, "name": name})
	p.id = p.next(proto.TypeHello)["peerId"].(string)
	return p
}

func (p *wsPeer) send(m map[string]any) {
	p.t.Helper()
	if err := p.ws.WriteJSON(m); err != nil {
		p.t.Fatal(err)
	}
}

// next reads up to the next message of type typ.
func (p *wsPeer) next(typ string) map[string]any {
	p.t.Helper()
	for {
		_ = p.ws.SetReadDeadline(time.Now().Add(5 * time.Second))
		var m map[string]any
		if err := p.ws.ReadJSON(&m); err != nil {
			p.t.Fatalf("waiting for %s: %v", typ, err)
		}
		if m["type"] == typ {
			return m
		}
	}
}

// TestAdminAPIModerates: against the real daemon, the admin API lists a
// room's participants and mutes, removes and closes with the effects a
// host's controls have.
func TestAdminAPIModerates(t *testing.T) {
	c := config.Default()
	c.Admin.Token = adminToken
	d := daemontest.Start(t, c)
	ann, bob := dialPeer(t, d, "Ann"), dialPeer(t, d, "Bob")
	for _, p := range []*wsPeer{ann, bob} {
		p.send(map[string]any{"v": 1, "type": proto.TypeJoin, "room": "ops"})
		p.next(proto.TypeJoined)
	}
	base := d.HTTPURL() + "/api/v1/admin/rooms"
	code, body := testharness.BearerJSON(t, http.MethodGet, base+"/ops", adminToken)
	if code != http.StatusOK || len(body["participants"].([]any)) != 2 {
		t.Fatalf("room: %d %v", code, body)
	}
	if code, _ := testharness.BearerJSON(t, http.MethodPost, base+"/ops/participants/"+bob.id+"/mute", adminToken); code != http.StatusNoContent {
		t.Fatalf("mute: %d", code)
	}
	if hr := bob.next(proto.TypeHostRequest); hr["action"] != proto.ActionMute {
		t.Fatalf("host-request %v", hr)
	}
	if code, _ := testharness.BearerJSON(t, http.MethodDelete, base+"/ops/participants/"+bob.id, adminToken); code != http.StatusNoContent {
		t.Fatalf("remove: %d", code)
	}
	if e := bob.next(proto.TypeError); e["code"] != proto.CodeRemoved {
		t.Fatalf("bob: %v", e)
	}
	ann.next(proto.TypePeerLeft)
	if code, _ := testharness.BearerJSON(t, http.MethodDelete, base+"/ops", adminToken); code != http.StatusNoContent {
		t.Fatalf("close: %d", code)
	}
	if e := ann.next(proto.TypeError); e["code"] != proto.CodeRoomEnded {
		t.Fatalf("ann: %v", e)
	}
	if code, body := testharness.BearerJSON(t, http.MethodGet, base, adminToken); code != http.StatusOK || len(body["rooms"].([]any)) != 0 {
		t.Fatalf("after close: %d %v", code, body)
	}
}
