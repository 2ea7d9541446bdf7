package config

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/rtcd/rtcd/signal/redisbus"
)

// clusterConfig is Default() as a cluster node.
func clusterConfig() Config {
	c := Default()
	c.Auth.Secrets = []string{"cluster-test-turn-secret"}
	c.Cluster = redisbus.Config{Enabled: true, RedisAddr: "127.0.0.1:1", NodeID: "n1",
		HeartbeatInterval: 100 * time.Millisecond, NodeTTL: 1200 * time.Millisecond, RedisTimeout: 500 * time.Millisecond}
	return c
}

// TestBadClusterConfig: mistakes are refused before anything listens, with
// the field named.
func TestBadClusterConfig(t *testing.T) {
	if err := clusterConfig().Validate(); err != nil {
		t.Fatalf("valid cluster node: %v", err)
	}
	tests := []struct {
		name string
		mod  func(*Config)
		want string
	}{
		{"no shared TURN secret", func(c *Config) { c.Auth.Secrets = []string{""} }, "Auth.Secrets"},
		{"bad node id", func(c *Config) { c.Cluster.NodeID = "a/b" }, "Cluster.NodeID"},
		{"ttl under two heartbeats", func(c *Config) { c.Cluster.NodeTTL = c.Cluster.HeartbeatInterval }, "Cluster.NodeTTL"},
		{"ice choice", func(c *Config) { c.Cluster.ICEServers = "mine" }, "Cluster.ICEServers"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := clusterConfig()
			tt.mod(&c)
			if err := c.Validate(); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Validate: %v, want an error naming %s", err, tt.want)
			}
		})
	}
}

// TestClusterConfigLoads: the Cluster section loads through go-zero's
// config loader with its defaults, and the password comes from the
// environment.
func TestClusterConfigLoads(t *testing.T) {
	t.Setenv("RTCD_REDIS_PASSWORD", "from-env")
	t.Setenv("RTCD_TURN_SECRET", "shared-secret")
	dir := t.TempDir()
	path := dir + "/rtcd.yaml"
	yaml := `Name: rtcd
Port: 8080
Auth:
  Secrets: ["${RTCD_TURN_SECRET}"]
Cluster:
  Enabled: true
  RedisAddr: 10.0.0.5:6379
  RedisPassword: "${RTCD_REDIS_PASSWORD}"
  NodeID: node-a
`
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	cl := c.Cluster
	if !cl.Enabled || cl.RedisAddr != "10.0.0.5:6379" || cl.RedisPassword != "from-env" || cl.NodeID != "node-a" ||
		cl.HeartbeatInterval != 2*time.Second || cl.NodeTTL != 10*time.Second || cl.RedisTimeout != time.Second ||
		cl.ICEServers != "own" || cl.KeyPrefix != "rtcd" {
		t.Fatalf("loaded %+v", cl)
	}
	// Absent, the section is off.
	if err := os.WriteFile(path, []byte("Name: rtcd\nPort: 8080\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if c, err = Load(path); err != nil || c.Cluster.Enabled {
		t.Fatalf("no Cluster section: %+v %v", c.Cluster, err)
	}
}
