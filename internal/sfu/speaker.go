package sfu

import (
	"sync/atomic"
	"time"

	"github.com/rtcd/rtcd/signal/proto"
)

// The dominant speaker comes from the audio-level header extension (RFC
// 6464) of each published audio track: over each tick of the room's loop,
// the share of a track's packets that carry voice is its activity; the loop
// smooths it and names the most active participant above a threshold, who
// keeps the floor until someone else is clearly more active, or speaks
// after they fell silent, or until floorHold of silence. Participants hear
// of a change through a speaker signal, and a newcomer of the speaker when
// it joins.
const (
	// activeLevel is the level in -dBov a packet must reach to count as
	// voice: above a muted microphone's silence (127) and room noise.
	activeLevel = 60
	// speakThreshold is the smoothed share of voice packets at which a
	// participant counts as speaking: speech has pauses between words.
	speakThreshold = 0.2
	// speakSmoothing weighs the newest tick in the smoothed activity.
	speakSmoothing = 0.5
	// takeOver is how much more active than the current speaker another
	// must be to take the floor from one who still speaks.
	takeOver = 1.2
	// floorHold is how long a silent speaker stays named while nobody else
	// speaks, so a pause between sentences does not clear the highlight.
	floorHold = 2 * time.Second
)

// audioLevels counts one published audio track's packets, and those that
// carry voice, between two ticks of the room's loop.
type audioLevels struct {
	voice, packets atomic.Uint64
}

// add takes the payload of one packet's audio-level extension.
func (a *audioLevels) add(ext []byte) {
	if len(ext) == 0 {
		return
	}
	if ext[0]&0x7f <= activeLevel {
		a.voice.Add(1)
	}
	a.packets.Add(1)
}

// take returns the share of voice packets since the last take, 0 without
// packets (a silent client may send none).
func (a *audioLevels) take() float64 {
	n := a.packets.Swap(0)
	v := a.voice.Swap(0)
	if n == 0 {
		return 0
	}
	return float64(v) / float64(n)
}

// detectSpeaker updates the smoothed activity of every published audio
// track and tells everyone when the dominant speaker changes. The room's
// loop alone calls it.
func (r *room) detectSpeaker(forwards []*published, ps []*Participant, now time.Time) {
	active := map[string]float64{}
	for _, pub := range forwards {
		if pub.levels == nil {
			continue
		}
		id := pub.owner.id
		r.activity[id] = (1-speakSmoothing)*r.activity[id] + speakSmoothing*pub.levels.take()
		active[id] = r.activity[id]
	}
	for id := range r.activity {
		if _, ok := active[id]; !ok {
			delete(r.activity, id) // the participant left or stopped publishing audio
		}
	}
	r.audio.rank(forwards, active)
	next, floor := r.speaker, active[r.speaker]
	if floor < speakThreshold {
		floor = 0 // fallen silent: anyone who speaks takes the floor
		if _, ok := active[next]; !ok || now.Sub(r.spokeAt) >= floorHold {
			next = ""
		}
	} else {
		r.spokeAt = now
	}
	for id, a := range active {
		if a >= speakThreshold && a > floor*takeOver && (next == r.speaker || a > active[next]) {
			next, r.spokeAt = id, now
		}
	}
	r.speaker = next
	// Everyone who has not heard of this speaker yet, newcomers too.
	var sig *Signal
	for _, p := range ps {
		p.mu.Lock()
		if !p.closed && p.heard && p.speaker != next {
			if sig == nil {
				sig = &Signal{Kind: proto.KindSpeaker, Data: proto.Marshal(proto.Speaker{Peer: next})}
			}
			p.speaker = next
			p.emit(*sig)
		}
		p.mu.Unlock()
	}
}
