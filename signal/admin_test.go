package signal

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/rtcd/rtcd/internal/testharness"
	"github.com/rtcd/rtcd/signal/proto"
)

const testAdminToken = "admin-token-for-tests-0123"

// adminEnv is an env whose server also mounts the admin API.
func adminEnv(t *testing.T, c AdminConfig) (*env, *Admin, string) {
	t.Helper()
	e := newEnv(t, Config{})
	a, err := NewAdmin(e.hub, c)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(a)
	t.Cleanup(srv.Close)
	return e, a, srv.URL
}

func TestAdminConfigValidate(t *testing.T) {
	for _, c := range []struct {
		cfg  AdminConfig
		want string
	}{
		{AdminConfig{Token: "short"}, "Admin.Token"},
		{AdminConfig{Token: testAdminToken, AllowFrom: []string{"10.0.0.0/8", "nope"}}, "Admin.AllowFrom[1]"},
	} {
		if err := c.cfg.Validate(); err == nil || !strings.HasPrefix(err.Error(), c.want) {
			t.Errorf("%+v: %v, want an error naming %s", c.cfg, err, c.want)
		}
	}
	if err := (AdminConfig{}).Validate(); err != nil {
		t.Errorf("empty config (off): %v", err)
	}
	if _, err := NewAdmin(nil, AdminConfig{}); err == nil {
		t.Error("NewAdmin without a token")
	}
}

// TestAdminAuth: no or a wrong token is 401, and a guesser is throttled
// (429) while the right token still works; an address outside loopback and
// Admin.AllowFrom is refused whatever its token.
func TestAdminAuth(t *testing.T) {
	_, a, url := adminEnv(t, AdminConfig{Token: testAdminToken, AllowFrom: []string{"192.0.2.0/24"}})
	rooms := url + "/api/v1/admin/rooms"
	if code, body := testharness.BearerJSON(t, http.MethodGet, rooms, ""); code != http.StatusUnauthorized || body["code"] != proto.CodeUnauthorized {
		t.Fatalf("no token: %d %v", code, body)
	}
	for i := 0; i < authFailMax; i++ {
		if code, _ := testharness.BearerJSON(t, http.MethodGet, rooms, testAdminToken+"x"); code != http.StatusUnauthorized {
			t.Fatalf("wrong token %d: %d", i, code)
		}
	}
	if code, body := testharness.BearerJSON(t, http.MethodGet, rooms, "guess"); code != http.StatusTooManyRequests || body["code"] != proto.CodeThrottled {
		t.Fatalf("throttled: %d %v", code, body)
	}
	if code, _ := testharness.BearerJSON(t, http.MethodGet, rooms, testAdminToken); code != http.StatusOK {
		t.Fatalf("right token from a throttled address: %d", code)
	}
	for addr, want := range map[string]int{"203.0.113.9:4000": http.StatusForbidden, "192.0.2.7:4000": http.StatusOK} {
		req := httptest.NewRequest(http.MethodGet, "/api/v1/admin/rooms", nil)
		req.RemoteAddr, req.Host = addr, "127.0.0.1"
		req.Header.Set("Authorization", "Bearer "+testAdminToken)
		rec := httptest.NewRecorder()
		a.ServeHTTP(rec, req)
		if rec.Code != want {
			t.Errorf("from %s: %d, want %d", addr, rec.Code, want)
		}
	}
}

// TestAdminModerates: the admin API lists rooms and participants, mutes,
// removes and closes with the effects of a host's controls, and answers 404
// for what is not there.
func TestAdminModerates(t *testing.T) {
	e, _, url := adminEnv(t, AdminConfig{Token: testAdminToken})
	base := url + "/api/v1/admin/rooms"
	call := func(method, path string) (int, map[string]any) {
		t.Helper()
		return testharness.BearerJSON(t, method, base+path, testAdminToken)
	}
	if code, body := call(http.MethodGet, ""); code != http.StatusOK || len(body["rooms"].([]any)) != 0 {
		t.Fatalf("empty list: %d %v", code, body)
	}
	a, b, c := e.peer("Ann"), e.peer("Bob"), e.peer("Cy")
	threeIn("café", a, b, c)
	code, body := call(http.MethodGet, "")
	rooms := body["rooms"].([]any)
	if code != http.StatusOK || len(rooms) != 1 {
		t.Fatalf("list: %d %v", code, body)
	}
	room := msg(rooms[0].(map[string]any))
	ps := room.list("participants")
	if room.str("name") != "café" || len(ps) != 3 || room.obj("settings")["locked"] != false {
		t.Fatalf("room %v", room)
	}
	hosts := 0
	for _, p := range ps {
		if p["host"] == true {
			hosts++
			if p.str("id") != a.id {
				t.Fatalf("host %v, want Ann", p)
			}
		}
	}
	if hosts != 1 {
		t.Fatalf("participants %v", ps)
	}
	if code, one := call(http.MethodGet, "/caf%C3%A9"); code != http.StatusOK || one["name"] != "café" {
		t.Fatalf("one room: %d %v", code, one)
	}

	b.send(msg{"v": 1, "type": "update", "state": msg{"audio": true}})
	a.expect(proto.TypePeerUpdated)
	c.expect(proto.TypePeerUpdated)
	if code, _ := call(http.MethodPost, "/café/participants/"+b.id+"/mute"); code != http.StatusNoContent {
		t.Fatalf("mute: %d", code)
	}
	if hr := b.expect(proto.TypeHostRequest); hr.str("action") != proto.ActionMute {
		t.Fatalf("host-request %v", hr)
	}
	if p := a.expect(proto.TypePeerUpdated).obj("peer"); p.obj("state")["audio"] != false {
		t.Fatalf("peer-updated %v", p)
	}
	c.expect(proto.TypePeerUpdated)

	if code, _ := call(http.MethodDelete, "/café/participants/"+b.id); code != http.StatusNoContent {
		t.Fatalf("remove: %d", code)
	}
	b.expectError(proto.CodeRemoved, "")
	a.expect(proto.TypePeerLeft)
	c.expect(proto.TypePeerLeft)
	b.send(msg{"v": 1, "type": "join", "id": "j", "room": "café"})
	b.expectError(proto.CodeRemoved, "j")
	for _, p := range []string{"/café/participants/" + b.id, "/nowhere/participants/" + a.id} {
		if code, body := call(http.MethodDelete, p); code != http.StatusNotFound || body["code"] != "not_found" {
			t.Fatalf("remove %s: %d %v, want 404", p, code, body)
		}
	}
	if code, _ := call(http.MethodPost, "/bad%20room/participants/p_x/mute"); code != http.StatusBadRequest {
		t.Fatalf("bad room name: %d", code)
	}

	if code, _ := call(http.MethodDelete, "/café"); code != http.StatusNoContent {
		t.Fatalf("close: %d", code)
	}
	a.expectError(proto.CodeRoomEnded, "")
	c.expectError(proto.CodeRoomEnded, "")
	a.send(msg{"v": 1, "type": "join", "id": "j", "room": "café"})
	a.expectError(proto.CodeRoomEnded, "j")
	if code, _ := call(http.MethodDelete, "/café"); code != http.StatusNotFound {
		t.Fatalf("close again: %d", code)
	}
	if code, _ := call(http.MethodDelete, "/never-was"); code != http.StatusNotFound {
		t.Fatalf("close of no room: %d", code)
	}
	c.join("never-was") // a 404 leaves the name open
}
