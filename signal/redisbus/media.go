package redisbus

import (
	"fmt"

	"github.com/zeromicro/go-zero/core/logx"

	"github.com/rtcd/rtcd/signal"
)

// The node that carries a room's media: claimed in Redis by the first node
// that needs it (claim.lua), refreshed with the room's presence, released
// when the node carries no media session of the room any more or stops, and
// taken over from a node whose heartbeat lapsed. Clients of the other nodes
// signal the media server there, through the node's channel.

// MediaNode returns the node that carries the media of room, claiming it
// for this node if no live node holds it. While Redis is unreachable this
// node carries the media of its rooms, as it serves the rooms themselves;
// the claim is made when Redis is back (refreshMedia).
func (b *Bus) MediaNode(room string) (string, error) {
	b.mu.Lock()
	claimed := b.media[room]
	b.mu.Unlock()
	if !b.linkUp() {
		b.setMedia(room, true)
		return b.self, fmt.Errorf("media node of room %s: %w", room, errUnreachable)
	}
	node, err := b.claim(room)
	if err != nil {
		b.fail("media claim", err)
		b.setMedia(room, true)
		return b.self, fmt.Errorf("media node of room %s: %w", room, err)
	}
	b.setMedia(room, node == b.self)
	if claimed && node != b.self {
		logx.Infow("signal: cluster: the media of a room is claimed by another node", logx.Field("room", room),
			logx.Field("node", node))
	}
	return node, nil
}

// claim runs claim.lua for room.
func (b *Bus) claim(room string) (string, error) {
	ctx, cancel := b.cmdCtx()
	defer cancel()
	return claimScript.Run(ctx, b.rdb, []string{b.mediaKey(room)}, b.self, b.nodeKey(""), b.keyTTL()).Text()
}

func (b *Bus) setMedia(room string, mine bool) {
	b.mu.Lock()
	if mine {
		b.media[room] = true
	} else {
		delete(b.media, room)
	}
	b.mu.Unlock()
}

// ReleaseMedia releases this node's claim on the media of room.
func (b *Bus) ReleaseMedia(room string) {
	b.setMedia(room, false)
	if !b.linkUp() {
		return // the claim outlives no heartbeat: another node takes it over
	}
	b.release(room)
}

func (b *Bus) release(room string) {
	ctx, cancel := b.cmdCtx()
	defer cancel()
	if err := releaseScript.Run(ctx, b.rdb, []string{b.mediaKey(room)}, b.self).Err(); err != nil {
		b.fail("media release", err)
	}
}

// releaseAllMedia releases every claim of this node; Stop calls it, so
// that the other nodes take the rooms' media over at once.
func (b *Bus) releaseAllMedia() {
	b.mu.Lock()
	rooms := make([]string, 0, len(b.media))
	for r := range b.media {
		rooms = append(rooms, r)
	}
	clear(b.media)
	b.mu.Unlock()
	for _, r := range rooms {
		b.release(r)
	}
}

// refreshMedia renews this node's claims with the periodic sync, and makes
// them again after Redis lost them (a restart) or was unreachable. A claim
// another live node made meanwhile is that node's: this node's media
// sessions of the room go on until they end, and new ones open there.
func (b *Bus) refreshMedia() {
	b.mu.Lock()
	rooms := make([]string, 0, len(b.media))
	for r := range b.media {
		rooms = append(rooms, r)
	}
	b.mu.Unlock()
	for _, r := range rooms {
		node, err := b.claim(r)
		if err != nil {
			b.fail("media refresh", err)
			return
		}
		if node != b.self {
			b.setMedia(r, false)
			logx.Infow("signal: cluster: the media of a room is claimed by another node", logx.Field("room", r),
				logx.Field("node", node))
		}
	}
}

// MediaSignal hands sig to node, which carries the media of sig.Room,
// exactly once or not at all: not retried, and an error when node is not
// subscribed.
func (b *Bus) MediaSignal(node string, sig signal.MediaSignal) error {
	if !b.linkUp() {
		return errUnreachable
	}
	n, err := b.publish(b.nodeCh(node), wire{T: wMedia, Node: b.self, Media: &sig})
	if err != nil {
		return fmt.Errorf("media signal to node %s: %w", node, err)
	}
	if n == 0 {
		return fmt.Errorf("media signal to node %s: %w", node, errUnreachable)
	}
	return nil
}
