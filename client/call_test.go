package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/rtcd/rtcd/internal/testharness"
)

// TestMain checks for leaked goroutines, except go-zero's process-wide ones
// (started by the in-process daemon's packages, never stopped).
func TestMain(m *testing.M) { testharness.VerifyTestMain(m) }

// callPair puts two relay-only peers with video in one room on url and runs
// a call between them, returning both sides' results.
func callPair(t *testing.T, url string, transports []string, messages int) [2]CallResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	room := fmt.Sprintf("call-%d", time.Now().UnixNano())
	var clients [2]*Client
	for i := range clients {
		c, err := Dial(ctx, Config{
			URL: url, Name: fmt.Sprintf("go-%d", i), RelayOnly: true, TURNTransports: transports, Video: true,
		})
		if err != nil {
			t.Fatalf("dial %d: %v", i, err)
		}
		t.Cleanup(func() { _ = c.Close() })
		clients[i] = c
	}
	if _, err := clients[0].Join(ctx, room); err != nil {
		t.Fatal(err)
	}
	if _, err := clients[1].Join(ctx, room); err != nil {
		t.Fatal(err)
	}
	var res [2]CallResult
	var errs [2]error
	var wg sync.WaitGroup
	for i := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res[i], errs[i] = RunCall(ctx, clients[i], CallOptions{Messages: messages, Size: 1000, MinRTP: 60,
				Logf: func(f string, a ...any) { t.Logf("peer %d: "+f, append([]any{i}, a...)...) }})
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("peer %d: %v", i, err)
		}
	}
	for i, r := range res {
		t.Logf("peer %d: path %s; data %d sent/%d received (sha256 ok), data RTT %s; RTP %d packets, %d lost (%.2f%%), connected after %s",
			i, r.Path, r.Sent, r.Received, r.DataRTT, r.Media.PacketsReceived, r.Media.PacketsLost,
			100*r.Media.LossRatio(), r.Connected.Round(time.Millisecond))
		if r.Path.LocalType != "relay" {
			t.Errorf("peer %d: local candidate %q, want relay", i, r.Path.LocalType)
		}
		if len(transports) == 1 && r.Path.RelayProtocol != transports[0] {
			t.Errorf("peer %d: relay protocol %q, want %q", i, r.Path.RelayProtocol, transports[0])
		}
		if r.Received != messages {
			t.Errorf("peer %d: received %d messages, want %d", i, r.Received, messages)
		}
	}
	return res
}

func TestCallFakeHub(t *testing.T) {
	hub := newFakeHub(t)
	for _, tr := range []string{TransportUDP, TransportTCP} {
		t.Run("turn-"+tr, func(t *testing.T) {
			callPair(t, hub.URL(), []string{tr}, 200)
		})
	}
	checkSignals(t, hub.routed())
}

// checkSignals checks what the Go peers sent each other in calls without
// glare or restarts: per pair, exactly one offer, from the peer that joined
// second, carrying its video, the audio it wants to receive and the data
// channel; one answer; and no candidate before the description it belongs
// to (pion gathers on its own goroutine; a candidate sent ahead of its
// offer is dropped by the other side).
func checkSignals(t *testing.T, sigs []fakeSignal) {
	t.Helper()
	type dir struct{ from, to string }
	sentDesc := map[dir]bool{}
	offers := map[[2]string]int{}
	for i, s := range sigs {
		d := dir{s.From, s.To}
		pair := [2]string{min(s.From, s.To), max(s.From, s.To)}
		switch s.Kind {
		case "offer", "answer":
			var desc struct{ Type, SDP string }
			if err := json.Unmarshal(s.Data, &desc); err != nil {
				t.Fatalf("signal %d: %v", i, err)
			}
			if s.Kind == "offer" {
				offers[pair]++
				for _, want := range []string{"m=video", "m=audio", "m=application", "a=sendrecv"} {
					if !strings.Contains(desc.SDP, want) {
						t.Errorf("signal %d: offer from %s lacks %q:\n%s", i, s.From, want, desc.SDP)
					}
				}
			}
			sentDesc[d] = true
		case "candidate":
			if !sentDesc[d] {
				t.Errorf("signal %d: candidate from %s to %s before any description", i, s.From, s.To)
			}
		}
	}
	if len(offers) == 0 {
		t.Fatal("no offers routed")
	}
	for pair, n := range offers {
		if n != 1 {
			t.Errorf("pair %v: %d offers, want 1 (no renegotiation)", pair, n)
		}
	}
}

func TestDialBadInput(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := Dial(ctx, Config{URL: "ftp://x"}); err == nil {
		t.Fatal("want error for bad scheme")
	}
	// Nothing listens here: the dial fails fast with a clear error.
	if _, err := Dial(ctx, Config{URL: "http://127.0.0.1:1", DialTimeout: time.Second}); err == nil {
		t.Fatal("want error for closed port")
	}
}

// testLogf is a Config.Logf that writes to the test log until the test
// ends; pion may still call back from its goroutines after that, when
// t.Logf would panic.
func testLogf(t *testing.T, prefix string) func(string, ...any) {
	var mu sync.Mutex
	done := false
	t.Cleanup(func() {
		mu.Lock()
		done = true
		mu.Unlock()
	})
	return func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		if !done {
			t.Logf(prefix+format, args...)
		}
	}
}

// pairCall is two relay-only clients of a fake hub in one room.
type pairCall struct {
	t    *testing.T
	ctx  context.Context
	hub  *fakeHub
	a, b *Client // a joined first
}

func newPairCall(t *testing.T, room string, beforeOffer func(p *pairCall)) *pairCall {
	t.Helper()
	hub := newFakeHub(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	p := &pairCall{t: t, ctx: ctx, hub: hub}
	for i, c := range []**Client{&p.a, &p.b} {
		cl, err := Dial(ctx, Config{URL: hub.URL(), RelayOnly: true, Logf: testLogf(t, string(rune('a'+i))+": ")})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = cl.Close() })
		*c = cl
	}
	for _, c := range []*Client{p.a, p.b} {
		if _, err := c.Join(ctx, room); err != nil {
			t.Fatal(err)
		}
	}
	if beforeOffer != nil {
		beforeOffer(p)
	}
	p.waitFor(p.a, EventDataOpen)
	p.waitFor(p.b, EventDataOpen)
	return p
}

// waitFor consumes c's events until one of kind arrives.
func (p *pairCall) waitFor(c *Client, kind EventKind) Event {
	p.t.Helper()
	for {
		select {
		case ev := <-c.Events():
			p.t.Logf("%s: event %s peer=%s state=%s err=%v", c.PeerID(), ev.Kind, ev.Peer, ev.State, ev.Err)
			if ev.Kind == kind {
				return ev
			}
		case <-p.ctx.Done():
			p.t.Fatalf("timeout waiting for %s", kind)
		}
	}
}

// exchange checks that data from a reaches b.
func (p *pairCall) exchange() {
	p.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if p.a.Send(p.b.PeerID(), []byte("x")) == nil {
			select {
			case ev := <-p.b.Events():
				p.t.Logf("b: event %s peer=%s state=%s err=%v", ev.Kind, ev.Peer, ev.State, ev.Err)
				if ev.Kind == EventData && string(ev.Data) == "x" {
					return
				}
			case <-time.After(200 * time.Millisecond):
			}
		} else {
			time.Sleep(100 * time.Millisecond)
		}
	}
	p.t.Fatal("no data from a to b")
}

// TestGlareAndRestart makes both sides offer at once when the second peer
// joins (the collision perfect negotiation must settle), then has both sides
// start an ICE restart at the same time, and checks data still flows. Under
// CPU starvation it used to stall in "connecting" about one run in five:
// candidates overtook their offer, and the polite side's renegotiation
// offer collided with the restart (see the peer type comment). The
// negotiation trace is in the test log.
func TestGlareAndRestart(t *testing.T) {
	p := newPairCall(t, "glare", func(p *pairCall) {
		// a normally waits for b's offer; make it offer too. First wait
		// until a has the server's peer-joined for b: a peer created before
		// that gets the default polite flag for strangers, and if both sides
		// end up polite, each answers an offer the other has dropped. (The
		// real server always sends peer-joined before any signal, so only
		// this forced offer can get ahead of it.)
		for deadline := time.Now().Add(10 * time.Second); ; {
			p.a.mu.Lock()
			_, known := p.a.infos[p.b.PeerID()]
			p.a.mu.Unlock()
			if known {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("a never heard of b")
			}
			time.Sleep(5 * time.Millisecond)
		}
		p.a.getPeer(p.b.PeerID(), true)
	})
	if err := p.a.RestartICE(p.b.PeerID()); err != nil {
		t.Fatal(err)
	}
	if err := p.b.RestartICE(p.a.PeerID()); err != nil {
		t.Fatal(err)
	}
	// Both come back to connected (pion reports connecting while the
	// restarted ICE checks run), and data flows.
	p.waitFor(p.a, EventConnected)
	p.waitFor(p.b, EventConnected)
	p.exchange()
}

// TestResumeKeepsTheCall: a dropped signaling socket is resumed with the
// same peer id while the call goes on.
func TestResumeKeepsTheCall(t *testing.T) {
	p := newPairCall(t, "resume", nil)
	p.exchange()
	aID := p.a.PeerID()
	p.hub.drop(aID)
	p.waitFor(p.a, EventSignalingLost)
	p.waitFor(p.a, EventResumed)
	if p.a.PeerID() != aID {
		t.Fatalf("peer id changed on resume: %s -> %s", aID, p.a.PeerID())
	}
	if _, err := p.a.Ping(p.ctx); err != nil {
		t.Fatalf("ping after resume: %v", err)
	}
	if err := p.a.RefreshICE(p.ctx); err != nil {
		t.Fatalf("ice refresh after resume: %v", err)
	}
	p.exchange()
}

// TestBadServerMessages: garbage from the server is reported as an event and
// the client keeps working.
func TestBadServerMessages(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		up := websocket.Upgrader{}
		ws, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer ws.Close()
		var m map[string]any
		if ws.ReadJSON(&m) != nil {
			return
		}
		_ = ws.WriteJSON(map[string]any{"v": 1, "type": "hello", "id": m["id"], "peerId": "p_1", "resume": "r",
			"iceServers": []map[string]any{{"urls": "stun:127.0.0.1:9"}}})
		_ = ws.WriteMessage(websocket.TextMessage, []byte("{not json"))
		_ = ws.WriteJSON(map[string]any{"v": 1, "type": "no-such-type"})
		_ = ws.WriteJSON(map[string]any{"v": 1, "type": "signal", "from": "p_x", "kind": "offer", "data": "garbage"})
		for {
			if ws.ReadJSON(&m) != nil {
				return
			}
			if m["type"] == "ping" {
				_ = ws.WriteJSON(map[string]any{"v": 1, "type": "pong", "id": m["id"]})
			}
			if m["type"] == "join" {
				_ = ws.WriteJSON(map[string]any{"v": 1, "type": "error", "id": m["id"], "code": "room_full", "message": "full"})
			}
		}
	}))
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := Dial(ctx, Config{URL: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	errs := 0
	for errs < 2 {
		select {
		case ev := <-c.Events():
			if ev.Kind == EventError {
				t.Logf("reported: %v", ev.Err)
				errs++
			}
		case <-ctx.Done():
			t.Fatalf("want errors for the bad message and the bad offer, got %d", errs)
		}
	}
	if _, err := c.Ping(ctx); err != nil {
		t.Fatalf("ping after garbage: %v", err)
	}
	var se *ServerError
	if _, err := c.Join(ctx, "r"); !errors.As(err, &se) || se.Code != "room_full" {
		t.Fatalf("join: want room_full server error, got %v", err)
	}
}
