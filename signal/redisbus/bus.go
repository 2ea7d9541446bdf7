package redisbus

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/zeromicro/go-zero/core/logx"

	"github.com/rtcd/rtcd/signal"
)

// Bus links a hub to the other nodes through Redis; it implements
// signal.RoomBus. Create it with New and hand it to Hub.StartBus, which
// starts it; Hub.Stop stops it.
type Bus struct {
	cfg    Config
	self   string
	pfx    string // key prefix with ":"
	evCh   string // events channel
	myCh   string // this node's channel
	ctx    context.Context
	cancel context.CancelFunc

	// Set by Start.
	rooms   *signal.Rooms
	rdb     *redis.Client
	started time.Time
	wg      sync.WaitGroup // the subscribe and heartbeat loops

	// pubMu serializes this node's membership writes (join, leave, update,
	// move, sync), so that a sync never overtakes a change it did not see.
	pubMu sync.Mutex
	// syncs counts the full syncs begun (syncAll), so that a join can tell
	// whether one stored its peer while it was joining.
	syncs atomic.Uint64

	mu         sync.Mutex // guards the following fields; taken after the router's lock, never before
	ps         *redis.PubSub
	subscribed bool
	everUp     bool
	downSince  time.Time
	lastBeat   time.Time // last successful heartbeat write
	lastErr    string
	lastSeen   map[string]time.Time // other nodes, by id
	joins      map[string]*joinReq  // joins waiting for their snapshot, by request id
	takes      map[string]chan wire // take-overs waiting for handed, by request id
	incoming   map[string]*inbuf    // signals for peers being taken over, by peer id
	moved      map[string]movedTo   // peers handed to another node, by id
	dirty      map[string]bool      // rooms whose Redis entries may be stale
	others     []signal.ICEURLs     // ICE URLs of the other live nodes (ICEServers=all)
	media      map[string]bool      // rooms whose media this node claimed
}

var _ signal.RoomBus = (*Bus)(nil)

// New checks cfg (as if enabled) and prepares a bus; it opens nothing.
func New(cfg Config) (*Bus, error) {
	cfg.Enabled = true
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.WithDefaults()
	self := cfg.NodeID
	if self == "" {
		self = defaultNodeID()
	}
	ctx, cancel := context.WithCancel(context.Background())
	pfx := cfg.KeyPrefix + ":"
	return &Bus{
		cfg:      cfg,
		self:     self,
		pfx:      pfx,
		evCh:     pfx + "events",
		myCh:     pfx + "to:" + self,
		ctx:      ctx,
		cancel:   cancel,
		lastSeen: make(map[string]time.Time),
		joins:    make(map[string]*joinReq),
		takes:    make(map[string]chan wire),
		incoming: make(map[string]*inbuf),
		moved:    make(map[string]movedTo),
		dirty:    make(map[string]bool),
		media:    make(map[string]bool),
	}, nil
}

// redisLog routes go-redis's own messages (dial failures while Redis is
// down, repeated every retry) to logx at debug level; the bus logs the
// outage itself once.
type redisLog struct{}

func (redisLog) Printf(_ context.Context, format string, v ...any) {
	logx.Debugw("signal: go-redis", logx.Field("msg", fmt.Sprintf(format, v...)))
}

var setRedisLog sync.Once

// Start connects to Redis and joins the cluster in the background. It does
// not fail when Redis is unreachable: the node then serves its rooms alone
// and keeps retrying.
func (b *Bus) Start(rooms *signal.Rooms) {
	setRedisLog.Do(func() { redis.SetLogger(redisLog{}) })
	b.rooms = rooms
	b.started = time.Now()
	b.rdb = redis.NewClient(&redis.Options{
		Addr:         b.cfg.RedisAddr,
		Password:     b.cfg.RedisPassword,
		DB:           b.cfg.RedisDB,
		DialTimeout:  b.cfg.RedisTimeout,
		ReadTimeout:  b.cfg.RedisTimeout,
		WriteTimeout: b.cfg.RedisTimeout,
		// A retried PUBLISH could deliver a signal twice; failures are
		// reported instead and the periodic sync repairs membership.
		MaxRetries:      -1,
		PoolSize:        32,
		DisableIdentity: true,
	})
	b.wg.Add(2)
	go b.subscribeLoop()
	go b.heartbeatLoop()
	logx.Infow("signal: cluster mode", logx.Field("node", b.self), logx.Field("redis", b.cfg.RedisAddr))
}

// Stop leaves the cluster: heartbeats end and the node key is deleted, so
// that other nodes stop waiting for this one; its peers leave their rooms
// after NodeTTL unless they resume on another node first.
func (b *Bus) Stop() {
	b.cancel()
	if b.rdb == nil {
		return // never started
	}
	b.mu.Lock()
	ps := b.ps
	b.mu.Unlock()
	if ps != nil {
		_ = ps.Close()
	}
	b.wg.Wait()
	b.releaseAllMedia()
	ctx, cancel := b.cmdCtx()
	defer cancel()
	_ = b.rdb.Del(ctx, b.pfx+"node:"+b.self).Err()
	_ = b.rdb.SRem(ctx, b.pfx+"nodes", b.self).Err()
	_ = b.rdb.Close()
}

// NodeID is this node's id in Redis and in its resume tokens.
func (b *Bus) NodeID() string { return b.self }

// Health is nil while the node is subscribed and its heartbeats reach Redis.
func (b *Bus) Health() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.subscribed {
		since := "start"
		if !b.downSince.IsZero() {
			since = b.downSince.UTC().Format(time.RFC3339)
		}
		return fmt.Errorf("cluster: redis %s unreachable since %s (%s); rooms work on this node only", b.cfg.RedisAddr, since, b.lastErr)
	}
	if time.Since(b.lastBeat) > 2*b.cfg.HeartbeatInterval+b.cfg.RedisTimeout {
		return fmt.Errorf("cluster: heartbeat to redis %s failing (%s)", b.cfg.RedisAddr, b.lastErr)
	}
	return nil
}

func (b *Bus) cmdCtx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), b.cfg.RedisTimeout)
}

// linkUp reports whether the subscription is live: only then do joins and
// signals go through Redis.
func (b *Bus) linkUp() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.subscribed
}

// fail records a failed Redis command.
func (b *Bus) fail(op string, err error) {
	b.mu.Lock()
	b.lastErr = op + ": " + err.Error()
	b.mu.Unlock()
	logx.Debugw("signal: cluster redis", logx.Field("op", op), logx.Field("err", err.Error()))
}

// setSubscribed records whether the subscription is live (why: the error
// that ended it) and logs each change once.
func (b *Bus) setSubscribed(up bool, why string) {
	b.mu.Lock()
	was := b.subscribed
	b.subscribed = up
	if !up && why != "" {
		b.lastErr = why
	}
	first := !b.everUp
	if up {
		b.everUp = true
	}
	down := b.downSince
	switch {
	case up && !was:
		b.downSince = time.Time{}
	case !up && was:
		b.downSince = time.Now()
	case !up && b.downSince.IsZero():
		b.downSince = time.Now()
	}
	b.mu.Unlock()
	switch {
	case up && !was && first:
		logx.Infow("signal: cluster connected", logx.Field("node", b.self), logx.Field("redis", b.cfg.RedisAddr))
	case up && !was:
		logx.Infow("signal: redis reachable again; cross-node signaling resumed", logx.Field("node", b.self),
			logx.Field("down", time.Since(down).Round(time.Millisecond).String()))
	case !up && (was || first && down.IsZero()):
		logx.Errorw("signal: redis unreachable; rooms continue on this node only, cross-node signaling paused",
			logx.Field("node", b.self), logx.Field("redis", b.cfg.RedisAddr), logx.Field("err", why))
	}
}

// Redis keys and channels (docs/cluster.md lists them).

func (b *Bus) roomKey(room string) string { return b.pfx + "room:" + room }

// keyTTL (ms) lets Redis forget a room hash that no node refreshes any more
// (every node stopped): the periodic sync renews it every NodeTTL, and a
// stopped node's entries outlive the resume window.
func (b *Bus) keyTTL() int64 {
	return (3*b.cfg.NodeTTL + b.rooms.ResumeWindow()).Milliseconds()
}

// mediaKey holds the node that carries the media of room (claim.lua).
func (b *Bus) mediaKey(room string) string { return b.pfx + "media:" + room }

// roomsKey is the set of rooms in which this node has entries: after a
// crash, a node restarted with the same NodeID clears what its previous
// run left there.
func (b *Bus) roomsKey() string { return b.pfx + "noderooms:" + b.self }

// nodeKey is a node's heartbeat key; nodeKey("") is the prefix join.lua
// puts a member's node id after to tell whether the node is alive.
func (b *Bus) nodeKey(node string) string { return b.pfx + "node:" + node }

// nodeCh is a node's own channel.
func (b *Bus) nodeCh(node string) string { return b.pfx + "to:" + node }

// sessKey holds a stopped node's session of resume token tok, under the
// token's hash, so that Redis holds no usable token at rest.
func (b *Bus) sessKey(tok string) string {
	h := sha256.Sum256([]byte(tok))
	return b.pfx + "sess:" + hex.EncodeToString(h[:])
}
