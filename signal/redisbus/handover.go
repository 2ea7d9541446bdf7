package redisbus

import (
	"context"
	"encoding/json"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/zeromicro/go-zero/core/logx"

	"github.com/rtcd/rtcd/signal"
	"github.com/rtcd/rtcd/signal/proto"
)

// The hand-over of sessions between nodes: a client that resumes on
// another node takes its session along, and a stopping node leaves its
// sessions in Redis for the resume window.

// TakeOver fetches the session of resume token tok from node, which issued
// it. If that node is gone, the record it left in Redis at shutdown is used.
func (b *Bus) TakeOver(node, tok string) (*signal.SessionRecord, [][]byte) {
	if !b.linkUp() {
		return nil, nil
	}
	if node != b.self {
		if rec, items := b.ask(node, tok); rec != nil {
			return rec, items
		}
	}
	// The node is gone or restarted (same NodeID): the record it left at
	// shutdown, if any. GETDEL makes sure only one node resumes it.
	ctx, cancel := b.cmdCtx()
	defer cancel()
	v, err := b.rdb.GetDel(ctx, b.sessKey(tok)).Bytes()
	if err != nil {
		return nil, nil
	}
	var rec signal.SessionRecord
	if json.Unmarshal(v, &rec) != nil || rec.Peer == "" {
		return nil, nil
	}
	return &rec, nil
}

// ask requests the session of tok from node and waits for the answer.
func (b *Bus) ask(node, tok string) (*signal.SessionRecord, [][]byte) {
	ch := make(chan wire, 1)
	rid, forget := awaiting(&b.mu, b.takes, ch)
	defer forget()
	n, err := b.publish(b.nodeCh(node), wire{T: wTake, Node: b.self, Req: rid, Tok: tok})
	if err != nil || n == 0 {
		return nil, nil
	}
	var w wire
	select {
	case w = <-ch:
	case <-time.After(3 * b.cfg.RedisTimeout):
		return nil, nil
	}
	if !w.OK || w.Sess == nil || w.Sess.Peer == "" {
		return nil, nil
	}
	// Keep buffering signals for the peer until it is in its room here
	// (Drain): those the old node forwards, and from now on those of this
	// node's own peers.
	b.arriving(w.Sess.Peer)
	b.flush(node, rid, ch)
	return w.Sess, w.Items
}

// flush waits until node has forwarded what this node's peers sent there
// just before the hand-over, so that those signals come first.
func (b *Bus) flush(node, rid string, ch chan wire) {
	if _, err := b.publish(b.nodeCh(node), wire{T: wFlush, Node: b.self, Req: rid}); err != nil {
		return
	}
	select {
	case <-ch:
	case <-time.After(b.cfg.RedisTimeout):
	}
}

// onTake hands a session of this node to the node that asks for it.
func (b *Bus) onTake(w wire) {
	rec, items, ok := b.rooms.HandOff(w.Tok, w.Node)
	if !ok {
		_, _ = b.publish(b.nodeCh(w.Node), wire{T: wHanded, Node: b.self, Req: w.Req})
		return
	}
	b.mu.Lock()
	b.moved[rec.Peer] = movedTo{node: w.Node, at: time.Now()}
	b.mu.Unlock()
	if rec.Room != "" {
		m := signal.Member{ID: rec.Peer, Node: w.Node, Name: rec.Name, State: rec.State}
		_ = b.pipe("move", func(ctx context.Context, p redis.Pipeliner) {
			p.HSet(ctx, b.roomKey(rec.Room), m.ID, proto.Marshal(m))
			p.Publish(ctx, b.evCh, proto.Marshal(wire{T: wMove, Node: b.self, Room: rec.Room, Member: &m}))
		})
	}
	_, _ = b.publish(b.nodeCh(w.Node), wire{T: wHanded, Node: b.self, Req: w.Req, OK: true, Sess: rec, Items: items})
	logx.Debugw("signal: session handed to another node", logx.Field("peer", rec.Peer), logx.Field("node", w.Node))
}

// SaveSessions leaves the sessions of a stopping node in Redis for the
// resume window, so that their clients can resume on another node.
func (b *Bus) SaveSessions(recs map[string]signal.SessionRecord, ttl time.Duration) {
	if len(recs) == 0 || !b.linkUp() {
		return
	}
	ctx, cancel := b.cmdCtx()
	defer cancel()
	_, err := b.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for tok, rec := range recs {
			p.Set(ctx, b.sessKey(tok), proto.Marshal(rec), ttl)
		}
		return nil
	})
	if err != nil {
		b.fail("save sessions", err)
	}
}
