package sfu

import (
	"slices"
	"sync/atomic"

	"github.com/pion/rtp"
)

// In a large room most microphones carry silence, and forwarding 50 silent
// streams to 49 subscribers each is most of the server's packets. The
// server forwards the audio of the room's loudest publishers only, as
// Jitsi's videobridge does with route-loudest-only: at most
// ServerConfig.LoudestAudio of them at once.
//
//   - A room with no more audio publishers than slots forwards all of them.
//   - In a larger room, a publisher whose packet carries voice is forwarded
//     from that packet on while a slot is free, so the first syllable is
//     not lost.
//   - Every tick of the room's loop ranks the publishers by their smoothed
//     voice activity (the speaker detection's) and keeps the slots for the
//     most active; one who fell silent keeps a slot until the activity has
//     decayed below releaseActivity, about two seconds after the last
//     word, so pauses between sentences are not cut.
//   - Audio without the audio-level extension cannot be judged and is
//     always forwarded.
//
// A subscriber's stream of a publisher continues its sequence numbers over
// a pause (the down track re-bases them when forwarding resumes), so the
// subscriber sees no loss, only a gap in time, as with DTX.

// releaseActivity is the smoothed voice activity below which a publisher
// gives its slot up.
const releaseActivity = 0.03

// audioRoute is a room's share of the loudest-audio slots.
type audioRoute struct {
	// slots is how many publishers may be forwarded at once; 0 forwards
	// everyone.
	slots int32
	// taken counts the publishers forwarded now.
	taken atomic.Int32
	// crowded says the room has more judged audio publishers than slots:
	// only voice takes a free slot then.
	crowded atomic.Bool
}

// admit reports whether pkt, of pub's audio, is forwarded, taking a free
// slot for pub when pkt carries voice. The publisher's forwarding loop
// alone calls it.
func (a *audioRoute) admit(pub *published, pkt *rtp.Packet) bool {
	if a.slots == 0 || pub.levels == nil || pub.routed.Load() {
		return true
	}
	if a.crowded.Load() {
		ext := pkt.GetExtension(pub.audioLevelID)
		if len(ext) == 0 || ext[0]&0x7f > activeLevel {
			return false
		}
	}
	for {
		n := a.taken.Load()
		if n >= a.slots {
			return false
		}
		if a.taken.CompareAndSwap(n, n+1) {
			pub.resumeRoute()
			return true
		}
	}
}

// rank gives the slots to the most active of the room's audio publishers
// (activity by owner id, from the speaker detection) and takes them from
// those that fell silent. The room's loop alone calls it.
func (a *audioRoute) rank(forwards []*published, activity map[string]float64) {
	if a.slots == 0 {
		return
	}
	var judged []*published
	for _, pub := range forwards {
		if pub.levels != nil {
			judged = append(judged, pub)
		}
	}
	slices.SortStableFunc(judged, func(x, y *published) int {
		ax, ay := activity[x.owner.id], activity[y.owner.id]
		switch {
		case ax > ay:
			return -1
		case ax < ay:
			return 1
		}
		return 0
	})
	crowded := len(judged) > int(a.slots)
	a.crowded.Store(crowded)
	var taken int32
	for i, pub := range judged {
		keep := !crowded || i < int(a.slots) && activity[pub.owner.id] >= releaseActivity
		switch {
		case keep && !pub.routed.Load():
			pub.resumeRoute()
		case !keep && pub.routed.Load():
			pub.routed.Store(false)
		}
		if keep {
			taken++
		}
	}
	a.taken.Store(taken)
}

// resumeRoute starts forwarding pub's audio again; each down track re-bases
// its numbering at the next packet.
func (pub *published) resumeRoute() {
	pub.resumes.Add(1)
	pub.routed.Store(true)
}
