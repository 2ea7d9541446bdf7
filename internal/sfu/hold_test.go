package sfu

import (
	"testing"

	"github.com/pion/webrtc/v4"
)

// audioMuted is the server's count of audio packets a host's mute held.
func audioMuted(s *Server) uint64 {
	var n uint64
	for _, st := range s.Stats() {
		n += st.AudioMuted
	}
	return n
}

// TestHoldAudio: a participant whose audio the server holds (a host muted
// it) is not heard by the others although its client goes on sending, its
// video still is, and once the hold ends it is heard again, its stream
// continuing at the next sequence number.
func TestHoldAudio(t *testing.T) {
	s := newTestServer(t)
	a := newPeer(t, s, "a", peerOpts{})
	b := newPeer(t, s, "b", peerOpts{})
	a.waitMedia(20, "b")
	b.waitMedia(20, "a")
	count := func(p *peer, pub string, kind webrtc.RTPCodecType) int {
		p.mu.Lock()
		defer p.mu.Unlock()
		return p.packets[key(pub, kind)]
	}

	a.part.HoldAudio(true)
	waitHeldFrom(t, s, audioMuted, b, "a") // b does not hear a while a's audio is held
	video := count(b, "a", webrtc.RTPCodecTypeVideo)
	b.waitFor("a's video while its audio is held", func() bool { return b.packets[key("a", webrtc.RTPCodecTypeVideo)] >= video+20 })
	if n := count(a, "b", webrtc.RTPCodecTypeAudio); n == 0 {
		t.Fatal("a hears nobody")
	}

	from := count(b, "a", webrtc.RTPCodecTypeAudio)
	a.part.HoldAudio(false)
	b.waitFor("a's audio again", func() bool { return b.packets[key("a", webrtc.RTPCodecTypeAudio)] >= from+50 })
	b.mu.Lock()
	defer b.mu.Unlock()
	k := key("a", webrtc.RTPCodecTypeAudio)
	if b.seqJumps[k] != 0 || b.tsBack[k] != 0 {
		t.Errorf("b saw %d sequence jumps and %d timestamps going back in a's audio, want none", b.seqJumps[k], b.tsBack[k])
	}
}
