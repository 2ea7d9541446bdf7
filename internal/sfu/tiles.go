package sfu

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/rtcd/rtcd/signal/proto"
)

// handleLayers takes the client's tile sizes and chooses its layers again.
// Tiles of peers the room does not have are reported in the error after the
// rest is applied: a peer may just have left.
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
	p.room.mu.Lock()
	var unknown []string
	for peer := range tiles {
		if o := p.room.participants[peer]; o == nil || o == p {
			unknown = append(unknown, proto.Clip(peer, proto.MaxIDBytes))
			delete(tiles, peer)
		}
	}
	p.room.mu.Unlock()
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return ErrClosed
	}
	p.tiles = tiles
	p.allocateLocked(time.Now())
	p.mu.Unlock()
	if len(unknown) > 0 {
		slices.Sort(unknown)
		return fmt.Errorf("layers: no peer %s in the room", strings.Join(unknown, ", "))
	}
	return nil
}
