package signal

import (
	"strings"
	"testing"
	"time"

	"github.com/rtcd/rtcd/signal/proto"
)

func TestClusterConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  ClusterConfig
		want string // substring of the error; "" means valid
	}{
		{"disabled zero", ClusterConfig{}, ""},
		{"disabled junk is ignored", ClusterConfig{NodeID: "no spaces allowed"}, ""},
		{"defaults", ClusterConfig{Enabled: true}, ""},
		{"node id", ClusterConfig{Enabled: true, NodeID: "node-1.eu_west"}, ""},
		{"bad node id", ClusterConfig{Enabled: true, NodeID: "a b"}, "Cluster.NodeID"},
		{"long node id", ClusterConfig{Enabled: true, NodeID: strings.Repeat("n", 65)}, "Cluster.NodeID"},
		{"ttl too short", ClusterConfig{Enabled: true, HeartbeatInterval: time.Second, NodeTTL: 1500 * time.Millisecond}, "Cluster.NodeTTL"},
		{"negative", ClusterConfig{Enabled: true, RedisTimeout: -time.Second}, "positive"},
		{"ice", ClusterConfig{Enabled: true, ICEServers: "some"}, "Cluster.ICEServers"},
		{"ice all", ClusterConfig{Enabled: true, ICEServers: ICEAllNodes}, ""},
		{"prefix", ClusterConfig{Enabled: true, KeyPrefix: "a:b"}, "Cluster.KeyPrefix"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("unexpected error %v", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("error %v, want one naming %s", err, tt.want)
			}
		})
	}
}

func TestDefaultNodeID(t *testing.T) {
	a, b := defaultNodeID(), defaultNodeID()
	if a == b || !proto.ValidASCIIName(a) {
		t.Fatalf("node ids %q %q: want distinct valid ids", a, b)
	}
}

func TestTokenNode(t *testing.T) {
	tests := []struct{ tok, node string }{
		{"r_abc.n1", "n1"},
		{"r_abc", ""},
		{"x_abc.n1", ""},
		{"", ""},
		{"r_a-b_c.host.example", "host.example"},
		{"r_abc.a:b", ""},
		{"r_abc.", ""},
	}
	for _, tt := range tests {
		if got := tokenNode(tt.tok); got != tt.node {
			t.Errorf("tokenNode(%q) = %q, want %q", tt.tok, got, tt.node)
		}
	}
}

// TestStartClusterDisabled: a disabled section leaves a single node.
func TestStartClusterDisabled(t *testing.T) {
	e := newEnv(t, Config{})
	if err := e.hub.StartCluster(ClusterConfig{}); err != nil {
		t.Fatal(err)
	}
	if e.hub.NodeID() != "" || e.hub.Ready() != nil {
		t.Fatalf("node %q ready %v", e.hub.NodeID(), e.hub.Ready())
	}
	if err := e.hub.StartCluster(ClusterConfig{Enabled: true, NodeID: "bad id"}); err == nil {
		t.Fatal("bad NodeID accepted")
	}
}
