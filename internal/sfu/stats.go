package sfu

// RoomStats are one room's counters for /metrics. The counters are
// cumulative over the room's life, so a scraper takes rates of them.
type RoomStats struct {
	Room             string
	Participants     int
	PacketsForwarded uint64
	BytesForwarded   uint64
	LayerSwitches    uint64
	NACKs            uint64
	PLIs             uint64
	// EstimatedBitrate is the bandwidth the server estimates towards each
	// subscriber, in bits per second, by participant id.
	EstimatedBitrate map[string]uint64
}

func (r *room) stats() RoomStats {
	r.mu.Lock()
	defer r.mu.Unlock()
	st := RoomStats{Room: r.name, Participants: len(r.participants), EstimatedBitrate: map[string]uint64{}}
	return st
}
