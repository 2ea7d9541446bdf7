package sfu

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/rtcd/rtcd/signal/proto"
)

// handleLayers takes the client's tile sizes and chooses its layers again.
// Tiles may name peers the media server does not have yet: a client learns
// of a peer from signaling before the peer's media session opens.
func (p *Participant) handleLayers(data json.RawMessage) error {
	var ls proto.Layers
	if err := json.Unmarshal(data, &ls); err != nil {
		return fmt.Errorf("layers: %w", err)
	}
	if err := ls.Check(); err != nil {
		return fmt.Errorf("layers: %w", err)
	}
	tiles := make(map[string]tile, len(ls.Tiles))
	for peer, t := range ls.Tiles {
		tiles[peer] = tile{t.Width, t.Height}
	}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return ErrClosed
	}
	p.tiles = tiles
	p.allocateLocked(time.Now())
	p.mu.Unlock()
	return nil
}
