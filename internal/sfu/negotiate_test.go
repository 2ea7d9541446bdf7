package sfu

import (
	"encoding/json"
	"errors"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/pion/webrtc/v4"

	"github.com/rtcd/rtcd/signal/proto"
)

// splitSDP cuts a description into its session part and its media
// sections, each beginning with "m=".
func splitSDP(sdp string) (string, []string) {
	parts := strings.Split(sdp, "\r\nm=")
	var sections []string
	for i, p := range parts[1:] {
		if i < len(parts)-2 {
			p += "\r\n"
		}
		sections = append(sections, "m="+p)
	}
	return parts[0] + "\r\n", sections
}

// TestClientOffers checks that clients publish by offering: the first one
// in an empty room gets no offer from the server, only an answer to its
// own, and both receive each other.
func TestClientOffers(t *testing.T) {
	s := newTestServer(t)
	a := newPeer(t, s, "a", peerOpts{})
	a.waitFor("answer to the first offer", func() bool { return a.answers > 0 })
	b := newPeer(t, s, "b", peerOpts{})
	a.waitMedia(10, "b")
	b.waitMedia(10, "a")
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.rollbacks != 0 {
		t.Errorf("a rolled back %d offers, want none", a.rollbacks)
	}
}

// TestJoinWithoutGlare checks that a publisher joining a room with
// publishers meets no offer of the server's on its way: the server offers
// what the room publishes only after answering the client's first offer,
// so a browser never rolls back its first offer (which would drop the
// negotiated chat channel's transport in Chromium).
func TestJoinWithoutGlare(t *testing.T) {
	s := newTestServer(t)
	a := newPeer(t, s, "a", peerOpts{})
	x := newPeer(t, s, "x", peerOpts{recvOnly: true})
	x.waitMedia(10, "a")
	b := newPeer(t, s, "b", peerOpts{offerFirst: true})
	b.waitMedia(10, "a")
	a.waitMedia(10, "b")
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.rollbacks != 0 || b.offers == 0 {
		t.Errorf("b rolled back %d offers and answered %d of the server's, want none rolled back and one answered",
			b.rollbacks, b.offers)
	}
}

// TestGlareIgnored checks the impolite side alone: the server offers
// nothing before the client's first signal, and a client offer while the
// server's offer is outstanding returns nil and sends nothing.
func TestGlareIgnored(t *testing.T) {
	s := newTestServer(t)
	newPeer(t, s, "a", peerOpts{})
	x := newPeer(t, s, "x", peerOpts{recvOnly: true})
	x.waitMedia(10, "a")
	var mu sync.Mutex
	var got []string
	w, err := s.Join(testRoom, "w", func(sig Signal) {
		mu.Lock()
		defer mu.Unlock()
		got = append(got, sig.Kind)
	})
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	if len(got) != 0 {
		t.Fatalf("Join sent %v before the client signalled, want nothing", got)
	}
	mu.Unlock()
	if err := w.HandleSignal(layersSig(nil)); err != nil {
		t.Fatal(err)
	}
	// The offer is sent before HandleSignal returns; the candidates its
	// gathering finds may follow at any time.
	mu.Lock()
	if len(got) == 0 || got[0] != proto.KindOffer || slices.ContainsFunc(got[1:], func(k string) bool { return k != proto.KindCandidate }) {
		t.Fatalf("the first signal of a client in a room with a publisher brought %v, want one offer, then candidates", got)
	}
	mu.Unlock()
	if err := w.HandleSignal(clientOffer(t)); err != nil {
		t.Fatalf("colliding client offer: %v, want it ignored", err)
	}
	mu.Lock()
	defer mu.Unlock()
	for _, k := range got[1:] {
		if k != proto.KindCandidate {
			t.Errorf("the server sent %s after a colliding offer, want nothing but candidates", k)
		}
	}
}

// TestReceiveOnly checks a client that publishes nothing and waits for the
// server's offers.
func TestReceiveOnly(t *testing.T) {
	s := newTestServer(t)
	a := newPeer(t, s, "a", peerOpts{})
	newPeer(t, s, "b", peerOpts{})
	c := newPeer(t, s, "c", peerOpts{recvOnly: true})
	c.waitMedia(10, "a", "b")
	a.waitMedia(10, "b")
	if n := a.remoteTracks(); n != 2 {
		t.Errorf("a receives %d tracks, want b's 2 (c publishes none)", n)
	}
}

// TestBadOffers checks that offers pion would apply in part, or that would
// make the server build receivers without bound, get an error and leave the
// call as it was.
func TestBadOffers(t *testing.T) {
	s := newTestServer(t)
	a := newPeer(t, s, "a", peerOpts{})
	b := newPeer(t, s, "b", peerOpts{})
	a.waitMedia(10, "b")
	b.waitMedia(10, "a")

	good := a.pc.CurrentLocalDescription().SDP
	if a.pc.CurrentRemoteDescription() == nil || !strings.Contains(good, "a=fingerprint:") {
		t.Fatal("a has no settled session")
	}
	offer := func(sdp string) Signal {
		data, _ := json.Marshal(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: sdp})
		return Signal{Kind: proto.KindOffer, Data: data}
	}
	head, sections := splitSDP(good)
	swapped := append([]string{sections[1], sections[0]}, sections[2:]...)
	many := slices.Clone(sections)
	for i := range maxClientSections + 1 {
		many = append(many, strings.Replace(sections[0], "a=mid:", "a=mid:x"+strconv.Itoa(i), 1))
	}
	drop := func(re string) string { return regexp.MustCompile(re).ReplaceAllString(good, "") }
	for _, tc := range []struct {
		name string
		sig  Signal
		want string
	}{
		{"not JSON", Signal{Kind: proto.KindOffer, Data: json.RawMessage(`{"type":`)}, "offer"},
		{"an answer", Signal{Kind: proto.KindOffer, Data: json.RawMessage(`{"type":"answer","sdp":"v=0"}`)}, "want offer"},
		{"bad SDP", offer("v=0\r\nnonsense"), "bad SDP"},
		{"no fingerprint", offer(drop("a=fingerprint:[^\r]*\r\n")), "fingerprint"},
		{"no ICE credentials", offer(drop("a=ice-ufrag:[^\r]*\r\n")), "ICE"},
		{"sections reordered", offer(head + strings.Join(swapped, "")), "mid"},
		{"too many sections", offer(head + strings.Join(many, "")), "at most"},
		{"fewer sections", offer(head + sections[0]), "media sections"},
	} {
		err := a.part.HandleSignal(tc.sig)
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "participant a") {
			t.Errorf("%s: %v, want an error naming participant a and %q", tc.name, err, tc.want)
		}
	}
	if st := a.part.pc.SignalingState(); st != webrtc.SignalingStateStable {
		t.Errorf("after bad offers the server's state is %s, want stable", st)
	}
	a.waitMedia(10, "b")
	b.waitMedia(10, "a")

	// The same client renegotiating for real still works.
	a.mu.Lock()
	answers := a.answers
	a.wantOffer, a.offeredOn = true, nil
	a.notifyLocked()
	a.mu.Unlock()
	a.waitFor("answer to a fresh offer", func() bool { return a.answers > answers })

	if err := b.part.Close(); err != nil {
		t.Fatal(err)
	}
	if err := b.part.HandleSignal(offer(good)); !errors.Is(err, ErrClosed) {
		t.Errorf("offer after close: %v, want ErrClosed", err)
	}
}
