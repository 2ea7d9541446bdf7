package redisbus

import (
	"context"
	"encoding/json"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/rtcd/rtcd/signal"
	"github.com/rtcd/rtcd/signal/proto"
)

// Room membership in Redis: joins with the capacity checked cluster-wide,
// leaves, updates, and the full syncs that repair what a lost message left
// behind.

// joinReq is a join waiting for its snapshot.
type joinReq struct {
	j       *signal.Joining
	claimed bool          // complete is running or ran; guarded by Bus.mu
	done    chan bool     // result of complete
	syncs   atomic.Uint64 // Bus.syncs when join.lua ran (no sync runs meanwhile: both hold pubMu)
}

// Join adds a peer to its room cluster-wide: capacity is checked atomically
// in Redis, and the peer enters the local room at the point of the event
// stream where Redis took the snapshot.
func (b *Bus) Join(j *signal.Joining) signal.JoinResult {
	if !b.linkUp() {
		b.markDirty(j.Room) // registered in Redis when it is back
		return signal.JoinLocal
	}
	m, ok := j.Begin()
	if !ok {
		return signal.JoinAlready
	}
	req := &joinReq{j: j, done: make(chan bool, 1)}
	rid, forget := awaiting(&b.mu, b.joins, req)
	defer forget()
	snap, res := b.runJoin(j, m, rid, req)
	switch res {
	case signal.JoinLocal:
		b.markDirty(j.Room)
		fallthrough
	case signal.JoinFull:
		j.Abort()
		return res
	}
	if !b.awaitSnapshot(req, snap) {
		b.Leave(j.Room, j.Peer) // the session ended meanwhile
	}
	return signal.JoinDone
}

// runJoin runs join.lua for member m of join j, request rid (req). It
// returns the snapshot from the script's reply and JoinDone, or JoinFull,
// or JoinLocal when Redis failed.
func (b *Bus) runJoin(j *signal.Joining, m signal.Member, rid string, req *joinReq) (string, signal.JoinResult) {
	force := "0"
	if j.Resumed {
		force = "1"
	}
	ev := proto.Marshal(wire{T: wJoin, Node: b.self, Room: j.Room, Member: &m})
	b.pubMu.Lock()
	req.syncs.Store(b.syncs.Load()) // before the script publishes the snapshot that completes req
	ctx, cancel := b.cmdCtx()
	res, err := joinScript.Run(ctx, b.rdb, []string{b.roomKey(j.Room), b.roomsKey()},
		j.Peer, string(proto.Marshal(m)), b.rooms.RoomSize(), b.nodeKey(""), b.evCh, string(ev), b.myCh, rid, force, j.Room, b.keyTTL()).Slice()
	cancel()
	b.pubMu.Unlock()
	if err != nil || len(res) != 2 {
		if err == nil {
			err = fmt.Errorf("unexpected reply %v", res)
		}
		b.fail("join", err)
		return "", signal.JoinLocal
	}
	if ok, _ := res[0].(int64); ok == 0 {
		return "", signal.JoinFull
	}
	snap, _ := res[1].(string)
	return snap, signal.JoinDone
}

// awaitSnapshot waits for the snapshot of req on the subscription, where it
// comes in stream order, and returns whether the peer entered its room. If
// the subscription does not deliver it within RedisTimeout (it just
// dropped), the copy snap from the script's reply completes the join.
func (b *Bus) awaitSnapshot(req *joinReq, snap string) bool {
	select {
	case ok := <-req.done:
		return ok
	case <-time.After(b.cfg.RedisTimeout):
	}
	b.mu.Lock()
	claimed := req.claimed
	req.claimed = true
	b.mu.Unlock()
	if claimed {
		return <-req.done
	}
	var w wire
	_ = json.Unmarshal([]byte(snap), &w)
	return b.complete(req, w.Members)
}

// onSnap completes the join the snapshot belongs to, in stream order.
func (b *Bus) onSnap(w wire) {
	b.mu.Lock()
	req := b.joins[w.Req]
	if req == nil || req.claimed {
		b.mu.Unlock()
		return
	}
	req.claimed = true
	b.mu.Unlock()
	req.done <- b.complete(req, w.Members)
}

// complete puts the peer of req into its room with the snapshot members. A
// full sync that ran since join.lua stored the peer as it was while joining
// (not yet marked host, when join.lua made it the room's first), over what
// join.lua wrote: the peer's entry is then written again as it is now.
func (b *Bus) complete(req *joinReq, members []signal.Member) bool {
	ok := req.j.Complete(members)
	b.knowAll(members)
	if ok && b.syncs.Load() != req.syncs.Load() {
		if m, in := req.j.Member(); in {
			b.Update(req.j.Room, m)
		}
	}
	return ok
}

// Leave removes a peer of this node from room in Redis, tells the others,
// and says whether members of live nodes remain (leave.lua counts them in
// the same step).
func (b *Bus) Leave(room, id string) signal.RoomLeft {
	if !b.linkUp() {
		b.markDirty(room)
		return signal.LeftUnknown
	}
	var cmd *redis.Cmd
	err := b.pipe("leave", func(ctx context.Context, p redis.Pipeliner) {
		cmd = leaveScript.Eval(ctx, p, []string{b.roomKey(room), b.ctlKey(room)}, id, b.evCh,
			string(proto.Marshal(wire{T: wLeave, Node: b.self, Room: room, ID: id})), b.nodeKey(""))
	})
	if err != nil {
		b.markDirty(room)
		return signal.LeftUnknown
	}
	n, err := cmd.Int()
	switch {
	case err != nil:
		return signal.LeftUnknown
	case n == 0:
		return signal.LeftEmpty
	}
	return signal.LeftInUse
}

// Update stores a peer's new name/state and tells the others.
func (b *Bus) Update(room string, m signal.Member) {
	m.Node = b.self
	b.write("update", room, func(ctx context.Context, p redis.Pipeliner) {
		p.HSet(ctx, b.roomKey(room), m.ID, proto.Marshal(m))
		p.Publish(ctx, b.evCh, proto.Marshal(wire{T: wUpdate, Node: b.self, Room: room, Member: &m}))
	})
}

// write makes a membership change of room (op names it in errors). While
// Redis is unreachable, or when the write fails, the room is marked for the
// next sync instead.
func (b *Bus) write(op, room string, cmds func(context.Context, redis.Pipeliner)) {
	if !b.linkUp() {
		b.markDirty(room)
		return
	}
	if b.pipe(op, cmds) != nil {
		b.markDirty(room)
	}
}

// pipe runs cmds, a membership change (op names it in errors), in one
// pipeline, serialized with the node's other membership writes.
func (b *Bus) pipe(op string, cmds func(context.Context, redis.Pipeliner)) error {
	b.pubMu.Lock()
	defer b.pubMu.Unlock()
	ctx, cancel := b.cmdCtx()
	defer cancel()
	_, err := b.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		cmds(ctx, p)
		return nil
	})
	if err != nil {
		b.fail(op, err)
	}
	return err
}

func (b *Bus) markDirty(room string) {
	b.mu.Lock()
	b.dirty[room] = true
	b.mu.Unlock()
}

// syncAll publishes this node's membership of every room it has peers in
// (and of rooms it left while Redis was away) and rewrites its entries in
// the room hashes.
func (b *Bus) syncAll() {
	b.pubMu.Lock()
	defer b.pubMu.Unlock()
	b.syncs.Add(1)
	view := b.rooms.View(b.staleRooms())
	var failed []string
	for room, ms := range view {
		if len(failed) > 0 {
			failed = append(failed, room)
			continue
		}
		if err := b.syncRoom(room, ms); err != nil {
			b.fail("sync", err)
			failed = append(failed, room)
		}
	}
	if len(failed) > 0 {
		b.mu.Lock()
		for _, r := range failed {
			b.dirty[r] = true
		}
		b.mu.Unlock()
		return
	}
	b.refreshMedia()
}

// staleRooms takes the rooms marked dirty, plus, once the resume window
// after this node's start is over, the rooms a previous run of this NodeID
// left entries in (a crash, or a stop whose sessions were not resumed
// within the window).
func (b *Bus) staleRooms() []string {
	b.mu.Lock()
	var rooms []string
	for r := range b.dirty {
		rooms = append(rooms, r)
	}
	clear(b.dirty)
	b.mu.Unlock()
	if time.Since(b.started) > b.rooms.ResumeWindow() {
		ctx, cancel := b.cmdCtx()
		prev, err := b.rdb.SMembers(ctx, b.roomsKey()).Result()
		cancel()
		if err == nil {
			rooms = append(rooms, prev...)
		}
	}
	return rooms
}

// syncRoom makes this node's entries in room exactly ms and publishes them.
func (b *Bus) syncRoom(room string, ms []signal.Member) error {
	args := []any{b.self, b.evCh, string(proto.Marshal(wire{T: wSync, Node: b.self, Room: room, Members: ms})), room, b.keyTTL()}
	for _, m := range ms {
		args = append(args, m.ID, string(proto.Marshal(m)))
	}
	ctx, cancel := b.cmdCtx()
	defer cancel()
	return syncScript.Run(ctx, b.rdb, []string{b.roomKey(room), b.roomsKey(), b.ctlKey(room)}, args...).Err()
}
