package clustertest

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/rtcd/rtcd/internal/redistest"
	"github.com/rtcd/rtcd/internal/webhook"
	"github.com/rtcd/rtcd/signal"
	"github.com/rtcd/rtcd/signal/proto"
)

// hostAct sends a host action.
func (c *wsc) hostAct(action, target, password string) {
	c.t.Helper()
	m := msg{"v": 1, "type": proto.TypeHost, "id": "h", "action": action}
	if target != "" {
		m["target"] = target
	}
	if password != "" {
		m["password"] = password
	}
	c.send(m)
}

// waitErr returns the next error's code.
func (c *wsc) waitErr() string {
	c.t.Helper()
	return c.wait(proto.TypeError).str("code")
}

// waitFor returns the next message of type typ for which match holds.
func (c *wsc) waitFor(typ string, match func(msg) bool) msg {
	c.t.Helper()
	return c.next(typ, func(m msg) bool { return m.str("type") == typ && match(m) })
}

func settings(m msg) map[string]any { s, _ := m["settings"].(map[string]any); return s }

// TestHostControlsAcrossNodes: a room's host, settings, lobby and host
// actions hold across nodes: Ann on n1 hosts, people on n2 are locked out,
// wait, are admitted, muted, removed and ended by her, a node with no member
// of the room judges joins by the settings stored in Redis, and the host
// role passes to the oldest member on another node.
func TestHostControlsAcrossNodes(t *testing.T) {
	r := redistest.Run(t)
	n1 := startNode(t, r.Addr(), "n1")
	n2 := startNode(t, r.Addr(), "n2")
	a := dial(t, n1.wsURL(), "a")
	b := dial(t, n2.wsURL(), "b")
	if j := a.join("room"); j["host"] != true {
		t.Fatalf("first joiner %v, want host", j)
	}
	jb := b.join("room")
	if jb["host"] == true {
		t.Fatalf("second joiner %v is host", jb)
	}
	if p := jb["peers"].([]any)[0].(map[string]any); p["host"] != true {
		t.Fatalf("b sees a as %v, want host", p)
	}
	a.wait(proto.TypePeerJoined)

	// Bob is no host; Ann locks for everyone.
	b.hostAct(proto.ActionLock, "", "")
	if code := b.waitErr(); code != proto.CodeNotHost {
		t.Fatalf("b's lock: %s", code)
	}
	a.hostAct(proto.ActionLock, "", "")
	a.wait(proto.TypeHost)
	if s := settings(b.wait(proto.TypeRoomUpdated)); s["locked"] != true {
		t.Fatalf("b's settings %v", s)
	}

	// Cy knocks on n2; Ann on n1 sees her and lets her in.
	c := dial(t, n2.wsURL(), "c")
	c.send(msg{"v": 1, "type": proto.TypeJoin, "id": "j", "room": "room"})
	c.wait(proto.TypeWaiting)
	a.waitFor(proto.TypeLobby, func(m msg) bool { return len(m.peerIDs()) == 1 && m.peerIDs()[0] == c.peerID })
	a.hostAct(proto.ActionAdmit, c.peerID, "")
	a.wait(proto.TypeHost)
	if j := c.wait(proto.TypeJoined); len(j.peerIDs()) != 2 {
		t.Fatalf("c joined %v", j)
	}
	a.waitFor(proto.TypeLobby, func(m msg) bool { return len(m.peerIDs()) == 0 })
	a.waitFor(proto.TypePeerJoined, func(m msg) bool { return m.peer() == c.peerID })

	// Unlock, and a password, which n2 applies too.
	a.hostAct(proto.ActionUnlock, "", "")
	a.wait(proto.TypeHost)
	a.hostAct(proto.ActionPassword, "", "open sesame")
	a.wait(proto.TypeHost)
	b.waitFor(proto.TypeRoomUpdated, func(m msg) bool { return settings(m)["password"] == true })
	d := dial(t, n2.wsURL(), "d")
	d.send(msg{"v": 1, "type": proto.TypeJoin, "id": "j", "room": "room", "password": "guess"})
	if code := d.waitErr(); code != proto.CodeWrongPassword {
		t.Fatalf("d's wrong password: %s", code)
	}
	d.send(msg{"v": 1, "type": proto.TypeJoin, "id": "j", "room": "room", "password": "open sesame"})
	d.wait(proto.TypeJoined)
	a.waitFor(proto.TypePeerJoined, func(m msg) bool { return m.peer() == d.peerID })

	// Mute and remove a peer of the other node.
	b.send(msg{"v": 1, "type": proto.TypeUpdate, "state": msg{"audio": true}})
	a.waitFor(proto.TypePeerUpdated, func(m msg) bool { return audioOf(m) == true })
	a.hostAct(proto.ActionMute, b.peerID, "")
	a.wait(proto.TypeHost)
	if hr := b.wait(proto.TypeHostRequest); hr.str("action") != proto.ActionMute || hr.str("from") != a.peerID {
		t.Fatalf("b's host-request %v", hr)
	}
	a.waitFor(proto.TypePeerUpdated, func(m msg) bool { return m.peer() == b.peerID && audioOf(m) == false })
	a.hostAct(proto.ActionRemove, b.peerID, "")
	a.wait(proto.TypeHost)
	if code := b.waitErr(); code != proto.CodeRemoved {
		t.Fatalf("b: %s, want removed", code)
	}
	a.waitFor(proto.TypePeerLeft, func(m msg) bool { return m.peer() == b.peerID })
	b.send(msg{"v": 1, "type": proto.TypeJoin, "id": "j", "room": "room", "password": "open sesame"})
	if code := b.waitErr(); code != proto.CodeRemoved {
		t.Fatalf("b's rejoin: %s, want removed", code)
	}

	// Ann leaves: Cy on n2, the oldest member left, is host.
	a.send(msg{"v": 1, "type": proto.TypeLeave})
	a.wait(proto.TypeLeft)
	c.waitFor(proto.TypeRoomUpdated, func(m msg) bool { return m["host"] == true })
	d.waitFor(proto.TypePeerUpdated, func(m msg) bool { return m.peer() == c.peerID })

	// n1 has nobody in the room now: it judges a join by what Redis has.
	f := dial(t, n1.wsURL(), "f")
	f.send(msg{"v": 1, "type": proto.TypeJoin, "id": "j", "room": "room"})
	if code := f.waitErr(); code != proto.CodePasswordRequired {
		t.Fatalf("f: %s, want password_required", code)
	}
	f.send(msg{"v": 1, "type": proto.TypeJoin, "id": "j", "room": "room", "password": "open sesame"})
	if j := f.wait(proto.TypeJoined); settings(j)["password"] != true {
		t.Fatalf("f joined %v", j)
	}
	c.waitFor(proto.TypePeerJoined, func(m msg) bool { return m.peer() == f.peerID })

	// Cy ends the meeting: n1 ends its part too.
	c.hostAct(proto.ActionEnd, "", "")
	c.wait(proto.TypeHost)
	for _, p := range []*wsc{d, f} {
		if code := p.waitErr(); code != proto.CodeRoomEnded {
			t.Fatalf("%s: %s, want room_ended", p.name, code)
		}
	}
	if _, code := f.joinResult("room"); code != proto.CodeRoomEnded {
		t.Fatalf("f's rejoin: %s", code)
	}
}

func audioOf(m msg) any {
	p, _ := m["peer"].(map[string]any)
	st, _ := p["state"].(map[string]any)
	return st["audio"]
}

// TestAdminAcrossNodes: the admin API of a node with nobody in a room
// answers for the whole cluster: it lists the room of another node, and
// mutes, removes and ends there.
func TestAdminAcrossNodes(t *testing.T) {
	r := redistest.Run(t)
	n1 := startNode(t, r.Addr(), "n1")
	n2 := startNode(t, r.Addr(), "n2")
	b := dial(t, n2.wsURL(), "b")
	c := dial(t, n2.wsURL(), "c")
	b.join("room")
	c.join("room")
	b.wait(proto.TypePeerJoined)
	rooms, err := n1.hub.AdminRooms()
	if err != nil || len(rooms) != 1 || rooms[0].Name != "room" || len(rooms[0].Participants) != 2 {
		t.Fatalf("n1 lists %+v, %v", rooms, err)
	}
	for _, p := range rooms[0].Participants {
		if p.Node != "n2" || p.Host != (p.ID == b.peerID) {
			t.Fatalf("participant %+v", p)
		}
	}
	if e := n1.hub.AdminAct("room", proto.ActionMute, c.peerID); e != nil {
		t.Fatalf("mute: %v", e)
	}
	c.wait(proto.TypeHostRequest)
	if e := n1.hub.AdminAct("room", proto.ActionRemove, c.peerID); e != nil {
		t.Fatalf("remove: %v", e)
	}
	if code := c.waitErr(); code != proto.CodeRemoved {
		t.Fatalf("c: %s", code)
	}
	b.waitFor(proto.TypePeerLeft, func(m msg) bool { return m.peer() == c.peerID })
	if e := n1.hub.AdminAct("room", proto.ActionRemove, c.peerID); e == nil {
		t.Fatal("removing a peer no longer there succeeded")
	}
	if e := n1.hub.AdminAct("room", proto.ActionEnd, ""); e != nil {
		t.Fatalf("end: %v", e)
	}
	if code := b.waitErr(); code != proto.CodeRoomEnded {
		t.Fatalf("b: %s", code)
	}
	if e := n1.hub.AdminAct("nowhere", proto.ActionEnd, ""); e == nil {
		t.Fatal("ending a room nobody is in succeeded")
	}
}

// TestRoomEventsOnce: of a room shared by two nodes, the node whose join
// found it empty reports room.started, the node whose last participant
// leaves it empty reports room.ended, and each node its own participants.
func TestRoomEventsOnce(t *testing.T) {
	r := redistest.Run(t)
	logs := [2]chan signal.Event{make(chan signal.Event, 16), make(chan signal.Event, 16)}
	n1 := startNode(t, r.Addr(), "n1", func(c *nodeConfig) { c.Events = func(e signal.Event) { logs[0] <- e } })
	n2 := startNode(t, r.Addr(), "n2", func(c *nodeConfig) { c.Events = func(e signal.Event) { logs[1] <- e } })
	a := dial(t, n1.wsURL(), "a")
	b := dial(t, n2.wsURL(), "b")
	a.join("room")
	b.join("room")
	a.wait(proto.TypePeerJoined)
	b.send(msg{"v": 1, "type": proto.TypeLeave})
	b.wait(proto.TypeLeft)
	a.waitFor(proto.TypePeerLeft, func(m msg) bool { return m.peer() == b.peerID })
	a.send(msg{"v": 1, "type": proto.TypeLeave})
	a.wait(proto.TypeLeft)
	want := [2][]string{
		{signal.EventRoomStarted, signal.EventParticipantJoined, signal.EventParticipantLeft, signal.EventRoomEnded},
		{signal.EventParticipantJoined, signal.EventParticipantLeft},
	}
	for i, types := range want {
		for _, typ := range types {
			select {
			case e := <-logs[i]:
				if e.Type != typ || e.Room != "room" {
					t.Fatalf("n%d: event %+v, want %s", i+1, e, typ)
				}
			case <-time.After(msgWait):
				t.Fatalf("n%d: no %s", i+1, typ)
			}
		}
	}
	a.quiet(2 * hbInterval) // nothing more happens ...
	for i := range logs {
		select {
		case e := <-logs[i]:
			t.Fatalf("n%d: extra event %+v", i+1, e)
		default: // ... and neither node reported more
		}
	}
}

// TestPasswordLimitAcrossNodes: wrong room passwords count per address
// across the cluster: five on n1, and the next try on n2 is rate_limited,
// even with the right password.
func TestPasswordLimitAcrossNodes(t *testing.T) {
	r := redistest.Run(t)
	n1 := startNode(t, r.Addr(), "n1")
	n2 := startNode(t, r.Addr(), "n2")
	a := dial(t, n1.wsURL(), "a")
	a.join("room")
	a.hostAct(proto.ActionPassword, "", "open sesame")
	a.wait(proto.TypeHost)
	x := dial(t, n1.wsURL(), "x")
	for i := range 5 {
		x.send(msg{"v": 1, "type": proto.TypeJoin, "id": "j", "room": "room", "password": "guess"})
		if code := x.waitErr(); code != proto.CodeWrongPassword {
			t.Fatalf("x's try %d: %s, want wrong_password", i+1, code)
		}
	}
	y := dial(t, n2.wsURL(), "y")
	y.send(msg{"v": 1, "type": proto.TypeJoin, "id": "j", "room": "room", "password": "open sesame"})
	if code := y.waitErr(); code != proto.CodeRateLimited {
		t.Fatalf("y's try on n2: %s, want rate_limited", code)
	}
	// Without a password the address is not refused unread.
	y.send(msg{"v": 1, "type": proto.TypeJoin, "id": "j", "room": "room"})
	if code := y.waitErr(); code != proto.CodePasswordRequired {
		t.Fatalf("y without a password: %s, want password_required", code)
	}
}

// hookReceiver is a webhook receiver on loopback: every delivery it gets,
// signature checked, in order of arrival.
type hookReceiver struct {
	srv *httptest.Server
	got chan webhook.Event
}

const hookSecret = "cluster-webhook-secret-0123"

func newHookReceiver(t *testing.T) *hookReceiver {
	t.Helper()
	h := &hookReceiver{got: make(chan webhook.Event, 256)}
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if err := webhook.Verify(hookSecret, r.Header.Get(webhook.HeaderTimestamp), r.Header.Get(webhook.HeaderSignature),
			body, time.Now(), time.Minute); err != nil {
			t.Errorf("delivery %s: %v", body, err)
			return
		}
		var e webhook.Event
		if err := json.Unmarshal(body, &e); err != nil {
			t.Errorf("delivery %s: %v", body, err)
			return
		}
		h.got <- e
	}))
	t.Cleanup(h.srv.Close)
	return h
}

// hooksTo makes a node post its events to h, as the daemon wires them.
func hooksTo(t *testing.T, h *hookReceiver, node string) func(*nodeConfig) {
	t.Helper()
	s, err := webhook.New(webhook.Config{URLs: []string{h.srv.URL}, Secret: hookSecret, Backoff: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return func(c *nodeConfig) {
		c.Events = func(e signal.Event) {
			ev := webhook.Event{Type: e.Type, Time: e.Time.UTC(), Room: e.Room, Node: node}
			if e.Peer != "" {
				ev.Participant = &webhook.Participant{ID: e.Peer, Name: e.Name}
			}
			s.Send(ev)
		}
	}
}

// roomEvents waits until h got n room events of room (room.started and
// room.ended, participant events skipped), then for a quiet while, and
// returns them all.
func (h *hookReceiver) roomEvents(t *testing.T, room string, n int) []webhook.Event {
	t.Helper()
	var out []webhook.Event
	deadline := time.After(msgWait)
	for len(out) < n {
		select {
		case e := <-h.got:
			if e.Room == room && e.Participant == nil {
				out = append(out, e)
			}
		case <-deadline:
			t.Fatalf("room %s: events %+v, want %d", room, out, n)
		}
	}
	quiet := time.After(4 * hbInterval)
	for {
		select {
		case e := <-h.got:
			if e.Room == room && e.Participant == nil {
				out = append(out, e)
			}
		case <-quiet:
			return out
		}
	}
}

// TestRoomWebhooksAcrossNodes: a room with members on two nodes is reported
// started once and ended once, to a real webhook receiver: when its last
// members leave one after the other, at the same time, and when a host
// ends it (the other node ends its part without reporting it again).
func TestRoomWebhooksAcrossNodes(t *testing.T) {
	r := redistest.Run(t)
	h := newHookReceiver(t)
	n1 := startNode(t, r.Addr(), "n1", hooksTo(t, h, "n1"))
	n2 := startNode(t, r.Addr(), "n2", hooksTo(t, h, "n2"))
	a := dial(t, n1.wsURL(), "a")
	b := dial(t, n2.wsURL(), "b")
	c := dial(t, n2.wsURL(), "c")
	leave := func(ps ...*wsc) {
		t.Helper()
		for _, p := range ps {
			p.send(msg{"v": 1, "type": proto.TypeLeave})
		}
		for _, p := range ps {
			p.wait(proto.TypeLeft)
		}
	}
	check := func(room string, want ...string) {
		t.Helper()
		got := h.roomEvents(t, room, len(want))
		if len(got) != len(want) {
			t.Fatalf("room %s: events %+v, want %v", room, got, want)
		}
		for i, e := range got {
			if e.Type != want[i] {
				t.Fatalf("room %s: events %+v, want %v", room, got, want)
			}
		}
	}

	// One after the other.
	a.join("one")
	b.join("one")
	c.join("one")
	a.waitFor(proto.TypePeerJoined, func(m msg) bool { return m.peer() == c.peerID })
	leave(a)
	b.waitFor(proto.TypePeerLeft, func(m msg) bool { return m.peer() == a.peerID })
	leave(b)
	leave(c)
	check("one", signal.EventRoomStarted, signal.EventRoomEnded)

	// The last members of each node leave at the same time.
	a.join("two")
	b.join("two")
	a.wait(proto.TypePeerJoined)
	leave(a, b)
	check("two", signal.EventRoomStarted, signal.EventRoomEnded)

	// The host ends the room.
	a.join("three")
	b.join("three")
	a.wait(proto.TypePeerJoined)
	a.hostAct(proto.ActionEnd, "", "")
	a.wait(proto.TypeHost)
	if code := b.waitErr(); code != proto.CodeRoomEnded {
		t.Fatalf("b: %s, want room_ended", code)
	}
	check("three", signal.EventRoomStarted, signal.EventRoomEnded)
}

// waitStoredLock waits until room's control state in Redis says locked: a
// host's lock is echoed before it is stored, and a node with no member of
// the room judges a join by what is stored.
func waitStoredLock(t *testing.T, r *redistest.Server, room string) {
	t.Helper()
	rdb := redis.NewClient(&redis.Options{Addr: r.Addr()})
	defer rdb.Close()
	deadline := time.Now().Add(msgWait)
	for {
		v, err := rdb.Get(ctxT(t, msgWait), "rtcd:ctl:"+room).Bytes()
		var c signal.Control
		if err == nil && json.Unmarshal(v, &c) == nil && c.Locked {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("room %s: no lock stored in redis within %v (%s, %v)", room, msgWait, v, err)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// knock sends a join of room and waits for waiting.
func (c *wsc) knock(room string) {
	c.t.Helper()
	c.send(msg{"v": 1, "type": proto.TypeJoin, "id": "k", "room": room})
	c.wait(proto.TypeWaiting)
}

// lobbyIs waits for a lobby message listing exactly ids, in order.
func (c *wsc) lobbyIs(ids ...string) {
	c.t.Helper()
	c.waitFor(proto.TypeLobby, func(m msg) bool { return slices.Equal(m.peerIDs(), ids) })
}

// TestLobbyOnNodeWithoutMembers: a locked room joined through a node with
// nobody in it: the joiner waits there, the host on the other node sees it
// in the lobby and admits it, turns it away (lobby_denied), or loses it from
// the lobby when it leaves or its socket drops; an unlock lets the rest in,
// and a waiter whose room empties gets room_locked.
func TestLobbyOnNodeWithoutMembers(t *testing.T) {
	r := redistest.Run(t)
	n1 := startNode(t, r.Addr(), "n1")
	n2 := startNode(t, r.Addr(), "n2")
	a := dial(t, n1.wsURL(), "a")
	a.join("room")
	a.hostAct(proto.ActionLock, "", "")
	a.wait(proto.TypeHost)
	waitStoredLock(t, r, "room")

	d := dial(t, n2.wsURL(), "d")
	d.knock("room")
	a.lobbyIs(d.peerID)
	a.hostAct(proto.ActionDeny, d.peerID, "")
	a.wait(proto.TypeHost)
	if code := d.waitErr(); code != proto.CodeLobbyDenied {
		t.Fatalf("d: %s, want lobby_denied", code)
	}
	a.lobbyIs()

	e := dial(t, n2.wsURL(), "e")
	e.knock("room")
	a.lobbyIs(e.peerID)
	e.send(msg{"v": 1, "type": proto.TypeLeave})
	e.wait(proto.TypeLeft)
	a.lobbyIs()

	f := dial(t, n2.wsURL(), "f")
	f.knock("room")
	a.lobbyIs(f.peerID)
	f.cut()
	a.lobbyIs()

	g := dial(t, n2.wsURL(), "g")
	g.knock("room")
	a.lobbyIs(g.peerID)
	h := dial(t, n2.wsURL(), "h")
	h.knock("room")
	a.lobbyIs(g.peerID, h.peerID)
	a.hostAct(proto.ActionAdmit, g.peerID, "")
	a.wait(proto.TypeHost)
	if j := g.wait(proto.TypeJoined); !slices.Equal(j.peerIDs(), []string{a.peerID}) || settings(j)["locked"] != true {
		t.Fatalf("g joined %v", j)
	}
	a.lobbyIs(h.peerID)
	a.waitFor(proto.TypePeerJoined, func(m msg) bool { return m.peer() == g.peerID })
	a.hostAct(proto.ActionUnlock, "", "")
	a.wait(proto.TypeHost)
	h.wait(proto.TypeJoined)
	a.waitFor(proto.TypePeerJoined, func(m msg) bool { return m.peer() == h.peerID })

	// A waiter on a node without members whose room's last member leaves.
	a.send(msg{"v": 1, "type": proto.TypeLeave})
	a.wait(proto.TypeLeft)
	a.join("solo")
	a.hostAct(proto.ActionLock, "", "")
	a.wait(proto.TypeHost)
	waitStoredLock(t, r, "solo")
	i := dial(t, n2.wsURL(), "i")
	i.knock("solo")
	a.lobbyIs(i.peerID)
	a.send(msg{"v": 1, "type": proto.TypeLeave})
	a.wait(proto.TypeLeft)
	if code := i.waitErr(); code != proto.CodeRoomLocked {
		t.Fatalf("i: %s, want room_locked", code)
	}
}

// TestLockedRoomWithoutHost: a locked room whose host's node crashed has no
// host anywhere: the waiter on another node gets room_locked once the node
// is gone, and so does a join after it, as on one node.
func TestLockedRoomWithoutHost(t *testing.T) {
	r := redistest.Run(t)
	n1 := startNode(t, r.Addr(), "n1")
	url2, kill := startChild(t, r.Addr(), "n2")
	a := dial(t, url2, "a")
	a.join("room")
	x := dial(t, n1.wsURL(), "x") // x sees a: n2 is in the cluster
	x.join("room")
	a.wait(proto.TypePeerJoined)
	x.send(msg{"v": 1, "type": proto.TypeLeave})
	x.wait(proto.TypeLeft)
	a.waitFor(proto.TypePeerLeft, func(m msg) bool { return m.peer() == x.peerID })
	a.hostAct(proto.ActionLock, "", "")
	a.wait(proto.TypeHost)
	waitStoredLock(t, r, "room")

	w := dial(t, n1.wsURL(), "w")
	w.knock("room")
	a.lobbyIs(w.peerID)
	kill()
	if code := w.waitErr(); code != proto.CodeRoomLocked {
		t.Fatalf("w: %s, want room_locked", code)
	}
	if _, code := w.joinResult("room"); code != proto.CodeRoomLocked {
		t.Fatalf("w's join after: %s, want room_locked", code)
	}
}
