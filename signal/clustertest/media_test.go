package clustertest

import (
	"encoding/json"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/redis/go-redis/v9"

	"github.com/rtcd/rtcd/internal/redistest"
	"github.com/rtcd/rtcd/signal"
	"github.com/rtcd/rtcd/signal/proto"
)

// fakeMedia is a node's media server: it records what the hub asks of it,
// as events a test waits on, and lets a test send as the media server.
type fakeMedia struct {
	events chan mediaEvent

	mu       sync.Mutex
	sessions map[string]*fakeSession // by peer, the latest
	failJoin bool
	gate     chan struct{} // if set, Close waits until it is closed
}

// mediaEvent is one call into the media server: op is join, signal or close.
type mediaEvent struct {
	op, room, peer, kind string
}

type fakeSession struct {
	m          *fakeMedia
	room, peer string
	send       func(string, json.RawMessage)
	closed     bool // guarded by m.mu
	held       bool // guarded by m.mu
}

func newFakeMedia() *fakeMedia {
	return &fakeMedia{events: make(chan mediaEvent, 1024), sessions: map[string]*fakeSession{}}
}

func (m *fakeMedia) Join(room, peer string, send func(string, json.RawMessage)) (signal.MediaSession, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.failJoin {
		return nil, errors.New("no capacity")
	}
	if old := m.sessions[peer]; old != nil && !old.closed {
		// As the SFU: a participant is in it once.
		m.events <- mediaEvent{op: "duplicate", room: room, peer: peer}
		return nil, errors.New("duplicate participant")
	}
	s := &fakeSession{m: m, room: room, peer: peer, send: send}
	m.sessions[peer] = s
	m.events <- mediaEvent{op: "join", room: room, peer: peer}
	return s, nil
}

func (s *fakeSession) Signal(kind string, data json.RawMessage) error {
	s.m.events <- mediaEvent{op: "signal", room: s.room, peer: s.peer, kind: kind}
	if string(data) == `{"type":"answer","sdp":"bad"}` {
		return errors.New("bad SDP")
	}
	return nil
}

// HoldAudio records the hold; a change is an event, "hold" or "unhold".
func (s *fakeSession) HoldAudio(held bool) {
	s.m.mu.Lock()
	changed := s.held != held
	s.held = held
	s.m.mu.Unlock()
	if changed {
		op := "unhold"
		if held {
			op = "hold"
		}
		s.m.events <- mediaEvent{op: op, room: s.room, peer: s.peer}
	}
}

func (s *fakeSession) Close() error {
	s.m.mu.Lock()
	gate := s.m.gate
	s.m.mu.Unlock()
	if gate != nil {
		<-gate
	}
	s.m.mu.Lock()
	s.closed = true
	s.m.mu.Unlock()
	s.m.events <- mediaEvent{op: "close", room: s.room, peer: s.peer}
	return nil
}

func (m *fakeMedia) setFailJoin(v bool) {
	m.mu.Lock()
	m.failJoin = v
	m.mu.Unlock()
}

// session is peer's latest media session.
func (m *fakeMedia) session(t *testing.T, peer string) *fakeSession {
	t.Helper()
	m.mu.Lock()
	defer m.mu.Unlock()
	s := m.sessions[peer]
	if s == nil {
		t.Fatalf("no media session for %s", peer)
	}
	return s
}

// expect waits for the next event of the media server and checks it.
func (m *fakeMedia) expect(t *testing.T, want mediaEvent) {
	t.Helper()
	select {
	case got := <-m.events:
		if got != want {
			t.Fatalf("media server: got %+v, want %+v", got, want)
		}
	case <-time.After(msgWait):
		t.Fatalf("media server: no %+v within %v", want, msgWait)
	}
}

// expectOpened waits for peer's media session in room to open with the
// offer that opened it.
func (m *fakeMedia) expectOpened(t *testing.T, room, peer string) {
	t.Helper()
	m.expect(t, mediaEvent{op: "join", room: room, peer: peer})
	m.expect(t, mediaEvent{op: "signal", room: room, peer: peer, kind: proto.KindOffer})
}

// idle fails if the media server was asked anything since the last expect.
func (m *fakeMedia) idle(t *testing.T) {
	t.Helper()
	select {
	case got := <-m.events:
		t.Fatalf("media server: unexpected %+v", got)
	default:
	}
}

// withSFU makes the node's rooms SFU rooms carried by m.
func withSFU(m signal.MediaServer) func(*nodeConfig) {
	return func(c *nodeConfig) {
		c.Signal.Media = signal.MediaSFU
		c.Media = m
	}
}

func sfuSignal(id, kind, data string) msg {
	return msg{"v": 1, "type": "signal", "id": id, "to": proto.SFUPeer, "kind": kind, "data": json.RawMessage(data)}
}

const offer = `{"type":"offer","sdp":"v=0"}`

// wantMediaNode checks the node that claimed room's media in Redis ("":
// none); why says why it should be that one.
func wantMediaNode(t *testing.T, r *redistest.Server, room, want, why string) {
	t.Helper()
	rdb := redis.NewClient(&redis.Options{Addr: r.Addr()})
	defer rdb.Close()
	got, err := rdb.Get(ctxT(t, msgWait), "rtcd:media:"+room).Result()
	if err != nil && !errors.Is(err, redis.Nil) {
		t.Fatalf("redis: %v", err)
	}
	if got != want {
		t.Fatalf("media node of %s in redis %q, want %q (%s)", room, got, want, why)
	}
}

// sfuRoom is two SFU nodes (media servers m1, m2), client a on n1 and b on
// n2 in room "room", a has seen b join, and a's offer made n1 the room's
// media node.
func sfuRoom(t *testing.T) (r *redistest.Server, n1, n2 *node, m1, m2 *fakeMedia, a, b *wsc) {
	t.Helper()
	r = redistest.Run(t)
	m1, m2 = newFakeMedia(), newFakeMedia()
	n1 = startNode(t, r.Addr(), "n1", withSFU(m1))
	n2 = startNode(t, r.Addr(), "n2", withSFU(m2))
	a = dial(t, n1.wsURL(), "a")
	b = dial(t, n2.wsURL(), "b")
	if j := a.join("room"); j.str("media") != proto.MediaSFU {
		t.Fatalf("a joined %v, want media sfu", j)
	}
	b.join("room")
	a.wait("peer-joined")
	a.send(sfuSignal("", proto.KindOffer, offer))
	m1.expectOpened(t, "room", a.peerID)
	wantMediaNode(t, r, "room", "n1", "it claimed the room first")
	return r, n1, n2, m1, m2, a, b
}

// TestSFUMediaLivesOnOneNode: the client of the other node gets its media
// session on the node that claimed the room, in order; the media server's
// signals reach it from "sfu", its errors with the request's id; leaving
// closes the session there, and a rejoin opens a new one.
func TestSFUMediaLivesOnOneNode(t *testing.T) {
	_, _, _, m1, m2, a, b := sfuRoom(t)

	b.send(sfuSignal("1", proto.KindOffer, offer))
	b.send(sfuSignal("", proto.KindCandidate, `{"candidate":"c1"}`))
	b.send(sfuSignal("", proto.KindLayers, `{"tiles":{"`+a.peerID+`":{"width":320,"height":180}}}`))
	m1.expect(t, mediaEvent{op: "join", room: "room", peer: b.peerID})
	for _, k := range []string{proto.KindOffer, proto.KindCandidate, proto.KindLayers} {
		m1.expect(t, mediaEvent{op: "signal", room: "room", peer: b.peerID, kind: k})
	}
	m2.idle(t) // b's node opened nothing of its own

	// The media server's signals reach each client from "sfu", across nodes too.
	m1.session(t, b.peerID).send(proto.KindAnswer, json.RawMessage(`{"type":"answer","sdp":"v=0"}`))
	m1.session(t, b.peerID).send(proto.KindCandidate, json.RawMessage(`{"candidate":"s1"}`))
	m1.session(t, a.peerID).send(proto.KindSpeaker, json.RawMessage(`{"peer":"`+b.peerID+`"}`))
	for i, want := range []string{proto.KindAnswer, proto.KindCandidate} {
		if m := b.wait("signal"); m.str("from") != proto.SFUPeer || m.str("kind") != want {
			t.Fatalf("b: signal %d: %v, want %s from sfu", i, m, want)
		}
	}
	if m := a.wait("signal"); m.str("from") != proto.SFUPeer || m.str("kind") != proto.KindSpeaker {
		t.Fatalf("a: %v, want speaker from sfu", m)
	}

	// Input the remote media server refuses is a bad_request with b's id.
	b.send(sfuSignal("2", proto.KindAnswer, `{"type":"answer","sdp":"bad"}`))
	m1.expect(t, mediaEvent{op: "signal", room: "room", peer: b.peerID, kind: proto.KindAnswer})
	if e := b.wait("error"); e.str("code") != proto.CodeBadRequest || e.str("id") != "2" {
		t.Fatalf("b: %v, want bad_request id 2", e)
	}

	// Leaving on n2 closes b's session on n1; a's goes on.
	b.send(msg{"v": 1, "type": "leave"})
	b.wait("left")
	m1.expect(t, mediaEvent{op: "close", room: "room", peer: b.peerID})
	a.wait("peer-left")

	// Back in the room, b's next signal opens a new session there.
	b.join("room")
	b.send(sfuSignal("", proto.KindOffer, offer))
	m1.expectOpened(t, "room", b.peerID)

	// Out and in again at once, with the old session slow to close: the
	// new one opens after it closed, as the media server takes a peer once.
	gate := make(chan struct{})
	m1.mu.Lock()
	m1.gate = gate
	m1.mu.Unlock()
	b.send(msg{"v": 1, "type": "leave"})
	b.send(msg{"v": 1, "type": "join", "id": "j", "room": "room"})
	b.send(sfuSignal("", proto.KindOffer, offer))
	b.send(msg{"v": 1, "type": "ping", "id": "p"})
	b.wait("pong") // n2 has forwarded the offer
	m1.mu.Lock()
	m1.gate = nil
	m1.mu.Unlock()
	close(gate)
	m1.expect(t, mediaEvent{op: "close", room: "room", peer: b.peerID})
	m1.expectOpened(t, "room", b.peerID)
	m1.idle(t)
	m2.idle(t)
}

// TestSFUMediaEndsWithTheSession: the media session of a client of another
// node closes when the client's session ends there.
func TestSFUMediaEndsWithTheSession(t *testing.T) {
	_, _, _, m1, _, a, b := sfuRoom(t)
	b.send(sfuSignal("", proto.KindOffer, offer))
	m1.expectOpened(t, "room", b.peerID)
	// Close 1000: the session ends instead of waiting for a resume.
	_ = b.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(msgWait))
	m1.expect(t, mediaEvent{op: "close", room: "room", peer: b.peerID})
	if p := a.wait("peer-left"); p.peer() != b.peerID {
		t.Fatalf("a: %v", p)
	}
}

// TestSFUMediaMovesWhenItsNodeStops: when the media node stops, its media
// sessions close and its claim is released; the next signal of a client of
// the surviving node (its re-offer) opens the session there, which now
// carries the room's media.
func TestSFUMediaMovesWhenItsNodeStops(t *testing.T) {
	r, n1, _, m1, m2, a, b := sfuRoom(t)
	b.send(sfuSignal("", proto.KindOffer, offer))
	m1.expectOpened(t, "room", b.peerID)

	n1.stop()
	closed := map[string]bool{}
	for range 2 {
		select {
		case e := <-m1.events:
			if e.op != "close" {
				t.Fatalf("n1's media server at stop: %+v", e)
			}
			closed[e.peer] = true
		case <-time.After(msgWait):
			t.Fatalf("n1's media sessions not closed at stop: %v", closed)
		}
	}
	if !closed[a.peerID] || !closed[b.peerID] {
		t.Fatalf("closed %v, want a and b", closed)
	}
	a.closedWith()
	wantMediaNode(t, r, "room", "", "n1 released its claim as it stopped")

	b.send(sfuSignal("", proto.KindOffer, offer))
	m2.expectOpened(t, "room", b.peerID)
	wantMediaNode(t, r, "room", "n2", "the survivor claimed the room's media")
	m2.session(t, b.peerID).send(proto.KindAnswer, json.RawMessage(`{"type":"answer","sdp":"v=0"}`))
	if m := b.wait("signal"); m.str("from") != proto.SFUPeer || m.str("kind") != proto.KindAnswer {
		t.Fatalf("b: %v", m)
	}
}

// TestSFUMediaClaimOfADeadNode: a claim whose node's presence expired (a
// crash leaves it behind) is taken over by the next node that needs it.
func TestSFUMediaClaimOfADeadNode(t *testing.T) {
	r := redistest.Run(t)
	m1, m2 := newFakeMedia(), newFakeMedia()
	startNode(t, r.Addr(), "n1", withSFU(m1))
	n2 := startNode(t, r.Addr(), "n2", withSFU(m2))
	rdb := redis.NewClient(&redis.Options{Addr: r.Addr()})
	defer rdb.Close()
	if err := rdb.Set(ctxT(t, msgWait), "rtcd:media:room", "crashed", time.Minute).Err(); err != nil {
		t.Fatal(err)
	}
	b := dial(t, n2.wsURL(), "b")
	b.join("room")
	b.send(sfuSignal("", proto.KindOffer, offer))
	m2.expectOpened(t, "room", b.peerID)
	wantMediaNode(t, r, "room", "n2", "the claim of a node without heartbeat is taken over")
	m1.idle(t)
}

// TestSFUMediaRefusals: what one node refuses, a cluster refuses the same
// way, on the client's node; a refusal of the remote media server comes
// back with the request's id.
func TestSFUMediaRefusals(t *testing.T) {
	t.Run("not in a room", func(t *testing.T) {
		_, _, n2, m1, m2, _, _ := sfuRoom(t)
		c := dial(t, n2.wsURL(), "c")
		c.send(sfuSignal("1", proto.KindOffer, offer))
		if e := c.wait("error"); e.str("code") != proto.CodeNotInRoom || e.str("id") != "1" {
			t.Fatalf("c: %v, want not_in_room id 1", e)
		}
		m1.idle(t)
		m2.idle(t)
	})
	t.Run("mesh room", func(t *testing.T) {
		r := redistest.Run(t)
		mesh := func(c *nodeConfig) { c.Signal.Media = signal.MediaMesh; c.Media = newFakeMedia() }
		n1 := startNode(t, r.Addr(), "n1", mesh)
		n2 := startNode(t, r.Addr(), "n2", mesh)
		a, b := dial(t, n1.wsURL(), "a"), dial(t, n2.wsURL(), "b")
		a.join("room")
		b.join("room")
		b.send(sfuSignal("1", proto.KindOffer, offer))
		if e := b.wait("error"); e.str("code") != proto.CodeUnknownPeer || e.str("id") != "1" {
			t.Fatalf("b: %v, want unknown_peer id 1", e)
		}
		wantMediaNode(t, r, "room", "", "a mesh room has none")
	})
	t.Run("remote media server refuses the join", func(t *testing.T) {
		_, _, _, m1, m2, _, b := sfuRoom(t)
		m1.setFailJoin(true)
		b.send(sfuSignal("1", proto.KindOffer, offer))
		if e := b.wait("error"); e.str("code") != proto.CodeInternal || e.str("id") != "1" {
			t.Fatalf("b: %v, want internal id 1", e)
		}
		m2.idle(t)
		m1.setFailJoin(false)
		b.send(sfuSignal("2", proto.KindOffer, offer)) // the room's media stays on n1: a's session holds it
		m1.expectOpened(t, "room", b.peerID)
	})
}

// TestHostMuteHoldsAudioOnMediaNode: a host's mute of a client whose room's
// media lives on another node than the client's holds its audio there, and
// the client's own unmute ends the hold there; a client muted before its
// first signal to the media server is held from that signal on.
func TestHostMuteHoldsAudioOnMediaNode(t *testing.T) {
	_, _, n2, m1, m2, a, b := sfuRoom(t)
	b.send(sfuSignal("", proto.KindOffer, offer))
	m1.expectOpened(t, "room", b.peerID)

	a.hostAct(proto.ActionMute, b.peerID, "")
	a.wait(proto.TypeHost)
	b.wait(proto.TypeHostRequest)
	m1.expect(t, mediaEvent{op: "hold", room: "room", peer: b.peerID})
	b.send(msg{"v": 1, "type": proto.TypeUpdate, "state": msg{"audio": true}})
	m1.expect(t, mediaEvent{op: "unhold", room: "room", peer: b.peerID})

	c := dial(t, n2.wsURL(), "c")
	c.join("room")
	a.waitFor(proto.TypePeerJoined, func(m msg) bool { return m.peer() == c.peerID })
	a.hostAct(proto.ActionMute, c.peerID, "")
	a.wait(proto.TypeHost)
	c.wait(proto.TypeHostRequest)
	c.send(sfuSignal("", proto.KindOffer, offer))
	m1.expect(t, mediaEvent{op: "join", room: "room", peer: c.peerID})
	m1.expect(t, mediaEvent{op: "hold", room: "room", peer: c.peerID})
	m1.expect(t, mediaEvent{op: "signal", room: "room", peer: c.peerID, kind: proto.KindOffer})
	m1.idle(t)
	m2.idle(t)
}
