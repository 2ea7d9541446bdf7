package redisbus

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/rtcd/rtcd/signal"
	"github.com/rtcd/rtcd/signal/proto"
)

// Host controls across nodes (protocol.md §3.11): a room's control state
// (lock, password hash, removals) is stored next to its member hash, so a
// node with no member of the room judges a join by it, and published, so
// the nodes that have members apply it at once; host actions on a peer of
// another node travel to that node's channel, and an end to every node.

// ctlKey holds room's control state (signal.Control, JSON), as long as the
// room's member hash lives (sync.lua refreshes both, leave.lua deletes it
// with the last member).
func (b *Bus) ctlKey(room string) string { return b.pfx + "ctl:" + room }

// SetControl stores c for room and tells the other nodes.
func (b *Bus) SetControl(room string, c signal.Control) {
	b.write("control", room, func(ctx context.Context, p redis.Pipeliner) {
		p.Set(ctx, b.ctlKey(room), proto.Marshal(c), b.ttl())
		p.Publish(ctx, b.evCh, proto.Marshal(wire{T: wControl, Node: b.self, Room: room, Ctl: &c}))
	})
}

// Control reads the stored control state of room.
func (b *Bus) Control(room string) (signal.Control, bool) {
	if !b.linkUp() {
		return signal.Control{}, false
	}
	ctx, cancel := b.cmdCtx()
	defer cancel()
	v, err := b.rdb.Get(ctx, b.ctlKey(room)).Bytes()
	if err != nil {
		if !errors.Is(err, redis.Nil) {
			b.fail("control", err)
		}
		return signal.Control{}, false
	}
	var c signal.Control
	if json.Unmarshal(v, &c) != nil {
		return signal.Control{}, false
	}
	return c, true
}

// Command hands c to node, or with node "" to every other node, once or
// not at all.
func (b *Bus) Command(node string, c signal.Command) error {
	if !b.linkUp() {
		return errUnreachable
	}
	ch := b.evCh
	if node != "" {
		ch = b.nodeCh(node)
	}
	n, err := b.publish(ch, wire{T: wCommand, Node: b.self, Cmd: &c})
	if err != nil {
		return err
	}
	if node != "" && n == 0 {
		return errUnreachable
	}
	return nil
}

// ListRooms reads every room of the cluster with its members on live
// nodes, for the admin API.
func (b *Bus) ListRooms() (map[string][]signal.Member, error) {
	if !b.linkUp() {
		return nil, fmt.Errorf("cluster: redis %s unreachable", b.cfg.RedisAddr)
	}
	ctx, cancel := b.cmdCtx()
	defer cancel()
	out := make(map[string][]signal.Member)
	live := make(map[string]bool)
	var cursor uint64
	for {
		keys, next, err := b.rdb.Scan(ctx, cursor, b.pfx+"room:*", 256).Result()
		if err != nil {
			return nil, fmt.Errorf("cluster: list rooms: %w", err)
		}
		for _, k := range keys {
			ms, err := b.liveMembers(ctx, k, live)
			if err != nil {
				return nil, fmt.Errorf("cluster: list rooms: %w", err)
			}
			if len(ms) > 0 {
				out[strings.TrimPrefix(k, b.pfx+"room:")] = ms
			}
		}
		if cursor = next; cursor == 0 {
			return out, nil
		}
	}
}

// Members reads the members of room on live nodes from its hash.
func (b *Bus) Members(room string) ([]signal.Member, error) {
	if !b.linkUp() {
		return nil, fmt.Errorf("cluster: redis %s unreachable", b.cfg.RedisAddr)
	}
	ctx, cancel := b.cmdCtx()
	defer cancel()
	ms, err := b.liveMembers(ctx, b.roomKey(room), make(map[string]bool))
	if err != nil {
		b.fail("members", err)
		return nil, fmt.Errorf("cluster: members of room %s: %w", room, err)
	}
	return ms, nil
}

// liveMembers reads the members in room hash key whose node is alive;
// live caches which nodes are, across calls.
func (b *Bus) liveMembers(ctx context.Context, key string, live map[string]bool) ([]signal.Member, error) {
	all, err := b.rdb.HGetAll(ctx, key).Result()
	if err != nil {
		return nil, err
	}
	var out []signal.Member
	for _, v := range all {
		var m signal.Member
		if json.Unmarshal([]byte(v), &m) != nil || m.Node == "" {
			continue
		}
		alive, ok := live[m.Node]
		if !ok {
			n, err := b.rdb.Exists(ctx, b.nodeKey(m.Node)).Result()
			if err != nil {
				return nil, err
			}
			alive = n == 1
			live[m.Node] = alive
		}
		if alive {
			out = append(out, m)
		}
	}
	return out, nil
}

// ttl is keyTTL as a duration.
func (b *Bus) ttl() time.Duration { return time.Duration(b.keyTTL()) * time.Millisecond }

// Lobby publishes who of this node waits in room's lobby.
func (b *Bus) Lobby(room string, waiting []signal.Member) {
	if !b.linkUp() {
		return
	}
	if waiting == nil {
		waiting = []signal.Member{}
	}
	_, _ = b.publish(b.evCh, wire{T: wLobby, Node: b.self, Room: room, Members: waiting})
}

// failKey holds the shared count of key's failures (fail.lua).
func (b *Bus) failKey(key string) string { return b.pfx + "fail:" + key }

// CountFailure adds one failure to key's count in Redis, which lasts window
// from its first failure, and returns the count; false if Redis cannot be
// asked.
func (b *Bus) CountFailure(key string, window time.Duration) (int, bool) {
	if !b.linkUp() {
		return 0, false
	}
	ctx, cancel := b.cmdCtx()
	defer cancel()
	n, err := failScript.Run(ctx, b.rdb, []string{b.failKey(key)}, window.Milliseconds()).Int()
	if err != nil {
		b.fail("count failure", err)
		return 0, false
	}
	return n, true
}

// Failures reads key's count in Redis (0 once its window is over); false
// if Redis cannot be asked.
func (b *Bus) Failures(key string) (int, bool) {
	if !b.linkUp() {
		return 0, false
	}
	ctx, cancel := b.cmdCtx()
	defer cancel()
	n, err := b.rdb.Get(ctx, b.failKey(key)).Int()
	switch {
	case errors.Is(err, redis.Nil):
		return 0, true
	case err != nil:
		b.fail("failures", err)
		return 0, false
	}
	return n, true
}
