package sfu

import (
	"testing"

	"github.com/pion/webrtc/v4"
)

// audioHeld is the server's count of audio packets not forwarded.
func audioHeld(s *Server) uint64 {
	var n uint64
	for _, st := range s.Stats() {
		n += st.AudioHeld
	}
	return n
}

// waitHeldFrom waits until sub receives no audio of pubs while the server
// holds 100 audio packets by the count held reads (audioHeld, audioMuted):
// they are not forwarded.
func waitHeldFrom(t *testing.T, s *Server, held func(*Server) uint64, sub *peer, pubs ...string) {
	t.Helper()
	count := func() (n int) {
		sub.mu.Lock()
		defer sub.mu.Unlock()
		for _, pub := range pubs {
			n += sub.packets[key(pub, webrtc.RTPCodecTypeAudio)]
		}
		return n
	}
	for range 20 {
		before, from := count(), held(s)
		sub.waitFor("100 more audio packets held", func() bool { return held(s) >= from+100 })
		if count() == before {
			return
		}
	}
	t.Fatalf("%s still receives audio of %v", sub.name, pubs)
}

// TestLoudestAudio checks the loudest-audio routing in a room with more
// audio publishers than slots: silent publishers are not forwarded, one
// who speaks is at once, one who fell silent gives the slot up, and a
// publisher forwarded again after a pause continues its numbering, so the
// subscriber sees no loss.
func TestLoudestAudio(t *testing.T) {
	s := newTestServer(t, func(c *ServerConfig) { c.LoudestAudio = 2 })
	names := []string{"a", "b", "c", "d"}
	var peers []*peer
	for _, n := range names {
		peers = append(peers, newPeer(t, s, n, peerOpts{}))
	}
	for _, p := range peers {
		p.waitFor("everyone's video", func() bool {
			for _, pub := range names {
				if pub != p.name && p.packets[key(pub, webrtc.RTPCodecTypeVideo)] < 10 {
					return false
				}
			}
			return true
		})
	}
	a, b, c := peers[0], peers[1], peers[2]
	audio := func(p *peer, pub string) int { return p.packets[key(pub, webrtc.RTPCodecTypeAudio)] }

	// Everyone is silent (level 127): once the room's loop has ranked the
	// four, none is forwarded.
	waitHeldFrom(t, s, audioHeld, a, "b", "c", "d")
	a.mu.Lock()
	fromB, fromC := audio(a, "b"), audio(a, "c")
	a.mu.Unlock()

	// b speaks: a and c hear b.
	b.streamIDs.level.Store(25)
	a.waitFor("b's voice", func() bool { return audio(a, "b") >= fromB+50 })
	c.waitMedia(50, "b")

	// b falls silent and c speaks: a hears c, and b's slot is released
	// once its activity has decayed, which held packets with none of b's
	// arriving show.
	b.streamIDs.level.Store(127)
	c.streamIDs.level.Store(30)
	a.waitFor("c's voice", func() bool { return audio(a, "c") >= fromC+50 })
	waitHeldFrom(t, s, audioHeld, a, "b")

	// b speaks again: its stream continues at the next sequence number,
	// and its timestamps move on.
	a.mu.Lock()
	fromB = audio(a, "b")
	a.mu.Unlock()
	b.streamIDs.level.Store(25)
	a.waitFor("b's voice again", func() bool { return audio(a, "b") >= fromB+50 })
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, pub := range []string{"b", "c"} {
		k := key(pub, webrtc.RTPCodecTypeAudio)
		if a.seqJumps[k] != 0 || a.tsBack[k] != 0 {
			t.Errorf("a saw %d sequence jumps and %d timestamps going back in %s's audio, want none",
				a.seqJumps[k], a.tsBack[k], pub)
		}
	}
}
