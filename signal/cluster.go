package signal

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/zeromicro/go-zero/core/logx"

	"github.com/rtcd/rtcd/auth"

	"github.com/rtcd/rtcd/signal/proto"
)

// ICE server choices of ClusterConfig.ICEServers.
const (
	ICEOwnNode  = "own" // clients get the STUN/TURN URLs of the node they are connected to
	ICEAllNodes = "all" // clients get those of every live node, their own first
)

// ClusterConfig is the `Cluster` section of etc/rtcd.yaml: several nodes
// share rooms through one Redis (docs/cluster.md). Disabled, the hub is a
// single node and needs no Redis.
type ClusterConfig struct {
	// Enabled switches cluster mode on.
	Enabled bool `json:",optional"`
	// RedisAddr is host:port of the Redis every node uses. Defaults to 127.0.0.1:6379.
	RedisAddr string `json:",default=127.0.0.1:6379"`
	// RedisPassword authenticates to Redis; set it as ${RTCD_REDIS_PASSWORD}.
	RedisPassword string `json:",optional"`
	// RedisDB selects the Redis database. Defaults to 0.
	RedisDB int `json:",optional"`
	// KeyPrefix starts every Redis key and channel, so that several
	// deployments can share one Redis. Defaults to "rtcd".
	KeyPrefix string `json:",default=rtcd"`
	// NodeID names this node in Redis and in resume tokens: 1-64 characters
	// of A-Z a-z 0-9 _ . -, unique in the cluster. Defaults to the host name
	// plus a random suffix, which changes at every start.
	NodeID string `json:",optional"`
	// HeartbeatInterval is how often the node says it is alive. Defaults to 2s.
	HeartbeatInterval time.Duration `json:",default=2s"`
	// NodeTTL is how long a silent node is believed alive; after it, its
	// peers leave the rooms of the other nodes. It is also how long a node
	// that lost Redis keeps showing the peers of other nodes. Defaults to 10s.
	NodeTTL time.Duration `json:",default=10s"`
	// RedisTimeout bounds each Redis command (and a join waiting for Redis),
	// so that an unreachable Redis never stalls a client for long. Defaults to 1s.
	RedisTimeout time.Duration `json:",default=1s"`
	// ICEServers is "own" (default) or "all": which nodes' STUN/TURN URLs
	// clients get. TURN credentials verify on every node sharing Auth.Secrets.
	ICEServers string `json:",default=own,options=own|all"`
}

func (c ClusterConfig) withDefaults() ClusterConfig {
	if c.RedisAddr == "" {
		c.RedisAddr = "127.0.0.1:6379"
	}
	if c.KeyPrefix == "" {
		c.KeyPrefix = "rtcd"
	}
	if c.HeartbeatInterval == 0 {
		c.HeartbeatInterval = 2 * time.Second
	}
	if c.NodeTTL == 0 {
		c.NodeTTL = 10 * time.Second
	}
	if c.RedisTimeout == 0 {
		c.RedisTimeout = time.Second
	}
	if c.ICEServers == "" {
		c.ICEServers = ICEOwnNode
	}
	return c
}

// Validate names the first invalid field. A disabled section is valid.
func (c ClusterConfig) Validate() error {
	if !c.Enabled {
		return nil
	}
	d := c.withDefaults()
	if c.NodeID != "" && !proto.ValidASCIIName(c.NodeID) {
		return fmt.Errorf("Cluster.NodeID: %q must be 1-64 characters of A-Z a-z 0-9 _ . -", c.NodeID)
	}
	if d.HeartbeatInterval <= 0 || d.NodeTTL <= 0 || d.RedisTimeout <= 0 {
		return errors.New("Cluster.HeartbeatInterval, NodeTTL and RedisTimeout must be positive")
	}
	if d.NodeTTL < 2*d.HeartbeatInterval {
		return fmt.Errorf("Cluster.NodeTTL: %v must be at least twice HeartbeatInterval %v, or live nodes are dropped", d.NodeTTL, d.HeartbeatInterval)
	}
	if d.ICEServers != ICEOwnNode && d.ICEServers != ICEAllNodes {
		return fmt.Errorf("Cluster.ICEServers: %q is not own or all", c.ICEServers)
	}
	if !proto.ValidASCIIName(d.KeyPrefix) {
		return fmt.Errorf("Cluster.KeyPrefix: %q must be 1-64 characters of A-Z a-z 0-9 _ . -", c.KeyPrefix)
	}
	return nil
}

// defaultNodeID is the host name (cleaned) plus a random suffix.
func defaultNodeID() string {
	host, _ := os.Hostname()
	var b strings.Builder
	for _, r := range host {
		if r < 128 && (r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.') {
			b.WriteRune(r)
		}
	}
	h := b.String()
	if h == "" {
		h = "node"
	}
	if len(h) > 50 {
		h = h[:50]
	}
	return h + "-" + randomID(6)
}

// joinResult is how a cluster join ended.
type joinResult int

const (
	joinDone     joinResult = iota // s is in the room
	joinFull                       // the room has RoomSize peers cluster-wide
	joinFallback                   // Redis unreachable: join on this node only
	joinAlready                    // s is in a room already
)

// sessionRec is what a node hands to another that takes a session over
// (and what a stopping node leaves in Redis for the resume window).
type sessionRec struct {
	Peer   string       `json:"peer"`
	User   string       `json:"user"`
	Claims *auth.Claims `json:"claims,omitempty"`
	Name   string       `json:"name"`
	State  proto.State  `json:"state"`
	Room   string       `json:"room,omitempty"`
	Client string       `json:"client,omitempty"`
}

// wire is every message between nodes, on the events channel (all nodes) or
// a node's own channel. T is the type; Node the sender.
type wire struct {
	T       string          `json:"t"`
	Node    string          `json:"node,omitempty"`
	Room    string          `json:"room,omitempty"`
	Member  *member         `json:"member,omitempty"`
	Members []member        `json:"members,omitempty"`
	ID      string          `json:"id,omitempty"`
	Req     string          `json:"req,omitempty"`
	From    string          `json:"from,omitempty"`
	To      string          `json:"to,omitempty"`
	Msg     json.RawMessage `json:"msg,omitempty"`
	Hop     int             `json:"hop,omitempty"`
	Tok     string          `json:"tok,omitempty"`
	OK      bool            `json:"ok,omitempty"`
	Sess    *sessionRec     `json:"sess,omitempty"`
	Items   [][]byte        `json:"items,omitempty"`
	ICE     *ICEURLs        `json:"ice,omitempty"`
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
	wSnap      = "snap"    // own channel: room snapshot for join req
	wSignal    = "sig"     // to node: relay msg to peer to
	wTake      = "take"    // to node: hand me the session of resume token tok
	wHanded    = "handed"  // to node: the session (or OK=false)
	wFlush     = "flush"   // to node: answer flushed once what came before is forwarded
	wFlushed   = "flushed" // to node: answer to flush
)

// joinScript checks the room's capacity, counting only members of live
// nodes (entries of dead nodes are removed on the way), adds the member,
// and publishes the join event and the snapshot in the same atomic step:
// the snapshot reaches the joining node at its exact place among the
// events, so no event is missed or applied twice.
//
// KEYS[1] room hash, KEYS[2] this node's set of rooms. ARGV: 1 peer id,
// 2 member JSON, 3 room size, 4 node key prefix, 5 events channel, 6 join
// event, 7 own channel, 8 request id, 9 "1" when resuming (an existing entry
// for the peer skips the check), 10 room name, 11 key TTL in ms.
var joinScript = redis.NewScript(`
local all = redis.call('HGETALL', KEYS[1])
local live, n, known = {}, 0, false
for i = 1, #all, 2 do
  local id, v = all[i], all[i + 1]
  if id == ARGV[1] then
    known = true
  else
    local ok, m = pcall(cjson.decode, v)
    if ok and type(m) == 'table' and type(m.node) == 'string' and redis.call('EXISTS', ARGV[4] .. m.node) == 1 then
      n = n + 1
      live[#live + 1] = v
    else
      redis.call('HDEL', KEYS[1], id)
    end
  end
end
if n >= tonumber(ARGV[3]) and not (ARGV[9] == '1' and known) then
  return {0, ''}
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[11])
redis.call('SADD', KEYS[2], ARGV[10])
redis.call('PUBLISH', ARGV[5], ARGV[6])
local snap = '{"t":"snap","req":"' .. ARGV[8] .. '","members":[' .. table.concat(live, ',') .. ']}'
redis.call('PUBLISH', ARGV[7], snap)
return {1, snap}
`)

// syncScript makes node ARGV[1]'s entries in room hash KEYS[1] exactly the
// id/JSON pairs in ARGV[6...], keeps room ARGV[4] in the node's set of rooms
// KEYS[2] while it has entries, refreshes the room's TTL (ARGV[5] ms) and
// publishes the sync event ARGV[3] on channel ARGV[2].
var syncScript = redis.NewScript(`
local keep = {}
if #ARGV > 5 then
  redis.call('SADD', KEYS[2], ARGV[4])
else
  redis.call('SREM', KEYS[2], ARGV[4])
end
for i = 6, #ARGV, 2 do
  keep[ARGV[i]] = true
  redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1])
end
if redis.call('EXISTS', KEYS[1]) == 1 then
  redis.call('PEXPIRE', KEYS[1], ARGV[5])
end
local all = redis.call('HGETALL', KEYS[1])
for i = 1, #all, 2 do
  if not keep[all[i]] then
    local ok, m = pcall(cjson.decode, all[i + 1])
    if not ok or type(m) ~= 'table' or m.node == ARGV[1] then
      redis.call('HDEL', KEYS[1], all[i])
    end
  end
end
redis.call('PUBLISH', ARGV[2], ARGV[3])
return 1
`)

// cluster links a hub to the other nodes through Redis. Each node is the
// authority on its own sessions; the others mirror them as placeholders in
// their rooms, fed by events on one channel. Targeted messages go to the
// addressee's node on that node's channel. See docs/cluster.md.
type cluster struct {
	cfg     ClusterConfig
	self    string
	h       *Hub
	r       *router
	rdb     *redis.Client
	pfx     string // key prefix with ":"
	evCh    string // events channel
	myCh    string // this node's channel
	ctx     context.Context
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	started time.Time

	// pubMu serializes this node's membership writes (join, leave, update,
	// move, sync), so that a sync never overtakes a change it did not see.
	pubMu sync.Mutex

	mu         sync.Mutex // guards the following fields; taken after router.mu, never before
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
	others     []ICEURLs            // ICE URLs of the other live nodes (ICEServers=all)
}

type joinReq struct {
	s       *session
	room    string
	id      string
	resumed bool
	claimed bool      // completeJoin is running or ran; guarded by cluster.mu
	done    chan bool // result of completeJoin
}

// inbuf holds signals for a peer this node is taking over: msgs came from
// other nodes (forwarded by the old node), later from this node's own peers
// once the hand-over began. Delivered in that order.
type inbuf struct {
	msgs     [][]byte
	later    [][]byte
	arriving bool // the session was handed over; local senders buffer too
	at       time.Time
}

type movedTo struct {
	node string
	at   time.Time
}

// redisLog routes go-redis's own messages (dial failures while Redis is
// down, repeated every retry) to logx at debug level; the cluster logs
// the outage itself once.
type redisLog struct{}

func (redisLog) Printf(_ context.Context, format string, v ...any) {
	logx.Debugw("signal: go-redis", logx.Field("msg", fmt.Sprintf(format, v...)))
}

var setRedisLog sync.Once

// newCluster connects hub h to Redis. It does not fail when Redis is
// unreachable: the node then serves its rooms alone and keeps retrying.
func newCluster(h *Hub, cfg ClusterConfig) (*cluster, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	self := cfg.NodeID
	if self == "" {
		self = defaultNodeID()
	}
	setRedisLog.Do(func() { redis.SetLogger(redisLog{}) })
	ctx, cancel := context.WithCancel(context.Background())
	pfx := cfg.KeyPrefix + ":"
	c := &cluster{
		cfg:  cfg,
		self: self,
		h:    h,
		r:    h.router,
		rdb: redis.NewClient(&redis.Options{
			Addr:         cfg.RedisAddr,
			Password:     cfg.RedisPassword,
			DB:           cfg.RedisDB,
			DialTimeout:  cfg.RedisTimeout,
			ReadTimeout:  cfg.RedisTimeout,
			WriteTimeout: cfg.RedisTimeout,
			// A retried PUBLISH could deliver a signal twice; failures are
			// reported instead and the periodic sync repairs membership.
			MaxRetries:      -1,
			PoolSize:        32,
			DisableIdentity: true,
		}),
		pfx:      pfx,
		evCh:     pfx + "events",
		myCh:     pfx + "to:" + self,
		ctx:      ctx,
		cancel:   cancel,
		started:  time.Now(),
		lastSeen: make(map[string]time.Time),
		joins:    make(map[string]*joinReq),
		takes:    make(map[string]chan wire),
		incoming: make(map[string]*inbuf),
		moved:    make(map[string]movedTo),
		dirty:    make(map[string]bool),
	}
	return c, nil
}

func (c *cluster) start() {
	c.wg.Add(2)
	go c.subscribeLoop()
	go c.heartbeatLoop()
	logx.Infow("signal: cluster mode", logx.Field("node", c.self), logx.Field("redis", c.cfg.RedisAddr))
}

// stop leaves the cluster: heartbeats end and the node key is deleted, so
// that other nodes stop waiting for this one; its peers leave their rooms
// after NodeTTL unless they resume on another node first.
func (c *cluster) stop() {
	c.cancel()
	c.mu.Lock()
	ps := c.ps
	c.mu.Unlock()
	if ps != nil {
		_ = ps.Close()
	}
	c.wg.Wait()
	ctx, cancel := context.WithTimeout(context.Background(), c.cfg.RedisTimeout)
	defer cancel()
	_ = c.rdb.Del(ctx, c.pfx+"node:"+c.self).Err()
	_ = c.rdb.SRem(ctx, c.pfx+"nodes", c.self).Err()
	_ = c.rdb.Close()
}

func (c *cluster) cmdCtx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), c.cfg.RedisTimeout)
}

// linkUp reports whether the subscription is live: only then do joins and
// signals go through Redis.
func (c *cluster) linkUp() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.subscribed
}

// health is nil while the node is connected to the cluster.
func (c *cluster) health() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.subscribed {
		since := "start"
		if !c.downSince.IsZero() {
			since = c.downSince.UTC().Format(time.RFC3339)
		}
		return fmt.Errorf("cluster: redis %s unreachable since %s (%s); rooms work on this node only", c.cfg.RedisAddr, since, c.lastErr)
	}
	if time.Since(c.lastBeat) > 2*c.cfg.HeartbeatInterval+c.cfg.RedisTimeout {
		return fmt.Errorf("cluster: heartbeat to redis %s failing (%s)", c.cfg.RedisAddr, c.lastErr)
	}
	return nil
}

// fail records a failed Redis command.
func (c *cluster) fail(op string, err error) {
	c.mu.Lock()
	c.lastErr = op + ": " + err.Error()
	c.mu.Unlock()
	logx.Debugw("signal: cluster redis", logx.Field("op", op), logx.Field("err", err.Error()))
}

func (c *cluster) setSubscribed(up bool, why string) {
	c.mu.Lock()
	was := c.subscribed
	c.subscribed = up
	if !up && why != "" {
		c.lastErr = why
	}
	first := !c.everUp
	if up {
		c.everUp = true
	}
	down := c.downSince
	switch {
	case up && !was:
		c.downSince = time.Time{}
	case !up && was:
		c.downSince = time.Now()
	case !up && c.downSince.IsZero():
		c.downSince = time.Now()
	}
	c.mu.Unlock()
	switch {
	case up && !was && first:
		logx.Infow("signal: cluster connected", logx.Field("node", c.self), logx.Field("redis", c.cfg.RedisAddr))
	case up && !was:
		logx.Infow("signal: redis reachable again; cross-node signaling resumed", logx.Field("node", c.self),
			logx.Field("down", time.Since(down).Round(time.Millisecond).String()))
	case !up && (was || first && down.IsZero()):
		logx.Errorw("signal: redis unreachable; rooms continue on this node only, cross-node signaling paused",
			logx.Field("node", c.self), logx.Field("redis", c.cfg.RedisAddr), logx.Field("err", why))
	}
}

// seen notes that node is alive (a message from it arrived).
func (c *cluster) seen(node string) {
	if node == "" || node == c.self {
		return
	}
	c.mu.Lock()
	c.lastSeen[node] = time.Now()
	c.mu.Unlock()
}

// know starts the liveness clock of a node learned from a snapshot, without
// refreshing it: only the node's own messages prove it alive.
func (c *cluster) know(node string) {
	if node == "" || node == c.self {
		return
	}
	c.mu.Lock()
	if _, ok := c.lastSeen[node]; !ok {
		c.lastSeen[node] = time.Now()
	}
	c.mu.Unlock()
}

func (c *cluster) markDirty(room string) {
	c.mu.Lock()
	c.dirty[room] = true
	c.mu.Unlock()
}

func (c *cluster) roomKey(room string) string { return c.pfx + "room:" + room }

// keyTTL (ms) lets Redis forget a room hash that no node refreshes any more
// (every node stopped): the periodic sync renews it every NodeTTL, and a
// stopped node's entries outlive the resume window.
func (c *cluster) keyTTL() int64 {
	return (3*c.cfg.NodeTTL + c.h.cfg.ResumeWindow).Milliseconds()
}

// roomsKey is the set of rooms in which this node has entries: after a
// crash, a node restarted with the same NodeID clears what its previous
// run left there.
func (c *cluster) roomsKey() string          { return c.pfx + "noderooms:" + c.self }
func (c *cluster) nodeCh(node string) string { return c.pfx + "to:" + node }
func (c *cluster) sessKey(tok string) string {
	h := sha256.Sum256([]byte(tok))
	return c.pfx + "sess:" + hex.EncodeToString(h[:])
}

// subscribeLoop keeps one subscription to the events channel and this
// node's channel, reconnecting with backoff; every (re)subscription resyncs.
func (c *cluster) subscribeLoop() {
	defer c.wg.Done()
	backoff := 100 * time.Millisecond
	for c.ctx.Err() == nil {
		ps := c.rdb.Subscribe(c.ctx, c.evCh, c.myCh)
		c.mu.Lock()
		c.ps = ps
		c.mu.Unlock()
		if c.ctx.Err() != nil { // stop raced with Subscribe
			_ = ps.Close()
			return
		}
		err := c.receive(ps)
		_ = ps.Close()
		if c.ctx.Err() != nil {
			return
		}
		if c.linkUp() {
			backoff = 100 * time.Millisecond // it worked until now: retry soon
		}
		c.setSubscribed(false, err.Error())
		select {
		case <-c.ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, c.cfg.HeartbeatInterval)
	}
}

// receive handles messages until the subscription fails. Own heartbeats
// come back every HeartbeatInterval, so silence means a dead link.
func (c *cluster) receive(ps *redis.PubSub) error {
	subs := 0
	timeout := 2*c.cfg.HeartbeatInterval + c.cfg.RedisTimeout
	for {
		msg, err := ps.ReceiveTimeout(c.ctx, timeout)
		if err != nil {
			return err
		}
		switch m := msg.(type) {
		case *redis.Subscription:
			if m.Kind == "subscribe" {
				subs++
				if subs == 2 {
					c.setSubscribed(true, "")
					c.resync()
				}
			}
		case *redis.Message:
			c.handle(m.Channel, m.Payload)
		}
	}
}

// resync re-registers this node after a (re)connection: Redis may have lost
// everything (a restart without persistence) or missed changes made while
// it was unreachable. Other nodes are asked to resend their membership.
func (c *cluster) resync() {
	c.beat()
	c.syncAll()
	c.publish(c.evCh, wire{T: wSyncReq, Node: c.self})
}

func (c *cluster) publish(ch string, w wire) (int64, error) {
	ctx, cancel := c.cmdCtx()
	defer cancel()
	n, err := c.rdb.Publish(ctx, ch, proto.Marshal(w)).Result()
	if err != nil {
		c.fail("publish", err)
	}
	return n, err
}

// handle dispatches one message from another node.
func (c *cluster) handle(channel, payload string) {
	var w wire
	if err := json.Unmarshal([]byte(payload), &w); err != nil {
		logx.Errorw("signal: cluster: bad message", logx.Field("channel", channel), logx.Field("err", err.Error()))
		return
	}
	if channel == c.evCh {
		if w.Node == c.self {
			return
		}
		c.seen(w.Node)
		switch w.T {
		case wJoin, wUpdate:
			// A node speaks for its own peers only.
			if m := w.Member; m != nil && m.ID != "" && m.Node == w.Node {
				c.r.applyJoin(w.Room, *m)
			}
		case wMove:
			// Only the owner moves a peer; one moved to this node is
			// already here (the take-over added it).
			if m := w.Member; m != nil && m.ID != "" && m.Node != "" && m.Node != c.self {
				c.r.applyMove(w.Node, w.Room, *m)
			}
		case wLeave:
			c.r.applyLeave(w.Node, w.Room, w.ID)
		case wSync:
			c.r.applySync(w.Node, w.Room, w.Members)
		case wSyncReq:
			c.syncAll()
		}
		return
	}
	switch w.T {
	case wSnap:
		c.onSnap(w)
	case wSignal:
		c.onSignal(w)
	case wTake:
		c.onTake(w)
	case wFlush:
		// Everything this node received before is delivered or forwarded
		// by now (this loop is serial): say so.
		_, _ = c.publish(c.nodeCh(w.Node), wire{T: wFlushed, Node: c.self, Req: w.Req})
	case wHanded, wFlushed:
		c.mu.Lock()
		ch := c.takes[w.Req]
		c.mu.Unlock()
		if ch != nil {
			select {
			case ch <- w:
			default:
			}
		}
	}
}

// heartbeatLoop refreshes this node's key, expires silent nodes and runs
// the periodic sync that repairs anything a lost message left behind.
func (c *cluster) heartbeatLoop() {
	defer c.wg.Done()
	t := time.NewTicker(c.cfg.HeartbeatInterval)
	defer t.Stop()
	syncEvery := max(int(c.cfg.NodeTTL/c.cfg.HeartbeatInterval), 1)
	for n := 1; ; n++ {
		select {
		case <-c.ctx.Done():
			return
		case <-t.C:
		}
		c.beat()
		c.expire()
		if n%syncEvery == 0 && c.linkUp() {
			c.syncAll()
		}
	}
}

// beat writes this node's key (with its ICE URLs) with NodeTTL and publishes
// a heartbeat; in ICEServers=all mode it also reads the other nodes' URLs.
func (c *cluster) beat() {
	ctx, cancel := c.cmdCtx()
	defer cancel()
	info := proto.Marshal(wire{T: wHeartbeat, Node: c.self, ICE: &c.h.urls})
	_, err := c.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		p.Set(ctx, c.pfx+"node:"+c.self, info, c.cfg.NodeTTL)
		p.SAdd(ctx, c.pfx+"nodes", c.self)
		p.Publish(ctx, c.evCh, proto.Marshal(wire{T: wHeartbeat, Node: c.self}))
		return nil
	})
	if err != nil {
		c.fail("heartbeat", err)
		return
	}
	c.mu.Lock()
	c.lastBeat = time.Now()
	c.mu.Unlock()
	if c.cfg.ICEServers == ICEAllNodes {
		c.readNodes(ctx)
	}
}

// readNodes caches the ICE URLs of the other live nodes.
func (c *cluster) readNodes(ctx context.Context) {
	ids, err := c.rdb.SMembers(ctx, c.pfx+"nodes").Result()
	if err != nil {
		c.fail("nodes", err)
		return
	}
	slices.Sort(ids)
	var others []ICEURLs
	for _, id := range ids {
		if id == c.self {
			continue
		}
		b, err := c.rdb.Get(ctx, c.pfx+"node:"+id).Bytes()
		if errors.Is(err, redis.Nil) {
			_ = c.rdb.SRem(ctx, c.pfx+"nodes", id).Err()
			continue
		}
		var w wire
		if err != nil || json.Unmarshal(b, &w) != nil || w.ICE == nil {
			continue
		}
		others = append(others, *w.ICE)
	}
	c.mu.Lock()
	c.others = others
	c.mu.Unlock()
}

// iceURLs are the URLs handed to clients: this node's, then (ICEServers=all)
// those of the other live nodes.
func (c *cluster) iceURLs(own ICEURLs) ICEURLs {
	if c.cfg.ICEServers != ICEAllNodes {
		return own
	}
	c.mu.Lock()
	others := c.others
	c.mu.Unlock()
	u := ICEURLs{STUN: slices.Clone(own.STUN), TURN: slices.Clone(own.TURN)}
	for _, o := range others {
		for _, s := range o.STUN {
			if !slices.Contains(u.STUN, s) {
				u.STUN = append(u.STUN, s)
			}
		}
		for _, s := range o.TURN {
			if !slices.Contains(u.TURN, s) {
				u.TURN = append(u.TURN, s)
			}
		}
	}
	return u
}

// expire drops the peers of nodes not heard from for NodeTTL. While this
// node itself cannot reach Redis that is every other node: after NodeTTL
// of outage its rooms hold only its own peers, as the others' hold theirs.
func (c *cluster) expire() {
	now := time.Now()
	var dead []string
	c.mu.Lock()
	for n, t := range c.lastSeen {
		if now.Sub(t) > c.cfg.NodeTTL {
			dead = append(dead, n)
			delete(c.lastSeen, n)
		}
	}
	for id, m := range c.moved {
		if now.Sub(m.at) > c.cfg.NodeTTL {
			delete(c.moved, id)
		}
	}
	for id, b := range c.incoming {
		if now.Sub(b.at) > 2*c.cfg.NodeTTL {
			delete(c.incoming, id)
		}
	}
	c.mu.Unlock()
	for _, n := range dead {
		if k := c.r.dropNode(n); k > 0 {
			logx.Infow("signal: cluster node gone; its peers left their rooms", logx.Field("node", n), logx.Field("peers", k))
		}
	}
}

// syncAll publishes this node's membership of every room it has peers in
// (and of rooms it left while Redis was away) and rewrites its entries in
// the room hashes.
func (c *cluster) syncAll() {
	c.pubMu.Lock()
	defer c.pubMu.Unlock()
	c.mu.Lock()
	var also []string
	for r := range c.dirty {
		also = append(also, r)
	}
	clear(c.dirty)
	c.mu.Unlock()
	if time.Since(c.started) > c.h.cfg.ResumeWindow {
		// Rooms a previous run of this NodeID left entries in (a crash, or a
		// stop whose sessions were not resumed within the window).
		ctx, cancel := c.cmdCtx()
		rooms, err := c.rdb.SMembers(ctx, c.roomsKey()).Result()
		cancel()
		if err == nil {
			also = append(also, rooms...)
		}
	}
	view := c.r.localView(also)
	var failed []string
	for room, ms := range view {
		if len(failed) > 0 {
			failed = append(failed, room)
			continue
		}
		args := []any{c.self, c.evCh, string(proto.Marshal(wire{T: wSync, Node: c.self, Room: room, Members: ms})), room, c.keyTTL()}
		for _, m := range ms {
			args = append(args, m.ID, string(proto.Marshal(m)))
		}
		ctx, cancel := c.cmdCtx()
		err := syncScript.Run(ctx, c.rdb, []string{c.roomKey(room), c.roomsKey()}, args...).Err()
		cancel()
		if err != nil {
			c.fail("sync", err)
			failed = append(failed, room)
		}
	}
	if len(failed) > 0 {
		c.mu.Lock()
		for _, r := range failed {
			c.dirty[r] = true
		}
		c.mu.Unlock()
	}
}

// join adds s to room cluster-wide: capacity is checked atomically in
// Redis, and s enters the local room at the point of the event stream where
// Redis took the snapshot.
func (c *cluster) join(s *session, room, id string, resumed bool) joinResult {
	if !c.linkUp() {
		return joinFallback
	}
	if e := c.r.beginJoin(s, room); e != nil {
		return joinAlready
	}
	req := &joinReq{s: s, room: room, id: id, resumed: resumed, done: make(chan bool, 1)}
	rid := randomID(16)
	c.mu.Lock()
	c.joins[rid] = req
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		delete(c.joins, rid)
		c.mu.Unlock()
	}()
	c.r.mu.Lock()
	m := memberOf(s, c.self)
	c.r.mu.Unlock()
	force := "0"
	if resumed {
		force = "1"
	}
	ev := proto.Marshal(wire{T: wJoin, Node: c.self, Room: room, Member: &m})
	c.pubMu.Lock()
	ctx, cancel := c.cmdCtx()
	res, err := joinScript.Run(ctx, c.rdb, []string{c.roomKey(room), c.roomsKey()},
		s.id, string(proto.Marshal(m)), c.r.size, c.pfx+"node:", c.evCh, string(ev), c.myCh, rid, force, room, c.keyTTL()).Slice()
	cancel()
	c.pubMu.Unlock()
	if err != nil || len(res) != 2 {
		if err == nil {
			err = fmt.Errorf("unexpected reply %v", res)
		}
		c.fail("join", err)
		c.r.abortJoin(s)
		return joinFallback
	}
	if ok, _ := res[0].(int64); ok == 0 {
		c.r.abortJoin(s)
		return joinFull
	}
	var ok bool
	select {
	case ok = <-req.done:
	case <-time.After(c.cfg.RedisTimeout):
		// The snapshot did not come back on the subscription (it just
		// dropped): use the copy in the reply.
		c.mu.Lock()
		claimed := req.claimed
		req.claimed = true
		c.mu.Unlock()
		if claimed {
			ok = <-req.done
			break
		}
		var w wire
		snap, _ := res[1].(string)
		_ = json.Unmarshal([]byte(snap), &w)
		ok = c.complete(req, w.Members)
	}
	if !ok {
		c.leave(room, s.id) // s ended meanwhile
	}
	return joinDone
}

// onSnap completes the join the snapshot belongs to, in stream order.
func (c *cluster) onSnap(w wire) {
	c.mu.Lock()
	req := c.joins[w.Req]
	if req == nil || req.claimed {
		c.mu.Unlock()
		return
	}
	req.claimed = true
	c.mu.Unlock()
	req.done <- c.complete(req, w.Members)
}

func (c *cluster) complete(req *joinReq, members []member) bool {
	if members == nil {
		members = []member{}
	}
	return c.r.completeJoin(req.s, req.room, req.id, members, req.resumed, c.drain)
}

// drain takes the signals buffered for a session taken over by this node.
// Called with router.mu held.
func (c *cluster) drain(s *session) [][]byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	b := c.incoming[s.id]
	delete(c.incoming, s.id)
	if b == nil {
		return nil
	}
	return append(b.msgs, b.later...)
}

// hold keeps a signal from a peer of this node for a peer being handed over
// to this node. Called with router.mu held.
func (c *cluster) hold(to string, msg []byte) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	b := c.incoming[to]
	if b == nil || !b.arriving {
		return false
	}
	b.later = append(b.later, msg)
	return true
}

// leave removes a peer of this node from room in Redis and tells the others.
func (c *cluster) leave(room, id string) {
	if !c.linkUp() {
		c.markDirty(room)
		return
	}
	c.pubMu.Lock()
	defer c.pubMu.Unlock()
	ctx, cancel := c.cmdCtx()
	defer cancel()
	_, err := c.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		p.HDel(ctx, c.roomKey(room), id)
		p.Publish(ctx, c.evCh, proto.Marshal(wire{T: wLeave, Node: c.self, Room: room, ID: id}))
		return nil
	})
	if err != nil {
		c.fail("leave", err)
		c.markDirty(room)
	}
}

// update stores a peer's new name/state and tells the others.
func (c *cluster) update(room string, m member) {
	m.Node = c.self
	if !c.linkUp() {
		c.markDirty(room)
		return
	}
	c.pubMu.Lock()
	defer c.pubMu.Unlock()
	ctx, cancel := c.cmdCtx()
	defer cancel()
	_, err := c.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		p.HSet(ctx, c.roomKey(room), m.ID, proto.Marshal(m))
		p.Publish(ctx, c.evCh, proto.Marshal(wire{T: wUpdate, Node: c.self, Room: room, Member: &m}))
		return nil
	})
	if err != nil {
		c.fail("update", err)
		c.markDirty(room)
	}
}

// errUnreachable is a signal that could not be handed to the addressee's node.
var errUnreachable = errors.New("signal: node unreachable")

// signal relays msg from peer from to peer to on node, exactly once or not
// at all: PUBLISH is not retried, and 0 receivers means the node is not
// subscribed.
func (c *cluster) signal(node, from, to, room string, msg []byte) error {
	if !c.linkUp() {
		return errUnreachable
	}
	n, err := c.publish(c.nodeCh(node), wire{T: wSignal, Node: c.self, From: from, To: to, Room: room, Msg: msg})
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
func (c *cluster) onSignal(w wire) {
	dest := c.r.deliver(w.To, w.Room, w.Msg, c.buffer)
	if dest == "" {
		c.mu.Lock()
		if m, ok := c.moved[w.To]; ok {
			dest = m.node
		}
		c.mu.Unlock()
	}
	if dest == "" || dest == c.self || w.Hop > 0 {
		if dest == "" {
			logx.Debugw("signal: cluster: signal for an unknown peer dropped", logx.Field("to", w.To))
		}
		return
	}
	w.Node, w.Hop = c.self, 1
	_, _ = c.publish(c.nodeCh(dest), w)
}

// buffer keeps a signal for a peer that is being taken over by this node.
// Called with router.mu held.
func (c *cluster) buffer(to string, msg []byte) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	b := c.incoming[to]
	if b == nil {
		if len(c.takes) == 0 {
			return false
		}
		b = &inbuf{at: time.Now()}
		c.incoming[to] = b
	}
	b.msgs = append(b.msgs, msg)
	return true
}

// takeOver fetches the session of resume token tok from the node that
// issued it (its id is the token's suffix). If that node is gone, the
// record it left in Redis at shutdown is used.
func (c *cluster) takeOver(tok string) (*sessionRec, [][]byte) {
	node := tokenNode(tok)
	if node == "" || !c.linkUp() {
		return nil, nil
	}
	if node != c.self {
		if rec, items := c.ask(node, tok); rec != nil {
			return rec, items
		}
	}
	// The node is gone or restarted (same NodeID): the record it left at
	// shutdown, if any. GETDEL makes sure only one node resumes it.
	ctx, cancel := c.cmdCtx()
	defer cancel()
	b, err := c.rdb.GetDel(ctx, c.sessKey(tok)).Bytes()
	if err != nil {
		return nil, nil
	}
	var rec sessionRec
	if json.Unmarshal(b, &rec) != nil || rec.Peer == "" {
		return nil, nil
	}
	return &rec, nil
}

// ask requests the session of tok from node and waits for the answer.
func (c *cluster) ask(node, tok string) (*sessionRec, [][]byte) {
	rid := randomID(16)
	ch := make(chan wire, 1)
	c.mu.Lock()
	c.takes[rid] = ch
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		delete(c.takes, rid)
		c.mu.Unlock()
	}()
	n, err := c.publish(c.nodeCh(node), wire{T: wTake, Node: c.self, Req: rid, Tok: tok})
	if err != nil {
		return nil, nil
	}
	if n > 0 {
		select {
		case w := <-ch:
			if !w.OK || w.Sess == nil || w.Sess.Peer == "" {
				return nil, nil
			}
			// Keep buffering signals for the peer until it is in its room
			// here (completeJoin drains them): those the old node forwards,
			// and from now on those of this node's own peers.
			c.mu.Lock()
			b := c.incoming[w.Sess.Peer]
			if b == nil {
				b = &inbuf{at: time.Now()}
				c.incoming[w.Sess.Peer] = b
			}
			b.arriving = true
			c.mu.Unlock()
			// This node's peers may have sent signals to the old node just
			// before; wait until it has forwarded them, so they come first.
			if _, err := c.publish(c.nodeCh(node), wire{T: wFlush, Node: c.self, Req: rid}); err == nil {
				select {
				case <-ch:
				case <-time.After(c.cfg.RedisTimeout):
				}
			}
			return w.Sess, w.Items
		case <-time.After(3 * c.cfg.RedisTimeout):
		}
	}
	return nil, nil
}

// dropIncoming forgets signals buffered for a peer whose take-over failed.
func (c *cluster) dropIncoming(id string) {
	c.mu.Lock()
	delete(c.incoming, id)
	c.mu.Unlock()
}

// onTake hands a session of this node to the node that asks for it.
func (c *cluster) onTake(w wire) {
	rec, items, ok := c.h.handOff(w.Tok, w.Node)
	if !ok {
		_, _ = c.publish(c.nodeCh(w.Node), wire{T: wHanded, Node: c.self, Req: w.Req})
		return
	}
	c.mu.Lock()
	c.moved[rec.Peer] = movedTo{node: w.Node, at: time.Now()}
	c.mu.Unlock()
	if rec.Room != "" {
		m := member{ID: rec.Peer, Node: w.Node, Name: rec.Name, State: rec.State}
		c.pubMu.Lock()
		ctx, cancel := c.cmdCtx()
		_, err := c.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			p.HSet(ctx, c.roomKey(rec.Room), m.ID, proto.Marshal(m))
			p.Publish(ctx, c.evCh, proto.Marshal(wire{T: wMove, Node: c.self, Room: rec.Room, Member: &m}))
			return nil
		})
		cancel()
		c.pubMu.Unlock()
		if err != nil {
			c.fail("move", err)
		}
	}
	_, _ = c.publish(c.nodeCh(w.Node), wire{T: wHanded, Node: c.self, Req: w.Req, OK: true, Sess: rec, Items: items})
	logx.Debugw("signal: session handed to another node", logx.Field("peer", rec.Peer), logx.Field("node", w.Node))
}

// saveSessions leaves the sessions of a stopping node in Redis for the
// resume window, so that their clients can resume on another node.
func (c *cluster) saveSessions(recs map[string]sessionRec, ttl time.Duration) {
	if len(recs) == 0 || !c.linkUp() {
		return
	}
	ctx, cancel := c.cmdCtx()
	defer cancel()
	_, err := c.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for tok, rec := range recs {
			p.Set(ctx, c.sessKey(tok), proto.Marshal(rec), ttl)
		}
		return nil
	})
	if err != nil {
		c.fail("save sessions", err)
	}
}

// tokenNode is the node id at the end of a cluster resume token
// ("r_<random>.<node>"); random tokens are base64url, which has no '.'.
func tokenNode(tok string) string {
	i := strings.IndexByte(tok, '.')
	if !strings.HasPrefix(tok, "r_") || i < 0 || !proto.ValidASCIIName(tok[i+1:]) {
		return "" // not a cluster token, or not a possible NodeID
	}
	return tok[i+1:]
}
