package sfu

import "sync/atomic"

// RoomStats are one room's counters for /metrics. The counters are
// cumulative over the room's life, so a scraper takes rates of them.
type RoomStats struct {
	Room             string
	Participants     int
	PacketsForwarded uint64
	BytesForwarded   uint64
	// LayerSwitches counts the times a subscriber's stream moved to another
	// simulcast layer (or resumed after a pause).
	LayerSwitches uint64
	// NACKs counts the packets subscribers reported lost; pion's NACK
	// responder resends them from its cache.
	NACKs uint64
	// PLIs counts the keyframe requests sent to publishers.
	PLIs uint64
	// AudioHeld counts audio packets received and not forwarded, because
	// their publisher was not among the room's loudest.
	AudioHeld uint64
	// AudioMuted counts audio packets received and not forwarded, because
	// a host muted their publisher (Participant.HoldAudio).
	AudioMuted uint64
	// EstimatedBitrate is the bandwidth the server estimates towards each
	// subscriber, in bits per second, by participant id; 0 when the
	// subscriber has given no estimate yet.
	EstimatedBitrate map[string]uint64
}

// roomStats are the counters the forwarding paths update without a lock.
type roomStats struct {
	packets, bytes, layerSwitches, nacks, plis atomic.Uint64
	// audioHeld counts audio packets not forwarded: their publisher was
	// not among the room's loudest.
	audioHeld atomic.Uint64
	// audioMuted counts audio packets not forwarded: a host muted their
	// publisher.
	audioMuted atomic.Uint64
}

func (r *room) stats() RoomStats {
	r.mu.Lock()
	ps := make([]*Participant, 0, len(r.participants))
	for _, p := range r.participants {
		ps = append(ps, p)
	}
	r.mu.Unlock()
	st := RoomStats{
		Room:             r.name,
		Participants:     len(ps),
		PacketsForwarded: r.counters.packets.Load(),
		BytesForwarded:   r.counters.bytes.Load(),
		LayerSwitches:    r.counters.layerSwitches.Load(),
		NACKs:            r.counters.nacks.Load(),
		PLIs:             r.counters.plis.Load(),
		AudioHeld:        r.counters.audioHeld.Load(),
		AudioMuted:       r.counters.audioMuted.Load(),
		EstimatedBitrate: make(map[string]uint64, len(ps)),
	}
	for _, p := range ps {
		st.EstimatedBitrate[p.id] = p.bw.estimate()
	}
	return st
}
