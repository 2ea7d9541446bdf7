package redisbus

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/zeromicro/go-zero/core/logx"

	"github.com/rtcd/rtcd/signal"
	"github.com/rtcd/rtcd/signal/proto"
)

// The liveness of nodes: heartbeats, the expiry of silent nodes, and the
// ICE URLs every node publishes with its heartbeat.

// heartbeatLoop refreshes this node's key, expires silent nodes and runs
// the periodic sync that repairs anything a lost message left behind.
func (b *Bus) heartbeatLoop() {
	defer b.wg.Done()
	t := time.NewTicker(b.cfg.HeartbeatInterval)
	defer t.Stop()
	syncEvery := max(int(b.cfg.NodeTTL/b.cfg.HeartbeatInterval), 1)
	for n := 1; ; n++ {
		select {
		case <-b.ctx.Done():
			return
		case <-t.C:
		}
		b.beat()
		b.expire()
		if n%syncEvery == 0 && b.linkUp() {
			b.syncAll()
		}
	}
}

// beat writes this node's key (with its ICE URLs) with NodeTTL and publishes
// a heartbeat; in ICEServers=all mode it also reads the other nodes' URLs.
func (b *Bus) beat() {
	ctx, cancel := b.cmdCtx()
	defer cancel()
	own := b.rooms.ICEURLs()
	info := proto.Marshal(wire{T: wHeartbeat, Node: b.self, ICE: &own})
	_, err := b.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		p.Set(ctx, b.nodeKey(b.self), info, b.cfg.NodeTTL)
		p.SAdd(ctx, b.pfx+"nodes", b.self)
		p.Publish(ctx, b.evCh, proto.Marshal(wire{T: wHeartbeat, Node: b.self}))
		return nil
	})
	if err != nil {
		b.fail("heartbeat", err)
		return
	}
	b.mu.Lock()
	b.lastBeat = time.Now()
	b.mu.Unlock()
	if b.cfg.ICEServers == ICEAllNodes {
		b.readNodes(ctx)
	}
}

// readNodes caches the ICE URLs of the other live nodes.
func (b *Bus) readNodes(ctx context.Context) {
	ids, err := b.rdb.SMembers(ctx, b.pfx+"nodes").Result()
	if err != nil {
		b.fail("nodes", err)
		return
	}
	slices.Sort(ids)
	var others []signal.ICEURLs
	for _, id := range ids {
		if id == b.self {
			continue
		}
		v, err := b.rdb.Get(ctx, b.nodeKey(id)).Bytes()
		if errors.Is(err, redis.Nil) {
			_ = b.rdb.SRem(ctx, b.pfx+"nodes", id).Err()
			continue
		}
		var w wire
		if err != nil || json.Unmarshal(v, &w) != nil || w.ICE == nil {
			continue
		}
		others = append(others, *w.ICE)
	}
	b.mu.Lock()
	b.others = others
	b.mu.Unlock()
}

// ICEURLs are the URLs handed to clients: this node's, then (ICEServers=all)
// those of the other live nodes.
func (b *Bus) ICEURLs(own signal.ICEURLs) signal.ICEURLs {
	if b.cfg.ICEServers != ICEAllNodes {
		return own
	}
	b.mu.Lock()
	others := b.others
	b.mu.Unlock()
	u := signal.ICEURLs{STUN: slices.Clone(own.STUN), TURN: slices.Clone(own.TURN)}
	for _, o := range others {
		u.STUN = appendNew(u.STUN, o.STUN)
		u.TURN = appendNew(u.TURN, o.TURN)
	}
	return u
}

// appendNew appends the URLs of add that urls does not have yet.
func appendNew(urls, add []string) []string {
	for _, s := range add {
		if !slices.Contains(urls, s) {
			urls = append(urls, s)
		}
	}
	return urls
}

// expire drops the peers of nodes not heard from for NodeTTL. While this
// node itself cannot reach Redis that is every other node: after NodeTTL
// of outage its rooms hold only its own peers, as the others' hold theirs.
// Hand-over leftovers older than that go too.
func (b *Bus) expire() {
	now := time.Now()
	var dead []string
	b.mu.Lock()
	for n, t := range b.lastSeen {
		if now.Sub(t) > b.cfg.NodeTTL {
			dead = append(dead, n)
			delete(b.lastSeen, n)
		}
	}
	for id, m := range b.moved {
		if now.Sub(m.at) > b.cfg.NodeTTL {
			delete(b.moved, id)
		}
	}
	for id, in := range b.incoming {
		if now.Sub(in.at) > 2*b.cfg.NodeTTL {
			delete(b.incoming, id)
		}
	}
	b.mu.Unlock()
	for _, n := range dead {
		if k := b.rooms.NodeGone(n); k > 0 {
			logx.Infow("signal: cluster node gone; its peers left their rooms", logx.Field("node", n), logx.Field("peers", k))
		}
	}
}

// seen notes that node is alive (a message from it arrived).
func (b *Bus) seen(node string) {
	if node == "" || node == b.self {
		return
	}
	b.mu.Lock()
	b.lastSeen[node] = time.Now()
	b.mu.Unlock()
}

// know starts the liveness clock of a node whose peers were just added to
// this node's rooms (from a snapshot, a sync or a move) without refreshing
// it: only the node's own messages prove it alive. Called after the peers
// were added, so that a node expired meanwhile is watched again and its
// peers cannot stay behind as ghosts.
func (b *Bus) know(node string) {
	if node == "" || node == b.self {
		return
	}
	b.mu.Lock()
	if _, ok := b.lastSeen[node]; !ok {
		b.lastSeen[node] = time.Now()
	}
	b.mu.Unlock()
}

// knowAll is know for the node of every member.
func (b *Bus) knowAll(members []signal.Member) {
	for _, m := range members {
		b.know(m.Node)
	}
}
