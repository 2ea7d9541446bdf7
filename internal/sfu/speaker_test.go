package sfu

import (
	"slices"
	"testing"
)

// waitSpeaker waits until the server last named id the dominant speaker.
func (p *peer) waitSpeaker(id string) {
	p.t.Helper()
	p.waitFor("speaker "+id, func() bool { return len(p.speakers) > 0 && p.speakers[len(p.speakers)-1] == id })
}

// TestDominantSpeaker checks that the loudest participant by the audio
// level extension is named to everyone, that the floor passes when they
// fall silent and another speaks, that a newcomer hears of the speaker,
// and that silence names nobody.
func TestDominantSpeaker(t *testing.T) {
	s := newTestServer(t)
	a := newPeer(t, s, "a", peerOpts{})
	b := newPeer(t, s, "b", peerOpts{})
	c := newPeer(t, s, "c", peerOpts{})
	for _, p := range []*peer{a, b, c} {
		p.waitMedia(10, slices.DeleteFunc([]string{"a", "b", "c"}, func(x string) bool { return x == p.name })...)
	}
	a.streamIDs.level.Store(30) // -30 dBov: speech
	for _, p := range []*peer{a, b, c} {
		p.waitSpeaker("a")
	}
	late := newPeer(t, s, "late", peerOpts{recvOnly: true})
	late.waitSpeaker("a") // a newcomer hears of the speaker too
	b.streamIDs.level.Store(25)
	a.streamIDs.level.Store(127)
	for _, p := range []*peer{a, b, c} {
		p.waitSpeaker("b")
	}
	b.streamIDs.level.Store(127)
	c.waitSpeaker("")
	c.mu.Lock()
	defer c.mu.Unlock()
	if got := c.speakers; !slices.Equal(got, []string{"a", "b", ""}) {
		t.Errorf("c was told of speakers %q, want a, b, then nobody", got)
	}
}
