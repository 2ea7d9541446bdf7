package sfu

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/rtcd/rtcd/signal/proto"
)

// Signal kinds of the SFU beyond offer, answer and candidate. signal/proto
// does not have them yet; the values are the protocol's.
const (
	kindLayers  = "layers"  // client → sfu: the size of each video tile
	kindSpeaker = "speaker" // sfu → client: the dominant speaker
)

const (
	// maxTiles bounds a layers signal: more than any room holds.
	maxTiles = 256
	// maxTileSide bounds a tile's width and height in CSS pixels.
	maxTileSide = 16384
)

// layersSignal is the data of a layers signal.
type layersSignal struct {
	Tiles map[string]struct {
		Width  int `json:"width"`
		Height int `json:"height"`
	} `json:"tiles"`
}

// handleLayers takes the client's tile sizes and chooses its layers again.
// Tiles of peers the room does not have are reported in the error after the
// rest is applied: a peer may just have left.
func (p *Participant) handleLayers(data json.RawMessage) error {
	var ls layersSignal
	if err := json.Unmarshal(data, &ls); err != nil {
		return fmt.Errorf("layers: %w", err)
	}
	if ls.Tiles == nil {
		return errors.New("layers: no tiles object")
	}
	if len(ls.Tiles) > maxTiles {
		return fmt.Errorf("layers: %d tiles, at most %d", len(ls.Tiles), maxTiles)
	}
	tiles := make(map[string]tile, len(ls.Tiles))
	for peer, t := range ls.Tiles {
		if t.Width < 0 || t.Height < 0 || t.Width > maxTileSide || t.Height > maxTileSide {
			return fmt.Errorf("layers: tile of %q is %dx%d, each side 0-%d", proto.Clip(peer, proto.MaxIDBytes),
				t.Width, t.Height, maxTileSide)
		}
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
