package redisbus

import (
	"crypto/rand"
	"encoding/base32"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/rtcd/rtcd/internal/defaults"
	"github.com/rtcd/rtcd/signal/proto"
)

// ICE server choices of Config.ICEServers.
const (
	ICEOwnNode  = "own" // clients get the STUN/TURN URLs of the node they are connected to
	ICEAllNodes = "all" // clients get those of every live node, their own first
)

// Config is the `Cluster` section of etc/rtcd.yaml: several nodes share
// rooms through one Redis (docs/cluster.md). Disabled, the hub is a single
// node and needs no Redis.
type Config struct {
	// Enabled switches cluster mode on.
	Enabled bool `json:",optional"`
	// RedisAddr is host:port of the Redis every node uses. Defaults to 127.0.0.1:6379.
	RedisAddr string `json:",optional"`
	// RedisPassword authenticates to Redis; set it as ${RTCD_REDIS_PASSWORD}.
	RedisPassword string `json:",optional"`
	// RedisDB selects the Redis database. Defaults to 0.
	RedisDB int `json:",optional"`
	// KeyPrefix starts every Redis key and channel, so that several
	// deployments can share one Redis. Defaults to "rtcd".
	KeyPrefix string `json:",optional"`
	// NodeID names this node in Redis and in resume tokens: 1-64 characters
	// of A-Z a-z 0-9 _ . -, unique in the cluster. Defaults to the host name
	// plus a random suffix, which changes at every start.
	NodeID string `json:",optional"`
	// HeartbeatInterval is how often the node says it is alive. Defaults to 2s.
	HeartbeatInterval time.Duration `json:",optional"`
	// NodeTTL is how long a silent node is believed alive; after it, its
	// peers leave the rooms of the other nodes. It is also how long a node
	// that lost Redis keeps showing the peers of other nodes. Defaults to 10s.
	NodeTTL time.Duration `json:",optional"`
	// RedisTimeout bounds each Redis command (and a join waiting for Redis),
	// so that an unreachable Redis never stalls a client for long. Defaults to 1s.
	RedisTimeout time.Duration `json:",optional"`
	// ICEServers is "own" (default) or "all": which nodes' STUN/TURN URLs
	// clients get. TURN credentials verify on every node sharing Auth.Secrets.
	ICEServers string `json:",optional,options=own|all"`
}

// WithDefaults returns c with every zero field set to its default: the one
// place the cluster's defaults are applied, whether c came from a file or
// code.
func (c Config) WithDefaults() Config {
	defaults.Set(&c.RedisAddr, "127.0.0.1:6379")
	defaults.Set(&c.KeyPrefix, "rtcd")
	defaults.Set(&c.HeartbeatInterval, 2*time.Second)
	defaults.Set(&c.NodeTTL, 10*time.Second)
	defaults.Set(&c.RedisTimeout, time.Second)
	defaults.Set(&c.ICEServers, ICEOwnNode)
	return c
}

// Validate names the first invalid field. A disabled section is valid.
func (c Config) Validate() error {
	if !c.Enabled {
		return nil
	}
	d := c.WithDefaults()
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

var idEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// randomID returns n characters of lowercase base32 from crypto/rand: node
// id suffixes and request ids, which the join script quotes as they are.
func randomID(n int) string {
	b := make([]byte, (n*5+7)/8)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go 1.24+)
	return idEncoding.EncodeToString(b)[:n]
}
