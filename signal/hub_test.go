package signal

import (
	"encoding/json"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/rtcd/rtcd/signal/proto"
)

func TestHelloReply(t *testing.T) {
	e := newEnv(t, Config{})
	c := e.dial(nil)
	h := c.hello("  Ann  ")
	if h["resumed"] != false {
		t.Fatalf("resumed = %v", h["resumed"])
	}
	servers := h.list("iceServers")
	if len(servers) != 2 {
		t.Fatalf("iceServers = %v", servers)
	}
	if urls := servers[0]["urls"].([]any); len(urls) != 1 || urls[0] != testURLs.STUN[0] || servers[0]["username"] != nil {
		t.Fatalf("stun entry %v", servers[0])
	}
	turn := servers[1]
	user, pass := turn.str("username"), turn.str("credential")
	if err := e.issuer.Verify(user, pass); err != nil {
		t.Fatalf("TURN credential does not verify: %v", err)
	}
	if turnLabel(t, e.issuer, user) != h.str("peerId") {
		t.Fatalf("TURN username %q is not labelled with the peer id", user)
	}
	if h["iceTTL"] != float64(3600) || h["iceExpires"].(float64) < float64(time.Now().Unix()) {
		t.Fatalf("iceTTL %v iceExpires %v", h["iceTTL"], h["iceExpires"])
	}
	if l := h.obj("limits"); l["maxMessageBytes"] != float64(65536) || l["messagesPerSecond"] != float64(50) || l["roomSize"] != float64(6) {
		t.Fatalf("limits %v", l)
	}
	if hb := h.obj("heartbeat"); hb["interval"] != float64(5) || hb["timeout"] != float64(12) {
		t.Fatalf("heartbeat %v", hb)
	}
	// The name was trimmed: the others see "Ann".
	c.join("r1")
	b := e.peer("Bob")
	j := b.join("r1")
	if p := j.list("peers"); len(p) != 1 || p[0].str("name") != "Ann" {
		t.Fatalf("peers %v", p)
	}
	// Without a name the server says guest.
	g := e.dial(nil)
	g.send(`{"v":1,"type":"hello"}`)
	g.expect(proto.TypeHello)
	g.send(`{"v":1,"type":"join","room":"r1"}`)
	j = g.expect(proto.TypeJoined)
	names := []string{j.list("peers")[0].str("name"), j.list("peers")[1].str("name")}
	if !(names[0] == "Ann" || names[1] == "Ann") || !(names[0] == "Bob" || names[1] == "Bob") {
		t.Fatalf("names %v", names)
	}
	g.send(`{"v":1,"type":"update","name":"  "}`)
	g.expectError(proto.CodeBadRequest, "")
	if e.hub.Stats().Sessions != 3 {
		t.Fatalf("stats %+v", e.hub.Stats())
	}
}

func TestJoinPresenceAndRelay(t *testing.T) {
	e := newEnv(t, Config{})
	a, b := e.peer("Ann"), e.peer("Bob")
	if a.id == b.id {
		t.Fatal("same peer id")
	}
	if j := a.join("team-42"); len(j.list("peers")) != 0 || j["peers"] == nil {
		t.Fatalf("first joiner got %v, want peers:[]", j)
	}
	jb := b.join("team-42")
	peers := jb.list("peers")
	if len(peers) != 1 || peers[0].str("id") != a.id || peers[0].str("name") != "Ann" {
		t.Fatalf("peers %v", peers)
	}
	pj := a.expect(proto.TypePeerJoined).obj("peer")
	if pj.str("id") != b.id || pj.str("name") != "Bob" {
		t.Fatalf("peer-joined %v", pj)
	}
	// Polite: exactly one side of the pair, and stable.
	pa, _ := pj["polite"].(bool)
	pb, _ := peers[0]["polite"].(bool)
	if pa == pb {
		t.Fatalf("polite a=%v b=%v: want exactly one", pa, pb)
	}
	if pa != politeFor(a.id, b.id) {
		t.Fatal("polite not the documented rule")
	}
	if st := pj.obj("state"); st["audio"] != false || st["video"] != false || st["screen"] != false {
		t.Fatalf("state %v", st)
	}

	// Targeted relay, from stamped by the server (a spoofed from is ignored).
	a.send(msg{"v": 1, "type": "signal", "to": b.id, "from": "p_evil", "kind": "offer",
		"data": msg{"type": "offer", "sdp": "v=0\r\n"}})
	s := b.expect(proto.TypeSignal)
	if s.str("from") != a.id || s.str("kind") != "offer" || s.obj("data").str("sdp") != "v=0\r\n" {
		t.Fatalf("signal %v", s)
	}
	b.send(msg{"v": 1, "type": "signal", "to": a.id, "kind": "answer", "data": msg{"type": "answer", "sdp": "x"}})
	if s := a.expect(proto.TypeSignal); s.str("from") != b.id || s.str("kind") != "answer" {
		t.Fatalf("signal %v", s)
	}
	// End-of-candidates: data null is relayed as null.
	b.send(`{"v":1,"type":"signal","to":"` + a.id + `","kind":"candidate","data":null}`)
	if s := a.expect(proto.TypeSignal); s.str("kind") != "candidate" || s["data"] != nil {
		t.Fatalf("signal %v", s)
	} else if _, ok := s["data"]; !ok {
		t.Fatalf("data:null dropped: %v", s)
	}
	// Order per sender and addressee.
	for i := range 20 {
		a.send(msg{"v": 1, "type": "signal", "to": b.id, "kind": "candidate", "data": msg{"candidate": i}})
	}
	for i := range 20 {
		if got := b.expect(proto.TypeSignal).obj("data")["candidate"]; got != float64(i) {
			t.Fatalf("candidate %d arrived as %v", i, got)
		}
	}

	// update -> peer-updated with merged state.
	a.send(msg{"v": 1, "type": "update", "name": "Ann B.", "state": msg{"audio": true, "video": true, "bogus": 1}})
	pu := b.expect(proto.TypePeerUpdated).obj("peer")
	if pu.str("name") != "Ann B." || pu.obj("state")["audio"] != true || pu.obj("state")["screen"] != false || pu.obj("state")["bogus"] != nil {
		t.Fatalf("peer-updated %v", pu)
	}
	a.send(msg{"v": 1, "type": "update", "state": msg{"audio": false}})
	pu = b.expect(proto.TypePeerUpdated).obj("peer")
	if pu.str("name") != "Ann B." || pu.obj("state")["audio"] != false || pu.obj("state")["video"] != true {
		t.Fatalf("peer-updated %v", pu)
	}
	// A newcomer sees the state in joined.
	c := e.peer("Cy")
	for _, p := range c.join("team-42").list("peers") {
		if p.str("id") == a.id && (p.obj("state")["video"] != true || p.str("name") != "Ann B.") {
			t.Fatalf("joined shows %v", p)
		}
	}
	a.expect(proto.TypePeerJoined)
	b.expect(proto.TypePeerJoined)

	// leave -> left, peer-left; the socket stays and may join again.
	a.send(msg{"v": 1, "type": "leave", "id": "l"})
	if l := a.expect(proto.TypeLeft); l.str("id") != "l" {
		t.Fatalf("left %v", l)
	}
	for _, p := range []*peer{b, c} {
		if pl := p.expect(proto.TypePeerLeft).obj("peer"); pl.str("id") != a.id {
			t.Fatalf("peer-left %v", pl)
		}
	}
	// Ann was the host; Bob, who came next, takes over (§3.11).
	if ru := b.expect(proto.TypeRoomUpdated); ru["host"] != true {
		t.Fatalf("room-updated %v", ru)
	}
	if pu := c.expect(proto.TypePeerUpdated).obj("peer"); pu.str("id") != b.id || pu["host"] != true {
		t.Fatalf("peer-updated %v, want Bob host", pu)
	}
	a.join("elsewhere")
	a.sync()
	b.sync()
	st := e.hub.Stats()
	if st.Rooms != 2 || st.Peers != 3 || st.Messages[proto.TypeSignal] != 23 || st.Relayed != 23 {
		t.Fatalf("stats %+v", st)
	}
}

func TestRoomIsolation(t *testing.T) {
	e := newEnv(t, Config{})
	a, b, same, other := e.peer("a"), e.peer("b"), e.peer("same"), e.peer("other")
	a.join("r1")
	b.join("r1")
	a.expect(proto.TypePeerJoined)
	same.join("r1")
	a.expect(proto.TypePeerJoined)
	b.expect(proto.TypePeerJoined)
	other.join("r2")

	for _, kind := range []string{"offer", "answer", "candidate", "restart"} {
		a.send(msg{"v": 1, "type": "signal", "to": b.id, "kind": kind, "data": msg{}})
		if s := b.expect(proto.TypeSignal); s.str("kind") != kind {
			t.Fatalf("signal %v", s)
		}
	}
	// b received everything; the third peer in the room and the peer in the
	// other room got nothing (their next message is the pong).
	same.sync()
	other.sync()
	// Across rooms the addressee does not exist.
	a.send(msg{"v": 1, "type": "signal", "id": "x", "to": other.id, "kind": "offer", "data": msg{}})
	a.expectError(proto.CodeUnknownPeer, "x")
	other.sync()
	other.send(msg{"v": 1, "type": "signal", "id": "y", "to": a.id, "kind": "offer", "data": msg{}})
	other.expectError(proto.CodeUnknownPeer, "y")
	a.sync()
	b.sync()
	same.sync()
}

func TestBadInputKeepsConnection(t *testing.T) {
	e := newEnv(t, Config{})
	other := e.peer("other")
	other.join("r")
	c := e.dial(nil)

	// Before hello.
	c.send(`{"v":1,"type":"join","id":"1","room":"r"}`)
	c.expectError(proto.CodeHelloRequired, "1")
	c.send(`{"v":1,"type":"hello","name":5,"id":"2"}`)
	c.expectError(proto.CodeBadRequest, "2")
	c.send(`{"type":"hello","id":"3"}`)
	c.expectError(proto.CodeMissingField, "3")
	c.send(`{"v":1,"type":"hello","id":"4","name":"` + strings.Repeat("x", 65) + `"}`)
	c.expectError(proto.CodeBadRequest, "4")
	h := c.hello("me")
	me := h.str("peerId")

	tests := []struct {
		name, frame, code, id string
	}{
		{"malformed JSON", `{"v":1,"type":`, proto.CodeBadRequest, ""},
		{"not an object", `[1,2,3]`, proto.CodeBadRequest, ""},
		{"string", `"hello"`, proto.CodeBadRequest, ""},
		{"null", `null`, proto.CodeMissingField, ""},
		{"missing type", `{"v":1,"id":"a"}`, proto.CodeMissingField, "a"},
		{"unknown type", `{"v":1,"type":"subscribe","id":"b"}`, proto.CodeUnknownType, "b"},
		{"wrong type of field", `{"v":1,"type":"join","id":"c","room":7}`, proto.CodeBadRequest, "c"},
		{"id not a string", `{"v":1,"type":"ping","id":7}`, proto.CodeBadRequest, ""},
		{"id too long", `{"v":1,"type":"ping","id":"` + strings.Repeat("i", 65) + `"}`, proto.CodeBadRequest, ""},
		{"second hello", `{"v":1,"type":"hello","id":"d"}`, proto.CodeAlreadyHello, "d"},
		{"signal before join", `{"v":1,"type":"signal","id":"e","to":"p_x","kind":"offer","data":{}}`, proto.CodeNotInRoom, "e"},
		{"update before join", `{"v":1,"type":"update","id":"f","state":{"audio":true}}`, proto.CodeNotInRoom, "f"},
		{"leave before join", `{"v":1,"type":"leave","id":"g"}`, proto.CodeNotInRoom, "g"},
		{"join without room", `{"v":1,"type":"join","id":"h"}`, proto.CodeMissingField, "h"},
		{"bad room name", `{"v":1,"type":"join","id":"i","room":"a b/c"}`, proto.CodeBadRequest, "i"},
		{"room name too long", `{"v":1,"type":"join","id":"j","room":"` + strings.Repeat("r", 65) + `"}`, proto.CodeBadRequest, "j"},
		{"state not bool", `{"v":1,"type":"update","id":"k","state":{"audio":"yes"}}`, proto.CodeBadRequest, "k"},
		{"name control chars", `{"v":1,"type":"update","id":"l","name":"a\u0000b"}`, proto.CodeBadRequest, "l"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c.t = t
			c.send(tt.frame)
			c.expectError(tt.code, tt.id)
			c.sync()
		})
	}
	c.t = t
	c.join("r")
	other.expect(proto.TypePeerJoined)
	inRoom := []struct {
		name, frame, code, id string
	}{
		{"already joined", `{"v":1,"type":"join","id":"m","room":"r2"}`, proto.CodeAlreadyJoined, "m"},
		{"signal without to", `{"v":1,"type":"signal","id":"n","kind":"offer","data":{}}`, proto.CodeMissingField, "n"},
		{"signal without kind", `{"v":1,"type":"signal","id":"o","to":"` + other.id + `","data":{}}`, proto.CodeMissingField, "o"},
		{"signal without data", `{"v":1,"type":"signal","id":"p","to":"` + other.id + `","kind":"offer"}`, proto.CodeMissingField, "p"},
		{"signal bad kind", `{"v":1,"type":"signal","id":"q","to":"` + other.id + `","kind":"bye","data":{}}`, proto.CodeBadRequest, "q"},
		{"unknown addressee", `{"v":1,"type":"signal","id":"r","to":"p_nobody","kind":"offer","data":{}}`, proto.CodeUnknownPeer, "r"},
		{"to self", `{"v":1,"type":"signal","id":"s","to":"` + me + `","kind":"offer","data":{}}`, proto.CodeUnknownPeer, "s"},
	}
	for _, tt := range inRoom {
		t.Run(tt.name, func(t *testing.T) {
			c.t = t
			c.send(tt.frame)
			c.expectError(tt.code, tt.id)
			c.sync()
		})
	}
	c.t = t
	// Binary frames are refused, the socket stays.
	if err := c.ws.WriteMessage(2, []byte{1, 2, 3}); err != nil {
		t.Fatal(err)
	}
	c.expectError(proto.CodeBadRequest, "")
	c.sync()
	// None of it reached the other peer.
	other.sync()
	if st := e.hub.Stats(); st.Errors[proto.CodeBadRequest] == 0 || st.Errors[proto.CodeUnknownPeer] != 2 || st.Messages["other"] == 0 {
		t.Fatalf("stats %+v", st)
	}
}

func TestUnsupportedVersion(t *testing.T) {
	e := newEnv(t, Config{})
	for _, v := range []string{`2`, `"1"`, `0`} {
		c := e.dial(nil)
		c.send(`{"v":` + v + `,"type":"hello","id":"1"}`)
		c.expectError(proto.CodeUnsupportedVersion, "1")
		c.expectClose(1008)
	}
}

func TestHelloTimeout(t *testing.T) {
	e := newEnv(t, Config{HelloTimeout: 150 * time.Millisecond})
	c := e.dial(nil)
	if ce := c.expectClose(1008); ce.Text != "hello timeout" {
		t.Fatalf("reason %q", ce.Text)
	}
	waitFor(t, "connection gone", func() bool { return e.hub.Stats().Connections == 0 })
}

func TestPingAndIdleTimeout(t *testing.T) {
	// A pong may be late by most of IdleTimeout (a loaded machine) before the
	// live client below is wrongly dropped.
	e := newEnv(t, Config{PingInterval: 50 * time.Millisecond, IdleTimeout: time.Second})
	// A client that ignores pings is closed.
	deaf := e.peer("deaf")
	deaf.ws.SetPingHandler(func(string) error { return nil })
	if ce := deaf.expectClose(1001); ce.Text != "idle timeout" {
		t.Fatalf("reason %q", ce.Text)
	}
	// A client that only answers pings (gorilla does while reading) and
	// sends nothing outlives the idle timeout several times over.
	live := e.peer("live")
	var pings atomic.Int32
	live.ws.SetPingHandler(func(data string) error {
		pings.Add(1)
		return live.ws.WriteControl(websocket.PongMessage, []byte(data), time.Now().Add(time.Second))
	})
	got := make(chan msg, 1)
	go func() {
		defer close(got)
		for {
			_, b, err := live.ws.ReadMessage()
			if err != nil {
				return
			}
			var m msg
			_ = json.Unmarshal(b, &m)
			got <- m
		}
	}()
	time.Sleep(3 * time.Second)
	live.send(msg{"v": 1, "type": "ping", "id": "still-there"})
	select {
	case m := <-got:
		if m.str("type") != proto.TypePong || m.str("id") != "still-there" {
			t.Fatalf("got %v", m)
		}
	case <-time.After(readTimeout):
		t.Fatal("no pong: the live client was dropped")
	}
	if pings.Load() < 5 {
		t.Fatalf("only %d pings", pings.Load())
	}
	live.ws.Close()
	<-got
}

func TestMessageTooBig(t *testing.T) {
	e := newEnv(t, Config{})
	a, b := e.peer("a"), e.peer("b")
	a.join("r")
	b.join("r")
	a.expect(proto.TypePeerJoined)
	// Just under the limit is fine.
	pad := strings.Repeat("x", proto.MaxMessageBytes-200)
	a.send(msg{"v": 1, "type": "signal", "to": b.id, "kind": "offer", "data": msg{"sdp": pad}})
	b.expect(proto.TypeSignal)
	a.send(msg{"v": 1, "type": "signal", "to": b.id, "kind": "offer", "data": msg{"sdp": pad + strings.Repeat("y", 400)}})
	a.expectClose(1009)
	// a's session waits for a resume; b is told it is away, and is served.
	if p := b.expect(proto.TypePeerUpdated).obj("peer"); p.str("id") != a.id || p["away"] != true {
		t.Fatalf("away notice %v", p)
	}
	b.sync()
}

func TestRateLimit(t *testing.T) {
	e := newEnv(t, Config{MessagesPerSecond: 5})
	e.hub.floodWindow = 400 * time.Millisecond
	c := e.peer("flood")
	limited := 0
	for i := range 15 { // burst is 10
		c.send(msg{"v": 1, "type": "ping", "id": string(rune('a' + i))})
	}
	for range 15 {
		m := c.read()
		if m.str("type") == proto.TypeError {
			if m.str("code") != proto.CodeRateLimited {
				t.Fatalf("got %v", m)
			}
			limited++
		}
	}
	if limited < 3 {
		t.Fatalf("only %d rate_limited", limited)
	}
	// Keep flooding: closed with 1008 after the flood window.
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range 200 {
			if c.ws.WriteMessage(1, []byte(`{"v":1,"type":"ping"}`)) != nil {
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
	}()
	ce := c.expectClose(1008)
	<-done
	if ce.Text != "message flood" {
		t.Fatalf("reason %q", ce.Text)
	}
	if e.hub.Stats().Errors[proto.CodeRateLimited] == 0 {
		t.Fatal("no stats")
	}
}

func TestRoomFull(t *testing.T) {
	e := newEnv(t, Config{RoomSize: 2})
	a, b, c := e.peer("a"), e.peer("b"), e.peer("c")
	a.join("r")
	b.join("r")
	c.send(msg{"v": 1, "type": "join", "id": "9", "room": "r"})
	c.expectError(proto.CodeRoomFull, "9")
	c.join("other") // still usable
	a.expect(proto.TypePeerJoined)
	a.sync()
}

func TestConnsPerIP(t *testing.T) {
	e := newEnv(t, Config{MaxConnsPerIP: 2})
	a := e.dial(nil)
	e.dial(nil)
	_, resp, err := e.tryDial(nil)
	if err == nil || resp == nil || resp.StatusCode != 429 {
		t.Fatalf("third socket: err %v resp %v, want HTTP 429", err, resp)
	}
	if e.hub.Stats().IPLimited != 1 {
		t.Fatalf("stats %+v", e.hub.Stats())
	}
	a.ws.Close()
	waitFor(t, "slot freed", func() bool {
		c, _, err := e.tryDial(nil)
		if err == nil {
			c.ws.Close()
		}
		return err == nil
	})
}
