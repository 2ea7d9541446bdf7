package signal

import (
	"testing"
	"time"

	"github.com/rtcd/rtcd/auth"
	"github.com/rtcd/rtcd/signal/proto"
)

// Host controls (protocol.md §3.11): every rule the hub enforces, with the
// refusal of each.

// hostDo sends a host action with id "h1"; the caller reads the echo or the
// error.
func (c *client) hostDo(action, target string) {
	c.t.Helper()
	m := msg{"v": 1, "type": "host", "id": "h1", "action": action}
	if target != "" {
		m["target"] = target
	}
	c.send(m)
}

// expectEcho reads the echo of a host action done.
func (c *client) expectEcho(action string) {
	c.t.Helper()
	m := c.expect(proto.TypeHost)
	if m.str("action") != action || m.str("id") != "h1" {
		c.t.Fatalf("echo %v, want action %s id h1", m, action)
	}
}

// hostAndGuest starts a hub with Ann, host of room r, and Bob in it.
func hostAndGuest(t *testing.T) (*env, *peer, *peer) {
	t.Helper()
	e := newEnv(t, Config{})
	a, b := e.peer("Ann"), e.peer("Bob")
	a.join("r")
	b.join("r")
	a.expect(proto.TypePeerJoined)
	return e, a, b
}

// threeIn joins a (the host), b and c to room, in that order, and reads
// the peer-joined each sees.
func threeIn(room string, a, b, c *peer) {
	a.t.Helper()
	for _, p := range []*peer{a, b, c} {
		p.join(room)
	}
	a.expect(proto.TypePeerJoined)
	a.expect(proto.TypePeerJoined)
	b.expect(proto.TypePeerJoined)
}

// knock joins locked room and waits in its lobby, which host sees.
func (p *peer) knock(room string, host *peer) {
	p.t.Helper()
	p.send(msg{"v": 1, "type": "join", "id": "j", "room": room})
	p.expect(proto.TypeWaiting)
	host.expect(proto.TypeLobby)
}

// tokenPeer says hello with a join token for room (role "host" when host).
func (e *env) tokenPeer(name, user, room string, host bool) *peer {
	e.t.Helper()
	cl := auth.Claims{Room: room, User: user, Expires: time.Now().Add(time.Hour)}
	if host {
		cl.Role = proto.RoleHost
	}
	tok, err := e.tokens.Sign(cl)
	if err != nil {
		e.t.Fatal(err)
	}
	c := e.dial(nil)
	c.send(msg{"v": 1, "type": "hello", "id": "h", "name": name, "token": tok})
	h := c.expect(proto.TypeHello)
	return &peer{client: c, id: h.str("peerId"), resume: h.str("resume")}
}

func TestFirstJoinerIsHost(t *testing.T) {
	e := newEnv(t, Config{})
	a, b := e.peer("Ann"), e.peer("Bob")
	ja := a.join("r")
	if ja["host"] != true || ja.obj("settings")["locked"] != false || ja.obj("settings")["password"] != false {
		t.Fatalf("first joined %v, want host with open settings", ja)
	}
	jb := b.join("r")
	if jb["host"] != nil {
		t.Fatalf("second joined %v, want no host", jb)
	}
	if p := jb.list("peers"); len(p) != 1 || p[0]["host"] != true {
		t.Fatalf("peers %v, want Ann marked host", p)
	}
	if p := a.expect(proto.TypePeerJoined).obj("peer"); p["host"] != nil {
		t.Fatalf("peer-joined %v", p)
	}
}

// TestNonHostRefused: every host action from someone who is not a host gets
// not_host with its id, and changes nothing; outside a room, not_in_room.
func TestNonHostRefused(t *testing.T) {
	e := newEnv(t, Config{})
	a, b := e.peer("Ann"), e.peer("Bob")
	b.hostDo(proto.ActionLock, "")
	b.expectError(proto.CodeNotInRoom, "h1")
	a.join("r")
	b.join("r")
	a.expect(proto.TypePeerJoined)
	for _, act := range proto.HostActions {
		target := ""
		if proto.PeerAction(act) {
			target = a.id
		}
		b.hostDo(act, target)
		if m := b.expectError(proto.CodeNotHost, "h1"); m.str("message") == "" {
			t.Fatal("no message")
		}
	}
	a.sync() // Ann heard of none of it
	if st := e.hub.Stats(); st.Errors[proto.CodeNotHost] != uint64(len(proto.HostActions)) {
		t.Fatalf("not_host count %d", st.Errors[proto.CodeNotHost])
	}
	// A host acting on nobody, or on itself, gets unknown_peer.
	a.hostDo(proto.ActionRemove, "p_nobody")
	a.expectError(proto.CodeUnknownPeer, "h1")
	a.hostDo(proto.ActionMute, a.id)
	a.expectError(proto.CodeUnknownPeer, "h1")
	a.hostDo(proto.ActionAdmit, b.id) // Bob is in the room, not the lobby
	a.expectError(proto.CodeUnknownPeer, "h1")
	b.sync()
}

func TestLockLobbyAdmitDeny(t *testing.T) {
	e, a, b := hostAndGuest(t)
	a.hostDo(proto.ActionLock, "")
	if ru := a.expect(proto.TypeRoomUpdated); ru.obj("settings")["locked"] != true || ru["host"] != true {
		t.Fatalf("host's room-updated %v", ru)
	}
	a.expectEcho(proto.ActionLock)
	if ru := b.expect(proto.TypeRoomUpdated); ru.obj("settings")["locked"] != true || ru["host"] != nil {
		t.Fatalf("member's room-updated %v", ru)
	}

	// Cy knocks: waiting; the host sees the lobby; Bob sees nothing.
	c := e.peer("Cy")
	c.send(msg{"v": 1, "type": "join", "id": "j", "room": "r"})
	if w := c.expect(proto.TypeWaiting); w.str("id") != "j" || w.str("room") != "r" {
		t.Fatalf("waiting %v", w)
	}
	if l := a.expect(proto.TypeLobby).list("peers"); len(l) != 1 || l[0].str("id") != c.id || l[0].str("name") != "Cy" {
		t.Fatalf("lobby %v", l)
	}
	c.send(msg{"v": 1, "type": "update", "state": msg{"hand": true}})
	c.expectError(proto.CodeNotInRoom, "")
	c.send(msg{"v": 1, "type": "join", "id": "j2", "room": "other"})
	c.expectError(proto.CodeAlreadyJoined, "j2")
	b.sync()

	// Admit: Cy is in, with joined (no id); everyone learns.
	a.hostDo(proto.ActionAdmit, c.id)
	if l := a.expect(proto.TypeLobby).list("peers"); len(l) != 0 {
		t.Fatalf("lobby after admit %v", l)
	}
	a.expectEcho(proto.ActionAdmit)
	jc := c.expect(proto.TypeJoined)
	if jc["id"] != nil || len(jc.list("peers")) != 2 || jc.obj("settings")["locked"] != true {
		t.Fatalf("admitted joined %v", jc)
	}
	a.expect(proto.TypePeerJoined)
	b.expect(proto.TypePeerJoined)

	// Deny: Dee is turned away, and may knock again.
	d := e.peer("Dee")
	d.knock("r", a)
	a.hostDo(proto.ActionDeny, d.id)
	a.expect(proto.TypeLobby)
	a.expectEcho(proto.ActionDeny)
	d.expectError(proto.CodeLobbyDenied, "")

	// A waiter may leave the lobby, or drop: the host's list follows.
	d.knock("r", a)
	d.send(msg{"v": 1, "type": "leave", "id": "l"})
	d.expect(proto.TypeLeft)
	if l := a.expect(proto.TypeLobby).list("peers"); len(l) != 0 {
		t.Fatalf("lobby after leave %v", l)
	}
	f := e.peer("Fay")
	f.knock("r", a)
	f.ws.NetConn().Close()
	if l := a.expect(proto.TypeLobby).list("peers"); len(l) != 0 {
		t.Fatalf("lobby after drop %v", l)
	}

	// Unlock lets everyone waiting in.
	g := e.peer("Gus")
	g.knock("r", a)
	a.hostDo(proto.ActionUnlock, "")
	a.expect(proto.TypeRoomUpdated)
	if l := a.expect(proto.TypeLobby).list("peers"); len(l) != 0 {
		t.Fatalf("lobby after unlock %v", l)
	}
	a.expectEcho(proto.ActionUnlock)
	if j := g.expect(proto.TypeJoined); j.obj("settings")["locked"] != false {
		t.Fatalf("joined after unlock %v", j)
	}
	a.expect(proto.TypePeerJoined)
}

// TestLockedWithoutHost: a token host's room has no hand-over; once its
// host leaves a locked room, a join gets room_locked, and a token host still
// gets in.
func TestLockedWithoutHost(t *testing.T) {
	e := newEnv(t, Config{Mode: ModeToken})
	tom := e.tokenPeer("Tom", "tom", "r", true)
	ann := e.tokenPeer("Ann", "ann", "r", false)
	if j := ann.join("r"); j["host"] != true {
		t.Fatalf("first joiner %v, want host", j)
	}
	if j := tom.join("r"); j["host"] != true {
		t.Fatalf("token host %v", j)
	}
	ann.expect(proto.TypePeerJoined)
	// Ann leaves: the token host is the only host; Tom locks and leaves too.
	ann.send(msg{"v": 1, "type": "leave"})
	ann.expect(proto.TypeLeft)
	tom.expect(proto.TypePeerLeft)
	ann.join("r")
	tom.expect(proto.TypePeerJoined)
	tom.hostDo(proto.ActionLock, "")
	tom.expect(proto.TypeRoomUpdated)
	tom.expectEcho(proto.ActionLock)
	ann.expect(proto.TypeRoomUpdated)
	tom.send(msg{"v": 1, "type": "leave"})
	tom.expect(proto.TypeLeft)
	ann.expect(proto.TypePeerLeft)
	ann.sync() // no hand-over in a token host's room
	cy := e.tokenPeer("Cy", "cy", "r", false)
	cy.send(msg{"v": 1, "type": "join", "id": "j", "room": "r"})
	cy.expectError(proto.CodeRoomLocked, "j")
	tom.join("r") // a token host passes the lock
}

func TestPasswordWrongThenRightRateLimited(t *testing.T) {
	e := newEnv(t, Config{})
	a := e.peer("Ann")
	a.join("r")
	a.send(msg{"v": 1, "type": "host", "id": "h1", "action": "password", "password": "blue whale"})
	if ru := a.expect(proto.TypeRoomUpdated); ru.obj("settings")["password"] != true {
		t.Fatalf("room-updated %v", ru)
	}
	a.expectEcho(proto.ActionPassword)
	b := e.peer("Bob")
	b.send(msg{"v": 1, "type": "join", "id": "j", "room": "r"})
	b.expectError(proto.CodePasswordRequired, "j")
	b.send(msg{"v": 1, "type": "join", "id": "j", "room": "r", "password": "blue whalE"})
	b.expectError(proto.CodeWrongPassword, "j")
	b.send(msg{"v": 1, "type": "join", "id": "j", "room": "r", "password": "blue whale"})
	if j := b.expect(proto.TypeJoined); j.obj("settings")["password"] != true {
		t.Fatalf("joined %v", j)
	}
	a.expect(proto.TypePeerJoined)

	// Guessing: after pwFailMax wrong passwords from one address, even the
	// right one is refused unread for the window.
	c := e.peer("Cy")
	for i := 1; i < pwFailMax; i++ { // Bob's was the first
		c.send(msg{"v": 1, "type": "join", "id": "j", "room": "r", "password": "guess"})
		c.expectError(proto.CodeWrongPassword, "j")
	}
	c.send(msg{"v": 1, "type": "join", "id": "j", "room": "r", "password": "blue whale"})
	c.expectError(proto.CodeRateLimited, "j")
	e.hub.pwFails.mu.Lock()
	e.hub.pwFails.now = func() time.Time { return time.Now().Add(pwFailWindow + time.Second) }
	e.hub.pwFails.mu.Unlock()
	c.send(msg{"v": 1, "type": "join", "id": "j", "room": "r", "password": "blue whale"})
	c.expect(proto.TypeJoined)

	// Clearing it opens the room again.
	a.expect(proto.TypePeerJoined)
	a.send(msg{"v": 1, "type": "host", "id": "h1", "action": "password"})
	if ru := a.expect(proto.TypeRoomUpdated); ru.obj("settings")["password"] != false {
		t.Fatalf("room-updated %v", ru)
	}
	a.expectEcho(proto.ActionPassword)
	e.peer("Dee").join("r")
}

func TestRemove(t *testing.T) {
	e := newEnv(t, Config{})
	a, b, c := e.peer("Ann"), e.peerAs("Bob", "browser-b"), e.peer("Cy")
	threeIn("r", a, b, c)
	a.hostDo(proto.ActionRemove, b.id)
	b.expectError(proto.CodeRemoved, "")
	for _, p := range []*peer{a, c} {
		if pl := p.expect(proto.TypePeerLeft).obj("peer"); pl.str("id") != b.id {
			t.Fatalf("peer-left %v", pl)
		}
	}
	a.expectEcho(proto.ActionRemove)
	// Bob cannot come back: not this session, not a new one of his browser.
	b.send(msg{"v": 1, "type": "update", "state": msg{"audio": true}})
	b.expectError(proto.CodeNotInRoom, "")
	b.send(msg{"v": 1, "type": "join", "id": "j", "room": "r"})
	b.expectError(proto.CodeRemoved, "j")
	b2 := e.peerAs("Bob", "browser-b")
	b2.send(msg{"v": 1, "type": "join", "id": "j", "room": "r"})
	b2.expectError(proto.CodeRemoved, "j")
	b.join("elsewhere") // other rooms are open to him
}

func TestEndMeeting(t *testing.T) {
	e := newEnv(t, Config{Mode: ModeToken})
	a := e.tokenPeer("Ann", "ann", "r", false)
	b := e.tokenPeer("Bob", "bob", "r", false)
	a.join("r")
	b.join("r")
	a.expect(proto.TypePeerJoined)
	a.hostDo(proto.ActionEnd, "")
	a.expectEcho(proto.ActionEnd)
	b.expectError(proto.CodeRoomEnded, "")
	a.sync() // the host that ended it gets no room_ended
	if st := e.hub.Stats(); st.Rooms != 0 || st.Peers != 0 {
		t.Fatalf("stats after end %+v", st)
	}
	for _, p := range []*peer{a, b} {
		p.send(msg{"v": 1, "type": "join", "id": "j", "room": "r"})
		p.expectError(proto.CodeRoomEnded, "j")
	}
	// A token host may start it again at once; the hold ends for everyone.
	e.tokenPeer("Tom", "tom", "r", true).join("r")
	e.hub.router.mu.Lock()
	e.hub.router.ended["r"] = time.Now().Add(-time.Second)
	e.hub.router.mu.Unlock()
	b.join("r")
}

func TestMuteAndAskUnmute(t *testing.T) {
	_, a, b := hostAndGuest(t)
	b.send(msg{"v": 1, "type": "update", "state": msg{"audio": true}})
	a.expect(proto.TypePeerUpdated)
	a.hostDo(proto.ActionMute, b.id)
	if p := a.expect(proto.TypePeerUpdated).obj("peer"); p.str("id") != b.id || p.obj("state")["audio"] != false {
		t.Fatalf("peer-updated %v, want Bob muted", p)
	}
	a.expectEcho(proto.ActionMute)
	if r := b.expect(proto.TypeHostRequest); r.str("action") != proto.ActionMute || r.str("from") != a.id {
		t.Fatalf("host-request %v", r)
	}
	// Nobody can unmute someone else: only a request arrives.
	a.hostDo(proto.ActionAskUnmute, b.id)
	a.expectEcho(proto.ActionAskUnmute)
	if r := b.expect(proto.TypeHostRequest); r.str("action") != proto.ActionAskUnmute {
		t.Fatalf("host-request %v", r)
	}
	b.sync()
	a.sync() // Bob's state did not change
	// Bob unmutes himself and raises his hand.
	b.send(msg{"v": 1, "type": "update", "state": msg{"audio": true, "hand": true}})
	if p := a.expect(proto.TypePeerUpdated).obj("peer"); p.obj("state")["audio"] != true || p.obj("state")["hand"] != true {
		t.Fatalf("peer-updated %v", p)
	}
}

// TestHandOver: when the host leaves, the member that came next is host and
// gets the lobby; the others learn with peer-updated.
func TestHandOver(t *testing.T) {
	e := newEnv(t, Config{})
	a, b, c := e.peer("Ann"), e.peer("Bob"), e.peer("Cy")
	threeIn("r", a, b, c)
	a.hostDo(proto.ActionLock, "")
	a.expect(proto.TypeRoomUpdated)
	a.expectEcho(proto.ActionLock)
	b.expect(proto.TypeRoomUpdated)
	c.expect(proto.TypeRoomUpdated)
	d := e.peer("Dee")
	d.knock("r", a)
	a.send(msg{"v": 1, "type": "leave"})
	a.expect(proto.TypeLeft)
	b.expect(proto.TypePeerLeft)
	if ru := b.expect(proto.TypeRoomUpdated); ru["host"] != true || ru.obj("settings")["locked"] != true {
		t.Fatalf("new host's room-updated %v", ru)
	}
	if l := b.expect(proto.TypeLobby).list("peers"); len(l) != 1 || l[0].str("id") != d.id {
		t.Fatalf("new host's lobby %v", l)
	}
	c.expect(proto.TypePeerLeft)
	if p := c.expect(proto.TypePeerUpdated).obj("peer"); p.str("id") != b.id || p["host"] != true {
		t.Fatalf("peer-updated %v", p)
	}
	b.hostDo(proto.ActionAdmit, d.id)
	b.expect(proto.TypeLobby)
	b.expectEcho(proto.ActionAdmit)
	if j := d.expect(proto.TypeJoined); len(j.list("peers")) != 2 {
		t.Fatalf("joined %v", j)
	}
	b.expect(proto.TypePeerJoined)
	// Everyone leaves while someone waits: the waiter is told.
	b.hostDo(proto.ActionLock, "")
	b.expect(proto.TypeRoomUpdated)
	b.expectEcho(proto.ActionLock)
	f := e.peer("Fay")
	f.send(msg{"v": 1, "type": "join", "id": "j", "room": "r"})
	f.expect(proto.TypeWaiting)
	for _, p := range []*peer{b, c, d} {
		p.send(msg{"v": 1, "type": "leave"})
	}
	f.expectError(proto.CodeRoomLocked, "")
}
