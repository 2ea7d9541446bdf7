package signal

import (
	"strings"
	"testing"
	"time"

	"github.com/rtcd/rtcd/auth"

	"github.com/rtcd/rtcd/signal/proto"
)

// turnLabel returns the label of a minted TURN username's user part and
// fails t unless the rest is the 128-bit random part of auth.RandomUser.
func turnLabel(t testing.TB, iss *auth.Issuer, username string) string {
	t.Helper()
	u, err := iss.User(username)
	if err != nil {
		t.Fatalf("username %q: %v", username, err)
	}
	i := strings.LastIndexByte(u, '.')
	rnd := u[i+1:]
	if len(rnd) != 32 || strings.Trim(rnd, "0123456789abcdef") != "" {
		t.Fatalf("user part %q of %q has no 128-bit random part", u, username)
	}
	if i < 0 {
		return ""
	}
	return u[:i]
}

// TestTURNUserNotChosenByCaller: the user part the relay counts quotas
// against is server-chosen, so a caller who names a victim's peer id (which
// the whole room sees) gets credentials of its own, not the victim's.
func TestTURNUserNotChosenByCaller(t *testing.T) {
	e := newEnv(t, Config{})
	victim := e.dial(nil)
	h := victim.hello("victim")
	vUser, err := e.issuer.User(h.list("iceServers")[1].str("username"))
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{vUser: true}
	for i := 0; i < 5; i++ {
		status, m, _ := e.get(PathTURN+"?service=turn&username="+h.str("peerId"), nil)
		if status != 200 {
			t.Fatalf("status %d %v", status, m)
		}
		u := m.str("username")
		if turnLabel(t, e.issuer, u) != h.str("peerId") {
			t.Fatalf("username %q does not carry the requested label", u)
		}
		user, _ := e.issuer.User(u)
		if seen[user] {
			t.Fatalf("user part %q minted twice (victim's is %q)", user, vUser)
		}
		seen[user] = true
	}
	// The ice-servers API and a refresh on the victim's own socket: the
	// victim keeps its user part, others never get it.
	status, m, _ := e.get(PathICEServers, nil)
	if status != 200 {
		t.Fatalf("ice-servers: %d %v", status, m)
	}
	if u, _ := e.issuer.User(m.list("iceServers")[1].str("username")); seen[u] {
		t.Fatalf("ice-servers minted a known user part %q", u)
	}
	victim.send(msg{"v": 1, "type": "ice", "id": "i"})
	if u, _ := e.issuer.User(victim.expect(proto.TypeICE).list("iceServers")[1].str("username")); u != vUser {
		t.Fatalf("refresh changed the session's user part: %q, was %q", u, vUser)
	}
}

// TestTURNUserTokenMode: in token mode the user part is keyed on the
// token's sub: every session and API call of one sub shares it (relay
// quotas count per user), another sub gets another, and the API ignores a
// requested username.
func TestTURNUserTokenMode(t *testing.T) {
	e := newEnv(t, Config{Mode: ModeToken})
	tok := e.token("r", "a:lice", time.Hour)
	userOf := func(username string) string {
		t.Helper()
		if turnLabel(t, e.issuer, username) != "a_lice" && turnLabel(t, e.issuer, username) != "mallory" {
			t.Fatalf("username %q", username)
		}
		u, _ := e.issuer.User(username)
		return u
	}
	var users []string
	for range 2 {
		c := e.dial(nil)
		c.send(msg{"v": 1, "type": "hello", "id": "h", "token": tok})
		users = append(users, userOf(c.expect(proto.TypeHello).list("iceServers")[1].str("username")))
	}
	status, m, _ := e.get(PathTURN+"?service=turn&username=victim", map[string]string{"Authorization": "Bearer " + tok})
	if status != 200 {
		t.Fatalf("API: %d %v", status, m)
	}
	users = append(users, userOf(m.str("username")))
	if users[0] != users[1] || users[0] != users[2] {
		t.Fatalf("one sub, several user parts: %v", users)
	}
	c := e.dial(nil)
	c.send(msg{"v": 1, "type": "hello", "id": "h", "token": e.token("r", "mallory", time.Hour)})
	if other := userOf(c.expect(proto.TypeHello).list("iceServers")[1].str("username")); other == users[0] {
		t.Fatalf("two subs share the user part %q", other)
	}
}
