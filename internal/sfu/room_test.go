package sfu

import (
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/pion/webrtc/v4"

	"github.com/rtcd/rtcd/signal/proto"
)

// TestRoomForwardsEveryone checks the whole life of a call: three
// participants receive each other's audio and video, a late fourth gets
// everyone's tracks (and its arrival asks every publisher for a keyframe),
// one leaving takes its tracks from the rest, who still get the others, and
// a fifth joining after that is received by everyone.
func TestRoomForwardsEveryone(t *testing.T) {
	s := newTestServer(t)
	names := []string{"a", "b", "c"}
	peers := map[string]*peer{}
	for _, n := range names {
		peers[n] = newPeer(t, s, n, nil)
	}
	others := func(self string, among []string) []string {
		var out []string
		for _, n := range among {
			if n != self {
				out = append(out, n)
			}
		}
		return out
	}
	for _, n := range names {
		peers[n].waitMedia(10, others(n, names)...)
		if got := peers[n].remoteTracks(); got != 4 {
			t.Fatalf("%s receives %d remote tracks, want 4", n, got)
		}
	}

	plis := map[string]int{}
	for _, n := range names {
		peers[n].mu.Lock()
		plis[n] = peers[n].plis
		peers[n].mu.Unlock()
	}
	peers["d"] = newPeer(t, s, "d", nil)
	all := append(names, "d")
	for _, n := range all {
		peers[n].waitMedia(10, others(n, all)...)
		if got := peers[n].remoteTracks(); got != 6 {
			t.Fatalf("%s receives %d remote tracks, want 6", n, got)
		}
	}
	for _, n := range names {
		peers[n].waitFor("keyframe request after d joined", func() bool { return peers[n].plis > plis[n] })
	}

	offers := map[string]int{}
	for _, n := range all {
		peers[n].mu.Lock()
		offers[n] = peers[n].offers
		peers[n].mu.Unlock()
	}
	if err := peers["b"].part.Close(); err != nil {
		t.Fatal(err)
	}
	rest := []string{"a", "c", "d"}
	for _, n := range rest {
		p := peers[n]
		p.waitFor("offer without b's tracks", func() bool {
			return p.offers > offers[n] && !strings.Contains(p.lastSDP, "a=msid:b ")
		})
		p.waitMedia(10, others(n, rest)...)
	}

	// The transceivers that carried b's tracks are free again: a newcomer's
	// tracks may reuse them, and must still arrive.
	peers["e"] = newPeer(t, s, "e", nil)
	rest = append(rest, "e")
	for _, n := range rest {
		peers[n].waitMedia(10, others(n, rest)...)
	}
	if err := peers["b"].part.HandleSignal(Signal{Kind: proto.KindCandidate, Data: json.RawMessage(`null`)}); err != nil {
		t.Fatalf("end of candidates after close: %v", err)
	}
}

// TestBadSignals checks that garbage from one client gets an error and
// leaves the negotiation and the others' media as they were.
func TestBadSignals(t *testing.T) {
	s := newTestServer(t)
	a := newPeer(t, s, "a", json.RawMessage(`{"type":"answer","sdp":"v=0\r\nnonsense"}`))
	b := newPeer(t, s, "b", json.RawMessage(`{"type":"answer","sdp":"`+
		`v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n"}`))
	a.waitMedia(10, "b")
	b.waitMedia(10, "a")
	for _, p := range []*peer{a, b} {
		p.mu.Lock()
		err := p.badErr
		p.mu.Unlock()
		if err == nil || !strings.Contains(err.Error(), "answer") {
			t.Errorf("%s: bad first answer: error %v, want one about the answer", p.name, err)
		}
	}

	bad := []Signal{
		{Kind: proto.KindAnswer, Data: json.RawMessage(`{"type":`)},
		{Kind: proto.KindAnswer, Data: json.RawMessage(`{"type":"offer","sdp":"v=0"}`)},
		{Kind: proto.KindAnswer, Data: json.RawMessage(`{"type":"answer","sdp":"nonsense"}`)},
		{Kind: proto.KindAnswer, Data: json.RawMessage(`[1,2]`)},
		{Kind: proto.KindCandidate, Data: json.RawMessage(`{"candidate":"garbage"}`)},
		{Kind: proto.KindCandidate, Data: json.RawMessage(`"x"`)},
		{Kind: proto.KindOffer, Data: json.RawMessage(`{"type":"offer","sdp":"v=0"}`)},
		{Kind: "bogus", Data: json.RawMessage(`{}`)},
		{Kind: "", Data: nil},
	}
	for _, s := range bad {
		if err := a.part.HandleSignal(s); err == nil {
			t.Errorf("HandleSignal(%s %s) = nil, want an error", s.Kind, s.Data)
		} else if !strings.Contains(err.Error(), "participant a") {
			t.Errorf("HandleSignal(%s %s) = %v, want it to name the participant", s.Kind, s.Data, err)
		}
	}
	a.waitMedia(10, "b")
	b.waitMedia(10, "a")
}

// TestCandidatesBeforeAnswer checks that candidates arriving before the
// answer are queued, and a bounded number of them.
func TestCandidatesBeforeAnswer(t *testing.T) {
	s := newTestServer(t)
	var mu sync.Mutex
	var offers int
	p, err := s.Join(testRoom, "x", func(s Signal) {
		mu.Lock()
		defer mu.Unlock()
		if s.Kind == proto.KindOffer {
			offers++
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	if offers != 1 {
		t.Errorf("Join sent %d offers, want 1", offers)
	}
	mu.Unlock()
	c, _ := json.Marshal(webrtc.ICECandidateInit{Candidate: "candidate:1 1 udp 2130706431 127.0.0.1 5000 typ host"})
	for i := range maxQueuedCandidates {
		if err := p.HandleSignal(Signal{Kind: proto.KindCandidate, Data: c}); err != nil {
			t.Fatalf("candidate %d before the answer: %v", i, err)
		}
	}
	if err := p.HandleSignal(Signal{Kind: proto.KindCandidate, Data: c}); err == nil {
		t.Fatal("candidate beyond the queue's bound accepted")
	}
	if _, err := s.Join(testRoom, "x", func(Signal) {}); !errors.Is(err, ErrDuplicate) {
		t.Fatalf("second join as x: %v, want ErrDuplicate", err)
	}
}

// TestCloseStopsSends checks that no send runs after Server.Close returns,
// both for a settled call and for one closed in the middle of negotiating,
// and that a closed server refuses joins and signals.
func TestCloseStopsSends(t *testing.T) {
	for _, settle := range []bool{true, false} {
		s := newTestServer(t)
		var mu sync.Mutex
		closed, late := false, 0
		var ps []*peer
		for _, n := range []string{"a", "b", "c"} {
			p := newPeer(t, s, n, nil)
			ps = append(ps, p)
		}
		// A participant without a client, whose offer stays outstanding.
		watch, err := s.Join(testRoom, "w", func(Signal) {
			mu.Lock()
			defer mu.Unlock()
			if closed {
				late++
			}
		})
		if err != nil {
			t.Fatal(err)
		}
		if settle {
			ps[0].waitMedia(10, "b", "c")
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		mu.Lock()
		closed = true
		mu.Unlock()
		counts := make([]int, len(ps))
		for i, p := range ps {
			p.mu.Lock()
			counts[i] = p.delivered
			p.mu.Unlock()
			p.close() // its candidates and answers now meet a closed room
		}
		if err := watch.HandleSignal(Signal{Kind: proto.KindCandidate,
			Data: json.RawMessage(`{"candidate":"candidate:1 1 udp 2130706431 127.0.0.1 5000 typ host"}`)}); !errors.Is(err, ErrClosed) {
			t.Errorf("candidate after close: %v, want ErrClosed", err)
		}
		if _, err := s.Join(testRoom, "late", func(Signal) {}); !errors.Is(err, ErrClosed) {
			t.Errorf("join after close: %v, want ErrClosed", err)
		}
		mu.Lock()
		if late != 0 {
			t.Errorf("settle=%v: send called %d times after Close returned", settle, late)
		}
		mu.Unlock()
		for i, p := range ps {
			p.mu.Lock()
			if n := p.delivered - counts[i]; n != 0 {
				t.Errorf("settle=%v: %s got %d signals after Close returned", settle, p.name, n)
			}
			p.mu.Unlock()
		}
	}
}
