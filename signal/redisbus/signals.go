package redisbus

import (
	"errors"
	"time"

	"github.com/zeromicro/go-zero/core/logx"
)

// Signals between peers on different nodes, and the buffers that keep them
// in order while a peer moves to this node.

// inbuf holds signals for a peer this node is taking over: msgs came from
// other nodes (forwarded by the old node), later from this node's own peers
// once the hand-over began. Delivered in that order.
type inbuf struct {
	msgs     [][]byte
	later    [][]byte
	arriving bool // the session was handed over; local senders buffer too
	at       time.Time
}

// movedTo is where a peer this node handed over lives now.
type movedTo struct {
	node string
	at   time.Time
}

// errUnreachable is a signal that could not be handed to the addressee's node.
var errUnreachable = errors.New("signal: node unreachable")

// Signal relays msg from peer from to peer to on node, exactly once or not
// at all: PUBLISH is not retried, and 0 receivers means the node is not
// subscribed.
func (b *Bus) Signal(node, from, to, room string, msg []byte) error {
	if !b.linkUp() {
		return errUnreachable
	}
	n, err := b.publish(b.nodeCh(node), wire{T: wSignal, Node: b.self, From: from, To: to, Room: room, Msg: msg})
	if err != nil {
		return err
	}
	if n == 0 {
		return errUnreachable
	}
	return nil
}

// onSignal delivers a relayed signal, or forwards it once to the node the
// peer moved to.
func (b *Bus) onSignal(w wire) {
	dest := b.rooms.Deliver(w.To, w.Room, w.Msg, b.buffer)
	if dest == "" {
		b.mu.Lock()
		if m, ok := b.moved[w.To]; ok {
			dest = m.node
		}
		b.mu.Unlock()
	}
	if dest == "" || dest == b.self || w.Hop > 0 {
		if dest == "" {
			logx.Debugw("signal: cluster: signal for an unknown peer dropped", logx.Field("to", w.To))
		}
		return
	}
	w.Node, w.Hop = b.self, 1
	_, _ = b.publish(b.nodeCh(dest), w)
}

// buffer keeps a signal from another node for a peer that is being taken
// over by this node. Called with the router's lock held.
func (b *Bus) buffer(to string, msg []byte) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	in := b.incoming[to]
	if in == nil {
		if len(b.takes) == 0 {
			return false
		}
		in = &inbuf{at: time.Now()}
		b.incoming[to] = in
	}
	in.msgs = append(in.msgs, msg)
	return true
}

// Hold keeps a signal from a peer of this node for a peer being handed over
// to this node. Called with the router's lock held.
func (b *Bus) Hold(to string, msg []byte) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	in := b.incoming[to]
	if in == nil || !in.arriving {
		return false
	}
	in.later = append(in.later, msg)
	return true
}

// Drain takes the signals buffered for a peer taken over by this node:
// those of other nodes first, then those of its own peers.
func (b *Bus) Drain(peer string) [][]byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	in := b.incoming[peer]
	delete(b.incoming, peer)
	if in == nil {
		return nil
	}
	return append(in.msgs, in.later...)
}

// arriving marks the peer as handed to this node: from now on the signals
// of this node's own peers for it are held too, behind those that other
// nodes sent.
func (b *Bus) arriving(peer string) {
	b.mu.Lock()
	in := b.incoming[peer]
	if in == nil {
		in = &inbuf{at: time.Now()}
		b.incoming[peer] = in
	}
	in.arriving = true
	b.mu.Unlock()
}
