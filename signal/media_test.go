package signal

import (
	"encoding/json"
	"errors"
	"sync"
	"testing"

	"github.com/rtcd/rtcd/signal/proto"
)

// fakeMedia records what the hub asks of a media server and lets a test
// send as the media server.
type fakeMedia struct {
	mu       sync.Mutex
	sessions map[string]*fakeMediaSession // by peer
	joins    int
	failJoin bool
}

type fakeMediaSession struct {
	m       *fakeMedia
	room    string
	peer    string
	send    func(string, json.RawMessage)
	signals []string // kinds received
	held    bool     // HoldAudio's last word
	closed  bool
}

func newFakeMedia() *fakeMedia { return &fakeMedia{sessions: map[string]*fakeMediaSession{}} }

func (m *fakeMedia) Join(room, peer string, send func(string, json.RawMessage)) (MediaSession, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.failJoin {
		return nil, errors.New("no capacity")
	}
	m.joins++
	s := &fakeMediaSession{m: m, room: room, peer: peer, send: send}
	m.sessions[peer] = s
	return s, nil
}

func (s *fakeMediaSession) Signal(kind string, data json.RawMessage) error {
	s.m.mu.Lock()
	defer s.m.mu.Unlock()
	if s.closed {
		return errors.New("closed")
	}
	if kind == proto.KindAnswer && string(data) == `{"type":"answer","sdp":"bad"}` {
		return errors.New("bad SDP")
	}
	s.signals = append(s.signals, kind)
	return nil
}

func (s *fakeMediaSession) HoldAudio(held bool) {
	s.m.mu.Lock()
	defer s.m.mu.Unlock()
	s.held = held
}

// isHeld reports whether peer's media session holds its audio.
func (m *fakeMedia) isHeld(peer string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	s := m.sessions[peer]
	return s != nil && s.held
}

func (s *fakeMediaSession) Close() error {
	s.m.mu.Lock()
	defer s.m.mu.Unlock()
	s.closed = true
	return nil
}

// session returns peer's media session, nil if it has none.
func (m *fakeMedia) session(peer string) *fakeMediaSession {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.sessions[peer]
}

func (m *fakeMedia) isClosed(peer string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	s := m.sessions[peer]
	return s != nil && s.closed
}

func sfuSignal(kind string, data string) msg {
	return msg{"v": 1, "type": "signal", "to": proto.SFUPeer, "kind": kind, "data": json.RawMessage(data)}
}

// sfuRequest is sfuSignal with a request id, for the error it gets.
func sfuRequest(id, kind, data string) msg {
	m := sfuSignal(kind, data)
	m["id"] = id
	return m
}

func TestAutoMediaMovesTheThirdJoinToTheSFU(t *testing.T) {
	e := newEnv(t, Config{Media: MediaAuto}, withMedia(newFakeMedia()))
	a, b, c := e.peer("a"), e.peer("b"), e.peer("c")
	if j := a.join("r"); j.str("media") != proto.MediaMesh {
		t.Fatalf("first joined: media %q, want mesh", j.str("media"))
	}
	if j := b.join("r"); j.str("media") != proto.MediaMesh {
		t.Fatalf("second joined: media %q, want mesh", j.str("media"))
	}
	a.expect(proto.TypePeerJoined)
	if j := c.join("r"); j.str("media") != proto.MediaSFU {
		t.Fatalf("third joined: media %q, want sfu", j.str("media"))
	}
	for _, p := range []*peer{a, b} {
		if m := p.expect(proto.TypeMedia); m.str("mode") != proto.MediaSFU {
			t.Fatalf("media message %v", m)
		}
		if m := p.expect(proto.TypePeerJoined); m.obj("peer").str("id") != c.id {
			t.Fatalf("after media, got %v", m)
		}
	}
	// The room stays on the SFU when it shrinks.
	c.send(msg{"v": 1, "type": "leave"})
	c.expect(proto.TypeLeft)
	a.expect(proto.TypePeerLeft)
	d := e.peer("d")
	if j := d.join("r"); j.str("media") != proto.MediaSFU {
		t.Fatalf("joined after a leave: media %q, want sfu", j.str("media"))
	}
	a.expect(proto.TypePeerJoined) // no second media message: the room is on the SFU already
	a.sync()
}

func TestMediaModesAndRoomSizes(t *testing.T) {
	for _, tc := range []struct {
		media     string
		withMedia bool
		want      string
		size      int
	}{
		{MediaSFU, true, proto.MediaSFU, 50},
		{MediaMesh, true, proto.MediaMesh, 6},
		{MediaAuto, true, proto.MediaMesh, 50},
		{MediaAuto, false, "", 6}, // no media server: mesh rooms, and joined says nothing
	} {
		t.Run(tc.media+map[bool]string{true: "", false: "-nomedia"}[tc.withMedia], func(t *testing.T) {
			var m MediaServer
			if tc.withMedia {
				m = newFakeMedia()
			}
			e := newEnv(t, Config{Media: tc.media}, withMedia(m))
			c := e.dial(nil)
			h := c.hello("a")
			if got := int(h.obj("limits")["roomSize"].(float64)); got != tc.size {
				t.Fatalf("limits.roomSize %d, want %d", got, tc.size)
			}
			if j := c.join("r"); j.str("media") != tc.want {
				t.Fatalf("joined media %q, want %q", j.str("media"), tc.want)
			}
		})
	}
}

func TestSFURoomSizeIsEnforced(t *testing.T) {
	e := newEnv(t, Config{Media: MediaSFU, SFURoomSize: 2}, withMedia(newFakeMedia()))
	e.peer("a").join("r")
	e.peer("b").join("r")
	c := e.peer("c")
	c.send(msg{"v": 1, "type": "join", "id": "j", "room": "r"})
	c.expectError(proto.CodeRoomFull, "j")
}

func TestSignalToTheSFU(t *testing.T) {
	fm := newFakeMedia()
	e := newEnv(t, Config{Media: MediaSFU}, withMedia(fm))
	a, b := e.peer("a"), e.peer("b")

	// Outside a room.
	a.send(sfuRequest("1", proto.KindOffer, `{"type":"offer","sdp":"v=0"}`))
	a.expectError(proto.CodeNotInRoom, "1")

	a.join("r")
	b.join("r")
	a.expect(proto.TypePeerJoined)
	a.send(sfuSignal(proto.KindOffer, `{"type":"offer","sdp":"v=0"}`))
	a.send(sfuSignal(proto.KindLayers, `{"tiles":{"`+b.id+`":{"width":320,"height":180}}}`))
	a.sync()
	ms := fm.session(a.id)
	if ms == nil || ms.room != "r" {
		t.Fatalf("media session %+v, want one in room r", ms)
	}
	fm.mu.Lock()
	kinds, joins := append([]string(nil), ms.signals...), fm.joins
	fm.mu.Unlock()
	if joins != 1 || len(kinds) != 2 || kinds[0] != proto.KindOffer || kinds[1] != proto.KindLayers {
		t.Fatalf("joins %d, kinds %v; want one join, offer then layers", joins, kinds)
	}
	if fm.session(b.id) != nil {
		t.Fatal("b never signalled the SFU but has a media session")
	}

	// The media server's signals reach the client from "sfu".
	ms.send(proto.KindAnswer, json.RawMessage(`{"type":"answer","sdp":"v=0"}`))
	if m := a.expect(proto.TypeSignal); m.str("from") != proto.SFUPeer || m.str("kind") != proto.KindAnswer {
		t.Fatalf("got %v", m)
	}

	// Input the media server refuses is a bad_request; the session goes on.
	a.send(sfuRequest("2", proto.KindAnswer, `{"type":"answer","sdp":"bad"}`))
	a.expectError(proto.CodeBadRequest, "2")
	a.send(sfuSignal(proto.KindCandidate, `null`))
	a.sync()

	// A malformed layers message never reaches it.
	a.send(sfuRequest("3", proto.KindLayers, `{"tiles":7}`))
	a.expectError(proto.CodeBadRequest, "3")

	// Leaving closes the media session; the next room gets a new one.
	a.send(msg{"v": 1, "type": "leave"})
	a.expect(proto.TypeLeft)
	if !fm.isClosed(a.id) {
		t.Fatal("leave did not close the media session")
	}
	a.join("r2")
	a.send(sfuSignal(proto.KindOffer, `{"type":"offer","sdp":"v=0"}`))
	a.sync()
	if ms2 := fm.session(a.id); ms2 == ms || ms2.room != "r2" {
		t.Fatalf("after rejoin: media session %+v", ms2)
	}

	// A session that ends closes its media session.
	b.expect(proto.TypePeerLeft)
	b.expect(proto.TypeRoomUpdated) // Ann left r as its host; Bob is now
	b.send(sfuSignal(proto.KindOffer, `{"type":"offer","sdp":"v=0"}`))
	b.sync()
	e.hub.mu.Lock()
	bs := e.hub.sessions[b.id]
	e.hub.mu.Unlock()
	e.hub.endSession(bs)
	waitFor(t, "b's media session to close", func() bool { return fm.isClosed(b.id) })
}

func TestSignalToTheSFURefused(t *testing.T) {
	refusing := newFakeMedia()
	refusing.failJoin = true
	for _, tc := range []struct {
		name  string
		cfg   Config
		media MediaServer // nil: the hub has none
		code  string
	}{
		{"mesh room", Config{Media: MediaMesh}, newFakeMedia(), proto.CodeUnknownPeer},
		{"no media server", Config{}, nil, proto.CodeUnknownPeer},
		{"media server refuses the join", Config{Media: MediaSFU}, refusing, proto.CodeInternal},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, tc.cfg, withMedia(tc.media))
			a := e.peer("a")
			a.join("r")
			a.send(sfuRequest("1", proto.KindOffer, `{"type":"offer","sdp":"v=0"}`))
			a.expectError(tc.code, "1")
			a.sync()
		})
	}
}

func TestResumedHelloCarriesTheMediaMode(t *testing.T) {
	e := newEnv(t, Config{Media: MediaSFU}, withMedia(newFakeMedia()))
	a := e.peer("a")
	a.join("r")
	_ = a.ws.Close()
	c := e.dial(nil)
	waitFor(t, "the socket to detach", func() bool {
		e.hub.mu.Lock()
		defer e.hub.mu.Unlock()
		s := e.hub.sessions[a.id]
		return s != nil && s.conn == nil
	})
	c.send(msg{"v": 1, "type": "hello", "id": "h", "resume": a.resume})
	h := c.expect(proto.TypeHello)
	if h.str("room") != "r" || h.str("media") != proto.MediaSFU {
		t.Fatalf("resumed hello %v, want room r and media sfu", h)
	}
}

// TestHostMuteHoldsAudio: in an SFU room a host's mute holds the target's
// audio at the media server, whatever its client does: a host's ask-unmute
// does not end the hold, nor does another state change of the target; its
// own audio:true does. A target muted before its first signal to the media
// server is held from that signal on.
func TestHostMuteHoldsAudio(t *testing.T) {
	m := newFakeMedia()
	e := newEnv(t, Config{Media: MediaSFU}, withMedia(m))
	a, b, c := e.peer("a"), e.peer("b"), e.peer("c")
	threeIn("r", a, b, c)
	b.send(sfuSignal(proto.KindOffer, `{"type":"offer","sdp":"v=0"}`))
	b.sync()

	a.hostDo(proto.ActionMute, b.id)
	a.expectEcho(proto.ActionMute)
	a.sync() // the action is done, the hold included
	b.expect(proto.TypeHostRequest)
	if !m.isHeld(b.id) {
		t.Fatal("b's audio is not held after a host muted b")
	}
	a.hostDo(proto.ActionAskUnmute, b.id)
	a.expectEcho(proto.ActionAskUnmute)
	a.sync()
	b.expect(proto.TypeHostRequest)
	b.send(msg{"v": 1, "type": "update", "state": msg{"video": true, "audio": false}})
	b.sync()
	if !m.isHeld(b.id) {
		t.Fatal("b's audio is not held after a host asked b to unmute, or b changed other state")
	}
	b.send(msg{"v": 1, "type": "update", "state": msg{"audio": true}})
	b.sync()
	if m.isHeld(b.id) {
		t.Fatal("b's audio is still held after b unmuted itself")
	}
	a.expect(proto.TypePeerUpdated)
	a.expect(proto.TypePeerUpdated)

	a.hostDo(proto.ActionMute, c.id)
	a.expectEcho(proto.ActionMute)
	a.sync()
	c.expect(proto.TypePeerUpdated)
	c.expect(proto.TypePeerUpdated)
	c.expect(proto.TypeHostRequest)
	c.send(sfuSignal(proto.KindOffer, `{"type":"offer","sdp":"v=0"}`))
	c.sync()
	if !m.isHeld(c.id) {
		t.Fatal("c, muted before it signalled the media server, is not held")
	}
}
