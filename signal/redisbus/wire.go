package redisbus

import (
	"encoding/json"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/zeromicro/go-zero/core/logx"

	"github.com/rtcd/rtcd/signal"
	"github.com/rtcd/rtcd/signal/proto"
)

// wire is every message between nodes, on the events channel (all nodes) or
// a node's own channel. T is the type; Node the sender.
type wire struct {
	T       string                `json:"t"`
	Node    string                `json:"node,omitempty"`
	Room    string                `json:"room,omitempty"`
	Member  *signal.Member        `json:"member,omitempty"`
	Members []signal.Member       `json:"members,omitempty"`
	ID      string                `json:"id,omitempty"`
	Req     string                `json:"req,omitempty"`
	From    string                `json:"from,omitempty"`
	To      string                `json:"to,omitempty"`
	Msg     json.RawMessage       `json:"msg,omitempty"`
	Hop     int                   `json:"hop,omitempty"`
	Tok     string                `json:"tok,omitempty"`
	OK      bool                  `json:"ok,omitempty"`
	Sess    *signal.SessionRecord `json:"sess,omitempty"`
	Items   [][]byte              `json:"items,omitempty"`
	ICE     *signal.ICEURLs       `json:"ice,omitempty"`
	Media   *signal.MediaSignal   `json:"media,omitempty"`
	Ctl     *signal.Control       `json:"ctl,omitempty"`
	Cmd     *signal.Command       `json:"cmd,omitempty"`
}

// Wire types.
const (
	wHeartbeat = "hb"      // events: I am alive
	wJoin      = "join"    // events: member joined room
	wLeave     = "leave"   // events: id left room
	wUpdate    = "upd"     // events: member changed name/state
	wMove      = "move"    // events: member now lives on member.node
	wSync      = "sync"    // events: node's full member list in room
	wSyncReq   = "syncreq" // events: please publish your syncs (I reconnected)
	wSnap      = "snap"    // own channel: room snapshot for join req (join.lua writes it)
	wSignal    = "sig"     // to node: relay msg to peer to
	wTake      = "take"    // to node: hand me the session of resume token tok
	wHanded    = "handed"  // to node: the session (or OK=false)
	wFlush     = "flush"   // to node: answer flushed once what came before is forwarded
	wFlushed   = "flushed" // to node: answer to flush
	wMedia     = "media"   // to node: a client's signal for the media server of the room (media.room, media.peer)
	wControl   = "ctl"     // events: room's control state is now ctl
	wCommand   = "cmd"     // to node, or events for every node: a host action (cmd)
	wLobby     = "lobby"   // events: node's waiters in room's lobby (members)
)

// awaiting files v under a fresh request id in m, a map guarded by mu, so
// that the answer to the request finds it; forget removes it again.
func awaiting[T any](mu *sync.Mutex, m map[string]T, v T) (rid string, forget func()) {
	rid = randomID(16)
	mu.Lock()
	m[rid] = v
	mu.Unlock()
	return rid, func() {
		mu.Lock()
		delete(m, rid)
		mu.Unlock()
	}
}

// publish sends w on channel ch and returns how many subscribers got it.
func (b *Bus) publish(ch string, w wire) (int64, error) {
	ctx, cancel := b.cmdCtx()
	defer cancel()
	n, err := b.rdb.Publish(ctx, ch, proto.Marshal(w)).Result()
	if err != nil {
		b.fail("publish", err)
	}
	return n, err
}

// subscribeLoop keeps one subscription to the events channel and this
// node's channel, reconnecting with backoff; every (re)subscription resyncs.
func (b *Bus) subscribeLoop() {
	defer b.wg.Done()
	backoff := 100 * time.Millisecond
	for b.ctx.Err() == nil {
		ps := b.rdb.Subscribe(b.ctx, b.evCh, b.myCh)
		b.mu.Lock()
		b.ps = ps
		b.mu.Unlock()
		if b.ctx.Err() != nil { // Stop raced with Subscribe
			_ = ps.Close()
			return
		}
		err := b.receive(ps)
		_ = ps.Close()
		if b.ctx.Err() != nil {
			return
		}
		if b.linkUp() {
			backoff = 100 * time.Millisecond // it worked until now: retry soon
		}
		b.setSubscribed(false, err.Error())
		select {
		case <-b.ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, b.cfg.HeartbeatInterval)
	}
}

// receive handles messages until the subscription fails. Own heartbeats
// come back every HeartbeatInterval, so silence means a dead link.
func (b *Bus) receive(ps *redis.PubSub) error {
	subs := 0
	timeout := 2*b.cfg.HeartbeatInterval + b.cfg.RedisTimeout
	for {
		msg, err := ps.ReceiveTimeout(b.ctx, timeout)
		if err != nil {
			return err
		}
		switch m := msg.(type) {
		case *redis.Subscription:
			if m.Kind == "subscribe" {
				subs++
				if subs == 2 {
					b.setSubscribed(true, "")
					b.resync()
				}
			}
		case *redis.Message:
			b.handle(m.Channel, m.Payload)
		}
	}
}

// resync re-registers this node after a (re)connection: Redis may have lost
// everything (a restart without persistence) or missed changes made while
// it was unreachable. Other nodes are asked to resend their membership.
func (b *Bus) resync() {
	b.beat()
	b.syncAll()
	_, _ = b.publish(b.evCh, wire{T: wSyncReq, Node: b.self})
}

// handle dispatches one message from another node. It runs on the
// subscription's goroutine, so messages are handled in the order Redis
// delivered them.
func (b *Bus) handle(channel, payload string) {
	var w wire
	if err := json.Unmarshal([]byte(payload), &w); err != nil {
		logx.Errorw("signal: cluster: bad message", logx.Field("channel", channel), logx.Field("err", err.Error()))
		return
	}
	if channel == b.evCh {
		b.handleEvent(w)
	} else {
		b.handleDirect(w)
	}
}

// handleEvent applies another node's news about its own peers.
func (b *Bus) handleEvent(w wire) {
	if w.Node == b.self {
		return
	}
	b.seen(w.Node)
	switch w.T {
	case wJoin, wUpdate:
		// A node speaks for its own peers only.
		if m := w.Member; m != nil && m.ID != "" && m.Node == w.Node {
			b.rooms.Joined(w.Room, *m)
		}
	case wMove:
		// Only the owner moves a peer; one moved to this node is
		// already here (the take-over added it).
		if m := w.Member; m != nil && m.ID != "" && m.Node != "" && m.Node != b.self {
			b.rooms.Moved(w.Node, w.Room, *m)
			b.know(m.Node)
		}
	case wLeave:
		b.rooms.Left(w.Node, w.Room, w.ID)
	case wSync:
		b.rooms.Synced(w.Node, w.Room, w.Members)
		b.knowAll(w.Members)
	case wSyncReq:
		b.syncAll()
	case wLobby:
		if w.Room != "" {
			b.rooms.Lobbied(w.Node, w.Room, w.Members)
		}
	case wControl:
		if w.Ctl != nil && w.Room != "" {
			b.rooms.Controlled(w.Room, *w.Ctl)
		}
	case wCommand:
		if w.Cmd != nil {
			b.rooms.Command(*w.Cmd)
		}
	}
}

// handleDirect handles a message on this node's own channel.
func (b *Bus) handleDirect(w wire) {
	switch w.T {
	case wSnap:
		b.onSnap(w)
	case wSignal:
		b.onSignal(w)
	case wTake:
		b.onTake(w)
	case wCommand:
		if w.Cmd != nil {
			b.rooms.Command(*w.Cmd)
		}
	case wMedia:
		if w.Media != nil && w.Media.Peer != "" && w.Media.Room != "" && w.Node != "" {
			b.rooms.MediaSignal(w.Node, *w.Media)
		}
	case wFlush:
		// Everything this node received before is delivered or forwarded
		// by now (this loop is serial): say so.
		_, _ = b.publish(b.nodeCh(w.Node), wire{T: wFlushed, Node: b.self, Req: w.Req})
	case wHanded, wFlushed:
		b.mu.Lock()
		ch := b.takes[w.Req]
		b.mu.Unlock()
		if ch != nil {
			select {
			case ch <- w:
			default:
			}
		}
	}
}
