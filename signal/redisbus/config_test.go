package redisbus

import (
	"strings"
	"testing"
	"time"

	"github.com/rtcd/rtcd/signal/proto"
)

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want string // substring of the error; "" means valid
	}{
		{"disabled zero", Config{}, ""},
		{"disabled junk is ignored", Config{NodeID: "no spaces allowed"}, ""},
		{"defaults", Config{Enabled: true}, ""},
		{"node id", Config{Enabled: true, NodeID: "node-1.eu_west"}, ""},
		{"bad node id", Config{Enabled: true, NodeID: "a b"}, "Cluster.NodeID"},
		{"long node id", Config{Enabled: true, NodeID: strings.Repeat("n", 65)}, "Cluster.NodeID"},
		{"ttl too short", Config{Enabled: true, HeartbeatInterval: time.Second, NodeTTL: 1500 * time.Millisecond}, "Cluster.NodeTTL"},
		{"negative", Config{Enabled: true, RedisTimeout: -time.Second}, "positive"},
		{"ice", Config{Enabled: true, ICEServers: "some"}, "Cluster.ICEServers"},
		{"ice all", Config{Enabled: true, ICEServers: ICEAllNodes}, ""},
		{"prefix", Config{Enabled: true, KeyPrefix: "a:b"}, "Cluster.KeyPrefix"},
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

// TestNewRefusesBadConfig: New checks the section whatever Enabled says;
// a bus that is never started holds nothing to close.
func TestNewRefusesBadConfig(t *testing.T) {
	if _, err := New(Config{NodeID: "bad id"}); err == nil || !strings.Contains(err.Error(), "Cluster.NodeID") {
		t.Fatalf("New with a bad NodeID: %v", err)
	}
	b, err := New(Config{NodeID: "n1"})
	if err != nil || b.NodeID() != "n1" {
		t.Fatalf("New: %v, node %q", err, b.NodeID())
	}
}
