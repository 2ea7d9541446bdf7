package signal

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/rtcd/rtcd/auth"

	"github.com/rtcd/rtcd/signal/proto"
)

func TestSlowReaderIsDisconnected(t *testing.T) {
	// The queue overflows long before a write times out, even for fast, the
	// test's own reader, on a loaded machine.
	e := newEnv(t, Config{QueueSize: 16, WriteTimeout: 5 * time.Second, MessagesPerSecond: 100000})
	a, slow, fast := e.peer("a"), e.peer("slow"), e.peer("fast")
	a.join("r")
	slow.join("r")
	fast.join("r")
	a.expect(proto.TypePeerJoined)
	a.expect(proto.TypePeerJoined)
	slow.expect(proto.TypePeerJoined)
	// slow stops reading. a keeps signalling both; fast must keep getting
	// every message in order while slow's queue and socket fill up.
	pad := strings.Repeat("s", 32<<10)
	sent := 0
	gone, fastSawLeft := false, false
	for i := 0; i < 2000 && !gone; i++ {
		a.send(msg{"v": 1, "type": "signal", "to": slow.id, "kind": "offer", "data": msg{"sdp": pad}})
		a.send(msg{"v": 1, "type": "signal", "to": fast.id, "kind": "candidate", "data": msg{"n": sent}})
		m := fast.read()
		if m.str("type") == proto.TypePeerLeft && m.obj("peer").str("id") == slow.id && !fastSawLeft {
			fastSawLeft = true
			m = fast.read()
		}
		if m.str("type") != proto.TypeSignal || m.obj("data")["n"] != float64(sent) {
			t.Fatalf("fast got %v, want signal %d", m, sent)
		}
		sent++
		if e.hub.Stats().SlowConsumers > 0 {
			gone = true
		}
	}
	if !gone {
		t.Fatalf("slow consumer still connected after %d messages", sent)
	}
	t.Logf("slow consumer cut after %d messages", sent)
	// a learns that slow is gone (possibly after a few unknown_peer errors
	// for signals sent in between); fast is still served.
	for {
		m := a.read()
		if m.str("type") == proto.TypePeerLeft {
			if m.obj("peer").str("id") != slow.id {
				t.Fatalf("peer-left %v", m)
			}
			break
		}
		if m.str("type") != proto.TypeError || m.str("code") != proto.CodeUnknownPeer {
			t.Fatalf("got %v", m)
		}
	}
	a.send(msg{"v": 1, "type": "signal", "to": fast.id, "kind": "offer", "data": msg{}})
	if !fastSawLeft {
		fast.expect(proto.TypePeerLeft)
	}
	fast.expect(proto.TypeSignal)
	waitFor(t, "slow socket closed", func() bool { return e.hub.Stats().Connections == 2 })
}

func TestResume(t *testing.T) {
	e := newEnv(t, Config{})
	a, b := e.peer("a"), e.peer("b")
	a.join("r")
	b.join("r")
	a.expect(proto.TypePeerJoined)
	// a's network drops: no close frame.
	a.ws.NetConn().Close()
	waitFor(t, "a detached", func() bool { return e.hub.Stats().Connections == 1 })
	// b is told a is away.
	if p := b.expect(proto.TypePeerUpdated).obj("peer"); p.str("id") != a.id || p["away"] != true {
		t.Fatalf("away notice %v", p)
	}
	// b signals a while it is away, and changes state (presence is not queued).
	b.send(msg{"v": 1, "type": "signal", "to": a.id, "kind": "offer", "data": msg{"n": 1}})
	b.send(msg{"v": 1, "type": "update", "state": msg{"video": true}})
	b.send(msg{"v": 1, "type": "signal", "to": a.id, "kind": "candidate", "data": msg{"n": 2}})
	b.sync()

	a2 := e.dial(nil)
	a2.send(msg{"v": 1, "type": "hello", "id": "r", "resume": a.resume})
	h := a2.expect(proto.TypeHello)
	if h["resumed"] != true || h.str("peerId") != a.id || h.str("room") != "r" || h.str("id") != "r" {
		t.Fatalf("resume reply %v", h)
	}
	if h.str("resume") == a.resume || h.str("resume") == "" {
		t.Fatal("resume token not rotated")
	}
	peers := h.list("peers")
	if len(peers) != 1 || peers[0].str("id") != b.id || peers[0].obj("state")["video"] != true || peers[0]["polite"] != politeFor(a.id, b.id) {
		t.Fatalf("peers %v", peers)
	}
	if len(h.list("iceServers")) != 2 {
		t.Fatalf("no fresh ice servers: %v", h)
	}
	for n := 1; n <= 2; n++ {
		if s := a2.expect(proto.TypeSignal); s.obj("data")["n"] != float64(n) || s.str("from") != b.id {
			t.Fatalf("queued signal %v", s)
		}
	}
	a2.sync()
	// b saw no leave or join, only that a is back.
	if p := b.expect(proto.TypePeerUpdated).obj("peer"); p.str("id") != a.id || p["away"] != nil {
		t.Fatalf("back notice %v", p)
	}
	b.sync()
	// The resumed session works both ways.
	a2.send(msg{"v": 1, "type": "signal", "to": b.id, "kind": "answer", "data": msg{}})
	if s := b.expect(proto.TypeSignal); s.str("from") != a.id {
		t.Fatalf("signal %v", s)
	}
	// The old token is spent.
	x := e.dial(nil)
	x.send(msg{"v": 1, "type": "hello", "id": "o", "resume": a.resume})
	x.expectError(proto.CodeNoSuchSession, "o")
	x.hello("fresh") // a plain hello still works on that socket
}

func TestResumeReplacesOpenSocket(t *testing.T) {
	e := newEnv(t, Config{})
	a, b := e.peer("a"), e.peer("b")
	a.join("r")
	b.join("r")
	a.expect(proto.TypePeerJoined)
	a2 := e.dial(nil)
	a2.send(msg{"v": 1, "type": "hello", "resume": a.resume})
	if h := a2.expect(proto.TypeHello); h.str("peerId") != a.id {
		t.Fatalf("reply %v", h)
	}
	if ce := a.expectClose(1008); ce.Text != "replaced" {
		t.Fatalf("reason %q", ce.Text)
	}
	b.sync()
	b.send(msg{"v": 1, "type": "signal", "to": a.id, "kind": "offer", "data": msg{}})
	a2.expect(proto.TypeSignal)
}

func TestResumeWindowExpires(t *testing.T) {
	e := newEnv(t, Config{ResumeWindow: 150 * time.Millisecond})
	a, b := e.peer("a"), e.peer("b")
	a.join("r")
	b.join("r")
	a.expect(proto.TypePeerJoined)
	a.ws.NetConn().Close()
	start := time.Now()
	if p := b.expect(proto.TypePeerUpdated).obj("peer"); p["away"] != true {
		t.Fatalf("away notice %v", p)
	}
	if pl := b.expect(proto.TypePeerLeft).obj("peer"); pl.str("id") != a.id {
		t.Fatalf("peer-left %v", pl)
	}
	if time.Since(start) < 100*time.Millisecond {
		t.Fatal("peer-left before the resume window")
	}
	c := e.dial(nil)
	c.send(msg{"v": 1, "type": "hello", "id": "1", "resume": a.resume})
	c.expectError(proto.CodeNoSuchSession, "1")
	if e.hub.Stats().Sessions != 1 {
		t.Fatalf("stats %+v", e.hub.Stats())
	}
}

func TestNormalCloseEndsSessionAtOnce(t *testing.T) {
	e := newEnv(t, Config{})
	a, b := e.peer("a"), e.peer("b")
	a.join("r")
	b.join("r")
	a.expect(proto.TypePeerJoined)
	_ = a.ws.WriteControl(8, []byte{0x03, 0xe8}, time.Now().Add(time.Second)) // 1000
	if pl := b.expect(proto.TypePeerLeft).obj("peer"); pl.str("id") != a.id {
		t.Fatalf("peer-left %v", pl)
	}
}

func TestTwoTabsSameUser(t *testing.T) {
	e := newEnv(t, Config{Mode: ModeToken})
	tok := e.token("r", "alice", time.Hour)
	var tabs []*peer
	for range 2 {
		c := e.dial(nil)
		c.send(msg{"v": 1, "type": "hello", "id": "h", "token": tok})
		h := c.expect(proto.TypeHello)
		if u := h.list("iceServers")[1].str("username"); turnLabel(t, e.issuer, u) != "alice" {
			t.Fatalf("TURN username %q is not for the token's user", u)
		}
		tabs = append(tabs, &peer{client: c, id: h.str("peerId")})
	}
	if tabs[0].id == tabs[1].id {
		t.Fatal("two tabs share a peer id")
	}
	tabs[0].join("r")
	tabs[1].join("r")
	tabs[0].expect(proto.TypePeerJoined)
	tabs[0].send(msg{"v": 1, "type": "signal", "to": tabs[1].id, "kind": "offer", "data": msg{}})
	tabs[1].expect(proto.TypeSignal)
	tabs[1].send(msg{"v": 1, "type": "signal", "to": tabs[0].id, "kind": "answer", "data": msg{}})
	tabs[0].expect(proto.TypeSignal)
}

func TestTokenMode(t *testing.T) {
	e := newEnv(t, Config{Mode: ModeToken})
	otherKey := func() string {
		s := e.token("r", "mallory", time.Hour)
		i := strings.LastIndexByte(s, '.')
		return s[:i+1] + strings.Repeat("A", len(s)-i-1) // wrong signature
	}()
	tests := []struct {
		name     string
		token    string
		helloErr string
		room     string
		joinErr  string
	}{
		{"valid", e.token("r", "u1", time.Hour), "", "r", ""},
		{"wildcard room", e.token("*", "u2", time.Hour), "", "any-room", ""},
		{"wrong room", e.token("r", "u3", time.Hour), "", "other", proto.CodeForbidden},
		{"expired", e.token("r", "u4", -time.Minute), proto.CodeTokenExpired, "", ""},
		{"wrong signature", otherKey, proto.CodeUnauthorized, "", ""},
		{"garbage", "not.a.jwt", proto.CodeUnauthorized, "", ""},
		{"missing", "", proto.CodeUnauthorized, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e.t = t
			c := e.dial(nil)
			c.send(msg{"v": 1, "type": "hello", "id": "h", "token": tt.token})
			if tt.helloErr != "" {
				c.expectError(tt.helloErr, "h")
				// Still open: may retry.
				c.send(msg{"v": 1, "type": "join", "id": "j", "room": "r"})
				c.expectError(proto.CodeHelloRequired, "j")
				return
			}
			c.expect(proto.TypeHello)
			c.send(msg{"v": 1, "type": "join", "id": "j", "room": tt.room})
			if tt.joinErr != "" {
				c.expectError(tt.joinErr, "j")
				return
			}
			c.expect(proto.TypeJoined)
		})
	}
	e.t = t
	if st := e.hub.Stats(); st.AuthFailures != 4 || st.Errors[proto.CodeForbidden] != 1 {
		t.Fatalf("stats %+v", st)
	}
}

// TestAuthThrottle: more than authFailMax failures from one address refuse
// further failures from it (throttled, close 1008), while valid credentials
// from the same address, a shared NAT, still get in.
func TestAuthThrottle(t *testing.T) {
	e := newEnv(t, Config{Mode: ModeToken})
	c := e.dial(nil)
	for range authFailMax + 1 {
		c.send(msg{"v": 1, "type": "hello", "token": "bad"})
		c.expectError(proto.CodeUnauthorized, "")
	}
	// A valid token on the same socket is verified and joins.
	c.send(msg{"v": 1, "type": "hello", "id": "h", "token": e.token("r", "u", time.Hour)})
	c.expect(proto.TypeHello)
	c.join("r")
	// Another invalid one from the address is throttled and its socket closed.
	d := e.dial(nil)
	d.send(msg{"v": 1, "type": "hello", "id": "t", "token": "bad"})
	d.expectError(proto.CodeThrottled, "t")
	d.expectClose(1008)
	// An expired one too: it fails the check like a forged one.
	x := e.dial(nil)
	x.send(msg{"v": 1, "type": "hello", "token": e.token("r", "u", -time.Minute)})
	x.expectError(proto.CodeThrottled, "")
	x.expectClose(1008)
	// A new socket with a valid token still joins.
	v := e.dial(nil)
	v.send(msg{"v": 1, "type": "hello", "id": "h", "token": e.token("r", "w", time.Hour)})
	v.expect(proto.TypeHello)
	v.join("r")
	// The HTTP API alike: valid bearer 200, invalid 429.
	for _, tt := range []struct {
		bearer string
		status int
	}{{e.token("r", "u", time.Hour), 200}, {"bad", 429}, {"", 429}} {
		req, _ := http.NewRequest("GET", e.srv.URL+PathICEServers, nil)
		if tt.bearer != "" {
			req.Header.Set("Authorization", "Bearer "+tt.bearer)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tt.status {
			t.Fatalf("API with bearer %q: status %d, want %d", tt.bearer, resp.StatusCode, tt.status)
		}
	}
	if st := e.hub.Stats(); st.AuthFailures != authFailMax+1+2+2 {
		t.Fatalf("auth failures %d", st.AuthFailures)
	}

	// Guessing resume tokens counts too (open mode); a plain hello and a
	// real resume token still work from the throttled address.
	o := newEnv(t, Config{})
	p := o.peer("p")
	g := o.dial(nil)
	for range authFailMax + 1 {
		g.send(msg{"v": 1, "type": "hello", "resume": "r_guess"})
		g.expectError(proto.CodeNoSuchSession, "")
	}
	g.send(msg{"v": 1, "type": "hello", "resume": "r_guess"})
	g.expectError(proto.CodeThrottled, "")
	g.expectClose(1008)
	o.dial(nil).hello("plain")
	r := o.dial(nil)
	r.send(msg{"v": 1, "type": "hello", "id": "h", "resume": p.resume})
	if m := r.expect(proto.TypeHello); m["resumed"] != true || m.str("peerId") != p.id {
		t.Fatalf("resume from a throttled address: %v", m)
	}
}

func TestThrottleWindow(t *testing.T) {
	now := time.Unix(1000, 0)
	th := newThrottle(2, time.Minute)
	th.now = func() time.Time { return now }
	for range 3 {
		th.fail("k")
	}
	if !th.blocked("k") || th.blocked("other") {
		t.Fatal("blocked")
	}
	now = now.Add(2 * time.Minute)
	if th.blocked("k") {
		t.Fatal("still blocked after the window")
	}
}

func TestOrigin(t *testing.T) {
	e := newEnv(t, Config{AllowOrigins: []string{"https://app.example.com"}})
	host := strings.TrimPrefix(e.srv.URL, "http://")
	tests := []struct {
		name   string
		origin string
		ok     bool
	}{
		{"no origin (non-browser)", "", true},
		{"same host", "http://" + host, true},
		{"same host other case", "http://" + strings.ToUpper(host[:1]) + host[1:], true},
		{"allow-listed", "https://app.example.com", true},
		{"allow-listed with slash", "https://APP.example.com/", true},
		{"other site", "https://evil.example", false},
		{"same host other port", "http://127.0.0.1:1", false},
		{"scheme-confused allow-list", "http://app.example.com", false},
		{"null", "null", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e.t = t
			hdr := http.Header{}
			if tt.origin != "" {
				hdr.Set("Origin", tt.origin)
			}
			c, resp, err := e.tryDial(hdr)
			if tt.ok {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				c.hello("x")
				c.ws.Close()
				return
			}
			if err == nil || resp == nil || resp.StatusCode != 403 {
				t.Fatalf("err %v resp %v, want 403", err, resp)
			}
		})
	}
}

func TestCredentialRefresh(t *testing.T) {
	e := newEnv(t, Config{}, withTTL(time.Second))
	c := e.dial(nil)
	start := time.Now()
	c.hello("x")
	// Pushed at 80 % of the TTL.
	m := c.expect(proto.TypeICE)
	if el := time.Since(start); el < 500*time.Millisecond {
		t.Fatalf("pushed after %v, want about 800ms", el)
	}
	if m["id"] != nil || m["iceTTL"] != float64(1) || len(m.list("iceServers")) != 2 {
		t.Fatalf("ice %v", m)
	}
	u, p := m.list("iceServers")[1].str("username"), m.list("iceServers")[1].str("credential")
	if err := e.issuer.Verify(u, p); err != nil {
		t.Fatalf("refreshed credential: %v", err)
	}
	// On request, with the id echoed.
	c.send(msg{"v": 1, "type": "ice", "id": "9"})
	if m := c.expect(proto.TypeICE); m.str("id") != "9" || m["iceExpires"] == nil {
		t.Fatalf("ice %v", m)
	}
	// And again at the next 80 %.
	c.expect(proto.TypeICE)
}

func TestShutdown(t *testing.T) {
	e := newEnv(t, Config{})
	a, b := e.peer("a"), e.peer("b")
	a.join("r")
	b.join("r")
	a.expect(proto.TypePeerJoined)
	pre := e.dial(nil) // has not said hello
	waitFor(t, "3 sockets", func() bool { return e.hub.Stats().Connections == 3 })
	done := make(chan struct{})
	start := time.Now()
	go func() {
		e.hub.Stop()
		close(done)
	}()
	for _, p := range []*peer{a, b} {
		bye := p.expect(proto.TypeBye)
		if bye.str("reason") != "server-restart" || bye["reconnect"] != true || bye["retryAfterMs"] != float64(1000) {
			t.Fatalf("bye %v", bye)
		}
		p.expectClose(1001)
	}
	pre.expectClose(1001)
	<-done
	if el := time.Since(start); el > 5*time.Second {
		t.Fatalf("Stop took %v", el)
	}
	if st := e.hub.Stats(); st.Connections != 0 || st.Sessions != 0 || st.Rooms != 0 {
		t.Fatalf("after Stop: %+v", st)
	}
	// New sockets are refused while stopped.
	if _, resp, err := e.tryDial(nil); err == nil || resp == nil || resp.StatusCode != 503 {
		t.Fatalf("dial after stop: %v %v", err, resp)
	}
}

func TestShutdownEndsWaitingSessions(t *testing.T) {
	e := newEnv(t, Config{})
	a := e.peer("a")
	a.join("r")
	a.ws.NetConn().Close()
	waitFor(t, "a detached", func() bool { return e.hub.Stats().Connections == 0 })
	e.hub.Stop()
	if st := e.hub.Stats(); st.Sessions != 0 || st.Rooms != 0 || st.Peers != 0 {
		t.Fatalf("after Stop: %+v", st)
	}
}

func TestShutdownCutsUnresponsiveClients(t *testing.T) {
	e := newEnv(t, Config{})
	a := e.peer("a") // never reads again: it will not answer the close
	_ = a
	start := time.Now()
	e.hub.Stop()
	if el := time.Since(start); el > 5*time.Second {
		t.Fatalf("Stop took %v", el)
	}
}

// TestTokenNameClaimWins: a display name in the token is the one others see,
// whatever the client asks for in hello, so a token holder cannot pose as
// someone else.
func TestTokenNameClaimWins(t *testing.T) {
	e := newEnv(t, Config{Mode: ModeToken})
	tok, err := e.tokens.Sign(auth.Claims{Room: "r", User: "u1", Name: "Dr. Real", Expires: time.Now().Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	a := e.dial(nil)
	a.send(msg{"v": 1, "type": "hello", "token": tok, "name": "The CEO"})
	a.expect(proto.TypeHello)
	a.send(msg{"v": 1, "type": "join", "room": "r"})
	a.expect(proto.TypeJoined)
	b := e.dial(nil)
	b.send(msg{"v": 1, "type": "hello", "token": e.token("r", "u2", time.Hour), "name": "Bob"})
	b.expect(proto.TypeHello)
	b.send(msg{"v": 1, "type": "join", "room": "r"})
	joined := b.expect(proto.TypeJoined)
	peers, _ := joined["peers"].([]any)
	if len(peers) != 1 {
		t.Fatalf("peers %v", joined["peers"])
	}
	if name := peers[0].(map[string]any)["name"]; name != "Dr. Real" {
		t.Fatalf("name %v, want the token's", name)
	}
}

// peerAs says hello with a client id.
func (e *env) peerAs(name, clientID string) *peer {
	e.t.Helper()
	c := e.dial(nil)
	c.send(msg{"v": 1, "type": "hello", "id": "h", "name": name, "client": clientID})
	h := c.expect(proto.TypeHello)
	return &peer{client: c, id: h.str("peerId"), resume: h.str("resume")}
}

// TestRejoinReplacesOwnGhost: a browser whose page died comes back with a
// new session; its join ends its own away session at once (peer-left to
// the others, the place in a full room freed), while another browser's away
// session and a live session of the same browser stay.
func TestRejoinReplacesOwnGhost(t *testing.T) {
	e := newEnv(t, Config{RoomSize: 3})
	a := e.peerAs("Ann", "browser-a")
	b := e.peerAs("Bob", "browser-b")
	c := e.peerAs("Cy", "browser-c")
	a.join("r")
	b.join("r")
	c.join("r")
	b.expect(proto.TypePeerJoined)
	// Ann's browser dies; so does Cy's.
	a.ws.NetConn().Close()
	c.ws.NetConn().Close()
	for seen := map[string]bool{}; len(seen) < 2; {
		p := b.expect(proto.TypePeerUpdated).obj("peer")
		if p["away"] != true {
			t.Fatalf("away notice %v", p)
		}
		seen[p.str("id")] = true
	}
	// Ann opens the page again: the room is full of her own ghost and Cy's,
	// but her join replaces hers.
	a2 := e.peerAs("Ann", "browser-a")
	j := a2.join("r")
	for _, p := range j.list("peers") {
		if p.str("id") == a.id {
			t.Fatalf("the new session sees its own ghost: %v", j)
		}
		if p.str("id") == c.id && p["away"] != true {
			t.Fatalf("Cy listed without away: %v", p)
		}
	}
	if pl := b.expect(proto.TypePeerLeft).obj("peer"); pl.str("id") != a.id {
		t.Fatalf("peer-left %v, want the ghost %s", pl, a.id)
	}
	// Ann was the host: Bob, who came next, is now.
	if ru := b.expect(proto.TypeRoomUpdated); ru["host"] != true {
		t.Fatalf("room-updated %v, want Bob host", ru)
	}
	if pj := b.expect(proto.TypePeerJoined).obj("peer"); pj.str("id") != a2.id {
		t.Fatalf("peer-joined %v", pj)
	}
	// A second live tab of Bob's browser does not replace Bob.
	b2 := e.peerAs("Bob", "browser-b")
	b2.send(msg{"v": 1, "type": "join", "id": "j", "room": "r"})
	b2.expectError(proto.CodeRoomFull, "j") // Bob, Ann and Cy's ghost
	b.sync()
}

// TestHelloClientValidated: a client id that is too long or has other
// characters is refused with bad_request.
func TestHelloClientValidated(t *testing.T) {
	e := newEnv(t, Config{})
	for _, id := range []string{strings.Repeat("x", 65), "a b", "ünï"} {
		c := e.dial(nil)
		c.send(msg{"v": 1, "type": "hello", "id": "h", "client": id})
		c.expectError(proto.CodeBadRequest, "h")
	}
}

// TestUnicodeRooms: rooms may be named in any script, and the name is
// normalized (NFC), so both spellings of "café" meet in one room.
func TestUnicodeRooms(t *testing.T) {
	e := newEnv(t, Config{})
	a, b := e.peer("a"), e.peer("b")
	composed, decomposed := "caf\u00e9", "cafe\u0301"
	a.join(composed)
	b.send(msg{"v": 1, "type": "join", "id": "j", "room": decomposed})
	if m := b.expect(proto.TypeJoined); m.str("room") != composed || len(m.list("peers")) != 1 {
		t.Fatalf("joined %v", m)
	}
	for _, room := range []string{"会議室", "встреча-1", "Ωmega_2.0"} {
		c := e.peer("c")
		c.join(room)
	}
	for _, bad := range []string{"bad room", "..", "\u0301x", "a/b", strings.Repeat("é", 65), "😀"} {
		c := e.peer("c")
		c.send(msg{"v": 1, "type": "join", "id": "j", "room": bad})
		c.expectError(proto.CodeBadRequest, "j")
	}
}
